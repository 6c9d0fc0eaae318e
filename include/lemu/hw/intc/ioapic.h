/*
 * Intel 82093AA I/O APIC: 24 interrupt input pins, each routed by a
 * redirection table entry to an interrupt message on the APIC bus. The
 * guest programs it through IOREGSEL/IOWIN in a 4 KiB MMIO window (at the
 * "base" property, 0xfec00000 by default) and, as version 0x20 parts do,
 * ends level-triggered interrupts through the EOI register at 0x40.
 *
 * Under KVM the in-kernel IOAPIC is used instead; this model serves the
 * interpreter. The board routes GSIs in with ioapic_set_irq() (or
 * ioapic_gsi_handler as an IrqHandler), connects the output with
 * ioapic_set_deliver(), and forwards local APIC EOI broadcasts to
 * ioapic_eoi().
 *
 * Every function here must be called with the machine lock held.
 */
#ifndef LEMU_HW_INTC_IOAPIC_H
#define LEMU_HW_INTC_IOAPIC_H

#include <stdint.h>
#include "lemu/hw/qdev.h"
#include "lemu/hw/intc/apic-msg.h"

#define IOAPIC_NR_PINS      24
#define IOAPIC_DEFAULT_BASE 0xfec00000ULL
#define IOAPIC_MMIO_SIZE    0x1000

typedef struct IoapicState IoapicState;

/* The device class is ioapic_class in hw/device-classes.h ("ioapic"). */

/* The IOAPIC behind @dev; NULL when @dev is not an ioapic. */
IoapicState *ioapic_from_device(Device *dev);

/*
 * Sets the electrical level of input @pin (0-23); the entry's polarity
 * says which level is active. Out of range pins are ignored.
 */
void ioapic_set_irq(IoapicState *s, int pin, int level);

/* The same as an IrqHandler: @opaque is the IoapicState, @n the pin. */
void ioapic_gsi_handler(void *opaque, int n, int level);

/*
 * Where interrupt messages go. Until it is set (or with @fn NULL) they are
 * dropped, as if no local APIC listened.
 */
void ioapic_set_deliver(IoapicState *s, ApicDeliverFunc *fn, void *opaque);

/*
 * A local APIC's EOI broadcast for @vector: clears Remote IRR of every
 * level-triggered entry with that vector, and delivers again the ones
 * whose input is still active. The same as a write to the EOI register.
 */
void ioapic_eoi(IoapicState *s, uint8_t vector);

#endif
