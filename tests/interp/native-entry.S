/*
 * Entry into a test sequence on the host CPU.
 *
 * difftest_native_enter() saves the callee-saved registers and the stack
 * pointer, loads RFLAGS and all sixteen general-purpose registers from
 * dt_native_in (a DtRegs: r[16], rip, rflags) and jumps to its rip. The
 * sequence always ends in an exception; native.c's signal handler copies
 * the state out of the signal frame and resumes at difftest_native_resume
 * on the saved stack, which returns to the caller.
 */
    .text
    .globl difftest_native_enter
    .hidden difftest_native_enter
    .type difftest_native_enter, @function
difftest_native_enter:
    push %rbp
    push %rbx
    push %r12
    push %r13
    push %r14
    push %r15
    sub $8, %rsp
    mov %rsp, dt_host_rsp(%rip)

    lea dt_native_in(%rip), %rax
    pushq 136(%rax)
    popfq
    /* From here on nothing may change the flags: only MOVs. */
    mov 8(%rax), %rcx
    mov 16(%rax), %rdx
    mov 24(%rax), %rbx
    mov 32(%rax), %rsp
    mov 40(%rax), %rbp
    mov 48(%rax), %rsi
    mov 56(%rax), %rdi
    mov 64(%rax), %r8
    mov 72(%rax), %r9
    mov 80(%rax), %r10
    mov 88(%rax), %r11
    mov 96(%rax), %r12
    mov 104(%rax), %r13
    mov 112(%rax), %r14
    mov 120(%rax), %r15
    mov 0(%rax), %rax
    jmp *dt_native_in+128(%rip)
    .size difftest_native_enter, .-difftest_native_enter

    .globl difftest_native_resume
    .hidden difftest_native_resume
    .type difftest_native_resume, @function
difftest_native_resume:
    mov dt_host_rsp(%rip), %rsp
    cld
    add $8, %rsp
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbx
    pop %rbp
    ret
    .size difftest_native_resume, .-difftest_native_resume

    .bss
    .balign 16
    .globl dt_native_in
    .hidden dt_native_in
dt_native_in:
    .skip 144
    .globl dt_host_rsp
    .hidden dt_host_rsp
dt_host_rsp:
    .skip 8

    .section .note.GNU-stack, "", @progbits
