/*
 * The virtio core: device status, feature negotiation and split
 * virtqueues (virtio 1.2, section 2.7), independent of the transport.
 *
 * The rings live in guest RAM and the driver changes them concurrently, so
 * every field is read once into a local before it is checked, every ring
 * and buffer address is range-checked against the memory map, and the
 * orderings the spec requires are explicit fences: read avail idx, then
 * the entries it covers; write the used entry, then used idx; write used
 * idx, then read the driver's used_event/flags.
 */
#include <stdarg.h>
#include <string.h>
#include "lemu/accel/interp.h"
#include "lemu/hw/virtio/virtio.h"
#include "lemu/system/machine.h"
#include "lemu/util/log.h"

/* Split ring layout (2.7.5-2.7.8). */
#define VRING_DESC_SIZE         16
#define VRING_DESC_ADDR         0
#define VRING_DESC_LEN          8
#define VRING_DESC_FLAGS        12
#define VRING_DESC_NEXT         14
#define VRING_AVAIL_FLAGS       0
#define VRING_AVAIL_IDX         2
#define VRING_AVAIL_RING        4       /* then used_event */
#define VRING_USED_FLAGS        0
#define VRING_USED_IDX          2
#define VRING_USED_RING         4       /* then avail_event */
#define VRING_USED_ELEM_SIZE    8
/* Alignment the spec requires of each part. */
#define VRING_DESC_ALIGN        16
#define VRING_AVAIL_ALIGN       2
#define VRING_USED_ALIGN        4

struct VirtQueue {
    VirtIODevice *vdev;
    unsigned index;
    unsigned num;               /* size the driver chose */
    unsigned num_max;
    uint64_t desc, avail, used; /* guest physical addresses */
    bool enabled;
    uint16_t vector;
    uint16_t last_avail_idx;    /* next avail ring entry to take */
    uint16_t used_idx;          /* what used idx holds */
    uint16_t signalled_used;    /* used idx at the last interrupt */
    bool signalled_used_valid;
    bool notification;          /* driver notifications wanted */
    unsigned inuse;             /* popped, not yet pushed */
    /* Scratch for walking a chain (under the machine lock). */
    struct iovec *walk_iov;
    uint64_t *walk_addr;
};

/* An element and where its device-writable buffers are in the guest, for
 * telling the interpreter what the device wrote. */
typedef struct VirtQueueElementPriv {
    VirtQueueElement elem;
    uint64_t *in_addr;
} VirtQueueElementPriv;

/* ---- guest memory ------------------------------------------------------ */

static void virtio_ram_written(Machine *m, uint64_t gpa, uint64_t len)
{
    if (len && m && m->accel == &interp_accel_ops && m->accel_state) {
        interp_notify_ram_written(m->accel_state, gpa, len);
    }
}

static void *virtio_ram_ptr(VirtIODevice *vdev, uint64_t gpa, uint64_t len)
{
    if (!vdev->machine || gpa + len < gpa) {
        return NULL;
    }
    return memory_map_ram_ptr(vdev->machine->mem, gpa, len, false);
}

static uint16_t ld16(const void *p)
{
    return GUINT16_FROM_LE(__atomic_load_n((const uint16_t *)p,
                                           __ATOMIC_RELAXED));
}

static void st16(void *p, uint16_t v)
{
    __atomic_store_n((uint16_t *)p, GUINT16_TO_LE(v), __ATOMIC_RELAXED);
}

static uint32_t ld32(const void *p)
{
    uint32_t v;

    memcpy(&v, p, sizeof(v));
    return GUINT32_FROM_LE(v);
}

static void st32(void *p, uint32_t v)
{
    v = GUINT32_TO_LE(v);
    memcpy(p, &v, sizeof(v));
}

static uint64_t ld64(const void *p)
{
    uint64_t v;

    memcpy(&v, p, sizeof(v));
    return GUINT64_FROM_LE(v);
}

/* The three parts of @vq's ring as host pointers; false (and the device
 * broken) when one is misaligned or not in RAM. */
typedef struct VRingPtrs {
    uint8_t *desc, *avail, *used;
} VRingPtrs;

static bool vring_map(VirtQueue *vq, VRingPtrs *r)
{
    VirtIODevice *vdev = vq->vdev;
    uint64_t n = vq->num;
    bool event_idx = virtio_has_feature(vdev, VIRTIO_RING_F_EVENT_IDX);

    if ((vq->desc & (VRING_DESC_ALIGN - 1)) ||
        (vq->avail & (VRING_AVAIL_ALIGN - 1)) ||
        (vq->used & (VRING_USED_ALIGN - 1))) {
        virtio_error(vdev, "queue %u: ring addresses 0x%" G_GINT64_MODIFIER
                     "x/0x%" G_GINT64_MODIFIER "x/0x%" G_GINT64_MODIFIER
                     "x are not aligned to 16/2/4", vq->index, vq->desc,
                     vq->avail, vq->used);
        return false;
    }
    r->desc = virtio_ram_ptr(vdev, vq->desc, n * VRING_DESC_SIZE);
    r->avail = virtio_ram_ptr(vdev, vq->avail,
                              VRING_AVAIL_RING + 2 * n + (event_idx ? 2 : 0));
    r->used = virtio_ram_ptr(vdev, vq->used, VRING_USED_RING +
                             VRING_USED_ELEM_SIZE * n + (event_idx ? 2 : 0));
    if (!r->desc || !r->avail || !r->used) {
        virtio_error(vdev, "queue %u: ring (desc 0x%" G_GINT64_MODIFIER
                     "x, avail 0x%" G_GINT64_MODIFIER "x, used 0x%"
                     G_GINT64_MODIFIER "x, size %u) is not in guest RAM",
                     vq->index, vq->desc, vq->avail, vq->used, vq->num);
        return false;
    }
    return true;
}

/* avail_event, after the used ring (EVENT_IDX only). */
static void vring_set_avail_event(VirtQueue *vq, VRingPtrs *r, uint16_t v)
{
    uint64_t off = VRING_USED_RING + VRING_USED_ELEM_SIZE * (uint64_t)vq->num;

    st16(r->used + off, v);
    virtio_ram_written(vq->vdev->machine, vq->used + off, 2);
}

static bool vq_ready(VirtQueue *vq)
{
    return vq->enabled && vq->num && !vq->vdev->broken;
}

/* ---- device ------------------------------------------------------------ */

static void virtio_queue_reset(VirtQueue *vq)
{
    vq->num = vq->num_max;
    vq->desc = vq->avail = vq->used = 0;
    vq->enabled = false;
    vq->vector = VIRTIO_NO_VECTOR;
    vq->last_avail_idx = 0;
    vq->used_idx = 0;
    vq->signalled_used = 0;
    vq->signalled_used_valid = false;
    vq->notification = true;
    vq->inuse = 0;
}

void virtio_init(VirtIODevice *vdev, Machine *m, const char *name,
                 uint16_t device_id, uint64_t features, size_t config_len,
                 unsigned num_queues, unsigned queue_max_size,
                 const VirtioDeviceOps *ops)
{
    g_assert(queue_max_size && queue_max_size <= VIRTQUEUE_MAX_SIZE &&
             !(queue_max_size & (queue_max_size - 1)));
    vdev->name = name;
    vdev->device_id = device_id;
    vdev->machine = m;
    vdev->ops = ops;
    vdev->host_features = features | (1ULL << VIRTIO_F_VERSION_1) |
                          (1ULL << VIRTIO_RING_F_INDIRECT_DESC) |
                          (1ULL << VIRTIO_RING_F_EVENT_IDX);
    vdev->config_len = config_len;
    vdev->config = g_malloc0(MAX(config_len, 1));
    vdev->num_queues = num_queues;
    vdev->vq = g_new0(VirtQueue, MAX(num_queues, 1));
    for (unsigned i = 0; i < num_queues; i++) {
        vdev->vq[i].vdev = vdev;
        vdev->vq[i].index = i;
        vdev->vq[i].num_max = queue_max_size;
        vdev->vq[i].walk_iov = g_new(struct iovec, VIRTQUEUE_MAX_SIZE);
        vdev->vq[i].walk_addr = g_new(uint64_t, VIRTQUEUE_MAX_SIZE);
        virtio_queue_reset(&vdev->vq[i]);
    }
    vdev->status = 0;
    vdev->guest_features = 0;
    vdev->isr = 0;
    vdev->config_vector = VIRTIO_NO_VECTOR;
    vdev->config_generation = 0;
    vdev->broken = false;
}

void virtio_cleanup(VirtIODevice *vdev)
{
    for (unsigned i = 0; i < vdev->num_queues; i++) {
        g_free(vdev->vq[i].walk_iov);
        g_free(vdev->vq[i].walk_addr);
    }
    g_free(vdev->vq);
    vdev->vq = NULL;
    vdev->num_queues = 0;
    g_free(vdev->config);
    vdev->config = NULL;
}

void virtio_reset(VirtIODevice *vdev)
{
    /* The device drops its in-flight state first: it may still detach
     * elements of the queues. */
    if (vdev->ops && vdev->ops->reset) {
        vdev->ops->reset(vdev);
    }
    vdev->status = 0;
    vdev->guest_features = 0;
    vdev->isr = 0;
    vdev->config_vector = VIRTIO_NO_VECTOR;
    vdev->broken = false;
    for (unsigned i = 0; i < vdev->num_queues; i++) {
        virtio_queue_reset(&vdev->vq[i]);
    }
}

bool virtio_has_feature(VirtIODevice *vdev, unsigned bit)
{
    return bit < 64 && (vdev->guest_features & (1ULL << bit));
}

void virtio_set_status(VirtIODevice *vdev, uint8_t status)
{
    uint8_t added = status & ~vdev->status;

    if (status == 0) {
        virtio_reset(vdev);
        return;
    }
    if (added & VIRTIO_CONFIG_S_FEATURES_OK) {
        uint64_t extra = vdev->guest_features & ~vdev->host_features;

        /* Modern only: a driver must accept VERSION_1 (2.2). */
        if (extra || !virtio_has_feature(vdev, VIRTIO_F_VERSION_1)) {
            lemu_log_mask(LOG_GUEST_ERROR, "%s: FEATURES_OK refused: "
                          "features 0x%" G_GINT64_MODIFIER "x %s\n",
                          vdev->name, vdev->guest_features,
                          extra ? "include some not offered"
                                : "lack VERSION_1");
            status &= ~VIRTIO_CONFIG_S_FEATURES_OK;
        }
    }
    if ((added & VIRTIO_CONFIG_S_DRIVER_OK) &&
        !(status & VIRTIO_CONFIG_S_FEATURES_OK)) {
        lemu_log_mask(LOG_GUEST_ERROR, "%s: DRIVER_OK without FEATURES_OK\n",
                      vdev->name);
    }
    /* NEEDS_RESET is the device's to set and stays until reset. */
    status = (status & ~VIRTIO_CONFIG_S_NEEDS_RESET) |
             (vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET);
    vdev->status = status;
    if (vdev->ops && vdev->ops->set_status) {
        vdev->ops->set_status(vdev, status);
    }
}

void virtio_notify_config(VirtIODevice *vdev)
{
    vdev->config_generation++;
    if (!(vdev->status & VIRTIO_CONFIG_S_DRIVER_OK)) {
        return;
    }
    vdev->isr |= 2;
    if (vdev->transport && vdev->transport->notify) {
        vdev->transport->notify(vdev->transport_opaque, vdev->config_vector);
    }
}

void virtio_error(VirtIODevice *vdev, const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    lemu_log_mask(LOG_GUEST_ERROR, "%s: %s; the device needs a reset\n",
                  vdev->name, msg);
    if (vdev->broken) {
        return;
    }
    vdev->broken = true;
    vdev->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
    virtio_notify_config(vdev);
}

/* ---- queue registers --------------------------------------------------- */

VirtQueue *virtio_get_queue(VirtIODevice *vdev, unsigned n)
{
    return n < vdev->num_queues ? &vdev->vq[n] : NULL;
}

unsigned virtio_queue_index(VirtQueue *vq)
{
    return vq->index;
}

void virtio_queue_set_num(VirtQueue *vq, unsigned num)
{
    /* Split queues: a power of two up to the maximum (4.1.4.3.2). */
    if (num == 0 || num > vq->num_max || (num & (num - 1))) {
        lemu_log_mask(LOG_GUEST_ERROR, "%s: queue %u size %u ignored, "
                      "expected a power of two up to %u\n", vq->vdev->name,
                      vq->index, num, vq->num_max);
        return;
    }
    vq->num = num;
}

unsigned virtio_queue_get_num(VirtQueue *vq)
{
    return vq->num;
}

unsigned virtio_queue_get_max_num(VirtQueue *vq)
{
    return vq->num_max;
}

void virtio_queue_set_addrs(VirtQueue *vq, uint64_t desc, uint64_t avail,
                            uint64_t used)
{
    vq->desc = desc;
    vq->avail = avail;
    vq->used = used;
}

void virtio_queue_get_addrs(VirtQueue *vq, uint64_t *desc, uint64_t *avail,
                            uint64_t *used)
{
    *desc = vq->desc;
    *avail = vq->avail;
    *used = vq->used;
}

void virtio_queue_set_enabled(VirtQueue *vq, bool enabled)
{
    vq->enabled = enabled;
}

bool virtio_queue_enabled(VirtQueue *vq)
{
    return vq->enabled;
}

void virtio_queue_set_vector(VirtQueue *vq, uint16_t vector)
{
    vq->vector = vector;
}

uint16_t virtio_queue_vector(VirtQueue *vq)
{
    return vq->vector;
}

void virtio_queue_notify(VirtIODevice *vdev, unsigned n)
{
    VirtQueue *vq = virtio_get_queue(vdev, n);

    if (!vq) {
        lemu_log_mask(LOG_GUEST_ERROR, "%s: notify of queue %u, which "
                      "does not exist\n", vdev->name, n);
        return;
    }
    if (!vq_ready(vq) || !vdev->ops || !vdev->ops->handle_output) {
        return;
    }
    vdev->ops->handle_output(vdev, vq);
}

/* ---- popping a request ------------------------------------------------- */

/* Descriptors collected while walking a chain. */
typedef struct DescWalk {
    unsigned out_num, in_num;
    struct iovec *iov;          /* out ones first, then in ones */
    uint64_t *addr;
    unsigned cap;
    uint64_t out_len, in_len;
} DescWalk;

static bool desc_add(VirtQueue *vq, DescWalk *w, uint64_t addr, uint32_t len,
                     bool write)
{
    VirtIODevice *vdev = vq->vdev;
    void *host;
    unsigned i;

    if (!write && w->in_num) {
        virtio_error(vdev, "queue %u: device-readable descriptor after a "
                     "device-writable one", vq->index);
        return false;
    }
    if (len == 0) {
        return true;        /* nothing to transfer */
    }
    host = virtio_ram_ptr(vdev, addr, len);
    if (!host) {
        virtio_error(vdev, "queue %u: buffer 0x%" G_GINT64_MODIFIER "x+%u "
                     "is not in one guest RAM region", vq->index, addr, len);
        return false;
    }
    g_assert(w->out_num + w->in_num < w->cap);
    i = w->out_num + w->in_num;
    w->iov[i].iov_base = host;
    w->iov[i].iov_len = len;
    w->addr[i] = addr;
    if (write) {
        w->in_num++;
        w->in_len += len;
    } else {
        w->out_num++;
        w->out_len += len;
    }
    return true;
}

/*
 * Walks the chain from descriptor @head of the @count-entry table @table;
 * @indirect when @table is an indirect table (no further indirection).
 */
static bool desc_walk(VirtQueue *vq, DescWalk *w, const uint8_t *table,
                      unsigned count, unsigned head, bool indirect)
{
    VirtIODevice *vdev = vq->vdev;
    unsigned i = head, seen = 0;

    for (;;) {
        const uint8_t *d = table + (size_t)i * VRING_DESC_SIZE;
        uint64_t addr = ld64(d + VRING_DESC_ADDR);
        uint32_t len = ld32(d + VRING_DESC_LEN);
        uint16_t flags = ld16(d + VRING_DESC_FLAGS);
        uint16_t next = ld16(d + VRING_DESC_NEXT);

        /* A chain visits each descriptor once at most: longer is a loop. */
        if (++seen > count) {
            virtio_error(vdev, "queue %u: descriptor chain longer than %u "
                         "(a loop?)", vq->index, count);
            return false;
        }
        if (flags & VRING_DESC_F_INDIRECT) {
            if (indirect) {
                virtio_error(vdev, "queue %u: nested indirect descriptor",
                             vq->index);
                return false;
            }
            if (!virtio_has_feature(vdev, VIRTIO_RING_F_INDIRECT_DESC)) {
                virtio_error(vdev, "queue %u: indirect descriptor without "
                             "VIRTIO_RING_F_INDIRECT_DESC", vq->index);
                return false;
            }
            if (seen != 1 || (flags & VRING_DESC_F_NEXT)) {
                virtio_error(vdev, "queue %u: indirect descriptor must be "
                             "the only one in its chain", vq->index);
                return false;
            }
            if (len == 0 || len % VRING_DESC_SIZE ||
                len / VRING_DESC_SIZE > VIRTQUEUE_MAX_SIZE) {
                virtio_error(vdev, "queue %u: indirect table of %u bytes, "
                             "expected a multiple of 16 up to %u entries",
                             vq->index, len, VIRTQUEUE_MAX_SIZE);
                return false;
            }
            table = virtio_ram_ptr(vdev, addr, len);
            if (!table) {
                virtio_error(vdev, "queue %u: indirect table 0x%"
                             G_GINT64_MODIFIER "x+%u is not in guest RAM",
                             vq->index, addr, len);
                return false;
            }
            return desc_walk(vq, w, table, len / VRING_DESC_SIZE, 0, true);
        }
        if (!desc_add(vq, w, addr, len, flags & VRING_DESC_F_WRITE)) {
            return false;
        }
        if (!(flags & VRING_DESC_F_NEXT)) {
            return true;
        }
        if (next >= count) {
            virtio_error(vdev, "queue %u: next descriptor %u out of range "
                         "(table of %u)", vq->index, next, count);
            return false;
        }
        i = next;
    }
}

VirtQueueElement *virtqueue_pop(VirtQueue *vq)
{
    VirtIODevice *vdev = vq->vdev;
    VirtQueueElementPriv *p;
    VRingPtrs r;
    DescWalk w = { 0 };
    uint16_t avail_idx, head;
    unsigned n;
    VirtQueueElement *elem;

    if (!vq_ready(vq) || !vring_map(vq, &r)) {
        return NULL;
    }
    avail_idx = ld16(r.avail + VRING_AVAIL_IDX);
    n = (uint16_t)(avail_idx - vq->last_avail_idx);
    if (n > vq->num) {
        virtio_error(vdev, "queue %u: avail idx moved from %u to %u, more "
                     "than the queue size %u", vq->index, vq->last_avail_idx,
                     avail_idx, vq->num);
        return NULL;
    }
    if (n == 0) {
        return NULL;
    }
    /* The entries the index covers are read after the index. */
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    head = ld16(r.avail + VRING_AVAIL_RING +
                2 * (vq->last_avail_idx % vq->num));
    if (head >= vq->num) {
        virtio_error(vdev, "queue %u: avail ring head %u out of range (size "
                     "%u)", vq->index, head, vq->num);
        return NULL;
    }

    w.cap = VIRTQUEUE_MAX_SIZE;
    w.iov = vq->walk_iov;
    w.addr = vq->walk_addr;
    if (!desc_walk(vq, &w, r.desc, vq->num, head, false)) {
        return NULL;
    }
    vq->last_avail_idx++;
    if (virtio_has_feature(vdev, VIRTIO_RING_F_EVENT_IDX) &&
        vq->notification) {
        /* avail_event: notify us when the driver passes this index. */
        vring_set_avail_event(vq, &r, vq->last_avail_idx);
    }

    n = w.out_num + w.in_num;
    p = g_malloc0(sizeof(*p) + n * (sizeof(struct iovec) + sizeof(uint64_t)));
    elem = &p->elem;
    elem->index = head;
    elem->out_num = w.out_num;
    elem->in_num = w.in_num;
    elem->out_sg = (struct iovec *)(p + 1);
    elem->in_sg = elem->out_sg + w.out_num;
    elem->out_len = w.out_len;
    elem->in_len = w.in_len;
    p->in_addr = (uint64_t *)(elem->out_sg + n);
    memcpy(elem->out_sg, w.iov, n * sizeof(struct iovec));
    memcpy(p->in_addr, w.addr + w.out_num, w.in_num * sizeof(uint64_t));
    vq->inuse++;
    return elem;
}

void virtqueue_detach_element(VirtQueue *vq, VirtQueueElement *elem)
{
    if (!elem) {
        return;
    }
    if (vq->inuse) {
        vq->inuse--;
    }
    g_free(elem);
}

void virtqueue_push(VirtQueue *vq, VirtQueueElement *elem, uint32_t len)
{
    VirtIODevice *vdev = vq->vdev;
    VirtQueueElementPriv *p = (VirtQueueElementPriv *)elem;
    uint64_t entry_gpa;
    uint8_t *entry;
    VRingPtrs r;
    uint64_t left;

    if (!vq_ready(vq) || !vring_map(vq, &r)) {
        virtqueue_detach_element(vq, elem);
        return;
    }
    if (len > elem->in_len) {
        len = (uint32_t)elem->in_len;
    }
    /* What the device wrote, as the interpreter must see it. */
    left = len;
    for (unsigned i = 0; i < elem->in_num && left; i++) {
        uint64_t n = MIN(left, (uint64_t)elem->in_sg[i].iov_len);

        virtio_ram_written(vdev->machine, p->in_addr[i], n);
        left -= n;
    }

    entry_gpa = vq->used + VRING_USED_RING +
                VRING_USED_ELEM_SIZE * (uint64_t)(vq->used_idx % vq->num);
    entry = r.used + (entry_gpa - vq->used);
    st32(entry, elem->index);
    st32(entry + 4, len);
    /* The entry is visible before the index that publishes it. */
    __atomic_thread_fence(__ATOMIC_RELEASE);
    vq->used_idx++;
    st16(r.used + VRING_USED_IDX, vq->used_idx);
    virtio_ram_written(vdev->machine, entry_gpa, VRING_USED_ELEM_SIZE);
    virtio_ram_written(vdev->machine, vq->used + VRING_USED_IDX, 2);
    virtqueue_detach_element(vq, elem);
}

/* 2.7.10: interrupt when used idx passed used_event since the last one. */
static bool vring_need_event(uint16_t event, uint16_t new_idx, uint16_t old)
{
    return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

void virtio_notify(VirtIODevice *vdev, VirtQueue *vq)
{
    VRingPtrs r;
    bool need;

    if (!vq_ready(vq) || !vring_map(vq, &r)) {
        return;
    }
    /* Our used idx store before the driver's flags/used_event load. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (virtio_has_feature(vdev, VIRTIO_RING_F_EVENT_IDX)) {
        uint16_t event = ld16(r.avail + VRING_AVAIL_RING + 2 * vq->num);
        uint16_t old = vq->signalled_used;

        need = !vq->signalled_used_valid ||
               vring_need_event(event, vq->used_idx, old);
        vq->signalled_used = vq->used_idx;
        vq->signalled_used_valid = true;
    } else {
        need = !(ld16(r.avail + VRING_AVAIL_FLAGS) &
                 VRING_AVAIL_F_NO_INTERRUPT);
    }
    if (!need) {
        return;
    }
    vdev->isr |= 1;
    if (vdev->transport && vdev->transport->notify) {
        vdev->transport->notify(vdev->transport_opaque, vq->vector);
    }
}

void virtio_queue_set_notification(VirtQueue *vq, bool enable)
{
    VRingPtrs r;

    vq->notification = enable;
    if (!vq_ready(vq) || !vring_map(vq, &r)) {
        return;
    }
    if (virtio_has_feature(vq->vdev, VIRTIO_RING_F_EVENT_IDX)) {
        if (enable) {
            vring_set_avail_event(vq, &r, ld16(r.avail + VRING_AVAIL_IDX));
        }
    } else {
        uint16_t flags = ld16(r.used + VRING_USED_FLAGS);

        st16(r.used + VRING_USED_FLAGS,
             enable ? flags & ~VRING_USED_F_NO_NOTIFY
                    : flags | VRING_USED_F_NO_NOTIFY);
        virtio_ram_written(vq->vdev->machine, vq->used + VRING_USED_FLAGS, 2);
    }
    if (enable) {
        /* The flag is out before the caller re-checks the ring. */
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
    }
}

bool virtio_queue_empty(VirtQueue *vq)
{
    VRingPtrs r;

    if (!vq_ready(vq) || !vring_map(vq, &r)) {
        return true;
    }
    return ld16(r.avail + VRING_AVAIL_IDX) == vq->last_avail_idx;
}

