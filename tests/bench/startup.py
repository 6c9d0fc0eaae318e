#!/usr/bin/env python3
"""Start-up time and memory overhead of lemu, beside QEMU's.

Figures, for the same tiny multiboot guest (tests/bench/first-byte.S), in
the same run:
  - start-up: wall time from exec of the VMM to the guest's first byte on
    the serial port (median and best of N runs);
  - overhead: resident memory of the VMM process with a 512 MiB guest that
    has printed its byte and idles, minus the resident part of guest RAM
    (the RAM mapping's Rss in /proc/PID/smaps).
QEMU is measured only when qemu-system-x86_64 is installed.

usage: startup.py [--runs N] [--accel kvm|interp] [--build DIR]
"""
import argparse
import os
import select
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def first_byte(cmd, timeout):
    """Runs cmd; returns (seconds to first stdout byte, Popen) or raises."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready or not os.read(proc.stdout.fileno(), 1):
        proc.kill()
        err = proc.communicate()[1].decode(errors="replace")
        raise RuntimeError("no serial byte from %s: %s" % (cmd[0], err.strip()))
    return time.perf_counter() - start, proc


def stop(proc):
    proc.kill()
    proc.communicate()


def rss_overhead(pid, ram_bytes):
    """Total Rss of pid minus the Rss of its guest RAM mapping, in KiB."""
    total = ram_rss = 0
    size = rss = 0
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            parts = line.split()
            if "-" in parts[0] and len(parts) >= 5:
                if size >= ram_bytes:
                    ram_rss = max(ram_rss, rss)
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                size, rss = hi - lo, 0
            elif parts[0] == "Rss:":
                rss = int(parts[1])
                total += rss
    if size >= ram_bytes:
        ram_rss = max(ram_rss, rss)
    return total - ram_rss, ram_rss


def measure(name, base_cmd, runs):
    kernel_cmd = base_cmd + ["-m", "64"]
    times = []
    for _ in range(runs):
        t, proc = first_byte(kernel_cmd, 60)
        stop(proc)
        times.append(t * 1000)
    t, proc = first_byte(base_cmd + ["-m", "512"], 60)
    time.sleep(0.5)
    overhead, ram = rss_overhead(proc.pid, 512 << 20)
    stop(proc)
    print("%-6s start-up to first serial byte: median %7.1f ms, best %7.1f ms"
          % (name, statistics.median(times), min(times)))
    print("%-6s memory overhead (512 MiB guest): %7.1f MiB "
          "(guest RAM resident: %.1f MiB)" % (name, overhead / 1024, ram / 1024))
    return statistics.median(times), overhead


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--accel", default="kvm")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    args = ap.parse_args()

    guest = os.path.join(args.build, "tests", "bench", "first-byte.elf")
    lemu = os.path.join(args.build, "lemu")
    for path in (guest, lemu):
        if not os.path.exists(path):
            sys.exit("startup.py: %s missing: build first (scripts/build)" % path)
    common = ["-nographic", "-no-reboot", "-kernel", guest]
    print("guest: %s, accelerator: %s, %d runs" % (guest, args.accel, args.runs))
    measure("lemu", [lemu, "-accel", args.accel] + common, args.runs)

    qemu = shutil.which("qemu-system-x86_64")
    if not qemu:
        print("qemu   not installed: no comparison")
        return
    qemu_accel = "tcg" if args.accel == "interp" else args.accel
    measure("qemu", [qemu, "-accel", qemu_accel, "-display", "none",
                     "-serial", "stdio", "-monitor", "none"] + common[1:],
            args.runs)


if __name__ == "__main__":
    main()
