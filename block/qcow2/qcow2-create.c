/*
 * qcow2 image creation (qemu-img create), size estimates (qemu-img
 * measure) and option changes on an existing image (qemu-img amend),
 * with the create option parsing they share.
 *
 * Format: QEMU's docs/interop/qcow2.txt.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>
#include "lemu/util/log.h"
#include "qcow2.h"

typedef struct Qcow2CreateOpts {
    uint64_t size;
    bool have_size;
    int version;
    uint32_t cluster_size;
    int refcount_order;
    bool lazy_refcounts;
    bool extended_l2;
    int compression_type;
    PreallocMode prealloc;
    char *backing_file;
    char *backing_fmt;
} Qcow2CreateOpts;

static void create_opts_free(Qcow2CreateOpts *o)
{
    g_free(o->backing_file);
    g_free(o->backing_fmt);
}

static const char *opt_get(GHashTable *opts, const char *key)
{
    return opts ? g_hash_table_lookup(opts, key) : NULL;
}

static bool parse_onoff(const char *key, const char *v, bool *out,
                        GError **errp)
{
    if (!strcmp(v, "on") || !strcmp(v, "true") || !strcmp(v, "yes")) {
        *out = true;
    } else if (!strcmp(v, "off") || !strcmp(v, "false") ||
               !strcmp(v, "no")) {
        *out = false;
    } else {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "Parameter '%s' expects 'on' or 'off', not '%s'", key, v);
        return false;
    }
    return true;
}

/* Parses and checks the create options (QEMU's names and messages).
 * With @defaults false, only keys present are set (amend). */
static bool parse_create_opts(GHashTable *opts, Qcow2CreateOpts *o,
                              GError **errp)
{
    const char *v;
    uint64_t n;

    if ((v = opt_get(opts, "size"))) {
        if (!block_parse_size(v, &o->size, errp)) {
            return false;
        }
        o->have_size = true;
    }
    if ((v = opt_get(opts, "compat"))) {
        if (!strcmp(v, "0.10") || !strcmp(v, "v2")) {
            o->version = 2;
        } else if (!strcmp(v, "1.1") || !strcmp(v, "v3")) {
            o->version = 3;
        } else {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "Invalid compatibility level: '%s' (expected 0.10, "
                        "1.1, v2 or v3)", v);
            return false;
        }
    }
    if ((v = opt_get(opts, "cluster_size"))) {
        if (!block_parse_size(v, &n, errp)) {
            return false;
        }
        if (n < 512 || n > 2 * 1024 * 1024 || (n & (n - 1))) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "Cluster size must be a power of two between 512 "
                        "and 2048k (got %" PRIu64 ")", n);
            return false;
        }
        o->cluster_size = n;
    }
    if ((v = opt_get(opts, "refcount_bits"))) {
        char *end;
        n = g_ascii_strtoull(v, &end, 10);
        if (*end || n == 0 || n > 64 || (n & (n - 1))) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "Refcount width must be a power of two and may not "
                        "exceed 64 bits (got '%s')", v);
            return false;
        }
        o->refcount_order = __builtin_ctzll(n);
    }
    if ((v = opt_get(opts, "lazy_refcounts")) &&
        !parse_onoff("lazy_refcounts", v, &o->lazy_refcounts, errp)) {
        return false;
    }
    if ((v = opt_get(opts, "extended_l2")) &&
        !parse_onoff("extended_l2", v, &o->extended_l2, errp)) {
        return false;
    }
    if ((v = opt_get(opts, "compression_type"))) {
        if (!strcmp(v, "zlib")) {
            o->compression_type = QCOW2_COMPRESSION_ZLIB;
        } else if (!strcmp(v, "zstd")) {
            o->compression_type = QCOW2_COMPRESSION_ZSTD;
        } else {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "Invalid compression type '%s' (expected zlib or "
                        "zstd)", v);
            return false;
        }
    }
    if ((v = opt_get(opts, "preallocation"))) {
        if (!strcmp(v, "off")) {
            o->prealloc = PREALLOC_MODE_OFF;
        } else if (!strcmp(v, "metadata")) {
            o->prealloc = PREALLOC_MODE_METADATA;
        } else if (!strcmp(v, "falloc")) {
            o->prealloc = PREALLOC_MODE_FALLOC;
        } else if (!strcmp(v, "full")) {
            o->prealloc = PREALLOC_MODE_FULL;
        } else {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "Invalid preallocation mode: '%s' (expected off, "
                        "metadata, falloc or full)", v);
            return false;
        }
    }
    if ((v = opt_get(opts, "encryption")) && strcmp(v, "off")) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_UNSUPPORTED,
                    "qcow2: encrypted images are not supported");
        return false;
    }
    if ((v = opt_get(opts, "backing_file")) && *v) {
        o->backing_file = g_strdup(v);
    }
    if ((v = opt_get(opts, "backing_fmt")) && *v) {
        o->backing_fmt = g_strdup(v);
    }
    return true;
}

/* The option combinations QEMU refuses. */
static bool check_create_opts(const Qcow2CreateOpts *o, GError **errp)
{
    if (o->version < 3) {
        if (o->lazy_refcounts) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "Lazy refcounts only supported with compatibility "
                        "level 1.1 and above (use compat=1.1 or greater)");
            return false;
        }
        if (o->refcount_order != 4) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "Different refcount widths than 16 bits require "
                        "compatibility level 1.1 or above (use compat=1.1 "
                        "or greater)");
            return false;
        }
        if (o->extended_l2) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "Extended L2 entries are only supported with "
                        "compatibility level 1.1 and above (use compat=1.1 "
                        "or greater)");
            return false;
        }
        if (o->compression_type != QCOW2_COMPRESSION_ZLIB) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "Non-zlib compression type is only supported with "
                        "compatibility level 1.1 and above (use compat=1.1 "
                        "or greater)");
            return false;
        }
    }
    if (o->extended_l2 && o->cluster_size < 16384) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "Extended L2 entries are only supported with cluster "
                    "sizes of at least 16384 bytes");
        return false;
    }
    if (o->backing_fmt && !o->backing_file) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "Backing format cannot be used without backing file");
        return false;
    }
    if (o->backing_file && strlen(o->backing_file) > QCOW2_MAX_BACKING_NAME) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "Backing file name too long (at most %d bytes)",
                    QCOW2_MAX_BACKING_NAME);
        return false;
    }
    if (o->backing_fmt && strlen(o->backing_fmt) >= 16) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "Backing format name too long: '%s'", o->backing_fmt);
        return false;
    }
    if (o->backing_file && o->prealloc != PREALLOC_MODE_OFF &&
        !o->extended_l2) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "Backing file and preallocation can only be used at the "
                    "same time if extended_l2 is on");
        return false;
    }
    return true;
}

static uint64_t div_round_up(uint64_t a, uint64_t b)
{
    return (a + b - 1) / b;
}

/* Refcount table and block clusters needed to describe @clusters
 * clusters plus themselves. */
static void refcount_metadata_clusters(uint64_t clusters, uint32_t cs,
                                       int refcount_order,
                                       uint64_t *table, uint64_t *blocks)
{
    uint64_t per_block = (uint64_t)cs * 8 >> refcount_order;
    uint64_t t = 0, b = 0, total = 0, last;

    do {
        last = total;
        b = div_round_up(clusters + t + b, per_block);
        t = div_round_up(b, cs / 8);
        total = clusters + t + b;
    } while (total != last);
    *table = t;
    *blocks = b;
}

/* Bytes of a fully allocated image of @size (qemu-img measure). */
static uint64_t prealloc_size(uint64_t size, uint32_t cs, int refcount_order,
                              bool extended_l2)
{
    uint64_t aligned = div_round_up(size, cs) * cs;
    uint64_t l2e = extended_l2 ? 16 : 8;
    uint64_t meta = cs;     /* header */
    uint64_t nl2e, nl1e, t, b;

    nl2e = div_round_up(aligned / cs, cs / l2e) * (cs / l2e);
    meta += nl2e * l2e;
    nl1e = nl2e * l2e / cs;
    nl1e = div_round_up(nl1e, cs / 8) * (cs / 8);
    meta += nl1e * 8;
    refcount_metadata_clusters((meta + aligned) / cs, cs, refcount_order,
                               &t, &b);
    return meta + (t + b) * cs + aligned;
}

/* Sets refcount @index of a refcount block to @value. */
static void refblock_set(uint8_t *block, int order, uint64_t index,
                         uint64_t value)
{
    int bits = 1 << order;

    if (bits < 8) {
        uint8_t mask = (1 << bits) - 1;
        int shift = (index % (8 / bits)) * bits;
        uint8_t *p = block + index / (8 / bits);
        *p = (*p & ~(mask << shift)) | ((value & mask) << shift);
    } else {
        int bytes = bits / 8;
        for (int i = 0; i < bytes; i++) {
            block[index * bytes + i] = value >> (8 * (bytes - 1 - i));
        }
    }
}

/* Writes a new empty image: header, refcount table, blocks, L1. */
static bool write_new_image(int fd, const char *filename,
                            const Qcow2CreateOpts *o, GError **errp)
{
    uint32_t cs = o->cluster_size;
    int cluster_bits = __builtin_ctz(cs);
    uint64_t l2_entries = cs / (o->extended_l2 ? 16 : 8);
    uint64_t l1_size = div_round_up(o->size, (uint64_t)cs * l2_entries);
    uint64_t l1_clusters = div_round_up(l1_size * 8, cs);
    uint64_t rt_clusters, rb_clusters, total, l1_offset;
    uint64_t *rb_at;
    uint64_t per_block = (uint64_t)cs * 8 >> o->refcount_order;
    uint8_t *buf;
    size_t len;
    bool ok = false;
    BlockDriverState fake = { 0 };
    BDRVQcow2State s = { 0 };
    ssize_t hlen;

    if (l1_size * 8 > QCOW2_MAX_L1_BYTES) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "Image size %" PRIu64 " is too big for cluster size %u",
                    o->size, cs);
        return false;
    }
    refcount_metadata_clusters(1 + l1_clusters, cs, o->refcount_order,
                               &rt_clusters, &rb_clusters);
    total = 1 + rt_clusters + rb_clusters + l1_clusters;
    rb_at = g_new(uint64_t, rb_clusters);
    if (rt_clusters == 1) {
        /* qemu-img's layout: header, refcount table, first refcount
         * block, L1 table, then any further refcount blocks. */
        l1_offset = 3 * (uint64_t)cs;
        for (uint64_t i = 0; i < rb_clusters; i++) {
            rb_at[i] = i == 0 ? 2 : 3 + l1_clusters + i - 1;
        }
    } else {
        l1_offset = (uint64_t)(1 + rt_clusters + rb_clusters) * cs;
        for (uint64_t i = 0; i < rb_clusters; i++) {
            rb_at[i] = 1 + rt_clusters + i;
        }
    }

    len = (size_t)total * cs;
    buf = g_try_malloc0(len);
    if (!buf) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                    "Out of memory creating '%s'", filename);
        g_free(rb_at);
        return false;
    }
    /* Header, through the same code that rewrites it later. */
    s.qcow_version = o->version;
    s.cluster_bits = cluster_bits;
    s.cluster_size = cs;
    s.size = o->size;
    s.l1_size = l1_size;
    s.l1_table_offset = l1_size ? l1_offset : 0;
    s.refcount_table_offset = cs;
    s.refcount_table_size = rt_clusters * cs / 8;
    s.refcount_order = o->refcount_order;
    s.compression_type = o->compression_type;
    if (o->compression_type != QCOW2_COMPRESSION_ZLIB) {
        s.incompatible_features |= QCOW2_INCOMPAT_COMPRESSION;
    }
    if (o->extended_l2) {
        s.incompatible_features |= QCOW2_INCOMPAT_EXTL2;
    }
    if (o->lazy_refcounts) {
        s.compatible_features |= QCOW2_COMPAT_LAZY_REFCOUNTS;
    }
    fake.opaque = &s;
    g_strlcpy(fake.backing_file, o->backing_file ? o->backing_file : "",
              sizeof(fake.backing_file));
    g_strlcpy(fake.backing_format, o->backing_fmt ? o->backing_fmt : "",
              sizeof(fake.backing_format));
    hlen = qcow2_build_header(&fake, buf, cs);
    if (hlen < 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "Header extensions and backing file name do not fit in "
                    "a %u-byte cluster", cs);
        goto out;
    }
    /* Refcount table entries and blocks: every cluster used has 1. */
    for (uint64_t i = 0; i < rb_clusters; i++) {
        put_be64(buf + cs + i * 8, rb_at[i] * cs);
    }
    for (uint64_t c = 0; c < total; c++) {
        uint8_t *block = buf + rb_at[c / per_block] * cs;
        refblock_set(block, o->refcount_order, c % per_block, 1);
    }
    /* Like qemu-img, the file ends right after the L1 entries (or the
     * last refcount block). */
    len = l1_size ? l1_offset + l1_size * 8 : l1_offset;
    len = MAX(len, (rb_at[rb_clusters - 1] + 1) * cs);
    /* (A block device cannot be truncated; its old content past the
     * metadata does not matter.) */
    if ((ftruncate(fd, 0) < 0 && errno != EINVAL) ||
        pwrite(fd, buf, len, 0) != (ssize_t)len) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                    "Could not write '%s': %s", filename, g_strerror(errno));
        goto out;
    }
    if (fsync(fd) < 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                    "Could not sync '%s': %s", filename, g_strerror(errno));
        goto out;
    }
    ok = true;
out:
    g_free(buf);
    g_free(rb_at);
    return ok;
}

bool qcow2_create(const char *filename, GHashTable *opts, GError **errp)
{
    Qcow2CreateOpts o = {
        .version = 3, .cluster_size = 1U << QCOW2_DEFAULT_CLUSTER_BITS,
        .refcount_order = 4,
    };
    bool ok = false;
    int fd;

    if (!parse_create_opts(opts, &o, errp) || !check_create_opts(&o, errp)) {
        goto out;
    }
    if (!o.have_size && o.backing_file) {
        /* Size from the backing file, as qemu-img does. */
        char *full = bdrv_resolve_backing_name(filename, o.backing_file);
        BlockDriverState *b = bdrv_open(full, o.backing_fmt, NULL,
                                        BDRV_O_NO_BACKING | BDRV_O_NO_IO,
                                        errp);
        g_free(full);
        if (!b) {
            goto out;
        }
        o.size = bdrv_getlength(b);
        o.have_size = true;
        bdrv_unref(b);
    }
    if (!o.have_size) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "Image creation needs a size parameter");
        goto out;
    }
    if (o.size & (BDRV_SECTOR_SIZE - 1)) {
        o.size = (o.size + BDRV_SECTOR_SIZE - 1) & ~(uint64_t)511;
    }
    fd = open(filename, O_RDWR | O_CREAT, 0644);
    if (fd < 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                    "Could not create '%s': %s", filename, g_strerror(errno));
        goto out;
    }
    ok = write_new_image(fd, filename, &o, errp);
    close(fd);
    if (ok && o.prealloc != PREALLOC_MODE_OFF) {
        BlockDriverState *bs = bdrv_open(filename, "qcow2", NULL,
                                         BDRV_O_RDWR | BDRV_O_NO_BACKING,
                                         errp);
        if (!bs) {
            ok = false;
        } else {
            BDRVQcow2State *s = bs->opaque;
            g_mutex_lock(&s->lock);
            ok = qcow2_preallocate(bs, 0, s->size, o.prealloc, errp) == 0;
            g_mutex_unlock(&s->lock);
            bdrv_unref(bs);
        }
    }
out:
    create_opts_free(&o);
    return ok;
}

bool qcow2_measure(GHashTable *opts, BlockDriverState *in,
                   BlockMeasureInfo *info, GError **errp)
{
    Qcow2CreateOpts o = {
        .version = 3, .cluster_size = 1U << QCOW2_DEFAULT_CLUSTER_BITS,
        .refcount_order = 4,
    };
    uint64_t size, required = 0, full;
    bool ok = false;

    if (!parse_create_opts(opts, &o, errp) || !check_create_opts(&o, errp)) {
        goto out;
    }
    if (in) {
        int64_t len = bdrv_getlength(in);
        uint64_t cs = o.cluster_size;
        if (len < 0) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                        "Unable to get image virtual_size: %s",
                        g_strerror(-len));
            goto out;
        }
        size = o.have_size ? o.size : (uint64_t)len;
        /* Data clusters: what is allocated and not known to be zero. */
        for (uint64_t off = 0; off < (uint64_t)len;) {
            uint64_t pnum = 0, map;
            BlockDriverState *file;
            int ret = bdrv_block_status(in, off, len - off, &pnum, &map,
                                        &file);
            if (ret < 0) {
                g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                            "Unable to get block status: %s",
                            g_strerror(-ret));
                goto out;
            }
            if (pnum == 0) {
                break;
            }
            if (!(ret & BDRV_BLOCK_ZERO) && (ret & BDRV_BLOCK_DATA)) {
                uint64_t end = div_round_up(off + pnum, cs) * cs;
                required += end - (off - off % cs);
                pnum = end - off;
            }
            off += pnum;
        }
    } else {
        if (!o.have_size) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "Either --size N or one filename must be specified");
            goto out;
        }
        size = o.size;
        required = 0;   /* an empty image, as qemu-img measure --size */
    }
    full = prealloc_size(size, o.cluster_size, o.refcount_order,
                         o.extended_l2);
    info->fully_allocated = full;
    info->required = full - div_round_up(size, o.cluster_size) *
                     o.cluster_size + required;
    info->bitmaps = 0;
    ok = true;
out:
    create_opts_free(&o);
    return ok;
}

/* Does the active L2 table set use zero clusters (v2 cannot)? */
static int has_zero_clusters(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;

    for (uint32_t i = 0; i < s->l1_size; i++) {
        uint64_t l2_offset = s->l1_table[i] & L1E_OFFSET_MASK;
        uint64_t *l2;
        int ret;

        if (!l2_offset) {
            continue;
        }
        ret = qcow2_cache_get(bs, s->l2_table_cache, l2_offset, (void **)&l2);
        if (ret < 0) {
            return ret;
        }
        for (uint32_t j = 0; j < s->l2_size; j++) {
            uint64_t e = qcow2_get_l2_entry(s, l2, j);
            if (!(e & QCOW_OFLAG_COMPRESSED) && (e & QCOW_OFLAG_ZERO)) {
                qcow2_cache_put(s->l2_table_cache, (void **)&l2);
                return 1;
            }
        }
        qcow2_cache_put(s->l2_table_cache, (void **)&l2);
    }
    return 0;
}

/* Replaces zero clusters by what v2 can say: unallocated clusters (no
 * backing file) or clusters of zeroes. Called without s->lock. */
static int expand_zero_clusters(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t pos = 0;
    uint8_t *zero = NULL;
    int ret = 0;

    while (pos < s->size) {
        uint64_t pnum, map;
        BlockDriverState *file;
        ret = qcow2_block_status(bs, pos, s->size - pos, &pnum, &map, &file);
        if (ret < 0) {
            break;
        }
        if ((ret & (BDRV_BLOCK_ZERO | BDRV_BLOCK_ALLOCATED)) ==
            (BDRV_BLOCK_ZERO | BDRV_BLOCK_ALLOCATED)) {
            if (!bs->backing_file[0]) {
                ret = qcow2_pdiscard(bs, pos, pnum);
            } else {
                for (uint64_t done = 0; done < pnum && ret >= 0;) {
                    uint64_t n = MIN(pnum - done, s->cluster_size);
                    struct iovec iov;
                    if (!zero) {
                        zero = g_malloc0(s->cluster_size);
                    }
                    iov.iov_base = zero;
                    iov.iov_len = n;
                    ret = qcow2_pwritev(bs, pos + done, n, &iov, 1, 0);
                    done += n;
                }
            }
            if (ret < 0) {
                break;
            }
        }
        ret = 0;
        pos += pnum;
    }
    g_free(zero);
    return ret;
}

static bool amend_fail(GError **errp, int ret, const char *what)
{
    g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED, "qcow2: %s: %s", what,
                g_strerror(-ret));
    return false;
}

bool qcow2_amend(BlockDriverState *bs, GHashTable *opts, bool force,
                 GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    Qcow2CreateOpts o = {
        .version = s->qcow_version, .cluster_size = s->cluster_size,
        .refcount_order = s->refcount_order,
        .lazy_refcounts = s->compatible_features &
                          QCOW2_COMPAT_LAZY_REFCOUNTS,
        .extended_l2 = s->extended_l2,
        .compression_type = s->compression_type,
    };
    bool ok = false;
    int ret;

    (void)force;
    if (!parse_create_opts(opts, &o, errp)) {
        goto out;
    }
    if (opt_get(opts, "preallocation")) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_UNSUPPORTED,
                    "Cannot change preallocation mode");
        goto out;
    }
    if (o.cluster_size != s->cluster_size) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_UNSUPPORTED,
                    "Changing the cluster size is not supported");
        goto out;
    }
    if (o.extended_l2 != s->extended_l2) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_UNSUPPORTED,
                    "Changing extended_l2 is not supported");
        goto out;
    }
    if (o.compression_type != s->compression_type) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_UNSUPPORTED,
                    "Changing the compression type is not supported");
        goto out;
    }
    if (o.backing_fmt && !o.backing_file && !opt_get(opts, "backing_file")) {
        /* Only the format changes: keep the file name. */
        o.backing_file = bs->backing_file[0] ? g_strdup(bs->backing_file)
                                             : NULL;
    }
    if (!check_create_opts(&o, errp)) {
        goto out;
    }

    if (o.version < s->qcow_version && !s->nb_snapshots) {
        ret = expand_zero_clusters(bs);
        if (ret < 0) {
            amend_fail(errp, ret, "could not expand zero clusters");
            goto out;
        }
    }
    g_mutex_lock(&s->lock);
    ret = qcow2_write_caches(bs);
    if (ret == 0) {
        ret = bdrv_flush(bs->file);
    }
    if (ret < 0) {
        g_mutex_unlock(&s->lock);
        amend_fail(errp, ret, "could not write metadata");
        goto out;
    }
    if (o.version < s->qcow_version) {
        ret = has_zero_clusters(bs);
        if (ret != 0 || s->nb_snapshots ||
            (s->incompatible_features & QCOW2_INCOMPAT_DIRTY)) {
            g_mutex_unlock(&s->lock);
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_UNSUPPORTED,
                        "Cannot downgrade to compat=0.10: the image has %s",
                        ret != 0 ? "zero clusters" : s->nb_snapshots ?
                        "internal snapshots" : "the dirty bit set");
            goto out;
        }
        s->qcow_version = 2;
        s->compatible_features = 0;
        s->incompatible_features = 0;
        s->autoclear_features = 0;
        s->use_lazy_refcounts = false;
    } else if (o.version > s->qcow_version) {
        s->qcow_version = 3;
    }
    if (s->qcow_version >= 3) {
        if (o.lazy_refcounts) {
            s->compatible_features |= QCOW2_COMPAT_LAZY_REFCOUNTS;
            s->use_lazy_refcounts = true;
        } else {
            s->compatible_features &= ~QCOW2_COMPAT_LAZY_REFCOUNTS;
            s->use_lazy_refcounts = false;
            s->incompatible_features &= ~QCOW2_INCOMPAT_DIRTY;
        }
    }
    if (opt_get(opts, "backing_file") || opt_get(opts, "backing_fmt")) {
        g_strlcpy(bs->backing_file, o.backing_file ? o.backing_file : "",
                  sizeof(bs->backing_file));
        g_strlcpy(bs->backing_format,
                  (o.backing_file && o.backing_fmt) ? o.backing_fmt : "",
                  sizeof(bs->backing_format));
    }
    /* After the version change: the new width goes into a v3 header. */
    if (o.refcount_order != s->refcount_order) {
        if (s->qcow_version < 3) {
            g_mutex_unlock(&s->lock);
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_UNSUPPORTED,
                        "Different refcount widths than 16 bits require "
                        "compatibility level 1.1 or above (use compat=1.1 "
                        "or greater)");
            goto out;
        }
        if (qcow2_change_refcount_order(bs, o.refcount_order, errp) < 0) {
            g_mutex_unlock(&s->lock);
            goto out;
        }
    }
    ret = qcow2_update_header(bs);
    g_mutex_unlock(&s->lock);
    if (ret < 0) {
        amend_fail(errp, ret, "could not update the header");
        goto out;
    }
    if (o.have_size && o.size != s->size) {
        if (qcow2_truncate(bs, o.size, false, PREALLOC_MODE_OFF, errp) < 0) {
            goto out;
        }
    }
    ok = true;
out:
    create_opts_free(&o);
    return ok;
}
