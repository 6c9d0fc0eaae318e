/*
 * The registry of device classes: every device lemu can create, board-built
 * or from -device, is listed here. A const table, so there is no
 * registration at start-up and no mutable global list.
 */
#include "lemu/hw/qdev.h"
#include "hw/device-classes.h"

const DeviceClass *const device_registry[] = {
    &serial_isa_class,
    &i8259_class,
    &ioapic_class,
    &apic_class,
    &i8254_class,
    &mc146818_rtc_class,
    &i8042_class,
    &port80_class,
    &isa_debug_exit_class,
    &i440fx_pcihost_class,
    &generic_loader_class,
    &acpi_pm_class,
    &virtio_blk_pci_class,
};

const size_t device_registry_len = G_N_ELEMENTS(device_registry);
