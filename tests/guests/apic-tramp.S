/*
 * apic: the application processor's way into long mode. The AP starts at
 * SIPI vector 0x08 (real mode, 0800:0000) in the copy the BSP made of
 * ap64_tramp_start..ap64_tramp_end, with the GDT pseudo-descriptor stored
 * by the BSP (SGDT); it enters 32-bit protected mode, then long mode with
 * the BSP's page tables (boot_pml4) and EFER bits (ap64_efer), and calls
 * ap_main() on ap64_stack_top.
 */
#include "asm-defs.h"

#define OFF(x) ((x) - ap64_tramp_start)

    .section .rodata.tramp, "a"
    .code16
    .globl ap64_tramp_start, ap64_tramp_end, ap64_tramp_gdt
ap64_tramp_start:
    cli
    cld
    mov %cs, %ax
    mov %ax, %ds
    lgdtl OFF(ap64_tramp_gdt)
    mov %cr0, %eax
    or $1, %eax                     /* CR0.PE */
    mov %eax, %cr0
    ljmpl *OFF(ap64_pm32_ptr)

    .balign 4
ap64_pm32_ptr:
    .long ap64_entry32
    .word SEL_KCODE32
    .balign 4
    .word 0
ap64_tramp_gdt:
    .word 0
    .quad 0                         /* SGDT in 64-bit mode stores 10 bytes */
ap64_tramp_end:

    .section .text
    .code32
ap64_entry32:
    mov $SEL_KDATA, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    mov %cr4, %eax
    or $0x20, %eax                  /* CR4.PAE */
    mov %eax, %cr4
    mov $boot_pml4, %eax
    mov %eax, %cr3
    mov $0xc0000080, %ecx           /* EFER: LME (and NXE) as on the BSP */
    mov ap64_efer, %eax
    xor %edx, %edx
    wrmsr
    mov %cr0, %eax
    or $0x80000001, %eax            /* PG | PE */
    mov %eax, %cr0
    ljmp $SEL_KCODE64, $ap64_entry64

    .code64
ap64_entry64:
    mov $SEL_KDATA, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    mov ap64_stack_top(%rip), %rsp
    call ap_main
1:  cli
    hlt
    jmp 1b
