/*
 * smp: the application processor's way in. The AP starts at SIPI vector
 * 0x08, i.e. real mode at 0800:0000; the trampoline is copied there by the
 * BSP, which also stores the GDT pseudo-descriptor into the copy (SGDT).
 */
#include "asm-defs.h"

#define OFF(x) ((x) - ap_tramp_start)

    .section .rodata.tramp, "a"
    .code16
    .globl ap_tramp_start, ap_tramp_end, ap_tramp_gdt
ap_tramp_start:
    cli
    cld
    mov %cs, %ax
    mov %ax, %ds
    lgdtl OFF(ap_tramp_gdt)
    mov %cr0, %eax
    or $1, %eax                     /* CR0.PE */
    mov %eax, %cr0
    ljmpl *OFF(ap_pm32_ptr)

    .balign 4
ap_pm32_ptr:
    .long ap_entry32
    .word SEL_KCODE32
    .balign 4
    .word 0
ap_tramp_gdt:
    .word 0
    .long 0
ap_tramp_end:

    .section .text
    .code32
ap_entry32:
    mov $SEL_KDATA, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %fs
    mov %eax, %gs
    mov %eax, %ss
    mov ap_stack_top, %esp
    call ap_main
1:  cli
    hlt
    jmp 1b
