/*
 * virtio-blk-pci as a guest driver sees it: a fixture machine with RAM,
 * the i440FX host bridge and a virtio-blk-pci over a raw temporary file.
 * The test finds the device in PCI config space, walks its virtio
 * capabilities, negotiates features, sets a queue up in guest RAM, writes
 * descriptor chains and kicks, then runs the main loop until the used
 * ring moves and checks status bytes, data in the file and guest errors.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include "fixture.h"
#include "lemu/accel/accel.h"
#include "lemu/block/blockdev.h"
#include "lemu/hw/pci/pci.h"
#include "lemu/hw/qdev.h"
#include "lemu/hw/virtio/virtio-blk.h"
#include "lemu/hw/virtio/virtio-pci.h"
#include "lemu/util/json.h"
#include "lemu/util/log.h"
#include "monitor/monitor-internal.h"

#define RAM_SIZE            (16u << 20)
#define DISK_SIZE           (4u << 20)
#define QSIZE               16

/* Guest physical layout the test driver uses. */
#define DESC_GPA            0x10000
#define AVAIL_GPA           0x11000
#define USED_GPA            0x12000
#define HDR_GPA             0x20000     /* + 0x100 per request */
#define DATA_GPA            0x100000
#define DATA2_GPA           0x200000

/* virtio_pci_cap (4.1.4) and the common configuration (4.1.4.3). */
#define VIRTIO_PCI_CAP_COMMON_CFG   1
#define VIRTIO_PCI_CAP_NOTIFY_CFG   2
#define VIRTIO_PCI_CAP_ISR_CFG      3
#define VIRTIO_PCI_CAP_DEVICE_CFG   4
#define CAP_CFG_TYPE        3
#define CAP_BAR             4
#define CAP_OFFSET          8
#define CAP_NOTIFY_MULT     16
#define COMMON_DFSELECT     0
#define COMMON_DF           4
#define COMMON_GFSELECT     8
#define COMMON_GF           12
#define COMMON_MSIX         16
#define COMMON_NUMQ         18
#define COMMON_STATUS       20
#define COMMON_Q_SELECT     22
#define COMMON_Q_SIZE       24
#define COMMON_Q_MSIX       26
#define COMMON_Q_ENABLE     28
#define COMMON_Q_NOFF       30
#define COMMON_Q_DESCLO     32
#define COMMON_Q_AVAILLO    40
#define COMMON_Q_USEDLO     48

typedef struct TestBlk {
    Machine *m;
    uint8_t *ram;
    char *disk_path;
    char *log_path;
    BlockBackend *blk;
    Device *dev;
    int devfn;
    uint64_t common, notify, isr, devcfg;
    uint32_t notify_mult;
    uint16_t notify_off;
    uint16_t avail_idx;
    uint16_t next_desc;
} TestBlk;

typedef struct TestBlkOpts {
    bool read_only;
    const char *serial;
    const char *lbs;
    /* The machine's accelerator can attach ioeventfds (a stand-in for
     * KVM's); @ioeventfd_prop sets the device's ioeventfd property. */
    bool accel_ioeventfd;
    const char *ioeventfd_prop;
} TestBlkOpts;

/*
 * A stand-in for KVM's ioeventfd: the eventfds attached to guest
 * addresses. A guest write to such an address signals the eventfd instead
 * of reaching the device, as KVM does. Static: the accelerator op gets
 * only the Machine.
 */
#define MAX_IOEVENTFDS 8

static struct {
    struct { uint64_t addr; unsigned len; int fd; } at[MAX_IOEVENTFDS];
    unsigned n;
    unsigned attaches, detaches;
    bool refuse;                /* the host refuses every attach */
} fake_ioeventfds;

static bool fake_ioeventfd(Machine *m, uint64_t addr, unsigned len, int fd,
                           bool assign)
{
    if (assign) {
        if (fake_ioeventfds.refuse) {
            return false;
        }
        g_assert_cmpuint(fake_ioeventfds.n, <, MAX_IOEVENTFDS);
        for (unsigned i = 0; i < fake_ioeventfds.n; i++) {
            g_assert_cmphex(fake_ioeventfds.at[i].addr, !=, addr);
        }
        fake_ioeventfds.at[fake_ioeventfds.n].addr = addr;
        fake_ioeventfds.at[fake_ioeventfds.n].len = len;
        fake_ioeventfds.at[fake_ioeventfds.n].fd = fd;
        fake_ioeventfds.n++;
        fake_ioeventfds.attaches++;
        return true;
    }
    for (unsigned i = 0; i < fake_ioeventfds.n; i++) {
        if (fake_ioeventfds.at[i].addr == addr &&
            fake_ioeventfds.at[i].fd == fd) {
            fake_ioeventfds.at[i] = fake_ioeventfds.at[--fake_ioeventfds.n];
            fake_ioeventfds.detaches++;
            return true;
        }
    }
    g_assert_not_reached();
}

static const AccelOps fake_ioeventfd_accel = {
    .name = "fake-ioeventfd",
    .ioeventfd = fake_ioeventfd,
};

/* The eventfd attached at @addr, or -1. */
static int fake_ioeventfd_at(uint64_t addr, unsigned len)
{
    for (unsigned i = 0; i < fake_ioeventfds.n; i++) {
        if (fake_ioeventfds.at[i].addr == addr &&
            fake_ioeventfds.at[i].len == len) {
            return fake_ioeventfds.at[i].fd;
        }
    }
    return -1;
}

/* ---- guest memory and MMIO ---- */

static void *gpa(TestBlk *t, uint64_t addr)
{
    g_assert_cmpuint(addr, <, RAM_SIZE);
    return t->ram + addr;
}

static void put16(TestBlk *t, uint64_t addr, uint16_t v)
{
    uint8_t *p = gpa(t, addr);

    p[0] = v;
    p[1] = v >> 8;
}

static void put32(TestBlk *t, uint64_t addr, uint32_t v)
{
    put16(t, addr, v);
    put16(t, addr + 2, v >> 16);
}

static void put64(TestBlk *t, uint64_t addr, uint64_t v)
{
    put32(t, addr, v);
    put32(t, addr + 4, v >> 32);
}

static uint16_t get16(TestBlk *t, uint64_t addr)
{
    uint8_t *p = gpa(t, addr);

    return p[0] | (p[1] << 8);
}

static uint32_t get32(TestBlk *t, uint64_t addr)
{
    return get16(t, addr) | ((uint32_t)get16(t, addr + 2) << 16);
}

static uint64_t mmio_read(TestBlk *t, uint64_t addr, unsigned size)
{
    uint64_t v = 0;

    g_assert_true(memory_map_dispatch_read(t->m->mem, addr, size, &v));
    return v;
}

static void mmio_write(TestBlk *t, uint64_t addr, unsigned size, uint64_t v)
{
    int fd = fake_ioeventfd_at(addr, size);
    uint64_t one = 1;

    if (fd >= 0) {
        g_assert_cmpint(write(fd, &one, sizeof(one)), ==, sizeof(one));
        return;
    }
    g_assert_true(memory_map_dispatch_write(t->m->mem, addr, size, v));
}

static uint32_t cfg_read(TestBlk *t, unsigned addr, unsigned len)
{
    return pci_bus_config_read(t->m->pci_bus, t->devfn, addr, len);
}

static char *read_log(TestBlk *t)
{
    char *text = NULL;

    g_assert_true(g_file_get_contents(t->log_path, &text, NULL, NULL));
    return text;
}

/* ---- setup ---- */

static uint64_t bar_address(TestBlk *t, int bar)
{
    uint32_t lo = cfg_read(t, PCI_BASE_ADDRESS_0 + 4 * bar, 4);
    uint64_t addr = lo & ~0xfULL;

    if (lo & PCI_BAR_MEM_TYPE_64) {
        addr |= (uint64_t)cfg_read(t, PCI_BASE_ADDRESS_0 + 4 * bar + 4, 4)
                << 32;
    }
    return addr;
}

/* Walks the vendor capabilities as a driver does (4.1.4). */
static void find_virtio_caps(TestBlk *t)
{
    unsigned guard = 0;

    g_assert_true(cfg_read(t, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
    for (uint8_t pos = cfg_read(t, PCI_CAPABILITY_LIST, 1) & ~3;
         pos && guard < 48; pos = cfg_read(t, pos + 1, 1) & ~3, guard++) {
        uint8_t type;
        uint64_t where;

        if (cfg_read(t, pos, 1) != PCI_CAP_ID_VNDR) {
            continue;
        }
        type = cfg_read(t, pos + CAP_CFG_TYPE, 1);
        where = bar_address(t, cfg_read(t, pos + CAP_BAR, 1)) +
                cfg_read(t, pos + CAP_OFFSET, 4);
        switch (type) {
        case VIRTIO_PCI_CAP_COMMON_CFG:
            t->common = t->common ? t->common : where;
            break;
        case VIRTIO_PCI_CAP_NOTIFY_CFG:
            if (!t->notify) {
                t->notify = where;
                t->notify_mult = cfg_read(t, pos + CAP_NOTIFY_MULT, 4);
            }
            break;
        case VIRTIO_PCI_CAP_ISR_CFG:
            t->isr = t->isr ? t->isr : where;
            break;
        case VIRTIO_PCI_CAP_DEVICE_CFG:
            t->devcfg = t->devcfg ? t->devcfg : where;
            break;
        }
    }
    g_assert_true(t->common && t->notify && t->isr && t->devcfg);
}

static TestBlk *test_blk_new(const TestBlkOpts *o)
{
    TestBlk *t = g_new0(TestBlk, 1);
    g_autofree char *buf = g_malloc(DISK_SIZE);
    GError *err = NULL;
    DriveInfo *dinfo;
    Device *host;
    int fd;

    t->m = fixture_machine_new();
    memset(&fake_ioeventfds, 0, sizeof(fake_ioeventfds));
    if (o->accel_ioeventfd) {
        t->m->accel = &fake_ioeventfd_accel;
    }
    t->ram = g_malloc0(RAM_SIZE);
    g_assert_nonnull(memory_map_add_ram(t->m->mem, "ram", 0, RAM_SIZE,
                                        t->ram, &err));
    t->m->ram = t->ram;
    t->m->ram_size = RAM_SIZE;
    t->m->below_4g_size = RAM_SIZE;

    fd = g_file_open_tmp("lemu-vblk-log-XXXXXX", &t->log_path, &err);
    g_assert_no_error(err);
    close(fd);
    g_assert_true(log_setup(LOG_GUEST_ERROR, t->log_path, &err));

    /* The disk: every byte of sector n is (n & 0xff). */
    for (unsigned i = 0; i < DISK_SIZE; i++) {
        buf[i] = (i / 512) & 0xff;
    }
    fd = g_file_open_tmp("lemu-vblk-disk-XXXXXX", &t->disk_path, &err);
    g_assert_no_error(err);
    g_assert_cmpint(write(fd, buf, DISK_SIZE), ==, DISK_SIZE);
    close(fd);
    t->blk = blk_new_open(t->m->loop, t->disk_path, "raw", NULL,
                          o->read_only ? 0 : BDRV_O_RDWR, &err);
    g_assert_no_error(err);
    blk_set_name(t->blk, "disk0");
    dinfo = g_new0(DriveInfo, 1);
    dinfo->id = g_strdup("disk0");
    dinfo->blk = t->blk;
    dinfo->type = IF_NONE;
    t->m->drives = g_ptr_array_new();
    g_ptr_array_add(t->m->drives, dinfo);

    host = device_new(t->m, "i440FX-pcihost", &err);
    g_assert_no_error(err);
    g_assert_true(device_realize(host, &err));
    g_assert_nonnull(t->m->pci_bus);

    t->dev = device_new(t->m, "virtio-blk-pci", &err);
    g_assert_no_error(err);
    t->dev->id = g_strdup("vblk0");
    g_assert_true(device_set_prop(t->dev, "drive", "disk0", &err));
    g_assert_true(device_set_prop(t->dev, "addr", "5", &err));
    g_assert_true(device_set_prop(t->dev, "num-queues", "1", &err));
    if (o->serial) {
        g_assert_true(device_set_prop(t->dev, "serial", o->serial, &err));
    }
    if (o->lbs) {
        g_assert_true(device_set_prop(t->dev, "logical_block_size", o->lbs,
                                      &err));
    }
    if (o->ioeventfd_prop) {
        g_assert_true(device_set_prop(t->dev, "ioeventfd", o->ioeventfd_prop,
                                      &err));
    }
    device_realize(t->dev, &err);
    g_assert_no_error(err);
    g_assert_cmpstr(dinfo->device, ==,
                    "/machine/peripheral/vblk0/virtio-backend");

    pci_bus_assign_bars(t->m->pci_bus);
    t->devfn = PCI_DEVFN(5, 0);
    g_assert_cmphex(cfg_read(t, PCI_VENDOR_ID, 2), ==,
                    PCI_VENDOR_ID_REDHAT_QUMRANET);
    g_assert_cmphex(cfg_read(t, PCI_DEVICE_ID, 2), ==,
                    PCI_DEVICE_ID_VIRTIO_MODERN(VIRTIO_ID_BLOCK));
    find_virtio_caps(t);
    return t;
}

static void test_blk_free(TestBlk *t)
{
    DriveInfo *dinfo = g_ptr_array_index(t->m->drives, 0);

    device_destroy_all(t->m);
    blk_unref(t->blk);
    g_free(dinfo->id);
    g_free(dinfo->device);
    g_free(dinfo);
    g_ptr_array_free(t->m->drives, TRUE);
    t->m->drives = NULL;
    /* The window regions point at the bus, gone with the host bridge. */
    t->m->pci_bus = NULL;
    fixture_machine_free(t->m);
    log_close();
    unlink(t->disk_path);
    unlink(t->log_path);
    g_free(t->disk_path);
    g_free(t->log_path);
    g_free(t->ram);
    g_free(t);
}

/* ---- the driver ---- */

static uint64_t device_features(TestBlk *t)
{
    uint64_t f;

    mmio_write(t, t->common + COMMON_DFSELECT, 4, 0);
    f = mmio_read(t, t->common + COMMON_DF, 4);
    mmio_write(t, t->common + COMMON_DFSELECT, 4, 1);
    return f | (mmio_read(t, t->common + COMMON_DF, 4) << 32);
}

/* 3.1.1: reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK, queue 0,
 * DRIVER_OK. */
static void driver_init(TestBlk *t, uint64_t features)
{
    mmio_write(t, t->common + COMMON_STATUS, 1, 0);
    g_assert_cmpuint(mmio_read(t, t->common + COMMON_STATUS, 1), ==, 0);
    mmio_write(t, t->common + COMMON_STATUS, 1, VIRTIO_CONFIG_S_ACKNOWLEDGE);
    mmio_write(t, t->common + COMMON_STATUS, 1,
               VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
    mmio_write(t, t->common + COMMON_GFSELECT, 4, 0);
    mmio_write(t, t->common + COMMON_GF, 4, (uint32_t)features);
    mmio_write(t, t->common + COMMON_GFSELECT, 4, 1);
    mmio_write(t, t->common + COMMON_GF, 4, features >> 32);
    mmio_write(t, t->common + COMMON_STATUS, 1,
               VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
               VIRTIO_CONFIG_S_FEATURES_OK);
    g_assert_true(mmio_read(t, t->common + COMMON_STATUS, 1) &
                  VIRTIO_CONFIG_S_FEATURES_OK);

    memset(gpa(t, DESC_GPA), 0, 0x3000);
    mmio_write(t, t->common + COMMON_Q_SELECT, 2, 0);
    g_assert_cmpuint(mmio_read(t, t->common + COMMON_Q_SIZE, 2), ==, 256);
    mmio_write(t, t->common + COMMON_Q_SIZE, 2, QSIZE);
    mmio_write(t, t->common + COMMON_Q_MSIX, 2, VIRTIO_NO_VECTOR);
    mmio_write(t, t->common + COMMON_Q_DESCLO, 4, DESC_GPA);
    mmio_write(t, t->common + COMMON_Q_DESCLO + 4, 4, 0);
    mmio_write(t, t->common + COMMON_Q_AVAILLO, 4, AVAIL_GPA);
    mmio_write(t, t->common + COMMON_Q_AVAILLO + 4, 4, 0);
    mmio_write(t, t->common + COMMON_Q_USEDLO, 4, USED_GPA);
    mmio_write(t, t->common + COMMON_Q_USEDLO + 4, 4, 0);
    t->notify_off = mmio_read(t, t->common + COMMON_Q_NOFF, 2);
    mmio_write(t, t->common + COMMON_Q_ENABLE, 2, 1);
    mmio_write(t, t->common + COMMON_STATUS, 1,
               VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
               VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
    t->avail_idx = 0;
    t->next_desc = 0;
}

static uint8_t device_status(TestBlk *t)
{
    return mmio_read(t, t->common + COMMON_STATUS, 1);
}

typedef struct Seg {
    uint64_t addr;
    uint32_t len;
    bool write;                 /* device-writable */
} Seg;

/* Puts a chain in the descriptor table and the avail ring, and kicks. */
static void submit_chain(TestBlk *t, const Seg *segs, unsigned n)
{
    uint16_t head = t->next_desc;

    for (unsigned i = 0; i < n; i++) {
        uint16_t d = (head + i) % QSIZE;
        uint64_t at = DESC_GPA + 16 * d;

        put64(t, at, segs[i].addr);
        put32(t, at + 8, segs[i].len);
        put16(t, at + 12, (segs[i].write ? VRING_DESC_F_WRITE : 0) |
                          (i + 1 < n ? VRING_DESC_F_NEXT : 0));
        put16(t, at + 14, (head + i + 1) % QSIZE);
    }
    t->next_desc = (head + n) % QSIZE;
    put16(t, AVAIL_GPA + 4 + 2 * (t->avail_idx % QSIZE), head);
    t->avail_idx++;
    put16(t, AVAIL_GPA + 2, t->avail_idx);
    mmio_write(t, t->notify + (uint64_t)t->notify_off * t->notify_mult, 2,
               0);
}

static uint16_t used_idx(TestBlk *t)
{
    return get16(t, USED_GPA + 2);
}

static void wait_used(TestBlk *t, uint16_t idx)
{
    FIXTURE_RUN_UNTIL(t->m->loop, used_idx(t) == idx);
}

/* A request with a header, one data buffer and a status byte; returns
 * the status byte once the device used the chain. */
static uint8_t do_request(TestBlk *t, uint32_t type, uint64_t sector,
                          uint64_t data, uint32_t len, bool data_in,
                          uint32_t *used_len)
{
    uint64_t hdr = HDR_GPA + 0x100 * (t->avail_idx % QSIZE);
    uint64_t status = hdr + 0x80;
    Seg segs[3];
    unsigned n = 0;
    uint16_t want = used_idx(t) + 1;

    put32(t, hdr, type);
    put32(t, hdr + 4, 0);
    put64(t, hdr + 8, sector);
    *(uint8_t *)gpa(t, status) = 0xee;
    segs[n++] = (Seg){ hdr, 16, false };
    if (len) {
        segs[n++] = (Seg){ data, len, data_in };
    }
    segs[n++] = (Seg){ status, 1, true };
    submit_chain(t, segs, n);
    wait_used(t, want);
    if (used_len) {
        *used_len = get32(t, USED_GPA + 4 + 8 * ((want - 1) % QSIZE) + 4);
    }
    return *(uint8_t *)gpa(t, status);
}

static uint64_t standard_features(TestBlk *t)
{
    return device_features(t) &
           ((1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_BLK_F_FLUSH) |
            (1ULL << VIRTIO_BLK_F_BLK_SIZE) | (1ULL << VIRTIO_BLK_F_SEG_MAX) |
            (1ULL << VIRTIO_BLK_F_CONFIG_WCE) | (1ULL << VIRTIO_BLK_F_RO) |
            (1ULL << VIRTIO_BLK_F_DISCARD) |
            (1ULL << VIRTIO_BLK_F_WRITE_ZEROES));
}

static void file_read(TestBlk *t, uint64_t offset, void *buf, size_t len)
{
    int fd = open(t->disk_path, O_RDONLY);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(pread(fd, buf, len, offset), ==, (ssize_t)len);
    close(fd);
}

/* ---- tests ---- */

static void test_config(void)
{
    TestBlkOpts o = { .serial = "lemu-serial-0001" };
    TestBlk *t = test_blk_new(&o);
    uint64_t f = device_features(t);

    g_assert_true(f & (1ULL << VIRTIO_F_VERSION_1));
    g_assert_true(f & (1ULL << VIRTIO_BLK_F_FLUSH));
    g_assert_true(f & (1ULL << VIRTIO_BLK_F_BLK_SIZE));
    g_assert_true(f & (1ULL << VIRTIO_BLK_F_SEG_MAX));
    g_assert_true(f & (1ULL << VIRTIO_BLK_F_TOPOLOGY));
    g_assert_true(f & (1ULL << VIRTIO_BLK_F_CONFIG_WCE));
    g_assert_true(f & (1ULL << VIRTIO_BLK_F_DISCARD));
    g_assert_true(f & (1ULL << VIRTIO_BLK_F_WRITE_ZEROES));
    g_assert_false(f & (1ULL << VIRTIO_BLK_F_RO));
    g_assert_false(f & (1ULL << VIRTIO_BLK_F_MQ));
    g_assert_cmpuint(mmio_read(t, t->common + COMMON_NUMQ, 2), ==, 1);

    g_assert_cmpuint(mmio_read(t, t->devcfg + VIRTIO_BLK_CFG_CAPACITY, 4),
                     ==, DISK_SIZE / 512);
    g_assert_cmpuint(mmio_read(t, t->devcfg + VIRTIO_BLK_CFG_CAPACITY + 4,
                               4), ==, 0);
    g_assert_cmpuint(mmio_read(t, t->devcfg + VIRTIO_BLK_CFG_BLK_SIZE, 4),
                     ==, 512);
    g_assert_cmpuint(mmio_read(t, t->devcfg + VIRTIO_BLK_CFG_SEG_MAX, 4),
                     ==, 254);
    g_assert_cmpuint(mmio_read(t, t->devcfg + VIRTIO_BLK_CFG_NUM_QUEUES, 2),
                     ==, 1);
    g_assert_cmpuint(mmio_read(t, t->devcfg +
                               VIRTIO_BLK_CFG_MAX_DISCARD_SEG, 4), ==, 1);
    /* A raw file opened without cache options: write cache on. */
    g_assert_cmpuint(mmio_read(t, t->devcfg + VIRTIO_BLK_CFG_WRITEBACK, 1),
                     ==, 1);

    /* CONFIG_WCE: the driver turns the cache off through the config. */
    driver_init(t, standard_features(t));
    mmio_write(t, t->devcfg + VIRTIO_BLK_CFG_WRITEBACK, 1, 0);
    g_assert_false(blk_enable_write_cache(t->blk));
    g_assert_cmpuint(mmio_read(t, t->devcfg + VIRTIO_BLK_CFG_WRITEBACK, 1),
                     ==, 0);
    /* Reset gives the original cache mode back. */
    mmio_write(t, t->common + COMMON_STATUS, 1, 0);
    g_assert_true(blk_enable_write_cache(t->blk));

    /* Without CONFIG_WCE and FLUSH the cache must be off (writethrough). */
    driver_init(t, 1ULL << VIRTIO_F_VERSION_1);
    g_assert_false(blk_enable_write_cache(t->blk));
    test_blk_free(t);
}

static void test_read_write(void)
{
    TestBlkOpts o = { .serial = "lemu-serial-0001" };
    TestBlk *t = test_blk_new(&o);
    uint8_t *data = gpa(t, DATA_GPA);
    uint8_t *back = gpa(t, DATA2_GPA);
    uint8_t file[4096];
    uint32_t used_len;

    driver_init(t, standard_features(t));

    /* Read sectors 10..17: each byte is its sector number. */
    g_assert_cmpuint(do_request(t, VIRTIO_BLK_T_IN, 10, DATA2_GPA, 4096,
                                true, &used_len), ==, VIRTIO_BLK_S_OK);
    g_assert_cmpuint(used_len, ==, 4096 + 1);
    for (unsigned i = 0; i < 4096; i++) {
        g_assert_cmpuint(back[i], ==, 10 + i / 512);
    }

    /* Write sectors 100..107 and find them in the file. */
    for (unsigned i = 0; i < 4096; i++) {
        data[i] = (uint8_t)(i * 7 + 3);
    }
    g_assert_cmpuint(do_request(t, VIRTIO_BLK_T_OUT, 100, DATA_GPA, 4096,
                                false, &used_len), ==, VIRTIO_BLK_S_OK);
    g_assert_cmpuint(used_len, ==, 1);
    file_read(t, 100 * 512, file, sizeof(file));
    g_assert_cmpmem(file, sizeof(file), data, 4096);

    /* Read them back through the device. */
    memset(back, 0, 4096);
    g_assert_cmpuint(do_request(t, VIRTIO_BLK_T_IN, 100, DATA2_GPA, 4096,
                                true, NULL), ==, VIRTIO_BLK_S_OK);
    g_assert_cmpmem(back, 4096, data, 4096);

    /* The last sector of the disk is in range. */
    g_assert_cmpuint(do_request(t, VIRTIO_BLK_T_IN, DISK_SIZE / 512 - 1,
                                DATA2_GPA, 512, true, NULL), ==,
                     VIRTIO_BLK_S_OK);

    g_assert_cmpuint(do_request(t, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false,
                                NULL), ==, VIRTIO_BLK_S_OK);

    /* GET_ID: the serial, NUL padded to 20 bytes. */
    memset(back, 0xff, 32);
    g_assert_cmpuint(do_request(t, VIRTIO_BLK_T_GET_ID, 0, DATA2_GPA,
                                VIRTIO_BLK_ID_BYTES, true, &used_len), ==,
                     VIRTIO_BLK_S_OK);
    g_assert_cmpuint(used_len, ==, VIRTIO_BLK_ID_BYTES + 1);
    g_assert_cmpstr((char *)back, ==, "lemu-serial-0001");
    g_assert_cmpuint(back[VIRTIO_BLK_ID_BYTES], ==, 0xff);

    /* The queue was used without MSI-X: INTx and ISR bit 0, which reading
     * clears. */
    g_assert_cmpuint(mmio_read(t, t->isr, 1) & 1, ==, 1);
    g_assert_cmpuint(mmio_read(t, t->isr, 1), ==, 0);
    test_blk_free(t);
}

/* A chain split across several descriptors, the header in two pieces. */
static void test_scattered_chain(void)
{
    TestBlkOpts o = { 0 };
    TestBlk *t = test_blk_new(&o);
    uint8_t file[1536];
    Seg segs[6];
    uint64_t hdr = HDR_GPA;

    driver_init(t, standard_features(t));
    put32(t, hdr, VIRTIO_BLK_T_OUT);
    put32(t, hdr + 4, 0);
    put64(t, hdr + 8, 20);
    memset(gpa(t, DATA_GPA), 0x11, 512);
    memset(gpa(t, DATA_GPA + 0x1000), 0x22, 1024);
    *(uint8_t *)gpa(t, hdr + 0x80) = 0xee;
    segs[0] = (Seg){ hdr, 5, false };
    segs[1] = (Seg){ hdr + 5, 11, false };
    segs[2] = (Seg){ DATA_GPA, 512, false };
    segs[3] = (Seg){ DATA_GPA + 0x1000, 1024, false };
    segs[4] = (Seg){ hdr + 0x80, 1, true };
    submit_chain(t, segs, 5);
    wait_used(t, 1);
    g_assert_cmpuint(*(uint8_t *)gpa(t, hdr + 0x80), ==, VIRTIO_BLK_S_OK);
    file_read(t, 20 * 512, file, sizeof(file));
    for (unsigned i = 0; i < sizeof(file); i++) {
        g_assert_cmpuint(file[i], ==, i < 512 ? 0x11 : 0x22);
    }
    test_blk_free(t);
}

static void test_bad_requests(void)
{
    TestBlkOpts o = { 0 };
    TestBlk *t = test_blk_new(&o);
    g_autofree char *log = NULL;
    uint8_t file[512];

    driver_init(t, standard_features(t));

    /* Past the end, partly past the end, a partial sector, unknown. */
    g_assert_cmpuint(do_request(t, VIRTIO_BLK_T_IN, DISK_SIZE / 512,
                                DATA_GPA, 512, true, NULL), ==,
                     VIRTIO_BLK_S_IOERR);
    g_assert_cmpuint(do_request(t, VIRTIO_BLK_T_OUT, DISK_SIZE / 512 - 1,
                                DATA_GPA, 1024, false, NULL), ==,
                     VIRTIO_BLK_S_IOERR);
    g_assert_cmpuint(do_request(t, VIRTIO_BLK_T_IN, UINT64_MAX / 256,
                                DATA_GPA, 512, true, NULL), ==,
                     VIRTIO_BLK_S_IOERR);
    g_assert_cmpuint(do_request(t, VIRTIO_BLK_T_OUT, 0, DATA_GPA, 100,
                                false, NULL), ==, VIRTIO_BLK_S_IOERR);
    g_assert_cmpuint(do_request(t, 0x77, 0, DATA_GPA, 512, true, NULL), ==,
                     VIRTIO_BLK_S_UNSUPP);
    /* Nothing was written: sector 0 still holds zeroes. */
    file_read(t, 0, file, sizeof(file));
    g_assert_cmpuint(file[0], ==, 0);
    g_assert_cmpuint(file[511], ==, 0);

    /* Write-zeroes with reserved flag bits, discard with "unmap". */
    put64(t, DATA_GPA, 0);
    put32(t, DATA_GPA + 8, 8);
    put32(t, DATA_GPA + 12, 0x2);
    g_assert_cmpuint(do_request(t, VIRTIO_BLK_T_WRITE_ZEROES, 0, DATA_GPA,
                                16, false, NULL), ==, VIRTIO_BLK_S_UNSUPP);
    put32(t, DATA_GPA + 12, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
    g_assert_cmpuint(do_request(t, VIRTIO_BLK_T_DISCARD, 0, DATA_GPA, 16,
                                false, NULL), ==, VIRTIO_BLK_S_UNSUPP);
    /* Two segments (max_discard_seg is 1). */
    g_assert_cmpuint(do_request(t, VIRTIO_BLK_T_DISCARD, 0, DATA_GPA, 32,
                                false, NULL), ==, VIRTIO_BLK_S_UNSUPP);
    /* A segment past the end. */
    put64(t, DATA_GPA, DISK_SIZE / 512 - 4);
    put32(t, DATA_GPA + 12, 0);
    g_assert_cmpuint(do_request(t, VIRTIO_BLK_T_WRITE_ZEROES, 0, DATA_GPA,
                                16, false, NULL), ==, VIRTIO_BLK_S_IOERR);
    g_assert_false(device_status(t) & VIRTIO_CONFIG_S_NEEDS_RESET);

    log = read_log(t);
    g_assert_nonnull(strstr(log, "goes past the end of the disk"));
    g_assert_nonnull(strstr(log, "not a multiple of 512"));
    g_assert_nonnull(strstr(log, "unsupported request type 119"));
    g_assert_nonnull(strstr(log, "reserved bits set"));
    test_blk_free(t);
}

/* Broken chains: the device needs a reset, and works after one. */
static void test_broken_chains(void)
{
    TestBlkOpts o = { 0 };
    TestBlk *t = test_blk_new(&o);
    g_autofree char *log = NULL;
    Seg segs[3];

    /* A header shorter than 16 bytes. */
    driver_init(t, standard_features(t));
    put32(t, HDR_GPA, VIRTIO_BLK_T_IN);
    segs[0] = (Seg){ HDR_GPA, 8, false };
    segs[1] = (Seg){ DATA_GPA, 512, true };
    segs[2] = (Seg){ HDR_GPA + 0x80, 1, true };
    submit_chain(t, segs, 3);
    FIXTURE_RUN_UNTIL(t->m->loop,
                      device_status(t) & VIRTIO_CONFIG_S_NEEDS_RESET);
    g_assert_cmpuint(used_idx(t), ==, 0);

    /* No device-writable status byte. */
    driver_init(t, standard_features(t));
    g_assert_false(device_status(t) & VIRTIO_CONFIG_S_NEEDS_RESET);
    put32(t, HDR_GPA, VIRTIO_BLK_T_OUT);
    put64(t, HDR_GPA + 8, 0);
    segs[0] = (Seg){ HDR_GPA, 16, false };
    segs[1] = (Seg){ DATA_GPA, 512, false };
    submit_chain(t, segs, 2);
    FIXTURE_RUN_UNTIL(t->m->loop,
                      device_status(t) & VIRTIO_CONFIG_S_NEEDS_RESET);

    /* A data buffer outside guest RAM. */
    driver_init(t, standard_features(t));
    put32(t, HDR_GPA, VIRTIO_BLK_T_IN);
    segs[0] = (Seg){ HDR_GPA, 16, false };
    segs[1] = (Seg){ 0xfff00000ULL, 4096, true };
    segs[2] = (Seg){ HDR_GPA + 0x80, 1, true };
    submit_chain(t, segs, 3);
    FIXTURE_RUN_UNTIL(t->m->loop,
                      device_status(t) & VIRTIO_CONFIG_S_NEEDS_RESET);

    /* After a reset the device works again. */
    driver_init(t, standard_features(t));
    g_assert_cmpuint(do_request(t, VIRTIO_BLK_T_IN, 1, DATA_GPA, 512, true,
                                NULL), ==, VIRTIO_BLK_S_OK);
    g_assert_cmpuint(*(uint8_t *)gpa(t, DATA_GPA), ==, 1);

    log = read_log(t);
    g_assert_nonnull(strstr(log, "a 16-byte header"));
    g_assert_nonnull(strstr(log, "a status byte"));
    g_assert_nonnull(strstr(log, "needs a reset"));
    test_blk_free(t);
}

static void test_read_only(void)
{
    TestBlkOpts o = { .read_only = true };
    TestBlk *t = test_blk_new(&o);
    g_autofree char *log = NULL;
    uint8_t file[512];

    g_assert_true(device_features(t) & (1ULL << VIRTIO_BLK_F_RO));
    driver_init(t, standard_features(t));
    memset(gpa(t, DATA_GPA), 0x5a, 512);
    g_assert_cmpuint(do_request(t, VIRTIO_BLK_T_OUT, 3, DATA_GPA, 512,
                                false, NULL), ==, VIRTIO_BLK_S_IOERR);
    put64(t, DATA_GPA, 0);
    put32(t, DATA_GPA + 8, 8);
    put32(t, DATA_GPA + 12, 0);
    g_assert_cmpuint(do_request(t, VIRTIO_BLK_T_WRITE_ZEROES, 0, DATA_GPA,
                                16, false, NULL), ==, VIRTIO_BLK_S_IOERR);
    g_assert_cmpuint(do_request(t, VIRTIO_BLK_T_IN, 3, DATA_GPA, 512, true,
                                NULL), ==, VIRTIO_BLK_S_OK);
    g_assert_cmpuint(*(uint8_t *)gpa(t, DATA_GPA), ==, 3);
    file_read(t, 3 * 512, file, sizeof(file));
    g_assert_cmpuint(file[0], ==, 3);
    log = read_log(t);
    g_assert_nonnull(strstr(log, "write to a read-only disk"));
    test_blk_free(t);
}

static void test_write_zeroes_discard(void)
{
    TestBlkOpts o = { 0 };
    TestBlk *t = test_blk_new(&o);
    uint8_t file[4096];

    driver_init(t, standard_features(t));
    /* Sectors 40..47 hold 40..47; zero them, with and without unmap. */
    put64(t, DATA_GPA, 40);
    put32(t, DATA_GPA + 8, 4);
    put32(t, DATA_GPA + 12, 0);
    g_assert_cmpuint(do_request(t, VIRTIO_BLK_T_WRITE_ZEROES, 0, DATA_GPA,
                                16, false, NULL), ==, VIRTIO_BLK_S_OK);
    put64(t, DATA_GPA, 44);
    put32(t, DATA_GPA + 12, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
    g_assert_cmpuint(do_request(t, VIRTIO_BLK_T_WRITE_ZEROES, 0, DATA_GPA,
                                16, false, NULL), ==, VIRTIO_BLK_S_OK);
    file_read(t, 40 * 512, file, sizeof(file));
    for (unsigned i = 0; i < sizeof(file); i++) {
        g_assert_cmpuint(file[i], ==, 0);
    }
    file_read(t, 48 * 512, file, 512);
    g_assert_cmpuint(file[0], ==, 48);
    /* Discard completes (what it does to the data is the backend's). */
    put64(t, DATA_GPA, 64);
    put32(t, DATA_GPA + 8, 64);
    put32(t, DATA_GPA + 12, 0);
    g_assert_cmpuint(do_request(t, VIRTIO_BLK_T_DISCARD, 0, DATA_GPA, 16,
                                false, NULL), ==, VIRTIO_BLK_S_OK);
    test_blk_free(t);
}

/* logical_block_size=4096: requests must be aligned to 8 sectors. */
static void test_logical_block_size(void)
{
    TestBlkOpts o = { .lbs = "4096" };
    TestBlk *t = test_blk_new(&o);

    g_assert_cmpuint(mmio_read(t, t->devcfg + VIRTIO_BLK_CFG_BLK_SIZE, 4),
                     ==, 4096);
    driver_init(t, standard_features(t));
    g_assert_cmpuint(do_request(t, VIRTIO_BLK_T_IN, 8, DATA_GPA, 4096, true,
                                NULL), ==, VIRTIO_BLK_S_OK);
    g_assert_cmpuint(do_request(t, VIRTIO_BLK_T_IN, 4, DATA_GPA, 4096, true,
                                NULL), ==, VIRTIO_BLK_S_IOERR);
    g_assert_cmpuint(do_request(t, VIRTIO_BLK_T_IN, 8, DATA_GPA, 512, true,
                                NULL), ==, VIRTIO_BLK_S_IOERR);
    test_blk_free(t);
}

static JsonValue *query_block(TestBlk *t)
{
    QmpContext ctx = { .machine = t->m };
    GError *err = NULL;
    JsonValue *ret = qmp_dispatch(&ctx, "query-block", NULL, &err);

    g_assert_no_error(err);
    g_assert_true(qmp_schema_check_value("[BlockInfo]", ret, &err));
    g_assert_no_error(err);
    return ret;
}

static const char *block_io_status(TestBlk *t, JsonValue **hold)
{
    JsonValue *ret = query_block(t);
    JsonValue *info;

    g_assert_cmpuint(json_array_length(ret), ==, 1);
    info = json_array_get(ret, 0);
    *hold = ret;
    return json_object_get_str(info, "io-status");
}

/*
 * werror=stop: a write past RLIMIT_FSIZE fails (EFBIG); the VM stops in
 * io-error with the request kept, and resuming retries it.
 */
static void test_werror_stop(void)
{
    TestBlkOpts o = { 0 };
    TestBlk *t = test_blk_new(&o);
    struct rlimit old, low;
    JsonValue *hold = NULL;
    uint64_t hdr = HDR_GPA;
    uint8_t file[512];
    Seg segs[3];
    JsonValue *info;

    blk_set_on_error(t->blk, BLOCKDEV_ON_ERROR_REPORT,
                     BLOCKDEV_ON_ERROR_STOP);
    driver_init(t, standard_features(t));
    g_assert_cmpstr(block_io_status(t, &hold), ==, "ok");
    info = json_array_get(hold, 0);
    g_assert_cmpstr(json_object_get_str(info, "device"), ==, "disk0");
    g_assert_cmpstr(json_object_get_str(info, "qdev"), ==,
                    "/machine/peripheral/vblk0/virtio-backend");
    json_free(hold);

    g_assert_cmpint(getrlimit(RLIMIT_FSIZE, &old), ==, 0);
    low = old;
    low.rlim_cur = DISK_SIZE / 2;
    g_assert_cmpint(setrlimit(RLIMIT_FSIZE, &low), ==, 0);

    memset(gpa(t, DATA_GPA), 0x77, 512);
    put32(t, hdr, VIRTIO_BLK_T_OUT);
    put32(t, hdr + 4, 0);
    put64(t, hdr + 8, DISK_SIZE / 512 - 8);
    *(uint8_t *)gpa(t, hdr + 0x80) = 0xee;
    segs[0] = (Seg){ hdr, 16, false };
    segs[1] = (Seg){ DATA_GPA, 512, false };
    segs[2] = (Seg){ hdr + 0x80, 1, true };
    submit_chain(t, segs, 3);
    FIXTURE_RUN_UNTIL(t->m->loop, t->m->runstate == RUN_STATE_IO_ERROR);
    fixture_run_for(t->m->loop, 20);
    g_assert_cmpuint(used_idx(t), ==, 0);
    g_assert_cmpstr(block_io_status(t, &hold), ==, "failed");
    json_free(hold);

    /* Still failing: resuming stops again. */
    machine_resume(t->m);
    FIXTURE_RUN_UNTIL(t->m->loop, t->m->runstate == RUN_STATE_IO_ERROR);
    g_assert_cmpuint(used_idx(t), ==, 0);

    /* The host has room again: the retry succeeds. */
    g_assert_cmpint(setrlimit(RLIMIT_FSIZE, &old), ==, 0);
    machine_resume(t->m);
    g_assert_cmpint(t->m->runstate, ==, RUN_STATE_RUNNING);
    wait_used(t, 1);
    g_assert_cmpuint(*(uint8_t *)gpa(t, hdr + 0x80), ==, VIRTIO_BLK_S_OK);
    file_read(t, DISK_SIZE - 8 * 512, file, sizeof(file));
    g_assert_cmpuint(file[0], ==, 0x77);
    g_assert_cmpstr(block_io_status(t, &hold), ==, "ok");
    json_free(hold);

    /* werror=report: the same failure is an IOERR for the guest. */
    blk_set_on_error(t->blk, BLOCKDEV_ON_ERROR_REPORT,
                     BLOCKDEV_ON_ERROR_REPORT);
    g_assert_cmpint(setrlimit(RLIMIT_FSIZE, &low), ==, 0);
    g_assert_cmpuint(do_request(t, VIRTIO_BLK_T_OUT, DISK_SIZE / 512 - 8,
                                DATA_GPA, 512, false, NULL), ==,
                     VIRTIO_BLK_S_IOERR);
    /* werror=ignore: the guest hears OK. */
    blk_set_on_error(t->blk, BLOCKDEV_ON_ERROR_REPORT,
                     BLOCKDEV_ON_ERROR_IGNORE);
    g_assert_cmpuint(do_request(t, VIRTIO_BLK_T_OUT, DISK_SIZE / 512 - 8,
                                DATA_GPA, 512, false, NULL), ==,
                     VIRTIO_BLK_S_OK);
    g_assert_cmpint(setrlimit(RLIMIT_FSIZE, &old), ==, 0);
    g_assert_cmpint(t->m->runstate, ==, RUN_STATE_RUNNING);
    test_blk_free(t);
}

/* A reset while the VM is stopped on an error drops the kept request. */
static void test_reset_drops_retry(void)
{
    TestBlkOpts o = { 0 };
    TestBlk *t = test_blk_new(&o);
    struct rlimit old, low;

    blk_set_on_error(t->blk, BLOCKDEV_ON_ERROR_REPORT,
                     BLOCKDEV_ON_ERROR_STOP);
    driver_init(t, standard_features(t));
    g_assert_cmpint(getrlimit(RLIMIT_FSIZE, &old), ==, 0);
    low = old;
    low.rlim_cur = DISK_SIZE / 2;
    g_assert_cmpint(setrlimit(RLIMIT_FSIZE, &low), ==, 0);
    put32(t, HDR_GPA, VIRTIO_BLK_T_OUT);
    put64(t, HDR_GPA + 8, DISK_SIZE / 512 - 8);
    submit_chain(t, (Seg[]){ { HDR_GPA, 16, false }, { DATA_GPA, 512, false },
                             { HDR_GPA + 0x80, 1, true } }, 3);
    FIXTURE_RUN_UNTIL(t->m->loop, t->m->runstate == RUN_STATE_IO_ERROR);
    g_assert_cmpint(setrlimit(RLIMIT_FSIZE, &old), ==, 0);
    mmio_write(t, t->common + COMMON_STATUS, 1, 0);
    machine_resume(t->m);
    fixture_run_for(t->m->loop, 20);
    g_assert_cmpuint(used_idx(t), ==, 0);
    test_blk_free(t);
}

/* A reset with reads in flight waits for them: the chains come back to
 * the driver before the rings are forgotten, none after. */
static void test_reset_drains(void)
{
    TestBlkOpts o = { 0 };
    TestBlk *t = test_blk_new(&o);

    driver_init(t, standard_features(t));
    for (unsigned n = 0; n < 4; n++) {
        uint64_t hdr = HDR_GPA + 0x100 * n;

        put32(t, hdr, VIRTIO_BLK_T_IN);
        put32(t, hdr + 4, 0);
        put64(t, hdr + 8, 256 * n + 1 + n);
        submit_chain(t, (Seg[]){ { hdr, 16, false },
                                 { DATA_GPA + 0x10000 * n, 0x10000, true },
                                 { hdr + 0x80, 1, true } }, 3);
    }
    mmio_write(t, t->common + COMMON_STATUS, 1, 0);
    g_assert_cmpuint(used_idx(t), ==, 4);
    for (unsigned n = 0; n < 4; n++) {
        g_assert_cmpuint(*(uint8_t *)gpa(t, HDR_GPA + 0x100 * n + 0x80), ==,
                         VIRTIO_BLK_S_OK);
        g_assert_cmpuint(*(uint8_t *)gpa(t, DATA_GPA + 0x10000 * n), ==,
                         1 + n);
    }
    g_assert_cmpuint(device_status(t), ==, 0);
    fixture_run_for(t->m->loop, 10);
    g_assert_cmpuint(used_idx(t), ==, 4);
    test_blk_free(t);
}

typedef struct MsiLog {
    unsigned count;
    uint64_t addr;
    uint32_t data;
} MsiLog;

static void record_msi(void *opaque, uint64_t addr, uint32_t data)
{
    MsiLog *log = opaque;

    log->count++;
    log->addr = addr;
    log->data = data;
}

/* With MSI-X on and queue 0 on vector 1, a completion sends that
 * vector's message instead of INTx. */
static void test_msix(void)
{
    TestBlkOpts o = { 0 };
    TestBlk *t = test_blk_new(&o);
    MsiLog log = { 0 };
    uint8_t pos, msix = 0;
    uint32_t table;
    uint64_t entry;
    unsigned guard = 0;

    t->m->msi_route = record_msi;
    t->m->msi_route_opaque = &log;
    for (pos = cfg_read(t, PCI_CAPABILITY_LIST, 1) & ~3; pos && guard < 48;
         pos = cfg_read(t, pos + 1, 1) & ~3, guard++) {
        if (cfg_read(t, pos, 1) == PCI_CAP_ID_MSIX) {
            msix = pos;
        }
    }
    g_assert_cmpuint(msix, !=, 0);
    /* One vector per queue plus one for configuration changes. */
    g_assert_cmpuint((cfg_read(t, msix + 2, 2) & 0x7ff) + 1, ==, 2);
    table = cfg_read(t, msix + 4, 4);
    entry = bar_address(t, table & 7) + (table & ~7u) + 16 * 1;
    mmio_write(t, entry, 4, 0xfee01000);
    mmio_write(t, entry + 4, 4, 0);
    mmio_write(t, entry + 8, 4, 0x4061);
    mmio_write(t, entry + 12, 4, 0);
    pci_bus_config_write(t->m->pci_bus, t->devfn, msix + 2, 0x8000, 2);

    driver_init(t, standard_features(t));
    mmio_write(t, t->common + COMMON_Q_SELECT, 2, 0);
    mmio_write(t, t->common + COMMON_Q_MSIX, 2, 1);
    g_assert_cmpuint(mmio_read(t, t->common + COMMON_Q_MSIX, 2), ==, 1);
    fixture_irq_clear(t->m);
    g_assert_cmpuint(do_request(t, VIRTIO_BLK_T_IN, 2, DATA_GPA, 512, true,
                                NULL), ==, VIRTIO_BLK_S_OK);
    /* Interrupts for completions are batched per main-loop pass. */
    FIXTURE_RUN_UNTIL(t->m->loop, log.count > 0);
    fixture_run_for(t->m->loop, 10);
    g_assert_cmpuint(log.count, ==, 1);
    g_assert_cmphex(log.addr, ==, 0xfee01000);
    g_assert_cmphex(log.data, ==, 0x4061);
    for (int i = 0; i < FIXTURE_NR_IRQS; i++) {
        g_assert_cmpuint(fixture_irq_raises(t->m, i), ==, 0);
    }
    test_blk_free(t);
}

static uint64_t queue0_notify(TestBlk *t)
{
    return t->notify + (uint64_t)t->notify_off * t->notify_mult;
}

/* Reads sector 10 and checks the data. */
static void read_sector_10(TestBlk *t)
{
    uint8_t *back = gpa(t, DATA2_GPA);

    memset(back, 0xff, 512);
    g_assert_cmpuint(do_request(t, VIRTIO_BLK_T_IN, 10, DATA2_GPA, 512,
                                true, NULL), ==, VIRTIO_BLK_S_OK);
    for (unsigned i = 0; i < 512; i++) {
        g_assert_cmpuint(back[i], ==, 10);
    }
}

/* Moves BAR 4 to @addr as a guest would, and finds the structures again. */
static void move_bar4(TestBlk *t, uint32_t addr)
{
    pci_bus_config_write(t->m->pci_bus, t->devfn, PCI_BASE_ADDRESS_0 + 16,
                         addr, 4);
    t->common = t->notify = t->isr = t->devcfg = 0;
    find_virtio_caps(t);
}

/* Queue notifications through ioeventfds: attached while the driver runs,
 * at the register's current address, detached at reset; a notification
 * sent just before the register moves is not lost. */
static void test_ioeventfd(void)
{
    TestBlkOpts o = { .accel_ioeventfd = true };
    TestBlk *t = test_blk_new(&o);
    uint64_t old_bar = bar_address(t, 4);
    uint16_t want;

    g_assert_cmpuint(fake_ioeventfds.n, ==, 0);     /* no driver yet */
    driver_init(t, standard_features(t));
    g_assert_cmpuint(fake_ioeventfds.n, ==, 1);
    g_assert_cmpint(fake_ioeventfd_at(queue0_notify(t), 2), >=, 0);
    /* mmio_write() signals the eventfd: the request goes that way. */
    read_sector_10(t);
    read_sector_10(t);

    /* The guest moves BAR 4: the notifier follows. */
    move_bar4(t, (uint32_t)old_bar + 0x100000);
    g_assert_cmphex(bar_address(t, 4), ==, old_bar + 0x100000);
    g_assert_cmpuint(fake_ioeventfds.n, ==, 1);
    g_assert_cmpint(fake_ioeventfd_at(queue0_notify(t), 2), >=, 0);
    read_sector_10(t);

    /* A kick signalled but not yet read when the register moves is
     * delivered, not dropped. */
    want = used_idx(t) + 1;
    put32(t, HDR_GPA, VIRTIO_BLK_T_IN);
    put32(t, HDR_GPA + 4, 0);
    put64(t, HDR_GPA + 8, 10);
    submit_chain(t, (Seg[]){ { HDR_GPA, 16, false },
                             { DATA2_GPA, 512, true },
                             { HDR_GPA + 0x80, 1, true } }, 3);
    move_bar4(t, (uint32_t)old_bar);
    wait_used(t, want);

    /* Memory decoding off: detached; on again: attached again. */
    pci_bus_config_write(t->m->pci_bus, t->devfn, PCI_COMMAND,
                         cfg_read(t, PCI_COMMAND, 2) & ~PCI_COMMAND_MEMORY,
                         2);
    g_assert_cmpuint(fake_ioeventfds.n, ==, 0);
    pci_bus_config_write(t->m->pci_bus, t->devfn, PCI_COMMAND,
                         cfg_read(t, PCI_COMMAND, 2) | PCI_COMMAND_MEMORY,
                         2);
    g_assert_cmpuint(fake_ioeventfds.n, ==, 1);
    read_sector_10(t);

    /* The driver resets the device: nothing stays attached. */
    mmio_write(t, t->common + COMMON_STATUS, 1, 0);
    g_assert_cmpuint(fake_ioeventfds.n, ==, 0);
    driver_init(t, standard_features(t));
    g_assert_cmpuint(fake_ioeventfds.n, ==, 1);
    read_sector_10(t);
    test_blk_free(t);
    g_assert_cmpuint(fake_ioeventfds.n, ==, 0);
    g_assert_cmpuint(fake_ioeventfds.attaches, ==, fake_ioeventfds.detaches);
}

/* ioeventfd=off, or a host that refuses them: the MMIO path serves. */
static void test_ioeventfd_off_and_refused(void)
{
    TestBlkOpts off = { .accel_ioeventfd = true, .ioeventfd_prop = "off" };
    TestBlkOpts on = { .accel_ioeventfd = true };
    TestBlk *t = test_blk_new(&off);

    driver_init(t, standard_features(t));
    g_assert_cmpuint(fake_ioeventfds.attaches, ==, 0);
    read_sector_10(t);
    test_blk_free(t);

    t = test_blk_new(&on);
    fake_ioeventfds.refuse = true;
    driver_init(t, standard_features(t));
    g_assert_cmpuint(fake_ioeventfds.n, ==, 0);
    read_sector_10(t);
    test_blk_free(t);
}

static void test_bad_properties(void)
{
    static const char *const bad[][2] = {
        { "logical_block_size", "256" },
        { "logical_block_size", "1000" },
        { "physical_block_size", "65536" },
        { "num-queues", "17" },
        { "queue-size", "100" },
        { "queue-size", "2048" },
        { "write-cache", "maybe" },
        { "serial", "123456789012345678901" },
        { "addr", "20" },
        { "addr", "3.8" },
        { "addr", "zz" },
        { "drive", "nope" },
    };
    TestBlkOpts o = { 0 };
    TestBlk *t = test_blk_new(&o);
    DriveInfo spare = { .id = (char *)"spare", .type = IF_NONE };
    GError *err = NULL;
    Device *dev;

    spare.blk = t->blk;
    g_ptr_array_add(t->m->drives, &spare);
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        dev = device_new(t->m, "virtio-blk-pci", &err);
        g_assert_no_error(err);
        g_assert_true(device_set_prop(dev, "drive", "spare", &err));
        g_assert_true(device_set_prop(dev, bad[i][0], bad[i][1], &err));
        g_assert_false(device_realize(dev, &err));
        g_assert_nonnull(err);
        /* The message names the bad value; the drive stays free. */
        g_assert_nonnull(strstr(err->message, bad[i][1]));
        g_clear_error(&err);
        g_assert_null(spare.device);
    }
    /* The drive is already in use by vblk0. */
    dev = device_new(t->m, "virtio-blk-pci", &err);
    g_assert_true(device_set_prop(dev, "drive", "disk0", &err));
    g_assert_false(device_realize(dev, &err));
    g_assert_nonnull(strstr(err->message, "already in use"));
    g_clear_error(&err);
    /* No drive at all. */
    dev = device_new(t->m, "virtio-blk-pci", &err);
    g_assert_false(device_realize(dev, &err));
    g_assert_nonnull(strstr(err->message, "drive property not set"));
    g_clear_error(&err);
    g_ptr_array_remove(t->m->drives, &spare);
    test_blk_free(t);
}

int main(int argc, char **argv)
{
    /* test_werror_stop makes writes fail with RLIMIT_FSIZE: get EFBIG,
     * not a signal. */
    signal(SIGXFSZ, SIG_IGN);
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/virtio-blk/config", test_config);
    g_test_add_func("/virtio-blk/read-write", test_read_write);
    g_test_add_func("/virtio-blk/scattered-chain", test_scattered_chain);
    g_test_add_func("/virtio-blk/bad-requests", test_bad_requests);
    g_test_add_func("/virtio-blk/broken-chains", test_broken_chains);
    g_test_add_func("/virtio-blk/read-only", test_read_only);
    g_test_add_func("/virtio-blk/write-zeroes-discard",
                    test_write_zeroes_discard);
    g_test_add_func("/virtio-blk/logical-block-size",
                    test_logical_block_size);
    g_test_add_func("/virtio-blk/werror-stop", test_werror_stop);
    g_test_add_func("/virtio-blk/reset-drops-retry", test_reset_drops_retry);
    g_test_add_func("/virtio-blk/reset-drains", test_reset_drains);
    g_test_add_func("/virtio-blk/msix", test_msix);
    g_test_add_func("/virtio-blk/ioeventfd", test_ioeventfd);
    g_test_add_func("/virtio-blk/ioeventfd-off-and-refused",
                    test_ioeventfd_off_and_refused);
    g_test_add_func("/virtio-blk/bad-properties", test_bad_properties);
    return g_test_run();
}
