#!/usr/bin/env python3
"""Kernels written by someone else, booted directly under lemu and under
qemu-system-x86_64 with the same accelerator, and compared:

- Debian's Xen hypervisor: a multiboot ELF (no firmware, so with Xen's own
  no-real-mode option);
- Debian's memtest86+: a bzImage, through the Linux boot protocol.

Under KVM (ForeignKernels): where the kernel runs on (a real VT-x/AMD-V
host), both VMMs must show the same milestone on the serial port (Xen's
panic without a dom0, memtest's banner). Where the host's KVM cannot
emulate an instruction the kernel uses (this project's build hosts), both
must stop at the same instruction with the same code bytes and control
registers; for Xen, whose entry path is the same under both, with the same
general-purpose registers too. (QEMU enters a bzImage through its firmware
and the 16-bit setup code, lemu through the 64-bit entry, so scratch
registers differ there.)

Under lemu's interpreter (ForeignKernelsInterp), which needs no /dev/kvm:
lemu -accel interp and QEMU -accel tcg must both reach the milestone, the
same one. These use less memory (128 MiB) than the KVM runs, because the
firmware and memtest's start-up touch all of it and an interpreter pays
for every access."""
import os
import re
import select
import shutil
import subprocess
import time
import unittest

import lemutest

LEMU = os.environ.get("LEMU", "build/lemu")
CACHE = os.environ.get("LEMU_CACHE") or os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "lemu")
QEMU = shutil.which("qemu-system-x86_64")
HAVE_KVM = os.access("/dev/kvm", os.R_OK | os.W_OK)
GPR = re.compile(r"^(?:R[A-Z0-9 ]{2}=[0-9a-f]{16} ?)+$", re.M)
CONTROL = re.compile(r"^CR0=.*$", re.M)
CODE = re.compile(r"^Code=.*$", re.M)


def run(cmd, milestone, timeout):
    """Runs until exit, until the serial output shows @milestone, or until
    an internal error dump is complete (QEMU pauses there instead of
    exiting). Returns (status or None, stdout, stderr)."""
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    out, err = b"", b""
    end = time.monotonic() + timeout
    open_fds = [p.stdout, p.stderr]
    while open_fds and time.monotonic() < end:
        ready, _, _ = select.select(open_fds, [], [], 0.5)
        for f in ready:
            chunk = os.read(f.fileno(), 65536)
            if not chunk:
                open_fds.remove(f)
            elif f is p.stdout:
                out += chunk
            else:
                err += chunk
        if re.search(rb"\nCode=[^\n]*\n", err) or re.search(milestone, out):
            break
    finished = not open_fds
    if p.poll() is None:
        p.kill()
    p.wait()
    p.stdout.close()
    p.stderr.close()
    return (p.returncode if finished else None,
            out.decode(errors="replace"), err.decode(errors="replace"))


def outcome(result, milestone, compare_gprs):
    """What the run came to, in terms both VMMs share."""
    status, out, err = result
    if "KVM internal error" in err:
        rip = re.search(r"RIP=([0-9a-f]{16})", err)
        code = CODE.search(err)
        return ("internal-error", rip and rip.group(1), code and code.group(0),
                tuple(CONTROL.findall(err)),
                tuple(m.group(0) for m in GPR.finditer(err)) if compare_gprs else ())
    found = re.search(milestone.decode(), out)
    return ("ran", found and found.group(0), status)


def kernel_or_skip(test, kernel):
    if not os.path.exists(kernel):
        test.skipTest("%s missing (scripts/setup fetches it)" % kernel)


XEN = os.path.join(CACHE, "xen", "xen.elf")
XEN_APPEND = "console=com1 com1=115200,8n1 no-real-mode"
XEN_MILESTONE = rb"\(XEN\) Panic on CPU \d+:\r?\n\(XEN\) [^\r\n]*\r?\n"
MEMTEST = os.path.join(CACHE, "memtest", "memtest86+x64.bin")
MEMTEST_APPEND = "console=ttyS0,115200"
# The lookahead waits for the whole version number: output comes in chunks.
MEMTEST_MILESTONE = rb"Memtest86\+ v[0-9.]+(?=[^0-9.])"


@unittest.skipUnless(HAVE_KVM, "SKIP: /dev/kvm not available")
class ForeignKernels(unittest.TestCase):
    def compare(self, kernel, append, milestone, compare_gprs):
        kernel_or_skip(self, kernel)
        common = ["-accel", "kvm", "-display", "none", "-serial", "stdio",
                  "-no-reboot", "-m", "512", "-kernel", kernel,
                  "-append", append]
        lemu = outcome(run([LEMU, *common], milestone, 120), milestone,
                       compare_gprs)
        if lemu[0] == "internal-error":
            self.assertIsNotNone(lemu[1], "lemu printed no RIP")
            self.assertIsNotNone(lemu[2], "lemu printed no code bytes")
        else:
            self.assertIsNotNone(lemu[1], "no %r under lemu" % milestone)
        if not QEMU:
            self.skipTest("qemu-system-x86_64 not installed: no comparison")
        # QEMU's firmware and option ROM run first: allow it more time.
        qemu = outcome(run([QEMU, "-monitor", "none", *common], milestone, 240),
                       milestone, compare_gprs)
        self.assertEqual(lemu, qemu)

    def test_xen_multiboot(self):
        self.compare(XEN, XEN_APPEND, XEN_MILESTONE, True)

    def test_memtest86plus_bzimage(self):
        self.compare(MEMTEST, MEMTEST_APPEND, MEMTEST_MILESTONE, False)


class ForeignKernelsInterp(unittest.TestCase):
    """The same kernels under lemu -accel interp and QEMU -accel tcg."""

    def compare(self, kernel, append, milestone):
        kernel_or_skip(self, kernel)
        common = ["-display", "none", "-serial", "stdio", "-no-reboot",
                  "-m", "128", "-kernel", kernel, "-append", append]
        status, out, err = run([LEMU, "-accel", "interp", *common],
                               milestone, 180)
        lemu = outcome((status, out, err), milestone, False)
        self.assertEqual(lemu[0], "ran", "lemu stopped with an internal "
                         "error:\n" + err)
        self.assertIsNotNone(lemu[1], "no %r under lemu -accel interp; "
                             "exit status %s, serial output:\n%s\nstderr:\n%s"
                             % (milestone, status, out[-2000:], err[-2000:]))
        if not QEMU:
            self.skipTest("qemu-system-x86_64 not installed: no comparison")
        qemu = outcome(run([QEMU, "-monitor", "none", "-accel", "tcg",
                            *common], milestone, 100), milestone, False)
        self.assertEqual(lemu, qemu)

    def test_xen_multiboot(self):
        self.compare(XEN, XEN_APPEND, XEN_MILESTONE)

    def test_memtest86plus_bzimage(self):
        self.compare(MEMTEST, MEMTEST_APPEND, MEMTEST_MILESTONE)


if __name__ == "__main__":
    lemutest.main()
