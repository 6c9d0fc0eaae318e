/*
 * qcow2 driver internals, shared by the files of block/qcow2/:
 *   qcow2.c           open, close, header and extensions, dirty and
 *                     corrupt bits, flush ordering, resize, info, the
 *                     driver table
 *   qcow2-create.c    create, measure, amend (and create options)
 *   qcow2-cache.c     the LRU table cache (L2 tables, refcount blocks)
 *   qcow2-cluster.c   L2 entry helpers, L1/L2 lookup and update, L1
 *                     growth, zero and discard metadata, preallocation
 *   qcow2-direct.c    reads and in-place writes mapped straight to the
 *                     file for io_uring (BlockDriver.map_direct)
 *   qcow2-io.c        guest I/O entry points: read, write (allocation,
 *                     copy-on-write, subclusters), zero writes, discard,
 *                     compressed writes, block status
 *   qcow2-compress.c  compressed clusters (zlib deflate, zstd)
 *   qcow2-resize.c    grow and shrink (truncate), preallocation
 *   qcow2-refcount.c  refcounts of every order, cluster allocation and
 *                     freeing, refcount table growth, overlap checks
 *   qcow2-check.c     check and repair (also after a dirty open)
 *   qcow2-snapshot.c  the snapshot table: create, apply, delete, list
 *
 * Layout and field meaning follow QEMU's docs/interop/qcow2.txt. All
 * on-disk numbers are big endian; in-memory copies (l1_table,
 * refcount_table) are host order, cached tables stay big endian.
 *
 * Locking: s->lock guards all metadata (L1, caches, refcounts, header,
 * snapshots). Guest data reads and writes to already-allocated clusters
 * run without it, so requests proceed in parallel.
 *
 * Write ordering (crash safety): a refcount increase reaches the file
 * before any L2/L1 entry that points at the cluster; the data (and the
 * copy-on-write of the rest of a cluster) reaches the file before the L2
 * entry that maps it; a new L2 table reaches the file before the L1
 * entry that points at it; and where the ordering must survive power
 * loss, a flush of the file sits between the two (skipped with
 * cache.no-flush). The L2 cache therefore depends on the refcount cache.
 * A freed cluster is not reused until the change that dropped its last
 * reference is written and flushed (s->freed_pending), also with lazy
 * refcounts. A crash can leak clusters, never leave a cluster in use
 * with a refcount too low or an old reference to reused data.
 */
#ifndef LEMU_BLOCK_QCOW2_H
#define LEMU_BLOCK_QCOW2_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <glib.h>
#include "lemu/block/block.h"

#define QCOW_MAGIC                  0x514649fbU  /* "QFI\xfb" */
#define QCOW2_HEADER_V2_SIZE        72
#define QCOW2_HEADER_V3_MIN_SIZE    104
#define QCOW2_MIN_CLUSTER_BITS      9
#define QCOW2_MAX_CLUSTER_BITS      21
#define QCOW2_DEFAULT_CLUSTER_BITS  16
#define QCOW2_MAX_BACKING_NAME      1023
#define QCOW2_MAX_SNAPSHOTS         65536
#define QCOW2_MAX_L1_BYTES          (32 * 1024 * 1024)
#define QCOW2_MAX_REFTABLE_BYTES    (8 * 1024 * 1024)

/* Incompatible feature bits. */
#define QCOW2_INCOMPAT_DIRTY        (1ULL << 0)
#define QCOW2_INCOMPAT_CORRUPT      (1ULL << 1)
#define QCOW2_INCOMPAT_DATA_FILE    (1ULL << 2)
#define QCOW2_INCOMPAT_COMPRESSION  (1ULL << 3)
#define QCOW2_INCOMPAT_EXTL2        (1ULL << 4)
#define QCOW2_INCOMPAT_KNOWN        0x1bULL      /* all but DATA_FILE */
/* Compatible and autoclear feature bits. */
#define QCOW2_COMPAT_LAZY_REFCOUNTS (1ULL << 0)
#define QCOW2_AUTOCLEAR_BITMAPS     (1ULL << 0)
#define QCOW2_AUTOCLEAR_DATA_FILE_RAW (1ULL << 1)

#define QCOW2_COMPRESSION_ZLIB      0
#define QCOW2_COMPRESSION_ZSTD      1

/* Header extension magics. */
#define QCOW2_EXT_END               0x00000000U
#define QCOW2_EXT_BACKING_FORMAT    0xe2792acaU
#define QCOW2_EXT_FEATURE_TABLE     0x6803f857U
#define QCOW2_EXT_CRYPTO            0x0537be77U
#define QCOW2_EXT_BITMAPS           0x23852875U
#define QCOW2_EXT_DATA_FILE         0x44415441U

/* L1 and L2 entries. */
#define L1E_OFFSET_MASK             0x00fffffffffffe00ULL
#define L2E_OFFSET_MASK             0x00fffffffffffe00ULL
#define QCOW_OFLAG_COPIED           (1ULL << 63)
#define QCOW_OFLAG_COMPRESSED       (1ULL << 62)
#define QCOW_OFLAG_ZERO             (1ULL << 0)
#define L1E_RESERVED_MASK           0x7f000000000001ffULL
#define REFT_OFFSET_MASK            0xfffffffffffffe00ULL
#define REFT_RESERVED_MASK          0x1ffULL

/* Kinds of a standard or extended L2 entry / subcluster. */
typedef enum {
    QCOW2_CLUSTER_UNALLOCATED,
    QCOW2_CLUSTER_ZERO_PLAIN,   /* zero, no host cluster */
    QCOW2_CLUSTER_ZERO_ALLOC,   /* zero, host cluster kept */
    QCOW2_CLUSTER_NORMAL,
    QCOW2_CLUSTER_COMPRESSED,
} Qcow2ClusterType;

/* What one lookup found for a run of guest bytes of one kind. */
typedef struct Qcow2Mapping {
    Qcow2ClusterType type;
    uint64_t host;          /* NORMAL/ZERO_ALLOC: host offset of the start */
    uint64_t l2_entry;      /* entry of the first cluster */
} Qcow2Mapping;

/* The on-disk header (big endian as read), through version 3 with the
 * compression type byte. */
typedef struct Qcow2Header {
    uint32_t magic;
    uint32_t version;
    uint64_t backing_file_offset;
    uint32_t backing_file_size;
    uint32_t cluster_bits;
    uint64_t size;
    uint32_t crypt_method;
    uint32_t l1_size;
    uint64_t l1_table_offset;
    uint64_t refcount_table_offset;
    uint32_t refcount_table_clusters;
    uint32_t nb_snapshots;
    uint64_t snapshots_offset;
    /* version 3 */
    uint64_t incompatible_features;
    uint64_t compatible_features;
    uint64_t autoclear_features;
    uint32_t refcount_order;
    uint32_t header_length;
    uint8_t compression_type;
    uint8_t padding[7];
} __attribute__((packed)) Qcow2Header;

/* A header extension lemu does not know: kept and written back. */
typedef struct Qcow2UnknownExt {
    uint32_t magic;
    uint32_t len;
    uint8_t *data;
} Qcow2UnknownExt;

/* One entry of the feature name table extension. */
typedef struct Qcow2Feature {
    uint8_t type;               /* 0 incompatible, 1 compatible, 2 autoclear */
    uint8_t bit;
    char name[46];
} Qcow2Feature;

typedef struct Qcow2Snapshot {
    uint64_t l1_table_offset;
    uint32_t l1_size;
    char *id_str;
    char *name;
    uint64_t disk_size;         /* virtual size when taken */
    uint64_t vm_state_size;
    uint32_t date_sec;
    uint32_t date_nsec;
    uint64_t vm_clock_nsec;
    uint32_t icount;            /* UINT32_MAX: not recorded */
    uint32_t extra_data_size;
    uint8_t *unknown_extra_data; /* extra data beyond what lemu knows */
} Qcow2Snapshot;

typedef struct Qcow2Cache Qcow2Cache;

typedef struct BDRVQcow2State {
    GMutex lock;

    int qcow_version;           /* 2 or 3 */
    int cluster_bits;
    uint32_t cluster_size;
    uint64_t cluster_offset_mask;   /* compressed entries */
    int csize_shift, csize_mask;    /* compressed entries */
    int l2_bits;                /* log2 of entries per L2 table */
    uint32_t l2_size;           /* entries per L2 table */
    int l2_entry_size;          /* 8, or 16 with extended L2 */
    bool extended_l2;
    int subcluster_bits;
    uint32_t subcluster_size;
    int subclusters_per_cluster;    /* 1, or 32 with extended L2 */

    uint64_t size;              /* virtual disk size */
    uint32_t l1_size;
    uint32_t l1_vm_state_index; /* entries needed for the disk size */
    uint64_t l1_table_offset;
    uint64_t *l1_table;         /* host order */

    uint64_t refcount_table_offset;
    uint32_t refcount_table_size;   /* entries */
    uint64_t *refcount_table;   /* host order */
    int refcount_order;         /* refcount_bits = 1 << refcount_order */
    int refcount_bits;
    uint64_t refcount_max;
    int refcount_block_bits;    /* log2 of refcounts per block */
    uint32_t refcount_block_size;   /* refcounts per block */
    uint64_t free_cluster_index;    /* hint for the allocator */
    uint64_t free_byte_offset;      /* compressed sub-allocation */
    /* Clusters whose refcount fell to 0 while the L1/L2 change that
     * dropped the last reference may not be on disk yet. The allocator
     * leaves them alone until the L2 cache is written and the file
     * flushed: reused earlier, a crash could leave the old L2 entry
     * pointing at another guest offset's data (qcow2-refcount.c). */
    GHashTable *freed_pending;      /* set of uint64_t cluster indices */
    uint64_t freed_pending_min;     /* lowest index in it */
    uint32_t max_refcount_table_index; /* last non-zero reftable entry
                                          (kept by qcow2-refcount.c) */

    Qcow2Cache *l2_table_cache;
    Qcow2Cache *refcount_block_cache;
    uint64_t l2_cache_bytes;    /* l2-cache-size */

    uint64_t incompatible_features;
    uint64_t compatible_features;
    uint64_t autoclear_features;
    uint8_t compression_type;
    uint32_t header_length;     /* v3: as read (written back as is or
                                   grown to hold compression_type) */
    bool use_lazy_refcounts;    /* compat bit and lazy-refcounts=on */
    bool dirty_on_open;         /* repaired at open */
    bool corrupt;               /* incompat CORRUPT is set */
    bool no_flush;              /* cache.no-flush */

    uint32_t nb_snapshots;
    uint64_t snapshots_offset;
    uint64_t snapshots_size;    /* bytes of the table on disk */
    Qcow2Snapshot *snapshots;

    GPtrArray *unknown_exts;    /* Qcow2UnknownExt * */
    Qcow2Feature *feature_table;
    int nb_features;
    bool have_backing_format_ext;

    /* Held shared by guest data I/O done outside s->lock; taken
     * exclusively (with s->lock held) before clusters are freed, so no
     * request still uses a cluster that is being given back. */
    GRWLock data_io_lock;
    uint64_t image_end;         /* file length seen so far (offset checks) */
    bool corruption_signalled;  /* writes fail with -EIO from now on */
} BDRVQcow2State;

/* Big-endian fields of the header and the snapshot table. */
static inline uint32_t get_be32(const uint8_t *p)
{
    uint32_t v;

    memcpy(&v, p, 4);
    return GUINT32_FROM_BE(v);
}

static inline uint64_t get_be64(const uint8_t *p)
{
    uint64_t v;

    memcpy(&v, p, 8);
    return GUINT64_FROM_BE(v);
}

static inline void put_be16(uint8_t *p, uint16_t v)
{
    v = GUINT16_TO_BE(v);
    memcpy(p, &v, 2);
}

static inline void put_be32(uint8_t *p, uint32_t v)
{
    v = GUINT32_TO_BE(v);
    memcpy(p, &v, 4);
}

static inline void put_be64(uint8_t *p, uint64_t v)
{
    v = GUINT64_TO_BE(v);
    memcpy(p, &v, 8);
}

static inline uint64_t qcow2_offset_into_cluster(BDRVQcow2State *s,
                                                 uint64_t off)
{
    return off & (s->cluster_size - 1);
}

static inline uint64_t qcow2_round_up_cluster(BDRVQcow2State *s,
                                              uint64_t off)
{
    return (off + s->cluster_size - 1) & ~((uint64_t)s->cluster_size - 1);
}

/* ---- qcow2.c ---- */
/* Writes the whole header, extensions and feature table (cluster 0). */
int qcow2_update_header(BlockDriverState *bs);
/* Sets or clears an incompatible feature bit on disk (with a flush
 * before setting DIRTY and after clearing it). */
int qcow2_set_incompat_bit(BlockDriverState *bs, uint64_t bit, bool on);
/* Lazy refcounts: sets DIRTY before the first allocating write (s->lock
 * held). */
int qcow2_mark_dirty(BlockDriverState *bs);
/* Refcounts must be written before what points at them (false while
 * DIRTY covers them, as with lazy refcounts). */
static inline bool qcow2_need_accurate_refcounts(BDRVQcow2State *s)
{
    return !(s->incompatible_features & QCOW2_INCOMPAT_DIRTY);
}
/*
 * Metadata inconsistency found at run time: logs "qcow2: Marking image
 * as corrupt: <msg>; further corruption events will be suppressed",
 * sets the CORRUPT bit (when writable) and makes every later write fail
 * with -EIO. Returns -EIO for convenience.
 */
int qcow2_signal_corruption(BlockDriverState *bs, const char *fmt, ...)
    G_GNUC_PRINTF(2, 3);
/* Builds cluster 0 from the state; returns its used length or -errno. */
ssize_t qcow2_build_header(BlockDriverState *bs, uint8_t *buf, size_t size);
/* Writes the caches (L2 tables first; dependencies order the rest). */
int qcow2_write_caches(BlockDriverState *bs);

/* ---- qcow2-resize.c ---- */
/* Allocates [from, to) and extends the file for falloc/full (s->lock). */
int qcow2_preallocate(BlockDriverState *bs, uint64_t from, uint64_t to,
                      PreallocMode mode, GError **errp);
/* The driver's truncate (resize); takes s->lock itself. */
int qcow2_truncate(BlockDriverState *bs, uint64_t offset, bool exact,
                   PreallocMode prealloc, GError **errp);

/* ---- qcow2-create.c ---- */
bool qcow2_create(const char *filename, GHashTable *opts, GError **errp);
bool qcow2_measure(GHashTable *opts, BlockDriverState *in,
                   BlockMeasureInfo *info, GError **errp);
/* Called without s->lock. */
bool qcow2_amend(BlockDriverState *bs, GHashTable *opts, bool force,
                 GError **errp);

/* ---- qcow2-cache.c ---- */
Qcow2Cache *qcow2_cache_create(BlockDriverState *bs, int num_tables,
                               uint32_t table_size);
void qcow2_cache_destroy(Qcow2Cache *c);
/* Gets the table at host @offset (reading it), pinned until put. */
int qcow2_cache_get(BlockDriverState *bs, Qcow2Cache *c, uint64_t offset,
                    void **table);
/* Same without reading: for a newly allocated table. */
int qcow2_cache_get_empty(BlockDriverState *bs, Qcow2Cache *c,
                          uint64_t offset, void **table);
void qcow2_cache_put(Qcow2Cache *c, void **table);
void qcow2_cache_entry_mark_dirty(Qcow2Cache *c, void *table);
/* Is the table at @offset in the cache (no I/O, no pin)? */
bool qcow2_cache_contains(Qcow2Cache *c, uint64_t offset);
/* Before writing any dirty table of @c, flush @dependency first. */
int qcow2_cache_set_dependency(BlockDriverState *bs, Qcow2Cache *c,
                               Qcow2Cache *dependency);
/* Writes one pinned table now, without waiting for the dependency: only
 * for a table whose contents need no refcount change to be stable (a
 * new L2 table before the L1 entry points at it). */
int qcow2_cache_write_table(BlockDriverState *bs, Qcow2Cache *c,
                            void *table);
/* Writes every dirty table (after its dependency) without syncing. */
int qcow2_cache_write(BlockDriverState *bs, Qcow2Cache *c);
/* Write, then flush the file. */
int qcow2_cache_flush(BlockDriverState *bs, Qcow2Cache *c);
/* Drops the (clean) copy of @offset: its cluster was freed. */
void qcow2_cache_discard(Qcow2Cache *c, uint64_t offset);
/* Writes and drops everything (snapshot apply, check). */
int qcow2_cache_empty(BlockDriverState *bs, Qcow2Cache *c);

/* ---- qcow2-cluster.c ---- */
Qcow2ClusterType qcow2_get_cluster_type(BlockDriverState *bs,
                                        uint64_t l2_entry);
uint64_t qcow2_get_l2_entry(BDRVQcow2State *s, const uint64_t *l2,
                            unsigned index);
void qcow2_set_l2_entry(BDRVQcow2State *s, uint64_t *l2, unsigned index,
                        uint64_t entry);
uint64_t qcow2_get_l2_bitmap(BDRVQcow2State *s, const uint64_t *l2,
                             unsigned index);
void qcow2_set_l2_bitmap(BDRVQcow2State *s, uint64_t *l2, unsigned index,
                         uint64_t bitmap);
/* Grows the L1 table to @min_size entries (new table, then header). */
int qcow2_grow_l1_table(BlockDriverState *bs, uint64_t min_size,
                        bool exact);
/* Writes L1 entry @index to disk. */
int qcow2_write_l1_entry(BlockDriverState *bs, int index);
/* Compressed entry: host offset and the bytes to read. */
void qcow2_parse_compressed_l2_entry(BlockDriverState *bs,
                                     uint64_t l2_entry, uint64_t *coffset,
                                     int *csize);
/*
 * Maps guest @offset: fills @m for the longest run (at most *bytes, within
 * one L2 table) of one kind, with contiguous host clusters for NORMAL and
 * ZERO_ALLOC and a single cluster for COMPRESSED; *bytes is set to it.
 * s->lock held.
 */
int qcow2_get_host_offset(BlockDriverState *bs, uint64_t offset,
                          uint64_t *bytes, Qcow2Mapping *m);
/*
 * Gets the L2 table for guest @offset ready to be modified: allocates it
 * (or copies a shared one) and points the L1 entry at it. s->lock held.
 */
int qcow2_get_l2_for_write(BlockDriverState *bs, uint64_t offset,
                           uint64_t **l2);
/* Allocates the missing L2 tables for guest [offset, +bytes) at once
 * (one flush for all), before a write that spans several. s->lock held. */
int qcow2_alloc_l2_tables(BlockDriverState *bs, uint64_t offset,
                          uint64_t bytes);
/* Drops what an old L2 entry pointed at, after the entry was replaced. */
int qcow2_free_old_entry(BlockDriverState *bs, uint64_t old);
/*
 * Zeroes or discards whole clusters (whole subclusters with extended L2)
 * in [offset, offset + *bytes) within one L2 table. Returns -ENOTSUP for
 * a cluster it cannot describe as zero (the caller writes zeroes).
 * s->lock held.
 */
int qcow2_zero_or_discard_clusters(BlockDriverState *bs, uint64_t offset,
                                   uint64_t *bytes, bool discard,
                                   int flags);
/* Allocates host clusters for every unallocated guest cluster of
 * [offset, offset + bytes) (preallocation=metadata and up); s->lock held.
 * *host_end is set to the end of the highest host cluster used. */
int qcow2_preallocate_range(BlockDriverState *bs, uint64_t offset,
                            uint64_t bytes, uint64_t *host_end);
/* Deallocates every cluster, leaving them unallocated so that the
 * backing file shows through (make_empty); s->lock held. */
int qcow2_discard_all(BlockDriverState *bs);
/* Waits for guest data I/O running outside s->lock (s->lock held): call
 * before freeing clusters that guest requests may still use. */
void qcow2_drain_data_io(BDRVQcow2State *s);

/* ---- qcow2-io.c ----
 * Guest I/O, called without s->lock. */
int qcow2_preadv(BlockDriverState *bs, uint64_t offset, uint64_t bytes,
                 struct iovec *iov, int niov);
int qcow2_pwritev(BlockDriverState *bs, uint64_t offset, uint64_t bytes,
                  struct iovec *iov, int niov, int flags);
int qcow2_pwrite_zeroes(BlockDriverState *bs, uint64_t offset,
                        uint64_t bytes, int flags);
int qcow2_pdiscard(BlockDriverState *bs, uint64_t offset, uint64_t bytes);
int qcow2_pwrite_compressed(BlockDriverState *bs, uint64_t offset,
                            uint64_t bytes, struct iovec *iov, int niov);
int qcow2_block_status(BlockDriverState *bs, uint64_t offset,
                       uint64_t bytes, uint64_t *pnum, uint64_t *map,
                       BlockDriverState **file);
/* The same with s->lock held. */
int qcow2_block_status_locked(BlockDriverState *bs, uint64_t offset,
                              uint64_t bytes, uint64_t *pnum, uint64_t *map,
                              BlockDriverState **file);

/* ---- qcow2-direct.c: BlockDriver.map_direct for io_uring ---- */
bool qcow2_map_direct(BlockDriverState *bs, uint64_t offset, uint64_t bytes,
                      bool write, uint64_t *file_offset);
void qcow2_map_direct_release(BlockDriverState *bs);

/* ---- qcow2-compress.c ---- */
/* Compresses @src into @dest (at most @dest_size bytes); returns the
 * compressed size, -ENOMEM when it does not fit, -EIO on failure. */
ssize_t qcow2_compress(BDRVQcow2State *s, void *dest, size_t dest_size,
                       const void *src, size_t src_size);
/* Decompresses exactly @dest_size bytes; -EIO when the data is bad. */
ssize_t qcow2_decompress(BDRVQcow2State *s, void *dest, size_t dest_size,
                         const void *src, size_t src_size);

/* ---- qcow2-refcount.c ----
 * All of these expect the caller to hold s->lock (open may call init
 * before any other thread exists). */
/* Expects s->refcount_order, s->refcount_table_offset and
 * s->refcount_table_size (entries: refcount_table_clusters <<
 * (cluster_bits - 3)) from the header; sets refcount_bits, refcount_max,
 * refcount_block_bits/size, reads and validates the table (entries are
 * not validated with BDRV_O_CHECK: check reports them). The caches are
 * created by qcow2.c. The _errp form says what is wrong; the plain one
 * reports it with error_report. */
int qcow2_refcount_init_errp(BlockDriverState *bs, GError **errp);
int qcow2_refcount_init(BlockDriverState *bs);
/* Entry @index of a refcount block buffer (as on disk). */
uint64_t qcow2_refblock_get(BDRVQcow2State *s, const void *block,
                           uint64_t index);
void qcow2_refblock_set(BDRVQcow2State *s, void *block, uint64_t index,
                       uint64_t value);
/* Recomputes s->max_refcount_table_index after the table changed. */
void qcow2_refcount_update_max_index(BDRVQcow2State *s);
void qcow2_refcount_close(BlockDriverState *bs);
int qcow2_get_refcount(BlockDriverState *bs, uint64_t cluster_index,
                       uint64_t *refcount);
/* Allocates @size bytes of contiguous clusters with refcount 1; returns
 * the host offset or -errno. Grows the refcount table as needed. */
int64_t qcow2_alloc_clusters(BlockDriverState *bs, uint64_t size);
/* Claims up to @nb_clusters free clusters at @offset (refcount 0 -> 1);
 * returns how many were free and claimed, or -errno. */
int64_t qcow2_alloc_clusters_at(BlockDriverState *bs, uint64_t offset,
                                int64_t nb_clusters);
/* Sub-cluster allocation for compressed data; returns the host offset. */
int64_t qcow2_alloc_bytes(BlockDriverState *bs, int size);
/* Adds @addend to the refcount of every cluster in [offset, +length);
 * -ERANGE (nothing changed) on overflow or underflow. */
int qcow2_update_cluster_refcount_range(BlockDriverState *bs,
                                        uint64_t offset, uint64_t length,
                                        int64_t addend);
void qcow2_free_clusters(BlockDriverState *bs, uint64_t offset,
                         uint64_t size);
/* Are freed clusters waiting for their L2 change to be stable? */
bool qcow2_have_freed_clusters(BDRVQcow2State *s);
/* The L2 cache was written and the file flushed after the clusters were
 * freed (qcow2_cache_flush of the L2 cache calls it): they may be
 * reused now. */
void qcow2_release_freed_clusters(BlockDriverState *bs);
/* Frees what an L2 entry points at (normal or compressed). */
void qcow2_free_any_cluster(BlockDriverState *bs, uint64_t l2_entry,
                            int nb_clusters);
/* Adds @addend (-1, 0, 1) to every cluster an L1 table references and
 * fixes the COPIED flags (snapshot create/delete/apply); on -ERANGE
 * half way it takes back what it added. Lives in qcow2-snapshot.c. */
int qcow2_update_snapshot_refcount(BlockDriverState *bs,
                                   uint64_t l1_table_offset, int l1_size,
                                   int addend);
/* Does [offset, +size) overlap metadata (header, L1, L2 tables of the
 * active L1, refcount table and blocks, snapshot table)? Returns the
 * kind as a string or NULL. Called before guest data is written. */
const char *qcow2_check_metadata_overlap(BlockDriverState *bs,
                                         uint64_t offset, uint64_t size);

/* ---- qcow2-check.c ---- */
/* With s->lock held (or from open, before other threads exist).
 * Messages go to stderr in qemu-img's wording. */
int qcow2_check(BlockDriverState *bs, BdrvCheckResult *res,
                BdrvCheckMode fix);
/* amend refcount_bits: a new refcount structure of width 1 << @order. */
int qcow2_change_refcount_order(BlockDriverState *bs, int order,
                                GError **errp);

/* ---- qcow2-snapshot.c ----
 * qcow2_read_snapshots (open) and qcow2_free_snapshots (close) run
 * before/after other threads; create, goto, delete and list expect the
 * caller to hold s->lock. */
int qcow2_read_snapshots(BlockDriverState *bs, GError **errp);
void qcow2_free_snapshots(BlockDriverState *bs);
int qcow2_snapshot_create(BlockDriverState *bs, BdrvSnapshotInfo *sn);
int qcow2_snapshot_goto(BlockDriverState *bs, const char *id_or_name);
int qcow2_snapshot_delete(BlockDriverState *bs, const char *id,
                          const char *name, GError **errp);
int qcow2_snapshot_list(BlockDriverState *bs, BdrvSnapshotInfo **list);

extern const BlockDriver bdrv_qcow2;

#endif
