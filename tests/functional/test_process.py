#!/usr/bin/env python3
"""lemu as a process: serial backends, exit paths (isa-debug-exit, triple
fault, keyboard-controller reset, signals), -no-reboot, -S, -pidfile and
-daemonize. The guests are a few bytes of real-mode code loaded with
-device loader, so each test shows what the guest did on its serial port."""
import os
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import lemutest

LEMU = os.environ.get("LEMU", "build/lemu")
GUESTS = os.environ.get("GUESTS", "build/tests/guests")
HAVE_KVM = os.access("/dev/kvm", os.R_OK | os.W_OK)

# 16-bit real-mode snippets (entry at 0000:7C00).
def out_char(c):
    return bytes([0xBA, 0xF8, 0x03, 0xB0, ord(c), 0xEE])  # mov dx,3f8; mov al,c; out

DEBUG_EXIT_0x10 = bytes([0xBA, 0xF4, 0x00, 0xB0, 0x10, 0xEE])  # out 0xf4, 0x10
HALT_FOREVER = bytes([0xFA, 0xF4, 0xEB, 0xFD])                  # cli; hlt; jmp $-3
KBC_RESET = bytes([0xB0, 0xFE, 0xE6, 0x64]) + HALT_FOREVER       # out 0x64, 0xfe


def guest_image(code):
    assert len(code) <= 0x40
    return code.ljust(0x40, b"\xf4") + bytes(6)


@unittest.skipUnless(HAVE_KVM, "SKIP: /dev/kvm not available")
class Process(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def image(self, code):
        path = os.path.join(self.dir, "guest.bin")
        with open(path, "wb") as f:
            f.write(guest_image(code))
        return path

    def args(self, code, *extra):
        return [LEMU, "-accel", "kvm", "-display", "none", "-m", "32",
                "-device", "loader,file=%s,addr=0x7c00,cpu-num=0" % self.image(code),
                "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04", *extra]

    def run_vm(self, code, *extra, timeout=60):
        return subprocess.run(self.args(code, "-serial", "stdio", *extra),
                              stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=timeout)

    def read_until(self, proc, fd, want, timeout=60, count=1):
        data = b""
        end = time.time() + timeout
        while data.count(want) < count and time.time() < end:
            r, _, _ = select.select([fd], [], [], 0.5)
            if r:
                chunk = os.read(fd, 4096)
                if not chunk:
                    break
                data += chunk
        return data

    def test_debug_exit_code_and_output(self):
        r = self.run_vm(out_char("O") + out_char("K") + DEBUG_EXIT_0x10)
        self.assertEqual(r.stdout, b"OK")
        self.assertEqual(r.returncode, (0x10 << 1) | 1)

    # The triple fault comes from tests/guests/triple-fault.c (32-bit: this
    # host's KVM loops on a real-mode fault with an empty IVT).
    def triple_fault_args(self, *extra):
        return [LEMU, "-accel", "kvm", "-display", "none", "-m", "32",
                "-kernel", os.path.join(GUESTS, "triple-fault.elf"),
                "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
                "-serial", "stdio", *extra]

    def test_triple_fault_no_reboot_exits_0(self):
        r = subprocess.run(self.triple_fault_args("-no-reboot"),
                           stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=60)
        self.assertEqual(r.stdout, b"triple-fault: about to triple fault\r\n")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_triple_fault_resets_and_reruns(self):
        p = subprocess.Popen(self.triple_fault_args(),
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
        line = b"about to triple fault\r\n"
        data = self.read_until(p, p.stdout.fileno(), line, count=3)
        p.terminate()
        p.wait(30)
        self.assertEqual(p.returncode, 0)
        # the guest ran again from its entry point after each reset
        self.assertGreaterEqual(data.count(line), 3)

    def test_keyboard_controller_reset(self):
        r = self.run_vm(out_char("K") + KBC_RESET, "-no-reboot")
        self.assertEqual(r.stdout, b"K")
        self.assertEqual(r.returncode, 0)

    def test_sigterm_ends_cleanly_and_removes_pidfile(self):
        pidfile = os.path.join(self.dir, "vm.pid")
        p = subprocess.Popen(self.args(out_char("!") + HALT_FOREVER,
                                       "-serial", "stdio", "-pidfile", pidfile),
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        self.assertEqual(self.read_until(p, p.stdout.fileno(), b"!"), b"!")
        with open(pidfile) as f:
            self.assertEqual(int(f.read()), p.pid)
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 0)
        self.assertIn(b"terminating on signal 15", err)
        self.assertFalse(os.path.exists(pidfile))

    def test_serial_file(self):
        out = os.path.join(self.dir, "serial.txt")
        r = subprocess.run(self.args(out_char("F") + DEBUG_EXIT_0x10,
                                     "-serial", "file:" + out),
                           stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=60)
        self.assertEqual(r.returncode, 33, r.stderr)
        with open(out, "rb") as f:
            self.assertEqual(f.read(), b"F")

    def test_serial_unix_socket(self):
        path = os.path.join(self.dir, "serial.sock")
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stale.bind(path)           # a stale socket file from a dead VM
        stale.close()
        p = subprocess.Popen(self.args(out_char("U") + HALT_FOREVER,
                                       "-serial",
                                       "unix:%s,server=on,wait=on" % path),
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            for _ in range(300):
                try:
                    s.connect(path)
                    break
                except OSError:
                    time.sleep(0.1)
            self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)
            self.assertEqual(self.read_until(p, s.fileno(), b"U"), b"U")
            s.close()
        finally:
            p.terminate()
            p.wait(30)
        self.assertFalse(os.path.exists(path))

    def test_start_paused_runs_nothing(self):
        p = subprocess.Popen(self.args(out_char("!") + HALT_FOREVER,
                                       "-serial", "stdio", "-S"),
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
        r, _, _ = select.select([p.stdout], [], [], 2)
        p.terminate()
        p.wait(30)
        self.assertEqual(r, [])

    def test_unemulated_instruction_is_a_clear_error(self):
        # XGETBV with CR4.OSXSAVE clear raises #UD on a real CPU, which IVT
        # entry 6 (set to 0000:7C20) turns into "B" and an exit; this
        # host's KVM cannot emulate it and must end with QEMU's report.
        handler = out_char("B") + DEBUG_EXIT_0x10
        code = (bytes([0xC7, 0x06, 0x18, 0x00, 0x20, 0x7C,   # mov [0x18], 7c20
                       0xC7, 0x06, 0x1A, 0x00, 0x00, 0x00])  # mov [0x1a], 0
                + out_char("A") + bytes([0x0F, 0x01, 0xD0])  # xgetbv
                ).ljust(0x20, b"\xf4") + handler
        r = self.run_vm(code, timeout=60)
        err = r.stderr.decode()
        if r.returncode == 33:
            self.assertEqual(r.stdout, b"AB")
            return
        self.assertEqual(r.stdout, b"A")
        self.assertEqual(r.returncode, 1, err)
        self.assertIn("KVM internal error. Suberror: 1", err)
        self.assertIn("emulation failure", err)
        self.assertIn("EIP=00007c12 ", err)
        self.assertRegex(err, r"Code=(.. ){20}<0f> 01 d0 f4")

    def test_daemonize(self):
        pidfile = os.path.join(self.dir, "vm.pid")
        out = os.path.join(self.dir, "serial.txt")
        r = subprocess.run(self.args(out_char("D") + HALT_FOREVER,
                                     "-serial", "file:" + out, "-daemonize",
                                     "-pidfile", pidfile),
                           stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(pidfile) as f:
            pid = int(f.read())
        self.assertNotEqual(pid, os.getpid())
        for _ in range(300):
            if os.path.getsize(out) > 0:
                break
            time.sleep(0.1)
        with open(out, "rb") as f:
            self.assertEqual(f.read(), b"D")
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            if not os.path.exists(pidfile):
                break
            time.sleep(0.1)
        self.assertFalse(os.path.exists(pidfile))

    def test_daemonize_reports_startup_errors(self):
        r = subprocess.run([LEMU, "-daemonize", "-display", "none",
                            "-serial", "none", "-kernel", "/nonexistent"],
                           stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertIn("/nonexistent", r.stderr)


class KvmUnavailable(unittest.TestCase):
    """A clear error, not a crash, when KVM cannot be used: each case hides
    or replaces /dev/kvm in a private mount namespace (needs root)."""

    def lemu_in_namespace(self, setup, *args):
        if os.geteuid() != 0 or not shutil.which("unshare"):
            self.skipTest("needs root and unshare")
        script = '%s && exec "$@"' % setup
        r = subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", LEMU,
                            "-display", "none", "-serial", "none", "-kernel",
                            "/dev/null", *args],
                           stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=60)
        if "unshare failed" in r.stderr or "mount:" in r.stderr:
            self.skipTest("cannot make a mount namespace here: " + r.stderr)
        return r

    def test_missing_dev_kvm(self):
        r = self.lemu_in_namespace("mount -t tmpfs none /dev", "-accel", "kvm")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr.strip(), "lemu: -accel kvm: /dev/kvm not "
                         "found: is the kvm module loaded? (use -accel interp)")

    def test_missing_dev_kvm_without_accel_option(self):
        # Without -accel lemu falls back to the interpreter and goes on to
        # load the kernel, which is missing here along with all of /dev
        # (test_interp.py boots a guest through the fallback).
        r = self.lemu_in_namespace("mount -t tmpfs none /dev")
        self.assertEqual(r.returncode, 1)
        self.assertNotIn("no usable accelerator", r.stderr)
        self.assertEqual(r.stderr.strip(),
                         "lemu: kernel '/dev/null': No such file or directory")

    def test_dev_kvm_not_a_kvm_device(self):
        if not HAVE_KVM:
            self.skipTest("no /dev/kvm to replace")
        r = self.lemu_in_namespace("mount --bind /dev/null /dev/kvm",
                                   "-accel", "kvm")
        self.assertEqual(r.returncode, 1)
        self.assertIn("/dev/kvm is not a KVM device", r.stderr)

    def test_dev_kvm_no_permission(self):
        if not HAVE_KVM or os.geteuid() != 0 or not shutil.which("runuser"):
            self.skipTest("needs /dev/kvm, root and runuser")
        if os.stat("/dev/kvm").st_mode & 0o006:
            self.skipTest("/dev/kvm is open to everyone here")
        r = subprocess.run(["runuser", "-u", "nobody", "--", LEMU, "-accel",
                            "kvm", "-display", "none", "-serial", "none",
                            "-kernel", "/dev/null"],
                           stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr.strip(), "lemu: -accel kvm: no permission "
                         "to open /dev/kvm: add yourself to the kvm group")


if __name__ == "__main__":
    lemutest.main()
