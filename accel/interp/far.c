/*
 * Far transfers: JMP/CALL/RET far and IRET in real, virtual-8086,
 * protected and long mode, call gates, and hardware task switches (Intel
 * SDM vol. 2 JMP/CALL/RET/IRET, vol. 3 chapters 5 and 7).
 *
 * Each function does every check and every memory access first, on
 * copies (InterpStack, SegDesc), and only then changes the CPU, so that a
 * fault leaves the state of the instruction's start.
 */
#include "insn.h"
#include "seg.h"
#include "lemu/util/log.h"

static G_NORETURN void raise_sel(InterpCPU *cpu, int vector, uint16_t sel)
{
    interp_raise(cpu, vector, sel_ec(sel));
}

/* ---- the TSS ---- */

void tss_stack(InterpCPU *cpu, unsigned dpl, uint16_t *ss, uint64_t *sp,
               uint32_t ext)
{
    const X86Segment *tr = &cpu->tr;
    uint32_t ec = sel_ec(tr->selector) | ext;
    uint64_t base = (uint32_t)tr->base;

    if (tr->type & 8) {
        uint32_t off = dpl * 8 + 4;

        if (off + 7 > tr->limit) {
            interp_raise(cpu, EXCP_TS, ec);
        }
        *sp = interp_ld_kernel(cpu, (uint32_t)(base + off), 4);
        *ss = interp_ld_kernel(cpu, (uint32_t)(base + off + 4), 2);
    } else {
        uint32_t off = dpl * 4 + 2;

        if (off + 3 > tr->limit) {
            interp_raise(cpu, EXCP_TS, ec);
        }
        *sp = interp_ld_kernel(cpu, (uint32_t)(base + off), 2);
        *ss = interp_ld_kernel(cpu, (uint32_t)(base + off + 2), 2);
    }
}

uint64_t tss_stack64(InterpCPU *cpu, unsigned dpl, unsigned ist,
                     uint32_t ext)
{
    uint32_t off = ist ? 0x24 + (ist - 1) * 8 : 4 + dpl * 8;

    if (off + 7 > cpu->tr.limit) {
        interp_raise(cpu, EXCP_TS, sel_ec(cpu->tr.selector) | ext);
    }
    return interp_ld_kernel(cpu, cpu->tr.base + off, 8);
}

/* ---- checks shared by the transfers ---- */

/* JMP/CALL straight to a code segment. */
static void check_direct_code(InterpCPU *cpu, uint16_t sel, const SegDesc *d)
{
    unsigned dpl = desc_dpl(d->lo), cpl = cpu->cpl;

    if (!desc_is_code(d->lo)) {
        raise_sel(cpu, EXCP_GP, sel);
    }
    if (desc_is_conforming(d->lo) ? dpl > cpl
                                  : (sel & 3) > cpl || dpl != cpl) {
        raise_sel(cpu, EXCP_GP, sel);
    }
    if (!desc_present(d->lo)) {
        raise_sel(cpu, EXCP_NP, sel);
    }
    if (cpu->lma && desc_l(d->lo) && desc_db(d->lo)) {
        raise_sel(cpu, EXCP_GP, sel);
    }
}

/* RET/IRET to the code segment @sel (RPL = the new CPL). */
static void check_return_code(InterpCPU *cpu, uint16_t sel, SegDesc *d)
{
    unsigned rpl = sel & 3;

    if (!(sel & 0xfffc)) {
        interp_raise(cpu, EXCP_GP, 0);
    }
    if (!seg_fetch_desc(cpu, sel, d) || !desc_is_code(d->lo) ||
        rpl < cpu->cpl) {
        raise_sel(cpu, EXCP_GP, sel);
    }
    if (desc_is_conforming(d->lo) ? desc_dpl(d->lo) > rpl
                                  : desc_dpl(d->lo) != rpl) {
        raise_sel(cpu, EXCP_GP, sel);
    }
    if (!desc_present(d->lo)) {
        raise_sel(cpu, EXCP_NP, sel);
    }
    if (cpu->lma && desc_l(d->lo) && desc_db(d->lo)) {
        raise_sel(cpu, EXCP_GP, sel);
    }
}

/*
 * RET/IRET to an outer level: the SS to load for CPL @rpl. Returns false
 * for a null SS, which only a return to 64-bit code below CPL 3 may
 * load.
 */
static bool check_return_ss(InterpCPU *cpu, uint16_t sel, unsigned rpl,
                            bool to64, SegDesc *d)
{
    if (!(sel & 0xfffc)) {
        if (to64 && rpl != 3) {
            return false;
        }
        interp_raise(cpu, EXCP_GP, 0);
    }
    if ((sel & 3) != rpl || !seg_fetch_desc(cpu, sel, d) ||
        !desc_is_writable_data(d->lo) || desc_dpl(d->lo) != rpl) {
        raise_sel(cpu, EXCP_GP, sel);
    }
    if (!desc_present(d->lo)) {
        raise_sel(cpu, EXCP_SS, sel);
    }
    return true;
}

static void check_code_offset(InterpCPU *cpu, const SegDesc *d,
                              uint64_t offset)
{
    if (cpu->lma && desc_l(d->lo)) {
        if (!is_canonical(offset)) {
            interp_raise(cpu, EXCP_GP, 0);
        }
    } else if (offset > desc_limit(d->lo)) {
        interp_raise(cpu, EXCP_GP, 0);
    }
}

static void load_cs(InterpCPU *cpu, uint16_t sel, const SegDesc *d,
                    unsigned cpl, uint64_t rip)
{
    seg_cache_from_desc(&cpu->segs[SEG_CS], (sel & ~3) | cpl, d, false);
    cpu->rip = rip;
}

/* RSP after a return to an outer level: as wide as the new stack. */
static void set_outer_rsp(InterpCPU *cpu, uint64_t sp)
{
    if (cpu->stack_bytes == 8) {
        cpu->regs[R_ESP] = sp;
    } else if (cpu->stack_bytes == 4) {
        cpu->regs[R_ESP] = (uint32_t)sp;
    } else {
        cpu->regs[R_ESP] = (cpu->regs[R_ESP] & ~0xffffULL) | (sp & 0xffff);
    }
}

/* A call gate and the code segment it leads to. */
typedef struct GateTarget {
    uint16_t sel;
    SegDesc cs;
    uint64_t offset;
    unsigned size;            /* 2, 4, 8: the gate's width */
    unsigned params;          /* dwords/words to copy to the new stack */
} GateTarget;

static void resolve_call_gate(InterpCPU *cpu, uint16_t gsel, SegDesc *gate,
                              GateTarget *t)
{
    unsigned gdpl = desc_dpl(gate->lo);

    if (gdpl < cpu->cpl || (gsel & 3) > gdpl) {
        raise_sel(cpu, EXCP_GP, gsel);
    }
    if (!desc_present(gate->lo)) {
        raise_sel(cpu, EXCP_NP, gsel);
    }
    if (cpu->lma) {
        if (!seg_fetch_desc_hi(cpu, gsel, gate) ||
            ((gate->hi >> 40) & 0x1f) != 0) {
            raise_sel(cpu, EXCP_GP, gsel);
        }
        t->size = 8;
        t->offset = gate_offset(gate->lo) | (gate->hi & 0xffffffffULL) << 32;
        t->params = 0;
    } else {
        t->size = desc_type(gate->lo) == DESC_CALL_GATE32 ? 4 : 2;
        t->offset = t->size == 4 ? gate_offset(gate->lo) : gate->lo & 0xffff;
        t->params = (gate->lo >> 32) & 0x1f;
    }
    t->sel = gate_selector(gate->lo);
    if (!(t->sel & 0xfffc)) {
        interp_raise(cpu, EXCP_GP, 0);
    }
    if (!seg_fetch_desc(cpu, t->sel, &t->cs) || !desc_is_code(t->cs.lo) ||
        desc_dpl(t->cs.lo) > cpu->cpl) {
        raise_sel(cpu, EXCP_GP, t->sel);
    }
    if (cpu->lma && (!desc_l(t->cs.lo) || desc_db(t->cs.lo))) {
        raise_sel(cpu, EXCP_GP, t->sel);
    }
    if (!desc_present(t->cs.lo)) {
        raise_sel(cpu, EXCP_NP, t->sel);
    }
}

/* JMP/CALL to a TSS or through a task gate. */
static void far_task(InterpCPU *cpu, uint16_t sel, SegDesc *d, int source,
                     uint64_t next_rip)
{
    SegDesc tss;
    unsigned dpl = desc_dpl(d->lo), type;

    if (dpl < cpu->cpl || (sel & 3) > dpl) {
        raise_sel(cpu, EXCP_GP, sel);
    }
    if (desc_type(d->lo) == DESC_TASK_GATE) {
        if (!desc_present(d->lo)) {
            raise_sel(cpu, EXCP_NP, sel);
        }
        sel = gate_selector(d->lo);
        if ((sel & 4) || !seg_fetch_desc(cpu, sel, &tss)) {
            raise_sel(cpu, EXCP_GP, sel);
        }
        d = &tss;
    }
    type = desc_type(d->lo);
    if (desc_s(d->lo) ||
        (type != DESC_TSS16_AVAIL && type != DESC_TSS32_AVAIL)) {
        raise_sel(cpu, EXCP_GP, sel);
    }
    task_switch(cpu, sel, d, source, next_rip, -1, 0);
}

/* ---- JMP far ---- */

void interp_far_jmp(InterpCPU *cpu, uint16_t sel, uint64_t offset,
                    uint64_t next_rip)
{
    SegDesc d;
    GateTarget t;

    if (!cpu->pe || cpu->vm86) {
        if (offset > cpu->segs[SEG_CS].limit) {
            interp_raise(cpu, EXCP_GP, 0);
        }
        seg_load_real(cpu, SEG_CS, sel);
        cpu->rip = offset;
        return;
    }
    if (!(sel & 0xfffc)) {
        interp_raise(cpu, EXCP_GP, 0);
    }
    if (!seg_fetch_desc(cpu, sel, &d)) {
        raise_sel(cpu, EXCP_GP, sel);
    }
    if (desc_s(d.lo)) {
        check_direct_code(cpu, sel, &d);
        check_code_offset(cpu, &d, offset);
        seg_set_accessed(cpu, &d);
        load_cs(cpu, sel, &d, cpu->cpl, offset);
        interp_update_hflags(cpu);
        return;
    }
    switch (desc_type(d.lo)) {
    case DESC_CALL_GATE16:
    case DESC_CALL_GATE32:
        if (cpu->lma && desc_type(d.lo) != DESC_CALL_GATE32) {
            break;
        }
        resolve_call_gate(cpu, sel, &d, &t);
        if (!desc_is_conforming(t.cs.lo) && desc_dpl(t.cs.lo) != cpu->cpl) {
            raise_sel(cpu, EXCP_GP, t.sel);
        }
        check_code_offset(cpu, &t.cs, t.offset);
        seg_set_accessed(cpu, &t.cs);
        load_cs(cpu, t.sel, &t.cs, cpu->cpl, t.offset);
        interp_update_hflags(cpu);
        return;
    case DESC_TASK_GATE:
    case DESC_TSS16_AVAIL:
    case DESC_TSS32_AVAIL:
        if (cpu->lma) {
            break;
        }
        far_task(cpu, sel, &d, TASK_JMP, next_rip);
        return;
    }
    raise_sel(cpu, EXCP_GP, sel);
}

/* ---- CALL far ---- */

/* Through a call gate to an inner level: the stack from the TSS. */
static void call_gate_inner(InterpCPU *cpu, const GateTarget *t,
                            uint64_t next_rip)
{
    unsigned cpl = desc_dpl(t->cs.lo);
    InterpStack old, st;
    X86Segment ss;
    SegDesc ssd;

    stack_current(cpu, &old);
    if (cpu->lma) {
        uint64_t rsp = tss_stack64(cpu, cpl, 0, 0);

        check_code_offset(cpu, &t->cs, t->offset);
        stack_new64(&st, rsp, cpl);
        stack_push(cpu, &st, cpu->segs[SEG_SS].selector, 8);
        stack_push(cpu, &st, cpu->regs[R_ESP], 8);
        stack_push(cpu, &st, cpu->segs[SEG_CS].selector, 8);
        stack_push(cpu, &st, next_rip, 8);
        seg_set_accessed(cpu, &t->cs);

        seg_load_null(cpu, SEG_SS, cpl);
        cpu->regs[R_ESP] = st.sp;
    } else {
        uint64_t params[32], esp;
        uint16_t ss_sel;
        uint32_t ss_ec;

        tss_stack(cpu, cpl, &ss_sel, &esp, 0);
        ss_ec = sel_ec(ss_sel);
        if (!(ss_sel & 0xfffc)) {
            interp_raise(cpu, EXCP_TS, 0);
        }
        if ((ss_sel & 3) != cpl || !seg_fetch_desc(cpu, ss_sel, &ssd) ||
            desc_dpl(ssd.lo) != cpl || !desc_is_writable_data(ssd.lo)) {
            interp_raise(cpu, EXCP_TS, ss_ec);
        }
        if (!desc_present(ssd.lo)) {
            interp_raise(cpu, EXCP_SS, ss_ec);
        }
        check_code_offset(cpu, &t->cs, t->offset);
        for (unsigned i = 0; i < t->params; i++) {
            params[i] = stack_peek(cpu, &old, i * t->size, t->size);
        }
        seg_cache_from_desc(&ss, ss_sel, &ssd, false);
        stack_new(&st, &ss, esp, cpl, ss_ec);
        stack_push(cpu, &st, cpu->segs[SEG_SS].selector, t->size);
        stack_push(cpu, &st, cpu->regs[R_ESP], t->size);
        for (unsigned i = t->params; i-- > 0;) {
            stack_push(cpu, &st, params[i], t->size);
        }
        stack_push(cpu, &st, cpu->segs[SEG_CS].selector, t->size);
        stack_push(cpu, &st, next_rip, t->size);
        seg_set_accessed(cpu, &ssd);
        seg_set_accessed(cpu, &t->cs);

        cpu->segs[SEG_SS] = ss;
        cpu->regs[R_ESP] = stack_rsp(&st);
    }
    load_cs(cpu, t->sel, &t->cs, cpl, t->offset);
    interp_update_hflags(cpu);
}

void interp_far_call(InterpCPU *cpu, uint16_t sel, uint64_t offset,
                     unsigned opsize, uint64_t next_rip)
{
    InterpStack st;
    SegDesc d;
    GateTarget t;

    if (!cpu->pe || cpu->vm86) {
        if (offset > cpu->segs[SEG_CS].limit) {
            interp_raise(cpu, EXCP_GP, 0);
        }
        stack_current(cpu, &st);
        stack_push(cpu, &st, cpu->segs[SEG_CS].selector, opsize);
        stack_push(cpu, &st, next_rip, opsize);
        cpu->regs[R_ESP] = stack_rsp(&st);
        seg_load_real(cpu, SEG_CS, sel);
        cpu->rip = offset;
        return;
    }
    if (!(sel & 0xfffc)) {
        interp_raise(cpu, EXCP_GP, 0);
    }
    if (!seg_fetch_desc(cpu, sel, &d)) {
        raise_sel(cpu, EXCP_GP, sel);
    }
    if (desc_s(d.lo)) {
        check_direct_code(cpu, sel, &d);
        stack_current(cpu, &st);
        stack_push(cpu, &st, cpu->segs[SEG_CS].selector, opsize);
        stack_push(cpu, &st, next_rip, opsize);
        check_code_offset(cpu, &d, offset);
        seg_set_accessed(cpu, &d);
        cpu->regs[R_ESP] = stack_rsp(&st);
        load_cs(cpu, sel, &d, cpu->cpl, offset);
        interp_update_hflags(cpu);
        return;
    }
    switch (desc_type(d.lo)) {
    case DESC_CALL_GATE16:
    case DESC_CALL_GATE32:
        if (cpu->lma && desc_type(d.lo) != DESC_CALL_GATE32) {
            break;
        }
        resolve_call_gate(cpu, sel, &d, &t);
        if (!desc_is_conforming(t.cs.lo) && desc_dpl(t.cs.lo) < cpu->cpl) {
            call_gate_inner(cpu, &t, next_rip);
            return;
        }
        /* Same level: CS:IP as wide as the gate, on the current stack
         * (64-bit for a 64-bit gate, even from compatibility mode). */
        if (cpu->lma) {
            stack_new64(&st, cpu->regs[R_ESP], cpu->cpl);
        } else {
            stack_current(cpu, &st);
        }
        stack_push(cpu, &st, cpu->segs[SEG_CS].selector, t.size);
        stack_push(cpu, &st, next_rip, t.size);
        check_code_offset(cpu, &t.cs, t.offset);
        seg_set_accessed(cpu, &t.cs);
        cpu->regs[R_ESP] = stack_rsp(&st);
        load_cs(cpu, t.sel, &t.cs, cpu->cpl, t.offset);
        interp_update_hflags(cpu);
        return;
    case DESC_TASK_GATE:
    case DESC_TSS16_AVAIL:
    case DESC_TSS32_AVAIL:
        if (cpu->lma) {
            break;
        }
        far_task(cpu, sel, &d, TASK_CALL, next_rip);
        return;
    }
    raise_sel(cpu, EXCP_GP, sel);
}

/* ---- RET far ---- */

/*
 * The common tail of RETF and IRET in protected and long mode, once CS
 * has passed check_return_code. To the same level: CS:RIP with RSP at
 * @st. To an outer level: pops SS:RSP (returned, for the caller to store
 * once RFLAGS and the mode are set) and loads SS and CS.
 */
static void return_same_level(InterpCPU *cpu, const InterpStack *st,
                              uint16_t cs_sel, SegDesc *cs, uint64_t rip)
{
    check_code_offset(cpu, cs, rip);
    seg_set_accessed(cpu, cs);
    cpu->regs[R_ESP] = stack_rsp(st);
    load_cs(cpu, cs_sel, cs, cs_sel & 3, rip);
}

static uint64_t return_outer_level(InterpCPU *cpu, InterpStack *st,
                                   unsigned opsize, uint16_t cs_sel,
                                   SegDesc *cs, uint64_t rip)
{
    unsigned rpl = cs_sel & 3;
    uint64_t sp = stack_pop(cpu, st, opsize);
    uint16_t ss_sel = stack_pop(cpu, st, opsize);
    SegDesc ss;
    bool ss_usable = check_return_ss(cpu, ss_sel, rpl,
                                     cpu->lma && desc_l(cs->lo), &ss);

    check_code_offset(cpu, cs, rip);
    seg_set_accessed(cpu, cs);
    if (ss_usable) {
        seg_set_accessed(cpu, &ss);
        seg_cache_from_desc(&cpu->segs[SEG_SS], ss_sel, &ss, false);
    } else {
        seg_load_null(cpu, SEG_SS, ss_sel);
    }
    load_cs(cpu, cs_sel, cs, rpl, rip);
    return sp;
}

void interp_far_ret(InterpCPU *cpu, unsigned opsize, uint16_t pop_bytes)
{
    InterpStack st;
    SegDesc cs;
    uint64_t rip, sp;
    uint16_t cs_sel;

    stack_current(cpu, &st);
    rip = stack_pop(cpu, &st, opsize);
    cs_sel = stack_pop(cpu, &st, opsize);
    if (!cpu->pe || cpu->vm86) {
        if (rip > cpu->segs[SEG_CS].limit) {
            interp_raise(cpu, EXCP_GP, 0);
        }
        st.sp = (st.sp + pop_bytes) & st.mask;
        cpu->regs[R_ESP] = stack_rsp(&st);
        seg_load_real(cpu, SEG_CS, cs_sel);
        cpu->rip = rip;
        return;
    }
    check_return_code(cpu, cs_sel, &cs);
    st.sp = (st.sp + pop_bytes) & st.mask;
    if ((cs_sel & 3) == cpu->cpl) {
        return_same_level(cpu, &st, cs_sel, &cs, rip);
        interp_update_hflags(cpu);
        return;
    }

    /* To an outer level: SS:SP follow the parameters. */
    sp = return_outer_level(cpu, &st, opsize, cs_sel, &cs, rip);
    interp_update_hflags(cpu);
    set_outer_rsp(cpu, sp + pop_bytes);
    seg_null_invalid(cpu);
}

/* ---- IRET ---- */

#define RFLAGS_ALL  0x3f7fd5ULL     /* every defined flag */

static void iret_real(InterpCPU *cpu, unsigned opsize)
{
    InterpStack st;
    uint64_t rip, flags;
    uint16_t cs_sel;

    stack_current(cpu, &st);
    rip = stack_pop(cpu, &st, opsize);
    cs_sel = stack_pop(cpu, &st, opsize);
    flags = stack_pop(cpu, &st, opsize);
    if (rip > cpu->segs[SEG_CS].limit) {
        interp_raise(cpu, EXCP_GP, 0);
    }
    cpu->regs[R_ESP] = stack_rsp(&st);
    seg_load_real(cpu, SEG_CS, cs_sel);
    cpu->rip = rip;
    interp_set_rflags(cpu, flags, opsize == 2 ? 0xffff :
                      RFLAGS_ALL & ~(RFLAGS_VM | RFLAGS_VIF | RFLAGS_VIP));
}

static void iret_v86(InterpCPU *cpu, unsigned opsize)
{
    InterpStack st;
    uint64_t rip, flags, mask;
    uint16_t cs_sel;
    bool iopl3 = (cpu->rflags & RFLAGS_IOPL) == RFLAGS_IOPL;

    if (!iopl3 && (!(cpu->cr4 & CR4_VME) || opsize != 2)) {
        interp_raise(cpu, EXCP_GP, 0);
    }
    stack_current(cpu, &st);
    rip = stack_pop(cpu, &st, opsize);
    cs_sel = stack_pop(cpu, &st, opsize);
    flags = stack_pop(cpu, &st, opsize);
    if (rip > cpu->segs[SEG_CS].limit) {
        interp_raise(cpu, EXCP_GP, 0);
    }
    if (iopl3) {
        mask = opsize == 2 ? 0xffff & ~RFLAGS_IOPL :
               RFLAGS_ALL & ~(RFLAGS_VM | RFLAGS_IOPL | RFLAGS_VIF |
                              RFLAGS_VIP);
    } else {
        /* CR4.VME: IF goes to VIF; no return with TF or a pending VIF. */
        if ((flags & RFLAGS_TF) ||
            ((cpu->rflags & RFLAGS_VIP) && (flags & RFLAGS_IF))) {
            interp_raise(cpu, EXCP_GP, 0);
        }
        mask = 0xffff & ~(RFLAGS_IOPL | RFLAGS_IF);
        flags = (flags & ~RFLAGS_VIF) | (flags & RFLAGS_IF ? RFLAGS_VIF : 0);
        mask |= RFLAGS_VIF;
    }
    cpu->regs[R_ESP] = stack_rsp(&st);
    seg_load_real(cpu, SEG_CS, cs_sel);
    cpu->rip = rip;
    interp_set_rflags(cpu, flags, mask);
}

/* From CPL 0 with VM set in the popped flags (32-bit IRET only). */
static void iret_to_v86(InterpCPU *cpu, InterpStack *st, uint64_t rip,
                        uint16_t cs_sel, uint64_t flags)
{
    static const int data_segs[] = { SEG_ES, SEG_DS, SEG_FS, SEG_GS };
    uint16_t sels[4], ss_sel;
    uint64_t esp;

    esp = stack_pop(cpu, st, 4);
    ss_sel = stack_pop(cpu, st, 4);
    for (int i = 0; i < 4; i++) {
        sels[i] = stack_pop(cpu, st, 4);
    }
    interp_set_rflags(cpu, flags, RFLAGS_ALL);
    interp_update_hflags(cpu);
    seg_load_real(cpu, SEG_CS, cs_sel);
    seg_load_real(cpu, SEG_SS, ss_sel);
    for (int i = 0; i < 4; i++) {
        seg_load_real(cpu, data_segs[i], sels[i]);
    }
    cpu->regs[R_ESP] = (uint32_t)esp;
    cpu->rip = rip & 0xffff;
    interp_update_hflags(cpu);
}

/* The flags an IRET in protected mode may change, at CPL @cpl. */
static uint64_t iret_flags_mask(InterpCPU *cpu, unsigned opsize, unsigned cpl)
{
    unsigned iopl = (cpu->rflags & RFLAGS_IOPL) >> 12;
    uint64_t mask = RFLAGS_OSZAPC | RFLAGS_TF | RFLAGS_DF | RFLAGS_NT;

    if (opsize >= 4) {
        mask |= RFLAGS_RF | RFLAGS_AC | RFLAGS_ID;
    }
    if (cpl <= iopl) {
        mask |= RFLAGS_IF;
    }
    if (cpl == 0) {
        mask |= RFLAGS_IOPL;
        if (opsize >= 4) {
            mask |= RFLAGS_VIF | RFLAGS_VIP;
        }
    }
    return opsize == 2 ? mask & 0xffff : mask;
}

/* IRET with NT: back to the task in the TSS's link field. */
static void iret_task(InterpCPU *cpu)
{
    uint16_t link = interp_ld_kernel(cpu, (uint32_t)cpu->tr.base, 2);
    uint64_t next_rip = cpu->cur ? insn_next_rip(cpu->cur) : cpu->rip;
    SegDesc d;

    if ((link & 4) || !seg_fetch_desc(cpu, link, &d) || desc_s(d.lo) ||
        (desc_type(d.lo) != DESC_TSS32_BUSY &&
         desc_type(d.lo) != DESC_TSS16_BUSY)) {
        raise_sel(cpu, EXCP_TS, link);
    }
    task_switch(cpu, link, &d, TASK_IRET, next_rip, -1, 0);
}

static void iret_protected(InterpCPU *cpu, unsigned opsize)
{
    InterpStack st;
    SegDesc cs;
    uint64_t rip, flags, sp, mask;
    uint16_t cs_sel;
    unsigned cpl = cpu->cpl;

    stack_current(cpu, &st);
    rip = stack_pop(cpu, &st, opsize);
    cs_sel = stack_pop(cpu, &st, opsize);
    flags = stack_pop(cpu, &st, opsize);
    if ((flags & RFLAGS_VM) && cpl == 0 && !cpu->lma && opsize == 4) {
        iret_to_v86(cpu, &st, rip, cs_sel, flags);
        return;
    }
    check_return_code(cpu, cs_sel, &cs);
    mask = iret_flags_mask(cpu, opsize, cpl);
    if ((cs_sel & 3) == cpl && !cpu->long64) {
        return_same_level(cpu, &st, cs_sel, &cs, rip);
        interp_set_rflags(cpu, flags, mask);
        interp_update_hflags(cpu);
        return;
    }

    /* To an outer level, or any IRET in 64-bit mode: SS:RSP too. */
    sp = return_outer_level(cpu, &st, opsize, cs_sel, &cs, rip);
    interp_set_rflags(cpu, flags, mask);
    interp_update_hflags(cpu);
    set_outer_rsp(cpu, sp);
    seg_null_invalid(cpu);
}

void interp_iret(InterpCPU *cpu, unsigned opsize)
{
    /* Any IRET ends NMI blocking, even one that faults (SDM 6.7.1). */
    cpu->nmi_blocked = false;
    if (!cpu->pe) {
        iret_real(cpu, opsize);
    } else if (cpu->vm86) {
        iret_v86(cpu, opsize);
    } else if (cpu->rflags & RFLAGS_NT) {
        if (cpu->lma) {
            interp_raise(cpu, EXCP_GP, 0);
        }
        iret_task(cpu);
    } else {
        iret_protected(cpu, opsize);
    }
}

/* ---- task switch ---- */

/* Where a TSS keeps each field: 32-bit and 16-bit layouts. */
typedef struct TssLayout {
    uint16_t ip, flags, regs, ldt, segs;
    uint8_t width;            /* of the register fields */
    uint8_t seg_stride;
    uint8_t nsegs;            /* ES, CS, SS, DS (, FS, GS) */
    uint16_t min_limit;
} TssLayout;

static const TssLayout tss32 = {
    .ip = 0x20, .flags = 0x24, .regs = 0x28, .segs = 0x48, .ldt = 0x60,
    .width = 4, .seg_stride = 4, .nsegs = 6, .min_limit = 0x67,
};
static const TssLayout tss16 = {
    .ip = 0x0e, .flags = 0x10, .regs = 0x12, .segs = 0x22, .ldt = 0x2a,
    .width = 2, .seg_stride = 2, .nsegs = 4, .min_limit = 0x2b,
};

/* The new task's state, read before anything changes. */
typedef struct TaskState {
    uint64_t cr3, rip, flags;
    uint64_t regs[8];
    uint16_t segs[X86_NR_SEGS];
    uint16_t ldt;
    bool trap;
} TaskState;

static void tss_read(InterpCPU *cpu, uint64_t base, const TssLayout *l,
                     TaskState *ts)
{
    ts->cr3 = l->width == 4 ? interp_ld_kernel(cpu, base + 0x1c, 4)
                            : cpu->cr3;
    ts->rip = interp_ld_kernel(cpu, base + l->ip, l->width);
    ts->flags = interp_ld_kernel(cpu, base + l->flags, l->width);
    for (int i = 0; i < 8; i++) {
        uint64_t v = interp_ld_kernel(cpu, base + l->regs + i * l->width,
                                      l->width);

        /* A 16-bit TSS leaves the upper halves of the registers. */
        ts->regs[i] = l->width == 4 ? v
                                    : (cpu->regs[i] & ~0xffffULL) | v;
    }
    for (int i = 0; i < X86_NR_SEGS; i++) {
        ts->segs[i] = i < l->nsegs ?
            interp_ld_kernel(cpu, base + l->segs + i * l->seg_stride, 2) : 0;
    }
    ts->ldt = interp_ld_kernel(cpu, base + l->ldt, 2);
    ts->trap = l->width == 4 && (interp_ld_kernel(cpu, base + 0x64, 2) & 1);
}

static void tss_save(InterpCPU *cpu, uint64_t base, const TssLayout *l,
                     uint64_t rip, uint64_t flags)
{
    interp_st_kernel(cpu, base + l->ip, l->width, rip);
    interp_st_kernel(cpu, base + l->flags, l->width, flags);
    for (int i = 0; i < 8; i++) {
        interp_st_kernel(cpu, base + l->regs + i * l->width, l->width,
                         cpu->regs[i]);
    }
    for (int i = 0; i < l->nsegs; i++) {
        interp_st_kernel(cpu, base + l->segs + i * l->seg_stride, 2,
                         cpu->segs[i].selector);
    }
}

/* Sets or clears the busy bit of the TSS descriptor at @addr. */
static void tss_set_busy(InterpCPU *cpu, uint64_t addr, bool busy)
{
    uint8_t access = interp_ld_kernel(cpu, addr + 5, 1);

    access = busy ? access | DESC_TSS_BUSY_BIT : access & ~DESC_TSS_BUSY_BIT;
    interp_st_kernel(cpu, addr + 5, 1, access);
}

/* Loads segment @seg of the incoming task, raising #TS/#NP/#SS in it. */
static void task_load_seg(InterpCPU *cpu, int seg, uint16_t sel,
                          unsigned cpl, uint32_t ext)
{
    uint32_t ec = sel_ec(sel) | ext;
    unsigned dpl;
    SegDesc d;

    if (!(sel & 0xfffc)) {
        if (seg == SEG_CS || seg == SEG_SS) {
            interp_raise(cpu, EXCP_TS, ec);
        }
        seg_load_null(cpu, seg, sel);
        return;
    }
    if (!seg_fetch_desc(cpu, sel, &d) || !desc_s(d.lo)) {
        interp_raise(cpu, EXCP_TS, ec);
    }
    dpl = desc_dpl(d.lo);
    if (seg == SEG_CS) {
        if (!desc_is_code(d.lo) ||
            (desc_is_conforming(d.lo) ? dpl > cpl : dpl != cpl)) {
            interp_raise(cpu, EXCP_TS, ec);
        }
    } else if (seg == SEG_SS) {
        if ((sel & 3) != cpl || !desc_is_writable_data(d.lo) || dpl != cpl) {
            interp_raise(cpu, EXCP_TS, ec);
        }
    } else {
        if (desc_is_code(d.lo) && !(desc_type(d.lo) & DESC_CODE_READABLE)) {
            interp_raise(cpu, EXCP_TS, ec);
        }
        if (!desc_is_conforming(d.lo) && ((sel & 3) > dpl || cpl > dpl)) {
            interp_raise(cpu, EXCP_TS, ec);
        }
    }
    if (!desc_present(d.lo)) {
        interp_raise(cpu, seg == SEG_SS ? EXCP_SS : EXCP_NP, ec);
    }
    seg_set_accessed(cpu, &d);
    seg_cache_from_desc(&cpu->segs[seg], sel, &d, false);
    seg_refresh(cpu, seg);
}

void task_switch(InterpCPU *cpu, uint16_t sel, const SegDesc *d, int source,
                 uint64_t ret_rip, int64_t error_code, uint32_t ext)
{
    const TssLayout *nl = desc_type(d->lo) & 8 ? &tss32 : &tss16;
    const TssLayout *ol = cpu->tr.type & 8 ? &tss32 : &tss16;
    uint64_t nbase = desc_base(d->lo), obase = (uint32_t)cpu->tr.base;
    uint32_t ec = sel_ec(sel) | ext;
    uint64_t flags;
    unsigned cpl;
    TaskState ts;
    SegDesc od;

    if (!desc_present(d->lo)) {
        interp_raise(cpu, EXCP_NP, ec);
    }
    if (desc_limit(d->lo) < nl->min_limit) {
        interp_raise(cpu, EXCP_TS, ec);
    }
    if (cpu->tr.limit < ol->ldt - 1u) {
        interp_raise(cpu, EXCP_TS, sel_ec(cpu->tr.selector) | ext);
    }
    tss_read(cpu, nbase, nl, &ts);

    /* The outgoing task: its state, and its busy bit for JMP/IRET. */
    flags = interp_get_rflags(cpu);
    if (source == TASK_IRET) {
        flags &= ~RFLAGS_NT;
    }
    tss_save(cpu, obase, ol, ret_rip, flags);
    if ((source == TASK_JMP || source == TASK_IRET) &&
        !(cpu->tr.selector & 4) && seg_fetch_desc(cpu, cpu->tr.selector, &od)) {
        tss_set_busy(cpu, od.addr, false);
    }
    if (source == TASK_CALL || source == TASK_INT) {
        interp_st_kernel(cpu, nbase, 2, cpu->tr.selector);
        ts.flags |= RFLAGS_NT;
    }
    if (source != TASK_IRET) {
        tss_set_busy(cpu, d->addr, true);
    }

    /* The switch: from here on, faults belong to the new task. */
    seg_cache_from_desc(&cpu->tr, sel, d, false);
    cpu->tr.type |= DESC_TSS_BUSY_BIT;
    cpu->cr0 |= CR0_TS;
    if (nl->width == 4 && cpu->paging) {
        cpu->cr3 = ts.cr3;
    }
    memcpy(cpu->regs, ts.regs, sizeof(ts.regs));
    cpu->rip = ts.rip;
    cpu->cur = NULL;
    cpl = ts.segs[SEG_CS] & 3;
    for (int i = 0; i < X86_NR_SEGS; i++) {
        cpu->segs[i] = (X86Segment) {
            .selector = ts.segs[i], .unusable = 1,
            .dpl = i == SEG_SS ? cpl : 0,
        };
    }
    cpu->ldt = (X86Segment) { .selector = ts.ldt, .unusable = 1 };
    interp_set_rflags(cpu, ts.flags | RFLAGS_FIXED,
                      nl->width == 4 ? ~0ULL : 0xffff);
    interp_update_hflags(cpu);
    interp_tlb_flush_all(cpu);

    if (ts.ldt & 0xfffc) {
        SegDesc ld;

        if ((ts.ldt & 4) || !seg_fetch_desc(cpu, ts.ldt, &ld) ||
            desc_s(ld.lo) || desc_type(ld.lo) != DESC_LDT ||
            !desc_present(ld.lo)) {
            interp_raise(cpu, EXCP_TS, sel_ec(ts.ldt) | ext);
        }
        seg_cache_from_desc(&cpu->ldt, ts.ldt, &ld, false);
    }
    if (cpu->vm86) {
        for (int i = 0; i < X86_NR_SEGS; i++) {
            seg_load_real(cpu, i, ts.segs[i]);
        }
    } else {
        static const int order[] = {
            SEG_CS, SEG_SS, SEG_DS, SEG_ES, SEG_FS, SEG_GS,
        };

        for (unsigned i = 0; i < G_N_ELEMENTS(order); i++) {
            task_load_seg(cpu, order[i], ts.segs[order[i]], cpl, ext);
        }
    }
    interp_update_hflags(cpu);
    if (cpu->rip > cpu->segs[SEG_CS].limit) {
        interp_raise(cpu, EXCP_GP, 0);
    }
    if (error_code >= 0) {
        InterpStack st;

        stack_current(cpu, &st);
        stack_push(cpu, &st, error_code, nl->width);
        cpu->regs[R_ESP] = stack_rsp(&st);
    }
    if (ts.trap) {
        lemu_log_mask(LOG_UNIMP, "interp: TSS debug trap flag ignored\n");
    }
}
