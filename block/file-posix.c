/*
 * Protocol "file": a host file or block device through its file
 * descriptor. Reads and writes loop over short transfers and EINTR, a
 * read past the end of the file returns zeroes, O_DIRECT (cache.direct)
 * probes the device's logical block size so that the generic code can
 * align requests, and images are locked with OFD locks on the same bytes
 * QEMU uses, so that lemu and QEMU refuse each other's writers alike.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include "lemu-config.h"
#include "lemu/block/block.h"
#include "lemu/util/iov.h"
#include "lemu/util/log.h"

/*
 * Image locking, byte for byte as QEMU's file-posix: a node holding
 * permission bit i takes a shared lock on byte LOCK_PERM_BASE + i, and
 * one that refuses to share permission i locks LOCK_SHARED_BASE + i.
 */
#define LOCK_PERM_BASE          100
#define LOCK_SHARED_BASE        200
#define PERM_CONSISTENT_READ    0x01
#define PERM_WRITE              0x02
#define PERM_WRITE_UNCHANGED    0x04
#define PERM_RESIZE             0x08
#define PERM_COUNT              4

static const char *const perm_names[PERM_COUNT] = {
    "consistent read", "write", "write unchanged", "resize",
};

typedef struct BDRVFileState {
    int fd;
    bool is_block_device;
    bool no_flush;
    bool allow_unmap;
    bool use_locking;
    bool zero_range_unsupported;
} BDRVFileState;

/* The descriptor of an opened "file" node, for io_uring. */
int file_posix_fd(BlockDriverState *bs);

int file_posix_fd(BlockDriverState *bs)
{
    BDRVFileState *s = bs->opaque;

    return s->fd;
}

static int file_lock_byte(int fd, int cmd, short type, off_t byte)
{
    struct flock fl = {
        .l_whence = SEEK_SET,
        .l_start = byte,
        .l_len = 1,
        .l_type = type,
    };

    if (fcntl(fd, cmd, &fl) < 0) {
        return -errno;
    }
    if (cmd == F_OFD_GETLK) {
        return fl.l_type == F_UNLCK ? 0 : -EAGAIN;
    }
    return 0;
}

/* Takes the lock bytes for @perm held and @shared allowed to others,
 * after checking that nobody else conflicts. */
static bool file_apply_locks(BlockDriverState *bs, int fd, unsigned perm,
                             unsigned shared, GError **errp)
{
    for (int i = 0; i < PERM_COUNT; i++) {
        unsigned bit = 1u << i;

        /* Someone refuses to share a permission we want. */
        if ((perm & bit) &&
            file_lock_byte(fd, F_OFD_GETLK, F_WRLCK,
                           LOCK_SHARED_BASE + i) == -EAGAIN) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                        "Could not open '%s': Failed to get \"%s\" lock\n"
                        "Is another process using the image [%s]?",
                        bs->filename, perm_names[i], bs->filename);
            return false;
        }
        /* Someone holds a permission we refuse to share. */
        if (!(shared & bit) &&
            file_lock_byte(fd, F_OFD_GETLK, F_WRLCK,
                           LOCK_PERM_BASE + i) == -EAGAIN) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                        "Could not open '%s': Failed to get shared \"%s\" "
                        "lock\nIs another process using the image [%s]?",
                        bs->filename, perm_names[i], bs->filename);
            return false;
        }
    }
    for (int i = 0; i < PERM_COUNT; i++) {
        unsigned bit = 1u << i;
        int ret = 0;

        if (perm & bit) {
            ret = file_lock_byte(fd, F_OFD_SETLK, F_RDLCK,
                                 LOCK_PERM_BASE + i);
        }
        if (!ret && !(shared & bit)) {
            ret = file_lock_byte(fd, F_OFD_SETLK, F_RDLCK,
                                 LOCK_SHARED_BASE + i);
        }
        if (ret == -EAGAIN || ret == -EACCES) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                        "Could not open '%s': Failed to lock byte %d\n"
                        "Is another process using the image [%s]?",
                        bs->filename, LOCK_PERM_BASE + i, bs->filename);
            return false;
        }
        /* Other errors (a file system without OFD locks): go on unlocked,
         * as QEMU does with locking=auto. */
        if (ret) {
            return true;
        }
    }
    return true;
}

/* The logical block size of the device a file lives on (sysfs), or 0. */
static uint32_t file_device_block_size(dev_t dev)
{
    static const char *const fmts[] = {
        "/sys/dev/block/%u:%u/queue/logical_block_size",
        "/sys/dev/block/%u:%u/../queue/logical_block_size",  /* partition */
    };

    for (size_t i = 0; i < G_N_ELEMENTS(fmts); i++) {
        g_autofree char *path = g_strdup_printf(fmts[i], major(dev),
                                                minor(dev));
        g_autofree char *text = NULL;
        guint64 v;

        if (g_file_get_contents(path, &text, NULL, NULL) &&
            g_ascii_string_to_unsigned(g_strstrip(text), 10, 512, 65536, &v,
                                       NULL)) {
            return v;
        }
    }
    return 0;
}

/*
 * The smallest O_DIRECT request the file takes: the smallest read at
 * offset 0 that works, starting from the device's logical block size
 * (an empty file accepts any read, so the device's size is the floor).
 */
static uint32_t file_probe_alignment(int fd, const struct stat *st)
{
    static const uint32_t sizes[] = { 512, 1024, 2048, 4096 };
    uint32_t dev_size;
    void *buf;
    int sector_size;

    if (S_ISBLK(st->st_mode) && ioctl(fd, BLKSSZGET, &sector_size) == 0 &&
        sector_size > 0 && sector_size <= 65536) {
        return sector_size;
    }
    dev_size = file_device_block_size(st->st_dev);
    if (dev_size > 4096) {
        return dev_size;
    }
    if (posix_memalign(&buf, 4096, 4096)) {
        return 4096;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(sizes); i++) {
        ssize_t n;

        if (sizes[i] < dev_size) {
            continue;
        }
        do {
            n = pread(fd, buf, sizes[i], 0);
        } while (n < 0 && errno == EINTR);
        if (n >= 0) {
            free(buf);
            return sizes[i];
        }
    }
    free(buf);
    return 4096;
}

static bool file_open(BlockDriverState *bs, GHashTable *options, int flags,
                      GError **errp)
{
    BDRVFileState *s = g_new0(BDRVFileState, 1);
    g_autofree char *locking = block_opts_take(options, "locking");
    g_autofree char *aio = block_opts_take(options, "aio");
    int oflags = O_CLOEXEC;
    struct stat st;

    s->fd = -1;
    bs->opaque = s;
    /* Accepted and ignored: lemu submits each request at once. */
    g_free(block_opts_take(options, "aio-max-batch"));

    if (aio && strcmp(aio, "threads") != 0 && strcmp(aio, "native") != 0 &&
        strcmp(aio, "io_uring") != 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "Parameter 'aio' does not accept value '%s' (expected "
                    "threads, native or io_uring)", aio);
        goto fail;
    }
    if (aio && strcmp(aio, "native") == 0 && !(flags & BDRV_O_NOCACHE)) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "aio=native was specified, but it requires "
                    "cache.direct=on, which was not specified.");
        goto fail;
    }
    if (aio && strcmp(aio, "io_uring") == 0) {
#if CONFIG_LINUX_IO_URING
        bs->open_flags |= BDRV_O_IO_URING;
#else
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_UNSUPPORTED,
                    "aio=io_uring is not supported by this build");
        goto fail;
#endif
    }
    if (!locking || strcmp(locking, "auto") == 0 ||
        strcmp(locking, "on") == 0) {
        s->use_locking = !(flags & BDRV_O_FORCE_SHARE);
    } else if (strcmp(locking, "off") == 0) {
        s->use_locking = false;
    } else {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "Parameter 'locking' does not accept value '%s' "
                    "(expected on, off or auto)", locking);
        goto fail;
    }

    oflags |= (flags & BDRV_O_RDWR) ? O_RDWR : O_RDONLY;
    if (flags & BDRV_O_NOCACHE) {
        oflags |= O_DIRECT;
    }
    do {
        s->fd = open(bs->filename, oflags);
    } while (s->fd < 0 && errno == EINTR);
    if (s->fd < 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_NOT_FOUND,
                    "Could not open '%s': %s", bs->filename,
                    g_strerror(errno));
        goto fail;
    }
    if (fstat(s->fd, &st) < 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                    "Could not stat '%s': %s", bs->filename,
                    g_strerror(errno));
        goto fail;
    }
    if (S_ISDIR(st.st_mode)) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "Could not open '%s': Is a directory", bs->filename);
        goto fail;
    }
    s->is_block_device = S_ISBLK(st.st_mode);
    s->no_flush = flags & BDRV_O_NO_FLUSH;
    s->allow_unmap = flags & BDRV_O_UNMAP;
    bs->request_alignment = (flags & BDRV_O_NOCACHE) ?
        file_probe_alignment(s->fd, &st) : 1;

    if (s->use_locking) {
        unsigned perm = PERM_CONSISTENT_READ;
        unsigned shared = PERM_CONSISTENT_READ | PERM_WRITE_UNCHANGED;

        if (flags & BDRV_O_RDWR) {
            perm |= PERM_WRITE | PERM_WRITE_UNCHANGED | PERM_RESIZE;
        }
        if (!file_apply_locks(bs, s->fd, perm, shared, errp)) {
            goto fail;
        }
    }
    return true;

fail:
    if (s->fd >= 0) {
        close(s->fd);
    }
    g_free(s);
    bs->opaque = NULL;
    return false;
}

static void file_close(BlockDriverState *bs)
{
    BDRVFileState *s = bs->opaque;

    if (!s) {
        return;
    }
    if (s->fd >= 0) {
        close(s->fd);
    }
    g_free(s);
    bs->opaque = NULL;
}

/* A private copy of the iovec that the loops below advance. */
static struct iovec *file_iov_dup(struct iovec *iov, int niov)
{
    return g_memdup2(iov, sizeof(*iov) * niov);
}

/* The preadv/pwritev loop: short transfers continue where they stopped;
 * a read past the end of the file gives zeroes, a write that makes no
 * progress is ENOSPC. */
static int file_rw(BDRVFileState *s, bool write, uint64_t offset,
                   struct iovec *iov, int niov)
{
    struct iovec *copy = file_iov_dup(iov, niov);
    struct iovec *cur = copy;
    int left = niov;
    int ret = 0;

    iov_advance(&cur, &left, 0);
    while (left) {
        ssize_t n = write ? pwritev(s->fd, cur, MIN(left, IOV_MAX), offset)
                          : preadv(s->fd, cur, MIN(left, IOV_MAX), offset);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            ret = -errno;
            break;
        }
        if (n == 0) {
            if (write) {
                ret = -ENOSPC;
            } else {
                iov_memset(cur, left, 0, 0, SIZE_MAX);
            }
            break;
        }
        offset += n;
        iov_advance(&cur, &left, n);
    }
    g_free(copy);
    return ret;
}

static int file_preadv(BlockDriverState *bs, uint64_t offset, uint64_t bytes,
                       struct iovec *iov, int niov)
{
    return file_rw(bs->opaque, false, offset, iov, niov);
}

static int file_pwritev(BlockDriverState *bs, uint64_t offset,
                        uint64_t bytes, struct iovec *iov, int niov,
                        int flags)
{
    BDRVFileState *s = bs->opaque;
    int ret = file_rw(s, true, offset, iov, niov);

    if (ret == 0 && (flags & BDRV_REQ_FUA) && !s->no_flush &&
        fdatasync(s->fd) < 0) {
        ret = -errno;
    }
    return ret;
}

static int file_flush(BlockDriverState *bs)
{
    BDRVFileState *s = bs->opaque;

    if (s->no_flush) {
        return 0;
    }
    return fdatasync(s->fd) < 0 ? -errno : 0;
}

static int64_t file_getlength(BlockDriverState *bs)
{
    BDRVFileState *s = bs->opaque;
    struct stat st;

    if (s->is_block_device) {
        uint64_t size;

        if (ioctl(s->fd, BLKGETSIZE64, &size) < 0) {
            return -errno;
        }
        return size;
    }
    if (fstat(s->fd, &st) < 0) {
        return -errno;
    }
    return st.st_size;
}

static int file_pdiscard(BlockDriverState *bs, uint64_t offset,
                         uint64_t bytes)
{
    BDRVFileState *s = bs->opaque;

    /* discard=ignore (the default): the space stays allocated. */
    if (!s->allow_unmap) {
        return 0;
    }
    if (s->is_block_device) {
        uint64_t range[2] = { offset, bytes };

        if (ioctl(s->fd, BLKDISCARD, range) < 0) {
            return errno == EOPNOTSUPP || errno == ENOTTY ? 0 : -errno;
        }
        return 0;
    }
    if (fallocate(s->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                  offset, bytes) < 0) {
        /* Discard is a hint: a file system without holes ignores it. */
        return errno == EOPNOTSUPP ? 0 : -errno;
    }
    return 0;
}

static int file_pwrite_zeroes(BlockDriverState *bs, uint64_t offset,
                              uint64_t bytes, int flags)
{
    BDRVFileState *s = bs->opaque;
    int64_t len = file_getlength(bs);

    if (len < 0) {
        return len;
    }
    /* A hole reads as zero; only inside the file, since punching does
     * not extend it. */
    if ((flags & BDRV_REQ_MAY_UNMAP) && s->allow_unmap &&
        !s->is_block_device && offset + bytes <= (uint64_t)len &&
        fallocate(s->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                  offset, bytes) == 0) {
        return 0;
    }
    if (!s->zero_range_unsupported) {
        if (fallocate(s->fd, FALLOC_FL_ZERO_RANGE, offset, bytes) == 0) {
            return 0;
        }
        if (errno == EINVAL) {
            /* Maybe just this range (a device's alignment): fall back
             * this once. */
            return -ENOTSUP;
        }
        if (errno != EOPNOTSUPP && errno != ENODEV) {
            return -errno;
        }
        /* Concurrent callers may all set it: a plain store is enough. */
        s->zero_range_unsupported = true;
    }
    return -ENOTSUP;
}

static int file_truncate(BlockDriverState *bs, uint64_t offset, bool exact,
                         PreallocMode prealloc, GError **errp)
{
    BDRVFileState *s = bs->opaque;
    int64_t cur = file_getlength(bs);

    if (cur < 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                    "Failed to get the size of '%s': %s", bs->filename,
                    g_strerror(-cur));
        return cur;
    }
    if (s->is_block_device) {
        if (offset > (uint64_t)cur || (exact && offset != (uint64_t)cur)) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "Cannot grow device files");
            return -EINVAL;
        }
        return 0;
    }
    if (offset > INT64_MAX) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "Image size too large for '%s'", bs->filename);
        return -EFBIG;
    }
    if (prealloc == PREALLOC_MODE_METADATA) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "Unsupported preallocation mode 'metadata' for the file "
                    "protocol (expected off, falloc or full)");
        return -ENOTSUP;
    }
    if (prealloc != PREALLOC_MODE_OFF && offset < (uint64_t)cur) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "Preallocation is only possible when growing '%s'",
                    bs->filename);
        return -ENOTSUP;
    }
    if (prealloc == PREALLOC_MODE_FALLOC && offset > (uint64_t)cur) {
        int ret = posix_fallocate(s->fd, cur, offset - cur);

        if (ret) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                        "Could not preallocate '%s': %s", bs->filename,
                        g_strerror(ret));
            return -ret;
        }
        return 0;
    }
    if (prealloc == PREALLOC_MODE_FULL && offset > (uint64_t)cur) {
        const size_t chunk = 1 << 20;
        g_autofree uint8_t *zeroes = g_malloc0(chunk);
        uint64_t pos = cur;

        while (pos < offset) {
            struct iovec iov = {
                .iov_base = zeroes,
                .iov_len = MIN(chunk, offset - pos),
            };
            int ret = file_pwritev(bs, pos, iov.iov_len, &iov, 1, 0);

            if (ret < 0) {
                g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                            "Could not preallocate '%s': %s", bs->filename,
                            g_strerror(-ret));
                return ret;
            }
            pos += iov.iov_len;
        }
        return 0;
    }
    if (ftruncate(s->fd, offset) < 0) {
        int err = errno;

        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                    "Failed to resize '%s': %s", bs->filename,
                    g_strerror(err));
        return -err;
    }
    return 0;
}

static int64_t file_get_allocated_file_size(BlockDriverState *bs)
{
    BDRVFileState *s = bs->opaque;
    struct stat st;

    if (fstat(s->fd, &st) < 0) {
        return -errno;
    }
    return (int64_t)st.st_blocks * 512;
}

/* Data or hole, from SEEK_DATA / SEEK_HOLE. */
static int file_block_status(BlockDriverState *bs, uint64_t offset,
                             uint64_t bytes, uint64_t *pnum, uint64_t *map,
                             BlockDriverState **file)
{
    BDRVFileState *s = bs->opaque;
    int64_t len = file_getlength(bs);
    off_t data, hole;

    *map = offset;
    *file = bs;
    *pnum = bytes;
    if (len < 0) {
        return len;
    }
    if (s->is_block_device) {
        return BDRV_BLOCK_DATA | BDRV_BLOCK_ALLOCATED |
               BDRV_BLOCK_OFFSET_VALID;
    }
    if (offset >= (uint64_t)len) {
        return BDRV_BLOCK_ZERO | BDRV_BLOCK_ALLOCATED |
               BDRV_BLOCK_OFFSET_VALID;
    }
    data = lseek(s->fd, offset, SEEK_DATA);
    if (data < 0) {
        if (errno == ENXIO) {
            /* A hole up to the end of the file. */
            *pnum = MIN(bytes, (uint64_t)len - offset);
            return BDRV_BLOCK_ZERO | BDRV_BLOCK_ALLOCATED |
                   BDRV_BLOCK_OFFSET_VALID;
        }
        /* No SEEK_DATA: everything is data. */
        return BDRV_BLOCK_DATA | BDRV_BLOCK_ALLOCATED |
               BDRV_BLOCK_OFFSET_VALID;
    }
    if ((uint64_t)data > offset) {
        *pnum = MIN(bytes, (uint64_t)data - offset);
        return BDRV_BLOCK_ZERO | BDRV_BLOCK_ALLOCATED |
               BDRV_BLOCK_OFFSET_VALID;
    }
    hole = lseek(s->fd, offset, SEEK_HOLE);
    if (hole < 0 || (uint64_t)hole <= offset) {
        hole = len;
    }
    *pnum = MIN(bytes, (uint64_t)hole - offset);
    return BDRV_BLOCK_DATA | BDRV_BLOCK_ALLOCATED | BDRV_BLOCK_OFFSET_VALID;
}

static PreallocMode file_parse_prealloc(const char *s, bool *ok)
{
    *ok = true;
    if (!s || strcmp(s, "off") == 0) {
        return PREALLOC_MODE_OFF;
    } else if (strcmp(s, "falloc") == 0) {
        return PREALLOC_MODE_FALLOC;
    } else if (strcmp(s, "full") == 0) {
        return PREALLOC_MODE_FULL;
    }
    *ok = false;
    return PREALLOC_MODE_OFF;
}

static bool file_create(const char *filename, GHashTable *opts,
                        GError **errp)
{
    const char *size_str = g_hash_table_lookup(opts, "size");
    const char *prealloc_str = g_hash_table_lookup(opts, "preallocation");
    BlockDriverState bs = { .filename = (char *)filename };
    BDRVFileState s = { .fd = -1 };
    PreallocMode prealloc;
    uint64_t size = 0;
    struct stat st;
    bool ok;

    if (size_str && !block_parse_size(size_str, &size, errp)) {
        return false;
    }
    prealloc = file_parse_prealloc(prealloc_str, &ok);
    if (!ok) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "Invalid preallocation mode: '%s' (expected off, falloc "
                    "or full)", prealloc_str);
        return false;
    }
    /* Sizes are whole sectors, as qemu-img makes them. */
    size = (size + BDRV_SECTOR_SIZE - 1) & ~(uint64_t)(BDRV_SECTOR_SIZE - 1);

    s.fd = open(filename, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (s.fd < 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                    "Could not create '%s': %s", filename,
                    g_strerror(errno));
        return false;
    }
    bs.opaque = &s;
    if (fstat(s.fd, &st) == 0 && S_ISBLK(st.st_mode)) {
        /* A device keeps its size; only its first bytes matter. */
        close(s.fd);
        return true;
    }
    ok = file_apply_locks(&bs, s.fd, PERM_CONSISTENT_READ | PERM_WRITE |
                          PERM_RESIZE, PERM_CONSISTENT_READ, errp);
    if (ok && ftruncate(s.fd, 0) < 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                    "Could not clear '%s': %s", filename, g_strerror(errno));
        ok = false;
    }
    if (ok && file_truncate(&bs, size, true, prealloc, errp) < 0) {
        ok = false;
    }
    close(s.fd);
    return ok;
}

static const char *const file_create_opts[] = {
    "size", "preallocation", "nocow", "extent_size_hint", NULL
};

const BlockDriver bdrv_file = {
    .format_name = "file",
    .is_protocol = true,
    .open = file_open,
    .close = file_close,
    .preadv = file_preadv,
    .pwritev = file_pwritev,
    .pwrite_zeroes = file_pwrite_zeroes,
    .pdiscard = file_pdiscard,
    .flush = file_flush,
    .getlength = file_getlength,
    .get_allocated_file_size = file_get_allocated_file_size,
    .truncate = file_truncate,
    .block_status = file_block_status,
    .create = file_create,
    .create_opts = file_create_opts,
};
