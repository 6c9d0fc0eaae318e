/*
 * raw-loader: a flat real-mode binary, no multiboot. lemu loads it with
 * -device loader,file=raw.bin,addr=0x7c00,cpu-num=0 and starts the CPU in
 * real mode with CS.base + IP = 0x7c00; a BIOS loads it as a boot sector
 * to 0000:7C00, which is how QEMU runs it. It prints on COM1 and exits
 * through isa-debug-exit.
 */
#include "asm-defs.h"

#define LOAD_ADDR 0x7c00

    .section .text
    .code16
    .globl _start
_start:
    /* Whatever CS:IP we came in with, continue at 0000:7C00 + x. */
    ljmp $0, $normalised
normalised:
    cli
    cld
    xor %ax, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov $LOAD_ADDR, %sp

    /* COM1: 115200 8N1, FIFOs on */
    mov $(COM1_BASE + 1), %dx
    xor %al, %al
    out %al, %dx                    /* IER off */
    mov $(COM1_BASE + 3), %dx
    mov $0x80, %al
    out %al, %dx                    /* DLAB */
    mov $COM1_BASE, %dx
    mov $1, %al
    out %al, %dx
    mov $(COM1_BASE + 1), %dx
    xor %al, %al
    out %al, %dx
    mov $(COM1_BASE + 3), %dx
    mov $0x03, %al
    out %al, %dx
    mov $(COM1_BASE + 2), %dx
    mov $0xc7, %al
    out %al, %dx

    mov $msg_hello, %si
    call print
    smsw %ax
    test $1, %al
    jnz fail

    /* The whole image is where it should be: its last word (the boot
     * signature) at 0x7dfe and a marker in the middle. */
    cmpw $0xaa55, LOAD_ADDR + 510
    jne fail
    cmpl $0x554d454c, marker        /* "LEMU" */
    jne fail
    mov $msg_image, %si
    call print

    mov $msg_pass, %si
    call print
    mov $DEBUG_EXIT_PASS, %eax
    out %eax, $DEBUG_EXIT_PORT
    jmp halt

fail:
    mov $msg_fail, %si
    call print
    mov $DEBUG_EXIT_FAIL, %eax
    out %eax, $DEBUG_EXIT_PORT
halt:
    cli
    hlt
    jmp halt

/* Prints the string at DS:SI. */
print:
    lodsb
    test %al, %al
    jz 3f
    mov %al, %ah
    mov $(COM1_BASE + 5), %dx
2:  in %dx, %al
    test $0x20, %al
    jz 2b
    mov $COM1_BASE, %dx
    mov %ah, %al
    out %al, %dx
    jmp print
3:  ret

msg_hello:  .asciz "raw-loader: real mode at 0000:7C00, CR0.PE clear\r\n"
msg_image:  .asciz "raw-loader: all 512 bytes loaded at 0x7c00\r\n"
msg_pass:   .asciz "PASS\r\n"
msg_fail:   .asciz "FAIL: raw-loader\r\n"

marker:     .ascii "LEMU"

    .org 510
    .word 0xaa55                    /* boot sector signature */
