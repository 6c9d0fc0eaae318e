#!/usr/bin/env python3
"""QMP figures of lemu, beside QEMU's (same machine, same client, same run).

  - greeting: wall time from exec of the VMM to the QMP greeting on a unix
    socket (-S, a stopped pc machine), median and best of N runs;
  - round trip: query-status requests per second, one at a time, over
    one connection (median of N runs of M requests);
  - schema: time to fetch and parse query-qmp-schema.
QEMU is measured only when qemu-system-x86_64 is installed.

usage: qmp.py [--runs N] [--requests M] [--build DIR]
"""
import argparse
import os
import shutil
import socket
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def connect_fast(qc, vm):
    """Connects as soon as the socket exists (polls every 0.2 ms)."""
    deadline = time.monotonic() + 10
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(vm.qmp_path)
            break
        except OSError:
            sock.close()
            if time.monotonic() > deadline or not vm.alive():
                raise
            time.sleep(0.0002)
    client = qc.QMPClient.from_socket(sock)
    vm.clients.append(client)
    return client


def measure(qc, kind, requests):
    start = time.perf_counter()
    vm = qc.VM(kind).launch()
    try:
        client = connect_fast(qc, vm)
        greeting = time.perf_counter() - start
        client.negotiate()
        t = time.perf_counter()
        for _ in range(requests):
            client.cmd("query-status")
        rate = requests / (time.perf_counter() - t)
        t = time.perf_counter()
        schema = client.cmd("query-qmp-schema")
        schema_s = time.perf_counter() - t
    finally:
        vm.shutdown()
    return greeting, rate, schema_s, len(schema)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    args = ap.parse_args()
    os.environ["LEMU"] = os.path.join(os.path.abspath(args.build), "lemu")
    sys.path.insert(0, os.path.join(ROOT, "tests", "functional"))
    import qmp_client as qc

    kinds = ["lemu"]
    if shutil.which("qemu-system-x86_64"):
        kinds.append("qemu")
    else:
        print("qemu-system-x86_64 not installed: lemu only")
    print("%-5s %14s %14s %20s %16s" % ("", "greeting med", "greeting best",
                                       "query-status /s med", "schema (entries)"))
    for kind in kinds:
        runs = [measure(qc, kind, args.requests) for _ in range(args.runs)]
        greet = [r[0] for r in runs]
        print("%-5s %12.1f ms %12.1f ms %20.0f %10.1f ms (%d)" % (
            kind, statistics.median(greet) * 1e3, min(greet) * 1e3,
            statistics.median(r[1] for r in runs),
            statistics.median(r[2] for r in runs) * 1e3, runs[0][3]))


if __name__ == "__main__":
    main()
