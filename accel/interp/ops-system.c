/*
 * System instructions: HLT, interrupt flag, flags push/pop, port I/O,
 * control and debug registers, descriptor table registers, TLB and cache
 * control, CPUID/MSR/TSC, fast system calls, FS/GS base, and the x87/SSE
 * placeholder.
 *
 * Intel SDM vol. 2 (instruction pages) and vol. 3 chapters 2 (control
 * registers), 5.8.7 (SYSENTER/SYSEXIT, SYSCALL/SYSRET), 17 (debug
 * registers), 18 (I/O permission bitmap).
 */
#include <inttypes.h>
#include "insn.h"
#include "lemu/hw/intc/apic.h"
#include "lemu/util/log.h"

#define CR4_PCE       (1ULL << 8)
#define CR0_VALID     (CR0_PE | CR0_MP | CR0_EM | CR0_TS | CR0_ET | CR0_NE | \
                       CR0_WP | CR0_AM | CR0_NW | CR0_CD | CR0_PG)
/* CR3 and PAE PDPTEs: physical address bits above MAXPHYADDR (40). */
#define PHYS_RSVD     0xffffff0000000000ULL
#define PDPTE_RSVD    (PHYS_RSVD | 0x1e6ULL)
/* DR6 bits 4-11 and 16-31 read as 1, bit 12 as 0; DR7 bit 10 reads 1. */
#define DR6_FIXED     0xffff0ff0ULL
#define DR6_VALID     0x0000e00fULL
#define DR7_FIXED     0x400ULL
#define DR7_VALID     0xffff23ffULL
/* The flags SYSRET restores from R11 (not RF, VM, reserved bits). */
#define SYSRET_RFLAGS 0x3c7fd7ULL
/* REP INS/OUTS iterations before giving interrupts a chance. */
#define IO_REP_CHUNK  1024

static G_NORETURN void raise_gp0(InterpCPU *cpu)
{
    interp_raise(cpu, EXCP_GP, 0);
}

static G_NORETURN void raise_ud(InterpCPU *cpu)
{
    interp_raise(cpu, EXCP_UD, 0);
}

static void env_lock(InterpCPU *cpu)
{
    if (cpu->shared->env.lock) {
        cpu->shared->env.lock(cpu->shared->env.lock_opaque);
    }
}

static void env_unlock(InterpCPU *cpu)
{
    if (cpu->shared->env.unlock) {
        cpu->shared->env.unlock(cpu->shared->env.lock_opaque);
    }
}

static bool is_canonical(uint64_t v)
{
    return (uint64_t)((int64_t)(v << 16) >> 16) == v;
}

static unsigned iopl(InterpCPU *cpu)
{
    return (cpu->rflags & RFLAGS_IOPL) >> 12;
}

/* Instructions that #GP at CPL > 0 (v86 runs at CPL 3). */
static void require_cpl0(InterpCPU *cpu)
{
    if (cpu->cpl != 0) {
        raise_gp0(cpu);
    }
}

/* The width of a control/debug register move: 64 bits in 64-bit mode. */
static unsigned creg_size(InterpCPU *cpu)
{
    return cpu->long64 ? 8 : 4;
}

/* ---- HLT, CLI, STI, PUSHF, POPF ----------------------------------------- */

const DecodedInsn *op_hlt(InterpCPU *cpu, const DecodedInsn *d)
{
    require_cpl0(cpu);
    cpu->halted = true;
    return insn_end_block(cpu, insn_next_rip(d));
}

/* CLI/STI: real mode always; v86 with IOPL 3; else CPL <= IOPL (no VME
 * or PVI: they are not advertised). */
static void check_if_change(InterpCPU *cpu)
{
    if (cpu->pe && (cpu->vm86 ? iopl(cpu) < 3 : cpu->cpl > iopl(cpu))) {
        raise_gp0(cpu);
    }
}

const DecodedInsn *op_cli(InterpCPU *cpu, const DecodedInsn *d)
{
    check_if_change(cpu);
    interp_set_rflags(cpu, 0, RFLAGS_IF);
    return insn_end_block(cpu, insn_next_rip(d));
}

const DecodedInsn *op_sti(InterpCPU *cpu, const DecodedInsn *d)
{
    check_if_change(cpu);
    if (!(cpu->rflags & RFLAGS_IF)) {
        interp_set_rflags(cpu, RFLAGS_IF, RFLAGS_IF);
        /* Interrupts wait until after the next instruction. */
        cpu->irq_inhibit = true;
    }
    return insn_end_block(cpu, insn_next_rip(d));
}

const DecodedInsn *op_pushf(InterpCPU *cpu, const DecodedInsn *d)
{
    if (cpu->vm86 && iopl(cpu) < 3) {
        raise_gp0(cpu);
    }
    /* The image has VM and RF clear. */
    interp_push(cpu, interp_get_rflags(cpu) & ~(RFLAGS_VM | RFLAGS_RF),
                d->opsize);
    return d + 1;
}

const DecodedInsn *op_popf(InterpCPU *cpu, const DecodedInsn *d)
{
    uint64_t mask = RFLAGS_OSZAPC | RFLAGS_TF | RFLAGS_DF | RFLAGS_NT |
                    RFLAGS_AC | RFLAGS_ID;
    uint64_t v;

    if (cpu->vm86 && iopl(cpu) < 3) {
        raise_gp0(cpu);
    }
    v = interp_pop(cpu, d->opsize);
    /* VM, VIF, VIP never change; IOPL only at CPL 0; IF when CPL <= IOPL
     * (v86 with IOPL 3 included); RF is cleared. */
    if (cpu->cpl == 0) {
        mask |= RFLAGS_IOPL | RFLAGS_IF;
    } else if (cpu->vm86 || cpu->cpl <= iopl(cpu)) {
        mask |= RFLAGS_IF;
    }
    if (d->opsize == 2) {
        mask &= 0xffff;
    } else {
        mask |= RFLAGS_RF;
        v &= ~RFLAGS_RF;
    }
    interp_set_rflags(cpu, v, mask);
    return insn_end_block(cpu, insn_next_rip(d));
}

/* ---- port I/O ------------------------------------------------------------ */

/*
 * I/O privilege: real mode, or CPL <= IOPL outside v86, may use any port;
 * otherwise every bit for [port, port + size) in the TSS I/O permission
 * bitmap must be clear. Raises #GP(0).
 */
static void check_io(InterpCPU *cpu, uint16_t port, unsigned size)
{
    X86Segment *tr = &cpu->tr;
    uint32_t off;
    uint16_t bits;

    if (!cpu->pe || (!cpu->vm86 && cpu->cpl <= iopl(cpu))) {
        return;
    }
    /* Only a 32-bit (or 64-bit) TSS, available or busy, has a bitmap. */
    if (tr->unusable || !tr->present || (tr->type | 2) != 0xb ||
        tr->limit < 0x67) {
        raise_gp0(cpu);
    }
    off = (uint32_t)interp_ld_kernel(cpu, tr->base + 0x66, 2) + port / 8;
    /* Two bytes are read, and both must lie inside the TSS. */
    if (off + 1 > tr->limit) {
        raise_gp0(cpu);
    }
    bits = interp_ld_kernel(cpu, tr->base + off, 2);
    if (bits & (((1u << size) - 1) << (port & 7))) {
        raise_gp0(cpu);
    }
}

static uint16_t io_port(InterpCPU *cpu, const DecodedInsn *d)
{
    return (d->flags & D_IMM) ? (uint8_t)d->imm : (uint16_t)cpu->regs[R_EDX];
}

const DecodedInsn *op_in(InterpCPU *cpu, const DecodedInsn *d)
{
    uint16_t port = io_port(cpu, d);
    uint32_t v;

    check_io(cpu, port, d->opsize);
    v = interp_io_read(cpu, port, d->opsize);
    insn_set_reg(cpu, R_EAX, d->opsize, v);
    return d + 1;
}

const DecodedInsn *op_out(InterpCPU *cpu, const DecodedInsn *d)
{
    uint16_t port = io_port(cpu, d);

    check_io(cpu, port, d->opsize);
    interp_io_write(cpu, port, d->opsize,
                    insn_get_reg(cpu, R_EAX, d->opsize));
    return d + 1;
}

/* Whether a REP INS/OUTS should stop and restart later, so that a
 * deliverable interrupt or an exit request is not held up. At least one
 * iteration runs per execution. */
static bool io_rep_should_yield(InterpCPU *cpu, unsigned done)
{
    if (done == 0) {
        return false;
    }
    return done >= IO_REP_CHUNK ||
           __atomic_load_n(&cpu->exit_request, __ATOMIC_RELAXED) ||
           ((cpu->rflags & RFLAGS_IF) &&
            __atomic_load_n(&cpu->irq_pending, __ATOMIC_RELAXED));
}

/*
 * INS and OUTS, with or without REP: one element per iteration, the
 * registers committed after each, so that a fault leaves the iterations
 * done visible and the instruction restartable.
 */
static const DecodedInsn *io_string(InterpCPU *cpu, const DecodedInsn *d,
                                    bool is_in)
{
    unsigned size = d->opsize, as = d->addrsize;
    uint64_t amask = insn_size_mask(as);
    int64_t step = (int32_t)cpu->df * (int64_t)size;
    bool rep = d->flags & (D_REP | D_REPNE);
    uint16_t port = (uint16_t)cpu->regs[R_EDX];
    int idx = is_in ? R_EDI : R_ESI;

    check_io(cpu, port, size);
    for (unsigned done = 0;; done++) {
        uint64_t ea = cpu->regs[idx] & amask;

        if (rep) {
            if ((cpu->regs[R_ECX] & amask) == 0) {
                break;
            }
            if (io_rep_should_yield(cpu, done)) {
                return insn_end_block(cpu, d->rip);
            }
        }
        if (is_in) {
            uint64_t lin = interp_linear(cpu, SEG_ES, ea, size, ACC_WRITE);

            /* The destination must be writable before the port is read. */
            interp_probe_access(cpu, lin, size, ACC_WRITE);
            interp_write(cpu, SEG_ES, ea, size,
                         interp_io_read(cpu, port, size));
        } else {
            interp_io_write(cpu, port, size,
                            interp_read(cpu, d->seg, ea, size));
        }
        insn_set_reg(cpu, idx, as, ea + step);
        if (!rep) {
            break;
        }
        insn_set_reg(cpu, R_ECX, as, (cpu->regs[R_ECX] & amask) - 1);
    }
    return d + 1;
}

const DecodedInsn *op_ins(InterpCPU *cpu, const DecodedInsn *d)
{
    return io_string(cpu, d, true);
}

const DecodedInsn *op_outs(InterpCPU *cpu, const DecodedInsn *d)
{
    return io_string(cpu, d, false);
}

/* ---- control registers --------------------------------------------------- */

/* Whether the four PAE PDPTEs at @cr3 may be loaded (MOV CR0/CR3/CR4
 * with PAE paging #GP otherwise). */
static bool pdptes_valid(InterpCPU *cpu, uint64_t cr3)
{
    uint64_t pdpte[4];

    interp_phys_read(cpu, cr3 & 0xffffffe0ULL, pdpte, sizeof(pdpte));
    for (int i = 0; i < 4; i++) {
        if ((pdpte[i] & 1) && (pdpte[i] & PDPTE_RSVD)) {
            return false;
        }
    }
    return true;
}

static bool pae_paging(InterpCPU *cpu, uint64_t cr0, uint64_t cr4)
{
    return (cr0 & CR0_PG) && (cr4 & CR4_PAE) && !(cpu->efer & EFER_LMA);
}

/* CR4 bits of the features the CPU model advertises. */
static uint64_t cr4_valid_bits(InterpCPU *cpu)
{
    uint64_t valid = CR4_TSD | CR4_PCE;
    CpuidResult r1, r7;

    interp_cpuid(cpu, 1, 0, &r1);
    interp_cpuid(cpu, 7, 0, &r7);
    valid |= (r1.edx & (1u << 1)) ? CR4_VME | CR4_PVI : 0;
    valid |= (r1.edx & (1u << 2)) ? CR4_DE : 0;
    valid |= (r1.edx & (1u << 3)) ? CR4_PSE : 0;
    valid |= (r1.edx & (1u << 6)) ? CR4_PAE : 0;
    valid |= (r1.edx & (1u << 7)) ? CR4_MCE : 0;
    valid |= (r1.edx & (1u << 13)) ? CR4_PGE : 0;
    valid |= (r1.edx & (1u << 24)) ? CR4_OSFXSR : 0;
    valid |= (r1.edx & (1u << 25)) ? CR4_OSXMMEXCPT : 0;
    valid |= (r1.ecx & (1u << 17)) ? CR4_PCIDE : 0;
    valid |= (r1.ecx & (1u << 26)) ? CR4_OSXSAVE : 0;
    valid |= (r7.ebx & (1u << 0)) ? CR4_FSGSBASE : 0;
    valid |= (r7.ebx & (1u << 7)) ? CR4_SMEP : 0;
    valid |= (r7.ebx & (1u << 20)) ? CR4_SMAP : 0;
    return valid;
}

static void write_cr0(InterpCPU *cpu, uint64_t v)
{
    uint64_t old = cpu->cr0, efer = cpu->efer;

    if (v >> 32) {
        raise_gp0(cpu);
    }
    v = (v & CR0_VALID) | CR0_ET;
    if (((v & CR0_PG) && !(v & CR0_PE)) ||
        ((v & CR0_NW) && !(v & CR0_CD))) {
        raise_gp0(cpu);
    }
    if ((v & CR0_PG) && !(old & CR0_PG)) {
        if (efer & EFER_LME) {
            /* Entering IA-32e mode: PAE on, not from a 64-bit CS. */
            if (!(cpu->cr4 & CR4_PAE) || cpu->segs[SEG_CS].l) {
                raise_gp0(cpu);
            }
            efer |= EFER_LMA;
        } else if ((cpu->cr4 & CR4_PAE) && !pdptes_valid(cpu, cpu->cr3)) {
            raise_gp0(cpu);
        }
    } else if (!(v & CR0_PG) && (old & CR0_PG) && (efer & EFER_LMA)) {
        /* Leaving IA-32e mode works only from compatibility mode. */
        if (cpu->long64) {
            raise_gp0(cpu);
        }
        efer &= ~EFER_LMA;
    }
    cpu->cr0 = v;
    cpu->efer = efer;
    if ((old ^ v) & (CR0_PG | CR0_WP | CR0_PE)) {
        interp_tlb_flush_all(cpu);
    }
    interp_update_hflags(cpu);
}

static void write_cr3(InterpCPU *cpu, uint64_t v)
{
    if (cpu->efer & EFER_LMA) {
        if (v & PHYS_RSVD) {
            raise_gp0(cpu);
        }
    } else {
        v = (uint32_t)v;
    }
    if (pae_paging(cpu, cpu->cr0, cpu->cr4) && !pdptes_valid(cpu, v)) {
        raise_gp0(cpu);
    }
    cpu->cr3 = v;
    interp_tlb_flush_nonglobal(cpu);
}

static void write_cr4(InterpCPU *cpu, uint64_t v)
{
    uint64_t old = cpu->cr4;
    uint64_t paging_bits = CR4_PAE | CR4_PGE | CR4_PSE;

    if (v & ~cr4_valid_bits(cpu)) {
        raise_gp0(cpu);
    }
    if ((cpu->efer & EFER_LMA) && !(v & CR4_PAE)) {
        raise_gp0(cpu);
    }
    if (((old ^ v) & paging_bits) && pae_paging(cpu, cpu->cr0, v) &&
        !pdptes_valid(cpu, cpu->cr3)) {
        raise_gp0(cpu);
    }
    cpu->cr4 = v;
    if ((old ^ v) & paging_bits) {
        interp_tlb_flush_all(cpu);
    }
    interp_update_hflags(cpu);
}

static void write_cr8(InterpCPU *cpu, uint64_t v)
{
    if (v & ~0xfULL) {
        raise_gp0(cpu);
    }
    if (cpu->apic) {
        env_lock(cpu);
        apic_set_tpr(cpu->apic, v << 4);
        env_unlock(cpu);
    } else {
        cpu->cr8 = v;
    }
}

static uint64_t read_cr8(InterpCPU *cpu)
{
    uint64_t v;

    if (!cpu->apic) {
        return cpu->cr8;
    }
    env_lock(cpu);
    v = apic_get_tpr(cpu->apic) >> 4;
    env_unlock(cpu);
    return v;
}

const DecodedInsn *op_mov_to_cr(InterpCPU *cpu, const DecodedInsn *d)
{
    uint64_t v;

    if (d->cc != 0 && d->cc != 2 && d->cc != 3 && d->cc != 4 &&
        !(d->cc == 8 && cpu->long64)) {
        raise_ud(cpu);
    }
    require_cpl0(cpu);
    v = insn_get_reg(cpu, d->rm, creg_size(cpu));
    switch (d->cc) {
    case 0: write_cr0(cpu, v); break;
    case 2: cpu->cr2 = v; break;
    case 3: write_cr3(cpu, v); break;
    case 4: write_cr4(cpu, v); break;
    default: write_cr8(cpu, v); break;
    }
    /* The mode, the mappings or the interrupt priority may have changed. */
    return insn_end_block(cpu, insn_next_rip(d));
}

const DecodedInsn *op_mov_from_cr(InterpCPU *cpu, const DecodedInsn *d)
{
    uint64_t v;

    if (d->cc != 0 && d->cc != 2 && d->cc != 3 && d->cc != 4 &&
        !(d->cc == 8 && cpu->long64)) {
        raise_ud(cpu);
    }
    require_cpl0(cpu);
    switch (d->cc) {
    case 0: v = cpu->cr0; break;
    case 2: v = cpu->cr2; break;
    case 3: v = cpu->cr3; break;
    case 4: v = cpu->cr4; break;
    default: v = read_cr8(cpu); break;
    }
    insn_set_reg(cpu, d->rm, creg_size(cpu), v);
    return d + 1;
}

/* ---- debug registers ----------------------------------------------------- */

/* DR4/DR5 are DR6/DR7 unless CR4.DE; -1 for #UD. */
static int debug_reg(InterpCPU *cpu, unsigned n)
{
    if (n >= 8) {
        return -1;
    }
    if (n == 4 || n == 5) {
        return (cpu->cr4 & CR4_DE) ? -1 : (int)n + 2;
    }
    return n;
}

const DecodedInsn *op_mov_to_dr(InterpCPU *cpu, const DecodedInsn *d)
{
    int n = debug_reg(cpu, d->cc);
    uint64_t v;

    if (n < 0) {
        raise_ud(cpu);
    }
    require_cpl0(cpu);
    v = insn_get_reg(cpu, d->rm, creg_size(cpu));
    if (n >= 6 && (v >> 32)) {
        raise_gp0(cpu);
    }
    if (n == 6) {
        v = (v & DR6_VALID) | DR6_FIXED;
    } else if (n == 7) {
        v = (v & DR7_VALID) | DR7_FIXED;
        if (v & 0x20ff) {
            lemu_log_mask(LOG_UNIMP, "interp: DR7 0x%" PRIx64 ": hardware "
                          "breakpoints and DR7.GD not implemented\n", v);
        }
    }
    cpu->dr[n] = v;
    return d + 1;
}

const DecodedInsn *op_mov_from_dr(InterpCPU *cpu, const DecodedInsn *d)
{
    int n = debug_reg(cpu, d->cc);
    uint64_t v;

    if (n < 0) {
        raise_ud(cpu);
    }
    require_cpl0(cpu);
    v = cpu->dr[n];
    if (n == 6) {
        v = (v & DR6_VALID) | DR6_FIXED;
    } else if (n == 7) {
        v = (v & DR7_VALID) | DR7_FIXED;
    }
    insn_set_reg(cpu, d->rm, creg_size(cpu), v);
    return d + 1;
}

/* ---- descriptor table registers, MSW ------------------------------------ */

static uint64_t ea_plus(const DecodedInsn *d, uint64_t ea, uint64_t n)
{
    return (ea + n) & insn_size_mask(d->addrsize);
}

/* LGDT/LIDT: limit, then a 64-bit base in 64-bit mode, else 32 bits (24
 * with a 16-bit operand size). */
static void load_dtr(InterpCPU *cpu, const DecodedInsn *d, X86DescTable *t)
{
    uint64_t ea, base;
    uint16_t limit;

    if (!(d->flags & D_MEM)) {
        raise_ud(cpu);
    }
    require_cpl0(cpu);
    ea = insn_ea(cpu, d);
    limit = interp_read(cpu, d->seg, ea, 2);
    if (cpu->long64) {
        base = interp_read(cpu, d->seg, ea_plus(d, ea, 2), 8);
    } else {
        base = interp_read(cpu, d->seg, ea_plus(d, ea, 2), 4);
        if (d->opsize == 2) {
            base &= 0xffffff;
        }
    }
    t->base = base;
    t->limit = limit;
}

/* SGDT/SIDT: the limit and the full base (32 bits outside 64-bit mode). */
static void store_dtr(InterpCPU *cpu, const DecodedInsn *d,
                      const X86DescTable *t)
{
    unsigned n = cpu->long64 ? 8 : 4;
    uint64_t ea, lin;

    if (!(d->flags & D_MEM)) {
        raise_ud(cpu);
    }
    ea = insn_ea(cpu, d);
    /* Check the whole operand first: nothing is written on a fault. */
    lin = interp_linear(cpu, d->seg, ea, 2 + n, ACC_WRITE);
    interp_probe_access(cpu, lin, 2 + n, ACC_WRITE);
    interp_write(cpu, d->seg, ea, 2, t->limit);
    interp_write(cpu, d->seg, ea_plus(d, ea, 2), n, t->base);
}

const DecodedInsn *op_lgdt(InterpCPU *cpu, const DecodedInsn *d)
{
    load_dtr(cpu, d, &cpu->gdt);
    return d + 1;
}

const DecodedInsn *op_lidt(InterpCPU *cpu, const DecodedInsn *d)
{
    load_dtr(cpu, d, &cpu->idt);
    return d + 1;
}

const DecodedInsn *op_sgdt(InterpCPU *cpu, const DecodedInsn *d)
{
    store_dtr(cpu, d, &cpu->gdt);
    return d + 1;
}

const DecodedInsn *op_sidt(InterpCPU *cpu, const DecodedInsn *d)
{
    store_dtr(cpu, d, &cpu->idt);
    return d + 1;
}

const DecodedInsn *op_lmsw(InterpCPU *cpu, const DecodedInsn *d)
{
    uint64_t v;

    require_cpl0(cpu);
    v = insn_read_rm(cpu, d, 2);
    /* PE, MP, EM, TS only; PE can be set but not cleared. */
    write_cr0(cpu, (cpu->cr0 & ~0xeULL) | (v & 0xf));
    return insn_end_block(cpu, insn_next_rip(d));
}

const DecodedInsn *op_smsw(InterpCPU *cpu, const DecodedInsn *d)
{
    if (d->flags & D_MEM) {
        insn_write_rm(cpu, d, 2, cpu->cr0);
    } else {
        insn_set_reg(cpu, d->rm, d->opsize, cpu->cr0);
    }
    return d + 1;
}

const DecodedInsn *op_clts(InterpCPU *cpu, const DecodedInsn *d)
{
    require_cpl0(cpu);
    cpu->cr0 &= ~CR0_TS;
    return d + 1;
}

/* ---- TLB and caches ------------------------------------------------------ */

const DecodedInsn *op_invlpg(InterpCPU *cpu, const DecodedInsn *d)
{
    uint64_t lin;

    if (!(d->flags & D_MEM)) {
        raise_ud(cpu);
    }
    require_cpl0(cpu);
    /* No limit check; a non-canonical address invalidates nothing. */
    lin = (cpu->seg_base[d->seg] + insn_ea(cpu, d)) & cpu->lin_mask;
    if (is_canonical(lin)) {
        interp_tlb_flush_page(cpu, lin);
    }
    return insn_end_block(cpu, insn_next_rip(d));
}

const DecodedInsn *op_invpcid(InterpCPU *cpu, const DecodedInsn *d)
{
    /* PCID and INVPCID are not advertised. */
    raise_ud(cpu);
}

const DecodedInsn *op_wbinvd(InterpCPU *cpu, const DecodedInsn *d)
{
    require_cpl0(cpu);
    return d + 1;
}

const DecodedInsn *op_invd(InterpCPU *cpu, const DecodedInsn *d)
{
    require_cpl0(cpu);
    return d + 1;
}

const DecodedInsn *op_clflush(InterpCPU *cpu, const DecodedInsn *d)
{
    uint64_t lin;

    if (!(d->flags & D_MEM)) {
        raise_ud(cpu);
    }
    /* Faults like a byte read; there is no cache to flush. */
    lin = interp_linear(cpu, d->seg, insn_ea(cpu, d), 1, ACC_READ);
    interp_probe_access(cpu, lin, 1, ACC_READ);
    return d + 1;
}

const DecodedInsn *op_fence(InterpCPU *cpu, const DecodedInsn *d)
{
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return d + 1;
}

/* ---- CPUID, MSRs, TSC ---------------------------------------------------- */

const DecodedInsn *op_cpuid(InterpCPU *cpu, const DecodedInsn *d)
{
    CpuidResult r;

    interp_cpuid(cpu, cpu->regs[R_EAX], cpu->regs[R_ECX], &r);
    cpu->regs[R_EAX] = r.eax;
    cpu->regs[R_EBX] = r.ebx;
    cpu->regs[R_ECX] = r.ecx;
    cpu->regs[R_EDX] = r.edx;
    return d + 1;
}

const DecodedInsn *op_rdmsr(InterpCPU *cpu, const DecodedInsn *d)
{
    uint64_t v;

    require_cpl0(cpu);
    if (!interp_rdmsr(cpu, cpu->regs[R_ECX], &v)) {
        raise_gp0(cpu);
    }
    cpu->regs[R_EAX] = (uint32_t)v;
    cpu->regs[R_EDX] = v >> 32;
    return d + 1;
}

const DecodedInsn *op_wrmsr(InterpCPU *cpu, const DecodedInsn *d)
{
    uint64_t v = (uint32_t)cpu->regs[R_EAX] | cpu->regs[R_EDX] << 32;

    require_cpl0(cpu);
    if (!interp_wrmsr(cpu, cpu->regs[R_ECX], v)) {
        raise_gp0(cpu);
    }
    /* EFER, segment bases, the APIC may have changed. */
    return insn_end_block(cpu, insn_next_rip(d));
}

static void check_rdtsc(InterpCPU *cpu)
{
    if ((cpu->cr4 & CR4_TSD) && cpu->cpl != 0) {
        raise_gp0(cpu);
    }
}

const DecodedInsn *op_rdtsc(InterpCPU *cpu, const DecodedInsn *d)
{
    uint64_t tsc;

    check_rdtsc(cpu);
    tsc = interp_read_tsc(cpu);
    cpu->regs[R_EAX] = (uint32_t)tsc;
    cpu->regs[R_EDX] = tsc >> 32;
    return d + 1;
}

const DecodedInsn *op_rdtscp(InterpCPU *cpu, const DecodedInsn *d)
{
    uint64_t tsc;

    check_rdtsc(cpu);
    tsc = interp_read_tsc(cpu);
    cpu->regs[R_EAX] = (uint32_t)tsc;
    cpu->regs[R_EDX] = tsc >> 32;
    cpu->regs[R_ECX] = (uint32_t)cpu->msr.tsc_aux;
    return d + 1;
}

const DecodedInsn *op_rdpmc(InterpCPU *cpu, const DecodedInsn *d)
{
    /* No performance counters: every counter index is invalid. */
    raise_gp0(cpu);
}

/* ---- fast system calls --------------------------------------------------- */

/* The fixed flat segment caches SYSCALL/SYSRET/SYSENTER/SYSEXIT load. */
static void load_flat_seg(InterpCPU *cpu, int seg, uint16_t selector,
                          bool code, unsigned dpl, bool l)
{
    X86Segment *s = &cpu->segs[seg];

    s->selector = selector;
    s->base = 0;
    s->limit = 0xffffffff;
    s->type = code ? 0xb : 0x3;       /* execute/read or read/write, accessed */
    s->s = 1;
    s->dpl = dpl;
    s->present = 1;
    s->avl = 0;
    s->l = l;
    s->db = code ? !l : 1;
    s->g = 1;
    s->unusable = 0;
}

const DecodedInsn *op_syscall(InterpCPU *cpu, const DecodedInsn *d)
{
    uint16_t sel = cpu->msr.star >> 32;
    uint64_t next = insn_next_rip(d), flags, rip;

    if (!(cpu->efer & EFER_SCE) || !cpu->pe || cpu->vm86) {
        raise_ud(cpu);
    }
    flags = interp_get_rflags(cpu) & ~RFLAGS_RF;
    if (cpu->efer & EFER_LMA) {
        /* To 64-bit mode at LSTAR (CSTAR from compatibility mode). */
        rip = cpu->long64 ? cpu->msr.lstar : cpu->msr.cstar;
        cpu->regs[R_ECX] = next;
        cpu->regs[R_R11] = flags;
        load_flat_seg(cpu, SEG_CS, sel & 0xfffc, true, 0, true);
        load_flat_seg(cpu, SEG_SS, (sel + 8) & 0xfffc, false, 0, false);
        interp_set_rflags(cpu, flags & ~cpu->msr.sfmask, ~0ULL);
    } else {
        /* Legacy form: to STAR[31:0] in 32-bit protected mode. */
        rip = (uint32_t)cpu->msr.star;
        insn_set_reg(cpu, R_ECX, 4, next);
        load_flat_seg(cpu, SEG_CS, sel & 0xfffc, true, 0, false);
        load_flat_seg(cpu, SEG_SS, (sel + 8) & 0xfffc, false, 0, false);
        interp_set_rflags(cpu, flags & ~(RFLAGS_VM | RFLAGS_IF), ~0ULL);
    }
    interp_update_hflags(cpu);
    return insn_end_block(cpu, rip);
}

const DecodedInsn *op_sysret(InterpCPU *cpu, const DecodedInsn *d)
{
    uint16_t sel = cpu->msr.star >> 48;
    bool to64 = cpu->long64 && (d->flags & D_REXW);
    uint64_t rip;

    if (!(cpu->efer & EFER_SCE) || !cpu->pe || cpu->vm86) {
        raise_ud(cpu);
    }
    require_cpl0(cpu);
    if (cpu->efer & EFER_LMA) {
        if (to64) {
            if (!is_canonical(cpu->regs[R_ECX])) {
                raise_gp0(cpu);
            }
            rip = cpu->regs[R_ECX];
            load_flat_seg(cpu, SEG_CS, (sel + 16) | 3, true, 3, true);
        } else {
            rip = (uint32_t)cpu->regs[R_ECX];
            load_flat_seg(cpu, SEG_CS, sel | 3, true, 3, false);
        }
        load_flat_seg(cpu, SEG_SS, (sel + 8) | 3, false, 3, false);
        interp_set_rflags(cpu, (cpu->regs[R_R11] & SYSRET_RFLAGS) |
                          RFLAGS_FIXED, ~0ULL);
    } else {
        rip = (uint32_t)cpu->regs[R_ECX];
        load_flat_seg(cpu, SEG_CS, sel | 3, true, 3, false);
        load_flat_seg(cpu, SEG_SS, (sel + 8) | 3, false, 3, false);
        interp_set_rflags(cpu, RFLAGS_IF, RFLAGS_IF);
    }
    interp_update_hflags(cpu);
    return insn_end_block(cpu, rip);
}

const DecodedInsn *op_sysenter(InterpCPU *cpu, const DecodedInsn *d)
{
    uint16_t sel = cpu->msr.sysenter_cs & 0xfffc;
    bool lma = cpu->efer & EFER_LMA;
    uint64_t rip, rsp;

    if (!cpu->pe || !sel) {
        raise_gp0(cpu);
    }
    rip = lma ? cpu->msr.sysenter_eip : (uint32_t)cpu->msr.sysenter_eip;
    rsp = lma ? cpu->msr.sysenter_esp : (uint32_t)cpu->msr.sysenter_esp;
    load_flat_seg(cpu, SEG_CS, sel, true, 0, lma);
    load_flat_seg(cpu, SEG_SS, sel + 8, false, 0, false);
    interp_set_rflags(cpu, 0, RFLAGS_VM | RFLAGS_IF | RFLAGS_RF);
    cpu->regs[R_ESP] = rsp;
    interp_update_hflags(cpu);
    return insn_end_block(cpu, rip);
}

const DecodedInsn *op_sysexit(InterpCPU *cpu, const DecodedInsn *d)
{
    uint16_t sel = cpu->msr.sysenter_cs;
    uint64_t rip, rsp;

    if (!cpu->pe || !(sel & 0xfffc)) {
        raise_gp0(cpu);
    }
    require_cpl0(cpu);
    if (cpu->long64 && (d->flags & D_REXW)) {
        if (!is_canonical(cpu->regs[R_EDX]) ||
            !is_canonical(cpu->regs[R_ECX])) {
            raise_gp0(cpu);
        }
        rip = cpu->regs[R_EDX];
        rsp = cpu->regs[R_ECX];
        load_flat_seg(cpu, SEG_CS, (sel + 32) | 3, true, 3, true);
        load_flat_seg(cpu, SEG_SS, (sel + 40) | 3, false, 3, false);
    } else {
        rip = (uint32_t)cpu->regs[R_EDX];
        rsp = (uint32_t)cpu->regs[R_ECX];
        load_flat_seg(cpu, SEG_CS, (sel + 16) | 3, true, 3, false);
        load_flat_seg(cpu, SEG_SS, (sel + 24) | 3, false, 3, false);
    }
    cpu->regs[R_ESP] = rsp;
    interp_update_hflags(cpu);
    return insn_end_block(cpu, rip);
}

const DecodedInsn *op_swapgs(InterpCPU *cpu, const DecodedInsn *d)
{
    uint64_t t;

    if (!cpu->long64) {
        raise_ud(cpu);
    }
    require_cpl0(cpu);
    t = cpu->segs[SEG_GS].base;
    cpu->segs[SEG_GS].base = cpu->msr.kernel_gs_base;
    cpu->msr.kernel_gs_base = t;
    interp_update_hflags(cpu);
    return d + 1;
}

/* ---- FS/GS base ---------------------------------------------------------- */

static void check_fsgsbase(InterpCPU *cpu)
{
    if (!cpu->long64 || !(cpu->cr4 & CR4_FSGSBASE)) {
        raise_ud(cpu);
    }
}

static const DecodedInsn *read_seg_base(InterpCPU *cpu, const DecodedInsn *d,
                                        int seg)
{
    check_fsgsbase(cpu);
    insn_set_reg(cpu, d->rm, d->opsize, cpu->segs[seg].base);
    return d + 1;
}

static const DecodedInsn *write_seg_base(InterpCPU *cpu,
                                         const DecodedInsn *d, int seg)
{
    uint64_t v;

    check_fsgsbase(cpu);
    v = insn_get_reg(cpu, d->rm, d->opsize);
    if (!is_canonical(v)) {
        raise_gp0(cpu);
    }
    cpu->segs[seg].base = v;
    interp_update_hflags(cpu);
    return d + 1;
}

const DecodedInsn *op_rdfsbase(InterpCPU *cpu, const DecodedInsn *d)
{
    return read_seg_base(cpu, d, SEG_FS);
}

const DecodedInsn *op_rdgsbase(InterpCPU *cpu, const DecodedInsn *d)
{
    return read_seg_base(cpu, d, SEG_GS);
}

const DecodedInsn *op_wrfsbase(InterpCPU *cpu, const DecodedInsn *d)
{
    return write_seg_base(cpu, d, SEG_FS);
}

const DecodedInsn *op_wrgsbase(InterpCPU *cpu, const DecodedInsn *d)
{
    return write_seg_base(cpu, d, SEG_GS);
}

/* ---- x87 / SSE placeholder ----------------------------------------------- */

const DecodedInsn *op_fwait(InterpCPU *cpu, const DecodedInsn *d)
{
    if ((cpu->cr0 & (CR0_MP | CR0_TS)) == (CR0_MP | CR0_TS)) {
        interp_raise(cpu, EXCP_NM, 0);
    }
    return d + 1;
}

const InterpOpEntry interp_ops_system[] = {
    { OP_hlt, op_hlt }, { OP_cli, op_cli }, { OP_sti, op_sti },
    { OP_pushf, op_pushf }, { OP_popf, op_popf },
    { OP_in, op_in }, { OP_out, op_out },
    { OP_ins, op_ins }, { OP_outs, op_outs },
    { OP_mov_to_cr, op_mov_to_cr }, { OP_mov_from_cr, op_mov_from_cr },
    { OP_mov_to_dr, op_mov_to_dr }, { OP_mov_from_dr, op_mov_from_dr },
    { OP_lgdt, op_lgdt }, { OP_lidt, op_lidt },
    { OP_sgdt, op_sgdt }, { OP_sidt, op_sidt },
    { OP_lmsw, op_lmsw }, { OP_smsw, op_smsw }, { OP_clts, op_clts },
    { OP_invlpg, op_invlpg }, { OP_invpcid, op_invpcid },
    { OP_wbinvd, op_wbinvd }, { OP_invd, op_invd },
    { OP_clflush, op_clflush }, { OP_fence, op_fence },
    { OP_cpuid, op_cpuid }, { OP_rdmsr, op_rdmsr }, { OP_wrmsr, op_wrmsr },
    { OP_rdtsc, op_rdtsc }, { OP_rdtscp, op_rdtscp }, { OP_rdpmc, op_rdpmc },
    { OP_swapgs, op_swapgs }, { OP_syscall, op_syscall },
    { OP_sysret, op_sysret }, { OP_sysenter, op_sysenter },
    { OP_sysexit, op_sysexit },
    { OP_rdfsbase, op_rdfsbase }, { OP_rdgsbase, op_rdgsbase },
    { OP_wrfsbase, op_wrfsbase }, { OP_wrgsbase, op_wrgsbase },
    { OP_fwait, op_fwait },
    { 0, NULL },
};
