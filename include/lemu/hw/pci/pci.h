/*
 * A minimal PCI bus: devices with a 256-byte configuration space, on one
 * bus of 32 slots x 8 functions, reached by a host bridge's configuration
 * mechanism. A PCI device model embeds a PciDevice in its state, fills its
 * header with pci_config_init(), marks which bits the guest may change in
 * wmask (and w1cmask), and attaches it to the bus. Guest accesses then go
 * through pci_bus_config_read/write, which mask read-only bits, so models
 * only hear about writes through config_written.
 */
#ifndef LEMU_HW_PCI_PCI_H
#define LEMU_HW_PCI_PCI_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

#define PCI_CONFIG_SPACE_SIZE   256
#define PCI_SLOT_MAX            32
#define PCI_FUNC_MAX            8
#define PCI_DEVFN_MAX           (PCI_SLOT_MAX * PCI_FUNC_MAX)
#define PCI_DEVFN(slot, func)   ((((slot) & 0x1f) << 3) | ((func) & 0x07))
#define PCI_SLOT(devfn)         (((devfn) >> 3) & 0x1f)
#define PCI_FUNC(devfn)         ((devfn) & 0x07)

/* Type 0 configuration header. */
#define PCI_VENDOR_ID           0x00    /* 16 bits */
#define PCI_DEVICE_ID           0x02    /* 16 bits */
#define PCI_COMMAND             0x04    /* 16 bits */
#define PCI_STATUS              0x06    /* 16 bits */
#define PCI_REVISION_ID         0x08
#define PCI_CLASS_PROG          0x09
#define PCI_CLASS_DEVICE        0x0a    /* 16 bits: class, subclass */
#define PCI_CACHE_LINE_SIZE     0x0c
#define PCI_LATENCY_TIMER       0x0d
#define PCI_HEADER_TYPE         0x0e
#define PCI_BIST                0x0f
#define PCI_BASE_ADDRESS_0      0x10    /* 32 bits each, 6 of them */
#define PCI_SUBSYSTEM_VENDOR_ID 0x2c
#define PCI_SUBSYSTEM_ID        0x2e
#define PCI_CAPABILITY_LIST     0x34
#define PCI_INTERRUPT_LINE      0x3c
#define PCI_INTERRUPT_PIN       0x3d

#define PCI_COMMAND_IO          0x0001
#define PCI_COMMAND_MEMORY      0x0002
#define PCI_COMMAND_MASTER      0x0004
#define PCI_COMMAND_PARITY      0x0040
#define PCI_COMMAND_SERR        0x0100
#define PCI_COMMAND_INTX_DISABLE 0x0400

#define PCI_STATUS_INTERRUPT    0x0008
#define PCI_STATUS_CAP_LIST     0x0010
#define PCI_STATUS_FAST_BACK    0x0080
#define PCI_STATUS_DEVSEL_MEDIUM 0x0200
/* Error bits, cleared by writing 1. */
#define PCI_STATUS_ERROR_BITS   0xf900

#define PCI_HEADER_TYPE_NORMAL  0x00
#define PCI_HEADER_TYPE_MULTI_FUNCTION 0x80

#define PCI_VENDOR_ID_INTEL     0x8086
#define PCI_CLASS_BRIDGE_HOST   0x060000    /* class, subclass, prog-if */

typedef struct PciBus PciBus;
typedef struct PciDevice PciDevice;

struct PciDevice {
    const char *name;
    uint8_t config[PCI_CONFIG_SPACE_SIZE];
    uint8_t wmask[PCI_CONFIG_SPACE_SIZE];   /* bits the guest may write */
    uint8_t w1cmask[PCI_CONFIG_SPACE_SIZE]; /* bits a written 1 clears */
    /* Optional: told after a guest write changed config[] (a BAR moved,
     * the command register changed). */
    void (*config_written)(PciDevice *d, uint8_t addr, uint32_t val,
                           unsigned len);
    PciBus *bus;                            /* NULL while detached */
    uint8_t devfn;
};

struct PciBus {
    PciDevice *devices[PCI_DEVFN_MAX];
};

static inline uint16_t pci_get_word(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static inline void pci_set_word(uint8_t *p, uint16_t v)
{
    p[0] = v & 0xff;
    p[1] = v >> 8;
}

static inline uint32_t pci_get_long(const uint8_t *p)
{
    return p[0] | (p[1] << 8) | (p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline void pci_set_long(uint8_t *p, uint32_t v)
{
    pci_set_word(p, v & 0xffff);
    pci_set_word(p + 2, v >> 16);
}

/*
 * Clears @d and fills the identification part of a header; @class_code
 * is class << 16 | subclass << 8 | prog-if. Makes the usual fields
 * writable: command (I/O, memory, bus master, parity, SERR, INTx
 * disable), cache line size, latency timer, interrupt line; and the
 * status error bits write-1-to-clear.
 */
void pci_config_init(PciDevice *d, const char *name, uint16_t vendor_id,
                     uint16_t device_id, uint8_t revision,
                     uint32_t class_code, uint8_t header_type);

/* Plugs @d in at @devfn (or, when @devfn < 0, function 0 of the first free
 * slot); fails naming the device already there. */
bool pci_bus_attach(PciBus *bus, PciDevice *d, int devfn, GError **errp);
void pci_bus_detach(PciDevice *d);
PciDevice *pci_bus_find(PciBus *bus, uint8_t devfn);

/*
 * A configuration access of @len bytes (1, 2 or 4) at @addr, little
 * endian. An absent function, or an access that does not lie within the
 * 256 bytes, reads as all ones and ignores writes.
 */
uint32_t pci_bus_config_read(PciBus *bus, uint8_t devfn, unsigned addr,
                             unsigned len);
void pci_bus_config_write(PciBus *bus, uint8_t devfn, unsigned addr,
                          uint32_t val, unsigned len);
/* The same on one device, honouring wmask and w1cmask on writes. */
/* What a read of @len bytes gives where no function answers. */
static inline uint32_t pci_all_ones(unsigned len)
{
    return len >= 4 ? 0xffffffffu : (1u << (len * 8)) - 1;
}

uint32_t pci_config_read(PciDevice *d, unsigned addr, unsigned len);
void pci_config_write(PciDevice *d, unsigned addr, uint32_t val,
                      unsigned len);

#endif
