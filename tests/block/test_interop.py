"""qcow2 interoperability with qemu-img (suite 'interop').

Images made by qemu-img (and written by qemu-io) must read identically in
lemu-img: every cluster size, v2 and v3, refcount widths, compressed
clusters (zlib and zstd), extended L2, backing chains with mixed formats,
internal snapshots and zero clusters. Each is checked twice: `lemu-img
compare` against a raw reference and `lemu-img convert -O raw` compared
byte for byte. The reference is checked with qemu-img first, so that a
failure points at lemu, not at the recipe.

The other way round, images lemu-img writes (create, convert, snapshot,
commit, rebase, resize, amend) must pass `qemu-img check` with no errors
and no leaks and hold the expected content according to `qemu-img
compare`.

Runs with LEMU_IMG=path/to/lemu-img; skips when qemu-img is missing.
(LEMU_IMG=qemu-img runs the suite against QEMU itself, which checks the
test.)"""
import json
import os
import shutil

from blocktest import (BlockTestCase, KiB, MiB, QEMU_IO, apply_ops, main,
                       random_ops, random_raw, read, write)

CLUSTER_SIZES = [512 << k for k in range(13)]       # 512 .. 2M


def size_for(cluster):
    return max(8 * MiB, 8 * cluster)


class QemuImagesReadInLemu(BlockTestCase):
    """qemu-img makes, lemu-img reads."""

    def setUp(self):
        super().setUp()
        if not QEMU_IO:
            self.skipTest("qemu-io is not installed")

    def make_qcow2(self, name, content, opts, ops=(), compress=False):
        """A qcow2 image from raw @content (qemu-img convert with @opts)
        with qemu-io @ops applied; returns (path, expected bytes)."""
        raw = self.path(name + ".src.raw")
        write(raw, content)
        img = self.path(name)
        cmd = ["convert", "-f", "raw", "-O", "qcow2"]
        if compress:
            cmd.append("-c")
        if opts:
            cmd += ["-o", opts]
        self.qemu_img(*(cmd + [raw, img]))
        os.unlink(raw)
        self.qemu_io(img, "qcow2", list(ops))
        expected = apply_ops(bytearray(content), ops)
        self.assert_qemu_reads(img, "qcow2", bytes(expected))
        return img, bytes(expected)

    def qemu_info(self, img):
        res = self.qemu_img("info", "--output=json", "-f", "qcow2", img)
        return json.loads(res.stdout)

    def test_every_cluster_size_v2_and_v3(self):
        for cluster in CLUSTER_SIZES:
            for compat in ("0.10", "1.1"):
                with self.subTest(cluster=cluster, compat=compat):
                    size = size_for(cluster)
                    seed = cluster + (compat == "1.1")
                    img, expected = self.make_qcow2(
                        "c%d-%s.qcow2" % (cluster, compat),
                        random_raw(size, seed),
                        "cluster_size=%d,compat=%s" % (cluster, compat),
                        random_ops(size, seed, 40, cluster))
                    info = self.qemu_info(img)
                    self.assertEqual(info["cluster-size"], cluster)
                    self.assert_lemu_reads(img, "qcow2", expected)

    def test_refcount_widths(self):
        for bits, cluster in [(1, 65536), (1, 4096), (2, 65536),
                              (4, 65536), (8, 65536), (16, 512),
                              (32, 65536), (64, 65536), (64, 2 * MiB)]:
            with self.subTest(refcount_bits=bits, cluster=cluster):
                size = size_for(cluster)
                img, expected = self.make_qcow2(
                    "r%d-%d.qcow2" % (bits, cluster),
                    random_raw(size, bits * 7 + cluster),
                    "refcount_bits=%d,cluster_size=%d" % (bits, cluster),
                    random_ops(size, bits, 30, cluster))
                self.assert_lemu_reads(img, "qcow2", expected)

    def test_compressed_zlib_and_zstd(self):
        for ctype in ("zlib", "zstd"):
            for cluster in (4096, 65536, 2 * MiB):
                with self.subTest(compression_type=ctype, cluster=cluster):
                    size = size_for(cluster)
                    content = random_raw(size, cluster, coverage=0.7,
                                         compressible=True)
                    # some incompressible clusters too: stored plainly
                    content[size // 2:size // 2 + 3 * cluster] = \
                        random_raw(3 * cluster, 5, coverage=1.0)
                    img, expected = self.make_qcow2(
                        "z-%s-%d.qcow2" % (ctype, cluster), content,
                        "compression_type=%s,cluster_size=%d" % (ctype,
                                                                  cluster),
                        compress=True)
                    res = self.qemu_img("check", "--output=json", "-f",
                                        "qcow2", img)
                    self.assertGreater(
                        json.loads(res.stdout).get("compressed-clusters", 0),
                        0, "the image should hold compressed clusters")
                    self.assertEqual(self.qemu_info(img)["format-specific"]
                                     ["data"]["compression-type"], ctype)
                    self.assert_lemu_reads(img, "qcow2", expected)
                    # qemu rewrites parts of compressed clusters (copy on
                    # write out of a compressed cluster) and lemu reads it
                    self.qemu_io(img, "qcow2",
                                 [("write", 1000, 3000, 0x5a),
                                  ("write", size // 3 + 17, 9000, 0xa5)])
                    expected = bytes(apply_ops(
                        bytearray(expected), [("write", 1000, 3000, 0x5a),
                                              ("write", size // 3 + 17, 9000,
                                               0xa5)]))
                    self.assert_lemu_reads(img, "qcow2", expected)

    def test_extended_l2(self):
        for cluster in (16 * KiB, 64 * KiB, 2 * MiB):
            size = size_for(cluster)
            with self.subTest(cluster=cluster, backing=False):
                img, expected = self.make_qcow2(
                    "x%d.qcow2" % cluster, random_raw(size, cluster),
                    "extended_l2=on,cluster_size=%d" % cluster,
                    random_ops(size, cluster + 1, 60, cluster))
                self.assertTrue(self.qemu_info(img)["format-specific"]
                                ["data"]["extended-l2"])
                self.assert_lemu_reads(img, "qcow2", expected)
            with self.subTest(cluster=cluster, backing=True):
                # unallocated subclusters read from the backing file,
                # zeroed ones do not
                base = random_raw(size, cluster + 2, coverage=1.0)
                write(self.path("xb%d.raw" % cluster), base)
                img = self.path("xt%d.qcow2" % cluster)
                self.qemu_img("create", "-f", "qcow2", "-o",
                              "extended_l2=on,cluster_size=%d" % cluster,
                              "-b", "xb%d.raw" % cluster, "-F", "raw", img)
                sub = cluster // 32
                ops = [("write", cluster + sub, sub, 0x11),
                       ("write", 3 * cluster + 5, sub // 2, 0x22),
                       ("zero", 5 * cluster + 2 * sub, 2 * sub, True),
                       ("zero", 6 * cluster, sub, False)]
                ops += random_ops(size, cluster + 3, 40, cluster,
                                  discards=False)
                self.qemu_io(img, "qcow2", ops)
                expected = bytes(apply_ops(bytearray(base), ops))
                self.assert_qemu_reads(img, "qcow2", expected)
                self.assert_lemu_reads(img, "qcow2", expected)

    def test_backing_chain_raw_qcow2_qcow2(self):
        """raw base <- qcow2 v2 middle (64K) <- qcow2 v3 top (4K, larger
        than its backing: the tail reads as zero)."""
        size, top_size = 8 * MiB, 12 * MiB
        base = random_raw(size, 31, coverage=0.8)
        write(self.path("base.raw"), base)
        mid = self.path("mid.qcow2")
        top = self.path("top.qcow2")
        self.qemu_img("create", "-f", "qcow2", "-o", "compat=0.10",
                      "-b", "base.raw", "-F", "raw", mid)
        mid_ops = random_ops(size, 32, 40, 65536, discards=False)
        self.qemu_io(mid, "qcow2", mid_ops)
        self.qemu_img("create", "-f", "qcow2", "-o", "cluster_size=4096",
                      "-b", "mid.qcow2", "-F", "qcow2", top, str(top_size))
        top_ops = random_ops(top_size, 33, 40, 4096, discards=False)
        # zero clusters that hide backing data
        top_ops += [("zero", 0, 65536, True), ("zero", 1 * MiB + 4096,
                                                8192, False)]
        self.qemu_io(top, "qcow2", top_ops)
        mid_view = apply_ops(bytearray(base), mid_ops)
        expected = apply_ops(mid_view + bytearray(top_size - size), top_ops)
        expected = bytes(expected)
        self.assert_qemu_reads(top, "qcow2", expected)
        self.assert_lemu_reads(top, "qcow2", expected)
        # the middle alone, too
        self.assert_lemu_reads(mid, "qcow2", bytes(
            apply_ops(bytearray(base), mid_ops)))
        res = self.lemu_img("info", "--backing-chain", top)
        for name in ("top.qcow2", "mid.qcow2", "base.raw"):
            self.assertIn(name, res.stdout)

    def test_internal_snapshots(self):
        for compat in ("0.10", "1.1"):
            with self.subTest(compat=compat):
                size = 8 * MiB
                states = []
                content = random_raw(size, 41)
                img, cur = self.make_qcow2("snap-%s.qcow2" % compat, content,
                                           "compat=%s" % compat)
                states.append(cur)
                for k, name in enumerate(("first", "second")):
                    self.qemu_img("snapshot", "-c", name, img)
                    ops = random_ops(size, 42 + k, 30, 65536)
                    self.qemu_io(img, "qcow2", ops)
                    cur = bytes(apply_ops(bytearray(cur), ops))
                    states.append(cur)
                res = self.lemu_img("snapshot", "-l", img)
                self.assertIn("first", res.stdout)
                self.assertIn("second", res.stdout)
                self.assert_lemu_reads(img, "qcow2", states[2])
                for name, want in (("first", states[0]),
                                   ("second", states[1])):
                    copy = self.path("snap-%s-%s.qcow2" % (compat, name))
                    shutil.copyfile(img, copy)
                    self.lemu_img("snapshot", "-a", name, copy)
                    self.qemu_check_clean(copy)
                    self.assert_qemu_reads(copy, "qcow2", want)
                    self.assert_lemu_reads(copy, "qcow2", want)

    def test_zero_clusters(self):
        """v3 zero clusters, with and without a host cluster kept, over
        data and over a backing file."""
        size = 8 * MiB
        base = random_raw(size, 51, coverage=1.0)
        write(self.path("zb.raw"), base)
        img = self.path("zero.qcow2")
        self.qemu_img("create", "-f", "qcow2", "-b", "zb.raw", "-F", "raw",
                      img)
        ops = [("write", 0, 2 * MiB, 0x33),
               ("zero", 0, 256 * KiB, False),          # kept allocated
               ("zero", 512 * KiB, 256 * KiB, True),   # unmapped
               ("zero", 4 * MiB, 1 * MiB, True),       # over backing only
               ("zero", 6 * MiB + 100, 70000, False)]  # partial clusters
        self.qemu_io(img, "qcow2", ops)
        expected = bytes(apply_ops(bytearray(base), ops))
        res = self.qemu_img("map", "--output=json", "-f", "qcow2", img)
        self.assertTrue(any(e["zero"] and e["depth"] == 0
                            for e in json.loads(res.stdout)),
                        "the image should hold zero clusters")
        self.assert_qemu_reads(img, "qcow2", expected)
        self.assert_lemu_reads(img, "qcow2", expected)

    def test_compare_reports_differences(self):
        """lemu-img compare is not a rubber stamp."""
        content = random_raw(4 * MiB, 61)
        img, expected = self.make_qcow2("cmp.qcow2", content, "")
        changed = bytearray(expected)
        changed[3 * MiB + 7] ^= 0xff
        write(self.path("changed.raw"), changed)
        res = self.lemu_img("compare", "-f", "qcow2", "-F", "raw", img,
                            self.path("changed.raw"), expect=[1])
        self.assertRegex(res.stdout + res.stderr, "(?i)mismatch|differ")


class LemuImagesPassQemuCheck(BlockTestCase):
    """lemu-img writes, qemu-img checks and reads."""

    def qemu_info(self, img):
        res = self.qemu_img("info", "--output=json", img)
        return json.loads(res.stdout)

    def assert_written_well(self, img, expected):
        self.qemu_check_clean(img)
        self.assert_qemu_reads(img, "qcow2", expected)
        self.assert_same_json(img)

    def test_create_options(self):
        size = 64 * MiB
        cases = [
            ("cluster_size=512", {"cluster-size": 512}),
            ("cluster_size=2M", {"cluster-size": 2 * MiB}),
            ("compat=0.10", {"compat": "0.10"}),
            ("compat=1.1", {"compat": "1.1"}),
            ("refcount_bits=1", {"refcount-bits": 1}),
            ("refcount_bits=64", {"refcount-bits": 64}),
            ("extended_l2=on", {"extended-l2": True}),
            ("lazy_refcounts=on", {"lazy-refcounts": True}),
            ("compression_type=zstd", {"compression-type": "zstd"}),
            ("preallocation=metadata", {}),
            ("preallocation=falloc", {}),
            ("preallocation=full,cluster_size=4096", {"cluster-size": 4096}),
        ]
        for opts, want in cases:
            with self.subTest(opts=opts):
                img = self.path("create-%s.qcow2" % opts.replace("=", "-")
                                .replace(",", "-"))
                self.lemu_img("create", "-f", "qcow2", "-o", opts, img,
                              "64M")
                self.assert_written_well(img, bytes(size))
                info = self.qemu_info(img)
                self.assertEqual(info["virtual-size"], size)
                data = info["format-specific"]["data"]
                for key, value in want.items():
                    got = info[key] if key == "cluster-size" else data[key]
                    self.assertEqual(got, value, key)
                if opts.startswith("preallocation"):
                    res = self.qemu_img("map", "--output=json", img)
                    self.assertTrue(all(e["data"] or e["zero"]
                                        for e in json.loads(res.stdout)),
                                    "preallocated image has holes")

    def test_create_with_backing_file(self):
        base = random_raw(8 * MiB, 71)
        write(self.path("cb.raw"), base)
        img = self.path("cb-top.qcow2")
        self.lemu_img("create", "-f", "qcow2", "-b", "cb.raw", "-F", "raw",
                      img)
        info = self.qemu_info(img)
        self.assertEqual(info["backing-filename"], "cb.raw")
        self.assertEqual(info["virtual-size"], 8 * MiB)
        self.assert_written_well(img, bytes(base))

    def test_convert_options(self):
        size = 16 * MiB
        content = random_raw(size, 81, coverage=0.6, compressible=True)
        content[MiB:3 * MiB] = random_raw(2 * MiB, 82, coverage=1.0)
        src = self.make_raw("conv-src.raw", content)
        cases = [[], ["-c"], ["-c", "-o", "compression_type=zstd"],
                 ["-c", "-o", "cluster_size=4096"],
                 ["-o", "cluster_size=512"], ["-o", "cluster_size=2M"],
                 ["-o", "compat=0.10"], ["-o", "refcount_bits=1"],
                 ["-o", "refcount_bits=64"], ["-o", "extended_l2=on"],
                 ["-o", "preallocation=metadata"], ["-S", "0"]]
        for extra in cases:
            with self.subTest(options=" ".join(extra)):
                out = self.path("conv%s.qcow2" % "".join(
                    c for c in "".join(extra) if c.isalnum()))
                self.lemu_img(*(["convert", "-f", "raw", "-O", "qcow2"] +
                                extra + [src, out]))
                self.assert_written_well(out, bytes(content))
                if "-c" in extra:
                    res = self.qemu_img("check", "--output=json", out)
                    self.assertGreater(json.loads(res.stdout).get(
                        "compressed-clusters", 0), 0,
                        "convert -c wrote no compressed cluster")

    def test_convert_flattens_a_chain(self):
        if not QEMU_IO:
            self.skipTest("qemu-io is not installed")
        base = random_raw(8 * MiB, 91)
        write(self.path("fb.raw"), base)
        top = self.path("ft.qcow2")
        self.qemu_img("create", "-f", "qcow2", "-b", "fb.raw", "-F", "raw",
                      top)
        ops = random_ops(8 * MiB, 92, 30, 65536, discards=False)
        self.qemu_io(top, "qcow2", ops)
        out = self.path("flat.qcow2")
        self.lemu_img("convert", "-O", "qcow2", top, out)
        self.assertNotIn("backing-filename", self.qemu_info(out))
        self.assert_written_well(out, bytes(apply_ops(bytearray(base), ops)))

    def test_snapshot_create_apply_delete(self):
        if not QEMU_IO:
            self.skipTest("qemu-io is not installed")
        size = 8 * MiB
        img = self.path("ls.qcow2")
        self.qemu_img("convert", "-O", "qcow2",
                      self.make_raw("ls.raw", random_raw(size, 101)), img)
        first = read(self.path("ls.raw"))
        self.lemu_img("snapshot", "-c", "one", img)
        self.qemu_check_clean(img)
        res = self.qemu_img("snapshot", "-l", img)
        self.assertIn("one", res.stdout)
        # qemu writes over lemu's snapshot: copy on write must kick in
        ops = random_ops(size, 102, 40, 65536)
        self.qemu_io(img, "qcow2", ops)
        second = bytes(apply_ops(bytearray(first), ops))
        self.assert_written_well(img, second)
        self.lemu_img("snapshot", "-c", "two", img)
        self.qemu_check_clean(img)
        copy = self.path("ls-copy.qcow2")
        shutil.copyfile(img, copy)
        self.qemu_img("snapshot", "-a", "one", copy)
        self.assert_qemu_reads(copy, "qcow2", first)
        # lemu applies and deletes
        self.lemu_img("snapshot", "-a", "one", img)
        self.assert_written_well(img, first)
        self.lemu_img("snapshot", "-d", "one", img)
        self.qemu_check_clean(img)
        res = self.qemu_img("snapshot", "-l", img)
        self.assertNotIn("one", res.stdout)
        self.assertIn("two", res.stdout)
        self.qemu_img("snapshot", "-a", "two", img)
        self.assert_written_well(img, second)

    def test_commit(self):
        if not QEMU_IO:
            self.skipTest("qemu-io is not installed")
        size = 8 * MiB
        for base_fmt in ("qcow2", "raw"):
            with self.subTest(base=base_fmt):
                content = random_raw(size, 111)
                base = self.path("cm-base." + base_fmt)
                raw = self.make_raw("cm-src.raw", content)
                self.qemu_img("convert", "-O", base_fmt, raw, base)
                top = self.path("cm-top-%s.qcow2" % base_fmt)
                self.qemu_img("create", "-f", "qcow2", "-b",
                              os.path.basename(base), "-F", base_fmt, top)
                ops = random_ops(size, 112, 40, 65536, discards=False)
                self.qemu_io(top, "qcow2", ops)
                expected = bytes(apply_ops(bytearray(content), ops))
                self.lemu_img("commit", top)
                if base_fmt == "qcow2":
                    self.assert_written_well(base, expected)
                else:
                    self.assertEqual(read(base), expected)
                self.qemu_check_clean(top)
                self.assert_qemu_reads(top, "qcow2", expected)

    def test_rebase(self):
        if not QEMU_IO:
            self.skipTest("qemu-io is not installed")
        size = 8 * MiB
        base = random_raw(size, 121)
        write(self.path("rb.raw"), base)
        mid = self.path("rb-mid.qcow2")
        top = self.path("rb-top.qcow2")
        self.qemu_img("create", "-f", "qcow2", "-b", "rb.raw", "-F", "raw",
                      mid)
        mid_ops = random_ops(size, 122, 30, 65536, discards=False)
        self.qemu_io(mid, "qcow2", mid_ops)
        self.qemu_img("create", "-f", "qcow2", "-b", "rb-mid.qcow2", "-F",
                      "qcow2", top)
        top_ops = random_ops(size, 123, 30, 65536, discards=False)
        self.qemu_io(top, "qcow2", top_ops)
        expected = bytes(apply_ops(apply_ops(bytearray(base), mid_ops),
                                   top_ops))
        # unsafe: only the name changes (to an identical copy)
        shutil.copyfile(mid, self.path("rb-mid2.qcow2"))
        self.lemu_img("rebase", "-u", "-b", "rb-mid2.qcow2", "-F", "qcow2",
                      top)
        self.assertEqual(self.qemu_info(top)["backing-filename"],
                         "rb-mid2.qcow2")
        self.assert_written_well(top, expected)
        # safe: skip the middle; top takes over what it provided
        self.lemu_img("rebase", "-b", "rb.raw", "-F", "raw", top)
        info = self.qemu_info(top)
        self.assertEqual(info["backing-filename"], "rb.raw")
        self.assert_written_well(top, expected)
        # no backing file at all
        self.lemu_img("rebase", "-b", "", top)
        self.assertNotIn("backing-filename", self.qemu_info(top))
        self.assert_written_well(top, expected)

    def test_resize(self):
        size = 8 * MiB
        content = random_raw(size, 131)
        img = self.path("rs.qcow2")
        self.qemu_img("convert", "-O", "qcow2",
                      self.make_raw("rs.raw", content), img)
        self.lemu_img("resize", img, "20M")
        self.assertEqual(self.qemu_info(img)["virtual-size"], 20 * MiB)
        self.assert_written_well(img, bytes(content) + bytes(12 * MiB))
        self.lemu_img("resize", img, "+1M")
        self.assertEqual(self.qemu_info(img)["virtual-size"], 21 * MiB)
        self.lemu_img("resize", "--shrink", img, "3M")
        self.assertEqual(self.qemu_info(img)["virtual-size"], 3 * MiB)
        self.assert_written_well(img, bytes(content[:3 * MiB]))
        # a large grow needs a bigger L1 table
        self.lemu_img("resize", img, "200G")
        self.assertEqual(self.qemu_info(img)["virtual-size"], 200 << 30)
        self.qemu_check_clean(img)

    def test_amend(self):
        if not QEMU_IO:
            self.skipTest("qemu-io is not installed")
        size = 8 * MiB
        content = random_raw(size, 141)
        img = self.path("am.qcow2")
        self.qemu_img("convert", "-O", "qcow2",
                      self.make_raw("am.raw", content), img)
        ops = random_ops(size, 142, 30, 65536)
        self.qemu_io(img, "qcow2", ops)
        expected = bytes(apply_ops(bytearray(content), ops))
        for opts, key, value in [
                ("refcount_bits=64", "refcount-bits", 64),
                ("refcount_bits=1", "refcount-bits", 1),
                ("refcount_bits=16", "refcount-bits", 16),
                ("lazy_refcounts=on", "lazy-refcounts", True),
                ("lazy_refcounts=off", "lazy-refcounts", False),
                ("compat=0.10", "compat", "0.10"),
                ("compat=1.1", "compat", "1.1")]:
            with self.subTest(amend=opts):
                self.lemu_img("amend", "-o", opts, img)
                self.assertEqual(self.qemu_info(img)["format-specific"]
                                 ["data"][key], value)
                self.assert_written_well(img, expected)


if __name__ == "__main__":
    main()
