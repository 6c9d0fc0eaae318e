/*
 * Shifts and rotates: ROL ROR RCL RCR SHL/SAL SHR SAR SHLD SHRD (Intel SDM
 * vol. 2, "SAL/SAR/SHL/SHR", "RCL/RCR/ROL/ROR", "SHLD", "SHRD").
 *
 * The count is masked to 5 bits (6 for 64-bit operands). A masked count of
 * 0 changes no flag, but the destination is still written back, as the
 * hardware does (a 32-bit register destination gets its upper half
 * cleared). SHL/SHR/SAR keep their flags lazy (CC_OP_SHL, CC_OP_SAR); the
 * rotates and double shifts compute them. Where the SDM leaves a flag
 * undefined we follow what recent Intel CPUs do: for any count, OF is
 * what a shift or rotate by one of the original operands would give
 * (except ROL/ROR with an immediate count other than 1, which leave OF
 * alone), AF is 0 after SHLD/SHRD, and 16-bit SHLD/SHRD with a count
 * above 16 shift the 48-bit pattern dest:src:dest. SHL/SHR with counts
 * above 1 keep their lazy OF, which differs from Intel's.
 */
/* block.h: interp_fast_tlb and interp_probe_write for the memory
 * read-modify-write. */
#include "block.h"

static inline unsigned size_index(unsigned size)
{
    return __builtin_ctz(size);
}

static inline unsigned shift_count(InterpCPU *cpu, const DecodedInsn *d)
{
    unsigned c = (d->flags & D_CL) ? (uint8_t)cpu->regs[R_ECX]
                                   : (unsigned)d->imm;

    return c & (d->opsize == 8 ? 63 : 31);
}

/*
 * The destination of a shift is read and written back. A memory one is
 * translated for writing before it is read, so that a fault has the
 * error code (and CR2) of a write, as on hardware. *@lin keeps the
 * linear address for rmw_write.
 */
static uint64_t rmw_read_mem(InterpCPU *cpu, const DecodedInsn *d,
                             unsigned size, uint64_t *lin)
{
    uint64_t a = interp_linear(cpu, d->seg, insn_ea(cpu, d), size, ACC_WRITE);
    void *p;

    *lin = a;
    if (!interp_fast_tlb(cpu, a, size, true, &p)) {
        interp_probe_write(cpu, a, size);
    }
    switch (size) {
    case 1: return interp_ld8(cpu, a);
    case 2: return interp_ld16(cpu, a);
    case 4: return interp_ld32(cpu, a);
    default: return interp_ld64(cpu, a);
    }
}

static inline uint64_t rmw_read(InterpCPU *cpu, const DecodedInsn *d,
                                unsigned size, uint64_t *lin)
{
    if (d->flags & D_MEM) {
        return rmw_read_mem(cpu, d, size, lin);
    }
    return insn_get_reg(cpu, d->rm, size);
}

static inline void rmw_write(InterpCPU *cpu, const DecodedInsn *d,
                             unsigned size, uint64_t lin, uint64_t v)
{
    if (d->flags & D_MEM) {
        switch (size) {
        case 1: interp_st8(cpu, lin, v); break;
        case 2: interp_st16(cpu, lin, v); break;
        case 4: interp_st32(cpu, lin, v); break;
        default: interp_st64(cpu, lin, v); break;
        }
    } else {
        insn_set_reg(cpu, d->rm, size, v);
    }
}

static inline uint64_t parity_flag(uint64_t v)
{
    return __builtin_parity((uint8_t)v) ? 0 : RFLAGS_PF;
}

/* SF, ZF and PF of @r, an operand of @size bytes. */
static inline uint64_t szp_flags(uint64_t r, unsigned size)
{
    uint64_t f = parity_flag(r);

    r &= insn_size_mask(size);
    if (r == 0) {
        f |= RFLAGS_ZF;
    }
    if (r >> (size * 8 - 1)) {
        f |= RFLAGS_SF;
    }
    return f;
}

/* Replaces CF and OF, keeping the other four arithmetic flags. */
static inline void set_cf_of(InterpCPU *cpu, uint64_t cf, uint64_t of)
{
    uint64_t f = interp_compute_oszapc(cpu) & ~(RFLAGS_CF | RFLAGS_OF);

    cpu->cc_src = f | (cf ? RFLAGS_CF : 0) | (of ? RFLAGS_OF : 0);
    cpu->cc_op = CC_OP_EFLAGS;
}

/* ROL/ROR: CF from the result; OF as a rotate by one of the original
 * operand would set it (@of), except that Intel leaves OF alone for an
 * immediate count other than 1. */
static inline void set_rotate_flags(InterpCPU *cpu, const DecodedInsn *d,
                                    unsigned count, uint64_t cf, uint64_t of)
{
    uint64_t f = interp_compute_oszapc(cpu);

    if (count == 1 || (d->flags & D_CL)) {
        f = (f & ~RFLAGS_OF) | (of ? RFLAGS_OF : 0);
    }
    cpu->cc_src = (f & ~RFLAGS_CF) | (cf ? RFLAGS_CF : 0);
    cpu->cc_op = CC_OP_EFLAGS;
}

const DecodedInsn *op_shl(InterpCPU *cpu, const DecodedInsn *d)
{
    unsigned size = d->opsize, c = shift_count(cpu, d);
    uint64_t mask = insn_size_mask(size);
    uint64_t lin = 0, v = rmw_read(cpu, d, size, &lin);
    uint64_t src, r;

    if (__builtin_expect(c == 0, 0)) {
        rmw_write(cpu, d, size, lin, v);
        return d + 1;
    }
    src = v << (c - 1);
    r = (src << 1) & mask;
    rmw_write(cpu, d, size, lin, r);
    cpu->cc_dst = r;
    cpu->cc_src = src & mask;
    cpu->cc_op = CC_OP_SHL + size_index(size);
    return d + 1;
}

const DecodedInsn *op_shr(InterpCPU *cpu, const DecodedInsn *d)
{
    unsigned size = d->opsize, c = shift_count(cpu, d);
    uint64_t lin = 0, v = rmw_read(cpu, d, size, &lin);
    uint64_t src, r;

    if (__builtin_expect(c == 0, 0)) {
        rmw_write(cpu, d, size, lin, v);
        return d + 1;
    }
    src = v >> (c - 1);
    r = src >> 1;
    rmw_write(cpu, d, size, lin, r);
    cpu->cc_dst = r;
    cpu->cc_src = src;
    cpu->cc_op = CC_OP_SAR + size_index(size);
    return d + 1;
}

const DecodedInsn *op_sar(InterpCPU *cpu, const DecodedInsn *d)
{
    unsigned size = d->opsize, c = shift_count(cpu, d);
    unsigned ext = 64 - size * 8;
    uint64_t mask = insn_size_mask(size);
    uint64_t lin = 0, v = rmw_read(cpu, d, size, &lin);
    int64_t sv, src;
    uint64_t r;

    if (__builtin_expect(c == 0, 0)) {
        rmw_write(cpu, d, size, lin, v);
        return d + 1;
    }
    sv = (int64_t)(v << ext) >> ext;
    src = sv >> (c - 1);
    r = (uint64_t)(src >> 1) & mask;
    rmw_write(cpu, d, size, lin, r);
    cpu->cc_dst = r;
    cpu->cc_src = (uint64_t)src & mask;
    cpu->cc_op = CC_OP_SAR + size_index(size);
    return d + 1;
}

const DecodedInsn *op_rol(InterpCPU *cpu, const DecodedInsn *d)
{
    unsigned size = d->opsize, bits = size * 8, c = shift_count(cpu, d);
    uint64_t mask = insn_size_mask(size);
    uint64_t lin = 0, v = rmw_read(cpu, d, size, &lin);
    unsigned rc = c & (bits - 1);
    uint64_t r = rc ? ((v << rc) | (v >> (bits - rc))) & mask : v;

    rmw_write(cpu, d, size, lin, r);
    if (c) {
        set_rotate_flags(cpu, d, c, r & 1,
                         ((v >> (bits - 1)) ^ (v >> (bits - 2))) & 1);
    }
    return d + 1;
}

const DecodedInsn *op_ror(InterpCPU *cpu, const DecodedInsn *d)
{
    unsigned size = d->opsize, bits = size * 8, c = shift_count(cpu, d);
    uint64_t mask = insn_size_mask(size);
    uint64_t lin = 0, v = rmw_read(cpu, d, size, &lin);
    unsigned rc = c & (bits - 1);
    uint64_t r = rc ? ((v >> rc) | (v << (bits - rc))) & mask : v;

    rmw_write(cpu, d, size, lin, r);
    if (c) {
        set_rotate_flags(cpu, d, c, r >> (bits - 1),
                         ((v >> (bits - 1)) ^ v) & 1);
    }
    return d + 1;
}

/* The count of RCL/RCR: rotating through CF makes 8/16-bit operands 9/17
 * bits wide. */
static inline unsigned rc_count(unsigned c, unsigned size)
{
    return size == 1 ? c % 9 : size == 2 ? c % 17 : c;
}

const DecodedInsn *op_rcl(InterpCPU *cpu, const DecodedInsn *d)
{
    unsigned size = d->opsize, bits = size * 8;
    unsigned c = rc_count(shift_count(cpu, d), size);
    uint64_t lin = 0, v = rmw_read(cpu, d, size, &lin);
    uint64_t cf, r, ncf;

    if (c == 0) {
        rmw_write(cpu, d, size, lin, v);
        return d + 1;
    }
    cf = interp_compute_cf(cpu);
    if (size == 8) {
        r = (v << c) | (cf << (c - 1)) | (c > 1 ? v >> (65 - c) : 0);
        ncf = (v >> (64 - c)) & 1;
    } else {
        /* A (bits + 1)-bit value with CF on top, rotated left. */
        uint64_t x = v | (cf << bits);
        uint64_t xmask = (2ULL << bits) - 1;
        x = ((x << c) | (x >> (bits + 1 - c))) & xmask;
        r = x & insn_size_mask(size);
        ncf = x >> bits;
    }
    rmw_write(cpu, d, size, lin, r);
    set_cf_of(cpu, ncf, ((v >> (bits - 1)) ^ (v >> (bits - 2))) & 1);
    return d + 1;
}

const DecodedInsn *op_rcr(InterpCPU *cpu, const DecodedInsn *d)
{
    unsigned size = d->opsize, bits = size * 8;
    unsigned c = rc_count(shift_count(cpu, d), size);
    uint64_t lin = 0, v = rmw_read(cpu, d, size, &lin);
    uint64_t cf, r, ncf;

    if (c == 0) {
        rmw_write(cpu, d, size, lin, v);
        return d + 1;
    }
    cf = interp_compute_cf(cpu);
    if (size == 8) {
        r = (v >> c) | (cf << (64 - c)) | (c > 1 ? v << (65 - c) : 0);
        ncf = (v >> (c - 1)) & 1;
    } else {
        uint64_t x = v | (cf << bits);
        uint64_t xmask = (2ULL << bits) - 1;
        x = ((x >> c) | (x << (bits + 1 - c))) & xmask;
        r = x & insn_size_mask(size);
        ncf = x >> bits;
    }
    rmw_write(cpu, d, size, lin, r);
    set_cf_of(cpu, ncf, ((v >> (bits - 1)) & 1) ^ cf);
    return d + 1;
}

/* Flags of SHLD/SHRD: CF the last bit out, OF as a shift by one would
 * set it (@of), AF 0. */
static inline void set_double_shift_flags(InterpCPU *cpu, unsigned size,
                                          uint64_t r, uint64_t cf, uint64_t of)
{
    cpu->cc_src = szp_flags(r, size) | (cf ? RFLAGS_CF : 0) |
                  (of ? RFLAGS_OF : 0);
    cpu->cc_op = CC_OP_EFLAGS;
}

/* SHLD r/m, reg, imm8/CL: shifts r/m left, filling from reg. */
const DecodedInsn *op_shld(InterpCPU *cpu, const DecodedInsn *d)
{
    unsigned size = d->opsize, c = shift_count(cpu, d);
    uint64_t lin = 0, v = rmw_read(cpu, d, size, &lin);
    uint64_t src = insn_get_reg(cpu, d->reg, size);
    uint64_t r, cf;

    if (c == 0) {
        rmw_write(cpu, d, size, lin, v);
        return d + 1;
    }
    switch (size) {
    case 2: {
        uint64_t x = (v << 32) | (src << 16) | v;
        r = (x >> (32 - c)) & 0xffff;
        cf = (x >> (48 - c)) & 1;
        break;
    }
    case 4: {
        uint64_t x = (v << 32) | src;
        r = (x >> (32 - c)) & 0xffffffff;
        cf = (x >> (64 - c)) & 1;
        break;
    }
    default:
        r = (v << c) | (src >> (64 - c));
        cf = (v >> (64 - c)) & 1;
        break;
    }
    rmw_write(cpu, d, size, lin, r);
    set_double_shift_flags(cpu, size, r, cf,
                           ((v >> (size * 8 - 1)) ^ (v >> (size * 8 - 2))) & 1);
    return d + 1;
}

/* SHRD r/m, reg, imm8/CL: shifts r/m right, filling from reg. */
const DecodedInsn *op_shrd(InterpCPU *cpu, const DecodedInsn *d)
{
    unsigned size = d->opsize, c = shift_count(cpu, d);
    uint64_t lin = 0, v = rmw_read(cpu, d, size, &lin);
    uint64_t src = insn_get_reg(cpu, d->reg, size);
    uint64_t r, cf;

    if (c == 0) {
        rmw_write(cpu, d, size, lin, v);
        return d + 1;
    }
    switch (size) {
    case 2: {
        uint64_t x = (v << 32) | (src << 16) | v;
        r = (x >> c) & 0xffff;
        cf = (x >> (c - 1)) & 1;
        break;
    }
    case 4: {
        uint64_t x = (src << 32) | v;
        r = (x >> c) & 0xffffffff;
        cf = (x >> (c - 1)) & 1;
        break;
    }
    default:
        r = (v >> c) | (src << (64 - c));
        cf = (v >> (c - 1)) & 1;
        break;
    }
    rmw_write(cpu, d, size, lin, r);
    set_double_shift_flags(cpu, size, r, cf,
                           ((v >> (size * 8 - 1)) ^ src) & 1);
    return d + 1;
}

const InterpOpEntry interp_ops_shift[] = {
    { OP_rol, op_rol },
    { OP_ror, op_ror },
    { OP_rcl, op_rcl },
    { OP_rcr, op_rcr },
    { OP_shl, op_shl },
    { OP_shr, op_shr },
    { OP_sar, op_sar },
    { OP_shld, op_shld },
    { OP_shrd, op_shrd },
    { 0, NULL },
};
