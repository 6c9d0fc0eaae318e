/*
 * Near branches: Jcc, JMP, CALL, RET (direct and indirect), LOOP/LOOPE/
 * LOOPNE/JCXZ, plus UD (#UD) and the block end marker. Relative targets
 * come resolved from the decoder (d->imm, truncated to the operand
 * size). A target beyond the CS limit, or non-canonical in 64-bit mode,
 * raises #GP(0) before anything changes.
 */
#include "block.h"

#define ALWAYS_INLINE inline __attribute__((always_inline))

const DecodedInsn *op_ud(InterpCPU *cpu, const DecodedInsn *d)
{
    interp_raise(cpu, EXCP_UD, 0);
}

const DecodedInsn *op_block_end(InterpCPU *cpu, const DecodedInsn *d)
{
    cpu->cur = d;     /* reached from a specialised handler too */
    return insn_end_block(cpu, d->rip);
}

const DecodedInsn *op_jcc(InterpCPU *cpu, const DecodedInsn *d)
{
    if (cc_fast_test(cpu, d->cc)) {
        interp_check_branch(cpu, d->imm);
        return insn_end_block(cpu, d->imm);
    }
    return insn_end_block(cpu, insn_next_rip(d));
}

const DecodedInsn *op_jmp(InterpCPU *cpu, const DecodedInsn *d)
{
    interp_check_branch(cpu, d->imm);
    return insn_end_block(cpu, d->imm);
}

const DecodedInsn *op_jmp_rm(InterpCPU *cpu, const DecodedInsn *d)
{
    uint64_t target = insn_read_rm(cpu, d, d->opsize);

    interp_check_branch(cpu, target);
    return insn_end_block(cpu, target);
}

const DecodedInsn *op_call(InterpCPU *cpu, const DecodedInsn *d)
{
    interp_check_branch(cpu, d->imm);
    interp_push(cpu, insn_next_rip(d), d->opsize);
    return insn_end_block(cpu, d->imm);
}

const DecodedInsn *op_call_rm(InterpCPU *cpu, const DecodedInsn *d)
{
    uint64_t target = insn_read_rm(cpu, d, d->opsize);

    interp_check_branch(cpu, target);
    interp_push(cpu, insn_next_rip(d), d->opsize);
    return insn_end_block(cpu, target);
}

/* RET and RET imm16 (imm: the bytes to release after the pop). */
const DecodedInsn *op_ret(InterpCPU *cpu, const DecodedInsn *d)
{
    unsigned size = d->opsize;
    uint64_t sp = cpu->regs[R_ESP] & interp_sp_mask(cpu);
    uint64_t target = interp_read(cpu, SEG_SS, sp, size);
    uint64_t release = (d->flags & D_IMM) ? (d->imm & 0xffff) : 0;

    interp_check_branch(cpu, target);
    interp_set_sp(cpu, sp + size + release);
    return insn_end_block(cpu, target);
}

/* The count register of LOOP/JCXZ, by address size. */
static ALWAYS_INLINE const DecodedInsn *loop_common(InterpCPU *cpu,
                                                    const DecodedInsn *d,
                                                    int kind)
{
    unsigned asize = d->addrsize;
    uint64_t count = (cpu->regs[R_ECX] - 1) & insn_size_mask(asize);
    bool taken = count != 0;

    if (kind == OP_loope) {
        taken = taken && cc_fast_test(cpu, CC_E);
    } else if (kind == OP_loopne) {
        taken = taken && cc_fast_test(cpu, CC_NE);
    }
    if (taken) {
        interp_check_branch(cpu, d->imm);
    }
    insn_set_reg(cpu, R_ECX, asize, count);
    return insn_end_block(cpu, taken ? d->imm : insn_next_rip(d));
}

const DecodedInsn *op_loop(InterpCPU *cpu, const DecodedInsn *d)
{
    return loop_common(cpu, d, OP_loop);
}

const DecodedInsn *op_loope(InterpCPU *cpu, const DecodedInsn *d)
{
    return loop_common(cpu, d, OP_loope);
}

const DecodedInsn *op_loopne(InterpCPU *cpu, const DecodedInsn *d)
{
    return loop_common(cpu, d, OP_loopne);
}

const DecodedInsn *op_jcxz(InterpCPU *cpu, const DecodedInsn *d)
{
    if ((cpu->regs[R_ECX] & insn_size_mask(d->addrsize)) == 0) {
        interp_check_branch(cpu, d->imm);
        return insn_end_block(cpu, d->imm);
    }
    return insn_end_block(cpu, insn_next_rip(d));
}

/* ---- specialised: targets known to be valid, flat stacks ---- */

#define DEF(name) \
static const DecodedInsn *name(InterpCPU *cpu, const DecodedInsn *d)

/* The block goes on after a Jcc not taken (the end marker chains). */
#define DEF_JCC(cc) \
DEF(jcc_##cc) \
{ \
    if (cc_fast_test(cpu, cc)) { \
        return insn_side_exit(cpu, d); \
    } \
    return insn_next(cpu, d); \
}

DEF_JCC(CC_O) DEF_JCC(CC_NO) DEF_JCC(CC_B) DEF_JCC(CC_AE)
DEF_JCC(CC_E) DEF_JCC(CC_NE) DEF_JCC(CC_BE) DEF_JCC(CC_A)
DEF_JCC(CC_S) DEF_JCC(CC_NS) DEF_JCC(CC_P) DEF_JCC(CC_NP)
DEF_JCC(CC_L) DEF_JCC(CC_GE) DEF_JCC(CC_LE) DEF_JCC(CC_G)

static const InsnHandler jcc_fast[16] = {
    jcc_CC_O, jcc_CC_NO, jcc_CC_B, jcc_CC_AE,
    jcc_CC_E, jcc_CC_NE, jcc_CC_BE, jcc_CC_A,
    jcc_CC_S, jcc_CC_NS, jcc_CC_P, jcc_CC_NP,
    jcc_CC_L, jcc_CC_GE, jcc_CC_LE, jcc_CC_G,
};

/* The end marker of a block that may chain on (its chain end). */
DEF(block_end_chain)
{
    return insn_chain(cpu, d, d->rip);
}

InsnHandler interp_block_end_chain(void)
{
    return block_end_chain;
}

DEF(jmp_fast)
{
    return insn_chain(cpu, d, d->imm);
}

DEF(loop_fast)
{
    uint64_t count = (cpu->regs[R_ECX] - 1) & insn_size_mask(d->addrsize);

    insn_set_reg(cpu, R_ECX, d->addrsize, count);
    return insn_chain(cpu, d, count ? d->imm : insn_next_rip(d));
}

/* CALL rel and RET with a 64-bit or 32-bit stack (size = stack width). */
static ALWAYS_INLINE const DecodedInsn *call_fast(InterpCPU *cpu,
                                                  const DecodedInsn *d,
                                                  unsigned size)
{
    uint64_t sp = size == 8 ? cpu->regs[R_ESP] - 8
                            : (uint32_t)(cpu->regs[R_ESP] - 4);
    void *p;

    if (!interp_fast_stack(cpu, sp, size, true, &p)) {
        cpu->cur = d;
        return op_call(cpu, d);
    }
    host_st(p, size, insn_next_rip(d));
    if (size == 8) {
        cpu->regs[R_ESP] = sp;
    } else {
        cpu->regs[R_ESP] = (cpu->regs[R_ESP] & ~0xffffffffULL) | sp;
    }
    return insn_chain(cpu, d, d->imm);
}

static ALWAYS_INLINE const DecodedInsn *ret_fast(InterpCPU *cpu,
                                                 const DecodedInsn *d,
                                                 unsigned size)
{
    uint64_t sp = size == 8 ? cpu->regs[R_ESP] : (uint32_t)cpu->regs[R_ESP];
    void *p;
    uint64_t target;

    if (!interp_fast_stack(cpu, sp, size, false, &p)) {
        cpu->cur = d;
        return op_ret(cpu, d);
    }
    target = host_ld(p, size);
    cpu->cur = d;     /* for the #GP */
    if (size == 8) {
        if (__builtin_expect(!interp_canonical(target), 0)) {
            interp_raise(cpu, EXCP_GP, 0);
        }
        cpu->regs[R_ESP] = sp + 8;
    } else {
        if (__builtin_expect(target > cpu->segs[SEG_CS].limit, 0)) {
            interp_raise(cpu, EXCP_GP, 0);
        }
        cpu->regs[R_ESP] = (cpu->regs[R_ESP] & ~0xffffffffULL) |
                           (uint32_t)(sp + 4);
    }
    return insn_chain(cpu, d, target);
}

DEF(call_8) { return call_fast(cpu, d, 8); }
DEF(call_4) { return call_fast(cpu, d, 4); }
DEF(ret_8) { return ret_fast(cpu, d, 8); }
DEF(ret_4) { return ret_fast(cpu, d, 4); }

InsnHandler interp_specialise_branch(InterpCPU *cpu, const DecodedInsn *d,
                                     bool last)
{
    switch (d->op) {
    case OP_jcc:
        return interp_branch_ok(cpu, d->imm) ? jcc_fast[d->cc & 15] : NULL;
    case OP_jmp:
        return interp_branch_ok(cpu, d->imm) ? jmp_fast : NULL;
    case OP_loop:
        return interp_branch_ok(cpu, d->imm) ? loop_fast : NULL;
    case OP_call:
        if (!interp_branch_ok(cpu, d->imm) ||
            d->opsize != cpu->stack_bytes) {
            return NULL;
        }
        return d->opsize == 8 ? call_8 : d->opsize == 4 ? call_4 : NULL;
    case OP_ret:
        if ((d->flags & D_IMM) || d->opsize != cpu->stack_bytes) {
            return NULL;
        }
        if (d->opsize == 8 && cpu->long64) {
            return ret_8;
        }
        return d->opsize == 4 && !cpu->long64 ? ret_4 : NULL;
    default:
        return NULL;
    }
}

const InterpOpEntry interp_ops_branch[] = {
    { OP_jcc, op_jcc }, { OP_jmp, op_jmp }, { OP_jmp_rm, op_jmp_rm },
    { OP_call, op_call }, { OP_call_rm, op_call_rm }, { OP_ret, op_ret },
    { OP_loop, op_loop }, { OP_loope, op_loope }, { OP_loopne, op_loopne },
    { OP_jcxz, op_jcxz }, { OP_ud, op_ud }, { OP_block_end, op_block_end },
    { 0, NULL },
};
