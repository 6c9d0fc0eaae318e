/*
 * qcow2 guest I/O entry points: reads, writes (allocating ones with
 * copy-on-write, extended L2 subclusters), zero writes, discard,
 * compressed writes and block status.
 *
 * Lookups and metadata updates (qcow2-cluster.c) run under s->lock.
 * Reads and writes of guest data in clusters that are already allocated
 * (and, for writes, not shared: COPIED set) run outside it, holding
 * s->data_io_lock shared so that nothing frees the cluster under them.
 * Allocating writes hold s->lock from the allocation until the L2 entry
 * is updated.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include "lemu/util/iov.h"
#include "lemu/util/log.h"
#include "qcow2.h"

/* ---- reads ---- */

/* Reads guest data below this layer: backing file or zeroes. */
static int read_backing(BlockDriverState *bs, uint64_t offset,
                        uint64_t bytes, struct iovec *iov, int niov)
{
    int64_t blen;
    uint64_t n;
    int ret;

    if (!bs->backing) {
        iov_memset(iov, niov, 0, 0, SIZE_MAX);
        return 0;
    }
    blen = bdrv_getlength(bs->backing);
    if (blen < 0) {
        return blen;
    }
    n = offset < (uint64_t)blen ? MIN(bytes, (uint64_t)blen - offset) : 0;
    if (n < bytes) {
        struct iovec tail[niov];
        int tn = iov_slice(iov, niov, n, bytes - n, tail);
        iov_memset(tail, tn, 0, 0, SIZE_MAX);
    }
    if (n) {
        struct iovec head[niov];
        int hn = iov_slice(iov, niov, 0, n, head);
        ret = bdrv_preadv(bs->backing, offset, n, head, hn);
        if (ret < 0) {
            return ret;
        }
    }
    return 0;
}

static int read_compressed(BlockDriverState *bs, uint64_t l2_entry,
                           uint64_t offset, uint64_t bytes,
                           struct iovec *iov, int niov)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t coffset;
    int csize;
    uint8_t *in, *out;
    int ret;

    qcow2_parse_compressed_l2_entry(bs, l2_entry, &coffset, &csize);
    in = g_malloc(csize);
    out = g_malloc(s->cluster_size);
    ret = bdrv_pread(bs->file, coffset, in, csize);
    if (ret >= 0) {
        ret = qcow2_decompress(s, out, s->cluster_size, in, csize);
        if (ret < 0) {
            lemu_log_mask(LOG_GUEST_ERROR, "qcow2: compressed cluster at 0x%"
                          PRIx64 " does not decompress\n", coffset);
            ret = -EIO;
        }
    }
    if (ret >= 0) {
        iov_from_buf(iov, niov, 0, out + qcow2_offset_into_cluster(s, offset),
                     SIZE_MAX);
        ret = 0;
    }
    (void)bytes;
    g_free(in);
    g_free(out);
    return ret;
}

/* Reads one mapped run; NORMAL data is read as is (caller's locking). */
static int read_mapped(BlockDriverState *bs, const Qcow2Mapping *m,
                       uint64_t offset, uint64_t bytes, struct iovec *iov,
                       int niov)
{
    switch (m->type) {
    case QCOW2_CLUSTER_NORMAL:
        return bdrv_preadv(bs->file, m->host, bytes, iov, niov);
    case QCOW2_CLUSTER_ZERO_PLAIN:
    case QCOW2_CLUSTER_ZERO_ALLOC:
        iov_memset(iov, niov, 0, 0, SIZE_MAX);
        return 0;
    case QCOW2_CLUSTER_COMPRESSED:
        return read_compressed(bs, m->l2_entry, offset, bytes, iov, niov);
    case QCOW2_CLUSTER_UNALLOCATED:
    default:
        return read_backing(bs, offset, bytes, iov, niov);
    }
}

/* Reads guest data into @buf with s->lock held (copy-on-write). */
static int read_locked(BlockDriverState *bs, uint64_t offset, uint64_t bytes,
                       uint8_t *buf)
{
    while (bytes) {
        Qcow2Mapping m;
        uint64_t n = bytes;
        struct iovec iov;
        int ret = qcow2_get_host_offset(bs, offset, &n, &m);
        if (ret < 0) {
            return ret;
        }
        iov.iov_base = buf;
        iov.iov_len = n;
        ret = read_mapped(bs, &m, offset, n, &iov, 1);
        if (ret < 0) {
            return ret;
        }
        offset += n;
        buf += n;
        bytes -= n;
    }
    return 0;
}

int qcow2_preadv(BlockDriverState *bs, uint64_t offset, uint64_t bytes,
                 struct iovec *iov, int niov)
{
    BDRVQcow2State *s = bs->opaque;
    struct iovec *part = g_new(struct iovec, niov);
    uint64_t done = 0;
    int ret = 0;

    while (done < bytes) {
        Qcow2Mapping m;
        uint64_t n = bytes - done;
        int pn;

        g_mutex_lock(&s->lock);
        ret = qcow2_get_host_offset(bs, offset + done, &n, &m);
        if (ret < 0) {
            g_mutex_unlock(&s->lock);
            break;
        }
        /* Keep the clusters from being freed while we read them. */
        g_rw_lock_reader_lock(&s->data_io_lock);
        g_mutex_unlock(&s->lock);
        pn = iov_slice(iov, niov, done, n, part);
        ret = read_mapped(bs, &m, offset + done, n, part, pn);
        g_rw_lock_reader_unlock(&s->data_io_lock);
        if (ret < 0) {
            break;
        }
        done += n;
    }
    g_free(part);
    return ret < 0 ? ret : 0;
}

/* ---- writes ---- */

static bool cluster_needs_new_host(BDRVQcow2State *s, uint64_t entry)
{
    if (entry & QCOW_OFLAG_COMPRESSED) {
        return true;
    }
    if (!(entry & L2E_OFFSET_MASK)) {
        return true;
    }
    if (!(entry & QCOW_OFLAG_COPIED)) {
        return true;
    }
    /* Standard L2 zero cluster with a host cluster: not reused. */
    return !s->extended_l2 && (entry & QCOW_OFLAG_ZERO);
}

/* Extended L2, no host cluster yet: untouched subclusters keep state. */
static bool entry_keeps_subclusters(BDRVQcow2State *s, uint64_t entry)
{
    return s->extended_l2 && !(entry & QCOW_OFLAG_COMPRESSED) &&
           !(entry & L2E_OFFSET_MASK);
}

/* Subcluster bitmap with [from, to) of the cluster written as data. */
static uint64_t bitmap_mark_written(BDRVQcow2State *s, uint64_t bitmap,
                                    uint64_t from, uint64_t to)
{
    int first = from >> s->subcluster_bits;
    int last = (to - 1) >> s->subcluster_bits;

    for (int i = first; i <= last; i++) {
        bitmap |= 1ULL << i;
        bitmap &= ~(1ULL << (32 + i));
    }
    return bitmap;
}

/* Writes [head COW][data][tail COW] to @host with one request. */
static int write_with_cow(BlockDriverState *bs, uint64_t host,
                          uint64_t head_start, uint64_t offset,
                          uint64_t end, uint64_t tail_end,
                          struct iovec *iov, int niov, int flags)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t head_len = offset - head_start, tail_len = tail_end - end;
    uint8_t *head = NULL, *tail = NULL;
    struct iovec *v = g_new(struct iovec, niov + 2);
    const char *overlap;
    int n = 0, ret;

    overlap = qcow2_check_metadata_overlap(bs, host, tail_end - head_start);
    if (overlap) {
        g_free(v);
        return qcow2_signal_corruption(bs, "Preventing invalid write on "
            "metadata (overlaps with %s) at host offset 0x%" PRIx64,
            overlap, host);
    }
    if (head_len) {
        head = g_malloc(head_len);
        ret = read_locked(bs, head_start, head_len, head);
        if (ret < 0) {
            goto out;
        }
        v[n].iov_base = head;
        v[n++].iov_len = head_len;
    }
    n += iov_slice(iov, niov, 0, end - offset, v + n);
    if (tail_len) {
        tail = g_malloc(tail_len);
        ret = read_locked(bs, end, tail_len, tail);
        if (ret < 0) {
            goto out;
        }
        v[n].iov_base = tail;
        v[n++].iov_len = tail_len;
    }
    ret = bdrv_pwritev(bs->file, host, tail_end - head_start, v, n,
                       flags & BDRV_REQ_FUA);
    if (ret >= 0) {
        s->image_end = MAX(s->image_end, host + (tail_end - head_start));
        ret = 0;
    }
out:
    g_free(head);
    g_free(tail);
    g_free(v);
    return ret;
}

/*
 * The write of [offset, offset + *bytes) needs metadata changes: new host
 * clusters (with copy-on-write of the parts not written) or, with
 * extended L2, subclusters of an existing cluster. s->lock held; *bytes
 * is cut to what was done.
 */
static int alloc_write(BlockDriverState *bs, uint64_t offset,
                       uint64_t *bytes, struct iovec *iov, int niov,
                       int flags)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t cs = s->cluster_size;
    uint64_t cstart = offset & ~(cs - 1);
    unsigned l2_index = (offset >> s->cluster_bits) & (s->l2_size - 1);
    uint64_t end = offset + *bytes;
    uint64_t *l2;
    uint64_t e0, head_start, tail_end;
    uint64_t old_entries[64];
    int64_t host;
    unsigned n, nmax;
    int ret;

    ret = qcow2_mark_dirty(bs);
    if (ret < 0) {
        return ret;
    }
    ret = qcow2_get_l2_for_write(bs, offset, &l2);
    if (ret < 0) {
        return ret;
    }
    e0 = qcow2_get_l2_entry(s, l2, l2_index);

    if (!cluster_needs_new_host(s, e0)) {
        /* Extended L2: fill subclusters of our own host cluster. */
        uint64_t chost = e0 & L2E_OFFSET_MASK;
        uint64_t bitmap = qcow2_get_l2_bitmap(s, l2, l2_index);
        end = MIN(end, cstart + cs);
        head_start = offset & ~((uint64_t)s->subcluster_size - 1);
        tail_end = MIN(cstart + cs,
                       (end + s->subcluster_size - 1) &
                       ~((uint64_t)s->subcluster_size - 1));
        ret = write_with_cow(bs, chost + (head_start - cstart), head_start,
                             offset, end, tail_end, iov, niov, flags);
        if (ret < 0) {
            goto out;
        }
        bitmap = bitmap_mark_written(s, bitmap, head_start - cstart,
                                     tail_end - cstart);
        qcow2_set_l2_bitmap(s, l2, l2_index, bitmap);
        qcow2_cache_entry_mark_dirty(s->l2_table_cache, l2);
        *bytes = end - offset;
        goto out;
    }

    /* A run of clusters that all need a new host cluster. */
    nmax = MIN(s->l2_size - l2_index, G_N_ELEMENTS(old_entries));
    n = 0;
    while (n < nmax && cstart + (uint64_t)n * cs < end) {
        uint64_t e = qcow2_get_l2_entry(s, l2, l2_index + n);
        if (n && !cluster_needs_new_host(s, e)) {
            break;
        }
        old_entries[n++] = e;
    }
    end = MIN(end, cstart + (uint64_t)n * cs);

    host = qcow2_alloc_clusters(bs, (uint64_t)n * cs);
    if (host < 0) {
        ret = host;
        goto out;
    }
    head_start = cstart;
    if (entry_keeps_subclusters(s, old_entries[0])) {
        head_start = offset & ~((uint64_t)s->subcluster_size - 1);
    }
    tail_end = cstart + (uint64_t)n * cs;
    if (entry_keeps_subclusters(s, old_entries[n - 1])) {
        tail_end = MIN(tail_end, (end + s->subcluster_size - 1) &
                                 ~((uint64_t)s->subcluster_size - 1));
    }
    ret = write_with_cow(bs, host + (head_start - cstart), head_start,
                         offset, end, tail_end, iov, niov, flags);
    if (ret < 0) {
        qcow2_free_clusters(bs, host, (uint64_t)n * cs);
        goto out;
    }

    /* Data is written; now the refcounts, then the L2 entries. */
    if (qcow2_need_accurate_refcounts(s)) {
        ret = qcow2_cache_set_dependency(bs, s->l2_table_cache,
                                         s->refcount_block_cache);
        if (ret < 0) {
            goto out;
        }
    }
    for (unsigned i = 0; i < n; i++) {
        uint64_t c0 = cstart + (uint64_t)i * cs;
        uint64_t from = MAX(head_start, c0) - c0;
        uint64_t to = MIN(tail_end, c0 + cs) - c0;
        uint64_t bitmap = 0;

        qcow2_set_l2_entry(s, l2, l2_index + i,
                           ((uint64_t)host + (uint64_t)i * cs) |
                           QCOW_OFLAG_COPIED);
        if (s->extended_l2) {
            if (entry_keeps_subclusters(s, old_entries[i])) {
                bitmap = qcow2_get_l2_bitmap(s, l2, l2_index + i);
            }
            qcow2_set_l2_bitmap(s, l2, l2_index + i,
                                bitmap_mark_written(s, bitmap, from, to));
        }
    }
    qcow2_cache_entry_mark_dirty(s->l2_table_cache, l2);
    for (unsigned i = 0; i < n; i++) {
        ret = qcow2_free_old_entry(bs, old_entries[i]);
        if (ret < 0) {
            goto out;
        }
    }
    *bytes = end - offset;
    ret = 0;
out:
    qcow2_cache_put(s->l2_table_cache, (void **)&l2);
    return ret;
}

int qcow2_pwritev(BlockDriverState *bs, uint64_t offset, uint64_t bytes,
                  struct iovec *iov, int niov, int flags)
{
    BDRVQcow2State *s = bs->opaque;
    struct iovec *part = g_new(struct iovec, niov);
    uint64_t done = 0;
    bool allocated = false;
    int ret = 0;

    /* A write over several missing L2 tables makes them all at once. */
    if (bytes > ((uint64_t)s->cluster_size << s->l2_bits)) {
        g_mutex_lock(&s->lock);
        if (!s->corruption_signalled && !bs->read_only) {
            ret = qcow2_alloc_l2_tables(bs, offset, bytes);
        }
        g_mutex_unlock(&s->lock);
        if (ret < 0) {
            g_free(part);
            return ret;
        }
    }

    while (done < bytes) {
        Qcow2Mapping m;
        uint64_t n = bytes - done;
        int pn;

        g_mutex_lock(&s->lock);
        if (s->corruption_signalled || bs->read_only) {
            g_mutex_unlock(&s->lock);
            ret = bs->read_only ? -EACCES : -EIO;
            break;
        }
        ret = qcow2_get_host_offset(bs, offset + done, &n, &m);
        if (ret < 0) {
            g_mutex_unlock(&s->lock);
            break;
        }
        pn = iov_slice(iov, niov, done, n, part);
        if (m.type == QCOW2_CLUSTER_NORMAL &&
            (m.l2_entry & QCOW_OFLAG_COPIED)) {
            const char *overlap = qcow2_check_metadata_overlap(bs, m.host, n);
            if (overlap) {
                ret = qcow2_signal_corruption(bs, "Preventing invalid write "
                    "on metadata (overlaps with %s) at host offset 0x%"
                    PRIx64, overlap, m.host);
                g_mutex_unlock(&s->lock);
                break;
            }
            g_rw_lock_reader_lock(&s->data_io_lock);
            g_mutex_unlock(&s->lock);
            ret = bdrv_pwritev(bs->file, m.host, n, part, pn,
                               flags & BDRV_REQ_FUA);
            g_rw_lock_reader_unlock(&s->data_io_lock);
        } else {
            ret = alloc_write(bs, offset + done, &n, part, pn, flags);
            g_mutex_unlock(&s->lock);
            allocated = true;
        }
        if (ret < 0) {
            break;
        }
        done += n;
    }
    g_free(part);
    if (ret >= 0 && allocated && (flags & BDRV_REQ_FUA)) {
        /* FUA covers the metadata that maps the data, too. */
        g_mutex_lock(&s->lock);
        ret = qcow2_cache_write(bs, s->l2_table_cache);
        if (ret == 0) {
            ret = qcow2_cache_write(bs, s->refcount_block_cache);
        }
        g_mutex_unlock(&s->lock);
        if (ret == 0) {
            ret = bdrv_flush(bs->file);
        }
    }
    return ret < 0 ? ret : 0;
}

/* ---- zero writes and discard ---- */

static int write_zero_buffer(BlockDriverState *bs, uint64_t offset,
                             uint64_t bytes)
{
    uint64_t chunk = MIN(bytes, 1024 * 1024);
    uint8_t *buf = g_malloc0(chunk);
    int ret = 0;

    while (bytes) {
        uint64_t n = MIN(bytes, chunk);
        struct iovec iov = { buf, n };
        ret = qcow2_pwritev(bs, offset, n, &iov, 1, 0);
        if (ret < 0) {
            break;
        }
        offset += n;
        bytes -= n;
    }
    g_free(buf);
    return ret;
}

int qcow2_pwrite_zeroes(BlockDriverState *bs, uint64_t offset,
                        uint64_t bytes, int flags)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t gran = s->subcluster_size;
    uint64_t end = offset + bytes;
    int ret = 0;

    if (bs->read_only) {
        return -EACCES;
    }
    if (s->qcow_version < 3) {
        /* No zero flag: write zeroes where the disk does not already
         * read as zero. */
        while (offset < end) {
            uint64_t pnum, map;
            BlockDriverState *file;
            ret = qcow2_block_status(bs, offset, end - offset, &pnum, &map,
                                     &file);
            if (ret < 0) {
                return ret;
            }
            if (!(ret & BDRV_BLOCK_ZERO)) {
                if (flags & BDRV_REQ_NO_FALLBACK) {
                    return -ENOTSUP;
                }
                ret = write_zero_buffer(bs, offset, pnum);
                if (ret < 0) {
                    return ret;
                }
            }
            offset += pnum;
        }
        return 0;
    }
    while (offset < end) {
        uint64_t astart = (offset + gran - 1) & ~(gran - 1);
        uint64_t n;

        if (astart != offset || end - offset < gran) {
            /* An unaligned piece: real zeroes. */
            n = MIN(end, astart > offset ? astart : offset + gran) - offset;
            n = MIN(n, end - offset);
            if (flags & BDRV_REQ_NO_FALLBACK) {
                return -ENOTSUP;
            }
            ret = write_zero_buffer(bs, offset, n);
        } else {
            n = (end & ~(gran - 1)) - offset;
            g_mutex_lock(&s->lock);
            if (s->corruption_signalled) {
                ret = -EIO;
            } else {
                ret = qcow2_mark_dirty(bs);
                if (ret == 0) {
                    ret = qcow2_zero_or_discard_clusters(bs, offset, &n,
                                                         false, flags);
                }
            }
            g_mutex_unlock(&s->lock);
            if (ret == -ENOTSUP) {
                if (flags & BDRV_REQ_NO_FALLBACK) {
                    return -ENOTSUP;
                }
                n = MIN(s->cluster_size - qcow2_offset_into_cluster(s,
                        offset), end - offset);
                ret = write_zero_buffer(bs, offset, n);
            }
        }
        if (ret < 0) {
            return ret;
        }
        offset += n;
    }
    return 0;
}

int qcow2_pdiscard(BlockDriverState *bs, uint64_t offset, uint64_t bytes)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t gran = s->subcluster_size;
    uint64_t start = (offset + gran - 1) & ~(gran - 1);
    uint64_t end = (offset + bytes) & ~(gran - 1);
    int ret = 0;

    if (bs->read_only) {
        return -EACCES;
    }
    /* Partial clusters are ignored (discard is only a hint), but the
     * last cluster of the disk may be short. */
    if (offset + bytes >= s->size) {
        end = offset + bytes;
    }
    while (start < end) {
        uint64_t n = end - start;
        g_mutex_lock(&s->lock);
        if (s->corruption_signalled) {
            ret = -EIO;
        } else {
            ret = qcow2_mark_dirty(bs);
            if (ret == 0) {
                ret = qcow2_zero_or_discard_clusters(bs, start, &n, true,
                                                     0);
            }
        }
        g_mutex_unlock(&s->lock);
        if (ret == -ENOTSUP) {
            /* A compressed or shared cluster partly discarded: skip. */
            n = MIN(s->cluster_size - qcow2_offset_into_cluster(s, start),
                    end - start);
            ret = 0;
        }
        if (ret < 0) {
            return ret;
        }
        start += n;
    }
    return 0;
}

/* ---- compressed writes ---- */

int qcow2_pwrite_compressed(BlockDriverState *bs, uint64_t offset,
                            uint64_t bytes, struct iovec *iov, int niov)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t cs = s->cluster_size;
    uint8_t *buf, *out;
    ssize_t out_len;
    uint64_t *l2 = NULL;
    unsigned l2_index;
    int64_t coffset;
    uint64_t e, nb_sectors;
    const char *overlap;
    int ret;

    if (bs->read_only) {
        return -EACCES;
    }
    if (qcow2_offset_into_cluster(s, offset) || bytes > cs ||
        (bytes < cs && offset + bytes != s->size) || bytes == 0) {
        return -EINVAL;
    }
    buf = g_malloc0(cs);
    out = g_malloc(cs);
    iov_to_buf(iov, niov, 0, buf, SIZE_MAX);
    out_len = qcow2_compress(s, out, cs - 1, buf, cs);
    if (out_len == -ENOMEM) {
        /* Does not shrink: store it uncompressed, as QEMU does. */
        struct iovec v = { buf, bytes };
        ret = qcow2_pwritev(bs, offset, bytes, &v, 1, 0);
        goto out_free;
    }
    if (out_len < 0) {
        ret = -EIO;
        goto out_free;
    }

    g_mutex_lock(&s->lock);
    if (s->corruption_signalled) {
        ret = -EIO;
        goto out_unlock;
    }
    ret = qcow2_mark_dirty(bs);
    if (ret < 0) {
        goto out_unlock;
    }
    ret = qcow2_get_l2_for_write(bs, offset, &l2);
    if (ret < 0) {
        goto out_unlock;
    }
    l2_index = (offset >> s->cluster_bits) & (s->l2_size - 1);
    e = qcow2_get_l2_entry(s, l2, l2_index);
    if ((e & L2E_OFFSET_MASK) || (e & QCOW_OFLAG_COMPRESSED)) {
        /* Compression never overwrites an allocated cluster. */
        ret = -EIO;
        goto out_put;
    }
    coffset = qcow2_alloc_bytes(bs, out_len);
    if (coffset < 0) {
        ret = coffset;
        goto out_put;
    }
    overlap = qcow2_check_metadata_overlap(bs, coffset, out_len);
    if (overlap) {
        ret = qcow2_signal_corruption(bs, "Preventing invalid compressed "
            "write on metadata (overlaps with %s) at 0x%" PRIx64, overlap,
            coffset);
        goto out_put;
    }
    ret = bdrv_pwrite(bs->file, coffset, out, out_len, 0);
    if (ret < 0) {
        goto out_put;
    }
    s->image_end = MAX(s->image_end, (uint64_t)coffset + out_len);
    if (qcow2_need_accurate_refcounts(s)) {
        ret = qcow2_cache_set_dependency(bs, s->l2_table_cache,
                                         s->refcount_block_cache);
        if (ret < 0) {
            goto out_put;
        }
    }
    nb_sectors = ((coffset + out_len - 1) >> 9) - (coffset >> 9);
    qcow2_set_l2_entry(s, l2, l2_index, QCOW_OFLAG_COMPRESSED |
                       (uint64_t)coffset | (nb_sectors << s->csize_shift));
    qcow2_set_l2_bitmap(s, l2, l2_index, 0);
    qcow2_cache_entry_mark_dirty(s->l2_table_cache, l2);
    ret = 0;
out_put:
    qcow2_cache_put(s->l2_table_cache, (void **)&l2);
out_unlock:
    g_mutex_unlock(&s->lock);
out_free:
    g_free(buf);
    g_free(out);
    return ret;
}

/* ---- block status ---- */

int qcow2_block_status(BlockDriverState *bs, uint64_t offset,
                       uint64_t bytes, uint64_t *pnum, uint64_t *map,
                       BlockDriverState **file)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    g_mutex_lock(&s->lock);
    ret = qcow2_block_status_locked(bs, offset, bytes, pnum, map, file);
    g_mutex_unlock(&s->lock);
    return ret;
}

int qcow2_block_status_locked(BlockDriverState *bs, uint64_t offset,
                              uint64_t bytes, uint64_t *pnum, uint64_t *map,
                              BlockDriverState **file)
{
    Qcow2Mapping m;
    uint64_t n = bytes;
    int ret;

    ret = qcow2_get_host_offset(bs, offset, &n, &m);
    if (ret < 0) {
        return ret;
    }
    *pnum = n;
    switch (m.type) {
    case QCOW2_CLUSTER_NORMAL:
        *map = m.host;
        *file = bs->file;
        return BDRV_BLOCK_DATA | BDRV_BLOCK_OFFSET_VALID |
               BDRV_BLOCK_ALLOCATED;
    case QCOW2_CLUSTER_ZERO_ALLOC:
        *map = m.host;
        *file = bs->file;
        return BDRV_BLOCK_ZERO | BDRV_BLOCK_OFFSET_VALID |
               BDRV_BLOCK_ALLOCATED;
    case QCOW2_CLUSTER_ZERO_PLAIN:
        return BDRV_BLOCK_ZERO | BDRV_BLOCK_ALLOCATED;
    case QCOW2_CLUSTER_COMPRESSED:
        return BDRV_BLOCK_DATA | BDRV_BLOCK_COMPRESSED |
               BDRV_BLOCK_ALLOCATED;
    case QCOW2_CLUSTER_UNALLOCATED:
    default:
        return (bs->backing || bs->backing_file[0]) ? 0 : BDRV_BLOCK_ZERO;
    }
}
