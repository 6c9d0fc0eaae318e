/*
 * The smallest useful guest: a multiboot kernel that writes one byte to
 * COM1 and halts with interrupts off. tests/bench/startup.py times a VMM
 * from exec to this byte and measures its memory while the guest idles.
 */
#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0x00000003

    .section .multiboot, "a"
    .align 4
    .long MB_MAGIC
    .long MB_FLAGS
    .long -(MB_MAGIC + MB_FLAGS)

    .text
    .code32
    .globl _start
_start:
    movw $0x3f8, %dx
    movb $'!', %al
    outb %al, %dx
    cli
1:  hlt
    jmp 1b
