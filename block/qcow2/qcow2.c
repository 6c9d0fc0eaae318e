/*
 * qcow2 driver: open (header, extensions, feature bits, caches), close,
 * header updates, dirty/corrupt bits, flush, resize, info, backing file
 * changes and the driver table. Creation, measure and amend live in
 * qcow2-create.c.
 *
 * Format: QEMU's docs/interop/qcow2.txt.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>
#include "lemu/util/json.h"
#include "lemu/util/log.h"
#include "qcow2.h"

#define QCOW2_HEADER_V3_SIZE        112     /* with compression_type, padded */
#define QCOW2_FEATURE_ENTRY_SIZE    48
#define DEFAULT_L2_CACHE_MAX_BYTES  (32 * 1024 * 1024)
#define MIN_REFCOUNT_CACHE_TABLES   4
#define MIN_REFCOUNT_CACHE_BYTES    (256 * 1024)

/* The features lemu writes into the feature name table. */
static const Qcow2Feature qcow2_known_features[] = {
    { 0, 0, "dirty bit" },
    { 0, 1, "corrupt bit" },
    { 0, 2, "external data file" },
    { 0, 3, "compression type" },
    { 0, 4, "extended L2 entries" },
    { 1, 0, "lazy refcounts" },
    { 2, 0, "bitmaps" },
    { 2, 1, "raw external data" },
};

/* ---- header ---- */

static void header_to_host(Qcow2Header *h)
{
    h->magic = GUINT32_FROM_BE(h->magic);
    h->version = GUINT32_FROM_BE(h->version);
    h->backing_file_offset = GUINT64_FROM_BE(h->backing_file_offset);
    h->backing_file_size = GUINT32_FROM_BE(h->backing_file_size);
    h->cluster_bits = GUINT32_FROM_BE(h->cluster_bits);
    h->size = GUINT64_FROM_BE(h->size);
    h->crypt_method = GUINT32_FROM_BE(h->crypt_method);
    h->l1_size = GUINT32_FROM_BE(h->l1_size);
    h->l1_table_offset = GUINT64_FROM_BE(h->l1_table_offset);
    h->refcount_table_offset = GUINT64_FROM_BE(h->refcount_table_offset);
    h->refcount_table_clusters = GUINT32_FROM_BE(h->refcount_table_clusters);
    h->nb_snapshots = GUINT32_FROM_BE(h->nb_snapshots);
    h->snapshots_offset = GUINT64_FROM_BE(h->snapshots_offset);
    h->incompatible_features = GUINT64_FROM_BE(h->incompatible_features);
    h->compatible_features = GUINT64_FROM_BE(h->compatible_features);
    h->autoclear_features = GUINT64_FROM_BE(h->autoclear_features);
    h->refcount_order = GUINT32_FROM_BE(h->refcount_order);
    h->header_length = GUINT32_FROM_BE(h->header_length);
}

/* Appends one extension (padded to 8 bytes); false when it does not fit. */
static bool put_ext(uint8_t *buf, size_t *pos, size_t size, uint32_t magic,
                    const void *data, uint32_t len)
{
    size_t padded = (len + 7) & ~(size_t)7;

    if (*pos + 8 + padded > size) {
        return false;
    }
    put_be32(buf + *pos, magic);
    put_be32(buf + *pos + 4, len);
    memset(buf + *pos + 8, 0, padded);
    if (len) {
        memcpy(buf + *pos + 8, data, len);
    }
    *pos += 8 + padded;
    return true;
}

/* Builds cluster 0 from the state; returns its used length or -errno. */
ssize_t qcow2_build_header(BlockDriverState *bs, uint8_t *buf, size_t size)
{
    BDRVQcow2State *s = bs->opaque;
    size_t hlen = s->qcow_version >= 3 ? QCOW2_HEADER_V3_SIZE
                                       : QCOW2_HEADER_V2_SIZE;
    size_t pos = hlen;
    size_t name_len = strlen(bs->backing_file);

    memset(buf, 0, size);
    put_be32(buf + 0, QCOW_MAGIC);
    put_be32(buf + 4, s->qcow_version);
    put_be32(buf + 20, s->cluster_bits);
    put_be64(buf + 24, s->size);
    put_be32(buf + 32, 0);
    put_be32(buf + 36, s->l1_size);
    put_be64(buf + 40, s->l1_table_offset);
    put_be64(buf + 48, s->refcount_table_offset);
    put_be32(buf + 56, ((uint64_t)s->refcount_table_size * 8 +
                        s->cluster_size - 1) >> s->cluster_bits);
    put_be32(buf + 60, s->nb_snapshots);
    put_be64(buf + 64, s->snapshots_offset);
    if (s->qcow_version >= 3) {
        uint64_t incompat = s->incompatible_features;
        if (s->compression_type != QCOW2_COMPRESSION_ZLIB) {
            incompat |= QCOW2_INCOMPAT_COMPRESSION;
        }
        put_be64(buf + 72, incompat);
        put_be64(buf + 80, s->compatible_features);
        put_be64(buf + 88, s->autoclear_features);
        put_be32(buf + 96, s->refcount_order);
        put_be32(buf + 100, hlen);
        buf[104] = s->compression_type;
    }

    if (bs->backing_format[0]) {
        if (!put_ext(buf, &pos, size, QCOW2_EXT_BACKING_FORMAT,
                     bs->backing_format, strlen(bs->backing_format))) {
            return -ENOSPC;
        }
    }
    /* The feature name table is optional: like qemu-img, leave it out
     * of small header clusters (below 8 KiB) and when it does not fit. */
    if (s->qcow_version >= 3 && size >= 8192 &&
        pos + 8 + G_N_ELEMENTS(qcow2_known_features) *
        QCOW2_FEATURE_ENTRY_SIZE + 8 + name_len <= size) {
        uint8_t table[G_N_ELEMENTS(qcow2_known_features) *
                      QCOW2_FEATURE_ENTRY_SIZE];
        memset(table, 0, sizeof(table));
        for (size_t i = 0; i < G_N_ELEMENTS(qcow2_known_features); i++) {
            uint8_t *e = table + i * QCOW2_FEATURE_ENTRY_SIZE;
            e[0] = qcow2_known_features[i].type;
            e[1] = qcow2_known_features[i].bit;
            strncpy((char *)e + 2, qcow2_known_features[i].name, 46);
        }
        if (!put_ext(buf, &pos, size, QCOW2_EXT_FEATURE_TABLE, table,
                     sizeof(table))) {
            return -ENOSPC;
        }
    }
    for (guint i = 0; s->unknown_exts && i < s->unknown_exts->len; i++) {
        Qcow2UnknownExt *u = g_ptr_array_index(s->unknown_exts, i);
        if (!put_ext(buf, &pos, size, u->magic, u->data, u->len)) {
            return -ENOSPC;
        }
    }
    if (s->qcow_version >= 3 || name_len) {
        if (!put_ext(buf, &pos, size, QCOW2_EXT_END, NULL, 0)) {
            return -ENOSPC;
        }
    }
    if (name_len) {
        if (name_len > QCOW2_MAX_BACKING_NAME || pos + name_len > size) {
            return -ENOSPC;
        }
        memcpy(buf + pos, bs->backing_file, name_len);
        put_be64(buf + 8, pos);
        put_be32(buf + 16, name_len);
        pos += name_len;
    }
    return pos;
}

int qcow2_update_header(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    uint8_t *buf = g_malloc(s->cluster_size);
    ssize_t len = qcow2_build_header(bs, buf, s->cluster_size);
    int ret;

    if (len < 0) {
        g_free(buf);
        return len;
    }
    ret = bdrv_pwrite(bs->file, 0, buf, s->cluster_size, 0);
    if (ret >= 0) {
        s->header_length = s->qcow_version >= 3 ? QCOW2_HEADER_V3_SIZE
                                                : QCOW2_HEADER_V2_SIZE;
        ret = bdrv_flush(bs->file);
    }
    g_free(buf);
    return ret < 0 ? ret : 0;
}

int qcow2_set_incompat_bit(BlockDriverState *bs, uint64_t bit, bool on)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t v = on ? (s->incompatible_features | bit)
                    : (s->incompatible_features & ~bit);
    uint8_t be[8];
    int ret;

    if (s->qcow_version < 3) {
        return on ? -ENOTSUP : 0;
    }
    if (v == s->incompatible_features) {
        return 0;
    }
    /* What the bit covers must be stable before it changes. */
    ret = bdrv_flush(bs->file);
    if (ret < 0) {
        return ret;
    }
    if (s->compression_type != QCOW2_COMPRESSION_ZLIB) {
        v |= QCOW2_INCOMPAT_COMPRESSION;
    }
    put_be64(be, v);
    ret = bdrv_pwrite(bs->file, offsetof(Qcow2Header, incompatible_features),
                      be, 8, 0);
    if (ret < 0) {
        return ret;
    }
    ret = bdrv_flush(bs->file);
    if (ret < 0) {
        return ret;
    }
    s->incompatible_features = v;
    return 0;
}

int qcow2_mark_dirty(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;

    if (!s->use_lazy_refcounts ||
        (s->incompatible_features & QCOW2_INCOMPAT_DIRTY)) {
        return 0;
    }
    return qcow2_set_incompat_bit(bs, QCOW2_INCOMPAT_DIRTY, true);
}

int qcow2_signal_corruption(BlockDriverState *bs, const char *fmt, ...)
{
    BDRVQcow2State *s = bs->opaque;
    va_list ap;
    char *msg;

    if (s->corruption_signalled) {
        return -EIO;
    }
    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    s->corruption_signalled = true;
    if (!bs->read_only) {
        error_report("qcow2: Marking image as corrupt: %s; further "
                     "corruption events will be suppressed", msg);
        s->corrupt = true;
        qcow2_set_incompat_bit(bs, QCOW2_INCOMPAT_CORRUPT, true);
    } else {
        error_report("qcow2: Image is corrupt: %s; further non-fatal "
                     "corruption events will be suppressed", msg);
    }
    g_free(msg);
    return -EIO;
}

/* ---- open ---- */

static const char *feature_name(BDRVQcow2State *s, int type, int bit)
{
    for (int i = 0; i < s->nb_features; i++) {
        if (s->feature_table[i].type == type &&
            s->feature_table[i].bit == bit) {
            return s->feature_table[i].name;
        }
    }
    return NULL;
}

static void free_unknown_ext(gpointer p)
{
    Qcow2UnknownExt *u = p;
    g_free(u->data);
    g_free(u);
}

/* Parses the extensions in [start, end) of the header cluster @buf. */
static bool read_extensions(BlockDriverState *bs, const uint8_t *buf,
                            uint64_t start, uint64_t end, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t pos = start;

    while (pos + 8 <= end) {
        uint32_t magic = get_be32(buf + pos);
        uint32_t len = get_be32(buf + pos + 4);
        const uint8_t *data = buf + pos + 8;

        if (magic == QCOW2_EXT_END) {
            return true;
        }
        if (len > end - pos - 8) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "qcow2: header extension 0x%08x at offset %" PRIu64
                        " has length %u, past the end of the header",
                        magic, pos, len);
            return false;
        }
        switch (magic) {
        case QCOW2_EXT_BACKING_FORMAT:
            if (len >= sizeof(bs->backing_format)) {
                g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                            "qcow2: backing format extension too long "
                            "(%u bytes, expected at most %zu)", len,
                            sizeof(bs->backing_format) - 1);
                return false;
            }
            memcpy(bs->backing_format, data, len);
            bs->backing_format[len] = 0;
            s->have_backing_format_ext = true;
            break;
        case QCOW2_EXT_FEATURE_TABLE: {
            int n = len / QCOW2_FEATURE_ENTRY_SIZE;
            g_free(s->feature_table);
            s->feature_table = g_new0(Qcow2Feature, MAX(n, 1));
            s->nb_features = n;
            for (int i = 0; i < n; i++) {
                const uint8_t *e = data + i * QCOW2_FEATURE_ENTRY_SIZE;
                s->feature_table[i].type = e[0];
                s->feature_table[i].bit = e[1];
                memcpy(s->feature_table[i].name, e + 2, 46);
                s->feature_table[i].name[45] = 0;
            }
            break;
        }
        default: {
            Qcow2UnknownExt *u = g_new0(Qcow2UnknownExt, 1);
            u->magic = magic;
            u->len = len;
            u->data = g_memdup2(data, len);
            g_ptr_array_add(s->unknown_exts, u);
            break;
        }
        }
        pos += 8 + (((uint64_t)len + 7) & ~7ULL);
    }
    return true;
}

static bool check_incompat(BlockDriverState *bs, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t unknown = s->incompatible_features & ~QCOW2_INCOMPAT_KNOWN;
    GString *msg;

    if (s->incompatible_features & QCOW2_INCOMPAT_DATA_FILE) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_UNSUPPORTED,
                    "qcow2: images with an external data file are not "
                    "supported");
        return false;
    }
    if (!unknown) {
        return true;
    }
    msg = g_string_new("Unsupported qcow2 feature(s): ");
    for (int bit = 0; bit < 64; bit++) {
        const char *name;
        if (!(unknown & (1ULL << bit))) {
            continue;
        }
        if (msg->str[msg->len - 1] != ' ') {
            g_string_append(msg, ", ");
        }
        name = feature_name(s, 0, bit);
        if (name && name[0]) {
            g_string_append_printf(msg, "bit %d (%s)", bit, name);
        } else {
            g_string_append_printf(msg, "bit %d", bit);
        }
    }
    g_set_error_literal(errp, LEMU_ERROR, LEMU_ERROR_UNSUPPORTED, msg->str);
    g_string_free(msg, TRUE);
    return false;
}

static void compute_geometry(BDRVQcow2State *s)
{
    s->cluster_size = 1U << s->cluster_bits;
    s->l2_entry_size = s->extended_l2 ? 16 : 8;
    s->l2_bits = s->cluster_bits - (s->extended_l2 ? 4 : 3);
    s->l2_size = 1U << s->l2_bits;
    s->subclusters_per_cluster = s->extended_l2 ? 32 : 1;
    s->subcluster_bits = s->cluster_bits - (s->extended_l2 ? 5 : 0);
    s->subcluster_size = 1U << s->subcluster_bits;
    s->csize_shift = 62 - (s->cluster_bits - 8);
    s->csize_mask = (1 << (s->cluster_bits - 8)) - 1;
    s->cluster_offset_mask = (1ULL << s->csize_shift) - 1;
    s->refcount_bits = 1 << s->refcount_order;
    s->refcount_max = s->refcount_bits == 64 ? UINT64_MAX :
                      (1ULL << s->refcount_bits) - 1;
    s->refcount_block_bits = s->cluster_bits + 3 - s->refcount_order;
    s->refcount_block_size = 1U << s->refcount_block_bits;
}

/* Parses a qcow2 option that is "on"/"off". */
static bool take_bool_opt(GHashTable *options, const char *key, int *out,
                          GError **errp)
{
    char *v = block_opts_take(options, key);

    if (!v) {
        return true;
    }
    if (!strcmp(v, "on") || !strcmp(v, "true") || !strcmp(v, "yes")) {
        *out = 1;
    } else if (!strcmp(v, "off") || !strcmp(v, "false") ||
               !strcmp(v, "no")) {
        *out = 0;
    } else {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "Parameter '%s' expects 'on' or 'off', not '%s'", key, v);
        g_free(v);
        return false;
    }
    g_free(v);
    return true;
}

static bool take_size_opt(GHashTable *options, const char *key,
                          uint64_t *out, GError **errp)
{
    char *v = block_opts_take(options, key);
    bool ok = true;

    if (v) {
        ok = block_parse_size(v, out, errp);
        g_free(v);
    }
    return ok;
}

/* Frees the driver state (open failure and close); @snapshots: the
 * snapshot table was read. */
static void qcow2_state_free(BlockDriverState *bs, bool snapshots)
{
    BDRVQcow2State *s = bs->opaque;

    if (snapshots) {
        qcow2_free_snapshots(bs);
    }
    qcow2_refcount_close(bs);
    qcow2_cache_destroy(s->l2_table_cache);
    qcow2_cache_destroy(s->refcount_block_cache);
    g_free(s->l1_table);
    g_free(s->feature_table);
    g_ptr_array_free(s->unknown_exts, TRUE);
    g_rw_lock_clear(&s->data_io_lock);
    g_mutex_clear(&s->lock);
    g_free(s);
    bs->opaque = NULL;
}

static bool qcow2_open(BlockDriverState *bs, GHashTable *options, int flags,
                       GError **errp)
{
    BDRVQcow2State *s = g_new0(BDRVQcow2State, 1);
    Qcow2Header h;
    uint8_t *hbuf = NULL;
    int64_t file_len;
    uint64_t l2_cache_bytes = 0, rc_cache_bytes = 0, ext_end;
    int lazy_opt = -1;
    bool writable = flags & BDRV_O_RDWR;
    bool refcount_ready = false;
    int ret;

    g_mutex_init(&s->lock);
    g_rw_lock_init(&s->data_io_lock);
    s->unknown_exts = g_ptr_array_new_with_free_func(free_unknown_ext);
    bs->opaque = s;

    if (!take_size_opt(options, "l2-cache-size", &l2_cache_bytes, errp) ||
        !take_size_opt(options, "refcount-cache-size", &rc_cache_bytes,
                       errp) ||
        !take_bool_opt(options, "lazy-refcounts", &lazy_opt, errp)) {
        goto fail;
    }
    /* Accepted for QEMU compatibility; lemu has no use for them. */
    g_free(block_opts_take(options, "cache-clean-interval"));
    g_free(block_opts_take(options, "overlap-check"));
    g_free(block_opts_take(options, "pass-discard-request"));
    g_free(block_opts_take(options, "pass-discard-snapshot"));
    g_free(block_opts_take(options, "pass-discard-other"));

    file_len = bdrv_getlength(bs->file);
    if (file_len < 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                    "qcow2: cannot get the image size: %s",
                    g_strerror(-file_len));
        goto fail;
    }
    memset(&h, 0, sizeof(h));
    ret = bdrv_pread(bs->file, 0, &h, MIN((uint64_t)file_len, sizeof(h)));
    if (ret < 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                    "qcow2: cannot read the header: %s", g_strerror(-ret));
        goto fail;
    }
    header_to_host(&h);
    if (file_len < QCOW2_HEADER_V2_SIZE || h.magic != QCOW_MAGIC) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "Image is not in qcow2 format");
        goto fail;
    }
    if (h.version < 2 || h.version > 3) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_UNSUPPORTED,
                    "Unsupported qcow2 version %u (expected 2 or 3)",
                    h.version);
        goto fail;
    }
    if (h.cluster_bits < QCOW2_MIN_CLUSTER_BITS ||
        h.cluster_bits > QCOW2_MAX_CLUSTER_BITS) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "Unsupported cluster size: 2^%u (expected 2^9 to 2^21)",
                    h.cluster_bits);
        goto fail;
    }
    if (h.version == 2) {
        h.incompatible_features = 0;
        h.compatible_features = 0;
        h.autoclear_features = 0;
        h.refcount_order = 4;
        h.header_length = QCOW2_HEADER_V2_SIZE;
        h.compression_type = 0;
    } else {
        if (h.header_length < QCOW2_HEADER_V3_MIN_SIZE) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "qcow2 header too short (%u bytes, expected at "
                        "least 104)", h.header_length);
            goto fail;
        }
        if (h.header_length > (1U << h.cluster_bits)) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "qcow2 header exceeds cluster size");
            goto fail;
        }
        if (h.header_length < 105) {
            h.compression_type = 0;
        }
        if (h.refcount_order > 6) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "Reference count entry width too large (order %u, "
                        "expected at most 6)", h.refcount_order);
            goto fail;
        }
    }
    s->qcow_version = h.version;
    s->cluster_bits = h.cluster_bits;
    s->header_length = h.header_length;
    s->incompatible_features = h.incompatible_features;
    s->compatible_features = h.compatible_features;
    s->autoclear_features = h.autoclear_features;
    s->refcount_order = h.refcount_order;
    s->compression_type = h.compression_type;
    s->extended_l2 = h.incompatible_features & QCOW2_INCOMPAT_EXTL2;
    s->size = h.size;
    compute_geometry(s);

    if (h.crypt_method != 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_UNSUPPORTED,
                    "qcow2: encrypted images are not supported");
        goto fail;
    }

    /* Header cluster: extensions and the backing file name. */
    hbuf = g_malloc0(s->cluster_size);
    ret = bdrv_pread(bs->file, 0, hbuf,
                     MIN((uint64_t)file_len, s->cluster_size));
    if (ret < 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                    "qcow2: cannot read the header: %s", g_strerror(-ret));
        goto fail;
    }
    ext_end = s->cluster_size;
    if (h.backing_file_offset && h.backing_file_offset < ext_end) {
        ext_end = h.backing_file_offset;
    }
    if (h.version >= 3 || ext_end > QCOW2_HEADER_V2_SIZE) {
        if (!read_extensions(bs, hbuf, s->header_length, ext_end, errp)) {
            goto fail;
        }
    }
    if (!check_incompat(bs, errp)) {
        goto fail;
    }
    if (s->incompatible_features & QCOW2_INCOMPAT_COMPRESSION) {
        if (s->compression_type > QCOW2_COMPRESSION_ZSTD) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_UNSUPPORTED,
                        "qcow2: unknown compression type %u (expected 0 "
                        "zlib or 1 zstd)", s->compression_type);
            goto fail;
        }
    } else if (s->compression_type != QCOW2_COMPRESSION_ZLIB) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "qcow2: compression type %u set without the compression "
                    "type feature bit", s->compression_type);
        goto fail;
    }
    if (s->extended_l2 && s->cluster_bits < 14) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "qcow2: extended L2 entries need clusters of at least "
                    "16384 bytes (cluster size %u)", s->cluster_size);
        goto fail;
    }
    if (h.backing_file_offset) {
        if (h.backing_file_size > QCOW2_MAX_BACKING_NAME ||
            h.backing_file_offset >= s->cluster_size ||
            h.backing_file_size > s->cluster_size - h.backing_file_offset) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "qcow2: backing file name too long or outside the "
                        "header cluster (offset %" PRIu64 ", %u bytes)",
                        h.backing_file_offset, h.backing_file_size);
            goto fail;
        }
        memcpy(bs->backing_file, hbuf + h.backing_file_offset,
               h.backing_file_size);
        bs->backing_file[h.backing_file_size] = 0;
    }

    s->corrupt = s->incompatible_features & QCOW2_INCOMPAT_CORRUPT;
    if (s->corrupt && writable && !(flags & BDRV_O_CHECK)) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "qcow2: Image is corrupt; cannot be opened read/write");
        goto fail;
    }

    /* L1 table. */
    {
        uint64_t per_l1 = (uint64_t)s->cluster_size * s->l2_size;
        uint64_t need = s->size / per_l1 + (s->size % per_l1 != 0);
        if ((uint64_t)h.l1_size * 8 > QCOW2_MAX_L1_BYTES) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "Active L1 table too large (%u entries, at most %d)",
                        h.l1_size, QCOW2_MAX_L1_BYTES / 8);
            goto fail;
        }
        if (need > h.l1_size) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "L1 table is too small (%u entries for a disk of %"
                        PRIu64 " bytes, which needs %" PRIu64 ")",
                        h.l1_size, s->size, need);
            goto fail;
        }
        s->l1_vm_state_index = need;
    }
    if (h.l1_size) {
        if (h.l1_table_offset & (s->cluster_size - 1) ||
            h.l1_table_offset == 0) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "Invalid L1 table offset 0x%" PRIx64 " (expected a "
                        "cluster-aligned offset)", h.l1_table_offset);
            goto fail;
        }
        if (h.l1_table_offset > (uint64_t)file_len ||
            (uint64_t)h.l1_size * 8 > (uint64_t)file_len - h.l1_table_offset) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "L1 table at 0x%" PRIx64 " (%u entries) extends past "
                        "the end of the image", h.l1_table_offset,
                        h.l1_size);
            goto fail;
        }
    }
    s->l1_size = h.l1_size;
    s->l1_table_offset = h.l1_table_offset;
    s->l1_table = g_new0(uint64_t, MAX(s->l1_size, 1));
    if (s->l1_size) {
        ret = bdrv_pread(bs->file, s->l1_table_offset, s->l1_table,
                         (uint64_t)s->l1_size * 8);
        if (ret < 0) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                        "qcow2: cannot read the L1 table: %s",
                        g_strerror(-ret));
            goto fail;
        }
        for (uint32_t i = 0; i < s->l1_size; i++) {
            s->l1_table[i] = GUINT64_FROM_BE(s->l1_table[i]);
        }
    }
    s->image_end = file_len;

    /* Caches: by default enough L2 tables to map the whole disk, up to
     * 32 MiB, as QEMU on Linux. */
    if (!l2_cache_bytes) {
        uint64_t tables = (s->size + ((uint64_t)s->cluster_size << s->l2_bits)
                           - 1) / ((uint64_t)s->cluster_size << s->l2_bits);
        l2_cache_bytes = MIN(tables * s->cluster_size,
                             (uint64_t)DEFAULT_L2_CACHE_MAX_BYTES);
    }
    s->l2_cache_bytes = l2_cache_bytes;
    {
        uint64_t n2 = MAX(l2_cache_bytes / s->cluster_size, 2);
        /* Small clusters make small refcount blocks: keep at least
         * 256 KiB of them, or every eviction of a dirty one costs a
         * flush (it waits for the L2 tables it depends on). */
        uint64_t nr = MAX(rc_cache_bytes / s->cluster_size,
                          MIN_REFCOUNT_CACHE_TABLES);
        if (!rc_cache_bytes) {
            nr = MAX(nr, MIN_REFCOUNT_CACHE_BYTES / s->cluster_size);
        }
        n2 = MIN(n2, 65536);
        nr = MIN(nr, 65536);
        s->l2_table_cache = qcow2_cache_create(bs, n2, s->cluster_size);
        s->refcount_block_cache = qcow2_cache_create(bs, nr,
                                                     s->cluster_size);
        if (!s->l2_table_cache || !s->refcount_block_cache) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                        "qcow2: cannot allocate the metadata caches");
            goto fail;
        }
    }

    s->refcount_table_offset = h.refcount_table_offset;
    s->refcount_table_size = (uint64_t)h.refcount_table_clusters *
                             s->cluster_size / 8;
    if ((uint64_t)h.refcount_table_clusters * s->cluster_size >
        QCOW2_MAX_REFTABLE_BYTES) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "Reference count table too large (%u clusters)",
                    h.refcount_table_clusters);
        goto fail;
    }
    ret = qcow2_refcount_init_errp(bs, errp);
    if (ret < 0) {
        goto fail;
    }
    refcount_ready = true;

    s->nb_snapshots = h.nb_snapshots;
    s->snapshots_offset = h.snapshots_offset;
    if (qcow2_read_snapshots(bs, errp) < 0) {
        goto fail;
    }

    if (lazy_opt == 1 && s->qcow_version < 3) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "Lazy refcounts require a qcow2 image with at least "
                    "qemu 1.1 compatibility level");
        goto fail;
    }
    s->use_lazy_refcounts = lazy_opt >= 0 ? lazy_opt :
        !!(s->compatible_features & QCOW2_COMPAT_LAZY_REFCOUNTS);
    s->no_flush = flags & BDRV_O_NO_FLUSH;

    if ((s->incompatible_features & QCOW2_INCOMPAT_DIRTY) && writable &&
        !(flags & BDRV_O_CHECK)) {
        BdrvCheckResult res = { 0 };
        s->dirty_on_open = true;
        ret = qcow2_check(bs, &res, BDRV_FIX_ERRORS | BDRV_FIX_LEAKS);
        if (ret < 0) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                        "qcow2: could not repair dirty image: %s",
                        g_strerror(-ret));
            goto fail;
        }
        ret = qcow2_set_incompat_bit(bs, QCOW2_INCOMPAT_DIRTY, false);
        if (ret < 0) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                        "qcow2: could not clear the dirty bit: %s",
                        g_strerror(-ret));
            goto fail;
        }
    }
    /* Autoclear features lemu does not maintain (bitmaps) are cleared
     * when it may change the image, so that no one trusts them later. */
    if (writable && !(flags & BDRV_O_CHECK) && s->autoclear_features) {
        s->autoclear_features = 0;
        ret = qcow2_update_header(bs);
        if (ret < 0) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                        "qcow2: could not update the header: %s",
                        g_strerror(-ret));
            goto fail;
        }
    }
    g_free(hbuf);
    return true;

fail:
    g_free(hbuf);
    qcow2_state_free(bs, refcount_ready);
    return false;
}

/* Writes the caches (L2 tables first; dependencies order the rest). */
int qcow2_write_caches(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    int ret = qcow2_cache_write(bs, s->l2_table_cache);

    if (ret == 0) {
        ret = qcow2_cache_write(bs, s->refcount_block_cache);
    }
    return ret;
}

static int qcow2_flush(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    if (bs->read_only) {
        return 0;
    }
    g_mutex_lock(&s->lock);
    ret = qcow2_write_caches(bs);
    if (ret == 0 && qcow2_have_freed_clusters(s)) {
        /* Flush here, under the lock, so that the clusters freed before
         * this point can be reused (the caller's flush of the file comes
         * too late to tell). */
        ret = qcow2_cache_flush(bs, s->l2_table_cache);
    }
    g_mutex_unlock(&s->lock);
    return ret;
}

static void qcow2_close(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;

    if (!s) {
        return;
    }
    if (!bs->read_only) {
        int ret = qcow2_write_caches(bs);
        if (ret == 0) {
            ret = bdrv_flush(bs->file);
        }
        /* A clean close leaves nothing for the dirty bit to cover. */
        if (ret == 0 && s->use_lazy_refcounts && !s->corrupt &&
            (s->incompatible_features & QCOW2_INCOMPAT_DIRTY)) {
            qcow2_set_incompat_bit(bs, QCOW2_INCOMPAT_DIRTY, false);
        }
    }
    qcow2_state_free(bs, true);
}

static int qcow2_probe(const uint8_t *buf, size_t len, const char *filename)
{
    (void)filename;
    /* Later versions are ours too: open then names the version. */
    if (len >= 8 && get_be32(buf) == QCOW_MAGIC && get_be32(buf + 4) >= 2) {
        return 100;
    }
    return 0;
}

static int64_t qcow2_getlength(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    return s->size;
}

static int64_t qcow2_get_allocated_file_size(BlockDriverState *bs)
{
    if (bs->file->drv->get_allocated_file_size) {
        return bs->file->drv->get_allocated_file_size(bs->file);
    }
    return -ENOTSUP;
}

static bool qcow2_get_info(BlockDriverState *bs, BlockDriverInfo *bdi)
{
    BDRVQcow2State *s = bs->opaque;

    bdi->cluster_size = s->cluster_size;
    bdi->is_dirty = s->incompatible_features & QCOW2_INCOMPAT_DIRTY;
    bdi->unallocated_blocks_are_zero = !bs->backing;
    return true;
}

static JsonValue *qcow2_get_specific_info(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    JsonValue *info = json_object();
    JsonValue *data = json_object();

    json_object_set_str(data, "compat", s->qcow_version >= 3 ? "1.1"
                                                             : "0.10");
    json_object_set_str(data, "compression-type",
                        s->compression_type == QCOW2_COMPRESSION_ZSTD ?
                        "zstd" : "zlib");
    if (s->qcow_version >= 3) {
        json_object_set_bool(data, "lazy-refcounts",
                             s->compatible_features &
                             QCOW2_COMPAT_LAZY_REFCOUNTS);
    }
    json_object_set_int(data, "refcount-bits", s->refcount_bits);
    if (s->qcow_version >= 3) {
        json_object_set_bool(data, "corrupt", s->corrupt);
        json_object_set_bool(data, "extended-l2", s->extended_l2);
    }
    json_object_set_str(info, "type", "qcow2");
    json_object_set(info, "data", data);
    return info;
}

static int qcow2_check_hook(BlockDriverState *bs, BdrvCheckResult *res,
                            BdrvCheckMode fix)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    g_mutex_lock(&s->lock);
    ret = qcow2_check(bs, res, fix);
    g_mutex_unlock(&s->lock);
    return ret;
}

static int qcow2_change_backing_file(BlockDriverState *bs, const char *file,
                                     const char *fmt)
{
    BDRVQcow2State *s = bs->opaque;
    char old_file[sizeof(bs->backing_file)];
    char old_fmt[sizeof(bs->backing_format)];
    int ret;

    if (file && strlen(file) > QCOW2_MAX_BACKING_NAME) {
        return -EINVAL;
    }
    if (fmt && strlen(fmt) >= sizeof(bs->backing_format)) {
        return -EINVAL;
    }
    g_mutex_lock(&s->lock);
    memcpy(old_file, bs->backing_file, sizeof(old_file));
    memcpy(old_fmt, bs->backing_format, sizeof(old_fmt));
    g_strlcpy(bs->backing_file, file ? file : "", sizeof(bs->backing_file));
    g_strlcpy(bs->backing_format, (file && fmt) ? fmt : "",
              sizeof(bs->backing_format));
    s->have_backing_format_ext = bs->backing_format[0] != 0;
    ret = qcow2_update_header(bs);
    if (ret < 0) {
        memcpy(bs->backing_file, old_file, sizeof(old_file));
        memcpy(bs->backing_format, old_fmt, sizeof(old_fmt));
    }
    g_mutex_unlock(&s->lock);
    return ret;
}

static int qcow2_make_empty(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    g_mutex_lock(&s->lock);
    ret = qcow2_mark_dirty(bs);
    if (ret == 0) {
        ret = qcow2_discard_all(bs);
    }
    if (ret == 0) {
        ret = qcow2_write_caches(bs);
    }
    g_mutex_unlock(&s->lock);
    return ret;
}

/* ---- snapshots: B3's code under the lock ---- */

static int qcow2_snapshot_create_hook(BlockDriverState *bs,
                                      BdrvSnapshotInfo *sn)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    g_mutex_lock(&s->lock);
    qcow2_drain_data_io(s);
    ret = qcow2_snapshot_create(bs, sn);
    g_mutex_unlock(&s->lock);
    return ret;
}

static int qcow2_snapshot_goto_hook(BlockDriverState *bs,
                                    const char *id_or_name)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    g_mutex_lock(&s->lock);
    qcow2_drain_data_io(s);
    ret = qcow2_snapshot_goto(bs, id_or_name);
    g_mutex_unlock(&s->lock);
    return ret;
}

static int qcow2_snapshot_delete_hook(BlockDriverState *bs, const char *id,
                                      const char *name, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    g_mutex_lock(&s->lock);
    qcow2_drain_data_io(s);
    ret = qcow2_snapshot_delete(bs, id, name, errp);
    g_mutex_unlock(&s->lock);
    return ret;
}

static int qcow2_snapshot_list_hook(BlockDriverState *bs,
                                    BdrvSnapshotInfo **list)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    g_mutex_lock(&s->lock);
    ret = qcow2_snapshot_list(bs, list);
    g_mutex_unlock(&s->lock);
    return ret;
}

static const char *const qcow2_create_opts[] = {
    "size", "compat", "backing_file", "backing_fmt", "encryption",
    "cluster_size", "preallocation", "lazy_refcounts", "refcount_bits",
    "compression_type", "extended_l2", "nocow", NULL
};

const BlockDriver bdrv_qcow2 = {
    .format_name = "qcow2",
    .probe = qcow2_probe,
    .open = qcow2_open,
    .close = qcow2_close,
    .preadv = qcow2_preadv,
    .pwritev = qcow2_pwritev,
    .pwrite_zeroes = qcow2_pwrite_zeroes,
    .pdiscard = qcow2_pdiscard,
    .pwrite_compressed = qcow2_pwrite_compressed,
    .flush = qcow2_flush,
    .map_direct = qcow2_map_direct,
    .map_direct_release = qcow2_map_direct_release,
    .getlength = qcow2_getlength,
    .get_allocated_file_size = qcow2_get_allocated_file_size,
    .truncate = qcow2_truncate,
    .block_status = qcow2_block_status,
    .get_info = qcow2_get_info,
    .get_specific_info = qcow2_get_specific_info,
    .check = qcow2_check_hook,
    .create = qcow2_create,
    .amend = qcow2_amend,
    .measure = qcow2_measure,
    .change_backing_file = qcow2_change_backing_file,
    .make_empty = qcow2_make_empty,
    .snapshot_create = qcow2_snapshot_create_hook,
    .snapshot_goto = qcow2_snapshot_goto_hook,
    .snapshot_delete = qcow2_snapshot_delete_hook,
    .snapshot_list = qcow2_snapshot_list_hook,
    .create_opts = qcow2_create_opts,
};
