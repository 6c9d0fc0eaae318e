/*
 * Format "raw": the guest sees the bytes of its protocol child as they
 * are, optionally a window of them ("offset" and "size" options).
 */
#include <errno.h>
#include <string.h>
#include "lemu/block/block.h"
#include "lemu/util/log.h"

typedef struct BDRVRawState {
    uint64_t offset;        /* where the guest's byte 0 is in the file */
    uint64_t size;          /* guest-visible length */
    bool has_size;          /* "size" given: a fixed window */
    bool probed;            /* the user did not say "raw": guard block 0 */
} BDRVRawState;

/* Anything can be raw: the lowest score, so any real format wins. */
static int raw_probe(const uint8_t *buf, size_t len, const char *filename)
{
    return 1;
}

static bool raw_open(BlockDriverState *bs, GHashTable *options, int flags,
                     GError **errp)
{
    BDRVRawState *s = g_new0(BDRVRawState, 1);
    g_autofree char *offset = block_opts_take(options, "offset");
    g_autofree char *size = block_opts_take(options, "size");
    g_autofree char *probed = block_opts_take(options, "x-probed");
    int64_t file_len = bdrv_getlength(bs->file);

    bs->opaque = s;
    if (file_len < 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                    "Could not get the size of '%s': %s", bs->filename,
                    g_strerror(-file_len));
        goto fail;
    }
    s->probed = probed && strcmp(probed, "on") == 0;
    if (offset && !block_parse_size(offset, &s->offset, errp)) {
        goto fail;
    }
    if (size) {
        if (!block_parse_size(size, &s->size, errp)) {
            goto fail;
        }
        s->has_size = true;
    }
    if (s->offset > (uint64_t)file_len) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "The sum of offset (%" G_GUINT64_FORMAT ") and size "
                    "(0) has to be smaller or equal to the actual size of "
                    "the containing file (%" G_GINT64_FORMAT ")", s->offset,
                    file_len);
        goto fail;
    }
    if (s->has_size && s->offset + s->size > (uint64_t)file_len) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "The sum of offset (%" G_GUINT64_FORMAT ") and size "
                    "(%" G_GUINT64_FORMAT ") has to be smaller or equal to "
                    "the actual size of the containing file (%"
                    G_GINT64_FORMAT ")", s->offset, s->size, file_len);
        goto fail;
    }
    if (!s->has_size) {
        /* Kept here, like QEMU's total_sectors: getlength is on every
         * request's path. */
        s->size = file_len - s->offset;
    }
    /* Offsets into the file must keep O_DIRECT alignment. */
    if (s->offset & (bs->file->request_alignment - 1)) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "offset %" G_GUINT64_FORMAT " is not a multiple of the "
                    "file's request alignment %u", s->offset,
                    bs->file->request_alignment);
        goto fail;
    }
    return true;

fail:
    g_free(s);
    bs->opaque = NULL;
    return false;
}

static void raw_close(BlockDriverState *bs)
{
    g_free(bs->opaque);
    bs->opaque = NULL;
}

static int64_t raw_getlength(BlockDriverState *bs)
{
    BDRVRawState *s = bs->opaque;

    return s->size;
}

/* With a size window, a request must stay inside it. */
static int raw_check_window(BDRVRawState *s, uint64_t offset,
                            uint64_t bytes)
{
    if (s->has_size && (offset > s->size || bytes > s->size - offset)) {
        return -EIO;
    }
    return 0;
}

static int raw_preadv(BlockDriverState *bs, uint64_t offset, uint64_t bytes,
                      struct iovec *iov, int niov)
{
    BDRVRawState *s = bs->opaque;
    int ret = raw_check_window(s, offset, bytes);

    return ret ? ret : bdrv_preadv(bs->file, s->offset + offset, bytes, iov,
                                   niov);
}

/*
 * A probed raw image must not start to look like another format after a
 * write to its first sector (the next probe would trust the guest's
 * header, backing file name and all), as QEMU refuses it.
 */
static int raw_check_first_sector(BlockDriverState *bs, uint64_t offset,
                                  uint64_t bytes, struct iovec *iov,
                                  int niov)
{
    BDRVRawState *s = bs->opaque;
    uint8_t sector[BDRV_SECTOR_SIZE] = { 0 };
    uint64_t n = MIN(bytes, BDRV_SECTOR_SIZE - offset);
    const BlockDriver *qcow2 = bdrv_find_format("qcow2");
    uint8_t *dst = sector + offset;
    int ret;

    ret = bdrv_pread(bs->file, s->offset, sector, sizeof(sector));
    if (ret < 0) {
        return ret;
    }
    for (int i = 0; i < niov && n; i++) {
        uint64_t len = MIN(iov[i].iov_len, n);

        memcpy(dst, iov[i].iov_base, len);
        dst += len;
        n -= len;
    }
    if (qcow2 && qcow2->probe &&
        qcow2->probe(sector, sizeof(sector), bs->filename) > 1) {
        lemu_log_mask(LOG_GUEST_ERROR, "raw: refused a write that would "
                      "make probed raw image '%s' look like qcow2\n",
                      bs->filename);
        return -EPERM;
    }
    return 0;
}

static int raw_pwritev(BlockDriverState *bs, uint64_t offset,
                       uint64_t bytes, struct iovec *iov, int niov,
                       int flags)
{
    BDRVRawState *s = bs->opaque;
    int ret = raw_check_window(s, offset, bytes);

    if (ret == 0 && s->probed && offset < BDRV_SECTOR_SIZE) {
        ret = raw_check_first_sector(bs, offset, bytes, iov, niov);
    }

    return ret ? ret : bdrv_pwritev(bs->file, s->offset + offset, bytes,
                                    iov, niov, flags);
}

static int raw_pwrite_zeroes(BlockDriverState *bs, uint64_t offset,
                             uint64_t bytes, int flags)
{
    BDRVRawState *s = bs->opaque;
    int ret = raw_check_window(s, offset, bytes);

    return ret ? ret : bdrv_pwrite_zeroes(bs->file, s->offset + offset,
                                          bytes, flags);
}

static int raw_pdiscard(BlockDriverState *bs, uint64_t offset,
                        uint64_t bytes)
{
    BDRVRawState *s = bs->opaque;
    int ret = raw_check_window(s, offset, bytes);

    return ret ? ret : bdrv_pdiscard(bs->file, s->offset + offset, bytes);
}

/* bdrv_flush() flushes the file child after us: nothing of our own. */
static int raw_flush(BlockDriverState *bs)
{
    return 0;
}

static int64_t raw_get_allocated_file_size(BlockDriverState *bs)
{
    const BlockDriver *drv = bs->file->drv;

    return drv->get_allocated_file_size ?
           drv->get_allocated_file_size(bs->file) : -ENOTSUP;
}

static int raw_truncate(BlockDriverState *bs, uint64_t offset, bool exact,
                        PreallocMode prealloc, GError **errp)
{
    BDRVRawState *s = bs->opaque;
    int ret;

    if (s->has_size) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_UNSUPPORTED,
                    "Cannot resize a raw image with a 'size' option");
        return -ENOTSUP;
    }
    ret = bdrv_truncate(bs->file, s->offset + offset, exact, prealloc,
                        errp);
    if (ret == 0) {
        int64_t len = bdrv_getlength(bs->file);

        s->size = len < 0 ? offset : (uint64_t)len - s->offset;
    }
    return ret;
}

static int raw_block_status(BlockDriverState *bs, uint64_t offset,
                            uint64_t bytes, uint64_t *pnum, uint64_t *map,
                            BlockDriverState **file)
{
    BDRVRawState *s = bs->opaque;
    const BlockDriver *drv = bs->file->drv;
    int ret;

    if (!drv->block_status) {
        *pnum = bytes;
        *map = s->offset + offset;
        *file = bs->file;
        return BDRV_BLOCK_DATA | BDRV_BLOCK_ALLOCATED |
               BDRV_BLOCK_OFFSET_VALID;
    }
    ret = drv->block_status(bs->file, s->offset + offset, bytes, pnum, map,
                            file);
    /* Raw has no backing file: whatever it says is final. */
    return ret < 0 ? ret : ret | BDRV_BLOCK_ALLOCATED;
}

static bool raw_get_info(BlockDriverState *bs, BlockDriverInfo *bdi)
{
    memset(bdi, 0, sizeof(*bdi));
    bdi->unallocated_blocks_are_zero = true;
    return true;
}

static bool raw_create(const char *filename, GHashTable *opts,
                       GError **errp)
{
    return bdrv_create("file", filename, opts, errp);
}

static const char *const raw_create_opts[] = {
    "size", "preallocation", "nocow", "extent_size_hint", NULL
};

const BlockDriver bdrv_raw = {
    .format_name = "raw",
    .probe = raw_probe,
    .open = raw_open,
    .close = raw_close,
    .preadv = raw_preadv,
    .pwritev = raw_pwritev,
    .pwrite_zeroes = raw_pwrite_zeroes,
    .pdiscard = raw_pdiscard,
    .flush = raw_flush,
    .getlength = raw_getlength,
    .get_allocated_file_size = raw_get_allocated_file_size,
    .truncate = raw_truncate,
    .block_status = raw_block_status,
    .get_info = raw_get_info,
    .create = raw_create,
    .create_opts = raw_create_opts,
};

/*
 * For io_uring in block-backend.c: can a request at @offset skip the
 * driver and go to the file child at *base + offset? (The backend has
 * already checked it against the window.)
 */
bool raw_format_passthrough(BlockDriverState *bs, uint64_t offset,
                            bool is_write, uint64_t *base);

bool raw_format_passthrough(BlockDriverState *bs, uint64_t offset,
                            bool is_write, uint64_t *base)
{
    BDRVRawState *s;

    if (bs->drv != &bdrv_raw) {
        return false;
    }
    s = bs->opaque;
    if (is_write && s->probed && offset < BDRV_SECTOR_SIZE) {
        return false;
    }
    *base = s->offset;
    return true;
}
