/*
 * PCI host bridge with configuration mechanism #1, modelled on the Intel
 * 82441FX (i440FX) PMC: CONFIG_ADDRESS at 0xcf8 (32-bit accesses only, as
 * on PC chipsets), CONFIG_DATA at 0xcfc-0xcff (byte, word and dword at any
 * offset that stays within the dword), and bus 0 with the host bridge
 * itself at 00.0. Also the reset control register at 0xcf9, which on a
 * real board belongs to the PIIX3 south bridge; lemu has no PIIX3 yet, so
 * it lives here. The bus itself is hw/pci/pci.c.
 */
#include <string.h>
#include "lemu/hw/pci/pci-host.h"
#include "lemu/hw/pci/pci.h"
#include "lemu/hw/qdev.h"
#include "lemu/system/machine.h"
#include "lemu/util/log.h"
#include "hw/device-classes.h"

/* CONFIG_ADDRESS. */
#define CONFIG_ADDRESS_ENABLE   0x80000000u
#define CONFIG_ADDRESS_MASK     0x80fffffcu /* reserved bits read as 0 */
#define CONFIG_ADDRESS_BUS(a)   (((a) >> 16) & 0xff)
#define CONFIG_ADDRESS_DEVFN(a) (((a) >> 8) & 0xff)
#define CONFIG_ADDRESS_REG(a)   ((a) & 0xfc)

/* Reset control register (PIIX3 RCR at 0xcf9). */
#define RCR_SRST                0x02    /* system (hard) reset type */
#define RCR_RCPU                0x04    /* reset the CPU */

/* 82441FX registers beyond the standard header. */
#define I440FX_PAM0             0x59    /* PAM0-PAM6: 0x59-0x5f */
#define I440FX_PAM_COUNT        7
#define I440FX_SMRAM            0x72
#define I440FX_SMRAM_WMASK      0x78    /* D_OPEN, D_CLS, D_LCK, G_SMRAME */
#define I440FX_SMRAM_DEFAULT    0x02    /* C_BASE_SEG: 0xa0000 */
#define I440FX_COMMAND_DEFAULT  (PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER)
#define I440FX_COMMAND_WMASK    (PCI_COMMAND_PARITY | PCI_COMMAND_SERR)
#define I440FX_STATUS_DEFAULT   (PCI_STATUS_FAST_BACK | \
                                 PCI_STATUS_DEVSEL_MEDIUM)
#define I440FX_REVISION         0x02

#define PCI_HOST_PORT_COUNT     4

typedef struct I440fxState {
    Device parent;

    uint32_t config_address;
    uint8_t rcr;
    PciDevice host;             /* 00.0, the bridge itself */
    PciBus bus;
    /* How many functions assert each of the shared INTx GSIs 16-19. */
    unsigned intx_count[PCI_INTX_GSI_COUNT];
    bool address_port_registered;
    bool data_port_registered;
} I440fxState;

static const VMStateField i440fx_vmstate[] = {
    VMSTATE(I440fxState, config_address, VMS_U32),
    VMSTATE(I440fxState, rcr, VMS_U8),
    VMSTATE_ARRAY(I440fxState, intx_count, VMS_U32, PCI_INTX_GSI_COUNT),
    VMSTATE_ARRAY(I440fxState, host.config, VMS_U8, PCI_CONFIG_SPACE_SIZE),
    VMSTATE_END
};

static void i440fx_config_written(PciDevice *d, uint8_t addr, uint32_t val,
                                  unsigned len)
{
    if (addr + len > I440FX_PAM0 &&
        addr < I440FX_PAM0 + I440FX_PAM_COUNT) {
        lemu_log_mask(LOG_UNIMP, "i440FX: PAM registers written; BIOS "
                      "area shadowing is not emulated\n");
    }
}

static void i440fx_init_host_config(I440fxState *s)
{
    PciDevice *d = &s->host;

    pci_config_init(d, "i440FX", PCI_VENDOR_ID_INTEL,
                    PCI_DEVICE_ID_INTEL_82441, I440FX_REVISION,
                    PCI_CLASS_BRIDGE_HOST, PCI_HEADER_TYPE_NORMAL);
    pci_set_word(d->config + PCI_COMMAND, I440FX_COMMAND_DEFAULT);
    pci_set_word(d->wmask + PCI_COMMAND, I440FX_COMMAND_WMASK);
    pci_set_word(d->config + PCI_STATUS, I440FX_STATUS_DEFAULT);
    /* A host bridge has no interrupt line and no cache line size. */
    d->wmask[PCI_INTERRUPT_LINE] = 0;
    d->wmask[PCI_CACHE_LINE_SIZE] = 0;
    /* PAM and SMRAM keep what the BIOS writes, without effect yet. */
    memset(d->wmask + I440FX_PAM0, 0xff, I440FX_PAM_COUNT);
    d->config[I440FX_SMRAM] = I440FX_SMRAM_DEFAULT;
    d->wmask[I440FX_SMRAM] = I440FX_SMRAM_WMASK;
    d->config_written = i440fx_config_written;
}

/* The dword CONFIG_ADDRESS and the byte RCR share 0xcf8-0xcfb; other
 * accesses there reach nothing on a PC, so they read all ones. */
static uint64_t i440fx_address_read(void *opaque, uint64_t offset,
                                    unsigned size)
{
    I440fxState *s = opaque;

    if (offset == 0 && size == 4) {
        return s->config_address;
    }
    if (offset == PCI_HOST_RESET_CONTROL - PCI_HOST_CONFIG_ADDRESS &&
        size == 1) {
        return s->rcr;
    }
    return pci_all_ones(size);
}

static void i440fx_address_write(void *opaque, uint64_t offset,
                                 uint64_t value, unsigned size)
{
    I440fxState *s = opaque;

    if (offset == 0 && size == 4) {
        s->config_address = (uint32_t)value & CONFIG_ADDRESS_MASK;
    } else if (offset == PCI_HOST_RESET_CONTROL - PCI_HOST_CONFIG_ADDRESS &&
               size == 1) {
        if (value & RCR_RCPU) {
            machine_request_reset(DEVICE(s)->machine,
                                  SHUTDOWN_CAUSE_GUEST_RESET);
            return;
        }
        s->rcr = value & RCR_SRST;
    }
}

static const IoOps i440fx_address_ops = {
    .read = i440fx_address_read,
    .write = i440fx_address_write,
    .impl_min = 1,
    .impl_max = 4,
};

/* The bus and config offset CONFIG_ADDRESS selects for an access at
 * @offset into CONFIG_DATA; false when it reaches nothing. */
static bool i440fx_data_target(I440fxState *s, uint64_t offset,
                               unsigned size, uint8_t *devfn, unsigned *addr)
{
    uint32_t a = s->config_address;

    if (!(a & CONFIG_ADDRESS_ENABLE) || CONFIG_ADDRESS_BUS(a) != 0) {
        return false;
    }
    if (offset + size > PCI_HOST_PORT_COUNT) {
        lemu_log_mask(LOG_GUEST_ERROR, "i440FX: %u-byte CONFIG_DATA access "
                      "at 0x%x crosses the dword, ignored\n", size,
                      (unsigned)(PCI_HOST_CONFIG_DATA + offset));
        return false;
    }
    *devfn = CONFIG_ADDRESS_DEVFN(a);
    *addr = CONFIG_ADDRESS_REG(a) + (unsigned)offset;
    return true;
}

static uint64_t i440fx_data_read(void *opaque, uint64_t offset,
                                 unsigned size)
{
    I440fxState *s = opaque;
    uint8_t devfn;
    unsigned addr;

    if (!i440fx_data_target(s, offset, size, &devfn, &addr)) {
        return pci_all_ones(size);
    }
    return pci_bus_config_read(&s->bus, devfn, addr, size);
}

static void i440fx_data_write(void *opaque, uint64_t offset, uint64_t value,
                              unsigned size)
{
    I440fxState *s = opaque;
    uint8_t devfn;
    unsigned addr;

    if (i440fx_data_target(s, offset, size, &devfn, &addr)) {
        pci_bus_config_write(&s->bus, devfn, addr, (uint32_t)value, size);
    }
}

static const IoOps i440fx_data_ops = {
    .read = i440fx_data_read,
    .write = i440fx_data_write,
    .impl_min = 1,
    .impl_max = 4,
};

PciBus *pci_host_bus(Machine *m)
{
    for (guint i = 0; m->devices && i < m->devices->len; i++) {
        Device *dev = g_ptr_array_index(m->devices, i);

        if (dev->cls == &i440fx_pcihost_class && dev->realized) {
            return &((I440fxState *)dev)->bus;
        }
    }
    return NULL;
}

/*
 * INTx routing as the DSDT's _PRT describes it: the swizzle puts each
 * slot's INTA-D on GSIs 16-19, shared and level-triggered, so the line is
 * asserted while any function on it asserts its pin.
 */
static void i440fx_pci_set_irq(PciBus *bus, int slot, int pin, int level)
{
    I440fxState *s = bus->irq_opaque;
    int gsi = pci_intx_gsi(slot, pin);
    unsigned *count = &s->intx_count[gsi - PCI_INTX_GSI_BASE];
    IrqLine line;

    if (level) {
        (*count)++;
    } else if (*count) {
        (*count)--;
    }
    if (*count > 1 || (*count == 1 && !level)) {
        return;     /* the line's level did not change */
    }
    line = machine_gsi_line(DEVICE(s)->machine, gsi);
    irq_set_level(&line, *count != 0);
}

static void i440fx_reset(Device *dev)
{
    I440fxState *s = (I440fxState *)dev;

    s->config_address = 0;
    s->rcr = 0;
    i440fx_init_host_config(s);
    /* pci_config_init() cleared the device; it stays on the bus. */
    s->host.bus = &s->bus;
    s->host.devfn = PCI_DEVFN(0, 0);
}

static void i440fx_unrealize(Device *dev)
{
    I440fxState *s = (I440fxState *)dev;

    if (s->data_port_registered) {
        ioport_unregister(dev->machine->io, PCI_HOST_CONFIG_DATA);
        s->data_port_registered = false;
    }
    if (s->address_port_registered) {
        ioport_unregister(dev->machine->io, PCI_HOST_CONFIG_ADDRESS);
        s->address_port_registered = false;
    }
    pci_bus_detach(&s->host);
    pci_bus_unmap_windows(&s->bus);
    if (dev->machine->pci_bus == &s->bus) {
        dev->machine->pci_bus = NULL;
    }
}

static bool i440fx_realize(Device *dev, GError **errp)
{
    I440fxState *s = (I440fxState *)dev;
    Machine *m = dev->machine;
    IoPortMap *io = m->io;

    if (m->pci_bus) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "i440FX-pcihost: the machine has a PCI host bridge "
                    "already, expected one");
        return false;
    }
    i440fx_init_host_config(s);
    s->bus.set_irq = i440fx_pci_set_irq;
    s->bus.irq_opaque = s;
    if (!pci_bus_attach(&s->bus, &s->host, PCI_DEVFN(0, 0), errp)) {
        return false;
    }
    if (!pci_bus_map_windows(&s->bus, m, errp)) {
        goto fail;
    }
    m->pci_bus = &s->bus;
    if (!ioport_register(io, "pci-conf-addr", PCI_HOST_CONFIG_ADDRESS,
                         PCI_HOST_PORT_COUNT, &i440fx_address_ops, s, errp)) {
        goto fail;
    }
    s->address_port_registered = true;
    if (!ioport_register(io, "pci-conf-data", PCI_HOST_CONFIG_DATA,
                         PCI_HOST_PORT_COUNT, &i440fx_data_ops, s, errp)) {
        goto fail;
    }
    s->data_port_registered = true;
    return true;

fail:
    i440fx_unrealize(dev);
    return false;
}

const DeviceClass i440fx_pcihost_class = {
    .name = "i440FX-pcihost",
    .desc = "i440FX PCI host bridge (configuration mechanism #1)",
    .instance_size = sizeof(I440fxState),
    .user_creatable = false,
    .vmstate = i440fx_vmstate,
    .realize = i440fx_realize,
    .reset = i440fx_reset,
    .unrealize = i440fx_unrealize,
};
