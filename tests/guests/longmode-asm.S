/*
 * longmode: assembly helpers. rip_probe sits alone in a page so that the
 * C side can map that page at a second virtual address; syscall_entry is
 * the LSTAR target; enter_user drops to ring 3 with SYSRETQ.
 */
#include "asm-defs.h"

    .section .text.rip_probe, "ax"
    .balign 4096
    .globl rip_probe_page, rip_probe, rip_probe_read
rip_probe_page:
/* Returns its own address as RIP-relative addressing sees it. */
rip_probe:
    lea rip_probe(%rip), %rax
    ret
/* Returns rip_probe_data, loaded RIP-relatively. */
rip_probe_read:
    mov rip_probe_data(%rip), %rax
    ret
    .balign 8
rip_probe_data:
    .quad 0x0123456789abcdef
    .balign 4096

    .section .text
    .code64
    .globl syscall_entry, enter_user
/*
 * SYSCALL: RCX = user RIP, R11 = user RFLAGS, still on the user stack.
 * Switch to the kernel stack and call syscall_dispatch(nr = RAX,
 * arg = RDI, user_rip = RCX, user_rflags = R11), which ends the ring-3
 * run (longjmp) and does not come back here.
 *
 * Each ring-3 run is one round trip, SYSRETQ in and SYSCALL out: a
 * SYSRETQ after a SYSCALL raises #GP on some KVM implementations (PVM).
 */
syscall_entry:
    mov %rsp, user_rsp(%rip)
    lea syscall_stack_top(%rip), %rsp
    mov %rdi, %rsi
    mov %rax, %rdi
    mov %rcx, %rdx
    mov %r11, %rcx
    call syscall_dispatch
1:  cli
    hlt
    jmp 1b

/* void enter_user(void (*fn)(void), void *stack_top): SYSRETQ to fn in
 * ring 3 with interrupts off. */
enter_user:
    mov %rdi, %rcx
    mov $0x002, %r11
    mov %rsi, %rsp
    sysretq

    .section .bss
    .balign 16
user_rsp:
    .quad 0
    .balign 16
    .skip 4096
syscall_stack_top:
