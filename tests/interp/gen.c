/*
 * The sequence generator's driver: random values and registers, memory
 * operands that land where we want them, running each instruction on the
 * host as it is chosen, branches, and the assembly of a whole case.
 */
#include <cpuid.h>
#include <stdio.h>
#include <string.h>
#include "gen.h"

const char *const dt_class_names[CLS_NR] = {
    [CLS_ALU] = "alu", [CLS_UNARY] = "unary", [CLS_MOV] = "mov",
    [CLS_COND] = "cond", [CLS_BRANCH] = "branch", [CLS_MULDIV] = "muldiv",
    [CLS_SHIFT] = "shift", [CLS_BIT] = "bit", [CLS_BMI] = "bmi",
    [CLS_ATOMIC] = "atomic", [CLS_STRING] = "string", [CLS_STACK] = "stack",
    [CLS_FLAGS] = "flags", [CLS_SMC] = "smc", [CLS_INVALID] = "invalid",
};

/* Bytes kept free at the end of the window for the final UD2 and for
 * repairs of undefined results. */
#define DT_RESERVE 24

/* ---- random numbers ---- */

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void rng_seed(Rng *r, uint64_t seed, uint64_t index)
{
    uint64_t x = seed * 0xd1342543de82ef95ULL + index;

    for (int i = 0; i < 4; i++) {
        r->s[i] = splitmix(&x);
    }
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t rng_next(Rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

const DtHostFeatures *dt_host(void)
{
    static DtHostFeatures f;
    static bool done;
    unsigned a, b, c, d;

    if (!done) {
        if (__get_cpuid(1, &a, &b, &c, &d)) {
            f.movbe = c & (1u << 22);
            f.popcnt = c & (1u << 23);
            f.cx16 = c & (1u << 13);
        }
        if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
            f.bmi1 = b & (1u << 3);
            f.bmi2 = b & (1u << 8);
            f.adx = b & (1u << 19);
        }
        if (__get_cpuid(0x80000001, &a, &b, &c, &d)) {
            f.lahf = c & 1;
            f.lzcnt = c & (1u << 5);
        }
        done = true;
    }
    return &f;
}

/* ---- values and registers ---- */

uint64_t gen_value(Gen *g)
{
    static const uint64_t edges[] = {
        0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fffffff, 0x80000000,
        0xffffffff, 0x7fffffffffffffffULL, 0x8000000000000000ULL,
        0xffffffffffffff80ULL, 0xffffffffffff8000ULL,
        0xffffffff80000000ULL, 0x100, 0x10000, 0x100000000ULL,
    };
    Rng *r = &g->rng;

    switch (rng_below(r, 16)) {
    case 0: return 0;
    case 1: return ~0ULL;
    case 2: return 1;
    case 3: return edges[rng_below(r, G_N_ELEMENTS(edges))];
    case 4: return edges[rng_below(r, G_N_ELEMENTS(edges))] +
                   rng_below(r, 3) - 1;
    case 5: return rng_below(r, 65);
    case 6: return -(uint64_t)rng_below(r, 65);
    case 7: return (uint8_t)rng_next(r);
    case 8: return (uint16_t)rng_next(r);
    case 9: return (uint32_t)rng_next(r);
    case 10: return rng_next(r) & rng_next(r);
    case 11: return rng_next(r) | rng_next(r);
    default: return rng_next(r);
    }
}

uint64_t gen_reg_value(Gen *g, int reg, unsigned size)
{
    if (size == 1 && reg >= DT_AH) {
        return (g->cur.r[reg - DT_AH] >> 8) & 0xff;
    }
    return g->cur.r[reg] & (size >= 8 ? ~0ULL : (1ULL << (size * 8)) - 1);
}

bool gen_in_data(uint64_t addr, uint64_t size, bool allow_ro)
{
    uint64_t end = DT_DATA_BASE + DT_DATA_SIZE + (allow_ro ? DT_PAGE : 0);

    return addr >= DT_DATA_BASE && size <= end - DT_DATA_BASE &&
           addr <= end - size;
}

unsigned gen_size(Gen *g, bool allow8)
{
    unsigned k = rng_below(&g->rng, 10);

    if (allow8 && k < 2) {
        return 1;
    }
    return k < 4 ? 2 : k < 7 ? 4 : 8;
}

int gen_reg(Gen *g, Enc *e, unsigned size, bool write)
{
    Rng *r = &g->rng;
    int reg;

    if (size == 1 && rng_chance(r, 1, 5)) {
        return DT_AH + rng_below(r, 4);
    }
    reg = rng_below(r, 16);
    /* A wild RSP stops the stack instructions for the rest of the case. */
    if (reg == R_SP && write && !rng_chance(r, 1, 8)) {
        reg = (R_SP + 1 + rng_below(r, 15)) & 15;
    }
    if (size == 1 && reg >= 4 && reg < 8) {
        e->force_rex = true;
    }
    return reg;
}

/* ---- memory operands ---- */

static int64_t sext32(uint64_t v)
{
    return (int32_t)v;
}

static bool fits32(int64_t v)
{
    return v == sext32(v);
}

/* An address for an access of @size: in the data area (the read-only page
 * too for reads), across a page boundary now and then, or, for a wanted
 * fault, in a guard page, across into one, or a write to the read-only
 * page. */
uint64_t gen_target(Gen *g, unsigned size, int access, bool fault,
                    unsigned align)
{
    Rng *r = &g->rng;
    uint64_t base = DT_DATA_BASE, len = DT_DATA_SIZE, a;

    if (fault) {
        switch (rng_below(r, 5)) {
        case 0: return DT_DATA_BASE - DT_PAGE + rng_below(r, DT_PAGE - 16);
        case 1: return DT_RO_BASE + DT_PAGE + rng_below(r, DT_PAGE - 16);
        case 2: return DT_DATA_BASE - 1 - rng_below(r, size);
        case 3: return DT_RO_BASE + DT_PAGE - 1 - rng_below(r, size);
        default:
            return access == MA_READ ? DT_RO_BASE + DT_PAGE - 1 -
                                       rng_below(r, size)
                                     : DT_RO_BASE - 1 - rng_below(r, size);
        }
    }
    if (access == MA_READ && rng_chance(r, 1, 10)) {
        base = DT_RO_BASE;
        len = DT_PAGE;
    }
    if (size > 1 && align <= 1 && rng_chance(r, 1, 6)) {
        /* Straddle a page boundary inside the region. */
        uint64_t pages = len / DT_PAGE;
        if (pages > 1) {
            uint64_t p = base + DT_PAGE * (1 + rng_below(r, pages - 1));
            return p - 1 - rng_below(r, size - 1);
        }
    }
    a = base + rng_below(r, len - size + 1);
    if (align > 1) {
        a &= ~(uint64_t)(align - 1);
    }
    return a;
}

static int pick_index(Gen *g)
{
    int i = rng_below(&g->rng, 15);

    return i >= R_SP ? i + 1 : i;
}

static uint64_t addr_reg(Gen *g, int reg, bool addr32)
{
    uint64_t v = g->cur.r[reg] + (reg == R_SP ? g->rsp_bias : 0);

    return addr32 ? (uint32_t)v : v;
}

uint64_t gen_mem(Gen *g, Enc *e, unsigned size, int access, int64_t adj)
{
    Rng *r = &g->rng;
    bool addr32 = rng_chance(r, 1, 8);
    bool fault = g->want_fault && access != MA_NONE && rng_chance(r, 1, 20);
    unsigned align = g->align;
    uint64_t amask = addr32 ? 0xffffffffULL : ~0ULL;

    for (int tries = 0; tries < 48; tries++) {
        MemRef m = { .base = DT_REG_NONE, .index = DT_REG_NONE,
                     .addr32 = addr32 };
        uint64_t ea, target;
        int strat = access == MA_NONE ? 0 : rng_below(r, 8);

        m.scale = rng_below(r, 4);
        m.force_sib = rng_chance(r, 1, 10);
        if (strat < 3 && !fault) {
            /* Registers first, then a small displacement. */
            int64_t d;
            m.base = rng_chance(r, 1, 10) ? DT_REG_NONE : (int)rng_below(r, 16);
            if (m.base == DT_REG_NONE || rng_chance(r, 1, 3)) {
                m.index = pick_index(g);
            }
            switch (rng_below(r, 5)) {
            case 0: case 1: d = 0; break;
            case 2: case 3: d = (int8_t)rng_next(r); break;
            default: d = (int64_t)rng_below(r, 0x4000) - 0x2000; break;
            }
            if (m.base == DT_REG_NONE && access != MA_NONE) {
                continue;
            }
            if (access == MA_NONE && rng_chance(r, 1, 4)) {
                d = sext32(rng_next(r));
            }
            m.disp = d;
            m.disp_size = d == 0 ? 0 : (d >= -128 && d <= 127) ? 1 : 4;
            if (rng_chance(r, 1, 8)) {
                m.disp_size = 4;
            }
            ea = d;
            if (m.base >= 0) {
                ea += addr_reg(g, m.base, addr32);
            }
            if (m.index >= 0) {
                ea += addr_reg(g, m.index, addr32) << m.scale;
            }
            ea &= amask;
            target = ea + adj;
        } else {
            int form = rng_below(r, 6);
            int64_t d;
            target = gen_target(g, size, access, fault, align);
            ea = target - adj;
            if (addr32 && ea > 0xffffffffULL) {
                continue;
            }
            switch (form) {
            case 0:                   /* RIP-relative */
                m.base = DT_REG_RIP;
                m.disp = ea;
                if (!fits32(ea - g->pos) || (addr32 && ea >> 32)) {
                    continue;
                }
                break;
            case 1:                   /* absolute, through SIB */
                if (!addr32 && !fits32(ea)) {
                    continue;
                }
                m.disp = sext32(ea);
                break;
            case 2:                   /* base + disp32 */
            case 5:                   /* base + disp8: a near register */
                m.base = rng_below(r, 16);
                d = ea - addr_reg(g, m.base, addr32);
                if (addr32) {
                    d = sext32(d);
                }
                if (!fits32(d) || (form == 5 && (d < -128 || d > 127))) {
                    continue;
                }
                m.disp = d;
                m.disp_size = form == 5 ? 1 : 4;
                break;
            case 3:                   /* base + index * scale + disp */
            case 4:                   /* index * scale + disp32 */
                m.index = pick_index(g);
                if (form == 3) {
                    m.base = rng_below(r, 16);
                }
                d = ea - (addr_reg(g, m.index, addr32) << m.scale) -
                    (m.base >= 0 ? addr_reg(g, m.base, addr32) : 0);
                if (addr32) {
                    d = sext32(d);
                }
                if (!fits32(d)) {
                    continue;
                }
                m.disp = d;
                m.disp_size = (d >= -128 && d <= 127 &&
                               rng_chance(r, 1, 2)) ? 1 : 4;
                break;
            }
        }
        if (access != MA_NONE && !fault) {
            if (!gen_in_data(target, size, access == MA_READ) ||
                (align > 1 && (target & (align - 1)))) {
                continue;
            }
        }
        e->has_modrm = true;
        e->rm_mem = true;
        e->m = m;
        if (addr32) {
            enc_pfx(e, 0x67);
        }
        if (fault) {
            g->fault_intended = true;
        }
        g->mem_addr = target;
        return access == MA_NONE ? 1 : target;
    }
    return 0;
}

int gen_rm(Gen *g, Enc *e, unsigned size, int access, unsigned mem_pct)
{
    e->has_modrm = true;
    if (rng_below(&g->rng, 100) < mem_pct && gen_mem(g, e, size, access, 0)) {
        return -1;
    }
    e->rm_mem = false;
    e->rm = gen_reg(g, e, size, access == MA_WRITE || access == MA_RW);
    return e->rm;
}

void gen_noise(Gen *g, Enc *e)
{
    static const uint8_t segs[] = { 0x26, 0x2e, 0x36, 0x3e };
    Rng *r = &g->rng;

    if (rng_chance(r, 1, 24) && e->npfx < 6) {
        memmove(e->pfx + 1, e->pfx, e->npfx);
        e->pfx[0] = segs[rng_below(r, 4)];
        e->npfx++;
    }
    if (!e->vex && e->npfx > 0 && rng_chance(r, 1, 48)) {
        e->junk_rex = 0x40 | rng_below(r, 16);
    }
}

/* ---- running the instructions ---- */

static const uint8_t ud2[2] = { 0x0f, 0x0b };

static void put_code(uint64_t addr, const void *bytes, unsigned len)
{
    memcpy(native_code() + (addr - DT_CODE_BASE), bytes, len);
}

static DtInsn *record(Gen *g, const uint8_t *buf, int len, const Meta *m)
{
    DtInsn *in = &g->c->insn[g->c->n++];

    memset(in, 0, sizeof(*in));
    memcpy(in->bytes, buf, len);
    in->len = len;
    in->addr = g->pos;
    in->live = !g->dead;
    in->name = m->name;
    in->undef_before = g->undef;
    in->target = -1;
    put_code(g->pos, buf, len);
    g->pos += len;
    if (!g->dead) {
        g->live++;
    }
    return in;
}

/* Encodes @e at g->pos; -1 when it cannot be placed. */
static int place(Gen *g, Enc *e, const Meta *m, uint8_t *buf, int *rel_off,
                 int room)
{
    int len;

    if (g->ended || g->full) {
        return -1;
    }
    if (g->c->n >= DT_MAX_INSNS - (m->repair ? 1 : 4)) {
        g->full = true;
        return -1;
    }
    gen_noise(g, e);
    len = enc_emit(e, g->pos, buf, rel_off);
    if (len < 0) {
        return -1;
    }
    if (g->pos + len + room > g->limit - (m->repair ? 2 : DT_RESERVE)) {
        g->full = true;
        return -1;
    }
    if (!g->dead && (m->fl_read & g->undef)) {
        return -1;
    }
    return len;
}

/* An instruction that faulted natively: ends the case if we want it. */
static Commit faulted(Gen *g, const uint8_t *buf, int len, const Meta *m,
                      const DtResult *res)
{
    /* Faults stop at the instruction, #BP (INT3) after it. */
    uint64_t at = res->vector == DT_BP ? g->pos + len : g->pos;

    if (res->regs.rip == at &&
        (m->fault_ok || g->fault_intended || rng_chance(&g->rng, 1, 16))) {
        record(g, buf, len, m);
        g->ended = true;
        g->fault = *res;
        return COMMIT_END;
    }
    memcpy(native_data(), g->snap, DT_DATA_SIZE);
    return COMMIT_REJECT;
}

Commit gen_commit(Gen *g, const Enc *e0, const Meta *m)
{
    Enc e = *e0;
    uint8_t buf[16];
    DtResult res;
    DtRegs in;
    int len = place(g, &e, m, buf, NULL, 0);

    if (len < 0) {
        return COMMIT_REJECT;
    }
    if (g->dead) {
        record(g, buf, len, m);
        return COMMIT_OK;
    }
    put_code(g->pos, buf, len);
    put_code(g->pos + len, ud2, 2);
    memcpy(g->snap, native_data(), DT_DATA_SIZE);
    in = g->cur;
    in.rip = g->pos;
    native_run(&in, &res);
    if (res.vector == DT_UD && res.regs.rip == g->pos + len) {
        record(g, buf, len, m);
        g->cur = res.regs;
        g->undef = (g->undef & ~m->fl_def) | m->fl_undef;
        return COMMIT_OK;
    }
    return faulted(g, buf, len, m, &res);
}

Commit gen_commit_pair(Gen *g, const Enc *e1, const Meta *m1,
                       const Enc *e2, const Meta *m2, int patch_off)
{
    Enc a = *e1;
    uint8_t b1[16], b2[16];
    uint32_t mid;
    DtResult res;
    DtRegs in;
    int l1, l2;

    if (g->ended || g->full) {
        return COMMIT_REJECT;
    }
    if (g->c->n >= DT_MAX_INSNS - 6) {
        g->full = true;
        return COMMIT_REJECT;
    }
    l2 = enc_emit(e2, 0, b2, NULL);
    a.m.disp = g->pos;
    l1 = enc_emit(&a, g->pos, b1, NULL);
    if (l1 < 0 || l2 < 0) {
        return COMMIT_REJECT;
    }
    a.m.disp = g->pos + l1 + patch_off;
    l1 = enc_emit(&a, g->pos, b1, NULL);
    if (g->pos + l1 + l2 > g->limit - DT_RESERVE) {
        g->full = true;
        return COMMIT_REJECT;
    }
    mid = (g->undef & ~m1->fl_def) | m1->fl_undef;
    if (g->dead) {
        record(g, b1, l1, m1);
        record(g, b2, l2, m2);
        return COMMIT_OK;
    }
    if ((m1->fl_read & g->undef) || (m2->fl_read & mid)) {
        return COMMIT_REJECT;
    }
    put_code(g->pos, b1, l1);
    put_code(g->pos + l1, b2, l2);
    put_code(g->pos + l1 + l2, ud2, 2);
    memcpy(g->snap, native_data(), DT_DATA_SIZE);
    in = g->cur;
    in.rip = g->pos;
    native_run(&in, &res);
    put_code(g->pos + l1, b2, l2);          /* the original bytes */
    if (res.vector != DT_UD || res.regs.rip != g->pos + l1 + l2) {
        memcpy(native_data(), g->snap, DT_DATA_SIZE);
        return COMMIT_REJECT;
    }
    record(g, b1, l1, m1);
    g->undef = mid;
    record(g, b2, l2, m2);
    g->cur = res.regs;
    g->undef = (mid & ~m2->fl_def) | m2->fl_undef;
    return COMMIT_OK;
}

Commit gen_mov_imm(Gen *g, int reg, unsigned size, uint64_t value)
{
    Meta m = { .name = "mov" };
    Enc e;

    enc_init(&e);
    if (size == 1) {
        e.op = 0xb0;
        e.opreg = reg;
        e.force_rex = reg >= 4 && reg < 8;
        e.imm_size = 1;
    } else if (size == 8 && value == (uint64_t)sext32(value) &&
               rng_chance(&g->rng, 1, 2)) {
        e.op = 0xc7;
        e.has_modrm = true;
        e.rm = reg;
        e.reg = 0;
        e.imm_size = 4;
        e.rex_w = true;
    } else {
        e.op = 0xb8;
        e.opreg = reg;
        e.imm_size = size;
        enc_opsize(&e, size);
    }
    e.imm = value;
    return gen_commit(g, &e, &m);
}

Commit gen_repair(Gen *g, const Enc *e, const char *name)
{
    Meta m = { .name = name, .repair = true };

    return gen_commit(g, e, &m);
}

Commit gen_branch(Gen *g, const Enc *e0, const Meta *m, int skip)
{
    Enc e = *e0;
    uint8_t buf[16];
    DtResult res;
    DtRegs in;
    int rel_off = -1, len, idx;
    uint64_t at = g->pos;

    e.rel = 2;                 /* probe: taken lands past the first UD2 */
    len = place(g, &e, m, buf, &rel_off, 4);
    if (len < 0) {
        return COMMIT_REJECT;
    }
    if (g->dead) {
        DtInsn *in = record(g, buf, len, m);
        in->rel_off = rel_off;
        in->rel_size = e.rel_size;
        in->target = g->c->n;  /* the next instruction: harmless */
        return COMMIT_OK;
    }
    put_code(at, buf, len);
    put_code(at + len, ud2, 2);
    put_code(at + len + 2, ud2, 2);
    memcpy(g->snap, native_data(), DT_DATA_SIZE);
    in = g->cur;
    in.rip = at;
    native_run(&in, &res);
    if (res.vector != DT_UD ||
        (res.regs.rip != at + len && res.regs.rip != at + len + 2)) {
        return faulted(g, buf, len, m, &res);
    }
    idx = g->c->n;
    record(g, buf, len, m);
    g->c->insn[idx].rel_off = rel_off;
    g->c->insn[idx].rel_size = e.rel_size;
    g->cur = res.regs;
    g->undef = (g->undef & ~m->fl_def) | m->fl_undef;
    if (res.regs.rip == at + len) {
        /* Not taken: aim at a later instruction, patched at the end. */
        g->c->insn[idx].target = idx + 1 + skip;
        return COMMIT_OK;
    }
    /* Taken: the skipped instructions are never executed. */
    g->dead++;
    for (int i = 0; i < skip && !g->full; i++) {
        if (e.rel_size == 1 && g->pos - (at + len) > 100) {
            break;
        }
        gen_class(g, rng_below(&g->rng, CLS_INVALID));
    }
    g->dead--;
    g->c->insn[idx].target = g->c->n;
    return COMMIT_OK;
}

uint32_t cc_flags(int cc)
{
    static const uint32_t f[8] = {
        DT_OF, DT_CF, DT_ZF, DT_CF | DT_ZF, DT_SF, DT_PF_FLAG,
        DT_SF | DT_OF, DT_SF | DT_OF | DT_ZF,
    };
    return f[(cc >> 1) & 7];
}

Commit gen_class(Gen *g, DtClass cls)
{
    static Commit (*const fns[CLS_NR])(Gen *) = {
        [CLS_ALU] = gen_alu, [CLS_UNARY] = gen_unary, [CLS_MOV] = gen_mov,
        [CLS_COND] = gen_cond, [CLS_BRANCH] = gen_branch_insn,
        [CLS_MULDIV] = gen_muldiv, [CLS_SHIFT] = gen_shift,
        [CLS_BIT] = gen_bit, [CLS_BMI] = gen_bmi, [CLS_ATOMIC] = gen_atomic,
        [CLS_STRING] = gen_string, [CLS_STACK] = gen_stack,
        [CLS_FLAGS] = gen_flags, [CLS_SMC] = gen_smc,
        [CLS_INVALID] = gen_invalid,
    };
    Commit c;

    g->want_fault = !g->dead && rng_chance(&g->rng, 1, 4);
    g->align = 0;
    g->rsp_bias = 0;
    g->fault_intended = false;
    c = fns[cls](g);
    g->fault_intended = false;
    return c;
}

/* ---- whole cases ---- */

static void init_state(Gen *g, DtCase *c)
{
    Rng *r = &g->rng;
    DtRegs *regs = &c->init;
    int n;

    for (int i = 0; i < 16; i++) {
        regs->r[i] = gen_value(g);
    }
    /* Some pointers into the data area (with junk above bit 31 now and
     * then, for 32-bit addressing), some small values for indexes. */
    n = 2 + rng_below(r, 5);
    for (int k = 0; k < n; k++) {
        int i = pick_index(g);
        regs->r[i] = DT_DATA_BASE + rng_below(r, DT_DATA_SIZE);
        if (rng_chance(r, 1, 6)) {
            regs->r[i] |= rng_next(r) << 32;
        }
    }
    n = 1 + rng_below(r, 3);
    for (int k = 0; k < n; k++) {
        regs->r[pick_index(g)] = rng_below(r, 0x1000) - 0x800;
    }
    regs->r[R_SP] = DT_DATA_BASE + 0x2000 + rng_below(r, 0x4000);
    if (!rng_chance(r, 1, 8)) {
        regs->r[R_SP] &= ~7ULL;
    }
    regs->rflags = 2 | DT_IF | (rng_next(r) & DT_OSZAPC) |
                   (rng_chance(r, 1, 4) ? DT_DF : 0);

    for (uint64_t i = 0; i < DT_DATA_SIZE; i += 8) {
        uint64_t v = rng_chance(r, 1, 4) ? gen_value(g) : rng_next(r);
        memcpy(c->data_init + i, &v, 8);
    }
}

static void patch_branches(DtCase *c)
{
    for (int i = 0; i < c->n; i++) {
        DtInsn *in = &c->insn[i];
        uint64_t next = in->addr + in->len, dest;
        int t = in->target;

        if (t < 0) {
            continue;
        }
        if (t > c->n) {
            t = c->n;
        }
        dest = t < c->n ? c->insn[t].addr : c->code_end;
        if (in->rel_size == 1) {
            /* Only branches that are not taken can be out of reach
             * (taken ones skip at most ~100 bytes): aim closer. */
            while (dest - next > 127) {
                t--;
                dest = c->insn[t].addr;
            }
        }
        for (int k = 0; k < in->rel_size; k++) {
            in->bytes[in->rel_off + k] = (dest - next) >> (8 * k);
        }
        memcpy(native_code() + (in->addr - DT_CODE_BASE), in->bytes,
               in->len);
    }
}

static bool same_result(const DtResult *a, const DtResult *b)
{
    return a->vector == b->vector && a->error_code == b->error_code &&
           a->cr2 == b->cr2 && a->regs.rip == b->regs.rip &&
           !memcmp(a->regs.r, b->regs.r, sizeof(a->regs.r)) &&
           !((a->regs.rflags ^ b->regs.rflags) & DT_FLAGS_COMPARED);
}

void gen_case(Gen *g, DtCase *c, uint64_t seed, uint64_t index,
              DtClass cls)
{
    Rng *r = &g->rng;
    DtResult steps;
    int target_live, rejects = 0;
    uint64_t start;

    memset(g, 0, offsetof(Gen, snap));
    rng_seed(r, seed, index);
    c->seed = seed;
    c->index = index;
    c->n = 0;
    c->native_mismatch = false;
    c->cls = cls < CLS_NR ? cls : (DtClass)rng_below(r, CLS_NR);
    g->c = c;
    g->cls = c->cls;
    init_state(g, c);

    switch (rng_below(r, 4)) {
    case 0: start = DT_CODE_BASE + rng_below(r, 64); break;
    case 1: start = DT_CODE_BASE + DT_PAGE - 8 - rng_below(r, 120); break;
    default: start = DT_CODE_BASE + rng_below(r, DT_PAGE - DT_WINDOW); break;
    }
    c->code_start = start;
    c->window_addr = start & ~7ULL;
    g->limit = c->window_addr + DT_WINDOW;
    memset(native_code() + (c->window_addr - DT_CODE_BASE), 0xcc,
           DT_WINDOW);

    memcpy(native_data(), c->data_init, DT_DATA_SIZE);
    g->cur = c->init;
    g->pos = start;
    target_live = 1 + rng_below(r, 8);
    while (!g->ended && !g->full && g->live < target_live && rejects < 64) {
        DtClass k = g->cls;
        if (k != CLS_INVALID && rng_chance(r, 1, 5)) {
            k = rng_below(r, CLS_NR);
            if (k == CLS_INVALID && !rng_chance(r, 1, 4)) {
                k = g->cls;
            }
        }
        if (gen_class(g, k) == COMMIT_REJECT) {
            rejects++;
        }
    }
    c->code_end = g->pos;
    put_code(c->code_end, ud2, 2);
    patch_branches(c);
    memcpy(c->window, native_code() + (c->window_addr - DT_CODE_BASE),
           DT_WINDOW);

    /* The state the steps reached. */
    if (g->ended) {
        steps = g->fault;
        c->undef_end = c->insn[c->n - 1].undef_before;
    } else {
        memset(&steps, 0, sizeof(steps));
        steps.regs = g->cur;
        steps.regs.rip = c->code_end;
        steps.vector = DT_UD;
        steps.error_code = -1;
        c->undef_end = g->undef;
    }
    memcpy(c->data_expect, native_data(), DT_DATA_SIZE);

    /* The whole sequence in one go: what the interpreter must match. */
    memcpy(native_data(), c->data_init, DT_DATA_SIZE);
    {
        DtRegs in = c->init;
        in.rip = c->code_start;
        native_run(&in, &c->expect);
    }
    if (!same_result(&steps, &c->expect) ||
        memcmp(c->data_expect, native_data(), DT_DATA_SIZE)) {
        c->native_mismatch = true;
        c->step_result = steps;
    }
    memcpy(c->data_expect, native_data(), DT_DATA_SIZE);
}
