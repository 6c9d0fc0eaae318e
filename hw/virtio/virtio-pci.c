/*
 * The virtio PCI transport, modern (virtio 1.2, section 4.1) only.
 *
 * BAR 4 (16 KiB of memory) holds the four structures the vendor
 * capabilities point at:
 *
 *   0x0000 common configuration    (cfg_type 1)
 *   0x1000 ISR status              (cfg_type 3)
 *   0x2000 device configuration    (cfg_type 4)
 *   0x3000 notifications           (cfg_type 2, 4 bytes per queue)
 *
 * plus the PCI configuration access capability (cfg_type 5), a window
 * into the BAR through config space. MSI-X lives in BAR 1; without it, or
 * while the guest leaves MSI-X off, interrupts go through INTA and the ISR.
 *
 * Under KVM a queue's notification register is an ioeventfd while the
 * driver is running (DRIVER_OK) and BAR 4 is mapped: the guest's write
 * signals an eventfd in the kernel and the vCPU goes on, instead of
 * exiting to lemu and waiting for the machine lock. The main loop reads
 * the eventfd and kicks the queue. The notifiers follow BAR moves and go
 * away at reset; any other access still takes the MMIO path.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include "lemu/hw/pci/pci-host.h"
#include "lemu/hw/virtio/virtio-pci.h"
#include "lemu/system/machine.h"
#include "lemu/util/log.h"
#include "lemu/util/main-loop.h"
#include "system/io-dispatch.h"

/* Vendor capability (struct virtio_pci_cap). */
#define VIRTIO_PCI_CAP_CFG_TYPE         3
#define VIRTIO_PCI_CAP_BAR              4
#define VIRTIO_PCI_CAP_ID               5
#define VIRTIO_PCI_CAP_OFFSET           8
#define VIRTIO_PCI_CAP_LENGTH           12
#define VIRTIO_PCI_CAP_SIZE             16
#define VIRTIO_PCI_NOTIFY_CAP_MULT      16  /* notify_off_multiplier */
#define VIRTIO_PCI_NOTIFY_CAP_SIZE      20
#define VIRTIO_PCI_CFG_CAP_DATA         16  /* pci_cfg_data */
#define VIRTIO_PCI_CFG_CAP_SIZE         20

#define VIRTIO_PCI_CAP_COMMON_CFG       1
#define VIRTIO_PCI_CAP_NOTIFY_CFG       2
#define VIRTIO_PCI_CAP_ISR_CFG          3
#define VIRTIO_PCI_CAP_DEVICE_CFG       4
#define VIRTIO_PCI_CAP_PCI_CFG          5

/* Common configuration (struct virtio_pci_common_cfg). */
#define VIRTIO_PCI_COMMON_DFSELECT      0x00
#define VIRTIO_PCI_COMMON_DF            0x04
#define VIRTIO_PCI_COMMON_GFSELECT      0x08
#define VIRTIO_PCI_COMMON_GF            0x0c
#define VIRTIO_PCI_COMMON_MSIX          0x10
#define VIRTIO_PCI_COMMON_NUMQ          0x12
#define VIRTIO_PCI_COMMON_STATUS        0x14
#define VIRTIO_PCI_COMMON_CFGGENERATION 0x15
#define VIRTIO_PCI_COMMON_Q_SELECT      0x16
#define VIRTIO_PCI_COMMON_Q_SIZE        0x18
#define VIRTIO_PCI_COMMON_Q_MSIX        0x1a
#define VIRTIO_PCI_COMMON_Q_ENABLE      0x1c
#define VIRTIO_PCI_COMMON_Q_NOFF        0x1e
#define VIRTIO_PCI_COMMON_Q_DESCLO      0x20
#define VIRTIO_PCI_COMMON_Q_DESCHI      0x24
#define VIRTIO_PCI_COMMON_Q_AVAILLO     0x28
#define VIRTIO_PCI_COMMON_Q_AVAILHI     0x2c
#define VIRTIO_PCI_COMMON_Q_USEDLO      0x30
#define VIRTIO_PCI_COMMON_Q_USEDHI      0x34
#define VIRTIO_PCI_COMMON_SIZE          0x38

/* Layout of BAR 4. */
#define VIRTIO_PCI_BAR                  4
#define VIRTIO_PCI_BAR_SIZE             0x4000
#define VIRTIO_PCI_REGION_SIZE          0x1000
#define VIRTIO_PCI_COMMON_OFFSET        0x0000
#define VIRTIO_PCI_ISR_OFFSET           0x1000
#define VIRTIO_PCI_DEVICE_OFFSET        0x2000
#define VIRTIO_PCI_NOTIFY_OFFSET        0x3000
#define VIRTIO_PCI_NOTIFY_MULTIPLIER    4
#define VIRTIO_PCI_MSIX_BAR             1
#define VIRTIO_PCI_REVISION             1

#define VIRTIO_ISR_QUEUE                0x1
#define VIRTIO_ISR_CONFIG               0x2

static VirtIOPCIProxy *to_proxy(PciDevice *d)
{
    return (VirtIOPCIProxy *)d;     /* pci is the first member */
}

static VirtQueue *selected_queue(VirtIOPCIProxy *p)
{
    return virtio_get_queue(p->vdev, p->queue_select);
}

/* A vector the guest wrote: kept when it exists, else NO_VECTOR, which
 * the driver reads back to learn the assignment failed (4.1.5.1.2). */
static uint16_t checked_vector(VirtIOPCIProxy *p, uint16_t vector)
{
    if (vector != VIRTIO_NO_VECTOR && vector >= p->nvectors) {
        lemu_log_mask(LOG_GUEST_ERROR, "%s: MSI-X vector %u out of range "
                      "(%u vectors)\n", p->pci.name, vector, p->nvectors);
        return VIRTIO_NO_VECTOR;
    }
    return vector;
}

/* ---- interrupts --------------------------------------------------------- */

static void virtio_pci_notify(void *opaque, uint16_t vector)
{
    VirtIOPCIProxy *p = opaque;

    if (msix_enable_bit_set(&p->pci)) {
        if (vector != VIRTIO_NO_VECTOR && vector < p->nvectors) {
            msix_notify(&p->pci, vector);
        }
        return;
    }
    /* INTx: the core set the ISR bit; an ISR read lowers the line. */
    if (p->vdev->isr) {
        p->intx_pending = 1;
        pci_set_irq(&p->pci, 1);
    }
}

static void virtio_pci_update_notifiers(VirtIOPCIProxy *p);

static const VirtioTransportOps virtio_pci_transport_ops = {
    .notify = virtio_pci_notify,
};

/* ---- common configuration ---------------------------------------------- */

/* Width of the field at @offset, 0 where no field starts. */
static unsigned common_field_size(uint64_t offset)
{
    switch (offset) {
    case VIRTIO_PCI_COMMON_DFSELECT:
    case VIRTIO_PCI_COMMON_DF:
    case VIRTIO_PCI_COMMON_GFSELECT:
    case VIRTIO_PCI_COMMON_GF:
    case VIRTIO_PCI_COMMON_Q_DESCLO:
    case VIRTIO_PCI_COMMON_Q_DESCHI:
    case VIRTIO_PCI_COMMON_Q_AVAILLO:
    case VIRTIO_PCI_COMMON_Q_AVAILHI:
    case VIRTIO_PCI_COMMON_Q_USEDLO:
    case VIRTIO_PCI_COMMON_Q_USEDHI:
        return 4;
    case VIRTIO_PCI_COMMON_MSIX:
    case VIRTIO_PCI_COMMON_NUMQ:
    case VIRTIO_PCI_COMMON_Q_SELECT:
    case VIRTIO_PCI_COMMON_Q_SIZE:
    case VIRTIO_PCI_COMMON_Q_MSIX:
    case VIRTIO_PCI_COMMON_Q_ENABLE:
    case VIRTIO_PCI_COMMON_Q_NOFF:
        return 2;
    case VIRTIO_PCI_COMMON_STATUS:
    case VIRTIO_PCI_COMMON_CFGGENERATION:
        return 1;
    }
    return 0;
}

/* The driver accesses each field with its own width (4.1.3.1). */
static bool common_access_ok(VirtIOPCIProxy *p, uint64_t offset,
                             unsigned size, const char *what)
{
    if (common_field_size(offset) == size) {
        return true;
    }
    lemu_log_mask(LOG_GUEST_ERROR, "%s: %u-byte %s of common config offset "
                  "0x%" G_GINT64_MODIFIER "x ignored (no field of that "
                  "width there)\n", p->pci.name, size, what, offset);
    return false;
}

static uint64_t virtio_pci_common_read(VirtIOPCIProxy *p, uint64_t offset,
                                       unsigned size)
{
    VirtIODevice *vdev = p->vdev;
    VirtQueue *vq = selected_queue(p);
    uint64_t desc = 0, avail = 0, used = 0;

    if (!common_access_ok(p, offset, size, "read")) {
        return 0;
    }
    if (vq) {
        virtio_queue_get_addrs(vq, &desc, &avail, &used);
    }
    switch (offset) {
    case VIRTIO_PCI_COMMON_DFSELECT:
        return p->device_feature_select;
    case VIRTIO_PCI_COMMON_DF:
        return p->device_feature_select < 2 ?
               (uint32_t)(vdev->host_features >>
                          (32 * p->device_feature_select)) : 0;
    case VIRTIO_PCI_COMMON_GFSELECT:
        return p->driver_feature_select;
    case VIRTIO_PCI_COMMON_GF:
        return p->driver_feature_select < 2 ?
               (uint32_t)(vdev->guest_features >>
                          (32 * p->driver_feature_select)) : 0;
    case VIRTIO_PCI_COMMON_MSIX:
        return vdev->config_vector;
    case VIRTIO_PCI_COMMON_NUMQ:
        return vdev->num_queues;
    case VIRTIO_PCI_COMMON_STATUS:
        return vdev->status;
    case VIRTIO_PCI_COMMON_CFGGENERATION:
        return vdev->config_generation & 0xff;
    case VIRTIO_PCI_COMMON_Q_SELECT:
        return p->queue_select;
    case VIRTIO_PCI_COMMON_Q_SIZE:
        return vq ? virtio_queue_get_num(vq) : 0;   /* 0: no such queue */
    case VIRTIO_PCI_COMMON_Q_MSIX:
        return vq ? virtio_queue_vector(vq) : VIRTIO_NO_VECTOR;
    case VIRTIO_PCI_COMMON_Q_ENABLE:
        return vq ? virtio_queue_enabled(vq) : 0;
    case VIRTIO_PCI_COMMON_Q_NOFF:
        return vq ? p->queue_select : 0;
    case VIRTIO_PCI_COMMON_Q_DESCLO:
        return (uint32_t)desc;
    case VIRTIO_PCI_COMMON_Q_DESCHI:
        return (uint32_t)(desc >> 32);
    case VIRTIO_PCI_COMMON_Q_AVAILLO:
        return (uint32_t)avail;
    case VIRTIO_PCI_COMMON_Q_AVAILHI:
        return (uint32_t)(avail >> 32);
    case VIRTIO_PCI_COMMON_Q_USEDLO:
        return (uint32_t)used;
    case VIRTIO_PCI_COMMON_Q_USEDHI:
        return (uint32_t)(used >> 32);
    }
    return 0;
}

/* Sets the low or high half of a queue address. */
static uint64_t set_half(uint64_t old, bool high, uint32_t v)
{
    return high ? (old & 0xffffffffULL) | ((uint64_t)v << 32)
                : (old & ~0xffffffffULL) | v;
}

static void virtio_pci_queue_write(VirtIOPCIProxy *p, uint64_t offset,
                                   uint32_t val)
{
    VirtQueue *vq = selected_queue(p);
    uint64_t desc, avail, used;
    bool high;

    if (!vq) {
        lemu_log_mask(LOG_GUEST_ERROR, "%s: write to the registers of "
                      "queue %u, which does not exist\n", p->pci.name,
                      p->queue_select);
        return;
    }
    if (offset == VIRTIO_PCI_COMMON_Q_MSIX) {
        virtio_queue_set_vector(vq, checked_vector(p, (uint16_t)val));
        return;
    }
    /* Size and addresses are fixed once the queue is enabled. */
    if (virtio_queue_enabled(vq)) {
        lemu_log_mask(LOG_GUEST_ERROR, "%s: queue %u is enabled; write to "
                      "common config 0x%x ignored\n", p->pci.name,
                      p->queue_select, (unsigned)offset);
        return;
    }
    virtio_queue_get_addrs(vq, &desc, &avail, &used);
    high = offset & 4;
    switch (offset) {
    case VIRTIO_PCI_COMMON_Q_SIZE:
        virtio_queue_set_num(vq, (uint16_t)val);
        return;
    case VIRTIO_PCI_COMMON_Q_ENABLE:
        if (val == 1) {
            virtio_queue_set_enabled(vq, true);
        } else {
            lemu_log_mask(LOG_GUEST_ERROR, "%s: queue_enable written with "
                          "%u, expected 1\n", p->pci.name, val);
        }
        return;
    case VIRTIO_PCI_COMMON_Q_DESCLO:
    case VIRTIO_PCI_COMMON_Q_DESCHI:
        desc = set_half(desc, high, val);
        break;
    case VIRTIO_PCI_COMMON_Q_AVAILLO:
    case VIRTIO_PCI_COMMON_Q_AVAILHI:
        avail = set_half(avail, high, val);
        break;
    case VIRTIO_PCI_COMMON_Q_USEDLO:
    case VIRTIO_PCI_COMMON_Q_USEDHI:
        used = set_half(used, high, val);
        break;
    default:
        return;
    }
    virtio_queue_set_addrs(vq, desc, avail, used);
}

static void virtio_pci_reset_transport(VirtIOPCIProxy *p)
{
    p->device_feature_select = 0;
    p->driver_feature_select = 0;
    p->queue_select = 0;
    p->intx_pending = 0;
    pci_set_irq(&p->pci, 0);
}

static void virtio_pci_common_write(VirtIOPCIProxy *p, uint64_t offset,
                                    uint32_t val, unsigned size)
{
    VirtIODevice *vdev = p->vdev;
    unsigned shift;

    if (!common_access_ok(p, offset, size, "write")) {
        return;
    }
    switch (offset) {
    case VIRTIO_PCI_COMMON_DFSELECT:
        p->device_feature_select = val;
        break;
    case VIRTIO_PCI_COMMON_GFSELECT:
        p->driver_feature_select = val;
        break;
    case VIRTIO_PCI_COMMON_GF:
        if (p->driver_feature_select >= 2) {
            break;
        }
        if (vdev->status & VIRTIO_CONFIG_S_FEATURES_OK) {
            lemu_log_mask(LOG_GUEST_ERROR, "%s: driver features written "
                          "after FEATURES_OK, ignored\n", p->pci.name);
            break;
        }
        shift = 32 * p->driver_feature_select;
        vdev->guest_features = (vdev->guest_features &
                                ~(0xffffffffULL << shift)) |
                               ((uint64_t)val << shift);
        break;
    case VIRTIO_PCI_COMMON_MSIX:
        vdev->config_vector = checked_vector(p, (uint16_t)val);
        break;
    case VIRTIO_PCI_COMMON_STATUS:
        virtio_set_status(vdev, (uint8_t)val);
        if (vdev->status == 0) {
            virtio_pci_reset_transport(p);
        }
        virtio_pci_update_notifiers(p);
        break;
    case VIRTIO_PCI_COMMON_Q_SELECT:
        p->queue_select = (uint16_t)val;
        break;
    case VIRTIO_PCI_COMMON_Q_SIZE:
    case VIRTIO_PCI_COMMON_Q_MSIX:
    case VIRTIO_PCI_COMMON_Q_ENABLE:
    case VIRTIO_PCI_COMMON_Q_DESCLO:
    case VIRTIO_PCI_COMMON_Q_DESCHI:
    case VIRTIO_PCI_COMMON_Q_AVAILLO:
    case VIRTIO_PCI_COMMON_Q_AVAILHI:
    case VIRTIO_PCI_COMMON_Q_USEDLO:
    case VIRTIO_PCI_COMMON_Q_USEDHI:
        virtio_pci_queue_write(p, offset, val);
        if (offset == VIRTIO_PCI_COMMON_Q_ENABLE) {
            virtio_pci_update_notifiers(p);
        }
        break;
    default:
        lemu_log_mask(LOG_GUEST_ERROR, "%s: write to read-only common "
                      "config offset 0x%x ignored\n", p->pci.name,
                      (unsigned)offset);
        break;
    }
}

/* ---- the other structures ---------------------------------------------- */

static uint64_t virtio_pci_isr_read(VirtIOPCIProxy *p, uint64_t offset)
{
    uint8_t isr;

    if (offset != 0) {
        return 0;
    }
    /* Reading acknowledges: clears the bits and lowers INTx (4.1.4.5). */
    isr = p->vdev->isr;
    p->vdev->isr = 0;
    p->intx_pending = 0;
    pci_set_irq(&p->pci, 0);
    return isr;
}

static uint64_t virtio_pci_device_read(VirtIOPCIProxy *p, uint64_t offset,
                                       unsigned size)
{
    VirtIODevice *vdev = p->vdev;
    uint64_t v = 0;

    if (offset >= vdev->config_len || size > vdev->config_len - offset) {
        return 0;
    }
    if (vdev->ops && vdev->ops->get_config) {
        vdev->ops->get_config(vdev, vdev->config);
    }
    for (unsigned i = 0; i < size; i++) {
        v |= (uint64_t)vdev->config[offset + i] << (8 * i);
    }
    return v;
}

static void virtio_pci_device_write(VirtIOPCIProxy *p, uint64_t offset,
                                    uint64_t val, unsigned size)
{
    VirtIODevice *vdev = p->vdev;

    if (offset >= vdev->config_len || size > vdev->config_len - offset) {
        lemu_log_mask(LOG_GUEST_ERROR, "%s: device config write at 0x%x "
                      "outside its %zu bytes ignored\n", p->pci.name,
                      (unsigned)offset, vdev->config_len);
        return;
    }
    if (vdev->ops && vdev->ops->get_config) {
        vdev->ops->get_config(vdev, vdev->config);
    }
    for (unsigned i = 0; i < size; i++) {
        vdev->config[offset + i] = (uint8_t)(val >> (8 * i));
    }
    if (vdev->ops && vdev->ops->set_config) {
        vdev->ops->set_config(vdev, vdev->config);
    }
}

static void virtio_pci_notify_write(VirtIOPCIProxy *p, uint64_t offset)
{
    unsigned queue = (unsigned)(offset / VIRTIO_PCI_NOTIFY_MULTIPLIER);

    /* The rings are reached by bus-master DMA. */
    if (!(pci_get_word(p->pci.config + PCI_COMMAND) & PCI_COMMAND_MASTER)) {
        lemu_log_mask(LOG_GUEST_ERROR, "%s: queue %u notified while bus "
                      "mastering is off, ignored\n", p->pci.name, queue);
        return;
    }
    virtio_queue_notify(p->vdev, queue);
}

/* ---- notifications through ioeventfds ----------------------------------- */

/* Width of the driver's notification writes (virtio 1.2, 4.1.5.2). */
#define VIRTIO_PCI_NOTIFY_WIDTH 2

static void virtio_pci_notifier_ready(void *opaque, int fd,
                                      GIOCondition ready)
{
    VirtIOPCINotifier *n = opaque;
    uint64_t count;

    if (read(fd, &count, sizeof(count)) == sizeof(count)) {
        virtio_pci_notify_write(n->proxy,
                                n->queue * VIRTIO_PCI_NOTIFY_MULTIPLIER);
    }
}

static bool virtio_pci_notifier_attach(VirtIOPCIProxy *p,
                                       VirtIOPCINotifier *n, uint64_t addr)
{
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

    if (fd < 0) {
        warn_report("%s: no eventfd for queue %u (%s): notifications take "
                    "the MMIO path", p->pci.name, n->queue,
                    g_strerror(errno));
        return false;
    }
    if (!machine_set_ioeventfd(p->machine, addr, VIRTIO_PCI_NOTIFY_WIDTH, fd,
                               true)) {
        close(fd);
        return false;
    }
    n->fd = fd;
    n->addr = addr;
    n->handler = main_loop_add_fd(p->machine->loop, fd, G_IO_IN,
                                  virtio_pci_notifier_ready, n);
    return true;
}

/* @deliver: a notification the guest sent before the detach still counts
 * (the register moves); at reset it is dropped. */
static void virtio_pci_notifier_detach(VirtIOPCIProxy *p,
                                       VirtIOPCINotifier *n, bool deliver)
{
    uint64_t count;

    if (n->fd < 0) {
        return;
    }
    machine_set_ioeventfd(p->machine, n->addr, VIRTIO_PCI_NOTIFY_WIDTH,
                          n->fd, false);
    fd_handler_remove(n->handler);
    n->handler = NULL;
    if (read(n->fd, &count, sizeof(count)) == sizeof(count) && deliver) {
        virtio_pci_notify_write(p, n->queue * VIRTIO_PCI_NOTIFY_MULTIPLIER);
    }
    close(n->fd);
    n->fd = -1;
}

/* Brings the notifiers in line with the device: attached, at the current
 * address of their register, for every enabled queue of a running driver
 * while BAR 4 is mapped; detached otherwise. Called after everything that
 * changes one of those. */
static void virtio_pci_update_notifiers(VirtIOPCIProxy *p)
{
    VirtIODevice *vdev = p->vdev;
    uint64_t base = p->pci.bars[VIRTIO_PCI_BAR].addr;
    bool running = p->notifiers && vdev &&
                   (vdev->status & VIRTIO_CONFIG_S_DRIVER_OK) &&
                   base != PCI_BAR_UNMAPPED;

    for (unsigned q = 0; p->notifiers && q < vdev->num_queues; q++) {
        VirtIOPCINotifier *n = &p->notifiers[q];
        VirtQueue *vq = virtio_get_queue(vdev, q);
        uint64_t addr = base + VIRTIO_PCI_NOTIFY_OFFSET +
                        q * VIRTIO_PCI_NOTIFY_MULTIPLIER;
        bool want = running && p->use_ioeventfd && vq &&
                    virtio_queue_enabled(vq);

        if (n->fd >= 0 && (!want || n->addr != addr)) {
            virtio_pci_notifier_detach(p, n, running);
        }
        if (want && n->fd < 0 && !virtio_pci_notifier_attach(p, n, addr)) {
            /* The host refused: the MMIO path serves from now on. */
            p->use_ioeventfd = false;
        }
    }
}

static uint64_t virtio_pci_bar_read(void *opaque, uint64_t addr,
                                    unsigned size)
{
    VirtIOPCIProxy *p = opaque;
    uint64_t offset = addr % VIRTIO_PCI_REGION_SIZE;

    switch (addr - offset) {
    case VIRTIO_PCI_COMMON_OFFSET:
        return offset < VIRTIO_PCI_COMMON_SIZE ?
               virtio_pci_common_read(p, offset, size) : 0;
    case VIRTIO_PCI_ISR_OFFSET:
        return virtio_pci_isr_read(p, offset);
    case VIRTIO_PCI_DEVICE_OFFSET:
        return virtio_pci_device_read(p, offset, size);
    }
    return 0;       /* notify reads as zero */
}

static void virtio_pci_bar_write(void *opaque, uint64_t addr, uint64_t val,
                                 unsigned size)
{
    VirtIOPCIProxy *p = opaque;
    uint64_t offset = addr % VIRTIO_PCI_REGION_SIZE;

    switch (addr - offset) {
    case VIRTIO_PCI_COMMON_OFFSET:
        if (offset < VIRTIO_PCI_COMMON_SIZE) {
            virtio_pci_common_write(p, offset, (uint32_t)val, size);
        }
        break;
    case VIRTIO_PCI_DEVICE_OFFSET:
        virtio_pci_device_write(p, offset, val, size);
        break;
    case VIRTIO_PCI_NOTIFY_OFFSET:
        virtio_pci_notify_write(p, offset);
        break;
    default:
        break;      /* the ISR is read-only */
    }
}

static const IoOps virtio_pci_bar_ops = {
    .read = virtio_pci_bar_read,
    .write = virtio_pci_bar_write,
    .impl_min = 1,
    .impl_max = 4,
};

/* ---- PCI configuration access capability (4.1.4.9) --------------------- */

/* The window's target: false when the driver set it up wrongly. */
static bool pci_cfg_target(VirtIOPCIProxy *p, PciBar **bar, uint32_t *off,
                           uint32_t *len)
{
    const uint8_t *cap = p->pci.config + p->pci_cfg_cap;
    uint8_t b = cap[VIRTIO_PCI_CAP_BAR];

    *off = pci_get_long(cap + VIRTIO_PCI_CAP_OFFSET);
    *len = pci_get_long(cap + VIRTIO_PCI_CAP_LENGTH);
    if (b >= PCI_NUM_BARS || !p->pci.bars[b].size || !p->pci.bars[b].ops ||
        (*len != 1 && *len != 2 && *len != 4) || *off % *len ||
        *off >= p->pci.bars[b].size ||
        *len > p->pci.bars[b].size - *off) {
        lemu_log_mask(LOG_GUEST_ERROR, "%s: PCI cfg access to BAR %u offset "
                      "0x%x length %u is not valid\n", p->pci.name, b, *off,
                      *len);
        return false;
    }
    *bar = &p->pci.bars[b];
    return true;
}

static bool touches_cfg_data(VirtIOPCIProxy *p, unsigned addr, unsigned len)
{
    unsigned data = p->pci_cfg_cap + VIRTIO_PCI_CFG_CAP_DATA;

    return p->pci_cfg_cap && addr < data + 4 && data < addr + len;
}

static void virtio_pci_config_read(PciDevice *d, uint8_t addr, unsigned len)
{
    VirtIOPCIProxy *p = to_proxy(d);
    uint8_t *data = d->config + p->pci_cfg_cap + VIRTIO_PCI_CFG_CAP_DATA;
    PciBar *bar;
    uint32_t off, n;

    if (!touches_cfg_data(p, addr, len) ||
        !pci_cfg_target(p, &bar, &off, &n)) {
        return;
    }
    pci_set_long(data, (uint32_t)io_dispatch_read(bar->ops, bar->opaque,
                                                  bar->size, off, n));
}

static void virtio_pci_config_written(PciDevice *d, uint8_t addr,
                                      uint32_t val, unsigned len)
{
    VirtIOPCIProxy *p = to_proxy(d);
    uint8_t *data = d->config + p->pci_cfg_cap + VIRTIO_PCI_CFG_CAP_DATA;
    PciBar *bar;
    uint32_t off, n;

    /* BAR 4 may have moved, or memory decoding changed. */
    virtio_pci_update_notifiers(p);
    if (!touches_cfg_data(p, addr, len) ||
        !pci_cfg_target(p, &bar, &off, &n)) {
        return;
    }
    io_dispatch_write(bar->ops, bar->opaque, bar->size, off, n,
                      pci_get_long(data));
}

/* ---- set up ------------------------------------------------------------ */

static uint8_t add_virtio_cap(PciDevice *d, uint8_t cfg_type, uint8_t size,
                              uint32_t offset, uint32_t length)
{
    uint8_t cap = pci_add_capability(d, PCI_CAP_ID_VNDR, size);

    if (!cap) {
        return 0;
    }
    d->config[cap + 2] = size;                      /* cap_len */
    d->config[cap + VIRTIO_PCI_CAP_CFG_TYPE] = cfg_type;
    d->config[cap + VIRTIO_PCI_CAP_BAR] = VIRTIO_PCI_BAR;
    d->config[cap + VIRTIO_PCI_CAP_ID] = 0;
    pci_set_long(d->config + cap + VIRTIO_PCI_CAP_OFFSET, offset);
    pci_set_long(d->config + cap + VIRTIO_PCI_CAP_LENGTH, length);
    return cap;
}

bool virtio_pci_realize(VirtIOPCIProxy *proxy, Machine *m,
                        VirtIODevice *vdev, const char *name, int devfn,
                        uint32_t class_code, unsigned nvectors,
                        GError **errp)
{
    PciDevice *d = &proxy->pci;
    PciBus *bus = m->pci_bus ? m->pci_bus : pci_host_bus(m);
    uint16_t device_id = PCI_DEVICE_ID_VIRTIO_MODERN(vdev->device_id);
    uint8_t notify, cfg;

    if (!bus) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: this machine has no PCI bus to plug it in", name);
        return false;
    }
    if (vdev->num_queues * VIRTIO_PCI_NOTIFY_MULTIPLIER >
        VIRTIO_PCI_REGION_SIZE || vdev->config_len > VIRTIO_PCI_REGION_SIZE) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: %u queues and %zu bytes of config do not fit the "
                    "transport (at most 1024 and 4096)", name,
                    vdev->num_queues, vdev->config_len);
        return false;
    }
    pci_config_init(d, name, PCI_VENDOR_ID_REDHAT_QUMRANET, device_id,
                    VIRTIO_PCI_REVISION, class_code, PCI_HEADER_TYPE_NORMAL);
    pci_set_word(d->config + PCI_SUBSYSTEM_VENDOR_ID,
                 PCI_SUBSYSTEM_VENDOR_ID_REDHAT);
    pci_set_word(d->config + PCI_SUBSYSTEM_ID, device_id);
    d->config[PCI_INTERRUPT_PIN] = 1;               /* INTA */
    d->config_read = virtio_pci_config_read;
    d->config_written = virtio_pci_config_written;

    proxy->machine = m;
    proxy->vdev = vdev;
    proxy->nvectors = nvectors;
    proxy->device_feature_select = 0;
    proxy->driver_feature_select = 0;
    proxy->queue_select = 0;
    proxy->intx_pending = 0;
    vdev->transport = &virtio_pci_transport_ops;
    vdev->transport_opaque = proxy;

    add_virtio_cap(d, VIRTIO_PCI_CAP_COMMON_CFG, VIRTIO_PCI_CAP_SIZE,
                   VIRTIO_PCI_COMMON_OFFSET, VIRTIO_PCI_COMMON_SIZE);
    add_virtio_cap(d, VIRTIO_PCI_CAP_ISR_CFG, VIRTIO_PCI_CAP_SIZE,
                   VIRTIO_PCI_ISR_OFFSET, 1);
    if (vdev->config_len) {
        add_virtio_cap(d, VIRTIO_PCI_CAP_DEVICE_CFG, VIRTIO_PCI_CAP_SIZE,
                       VIRTIO_PCI_DEVICE_OFFSET, (uint32_t)vdev->config_len);
    }
    notify = add_virtio_cap(d, VIRTIO_PCI_CAP_NOTIFY_CFG,
                            VIRTIO_PCI_NOTIFY_CAP_SIZE,
                            VIRTIO_PCI_NOTIFY_OFFSET,
                            MAX(vdev->num_queues, 1u) *
                            VIRTIO_PCI_NOTIFY_MULTIPLIER);
    pci_set_long(d->config + notify + VIRTIO_PCI_NOTIFY_CAP_MULT,
                 VIRTIO_PCI_NOTIFY_MULTIPLIER);
    cfg = add_virtio_cap(d, VIRTIO_PCI_CAP_PCI_CFG, VIRTIO_PCI_CFG_CAP_SIZE,
                         0, 0);
    /* The driver picks the window's BAR, offset, length and data. */
    d->wmask[cfg + VIRTIO_PCI_CAP_BAR] = 0xff;
    memset(d->wmask + cfg + VIRTIO_PCI_CAP_OFFSET, 0xff, 4);
    memset(d->wmask + cfg + VIRTIO_PCI_CAP_LENGTH, 0xff, 4);
    memset(d->wmask + cfg + VIRTIO_PCI_CFG_CAP_DATA, 0xff, 4);
    proxy->pci_cfg_cap = cfg;

    pci_register_bar(d, VIRTIO_PCI_BAR, 0, VIRTIO_PCI_BAR_SIZE,
                     &virtio_pci_bar_ops, proxy);
    if (nvectors &&
        !msix_init_exclusive_bar(d, nvectors, VIRTIO_PCI_MSIX_BAR, errp)) {
        return false;
    }
    if (!pci_bus_attach(bus, d, devfn, errp)) {
        msix_uninit(d);
        return false;
    }
    if (proxy->use_ioeventfd && machine_has_ioeventfd(m)) {
        proxy->notifiers = g_new0(VirtIOPCINotifier, vdev->num_queues);
        for (unsigned q = 0; q < vdev->num_queues; q++) {
            proxy->notifiers[q].proxy = proxy;
            proxy->notifiers[q].queue = q;
            proxy->notifiers[q].fd = -1;
        }
    }
    return true;
}

static void virtio_pci_free_notifiers(VirtIOPCIProxy *proxy)
{
    for (unsigned q = 0; proxy->notifiers && q < proxy->vdev->num_queues;
         q++) {
        virtio_pci_notifier_detach(proxy, &proxy->notifiers[q], false);
    }
    g_clear_pointer(&proxy->notifiers, g_free);
}

void virtio_pci_unrealize(VirtIOPCIProxy *proxy)
{
    if (proxy->vdev) {
        virtio_pci_free_notifiers(proxy);
    }
    pci_set_irq(&proxy->pci, 0);
    pci_bus_detach(&proxy->pci);
    msix_uninit(&proxy->pci);
    if (proxy->vdev) {
        proxy->vdev->transport = NULL;
        proxy->vdev->transport_opaque = NULL;
    }
}

void virtio_pci_reset(VirtIOPCIProxy *proxy)
{
    if (proxy->vdev) {
        virtio_reset(proxy->vdev);
    }
    virtio_pci_reset_transport(proxy);
    pci_device_reset(&proxy->pci);
    virtio_pci_update_notifiers(proxy);
}
