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

#define PCI_CAP_ID_MSIX         0x11
#define PCI_CAP_ID_VNDR         0x09

#define PCI_NUM_BARS            6
#define PCI_BAR_SPACE_IO        0x01    /* low bits of a BAR register */
#define PCI_BAR_MEM_TYPE_64     0x04
#define PCI_BAR_MEM_PREFETCH    0x08
#define PCI_BAR_UNMAPPED        UINT64_MAX

/* Where lemu puts BARs (pci_bus_assign_bars) and which guest addresses
 * the bus decodes: the 32-bit MMIO hole below the IOAPIC, and the I/O
 * ports above the legacy devices. */
#define PCI_MMIO_WINDOW_BASE    0xc0000000ULL
#define PCI_MMIO_WINDOW_END     0xfec00000ULL   /* exclusive */
#define PCI_IO_WINDOW_BASE      0xc000
#define PCI_IO_WINDOW_END       0x10000         /* exclusive */

typedef struct PciBus PciBus;
typedef struct PciDevice PciDevice;
typedef struct IoOps IoOps;
typedef struct Machine Machine;
typedef struct MsixState MsixState;

/* One base address register as the device declared it. */
typedef struct PciBar {
    uint64_t size;             /* power of two; 0: BAR not implemented */
    uint8_t type;              /* PCI_BAR_SPACE_IO, or memory flags */
    const IoOps *ops;
    void *opaque;
    uint64_t addr;             /* decoded address, PCI_BAR_UNMAPPED when
                                  the BAR or its decoding is off */
} PciBar;

struct PciDevice {
    const char *name;
    uint8_t config[PCI_CONFIG_SPACE_SIZE];
    uint8_t wmask[PCI_CONFIG_SPACE_SIZE];   /* bits the guest may write */
    uint8_t w1cmask[PCI_CONFIG_SPACE_SIZE]; /* bits a written 1 clears */
    /* Optional: told after a guest write changed config[] (a BAR moved,
     * the command register changed). */
    void (*config_written)(PciDevice *d, uint8_t addr, uint32_t val,
                           unsigned len);
    /* Optional: told before a guest read of config [addr, addr + len),
     * so the device can refresh config[] there (a window register). */
    void (*config_read)(PciDevice *d, uint8_t addr, unsigned len);
    PciBus *bus;                            /* NULL while detached */
    uint8_t devfn;

    PciBar bars[PCI_NUM_BARS];
    uint8_t next_cap;          /* where pci_add_capability puts the next */
    int intx_level;            /* INTx as the device drives it */
    MsixState *msix;           /* NULL without MSI-X */
    bool intx_asserted;        /* what the bus line was last told */
};

struct PciBus {
    PciDevice *devices[PCI_DEVFN_MAX];
    Machine *machine;          /* for DMA and MSI; NULL in bare tests */
    /* Routes INTx pin (0 = INTA) of slot @slot; set by the board (the
     * swizzle to GSIs the DSDT's _PRT describes). */
    void (*set_irq)(PciBus *bus, int slot, int pin, int level);
    void *irq_opaque;
    /* The windows pci_bus_map_windows registered (NULL/false: none). */
    struct MemoryRegion *mmio_window;
    bool io_window_mapped;
};

/*
 * The pc board's INTx routing, which the DSDT's _PRT describes: pin @pin
 * (0 = INTA) of slot @slot is GSI 16 + (slot + pin) % 4, level-triggered,
 * active high, shared.
 */
#define PCI_INTX_GSI_BASE       16
#define PCI_INTX_GSI_COUNT      4

static inline int pci_intx_gsi(int slot, int pin)
{
    return PCI_INTX_GSI_BASE + (slot + pin) % PCI_INTX_GSI_COUNT;
}

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

/*
 * Declares BAR @bar: @size a power of two (I/O >= 4, memory >= 16 bytes;
 * lemu rounds memory BARs up to 4 KiB), @type PCI_BAR_SPACE_IO or memory
 * flags (a 64-bit BAR also takes the next BAR register). Accesses to the
 * BAR's decoded range call @ops with the offset into the BAR, under the
 * machine lock. The guest moves the BAR by writing the register; the BAR
 * decodes only while the command register enables its space.
 */
void pci_register_bar(PciDevice *d, int bar, uint8_t type, uint64_t size,
                      const IoOps *ops, void *opaque);
/* Adds a capability of @size bytes (ID and next pointer included) to the
 * list and returns its offset in config space; 0 when it does not fit. */
uint8_t pci_add_capability(PciDevice *d, uint8_t cap_id, uint8_t size);
/* Gives every BAR of every device on @bus an address in the windows,
 * largest first, and enables I/O, memory and bus mastering, as firmware
 * would before a direct kernel boot. Also fills interrupt line. */
void pci_bus_assign_bars(PciBus *bus);
/* Registers the bus's MMIO and I/O windows with @m's maps, so that BAR
 * accesses reach the devices; called by the host bridge. */
bool pci_bus_map_windows(PciBus *bus, Machine *m, GError **errp);
void pci_bus_unmap_windows(PciBus *bus);

/* Power-on state of the generic header: BARs at 0 and not decoded,
 * command 0, INTx deasserted, MSI-X reset. Device models call it from
 * their reset; the board's firmware step (pci_bus_assign_bars) runs
 * after every device reset. */
void pci_device_reset(PciDevice *d);
/* The BAR's decoded guest address, PCI_BAR_UNMAPPED when off. */
uint64_t pci_bar_address(PciDevice *d, int bar);

/* INTx: the device's interrupt pin (config 0x3d) at @level, unless the
 * command register disables INTx; sets the status interrupt bit. */
void pci_set_irq(PciDevice *d, int level);

/*
 * Bus-master DMA into guest memory, range-checked: false (and a guest
 * error logged) when bus mastering is off or any byte is not RAM. Writes
 * tell the interpreter that the RAM changed.
 */
bool pci_dma_read(PciDevice *d, uint64_t addr, void *buf, uint64_t len);
bool pci_dma_write(PciDevice *d, uint64_t addr, const void *buf,
                   uint64_t len);

/* ---- MSI-X (hw/pci/msix.c) ---- */

/* Puts an MSI-X table of @nvectors entries and its PBA in BAR @bar (a new
 * 4 KiB-aligned memory BAR of their own) and adds the capability. */
bool msix_init_exclusive_bar(PciDevice *d, unsigned nvectors, int bar,
                             GError **errp);
void msix_uninit(PciDevice *d);
/* MSI-X enabled by the guest (and not function-masked)? */
bool msix_enabled(PciDevice *d);
/* The MSI-X enable bit alone (vectors may still be function-masked and
 * then go pending): whether the device signals through MSI-X, not INTx. */
bool msix_enable_bit_set(PciDevice *d);
/* Sends vector @vector, or sets its pending bit while it is masked. */
void msix_notify(PciDevice *d, unsigned vector);
void msix_reset(PciDevice *d);
/* Is vector @vector's pending bit set? (false when out of range) */
bool msix_is_pending(PciDevice *d, unsigned vector);
/* pci.c: the guest wrote config [addr, addr + len): MSI-X looks for
 * changes of its message control (enable, function mask). */
void msix_config_written(PciDevice *d, unsigned addr, unsigned len);

#endif
