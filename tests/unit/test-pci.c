/*
 * PCI bus tests: a fixture machine with the i440FX host bridge and a test
 * function in slot 3, driven as a guest would through 0xcf8/0xcfc, the
 * MMIO and I/O windows: BAR sizing and moving, command-register gating,
 * firmware-style assignment, the capability list, MSI-X table and PBA
 * with pending vectors, INTx swizzle and sharing, bus-master DMA.
 */
#include <string.h>
#include "fixture.h"
#include "lemu/hw/pci/pci-host.h"
#include "lemu/hw/pci/pci.h"
#include "lemu/hw/qdev.h"

#define RAM_SIZE        (1u << 20)
#define TEST_SLOT       3
#define TEST_DEVFN      PCI_DEVFN(TEST_SLOT, 0)
#define MSIX_BAR        5
#define MSIX_VECTORS    4

/* MSI-X capability and table layout, as a driver reads them. */
#define MSIX_FLAGS      2
#define MSIX_TABLE      4
#define MSIX_PBA        8
#define MSIX_ENABLE     0x8000
#define MSIX_MASKALL    0x4000

typedef struct TestFunc {
    PciDevice pci;
    uint64_t last_offset;
    unsigned last_size;
    uint64_t last_value;
    unsigned writes;
    unsigned reads;
} TestFunc;

typedef struct Msi {
    uint64_t addr;
    uint32_t data;
} Msi;

typedef struct PciFixture {
    Machine *m;
    uint8_t *ram;
    TestFunc f;
    GArray *msis;           /* Msi */
} PciFixture;

/* Reads return the offset with a marker, so the test sees which byte of
 * which BAR answered. */
static uint64_t test_bar_read(void *opaque, uint64_t offset, unsigned size)
{
    TestFunc *f = opaque;

    f->reads++;
    f->last_offset = offset;
    f->last_size = size;
    return 0xab000000u | (uint32_t)offset;
}

static void test_bar_write(void *opaque, uint64_t offset, uint64_t value,
                           unsigned size)
{
    TestFunc *f = opaque;

    f->writes++;
    f->last_offset = offset;
    f->last_size = size;
    f->last_value = value;
}

static const IoOps test_bar_ops = {
    .read = test_bar_read,
    .write = test_bar_write,
    .impl_min = 4,
    .impl_max = 4,
};

static void record_msi(void *opaque, uint64_t addr, uint32_t data)
{
    PciFixture *fx = opaque;
    Msi msi = { addr, data };

    g_array_append_val(fx->msis, msi);
}

static void fixture_setup(PciFixture *fx)
{
    GError *err = NULL;
    Device *host;

    memset(fx, 0, sizeof(*fx));
    fx->m = fixture_machine_new();
    fx->ram = g_malloc0(RAM_SIZE);
    g_assert_nonnull(memory_map_add_ram(fx->m->mem, "ram", 0, RAM_SIZE,
                                        fx->ram, &err));
    host = device_new(fx->m, "i440FX-pcihost", &err);
    g_assert_no_error(err);
    g_assert_true(device_realize(host, &err));
    g_assert_no_error(err);
    g_assert_nonnull(fx->m->pci_bus);
    fx->msis = g_array_new(FALSE, FALSE, sizeof(Msi));
    fx->m->msi_route = record_msi;
    fx->m->msi_route_opaque = fx;

    pci_config_init(&fx->f.pci, "test-func", 0x1234, 0x5678, 1, 0xff0000,
                    PCI_HEADER_TYPE_NORMAL);
    fx->f.pci.config[PCI_INTERRUPT_PIN] = 1;
    pci_register_bar(&fx->f.pci, 0, 0, 0x1000, &test_bar_ops, &fx->f);
    pci_register_bar(&fx->f.pci, 2, PCI_BAR_MEM_TYPE_64, 0x4000,
                     &test_bar_ops, &fx->f);
    pci_register_bar(&fx->f.pci, 4, PCI_BAR_SPACE_IO, 16, &test_bar_ops,
                     &fx->f);
    g_assert_true(msix_init_exclusive_bar(&fx->f.pci, MSIX_VECTORS, MSIX_BAR,
                                          &err));
    g_assert_no_error(err);
    g_assert_true(pci_bus_attach(fx->m->pci_bus, &fx->f.pci, TEST_DEVFN,
                                 &err));
    g_assert_no_error(err);
}

static void fixture_teardown(PciFixture *fx)
{
    pci_bus_detach(&fx->f.pci);
    msix_uninit(&fx->f.pci);
    fixture_machine_free(fx->m);
    g_free(fx->ram);
    g_array_free(fx->msis, TRUE);
}

/* Configuration mechanism #1, as the guest uses it. */
static uint32_t cfg_read(Machine *m, uint8_t devfn, unsigned reg,
                         unsigned size)
{
    uint32_t v;

    ioport_write(m->io, 0xcf8, 4, 0x80000000u | (devfn << 8) | (reg & 0xfc));
    ioport_read(m->io, 0xcfc + (reg & 3), size, &v);
    return v;
}

static void cfg_write(Machine *m, uint8_t devfn, unsigned reg, unsigned size,
                      uint32_t v)
{
    ioport_write(m->io, 0xcf8, 4, 0x80000000u | (devfn << 8) | (reg & 0xfc));
    ioport_write(m->io, 0xcfc + (reg & 3), size, v);
}

static uint32_t mmio_read32(Machine *m, uint64_t addr)
{
    uint64_t v = 0;

    memory_map_dispatch_read(m->mem, addr, 4, &v);
    return (uint32_t)v;
}

static void mmio_write32(Machine *m, uint64_t addr, uint32_t v)
{
    memory_map_dispatch_write(m->mem, addr, 4, v);
}

static void test_bar_sizing(void)
{
    PciFixture fx;
    Machine *m;

    fixture_setup(&fx);
    m = fx.m;
    /* The host bridge answers at 00.0, an empty slot reads all ones. */
    g_assert_cmphex(cfg_read(m, 0, PCI_VENDOR_ID, 4), ==, 0x12378086);
    g_assert_cmphex(cfg_read(m, PCI_DEVFN(9, 0), 0, 4), ==, 0xffffffff);
    g_assert_cmphex(cfg_read(m, TEST_DEVFN, PCI_VENDOR_ID, 4), ==,
                    0x56781234);

    /* Write all ones, read the size mask with the type bits. */
    for (int bar = 0; bar < PCI_NUM_BARS; bar++) {
        cfg_write(m, TEST_DEVFN, PCI_BASE_ADDRESS_0 + 4 * bar, 4,
                  0xffffffff);
    }
    g_assert_cmphex(cfg_read(m, TEST_DEVFN, 0x10, 4), ==, 0xfffff000);
    g_assert_cmphex(cfg_read(m, TEST_DEVFN, 0x14, 4), ==, 0);  /* none */
    g_assert_cmphex(cfg_read(m, TEST_DEVFN, 0x18, 4), ==, 0xffffc004);
    g_assert_cmphex(cfg_read(m, TEST_DEVFN, 0x1c, 4), ==, 0xffffffff);
    g_assert_cmphex(cfg_read(m, TEST_DEVFN, 0x20, 4), ==, 0xfffffff1);
    g_assert_cmphex(cfg_read(m, TEST_DEVFN, 0x24, 4), ==, 0xfffff000);
    /* A sized BAR does not decode anything, even with decoding on. */
    cfg_write(m, TEST_DEVFN, PCI_COMMAND, 2,
              PCI_COMMAND_MEMORY | PCI_COMMAND_IO);
    g_assert_cmphex(fx.f.pci.bars[2].addr, ==, PCI_BAR_UNMAPPED);
    g_assert_cmphex(fx.f.pci.bars[0].addr, ==, 0xfffff000);
    /* Type bits are read-only. */
    cfg_write(m, TEST_DEVFN, 0x10, 4, 0);
    cfg_write(m, TEST_DEVFN, 0x20, 4, 0);
    g_assert_cmphex(cfg_read(m, TEST_DEVFN, 0x20, 4), ==, 1);
    g_assert_cmphex(cfg_read(m, TEST_DEVFN, 0x18, 4) & 0xf, ==, 4);
    fixture_teardown(&fx);
}

static void test_bar_move_and_command_gating(void)
{
    PciFixture fx;
    Machine *m;
    uint64_t v;
    uint32_t io;

    fixture_setup(&fx);
    m = fx.m;
    cfg_write(m, TEST_DEVFN, 0x10, 4, 0xd0000000);
    cfg_write(m, TEST_DEVFN, 0x20, 4, 0xc100);
    /* Decoding off: nothing answers, reads are all ones. */
    g_assert_cmphex(mmio_read32(m, 0xd0000010), ==, 0xffffffff);
    g_assert_true(ioport_read(m->io, 0xc104, 4, &io));
    g_assert_cmphex(io, ==, 0xffffffff);
    g_assert_cmpuint(fx.f.reads, ==, 0);

    cfg_write(m, TEST_DEVFN, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
    g_assert_cmphex(mmio_read32(m, 0xd0000010), ==, 0xab000010);
    g_assert_cmpuint(fx.f.reads, ==, 1);
    mmio_write32(m, 0xd0000ffc, 0x55aa);
    g_assert_cmphex(fx.f.last_offset, ==, 0xffc);
    g_assert_cmphex(fx.f.last_value, ==, 0x55aa);
    /* The I/O BAR needs the I/O bit. */
    ioport_read(m->io, 0xc104, 4, &io);
    g_assert_cmphex(io, ==, 0xffffffff);
    cfg_write(m, TEST_DEVFN, PCI_COMMAND, 2,
              PCI_COMMAND_MEMORY | PCI_COMMAND_IO);
    ioport_read(m->io, 0xc104, 4, &io);
    g_assert_cmphex(io, ==, 0xab000004);

    /* Moving the BAR: the old address stops answering. */
    cfg_write(m, TEST_DEVFN, 0x10, 4, 0xd0100000);
    g_assert_cmphex(mmio_read32(m, 0xd0000010), ==, 0xffffffff);
    g_assert_cmphex(mmio_read32(m, 0xd0100020), ==, 0xab000020);
    /* 64-bit BAR assembled from both registers; above 4 GiB it is out of
     * the 32-bit window and decodes nowhere the window sees. */
    cfg_write(m, TEST_DEVFN, 0x18, 4, 0xd0200000);
    cfg_write(m, TEST_DEVFN, 0x1c, 4, 0);
    g_assert_cmphex(fx.f.pci.bars[2].addr, ==, 0xd0200000);
    g_assert_true(memory_map_dispatch_read(m->mem, 0xd0203ffc, 4, &v));
    g_assert_cmphex(v, ==, 0xab003ffc);
    cfg_write(m, TEST_DEVFN, 0x1c, 4, 0x1);
    g_assert_cmphex(fx.f.pci.bars[2].addr, ==, 0x1d0200000ULL);
    g_assert_cmphex(mmio_read32(m, 0xd0200000), ==, 0xffffffff);
    /* Memory off again: nothing decodes. */
    cfg_write(m, TEST_DEVFN, PCI_COMMAND, 2, 0);
    g_assert_cmphex(mmio_read32(m, 0xd0100020), ==, 0xffffffff);
    /* An address nobody claims in the window reads all ones. */
    g_assert_cmphex(mmio_read32(m, 0xe0000000), ==, 0xffffffff);
    fixture_teardown(&fx);
}

static void test_assign_bars(void)
{
    PciFixture fx;
    PciDevice *d;
    uint64_t b0, b2, b5, b4;

    fixture_setup(&fx);
    d = &fx.f.pci;
    pci_bus_assign_bars(fx.m->pci_bus);
    b0 = pci_bar_address(d, 0);
    b2 = pci_bar_address(d, 2);
    b4 = pci_bar_address(d, 4);
    b5 = pci_bar_address(d, MSIX_BAR);
    /* Largest first, naturally aligned, in the windows. */
    g_assert_cmphex(b2, ==, PCI_MMIO_WINDOW_BASE);
    g_assert_cmphex(b0, ==, PCI_MMIO_WINDOW_BASE + 0x4000);
    g_assert_cmphex(b5, ==, PCI_MMIO_WINDOW_BASE + 0x5000);
    g_assert_cmphex(b4, ==, PCI_IO_WINDOW_BASE);
    g_assert_cmphex(cfg_read(fx.m, TEST_DEVFN, 0x18, 4), ==,
                    PCI_MMIO_WINDOW_BASE | PCI_BAR_MEM_TYPE_64);
    g_assert_cmphex(cfg_read(fx.m, TEST_DEVFN, PCI_COMMAND, 2) &
                    (PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER),
                    ==, PCI_COMMAND_IO | PCI_COMMAND_MEMORY |
                    PCI_COMMAND_MASTER);
    g_assert_cmpuint(cfg_read(fx.m, TEST_DEVFN, PCI_INTERRUPT_LINE, 1), ==,
                     16 + (TEST_SLOT + 0) % 4);
    g_assert_cmphex(mmio_read32(fx.m, b0 + 8), ==, 0xab000008);

    /* Reset parks the BARs; assignment gives the same layout back. */
    pci_device_reset(d);
    g_assert_cmphex(pci_bar_address(d, 0), ==, PCI_BAR_UNMAPPED);
    g_assert_cmphex(cfg_read(fx.m, TEST_DEVFN, PCI_COMMAND, 2), ==, 0);
    pci_bus_assign_bars(fx.m->pci_bus);
    g_assert_cmphex(pci_bar_address(d, 0), ==, b0);
    fixture_teardown(&fx);
}

static void test_capability_walk(void)
{
    PciFixture fx;
    uint8_t vndr, ptr;
    unsigned found = 0, hops = 0;

    fixture_setup(&fx);
    vndr = pci_add_capability(&fx.f.pci, PCI_CAP_ID_VNDR, 20);
    g_assert_cmpuint(vndr, !=, 0);
    g_assert_cmphex(cfg_read(fx.m, TEST_DEVFN, PCI_STATUS, 2) &
                    PCI_STATUS_CAP_LIST, ==, PCI_STATUS_CAP_LIST);
    ptr = cfg_read(fx.m, TEST_DEVFN, PCI_CAPABILITY_LIST, 1);
    while (ptr && hops++ < 48) {
        uint8_t id = cfg_read(fx.m, TEST_DEVFN, ptr, 1);

        g_assert_cmpuint(ptr, >=, 0x40);
        g_assert_cmpuint(ptr % 4, ==, 0);
        if (found == 0) {
            g_assert_cmpuint(id, ==, PCI_CAP_ID_MSIX);    /* added first */
        } else {
            g_assert_cmpuint(id, ==, PCI_CAP_ID_VNDR);
            g_assert_cmpuint(ptr, ==, vndr);
        }
        found++;
        ptr = cfg_read(fx.m, TEST_DEVFN, ptr + 1, 1);
    }
    g_assert_cmpuint(found, ==, 2);
    /* Capability registers are read-only unless the device says so. */
    cfg_write(fx.m, TEST_DEVFN, vndr + 1, 1, 0x80);
    g_assert_cmpuint(cfg_read(fx.m, TEST_DEVFN, vndr + 1, 1), ==, 0);
    /* A capability that does not fit is refused. */
    g_assert_cmpuint(pci_add_capability(&fx.f.pci, PCI_CAP_ID_VNDR, 250),
                     ==, 0);
    fixture_teardown(&fx);
}

static uint8_t find_cap(Machine *m, uint8_t devfn, uint8_t id)
{
    uint8_t ptr = cfg_read(m, devfn, PCI_CAPABILITY_LIST, 1);

    for (int hops = 0; ptr && hops < 48; hops++) {
        if (cfg_read(m, devfn, ptr, 1) == id) {
            return ptr;
        }
        ptr = cfg_read(m, devfn, ptr + 1, 1);
    }
    return 0;
}

static void test_msix(void)
{
    PciFixture fx;
    Machine *m;
    uint8_t cap;
    uint32_t table, pba;
    uint64_t bar, t, p;
    Msi *msi;

    fixture_setup(&fx);
    m = fx.m;
    pci_bus_assign_bars(m->pci_bus);
    cap = find_cap(m, TEST_DEVFN, PCI_CAP_ID_MSIX);
    g_assert_cmpuint(cap, !=, 0);
    g_assert_cmpuint(cfg_read(m, TEST_DEVFN, cap + MSIX_FLAGS, 2), ==,
                     MSIX_VECTORS - 1);
    table = cfg_read(m, TEST_DEVFN, cap + MSIX_TABLE, 4);
    pba = cfg_read(m, TEST_DEVFN, cap + MSIX_PBA, 4);
    g_assert_cmpuint(table & 7, ==, MSIX_BAR);
    g_assert_cmpuint(pba & 7, ==, MSIX_BAR);
    bar = pci_bar_address(&fx.f.pci, MSIX_BAR);
    t = bar + (table & ~7u);
    p = bar + (pba & ~7u);

    /* Vectors start masked. */
    g_assert_cmphex(mmio_read32(m, t + 12), ==, 1);
    mmio_write32(m, t + 16 + 0, 0xfee01000);
    mmio_write32(m, t + 16 + 4, 0);
    mmio_write32(m, t + 16 + 8, 0x4051);
    g_assert_cmphex(mmio_read32(m, t + 16 + 8), ==, 0x4051);

    /* MSI-X off: notify does nothing. */
    msix_notify(&fx.f.pci, 1);
    g_assert_cmpuint(fx.msis->len, ==, 0);
    g_assert_false(msix_is_pending(&fx.f.pci, 1));

    cfg_write(m, TEST_DEVFN, cap + MSIX_FLAGS, 2, MSIX_ENABLE);
    g_assert_true(msix_enabled(&fx.f.pci));
    /* Masked vector: pending bit, no message. */
    msix_notify(&fx.f.pci, 1);
    g_assert_cmpuint(fx.msis->len, ==, 0);
    g_assert_cmphex(mmio_read32(m, p), ==, 0x2);
    /* The PBA is read-only. */
    mmio_write32(m, p, 0);
    g_assert_cmphex(mmio_read32(m, p), ==, 0x2);
    /* Unmask: delivered, pending cleared. */
    mmio_write32(m, t + 16 + 12, 0);
    g_assert_cmpuint(fx.msis->len, ==, 1);
    msi = &g_array_index(fx.msis, Msi, 0);
    g_assert_cmphex(msi->addr, ==, 0xfee01000);
    g_assert_cmphex(msi->data, ==, 0x4051);
    g_assert_cmphex(mmio_read32(m, p), ==, 0);
    /* Unmasked: straight through. */
    msix_notify(&fx.f.pci, 1);
    g_assert_cmpuint(fx.msis->len, ==, 2);

    /* Function mask: pending, delivered when the mask is lifted. */
    cfg_write(m, TEST_DEVFN, cap + MSIX_FLAGS, 2, MSIX_ENABLE | MSIX_MASKALL);
    g_assert_false(msix_enabled(&fx.f.pci));
    msix_notify(&fx.f.pci, 1);
    g_assert_cmpuint(fx.msis->len, ==, 2);
    g_assert_true(msix_is_pending(&fx.f.pci, 1));
    cfg_write(m, TEST_DEVFN, cap + MSIX_FLAGS, 2, MSIX_ENABLE);
    g_assert_cmpuint(fx.msis->len, ==, 3);
    g_assert_false(msix_is_pending(&fx.f.pci, 1));
    /* Table size bits are read-only. */
    g_assert_cmphex(cfg_read(m, TEST_DEVFN, cap + MSIX_FLAGS, 2), ==,
                    MSIX_ENABLE | (MSIX_VECTORS - 1));
    /* A vector that does not exist is ignored. */
    msix_notify(&fx.f.pci, MSIX_VECTORS);
    g_assert_cmpuint(fx.msis->len, ==, 3);

    /* Reset: disabled, every vector masked again. */
    msix_reset(&fx.f.pci);
    g_assert_false(msix_enabled(&fx.f.pci));
    g_assert_cmphex(mmio_read32(m, t + 16 + 12), ==, 1);
    g_assert_cmphex(mmio_read32(m, t + 16 + 0), ==, 0);
    fixture_teardown(&fx);
}

static void test_intx_swizzle(void)
{
    PciFixture fx;
    PciDevice b, c;
    GError *err = NULL;
    Machine *m;
    int gsi_a = 16 + (TEST_SLOT + 0) % 4;   /* slot 3 INTA: GSI 19 */

    fixture_setup(&fx);
    m = fx.m;
    /* Slot 4 INTB: (4 + 1) % 4 = GSI 17; slot 7 INTA shares GSI 19. */
    pci_config_init(&b, "b", 0x1234, 1, 0, 0xff0000, 0);
    b.config[PCI_INTERRUPT_PIN] = 2;
    pci_config_init(&c, "c", 0x1234, 2, 0, 0xff0000, 0);
    c.config[PCI_INTERRUPT_PIN] = 1;
    g_assert_true(pci_bus_attach(m->pci_bus, &b, PCI_DEVFN(4, 0), &err));
    g_assert_true(pci_bus_attach(m->pci_bus, &c, PCI_DEVFN(7, 0), &err));
    g_assert_false(pci_bus_attach(m->pci_bus, &c, PCI_DEVFN(7, 0), &err));
    g_assert_nonnull(err);
    g_clear_error(&err);

    pci_set_irq(&fx.f.pci, 1);
    g_assert_cmpint(fixture_irq_level(m, gsi_a), ==, 1);
    g_assert_cmphex(cfg_read(m, TEST_DEVFN, PCI_STATUS, 2) &
                    PCI_STATUS_INTERRUPT, ==, PCI_STATUS_INTERRUPT);
    pci_set_irq(&b, 1);
    g_assert_cmpint(fixture_irq_level(m, 17), ==, 1);
    pci_set_irq(&b, 0);
    g_assert_cmpint(fixture_irq_level(m, 17), ==, 0);

    /* Shared line: stays up until both functions let go. */
    pci_set_irq(&c, 1);
    pci_set_irq(&fx.f.pci, 0);
    g_assert_cmpint(fixture_irq_level(m, gsi_a), ==, 1);
    pci_set_irq(&c, 0);
    g_assert_cmpint(fixture_irq_level(m, gsi_a), ==, 0);

    /* INTx disable: the line drops, the status bit stays. */
    pci_set_irq(&fx.f.pci, 1);
    cfg_write(m, TEST_DEVFN, PCI_COMMAND, 2, PCI_COMMAND_INTX_DISABLE);
    g_assert_cmpint(fixture_irq_level(m, gsi_a), ==, 0);
    g_assert_cmphex(cfg_read(m, TEST_DEVFN, PCI_STATUS, 2) &
                    PCI_STATUS_INTERRUPT, ==, PCI_STATUS_INTERRUPT);
    cfg_write(m, TEST_DEVFN, PCI_COMMAND, 2, 0);
    g_assert_cmpint(fixture_irq_level(m, gsi_a), ==, 1);
    g_assert_cmpuint(fixture_irq_raises(m, gsi_a), ==, 3);
    /* Unplugging a function that asserts releases the line. */
    pci_bus_detach(&fx.f.pci);
    g_assert_cmpint(fixture_irq_level(m, gsi_a), ==, 0);
    g_assert_true(pci_bus_attach(m->pci_bus, &fx.f.pci, TEST_DEVFN, &err));

    pci_bus_detach(&b);
    pci_bus_detach(&c);
    fixture_teardown(&fx);
}

static void test_dma(void)
{
    PciFixture fx;
    uint8_t buf[64], out[64];

    fixture_setup(&fx);
    for (unsigned i = 0; i < sizeof(buf); i++) {
        buf[i] = (uint8_t)(i * 7 + 1);
    }
    /* Bus mastering off: refused both ways, RAM untouched. */
    g_assert_false(pci_dma_write(&fx.f.pci, 0x1000, buf, sizeof(buf)));
    g_assert_cmpuint(fx.ram[0x1000], ==, 0);
    g_assert_false(pci_dma_read(&fx.f.pci, 0x1000, out, sizeof(out)));

    cfg_write(fx.m, TEST_DEVFN, PCI_COMMAND, 2, PCI_COMMAND_MASTER);
    g_assert_true(pci_dma_write(&fx.f.pci, 0x1000, buf, sizeof(buf)));
    g_assert_cmpmem(fx.ram + 0x1000, sizeof(buf), buf, sizeof(buf));
    memset(out, 0, sizeof(out));
    g_assert_true(pci_dma_read(&fx.f.pci, 0x1000, out, sizeof(out)));
    g_assert_cmpmem(out, sizeof(out), buf, sizeof(buf));
    /* Not RAM (past its end, the MMIO window, wrapping): refused. */
    g_assert_false(pci_dma_write(&fx.f.pci, RAM_SIZE - 8, buf, 16));
    g_assert_cmpuint(fx.ram[RAM_SIZE - 8], ==, 0);
    g_assert_false(pci_dma_read(&fx.f.pci, PCI_MMIO_WINDOW_BASE, out, 4));
    g_assert_false(pci_dma_read(&fx.f.pci, UINT64_MAX - 2, out, 8));
    fixture_teardown(&fx);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/pci/bar-sizing", test_bar_sizing);
    g_test_add_func("/pci/bar-move-command-gating",
                    test_bar_move_and_command_gating);
    g_test_add_func("/pci/assign-bars", test_assign_bars);
    g_test_add_func("/pci/capability-walk", test_capability_walk);
    g_test_add_func("/pci/msix", test_msix);
    g_test_add_func("/pci/intx-swizzle", test_intx_swizzle);
    g_test_add_func("/pci/dma", test_dma);
    return g_test_run();
}
