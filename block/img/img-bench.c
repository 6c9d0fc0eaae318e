/*
 * bench: a fixed number of reads or writes of one size, @depth in flight
 * through the BlockBackend's asynchronous requests, timed. Semantics and
 * output are qemu-img bench's; --random (with --seed) is lemu's own
 * addition: random 4 KiB aligned offsets within the image.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "block/img/lemu-img.h"
#include "lemu/block/block-backend.h"

typedef struct BenchData BenchData;

/* One request slot: its own buffer, reused for every request it sends. */
typedef struct BenchSlot {
    BenchData *b;
    struct iovec iov;
} BenchSlot;

struct BenchData {
    BlockBackend *blk;
    MainLoop *loop;
    uint64_t image_size;
    bool write;
    int bufsize;
    int step;
    int nrreq;
    int n;                   /* requests still to complete */
    int in_flight;
    uint64_t offset;
    int flush_interval;
    bool drain_on_flush;
    bool in_flush;
    bool random;
    GRand *rand;
    int failed;              /* -errno of the first failure */
    BenchSlot *slots;
    int *free_slots;         /* stack of idle slot indices */
    int nr_free;
};

static void bench_cb(void *opaque, int ret);

static uint64_t bench_next_offset(BenchData *b)
{
    uint64_t offset;

    if (b->random) {
        /* Whole 4 KiB blocks the buffer fits in from their start. */
        uint64_t blocks = b->image_size >= (uint64_t)b->bufsize ?
                          (b->image_size - b->bufsize) / 4096 + 1 : 1;
        uint64_t r = ((uint64_t)g_rand_int(b->rand) << 32) |
                     g_rand_int(b->rand);

        return (r % blocks) * 4096;
    }
    offset = b->offset;
    b->offset += b->step;
    b->offset = b->image_size ? b->offset % b->image_size : 0;
    return offset;
}

static void bench_submit(BenchData *b)
{
    while (b->n > b->in_flight && b->in_flight < b->nrreq &&
           !b->failed) {
        BenchSlot *slot = &b->slots[b->free_slots[--b->nr_free]];
        uint64_t offset = bench_next_offset(b);

        b->in_flight++;
        if (b->write) {
            blk_aio_pwritev(b->blk, offset, &slot->iov, 1, 0, bench_cb,
                            slot);
        } else {
            blk_aio_preadv(b->blk, offset, &slot->iov, 1, bench_cb, slot);
        }
    }
}

static void bench_flush_cb(void *opaque, int ret)
{
    BenchData *b = opaque;

    if (ret < 0 && !b->failed) {
        b->failed = ret;
    }
    if (b->in_flush) {
        /* The queue was drained for this flush: start the next requests. */
        b->in_flush = false;
        bench_submit(b);
    }
}

static void bench_cb(void *opaque, int ret)
{
    BenchSlot *slot = opaque;
    BenchData *b = slot->b;
    int remaining;

    if (ret < 0 && !b->failed) {
        b->failed = ret;
    }
    b->free_slots[b->nr_free++] = slot - b->slots;
    remaining = b->n - b->in_flight;
    b->n--;
    b->in_flight--;

    if (b->flush_interval && remaining % b->flush_interval == 0) {
        if (!b->in_flight || !b->drain_on_flush) {
            b->in_flush = b->drain_on_flush;
            blk_aio_flush(b->blk, bench_flush_cb, b);
        }
        if (b->drain_on_flush) {
            return;
        }
    }
    bench_submit(b);
}

static bool parse_int_opt(const char *s, long min, long max, long *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 0);
    if (errno || end == s || *end || v < min || v > max) {
        return false;
    }
    *out = v;
    return true;
}

int img_bench(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "flush-interval", required_argument, NULL, OPTION_FLUSH_INTERVAL },
        { "pattern", required_argument, NULL, OPTION_PATTERN },
        { "no-drain", no_argument, NULL, OPTION_NO_DRAIN },
        { "force-share", no_argument, NULL, 'U' },
        { "random", no_argument, NULL, OPTION_RANDOM },
        { "seed", required_argument, NULL, OPTION_SEED },
        { NULL, 0, NULL, 0 }
    };
    const char *fmt = NULL, *filename;
    bool quiet = false, writethrough = false, is_write = false;
    bool random = false, drain_on_flush = true;
    long count = 75000, depth = 64, bufsize = 4096, step = 0;
    long flush_interval = 0, pattern = 0, seed = 0, nslots = 0;
    uint64_t offset = 0;
    int flags = 0;
    BenchData b = { 0 };
    GError *err = NULL;
    struct timespec t1, t2;
    int64_t len;
    int ret = 1;
    int c;

    while ((c = img_getopt(argc, argv, ":hc:d:f:ni:o:qs:S:t:wU", long_options,
                           &ret)) != -1) {
        switch (c) {
        case IMG_GETOPT_EXIT:
            return ret;
        case 'c':
            if (!parse_int_opt(optarg, 0, INT_MAX, &count)) {
                img_error("Invalid request count specified");
                return 1;
            }
            break;
        case 'd':
            if (!parse_int_opt(optarg, 1, INT_MAX, &depth)) {
                img_error("Invalid queue depth specified");
                return 1;
            }
            break;
        case 'f': fmt = optarg; break;
        case 'n': flags |= BDRV_O_IO_URING; break;
        case 'i':
            if (!strcmp(optarg, "io_uring") || !strcmp(optarg, "native")) {
                flags |= BDRV_O_IO_URING;
            } else if (!strcmp(optarg, "threads")) {
                flags &= ~BDRV_O_IO_URING;
            } else {
                img_error("Invalid aio option: %s", optarg);
                return 1;
            }
            break;
        case 'o':
            if (!img_parse_size(optarg, &offset) || offset > INT64_MAX) {
                img_error("Invalid offset specified");
                return 1;
            }
            break;
        case 'q': quiet = true; break;
        case 's': {
            uint64_t v;

            if (!img_parse_size(optarg, &v) || v > INT_MAX) {
                img_error("Invalid buffer size specified");
                return 1;
            }
            bufsize = v;
            break;
        }
        case 'S': {
            uint64_t v;

            if (!img_parse_size(optarg, &v) || v > INT_MAX) {
                img_error("Invalid step size specified");
                return 1;
            }
            step = v;
            break;
        }
        case 't':
            if (!img_parse_cache_mode(optarg, &flags, &writethrough)) {
                img_error("Invalid cache mode");
                return 1;
            }
            break;
        case 'w':
            flags |= BDRV_O_RDWR;
            is_write = true;
            break;
        case 'U': flags |= BDRV_O_FORCE_SHARE; break;
        case OPTION_FLUSH_INTERVAL:
            if (!parse_int_opt(optarg, 0, INT_MAX, &flush_interval)) {
                img_error("Invalid flush interval specified");
                return 1;
            }
            break;
        case OPTION_PATTERN:
            if (!parse_int_opt(optarg, 0, 0xff, &pattern)) {
                img_error("Invalid pattern byte specified");
                return 1;
            }
            break;
        case OPTION_NO_DRAIN: drain_on_flush = false; break;
        case OPTION_RANDOM: random = true; break;
        case OPTION_SEED:
            if (!parse_int_opt(optarg, 0, LONG_MAX, &seed)) {
                img_error("Invalid seed specified");
                return 1;
            }
            break;
        }
    }
    if (optind != argc - 1) {
        return img_error_exit("Expecting one image file name");
    }
    filename = argv[optind];
    if (!is_write && flush_interval) {
        img_error("--flush-interval is only available in write tests");
        return 1;
    }
    if (flush_interval && flush_interval < depth) {
        img_error("Flush interval can't be smaller than depth");
        return 1;
    }
    if (!step) {
        step = bufsize;
    }

    if (!fmt) {
        const char *probed = bdrv_probe_format(filename, NULL);

        /* img_open would warn about raw; bench opens through a backend. */
        if (!probed) {
            img_open(filename, NULL, flags, quiet);
            return 1;
        }
        fmt = probed;
    }
    b.loop = main_loop_new(NULL);
    b.blk = blk_new_open(b.loop, filename, fmt, NULL, flags, &err);
    if (!b.blk) {
        img_open_error(filename, err);
        main_loop_free(b.loop);
        return 1;
    }
    blk_set_enable_write_cache(b.blk, !writethrough);
    len = blk_getlength(b.blk);
    if (len < 0) {
        img_error("Could not get image size: %s", g_strerror(-len));
        goto out;
    }

    b.image_size = len;
    b.write = is_write;
    b.bufsize = bufsize;
    b.step = step;
    b.nrreq = MAX(MIN(depth, count), 1);
    b.n = count;
    b.offset = offset;
    b.flush_interval = flush_interval;
    b.drain_on_flush = drain_on_flush;
    b.random = random;
    if (random) {
        b.rand = g_rand_new_with_seed((guint32)seed);
    }
    /* No more requests are ever in flight than the run sends. */
    nslots = MAX(MIN(depth, count), 1);
    b.slots = g_try_new0(BenchSlot, nslots);
    b.free_slots = g_try_new(int, nslots);
    if (!b.slots || !b.free_slots) {
        img_error("Could not allocate %ld request buffers", nslots);
        nslots = 0;
        goto out;
    }
    for (int i = 0; i < nslots; i++) {
        void *buf = NULL;

        if (posix_memalign(&buf, 4096, MAX(bufsize, 4096)) != 0) {
            img_error("Could not allocate %ld request buffers of %ld "
                      "bytes", nslots, bufsize);
            goto out;
        }
        b.slots[i].b = &b;
        b.slots[i].iov.iov_base = buf;
        b.slots[i].iov.iov_len = bufsize;
        /* Reads leave the buffers untouched until the data arrives. */
        if (is_write) {
            memset(buf, (int)pattern, bufsize);
        }
        b.free_slots[i] = nslots - 1 - i;
    }
    b.nr_free = nslots;

    /* qemu-img bench prints these even with -q. */
    {
        if (random) {
            printf("Sending %ld %s requests, %ld bytes each, %ld in "
                   "parallel (random offsets, seed %ld)\n", count,
                   is_write ? "write" : "read", bufsize, depth, seed);
        } else {
            printf("Sending %ld %s requests, %ld bytes each, %ld in "
                   "parallel (starting at offset %" PRIu64 ", step size "
                   "%ld)\n", count, is_write ? "write" : "read", bufsize,
                   depth, offset, step);
        }
        if (flush_interval) {
            printf("Sending flush every %ld requests\n", flush_interval);
        }
    }

    clock_gettime(CLOCK_MONOTONIC, &t1);
    bench_submit(&b);
    while (b.n > 0 && !(b.failed && b.in_flight == 0)) {
        main_loop_iterate(b.loop, true);
    }
    while (b.in_flush) {
        main_loop_iterate(b.loop, true);
    }
    clock_gettime(CLOCK_MONOTONIC, &t2);

    if (b.failed) {
        img_error("Failed request: %s", g_strerror(-b.failed));
        goto out;
    }
    {
        printf("Run completed in %3.3f seconds.\n",
               (t2.tv_sec - t1.tv_sec) + (t2.tv_nsec - t1.tv_nsec) / 1e9);
    }
    ret = 0;
out:
    blk_drain(b.blk);
    blk_unref(b.blk);
    main_loop_free(b.loop);
    if (b.slots) {
        for (int i = 0; i < nslots; i++) {
            free(b.slots[i].iov.iov_base);
        }
    }
    g_free(b.slots);
    g_free(b.free_slots);
    if (b.rand) {
        g_rand_free(b.rand);
    }
    return ret;
}
