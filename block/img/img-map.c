/*
 * map and compare: where an image's data lives, layer by layer, and
 * whether two images read the same.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include "block/img/lemu-img.h"

/* One run of bytes that share their status, as qemu-img map prints it. */
typedef struct MapEntry {
    int64_t start;
    int64_t length;
    int depth;
    bool present;
    bool zero;
    bool data;
    bool has_offset;
    int64_t offset;
    const char *filename;
} MapEntry;

/*
 * Status of [offset, offset+bytes) found by walking down the chain to the
 * first layer that allocates it (or the bottom one), recording how deep
 * it is. Returns 0 or -errno.
 */
static int layer_status(BlockDriverState *top, int64_t offset, int64_t bytes,
                        MapEntry *e)
{
    BlockDriverState *bs = top;
    uint64_t pnum = 0, map = 0;
    BlockDriverState *file = NULL;
    int depth = 0;
    int64_t len = bdrv_getlength(bs);
    int ret;

    for (;;) {
        if (len < 0) {
            return len;
        }
        if (offset >= len) {
            /* Past the end of this layer, or of a shorter backing file
             * under it: this layer reads as zero there. */
            *e = (MapEntry) {
                .start = offset, .length = bytes, .depth = depth,
                .zero = true,
            };
            return 0;
        }
        bytes = MIN(bytes, len - offset);
        if (bs->backing) {
            ret = bdrv_is_allocated_above(bs, bs->backing, offset, bytes,
                                          &pnum);
            if (ret < 0) {
                return ret;
            }
            if (pnum == 0) {
                return -EIO;
            }
            bytes = MIN((uint64_t)bytes, pnum);
            if (ret == 0) {
                /* Go down only where the backing file has the range; the
                 * checks above then answer for this layer otherwise. */
                len = bdrv_getlength(bs->backing);
                if (len >= 0 && offset < len) {
                    bs = bs->backing;
                    depth++;
                }
                continue;
            }
        }
        ret = bdrv_block_status(bs, offset, bytes, &pnum, &map, &file);
        if (ret < 0) {
            return ret;
        }
        if (pnum == 0) {
            return -EIO;
        }
        break;
    }
    *e = (MapEntry) {
        .start = offset,
        .length = MIN((uint64_t)bytes, pnum),
        .depth = depth,
        .present = !!(ret & BDRV_BLOCK_ALLOCATED),
        .zero = !!(ret & BDRV_BLOCK_ZERO),
        .data = !!(ret & BDRV_BLOCK_DATA),
        .has_offset = !!(ret & BDRV_BLOCK_OFFSET_VALID),
        .offset = map,
        .filename = (ret & BDRV_BLOCK_OFFSET_VALID) ?
                    (file ? file->filename : bs->filename) : NULL,
    };
    return 0;
}

static bool entry_mergeable(const MapEntry *curr, const MapEntry *next)
{
    if (curr->length == 0) {
        return false;
    }
    if (curr->zero != next->zero || curr->data != next->data ||
        curr->depth != next->depth || curr->present != next->present ||
        curr->has_offset != next->has_offset) {
        return false;
    }
    if (curr->has_offset && curr->offset + curr->length != next->offset) {
        return false;
    }
    if (curr->filename != next->filename &&
        (!curr->filename || !next->filename ||
         strcmp(curr->filename, next->filename))) {
        return false;
    }
    return true;
}

static int dump_map_entry(bool json, const MapEntry *e, bool last)
{
    if (!json) {
        if (e->data && !e->has_offset) {
            img_error("File contains external, encrypted or compressed "
                      "clusters.");
            return -EINVAL;
        }
        if (e->data && !e->zero) {
            printf("%#-16" PRIx64 "%#-16" PRIx64 "%#-16" PRIx64 "%s\n",
                   (uint64_t)e->start, (uint64_t)e->length,
                   (uint64_t)e->offset, e->filename ? e->filename : "");
        }
        return 0;
    }
    printf("{ \"start\": %" PRId64 ", \"length\": %" PRId64 ", "
           "\"depth\": %d, \"present\": %s, \"zero\": %s, \"data\": %s",
           e->start, e->length, e->depth, e->present ? "true" : "false",
           e->zero ? "true" : "false", e->data ? "true" : "false");
    if (e->has_offset) {
        printf(", \"offset\": %" PRId64, e->offset);
    }
    putchar('}');
    if (!last) {
        puts(",");
    }
    return 0;
}

int img_map(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "format", required_argument, NULL, 'f' },
        { "output", required_argument, NULL, OPTION_OUTPUT },
        { "start-offset", required_argument, NULL, OPTION_START_OFFSET },
        { "max-length", required_argument, NULL, OPTION_MAX_LENGTH },
        { "force-share", no_argument, NULL, 'U' },
        { NULL, 0, NULL, 0 }
    };
    const char *fmt = NULL;
    bool json = false;
    int flags = 0;
    uint64_t start = 0, max_length = UINT64_MAX;
    BlockDriverState *bs;
    MapEntry curr = { 0 }, next;
    int64_t length;
    int ret = 1;
    int c;

    while ((c = img_getopt(argc, argv, ":f:hU", long_options, &ret)) != -1) {
        switch (c) {
        case IMG_GETOPT_EXIT:
            return ret;
        case 'f': fmt = optarg; break;
        case 'U': flags |= BDRV_O_FORCE_SHARE; break;
        case OPTION_OUTPUT:
            if (!img_parse_output(optarg, &json)) {
                return 1;
            }
            break;
        case OPTION_START_OFFSET:
            if (!img_parse_size(optarg, &start) || start > INT64_MAX) {
                img_error("Invalid start offset specified! You may use k, "
                          "M, G, T, P or E suffixes for ");
                img_error("kilobytes, megabytes, gigabytes, terabytes, "
                          "petabytes and exabytes.");
                return 1;
            }
            break;
        case OPTION_MAX_LENGTH:
            if (!img_parse_size(optarg, &max_length) ||
                max_length > INT64_MAX) {
                img_error("Invalid max length specified! You may use k, M, "
                          "G, T, P or E suffixes for ");
                img_error("kilobytes, megabytes, gigabytes, terabytes, "
                          "petabytes and exabytes.");
                return 1;
            }
            break;
        }
    }
    if (optind != argc - 1) {
        return img_error_exit("Expecting one image file name");
    }

    bs = img_open(argv[optind], fmt, flags, false);
    if (!bs) {
        return 1;
    }
    length = bdrv_getlength(bs);
    if (length < 0) {
        img_error("Failed to get size for '%s'", argv[optind]);
        goto out;
    }
    if (max_length != UINT64_MAX) {
        length = MIN((uint64_t)length, start + max_length);
    }

    if (json) {
        printf("[");
    } else {
        printf("%-16s%-16s%-16s%s\n", "Offset", "Length", "Mapped to",
               "File");
    }
    curr.start = start;
    while (curr.start + curr.length < length) {
        int64_t offset = curr.start + curr.length;
        int64_t n = MIN((int64_t)1 << 30, length - offset);
        int r = layer_status(bs, offset, n, &next);

        if (r < 0) {
            img_error("Could not read file metadata: %s", g_strerror(-r));
            goto out;
        }
        if (entry_mergeable(&curr, &next)) {
            curr.length += next.length;
            continue;
        }
        if (curr.length > 0 && dump_map_entry(json, &curr, false) < 0) {
            goto out;
        }
        curr = next;
    }
    if (curr.length > 0 || json) {
        if (dump_map_entry(json, &curr, true) < 0) {
            goto out;
        }
    }
    if (json) {
        printf("]\n");
    }
    ret = 0;
out:
    bdrv_unref(bs);
    return ret;
}

/* ---- compare ---- */

#define COMPARE_BUF_SIZE (2 * 1024 * 1024)

/* Bytes from the start of @a and @b that are equal, in whole sectors. */
static int64_t equal_prefix(const uint8_t *a, const uint8_t *b, int64_t n)
{
    int64_t i;

    for (i = 0; i < n; i += BDRV_SECTOR_SIZE) {
        int64_t len = MIN(n - i, (int64_t)BDRV_SECTOR_SIZE);

        if (memcmp(a + i, b + i, len)) {
            return i;
        }
    }
    return n;
}

static int64_t zero_prefix(const uint8_t *a, int64_t n)
{
    int64_t i;

    for (i = 0; i < n; i += BDRV_SECTOR_SIZE) {
        if (!img_buffer_is_zero(a + i, MIN(n - i, (int64_t)BDRV_SECTOR_SIZE))) {
            return i;
        }
    }
    return n;
}

/* 0 when [offset, offset+n) of @bs reads as zero, 1 when not (reported),
 * 4 on a read error. */
/* Reads @n bytes at @offset; 0, or 4 (compare's I/O error) reported. */
static int read_chunk(BlockDriverState *bs, const char *filename,
                      int64_t offset, int64_t n, uint8_t *buf)
{
    int r = bdrv_pread(bs, offset, buf, n);

    if (r < 0) {
        img_error("Error while reading offset %" PRId64 " of %s: %s",
                  offset, filename, g_strerror(-r));
        return 4;
    }
    return 0;
}

static int check_empty(BlockDriverState *bs, const char *filename,
                       int64_t offset, int64_t n, uint8_t *buf, bool quiet)
{
    int64_t z;

    if (read_chunk(bs, filename, offset, n, buf)) {
        return 4;
    }
    z = zero_prefix(buf, n);
    if (z < n) {
        img_printf(quiet, "Content mismatch at offset %" PRId64 "!\n",
                   offset + z);
        return 1;
    }
    return 0;
}

int img_compare(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "force-share", no_argument, NULL, 'U' },
        { NULL, 0, NULL, 0 }
    };
    const char *fmt1 = NULL, *fmt2 = NULL, *cache = "writeback";
    const char *filename1, *filename2;
    bool quiet = false, strict = false, progress = false, writethrough;
    int flags = 0;
    BlockDriverState *bs1 = NULL, *bs2 = NULL;
    uint8_t *buf1 = NULL, *buf2 = NULL;
    int64_t size1, size2, total, offset;
    ImgProgress prog;
    int ret = 2;
    int c;

    while ((c = img_getopt(argc, argv, ":hf:F:T:pqsU", long_options,
                           &ret)) != -1) {
        switch (c) {
        case IMG_GETOPT_EXIT:
            return ret;
        case 'f': fmt1 = optarg; break;
        case 'F': fmt2 = optarg; break;
        case 'T': cache = optarg; break;
        case 'p': progress = true; break;
        case 'q': quiet = true; break;
        case 's': strict = true; break;
        case 'U': flags |= BDRV_O_FORCE_SHARE; break;
        }
    }
    if (quiet) {
        progress = false;
    }
    if (optind != argc - 2) {
        return img_error_exit("Expecting two image file names");
    }
    filename1 = argv[optind];
    filename2 = argv[optind + 1];
    if (!img_parse_cache(cache, &flags, &writethrough, true)) {
        return 2;
    }

    bs1 = img_open(filename1, fmt1, flags, quiet);
    if (!bs1) {
        goto out;
    }
    bs2 = img_open(filename2, fmt2, flags, quiet);
    if (!bs2) {
        goto out;
    }
    size1 = bdrv_getlength(bs1);
    size2 = bdrv_getlength(bs2);
    if (size1 < 0 || size2 < 0) {
        img_error("Can't get size of %s: %s",
                  size1 < 0 ? filename1 : filename2,
                  g_strerror(-(size1 < 0 ? size1 : size2)));
        goto out;
    }
    if (strict && size1 != size2) {
        img_printf(quiet, "Strict mode: Image size mismatch!\n");
        ret = 1;
        goto out;
    }
    buf1 = img_alloc_aligned(COMPARE_BUF_SIZE);
    buf2 = img_alloc_aligned(COMPARE_BUF_SIZE);
    total = MIN(size1, size2);
    img_progress_init(&prog, progress);

    for (offset = 0; offset < total;) {
        uint64_t pnum1, pnum2, map;
        BlockDriverState *file;
        int64_t chunk;
        int st1, st2;

        st1 = bdrv_block_status(bs1, offset, total - offset, &pnum1, &map,
                                &file);
        st2 = bdrv_block_status(bs2, offset, total - offset, &pnum2, &map,
                                &file);
        if (st1 < 0 || st2 < 0 || !pnum1 || !pnum2) {
            img_error("Sector allocation test failed for %s",
                      st1 < 0 || !pnum1 ? filename1 : filename2);
            ret = 3;
            goto out;
        }
        chunk = MIN(pnum1, pnum2);
        chunk = MIN(chunk, COMPARE_BUF_SIZE);
        if (strict && (st1 & ~BDRV_BLOCK_OFFSET_VALID) !=
                      (st2 & ~BDRV_BLOCK_OFFSET_VALID)) {
            img_printf(quiet, "Strict mode: Offset %" PRId64
                       " block status mismatch!\n", offset);
            ret = 1;
            goto out;
        }
        if ((st1 & BDRV_BLOCK_ZERO) && (st2 & BDRV_BLOCK_ZERO)) {
            /* Both read as zero. */
        } else if ((st1 & BDRV_BLOCK_ZERO) || (st2 & BDRV_BLOCK_ZERO)) {
            /* One side reads as zero: so must the other. */
            ret = (st2 & BDRV_BLOCK_ZERO) ?
                  check_empty(bs1, filename1, offset, chunk, buf1, quiet) :
                  check_empty(bs2, filename2, offset, chunk, buf2, quiet);
            if (ret) {
                goto out;
            }
        } else {
            int64_t eq;

            ret = read_chunk(bs1, filename1, offset, chunk, buf1);
            if (!ret) {
                ret = read_chunk(bs2, filename2, offset, chunk, buf2);
            }
            if (ret) {
                goto out;
            }
            eq = equal_prefix(buf1, buf2, chunk);
            if (eq < chunk) {
                img_printf(quiet, "Content mismatch at offset %" PRId64
                           "!\n", offset + eq);
                ret = 1;
                goto out;
            }
        }
        offset += chunk;
        img_progress_print(&prog, 100.0 * offset / MAX(size1, size2));
    }

    if (size1 != size2) {
        BlockDriverState *longer = size1 > size2 ? bs1 : bs2;
        const char *name = size1 > size2 ? filename1 : filename2;
        int64_t end = MAX(size1, size2);

        img_printf(quiet, "Warning: Image size mismatch!\n");
        for (offset = total; offset < end;) {
            uint64_t pnum, map;
            BlockDriverState *file;
            int st = bdrv_block_status(longer, offset, end - offset, &pnum,
                                       &map, &file);
            int64_t chunk;

            if (st < 0 || !pnum) {
                img_error("Sector allocation test failed for %s", name);
                ret = 3;
                goto out;
            }
            chunk = MIN((int64_t)pnum, COMPARE_BUF_SIZE);
            if (!(st & BDRV_BLOCK_ZERO)) {
                ret = check_empty(longer, name, offset, chunk,
                                  size1 > size2 ? buf1 : buf2, quiet);
                if (ret) {
                    goto out;
                }
            }
            offset += chunk;
            img_progress_print(&prog, 100.0 * offset / end);
        }
    }
    img_progress_end(&prog);
    img_printf(quiet, "Images are identical.\n");
    ret = 0;
out:
    img_free_aligned(buf1);
    img_free_aligned(buf2);
    if (bs1) {
        bdrv_unref(bs1);
    }
    if (bs2) {
        bdrv_unref(bs2);
    }
    return ret;
}
