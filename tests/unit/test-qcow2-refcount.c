/*
 * qcow2 refcounts, allocation, check/repair and internal snapshots,
 * checked against qemu-img where it is installed.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>
#include <glib.h>
#include <glib/gstdio.h>
#include "lemu/block/block.h"
#include "block/qcow2/qcow2.h"

typedef struct TestImage {
    char *dir;
    char *path;
} TestImage;

static bool have_program(const char *name)
{
    char *p = g_find_program_in_path(name);
    bool ok = p != NULL;

    g_free(p);
    return ok;
}

static bool have_qemu_img(void)
{
    return have_program("qemu-img");
}

static void image_init(TestImage *t)
{
    t->dir = g_dir_make_tmp("lemu-qcow2-rc-XXXXXX", NULL);
    g_assert_nonnull(t->dir);
    t->path = g_build_filename(t->dir, "disk.qcow2", NULL);
}

static void image_cleanup(TestImage *t)
{
    g_unlink(t->path);
    g_rmdir(t->dir);
    g_free(t->path);
    g_free(t->dir);
}

/* Runs a command line; returns its exit status, stdout in *out. */
static int run_cmd(char **out, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static int run_cmd(char **out, const char *fmt, ...)
{
    va_list ap;
    char *cmd, *sout = NULL, *serr = NULL;
    char *argv[] = { (char *)"/bin/sh", (char *)"-c", NULL, NULL };
    int status = -1;
    GError *err = NULL;

    va_start(ap, fmt);
    cmd = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    argv[2] = cmd;
    if (!g_spawn_sync(NULL, argv, NULL, 0, NULL, NULL, &sout, &serr,
                      &status, &err)) {
        g_error("cannot run %s: %s", cmd, err->message);
    }
    if (g_test_verbose()) {
        g_printerr("$ %s\n%s%s", cmd, sout, serr);
    }
    g_free(cmd);
    g_free(serr);
    if (out) {
        *out = sout;
    } else {
        g_free(sout);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Creates an image with lemu's own driver. */
static void create_image(TestImage *t, uint64_t size, int cluster_size,
                         int refcount_bits, const char *compat)
{
    GHashTable *opts = block_opts_new();
    GError *err = NULL;

    g_hash_table_insert(opts, g_strdup("size"),
                        g_strdup_printf("%" PRIu64, size));
    g_hash_table_insert(opts, g_strdup("cluster_size"),
                        g_strdup_printf("%d", cluster_size));
    g_hash_table_insert(opts, g_strdup("refcount_bits"),
                        g_strdup_printf("%d", refcount_bits));
    if (compat) {
        g_hash_table_insert(opts, g_strdup("compat"), g_strdup(compat));
    }
    if (!bdrv_create("qcow2", t->path, opts, &err)) {
        g_error("create %s: %s", t->path, err->message);
    }
    g_hash_table_destroy(opts);
}

static BlockDriverState *open_image(TestImage *t, int flags)
{
    GError *err = NULL;
    BlockDriverState *bs = bdrv_open(t->path, "qcow2", NULL,
                                     BDRV_O_RDWR | flags, &err);

    if (!bs) {
        g_error("open %s: %s", t->path, err->message);
    }
    return bs;
}

/* qemu-img check's exit status: 0 clean, 2 corrupt, 3 leaks only. */
static int qemu_img_check(TestImage *t, char **out)
{
    return run_cmd(out, "qemu-img check %s 2>&1", t->path);
}

static BDRVQcow2State *qs(BlockDriverState *bs)
{
    return bs->opaque;
}

/* A number from qemu-img check --output=json (0 when absent). */
static int64_t json_field(const char *json, const char *key)
{
    char *pat = g_strdup_printf("\"%s\": ", key);
    const char *p = strstr(json, pat);
    int64_t v = p ? g_ascii_strtoll(p + strlen(pat), NULL, 10) : 0;

    g_free(pat);
    return v;
}

static char *qemu_img_check_json(TestImage *t)
{
    char *out = NULL;

    run_cmd(&out, "qemu-img check --output=json %s 2>/dev/null", t->path);
    return out;
}

static void fill(uint8_t *buf, size_t len, uint8_t seed)
{
    for (size_t i = 0; i < len; i++) {
        buf[i] = seed + i * 7 + (i >> 9);
    }
}

static void write_pattern(BlockDriverState *bs, uint64_t off, size_t len,
                          uint8_t seed)
{
    uint8_t *buf = g_malloc(len);

    fill(buf, len, seed);
    g_assert_cmpint(bdrv_pwrite(bs, off, buf, len, 0), ==, 0);
    g_free(buf);
}

/* seed -1: expect zeroes. */
static void check_pattern(BlockDriverState *bs, uint64_t off, size_t len,
                          int seed)
{
    uint8_t *buf = g_malloc(len), *want = g_malloc0(len);

    if (seed >= 0) {
        fill(want, len, seed);
    }
    g_assert_cmpint(bdrv_pread(bs, off, buf, len), ==, 0);
    g_assert_true(memcmp(buf, want, len) == 0);
    g_free(buf);
    g_free(want);
}

static int lemu_check(BlockDriverState *bs, BdrvCheckResult *res, int fix)
{
    return bdrv_check(bs, res, (BdrvCheckMode)fix);
}

/* ---- refcount get/set for every width ---- */

static void test_refcount_orders(void)
{
    for (int order = 0; order <= 6; order++) {
        TestImage t;
        BlockDriverState *bs;
        BDRVQcow2State *s;
        uint64_t max, rc, a, b, c;
        int64_t off;
        char *out = NULL;

        image_init(&t);
        create_image(&t, 16 << 20, 65536, 1 << order, NULL);
        bs = open_image(&t, 0);
        s = qs(bs);
        g_mutex_lock(&s->lock);
        g_assert_cmpint(s->refcount_bits, ==, 1 << order);
        max = order == 6 ? UINT64_MAX : (1ULL << (1 << order)) - 1;
        g_assert_cmpuint(s->refcount_max, ==, max);

        /* Three neighbours: changing one leaves the others alone. */
        off = qcow2_alloc_clusters(bs, 3 * 65536);
        g_assert_cmpint(off, >, 0);
        a = off >> 16;
        b = a + 1;
        c = a + 2;
        /* qemu-img check only looks at clusters inside the file. */
        {
            uint8_t *zero = g_malloc0(65536);
            g_assert_cmpint(bdrv_pwrite(bs->file, c << 16, zero, 65536, 0),
                            ==, 0);
            g_free(zero);
        }
        g_assert_cmpint(qcow2_update_cluster_refcount_range(
                            bs, b << 16, 65536, (int64_t)MIN(max - 1,
                                                             INT64_MAX)),
                        ==, 0);
        if (order == 6) {
            /* 1 + 2 * INT64_MAX == UINT64_MAX. */
            g_assert_cmpint(qcow2_update_cluster_refcount_range(
                                bs, b << 16, 65536, INT64_MAX), ==, 0);
        }
        g_assert_cmpint(qcow2_get_refcount(bs, b, &rc), ==, 0);
        g_assert_cmpuint(rc, ==, max);
        g_assert_cmpint(qcow2_get_refcount(bs, a, &rc), ==, 0);
        g_assert_cmpuint(rc, ==, 1);
        g_assert_cmpint(qcow2_get_refcount(bs, c, &rc), ==, 0);
        g_assert_cmpuint(rc, ==, 1);

        /* Overflow: -ERANGE and nothing changed, even for a range whose
         * first cluster could take it. */
        g_assert_cmpint(qcow2_update_cluster_refcount_range(
                            bs, a << 16, 3 * 65536, 1), ==, -ERANGE);
        g_assert_cmpint(qcow2_get_refcount(bs, a, &rc), ==, 0);
        g_assert_cmpuint(rc, ==, 1);
        g_assert_cmpint(qcow2_get_refcount(bs, b, &rc), ==, 0);
        g_assert_cmpuint(rc, ==, max);
        /* Underflow likewise. */
        g_assert_cmpint(qcow2_update_cluster_refcount_range(
                            bs, a << 16, 3 * 65536, -2), ==, -ERANGE);
        g_assert_cmpint(qcow2_get_refcount(bs, c, &rc), ==, 0);
        g_assert_cmpuint(rc, ==, 1);

        /* a back to 0, c stays 1, b at max: qemu-img must read the same
         * values from the packed block. */
        qcow2_free_clusters(bs, a << 16, 65536);
        g_assert_cmpint(qcow2_get_refcount(bs, a, &rc), ==, 0);
        g_assert_cmpuint(rc, ==, 0);
        g_assert_cmpint(qcow2_get_refcount(bs, c, &rc), ==, 0);
        g_assert_cmpuint(rc, ==, 1);
        g_mutex_unlock(&s->lock);
        bdrv_unref(bs);

        if (have_qemu_img()) {
            char *want_b = g_strdup_printf("Leaked cluster %" PRIu64
                                           " refcount=%" PRIu64
                                           " reference=0", b, max);
            char *want_c = g_strdup_printf("Leaked cluster %" PRIu64
                                           " refcount=1 reference=0", c);

            g_assert_cmpint(qemu_img_check(&t, &out), ==, 3);
            g_assert_nonnull(strstr(out, want_b));
            g_assert_nonnull(strstr(out, want_c));
            g_assert_null(strstr(out, "ERROR"));
            g_free(want_b);
            g_free(want_c);
            g_free(out);
        }
        image_cleanup(&t);
    }
}

/* ---- allocation across refcount blocks and table growth ---- */

static void check_alloc_growth(int refcount_bits)
{
    TestImage t;
    BlockDriverState *bs;
    BDRVQcow2State *s;
    GArray *offs = g_array_new(false, false, sizeof(int64_t));
    uint64_t rc, old_table, big_n = 3000;
    uint32_t old_size;
    int64_t off, big;
    char *out = NULL;

    image_init(&t);
    create_image(&t, 64 << 20, 512, refcount_bits, NULL);
    bs = open_image(&t, 0);
    s = qs(bs);
    g_mutex_lock(&s->lock);
    old_table = s->refcount_table_offset;
    old_size = s->refcount_table_size;

    /* Single clusters until the table had to grow at least twice. */
    while (s->refcount_table_size < old_size * 2) {
        off = qcow2_alloc_clusters(bs, 512);
        g_assert_cmpint(off, >, 0);
        g_assert_cmpint(off % 512, ==, 0);
        g_assert_null(qcow2_check_metadata_overlap(bs, off, 512));
        g_array_append_val(offs, off);
        g_assert_cmpuint(offs->len, <, 1000000);
    }
    g_assert_cmpuint(s->refcount_table_offset, !=, old_table);
    /* The old table's cluster was freed and handed out again. */
    {
        bool reused = false;
        for (guint i = 0; i < offs->len; i++) {
            reused |= g_array_index(offs, int64_t, i) == (int64_t)old_table;
        }
        g_assert_true(reused);
    }

    /* One contiguous run across many refcount blocks. */
    big = qcow2_alloc_clusters(bs, big_n * 512);
    g_assert_cmpint(big, >, 0);
    for (uint64_t i = 0; i < big_n; i++) {
        g_assert_cmpint(qcow2_get_refcount(bs, (big >> 9) + i, &rc), ==, 0);
        g_assert_cmpuint(rc, ==, 1);
    }
    g_assert_null(qcow2_check_metadata_overlap(bs, big, big_n * 512));

    /* Every single cluster is distinct and counted once. */
    for (guint i = 0; i < offs->len; i++) {
        int64_t o = g_array_index(offs, int64_t, i);
        g_assert_cmpint(qcow2_get_refcount(bs, o >> 9, &rc), ==, 0);
        g_assert_cmpuint(rc, ==, 1);
        g_assert_false(o >= big && o < big + (int64_t)big_n * 512);
    }

    /* Free everything: the image must be clean again. */
    for (guint i = 0; i < offs->len; i++) {
        qcow2_free_clusters(bs, g_array_index(offs, int64_t, i), 512);
    }
    qcow2_free_clusters(bs, big, big_n * 512);
    /* Freed space is found again from the start once the freeing is
     * stable (the L2 cache flushed). */
    {
        int64_t lowest = INT64_MAX;
        for (guint i = 0; i < offs->len; i++) {
            lowest = MIN(lowest, g_array_index(offs, int64_t, i));
        }
        g_assert_cmpint(qcow2_cache_flush(bs, s->l2_table_cache), ==, 0);
        off = qcow2_alloc_clusters(bs, 512);
        g_assert_cmpint(off, ==, lowest);
    }
    qcow2_free_clusters(bs, off, 512);
    g_mutex_unlock(&s->lock);
    bdrv_unref(bs);

    if (have_qemu_img()) {
        g_assert_cmpint(qemu_img_check(&t, &out), ==, 0);
        g_free(out);
    }
    /* And it reopens with the grown table. */
    bs = open_image(&t, 0);
    g_assert_cmpuint(qs(bs)->refcount_table_size, >=, old_size * 2);
    bdrv_unref(bs);
    g_array_free(offs, true);
    image_cleanup(&t);
}

static void test_alloc_growth_16(void)
{
    check_alloc_growth(16);
}

static void test_alloc_growth_64(void)
{
    check_alloc_growth(64);
}

/* ---- compressed sub-allocation and allocation at an offset ---- */

static void test_alloc_bytes(void)
{
    TestImage t;
    BlockDriverState *bs;
    BDRVQcow2State *s;
    int64_t a, b, c, d, at;
    uint64_t rc;
    char *out = NULL;

    image_init(&t);
    create_image(&t, 16 << 20, 4096, 16, NULL);
    bs = open_image(&t, 0);
    s = qs(bs);
    g_mutex_lock(&s->lock);

    /* Three users packed in one cluster, the fourth spills over. */
    a = qcow2_alloc_bytes(bs, 1000);
    b = qcow2_alloc_bytes(bs, 1000);
    c = qcow2_alloc_bytes(bs, 1000);
    g_assert_cmpint(a, >, 0);
    g_assert_cmpint(b, ==, a + 1000);
    g_assert_cmpint(c, ==, b + 1000);
    g_assert_cmpint(qcow2_get_refcount(bs, a >> 12, &rc), ==, 0);
    g_assert_cmpuint(rc, ==, 3);
    d = qcow2_alloc_bytes(bs, 2000);
    g_assert_cmpint(d, ==, c + 1000);
    g_assert_cmpint(qcow2_get_refcount(bs, a >> 12, &rc), ==, 0);
    g_assert_cmpuint(rc, ==, 4);
    g_assert_cmpint(qcow2_get_refcount(bs, (a >> 12) + 1, &rc), ==, 0);
    g_assert_cmpuint(rc, ==, 1);
    g_assert_cmpint(qcow2_alloc_bytes(bs, 0), ==, -EINVAL);
    g_assert_cmpint(qcow2_alloc_bytes(bs, 4097), ==, -EINVAL);

    qcow2_free_clusters(bs, a, 1000);
    qcow2_free_clusters(bs, b, 1000);
    qcow2_free_clusters(bs, c, 1000);
    qcow2_free_clusters(bs, d, 2000);
    g_assert_cmpint(qcow2_get_refcount(bs, a >> 12, &rc), ==, 0);
    g_assert_cmpuint(rc, ==, 0);
    g_assert_cmpint(qcow2_get_refcount(bs, (a >> 12) + 1, &rc), ==, 0);
    g_assert_cmpuint(rc, ==, 0);

    /* Claim at an offset: stops at the first used cluster. */
    at = qcow2_alloc_clusters(bs, 4096);
    g_assert_cmpint(at, >, 0);
    g_assert_cmpint(qcow2_alloc_clusters_at(bs, at, 4), ==, 0);
    g_assert_cmpint(qcow2_alloc_clusters_at(bs, at + 4096, 4), ==, 4);
    g_assert_cmpint(qcow2_alloc_clusters_at(bs, at + 5 * 4096, 1), ==, 1);
    g_assert_cmpint(qcow2_alloc_clusters_at(bs, at + 3 * 4096, 4), ==, 0);
    g_assert_cmpint(qcow2_alloc_clusters_at(bs, at + 1, 1), ==, -EINVAL);
    /* Far beyond the described area: refcount blocks appear. */
    g_assert_cmpint(qcow2_alloc_clusters_at(bs, 1ULL << 30, 2), ==, 2);
    g_assert_cmpint(qcow2_get_refcount(bs, (1ULL << 30) >> 12, &rc), ==, 0);
    g_assert_cmpuint(rc, ==, 1);
    qcow2_free_clusters(bs, at, 6 * 4096);
    qcow2_free_clusters(bs, 1ULL << 30, 2 * 4096);
    g_mutex_unlock(&s->lock);
    bdrv_unref(bs);

    if (have_qemu_img()) {
        /* The refcount block made for 1 GiB stays, referenced. */
        g_assert_cmpint(qemu_img_check(&t, &out), ==, 0);
        g_free(out);
    }
    image_cleanup(&t);
}

/* ---- opening bad refcount tables ---- */

static void test_bad_reftable(void)
{
    TestImage t;
    GError *err = NULL;
    BlockDriverState *bs;
    uint64_t rt_off, bad;
    FILE *f;

    image_init(&t);
    create_image(&t, 16 << 20, 65536, 16, NULL);
    bs = open_image(&t, 0);
    rt_off = qs(bs)->refcount_table_offset;
    bdrv_unref(bs);

    /* Refcount block entry not cluster aligned. */
    bad = GUINT64_TO_BE(0x10200);
    f = fopen(t.path, "r+b");
    g_assert_nonnull(f);
    g_assert_cmpint(fseek(f, rt_off + 8, SEEK_SET), ==, 0);
    g_assert_cmpint(fwrite(&bad, 8, 1, f), ==, 1);
    fclose(f);
    bs = bdrv_open(t.path, "qcow2", NULL, BDRV_O_RDWR, &err);
    g_assert_null(bs);
    g_assert_nonnull(err);
    g_clear_error(&err);

    /* Past the end of the file. */
    bad = GUINT64_TO_BE(1ULL << 40);
    f = fopen(t.path, "r+b");
    g_assert_cmpint(fseek(f, rt_off + 8, SEEK_SET), ==, 0);
    g_assert_cmpint(fwrite(&bad, 8, 1, f), ==, 1);
    fclose(f);
    bs = bdrv_open(t.path, "qcow2", NULL, BDRV_O_RDWR, &err);
    g_assert_null(bs);
    g_assert_nonnull(err);
    g_clear_error(&err);
    /* Opened for check it opens, and check finds it. */
    bs = bdrv_open(t.path, "qcow2", NULL, BDRV_O_CHECK, &err);
    g_assert_nonnull(bs);
    {
        BdrvCheckResult res;
        g_assert_cmpint(bdrv_check(bs, &res, BDRV_FIX_NONE), ==, 0);
        g_assert_cmpint(res.corruptions, >, 0);
    }
    bdrv_unref(bs);
    image_cleanup(&t);
}

/* ---- check and repair ---- */

static void assert_same_as_qemu_img(TestImage *t, const BdrvCheckResult *r)
{
    char *json;

    if (!have_qemu_img()) {
        return;
    }
    json = qemu_img_check_json(t);
    g_assert_cmpint(json_field(json, "corruptions"), ==, r->corruptions);
    g_assert_cmpint(json_field(json, "leaks"), ==, r->leaks);
    g_assert_cmpint(json_field(json, "allocated-clusters"), ==,
                    r->allocated_clusters);
    g_assert_cmpint(json_field(json, "fragmented-clusters"), ==,
                    r->fragmented_clusters);
    g_assert_cmpint(json_field(json, "compressed-clusters"), ==,
                    r->compressed_clusters);
    g_assert_cmpint(json_field(json, "total-clusters"), ==,
                    r->total_clusters);
    g_assert_cmpint(json_field(json, "image-end-offset"), ==,
                    r->image_end_offset);
    g_free(json);
}

static BdrvCheckResult check_image(TestImage *t, int fix)
{
    BdrvCheckResult res;
    BlockDriverState *bs = open_image(t, BDRV_O_CHECK);

    g_assert_cmpint(lemu_check(bs, &res, fix), ==, 0);
    bdrv_unref(bs);
    return res;
}

static void test_check_repair(void)
{
    TestImage t;
    BlockDriverState *bs;
    BDRVQcow2State *s;
    BdrvCheckResult res;
    int64_t leak;
    uint64_t data_off, rt_off, bad;
    FILE *f;

    image_init(&t);
    create_image(&t, 8 << 20, 65536, 16, NULL);
    bs = open_image(&t, 0);
    write_pattern(bs, 0, 128 * 1024, 1);
    write_pattern(bs, 3 << 20, 64 * 1024, 2);
    bdrv_unref(bs);

    /* Clean, and the same figures as qemu-img. */
    res = check_image(&t, BDRV_FIX_NONE);
    g_assert_cmpint(res.corruptions, ==, 0);
    g_assert_cmpint(res.leaks, ==, 0);
    g_assert_cmpint(res.allocated_clusters, ==, 3);
    g_assert_cmpint(res.total_clusters, ==, 128);
    assert_same_as_qemu_img(&t, &res);

    /* A leak: a cluster with a refcount that nothing uses. */
    bs = open_image(&t, 0);
    s = qs(bs);
    g_mutex_lock(&s->lock);
    leak = qcow2_alloc_clusters(bs, 65536);
    g_assert_cmpint(leak, >, 0);
    g_mutex_unlock(&s->lock);
    write_pattern(bs->file, leak, 65536, 3);
    bdrv_unref(bs);
    res = check_image(&t, BDRV_FIX_NONE);
    g_assert_cmpint(res.leaks, ==, 1);
    g_assert_cmpint(res.corruptions, ==, 0);
    assert_same_as_qemu_img(&t, &res);
    res = check_image(&t, BDRV_FIX_LEAKS);
    g_assert_cmpint(res.leaks_fixed, ==, 1);
    g_assert_cmpint(res.leaks, ==, 0);
    res = check_image(&t, BDRV_FIX_NONE);
    g_assert_cmpint(res.leaks, ==, 0);
    assert_same_as_qemu_img(&t, &res);

    /* A corruption: a used data cluster whose refcount dropped to 0
     * (qemu-img also counts the COPIED flag that no longer matches). */
    bs = open_image(&t, 0);
    s = qs(bs);
    data_off = s->l1_table[0] & L1E_OFFSET_MASK;
    {
        uint64_t l2e;
        g_assert_cmpint(bdrv_pread(bs->file, data_off, &l2e, 8), ==, 0);
        data_off = GUINT64_FROM_BE(l2e) & L2E_OFFSET_MASK;
    }
    g_mutex_lock(&s->lock);
    g_assert_cmpint(qcow2_update_cluster_refcount_range(bs, data_off, 65536,
                                                        -1), ==, 0);
    g_mutex_unlock(&s->lock);
    bdrv_unref(bs);
    res = check_image(&t, BDRV_FIX_NONE);
    g_assert_cmpint(res.corruptions, ==, 2);
    assert_same_as_qemu_img(&t, &res);
    if (have_qemu_img()) {
        g_assert_cmpint(qemu_img_check(&t, NULL), ==, 2);
    }
    res = check_image(&t, BDRV_FIX_ERRORS | BDRV_FIX_LEAKS);
    g_assert_cmpint(res.corruptions, ==, 0);
    g_assert_cmpint(res.corruptions_fixed, >=, 1);
    res = check_image(&t, BDRV_FIX_NONE);
    g_assert_cmpint(res.corruptions, ==, 0);
    g_assert_cmpint(res.leaks, ==, 0);
    assert_same_as_qemu_img(&t, &res);

    /* A broken refcount table entry: -r all rebuilds the structure. */
    bs = open_image(&t, 0);
    rt_off = qs(bs)->refcount_table_offset;
    bdrv_unref(bs);
    bad = GUINT64_TO_BE(0x10200);
    f = fopen(t.path, "r+b");
    g_assert_nonnull(f);
    g_assert_cmpint(fseek(f, rt_off, SEEK_SET), ==, 0);
    g_assert_cmpint(fwrite(&bad, 8, 1, f), ==, 1);
    fclose(f);
    res = check_image(&t, BDRV_FIX_NONE);
    g_assert_cmpint(res.corruptions, >, 0);
    res = check_image(&t, BDRV_FIX_ERRORS | BDRV_FIX_LEAKS);
    g_assert_cmpint(res.corruptions, ==, 0);
    g_assert_cmpint(res.corruptions_fixed, >, 0);
    res = check_image(&t, BDRV_FIX_NONE);
    g_assert_cmpint(res.corruptions, ==, 0);
    g_assert_cmpint(res.leaks, ==, 0);
    if (have_qemu_img()) {
        g_assert_cmpint(qemu_img_check(&t, NULL), ==, 0);
    }
    /* The data survived every repair. */
    bs = open_image(&t, 0);
    check_pattern(bs, 0, 128 * 1024, 1);
    check_pattern(bs, 3 << 20, 64 * 1024, 2);
    bdrv_unref(bs);
    image_cleanup(&t);
}

/* An image qemu made (compressed cluster, snapshot): lemu's figures are
 * qemu-img's. */
static void test_check_qemu_image(void)
{
    TestImage t;
    BdrvCheckResult res;

    if (!have_qemu_img() || !have_program("qemu-io")) {
        g_test_skip("qemu-img or qemu-io not installed");
        return;
    }
    image_init(&t);
    g_assert_cmpint(run_cmd(NULL, "qemu-img create -q -f qcow2 %s 4M && "
                            "qemu-io -c 'write -P 0x11 0 128k' "
                            "-c 'write -c -P 0x22 1M 64k' %s >/dev/null && "
                            "qemu-img snapshot -c s1 %s && "
                            "qemu-io -c 'write -P 0x33 64k 64k' %s "
                            ">/dev/null", t.path, t.path, t.path, t.path),
                    ==, 0);
    res = check_image(&t, BDRV_FIX_NONE);
    g_assert_cmpint(res.corruptions, ==, 0);
    g_assert_cmpint(res.leaks, ==, 0);
    g_assert_cmpint(res.compressed_clusters, ==, 1);
    assert_same_as_qemu_img(&t, &res);

    /* Many small L2 tables, data written out of order. */
    g_assert_cmpint(run_cmd(NULL, "qemu-img create -q -f qcow2 -o "
                            "cluster_size=4096 %s 64M && qemu-io "
                            "-c 'write -P 1 10M 3M' -c 'write -P 2 1M 5M' "
                            "-c 'write -P 3 20M 12k' -c 'write -P 4 0 8k' "
                            "-c 'write -P 5 11M 4k' %s >/dev/null",
                            t.path, t.path), ==, 0);
    res = check_image(&t, BDRV_FIX_NONE);
    g_assert_cmpint(res.corruptions, ==, 0);
    g_assert_cmpint(res.fragmented_clusters, >, 0);
    assert_same_as_qemu_img(&t, &res);

    /* Extended L2 with partly written clusters; then a bitmap that says
     * a subcluster is both allocated and zero. */
    g_assert_cmpint(run_cmd(NULL, "qemu-img create -q -f qcow2 -o "
                            "extended_l2=on %s 8M && qemu-io "
                            "-c 'write -P 1 4k 4k' -c 'write -z 64k 8k' "
                            "-c 'write -P 2 1M 64k' %s >/dev/null",
                            t.path, t.path), ==, 0);
    res = check_image(&t, BDRV_FIX_NONE);
    g_assert_cmpint(res.corruptions, ==, 0);
    assert_same_as_qemu_img(&t, &res);
    {
        BlockDriverState *bs = open_image(&t, BDRV_O_CHECK);
        uint64_t l2_off = qs(bs)->l1_table[0] & L1E_OFFSET_MASK;
        uint64_t bitmap;

        g_assert_cmpint(bdrv_pread(bs->file, l2_off + 8, &bitmap, 8), ==, 0);
        bitmap = GUINT64_FROM_BE(bitmap);
        bitmap |= (bitmap & 0xffffffffULL) << 32;
        bitmap = GUINT64_TO_BE(bitmap);
        g_assert_cmpint(bdrv_pwrite(bs->file, l2_off + 8, &bitmap, 8, 0),
                        ==, 0);
        bdrv_unref(bs);
    }
    res = check_image(&t, BDRV_FIX_NONE);
    g_assert_cmpint(res.corruptions, ==, 1);
    assert_same_as_qemu_img(&t, &res);
    image_cleanup(&t);
}

/* ---- snapshots ---- */

static void snapshot_info(BdrvSnapshotInfo *sn, const char *name)
{
    memset(sn, 0, sizeof(*sn));
    g_strlcpy(sn->name, name, sizeof(sn->name));
    sn->date_sec = 1700000000;
    sn->icount = UINT32_MAX;
}

static void check_snapshots(const char *compat)
{
    TestImage t;
    BlockDriverState *bs;
    BdrvSnapshotInfo sn, *list = NULL;
    BdrvCheckResult res;
    GError *err = NULL;
    char *out = NULL;

    image_init(&t);
    create_image(&t, 8 << 20, 65536, 16, compat);
    bs = open_image(&t, 0);
    write_pattern(bs, 0, 64 * 1024, 1);
    write_pattern(bs, 64 * 1024, 64 * 1024, 11);
    write_pattern(bs, 1 << 20, 64 * 1024, 2);

    snapshot_info(&sn, "first");
    g_assert_cmpint(bs->drv->snapshot_create(bs, &sn), ==, 0);
    g_assert_cmpstr(sn.id_str, ==, "1");
    /* Overwrite shared clusters (copy on write) and add a new one. */
    write_pattern(bs, 0, 64 * 1024, 3);
    write_pattern(bs, 2 << 20, 64 * 1024, 4);
    check_pattern(bs, 0, 64 * 1024, 3);
    check_pattern(bs, 64 * 1024, 64 * 1024, 11);
    snapshot_info(&sn, "second");
    g_assert_cmpint(bs->drv->snapshot_create(bs, &sn), ==, 0);
    g_assert_cmpstr(sn.id_str, ==, "2");
    g_assert_cmpint(bs->drv->snapshot_list(bs, &list), ==, 2);
    g_assert_cmpstr(list[0].name, ==, "first");
    g_assert_cmpstr(list[1].name, ==, "second");
    g_assert_cmpuint(list[1].disk_size, ==, 8 << 20);
    g_free(list);
    bdrv_unref(bs);

    res = check_image(&t, BDRV_FIX_NONE);
    g_assert_cmpint(res.corruptions, ==, 0);
    g_assert_cmpint(res.leaks, ==, 0);
    assert_same_as_qemu_img(&t, &res);
    if (have_qemu_img()) {
        g_assert_cmpint(qemu_img_check(&t, NULL), ==, 0);
        g_assert_cmpint(run_cmd(&out, "qemu-img snapshot -l %s", t.path),
                        ==, 0);
        g_assert_nonnull(strstr(out, "first"));
        g_assert_nonnull(strstr(out, "second"));
        g_free(out);
    }

    /* Back to the first: old data, the later cluster gone. */
    bs = open_image(&t, 0);
    g_assert_cmpint(bs->drv->snapshot_goto(bs, "first"), ==, 0);
    check_pattern(bs, 0, 64 * 1024, 1);
    check_pattern(bs, 64 * 1024, 64 * 1024, 11);
    check_pattern(bs, 1 << 20, 64 * 1024, 2);
    check_pattern(bs, 2 << 20, 64 * 1024, -1);
    /* Writing after apply leaves the snapshot alone. */
    write_pattern(bs, 1 << 20, 64 * 1024, 5);
    g_assert_cmpint(bs->drv->snapshot_goto(bs, "2"), ==, 0);
    check_pattern(bs, 0, 64 * 1024, 3);
    check_pattern(bs, 2 << 20, 64 * 1024, 4);
    g_assert_cmpint(bs->drv->snapshot_goto(bs, "nope"), ==, -ENOENT);

    /* Delete the first by name: the second and the data stay. */
    g_assert_cmpint(bs->drv->snapshot_delete(bs, NULL, "first", &err), ==, 0);
    g_assert_cmpint(bs->drv->snapshot_delete(bs, NULL, "first", &err), ==,
                    -ENOENT);
    g_clear_error(&err);
    g_assert_cmpint(bs->drv->snapshot_list(bs, &list), ==, 1);
    g_assert_cmpstr(list[0].id_str, ==, "2");
    g_free(list);
    check_pattern(bs, 0, 64 * 1024, 3);
    bdrv_unref(bs);
    res = check_image(&t, BDRV_FIX_NONE);
    g_assert_cmpint(res.corruptions, ==, 0);
    g_assert_cmpint(res.leaks, ==, 0);
    assert_same_as_qemu_img(&t, &res);

    /* Delete the last one: every cluster is COPIED again. */
    bs = open_image(&t, 0);
    g_assert_cmpint(bs->drv->snapshot_delete(bs, "2", NULL, &err), ==, 0);
    g_assert_cmpint(bs->drv->snapshot_list(bs, &list), ==, 0);
    g_free(list);
    bdrv_unref(bs);
    res = check_image(&t, BDRV_FIX_NONE);
    g_assert_cmpint(res.corruptions, ==, 0);
    g_assert_cmpint(res.leaks, ==, 0);
    assert_same_as_qemu_img(&t, &res);
    image_cleanup(&t);
}

static void test_snapshots_v3(void)
{
    check_snapshots(NULL);
}

static void test_snapshots_v2(void)
{
    check_snapshots("0.10");
}

/* A snapshot qemu-img made, applied by lemu; lemu's table rewrite keeps
 * qemu's entry as it was. */
static void test_snapshot_from_qemu(void)
{
    TestImage t;
    BlockDriverState *bs;
    BdrvSnapshotInfo sn;
    char *before = NULL, *after = NULL;

    if (!have_qemu_img() || !have_program("qemu-io")) {
        g_test_skip("qemu-img or qemu-io not installed");
        return;
    }
    image_init(&t);
    g_assert_cmpint(run_cmd(NULL, "qemu-img create -q -f qcow2 %s 4M && "
                            "qemu-io -c 'write -P 0x11 0 128k' %s >/dev/null "
                            "&& qemu-img snapshot -c qsnap %s && "
                            "qemu-io -c 'write -P 0x22 0 64k' %s >/dev/null",
                            t.path, t.path, t.path, t.path), ==, 0);
    g_assert_cmpint(run_cmd(&before, "qemu-img snapshot -l %s", t.path),
                    ==, 0);

    bs = open_image(&t, 0);
    g_assert_cmpint(bs->drv->snapshot_goto(bs, "qsnap"), ==, 0);
    {
        uint8_t buf[4096], want[4096];
        memset(want, 0x11, sizeof(want));
        g_assert_cmpint(bdrv_pread(bs, 0, buf, sizeof(buf)), ==, 0);
        g_assert_true(memcmp(buf, want, sizeof(buf)) == 0);
    }
    snapshot_info(&sn, "lemu");
    g_assert_cmpint(bs->drv->snapshot_create(bs, &sn), ==, 0);
    g_assert_cmpstr(sn.id_str, ==, "2");
    bdrv_unref(bs);

    g_assert_cmpint(qemu_img_check(&t, NULL), ==, 0);
    g_assert_cmpint(run_cmd(&after, "qemu-img snapshot -l %s", t.path),
                    ==, 0);
    /* qemu's line (id 1) is unchanged. */
    {
        char **lb = g_strsplit(before, "\n", -1);
        g_assert_nonnull(strstr(after, lb[2]));
        g_strfreev(lb);
    }
    g_assert_nonnull(strstr(after, "lemu"));
    /* Applying a snapshot taken at another size restores that size. */
    g_assert_cmpint(run_cmd(NULL, "qemu-img resize -q %s 6M", t.path), ==, 0);
    bs = open_image(&t, 0);
    g_assert_cmpint(bdrv_getlength(bs), ==, 6 << 20);
    g_assert_cmpint(bs->drv->snapshot_goto(bs, "qsnap"), ==, 0);
    g_assert_cmpint(bdrv_getlength(bs), ==, 4 << 20);
    bdrv_unref(bs);
    g_assert_cmpint(qemu_img_check(&t, NULL), ==, 0);
    g_assert_cmpint(run_cmd(NULL, "qemu-img info %s | grep -q 'virtual size:"
                            " 4 MiB'", t.path), ==, 0);
    g_assert_cmpint(run_cmd(NULL, "qemu-io -c 'read -P 0x11 0 128k' %s | "
                            "grep -q 'read 131072'", t.path), ==, 0);
    g_free(before);
    g_free(after);
    image_cleanup(&t);
}

/* One-bit refcounts cannot share a cluster: -ERANGE, image unchanged. */
static void test_snapshot_refcount_overflow(void)
{
    TestImage t;
    BlockDriverState *bs;
    BdrvSnapshotInfo sn;
    BdrvCheckResult res;

    image_init(&t);
    create_image(&t, 4 << 20, 65536, 1, NULL);
    bs = open_image(&t, 0);
    write_pattern(bs, 0, 64 * 1024, 1);
    snapshot_info(&sn, "nope");
    g_assert_cmpint(bs->drv->snapshot_create(bs, &sn), ==, -ERANGE);
    write_pattern(bs, 0, 4096, 2);
    bdrv_unref(bs);
    res = check_image(&t, BDRV_FIX_NONE);
    g_assert_cmpint(res.corruptions, ==, 0);
    g_assert_cmpint(res.leaks, ==, 0);
    assert_same_as_qemu_img(&t, &res);
    image_cleanup(&t);

    /* Two-bit refcounts: the third snapshot overflows on the second
     * cluster after raising the first; that increase is taken back. */
    image_init(&t);
    create_image(&t, 4 << 20, 65536, 2, NULL);
    bs = open_image(&t, 0);
    write_pattern(bs, 0, 64 * 1024, 1);
    write_pattern(bs, 64 * 1024, 64 * 1024, 2);
    snapshot_info(&sn, "s1");
    g_assert_cmpint(bs->drv->snapshot_create(bs, &sn), ==, 0);
    write_pattern(bs, 0, 64 * 1024, 3);
    snapshot_info(&sn, "s2");
    g_assert_cmpint(bs->drv->snapshot_create(bs, &sn), ==, 0);
    snapshot_info(&sn, "s3");
    g_assert_cmpint(bs->drv->snapshot_create(bs, &sn), ==, -ERANGE);
    check_pattern(bs, 0, 64 * 1024, 3);
    bdrv_unref(bs);
    res = check_image(&t, BDRV_FIX_NONE);
    g_assert_cmpint(res.corruptions, ==, 0);
    g_assert_cmpint(res.leaks, ==, 0);
    assert_same_as_qemu_img(&t, &res);
    image_cleanup(&t);
}

/* Two L2 entries on one cluster with 1-bit refcounts: an overflow,
 * reported as qemu-img reports it; repair must not make it worse. */
static void test_check_overflow(void)
{
    TestImage t;
    BlockDriverState *bs;
    BdrvCheckResult res;
    uint64_t l2_off, e0;

    image_init(&t);
    create_image(&t, 4 << 20, 65536, 1, NULL);
    bs = open_image(&t, 0);
    write_pattern(bs, 0, 128 * 1024, 1);
    l2_off = qs(bs)->l1_table[0] & L1E_OFFSET_MASK;
    bdrv_unref(bs);

    bs = open_image(&t, BDRV_O_CHECK);
    g_assert_cmpint(bdrv_pread(bs->file, l2_off, &e0, 8), ==, 0);
    g_assert_cmpint(bdrv_pwrite(bs->file, l2_off + 8, &e0, 8, 0), ==, 0);
    bdrv_unref(bs);

    res = check_image(&t, BDRV_FIX_NONE);
    g_assert_cmpint(res.corruptions, >, 0);
    assert_same_as_qemu_img(&t, &res);
    res = check_image(&t, BDRV_FIX_ERRORS | BDRV_FIX_LEAKS);
    g_assert_cmpint(res.corruptions, >, 0);
    /* Still readable: both guest clusters show the first one's data. */
    bs = open_image(&t, 0);
    check_pattern(bs, 0, 64 * 1024, 1);
    bdrv_unref(bs);
    image_cleanup(&t);
}

/* Restores the pristine image, then overwrites three random words of
 * its metadata (seeded by @iter). */
static void damage_image(TestImage *t, const char *pristine, gsize plen,
                         const uint64_t *meta, int nmeta, int iter)
{
    GRand *r = g_rand_new_with_seed(iter);
    FILE *f;

    g_assert_true(g_file_set_contents(t->path, pristine, plen, NULL));
    f = fopen(t->path, "r+b");
    g_assert_nonnull(f);
    for (int k = 0; k < 3; k++) {
        uint64_t where = meta[g_rand_int_range(r, 0, nmeta)] +
                         8 * g_rand_int_range(r, 0, 16);
        uint64_t junk = ((uint64_t)g_rand_int(r) << 32) | g_rand_int(r);

        if (g_rand_boolean(r)) {
            junk &= 0x00fffffffffffe00ULL;   /* a plausible offset */
        }
        g_assert_cmpint(fseek(f, where, SEEK_SET), ==, 0);
        g_assert_cmpint(fwrite(&junk, 8, 1, f), ==, 1);
    }
    fclose(f);
    g_rand_free(r);
}

/* Random damage to metadata: open, snapshot operations, check and
 * repair fail cleanly or work, and never crash. */
static void test_check_garbage(void)
{
    TestImage t;
    BlockDriverState *bs;
    BdrvSnapshotInfo sn;
    GError *err = NULL;
    char *pristine = NULL;
    gsize plen = 0;
    uint64_t meta[6];
    BDRVQcow2State *s;

    image_init(&t);
    create_image(&t, 8 << 20, 4096, 16, NULL);
    bs = open_image(&t, 0);
    write_pattern(bs, 0, 64 * 1024, 1);
    snapshot_info(&sn, "a");
    g_assert_cmpint(bs->drv->snapshot_create(bs, &sn), ==, 0);
    write_pattern(bs, 8192, 8192, 2);
    s = qs(bs);
    meta[0] = s->l1_table_offset;
    meta[1] = s->l1_table[0] & L1E_OFFSET_MASK;
    meta[2] = s->refcount_table_offset;
    meta[3] = s->refcount_table[0] & REFT_OFFSET_MASK;
    meta[4] = s->snapshots_offset;
    meta[5] = s->snapshots[0].l1_table_offset;
    bdrv_unref(bs);
    g_assert_true(g_file_get_contents(t.path, &pristine, &plen, NULL));

    for (int iter = 0; iter < 40; iter++) {
        BdrvCheckResult res;

        damage_image(&t, pristine, plen, meta, 6, iter);
        bs = bdrv_open(t.path, "qcow2", NULL, BDRV_O_RDWR, &err);
        if (bs) {
            BdrvSnapshotInfo *list = NULL;

            bs->drv->snapshot_list(bs, &list);
            g_free(list);
            bs->drv->snapshot_goto(bs, "1");
            snapshot_info(&sn, "b");
            bs->drv->snapshot_create(bs, &sn);
            bs->drv->snapshot_delete(bs, "1", NULL, &err);
            bdrv_unref(bs);
            damage_image(&t, pristine, plen, meta, 6, iter);
        }
        g_clear_error(&err);

        bs = bdrv_open(t.path, "qcow2", NULL, BDRV_O_RDWR | BDRV_O_CHECK,
                       &err);
        if (!bs) {
            g_clear_error(&err);
            continue;
        }
        lemu_check(bs, &res, BDRV_FIX_NONE);
        lemu_check(bs, &res, BDRV_FIX_ERRORS | BDRV_FIX_LEAKS);
        bdrv_unref(bs);
    }
    g_free(pristine);
    image_cleanup(&t);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qcow2-refcount/orders", test_refcount_orders);
    g_test_add_func("/qcow2-refcount/alloc-growth-16", test_alloc_growth_16);
    g_test_add_func("/qcow2-refcount/alloc-growth-64", test_alloc_growth_64);
    g_test_add_func("/qcow2-refcount/alloc-bytes", test_alloc_bytes);
    g_test_add_func("/qcow2-refcount/bad-reftable", test_bad_reftable);
    g_test_add_func("/qcow2-refcount/check-repair", test_check_repair);
    g_test_add_func("/qcow2-refcount/check-qemu-image",
                    test_check_qemu_image);
    g_test_add_func("/qcow2-refcount/check-overflow", test_check_overflow);
    g_test_add_func("/qcow2-refcount/check-garbage", test_check_garbage);
    g_test_add_func("/qcow2-refcount/snapshots-v3", test_snapshots_v3);
    g_test_add_func("/qcow2-refcount/snapshots-v2", test_snapshots_v2);
    g_test_add_func("/qcow2-refcount/snapshot-from-qemu",
                    test_snapshot_from_qemu);
    g_test_add_func("/qcow2-refcount/snapshot-overflow",
                    test_snapshot_refcount_overflow);
    return g_test_run();
}
