/*
 * CPUID under KVM: what KVM_GET_SUPPORTED_CPUID offers, less what lemu's
 * machine cannot back (no PMU, no MONITOR/MWAIT, no nested virtualisation,
 * no SGX or processor trace, no paravirtual leaves), with the topology of
 * -smp: one package of N cores, one thread each, APIC ID = vCPU index.
 */
#include <errno.h>
#include <cpuid.h>
#include <string.h>
#include <sys/ioctl.h>
#include "accel/kvm/kvm-internal.h"
#include "lemu/util/log.h"

/* CPUID.1:ECX */
#define CPUID_1_ECX_DTES64       (1u << 2)
#define CPUID_1_ECX_MONITOR      (1u << 3)
#define CPUID_1_ECX_DS_CPL       (1u << 4)
#define CPUID_1_ECX_VMX          (1u << 5)
#define CPUID_1_ECX_SMX          (1u << 6)
#define CPUID_1_ECX_EST          (1u << 7)
#define CPUID_1_ECX_TM2          (1u << 8)
#define CPUID_1_ECX_FMA          (1u << 12)
#define CPUID_1_ECX_PDCM         (1u << 15)
#define CPUID_1_ECX_DCA          (1u << 18)
#define CPUID_1_ECX_TSC_DEADLINE (1u << 24)
#define CPUID_1_ECX_XSAVE        (1u << 26)
#define CPUID_1_ECX_OSXSAVE      (1u << 27)
#define CPUID_1_ECX_AVX          (1u << 28)
#define CPUID_1_ECX_F16C         (1u << 29)
/* CPUID.1:EDX */
#define CPUID_1_EDX_DS           (1u << 21)
#define CPUID_1_EDX_ACPI         (1u << 22)
#define CPUID_1_EDX_HTT          (1u << 28)
#define CPUID_1_EDX_TM           (1u << 29)
#define CPUID_1_EDX_PBE          (1u << 31)
/* CPUID.(7,0):EBX and ECX */
#define CPUID_7_EBX_SGX          (1u << 2)
#define CPUID_7_EBX_AVX2         (1u << 5)
#define CPUID_7_EBX_INTEL_PT     (1u << 25)
#define CPUID_7_EBX_AVX512_MASK  0xd0230000u  /* F, DQ, IFMA, PF, ER, CD, BW, VL */
#define CPUID_7_ECX_SGX_LC       (1u << 30)
/* CPUID.80000001H:ECX */
#define CPUID_80000001_ECX_SVM          (1u << 2)
#define CPUID_80000001_ECX_PERFCTR_CORE (1u << 23)

/* Leaf 0xB/0x1F level types. */
#define CPUID_TOPO_LEVEL_SMT   1
#define CPUID_TOPO_LEVEL_CORE  2

#define CPUID_SIGNATURE_AMD_EBX 0x68747541u   /* "Auth" */

static struct kvm_cpuid2 *kvm_get_supported_cpuid(int kvm_fd, GError **errp)
{
    /* KVM says E2BIG until the buffer is large enough. */
    for (unsigned n = 256; n <= 4096; n *= 2) {
        struct kvm_cpuid2 *c = g_malloc0(sizeof(*c) +
                                         n * sizeof(c->entries[0]));
        c->nent = n;
        if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
            return c;
        }
        g_free(c);
        if (errno != E2BIG) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                        "kvm: KVM_GET_SUPPORTED_CPUID failed: %s",
                        g_strerror(errno));
            return NULL;
        }
    }
    g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                "kvm: KVM_GET_SUPPORTED_CPUID returned too many entries");
    return NULL;
}

static void cpuid_zero(struct kvm_cpuid_entry2 *e)
{
    e->eax = e->ebx = e->ecx = e->edx = 0;
}

static bool cpuid_is_amd(const struct kvm_cpuid2 *c)
{
    for (unsigned i = 0; i < c->nent; i++) {
        if (c->entries[i].function == 0) {
            return c->entries[i].ebx == CPUID_SIGNATURE_AMD_EBX;
        }
    }
    return false;
}

/* Clears what lemu's machine does not back; the topology is per vCPU. */
static void cpuid_filter_entry(KvmState *s, struct kvm_cpuid_entry2 *e)
{
    switch (e->function) {
    case 1:
        e->ecx &= ~(CPUID_1_ECX_DTES64 | CPUID_1_ECX_MONITOR |
                    CPUID_1_ECX_DS_CPL | CPUID_1_ECX_VMX | CPUID_1_ECX_SMX |
                    CPUID_1_ECX_EST | CPUID_1_ECX_TM2 | CPUID_1_ECX_PDCM |
                    CPUID_1_ECX_DCA | CPUID_1_ECX_OSXSAVE);
        e->edx &= ~(CPUID_1_EDX_DS | CPUID_1_EDX_ACPI | CPUID_1_EDX_TM |
                    CPUID_1_EDX_PBE);
        if (!s->tsc_deadline) {
            e->ecx &= ~CPUID_1_ECX_TSC_DEADLINE;
        }
        if (!s->xsave) {
            e->ecx &= ~(CPUID_1_ECX_XSAVE | CPUID_1_ECX_AVX |
                        CPUID_1_ECX_FMA | CPUID_1_ECX_F16C);
        }
        break;
    case 5:     /* MONITOR/MWAIT */
    case 0xa:   /* architectural performance monitoring */
    case 0x12:  /* SGX */
    case 0x14:  /* processor trace */
        cpuid_zero(e);
        break;
    case 7:
        if (e->index == 0) {
            e->ebx &= ~(CPUID_7_EBX_SGX | CPUID_7_EBX_INTEL_PT);
            e->ecx &= ~CPUID_7_ECX_SGX_LC;
            if (!s->xsave) {
                e->ebx &= ~(CPUID_7_EBX_AVX2 | CPUID_7_EBX_AVX512_MASK);
            }
        }
        break;
    case 0xd:
        if (!s->xsave) {
            cpuid_zero(e);
        }
        break;
    case 0x80000001:
        e->ecx &= ~(CPUID_80000001_ECX_SVM | CPUID_80000001_ECX_PERFCTR_CORE);
        break;
    case 0x8000000a:   /* SVM features */
        cpuid_zero(e);
        break;
    case 0x80000002 ... 0x80000004:
        /* -cpu host shows the host's brand string, as QEMU does; some
         * KVM implementations leave these leaves empty. */
        __cpuid(e->function, e->eax, e->ebx, e->ecx, e->edx);
        break;
    }
}

struct kvm_cpuid2 *kvm_cpuid_build(KvmState *s, const char *cpu_model,
                                   GError **errp)
{
    struct kvm_cpuid2 *c;
    unsigned n = 0;

    /* Under KVM both mean: everything the host and KVM can give. */
    if (cpu_model && strcmp(cpu_model, "host") != 0 &&
        strcmp(cpu_model, "max") != 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "-cpu %s: unknown CPU model for kvm (expected host or "
                    "max)", cpu_model);
        return NULL;
    }
    c = kvm_get_supported_cpuid(s->kvm_fd, errp);
    if (!c) {
        return NULL;
    }
    for (unsigned i = 0; i < c->nent; i++) {
        struct kvm_cpuid_entry2 *e = &c->entries[i];

        /* KVM's paravirtual leaves promise kvmclock and friends, which
         * lemu does not set up. */
        if (e->function >= 0x40000000 && e->function <= 0x4fffffff) {
            continue;
        }
        cpuid_filter_entry(s, e);
        c->entries[n++] = *e;
    }
    c->nent = n;
    return c;
}

/* Number of bits needed to number @count items (0 for one). */
static unsigned cpuid_id_bits(unsigned count)
{
    unsigned bits = 0;

    while ((1u << bits) < count) {
        bits++;
    }
    return bits;
}

/* Leaf 0xB (or 0x1F) subleaves 0 (SMT), 1 (core) and 2 (end). */
static unsigned cpuid_add_topology(struct kvm_cpuid_entry2 *out,
                                   uint32_t function, unsigned index,
                                   unsigned nr_vcpus)
{
    for (unsigned level = 0; level < 3; level++) {
        struct kvm_cpuid_entry2 *e = &out[level];

        memset(e, 0, sizeof(*e));
        e->function = function;
        e->index = level;
        e->flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
        e->edx = index;                       /* x2APIC ID */
        e->ecx = level;
        if (level == 0) {
            e->eax = 0;                       /* one thread per core */
            e->ebx = 1;
            e->ecx |= CPUID_TOPO_LEVEL_SMT << 8;
        } else if (level == 1) {
            e->eax = cpuid_id_bits(nr_vcpus);
            e->ebx = nr_vcpus;
            e->ecx |= CPUID_TOPO_LEVEL_CORE << 8;
        }
    }
    return 3;
}

struct kvm_cpuid2 *kvm_cpuid_for_vcpu(const struct kvm_cpuid2 *base,
                                      unsigned index, unsigned nr_vcpus)
{
    /* Room for the rebuilt topology leaves 0xB and 0x1F. */
    unsigned max = base->nent + 6;
    struct kvm_cpuid2 *c = g_malloc0(sizeof(*c) + max * sizeof(c->entries[0]));
    unsigned cores_minus_1 = MIN(nr_vcpus, 64u) - 1;
    bool amd = cpuid_is_amd(base);
    bool topo_b = false, topo_1f = false;
    unsigned n = 0;

    for (unsigned i = 0; i < base->nent; i++) {
        struct kvm_cpuid_entry2 e = base->entries[i];

        switch (e.function) {
        case 1:
            e.ebx &= 0x0000ffff;
            e.ebx |= (index & 0xff) << 24;            /* initial APIC ID */
            e.ebx |= MIN(nr_vcpus, 255u) << 16;       /* logical count */
            if (nr_vcpus > 1) {
                e.edx |= CPUID_1_EDX_HTT;
            } else {
                e.edx &= ~CPUID_1_EDX_HTT;
            }
            break;
        case 4:
            /* Cores per package; L1/L2 per core, L3 shared by all. */
            if (e.eax & 0x1f) {
                unsigned level = (e.eax >> 5) & 7;
                unsigned sharing = level >= 3 ? cores_minus_1 : 0;
                e.eax &= 0x3fff;
                e.eax |= cores_minus_1 << 26;
                e.eax |= sharing << 14;
            }
            break;
        case 0xb:
            if (!topo_b) {
                n += cpuid_add_topology(&c->entries[n], 0xb, index, nr_vcpus);
                topo_b = true;
            }
            continue;
        case 0x1f:
            if (!topo_1f) {
                n += cpuid_add_topology(&c->entries[n], 0x1f, index,
                                        nr_vcpus);
                topo_1f = true;
            }
            continue;
        case 0x80000008:
            if (amd) {
                e.ecx &= ~0xf0ffu;
                e.ecx |= cores_minus_1;                        /* NC */
                e.ecx |= cpuid_id_bits(nr_vcpus) << 12;        /* ApicIdSize */
            }
            break;
        case 0x8000001e:
            if (amd) {
                e.eax = index;           /* extended APIC ID */
                e.ebx = index & 0xff;    /* core ID, one thread per core */
                e.ecx = 0;               /* node 0, one node */
            }
            break;
        }
        c->entries[n++] = e;
    }
    c->nent = n;
    return c;
}
