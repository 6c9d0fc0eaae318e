/*
 * MUL, IMUL (one, two and three operands), DIV and IDIV (Intel SDM vol. 2).
 *
 * MUL/IMUL record their flags lazily (CC_OP_MUL: CF = OF = "the high half
 * is significant"). DIV/IDIV leave every flag as it was, as current Intel
 * CPUs do (the SDM calls them undefined); a zero divisor or a quotient
 * that does not fit raises #DE before any register changes.
 */
#include "insn.h"

static inline unsigned size_index(unsigned size)
{
    return __builtin_ctz(size);
}

static inline int64_t sign_extend(uint64_t v, unsigned size)
{
    unsigned shift = 64 - size * 8;

    return (int64_t)(v << shift) >> shift;
}

static inline void set_mul_flags(InterpCPU *cpu, unsigned size, uint64_t low,
                                 bool high_significant)
{
    cpu->cc_dst = low & insn_size_mask(size);
    cpu->cc_src = high_significant;
    cpu->cc_op = CC_OP_MUL + size_index(size);
}

/* MUL r/m: rDX:rAX (AX for bytes) = rAX * r/m, unsigned. */
const DecodedInsn *op_mul(InterpCPU *cpu, const DecodedInsn *d)
{
    unsigned size = d->opsize;
    uint64_t src = insn_read_rm(cpu, d, size);
    uint64_t a = insn_get_reg(cpu, R_EAX, size);
    uint64_t lo, hi;

    switch (size) {
    case 1:
        lo = a * src;
        insn_set_reg(cpu, R_EAX, 2, lo);
        set_mul_flags(cpu, 1, lo, lo >> 8);
        return d + 1;
    case 2:
        lo = a * src;
        hi = lo >> 16;
        break;
    case 4:
        lo = a * src;
        hi = lo >> 32;
        break;
    default: {
        unsigned __int128 p = (unsigned __int128)a * src;
        lo = (uint64_t)p;
        hi = (uint64_t)(p >> 64);
        break;
    }
    }
    insn_set_reg(cpu, R_EAX, size, lo);
    insn_set_reg(cpu, R_EDX, size, hi);
    set_mul_flags(cpu, size, lo, (hi & insn_size_mask(size)) != 0);
    return d + 1;
}

/* IMUL r/m: rDX:rAX (AX for bytes) = rAX * r/m, signed. */
const DecodedInsn *op_imul1(InterpCPU *cpu, const DecodedInsn *d)
{
    unsigned size = d->opsize;
    int64_t src = sign_extend(insn_read_rm(cpu, d, size), size);
    int64_t a = sign_extend(insn_get_reg(cpu, R_EAX, size), size);
    uint64_t lo, hi;
    bool significant;

    switch (size) {
    case 1: {
        int64_t p = a * src;
        insn_set_reg(cpu, R_EAX, 2, (uint64_t)p);
        set_mul_flags(cpu, 1, (uint64_t)p, p != (int8_t)p);
        return d + 1;
    }
    case 2:
    case 4: {
        int64_t p = a * src;
        lo = (uint64_t)p;
        hi = (uint64_t)p >> (size * 8);
        significant = p != sign_extend((uint64_t)p, size);
        break;
    }
    default: {
        __int128 p = (__int128)a * src;
        lo = (uint64_t)p;
        hi = (uint64_t)((unsigned __int128)p >> 64);
        significant = p != (int64_t)lo;
        break;
    }
    }
    insn_set_reg(cpu, R_EAX, size, lo);
    insn_set_reg(cpu, R_EDX, size, hi);
    set_mul_flags(cpu, size, lo, significant);
    return d + 1;
}

/* The truncated product of two signed operands, and whether it overflowed. */
static inline uint64_t imul_trunc(int64_t a, int64_t b, unsigned size,
                                  bool *overflow)
{
    if (size == 8) {
        __int128 p = (__int128)a * b;
        *overflow = p != (int64_t)p;
        return (uint64_t)p;
    }
    int64_t p = a * b;        /* 32 x 32 bits fits in 64 */
    *overflow = p != sign_extend((uint64_t)p, size);
    return (uint64_t)p;
}

static const DecodedInsn *imul_reg(InterpCPU *cpu, const DecodedInsn *d,
                                   int64_t a, int64_t b)
{
    unsigned size = d->opsize;
    bool overflow;
    uint64_t r = imul_trunc(a, b, size, &overflow);

    insn_set_reg(cpu, d->reg, size, r);
    set_mul_flags(cpu, size, r, overflow);
    return d + 1;
}

/* IMUL r3, r/m, imm: reg = r/m * imm, truncated. */
const DecodedInsn *op_imul3(InterpCPU *cpu, const DecodedInsn *d)
{
    unsigned size = d->opsize;
    int64_t a = sign_extend(insn_read_rm(cpu, d, size), size);

    return imul_reg(cpu, d, a, sign_extend(d->imm, size));
}

/* IMUL r, r/m: reg = reg * r/m, truncated. */
const DecodedInsn *op_imul2(InterpCPU *cpu, const DecodedInsn *d)
{
    unsigned size = d->opsize;
    int64_t b;

    if (d->flags & D_IMM) {
        return op_imul3(cpu, d);
    }
    b = sign_extend(insn_read_rm(cpu, d, size), size);
    return imul_reg(cpu, d, sign_extend(insn_get_reg(cpu, d->reg, size), size),
                    b);
}

/* DIV r/m: unsigned rDX:rAX / r/m (AX / r/m8 into AL, AH). */
const DecodedInsn *op_div(InterpCPU *cpu, const DecodedInsn *d)
{
    unsigned size = d->opsize;
    uint64_t divisor = insn_read_rm(cpu, d, size);
    uint64_t q, r;

    if (divisor == 0) {
        interp_raise(cpu, EXCP_DE, 0);
    }
    switch (size) {
    case 1: {
        uint64_t n = (uint16_t)cpu->regs[R_EAX];
        q = n / divisor;
        if (q > 0xff) {
            interp_raise(cpu, EXCP_DE, 0);
        }
        r = n % divisor;
        insn_set_reg(cpu, R_EAX, 2, (r << 8) | q);
        return d + 1;
    }
    case 2:
    case 4: {
        unsigned bits = size * 8;
        uint64_t n = (insn_get_reg(cpu, R_EDX, size) << bits) |
                     insn_get_reg(cpu, R_EAX, size);
        q = n / divisor;
        if (q >> bits) {
            interp_raise(cpu, EXCP_DE, 0);
        }
        r = n % divisor;
        break;
    }
    default: {
        uint64_t hi = cpu->regs[R_EDX], lo = cpu->regs[R_EAX];
        if (hi >= divisor) {
            interp_raise(cpu, EXCP_DE, 0);     /* quotient needs > 64 bits */
        }
        if (hi == 0) {
            q = lo / divisor;
            r = lo % divisor;
        } else {
            unsigned __int128 n = ((unsigned __int128)hi << 64) | lo;
            q = (uint64_t)(n / divisor);
            r = (uint64_t)(n % divisor);
        }
        break;
    }
    }
    insn_set_reg(cpu, R_EAX, size, q);
    insn_set_reg(cpu, R_EDX, size, r);
    return d + 1;
}

/* IDIV r/m: signed; the quotient truncates toward zero and must fit. */
const DecodedInsn *op_idiv(InterpCPU *cpu, const DecodedInsn *d)
{
    unsigned size = d->opsize;
    int64_t divisor = sign_extend(insn_read_rm(cpu, d, size), size);
    int64_t q, r;

    if (divisor == 0) {
        interp_raise(cpu, EXCP_DE, 0);
    }
    if (size < 8) {
        unsigned bits = size * 8;
        int64_t n;
        if (size == 1) {
            n = (int16_t)cpu->regs[R_EAX];
        } else {
            n = sign_extend((insn_get_reg(cpu, R_EDX, size) << bits) |
                            insn_get_reg(cpu, R_EAX, size), size * 2);
        }
        if (divisor == -1) {
            /* Negate in unsigned arithmetic: INT64_MIN / -1 overflows C. */
            q = (int64_t)(-(uint64_t)n);
            r = 0;
        } else {
            q = n / divisor;
            r = n % divisor;
        }
        if (q != sign_extend((uint64_t)q, size)) {
            interp_raise(cpu, EXCP_DE, 0);
        }
        if (size == 1) {
            insn_set_reg(cpu, R_EAX, 2,
                         ((uint64_t)(r & 0xff) << 8) | (uint64_t)(q & 0xff));
            return d + 1;
        }
    } else {
        __int128 n = (__int128)(((unsigned __int128)cpu->regs[R_EDX] << 64) |
                                cpu->regs[R_EAX]);
        __int128 wq;
        if (divisor == -1) {
            /* Negate without overflow: INT128_MIN stays out of range. */
            wq = (__int128)(-(unsigned __int128)n);
            r = 0;
        } else {
            wq = n / divisor;
            r = (int64_t)(n % divisor);
        }
        if (wq != (int64_t)wq) {
            interp_raise(cpu, EXCP_DE, 0);
        }
        q = (int64_t)wq;
    }
    insn_set_reg(cpu, R_EAX, size, (uint64_t)q);
    insn_set_reg(cpu, R_EDX, size, (uint64_t)r);
    return d + 1;
}

const InterpOpEntry interp_ops_muldiv[] = {
    { OP_mul, op_mul },
    { OP_imul1, op_imul1 },
    { OP_imul2, op_imul2 },
    { OP_imul3, op_imul3 },
    { OP_div, op_div },
    { OP_idiv, op_idiv },
    { 0, NULL },
};
