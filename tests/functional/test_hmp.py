#!/usr/bin/env python3
"""The human monitor as users meet it: -serial mon:stdio on a terminal (a
pty), where Ctrl-a c switches between the guest's console and the monitor,
and human-monitor-command (info registers, x, xp, info cpus) against a
guest that stops in a known state. Like test_qmp.py, every case runs
against lemu and, when installed, against qemu-system-x86_64."""
import os
import pty
import re
import select
import subprocess
import time
import tty
import unittest

import lemutest
from qmp_client import GUESTS, LEMU, QEMU, VM, out_char

RAW_LOADER = os.path.join(GUESTS, "raw-loader.bin")

# Real-mode echo loop at 0000:7C00: prints "R", then answers each byte B
# received on COM1 with "<" B+1 ">" (so a terminal echo cannot pass for it).
ECHO_GUEST = out_char("R") + bytes([
    0xBA, 0xFD, 0x03,       # 0: mov dx, 0x3fd
    0xEC,                   # 3: in al, dx          (LSR)
    0xA8, 0x01,             # 4: test al, 1         (data ready)
    0x74, 0xFB,             # 6: jz 3
    0xBA, 0xF8, 0x03,       # 8: mov dx, 0x3f8
    0xEC,                   # 11: in al, dx         (RBR)
    0x88, 0xC4,             # 12: mov ah, al
    0xB0, 0x3C,             # 14: mov al, '<'
    0xEE,                   # 16: out dx, al
    0x88, 0xE0,             # 17: mov al, ah
    0xFE, 0xC0,             # 19: inc al
    0xEE,                   # 21: out dx, al
    0xB0, 0x3E,             # 22: mov al, '>'
    0xEE,                   # 24: out dx, al
    0xEB, 0xE5,             # 25: jmp 0
])

BANNER = re.compile(rb"monitor - type 'help' for more information")
PROMPT = re.compile(rb"\((qemu|lemu)\) ")
CTRL_A_C = b"\x01c"


class Terminal:
    """The master side of a pty whose slave is the VM's stdin and stdout."""

    def __init__(self):
        self.master, self.slave = pty.openpty()
        tty.setraw(self.slave)
        self.data = b""

    def write(self, data):
        os.write(self.master, data)

    def expect(self, pattern, timeout=30):
        """Reads until @pattern (bytes or a compiled regex) shows up in
        what arrived since the last expect(); returns that text."""
        deadline = time.monotonic() + timeout
        while True:
            m = (pattern.search(self.data) if hasattr(pattern, "search")
                 else re.search(re.escape(pattern), self.data))
            if m:
                text, self.data = self.data[:m.end()], self.data[m.end():]
                return text
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no %r on the terminal; got %r"
                                     % (pattern, self.data))
            r, _, _ = select.select([self.master], [], [], left)
            if r:
                try:
                    self.data += os.read(self.master, 4096)
                except OSError:       # the VM closed the terminal
                    raise AssertionError("terminal closed; got %r"
                                         % self.data)

    def drain(self, wait=0.3):
        end = time.monotonic() + wait
        while time.monotonic() < end:
            r, _, _ = select.select([self.master], [], [], 0.05)
            if r:
                try:
                    self.data += os.read(self.master, 4096)
                except OSError:
                    break
        text, self.data = self.data, b""
        return text

    def close(self):
        os.close(self.master)
        os.close(self.slave)


class HmpTestBase:
    KIND = None

    def setUp(self):
        if self.KIND == "qemu" and not QEMU:
            self.skipTest("qemu-system-x86_64 is not installed")
        if self.KIND == "lemu" and not os.access(LEMU, os.X_OK):
            self.skipTest("lemu binary %s not built" % LEMU)

    def vm(self, **kw):
        vm = VM(self.KIND, **kw)
        self.addCleanup(vm.shutdown)
        return vm

    def test_serial_mon_stdio_ctrl_a_c(self):
        term = Terminal()
        self.addCleanup(term.close)
        vm = self.vm(qmp=None, serial="mon:stdio", paused=False,
                     stdin=term.slave, stdout=term.slave, guest=ECHO_GUEST)
        vm.launch()
        term.expect(b"R")
        term.write(b"a")
        term.expect(b"<b>")
        # To the monitor: the guest no longer sees what is typed.
        term.write(CTRL_A_C)
        term.expect(PROMPT)
        term.write(b"info status\r")
        text = term.expect(PROMPT)
        self.assertIn(b"VM status: running", text)
        self.assertNotIn(b"<", text)
        # Back to the console: typing reaches the guest again.
        term.write(CTRL_A_C)
        term.write(b"x")
        term.expect(b"<y>")
        self.assertEqual(term.drain(), b"")
        # The monitor again: stop the guest, then quit.
        term.write(CTRL_A_C)
        term.expect(PROMPT)
        term.write(b"stop\r")
        term.expect(PROMPT)
        term.write(b"info status\r")
        self.assertIn(b"VM status: paused", term.expect(PROMPT))
        term.write(b"quit\r")
        self.assertEqual(vm.wait(), 0, vm.stderr())

    def test_monitor_banner_on_first_switch(self):
        term = Terminal()
        self.addCleanup(term.close)
        vm = self.vm(qmp=None, serial="mon:stdio", stdin=term.slave,
                     stdout=term.slave)
        vm.launch()
        term.write(CTRL_A_C)
        text = term.expect(PROMPT)
        self.assertRegex(text, BANNER)
        term.write(b"info status\r")
        self.assertIn(b"VM status: paused (prelaunch)", term.expect(PROMPT))
        term.write(b"cont\r")
        term.expect(PROMPT)
        term.write(b"info status\r")
        self.assertIn(b"VM status: running", term.expect(PROMPT))
        term.write(b"quit\r")
        self.assertEqual(vm.wait(), 0, vm.stderr())

    # -- human-monitor-command against a guest in a known state -------

    def stopped_raw_loader(self):
        """raw-loader.bin, run until it halts after printing PASS, then
        stopped: CS=DS=SS=0, SP=0x7c00, EAX=0x10, EDX=0x3f8, real mode."""
        if not os.path.exists(RAW_LOADER):
            self.skipTest("guest %s not built" % RAW_LOADER)
        with open(RAW_LOADER, "rb") as f:
            image = f.read()
        if self.KIND == "lemu":
            args = ["-device", "loader,file=%s,addr=0x7c00,cpu-num=0"
                    % RAW_LOADER]
        else:
            args = ["-drive", "file=%s,format=raw,if=ide,snapshot=on"
                    % RAW_LOADER]
        vm = self.vm(guest=None, paused=False, serial="stdio",
                     stdout=subprocess.PIPE, args=args)
        vm.launch()
        c = vm.connect()
        out = b""
        deadline = time.monotonic() + 60
        while b"PASS\r\n" not in out and time.monotonic() < deadline:
            r, _, _ = select.select([vm.proc.stdout], [], [], 1)
            if r:
                out += os.read(vm.proc.stdout.fileno(), 4096)
        self.assertIn(b"PASS\r\n", out, vm.stderr())
        # The last byte leaves a few instructions before the halt loop.
        deadline = time.monotonic() + 30
        while (not re.search(r"\b[ER]AX=0*10\b", self.hmp(c, "info registers"))
               and time.monotonic() < deadline):
            time.sleep(0.1)
        c.cmd("stop")
        c.wait_event("STOP")
        return vm, c, image

    def hmp(self, c, line, **kw):
        return c.cmd("human-monitor-command", command_line=line, **kw)

    def test_info_registers(self):
        vm, c, image = self.stopped_raw_loader()
        text = self.hmp(c, "info registers")
        self.assertIn("CPU#0", text)
        for reg, value in (("AX", 0x10), ("DX", 0x3f8), ("SP", 0x7c00)):
            m = re.search(r"\b[ER]%s=([0-9a-f]+)\b" % reg, text)
            self.assertIsNotNone(m, reg)
            self.assertEqual(int(m.group(1), 16), value, reg)
        ip = int(re.search(r"\b[ER]IP=([0-9a-f]+)\b", text).group(1), 16)
        self.assertTrue(0x7c00 <= ip < 0x7e00, hex(ip))
        for seg in ("CS", "DS", "SS"):
            self.assertRegex(text, r"\b%s =0000 0+ " % seg)
        cr0 = int(re.search(r"\bCR0=([0-9a-f]+)\b", text).group(1), 16)
        self.assertEqual(cr0 & 1, 0)     # real mode
        self.assertEqual(self.hmp(c, "info registers", cpu_index=0), text)
        # x/i at the instruction pointer: the halt loop
        first = self.hmp(c, "x/2i $eip").splitlines()[0]
        self.assertTrue(first.startswith("0x%08x:" % ip), first)
        self.assertIn("jmp", first)

    def test_x_and_xp(self):
        vm, c, image = self.stopped_raw_loader()

        def dump(addr, data):
            lines = []
            for i in range(0, len(data), 8):
                lines.append("%016x: %s\r\n" % (addr + i, " ".join(
                    "0x%02x" % b for b in data[i:i + 8])))
            return "".join(lines)

        self.assertEqual(self.hmp(c, "xp/16xb 0x7c00"), dump(0x7c00, image[:16]))
        # real mode without paging: virtual and physical addresses agree
        self.assertEqual(self.hmp(c, "x/16xb 0x7c00"), dump(0x7c00, image[:16]))
        self.assertEqual(self.hmp(c, "xp/1xw 0x7dfc"),
                         "0000000000007dfc: 0x%08x\r\n"
                         % int.from_bytes(image[508:512], "little"))
        self.assertEqual(self.hmp(c, "x/1xg 0x7c00"),
                         "0000000000007c00: 0x%016x\r\n"
                         % int.from_bytes(image[:8], "little"))
        self.assertEqual(self.hmp(c, "xp/2dh 0x7dfc"),
                         "0000000000007dfc:     0 43605\r\n")
        lines = self.hmp(c, "x/3i 0x7c00").splitlines()
        self.assertEqual(len(lines), 3, lines)
        for line, addr, mnemonic in zip(lines, (0x7c00, 0x7c05, 0x7c06),
                                        ("jmp", "cli", "cld")):
            self.assertTrue(line.startswith("0x%08x:" % addr), line)
            self.assertIn(mnemonic, line)
        # Bad input: a message, never a crash.
        for bad in ("xp/1xb 0xffffffffffff", "x/xw", "xp/1zb 0", "x/1xb $nope"):
            with self.subTest(command=bad):
                self.assertIsInstance(self.hmp(c, bad), str)
        self.assertEqual(c.cmd("query-status")["status"], "paused")

    def test_info_cpus(self):
        vm, c, image = self.stopped_raw_loader()
        tid = c.cmd("query-cpus-fast")[0]["thread-id"]
        self.assertIn("* CPU #0: thread_id=%d" % tid, self.hmp(c, "info cpus"))


class LemuHmp(HmpTestBase, unittest.TestCase):
    KIND = "lemu"


class QemuHmp(HmpTestBase, unittest.TestCase):
    KIND = "qemu"


if __name__ == "__main__":
    lemutest.main()
