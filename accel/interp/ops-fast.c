/*
 * Specialised handlers for hot operations whose generic handlers live in
 * other files (shifts, IMUL, NEG/NOT, MOVSXD, CMOVcc): 32/64-bit
 * register forms (and a few memory forms through interp_fast_host),
 * picked by the block builder (interp_specialise_fast). Each computes
 * exactly what the generic handler does, lazy flags included, and runs
 * on into the next instruction.
 */
#include "block.h"

#define ALWAYS_INLINE inline __attribute__((always_inline))

#define DEF(name) \
static const DecodedInsn *name(InterpCPU *cpu, const DecodedInsn *d)

static ALWAYS_INLINE uint64_t fget(InterpCPU *cpu, unsigned r, unsigned size)
{
    return size == 8 ? cpu->regs[r] : (uint32_t)cpu->regs[r];
}

static ALWAYS_INLINE void fset(InterpCPU *cpu, unsigned r, unsigned size,
                               uint64_t v)
{
    cpu->regs[r] = size == 8 ? v : (uint32_t)v;
}

/* ---- SHL/SHR/SAR r, imm8/CL (ops-shift.c's lazy flags) ---- */

enum { SH_SHL, SH_SHR, SH_SAR };

static ALWAYS_INLINE const DecodedInsn *shift_fast(InterpCPU *cpu,
                                                   const DecodedInsn *d,
                                                   int kind, unsigned size,
                                                   bool cl)
{
    unsigned s = size == 8 ? 3 : 2;
    uint64_t mask = cc_mask(s);
    uint64_t v = fget(cpu, d->rm, size);
    unsigned c = (cl ? (unsigned)cpu->regs[R_ECX] : (unsigned)d->imm) &
                 (size == 8 ? 63 : 31);
    uint64_t src, r;

    if (cl && __builtin_expect(c == 0, 0)) {
        /* No flag changes; a 32-bit destination is still written. */
        fset(cpu, d->rm, size, v);
        return insn_next(cpu, d);
    }
    switch (kind) {
    case SH_SHL:
        src = v << (c - 1);
        r = (src << 1) & mask;
        src &= mask;
        cpu->cc_op = CC_OP_SHL + s;
        break;
    case SH_SHR:
        src = v >> (c - 1);
        r = src >> 1;
        cpu->cc_op = CC_OP_SAR + s;
        break;
    default: {
        int64_t sv = size == 8 ? (int64_t)v : (int64_t)(int32_t)v;
        int64_t ss = sv >> (c - 1);

        r = (uint64_t)(ss >> 1) & mask;
        src = (uint64_t)ss & mask;
        cpu->cc_op = CC_OP_SAR + s;
        break;
    }
    }
    fset(cpu, d->rm, size, r);
    cpu->cc_dst = r;
    cpu->cc_src = src;
    return insn_next(cpu, d);
}

#define DEF_SHIFT(K, SIZE) \
DEF(shift_##K##_##SIZE##_i) { return shift_fast(cpu, d, K, SIZE, false); } \
DEF(shift_##K##_##SIZE##_cl) { return shift_fast(cpu, d, K, SIZE, true); }

DEF_SHIFT(SH_SHL, 4) DEF_SHIFT(SH_SHL, 8)
DEF_SHIFT(SH_SHR, 4) DEF_SHIFT(SH_SHR, 8)
DEF_SHIFT(SH_SAR, 4) DEF_SHIFT(SH_SAR, 8)

/* [kind][size 4/8][imm/CL] */
static const InsnHandler shift_table[3][2][2] = {
    { { shift_SH_SHL_4_i, shift_SH_SHL_4_cl },
      { shift_SH_SHL_8_i, shift_SH_SHL_8_cl } },
    { { shift_SH_SHR_4_i, shift_SH_SHR_4_cl },
      { shift_SH_SHR_8_i, shift_SH_SHR_8_cl } },
    { { shift_SH_SAR_4_i, shift_SH_SAR_4_cl },
      { shift_SH_SAR_8_i, shift_SH_SAR_8_cl } },
};

/* ---- IMUL r, r/m and IMUL r, r/m, imm (CC_OP_MUL) ---- */

static ALWAYS_INLINE void imul_commit(InterpCPU *cpu, const DecodedInsn *d,
                                      unsigned size, uint64_t a, uint64_t b)
{
    uint64_t r;
    bool ovf;

    if (size == 8) {
        int64_t p;

        ovf = __builtin_mul_overflow((int64_t)a, (int64_t)b, &p);
        r = (uint64_t)p;
    } else {
        int64_t p = (int64_t)(int32_t)a * (int32_t)b;

        ovf = p != (int32_t)p;
        r = (uint32_t)p;
    }
    cpu->regs[d->reg] = r;
    cpu->cc_dst = r;
    cpu->cc_src = ovf;
    cpu->cc_op = CC_OP_MUL + (size == 8 ? 3 : 2);
}

/* reg = reg * rm (register) */
static ALWAYS_INLINE const DecodedInsn *imul2_r(InterpCPU *cpu,
                                                const DecodedInsn *d,
                                                unsigned size)
{
    imul_commit(cpu, d, size, cpu->regs[d->reg], cpu->regs[d->rm]);
    return insn_next(cpu, d);
}

/* reg = rm (register) * imm */
static ALWAYS_INLINE const DecodedInsn *imul3_r(InterpCPU *cpu,
                                                const DecodedInsn *d,
                                                unsigned size)
{
    imul_commit(cpu, d, size, cpu->regs[d->rm], d->imm);
    return insn_next(cpu, d);
}

/* reg = reg * memory, or reg = memory * imm (@imm) */
static ALWAYS_INLINE const DecodedInsn *imul_m(InterpCPU *cpu,
                                               const DecodedInsn *d,
                                               unsigned size, bool imm,
                                               int kind)
{
    void *p;
    uint64_t v;

    if (!interp_fast_host(cpu, d, kind, size, false, &p)) {
        return interp_generic(cpu, d);
    }
    v = host_ld(p, size);
    imul_commit(cpu, d, size, imm ? d->imm : cpu->regs[d->reg], v);
    return insn_next(cpu, d);
}

DEF(imul2_r_4) { return imul2_r(cpu, d, 4); }
DEF(imul2_r_8) { return imul2_r(cpu, d, 8); }
DEF(imul3_r_4) { return imul3_r(cpu, d, 4); }
DEF(imul3_r_8) { return imul3_r(cpu, d, 8); }

#define DEF_KINDS(PFX, EXPR) \
DEF(PFX##_MK_LBD) { return EXPR(MK_LBD); } \
DEF(PFX##_MK_LBIS) { return EXPR(MK_LBIS); } \
DEF(PFX##_MK_LIS) { return EXPR(MK_LIS); } \
DEF(PFX##_MK_LG) { return EXPR(MK_LG); } \
DEF(PFX##_MK_PBD) { return EXPR(MK_PBD); } \
DEF(PFX##_MK_PBIS) { return EXPR(MK_PBIS); } \
DEF(PFX##_MK_PIS) { return EXPR(MK_PIS); } \
DEF(PFX##_MK_ANY) { return EXPR(MK_ANY); }
#define KINDS(PFX) { \
    PFX##_MK_LBD, PFX##_MK_LBIS, PFX##_MK_LIS, PFX##_MK_LG, \
    PFX##_MK_PBD, PFX##_MK_PBIS, PFX##_MK_PIS, PFX##_MK_ANY }

#define IMUL2_M4(K) imul_m(cpu, d, 4, false, K)
#define IMUL2_M8(K) imul_m(cpu, d, 8, false, K)
#define IMUL3_M4(K) imul_m(cpu, d, 4, true, K)
#define IMUL3_M8(K) imul_m(cpu, d, 8, true, K)
DEF_KINDS(imul2_m_4, IMUL2_M4)
DEF_KINDS(imul2_m_8, IMUL2_M8)
DEF_KINDS(imul3_m_4, IMUL3_M4)
DEF_KINDS(imul3_m_8, IMUL3_M8)

/* [imm][size 4/8][kind] */
static const InsnHandler imul_mem[2][2][MK_NR] = {
    { KINDS(imul2_m_4), KINDS(imul2_m_8) },
    { KINDS(imul3_m_4), KINDS(imul3_m_8) },
};

/* ---- NEG/NOT r ---- */

static ALWAYS_INLINE const DecodedInsn *neg_r(InterpCPU *cpu,
                                              const DecodedInsn *d,
                                              unsigned size)
{
    uint64_t a = fget(cpu, d->rm, size);
    uint64_t r = (0 - a) & cc_mask(size == 8 ? 3 : 2);

    cpu->regs[d->rm] = r;
    cpu->cc_dst = r;
    cpu->cc_src = a;
    cpu->cc_op = CC_OP_SUB + (size == 8 ? 3 : 2);
    return insn_next(cpu, d);
}

static ALWAYS_INLINE const DecodedInsn *not_r(InterpCPU *cpu,
                                              const DecodedInsn *d,
                                              unsigned size)
{
    fset(cpu, d->rm, size, ~cpu->regs[d->rm]);
    return insn_next(cpu, d);
}

DEF(neg_r_4) { return neg_r(cpu, d, 4); }
DEF(neg_r_8) { return neg_r(cpu, d, 8); }
DEF(not_r_4) { return not_r(cpu, d, 4); }
DEF(not_r_8) { return not_r(cpu, d, 8); }

/* ---- MOVSXD r64, r/m32 ---- */

DEF(movsxd_r)
{
    cpu->regs[d->reg] = (uint64_t)(int64_t)(int32_t)cpu->regs[d->rm];
    return insn_next(cpu, d);
}

static ALWAYS_INLINE const DecodedInsn *movsxd_m(InterpCPU *cpu,
                                                 const DecodedInsn *d,
                                                 int kind)
{
    void *p;

    if (!interp_fast_host(cpu, d, kind, 4, false, &p)) {
        return interp_generic(cpu, d);
    }
    cpu->regs[d->reg] = (uint64_t)(int64_t)(int32_t)host_ld(p, 4);
    return insn_next(cpu, d);
}

#define MOVSXD_M(K) movsxd_m(cpu, d, K)
DEF_KINDS(movsxd_m, MOVSXD_M)
static const InsnHandler movsxd_mem[MK_NR] = KINDS(movsxd_m);

/* ---- CMOVcc r, r ---- */

static ALWAYS_INLINE const DecodedInsn *cmov_r(InterpCPU *cpu,
                                               const DecodedInsn *d,
                                               unsigned size, int cc)
{
    uint64_t v = cpu->regs[d->rm];

    if (!cc_fast_test(cpu, cc)) {
        v = cpu->regs[d->reg];
    }
    fset(cpu, d->reg, size, v);
    return insn_next(cpu, d);
}

#define DEF_CMOV(CC) \
DEF(cmov_4_##CC) { return cmov_r(cpu, d, 4, CC); } \
DEF(cmov_8_##CC) { return cmov_r(cpu, d, 8, CC); }
DEF_CMOV(0) DEF_CMOV(1) DEF_CMOV(2) DEF_CMOV(3)
DEF_CMOV(4) DEF_CMOV(5) DEF_CMOV(6) DEF_CMOV(7)
DEF_CMOV(8) DEF_CMOV(9) DEF_CMOV(10) DEF_CMOV(11)
DEF_CMOV(12) DEF_CMOV(13) DEF_CMOV(14) DEF_CMOV(15)
#define CMOV_ROW(S) { \
    cmov_##S##_0, cmov_##S##_1, cmov_##S##_2, cmov_##S##_3, \
    cmov_##S##_4, cmov_##S##_5, cmov_##S##_6, cmov_##S##_7, \
    cmov_##S##_8, cmov_##S##_9, cmov_##S##_10, cmov_##S##_11, \
    cmov_##S##_12, cmov_##S##_13, cmov_##S##_14, cmov_##S##_15 }
static const InsnHandler cmov_table[2][16] = { CMOV_ROW(4), CMOV_ROW(8) };

InsnHandler interp_specialise_fast(InterpCPU *cpu, const DecodedInsn *d)
{
    bool mem = d->flags & D_MEM;
    unsigned size = d->opsize;
    bool q = size == 8;

    if ((size != 4 && size != 8) || (d->flags & D_LOCK)) {
        return NULL;
    }
    switch (d->op) {
    case OP_shl:
    case OP_shr:
    case OP_sar:
        if (mem) {
            return NULL;
        }
        if (!(d->flags & D_CL) && (d->imm & (q ? 63 : 31)) == 0) {
            return NULL;      /* no flag change: left to the generic one */
        }
        return shift_table[d->op == OP_shl ? SH_SHL : d->op == OP_shr ?
                           SH_SHR : SH_SAR][q][!!(d->flags & D_CL)];
    case OP_imul2:
        if (d->flags & D_IMM) {
            return mem ? imul_mem[1][q][interp_mem_kind(cpu, d)]
                       : q ? imul3_r_8 : imul3_r_4;
        }
        return mem ? imul_mem[0][q][interp_mem_kind(cpu, d)]
                   : q ? imul2_r_8 : imul2_r_4;
    case OP_imul3:
        return mem ? imul_mem[1][q][interp_mem_kind(cpu, d)]
                   : q ? imul3_r_8 : imul3_r_4;
    case OP_neg:
        return mem ? NULL : q ? neg_r_8 : neg_r_4;
    case OP_not:
        return mem ? NULL : q ? not_r_8 : not_r_4;
    case OP_movsxd:
        if (!q) {
            return NULL;
        }
        return mem ? movsxd_mem[interp_mem_kind(cpu, d)] : movsxd_r;
    case OP_cmovcc:
        return mem ? NULL : cmov_table[q][d->cc & 15];
    default:
        return NULL;
    }
}

/* ---- dead flags: register forms without the lazy-flags record ---- */

/*
 * The block builder's liveness pass (bc_build) runs these instead of the
 * usual handler when a later instruction of the block overwrites all six
 * arithmetic flags and nothing in between reads them or can fault. They
 * never fault themselves (register operands only).
 */
enum { NF_ADD, NF_OR, NF_AND, NF_SUB, NF_XOR, NF_NR };
enum { NF_RR, NF_GR, NF_RI };

static ALWAYS_INLINE const DecodedInsn *alu_nf(InterpCPU *cpu,
                                               const DecodedInsn *d,
                                               int op, unsigned size,
                                               int form)
{
    unsigned dst = form == NF_GR ? d->reg : d->rm;
    uint64_t a = cpu->regs[dst];
    uint64_t b = form == NF_RR ? cpu->regs[d->reg] :
                 form == NF_GR ? cpu->regs[d->rm] : d->imm;
    uint64_t r;

    switch (op) {
    case NF_ADD: r = a + b; break;
    case NF_OR:  r = a | b; break;
    case NF_AND: r = a & b; break;
    case NF_SUB: r = a - b; break;
    default:     r = a ^ b; break;
    }
    fset(cpu, dst, size, r);
    return insn_next(cpu, d);
}

#define DEF_NF_FORM(OP, SIZE, FORM) \
DEF(nf_##OP##_##SIZE##_##FORM) { return alu_nf(cpu, d, OP, SIZE, FORM); }
#define DEF_NF(OP) \
    DEF_NF_FORM(OP, 4, NF_RR) DEF_NF_FORM(OP, 4, NF_GR) \
    DEF_NF_FORM(OP, 4, NF_RI) DEF_NF_FORM(OP, 8, NF_RR) \
    DEF_NF_FORM(OP, 8, NF_GR) DEF_NF_FORM(OP, 8, NF_RI)
#define NF_ROW(OP) { \
    { nf_##OP##_4_NF_RR, nf_##OP##_4_NF_GR, nf_##OP##_4_NF_RI }, \
    { nf_##OP##_8_NF_RR, nf_##OP##_8_NF_GR, nf_##OP##_8_NF_RI } }

DEF_NF(NF_ADD) DEF_NF(NF_OR) DEF_NF(NF_AND) DEF_NF(NF_SUB) DEF_NF(NF_XOR)

static const InsnHandler alu_nf_table[NF_NR][2][3] = {
    NF_ROW(NF_ADD), NF_ROW(NF_OR), NF_ROW(NF_AND), NF_ROW(NF_SUB),
    NF_ROW(NF_XOR),
};

/* CMP/TEST whose flags nobody reads. */
DEF(skip_insn) { return insn_next(cpu, d); }

static ALWAYS_INLINE const DecodedInsn *shift_nf(InterpCPU *cpu,
                                                 const DecodedInsn *d,
                                                 int kind, unsigned size)
{
    uint64_t v = fget(cpu, d->rm, size);
    unsigned c = (unsigned)d->imm & (size == 8 ? 63 : 31);
    uint64_t r;

    switch (kind) {
    case SH_SHL: r = v << c; break;
    case SH_SHR: r = v >> c; break;
    default:
        r = size == 8 ? (uint64_t)((int64_t)v >> c)
                      : (uint64_t)((int32_t)v >> c);
        break;
    }
    fset(cpu, d->rm, size, r);
    return insn_next(cpu, d);
}

DEF(nf_shl_4) { return shift_nf(cpu, d, SH_SHL, 4); }
DEF(nf_shl_8) { return shift_nf(cpu, d, SH_SHL, 8); }
DEF(nf_shr_4) { return shift_nf(cpu, d, SH_SHR, 4); }
DEF(nf_shr_8) { return shift_nf(cpu, d, SH_SHR, 8); }
DEF(nf_sar_4) { return shift_nf(cpu, d, SH_SAR, 4); }
DEF(nf_sar_8) { return shift_nf(cpu, d, SH_SAR, 8); }

static const InsnHandler shift_nf_table[3][2] = {
    { nf_shl_4, nf_shl_8 }, { nf_shr_4, nf_shr_8 }, { nf_sar_4, nf_sar_8 },
};

/* IMUL r, r and IMUL r, r, imm */
DEF(nf_imul2_4) { fset(cpu, d->reg, 4, cpu->regs[d->reg] * cpu->regs[d->rm]);
                  return insn_next(cpu, d); }
DEF(nf_imul2_8) { cpu->regs[d->reg] *= cpu->regs[d->rm];
                  return insn_next(cpu, d); }
DEF(nf_imul3_4) { fset(cpu, d->reg, 4, cpu->regs[d->rm] * d->imm);
                  return insn_next(cpu, d); }
DEF(nf_imul3_8) { cpu->regs[d->reg] = cpu->regs[d->rm] * d->imm;
                  return insn_next(cpu, d); }

int interp_flags_effect(const DecodedInsn *d)
{
    bool mem = d->flags & D_MEM;

    if (d->flags & D_LOCK) {
        return FX_OTHER;
    }
    switch (d->op) {
    case OP_add: case OP_or: case OP_and: case OP_sub: case OP_xor:
    case OP_cmp: case OP_test: case OP_neg:
        return mem ? FX_OTHER : FX_KILL;
    case OP_shl: case OP_shr: case OP_sar:
        if (mem || (d->flags & D_CL) ||
            (d->imm & (d->opsize == 8 ? 63 : 31)) == 0) {
            return FX_OTHER;
        }
        return FX_KILL;
    case OP_imul2: case OP_imul3:
        return mem ? FX_OTHER : FX_KILL;
    case OP_mov: case OP_movzx8: case OP_movzx16: case OP_movsx8:
    case OP_movsx16: case OP_movsxd: case OP_not: case OP_bswap:
        return mem ? FX_OTHER : FX_NONE;
    case OP_lea: case OP_nop:
        return FX_NONE;
    default:
        return FX_OTHER;
    }
}

InsnHandler interp_noflags_handler(InterpCPU *cpu, const DecodedInsn *d)
{
    unsigned size = d->opsize;
    bool q = size == 8;
    int op, form;

    if (d->flags & (D_MEM | D_LOCK)) {
        return NULL;
    }
    if (d->op == OP_cmp || d->op == OP_test) {
        return skip_insn;
    }
    if (size != 4 && size != 8) {
        return NULL;
    }
    switch (d->op) {
    case OP_add: op = NF_ADD; break;
    case OP_or:  op = NF_OR; break;
    case OP_and: op = NF_AND; break;
    case OP_sub: op = NF_SUB; break;
    case OP_xor: op = NF_XOR; break;
    case OP_shl: case OP_shr: case OP_sar:
        if (d->flags & D_CL) {
            return NULL;
        }
        return shift_nf_table[d->op == OP_shl ? SH_SHL : d->op == OP_shr ?
                              SH_SHR : SH_SAR][q];
    case OP_imul2:
        if (d->flags & D_IMM) {
            return q ? nf_imul3_8 : nf_imul3_4;
        }
        return q ? nf_imul2_8 : nf_imul2_4;
    case OP_imul3:
        return q ? nf_imul3_8 : nf_imul3_4;
    default:
        return NULL;
    }
    if (d->flags & D_REG_DST) {
        if (d->flags & D_IMM) {
            return NULL;
        }
        form = NF_GR;
    } else {
        form = (d->flags & D_IMM) ? NF_RI : NF_RR;
    }
    return alu_nf_table[op][q][form];
}
