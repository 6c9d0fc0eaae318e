#!/usr/bin/env python3
"""Block I/O benchmark: `lemu-img bench` beside `qemu-img bench`, same run,
same qcow2 image. Not a test (not in any meson suite).

Run from the repository root after building:

    python3 tests/bench/block.py [--lemu-img build/block/img/lemu-img]
        [--dir /var/tmp] [--size 1G] [--count 100000] [--runs 5]

The image is created by qemu-img (1 GiB, preallocation=full, so that every
cluster is allocated and both tools measure the same steady state: reads
hit data, writes overwrite allocated clusters). Each case runs --runs
times per tool, alternating lemu and QEMU, and the table shows the median
IOPS and MB/s (10^6 bytes/s) and lemu's median as a fraction of QEMU's.

Cases: 4 KiB requests at queue depth 16, read and write (-w), with the
host page cache bypassed (-t none -n: O_DIRECT and native AIO) and with
cache=writeback; 64 KiB sequential reads and writes; and lemu-img's own
--random variant (random 4 KiB-aligned offsets; QEMU has no equivalent,
its column says n/a). --dir must be on a file system that supports
O_DIRECT (not tmpfs) for the cache=none rows; without it they are
skipped with a note.
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

# (label, bench arguments, lemu only)
CASES = []
for _size, _step, _name in (("4k", [], "4K"), ("64k", ["-S", "64k"],
                                               "64K seq")):
    for _cache, _cache_args in (("cache=none", ["-t", "none", "-n"]),
                                ("writeback", ["-t", "writeback"])):
        for _rw, _rw_args in (("read ", []), ("write", ["-w"])):
            CASES.append(("%s %s QD16 %s" % (_name, _rw, _cache),
                          ["-s", _size, "-d", "16"] + _step + _cache_args +
                          _rw_args, False))
for _cache, _cache_args in (("cache=none", ["-t", "none", "-n"]),
                            ("writeback", ["-t", "writeback"])):
    for _rw, _rw_args in (("read ", []), ("write", ["-w"])):
        CASES.append(("4K rand %s QD16 %s" % (_rw, _cache),
                      ["-s", "4k", "-d", "16", "--random"] + _cache_args +
                      _rw_args, True))


def parse_size(s):
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    s = s.strip().lower()
    if s and s[-1] in units:
        return int(float(s[:-1]) * units[s[-1]])
    return int(s)


def request_bytes(args):
    return parse_size(args[args.index("-s") + 1])


def bench_once(tool, image, args, count):
    """Seconds one run took, from the tool's own report."""
    cmd = [tool, "bench", "-f", "qcow2", "-c", str(count)]
    cmd += args + [image]
    res = subprocess.run(cmd, capture_output=True, text=True)
    m = re.search(r"Run completed in ([0-9.]+) seconds", res.stdout)
    if res.returncode != 0 or not m:
        raise RuntimeError("%s failed (exit %d): %s%s" % (
            " ".join(cmd), res.returncode, res.stdout, res.stderr))
    return float(m.group(1))


def direct_io_works(directory):
    path = os.path.join(directory, ".odirect-probe")
    try:
        fd = os.open(path, os.O_CREAT | os.O_RDWR | os.O_DIRECT, 0o600)
        os.close(fd)
        return True
    except OSError:
        return False
    finally:
        if os.path.exists(path):
            os.unlink(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lemu-img", default=os.environ.get(
        "LEMU_IMG", "build/block/img/lemu-img"))
    ap.add_argument("--qemu-img", default=shutil.which("qemu-img"))
    ap.add_argument("--dir", default="/var/tmp",
                    help="where the image goes (not tmpfs, for O_DIRECT)")
    ap.add_argument("--size", default="1G")
    ap.add_argument("--count", type=int, default=100000,
                    help="requests per run (64K cases: a quarter)")
    ap.add_argument("--runs", type=int, default=5)
    opts = ap.parse_args()

    if not os.access(opts.lemu_img, os.X_OK):
        sys.exit("lemu-img not found at %s (build it, or --lemu-img)" %
                 opts.lemu_img)
    if not opts.qemu_img:
        sys.exit("qemu-img is not installed: it creates the image and is "
                 "the reference")
    workdir = tempfile.mkdtemp(prefix="lemu-bench-", dir=opts.dir)
    image = os.path.join(workdir, "bench.qcow2")
    try:
        subprocess.run([opts.qemu_img, "create", "-q", "-f", "qcow2", "-o",
                        "preallocation=full", image, opts.size], check=True)
        direct = direct_io_works(workdir)
        print("image: %s, %s, qcow2 (qemu-img, preallocation=full); "
              "%d runs per case, median" % (image, opts.size, opts.runs))
        if not direct:
            print("note: %s does not support O_DIRECT; cache=none rows "
                  "skipped" % opts.dir)
        header = "%-30s %12s %9s %12s %9s %7s" % (
            "case", "lemu IOPS", "MB/s", "qemu IOPS", "MB/s", "ratio")
        print(header)
        print("-" * len(header))
        for label, args, lemu_only in CASES:
            if "none" in args and not direct:
                continue
            size = request_bytes(args)
            count = opts.count if size <= 4096 else max(opts.count // 4, 1)
            times = {"lemu": [], "qemu": []}
            for _ in range(opts.runs):
                times["lemu"].append(bench_once(opts.lemu_img, image, args,
                                                count))
                if not lemu_only:
                    times["qemu"].append(bench_once(opts.qemu_img, image,
                                                    args, count))
            row = ["%-30s" % label]
            iops = {}
            for who in ("lemu", "qemu"):
                if times[who]:
                    t = statistics.median(times[who])
                    iops[who] = count / t
                    row.append("%12.0f %9.1f" % (iops[who],
                                                 iops[who] * size / 1e6))
                else:
                    row.append("%12s %9s" % ("n/a", "n/a"))
            row.append("%7.2f" % (iops["lemu"] / iops["qemu"])
                       if "qemu" in iops else "%7s" % "-")
            print(" ".join(row), flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
