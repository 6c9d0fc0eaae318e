/*
 * qcow2 refcounts: the refcount table and blocks, cluster allocation and
 * freeing, refcount table growth and the metadata overlap check.
 *
 * Every function here expects the caller to hold s->lock.
 *
 * A refcount block holds refcount_block_size entries of refcount_bits
 * each. Entries of 8 bits and more are big endian; narrower ones are
 * packed into bytes starting at the least significant bit, entry 0 in
 * bits 0.. of byte 0.
 *
 * Crash safety: a refcount increase reaches the file before anything
 * points at the cluster, a decrease only after the reference is gone, so
 * the on-disk refcount is never below the real use (a crash leaks). A
 * cluster whose refcount falls to 0 is not handed out again until the
 * change that dropped the reference is on disk (s->freed_pending): new
 * data is written to a cluster before its L2 entry, so reusing it at
 * once would let a crash leave the old L2 entry pointing at the new
 * data. That holds with lazy refcounts too.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include "lemu/util/log.h"
#include "qcow2.h"

/* Highest host offset an L2 entry can hold (bits 9-55). */
#define QCOW2_MAX_HOST_OFFSET   ((1ULL << 56) - 1)

/* ---- refcount entries inside a block ---- */

uint64_t qcow2_refblock_get(BDRVQcow2State *s, const void *block,
                           uint64_t index)
{
    const uint8_t *b = block;

    switch (s->refcount_order) {
    case 0:
        return (b[index / 8] >> (index % 8)) & 0x1;
    case 1:
        return (b[index / 4] >> (2 * (index % 4))) & 0x3;
    case 2:
        return (b[index / 2] >> (4 * (index % 2))) & 0xf;
    case 3:
        return b[index];
    case 4: {
        uint16_t v;
        memcpy(&v, b + index * 2, 2);
        return GUINT16_FROM_BE(v);
    }
    case 5: {
        uint32_t v;
        memcpy(&v, b + index * 4, 4);
        return GUINT32_FROM_BE(v);
    }
    default: {
        uint64_t v;
        memcpy(&v, b + index * 8, 8);
        return GUINT64_FROM_BE(v);
    }
    }
}

void qcow2_refblock_set(BDRVQcow2State *s, void *block, uint64_t index,
                       uint64_t value)
{
    uint8_t *b = block;
    unsigned shift;

    switch (s->refcount_order) {
    case 0:
        shift = index % 8;
        b[index / 8] = (b[index / 8] & ~(0x1 << shift)) |
                       ((value & 0x1) << shift);
        break;
    case 1:
        shift = 2 * (index % 4);
        b[index / 4] = (b[index / 4] & ~(0x3 << shift)) |
                       ((value & 0x3) << shift);
        break;
    case 2:
        shift = 4 * (index % 2);
        b[index / 2] = (b[index / 2] & ~(0xf << shift)) |
                       ((value & 0xf) << shift);
        break;
    case 3:
        b[index] = value;
        break;
    case 4: {
        uint16_t v = GUINT16_TO_BE((uint16_t)value);
        memcpy(b + index * 2, &v, 2);
        break;
    }
    case 5: {
        uint32_t v = GUINT32_TO_BE((uint32_t)value);
        memcpy(b + index * 4, &v, 4);
        break;
    }
    default: {
        uint64_t v = GUINT64_TO_BE(value);
        memcpy(b + index * 8, &v, 8);
        break;
    }
    }
}

static int flush_file(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;

    return s->no_flush ? 0 : bdrv_flush(bs->file);
}

/* ---- clusters freed but not yet reusable ---- */

/* Above this many waiting clusters (or bytes), the allocator writes the
 * L2 cache and flushes instead of letting the file grow further. */
#define FREED_PENDING_MAX_CLUSTERS  8192
#define FREED_PENDING_MAX_BYTES     (256ULL * 1024 * 1024)

static bool cluster_freed_pending(BDRVQcow2State *s, uint64_t cluster)
{
    return s->freed_pending &&
           g_hash_table_contains(s->freed_pending, &cluster);
}

static void add_freed_pending(BDRVQcow2State *s, uint64_t cluster)
{
    uint64_t *key;

    if (!s->freed_pending) {
        s->freed_pending = g_hash_table_new_full(g_int64_hash,
                                                 g_int64_equal, g_free,
                                                 NULL);
        s->freed_pending_min = cluster;
    }
    key = g_new(uint64_t, 1);
    *key = cluster;
    g_hash_table_add(s->freed_pending, key);
    s->freed_pending_min = MIN(s->freed_pending_min, cluster);
}

bool qcow2_have_freed_clusters(BDRVQcow2State *s)
{
    return s->freed_pending && g_hash_table_size(s->freed_pending) > 0;
}

void qcow2_release_freed_clusters(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;

    if (!s->freed_pending) {
        return;
    }
    if (g_hash_table_size(s->freed_pending) > 0 &&
        s->freed_pending_min < s->free_cluster_index) {
        s->free_cluster_index = s->freed_pending_min;
    }
    g_hash_table_destroy(s->freed_pending);
    s->freed_pending = NULL;
}

/* Keeps the waiting set bounded: makes the frees stable when it is big. */
static int limit_freed_pending(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t n;

    if (!s->freed_pending) {
        return 0;
    }
    n = g_hash_table_size(s->freed_pending);
    if (n < FREED_PENDING_MAX_CLUSTERS &&
        (n << s->cluster_bits) < FREED_PENDING_MAX_BYTES) {
        return 0;
    }
    /* Releases the set once written and flushed. */
    return qcow2_cache_flush(bs, s->l2_table_cache);
}

/* ---- init and close ---- */

/* The overlap check only walks the table up to the last used entry. */
void qcow2_refcount_update_max_index(BDRVQcow2State *s)
{
    uint32_t i = s->refcount_table_size;

    while (i > 0 && s->refcount_table[i - 1] == 0) {
        i--;
    }
    s->max_refcount_table_index = i ? i - 1 : 0;
}

static void refcount_set_geometry(BDRVQcow2State *s)
{
    s->refcount_bits = 1 << s->refcount_order;
    s->refcount_max = s->refcount_order == 6 ? UINT64_MAX
                      : (1ULL << s->refcount_bits) - 1;
    s->refcount_block_bits = s->cluster_bits + 3 - s->refcount_order;
    s->refcount_block_size = 1U << s->refcount_block_bits;
}

int qcow2_refcount_init_errp(BlockDriverState *bs, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t bytes, file_len, i;
    int64_t len;
    int ret;

    if (s->refcount_order < 0 || s->refcount_order > 6) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "qcow2: refcount_order %d is invalid (expected 0..6)",
                    s->refcount_order);
        return -EINVAL;
    }
    refcount_set_geometry(s);
    s->free_cluster_index = 0;
    s->free_byte_offset = 0;
    if (s->freed_pending) {
        g_hash_table_destroy(s->freed_pending);
        s->freed_pending = NULL;
    }

    bytes = (uint64_t)s->refcount_table_size * 8;
    if (s->refcount_table_size == 0 || bytes > QCOW2_MAX_REFTABLE_BYTES) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "qcow2: refcount table of %u entries is invalid "
                    "(expected 1..%u)", s->refcount_table_size,
                    QCOW2_MAX_REFTABLE_BYTES / 8);
        return -EINVAL;
    }
    if (s->refcount_table_offset == 0 ||
        qcow2_offset_into_cluster(s, s->refcount_table_offset)) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "qcow2: refcount table offset 0x%" G_GINT64_MODIFIER
                    "x is invalid (expected a non-zero multiple of the "
                    "cluster size)", s->refcount_table_offset);
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
    if (s->refcount_table_offset > file_len ||
        bytes > file_len - s->refcount_table_offset) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "qcow2: refcount table at 0x%" G_GINT64_MODIFIER
                    "x (%" G_GUINT64_FORMAT " bytes) lies past the end of "
                    "the image file", s->refcount_table_offset, bytes);
        return -EINVAL;
    }

    g_free(s->refcount_table);
    s->refcount_table = g_malloc(bytes);
    ret = bdrv_pread(bs->file, s->refcount_table_offset, s->refcount_table,
                     bytes);
    if (ret < 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                    "qcow2: cannot read the refcount table: %s",
                    g_strerror(-ret));
        goto fail;
    }
    for (i = 0; i < s->refcount_table_size; i++) {
        s->refcount_table[i] = GUINT64_FROM_BE(s->refcount_table[i]);
    }

    qcow2_refcount_update_max_index(s);

    /* Opened for check: let check report bad entries itself. */
    if (bs->open_flags & BDRV_O_CHECK) {
        return 0;
    }
    for (i = 0; i < s->refcount_table_size; i++) {
        uint64_t e = s->refcount_table[i];
        uint64_t off = e & REFT_OFFSET_MASK;

        if (e == 0) {
            continue;
        }
        if ((e & REFT_RESERVED_MASK) || qcow2_offset_into_cluster(s, off)) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "qcow2: Image is corrupt: refcount block %"
                        G_GUINT64_FORMAT " offset 0x%" G_GINT64_MODIFIER
                        "x is not cluster aligned or has reserved bits "
                        "set; run 'lemu-img check -r all'", i, e);
            ret = -EINVAL;
            goto fail;
        }
        if (off > file_len || s->cluster_size > file_len - off) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "qcow2: Image is corrupt: refcount block %"
                        G_GUINT64_FORMAT " at 0x%" G_GINT64_MODIFIER
                        "x lies past the end of the image file; run "
                        "'lemu-img check -r all'", i, off);
            ret = -EINVAL;
            goto fail;
        }
    }
    return 0;

fail:
    g_free(s->refcount_table);
    s->refcount_table = NULL;
    return ret;
}

int qcow2_refcount_init(BlockDriverState *bs)
{
    GError *err = NULL;
    int ret = qcow2_refcount_init_errp(bs, &err);

    if (ret < 0) {
        error_report_err(err);
    }
    return ret;
}

void qcow2_refcount_close(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;

    g_free(s->refcount_table);
    s->refcount_table = NULL;
    if (s->freed_pending) {
        g_hash_table_destroy(s->freed_pending);
        s->freed_pending = NULL;
    }
}

/* ---- reading refcounts ---- */

/* Offset of the refcount block for table index @ti; 0 if none. */
static int refblock_offset(BlockDriverState *bs, uint64_t ti,
                           uint64_t *offset)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t off;

    *offset = 0;
    if (ti >= s->refcount_table_size) {
        return 0;
    }
    off = s->refcount_table[ti] & REFT_OFFSET_MASK;
    if (off && qcow2_offset_into_cluster(s, off)) {
        return qcow2_signal_corruption(bs, "Refblock offset %#" PRIx64
                                       " unaligned (reftable index: %#"
                                       PRIx64 ")", off, ti);
    }
    *offset = off;
    return 0;
}

/*
 * Walks refcounts cluster by cluster, keeping the current refcount block
 * pinned while the walk stays inside it.
 */
typedef struct RefCursor {
    uint64_t ti;
    void *block;            /* NULL: no block, refcounts read 0 */
    bool valid;
} RefCursor;

static int cursor_load(BlockDriverState *bs, RefCursor *cur, uint64_t cluster)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t ti = cluster >> s->refcount_block_bits;
    uint64_t off;
    int ret;

    if (cur->valid && cur->ti == ti) {
        return 0;
    }
    if (cur->block) {
        qcow2_cache_put(s->refcount_block_cache, &cur->block);
        cur->block = NULL;
    }
    cur->valid = false;
    ret = refblock_offset(bs, ti, &off);
    if (ret < 0) {
        return ret;
    }
    if (off) {
        ret = qcow2_cache_get(bs, s->refcount_block_cache, off, &cur->block);
        if (ret < 0) {
            cur->block = NULL;
            return ret;
        }
    }
    cur->ti = ti;
    cur->valid = true;
    return 0;
}

static int cursor_get(BlockDriverState *bs, RefCursor *cur, uint64_t cluster,
                      uint64_t *refcount)
{
    BDRVQcow2State *s = bs->opaque;
    int ret = cursor_load(bs, cur, cluster);

    if (ret < 0) {
        return ret;
    }
    *refcount = 0;
    if (cur->block) {
        *refcount = qcow2_refblock_get(s, cur->block,
                                       cluster & (s->refcount_block_size - 1));
    }
    return 0;
}

static void cursor_done(BlockDriverState *bs, RefCursor *cur)
{
    BDRVQcow2State *s = bs->opaque;

    if (cur->block) {
        qcow2_cache_put(s->refcount_block_cache, &cur->block);
        cur->block = NULL;
    }
    cur->valid = false;
}

int qcow2_get_refcount(BlockDriverState *bs, uint64_t cluster_index,
                       uint64_t *refcount)
{
    RefCursor cur = { 0 };
    int ret = cursor_get(bs, &cur, cluster_index, refcount);

    cursor_done(bs, &cur);
    return ret;
}

/* ---- allocation ---- */

static uint64_t max_cluster_index(BDRVQcow2State *s)
{
    return QCOW2_MAX_HOST_OFFSET >> s->cluster_bits;
}

/*
 * First run of @nb clusters with refcount 0 at or after the allocation
 * hint (clusters no refcount block describes count as free), which moves
 * to the run found. Never returns cluster 0, the header, nor a cluster
 * whose freeing is not stable yet.
 */
static int find_free_range(BlockDriverState *bs, uint64_t nb, uint64_t *start)
{
    BDRVQcow2State *s = bs->opaque;
    RefCursor cur = { 0 };
    uint64_t i = MAX(s->free_cluster_index, 1);
    uint64_t run_start = i, run = 0, rc;
    uint64_t limit = max_cluster_index(s);
    int ret;

    while (run < nb) {
        if (i > limit) {
            cursor_done(bs, &cur);
            return -EFBIG;
        }
        /* A missing block means a whole block of free clusters. */
        ret = cursor_load(bs, &cur, i);
        if (ret < 0) {
            cursor_done(bs, &cur);
            return ret;
        }
        if (!cur.block) {
            uint64_t next = ((i >> s->refcount_block_bits) + 1)
                            << s->refcount_block_bits;
            if (run == 0) {
                run_start = i;
            }
            run += next - i;
            i = next;
            continue;
        }
        rc = qcow2_refblock_get(s, cur.block, i & (s->refcount_block_size - 1));
        if (rc == 0 && !cluster_freed_pending(s, i)) {
            if (run == 0) {
                run_start = i;
            }
            run++;
        } else {
            run = 0;
        }
        i++;
    }
    cursor_done(bs, &cur);
    if (run_start + nb - 1 > limit) {
        return -EFBIG;
    }
    /* Like QEMU, holes skipped on the way are forgotten until a free
     * lowers the hint again: the scan stays amortised O(1). */
    s->free_cluster_index = run_start;
    *start = run_start;
    return 0;
}

static int update_refcount_range(BlockDriverState *bs, uint64_t offset,
                                 uint64_t length, int64_t addend,
                                 bool stable);

static int write_reftable_entry(BlockDriverState *bs, uint64_t ti)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t be = GUINT64_TO_BE(s->refcount_table[ti]);

    return bdrv_pwrite(bs->file, s->refcount_table_offset + ti * 8, &be,
                       8, 0);
}

/*
 * Replaces the refcount table by a larger one of at least @min_entries.
 * The new table and the refcount blocks that describe it go right after
 * the last cluster the old table can describe (all free by definition);
 * the header switches to it in one write; the old table is freed after.
 */
static int grow_refcount_table(BlockDriverState *bs, uint64_t min_entries)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t old_size = s->refcount_table_size;
    uint64_t per_block = s->refcount_block_size;
    uint64_t cs = s->cluster_size;
    uint64_t area = old_size * per_block;      /* first cluster index */
    uint64_t entries, tc, k, i;
    uint64_t old_offset = s->refcount_table_offset;
    uint64_t old_clusters = (old_size * 8 + cs - 1) / cs;
    uint64_t *table = NULL;
    uint8_t *blocks = NULL;
    uint8_t hdr[12];
    uint64_t v64;
    uint32_t v32;
    int ret;

    entries = MAX(min_entries, old_size + old_size / 2);
    entries = MAX(entries, old_size + 1);
    for (;;) {
        tc = (entries * 8 + cs - 1) / cs;
        entries = tc * cs / 8;
        /* k blocks must describe themselves and the table. */
        k = (tc + per_block - 2) / (per_block - 1);
        if (k == 0) {
            k = 1;
        }
        if (entries >= old_size + k) {
            break;
        }
        entries = old_size + k;
    }
    if (tc * cs > QCOW2_MAX_REFTABLE_BYTES ||
        area + k + tc > max_cluster_index(s)) {
        return -EFBIG;
    }

    blocks = g_malloc0(k * cs);
    for (i = 0; i < k + tc; i++) {
        qcow2_refblock_set(s, blocks + (i / per_block) * cs, i % per_block, 1);
    }
    table = g_malloc0(tc * cs);
    for (i = 0; i < old_size; i++) {
        table[i] = GUINT64_TO_BE(s->refcount_table[i]);
    }
    for (i = 0; i < k; i++) {
        table[old_size + i] = GUINT64_TO_BE((area + i) * cs);
    }

    ret = bdrv_pwrite(bs->file, area * cs, blocks, k * cs, 0);
    if (ret < 0) {
        goto out;
    }
    ret = bdrv_pwrite(bs->file, (area + k) * cs, table, tc * cs, 0);
    if (ret < 0) {
        goto out;
    }
    ret = flush_file(bs);
    if (ret < 0) {
        goto out;
    }

    /* refcount_table_offset (48) and refcount_table_clusters (56). */
    v64 = GUINT64_TO_BE((area + k) * cs);
    v32 = GUINT32_TO_BE((uint32_t)tc);
    memcpy(hdr, &v64, 8);
    memcpy(hdr + 8, &v32, 4);
    ret = bdrv_pwrite(bs->file, 48, hdr, sizeof(hdr), 0);
    if (ret < 0) {
        goto out;
    }
    ret = flush_file(bs);
    if (ret < 0) {
        goto out;
    }

    for (i = 0; i < entries; i++) {
        table[i] = GUINT64_FROM_BE(table[i]);
    }
    g_free(s->refcount_table);
    s->refcount_table = table;
    table = NULL;
    s->refcount_table_size = entries;
    s->refcount_table_offset = (area + k) * cs;
    qcow2_refcount_update_max_index(s);

    /* The header switch is flushed: the old table may be reused now. */
    ret = update_refcount_range(bs, old_offset, old_clusters * cs, -1, true);
    if (ret < 0) {
        error_report("qcow2: freeing the old refcount table at 0x%" PRIx64
                     " failed: %s", old_offset, g_strerror(-ret));
    }
    ret = 0;
out:
    g_free(blocks);
    g_free(table);
    return ret;
}

static int write_new_refblock(BlockDriverState *bs, uint64_t ti,
                              uint64_t cluster, bool self)
{
    BDRVQcow2State *s = bs->opaque;
    uint8_t *block = g_malloc0(s->cluster_size);
    int ret;

    if (self) {
        qcow2_refblock_set(s, block, cluster & (s->refcount_block_size - 1), 1);
    }
    ret = bdrv_pwrite(bs->file, cluster << s->cluster_bits, block,
                      s->cluster_size, 0);
    g_free(block);
    if (ret < 0) {
        return ret;
    }
    /* The block must be stable before the table points at it. */
    ret = flush_file(bs);
    if (ret < 0) {
        return ret;
    }
    s->refcount_table[ti] = cluster << s->cluster_bits;
    ret = write_reftable_entry(bs, ti);
    if (ret < 0) {
        s->refcount_table[ti] = 0;
        return ret;
    }
    s->max_refcount_table_index = MAX(s->max_refcount_table_index, ti);
    return 0;
}

/*
 * Makes progress towards a refcount block for table index @ti: grows the
 * table, or allocates one refcount block (for @ti or, when the first
 * free cluster lies in another undescribed range, for that range, the
 * block describing itself). The caller loops until @ti is covered.
 */
static int alloc_refcount_block(BlockDriverState *bs, uint64_t ti)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t c, ti2, off;
    int ret;

    if (ti >= s->refcount_table_size) {
        return grow_refcount_table(bs, ti + 1);
    }
    ret = find_free_range(bs, 1, &c);
    if (ret < 0) {
        return ret;
    }
    ti2 = c >> s->refcount_block_bits;
    if (ti2 >= s->refcount_table_size) {
        return grow_refcount_table(bs, ti2 + 1);
    }
    ret = refblock_offset(bs, ti2, &off);
    if (ret < 0) {
        return ret;
    }
    if (!off) {
        return write_new_refblock(bs, ti2, c, true);
    }

    /* Described by an existing block: count it there first (the flush
     * in write_new_refblock makes it stable before the table entry). */
    ret = qcow2_update_cluster_refcount_range(bs, c << s->cluster_bits,
                                              s->cluster_size, 1);
    if (ret < 0) {
        return ret;
    }
    ret = qcow2_cache_write(bs, s->refcount_block_cache);
    if (ret < 0) {
        return ret;
    }
    return write_new_refblock(bs, ti, c, false);
}

/* Most refcount blocks one batch allocates, and how far past the
 * clusters asked for it covers ahead. */
#define REFBLOCK_BATCH          64
#define REFBLOCK_AHEAD_BYTES    (4ULL * 1024 * 1024)

/*
 * Allocates refcount blocks for the @k table indices @tis (ascending, all
 * inside the table, none with a block yet) in one run of free clusters:
 * a block's own refcount goes into an existing block (through the cache)
 * or into one of the new blocks; then the blocks are written, one flush
 * covers all of them, and the table entries follow. Returns 1 when done,
 * 0 when the run lies where neither kind of block describes it (the
 * caller then goes one block at a time).
 */
static int alloc_refcount_blocks_batch(BlockDriverState *bs,
                                       const uint64_t *tis, unsigned k)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t cs = s->cluster_size;
    uint64_t c, off;
    uint8_t *blocks;
    int ret;

    ret = find_free_range(bs, k, &c);
    if (ret < 0) {
        return ret;
    }
    blocks = g_malloc0((size_t)k * cs);
    /* Pass 1: where does each block's own refcount go? */
    for (unsigned j = 0; j < k; j++) {
        uint64_t r = (c + j) >> s->refcount_block_bits;
        unsigned m;

        for (m = 0; m < k && tis[m] != r; m++) {
        }
        if (m < k) {
            qcow2_refblock_set(s, blocks + (size_t)m * cs,
                               (c + j) & (s->refcount_block_size - 1), 1);
            continue;
        }
        ret = refblock_offset(bs, r, &off);
        if (ret < 0 || !off) {
            g_free(blocks);
            return ret < 0 ? ret : 0;
        }
    }
    /* Pass 2: the ones that existing blocks describe. */
    for (unsigned j = 0; j < k; j++) {
        uint64_t r = (c + j) >> s->refcount_block_bits;
        unsigned m;

        for (m = 0; m < k && tis[m] != r; m++) {
        }
        if (m == k) {
            ret = qcow2_update_cluster_refcount_range(bs, (c + j) * cs, cs,
                                                      1);
            if (ret < 0) {
                g_free(blocks);
                return ret;
            }
        }
    }
    ret = qcow2_cache_write(bs, s->refcount_block_cache);
    if (ret == 0) {
        ret = bdrv_pwrite(bs->file, c * cs, blocks, (uint64_t)k * cs, 0);
    }
    g_free(blocks);
    if (ret < 0) {
        return ret;
    }
    /* Blocks and their refcounts stable before the table points there. */
    ret = flush_file(bs);
    if (ret < 0) {
        return ret;
    }
    for (unsigned j = 0; j < k; j++) {
        s->refcount_table[tis[j]] = (c + j) * cs;
        ret = write_reftable_entry(bs, tis[j]);
        if (ret < 0) {
            s->refcount_table[tis[j]] = 0;
            return ret;
        }
        s->max_refcount_table_index = MAX(s->max_refcount_table_index,
                                          tis[j]);
    }
    s->image_end = MAX(s->image_end, (c + k) * cs);
    return 1;
}

/* Makes sure refcount blocks describe clusters [first, last]. Returns 1
 * when it allocated something (free clusters may have been taken). */
static int ensure_covered(BlockDriverState *bs, uint64_t first,
                          uint64_t last)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t tis[REFBLOCK_BATCH];
    unsigned k = 0;
    uint64_t ti;
    int changed = 0, ret;

    /*
     * Missing blocks inside the table go in one batch, with the blocks
     * for the ranges just after them that have none either (up to
     * REFBLOCK_AHEAD_BYTES of clusters): a growing image then pays one
     * flush per batch instead of one per block.
     */
    for (ti = first >> s->refcount_block_bits;
         k < REFBLOCK_BATCH && ti < s->refcount_table_size; ti++) {
        uint64_t off;
        bool ahead = ti > (last >> s->refcount_block_bits);

        if (ahead && (k == 0 ||
                      ((ti - (last >> s->refcount_block_bits)) <<
                       (s->refcount_block_bits + s->cluster_bits)) >
                      REFBLOCK_AHEAD_BYTES)) {
            break;
        }
        ret = refblock_offset(bs, ti, &off);
        if (ret < 0) {
            return ret;
        }
        if (!off) {
            tis[k++] = ti;
        } else if (ahead) {
            break;
        }
    }
    if (k > 1) {
        ret = alloc_refcount_blocks_batch(bs, tis, k);
        if (ret < 0) {
            return ret;
        }
        changed = ret;
    }

    for (ti = first >> s->refcount_block_bits;
         ti <= (last >> s->refcount_block_bits); ti++) {
        for (;;) {
            uint64_t off;

            ret = refblock_offset(bs, ti, &off);
            if (ret < 0) {
                return ret;
            }
            if (off) {
                break;
            }
            ret = alloc_refcount_block(bs, ti);
            if (ret < 0) {
                return ret;
            }
            changed = 1;
        }
    }
    return changed;
}

/* A free run of @nb clusters that refcount blocks describe. */
static int find_covered_free_range(BlockDriverState *bs, uint64_t nb,
                                   uint64_t *start)
{
    int ret;

    do {
        ret = find_free_range(bs, nb, start);
        if (ret < 0) {
            return ret;
        }
        ret = ensure_covered(bs, *start, *start + nb - 1);
    } while (ret > 0);
    return ret;
}

int64_t qcow2_alloc_clusters(BlockDriverState *bs, uint64_t size)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t nb, start;
    int ret;

    if (size == 0 || size > QCOW2_MAX_HOST_OFFSET) {
        return -EINVAL;
    }
    nb = (size + s->cluster_size - 1) >> s->cluster_bits;
    ret = limit_freed_pending(bs);
    if (ret < 0) {
        return ret;
    }
    ret = find_covered_free_range(bs, nb, &start);
    if (ret < 0) {
        return ret;
    }
    ret = qcow2_update_cluster_refcount_range(bs, start << s->cluster_bits,
                                              nb << s->cluster_bits, 1);
    if (ret < 0) {
        return ret;
    }
    if (s->free_cluster_index == start) {
        s->free_cluster_index = start + nb;
    }
    return (int64_t)(start << s->cluster_bits);
}

int64_t qcow2_alloc_clusters_at(BlockDriverState *bs, uint64_t offset,
                                int64_t nb_clusters)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t first = offset >> s->cluster_bits;
    uint64_t n, rc;
    int ret;

    if (nb_clusters <= 0) {
        return 0;
    }
    if (qcow2_offset_into_cluster(s, offset) || first == 0 ||
        first > max_cluster_index(s)) {
        return -EINVAL;
    }
    nb_clusters = MIN((uint64_t)nb_clusters,
                      max_cluster_index(s) - first + 1);
    ret = limit_freed_pending(bs);
    if (ret < 0) {
        return ret;
    }
    do {
        /* Count the free clusters at @offset. */
        for (n = 0; n < (uint64_t)nb_clusters; n++) {
            ret = qcow2_get_refcount(bs, first + n, &rc);
            if (ret < 0) {
                return ret;
            }
            if (rc != 0 || cluster_freed_pending(s, first + n)) {
                break;
            }
        }
        if (n == 0) {
            return 0;
        }
        ret = ensure_covered(bs, first, first + n - 1);
        if (ret < 0) {
            return ret;
        }
    } while (ret > 0);

    ret = qcow2_update_cluster_refcount_range(bs, offset,
                                              n << s->cluster_bits, 1);
    if (ret < 0) {
        return ret;
    }
    return (int64_t)n;
}

int64_t qcow2_alloc_bytes(BlockDriverState *bs, int size)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t offset, rc, c;
    int ret;

    if (size <= 0 || (uint32_t)size > s->cluster_size) {
        return -EINVAL;
    }
    ret = limit_freed_pending(bs);
    if (ret < 0) {
        return ret;
    }
    offset = s->free_byte_offset;
    if (offset) {
        ret = qcow2_get_refcount(bs, offset >> s->cluster_bits, &rc);
        if (ret < 0) {
            return ret;
        }
        /* The cluster takes one more user only while its refcount can. */
        if (rc == 0 || rc == s->refcount_max) {
            offset = 0;
        }
    }
    if (!offset ||
        s->cluster_size - qcow2_offset_into_cluster(s, offset) <
        (uint64_t)size) {
        ret = find_covered_free_range(bs, 1, &c);
        if (ret < 0) {
            return ret;
        }
        /* Spill into the next cluster only when it is the free one. */
        if (!offset || qcow2_round_up_cluster(s, offset) !=
                       c << s->cluster_bits) {
            offset = c << s->cluster_bits;
        }
    }
    ret = qcow2_update_cluster_refcount_range(bs, offset, size, 1);
    if (ret < 0) {
        return ret;
    }
    s->free_byte_offset = offset + size;
    if (qcow2_offset_into_cluster(s, s->free_byte_offset) == 0) {
        s->free_byte_offset = 0;
    }
    return (int64_t)offset;
}

/* ---- updating refcounts ---- */

/* @stable: nothing on disk refers to the clusters any more (the change
 * that dropped the reference was flushed), so a cluster falling to 0
 * may be reused at once. */
static int update_refcount_range(BlockDriverState *bs, uint64_t offset,
                                 uint64_t length, int64_t addend,
                                 bool stable)
{
    BDRVQcow2State *s = bs->opaque;
    RefCursor cur = { 0 };
    uint64_t first, last, i, rc, mag;
    int ret;

    if (length == 0 || addend == 0) {
        return 0;
    }
    if (offset > QCOW2_MAX_HOST_OFFSET ||
        length > QCOW2_MAX_HOST_OFFSET + 1 - offset) {
        return -EINVAL;
    }
    first = offset >> s->cluster_bits;
    last = (offset + length - 1) >> s->cluster_bits;
    mag = addend < 0 ? -(uint64_t)addend : (uint64_t)addend;

    if (addend > 0) {
        ret = ensure_covered(bs, first, last);
        if (ret < 0) {
            return ret;
        }
    }

    /* Pass 1: every cluster must stay within 0..refcount_max. */
    for (i = first; i <= last; i++) {
        ret = cursor_get(bs, &cur, i, &rc);
        if (ret < 0) {
            goto out;
        }
        if (addend > 0 ? mag > s->refcount_max - rc : mag > rc) {
            ret = -ERANGE;
            goto out;
        }
    }
    cursor_done(bs, &cur);

    /* A decrease reaches the file only after the L2 change that made it. */
    if (addend < 0) {
        ret = qcow2_cache_set_dependency(bs, s->refcount_block_cache,
                                         s->l2_table_cache);
        if (ret < 0) {
            return ret;
        }
    }

    /* Pass 2: apply. */
    for (i = first; i <= last; i++) {
        uint64_t idx = i & (s->refcount_block_size - 1);

        ret = cursor_load(bs, &cur, i);
        if (ret < 0) {
            goto out;
        }
        if (!cur.block) {
            /* Checked in pass 1: cannot happen. */
            ret = -EIO;
            goto out;
        }
        rc = qcow2_refblock_get(s, cur.block, idx);
        rc = addend > 0 ? rc + mag : rc - mag;
        qcow2_refblock_set(s, cur.block, idx, rc);
        qcow2_cache_entry_mark_dirty(s->refcount_block_cache, cur.block);
        if (rc == 0) {
            uint64_t coff = i << s->cluster_bits;

            qcow2_cache_discard(s->l2_table_cache, coff);
            qcow2_cache_discard(s->refcount_block_cache, coff);
            /* Reusable once the dropped reference is on disk. */
            if (!stable) {
                add_freed_pending(s, i);
            } else if (i < s->free_cluster_index) {
                s->free_cluster_index = i;
            }
            if (s->free_byte_offset &&
                (s->free_byte_offset >> s->cluster_bits) == i) {
                s->free_byte_offset = 0;
            }
        }
    }
    ret = 0;
out:
    cursor_done(bs, &cur);
    return ret;
}

int qcow2_update_cluster_refcount_range(BlockDriverState *bs,
                                        uint64_t offset, uint64_t length,
                                        int64_t addend)
{
    return update_refcount_range(bs, offset, length, addend, false);
}

void qcow2_free_clusters(BlockDriverState *bs, uint64_t offset,
                         uint64_t size)
{
    int ret = qcow2_update_cluster_refcount_range(bs, offset, size, -1);

    if (ret < 0) {
        /* The clusters leak; check -r leaks reclaims them. */
        error_report("qcow2: freeing clusters at 0x%" PRIx64 " (%" PRIu64
                     " bytes) failed: %s", offset, size, g_strerror(-ret));
    }
}

void qcow2_free_any_cluster(BlockDriverState *bs, uint64_t l2_entry,
                            int nb_clusters)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t off;

    switch (qcow2_get_cluster_type(bs, l2_entry)) {
    case QCOW2_CLUSTER_COMPRESSED: {
        uint64_t coffset;
        int csize;

        qcow2_parse_compressed_l2_entry(bs, l2_entry, &coffset, &csize);
        if (csize > 0) {
            qcow2_free_clusters(bs, coffset, csize);
        }
        break;
    }
    case QCOW2_CLUSTER_NORMAL:
    case QCOW2_CLUSTER_ZERO_ALLOC:
        off = l2_entry & L2E_OFFSET_MASK;
        if (qcow2_offset_into_cluster(s, off)) {
            qcow2_signal_corruption(bs, "Cannot free unaligned cluster %#"
                                    PRIx64, off);
            break;
        }
        if (nb_clusters > 0) {
            qcow2_free_clusters(bs, off,
                                (uint64_t)nb_clusters << s->cluster_bits);
        }
        break;
    default:
        break;
    }
}

/* ---- overlap check ---- */

/* Overflow-safe: table offsets and sizes may come from a bad file. */
static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b,
                           uint64_t blen)
{
    if (!alen || !blen) {
        return false;
    }
    return a >= b ? a - b < blen : b - a < alen;
}

const char *qcow2_check_metadata_overlap(BlockDriverState *bs,
                                         uint64_t offset, uint64_t size)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t cs = s->cluster_size;
    uint64_t i;

    if (size == 0) {
        return NULL;
    }
    if (ranges_overlap(offset, size, 0, cs)) {
        return "qcow2_header";
    }
    if (ranges_overlap(offset, size, s->l1_table_offset,
                       (uint64_t)s->l1_size * 8)) {
        return "active L1 table";
    }
    if (ranges_overlap(offset, size, s->refcount_table_offset,
                       (uint64_t)s->refcount_table_size * 8)) {
        return "refcount table";
    }
    if (ranges_overlap(offset, size, s->snapshots_offset,
                       s->snapshots_size)) {
        return "snapshot table";
    }
    for (i = 0; s->refcount_table && i < s->refcount_table_size &&
                i <= s->max_refcount_table_index; i++) {
        uint64_t off = s->refcount_table[i] & REFT_OFFSET_MASK;

        if (off && ranges_overlap(offset, size, off, cs)) {
            return "refcount block";
        }
    }
    for (i = 0; s->l1_table && i < s->l1_size; i++) {
        uint64_t off = s->l1_table[i] & L1E_OFFSET_MASK;

        if (off && ranges_overlap(offset, size, off, cs)) {
            return "active L2 table";
        }
    }
    for (i = 0; s->snapshots && i < s->nb_snapshots; i++) {
        if (ranges_overlap(offset, size, s->snapshots[i].l1_table_offset,
                           (uint64_t)s->snapshots[i].l1_size * 8)) {
            return "inactive L1 table";
        }
    }
    return NULL;
}
