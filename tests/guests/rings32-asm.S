/*
 * rings32: ring 3 in 32-bit protected mode without IRET on the way in:
 * SYSEXIT enters ring 3, SYSENTER comes back; a far call through a call
 * gate with two parameters and LRET across privilege levels; INT through
 * a DPL-3 gate and IRET back to ring 3. Selectors are in rings32.c.
 */
#include "asm-defs.h"

#define SEL_SYS_CODE  0x60          /* SYSENTER_CS: ring-0 code */
#define SEL_SYS_DATA  0x68          /* ring-0 data (SYSENTER SS) */
#define SEL_USER_CODE 0x73          /* SYSEXIT CS: ring-3 code, RPL 3 */
#define SEL_USER_DATA 0x7b          /* SYSEXIT SS: ring-3 data, RPL 3 */
#define SEL_GATE      0x80          /* call gate, DPL 3 */

#define FN(name) .globl name; .type name, @function; name:

    .section .text
    .code32

/* void enter_user_sysexit(void (*fn)(void), void *stack_top): with IF
 * set in ring 3 (STI's shadow covers SYSEXIT). */
FN(enter_user_sysexit)
    mov 4(%esp), %edx
    mov 8(%esp), %ecx
    mov $SEL_USER_DATA, %eax
    mov %eax, %ds
    mov %eax, %es
    sti
    sysexit

/*
 * SYSENTER lands here on SYSENTER_ESP with CS/SS from SYSENTER_CS. EAX 1:
 * record and SYSEXIT back to EDX with ESP = ECX; EAX 2: leave ring 3
 * (user32_done longjmps out).
 */
FN(sysenter_entry)
    mov %eax, se_seen + 0
    xor %eax, %eax
    mov %cs, %ax
    mov %eax, se_seen + 4
    mov %ss, %ax
    mov %eax, se_seen + 8
    mov %esp, se_seen + 12
    pushf
    popl se_seen + 16
    incl se_seen + 20
    cmpl $2, se_seen + 0
    je 1f
    sysexit
1:  mov $SEL_KDATA, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    call user32_done
    ud2

/* Call gate target: CPL 0 on the TSS stack, which holds EIP, CS, the two
 * parameters copied from the caller's stack, ESP and SS. */
FN(gate_entry)
    mov %esp, %eax
    mov %eax, gate_seen + 0
    mov 0(%esp), %eax
    mov %eax, gate_seen + 4         /* EIP */
    mov 4(%esp), %eax
    mov %eax, gate_seen + 8         /* CS */
    mov 8(%esp), %eax
    mov %eax, gate_seen + 12        /* parameter 1 */
    mov 12(%esp), %eax
    mov %eax, gate_seen + 16        /* parameter 2 */
    mov 16(%esp), %eax
    mov %eax, gate_seen + 20        /* ESP */
    mov 20(%esp), %eax
    mov %eax, gate_seen + 24        /* SS */
    xor %eax, %eax
    mov %cs, %ax
    mov %eax, gate_seen + 28
    lret $8

/* Ring 3, entered by SYSEXIT. */
FN(user32_main)
    xor %eax, %eax
    mov %cs, %ax
    mov %eax, user_seen + 0
    pushf
    popl user_seen + 4
    /* SYSENTER and SYSEXIT back */
    mov $1, %eax
    mov %esp, %ecx
    mov $1f, %edx
    sysenter
1:  xor %eax, %eax
    mov %cs, %ax
    mov %eax, user_seen + 8
    /* far call through the gate with two parameters */
    pushl $0x2222
    pushl $0x1111
    mov %esp, user_seen + 12
    lcall $SEL_GATE + 3, $0
    .globl user32_gate_ret
user32_gate_ret:
    mov %esp, user_seen + 16
    /* INT 0x80 through a DPL-3 gate; the handler adds 0x1000 to EAX */
    mov $0x1234, %eax
    int $0x80
    mov %eax, user_seen + 20
    xor %eax, %eax
    mov %cs, %ax
    mov %eax, user_seen + 24
    /* done */
    mov $2, %eax
    sysenter
    ud2

    .section .bss
    .balign 4
    .globl se_seen, gate_seen, user_seen
se_seen:
    .skip 6 * 4
gate_seen:
    .skip 8 * 4
user_seen:
    .skip 7 * 4

    .section .text
/* Ring 3: INT 0x81, whose gate has DPL 0. */
FN(user32_int81)
    int $0x81
    ud2
