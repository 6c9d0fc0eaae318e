/*
 * qcow2 internal snapshots: the snapshot table (read at open, rewritten
 * to a new place on every change), create, goto (apply), delete, list.
 *
 * A snapshot is a copy of the active L1 table plus one more reference on
 * every L2 table and data cluster below it; writes to shared clusters
 * then copy on write (their COPIED flag is clear).
 *
 * Table entry (8-byte aligned, big endian): L1 offset (8), L1 size (4),
 * id length (2), name length (2), date sec (4), date nsec (4), VM clock
 * nsec (8), VM state size (4), extra data size (4); then the extra data
 * (VM state size 64-bit, virtual disk size, icount, ...), the id and the
 * name, neither NUL terminated.
 *
 * Switching tables is one 12-byte header write of nb_snapshots (60) and
 * snapshots_offset (64), after the new table is on disk.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include "lemu/util/log.h"
#include "qcow2.h"

#define SN_HEADER_SIZE          40
#define SN_EXTRA_KNOWN          16      /* vm_state_size_large, disk_size */
#define SN_EXTRA_WITH_ICOUNT    24
#define SN_MAX_EXTRA_DATA       1024
#define SN_MAX_TABLE_BYTES      (1024ULL * QCOW2_MAX_SNAPSHOTS)

static void snapshot_clear(Qcow2Snapshot *sn)
{
    g_free(sn->id_str);
    g_free(sn->name);
    g_free(sn->unknown_extra_data);
    memset(sn, 0, sizeof(*sn));
}

void qcow2_free_snapshots(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;

    for (uint32_t i = 0; s->snapshots && i < s->nb_snapshots; i++) {
        snapshot_clear(&s->snapshots[i]);
    }
    g_free(s->snapshots);
    s->snapshots = NULL;
}

int qcow2_read_snapshots(BlockDriverState *bs, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t offset = s->snapshots_offset, file_len;
    uint32_t nb = s->nb_snapshots, i;
    Qcow2Snapshot *list;
    int64_t len;
    int ret;

    s->snapshots = NULL;
    s->snapshots_size = 0;
    if (nb == 0) {
        return 0;
    }
    if (nb > QCOW2_MAX_SNAPSHOTS) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "qcow2: snapshot table of %u entries is too large "
                    "(at most %u)", nb, QCOW2_MAX_SNAPSHOTS);
        return -EFBIG;
    }
    if (offset == 0 || qcow2_offset_into_cluster(s, offset)) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "qcow2: snapshot table offset 0x%" PRIx64 " is invalid "
                    "(expected a non-zero multiple of the cluster size)",
                    offset);
        return -EINVAL;
    }
    len = bdrv_getlength(bs->file);
    if (len < 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                    "qcow2: cannot get the image file length: %s",
                    g_strerror((int)-len));
        return (int)len;
    }
    file_len = len;

    list = g_new0(Qcow2Snapshot, nb);
    for (i = 0; i < nb; i++) {
        Qcow2Snapshot *sn = &list[i];
        uint8_t h[SN_HEADER_SIZE];
        uint8_t *extra = NULL;
        uint32_t id_len, name_len, extra_len;
        uint64_t need;

        offset = (offset + 7) & ~7ULL;
        need = SN_HEADER_SIZE;
        if (offset - s->snapshots_offset + need > SN_MAX_TABLE_BYTES ||
            offset + need > file_len) {
            goto too_large;
        }
        ret = bdrv_pread(bs->file, offset, h, sizeof(h));
        if (ret < 0) {
            goto io_error;
        }
        offset += SN_HEADER_SIZE;
        sn->l1_table_offset = get_be64(h);
        sn->l1_size = get_be32(h + 8);
        id_len = (h[12] << 8) | h[13];
        name_len = (h[14] << 8) | h[15];
        sn->date_sec = get_be32(h + 16);
        sn->date_nsec = get_be32(h + 20);
        sn->vm_clock_nsec = get_be64(h + 24);
        sn->vm_state_size = get_be32(h + 32);
        extra_len = get_be32(h + 36);
        sn->disk_size = s->size;
        sn->icount = UINT32_MAX;

        if (extra_len > SN_MAX_EXTRA_DATA) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "qcow2: snapshot %u has %u bytes of extra data "
                        "(at most %u)", i, extra_len, SN_MAX_EXTRA_DATA);
            ret = -EFBIG;
            goto fail;
        }
        need = (uint64_t)extra_len + id_len + name_len;
        if (offset - s->snapshots_offset + need > SN_MAX_TABLE_BYTES ||
            offset + need > file_len) {
            goto too_large;
        }
        sn->extra_data_size = extra_len;
        if (extra_len) {
            extra = g_malloc(extra_len);
            ret = bdrv_pread(bs->file, offset, extra, extra_len);
            if (ret < 0) {
                g_free(extra);
                goto io_error;
            }
            offset += extra_len;
            if (extra_len >= 8) {
                sn->vm_state_size = get_be64(extra);
            }
            if (extra_len >= SN_EXTRA_KNOWN) {
                sn->disk_size = get_be64(extra + 8);
            }
            if (extra_len >= SN_EXTRA_WITH_ICOUNT) {
                uint64_t ic = get_be64(extra + 16);
                sn->icount = ic >= UINT32_MAX ? UINT32_MAX : (uint32_t)ic;
            }
            /* icount and anything newer are kept as they are. */
            if (extra_len > SN_EXTRA_KNOWN) {
                sn->unknown_extra_data = g_memdup2(extra + SN_EXTRA_KNOWN,
                                                   extra_len - SN_EXTRA_KNOWN);
            }
            g_free(extra);
        }
        sn->id_str = g_malloc0(id_len + 1);
        sn->name = g_malloc0(name_len + 1);
        ret = bdrv_pread(bs->file, offset, sn->id_str, id_len);
        if (ret == 0) {
            ret = bdrv_pread(bs->file, offset + id_len, sn->name, name_len);
        }
        if (ret < 0) {
            goto io_error;
        }
        offset += id_len + name_len;
    }
    s->snapshots = list;
    s->snapshots_size = offset - s->snapshots_offset;
    return 0;

too_large:
    g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                "qcow2: snapshot table at 0x%" PRIx64 " with %u entries "
                "lies past the end of the file or is larger than %llu bytes",
                s->snapshots_offset, nb, SN_MAX_TABLE_BYTES);
    ret = -EFBIG;
    goto fail;
io_error:
    g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                "qcow2: cannot read the snapshot table: %s", g_strerror(-ret));
fail:
    for (uint32_t j = 0; j < nb; j++) {
        snapshot_clear(&list[j]);
    }
    g_free(list);
    return ret;
}

/* The table as it goes on disk; NULL when an id or name is too long. */
static uint8_t *serialize_table(const Qcow2Snapshot *list, uint32_t nb,
                                uint64_t *size)
{
    GByteArray *buf = g_byte_array_new();

    for (uint32_t i = 0; i < nb; i++) {
        const Qcow2Snapshot *sn = &list[i];
        size_t id_len = strlen(sn->id_str), name_len = strlen(sn->name);
        uint32_t unknown = sn->extra_data_size > SN_EXTRA_KNOWN ?
                           sn->extra_data_size - SN_EXTRA_KNOWN : 0;
        uint32_t extra_len = SN_EXTRA_KNOWN + unknown;
        uint8_t h[SN_HEADER_SIZE + SN_EXTRA_KNOWN];
        static const uint8_t pad[8];

        if (id_len > UINT16_MAX || name_len > UINT16_MAX) {
            g_byte_array_free(buf, true);
            return NULL;
        }
        g_byte_array_append(buf, pad, (8 - (buf->len & 7)) & 7);
        put_be64(h, sn->l1_table_offset);
        put_be32(h + 8, sn->l1_size);
        put_be16(h + 12, id_len);
        put_be16(h + 14, name_len);
        put_be32(h + 16, sn->date_sec);
        put_be32(h + 20, sn->date_nsec);
        put_be64(h + 24, sn->vm_clock_nsec);
        /* Too large for 32 bits: older readers see no VM state. */
        put_be32(h + 32, sn->vm_state_size <= UINT32_MAX ?
                         (uint32_t)sn->vm_state_size : 0);
        put_be32(h + 36, extra_len);
        put_be64(h + 40, sn->vm_state_size);
        put_be64(h + 48, sn->disk_size);
        g_byte_array_append(buf, h, sizeof(h));
        if (unknown) {
            g_byte_array_append(buf, sn->unknown_extra_data, unknown);
        }
        g_byte_array_append(buf, (const uint8_t *)sn->id_str, id_len);
        g_byte_array_append(buf, (const uint8_t *)sn->name, name_len);
    }
    *size = buf->len;
    return g_byte_array_free(buf, false);
}

/*
 * Writes @list as the new snapshot table in newly allocated clusters,
 * switches the header to it, then frees the old table. On success @list
 * becomes s->snapshots (the caller frees entries it dropped).
 */
static int write_snapshot_table(BlockDriverState *bs, Qcow2Snapshot *list,
                                uint32_t nb)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t size = 0, old_offset = s->snapshots_offset;
    uint64_t old_size = s->snapshots_size;
    uint32_t old_nb = s->nb_snapshots;
    int64_t offset = 0;
    uint8_t *buf = NULL;
    uint8_t hdr[12];
    int ret;

    if (nb) {
        buf = serialize_table(list, nb, &size);
        if (!buf) {
            return -EINVAL;
        }
        if (size > SN_MAX_TABLE_BYTES) {
            g_free(buf);
            return -EFBIG;
        }
        offset = qcow2_alloc_clusters(bs, size);
        if (offset < 0) {
            g_free(buf);
            return (int)offset;
        }
        /* The refcount of the new clusters first, then the table. */
        ret = qcow2_cache_flush(bs, s->refcount_block_cache);
        if (ret == 0) {
            ret = bdrv_pwrite(bs->file, offset, buf, size, 0);
        }
        if (ret == 0) {
            ret = bdrv_flush(bs->file);
        }
        g_free(buf);
        if (ret < 0) {
            qcow2_free_clusters(bs, offset, size);
            return ret;
        }
    }

    put_be32(hdr, nb);
    put_be64(hdr + 4, offset);
    ret = bdrv_pwrite(bs->file, 60, hdr, sizeof(hdr), 0);
    if (ret == 0) {
        ret = bdrv_flush(bs->file);
    }
    if (ret < 0) {
        if (nb) {
            qcow2_free_clusters(bs, offset, size);
        }
        return ret;
    }
    s->nb_snapshots = nb;
    s->snapshots_offset = offset;
    s->snapshots_size = size;
    if (s->snapshots != list) {
        g_free(s->snapshots);
    }
    s->snapshots = nb ? list : NULL;
    if (!nb) {
        g_free(list);
    }
    if (old_nb && old_size) {
        qcow2_free_clusters(bs, old_offset, old_size);
    }
    return 0;
}

/* ---- refcounts of a whole L1 table ---- */

static int read_l1_table(BlockDriverState *bs, uint64_t offset,
                         uint32_t size, uint64_t **l1)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t bytes = (uint64_t)size * 8;
    uint32_t i;
    int ret;

    *l1 = NULL;
    if (bytes > QCOW2_MAX_L1_BYTES || qcow2_offset_into_cluster(s, offset) ||
        (size && offset == 0)) {
        return -EINVAL;
    }
    *l1 = g_malloc0(MAX(bytes, 8));
    if (size == 0) {
        return 0;
    }
    ret = bdrv_pread(bs->file, offset, *l1, bytes);
    if (ret < 0) {
        g_free(*l1);
        *l1 = NULL;
        return ret;
    }
    for (i = 0; i < size; i++) {
        (*l1)[i] = GUINT64_FROM_BE((*l1)[i]);
    }
    return 0;
}

static int write_l1_table(BlockDriverState *bs, uint64_t offset,
                          const uint64_t *l1, uint32_t size)
{
    uint64_t *buf;
    uint32_t i;
    int ret;

    if (size == 0) {
        return 0;
    }
    buf = g_new(uint64_t, size);
    for (i = 0; i < size; i++) {
        buf[i] = GUINT64_TO_BE(l1[i]);
    }
    ret = bdrv_pwrite(bs->file, offset, buf, (uint64_t)size * 8, 0);
    g_free(buf);
    return ret;
}

/* Where a walk over an L1 table stops: L1 entries before @i entirely,
 * then the first @j L2 entries of entry @i (not its L2 table itself). */
typedef struct WalkPos {
    uint32_t i;
    uint32_t j;
} WalkPos;

/* Adds @addend to the clusters below one L2 entry; sets *copied to what
 * its COPIED flag must be. */
static int walk_l2_entry(BlockDriverState *bs, uint64_t l2_offset,
                         uint32_t j, uint64_t entry, int addend,
                         bool *copied)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t off, rc;
    int ret = 0;

    *copied = false;
    switch (qcow2_get_cluster_type(bs, entry)) {
    case QCOW2_CLUSTER_COMPRESSED: {
        uint64_t coffset;
        int csize;

        /* Compressed clusters are never written in place. */
        qcow2_parse_compressed_l2_entry(bs, entry, &coffset, &csize);
        if (addend && csize > 0) {
            ret = qcow2_update_cluster_refcount_range(bs, coffset, csize,
                                                      addend);
        }
        return ret;
    }
    case QCOW2_CLUSTER_NORMAL:
    case QCOW2_CLUSTER_ZERO_ALLOC:
        off = entry & L2E_OFFSET_MASK;
        if (qcow2_offset_into_cluster(s, off)) {
            return qcow2_signal_corruption(bs, "Cluster allocation offset %#"
                                           PRIx64 " unaligned (L2 offset: %#"
                                           PRIx64 ", L2 index: %#" PRIx32
                                           ")", off, l2_offset, j);
        }
        if (addend) {
            ret = qcow2_update_cluster_refcount_range(bs, off,
                                                      s->cluster_size,
                                                      addend);
            if (ret < 0) {
                return ret;
            }
        }
        ret = qcow2_get_refcount(bs, off >> s->cluster_bits, &rc);
        *copied = rc == 1;
        return ret;
    default:
        return 0;
    }
}

/*
 * Adds @addend to every cluster @l1 references up to @stop (everything
 * with stop->i == l1_size), rewriting COPIED flags if @fix_flags. On
 * failure *failed says how far it got, for an undo.
 */
static int walk_l1(BlockDriverState *bs, uint64_t *l1, uint32_t l1_size,
                   int addend, bool fix_flags, WalkPos stop,
                   WalkPos *failed, bool *l1_modified)
{
    BDRVQcow2State *s = bs->opaque;
    uint32_t i, j;
    int ret = 0;

    for (i = 0; i < l1_size && i <= stop.i; i++) {
        uint64_t l2_offset = l1[i] & L1E_OFFSET_MASK;
        uint32_t nj = i < stop.i ? s->l2_size : stop.j;
        uint64_t *l2 = NULL;
        uint64_t rc, new_l1e;

        if (!l2_offset || (i == stop.i && nj == 0)) {
            continue;
        }
        if (qcow2_offset_into_cluster(s, l2_offset)) {
            failed->i = i;
            failed->j = 0;
            return qcow2_signal_corruption(bs, "L2 table offset %#" PRIx64
                                           " unaligned (L1 index: %#"
                                           PRIx32 ")", l2_offset, i);
        }
        ret = qcow2_cache_get(bs, s->l2_table_cache, l2_offset,
                              (void **)&l2);
        if (ret < 0) {
            failed->i = i;
            failed->j = 0;
            return ret;
        }
        for (j = 0; j < nj; j++) {
            uint64_t entry = qcow2_get_l2_entry(s, l2, j);
            uint64_t new_entry;
            bool copied;

            ret = walk_l2_entry(bs, l2_offset, j, entry, addend, &copied);
            if (ret < 0) {
                qcow2_cache_put(s->l2_table_cache, (void **)&l2);
                failed->i = i;
                failed->j = j;
                return ret;
            }
            new_entry = copied ? entry | QCOW_OFLAG_COPIED
                               : entry & ~QCOW_OFLAG_COPIED;
            if (fix_flags && new_entry != entry) {
                qcow2_set_l2_entry(s, l2, j, new_entry);
                qcow2_cache_entry_mark_dirty(s->l2_table_cache, l2);
            }
        }
        qcow2_cache_put(s->l2_table_cache, (void **)&l2);
        if (i == stop.i) {
            break;
        }

        if (addend) {
            ret = qcow2_update_cluster_refcount_range(bs, l2_offset,
                                                      s->cluster_size,
                                                      addend);
            if (ret < 0) {
                failed->i = i;
                failed->j = s->l2_size;
                return ret;
            }
        }
        ret = qcow2_get_refcount(bs, l2_offset >> s->cluster_bits, &rc);
        if (ret < 0) {
            /* Counted already: an undo must include this table. */
            failed->i = i + 1;
            failed->j = 0;
            return ret;
        }
        new_l1e = rc == 1 ? l1[i] | QCOW_OFLAG_COPIED
                          : l1[i] & ~QCOW_OFLAG_COPIED;
        if (fix_flags && new_l1e != l1[i]) {
            l1[i] = new_l1e;
            *l1_modified = true;
        }
    }
    return 0;
}

int qcow2_update_snapshot_refcount(BlockDriverState *bs,
                                   uint64_t l1_table_offset, int l1_size,
                                   int addend)
{
    BDRVQcow2State *s = bs->opaque;
    bool active = l1_table_offset == s->l1_table_offset &&
                  (uint32_t)l1_size == s->l1_size;
    /* Flags are only rewritten in tables that stay in use. */
    bool fix_flags = addend >= 0;
    bool l1_modified = false;
    WalkPos all = { .i = (uint32_t)l1_size, .j = 0 }, failed = { 0, 0 };
    uint64_t *l1 = NULL;
    int ret;

    if (l1_size < 0 || addend < -1 || addend > 1) {
        return -EINVAL;
    }
    if (active) {
        l1 = s->l1_table;
    } else {
        ret = read_l1_table(bs, l1_table_offset, l1_size, &l1);
        if (ret < 0) {
            return ret;
        }
    }

    ret = walk_l1(bs, l1, l1_size, addend, fix_flags, all, &failed,
                  &l1_modified);
    if (ret < 0 && addend) {
        /* Take back what was added (an overflow half way through):
         * nothing changed but some COPIED flags, which the caller's next
         * pass with addend 0 sets right. */
        WalkPos ignored;
        bool unused = false;

        walk_l1(bs, l1, l1_size, -addend, false, failed, &ignored, &unused);
    }

    if (l1_modified) {
        int ret2;

        /* The L1 flags follow refcounts and L2 changes onto the disk. */
        ret2 = qcow2_cache_flush(bs, s->refcount_block_cache);
        if (ret2 == 0) {
            ret2 = qcow2_cache_flush(bs, s->l2_table_cache);
        }
        if (ret2 == 0) {
            ret2 = write_l1_table(bs, l1_table_offset, l1, l1_size);
        }
        if (ret == 0 && ret2 < 0) {
            ret = ret2;
        }
    }
    if (!active) {
        g_free(l1);
    }
    return ret;
}

static int find_by_id(BDRVQcow2State *s, const char *id)
{
    for (uint32_t i = 0; i < s->nb_snapshots; i++) {
        if (!strcmp(s->snapshots[i].id_str, id)) {
            return i;
        }
    }
    return -1;
}

static int find_by_name(BDRVQcow2State *s, const char *name)
{
    for (uint32_t i = 0; i < s->nb_snapshots; i++) {
        if (!strcmp(s->snapshots[i].name, name)) {
            return i;
        }
    }
    return -1;
}

/* Snapshot L1 tables come from the file: check before use. */
static bool snapshot_l1_valid(BDRVQcow2State *s, const Qcow2Snapshot *sn)
{
    return (uint64_t)sn->l1_size * 8 <= QCOW2_MAX_L1_BYTES &&
           !qcow2_offset_into_cluster(s, sn->l1_table_offset) &&
           (sn->l1_size == 0 || sn->l1_table_offset != 0);
}

static bool l1_in_file(BlockDriverState *bs, uint64_t offset, uint32_t size)
{
    int64_t len = bdrv_getlength(bs->file);

    return len >= 0 && offset <= (uint64_t)len &&
           (uint64_t)size * 8 <= (uint64_t)len - offset;
}

static int flush_caches(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    int ret = qcow2_cache_flush(bs, s->refcount_block_cache);

    return ret < 0 ? ret : qcow2_cache_flush(bs, s->l2_table_cache);
}

int qcow2_snapshot_create(BlockDriverState *bs, BdrvSnapshotInfo *info)
{
    BDRVQcow2State *s = bs->opaque;
    Qcow2Snapshot *list, *sn;
    uint64_t l1_bytes = (uint64_t)s->l1_size * 8;
    uint64_t *l1 = NULL;
    int64_t l1_offset = 0;
    uint64_t max_id = 0;
    uint32_t i;
    int ret;

    if (s->nb_snapshots >= QCOW2_MAX_SNAPSHOTS) {
        return -EFBIG;
    }
    if (info->id_str[0] && find_by_id(s, info->id_str) >= 0) {
        return -EEXIST;
    }
    if (strlen(info->name) > UINT16_MAX) {
        return -EINVAL;
    }

    /* Everything cached reaches the file before the walk below. */
    ret = flush_caches(bs);
    if (ret < 0) {
        return ret;
    }
    if (l1_bytes) {
        l1_offset = qcow2_alloc_clusters(bs, l1_bytes);
        if (l1_offset < 0) {
            return (int)l1_offset;
        }
    }
    /* One more reference on everything; clears the COPIED flags. */
    ret = qcow2_update_snapshot_refcount(bs, s->l1_table_offset, s->l1_size,
                                         1);
    if (ret < 0) {
        /* Taken back already; the flags follow the refcounts again. */
        qcow2_update_snapshot_refcount(bs, s->l1_table_offset, s->l1_size, 0);
        goto fail_l1;
    }
    ret = flush_caches(bs);
    if (ret < 0) {
        goto fail_refs;
    }
    if (l1_bytes) {
        l1 = g_new(uint64_t, s->l1_size);
        for (i = 0; i < s->l1_size; i++) {
            l1[i] = GUINT64_TO_BE(s->l1_table[i]);
        }
        ret = bdrv_pwrite(bs->file, l1_offset, l1, l1_bytes, 0);
        g_free(l1);
        if (ret < 0) {
            goto fail_refs;
        }
    }

    list = g_new0(Qcow2Snapshot, s->nb_snapshots + 1);
    if (s->nb_snapshots) {
        memcpy(list, s->snapshots, s->nb_snapshots * sizeof(*list));
    }
    for (i = 0; i < s->nb_snapshots; i++) {
        max_id = MAX(max_id, g_ascii_strtoull(s->snapshots[i].id_str,
                                              NULL, 10));
    }
    sn = &list[s->nb_snapshots];
    sn->id_str = info->id_str[0] ? g_strdup(info->id_str)
                                 : g_strdup_printf("%" PRIu64, max_id + 1);
    sn->name = g_strdup(info->name);
    sn->l1_table_offset = l1_offset;
    sn->l1_size = s->l1_size;
    sn->disk_size = s->size;
    sn->vm_state_size = info->vm_state_size;
    sn->date_sec = info->date_sec;
    sn->date_nsec = info->date_nsec;
    sn->vm_clock_nsec = info->vm_clock_nsec;
    sn->icount = info->icount;
    sn->extra_data_size = SN_EXTRA_WITH_ICOUNT;
    sn->unknown_extra_data = g_malloc(8);
    put_be64(sn->unknown_extra_data,
             info->icount == UINT32_MAX ? UINT64_MAX : info->icount);

    ret = write_snapshot_table(bs, list, s->nb_snapshots + 1);
    if (ret < 0) {
        snapshot_clear(sn);
        g_free(list);
        goto fail_refs;
    }
    g_strlcpy(info->id_str, sn->id_str, sizeof(info->id_str));
    return 0;

fail_refs:
    /* Undo the references; the COPIED flags follow the refcounts. */
    if (qcow2_update_snapshot_refcount(bs, s->l1_table_offset, s->l1_size,
                                       -1) == 0) {
        qcow2_update_snapshot_refcount(bs, s->l1_table_offset, s->l1_size, 0);
    }
fail_l1:
    if (l1_bytes) {
        qcow2_free_clusters(bs, l1_offset, l1_bytes);
    }
    return ret;
}

int qcow2_snapshot_goto(BlockDriverState *bs, const char *id_or_name)
{
    BDRVQcow2State *s = bs->opaque;
    Qcow2Snapshot *sn;
    uint64_t *sn_l1 = NULL;
    uint32_t cur_size, i;
    int idx, ret;

    idx = find_by_id(s, id_or_name);
    if (idx < 0) {
        idx = find_by_name(s, id_or_name);
    }
    if (idx < 0) {
        return -ENOENT;
    }
    sn = &s->snapshots[idx];
    /* A bad entry fails the request; the active image is fine. */
    if (!snapshot_l1_valid(s, sn) ||
        !l1_in_file(bs, sn->l1_table_offset, sn->l1_size)) {
        error_report("qcow2: snapshot '%s' has an invalid L1 table (offset "
                     "0x%" PRIx64 ", %" PRIu32 " entries)", sn->name,
                     sn->l1_table_offset, sn->l1_size);
        return -EINVAL;
    }
    if (sn->disk_size == 0 || sn->disk_size > (1ULL << 62)) {
        error_report("qcow2: snapshot '%s' has an invalid disk size %"
                     PRIu64, sn->name, sn->disk_size);
        return -EINVAL;
    }

    ret = flush_caches(bs);
    if (ret < 0) {
        return ret;
    }
    if (sn->l1_size > s->l1_size) {
        ret = qcow2_grow_l1_table(bs, sn->l1_size, true);
        if (ret < 0) {
            return ret;
        }
    }
    cur_size = s->l1_size;
    sn_l1 = g_new0(uint64_t, MAX(cur_size, 1));
    if (sn->l1_size) {
        ret = bdrv_pread(bs->file, sn->l1_table_offset, sn_l1,
                         (uint64_t)sn->l1_size * 8);
        if (ret < 0) {
            goto out;
        }
    }

    /* The snapshot's clusters gain the active reference first... */
    ret = qcow2_update_snapshot_refcount(bs, sn->l1_table_offset,
                                         sn->l1_size, 1);
    if (ret < 0) {
        goto out;
    }
    ret = flush_caches(bs);
    if (ret < 0) {
        goto out;
    }
    /* ...then the active L1 points at them (sn_l1 is big endian)... */
    ret = bdrv_pwrite(bs->file, s->l1_table_offset, sn_l1,
                      (uint64_t)cur_size * 8, 0);
    if (ret == 0) {
        ret = bdrv_flush(bs->file);
    }
    if (ret < 0) {
        /* The active L1 may be half written: stop writing. */
        qcow2_signal_corruption(bs, "Could not switch to snapshot '%s'",
                                sn->name);
        goto out;
    }
    /* ...and the old active tables lose theirs (in-memory L1 is old). */
    ret = qcow2_update_snapshot_refcount(bs, s->l1_table_offset, cur_size,
                                         -1);
    for (i = 0; i < cur_size; i++) {
        s->l1_table[i] = GUINT64_FROM_BE(sn_l1[i]);
    }
    if (ret < 0) {
        goto out;
    }
    ret = flush_caches(bs);
    if (ret < 0) {
        goto out;
    }
    ret = qcow2_update_snapshot_refcount(bs, s->l1_table_offset, cur_size, 0);
    if (ret == 0) {
        ret = flush_caches(bs);
    }
    /* The disk takes the size it had when the snapshot was taken (the
     * L1 table now matches it). */
    if (ret == 0 && sn->disk_size != s->size) {
        uint64_t per_l1 = (uint64_t)s->cluster_size * s->l2_size;
        uint64_t be_size = GUINT64_TO_BE(sn->disk_size);

        ret = bdrv_pwrite(bs->file, 24, &be_size, 8, 0);
        if (ret == 0) {
            ret = bdrv_flush(bs->file);
        }
        if (ret == 0) {
            s->size = sn->disk_size;
            s->l1_vm_state_index = (s->size + per_l1 - 1) / per_l1;
        }
    }
out:
    g_free(sn_l1);
    return ret;
}

int qcow2_snapshot_delete(BlockDriverState *bs, const char *id,
                          const char *name, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    Qcow2Snapshot sn, *list;
    uint32_t nb = s->nb_snapshots, i, j;
    int idx = -1, ret;

    for (i = 0; i < nb; i++) {
        if ((!id || !strcmp(s->snapshots[i].id_str, id)) &&
            (!name || !strcmp(s->snapshots[i].name, name))) {
            idx = i;
            break;
        }
    }
    if (idx < 0 || (!id && !name)) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_NOT_FOUND,
                    "Can't find the snapshot");
        return -ENOENT;
    }
    sn = s->snapshots[idx];

    ret = flush_caches(bs);
    if (ret < 0) {
        goto io_error;
    }
    /* Out of the table first: from then on its references are leaks. */
    list = g_new0(Qcow2Snapshot, MAX(nb - 1, 1));
    for (i = 0, j = 0; i < nb; i++) {
        if ((int)i != idx) {
            list[j++] = s->snapshots[i];
        }
    }
    ret = write_snapshot_table(bs, list, nb - 1);
    if (ret < 0) {
        g_free(list);
        goto io_error;
    }

    if (!snapshot_l1_valid(s, &sn) ||
        !l1_in_file(bs, sn.l1_table_offset, sn.l1_size)) {
        warn_report("qcow2: snapshot '%s' had an invalid L1 table; its "
                    "clusters are leaked", sn.name);
        snapshot_clear(&sn);
        return 0;
    }
    ret = qcow2_update_snapshot_refcount(bs, sn.l1_table_offset, sn.l1_size,
                                         -1);
    if (ret == 0 && sn.l1_size) {
        qcow2_free_clusters(bs, sn.l1_table_offset,
                            (uint64_t)sn.l1_size * 8);
    }
    snapshot_clear(&sn);
    if (ret < 0) {
        goto io_error;
    }
    /* Clusters only the active tables use now get COPIED back. */
    ret = flush_caches(bs);
    if (ret == 0) {
        ret = qcow2_update_snapshot_refcount(bs, s->l1_table_offset,
                                             s->l1_size, 0);
    }
    if (ret == 0) {
        ret = flush_caches(bs);
    }
    if (ret < 0) {
        goto io_error;
    }
    return 0;

io_error:
    g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                "Could not delete snapshot: %s", g_strerror(-ret));
    return ret;
}

int qcow2_snapshot_list(BlockDriverState *bs, BdrvSnapshotInfo **list)
{
    BDRVQcow2State *s = bs->opaque;
    BdrvSnapshotInfo *out = g_new0(BdrvSnapshotInfo, MAX(s->nb_snapshots, 1));

    for (uint32_t i = 0; i < s->nb_snapshots; i++) {
        const Qcow2Snapshot *sn = &s->snapshots[i];

        g_strlcpy(out[i].id_str, sn->id_str, sizeof(out[i].id_str));
        g_strlcpy(out[i].name, sn->name, sizeof(out[i].name));
        out[i].vm_state_size = sn->vm_state_size;
        out[i].date_sec = sn->date_sec;
        out[i].date_nsec = sn->date_nsec;
        out[i].vm_clock_nsec = sn->vm_clock_nsec;
        out[i].icount = sn->icount;
        out[i].disk_size = sn->disk_size;
    }
    *list = out;
    return s->nb_snapshots;
}
