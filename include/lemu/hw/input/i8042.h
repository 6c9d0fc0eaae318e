/* The i8042 keyboard controller's interface for keyboard input. */
#ifndef LEMU_HW_INPUT_I8042_H
#define LEMU_HW_INPUT_I8042_H

#include <stdint.h>
#include "lemu/hw/qdev.h"

/*
 * Machine lock held. Queues one byte as sent by the keyboard (a make or
 * break code byte, delivered to the guest as is: no set 2 to set 1
 * translation is done). Dropped while the keyboard has scanning disabled
 * or its 16-byte buffer is full. @dev is an "i8042" device.
 */
void i8042_keyboard_put_scancode(Device *dev, uint8_t code);

#endif
