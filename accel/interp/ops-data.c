/*
 * Data movement and flag operations: MOV MOVZX MOVSX MOVSXD LEA XCHG,
 * PUSH POP PUSHA POPA ENTER LEAVE, CBW/CWDE/CDQE CWD/CDQ/CQO, LAHF SAHF,
 * CLC STC CMC CLD STD, NOP PAUSE, XLAT, BSWAP, CMOVcc, SETcc. Every memory
 * access comes before the register or flag changes it leads to.
 */
#include "block.h"

#define ALWAYS_INLINE inline __attribute__((always_inline))

/* ---- MOV family ---- */

const DecodedInsn *op_mov(InterpCPU *cpu, const DecodedInsn *d)
{
    unsigned size = d->opsize;

    if (d->flags & D_IMM) {
        insn_write_rm(cpu, d, size, d->imm);
    } else if (d->flags & D_REG_DST) {
        insn_set_reg(cpu, d->reg, size, insn_read_rm(cpu, d, size));
    } else {
        insn_write_rm(cpu, d, size, insn_get_reg(cpu, d->reg, size));
    }
    return d + 1;
}

const DecodedInsn *op_movzx8(InterpCPU *cpu, const DecodedInsn *d)
{
    insn_set_reg(cpu, d->reg, d->opsize, insn_read_rm(cpu, d, 1));
    return d + 1;
}

const DecodedInsn *op_movzx16(InterpCPU *cpu, const DecodedInsn *d)
{
    insn_set_reg(cpu, d->reg, d->opsize, insn_read_rm(cpu, d, 2));
    return d + 1;
}

const DecodedInsn *op_movsx8(InterpCPU *cpu, const DecodedInsn *d)
{
    int64_t v = (int8_t)insn_read_rm(cpu, d, 1);

    insn_set_reg(cpu, d->reg, d->opsize, (uint64_t)v);
    return d + 1;
}

const DecodedInsn *op_movsx16(InterpCPU *cpu, const DecodedInsn *d)
{
    int64_t v = (int16_t)insn_read_rm(cpu, d, 2);

    insn_set_reg(cpu, d->reg, d->opsize, (uint64_t)v);
    return d + 1;
}

/* 63 /r in 64-bit mode: sign-extends with REX.W, else a plain move. */
const DecodedInsn *op_movsxd(InterpCPU *cpu, const DecodedInsn *d)
{
    uint64_t v;

    if (d->opsize == 8) {
        v = (uint64_t)(int64_t)(int32_t)insn_read_rm(cpu, d, 4);
    } else {
        v = insn_read_rm(cpu, d, d->opsize);
    }
    insn_set_reg(cpu, d->reg, d->opsize, v);
    return d + 1;
}

const DecodedInsn *op_lea(InterpCPU *cpu, const DecodedInsn *d)
{
    if (!(d->flags & D_MEM)) {
        interp_raise(cpu, EXCP_UD, 0);
    }
    insn_set_reg(cpu, d->reg, d->opsize, insn_ea(cpu, d));
    return d + 1;
}

/* XCHG with memory is always locked. */
const DecodedInsn *op_xchg(InterpCPU *cpu, const DecodedInsn *d)
{
    unsigned size = d->opsize;
    uint64_t r = insn_get_reg(cpu, d->reg, size);
    uint64_t old;

    if (d->flags & D_MEM) {
        uint64_t lin = interp_linear(cpu, d->seg, insn_ea(cpu, d), size,
                                     ACC_WRITE);
        void *p = interp_atomic_ptr(cpu, lin, size);

        if (p) {
            switch (size) {
            case 1:
                old = __atomic_exchange_n((uint8_t *)p, r, __ATOMIC_SEQ_CST);
                break;
            case 2:
                old = __atomic_exchange_n((uint16_t *)p, r, __ATOMIC_SEQ_CST);
                break;
            case 4:
                old = __atomic_exchange_n((uint32_t *)p, r, __ATOMIC_SEQ_CST);
                break;
            default:
                old = __atomic_exchange_n((uint64_t *)p, r, __ATOMIC_SEQ_CST);
                break;
            }
        } else {
            interp_locked_begin(cpu);
            old = interp_read(cpu, d->seg, insn_ea(cpu, d), size);
            interp_write(cpu, d->seg, insn_ea(cpu, d), size, r);
            interp_locked_end(cpu);
        }
        insn_set_reg(cpu, d->reg, size, old);
        return d + 1;
    }
    old = insn_get_reg(cpu, d->rm, size);
    insn_set_reg(cpu, d->rm, size, r);
    insn_set_reg(cpu, d->reg, size, old);
    return d + 1;
}

const DecodedInsn *op_bswap(InterpCPU *cpu, const DecodedInsn *d)
{
    switch (d->opsize) {
    case 8:
        cpu->regs[d->reg] = __builtin_bswap64(cpu->regs[d->reg]);
        break;
    case 4:
        cpu->regs[d->reg] = __builtin_bswap32((uint32_t)cpu->regs[d->reg]);
        break;
    default:
        /* Undefined for 16 bits: Intel CPUs clear the word. */
        insn_set_reg(cpu, d->reg, 2, 0);
        break;
    }
    return d + 1;
}

const DecodedInsn *op_cmovcc(InterpCPU *cpu, const DecodedInsn *d)
{
    uint64_t v = insn_read_rm(cpu, d, d->opsize);

    if (cc_fast_test(cpu, d->cc)) {
        insn_set_reg(cpu, d->reg, d->opsize, v);
    } else if (d->opsize == 4) {
        /* A 32-bit destination is zero-extended even when not moved. */
        cpu->regs[d->reg] = (uint32_t)cpu->regs[d->reg];
    }
    return d + 1;
}

const DecodedInsn *op_setcc(InterpCPU *cpu, const DecodedInsn *d)
{
    insn_write_rm(cpu, d, 1, cc_fast_test(cpu, d->cc));
    return d + 1;
}

const DecodedInsn *op_xlat(InterpCPU *cpu, const DecodedInsn *d)
{
    uint64_t ea = (cpu->regs[R_EBX] + (uint8_t)cpu->regs[R_EAX]) &
                  insn_size_mask(d->addrsize);
    uint64_t v = interp_read(cpu, d->seg, ea, 1);

    insn_set_reg(cpu, R_EAX, 1, v);
    return d + 1;
}

/* ---- sign extension of the accumulator ---- */

const DecodedInsn *op_cbw(InterpCPU *cpu, const DecodedInsn *d)
{
    uint64_t a = cpu->regs[R_EAX];

    switch (d->opsize) {
    case 2:
        insn_set_reg(cpu, R_EAX, 2, (uint64_t)(int64_t)(int8_t)a);
        break;
    case 4:
        insn_set_reg(cpu, R_EAX, 4, (uint64_t)(int64_t)(int16_t)a);
        break;
    default:
        cpu->regs[R_EAX] = (uint64_t)(int64_t)(int32_t)a;
        break;
    }
    return d + 1;
}

const DecodedInsn *op_cwd(InterpCPU *cpu, const DecodedInsn *d)
{
    uint64_t a = cpu->regs[R_EAX];

    switch (d->opsize) {
    case 2:
        insn_set_reg(cpu, R_EDX, 2, (int16_t)a < 0 ? 0xffff : 0);
        break;
    case 4:
        insn_set_reg(cpu, R_EDX, 4, (int32_t)a < 0 ? 0xffffffff : 0);
        break;
    default:
        cpu->regs[R_EDX] = (int64_t)a < 0 ? ~0ULL : 0;
        break;
    }
    return d + 1;
}

/* ---- flags ---- */

const DecodedInsn *op_lahf(InterpCPU *cpu, const DecodedInsn *d)
{
    uint64_t f = interp_compute_oszapc(cpu);
    uint64_t ah = (f & (RFLAGS_SF | RFLAGS_ZF | RFLAGS_AF | RFLAGS_PF |
                        RFLAGS_CF)) | RFLAGS_FIXED;

    insn_set_reg(cpu, REG8_AH, 1, ah);
    return d + 1;
}

const DecodedInsn *op_sahf(InterpCPU *cpu, const DecodedInsn *d)
{
    uint64_t ah = (uint8_t)(cpu->regs[R_EAX] >> 8);

    interp_set_rflags(cpu, ah, RFLAGS_SF | RFLAGS_ZF | RFLAGS_AF |
                      RFLAGS_PF | RFLAGS_CF);
    return d + 1;
}

static void set_cf(InterpCPU *cpu, bool cf)
{
    uint64_t f = interp_compute_oszapc(cpu) & ~RFLAGS_CF;

    cpu->cc_src = f | (cf ? RFLAGS_CF : 0);
    cpu->cc_op = CC_OP_EFLAGS;
}

const DecodedInsn *op_clc(InterpCPU *cpu, const DecodedInsn *d)
{
    set_cf(cpu, false);
    return d + 1;
}

const DecodedInsn *op_stc(InterpCPU *cpu, const DecodedInsn *d)
{
    set_cf(cpu, true);
    return d + 1;
}

const DecodedInsn *op_cmc(InterpCPU *cpu, const DecodedInsn *d)
{
    set_cf(cpu, !interp_compute_cf(cpu));
    return d + 1;
}

const DecodedInsn *op_cld(InterpCPU *cpu, const DecodedInsn *d)
{
    cpu->df = 1;
    cpu->rflags &= ~RFLAGS_DF;
    return d + 1;
}

const DecodedInsn *op_std(InterpCPU *cpu, const DecodedInsn *d)
{
    cpu->df = (uint32_t)-1;
    cpu->rflags |= RFLAGS_DF;
    return d + 1;
}

const DecodedInsn *op_nop(InterpCPU *cpu, const DecodedInsn *d)
{
    return d + 1;
}

const DecodedInsn *op_pause(InterpCPU *cpu, const DecodedInsn *d)
{
    return d + 1;
}

/* ---- the stack ---- */

const DecodedInsn *op_push(InterpCPU *cpu, const DecodedInsn *d)
{
    uint64_t v = (d->flags & D_IMM) ? d->imm
                                    : insn_read_rm(cpu, d, d->opsize);

    interp_push(cpu, v, d->opsize);
    return d + 1;
}

/* POP r/m: a memory destination addressed through RSP sees RSP after the
 * increment. */
const DecodedInsn *op_pop(InterpCPU *cpu, const DecodedInsn *d)
{
    unsigned size = d->opsize;
    uint64_t mask = interp_sp_mask(cpu);
    uint64_t sp = cpu->regs[R_ESP] & mask;
    uint64_t v = interp_read(cpu, SEG_SS, sp, size);

    if (d->flags & D_MEM) {
        uint64_t old = cpu->regs[R_ESP];
        uint64_t ea;

        interp_set_sp(cpu, sp + size);
        ea = insn_ea(cpu, d);
        cpu->regs[R_ESP] = old;
        interp_write(cpu, d->seg, ea, size, v);
        interp_set_sp(cpu, sp + size);
    } else {
        interp_set_sp(cpu, sp + size);
        insn_set_reg(cpu, d->rm, size, v);
    }
    return d + 1;
}

const DecodedInsn *op_pusha(InterpCPU *cpu, const DecodedInsn *d)
{
    unsigned size = d->opsize;
    uint64_t mask = interp_sp_mask(cpu);
    uint64_t sp = cpu->regs[R_ESP];

    /* EAX, ECX, EDX, EBX, the original ESP, EBP, ESI, EDI */
    for (unsigned r = R_EAX; r <= R_EDI; r++) {
        sp -= size;
        interp_write(cpu, SEG_SS, sp & mask, size,
                     insn_get_reg(cpu, r, size));
    }
    interp_set_sp(cpu, sp);
    return d + 1;
}

const DecodedInsn *op_popa(InterpCPU *cpu, const DecodedInsn *d)
{
    unsigned size = d->opsize;
    uint64_t mask = interp_sp_mask(cpu);
    uint64_t sp = cpu->regs[R_ESP];
    uint64_t v[8];

    for (int r = R_EDI; r >= R_EAX; r--) {
        v[r] = interp_read(cpu, SEG_SS, sp & mask, size);
        sp += size;
    }
    for (unsigned r = R_EAX; r <= R_EDI; r++) {
        if (r != R_ESP) {
            insn_set_reg(cpu, r, size, v[r]);
        }
    }
    interp_set_sp(cpu, sp);
    return d + 1;
}

/* ENTER imm16, imm8: imm = frame size, imm2 = nesting level. */
const DecodedInsn *op_enter(InterpCPU *cpu, const DecodedInsn *d)
{
    unsigned size = d->opsize;
    unsigned level = d->imm2 & 31;
    uint64_t mask = interp_sp_mask(cpu);
    uint64_t sp = cpu->regs[R_ESP];
    uint64_t bp = cpu->regs[R_EBP];
    uint64_t frame;

    sp -= size;
    interp_write(cpu, SEG_SS, sp & mask, size, bp);
    frame = sp;
    if (level > 0) {
        for (unsigned i = 1; i < level; i++) {
            uint64_t v;

            bp -= size;
            v = interp_read(cpu, SEG_SS, bp & mask, size);
            sp -= size;
            interp_write(cpu, SEG_SS, sp & mask, size, v);
        }
        sp -= size;
        interp_write(cpu, SEG_SS, sp & mask, size, frame);
    }
    sp -= d->imm & 0xffff;
    /* The new top of stack must be writable (Intel CPUs check it, with
     * the fault of a write there). */
    interp_probe_access(cpu, interp_linear(cpu, SEG_SS, sp & mask, size,
                                           ACC_WRITE), size, ACC_WRITE);
    /* BP, EBP or RBP by the operand size (66 ENTER in 64-bit mode writes
     * BP only, as Intel CPUs do). */
    insn_set_reg(cpu, R_EBP, size, frame & mask);
    interp_set_sp(cpu, sp);
    return d + 1;
}

const DecodedInsn *op_leave(InterpCPU *cpu, const DecodedInsn *d)
{
    unsigned size = d->opsize;
    uint64_t mask = interp_sp_mask(cpu);
    uint64_t sp = cpu->regs[R_EBP] & mask;
    uint64_t v = interp_read(cpu, SEG_SS, sp, size);

    interp_set_sp(cpu, sp + size);
    insn_set_reg(cpu, R_EBP, size, v);
    return d + 1;
}

/* ---- specialised handlers ---- */

static ALWAYS_INLINE void set_r(InterpCPU *cpu, unsigned r, unsigned size,
                                uint64_t v)
{
    cpu->regs[r] = size == 8 ? v : (uint32_t)v;
}

#define DEF(name) \
static const DecodedInsn *name(InterpCPU *cpu, const DecodedInsn *d)

/* MOV, 32 and 64 bits */
DEF(mov_rr_4) { set_r(cpu, d->rm, 4, cpu->regs[d->reg]); return insn_next(cpu, d); }
DEF(mov_rr_8) { cpu->regs[d->rm] = cpu->regs[d->reg]; return insn_next(cpu, d); }
DEF(mov_gr_4) { set_r(cpu, d->reg, 4, cpu->regs[d->rm]); return insn_next(cpu, d); }
DEF(mov_gr_8) { cpu->regs[d->reg] = cpu->regs[d->rm]; return insn_next(cpu, d); }
DEF(mov_ri_4) { set_r(cpu, d->rm, 4, d->imm); return insn_next(cpu, d); }
DEF(mov_ri_8) { cpu->regs[d->rm] = d->imm; return insn_next(cpu, d); }

/* Loads and stores by operand size and address kind (block.h). */
static ALWAYS_INLINE const DecodedInsn *mov_load(InterpCPU *cpu,
                                                 const DecodedInsn *d,
                                                 unsigned size, int kind)
{
    void *p;

    if (!interp_fast_host(cpu, d, kind, size, false, &p)) {
        return interp_generic(cpu, d);
    }
    if (size >= 4) {
        cpu->regs[d->reg] = host_ld(p, size);
    } else {
        insn_set_reg(cpu, d->reg, size, host_ld(p, size));
    }
    return insn_next(cpu, d);
}

static ALWAYS_INLINE const DecodedInsn *mov_store(InterpCPU *cpu,
                                                  const DecodedInsn *d,
                                                  unsigned size, int kind,
                                                  bool imm)
{
    void *p;

    if (!interp_fast_host(cpu, d, kind, size, true, &p)) {
        return interp_generic(cpu, d);
    }
    host_st(p, size, imm ? d->imm : insn_get_reg(cpu, d->reg, size));
    return insn_next(cpu, d);
}

/* MOVZX from memory into 32/64 bits (the same: zero-extended). */
static ALWAYS_INLINE const DecodedInsn *movzx_load(InterpCPU *cpu,
                                                   const DecodedInsn *d,
                                                   unsigned size, int kind)
{
    void *p;

    if (!interp_fast_host(cpu, d, kind, size, false, &p)) {
        return interp_generic(cpu, d);
    }
    cpu->regs[d->reg] = host_ld(p, size);
    return insn_next(cpu, d);
}

#define DEF_KINDS(name, body) \
    DEF(name##_MK_LBD) { const int kind = MK_LBD; body } \
    DEF(name##_MK_LBIS) { const int kind = MK_LBIS; body } \
    DEF(name##_MK_LIS) { const int kind = MK_LIS; body } \
    DEF(name##_MK_LG) { const int kind = MK_LG; body } \
    DEF(name##_MK_PBD) { const int kind = MK_PBD; body } \
    DEF(name##_MK_PBIS) { const int kind = MK_PBIS; body } \
    DEF(name##_MK_PIS) { const int kind = MK_PIS; body } \
    DEF(name##_MK_ANY) { const int kind = MK_ANY; body }
#define KINDS(name) { name##_MK_LBD, name##_MK_LBIS, name##_MK_LIS, \
                      name##_MK_LG, name##_MK_PBD, name##_MK_PBIS, \
                      name##_MK_PIS, name##_MK_ANY }

DEF_KINDS(mov_gm_1, return mov_load(cpu, d, 1, kind);)
DEF_KINDS(mov_gm_2, return mov_load(cpu, d, 2, kind);)
DEF_KINDS(mov_gm_4, return mov_load(cpu, d, 4, kind);)
DEF_KINDS(mov_gm_8, return mov_load(cpu, d, 8, kind);)
DEF_KINDS(mov_mr_1, return mov_store(cpu, d, 1, kind, false);)
DEF_KINDS(mov_mr_2, return mov_store(cpu, d, 2, kind, false);)
DEF_KINDS(mov_mr_4, return mov_store(cpu, d, 4, kind, false);)
DEF_KINDS(mov_mr_8, return mov_store(cpu, d, 8, kind, false);)
DEF_KINDS(mov_mi_1, return mov_store(cpu, d, 1, kind, true);)
DEF_KINDS(mov_mi_2, return mov_store(cpu, d, 2, kind, true);)
DEF_KINDS(mov_mi_4, return mov_store(cpu, d, 4, kind, true);)
DEF_KINDS(mov_mi_8, return mov_store(cpu, d, 8, kind, true);)
DEF_KINDS(movzx8_m, return movzx_load(cpu, d, 1, kind);)
DEF_KINDS(movzx16_m, return movzx_load(cpu, d, 2, kind);)

static const InsnHandler mov_gm[4][MK_NR] = {
    KINDS(mov_gm_1), KINDS(mov_gm_2), KINDS(mov_gm_4), KINDS(mov_gm_8),
};
static const InsnHandler mov_mr[4][MK_NR] = {
    KINDS(mov_mr_1), KINDS(mov_mr_2), KINDS(mov_mr_4), KINDS(mov_mr_8),
};
static const InsnHandler mov_mi[4][MK_NR] = {
    KINDS(mov_mi_1), KINDS(mov_mi_2), KINDS(mov_mi_4), KINDS(mov_mi_8),
};
static const InsnHandler movzx8_m[MK_NR] = KINDS(movzx8_m);
static const InsnHandler movzx16_m[MK_NR] = KINDS(movzx16_m);

/* MOVZX from a register into 32/64 bits. */
DEF(movzx8_r) { cpu->regs[d->reg] = (uint8_t)cpu->regs[d->rm]; return insn_next(cpu, d); }
DEF(movzx16_r) { cpu->regs[d->reg] = (uint16_t)cpu->regs[d->rm]; return insn_next(cpu, d); }

/* LEA by shape: base + disp, base + index * scale + disp, index *
 * scale + disp; 64-bit result from a 64-bit address, or a 32-bit one
 * (the low half of the 64-bit sum is the 32-bit address). */
enum { LEA_BD, LEA_BIS, LEA_IS };

static ALWAYS_INLINE const DecodedInsn *lea_fast(InterpCPU *cpu,
                                                 const DecodedInsn *d,
                                                 int shape, bool q)
{
    uint64_t ea = d->disp;

    if (shape != LEA_IS) {
        ea += cpu->regs[d->base];
    }
    if (shape != LEA_BD) {
        ea += cpu->regs[d->index] << d->scale;
    }
    cpu->regs[d->reg] = q ? ea : (uint32_t)ea;
    return insn_next(cpu, d);
}

DEF(lea_bd_8) { return lea_fast(cpu, d, LEA_BD, true); }
DEF(lea_bis_8) { return lea_fast(cpu, d, LEA_BIS, true); }
DEF(lea_is_8) { return lea_fast(cpu, d, LEA_IS, true); }
DEF(lea_bd_4) { return lea_fast(cpu, d, LEA_BD, false); }
DEF(lea_bis_4) { return lea_fast(cpu, d, LEA_BIS, false); }
DEF(lea_is_4) { return lea_fast(cpu, d, LEA_IS, false); }

/* PUSH/POP with a 64-bit or 32-bit stack (@size = stack width); false
 * when the fast path does not apply. */
static ALWAYS_INLINE bool push_n(InterpCPU *cpu, uint64_t v, unsigned size)
{
    uint64_t sp = size == 8 ? cpu->regs[R_ESP] - 8
                            : (uint32_t)(cpu->regs[R_ESP] - 4);
    void *p;

    if (!interp_fast_stack(cpu, sp, size, true, &p)) {
        return false;
    }
    host_st(p, size, v);
    if (size == 8) {
        cpu->regs[R_ESP] = sp;
    } else {
        cpu->regs[R_ESP] = (cpu->regs[R_ESP] & ~0xffffffffULL) | sp;
    }
    return true;
}

static ALWAYS_INLINE bool pop_n(InterpCPU *cpu, unsigned size, uint64_t *v)
{
    uint64_t sp = size == 8 ? cpu->regs[R_ESP] : (uint32_t)cpu->regs[R_ESP];
    void *p;

    if (!interp_fast_stack(cpu, sp, size, false, &p)) {
        return false;
    }
    *v = host_ld(p, size);
    if (size == 8) {
        cpu->regs[R_ESP] = sp + 8;
    } else {
        cpu->regs[R_ESP] = (cpu->regs[R_ESP] & ~0xffffffffULL) |
                           (uint32_t)(sp + 4);
    }
    return true;
}

static ALWAYS_INLINE const DecodedInsn *push_fast(InterpCPU *cpu,
                                                  const DecodedInsn *d,
                                                  unsigned size, bool imm)
{
    if (!push_n(cpu, imm ? d->imm : cpu->regs[d->rm], size)) {
        return interp_generic(cpu, d);
    }
    return insn_next(cpu, d);
}

static ALWAYS_INLINE const DecodedInsn *pop_fast(InterpCPU *cpu,
                                                 const DecodedInsn *d,
                                                 unsigned size)
{
    uint64_t v;

    if (!pop_n(cpu, size, &v)) {
        return interp_generic(cpu, d);
    }
    cpu->regs[d->rm] = v;
    return insn_next(cpu, d);
}

DEF(push_r_8) { return push_fast(cpu, d, 8, false); }
DEF(push_r_4) { return push_fast(cpu, d, 4, false); }
DEF(push_i_8) { return push_fast(cpu, d, 8, true); }
DEF(push_i_4) { return push_fast(cpu, d, 4, true); }
DEF(pop_r_8) { return pop_fast(cpu, d, 8); }
DEF(pop_r_4) { return pop_fast(cpu, d, 4); }

InsnHandler interp_specialise_data(InterpCPU *cpu, const DecodedInsn *d)
{
    bool mem = d->flags & D_MEM;
    unsigned size = d->opsize;
    bool wide = size == 4 || size == 8;
    bool q = size == 8;

    if (d->flags & D_LOCK) {
        return NULL;
    }
    unsigned si = size ? cc_size_index(size) : 0;
    int kind = mem ? interp_mem_kind(cpu, d) : 0;

    switch (d->op) {
    case OP_mov:
        if (d->flags & D_IMM) {
            if (mem) {
                return mov_mi[si][kind];
            }
            return !wide ? NULL : q ? mov_ri_8 : mov_ri_4;
        }
        if (d->flags & D_REG_DST) {
            if (mem) {
                return mov_gm[si][kind];
            }
            return !wide ? NULL : q ? mov_gr_8 : mov_gr_4;
        }
        if (mem) {
            return mov_mr[si][kind];
        }
        return !wide ? NULL : q ? mov_rr_8 : mov_rr_4;
    case OP_movzx8:
        if (!wide) {
            return NULL;
        }
        if (mem) {
            return movzx8_m[kind];
        }
        return d->rm < REG8_AH ? movzx8_r : NULL;
    case OP_movzx16:
        if (!wide) {
            return NULL;
        }
        return mem ? movzx16_m[kind] : movzx16_r;
    case OP_lea:
        if (!mem || d->addrsize == 2 || !wide || (d->base == REG_NONE &&
                                                  d->index == REG_NONE)) {
            return NULL;
        }
        if (size == 8 && d->addrsize == 8) {
            return d->index == REG_NONE ? lea_bd_8 :
                   d->base == REG_NONE ? lea_is_8 : lea_bis_8;
        }
        return d->index == REG_NONE ? lea_bd_4 :
               d->base == REG_NONE ? lea_is_4 : lea_bis_4;
    case OP_push:
        if (mem || size != cpu->stack_bytes || !wide) {
            return NULL;
        }
        if (d->flags & D_IMM) {
            return q ? push_i_8 : push_i_4;
        }
        return q ? push_r_8 : push_r_4;
    case OP_pop:
        if (mem || size != cpu->stack_bytes || !wide) {
            return NULL;
        }
        return q ? pop_r_8 : pop_r_4;
    default:
        return NULL;
    }
}

const InterpOpEntry interp_ops_data[] = {
    { OP_mov, op_mov }, { OP_movzx8, op_movzx8 },
    { OP_movzx16, op_movzx16 }, { OP_movsx8, op_movsx8 },
    { OP_movsx16, op_movsx16 }, { OP_movsxd, op_movsxd },
    { OP_lea, op_lea }, { OP_xchg, op_xchg }, { OP_push, op_push },
    { OP_pop, op_pop }, { OP_pusha, op_pusha }, { OP_popa, op_popa },
    { OP_enter, op_enter }, { OP_leave, op_leave }, { OP_cbw, op_cbw },
    { OP_cwd, op_cwd }, { OP_lahf, op_lahf }, { OP_sahf, op_sahf },
    { OP_clc, op_clc }, { OP_stc, op_stc }, { OP_cmc, op_cmc },
    { OP_cld, op_cld }, { OP_std, op_std }, { OP_nop, op_nop },
    { OP_pause, op_pause }, { OP_xlat, op_xlat }, { OP_bswap, op_bswap },
    { OP_cmovcc, op_cmovcc }, { OP_setcc, op_setcc },
    { 0, NULL },
};
