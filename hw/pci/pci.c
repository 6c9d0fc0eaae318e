/*
 * The PCI bus: configuration space of each function, the dispatch of
 * configuration cycles from a host bridge to the function they address,
 * base address registers (PCI Local Bus 3.0, 6.2.5), the capability list,
 * INTx and bus-master DMA.
 *
 * The bus owns two regions of the machine's maps, registered once: the
 * 32-bit MMIO window and the I/O port window. An access there goes to the
 * BAR that currently decodes it, so the guest moving a BAR never changes
 * the memory map while vCPUs run.
 */
#include <string.h>
#include "lemu/accel/interp.h"
#include "lemu/hw/pci/pci.h"
#include "lemu/system/machine.h"
#include "lemu/util/log.h"
#include "system/io-dispatch.h"

#define PCI_BAR_IO_MASK         0xfffffffcu
#define PCI_BAR_MEM_MASK        0xfffffff0u
#define PCI_BAR_MIN_MEM_SIZE    0x1000      /* one page, so BARs never share */
#define PCI_BAR_MIN_IO_SIZE     4
#define PCI_CAPABILITY_START    0x40
#define PCI_IO_SPACE_END        0x10000

/* @v rounded up to a multiple of @align, a power of two. */
static inline uint64_t pci_align_up(uint64_t v, uint64_t align)
{
    return (v + align - 1) & ~(align - 1);
}

static void pci_update_mappings(PciDevice *d);
static void pci_update_intx(PciDevice *d);

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
    if (d->bus && d->intx_asserted && d->bus->set_irq &&
        d->config[PCI_INTERRUPT_PIN] >= 1 && d->config[PCI_INTERRUPT_PIN] <= 4) {
        d->bus->set_irq(d->bus, PCI_SLOT(d->devfn),
                        d->config[PCI_INTERRUPT_PIN] - 1, 0);
    }
    d->intx_asserted = false;
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
    if (d->config_read) {
        d->config_read(d, (uint8_t)addr, len);
    }
    for (unsigned i = 0; i < len; i++) {
        val |= (uint32_t)d->config[addr + i] << (i * 8);
    }
    return val;
}

static bool ranges_overlap(unsigned a, unsigned alen, unsigned b,
                           unsigned blen)
{
    return a < b + blen && b < a + alen;
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
    if (ranges_overlap(addr, len, PCI_COMMAND, 2) ||
        ranges_overlap(addr, len, PCI_BASE_ADDRESS_0, 4 * PCI_NUM_BARS)) {
        pci_update_mappings(d);
    }
    if (ranges_overlap(addr, len, PCI_COMMAND, 2)) {
        pci_update_intx(d);
    }
    if (d->msix) {
        msix_config_written(d, addr, len);
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

/* ---- Base address registers ------------------------------------------- */

static unsigned pci_bar_reg(int bar)
{
    return PCI_BASE_ADDRESS_0 + 4 * bar;
}

static bool pci_bar_is_io(const PciBar *b)
{
    return b->type & PCI_BAR_SPACE_IO;
}

static bool pci_bar_is_64(const PciBar *b)
{
    return !pci_bar_is_io(b) && (b->type & PCI_BAR_MEM_TYPE_64);
}

void pci_register_bar(PciDevice *d, int bar, uint8_t type, uint64_t size,
                      const IoOps *ops, void *opaque)
{
    PciBar *b;
    uint64_t mask;
    unsigned reg;

    g_assert(bar >= 0 && bar < PCI_NUM_BARS);
    g_assert(size && !(size & (size - 1)));
    b = &d->bars[bar];
    if (type & PCI_BAR_SPACE_IO) {
        type = PCI_BAR_SPACE_IO;
        size = MAX(size, (uint64_t)PCI_BAR_MIN_IO_SIZE);
        g_assert(size <= 0x100);   /* what PCI allows an I/O BAR */
    } else {
        type &= PCI_BAR_MEM_TYPE_64 | PCI_BAR_MEM_PREFETCH;
        size = MAX(size, (uint64_t)PCI_BAR_MIN_MEM_SIZE);
        g_assert(!(type & PCI_BAR_MEM_TYPE_64) || bar + 1 < PCI_NUM_BARS);
        g_assert((type & PCI_BAR_MEM_TYPE_64) || size <= 0x80000000ULL);
    }
    b->size = size;
    b->type = type;
    b->ops = ops;
    b->opaque = opaque;
    b->addr = PCI_BAR_UNMAPPED;

    reg = pci_bar_reg(bar);
    mask = ~(size - 1);
    pci_set_long(d->config + reg, type);
    pci_set_long(d->wmask + reg, (uint32_t)mask &
                 (pci_bar_is_io(b) ? PCI_BAR_IO_MASK : PCI_BAR_MEM_MASK));
    if (pci_bar_is_64(b)) {
        /* The upper half is a plain register of its own. */
        memset(&d->bars[bar + 1], 0, sizeof(d->bars[bar + 1]));
        d->bars[bar + 1].addr = PCI_BAR_UNMAPPED;
        pci_set_long(d->config + reg + 4, 0);
        pci_set_long(d->wmask + reg + 4, (uint32_t)(mask >> 32));
    }
}

uint64_t pci_bar_address(PciDevice *d, int bar)
{
    uint16_t cmd = pci_get_word(d->config + PCI_COMMAND);
    PciBar *b;
    uint64_t addr;
    unsigned reg;

    if (bar < 0 || bar >= PCI_NUM_BARS) {
        return PCI_BAR_UNMAPPED;
    }
    b = &d->bars[bar];
    reg = pci_bar_reg(bar);
    if (!b->size) {
        return PCI_BAR_UNMAPPED;
    }
    if (pci_bar_is_io(b)) {
        if (!(cmd & PCI_COMMAND_IO)) {
            return PCI_BAR_UNMAPPED;
        }
        addr = pci_get_long(d->config + reg) & PCI_BAR_IO_MASK;
        /* x86 port space ends at 64 KiB: a BAR above it decodes nothing. */
        if (addr == 0 || addr + b->size > PCI_IO_SPACE_END) {
            return PCI_BAR_UNMAPPED;
        }
        return addr;
    }
    if (!(cmd & PCI_COMMAND_MEMORY)) {
        return PCI_BAR_UNMAPPED;
    }
    addr = pci_get_long(d->config + reg) & PCI_BAR_MEM_MASK;
    if (pci_bar_is_64(b)) {
        addr |= (uint64_t)pci_get_long(d->config + reg + 4) << 32;
    }
    /* 0 is where firmware parks a BAR it leaves off; the end must not
     * wrap (the guest sizing a BAR writes all ones). */
    if (addr == 0 || addr + b->size < addr || addr + b->size == 0) {
        return PCI_BAR_UNMAPPED;
    }
    return addr;
}

static void pci_update_mappings(PciDevice *d)
{
    for (int i = 0; i < PCI_NUM_BARS; i++) {
        d->bars[i].addr = pci_bar_address(d, i);
    }
}

/* The BAR of a device on @bus decoding [addr, addr + 1) of the space. */
static PciBar *pci_bus_find_bar(PciBus *bus, bool io, uint64_t addr)
{
    for (int devfn = 0; devfn < PCI_DEVFN_MAX; devfn++) {
        PciDevice *d = bus->devices[devfn];

        if (!d) {
            continue;
        }
        for (int i = 0; i < PCI_NUM_BARS; i++) {
            PciBar *b = &d->bars[i];

            if (b->size && b->addr != PCI_BAR_UNMAPPED &&
                pci_bar_is_io(b) == io && addr >= b->addr &&
                addr - b->addr < b->size) {
                return b;
            }
        }
    }
    return NULL;
}

static uint64_t pci_window_read(PciBus *bus, bool io, uint64_t addr,
                                unsigned size)
{
    PciBar *b = pci_bus_find_bar(bus, io, addr);

    if (!b || !b->ops) {
        return io_size_mask(size);     /* master abort */
    }
    return io_dispatch_read(b->ops, b->opaque, b->size, addr - b->addr,
                            size);
}

static void pci_window_write(PciBus *bus, bool io, uint64_t addr,
                             uint64_t value, unsigned size)
{
    PciBar *b = pci_bus_find_bar(bus, io, addr);

    if (b && b->ops) {
        io_dispatch_write(b->ops, b->opaque, b->size, addr - b->addr, size,
                          value);
    }
}

static uint64_t pci_mmio_window_read(void *opaque, uint64_t offset,
                                     unsigned size)
{
    return pci_window_read(opaque, false, PCI_MMIO_WINDOW_BASE + offset,
                           size);
}

static void pci_mmio_window_write(void *opaque, uint64_t offset,
                                  uint64_t value, unsigned size)
{
    pci_window_write(opaque, false, PCI_MMIO_WINDOW_BASE + offset, value,
                     size);
}

static uint64_t pci_io_window_read(void *opaque, uint64_t offset,
                                   unsigned size)
{
    return pci_window_read(opaque, true, PCI_IO_WINDOW_BASE + offset, size);
}

static void pci_io_window_write(void *opaque, uint64_t offset,
                                uint64_t value, unsigned size)
{
    pci_window_write(opaque, true, PCI_IO_WINDOW_BASE + offset, value, size);
}

/* The BARs split accesses to their own sizes; the windows pass the
 * guest's access on whole. */
static const IoOps pci_mmio_window_ops = {
    .read = pci_mmio_window_read,
    .write = pci_mmio_window_write,
    .impl_min = 1,
    .impl_max = 8,
};

static const IoOps pci_io_window_ops = {
    .read = pci_io_window_read,
    .write = pci_io_window_write,
    .impl_min = 1,
    .impl_max = 4,
};

bool pci_bus_map_windows(PciBus *bus, Machine *m, GError **errp)
{
    bus->machine = m;
    bus->mmio_window = memory_map_add_mmio(m->mem, "pci-mmio-window",
                                           PCI_MMIO_WINDOW_BASE,
                                           PCI_MMIO_WINDOW_END -
                                           PCI_MMIO_WINDOW_BASE,
                                           &pci_mmio_window_ops, bus, errp);
    if (!bus->mmio_window) {
        return false;
    }
    if (!ioport_register(m->io, "pci-io-window", PCI_IO_WINDOW_BASE,
                         PCI_IO_WINDOW_END - PCI_IO_WINDOW_BASE,
                         &pci_io_window_ops, bus, errp)) {
        pci_bus_unmap_windows(bus);
        return false;
    }
    bus->io_window_mapped = true;
    return true;
}

void pci_bus_unmap_windows(PciBus *bus)
{
    if (!bus->machine) {
        return;
    }
    if (bus->io_window_mapped) {
        ioport_unregister(bus->machine->io, PCI_IO_WINDOW_BASE);
        bus->io_window_mapped = false;
    }
    if (bus->mmio_window) {
        memory_map_remove(bus->machine->mem, bus->mmio_window);
        bus->mmio_window = NULL;
    }
}

/* ---- Firmware-style BAR assignment -------------------------------------- */

typedef struct PciBarRef {
    PciDevice *d;
    int bar;
} PciBarRef;

static gint pci_bar_ref_by_size(gconstpointer a, gconstpointer b)
{
    const PciBarRef *x = a, *y = b;
    uint64_t sx = x->d->bars[x->bar].size, sy = y->d->bars[y->bar].size;

    if (sx != sy) {
        return sx > sy ? -1 : 1;
    }
    /* Ties in bus order, so the layout does not depend on the sort. */
    if (x->d->devfn != y->d->devfn) {
        return x->d->devfn < y->d->devfn ? -1 : 1;
    }
    return x->bar < y->bar ? -1 : x->bar > y->bar;
}

static void pci_write_bar_address(PciDevice *d, int bar, uint64_t addr)
{
    unsigned reg = pci_bar_reg(bar);
    PciBar *b = &d->bars[bar];

    pci_set_long(d->config + reg, ((uint32_t)addr &
                 (pci_bar_is_io(b) ? PCI_BAR_IO_MASK : PCI_BAR_MEM_MASK)) |
                 b->type);
    if (pci_bar_is_64(b)) {
        pci_set_long(d->config + reg + 4, (uint32_t)(addr >> 32));
    }
}

void pci_bus_assign_bars(PciBus *bus)
{
    GArray *refs = g_array_new(FALSE, FALSE, sizeof(PciBarRef));
    uint64_t mem_next = PCI_MMIO_WINDOW_BASE;
    uint64_t io_next = PCI_IO_WINDOW_BASE;

    for (int devfn = 0; devfn < PCI_DEVFN_MAX; devfn++) {
        PciDevice *d = bus->devices[devfn];

        for (int i = 0; d && i < PCI_NUM_BARS; i++) {
            if (d->bars[i].size) {
                PciBarRef r = { .d = d, .bar = i };
                g_array_append_val(refs, r);
            }
        }
    }
    /* Largest first, each naturally aligned: no space lost to padding
     * between power-of-two sizes. */
    g_array_sort(refs, pci_bar_ref_by_size);
    for (guint i = 0; i < refs->len; i++) {
        PciBarRef *r = &g_array_index(refs, PciBarRef, i);
        PciBar *b = &r->d->bars[r->bar];
        uint64_t *next = pci_bar_is_io(b) ? &io_next : &mem_next;
        uint64_t end = pci_bar_is_io(b) ? PCI_IO_WINDOW_END
                                        : PCI_MMIO_WINDOW_END;
        uint64_t addr = pci_align_up(*next, b->size);

        if (addr > end || b->size > end - addr) {
            warn_report("PCI %s: no room for its %" G_GUINT64_FORMAT
                        "-byte BAR %d in the %s window, left unassigned",
                        r->d->name, b->size, r->bar,
                        pci_bar_is_io(b) ? "I/O" : "MMIO");
            pci_write_bar_address(r->d, r->bar, 0);
            continue;
        }
        pci_write_bar_address(r->d, r->bar, addr);
        *next = addr + b->size;
    }
    g_array_free(refs, TRUE);

    for (int devfn = 0; devfn < PCI_DEVFN_MAX; devfn++) {
        PciDevice *d = bus->devices[devfn];
        uint16_t cmd;
        uint8_t pin;
        bool has_bar = false;

        if (!d) {
            continue;
        }
        for (int i = 0; i < PCI_NUM_BARS; i++) {
            has_bar |= d->bars[i].size != 0;
        }
        pin = d->config[PCI_INTERRUPT_PIN];
        if (pin >= 1 && pin <= 4) {
            d->config[PCI_INTERRUPT_LINE] =
                (uint8_t)pci_intx_gsi(PCI_SLOT(d->devfn), pin - 1);
        }
        if (has_bar) {
            cmd = pci_get_word(d->config + PCI_COMMAND);
            cmd |= (PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER) &
                   pci_get_word(d->wmask + PCI_COMMAND);
            pci_set_word(d->config + PCI_COMMAND, cmd);
        }
        pci_update_mappings(d);
        pci_update_intx(d);
    }
}

/* ---- Capabilities ------------------------------------------------------ */

uint8_t pci_add_capability(PciDevice *d, uint8_t cap_id, uint8_t size)
{
    unsigned offset = d->next_cap ? d->next_cap : PCI_CAPABILITY_START;
    uint8_t *link = &d->config[PCI_CAPABILITY_LIST];
    unsigned hops = 0;

    offset = pci_align_up(offset, 4);
    if (size < 2 || offset + size > PCI_CONFIG_SPACE_SIZE) {
        return 0;
    }
    /* Append, so that a walk meets capabilities in the order added. */
    while (*link && *link < PCI_CONFIG_SPACE_SIZE - 1 &&
           hops++ < PCI_CONFIG_SPACE_SIZE / 4) {
        link = &d->config[*link + 1];
    }
    *link = (uint8_t)offset;
    d->config[offset] = cap_id;
    d->config[offset + 1] = 0;
    pci_set_word(d->config + PCI_STATUS,
                 pci_get_word(d->config + PCI_STATUS) | PCI_STATUS_CAP_LIST);
    d->next_cap = (uint8_t)MIN(pci_align_up(offset + size, 4), 0xffu);
    return (uint8_t)offset;
}

/* ---- INTx ------------------------------------------------------------- */

/* Tells the bus the pin's level as the command register lets it out. */
static void pci_update_intx(PciDevice *d)
{
    uint16_t cmd = pci_get_word(d->config + PCI_COMMAND);
    uint8_t pin = d->config[PCI_INTERRUPT_PIN];
    bool assert = d->intx_level && !(cmd & PCI_COMMAND_INTX_DISABLE);

    if (assert == d->intx_asserted) {
        return;
    }
    d->intx_asserted = assert;
    if (d->bus && d->bus->set_irq && pin >= 1 && pin <= 4) {
        d->bus->set_irq(d->bus, PCI_SLOT(d->devfn), pin - 1, assert);
    }
}

void pci_set_irq(PciDevice *d, int level)
{
    uint16_t status = pci_get_word(d->config + PCI_STATUS);

    level = level != 0;
    /* The status bit shows the device's request even while disabled. */
    if (level) {
        status |= PCI_STATUS_INTERRUPT;
    } else {
        status &= ~PCI_STATUS_INTERRUPT;
    }
    pci_set_word(d->config + PCI_STATUS, status);
    d->intx_level = level;
    pci_update_intx(d);
}

void pci_device_reset(PciDevice *d)
{
    pci_set_irq(d, 0);
    pci_set_word(d->config + PCI_COMMAND,
                 pci_get_word(d->config + PCI_COMMAND) &
                 ~pci_get_word(d->wmask + PCI_COMMAND));
    pci_set_word(d->config + PCI_STATUS,
                 pci_get_word(d->config + PCI_STATUS) &
                 ~PCI_STATUS_ERROR_BITS);
    for (int i = 0; i < PCI_NUM_BARS; i++) {
        unsigned reg = pci_bar_reg(i);

        if (d->bars[i].size) {
            pci_write_bar_address(d, i, 0);
        } else {
            /* The upper half of a 64-bit BAR, or nothing. */
            pci_set_long(d->config + reg,
                         pci_get_long(d->config + reg) &
                         ~pci_get_long(d->wmask + reg));
        }
    }
    d->config[PCI_INTERRUPT_LINE] = 0;
    d->config[PCI_CACHE_LINE_SIZE] = 0;
    d->config[PCI_LATENCY_TIMER] = 0;
    pci_update_mappings(d);
    if (d->msix) {
        msix_reset(d);
    }
}

/* ---- Bus-master DMA ---------------------------------------------------- */

static Machine *pci_dma_machine(PciDevice *d, const char *what, uint64_t addr,
                                uint64_t len)
{
    if (!d->bus || !d->bus->machine) {
        return NULL;
    }
    if (!(pci_get_word(d->config + PCI_COMMAND) & PCI_COMMAND_MASTER)) {
        lemu_log_mask(LOG_GUEST_ERROR, "PCI %s: DMA %s of %" G_GUINT64_FORMAT
                      " bytes at 0x%" G_GINT64_MODIFIER "x refused: bus "
                      "mastering is off\n", d->name, what, len, addr);
        return NULL;
    }
    return d->bus->machine;
}

/* Host memory for the RAM at @addr, and how many bytes of it follow. */
static uint8_t *pci_dma_chunk(Machine *m, uint64_t addr, uint64_t len,
                              uint64_t *chunk)
{
    const MemoryRegion *mr = memory_map_lookup(m->mem, addr);

    if (!mr || mr->kind != MEM_RAM || !mr->host) {
        return NULL;
    }
    *chunk = MIN(len, mr->size - (addr - mr->base));
    return mr->host + (addr - mr->base);
}

static bool pci_dma_range_ok(PciDevice *d, Machine *m, const char *what,
                             uint64_t addr, uint64_t len)
{
    uint64_t pos = addr, left = len, chunk;

    if (len && addr + len - 1 < addr) {
        goto bad;
    }
    while (left) {
        if (!pci_dma_chunk(m, pos, left, &chunk)) {
            goto bad;
        }
        pos += chunk;
        left -= chunk;
    }
    return true;

bad:
    lemu_log_mask(LOG_GUEST_ERROR, "PCI %s: DMA %s of %" G_GUINT64_FORMAT
                  " bytes at 0x%" G_GINT64_MODIFIER "x refused: not all "
                  "guest RAM\n", d->name, what, len, addr);
    return false;
}

bool pci_dma_read(PciDevice *d, uint64_t addr, void *buf, uint64_t len)
{
    Machine *m = pci_dma_machine(d, "read", addr, len);
    uint8_t *out = buf;
    uint64_t chunk;

    if (!m || !pci_dma_range_ok(d, m, "read", addr, len)) {
        return false;
    }
    while (len) {
        uint8_t *host = pci_dma_chunk(m, addr, len, &chunk);

        memcpy(out, host, chunk);
        out += chunk;
        addr += chunk;
        len -= chunk;
    }
    return true;
}

bool pci_dma_write(PciDevice *d, uint64_t addr, const void *buf,
                   uint64_t len)
{
    Machine *m = pci_dma_machine(d, "write", addr, len);
    const uint8_t *in = buf;
    uint64_t chunk;

    if (!m || !pci_dma_range_ok(d, m, "write", addr, len)) {
        return false;
    }
    for (uint64_t pos = addr, left = len; left; pos += chunk, left -= chunk) {
        uint8_t *host = pci_dma_chunk(m, pos, left, &chunk);

        memcpy(host, in, chunk);
        in += chunk;
    }
    /* After the copy, so translated code cannot outlive the new bytes. */
    if (m->accel == &interp_accel_ops && m->accel_state) {
        interp_notify_ram_written(m->accel_state, addr, len);
    }
    return true;
}
