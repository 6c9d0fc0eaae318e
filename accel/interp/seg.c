/*
 * Segmentation: limit and type checks of data accesses, descriptor
 * fetches from the GDT/LDT, loads of the data segment registers in every
 * mode (Intel SDM vol. 3, chapters 3 and 5; vol. 2, MOV/POP/LDS), and the
 * stack frames that far transfers and interrupts build.
 */
#include "cpu.h"
#include "seg.h"
#include "lemu/util/log.h"

/* A 4 GiB expand-up writable data segment: accesses need no check
 * beyond the 32-bit wrap (whatever the base). */
static bool seg_is_flat_data(const X86Segment *s)
{
    return !s->unusable && s->s && s->limit == 0xffffffff &&
           (s->type & (DESC_CODE | DESC_DATA_EXPDOWN | DESC_DATA_WRITABLE)) ==
           DESC_DATA_WRITABLE;
}

void seg_refresh(InterpCPU *cpu, int seg)
{
    const X86Segment *s = &cpu->segs[seg];
    uint32_t bit = 1u << seg;

    if (cpu->long64) {
        cpu->seg_base[seg] = seg < SEG_FS ? 0 : s->base;
        cpu->seg_check_mask &= ~bit;
        return;
    }
    cpu->seg_base[seg] = (uint32_t)s->base;
    /* CS is always checked: data accesses through it are rare, and a
     * code segment is never writable. */
    if (seg != SEG_CS && seg_is_flat_data(s)) {
        cpu->seg_check_mask &= ~bit;
    } else {
        cpu->seg_check_mask |= bit;
    }
}

uint64_t interp_linear_slow(InterpCPU *cpu, int seg, uint64_t ea,
                            unsigned size, int access)
{
    const X86Segment *s = &cpu->segs[seg];
    int vector = seg == SEG_SS ? EXCP_SS : EXCP_GP;
    uint64_t last = ea + size - 1;

    if (cpu->long64) {
        uint64_t lin = cpu->seg_base[seg] + ea;

        if (!is_canonical(lin) || !is_canonical(lin + size - 1)) {
            interp_raise(cpu, vector, 0);
        }
        return lin;
    }
    /* Null segments and type checks in protected mode; in real and v86
     * mode only the limit counts (writes through CS are allowed). */
    if (cpu->pe && !cpu->vm86) {
        if (s->unusable) {
            interp_raise(cpu, vector, 0);
        }
        if (access == ACC_WRITE) {
            if ((s->type & (DESC_CODE | DESC_DATA_WRITABLE)) !=
                DESC_DATA_WRITABLE) {
                interp_raise(cpu, vector, 0);
            }
        } else if ((s->type & (DESC_CODE | DESC_CODE_READABLE)) == DESC_CODE &&
                   access == ACC_READ) {
            interp_raise(cpu, vector, 0);     /* execute-only code */
        }
    }
    if ((s->type & (DESC_CODE | DESC_DATA_EXPDOWN)) == DESC_DATA_EXPDOWN) {
        uint64_t upper = s->db ? 0xffffffffULL : 0xffffULL;

        if (ea <= s->limit || last > upper) {
            interp_raise(cpu, vector, 0);
        }
    } else if (last > s->limit) {
        interp_raise(cpu, vector, 0);
    }
    return (cpu->seg_base[seg] + ea) & 0xffffffffULL;
}

/* ---- descriptors ---- */

static bool desc_table(InterpCPU *cpu, uint16_t sel, uint64_t *base,
                       uint32_t *limit)
{
    if (sel & 4) {
        if (cpu->ldt.unusable) {
            return false;
        }
        *base = cpu->ldt.base;
        *limit = cpu->ldt.limit;
    } else {
        *base = cpu->gdt.base;
        *limit = cpu->gdt.limit;
    }
    return true;
}

static uint64_t desc_lin(InterpCPU *cpu, uint64_t base, uint32_t off)
{
    uint64_t lin = base + off;

    return cpu->lma ? lin : (uint32_t)lin;
}

bool seg_fetch_desc(InterpCPU *cpu, uint16_t sel, SegDesc *d)
{
    uint64_t base;
    uint32_t limit, off = sel & ~7u;

    if (!desc_table(cpu, sel, &base, &limit) || off + 7 > limit) {
        return false;
    }
    d->addr = desc_lin(cpu, base, off);
    d->lo = interp_ld_kernel(cpu, d->addr, 8);
    d->hi = 0;
    return true;
}

bool seg_fetch_desc_hi(InterpCPU *cpu, uint16_t sel, SegDesc *d)
{
    uint64_t base;
    uint32_t limit, off = sel & ~7u;

    if (!desc_table(cpu, sel, &base, &limit) || off + 15 > limit) {
        return false;
    }
    d->hi = interp_ld_kernel(cpu, desc_lin(cpu, base, off + 8), 8);
    return true;
}

void seg_set_accessed(InterpCPU *cpu, const SegDesc *d)
{
    uint8_t access = d->lo >> 40;

    if (desc_s(d->lo) && !(access & DESC_ACCESSED)) {
        interp_st_kernel(cpu, d->addr + 5, 1, access | DESC_ACCESSED);
    }
}

void seg_cache_from_desc(X86Segment *s, uint16_t sel, const SegDesc *d,
                         bool wide)
{
    uint64_t lo = d->lo;

    *s = (X86Segment) {
        .base = desc_base(lo),
        .limit = desc_limit(lo),
        .selector = sel,
        .type = desc_type(lo),
        .s = desc_s(lo),
        .dpl = desc_dpl(lo),
        .present = desc_present(lo),
        .avl = (lo >> 52) & 1,
        .l = desc_l(lo),
        .db = desc_db(lo),
        .g = (lo >> 55) & 1,
    };
    if (desc_s(lo)) {
        s->type |= DESC_ACCESSED;      /* set in memory by the load */
    }
    if (wide) {
        s->base |= (d->hi & 0xffffffffULL) << 32;
    }
}

void seg_load_null(InterpCPU *cpu, int seg, uint16_t sel)
{
    X86Segment *s = &cpu->segs[seg];

    /* Intel clears the base. A null SS (64-bit mode) always has RPL =
     * CPL, and its DPL stays the CPL (see interp_update_hflags). */
    *s = (X86Segment) {
        .selector = sel,
        .unusable = 1,
        .dpl = seg == SEG_SS ? sel & 3 : 0,
        .db = seg == SEG_SS ? s->db : 0,
    };
    seg_refresh(cpu, seg);
}

void seg_load_real(InterpCPU *cpu, int seg, uint16_t sel)
{
    X86Segment *s = &cpu->segs[seg];

    s->selector = sel;
    s->base = (uint32_t)sel << 4;
    if (cpu->vm86) {
        s->limit = 0xffff;
        s->type = seg == SEG_CS ? 0xb : 0x3;
        s->s = 1;
        s->dpl = 3;
        s->present = 1;
        s->l = 0;
        s->db = 0;
        s->g = 0;
        s->avl = 0;
    }
    s->unusable = 0;
    seg_refresh(cpu, seg);
}

void seg_null_invalid(InterpCPU *cpu)
{
    static const int data_segs[] = { SEG_ES, SEG_DS, SEG_FS, SEG_GS };

    for (unsigned i = 0; i < G_N_ELEMENTS(data_segs); i++) {
        X86Segment *s = &cpu->segs[data_segs[i]];
        bool conforming = (s->type & (DESC_CODE | DESC_CODE_CONFORMING)) ==
                          (DESC_CODE | DESC_CODE_CONFORMING);

        if (s->unusable || !(s->selector & 0xfffc) || conforming ||
            s->dpl >= cpu->cpl) {
            continue;
        }
        s->selector = 0;
        s->unusable = 1;
        s->present = 0;
        seg_refresh(cpu, data_segs[i]);
    }
}

void interp_load_seg(InterpCPU *cpu, int seg, uint16_t sel)
{
    SegDesc d;
    unsigned rpl = sel & 3, cpl = cpu->cpl, dpl;
    uint32_t ec = sel_ec(sel);

    if (seg == SEG_CS || seg < 0 || seg >= X86_NR_SEGS) {
        interp_raise(cpu, EXCP_UD, 0);
    }
    if (!cpu->pe || cpu->vm86) {
        seg_load_real(cpu, seg, sel);
        return;
    }
    if (!(sel & 0xfffc)) {
        /* SS may be null only in 64-bit mode, below CPL 3, RPL = CPL. */
        if (seg == SEG_SS && !(cpu->long64 && cpl != 3 && rpl == cpl)) {
            interp_raise(cpu, EXCP_GP, 0);
        }
        seg_load_null(cpu, seg, sel);
        return;
    }
    if (!seg_fetch_desc(cpu, sel, &d)) {
        interp_raise(cpu, EXCP_GP, ec);
    }
    dpl = desc_dpl(d.lo);
    if (seg == SEG_SS) {
        if (rpl != cpl || !desc_is_writable_data(d.lo) || dpl != cpl) {
            interp_raise(cpu, EXCP_GP, ec);
        }
        if (!desc_present(d.lo)) {
            interp_raise(cpu, EXCP_SS, ec);
        }
    } else {
        if (!desc_s(d.lo) ||
            (desc_is_code(d.lo) && !(desc_type(d.lo) & DESC_CODE_READABLE))) {
            interp_raise(cpu, EXCP_GP, ec);
        }
        if (!desc_is_conforming(d.lo) && (rpl > dpl || cpl > dpl)) {
            interp_raise(cpu, EXCP_GP, ec);
        }
        if (!desc_present(d.lo)) {
            interp_raise(cpu, EXCP_NP, ec);
        }
    }
    seg_set_accessed(cpu, &d);
    seg_cache_from_desc(&cpu->segs[seg], sel, &d, false);
    if (seg == SEG_SS) {
        interp_update_hflags(cpu);        /* stack size */
    } else {
        seg_refresh(cpu, seg);
    }
}

/* ---- stacks ---- */

void stack_current(InterpCPU *cpu, InterpStack *st)
{
    st->ss = cpu->segs[SEG_SS];
    st->rsp = cpu->regs[R_ESP];
    st->mask = interp_sp_mask(cpu);
    st->sp = st->rsp & st->mask;
    st->is64 = cpu->long64;
    st->kernel = cpu->cpl < 3;
    st->ec = 0;
    if (!cpu->long64) {
        st->ss.base = (uint32_t)st->ss.base;
    }
}

void stack_new(InterpStack *st, const X86Segment *ss, uint64_t rsp,
               unsigned cpl, uint32_t ec)
{
    st->ss = *ss;
    st->ss.base = (uint32_t)ss->base;
    st->rsp = rsp;
    st->mask = ss->db ? 0xffffffffULL : 0xffffULL;
    st->sp = rsp & st->mask;
    st->is64 = false;
    st->kernel = cpl < 3;
    st->ec = ec;
}

void stack_new64(InterpStack *st, uint64_t rsp, unsigned cpl)
{
    memset(&st->ss, 0, sizeof(st->ss));
    st->rsp = rsp;
    st->mask = ~0ULL;
    st->sp = rsp;
    st->is64 = true;
    st->kernel = cpl < 3;
    st->ec = 0;
}

/* Linear address of @size bytes at offset @off of the stack. */
static uint64_t stack_lin(InterpCPU *cpu, InterpStack *st, uint64_t off,
                          unsigned size)
{
    const X86Segment *s = &st->ss;
    uint64_t last = off + size - 1;

    if (st->is64) {
        if (!is_canonical(off) || !is_canonical(last)) {
            interp_raise(cpu, EXCP_SS, st->ec);
        }
        return off;
    }
    if (s->unusable) {
        interp_raise(cpu, EXCP_SS, st->ec);
    }
    if ((s->type & (DESC_CODE | DESC_DATA_EXPDOWN)) == DESC_DATA_EXPDOWN) {
        uint64_t upper = s->db ? 0xffffffffULL : 0xffffULL;

        if (off <= s->limit || last > upper) {
            interp_raise(cpu, EXCP_SS, st->ec);
        }
    } else if (last > s->limit) {
        interp_raise(cpu, EXCP_SS, st->ec);
    }
    return (s->base + off) & 0xffffffffULL;
}

static void stack_store(InterpCPU *cpu, InterpStack *st, uint64_t lin,
                        unsigned size, uint64_t v)
{
    if (st->kernel) {
        interp_st_kernel(cpu, lin, size, v);
        return;
    }
    switch (size) {
    case 2: interp_st16(cpu, lin, v); break;
    case 4: interp_st32(cpu, lin, v); break;
    default: interp_st64(cpu, lin, v); break;
    }
}

static uint64_t stack_load(InterpCPU *cpu, InterpStack *st, uint64_t lin,
                           unsigned size)
{
    if (st->kernel) {
        return interp_ld_kernel(cpu, lin, size);
    }
    switch (size) {
    case 2: return interp_ld16(cpu, lin);
    case 4: return interp_ld32(cpu, lin);
    default: return interp_ld64(cpu, lin);
    }
}

void stack_push(InterpCPU *cpu, InterpStack *st, uint64_t v, unsigned size)
{
    uint64_t sp = (st->sp - size) & st->mask;

    stack_store(cpu, st, stack_lin(cpu, st, sp, size), size, v);
    st->sp = sp;
}

uint64_t stack_peek(InterpCPU *cpu, InterpStack *st, uint64_t off,
                    unsigned size)
{
    uint64_t sp = (st->sp + off) & st->mask;

    return stack_load(cpu, st, stack_lin(cpu, st, sp, size), size);
}

uint64_t stack_pop(InterpCPU *cpu, InterpStack *st, unsigned size)
{
    uint64_t v = stack_peek(cpu, st, 0, size);

    st->sp = (st->sp + size) & st->mask;
    return v;
}
