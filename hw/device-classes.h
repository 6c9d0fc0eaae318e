/* Every DeviceClass lemu has; hw/device-registry.c lists them. */
#ifndef HW_DEVICE_CLASSES_H
#define HW_DEVICE_CLASSES_H

#include "lemu/hw/qdev.h"

/* TODO(integration): weak only while the devices are being written. */
#define DEV_WEAK __attribute__((weak))

extern const DeviceClass serial_isa_class DEV_WEAK;       /* hw/char/serial.c */
extern const DeviceClass i8259_class DEV_WEAK;            /* hw/intc/i8259.c */
extern const DeviceClass i8254_class DEV_WEAK;            /* hw/timer/i8254.c */
extern const DeviceClass mc146818_rtc_class DEV_WEAK;     /* hw/rtc/mc146818rtc.c */
extern const DeviceClass i8042_class DEV_WEAK;            /* hw/input/i8042.c */
extern const DeviceClass port80_class DEV_WEAK;           /* hw/misc/port80.c */
extern const DeviceClass isa_debug_exit_class DEV_WEAK;   /* hw/misc/debugexit.c */
extern const DeviceClass i440fx_pcihost_class DEV_WEAK;   /* hw/pci/i440fx.c */
extern const DeviceClass generic_loader_class DEV_WEAK;   /* hw/i386/generic-loader.c */

/* Entries may be NULL while a class is being written; skip those. */
extern const DeviceClass *const device_registry[];
extern const size_t device_registry_len;

#endif
