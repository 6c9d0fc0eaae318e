/* Every DeviceClass lemu has; hw/device-registry.c lists them. */
#ifndef HW_DEVICE_CLASSES_H
#define HW_DEVICE_CLASSES_H

#include "lemu/hw/qdev.h"

extern const DeviceClass serial_isa_class;       /* hw/char/serial.c */
extern const DeviceClass i8259_class;            /* hw/intc/i8259.c */
extern const DeviceClass ioapic_class;           /* hw/intc/ioapic.c */
extern const DeviceClass apic_class;             /* hw/intc/apic.c */
extern const DeviceClass i8254_class;            /* hw/timer/i8254.c */
extern const DeviceClass mc146818_rtc_class;     /* hw/rtc/mc146818rtc.c */
extern const DeviceClass i8042_class;            /* hw/input/i8042.c */
extern const DeviceClass port80_class;           /* hw/misc/port80.c */
extern const DeviceClass isa_debug_exit_class;   /* hw/misc/debugexit.c */
extern const DeviceClass i440fx_pcihost_class;   /* hw/pci/i440fx.c */
extern const DeviceClass generic_loader_class;   /* hw/i386/generic-loader.c */
extern const DeviceClass acpi_pm_class;          /* hw/acpi/piix4-pm.c */
extern const DeviceClass virtio_blk_pci_class;   /* hw/block/virtio-blk.c */

extern const DeviceClass *const device_registry[];
extern const size_t device_registry_len;

#endif
