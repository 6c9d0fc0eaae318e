#!/usr/bin/env python3
"""Run one test guest under lemu (or QEMU) and check its serial output.

usage: run-guest.py (--lemu PATH | --qemu) [--accel kvm|interp|tcg]
                    --expect FILE [--status N] [--timeout S] -- VM-ARGS...

The VM runs with its display off, COM1 on stdout and an isa-debug-exit
device at port 0xf4; whatever it prints is compared line by line with the
expected file (see README.md for its format), and its exit status with
--status (33: the guest wrote PASS to isa-debug-exit).

Exit status: 0 pass, 1 fail, 77 skip (no /dev/kvm, no QEMU), as meson
expects.
"""

import argparse
import datetime
import os
import re
import shutil
import subprocess
import sys
import tempfile

SKIP = 77
QEMU = 'qemu-system-x86_64'
GUEST_SKIP_STATUS = 37     # the guest wrote 0x12: "cannot run here"


def skip(msg):
    print('SKIP: ' + msg)
    sys.exit(SKIP)


def utc_now():
    """The host's UTC time, without a time zone (like the guest's)."""
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def kvm_usable():
    try:
        fd = os.open('/dev/kvm', os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    os.close(fd)
    return True


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument('--lemu', metavar='PATH', help='the lemu binary')
    who.add_argument('--qemu', nargs='?', const=QEMU, metavar='PATH',
                     help='run under QEMU instead (default: %s from PATH)'
                     % QEMU)
    p.add_argument('--accel', choices=['kvm', 'interp', 'tcg'],
                   help='accelerator (default: the VM\'s own choice)')
    p.add_argument('--expect', required=True, metavar='FILE',
                   help='expected serial output')
    p.add_argument('--status', type=int, default=33,
                   help='expected exit status (default 33 = PASS)')
    p.add_argument('--timeout', type=float, default=120,
                   help='seconds before the VM is killed (default 120)')
    p.add_argument('--scratch-disk', metavar='BYTES', type=int,
                   help='create a zeroed temporary raw image of BYTES '
                   'bytes and put its path where the VM arguments say '
                   '@DISK@')
    p.add_argument('vm_args', nargs='*', help='arguments for the VM')
    return p.parse_args()


def build_command(args):
    if args.qemu:
        binary = shutil.which(args.qemu)
        if not binary:
            skip('%s not installed' % args.qemu)
        accel = args.accel
        if accel == 'interp':
            accel = 'tcg'
        cmd = [binary, '-monitor', 'none']
    else:
        binary = args.lemu
        if not os.access(binary, os.X_OK):
            print('FAIL: %s is not an executable' % binary)
            sys.exit(1)
        accel = args.accel
        cmd = [binary]
    if accel == 'kvm' and not kvm_usable():
        skip('/dev/kvm not available')
    if accel:
        cmd += ['-accel', accel]
    cmd += ['-display', 'none', '-no-reboot', '-serial', 'stdio',
            '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04']
    return cmd + args.vm_args


def load_expected(path):
    """Expected-file lines as (kind, text) pairs; see README.md."""
    rules = []
    with open(path, encoding='utf-8') as f:
        for line in f.read().splitlines():
            for kind in ('re*:', 're:', 'time:', 'lit:'):
                if line.startswith(kind):
                    rules.append((kind[:-1], line[len(kind):]))
                    break
            else:
                rules.append(('lit', line))
    return rules


def check_time(line, prefix, t_start, t_end):
    """line must be prefix, optional blanks, 'YYYY-MM-DD HH:MM' (UTC)
    within a minute of the host's clock while the VM ran."""
    if not line.startswith(prefix):
        return 'does not start with %r' % prefix
    try:
        t = datetime.datetime.strptime(line[len(prefix):].strip(),
                                       '%Y-%m-%d %H:%M')
    except ValueError:
        return 'no "YYYY-MM-DD HH:MM" time after %r' % prefix
    lo = t_start.replace(second=0, microsecond=0) - \
        datetime.timedelta(minutes=1)
    hi = t_end.replace(second=0, microsecond=0) + \
        datetime.timedelta(minutes=1)
    if not lo <= t <= hi:
        return 'guest time %s is not within a minute of the host\'s UTC ' \
               'time (%s .. %s)' % (t, t_start.strftime('%Y-%m-%d %H:%M:%S'),
                                    t_end.strftime('%Y-%m-%d %H:%M:%S'))
    return None


def compare(rules, lines, t_start, t_end, prefix_only=False):
    """Returns None when lines match rules (or, with prefix_only, when
    they match the beginning of rules), else a message."""
    i = 0
    for n, (kind, text) in enumerate(rules):
        if kind == 're*':
            pat = re.compile(text)
            while i < len(lines) and pat.fullmatch(lines[i]):
                i += 1
            continue
        if i >= len(lines):
            if prefix_only:
                return None
            return 'output ended; expected line %d: %s' % (n + 1, text)
        line = lines[i]
        if kind == 'lit':
            err = None if line == text else 'expected %r' % text
        elif kind == 're':
            err = None if re.fullmatch(text, line) else \
                'expected a match for /%s/' % text
        else:
            err = check_time(line, text, t_start, t_end)
        if err:
            return 'output line %d %r: %s' % (i + 1, line, err)
        i += 1
    if i < len(lines):
        return 'unexpected output after the expected end, line %d: %r' % \
            (i + 1, lines[i])
    return None


def main():
    args = parse_args()
    if args.scratch_disk is None:
        return run(args)
    with tempfile.TemporaryDirectory(prefix='lemu-guest-') as tmp:
        disk = os.path.join(tmp, 'disk.raw')
        with open(disk, 'wb') as f:
            f.truncate(args.scratch_disk)
        args.vm_args = [a.replace('@DISK@', disk) for a in args.vm_args]
        return run(args)


def run(args):
    rules = load_expected(args.expect)
    cmd = build_command(args)
    print('running: ' + ' '.join(cmd), flush=True)

    t_start = utc_now()
    timed_out = False
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=args.timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        timed_out = True
    t_end = utc_now()

    text = out.decode('utf-8', errors='replace').replace('\r\n', '\n')
    lines = text.replace('\r', '').split('\n')
    if lines and lines[-1] == '':
        lines.pop()

    print('---- serial output ----')
    print('\n'.join(lines))
    if err:
        print('---- stderr ----')
        print(err.decode('utf-8', errors='replace').rstrip('\n'))
    print('----', flush=True)

    # A guest that finds the CPU lacking something real hardware has (some
    # KVM implementations run no 32-bit paging) says SKIP as its last line;
    # that is a skip under KVM only, and only if all it printed before
    # matched. Under lemu's interpreter or TCG it is a bug.
    if not timed_out and proc.returncode == GUEST_SKIP_STATUS and \
            args.accel == 'kvm' and lines and lines[-1].startswith('SKIP:'):
        mismatch = compare(rules, lines[:-1], t_start, t_end,
                           prefix_only=True)
        if mismatch:
            print('FAIL: ' + mismatch)
            return 1
        print(lines[-1] + ' (the %d lines before it matched)' %
              (len(lines) - 1))
        return SKIP

    problems = []
    if timed_out:
        problems.append('timed out after %g s (a guest that wrote to '
                        'isa-debug-exit waits in HLT)' % args.timeout)
    elif proc.returncode != args.status:
        problems.append('exit status %d, expected %d' %
                        (proc.returncode, args.status))
    mismatch = compare(rules, lines, t_start, t_end)
    if mismatch:
        problems.append(mismatch)
    if problems:
        for p in problems:
            print('FAIL: ' + p)
        return 1
    print('PASS: output matches %s, exit status %d' %
          (os.path.basename(args.expect), proc.returncode))
    return 0


if __name__ == '__main__':
    sys.exit(main())
