/*
 * Compressed clusters. zlib: a raw deflate stream (window bits -12, no
 * zlib header) as QEMU writes it. zstd: one plain zstd frame. A
 * compressed cluster on disk is rounded up to whole 512-byte sectors, so
 * the decompressors stop once the cluster is complete and ignore what
 * follows.
 */
#include <errno.h>
#include <sys/types.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>
#include "qcow2.h"

static ssize_t zlib_compress(void *dest, size_t dest_size, const void *src,
                             size_t src_size)
{
    z_stream strm = { 0 };
    ssize_t ret;

    if (deflateInit2(&strm, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -12, 9,
                     Z_DEFAULT_STRATEGY) != Z_OK) {
        return -EIO;
    }
    strm.next_in = (Bytef *)src;
    strm.avail_in = src_size;
    strm.next_out = dest;
    strm.avail_out = dest_size;
    ret = deflate(&strm, Z_FINISH);
    if (ret == Z_STREAM_END) {
        ret = dest_size - strm.avail_out;
    } else {
        ret = (ret == Z_OK || ret == Z_BUF_ERROR) ? -ENOMEM : -EIO;
    }
    deflateEnd(&strm);
    return ret;
}

static ssize_t zlib_decompress(void *dest, size_t dest_size, const void *src,
                               size_t src_size)
{
    z_stream strm = { 0 };
    ssize_t ret;

    if (inflateInit2(&strm, -12) != Z_OK) {
        return -EIO;
    }
    strm.next_in = (Bytef *)src;
    strm.avail_in = src_size;
    strm.next_out = dest;
    strm.avail_out = dest_size;
    ret = inflate(&strm, Z_FINISH);
    if ((ret == Z_STREAM_END || ret == Z_BUF_ERROR) && strm.avail_out == 0) {
        ret = dest_size;
    } else {
        ret = -EIO;
    }
    inflateEnd(&strm);
    return ret;
}

static ssize_t zstd_compress(void *dest, size_t dest_size, const void *src,
                             size_t src_size)
{
    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    ZSTD_inBuffer in = { src, src_size, 0 };
    ZSTD_outBuffer out = { dest, dest_size, 0 };
    size_t r;
    ssize_t ret;

    if (!cctx) {
        return -EIO;
    }
    do {
        r = ZSTD_compressStream2(cctx, &out, &in, ZSTD_e_end);
    } while (!ZSTD_isError(r) && r != 0 && out.pos < out.size);
    if (ZSTD_isError(r)) {
        ret = ZSTD_getErrorCode(r) == ZSTD_error_dstSize_tooSmall ?
              -ENOMEM : -EIO;
    } else if (r != 0) {
        ret = -ENOMEM;      /* output full before the frame ended */
    } else {
        ret = out.pos;
    }
    ZSTD_freeCCtx(cctx);
    return ret;
}

static ssize_t zstd_decompress(void *dest, size_t dest_size, const void *src,
                               size_t src_size)
{
    ZSTD_DCtx *dctx = ZSTD_createDCtx();
    ZSTD_inBuffer in = { src, src_size, 0 };
    ZSTD_outBuffer out = { dest, dest_size, 0 };
    ssize_t ret = -EIO;

    if (!dctx) {
        return -EIO;
    }
    while (out.pos < out.size) {
        size_t in_before = in.pos, out_before = out.pos;
        size_t r = ZSTD_decompressStream(dctx, &out, &in);
        if (ZSTD_isError(r)) {
            break;
        }
        if (r == 0 && out.pos < out.size) {
            break;          /* frame ended early */
        }
        if (in.pos == in_before && out.pos == out_before) {
            break;          /* no progress: truncated input */
        }
    }
    if (out.pos == out.size) {
        ret = dest_size;
    }
    ZSTD_freeDCtx(dctx);
    return ret;
}

ssize_t qcow2_compress(BDRVQcow2State *s, void *dest, size_t dest_size,
                       const void *src, size_t src_size)
{
    switch (s->compression_type) {
    case QCOW2_COMPRESSION_ZLIB:
        return zlib_compress(dest, dest_size, src, src_size);
    case QCOW2_COMPRESSION_ZSTD:
        return zstd_compress(dest, dest_size, src, src_size);
    default:
        return -EIO;
    }
}

ssize_t qcow2_decompress(BDRVQcow2State *s, void *dest, size_t dest_size,
                         const void *src, size_t src_size)
{
    switch (s->compression_type) {
    case QCOW2_COMPRESSION_ZLIB:
        return zlib_decompress(dest, dest_size, src, src_size);
    case QCOW2_COMPRESSION_ZSTD:
        return zstd_decompress(dest, dest_size, src, src_size);
    default:
        return -EIO;
    }
}
