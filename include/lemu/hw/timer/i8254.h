/*
 * Intel 8254 programmable interval timer at 0x40-0x43, with the PC's
 * system control port B (0x61) that gates channel 2 and reads its OUT.
 * Channel 0 drives ISA IRQ 0. Counts are derived from CLOCK_VIRTUAL at
 * 1.193182 MHz, so the timer stops while the VM is paused.
 *
 * Under KVM the in-kernel PIT is used instead; this model serves the
 * interpreter. Every function here must be called with the machine lock
 * held.
 */
#ifndef LEMU_HW_TIMER_I8254_H
#define LEMU_HW_TIMER_I8254_H

#include <stdbool.h>
#include "lemu/hw/qdev.h"

#define I8254_FREQ_HZ       1193182
#define I8254_NR_CHANNELS   3

typedef struct I8254State I8254State;

/* The device class is i8254_class in hw/device-classes.h ("i8254"). */

/* The PIT behind @dev; NULL when @dev is not an i8254. */
I8254State *i8254_from_device(Device *dev);

/* The OUT level of @channel (0-2) now; false for a bad channel. */
bool i8254_get_out(I8254State *s, int channel);

/* Drives the GATE input of @channel (0-2). On the PC, channels 0 and 1
 * are gated on and channel 2 follows bit 0 of port 0x61. */
void i8254_set_gate(I8254State *s, int channel, bool level);

#endif
