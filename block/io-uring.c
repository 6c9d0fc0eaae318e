/*
 * aio=io_uring: one ring per BlockBackend for reads and writes of a raw
 * file. Requests are submitted from the main loop thread; the kernel
 * signals completions on an eventfd that the main loop watches, and the
 * handler reaps them and runs the callbacks there. Short transfers are
 * resubmitted for the rest; a read that reaches the end of the file
 * fills the rest with zeroes, as file-posix does.
 *
 * Submission is batched: requests queued during one pass of the main loop
 * (a guest's burst, or the next ones a completion callback issues) go to
 * the kernel together, with one io_uring_enter, from a bottom half.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include "lemu-config.h"
#include "lemu/block/block.h"
#include "lemu/util/iov.h"
#include "lemu/util/log.h"
#include "lemu/util/main-loop.h"

#if CONFIG_LINUX_IO_URING
#include <liburing.h>

#define BLK_IO_URING_ENTRIES 128

typedef void BlkIoUringFunc(void *opaque, int ret);

typedef struct BlkIoUringReq {
    bool is_write;
    int fd;
    uint64_t offset;            /* of the part not transferred yet */
    struct iovec *iov;          /* own copy, advanced on short I/O */
    struct iovec *iov_cur;
    int niov;                   /* elements left from iov_cur */
    BlkIoUringFunc *cb;
    void *opaque;
} BlkIoUringReq;

typedef struct BlkIoUring {
    struct io_uring ring;
    int efd;
    FdHandler *handler;
    GQueue waiting;             /* BlkIoUringReq * the ring had no room for */
    unsigned in_ring;           /* queued or submitted, not reaped */
    BottomHalf *submit_bh;      /* hands the queued requests to the kernel */
} BlkIoUring;

BlkIoUring *blk_io_uring_new(MainLoop *loop, GError **errp);
bool blk_io_uring_submit(BlkIoUring *r, bool is_write, int fd,
                         uint64_t offset, struct iovec *iov, int niov,
                         BlkIoUringFunc *cb, void *opaque);
void blk_io_uring_free(BlkIoUring *r);

/* Puts @req on the ring; false when the ring is full. */
static bool blk_io_uring_queue(BlkIoUring *r, BlkIoUringReq *req)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);

    if (!sqe) {
        return false;
    }
    if (req->is_write) {
        io_uring_prep_writev(sqe, req->fd, req->iov_cur,
                             MIN(req->niov, IOV_MAX), req->offset);
    } else {
        io_uring_prep_readv(sqe, req->fd, req->iov_cur,
                            MIN(req->niov, IOV_MAX), req->offset);
    }
    io_uring_sqe_set_data(sqe, req);
    r->in_ring++;
    return true;
}

static void blk_io_uring_finish(BlkIoUringReq *req, int ret)
{
    req->cb(req->opaque, ret);
    g_free(req->iov);
    g_free(req);
}

static void blk_io_uring_advance(BlkIoUringReq *req, size_t n)
{
    req->offset += n;
    iov_advance(&req->iov_cur, &req->niov, n);
}

/* One completion: done, failed, or to be resubmitted for the rest. */
static bool blk_io_uring_complete_one(BlkIoUring *r, BlkIoUringReq *req,
                                      int res)
{
    if (res == -EINTR || res == -EAGAIN) {
        return false;
    }
    if (res < 0) {
        blk_io_uring_finish(req, res);
        return true;
    }
    if (res == 0) {
        if (req->is_write) {
            blk_io_uring_finish(req, -ENOSPC);
            return true;
        }
        /* End of file: the rest reads as zeroes. */
        iov_memset(req->iov_cur, req->niov, 0, 0, SIZE_MAX);
        blk_io_uring_finish(req, 0);
        return true;
    }
    blk_io_uring_advance(req, res);
    if (req->niov == 0) {
        blk_io_uring_finish(req, 0);
        return true;
    }
    return false;
}

static void blk_io_uring_submit_waiting(BlkIoUring *r)
{
    BlkIoUringReq *req;

    while ((req = g_queue_peek_head(&r->waiting))) {
        if (!blk_io_uring_queue(r, req)) {
            break;
        }
        g_queue_pop_head(&r->waiting);
    }
    io_uring_submit(&r->ring);
}

static void blk_io_uring_reap(BlkIoUring *r)
{
    struct io_uring_cqe *cqe;

    while (io_uring_peek_cqe(&r->ring, &cqe) == 0) {
        BlkIoUringReq *req = io_uring_cqe_get_data(cqe);
        int res = cqe->res;

        io_uring_cqe_seen(&r->ring, cqe);
        r->in_ring--;
        if (!blk_io_uring_complete_one(r, req, res)) {
            /* The rest goes to the back of the queue. */
            g_queue_push_tail(&r->waiting, req);
        }
    }
    if (!g_queue_is_empty(&r->waiting)) {
        blk_io_uring_submit_waiting(r);
    }
}

static void blk_io_uring_submit_bh(void *opaque)
{
    BlkIoUring *r = opaque;

    io_uring_submit(&r->ring);
}

static void blk_io_uring_event(void *opaque, int fd, GIOCondition ready)
{
    BlkIoUring *r = opaque;
    uint64_t count;

    if (read(r->efd, &count, sizeof(count)) < 0 && errno != EAGAIN) {
        return;
    }
    blk_io_uring_reap(r);
}

BlkIoUring *blk_io_uring_new(MainLoop *loop, GError **errp)
{
    BlkIoUring *r = g_new0(BlkIoUring, 1);
    int ret = io_uring_queue_init(BLK_IO_URING_ENTRIES, &r->ring, 0);

    if (ret < 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_UNSUPPORTED,
                    "could not set up an io_uring: %s", g_strerror(-ret));
        g_free(r);
        return NULL;
    }
    r->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (r->efd < 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                    "eventfd: %s", g_strerror(errno));
        io_uring_queue_exit(&r->ring);
        g_free(r);
        return NULL;
    }
    ret = io_uring_register_eventfd(&r->ring, r->efd);
    if (ret < 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_UNSUPPORTED,
                    "io_uring_register_eventfd: %s", g_strerror(-ret));
        close(r->efd);
        io_uring_queue_exit(&r->ring);
        g_free(r);
        return NULL;
    }
    g_queue_init(&r->waiting);
    r->handler = main_loop_add_fd(loop, r->efd, G_IO_IN, blk_io_uring_event,
                                  r);
    r->submit_bh = bh_new(loop, blk_io_uring_submit_bh, r);
    return r;
}

bool blk_io_uring_submit(BlkIoUring *r, bool is_write, int fd,
                         uint64_t offset, struct iovec *iov, int niov,
                         BlkIoUringFunc *cb, void *opaque)
{
    BlkIoUringReq *req = g_new0(BlkIoUringReq, 1);

    req->is_write = is_write;
    req->fd = fd;
    req->offset = offset;
    req->iov = g_memdup2(iov, sizeof(*iov) * MAX(niov, 1));
    req->iov_cur = req->iov;
    req->niov = niov;
    req->cb = cb;
    req->opaque = opaque;
    blk_io_uring_advance(req, 0);
    req->offset = offset;
    if (req->niov == 0) {
        g_free(req->iov);
        g_free(req);
        return false;   /* nothing to transfer: let the thread path do it */
    }
    if (!g_queue_is_empty(&r->waiting) || !blk_io_uring_queue(r, req)) {
        g_queue_push_tail(&r->waiting, req);
    } else {
        bh_schedule(r->submit_bh);
    }
    return true;
}

void blk_io_uring_free(BlkIoUring *r)
{
    if (!r) {
        return;
    }
    /* The backend drained: nothing is in the ring or waiting. */
    while (r->in_ring || !g_queue_is_empty(&r->waiting)) {
        struct io_uring_cqe *cqe;

        /* Also what the bottom half has not submitted yet. */
        blk_io_uring_submit_waiting(r);
        if (io_uring_wait_cqe(&r->ring, &cqe) < 0) {
            break;
        }
        blk_io_uring_reap(r);
    }
    fd_handler_remove(r->handler);
    bh_free(r->submit_bh);
    io_uring_queue_exit(&r->ring);
    close(r->efd);
    g_free(r);
}

#else
typedef int lemu_io_uring_unavailable;
#endif
