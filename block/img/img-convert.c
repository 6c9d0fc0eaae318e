/*
 * convert: copies one or more images (concatenated) into a new or an
 * existing image of any format, skipping what reads as zero (-S), or
 * compressing every cluster (-c).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "block/img/lemu-img.h"

#define CONVERT_BUF_SIZE (2 * 1024 * 1024)

typedef struct ConvertState {
    BlockDriverState **src;
    int64_t *src_size;
    int src_num;
    int64_t total_size;

    BlockDriverState *target;
    bool target_fresh;        /* created by us (reads as zero) */
    bool target_is_zero;      /* --target-is-zero */
    bool target_has_backing;  /* -B: unallocated source ranges stay so */
    bool compress;
    int64_t sparse_size;      /* 0: write every byte */
    int64_t cluster_size;     /* of the target, for -c */
    int num_workers;          /* -m: ranges copied in parallel */

    GMutex lock;              /* protects the fields below */
    int64_t next;             /* start of the next range to hand out */
    int64_t done;             /* bytes finished, for the progress */
    int ret;                  /* first error */
    ImgProgress progress;
} ConvertState;

/* Each worker takes ranges of this size in turn. */
#define CONVERT_RANGE_SIZE (8 * 1024 * 1024)

/* Whether the target reads as zero wherever we do not write. */
static bool target_zero_init(ConvertState *s)
{
    return (s->target_fresh || s->target_is_zero) && !s->target_has_backing;
}

/* Reports a failed write at @offset; returns @r. */
static int check_write(int r, int64_t offset)
{
    if (r < 0) {
        img_error("error while writing at byte %" PRId64 ": %s", offset,
                  g_strerror(-r));
    }
    return r;
}

static int write_zeroes(ConvertState *s, int64_t offset, int64_t n)
{
    if (target_zero_init(s)) {
        return 0;
    }
    return check_write(bdrv_pwrite_zeroes(s->target, offset, n,
                                          BDRV_REQ_MAY_UNMAP), offset);
}

static int write_data(ConvertState *s, int64_t offset, const uint8_t *buf,
                      int64_t n)
{
    return check_write(bdrv_pwrite(s->target, offset, buf, n, 0), offset);
}

/*
 * Writes @n bytes at @offset, leaving out (or writing as zeroes) runs of
 * whole sparse_size blocks that are zero, as qemu-img's -S does.
 */
static int write_sparse(ConvertState *s, int64_t offset, const uint8_t *buf,
                        int64_t n)
{
    int64_t pos = 0;

    if (s->sparse_size == 0) {
        return write_data(s, offset, buf, n);
    }
    while (pos < n) {
        /* Blocks are aligned to the target offset. */
        int64_t blk_end = ((offset + pos) / s->sparse_size + 1) *
                          s->sparse_size - offset;
        int64_t len = MIN(blk_end, n) - pos;
        bool zero = img_buffer_is_zero(buf + pos, len);
        int64_t run = len;
        int r;

        /* Extend the run while blocks keep the same kind. */
        while (pos + run < n) {
            int64_t next_len = MIN(s->sparse_size, n - (pos + run));

            if (img_buffer_is_zero(buf + pos + run, next_len) != zero) {
                break;
            }
            run += next_len;
        }
        r = zero ? write_zeroes(s, offset + pos, run)
                 : write_data(s, offset + pos, buf + pos, run);
        if (r < 0) {
            return r;
        }
        pos += run;
    }
    return 0;
}

/* Finds the source that holds target offset @offset. */
static int find_source(ConvertState *s, int64_t offset, int64_t *src_off)
{
    for (int i = 0; i < s->src_num; i++) {
        if (offset < s->src_size[i]) {
            *src_off = offset;
            return i;
        }
        offset -= s->src_size[i];
    }
    return -1;
}

/* Reads [offset, offset+n) of the concatenated sources. */
static int read_sources(ConvertState *s, int64_t offset, uint8_t *buf,
                        int64_t n)
{
    while (n > 0) {
        int64_t src_off;
        int i = find_source(s, offset, &src_off);
        int64_t len;
        int r;

        if (i < 0) {
            memset(buf, 0, n);
            return 0;
        }
        len = MIN(n, s->src_size[i] - src_off);
        r = bdrv_pread(s->src[i], src_off, buf, len);
        if (r < 0) {
            img_error("error while reading at byte %" PRId64 ": %s", offset,
                      g_strerror(-r));
            return r;
        }
        buf += len;
        offset += len;
        n -= len;
    }
    return 0;
}

enum { BLK_DATA, BLK_ZERO, BLK_BACKING_FILE };

/* What [offset, ...) of the sources is, for up to @n bytes (*pnum). */
static int source_status(ConvertState *s, int64_t offset, int64_t n,
                         int64_t *pnum)
{
    int64_t src_off;
    int i = find_source(s, offset, &src_off);
    BlockDriverState *bs, *file;
    uint64_t num = 0, map;
    int r;

    if (i < 0) {
        *pnum = n;
        return BLK_ZERO;
    }
    bs = s->src[i];
    n = MIN(n, s->src_size[i] - src_off);
    if (s->target_has_backing && bs->backing) {
        /* Only what the top layer holds is copied; the rest is what the
         * new backing file provides. */
        r = bdrv_is_allocated_above(bs, bs->backing, src_off, n, &num);
        if (r < 0 || num == 0) {
            goto fail;
        }
        if (r == 0) {
            *pnum = num;
            return BLK_BACKING_FILE;
        }
        n = num;
    }
    r = bdrv_block_status(bs, src_off, n, &num, &map, &file);
    if (r < 0 || num == 0) {
        goto fail;
    }
    *pnum = num;
    if (r & BDRV_BLOCK_ZERO) {
        return BLK_ZERO;
    }
    if (!(r & BDRV_BLOCK_DATA) && s->target_has_backing) {
        return BLK_BACKING_FILE;
    }
    return BLK_DATA;
fail:
    img_error("error while reading block status at offset %" PRId64 ": %s",
              offset, g_strerror(r < 0 ? -r : EIO));
    return r < 0 ? r : -EIO;
}

static int convert_plain(ConvertState *s, uint8_t *buf, int64_t offset,
                         int64_t end)
{
    while (offset < end) {
        int64_t n;
        int st = source_status(s, offset, end - offset, &n);
        int r = 0;

        if (st < 0) {
            return st;
        }
        if (st == BLK_ZERO && s->sparse_size == 0 && !s->target_has_backing) {
            /* -S 0: allocate everything. */
            st = BLK_DATA;
        }
        n = MIN(n, end - offset);
        if (st == BLK_DATA) {
            n = MIN(n, CONVERT_BUF_SIZE);
            r = read_sources(s, offset, buf, n);
            if (r == 0) {
                r = write_sparse(s, offset, buf, n);
            }
        } else if (st == BLK_ZERO) {
            r = write_zeroes(s, offset, n);
        }
        if (r < 0) {
            return r;
        }
        offset += n;
    }
    return 0;
}

/* -c: every cluster that is not zero is written compressed. */
static int convert_compressed(ConvertState *s, uint8_t *buf, int64_t start,
                              int64_t end)
{
    int64_t cs = s->cluster_size;

    for (int64_t offset = start; offset < end; offset += cs) {
        int64_t len = MIN(cs, end - offset);
        int64_t n;
        int st = source_status(s, offset, len, &n);
        int r;

        if (st < 0) {
            return st;
        }
        if (n >= len && st == BLK_BACKING_FILE) {
            continue;
        }
        if (n >= len && st == BLK_ZERO) {
            r = write_zeroes(s, offset, len);
            if (r < 0) {
                return r;
            }
            continue;
        }
        r = read_sources(s, offset, buf, len);
        if (r < 0) {
            return r;
        }
        if (img_buffer_is_zero(buf, len)) {
            r = write_zeroes(s, offset, len);
        } else {
            r = bdrv_pwrite_compressed(s->target, offset, buf, len);
            if (r < 0) {
                img_error("error while compressing sector %" PRId64 ": %s",
                          offset / BDRV_SECTOR_SIZE, g_strerror(-r));
            }
        }
        if (r < 0) {
            return r;
        }
    }
    return 0;
}

/* Takes ranges in turn until none is left or one fails. */
static gpointer convert_worker(gpointer opaque)
{
    ConvertState *s = opaque;
    uint8_t *buf = img_alloc_aligned(CONVERT_BUF_SIZE);

    g_mutex_lock(&s->lock);
    while (s->ret == 0 && s->next < s->total_size) {
        int64_t start = s->next;
        /* Ranges end on cluster boundaries for -c. */
        int64_t end = MIN(start + CONVERT_RANGE_SIZE, s->total_size);
        int r;

        s->next = end;
        g_mutex_unlock(&s->lock);
        r = s->compress ? convert_compressed(s, buf, start, end)
                        : convert_plain(s, buf, start, end);
        g_mutex_lock(&s->lock);
        if (r < 0 && s->ret == 0) {
            s->ret = r;
        }
        s->done += end - start;
        img_progress_print(&s->progress, 100.0 * s->done / s->total_size);
    }
    g_mutex_unlock(&s->lock);
    img_free_aligned(buf);
    return NULL;
}

static int convert_do_copy(ConvertState *s)
{
    GThread **threads = g_new(GThread *, s->num_workers);

    for (int i = 0; i < s->num_workers; i++) {
        threads[i] = g_thread_new("convert", convert_worker, s);
    }
    for (int i = 0; i < s->num_workers; i++) {
        g_thread_join(threads[i]);
    }
    g_free(threads);
    return s->ret;
}

int img_convert(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "force-share", no_argument, NULL, 'U' },
        { "target-is-zero", no_argument, NULL, OPTION_TARGET_IS_ZERO },
        { NULL, 0, NULL, 0 }
    };
    const char *fmt = NULL, *out_fmt = "raw", *out_baseimg = NULL;
    const char *backing_fmt = NULL;
    const char *cache = "unsafe", *src_cache = "writeback";
    const char *out_filename;
    char *options = NULL;
    bool quiet = false, progress = false, skip_create = false;
    bool writethrough, src_writethrough;
    int src_flags = 0, flags = BDRV_O_RDWR;
    uint64_t sparse = 4096;
    ConvertState s = { .num_workers = 8 };
    const BlockDriver *drv;
    GHashTable *opts = NULL;
    GError *err = NULL;
    int ret = 1;
    int r;
    int c;

    while ((c = img_getopt(argc, argv, ":hf:O:B:CcF:o:l:S:pt:T:qnm:WUr:",
                           long_options, &ret)) != -1) {
        switch (c) {
        case IMG_GETOPT_EXIT:
            g_free(options);
            return ret;
        case 'f': fmt = optarg; break;
        case 'O': out_fmt = optarg; break;
        case 'B': out_baseimg = optarg; break;
        case 'F': backing_fmt = optarg; break;
        case 'c': s.compress = true; break;
        case 'C': break;      /* copy offloading: plain copies here */
        case 'o':
            if (options) {
                char *o = g_strdup_printf("%s,%s", options, optarg);
                g_free(options);
                options = o;
            } else {
                options = g_strdup(optarg);
            }
            break;
        case 'l':
            img_error("Snapshots are not supported by convert (-l)");
            goto out;
        case 'S':
            if (!img_parse_size(optarg, &sparse) ||
                sparse % BDRV_SECTOR_SIZE ||
                sparse > 16 * 1024 * 1024) {
                img_error("Invalid buffer size for sparse output specified. "
                          "Valid sizes are multiples of 512 up to %d. "
                          "Select 0 to disable sparse detection (fully "
                          "allocates output).", 16 * 1024 * 1024);
                goto out;
            }
            break;
        case 'p': progress = true; break;
        case 't': cache = optarg; break;
        case 'T': src_cache = optarg; break;
        case 'q': quiet = true; break;
        case 'n': skip_create = true; break;
        case 'm': {
            uint64_t m;

            if (!img_parse_size(optarg, &m) || m < 1 || m > 16) {
                img_error("Invalid number of coroutines. Allowed number of "
                          "coroutines is between 1 and 16");
                goto out;
            }
            s.num_workers = m;
            break;
        }
        case 'r': break;             /* rate limit: not needed */
        case 'W': break;             /* writes are in order anyway */
        case 'U': src_flags |= BDRV_O_FORCE_SHARE; break;
        case OPTION_TARGET_IS_ZERO: s.target_is_zero = true; break;
        }
    }
    if (quiet) {
        progress = false;
    }
    drv = bdrv_find_format(out_fmt);
    if (!drv) {
        img_error("Unknown file format '%s'", out_fmt);
        goto out;
    }
    if (options && (!strcmp(options, "help") || !strcmp(options, "?"))) {
        img_print_create_opts_help(drv);
        ret = 0;
        goto out;
    }
    if (argc - optind < 2) {
        img_error("Must specify image file name");
        goto out;
    }
    if (s.target_is_zero && !skip_create) {
        img_error("--target-is-zero requires use of -n flag");
        goto out;
    }
    if (out_baseimg && !backing_fmt) {
        img_error("Use of backing file requires explicit backing format");
        goto out;
    }
    if (!img_parse_cache(cache, &flags, &writethrough, false) ||
        !img_parse_cache(src_cache, &src_flags, &src_writethrough, true)) {
        goto out;
    }

    out_filename = argv[argc - 1];
    s.src_num = argc - 1 - optind;
    s.src = g_new0(BlockDriverState *, s.src_num);
    s.src_size = g_new0(int64_t, s.src_num);
    for (int i = 0; i < s.src_num; i++) {
        s.src[i] = img_open(argv[optind + i], fmt, src_flags, quiet);
        if (!s.src[i]) {
            goto out;
        }
        s.src_size[i] = bdrv_getlength(s.src[i]);
        if (s.src_size[i] < 0) {
            img_error("Could not get size of %s: %s", argv[optind + i],
                      g_strerror(-s.src_size[i]));
            goto out;
        }
        s.total_size += s.src_size[i];
    }

    opts = block_opts_new();
    if (options && !block_opts_parse(opts, options, NULL, &err)) {
        img_error_err(err);
        goto out;
    }
    if (out_baseimg) {
        g_hash_table_replace(opts, g_strdup("backing_file"),
                             g_strdup(out_baseimg));
    }
    if (backing_fmt) {
        g_hash_table_replace(opts, g_strdup("backing_fmt"),
                             g_strdup(backing_fmt));
    }
    s.target_has_backing = g_hash_table_contains(opts, "backing_file");
    if (s.target_has_backing && !g_hash_table_contains(opts,
                                                       "backing_fmt")) {
        img_error("Use of backing file requires explicit backing format");
        goto out;
    }
    if (s.target_has_backing && !skip_create) {
        bool takes = false;

        for (const char *const *o = drv->create_opts; o && *o; o++) {
            takes |= !strcmp(*o, "backing_file");
        }
        if (!takes) {
            img_error("Backing file not supported for file format '%s'",
                      out_fmt);
            goto out;
        }
    }
    if (!skip_create && !s.target_has_backing &&
        g_hash_table_contains(opts, "backing_fmt")) {
        img_error("%s: error while converting %s: Backing format cannot be "
                  "used without backing file", out_filename, out_fmt);
        goto out;
    }

    if (!skip_create) {
        if (!drv->create) {
            img_error("Format driver '%s' does not support image creation",
                      out_fmt);
            goto out;
        }
        g_hash_table_replace(opts, g_strdup("size"),
                             g_strdup_printf("%" PRId64, s.total_size));
        if (!img_check_create_opts(drv, opts, &err)) {
            img_error_err(err);
            goto out;
        }
        if (!bdrv_create(out_fmt, out_filename, opts, &err)) {
            img_error("%s: error while converting %s: %s", out_filename,
                      out_fmt, err->message);
            g_clear_error(&err);
            goto out;
        }
        s.target_fresh = true;
    }

    s.target = img_open(out_filename, skip_create ? NULL : out_fmt, flags,
                        true);
    if (!s.target) {
        goto out;
    }
    if (skip_create) {
        int64_t tsize = bdrv_getlength(s.target);

        s.target_has_backing = s.target->backing_file[0] != '\0';
        if (tsize < s.total_size) {
            img_error("Target image is too small (%" PRId64 " < %" PRId64
                      ")", tsize, s.total_size);
            goto out;
        }
    }
    if (s.compress) {
        BlockDriverInfo bdi = { 0 };

        if (!s.target->drv->pwrite_compressed) {
            img_error("Compression not supported for this file format");
            goto out;
        }
        if (!bdrv_get_info(s.target, &bdi) || bdi.cluster_size <= 0 ||
            bdi.cluster_size > CONVERT_BUF_SIZE) {
            img_error("could not get block driver info");
            goto out;
        }
        s.cluster_size = bdi.cluster_size;
    }
    s.sparse_size = sparse;

    img_progress_init(&s.progress, progress);
    g_mutex_init(&s.lock);
    r = convert_do_copy(&s);
    g_mutex_clear(&s.lock);
    if (r < 0) {
        goto out;
    }
    if (bdrv_flush(s.target) < 0) {
        img_error("error while flushing the target");
        goto out;
    }
    img_progress_end(&s.progress);
    ret = 0;
out:
    if (s.target) {
        bdrv_unref(s.target);
    }
    for (int i = 0; i < s.src_num; i++) {
        if (s.src[i]) {
            bdrv_unref(s.src[i]);
        }
    }
    g_free(s.src);
    g_free(s.src_size);
    if (opts) {
        g_hash_table_unref(opts);
    }
    g_free(options);
    return ret;
}
