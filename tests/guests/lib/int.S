/*
 * Interrupt entry stubs: one 16-byte stub per vector, at int_stubs + 16 *
 * vector. Each pushes a dummy error code where the CPU pushes none, then
 * the vector, and jumps to the common path, which saves the registers
 * into a struct int_frame and calls interrupt_dispatch(frame).
 */
#include "asm-defs.h"

/* Vectors for which the CPU pushes an error code. */
#define HAS_ERROR(v) ((v) == 8 || ((v) >= 10 && (v) <= 14) || (v) == 17 || \
                      (v) == 21 || (v) == 29 || (v) == 30)

    .section .text
    .balign 16
    .globl int_stubs
int_stubs:
    .set vec, 0
    .rept 256
    .balign 16
    .if HAS_ERROR(vec)
    .else
    push $0
    .endif
    push $vec
    jmp int_common
    .set vec, vec + 1
    .endr

#ifdef __x86_64__
int_common:
    push %rax
    push %rbx
    push %rcx
    push %rdx
    push %rsi
    push %rdi
    push %rbp
    push %r8
    push %r9
    push %r10
    push %r11
    push %r12
    push %r13
    push %r14
    push %r15
    cld
    mov %rsp, %rdi
    call interrupt_dispatch
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %r11
    pop %r10
    pop %r9
    pop %r8
    pop %rbp
    pop %rdi
    pop %rsi
    pop %rdx
    pop %rcx
    pop %rbx
    pop %rax
    add $16, %rsp
    iretq
#else
int_common:
    pusha
    push %ds
    push %es
    push %fs
    push %gs
    mov $SEL_KDATA, %eax
    mov %eax, %ds
    mov %eax, %es
    cld
    push %esp
    call interrupt_dispatch
    add $4, %esp
    pop %gs
    pop %fs
    pop %es
    pop %ds
    popa
    add $8, %esp
    iret
#endif
