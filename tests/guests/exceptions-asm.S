/*
 * exceptions: the instructions that fault, one small function each (called
 * through catch_fault, cdecl: the argument is at 4(%esp)). The label
 * NAME_insn marks the faulting instruction, NAME_next the instruction
 * after a trap, so that exceptions.c can check the saved EIP.
 */
#include "asm-defs.h"

    .section .text
    .code32

#define FN(name) .globl name; .type name, @function; name:
#define AT(label) .globl label; label:

/* #DE: DIV by zero */
FN(de_div_zero)
    xor %edx, %edx
    mov $1, %eax
    xor %ecx, %ecx
AT(de_div_zero_insn)
    div %ecx
    ret

/* #DE: the quotient of EDX:EAX / ECX does not fit in 32 bits */
FN(de_div_overflow)
    mov $2, %edx
    xor %eax, %eax
    mov $1, %ecx
AT(de_div_overflow_insn)
    div %ecx
    ret

/* #DE: IDIV -2^31 / -1 */
FN(de_idiv_overflow)
    mov $0x80000000, %eax
    cdq
    mov $-1, %ecx
AT(de_idiv_overflow_insn)
    idiv %ecx
    ret

/* #DE: AAM with a zero base */
FN(de_aam_zero)
    mov $0x42, %eax
AT(de_aam_zero_insn)
    aam $0
    ret

/* #UD: UD2 */
FN(ud_ud2)
AT(ud_ud2_insn)
    ud2
    ret

/* #UD: LOCK on an instruction without a memory destination */
FN(ud_lock_reg)
AT(ud_lock_reg_insn)
    .byte 0xf0                     /* LOCK */
    add %eax, %eax
    ret

/* #BP: INT3 is a trap: EIP after it */
FN(bp_int3)
    int3
AT(bp_int3_next)
    ret

/* #OF: INTO with OF set traps (EIP after it); with OF clear it does
 * nothing */
FN(of_into_set)
    mov $0x7fffffff, %eax
    add $1, %eax
    into
AT(of_into_set_next)
    ret

FN(of_into_clear)
    xor %eax, %eax
    into
    ret

/* #BR: BOUND with the index above the upper bound faults (EIP at BOUND);
 * inside the bounds it does nothing. The argument is the index. */
FN(br_bound)
    mov 4(%esp), %eax
AT(br_bound_insn)
    bound %eax, bounds
    ret

    .section .data
    .balign 8
bounds:
    .long 10, 20
