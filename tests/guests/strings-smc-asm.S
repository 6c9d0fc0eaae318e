/*
 * strings-smc: code that strings-smc.c modifies while it runs, each piece
 * in a page of its own so that writing one leaves the others alone.
 */
#define FN(name) .globl name; .type name, @function; name:

    .code64

    /* Returns the 32-bit immediate at smc_imm + 1. */
    .section .text.smc_imm, "ax"
    .balign 4096
FN(smc_imm)
    mov $0x11111111, %eax
    ret
    .balign 4096

    /* Writes 0x42 into the immediate of the next instruction, then runs
     * it: returns 0x42 whatever the byte held before. */
    .section .text.smc_next, "ax"
    .balign 4096
FN(smc_next)
    xor %eax, %eax
    movb $0x42, smc_next_imm(%rip)
smc_next_insn:
    mov $0x00, %al
    ret
    .globl smc_next_imm
    .set smc_next_imm, smc_next_insn + 1
    .balign 4096

    /* Returns the immediate at smc_alias + 1; strings-smc.c writes it
     * through a second mapping of this page. */
    .section .text.smc_alias, "ax"
    .balign 4096
    .globl smc_alias_page
smc_alias_page:
FN(smc_alias)
    mov $0x33333333, %eax
    ret
    .balign 4096

    /* Two bodies that strings-smc.c copies, in turn, over one buffer. */
    .section .rodata
    .globl tmpl_a, tmpl_b, tmpl_end
tmpl_a:
    mov $0xaaaa, %eax
    ret
tmpl_b:
    mov $0xbbbb, %eax
    ret
tmpl_end:
