"""Shared helpers for the block tests: running lemu-img and qemu-img,
image content recipes (a raw reference plus qemu-io commands that make
the same content in an image) and content comparisons.

LEMU_IMG names lemu-img (default build/block/img/lemu-img), LEMU names
lemu. A test skips only when qemu-img (or qemu-io) is missing."""
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "functional"))
import lemutest  # noqa: E402  (the meson exit-code runner)

LEMU_IMG = os.environ.get("LEMU_IMG", "build/block/img/lemu-img")
LEMU = os.environ.get("LEMU", "build/lemu")
QEMU_IMG = shutil.which("qemu-img")
QEMU_IO = shutil.which("qemu-io")

KiB = 1024
MiB = 1024 * 1024

main = lemutest.main


def crashed(res):
    """Why @res (a CompletedProcess) looks like a crash, or None."""
    if res.returncode < 0:
        return "killed by signal %d" % -res.returncode
    for word in ("Sanitizer", "Aborted", "Segmentation fault",
                 "core dumped", "assertion", "Assertion"):
        if word in res.stderr or word in res.stdout:
            return "output mentions %r" % word
    return None


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def read(path):
    with open(path, "rb") as f:
        return f.read()


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


# ---- content recipes ------------------------------------------------------

def random_raw(size, seed, coverage=0.5, compressible=False):
    """@size bytes: random (or, with @compressible, repetitive) runs at
    random places, zeroes elsewhere."""
    rng = random.Random(seed)
    buf = bytearray(size)
    covered = 0
    while covered < size * coverage:
        n = rng.choice([1, 512, 4096, 65536, 300000, rng.randrange(1, 200000)])
        n = min(n, size)
        off = rng.randrange(0, size - n + 1)
        if compressible:
            word = b"lemu block %08x " % rng.getrandbits(32)
            chunk = (word * (n // len(word) + 1))[:n]
        else:
            chunk = rng.randbytes(n)
        buf[off:off + n] = chunk
        covered += n
    return buf


def random_ops(size, seed, count, cluster, discards=True, zeroes=True):
    """qemu-io style operations: ("write", off, len, pattern byte),
    ("zero", off, len, unmap), ("discard", off, len). Discards cover whole
    clusters (qcow2 ignores partial ones; raw would zero them)."""
    rng = random.Random(seed)
    ops = []
    for i in range(count):
        kind = rng.random()
        if kind < 0.6 or (not zeroes and not discards):
            n = rng.choice([1, 511, 512, 4096, 65536,
                            rng.randrange(1, 150000)])
            n = min(n, size)
            off = rng.randrange(0, size - n + 1)
            ops.append(("write", off, n, 1 + (i * 37) % 254))
        elif kind < 0.85 and zeroes:
            n = min(rng.choice([512, 4096, cluster, 3 * cluster,
                                rng.randrange(1, 100000)]), size)
            off = rng.randrange(0, size - n + 1)
            if rng.random() < 0.5:
                off -= off % 512
                n = max(512, n - n % 512)
                n = min(n, size - off)
            ops.append(("zero", off, n, rng.random() < 0.5))
        elif discards:
            nclusters = rng.randrange(1, 4)
            n = min(nclusters * cluster, size)
            off = rng.randrange(0, size - n + 1)
            off -= off % cluster
            ops.append(("discard", off, n))
    return ops


def apply_ops(buf, ops):
    for op in ops:
        kind, off, n = op[0], op[1], op[2]
        if kind == "write":
            buf[off:off + n] = bytes([op[3]]) * n
        else:
            buf[off:off + n] = bytes(n)
    return buf


def qemu_io_args(ops):
    args = []
    for op in ops:
        kind, off, n = op[0], op[1], op[2]
        if kind == "write":
            args += ["-c", "write -q -P %d %d %d" % (op[3], off, n)]
        elif kind == "zero":
            # -u (may unmap) needs 512-byte alignment to be accepted
            unmap = op[3] and off % 512 == 0 and n % 512 == 0
            args += ["-c", "write -q -z %s%d %d" % ("-u " if unmap else "",
                                                    off, n)]
        else:
            args += ["-c", "discard -q %d %d" % (off, n)]
    return args


def normalize_map(entries):
    """Map entries without the host offset of ranges that hold no data,
    without "zero" on ranges that hold data (qemu-img asks the host file
    for holes there: preallocated clusters read as zero), and with
    neighbours that then say the same thing merged."""
    out = []
    for e in entries:
        e = dict(e)
        if not e.get("data"):
            e.pop("offset", None)
        else:
            e.pop("zero", None)
        if out:
            prev = out[-1]
            same = {k: v for k, v in prev.items()
                    if k not in ("start", "length", "offset")} == \
                {k: v for k, v in e.items()
                 if k not in ("start", "length", "offset")}
            contiguous = prev["start"] + prev["length"] == e["start"]
            offsets = ("offset" not in e and "offset" not in prev) or (
                "offset" in e and "offset" in prev and
                prev["offset"] + prev["length"] == e["offset"])
            if same and contiguous and offsets:
                prev["length"] += e["length"]
                continue
        out.append(e)
    return out


def first_difference(got, want, where=""):
    """Where two JSON values first differ, in a short line."""
    if isinstance(got, dict) and isinstance(want, dict):
        for k in sorted(set(got) | set(want)):
            if got.get(k, "<missing>") != want.get(k, "<missing>"):
                return first_difference(got.get(k, "<missing>"),
                                        want.get(k, "<missing>"),
                                        "%s.%s" % (where, k))
    if isinstance(got, list) and isinstance(want, list):
        for k, (g, w) in enumerate(zip(got, want)):
            if g != w:
                return first_difference(g, w, "%s[%d]" % (where, k))
        if len(got) != len(want):
            return "%s: %d entries, qemu-img has %d" % (where, len(got),
                                                        len(want))
    return "%s: lemu-img has %r, qemu-img %r" % (where or "value", got, want)


class BlockTestCase(unittest.TestCase):
    """A temporary directory per test and the tools as methods."""
    NEED_QEMU = True

    def setUp(self):
        if self.NEED_QEMU and not QEMU_IMG:
            self.skipTest("qemu-img is not installed")
        self.tmp = tempfile.TemporaryDirectory(prefix="lemu-block-")
        self.addCleanup(self.tmp.cleanup)
        self.dir = self.tmp.name

    def path(self, name):
        return os.path.join(self.dir, name)

    def run_tool(self, cmd, ok=True, timeout=60, expect=None):
        """Runs @cmd; fails the test on a crash, and when @ok and the exit
        status is not 0 (or not in @expect)."""
        try:
            res = subprocess.run(cmd, capture_output=True, text=True,
                                 errors="replace", timeout=timeout)
        except subprocess.TimeoutExpired:
            self.fail("%s did not finish in %d s" % (" ".join(cmd), timeout))
        why = crashed(res)
        if why:
            self.fail("%s crashed (%s):\n%s%s" % (" ".join(cmd), why,
                                                  res.stdout, res.stderr))
        allowed = expect if expect is not None else ([0] if ok else None)
        if allowed is not None and res.returncode not in allowed:
            self.fail("%s exited %d (wanted %s):\n%s%s" % (
                " ".join(cmd), res.returncode, allowed, res.stdout[-3000:],
                res.stderr[-3000:]))
        return res

    def qemu_img(self, *args, **kw):
        return self.run_tool([QEMU_IMG] + list(args), **kw)

    def lemu_img(self, *args, **kw):
        return self.run_tool([LEMU_IMG] + list(args), **kw)

    def qemu_io(self, img, fmt, ops):
        if not ops:
            return
        if not QEMU_IO:
            self.skipTest("qemu-io is not installed")
        # many -c at once; chunks keep the command line short
        for k in range(0, len(ops), 200):
            self.run_tool([QEMU_IO, "-f", fmt] +
                          qemu_io_args(ops[k:k + 200]) + [img])

    def make_raw(self, name, data):
        p = self.path(name)
        write(p, data)
        return p

    # ---- checks ----

    def qemu_check_clean(self, img, fmt="qcow2"):
        """qemu-img check finds neither corruptions nor leaks."""
        res = self.qemu_img("check", "-f", fmt, img, ok=False)
        self.assertEqual(res.returncode, 0,
                         "qemu-img check %s: exit %d\n%s%s" % (
                             img, res.returncode, res.stdout, res.stderr))
        self.assertIn("No errors were found", res.stdout)

    def assert_lemu_reads(self, img, fmt, expected, check=True):
        """lemu-img sees @expected (bytes) in @img: compare says identical,
        convert -O raw gives exactly those bytes, check finds no errors."""
        ref = self.path("expected-%s.raw" % os.path.basename(img))
        write(ref, expected)
        res = self.lemu_img("compare", "-f", fmt, "-F", "raw", img, ref,
                            ok=False)
        self.assertEqual(res.returncode, 0,
                         "lemu-img compare %s: exit %d\n%s%s" % (
                             img, res.returncode, res.stdout, res.stderr))
        out = self.path("lemu-out-%s.raw" % os.path.basename(img))
        self.lemu_img("convert", "-f", fmt, "-O", "raw", img, out)
        got = read(out)
        self.assertEqual(len(got), len(expected), "converted size")
        if got != expected:
            bad = next(i for i in range(len(got)) if got[i] != expected[i])
            self.fail("lemu-img convert of %s differs from the reference "
                      "first at byte %d (%#x): got %#x, want %#x" % (
                          img, bad, bad, got[bad], expected[bad]))
        os.unlink(out)
        if check and fmt == "qcow2":
            self.lemu_img("check", "-f", fmt, img)
        if fmt == "qcow2" and QEMU_IMG:
            self.assert_same_json(img)

    def assert_same_json(self, img):
        """lemu-img info, map and check describe the image exactly as
        qemu-img does (--output=json, the machine-readable contract)."""
        for cmd in (["info"], ["map"], ["check"]):
            args = cmd + ["--output=json", "-f", "qcow2", img]
            want = json.loads(self.qemu_img(*args, expect=[0, 3]).stdout)
            got = self.lemu_img(*args, expect=[0, 3]).stdout
            try:
                got = json.loads(got)
            except ValueError:
                self.fail("lemu-img %s --output=json printed no JSON:\n%s"
                          % (cmd[0], got[:2000]))
            if cmd[0] == "map":
                # qemu-img gives a host offset for unallocated subclusters
                # of an allocated extended-L2 cluster; it means nothing
                want, got = normalize_map(want), normalize_map(got)
            if got != want:
                first = first_difference(got, want)
                self.fail("lemu-img %s --output=json differs from "
                          "qemu-img's for %s: %s" % (
                              cmd[0], os.path.basename(img), first))

    def assert_qemu_reads(self, img, fmt, expected):
        """qemu-img agrees that @img holds @expected (checks the test's
        own reference before blaming lemu, or checks what lemu wrote)."""
        ref = self.path("qexpected-%s.raw" % os.path.basename(img))
        write(ref, expected)
        res = self.qemu_img("compare", "-f", fmt, "-F", "raw", img, ref,
                            ok=False)
        self.assertEqual(res.returncode, 0,
                         "qemu-img compare %s: exit %d\n%s%s" % (
                             img, res.returncode, res.stdout, res.stderr))
        os.unlink(ref)
