/*
 * The qcow2 table cache: a fixed set of cluster-sized buffers holding L2
 * tables or refcount blocks as they are on disk (big endian). Lookups go
 * through a hash table keyed by host offset, so a hit costs O(1); a miss
 * evicts the least recently used unpinned table (writing it back first if
 * dirty). Every function is called with s->lock held.
 */
#include <errno.h>
#include <string.h>
#include "lemu/util/log.h"
#include "qcow2.h"

typedef struct Qcow2CacheEntry {
    uint64_t offset;        /* host offset; 0 = empty slot */
    int ref;                /* pinned while > 0 */
    bool dirty;
    uint64_t lru;           /* last use, from c->lru_counter */
} Qcow2CacheEntry;

struct Qcow2Cache {
    Qcow2CacheEntry *entries;
    uint8_t *tables;        /* num_tables * table_size bytes */
    int num_tables;
    uint32_t table_size;
    GHashTable *index;      /* &entry->offset -> entry index + 1 */
    Qcow2Cache *depends;    /* flush this one before writing ours */
    uint64_t lru_counter;
};

Qcow2Cache *qcow2_cache_create(BlockDriverState *bs, int num_tables,
                               uint32_t table_size)
{
    Qcow2Cache *c = g_new0(Qcow2Cache, 1);

    (void)bs;
    c->num_tables = MAX(num_tables, 2);
    c->table_size = table_size;
    c->entries = g_new0(Qcow2CacheEntry, c->num_tables);
    c->tables = g_try_malloc((size_t)c->num_tables * table_size);
    if (!c->tables) {
        g_free(c->entries);
        g_free(c);
        return NULL;
    }
    c->index = g_hash_table_new(g_int64_hash, g_int64_equal);
    return c;
}

void qcow2_cache_destroy(Qcow2Cache *c)
{
    if (!c) {
        return;
    }
    g_hash_table_destroy(c->index);
    g_free(c->tables);
    g_free(c->entries);
    g_free(c);
}

static void *cache_table(Qcow2Cache *c, int i)
{
    return c->tables + (size_t)i * c->table_size;
}

static int cache_index_of(Qcow2Cache *c, const void *table)
{
    ptrdiff_t d = (const uint8_t *)table - c->tables;

    g_assert(d >= 0 && (size_t)d < (size_t)c->num_tables * c->table_size);
    return d / c->table_size;
}

static int cache_lookup(Qcow2Cache *c, uint64_t offset)
{
    gpointer v = g_hash_table_lookup(c->index, &offset);

    return v ? GPOINTER_TO_INT(v) - 1 : -1;
}

static int cache_flush_dependency(BlockDriverState *bs, Qcow2Cache *c)
{
    int ret = qcow2_cache_flush(bs, c->depends);

    if (ret == 0) {
        c->depends = NULL;
    }
    return ret;
}

static int cache_write_entry(BlockDriverState *bs, Qcow2Cache *c, int i)
{
    Qcow2CacheEntry *e = &c->entries[i];
    int ret;

    if (!e->dirty || !e->offset) {
        return 0;
    }
    if (c->depends) {
        ret = cache_flush_dependency(bs, c);
        if (ret < 0) {
            return ret;
        }
    }
    ret = bdrv_pwrite(bs->file, e->offset, cache_table(c, i), c->table_size,
                      0);
    if (ret < 0) {
        return ret;
    }
    e->dirty = false;
    return 0;
}

int qcow2_cache_write_table(BlockDriverState *bs, Qcow2Cache *c,
                            void *table)
{
    Qcow2CacheEntry *e = &c->entries[cache_index_of(c, table)];
    int ret;

    if (!e->dirty || !e->offset) {
        return 0;
    }
    ret = bdrv_pwrite(bs->file, e->offset, table, c->table_size, 0);
    if (ret < 0) {
        return ret;
    }
    e->dirty = false;
    return 0;
}

int qcow2_cache_write(BlockDriverState *bs, Qcow2Cache *c)
{
    int result = 0;

    for (int i = 0; i < c->num_tables; i++) {
        int ret = cache_write_entry(bs, c, i);
        if (ret < 0 && result != -ENOSPC) {
            result = ret;
        }
    }
    return result;
}

int qcow2_cache_flush(BlockDriverState *bs, Qcow2Cache *c)
{
    BDRVQcow2State *s = bs->opaque;
    int ret = qcow2_cache_write(bs, c);

    if (ret == 0) {
        ret = bdrv_flush(bs->file);
    }
    /* Every L2 change (and L1 write) made so far is stable: clusters
     * they stopped referencing may be reused. */
    if (ret == 0 && c == s->l2_table_cache) {
        qcow2_release_freed_clusters(bs);
    }
    return ret;
}

int qcow2_cache_set_dependency(BlockDriverState *bs, Qcow2Cache *c,
                               Qcow2Cache *dependency)
{
    int ret;

    /* Break chains and cycles by flushing what is already ordered. */
    if (dependency->depends) {
        ret = cache_flush_dependency(bs, dependency);
        if (ret < 0) {
            return ret;
        }
    }
    if (c->depends && c->depends != dependency) {
        ret = cache_flush_dependency(bs, c);
        if (ret < 0) {
            return ret;
        }
    }
    c->depends = dependency;
    return 0;
}

/* Finds a slot for a new table: a free one, else the LRU unpinned one. */
static int cache_evict(BlockDriverState *bs, Qcow2Cache *c)
{
    int best = -1;
    uint64_t best_lru = UINT64_MAX;
    int ret;

    for (int i = 0; i < c->num_tables; i++) {
        Qcow2CacheEntry *e = &c->entries[i];
        if (e->ref) {
            continue;
        }
        if (!e->offset) {
            return i;
        }
        if (e->lru < best_lru) {
            best_lru = e->lru;
            best = i;
        }
    }
    if (best < 0) {
        return -EBUSY;
    }
    ret = cache_write_entry(bs, c, best);
    if (ret < 0) {
        return ret;
    }
    g_hash_table_remove(c->index, &c->entries[best].offset);
    c->entries[best].offset = 0;
    return best;
}

static int cache_do_get(BlockDriverState *bs, Qcow2Cache *c, uint64_t offset,
                        void **table, bool read_from_disk)
{
    int i;
    int ret;

    if (offset == 0 || (offset & (c->table_size - 1))) {
        *table = NULL;
        return -EIO;
    }
    i = cache_lookup(c, offset);
    if (i < 0) {
        i = cache_evict(bs, c);
        if (i < 0) {
            *table = NULL;
            return i;
        }
        if (read_from_disk) {
            ret = bdrv_pread(bs->file, offset, cache_table(c, i),
                             c->table_size);
            if (ret < 0) {
                *table = NULL;
                return ret;
            }
        }
        c->entries[i].offset = offset;
        c->entries[i].dirty = false;
        g_hash_table_insert(c->index, &c->entries[i].offset,
                            GINT_TO_POINTER(i + 1));
    }
    c->entries[i].ref++;
    c->entries[i].lru = ++c->lru_counter;
    *table = cache_table(c, i);
    return 0;
}

int qcow2_cache_get(BlockDriverState *bs, Qcow2Cache *c, uint64_t offset,
                    void **table)
{
    return cache_do_get(bs, c, offset, table, true);
}

int qcow2_cache_get_empty(BlockDriverState *bs, Qcow2Cache *c,
                          uint64_t offset, void **table)
{
    return cache_do_get(bs, c, offset, table, false);
}

void qcow2_cache_put(Qcow2Cache *c, void **table)
{
    int i;

    if (!*table) {
        return;
    }
    i = cache_index_of(c, *table);
    g_assert(c->entries[i].ref > 0);
    c->entries[i].ref--;
    *table = NULL;
}

void qcow2_cache_entry_mark_dirty(Qcow2Cache *c, void *table)
{
    c->entries[cache_index_of(c, table)].dirty = true;
}

void qcow2_cache_discard(Qcow2Cache *c, uint64_t offset)
{
    int i = cache_lookup(c, offset);

    if (i < 0 || c->entries[i].ref) {
        return;
    }
    g_hash_table_remove(c->index, &c->entries[i].offset);
    c->entries[i].offset = 0;
    c->entries[i].dirty = false;
}

int qcow2_cache_empty(BlockDriverState *bs, Qcow2Cache *c)
{
    int ret = qcow2_cache_write(bs, c);

    if (ret < 0) {
        return ret;
    }
    for (int i = 0; i < c->num_tables; i++) {
        if (c->entries[i].offset && !c->entries[i].ref) {
            g_hash_table_remove(c->index, &c->entries[i].offset);
            c->entries[i].offset = 0;
        }
    }
    return 0;
}

bool qcow2_cache_contains(Qcow2Cache *c, uint64_t offset)
{
    return cache_lookup(c, offset) >= 0;
}
