"""Crash consistency of lemu's qcow2 writes (suite 'functional').

About 40 times: crash-writer (a BlockBackend client with several requests
in flight and periodic flushes) writes to a fresh qcow2 image and is
killed with SIGKILL after a random delay. Then
  - `lemu-img check` (and `qemu-img check` when installed) finds no
    corruption; leaked clusters are allowed. With lazy_refcounts the
    image is dirty: `check -r all` repairs it and a second check is clean;
  - `crash-writer --verify N` finds every request up to the last
    completed flush N on the image (or a later request's data).

Variants: 64 KiB clusters; 512-byte clusters (the refcount table grows);
lazy_refcounts=on; a raw backing file; extended L2 over a backing file.
Needs CRASH_WRITER and LEMU_IMG (built)."""
import os
import random
import re
import struct
import subprocess
import time

from blocktest import LEMU_IMG, QEMU_IMG, BlockTestCase, MiB, main, write

CRASH_WRITER = os.environ.get("CRASH_WRITER",
                              "build/tests/block/crash-writer")
ROUNDS = int(os.environ.get("CRASH_ROUNDS", "40"))
SIZE = 16 * MiB

# name: (create options, backing file?, seconds before the kill)
VARIANTS = [
    ("64k", "cluster_size=65536", False, (0.05, 0.6)),
    # 64-bit refcounts: a refcount block covers 32 KiB, the first table
    # cluster 2 MiB, so the table grows within a round
    ("512", "cluster_size=512,refcount_bits=64", False, (0.5, 2.5)),
    ("lazy", "cluster_size=65536,lazy_refcounts=on", False, (0.05, 0.6)),
    ("backing", "cluster_size=65536", True, (0.05, 0.6)),
    ("extl2", "cluster_size=65536,extended_l2=on", True, (0.05, 0.6)),
]


def base_pattern(size):
    """What crash-writer --base-pattern expects where nothing was
    written: each 16 bytes hold their offset (big endian) and BACKING!."""
    return b"".join(struct.pack(">Q8s", o, b"BACKING!")
                    for o in range(0, size, 16))


class CrashConsistency(BlockTestCase):
    NEED_QEMU = False

    def setUp(self):
        super().setUp()
        for prog in (CRASH_WRITER, LEMU_IMG):
            if not os.access(prog, os.X_OK):
                self.fail("%s is not built" % prog)

    def create(self, img, opts, backing):
        tool = self.qemu_img if QEMU_IMG else self.lemu_img
        args = ["create", "-q", "-f", "qcow2", "-o", opts]
        if backing:
            args += ["-b", os.path.basename(backing), "-F", "raw"]
        tool(*(args + [img, str(SIZE)]))

    def writer_args(self, seed, backing):
        args = ["--seed", str(seed), "--qd", "8", "--flush-every", "16"]
        if backing:
            args.append("--base-pattern")
        return args

    def crash_once(self, delay, variant, opts, backing, seed):
        img = self.path("crash-%d.qcow2" % seed)
        self.create(img, opts, backing)
        out_path = self.path("writer-%d.out" % seed)
        err_path = self.path("writer-%d.err" % seed)
        with open(out_path, "w") as out, open(err_path, "w") as err:
            proc = subprocess.Popen(
                [CRASH_WRITER] + self.writer_args(seed, backing) + [img],
                stdout=out, stderr=err, stdin=subprocess.DEVNULL)
            time.sleep(delay)
            still_running = proc.poll() is None
            if still_running:
                proc.kill()
            proc.wait()
        with open(err_path) as f:
            errors = f.read()
        self.assertTrue(still_running, "crash-writer (%s, seed %d) exited "
                        "%d before it was killed:\n%s" % (
                            variant, seed, proc.returncode, errors))
        with open(out_path) as f:
            flushed = [int(n) for n in re.findall(r"^flushed (\d+)$",
                                                  f.read(), re.M)]
        n = flushed[-1] if flushed else 0

        what = "%s seed %d after %d flushed requests" % (variant, seed, n)
        if variant == "lazy":
            # dirty: refcounts are stale until repaired
            self.lemu_img("check", "-r", "all", img, expect=[0])
            self.lemu_img("check", img, expect=[0])
            if QEMU_IMG:
                self.qemu_check_clean(img)
        else:
            res = self.lemu_img("check", img, ok=False)
            self.assertIn(res.returncode, (0, 3),
                          "lemu-img check, %s:\n%s%s" % (
                              what, res.stdout[-2000:], res.stderr[-2000:]))
            if QEMU_IMG:
                res = self.qemu_img("check", img, ok=False)
                self.assertIn(res.returncode, (0, 3),
                              "qemu-img check, %s:\n%s%s" % (
                                  what, res.stdout[-2000:],
                                  res.stderr[-2000:]))
        res = self.run_tool([CRASH_WRITER, "--verify", str(n)] +
                            self.writer_args(seed, backing) + [img],
                            ok=False)
        self.assertEqual(res.returncode, 0, "verify, %s:\n%s%s" % (
            what, res.stdout, res.stderr))
        with open(img, "rb") as f:
            reftable_clusters = struct.unpack(">I", f.read(60)[56:60])[0]
        os.unlink(img)
        return n, reftable_clusters

    def test_kill_during_writes(self):
        backing = self.path("base.raw")
        write(backing, base_pattern(SIZE))
        rnd = random.Random(int(os.environ.get("CRASH_SEED", "1")))
        flushed = []
        grown = 0
        for k in range(ROUNDS):
            variant, opts, with_backing, delay = VARIANTS[k % len(VARIANTS)]
            with self.subTest(round=k, variant=variant):
                n, reftable_clusters = self.crash_once(
                    rnd.uniform(*delay), variant, opts,
                    backing if with_backing else None, k + 1)
                flushed.append(n)
                grown += variant == "512" and reftable_clusters > 1
        if ROUNDS >= len(VARIANTS):
            self.assertGreater(grown, 0, "no 512-byte-cluster round grew "
                               "the refcount table")
        # the rounds must have tested something
        self.assertGreaterEqual(sum(1 for n in flushed if n > 0),
                                len(flushed) // 2,
                                "too few rounds got past a flush: %s" %
                                flushed)

    def test_writer_without_crash_verifies(self):
        """The writer and its verifier agree on an image nobody killed
        (all requests flushed)."""
        img = self.path("whole.qcow2")
        self.create(img, "cluster_size=65536", None)
        res = self.run_tool([CRASH_WRITER, "--writes", "500"] +
                            self.writer_args(7, None) + [img])
        self.assertIn("flushed 500", res.stdout)
        self.lemu_img("check", img)
        if QEMU_IMG:
            self.qemu_check_clean(img)
        self.run_tool([CRASH_WRITER, "--verify", "500", "--max-ops", "500"] +
                      self.writer_args(7, None) + [img])
        # and the verifier notices damage
        raw = self.path("whole.raw")
        self.lemu_img("convert", "-O", "raw", img, raw)
        with open(raw, "r+b") as f:
            for off in range(12345, SIZE, SIZE // 10):
                f.seek(off)
                byte = f.read(1)
                f.seek(off)
                f.write(bytes([byte[0] ^ 0xff]))
        res = self.run_tool([CRASH_WRITER, "--verify", "500", "--max-ops",
                             "500", "--format", "raw"] +
                            self.writer_args(7, None) + [raw], ok=False)
        self.assertEqual(res.returncode, 1, res.stdout + res.stderr)
        self.assertIn("bytes differ", res.stderr)

if __name__ == "__main__":
    main()
