/*
 * The PCI bus: configuration space of each function and the dispatch of
 * configuration cycles from a host bridge to the function they address.
 */
#include <string.h>
#include "lemu/hw/pci/pci.h"
#include "lemu/util/log.h"

void pci_config_init(PciDevice *d, const char *name, uint16_t vendor_id,
                     uint16_t device_id, uint8_t revision,
                     uint32_t class_code, uint8_t header_type)
{
    memset(d, 0, sizeof(*d));
    d->name = name;
    pci_set_word(d->config + PCI_VENDOR_ID, vendor_id);
    pci_set_word(d->config + PCI_DEVICE_ID, device_id);
    d->config[PCI_REVISION_ID] = revision;
    d->config[PCI_CLASS_PROG] = class_code & 0xff;
    pci_set_word(d->config + PCI_CLASS_DEVICE, (class_code >> 8) & 0xffff);
    d->config[PCI_HEADER_TYPE] = header_type;

    pci_set_word(d->wmask + PCI_COMMAND,
                 PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
                 PCI_COMMAND_PARITY | PCI_COMMAND_SERR |
                 PCI_COMMAND_INTX_DISABLE);
    d->wmask[PCI_CACHE_LINE_SIZE] = 0xff;
    d->wmask[PCI_LATENCY_TIMER] = 0xff;
    d->wmask[PCI_INTERRUPT_LINE] = 0xff;
    pci_set_word(d->w1cmask + PCI_STATUS, PCI_STATUS_ERROR_BITS);
}

PciDevice *pci_bus_find(PciBus *bus, uint8_t devfn)
{
    return bus->devices[devfn];
}

bool pci_bus_attach(PciBus *bus, PciDevice *d, int devfn, GError **errp)
{
    if (devfn < 0) {
        for (int slot = 0; slot < PCI_SLOT_MAX; slot++) {
            if (!bus->devices[PCI_DEVFN(slot, 0)]) {
                devfn = PCI_DEVFN(slot, 0);
                break;
            }
        }
        if (devfn < 0) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "PCI device %s: no free slot on the bus (all %d "
                        "taken)", d->name, PCI_SLOT_MAX);
            return false;
        }
    }
    if (devfn >= PCI_DEVFN_MAX) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "PCI device %s: devfn 0x%x out of range, expected "
                    "slot 0-31 and function 0-7", d->name, devfn);
        return false;
    }
    if (bus->devices[devfn]) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "PCI device %s: slot %02x.%x is already taken by %s",
                    d->name, PCI_SLOT(devfn), PCI_FUNC(devfn),
                    bus->devices[devfn]->name);
        return false;
    }
    bus->devices[devfn] = d;
    d->bus = bus;
    d->devfn = (uint8_t)devfn;
    return true;
}

void pci_bus_detach(PciDevice *d)
{
    if (d->bus && d->bus->devices[d->devfn] == d) {
        d->bus->devices[d->devfn] = NULL;
    }
    d->bus = NULL;
}

static bool pci_access_ok(unsigned addr, unsigned len)
{
    return (len == 1 || len == 2 || len == 4) &&
           addr < PCI_CONFIG_SPACE_SIZE &&
           len <= PCI_CONFIG_SPACE_SIZE - addr;
}

uint32_t pci_config_read(PciDevice *d, unsigned addr, unsigned len)
{
    uint32_t val = 0;

    if (!pci_access_ok(addr, len)) {
        return pci_all_ones(len);
    }
    for (unsigned i = 0; i < len; i++) {
        val |= (uint32_t)d->config[addr + i] << (i * 8);
    }
    return val;
}

void pci_config_write(PciDevice *d, unsigned addr, uint32_t val,
                      unsigned len)
{
    if (!pci_access_ok(addr, len)) {
        return;
    }
    for (unsigned i = 0; i < len; i++) {
        uint8_t b = (val >> (i * 8)) & 0xff;
        uint8_t *c = &d->config[addr + i];

        *c = (*c & ~d->wmask[addr + i]) | (b & d->wmask[addr + i]);
        *c &= ~(b & d->w1cmask[addr + i]);
    }
    if (d->config_written) {
        d->config_written(d, (uint8_t)addr, val, len);
    }
}

uint32_t pci_bus_config_read(PciBus *bus, uint8_t devfn, unsigned addr,
                             unsigned len)
{
    PciDevice *d = bus->devices[devfn];

    return d ? pci_config_read(d, addr, len) : pci_all_ones(len);
}

void pci_bus_config_write(PciBus *bus, uint8_t devfn, unsigned addr,
                          uint32_t val, unsigned len)
{
    PciDevice *d = bus->devices[devfn];

    if (d) {
        pci_config_write(d, addr, val, len);
    }
}
