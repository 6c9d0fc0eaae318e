/*
 * virtio-blk: a minimal virtio 1.x block driver. Finds the virtio-blk
 * PCI function with configuration mechanism #1, reads the BARs the
 * machine assigned, walks the virtio vendor capabilities, negotiates
 * VERSION_1 and FLUSH, sets up queue 0 in its own memory, writes a
 * pattern with several requests in flight at once, flushes, reads it
 * back and compares, and checks that a read past the end fails with
 * IOERR. Completions are found by polling the used ring; the ISR's
 * queue bit is checked too. Needs a scratch disk of 1 MiB:
 * -drive file=DISK,format=raw,if=virtio. Built for long mode: the
 * identity map covers the 32-bit MMIO hole where the BARs live.
 */
#include "guest.h"

#define PCI_CONFIG_ADDRESS  0xcf8
#define PCI_CONFIG_DATA     0xcfc
#define PCI_VENDOR_ID       0x00
#define PCI_COMMAND         0x04
#define PCI_STATUS          0x06
#define PCI_BAR0            0x10
#define PCI_CAP_PTR         0x34
#define PCI_COMMAND_MEMORY  0x0002
#define PCI_COMMAND_MASTER  0x0004
#define PCI_STATUS_CAP_LIST 0x0010
#define PCI_CAP_ID_VNDR     0x09

#define VIRTIO_VENDOR       0x1af4
#define VIRTIO_BLK_MODERN   0x1042      /* 0x1040 + device id 2 */
#define VIRTIO_BLK_TRANS    0x1001      /* transitional (QEMU's default) */

/* virtio_pci_cap (virtio 1.2, 4.1.4) */
#define CAP_CFG_TYPE        3
#define CAP_BAR             4
#define CAP_OFFSET          8
#define CAP_NOTIFY_MULT     16
#define CFG_COMMON          1
#define CFG_NOTIFY          2
#define CFG_ISR             3
#define CFG_DEVICE          4

/* Common configuration (4.1.4.3) */
#define COMMON_DFSELECT     0x00
#define COMMON_DF           0x04
#define COMMON_GFSELECT     0x08
#define COMMON_GF           0x0c
#define COMMON_STATUS       0x14
#define COMMON_Q_SELECT     0x16
#define COMMON_Q_SIZE       0x18
#define COMMON_Q_MSIX       0x1a
#define COMMON_Q_ENABLE     0x1c
#define COMMON_Q_NOFF       0x1e
#define COMMON_Q_DESC       0x20
#define COMMON_Q_AVAIL      0x28
#define COMMON_Q_USED       0x30

#define S_ACKNOWLEDGE       0x01
#define S_DRIVER            0x02
#define S_DRIVER_OK         0x04
#define S_FEATURES_OK       0x08
#define S_NEEDS_RESET       0x40

#define F_BLK_FLUSH         9
#define F_VERSION_1         32

#define BLK_T_IN            0
#define BLK_T_OUT           1
#define BLK_T_FLUSH         4
#define BLK_S_OK            0
#define BLK_S_IOERR         1

#define DESC_F_NEXT         1
#define DESC_F_WRITE        2

#define QSIZE               16
#define DISK_SECTORS        2048        /* the 1 MiB scratch disk */
#define NREQ                4           /* requests in flight at once */
#define REQ_BYTES           4096

struct vring_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

struct vring_avail {
    uint16_t flags;
    uint16_t idx;
    uint16_t ring[QSIZE];
    uint16_t used_event;
};

struct vring_used {
    uint16_t flags;
    uint16_t idx;
    struct {
        uint32_t id;
        uint32_t len;
    } ring[QSIZE];
    uint16_t avail_event;
};

struct blk_req {
    uint32_t type;
    uint32_t reserved;
    uint64_t sector;
    uint8_t status;
};

static struct vring_desc desc[QSIZE] __attribute__((aligned(4096)));
static struct vring_avail avail __attribute__((aligned(4096)));
static struct vring_used used __attribute__((aligned(4096)));
static struct blk_req reqs[NREQ] __attribute__((aligned(64)));
static uint8_t wbuf[NREQ][REQ_BYTES] __attribute__((aligned(4096)));
static uint8_t rbuf[NREQ][REQ_BYTES] __attribute__((aligned(4096)));

static unsigned bdf;                    /* bus 0: dev << 3 | fn */
static uintptr_t common, notify, isr, devcfg;
static uint32_t notify_mult;
static uint16_t notify_off, qsize, avail_idx, used_seen;

/* ---- PCI configuration mechanism #1 ---- */

static uint32_t pci_read32(unsigned reg)
{
    outl(PCI_CONFIG_ADDRESS, 0x80000000u | (bdf << 8) | (reg & 0xfc));
    return inl(PCI_CONFIG_DATA);
}

static uint16_t pci_read16(unsigned reg)
{
    return pci_read32(reg) >> ((reg & 2) * 8);
}

static uint8_t pci_read8(unsigned reg)
{
    return pci_read32(reg) >> ((reg & 3) * 8);
}

static void pci_write16(unsigned reg, uint16_t v)
{
    outl(PCI_CONFIG_ADDRESS, 0x80000000u | (bdf << 8) | (reg & 0xfc));
    outw(PCI_CONFIG_DATA + (reg & 2), v);
}

/* ---- MMIO ---- */

static inline uint8_t mmio_read8(uintptr_t a)
{
    return *(volatile uint8_t *)a;
}
static inline uint16_t mmio_read16(uintptr_t a)
{
    return *(volatile uint16_t *)a;
}
static inline uint32_t mmio_read32(uintptr_t a)
{
    return *(volatile uint32_t *)a;
}
static inline void mmio_write8(uintptr_t a, uint8_t v)
{
    *(volatile uint8_t *)a = v;
}
static inline void mmio_write16(uintptr_t a, uint16_t v)
{
    *(volatile uint16_t *)a = v;
}
static inline void mmio_write32(uintptr_t a, uint32_t v)
{
    *(volatile uint32_t *)a = v;
}
static inline void mmio_write64(uintptr_t a, uint64_t v)
{
    mmio_write32(a, (uint32_t)v);
    mmio_write32(a + 4, (uint32_t)(v >> 32));
}

/* ---- discovery ---- */

static bool find_device(void)
{
    for (unsigned dev = 0; dev < 32; dev++) {
        uint32_t id;

        bdf = dev << 3;
        id = pci_read32(PCI_VENDOR_ID);
        if ((id & 0xffff) == VIRTIO_VENDOR &&
            ((id >> 16) == VIRTIO_BLK_MODERN ||
             (id >> 16) == VIRTIO_BLK_TRANS)) {
            printf("virtio-blk: found %04x:%04x at 00:%02x.0\n",
                   id & 0xffff, id >> 16, dev);
            return true;
        }
    }
    return false;
}

static uintptr_t bar_address(unsigned bar)
{
    uint32_t lo = pci_read32(PCI_BAR0 + 4 * bar);
    uint64_t addr = lo & ~0xfu;

    CHECK(!(lo & 1), "BAR %u is an I/O BAR", bar);
    if ((lo & 6) == 4) {
        uint32_t hi = pci_read32(PCI_BAR0 + 4 * bar + 4);

        CHECK(hi == 0, "BAR %u is above 4 GiB (0x%x%08x)", bar, hi, lo);
    }
    CHECK(addr != 0, "BAR %u was not assigned", bar);
    return (uintptr_t)addr;
}

static void walk_capabilities(void)
{
    unsigned guard = 0;

    CHECK(pci_read16(PCI_STATUS) & PCI_STATUS_CAP_LIST,
          "no capability list");
    for (uint8_t pos = pci_read8(PCI_CAP_PTR) & ~3; pos && guard < 48;
         pos = pci_read8(pos + 1) & ~3, guard++) {
        uint8_t type;
        uintptr_t where;

        if (pci_read8(pos) != PCI_CAP_ID_VNDR) {
            continue;
        }
        type = pci_read8(pos + CAP_CFG_TYPE);
        if (type < CFG_COMMON || type > CFG_DEVICE) {
            continue;
        }
        where = bar_address(pci_read8(pos + CAP_BAR)) +
                pci_read32(pos + CAP_OFFSET);
        /* The first of each type is the one to use (4.1.4.1). */
        if (type == CFG_COMMON && !common) {
            common = where;
        } else if (type == CFG_NOTIFY && !notify) {
            notify = where;
            notify_mult = pci_read32(pos + CAP_NOTIFY_MULT);
        } else if (type == CFG_ISR && !isr) {
            isr = where;
        } else if (type == CFG_DEVICE && !devcfg) {
            devcfg = where;
        }
    }
    CHECK(common && notify && isr && devcfg,
          "missing virtio capabilities (common %d notify %d isr %d "
          "device %d)", !!common, !!notify, !!isr, !!devcfg);
    printf("virtio-blk: common, notify, ISR and device configuration "
           "found\n");
}

/* ---- driver initialisation (3.1.1) ---- */

static void setup_device(void)
{
    uint32_t f_lo, f_hi;
    uint64_t capacity;

    mmio_write8(common + COMMON_STATUS, 0);
    CHECK(mmio_read8(common + COMMON_STATUS) == 0, "reset did not stick");
    mmio_write8(common + COMMON_STATUS, S_ACKNOWLEDGE);
    mmio_write8(common + COMMON_STATUS, S_ACKNOWLEDGE | S_DRIVER);
    mmio_write32(common + COMMON_DFSELECT, 0);
    f_lo = mmio_read32(common + COMMON_DF);
    mmio_write32(common + COMMON_DFSELECT, 1);
    f_hi = mmio_read32(common + COMMON_DF);
    CHECK(f_hi & (1u << (F_VERSION_1 - 32)), "VERSION_1 not offered");
    CHECK(f_lo & (1u << F_BLK_FLUSH), "FLUSH not offered");
    mmio_write32(common + COMMON_GFSELECT, 0);
    mmio_write32(common + COMMON_GF, 1u << F_BLK_FLUSH);
    mmio_write32(common + COMMON_GFSELECT, 1);
    mmio_write32(common + COMMON_GF, 1u << (F_VERSION_1 - 32));
    mmio_write8(common + COMMON_STATUS,
                S_ACKNOWLEDGE | S_DRIVER | S_FEATURES_OK);
    CHECK(mmio_read8(common + COMMON_STATUS) & S_FEATURES_OK,
          "FEATURES_OK refused");
    printf("virtio-blk: features VERSION_1 and FLUSH accepted\n");

    capacity = mmio_read32(devcfg) |
               ((uint64_t)mmio_read32(devcfg + 4) << 32);
    printf("virtio-blk: capacity %u sectors\n", (unsigned)capacity);
    CHECK(capacity == DISK_SECTORS, "expected %u sectors", DISK_SECTORS);

    mmio_write16(common + COMMON_Q_SELECT, 0);
    qsize = mmio_read16(common + COMMON_Q_SIZE);
    CHECK(qsize >= QSIZE, "queue 0 has only %u entries", qsize);
    qsize = QSIZE;
    mmio_write16(common + COMMON_Q_SIZE, qsize);
    mmio_write16(common + COMMON_Q_MSIX, 0xffff);
    mmio_write64(common + COMMON_Q_DESC, (uintptr_t)desc);
    mmio_write64(common + COMMON_Q_AVAIL, (uintptr_t)&avail);
    mmio_write64(common + COMMON_Q_USED, (uintptr_t)&used);
    notify_off = mmio_read16(common + COMMON_Q_NOFF);
    mmio_write16(common + COMMON_Q_ENABLE, 1);
    mmio_write8(common + COMMON_STATUS, S_ACKNOWLEDGE | S_DRIVER |
                S_FEATURES_OK | S_DRIVER_OK);
}

/* ---- requests ---- */

/* Chain n uses descriptors 3n..3n+2: header, data (if any), status. */
static void queue_request(unsigned n, uint32_t type, uint64_t sector,
                          void *data, uint32_t len, bool data_in)
{
    struct blk_req *r = &reqs[n];
    unsigned d = 3 * n;
    unsigned head = d;

    r->type = type;
    r->reserved = 0;
    r->sector = sector;
    r->status = 0xff;
    desc[d] = (struct vring_desc){ (uintptr_t)r, 16, DESC_F_NEXT, d + 1 };
    if (len) {
        d++;
        desc[d] = (struct vring_desc){ (uintptr_t)data, len,
                                       DESC_F_NEXT |
                                       (data_in ? DESC_F_WRITE : 0), d + 1 };
    }
    d++;
    desc[d] = (struct vring_desc){ (uintptr_t)&r->status, 1, DESC_F_WRITE,
                                   0 };
    avail.ring[avail_idx % qsize] = head;
    barrier();
    avail_idx++;
    avail.idx = avail_idx;
}

static void kick_and_wait(unsigned count)
{
    uint16_t want = used_seen + count;

    barrier();
    mmio_write16(notify + notify_off * notify_mult, 0);
    for (uint64_t spin = 0; *(volatile uint16_t *)&used.idx != want;
         spin++) {
        CHECK(spin < (1ull << 32), "used idx %u, expected %u",
              *(volatile uint16_t *)&used.idx, want);
        CHECK(!(mmio_read8(common + COMMON_STATUS) & S_NEEDS_RESET),
              "device needs a reset");
        cpu_relax();
    }
    used_seen = want;
}

static uint8_t pattern(unsigned n, unsigned i)
{
    return (uint8_t)(n * 31 + i * 7 + (i >> 9));
}

int guest_main(struct multiboot_info *mbi)
{
    uint8_t isr_bits;
    unsigned bad = 0;

    (void)mbi;
    CHECK(find_device(), "no virtio-blk PCI function on bus 0");
    pci_write16(PCI_COMMAND, pci_read16(PCI_COMMAND) | PCI_COMMAND_MEMORY |
                             PCI_COMMAND_MASTER);
    walk_capabilities();
    setup_device();
    (void)mmio_read8(isr);      /* clear anything left */

    /* NREQ writes of 4 KiB in flight together, at sectors 0, 64, ... */
    for (unsigned n = 0; n < NREQ; n++) {
        for (unsigned i = 0; i < REQ_BYTES; i++) {
            wbuf[n][i] = pattern(n, i);
        }
        queue_request(n, BLK_T_OUT, n * 64, wbuf[n], REQ_BYTES, false);
    }
    kick_and_wait(NREQ);
    for (unsigned n = 0; n < NREQ; n++) {
        CHECK(reqs[n].status == BLK_S_OK, "write %u: status %u", n,
              reqs[n].status);
    }
    printf("virtio-blk: %u writes of %u bytes completed\n", NREQ,
           REQ_BYTES);

    queue_request(0, BLK_T_FLUSH, 0, 0, 0, false);
    kick_and_wait(1);
    CHECK(reqs[0].status == BLK_S_OK, "flush: status %u", reqs[0].status);
    printf("virtio-blk: flush ok\n");

    memset(rbuf, 0, sizeof(rbuf));
    for (unsigned n = 0; n < NREQ; n++) {
        queue_request(n, BLK_T_IN, n * 64, rbuf[n], REQ_BYTES, true);
    }
    kick_and_wait(NREQ);
    for (unsigned n = 0; n < NREQ; n++) {
        CHECK(reqs[n].status == BLK_S_OK, "read %u: status %u", n,
              reqs[n].status);
        if (memcmp(rbuf[n], wbuf[n], REQ_BYTES) != 0) {
            bad++;
        }
    }
    CHECK(bad == 0, "%u of %u read-backs differ from what was written",
          bad, NREQ);
    printf("virtio-blk: read back %u requests, data matches\n", NREQ);

    /* Sector 500 was never written: the scratch disk starts zeroed. */
    memset(rbuf[0], 0xaa, 512);
    queue_request(0, BLK_T_IN, 500, rbuf[0], 512, true);
    kick_and_wait(1);
    CHECK(reqs[0].status == BLK_S_OK && rbuf[0][0] == 0 &&
          rbuf[0][511] == 0, "sector 500 is not zero");

    /* The last sector reads; one past it is an error. */
    queue_request(0, BLK_T_IN, DISK_SECTORS - 1, rbuf[0], 512, true);
    queue_request(1, BLK_T_IN, DISK_SECTORS, rbuf[1], 512, true);
    kick_and_wait(2);
    CHECK(reqs[0].status == BLK_S_OK, "last sector: status %u",
          reqs[0].status);
    CHECK(reqs[1].status == BLK_S_IOERR, "past the end: status %u, "
          "expected IOERR", reqs[1].status);
    printf("virtio-blk: read past the end gives IOERR\n");

    isr_bits = mmio_read8(isr);
    CHECK(isr_bits & 1, "ISR 0x%x: queue interrupt bit not set", isr_bits);
    CHECK(mmio_read8(isr) == 0, "ISR not cleared by reading it");
    printf("virtio-blk: ISR queue bit set, cleared on read\n");

    mmio_write8(common + COMMON_STATUS, 0);
    return 0;
}
