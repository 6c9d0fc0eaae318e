/*
 * The CPU model the interpreter presents: "lemu64", a GenuineIntel
 * x86-64 CPU that advertises exactly what the interpreter implements.
 *
 * The model is one const table of CPUID entries in the shape of KVM's
 * kvm_cpuid_entry2 (function, index, registers), so that the KVM
 * accelerator can present the same model later; the per-vCPU fields
 * (APIC ID, topology, the APIC enable bit) are filled in by
 * cpuid_fill_dynamic().
 *
 * Intel SDM vol. 2A, CPUID.
 */
#include "cpu.h"
#include "lemu/hw/intc/apic.h"

/* CPUID.01H:EDX */
#define CPUID_1_EDX_FPU     (1u << 0)
#define CPUID_1_EDX_VME     (1u << 1)
#define CPUID_1_EDX_DE      (1u << 2)
#define CPUID_1_EDX_PSE     (1u << 3)
#define CPUID_1_EDX_TSC     (1u << 4)
#define CPUID_1_EDX_MSR     (1u << 5)
#define CPUID_1_EDX_PAE     (1u << 6)
#define CPUID_1_EDX_MCE     (1u << 7)
#define CPUID_1_EDX_CX8     (1u << 8)
#define CPUID_1_EDX_APIC    (1u << 9)
#define CPUID_1_EDX_SEP     (1u << 11)
#define CPUID_1_EDX_MTRR    (1u << 12)
#define CPUID_1_EDX_PGE     (1u << 13)
#define CPUID_1_EDX_CMOV    (1u << 15)
#define CPUID_1_EDX_PAT     (1u << 16)
#define CPUID_1_EDX_PSE36   (1u << 17)
#define CPUID_1_EDX_CLFSH   (1u << 19)
#define CPUID_1_EDX_MMX     (1u << 23)
#define CPUID_1_EDX_FXSR    (1u << 24)
#define CPUID_1_EDX_SSE     (1u << 25)
#define CPUID_1_EDX_SSE2    (1u << 26)
#define CPUID_1_EDX_HTT     (1u << 28)
/* CPUID.01H:ECX */
#define CPUID_1_ECX_SSE3    (1u << 0)
#define CPUID_1_ECX_CX16    (1u << 13)
#define CPUID_1_ECX_PCID    (1u << 17)
#define CPUID_1_ECX_MOVBE   (1u << 22)
#define CPUID_1_ECX_POPCNT  (1u << 23)
#define CPUID_1_ECX_TSC_DEADLINE (1u << 24)
#define CPUID_1_ECX_HYPERVISOR (1u << 31)
/* CPUID.(EAX=07H,ECX=0):EBX */
#define CPUID_7_EBX_FSGSBASE (1u << 0)
#define CPUID_7_EBX_BMI1    (1u << 3)
#define CPUID_7_EBX_BMI2    (1u << 8)
#define CPUID_7_EBX_ERMS    (1u << 9)
#define CPUID_7_EBX_ADX     (1u << 19)
/* CPUID.80000001H */
#define CPUID_81_ECX_LAHF_LM (1u << 0)
#define CPUID_81_ECX_ABM    (1u << 5)      /* LZCNT */
#define CPUID_81_EDX_SYSCALL (1u << 11)
#define CPUID_81_EDX_NX     (1u << 20)
#define CPUID_81_EDX_PDPE1GB (1u << 26)
#define CPUID_81_EDX_RDTSCP (1u << 27)
#define CPUID_81_EDX_LM     (1u << 29)
/* CPUID.80000007H:EDX */
#define CPUID_87_EDX_INVTSC (1u << 8)

/*
 * x87, MMX and SSE are not implemented yet: the x87/SSE issue adds
 * CPUID_1_EDX_FPU | MMX | FXSR | SSE | SSE2 here (and SSE3... in
 * LEMU64_FPU_1_ECX), which also makes CR4.OSFXSR/OSXMMEXCPT writable.
 */
#define LEMU64_FPU_1_EDX    0u
#define LEMU64_FPU_1_ECX    0u

#define LEMU64_1_EDX (CPUID_1_EDX_DE | CPUID_1_EDX_PSE | CPUID_1_EDX_TSC | \
    CPUID_1_EDX_MSR | CPUID_1_EDX_PAE | CPUID_1_EDX_MCE | CPUID_1_EDX_CX8 | \
    CPUID_1_EDX_APIC | CPUID_1_EDX_SEP | CPUID_1_EDX_MTRR |                 \
    CPUID_1_EDX_PGE | CPUID_1_EDX_CMOV | CPUID_1_EDX_PAT |                  \
    CPUID_1_EDX_PSE36 | CPUID_1_EDX_CLFSH | LEMU64_FPU_1_EDX)
#define LEMU64_1_ECX (CPUID_1_ECX_CX16 | CPUID_1_ECX_MOVBE |                \
    CPUID_1_ECX_POPCNT | CPUID_1_ECX_TSC_DEADLINE |                         \
    CPUID_1_ECX_HYPERVISOR | LEMU64_FPU_1_ECX)
#define LEMU64_7_EBX (CPUID_7_EBX_FSGSBASE | CPUID_7_EBX_BMI1 |             \
    CPUID_7_EBX_BMI2 | CPUID_7_EBX_ERMS | CPUID_7_EBX_ADX)
#define LEMU64_81_ECX (CPUID_81_ECX_LAHF_LM | CPUID_81_ECX_ABM)
#define LEMU64_81_EDX (CPUID_81_EDX_SYSCALL | CPUID_81_EDX_NX |             \
    CPUID_81_EDX_PDPE1GB | CPUID_81_EDX_RDTSCP | CPUID_81_EDX_LM)

/* Family 6, model 15, stepping 1: no model-specific quirks to imitate. */
#define LEMU64_SIGNATURE    0x000006f1u
#define LEMU64_MAX_BASIC    0x16u
#define LEMU64_MAX_EXT      0x80000008u
/* CLFLUSH line size in 8-byte units. */
#define LEMU64_CLFLUSH_LINE 8u
#define LEMU64_PHYS_BITS    40u
#define LEMU64_VIRT_BITS    48u
/* IA32_MISC_ENABLE.LIMIT_CPUID (msr.c): leaf 0 reports at most 2. */
#define MISC_ENABLE_LIMIT_CPUID (1ULL << 22)

typedef struct Lemu64Cpuid {
    uint32_t function;
    uint32_t index;           /* subleaf, when the leaf has them */
    bool indexed;
    uint32_t eax, ebx, ecx, edx;
} Lemu64Cpuid;

static const Lemu64Cpuid lemu64_cpuid[] = {
    /* Max basic leaf and "GenuineIntel" in EBX, EDX, ECX. */
    { 0x0, 0, false, LEMU64_MAX_BASIC, 0x756e6547, 0x6c65746e, 0x49656e69 },
    { 0x1, 0, false, LEMU64_SIGNATURE, LEMU64_CLFLUSH_LINE << 8,
      LEMU64_1_ECX, LEMU64_1_EDX },
    /* One descriptor iteration, all null descriptors. */
    { 0x2, 0, false, 0x00000001, 0, 0, 0 },
    /* Leaf 4 (caches) reports none: all zeros. */
    { 0x7, 0, true, 0, LEMU64_7_EBX, 0, 0 },
    /* 0xb: x2APIC topology, filled per vCPU. */
    { 0xb, 0, true, 0, 0, 0, 0 },
    { 0xb, 1, true, 0, 0, 0, 0 },
    /* TSC = crystal * EBX / EAX, crystal = ECX Hz; also the APIC timer's
     * input clock. */
    { 0x15, 0, false, 1, 1, (uint32_t)INTERP_TSC_HZ, 0 },
    /* Base and maximum frequency in MHz, bus in MHz. */
    { 0x16, 0, false, (uint32_t)(INTERP_TSC_HZ / 1000000),
      (uint32_t)(INTERP_TSC_HZ / 1000000), 100, 0 },
    { 0x80000000, 0, false, LEMU64_MAX_EXT, 0, 0, 0 },
    { 0x80000001, 0, false, 0, 0, LEMU64_81_ECX, LEMU64_81_EDX },
    /* "lemu64 x86-64 CPU (lemu interpreter)" */
    { 0x80000002, 0, false, 0x756d656c, 0x78203436, 0x362d3638, 0x50432034 },
    { 0x80000003, 0, false, 0x6c282055, 0x20756d65, 0x65746e69, 0x65727072 },
    { 0x80000004, 0, false, 0x29726574, 0, 0, 0 },
    /* L2: 256 KiB, 8-way, 64-byte lines. */
    { 0x80000006, 0, false, 0, 0, 0x01006040, 0 },
    { 0x80000007, 0, false, 0, 0, 0, CPUID_87_EDX_INVTSC },
    { 0x80000008, 0, false, LEMU64_PHYS_BITS | LEMU64_VIRT_BITS << 8, 0, 0, 0 },
};

/* The table's entry for @function/@index, NULL for a leaf of zeros. */
static const Lemu64Cpuid *cpuid_lookup(uint32_t function, uint32_t index)
{
    for (size_t i = 0; i < G_N_ELEMENTS(lemu64_cpuid); i++) {
        const Lemu64Cpuid *e = &lemu64_cpuid[i];

        if (e->function == function && (!e->indexed || e->index == index)) {
            return e;
        }
    }
    return NULL;
}

static unsigned cpuid_nr_cpus(InterpCPU *cpu)
{
    unsigned n = cpu->shared->env.nr_cpus;

    return n ? n : 1;
}

/* Bits of APIC ID that number the cores of the package. */
static unsigned cpuid_core_bits(InterpCPU *cpu)
{
    unsigned n = cpuid_nr_cpus(cpu), bits = 0;

    while ((1u << bits) < n) {
        bits++;
    }
    return bits;
}

/* The per-vCPU fields of the model. */
static void cpuid_fill_dynamic(InterpCPU *cpu, uint32_t function,
                               uint32_t index, CpuidResult *r)
{
    unsigned bits = cpuid_core_bits(cpu);
    InterpEnv *env = &cpu->shared->env;

    switch (function) {
    case 0x0:
        if (cpu->msr.misc_enable & MISC_ENABLE_LIMIT_CPUID) {
            r->eax = MIN(r->eax, 2u);
        }
        break;
    case 0x1:
        r->ebx |= (uint32_t)(cpu->index & 0xff) << 24;
        if (cpuid_nr_cpus(cpu) > 1) {
            r->edx |= CPUID_1_EDX_HTT;
            r->ebx |= (1u << bits) << 16;
        }
        /* CPUID.1:EDX.APIC follows IA32_APIC_BASE.EN. */
        if (!cpu->apic) {
            r->edx &= ~CPUID_1_EDX_APIC;
        } else {
            uint64_t base;

            if (env->lock) {
                env->lock(env->lock_opaque);
            }
            base = apic_get_base(cpu->apic);
            if (env->unlock) {
                env->unlock(env->lock_opaque);
            }
            if (!(base & MSR_IA32_APICBASE_ENABLE)) {
                r->edx &= ~CPUID_1_EDX_APIC;
            }
        }
        break;
    case 0xb:
        /* One thread per core, every vCPU a core of one package. */
        if (index == 0) {
            r->eax = 0;
            r->ebx = 1;
            r->ecx = 1u << 8;               /* level type SMT */
        } else if (index == 1) {
            r->eax = bits;
            r->ebx = cpuid_nr_cpus(cpu);
            r->ecx = 2u << 8 | 1;           /* level type core */
        } else {
            r->eax = r->ebx = 0;
            r->ecx = index & 0xff;          /* invalid level */
        }
        r->edx = cpu->index;
        break;
    }
}

void interp_cpuid(InterpCPU *cpu, uint32_t leaf, uint32_t subleaf,
                  CpuidResult *r)
{
    const Lemu64Cpuid *e;
    uint32_t max_basic = LEMU64_MAX_BASIC;

    if (cpu->msr.misc_enable & MISC_ENABLE_LIMIT_CPUID) {
        max_basic = 2;
    }
    /* Beyond the last leaf, Intel CPUs answer as for the last basic leaf. */
    if ((leaf < 0x80000000u && leaf > max_basic) ||
        (leaf >= 0x80000000u && leaf > LEMU64_MAX_EXT)) {
        leaf = max_basic;
        subleaf = 0;
    }
    e = cpuid_lookup(leaf, subleaf);
    if (leaf == 0xb && !e) {
        e = cpuid_lookup(0xb, 1);   /* levels >= 2: filled as invalid */
    }
    *r = e ? (CpuidResult){ e->eax, e->ebx, e->ecx, e->edx }
           : (CpuidResult){ 0, 0, 0, 0 };
    cpuid_fill_dynamic(cpu, leaf, subleaf, r);
}

bool interp_has_feature(InterpCPU *cpu, int feature)
{
    static const struct {
        uint32_t function;
        uint8_t reg;          /* 0 EAX, 1 EBX, 2 ECX, 3 EDX */
        uint32_t bit;
    } map[FEAT_NR] = {
        [FEAT_POPCNT]   = { 0x1, 2, CPUID_1_ECX_POPCNT },
        [FEAT_LZCNT]    = { 0x80000001, 2, CPUID_81_ECX_ABM },
        [FEAT_BMI1]     = { 0x7, 1, CPUID_7_EBX_BMI1 },
        [FEAT_BMI2]     = { 0x7, 1, CPUID_7_EBX_BMI2 },
        [FEAT_MOVBE]    = { 0x1, 2, CPUID_1_ECX_MOVBE },
        [FEAT_ADX]      = { 0x7, 1, CPUID_7_EBX_ADX },
        [FEAT_RDTSCP]   = { 0x80000001, 3, CPUID_81_EDX_RDTSCP },
        [FEAT_CX16]     = { 0x1, 2, CPUID_1_ECX_CX16 },
        [FEAT_FSGSBASE] = { 0x7, 1, CPUID_7_EBX_FSGSBASE },
        [FEAT_LAHF64]   = { 0x80000001, 2, CPUID_81_ECX_LAHF_LM },
        [FEAT_PCID]     = { 0x1, 2, CPUID_1_ECX_PCID },
    };
    const Lemu64Cpuid *e;
    uint32_t regs[4];

    if (feature < 0 || feature >= FEAT_NR) {
        return false;
    }
    e = cpuid_lookup(map[feature].function, 0);
    if (!e) {
        return false;
    }
    regs[0] = e->eax;
    regs[1] = e->ebx;
    regs[2] = e->ecx;
    regs[3] = e->edx;
    return (regs[map[feature].reg] & map[feature].bit) != 0;
}
