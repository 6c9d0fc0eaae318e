/*
 * Multiboot header and entry of the long-mode guests. Multiboot starts us
 * in 32-bit protected mode; this builds 4-level page tables that identity
 * map the first 4 GiB with 2 MiB pages (user-accessible, so ring-3 tests
 * can run anywhere), enables PAE, EFER.LME (and EFER.NXE when CPUID has
 * NX), paging, and jumps to 64-bit code, which calls
 * guest_start(magic, mbi).
 */
#include "asm-defs.h"

#define MB_FLAGS 0x00000003

#define PTE_P   0x001
#define PTE_RW  0x002
#define PTE_US  0x004
#define PTE_PS  0x080

    .section .multiboot, "a"
    .balign 4
    .long 0x1badb002, MB_FLAGS, -(0x1badb002 + MB_FLAGS)

    .section .text.entry, "ax"
    .code32
    .globl _start
_start:
    cli
    cld
    mov %eax, %ebp                 /* magic */
    mov %ebx, %esi                 /* mbi */
    lgdt gdt_desc
    ljmp $SEL_KCODE32, $1f
1:  mov $SEL_KDATA, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %fs
    mov %eax, %gs
    mov %eax, %ss
    mov $__bss_start, %edi
    mov $__bss_end, %ecx
    sub %edi, %ecx
    xor %eax, %eax
    rep stosb
    mov $stack_top, %esp

    /* CPUID 0x80000001.EDX: LM is bit 29, NX bit 20. */
    mov $0x80000000, %eax
    cpuid
    cmp $0x80000001, %eax
    jb no_long_mode
    mov $0x80000001, %eax
    cpuid
    bt $29, %edx
    jnc no_long_mode
    mov %edx, %ebx

    /* PML4[0] -> PDPT; PDPT[0..3] -> four page directories. */
    movl $(boot_pdpt + PTE_P + PTE_RW + PTE_US), boot_pml4
    mov $boot_pdpt, %edi
    mov $(boot_pd + PTE_P + PTE_RW + PTE_US), %eax
    mov $4, %ecx
2:  mov %eax, (%edi)
    add $4096, %eax
    add $8, %edi
    loop 2b
    /* 2048 2 MiB pages: 0 .. 4 GiB. */
    mov $boot_pd, %edi
    mov $(PTE_P + PTE_RW + PTE_US + PTE_PS), %eax
    mov $2048, %ecx
3:  mov %eax, (%edi)
    add $0x200000, %eax
    add $8, %edi
    loop 3b

    mov $boot_pml4, %eax
    mov %eax, %cr3
    mov %cr4, %eax
    or $0x20, %eax                 /* CR4.PAE */
    mov %eax, %cr4
    mov $0xc0000080, %ecx          /* EFER */
    rdmsr
    or $0x100, %eax                /* LME */
    bt $20, %ebx
    jnc 4f
    or $0x800, %eax                /* NXE */
4:  wrmsr
    mov %cr0, %eax
    or $0x80000001, %eax           /* PG | PE */
    mov %eax, %cr0
    ljmp $SEL_KCODE64, $long_mode_entry

no_long_mode:
    mov $no_lm_msg, %esi
5:  lodsb
    test %al, %al
    jz 7f
    mov %eax, %ebx
    mov $(COM1_BASE + 5), %dx
6:  inb %dx, %al
    test $0x20, %al
    jz 6b
    mov %ebx, %eax
    mov $COM1_BASE, %dx
    outb %al, %dx
    jmp 5b
7:  mov $DEBUG_EXIT_FAIL, %eax
    outl %eax, $DEBUG_EXIT_PORT
8:  cli
    hlt
    jmp 8b

    .code64
long_mode_entry:
    mov $SEL_KDATA, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %fs
    mov %eax, %gs
    mov %eax, %ss
    mov $stack_top, %rsp
    mov %ebp, %edi                 /* magic */
    /* %esi already holds mbi, zero-extended into %rsi */
    call guest_start
9:  cli
    hlt
    jmp 9b

    .section .rodata
no_lm_msg:
    .asciz "FAIL: CPUID says no long mode\r\n"

    .section .bss
    .balign 4096
    .globl boot_pml4
boot_pml4:
    .skip 4096
boot_pdpt:
    .skip 4096
boot_pd:
    .skip 4 * 4096
    .balign 16
    .globl stack_bottom, stack_top
stack_bottom:
    .skip STACK_SIZE
stack_top:
