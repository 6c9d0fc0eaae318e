"""A small QMP client and VM launcher for the functional tests.

The client speaks QMP over a unix or TCP socket or over a process's pipes
(-qmp stdio). It keeps every raw line it received so that tests can check
the wire format (CRLF endings), queues the events that arrive between
replies, and can send arbitrary bytes (malformed or split requests).

The launcher runs lemu or qemu-system-x86_64 with the same options, a
stopped tiny guest (no disk, no kernel) and a QMP socket in a temporary
directory, so that one test body runs against either binary.
"""
import collections
import json
import os
import select
import shutil
import socket
import subprocess
import tempfile
import time

LEMU = os.environ.get("LEMU", "build/lemu")
GUESTS = os.environ.get("GUESTS", "build/tests/guests")
QEMU = shutil.which("qemu-system-x86_64")

DEFAULT_TIMEOUT = 30


# 16-bit real-mode guests: the code starts at 0000:7C00 (lemu loads it there
# with -device loader,...,cpu-num=0; QEMU's BIOS boots it as a boot sector).
def out_char(c):
    """mov dx, 0x3f8; mov al, c; out dx, al"""
    return bytes([0xBA, 0xF8, 0x03, 0xB0, ord(c), 0xEE])


HALT_FOREVER = bytes([0xFA, 0xF4, 0xEB, 0xFD])   # cli; hlt; jmp $-3


def boot_sector(code):
    assert len(code) <= 510
    return code.ljust(510, b"\xf4") + b"\x55\xaa"


class QMPTimeout(Exception):
    pass


class QMPClosed(Exception):
    pass


class QMPClient:
    """One QMP conversation. @rfd is read with os.read, @wfd written with
    os.write; for a socket both are its fd."""

    def __init__(self, rfd, wfd, sock=None, timeout=DEFAULT_TIMEOUT):
        self.rfd = rfd
        self.wfd = wfd
        self.sock = sock
        self.timeout = timeout
        self.buf = b""
        self.lines = []            # every raw line received, with its ending
        self.events = collections.deque()
        self.greeting = None

    # -- construction -------------------------------------------------

    @classmethod
    def connect_unix(cls, path, timeout=DEFAULT_TIMEOUT, greeting=True,
                     alive=None):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        retry_connect(lambda: sock.connect(path), timeout, alive)
        return cls.from_socket(sock, timeout, greeting)

    @classmethod
    def connect_tcp(cls, host, port, timeout=DEFAULT_TIMEOUT, greeting=True,
                    alive=None):
        def attempt():
            s = socket.create_connection((host, port), timeout=timeout)
            holder.append(s)
        holder = []
        retry_connect(attempt, timeout, alive)
        return cls.from_socket(holder[0], timeout, greeting)

    @classmethod
    def from_socket(cls, sock, timeout=DEFAULT_TIMEOUT, greeting=True):
        sock.setblocking(True)
        sock.settimeout(None)
        c = cls(sock.fileno(), sock.fileno(), sock, timeout)
        if greeting:
            c.read_greeting()
        return c

    @classmethod
    def from_process(cls, proc, timeout=DEFAULT_TIMEOUT, greeting=True):
        """QMP over the stdin/stdout pipes of @proc (-qmp stdio)."""
        c = cls(proc.stdout.fileno(), proc.stdin.fileno(), None, timeout)
        if greeting:
            c.read_greeting()
        return c

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    # -- raw I/O ------------------------------------------------------

    def send_bytes(self, data):
        while data:
            n = os.write(self.wfd, data)
            data = data[n:]

    def send(self, obj):
        self.send_bytes(json.dumps(obj).encode() + b"\n")

    def fill(self, deadline):
        """Reads what is available into the buffer; raises QMPTimeout at
        @deadline and QMPClosed at end of stream."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise QMPTimeout("no message within the timeout")
        r, _, _ = select.select([self.rfd], [], [], left)
        if not r:
            raise QMPTimeout("no message within the timeout")
        try:
            chunk = os.read(self.rfd, 65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            raise QMPClosed("the other side closed the connection")
        self.buf += chunk

    def read_line(self, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while b"\n" not in self.buf:
            self.fill(deadline)
        line, self.buf = self.buf.split(b"\n", 1)
        line += b"\n"
        self.lines.append(line)
        return line

    def read_message(self, timeout=None):
        """The next message (reply, error, event or greeting) as a dict."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            line = self.read_line(max(deadline - time.monotonic(), 0.001))
            if line.strip():
                return json.loads(line)

    def bad_line_endings(self):
        return [l for l in self.lines if not l.endswith(b"\r\n")]

    # -- protocol -----------------------------------------------------

    def read_greeting(self):
        self.greeting = self.read_message()
        return self.greeting

    def read_reply(self, timeout=None):
        """The next reply or error; events met on the way are queued."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            msg = self.read_message(max(deadline - time.monotonic(), 0.001))
            if "event" in msg:
                self.events.append(msg)
            else:
                return msg

    def request(self, name, arguments=None, **kw):
        """Sends one command and returns its whole reply. Pass id=... to
        send an id (any JSON value, None included)."""
        req = {"execute": name}
        if arguments is not None:
            req["arguments"] = arguments
        if "id" in kw:
            req["id"] = kw.pop("id")
        assert not kw, kw
        self.send(req)
        return self.read_reply()

    def cmd(self, name, **args):
        """Runs a command that must succeed and returns its "return"."""
        reply = self.request(name, {k.replace("_", "-"): v
                                    for k, v in args.items()} or None)
        if "return" not in reply:
            raise AssertionError("%s failed: %r" % (name, reply))
        return reply["return"]

    def negotiate(self):
        reply = self.request("qmp_capabilities")
        if reply != {"return": {}}:
            raise AssertionError("qmp_capabilities: %r" % (reply,))

    def wait_event(self, name, timeout=None):
        """The first event called @name, from the queue or the wire."""
        for ev in list(self.events):
            if ev["event"] == name:
                self.events.remove(ev)
                return ev
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            msg = self.read_message(max(deadline - time.monotonic(), 0.001))
            if msg.get("event") == name:
                return msg
            if "event" in msg:
                self.events.append(msg)
            else:
                raise AssertionError("waiting for %s, got %r" % (name, msg))

    def no_message(self, wait=0.5):
        """True when nothing at all arrives within @wait seconds."""
        try:
            self.read_message(wait)
        except QMPTimeout:
            return True
        return False


def retry_connect(attempt, timeout, alive=None):
    """Calls @attempt until it connects; gives up at @timeout or as soon
    as @alive() (which may raise with a better message) returns False."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return attempt()
        except OSError:
            if time.monotonic() > deadline or (alive and not alive()):
                raise
            time.sleep(0.05)


def free_tcp_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class VM:
    """lemu or QEMU with a stopped, empty pc machine. @kind is "lemu" or
    "qemu"; extra options go in @args. Use as a context manager, or call
    launch() and shutdown()."""

    def __init__(self, kind, args=(), qmp="unix", serial="none",
                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                 memory=32, paused=True, guest=HALT_FOREVER, accel=None):
        self.kind = kind
        self.tmp = tempfile.TemporaryDirectory(prefix="qmp-test-")
        self.dir = self.tmp.name
        self.qmp_path = os.path.join(self.dir, "qmp.sock")
        self.port = None
        self.proc = None
        self.clients = []
        cmd = self.base_args(memory, paused, accel)
        if guest is not None:
            cmd += self.guest_args(guest)
        if serial is not None:
            cmd += ["-serial", serial]
        if qmp == "unix":
            cmd += ["-qmp", "unix:%s,server=on,wait=off" % self.qmp_path]
        elif qmp == "tcp":
            self.port = free_tcp_port()
            cmd += ["-qmp", "tcp:127.0.0.1:%d,server=on,wait=off" % self.port]
        elif qmp is not None:
            cmd += ["-qmp", qmp]
        self.qmp = qmp
        self.cmdline = cmd + list(args)
        self.stdin = stdin
        self.stdout = stdout
        self.pass_fds = ()

    def base_args(self, memory, paused, accel):
        """@accel: None for the interpreter (lemu) or TCG (QEMU)."""
        if self.kind == "lemu":
            cmd = [LEMU, "-machine", "pc", "-accel", accel or "interp"]
        else:
            cmd = [QEMU, "-machine", "pc", "-accel", accel or "tcg",
                   "-nodefaults"]
        cmd += ["-display", "none", "-m", str(memory)]
        if paused:
            cmd.append("-S")
        return cmd

    def guest_args(self, code):
        image = os.path.join(self.dir, "boot.img")
        with open(image, "wb") as f:
            f.write(boot_sector(code))
        if self.kind == "lemu":
            return ["-device", "loader,file=%s,addr=0x7c00,cpu-num=0" % image]
        return ["-drive", "file=%s,format=raw,if=ide,snapshot=on" % image]

    def launch(self):
        self.errfile = open(os.path.join(self.dir, "stderr"), "w+b")
        self.proc = subprocess.Popen(self.cmdline, stdin=self.stdin,
                                     stdout=self.stdout, stderr=self.errfile,
                                     pass_fds=self.pass_fds)
        return self

    def stderr(self):
        self.errfile.seek(0)
        return self.errfile.read().decode(errors="replace")

    def connect(self, negotiate=True, greeting=True):
        """A new client on the VM's QMP socket (unix or tcp)."""
        if self.qmp == "tcp":
            c = QMPClient.connect_tcp("127.0.0.1", self.port,
                                      greeting=greeting, alive=self.alive)
        else:
            c = QMPClient.connect_unix(self.qmp_path, greeting=greeting,
                                       alive=self.alive)
        self.clients.append(c)
        if negotiate:
            c.negotiate()
        return c

    def alive(self):
        """Raises, with the VM's stderr, when the process has ended."""
        if self.proc.poll() is not None:
            raise AssertionError("%s exited %d: %s" % (
                self.kind, self.proc.returncode, self.stderr()))
        return True

    def wait(self, timeout=DEFAULT_TIMEOUT):
        return self.proc.wait(timeout)

    def shutdown(self):
        for c in self.clients:
            c.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None:
            for f in (self.proc.stdin, self.proc.stdout):
                if f is not None:
                    try:
                        f.close()
                    except BrokenPipeError:
                        pass
            self.errfile.close()
        self.tmp.cleanup()

    def __enter__(self):
        return self.launch()

    def __exit__(self, *exc):
        self.shutdown()
