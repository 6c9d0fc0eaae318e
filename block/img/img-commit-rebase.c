/*
 * commit and rebase: move data between an overlay and its backing chain.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "block/img/lemu-img.h"

#define COPY_BUF_SIZE (2 * 1024 * 1024)

static char *canonical_path(const char *filename)
{
    char *r = realpath(filename, NULL);
    char *s = g_strdup(r ? r : filename);

    free(r);
    return s;
}

static void unref_layers(GPtrArray *layers)
{
    for (guint i = 0; i < layers->len; i++) {
        bdrv_unref(layers->pdata[i]);
    }
    g_ptr_array_free(layers, true);
}

/* ---- commit ---- */

/*
 * Copies into @base every range that one of @layers (top first, each
 * opened without its backing file) allocates, the highest layer winning.
 */
static int commit_copy(GPtrArray *layers, BlockDriverState *base,
                       int64_t size, ImgProgress *prog)
{
    uint8_t *buf = img_alloc_aligned(COPY_BUF_SIZE);
    int64_t offset = 0;
    int ret = 0;

    while (offset < size) {
        int64_t n = MIN(size - offset, COPY_BUF_SIZE);
        BlockDriverState *src = NULL;

        /* The first layer that has the range decides its content. */
        for (guint i = 0; i < layers->len; i++) {
            BlockDriverState *bs = layers->pdata[i];
            int64_t len = bdrv_getlength(bs);
            uint64_t pnum = 0;
            int r;

            if (offset >= len) {
                continue;
            }
            r = bdrv_is_allocated_above(bs, NULL, offset,
                                        MIN(n, len - offset), &pnum);
            if (r < 0 || pnum == 0) {
                ret = r < 0 ? r : -EIO;
                img_error("Could not read allocation status at offset %"
                          PRId64 ": %s", offset, g_strerror(-ret));
                goto out;
            }
            n = MIN((uint64_t)n, pnum);
            if (r > 0) {
                src = bs;
                break;
            }
        }
        if (src) {
            ret = bdrv_pread(src, offset, buf, n);
            if (ret < 0) {
                img_error("error while reading at byte %" PRId64 ": %s",
                          offset, g_strerror(-ret));
                goto out;
            }
            ret = bdrv_pwrite(base, offset, buf, n, 0);
            if (ret < 0) {
                img_error("error while writing at byte %" PRId64 ": %s",
                          offset, g_strerror(-ret));
                goto out;
            }
        }
        offset += n;
        img_progress_print(prog, 100.0 * offset / size);
    }
    ret = 0;
out:
    img_free_aligned(buf);
    return ret;
}

int img_commit(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    const char *fmt = NULL, *cache = "writeback", *base_arg = NULL;
    const char *filename;
    bool quiet = false, progress = false, drop = false, writethrough;
    int flags = BDRV_O_RDWR;
    GPtrArray *layers = g_ptr_array_new();
    BlockDriverState *top, *base = NULL;
    char *base_canon = NULL, *base_name = NULL, *base_fmt = NULL;
    char *cur_name = NULL;
    int64_t size, base_size;
    ImgProgress prog;
    int ret = 1;
    int c;

    while ((c = img_getopt(argc, argv, ":f:ht:b:dpqr:", long_options,
                           &ret)) != -1) {
        switch (c) {
        case IMG_GETOPT_EXIT:
            g_ptr_array_free(layers, true);
            return ret;
        case 'f': fmt = optarg; break;
        case 't': cache = optarg; break;
        case 'b':
            base_arg = optarg;
            /* A named base leaves the top image as it is. */
            drop = true;
            break;
        case 'd': drop = true; break;
        case 'p': progress = true; break;
        case 'q': quiet = true; break;
        case 'r': break;
        }
    }
    if (quiet) {
        progress = false;
    }
    if (optind != argc - 1) {
        g_ptr_array_free(layers, true);
        return img_error_exit("Expecting one image file name");
    }
    filename = argv[optind];
    if (!img_parse_cache(cache, &flags, &writethrough, false)) {
        g_ptr_array_free(layers, true);
        return 1;
    }

    top = img_open(filename, fmt, flags | BDRV_O_NO_BACKING, quiet);
    if (!top) {
        g_ptr_array_free(layers, true);
        return 1;
    }
    g_ptr_array_add(layers, top);
    if (!top->backing_file[0]) {
        img_error("Image does not have a backing file");
        goto out;
    }
    if (base_arg) {
        base_canon = canonical_path(base_arg);
    }

    /* Walk down to the base, keeping the layers above it. */
    cur_name = g_strdup(filename);
    for (;;) {
        BlockDriverState *bs = layers->pdata[layers->len - 1];
        char *next, *next_canon;

        if (!bs->backing_file[0]) {
            img_error("Did not find '%s' in the backing chain of '%s'",
                      base_arg ? base_arg : "", filename);
            goto out;
        }
        next = bdrv_resolve_backing_name(cur_name, bs->backing_file);
        next_canon = canonical_path(next);
        g_free(cur_name);
        cur_name = next;
        if (!base_canon || !strcmp(next_canon, base_canon)) {
            g_free(next_canon);
            base_name = g_strdup(next);
            base_fmt = bs->backing_format[0] ?
                       g_strdup(bs->backing_format) : NULL;
            break;
        }
        g_free(next_canon);
        if (layers->len >= 64) {
            img_error("Backing chain of '%s' is too deep", filename);
            goto out;
        }
        bs = img_open(next, bs->backing_format[0] ? bs->backing_format
                                                  : NULL,
                      BDRV_O_NO_BACKING, quiet);
        if (!bs) {
            goto out;
        }
        g_ptr_array_add(layers, bs);
    }

    base = img_open(base_name, base_fmt, flags, quiet);
    if (!base) {
        goto out;
    }
    size = bdrv_getlength(top);
    base_size = bdrv_getlength(base);
    if (size < 0 || base_size < 0) {
        img_error("Could not get image sizes");
        goto out;
    }
    if (base_size < size) {
        GError *err = NULL;

        if (bdrv_truncate(base, size, false, PREALLOC_MODE_OFF, &err) < 0) {
            img_error("Top image %s is larger than base image %s, and "
                      "resize of base image failed: %s", filename,
                      base_name, err ? err->message : "unknown error");
            g_clear_error(&err);
            goto out;
        }
    }

    img_progress_init(&prog, progress);
    if (commit_copy(layers, base, size, &prog) < 0) {
        goto out;
    }
    if (bdrv_flush(base) < 0) {
        img_error("Could not flush the base image");
        goto out;
    }
    if (!drop) {
        int r = top->drv->make_empty ? top->drv->make_empty(top) : -ENOTSUP;

        if (r < 0) {
            img_error("Could not empty %s: %s", filename, g_strerror(-r));
            goto out;
        }
    }
    img_progress_end(&prog);
    img_printf(quiet, "Image committed.\n");
    ret = 0;
out:
    if (base) {
        bdrv_unref(base);
    }
    unref_layers(layers);
    g_free(base_canon);
    g_free(base_name);
    g_free(base_fmt);
    g_free(cur_name);
    return ret;
}

/* ---- rebase ---- */

/* Reads @n bytes at @offset of @bs (NULL or past its end: zeroes). */
static int read_or_zero(BlockDriverState *bs, int64_t size, int64_t offset,
                        uint8_t *buf, int64_t n)
{
    int64_t have = 0;

    if (bs && offset < size) {
        int r;

        have = MIN(n, size - offset);
        r = bdrv_pread(bs, offset, buf, have);
        if (r < 0) {
            return r;
        }
    }
    memset(buf + have, 0, n - have);
    return 0;
}

/* Safe rebase: copy into @bs what reads differently through the new
 * backing file than through the old one. */
static int rebase_copy(BlockDriverState *bs, BlockDriverState *old_bs,
                       BlockDriverState *new_bs, ImgProgress *prog)
{
    int64_t size = bdrv_getlength(bs);
    int64_t old_size = old_bs ? bdrv_getlength(old_bs) : 0;
    int64_t new_size = new_bs ? bdrv_getlength(new_bs) : 0;
    uint8_t *buf_old = img_alloc_aligned(COPY_BUF_SIZE);
    uint8_t *buf_new = img_alloc_aligned(COPY_BUF_SIZE);
    int64_t offset = 0;
    int64_t gran = BDRV_SECTOR_SIZE;
    BlockDriverInfo bdi = { 0 };
    int ret = 0;

    if (bdrv_get_info(bs, &bdi) && bdi.cluster_size > 0) {
        gran = bdi.cluster_size;
    }
    if (size < 0 || old_size < 0 || new_size < 0) {
        ret = -EIO;
        img_error("Could not get image sizes");
        goto out;
    }
    while (offset < size) {
        int64_t n = MIN(size - offset, COPY_BUF_SIZE);
        uint64_t pnum = 0;
        int r = bdrv_is_allocated_above(bs, NULL, offset, n, &pnum);

        if (r < 0 || pnum == 0) {
            ret = r < 0 ? r : -EIO;
            img_error("error while reading image metadata: %s",
                      g_strerror(-ret));
            goto out;
        }
        n = MIN((uint64_t)n, pnum);
        if (r == 0) {
            int64_t pos = 0;

            ret = read_or_zero(old_bs, old_size, offset, buf_old, n);
            if (ret == 0) {
                ret = read_or_zero(new_bs, new_size, offset, buf_new, n);
            }
            if (ret < 0) {
                img_error("error while reading at byte %" PRId64 ": %s",
                          offset, g_strerror(-ret));
                goto out;
            }
            /* Write the old content of every cluster that differs.  The
             * top image is open without its backing file, so a write
             * that covers only part of a cluster would leave the rest
             * reading as zeroes: copy whole clusters (clipped to this
             * unallocated range, whose ends are allocation-aligned). */
            while (pos < n) {
                int64_t run = 0;

                /* The run of differing clusters starting at pos. */
                while (pos + run < n) {
                    int64_t at = offset + pos + run;
                    int64_t len = MIN(n - pos - run, gran - at % gran);

                    if (!memcmp(buf_old + pos + run, buf_new + pos + run,
                                len)) {
                        break;
                    }
                    run += len;
                }
                if (run == 0) {
                    pos += MIN(n - pos, gran - (offset + pos) % gran);
                    continue;
                }
                ret = bdrv_pwrite(bs, offset + pos, buf_old + pos, run, 0);
                if (ret < 0) {
                    img_error("error while writing at byte %" PRId64 ": %s",
                              offset + pos, g_strerror(-ret));
                    goto out;
                }
                pos += run;
            }
        }
        offset += n;
        img_progress_print(prog, 100.0 * offset / size);
    }
    ret = 0;
out:
    img_free_aligned(buf_old);
    img_free_aligned(buf_new);
    return ret;
}

int img_rebase(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "force-share", no_argument, NULL, 'U' },
        { NULL, 0, NULL, 0 }
    };
    const char *fmt = NULL, *cache = "writeback", *src_cache = "writeback";
    const char *out_base = NULL, *out_fmt = NULL, *filename;
    bool quiet = false, progress = false, unsafe = false, writethrough;
    int flags = BDRV_O_RDWR | BDRV_O_NO_BACKING, src_flags = 0;
    BlockDriverState *bs = NULL, *old_bs = NULL, *new_bs = NULL;
    char *new_full = NULL;
    ImgProgress prog;
    int ret = 1;
    int r;
    int c;

    while ((c = img_getopt(argc, argv, ":hf:F:b:upt:T:qUc", long_options,
                           &ret)) != -1) {
        switch (c) {
        case IMG_GETOPT_EXIT:
            return ret;
        case 'f': fmt = optarg; break;
        case 'F': out_fmt = optarg; break;
        case 'b': out_base = optarg; break;
        case 'u': unsafe = true; break;
        case 'p': progress = true; break;
        case 't': cache = optarg; break;
        case 'T': src_cache = optarg; break;
        case 'q': quiet = true; break;
        case 'U': src_flags |= BDRV_O_FORCE_SHARE; break;
        case 'c': break;
        }
    }
    if (quiet) {
        progress = false;
    }
    if (optind != argc - 1) {
        return img_error_exit("Expecting one image file name");
    }
    if (!unsafe && !out_base) {
        return img_error_exit("Must specify backing file (-b) or use unsafe "
                              "mode (-u)");
    }
    if (!out_base) {
        out_base = "";
    }
    filename = argv[optind];
    if (!img_parse_cache(cache, &flags, &writethrough, false) ||
        !img_parse_cache(src_cache, &src_flags, &writethrough, true)) {
        return 1;
    }

    bs = img_open(filename, fmt, flags, quiet);
    if (!bs) {
        return 1;
    }
    if (out_base[0]) {
        new_full = bdrv_resolve_backing_name(filename, out_base);
    }
    if (!unsafe) {
        GError *err = NULL;

        if (bs->backing_file[0]) {
            char *old_full = bdrv_resolve_backing_name(filename,
                                                       bs->backing_file);

            old_bs = bdrv_open(old_full, bs->backing_format[0] ?
                               bs->backing_format : NULL, NULL, src_flags,
                               &err);
            g_free(old_full);
            if (!old_bs) {
                img_error("Could not open old backing file '%s': %s",
                          bs->backing_file, err ? err->message : "");
                g_clear_error(&err);
                goto out;
            }
        }
        if (new_full) {
            new_bs = bdrv_open(new_full, out_fmt, NULL, src_flags, &err);
            if (!new_bs) {
                img_error("Could not open new backing file '%s': %s",
                          out_base, err ? err->message : "unknown error");
                g_clear_error(&err);
                goto out;
            }
        }
    }
    if (out_base[0] && !out_fmt) {
        /* The header must name the format of a new backing file. */
        img_error("Could not change the backing file to '%s': "
                  "backing format must be specified", out_base);
        goto out;
    }

    if (!unsafe) {
        img_progress_init(&prog, progress);
        if (rebase_copy(bs, old_bs, new_bs, &prog) < 0) {
            goto out;
        }
    }

    r = bs->drv->change_backing_file ?
        bs->drv->change_backing_file(bs, out_base,
                                     out_base[0] && out_fmt ? out_fmt : "")
        : -ENOTSUP;
    if (r == -ENOSPC) {
        img_error("Could not change the backing file to '%s': No space "
                  "left in the file header", out_base);
        goto out;
    } else if (r < 0) {
        img_error("Could not change the backing file to '%s': %s", out_base,
                  g_strerror(-r));
        goto out;
    }
    if (bdrv_flush(bs) < 0) {
        img_error("Could not flush '%s'", filename);
        goto out;
    }
    if (!unsafe) {
        img_progress_end(&prog);
    }
    ret = 0;
out:
    if (old_bs) {
        bdrv_unref(old_bs);
    }
    if (new_bs) {
        bdrv_unref(new_bs);
    }
    bdrv_unref(bs);
    g_free(new_full);
    return ret;
}
