#!/usr/bin/env python3
"""lemu-img against qemu-img: the same commands on the same images must
print the same things and exit with the same codes, and the images lemu-img
writes must pass qemu-img check and read back the same (qemu-img compare).
Tests that need qemu-img (or qemu-io) skip when it is not installed."""
import json
import os
import re
import shutil
import struct
import subprocess
import tempfile
import unittest

import lemutest

LEMU_IMG = os.environ.get("LEMU_IMG", "build/block/img/lemu-img")
QEMU_IMG = shutil.which("qemu-img")
QEMU_IO = shutil.which("qemu-io")
need_qemu = unittest.skipUnless(QEMU_IMG and QEMU_IO,
                                "SKIP: qemu-img/qemu-io not installed")

MiB = 1024 * 1024


def run(*args, check=None):
    p = subprocess.run([str(a) for a in args], capture_output=True,
                       text=True, timeout=120)
    if check is not None and p.returncode != check:
        raise AssertionError("%s exited %d (wanted %d)\nstdout: %s\n"
                             "stderr: %s" % (" ".join(map(str, args)),
                                             p.returncode, check, p.stdout,
                                             p.stderr))
    return p


def lemu(*args, check=None):
    return run(LEMU_IMG, *args, check=check)


def qemu(*args, check=None):
    return run(QEMU_IMG, *args, check=check)


def qemu_io(fmt, path, *cmds):
    args = [QEMU_IO, "-f", fmt]
    for c in cmds:
        args += ["-c", c]
    run(*args, path, check=0)


def tool_text(text):
    """Output of either tool with the program name made the same."""
    return text.replace("qemu-img", "TOOL").replace("lemu-img", "TOOL")


class ImgTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def path(self, name):
        return os.path.join(self.dir, name)

    def assertSameAsQemu(self, *args, ignore=()):
        """Runs both tools with @args; same exit code, stdout and stderr
        (program names aside; lines starting with @ignore dropped)."""
        q = qemu(*args)
        le = lemu(*args)

        def clean(s):
            return [l for l in tool_text(s).splitlines()
                    if not l.startswith(tuple(ignore))]
        self.assertEqual(le.returncode, q.returncode,
                         "lemu: %s %s / qemu: %s %s" % (
                             le.stdout, le.stderr, q.stdout, q.stderr))
        self.assertEqual(clean(le.stdout), clean(q.stdout))
        self.assertEqual(clean(le.stderr), clean(q.stderr))
        return le

    def qemu_image(self, name, size="64M", fmt="qcow2", opts=None,
                   backing=None):
        """A test image made by qemu-img."""
        args = ["create", "-q", "-f", fmt]
        if opts:
            args += ["-o", opts]
        if backing:
            args += ["-b", backing, "-F", "qcow2"]
        qemu(*args, self.path(name), size, check=0)
        return self.path(name)

    def layered_image(self):
        """base.qcow2 <- top.qcow2 with data, zero clusters, holes and a
        shorter backing file."""
        base = self.qemu_image("base.qcow2", "32M")
        qemu_io("qcow2", base, "write -P 0x11 0 1M", "write -P 0x22 4M 64k",
                "write -P 0x33 30M 512k")
        top = self.qemu_image("top.qcow2", "64M", backing="base.qcow2")
        qemu_io("qcow2", top, "write -P 0x44 512k 1M", "write -z 4M 64k",
                "write -P 0x55 40M 128k", "write -z 50M 1M",
                "write -P 0x66 63M 4k")
        return base, top


class Basics(ImgTest):
    def test_no_arguments_and_unknown_command(self):
        p = lemu()
        self.assertEqual(p.returncode, 1)
        self.assertIn("lemu-img: Not enough arguments", p.stderr)
        p = lemu("frobnicate")
        self.assertEqual(p.returncode, 1)
        self.assertIn("lemu-img: Command not found: frobnicate", p.stderr)

    def test_missing_file(self):
        p = lemu("info", self.path("nonexistent"))
        self.assertEqual(p.returncode, 1)
        self.assertRegex(p.stderr, r"^lemu-img: Could not open '.*nonexistent'")

    def test_raw_create_info(self):
        img = self.path("a.raw")
        p = lemu("create", "-f", "raw", img, "1M", check=0)
        self.assertEqual(p.stdout, "Formatting '%s', fmt=raw size=1048576\n"
                         % img)
        self.assertEqual(os.path.getsize(img), MiB)
        p = lemu("info", "-f", "raw", "--output=json", img, check=0)
        info = json.loads(p.stdout)
        self.assertEqual(info["virtual-size"], MiB)
        self.assertEqual(info["format"], "raw")
        p = lemu("create", "-f", "raw", img, "12Q")
        self.assertEqual(p.returncode, 1)
        self.assertIn("Invalid image size specified", p.stderr)

    def test_bench_output_and_pattern(self):
        img = self.path("b.raw")
        lemu("create", "-q", "-f", "raw", img, "1M", check=0)
        p = lemu("bench", "-f", "raw", "-w", "-c", "1000", "-d", "8", "-s",
                 "4k", "--pattern=90", img, check=0)
        lines = p.stdout.splitlines()
        self.assertEqual(lines[0], "Sending 1000 write requests, 4096 bytes "
                         "each, 8 in parallel (starting at offset 0, step "
                         "size 4096)")
        self.assertRegex(lines[1], r"^Run completed in \d+\.\d{3} seconds\.$")
        # 1000 requests of 4 KiB from 0 wrap at 1 MiB: every byte written.
        with open(img, "rb") as f:
            self.assertEqual(f.read(), bytes([90]) * MiB)
        p = lemu("bench", "-f", "raw", "-c", "500", "--random", "--seed=7",
                 "-t", "none", img, check=0)
        self.assertIn("random offsets", p.stdout)

    def test_bench_flush_interval_needs_write(self):
        img = self.path("c.raw")
        lemu("create", "-q", "-f", "raw", img, "1M", check=0)
        p = lemu("bench", "-f", "raw", "--flush-interval=64", img)
        self.assertEqual(p.returncode, 1)
        p = lemu("bench", "-f", "raw", "-w", "-c", "300",
                 "--flush-interval=64", img, check=0)
        self.assertIn("Sending flush every 64 requests", p.stdout)


@need_qemu
class Create(ImgTest):
    def test_formatting_lines(self):
        for args in (["-f", "qcow2"],
                     ["-f", "qcow2", "-o", "cluster_size=4k,compat=0.10"],
                     ["-f", "qcow2", "-o", "lazy_refcounts=on,"
                      "refcount_bits=8,extended_l2=on"],
                     ["-f", "raw"]):
            q = qemu("create", *args, self.path("q.img"), "100M", check=0)
            le = lemu("create", *args, self.path("l.img"), "100M", check=0)
            self.assertEqual(le.stdout.replace("l.img", "q.img"), q.stdout)
            if "qcow2" in args:
                qemu("check", self.path("l.img"), check=0)
            self.assertEqual(
                json.loads(qemu("info", "--output=json",
                                self.path("l.img")).stdout)["virtual-size"],
                100 * MiB)

    def test_backing(self):
        self.qemu_image("base.qcow2", "16M")
        p = lemu("create", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2",
                 self.path("top.qcow2"), check=0)
        self.assertIn("size=16777216 backing_file=base.qcow2 "
                      "backing_fmt=qcow2", p.stdout)
        info = json.loads(qemu("info", "--output=json",
                               self.path("top.qcow2")).stdout)
        self.assertEqual(info["backing-filename"], "base.qcow2")
        self.assertEqual(info["backing-filename-format"], "qcow2")
        p = lemu("create", "-f", "qcow2", "-b", "base.qcow2",
                 self.path("x.qcow2"))
        self.assertEqual(p.returncode, 1)
        self.assertIn("Backing file specified without backing format",
                      p.stderr)

    def test_option_help(self):
        q = qemu("create", "-f", "qcow2", "-o", "help").stdout.splitlines()
        le = lemu("create", "-f", "qcow2", "-o", "help",
                  check=0).stdout.splitlines()
        self.assertEqual(le[0], "Supported qcow2 options:")
        for line in le:
            self.assertIn(line, q)
        self.assertIn("  size=<size>            - Virtual disk size", le)

    def test_invalid_parameter(self):
        p = lemu("create", "-f", "qcow2", "-o", "foo=1",
                 self.path("x.qcow2"), "1M")
        self.assertEqual(p.returncode, 1)
        self.assertIn("Invalid parameter 'foo'", p.stderr)


@need_qemu
class Info(ImgTest):
    def check_json_equal(self, *args):
        q = json.loads(qemu("info", "--output=json", *args, check=0).stdout)
        le = json.loads(lemu("info", "--output=json", *args,
                             check=0).stdout)
        for info in (q if isinstance(q, list) else [q]) + \
                (le if isinstance(le, list) else [le]):
            info.pop("actual-size", None)
        self.assertEqual(le, q)

    def test_json_and_human(self):
        base, top = self.layered_image()
        qemu("snapshot", "-c", "snap1", top, check=0)
        for img in (base, top):
            self.check_json_equal(img)
            self.assertSameAsQemu("info", img, ignore=("disk size:",))
        self.check_json_equal("--backing-chain", top)
        self.assertSameAsQemu("info", "--backing-chain", top,
                              ignore=("disk size:",))

    def test_variants(self):
        for opts in ("compat=0.10", "extended_l2=on", "refcount_bits=64",
                     "compression_type=zstd,lazy_refcounts=on",
                     "cluster_size=512"):
            img = self.qemu_image("v.qcow2", "10M", opts=opts)
            self.check_json_equal(img)
            self.assertSameAsQemu("info", img, ignore=("disk size:",))
        raw = self.qemu_image("r.raw", "3M", fmt="raw")
        self.check_json_equal("-f", "raw", raw)


def qcow2_header(path):
    with open(path, "rb") as f:
        h = f.read(104)
    return {"cluster_bits": struct.unpack(">I", h[20:24])[0],
            "refcount_table_offset": struct.unpack(">Q", h[48:56])[0],
            "refcount_order": struct.unpack(">I", h[96:100])[0]}


def set_refcount(path, cluster, value):
    """Hand-edits the 16-bit refcount of @cluster (first refcount block)."""
    h = qcow2_header(path)
    assert h["refcount_order"] == 4
    with open(path, "r+b") as f:
        f.seek(h["refcount_table_offset"])
        block = struct.unpack(">Q", f.read(8))[0]
        f.seek(block + 2 * cluster)
        f.write(struct.pack(">H", value))


def add_leaked_cluster(path):
    """Appends a cluster to the file and gives it refcount 1 without any
    reference to it: a leak."""
    h = qcow2_header(path)
    cluster_size = 1 << h["cluster_bits"]
    with open(path, "r+b") as f:
        f.seek(0, 2)
        end = f.tell()
        end = (end + cluster_size - 1) // cluster_size * cluster_size
        f.truncate(end + cluster_size)
    set_refcount(path, end // cluster_size, 1)


@need_qemu
class Check(ImgTest):
    def data_cluster(self, img):
        qemu_io("qcow2", img, "write -P 0x77 0 64k")
        m = json.loads(qemu("map", "--output=json", img).stdout)
        return m[0]["offset"] // 65536

    def test_clean(self):
        img = self.qemu_image("c.qcow2")
        self.data_cluster(img)
        le = self.assertSameAsQemu("check", img)
        self.assertEqual(le.returncode, 0)
        self.check_json(img)

    def check_json(self, img):
        q = json.loads(qemu("check", "--output=json", img).stdout)
        le = json.loads(lemu("check", "--output=json", img).stdout)
        self.assertEqual(le, q)

    def test_leak(self):
        img = self.qemu_image("l.qcow2")
        self.data_cluster(img)
        add_leaked_cluster(img)
        le = self.assertSameAsQemu("check", img, ignore=("Leaked cluster",
                                                         "ERROR", "Warning"))
        self.assertEqual(le.returncode, 3)
        self.check_json(img)
        p = lemu("check", "-r", "leaks", img)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        qemu("check", img, check=0)

    def test_corruption(self):
        img = self.qemu_image("x.qcow2")
        set_refcount(img, self.data_cluster(img), 0)
        le = self.assertSameAsQemu("check", img, ignore=("ERROR", "Leaked",
                                                         "Warning"))
        self.assertEqual(le.returncode, 2)
        p = lemu("check", "-r", "all", img)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        qemu("check", img, check=0)
        qemu_io("qcow2", img, "read -P 0x77 0 64k")

    def test_raw_has_no_check(self):
        raw = self.qemu_image("r.raw", "1M", fmt="raw")
        le = self.assertSameAsQemu("check", "-f", "raw", raw)
        self.assertEqual(le.returncode, 63)


@need_qemu
class Convert(ImgTest):
    def test_qcow2_to_raw_and_back(self):
        base, top = self.layered_image()
        raw = self.path("out.raw")
        lemu("convert", "-O", "raw", top, raw, check=0)
        qemu("compare", "-F", "raw", top, raw, check=0)
        # Sparse: the raw file uses far less than its 64 MiB.
        self.assertLess(os.stat(raw).st_blocks * 512, 8 * MiB)
        q2 = self.path("back.qcow2")
        lemu("convert", "-f", "raw", "-O", "qcow2", "-o",
             "cluster_size=4k", raw, q2, check=0)
        qemu("check", q2, check=0)
        qemu("compare", "-f", "qcow2", q2, top, check=0)

    def test_fully_allocated(self):
        img = self.qemu_image("a.qcow2", "8M")
        qemu_io("qcow2", img, "write -P 1 1M 1M")
        raw = self.path("full.raw")
        lemu("convert", "-S", "0", "-O", "raw", img, raw, check=0)
        self.assertGreaterEqual(os.stat(raw).st_blocks * 512, 8 * MiB)
        qemu("compare", "-F", "raw", img, raw, check=0)

    def test_compressed(self):
        _, top = self.layered_image()
        out = self.path("c.qcow2")
        lemu("convert", "-c", "-O", "qcow2", top, out, check=0)
        qemu("check", out, check=0)
        qemu("compare", out, top, check=0)
        c = json.loads(qemu("check", "--output=json", out).stdout)
        self.assertGreater(c.get("compressed-clusters", 0), 0)

    def test_backing_and_progress(self):
        base, top = self.layered_image()
        out = self.path("o.qcow2")
        p = lemu("convert", "-p", "-O", "qcow2", "-B", "base.qcow2", "-F",
                 "qcow2", top, out, check=0)
        self.assertIn("(100.00/100%)", p.stdout)
        qemu("check", out, check=0)
        qemu("compare", out, top, check=0)
        # Only the top layer's clusters were copied.
        m = json.loads(qemu("map", "--output=json", out).stdout)
        self.assertTrue(any(e["depth"] == 1 for e in m))

    def test_concatenation(self):
        a = self.qemu_image("a.raw", "1M", fmt="raw")
        b = self.qemu_image("b.raw", "1M", fmt="raw")
        qemu_io("raw", a, "write -P 1 0 1M")
        qemu_io("raw", b, "write -P 2 0 1M")
        out = self.path("ab.raw")
        lemu("convert", "-f", "raw", "-O", "raw", a, b, out, check=0)
        with open(out, "rb") as f:
            self.assertEqual(f.read(), bytes([1]) * MiB + bytes([2]) * MiB)


@need_qemu
class Snapshot(ImgTest):
    def test_list_create_apply_delete(self):
        img = self.qemu_image("s.qcow2", "16M")
        qemu_io("qcow2", img, "write -P 1 0 64k")
        qemu("snapshot", "-c", "qsnap", img, check=0)
        self.assertSameAsQemu("snapshot", "-l", img)
        lemu("snapshot", "-c", "lsnap", img, check=0)
        qemu("check", img, check=0)
        listing = qemu("snapshot", "-l", img).stdout
        self.assertIn("lsnap", listing)
        self.assertSameAsQemu("snapshot", "-l", img)
        qemu_io("qcow2", img, "write -P 2 0 64k")
        lemu("snapshot", "-a", "qsnap", img, check=0)
        qemu_io("qcow2", img, "read -P 1 0 64k")
        lemu("snapshot", "-d", "lsnap", img, check=0)
        self.assertNotIn("lsnap", qemu("snapshot", "-l", img).stdout)
        qemu("check", img, check=0)
        self.assertSameAsQemu("snapshot", "-d", "nosuch", img)
        self.assertSameAsQemu("snapshot", "-l", "-c", "x", img)


@need_qemu
class Map(ImgTest):
    def test_map_equal(self):
        base, top = self.layered_image()
        for img in (base, top):
            self.assertSameAsQemu("map", "--output=json", img)
            self.assertSameAsQemu("map", img)
        raw = self.qemu_image("r.raw", "4M", fmt="raw")
        qemu_io("raw", raw, "write -P 9 1M 64k")
        self.assertSameAsQemu("map", "-f", "raw", "--output=json", raw)


@need_qemu
class Measure(ImgTest):
    def test_measure_equal(self):
        base, top = self.layered_image()
        for args in (["--size", "1G", "-O", "qcow2"],
                     ["--size", "10G", "-O", "qcow2", "-o",
                      "cluster_size=4k"],
                     ["--output=json", "--size", "1G", "-O", "raw"],
                     ["-O", "qcow2", top], ["--output=json", "-O", "qcow2",
                                           base],
                     ["-O", "raw", top]):
            self.assertSameAsQemu("measure", *args)
        self.assertSameAsQemu("measure", "-O", "qcow2")


@need_qemu
class CommitRebase(ImgTest):
    def test_commit(self):
        base, top = self.layered_image()
        expected = self.path("expected.raw")
        qemu("convert", "-O", "raw", top, expected, check=0)
        p = lemu("commit", top, check=0)
        self.assertEqual(p.stdout, "Image committed.\n")
        qemu("check", base, check=0)
        qemu("check", top, check=0)
        # The base now holds what the top showed (over the base's size).
        qemu("compare", "-F", "raw", top, expected, check=0)
        m = json.loads(qemu("map", "--output=json", top).stdout)
        self.assertFalse(any(e["depth"] == 0 and e["data"] for e in m))

    def test_commit_with_snapshot(self):
        """commit empties a top whose L2 tables a snapshot shares: the
        top drops its references to the tables and to every cluster they
        map (no leak), and the snapshot keeps its data."""
        base, top = self.layered_image()
        qemu("snapshot", "-c", "s1", top, check=0)
        expected = self.path("expected.raw")
        qemu("convert", "-O", "raw", top, expected, check=0)
        lemu("commit", top, check=0)
        qemu("check", top, check=0)
        qemu("check", base, check=0)
        qemu("compare", "-F", "raw", top, expected, check=0)
        qemu("snapshot", "-a", "s1", top, check=0)
        qemu("check", top, check=0)
        qemu("compare", "-F", "raw", top, expected, check=0)

    def test_commit_without_backing(self):
        img = self.qemu_image("a.qcow2")
        self.assertSameAsQemu("commit", img)

    def test_rebase_safe(self):
        base, top = self.layered_image()
        other = self.qemu_image("other.qcow2", "64M")
        qemu_io("qcow2", other, "write -P 0x11 0 512k", "write -P 0x99 8M 1M")
        expected = self.path("expected.raw")
        qemu("convert", "-O", "raw", top, expected, check=0)
        lemu("rebase", "-b", "other.qcow2", "-F", "qcow2", top, check=0)
        qemu("check", top, check=0)
        info = json.loads(qemu("info", "--output=json", top).stdout)
        self.assertEqual(info["backing-filename"], "other.qcow2")
        qemu("compare", "-F", "raw", top, expected, check=0)

    def test_rebase_unsafe_and_none(self):
        base, top = self.layered_image()
        expected = self.path("expected.raw")
        qemu("convert", "-O", "raw", top, expected, check=0)
        lemu("rebase", "-u", "-b", "elsewhere.qcow2", "-F", "qcow2", top,
             check=0)
        info = json.loads(qemu("info", "-U", "--output=json", top).stdout)
        self.assertEqual(info["backing-filename"], "elsewhere.qcow2")
        lemu("rebase", "-u", "-b", "base.qcow2", "-F", "qcow2", top, check=0)
        lemu("rebase", "-b", "", top, check=0)
        info = json.loads(qemu("info", "--output=json", top).stdout)
        self.assertNotIn("backing-filename", info)
        qemu("compare", "-F", "raw", top, expected, check=0)

    def test_rebase_safe_partial_clusters(self):
        """Data the old chain held in parts of clusters that the top does
        not allocate: the rest of each cluster copied into the top must
        hold the old backing data, not zeroes."""
        raw = self.path("base.raw")
        with open(raw, "wb") as f:
            f.write(bytes(range(256)) * (16 * MiB // 256))
        for opts in ("cluster_size=65536", "cluster_size=2M",
                     "cluster_size=65536,extended_l2=on",
                     "cluster_size=512", "compat=0.10"):
            with self.subTest(opts=opts):
                mid = self.path("mid.qcow2")
                qemu("create", "-q", "-f", "qcow2", "-b", "base.raw", "-F",
                     "raw", mid, check=0)
                qemu_io("qcow2", mid, "write -P 0x55 1000 512",
                        "write -P 0x66 3M 7k", "write -P 0x77 10M 100k",
                        "write -z 12M 64k")
                top = self.path("top.qcow2")
                qemu("create", "-q", "-f", "qcow2", "-o", opts, "-b",
                     "mid.qcow2", "-F", "qcow2", top, check=0)
                qemu_io("qcow2", top, "write -P 0x99 3M 2k",
                        "write -P 0x98 10M 4k")
                expected = self.path("expected.raw")
                qemu("convert", "-O", "raw", top, expected, check=0)
                lemu("rebase", "-b", "base.raw", "-F", "raw", top, check=0)
                qemu("check", top, check=0)
                qemu("compare", "-F", "raw", top, expected, check=0)
                lemu("rebase", "-b", "", top, check=0)
                qemu("check", top, check=0)
                qemu("compare", "-F", "raw", top, expected, check=0)


@need_qemu
class Compare(ImgTest):
    def test_results_as_qemu(self):
        base, top = self.layered_image()
        copy = self.path("copy.qcow2")
        qemu("convert", "-O", "qcow2", top, copy, check=0)
        self.assertEqual(self.assertSameAsQemu("compare", top,
                                               copy).returncode, 0)
        qemu_io("qcow2", copy, "write -P 0x12 20M 1k")
        self.assertEqual(self.assertSameAsQemu("compare", top,
                                               copy).returncode, 1)
        self.assertEqual(self.assertSameAsQemu("compare", base,
                                               top).returncode, 1)
        self.assertSameAsQemu("compare", "-s", top, copy)
        p = lemu("compare", top, self.path("missing"))
        self.assertEqual(p.returncode, 2)
        # Different sizes with zero tail: identical (with a warning).
        small = self.qemu_image("s.qcow2", "1M")
        big = self.qemu_image("b.qcow2", "2M")
        self.assertSameAsQemu("compare", small, big)
        self.assertSameAsQemu("compare", "-s", small, big)
        # -f names the first image's format only; the second is probed.
        raw = self.path("top.raw")
        qemu("convert", "-O", "raw", top, raw, check=0)
        self.assertEqual(self.assertSameAsQemu("compare", "-f", "raw", raw,
                                               top).returncode, 0)


@need_qemu
class ResizeAmend(ImgTest):
    def test_resize(self):
        img = self.qemu_image("r.qcow2", "16M")
        p = lemu("resize", img, "+16M", check=0)
        self.assertEqual(p.stdout, "Image resized.\n")
        info = json.loads(qemu("info", "--output=json", img).stdout)
        self.assertEqual(info["virtual-size"], 32 * MiB)
        qemu("check", img, check=0)
        self.assertSameAsQemu("resize", img, "--", "-1M")
        raw = self.qemu_image("r.raw", "1M", fmt="raw")
        lemu("resize", "-f", "raw", raw, "3M", check=0)
        self.assertEqual(os.path.getsize(raw), 3 * MiB)
        lemu("resize", "-f", "raw", "--shrink", raw, "2M", check=0)
        self.assertEqual(os.path.getsize(raw), 2 * MiB)

    def test_shrink(self):
        """Shrinking drops the data beyond the new end as qemu-img does:
        clusters freed, no leaks, the file cut to the same length."""
        for opts in ("cluster_size=65536", "cluster_size=4096",
                     "cluster_size=65536,extended_l2=on",
                     "cluster_size=512,refcount_bits=64"):
            with self.subTest(opts=opts):
                img = self.qemu_image("s.qcow2", "64M", opts=opts)
                qemu_io("qcow2", img, "write -P 0x11 0 56M",
                        "write -c -P 0x33 60M 1M")
                qemu("snapshot", "-c", "s1", img, check=0)
                qemu_io("qcow2", img, "write -P 0x22 1M 40M",
                        "write -c -P 0x44 58M 64k")
                ref = self.path("ref.qcow2")
                shutil.copyfile(img, ref)
                p = lemu("resize", img, "4100k")
                self.assertEqual(p.returncode, 1)
                self.assertIn("Use the --shrink option", p.stderr)
                lemu("resize", "--shrink", img, "4100k", check=0)
                qemu("resize", "-q", "--shrink", ref, "4100k", check=0)
                qemu("check", img, check=0)
                qemu("compare", img, ref, check=0)
                info = json.loads(qemu("info", "--output=json", img).stdout)
                self.assertEqual(info["virtual-size"], 4100 * 1024)
                self.assertEqual(os.path.getsize(img), os.path.getsize(ref))
                # the snapshot keeps its data; growing again reads zeroes
                lemu("resize", img, "64M", check=0)
                qemu("check", img, check=0)
                qemu_io("qcow2", img, "read -P 0x22 1M 3000k",
                        "read -P 0 8M 56M")
                qemu("snapshot", "-a", "s1", img, check=0)
                qemu("check", img, check=0)
                qemu_io("qcow2", img, "read -P 0x11 0 56M",
                        "read -P 0 56M 4M", "read -P 0x33 60M 1M")
        # v2 images do not record a snapshot's size: no resize at all
        v2 = self.qemu_image("v2.qcow2", "8M", opts="compat=0.10")
        qemu("snapshot", "-c", "s1", v2, check=0)
        self.assertSameAsQemu("resize", "--shrink", v2, "4M")
        self.assertSameAsQemu("resize", v2, "16M")

    def test_amend(self):
        img = self.qemu_image("a.qcow2", "16M")
        qemu_io("qcow2", img, "write -P 3 0 128k")
        lemu("amend", "-o", "compat=0.10", img, check=0)
        info = json.loads(qemu("info", "--output=json", img).stdout)
        self.assertEqual(info["format-specific"]["data"]["compat"], "0.10")
        qemu("check", img, check=0)
        qemu_io("qcow2", img, "read -P 3 0 128k")
        self.assertSameAsQemu("amend", img)
        self.assertSameAsQemu("amend", "-f", "raw", "-o", "size=1",
                              self.qemu_image("r.raw", "1M", fmt="raw"))


@need_qemu
class Messages(ImgTest):
    """Usage errors and option listings, word for word."""
    CASES = [
        [], ["frobnicate"], ["info"], ["info", "--output=xml", "{img}"],
        ["info", "-f", "foo", "{img}"], ["check", "-r", "foo", "{img}"],
        ["create", "-f", "qcow2", "{dir}/x.qcow2"],
        ["create", "-f", "qcow2", "{dir}/x.qcow2", "12Q"],
        ["create", "-f", "qcow2", "{dir}/x.qcow2", "100000000000000000000"],
        ["create", "-f", "foo", "{dir}/x.img", "1M"],
        ["create", "-f", "qcow2", "-o", "foo=1", "{dir}/x.qcow2", "1M"],
        ["create", "-f", "raw", "-o", "help"],
        ["convert"], ["convert", "-S", "3", "{img}", "{dir}/x.img"],
        ["convert", "-c", "-O", "raw", "{img}", "{dir}/x.img"],
        ["compare", "{img}"], ["map", "--output=foo", "{img}"],
        ["measure"], ["measure", "--size", "1G", "{img}"],
        ["measure", "--size", "-5"],
        ["resize", "{img}"], ["resize", "{img}", "foo"],
        ["resize", "{img}", "--", "-1M"],
        ["snapshot", "-a", "x", "-d", "y", "{img}"], ["snapshot", "-c"],
        ["snapshot", "-d", "nosuch", "{img}"],
        ["commit", "{img}"],
        ["amend", "{img}"], ["amend", "-o", "compat=1.1"],
        ["amend", "-o", "foo=1", "{img}"],
        ["amend", "-o", "cluster_size=4k", "{img}"],
        ["amend", "-f", "raw", "-o", "help"],
        ["rebase", "-b", "other.qcow2", "{img}"],
        ["rebase", "-u", "-b", "other.qcow2", "{img}"],
        ["bench", "-c", "10", "-t", "foo", "{img}"],
        ["bench", "--flush-interval=10", "{img}"],
        ["check", "-T", "foo", "{img}"],
        ["convert", "-O", "qcow2", "-B", "b.qcow2", "{img}", "{dir}/x.qcow2"],
        ["convert", "-O", "raw", "-B", "b", "-F", "qcow2", "{img}",
         "{dir}/x.raw"],
        ["convert", "-O", "qcow2", "-F", "qcow2", "{img}", "{dir}/x.qcow2"],
    ]

    def test_messages(self):
        img = self.qemu_image("m.qcow2", "16M")
        for case in self.CASES:
            args = [a.format(img=img, dir=self.dir) for a in case]
            with self.subTest(args=args):
                self.assertSameAsQemu(*args)


if __name__ == "__main__":
    lemutest.main()
