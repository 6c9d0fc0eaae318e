/*
 * The block layer's node graph: a BlockDriverState (BDS) is one opened
 * image layer: a format driver ("qcow2", "raw") on top of a protocol
 * child ("file"), optionally with a backing BDS below it. Devices and
 * tools do not use BDSes directly for I/O: they go through a BlockBackend
 * (block-backend.h), which adds asynchronous requests, write-cache policy
 * and error policy.
 *
 * Driver calls are synchronous and run on worker threads (or the tool's
 * own thread): a driver must allow concurrent calls on one BDS and does
 * its own locking (qcow2: one mutex around metadata, data I/O outside it).
 * Every function returns 0 (or a count) on success and -errno on error
 * unless it says otherwise.
 *
 * Options are QEMU's flat dotted keys in a GHashTable of strings
 * (g_str_hash; "driver", "file.filename", "file.aio", "cache.direct",
 * "cache.no-flush", "l2-cache-size", "backing", "backing.file.filename",
 * ...): -drive and -blockdev (JSON or dotted form) are both turned into
 * this. bdrv_open() consumes the keys it understands; one left over is an
 * error naming it ("Block format 'qcow2' does not support the option
 * 'foo'"), as in QEMU.
 */
#ifndef LEMU_BLOCK_BLOCK_H
#define LEMU_BLOCK_BLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include <glib.h>

typedef struct BlockDriver BlockDriver;
typedef struct BlockDriverState BlockDriverState;
typedef struct JsonValue JsonValue;

#define BDRV_SECTOR_SIZE        512

/* Open flags. */
#define BDRV_O_RDWR             0x0002  /* else read-only */
#define BDRV_O_NOCACHE          0x0020  /* cache.direct: O_DIRECT */
#define BDRV_O_NO_FLUSH         0x0040  /* cache.no-flush (cache=unsafe) */
#define BDRV_O_UNMAP            0x0080  /* discard=unmap: pass discards on */
#define BDRV_O_NO_BACKING       0x0100  /* do not open the backing file */
#define BDRV_O_CHECK            0x0200  /* opened for check: no repair on
                                           open, corrupt images allowed */
#define BDRV_O_TEMPORARY        0x0400  /* delete the file on close */
#define BDRV_O_IO_URING         0x0800  /* aio=io_uring (file driver) */
#define BDRV_O_NO_IO            0x1000  /* metadata only (info): skip
                                           opening for data I/O checks */
#define BDRV_O_FORCE_SHARE      0x2000  /* -U: no image locking */

/* Request flags. */
#define BDRV_REQ_FUA            0x0001  /* write through to stable storage */
#define BDRV_REQ_MAY_UNMAP      0x0002  /* write-zeroes may deallocate */
#define BDRV_REQ_NO_FALLBACK    0x0004  /* write-zeroes: fail with -ENOTSUP
                                           rather than write zero buffers */

/* bdrv_block_status() result bits, as QEMU's map output reports them. */
#define BDRV_BLOCK_DATA         0x01    /* reads come from this layer */
#define BDRV_BLOCK_ZERO         0x02    /* reads as zero */
#define BDRV_BLOCK_OFFSET_VALID 0x04    /* *map is a host offset in *file */
#define BDRV_BLOCK_ALLOCATED    0x10    /* this layer decides the content */
#define BDRV_BLOCK_COMPRESSED   0x20

typedef struct BlockDriverInfo {
    int cluster_size;          /* 0 when the format has none */
    bool is_dirty;
    bool unallocated_blocks_are_zero;
} BlockDriverInfo;

typedef enum {
    BDRV_FIX_NONE = 0,
    BDRV_FIX_LEAKS = 1,
    BDRV_FIX_ERRORS = 2,
} BdrvCheckMode;

/* What `check` found; the fields of qemu-img check's JSON output. */
typedef struct BdrvCheckResult {
    int corruptions;
    int leaks;
    int check_errors;
    int corruptions_fixed;
    int leaks_fixed;
    int64_t image_end_offset;
    int64_t total_clusters;
    int64_t allocated_clusters;
    int64_t fragmented_clusters;
    int64_t compressed_clusters;
} BdrvCheckResult;

/* One internal snapshot, as `snapshot -l` and query-block list it. */
typedef struct BdrvSnapshotInfo {
    char id_str[128];
    char name[256];
    uint64_t vm_state_size;
    uint32_t date_sec;
    uint32_t date_nsec;
    uint64_t vm_clock_nsec;
    uint32_t icount;           /* -1 when not recorded */
    uint64_t disk_size;        /* virtual size when taken */
} BdrvSnapshotInfo;

typedef enum {
    PREALLOC_MODE_OFF,
    PREALLOC_MODE_METADATA,
    PREALLOC_MODE_FALLOC,
    PREALLOC_MODE_FULL,
} PreallocMode;

/* measure's result: bytes needed for the image, without and with all
 * clusters allocated. */
typedef struct BlockMeasureInfo {
    uint64_t required;
    uint64_t fully_allocated;
    uint64_t bitmaps;
} BlockMeasureInfo;

struct BlockDriver {
    const char *format_name;   /* "qcow2", "raw", "file" */
    bool is_protocol;          /* "file": a host file or block device */
    /* Formats only: a score (0 = not mine, 100 = certain) for the first
     * 2 KiB of the image. */
    int (*probe)(const uint8_t *buf, size_t len, const char *filename);

    /* bs->file is already opened for formats; @options holds the keys
     * left for this driver (consumed keys are removed). */
    bool (*open)(BlockDriverState *bs, GHashTable *options, int flags,
                 GError **errp);
    void (*close)(BlockDriverState *bs);

    int (*preadv)(BlockDriverState *bs, uint64_t offset, uint64_t bytes,
                  struct iovec *iov, int niov);
    int (*pwritev)(BlockDriverState *bs, uint64_t offset, uint64_t bytes,
                   struct iovec *iov, int niov, int flags);
    /* Optional; the generic code falls back to writing zero buffers. */
    int (*pwrite_zeroes)(BlockDriverState *bs, uint64_t offset,
                         uint64_t bytes, int flags);
    int (*pdiscard)(BlockDriverState *bs, uint64_t offset, uint64_t bytes);
    /* Optional: one whole cluster (or the tail cluster), compressed. */
    int (*pwrite_compressed)(BlockDriverState *bs, uint64_t offset,
                             uint64_t bytes, struct iovec *iov, int niov);
    /* Makes everything written so far (data and metadata) stable. */
    int (*flush)(BlockDriverState *bs);
    /*
     * Optional; main loop thread; never blocks. Maps a read, or a write
     * in place, of [offset, offset + bytes) to one range of bs->file so
     * that the BlockBackend can do it with io_uring without a worker:
     * true with *file_offset set, and the clusters held (not freed or
     * moved) until map_direct_release. false (metadata not cached, an
     * allocation or copy needed, the driver busy): use preadv/pwritev.
     */
    bool (*map_direct)(BlockDriverState *bs, uint64_t offset,
                       uint64_t bytes, bool write, uint64_t *file_offset);
    void (*map_direct_release)(BlockDriverState *bs);

    int64_t (*getlength)(BlockDriverState *bs);
    /* Host bytes used (du), or -errno. */
    int64_t (*get_allocated_file_size)(BlockDriverState *bs);
    int (*truncate)(BlockDriverState *bs, uint64_t offset, bool exact,
                    PreallocMode prealloc, GError **errp);
    /*
     * Status of [offset, offset + bytes): returns BDRV_BLOCK_* bits for
     * the first *pnum bytes (> 0), which share them; *map and *file are
     * set with BDRV_BLOCK_OFFSET_VALID. An unallocated range in a format
     * with a backing file returns 0 (the generic code asks the backing).
     */
    int (*block_status)(BlockDriverState *bs, uint64_t offset,
                        uint64_t bytes, uint64_t *pnum, uint64_t *map,
                        BlockDriverState **file);
    bool (*get_info)(BlockDriverState *bs, BlockDriverInfo *bdi);
    /* "format-specific" of query-block and info --output=json: an object
     * {"type": "qcow2", "data": {...}}; NULL when there is none. */
    JsonValue *(*get_specific_info)(BlockDriverState *bs);

    int (*check)(BlockDriverState *bs, BdrvCheckResult *res,
                 BdrvCheckMode fix);
    /* Creates an image at @filename from create options (-o keys:
     * "size", "cluster_size", "backing_file", "backing_fmt", ...). */
    bool (*create)(const char *filename, GHashTable *opts, GError **errp);
    bool (*amend)(BlockDriverState *bs, GHashTable *opts, bool force,
                  GError **errp);
    /* @in may be NULL (size only from @opts). */
    bool (*measure)(GHashTable *opts, BlockDriverState *in,
                    BlockMeasureInfo *info, GError **errp);
    /* Rewrites the backing file name and format in the image header. */
    int (*change_backing_file)(BlockDriverState *bs, const char *file,
                               const char *fmt);
    /* Deallocates everything (qemu-img commit without -d). */
    int (*make_empty)(BlockDriverState *bs);

    int (*snapshot_create)(BlockDriverState *bs, BdrvSnapshotInfo *sn);
    int (*snapshot_goto)(BlockDriverState *bs, const char *id_or_name);
    int (*snapshot_delete)(BlockDriverState *bs, const char *id,
                           const char *name, GError **errp);
    /* Returns the count and a g_new'd array in *list. */
    int (*snapshot_list)(BlockDriverState *bs, BdrvSnapshotInfo **list);
    /* Create options this driver takes, for `create -o help` and for
     * rejecting unknown ones: NULL-terminated. */
    const char *const *create_opts;
};

struct BlockDriverState {
    const BlockDriver *drv;
    void *opaque;              /* the driver's state */
    char *filename;            /* as opened */
    char *node_name;           /* -blockdev node-name, or generated */
    int open_flags;
    bool read_only;
    int refcnt;

    BlockDriverState *file;    /* protocol child of a format; NULL for
                                  a protocol */
    BlockDriverState *backing; /* opened backing layer or NULL */
    /* Backing file name and format as the image header says (formats
     * fill these in open); empty when there is none. */
    char backing_file[4096];
    char backing_format[16];
    /* Backing file as opened: resolved relative to this image. */
    char *backing_filename_full;

    /* Smallest request the node can do (O_DIRECT: the device's logical
     * block size; 1 otherwise). Generic code aligns for the driver. */
    uint32_t request_alignment;
    bool encrypted;            /* never: encrypted images are refused */
    /* Serialises the read-modify-write of unaligned writes (generic
     * code, request_alignment > 1 only). */
    GMutex rmw_lock;
};

/* ---- opening and closing ---- */

/* The driver called @name, or NULL. */
const BlockDriver *bdrv_find_format(const char *name);
/* Guesses the format of @filename from its first bytes: "qcow2" or
 * "raw" (never fails on a readable file). */
const char *bdrv_probe_format(const char *filename, GError **errp);

/*
 * Opens @filename (or options' "file.filename") with @format (NULL:
 * probe; the caller warns as QEMU does), its protocol child and its
 * backing chain unless BDRV_O_NO_BACKING. @options may be NULL; it is
 * borrowed, not modified. A backing chain that loops, a chain deeper
 * than 64 or a format the image does not match is an error naming the
 * file.
 */
BlockDriverState *bdrv_open(const char *filename, const char *format,
                            GHashTable *options, int flags, GError **errp);
void bdrv_ref(BlockDriverState *bs);
/* Drops a reference; the last one flushes (if writable) and closes the
 * node, its backing chain and file child. */
void bdrv_unref(BlockDriverState *bs);

/* ---- synchronous I/O, any thread, concurrent calls allowed ---- */

int bdrv_preadv(BlockDriverState *bs, uint64_t offset, uint64_t bytes,
                struct iovec *iov, int niov);
int bdrv_pwritev(BlockDriverState *bs, uint64_t offset, uint64_t bytes,
                 struct iovec *iov, int niov, int flags);
int bdrv_pread(BlockDriverState *bs, uint64_t offset, void *buf,
               uint64_t bytes);
int bdrv_pwrite(BlockDriverState *bs, uint64_t offset, const void *buf,
                uint64_t bytes, int flags);
int bdrv_pwrite_zeroes(BlockDriverState *bs, uint64_t offset,
                       uint64_t bytes, int flags);
int bdrv_pdiscard(BlockDriverState *bs, uint64_t offset, uint64_t bytes);
int bdrv_pwrite_compressed(BlockDriverState *bs, uint64_t offset,
                           const void *buf, uint64_t bytes);
/* Flushes @bs and then its file child (unless BDRV_O_NO_FLUSH). */
int bdrv_flush(BlockDriverState *bs);
int64_t bdrv_getlength(BlockDriverState *bs);
int bdrv_truncate(BlockDriverState *bs, uint64_t offset, bool exact,
                  PreallocMode prealloc, GError **errp);
/* As the driver hook, but follows the chain when this layer does not
 * allocate the range (BDRV_BLOCK_ALLOCATED clear); a range beyond the
 * end of a shorter backing file reads as zero. */
int bdrv_block_status(BlockDriverState *bs, uint64_t offset,
                      uint64_t bytes, uint64_t *pnum, uint64_t *map,
                      BlockDriverState **file);
/* Is [offset, offset+bytes) allocated in @top or any layer above @base
 * (exclusive; NULL: the whole chain)? *pnum as block_status. */
int bdrv_is_allocated_above(BlockDriverState *top, BlockDriverState *base,
                            uint64_t offset, uint64_t bytes,
                            uint64_t *pnum);
bool bdrv_get_info(BlockDriverState *bs, BlockDriverInfo *bdi);
int bdrv_check(BlockDriverState *bs, BdrvCheckResult *res,
               BdrvCheckMode fix);

/* ---- image creation and tools' helpers ---- */

/* Creates @filename with @format from create options (see the driver's
 * create_opts; "size" in bytes). Unknown options are an error. */
bool bdrv_create(const char *format, const char *filename, GHashTable *opts,
                 GError **errp);
/* Resolves a backing file name as QEMU does: relative to the directory
 * of @image_filename unless absolute. g_free the result. */
char *bdrv_resolve_backing_name(const char *image_filename,
                                const char *backing);

/* ---- small helpers shared by the drivers ---- */

/* Takes a key from @options; returns its value (g_free) or NULL. */
char *block_opts_take(GHashTable *options, const char *key);
/* Parses a size ("64k", "1G", "512") as qemu-img does; false on error. */
bool block_parse_size(const char *s, uint64_t *out, GError **errp);
GHashTable *block_opts_new(void);   /* string -> string, both owned */
/* A "key=value,key2=value2" string (-o, -drive) into @opts; ",," is a
 * literal comma. */
bool block_opts_parse(GHashTable *opts, const char *str,
                      const char *implied_key, GError **errp);
/* Takes a boolean (on/off, yes/no, true/false): *present says whether
 * @key was there; a malformed value is an error naming @key. */
bool block_opts_take_bool(GHashTable *opts, const char *key, bool *out,
                          bool *present, GError **errp);
/* Moves every "PREFIX.x" key of @opts into a new table as "x". */
GHashTable *block_opts_extract_prefix(GHashTable *opts, const char *prefix);
/* Takes the node options every driver shares (read-only, cache.direct,
 * cache.no-flush, discard, detect-zeroes, force-share, auto-read-only)
 * and applies them to the BDRV_O_* @flags. */
bool block_opts_take_flags(GHashTable *opts, int *flags, GError **errp);
/* A JSON object ({"driver": "qcow2", "file": {"filename": "x"}}) into
 * @opts as flat dotted keys ("file.filename"); bools become on/off,
 * null "null". Used by -blockdev and "json:" file names. */
bool block_opts_parse_json(GHashTable *opts, const char *json,
                           GError **errp);
/* Total length of an iovec. */
uint64_t iov_size(const struct iovec *iov, int niov);

#endif
