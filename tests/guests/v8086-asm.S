/*
 * v8086: the virtual-8086 program (copied to V86_BASE, run as segment
 * V86_SEG) and the IRET that enters it. The program stores what it sees
 * in v86_results for v8086.c to check, and ends with HLT, which always
 * raises #GP in virtual-8086 mode.
 */
#include "asm-defs.h"

#define V86_BASE 0x7000
#define V86_SEG  (V86_BASE >> 4)
#define OFF(x)   ((x) - v86_start)

    .section .rodata.v86, "a"
    .code16
    .globl v86_start, v86_end, v86_results, v86_read_super
v86_start:
    mov %cs, %ax
    mov %ax, %ds
    mov %ax, OFF(res_cs)

    /* Real-mode addressing: 0800:0010 and 0801:0000 are one byte. */
    mov $0x0800, %ax
    mov %ax, %es
    movw $0x1234, %es:0x0010
    mov $0x0801, %ax
    mov %ax, %es
    mov %es:0x0000, %bx
    mov %bx, OFF(res_seg)

    /* A service call: the handler adds 0x2222 to AX. */
    mov $0x1111, %ax
    int $0x30
    mov %ax, OFF(res_int)

    /* IF through CLI, STI, PUSHF (real or emulated by the monitor). */
    cli
    pushf
    pop %ax
    mov %ax, OFF(res_flags_cli)
    sti
    pushf
    pop %ax
    mov %ax, OFF(res_flags_sti)
    cli

    /* Port 0x80 is allowed by the I/O bitmap, 0x71 is not (#GP, which
     * the monitor skips). */
    in $0x80, %al
    in $0x71, %al
    movw $1, OFF(res_io_done)

    /* 32-bit operand in virtual-8086 mode */
    mov $0x12345678, %eax
    rol $8, %eax
    mov %eax, OFF(res_op32)
    hlt

/* A second entry: reads the supervisor page at linear 0xb000 (#PF). */
v86_read_super:
    mov $0x0b00, %ax
    mov %ax, %es
    mov %es:0x0000, %ax
    hlt

    .balign 4
v86_results:
res_cs:         .word 0
res_seg:        .word 0
res_int:        .word 0
res_flags_cli:  .word 0
res_flags_sti:  .word 0
res_io_done:    .word 0
res_op32:       .long 0
v86_end:

    .section .text
    .code32
    .globl enter_v86
/* void enter_v86(uint32_t eip, uint32_t eflags): IRET into
 * virtual-8086 mode at V86_SEG:eip with SS:SP = 0900:1000 and every data
 * segment V86_SEG - 0x100. */
enter_v86:
    mov 4(%esp), %eax
    mov 8(%esp), %ecx
    pushl $(V86_SEG - 0x100)        /* GS */
    pushl $(V86_SEG - 0x100)        /* FS */
    pushl $(V86_SEG - 0x100)        /* DS */
    pushl $(V86_SEG - 0x100)        /* ES */
    pushl $0x0900                   /* SS */
    pushl $0x1000                   /* ESP */
    push %ecx                       /* EFLAGS, VM set */
    pushl $V86_SEG                  /* CS */
    push %eax                       /* EIP */
    iret
