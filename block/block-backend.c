/*
 * BlockBackend: a device's or a tool's handle on the top node of an
 * image. Asynchronous requests copy their iovec, run the synchronous
 * bdrv_* call on a worker thread of the backend's pool (or go to an
 * io_uring for raw files opened with aio=io_uring) and complete on the
 * main loop. With the write cache off every write is flushed before it
 * completes.
 */
#include <errno.h>
#include <string.h>
#include "lemu-config.h"
#include "lemu/block/block-backend.h"
#include "lemu/util/log.h"
#include "lemu/util/thread-pool.h"

#define BLK_DEFAULT_MAX_WORKERS 64

/* io-uring.c */
typedef struct BlkIoUring BlkIoUring;
typedef void BlkIoUringFunc(void *opaque, int ret);
BlkIoUring *blk_io_uring_new(MainLoop *loop, GError **errp);
bool blk_io_uring_submit(BlkIoUring *ring, bool is_write, int fd,
                         uint64_t offset, struct iovec *iov, int niov,
                         BlkIoUringFunc *cb, void *opaque);
void blk_io_uring_free(BlkIoUring *ring);
/* file-posix.c and raw-format.c */
int file_posix_fd(BlockDriverState *bs);
bool raw_format_passthrough(BlockDriverState *bs, uint64_t offset,
                            bool is_write, uint64_t *base);

typedef enum {
    BLK_REQ_READ,
    BLK_REQ_WRITE,
    BLK_REQ_FLUSH,
    BLK_REQ_DISCARD,
    BLK_REQ_WRITE_ZEROES,
} BlkReqType;

struct BlockBackend {
    MainLoop *loop;
    BlockDriverState *bs;
    char *name;
    ThreadPool *pool;           /* created with the first request */
    int max_workers;
    bool enable_write_cache;
    BlockdevOnError on_read_error;
    BlockdevOnError on_write_error;
    unsigned in_flight;         /* main loop thread only */
    BlockAcctStats stats;       /* main loop thread only */
#if CONFIG_LINUX_IO_URING
    BlkIoUring *ring;
    bool ring_failed;           /* could not set one up: threads only */
#endif
};

typedef struct BlkAioReq {
    BlockBackend *blk;
    BlkReqType type;
    uint64_t offset;
    uint64_t bytes;
    struct iovec *iov;
    int niov;
    int flags;
    BlockCompletionFunc *cb;
    void *opaque;
    BlockDriverState *mapped;   /* holds a map_direct mapping */
} BlkAioReq;

int blockdev_on_error_parse(const char *s)
{
    if (!s) {
        return -1;
    }
    if (!strcmp(s, "report")) {
        return BLOCKDEV_ON_ERROR_REPORT;
    } else if (!strcmp(s, "ignore")) {
        return BLOCKDEV_ON_ERROR_IGNORE;
    } else if (!strcmp(s, "enospc")) {
        return BLOCKDEV_ON_ERROR_ENOSPC;
    } else if (!strcmp(s, "stop")) {
        return BLOCKDEV_ON_ERROR_STOP;
    }
    return -1;
}

const char *block_error_action_name(BlockErrorAction a)
{
    switch (a) {
    case BLOCK_ERROR_ACTION_IGNORE:
        return "ignore";
    case BLOCK_ERROR_ACTION_STOP:
        return "stop";
    case BLOCK_ERROR_ACTION_REPORT:
    default:
        return "report";
    }
}

BlockBackend *blk_new(MainLoop *loop, BlockDriverState *bs)
{
    BlockBackend *blk = g_new0(BlockBackend, 1);

    blk->loop = loop;
    blk->bs = bs;
    blk->name = g_strdup("");
    blk->max_workers = BLK_DEFAULT_MAX_WORKERS;
    blk->enable_write_cache = true;
    blk->on_read_error = BLOCKDEV_ON_ERROR_REPORT;
    blk->on_write_error = BLOCKDEV_ON_ERROR_ENOSPC;
    return blk;
}

BlockBackend *blk_new_open(MainLoop *loop, const char *filename,
                           const char *format, GHashTable *options,
                           int flags, GError **errp)
{
    BlockDriverState *bs = bdrv_open(filename, format, options, flags, errp);

    return bs ? blk_new(loop, bs) : NULL;
}

void blk_unref(BlockBackend *blk)
{
    if (!blk) {
        return;
    }
    if (blk->loop) {
        blk_drain(blk);
    }
    thread_pool_free(blk->pool);
#if CONFIG_LINUX_IO_URING
    blk_io_uring_free(blk->ring);
#endif
    bdrv_unref(blk->bs);
    g_free(blk->name);
    g_free(blk);
}

BlockDriverState *blk_bs(BlockBackend *blk)
{
    return blk->bs;
}

void blk_replace_bs(BlockBackend *blk, BlockDriverState *bs)
{
    if (blk->loop) {
        blk_drain(blk);
    }
#if CONFIG_LINUX_IO_URING
    /* The ring is tied to the old node's file. */
    blk_io_uring_free(blk->ring);
    blk->ring = NULL;
    blk->ring_failed = false;
#endif
    bdrv_unref(blk->bs);
    blk->bs = bs;
}

const char *blk_name(BlockBackend *blk)
{
    return blk->name;
}

void blk_set_name(BlockBackend *blk, const char *name)
{
    g_free(blk->name);
    blk->name = g_strdup(name ? name : "");
}

int64_t blk_getlength(BlockBackend *blk)
{
    return bdrv_getlength(blk->bs);
}

bool blk_is_read_only(BlockBackend *blk)
{
    return !blk->bs || !(blk->bs->open_flags & BDRV_O_RDWR);
}

void blk_set_enable_write_cache(BlockBackend *blk, bool enable)
{
    blk->enable_write_cache = enable;
}

bool blk_enable_write_cache(BlockBackend *blk)
{
    return blk->enable_write_cache;
}

void blk_set_max_workers(BlockBackend *blk, int n)
{
    blk->max_workers = CLAMP(n, 1, 1024);
}

/* Requests must stay inside the disk. */
static int blk_check_range(BlockBackend *blk, uint64_t offset,
                           uint64_t bytes)
{
    int64_t len;

    if (!blk->bs) {
        return -ENOMEDIUM;
    }
    len = bdrv_getlength(blk->bs);
    if (len < 0) {
        return len;
    }
    if (offset > (uint64_t)len || bytes > (uint64_t)len - offset) {
        return -EIO;
    }
    return 0;
}

/* Runs on a worker thread. */
static int blk_aio_work(void *opaque)
{
    BlkAioReq *req = opaque;
    BlockBackend *blk = req->blk;
    bool is_write = req->type != BLK_REQ_READ && req->type != BLK_REQ_FLUSH;
    int ret = 0;

    if (req->type != BLK_REQ_FLUSH) {
        ret = blk_check_range(blk, req->offset, req->bytes);
        if (ret < 0) {
            return ret;
        }
    }
    if (is_write && blk_is_read_only(blk)) {
        return -EACCES;
    }
    switch (req->type) {
    case BLK_REQ_READ:
        ret = bdrv_preadv(blk->bs, req->offset, req->bytes, req->iov,
                          req->niov);
        break;
    case BLK_REQ_WRITE:
        ret = bdrv_pwritev(blk->bs, req->offset, req->bytes, req->iov,
                           req->niov, req->flags);
        break;
    case BLK_REQ_FLUSH:
        ret = blk_is_read_only(blk) ? 0 : bdrv_flush(blk->bs);
        break;
    case BLK_REQ_DISCARD:
        ret = bdrv_pdiscard(blk->bs, req->offset, req->bytes);
        break;
    case BLK_REQ_WRITE_ZEROES:
        ret = bdrv_pwrite_zeroes(blk->bs, req->offset, req->bytes,
                                 req->flags);
        break;
    }
    /* Write cache off: the data is stable before the guest hears of it. */
    if (ret >= 0 && is_write && req->type != BLK_REQ_DISCARD &&
        !blk->enable_write_cache) {
        ret = bdrv_flush(blk->bs);
    }
    return ret < 0 ? ret : 0;
}

static void blk_account(BlockBackend *blk, BlkAioReq *req, int ret)
{
    BlockAcctStats *st = &blk->stats;

    switch (req->type) {
    case BLK_REQ_READ:
        if (ret < 0) {
            st->failed_rd_ops++;
        } else {
            st->rd_ops++;
            st->rd_bytes += req->bytes;
        }
        break;
    case BLK_REQ_WRITE:
    case BLK_REQ_WRITE_ZEROES:
        if (ret < 0) {
            st->failed_wr_ops++;
        } else {
            st->wr_ops++;
            st->wr_bytes += req->bytes;
        }
        break;
    case BLK_REQ_FLUSH:
        st->flush_ops++;
        break;
    case BLK_REQ_DISCARD:
        st->discard_ops++;
        break;
    }
}

/* Runs on the main loop. */
static void blk_aio_complete(void *opaque, int ret)
{
    BlkAioReq *req = opaque;
    BlockBackend *blk = req->blk;

    if (req->mapped) {
        req->mapped->drv->map_direct_release(req->mapped);
        req->mapped = NULL;
    }
    blk_account(blk, req, ret);
    blk->in_flight--;
    if (req->cb) {
        req->cb(req->opaque, ret);
    }
    g_free(req->iov);
    g_free(req);
}

#if CONFIG_LINUX_IO_URING
/* The file descriptor and offset for a request that io_uring can do on
 * its own: a raw window or a plain file under the backend, no
 * O_DIRECT alignment to fix up, no flush after each write. */
static bool blk_uring_target(BlockBackend *blk, BlkAioReq *req, int *fd,
                             uint64_t *offset)
{
    BlockDriverState *bs = blk->bs;
    bool write = req->type == BLK_REQ_WRITE;
    uint64_t base = 0;

    if (req->type != BLK_REQ_READ && req->type != BLK_REQ_WRITE) {
        return false;
    }
    if (write && (!blk->enable_write_cache || (req->flags & BDRV_REQ_FUA))) {
        return false;
    }
    if (!bs->drv->is_protocol) {
        BlockDriverState *file = bs->file;

        if (!file || !file->drv->is_protocol ||
            !(file->open_flags & BDRV_O_IO_URING) ||
            strcmp(file->drv->format_name, "file") != 0) {
            return false;
        }
        if (bs->drv->map_direct) {
            /* A format that can point us at the file: the data of an
             * allocated qcow2 cluster, for instance. */
            if (!bs->drv->map_direct(bs, req->offset, req->bytes, write,
                                     &base)) {
                return false;
            }
            req->mapped = bs;
            base -= req->offset;
        } else if (!raw_format_passthrough(bs, req->offset, write, &base)) {
            return false;
        }
        bs = file;
    }
    if (!bs->drv->is_protocol || !(bs->open_flags & BDRV_O_IO_URING) ||
        strcmp(bs->drv->format_name, "file") != 0) {
        goto unmap;
    }
    if (bs->request_alignment > 1) {
        uint64_t a = bs->request_alignment - 1;

        if (((base + req->offset) | req->bytes) & a) {
            goto unmap;
        }
        for (int i = 0; i < req->niov; i++) {
            if (((uintptr_t)req->iov[i].iov_base | req->iov[i].iov_len) &
                a) {
                goto unmap;
            }
        }
    }
    *fd = file_posix_fd(bs);
    *offset = base + req->offset;
    return true;

unmap:
    if (req->mapped) {
        req->mapped->drv->map_direct_release(req->mapped);
        req->mapped = NULL;
    }
    return false;
}

static bool blk_try_uring(BlockBackend *blk, BlkAioReq *req)
{
    uint64_t offset;
    int fd;

    if (blk->ring_failed) {
        return false;
    }
    if (req->type == BLK_REQ_WRITE && blk_is_read_only(blk)) {
        return false;
    }
    if (blk_check_range(blk, req->offset, req->bytes) < 0) {
        return false;   /* the worker path reports the error */
    }
    if (!blk_uring_target(blk, req, &fd, &offset)) {
        return false;
    }
    if (!blk->ring) {
        GError *err = NULL;

        blk->ring = blk_io_uring_new(blk->loop, &err);
        if (!blk->ring) {
            warn_report("aio=io_uring: %s; using threads", err->message);
            g_error_free(err);
            blk->ring_failed = true;
            goto unmap;
        }
    }
    if (blk_io_uring_submit(blk->ring, req->type == BLK_REQ_WRITE, fd,
                            offset, req->iov, req->niov,
                            blk_aio_complete, req)) {
        return true;
    }
unmap:
    if (req->mapped) {
        req->mapped->drv->map_direct_release(req->mapped);
        req->mapped = NULL;
    }
    return false;
}
#endif

static void blk_aio_submit(BlockBackend *blk, BlkReqType type,
                           uint64_t offset, uint64_t bytes,
                           const struct iovec *iov, int niov, int flags,
                           BlockCompletionFunc *cb, void *opaque)
{
    BlkAioReq *req = g_new0(BlkAioReq, 1);

    req->blk = blk;
    req->type = type;
    req->offset = offset;
    req->bytes = bytes;
    req->iov = niov > 0 ? g_memdup2(iov, sizeof(*iov) * niov) : NULL;
    req->niov = MAX(niov, 0);
    req->flags = flags;
    req->cb = cb;
    req->opaque = opaque;
    blk->in_flight++;

#if CONFIG_LINUX_IO_URING
    if (blk_try_uring(blk, req)) {
        return;
    }
#endif
    if (!blk->pool) {
        blk->pool = thread_pool_new(blk->loop, blk->max_workers);
    }
    thread_pool_submit(blk->pool, blk_aio_work, blk_aio_complete, req);
}

void blk_aio_preadv(BlockBackend *blk, uint64_t offset,
                    const struct iovec *iov, int niov,
                    BlockCompletionFunc *cb, void *opaque)
{
    blk_aio_submit(blk, BLK_REQ_READ, offset, iov_size(iov, niov), iov,
                   niov, 0, cb, opaque);
}

void blk_aio_pwritev(BlockBackend *blk, uint64_t offset,
                     const struct iovec *iov, int niov, int flags,
                     BlockCompletionFunc *cb, void *opaque)
{
    blk_aio_submit(blk, BLK_REQ_WRITE, offset, iov_size(iov, niov), iov,
                   niov, flags, cb, opaque);
}

void blk_aio_flush(BlockBackend *blk, BlockCompletionFunc *cb,
                   void *opaque)
{
    blk_aio_submit(blk, BLK_REQ_FLUSH, 0, 0, NULL, 0, 0, cb, opaque);
}

void blk_aio_pdiscard(BlockBackend *blk, uint64_t offset, uint64_t bytes,
                      BlockCompletionFunc *cb, void *opaque)
{
    blk_aio_submit(blk, BLK_REQ_DISCARD, offset, bytes, NULL, 0, 0, cb,
                   opaque);
}

void blk_aio_pwrite_zeroes(BlockBackend *blk, uint64_t offset,
                           uint64_t bytes, int flags,
                           BlockCompletionFunc *cb, void *opaque)
{
    blk_aio_submit(blk, BLK_REQ_WRITE_ZEROES, offset, bytes, NULL, 0, flags,
                   cb, opaque);
}

unsigned blk_in_flight(BlockBackend *blk)
{
    return blk->in_flight;
}

void blk_drain(BlockBackend *blk)
{
    while (blk->in_flight > 0) {
        main_loop_iterate(blk->loop, true);
    }
}

/* ---- synchronous requests ---- */

int blk_pread(BlockBackend *blk, uint64_t offset, void *buf, uint64_t n)
{
    int ret = blk_check_range(blk, offset, n);

    if (ret < 0) {
        blk->stats.failed_rd_ops++;
        return ret;
    }
    ret = bdrv_pread(blk->bs, offset, buf, n);
    if (ret < 0) {
        blk->stats.failed_rd_ops++;
    } else {
        blk->stats.rd_ops++;
        blk->stats.rd_bytes += n;
    }
    return ret;
}

int blk_pwrite(BlockBackend *blk, uint64_t offset, const void *buf,
               uint64_t n, int flags)
{
    int ret = blk_check_range(blk, offset, n);

    if (ret == 0 && blk_is_read_only(blk)) {
        ret = -EACCES;
    }
    if (ret == 0) {
        ret = bdrv_pwrite(blk->bs, offset, buf, n, flags);
    }
    if (ret == 0 && !blk->enable_write_cache) {
        ret = bdrv_flush(blk->bs);
    }
    if (ret < 0) {
        blk->stats.failed_wr_ops++;
    } else {
        blk->stats.wr_ops++;
        blk->stats.wr_bytes += n;
    }
    return ret;
}

int blk_flush(BlockBackend *blk)
{
    if (!blk->bs) {
        return -ENOMEDIUM;
    }
    blk->stats.flush_ops++;
    return blk_is_read_only(blk) ? 0 : bdrv_flush(blk->bs);
}

/* ---- error policy ---- */

void blk_set_on_error(BlockBackend *blk, BlockdevOnError on_read_error,
                      BlockdevOnError on_write_error)
{
    blk->on_read_error = on_read_error;
    blk->on_write_error = on_write_error;
}

BlockdevOnError blk_get_on_error(BlockBackend *blk, bool is_read)
{
    return is_read ? blk->on_read_error : blk->on_write_error;
}

BlockErrorAction blk_get_error_action(BlockBackend *blk, bool is_read,
                                      int error)
{
    switch (blk_get_on_error(blk, is_read)) {
    case BLOCKDEV_ON_ERROR_ENOSPC:
        return error == ENOSPC ? BLOCK_ERROR_ACTION_STOP :
               BLOCK_ERROR_ACTION_REPORT;
    case BLOCKDEV_ON_ERROR_STOP:
        return BLOCK_ERROR_ACTION_STOP;
    case BLOCKDEV_ON_ERROR_IGNORE:
        return BLOCK_ERROR_ACTION_IGNORE;
    case BLOCKDEV_ON_ERROR_REPORT:
    default:
        return BLOCK_ERROR_ACTION_REPORT;
    }
}

const BlockAcctStats *blk_stats(BlockBackend *blk)
{
    return &blk->stats;
}
