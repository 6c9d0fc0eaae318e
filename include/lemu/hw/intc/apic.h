/*
 * The local APIC (xAPIC mode) of one vCPU, for the interpreter; under KVM
 * the in-kernel LAPIC is used instead.
 *
 * Every vCPU sees its own local APIC at the same physical address, so the
 * APIC is not in the global memory map: the CPU model compares accesses
 * with the base from apic_get_base() and calls apic_mmio_read/write
 * itself. Interrupt messages travel on an ApicBus: the IOAPIC (and later
 * MSI) sends with apic_bus_deliver, and each APIC's ICR sends on the bus it
 * was attached to.
 *
 * The timer counts an input clock of APIC_TIMER_BASE_HZ (1 GHz) divided by
 * the divide configuration register, on CLOCK_VIRTUAL; in TSC-deadline
 * mode the CPU converts the guest's TSC deadline to a CLOCK_VIRTUAL time
 * in ns and hands it over with apic_set_tsc_deadline().
 *
 * Every function here must be called with the machine lock held.
 */
#ifndef LEMU_HW_INTC_APIC_H
#define LEMU_HW_INTC_APIC_H

#include <stdbool.h>
#include <stdint.h>
#include "lemu/hw/qdev.h"
#include "lemu/hw/intc/apic-msg.h"

#define APIC_DEFAULT_ADDRESS    0xfee00000ULL
#define APIC_MMIO_SIZE          0x1000

/* IA32_APIC_BASE (MSR 0x1b). */
#define MSR_IA32_APICBASE       0x1b
#define MSR_IA32_APICBASE_BSP   (1ULL << 8)
#define MSR_IA32_APICBASE_ENABLE (1ULL << 11)
#define MSR_IA32_APICBASE_BASE  0xfffff000ULL

/* The timer's input clock before the divider: one tick per ns. */
/* Register offsets in the xAPIC page. */
#define APIC_ID             0x020
#define APIC_LVR            0x030   /* version */
#define APIC_TPR            0x080
#define APIC_APR            0x090
#define APIC_PPR            0x0a0
#define APIC_EOI            0x0b0
#define APIC_LDR            0x0d0
#define APIC_DFR            0x0e0
#define APIC_SVR            0x0f0
#define APIC_ISR            0x100
#define APIC_TMR            0x180
#define APIC_IRR            0x200
#define APIC_ESR            0x280
#define APIC_ICR_LOW        0x300
#define APIC_ICR_HIGH       0x310
#define APIC_LVT_TIMER      0x320
#define APIC_LVT_THERMAL    0x330
#define APIC_LVT_PERF       0x340
#define APIC_LVT_LINT0      0x350
#define APIC_LVT_LINT1      0x360
#define APIC_LVT_ERROR      0x370
#define APIC_TMICT          0x380   /* timer initial count */
#define APIC_TMCCT          0x390   /* timer current count */
#define APIC_TDCR           0x3e0   /* timer divide configuration */

#define APIC_TIMER_BASE_HZ      1000000000ULL

typedef struct ApicState ApicState;
typedef struct ApicBus ApicBus;

/* The device class is apic_class in hw/device-classes.h ("apic"), with
 * the property "id" (the APIC ID, 0-254). */

/* What the APIC asks of its CPU; any hook may be NULL. */
typedef struct ApicCpuOps {
    /* INTR (apic_has_interrupt) may have changed: wake a halted CPU. */
    void (*kick)(void *cpu);
    void (*init)(void *cpu);
    void (*sipi)(void *cpu, uint8_t vector);
    void (*nmi)(void *cpu);
    /* An ExtINT request: the CPU takes the vector from the 8259's INTA. */
    void (*extint)(void *cpu);
} ApicCpuOps;

/* The APIC behind @dev; NULL when @dev is not an apic. */
ApicState *apic_from_device(Device *dev);

void apic_connect_cpu(ApicState *s, const ApicCpuOps *ops, void *cpu);

/*
 * Called on EOI of a level-triggered vector (TMR set), so the IOAPIC can
 * clear Remote IRR.
 */
void apic_set_eoi_hook(ApicState *s, void (*fn)(void *opaque, uint8_t vector),
                       void *opaque);

/* ---- the APIC bus ---- */

ApicBus *apic_bus_new(void);
/* Detaches the APICs still attached; they stay usable, without a bus. */
void apic_bus_free(ApicBus *bus);
/* Adds @s to @bus (it is found by its current APIC ID); an APIC is on at
 * most one bus, and leaves it when unrealized. */
void apic_bus_attach(ApicBus *bus, ApicState *s);
/* Delivers @msg to the APICs it addresses; @bus is an ApicBus. */
void apic_bus_deliver(void *bus, const ApicMessage *msg);

/* ---- what the CPU model calls ---- */

/* xAPIC page access: 32-bit aligned registers at 16-byte strides. */
uint32_t apic_mmio_read(ApicState *s, uint64_t offset, unsigned size);
void apic_mmio_write(ApicState *s, uint64_t offset, uint32_t value,
                     unsigned size);

/* The INTR output: a fixed interrupt whose priority class beats PPR. */
bool apic_has_interrupt(ApicState *s);
/* INTA: moves the highest IRR vector to ISR and returns it; the spurious
 * vector when there is nothing to take. */
int apic_acknowledge(ApicState *s);

/* CR8 is TPR[7:4]: the CPU passes cr8 << 4 and reads back tpr >> 4. */
void apic_set_tpr(ApicState *s, uint8_t tpr);
uint8_t apic_get_tpr(ApicState *s);

/* IA32_APIC_BASE: the base address and enable bit are writable (the BSP
 * bit is read-only: set at power-on for APIC ID 0). Clearing the enable
 * bit resets the APIC and makes it ignore the bus until enabled again. */
uint64_t apic_get_base(ApicState *s);
void apic_set_base(ApicState *s, uint64_t msr);

/* TSC-deadline mode: the deadline as CLOCK_VIRTUAL ns; 0 disarms. Ignored
 * unless the LVT timer is in TSC-deadline mode. Reads back 0 once fired. */
void apic_set_tsc_deadline(ApicState *s, uint64_t ns_deadline);
uint64_t apic_get_tsc_deadline(ApicState *s);

/* LINT0 (@lint 0: ExtINT from the 8259, or as its LVT says) and LINT1
 * (@lint 1: NMI), as levels. */
void apic_set_lint(ApicState *s, int lint, int level);

/* INIT: registers to their power-on values, keeping the APIC ID and
 * IA32_APIC_BASE. */
void apic_reset_cpu(ApicState *s);

#endif
