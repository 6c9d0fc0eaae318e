/*
 * The block layer's node graph and generic I/O: the driver registry,
 * format probing, opening a format over its protocol child and its
 * backing chain, and the request path every driver shares (alignment for
 * O_DIRECT, zeroes past the end of a shorter backing file, write-zeroes
 * fallback, block status across the chain).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "lemu/block/block.h"
#include "lemu/util/iov.h"
#include "lemu/util/log.h"
#include "block/qcow2/qcow2.h"

extern const BlockDriver bdrv_file;
extern const BlockDriver bdrv_raw;

#define BDRV_MAX_CHAIN_DEPTH    64
#define BDRV_PROBE_BYTES        2048
#define BDRV_ZERO_CHUNK         (1 << 20)

static const BlockDriver *const block_drivers[] = {
    &bdrv_qcow2, &bdrv_raw, &bdrv_file,
};

/* The files of the chain being opened, to find loops. */
typedef struct ChainEntry {
    dev_t dev;
    ino_t ino;
    char *name;
} ChainEntry;

/* ---- small iovec helpers ---- */

static bool iov_is_aligned(const struct iovec *iov, int niov, uint32_t align)
{
    for (int i = 0; i < niov; i++) {
        if (((uintptr_t)iov[i].iov_base | iov[i].iov_len) & (align - 1)) {
            return false;
        }
    }
    return true;
}

static void *bdrv_bounce_alloc(uint64_t size)
{
    void *p = NULL;

    if (posix_memalign(&p, 4096, MAX(size, 4096))) {
        return NULL;
    }
    return p;
}

/* ---- drivers and probing ---- */

const BlockDriver *bdrv_find_format(const char *name)
{
    if (!name) {
        return NULL;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(block_drivers); i++) {
        if (strcmp(block_drivers[i]->format_name, name) == 0) {
            return block_drivers[i];
        }
    }
    return NULL;
}

/* The format driver that claims @buf with the highest score. */
static const BlockDriver *bdrv_probe_buf(const uint8_t *buf, size_t len,
                                         const char *filename)
{
    const BlockDriver *best = &bdrv_raw;
    int best_score = 0;

    for (size_t i = 0; i < G_N_ELEMENTS(block_drivers); i++) {
        const BlockDriver *drv = block_drivers[i];
        int score;

        if (!drv->probe) {
            continue;
        }
        score = drv->probe(buf, len, filename);
        if (score > best_score) {
            best = drv;
            best_score = score;
        }
    }
    return best;
}

const char *bdrv_probe_format(const char *filename, GError **errp)
{
    uint8_t buf[BDRV_PROBE_BYTES] = { 0 };
    ssize_t n;
    int fd = open(filename, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_NOT_FOUND,
                    "Could not open '%s': %s", filename, g_strerror(errno));
        return NULL;
    }
    do {
        n = pread(fd, buf, sizeof(buf), 0);
    } while (n < 0 && errno == EINTR);
    close(fd);
    if (n < 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                    "Could not read '%s': %s", filename, g_strerror(errno));
        return NULL;
    }
    return bdrv_probe_buf(buf, n, filename)->format_name;
}

char *bdrv_resolve_backing_name(const char *image_filename,
                                const char *backing)
{
    const char *slash;

    if (!image_filename || g_path_is_absolute(backing) ||
        strstr(backing, "://") || g_str_has_prefix(backing, "json:")) {
        return g_strdup(backing);
    }
    slash = strrchr(image_filename, '/');
    if (!slash) {
        return g_strdup(backing);
    }
    return g_strdup_printf("%.*s%s", (int)(slash - image_filename + 1),
                           image_filename, backing);
}

/* ---- opening ---- */

/* Fails naming the first key nobody consumed. */
static bool bdrv_check_leftovers(const BlockDriver *drv, GHashTable *opts,
                                 GError **errp)
{
    GHashTableIter it;
    gpointer key;
    const char *first = NULL;

    g_hash_table_iter_init(&it, opts);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
        /* The smallest name, so that the message does not depend on the
         * hash order. */
        if (!first || strcmp(key, first) < 0) {
            first = key;
        }
    }
    if (first) {
        /* QEMU's wording, which differs between the two. */
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    drv->is_protocol ?
                    "Block protocol '%s' doesn't support the option '%s'" :
                    "Block format '%s' does not support the option '%s'",
                    drv->format_name, first);
        return false;
    }
    return true;
}

static BlockDriverState *bdrv_new_node(const BlockDriver *drv,
                                       const char *filename,
                                       const char *node_name, int flags)
{
    static gint node_counter;   /* only makes generated names unique */
    BlockDriverState *bs = g_new0(BlockDriverState, 1);

    bs->drv = drv;
    bs->filename = g_strdup(filename);
    bs->node_name = node_name ? g_strdup(node_name) :
        g_strdup_printf("#block%d", g_atomic_int_add(&node_counter, 1));
    bs->open_flags = flags;
    bs->read_only = !(flags & BDRV_O_RDWR);
    bs->refcnt = 1;
    bs->request_alignment = 1;
    g_mutex_init(&bs->rmw_lock);
    return bs;
}

static void bdrv_free_node(BlockDriverState *bs)
{
    g_free(bs->filename);
    g_free(bs->node_name);
    g_free(bs->backing_filename_full);
    g_mutex_clear(&bs->rmw_lock);
    g_free(bs);
}

/* Records @filename in the chain; fails if it is there already. */
static bool bdrv_chain_add(GArray *chain, const char *filename,
                           const char *referrer, GError **errp)
{
    struct stat st;
    ChainEntry e;

    if (stat(filename, &st) < 0) {
        return true;    /* opening it will say what is wrong */
    }
    for (guint i = 0; i < chain->len; i++) {
        ChainEntry *c = &g_array_index(chain, ChainEntry, i);

        if (c->dev == st.st_dev && c->ino == st.st_ino) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "Backing file '%s' of '%s' is already in the chain "
                        "as '%s': the backing chain loops", filename,
                        referrer ? referrer : filename, c->name);
            return false;
        }
    }
    e.dev = st.st_dev;
    e.ino = st.st_ino;
    e.name = g_strdup(filename);
    g_array_append_val(chain, e);
    return true;
}

static BlockDriverState *bdrv_open_node(const char *filename,
                                        const char *format,
                                        GHashTable *opts, int flags,
                                        GArray *chain, int depth,
                                        GError **errp);

/* Opens the backing chain of @bs (its header named a backing file, or
 * the "backing" option names one). */
static bool bdrv_open_backing(BlockDriverState *bs, const char *backing_opt,
                              GHashTable *backing_opts, int flags,
                              GArray *chain, int depth, GError **errp)
{
    g_autofree char *fname = block_opts_take(backing_opts, "file.filename");
    g_autofree char *driver = block_opts_take(backing_opts, "driver");
    g_autofree char *filename_opt = block_opts_take(backing_opts,
                                                    "filename");
    const char *format;
    GError *err = NULL;
    int bflags;

    if (backing_opt && strcmp(backing_opt, "null") == 0) {
        return true;
    }
    if (backing_opt) {
        /* A file name given instead of the one in the header. */
        g_free(fname);
        fname = g_strdup(backing_opt);
    } else if (!fname && filename_opt) {
        fname = g_steal_pointer(&filename_opt);
    }
    if (!fname && !bs->backing_file[0]) {
        return true;
    }
    if (!fname) {
        fname = bdrv_resolve_backing_name(bs->filename, bs->backing_file);
    }
    if (depth + 1 >= BDRV_MAX_CHAIN_DEPTH) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "Could not open backing file '%s' of '%s': the backing "
                    "chain is deeper than %d images", fname, bs->filename,
                    BDRV_MAX_CHAIN_DEPTH);
        return false;
    }
    if (!bdrv_chain_add(chain, fname, bs->filename, errp)) {
        return false;
    }
    format = driver ? driver : bs->backing_format[0] ? bs->backing_format :
             NULL;
    /* Backing layers are read-only and never deleted. */
    bflags = flags & ~(BDRV_O_RDWR | BDRV_O_TEMPORARY | BDRV_O_CHECK);
    g_free(bs->backing_filename_full);
    bs->backing_filename_full = g_strdup(fname);
    bs->backing = bdrv_open_node(fname, format, backing_opts, bflags, chain,
                                 depth + 1, &err);
    if (!bs->backing) {
        g_set_error(errp, LEMU_ERROR, err->code,
                    "Could not open backing file: %s", err->message);
        g_error_free(err);
        return false;
    }
    return true;
}

/* Opens the format node @drv (NULL: probe) over a protocol child. */
static BlockDriverState *bdrv_open_format(const char *filename,
                                          const BlockDriver *drv,
                                          const char *node_name,
                                          GHashTable *opts, int flags,
                                          GArray *chain, int depth,
                                          GError **errp)
{
    GHashTable *child_opts = block_opts_extract_prefix(opts, "file");
    GHashTable *backing_opts = block_opts_extract_prefix(opts, "backing");
    g_autofree char *file_str = block_opts_take(opts, "file");
    g_autofree char *backing_opt = block_opts_take(opts, "backing");
    g_autofree char *child_fname = block_opts_take(child_opts, "filename");
    g_autofree char *child_drv = block_opts_take(child_opts, "driver");
    BlockDriverState *child = NULL, *bs = NULL;
    const char *fname;

    fname = child_fname ? child_fname : file_str ? file_str : filename;
    if (!fname) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "A block device must be specified for \"file\" "
                    "(expected file.filename=PATH)");
        goto fail;
    }
    if (depth == 0 && !bdrv_chain_add(chain, fname, NULL, errp)) {
        goto fail;
    }
    child = bdrv_open_node(fname, child_drv ? child_drv : "file", child_opts,
                           flags, chain, depth, errp);
    if (!child) {
        goto fail;
    }
    if (!drv) {
        uint8_t *buf = bdrv_bounce_alloc(BDRV_PROBE_BYTES);
        int64_t len = bdrv_getlength(child);
        int ret;

        if (!buf) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                        "Out of memory probing '%s'", fname);
            goto fail;
        }
        memset(buf, 0, BDRV_PROBE_BYTES);
        ret = len < 0 ? (int)len :
              bdrv_pread(child, 0, buf, MIN(len, BDRV_PROBE_BYTES));
        if (ret < 0) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                        "Could not read '%s' to probe its format: %s", fname,
                        g_strerror(-ret));
            free(buf);
            goto fail;
        }
        drv = bdrv_probe_buf(buf, MIN(MAX(len, 0), BDRV_PROBE_BYTES), fname);
        free(buf);
    }
    if (drv->is_protocol) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "'%s' is a protocol, not a format", drv->format_name);
        goto fail;
    }

    if (!drv->open) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_UNSUPPORTED,
                    "Could not open '%s': the %s driver cannot open images "
                    "in this build", fname, drv->format_name);
        goto fail;
    }
    bs = bdrv_new_node(drv, child->filename, node_name, flags);
    bs->file = g_steal_pointer(&child);
    if (!drv->open(bs, opts, flags, errp)) {
        goto fail_node;
    }
    if (!bdrv_check_leftovers(drv, opts, errp)) {
        goto fail_open;
    }
    if (!(flags & BDRV_O_NO_BACKING) &&
        !bdrv_open_backing(bs, backing_opt, backing_opts, flags, chain,
                           depth, errp)) {
        goto fail_open;
    }
    if (g_hash_table_size(backing_opts)) {
        GHashTableIter it;
        gpointer key;

        g_hash_table_iter_init(&it, backing_opts);
        g_hash_table_iter_next(&it, &key, NULL);
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "Block format '%s' does not support the option "
                    "'backing.%s'", drv->format_name, (char *)key);
        goto fail_open;
    }
    g_hash_table_unref(child_opts);
    g_hash_table_unref(backing_opts);
    return bs;

fail_open:
    if (bs->backing) {
        bdrv_unref(bs->backing);
        bs->backing = NULL;
    }
    drv->close(bs);
fail_node:
    child = bs->file;
    bdrv_free_node(bs);
fail:
    if (child) {
        bdrv_unref(child);
    }
    g_hash_table_unref(child_opts);
    g_hash_table_unref(backing_opts);
    return NULL;
}

/* Opens one node from @opts, which it consumes. */
static BlockDriverState *bdrv_open_node_opts(const char *filename,
                                             const char *format,
                                             GHashTable *opts, int flags,
                                             GArray *chain, int depth,
                                             GError **errp)
{
    g_autofree char *driver = block_opts_take(opts, "driver");
    g_autofree char *node_name = block_opts_take(opts, "node-name");
    g_autofree char *fname_opt = block_opts_take(opts, "filename");
    const BlockDriver *drv = NULL;
    BlockDriverState *bs;
    const char *drvname;

    if (format && driver && strcmp(format, driver) != 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "Cannot use format '%s' with driver '%s'", format,
                    driver);
        return NULL;
    }
    drvname = format ? format : driver;
    if (drvname) {
        drv = bdrv_find_format(drvname);
        if (!drv) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "Unknown driver '%s' (expected qcow2, raw or file)",
                        drvname);
            return NULL;
        }
    }
    if (!block_opts_take_flags(opts, &flags, errp)) {
        return NULL;
    }
    if (filename && fname_opt && strcmp(filename, fname_opt) != 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "Cannot specify both the file name '%s' and the option "
                    "filename='%s'", filename, fname_opt);
        return NULL;
    }
    if (!filename) {
        filename = fname_opt;
    }
    if (!drv || !drv->is_protocol) {
        return bdrv_open_format(filename, drv, node_name, opts, flags, chain,
                                depth, errp);
    }

    if (!filename || !*filename) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "The '%s' block driver requires a file name (expected "
                    "filename=PATH)", drv->format_name);
        return NULL;
    }
    bs = bdrv_new_node(drv, filename, node_name, flags);
    if (!drv->open(bs, opts, flags, errp)) {
        bdrv_free_node(bs);
        return NULL;
    }
    if (!bdrv_check_leftovers(drv, opts, errp)) {
        drv->close(bs);
        bdrv_free_node(bs);
        return NULL;
    }
    return bs;
}

/*
 * A "json:{...}" file name (as QEMU writes into backing file names)
 * carries options; those given explicitly win.
 */
static BlockDriverState *bdrv_open_node(const char *filename,
                                        const char *format,
                                        GHashTable *opts, int flags,
                                        GArray *chain, int depth,
                                        GError **errp)
{
    g_autoptr(GHashTable) json = NULL;
    GHashTableIter it;
    gpointer key, value;

    if (!filename || !g_str_has_prefix(filename, "json:")) {
        return bdrv_open_node_opts(filename, format, opts, flags, chain,
                                   depth, errp);
    }
    json = block_opts_new();
    if (!block_opts_parse_json(json, filename + strlen("json:"), errp)) {
        g_prefix_error(errp, "Could not parse the file name '%s': ",
                       filename);
        return NULL;
    }
    g_hash_table_iter_init(&it, json);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        if (!g_hash_table_contains(opts, key)) {
            g_hash_table_insert(opts, g_strdup(key), g_strdup(value));
        }
    }
    return bdrv_open_node_opts(NULL, format, opts, flags, chain, depth,
                               errp);
}

static void chain_entry_clear(gpointer p)
{
    g_free(((ChainEntry *)p)->name);
}

BlockDriverState *bdrv_open(const char *filename, const char *format,
                            GHashTable *options, int flags, GError **errp)
{
    GHashTable *opts = block_opts_new();
    GArray *chain = g_array_new(FALSE, FALSE, sizeof(ChainEntry));
    BlockDriverState *bs;

    g_array_set_clear_func(chain, chain_entry_clear);
    if (options) {
        GHashTableIter it;
        gpointer key, value;

        g_hash_table_iter_init(&it, options);
        while (g_hash_table_iter_next(&it, &key, &value)) {
            g_hash_table_insert(opts, g_strdup(key), g_strdup(value));
        }
    }
    bs = bdrv_open_node(filename, format, opts, flags, chain, 0, errp);
    g_hash_table_unref(opts);
    g_array_free(chain, TRUE);
    return bs;
}

void bdrv_ref(BlockDriverState *bs)
{
    g_atomic_int_inc(&bs->refcnt);
}

void bdrv_unref(BlockDriverState *bs)
{
    if (!bs || !g_atomic_int_dec_and_test(&bs->refcnt)) {
        return;
    }
    if (bs->open_flags & BDRV_O_RDWR) {
        bdrv_flush(bs);
    }
    if (bs->drv && bs->drv->close) {
        bs->drv->close(bs);
    }
    bdrv_unref(bs->backing);
    bdrv_unref(bs->file);
    if ((bs->open_flags & BDRV_O_TEMPORARY) && bs->drv->is_protocol) {
        unlink(bs->filename);
    }
    bdrv_free_node(bs);
}

/* ---- I/O ---- */

static int bdrv_check_request(BlockDriverState *bs, uint64_t offset,
                              uint64_t bytes)
{
    if (!bs || !bs->drv) {
        return -ENOMEDIUM;
    }
    if (offset > INT64_MAX || bytes > INT64_MAX - offset) {
        return -EIO;
    }
    return 0;
}

/* Reads the aligned range around an unaligned request into a bounce
 * buffer and copies the requested part out. */
static int bdrv_preadv_bounced(BlockDriverState *bs, uint64_t offset,
                               uint64_t bytes, struct iovec *iov, int niov)
{
    uint64_t align = bs->request_alignment;
    uint64_t start = offset & ~(align - 1);
    uint64_t end = (offset + bytes + align - 1) & ~(align - 1);
    uint8_t *buf = bdrv_bounce_alloc(end - start);
    struct iovec biov;
    int ret;

    if (!buf) {
        return -ENOMEM;
    }
    biov.iov_base = buf;
    biov.iov_len = end - start;
    ret = bs->drv->preadv(bs, start, end - start, &biov, 1);
    if (ret >= 0) {
        iov_from_buf(iov, niov, 0, buf + (offset - start), bytes);
        ret = 0;
    }
    free(buf);
    return ret;
}

/* Read-modify-write of the aligned blocks an unaligned write touches. */
static int bdrv_pwritev_bounced(BlockDriverState *bs, uint64_t offset,
                                uint64_t bytes, struct iovec *iov, int niov,
                                int flags)
{
    uint64_t align = bs->request_alignment;
    uint64_t start = offset & ~(align - 1);
    uint64_t end = (offset + bytes + align - 1) & ~(align - 1);
    uint8_t *buf = bdrv_bounce_alloc(end - start);
    struct iovec biov;
    int ret = 0;

    if (!buf) {
        return -ENOMEM;
    }
    g_mutex_lock(&bs->rmw_lock);
    if (offset != start) {
        biov.iov_base = buf;
        biov.iov_len = align;
        ret = bs->drv->preadv(bs, start, align, &biov, 1);
    }
    /* The tail block, unless it is the head block read just now. */
    if (ret >= 0 && offset + bytes != end &&
        !(offset != start && end - align == start)) {
        biov.iov_base = buf + (end - align - start);
        biov.iov_len = align;
        ret = bs->drv->preadv(bs, end - align, align, &biov, 1);
    }
    if (ret >= 0) {
        iov_to_buf(iov, niov, 0, buf + (offset - start), bytes);
        biov.iov_base = buf;
        biov.iov_len = end - start;
        ret = bs->drv->pwritev(bs, start, end - start, &biov, 1, flags);
    }
    g_mutex_unlock(&bs->rmw_lock);
    free(buf);
    return ret < 0 ? ret : 0;
}

int bdrv_preadv(BlockDriverState *bs, uint64_t offset, uint64_t bytes,
                struct iovec *iov, int niov)
{
    int ret = bdrv_check_request(bs, offset, bytes);
    uint32_t align;

    if (ret < 0) {
        return ret;
    }
    if (bytes == 0) {
        return 0;
    }
    /* A format layer shorter than the request (a backing file smaller
     * than its overlay) reads as zeroes past its end. */
    if (!bs->drv->is_protocol) {
        int64_t len = bdrv_getlength(bs);

        if (len < 0) {
            return len;
        }
        if (offset >= (uint64_t)len) {
            iov_memset(iov, niov, 0, 0, bytes);
            return 0;
        }
        if (offset + bytes > (uint64_t)len) {
            uint64_t head = len - offset;
            int nhead;
            struct iovec *hiov = iov_slice_dup(iov, niov, 0, head, &nhead);

            ret = bdrv_preadv(bs, offset, head, hiov, nhead);
            g_free(hiov);
            if (ret >= 0) {
                iov_memset(iov, niov, head, 0, bytes - head);
            }
            return ret < 0 ? ret : 0;
        }
    }
    align = bs->request_alignment;
    if (align > 1 && (((offset | bytes) & (align - 1)) ||
                      !iov_is_aligned(iov, niov, align))) {
        return bdrv_preadv_bounced(bs, offset, bytes, iov, niov);
    }
    ret = bs->drv->preadv(bs, offset, bytes, iov, niov);
    return ret < 0 ? ret : 0;
}

int bdrv_pwritev(BlockDriverState *bs, uint64_t offset, uint64_t bytes,
                 struct iovec *iov, int niov, int flags)
{
    int ret = bdrv_check_request(bs, offset, bytes);
    uint32_t align;

    if (ret < 0) {
        return ret;
    }
    if (!(bs->open_flags & BDRV_O_RDWR)) {
        return -EACCES;
    }
    if (bytes == 0) {
        return 0;
    }
    align = bs->request_alignment;
    if (align > 1 && (((offset | bytes) & (align - 1)) ||
                      !iov_is_aligned(iov, niov, align))) {
        return bdrv_pwritev_bounced(bs, offset, bytes, iov, niov, flags);
    }
    ret = bs->drv->pwritev(bs, offset, bytes, iov, niov, flags);
    return ret < 0 ? ret : 0;
}

int bdrv_pread(BlockDriverState *bs, uint64_t offset, void *buf,
               uint64_t bytes)
{
    struct iovec iov = { .iov_base = buf, .iov_len = bytes };

    return bdrv_preadv(bs, offset, bytes, &iov, 1);
}

int bdrv_pwrite(BlockDriverState *bs, uint64_t offset, const void *buf,
                uint64_t bytes, int flags)
{
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = bytes };

    return bdrv_pwritev(bs, offset, bytes, &iov, 1, flags);
}

int bdrv_pwrite_zeroes(BlockDriverState *bs, uint64_t offset,
                       uint64_t bytes, int flags)
{
    int ret = bdrv_check_request(bs, offset, bytes);
    uint8_t *zeroes;

    if (ret < 0) {
        return ret;
    }
    if (!(bs->open_flags & BDRV_O_RDWR)) {
        return -EACCES;
    }
    if (bytes == 0) {
        return 0;
    }
    if (bs->drv->pwrite_zeroes) {
        ret = bs->drv->pwrite_zeroes(bs, offset, bytes, flags);
        if (ret != -ENOTSUP) {
            return ret < 0 ? ret : 0;
        }
    }
    if (flags & BDRV_REQ_NO_FALLBACK) {
        return -ENOTSUP;
    }
    /* Fallback: write buffers of zeroes. */
    zeroes = bdrv_bounce_alloc(MIN(bytes, BDRV_ZERO_CHUNK));
    if (!zeroes) {
        return -ENOMEM;
    }
    memset(zeroes, 0, MIN(bytes, BDRV_ZERO_CHUNK));
    ret = 0;
    while (bytes && ret >= 0) {
        uint64_t n = MIN(bytes, BDRV_ZERO_CHUNK);

        ret = bdrv_pwrite(bs, offset, zeroes, n,
                          flags & BDRV_REQ_FUA);
        offset += n;
        bytes -= n;
    }
    free(zeroes);
    return ret < 0 ? ret : 0;
}

int bdrv_pdiscard(BlockDriverState *bs, uint64_t offset, uint64_t bytes)
{
    int ret = bdrv_check_request(bs, offset, bytes);

    if (ret < 0) {
        return ret;
    }
    if (!(bs->open_flags & BDRV_O_RDWR)) {
        return -EACCES;
    }
    /* Discard is a hint: a driver without it does nothing. */
    if (!bs->drv->pdiscard || bytes == 0) {
        return 0;
    }
    ret = bs->drv->pdiscard(bs, offset, bytes);
    return ret < 0 ? ret : 0;
}

int bdrv_pwrite_compressed(BlockDriverState *bs, uint64_t offset,
                           const void *buf, uint64_t bytes)
{
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = bytes };
    int ret = bdrv_check_request(bs, offset, bytes);

    if (ret < 0) {
        return ret;
    }
    if (!(bs->open_flags & BDRV_O_RDWR)) {
        return -EACCES;
    }
    if (!bs->drv->pwrite_compressed) {
        return -ENOTSUP;
    }
    ret = bs->drv->pwrite_compressed(bs, offset, bytes, &iov, 1);
    return ret < 0 ? ret : 0;
}

int bdrv_flush(BlockDriverState *bs)
{
    int ret = 0;

    if (!bs || !bs->drv) {
        return 0;
    }
    if (bs->drv->flush) {
        ret = bs->drv->flush(bs);
    }
    if (ret >= 0 && bs->file) {
        ret = bdrv_flush(bs->file);
    }
    return ret < 0 ? ret : 0;
}

int64_t bdrv_getlength(BlockDriverState *bs)
{
    if (!bs || !bs->drv) {
        return -ENOMEDIUM;
    }
    if (!bs->drv->getlength) {
        return -ENOTSUP;
    }
    return bs->drv->getlength(bs);
}

int bdrv_truncate(BlockDriverState *bs, uint64_t offset, bool exact,
                  PreallocMode prealloc, GError **errp)
{
    if (!bs || !bs->drv) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED, "No medium");
        return -ENOMEDIUM;
    }
    if (!(bs->open_flags & BDRV_O_RDWR)) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "Image '%s' is read-only", bs->filename);
        return -EACCES;
    }
    if (offset > INT64_MAX) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "Image size %" G_GUINT64_FORMAT " is too large",
                    offset);
        return -EFBIG;
    }
    if (!bs->drv->truncate) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_UNSUPPORTED,
                    "Image format '%s' does not support resizing",
                    bs->drv->format_name);
        return -ENOTSUP;
    }
    return bs->drv->truncate(bs, offset, exact, prealloc, errp);
}

/* This layer's own status of the range (no chain walk). */
static int bdrv_layer_status(BlockDriverState *bs, uint64_t offset,
                             uint64_t bytes, uint64_t *pnum, uint64_t *map,
                             BlockDriverState **file)
{
    *map = 0;
    *file = NULL;
    if (!bs->drv->block_status) {
        *pnum = bytes;
        if (bs->drv->is_protocol) {
            *map = offset;
            *file = bs;
            return BDRV_BLOCK_DATA | BDRV_BLOCK_ALLOCATED |
                   BDRV_BLOCK_OFFSET_VALID;
        }
        return BDRV_BLOCK_DATA | BDRV_BLOCK_ALLOCATED;
    }
    *pnum = 0;
    return bs->drv->block_status(bs, offset, bytes, pnum, map, file);
}

int bdrv_block_status(BlockDriverState *bs, uint64_t offset,
                      uint64_t bytes, uint64_t *pnum, uint64_t *map,
                      BlockDriverState **file)
{
    uint64_t dummy_map;
    BlockDriverState *dummy_file;
    int64_t len;
    int ret;

    if (!map) {
        map = &dummy_map;
    }
    if (!file) {
        file = &dummy_file;
    }
    *pnum = 0;
    *map = 0;
    *file = NULL;
    if (!bs || !bs->drv) {
        return -ENOMEDIUM;
    }
    len = bdrv_getlength(bs);
    if (len < 0) {
        return len;
    }
    if (offset >= (uint64_t)len || bytes == 0) {
        *pnum = bytes;
        return BDRV_BLOCK_ZERO;
    }
    bytes = MIN(bytes, (uint64_t)len - offset);
    ret = bdrv_layer_status(bs, offset, bytes, pnum, map, file);
    if (ret < 0) {
        return ret;
    }
    if (*pnum == 0 || *pnum > bytes) {
        *pnum = bytes;
    }
    if (ret & BDRV_BLOCK_ALLOCATED) {
        return ret;
    }
    if (!bs->backing) {
        /* Unallocated without a backing file reads as zero. */
        return ret | BDRV_BLOCK_ZERO;
    }
    len = bdrv_getlength(bs->backing);
    if (len < 0) {
        return len;
    }
    if (offset >= (uint64_t)len) {
        return BDRV_BLOCK_ZERO;
    }
    return bdrv_block_status(bs->backing, offset,
                             MIN(*pnum, (uint64_t)len - offset), pnum, map,
                             file);
}

int bdrv_is_allocated_above(BlockDriverState *top, BlockDriverState *base,
                            uint64_t offset, uint64_t bytes,
                            uint64_t *pnum)
{
    uint64_t n = bytes;

    for (BlockDriverState *l = top; l && l != base; l = l->backing) {
        uint64_t lnum, map;
        BlockDriverState *file;
        int64_t len = bdrv_getlength(l);
        int ret;

        if (len < 0) {
            return len;
        }
        /* Past the end of a shorter layer the zeroes come from it. */
        if (offset >= (uint64_t)len) {
            *pnum = n;
            return 1;
        }
        ret = bdrv_layer_status(l, offset, MIN(n, (uint64_t)len - offset),
                                &lnum, &map, &file);
        if (ret < 0) {
            return ret;
        }
        if (lnum == 0 || lnum > n) {
            lnum = MIN(n, (uint64_t)len - offset);
        }
        if (ret & BDRV_BLOCK_ALLOCATED) {
            *pnum = lnum;
            return 1;
        }
        n = lnum;
    }
    *pnum = n;
    return 0;
}

bool bdrv_get_info(BlockDriverState *bs, BlockDriverInfo *bdi)
{
    memset(bdi, 0, sizeof(*bdi));
    if (!bs || !bs->drv || !bs->drv->get_info) {
        return false;
    }
    return bs->drv->get_info(bs, bdi);
}

int bdrv_check(BlockDriverState *bs, BdrvCheckResult *res,
               BdrvCheckMode fix)
{
    memset(res, 0, sizeof(*res));
    if (!bs || !bs->drv) {
        return -ENOMEDIUM;
    }
    if (!bs->drv->check) {
        return -ENOTSUP;
    }
    return bs->drv->check(bs, res, fix);
}

/* ---- creation ---- */

bool bdrv_create(const char *format, const char *filename, GHashTable *opts,
                 GError **errp)
{
    const BlockDriver *drv = bdrv_find_format(format);
    g_autoptr(GHashTable) empty = NULL;
    GHashTableIter it;
    gpointer key;

    if (!drv) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "Unknown file format '%s' (expected qcow2 or raw)",
                    format ? format : "");
        return false;
    }
    if (!drv->create) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_UNSUPPORTED,
                    "Format driver '%s' does not support image creation",
                    drv->format_name);
        return false;
    }
    if (!opts) {
        opts = empty = block_opts_new();
    }
    g_hash_table_iter_init(&it, opts);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
        bool known = false;

        for (const char *const *o = drv->create_opts; o && *o; o++) {
            if (strcmp(*o, key) == 0) {
                known = true;
                break;
            }
        }
        if (!known) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "Invalid parameter '%s'", (char *)key);
            return false;
        }
    }
    return drv->create(filename, opts, errp);
}
