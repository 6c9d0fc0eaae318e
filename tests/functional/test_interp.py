#!/usr/bin/env python3
"""lemu's x86 interpreter as users meet it: -accel interp and its alias tcg,
the fallback from KVM with its one-line notice, the -d in_asm and -d int
logs, and guests that do what real hardware survives (exceptions, a triple
fault, code from unmapped memory) ending the way a PC ends them, never in a
crash. The guests are hello.elf from tests/guests and a few bytes of
real-mode code loaded with -device loader at 0000:7C00."""
import ctypes
import os
import random
import re
import select
import shutil
import subprocess
import tempfile
import time
import unittest

import lemutest

LEMU = os.environ.get("LEMU", "build/lemu")
GUESTS = os.environ.get("GUESTS", "build/tests/guests")
HELLO = os.path.join(GUESTS, "hello.elf")


# 16-bit real-mode snippets (entry at 0000:7C00, DS = 0).
def out_char(c):
    return bytes([0xBA, 0xF8, 0x03, 0xB0, ord(c), 0xEE])  # mov dx,3f8; mov al,c; out

DEBUG_EXIT_0x10 = bytes([0xBA, 0xF4, 0x00, 0xB0, 0x10, 0xEE])  # out 0xf4, 0x10
HALT_FOREVER = bytes([0xFA, 0xF4, 0xEB, 0xFD])                  # cli; hlt; jmp $-3
UD2 = bytes([0x0F, 0x0B])
# lidt [0x7c80]: the 6 bytes there are zero (limit 0), so no vector can be
# delivered: the next exception becomes #DF, then a triple fault.
LIDT_EMPTY = bytes([0x0F, 0x01, 0x1E, 0x80, 0x7C])


def ivt_entry(vector, offset):
    """mov word [vector*4], offset; mov word [vector*4+2], 0"""
    return bytes([0xC7, 0x06, vector * 4, 0x00, offset & 0xFF, offset >> 8,
                  0xC7, 0x06, vector * 4 + 2, 0x00, 0x00, 0x00])


def guest_image(code):
    assert len(code) <= 0x80
    return code.ljust(0x80, b"\xf4") + bytes(8)


# A boot sector that goes to 32-bit protected mode and takes interrupts
# from each of the userspace interrupt controllers the interpreter uses:
# the local APIC timer (T), the PIT through IOAPIC pin 2 as the MADT's
# override says (I), and the 8259 through LINT0 in ExtINT mode (E); each
# time from HLT. Any fault ends in a triple fault (no handlers).
INTERRUPTS_ASM = r"""
    .code16
    .globl start
start:
    cli
    xorw %ax, %ax
    movw %ax, %ds
    lgdtl gdtr
    movl %cr0, %eax
    orl $1, %eax
    movl %eax, %cr0
    ljmpl $0x08, $pm

    .code32
pm:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movl $0x7000, %esp
    movl $0x20, %ecx
    movl $h20, %eax
    call setgate
    movl $0x40, %ecx
    movl $h40, %eax
    call setgate
    movl $0x41, %ecx
    movl $h41, %eax
    call setgate
    lidtl idtr
    /* both 8259s masked */
    movb $0xff, %al
    outb %al, $0x21
    outb %al, $0xa1

    /* 1: the local APIC timer, one-shot, vector 0x40 */
    movl $0x1ff, 0xfee000f0         /* SVR: enabled */
    movl $0xb, 0xfee003e0           /* divide by 1 */
    movl $0x40, 0xfee00320          /* LVT timer */
    movl $1000000, 0xfee00380       /* 1 ms */
    sti
1:  hlt
    cmpl $0, count40
    je 1b
    cli
    movb $'T', %al
    call putc

    /* 2: the PIT's IRQ 0 through IOAPIC pin 2 to vector 0x41 */
    movl $0x15, 0xfec00000
    movl $0, 0xfec00010             /* destination: APIC 0 */
    movl $0x14, 0xfec00000
    movl $0x41, 0xfec00010          /* fixed, edge, unmasked */
    movb $0x34, %al                 /* channel 0, mode 2, 1 kHz */
    outb %al, $0x43
    movb $0xa9, %al
    outb %al, $0x40
    movb $0x04, %al
    outb %al, $0x40
    sti
2:  hlt
    cmpl $3, count41
    jb 2b
    cli
    movb $'I', %al
    call putc

    /* 3: the 8259 through LINT0 as ExtINT, vector 0x20 */
    movl $0x14, 0xfec00000
    movl $0x10041, 0xfec00010       /* pin 2 masked */
    movb $0x11, %al
    outb %al, $0x20
    movb $0x20, %al
    outb %al, $0x21
    movb $0x04, %al
    outb %al, $0x21
    movb $0x01, %al
    outb %al, $0x21
    movb $0xfe, %al                 /* IRQ 0 only */
    outb %al, $0x21
    movl $0x700, 0xfee00350         /* LVT LINT0: ExtINT */
    sti
3:  hlt
    cmpl $3, count20
    jb 3b
    cli
    movb $'E', %al
    call putc
    movw $0xf4, %dx
    movb $0x10, %al
    outb %al, %dx
4:  hlt
    jmp 4b

putc:
    movw $0x3f8, %dx
    outb %al, %dx
    ret

/* an interrupt gate for vector %ecx to %eax in the IDT at 0x8000 */
setgate:
    leal 0x8000(,%ecx,8), %edx
    movw %ax, (%edx)
    movw $0x08, 2(%edx)
    movw $0x8e00, 4(%edx)
    shrl $16, %eax
    movw %ax, 6(%edx)
    ret

h20:
    incl count20
    pushl %eax
    movb $0x20, %al
    outb %al, $0x20
    popl %eax
    iret
h40:
    incl count40
    movl $0, 0xfee000b0
    iret
h41:
    incl count41
    movl $0, 0xfee000b0
    iret

    .p2align 3
gdt:
    .quad 0
    .quad 0x00cf9a000000ffff
    .quad 0x00cf92000000ffff
gdtr:
    .word 23
    .long gdt
idtr:
    .word 0x42 * 8 - 1
    .long 0x8000
count20: .long 0
count40: .long 0
count41: .long 0"""


def capstone_loadable():
    try:
        ctypes.CDLL("libcapstone.so.4")
    except OSError:
        return False
    return True


class Interp(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def image(self, code):
        path = os.path.join(self.dir, "guest.bin")
        with open(path, "wb") as f:
            f.write(guest_image(code))
        return path

    def args(self, code, *extra, accel="interp"):
        return [LEMU, "-accel", accel, "-display", "none", "-m", "32",
                "-device", "loader,file=%s,addr=0x7c00,cpu-num=0" %
                self.image(code),
                "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
                "-serial", "stdio", *extra]

    def run_vm(self, code, *extra, accel="interp", timeout=60):
        return subprocess.run(self.args(code, *extra, accel=accel),
                              stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=timeout)

    def hello_args(self, *accel):
        if not os.path.exists(HELLO):
            self.skipTest("%s not built" % HELLO)
        return [LEMU, *accel, "-display", "none", "-m", "256", "-smp", "2",
                "-kernel", HELLO, "-append", "greeting=hi",
                "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
                "-no-reboot", "-serial", "stdio"]

    def assert_hello_passed(self, r):
        out = r.stdout.decode(errors="replace")
        self.assertIn("Hello from a lemu test guest", out, r.stderr)
        self.assertIn("ACPI: the MADT lists 2 enabled CPUs", out)
        self.assertTrue(out.rstrip().endswith("PASS"), out)
        self.assertEqual(r.returncode, 33, r.stderr)

    def test_interp_runs_hello(self):
        r = subprocess.run(self.hello_args("-accel", "interp"),
                           stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=120)
        self.assert_hello_passed(r)
        # An explicit choice is not announced.
        self.assertNotIn(b"accelerator:", r.stderr)

    def test_tcg_is_the_interpreter(self):
        r = self.run_vm(out_char("T") + DEBUG_EXIT_0x10, accel="tcg")
        self.assertEqual(r.stdout, b"T")
        self.assertEqual(r.returncode, 33, r.stderr)
        r = subprocess.run(self.hello_args("-machine", "pc,accel=tcg"),
                           stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=120)
        self.assert_hello_passed(r)

    def test_fallback_from_unusable_kvm(self):
        # Make /dev/kvm unusable in a private mount namespace, or use the
        # host as it is when it has none.
        if os.path.exists("/dev/kvm"):
            if os.geteuid() != 0 or not shutil.which("unshare"):
                self.skipTest("needs root and unshare to hide /dev/kvm")
            cmd = ["unshare", "-m", "sh", "-c",
                   'mount --bind /dev/null /dev/kvm && exec "$@"', "sh"]
        else:
            cmd = []
        r = subprocess.run(cmd + self.hello_args(), stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=120)
        err = r.stderr.decode(errors="replace")
        if "unshare failed" in err or "mount:" in err:
            self.skipTest("cannot make a mount namespace here: " + err)
        self.assert_hello_passed(r)
        self.assertRegex(err, r"(?m)^lemu: accelerator: interp \(kvm: .+\)$")
        self.assertEqual(err.count("\n"), 1, err)

    def test_log_in_asm(self):
        log = os.path.join(self.dir, "in_asm.log")
        r = self.run_vm(out_char("A") + DEBUG_EXIT_0x10, "-d", "in_asm",
                        "-D", log)
        self.assertEqual(r.returncode, 33, r.stderr)
        with open(log) as f:
            text = f.read()
        self.assertTrue(text.startswith("----------------\nIN: \n"), text)
        self.assertIn("\n0x0000000000007c00:  ", text)
        lines = re.findall(r"(?m)^0x[0-9a-f]{16}:  (\S+)(.*)$", text)
        self.assertTrue(lines, text)
        if not capstone_loadable():
            self.assertIn(".byte 0xba, 0xf8, 0x03", text)
            return
        mnemonics = [m for m, _ in lines]
        # AT&T syntax as QEMU logs it: movw $0x3f8, %dx / outb %al, %dx
        self.assertIn(("movw", " $0x3f8, %dx"), lines, text)
        self.assertIn("outb", mnemonics, text)

    def test_log_int_shows_the_exception(self):
        # #UD through IVT entry 6 to a handler that exits.
        handler = 0x7C40
        code = (ivt_entry(6, handler) + out_char("U") + UD2).ljust(
            0x40, b"\xf4") + out_char("H") + DEBUG_EXIT_0x10
        log = os.path.join(self.dir, "int.log")
        r = self.run_vm(code, "-d", "int", "-D", log)
        self.assertEqual(r.stdout, b"UH")
        self.assertEqual(r.returncode, 33, r.stderr)
        with open(log) as f:
            text = f.read()
        ud_ip = 0x7C00 + len(ivt_entry(6, handler)) + len(out_char("U"))
        self.assertRegex(text, r"(?m)^ *\d+: v=06 e=0000 i=0 cpl=0 "
                         r"IP=0000:%016x " % ud_ip)

    def assemble(self, source):
        """A flat binary linked at 0x7c00, or a skip without binutils."""
        if not shutil.which("as") or not shutil.which("ld"):
            self.skipTest("needs as and ld from binutils")
        src = os.path.join(self.dir, "guest.S")
        obj = os.path.join(self.dir, "guest.o")
        binary = os.path.join(self.dir, "guest-flat.bin")
        with open(src, "w") as f:
            f.write(source)
        subprocess.run(["as", "--32", "-o", obj, src], check=True)
        subprocess.run(["ld", "-m", "elf_i386", "-Ttext=0x7c00", "-e",
                        "start", "--oformat", "binary", "-o", binary, obj],
                       check=True)
        return binary

    def test_interrupt_controllers(self):
        binary = self.assemble(INTERRUPTS_ASM)
        r = subprocess.run(
            [LEMU, "-accel", "interp", "-display", "none", "-m", "32",
             "-smp", "2", "-no-reboot", "-serial", "stdio",
             "-device", "loader,file=%s,addr=0x7c00,cpu-num=0" % binary,
             "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"],
            stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
        self.assertEqual(r.stdout, b"TIE", r.stderr)
        self.assertEqual(r.returncode, 33, r.stderr)

    def test_undeliverable_exception_is_a_triple_fault(self):
        r = self.run_vm(out_char("X") + LIDT_EMPTY + UD2, "-no-reboot")
        self.assertEqual(r.stdout, b"X")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_code_from_unmapped_memory(self):
        # ljmp 0xa000:0000: the VGA hole has no RAM and reads as 0xff, which
        # does not decode (ff /7): #UD, then with no IDT a triple fault.
        code = out_char("J") + LIDT_EMPTY + bytes([0xEA, 0x00, 0x00, 0x00,
                                                   0xA0])
        r = self.run_vm(code, "-no-reboot")
        self.assertEqual(r.stdout, b"J")
        self.assertEqual(r.returncode, 0, r.stderr)

    def run_until(self, code, want):
        """Runs until the serial output has @want bytes; returns them."""
        p = subprocess.Popen(self.args(code), stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        data = b""
        end = time.time() + 60
        while len(data) < want and time.time() < end:
            ready, _, _ = select.select([p.stdout], [], [], 0.5)
            if ready:
                chunk = os.read(p.stdout.fileno(), 4096)
                if not chunk:
                    break
                data += chunk
        p.terminate()
        _, err = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 0, err)
        return data[:want]

    def test_triple_fault_resets_and_reruns(self):
        # the guest runs again from its entry point after each reset
        self.assertEqual(self.run_until(out_char("R") + LIDT_EMPTY + UD2, 3),
                         b"RRR")

    def test_reset_reloads_code(self):
        # The guest prints R, patches that instruction to print S, runs it,
        # and triple faults. A reset loads the image again behind the
        # interpreter's back: R must come back, not the translated S.
        code = (out_char("R")                                  # 7c00
                + bytes([0x80, 0x3E, 0x04, 0x7C, ord("S"),     # cmp [7c04],S
                         0x74, 0x07,                           # je 7c14
                         0xC6, 0x06, 0x04, 0x7C, ord("S"),     # mov [7c04],S
                         0xEB, 0xEC])                          # jmp 7c00
                + LIDT_EMPTY + UD2)                            # 7c14
        self.assertEqual(self.run_until(code, 6), b"RSRSRS")

    def test_garbage_in_64k_of_ram(self):
        # Jump into 64 KiB of pseudo-random bytes with an empty IVT:
        # whatever they do, the VM must end (a triple fault, a reset, an
        # isa-debug-exit write) or run on until the timeout, never crash.
        for seed in (1, 2, 3):
            garbage = os.path.join(self.dir, "garbage%d.bin" % seed)
            with open(garbage, "wb") as f:
                f.write(random.Random(seed).randbytes(0x10000))
            code = LIDT_EMPTY + bytes([0xEA, 0x00, 0x00, 0x00, 0x10])  # 1000:0
            try:
                r = self.run_vm(code, "-no-reboot", "-device",
                                "loader,file=%s,addr=0x10000" % garbage,
                                timeout=5)
            except subprocess.TimeoutExpired:
                continue    # an endless loop is a possible outcome
            self.assertGreaterEqual(r.returncode, 0, r.stderr)
            self.assertNotIn(b"interp stub", r.stderr)
            self.assertNotIn(b"internal error", r.stderr)

if __name__ == "__main__":
    lemutest.main()
