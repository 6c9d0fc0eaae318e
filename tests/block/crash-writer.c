/*
 * crash-writer: drives an image through a BlockBackend the way a guest
 * does (several requests in flight, periodic flushes) so that a test can
 * kill it at a random moment and then check what survived.
 *
 *   crash-writer [options] IMAGE            write until killed (or --writes)
 *   crash-writer --verify N [options] IMAGE check an image after a crash
 *
 * Options:
 *   --seed S          the request sequence (default 1)
 *   --writes N        stop after N requests (default: run until killed)
 *   --flush-every K   flush after every K requests (default 16)
 *   --qd Q            requests in flight at most (default 8)
 *   --format F        image format (default qcow2)
 *   --base-pattern    bytes never written hold the backing pattern (each
 *                     16 bytes: their offset, big endian, and "BACKING!"),
 *                     not zeroes
 *   --max-ops M       verify: requests that may have been issued (default
 *                     N + 2 * K + Q)
 *
 * The request sequence is a pure function of the seed, so --verify
 * regenerates it instead of reading a log. Request i (from 1) is a data
 * write, a zero write or a discard; the data of a write is a function of
 * (seed, i, absolute byte offset). Requests that overlap one still in
 * flight wait for it, so requests to the same byte complete in order.
 *
 * Flushes: at every K-th request the writer waits for everything in
 * flight, issues a flush and goes on issuing requests while the flush
 * runs (one flush at a time). When the flush completes it prints
 * "flushed <n>" where requests 1..n had completed before the flush was
 * issued: those must survive a crash.
 *
 * Verify rule: for every byte, let i be the last request <= N that
 * touched it (0: none). The byte must hold what request i put there, or
 * what a request in (N, M] touching it put there. A discard allows any
 * value (it may read as zero, as old data or as the backing file).
 * On a mismatch it also says whose data the first bad byte holds (a
 * request's data meant for another offset means a misdirected cluster).
 * Exit status: 0 good, 1 content wrong, 2 usage or I/O error.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lemu/block/block-backend.h"

enum { OP_WRITE, OP_ZERO, OP_DISCARD };

typedef struct Op {
    int kind;
    uint64_t offset;
    uint64_t len;
    int flags;
} Op;

typedef struct Config {
    const char *image;
    const char *format;
    uint64_t seed;
    uint64_t writes;         /* 0: forever */
    uint64_t flush_every;
    unsigned qd;
    bool base_pattern;
    bool verify;
    uint64_t verify_n;
    uint64_t max_ops;        /* 0: default */
} Config;

typedef struct Request {
    struct Writer *w;
    Op op;
    uint64_t index;
    uint8_t *buf;
    struct iovec iov;
    bool busy;
} Request;

typedef struct Writer {
    const Config *cfg;
    MainLoop *loop;
    BlockBackend *blk;
    Request *reqs;           /* cfg->qd slots */
    unsigned in_flight;
    bool flush_in_flight;
    uint64_t flush_n;
} Writer;

static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* What write request @index puts at absolute offset @o. */
static uint8_t data_byte(uint64_t seed, uint64_t index, uint64_t o)
{
    uint64_t w = mix64(seed ^ (index << 40) ^ (o >> 3));
    return (uint8_t)(w >> ((o & 7) * 8));
}

static void fill_data(uint64_t seed, uint64_t index, uint64_t offset,
                      uint8_t *buf, uint64_t len)
{
    for (uint64_t j = 0; j < len; j++) {
        buf[j] = data_byte(seed, index, offset + j);
    }
}

/* The backing file's content, as the test writes it. */
static uint8_t base_byte(uint64_t o)
{
    static const char tag[8] = "BACKING!";
    uint64_t chunk = o & ~15ULL;
    unsigned k = o & 15;

    if (k < 8) {
        return (uint8_t)(chunk >> ((7 - k) * 8));
    }
    return (uint8_t)tag[k - 8];
}

static uint64_t rnd(uint64_t *state)
{
    *state += 0x9e3779b97f4a7c15ULL;
    return mix64(*state);
}

/* Places [off, off+len) in the image: half of the requests go to the
 * first eighth so that requests overwrite each other often. */
static uint64_t pick_offset(uint64_t *st, uint64_t size, uint64_t len,
                            uint64_t align)
{
    uint64_t span = (rnd(st) & 1) ? size / 8 : size;
    uint64_t off;

    if (span < len) {
        span = len;
    }
    off = (rnd(st) % (span - len + 1)) / align * align;
    if (off + len > size) {
        off = (size - len) / align * align;
    }
    return off;
}

/* Request @index of the sequence for an image of @size bytes (>= 4 MiB). */
static void gen_op(uint64_t seed, uint64_t index, uint64_t size, Op *op)
{
    uint64_t st = seed * 0x2545f4914f6cdd1dULL ^ index * 0xd1b54a32d192ed03ULL;
    unsigned r = rnd(&st) % 100;

    op->flags = 0;
    if (r < 30) {
        op->kind = OP_WRITE;
        op->len = 4096;
        op->offset = pick_offset(&st, size, op->len, 4096);
    } else if (r < 45) {
        op->kind = OP_WRITE;
        op->len = 512 * (1 + rnd(&st) % 16);
        op->offset = pick_offset(&st, size, op->len, 512);
    } else if (r < 60) {
        op->kind = OP_WRITE;                    /* unaligned */
        op->len = 1 + rnd(&st) % 70000;
        op->offset = pick_offset(&st, size, op->len, 1);
    } else if (r < 70) {
        op->kind = OP_WRITE;                    /* one 64 KiB cluster */
        op->len = 65536;
        op->offset = pick_offset(&st, size, op->len, 65536);
    } else if (r < 74) {
        op->kind = OP_WRITE;                    /* many clusters */
        op->len = 1024 * 1024;
        op->offset = pick_offset(&st, size, op->len, 65536);
    } else if (r < 84) {
        op->kind = OP_ZERO;
        op->len = 4096 * (1 + rnd(&st) % 64);
        op->offset = pick_offset(&st, size, op->len, 4096);
        op->flags = (rnd(&st) & 1) ? BDRV_REQ_MAY_UNMAP : 0;
    } else if (r < 89) {
        op->kind = OP_ZERO;                     /* unaligned */
        op->len = 1 + rnd(&st) % 20000;
        op->offset = pick_offset(&st, size, op->len, 1);
    } else {
        op->kind = OP_DISCARD;
        op->len = 65536 * (1 + rnd(&st) % 16);
        op->offset = pick_offset(&st, size, op->len, 65536);
    }
}

static bool ops_overlap(const Op *a, const Op *b)
{
    return a->offset < b->offset + b->len && b->offset < a->offset + a->len;
}

/* ---- write mode ---- */

static void request_done(void *opaque, int ret)
{
    Request *req = opaque;
    Writer *w = req->w;

    if (ret < 0) {
        fprintf(stderr, "crash-writer: request %" PRIu64 " (%s at %" PRIu64
                ", %" PRIu64 " bytes) failed: %s\n", req->index,
                req->op.kind == OP_WRITE ? "write" :
                req->op.kind == OP_ZERO ? "write-zeroes" : "discard",
                req->op.offset, req->op.len, strerror(-ret));
        exit(2);
    }
    g_free(req->buf);
    req->buf = NULL;
    req->busy = false;
    w->in_flight--;
}

static void flush_done(void *opaque, int ret)
{
    Writer *w = opaque;

    if (ret < 0) {
        fprintf(stderr, "crash-writer: flush after request %" PRIu64
                " failed: %s\n", w->flush_n, strerror(-ret));
        exit(2);
    }
    w->flush_in_flight = false;
    printf("flushed %" PRIu64 "\n", w->flush_n);
    fflush(stdout);
}

static bool overlaps_in_flight(Writer *w, const Op *op)
{
    for (unsigned k = 0; k < w->cfg->qd; k++) {
        if (w->reqs[k].busy && ops_overlap(&w->reqs[k].op, op)) {
            return true;
        }
    }
    return false;
}

static Request *free_slot(Writer *w)
{
    for (unsigned k = 0; k < w->cfg->qd; k++) {
        if (!w->reqs[k].busy) {
            return &w->reqs[k];
        }
    }
    return NULL;
}

static void issue_flush(Writer *w, uint64_t n)
{
    while (w->in_flight > 0 || w->flush_in_flight) {
        main_loop_iterate(w->loop, true);
    }
    w->flush_in_flight = true;
    w->flush_n = n;
    blk_aio_flush(w->blk, flush_done, w);
}

static void issue_request(Writer *w, uint64_t index, uint64_t size)
{
    Request *req;
    Op op;

    gen_op(w->cfg->seed, index, size, &op);
    while (w->in_flight >= w->cfg->qd || overlaps_in_flight(w, &op)) {
        main_loop_iterate(w->loop, true);
    }
    req = free_slot(w);
    req->w = w;
    req->op = op;
    req->index = index;
    req->busy = true;
    w->in_flight++;
    switch (op.kind) {
    case OP_WRITE:
        req->buf = g_malloc(op.len);
        fill_data(w->cfg->seed, index, op.offset, req->buf, op.len);
        req->iov.iov_base = req->buf;
        req->iov.iov_len = op.len;
        blk_aio_pwritev(w->blk, op.offset, &req->iov, 1, 0, request_done,
                        req);
        break;
    case OP_ZERO:
        blk_aio_pwrite_zeroes(w->blk, op.offset, op.len, op.flags,
                              request_done, req);
        break;
    default:
        blk_aio_pdiscard(w->blk, op.offset, op.len, request_done, req);
        break;
    }
}

static int run_writer(const Config *cfg, MainLoop *loop, BlockBackend *blk,
                      uint64_t size)
{
    Writer w = { .cfg = cfg, .loop = loop, .blk = blk };
    uint64_t index;

    w.reqs = g_new0(Request, cfg->qd);
    for (index = 1; cfg->writes == 0 || index <= cfg->writes; index++) {
        issue_request(&w, index, size);
        if (index % cfg->flush_every == 0) {
            issue_flush(&w, index);
        }
    }
    issue_flush(&w, index - 1);
    while (w.flush_in_flight) {
        main_loop_iterate(loop, true);
    }
    g_free(w.reqs);
    return 0;
}

/* ---- verify mode ---- */

static bool byte_is_from(const Config *cfg, const Op *ops, uint64_t i,
                         uint64_t o, uint8_t b)
{
    if (i == 0) {
        return b == (cfg->base_pattern ? base_byte(o) : 0);
    }
    switch (ops[i].kind) {
    case OP_WRITE:
        return b == data_byte(cfg->seed, i, o);
    case OP_ZERO:
        return b == 0;
    default:
        return true;              /* discarded: any content */
    }
}

/* Says which request's data the image holds at @o instead (looking
 * well past what may have been issued), to tell a lost write from a
 * stray one. */
static void explain_byte(const Config *cfg, uint64_t size, uint64_t m,
                         uint64_t o, const uint8_t *got, uint64_t avail)
{
    uint64_t k = MIN(avail, 8);

    for (uint64_t i = 1; i <= m + 100000; i++) {
        Op op;
        uint64_t j;

        gen_op(cfg->seed, i, size, &op);
        if (op.kind != OP_WRITE || o < op.offset ||
            o + k > op.offset + op.len) {
            continue;
        }
        for (j = 0; j < k && got[j] == data_byte(cfg->seed, i, o + j); j++) {
        }
        if (j == k) {
            fprintf(stderr, "crash-writer: byte %" PRIu64 " holds the data "
                    "of request %" PRIu64 " (write at %" PRIu64 ", %" PRIu64
                    " bytes)\n", o, i, op.offset, op.len);
            return;
        }
    }
    /* Data that belongs elsewhere: a cluster mapped at the wrong place
     * keeps the offset within its sectors. */
    for (uint64_t i = 1; i <= m + 1000; i++) {
        Op op;

        gen_op(cfg->seed, i, size, &op);
        if (op.kind != OP_WRITE) {
            continue;
        }
        for (uint64_t p = op.offset + ((o - op.offset) & 511);
             p + k <= op.offset + op.len; p += 512) {
            uint64_t j;

            for (j = 0; j < k && got[j] == data_byte(cfg->seed, i, p + j);
                 j++) {
            }
            if (j == k) {
                fprintf(stderr, "crash-writer: byte %" PRIu64 " holds the "
                        "data request %" PRIu64 " wrote at %" PRIu64 "\n",
                        o, i, p);
                return;
            }
        }
    }
    fprintf(stderr, "crash-writer: byte %" PRIu64 " holds data of no "
            "request up to %" PRIu64 "\n", o, m + 100000);
}

static int run_verify(const Config *cfg, BlockBackend *blk, uint64_t size)
{
    const uint64_t chunk = 1024 * 1024;
    uint64_t n = cfg->verify_n;
    uint64_t m = cfg->max_ops ? cfg->max_ops
                              : n + 2 * cfg->flush_every + cfg->qd;
    Op *ops = g_new0(Op, m + 1);            /* ops[0] unused */
    uint32_t *last = g_new(uint32_t, chunk);
    uint8_t *buf = g_malloc(chunk);
    uint64_t bad = 0;
    int ret = 0;

    if (m < n) {
        m = n;
    }
    for (uint64_t i = 1; i <= m; i++) {
        gen_op(cfg->seed, i, size, &ops[i]);
    }
    for (uint64_t cs = 0; cs < size; cs += chunk) {
        uint64_t len = MIN(chunk, size - cs);
        Op window = { .offset = cs, .len = len };

        memset(last, 0, len * sizeof(*last));
        for (uint64_t i = 1; i <= n; i++) {
            if (ops_overlap(&ops[i], &window)) {
                uint64_t a = MAX(ops[i].offset, cs) - cs;
                uint64_t e = MIN(ops[i].offset + ops[i].len, cs + len) - cs;
                for (uint64_t j = a; j < e; j++) {
                    last[j] = (uint32_t)i;
                }
            }
        }
        ret = blk_pread(blk, cs, buf, len);
        if (ret < 0) {
            fprintf(stderr, "crash-writer: reading %" PRIu64 " bytes at %"
                    PRIu64 " failed: %s\n", len, cs, strerror(-ret));
            ret = 2;
            goto out;
        }
        for (uint64_t j = 0; j < len; j++) {
            uint64_t o = cs + j;
            bool ok = byte_is_from(cfg, ops, last[j], o, buf[j]);

            for (uint64_t i = n + 1; !ok && i <= m; i++) {
                Op one = { .offset = o, .len = 1 };
                ok = ops_overlap(&ops[i], &one) &&
                     byte_is_from(cfg, ops, i, o, buf[j]);
            }
            if (!ok) {
                if (bad == 0) {
                    explain_byte(cfg, size, m, o, buf + j, len - j);
                }
                if (bad < 5) {
                    uint64_t i = last[j];
                    fprintf(stderr, "crash-writer: byte %" PRIu64 " is %#x; "
                            "expected %#x from request %" PRIu64 " (%s)\n",
                            o, buf[j],
                            i == 0 ? (cfg->base_pattern ? base_byte(o) : 0)
                            : ops[i].kind == OP_ZERO ? 0
                            : data_byte(cfg->seed, i, o), i,
                            i == 0 ? "never written" :
                            ops[i].kind == OP_ZERO ? "write-zeroes" : "write");
                }
                bad++;
            }
        }
    }
    if (bad) {
        fprintf(stderr, "crash-writer: %" PRIu64 " bytes differ after %"
                PRIu64 " flushed requests\n", bad, n);
        ret = 1;
    } else {
        printf("verified %" PRIu64 " flushed requests (up to %" PRIu64
               " issued)\n", n, m);
        ret = 0;
    }
out:
    g_free(ops);
    g_free(last);
    g_free(buf);
    return ret;
}

/* ---- command line ---- */

static bool parse_u64(const char *opt, const char *s, uint64_t *out)
{
    char *end;

    if (!s) {
        fprintf(stderr, "crash-writer: %s needs a value\n", opt);
        return false;
    }
    errno = 0;
    *out = g_ascii_strtoull(s, &end, 0);
    if (errno || end == s || *end) {
        fprintf(stderr, "crash-writer: %s: '%s' is not a number\n", opt, s);
        return false;
    }
    return true;
}

static bool parse_args(int argc, char **argv, Config *cfg)
{
    uint64_t v;

    *cfg = (Config) { .format = "qcow2", .seed = 1, .flush_every = 16,
                      .qd = 8 };
    for (int k = 1; k < argc; k++) {
        const char *a = argv[k];
        const char *val = k + 1 < argc ? argv[k + 1] : NULL;

        if (!strcmp(a, "--base-pattern")) {
            cfg->base_pattern = true;
            continue;
        }
        if (a[0] != '-') {
            if (cfg->image) {
                fprintf(stderr, "crash-writer: more than one image given\n");
                return false;
            }
            cfg->image = a;
            continue;
        }
        if (strcmp(a, "--format") && strcmp(a, "--seed") &&
            strcmp(a, "--writes") && strcmp(a, "--flush-every") &&
            strcmp(a, "--qd") && strcmp(a, "--verify") &&
            strcmp(a, "--max-ops")) {
            fprintf(stderr, "crash-writer: unknown option %s\n", a);
            return false;
        }
        if (!strcmp(a, "--format")) {
            if (!val) {
                fprintf(stderr, "crash-writer: --format needs a value\n");
                return false;
            }
            cfg->format = val;
        } else if (!parse_u64(a, val, &v)) {
            return false;
        } else if (!strcmp(a, "--seed")) {
            cfg->seed = v;
        } else if (!strcmp(a, "--writes")) {
            cfg->writes = v;
        } else if (!strcmp(a, "--flush-every") && v >= 1) {
            cfg->flush_every = v;
        } else if (!strcmp(a, "--qd") && v >= 1 && v <= 256) {
            cfg->qd = (unsigned)v;
        } else if (!strcmp(a, "--verify")) {
            cfg->verify = true;
            cfg->verify_n = v;
        } else if (!strcmp(a, "--max-ops")) {
            cfg->max_ops = v;
        } else {
            fprintf(stderr, "crash-writer: %s %s is out of range\n", a, val);
            return false;
        }
        k++;
    }
    if (!cfg->image) {
        fprintf(stderr, "usage: crash-writer [--verify N] [--seed S] "
                "[--writes N] [--flush-every K] [--qd Q] [--format F] "
                "[--base-pattern] [--max-ops M] IMAGE\n");
        return false;
    }
    return true;
}

int main(int argc, char **argv)
{
    Config cfg;
    MainLoop *loop;
    BlockBackend *blk;
    GError *err = NULL;
    int64_t size;
    int ret;

    if (!parse_args(argc, argv, &cfg)) {
        return 2;
    }
    loop = main_loop_new(NULL);
    blk = blk_new_open(loop, cfg.image, cfg.format, NULL,
                       cfg.verify ? 0 : BDRV_O_RDWR | BDRV_O_UNMAP, &err);
    if (!blk) {
        fprintf(stderr, "crash-writer: %s\n", err->message);
        g_error_free(err);
        main_loop_free(loop);
        return 2;
    }
    size = blk_getlength(blk);
    if (size < 4 * 1024 * 1024) {
        fprintf(stderr, "crash-writer: %s: need at least 4 MiB, got %" PRId64
                "\n", cfg.image, size);
        ret = 2;
    } else if (cfg.verify) {
        ret = run_verify(&cfg, blk, (uint64_t)size);
    } else {
        blk_set_enable_write_cache(blk, true);
        ret = run_writer(&cfg, loop, blk, (uint64_t)size);
    }
    blk_unref(blk);
    main_loop_free(loop);
    return ret;
}
