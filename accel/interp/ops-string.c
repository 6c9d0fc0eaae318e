/*
 * String instructions: MOVS CMPS SCAS LODS STOS, with REP/REPE/REPNE
 * (Intel SDM vol. 2, "REP/REPE/REPZ/REPNE/REPNZ" and each instruction).
 *
 * rSI/rDI/rCX are used at the address size (16, 32 or 64 bits); the source
 * is in d->seg (DS or an override), the destination always in ES.
 *
 * A REP instruction commits its registers after every element (or run of
 * elements), so that a fault in the middle leaves the iterations done
 * visible, and the instruction restarts from there. It stops every
 * STRING_BURST elements, or when an exit, interrupt or NMI is pending,
 * with RIP at itself and the block ended: the dispatch loop then sees the
 * event and comes back to it.
 *
 * As on the host CPU: REPE/REPNE CMPS and SCAS set the flags only when
 * they stop or yield, so a fault part way leaves the flags as they were
 * before the instruction; with a zero count and a 32-bit address size,
 * ECX is still written (clearing the upper half of RCX), and so are ESI
 * and EDI by MOVS, EDI by STOS.
 *
 * Every REP form goes through host memory a page at a time where its
 * pages are plain RAM (valid TLB fast-path tags, filled by a probe that
 * raises the fault the access would); REP MOVS keeps the element-by-
 * element semantics of overlapping operands (a forward MOVSB with rDI =
 * rSI + 1 replicates a byte). Anything else -- MMIO, pages holding code
 * (whose writes must reach the code tracking), elements that cross a page,
 * expand-down segments -- runs one element through the ordinary accessors.
 */
#include "insn.h"

/* Elements a REP instruction runs before it lets the dispatch loop in. */
#define STRING_BURST 16384

static inline unsigned size_index(unsigned size)
{
    return __builtin_ctz(size);
}

/* What a string handler needs of its instruction, read once. */
typedef struct StringOp {
    unsigned size;          /* element size in bytes */
    unsigned addrsize;      /* 2, 4 or 8 */
    uint64_t amask;
    int64_t step;           /* +size or -size, from DF */
    int src_seg;
    uint64_t rip;           /* of the instruction, to restart it */
    uint64_t burst;         /* elements before yielding */
} StringOp;

static inline void string_op_init(StringOp *s, InterpCPU *cpu,
                                  const DecodedInsn *d)
{
    s->size = d->opsize;
    s->addrsize = d->addrsize;
    s->amask = insn_size_mask(d->addrsize);
    s->step = (int64_t)(int32_t)cpu->df * (int64_t)d->opsize;
    s->src_seg = d->seg;
    s->rip = d->rip;
    /* Single-stepping traps after every iteration. */
    s->burst = (cpu->rflags & RFLAGS_TF) ? 1 : STRING_BURST;
}

static inline uint64_t string_reg(InterpCPU *cpu, const StringOp *s, int r)
{
    return cpu->regs[r] & s->amask;
}

/* Writes rSI/rDI/rCX at the address size (a 32-bit write zero-extends). */
static inline void string_set_reg(InterpCPU *cpu, const StringOp *s, int r,
                                  uint64_t v)
{
    insn_set_reg(cpu, r, s->addrsize, v);
}

/*
 * A REP instruction with a zero count does no iteration, yet with a 32-bit
 * address size the host CPU still writes ECX, and for MOVS and STOS also
 * the pointers they write through (@regs: a mask of register numbers),
 * which clears the upper halves of those registers.
 */
static inline void string_zero_count(InterpCPU *cpu, const StringOp *s,
                                     unsigned regs)
{
    if (s->addrsize == 4) {
        for (int r = 0; r < 16; r++) {
            if (regs & (1u << r)) {
                cpu->regs[r] = (uint32_t)cpu->regs[r];
            }
        }
    }
}

#define SREG(r) (1u << (r))

/* Whether a REP instruction should stop early and let an event in. */
static inline bool string_event_pending(InterpCPU *cpu)
{
    return __atomic_load_n(&cpu->exit_request, __ATOMIC_RELAXED) ||
           (__atomic_load_n(&cpu->nmi_pending, __ATOMIC_RELAXED) &&
            !cpu->nmi_blocked) ||
           (__atomic_load_n(&cpu->irq_pending, __ATOMIC_RELAXED) &&
            (cpu->rflags & RFLAGS_IF));
}

/* After @done elements, with @count left: whether to yield now. */
static inline bool string_yield(InterpCPU *cpu, const StringOp *s,
                                uint64_t done, uint64_t count)
{
    return count && (done >= s->burst || string_event_pending(cpu));
}

/* Sets the flags of CMP @a, @b (CMPS, SCAS). */
static inline void string_set_cmp_flags(InterpCPU *cpu, const StringOp *s,
                                        uint64_t a, uint64_t b)
{
    cpu->cc_dst = (a - b) & insn_size_mask(s->size);
    cpu->cc_src = b;
    cpu->cc_op = CC_OP_SUB + size_index(s->size);
}

/*
 * Host addresses of the page a REP instruction is working through, for
 * one operand. Kept for the whole run (until it yields): the source and
 * destination may share a TLB slot and evict each other there. Holding
 * them is no staler than the TLB itself, which changes only at block
 * boundaries for the events that matter (INVLPG, CR3, new code pages).
 */
typedef struct StringPage {
    uint64_t page;          /* linear page, or INTERP_TLB_INVALID */
    uintptr_t addend;
} StringPage;

#define STRING_PAGE_NONE { INTERP_TLB_INVALID, 0 }

/*
 * How many elements from offset @ea of @seg on (going by s->step, at most
 * @max) can be reached through host memory at once, with *@host set to the
 * host address of the element at @ea; 0 when the next element must take
 * the ordinary path (page-crossing element, MMIO, a page with code, an
 * expand-down segment). Checks the segment and translates the page for
 * the element at @ea, raising as that access would, and keeps the run
 * inside the segment limit, the page and the address-size wrap.
 */
static uint64_t string_span(InterpCPU *cpu, const StringOp *s, int seg,
                            uint64_t ea, int access, uint64_t max,
                            StringPage *pc, uint8_t **host)
{
    unsigned size = s->size;
    uint64_t lin = interp_linear(cpu, seg, ea, size, access);
    uint64_t off = lin & (INTERP_PAGE_SIZE - 1);
    uint64_t page = lin & INTERP_PAGE_MASK;
    uint64_t n;

    if (off + size > INTERP_PAGE_SIZE) {
        return 0;               /* this element crosses into the next page */
    }
    if (s->step > 0) {
        uint64_t room = s->amask - ea;

        if (room < size - 1) {
            return 0;           /* this element wraps the address size */
        }
        n = MIN((INTERP_PAGE_SIZE - off) / size, (room - (size - 1)) / size + 1);
        if (cpu->seg_check_mask & (1u << seg)) {
            const X86Segment *sg = &cpu->segs[seg];
            /* Expand-down data segments: left to the slow path. */
            if ((!(sg->type & 8) && (sg->type & 4)) ||
                ea + size - 1 > sg->limit) {
                return 0;
            }
            n = MIN(n, (sg->limit - (ea + size - 1)) / size + 1);
        }
    } else {
        n = MIN(off / size, ea / size) + 1;
        if (cpu->seg_check_mask & (1u << seg)) {
            const X86Segment *sg = &cpu->segs[seg];
            if (!(sg->type & 8) && (sg->type & 4)) {
                return 0;
            }
        }
    }
    if (pc->page != page) {
        InterpTLBEntry *e = interp_tlb_entry(cpu, lin);
        uint64_t tag = access == ACC_WRITE ? e->write_tag : e->read_tag;

        if (tag != page) {
            /* Fill the TLB without touching the bytes (this raises the
             * fault the access would). */
            interp_probe_access(cpu, lin, size, access);
            tag = access == ACC_WRITE ? e->write_tag : e->read_tag;
            if (tag != page) {
                return 0;
            }
        }
        pc->page = page;
        pc->addend = e->addend;
    }
    *host = (uint8_t *)(uintptr_t)(lin + pc->addend);
    return MIN(n, max);
}

/* Loads an element of @size bytes from host memory. */
static inline uint64_t host_load(const uint8_t *p, unsigned size)
{
    switch (size) {
    case 1: return *p;
    case 2: { uint16_t v; memcpy(&v, p, 2); return v; }
    case 4: { uint32_t v; memcpy(&v, p, 4); return v; }
    default: { uint64_t v; memcpy(&v, p, 8); return v; }
    }
}

/* ---- MOVS ---- */

/* Copies @n elements at host addresses (@src, @dst: the first element;
 * the others follow by s->step) as the element-by-element loop would. */
static void string_copy(const StringOp *s, uint8_t *dst, uint8_t *src,
                        uint64_t n)
{
    uint64_t bytes = n * s->size;
    uint8_t *dlo = dst, *slo = src;
    bool overlap;

    if (s->step < 0) {
        dlo = dst - (bytes - s->size);
        slo = src - (bytes - s->size);
    }
    overlap = dlo < slo + bytes && slo < dlo + bytes;
    /* memmove is right unless the destination runs into source bytes not
     * yet read: ahead of it going up, behind it going down. */
    if (!overlap || (s->step > 0 ? dst <= src : dst >= src)) {
        memmove(dlo, slo, bytes);
        return;
    }
    for (uint64_t i = 0; i < n; i++) {
        memmove(dst, src, s->size);
        dst += s->step;
        src += s->step;
    }
}

static const DecodedInsn *rep_movs(InterpCPU *cpu, const DecodedInsn *d,
                                   const StringOp *s)
{
    StringPage sp = STRING_PAGE_NONE, dp = STRING_PAGE_NONE;
    uint64_t count = string_reg(cpu, s, R_ECX);
    uint64_t done = 0;

    if (count == 0) {
        string_zero_count(cpu, s, SREG(R_ECX) | SREG(R_ESI) | SREG(R_EDI));
    }
    while (count) {
        uint64_t si = string_reg(cpu, s, R_ESI);
        uint64_t di = string_reg(cpu, s, R_EDI);
        uint8_t *hs, *hd;
        uint64_t n = string_span(cpu, s, s->src_seg, si, ACC_READ,
                                 MIN(count, s->burst), &sp, &hs);

        if (n) {
            n = string_span(cpu, s, SEG_ES, di, ACC_WRITE, n, &dp, &hd);
        }
        if (n) {
            string_copy(s, hd, hs, n);
        } else {
            uint64_t v = interp_read(cpu, s->src_seg, si, s->size);
            interp_write(cpu, SEG_ES, di, s->size, v);
            n = 1;
        }
        count -= n;
        done += n;
        string_set_reg(cpu, s, R_ESI, si + s->step * n);
        string_set_reg(cpu, s, R_EDI, di + s->step * n);
        string_set_reg(cpu, s, R_ECX, count);
        if (string_yield(cpu, s, done, count)) {
            return insn_end_block(cpu, s->rip);
        }
    }
    return d + 1;
}

const DecodedInsn *op_movs(InterpCPU *cpu, const DecodedInsn *d)
{
    StringOp s;
    uint64_t si, di, v;

    string_op_init(&s, cpu, d);
    if (d->flags & (D_REP | D_REPNE)) {
        return rep_movs(cpu, d, &s);
    }
    si = string_reg(cpu, &s, R_ESI);
    di = string_reg(cpu, &s, R_EDI);
    v = interp_read(cpu, s.src_seg, si, s.size);
    interp_write(cpu, SEG_ES, di, s.size, v);
    string_set_reg(cpu, &s, R_ESI, si + s.step);
    string_set_reg(cpu, &s, R_EDI, di + s.step);
    return d + 1;
}

/* ---- STOS ---- */

/* Fills @n elements from host address @dst (first element) with @v. */
static void string_fill(const StringOp *s, uint8_t *dst, uint64_t v,
                        uint64_t n)
{
    uint64_t bytes = n * s->size;

    if (s->step < 0) {
        dst -= bytes - s->size;
    }
    switch (s->size) {
    case 1:
        memset(dst, (uint8_t)v, bytes);
        break;
    case 2: {
        uint16_t x = v;
        for (uint64_t i = 0; i < n; i++) {
            memcpy(dst + i * 2, &x, 2);
        }
        break;
    }
    case 4: {
        uint32_t x = v;
        for (uint64_t i = 0; i < n; i++) {
            memcpy(dst + i * 4, &x, 4);
        }
        break;
    }
    default:
        for (uint64_t i = 0; i < n; i++) {
            memcpy(dst + i * 8, &v, 8);
        }
        break;
    }
}

static const DecodedInsn *rep_stos(InterpCPU *cpu, const DecodedInsn *d,
                                   const StringOp *s)
{
    StringPage dp = STRING_PAGE_NONE;
    uint64_t count = string_reg(cpu, s, R_ECX);
    uint64_t v = insn_get_reg(cpu, R_EAX, s->size);
    uint64_t done = 0;

    if (count == 0) {
        string_zero_count(cpu, s, SREG(R_ECX) | SREG(R_EDI));
    }
    while (count) {
        uint64_t di = string_reg(cpu, s, R_EDI);
        uint8_t *hd;
        uint64_t n = string_span(cpu, s, SEG_ES, di, ACC_WRITE,
                                 MIN(count, s->burst), &dp, &hd);

        if (n) {
            string_fill(s, hd, v, n);
        } else {
            interp_write(cpu, SEG_ES, di, s->size, v);
            n = 1;
        }
        count -= n;
        done += n;
        string_set_reg(cpu, s, R_EDI, di + s->step * n);
        string_set_reg(cpu, s, R_ECX, count);
        if (string_yield(cpu, s, done, count)) {
            return insn_end_block(cpu, s->rip);
        }
    }
    return d + 1;
}

const DecodedInsn *op_stos(InterpCPU *cpu, const DecodedInsn *d)
{
    StringOp s;
    uint64_t di;

    string_op_init(&s, cpu, d);
    if (d->flags & (D_REP | D_REPNE)) {
        return rep_stos(cpu, d, &s);
    }
    di = string_reg(cpu, &s, R_EDI);
    interp_write(cpu, SEG_ES, di, s.size, insn_get_reg(cpu, R_EAX, s.size));
    string_set_reg(cpu, &s, R_EDI, di + s.step);
    return d + 1;
}

/* ---- LODS ---- */

const DecodedInsn *op_lods(InterpCPU *cpu, const DecodedInsn *d)
{
    StringPage sp = STRING_PAGE_NONE;
    StringOp s;
    uint64_t count, done = 0;

    string_op_init(&s, cpu, d);
    if (!(d->flags & (D_REP | D_REPNE))) {
        uint64_t si = string_reg(cpu, &s, R_ESI);
        uint64_t v = interp_read(cpu, s.src_seg, si, s.size);

        insn_set_reg(cpu, R_EAX, s.size, v);
        string_set_reg(cpu, &s, R_ESI, si + s.step);
        return d + 1;
    }
    /* REP LODS: only the last element stays, but each must be readable. */
    count = string_reg(cpu, &s, R_ECX);
    if (count == 0) {
        string_zero_count(cpu, &s, SREG(R_ECX));
    }
    while (count) {
        uint64_t si = string_reg(cpu, &s, R_ESI);
        uint8_t *hs;
        uint64_t n = string_span(cpu, &s, s.src_seg, si, ACC_READ,
                                 MIN(count, s.burst), &sp, &hs);
        uint64_t v;

        if (n) {
            v = host_load(hs + s.step * (int64_t)(n - 1), s.size);
        } else {
            v = interp_read(cpu, s.src_seg, si, s.size);
            n = 1;
        }
        count -= n;
        done += n;
        insn_set_reg(cpu, R_EAX, s.size, v);
        string_set_reg(cpu, &s, R_ESI, si + s.step * n);
        string_set_reg(cpu, &s, R_ECX, count);
        if (string_yield(cpu, &s, done, count)) {
            return insn_end_block(cpu, s.rip);
        }
    }
    return d + 1;
}

/* ---- CMPS, SCAS ---- */

/* REPE (F3) stops when ZF = 0, REPNE (F2) when ZF = 1. */
enum { REP_NONE, REP_E, REP_NE };

static inline int string_rep_kind(const DecodedInsn *d)
{
    return (d->flags & D_REPNE) ? REP_NE : (d->flags & D_REP) ? REP_E
                                                             : REP_NONE;
}

/* Whether a REPE/REPNE loop stops after comparing @a with @b. */
static inline bool string_rep_stops(int rep, uint64_t a, uint64_t b)
{
    return (rep == REP_E) != (a == b);
}

const DecodedInsn *op_cmps(InterpCPU *cpu, const DecodedInsn *d)
{
    StringPage sp = STRING_PAGE_NONE, dp = STRING_PAGE_NONE;
    int rep = string_rep_kind(d);
    StringOp s;
    uint64_t count, done = 0, a = 0, b = 0;

    string_op_init(&s, cpu, d);
    if (rep == REP_NONE) {
        uint64_t si = string_reg(cpu, &s, R_ESI);
        uint64_t di = string_reg(cpu, &s, R_EDI);
        /* ES:rDI is read first: when both operands fault, the host
         * reports the destination's fault. */
        b = interp_read(cpu, SEG_ES, di, s.size);
        a = interp_read(cpu, s.src_seg, si, s.size);
        string_set_cmp_flags(cpu, &s, a, b);
        string_set_reg(cpu, &s, R_ESI, si + s.step);
        string_set_reg(cpu, &s, R_EDI, di + s.step);
        return d + 1;
    }
    count = string_reg(cpu, &s, R_ECX);
    if (count == 0) {
        string_zero_count(cpu, &s, SREG(R_ECX));
        return d + 1;
    }
    while (count) {
        uint64_t si = string_reg(cpu, &s, R_ESI);
        uint64_t di = string_reg(cpu, &s, R_EDI);
        uint8_t *hs, *hd;
        /* The destination first, as in the element-by-element path. */
        uint64_t n = string_span(cpu, &s, SEG_ES, di, ACC_READ,
                                 MIN(count, s.burst), &dp, &hd);
        bool stop = false;

        if (n) {
            n = string_span(cpu, &s, s.src_seg, si, ACC_READ, n, &sp, &hs);
        }
        if (n) {
            uint64_t i = 0;
            do {
                a = host_load(hs, s.size);
                b = host_load(hd, s.size);
                hs += s.step;
                hd += s.step;
                stop = string_rep_stops(rep, a, b);
            } while (++i < n && !stop);
            n = i;
        } else {
            b = interp_read(cpu, SEG_ES, di, s.size);
            a = interp_read(cpu, s.src_seg, si, s.size);
            stop = string_rep_stops(rep, a, b);
            n = 1;
        }
        count -= n;
        done += n;
        string_set_reg(cpu, &s, R_ESI, si + s.step * n);
        string_set_reg(cpu, &s, R_EDI, di + s.step * n);
        string_set_reg(cpu, &s, R_ECX, count);
        if (stop) {
            break;
        }
        if (string_yield(cpu, &s, done, count)) {
            string_set_cmp_flags(cpu, &s, a, b);
            return insn_end_block(cpu, s.rip);
        }
    }
    string_set_cmp_flags(cpu, &s, a, b);
    return d + 1;
}

const DecodedInsn *op_scas(InterpCPU *cpu, const DecodedInsn *d)
{
    StringPage dp = STRING_PAGE_NONE;
    int rep = string_rep_kind(d);
    StringOp s;
    uint64_t count, done = 0, b = 0;
    uint64_t acc = insn_get_reg(cpu, R_EAX, d->opsize);

    string_op_init(&s, cpu, d);
    if (rep == REP_NONE) {
        uint64_t di = string_reg(cpu, &s, R_EDI);

        b = interp_read(cpu, SEG_ES, di, s.size);
        string_set_cmp_flags(cpu, &s, acc, b);
        string_set_reg(cpu, &s, R_EDI, di + s.step);
        return d + 1;
    }
    count = string_reg(cpu, &s, R_ECX);
    if (count == 0) {
        string_zero_count(cpu, &s, SREG(R_ECX));
        return d + 1;
    }
    while (count) {
        uint64_t di = string_reg(cpu, &s, R_EDI);
        uint8_t *hd;
        uint64_t n = string_span(cpu, &s, SEG_ES, di, ACC_READ,
                                 MIN(count, s.burst), &dp, &hd);
        bool stop = false;

        if (n && rep == REP_NE && s.size == 1 && s.step > 0) {
            /* REPNE SCASB: the strlen/memchr idiom. */
            const uint8_t *hit = memchr(hd, (uint8_t)acc, n);
            n = hit ? (uint64_t)(hit - hd) + 1 : n;
            stop = hit != NULL;
            b = hd[n - 1];
        } else if (n) {
            uint64_t i = 0;
            do {
                b = host_load(hd, s.size);
                hd += s.step;
                stop = string_rep_stops(rep, acc, b);
            } while (++i < n && !stop);
            n = i;
        } else {
            b = interp_read(cpu, SEG_ES, di, s.size);
            stop = string_rep_stops(rep, acc, b);
            n = 1;
        }
        count -= n;
        done += n;
        string_set_reg(cpu, &s, R_EDI, di + s.step * n);
        string_set_reg(cpu, &s, R_ECX, count);
        if (stop) {
            break;
        }
        if (string_yield(cpu, &s, done, count)) {
            string_set_cmp_flags(cpu, &s, acc, b);
            return insn_end_block(cpu, s.rip);
        }
    }
    string_set_cmp_flags(cpu, &s, acc, b);
    return d + 1;
}

const InterpOpEntry interp_ops_string[] = {
    { OP_movs, op_movs },
    { OP_cmps, op_cmps },
    { OP_scas, op_scas },
    { OP_lods, op_lods },
    { OP_stos, op_stos },
    { 0, NULL },
};
