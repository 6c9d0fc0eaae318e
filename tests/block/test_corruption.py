"""Corrupt and hostile qcow2 images (suite 'functional').

Valid images made by qemu-img (or lemu-img where qemu-img is missing) are
broken one way at a time: bad magic, unknown version, truncation, L1, L2
and refcount table offsets that are unaligned or past the end of the
file, a refcount that overflows, cluster_bits out of range, huge tables,
snapshot tables that lie, backing chains that loop or are too deep,
unknown incompatible features and encryption.

For each, `lemu-img info`, `lemu-img check`, `lemu-img convert` and `lemu
-drive file=...,format=qcow2` must
  - not crash (no signal, no sanitizer report, no abort),
  - fail with a non-zero exit and a clear error that names the problem
    (the words asserted below) where the case says so, and wherever
    qemu-img fails too,
  - leave the file exactly as it was. lemu itself opens the image
    read-write and may mark it corrupt: then only the incompatible
    feature bits (dirty, corrupt) may change.

Needs LEMU_IMG and LEMU (built). The valid images come from qemu-img
when installed, else from lemu-img; qemu-img's verdicts are used where
installed."""
import hashlib
import os
import re
import socket
import struct
import subprocess
import time

from blocktest import (LEMU, LEMU_IMG, QEMU_IMG, BlockTestCase,
                       MiB, crashed, main, read, sha256, write)

# header field offsets (docs/interop/qcow2.txt)
MAGIC, VERSION, BACKING_OFF, CLUSTER_BITS, SIZE, CRYPT = 0, 4, 8, 20, 24, 32
L1_SIZE, L1_OFF, RT_OFF, RT_CLUSTERS = 36, 40, 48, 56
NB_SNAP, SNAP_OFF, INCOMPAT = 60, 64, 72
COPIED = 1 << 63
FAR = 1 << 40                                    # far past the end, aligned

ALL = ("info", "check", "convert", "vm")
HALT = bytes([0xFA, 0xF4, 0xEB, 0xFD])          # cli; hlt; jmp $-3


def get32(d, off):
    return struct.unpack_from(">I", d, off)[0]


def get64(d, off):
    return struct.unpack_from(">Q", d, off)[0]


def put32(d, off, v):
    struct.pack_into(">I", d, off, v)


def put64(d, off, v):
    struct.pack_into(">Q", d, off, v)


def first_l1(d):
    """Offset in the file of the first used L1 entry."""
    l1 = get64(d, L1_OFF)
    for k in range(get32(d, L1_SIZE)):
        if get64(d, l1 + 8 * k):
            return l1 + 8 * k
    raise AssertionError("template image has no L2 table")


def set_l2(d, how):
    at = first_l1(d)
    old = get64(d, at) & 0x00fffffffffffe00
    put64(d, at, COPIED | (old + 512 if how == "unaligned" else FAR))


def share_a_cluster(d):
    """Points a second L2 entry at the cluster the first one uses: with
    1-bit refcounts the count cannot reach 2."""
    l2 = get64(d, first_l1(d)) & 0x00fffffffffffe00
    entry = get64(d, l2)
    assert entry, "template image has no data cluster"
    for k in range(1, 1 << (get32(d, CLUSTER_BITS) - 3)):
        if get64(d, l2 + 8 * k) == 0:
            put64(d, l2 + 8 * k, entry)
            return
    raise AssertionError("no free L2 entry")


def truncate_half_l1(d):
    l1 = get64(d, L1_OFF)
    return d[:l1 + get32(d, L1_SIZE) * 4]


# name: (template, mutation, words the error must contain, commands that
# must fail). A mutation changes the bytearray in place or returns new
# bytes.
CASES = {
    "bad_magic": ("plain", lambda d: d.__setitem__(slice(0, 4), b"QFI\0"),
                  r"qcow2|magic|format", ALL),
    "version_4": ("plain", lambda d: put32(d, VERSION, 4), r"version", ALL),
    "version_1": ("plain", lambda d: put32(d, VERSION, 1), r"version", ALL),
    "truncated_in_header": ("plain", lambda d: d[:50],
                            r"header|truncat|short|end of|size|read", ALL),
    "truncated_to_header": ("plain", lambda d: d[:get32(d, 100)],
                            r"end of|past|beyond|truncat|short|outside|L1|"
                            r"refcount|read|size", ALL),
    "truncated_after_header": (
        "plain", lambda d: d[:65536],
        r"end of|past|beyond|truncat|short|outside|L1|refcount|read", ALL),
    "truncated_half_l1": (
        "small", truncate_half_l1,
        r"end of|past|beyond|truncat|short|outside|L1|read", ALL),
    "l1_unaligned": ("plain", lambda d: put64(d, L1_OFF, get64(d, L1_OFF) + 8),
                     r"L1", ALL),
    "l1_past_end": ("plain", lambda d: put64(d, L1_OFF, FAR),
                    r"L1", ALL),
    "l2_unaligned": ("plain", lambda d: set_l2(d, "unaligned"),
                     r"L2|align|corrupt|offset|Input/output|I/O",
                     ("check", "convert")),
    "l2_past_end": ("plain", lambda d: set_l2(d, "far"),
                    r"L2|end|past|beyond|corrupt|offset|Input/output|I/O",
                    ("check", "convert")),
    "refcount_table_unaligned": (
        "plain", lambda d: put64(d, RT_OFF, get64(d, RT_OFF) + 8),
        r"refcount|reference count", ALL),
    "refcount_table_past_end": ("plain", lambda d: put64(d, RT_OFF, FAR),
                                r"refcount|reference count", ALL),
    "refcount_overflow": ("rc1", share_a_cluster,
                          r"refcount|reference|corrupt", ("check",)),
    "cluster_bits_8": ("plain", lambda d: put32(d, CLUSTER_BITS, 8),
                       r"cluster", ALL),
    "cluster_bits_22": ("plain", lambda d: put32(d, CLUSTER_BITS, 22),
                        r"cluster", ALL),
    "huge_l1_size": ("plain", lambda d: put32(d, L1_SIZE, 0x7fffffff),
                     r"L1", ALL),
    "too_many_snapshots": ("plain", lambda d: (put32(d, NB_SNAP, 70000),
                                               put64(d, SNAP_OFF, 65536)),
                           r"snapshot", ALL),
    "snapshot_table_past_end": ("plain", lambda d: (put32(d, NB_SNAP, 1),
                                                    put64(d, SNAP_OFF, FAR)),
                                r"snapshot", ALL),
    "unknown_incompatible_bit": (
        "plain", lambda d: put64(d, INCOMPAT, get64(d, INCOMPAT) | 1 << 5),
        r"feature|incompat", ALL),
    "crypt_method_aes": ("plain", lambda d: put32(d, CRYPT, 1),
                         r"encrypt|crypt|AES", ALL),
}

ONE_LINE = ("info", "convert", "vm")     # check may list many findings


class CorruptImages(BlockTestCase):
    NEED_QEMU = False

    # ---- templates ----

    def maker(self, *args):
        """qemu-img makes the valid images; lemu-img where it is missing."""
        if QEMU_IMG:
            return self.qemu_img(*args)
        return self.lemu_img(*args)

    def template(self, kind):
        img = self.path("template-%s.qcow2" % kind)
        if os.path.exists(img):
            return img
        opts = {"plain": "cluster_size=65536",
                "small": "cluster_size=512",
                "rc1": "refcount_bits=1"}[kind]
        if kind == "small":
            # data spread over the disk: L1 entries in both halves
            raw = bytearray(64 * MiB)
            for k in range(32):
                raw[k * 2 * MiB:k * 2 * MiB + 4096] = b"\7" * 4096
        else:
            raw = bytearray(4 * MiB)
            raw[:3 * MiB] = b"\7" * (3 * MiB)
        src = self.path("template-%s.raw" % kind)
        write(src, raw)
        self.maker("convert", "-f", "raw", "-O", "qcow2", "-o", opts, src,
                   img)
        os.unlink(src)
        return img

    def make(self, name, template, mutate):
        data = bytearray(read(self.template(template)))
        out = mutate(data)
        if isinstance(out, (bytes, bytearray)):
            data = bytearray(out)
        img = self.path(name + ".qcow2")
        write(img, data)
        return img

    # ---- running the tools ----

    def run_cmd(self, what, img, fmt="qcow2"):
        out = self.path("out.raw")
        if os.path.exists(out):
            os.unlink(out)
        return {"info": ["info", "-f", fmt, img],
                "check": ["check", "-f", fmt, img],
                "convert": ["convert", "-f", fmt, "-O", "raw", img, out],
                }[what]

    def tool(self, prog, args, timeout=30):
        """(returncode, output) of @prog; None as returncode when it
        hangs. Fails on a crash."""
        try:
            res = subprocess.run([prog] + args, capture_output=True,
                                 text=True, errors="replace",
                                 timeout=timeout)
        except subprocess.TimeoutExpired:
            return None, ""
        why = crashed(res)
        if why:
            self.fail("%s %s crashed (%s):\n%s%s" % (
                prog, " ".join(args), why, res.stdout[-2000:],
                res.stderr[-2000:]))
        return res.returncode, res.stderr.strip() or res.stdout.strip()

    def run_lemu(self, img):
        """Starts lemu with @img as a drive and a halted kernel-less guest;
        returns (returncode, stderr): returncode None when lemu came up
        (then it was told to quit over QMP)."""
        boot = self.path("boot.bin")
        write(boot, HALT)
        sock_path = self.path("qmp.sock")
        if os.path.exists(sock_path):
            os.unlink(sock_path)
        errf = open(self.path("lemu.err"), "w+")
        self.addCleanup(errf.close)
        cmd = [LEMU, "-machine", "pc", "-accel", "interp", "-display",
               "none", "-m", "32", "-S", "-serial", "none",
               "-device", "loader,file=%s,addr=0x7c00,cpu-num=0" % boot,
               "-drive", "file=%s,format=qcow2,if=none,id=d0" % img,
               "-qmp", "unix:%s,server=on,wait=off" % sock_path]
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=errf)
        came_up = False
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            if os.path.exists(sock_path):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    s.settimeout(10)
                    s.connect(sock_path)
                    s.recv(4096)                          # greeting
                    s.sendall(b'{"execute": "qmp_capabilities"}\n'
                              b'{"execute": "quit"}\n')
                    came_up = True
                    s.recv(4096)
                except OSError:
                    pass
                finally:
                    s.close()
                if came_up:
                    break
            time.sleep(0.05)
        try:
            rc = proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            self.fail("lemu with %s neither failed nor quit" % img)
        errf.seek(0)
        err = errf.read()
        res = subprocess.CompletedProcess(cmd, rc, "", err)
        why = crashed(res)
        if why:
            self.fail("lemu with %s crashed (%s):\n%s" % (img, why, err))
        return (None if came_up else rc), err.strip()

    # ---- the check ----

    def assert_handled(self, name, img, words, must_fail, qemu_fails=()):
        before = read(img)
        for what in ALL:
            with self.subTest(case=name, command=what):
                if what == "vm":
                    if not os.access(LEMU, os.X_OK):
                        self.fail("lemu binary %s not built" % LEMU)
                    rc, err = self.run_lemu(img)
                    failed = rc is not None and rc != 0
                else:
                    rc, err = self.tool(LEMU_IMG,
                                        self.run_cmd(what, img))
                    self.assertIsNotNone(rc, "lemu-img %s hangs" % what)
                    failed = rc != 0
                if what in must_fail or what in qemu_fails:
                    self.assertTrue(failed, "lemu-img %s accepted the image"
                                    " (exit %s): %s" % (what, rc, err[-500:])
                                    if what != "vm" else
                                    "lemu started with the image")
                if failed:
                    self.assertTrue(err, "%s failed without a message" % what)
                    lines = [ln for ln in err.splitlines() if ln.strip()]
                    if what in ONE_LINE:
                        self.assertLessEqual(len(lines), 3,
                                             "%s: a clear short error, not "
                                             "this:\n%s" % (what, err))
                    if what == "check" and rc in (2, 3):
                        # opened, then found errors: qemu-img's summary
                        self.assertRegex(err, "(?i)error|corrupt|leak")
                    else:
                        self.assertRegex(err, "(?i)" + words)
                after = read(img)
                if what == "vm":
                    self.assert_same_but_incompat(before, after)
                else:
                    self.assertEqual(sha256(img), _sha(before),
                                     "lemu-img %s changed the image" % what)
                if what == "vm" and after != before:
                    write(img, before)            # next command, same input

    def assert_same_but_incompat(self, before, after):
        self.assertEqual(len(after), len(before), "lemu resized the image")
        if after == before:
            return
        if len(before) >= 80 and get32(before, VERSION) >= 3:
            self.assertEqual(after[:INCOMPAT], before[:INCOMPAT],
                             "lemu changed the header")
            self.assertEqual(after[INCOMPAT + 8:], before[INCOMPAT + 8:],
                             "lemu changed the image beyond the header")
            changed = get64(after, INCOMPAT) ^ get64(before, INCOMPAT)
            self.assertEqual(changed & ~3, 0,
                             "lemu changed incompatible bits other than "
                             "dirty/corrupt: %#x" % changed)
        else:
            self.fail("lemu changed the image")

    def qemu_failures(self, img):
        """Commands qemu-img refuses: lemu must refuse them too."""
        fails = []
        if not QEMU_IMG:
            return fails
        for what in ("info", "check", "convert"):
            rc, _ = self.tool(QEMU_IMG, self.run_cmd(what, img), timeout=15)
            if rc not in (0, None) and not (what == "check" and rc == 3):
                fails.append(what)
        return fails

    def test_header_and_table_corruption(self):
        for name, (template, mutate, words, must_fail) in CASES.items():
            img = self.make(name, template, mutate)
            self.assert_handled(name, img, words, must_fail,
                                self.qemu_failures(img))

    def test_unknown_incompatible_bit_is_named(self):
        for bit in (5, 40):
            img = self.make("incompat%d" % bit, "plain",
                            lambda d: put64(d, INCOMPAT,
                                            get64(d, INCOMPAT) | 1 << bit))
            rc, err = self.tool(LEMU_IMG,
                                ["info", "-f", "qcow2", img])
            self.assertNotEqual(rc, 0)
            bitmask = 1 << bit
            self.assertTrue(re.search(r"\b(%d|bit %d|%#x|%x)\b" % (
                bit, bit, bitmask, bitmask), err),
                "the unknown bit %d is not named: %s" % (bit, err))

    def backing_chain(self, names, loop_to=None):
        """qcow2 images, each backed by the previous one; with @loop_to
        the first one is then pointed at @loop_to (unsafe rebase)."""
        prev = None
        for n in names:
            args = ["create", "-q", "-f", "qcow2", "-u"]
            if prev:
                args += ["-b", prev, "-F", "qcow2"]
            self.maker(*(args + [self.path(n), "4M"]))
            prev = n
        if loop_to:
            self.maker("rebase", "-u", "-b", loop_to, "-F", "qcow2",
                          self.path(names[0]))
        return self.path(names[-1])

    def test_backing_loops(self):
        for case, names, loop_to in (("self_loop", ["self.qcow2"],
                                      "self.qcow2"),
                                     ("two_loop", ["la.qcow2", "lb.qcow2"],
                                      "lb.qcow2")):
            img = self.backing_chain(names, loop_to)
            # qemu-img hangs on some of these: no oracle here
            self.assert_handled(case, img,
                                r"loop|cycle|recurs|itself|chain|deep|depth",
                                ("check", "convert", "vm"))

    def test_backing_chain_too_deep(self):
        img = self.backing_chain(["d%03d.qcow2" % k for k in range(100)])
        self.assert_handled("chain_depth_100", img,
                            r"deep|depth|too many|chain|levels|nest",
                            ("check", "convert", "vm"))

    def test_valid_template_is_accepted(self):
        """The same commands succeed on the unbroken images (so the cases
        above fail for their corruption, not for the setup)."""
        for kind in ("plain", "small", "rc1"):
            img = self.template(kind)
            for what in ("info", "check", "convert"):
                rc, err = self.tool(LEMU_IMG,
                                    self.run_cmd(what, img))
                self.assertEqual(rc, 0, "lemu-img %s %s: %s" % (what, kind,
                                                                  err))
            if os.access(LEMU, os.X_OK):
                before = sha256(img)
                rc, err = self.run_lemu(img)
                self.assertIsNone(rc, "lemu refused a valid image: " + err)
                self.assertEqual(sha256(img), before)


def _sha(data):
    return hashlib.sha256(data).hexdigest()


if __name__ == "__main__":
    main()
