/*
 * The direct path: a read of an allocated cluster, or a write in place to
 * a cluster this image owns alone (COPIED), whose L2 table is already in
 * the cache, maps straight to a range of the image file. BlockBackend
 * then does the I/O itself with io_uring, without a worker thread, which
 * is what makes aio=io_uring worth having on qcow2. Anything else -- a
 * cache miss (it would need I/O on the main loop), allocation, copy on
 * write, zero or compressed clusters, the metadata lock busy -- returns
 * false and goes the normal way.
 */
#include "qcow2.h"

bool qcow2_map_direct(BlockDriverState *bs, uint64_t offset, uint64_t bytes,
                      bool write, uint64_t *file_offset)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t l1_index = offset >> (s->l2_bits + s->cluster_bits);
    uint64_t n = bytes, l2_offset;
    Qcow2Mapping m;
    bool ok = false;

    if (!g_mutex_trylock(&s->lock)) {
        return false;
    }
    if (s->corruption_signalled || (write && bs->read_only) ||
        l1_index >= s->l1_size) {
        goto out;
    }
    l2_offset = s->l1_table[l1_index] & L1E_OFFSET_MASK;
    if (!l2_offset || !qcow2_cache_contains(s->l2_table_cache, l2_offset)) {
        goto out;
    }
    if (qcow2_get_host_offset(bs, offset, &n, &m) < 0 || n < bytes ||
        m.type != QCOW2_CLUSTER_NORMAL) {
        goto out;
    }
    if (write && (!(m.l2_entry & QCOW_OFLAG_COPIED) ||
                  qcow2_check_metadata_overlap(bs, m.host, bytes))) {
        goto out;   /* the normal path copies, or reports the corruption */
    }
    /* Held until the I/O completes, so that nothing frees the cluster. */
    if (!g_rw_lock_reader_trylock(&s->data_io_lock)) {
        goto out;
    }
    *file_offset = m.host;
    ok = true;
out:
    g_mutex_unlock(&s->lock);
    return ok;
}

void qcow2_map_direct_release(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;

    g_rw_lock_reader_unlock(&s->data_io_lock);
}
