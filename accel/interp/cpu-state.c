/*
 * The interpreter's vCPU state <-> X86CPUState, and the mode bits derived
 * from the architectural state (cpu.h: interp_update_hflags).
 *
 * With a local APIC attached, the caller holds the machine lock, as it
 * does around AccelOps get_state/set_state: CR8 is the APIC's TPR.
 */
#include "cpu.h"
#include "seg.h"
#include "lemu/hw/intc/apic.h"

void interp_update_hflags(InterpCPU *cpu)
{
    const X86Segment *cs = &cpu->segs[SEG_CS];
    const X86Segment *ss = &cpu->segs[SEG_SS];

    cpu->pe = cpu->cr0 & CR0_PE;
    cpu->paging = cpu->pe && (cpu->cr0 & CR0_PG);
    cpu->lma = cpu->efer & EFER_LMA;
    cpu->vm86 = cpu->pe && !cpu->lma && (cpu->rflags & RFLAGS_VM);
    cpu->long64 = cpu->lma && cs->l;

    /* CPL: SS.DPL in protected mode, which every load of SS keeps equal
     * to the RPL of CS (CS.DPL is not the CPL for conforming code). */
    if (!cpu->pe) {
        cpu->cpl = 0;
    } else if (cpu->vm86) {
        cpu->cpl = 3;
    } else {
        cpu->cpl = ss->dpl & 3;
    }
    cpu->mmu_idx = cpu->cpl == 3 ? MMU_USER : MMU_SUPERVISOR;

    if (cpu->long64) {
        cpu->code_bits = 64;
        cpu->stack_bytes = 8;
    } else if (cpu->vm86) {
        cpu->code_bits = 16;
        cpu->stack_bytes = 2;
    } else {
        cpu->code_bits = cs->db ? 32 : 16;
        cpu->stack_bytes = ss->db ? 4 : 2;
    }
    cpu->lin_mask = cpu->long64 ? ~0ULL : 0xffffffffULL;

    for (int i = 0; i < X86_NR_SEGS; i++) {
        seg_refresh(cpu, i);
    }
}

void interp_cpu_set_state(InterpCPU *cpu, const X86CPUState *st)
{
    memcpy(cpu->regs, st->regs, sizeof(cpu->regs));
    cpu->rip = st->rip;
    memcpy(cpu->segs, st->segs, sizeof(cpu->segs));
    cpu->ldt = st->ldt;
    cpu->tr = st->tr;
    cpu->gdt = st->gdt;
    cpu->idt = st->idt;
    cpu->cr0 = st->cr0;
    cpu->cr2 = st->cr2;
    cpu->cr3 = st->cr3;
    cpu->cr4 = st->cr4;
    cpu->cr8 = st->cr8 & 0xf;
    memcpy(cpu->dr, st->dr, sizeof(cpu->dr));
    cpu->efer = st->efer;

    cpu->msr.star = st->star;
    cpu->msr.lstar = st->lstar;
    cpu->msr.cstar = st->cstar;
    cpu->msr.sfmask = st->sfmask;
    cpu->msr.kernel_gs_base = st->kernel_gs_base;
    cpu->msr.sysenter_cs = st->sysenter_cs;
    cpu->msr.sysenter_esp = st->sysenter_esp;
    cpu->msr.sysenter_eip = st->sysenter_eip;
    cpu->msr.pat = st->pat;
    /* Guest TSC = host-clock TSC + offset. */
    cpu->msr.tsc_offset = 0;
    cpu->msr.tsc_offset = st->tsc - interp_read_tsc(cpu);

    if (cpu->apic) {
        if (apic_get_base(cpu->apic) != st->apic_base) {
            apic_set_base(cpu->apic, st->apic_base);
        }
        apic_set_tpr(cpu->apic, cpu->cr8 << 4);
    }

    cpu->mp_state = st->mp_state;
    cpu->halted = st->mp_state == X86_MP_HALTED;
    cpu->shutdown = false;
    cpu->irq_inhibit = false;
    cpu->ss_shadow = false;
    cpu->excp.vector = -1;
    cpu->excp.error_code = -1;
    cpu->excp.delivering = -1;

    /* Flags last: VM takes effect with the segments already in place. */
    interp_set_rflags(cpu, st->rflags, ~0ULL);
    interp_update_hflags(cpu);
    interp_tlb_flush_all(cpu);
}

void interp_cpu_get_state(InterpCPU *cpu, X86CPUState *st)
{
    memset(st, 0, sizeof(*st));
    memcpy(st->regs, cpu->regs, sizeof(st->regs));
    st->rip = cpu->rip;
    st->rflags = interp_get_rflags(cpu);
    memcpy(st->segs, cpu->segs, sizeof(st->segs));
    st->ldt = cpu->ldt;
    st->tr = cpu->tr;
    st->gdt = cpu->gdt;
    st->idt = cpu->idt;
    st->cr0 = cpu->cr0;
    st->cr2 = cpu->cr2;
    st->cr3 = cpu->cr3;
    st->cr4 = cpu->cr4;
    st->cr8 = cpu->apic ? apic_get_tpr(cpu->apic) >> 4 : cpu->cr8;
    memcpy(st->dr, cpu->dr, sizeof(st->dr));
    st->efer = cpu->efer;
    st->apic_base = cpu->apic ? apic_get_base(cpu->apic) :
                    APIC_DEFAULT_BASE | MSR_APIC_BASE_ENABLE |
                    (cpu->index == 0 ? MSR_APIC_BASE_BSP : 0);

    st->star = cpu->msr.star;
    st->lstar = cpu->msr.lstar;
    st->cstar = cpu->msr.cstar;
    st->sfmask = cpu->msr.sfmask;
    st->kernel_gs_base = cpu->msr.kernel_gs_base;
    st->sysenter_cs = cpu->msr.sysenter_cs;
    st->sysenter_esp = cpu->msr.sysenter_esp;
    st->sysenter_eip = cpu->msr.sysenter_eip;
    st->pat = cpu->msr.pat;
    st->tsc = interp_read_tsc(cpu);

    if (cpu->halted) {
        st->mp_state = X86_MP_HALTED;
    } else if (cpu->mp_state == X86_MP_HALTED) {
        st->mp_state = X86_MP_RUNNABLE;
    } else {
        st->mp_state = cpu->mp_state;
    }
}
