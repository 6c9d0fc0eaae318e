/*
 * Block layer core: option strings and sizes, probing, the file and raw
 * drivers (I/O, holes, O_DIRECT alignment, windows, locking), opening
 * errors, backing chain loops, and BlockBackend's asynchronous requests,
 * cache and error policy.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <glib.h>
#include <glib/gstdio.h>
#include "lemu-config.h"
#include "lemu/block/block-backend.h"
#include "lemu/util/log.h"

static char *tmp_dir_new(void)
{
    GError *err = NULL;
    char *dir = g_dir_make_tmp("lemu-test-block-XXXXXX", &err);

    g_assert_no_error(err);
    return dir;
}

/* Removes the files the tests made and the directory. */
static void tmp_dir_free(char *dir)
{
    GDir *d = g_dir_open(dir, 0, NULL);
    const char *name;

    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *p = g_build_filename(dir, name, NULL);
        g_unlink(p);
    }
    if (d) {
        g_dir_close(d);
    }
    g_rmdir(dir);
    g_free(dir);
}

static void write_file(const char *path, const void *data, size_t len)
{
    GError *err = NULL;

    g_file_set_contents(path, data, len, &err);
    g_assert_no_error(err);
}

static char *make_raw(const char *dir, const char *name, uint64_t size)
{
    char *path = g_build_filename(dir, name, NULL);
    g_autoptr(GHashTable) opts = block_opts_new();
    GError *err = NULL;

    g_hash_table_insert(opts, g_strdup("size"),
                        g_strdup_printf("%" G_GUINT64_FORMAT, size));
    g_assert_true(bdrv_create("raw", path, opts, &err));
    g_assert_no_error(err);
    return path;
}

static int64_t file_blocks(const char *path)
{
    struct stat st;

    g_assert_cmpint(stat(path, &st), ==, 0);
    return st.st_blocks;
}

/* ---- options and sizes ---- */

static void test_opts_parse(void)
{
    g_autoptr(GHashTable) opts = block_opts_new();
    GError *err = NULL;
    char *v;

    g_assert_true(block_opts_parse(opts, "disk.img,format=raw,id=a,,b,ro",
                                   "file", &err));
    g_assert_no_error(err);
    g_assert_cmpstr(g_hash_table_lookup(opts, "file"), ==, "disk.img");
    g_assert_cmpstr(g_hash_table_lookup(opts, "format"), ==, "raw");
    g_assert_cmpstr(g_hash_table_lookup(opts, "id"), ==, "a,b");
    g_assert_cmpstr(g_hash_table_lookup(opts, "ro"), ==, "on");

    v = block_opts_take(opts, "format");
    g_assert_cmpstr(v, ==, "raw");
    g_free(v);
    g_assert_false(g_hash_table_contains(opts, "format"));
    g_assert_null(block_opts_take(opts, "format"));

    /* A later key wins; a value may contain '='. */
    g_assert_true(block_opts_parse(opts, "id=x,id=y=z", NULL, &err));
    g_assert_cmpstr(g_hash_table_lookup(opts, "id"), ==, "y=z");

    g_assert_false(block_opts_parse(opts, "a=1,=2", NULL, &err));
    g_assert_nonnull(strstr(err->message, "=2"));
    g_clear_error(&err);
}

static void test_opts_json(void)
{
    g_autoptr(GHashTable) opts = block_opts_new();
    GError *err = NULL;

    g_assert_true(block_opts_parse_json(opts,
        "{'driver': 'qcow2', 'read-only': true, 'cache': {'direct': false},"
        " 'file': {'driver': 'file', 'filename': 'a,b'}, 'backing': null,"
        " 'l2-cache-size': 1048576}", &err));
    g_assert_no_error(err);
    g_assert_cmpuint(g_hash_table_size(opts), ==, 7);
    g_assert_cmpstr(g_hash_table_lookup(opts, "driver"), ==, "qcow2");
    g_assert_cmpstr(g_hash_table_lookup(opts, "read-only"), ==, "on");
    g_assert_cmpstr(g_hash_table_lookup(opts, "cache.direct"), ==, "off");
    g_assert_cmpstr(g_hash_table_lookup(opts, "file.driver"), ==, "file");
    g_assert_cmpstr(g_hash_table_lookup(opts, "file.filename"), ==, "a,b");
    g_assert_cmpstr(g_hash_table_lookup(opts, "backing"), ==, "null");
    g_assert_cmpstr(g_hash_table_lookup(opts, "l2-cache-size"), ==,
                    "1048576");

    g_assert_false(block_opts_parse_json(opts, "[1]", &err));
    g_assert_nonnull(strstr(err->message, "object"));
    g_clear_error(&err);
    g_assert_false(block_opts_parse_json(opts, "{'a': [1]}", &err));
    g_assert_nonnull(strstr(err->message, "'a'"));
    g_clear_error(&err);
    g_assert_false(block_opts_parse_json(opts, "{'a': ", &err));
    g_assert_nonnull(err);
    g_clear_error(&err);
}

/* A "json:" file name carries the options. */
static void test_open_json_filename(void)
{
    char *dir = tmp_dir_new();
    g_autofree char *path = make_raw(dir, "j.img", 8192);
    g_autofree char *name = g_strdup_printf(
        "json:{\"driver\": \"raw\", \"size\": \"4096\", "
        "\"file\": {\"driver\": \"file\", \"filename\": \"%s\"}}", path);
    GError *err = NULL;
    BlockDriverState *bs;

    bs = bdrv_open(name, NULL, NULL, 0, &err);
    g_assert_no_error(err);
    g_assert_cmpstr(bs->drv->format_name, ==, "raw");
    g_assert_cmpstr(bs->filename, ==, path);
    g_assert_cmpint(bdrv_getlength(bs), ==, 4096);
    bdrv_unref(bs);

    g_assert_null(bdrv_open("json:{\"driver\": ", NULL, NULL, 0, &err));
    g_assert_nonnull(strstr(err->message, "json:"));
    g_clear_error(&err);
    tmp_dir_free(dir);
}

static void test_parse_size(void)
{
    static const struct {
        const char *s;
        uint64_t v;
    } good[] = {
        { "0", 0 }, { "512", 512 }, { "512b", 512 }, { "1k", 1024 },
        { "1K", 1024 }, { "1.5k", 1536 }, { "1m", 1 << 20 },
        { "64M", 64 << 20 }, { "2G", 2ULL << 30 }, { "1T", 1ULL << 40 },
        { "1P", 1ULL << 50 }, { "7E", 7ULL << 60 }, { "0x10", 16 },
    };
    static const char *const bad[] = {
        "", "1e3", "1kb", "1.5", "-1", "+1", "8E", "16E", "k", " 1", "1 ",
        "99999999999999999999",
    };

    for (size_t i = 0; i < G_N_ELEMENTS(good); i++) {
        GError *err = NULL;
        uint64_t v = 1234567;

        g_assert_true(block_parse_size(good[i].s, &v, &err));
        g_assert_no_error(err);
        g_assert_cmpuint(v, ==, good[i].v);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        GError *err = NULL;
        uint64_t v;

        g_assert_false(block_parse_size(bad[i], &v, &err));
        g_assert_nonnull(err);
        g_clear_error(&err);
    }
}

static void test_iov_size(void)
{
    char a[3], b[5];
    struct iovec iov[2] = { { a, sizeof(a) }, { b, sizeof(b) } };

    g_assert_cmpuint(iov_size(iov, 2), ==, 8);
    g_assert_cmpuint(iov_size(iov, 0), ==, 0);
}

/* ---- probing and creation ---- */

static void test_probe(void)
{
    char *dir = tmp_dir_new();
    g_autofree char *raw = g_build_filename(dir, "a.img", NULL);
    g_autofree char *missing = g_build_filename(dir, "missing", NULL);
    g_autofree char *qcow = g_build_filename(dir, "b.qcow2", NULL);
    uint8_t hdr[512] = { 'Q', 'F', 'I', 0xfb, 0, 0, 0, 3 };
    GError *err = NULL;

    write_file(raw, "hello world", 11);
    g_assert_cmpstr(bdrv_probe_format(raw, &err), ==, "raw");
    g_assert_no_error(err);

    /* An empty file is raw too. */
    write_file(raw, "", 0);
    g_assert_cmpstr(bdrv_probe_format(raw, &err), ==, "raw");

    g_assert_null(bdrv_probe_format(missing, &err));
    g_assert_nonnull(strstr(err->message, missing));
    g_clear_error(&err);

    if (bdrv_find_format("qcow2")->probe) {
        write_file(qcow, hdr, sizeof(hdr));
        g_assert_cmpstr(bdrv_probe_format(qcow, &err), ==, "qcow2");
    }
    g_assert_nonnull(bdrv_find_format("raw"));
    g_assert_nonnull(bdrv_find_format("file"));
    g_assert_null(bdrv_find_format("vmdk"));
    tmp_dir_free(dir);
}

static void test_create(void)
{
    char *dir = tmp_dir_new();
    g_autofree char *path = g_build_filename(dir, "c.img", NULL);
    g_autoptr(GHashTable) opts = block_opts_new();
    GError *err = NULL;
    struct stat st;

    /* Sizes round up to whole sectors, as qemu-img makes them. */
    g_hash_table_insert(opts, g_strdup("size"), g_strdup("1000"));
    g_assert_true(bdrv_create("raw", path, opts, &err));
    g_assert_no_error(err);
    g_assert_cmpint(stat(path, &st), ==, 0);
    g_assert_cmpint(st.st_size, ==, 1024);

    /* preallocation=full writes every byte. */
    g_hash_table_insert(opts, g_strdup("size"), g_strdup("256k"));
    g_hash_table_insert(opts, g_strdup("preallocation"), g_strdup("full"));
    g_assert_true(bdrv_create("raw", path, opts, &err));
    g_assert_no_error(err);
    g_assert_cmpint(stat(path, &st), ==, 0);
    g_assert_cmpint(st.st_size, ==, 256 * 1024);
    g_assert_cmpint(st.st_blocks * 512, >=, 256 * 1024);

    g_hash_table_insert(opts, g_strdup("preallocation"), g_strdup("lots"));
    g_assert_false(bdrv_create("raw", path, opts, &err));
    g_assert_nonnull(strstr(err->message, "lots"));
    g_clear_error(&err);
    g_hash_table_remove(opts, "preallocation");

    g_hash_table_insert(opts, g_strdup("cluster_sz"), g_strdup("4k"));
    g_assert_false(bdrv_create("raw", path, opts, &err));
    g_assert_nonnull(strstr(err->message, "cluster_sz"));
    g_clear_error(&err);

    g_assert_false(bdrv_create("vmdk", path, NULL, &err));
    g_assert_nonnull(strstr(err->message, "vmdk"));
    g_clear_error(&err);
    tmp_dir_free(dir);
}

/* ---- raw over file ---- */

static void fill(uint8_t *buf, size_t len, uint8_t seed)
{
    for (size_t i = 0; i < len; i++) {
        buf[i] = (uint8_t)(seed + i * 7);
    }
}

static void test_raw_rw(void)
{
    char *dir = tmp_dir_new();
    g_autofree char *path = make_raw(dir, "rw.img", 1 << 20);
    g_autofree uint8_t *buf = g_malloc(8192), *out = g_malloc(8192);
    g_autofree char *contents = NULL;
    GError *err = NULL;
    BlockDriverState *bs;
    struct iovec iov[3];
    gsize len;

    bs = bdrv_open(path, "raw", NULL, BDRV_O_RDWR, &err);
    g_assert_no_error(err);
    g_assert_cmpint(bdrv_getlength(bs), ==, 1 << 20);
    g_assert_nonnull(bs->file);
    g_assert_cmpstr(bs->drv->format_name, ==, "raw");
    g_assert_cmpstr(bs->file->drv->format_name, ==, "file");

    /* A scattered write at an odd offset, read back in one piece. */
    fill(buf, 8192, 3);
    iov[0] = (struct iovec){ buf, 100 };
    iov[1] = (struct iovec){ buf + 100, 0 };
    iov[2] = (struct iovec){ buf + 100, 5000 };
    g_assert_cmpint(bdrv_pwritev(bs, 12345, 5100, iov, 3, 0), ==, 0);
    g_assert_cmpint(bdrv_pread(bs, 12345, out, 5100), ==, 0);
    g_assert_cmpmem(out, 5100, buf, 5100);
    g_assert_cmpint(bdrv_flush(bs), ==, 0);
    bdrv_unref(bs);

    /* It is in the file at that offset. */
    g_assert_true(g_file_get_contents(path, &contents, &len, NULL));
    g_assert_cmpuint(len, ==, 1 << 20);
    g_assert_cmpmem(contents + 12345, 5100, buf, 5100);

    /* Read-only: writes are refused. */
    bs = bdrv_open(path, "raw", NULL, 0, &err);
    g_assert_no_error(err);
    g_assert_true(bs->read_only);
    g_assert_cmpint(bdrv_pwrite(bs, 0, buf, 512, 0), ==, -EACCES);
    g_assert_cmpint(bdrv_pwrite_zeroes(bs, 0, 512, 0), ==, -EACCES);
    g_assert_cmpint(bdrv_pdiscard(bs, 0, 512), ==, -EACCES);
    bdrv_unref(bs);
    tmp_dir_free(dir);
}

/* The file protocol alone: reads past the end of the file are zeroes. */
static void test_file_read_past_eof(void)
{
    char *dir = tmp_dir_new();
    g_autofree char *path = g_build_filename(dir, "short", NULL);
    uint8_t buf[64];
    GError *err = NULL;
    BlockDriverState *bs;

    write_file(path, "abcdefgh", 8);
    bs = bdrv_open(path, "file", NULL, 0, &err);
    g_assert_no_error(err);
    memset(buf, 0xaa, sizeof(buf));
    g_assert_cmpint(bdrv_pread(bs, 4, buf, sizeof(buf)), ==, 0);
    g_assert_cmpmem(buf, 4, "efgh", 4);
    for (size_t i = 4; i < sizeof(buf); i++) {
        g_assert_cmpint(buf[i], ==, 0);
    }
    bdrv_unref(bs);
    tmp_dir_free(dir);
}

static void test_raw_discard(void)
{
    char *dir = tmp_dir_new();
    g_autofree char *path = make_raw(dir, "d.img", 1 << 20);
    g_autoptr(GHashTable) opts = block_opts_new();
    g_autofree uint8_t *buf = g_malloc(1 << 20);
    GError *err = NULL;
    BlockDriverState *bs;
    int64_t full, after;

    /* discard=ignore (default): the blocks stay. */
    bs = bdrv_open(path, "raw", NULL, BDRV_O_RDWR, &err);
    g_assert_no_error(err);
    memset(buf, 0x5a, 1 << 20);
    g_assert_cmpint(bdrv_pwrite(bs, 0, buf, 1 << 20, 0), ==, 0);
    g_assert_cmpint(bdrv_flush(bs), ==, 0);
    full = file_blocks(path);
    g_assert_cmpint(full * 512, >=, 1 << 20);
    g_assert_cmpint(bdrv_pdiscard(bs, 0, 512 * 1024), ==, 0);
    g_assert_cmpint(file_blocks(path), ==, full);
    bdrv_unref(bs);

    /* discard=unmap: a hole appears and reads as zeroes. */
    g_hash_table_insert(opts, g_strdup("discard"), g_strdup("unmap"));
    bs = bdrv_open(path, "raw", opts, BDRV_O_RDWR, &err);
    g_assert_no_error(err);
    g_assert_true(bs->open_flags & BDRV_O_UNMAP);
    g_assert_cmpint(bdrv_pdiscard(bs, 0, 512 * 1024), ==, 0);
    after = file_blocks(path);
    if (after == full) {
        bdrv_unref(bs);
        tmp_dir_free(dir);
        g_test_skip("the temporary file system does not punch holes");
        return;
    }
    g_assert_cmpint(after, <, full);
    g_assert_cmpint(bdrv_pread(bs, 0, buf, 1 << 20), ==, 0);
    for (size_t i = 0; i < (1 << 20); i += 4096) {
        g_assert_cmpint(buf[i], ==, i < 512 * 1024 ? 0 : 0x5a);
    }

    /* Block status sees the hole, then the data. */
    {
        uint64_t pnum, map;
        BlockDriverState *file;
        int ret = bdrv_block_status(bs, 0, 1 << 20, &pnum, &map, &file);

        g_assert_cmpint(ret, >=, 0);
        g_assert_true(ret & BDRV_BLOCK_ZERO);
        g_assert_false(ret & BDRV_BLOCK_DATA);
        g_assert_cmpuint(pnum, ==, 512 * 1024);
        ret = bdrv_block_status(bs, 512 * 1024, 1 << 20, &pnum, &map, &file);
        g_assert_true(ret & BDRV_BLOCK_DATA);
        g_assert_true(ret & BDRV_BLOCK_OFFSET_VALID);
        g_assert_cmpuint(map, ==, 512 * 1024);
        g_assert_cmpuint(pnum, ==, 512 * 1024);
        g_assert_true(file == bs->file);
    }

    /* Write-zeroes with unmap leaves zeroes (and a hole) too. */
    g_assert_cmpint(bdrv_pwrite_zeroes(bs, 512 * 1024, 4096,
                                       BDRV_REQ_MAY_UNMAP), ==, 0);
    g_assert_cmpint(bdrv_pread(bs, 512 * 1024 - 1, buf, 4098), ==, 0);
    g_assert_cmpint(buf[0], ==, 0);
    for (int i = 1; i < 4097; i++) {
        g_assert_cmpint(buf[i], ==, 0);
    }
    g_assert_cmpint(buf[4097], ==, 0x5a);
    bdrv_unref(bs);
    tmp_dir_free(dir);
}

static void test_raw_window(void)
{
    char *dir = tmp_dir_new();
    g_autofree char *path = g_build_filename(dir, "w.img", NULL);
    g_autoptr(GHashTable) opts = block_opts_new();
    uint8_t data[4096], buf[16];
    GError *err = NULL;
    BlockDriverState *bs;

    fill(data, sizeof(data), 9);
    write_file(path, data, sizeof(data));
    g_hash_table_insert(opts, g_strdup("offset"), g_strdup("512"));
    g_hash_table_insert(opts, g_strdup("size"), g_strdup("1k"));
    bs = bdrv_open(path, "raw", opts, 0, &err);
    g_assert_no_error(err);
    g_assert_cmpint(bdrv_getlength(bs), ==, 1024);
    g_assert_cmpint(bdrv_pread(bs, 0, buf, 16), ==, 0);
    g_assert_cmpmem(buf, 16, data + 512, 16);
    /* Past the window the file's bytes do not show: zeroes. */
    g_assert_cmpint(bdrv_pread(bs, 1020, buf, 8), ==, 0);
    g_assert_cmpmem(buf, 4, data + 512 + 1020, 4);
    g_assert_cmpmem(buf + 4, 4, "\0\0\0\0", 4);
    bdrv_unref(bs);

    /* A window past the end of the file is refused. */
    g_hash_table_insert(opts, g_strdup("size"), g_strdup("4k"));
    g_assert_null(bdrv_open(path, "raw", opts, 0, &err));
    g_assert_nonnull(strstr(err->message, "size"));
    g_clear_error(&err);
    tmp_dir_free(dir);
}

/* A probed raw image refuses to be turned into a qcow2 header. */
static void test_raw_probed_guard(void)
{
    char *dir = tmp_dir_new();
    g_autofree char *path = make_raw(dir, "p.img", 65536);
    g_autoptr(GHashTable) opts = block_opts_new();
    uint8_t hdr[512] = { 'Q', 'F', 'I', 0xfb, 0, 0, 0, 3 };
    uint8_t other[512] = { 'E', 'L', 'F' };
    GError *err = NULL;
    BlockDriverState *bs;

    if (!bdrv_find_format("qcow2")->probe) {
        g_test_skip("the qcow2 driver has no probe yet");
        tmp_dir_free(dir);
        return;
    }
    g_hash_table_insert(opts, g_strdup("x-probed"), g_strdup("on"));
    bs = bdrv_open(path, "raw", opts, BDRV_O_RDWR, &err);
    g_assert_no_error(err);
    g_assert_cmpint(bdrv_pwrite(bs, 0, hdr, sizeof(hdr), 0), ==, -EPERM);
    /* The magic alone, written in two parts, is caught too. */
    g_assert_cmpint(bdrv_pwrite(bs, 0, hdr, 2, 0), ==, 0);
    g_assert_cmpint(bdrv_pwrite(bs, 2, hdr + 2, 6, 0), ==, -EPERM);
    g_assert_cmpint(bdrv_pwrite(bs, 0, other, sizeof(other), 0), ==, 0);
    g_assert_cmpint(bdrv_pwrite(bs, 4096, hdr, sizeof(hdr), 0), ==, 0);
    bdrv_unref(bs);
    g_assert_cmpstr(bdrv_probe_format(path, &err), ==, "raw");

    /* Said explicitly: no guard. */
    bs = bdrv_open(path, "raw", NULL, BDRV_O_RDWR, &err);
    g_assert_no_error(err);
    g_assert_cmpint(bdrv_pwrite(bs, 0, hdr, sizeof(hdr), 0), ==, 0);
    bdrv_unref(bs);
    tmp_dir_free(dir);
}

/* O_DIRECT: unaligned requests go through bounce buffers. */
static void test_raw_direct(void)
{
    char *dir = tmp_dir_new();
    g_autofree char *path = make_raw(dir, "direct.img", 64 * 1024);
    g_autoptr(GHashTable) opts = block_opts_new();
    g_autofree uint8_t *mem = g_malloc(16384);
    g_autofree char *contents = NULL;
    uint8_t *odd = mem + 1;
    GError *err = NULL;
    BlockDriverState *bs;
    gsize len;

    g_hash_table_insert(opts, g_strdup("cache.direct"), g_strdup("on"));
    bs = bdrv_open(path, "raw", opts, BDRV_O_RDWR, &err);
    if (!bs) {
        g_test_skip("the temporary file system has no O_DIRECT");
        g_clear_error(&err);
        tmp_dir_free(dir);
        return;
    }
    g_assert_true(bs->file->open_flags & BDRV_O_NOCACHE);
    g_assert_cmpuint(bs->file->request_alignment, >=, 512);

    /* Unaligned offset, length and buffer, inside one block and across
     * several. */
    fill(odd, 3, 1);
    g_assert_cmpint(bdrv_pwrite(bs, 1000, odd, 3, 0), ==, 0);
    fill(odd, 9000, 2);
    g_assert_cmpint(bdrv_pwrite(bs, 5001, odd, 9000, 0), ==, 0);
    memset(mem, 0, 16384);
    g_assert_cmpint(bdrv_pread(bs, 5001, odd, 9000), ==, 0);
    {
        g_autofree uint8_t *want = g_malloc(9000);

        fill(want, 9000, 2);
        g_assert_cmpmem(odd, 9000, want, 9000);
    }
    g_assert_cmpint(bdrv_flush(bs), ==, 0);
    bdrv_unref(bs);

    g_assert_true(g_file_get_contents(path, &contents, &len, NULL));
    g_assert_cmpuint(len, ==, 64 * 1024);
    /* The bytes around the small write kept their zeroes. */
    g_assert_cmpint(contents[999], ==, 0);
    g_assert_cmpint((uint8_t)contents[1000], ==, 1);
    g_assert_cmpint((uint8_t)contents[1002], ==, (uint8_t)(1 + 14));
    g_assert_cmpint(contents[1003], ==, 0);
    g_assert_cmpint(contents[5000], ==, 0);
    g_assert_cmpint((uint8_t)contents[5001], ==, 2);
    g_assert_cmpint(contents[14001], ==, 0);
    tmp_dir_free(dir);
}

static void test_open_errors(void)
{
    char *dir = tmp_dir_new();
    g_autofree char *path = make_raw(dir, "e.img", 4096);
    g_autofree char *missing = g_build_filename(dir, "nope.img", NULL);
    GError *err = NULL;
    static const struct {
        const char *key, *value, *expect;
    } cases[] = {
        { "foo", "1", "'foo'" },
        { "file.bar", "2", "'bar'" },
        { "cache.direct", "maybe", "cache.direct" },
        { "discard", "sometimes", "sometimes" },
        { "file.locking", "perhaps", "perhaps" },
        { "file.aio", "native", "aio=native" },
        { "driver", "vmdk", "vmdk" },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GHashTable) opts = block_opts_new();

        g_hash_table_insert(opts, g_strdup(cases[i].key),
                            g_strdup(cases[i].value));
        g_assert_null(bdrv_open(path, NULL, opts, BDRV_O_RDWR, &err));
        g_assert_nonnull(err);
        if (!strstr(err->message, cases[i].expect)) {
            g_error("%s=%s: '%s' does not name '%s'", cases[i].key,
                    cases[i].value, err->message, cases[i].expect);
        }
        g_clear_error(&err);
    }

    g_assert_null(bdrv_open(missing, "raw", NULL, 0, &err));
    g_assert_nonnull(strstr(err->message, "Could not open"));
    g_assert_nonnull(strstr(err->message, missing));
    g_clear_error(&err);

    g_assert_null(bdrv_open(NULL, "raw", NULL, 0, &err));
    g_assert_nonnull(err);
    g_clear_error(&err);

    g_assert_null(bdrv_open(dir, "file", NULL, 0, &err));
    g_assert_nonnull(strstr(err->message, "directory"));
    g_clear_error(&err);
    tmp_dir_free(dir);
}

/* A second writer is refused, as QEMU refuses it. */
static void test_locking(void)
{
    char *dir = tmp_dir_new();
    g_autofree char *path = make_raw(dir, "l.img", 4096);
    g_autoptr(GHashTable) share = block_opts_new();
    g_autoptr(GHashTable) nolock = block_opts_new();
    GError *err = NULL;
    BlockDriverState *a, *b;

    a = bdrv_open(path, "raw", NULL, BDRV_O_RDWR, &err);
    g_assert_no_error(err);
    b = bdrv_open(path, "raw", NULL, BDRV_O_RDWR, &err);
    g_assert_null(b);
    g_assert_nonnull(strstr(err->message, "Failed to get \"write\" lock"));
    g_clear_error(&err);
    b = bdrv_open(path, "raw", NULL, 0, &err);
    g_assert_null(b);
    g_assert_nonnull(strstr(err->message, "\"write\" lock"));
    g_clear_error(&err);

    g_hash_table_insert(share, g_strdup("force-share"), g_strdup("on"));
    b = bdrv_open(path, "raw", share, 0, &err);
    g_assert_no_error(err);
    bdrv_unref(b);
    g_hash_table_insert(nolock, g_strdup("file.locking"), g_strdup("off"));
    b = bdrv_open(path, "raw", nolock, BDRV_O_RDWR, &err);
    g_assert_no_error(err);
    bdrv_unref(b);
    bdrv_unref(a);

    /* Closed: the next writer gets it. */
    a = bdrv_open(path, "raw", NULL, BDRV_O_RDWR, &err);
    g_assert_no_error(err);
    bdrv_unref(a);
    tmp_dir_free(dir);
}

/* ---- backing chains ---- */

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = v >> 24;
    p[1] = v >> 16;
    p[2] = v >> 8;
    p[3] = v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
    put_be32(p, v >> 32);
    put_be32(p + 4, v);
}

/* A minimal empty qcow2 v2 image (64 KiB clusters) naming @backing. */
static void write_qcow2_with_backing(const char *path, const char *backing)
{
    const size_t cluster = 65536;
    g_autofree uint8_t *img = g_malloc0(4 * cluster);
    size_t blen = strlen(backing);

    put_be32(img + 0, 0x514649fb);
    put_be32(img + 4, 2);
    put_be64(img + 8, blen ? 72 : 0);   /* backing_file_offset */
    put_be32(img + 16, blen);
    put_be32(img + 20, 16);             /* cluster_bits */
    put_be64(img + 24, 1 << 20);        /* size */
    put_be32(img + 36, 1);              /* l1_size */
    put_be64(img + 40, cluster);        /* l1_table_offset */
    put_be64(img + 48, 2 * cluster);    /* refcount_table_offset */
    put_be32(img + 56, 1);              /* refcount_table_clusters */
    memcpy(img + 72, backing, blen);
    /* Refcount table -> block at cluster 3; clusters 0-3 in use. */
    put_be64(img + 2 * cluster, 3 * cluster);
    for (int i = 0; i < 4; i++) {
        img[3 * cluster + 2 * i + 1] = 1;
    }
    write_file(path, img, 4 * cluster);
}

static void test_chain_loop(void)
{
    char *dir = tmp_dir_new();
    g_autofree char *a = g_build_filename(dir, "a.qcow2", NULL);
    g_autofree char *b = g_build_filename(dir, "b.qcow2", NULL);
    g_autofree char *self = g_build_filename(dir, "self.qcow2", NULL);
    GError *err = NULL;
    BlockDriverState *bs;

    if (!bdrv_find_format("qcow2")->open) {
        g_test_skip("the qcow2 driver cannot open images yet");
        tmp_dir_free(dir);
        return;
    }
    write_qcow2_with_backing(a, "b.qcow2");
    write_qcow2_with_backing(b, "a.qcow2");
    write_qcow2_with_backing(self, "./self.qcow2");

    bs = bdrv_open(a, "qcow2", NULL, 0, &err);
    g_assert_null(bs);
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(err->message, "loop"));
    g_assert_nonnull(strstr(err->message, "a.qcow2"));
    g_clear_error(&err);

    bs = bdrv_open(self, NULL, NULL, 0, &err);
    g_assert_null(bs);
    g_assert_nonnull(strstr(err->message, "loop"));
    g_clear_error(&err);

    /* Without the backing file the image opens. */
    bs = bdrv_open(a, "qcow2", NULL, BDRV_O_NO_BACKING, &err);
    g_assert_no_error(err);
    g_assert_cmpstr(bs->backing_file, ==, "b.qcow2");
    g_assert_null(bs->backing);
    bdrv_unref(bs);
    tmp_dir_free(dir);
}

static bool qcow2_usable(void)
{
    const BlockDriver *drv = bdrv_find_format("qcow2");

    return drv->open && drv->create;
}

static void create_qcow2(const char *path, const char *size,
                         const char *backing, const char *backing_fmt)
{
    g_autoptr(GHashTable) opts = block_opts_new();
    GError *err = NULL;

    g_hash_table_insert(opts, g_strdup("size"), g_strdup(size));
    g_hash_table_insert(opts, g_strdup("backing_file"), g_strdup(backing));
    g_hash_table_insert(opts, g_strdup("backing_fmt"),
                        g_strdup(backing_fmt));
    g_assert_true(bdrv_create("qcow2", path, opts, &err));
    g_assert_no_error(err);
}

static void assert_bytes(BlockDriverState *bs, uint64_t offset, uint8_t v)
{
    uint8_t buf[4096];

    g_assert_cmpint(bdrv_pread(bs, offset, buf, sizeof(buf)), ==, 0);
    for (size_t i = 0; i < sizeof(buf); i++) {
        if (buf[i] != v) {
            g_error("byte %" G_GUINT64_FORMAT " is 0x%x, expected 0x%x",
                    offset + i, buf[i], v);
        }
    }
}

/*
 * base.img (raw, 1 MiB) <- mid.qcow2 (2 MiB) <- top.qcow2: reads fall
 * through the chain, past the end of the shorter base they are zeroes,
 * and "backing" options cut the chain.
 */
static void test_chain_reads(void)
{
    char *dir = tmp_dir_new();
    g_autofree char *base = make_raw(dir, "base.img", 1 << 20);
    g_autofree char *mid = g_build_filename(dir, "mid.qcow2", NULL);
    g_autofree char *top = g_build_filename(dir, "top.qcow2", NULL);
    g_autofree uint8_t *buf = g_malloc(1 << 20);
    g_autoptr(GHashTable) nobacking = block_opts_new();
    g_autoptr(GHashTable) nobase = block_opts_new();
    GError *err = NULL;
    BlockDriverState *bs;
    uint64_t pnum, map;
    BlockDriverState *file;
    int ret;

    if (!qcow2_usable()) {
        g_test_skip("the qcow2 driver cannot open or create images yet");
        tmp_dir_free(dir);
        return;
    }
    bs = bdrv_open(base, "raw", NULL, BDRV_O_RDWR, &err);
    g_assert_no_error(err);
    memset(buf, 0x11, 1 << 20);
    g_assert_cmpint(bdrv_pwrite(bs, 0, buf, 1 << 20, 0), ==, 0);
    bdrv_unref(bs);
    /* Relative names resolve next to the image that names them. */
    create_qcow2(mid, "2M", "base.img", "raw");
    create_qcow2(top, "2M", "mid.qcow2", "qcow2");

    bs = bdrv_open(mid, "qcow2", NULL, BDRV_O_RDWR, &err);
    g_assert_no_error(err);
    memset(buf, 0x22, 65536);
    g_assert_cmpint(bdrv_pwrite(bs, 131072, buf, 65536, 0), ==, 0);
    bdrv_unref(bs);

    bs = bdrv_open(top, NULL, NULL, BDRV_O_RDWR, &err);
    g_assert_no_error(err);
    g_assert_cmpstr(bs->drv->format_name, ==, "qcow2");
    g_assert_nonnull(bs->backing);
    g_assert_true(bs->backing->read_only);
    g_assert_cmpstr(bs->backing_filename_full, ==, mid);
    g_assert_nonnull(bs->backing->backing);
    g_assert_cmpstr(bs->backing->backing->drv->format_name, ==, "raw");
    assert_bytes(bs, 0, 0x11);
    assert_bytes(bs, 131072, 0x22);
    assert_bytes(bs, (1 << 20) - 4096, 0x11);
    assert_bytes(bs, 1 << 20, 0);
    assert_bytes(bs, (3 << 19), 0);
    /* A read across the end of the base: data, then zeroes. */
    g_assert_cmpint(bdrv_pread(bs, (1 << 20) - 2, buf, 4), ==, 0);
    g_assert_cmpmem(buf, 4, "\x11\x11\0\0", 4);

    /* Status follows the chain down to the layer with the data. */
    ret = bdrv_block_status(bs, 0, 65536, &pnum, &map, &file);
    g_assert_cmpint(ret, >=, 0);
    g_assert_true(ret & BDRV_BLOCK_DATA);
    g_assert_true(file == bs->backing->backing->file);
    ret = bdrv_block_status(bs, 1 << 20, 65536, &pnum, &map, &file);
    g_assert_true(ret & BDRV_BLOCK_ZERO);
    g_assert_false(ret & BDRV_BLOCK_DATA);

    g_assert_cmpint(bdrv_is_allocated_above(bs, bs->backing->backing, 0,
                                            65536, &pnum), ==, 0);
    g_assert_cmpuint(pnum, ==, 65536);
    g_assert_cmpint(bdrv_is_allocated_above(bs, bs->backing->backing,
                                            131072, 65536, &pnum), ==, 1);
    g_assert_cmpint(bdrv_is_allocated_above(bs, NULL, 0, 65536, &pnum), ==,
                    1);
    g_assert_cmpint(bdrv_is_allocated_above(bs, bs->backing, 131072, 65536,
                                            &pnum), ==, 0);
    bdrv_unref(bs);

    /* backing=null: no backing file, the image alone reads zeroes. */
    g_hash_table_insert(nobacking, g_strdup("backing"), g_strdup("null"));
    bs = bdrv_open(top, "qcow2", nobacking, 0, &err);
    g_assert_no_error(err);
    g_assert_null(bs->backing);
    assert_bytes(bs, 0, 0);
    assert_bytes(bs, 131072, 0);
    bdrv_unref(bs);

    /* Nested: the middle layer loses its backing file. */
    g_hash_table_insert(nobase, g_strdup("backing.backing"),
                        g_strdup("null"));
    bs = bdrv_open(top, "qcow2", nobase, 0, &err);
    g_assert_no_error(err);
    g_assert_nonnull(bs->backing);
    g_assert_null(bs->backing->backing);
    assert_bytes(bs, 0, 0);
    assert_bytes(bs, 131072, 0x22);
    bdrv_unref(bs);

    /* A backing option the backing driver does not know is an error. */
    g_hash_table_insert(nobase, g_strdup("backing.frobnicate"),
                        g_strdup("1"));
    g_assert_null(bdrv_open(top, "qcow2", nobase, 0, &err));
    g_assert_nonnull(strstr(err->message, "frobnicate"));
    g_clear_error(&err);

    /* A missing backing file names itself. */
    g_unlink(base);
    g_assert_null(bdrv_open(top, "qcow2", NULL, 0, &err));
    g_assert_nonnull(strstr(err->message, "backing"));
    g_assert_nonnull(strstr(err->message, "base.img"));
    g_clear_error(&err);
    tmp_dir_free(dir);
}

/* A chain longer than 64 images is refused. */
static void test_chain_depth(void)
{
    char *dir = tmp_dir_new();
    enum { N = 70 };
    g_autofree char *first = g_build_filename(dir, "c0.qcow2", NULL);
    g_autofree char *ok = NULL;
    GError *err = NULL;
    BlockDriverState *bs;

    if (!bdrv_find_format("qcow2")->open) {
        g_test_skip("the qcow2 driver cannot open images yet");
        tmp_dir_free(dir);
        return;
    }
    for (int i = 0; i < N; i++) {
        g_autofree char *name = g_strdup_printf("c%d.qcow2", i);
        g_autofree char *path = g_build_filename(dir, name, NULL);
        g_autofree char *next = i + 1 < N ?
                                g_strdup_printf("c%d.qcow2", i + 1) :
                                g_strdup("");

        write_qcow2_with_backing(path, next);
    }
    bs = bdrv_open(first, "qcow2", NULL, 0, &err);
    g_assert_null(bs);
    g_assert_nonnull(strstr(err->message, "64"));
    g_clear_error(&err);

    /* 64 images are fine. */
    ok = g_build_filename(dir, "c6.qcow2", NULL);
    bs = bdrv_open(ok, "qcow2", NULL, 0, &err);
    g_assert_no_error(err);
    bdrv_unref(bs);
    tmp_dir_free(dir);
}

static void test_resolve_backing_name(void)
{
    static const struct {
        const char *image, *backing, *want;
    } cases[] = {
        { "/a/b/top.qcow2", "base.qcow2", "/a/b/base.qcow2" },
        { "/a/b/top.qcow2", "/x/base.qcow2", "/x/base.qcow2" },
        { "dir/top.qcow2", "../base.qcow2", "dir/../base.qcow2" },
        { "top.qcow2", "base.qcow2", "base.qcow2" },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *r = bdrv_resolve_backing_name(cases[i].image,
                                                       cases[i].backing);
        g_assert_cmpstr(r, ==, cases[i].want);
    }
}

/* ---- BlockBackend ---- */

typedef struct AioResult {
    int ret;
    bool done;
    GThread *thread;
} AioResult;

static void aio_done(void *opaque, int ret)
{
    AioResult *r = opaque;

    r->ret = ret;
    r->done = true;
    r->thread = g_thread_self();
}

static void wait_all(MainLoop *loop, AioResult *r, int n)
{
    for (int i = 0; i < n; i++) {
        while (!r[i].done) {
            main_loop_iterate(loop, true);
        }
    }
}

static void run_backend_aio(const char *aio)
{
    char *dir = tmp_dir_new();
    g_autofree char *path = make_raw(dir, "aio.img", 1 << 20);
    g_autoptr(GHashTable) opts = block_opts_new();
    MainLoop *loop = main_loop_new(NULL);
    enum { N = 32, SZ = 4096 };
    g_autofree uint8_t *data = g_malloc(N * SZ), *back = g_malloc(N * SZ);
    AioResult res[N] = { 0 };
    GError *err = NULL;
    BlockBackend *blk;
    const BlockAcctStats *st;

    if (aio) {
        g_hash_table_insert(opts, g_strdup("file.aio"), g_strdup(aio));
    }
    blk = blk_new_open(loop, path, "raw", opts, BDRV_O_RDWR, &err);
    g_assert_no_error(err);
    g_assert_cmpint(blk_getlength(blk), ==, 1 << 20);
    blk_set_name(blk, "disk0");
    g_assert_cmpstr(blk_name(blk), ==, "disk0");

    fill(data, N * SZ, 77);
    for (int i = 0; i < N; i++) {
        struct iovec iov[2] = {
            { data + i * SZ, 1000 }, { data + i * SZ + 1000, SZ - 1000 },
        };

        /* Written in reverse order; each completes on its own. */
        blk_aio_pwritev(blk, (uint64_t)(N - 1 - i) * SZ, iov, 2, 0,
                        aio_done, &res[i]);
    }
    g_assert_cmpuint(blk_in_flight(blk), ==, N);
    /* Nothing completes before the loop runs. */
    g_assert_false(res[0].done);
    wait_all(loop, res, N);
    for (int i = 0; i < N; i++) {
        g_assert_cmpint(res[i].ret, ==, 0);
        g_assert_true(res[i].thread == g_thread_self());
    }
    g_assert_cmpuint(blk_in_flight(blk), ==, 0);

    memset(res, 0, sizeof(res));
    for (int i = 0; i < N; i++) {
        struct iovec iov = { back + i * SZ, SZ };

        blk_aio_preadv(blk, (uint64_t)(N - 1 - i) * SZ, &iov, 1, aio_done,
                       &res[i]);
    }
    blk_drain(blk);
    g_assert_cmpuint(blk_in_flight(blk), ==, 0);
    for (int i = 0; i < N; i++) {
        g_assert_true(res[i].done);
        g_assert_cmpint(res[i].ret, ==, 0);
    }
    g_assert_cmpmem(back, N * SZ, data, N * SZ);

    memset(res, 0, sizeof(res));
    blk_aio_flush(blk, aio_done, &res[0]);
    blk_aio_pwrite_zeroes(blk, 0, SZ, 0, aio_done, &res[1]);
    blk_aio_pdiscard(blk, SZ, SZ, aio_done, &res[2]);
    wait_all(loop, res, 3);
    g_assert_cmpint(res[0].ret, ==, 0);
    g_assert_cmpint(res[1].ret, ==, 0);
    g_assert_cmpint(res[2].ret, ==, 0);
    g_assert_cmpint(blk_pread(blk, 0, back, SZ), ==, 0);
    for (int i = 0; i < SZ; i++) {
        g_assert_cmpint(back[i], ==, 0);
    }

    st = blk_stats(blk);
    g_assert_cmpuint(st->wr_ops, ==, N + 1);
    g_assert_cmpuint(st->wr_bytes, ==, (N + 1) * SZ);
    g_assert_cmpuint(st->rd_ops, ==, N + 1);
    g_assert_cmpuint(st->rd_bytes, ==, (N + 1) * SZ);
    g_assert_cmpuint(st->flush_ops, ==, 1);
    g_assert_cmpuint(st->discard_ops, ==, 1);
    blk_unref(blk);
    main_loop_free(loop);
    tmp_dir_free(dir);
}

static void test_backend_aio(void)
{
    run_backend_aio(NULL);
}

static void test_backend_io_uring(void)
{
#if CONFIG_LINUX_IO_URING
    run_backend_aio("io_uring");
#else
    g_test_skip("built without liburing");
#endif
}

/*
 * qcow2 with aio=io_uring: reads and in-place writes of allocated
 * clusters go straight to the file through the ring (map_direct), the
 * rest through the workers. Mixed in one queue, with discards freeing
 * clusters, the content must be what a plain model says.
 */
static void test_backend_qcow2_io_uring(void)
{
#if CONFIG_LINUX_IO_URING
    enum { CL = 65536, NCL = 32, SIZE = CL * NCL, N = 96 };
    char *dir = tmp_dir_new();
    g_autofree char *path = g_build_filename(dir, "u.qcow2", NULL);
    g_autoptr(GHashTable) copts = block_opts_new();
    g_autoptr(GHashTable) opts = block_opts_new();
    MainLoop *loop = main_loop_new(NULL);
    uint8_t *model = g_malloc0(SIZE), *back = g_malloc(SIZE);
    uint8_t (*bufs)[4096] = g_malloc(N * 4096);
    struct iovec iov[N];
    AioResult res[N];
    GError *err = NULL;
    BlockBackend *blk;
    GRand *rand = g_rand_new_with_seed(7);

    g_hash_table_insert(copts, g_strdup("size"), g_strdup_printf("%d", SIZE));
    g_assert_true(bdrv_create("qcow2", path, copts, &err));
    g_assert_no_error(err);
    g_hash_table_insert(opts, g_strdup("file.aio"), g_strdup("io_uring"));
    blk = blk_new_open(loop, path, "qcow2", opts, BDRV_O_RDWR, &err);
    g_assert_no_error(err);

    for (int round = 0; round < 4; round++) {
        memset(res, 0, sizeof(res));
        for (int i = 0; i < N; i++) {
            /* Distinct 4 KiB slots per round, so that the order in which
             * requests in flight complete does not matter. */
            uint64_t off = ((uint64_t)((i * 7 + round * 13) % (SIZE / 4096)))
                           * 4096;

            memset(bufs[i], 0x10 * round + (i & 15) + 1, 4096);
            iov[i] = (struct iovec){ bufs[i], 4096 };
            blk_aio_pwritev(blk, off, &iov[i], 1, 0, aio_done, &res[i]);
            memcpy(model + off, bufs[i], 4096);
        }
        wait_all(loop, res, N);
        for (int i = 0; i < N; i++) {
            g_assert_cmpint(res[i].ret, ==, 0);
        }
        /* Free a random cluster, then read everything back in 4 KiB
         * requests, all in flight at once. */
        {
            uint64_t c = g_rand_int_range(rand, 0, NCL);
            AioResult dres = { 0 };

            blk_aio_pdiscard(blk, c * CL, CL, aio_done, &dres);
            wait_all(loop, &dres, 1);
            g_assert_cmpint(dres.ret, ==, 0);
            memset(model + c * CL, 0, CL);
        }
        for (uint64_t off = 0; off < SIZE; off += N * 4096) {
            memset(res, 0, sizeof(res));
            for (int i = 0; i < N && off + i * 4096 < SIZE; i++) {
                iov[i] = (struct iovec){ back + off + i * 4096, 4096 };
                blk_aio_preadv(blk, off + i * 4096, &iov[i], 1, aio_done,
                               &res[i]);
            }
            for (int i = 0; i < N; i++) {
                if (off + i * 4096 >= SIZE) {
                    res[i].done = true;
                }
            }
            wait_all(loop, res, N);
        }
        g_assert_true(memcmp(back, model, SIZE) == 0);
    }
    blk_unref(blk);

    /* Reopened through the worker path, the same bytes. */
    blk = blk_new_open(loop, path, "qcow2", NULL, 0, &err);
    g_assert_no_error(err);
    g_assert_cmpint(blk_pread(blk, 0, back, SIZE), ==, 0);
    g_assert_true(memcmp(back, model, SIZE) == 0);
    blk_unref(blk);

    g_rand_free(rand);
    g_free(bufs);
    g_free(back);
    g_free(model);
    main_loop_free(loop);
    tmp_dir_free(dir);
#else
    g_test_skip("built without liburing");
#endif
}

static void test_backend_limits(void)
{
    char *dir = tmp_dir_new();
    g_autofree char *path = make_raw(dir, "lim.img", 8192);
    MainLoop *loop = main_loop_new(NULL);
    uint8_t buf[1024] = { 1 };
    struct iovec iov = { buf, sizeof(buf) };
    AioResult res[4] = { 0 };
    GError *err = NULL;
    BlockBackend *blk;

    blk = blk_new_open(loop, path, "raw", NULL, BDRV_O_RDWR, &err);
    g_assert_no_error(err);
    g_assert_false(blk_is_read_only(blk));
    /* Beyond the end: -EIO, for reads and writes alike. */
    blk_aio_preadv(blk, 8192 - 512, &iov, 1, aio_done, &res[0]);
    blk_aio_pwritev(blk, 8192, &iov, 1, 0, aio_done, &res[1]);
    blk_aio_pwritev(blk, UINT64_MAX - 100, &iov, 1, 0, aio_done, &res[2]);
    blk_aio_pdiscard(blk, 4096, 8192, aio_done, &res[3]);
    wait_all(loop, res, 4);
    for (int i = 0; i < 4; i++) {
        g_assert_cmpint(res[i].ret, ==, -EIO);
    }
    g_assert_cmpint(blk_pread(blk, 8000, buf, 1024), ==, -EIO);
    g_assert_cmpint(blk_pwrite(blk, 8000, buf, 1024, 0), ==, -EIO);
    g_assert_cmpuint(blk_stats(blk)->failed_rd_ops, ==, 2);
    g_assert_cmpuint(blk_stats(blk)->failed_wr_ops, ==, 3);
    blk_unref(blk);

    /* Read-only: -EACCES for writes, reads work. */
    blk = blk_new_open(loop, path, "raw", NULL, 0, &err);
    g_assert_no_error(err);
    g_assert_true(blk_is_read_only(blk));
    memset(res, 0, sizeof(res));
    blk_aio_pwritev(blk, 0, &iov, 1, 0, aio_done, &res[0]);
    blk_aio_pwrite_zeroes(blk, 0, 512, 0, aio_done, &res[1]);
    blk_aio_preadv(blk, 0, &iov, 1, aio_done, &res[2]);
    blk_aio_flush(blk, aio_done, &res[3]);
    wait_all(loop, res, 4);
    g_assert_cmpint(res[0].ret, ==, -EACCES);
    g_assert_cmpint(res[1].ret, ==, -EACCES);
    g_assert_cmpint(res[2].ret, ==, 0);
    g_assert_cmpint(res[3].ret, ==, 0);
    g_assert_cmpint(blk_pwrite(blk, 0, buf, 512, 0), ==, -EACCES);
    blk_unref(blk);
    main_loop_free(loop);
    tmp_dir_free(dir);
}

/*
 * Write cache off: every write is followed by a flush. /dev/null takes
 * writes but refuses fdatasync with EINVAL, so the flush shows in the
 * write's result.
 */
static void test_backend_writethrough(void)
{
    g_autoptr(GHashTable) opts = block_opts_new();
    MainLoop *loop = main_loop_new(NULL);
    AioResult res[2] = { 0 };
    GError *err = NULL;
    BlockBackend *blk;

    g_hash_table_insert(opts, g_strdup("file.locking"), g_strdup("off"));
    blk = blk_new_open(loop, "/dev/null", "raw", opts, BDRV_O_RDWR, &err);
    if (!blk) {
        g_test_skip("/dev/null cannot be opened");
        g_clear_error(&err);
        main_loop_free(loop);
        return;
    }
    g_assert_true(blk_enable_write_cache(blk));
    blk_aio_pwritev(blk, 0, NULL, 0, 0, aio_done, &res[0]);
    wait_all(loop, res, 1);
    g_assert_cmpint(res[0].ret, ==, 0);
    g_assert_cmpint(blk_pwrite(blk, 0, "", 0, 0), ==, 0);

    blk_set_enable_write_cache(blk, false);
    g_assert_false(blk_enable_write_cache(blk));
    blk_aio_pwritev(blk, 0, NULL, 0, 0, aio_done, &res[1]);
    wait_all(loop, res + 1, 1);
    g_assert_cmpint(res[1].ret, ==, -EINVAL);
    g_assert_cmpint(blk_pwrite(blk, 0, "", 0, 0), ==, -EINVAL);
    blk_unref(blk);
    main_loop_free(loop);
}

static void test_error_policy(void)
{
    BlockBackend *blk = blk_new(NULL, NULL);

    g_assert_cmpint(blockdev_on_error_parse("report"), ==,
                    BLOCKDEV_ON_ERROR_REPORT);
    g_assert_cmpint(blockdev_on_error_parse("enospc"), ==,
                    BLOCKDEV_ON_ERROR_ENOSPC);
    g_assert_cmpint(blockdev_on_error_parse("stop"), ==,
                    BLOCKDEV_ON_ERROR_STOP);
    g_assert_cmpint(blockdev_on_error_parse("ignore"), ==,
                    BLOCKDEV_ON_ERROR_IGNORE);
    g_assert_cmpint(blockdev_on_error_parse("pause"), ==, -1);
    g_assert_cmpint(blockdev_on_error_parse(NULL), ==, -1);

    /* Defaults: rerror=report, werror=enospc. */
    g_assert_cmpint(blk_get_on_error(blk, true), ==,
                    BLOCKDEV_ON_ERROR_REPORT);
    g_assert_cmpint(blk_get_on_error(blk, false), ==,
                    BLOCKDEV_ON_ERROR_ENOSPC);
    g_assert_cmpint(blk_get_error_action(blk, false, ENOSPC), ==,
                    BLOCK_ERROR_ACTION_STOP);
    g_assert_cmpint(blk_get_error_action(blk, false, EIO), ==,
                    BLOCK_ERROR_ACTION_REPORT);
    g_assert_cmpint(blk_get_error_action(blk, true, ENOSPC), ==,
                    BLOCK_ERROR_ACTION_REPORT);

    blk_set_on_error(blk, BLOCKDEV_ON_ERROR_IGNORE, BLOCKDEV_ON_ERROR_STOP);
    g_assert_cmpint(blk_get_error_action(blk, true, EIO), ==,
                    BLOCK_ERROR_ACTION_IGNORE);
    g_assert_cmpint(blk_get_error_action(blk, false, EIO), ==,
                    BLOCK_ERROR_ACTION_STOP);
    g_assert_cmpstr(block_error_action_name(BLOCK_ERROR_ACTION_STOP), ==,
                    "stop");
    g_assert_cmpstr(block_error_action_name(BLOCK_ERROR_ACTION_IGNORE), ==,
                    "ignore");
    g_assert_cmpstr(block_error_action_name(BLOCK_ERROR_ACTION_REPORT), ==,
                    "report");
    blk_unref(blk);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/block/opts/parse", test_opts_parse);
    g_test_add_func("/block/opts/size", test_parse_size);
    g_test_add_func("/block/opts/json", test_opts_json);
    g_test_add_func("/block/opts/iov-size", test_iov_size);
    g_test_add_func("/block/probe", test_probe);
    g_test_add_func("/block/create", test_create);
    g_test_add_func("/block/raw/rw", test_raw_rw);
    g_test_add_func("/block/raw/window", test_raw_window);
    g_test_add_func("/block/raw/discard", test_raw_discard);
    g_test_add_func("/block/raw/direct", test_raw_direct);
    g_test_add_func("/block/raw/probed-guard", test_raw_probed_guard);
    g_test_add_func("/block/file/read-past-eof", test_file_read_past_eof);
    g_test_add_func("/block/open/errors", test_open_errors);
    g_test_add_func("/block/open/locking", test_locking);
    g_test_add_func("/block/open/json-filename", test_open_json_filename);
    g_test_add_func("/block/chain/loop", test_chain_loop);
    g_test_add_func("/block/chain/resolve-name", test_resolve_backing_name);
    g_test_add_func("/block/chain/reads", test_chain_reads);
    g_test_add_func("/block/chain/depth", test_chain_depth);
    g_test_add_func("/block/backend/aio", test_backend_aio);
    g_test_add_func("/block/backend/io-uring", test_backend_io_uring);
    g_test_add_func("/block/backend/qcow2-io-uring",
                    test_backend_qcow2_io_uring);
    g_test_add_func("/block/backend/limits", test_backend_limits);
    g_test_add_func("/block/backend/writethrough",
                    test_backend_writethrough);
    g_test_add_func("/block/backend/error-policy", test_error_policy);
    return g_test_run();
}
