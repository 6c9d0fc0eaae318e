/*
 * rings64: assembly helpers. The call gate's ring-0 side, SYSCALL and
 * SYSRET, code for compatibility mode (ring 0 and ring 3), instructions
 * that are invalid in 64-bit mode, and the STI / MOV SS shadow sequences,
 * with labels that rings64.c compares saved RIPs with.
 */
#include "asm-defs.h"

#define FN(name) .globl name; .type name, @function; name:
#define AT(label) .globl label; label:

#define SYS_REPORT 1
#define SYS_EXIT   2

    .section .text
    .code64

/*
 * The call gate's target, entered from ring 3 through the gate with the
 * ring-0 stack of the TSS: records what the far call pushed (RIP, CS,
 * RSP, SS), the CS and SS it runs with, and returns to ring 3 with LRETQ.
 */
FN(callgate_entry)
    mov (%rsp), %rax
    mov %rax, gate_pushed + 0(%rip)
    mov 8(%rsp), %rax
    mov %rax, gate_pushed + 8(%rip)
    mov 16(%rsp), %rax
    mov %rax, gate_pushed + 16(%rip)
    mov 24(%rsp), %rax
    mov %rax, gate_pushed + 24(%rip)
    xor %eax, %eax
    mov %cs, %ax
    mov %rax, gate_pushed + 32(%rip)
    mov %ss, %ax
    mov %rax, gate_pushed + 40(%rip)
    mov %rsp, gate_pushed + 48(%rip)
    lretq

/* Ring 3: a far call through the gate (the offset is ignored), then
 * reports the RSP it had before and exits. */
FN(user_callgate)
    mov %rsp, %rdi
AT(user_callgate_call)
    lcall *callgate_ptr(%rip)
AT(user_callgate_ret)
    mov $SYS_REPORT, %eax
    ud2
    mov $SYS_EXIT, %eax
    ud2

/*
 * SYSCALL from 64-bit ring 3: records RCX, R11, the RFLAGS, CS and SS the
 * LSTAR handler runs with, and returns with SYSRETQ (still on the user
 * stack, which ring 0 may use).
 */
FN(syscall_entry)
    mov %rcx, syscall_seen + 0(%rip)
    mov %r11, syscall_seen + 8(%rip)
    pushfq
    popq syscall_seen + 16(%rip)
    xor %eax, %eax
    mov %cs, %ax
    mov %rax, syscall_seen + 24(%rip)
    mov %ss, %ax
    mov %rax, syscall_seen + 32(%rip)
    sysretq

/* Ring 3: SYSCALL, then reports RFLAGS after SYSRETQ. */
FN(user_syscall)
    syscall
AT(user_syscall_next)
    pushfq
    pop %rdi
    mov $SYS_REPORT, %eax
    ud2
    mov $SYS_EXIT, %eax
    ud2

/* void enter_user_sysret32(void (*fn)(void), void *stack_top): SYSRETL to
 * fn in compatibility mode, ring 3. */
FN(enter_user_sysret32)
    mov %rdi, %rcx
    mov $0x002, %r11
    mov %rsi, %rsp
    sysretl

/*
 * void run_compat_kernel(void): far jump to 32-bit code (CS 0x08) at
 * CPL 0, which stores what it sees into compat_results and far jumps
 * back to 64-bit code.
 */
FN(run_compat_kernel)
    push %rbx
    push %rbp
    mov %rsp, compat_saved_rsp(%rip)
    ljmp *to_compat_ptr(%rip)

    .code32
compat_kernel_entry:
    /* After ring-3 runs SS may hold the null selector that 64-bit mode
     * allows at CPL 0 but compatibility mode does not: load them all. */
    mov $SEL_KDATA, %eax
    mov %eax, %ss
    mov %eax, %ds
    mov %eax, %es
    xor %eax, %eax
    mov %cs, %ax
    mov %eax, compat_results + 0
    /* PUSH is 4 bytes here */
    mov %esp, %ecx
    push %eax
    sub %esp, %ecx
    pop %eax
    mov %ecx, compat_results + 4
    /* DAA is valid again: 0x15 + 0x27 = 0x42 in BCD */
    mov $0x15, %al
    add $0x27, %al
    daa
    movzbl %al, %eax
    mov %eax, compat_results + 8
    /* EFER.LMA stays set */
    mov $0xc0000080, %ecx
    rdmsr
    mov %eax, compat_results + 12
    /* 32-bit address arithmetic wraps at 4 GiB */
    mov $0xfffffff0, %ebx
    lea 0x20(%ebx), %eax
    mov %eax, compat_results + 16
    ljmp *to_long_ptr

    .code64
compat_kernel_back:
    mov $SEL_KDATA, %eax
    mov %eax, %ss
    mov compat_saved_rsp(%rip), %rsp
    pop %rbp
    pop %rbx
    ret

/* void compat_into(void *): INTO with OF set in compatibility mode, run
 * through catch_fault (the #OF handler is 64-bit and longjmps back). */
FN(compat_into)
    ljmp *to_compat_into_ptr(%rip)
    .code32
compat_into_entry:
    mov $0x7fffffff, %eax
    add $1, %eax
    into
AT(compat_into_next)
    ud2
    .code64

/* Ring 3 in compatibility mode (CS 0x2b), entered with IRETQ: reports CS
 * and the size of a PUSH, then exits (system calls are UD2, see
 * rings64.c). */
    .code32
FN(compat_user)
    xor %edi, %edi
    mov %cs, %di
    mov $SYS_REPORT, %eax
    ud2
    mov %esp, %edi
    push %eax
    sub %esp, %edi
    pop %eax
    mov $SYS_REPORT, %eax
    ud2
    mov $SYS_EXIT, %eax
    ud2
    .code64

/* Instructions that are invalid in 64-bit mode. */
FN(invalid64_daa)
AT(invalid64_daa_insn)
    .byte 0x27
    ret
FN(invalid64_into)
AT(invalid64_into_insn)
    .byte 0xce
    ret
FN(invalid64_push_es)
AT(invalid64_push_es_insn)
    .byte 0x06
    ret
FN(invalid64_aam)
AT(invalid64_aam_insn)
    .byte 0xd4, 0x0a
    ret

/*
 * Interrupt shadows. sti_cli: with an interrupt pending, STI; CLI takes
 * none (the shadow covers the CLI). sti_nop: STI; NOP takes it after the
 * NOP, at sti_nop_after.
 */
FN(sti_cli)
    sti
    cli
    ret
FN(sti_nop)
    sti
    nop
AT(sti_nop_after)
    nop
    cli
    ret

/*
 * Single-step traps. popf_tf: POPF sets TF, and the #DB comes after the
 * instruction that follows POPF (at popf_tf_after). mov_ss_tf: the
 * instruction after POPF is MOV SS, which suppresses the trap for one
 * more instruction (at mov_ss_tf_after). The #DB handler clears TF.
 */
FN(popf_tf)
    pushfq
    orq $0x100, (%rsp)
    popfq
    nop
AT(popf_tf_after)
    nop
    ret
FN(mov_ss_tf)
    mov %ss, %eax
    pushfq
    orq $0x100, (%rsp)
    popfq
    mov %eax, %ss
    nop
AT(mov_ss_tf_after)
    nop
    ret

    .section .data
    .balign 8
    .globl callgate_ptr, gate_pushed, compat_results, syscall_seen
callgate_ptr:
    .long 0
    .word 0x60 + 3                  /* SEL_CALLGATE, RPL 3 */
to_compat_ptr:
    .long compat_kernel_entry
    .word SEL_KCODE32
to_long_ptr:
    .long compat_kernel_back
    .word SEL_KCODE64
to_compat_into_ptr:
    .long compat_into_entry
    .word SEL_KCODE32
    .balign 8
gate_pushed:
    .skip 7 * 8
compat_results:
    .skip 5 * 4
    .balign 8
syscall_seen:
    .skip 5 * 8
compat_saved_rsp:
    .quad 0
