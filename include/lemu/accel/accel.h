/*
 * The interface every accelerator implements. An accelerator runs the
 * vCPUs of one machine: KVM through /dev/kvm, or lemu's interpreter.
 */
#ifndef LEMU_ACCEL_ACCEL_H
#define LEMU_ACCEL_ACCEL_H

#include <stdbool.h>
#include <glib.h>
#include "lemu/accel/x86-cpu.h"

typedef struct Machine Machine;
typedef struct VCPU VCPU;

/* Why vcpu_run returned to the generic vCPU loop. */
typedef enum {
    VCPU_EXIT_KICKED,      /* a kick or a pending stop request */
    VCPU_EXIT_HALTED,      /* HLT with interrupts that only userspace can
                              deliver; the loop waits for a kick */
    VCPU_EXIT_SHUTDOWN,    /* triple fault: the machine resets */
    VCPU_EXIT_ERROR,       /* the accelerator failed; message logged via
                              machine_request_internal_error() */
} VcpuExit;

typedef struct AccelOps {
    const char *name;          /* "kvm", "interp" */
    /* Checks the host and sets the accelerator up for @m (memory map
     * already built, vCPUs not yet created). */
    bool (*init)(Machine *m, GError **errp);
    void (*cleanup)(Machine *m);
    bool (*vcpu_init)(VCPU *cpu, GError **errp);
    void (*vcpu_cleanup)(VCPU *cpu);
    /* Runs guest code on the vCPU's own thread until it must return. */
    VcpuExit (*vcpu_run)(VCPU *cpu);
    /* Makes vcpu_run return soon; any thread, any time. */
    void (*vcpu_kick)(VCPU *cpu);
    bool (*get_state)(VCPU *cpu, X86CPUState *st, GError **errp);
    bool (*set_state)(VCPU *cpu, const X86CPUState *st, GError **errp);
    /* Optional. On the vCPU's thread, before the state of a reset (the
     * vCPU's pending state) is loaded: puts what X86CPUState does not
     * hold (local APIC, FPU, pending events) in its power-on state. */
    void (*vcpu_reset)(VCPU *cpu);
    /* Optional. Lock held, vCPUs paused: puts the machine-wide devices
     * that live in the accelerator (in-kernel PIC, IOAPIC, PIT) in their
     * power-on state. machine_reset() calls it. */
    void (*reset)(Machine *m);
    /* Makes an NMI pending on @cpu (QMP inject-nmi); lock held, any
     * thread. The vCPU takes it the next time it runs guest code. */
    void (*vcpu_inject_nmi)(VCPU *cpu);
    /* Sets the level of global system interrupt @gsi (ISA IRQs are GSIs
     * 0-15). NULL when the machine routes interrupts itself. */
    void (*set_irq)(Machine *m, unsigned gsi, int level);
    /* Sends an MSI (KVM_SIGNAL_MSI). NULL when the machine routes MSIs
     * itself (Machine.msi_route). */
    void (*send_msi)(Machine *m, uint64_t addr, uint32_t data);
    /* Optional. Attaches eventfd @fd to guest writes of @len bytes at MMIO
     * address @addr, which then signal @fd instead of stopping the vCPU
     * (@assign false: detaches it again). False if the host refused. */
    bool (*ioeventfd)(Machine *m, uint64_t addr, unsigned len, int fd,
                      bool assign);
    /* The PIC, IOAPIC, LAPIC and PIT live inside the accelerator. */
    bool has_irqchip;
} AccelOps;

/* "kvm", "interp" or its alias "tcg"; NULL if unknown or not built. */
const AccelOps *accel_find(const char *name);

extern const AccelOps kvm_accel_ops;

#endif
