/*
 * The GDT every guest runs with, in both 32-bit and 64-bit builds.
 * Selectors are in asm-defs.h. Descriptor = limit[15:0] base[23:0] access
 * flags|limit[19:16] base[31:24]; all flat (base 0, 4 GiB) except the
 * 16-bit pair, which has a 64 KiB byte-granular limit as real mode wants.
 */
#include "asm-defs.h"

    .section .data
    .balign 16
    .globl gdt, gdt_desc
gdt:
    .quad 0                        /* null */
    .quad 0x00cf9a000000ffff       /* 0x08 ring-0 code, 32-bit */
    .quad 0x00cf92000000ffff       /* 0x10 ring-0 data */
    .quad 0x00af9a000000ffff       /* 0x18 ring-0 code, 64-bit (L=1) */
    .quad 0x00cf92000000ffff       /* 0x20 ring-0 data (SYSCALL SS) */
    .quad 0x00cffa000000ffff       /* 0x28 ring-3 code, 32-bit */
    .quad 0x00cff2000000ffff       /* 0x30 ring-3 data */
    .quad 0x00affa000000ffff       /* 0x38 ring-3 code, 64-bit */
    .quad 0x00009a000000ffff       /* 0x40 ring-0 code, 16-bit, 64 KiB */
    .quad 0x000092000000ffff       /* 0x48 ring-0 data, 16-bit, 64 KiB */
    .quad 0, 0                     /* 0x50 TSS, filled by tss_init() */
gdt_end:

    .balign 8
    .word 0                        /* aligns the base field */
gdt_desc:
    .word gdt_end - gdt - 1
    .long gdt, 0                   /* 64-bit LGDT reads 8 bytes of base */
