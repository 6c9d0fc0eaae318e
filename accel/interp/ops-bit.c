/*
 * Bit operations: BT/BTS/BTR/BTC, BSF/BSR, POPCNT, LZCNT, TZCNT, BMI1
 * (ANDN BEXTR BLSI BLSMSK BLSR), BMI2 (BZHI PDEP PEXT MULX RORX SARX SHLX
 * SHRX), ADCX/ADOX and MOVBE (Intel SDM vol. 2).
 *
 * Flags the SDM leaves undefined are set as current Intel CPUs set them:
 * BT* keep every flag but CF; BSF/BSR set PF from the index (PF and ZF
 * for a zero source, whose destination is left untouched) and clear the
 * rest; POPCNT/LZCNT/TZCNT and the BMI instructions clear the
 * flags they do not define.
 */
/* block.h: interp_atomic_ptr and interp_locked_begin/end, whose lock the
 * dispatch loop releases when an access under it faults. */
#include "block.h"

static inline uint64_t parity_flag(uint64_t v)
{
    return __builtin_parity((uint8_t)v) ? 0 : RFLAGS_PF;
}

static inline void set_eflags(InterpCPU *cpu, uint64_t f)
{
    cpu->cc_src = f;
    cpu->cc_op = CC_OP_EFLAGS;
}

/* ZF and SF of @r, an operand of @size bytes. */
static inline uint64_t zs_flags(uint64_t r, unsigned size)
{
    r &= insn_size_mask(size);
    return (r == 0 ? RFLAGS_ZF : 0) |
           ((r >> (size * 8 - 1)) ? RFLAGS_SF : 0);
}

/* ---- BT, BTS, BTR, BTC ---- */

enum { BIT_TEST, BIT_SET, BIT_RESET, BIT_COMPLEMENT };

static inline uint64_t bit_apply(int kind, uint64_t v, uint64_t m)
{
    switch (kind) {
    case BIT_SET: return v | m;
    case BIT_RESET: return v & ~m;
    case BIT_COMPLEMENT: return v ^ m;
    default: return v;
    }
}

/* LOCK BTS/BTR/BTC: the old value, after an atomic update. */
static uint64_t bit_locked(InterpCPU *cpu, int kind, int seg, uint64_t ea,
                           unsigned size, uint64_t m)
{
    uint64_t lin = interp_linear(cpu, seg, ea, size, ACC_WRITE);
    void *p = interp_atomic_ptr(cpu, lin, size);
    uint64_t old;

    if (p) {
        switch (size) {
        case 2:
            if (kind == BIT_SET) {
                return __atomic_fetch_or((uint16_t *)p, m, __ATOMIC_SEQ_CST);
            } else if (kind == BIT_RESET) {
                return __atomic_fetch_and((uint16_t *)p, ~m, __ATOMIC_SEQ_CST);
            }
            return __atomic_fetch_xor((uint16_t *)p, m, __ATOMIC_SEQ_CST);
        case 4:
            if (kind == BIT_SET) {
                return __atomic_fetch_or((uint32_t *)p, m, __ATOMIC_SEQ_CST);
            } else if (kind == BIT_RESET) {
                return __atomic_fetch_and((uint32_t *)p, ~m, __ATOMIC_SEQ_CST);
            }
            return __atomic_fetch_xor((uint32_t *)p, m, __ATOMIC_SEQ_CST);
        default:
            if (kind == BIT_SET) {
                return __atomic_fetch_or((uint64_t *)p, m, __ATOMIC_SEQ_CST);
            } else if (kind == BIT_RESET) {
                return __atomic_fetch_and((uint64_t *)p, ~m, __ATOMIC_SEQ_CST);
            }
            return __atomic_fetch_xor((uint64_t *)p, m, __ATOMIC_SEQ_CST);
        }
    }
    /* Not plain RAM in one page: serialise with the other vCPUs. */
    interp_locked_begin(cpu);
    old = interp_ld(cpu, lin, size);
    interp_st(cpu, lin, size, bit_apply(kind, old, m));
    interp_locked_end(cpu);
    return old;
}

static const DecodedInsn *bit_op(InterpCPU *cpu, const DecodedInsn *d,
                                 int kind)
{
    unsigned size = d->opsize, bits = size * 8;
    uint64_t off, m, old;

    if (d->flags & D_IMM) {
        off = d->imm & (bits - 1);
    } else {
        off = insn_get_reg(cpu, d->reg, size);
    }
    m = 1ULL << (off & (bits - 1));
    if (!(d->flags & D_MEM)) {
        old = insn_get_reg(cpu, d->rm, size);
        if (kind != BIT_TEST) {
            insn_set_reg(cpu, d->rm, size, bit_apply(kind, old, m));
        }
    } else {
        uint64_t ea = insn_ea(cpu, d);
        if (!(d->flags & D_IMM)) {
            /* A register offset is signed and reaches beyond the operand:
             * the operand-sized word at ea + (offset / bits) * size. */
            unsigned shift = 64 - bits;
            int64_t soff = (int64_t)(off << shift) >> shift;
            ea += (uint64_t)((soff >> __builtin_ctz(bits)) * (int64_t)size);
            ea &= insn_size_mask(d->addrsize);
        }
        if (kind == BIT_TEST) {
            old = interp_read(cpu, d->seg, ea, size);
        } else if (d->flags & D_LOCK) {
            old = bit_locked(cpu, kind, d->seg, ea, size, m);
        } else {
            /* Translated for writing before the read, so that a fault is
             * reported as the write of a read-modify-write. */
            uint64_t lin = interp_linear(cpu, d->seg, ea, size, ACC_WRITE);
            void *p;
            if (!interp_fast_tlb(cpu, lin, size, true, &p)) {
                interp_probe_write(cpu, lin, size);
            }
            old = interp_ld(cpu, lin, size);
            interp_st(cpu, lin, size, bit_apply(kind, old, m));
        }
    }
    set_eflags(cpu, (interp_compute_oszapc(cpu) & ~RFLAGS_CF) |
                    ((old & m) ? RFLAGS_CF : 0));
    return d + 1;
}

const DecodedInsn *op_bt(InterpCPU *cpu, const DecodedInsn *d)
{
    return bit_op(cpu, d, BIT_TEST);
}

const DecodedInsn *op_bts(InterpCPU *cpu, const DecodedInsn *d)
{
    return bit_op(cpu, d, BIT_SET);
}

const DecodedInsn *op_btr(InterpCPU *cpu, const DecodedInsn *d)
{
    return bit_op(cpu, d, BIT_RESET);
}

const DecodedInsn *op_btc(InterpCPU *cpu, const DecodedInsn *d)
{
    return bit_op(cpu, d, BIT_COMPLEMENT);
}

/* ---- bit scans and counts: reg = f(r/m) ---- */

/* BSF/BSR flags as Intel sets them: ZF for a zero source (with PF), else
 * PF of the index; the others cleared. */
static inline void set_scan_flags(InterpCPU *cpu, uint64_t src, uint64_t r)
{
    set_eflags(cpu, src ? parity_flag(r) : RFLAGS_ZF | RFLAGS_PF);
}

const DecodedInsn *op_bsf(InterpCPU *cpu, const DecodedInsn *d)
{
    unsigned size = d->opsize;
    uint64_t src = insn_read_rm(cpu, d, size);
    uint64_t r;

    if (src == 0) {
        set_scan_flags(cpu, 0, 0);      /* destination unchanged */
        return d + 1;
    }
    r = __builtin_ctzll(src);
    insn_set_reg(cpu, d->reg, size, r);
    set_scan_flags(cpu, src, r);
    return d + 1;
}

const DecodedInsn *op_bsr(InterpCPU *cpu, const DecodedInsn *d)
{
    unsigned size = d->opsize;
    uint64_t src = insn_read_rm(cpu, d, size);
    uint64_t r;

    if (src == 0) {
        set_scan_flags(cpu, 0, 0);
        return d + 1;
    }
    r = 63 - __builtin_clzll(src);
    insn_set_reg(cpu, d->reg, size, r);
    set_scan_flags(cpu, src, r);
    return d + 1;
}

const DecodedInsn *op_popcnt(InterpCPU *cpu, const DecodedInsn *d)
{
    unsigned size = d->opsize;
    uint64_t src = insn_read_rm(cpu, d, size);

    insn_set_reg(cpu, d->reg, size, __builtin_popcountll(src));
    set_eflags(cpu, src ? 0 : RFLAGS_ZF);
    return d + 1;
}

const DecodedInsn *op_lzcnt(InterpCPU *cpu, const DecodedInsn *d)
{
    unsigned size = d->opsize, bits = size * 8;
    uint64_t src = insn_read_rm(cpu, d, size);
    uint64_t r = src ? (uint64_t)__builtin_clzll(src) - (64 - bits) : bits;

    insn_set_reg(cpu, d->reg, size, r);
    set_eflags(cpu, (src ? 0 : RFLAGS_CF) | (r ? 0 : RFLAGS_ZF));
    return d + 1;
}

const DecodedInsn *op_tzcnt(InterpCPU *cpu, const DecodedInsn *d)
{
    unsigned size = d->opsize;
    uint64_t src = insn_read_rm(cpu, d, size);
    uint64_t r = src ? (uint64_t)__builtin_ctzll(src) : size * 8;

    insn_set_reg(cpu, d->reg, size, r);
    set_eflags(cpu, (src ? 0 : RFLAGS_CF) | (r ? 0 : RFLAGS_ZF));
    return d + 1;
}

/* ---- BMI1 ---- */

/* ANDN reg, vreg, r/m: reg = ~vreg & r/m. */
const DecodedInsn *op_andn(InterpCPU *cpu, const DecodedInsn *d)
{
    unsigned size = d->opsize;
    uint64_t src = insn_read_rm(cpu, d, size);
    uint64_t r = ~insn_get_reg(cpu, d->vreg, size) & src;

    insn_set_reg(cpu, d->reg, size, r);
    set_eflags(cpu, zs_flags(r, size));
    return d + 1;
}

/* BEXTR reg, r/m, vreg: the field of r/m at vreg[7:0], vreg[15:8] long. */
const DecodedInsn *op_bextr(InterpCPU *cpu, const DecodedInsn *d)
{
    unsigned size = d->opsize, bits = size * 8;
    uint64_t src = insn_read_rm(cpu, d, size);
    uint64_t ctl = insn_get_reg(cpu, d->vreg, size);
    unsigned start = ctl & 0xff, len = (ctl >> 8) & 0xff;
    uint64_t r = start < bits ? src >> start : 0;

    if (len < 64) {
        r &= (1ULL << len) - 1;
    }
    insn_set_reg(cpu, d->reg, size, r);
    set_eflags(cpu, r ? 0 : RFLAGS_ZF);
    return d + 1;
}

/* BLSI vreg, r/m: the lowest set bit. */
const DecodedInsn *op_blsi(InterpCPU *cpu, const DecodedInsn *d)
{
    unsigned size = d->opsize;
    uint64_t src = insn_read_rm(cpu, d, size);
    uint64_t r = src & -src;

    insn_set_reg(cpu, d->vreg, size, r);
    set_eflags(cpu, zs_flags(r, size) | (src ? RFLAGS_CF : 0));
    return d + 1;
}

/* BLSMSK vreg, r/m: the bits up to the lowest set bit. */
const DecodedInsn *op_blsmsk(InterpCPU *cpu, const DecodedInsn *d)
{
    unsigned size = d->opsize;
    uint64_t src = insn_read_rm(cpu, d, size);
    uint64_t r = (src ^ (src - 1)) & insn_size_mask(size);

    insn_set_reg(cpu, d->vreg, size, r);
    set_eflags(cpu, (zs_flags(r, size) & RFLAGS_SF) |
                    (src ? 0 : RFLAGS_CF));
    return d + 1;
}

/* BLSR vreg, r/m: clears the lowest set bit. */
const DecodedInsn *op_blsr(InterpCPU *cpu, const DecodedInsn *d)
{
    unsigned size = d->opsize;
    uint64_t src = insn_read_rm(cpu, d, size);
    uint64_t r = src & (src - 1);

    insn_set_reg(cpu, d->vreg, size, r);
    set_eflags(cpu, zs_flags(r, size) | (src ? 0 : RFLAGS_CF));
    return d + 1;
}

/* ---- BMI2 ---- */

/* BZHI reg, r/m, vreg: clears the bits of r/m from index vreg[7:0] up. */
const DecodedInsn *op_bzhi(InterpCPU *cpu, const DecodedInsn *d)
{
    unsigned size = d->opsize, bits = size * 8;
    uint64_t src = insn_read_rm(cpu, d, size);
    unsigned n = insn_get_reg(cpu, d->vreg, size) & 0xff;
    uint64_t r = n < bits ? src & ((1ULL << n) - 1) : src;

    insn_set_reg(cpu, d->reg, size, r);
    set_eflags(cpu, zs_flags(r, size) | (n > bits - 1 ? RFLAGS_CF : 0));
    return d + 1;
}

/* PDEP reg, vreg, r/m: deposits the low bits of vreg at the mask's ones. */
const DecodedInsn *op_pdep(InterpCPU *cpu, const DecodedInsn *d)
{
    unsigned size = d->opsize;
    uint64_t mask = insn_read_rm(cpu, d, size);
    uint64_t src = insn_get_reg(cpu, d->vreg, size);
    uint64_t r = 0;

    for (uint64_t k = 1; mask; mask &= mask - 1, k <<= 1) {
        if (src & k) {
            r |= mask & -mask;
        }
    }
    insn_set_reg(cpu, d->reg, size, r);
    return d + 1;
}

/* PEXT reg, vreg, r/m: gathers the bits of vreg at the mask's ones. */
const DecodedInsn *op_pext(InterpCPU *cpu, const DecodedInsn *d)
{
    unsigned size = d->opsize;
    uint64_t mask = insn_read_rm(cpu, d, size);
    uint64_t src = insn_get_reg(cpu, d->vreg, size);
    uint64_t r = 0;

    for (uint64_t k = 1; mask; mask &= mask - 1, k <<= 1) {
        if (src & mask & -mask) {
            r |= k;
        }
    }
    insn_set_reg(cpu, d->reg, size, r);
    return d + 1;
}

/* MULX reg, vreg, r/m: reg:vreg = rDX * r/m, no flags; the high half wins
 * when both name the same register. */
const DecodedInsn *op_mulx(InterpCPU *cpu, const DecodedInsn *d)
{
    unsigned size = d->opsize;
    uint64_t src = insn_read_rm(cpu, d, size);
    uint64_t a = insn_get_reg(cpu, R_EDX, size);
    uint64_t lo, hi;

    if (size == 8) {
        unsigned __int128 p = (unsigned __int128)a * src;
        lo = (uint64_t)p;
        hi = (uint64_t)(p >> 64);
    } else {
        uint64_t p = a * src;
        lo = (uint32_t)p;
        hi = p >> 32;
    }
    insn_set_reg(cpu, d->vreg, size, lo);
    insn_set_reg(cpu, d->reg, size, hi);
    return d + 1;
}

/* RORX reg, r/m, imm8: rotate right, no flags. */
const DecodedInsn *op_rorx(InterpCPU *cpu, const DecodedInsn *d)
{
    unsigned size = d->opsize, bits = size * 8;
    uint64_t v = insn_read_rm(cpu, d, size);
    unsigned c = d->imm & (bits - 1);
    uint64_t r = c ? (v >> c) | (v << (bits - c)) : v;

    insn_set_reg(cpu, d->reg, size, r);
    return d + 1;
}

/* SARX/SHLX/SHRX reg, r/m, vreg: shift by vreg (masked), no flags. */
const DecodedInsn *op_sarx(InterpCPU *cpu, const DecodedInsn *d)
{
    unsigned size = d->opsize, bits = size * 8;
    uint64_t v = insn_read_rm(cpu, d, size);
    unsigned c = insn_get_reg(cpu, d->vreg, size) & (bits - 1);
    int64_t sv = (int64_t)(v << (64 - bits)) >> (64 - bits);

    insn_set_reg(cpu, d->reg, size, (uint64_t)(sv >> c));
    return d + 1;
}

const DecodedInsn *op_shlx(InterpCPU *cpu, const DecodedInsn *d)
{
    unsigned size = d->opsize, bits = size * 8;
    uint64_t v = insn_read_rm(cpu, d, size);
    unsigned c = insn_get_reg(cpu, d->vreg, size) & (bits - 1);

    insn_set_reg(cpu, d->reg, size, v << c);
    return d + 1;
}

const DecodedInsn *op_shrx(InterpCPU *cpu, const DecodedInsn *d)
{
    unsigned size = d->opsize, bits = size * 8;
    uint64_t v = insn_read_rm(cpu, d, size);
    unsigned c = insn_get_reg(cpu, d->vreg, size) & (bits - 1);

    insn_set_reg(cpu, d->reg, size, v >> c);
    return d + 1;
}

/* ---- ADX ---- */

/* reg = reg + r/m + @flag, carry out into @flag alone. */
static const DecodedInsn *add_carry_flag(InterpCPU *cpu, const DecodedInsn *d,
                                         uint64_t flag)
{
    unsigned size = d->opsize;
    uint64_t src = insn_read_rm(cpu, d, size);
    uint64_t f = interp_compute_oszapc(cpu);
    uint64_t a = insn_get_reg(cpu, d->reg, size);
    uint64_t cin = (f & flag) ? 1 : 0;
    uint64_t r, cout;

    if (size == 8) {
        r = a + src + cin;
        cout = r < a || (cin && r == a);
    } else {
        r = a + src + cin;
        cout = r >> 32;
    }
    insn_set_reg(cpu, d->reg, size, r);
    set_eflags(cpu, (f & ~flag) | (cout ? flag : 0));
    return d + 1;
}

const DecodedInsn *op_adcx(InterpCPU *cpu, const DecodedInsn *d)
{
    return add_carry_flag(cpu, d, RFLAGS_CF);
}

const DecodedInsn *op_adox(InterpCPU *cpu, const DecodedInsn *d)
{
    return add_carry_flag(cpu, d, RFLAGS_OF);
}

/* ---- MOVBE ---- */

static inline uint64_t byte_swap(uint64_t v, unsigned size)
{
    switch (size) {
    case 2: return __builtin_bswap16(v);
    case 4: return __builtin_bswap32(v);
    default: return __builtin_bswap64(v);
    }
}

/* MOVBE reg, m (D_REG_DST) or MOVBE m, reg: a load or store with the
 * bytes reversed. */
const DecodedInsn *op_movbe(InterpCPU *cpu, const DecodedInsn *d)
{
    unsigned size = d->opsize;

    if (!(d->flags & D_MEM)) {
        interp_raise(cpu, EXCP_UD, 0);
    }
    if (d->flags & D_REG_DST) {
        uint64_t v = interp_read(cpu, d->seg, insn_ea(cpu, d), size);
        insn_set_reg(cpu, d->reg, size, byte_swap(v, size));
    } else {
        interp_write(cpu, d->seg, insn_ea(cpu, d), size,
                     byte_swap(insn_get_reg(cpu, d->reg, size), size));
    }
    return d + 1;
}

const InterpOpEntry interp_ops_bit[] = {
    { OP_bt, op_bt },
    { OP_bts, op_bts },
    { OP_btr, op_btr },
    { OP_btc, op_btc },
    { OP_bsf, op_bsf },
    { OP_bsr, op_bsr },
    { OP_popcnt, op_popcnt },
    { OP_lzcnt, op_lzcnt },
    { OP_tzcnt, op_tzcnt },
    { OP_andn, op_andn },
    { OP_bextr, op_bextr },
    { OP_blsi, op_blsi },
    { OP_blsmsk, op_blsmsk },
    { OP_blsr, op_blsr },
    { OP_bzhi, op_bzhi },
    { OP_pdep, op_pdep },
    { OP_pext, op_pext },
    { OP_mulx, op_mulx },
    { OP_rorx, op_rorx },
    { OP_sarx, op_sarx },
    { OP_shlx, op_shlx },
    { OP_shrx, op_shrx },
    { OP_adcx, op_adcx },
    { OP_adox, op_adox },
    { OP_movbe, op_movbe },
    { 0, NULL },
};
