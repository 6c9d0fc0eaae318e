/*
 * BlockBackend: what a device or a tool holds to do I/O on an image. It
 * owns a reference to the top BlockDriverState and adds:
 *  - asynchronous requests: submitted from the main loop thread (with the
 *    machine lock held in lemu), run on the backend's worker threads (or
 *    io_uring for raw files with aio=io_uring), completed back on the main
 *    loop, where the callback runs (with the machine lock held when the
 *    loop has one);
 *  - the write cache policy: with the write cache off (cache=writethrough,
 *    directsync) every write is followed by a flush before it completes;
 *  - the error policy (werror/rerror), which the device applies.
 */
#ifndef LEMU_BLOCK_BLOCK_BACKEND_H
#define LEMU_BLOCK_BLOCK_BACKEND_H

#include "lemu/block/block.h"
#include "lemu/util/main-loop.h"

typedef struct BlockBackend BlockBackend;

/* @ret is 0 or -errno (reads and writes never complete short). */
typedef void BlockCompletionFunc(void *opaque, int ret);

typedef enum {
    BLOCKDEV_ON_ERROR_REPORT,   /* default for rerror */
    BLOCKDEV_ON_ERROR_IGNORE,
    BLOCKDEV_ON_ERROR_ENOSPC,   /* default for werror: stop on ENOSPC,
                                   report the rest */
    BLOCKDEV_ON_ERROR_STOP,
} BlockdevOnError;

typedef enum {
    BLOCK_ERROR_ACTION_REPORT,
    BLOCK_ERROR_ACTION_IGNORE,
    BLOCK_ERROR_ACTION_STOP,
} BlockErrorAction;

/* "report", "ignore", "enospc", "stop"; -1 when unknown. */
int blockdev_on_error_parse(const char *s);
/* "report", "ignore", "stop" for the BLOCK_IO_ERROR event. */
const char *block_error_action_name(BlockErrorAction a);

/* Opens an image as bdrv_open() does and wraps it. @loop is where
 * completions run. */
BlockBackend *blk_new_open(MainLoop *loop, const char *filename,
                           const char *format, GHashTable *options,
                           int flags, GError **errp);
/* Wraps an opened node; takes over the caller's reference. */
BlockBackend *blk_new(MainLoop *loop, BlockDriverState *bs);
/* Waits for every request in flight, flushes, drops the node. */
void blk_unref(BlockBackend *blk);

BlockDriverState *blk_bs(BlockBackend *blk);
/* Replaces the top node (snapshot=on overlay); takes the reference. */
void blk_replace_bs(BlockBackend *blk, BlockDriverState *bs);
const char *blk_name(BlockBackend *blk);        /* "" when unnamed */
void blk_set_name(BlockBackend *blk, const char *name);
int64_t blk_getlength(BlockBackend *blk);
bool blk_is_read_only(BlockBackend *blk);
void blk_set_enable_write_cache(BlockBackend *blk, bool enable);
bool blk_enable_write_cache(BlockBackend *blk);
/* Worker threads for this backend (default 64, like QEMU's pool). */
void blk_set_max_workers(BlockBackend *blk, int n);

/* ---- asynchronous requests: main loop thread only ---- */

/* The iovec array is copied; the buffers must stay until completion. */
void blk_aio_preadv(BlockBackend *blk, uint64_t offset,
                    const struct iovec *iov, int niov,
                    BlockCompletionFunc *cb, void *opaque);
void blk_aio_pwritev(BlockBackend *blk, uint64_t offset,
                     const struct iovec *iov, int niov, int flags,
                     BlockCompletionFunc *cb, void *opaque);
void blk_aio_flush(BlockBackend *blk, BlockCompletionFunc *cb,
                   void *opaque);
void blk_aio_pdiscard(BlockBackend *blk, uint64_t offset, uint64_t bytes,
                      BlockCompletionFunc *cb, void *opaque);
void blk_aio_pwrite_zeroes(BlockBackend *blk, uint64_t offset,
                           uint64_t bytes, int flags,
                           BlockCompletionFunc *cb, void *opaque);
/* Requests submitted and not yet completed. */
unsigned blk_in_flight(BlockBackend *blk);
/* Runs the main loop until nothing is in flight (machine lock held in
 * lemu; the loop drops it while it polls). */
void blk_drain(BlockBackend *blk);

/* ---- synchronous requests (tools; never from a device) ---- */

int blk_pread(BlockBackend *blk, uint64_t offset, void *buf, uint64_t n);
int blk_pwrite(BlockBackend *blk, uint64_t offset, const void *buf,
               uint64_t n, int flags);
int blk_flush(BlockBackend *blk);

/* ---- error policy ---- */

void blk_set_on_error(BlockBackend *blk, BlockdevOnError on_read_error,
                      BlockdevOnError on_write_error);
BlockdevOnError blk_get_on_error(BlockBackend *blk, bool is_read);
/* What to do about a failed request (@error is a positive errno). */
BlockErrorAction blk_get_error_action(BlockBackend *blk, bool is_read,
                                      int error);

/* ---- statistics for query-blockstats / info ---- */
typedef struct BlockAcctStats {
    uint64_t rd_bytes, wr_bytes, rd_ops, wr_ops, flush_ops;
    uint64_t discard_ops, failed_rd_ops, failed_wr_ops;
} BlockAcctStats;
const BlockAcctStats *blk_stats(BlockBackend *blk);

#endif
