#!/usr/bin/env python3
"""A multiboot kernel written by someone else: Debian's Xen hypervisor,
booted directly (no firmware, so with Xen's own no-real-mode option) under
lemu and under qemu-system-x86_64 with the same accelerator, and compared.

Where Xen runs to its end (a real VT-x/AMD-V host), both must print Xen's
banner and the same panic (there is no dom0 kernel) and exit with the same
status under -no-reboot. Where the host's KVM cannot emulate an instruction
Xen uses (this project's build hosts), both must stop at the same
instruction with the same general-purpose registers."""
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
XEN = os.path.join(CACHE, "xen", "xen.elf")
QEMU = shutil.which("qemu-system-x86_64")
HAVE_KVM = os.access("/dev/kvm", os.R_OK | os.W_OK)
APPEND = "console=com1 com1=115200,8n1 no-real-mode"
GPR = re.compile(r"^(R[A-Z0-9 ]{2}=[0-9a-f]{16} ?)+$", re.M)


def run(cmd, timeout):
    """Runs until exit, or until an internal error dump is complete (QEMU
    pauses there instead of exiting); returns (status, stdout, stderr)."""
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
        if re.search(rb"\nCode=[^\n]*\n", err):
            break
    if p.poll() is None:
        p.kill()
    status = p.wait() if not open_fds else None
    p.wait()
    return status, out.decode(errors="replace"), err.decode(errors="replace")


def outcome(status, out, err):
    """What the run came to, in terms both VMMs share."""
    if "KVM internal error" in err:
        rip = re.search(r"RIP=([0-9a-f]{16})", err)
        return ("internal-error", rip.group(1) if rip else None,
                tuple(m.group(0) for m in GPR.finditer(err)))
    panic = re.findall(r"\(XEN\) (Panic on CPU \d+:.*\n\(XEN\) .*)", out)
    return ("ran", status, panic[:1], "Xen version" in out)


@unittest.skipUnless(HAVE_KVM, "SKIP: /dev/kvm not available")
@unittest.skipUnless(os.path.exists(XEN), "SKIP: %s missing (scripts/setup)" % XEN)
class XenMultiboot(unittest.TestCase):
    def test_same_as_qemu(self):
        common = ["-accel", "kvm", "-display", "none", "-serial", "stdio",
                  "-no-reboot", "-m", "512", "-kernel", XEN, "-append", APPEND]
        lemu = outcome(*run([LEMU, *common], 120))
        if lemu[0] == "internal-error":
            self.assertIsNotNone(lemu[1], "lemu printed no RIP")
            self.assertEqual(len(lemu[2]), 4, "lemu printed no register dump")
        else:
            self.assertTrue(lemu[3], "Xen printed no banner under lemu")
        if not QEMU:
            self.skipTest("qemu-system-x86_64 not installed: no comparison")
        # QEMU's firmware and option ROM run first: allow it more time.
        qemu = outcome(*run([QEMU, "-monitor", "none", *common], 240))
        self.assertEqual(lemu, qemu)


if __name__ == "__main__":
    lemutest.main()
