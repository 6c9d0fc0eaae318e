#!/usr/bin/env python3
"""Speed of lemu's x86 interpreter beside QEMU's TCG, on the same guest.

The guest (tests/bench/mix-guest.c, built as build/tests/bench/
mix-guest.elf) is a 64-bit multiboot kernel running a CoreMark-like mix
(CRC-32, sorts, a matrix multiply, a linked list, a state machine, 64-bit
division) "iterations=N" times; it checks its own checksum and exits through
isa-debug-exit. It prints "mix: start" before the work and "mix: end"
after it: the guest time reported is the time between those two lines on
the serial port, so VMM start-up, firmware and page-table set-up are not
counted.

Both VMMs run with the same options (-m 256, one CPU, COM1 on stdout,
isa-debug-exit, -kernel, -append), alternately, several times each; the
script prints every run, the median and the ratio. QEMU is measured only
when qemu-system-x86_64 is installed. This is a benchmark, not a test.

usage: interp.py [--runs N] [--iterations N] [--accel interp|kvm]
                 [--build DIR] [--lemu PATH] [--qemu PATH | --no-qemu]
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
PASS_STATUS = 33            # the guest wrote 0x10 to isa-debug-exit


class RunError(Exception):
    pass


def timed_run(cmd, timeout):
    """Runs cmd; returns seconds between the guest's start and end
    markers. Raises RunError (with the output) when the guest fails."""
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = b""
    err = b""
    marks = {}
    deadline = time.monotonic() + timeout
    fds = [proc.stdout, proc.stderr]
    while fds:
        left = deadline - time.monotonic()
        if left <= 0:
            proc.kill()
            break
        ready, _, _ = select.select(fds, [], [], left)
        now = time.perf_counter()
        for f in ready:
            chunk = os.read(f.fileno(), 65536)
            if not chunk:
                fds.remove(f)
            elif f is proc.stdout:
                out += chunk
                for name in (b"start", b"end"):
                    if name not in marks and b"mix: %s\r\n" % name in out:
                        marks[name] = now
            else:
                err += chunk
    proc.wait()
    text = out.decode(errors="replace").replace("\r", "")
    if proc.returncode != PASS_STATUS or len(marks) != 2:
        raise RunError("%s: exit status %s, expected %d\n--- serial ---\n%s"
                       "--- stderr ---\n%s" %
                       (" ".join(cmd), proc.returncode, PASS_STATUS, text,
                        err.decode(errors="replace")))
    return marks[b"end"] - marks[b"start"], text


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3,
                    help="runs per VMM (default 3)")
    ap.add_argument("--iterations", type=int, default=3000,
                    help="guest work units (default 3000: about 3 s "
                         "under QEMU TCG on a recent x86 host)")
    ap.add_argument("--accel", default="interp",
                    help="lemu's accelerator (default interp; QEMU always "
                         "uses tcg)")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--lemu", help="lemu binary (default BUILD/lemu)")
    ap.add_argument("--qemu", default="qemu-system-x86_64",
                    help="QEMU binary (default from PATH)")
    ap.add_argument("--no-qemu", action="store_true",
                    help="measure lemu only")
    ap.add_argument("--timeout", type=float, default=600,
                    help="seconds before a run is killed (default 600)")
    args = ap.parse_args()

    guest = os.path.join(args.build, "tests", "bench", "mix-guest.elf")
    lemu = args.lemu or os.path.join(args.build, "lemu")
    for path in (guest, lemu):
        if not os.path.exists(path):
            sys.exit("interp.py: %s missing: build first (scripts/build)"
                     % path)
    qemu = None if args.no_qemu else shutil.which(args.qemu)

    common = ["-display", "none", "-serial", "stdio", "-no-reboot",
              "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
              "-m", "256", "-smp", "1", "-kernel", guest,
              "-append", "iterations=%d" % args.iterations]
    vmms = [("lemu -accel %s" % args.accel,
             [lemu, "-accel", args.accel] + common)]
    if qemu:
        vmms.append(("qemu -accel tcg",
                     [qemu, "-accel", "tcg", "-monitor", "none"] + common))

    print("guest: %s, %d iterations, %d runs per VMM" %
          (guest, args.iterations, args.runs), flush=True)
    times = {name: [] for name, _ in vmms}
    try:
        # Alternate the VMMs so that a change in host load hits both.
        for run in range(args.runs):
            for name, cmd in vmms:
                t, _ = timed_run(cmd, args.timeout)
                times[name].append(t)
                print("%-18s run %d: %8.3f s guest time" % (name, run + 1, t),
                      flush=True)
    except RunError as e:
        print("FAIL: %s" % e)
        return 1

    medians = {}
    for name, _ in vmms:
        medians[name] = statistics.median(times[name])
        print("%-18s median %8.3f s, best %8.3f s" %
              (name, medians[name], min(times[name])))
    if not qemu:
        print("qemu               %s: no comparison" %
              ("not measured" if args.no_qemu else "not installed"))
        return 0
    lemu_t, qemu_t = (medians[name] for name, _ in vmms)
    print("ratio: lemu takes %.2fx QEMU TCG's guest time "
          "(lemu runs at %.3g%% of QEMU TCG's speed)" %
          (lemu_t / qemu_t, 100.0 * qemu_t / lemu_t))
    return 0


if __name__ == "__main__":
    sys.exit(main())
