/*
 * Multiboot header and 32-bit entry of the protected-mode guests. The
 * loader enters with EAX = multiboot magic, EBX = the multiboot info,
 * flat 32-bit segments and paging off (multiboot spec, 3.2); everything
 * else (GDT, IDT, stack) is ours to set up.
 */
#include "asm-defs.h"

#define MB_FLAGS 0x00000003        /* page-align modules, memory info */

    .section .multiboot, "a"
    .balign 4
    .long 0x1badb002, MB_FLAGS, -(0x1badb002 + MB_FLAGS)

    .section .text.entry, "ax"
    .code32
    .globl _start
_start:
    cli
    cld
    mov %eax, %esi
    mov %ebx, %ebp
    lgdt gdt_desc
    ljmp $SEL_KCODE32, $1f
1:  mov $SEL_KDATA, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %fs
    mov %eax, %gs
    mov %eax, %ss
    /* The loader zeroes .bss too, but do not rely on it. */
    mov $__bss_start, %edi
    mov $__bss_end, %ecx
    sub %edi, %ecx
    xor %eax, %eax
    rep stosb
    mov $stack_top, %esp
    push %ebp                      /* mbi */
    push %esi                      /* magic */
    call guest_start
2:  cli
    hlt
    jmp 2b

    .section .bss
    .balign 16
    .globl stack_bottom, stack_top
stack_bottom:
    .skip STACK_SIZE
stack_top:
