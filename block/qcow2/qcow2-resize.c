/*
 * Resizing a qcow2 image: growing (with preallocation off, metadata,
 * falloc or full) and shrinking, which drops the clusters past the new
 * end, the L2 tables and refcount blocks nothing needs any more, and
 * cuts the file after the last cluster in use, as qemu-img resize
 * --shrink does.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include "lemu/util/log.h"
#include "qcow2.h"

/*
 * Shrinking: drops the guest clusters from @start (cluster aligned) to
 * the end of the L2 table that maps @start; the table itself stays, as
 * it still maps clusters below @start.
 */
static int shrink_partial_l2(BlockDriverState *bs, uint64_t start)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t l1_index = start >> (s->l2_bits + s->cluster_bits);
    unsigned first = (start >> s->cluster_bits) & (s->l2_size - 1);
    uint64_t *l2;
    int ret;

    if (first == 0 || l1_index >= s->l1_size ||
        !(s->l1_table[l1_index] & L1E_OFFSET_MASK)) {
        return 0;
    }
    /* Copies a table shared with a snapshot first. */
    ret = qcow2_get_l2_for_write(bs, start, &l2);
    if (ret < 0) {
        return ret;
    }
    for (unsigned i = first; i < s->l2_size; i++) {
        uint64_t e = qcow2_get_l2_entry(s, l2, i);

        if (e == 0 && qcow2_get_l2_bitmap(s, l2, i) == 0) {
            continue;
        }
        qcow2_set_l2_entry(s, l2, i, 0);
        qcow2_set_l2_bitmap(s, l2, i, 0);
        qcow2_cache_entry_mark_dirty(s->l2_table_cache, l2);
        ret = qcow2_free_old_entry(bs, e);
        if (ret < 0) {
            break;
        }
    }
    qcow2_cache_put(s->l2_table_cache, (void **)&l2);
    return ret;
}

/*
 * Shrinking: clears L1 entry @index and frees its L2 table with every
 * cluster it maps (only our reference when a snapshot shares them).
 */
static int shrink_drop_l2(BlockDriverState *bs, uint32_t index)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t l1e = s->l1_table[index];
    uint64_t l2_offset = l1e & L1E_OFFSET_MASK;
    uint64_t *entries, *l2;
    int ret;

    if (!l2_offset) {
        return 0;
    }
    if (qcow2_offset_into_cluster(s, l2_offset)) {
        return qcow2_signal_corruption(bs, "L2 table offset 0x%" PRIx64
                                       " in L1 entry %u is unaligned",
                                       l2_offset, index);
    }
    /* Every reference to an L2 table counts once for each cluster it
     * maps, shared with a snapshot or not: drop all of ours. */
    ret = qcow2_cache_get(bs, s->l2_table_cache, l2_offset, (void **)&l2);
    if (ret < 0) {
        return ret;
    }
    entries = g_new(uint64_t, s->l2_size);
    for (uint32_t i = 0; i < s->l2_size; i++) {
        entries[i] = qcow2_get_l2_entry(s, l2, i);
    }
    qcow2_cache_put(s->l2_table_cache, (void **)&l2);
    /* The L1 entry goes first: a crash in between leaks, never points
     * at freed clusters. */
    s->l1_table[index] = 0;
    ret = qcow2_write_l1_entry(bs, index);
    if (ret < 0) {
        s->l1_table[index] = l1e;
        g_free(entries);
        return ret;
    }
    qcow2_drain_data_io(s);
    for (uint32_t i = 0; i < s->l2_size; i++) {
        qcow2_free_any_cluster(bs, entries[i], 1);
    }
    g_free(entries);
    qcow2_free_clusters(bs, l2_offset, s->cluster_size);
    return 0;
}

/*
 * Shrinking: drops refcount blocks that describe no used cluster but
 * (perhaps) themselves, so that the file can be cut after the last
 * cluster still in use. Goes from the end: freeing a block may empty
 * the one below that holds its refcount.
 */
static int shrink_refcount_table(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    bool changed = false;
    int ret = 0;

    for (uint32_t i = s->refcount_table_size; i-- > 0;) {
        uint64_t off = s->refcount_table[i] & L1E_OFFSET_MASK;
        uint64_t self = off >> s->cluster_bits;
        uint64_t first = (uint64_t)i << s->refcount_block_bits;
        bool self_inside = self >= first &&
                           self - first < s->refcount_block_size;
        bool used = false;
        uint64_t be = 0;
        void *block;

        if (!off || qcow2_offset_into_cluster(s, off)) {
            continue;
        }
        ret = qcow2_cache_get(bs, s->refcount_block_cache, off, &block);
        if (ret < 0) {
            break;
        }
        for (uint32_t j = 0; j < s->refcount_block_size && !used; j++) {
            uint64_t rc = qcow2_refblock_get(s, block, j);

            used = rc != 0 && !(self_inside && first + j == self && rc == 1);
        }
        qcow2_cache_put(s->refcount_block_cache, &block);
        if (used) {
            continue;
        }
        ret = bdrv_pwrite(bs->file, s->refcount_table_offset +
                          (uint64_t)i * 8, &be, 8, 0);
        if (ret < 0) {
            break;
        }
        s->refcount_table[i] = 0;
        qcow2_cache_discard(s->refcount_block_cache, off);
        changed = true;
        if (!self_inside) {
            /* Its refcount lives in another block. */
            qcow2_free_clusters(bs, off, s->cluster_size);
        }
    }
    if (changed) {
        qcow2_refcount_update_max_index(s);
        s->free_cluster_index = 0;
    }
    return ret < 0 ? ret : 0;
}

/* Cuts the image file after the last cluster still in use. */
static void shrink_file(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t flen = bdrv_getlength(bs->file);
    uint64_t last, end;
    GError *err = NULL;

    if (flen <= 0) {
        return;
    }
    last = ((uint64_t)flen - 1) >> s->cluster_bits;
    while (last > 0) {
        uint64_t rc = 1;

        if (qcow2_get_refcount(bs, last, &rc) < 0 || rc != 0) {
            break;
        }
        last--;
    }
    end = (last + 1) << s->cluster_bits;
    if (end >= (uint64_t)flen) {
        return;
    }
    if (bdrv_truncate(bs->file, end, false, PREALLOC_MODE_OFF, &err) < 0) {
        /* The image is fine, just larger than it needs to be. */
        warn_report("qcow2: could not shrink the image file: %s",
                    err ? err->message : "unknown error");
        g_clear_error(&err);
        return;
    }
    s->image_end = end;
}

/* Discards everything from @offset on (s->lock held). */
static int shrink_image(BlockDriverState *bs, uint64_t offset)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t per_l1 = (uint64_t)s->cluster_size << s->l2_bits;
    uint64_t start = qcow2_round_up_cluster(s, offset);
    uint64_t keep_l1 = start / per_l1 + (start % per_l1 != 0);
    int ret;

    if (s->corruption_signalled) {
        return -EIO;
    }
    ret = qcow2_mark_dirty(bs);
    if (ret < 0) {
        return ret;
    }
    ret = shrink_partial_l2(bs, start);
    for (uint64_t i = keep_l1; ret == 0 && i < s->l1_size; i++) {
        ret = shrink_drop_l2(bs, i);
    }
    if (ret == 0) {
        ret = qcow2_write_caches(bs);
    }
    if (ret == 0) {
        ret = bdrv_flush(bs->file);
    }
    if (ret == 0) {
        /* The L2 changes that dropped them are stable: the freed clusters
         * may count as free now, before refcount blocks go away. */
        qcow2_release_freed_clusters(bs);
        ret = shrink_refcount_table(bs);
    }
    if (ret == 0) {
        ret = qcow2_write_caches(bs);
    }
    if (ret == 0) {
        ret = bdrv_flush(bs->file);
    }
    if (ret == 0) {
        qcow2_release_freed_clusters(bs);
        shrink_file(bs);
    }
    return ret < 0 ? ret : 0;
}

static int write_size(BlockDriverState *bs, uint64_t size)
{
    uint8_t be[8];
    int ret;

    put_be64(be, size);
    ret = bdrv_pwrite(bs->file, offsetof(Qcow2Header, size), be, 8, 0);
    if (ret >= 0) {
        ret = bdrv_flush(bs->file);
    }
    return ret < 0 ? ret : 0;
}

/* Allocates [from, to) and extends the file for falloc/full (s->lock). */
int qcow2_preallocate(BlockDriverState *bs, uint64_t from, uint64_t to,
                      PreallocMode mode, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t host_end = 0;
    int64_t flen;
    int ret;

    if (mode == PREALLOC_MODE_OFF || to <= from) {
        return 0;
    }
    ret = qcow2_preallocate_range(bs, from, to - from, &host_end);
    if (ret == 0) {
        ret = qcow2_write_caches(bs);
    }
    if (ret < 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                    "qcow2: preallocation failed: %s", g_strerror(-ret));
        return ret;
    }
    flen = bdrv_getlength(bs->file);
    if (flen >= 0 && host_end > (uint64_t)flen) {
        PreallocMode fmode = mode == PREALLOC_MODE_METADATA ?
                             PREALLOC_MODE_OFF : mode;
        if (bdrv_truncate(bs->file, host_end, false, fmode, errp) < 0) {
            return -EIO;
        }
    }
    s->image_end = MAX(s->image_end, host_end);
    return 0;
}

int qcow2_truncate(BlockDriverState *bs, uint64_t offset, bool exact,
                   PreallocMode prealloc, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t old_size = s->size;
    uint64_t per_l1 = (uint64_t)s->cluster_size << s->l2_bits;
    int ret;

    if (offset & (BDRV_SECTOR_SIZE - 1)) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "The new size must be a multiple of 512 (got %" PRIu64
                    ")", offset);
        return -EINVAL;
    }
    if (bs->read_only) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "qcow2: image is read-only");
        return -EACCES;
    }
    g_mutex_lock(&s->lock);
    if (offset != old_size && s->nb_snapshots && s->qcow_version < 3) {
        /* v2 snapshots do not record their own disk size. */
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_UNSUPPORTED,
                    "Can't resize a v2 image which has snapshots");
        ret = -ENOTSUP;
        goto out;
    }
    if (offset < old_size) {
        if (prealloc != PREALLOC_MODE_OFF) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_UNSUPPORTED,
                        "Preallocation can't be used for shrinking an "
                        "image");
            ret = -ENOTSUP;
            goto out;
        }
        ret = shrink_image(bs, offset);
        if (ret < 0) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                        "qcow2: could not discard the data beyond %" PRIu64
                        " bytes: %s", offset, g_strerror(-ret));
            goto out;
        }
    } else if (offset > old_size) {
        uint64_t need = offset / per_l1 + (offset % per_l1 != 0);
        ret = qcow2_grow_l1_table(bs, need, true);
        if (ret < 0) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                        "qcow2: could not grow the L1 table for %" PRIu64
                        " bytes: %s", offset, g_strerror(-ret));
            goto out;
        }
    }
    ret = write_size(bs, offset);
    if (ret < 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                    "qcow2: could not write the new size: %s",
                    g_strerror(-ret));
        goto out;
    }
    s->size = offset;
    s->l1_vm_state_index = offset / per_l1 + (offset % per_l1 != 0);
    if (offset > old_size) {
        ret = qcow2_preallocate(bs, old_size, offset, prealloc, errp);
    }
out:
    g_mutex_unlock(&s->lock);
    (void)exact;
    if (ret == 0 && offset > old_size && qcow2_offset_into_cluster(s,
                                                                old_size)) {
        /* The old last cluster may hold bytes past the old end: the
         * grown part must read as zero. */
        uint64_t end = MIN(offset, qcow2_round_up_cluster(s, old_size));
        ret = qcow2_pwrite_zeroes(bs, old_size, end - old_size, 0);
        if (ret < 0) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                        "qcow2: could not zero the old tail: %s",
                        g_strerror(-ret));
        }
    }
    return ret;
}
