/*
 * virtio-blk-pci: a virtio 1.x block device (virtio spec, section 5.2) on
 * the modern PCI transport, backed by a BlockBackend from -drive or
 * -blockdev.
 *
 * A request is a descriptor chain: a 16-byte header {type, reserved,
 * sector} at the start of the device-readable part, data, and a status
 * byte as the last device-writable byte. Requests are checked here, then
 * run asynchronously with blk_aio_* on iovecs that point straight into
 * guest RAM; the completion (main loop, machine lock held) writes the
 * status byte and returns the chain. Interrupts are batched: one per
 * queue per handle_output run, and one per queue per main-loop pass for
 * completions (a bottom half).
 *
 * Failed I/O follows the drive's werror/rerror policy: report (IOERR to
 * the guest), ignore (OK), or stop: the request is kept, the VM stops in
 * run state io-error, and the request is submitted again on resume.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "lemu/block/blockdev.h"
#include "lemu/hw/qdev.h"
#include "lemu/hw/virtio/virtio-blk.h"
#include "lemu/hw/virtio/virtio-pci.h"
#include "lemu/monitor/monitor.h"
#include "lemu/system/machine.h"
#include "lemu/util/log.h"
#include "hw/device-classes.h"

#define PCI_CLASS_STORAGE_SCSI      0x010000

#define VIRTIO_BLK_MAX_QUEUES       16
#define VIRTIO_BLK_MIN_BLOCK_SIZE   512
#define VIRTIO_BLK_MAX_BLOCK_SIZE   32768
/* Largest discard / write-zeroes request: 1 GiB, in sectors. */
#define VIRTIO_BLK_MAX_DWZ_SECTORS  (1u << 21)

typedef enum {
    VIRTIO_BLK_IO_STATUS_OK,
    VIRTIO_BLK_IO_STATUS_FAILED,
    VIRTIO_BLK_IO_STATUS_NOSPACE,
} VirtIOBlockIoStatus;

typedef struct VirtIOBlock VirtIOBlock;

/* One request between pop and push. */
typedef struct VirtIOBlockReq {
    VirtIOBlock *s;
    VirtQueue *vq;
    VirtQueueElement *elem;
    uint32_t type;
    uint64_t sector;
    struct iovec *iov;          /* the data part of the chain */
    int niov;
    uint64_t bytes;             /* data bytes (IN, OUT) */
    uint64_t dwz_sectors;       /* DISCARD, WRITE_ZEROES */
    uint32_t dwz_flags;
    uint32_t in_len;            /* device-writable bytes used, status too */
    struct VirtIOBlockReq *next;    /* on the retry list */
} VirtIOBlockReq;

struct VirtIOBlock {
    Device parent;
    VirtIOPCIProxy proxy;
    VirtIODevice vdev;

    /* properties */
    char *drive;
    char *serial;
    char *write_cache;          /* "auto", "on", "off" */
    char *addr;                 /* "slot[.fn]", hex */
    uint64_t logical_block_size;
    uint64_t physical_block_size;
    uint16_t num_queues;        /* 0: one per vCPU, at most 16 */
    uint16_t queue_size;
    bool discard;
    bool write_zeroes;
    bool ioeventfd;

    DriveInfo *dinfo;
    BlockBackend *blk;
    bool realized_virtio;
    bool realized_pci;
    bool original_wce;          /* write cache at realize, back at reset */
    uint8_t wce;                /* config writeback, as last set */
    uint32_t io_status;         /* VirtIOBlockIoStatus */
    unsigned in_flight;         /* submitted to the backend */
    VirtIOBlockReq *retry_head, *retry_tail;    /* kept by werror=stop */
    BottomHalf *notify_bh;
    uint32_t notify_pending;    /* queues with pushed, unsignalled work */
    bool in_handle_output;
};

static const DeviceProperty virtio_blk_props[] = {
    DEFINE_PROP("drive", PROP_STRING, VirtIOBlock, drive, NULL,
                "id of the -drive or -blockdev node to attach"),
    DEFINE_PROP("serial", PROP_STRING, VirtIOBlock, serial, NULL,
                "disk serial number (GET_ID, at most 20 bytes)"),
    DEFINE_PROP("logical_block_size", PROP_SIZE, VirtIOBlock,
                logical_block_size, "512",
                "logical block size (512..32768, a power of 2)"),
    DEFINE_PROP("physical_block_size", PROP_SIZE, VirtIOBlock,
                physical_block_size, "0",
                "physical block size (512..32768, a power of 2; 0: the "
                "logical block size)"),
    DEFINE_PROP("num-queues", PROP_U16, VirtIOBlock, num_queues, "0",
                "request queues (1..16; 0: one per vCPU)"),
    DEFINE_PROP("queue-size", PROP_U16, VirtIOBlock, queue_size, "256",
                "entries per queue (a power of 2, 4..1024)"),
    DEFINE_PROP("write-cache", PROP_STRING, VirtIOBlock, write_cache,
                "auto", "write cache: on, off, or auto (the drive's cache "
                "mode)"),
    DEFINE_PROP("discard", PROP_BOOL, VirtIOBlock, discard, "on",
                "offer DISCARD"),
    DEFINE_PROP("write-zeroes", PROP_BOOL, VirtIOBlock, write_zeroes, "on",
                "offer WRITE_ZEROES"),
    DEFINE_PROP("ioeventfd", PROP_BOOL, VirtIOBlock, ioeventfd, "on",
                "take queue notifications through KVM ioeventfds"),
    DEFINE_PROP("addr", PROP_STRING, VirtIOBlock, addr, NULL,
                "PCI slot[.function], hex (default: first free slot)"),
    DEFINE_PROP_END
};

/* What a snapshot keeps besides the backend's data; the queues' state
 * belongs to the virtio core. */
static const VMStateField virtio_blk_vmstate[] = {
    VMSTATE(VirtIOBlock, wce, VMS_U8),
    VMSTATE(VirtIOBlock, io_status, VMS_U32),
    VMSTATE(VirtIOBlock, vdev.status, VMS_U8),
    VMSTATE(VirtIOBlock, vdev.isr, VMS_U8),
    VMSTATE(VirtIOBlock, vdev.guest_features, VMS_U64),
    VMSTATE(VirtIOBlock, vdev.config_vector, VMS_U16),
    VMSTATE(VirtIOBlock, vdev.config_generation, VMS_U32),
    VMSTATE(VirtIOBlock, proxy.device_feature_select, VMS_U32),
    VMSTATE(VirtIOBlock, proxy.driver_feature_select, VMS_U32),
    VMSTATE(VirtIOBlock, proxy.queue_select, VMS_U16),
    VMSTATE_ARRAY(VirtIOBlock, proxy.pci.config, VMS_U8,
                  PCI_CONFIG_SPACE_SIZE),
    VMSTATE_END
};

static VirtIOBlock *virtio_blk_of(VirtIODevice *vdev)
{
    return (VirtIOBlock *)((char *)vdev - offsetof(VirtIOBlock, vdev));
}

static const char *virtio_blk_name(VirtIOBlock *s)
{
    return DEVICE(s)->id ? DEVICE(s)->id : "virtio-blk-pci";
}

static uint64_t virtio_blk_capacity(VirtIOBlock *s)
{
    int64_t len = blk_getlength(s->blk);

    return len > 0 ? (uint64_t)len / BDRV_SECTOR_SIZE : 0;
}

static inline void st16(uint8_t *p, uint16_t v)
{
    p[0] = v;
    p[1] = v >> 8;
}

static inline void st32(uint8_t *p, uint32_t v)
{
    st16(p, v);
    st16(p + 2, v >> 16);
}

static inline void st64(uint8_t *p, uint64_t v)
{
    st32(p, v);
    st32(p + 4, v >> 32);
}

static inline uint32_t ld32(const uint8_t *p)
{
    return p[0] | (p[1] << 8) | (p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline uint64_t ld64(const uint8_t *p)
{
    return ld32(p) | ((uint64_t)ld32(p + 4) << 32);
}

/* ---- configuration space ---- */

static void virtio_blk_get_config(VirtIODevice *vdev, uint8_t *config)
{
    VirtIOBlock *s = virtio_blk_of(vdev);
    uint32_t lbs = s->logical_block_size;

    memset(config, 0, VIRTIO_BLK_CFG_SIZE);
    st64(config + VIRTIO_BLK_CFG_CAPACITY, virtio_blk_capacity(s));
    st32(config + VIRTIO_BLK_CFG_SEG_MAX, s->queue_size - 2);
    st32(config + VIRTIO_BLK_CFG_BLK_SIZE, lbs);
    config[VIRTIO_BLK_CFG_PHYS_BLOCK_EXP] =
        (uint8_t)(__builtin_ctzll(s->physical_block_size) -
                  __builtin_ctz(lbs));
    config[VIRTIO_BLK_CFG_ALIGNMENT_OFFSET] = 0;
    config[VIRTIO_BLK_CFG_WRITEBACK] = blk_enable_write_cache(s->blk);
    st16(config + VIRTIO_BLK_CFG_NUM_QUEUES, vdev->num_queues);
    st32(config + VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS,
         VIRTIO_BLK_MAX_DWZ_SECTORS);
    st32(config + VIRTIO_BLK_CFG_MAX_DISCARD_SEG, 1);
    st32(config + VIRTIO_BLK_CFG_DISCARD_SECTOR_ALIGNMENT,
         lbs / BDRV_SECTOR_SIZE);
    st32(config + VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SECTORS,
         VIRTIO_BLK_MAX_DWZ_SECTORS);
    st32(config + VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SEG, 1);
    config[VIRTIO_BLK_CFG_WRITE_ZEROES_MAY_UNMAP] = 1;
}

/* Only the writeback byte is writable (CONFIG_WCE). */
static void virtio_blk_set_config(VirtIODevice *vdev, const uint8_t *config)
{
    VirtIOBlock *s = virtio_blk_of(vdev);

    s->wce = config[VIRTIO_BLK_CFG_WRITEBACK] != 0;
    blk_set_enable_write_cache(s->blk, s->wce);
}

/*
 * A driver that did not accept CONFIG_WCE cannot turn the cache off, so
 * the cache follows FLUSH: without FLUSH the driver cannot make writes
 * stable, so every write must be (5.2.5.1).
 */
static void virtio_blk_set_status(VirtIODevice *vdev, uint8_t status)
{
    VirtIOBlock *s = virtio_blk_of(vdev);

    if ((status & VIRTIO_CONFIG_S_FEATURES_OK) &&
        !virtio_has_feature(vdev, VIRTIO_BLK_F_CONFIG_WCE)) {
        s->wce = virtio_has_feature(vdev, VIRTIO_BLK_F_FLUSH);
        blk_set_enable_write_cache(s->blk, s->wce);
    }
}

/* ---- completion ---- */

static void virtio_blk_flush_notify(VirtIOBlock *s)
{
    uint32_t pending = s->notify_pending;

    s->notify_pending = 0;
    for (unsigned i = 0; pending && i < s->vdev.num_queues; i++) {
        if (pending & (1u << i)) {
            virtio_notify(&s->vdev, virtio_get_queue(&s->vdev, i));
        }
    }
}

static void virtio_blk_notify_bh(void *opaque)
{
    virtio_blk_flush_notify(opaque);
}

static void virtio_blk_req_free(VirtIOBlockReq *req)
{
    g_free(req->iov);
    g_free(req);
}

/* Writes the status byte, returns the chain and frees @req. */
static void virtio_blk_req_complete(VirtIOBlockReq *req, uint8_t status)
{
    VirtIOBlock *s = req->s;
    VirtQueueElement *elem = req->elem;

    if (s->vdev.broken) {
        /* The driver must reset the device: the ring is not ours. */
        virtqueue_detach_element(req->vq, elem);
        virtio_blk_req_free(req);
        return;
    }
    iov_from_buf(elem->in_sg, elem->in_num, elem->in_len - 1, &status, 1);
    virtqueue_push(req->vq, elem, status == VIRTIO_BLK_S_OK ? req->in_len
                                                             : 1);
    s->notify_pending |= 1u << virtio_queue_index(req->vq);
    if (!s->in_handle_output) {
        bh_schedule(s->notify_bh);
    }
    virtio_blk_req_free(req);
}

static bool virtio_blk_req_is_read(const VirtIOBlockReq *req)
{
    return req->type == VIRTIO_BLK_T_IN;
}

static void virtio_blk_retry_add(VirtIOBlock *s, VirtIOBlockReq *req)
{
    req->next = NULL;
    if (s->retry_tail) {
        s->retry_tail->next = req;
    } else {
        s->retry_head = req;
    }
    s->retry_tail = req;
}

/*
 * Applies the drive's error policy to a failed request; true when the
 * request was kept for a retry (werror/rerror=stop).
 */
static bool virtio_blk_handle_error(VirtIOBlockReq *req, int error)
{
    VirtIOBlock *s = req->s;
    Machine *m = DEVICE(s)->machine;
    bool is_read = virtio_blk_req_is_read(req);
    BlockErrorAction action = blk_get_error_action(s->blk, is_read, error);
    BlockDriverState *bs = blk_bs(s->blk);

    if (action == BLOCK_ERROR_ACTION_STOP) {
        s->io_status = error == ENOSPC ? VIRTIO_BLK_IO_STATUS_NOSPACE
                                       : VIRTIO_BLK_IO_STATUS_FAILED;
        virtio_blk_retry_add(s, req);
    }
    qmp_event_block_io_error(m, blk_name(s->blk),
                             bs ? bs->node_name : NULL,
                             is_read ? "read" : "write",
                             block_error_action_name(action),
                             error == ENOSPC, g_strerror(error));
    switch (action) {
    case BLOCK_ERROR_ACTION_STOP:
        machine_stop(m, RUN_STATE_IO_ERROR);
        return true;
    case BLOCK_ERROR_ACTION_IGNORE:
        virtio_blk_req_complete(req, VIRTIO_BLK_S_OK);
        return false;
    case BLOCK_ERROR_ACTION_REPORT:
    default:
        virtio_blk_req_complete(req, VIRTIO_BLK_S_IOERR);
        return false;
    }
}

static void virtio_blk_io_complete(void *opaque, int ret)
{
    VirtIOBlockReq *req = opaque;
    VirtIOBlock *s = req->s;

    s->in_flight--;
    if (ret < 0) {
        virtio_blk_handle_error(req, -ret);
        return;
    }
    virtio_blk_req_complete(req, VIRTIO_BLK_S_OK);
}

/* Hands a checked request to the backend. */
static void virtio_blk_submit(VirtIOBlockReq *req)
{
    VirtIOBlock *s = req->s;
    uint64_t offset = req->sector * BDRV_SECTOR_SIZE;

    s->in_flight++;
    switch (req->type) {
    case VIRTIO_BLK_T_IN:
        blk_aio_preadv(s->blk, offset, req->iov, req->niov,
                       virtio_blk_io_complete, req);
        break;
    case VIRTIO_BLK_T_OUT:
        blk_aio_pwritev(s->blk, offset, req->iov, req->niov, 0,
                        virtio_blk_io_complete, req);
        break;
    case VIRTIO_BLK_T_FLUSH:
        blk_aio_flush(s->blk, virtio_blk_io_complete, req);
        break;
    case VIRTIO_BLK_T_DISCARD:
        blk_aio_pdiscard(s->blk, offset,
                         req->dwz_sectors * BDRV_SECTOR_SIZE,
                         virtio_blk_io_complete, req);
        break;
    case VIRTIO_BLK_T_WRITE_ZEROES:
        blk_aio_pwrite_zeroes(s->blk, offset,
                              req->dwz_sectors * BDRV_SECTOR_SIZE,
                              (req->dwz_flags &
                               VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) ?
                              BDRV_REQ_MAY_UNMAP : 0,
                              virtio_blk_io_complete, req);
        break;
    default:
        /* Checked before; cannot happen. */
        s->in_flight--;
        virtio_blk_req_complete(req, VIRTIO_BLK_S_UNSUPP);
        break;
    }
}

/* ---- request parsing ---- */

/*
 * Is [sector, sector + bytes) inside the disk and aligned to the logical
 * block size? Logs a guest error when not.
 */
static bool virtio_blk_range_ok(VirtIOBlock *s, const char *what,
                                uint64_t sector, uint64_t bytes)
{
    uint64_t capacity = virtio_blk_capacity(s);
    uint64_t lbs = s->logical_block_size;

    if (bytes % BDRV_SECTOR_SIZE) {
        lemu_log_mask(LOG_GUEST_ERROR, "%s: %s of %" PRIu64 " bytes: not a "
                      "multiple of 512\n", virtio_blk_name(s), what, bytes);
        return false;
    }
    if (sector > capacity || bytes / BDRV_SECTOR_SIZE > capacity - sector) {
        lemu_log_mask(LOG_GUEST_ERROR, "%s: %s of %" PRIu64 " bytes at "
                      "sector %" PRIu64 " goes past the end of the disk (%"
                      PRIu64 " sectors)\n", virtio_blk_name(s), what, bytes,
                      sector, capacity);
        return false;
    }
    if ((sector * BDRV_SECTOR_SIZE) % lbs || bytes % lbs) {
        lemu_log_mask(LOG_GUEST_ERROR, "%s: %s of %" PRIu64 " bytes at "
                      "sector %" PRIu64 ": not aligned to the logical block "
                      "size %" PRIu64 "\n", virtio_blk_name(s), what, bytes,
                      sector, lbs);
        return false;
    }
    return true;
}

/* DISCARD and WRITE_ZEROES: one segment after the header. Returns the
 * status to fail with, or VIRTIO_BLK_S_OK to submit. */
static uint8_t virtio_blk_parse_dwz(VirtIOBlock *s, VirtIOBlockReq *req)
{
    VirtQueueElement *elem = req->elem;
    bool is_discard = req->type == VIRTIO_BLK_T_DISCARD;
    const char *what = is_discard ? "discard" : "write-zeroes";
    uint64_t size = elem->out_len - VIRTIO_BLK_OUTHDR_SIZE;
    uint8_t seg[VIRTIO_BLK_DWZ_SEG_SIZE];
    uint32_t allowed_flags = is_discard ? 0
                                        : VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP;

    if (!(is_discard ? s->discard : s->write_zeroes)) {
        return VIRTIO_BLK_S_UNSUPP;
    }
    /* max_discard_seg and max_write_zeroes_seg are 1. */
    if (size != VIRTIO_BLK_DWZ_SEG_SIZE) {
        lemu_log_mask(LOG_GUEST_ERROR, "%s: %s with %" PRIu64 " bytes of "
                      "segments: expected one segment of 16 bytes\n",
                      virtio_blk_name(s), what, size);
        return VIRTIO_BLK_S_UNSUPP;
    }
    iov_to_buf(elem->out_sg, elem->out_num, VIRTIO_BLK_OUTHDR_SIZE, seg,
               sizeof(seg));
    req->sector = ld64(seg);
    req->dwz_sectors = ld32(seg + 8);
    req->dwz_flags = ld32(seg + 12);
    if (req->dwz_flags & ~allowed_flags) {
        lemu_log_mask(LOG_GUEST_ERROR, "%s: %s with flags 0x%x: reserved "
                      "bits set\n", virtio_blk_name(s), what,
                      req->dwz_flags);
        return VIRTIO_BLK_S_UNSUPP;
    }
    if (blk_is_read_only(s->blk)) {
        lemu_log_mask(LOG_GUEST_ERROR, "%s: %s on a read-only disk\n",
                      virtio_blk_name(s), what);
        return VIRTIO_BLK_S_IOERR;
    }
    if (req->dwz_sectors > VIRTIO_BLK_MAX_DWZ_SECTORS) {
        lemu_log_mask(LOG_GUEST_ERROR, "%s: %s of %" PRIu64 " sectors: at "
                      "most %u allowed\n", virtio_blk_name(s), what,
                      req->dwz_sectors, VIRTIO_BLK_MAX_DWZ_SECTORS);
        return VIRTIO_BLK_S_IOERR;
    }
    if (!virtio_blk_range_ok(s, what, req->sector,
                             req->dwz_sectors * BDRV_SECTOR_SIZE)) {
        return VIRTIO_BLK_S_IOERR;
    }
    return VIRTIO_BLK_S_OK;
}

/* Checks one popped chain; completes it at once or submits it. */
static void virtio_blk_handle_request(VirtIOBlock *s, VirtQueue *vq,
                                      VirtQueueElement *elem)
{
    VirtIOBlockReq *req;
    uint8_t hdr[VIRTIO_BLK_OUTHDR_SIZE];
    uint8_t status = VIRTIO_BLK_S_OK;

    if (elem->out_len < VIRTIO_BLK_OUTHDR_SIZE || elem->in_len < 1) {
        virtio_error(&s->vdev, "%s: request without %s (%" PRIu64
                     " device-readable, %" PRIu64 " device-writable bytes)",
                     virtio_blk_name(s),
                     elem->out_len < VIRTIO_BLK_OUTHDR_SIZE ?
                     "a 16-byte header" : "a status byte",
                     elem->out_len, elem->in_len);
        virtqueue_detach_element(vq, elem);
        return;
    }
    iov_to_buf(elem->out_sg, elem->out_num, 0, hdr, sizeof(hdr));
    req = g_new0(VirtIOBlockReq, 1);
    req->s = s;
    req->vq = vq;
    req->elem = elem;
    req->type = ld32(hdr);
    req->sector = ld64(hdr + 8);
    req->in_len = 1;

    switch (req->type) {
    case VIRTIO_BLK_T_IN:
    case VIRTIO_BLK_T_OUT: {
        bool is_write = req->type == VIRTIO_BLK_T_OUT;

        if (is_write) {
            req->bytes = elem->out_len - VIRTIO_BLK_OUTHDR_SIZE;
            req->iov = iov_slice_dup(elem->out_sg, elem->out_num,
                                     VIRTIO_BLK_OUTHDR_SIZE, req->bytes,
                                     &req->niov);
        } else {
            req->bytes = elem->in_len - 1;
            req->iov = iov_slice_dup(elem->in_sg, elem->in_num, 0,
                                     req->bytes, &req->niov);
            req->in_len += req->bytes;
        }
        if (is_write && blk_is_read_only(s->blk)) {
            lemu_log_mask(LOG_GUEST_ERROR, "%s: write to a read-only "
                          "disk\n", virtio_blk_name(s));
            status = VIRTIO_BLK_S_IOERR;
        } else if (!virtio_blk_range_ok(s, is_write ? "write" : "read",
                                        req->sector, req->bytes)) {
            status = VIRTIO_BLK_S_IOERR;
        }
        break;
    }
    case VIRTIO_BLK_T_FLUSH:
        break;
    case VIRTIO_BLK_T_GET_ID: {
        char id[VIRTIO_BLK_ID_BYTES] = { 0 };
        uint64_t room = elem->in_len - 1;
        size_t n = MIN(room, (uint64_t)VIRTIO_BLK_ID_BYTES);

        if (s->serial) {
            memcpy(id, s->serial, MIN(strlen(s->serial), sizeof(id)));
        }
        iov_from_buf(elem->in_sg, elem->in_num, 0, id, n);
        req->in_len += n;
        virtio_blk_req_complete(req, VIRTIO_BLK_S_OK);
        return;
    }
    case VIRTIO_BLK_T_DISCARD:
    case VIRTIO_BLK_T_WRITE_ZEROES:
        status = virtio_blk_parse_dwz(s, req);
        break;
    default:
        lemu_log_mask(LOG_GUEST_ERROR, "%s: unsupported request type %u\n",
                      virtio_blk_name(s), req->type);
        status = VIRTIO_BLK_S_UNSUPP;
        break;
    }
    if (status != VIRTIO_BLK_S_OK) {
        virtio_blk_req_complete(req, status);
        return;
    }
    virtio_blk_submit(req);
}

static void virtio_blk_handle_output(VirtIODevice *vdev, VirtQueue *vq)
{
    VirtIOBlock *s = virtio_blk_of(vdev);
    VirtQueueElement *elem;

    s->in_handle_output = true;
    do {
        virtio_queue_set_notification(vq, false);
        while (!vdev->broken && (elem = virtqueue_pop(vq))) {
            virtio_blk_handle_request(s, vq, elem);
        }
        virtio_queue_set_notification(vq, true);
    } while (!vdev->broken && !virtio_queue_empty(vq));
    s->in_handle_output = false;
    virtio_blk_flush_notify(s);
}

/* ---- life cycle ---- */

static void virtio_blk_drop_retries(VirtIOBlock *s)
{
    while (s->retry_head) {
        VirtIOBlockReq *req = s->retry_head;

        s->retry_head = req->next;
        virtqueue_detach_element(req->vq, req->elem);
        virtio_blk_req_free(req);
    }
    s->retry_tail = NULL;
}

/*
 * Waits until every request submitted has completed (its callback ran).
 * On the thread that runs the main loop (or when none does) the
 * completions run here. A vCPU thread (a guest reset) cannot run the loop
 * while the main thread polls it, and the main thread needs the machine
 * lock to run them: so it lets the lock go while it waits.
 */
static void virtio_blk_drain(VirtIOBlock *s)
{
    Machine *m = DEVICE(s)->machine;
    GMainContext *ctx = main_loop_context(m->loop);

    while (s->in_flight) {
        if (g_main_context_acquire(ctx)) {
            main_loop_iterate(m->loop, true);
            g_main_context_release(ctx);
        } else {
            machine_unlock(m);
            g_usleep(50);
            machine_lock(m);
        }
    }
}

/* Called by the core before it forgets the queues. */
static void virtio_blk_reset(VirtIODevice *vdev)
{
    VirtIOBlock *s = virtio_blk_of(vdev);

    /* Requests in flight write into guest RAM and return their chains:
     * finish them before the rings are forgotten. */
    virtio_blk_drain(s);
    virtio_blk_drop_retries(s);
    s->notify_pending = 0;
    bh_cancel(s->notify_bh);
    s->io_status = VIRTIO_BLK_IO_STATUS_OK;
    s->wce = s->original_wce;
    blk_set_enable_write_cache(s->blk, s->original_wce);
}

static const VirtioDeviceOps virtio_blk_ops = {
    .get_config = virtio_blk_get_config,
    .set_config = virtio_blk_set_config,
    .set_status = virtio_blk_set_status,
    .reset = virtio_blk_reset,
    .handle_output = virtio_blk_handle_output,
};

static void virtio_blk_vm_state_change(Device *dev, bool running)
{
    VirtIOBlock *s = (VirtIOBlock *)dev;
    VirtIOBlockReq *req;

    if (!running) {
        return;
    }
    s->io_status = VIRTIO_BLK_IO_STATUS_OK;
    /* Taken off first: a request that fails again is queued anew. */
    req = s->retry_head;
    s->retry_head = s->retry_tail = NULL;
    while (req) {
        VirtIOBlockReq *next = req->next;

        virtio_blk_submit(req);
        req = next;
    }
}

static bool parse_pci_addr(const char *str, int *devfn, GError **errp)
{
    char *end;
    unsigned long slot, fn = 0;

    slot = strtoul(str, &end, 16);
    if (end == str) {
        goto bad;
    }
    if (*end == '.') {
        const char *f = end + 1;

        fn = strtoul(f, &end, 16);
        if (end == f) {
            goto bad;
        }
    }
    if (*end || slot >= PCI_SLOT_MAX || fn >= PCI_FUNC_MAX) {
        goto bad;
    }
    *devfn = PCI_DEVFN(slot, fn);
    return true;

bad:
    g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                "virtio-blk-pci: property 'addr': '%s': expected slot[.fn] "
                "in hex, slot 0-1f, function 0-7", str);
    return false;
}

static bool block_size_ok(uint64_t size)
{
    return size >= VIRTIO_BLK_MIN_BLOCK_SIZE &&
           size <= VIRTIO_BLK_MAX_BLOCK_SIZE && !(size & (size - 1));
}

/* Checks the properties that need no drive. */
static bool virtio_blk_check_props(VirtIOBlock *s, int *devfn, GError **errp)
{
    Machine *m = DEVICE(s)->machine;

    if (!s->drive) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "virtio-blk-pci: drive property not set");
        return false;
    }
    if (s->physical_block_size == 0) {
        s->physical_block_size = s->logical_block_size;
    }
    if (!block_size_ok(s->logical_block_size) ||
        !block_size_ok(s->physical_block_size)) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "virtio-blk-pci: logical_block_size=%" PRIu64
                    " physical_block_size=%" PRIu64 ": expected powers of "
                    "2 from 512 to 32768", s->logical_block_size,
                    s->physical_block_size);
        return false;
    }
    if (s->physical_block_size < s->logical_block_size) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "virtio-blk-pci: physical_block_size %" PRIu64 " is "
                    "smaller than logical_block_size %" PRIu64,
                    s->physical_block_size, s->logical_block_size);
        return false;
    }
    if (s->num_queues == 0) {
        s->num_queues = CLAMP(m->cfg.smp, 1, VIRTIO_BLK_MAX_QUEUES);
    }
    if (s->num_queues > VIRTIO_BLK_MAX_QUEUES) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "virtio-blk-pci: num-queues=%u: expected 1 to %d",
                    s->num_queues, VIRTIO_BLK_MAX_QUEUES);
        return false;
    }
    if (s->queue_size < 4 || s->queue_size > VIRTQUEUE_MAX_SIZE ||
        (s->queue_size & (s->queue_size - 1))) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "virtio-blk-pci: queue-size=%u: expected a power of 2 "
                    "from 4 to %d", s->queue_size, VIRTQUEUE_MAX_SIZE);
        return false;
    }
    if (s->serial && strlen(s->serial) > VIRTIO_BLK_ID_BYTES) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "virtio-blk-pci: serial '%s' is longer than %d bytes",
                    s->serial, VIRTIO_BLK_ID_BYTES);
        return false;
    }
    if (g_strcmp0(s->write_cache, "auto") != 0 &&
        g_strcmp0(s->write_cache, "on") != 0 &&
        g_strcmp0(s->write_cache, "off") != 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "virtio-blk-pci: write-cache=%s: expected on, off or "
                    "auto", s->write_cache ? s->write_cache : "");
        return false;
    }
    *devfn = -1;
    return !s->addr || parse_pci_addr(s->addr, devfn, errp);
}

/* The qdev path query-block shows, as QEMU spells it. */
static char *virtio_blk_qdev_path(VirtIOBlock *s)
{
    Machine *m = DEVICE(s)->machine;
    unsigned anon = 0;

    if (DEVICE(s)->id) {
        return g_strdup_printf("/machine/peripheral/%s/virtio-backend",
                               DEVICE(s)->id);
    }
    for (guint i = 0; m->devices && i < m->devices->len; i++) {
        Device *d = g_ptr_array_index(m->devices, i);

        if (d->cls == &virtio_blk_pci_class && !d->id) {
            anon++;
        }
    }
    return g_strdup_printf("/machine/peripheral-anon/device[%u]/"
                           "virtio-backend", anon);
}

static void virtio_blk_unrealize(Device *dev)
{
    VirtIOBlock *s = (VirtIOBlock *)dev;

    if (s->blk) {
        virtio_blk_drain(s);
    }
    if (s->realized_virtio) {
        virtio_blk_drop_retries(s);
    }
    if (s->realized_pci) {
        virtio_pci_unrealize(&s->proxy);
        s->realized_pci = false;
    }
    if (s->realized_virtio) {
        virtio_cleanup(&s->vdev);
        s->realized_virtio = false;
    }
    if (s->notify_bh) {
        bh_free(s->notify_bh);
        s->notify_bh = NULL;
    }
    s->blk = NULL;
}

static bool virtio_blk_realize(Device *dev, GError **errp)
{
    VirtIOBlock *s = (VirtIOBlock *)dev;
    Machine *m = dev->machine;
    g_autofree char *qdev_path = NULL;
    uint64_t features;
    int devfn;

    if (!virtio_blk_check_props(s, &devfn, errp)) {
        return false;
    }
    qdev_path = virtio_blk_qdev_path(s);
    s->dinfo = drive_claim(m, s->drive, qdev_path, errp);
    if (!s->dinfo) {
        return false;
    }
    s->blk = s->dinfo->blk;
    if (!s->serial && s->dinfo->serial) {
        s->serial = g_strndup(s->dinfo->serial, VIRTIO_BLK_ID_BYTES);
    }
    if (strcmp(s->write_cache, "on") == 0) {
        blk_set_enable_write_cache(s->blk, true);
    } else if (strcmp(s->write_cache, "off") == 0) {
        blk_set_enable_write_cache(s->blk, false);
    }
    s->original_wce = blk_enable_write_cache(s->blk);
    s->wce = s->original_wce;

    features = (1ULL << VIRTIO_BLK_F_SEG_MAX) |
               (1ULL << VIRTIO_BLK_F_BLK_SIZE) |
               (1ULL << VIRTIO_BLK_F_FLUSH) |
               (1ULL << VIRTIO_BLK_F_TOPOLOGY) |
               (1ULL << VIRTIO_BLK_F_CONFIG_WCE);
    if (s->num_queues > 1) {
        features |= 1ULL << VIRTIO_BLK_F_MQ;
    }
    if (s->discard) {
        features |= 1ULL << VIRTIO_BLK_F_DISCARD;
    }
    if (s->write_zeroes) {
        features |= 1ULL << VIRTIO_BLK_F_WRITE_ZEROES;
    }
    if (blk_is_read_only(s->blk)) {
        features |= 1ULL << VIRTIO_BLK_F_RO;
    }

    s->notify_bh = bh_new(m->loop, virtio_blk_notify_bh, s);
    virtio_init(&s->vdev, m, "virtio-blk", VIRTIO_ID_BLOCK, features,
                VIRTIO_BLK_CFG_SIZE, s->num_queues, s->queue_size,
                &virtio_blk_ops);
    s->realized_virtio = true;
    s->proxy.use_ioeventfd = s->ioeventfd;
    if (!virtio_pci_realize(&s->proxy, m, &s->vdev, "virtio-blk-pci", devfn,
                            PCI_CLASS_STORAGE_SCSI, s->num_queues + 1,
                            errp)) {
        virtio_blk_unrealize(dev);
        /* Give the drive back: another device may take it. */
        g_clear_pointer(&s->dinfo->device, g_free);
        return false;
    }
    s->realized_pci = true;
    return true;
}

static void virtio_blk_device_reset(Device *dev)
{
    VirtIOBlock *s = (VirtIOBlock *)dev;

    virtio_pci_reset(&s->proxy);
}

const DeviceClass virtio_blk_pci_class = {
    .name = "virtio-blk-pci",
    .desc = "virtio block device (PCI)",
    .instance_size = sizeof(VirtIOBlock),
    .user_creatable = true,
    .props = virtio_blk_props,
    .vmstate = virtio_blk_vmstate,
    .realize = virtio_blk_realize,
    .reset = virtio_blk_device_reset,
    .unrealize = virtio_blk_unrealize,
    .vm_state_change = virtio_blk_vm_state_change,
};

/* ---- for the monitor ---- */

Device *virtio_blk_nth(Machine *m, unsigned n)
{
    for (guint i = 0; m->devices && i < m->devices->len; i++) {
        Device *d = g_ptr_array_index(m->devices, i);

        if (d->cls == &virtio_blk_pci_class && n-- == 0) {
            return d;
        }
    }
    return NULL;
}

BlockBackend *virtio_blk_get_blk(Device *dev)
{
    return ((VirtIOBlock *)dev)->blk;
}

const char *virtio_blk_io_status(Device *dev)
{
    switch (((VirtIOBlock *)dev)->io_status) {
    case VIRTIO_BLK_IO_STATUS_FAILED:
        return "failed";
    case VIRTIO_BLK_IO_STATUS_NOSPACE:
        return "nospace";
    default:
        return "ok";
    }
}
