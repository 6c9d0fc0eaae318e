/*
 * qcow2 guest cluster metadata: L2 entry helpers, L1/L2 lookup (guest
 * offset to host mapping, with entry checks), L1 table growth, L2 tables
 * made ready for writing (allocated or copied from a shared one), the
 * metadata side of zero writes and discard, and preallocation.
 *
 * Everything here runs under s->lock. The guest read/write entry points
 * that use it are in qcow2-io.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include "lemu/util/log.h"
#include "qcow2.h"

/* Bits of a standard L2 entry that must be zero (1-8 and 56-61). */
#define L2E_STD_RESERVED_MASK   0x3f000000000001feULL
#define SC_ALLOC_MASK           0x00000000ffffffffULL
#define SC_ZERO_MASK            0xffffffff00000000ULL

/* ---- entries ---- */

uint64_t qcow2_get_l2_entry(BDRVQcow2State *s, const uint64_t *l2,
                            unsigned index)
{
    return GUINT64_FROM_BE(l2[(size_t)index * (s->l2_entry_size / 8)]);
}

void qcow2_set_l2_entry(BDRVQcow2State *s, uint64_t *l2, unsigned index,
                        uint64_t entry)
{
    l2[(size_t)index * (s->l2_entry_size / 8)] = GUINT64_TO_BE(entry);
}

uint64_t qcow2_get_l2_bitmap(BDRVQcow2State *s, const uint64_t *l2,
                             unsigned index)
{
    if (!s->extended_l2) {
        return 0;
    }
    return GUINT64_FROM_BE(l2[(size_t)index * 2 + 1]);
}

void qcow2_set_l2_bitmap(BDRVQcow2State *s, uint64_t *l2, unsigned index,
                         uint64_t bitmap)
{
    if (s->extended_l2) {
        l2[(size_t)index * 2 + 1] = GUINT64_TO_BE(bitmap);
    }
}

Qcow2ClusterType qcow2_get_cluster_type(BlockDriverState *bs,
                                        uint64_t l2_entry)
{
    BDRVQcow2State *s = bs->opaque;

    if (l2_entry & QCOW_OFLAG_COMPRESSED) {
        return QCOW2_CLUSTER_COMPRESSED;
    }
    if ((l2_entry & QCOW_OFLAG_ZERO) && !s->extended_l2) {
        return (l2_entry & L2E_OFFSET_MASK) ? QCOW2_CLUSTER_ZERO_ALLOC
                                            : QCOW2_CLUSTER_ZERO_PLAIN;
    }
    if (l2_entry & L2E_OFFSET_MASK) {
        return QCOW2_CLUSTER_NORMAL;
    }
    return QCOW2_CLUSTER_UNALLOCATED;
}

void qcow2_parse_compressed_l2_entry(BlockDriverState *bs,
                                     uint64_t l2_entry, uint64_t *coffset,
                                     int *csize)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t nb_sectors;

    *coffset = l2_entry & s->cluster_offset_mask;
    nb_sectors = ((l2_entry >> s->csize_shift) & s->csize_mask) + 1;
    *csize = nb_sectors * BDRV_SECTOR_SIZE - (*coffset & (BDRV_SECTOR_SIZE - 1));
}

/* Is @host (a cluster we are about to use) inside the file? */
static bool host_offset_in_file(BlockDriverState *bs, uint64_t host)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t len;

    if (host < s->image_end) {
        return true;
    }
    len = bdrv_getlength(bs->file);
    if (len > 0 && (uint64_t)len > s->image_end) {
        s->image_end = len;
    }
    return host < s->image_end;
}

/* Checks one L2 entry; a bad one marks the image corrupt. */
static int check_l2_entry(BlockDriverState *bs, uint64_t entry,
                          uint64_t bitmap, uint64_t l2_offset, unsigned idx)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t host = entry & L2E_OFFSET_MASK;
    uint64_t reserved = L2E_STD_RESERVED_MASK;

    if (entry & QCOW_OFLAG_COMPRESSED) {
        uint64_t coffset;
        int csize;
        qcow2_parse_compressed_l2_entry(bs, entry, &coffset, &csize);
        if (coffset < s->cluster_size || !host_offset_in_file(bs, coffset)) {
            return qcow2_signal_corruption(bs, "Compressed cluster at "
                "0x%" PRIx64 " outside the image (L2 offset: 0x%" PRIx64
                ", L2 index: 0x%x)", coffset, l2_offset, idx);
        }
        return 0;
    }
    if (s->extended_l2 || s->qcow_version < 3) {
        reserved |= QCOW_OFLAG_ZERO;
    }
    if (entry & reserved) {
        return qcow2_signal_corruption(bs, "L2 entry 0x%" PRIx64 " has "
            "reserved bits set (L2 offset: 0x%" PRIx64 ", L2 index: 0x%x)",
            entry, l2_offset, idx);
    }
    if (host & (s->cluster_size - 1)) {
        return qcow2_signal_corruption(bs, "Cluster allocation offset 0x%"
            PRIx64 " unaligned (L2 offset: 0x%" PRIx64 ", L2 index: 0x%x)",
            host, l2_offset, idx);
    }
    if (host && !host_offset_in_file(bs, host)) {
        return qcow2_signal_corruption(bs, "Cluster allocation offset 0x%"
            PRIx64 " past the end of the image (L2 offset: 0x%" PRIx64
            ", L2 index: 0x%x)", host, l2_offset, idx);
    }
    if (s->extended_l2) {
        if ((bitmap & SC_ALLOC_MASK) & (bitmap >> 32)) {
            return qcow2_signal_corruption(bs, "Subclusters both allocated "
                "and zero (L2 offset: 0x%" PRIx64 ", L2 index: 0x%x)",
                l2_offset, idx);
        }
        if (!host && (bitmap & SC_ALLOC_MASK)) {
            return qcow2_signal_corruption(bs, "Allocated subclusters "
                "without a host cluster (L2 offset: 0x%" PRIx64
                ", L2 index: 0x%x)", l2_offset, idx);
        }
    }
    return 0;
}

/* Kind of subcluster @sc of a checked entry. */
static Qcow2ClusterType subcluster_type(BDRVQcow2State *s, uint64_t entry,
                                        uint64_t bitmap, int sc)
{
    if (entry & QCOW_OFLAG_COMPRESSED) {
        return QCOW2_CLUSTER_COMPRESSED;
    }
    if (!s->extended_l2) {
        if (entry & QCOW_OFLAG_ZERO) {
            return (entry & L2E_OFFSET_MASK) ? QCOW2_CLUSTER_ZERO_ALLOC
                                             : QCOW2_CLUSTER_ZERO_PLAIN;
        }
        return (entry & L2E_OFFSET_MASK) ? QCOW2_CLUSTER_NORMAL
                                         : QCOW2_CLUSTER_UNALLOCATED;
    }
    if (bitmap & (1ULL << sc)) {
        return QCOW2_CLUSTER_NORMAL;
    }
    if (bitmap & (1ULL << (32 + sc))) {
        return (entry & L2E_OFFSET_MASK) ? QCOW2_CLUSTER_ZERO_ALLOC
                                         : QCOW2_CLUSTER_ZERO_PLAIN;
    }
    return QCOW2_CLUSTER_UNALLOCATED;
}

/* Reads the L1 entry for @offset: the L2 table's host offset or 0. */
static int get_l2_offset(BlockDriverState *bs, uint64_t offset,
                         uint64_t *l2_offset, uint64_t *l1_entry)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t l1_index = offset >> (s->l2_bits + s->cluster_bits);
    uint64_t e;

    *l2_offset = 0;
    *l1_entry = 0;
    if (l1_index >= s->l1_size) {
        return 0;
    }
    e = s->l1_table[l1_index];
    *l1_entry = e;
    if ((e & L1E_RESERVED_MASK) ||
        ((e & L1E_OFFSET_MASK) & (s->cluster_size - 1))) {
        return qcow2_signal_corruption(bs, "L1 entry 0x%" PRIx64 " at index "
            "0x%" PRIx64 " is invalid (reserved bits or unaligned L2 table "
            "offset)", e, l1_index);
    }
    *l2_offset = e & L1E_OFFSET_MASK;
    if (*l2_offset && !host_offset_in_file(bs, *l2_offset)) {
        return qcow2_signal_corruption(bs, "L2 table offset 0x%" PRIx64
            " past the end of the image (L1 index 0x%" PRIx64 ")",
            *l2_offset, l1_index);
    }
    return 0;
}

/*
 * Maps guest @offset: fills @m for the longest run (at most *bytes, within
 * one L2 table) of one kind, with contiguous host clusters for NORMAL and
 * ZERO_ALLOC and a single cluster for COMPRESSED; *bytes is set to it.
 */
int qcow2_get_host_offset(BlockDriverState *bs, uint64_t offset,
                          uint64_t *bytes, Qcow2Mapping *m)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t cs = s->cluster_size;
    unsigned l2_index = (offset >> s->cluster_bits) & (s->l2_size - 1);
    uint64_t cluster_start = offset & ~(cs - 1);
    uint64_t limit = cluster_start + (uint64_t)(s->l2_size - l2_index) * cs;
    uint64_t end, cur, l2_offset, l1_entry, first_host = 0;
    uint64_t *l2;
    int ret;

    limit = MIN(limit, offset + *bytes);
    memset(m, 0, sizeof(*m));
    ret = get_l2_offset(bs, offset, &l2_offset, &l1_entry);
    if (ret < 0) {
        return ret;
    }
    if (!l2_offset) {
        m->type = QCOW2_CLUSTER_UNALLOCATED;
        *bytes = limit - offset;
        return 0;
    }
    ret = qcow2_cache_get(bs, s->l2_table_cache, l2_offset, (void **)&l2);
    if (ret < 0) {
        return ret;
    }

    cur = offset;
    end = offset;
    for (unsigned i = l2_index; i < s->l2_size && end < limit; i++) {
        uint64_t entry = qcow2_get_l2_entry(s, l2, i);
        uint64_t bitmap = qcow2_get_l2_bitmap(s, l2, i);
        uint64_t cstart = cluster_start + (uint64_t)(i - l2_index) * cs;
        int sc = i == l2_index ?
            (offset - cstart) >> s->subcluster_bits : 0;
        Qcow2ClusterType t;

        ret = check_l2_entry(bs, entry, bitmap, l2_offset, i);
        if (ret < 0) {
            qcow2_cache_put(s->l2_table_cache, (void **)&l2);
            return ret;
        }
        if (i == l2_index) {
            m->type = subcluster_type(s, entry, bitmap, sc);
            m->l2_entry = entry;
            first_host = entry & L2E_OFFSET_MASK;
        } else {
            if (m->type == QCOW2_CLUSTER_COMPRESSED) {
                break;
            }
            if ((m->type == QCOW2_CLUSTER_NORMAL ||
                 m->type == QCOW2_CLUSTER_ZERO_ALLOC) &&
                (entry & L2E_OFFSET_MASK) !=
                first_host + (uint64_t)(i - l2_index) * cs) {
                break;
            }
        }
        for (; sc < s->subclusters_per_cluster; sc++) {
            t = subcluster_type(s, entry, bitmap, sc);
            if (t != m->type) {
                break;
            }
            cur = cstart + (uint64_t)(sc + 1) * s->subcluster_size;
        }
        end = cur;
        if (sc < s->subclusters_per_cluster) {
            break;
        }
    }
    qcow2_cache_put(s->l2_table_cache, (void **)&l2);

    if (m->type == QCOW2_CLUSTER_NORMAL ||
        m->type == QCOW2_CLUSTER_ZERO_ALLOC) {
        m->host = first_host + (offset - cluster_start);
    }
    *bytes = MIN(end, limit) - offset;
    g_assert(*bytes > 0);
    return 0;
}

/* ---- L1 and L2 tables ---- */

int qcow2_write_l1_entry(BlockDriverState *bs, int index)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t be = GUINT64_TO_BE(s->l1_table[index]);

    return bdrv_pwrite(bs->file, s->l1_table_offset + (uint64_t)index * 8,
                       &be, 8, 0);
}

int qcow2_grow_l1_table(BlockDriverState *bs, uint64_t min_size, bool exact)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t new_size, new_bytes;
    uint64_t *new_table;
    int64_t new_offset;
    uint64_t old_offset = s->l1_table_offset;
    uint64_t old_bytes = (uint64_t)s->l1_size * 8;
    uint8_t hdr[12];
    int ret;

    if (min_size <= s->l1_size) {
        return 0;
    }
    if (exact) {
        new_size = min_size;
    } else {
        new_size = MAX(s->l1_size, 1);
        while (min_size > new_size) {
            new_size = (new_size * 3 + 1) / 2;
        }
    }
    if (new_size * 8 > QCOW2_MAX_L1_BYTES) {
        new_size = min_size;
        if (new_size * 8 > QCOW2_MAX_L1_BYTES) {
            return -EFBIG;
        }
    }
    new_bytes = qcow2_round_up_cluster(s, new_size * 8);
    new_table = g_try_malloc0(new_bytes);
    if (!new_table) {
        return -ENOMEM;
    }
    new_offset = qcow2_alloc_clusters(bs, new_bytes);
    if (new_offset < 0) {
        g_free(new_table);
        return new_offset;
    }
    /* The new table's refcount must be on disk before the header
     * points at it. */
    ret = qcow2_cache_flush(bs, s->refcount_block_cache);
    if (ret < 0) {
        goto fail;
    }
    for (uint32_t i = 0; i < s->l1_size; i++) {
        new_table[i] = GUINT64_TO_BE(s->l1_table[i]);
    }
    ret = bdrv_pwrite(bs->file, new_offset, new_table, new_bytes, 0);
    if (ret < 0) {
        goto fail;
    }
    ret = bdrv_flush(bs->file);
    if (ret < 0) {
        goto fail;
    }
    /* l1_size and l1_table_offset are adjacent: one write switches. */
    {
        uint32_t sz = GUINT32_TO_BE((uint32_t)new_size);
        uint64_t of = GUINT64_TO_BE((uint64_t)new_offset);
        memcpy(hdr, &sz, 4);
        memcpy(hdr + 4, &of, 8);
    }
    ret = bdrv_pwrite(bs->file, offsetof(Qcow2Header, l1_size), hdr, 12, 0);
    if (ret < 0) {
        goto fail;
    }
    ret = bdrv_flush(bs->file);
    if (ret < 0) {
        goto fail;
    }
    for (uint64_t i = 0; i < new_size; i++) {
        new_table[i] = GUINT64_FROM_BE(new_table[i]);
    }
    g_free(s->l1_table);
    s->l1_table = new_table;
    s->l1_table_offset = new_offset;
    s->l1_size = new_size;
    s->image_end = MAX(s->image_end, (uint64_t)new_offset + new_bytes);
    if (old_offset && old_bytes) {
        qcow2_free_clusters(bs, old_offset, qcow2_round_up_cluster(s,
                                                                 old_bytes));
    }
    return 0;

fail:
    g_free(new_table);
    qcow2_free_clusters(bs, new_offset, new_bytes);
    return ret;
}

/*
 * Gets the L2 table for guest @offset ready to be modified: allocates it
 * (or copies a shared one) and points the L1 entry at it. s->lock held.
 */
int qcow2_get_l2_for_write(BlockDriverState *bs, uint64_t offset,
                           uint64_t **l2)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t l1_index = offset >> (s->l2_bits + s->cluster_bits);
    uint64_t l2_offset, l1_entry;
    uint64_t *old = NULL;
    int64_t new_offset;
    int ret;

    if (l1_index >= s->l1_size) {
        ret = qcow2_grow_l1_table(bs, l1_index + 1, false);
        if (ret < 0) {
            return ret;
        }
    }
    ret = get_l2_offset(bs, offset, &l2_offset, &l1_entry);
    if (ret < 0) {
        return ret;
    }
    if (l2_offset && (l1_entry & QCOW_OFLAG_COPIED)) {
        return qcow2_cache_get(bs, s->l2_table_cache, l2_offset,
                               (void **)l2);
    }

    new_offset = qcow2_alloc_clusters(bs, s->cluster_size);
    if (new_offset < 0) {
        return new_offset;
    }
    if (l2_offset) {
        ret = qcow2_cache_get(bs, s->l2_table_cache, l2_offset,
                              (void **)&old);
        if (ret < 0) {
            goto fail;
        }
    }
    ret = qcow2_cache_get_empty(bs, s->l2_table_cache, new_offset,
                                (void **)l2);
    if (ret < 0) {
        qcow2_cache_put(s->l2_table_cache, (void **)&old);
        goto fail;
    }
    if (old) {
        memcpy(*l2, old, s->cluster_size);
        qcow2_cache_put(s->l2_table_cache, (void **)&old);
    } else {
        memset(*l2, 0, s->cluster_size);
    }
    qcow2_cache_entry_mark_dirty(s->l2_table_cache, *l2);

    /*
     * The table's refcount and the table, then (after one flush) the L1
     * entry pointing at it. The new table holds nothing that waits for a
     * refcount (zeroes, or the entries of a shared table, counted long
     * ago), so it is written on its own; the other dirty L2 tables keep
     * waiting for the refcount cache.
     */
    if (qcow2_need_accurate_refcounts(s)) {
        ret = qcow2_cache_write(bs, s->refcount_block_cache);
        if (ret < 0) {
            goto fail_put;
        }
    }
    ret = qcow2_cache_write_table(bs, s->l2_table_cache, *l2);
    if (ret < 0) {
        goto fail_put;
    }
    ret = bdrv_flush(bs->file);
    if (ret < 0) {
        goto fail_put;
    }
    s->image_end = MAX(s->image_end, (uint64_t)new_offset + s->cluster_size);
    s->l1_table[l1_index] = (uint64_t)new_offset | QCOW_OFLAG_COPIED;
    ret = qcow2_write_l1_entry(bs, l1_index);
    if (ret < 0) {
        s->l1_table[l1_index] = l1_entry;
        goto fail_put;
    }
    if (l2_offset) {
        /* The shared table loses this reference. */
        qcow2_free_clusters(bs, l2_offset, s->cluster_size);
    }
    return 0;

fail_put:
    qcow2_cache_put(s->l2_table_cache, (void **)l2);
    qcow2_cache_discard(s->l2_table_cache, new_offset);
fail:
    qcow2_free_clusters(bs, new_offset, s->cluster_size);
    return ret;
}

/* Most L2 tables qcow2_alloc_l2_tables makes at once. */
#define L2_ALLOC_BATCH  64

/*
 * Allocates the missing L2 tables (L1 entry 0) for guest [offset, +bytes)
 * in one go: contiguous clusters, their refcounts and the zeroed tables
 * written, one flush for all of them, then the L1 entries. A write that
 * spans many L2 tables (small clusters) then pays one flush instead of
 * one per table. Shared tables are left to qcow2_get_l2_for_write.
 */
int qcow2_alloc_l2_tables(BlockDriverState *bs, uint64_t offset,
                          uint64_t bytes)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t cs = s->cluster_size;
    int shift = s->l2_bits + s->cluster_bits;
    uint64_t first, last, idx[L2_ALLOC_BATCH];
    unsigned n = 0, j = 0;
    int64_t host;
    int ret;

    if (bytes == 0) {
        return 0;
    }
    first = offset >> shift;
    last = (offset + bytes - 1) >> shift;
    if (last >= s->l1_size) {
        ret = qcow2_grow_l1_table(bs, last + 1, false);
        if (ret < 0) {
            return ret;
        }
    }
    for (uint64_t i = first; i <= last && n < L2_ALLOC_BATCH; i++) {
        if (s->l1_table[i] == 0) {
            idx[n++] = i;
        }
    }
    if (n < 2) {
        return 0;
    }
    ret = qcow2_mark_dirty(bs);
    if (ret < 0) {
        return ret;
    }
    host = qcow2_alloc_clusters(bs, (uint64_t)n * cs);
    if (host < 0) {
        return host;
    }
    if (qcow2_need_accurate_refcounts(s)) {
        ret = qcow2_cache_write(bs, s->refcount_block_cache);
        if (ret < 0) {
            goto fail;
        }
    }
    for (j = 0; j < n; j++) {
        uint64_t *l2;

        ret = qcow2_cache_get_empty(bs, s->l2_table_cache,
                                    (uint64_t)host + j * cs, (void **)&l2);
        if (ret < 0) {
            goto fail;
        }
        memset(l2, 0, cs);
        qcow2_cache_entry_mark_dirty(s->l2_table_cache, l2);
        ret = qcow2_cache_write_table(bs, s->l2_table_cache, l2);
        qcow2_cache_put(s->l2_table_cache, (void **)&l2);
        if (ret < 0) {
            j++;
            goto fail;
        }
    }
    /* Refcounts and tables stable before the L1 entries point there. */
    ret = bdrv_flush(bs->file);
    if (ret < 0) {
        goto fail;
    }
    s->image_end = MAX(s->image_end, (uint64_t)host + (uint64_t)n * cs);
    for (j = 0; j < n; j++) {
        s->l1_table[idx[j]] = ((uint64_t)host + j * cs) | QCOW_OFLAG_COPIED;
        ret = qcow2_write_l1_entry(bs, idx[j]);
        if (ret < 0) {
            /* Tables already pointed at stay; the rest leak no more
             * than a crash would. */
            s->l1_table[idx[j]] = 0;
            return ret;
        }
    }
    return 0;

fail:
    for (unsigned i = 0; i < j && i < n; i++) {
        qcow2_cache_discard(s->l2_table_cache, (uint64_t)host + i * cs);
    }
    qcow2_free_clusters(bs, host, (uint64_t)n * cs);
    return ret;
}

/* Drops what an old L2 entry pointed at, after the entry was replaced. */
int qcow2_free_old_entry(BlockDriverState *bs, uint64_t old)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    if (!(old & L2E_OFFSET_MASK) && !(old & QCOW_OFLAG_COMPRESSED)) {
        return 0;
    }
    /* A reader outside the lock may still be using the old cluster. */
    qcow2_drain_data_io(s);
    /* The L2 update must reach the disk before the refcount drop. */
    if (qcow2_need_accurate_refcounts(s)) {
        ret = qcow2_cache_set_dependency(bs, s->refcount_block_cache,
                                         s->l2_table_cache);
        if (ret < 0) {
            return ret;
        }
    }
    qcow2_free_any_cluster(bs, old, 1);
    return 0;
}

/* ---- zero and discard metadata ---- */

void qcow2_drain_data_io(BDRVQcow2State *s)
{
    g_rw_lock_writer_lock(&s->data_io_lock);
    g_rw_lock_writer_unlock(&s->data_io_lock);
}

/*
 * Zeroes or discards whole clusters (whole subclusters with extended L2)
 * in [offset, offset + *bytes) within one L2 table. Returns -ENOTSUP for
 * a cluster it cannot describe as zero (the caller writes zeroes).
 */
int qcow2_zero_or_discard_clusters(BlockDriverState *bs, uint64_t offset,
                                   uint64_t *bytes, bool discard,
                                   int flags)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t cs = s->cluster_size;
    unsigned l2_index = (offset >> s->cluster_bits) & (s->l2_size - 1);
    uint64_t cstart = offset & ~(cs - 1);
    uint64_t end = MIN(offset + *bytes,
                       cstart + (uint64_t)(s->l2_size - l2_index) * cs);
    bool unmap = discard || (flags & BDRV_REQ_MAY_UNMAP);
    uint64_t *l2;
    uint64_t old_entries[64];
    unsigned n = 0;
    int ret, bad = 0;

    if (!bs->backing_file[0]) {
        /* No L2 table and nothing below: it all reads as zero already. */
        uint64_t l2_offset, l1_entry;
        ret = get_l2_offset(bs, offset, &l2_offset, &l1_entry);
        if (ret < 0) {
            return ret;
        }
        if (!l2_offset) {
            *bytes = end - offset;
            return 0;
        }
    }
    ret = qcow2_get_l2_for_write(bs, offset, &l2);
    if (ret < 0) {
        return ret;
    }
    qcow2_drain_data_io(s);
    while (cstart + (uint64_t)n * cs < end && n < G_N_ELEMENTS(old_entries)) {
        uint64_t c0 = cstart + (uint64_t)n * cs;
        uint64_t from = MAX(offset, c0) - c0;
        uint64_t to = MIN(end, c0 + cs) - c0;
        unsigned idx = l2_index + n;
        if (c0 + to >= s->size) {
            to = cs;    /* the short last cluster of the disk */
        }
        uint64_t e = qcow2_get_l2_entry(s, l2, idx);
        uint64_t bitmap = qcow2_get_l2_bitmap(s, l2, idx);
        bool whole = from == 0 && to == cs;
        uint64_t ne, nb = 0;

        bad = check_l2_entry(bs, e, bitmap, 0, idx);
        if (bad < 0) {
            break;
        }
        old_entries[n] = 0;
        if (!s->extended_l2) {
            if (!whole) {
                break;
            }
            if (discard) {
                ne = (bs->backing_file[0] && s->qcow_version >= 3) ?
                     QCOW_OFLAG_ZERO : 0;
            } else if (!unmap && (e & L2E_OFFSET_MASK) &&
                       !(e & QCOW_OFLAG_COMPRESSED) &&
                       (e & QCOW_OFLAG_COPIED)) {
                ne = e | QCOW_OFLAG_ZERO;     /* keep the host cluster */
            } else {
                ne = QCOW_OFLAG_ZERO;
            }
            if (ne != e && (ne & L2E_OFFSET_MASK) == 0) {
                old_entries[n] = e;
            }
        } else if (whole && (unmap || !(e & L2E_OFFSET_MASK) ||
                             (e & QCOW_OFLAG_COMPRESSED) ||
                             !(e & QCOW_OFLAG_COPIED))) {
            ne = 0;
            nb = (discard && !bs->backing_file[0]) ? 0 : SC_ZERO_MASK;
            old_entries[n] = e;
        } else {
            uint64_t zero_bits = 0;
            if ((e & QCOW_OFLAG_COMPRESSED) ||
                ((e & L2E_OFFSET_MASK) && !(e & QCOW_OFLAG_COPIED))) {
                break;  /* cannot zero part of a shared/compressed one */
            }
            for (uint64_t i = from >> s->subcluster_bits;
                 i < (to >> s->subcluster_bits); i++) {
                zero_bits |= 1ULL << i;
            }
            ne = e;
            if (discard && !bs->backing_file[0]) {
                nb = bitmap & ~zero_bits & ~(zero_bits << 32);
            } else {
                nb = (bitmap & ~zero_bits) | (zero_bits << 32);
            }
        }
        qcow2_set_l2_entry(s, l2, idx, ne);
        qcow2_set_l2_bitmap(s, l2, idx, nb);
        n++;
    }
    if (n == 0) {
        qcow2_cache_put(s->l2_table_cache, (void **)&l2);
        return bad < 0 ? bad : -ENOTSUP;
    }
    qcow2_cache_entry_mark_dirty(s->l2_table_cache, l2);
    for (unsigned i = 0; i < n; i++) {
        ret = qcow2_free_old_entry(bs, old_entries[i]);
        if (ret < 0) {
            break;
        }
    }
    qcow2_cache_put(s->l2_table_cache, (void **)&l2);
    *bytes = MIN(end, cstart + (uint64_t)n * cs) - offset;
    return ret < 0 ? ret : bad;
}

int qcow2_discard_all(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t per_l2 = (uint64_t)s->l2_size << s->cluster_bits;
    int ret;

    qcow2_drain_data_io(s);
    for (uint32_t i = 0; i < s->l1_size; i++) {
        uint64_t start = i * per_l2;
        uint64_t *l2;
        uint64_t l2_offset = s->l1_table[i] & L1E_OFFSET_MASK;

        if (!l2_offset) {
            continue;
        }
        if (!(s->l1_table[i] & QCOW_OFLAG_COPIED)) {
            /* Shared with a snapshot: drop our reference to the table
             * and to each cluster it maps (a snapshot counts one for
             * every L1 table that reaches a cluster). The L1 entry goes
             * first, so a crash in between only leaks. */
            uint64_t *entries = g_new(uint64_t, s->l2_size);

            ret = qcow2_cache_get(bs, s->l2_table_cache, l2_offset,
                                  (void **)&l2);
            if (ret < 0) {
                g_free(entries);
                return ret;
            }
            for (uint32_t j = 0; j < s->l2_size; j++) {
                entries[j] = qcow2_get_l2_entry(s, l2, j);
            }
            qcow2_cache_put(s->l2_table_cache, (void **)&l2);
            s->l1_table[i] = 0;
            ret = qcow2_write_l1_entry(bs, i);
            if (ret < 0) {
                g_free(entries);
                return ret;
            }
            for (uint32_t j = 0; j < s->l2_size; j++) {
                if (entries[j] & L2E_OFFSET_MASK) {
                    qcow2_free_any_cluster(bs, entries[j], 1);
                }
            }
            g_free(entries);
            qcow2_free_clusters(bs, l2_offset, s->cluster_size);
            continue;
        }
        ret = qcow2_cache_get(bs, s->l2_table_cache, l2_offset,
                              (void **)&l2);
        if (ret < 0) {
            return ret;
        }
        for (uint32_t j = 0; j < s->l2_size; j++) {
            uint64_t e = qcow2_get_l2_entry(s, l2, j);
            if (start + ((uint64_t)j << s->cluster_bits) >= s->size) {
                break;
            }
            ret = check_l2_entry(bs, e, qcow2_get_l2_bitmap(s, l2, j),
                                 l2_offset, j);
            if (ret < 0) {
                qcow2_cache_put(s->l2_table_cache, (void **)&l2);
                return ret;
            }
            /* Unallocated: reads go to the backing file again. */
            qcow2_set_l2_entry(s, l2, j, 0);
            qcow2_set_l2_bitmap(s, l2, j, 0);
            qcow2_cache_entry_mark_dirty(s->l2_table_cache, l2);
            ret = qcow2_free_old_entry(bs, e);
            if (ret < 0) {
                qcow2_cache_put(s->l2_table_cache, (void **)&l2);
                return ret;
            }
        }
        qcow2_cache_put(s->l2_table_cache, (void **)&l2);
    }
    return 0;
}

/* ---- preallocation ---- */

int qcow2_preallocate_range(BlockDriverState *bs, uint64_t offset,
                            uint64_t bytes, uint64_t *host_end)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t cs = s->cluster_size;
    uint64_t pos = offset & ~(cs - 1);
    uint64_t end = offset + bytes;
    int ret;

    *host_end = 0;
    while (pos < end) {
        unsigned l2_index = (pos >> s->cluster_bits) & (s->l2_size - 1);
        unsigned n = MIN(s->l2_size - l2_index,
                         (end - pos + cs - 1) >> s->cluster_bits);
        unsigned i = 0;
        uint64_t *l2;

        ret = qcow2_get_l2_for_write(bs, pos, &l2);
        if (ret < 0) {
            return ret;
        }
        while (i < n) {
            unsigned run = 0;
            int64_t host;
            while (i + run < n &&
                   !(qcow2_get_l2_entry(s, l2, l2_index + i + run) &
                     (L2E_OFFSET_MASK | QCOW_OFLAG_COMPRESSED))) {
                run++;
            }
            if (!run) {
                uint64_t e = qcow2_get_l2_entry(s, l2, l2_index + i);
                ret = check_l2_entry(bs, e, 0, 0, l2_index + i);
                if (ret < 0) {
                    qcow2_cache_put(s->l2_table_cache, (void **)&l2);
                    return ret;
                }
                if (!(e & QCOW_OFLAG_COMPRESSED)) {
                    *host_end = MAX(*host_end,
                                    (e & L2E_OFFSET_MASK) + cs);
                }
                i++;
                continue;
            }
            host = qcow2_alloc_clusters(bs, (uint64_t)run * cs);
            if (host < 0) {
                qcow2_cache_put(s->l2_table_cache, (void **)&l2);
                return host;
            }
            if (qcow2_need_accurate_refcounts(s)) {
                qcow2_cache_set_dependency(bs, s->l2_table_cache,
                                           s->refcount_block_cache);
            }
            for (unsigned j = 0; j < run; j++) {
                qcow2_set_l2_entry(s, l2, l2_index + i + j,
                                   ((uint64_t)host + (uint64_t)j * cs) |
                                   QCOW_OFLAG_COPIED);
                /* Over a backing file, the subclusters stay unallocated
                 * so that the backing data still shows through. */
                qcow2_set_l2_bitmap(s, l2, l2_index + i + j,
                                    bs->backing_file[0] ? 0 : SC_ALLOC_MASK);
            }
            *host_end = MAX(*host_end, (uint64_t)host + (uint64_t)run * cs);
            s->image_end = MAX(s->image_end, *host_end);
            i += run;
        }
        qcow2_cache_entry_mark_dirty(s->l2_table_cache, l2);
        qcow2_cache_put(s->l2_table_cache, (void **)&l2);
        pos += (uint64_t)n * cs;
    }
    return 0;
}
