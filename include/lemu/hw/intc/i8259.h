/*
 * The PC/AT pair of Intel 8259A programmable interrupt controllers: the
 * master at 0x20/0x21, the slave at 0xa0/0xa1 cascaded on the master's
 * IR2, and the edge/level control registers (ELCR) at 0x4d0/0x4d1.
 *
 * Under KVM the in-kernel PIC is used instead; this model serves the
 * interpreter. The board routes ISA IRQ lines in with i8259_set_irq() (or
 * i8259_gsi_handler as an IrqHandler), connects the INTR output to the CPU
 * with i8259_connect_int_out(), and the CPU model runs the INTA cycle with
 * i8259_acknowledge() when it takes the interrupt.
 *
 * Every function here must be called with the machine lock held.
 */
#ifndef LEMU_HW_INTC_I8259_H
#define LEMU_HW_INTC_I8259_H

#include <stdbool.h>
#include "lemu/hw/qdev.h"
#include "lemu/system/irq.h"

#define I8259_NR_IRQS 16

typedef struct I8259State I8259State;

/* The device class is i8259_class in hw/device-classes.h ("i8259"). */

/* The PIC pair behind @dev; NULL when @dev is not an i8259. */
I8259State *i8259_from_device(Device *dev);

/*
 * Sets the level of ISA IRQ @irq (0-15) as the board's routing sees it.
 * IRQ 2 is the internal cascade input: on the AT bus the IRQ2 pin is wired
 * to IRQ 9, so the board must route it there; calls for 2 (and for out of
 * range numbers) are ignored.
 */
void i8259_set_irq(I8259State *s, int irq, int level);

/* The same as an IrqHandler: @opaque is the I8259State, @n the IRQ. */
void i8259_gsi_handler(void *opaque, int n, int level);

/* The level of the master's INTR output. */
bool i8259_has_interrupt(I8259State *s);

/*
 * The INTA cycle: returns the vector the CPU takes and moves the request
 * from IRR to ISR (unless auto-EOI), through the slave for IRQs 8-15. When
 * the request has gone away since INTR was raised, returns the spurious
 * vector (the master's IR7, or the slave's IR7 when the cascade request
 * was latched).
 */
int i8259_acknowledge(I8259State *s);

/*
 * Connects INTR to @line. The line is called whenever INTR changes, and
 * once now with the current level.
 */
void i8259_connect_int_out(I8259State *s, IrqLine line);

#endif
