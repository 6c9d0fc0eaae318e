/*
 * virtio core and PCI transport tests. An "echo" device (one queue: it
 * copies each request's device-readable bytes into its device-writable
 * buffers) sits on the modern PCI transport in a fixture machine; the test
 * plays the driver through config space and BAR MMIO: it finds the
 * structures through the vendor capabilities, negotiates, lays a split
 * ring out in RAM and posts direct, chained and indirect requests. Broken
 * rings must put the device in NEEDS_RESET without touching host memory
 * outside guest RAM; event index must suppress interrupts as the spec
 * says.
 */
#include <string.h>
#include "fixture.h"
#include "lemu/hw/pci/pci-host.h"
#include "lemu/hw/qdev.h"
#include "lemu/hw/virtio/virtio-pci.h"

#define RAM_SIZE        (4u << 20)
#define ECHO_SLOT       5
#define ECHO_DEVFN      PCI_DEVFN(ECHO_SLOT, 0)
#define ECHO_INTX_GSI   (16 + ECHO_SLOT % 4)
#define ECHO_DEVICE_ID  42
#define ECHO_QUEUE_MAX  16
#define ECHO_F_TEST     3           /* a device feature bit */
#define QSIZE           8

/* Guest RAM layout of the ring and buffers. */
#define DESC_GPA        0x10000
#define AVAIL_GPA       0x11000
#define USED_GPA        0x12000
#define BUF_GPA         0x20000
#define INDIRECT_GPA    0x30000

/* Structure offsets, as the capabilities describe them. */
#define CAP_CFG_TYPE    3
#define CAP_BAR         4
#define CAP_OFFSET      8
#define CAP_LENGTH      12
#define CAP_NOTIFY_MULT 16
#define CAP_PCI_CFG_DATA 16

#define COMMON_DFSELECT 0x00
#define COMMON_DF       0x04
#define COMMON_GFSELECT 0x08
#define COMMON_GF       0x0c
#define COMMON_MSIX     0x10
#define COMMON_NUMQ     0x12
#define COMMON_STATUS   0x14
#define COMMON_CFGGEN   0x15
#define COMMON_Q_SELECT 0x16
#define COMMON_Q_SIZE   0x18
#define COMMON_Q_MSIX   0x1a
#define COMMON_Q_ENABLE 0x1c
#define COMMON_Q_NOFF   0x1e
#define COMMON_Q_DESC   0x20
#define COMMON_Q_AVAIL  0x28
#define COMMON_Q_USED   0x30

typedef struct EchoDevice {
    VirtIOPCIProxy proxy;
    VirtIODevice vdev;
    unsigned handled;
    bool suppress_notify;       /* push without virtio_notify */
} EchoDevice;

typedef struct Msi {
    uint64_t addr;
    uint32_t data;
} Msi;

typedef struct VirtioFixture {
    Machine *m;
    uint8_t *ram;
    EchoDevice *echo;
    GArray *msis;
    /* What the driver found through the capabilities. */
    uint64_t common, isr, device, notify;
    uint32_t notify_mult;
    uint16_t avail_idx;         /* the driver's shadow */
    bool manual_used_event;     /* the test sets used_event itself */
} VirtioFixture;

/* ---- the echo device ----------------------------------------------------- */

static EchoDevice *to_echo(VirtIODevice *vdev)
{
    return (EchoDevice *)((char *)vdev - offsetof(EchoDevice, vdev));
}

static void echo_get_config(VirtIODevice *vdev, uint8_t *config)
{
    EchoDevice *e = to_echo(vdev);

    config[0] = 0xec;
    config[1] = 0x40;
    config[4] = (uint8_t)e->handled;
}

static void echo_handle_output(VirtIODevice *vdev, VirtQueue *vq)
{
    EchoDevice *e = to_echo(vdev);
    VirtQueueElement *elem;

    while ((elem = virtqueue_pop(vq))) {
        uint8_t buf[256];
        size_t n = iov_to_buf(elem->out_sg, elem->out_num, 0, buf,
                              MIN(sizeof(buf), elem->out_len));

        n = iov_from_buf(elem->in_sg, elem->in_num, 0, buf, n);
        virtqueue_push(vq, elem, (uint32_t)n);
        e->handled++;
    }
    if (!e->suppress_notify) {
        virtio_notify(vdev, vq);
    }
}

static const VirtioDeviceOps echo_ops = {
    .get_config = echo_get_config,
    .handle_output = echo_handle_output,
};

/* ---- the guest side ------------------------------------------------------ */

static uint32_t cfg_read(Machine *m, unsigned reg, unsigned size)
{
    uint32_t v;

    ioport_write(m->io, 0xcf8, 4, 0x80000000u | (ECHO_DEVFN << 8) |
                 (reg & 0xfc));
    ioport_read(m->io, 0xcfc + (reg & 3), size, &v);
    return v;
}

static void cfg_write(Machine *m, unsigned reg, unsigned size, uint32_t v)
{
    ioport_write(m->io, 0xcf8, 4, 0x80000000u | (ECHO_DEVFN << 8) |
                 (reg & 0xfc));
    ioport_write(m->io, 0xcfc + (reg & 3), size, v);
}

static uint64_t rd(VirtioFixture *fx, uint64_t addr, unsigned size)
{
    uint64_t v = 0;

    g_assert_true(memory_map_dispatch_read(fx->m->mem, addr, size, &v));
    return v;
}

static void wr(VirtioFixture *fx, uint64_t addr, unsigned size, uint64_t v)
{
    g_assert_true(memory_map_dispatch_write(fx->m->mem, addr, size, v));
}

static void ram_st16(VirtioFixture *fx, uint64_t gpa, uint16_t v)
{
    fx->ram[gpa] = v & 0xff;
    fx->ram[gpa + 1] = v >> 8;
}

static uint16_t ram_ld16(VirtioFixture *fx, uint64_t gpa)
{
    return fx->ram[gpa] | fx->ram[gpa + 1] << 8;
}

static uint32_t ram_ld32(VirtioFixture *fx, uint64_t gpa)
{
    return ram_ld16(fx, gpa) | (uint32_t)ram_ld16(fx, gpa + 2) << 16;
}

static void put_desc(VirtioFixture *fx, uint64_t table, unsigned i,
                     uint64_t addr, uint32_t len, uint16_t flags,
                     uint16_t next)
{
    uint8_t *d = fx->ram + table + 16 * i;

    for (int b = 0; b < 8; b++) {
        d[b] = (uint8_t)(addr >> (8 * b));
    }
    for (int b = 0; b < 4; b++) {
        d[8 + b] = (uint8_t)(len >> (8 * b));
    }
    d[12] = flags & 0xff;
    d[13] = flags >> 8;
    d[14] = next & 0xff;
    d[15] = next >> 8;
}

static uint64_t cap_addr(VirtioFixture *fx, uint8_t cap)
{
    uint8_t bar = cfg_read(fx->m, cap + CAP_BAR, 1);
    uint32_t lo = cfg_read(fx->m, PCI_BASE_ADDRESS_0 + 4 * bar, 4);

    g_assert_cmpuint(bar, ==, 4);
    return (lo & ~0xfu) + cfg_read(fx->m, cap + CAP_OFFSET, 4);
}

static uint8_t find_vendor_cap(VirtioFixture *fx, uint8_t cfg_type)
{
    uint8_t ptr = cfg_read(fx->m, PCI_CAPABILITY_LIST, 1);

    for (int hops = 0; ptr && hops < 48; hops++) {
        if (cfg_read(fx->m, ptr, 1) == PCI_CAP_ID_VNDR &&
            cfg_read(fx->m, ptr + CAP_CFG_TYPE, 1) == cfg_type) {
            return ptr;
        }
        ptr = cfg_read(fx->m, ptr + 1, 1);
    }
    return 0;
}

static void record_msi(void *opaque, uint64_t addr, uint32_t data)
{
    VirtioFixture *fx = opaque;
    Msi msi = { addr, data };

    g_array_append_val(fx->msis, msi);
}

static void setup(VirtioFixture *fx)
{
    GError *err = NULL;
    Device *host;
    uint8_t cap;

    memset(fx, 0, sizeof(*fx));
    fx->m = fixture_machine_new();
    fx->ram = g_malloc0(RAM_SIZE);
    g_assert_nonnull(memory_map_add_ram(fx->m->mem, "ram", 0, RAM_SIZE,
                                        fx->ram, &err));
    host = device_new(fx->m, "i440FX-pcihost", &err);
    g_assert_true(device_realize(host, &err));
    g_assert_no_error(err);
    fx->msis = g_array_new(FALSE, FALSE, sizeof(Msi));
    fx->m->msi_route = record_msi;
    fx->m->msi_route_opaque = fx;

    fx->echo = g_new0(EchoDevice, 1);
    virtio_init(&fx->echo->vdev, fx->m, "virtio-echo", ECHO_DEVICE_ID,
                1ULL << ECHO_F_TEST, 8, 1, ECHO_QUEUE_MAX, &echo_ops);
    g_assert_true(virtio_pci_realize(&fx->echo->proxy, fx->m,
                                     &fx->echo->vdev, "virtio-echo",
                                     ECHO_DEVFN, 0xff0000, 2, &err));
    g_assert_no_error(err);
    pci_bus_assign_bars(fx->m->pci_bus);

    g_assert_cmphex(cfg_read(fx->m, PCI_VENDOR_ID, 2), ==, 0x1af4);
    g_assert_cmphex(cfg_read(fx->m, PCI_DEVICE_ID, 2), ==,
                    0x1040 + ECHO_DEVICE_ID);
    g_assert_cmpuint(cfg_read(fx->m, PCI_REVISION_ID, 1), ==, 1);
    g_assert_cmphex(cfg_read(fx->m, PCI_SUBSYSTEM_VENDOR_ID, 2), ==, 0x1af4);
    cap = find_vendor_cap(fx, 1);
    g_assert_cmpuint(cap, !=, 0);
    fx->common = cap_addr(fx, cap);
    cap = find_vendor_cap(fx, 3);
    g_assert_cmpuint(cap, !=, 0);
    fx->isr = cap_addr(fx, cap);
    cap = find_vendor_cap(fx, 4);
    g_assert_cmpuint(cap, !=, 0);
    g_assert_cmpuint(cfg_read(fx->m, cap + CAP_LENGTH, 4), ==, 8);
    fx->device = cap_addr(fx, cap);
    cap = find_vendor_cap(fx, 2);
    g_assert_cmpuint(cap, !=, 0);
    fx->notify = cap_addr(fx, cap);
    fx->notify_mult = cfg_read(fx->m, cap + CAP_NOTIFY_MULT, 4);
    g_assert_cmpuint(fx->notify_mult, ==, 4);
    g_assert_cmpuint(find_vendor_cap(fx, 5), !=, 0);
}

static void teardown(VirtioFixture *fx)
{
    virtio_pci_unrealize(&fx->echo->proxy);
    virtio_cleanup(&fx->echo->vdev);
    g_free(fx->echo);
    fixture_machine_free(fx->m);
    g_free(fx->ram);
    g_array_free(fx->msis, TRUE);
}

static uint8_t status(VirtioFixture *fx)
{
    return rd(fx, fx->common + COMMON_STATUS, 1);
}

/* Reset, then the driver's initialization (3.1.1) with @features;
 * returns whether the device took FEATURES_OK. */
static bool negotiate(VirtioFixture *fx, uint64_t features)
{
    wr(fx, fx->common + COMMON_STATUS, 1, 0);
    g_assert_cmpuint(status(fx), ==, 0);
    wr(fx, fx->common + COMMON_STATUS, 1, VIRTIO_CONFIG_S_ACKNOWLEDGE);
    wr(fx, fx->common + COMMON_STATUS, 1,
       VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
    wr(fx, fx->common + COMMON_GFSELECT, 4, 0);
    wr(fx, fx->common + COMMON_GF, 4, (uint32_t)features);
    wr(fx, fx->common + COMMON_GFSELECT, 4, 1);
    wr(fx, fx->common + COMMON_GF, 4, (uint32_t)(features >> 32));
    wr(fx, fx->common + COMMON_STATUS, 1,
       VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
       VIRTIO_CONFIG_S_FEATURES_OK);
    fx->avail_idx = 0;
    return status(fx) & VIRTIO_CONFIG_S_FEATURES_OK;
}

#define FEATURES_ALL ((1ULL << VIRTIO_F_VERSION_1) | \
                      (1ULL << VIRTIO_RING_F_INDIRECT_DESC) | \
                      (1ULL << VIRTIO_RING_F_EVENT_IDX))

/* Sets queue 0 up (QSIZE entries, MSI-X vector @vector) and DRIVER_OK. */
static void setup_queue(VirtioFixture *fx, uint16_t vector)
{
    memset(fx->ram + DESC_GPA, 0, 0x3000);
    wr(fx, fx->common + COMMON_Q_SELECT, 2, 0);
    g_assert_cmpuint(rd(fx, fx->common + COMMON_Q_SIZE, 2), ==,
                     ECHO_QUEUE_MAX);
    wr(fx, fx->common + COMMON_Q_SIZE, 2, QSIZE);
    g_assert_cmpuint(rd(fx, fx->common + COMMON_Q_SIZE, 2), ==, QSIZE);
    wr(fx, fx->common + COMMON_Q_DESC, 4, DESC_GPA);
    wr(fx, fx->common + COMMON_Q_DESC + 4, 4, 0);
    wr(fx, fx->common + COMMON_Q_AVAIL, 4, AVAIL_GPA);
    wr(fx, fx->common + COMMON_Q_AVAIL + 4, 4, 0);
    wr(fx, fx->common + COMMON_Q_USED, 4, USED_GPA);
    wr(fx, fx->common + COMMON_Q_USED + 4, 4, 0);
    wr(fx, fx->common + COMMON_Q_MSIX, 2, vector);
    wr(fx, fx->common + COMMON_Q_ENABLE, 2, 1);
    wr(fx, fx->common + COMMON_STATUS, 1, status(fx) |
       VIRTIO_CONFIG_S_DRIVER_OK);
}

#define USED_EVENT_GPA  (AVAIL_GPA + 4 + 2 * QSIZE)

/* Makes descriptor @head available and notifies queue 0. Unless the test
 * manages it, used_event asks for an interrupt at the next used entry, as
 * a driver that re-enables callbacks does. */
static void post(VirtioFixture *fx, uint16_t head)
{
    if (!fx->manual_used_event) {
        ram_st16(fx, USED_EVENT_GPA, ram_ld16(fx, USED_GPA + 2));
    }
    ram_st16(fx, AVAIL_GPA + 4 + 2 * (fx->avail_idx % QSIZE), head);
    fx->avail_idx++;
    ram_st16(fx, AVAIL_GPA + 2, fx->avail_idx);
    wr(fx, fx->notify + 0 * fx->notify_mult, 2, 0);
}

static uint16_t used_idx(VirtioFixture *fx)
{
    return ram_ld16(fx, USED_GPA + 2);
}

/* ---- tests --------------------------------------------------------------- */

static void test_negotiation(void)
{
    VirtioFixture fx;
    uint32_t lo, hi;

    setup(&fx);
    wr(&fx, fx.common + COMMON_DFSELECT, 4, 0);
    lo = rd(&fx, fx.common + COMMON_DF, 4);
    wr(&fx, fx.common + COMMON_DFSELECT, 4, 1);
    hi = rd(&fx, fx.common + COMMON_DF, 4);
    g_assert_cmphex(lo, ==, (1u << ECHO_F_TEST) |
                    (1u << VIRTIO_RING_F_INDIRECT_DESC) |
                    (1u << VIRTIO_RING_F_EVENT_IDX));
    g_assert_cmphex(hi, ==, 1u << (VIRTIO_F_VERSION_1 - 32));
    g_assert_cmpuint(rd(&fx, fx.common + COMMON_NUMQ, 2), ==, 1);

    /* Not offered, or without VERSION_1: FEATURES_OK stays clear. */
    g_assert_false(negotiate(&fx, FEATURES_ALL | (1ULL << 40)));
    g_assert_false(negotiate(&fx, 1ULL << ECHO_F_TEST));
    g_assert_true(negotiate(&fx, FEATURES_ALL | (1ULL << ECHO_F_TEST)));
    g_assert_true(virtio_has_feature(&fx.echo->vdev, ECHO_F_TEST));
    /* Features are frozen after FEATURES_OK. */
    wr(&fx, fx.common + COMMON_GFSELECT, 4, 0);
    wr(&fx, fx.common + COMMON_GF, 4, 0);
    g_assert_cmphex(rd(&fx, fx.common + COMMON_GF, 4), ==,
                    (1u << ECHO_F_TEST) | (1u << VIRTIO_RING_F_INDIRECT_DESC) |
                    (1u << VIRTIO_RING_F_EVENT_IDX));

    /* Queue registers: size power of two <= max, vectors checked, a
     * queue that does not exist has size 0. */
    wr(&fx, fx.common + COMMON_Q_SELECT, 2, 0);
    wr(&fx, fx.common + COMMON_Q_SIZE, 2, 12);
    g_assert_cmpuint(rd(&fx, fx.common + COMMON_Q_SIZE, 2), ==,
                     ECHO_QUEUE_MAX);
    wr(&fx, fx.common + COMMON_Q_SIZE, 2, 32);
    g_assert_cmpuint(rd(&fx, fx.common + COMMON_Q_SIZE, 2), ==,
                     ECHO_QUEUE_MAX);
    wr(&fx, fx.common + COMMON_Q_MSIX, 2, 1);
    g_assert_cmpuint(rd(&fx, fx.common + COMMON_Q_MSIX, 2), ==, 1);
    wr(&fx, fx.common + COMMON_Q_MSIX, 2, 2);
    g_assert_cmphex(rd(&fx, fx.common + COMMON_Q_MSIX, 2), ==,
                    VIRTIO_NO_VECTOR);
    wr(&fx, fx.common + COMMON_MSIX, 2, 7);
    g_assert_cmphex(rd(&fx, fx.common + COMMON_MSIX, 2), ==,
                    VIRTIO_NO_VECTOR);
    g_assert_cmpuint(rd(&fx, fx.common + COMMON_Q_NOFF, 2), ==, 0);
    wr(&fx, fx.common + COMMON_Q_SELECT, 2, 1);
    g_assert_cmpuint(rd(&fx, fx.common + COMMON_Q_SIZE, 2), ==, 0);

    /* Device config through get_config. */
    g_assert_cmphex(rd(&fx, fx.device, 2), ==, 0x40ec);
    g_assert_cmphex(rd(&fx, fx.device + 4, 1), ==, 0);

    /* Writing 0 resets everything. */
    wr(&fx, fx.common + COMMON_STATUS, 1, 0);
    g_assert_cmpuint(status(&fx), ==, 0);
    g_assert_cmphex(fx.echo->vdev.guest_features, ==, 0);
    wr(&fx, fx.common + COMMON_Q_SELECT, 2, 0);
    g_assert_cmpuint(rd(&fx, fx.common + COMMON_Q_SIZE, 2), ==,
                     ECHO_QUEUE_MAX);
    teardown(&fx);
}

static void test_echo_intx(void)
{
    VirtioFixture fx;

    setup(&fx);
    g_assert_true(negotiate(&fx, FEATURES_ALL));
    setup_queue(&fx, VIRTIO_NO_VECTOR);
    /* Direct chain: "hello" out, 16 bytes in. */
    memcpy(fx.ram + BUF_GPA, "hello", 5);
    put_desc(&fx, DESC_GPA, 0, BUF_GPA, 5, VRING_DESC_F_NEXT, 3);
    put_desc(&fx, DESC_GPA, 3, BUF_GPA + 0x100, 16, VRING_DESC_F_WRITE, 0);
    post(&fx, 0);
    g_assert_cmpuint(fx.echo->handled, ==, 1);
    g_assert_cmpuint(used_idx(&fx), ==, 1);
    g_assert_cmpuint(ram_ld32(&fx, USED_GPA + 4), ==, 0);  /* id */
    g_assert_cmpuint(ram_ld32(&fx, USED_GPA + 8), ==, 5);  /* len */
    g_assert_cmpmem(fx.ram + BUF_GPA + 0x100, 5, "hello", 5);
    /* avail_event (EVENT_IDX) follows what the device consumed. */
    g_assert_cmpuint(ram_ld16(&fx, USED_GPA + 4 + 8 * QSIZE), ==, 1);

    /* INTx: line up, ISR read says "queue", clears it and drops the line. */
    g_assert_cmpint(fixture_irq_level(fx.m, ECHO_INTX_GSI), ==, 1);
    g_assert_cmpuint(rd(&fx, fx.isr, 1), ==, 1);
    g_assert_cmpint(fixture_irq_level(fx.m, ECHO_INTX_GSI), ==, 0);
    g_assert_cmpuint(rd(&fx, fx.isr, 1), ==, 0);

    /* A chain split over three descriptors, two out and two in. */
    memcpy(fx.ram + BUF_GPA + 0x200, "abc", 3);
    memcpy(fx.ram + BUF_GPA + 0x300, "defg", 4);
    put_desc(&fx, DESC_GPA, 1, BUF_GPA + 0x200, 3, VRING_DESC_F_NEXT, 2);
    put_desc(&fx, DESC_GPA, 2, BUF_GPA + 0x300, 4, VRING_DESC_F_NEXT, 4);
    put_desc(&fx, DESC_GPA, 4, BUF_GPA + 0x400, 2,
             VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 5);
    put_desc(&fx, DESC_GPA, 5, BUF_GPA + 0x500, 8, VRING_DESC_F_WRITE, 0);
    post(&fx, 1);
    g_assert_cmpuint(used_idx(&fx), ==, 2);
    g_assert_cmpuint(ram_ld32(&fx, USED_GPA + 12), ==, 1);
    g_assert_cmpuint(ram_ld32(&fx, USED_GPA + 16), ==, 7);
    g_assert_cmpmem(fx.ram + BUF_GPA + 0x400, 2, "ab", 2);
    g_assert_cmpmem(fx.ram + BUF_GPA + 0x500, 5, "cdefg", 5);
    g_assert_cmpuint(fixture_irq_raises(fx.m, ECHO_INTX_GSI), ==, 2);
    g_assert_cmpuint(rd(&fx, fx.isr, 1), ==, 1);

    /* Bus mastering off: the device does not touch the rings. */
    cfg_write(fx.m, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
    post(&fx, 0);
    g_assert_cmpuint(used_idx(&fx), ==, 2);
    cfg_write(fx.m, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    wr(&fx, fx.notify, 2, 0);
    g_assert_cmpuint(used_idx(&fx), ==, 3);
    g_assert_cmpuint(rd(&fx, fx.isr, 1), ==, 1);

    /* Indirect: one descriptor pointing at a table of two. */
    memcpy(fx.ram + BUF_GPA + 0x600, "indirect", 8);
    put_desc(&fx, INDIRECT_GPA, 0, BUF_GPA + 0x600, 8, VRING_DESC_F_NEXT, 1);
    put_desc(&fx, INDIRECT_GPA, 1, BUF_GPA + 0x700, 8, VRING_DESC_F_WRITE, 0);
    put_desc(&fx, DESC_GPA, 6, INDIRECT_GPA, 32, VRING_DESC_F_INDIRECT, 0);
    post(&fx, 6);
    g_assert_cmpuint(used_idx(&fx), ==, 4);
    g_assert_cmpuint(ram_ld32(&fx, USED_GPA + 28), ==, 6);
    g_assert_cmpmem(fx.ram + BUF_GPA + 0x700, 8, "indirect", 8);
    g_assert_cmpuint(status(&fx) & VIRTIO_CONFIG_S_NEEDS_RESET, ==, 0);

    /* Used ring wraps with the avail ring: many more requests. */
    for (unsigned i = 0; i < 3 * QSIZE; i++) {
        post(&fx, 0);
    }
    g_assert_cmpuint(used_idx(&fx), ==, 4 + 3 * QSIZE);
    g_assert_cmpuint(status(&fx) & VIRTIO_CONFIG_S_NEEDS_RESET, ==, 0);
    teardown(&fx);
}

static void test_echo_msix(void)
{
    VirtioFixture fx;
    uint64_t table;
    uint8_t cap;
    Msi *msi;

    setup(&fx);
    g_assert_true(negotiate(&fx, FEATURES_ALL));
    /* Enable MSI-X and program vector 1. */
    table = (cfg_read(fx.m, PCI_BASE_ADDRESS_0 + 4, 4) & ~0xfu);
    cap = 0;
    for (uint8_t p = cfg_read(fx.m, PCI_CAPABILITY_LIST, 1); p;
         p = cfg_read(fx.m, p + 1, 1)) {
        if (cfg_read(fx.m, p, 1) == PCI_CAP_ID_MSIX) {
            cap = p;
            break;
        }
    }
    g_assert_cmpuint(cap, !=, 0);
    table += cfg_read(fx.m, cap + 4, 4) & ~7u;
    wr(&fx, table + 16, 4, 0xfee00000);
    wr(&fx, table + 24, 4, 0x0062);
    wr(&fx, table + 28, 4, 0);
    cfg_write(fx.m, cap + 2, 2, 0x8000);
    setup_queue(&fx, 1);
    g_assert_cmpuint(rd(&fx, fx.common + COMMON_Q_MSIX, 2), ==, 1);

    memcpy(fx.ram + BUF_GPA, "msi", 3);
    put_desc(&fx, DESC_GPA, 0, BUF_GPA, 3, VRING_DESC_F_NEXT, 1);
    put_desc(&fx, DESC_GPA, 1, BUF_GPA + 0x100, 3, VRING_DESC_F_WRITE, 0);
    post(&fx, 0);
    g_assert_cmpuint(used_idx(&fx), ==, 1);
    g_assert_cmpuint(fx.msis->len, ==, 1);
    msi = &g_array_index(fx.msis, Msi, 0);
    g_assert_cmphex(msi->addr, ==, 0xfee00000);
    g_assert_cmphex(msi->data, ==, 0x62);
    /* No INTx while MSI-X is on. */
    g_assert_cmpuint(fixture_irq_raises(fx.m, ECHO_INTX_GSI), ==, 0);
    teardown(&fx);
}

static void test_pci_cfg_window(void)
{
    VirtioFixture fx;
    uint8_t cap;

    setup(&fx);
    cap = find_vendor_cap(&fx, 5);
    /* num_queues through the window: BAR 4, offset 0x12, 2 bytes. */
    cfg_write(fx.m, cap + CAP_BAR, 1, 4);
    cfg_write(fx.m, cap + CAP_OFFSET, 4, COMMON_NUMQ);
    cfg_write(fx.m, cap + CAP_LENGTH, 4, 2);
    g_assert_cmpuint(cfg_read(fx.m, cap + CAP_PCI_CFG_DATA, 4) & 0xffff, ==,
                     1);
    /* Writing the status through it. */
    cfg_write(fx.m, cap + CAP_OFFSET, 4, COMMON_STATUS);
    cfg_write(fx.m, cap + CAP_LENGTH, 4, 1);
    cfg_write(fx.m, cap + CAP_PCI_CFG_DATA, 4, VIRTIO_CONFIG_S_ACKNOWLEDGE);
    g_assert_cmpuint(status(&fx), ==, VIRTIO_CONFIG_S_ACKNOWLEDGE);
    /* A bad window (BAR 0 does not exist) reads nothing new, no crash. */
    cfg_write(fx.m, cap + CAP_BAR, 1, 0);
    cfg_write(fx.m, cap + CAP_PCI_CFG_DATA, 4, 0);
    cfg_read(fx.m, cap + CAP_PCI_CFG_DATA, 4);
    g_assert_cmpuint(status(&fx), ==, VIRTIO_CONFIG_S_ACKNOWLEDGE);
    teardown(&fx);
}

/* Each broken ring puts the device in NEEDS_RESET and returns nothing. */
typedef void BreakRing(VirtioFixture *fx);

static void break_outside_ram(VirtioFixture *fx)
{
    put_desc(fx, DESC_GPA, 0, RAM_SIZE - 4, 16, VRING_DESC_F_WRITE, 0);
}

static void break_in_mmio(VirtioFixture *fx)
{
    put_desc(fx, DESC_GPA, 0, PCI_MMIO_WINDOW_BASE, 16, 0, 0);
}

static void break_loop(VirtioFixture *fx)
{
    put_desc(fx, DESC_GPA, 0, BUF_GPA, 4, VRING_DESC_F_NEXT, 1);
    put_desc(fx, DESC_GPA, 1, BUF_GPA, 4, VRING_DESC_F_NEXT, 0);
}

static void break_next_out_of_range(VirtioFixture *fx)
{
    put_desc(fx, DESC_GPA, 0, BUF_GPA, 4, VRING_DESC_F_NEXT, QSIZE);
}

static void break_read_after_write(VirtioFixture *fx)
{
    put_desc(fx, DESC_GPA, 0, BUF_GPA, 4,
             VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
    put_desc(fx, DESC_GPA, 1, BUF_GPA + 0x100, 4, 0, 0);
}

static void break_nested_indirect(VirtioFixture *fx)
{
    put_desc(fx, INDIRECT_GPA, 0, INDIRECT_GPA + 0x100, 16,
             VRING_DESC_F_INDIRECT, 0);
    put_desc(fx, DESC_GPA, 0, INDIRECT_GPA, 16, VRING_DESC_F_INDIRECT, 0);
}

static void break_indirect_loop(VirtioFixture *fx)
{
    /* A chain inside the table longer than the table: a loop. */
    put_desc(fx, INDIRECT_GPA, 0, BUF_GPA, 4, VRING_DESC_F_NEXT, 1);
    put_desc(fx, INDIRECT_GPA, 1, BUF_GPA, 4, VRING_DESC_F_NEXT, 0);
    put_desc(fx, DESC_GPA, 0, INDIRECT_GPA, 32, VRING_DESC_F_INDIRECT, 0);
}

static void break_indirect_len(VirtioFixture *fx)
{
    put_desc(fx, INDIRECT_GPA, 0, BUF_GPA, 4, 0, 0);
    put_desc(fx, DESC_GPA, 0, INDIRECT_GPA, 24, VRING_DESC_F_INDIRECT, 0);
}

static void break_indirect_table_outside(VirtioFixture *fx)
{
    put_desc(fx, DESC_GPA, 0, RAM_SIZE - 16, 32, VRING_DESC_F_INDIRECT, 0);
}

static void run_broken(BreakRing *fn, uint64_t features, bool avail_jump)
{
    VirtioFixture fx;

    setup(&fx);
    g_assert_true(negotiate(&fx, features));
    setup_queue(&fx, VIRTIO_NO_VECTOR);
    fn(&fx);
    if (avail_jump) {
        /* The driver claims more new entries than the ring holds. */
        ram_st16(&fx, AVAIL_GPA + 2, QSIZE + 1);
        wr(&fx, fx.notify, 2, 0);
    } else {
        post(&fx, 0);
    }
    g_assert_cmpuint(fx.echo->handled, ==, 0);
    g_assert_cmpuint(used_idx(&fx), ==, 0);
    g_assert_cmphex(status(&fx) & VIRTIO_CONFIG_S_NEEDS_RESET, ==,
                    VIRTIO_CONFIG_S_NEEDS_RESET);
    /* The config change interrupt: ISR bit 1. */
    g_assert_cmphex(rd(&fx, fx.isr, 1), ==, 2);
    /* Stays broken: more kicks do nothing. */
    wr(&fx, fx.notify, 2, 0);
    g_assert_cmpuint(used_idx(&fx), ==, 0);

    /* A reset brings it back. */
    g_assert_true(negotiate(&fx, FEATURES_ALL));
    setup_queue(&fx, VIRTIO_NO_VECTOR);
    g_assert_cmphex(status(&fx) & VIRTIO_CONFIG_S_NEEDS_RESET, ==, 0);
    put_desc(&fx, DESC_GPA, 0, BUF_GPA, 4, VRING_DESC_F_NEXT, 1);
    put_desc(&fx, DESC_GPA, 1, BUF_GPA + 0x100, 4, VRING_DESC_F_WRITE, 0);
    post(&fx, 0);
    g_assert_cmpuint(used_idx(&fx), ==, 1);
    teardown(&fx);
}

static void test_malicious_rings(void)
{
    run_broken(break_outside_ram, FEATURES_ALL, false);
    run_broken(break_in_mmio, FEATURES_ALL, false);
    run_broken(break_loop, FEATURES_ALL, false);
    run_broken(break_next_out_of_range, FEATURES_ALL, false);
    run_broken(break_read_after_write, FEATURES_ALL, false);
    run_broken(break_nested_indirect, FEATURES_ALL, false);
    run_broken(break_indirect_loop, FEATURES_ALL, false);
    run_broken(break_indirect_len, FEATURES_ALL, false);
    run_broken(break_indirect_table_outside, FEATURES_ALL, false);
    /* Indirect without VIRTIO_RING_F_INDIRECT_DESC negotiated. */
    run_broken(break_indirect_len, 1ULL << VIRTIO_F_VERSION_1, false);
    run_broken(break_loop, FEATURES_ALL, true);
}

static void test_ring_outside_ram(void)
{
    VirtioFixture fx;

    setup(&fx);
    g_assert_true(negotiate(&fx, FEATURES_ALL));
    wr(&fx, fx.common + COMMON_Q_SELECT, 2, 0);
    wr(&fx, fx.common + COMMON_Q_SIZE, 2, QSIZE);
    wr(&fx, fx.common + COMMON_Q_DESC, 4, RAM_SIZE - 64);
    wr(&fx, fx.common + COMMON_Q_AVAIL, 4, AVAIL_GPA);
    wr(&fx, fx.common + COMMON_Q_USED, 4, USED_GPA);
    wr(&fx, fx.common + COMMON_Q_ENABLE, 2, 1);
    wr(&fx, fx.common + COMMON_STATUS, 1, status(&fx) |
       VIRTIO_CONFIG_S_DRIVER_OK);
    ram_st16(&fx, AVAIL_GPA + 2, 1);
    wr(&fx, fx.notify, 2, 0);
    g_assert_cmphex(status(&fx) & VIRTIO_CONFIG_S_NEEDS_RESET, ==,
                    VIRTIO_CONFIG_S_NEEDS_RESET);
    /* Queue addresses are fixed once the queue is enabled. */
    wr(&fx, fx.common + COMMON_Q_DESC, 4, DESC_GPA);
    g_assert_cmphex(rd(&fx, fx.common + COMMON_Q_DESC, 4), ==,
                    RAM_SIZE - 64);
    teardown(&fx);
}

/* One request on descriptors 0 -> 1, posted. */
static void post_simple(VirtioFixture *fx)
{
    put_desc(fx, DESC_GPA, 0, BUF_GPA, 4, VRING_DESC_F_NEXT, 1);
    put_desc(fx, DESC_GPA, 1, BUF_GPA + 0x100, 4, VRING_DESC_F_WRITE, 0);
    post(fx, 0);
}

static void test_event_idx(void)
{
    VirtioFixture fx;

    setup(&fx);
    g_assert_true(negotiate(&fx, FEATURES_ALL));
    setup_queue(&fx, VIRTIO_NO_VECTOR);
    fx.manual_used_event = true;

    /* used_event 0: interrupt when used idx moves past 0. */
    ram_st16(&fx, USED_EVENT_GPA, 0);
    post_simple(&fx);
    g_assert_cmpuint(fixture_irq_raises(fx.m, ECHO_INTX_GSI), ==, 1);
    rd(&fx, fx.isr, 1);
    /* used_event 5: no interrupt for used idx 2..5, one at 6. */
    ram_st16(&fx, USED_EVENT_GPA, 5);
    for (int i = 0; i < 4; i++) {
        post_simple(&fx);
    }
    g_assert_cmpuint(used_idx(&fx), ==, 5);
    g_assert_cmpuint(fixture_irq_raises(fx.m, ECHO_INTX_GSI), ==, 1);
    post_simple(&fx);
    g_assert_cmpuint(used_idx(&fx), ==, 6);
    g_assert_cmpuint(fixture_irq_raises(fx.m, ECHO_INTX_GSI), ==, 2);
    rd(&fx, fx.isr, 1);
    /* Several pushes at once cross used_event: one interrupt. */
    fx.echo->suppress_notify = true;
    ram_st16(&fx, USED_EVENT_GPA, 7);
    post_simple(&fx);
    post_simple(&fx);
    fx.echo->suppress_notify = false;
    post_simple(&fx);
    g_assert_cmpuint(used_idx(&fx), ==, 9);
    g_assert_cmpuint(fixture_irq_raises(fx.m, ECHO_INTX_GSI), ==, 3);

    /* Device side: with notifications off, avail_event stays put. */
    virtio_queue_set_notification(virtio_get_queue(&fx.echo->vdev, 0),
                                  false);
    post_simple(&fx);
    g_assert_cmpuint(ram_ld16(&fx, USED_GPA + 4 + 8 * QSIZE), ==, 9);
    virtio_queue_set_notification(virtio_get_queue(&fx.echo->vdev, 0), true);
    g_assert_cmpuint(ram_ld16(&fx, USED_GPA + 4 + 8 * QSIZE), ==, 10);
    teardown(&fx);
}

static void test_no_interrupt_flag(void)
{
    VirtioFixture fx;
    VirtQueue *vq;

    setup(&fx);
    g_assert_true(negotiate(&fx, 1ULL << VIRTIO_F_VERSION_1));
    setup_queue(&fx, VIRTIO_NO_VECTOR);
    ram_st16(&fx, AVAIL_GPA, VRING_AVAIL_F_NO_INTERRUPT);
    post_simple(&fx);
    g_assert_cmpuint(used_idx(&fx), ==, 1);
    g_assert_cmpuint(fixture_irq_raises(fx.m, ECHO_INTX_GSI), ==, 0);
    ram_st16(&fx, AVAIL_GPA, 0);
    post_simple(&fx);
    g_assert_cmpuint(fixture_irq_raises(fx.m, ECHO_INTX_GSI), ==, 1);
    /* NO_NOTIFY in used flags follows set_notification. */
    vq = virtio_get_queue(&fx.echo->vdev, 0);
    virtio_queue_set_notification(vq, false);
    g_assert_cmpuint(ram_ld16(&fx, USED_GPA), ==, VRING_USED_F_NO_NOTIFY);
    virtio_queue_set_notification(vq, true);
    g_assert_cmpuint(ram_ld16(&fx, USED_GPA), ==, 0);
    g_assert_true(virtio_queue_empty(vq));
    teardown(&fx);
}

/*
 * A driver gone wrong: random accesses all over BAR 4 and the MSI-X BAR,
 * with rings full of garbage in RAM. Nothing may crash (ASan watches host
 * memory), and a reset gives a working device back.
 */
static void test_random_driver(void)
{
    static const unsigned sizes[] = { 1, 2, 4, 8 };
    VirtioFixture fx;
    GRand *rand = g_rand_new_with_seed(0x5eed);

    setup(&fx);
    for (unsigned round = 0; round < 200; round++) {
        /* A fresh start each round, on a ring of plausible garbage:
         * buffers mostly in RAM, random flags, lengths and links. */
        g_assert_true(negotiate(&fx, FEATURES_ALL));
        setup_queue(&fx, round & 1 ? 0 : VIRTIO_NO_VECTOR);
        for (unsigned d = 0; d < QSIZE; d++) {
            uint64_t addr = g_rand_int_range(rand, 0, RAM_SIZE + 0x1000);

            put_desc(&fx, DESC_GPA, d, addr, g_rand_int_range(rand, 0, 64),
                     g_rand_int_range(rand, 0, 8),
                     g_rand_int_range(rand, 0, QSIZE + 2));
            put_desc(&fx, INDIRECT_GPA, d, addr,
                     g_rand_int_range(rand, 0, 64),
                     g_rand_int_range(rand, 0, 8),
                     g_rand_int_range(rand, 0, QSIZE + 2));
        }
        for (unsigned i = 0; i < 100; i++) {
            uint32_t r = g_rand_int(rand);
            unsigned size = sizes[r & 3];
            uint64_t off = g_rand_int_range(rand, 0, 0x4000) &
                           ~(uint64_t)(size - 1);
            uint64_t val = ((uint64_t)g_rand_int(rand) << 32) |
                           g_rand_int(rand);

            switch ((r >> 2) % 8) {
            case 0:
                val &= 0x1f;    /* small: sizes, selects, vectors land */
                /* fall through */
            case 1:
                wr(&fx, fx.common + off, size, val);
                break;
            case 2:
                rd(&fx, fx.common + off, size);
                break;
            default:
                post(&fx, g_rand_int_range(rand, 0, QSIZE + 1));
                break;
            }
        }
    }
    g_rand_free(rand);
    /* The garbage was good enough to get requests through at times. */
    g_assert_cmpuint(fx.echo->handled, >, 0);

    g_assert_true(negotiate(&fx, FEATURES_ALL));
    setup_queue(&fx, VIRTIO_NO_VECTOR);
    put_desc(&fx, DESC_GPA, 0, BUF_GPA, 4, VRING_DESC_F_NEXT, 1);
    put_desc(&fx, DESC_GPA, 1, BUF_GPA + 0x100, 4, VRING_DESC_F_WRITE, 0);
    memcpy(fx.ram + BUF_GPA, "good", 4);
    post(&fx, 0);
    g_assert_cmpuint(used_idx(&fx), ==, 1);
    g_assert_cmpmem(fx.ram + BUF_GPA + 0x100, 4, "good", 4);
    teardown(&fx);
}

static void test_iov_helpers(void)
{
    char a[3], b[5], out[8] = { 0 };
    struct iovec iov[2] = { { a, sizeof(a) }, { b, sizeof(b) } };

    g_assert_cmpuint(iov_from_buf(iov, 2, 2, "xyzw", 4), ==, 4);
    g_assert_cmpint(a[2], ==, 'x');
    g_assert_cmpmem(b, 3, "yzw", 3);
    g_assert_cmpuint(iov_to_buf(iov, 2, 2, out, sizeof(out)), ==, 6);
    g_assert_cmpmem(out, 4, "xyzw", 4);
    g_assert_cmpuint(iov_from_buf(iov, 2, 100, "x", 1), ==, 0);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/virtio/negotiation", test_negotiation);
    g_test_add_func("/virtio/echo-intx", test_echo_intx);
    g_test_add_func("/virtio/echo-msix", test_echo_msix);
    g_test_add_func("/virtio/pci-cfg-window", test_pci_cfg_window);
    g_test_add_func("/virtio/malicious-rings", test_malicious_rings);
    g_test_add_func("/virtio/ring-outside-ram", test_ring_outside_ram);
    g_test_add_func("/virtio/event-idx", test_event_idx);
    g_test_add_func("/virtio/no-interrupt-flag", test_no_interrupt_flag);
    g_test_add_func("/virtio/random-driver", test_random_driver);
    g_test_add_func("/virtio/iov-helpers", test_iov_helpers);
    return g_test_run();
}
