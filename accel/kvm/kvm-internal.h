/*
 * KVM accelerator internals shared by kvm-all.c (VM, memory slots,
 * in-kernel irqchip), kvm-cpu.c (vCPUs) and kvm-cpuid.c (CPUID).
 */
#ifndef ACCEL_KVM_INTERNAL_H
#define ACCEL_KVM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/kvm.h>
#include <glib.h>
#include "lemu/accel/accel.h"
#include "lemu/system/machine.h"

/* Three pages for the real-mode TSS and one for the EPT identity map that
 * KVM needs on Intel hosts: just below the BIOS flash area, where QEMU puts
 * them too. Nothing of the pc machine is mapped there. */
#define KVM_TSS_ADDR          0xfeffd000ULL
#define KVM_TSS_SIZE          0x3000ULL
#define KVM_IDENTITY_MAP_ADDR 0xfeffc000ULL
#define KVM_IDENTITY_MAP_SIZE 0x1000ULL

/* The accelerator's state for one machine (Machine.accel_state). */
typedef struct KvmState {
    int kvm_fd;                  /* /dev/kvm */
    int vm_fd;
    int vcpu_mmap_size;          /* size of each vCPU's kvm_run mapping */
    bool readonly_mem;           /* KVM_CAP_READONLY_MEM: ROM slots */
    bool tsc_deadline;           /* KVM_CAP_TSC_DEADLINE_TIMER */
    bool xsave;                  /* KVM_CAP_XSAVE */
    bool xcrs;                   /* KVM_CAP_XCRS */
    bool vcpu_events;            /* KVM_CAP_VCPU_EVENTS */
    bool debugregs;              /* KVM_CAP_DEBUGREGS */
    bool ioeventfd;              /* KVM_CAP_IOEVENTFD */
    unsigned nr_slots;
    /* KVM_GET_SUPPORTED_CPUID filtered to the machine, before the
     * per-vCPU fields (APIC IDs) are filled in. */
    struct kvm_cpuid2 *cpuid;
    /* The in-kernel PIC, IOAPIC and PIT right after creation: what a
     * machine reset restores. */
    struct kvm_irqchip reset_pic_master;
    struct kvm_irqchip reset_pic_slave;
    struct kvm_irqchip reset_ioapic;
    struct kvm_pit_state2 reset_pit;
} KvmState;

/* One vCPU's KVM side (VCPU.accel). */
typedef struct KvmVcpu {
    int fd;
    struct kvm_run *run;         /* shared with the kernel, mmap'd */
    size_t run_size;
    /* The local APIC and APIC base MSR right after creation: restored at
     * every reset so that a rebooted guest finds a clean LAPIC. */
    struct kvm_lapic_state reset_lapic;
    uint64_t reset_apic_base;
    /* atomic: an NMI to issue with KVM_NMI on the vCPU's own thread
     * before its next KVM_RUN (from another thread the ioctl would wait
     * for KVM_RUN to return) */
    int nmi_pending;
} KvmVcpu;

static inline KvmState *kvm_state(Machine *m)
{
    return m->accel_state;
}

/* kvm-cpuid.c */
/* KVM_GET_SUPPORTED_CPUID on /dev/kvm, filtered to what lemu's machine
 * provides; @cpu_model is -cpu ("host" or "max", NULL for the default). */
struct kvm_cpuid2 *kvm_cpuid_build(KvmState *s, const char *cpu_model,
                                   GError **errp);
/* A copy of @base with the topology of vCPU @index of @nr_vcpus filled in
 * (APIC IDs, logical processor counts). g_free() it. */
struct kvm_cpuid2 *kvm_cpuid_for_vcpu(const struct kvm_cpuid2 *base,
                                      unsigned index, unsigned nr_vcpus);

/* kvm-cpu.c */
bool kvm_vcpu_init(VCPU *cpu, GError **errp);
void kvm_vcpu_cleanup(VCPU *cpu);
VcpuExit kvm_vcpu_run(VCPU *cpu);
void kvm_vcpu_kick(VCPU *cpu);
void kvm_vcpu_inject_nmi(VCPU *cpu);
void kvm_vcpu_reset(VCPU *cpu);
bool kvm_get_state(VCPU *cpu, X86CPUState *st, GError **errp);
bool kvm_set_state(VCPU *cpu, const X86CPUState *st, GError **errp);

#endif
