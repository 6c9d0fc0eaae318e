/*
 * Instruction classes, part 2: bit operations, BMI/ADX, atomics, string
 * instructions, the stack, flag instructions, and instructions that must
 * fault (#UD in 64-bit mode, misused LOCK/VEX, privileged ones at CPL 3).
 *
 * Flag rules from the SDM vol. 2 "Flags Affected" sections.
 */
#include "gen.h"

#define F_ALL DT_OSZAPC
#define F_SZAPC (DT_SF | DT_ZF | DT_AF | DT_PF_FLAG | DT_CF)

static int64_t sext(uint64_t v, unsigned size)
{
    unsigned sh = 64 - size * 8;
    return (int64_t)(v << sh) >> sh;
}

/* ---- BT BTS BTR BTC BSF BSR POPCNT LZCNT TZCNT ---- */

Commit gen_bt_op(Gen *g, bool lock)
{
    static const char *const names[4] = { "bt", "bts", "btr", "btc" };
    Rng *r = &g->rng;
    int op = lock ? 1 + rng_below(r, 3) : rng_below(r, 4);
    unsigned size = gen_size(g, false), w = size * 8;
    int access = op == 0 ? MA_READ : MA_RW;
    bool mem = lock || rng_chance(r, 1, 2);
    Meta m = { .name = names[op], .fl_def = DT_CF,
               .fl_undef = DT_OF | DT_SF | DT_AF | DT_PF_FLAG };
    Enc e;

    /* BT* leaves memory ranges alone when they fault half way: no wanted
     * faults (the CPU may touch more bytes than the operand size). */
    g->want_fault = false;
    enc_init(&e);
    e.map = 1;
    e.has_modrm = true;
    if (rng_chance(r, 1, 3)) {
        /* Immediate bit offset: taken modulo the operand width, also for
         * memory operands. */
        e.op = 0xba;
        e.reg = 4 + op;
        e.imm_size = 1;
        e.imm = rng_below(r, 256);
        if (mem) {
            if (!gen_mem(g, &e, size, access, 0)) {
                return COMMIT_REJECT;
            }
        } else {
            gen_rm(g, &e, size, access, 0);
        }
    } else {
        /* Register bit offset: signed, and for memory it selects the
         * operand-sized word at EA + (offset div width) * size. */
        e.op = 0xa3 + op * 8;
        e.reg = gen_reg(g, &e, size, false);
        if (mem) {
            int64_t off = sext(gen_reg_value(g, e.reg, size), size);
            int64_t adj = (off >> __builtin_ctz(w)) * (int64_t)size;
            if (!gen_mem(g, &e, size, access, adj)) {
                /* Make the offset reachable, then try again. */
                if (rng_chance(r, 1, 2)) {
                    return COMMIT_REJECT;
                }
                if (gen_mov_imm(g, e.reg, 4, rng_below(r, 0x20000)) !=
                    COMMIT_OK) {
                    return COMMIT_REJECT;
                }
                off = sext(gen_reg_value(g, e.reg, size), size);
                adj = (off >> __builtin_ctz(w)) * (int64_t)size;
                if (!gen_mem(g, &e, size, access, adj)) {
                    return COMMIT_REJECT;
                }
            }
        } else {
            gen_rm(g, &e, size, access, 0);
        }
    }
    if (e.rm_mem && op != 0 && (lock || rng_chance(r, 1, 4))) {
        enc_pfx(&e, 0xf0);
    }
    enc_opsize(&e, size);
    return gen_commit(g, &e, &m);
}

static Commit gen_bsf(Gen *g)
{
    Rng *r = &g->rng;
    unsigned size = gen_size(g, false);
    bool rev = rng_chance(r, 1, 2);
    Meta m = { .name = rev ? "bsr" : "bsf", .fl_def = DT_ZF,
               .fl_undef = F_ALL & ~DT_ZF };
    Commit c;
    bool zero;
    Enc e;

    enc_init(&e);
    e.map = 1;
    e.op = rev ? 0xbd : 0xbc;
    e.has_modrm = true;
    e.reg = gen_reg(g, &e, size, true);
    gen_rm(g, &e, size, MA_READ, 40);
    enc_opsize(&e, size);
    zero = gen_rm_value(g, &e, size) == 0;
    c = gen_commit(g, &e, &m);
    if (c == COMMIT_OK && zero && size == 4 && !g->dead) {
        /*
         * A zero source leaves the destination undefined (SDM). Intel and
         * AMD processors keep its value; for a 32-bit operand older Intel
         * ones clear bits 63:32 and newer ones do not: rewrite those.
         */
        Enc fix;
        enc_init(&fix);
        fix.op = 0x89;
        fix.has_modrm = true;
        fix.reg = e.reg;
        fix.rm = e.reg;
        gen_repair(g, &fix, "mov");
    }
    return c;
}

Commit gen_bit(Gen *g)
{
    static const struct { const char *name; uint8_t op; } cnt[3] = {
        { "popcnt", 0xb8 }, { "lzcnt", 0xbd }, { "tzcnt", 0xbc },
    };
    Rng *r = &g->rng;
    unsigned k = rng_below(r, 10), size;
    Meta m = { 0 };
    Enc e;

    if (k < 5) {
        return gen_bt_op(g, false);
    }
    if (k < 7) {
        return gen_bsf(g);
    }
    k -= 7;
    if (k == 0 ? !dt_host()->popcnt : k == 1 ? !dt_host()->lzcnt
                                             : !dt_host()->bmi1) {
        return COMMIT_REJECT;
    }
    size = gen_size(g, false);
    m.name = cnt[k].name;
    if (k == 0) {
        m.fl_def = F_ALL;
    } else {
        m.fl_def = DT_CF | DT_ZF;
        m.fl_undef = DT_OF | DT_SF | DT_PF_FLAG | DT_AF;
    }
    enc_init(&e);
    enc_pfx(&e, 0xf3);
    e.map = 1;
    e.op = cnt[k].op;
    e.has_modrm = true;
    e.reg = gen_reg(g, &e, size, true);
    gen_rm(g, &e, size, MA_READ, 40);
    enc_opsize(&e, size);
    return gen_commit(g, &e, &m);
}

/* ---- BMI1, BMI2, ADX ---- */

Commit gen_bmi(Gen *g)
{
    Rng *r = &g->rng;
    unsigned size = rng_chance(r, 1, 2) ? 4 : 8, k = rng_below(r, 15);
    Meta m = { 0 };
    Enc e;

    if (k >= 13 ? !dt_host()->adx
                : !(k <= 4 ? dt_host()->bmi1 : dt_host()->bmi2)) {
        return COMMIT_REJECT;
    }
    enc_init(&e);
    e.has_modrm = true;
    if (k >= 13) {
        /* ADCX (66) / ADOX (F3) 0F 38 F6: only CF or OF. */
        bool ox = k == 14;
        m.name = ox ? "adox" : "adcx";
        m.fl_read = m.fl_def = ox ? DT_OF : DT_CF;
        enc_pfx(&e, ox ? 0xf3 : 0x66);
        e.map = 2;
        e.op = 0xf6;
        e.reg = gen_reg(g, &e, size, true);
        gen_rm(g, &e, size, MA_READ, 40);
        enc_opsize(&e, size);
        return gen_commit(g, &e, &m);
    }
    e.vex = true;
    e.vex_w = size == 8;
    e.map = 2;
    e.vex_v = rng_below(r, 16);
    e.reg = gen_reg(g, &e, size, true);
    switch (k) {
    case 0:
        m.name = "andn";
        e.op = 0xf2;
        m.fl_def = DT_SF | DT_ZF | DT_OF | DT_CF;
        m.fl_undef = DT_AF | DT_PF_FLAG;
        break;
    case 1:
        m.name = "bextr";
        e.op = 0xf7;
        m.fl_def = DT_ZF | DT_OF | DT_CF;
        m.fl_undef = DT_AF | DT_SF | DT_PF_FLAG;
        if (rng_chance(r, 1, 2)) {
            /* A control word with small start and length. */
            e.vex_v = rng_below(r, 16);
            if (gen_mov_imm(g, e.vex_v, 4, rng_below(r, 72) << 8 |
                            rng_below(r, 72)) != COMMIT_OK) {
                return COMMIT_REJECT;
            }
        }
        break;
    case 2: case 3: case 4: {
        static const char *const names[3] = { "blsr", "blsmsk", "blsi" };
        m.name = names[k - 2];
        e.op = 0xf3;
        e.vex_v = e.reg;                      /* destination in vvvv */
        e.reg = k - 1;
        m.fl_def = DT_SF | DT_ZF | DT_OF | DT_CF;
        m.fl_undef = DT_AF | DT_PF_FLAG;
        break;
    }
    case 5:
        m.name = "bzhi";
        e.op = 0xf5;
        m.fl_def = DT_SF | DT_ZF | DT_OF | DT_CF;
        m.fl_undef = DT_AF | DT_PF_FLAG;
        if (rng_chance(r, 1, 2) &&
            gen_mov_imm(g, e.vex_v, 4, rng_below(r, 300)) != COMMIT_OK) {
            return COMMIT_REJECT;
        }
        break;
    case 6:
        m.name = "pdep";
        e.op = 0xf5;
        e.vex_pp = 3;
        break;
    case 7:
        m.name = "pext";
        e.op = 0xf5;
        e.vex_pp = 2;
        break;
    case 8:
        m.name = "mulx";
        e.op = 0xf6;
        e.vex_pp = 3;
        break;
    case 9:
        m.name = "rorx";
        e.map = 3;
        e.op = 0xf0;
        e.vex_pp = 3;
        e.vex_v = 0;                          /* vvvv must be 1111b */
        e.imm_size = 1;
        e.imm = rng_below(r, 256);
        break;
    default: {
        static const char *const names[3] = { "sarx", "shlx", "shrx" };
        static const uint8_t pp[3] = { 2, 1, 3 };
        m.name = names[k - 10];
        e.op = 0xf7;
        e.vex_pp = pp[k - 10];
        break;
    }
    }
    gen_rm(g, &e, size, MA_READ, 40);
    return gen_commit(g, &e, &m);
}

/* ---- XADD CMPXCHG CMPXCHG8B/16B XCHG and LOCKed forms ---- */

/* Makes the accumulator equal the r/m operand half of the time. */
static bool cmpxchg_setup(Gen *g, const Enc *e, unsigned size)
{
    uint64_t v;

    if (!rng_chance(&g->rng, 1, 2) || gen_mem_uses(e, R_AX) ||
        (!e->rm_mem && (e->rm == R_AX || e->rm == DT_AH))) {
        return true;
    }
    v = gen_rm_value(g, e, size);
    return gen_mov_imm(g, R_AX, size, v) == COMMIT_OK;
}

static Commit gen_cmpxchg8b(Gen *g)
{
    Rng *r = &g->rng;
    bool wide = rng_chance(r, 1, 2) && dt_host()->cx16;
    unsigned size = wide ? 16 : 8;
    Meta m = { .name = wide ? "cmpxchg16b" : "cmpxchg8b", .fl_def = DT_ZF };
    uint64_t addr;
    Enc e;

    enc_init(&e);
    e.map = 1;
    e.op = 0xc7;
    e.reg = 1;
    e.rex_w = wide;
    /* CMPXCHG16B needs 16-byte alignment: #GP(0) otherwise. */
    g->align = wide && !rng_chance(r, 1, 16) ? 16 : 0;
    m.fault_ok = wide && g->align == 0;
    addr = gen_mem(g, &e, size, MA_RW, 0);
    if (!addr) {
        return COMMIT_REJECT;
    }
    if (rng_chance(r, 1, 2) && !gen_mem_uses(&e, R_AX) &&
        !gen_mem_uses(&e, R_DX)) {
        unsigned half = size / 2;
        if (gen_mov_imm(g, R_AX, half, gen_mem_value(addr, half)) !=
                COMMIT_OK ||
            gen_mov_imm(g, R_DX, half, gen_mem_value(addr + half, half)) !=
                COMMIT_OK) {
            return COMMIT_REJECT;
        }
    }
    if (rng_chance(r, 1, 2)) {
        enc_pfx(&e, 0xf0);
    }
    return gen_commit(g, &e, &m);
}

Commit gen_atomic(Gen *g)
{
    Rng *r = &g->rng;
    unsigned size = gen_size(g, true);
    Meta m = { .fl_def = F_ALL };
    Enc e;

    enc_init(&e);
    e.has_modrm = true;
    switch (rng_below(r, 12)) {
    case 0: case 1:
        m.name = "xadd";
        e.map = 1;
        e.op = 0xc0 + (size > 1);
        e.reg = gen_reg(g, &e, size, true);
        gen_rm(g, &e, size, MA_RW, 70);
        break;
    case 2: case 3: case 4:
        m.name = "cmpxchg";
        e.map = 1;
        e.op = 0xb0 + (size > 1);
        e.reg = gen_reg(g, &e, size, true);
        gen_rm(g, &e, size, MA_RW, 60);
        if (!cmpxchg_setup(g, &e, size)) {
            return COMMIT_REJECT;
        }
        break;
    case 5: case 6:
        return gen_cmpxchg8b(g);
    case 7: case 8:
        m.name = "xchg";
        m.fl_def = 0;
        e.op = 0x86 + (size > 1);
        e.reg = gen_reg(g, &e, size, true);
        if (!gen_mem(g, &e, size, MA_RW, 0)) {
            return COMMIT_REJECT;
        }
        break;
    case 9:
        return gen_alu_op(g, true);
    case 10:
        return gen_unary_op(g, true);
    default:
        return gen_bt_op(g, true);
    }
    if (e.rm_mem && rng_chance(r, 1, 2)) {
        enc_pfx(&e, 0xf0);
    }
    enc_opsize(&e, size);
    return gen_commit(g, &e, &m);
}

/* ---- string instructions ---- */

/* The bytes [lo, hi) that @n elements of @size from @addr touch. */
static bool string_range_ok(uint64_t addr, uint64_t n, unsigned size,
                            bool down, bool write)
{
    uint64_t lo, len;

    if (n == 0) {
        return true;
    }
    lo = down ? addr - (n - 1) * size : addr;
    len = n * size;
    return gen_in_data(lo, len, !write);
}

/* Points @reg at room for @n elements, or at a guard page when @fault. */
static bool string_pointer(Gen *g, int reg, uint64_t n, unsigned size,
                           bool down, bool write, bool fault, bool addr32)
{
    Rng *r = &g->rng;
    uint64_t span = (n ? n : 1) * size, p;

    if (fault) {
        /* Run into the guard below or, writing, into the read-only page;
         * reading, into the guard above it. */
        if (down) {
            p = DT_DATA_BASE + rng_below(r, span / 2 + 1);
        } else {
            p = (write ? DT_RO_BASE : DT_RO_BASE + DT_PAGE) - span / 2 -
                rng_below(r, size);
        }
    } else {
        p = DT_DATA_BASE + rng_below(r, DT_DATA_SIZE - span + 1);
        if (down) {
            p += span - size;
        }
    }
    if (addr32 && rng_chance(r, 1, 2)) {
        /* Junk above bit 31, which 32-bit addressing ignores. */
        return gen_mov_imm(g, reg, 8, p | rng_next(r) << 32) == COMMIT_OK;
    }
    return gen_mov_imm(g, reg, 4, p) == COMMIT_OK;
}

Commit gen_string(Gen *g)
{
    static const char *const names[5] = {
        "movs", "cmps", "stos", "lods", "scas",
    };
    static const uint8_t ops[5] = { 0xa4, 0xa6, 0xaa, 0xac, 0xae };
    Rng *r = &g->rng;
    int k = rng_below(r, 5);
    unsigned size = gen_size(g, true);
    bool addr32 = rng_chance(r, 1, 5), cmp = k == 1 || k == 4;
    bool uses_si = k == 0 || k == 1 || k == 3;
    bool uses_di = k != 3;
    bool rep = !rng_chance(r, 1, 3);
    bool fault = g->want_fault && rng_chance(r, 1, 12);
    uint64_t amask = addr32 ? 0xffffffffULL : ~0ULL, n;
    bool down;
    Meta m = { .name = names[k], .fault_ok = fault };
    Enc e;

    if (rng_chance(r, 1, 4)) {
        Meta fm = { .name = "cld" };
        Enc fe;
        enc_init(&fe);
        fe.op = rng_chance(r, 1, 2) ? 0xfc : 0xfd;
        fm.name = fe.op == 0xfc ? "cld" : "std";
        if (gen_commit(g, &fe, &fm) != COMMIT_OK) {
            return COMMIT_REJECT;
        }
    }
    down = g->cur.rflags & DT_DF;
    n = rep ? g->cur.r[R_CX] & amask : 1;
    if (rep && (n > 24 || fault || rng_chance(r, 1, 3))) {
        n = fault ? 8 + rng_below(r, 16) : rng_below(r, 17);
        if (addr32 && rng_chance(r, 1, 2)) {
            if (gen_mov_imm(g, R_CX, 8, n | rng_next(r) << 32) != COMMIT_OK) {
                return COMMIT_REJECT;
            }
        } else if (gen_mov_imm(g, R_CX, 4, n) != COMMIT_OK) {
            return COMMIT_REJECT;
        }
    }
    if (uses_si && (fault || !string_range_ok(g->cur.r[R_SI] & amask, n,
                                               size, down, false))) {
        if (!string_pointer(g, R_SI, n, size, down, false, fault, addr32)) {
            return COMMIT_REJECT;
        }
    }
    if (uses_di && (fault || !string_range_ok(g->cur.r[R_DI] & amask, n,
                                               size, down, !cmp))) {
        if (!string_pointer(g, R_DI, n, size, down, !cmp, fault, addr32)) {
            return COMMIT_REJECT;
        }
    }
    if (cmp && (!rep || n > 0)) {
        m.fl_def = F_ALL;
    }
    enc_init(&e);
    e.op = ops[k] + (size > 1);
    if (rep) {
        enc_pfx(&e, cmp && rng_chance(r, 1, 2) ? 0xf2 : 0xf3);
    }
    if (addr32) {
        enc_pfx(&e, 0x67);
    }
    enc_opsize(&e, size);
    return gen_commit(g, &e, &m);
}

/* ---- the stack ---- */

/* Whether [RSP - below, RSP + above) is in the data area; if not, now and
 * then points RSP into the middle of it. */
static bool stack_room(Gen *g, uint64_t below, uint64_t above)
{
    Rng *r = &g->rng;
    uint64_t sp = g->cur.r[R_SP];

    if (sp >= below && gen_in_data(sp - below, below + above, false)) {
        return true;
    }
    if (rng_chance(r, 1, 2)) {
        return false;
    }
    sp = DT_DATA_BASE + 0x3000 + (rng_below(r, 0x3000) & ~7ULL);
    return gen_mov_imm(g, R_SP, 4, sp) == COMMIT_OK;
}

static bool rbp_room(Gen *g, uint64_t below, uint64_t above)
{
    Rng *r = &g->rng;
    uint64_t bp = g->cur.r[R_BP];

    if (bp >= below && gen_in_data(bp - below, below + above, false)) {
        return true;
    }
    if (rng_chance(r, 1, 2)) {
        return false;
    }
    bp = DT_DATA_BASE + 0x1000 + (rng_below(r, 0x5000) & ~7ULL);
    return gen_mov_imm(g, R_BP, 4, bp) == COMMIT_OK;
}

Commit gen_stack(Gen *g)
{
    Rng *r = &g->rng;
    unsigned slot = rng_chance(r, 1, 6) ? 2 : 8;
    Meta m = { 0 };
    Enc e;

    enc_init(&e);
    switch (rng_below(r, 12)) {
    case 0: case 1:                           /* PUSH r */
        m.name = "push";
        if (!stack_room(g, slot, 0)) {
            return COMMIT_REJECT;
        }
        e.op = 0x50;
        e.opreg = rng_below(r, 16);
        break;
    case 2:                                   /* PUSH r/m */
        m.name = "push";
        if (!stack_room(g, slot, 0)) {
            return COMMIT_REJECT;
        }
        e.op = 0xff;
        e.reg = 6;
        gen_rm(g, &e, slot, MA_READ, 60);
        break;
    case 3:                                   /* PUSH imm */
        m.name = "push";
        if (!stack_room(g, slot, 0)) {
            return COMMIT_REJECT;
        }
        e.op = rng_chance(r, 1, 2) ? 0x6a : 0x68;
        e.imm_size = e.op == 0x6a ? 1 : slot == 2 ? 2 : 4;
        e.imm = gen_imm(g, e.imm_size);
        break;
    case 4: case 5:                           /* POP r */
        m.name = "pop";
        if (!stack_room(g, 0, slot)) {
            return COMMIT_REJECT;
        }
        e.op = 0x58;
        e.opreg = rng_below(r, 16);
        break;
    case 6:                                   /* POP r/m: EA after the pop */
        m.name = "pop";
        if (!stack_room(g, 0, slot)) {
            return COMMIT_REJECT;
        }
        e.op = 0x8f;
        e.reg = 0;
        g->rsp_bias = slot;
        gen_rm(g, &e, slot, MA_WRITE, 60);
        break;
    case 7: {                                 /* ENTER */
        unsigned level = rng_chance(r, 1, 2) ? rng_below(r, 2)
                       : rng_chance(r, 1, 4) ? rng_below(r, 256)
                       : rng_below(r, 7);
        unsigned lv = level & 31;
        uint64_t frame = rng_chance(r, 1, 3) ? 0 : rng_chance(r, 1, 8) ?
                         rng_below(r, 0x10000) : rng_below(r, 64);
        m.name = "enter";
        if (!stack_room(g, 8 * (lv + 1), 0) ||
            (lv > 1 && !rbp_room(g, 8 * lv, 0))) {
            return COMMIT_REJECT;
        }
        e.op = 0xc8;
        e.imm_size = 2;
        e.imm = frame;
        e.imm2_size = 1;
        e.imm2 = level;
        break;
    }
    case 8:                                   /* LEAVE */
        m.name = "leave";
        if (!rbp_room(g, 0, slot)) {
            return COMMIT_REJECT;
        }
        e.op = 0xc9;
        break;
    case 9:                                   /* PUSHF */
        m.name = "pushf";
        m.fl_read = F_ALL;
        if (!stack_room(g, slot, 0)) {
            return COMMIT_REJECT;
        }
        e.op = 0x9c;
        break;
    default: {                                /* POPF */
        uint64_t v;
        m.name = "popf";
        m.fl_def = F_ALL;
        if (!stack_room(g, 0, slot)) {
            return COMMIT_REJECT;
        }
        /* Never TF (it would trap) nor AC (alignment checks). */
        v = gen_mem_value(g->cur.r[R_SP], slot);
        if (v & (DT_TF | DT_AC_FLAG) || rng_chance(r, 1, 3)) {
            Meta pm = { .name = "push" };
            Enc pe;
            enc_init(&pe);
            pe.op = 0x68;
            pe.imm_size = slot == 2 ? 2 : 4;
            pe.imm = rng_next(r) & (DT_OSZAPC | DT_DF | DT_IF | DT_NT |
                                    DT_ID | 0x3000);
            if (!stack_room(g, slot, 0)) {
                return COMMIT_REJECT;
            }
            enc_opsize(&pe, slot);
            if (gen_commit(g, &pe, &pm) != COMMIT_OK) {
                return COMMIT_REJECT;
            }
        }
        e.op = 0x9d;
        break;
    }
    }
    enc_opsize(&e, slot == 2 ? 2 : 4);
    return gen_commit(g, &e, &m);
}

/* ---- LAHF SAHF CLC STC CMC CLD STD ---- */

Commit gen_flags(Gen *g)
{
    static const struct {
        const char *name; uint8_t op; uint32_t read, def;
    } t[7] = {
        { "lahf", 0x9f, F_SZAPC, 0 },
        { "sahf", 0x9e, 0, F_SZAPC },
        { "clc", 0xf8, 0, DT_CF },
        { "stc", 0xf9, 0, DT_CF },
        { "cmc", 0xf5, DT_CF, DT_CF },
        { "cld", 0xfc, 0, 0 },
        { "std", 0xfd, 0, 0 },
    };
    unsigned k = rng_below(&g->rng, 7);
    Meta m = { .name = t[k].name, .fl_read = t[k].read, .fl_def = t[k].def };
    Enc e;

    if (k < 2 && !dt_host()->lahf) {
        return COMMIT_REJECT;
    }
    enc_init(&e);
    e.op = t[k].op;
    return gen_commit(g, &e, &m);
}

/* ---- self-modifying code ---- */

/*
 * An instruction that rewrites the next one, which then runs in its new
 * form (SDM vol. 3, 8.1.3: a write to an instruction already fetched is
 * detected). The interpreter has decoded the old bytes into the same
 * block and must notice the store.
 */
Commit gen_smc(Gen *g)
{
    static const uint8_t alu_ops[5] = { 0, 1, 4, 5, 6 };  /* add or and
                                                             sub xor */
    Rng *r = &g->rng;
    Meta mw = { .name = "smc store" }, mt = { .name = "smc target" };
    Enc w, t;
    int reg = rng_below(r, 16), patch;

    if (reg == R_SP) {
        reg = R_AX;
    }
    enc_init(&w);
    enc_init(&t);
    w.has_modrm = true;
    w.rm_mem = true;
    w.m.base = DT_REG_RIP;
    switch (rng_below(r, 3)) {
    case 0:
        /* mov r, imm; the store replaces its immediate (4 bytes). */
        t.op = 0xb8;
        t.opreg = reg;
        t.rex_w = rng_chance(r, 1, 2);
        t.imm_size = t.rex_w ? 8 : 4;
        t.imm = gen_value(g);
        patch = (reg >= 8 || t.rex_w ? 2 : 1);
        w.op = 0xc7;
        w.reg = 0;
        w.imm_size = 4;
        w.imm = gen_imm(g, 4);
        break;
    case 1: {
        /* add/or/and/sub/xor r32, imm32; the store rewrites the ModRM
         * byte, so the operation changes. */
        int from = alu_ops[rng_below(r, 5)], to = alu_ops[rng_below(r, 5)];
        bool logic = to == 1 || to == 4 || to == 6;
        t.op = 0x81;
        t.has_modrm = true;
        t.reg = from;
        t.rm = reg;
        t.imm_size = 4;
        t.imm = gen_imm(g, 4);
        patch = 1 + (reg >= 8);
        mt.fl_def = logic ? DT_OSZAPC & ~DT_AF : DT_OSZAPC;
        mt.fl_undef = logic ? DT_AF : 0;
        w.op = 0xc6;
        w.reg = 0;
        w.imm_size = 1;
        w.imm = 0xc0 | to << 3 | (reg & 7);
        break;
    }
    default:
        /* mov r8, imm8; a locked add changes the immediate in place. */
        t.op = 0xb0;
        t.opreg = reg & 3;
        t.imm_size = 1;
        t.imm = rng_below(r, 256);
        patch = 1;
        enc_pfx(&w, 0xf0);
        w.op = 0x80;
        w.reg = 0;
        w.imm_size = 1;
        w.imm = rng_below(r, 256);
        mw.fl_def = DT_OSZAPC;
        break;
    }
    return gen_commit_pair(g, &w, &mw, &t, &mt, patch);
}

/* ---- instructions that fault ---- */

typedef struct RawInsn {
    const char *name;
    uint8_t len;
    uint8_t bytes[8];
} RawInsn;

/* #UD in 64-bit mode, or always. */
static const RawInsn ud_insns[] = {
    { "push es", 1, { 0x06 } }, { "pop es", 1, { 0x07 } },
    { "push cs", 1, { 0x0e } }, { "push ss", 1, { 0x16 } },
    { "pop ss", 1, { 0x17 } }, { "push ds", 1, { 0x1e } },
    { "pop ds", 1, { 0x1f } }, { "daa", 1, { 0x27 } },
    { "das", 1, { 0x2f } }, { "aaa", 1, { 0x37 } }, { "aas", 1, { 0x3f } },
    { "pusha", 1, { 0x60 } }, { "popa", 1, { 0x61 } },
    { "salc", 1, { 0xd6 } }, { "into", 1, { 0xce } },
    { "aam", 2, { 0xd4, 0x0a } }, { "aad", 2, { 0xd5, 0x0a } },
    { "grp1 82", 3, { 0x82, 0xc0, 0x01 } },
    { "call far", 7, { 0x9a, 1, 2, 3, 4, 5, 6 } },
    { "jmp far", 7, { 0xea, 1, 2, 3, 4, 5, 6 } },
    { "ud2", 2, { 0x0f, 0x0b } }, { "ud1", 3, { 0x0f, 0xb9, 0xc0 } },
    { "ud0", 3, { 0x0f, 0xff, 0xc0 } },
    { "0f 04", 2, { 0x0f, 0x04 } }, { "0f 0a", 2, { 0x0f, 0x0a } },
    { "0f 0c", 2, { 0x0f, 0x0c } }, { "0f 36", 2, { 0x0f, 0x36 } },
    { "c6 /1", 3, { 0xc6, 0xc8, 0x00 } }, { "fe /2", 2, { 0xfe, 0xd0 } },
    { "ff /7", 2, { 0xff, 0xf8 } }, { "mov r,sreg6", 2, { 0x8c, 0xf0 } },
    { "mov cs,r", 2, { 0x8e, 0xc8 } }, { "lea reg", 2, { 0x8d, 0xc0 } },
    { "cmpxchg8b reg", 3, { 0x0f, 0xc7, 0xc8 } },
    { "movbe reg", 4, { 0x0f, 0x38, 0xf0, 0xc0 } },
    { "lock mov", 3, { 0xf0, 0x89, 0xc0 } },
    { "lock add reg", 3, { 0xf0, 0x01, 0xc0 } },
    { "lock inc reg", 3, { 0xf0, 0xff, 0xc0 } },
    { "lock nop", 2, { 0xf0, 0x90 } },
    { "lock cmp", 4, { 0xf0, 0x39, 0x45, 0x00 } },
    { "lock bt mem", 5, { 0xf0, 0x0f, 0xa3, 0x45, 0x00 } },
    { "lock mov load", 4, { 0xf0, 0x8b, 0x45, 0x00 } },
    { "andn vex.l1", 5, { 0xc4, 0xe2, 0x7c, 0xf2, 0xc0 } },
    { "66 vex", 6, { 0x66, 0xc4, 0xe2, 0x78, 0xf2, 0xc0 } },
    { "rex vex", 6, { 0x48, 0xc4, 0xe2, 0x78, 0xf2, 0xc0 } },
    { "f3 vex", 6, { 0xf3, 0xc4, 0xe2, 0x78, 0xf2, 0xc0 } },
};

/* #GP(0) at CPL 3. */
static const RawInsn priv_insns[] = {
    { "hlt", 1, { 0xf4 } }, { "cli", 1, { 0xfa } }, { "sti", 1, { 0xfb } },
    { "in al,imm", 2, { 0xe4, 0x80 } }, { "in eax,dx", 1, { 0xed } },
    { "out imm,al", 2, { 0xe6, 0x80 } }, { "out dx,al", 1, { 0xee } },
    { "insb", 1, { 0x6c } }, { "outsb", 1, { 0x6e } },
    { "mov r,cr0", 3, { 0x0f, 0x20, 0xc0 } },
    { "mov cr3,r", 3, { 0x0f, 0x22, 0xd8 } },
    { "mov r,dr7", 3, { 0x0f, 0x21, 0xf8 } },
    { "rdmsr", 2, { 0x0f, 0x32 } }, { "wrmsr", 2, { 0x0f, 0x30 } },
    { "clts", 2, { 0x0f, 0x06 } }, { "invd", 2, { 0x0f, 0x08 } },
    { "wbinvd", 2, { 0x0f, 0x09 } },
    { "lgdt", 7, { 0x0f, 0x01, 0x15, 0, 0, 0, 0 } },
    { "lidt", 7, { 0x0f, 0x01, 0x1d, 0, 0, 0, 0 } },
    { "lmsw", 3, { 0x0f, 0x01, 0xf0 } },
    { "invlpg", 7, { 0x0f, 0x01, 0x3d, 0, 0, 0, 0 } },
    { "lldt", 3, { 0x0f, 0x00, 0xd0 } }, { "ltr", 3, { 0x0f, 0x00, 0xd8 } },
    { "swapgs", 3, { 0x0f, 0x01, 0xf8 } },
    { "sysexit", 2, { 0x0f, 0x35 } },
};

/* #BP: a trap, RIP after the instruction natively; the interpreter
 * stops with RIP at it (interp.h), which the comparison allows for. */
static const RawInsn bp_insns[] = {
    { "int3", 1, { 0xcc } }, { "int 3", 2, { 0xcd, 0x03 } },
};

Commit gen_invalid(Gen *g)
{
    Rng *r = &g->rng;
    unsigned k = rng_below(r, 12);
    const RawInsn *t =
        k < 4 ? &priv_insns[rng_below(r, G_N_ELEMENTS(priv_insns))] :
        k < 5 ? &bp_insns[rng_below(r, G_N_ELEMENTS(bp_insns))] :
                &ud_insns[rng_below(r, G_N_ELEMENTS(ud_insns))];
    Meta m = { .name = t->name, .fault_ok = true };
    Enc e;

    enc_init(&e);
    memcpy(e.raw, t->bytes, t->len);
    e.raw_len = t->len;
    return gen_commit(g, &e, &m);
}
