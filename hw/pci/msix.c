/*
 * MSI-X (PCI Local Bus 3.0, 6.8.2): a table of message address/data
 * entries, each with a mask bit, and a pending bit array, both in a
 * memory BAR of their own; the capability in config space says where and
 * holds the enable and function mask bits. A vector sent while masked sets
 * its pending bit and goes out when it is unmasked.
 */
#include <string.h>
#include "lemu/hw/pci/pci.h"
#include "lemu/system/machine.h"
#include "lemu/util/log.h"

/* Capability layout. */
#define PCI_MSIX_FLAGS              2       /* message control, 16 bits */
#define PCI_MSIX_FLAGS_QSIZE        0x07ff  /* table size - 1 */
#define PCI_MSIX_FLAGS_MASKALL      0x4000
#define PCI_MSIX_FLAGS_ENABLE       0x8000
#define PCI_MSIX_TABLE              4       /* offset | BIR */
#define PCI_MSIX_PBA                8       /* offset | BIR */
#define PCI_MSIX_CAP_SIZE           12

/* Table entries. */
#define PCI_MSIX_ENTRY_SIZE         16
#define PCI_MSIX_ENTRY_LOWER_ADDR   0
#define PCI_MSIX_ENTRY_UPPER_ADDR   4
#define PCI_MSIX_ENTRY_DATA         8
#define PCI_MSIX_ENTRY_VECTOR_CTRL  12
#define PCI_MSIX_ENTRY_CTRL_MASKBIT 0x1

#define PCI_MSIX_MAX_VECTORS        2048
#define MSIX_PAGE_SIZE              0x1000
#define MSIX_PBA_ALIGN              0x800

struct MsixState {
    PciDevice *dev;
    unsigned nvectors;
    int bar;
    uint8_t cap;                /* capability offset in config space */
    uint32_t table_offset;      /* in the BAR */
    uint32_t pba_offset;
    uint64_t bar_size;
    uint8_t *table;             /* nvectors * 16 bytes, little endian */
    uint8_t *pba;               /* nvectors bits */
    bool was_unmasked;          /* enable && !mask at the last check */
};

static uint16_t msix_control(MsixState *s)
{
    return pci_get_word(s->dev->config + s->cap + PCI_MSIX_FLAGS);
}

static bool msix_function_unmasked(MsixState *s)
{
    uint16_t ctrl = msix_control(s);

    return (ctrl & PCI_MSIX_FLAGS_ENABLE) && !(ctrl & PCI_MSIX_FLAGS_MASKALL);
}

static bool msix_vector_masked(MsixState *s, unsigned vector)
{
    return !msix_function_unmasked(s) ||
           (pci_get_long(s->table + vector * PCI_MSIX_ENTRY_SIZE +
                         PCI_MSIX_ENTRY_VECTOR_CTRL) &
            PCI_MSIX_ENTRY_CTRL_MASKBIT);
}

static bool msix_pending(MsixState *s, unsigned vector)
{
    return s->pba[vector / 8] & (1u << (vector % 8));
}

static void msix_set_pending(MsixState *s, unsigned vector, bool pending)
{
    if (pending) {
        s->pba[vector / 8] |= 1u << (vector % 8);
    } else {
        s->pba[vector / 8] &= ~(1u << (vector % 8));
    }
}

static void msix_send(MsixState *s, unsigned vector)
{
    const uint8_t *e = s->table + vector * PCI_MSIX_ENTRY_SIZE;
    uint64_t addr = pci_get_long(e + PCI_MSIX_ENTRY_LOWER_ADDR) |
                    (uint64_t)pci_get_long(e + PCI_MSIX_ENTRY_UPPER_ADDR) << 32;
    uint32_t data = pci_get_long(e + PCI_MSIX_ENTRY_DATA);
    Machine *m = s->dev->bus ? s->dev->bus->machine : NULL;

    /* An MSI is a memory write: bus mastering must be on. */
    if (!(pci_get_word(s->dev->config + PCI_COMMAND) & PCI_COMMAND_MASTER)) {
        lemu_log_mask(LOG_GUEST_ERROR, "PCI %s: MSI-X vector %u dropped: bus "
                      "mastering is off\n", s->dev->name, vector);
        return;
    }
    if (m) {
        machine_send_msi(m, addr, data);
    }
}

/* Sends the pending vectors that are no longer masked. */
static void msix_deliver_pending(MsixState *s)
{
    for (unsigned v = 0; v < s->nvectors; v++) {
        if (msix_pending(s, v) && !msix_vector_masked(s, v)) {
            msix_set_pending(s, v, false);
            msix_send(s, v);
        }
    }
}

/* ---- The table and PBA BAR ---------------------------------------------- */

static uint64_t msix_bar_read(void *opaque, uint64_t offset, unsigned size)
{
    MsixState *s = opaque;
    uint64_t table_len = (uint64_t)s->nvectors * PCI_MSIX_ENTRY_SIZE;
    uint64_t pba_len = (s->nvectors + 7) / 8;

    if (offset >= s->table_offset && offset - s->table_offset < table_len) {
        return pci_get_long(s->table + (offset - s->table_offset));
    }
    if (offset >= s->pba_offset && offset - s->pba_offset < pba_len) {
        uint32_t v = 0;

        /* The last dword of the PBA may run past the bytes in use. */
        for (unsigned i = 0; i < 4; i++) {
            uint64_t b = offset - s->pba_offset + i;
            if (b < pba_len) {
                v |= (uint32_t)s->pba[b] << (8 * i);
            }
        }
        return v;
    }
    return 0;
}

static void msix_bar_write(void *opaque, uint64_t offset, uint64_t value,
                           unsigned size)
{
    MsixState *s = opaque;
    uint64_t table_len = (uint64_t)s->nvectors * PCI_MSIX_ENTRY_SIZE;
    unsigned vector;

    if (offset < s->table_offset || offset - s->table_offset >= table_len) {
        /* The PBA is read-only; the rest of the BAR is reserved. */
        lemu_log_mask(LOG_GUEST_ERROR, "PCI %s: MSI-X write to read-only "
                      "offset 0x%" G_GINT64_MODIFIER "x ignored\n",
                      s->dev->name, offset);
        return;
    }
    offset -= s->table_offset;
    vector = (unsigned)(offset / PCI_MSIX_ENTRY_SIZE);
    if (offset % PCI_MSIX_ENTRY_SIZE == PCI_MSIX_ENTRY_VECTOR_CTRL) {
        /* Only the mask bit is writable in vector control. */
        value &= PCI_MSIX_ENTRY_CTRL_MASKBIT;
    }
    pci_set_long(s->table + offset, (uint32_t)value);
    if (!msix_vector_masked(s, vector) && msix_pending(s, vector)) {
        msix_set_pending(s, vector, false);
        msix_send(s, vector);
    }
}

static const IoOps msix_bar_ops = {
    .read = msix_bar_read,
    .write = msix_bar_write,
    .impl_min = 4,
    .impl_max = 4,
};

/* ---- API --------------------------------------------------------------- */

bool msix_init_exclusive_bar(PciDevice *d, unsigned nvectors, int bar,
                             GError **errp)
{
    MsixState *s;
    uint32_t table_len, pba_len, pba_offset;
    uint64_t bar_size;
    uint8_t cap;

    if (nvectors == 0 || nvectors > PCI_MSIX_MAX_VECTORS) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "PCI %s: %u MSI-X vectors, expected 1-%u", d->name,
                    nvectors, PCI_MSIX_MAX_VECTORS);
        return false;
    }
    if (bar < 0 || bar >= PCI_NUM_BARS || d->bars[bar].size || d->msix) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "PCI %s: BAR %d is not free for the MSI-X table",
                    d->name, bar);
        return false;
    }
    table_len = nvectors * PCI_MSIX_ENTRY_SIZE;
    pba_len = (nvectors + 63) / 64 * 8;     /* whole qwords */
    /* Table at 0, PBA after it at a 2 KiB boundary: one page for up to
     * 128 vectors, and nothing else of the device shares the BAR. */
    pba_offset = (table_len + MSIX_PBA_ALIGN - 1) & ~(MSIX_PBA_ALIGN - 1);
    bar_size = MSIX_PAGE_SIZE;
    while (bar_size < (uint64_t)pba_offset + pba_len) {
        bar_size <<= 1;
    }
    cap = pci_add_capability(d, PCI_CAP_ID_MSIX, PCI_MSIX_CAP_SIZE);
    if (!cap) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                    "PCI %s: no room in config space for the MSI-X "
                    "capability", d->name);
        return false;
    }
    s = g_new0(MsixState, 1);
    s->dev = d;
    s->nvectors = nvectors;
    s->bar = bar;
    s->cap = cap;
    s->table_offset = 0;
    s->pba_offset = pba_offset;
    s->bar_size = bar_size;
    s->table = g_malloc0(table_len);
    s->pba = g_malloc0(pba_len);
    d->msix = s;

    pci_set_word(d->config + cap + PCI_MSIX_FLAGS, (uint16_t)(nvectors - 1));
    pci_set_long(d->config + cap + PCI_MSIX_TABLE,
                 s->table_offset | (uint32_t)bar);
    pci_set_long(d->config + cap + PCI_MSIX_PBA,
                 s->pba_offset | (uint32_t)bar);
    pci_set_word(d->wmask + cap + PCI_MSIX_FLAGS,
                 PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
    pci_register_bar(d, bar, 0, bar_size, &msix_bar_ops, s);
    msix_reset(d);
    return true;
}

void msix_uninit(PciDevice *d)
{
    MsixState *s = d->msix;

    if (!s) {
        return;
    }
    memset(&d->bars[s->bar], 0, sizeof(d->bars[s->bar]));
    d->bars[s->bar].addr = PCI_BAR_UNMAPPED;
    g_free(s->table);
    g_free(s->pba);
    g_free(s);
    d->msix = NULL;
}

bool msix_enabled(PciDevice *d)
{
    return d->msix && msix_function_unmasked(d->msix);
}

bool msix_enable_bit_set(PciDevice *d)
{
    return d->msix && (msix_control(d->msix) & PCI_MSIX_FLAGS_ENABLE);
}

void msix_notify(PciDevice *d, unsigned vector)
{
    MsixState *s = d->msix;

    if (!s || vector >= s->nvectors) {
        lemu_log_mask(LOG_GUEST_ERROR, "PCI %s: MSI-X vector %u does not "
                      "exist\n", d->name, vector);
        return;
    }
    if (!(msix_control(s) & PCI_MSIX_FLAGS_ENABLE)) {
        return;     /* MSI-X off: the device uses INTx instead */
    }
    if (msix_vector_masked(s, vector)) {
        msix_set_pending(s, vector, true);
        return;
    }
    msix_send(s, vector);
}

bool msix_is_pending(PciDevice *d, unsigned vector)
{
    return d->msix && vector < d->msix->nvectors &&
           msix_pending(d->msix, vector);
}

void msix_reset(PciDevice *d)
{
    MsixState *s = d->msix;

    if (!s) {
        return;
    }
    pci_set_word(d->config + s->cap + PCI_MSIX_FLAGS,
                 (uint16_t)(s->nvectors - 1));
    memset(s->table, 0, s->nvectors * PCI_MSIX_ENTRY_SIZE);
    for (unsigned v = 0; v < s->nvectors; v++) {
        pci_set_long(s->table + v * PCI_MSIX_ENTRY_SIZE +
                     PCI_MSIX_ENTRY_VECTOR_CTRL, PCI_MSIX_ENTRY_CTRL_MASKBIT);
    }
    memset(s->pba, 0, (s->nvectors + 63) / 64 * 8);
    s->was_unmasked = false;
}

void msix_config_written(PciDevice *d, unsigned addr, unsigned len)
{
    MsixState *s = d->msix;
    bool unmasked;

    if (!s || addr + len <= s->cap + PCI_MSIX_FLAGS + 0u ||
        addr >= s->cap + PCI_MSIX_FLAGS + 2u) {
        return;
    }
    unmasked = msix_function_unmasked(s);
    if (unmasked && !s->was_unmasked) {
        msix_deliver_pending(s);
    }
    s->was_unmasked = unmasked;
}
