/*
 * qcow2 format core: creation with every cluster size, refcount width,
 * version and option; guest reads and writes checked against an
 * in-memory copy of the disk; copy-on-write from backing files (also with
 * extended L2 subclusters); zero writes, discard and block status;
 * compressed clusters (zlib, zstd); resize; lazy refcounts; corruption
 * handling; and interoperation with qemu-img / qemu-io where installed
 * (images made by them read back identically, images made by lemu pass
 * `qemu-img check` and compare equal).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/wait.h>
#include <string.h>
#include <unistd.h>
#include <glib.h>
#include <glib/gstdio.h>
#include "lemu/block/block.h"
#include "lemu/util/json.h"
#include "../../block/qcow2/qcow2.h"

typedef struct Fixture {
    char *dir;
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data)
{
    GError *err = NULL;

    (void)data;
    f->dir = g_dir_make_tmp("lemu-test-qcow2-XXXXXX", &err);
    g_assert_no_error(err);
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
    GDir *d = g_dir_open(f->dir, 0, NULL);
    const char *name;

    (void)data;
    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *p = g_build_filename(f->dir, name, NULL);
        g_unlink(p);
    }
    if (d) {
        g_dir_close(d);
    }
    g_rmdir(f->dir);
    g_free(f->dir);
}

static char *path_in(Fixture *f, const char *name)
{
    return g_build_filename(f->dir, name, NULL);
}

static bool have_qemu_img(void)
{
    g_autofree char *p = g_find_program_in_path("qemu-img");
    return p != NULL;
}

static bool have_qemu_io(void)
{
    g_autofree char *p = g_find_program_in_path("qemu-io");
    return p != NULL;
}

/* Runs a command; returns its exit status, output in *out if wanted. */
static int run(char **out, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static int run(char **out, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *cmd = NULL;
    g_auto(GStrv) argv = NULL;
    g_autofree char *sout = NULL, *serr = NULL;
    GError *err = NULL;
    int status = -1;

    va_start(ap, fmt);
    cmd = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_assert_true(g_shell_parse_argv(cmd, NULL, &argv, &err));
    g_assert_no_error(err);
    g_assert_true(g_spawn_sync(NULL, argv, NULL, G_SPAWN_SEARCH_PATH, NULL,
                               NULL, &sout, &serr, &status, &err));
    g_assert_no_error(err);
    if (!g_spawn_check_wait_status(status, NULL)) {
        g_test_message("'%s' failed:\n%s%s", cmd, sout, serr);
    }
    if (out) {
        *out = g_strconcat(sout, serr, NULL);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void create_image(const char *path, const char *options)
{
    g_autoptr(GHashTable) opts = block_opts_new();
    GError *err = NULL;

    g_assert_true(block_opts_parse(opts, options, NULL, &err));
    g_assert_no_error(err);
    if (!bdrv_create("qcow2", path, opts, &err)) {
        g_error("create %s with %s: %s", path, options, err->message);
    }
}

static BlockDriverState *open_image_opts(const char *path, int flags,
                                         const char *options)
{
    g_autoptr(GHashTable) opts = block_opts_new();
    GError *err = NULL;
    BlockDriverState *bs;

    if (options) {
        g_assert_true(block_opts_parse(opts, options, NULL, &err));
    }
    bs = bdrv_open(path, "qcow2", opts, flags, &err);
    if (!bs) {
        g_error("open %s: %s", path, err->message);
    }
    return bs;
}

static BlockDriverState *open_image(const char *path, int flags)
{
    GError *err = NULL;
    BlockDriverState *bs = bdrv_open(path, "qcow2", NULL, flags, &err);

    if (!bs) {
        g_error("open %s: %s", path, err->message);
    }
    return bs;
}

/* Fills @buf with bytes that depend on @seed and the position. */
static void fill_pattern(uint8_t *buf, size_t len, uint32_t seed)
{
    for (size_t i = 0; i < len; i++) {
        seed = seed * 1103515245 + 12345;
        buf[i] = seed >> 16;
    }
}

static void check_read(BlockDriverState *bs, const uint8_t *expect,
                       uint64_t offset, uint64_t len)
{
    uint8_t *buf = g_malloc(len);

    g_assert_cmpint(bdrv_pread(bs, offset, buf, len), >=, 0);
    if (memcmp(buf, expect + offset, len)) {
        for (uint64_t i = 0; i < len; i++) {
            if (buf[i] != expect[offset + i]) {
                g_error("mismatch at %" PRIu64 ": got %02x, want %02x",
                        offset + i, buf[i], expect[offset + i]);
            }
        }
    }
    g_free(buf);
}

/* Writes the in-memory disk to a raw file, for qemu-img compare. */
static void write_raw(const char *path, const uint8_t *data, size_t len)
{
    GError *err = NULL;

    g_assert_true(g_file_set_contents(path, (const char *)data, len, &err));
    g_assert_no_error(err);
}

static void assert_qemu_check_clean(const char *path)
{
    g_autofree char *out = NULL;

    if (!have_qemu_img()) {
        return;
    }
    if (run(&out, "qemu-img check -f qcow2 %s", path) != 0) {
        g_error("qemu-img check %s:\n%s", path, out);
    }
}

static void assert_qemu_compare(const char *qcow2, const char *raw)
{
    g_autofree char *out = NULL;

    if (!have_qemu_img()) {
        return;
    }
    if (run(&out, "qemu-img compare -f qcow2 -F raw %s %s", qcow2, raw)) {
        g_error("qemu-img compare %s %s:\n%s", qcow2, raw, out);
    }
}

/*
 * Random writes, zero writes and discards against a shadow copy; every
 * read must match it, before and after reopening.
 */
static void exercise_opts(Fixture *f, const char *path, uint64_t size,
                          uint32_t cluster, int nops, uint32_t seed,
                          const uint8_t *initial, const char *options)
{
    uint8_t *shadow = g_malloc0(size);
    BlockDriverState *bs = open_image_opts(path, BDRV_O_RDWR, options);
    GRand *r = g_rand_new_with_seed(seed);
    g_autofree char *raw = path_in(f, "shadow.raw");

    if (initial) {
        memcpy(shadow, initial, size);
    }
    for (int i = 0; i < nops; i++) {
        int kind = g_rand_int_range(r, 0, 10);
        uint64_t max = MIN(size, 4 * (uint64_t)cluster + 8192);
        uint64_t len = g_rand_int_range(r, 1, max / 512 + 1) * 512;
        uint64_t off;

        if (kind < 2) {
            /* Arbitrary byte offsets and lengths. */
            len = g_rand_int_range(r, 1, max);
        }
        len = MIN(len, size);
        off = g_rand_int_range(r, 0, (size - len) / 512 + 1) * 512;
        if (kind < 2) {
            off = g_rand_int_range(r, 0, size - len + 1);
        }
        if (kind < 7) {
            fill_pattern(shadow + off, len, g_rand_int(r));
            g_assert_cmpint(bdrv_pwrite(bs, off, shadow + off, len, 0), ==,
                            0);
        } else if (kind < 9) {
            int flags = kind == 8 ? BDRV_REQ_MAY_UNMAP : 0;
            memset(shadow + off, 0, len);
            g_assert_cmpint(bdrv_pwrite_zeroes(bs, off, len, flags), ==, 0);
        } else {
            /* Discard: the data is undefined afterwards, so re-read it. */
            uint8_t *buf = g_malloc(len);
            g_assert_cmpint(bdrv_pdiscard(bs, off, len), >=, 0);
            g_assert_cmpint(bdrv_pread(bs, off, buf, len), ==, 0);
            memcpy(shadow + off, buf, len);
            g_free(buf);
        }
        if (i % 16 == 0) {
            uint64_t c = g_rand_int_range(r, 0, size / 512) * 512;
            check_read(bs, shadow, c, MIN(size - c, 3 * (uint64_t)cluster));
        }
    }
    check_read(bs, shadow, 0, size);
    bdrv_unref(bs);

    bs = open_image(path, 0);
    check_read(bs, shadow, 0, size);
    bdrv_unref(bs);

    assert_qemu_check_clean(path);
    write_raw(raw, shadow, size);
    assert_qemu_compare(path, raw);
    g_rand_free(r);
    g_free(shadow);
}

static void exercise(Fixture *f, const char *path, uint64_t size,
                     uint32_t cluster, int nops, uint32_t seed,
                     const uint8_t *initial)
{
    exercise_opts(f, path, size, cluster, nops, seed, initial, NULL);
}

static void test_cluster_sizes(Fixture *f, gconstpointer data)
{
    (void)data;
    for (int bits = 9; bits <= 21; bits++) {
        uint32_t cs = 1U << bits;
        g_autofree char *path = path_in(f, "cs.qcow2");
        g_autofree char *opts = g_strdup_printf("size=%u,cluster_size=%u",
                                                8 * 1024 * 1024, cs);
        g_test_message("cluster size %u", cs);
        create_image(path, opts);
        assert_qemu_check_clean(path);
        exercise(f, path, 8 * 1024 * 1024, cs, bits < 12 ? 150 : 60, bits,
                 NULL);
    }
}

static void test_refcount_widths(Fixture *f, gconstpointer data)
{
    (void)data;
    for (int order = 0; order <= 6; order++) {
        g_autofree char *path = path_in(f, "rc.qcow2");
        g_autofree char *opts = g_strdup_printf(
            "size=4M,cluster_size=512,refcount_bits=%d", 1 << order);
        g_test_message("refcount_bits %d", 1 << order);
        create_image(path, opts);
        exercise(f, path, 4 * 1024 * 1024, 512, 200, 100 + order, NULL);
    }
}

static void test_v2(Fixture *f, gconstpointer data)
{
    g_autofree char *path = path_in(f, "v2.qcow2");
    BlockDriverState *bs;
    JsonValue *info;
    JsonValue *d;

    (void)data;
    create_image(path, "size=6M,compat=0.10,cluster_size=4096");
    exercise(f, path, 6 * 1024 * 1024, 4096, 150, 7, NULL);
    bs = open_image(path, 0);
    info = bs->drv->get_specific_info(bs);
    d = json_object_get(info, "data");
    g_assert_cmpstr(json_object_get_str(d, "compat"), ==, "0.10");
    g_assert_null(json_object_get(d, "lazy-refcounts"));
    json_free(info);
    bdrv_unref(bs);
}

static void test_extended_l2(Fixture *f, gconstpointer data)
{
    g_autofree char *path = path_in(f, "ext.qcow2");

    (void)data;
    create_image(path, "size=8M,cluster_size=64k,extended_l2=on");
    exercise(f, path, 8 * 1024 * 1024, 65536, 200, 11, NULL);
    create_image(path, "size=8M,cluster_size=16k,extended_l2=on");
    exercise(f, path, 8 * 1024 * 1024, 16384, 200, 12, NULL);
}

/* An overlay over a base with a pattern: partial writes must keep the
 * rest of each cluster from the base (copy-on-write). */
static void backing_cow(Fixture *f, const char *overlay_opts)
{
    const uint64_t size = 4 * 1024 * 1024;
    g_autofree char *base = path_in(f, "base.qcow2");
    g_autofree char *top = path_in(f, "top.qcow2");
    g_autofree char *opts = g_strdup_printf("size=4M,backing_file=%s,"
                                            "backing_fmt=qcow2,%s", base,
                                            overlay_opts);
    uint8_t *data = g_malloc(size);
    BlockDriverState *bs;

    create_image(base, "size=4M,cluster_size=64k");
    fill_pattern(data, size, 42);
    bs = open_image(base, BDRV_O_RDWR);
    g_assert_cmpint(bdrv_pwrite(bs, 0, data, size, 0), ==, 0);
    bdrv_unref(bs);

    create_image(top, opts);
    bs = open_image(top, 0);
    g_assert_cmpstr(bs->backing_file, ==, base);
    g_assert_cmpstr(bs->backing_format, ==, "qcow2");
    g_assert_nonnull(bs->backing);
    check_read(bs, data, 0, size);
    bdrv_unref(bs);

    /* Exercise with the shadow starting as the base's content; discard
     * and zero writes must not expose the wrong data either. */
    exercise(f, top, size, 65536, 200, 99, data);

    /* The base is untouched. */
    bs = open_image(base, 0);
    fill_pattern(data, size, 42);
    check_read(bs, data, 0, size);
    bdrv_unref(bs);
    g_free(data);
}

/* make_empty (commit): the overlay shows the backing file again. */
static void test_make_empty(Fixture *f, gconstpointer unused)
{
    g_autofree char *base = path_in(f, "me-base.qcow2");
    g_autofree char *top = path_in(f, "me-top.qcow2");
    g_autofree char *opts = g_strdup_printf(
        "size=1M,cluster_size=4k,backing_file=%s,backing_fmt=qcow2", base);
    uint8_t *expect = g_malloc(1 << 20), *other = g_malloc(1 << 20);
    BlockDriverState *bs;

    (void)unused;
    create_image(base, "size=1M");
    fill_pattern(expect, 1 << 20, 10);
    bs = open_image(base, BDRV_O_RDWR);
    g_assert_cmpint(bdrv_pwrite(bs, 0, expect, 1 << 20, 0), ==, 0);
    bdrv_unref(bs);
    create_image(top, opts);
    bs = open_image(top, BDRV_O_RDWR);
    fill_pattern(other, 1 << 20, 11);
    g_assert_cmpint(bdrv_pwrite(bs, 5000, other, 300000, 0), ==, 0);
    g_assert_cmpint(bdrv_pwrite_zeroes(bs, 600000, 100000, 0), ==, 0);
    g_assert_cmpint(bs->drv->make_empty(bs), ==, 0);
    check_read(bs, expect, 0, 1 << 20);
    bdrv_unref(bs);
    assert_qemu_check_clean(top);
    bs = open_image(top, 0);
    check_read(bs, expect, 0, 1 << 20);
    bdrv_unref(bs);
    g_free(expect);
    g_free(other);
}

static void test_backing_cow(Fixture *f, gconstpointer data)
{
    (void)data;
    backing_cow(f, "cluster_size=64k");
    backing_cow(f, "cluster_size=4k");
    backing_cow(f, "cluster_size=64k,extended_l2=on");
    backing_cow(f, "cluster_size=32k,compat=0.10");
}

/* One small write in the middle of a cluster of an overlay. */
static void test_cow_exact(Fixture *f, gconstpointer data)
{
    g_autofree char *base = path_in(f, "b.qcow2");
    g_autofree char *top = path_in(f, "t.qcow2");
    g_autofree char *opts = g_strdup_printf(
        "size=1M,backing_file=%s,backing_fmt=qcow2,extended_l2=on", base);
    uint8_t expect[65536 * 2];
    uint8_t buf[100];
    BlockDriverState *bs;
    uint64_t pnum, map;
    BlockDriverState *file;

    (void)data;
    create_image(base, "size=1M");
    fill_pattern(expect, sizeof(expect), 5);
    bs = open_image(base, BDRV_O_RDWR);
    g_assert_cmpint(bdrv_pwrite(bs, 0, expect, sizeof(expect), 0), ==, 0);
    bdrv_unref(bs);

    create_image(top, opts);
    bs = open_image(top, BDRV_O_RDWR);
    memset(buf, 0xab, sizeof(buf));
    memcpy(expect + 5000, buf, sizeof(buf));
    g_assert_cmpint(bdrv_pwrite(bs, 5000, buf, sizeof(buf), 0), ==, 0);
    check_read(bs, expect, 0, sizeof(expect));
    /* Only the written subcluster (2 KiB) is allocated in the overlay. */
    g_assert_cmpint(bs->drv->block_status(bs, 4096, 65536, &pnum, &map,
                                          &file), ==,
                    BDRV_BLOCK_DATA | BDRV_BLOCK_OFFSET_VALID |
                    BDRV_BLOCK_ALLOCATED);
    g_assert_cmpuint(pnum, ==, 2048);
    g_assert_cmpint(bs->drv->block_status(bs, 0, 65536, &pnum, &map, &file),
                    ==, 0);
    g_assert_cmpuint(pnum, ==, 4096);
    bdrv_unref(bs);
    assert_qemu_check_clean(top);
}

static void test_zero_and_status(Fixture *f, gconstpointer data)
{
    g_autofree char *path = path_in(f, "z.qcow2");
    uint8_t *buf = g_malloc(256 * 1024);
    uint8_t *zero = g_malloc0(256 * 1024);
    BlockDriverState *bs, *file;
    uint64_t pnum, map;
    int64_t len_before, len_after;

    (void)data;
    create_image(path, "size=1M");
    bs = open_image(path, BDRV_O_RDWR);
    g_assert_cmpint(bs->drv->block_status(bs, 0, 1 << 20, &pnum, &map,
                                          &file), ==, BDRV_BLOCK_ZERO);
    g_assert_cmpuint(pnum, ==, 1 << 20);

    fill_pattern(buf, 256 * 1024, 1);
    g_assert_cmpint(bdrv_pwrite(bs, 0, buf, 256 * 1024, 0), ==, 0);
    g_assert_cmpint(bs->drv->block_status(bs, 0, 1 << 20, &pnum, &map,
                                          &file), ==,
                    BDRV_BLOCK_DATA | BDRV_BLOCK_OFFSET_VALID |
                    BDRV_BLOCK_ALLOCATED);
    g_assert_cmpuint(pnum, ==, 256 * 1024);
    g_assert_true(file == bs->file);

    /* Zero without unmap keeps the host cluster (ZERO_ALLOC). */
    g_assert_cmpint(bdrv_pwrite_zeroes(bs, 0, 65536, 0), ==, 0);
    g_assert_cmpint(bs->drv->block_status(bs, 0, 1 << 20, &pnum, &map,
                                          &file), ==,
                    BDRV_BLOCK_ZERO | BDRV_BLOCK_OFFSET_VALID |
                    BDRV_BLOCK_ALLOCATED);
    g_assert_cmpuint(pnum, ==, 65536);
    /* With unmap it becomes a plain zero cluster. */
    g_assert_cmpint(bdrv_pwrite_zeroes(bs, 65536, 65536, BDRV_REQ_MAY_UNMAP),
                    ==, 0);
    g_assert_cmpint(bs->drv->block_status(bs, 65536, 1 << 19, &pnum, &map,
                                          &file), ==,
                    BDRV_BLOCK_ZERO | BDRV_BLOCK_ALLOCATED);
    memset(buf, 0, 128 * 1024);
    check_read(bs, buf, 0, 256 * 1024);
    /* Unaligned zero write in the middle of a data cluster. */
    g_assert_cmpint(bdrv_pwrite_zeroes(bs, 140000, 1000, 0), ==, 0);
    memset(buf + 140000, 0, 1000);
    check_read(bs, buf, 0, 256 * 1024);
    /* Writing into a ZERO_ALLOC cluster reads the rest as zero. */
    g_assert_cmpint(bdrv_pwrite(bs, 1000, "hello", 5, 0), ==, 0);
    memcpy(buf + 1000, "hello", 5);
    check_read(bs, buf, 0, 256 * 1024);
    /* Discard of the rest frees clusters. */
    g_assert_cmpint(bdrv_pdiscard(bs, 131072, 131072), ==, 0);
    g_assert_cmpint(bs->drv->block_status(bs, 131072, 131072, &pnum, &map,
                                          &file), ==, BDRV_BLOCK_ZERO);
    check_read(bs, zero, 131072, 131072);
    bdrv_unref(bs);
    assert_qemu_check_clean(path);

    /* v2 has no zero flag: unallocated clusters are left alone, data
     * clusters get zeroes, NO_FALLBACK refuses rather than writing. */
    create_image(path, "size=1M,compat=0.10");
    bs = open_image(path, BDRV_O_RDWR);
    len_before = bdrv_getlength(bs->file);
    g_assert_cmpint(bdrv_pwrite_zeroes(bs, 0, 1 << 20, 0), ==, 0);
    len_after = bdrv_getlength(bs->file);
    g_assert_cmpint(len_before, ==, len_after);
    fill_pattern(buf + 65536, 65536, 3);
    g_assert_cmpint(bdrv_pwrite(bs, 65536, buf + 65536, 65536, 0), ==, 0);
    g_assert_cmpint(bs->drv->pwrite_zeroes(bs, 0, 1 << 20,
                                           BDRV_REQ_NO_FALLBACK), ==,
                    -ENOTSUP);
    check_read(bs, buf, 65536, 65536);
    g_assert_cmpint(bdrv_pwrite_zeroes(bs, 0, 1 << 20, 0), ==, 0);
    check_read(bs, zero, 65536, 65536);
    bdrv_unref(bs);
    assert_qemu_check_clean(path);
    g_free(buf);
    g_free(zero);
}

static void compressed_roundtrip(Fixture *f, const char *opts, int ctype)
{
    g_autofree char *path = path_in(f, "c.qcow2");
    g_autofree char *raw = path_in(f, "c.raw");
    const uint64_t size = 1024 * 1024 + 4096;  /* short last cluster */
    uint8_t *data = g_malloc0(size);
    BlockDriverState *bs, *file;
    uint64_t pnum, map;
    uint32_t cs = 65536;
    JsonValue *info;

    create_image(path, opts);
    bs = open_image(path, BDRV_O_RDWR);
    /* Compressible text-like data, and one random cluster that does not
     * compress (stored uncompressed). */
    for (uint64_t i = 0; i < size; i++) {
        data[i] = "lemu qcow2 compressed "[i % 22];
    }
    fill_pattern(data + 3 * cs, cs, 77);
    for (uint64_t off = 0; off < size; off += cs) {
        uint64_t n = MIN(cs, size - off);
        g_assert_cmpint(bdrv_pwrite_compressed(bs, off, data + off, n), ==,
                        0);
    }
    g_assert_cmpint(bs->drv->block_status(bs, 0, cs, &pnum, &map, &file),
                    ==, BDRV_BLOCK_DATA | BDRV_BLOCK_COMPRESSED |
                    BDRV_BLOCK_ALLOCATED);
    g_assert_cmpint(bs->drv->block_status(bs, 3 * cs, cs, &pnum, &map,
                                          &file), ==,
                    BDRV_BLOCK_DATA | BDRV_BLOCK_OFFSET_VALID |
                    BDRV_BLOCK_ALLOCATED);
    /* Compressing over an allocated cluster is refused. */
    g_assert_cmpint(bdrv_pwrite_compressed(bs, 0, data, cs), <, 0);
    check_read(bs, data, 0, size);
    info = bs->drv->get_specific_info(bs);
    g_assert_cmpstr(json_object_get_str(json_object_get(info, "data"),
                                        "compression-type"), ==,
                    ctype ? "zstd" : "zlib");
    json_free(info);
    /* Overwriting part of a compressed cluster decompresses it. */
    memset(data + 100, 0x5a, 300);
    g_assert_cmpint(bdrv_pwrite(bs, 100, data + 100, 300, 0), ==, 0);
    check_read(bs, data, 0, size);
    bdrv_unref(bs);
    g_assert_cmpint(bdrv_getlength(NULL), <, 0);

    bs = open_image(path, 0);
    check_read(bs, data, 0, size);
    bdrv_unref(bs);
    assert_qemu_check_clean(path);
    write_raw(raw, data, size);
    assert_qemu_compare(path, raw);
    g_free(data);
}

static void test_compressed(Fixture *f, gconstpointer data)
{
    (void)data;
    compressed_roundtrip(f, "size=1052672", 0);
    compressed_roundtrip(f, "size=1052672,compression_type=zstd", 1);
    compressed_roundtrip(f, "size=1052672,extended_l2=on", 0);
}

/* Images written by qemu-img/qemu-io read back identically. */
static void test_qemu_made(Fixture *f, gconstpointer data)
{
    static const char *const variants[] = {
        "-c", "-c -o compression_type=zstd", "-o cluster_size=4k",
        "-o extended_l2=on", "-o compat=0.10", "-o refcount_bits=1",
        "-c -o cluster_size=2M", "-o cluster_size=512",
    };
    g_autofree char *raw = path_in(f, "src.raw");
    g_autofree char *img = path_in(f, "q.qcow2");
    const uint64_t size = 3 * 1024 * 1024;
    uint8_t *src = g_malloc0(size);

    (void)data;
    if (!have_qemu_img()) {
        g_test_skip("qemu-img not installed");
        g_free(src);
        return;
    }
    /* Text, random data and holes. */
    for (uint64_t i = 0; i < size / 3; i++) {
        src[i] = "0123456789abcdef"[i % 16] ^ (i >> 12);
    }
    fill_pattern(src + size / 2, size / 4, 3);
    write_raw(raw, src, size);
    for (size_t v = 0; v < G_N_ELEMENTS(variants); v++) {
        BlockDriverState *bs;
        g_autofree char *out = NULL;

        g_test_message("qemu-img convert %s", variants[v]);
        g_assert_cmpint(run(&out, "qemu-img convert -f raw -O qcow2 %s %s %s",
                            variants[v], raw, img), ==, 0);
        bs = open_image(img, 0);
        check_read(bs, src, 0, size);
        bdrv_unref(bs);
    }
    /* qemu-io patterns: zero clusters and partial writes over them. */
    if (have_qemu_io()) {
        BlockDriverState *bs;
        memset(src, 0, size);
        g_assert_cmpint(run(NULL, "qemu-img create -f qcow2 %s 3M", img),
                        ==, 0);
        g_assert_cmpint(run(NULL, "qemu-io -f qcow2 -c 'write -P 0x11 0 1M' "
                            "-c 'write -z 64k 64k' -c 'write -P 0x22 70000 "
                            "1000' -c 'discard 512k 128k' %s", img), ==, 0);
        memset(src, 0x11, 1024 * 1024);
        memset(src + 65536, 0, 65536);
        memset(src + 70000, 0x22, 1000);
        memset(src + 512 * 1024, 0, 128 * 1024);
        bs = open_image(img, 0);
        check_read(bs, src, 0, size);
        bdrv_unref(bs);
        /* And lemu writes on top of it. */
        exercise(f, img, size, 65536, 100, 5, src);
    }
    g_free(src);
}

static void test_reopen_and_info(Fixture *f, gconstpointer data)
{
    g_autofree char *path = path_in(f, "i.qcow2");
    BlockDriverState *bs;
    JsonValue *info, *d;
    BlockDriverInfo bdi = { 0 };
    int64_t v;

    (void)data;
    create_image(path, "size=100M,cluster_size=128k,lazy_refcounts=on,"
                       "refcount_bits=32");
    bs = open_image(path, BDRV_O_RDWR);
    g_assert_cmpint(bdrv_getlength(bs), ==, 100 * 1024 * 1024);
    g_assert_true(bdrv_get_info(bs, &bdi));
    g_assert_cmpint(bdi.cluster_size, ==, 128 * 1024);
    g_assert_false(bdi.is_dirty);
    info = bs->drv->get_specific_info(bs);
    g_assert_cmpstr(json_object_get_str(info, "type"), ==, "qcow2");
    d = json_object_get(info, "data");
    g_assert_cmpstr(json_object_get_str(d, "compat"), ==, "1.1");
    g_assert_true(json_object_get_i64(d, "refcount-bits", &v));
    g_assert_cmpint(v, ==, 32);
    g_assert_true(json_get_bool(json_object_get(d, "lazy-refcounts")));
    g_assert_false(json_get_bool(json_object_get(d, "corrupt")));
    g_assert_false(json_get_bool(json_object_get(d, "extended-l2")));
    json_free(info);

    /* Lazy refcounts: the first write sets DIRTY, a clean close clears
     * it. */
    g_assert_cmpint(bdrv_pwrite(bs, 0, "x", 1, 0), ==, 0);
    g_assert_true(bdrv_get_info(bs, &bdi));
    g_assert_true(bdi.is_dirty);
    bdrv_unref(bs);
    bs = open_image(path, 0);
    g_assert_true(bdrv_get_info(bs, &bdi));
    g_assert_false(bdi.is_dirty);
    bdrv_unref(bs);
    assert_qemu_check_clean(path);
}

/* A crash with lazy refcounts leaves DIRTY set; the next open repairs. */
static void test_dirty_repair(Fixture *f, gconstpointer data)
{
    g_autofree char *path = path_in(f, "d.qcow2");
    g_autofree char *copy = path_in(f, "d-crash.qcow2");
    uint8_t buf[65536 * 3];
    g_autofree char *contents = NULL;
    gsize len;
    BlockDriverState *bs;
    BlockDriverInfo bdi = { 0 };

    (void)data;
    create_image(path, "size=8M,lazy_refcounts=on");
    bs = open_image(path, BDRV_O_RDWR);
    fill_pattern(buf, sizeof(buf), 9);
    g_assert_cmpint(bdrv_pwrite(bs, 65536, buf, sizeof(buf), 0), ==, 0);
    g_assert_cmpint(bdrv_flush(bs), ==, 0);
    /* "Crash": copy the file while it is open and dirty. */
    g_assert_true(g_file_get_contents(path, &contents, &len, NULL));
    write_raw(copy, (uint8_t *)contents, len);
    bdrv_unref(bs);

    bs = open_image(copy, 0);
    g_assert_true(bdrv_get_info(bs, &bdi));
    g_assert_true(bdi.is_dirty);
    bdrv_unref(bs);
    bs = open_image(copy, BDRV_O_RDWR);
    g_assert_true(bdrv_get_info(bs, &bdi));
    g_assert_false(bdi.is_dirty);
    {
        uint8_t *full = g_malloc0(65536 * 4);
        memcpy(full + 65536, buf, sizeof(buf));
        check_read(bs, full, 0, 65536 * 4);
        g_free(full);
    }
    bdrv_unref(bs);
    assert_qemu_check_clean(copy);
}

/*
 * A cluster freed by discard or zero-with-unmap must not take new data
 * before the L2 change that freed it is on disk: a crash (the file copied
 * as it is while open) would leave the old L2 entry pointing at another
 * guest offset's data. After a flush the space is reused.
 */
static void freed_cluster_not_reused(Fixture *f, const char *opts,
                                     bool discard)
{
    g_autofree char *path = path_in(f, "r.qcow2");
    g_autofree char *copy = path_in(f, "r-crash.qcow2");
    g_autofree char *contents = NULL;
    uint8_t *a = g_malloc(65536), *b = g_malloc(65536);
    uint8_t *got = g_malloc(65536);
    BlockDriverState *bs, *file;
    uint64_t pnum, host_a, host_b, host_c;
    gsize len;

    g_test_message("%s, %s", opts, discard ? "discard" : "zero+unmap");
    create_image(path, opts);
    bs = open_image(path, BDRV_O_RDWR);
    fill_pattern(a, 65536, 21);
    fill_pattern(b, 65536, 22);
    g_assert_cmpint(bdrv_pwrite(bs, 0, a, 65536, 0), ==, 0);
    g_assert_cmpint(bdrv_flush(bs), ==, 0);
    g_assert_cmpint(bs->drv->block_status(bs, 0, 65536, &pnum, &host_a,
                                          &file) & BDRV_BLOCK_OFFSET_VALID,
                    !=, 0);
    if (discard) {
        g_assert_cmpint(bdrv_pdiscard(bs, 0, 65536), ==, 0);
    } else {
        g_assert_cmpint(bdrv_pwrite_zeroes(bs, 0, 65536,
                                           BDRV_REQ_MAY_UNMAP), ==, 0);
    }
    g_assert_cmpint(bdrv_pwrite(bs, 1 << 20, b, 65536, 0), ==, 0);
    g_assert_cmpint(bs->drv->block_status(bs, 1 << 20, 65536, &pnum,
                                          &host_b, &file) &
                    BDRV_BLOCK_OFFSET_VALID, !=, 0);
    /* (It may reuse host_a only where something made the L2 change
     * stable in between, as allocating a new L2 table does.) */

    /* "Crash" now: guest offset 0 may read old data or zeroes, never
     * the data written for 1 MiB. */
    g_assert_true(g_file_get_contents(path, &contents, &len, NULL));
    write_raw(copy, (uint8_t *)contents, len);
    {
        BlockDriverState *c = open_image(copy, BDRV_O_RDWR);

        g_assert_cmpint(bdrv_pread(c, 0, got, 65536), >=, 0);
        g_assert_true(memcmp(got, b, 65536) != 0);
        for (int i = 0; i < 65536; i++) {
            g_assert_true(got[i] == a[i] || got[i] == 0);
        }
        bdrv_unref(c);
    }

    /* Once the freeing is stable the cluster is reused. */
    g_assert_cmpint(bdrv_flush(bs), ==, 0);
    g_assert_cmpint(bdrv_pwrite(bs, 2 << 20, a, 65536, 0), ==, 0);
    g_assert_cmpint(bs->drv->block_status(bs, 2 << 20, 65536, &pnum,
                                          &host_c, &file) &
                    BDRV_BLOCK_OFFSET_VALID, !=, 0);
    if (host_b != host_a) {
        g_assert_cmpuint(host_c, ==, host_a);
    }
    g_assert_cmpint(bdrv_pread(bs, 1 << 20, got, 65536), >=, 0);
    g_assert_true(memcmp(got, b, 65536) == 0);
    g_assert_cmpint(bdrv_pread(bs, 2 << 20, got, 65536), >=, 0);
    g_assert_true(memcmp(got, a, 65536) == 0);
    bdrv_unref(bs);
    assert_qemu_check_clean(path);
    g_free(a);
    g_free(b);
    g_free(got);
}

static void test_freed_cluster_reuse(Fixture *f, gconstpointer data)
{
    (void)data;
    freed_cluster_not_reused(f, "size=8M", true);
    freed_cluster_not_reused(f, "size=8M", false);
    freed_cluster_not_reused(f, "size=8M,lazy_refcounts=on", true);
    freed_cluster_not_reused(f, "size=8M,lazy_refcounts=on", false);
    freed_cluster_not_reused(f, "size=8M,cluster_size=512", true);
}

static void test_truncate(Fixture *f, gconstpointer data)
{
    g_autofree char *path = path_in(f, "t.qcow2");
    BlockDriverState *bs;
    GError *err = NULL;
    uint8_t buf[4096];

    (void)data;
    create_image(path, "size=1M,cluster_size=512");
    bs = open_image(path, BDRV_O_RDWR);
    /* Growing past what the L1 table covers (512-byte clusters: 32 KiB
     * per L2 table). */
    g_assert_cmpint(bdrv_truncate(bs, 64 * 1024 * 1024, false,
                                  PREALLOC_MODE_OFF, &err), ==, 0);
    g_assert_no_error(err);
    g_assert_cmpint(bdrv_getlength(bs), ==, 64 * 1024 * 1024);
    fill_pattern(buf, sizeof(buf), 4);
    g_assert_cmpint(bdrv_pwrite(bs, 60 * 1024 * 1024, buf, sizeof(buf), 0),
                    ==, 0);
    /* Shrinking over an unallocated tail keeps the data before it. */
    g_assert_cmpint(bdrv_truncate(bs, 61 * 1024 * 1024, false,
                                  PREALLOC_MODE_OFF, &err), ==, 0);
    g_assert_no_error(err);
    bdrv_unref(bs);
    bs = open_image(path, BDRV_O_RDWR);
    g_assert_cmpint(bdrv_getlength(bs), ==, 61 * 1024 * 1024);
    {
        uint8_t *full = g_malloc0(61 * 1024 * 1024);
        memcpy(full + 60 * 1024 * 1024, buf, sizeof(buf));
        check_read(bs, full, 60 * 1024 * 1024 - 8192, 16384);
        g_free(full);
    }
    /* Shrinking over allocated data drops it, as qemu-img resize
     * --shrink does; grown again, the range reads as zeroes. */
    g_assert_cmpint(bdrv_truncate(bs, 32 * 1024 * 1024, false,
                                  PREALLOC_MODE_OFF, &err), ==, 0);
    g_assert_no_error(err);
    g_assert_cmpint(bdrv_truncate(bs, 64 * 1024 * 1024, false,
                                  PREALLOC_MODE_OFF, &err), ==, 0);
    g_assert_no_error(err);
    {
        uint8_t *zero = g_malloc0(64 * 1024 * 1024);
        check_read(bs, zero, 60 * 1024 * 1024 - 8192, 16384);
        g_free(zero);
    }
    bdrv_unref(bs);
    assert_qemu_check_clean(path);
}

static void test_preallocation(Fixture *f, gconstpointer data)
{
    static const char *const modes[] = { "metadata", "falloc", "full" };

    (void)data;
    for (size_t i = 0; i < G_N_ELEMENTS(modes); i++) {
        g_autofree char *path = path_in(f, "p.qcow2");
        g_autofree char *opts = g_strdup_printf("size=4M,preallocation=%s",
                                                modes[i]);
        BlockDriverState *bs, *file;
        uint64_t pnum, map;

        create_image(path, opts);
        bs = open_image(path, BDRV_O_RDWR);
        g_assert_cmpint(bs->drv->block_status(bs, 0, 4 << 20, &pnum, &map,
                                              &file), ==,
                        BDRV_BLOCK_DATA | BDRV_BLOCK_OFFSET_VALID |
                        BDRV_BLOCK_ALLOCATED);
        g_assert_cmpuint(pnum, ==, 4 << 20);
        bdrv_unref(bs);
        assert_qemu_check_clean(path);
        exercise(f, path, 4 << 20, 65536, 50, 21, NULL);
    }
}

static void test_measure(Fixture *f, gconstpointer data)
{
    static const char *const cases[] = {
        "size=1G", "size=10G,cluster_size=4k", "size=1T,cluster_size=2M",
        "size=100M,refcount_bits=1", "size=5G,extended_l2=on",
    };

    (void)data;
    (void)f;
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GHashTable) opts = block_opts_new();
        BlockMeasureInfo mi = { 0 };
        GError *err = NULL;
        g_autofree char *out = NULL;
        g_autofree char *o = g_strdup(cases[i]);
        char *size, *rest;
        JsonValue *j;
        int64_t req, full;

        g_assert_true(block_opts_parse(opts, cases[i], NULL, &err));
        g_assert_true(bdrv_qcow2.measure(opts, NULL, &mi, &err));
        g_assert_no_error(err);
        if (!have_qemu_img()) {
            continue;
        }
        size = o + 5;
        rest = strchr(size, ',');
        if (rest) {
            *rest++ = 0;
        }
        g_assert_cmpint(run(&out, "qemu-img measure --output=json -O qcow2 "
                            "--size %s %s%s", size, rest ? "-o " : "",
                            rest ? rest : ""), ==, 0);
        j = json_parse(out, strlen(out), &err);
        g_assert_no_error(err);
        g_assert_true(json_object_get_i64(j, "required", &req));
        g_assert_true(json_object_get_i64(j, "fully-allocated", &full));
        g_assert_cmpint(mi.required, ==, req);
        g_assert_cmpint(mi.fully_allocated, ==, full);
        json_free(j);
    }
}

/* An L2 entry with an unaligned offset: reads fail with EIO, the image
 * is marked corrupt, nothing else changes, read-write open refused. */
static void test_corrupt_l2(Fixture *f, gconstpointer data)
{
    g_autofree char *path = path_in(f, "bad.qcow2");
    g_autofree char *before = NULL, *after = NULL;
    gsize len_before, len_after;
    BlockDriverState *bs;
    GError *err = NULL;
    uint8_t buf[512];
    uint64_t l2_offset, entry;
    int fd;

    (void)data;
    create_image(path, "size=1M");
    bs = open_image(path, BDRV_O_RDWR);
    memset(buf, 1, sizeof(buf));
    g_assert_cmpint(bdrv_pwrite(bs, 0, buf, sizeof(buf), 0), ==, 0);
    g_assert_cmpint(bdrv_pwrite(bs, 65536, buf, sizeof(buf), 0), ==, 0);
    l2_offset = ((BDRVQcow2State *)bs->opaque)->l1_table[0] & L1E_OFFSET_MASK;
    bdrv_unref(bs);

    /* Point guest cluster 0 at an unaligned host offset. */
    fd = open(path, O_RDWR);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(pread(fd, &entry, 8, l2_offset), ==, 8);
    entry = GUINT64_TO_BE((GUINT64_FROM_BE(entry) + 512));
    g_assert_cmpint(pwrite(fd, &entry, 8, l2_offset), ==, 8);
    close(fd);
    g_assert_true(g_file_get_contents(path, &before, &len_before, NULL));

    bs = open_image(path, BDRV_O_RDWR);
    g_assert_cmpint(bdrv_pread(bs, 0, buf, sizeof(buf)), ==, -EIO);
    /* Every later write fails too, even to good clusters. */
    g_assert_cmpint(bdrv_pwrite(bs, 65536, buf, sizeof(buf), 0), ==, -EIO);
    g_assert_cmpint(bdrv_pwrite(bs, 300000, buf, sizeof(buf), 0), ==, -EIO);
    bdrv_unref(bs);

    g_assert_true(g_file_get_contents(path, &after, &len_after, NULL));
    g_assert_cmpuint(len_before, ==, len_after);
    /* Only the incompatible feature bits (offset 72) changed. */
    g_assert_cmpint(memcmp(before, after, 72), ==, 0);
    g_assert_cmpint(memcmp(before + 80, after + 80, len_after - 80), ==, 0);
    g_assert_cmpint(((uint8_t *)after)[79] & QCOW2_INCOMPAT_CORRUPT, !=, 0);

    g_assert_null(bdrv_open(path, "qcow2", NULL, BDRV_O_RDWR, &err));
    g_assert_nonnull(strstr(err->message, "Image is corrupt; cannot be "
                                          "opened read/write"));
    g_clear_error(&err);
    bs = open_image(path, 0);
    {
        JsonValue *info = bs->drv->get_specific_info(bs);
        g_assert_true(json_get_bool(json_object_get(
            json_object_get(info, "data"), "corrupt")));
        json_free(info);
    }
    /* Good clusters still read. */
    g_assert_cmpint(bdrv_pread(bs, 65536, buf, sizeof(buf)), ==, 0);
    g_assert_cmpint(buf[0], ==, 1);
    bdrv_unref(bs);
}

static void test_unknown_incompat(Fixture *f, gconstpointer data)
{
    g_autofree char *path = path_in(f, "u.qcow2");
    GError *err = NULL;
    uint64_t v;
    int fd;

    (void)data;
    create_image(path, "size=1M");
    fd = open(path, O_RDWR);
    g_assert_cmpint(fd, >=, 0);
    v = GUINT64_TO_BE((1ULL << 5) | (1ULL << 40));
    g_assert_cmpint(pwrite(fd, &v, 8, 72), ==, 8);
    close(fd);
    g_assert_null(bdrv_open(path, "qcow2", NULL, 0, &err));
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(err->message, "Unsupported qcow2 feature(s): "
                                          "bit 5, bit 40"));
    g_clear_error(&err);

    /* External data files are refused by name. */
    fd = open(path, O_RDWR);
    v = GUINT64_TO_BE(QCOW2_INCOMPAT_DATA_FILE);
    g_assert_cmpint(pwrite(fd, &v, 8, 72), ==, 8);
    close(fd);
    g_assert_null(bdrv_open(path, "qcow2", NULL, 0, &err));
    g_assert_nonnull(strstr(err->message, "external data file"));
    g_clear_error(&err);

    /* Encrypted images too. */
    create_image(path, "size=1M");
    fd = open(path, O_RDWR);
    {
        uint32_t m = GUINT32_TO_BE(1);
        g_assert_cmpint(pwrite(fd, &m, 4, 32), ==, 4);
    }
    close(fd);
    g_assert_null(bdrv_open(path, "qcow2", NULL, 0, &err));
    g_assert_nonnull(strstr(err->message, "encrypted images are not "
                                          "supported"));
    g_clear_error(&err);
}

/* A named unknown bit from the image's own feature table. */
static void test_unknown_incompat_named(Fixture *f, gconstpointer data)
{
    g_autofree char *path = path_in(f, "n.qcow2");
    g_autofree char *out = NULL;
    GError *err = NULL;
    uint8_t hdr[4096];
    uint64_t v;
    int fd;

    (void)data;
    create_image(path, "size=1M");
    fd = open(path, O_RDWR);
    g_assert_cmpint(pread(fd, hdr, sizeof(hdr), 0), ==, sizeof(hdr));
    /* Rename feature table entry 2 (incompat bit 2) to bit 7 "foo". */
    for (size_t p = 112; p + 8 < sizeof(hdr);) {
        uint32_t magic, len;
        memcpy(&magic, hdr + p, 4);
        memcpy(&len, hdr + p + 4, 4);
        magic = GUINT32_FROM_BE(magic);
        len = GUINT32_FROM_BE(len);
        if (magic == QCOW2_EXT_FEATURE_TABLE) {
            uint8_t *e = hdr + p + 8 + 2 * 48;
            e[1] = 7;
            memset(e + 2, 0, 46);
            strcpy((char *)e + 2, "foo");
            break;
        }
        if (magic == 0) {
            break;
        }
        p += 8 + ((len + 7) & ~7U);
    }
    v = GUINT64_TO_BE(1ULL << 7);
    memcpy(hdr + 72, &v, 8);
    g_assert_cmpint(pwrite(fd, hdr, sizeof(hdr), 0), ==, sizeof(hdr));
    close(fd);
    g_assert_null(bdrv_open(path, "qcow2", NULL, 0, &err));
    g_assert_cmpstr(err->message, ==, "Unsupported qcow2 feature(s): "
                                      "bit 7 (foo)");
    g_clear_error(&err);
}

static void test_change_backing_and_amend(Fixture *f, gconstpointer data)
{
    g_autofree char *base = path_in(f, "cb-base.qcow2");
    g_autofree char *top = path_in(f, "cb-top.qcow2");
    g_autoptr(GHashTable) opts = block_opts_new();
    BlockDriverState *bs;
    GError *err = NULL;
    g_autofree char *out = NULL;

    (void)data;
    create_image(base, "size=1M");
    create_image(top, "size=1M");
    bs = open_image(top, BDRV_O_RDWR);
    g_assert_cmpint(bs->drv->change_backing_file(bs, base, "qcow2"), ==, 0);
    bdrv_unref(bs);
    bs = open_image(top, 0);
    g_assert_cmpstr(bs->backing_file, ==, base);
    g_assert_cmpstr(bs->backing_format, ==, "qcow2");
    g_assert_nonnull(bs->backing);
    bdrv_unref(bs);
    if (have_qemu_img()) {
        g_assert_cmpint(run(&out, "qemu-img info --output=json %s", top), ==,
                        0);
        g_assert_nonnull(strstr(out, "\"backing-filename-format\": "
                                     "\"qcow2\""));
    }
    assert_qemu_check_clean(top);

    /* Amend: downgrade to v2, then back up with lazy refcounts. */
    bs = open_image(top, BDRV_O_RDWR | BDRV_O_NO_BACKING);
    g_assert_true(block_opts_parse(opts, "compat=0.10", NULL, &err));
    g_assert_true(bs->drv->amend(bs, opts, false, &err));
    g_assert_no_error(err);
    bdrv_unref(bs);
    assert_qemu_check_clean(top);
    bs = open_image(top, BDRV_O_RDWR | BDRV_O_NO_BACKING);
    g_assert_cmpint(((BDRVQcow2State *)bs->opaque)->qcow_version, ==, 2);
    g_hash_table_remove_all(opts);
    g_assert_true(block_opts_parse(opts, "compat=1.1,lazy_refcounts=on",
                                   NULL, &err));
    g_assert_true(bs->drv->amend(bs, opts, false, &err));
    g_assert_no_error(err);
    g_hash_table_remove_all(opts);
    /* A new refcount width: a new refcount structure, switched to with
     * one header write. */
    g_assert_true(block_opts_parse(opts, "refcount_bits=8", NULL, &err));
    g_assert_true(bs->drv->amend(bs, opts, false, &err));
    g_assert_no_error(err);
    bdrv_unref(bs);
    assert_qemu_check_clean(top);
    bs = open_image(top, 0);
    g_assert_cmpint(((BDRVQcow2State *)bs->opaque)->qcow_version, ==, 3);
    g_assert_cmpint(((BDRVQcow2State *)bs->opaque)->refcount_bits, ==, 8);
    g_assert_true(((BDRVQcow2State *)bs->opaque)->compatible_features &
                  QCOW2_COMPAT_LAZY_REFCOUNTS);
    g_assert_cmpstr(bs->backing_file, ==, base);
    bdrv_unref(bs);
    assert_qemu_check_clean(top);
}

/* Downgrading to compat=0.10 turns zero clusters into what v2 has. */
static void test_downgrade_zero_clusters(Fixture *f, gconstpointer data)
{
    g_autofree char *base = path_in(f, "dz-base.qcow2");
    g_autofree char *top = path_in(f, "dz-top.qcow2");
    g_autofree char *opts = g_strdup_printf(
        "size=1M,backing_file=%s,backing_fmt=qcow2", base);
    uint8_t *expect = g_malloc(1 << 20);
    const char *const images[] = { base, top };

    (void)data;
    create_image(base, "size=1M");
    create_image(top, opts);
    for (int i = 0; i < 2; i++) {
        g_autoptr(GHashTable) o = block_opts_new();
        BlockDriverState *bs = open_image(images[i], BDRV_O_RDWR);
        GError *err = NULL;

        fill_pattern(expect, 1 << 20, 60 + i);
        g_assert_cmpint(bdrv_pwrite(bs, 0, expect, 1 << 20, 0), ==, 0);
        g_assert_cmpint(bdrv_pwrite_zeroes(bs, 65536, 131072, 0), ==, 0);
        g_assert_cmpint(bdrv_pwrite_zeroes(bs, 262144, 65536,
                                           BDRV_REQ_MAY_UNMAP), ==, 0);
        memset(expect + 65536, 0, 131072);
        memset(expect + 262144, 0, 65536);
        g_assert_true(block_opts_parse(o, "compat=0.10", NULL, &err));
        g_assert_true(bs->drv->amend(bs, o, false, &err));
        g_assert_no_error(err);
        check_read(bs, expect, 0, 1 << 20);
        bdrv_unref(bs);
        bs = open_image(images[i], 0);
        g_assert_cmpint(((BDRVQcow2State *)bs->opaque)->qcow_version, ==, 2);
        check_read(bs, expect, 0, 1 << 20);
        bdrv_unref(bs);
        assert_qemu_check_clean(images[i]);
    }
    g_free(expect);
}

static void test_create_errors(Fixture *f, gconstpointer data)
{
    static const struct {
        const char *opts;
        const char *msg;
    } cases[] = {
        { "size=1M,cluster_size=1000", "Cluster size must be a power of two" },
        { "size=1M,cluster_size=4M", "Cluster size must be a power of two" },
        { "size=1M,compat=0.10,lazy_refcounts=on", "Lazy refcounts only" },
        { "size=1M,refcount_bits=3", "Refcount width must be a power" },
        { "size=1M,refcount_bits=128", "Refcount width must be a power" },
        { "size=1M,extended_l2=on,cluster_size=4k", "at least 16384" },
        { "size=1M,compat=0.10,refcount_bits=8", "Different refcount" },
        { "size=1M,backing_fmt=raw", "Backing format cannot be used" },
        { "size=1M,compat=2", "Invalid compatibility level" },
    };
    g_autofree char *path = path_in(f, "e.qcow2");

    (void)data;
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GHashTable) opts = block_opts_new();
        GError *err = NULL;

        g_assert_true(block_opts_parse(opts, cases[i].opts, NULL, &err));
        g_assert_false(bdrv_create("qcow2", path, opts, &err));
        g_assert_nonnull(err);
        if (!strstr(err->message, cases[i].msg)) {
            g_error("%s: got '%s'", cases[i].opts, err->message);
        }
        g_clear_error(&err);
    }
}

/* Header extensions lemu does not know survive a header rewrite. */
static void test_unknown_ext_kept(Fixture *f, gconstpointer data)
{
    g_autofree char *path = path_in(f, "x.qcow2");
    uint8_t hdr[4096];
    BlockDriverState *bs;
    size_t p = 112;
    int fd;
    bool found = false;

    (void)data;
    create_image(path, "size=1M");
    fd = open(path, O_RDWR);
    g_assert_cmpint(pread(fd, hdr, sizeof(hdr), 0), ==, sizeof(hdr));
    /* Skip to the end marker and put an unknown extension there. */
    for (;;) {
        uint32_t magic, len;
        memcpy(&magic, hdr + p, 4);
        memcpy(&len, hdr + p + 4, 4);
        if (!magic) {
            break;
        }
        p += 8 + ((GUINT32_FROM_BE(len) + 7) & ~7U);
    }
    memcpy(hdr + p, "\x12\x34\x56\x78\x00\x00\x00\x05hello\0\0\0", 16);
    memset(hdr + p + 16, 0, 8);
    g_assert_cmpint(pwrite(fd, hdr, sizeof(hdr), 0), ==, sizeof(hdr));
    close(fd);

    bs = open_image(path, BDRV_O_RDWR);
    g_assert_cmpint(bs->drv->change_backing_file(bs, "base.img", "raw"), ==,
                    0);
    bdrv_unref(bs);
    fd = open(path, O_RDONLY);
    g_assert_cmpint(pread(fd, hdr, sizeof(hdr), 0), ==, sizeof(hdr));
    close(fd);
    for (size_t i = 112; i + 13 < sizeof(hdr); i += 8) {
        if (!memcmp(hdr + i, "\x12\x34\x56\x78\x00\x00\x00\x05hello", 13)) {
            found = true;
        }
    }
    g_assert_true(found);
    bs = open_image(path, BDRV_O_NO_BACKING);
    g_assert_cmpstr(bs->backing_file, ==, "base.img");
    g_assert_cmpstr(bs->backing_format, ==, "raw");
    bdrv_unref(bs);
}

/* Writers, zero writes and discards racing over the same clusters: the
 * data is whatever won, but the metadata must stay consistent. */
typedef struct RaceArg {
    BlockDriverState *bs;
    uint32_t seed;
} RaceArg;

static gpointer race_thread(gpointer p)
{
    RaceArg *a = p;
    GRand *r = g_rand_new_with_seed(a->seed);
    uint8_t *buf = g_malloc(65536);

    fill_pattern(buf, 65536, a->seed);
    for (int i = 0; i < 300; i++) {
        uint64_t off = g_rand_int_range(r, 0, (4 << 20) / 512 - 128) * 512;
        uint64_t len = g_rand_int_range(r, 1, 128) * 512;
        switch (g_rand_int_range(r, 0, 5)) {
        case 0:
        case 1:
            g_assert_cmpint(bdrv_pwrite(a->bs, off, buf, len, 0), ==, 0);
            break;
        case 2:
            g_assert_cmpint(bdrv_pwrite_zeroes(a->bs, off, len,
                                               BDRV_REQ_MAY_UNMAP), ==, 0);
            break;
        case 3:
            g_assert_cmpint(bdrv_pdiscard(a->bs, off, len), >=, 0);
            break;
        default:
            g_assert_cmpint(bdrv_pread(a->bs, off, buf, len), ==, 0);
            break;
        }
    }
    g_free(buf);
    g_rand_free(r);
    return NULL;
}

static void test_race(Fixture *f, gconstpointer data)
{
    static const char *const opts[] = {
        "size=4M,cluster_size=4k", "size=4M,cluster_size=64k,extended_l2=on",
        "size=4M,cluster_size=512,compat=0.10",
    };

    (void)data;
    for (size_t k = 0; k < G_N_ELEMENTS(opts); k++) {
        g_autofree char *path = path_in(f, "race.qcow2");
        GThread *t[6];
        RaceArg a[6];
        BlockDriverState *bs;

        create_image(path, opts[k]);
        bs = open_image(path, BDRV_O_RDWR);
        for (int i = 0; i < 6; i++) {
            a[i] = (RaceArg){ bs, 500 + i };
            t[i] = g_thread_new("race", race_thread, &a[i]);
        }
        for (int i = 0; i < 6; i++) {
            g_thread_join(t[i]);
        }
        bdrv_unref(bs);
        assert_qemu_check_clean(path);
    }
}

/* Growing an image whose size is not cluster aligned: the grown part
 * reads as zero even if the old last cluster held more. */
static void test_grow_unaligned(Fixture *f, gconstpointer data)
{
    g_autofree char *path = path_in(f, "g.qcow2");
    uint8_t buf[65536], zero[65536] = { 0 };
    BlockDriverState *bs;
    GError *err = NULL;

    (void)data;
    create_image(path, "size=66048");       /* 64 KiB + 512 */
    bs = open_image(path, BDRV_O_RDWR);
    memset(buf, 0xee, sizeof(buf));
    g_assert_cmpint(bdrv_pwrite(bs, 65536, buf, 512, 0), ==, 0);
    {
        /* Garbage in the host cluster past the guest's end. */
        uint64_t pnum, map;
        BlockDriverState *file;
        g_assert_cmpint(bs->drv->block_status(bs, 65536, 512, &pnum, &map,
                                              &file), &, BDRV_BLOCK_DATA);
        g_assert_cmpint(bdrv_pwrite(bs->file, map + 512, buf, 65536 - 512,
                                    0), ==, 0);
    }
    g_assert_cmpint(bdrv_truncate(bs, 1 << 20, false, PREALLOC_MODE_OFF,
                                  &err), ==, 0);
    g_assert_no_error(err);
    g_assert_cmpint(bdrv_pread(bs, 65536 + 512, buf, 65536 - 512), ==, 0);
    g_assert_cmpint(memcmp(buf, zero, 65536 - 512), ==, 0);
    bdrv_unref(bs);
    assert_qemu_check_clean(path);
}

/* Tiny caches: L2 tables and refcount blocks are evicted all the time. */
static void test_small_caches(Fixture *f, gconstpointer data)
{
    g_autofree char *path = path_in(f, "sc.qcow2");

    (void)data;
    create_image(path, "size=8M,cluster_size=512");
    exercise_opts(f, path, 8 << 20, 512, 400, 31, NULL,
                  "l2-cache-size=1024,refcount-cache-size=512,"
                  "cache-clean-interval=600");
    create_image(path, "size=8M,cluster_size=16k,extended_l2=on");
    exercise_opts(f, path, 8 << 20, 16384, 300, 32, NULL,
                  "l2-cache-size=32k,lazy-refcounts=on");
}

/* Clusters shared with an internal snapshot (made by qemu-img) are
 * copied on write; the snapshot keeps its data. */
static void test_snapshot_cow(Fixture *f, gconstpointer data)
{
    g_autofree char *path = path_in(f, "sn.qcow2");
    g_autofree char *raw = path_in(f, "sn.raw");
    g_autofree char *out = NULL;
    const uint64_t size = 2 << 20;
    uint8_t *orig = g_malloc(size);
    BlockDriverState *bs;

    (void)data;
    if (!have_qemu_img()) {
        g_test_skip("qemu-img not installed");
        g_free(orig);
        return;
    }
    create_image(path, "size=2M,cluster_size=4k");
    fill_pattern(orig, size, 8);
    bs = open_image(path, BDRV_O_RDWR);
    g_assert_cmpint(bdrv_pwrite(bs, 0, orig, size, 0), ==, 0);
    bdrv_unref(bs);
    g_assert_cmpint(run(&out, "qemu-img snapshot -c sn1 %s", path), ==, 0);

    exercise(f, path, size, 4096, 200, 77, orig);

    /* The snapshot still holds the original data. */
    write_raw(raw, orig, size);
    g_free(out);
    out = NULL;
    g_assert_cmpint(run(&out, "qemu-img convert -l snapshot.name=sn1 -O raw "
                        "%s %s.snap", path, raw), ==, 0);
    g_free(out);
    out = NULL;
    g_assert_cmpint(run(&out, "cmp %s %s.snap", raw, raw), ==, 0);
    {
        g_autofree char *snap = g_strdup_printf("%s.snap", raw);
        g_unlink(snap);
    }
    g_free(orig);
}

/* measure of an existing image agrees with qemu-img measure. */
static void test_measure_image(Fixture *f, gconstpointer data)
{
    g_autofree char *path = path_in(f, "m.qcow2");
    g_autofree char *out = NULL;
    g_autoptr(GHashTable) opts = block_opts_new();
    BlockMeasureInfo mi = { 0 };
    GError *err = NULL;
    BlockDriverState *bs;
    uint8_t buf[70000];
    JsonValue *j;
    int64_t req, full;

    (void)data;
    create_image(path, "size=64M");
    bs = open_image(path, BDRV_O_RDWR);
    fill_pattern(buf, sizeof(buf), 1);
    g_assert_cmpint(bdrv_pwrite(bs, 1000, buf, sizeof(buf), 0), ==, 0);
    g_assert_cmpint(bdrv_pwrite(bs, 10 << 20, buf, sizeof(buf), 0), ==, 0);
    g_assert_cmpint(bdrv_pwrite_zeroes(bs, 20 << 20, 1 << 20, 0), ==, 0);
    g_assert_true(block_opts_parse(opts, "cluster_size=4k", NULL, &err));
    g_assert_true(bdrv_qcow2.measure(opts, bs, &mi, &err));
    g_assert_no_error(err);
    bdrv_unref(bs);
    if (!have_qemu_img()) {
        return;
    }
    g_assert_cmpint(run(&out, "qemu-img measure --output=json -f qcow2 -O "
                        "qcow2 -o cluster_size=4k %s", path), ==, 0);
    j = json_parse(out, strlen(out), &err);
    g_assert_no_error(err);
    g_assert_true(json_object_get_i64(j, "required", &req));
    g_assert_true(json_object_get_i64(j, "fully-allocated", &full));
    g_assert_cmpint(mi.required, ==, req);
    g_assert_cmpint(mi.fully_allocated, ==, full);
    json_free(j);
}

/* Images with random bytes changed in their metadata: opening, reading
 * and writing them fails cleanly or works, never crashes. */
static void test_fuzz_metadata(Fixture *f, gconstpointer data)
{
    g_autofree char *path = path_in(f, "fz.qcow2");
    g_autofree char *good = NULL;
    gsize len;
    GRand *r = g_rand_new_with_seed(1234);
    uint8_t buf[8192];
    BlockDriverState *bs;

    (void)data;
    create_image(path, "size=4M,cluster_size=4k");
    bs = open_image(path, BDRV_O_RDWR);
    fill_pattern(buf, sizeof(buf), 2);
    for (int i = 0; i < 16; i++) {
        g_assert_cmpint(bdrv_pwrite(bs, i * 200000, buf, sizeof(buf), 0),
                        ==, 0);
    }
    g_assert_cmpint(bdrv_pwrite_compressed(bs, 1 << 20, buf, 4096), ==, 0);
    bdrv_unref(bs);
    g_assert_true(g_file_get_contents(path, &good, &len, NULL));

    for (int iter = 0; iter < 300; iter++) {
        uint8_t *img = g_memdup2(good, len);
        int flips = g_rand_int_range(r, 1, 4);
        GError *err = NULL;

        for (int k = 0; k < flips; k++) {
            /* Mostly the header cluster, L1 and L2 tables. */
            gsize at = g_rand_boolean(r) ? g_rand_int_range(r, 0, 4096 * 6)
                                         : g_rand_int_range(r, 0, len);
            if (g_rand_boolean(r)) {
                img[at] ^= 1 << g_rand_int_range(r, 0, 8);
            } else {
                img[at] = g_rand_int(r);
            }
        }
        write_raw(path, img, len);
        g_free(img);
        bs = bdrv_open(path, "qcow2", NULL,
                       g_rand_boolean(r) ? BDRV_O_RDWR : 0, &err);
        if (!bs) {
            g_assert_nonnull(err);
            g_clear_error(&err);
            continue;
        }
        for (uint64_t off = 0; off < (uint64_t)bdrv_getlength(bs) &&
                               off < (4 << 20); off += 65536) {
            bdrv_pread(bs, off, buf, 4096);
        }
        if (!bs->read_only) {
            bdrv_pwrite(bs, g_rand_int_range(r, 0, 4 << 20) & ~511, buf,
                        4096, 0);
            bdrv_pwrite_zeroes(bs, 0, 65536, BDRV_REQ_MAY_UNMAP);
        }
        bdrv_unref(bs);
    }
    g_rand_free(r);
}

/* Concurrent writers and readers on disjoint regions. */
typedef struct ThreadArg {
    BlockDriverState *bs;
    uint64_t base;
    uint64_t len;
    uint32_t seed;
    int ok;
} ThreadArg;

static gpointer io_thread(gpointer p)
{
    ThreadArg *a = p;
    uint8_t *expect = g_malloc0(a->len);
    uint8_t *buf = g_malloc(a->len);
    GRand *r = g_rand_new_with_seed(a->seed);

    a->ok = 1;
    for (int i = 0; i < 200; i++) {
        uint64_t len = g_rand_int_range(r, 1, 20000);
        uint64_t off = g_rand_int_range(r, 0, a->len - len);
        fill_pattern(expect + off, len, g_rand_int(r));
        if (bdrv_pwrite(a->bs, a->base + off, expect + off, len, 0) < 0) {
            a->ok = 0;
        }
        off = g_rand_int_range(r, 0, a->len - 4096);
        if (bdrv_pread(a->bs, a->base + off, buf, 4096) < 0 ||
            memcmp(buf, expect + off, 4096)) {
            a->ok = 0;
        }
    }
    if (bdrv_pread(a->bs, a->base, buf, a->len) < 0 ||
        memcmp(buf, expect, a->len)) {
        a->ok = 0;
    }
    g_rand_free(r);
    g_free(expect);
    g_free(buf);
    return NULL;
}

static void test_concurrent(Fixture *f, gconstpointer data)
{
    g_autofree char *path = path_in(f, "mt.qcow2");
    BlockDriverState *bs;
    GThread *t[8];
    ThreadArg a[8];

    (void)data;
    create_image(path, "size=64M,cluster_size=4k");
    bs = open_image(path, BDRV_O_RDWR);
    for (int i = 0; i < 8; i++) {
        a[i] = (ThreadArg){ bs, (uint64_t)i * 8 * 1024 * 1024 + 1234,
                            1024 * 1024, 1000 + i, 0 };
        t[i] = g_thread_new("io", io_thread, &a[i]);
    }
    for (int i = 0; i < 8; i++) {
        g_thread_join(t[i]);
        g_assert_true(a[i].ok);
    }
    bdrv_unref(bs);
    assert_qemu_check_clean(path);
}

/* The image lemu creates is byte for byte the one qemu-img creates. */
static void test_header_like_qemu(Fixture *f, gconstpointer data)
{
    static const char *const cases[] = {
        "size=1G", "size=1G,cluster_size=512", "size=10G,cluster_size=2M",
        "size=1G,compat=0.10", "size=1G,extended_l2=on",
        "size=1G,refcount_bits=1", "size=1G,refcount_bits=64",
        "size=1G,lazy_refcounts=on", "size=1G,compression_type=zstd",
        "size=0", "size=1000000000", "size=1M,cluster_size=4k",
        "size=1M,cluster_size=8k",
        "size=1M,backing_file=BASE,backing_fmt=raw",
        "size=1M,cluster_size=512,backing_file=BASE,backing_fmt=raw",
    };
    g_autofree char *base = path_in(f, "base.raw");
    g_autofree char *mine = path_in(f, "mine.qcow2");
    g_autofree char *theirs = path_in(f, "theirs.qcow2");

    (void)data;
    if (!have_qemu_img()) {
        g_test_skip("qemu-img not installed");
        return;
    }
    write_raw(base, (const uint8_t *)"", 0);
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *a = NULL, *b = NULL, *out = NULL;
        g_auto(GStrv) parts = g_strsplit(cases[i], "BASE", -1);
        g_autofree char *opts = g_strjoinv(base, parts);
        gsize la, lb;

        g_test_message("%s", opts);
        create_image(mine, opts);
        g_assert_cmpint(run(&out, "qemu-img create -f qcow2 -o %s %s",
                            opts, theirs), ==, 0);
        g_assert_true(g_file_get_contents(mine, &a, &la, NULL));
        g_assert_true(g_file_get_contents(theirs, &b, &lb, NULL));
        g_assert_cmpuint(la, ==, lb);
        g_assert_cmpint(memcmp(a, b, la), ==, 0);
    }
    /* Where qemu-img places refcount blocks differently (an L1 table
     * larger than one refcount block covers), the image is still clean. */
    create_image(mine, "size=20G,cluster_size=512");
    assert_qemu_check_clean(mine);
    {
        g_autofree char *opts = g_strdup_printf(
            "size=20G,cluster_size=512,refcount_bits=1,backing_file=%s,"
            "backing_fmt=raw", base);
        create_image(mine, opts);
        assert_qemu_check_clean(mine);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define ADD(name, fn) \
    g_test_add("/qcow2/" name, Fixture, NULL, fixture_setup, fn, \
               fixture_teardown)
    ADD("header-like-qemu", test_header_like_qemu);
    ADD("cluster-sizes", test_cluster_sizes);
    ADD("refcount-widths", test_refcount_widths);
    ADD("v2", test_v2);
    ADD("extended-l2", test_extended_l2);
    ADD("backing-cow", test_backing_cow);
    ADD("cow-exact", test_cow_exact);
    ADD("make-empty", test_make_empty);
    ADD("zero-and-status", test_zero_and_status);
    ADD("compressed", test_compressed);
    ADD("qemu-made", test_qemu_made);
    ADD("reopen-and-info", test_reopen_and_info);
    ADD("dirty-repair", test_dirty_repair);
    ADD("freed-cluster-reuse", test_freed_cluster_reuse);
    ADD("truncate", test_truncate);
    ADD("preallocation", test_preallocation);
    ADD("measure", test_measure);
    ADD("corrupt-l2", test_corrupt_l2);
    ADD("unknown-incompat", test_unknown_incompat);
    ADD("unknown-incompat-named", test_unknown_incompat_named);
    ADD("change-backing-and-amend", test_change_backing_and_amend);
    ADD("create-errors", test_create_errors);
    ADD("downgrade-zero-clusters", test_downgrade_zero_clusters);
    ADD("concurrent", test_concurrent);
    ADD("small-caches", test_small_caches);
    ADD("snapshot-cow", test_snapshot_cow);
    ADD("measure-image", test_measure_image);
    ADD("fuzz-metadata", test_fuzz_metadata);
    ADD("unknown-ext-kept", test_unknown_ext_kept);
    ADD("race", test_race);
    ADD("grow-unaligned", test_grow_unaligned);
    return g_test_run();
}
