/*
 * Model-specific registers of the lemu64 CPU model, the TSC and the
 * guest clock.
 *
 * Intel SDM vol. 4 (MSRs), vol. 3 chapters 11.11 (MTRRs), 11.12 (PAT),
 * 17.17 (TSC), 10.5.4.1 (TSC-deadline mode).
 */
#include <inttypes.h>
#include <time.h>
#include "cpu.h"
#include "lemu/hw/intc/apic.h"
#include "lemu/util/log.h"

#define MSR_IA32_TSC                0x10
#define MSR_IA32_PLATFORM_ID        0x17
#define MSR_IA32_APIC_BASE          0x1b
#define MSR_IA32_FEATURE_CONTROL    0x3a
#define MSR_IA32_BIOS_SIGN_ID       0x8b
#define MSR_IA32_MTRRCAP            0xfe
#define MSR_IA32_SYSENTER_CS        0x174
#define MSR_IA32_SYSENTER_ESP       0x175
#define MSR_IA32_SYSENTER_EIP       0x176
#define MSR_IA32_MISC_ENABLE        0x1a0
#define MSR_IA32_DEBUGCTL           0x1d9
#define MSR_IA32_MTRR_PHYSBASE0     0x200   /* base/mask pairs to 0x20f */
#define MSR_IA32_MTRR_FIX64K_00000  0x250
#define MSR_IA32_MTRR_FIX16K_80000  0x258
#define MSR_IA32_MTRR_FIX16K_A0000  0x259
#define MSR_IA32_MTRR_FIX4K_C0000   0x268   /* to FIX4K_F8000 at 0x26f */
#define MSR_IA32_MTRR_FIX4K_F8000   0x26f
#define MSR_IA32_PAT                0x277
#define MSR_IA32_MTRR_DEF_TYPE      0x2ff
#define MSR_IA32_TSC_DEADLINE       0x6e0
#define MSR_IA32_EFER               0xc0000080
#define MSR_IA32_STAR               0xc0000081
#define MSR_IA32_LSTAR              0xc0000082
#define MSR_IA32_CSTAR              0xc0000083
#define MSR_IA32_FMASK              0xc0000084
#define MSR_IA32_FS_BASE            0xc0000100
#define MSR_IA32_GS_BASE            0xc0000101
#define MSR_IA32_KERNEL_GS_BASE     0xc0000102
#define MSR_IA32_TSC_AUX            0xc0000103

/* IA32_MTRRCAP: 8 variable ranges, fixed ranges, write-combining. */
#define MTRR_NR_VAR                 8
#define MTRRCAP_VALUE               (MTRR_NR_VAR | 1u << 8 | 1u << 10)
#define MTRR_DEF_TYPE_VALID         0xcffULL      /* type, FE, E */
#define MTRR_PHYS_BITS              40
#define MTRR_ADDR_MASK  (((1ULL << MTRR_PHYS_BITS) - 1) & ~0xfffULL)
#define MTRR_MASK_VALID             (1ULL << 11)

/* IA32_MISC_ENABLE: fast strings always on, no BTS/PEBS; the guest may
 * only set LIMIT_CPUID (cpuid.c reads it). */
#define MISC_ENABLE_FAST_STRING     (1ULL << 0)
#define MISC_ENABLE_BTS_UNAVAIL     (1ULL << 11)
#define MISC_ENABLE_PEBS_UNAVAIL    (1ULL << 12)
#define MISC_ENABLE_LIMIT_CPUID     (1ULL << 22)
#define MISC_ENABLE_FIXED (MISC_ENABLE_FAST_STRING | \
                           MISC_ENABLE_BTS_UNAVAIL | MISC_ENABLE_PEBS_UNAVAIL)

/* IA32_FEATURE_CONTROL: locked, VMX off (VMX is not advertised). */
#define FEATURE_CONTROL_LOCKED      1ULL
/* The microcode revision IA32_BIOS_SIGN_ID reports (bits 63:32). */
#define LEMU64_MICROCODE_REV        (1ULL << 32)

#define EFER_VALID  (EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE)
#define APIC_BASE_VALID (MSR_IA32_APICBASE_BSP | MSR_IA32_APICBASE_ENABLE | \
                         MTRR_ADDR_MASK)

static void msr_lock(InterpCPU *cpu)
{
    if (cpu->shared->env.lock) {
        cpu->shared->env.lock(cpu->shared->env.lock_opaque);
    }
}

static void msr_unlock(InterpCPU *cpu)
{
    if (cpu->shared->env.unlock) {
        cpu->shared->env.unlock(cpu->shared->env.lock_opaque);
    }
}

static bool is_canonical(uint64_t v)
{
    return (uint64_t)((int64_t)(v << 16) >> 16) == v;
}

/* Memory types valid in MTRRs (UC, WC, WT, WP, WB) and in the PAT (also
 * UC-). */
static bool mtrr_type_valid(unsigned t)
{
    return t == 0 || t == 1 || t == 4 || t == 5 || t == 6;
}

static bool pat_type_valid(unsigned t)
{
    return mtrr_type_valid(t) || t == 7;
}

/* Eight memory-type bytes, as the fixed-range MTRRs and the PAT hold. */
static bool types_valid(uint64_t v, bool (*valid)(unsigned))
{
    for (int i = 0; i < 8; i++) {
        if (!valid((v >> (i * 8)) & 0xff)) {
            return false;
        }
    }
    return true;
}

/* Index in msr.mtrr_fixed[] of a fixed-range MTRR, or -1. */
static int mtrr_fixed_index(uint32_t index)
{
    switch (index) {
    case MSR_IA32_MTRR_FIX64K_00000: return 0;
    case MSR_IA32_MTRR_FIX16K_80000: return 1;
    case MSR_IA32_MTRR_FIX16K_A0000: return 2;
    default:
        if (index >= MSR_IA32_MTRR_FIX4K_C0000 &&
            index <= MSR_IA32_MTRR_FIX4K_F8000) {
            return 3 + (index - MSR_IA32_MTRR_FIX4K_C0000);
        }
        return -1;
    }
}

/* ---- clock and TSC ------------------------------------------------------ */

int64_t interp_clock_ns(InterpCPU *cpu)
{
    InterpEnv *env = &cpu->shared->env;
    struct timespec ts;

    if (env->clock_ns) {
        return env->clock_ns(env->clock_opaque);
    }
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* TSC ticks of the clock at @ns, before the guest's offset. */
static uint64_t tsc_from_ns(int64_t ns)
{
    return (uint64_t)((unsigned __int128)(uint64_t)ns * INTERP_TSC_HZ /
                      1000000000u);
}

static uint64_t ns_from_tsc(uint64_t ticks)
{
    return (uint64_t)((unsigned __int128)ticks * 1000000000u / INTERP_TSC_HZ);
}

uint64_t interp_read_tsc(InterpCPU *cpu)
{
    return tsc_from_ns(interp_clock_ns(cpu)) + cpu->msr.tsc_offset;
}

/* TSC-deadline: the guest's deadline as clock ns for the APIC timer. */
static void write_tsc_deadline(InterpCPU *cpu, uint64_t value)
{
    uint64_t ns = 0;

    cpu->msr.tsc_deadline = value;
    if (!cpu->apic) {
        return;
    }
    if (value) {
        int64_t ticks = (int64_t)(value - cpu->msr.tsc_offset);

        /* A deadline already past fires at once. */
        ns = ticks > 0 ? MAX(ns_from_tsc(ticks), 1) : 1;
    }
    msr_lock(cpu);
    apic_set_tsc_deadline(cpu->apic, ns);
    msr_unlock(cpu);
}

static uint64_t read_tsc_deadline(InterpCPU *cpu)
{
    uint64_t armed = 1;

    if (cpu->apic) {
        msr_lock(cpu);
        armed = apic_get_tsc_deadline(cpu->apic);
        msr_unlock(cpu);
    }
    /* Reads back 0 once the timer fired. */
    return armed ? cpu->msr.tsc_deadline : 0;
}

/* ---- RDMSR / WRMSR ------------------------------------------------------ */

bool interp_rdmsr(InterpCPU *cpu, uint32_t index, uint64_t *value)
{
    InterpMsrs *m = &cpu->msr;
    int fixed;

    switch (index) {
    case MSR_IA32_TSC:           *value = interp_read_tsc(cpu); return true;
    case MSR_IA32_PLATFORM_ID:   *value = 0; return true;
    case MSR_IA32_FEATURE_CONTROL: *value = FEATURE_CONTROL_LOCKED; return true;
    case MSR_IA32_BIOS_SIGN_ID:  *value = LEMU64_MICROCODE_REV; return true;
    case MSR_IA32_MTRRCAP:       *value = MTRRCAP_VALUE; return true;
    case MSR_IA32_SYSENTER_CS:   *value = m->sysenter_cs; return true;
    case MSR_IA32_SYSENTER_ESP:  *value = m->sysenter_esp; return true;
    case MSR_IA32_SYSENTER_EIP:  *value = m->sysenter_eip; return true;
    case MSR_IA32_MISC_ENABLE:
        *value = (m->misc_enable & MISC_ENABLE_LIMIT_CPUID) | MISC_ENABLE_FIXED;
        return true;
    case MSR_IA32_DEBUGCTL:      *value = 0; return true;
    case MSR_IA32_PAT:           *value = m->pat; return true;
    case MSR_IA32_MTRR_DEF_TYPE: *value = m->mtrr_def_type; return true;
    case MSR_IA32_TSC_DEADLINE:  *value = read_tsc_deadline(cpu); return true;
    case MSR_IA32_EFER:          *value = cpu->efer; return true;
    case MSR_IA32_STAR:          *value = m->star; return true;
    case MSR_IA32_LSTAR:         *value = m->lstar; return true;
    case MSR_IA32_CSTAR:         *value = m->cstar; return true;
    case MSR_IA32_FMASK:         *value = m->sfmask; return true;
    case MSR_IA32_FS_BASE:       *value = cpu->segs[SEG_FS].base; return true;
    case MSR_IA32_GS_BASE:       *value = cpu->segs[SEG_GS].base; return true;
    case MSR_IA32_KERNEL_GS_BASE: *value = m->kernel_gs_base; return true;
    case MSR_IA32_TSC_AUX:       *value = m->tsc_aux; return true;
    case MSR_IA32_APIC_BASE:
        if (!cpu->apic) {
            break;
        }
        msr_lock(cpu);
        *value = apic_get_base(cpu->apic);
        msr_unlock(cpu);
        return true;
    }
    if (index >= MSR_IA32_MTRR_PHYSBASE0 &&
        index < MSR_IA32_MTRR_PHYSBASE0 + 2 * MTRR_NR_VAR) {
        *value = m->mtrr_var[index - MSR_IA32_MTRR_PHYSBASE0];
        return true;
    }
    fixed = mtrr_fixed_index(index);
    if (fixed >= 0) {
        *value = m->mtrr_fixed[fixed];
        return true;
    }
    lemu_log_mask(LOG_UNIMP, "interp: rdmsr 0x%x: unknown MSR\n", index);
    return false;
}

static bool write_efer(InterpCPU *cpu, uint64_t value)
{
    uint64_t old = cpu->efer;

    if (value & ~EFER_VALID) {
        return false;
    }
    /* LME changes only with paging off; LMA is the CPU's to set. */
    if (((value ^ old) & EFER_LME) && (cpu->cr0 & CR0_PG)) {
        return false;
    }
    value = (value & ~EFER_LMA) | (old & EFER_LMA);
    cpu->efer = value;
    if ((value ^ old) & EFER_NXE) {
        interp_tlb_flush_all(cpu);
    }
    interp_update_hflags(cpu);
    return true;
}

static bool write_apic_base(InterpCPU *cpu, uint64_t value)
{
    if (!cpu->apic || (value & ~APIC_BASE_VALID)) {
        return false;
    }
    if (memory_map_ram_ptr(cpu->shared->env.mem,
                           value & MSR_IA32_APICBASE_BASE, 1, true)) {
        lemu_log_mask(LOG_UNIMP, "interp: APIC base 0x%" PRIx64 " over "
                      "RAM: RAM stays visible\n", value);
    }
    msr_lock(cpu);
    apic_set_base(cpu->apic, value);
    msr_unlock(cpu);
    return true;
}

static bool write_mtrr_var(InterpCPU *cpu, unsigned i, uint64_t value)
{
    if (i & 1) {
        /* PHYSMASK: mask bits and V. */
        if (value & ~(MTRR_ADDR_MASK | MTRR_MASK_VALID)) {
            return false;
        }
    } else if ((value & ~(MTRR_ADDR_MASK | 0xff)) ||
               !mtrr_type_valid(value & 0xff)) {
        return false;
    }
    cpu->msr.mtrr_var[i] = value;
    return true;
}

bool interp_wrmsr(InterpCPU *cpu, uint32_t index, uint64_t value)
{
    InterpMsrs *m = &cpu->msr;
    int fixed;

    switch (index) {
    case MSR_IA32_TSC:
        m->tsc_offset = value - tsc_from_ns(interp_clock_ns(cpu));
        return true;
    case MSR_IA32_BIOS_SIGN_ID:
        /* Writing 0 before CPUID asks for the revision: nothing to do. */
        return true;
    case MSR_IA32_SYSENTER_CS:
        m->sysenter_cs = value & 0xffffffff;
        return true;
    case MSR_IA32_SYSENTER_ESP:
    case MSR_IA32_SYSENTER_EIP:
        if (!is_canonical(value)) {
            return false;
        }
        *(index == MSR_IA32_SYSENTER_ESP ? &m->sysenter_esp
                                         : &m->sysenter_eip) = value;
        return true;
    case MSR_IA32_MISC_ENABLE:
        /* Other bits are fixed; writes to them are ignored. */
        m->misc_enable = value & MISC_ENABLE_LIMIT_CPUID;
        return true;
    case MSR_IA32_DEBUGCTL:
        if (value) {
            lemu_log_mask(LOG_UNIMP, "interp: IA32_DEBUGCTL 0x%" PRIx64
                          " not implemented\n", value);
            return false;
        }
        return true;
    case MSR_IA32_PAT:
        if (!types_valid(value, pat_type_valid)) {
            return false;
        }
        m->pat = value;
        return true;
    case MSR_IA32_MTRR_DEF_TYPE:
        if ((value & ~MTRR_DEF_TYPE_VALID) || !mtrr_type_valid(value & 0xff)) {
            return false;
        }
        m->mtrr_def_type = value;
        return true;
    case MSR_IA32_TSC_DEADLINE:
        write_tsc_deadline(cpu, value);
        return true;
    case MSR_IA32_EFER:
        return write_efer(cpu, value);
    case MSR_IA32_STAR:
        m->star = value;
        return true;
    case MSR_IA32_LSTAR:
    case MSR_IA32_CSTAR:
        if (!is_canonical(value)) {
            return false;
        }
        *(index == MSR_IA32_LSTAR ? &m->lstar : &m->cstar) = value;
        return true;
    case MSR_IA32_FMASK:
        if (value >> 32) {
            return false;
        }
        m->sfmask = value;
        return true;
    case MSR_IA32_FS_BASE:
    case MSR_IA32_GS_BASE:
        if (!is_canonical(value)) {
            return false;
        }
        cpu->segs[index == MSR_IA32_FS_BASE ? SEG_FS : SEG_GS].base = value;
        interp_update_hflags(cpu);
        return true;
    case MSR_IA32_KERNEL_GS_BASE:
        if (!is_canonical(value)) {
            return false;
        }
        m->kernel_gs_base = value;
        return true;
    case MSR_IA32_TSC_AUX:
        if (value >> 32) {
            return false;
        }
        m->tsc_aux = value;
        return true;
    case MSR_IA32_APIC_BASE:
        return write_apic_base(cpu, value);
    case MSR_IA32_PLATFORM_ID:
    case MSR_IA32_FEATURE_CONTROL:
    case MSR_IA32_MTRRCAP:
        return false;          /* read-only */
    }
    if (index >= MSR_IA32_MTRR_PHYSBASE0 &&
        index < MSR_IA32_MTRR_PHYSBASE0 + 2 * MTRR_NR_VAR) {
        return write_mtrr_var(cpu, index - MSR_IA32_MTRR_PHYSBASE0, value);
    }
    fixed = mtrr_fixed_index(index);
    if (fixed >= 0) {
        if (!types_valid(value, mtrr_type_valid)) {
            return false;
        }
        m->mtrr_fixed[fixed] = value;
        return true;
    }
    lemu_log_mask(LOG_UNIMP, "interp: wrmsr 0x%x = 0x%" PRIx64
                  ": unknown MSR\n", index, value);
    return false;
}
