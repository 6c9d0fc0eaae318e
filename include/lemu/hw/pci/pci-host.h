/*
 * The PCI host bridge ("i440FX-pcihost"): configuration mechanism #1 at
 * 0xcf8 (CONFIG_ADDRESS) and 0xcfc-0xcff (CONFIG_DATA), the reset control
 * register at 0xcf9, and bus 0 with the host bridge at 00.0.
 */
#ifndef LEMU_HW_PCI_PCI_HOST_H
#define LEMU_HW_PCI_PCI_HOST_H

#include "lemu/hw/pci/pci.h"

typedef struct Machine Machine;

#define PCI_HOST_CONFIG_ADDRESS 0xcf8
#define PCI_HOST_RESET_CONTROL  0xcf9
#define PCI_HOST_CONFIG_DATA    0xcfc

/* 82441FX PCI and memory controller of the i440FX chipset. */
#define PCI_DEVICE_ID_INTEL_82441 0x1237

/* Bus 0 of @m's realized host bridge, for PCI device models to attach to;
 * NULL when the machine has none. */
PciBus *pci_host_bus(Machine *m);

#endif
