/*
 * Integer arithmetic and logic: ADD OR ADC SBB AND SUB XOR CMP TEST, INC
 * DEC NEG NOT, in every size and form, with LOCK. The flags are lazy
 * (cpu.h); every memory access happens before the flags or a register
 * change, so that a fault leaves the state as it was.
 *
 * Besides the generic handlers, the block builder picks specialised ones
 * for the common 32/64-bit shapes (interp_specialise_alu).
 */
#include "block.h"

enum {
    ALU_ADD, ALU_OR, ALU_ADC, ALU_SBB, ALU_AND, ALU_SUB, ALU_XOR, ALU_CMP,
    ALU_TEST, ALU_INC, ALU_DEC, ALU_NEG, ALU_NOT,
};

/* A result and what the lazy flags record about it. */
typedef struct AluResult {
    uint64_t r;
    uint64_t src;
    uint64_t src2;
    uint32_t cc_op;           /* CC_OP_NR: flags unchanged (NOT) */
} AluResult;

#define ALWAYS_INLINE inline __attribute__((always_inline))

/* @a op @b in size index @s (operands already masked); @cin is the carry
 * in for ADC/SBB, CF before for INC/DEC. */
static ALWAYS_INLINE AluResult alu_calc(int op, uint64_t a, uint64_t b,
                                        uint64_t cin, unsigned s)
{
    uint64_t m = cc_mask(s);
    AluResult res = { 0, b, 0, CC_OP_NR };

    switch (op) {
    case ALU_ADD:
        res.r = (a + b) & m;
        res.cc_op = CC_OP_ADD + s;
        break;
    case ALU_ADC:
        res.r = (a + b + cin) & m;
        res.src2 = cin;
        res.cc_op = CC_OP_ADC + s;
        break;
    case ALU_SUB:
    case ALU_CMP:
        res.r = (a - b) & m;
        res.cc_op = CC_OP_SUB + s;
        break;
    case ALU_SBB:
        res.r = (a - b - cin) & m;
        res.src2 = cin;
        res.cc_op = CC_OP_SBB + s;
        break;
    case ALU_AND:
    case ALU_TEST:
        res.r = a & b;
        res.cc_op = CC_OP_LOGIC + s;
        break;
    case ALU_OR:
        res.r = a | b;
        res.cc_op = CC_OP_LOGIC + s;
        break;
    case ALU_XOR:
        res.r = a ^ b;
        res.cc_op = CC_OP_LOGIC + s;
        break;
    case ALU_INC:
        res.r = (a + 1) & m;
        res.src = cin;
        res.cc_op = CC_OP_INC + s;
        break;
    case ALU_DEC:
        res.r = (a - 1) & m;
        res.src = cin;
        res.cc_op = CC_OP_DEC + s;
        break;
    case ALU_NEG:
        res.r = (0 - a) & m;
        res.src = a;
        res.cc_op = CC_OP_SUB + s;
        break;
    case ALU_NOT:
        res.r = ~a & m;
        break;
    }
    return res;
}

static ALWAYS_INLINE void alu_commit(InterpCPU *cpu, const AluResult *res)
{
    if (res->cc_op != CC_OP_NR) {
        cpu->cc_dst = res->r;
        cpu->cc_src = res->src;
        cpu->cc_src2 = res->src2;
        cpu->cc_op = res->cc_op;
    }
}

static ALWAYS_INLINE bool alu_writes(int op)
{
    return op != ALU_CMP && op != ALU_TEST;
}

static ALWAYS_INLINE bool alu_needs_cf(int op)
{
    return op == ALU_ADC || op == ALU_SBB || op == ALU_INC || op == ALU_DEC;
}

static ALWAYS_INLINE uint64_t ld_size(InterpCPU *cpu, uint64_t lin,
                                      unsigned size)
{
    switch (size) {
    case 1: return interp_ld8(cpu, lin);
    case 2: return interp_ld16(cpu, lin);
    case 4: return interp_ld32(cpu, lin);
    default: return interp_ld64(cpu, lin);
    }
}

static ALWAYS_INLINE void st_size(InterpCPU *cpu, uint64_t lin,
                                  unsigned size, uint64_t v)
{
    switch (size) {
    case 1: interp_st8(cpu, lin, v); break;
    case 2: interp_st16(cpu, lin, v); break;
    case 4: interp_st32(cpu, lin, v); break;
    default: interp_st64(cpu, lin, v); break;
    }
}

/*
 * The load of a read-modify-write: the page is translated for writing
 * first, so that a fault has the error code of a write, as on hardware.
 */
static ALWAYS_INLINE uint64_t rmw_load(InterpCPU *cpu, uint64_t lin,
                                       unsigned size)
{
    void *p;

    if (interp_fast_tlb(cpu, lin, size, true, &p)) {
        return host_ld(p, size);
    }
    interp_probe_write(cpu, lin, size);
    return ld_size(cpu, lin, size);
}

/* ---- LOCK: host atomics on RAM, the global lock otherwise ---- */

#define ATOMIC_RMW_TYPE(T)                                                  \
    do {                                                                    \
        T *p_ = p, old_ = __atomic_load_n(p_, __ATOMIC_RELAXED), new_;      \
        switch (op) {                                                       \
        case ALU_ADD: return __atomic_fetch_add(p_, (T)b, __ATOMIC_SEQ_CST); \
        case ALU_SUB: return __atomic_fetch_sub(p_, (T)b, __ATOMIC_SEQ_CST); \
        case ALU_AND: return __atomic_fetch_and(p_, (T)b, __ATOMIC_SEQ_CST); \
        case ALU_OR:  return __atomic_fetch_or(p_, (T)b, __ATOMIC_SEQ_CST);  \
        case ALU_XOR: return __atomic_fetch_xor(p_, (T)b, __ATOMIC_SEQ_CST); \
        case ALU_INC: return __atomic_fetch_add(p_, 1, __ATOMIC_SEQ_CST);    \
        case ALU_DEC: return __atomic_fetch_sub(p_, 1, __ATOMIC_SEQ_CST);    \
        case ALU_NOT: return __atomic_fetch_xor(p_, (T)~0ULL,               \
                                                __ATOMIC_SEQ_CST);          \
        default:                                                            \
            do {                                                            \
                new_ = (T)alu_calc(op, old_, b, cin, s).r;                  \
            } while (!__atomic_compare_exchange_n(p_, &old_, new_, false,   \
                                                  __ATOMIC_SEQ_CST,         \
                                                  __ATOMIC_RELAXED));       \
            return old_;                                                    \
        }                                                                   \
    } while (0)

/* Applies @op atomically at host @p; returns the old value. */
static uint64_t atomic_rmw(void *p, unsigned size, int op, uint64_t b,
                           uint64_t cin)
{
    unsigned s = cc_size_index(size);

    switch (size) {
    case 1: ATOMIC_RMW_TYPE(uint8_t);
    case 2: ATOMIC_RMW_TYPE(uint16_t);
    case 4: ATOMIC_RMW_TYPE(uint32_t);
    default: ATOMIC_RMW_TYPE(uint64_t);
    }
}

static const DecodedInsn *alu_locked(InterpCPU *cpu, const DecodedInsn *d,
                                     int op, uint64_t b)
{
    unsigned size = d->opsize, s = cc_size_index(size);
    uint64_t cin = alu_needs_cf(op) ? cc_fast_cf(cpu) : 0;
    uint64_t lin, a;
    AluResult res;
    void *p;

    if (!(d->flags & D_MEM)) {
        interp_raise(cpu, EXCP_UD, 0);
    }
    lin = interp_linear(cpu, d->seg, insn_ea(cpu, d), size, ACC_WRITE);
    p = interp_atomic_ptr(cpu, lin, size);
    if (p) {
        a = atomic_rmw(p, size, op, b, cin);
        res = alu_calc(op, a, b, cin, s);
    } else {
        interp_locked_begin(cpu);
        a = ld_size(cpu, lin, size);
        res = alu_calc(op, a, b, cin, s);
        st_size(cpu, lin, size, res.r);
        interp_locked_end(cpu);
    }
    alu_commit(cpu, &res);
    return d + 1;
}

/* ---- generic handlers ---- */

static ALWAYS_INLINE const DecodedInsn *alu_binary(InterpCPU *cpu,
                                                   const DecodedInsn *d,
                                                   int op)
{
    unsigned size = d->opsize, s = cc_size_index(size);
    uint64_t m = cc_mask(s);
    uint64_t a, b, cin;
    AluResult res;

    if (d->flags & D_REG_DST) {
        b = insn_read_rm(cpu, d, size);
        a = insn_get_reg(cpu, d->reg, size);
        cin = alu_needs_cf(op) ? cc_fast_cf(cpu) : 0;
        res = alu_calc(op, a, b, cin, s);
        if (alu_writes(op)) {
            insn_set_reg(cpu, d->reg, size, res.r);
        }
        alu_commit(cpu, &res);
        return d + 1;
    }
    b = (d->flags & D_IMM) ? d->imm & m : insn_get_reg(cpu, d->reg, size);
    if (d->flags & D_LOCK) {
        return alu_locked(cpu, d, op, b);
    }
    cin = alu_needs_cf(op) ? cc_fast_cf(cpu) : 0;
    if (d->flags & D_MEM) {
        uint64_t lin = interp_linear(cpu, d->seg, insn_ea(cpu, d), size,
                                     alu_writes(op) ? ACC_WRITE : ACC_READ);

        a = alu_writes(op) ? rmw_load(cpu, lin, size) : ld_size(cpu, lin, size);
        res = alu_calc(op, a, b, cin, s);
        if (alu_writes(op)) {
            st_size(cpu, lin, size, res.r);
        }
    } else {
        a = insn_get_reg(cpu, d->rm, size);
        res = alu_calc(op, a, b, cin, s);
        if (alu_writes(op)) {
            insn_set_reg(cpu, d->rm, size, res.r);
        }
    }
    alu_commit(cpu, &res);
    return d + 1;
}

static ALWAYS_INLINE const DecodedInsn *alu_unary(InterpCPU *cpu,
                                                  const DecodedInsn *d,
                                                  int op)
{
    unsigned size = d->opsize, s = cc_size_index(size);
    uint64_t a, cin;
    AluResult res;

    if (d->flags & D_LOCK) {
        return alu_locked(cpu, d, op, 0);
    }
    cin = alu_needs_cf(op) ? cc_fast_cf(cpu) : 0;
    if (d->flags & D_MEM) {
        uint64_t lin = interp_linear(cpu, d->seg, insn_ea(cpu, d), size,
                                     ACC_WRITE);

        a = rmw_load(cpu, lin, size);
        res = alu_calc(op, a, 0, cin, s);
        st_size(cpu, lin, size, res.r);
    } else {
        a = insn_get_reg(cpu, d->rm, size);
        res = alu_calc(op, a, 0, cin, s);
        insn_set_reg(cpu, d->rm, size, res.r);
    }
    alu_commit(cpu, &res);
    return d + 1;
}

#define DEF_BINARY(name, OP) \
const DecodedInsn *op_##name(InterpCPU *cpu, const DecodedInsn *d) \
{ \
    return alu_binary(cpu, d, OP); \
}
#define DEF_UNARY(name, OP) \
const DecodedInsn *op_##name(InterpCPU *cpu, const DecodedInsn *d) \
{ \
    return alu_unary(cpu, d, OP); \
}

DEF_BINARY(add, ALU_ADD)
DEF_BINARY(or, ALU_OR)
DEF_BINARY(adc, ALU_ADC)
DEF_BINARY(sbb, ALU_SBB)
DEF_BINARY(and, ALU_AND)
DEF_BINARY(sub, ALU_SUB)
DEF_BINARY(xor, ALU_XOR)
DEF_BINARY(cmp, ALU_CMP)
DEF_BINARY(test, ALU_TEST)
DEF_UNARY(inc, ALU_INC)
DEF_UNARY(dec, ALU_DEC)
DEF_UNARY(neg, ALU_NEG)
DEF_UNARY(not, ALU_NOT)

/* ---- specialised handlers: 32/64-bit, no LOCK ---- */

enum {
    F_RR,       /* rm (register) op= reg */
    F_GR,       /* reg op= rm (register) */
    F_RI,       /* rm (register) op= imm */
    F_GM,       /* reg op= memory */
    F_MR,       /* memory op= reg */
    F_MI,       /* memory op= imm */
    F_NR,
};

/* Sizes 4 and 8, and 1 for CMP/TEST (low-byte registers only). */
static ALWAYS_INLINE uint64_t reg_get(InterpCPU *cpu, unsigned r,
                                      unsigned size)
{
    return size == 8 ? cpu->regs[r] : size == 4 ? (uint32_t)cpu->regs[r]
                                                : (uint8_t)cpu->regs[r];
}

static ALWAYS_INLINE uint64_t imm_get(const DecodedInsn *d, unsigned size)
{
    return size == 8 ? d->imm : size == 4 ? (uint32_t)d->imm
                                          : (uint8_t)d->imm;
}

static ALWAYS_INLINE unsigned size_s(unsigned size)
{
    return size == 8 ? 3 : size == 4 ? 2 : 0;
}

static ALWAYS_INLINE void reg_set(InterpCPU *cpu, unsigned r, unsigned size,
                                  uint64_t v)
{
    cpu->regs[r] = size == 8 ? v : (uint32_t)v;
}

/*
 * The ALU part of a specialised handler: operands, result, write-back,
 * lazy flags, with memory operands through interp_fast_host (@kind).
 * Returns false, having changed nothing, when that fast path does not
 * apply.
 */
static ALWAYS_INLINE bool alu_fast_core(InterpCPU *cpu, const DecodedInsn *d,
                                        int op, unsigned size, int form,
                                        int kind, uint64_t *pa,
                                        uint64_t *pb, uint64_t *pr)
{
    unsigned s = size_s(size);
    uint64_t a, b, cf = 0;
    void *p = NULL;
    AluResult res;

    switch (form) {
    case F_RR:
        a = reg_get(cpu, d->rm, size);
        b = reg_get(cpu, d->reg, size);
        break;
    case F_GR:
        a = reg_get(cpu, d->reg, size);
        b = reg_get(cpu, d->rm, size);
        break;
    case F_RI:
        a = reg_get(cpu, d->rm, size);
        b = imm_get(d, size);
        break;
    case F_GM:
        if (!interp_fast_host(cpu, d, kind, size, false, &p)) {
            return false;
        }
        b = host_ld(p, size);
        a = reg_get(cpu, d->reg, size);
        break;
    default:    /* F_MR, F_MI */
        if (!interp_fast_host(cpu, d, kind, size, alu_writes(op), &p)) {
            return false;
        }
        a = host_ld(p, size);
        b = form == F_MI ? imm_get(d, size) : reg_get(cpu, d->reg, size);
        break;
    }
    if (op == ALU_INC || op == ALU_DEC) {
        cf = cc_fast_cf(cpu);
    }
    res = alu_calc(op, a, b, cf, s);
    if (alu_writes(op)) {
        switch (form) {
        case F_RR:
        case F_RI:
            reg_set(cpu, d->rm, size, res.r);
            break;
        case F_GR:
        case F_GM:
            reg_set(cpu, d->reg, size, res.r);
            break;
        default:
            host_st(p, size, res.r);
            break;
        }
    }
    cpu->cc_dst = res.r;
    cpu->cc_src = res.src;
    cpu->cc_op = res.cc_op;
    *pa = a;
    *pb = b;
    *pr = res.r;
    return true;
}

static ALWAYS_INLINE const DecodedInsn *alu_fast(InterpCPU *cpu,
                                                 const DecodedInsn *d,
                                                 int op, unsigned size,
                                                 int form, int kind)
{
    uint64_t a, b, r;

    if (!alu_fast_core(cpu, d, op, size, form, kind, &a, &b, &r)) {
        return interp_generic(cpu, d);
    }
    return insn_next(cpu, d);
}

/*
 * Condition @cc right after @op computed @r from @a and @b (size index
 * @s), straight from the operands; the rare ones from the lazy flags
 * (already recorded).
 */
static ALWAYS_INLINE bool fused_cond(InterpCPU *cpu, int op, uint64_t a,
                                     uint64_t b, uint64_t r, unsigned s,
                                     int cc)
{
    uint64_t sign = 1ULL << ((8u << s) - 1);
    bool t;

    switch (op) {
    case ALU_SUB:
    case ALU_CMP:
        switch (cc >> 1) {
        case CC_B >> 1:  t = a < b; break;
        case CC_E >> 1:  t = r == 0; break;
        case CC_BE >> 1: t = a <= b; break;
        case CC_S >> 1:  t = r & sign; break;
        case CC_L >> 1:  t = cc_sext(a, s) < cc_sext(b, s); break;
        case CC_LE >> 1: t = cc_sext(a, s) <= cc_sext(b, s); break;
        default:         return interp_test_cc(cpu, cc);
        }
        break;
    case ALU_AND:
    case ALU_OR:
    case ALU_XOR:
    case ALU_TEST:
        switch (cc >> 1) {
        case CC_O >> 1:  t = false; break;
        case CC_B >> 1:  t = false; break;
        case CC_E >> 1:  t = r == 0; break;
        case CC_BE >> 1: t = r == 0; break;
        case CC_S >> 1:  t = r & sign; break;
        case CC_L >> 1:  t = r & sign; break;
        case CC_LE >> 1: t = r == 0 || (r & sign); break;
        default:         return interp_test_cc(cpu, cc);
        }
        break;
    case ALU_ADD:
        switch (cc >> 1) {
        case CC_B >> 1:  t = r < b; break;
        case CC_E >> 1:  t = r == 0; break;
        case CC_S >> 1:  t = r & sign; break;
        default:         return interp_test_cc(cpu, cc);
        }
        break;
    default:    /* INC, DEC */
        switch (cc >> 1) {
        case CC_E >> 1:  t = r == 0; break;
        case CC_S >> 1:  t = r & sign; break;
        default:         return interp_test_cc(cpu, cc);
        }
        break;
    }
    return t ^ (cc & 1);
}

/* An ALU operation fused with the Jcc after it (d + 1), whose target was
 * checked when the block was built: the block goes on after the Jcc when
 * it is not taken. When the memory fast path fails, the operation runs
 * alone and the Jcc after it. */
static ALWAYS_INLINE const DecodedInsn *alu_fused(InterpCPU *cpu,
                                                  const DecodedInsn *d,
                                                  int op, unsigned size,
                                                  int form, int kind,
                                                  int cc)
{
    const DecodedInsn *j = d + 1;
    uint64_t a, b, r;
    bool t;

    if (!alu_fast_core(cpu, d, op, size, form, kind, &a, &b, &r)) {
        return interp_generic(cpu, d);
    }
    t = fused_cond(cpu, op, a, b, r, size_s(size), cc);
    if (t) {
        return insn_side_exit(cpu, j);
    }
    return insn_next(cpu, j);
}

/* Register forms, and memory forms by address kind. */
#define DEF_FAST(OP, SIZE, FORM, KIND) \
static const DecodedInsn *fast_##OP##_##SIZE##_##FORM##_##KIND( \
    InterpCPU *cpu, const DecodedInsn *d) \
{ \
    return alu_fast(cpu, d, OP, SIZE, FORM, KIND); \
}
#define DEF_FAST_MEM(OP, SIZE, FORM) \
    DEF_FAST(OP, SIZE, FORM, MK_LBD) DEF_FAST(OP, SIZE, FORM, MK_LBIS) \
    DEF_FAST(OP, SIZE, FORM, MK_LIS) DEF_FAST(OP, SIZE, FORM, MK_LG) \
    DEF_FAST(OP, SIZE, FORM, MK_PBD) DEF_FAST(OP, SIZE, FORM, MK_PBIS) \
    DEF_FAST(OP, SIZE, FORM, MK_PIS) DEF_FAST(OP, SIZE, FORM, MK_ANY)
#define FAST_MEM(OP, SIZE, FORM) { \
    fast_##OP##_##SIZE##_##FORM##_MK_LBD, \
    fast_##OP##_##SIZE##_##FORM##_MK_LBIS, \
    fast_##OP##_##SIZE##_##FORM##_MK_LIS, \
    fast_##OP##_##SIZE##_##FORM##_MK_LG, \
    fast_##OP##_##SIZE##_##FORM##_MK_PBD, \
    fast_##OP##_##SIZE##_##FORM##_MK_PBIS, \
    fast_##OP##_##SIZE##_##FORM##_MK_PIS, \
    fast_##OP##_##SIZE##_##FORM##_MK_ANY }
#define DEF_FAST_SIZE(OP, SIZE) \
    DEF_FAST(OP, SIZE, F_RR, 0) DEF_FAST(OP, SIZE, F_GR, 0) \
    DEF_FAST(OP, SIZE, F_RI, 0) DEF_FAST_MEM(OP, SIZE, F_GM) \
    DEF_FAST_MEM(OP, SIZE, F_MR) DEF_FAST_MEM(OP, SIZE, F_MI)
#define DEF_FAST_OP(OP) DEF_FAST_SIZE(OP, 4) DEF_FAST_SIZE(OP, 8)

DEF_FAST_OP(ALU_ADD)
DEF_FAST_OP(ALU_OR)
DEF_FAST_OP(ALU_AND)
DEF_FAST_OP(ALU_SUB)
DEF_FAST_OP(ALU_XOR)
DEF_FAST_OP(ALU_CMP)
DEF_FAST_OP(ALU_TEST)
DEF_FAST(ALU_INC, 4, F_RR, 0) DEF_FAST(ALU_INC, 8, F_RR, 0)
DEF_FAST(ALU_DEC, 4, F_RR, 0) DEF_FAST(ALU_DEC, 8, F_RR, 0)
/* CMP and TEST also on bytes (they write no register). */
DEF_FAST_SIZE(ALU_CMP, 1)
DEF_FAST_SIZE(ALU_TEST, 1)

#define FAST_REG(OP, SIZE) { \
    fast_##OP##_##SIZE##_F_RR_0, fast_##OP##_##SIZE##_F_GR_0, \
    fast_##OP##_##SIZE##_F_RI_0 }
#define FAST_MEMS(OP, SIZE) { \
    FAST_MEM(OP, SIZE, F_GM), FAST_MEM(OP, SIZE, F_MR), \
    FAST_MEM(OP, SIZE, F_MI) }
#define FAST_OP(OP) [OP] = { FAST_REG(OP, 4), FAST_REG(OP, 8) }
#define FAST_OP_MEM(OP) [OP] = { FAST_MEMS(OP, 4), FAST_MEMS(OP, 8) }

static const InsnHandler alu_fast_reg[ALU_DEC + 1][2][3] = {
    FAST_OP(ALU_ADD), FAST_OP(ALU_OR), FAST_OP(ALU_AND), FAST_OP(ALU_SUB),
    FAST_OP(ALU_XOR), FAST_OP(ALU_CMP), FAST_OP(ALU_TEST),
    [ALU_INC] = { { fast_ALU_INC_4_F_RR_0 }, { fast_ALU_INC_8_F_RR_0 } },
    [ALU_DEC] = { { fast_ALU_DEC_4_F_RR_0 }, { fast_ALU_DEC_8_F_RR_0 } },
};

static const InsnHandler alu_fast_mem[ALU_TEST + 1][2][3][MK_NR] = {
    FAST_OP_MEM(ALU_ADD), FAST_OP_MEM(ALU_OR), FAST_OP_MEM(ALU_AND),
    FAST_OP_MEM(ALU_SUB), FAST_OP_MEM(ALU_XOR), FAST_OP_MEM(ALU_CMP),
    FAST_OP_MEM(ALU_TEST),
};

/* Bytes: [CMP/TEST] */
static const InsnHandler alu_fast_reg1[2][3] = {
    FAST_REG(ALU_CMP, 1), FAST_REG(ALU_TEST, 1),
};
static const InsnHandler alu_fast_mem1[2][3][MK_NR] = {
    FAST_MEMS(ALU_CMP, 1), FAST_MEMS(ALU_TEST, 1),
};

/*
 * Fused with a following Jcc, one handler per condition: the forms that
 * write no memory (a store could rewrite the Jcc itself).
 */
#define DEF_FUSED_CC(OP, SIZE, FORM, CC) \
    DEF_FUSED_K(OP, SIZE, FORM, CC, MK_ANY)
#define DEF_FUSED_K(OP, SIZE, FORM, CC, KIND) \
static const DecodedInsn *fused_##OP##_##SIZE##_##FORM##_##CC##KIND( \
    InterpCPU *cpu, const DecodedInsn *d) \
{ \
    return alu_fused(cpu, d, OP, SIZE, FORM, KIND, CC); \
}
#define DEF_FUSED(OP, SIZE, FORM) \
    DEF_FUSED_CC(OP, SIZE, FORM, 0) DEF_FUSED_CC(OP, SIZE, FORM, 1) \
    DEF_FUSED_CC(OP, SIZE, FORM, 2) DEF_FUSED_CC(OP, SIZE, FORM, 3) \
    DEF_FUSED_CC(OP, SIZE, FORM, 4) DEF_FUSED_CC(OP, SIZE, FORM, 5) \
    DEF_FUSED_CC(OP, SIZE, FORM, 6) DEF_FUSED_CC(OP, SIZE, FORM, 7) \
    DEF_FUSED_CC(OP, SIZE, FORM, 8) DEF_FUSED_CC(OP, SIZE, FORM, 9) \
    DEF_FUSED_CC(OP, SIZE, FORM, 10) DEF_FUSED_CC(OP, SIZE, FORM, 11) \
    DEF_FUSED_CC(OP, SIZE, FORM, 12) DEF_FUSED_CC(OP, SIZE, FORM, 13) \
    DEF_FUSED_CC(OP, SIZE, FORM, 14) DEF_FUSED_CC(OP, SIZE, FORM, 15)
#define FUSED(OP, SIZE, FORM) { \
    fused_##OP##_##SIZE##_##FORM##_0MK_ANY, \
    fused_##OP##_##SIZE##_##FORM##_1MK_ANY, \
    fused_##OP##_##SIZE##_##FORM##_2MK_ANY, \
    fused_##OP##_##SIZE##_##FORM##_3MK_ANY, \
    fused_##OP##_##SIZE##_##FORM##_4MK_ANY, \
    fused_##OP##_##SIZE##_##FORM##_5MK_ANY, \
    fused_##OP##_##SIZE##_##FORM##_6MK_ANY, \
    fused_##OP##_##SIZE##_##FORM##_7MK_ANY, \
    fused_##OP##_##SIZE##_##FORM##_8MK_ANY, \
    fused_##OP##_##SIZE##_##FORM##_9MK_ANY, \
    fused_##OP##_##SIZE##_##FORM##_10MK_ANY, \
    fused_##OP##_##SIZE##_##FORM##_11MK_ANY, \
    fused_##OP##_##SIZE##_##FORM##_12MK_ANY, \
    fused_##OP##_##SIZE##_##FORM##_13MK_ANY, \
    fused_##OP##_##SIZE##_##FORM##_14MK_ANY, \
    fused_##OP##_##SIZE##_##FORM##_15MK_ANY }

/* Register forms (and loads) for every operation. */
#define DEF_FUSED_REG(OP, SIZE) \
    DEF_FUSED(OP, SIZE, F_RR) DEF_FUSED(OP, SIZE, F_GR) \
    DEF_FUSED(OP, SIZE, F_RI) DEF_FUSED(OP, SIZE, F_GM)
#define FUSED_REG(OP, SIZE) { \
    FUSED(OP, SIZE, F_RR), FUSED(OP, SIZE, F_GR), \
    FUSED(OP, SIZE, F_RI), FUSED(OP, SIZE, F_GM) }
/* CMP and TEST also with a memory destination, which they only read. */
#define DEF_FUSED_RO(OP, SIZE) \
    DEF_FUSED_REG(OP, SIZE) \
    DEF_FUSED(OP, SIZE, F_MR) DEF_FUSED(OP, SIZE, F_MI)
#define FUSED_RO(OP, SIZE) { \
    FUSED(OP, SIZE, F_RR), FUSED(OP, SIZE, F_GR), \
    FUSED(OP, SIZE, F_RI), FUSED(OP, SIZE, F_GM), \
    FUSED(OP, SIZE, F_MR), FUSED(OP, SIZE, F_MI) }

DEF_FUSED_REG(ALU_ADD, 4) DEF_FUSED_REG(ALU_ADD, 8)
DEF_FUSED_REG(ALU_OR, 4) DEF_FUSED_REG(ALU_OR, 8)
DEF_FUSED_REG(ALU_AND, 4) DEF_FUSED_REG(ALU_AND, 8)
DEF_FUSED_REG(ALU_SUB, 4) DEF_FUSED_REG(ALU_SUB, 8)
DEF_FUSED_REG(ALU_XOR, 4) DEF_FUSED_REG(ALU_XOR, 8)
DEF_FUSED_RO(ALU_CMP, 4) DEF_FUSED_RO(ALU_CMP, 8)
DEF_FUSED_RO(ALU_TEST, 4) DEF_FUSED_RO(ALU_TEST, 8)
DEF_FUSED(ALU_INC, 4, F_RR) DEF_FUSED(ALU_INC, 8, F_RR)
DEF_FUSED(ALU_DEC, 4, F_RR) DEF_FUSED(ALU_DEC, 8, F_RR)

/* Bytes: the register forms of CMP and TEST (memory ones below). */
DEF_FUSED(ALU_CMP, 1, F_RR) DEF_FUSED(ALU_CMP, 1, F_GR)
DEF_FUSED(ALU_CMP, 1, F_RI)
DEF_FUSED(ALU_TEST, 1, F_RR) DEF_FUSED(ALU_TEST, 1, F_GR)
DEF_FUSED(ALU_TEST, 1, F_RI)

/*
 * CMP and TEST with a memory operand, by address kind: LBD, LBIS, LIS,
 * LG, then ANY (every other kind; defined above for 4 and 8 bytes).
 */
#define DEF_FUSED_KCC(OP, SIZE, FORM, KIND) \
    DEF_FUSED_K(OP, SIZE, FORM, 0, KIND) DEF_FUSED_K(OP, SIZE, FORM, 1, KIND) \
    DEF_FUSED_K(OP, SIZE, FORM, 2, KIND) DEF_FUSED_K(OP, SIZE, FORM, 3, KIND) \
    DEF_FUSED_K(OP, SIZE, FORM, 4, KIND) DEF_FUSED_K(OP, SIZE, FORM, 5, KIND) \
    DEF_FUSED_K(OP, SIZE, FORM, 6, KIND) DEF_FUSED_K(OP, SIZE, FORM, 7, KIND) \
    DEF_FUSED_K(OP, SIZE, FORM, 8, KIND) DEF_FUSED_K(OP, SIZE, FORM, 9, KIND) \
    DEF_FUSED_K(OP, SIZE, FORM, 10, KIND) \
    DEF_FUSED_K(OP, SIZE, FORM, 11, KIND) \
    DEF_FUSED_K(OP, SIZE, FORM, 12, KIND) \
    DEF_FUSED_K(OP, SIZE, FORM, 13, KIND) \
    DEF_FUSED_K(OP, SIZE, FORM, 14, KIND) \
    DEF_FUSED_K(OP, SIZE, FORM, 15, KIND)
#define FUSED_KCC(OP, SIZE, FORM, KIND) { \
    fused_##OP##_##SIZE##_##FORM##_0##KIND, \
    fused_##OP##_##SIZE##_##FORM##_1##KIND, \
    fused_##OP##_##SIZE##_##FORM##_2##KIND, \
    fused_##OP##_##SIZE##_##FORM##_3##KIND, \
    fused_##OP##_##SIZE##_##FORM##_4##KIND, \
    fused_##OP##_##SIZE##_##FORM##_5##KIND, \
    fused_##OP##_##SIZE##_##FORM##_6##KIND, \
    fused_##OP##_##SIZE##_##FORM##_7##KIND, \
    fused_##OP##_##SIZE##_##FORM##_8##KIND, \
    fused_##OP##_##SIZE##_##FORM##_9##KIND, \
    fused_##OP##_##SIZE##_##FORM##_10##KIND, \
    fused_##OP##_##SIZE##_##FORM##_11##KIND, \
    fused_##OP##_##SIZE##_##FORM##_12##KIND, \
    fused_##OP##_##SIZE##_##FORM##_13##KIND, \
    fused_##OP##_##SIZE##_##FORM##_14##KIND, \
    fused_##OP##_##SIZE##_##FORM##_15##KIND }
#define DEF_FUSED_MEMK(OP, SIZE, FORM) \
    DEF_FUSED_KCC(OP, SIZE, FORM, MK_LBD) \
    DEF_FUSED_KCC(OP, SIZE, FORM, MK_LBIS) \
    DEF_FUSED_KCC(OP, SIZE, FORM, MK_LIS) \
    DEF_FUSED_KCC(OP, SIZE, FORM, MK_LG)
#define FUSED_MEMK(OP, SIZE, FORM) { \
    FUSED_KCC(OP, SIZE, FORM, MK_LBD), FUSED_KCC(OP, SIZE, FORM, MK_LBIS), \
    FUSED_KCC(OP, SIZE, FORM, MK_LIS), FUSED_KCC(OP, SIZE, FORM, MK_LG), \
    FUSED_KCC(OP, SIZE, FORM, MK_ANY) }
#define DEF_FUSED_MEMK_OP(OP, SIZE) \
    DEF_FUSED_MEMK(OP, SIZE, F_GM) DEF_FUSED_MEMK(OP, SIZE, F_MR) \
    DEF_FUSED_MEMK(OP, SIZE, F_MI)
#define FUSED_MEMK_OP(OP, SIZE) { \
    FUSED_MEMK(OP, SIZE, F_GM), FUSED_MEMK(OP, SIZE, F_MR), \
    FUSED_MEMK(OP, SIZE, F_MI) }

DEF_FUSED_MEMK_OP(ALU_CMP, 4) DEF_FUSED_MEMK_OP(ALU_CMP, 8)
DEF_FUSED_MEMK_OP(ALU_TEST, 4) DEF_FUSED_MEMK_OP(ALU_TEST, 8)
DEF_FUSED_MEMK_OP(ALU_CMP, 1) DEF_FUSED_MEMK_OP(ALU_TEST, 1)
DEF_FUSED(ALU_CMP, 1, F_GM) DEF_FUSED(ALU_CMP, 1, F_MR)
DEF_FUSED(ALU_CMP, 1, F_MI)
DEF_FUSED(ALU_TEST, 1, F_GM) DEF_FUSED(ALU_TEST, 1, F_MR)
DEF_FUSED(ALU_TEST, 1, F_MI)

/* [CMP/TEST][size 4, 8, 1][form - F_GM][kind][cc] */
static const InsnHandler alu_fused_mem[2][3][3][5][16] = {
    { FUSED_MEMK_OP(ALU_CMP, 4), FUSED_MEMK_OP(ALU_CMP, 8),
      FUSED_MEMK_OP(ALU_CMP, 1) },
    { FUSED_MEMK_OP(ALU_TEST, 4), FUSED_MEMK_OP(ALU_TEST, 8),
      FUSED_MEMK_OP(ALU_TEST, 1) },
};

/* Bytes, register forms: [CMP/TEST][form][cc] */
static const InsnHandler alu_fused_reg1[2][3][16] = {
    { FUSED(ALU_CMP, 1, F_RR), FUSED(ALU_CMP, 1, F_GR),
      FUSED(ALU_CMP, 1, F_RI) },
    { FUSED(ALU_TEST, 1, F_RR), FUSED(ALU_TEST, 1, F_GR),
      FUSED(ALU_TEST, 1, F_RI) },
};

/* The kind index of alu_fused_mem. */
static int fused_kind(int kind)
{
    switch (kind) {
    case MK_LBD: return 0;
    case MK_LBIS: return 1;
    case MK_LIS: return 2;
    case MK_LG: return 3;
    default: return 4;
    }
}

static const InsnHandler alu_fused_table[ALU_DEC + 1][2][F_NR][16] = {
    [ALU_ADD] = { FUSED_REG(ALU_ADD, 4), FUSED_REG(ALU_ADD, 8) },
    [ALU_OR] = { FUSED_REG(ALU_OR, 4), FUSED_REG(ALU_OR, 8) },
    [ALU_AND] = { FUSED_REG(ALU_AND, 4), FUSED_REG(ALU_AND, 8) },
    [ALU_SUB] = { FUSED_REG(ALU_SUB, 4), FUSED_REG(ALU_SUB, 8) },
    [ALU_XOR] = { FUSED_REG(ALU_XOR, 4), FUSED_REG(ALU_XOR, 8) },
    [ALU_CMP] = { FUSED_RO(ALU_CMP, 4), FUSED_RO(ALU_CMP, 8) },
    [ALU_TEST] = { FUSED_RO(ALU_TEST, 4), FUSED_RO(ALU_TEST, 8) },
    [ALU_INC] = { { FUSED(ALU_INC, 4, F_RR) }, { FUSED(ALU_INC, 8, F_RR) } },
    [ALU_DEC] = { { FUSED(ALU_DEC, 4, F_RR) }, { FUSED(ALU_DEC, 8, F_RR) } },
};

/* The shape of @d for the specialised tables: op (ALU_xxx) and form,
 * or false. */
static bool alu_shape(const DecodedInsn *d, int *op, int *form)
{
    if (d->opsize == 1) {
        /* CMP and TEST only, without AH-BH. */
        if ((d->op != OP_cmp && d->op != OP_test) || d->reg >= REG8_AH ||
            (!(d->flags & D_MEM) && d->rm >= REG8_AH)) {
            return false;
        }
    } else if (d->opsize != 4 && d->opsize != 8) {
        return false;
    }
    if (d->flags & D_LOCK) {
        return false;
    }
    switch (d->op) {
    case OP_add:  *op = ALU_ADD; break;
    case OP_or:   *op = ALU_OR; break;
    case OP_and:  *op = ALU_AND; break;
    case OP_sub:  *op = ALU_SUB; break;
    case OP_xor:  *op = ALU_XOR; break;
    case OP_cmp:  *op = ALU_CMP; break;
    case OP_test: *op = ALU_TEST; break;
    case OP_inc:  *op = ALU_INC; break;
    case OP_dec:  *op = ALU_DEC; break;
    default:
        return false;
    }
    if (*op == ALU_INC || *op == ALU_DEC) {
        *form = F_RR;
        return !(d->flags & D_MEM);
    }
    if (d->flags & D_REG_DST) {
        if (d->flags & D_IMM) {
            return false;
        }
        *form = (d->flags & D_MEM) ? F_GM : F_GR;
    } else if (d->flags & D_MEM) {
        *form = (d->flags & D_IMM) ? F_MI : F_MR;
    } else {
        *form = (d->flags & D_IMM) ? F_RI : F_RR;
    }
    return true;
}

InsnHandler interp_fuse_alu_jcc(InterpCPU *cpu, const DecodedInsn *d)
{
    int op, form;

    int cc = (d + 1)->cc & 15;

    if (!alu_shape(d, &op, &form)) {
        return NULL;
    }
    if ((op == ALU_CMP || op == ALU_TEST) &&
        (form >= F_GM || d->opsize == 1)) {
        int t = op == ALU_TEST;

        if (form < F_GM) {
            return alu_fused_reg1[t][form][cc];
        }
        return alu_fused_mem[t][d->opsize == 4 ? 0 : d->opsize == 8 ? 1 : 2]
                            [form - F_GM][fused_kind(interp_mem_kind(cpu, d))]
                            [cc];
    }
    return alu_fused_table[op][d->opsize == 8][form][cc];
}

InsnHandler interp_specialise_alu(InterpCPU *cpu, const DecodedInsn *d)
{
    bool q = d->opsize == 8;
    int op, form;

    if (!alu_shape(d, &op, &form)) {
        return NULL;
    }
    if (d->opsize == 1) {
        int t = op == ALU_TEST;

        if (form >= F_GM) {
            return alu_fast_mem1[t][form - F_GM][interp_mem_kind(cpu, d)];
        }
        return alu_fast_reg1[t][form];
    }
    if (form >= F_GM) {
        return alu_fast_mem[op][q][form - F_GM][interp_mem_kind(cpu, d)];
    }
    return alu_fast_reg[op][q][form];
}

const InterpOpEntry interp_ops_alu[] = {
    { OP_add, op_add }, { OP_or, op_or }, { OP_adc, op_adc },
    { OP_sbb, op_sbb }, { OP_and, op_and }, { OP_sub, op_sub },
    { OP_xor, op_xor }, { OP_cmp, op_cmp }, { OP_test, op_test },
    { OP_inc, op_inc }, { OP_dec, op_dec }, { OP_neg, op_neg },
    { OP_not, op_not },
    { 0, NULL },
};
