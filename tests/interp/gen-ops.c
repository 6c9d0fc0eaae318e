/*
 * Instruction classes, part 1: ALU, unary, data movement, conditional
 * moves/sets, branches, multiply/divide, shifts and rotates.
 *
 * Flag rules come from the instructions' "Flags Affected" sections of the
 * Intel SDM vol. 2; what they call undefined goes into Meta.fl_undef,
 * and no later instruction may read it (Meta.fl_read) before it is
 * defined again. The flags left undefined at the end are not compared.
 *
 *   AND OR XOR TEST           AF undefined
 *   MUL IMUL (all forms)      SF ZF AF PF undefined
 *   DIV IDIV                  all six undefined
 *   SHL SHR SAR (count c      c = 0: unaffected; AF undefined; OF unless
 *     after masking)          c = 1; CF for SHL/SHR when c >= width
 *   ROL ROR RCL RCR           c = 0: unaffected; OF unless c = 1
 *   SHLD SHRD                 c = 0: unaffected; AF, OF unless c = 1;
 *                             c > width (16-bit): everything, so avoided
 *   BT BTS BTR BTC            OF SF AF PF undefined (ZF kept)
 *   BSF BSR                   all but ZF undefined; a zero source leaves
 *                             the destination undefined (see gen_bsf)
 *   LZCNT TZCNT               OF SF AF PF undefined
 *   ANDN BLSI BLSMSK BLSR     AF PF undefined
 *   BZHI                      AF PF undefined
 *   BEXTR                     AF SF PF undefined
 *   BSWAP r16                 the result is undefined (overwritten)
 */
#include "gen.h"

#define F_ALL DT_OSZAPC

static uint64_t size_mask(unsigned size)
{
    return size >= 8 ? ~0ULL : (1ULL << (size * 8)) - 1;
}

static int64_t sext(uint64_t v, unsigned size)
{
    unsigned sh = 64 - size * 8;
    return (int64_t)(v << sh) >> sh;
}

uint64_t gen_imm(Gen *g, int bytes)
{
    Rng *r = &g->rng;
    uint64_t v;

    switch (rng_below(r, 6)) {
    case 0: v = rng_below(r, 4); break;
    case 1: v = -(uint64_t)rng_below(r, 3); break;
    case 2: v = 1ULL << rng_below(r, bytes * 8); break;
    case 3: v = (1ULL << (bytes * 8 - 1)) - rng_below(r, 2); break;
    default: v = rng_next(r); break;
    }
    return v & size_mask(bytes);
}

/* The current value of the r/m operand built by gen_rm/gen_mem. */
uint64_t gen_rm_value(Gen *g, const Enc *e, unsigned size)
{
    if (e->rm_mem) {
        return gen_mem_value(g->mem_addr, size);
    }
    return gen_reg_value(g, e->rm, size);
}

bool gen_mem_uses(const Enc *e, int reg)
{
    return e->rm_mem && (e->m.base == reg || e->m.index == reg);
}

/* ---- ALU ---- */

static const char *const alu_names[8] = {
    "add", "or", "adc", "sbb", "and", "sub", "xor", "cmp",
};

Commit gen_alu_op(Gen *g, bool lock)
{
    Rng *r = &g->rng;
    int op = rng_below(r, 8), form;
    unsigned size = gen_size(g, true);
    bool logic = op == 1 || op == 4 || op == 6;
    Meta m = { 0 };
    Enc e;

    enc_init(&e);
    if (lock && op == 7) {
        op = 0;
        logic = false;
    }
    m.name = alu_names[op];
    m.fl_def = logic ? F_ALL & ~DT_AF : F_ALL;
    m.fl_undef = logic ? DT_AF : 0;
    m.fl_read = (op == 2 || op == 3) ? DT_CF : 0;
    form = lock ? (rng_chance(r, 1, 2) ? 0 : 3) : rng_below(r, 5);
    switch (form) {
    case 0:                                   /* op r/m, reg */
        e.op = op * 8 + (size > 1);
        e.has_modrm = true;
        e.reg = gen_reg(g, &e, size, false);
        if (lock) {
            if (!gen_mem(g, &e, size, MA_RW, 0)) {
                return COMMIT_REJECT;
            }
        } else if (gen_rm(g, &e, size, op == 7 ? MA_READ : MA_RW, 50) >= 0 &&
                   rng_chance(r, 1, 8)) {
            e.rm = e.reg;                     /* xor eax, eax and friends */
        }
        break;
    case 1:                                   /* op reg, r/m */
        e.op = op * 8 + 2 + (size > 1);
        e.has_modrm = true;
        e.reg = gen_reg(g, &e, size, op != 7);
        gen_rm(g, &e, size, MA_READ, 50);
        break;
    case 2:                                   /* op AL/AX/EAX/RAX, imm */
        e.op = op * 8 + 4 + (size > 1);
        e.imm_size = size == 8 ? 4 : size;
        e.imm = gen_imm(g, e.imm_size);
        break;
    default:                                  /* group 1: 80, 81, 83 */
        e.has_modrm = true;
        e.reg = op;
        if (size == 1) {
            e.op = 0x80;
            e.imm_size = 1;
        } else if (rng_chance(r, 1, 2)) {
            e.op = 0x83;
            e.imm_size = 1;
        } else {
            e.op = 0x81;
            e.imm_size = size == 2 ? 2 : 4;
        }
        e.imm = gen_imm(g, e.imm_size);
        if (lock) {
            if (!gen_mem(g, &e, size, MA_RW, 0)) {
                return COMMIT_REJECT;
            }
        } else {
            gen_rm(g, &e, size, op == 7 ? MA_READ : MA_RW, 50);
        }
        break;
    }
    if (lock || (e.rm_mem && op != 7 && form != 1 && rng_chance(r, 1, 4))) {
        enc_pfx(&e, 0xf0);
    }
    enc_opsize(&e, size);
    if (size == 1 && rng_chance(r, 1, 32)) {
        e.rex_w = true;                       /* ignored for byte operands */
    }
    return gen_commit(g, &e, &m);
}

static Commit gen_test(Gen *g)
{
    Rng *r = &g->rng;
    unsigned size = gen_size(g, true);
    Meta m = { .name = "test", .fl_def = F_ALL & ~DT_AF, .fl_undef = DT_AF };
    Enc e;

    enc_init(&e);
    switch (rng_below(r, 3)) {
    case 0:
        e.op = 0x84 + (size > 1);
        e.has_modrm = true;
        e.reg = gen_reg(g, &e, size, false);
        gen_rm(g, &e, size, MA_READ, 50);
        break;
    case 1:
        e.op = 0xa8 + (size > 1);
        e.imm_size = size == 8 ? 4 : size;
        e.imm = gen_imm(g, e.imm_size);
        break;
    default:
        e.op = 0xf6 + (size > 1);
        e.reg = 0;
        e.imm_size = size == 8 ? 4 : size;
        e.imm = gen_imm(g, e.imm_size);
        gen_rm(g, &e, size, MA_READ, 50);
        break;
    }
    enc_opsize(&e, size);
    return gen_commit(g, &e, &m);
}

Commit gen_alu(Gen *g)
{
    return rng_chance(&g->rng, 1, 9) ? gen_test(g) : gen_alu_op(g, false);
}

/* ---- INC DEC NOT NEG ---- */

Commit gen_unary_op(Gen *g, bool lock)
{
    static const char *const names[4] = { "inc", "dec", "not", "neg" };
    Rng *r = &g->rng;
    int k = rng_below(r, 4);
    unsigned size = gen_size(g, true);
    Meta m = { .name = names[k] };
    Enc e;

    enc_init(&e);
    e.has_modrm = true;
    if (k < 2) {
        e.op = size == 1 ? 0xfe : 0xff;
        e.reg = k;
        m.fl_def = F_ALL & ~DT_CF;            /* CF is kept */
    } else {
        e.op = size == 1 ? 0xf6 : 0xf7;
        e.reg = k;
        m.fl_def = k == 3 ? F_ALL : 0;
    }
    if (lock) {
        if (!gen_mem(g, &e, size, MA_RW, 0)) {
            return COMMIT_REJECT;
        }
    } else {
        gen_rm(g, &e, size, MA_RW, 50);
    }
    if (e.rm_mem && (lock || rng_chance(r, 1, 4))) {
        enc_pfx(&e, 0xf0);
    }
    enc_opsize(&e, size);
    return gen_commit(g, &e, &m);
}

Commit gen_unary(Gen *g)
{
    return gen_unary_op(g, false);
}

/* ---- data movement ---- */

static Commit gen_moffs(Gen *g)
{
    Rng *r = &g->rng;
    unsigned size = gen_size(g, true);
    bool store = rng_chance(r, 1, 2), addr32 = rng_chance(r, 1, 6);
    bool fault = g->want_fault && rng_chance(r, 1, 10);
    Meta m = { .name = "mov moffs", .fault_ok = fault };
    Enc e;

    enc_init(&e);
    e.op = 0xa0 + (store ? 2 : 0) + (size > 1);
    e.imm_size = addr32 ? 4 : 8;
    e.imm = gen_target(g, size, store ? MA_WRITE : MA_READ, fault, 0);
    if (addr32) {
        enc_pfx(&e, 0x67);
    }
    enc_opsize(&e, size);
    return gen_commit(g, &e, &m);
}

static Commit gen_xlat(Gen *g)
{
    Rng *r = &g->rng;
    bool addr32 = rng_chance(r, 1, 4);
    Meta m = { .name = "xlat" };
    uint64_t bx = g->cur.r[R_BX];
    Enc e;

    if (addr32) {
        bx = (uint32_t)bx;
    }
    if (!gen_in_data(bx, 256, true)) {
        if (gen_mov_imm(g, R_BX, 4, DT_DATA_BASE +
                        rng_below(r, DT_DATA_SIZE - 256)) != COMMIT_OK) {
            return COMMIT_REJECT;
        }
    }
    enc_init(&e);
    e.op = 0xd7;
    e.rex_w = rng_chance(r, 1, 4);
    if (addr32) {
        enc_pfx(&e, 0x67);
    }
    return gen_commit(g, &e, &m);
}

static Commit gen_bswap(Gen *g)
{
    unsigned size = gen_size(g, false);
    Meta m = { .name = "bswap" };
    Commit c;
    Enc e;

    enc_init(&e);
    e.map = 1;
    e.op = 0xc8;
    e.opreg = gen_reg(g, &e, 4, true);
    enc_opsize(&e, size);
    c = gen_commit(g, &e, &m);
    if (c == COMMIT_OK && size == 2 && !g->dead) {
        /* SDM: BSWAP of a 16-bit register is undefined: overwrite it. */
        Enc fix;
        enc_init(&fix);
        fix.op = 0xb8;
        fix.opreg = e.opreg;
        fix.imm_size = 2;
        fix.imm = gen_imm(g, 2);
        enc_opsize(&fix, 2);
        gen_repair(g, &fix, "mov");
    }
    return c;
}

/* MOV r/m, Sreg: the selectors are those of a Linux process (CS 0x33,
 * SS 0x2b, the others 0), which the guest state copies. */
static Commit gen_mov_sreg(Gen *g)
{
    Meta m = { .name = "mov sreg" };
    Enc e;

    enc_init(&e);
    e.op = 0x8c;
    e.reg = rng_below(&g->rng, 6);
    e.has_modrm = true;
    if (gen_rm(g, &e, 2, MA_WRITE, 40) >= 0) {
        enc_opsize(&e, gen_size(g, false));
    }
    return gen_commit(g, &e, &m);
}

static Commit gen_nop(Gen *g)
{
    Rng *r = &g->rng;
    Meta m = { .name = "nop" };
    Enc e;

    enc_init(&e);
    switch (rng_below(r, 4)) {
    case 0:
        e.op = 0x90;
        break;
    case 1:
        e.op = 0x90;
        enc_pfx(&e, rng_chance(r, 1, 2) ? 0x66 : 0xf3);   /* F3 90: PAUSE */
        break;
    default:
        e.map = 1;
        e.op = 0x1f;
        e.reg = 0;
        e.has_modrm = true;
        if (rng_chance(r, 1, 3) || !gen_mem(g, &e, 1, MA_NONE, 0)) {
            e.rm_mem = false;
            e.rm = rng_below(r, 16);
        }
        enc_opsize(&e, gen_size(g, false));
        break;
    }
    return gen_commit(g, &e, &m);
}

Commit gen_mov(Gen *g)
{
    Rng *r = &g->rng;
    unsigned size = gen_size(g, true), src;
    Meta m = { .name = "mov" };
    Enc e;

    enc_init(&e);
    switch (rng_below(r, 17)) {
    case 0: case 1:                           /* MOV r/m, r */
        e.op = 0x88 + (size > 1);
        e.has_modrm = true;
        e.reg = gen_reg(g, &e, size, false);
        gen_rm(g, &e, size, MA_WRITE, 50);
        break;
    case 2: case 3:                           /* MOV r, r/m */
        e.op = 0x8a + (size > 1);
        e.has_modrm = true;
        e.reg = gen_reg(g, &e, size, true);
        gen_rm(g, &e, size, MA_READ, 50);
        break;
    case 4:                                   /* MOV r/m, imm */
        e.op = 0xc6 + (size > 1);
        e.reg = 0;
        e.imm_size = size == 8 ? 4 : size;
        e.imm = gen_imm(g, e.imm_size);
        gen_rm(g, &e, size, MA_WRITE, 50);
        break;
    case 5:                                   /* MOV r, imm (imm64 too) */
        e.op = size == 1 ? 0xb0 : 0xb8;
        e.opreg = gen_reg(g, &e, size, true);
        e.imm_size = size;
        e.imm = size == 8 && rng_chance(r, 1, 2) ? gen_value(g)
                                                 : gen_imm(g, size);
        break;
    case 6:
        return gen_moffs(g);
    case 7: case 8: {                         /* MOVZX, MOVSX */
        bool sx = rng_chance(r, 1, 2);
        src = rng_chance(r, 1, 2) ? 1 : 2;
        size = gen_size(g, false);
        m.name = sx ? "movsx" : "movzx";
        e.map = 1;
        e.op = (sx ? 0xbe : 0xb6) + (src == 2);
        e.has_modrm = true;
        e.reg = gen_reg(g, &e, size, true);
        gen_rm(g, &e, src, MA_READ, 50);
        break;
    }
    case 9:                                   /* MOVSXD */
        size = gen_size(g, false);
        m.name = "movsxd";
        e.op = 0x63;
        e.has_modrm = true;
        e.reg = gen_reg(g, &e, size, true);
        gen_rm(g, &e, size == 2 ? 2 : 4, MA_READ, 50);
        break;
    case 10:                                  /* LEA */
        size = gen_size(g, false);
        m.name = "lea";
        e.op = 0x8d;
        e.reg = gen_reg(g, &e, size, true);
        if (!gen_mem(g, &e, 1, MA_NONE, 0)) {
            return COMMIT_REJECT;
        }
        break;
    case 11:                                  /* XCHG */
        m.name = "xchg";
        if (rng_chance(r, 1, 2)) {
            e.op = 0x86 + (size > 1);
            e.has_modrm = true;
            e.reg = gen_reg(g, &e, size, true);
            if (gen_rm(g, &e, size, MA_RW, 40) < 0 && rng_chance(r, 1, 3)) {
                enc_pfx(&e, 0xf0);
            }
        } else {
            size = gen_size(g, false);
            e.op = 0x90;                      /* 90 alone is NOP */
            e.opreg = gen_reg(g, &e, size, true);
        }
        break;
    case 12:
        return gen_bswap(g);
    case 13:                                  /* CBW family, CWD family */
        size = gen_size(g, false);
        e.op = rng_chance(r, 1, 2) ? 0x98 : 0x99;
        m.name = e.op == 0x98 ? "cbw" : "cwd";
        break;
    case 14:                                  /* MOVBE */
        if (!dt_host()->movbe) {
            return COMMIT_REJECT;
        }
        size = gen_size(g, false);
        m.name = "movbe";
        e.map = 2;
        e.op = rng_chance(r, 1, 2) ? 0xf0 : 0xf1;
        e.reg = gen_reg(g, &e, size, e.op == 0xf0);
        if (!gen_mem(g, &e, size, e.op == 0xf0 ? MA_READ : MA_WRITE, 0)) {
            return COMMIT_REJECT;
        }
        break;
    case 15:
        return rng_chance(r, 1, 2) ? gen_nop(g) : gen_mov_sreg(g);
    default:
        return gen_xlat(g);
    }
    enc_opsize(&e, size);
    return gen_commit(g, &e, &m);
}

/* ---- CMOVcc, SETcc ---- */

Commit gen_cond(Gen *g)
{
    Rng *r = &g->rng;
    int cc = rng_below(r, 16);
    Meta m = { .fl_read = cc_flags(cc) };
    Enc e;

    enc_init(&e);
    e.map = 1;
    e.has_modrm = true;
    /* CMOV reads its memory operand even when it does not move; whether
     * that faults is not something to compare. */
    g->want_fault = false;
    if (rng_chance(r, 1, 2)) {
        unsigned size = gen_size(g, false);
        m.name = "cmovcc";
        e.op = 0x40 + cc;
        e.reg = gen_reg(g, &e, size, true);
        gen_rm(g, &e, size, MA_READ, 40);
        enc_opsize(&e, size);
    } else {
        m.name = "setcc";
        e.op = 0x90 + cc;
        e.reg = rng_below(r, 8);              /* ignored by the CPU */
        gen_rm(g, &e, 1, MA_WRITE, 40);
    }
    return gen_commit(g, &e, &m);
}

/* ---- branches ---- */

Commit gen_branch_insn(Gen *g)
{
    Rng *r = &g->rng;
    int cc = rng_below(r, 16), skip = rng_below(r, 4);
    Meta m = { 0 };
    Enc e;

    enc_init(&e);
    switch (rng_below(r, 10)) {
    case 0: case 1: case 2: case 3: case 4:   /* Jcc */
        m.name = "jcc";
        m.fl_read = cc_flags(cc);
        if (rng_chance(r, 2, 3)) {
            e.op = 0x70 + cc;
            e.rel_size = 1;
        } else {
            e.map = 1;
            e.op = 0x80 + cc;
            e.rel_size = 4;
        }
        break;
    case 5:                                   /* JMP */
        m.name = "jmp";
        e.op = rng_chance(r, 1, 2) ? 0xeb : 0xe9;
        e.rel_size = e.op == 0xeb ? 1 : 4;
        skip = 1 + rng_below(r, 3);
        break;
    case 6: case 7:                           /* LOOP, LOOPE, LOOPNE */
        e.op = 0xe0 + rng_below(r, 3);
        m.name = e.op == 0xe2 ? "loop" : e.op == 0xe1 ? "loope" : "loopne";
        m.fl_read = e.op == 0xe2 ? 0 : DT_ZF;
        e.rel_size = 1;
        if (rng_chance(r, 1, 4)) {
            enc_pfx(&e, 0x67);
        }
        break;
    case 8:                                   /* JRCXZ, JECXZ */
        m.name = "jrcxz";
        e.op = 0xe3;
        e.rel_size = 1;
        if (rng_chance(r, 1, 3)) {
            enc_pfx(&e, 0x67);
        }
        if (rng_chance(r, 1, 3)) {
            gen_mov_imm(g, R_CX, 4, rng_below(r, 2));
        }
        break;
    default:                                  /* CALL rel32 */
        m.name = "call";
        if (!gen_in_data(g->cur.r[R_SP] - 8, 8, false)) {
            return COMMIT_REJECT;
        }
        e.op = 0xe8;
        e.rel_size = 4;
        break;
    }
    return gen_branch(g, &e, &m, skip);
}

/* ---- MUL IMUL DIV IDIV ---- */

/* Whether DIV/IDIV of the current RDX:RAX (AX) by @d does not #DE. */
static bool div_ok(Gen *g, bool sign, unsigned size, uint64_t d)
{
    unsigned w = size * 8;
    uint64_t mask = size_mask(size);
    unsigned __int128 n, q, ad, limit;
    bool neg;

    if (size == 1) {
        n = g->cur.r[R_AX] & 0xffff;
        w = 8;
        if (sign) {
            n = (unsigned __int128)(__int128)(int16_t)n;
        }
    } else {
        uint64_t lo = g->cur.r[R_AX] & mask, hi = g->cur.r[R_DX] & mask;
        n = ((unsigned __int128)hi << w) | lo;
        if (sign && size < 8) {
            /* Sign-extend the 2w-bit dividend to 128 bits. */
            unsigned sh = 128 - 2 * w;
            n = (unsigned __int128)((__int128)(n << sh) >> sh);
        }
    }
    d &= mask;
    if (d == 0) {
        return false;
    }
    if (!sign) {
        q = n / d;
        return q <= mask;
    }
    neg = (__int128)n < 0;
    ad = neg ? -n : n;
    {
        int64_t sd = sext(d, size);
        unsigned __int128 asd = sd < 0 ? -(unsigned __int128)(__int128)sd
                                       : (unsigned __int128)sd;
        q = ad / asd;
        neg ^= sd < 0;
    }
    limit = (unsigned __int128)1 << (w - 1);
    return neg ? q <= limit : q < limit;
}

static Commit gen_div(Gen *g)
{
    Rng *r = &g->rng;
    bool sign = rng_chance(r, 1, 2);
    unsigned size = gen_size(g, true);
    Meta m = { .name = sign ? "idiv" : "div", .fl_undef = F_ALL };
    Enc e;

    enc_init(&e);
    e.op = size == 1 ? 0xf6 : 0xf7;
    e.reg = sign ? 7 : 6;
    gen_rm(g, &e, size, MA_READ, 40);
    enc_opsize(&e, size);
    if (!div_ok(g, sign, size, gen_rm_value(g, &e, size))) {
        if (rng_chance(r, 1, 6)) {
            m.fault_ok = true;                /* #DE */
            return gen_commit(g, &e, &m);
        }
        if (gen_mem_uses(&e, R_AX) || gen_mem_uses(&e, R_DX)) {
            return COMMIT_REJECT;
        }
        /* Make the dividend fit: sign- or zero-extend the low half. */
        if (sign) {
            Meta cm = { .name = "cwd" };
            Enc ce;
            enc_init(&ce);
            ce.op = size == 1 ? 0x98 : 0x99;
            enc_opsize(&ce, size == 1 ? 2 : size);
            if (gen_commit(g, &ce, &cm) != COMMIT_OK) {
                return COMMIT_REJECT;
            }
        } else if (gen_mov_imm(g, size == 1 ? DT_AH : R_DX,
                               size == 8 ? 4 : size, 0) != COMMIT_OK) {
            return COMMIT_REJECT;
        }
        if (!div_ok(g, sign, size, gen_rm_value(g, &e, size))) {
            return COMMIT_REJECT;
        }
    }
    return gen_commit(g, &e, &m);
}

Commit gen_muldiv(Gen *g)
{
    Rng *r = &g->rng;
    unsigned size = gen_size(g, true);
    Meta m = { .fl_def = DT_CF | DT_OF,
               .fl_undef = DT_SF | DT_ZF | DT_AF | DT_PF_FLAG };
    Enc e;

    enc_init(&e);
    e.has_modrm = true;
    switch (rng_below(r, 9)) {
    case 0: case 1:                           /* MUL, IMUL r/m */
        e.op = size == 1 ? 0xf6 : 0xf7;
        e.reg = rng_chance(r, 1, 2) ? 4 : 5;
        m.name = e.reg == 4 ? "mul" : "imul";
        gen_rm(g, &e, size, MA_READ, 40);
        break;
    case 2:                                   /* IMUL r, r/m */
        size = gen_size(g, false);
        m.name = "imul2";
        e.map = 1;
        e.op = 0xaf;
        e.reg = gen_reg(g, &e, size, true);
        gen_rm(g, &e, size, MA_READ, 40);
        break;
    case 3:                                   /* IMUL r, r/m, imm */
        size = gen_size(g, false);
        m.name = "imul3";
        e.op = rng_chance(r, 1, 2) ? 0x6b : 0x69;
        e.reg = gen_reg(g, &e, size, true);
        e.imm_size = e.op == 0x6b ? 1 : size == 2 ? 2 : 4;
        e.imm = gen_imm(g, e.imm_size);
        gen_rm(g, &e, size, MA_READ, 40);
        break;
    default:
        return gen_div(g);
    }
    enc_opsize(&e, size);
    return gen_commit(g, &e, &m);
}

/* ---- shifts and rotates ---- */

static unsigned gen_count(Gen *g, unsigned w)
{
    static const unsigned fixed[] = { 0, 1, 2, 7, 8, 9, 15, 16, 17, 31, 32,
                                      33, 63, 64, 65 };
    Rng *r = &g->rng;

    switch (rng_below(r, 5)) {
    case 0: return 1;
    case 1: return fixed[rng_below(r, G_N_ELEMENTS(fixed))];
    case 2: return w - 1 + rng_below(r, 3);
    case 3: return rng_below(r, 256);
    default: return rng_below(r, w);
    }
}

/* Group 2: @op is ModRM.reg (0 ROL, 1 ROR, 2 RCL, 3 RCR, 4 SHL, 5 SHR,
 * 7 SAR), @c the count after masking. */
static void shift_meta(Meta *m, int op, unsigned size, unsigned c)
{
    unsigned w = size * 8;

    if (c == 0) {
        return;                               /* flags unaffected */
    }
    switch (op) {
    case 0: case 1:
        m->fl_def = DT_CF | (c == 1 ? DT_OF : 0);
        m->fl_undef = c == 1 ? 0 : DT_OF;
        break;
    case 2: case 3: {
        /* The value rotates by count mod 9 (8-bit) or 17 (16-bit): when
         * that is 0 nothing changes, CF included. */
        unsigned tc = size == 1 ? c % 9 : size == 2 ? c % 17 : c;
        m->fl_read = tc ? DT_CF : 0;
        m->fl_def = (tc ? DT_CF : 0) | (c == 1 ? DT_OF : 0);
        m->fl_undef = c == 1 ? 0 : DT_OF;
        break;
    }
    default:
        m->fl_def = DT_SF | DT_ZF | DT_PF_FLAG | (c == 1 ? DT_OF : 0);
        m->fl_undef = DT_AF | (c == 1 ? 0 : DT_OF);
        /* CF is undefined for SHL/SHR when count >= the operand width. */
        if (op == 7 || c < w) {
            m->fl_def |= DT_CF;
        } else {
            m->fl_undef |= DT_CF;
        }
        break;
    }
}

static Commit gen_shxd(Gen *g)
{
    Rng *r = &g->rng;
    unsigned size = gen_size(g, false), w = size * 8, count, c;
    bool right = rng_chance(r, 1, 2), cl = rng_chance(r, 1, 2);
    Meta m = { .name = right ? "shrd" : "shld" };
    Enc e;

    if (cl) {
        count = g->cur.r[R_CX] & 0xff;
        c = count & (size == 8 ? 63 : 31);
        if (rng_chance(r, 1, 3) || (size == 2 && c > 16)) {
            count = size == 2 ? rng_below(r, 17) : gen_count(g, w);
            if (gen_mov_imm(g, R_CX, 1, count) != COMMIT_OK) {
                return COMMIT_REJECT;
            }
        }
    } else {
        count = gen_count(g, w);
    }
    c = count & (size == 8 ? 63 : 31);
    if (size == 2 && c > 16) {
        /* SDM: the result and flags are undefined: pick another count. */
        if (cl) {
            return COMMIT_REJECT;
        }
        count = c = rng_below(r, 17);
    }
    enc_init(&e);
    e.map = 1;
    e.op = (right ? 0xac : 0xa4) + (cl ? 1 : 0);
    e.has_modrm = true;
    e.reg = gen_reg(g, &e, size, false);
    if (!cl) {
        e.imm_size = 1;
        e.imm = count;
    }
    gen_rm(g, &e, size, MA_RW, 40);
    enc_opsize(&e, size);
    if (c != 0) {
        m.fl_def = DT_CF | DT_SF | DT_ZF | DT_PF_FLAG | (c == 1 ? DT_OF : 0);
        m.fl_undef = DT_AF | (c == 1 ? 0 : DT_OF);
    }
    return gen_commit(g, &e, &m);
}

Commit gen_shift(Gen *g)
{
    static const char *const names[8] = {
        "rol", "ror", "rcl", "rcr", "shl", "shr", "sal", "sar",
    };
    Rng *r = &g->rng;
    unsigned size, w, count, form;
    int op;
    Meta m = { 0 };
    Enc e;

    if (rng_chance(r, 1, 4)) {
        return gen_shxd(g);
    }
    op = rng_below(r, 7);
    op = op == 6 ? 7 : op;
    size = gen_size(g, true);
    w = size * 8;
    form = rng_below(r, 3);
    if (form == 2) {
        count = g->cur.r[R_CX] & 0xff;
        if (rng_chance(r, 1, 3)) {
            count = gen_count(g, w);
            if (gen_mov_imm(g, R_CX, 1, count) != COMMIT_OK) {
                return COMMIT_REJECT;
            }
        }
    } else {
        count = form == 1 ? 1 : gen_count(g, w);
    }
    m.name = names[op];
    shift_meta(&m, op, size, count & (size == 8 ? 63 : 31));
    enc_init(&e);
    e.op = (form == 0 ? 0xc0 : form == 1 ? 0xd0 : 0xd2) + (size > 1);
    e.reg = op;
    if (form == 0) {
        e.imm_size = 1;
        e.imm = count;
    }
    gen_rm(g, &e, size, MA_RW, 40);
    enc_opsize(&e, size);
    return gen_commit(g, &e, &m);
}
