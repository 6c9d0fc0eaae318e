/*
 * Scatter/gather list helpers (see lemu/util/iov.h).
 */
#include <string.h>
#include <glib.h>
#include "lemu/util/iov.h"

/* What iov_from_buf, iov_to_buf and iov_memset do to one piece. */
typedef enum { IOV_FROM_BUF, IOV_TO_BUF, IOV_SET } IovCopy;

static size_t iov_copy(const struct iovec *iov, unsigned niov, size_t offset,
                       uint8_t *buf, int c, size_t bytes, IovCopy how)
{
    size_t done = 0;

    for (unsigned i = 0; i < niov && done < bytes; i++) {
        uint8_t *base = iov[i].iov_base;
        size_t n;

        if (offset >= iov[i].iov_len) {
            offset -= iov[i].iov_len;
            continue;
        }
        n = MIN(iov[i].iov_len - offset, bytes - done);
        switch (how) {
        case IOV_FROM_BUF:
            memcpy(base + offset, buf + done, n);
            break;
        case IOV_TO_BUF:
            memcpy(buf + done, base + offset, n);
            break;
        case IOV_SET:
            memset(base + offset, c, n);
            break;
        }
        done += n;
        offset = 0;
    }
    return done;
}

size_t iov_from_buf(const struct iovec *iov, unsigned niov, size_t offset,
                    const void *buf, size_t bytes)
{
    return iov_copy(iov, niov, offset, (uint8_t *)buf, 0, bytes,
                    IOV_FROM_BUF);
}

size_t iov_to_buf(const struct iovec *iov, unsigned niov, size_t offset,
                  void *buf, size_t bytes)
{
    return iov_copy(iov, niov, offset, buf, 0, bytes, IOV_TO_BUF);
}

size_t iov_memset(const struct iovec *iov, unsigned niov, size_t offset,
                  int c, size_t bytes)
{
    return iov_copy(iov, niov, offset, NULL, c, bytes, IOV_SET);
}

unsigned iov_slice(const struct iovec *src, unsigned src_n, uint64_t offset,
                   uint64_t bytes, struct iovec *dst)
{
    unsigned n = 0;

    for (unsigned i = 0; i < src_n && bytes; i++) {
        if (offset >= src[i].iov_len) {
            offset -= src[i].iov_len;
            continue;
        }
        dst[n].iov_base = (uint8_t *)src[i].iov_base + offset;
        dst[n].iov_len = MIN(src[i].iov_len - offset, bytes);
        bytes -= dst[n].iov_len;
        offset = 0;
        n++;
    }
    return n;
}

struct iovec *iov_slice_dup(const struct iovec *src, unsigned src_n,
                            uint64_t offset, uint64_t bytes, int *niov_out)
{
    struct iovec *dst = g_new(struct iovec, MAX(src_n, 1));

    *niov_out = (int)iov_slice(src, src_n, offset, bytes, dst);
    return dst;
}

void iov_advance(struct iovec **iov, int *niov, size_t n)
{
    while (n && *niov) {
        if (n >= (*iov)->iov_len) {
            n -= (*iov)->iov_len;
            (*iov)++;
            (*niov)--;
        } else {
            (*iov)->iov_base = (uint8_t *)(*iov)->iov_base + n;
            (*iov)->iov_len -= n;
            n = 0;
        }
    }
    /* Empty elements next: skip them, so that the next transfer has
     * something to do. */
    while (*niov && (*iov)->iov_len == 0) {
        (*iov)++;
        (*niov)--;
    }
}
