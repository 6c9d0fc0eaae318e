/*
 * Exceptions and interrupts: raising (a longjmp back to the dispatch
 * loop), the double-fault rules, and delivery through the IVT (real
 * mode), the IDT's interrupt, trap and task gates (protected and
 * virtual-8086 mode) and the 64-bit IDT (long mode), as the Intel SDM
 * vol. 3 chapter 6 and vol. 2 INT n / IRET describe them.
 */
#include <inttypes.h>
#include "insn.h"
#include "seg.h"
#include "lemu/util/log.h"

/* Exception classes for the double-fault rules (SDM vol. 3, table 6-5). */
enum { CLASS_BENIGN, CLASS_CONTRIBUTORY, CLASS_PF, CLASS_DF };

static int event_class(int vector, InterpEventKind kind)
{
    if (kind != EVENT_FAULT) {
        return CLASS_BENIGN;
    }
    switch (vector) {
    case EXCP_DE: case EXCP_TS: case EXCP_NP: case EXCP_SS: case EXCP_GP:
        return CLASS_CONTRIBUTORY;
    case EXCP_PF:
        return CLASS_PF;
    case EXCP_DF:
        return CLASS_DF;
    default:
        return CLASS_BENIGN;
    }
}

static bool vector_has_error_code(int vector)
{
    return vector == EXCP_DF || (vector >= EXCP_TS && vector <= EXCP_PF) ||
           vector == EXCP_AC;
}

/* INT n, INT3 and INTO: the gate DPL is checked, EXT is clear. */
static bool event_is_soft(InterpEventKind kind)
{
    return kind == EVENT_SOFT_INT || kind == EVENT_SOFT_EXCP;
}

G_NORETURN void interp_raise(InterpCPU *cpu, int vector, uint32_t error_code)
{
    /* Real mode pushes no error codes. */
    int64_t ec = vector_has_error_code(vector) && cpu->pe ?
                 (int64_t)error_code : -1;

    if (cpu->excp.delivering >= 0) {
        /* A fault while delivering an event: RIP stays that of the
         * event; combine the two as the SDM says. */
        int first = event_class(cpu->excp.delivering, cpu->excp.kind);
        int second = event_class(vector, EVENT_FAULT);

        if (first == CLASS_DF) {
            lemu_log_mask(LOG_INT | LOG_GUEST_ERROR,
                          "Triple fault (v=%02x during #DF delivery)\n",
                          vector);
            cpu->shutdown = true;
            cpu->excp.vector = -1;
            siglongjmp(cpu->jmp_env, 1);
        }
        if ((first == CLASS_CONTRIBUTORY && second == CLASS_CONTRIBUTORY) ||
            (first == CLASS_PF && second != CLASS_BENIGN)) {
            vector = EXCP_DF;
            ec = 0;
        }
    } else if (cpu->cur) {
        cpu->rip = cpu->cur->rip;
    }
    cpu->excp.vector = vector;
    cpu->excp.error_code = ec;
    cpu->excp.kind = EVENT_FAULT;
    cpu->excp.next_rip = cpu->rip;
    siglongjmp(cpu->jmp_env, 1);
}

G_NORETURN void interp_raise_pf(InterpCPU *cpu, uint64_t lin, uint32_t ec)
{
    cpu->cr2 = lin;
    interp_raise(cpu, EXCP_PF, ec);
}

G_NORETURN void interp_raise_soft(InterpCPU *cpu, int vector,
                                  InterpEventKind kind, uint64_t next_rip)
{
    if (cpu->cur) {
        cpu->rip = cpu->cur->rip;
    }
    cpu->excp.vector = vector;
    cpu->excp.error_code = -1;
    cpu->excp.kind = kind;
    cpu->excp.next_rip = next_rip;
    siglongjmp(cpu->jmp_env, 1);
}

/* ---- delivery ---- */

/* -d int: QEMU's line for each event. */
static void log_event(InterpCPU *cpu, int vector, InterpEventKind kind,
                      int64_t ec)
{
    int count;

    if (!log_enabled(LOG_INT)) {
        return;
    }
    count = __atomic_fetch_add(&cpu->shared->int_log_count, 1,
                               __ATOMIC_RELAXED);
    /* One call: lines of concurrent vCPUs do not mix. */
    log_printf("%6d: v=%02x e=%04x i=%d cpl=%d IP=%04x:%016" PRIx64
               " pc=%016" PRIx64 " SP=%04x:%016" PRIx64 " %s=%016" PRIx64
               "\n",
               count, vector, ec >= 0 ? (unsigned)ec : 0,
               kind != EVENT_FAULT && kind != EVENT_EXT_INT, cpu->cpl,
               cpu->segs[SEG_CS].selector, cpu->rip,
               cpu->segs[SEG_CS].base + cpu->rip,
               cpu->segs[SEG_SS].selector, cpu->regs[R_ESP],
               vector == EXCP_PF ? "CR2" : "env->regs[R_EAX]",
               vector == EXCP_PF ? cpu->cr2 : cpu->regs[R_EAX]);
}

/* RFLAGS as pushed: RF set for faults (SDM vol. 3, 17.3.1.1), clear for
 * software interrupts. */
static uint64_t event_rflags(InterpCPU *cpu, int vector, InterpEventKind kind)
{
    uint64_t flags = interp_get_rflags(cpu);

    if (kind == EVENT_FAULT && vector != EXCP_DB && vector != EXCP_DF &&
        vector != EXCP_MC) {
        flags |= RFLAGS_RF;
    } else if (kind != EVENT_FAULT && kind != EVENT_EXT_INT) {
        flags &= ~RFLAGS_RF;
    }
    return flags;
}

static void deliver_real(InterpCPU *cpu, int vector, uint64_t ret_rip,
                         uint64_t flags, uint32_t ext)
{
    InterpStack st;
    uint32_t entry;

    if ((uint32_t)vector * 4 + 3 > cpu->idt.limit) {
        interp_raise(cpu, EXCP_GP, vector * 8 + 2 + ext);
    }
    entry = interp_ld_kernel(cpu, (uint32_t)(cpu->idt.base + vector * 4), 4);
    stack_current(cpu, &st);
    stack_push(cpu, &st, flags, 2);
    stack_push(cpu, &st, cpu->segs[SEG_CS].selector, 2);
    stack_push(cpu, &st, ret_rip, 2);

    cpu->regs[R_ESP] = stack_rsp(&st);
    interp_set_rflags(cpu, 0, RFLAGS_IF | RFLAGS_TF | RFLAGS_AC | RFLAGS_RF);
    seg_load_real(cpu, SEG_CS, entry >> 16);
    cpu->rip = entry & 0xffff;
}

/* INT n in v86 mode with CR4.VME: whether the TSS's interrupt
 * redirection bitmap sends @vector to the v86 program's own IVT. */
static bool v86_int_redirected(InterpCPU *cpu, int vector)
{
    uint32_t io_base, off;

    if (!(cpu->cr4 & CR4_VME) || cpu->tr.limit < 0x67) {
        return false;
    }
    io_base = interp_ld_kernel(cpu, (uint32_t)(cpu->tr.base + 0x66), 2);
    if (io_base < 32) {
        return false;
    }
    off = io_base - 32 + vector / 8;
    if (off > cpu->tr.limit) {
        return false;
    }
    return !((interp_ld_kernel(cpu, (uint32_t)(cpu->tr.base + off), 1) >>
              (vector & 7)) & 1);
}

/* A redirected INT n: through the IVT at linear 0 of the v86 task. */
static void deliver_v86_ivt(InterpCPU *cpu, int vector, uint64_t ret_rip)
{
    uint64_t flags = interp_get_rflags(cpu);
    bool iopl3 = (flags & RFLAGS_IOPL) == RFLAGS_IOPL;
    InterpStack st;
    uint32_t entry;

    if (!iopl3) {
        /* The image shows VIF as IF and IOPL as 3. */
        flags = (flags & ~RFLAGS_IF) | RFLAGS_IOPL |
                (flags & RFLAGS_VIF ? RFLAGS_IF : 0);
    }
    entry = interp_ld32(cpu, vector * 4);
    stack_current(cpu, &st);
    stack_push(cpu, &st, flags, 2);
    stack_push(cpu, &st, cpu->segs[SEG_CS].selector, 2);
    stack_push(cpu, &st, ret_rip, 2);

    cpu->regs[R_ESP] = stack_rsp(&st);
    interp_set_rflags(cpu, 0, RFLAGS_TF | (iopl3 ? RFLAGS_IF : RFLAGS_VIF));
    seg_load_real(cpu, SEG_CS, entry >> 16);
    cpu->rip = entry & 0xffff;
}

/* The IDT gate of @vector; checks common to both IDT formats. */
static void read_gate(InterpCPU *cpu, int vector, InterpEventKind kind,
                      uint32_t ext, unsigned gate_size, SegDesc *gate)
{
    uint32_t idt_ec = vector * 8 + 2 + ext;
    uint64_t addr = cpu->idt.base + (uint64_t)vector * gate_size;

    if ((uint32_t)vector * gate_size + gate_size - 1 > cpu->idt.limit) {
        interp_raise(cpu, EXCP_GP, idt_ec);
    }
    gate->addr = cpu->lma ? addr : (uint32_t)addr;
    gate->lo = interp_ld_kernel(cpu, gate->addr, 8);
    gate->hi = gate_size == 16 ? interp_ld_kernel(cpu, gate->addr + 8, 8) : 0;
    switch (desc_type(gate->lo)) {
    case DESC_INT_GATE32: case DESC_TRAP_GATE32:
        break;
    case DESC_TASK_GATE: case DESC_INT_GATE16: case DESC_TRAP_GATE16:
        if (gate_size == 8) {
            break;
        }
        interp_raise(cpu, EXCP_GP, idt_ec);   /* not in the 64-bit IDT */
    default:
        interp_raise(cpu, EXCP_GP, idt_ec);
    }
    if (desc_s(gate->lo)) {
        interp_raise(cpu, EXCP_GP, idt_ec);
    }
    if (event_is_soft(kind) && desc_dpl(gate->lo) < cpu->cpl) {
        interp_raise(cpu, EXCP_GP, vector * 8 + 2);
    }
    if (!desc_present(gate->lo)) {
        interp_raise(cpu, EXCP_NP, idt_ec);
    }
}

/* The code segment a gate leads to. */
static void read_gate_target(InterpCPU *cpu, uint16_t sel, uint32_t ext,
                             SegDesc *cs)
{
    uint32_t ec = sel_ec(sel) | ext;

    if (!(sel & 0xfffc)) {
        interp_raise(cpu, EXCP_GP, ext);
    }
    if (!seg_fetch_desc(cpu, sel, cs)) {
        interp_raise(cpu, EXCP_GP, ec);
    }
    if (!desc_is_code(cs->lo) || desc_dpl(cs->lo) > cpu->cpl) {
        interp_raise(cpu, EXCP_GP, ec);
    }
    if (cpu->lma && (!desc_l(cs->lo) || desc_db(cs->lo))) {
        interp_raise(cpu, EXCP_GP, ec);
    }
    if (!desc_present(cs->lo)) {
        interp_raise(cpu, EXCP_NP, ec);
    }
}

static void deliver_task_gate(InterpCPU *cpu, const SegDesc *gate,
                              uint64_t ret_rip, int64_t ec, uint32_t ext)
{
    uint16_t sel = gate_selector(gate->lo);
    SegDesc tss;

    if ((sel & 4) || !seg_fetch_desc(cpu, sel, &tss)) {
        interp_raise(cpu, EXCP_GP, sel_ec(sel) | ext);
    }
    if (desc_s(tss.lo) || (desc_type(tss.lo) != DESC_TSS32_AVAIL &&
                           desc_type(tss.lo) != DESC_TSS16_AVAIL)) {
        interp_raise(cpu, EXCP_GP, sel_ec(sel) | ext);
    }
    task_switch(cpu, sel, &tss, TASK_INT, ret_rip, ec, ext);
}

/* Protected mode (and v86 mode): the legacy IDT. */
static void deliver_protected(InterpCPU *cpu, int vector,
                              InterpEventKind kind, uint64_t ret_rip,
                              uint64_t flags, int64_t ec, uint32_t ext)
{
    SegDesc gate, cs, ssd;
    X86Segment ss;
    InterpStack st;
    unsigned type, size, dpl, cpl = cpu->cpl;
    uint16_t sel;
    uint64_t offset;

    read_gate(cpu, vector, kind, ext, 8, &gate);
    type = desc_type(gate.lo);
    if (type == DESC_TASK_GATE) {
        deliver_task_gate(cpu, &gate, ret_rip, ec, ext);
        return;
    }
    size = type & 8 ? 4 : 2;
    offset = size == 4 ? gate_offset(gate.lo) : gate.lo & 0xffff;
    sel = gate_selector(gate.lo);
    read_gate_target(cpu, sel, ext, &cs);
    dpl = desc_dpl(cs.lo);

    if (!desc_is_conforming(cs.lo) && dpl < cpl) {
        /* To an inner level, on the stack the TSS names. */
        uint16_t ss_sel;
        uint64_t esp;
        uint32_t ss_ec;

        if (cpu->vm86 && dpl != 0) {
            interp_raise(cpu, EXCP_GP, sel_ec(sel) | ext);
        }
        tss_stack(cpu, dpl, &ss_sel, &esp, ext);
        ss_ec = sel_ec(ss_sel) | ext;
        if (!(ss_sel & 0xfffc)) {
            interp_raise(cpu, EXCP_TS, ext);
        }
        if ((ss_sel & 3) != dpl || !seg_fetch_desc(cpu, ss_sel, &ssd) ||
            !desc_is_writable_data(ssd.lo) || desc_dpl(ssd.lo) != dpl) {
            interp_raise(cpu, EXCP_TS, ss_ec);
        }
        if (!desc_present(ssd.lo)) {
            interp_raise(cpu, EXCP_SS, ss_ec);
        }
        if (offset > desc_limit(cs.lo)) {
            interp_raise(cpu, EXCP_GP, ext);
        }
        seg_cache_from_desc(&ss, ss_sel, &ssd, false);
        stack_new(&st, &ss, esp, dpl, ss_ec);
        if (cpu->vm86) {
            stack_push(cpu, &st, cpu->segs[SEG_GS].selector, size);
            stack_push(cpu, &st, cpu->segs[SEG_FS].selector, size);
            stack_push(cpu, &st, cpu->segs[SEG_DS].selector, size);
            stack_push(cpu, &st, cpu->segs[SEG_ES].selector, size);
        }
        stack_push(cpu, &st, cpu->segs[SEG_SS].selector, size);
        stack_push(cpu, &st, cpu->regs[R_ESP], size);
    } else {
        if (cpu->vm86) {
            interp_raise(cpu, EXCP_GP, sel_ec(sel) | ext);
        }
        if (offset > desc_limit(cs.lo)) {
            interp_raise(cpu, EXCP_GP, ext);
        }
        stack_current(cpu, &st);
        dpl = cpl;
    }
    stack_push(cpu, &st, flags, size);
    stack_push(cpu, &st, cpu->segs[SEG_CS].selector, size);
    stack_push(cpu, &st, ret_rip, size);
    if (ec >= 0) {
        stack_push(cpu, &st, ec, size);
    }
    seg_set_accessed(cpu, &cs);
    if (dpl != cpl) {
        seg_set_accessed(cpu, &ssd);
    }

    /* Everything that can fault is done. */
    if (dpl != cpl) {
        if (cpu->vm86) {
            seg_load_null(cpu, SEG_ES, 0);
            seg_load_null(cpu, SEG_DS, 0);
            seg_load_null(cpu, SEG_FS, 0);
            seg_load_null(cpu, SEG_GS, 0);
        }
        cpu->segs[SEG_SS] = ss;
    }
    cpu->regs[R_ESP] = stack_rsp(&st);
    seg_cache_from_desc(&cpu->segs[SEG_CS], (sel & ~3) | dpl, &cs, false);
    cpu->rip = offset;
    interp_set_rflags(cpu, 0, RFLAGS_TF | RFLAGS_NT | RFLAGS_RF | RFLAGS_VM |
                      (type & 1 ? 0 : RFLAGS_IF));
    interp_update_hflags(cpu);
}

/* IA-32e mode: 16-byte gates, 64-bit frames, IST. */
static void deliver_long(InterpCPU *cpu, int vector, InterpEventKind kind,
                         uint64_t ret_rip, uint64_t flags, int64_t ec,
                         uint32_t ext)
{
    SegDesc gate, cs;
    InterpStack st;
    unsigned ist, dpl, cpl = cpu->cpl;
    uint16_t sel;
    uint64_t offset, rsp;

    read_gate(cpu, vector, kind, ext, 16, &gate);
    offset = gate_offset(gate.lo) | (gate.hi & 0xffffffffULL) << 32;
    ist = (gate.lo >> 32) & 7;
    sel = gate_selector(gate.lo);
    read_gate_target(cpu, sel, ext, &cs);
    if (!is_canonical(offset)) {
        interp_raise(cpu, EXCP_GP, ext);
    }
    dpl = desc_dpl(cs.lo);
    if (desc_is_conforming(cs.lo) || dpl >= cpl) {
        dpl = cpl;
    }
    if (ist) {
        rsp = tss_stack64(cpu, 0, ist, ext);
    } else if (dpl != cpl) {
        rsp = tss_stack64(cpu, dpl, 0, ext);
    } else {
        rsp = cpu->regs[R_ESP];
    }
    stack_new64(&st, rsp & ~0xfULL, dpl);
    st.ec = ext;
    stack_push(cpu, &st, cpu->segs[SEG_SS].selector, 8);
    stack_push(cpu, &st, cpu->regs[R_ESP], 8);
    stack_push(cpu, &st, flags, 8);
    stack_push(cpu, &st, cpu->segs[SEG_CS].selector, 8);
    stack_push(cpu, &st, ret_rip, 8);
    if (ec >= 0) {
        stack_push(cpu, &st, ec, 8);
    }
    seg_set_accessed(cpu, &cs);

    if (dpl != cpl) {
        seg_load_null(cpu, SEG_SS, dpl);      /* null SS, RPL = new CPL */
    }
    cpu->regs[R_ESP] = st.sp;
    seg_cache_from_desc(&cpu->segs[SEG_CS], (sel & ~3) | dpl, &cs, false);
    cpu->rip = offset;
    interp_set_rflags(cpu, 0, RFLAGS_TF | RFLAGS_NT | RFLAGS_RF | RFLAGS_VM |
                      (desc_type(gate.lo) & 1 ? 0 : RFLAGS_IF));
    interp_update_hflags(cpu);
}

/* Delivers cpu->excp; raises on a fault in the middle. */
static void deliver_event(InterpCPU *cpu)
{
    int vector = cpu->excp.vector;
    InterpEventKind kind = cpu->excp.kind;
    int64_t ec = cpu->excp.error_code;
    uint64_t ret_rip = kind == EVENT_FAULT || kind == EVENT_EXT_INT ?
                       cpu->rip : cpu->excp.next_rip;
    uint32_t ext = event_is_soft(kind) ? 0 : 1;
    uint64_t flags;

    cpu->cur = NULL;
    cpu->excp.delivering = vector;
    log_event(cpu, vector, kind, ec);
    flags = event_rflags(cpu, vector, kind);

    if (!cpu->pe) {
        deliver_real(cpu, vector, ret_rip, flags, ext);
    } else if (cpu->lma) {
        deliver_long(cpu, vector, kind, ret_rip, flags, ec, ext);
    } else {
        if (cpu->vm86 && kind == EVENT_SOFT_INT) {
            /* INT n is IOPL-sensitive in v86 mode, unless CR4.VME
             * redirects it to the v86 program's IVT. */
            if (v86_int_redirected(cpu, vector)) {
                deliver_v86_ivt(cpu, vector, ret_rip);
                return;
            }
            if ((cpu->rflags & RFLAGS_IOPL) != RFLAGS_IOPL) {
                interp_raise(cpu, EXCP_GP, 0);
            }
        }
        deliver_protected(cpu, vector, kind, ret_rip, flags, ec, ext);
    }
}

/*
 * Delivers cpu->excp, and the faults that its delivery raises (#DF, or
 * the second event serially), until one is delivered or the CPU shuts
 * down. Catches those raises itself, so that it can be called from
 * anywhere (exec's landing pad, or between runs).
 */
static void deliver_until_done(InterpCPU *cpu)
{
    sigjmp_buf outer;

    memcpy(outer, cpu->jmp_env, sizeof(outer));
    while (sigsetjmp(cpu->jmp_env, 0) != 0) {
        /* interp_raise recorded the new event, or the triple fault */
        if (cpu->shutdown) {
            goto out;
        }
    }
    deliver_event(cpu);
    cpu->halted = false;
out:
    cpu->excp.vector = -1;
    cpu->excp.delivering = -1;
    memcpy(cpu->jmp_env, outer, sizeof(outer));
}

void interp_deliver_exception(InterpCPU *cpu)
{
    if (cpu->excp.vector < 0 || cpu->shutdown) {
        cpu->excp.vector = -1;
        return;
    }
    deliver_until_done(cpu);
}

void interp_deliver_interrupt(InterpCPU *cpu, int vector)
{
    cpu->halted = false;
    cpu->excp.vector = vector & 0xff;
    cpu->excp.error_code = -1;
    cpu->excp.kind = EVENT_EXT_INT;
    cpu->excp.next_rip = cpu->rip;
    deliver_until_done(cpu);
}

void interp_deliver_nmi(InterpCPU *cpu)
{
    cpu->nmi_blocked = true;
    interp_deliver_interrupt(cpu, EXCP_NMI);
}
