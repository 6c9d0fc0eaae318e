/*
 * Option strings, value parsers and the -d/-D log configuration.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lemu/util/log.h"
#include "lemu/util/opts.h"

#define GiB (UINT64_C(1) << 30)
#define MiB (UINT64_C(1) << 20)

/* Parses @str and asserts that it fails with exactly @message. */
static void assert_parse_error(const char *optname, const char *str,
                               const char *implied, const char *message)
{
    GError *err = NULL;

    g_assert_null(opts_parse(optname, str, implied, &err));
    g_assert_error(err, LEMU_ERROR, LEMU_ERROR_INVALID);
    g_assert_cmpstr(err->message, ==, message);
    g_error_free(err);
}

static void test_parse_basic(void)
{
    GError *err = NULL;
    LemuOpts *o = opts_parse("-chardev", "id=c0,path=/tmp/x,server=on",
                             NULL, &err);

    g_assert_no_error(err);
    g_assert_cmpstr(opts_name(o), ==, "-chardev");
    g_assert_cmpuint(opts_count(o), ==, 3);
    g_assert_cmpstr(opts_key_at(o, 0), ==, "id");
    g_assert_cmpstr(opts_value_at(o, 0), ==, "c0");
    g_assert_cmpstr(opts_key_at(o, 2), ==, "server");
    g_assert_cmpstr(opts_get(o, "path"), ==, "/tmp/x");
    g_assert_true(opts_has(o, "server"));
    g_assert_false(opts_has(o, "serve"));
    g_assert_null(opts_get(o, "nope"));
    opts_free(o);

    /* Values may contain '=' and may be empty. */
    o = opts_parse("-x", "append=console=ttyS0 root=/dev/vda,empty=", NULL,
                   &err);
    g_assert_no_error(err);
    g_assert_cmpstr(opts_get(o, "append"), ==, "console=ttyS0 root=/dev/vda");
    g_assert_cmpstr(opts_get(o, "empty"), ==, "");
    opts_free(o);
}

static void test_parse_escapes(void)
{
    GError *err = NULL;
    LemuOpts *o = opts_parse("-drive", "file=a,,b.img,if=none", NULL, &err);

    g_assert_no_error(err);
    g_assert_cmpuint(opts_count(o), ==, 2);
    g_assert_cmpstr(opts_get(o, "file"), ==, "a,b.img");
    g_assert_cmpstr(opts_get(o, "if"), ==, "none");
    opts_free(o);

    /* ",,,," is two commas; a trailing ",," is a comma at the end. */
    o = opts_parse("-x", "a=,,,,,b=x,,", NULL, &err);
    g_assert_no_error(err);
    g_assert_cmpstr(opts_get(o, "a"), ==, ",,");
    g_assert_cmpstr(opts_get(o, "b"), ==, "x,");
    opts_free(o);

    /* The implied value is unescaped too. */
    o = opts_parse("-x", "odd,,name,k=v", "driver", &err);
    g_assert_no_error(err);
    g_assert_cmpstr(opts_get(o, "driver"), ==, "odd,name");
    opts_free(o);
}

static void test_parse_implied(void)
{
    GError *err = NULL;
    LemuOpts *o = opts_parse("-device", "isa-debug-exit,iobase=0xf4",
                             "driver", &err);

    g_assert_no_error(err);
    g_assert_cmpstr(opts_get(o, "driver"), ==, "isa-debug-exit");
    g_assert_cmpstr(opts_key_at(o, 0), ==, "driver");
    g_assert_cmpstr(opts_get(o, "iobase"), ==, "0xf4");
    opts_free(o);

    /* The implied key may also be spelled out. */
    o = opts_parse("-device", "driver=loader,file=x", "driver", &err);
    g_assert_no_error(err);
    g_assert_cmpstr(opts_get(o, "driver"), ==, "loader");
    opts_free(o);

    o = opts_parse("-m", "512", "size", &err);
    g_assert_no_error(err);
    g_assert_cmpuint(opts_count(o), ==, 1);
    g_assert_cmpstr(opts_get(o, "size"), ==, "512");
    opts_free(o);

    /* Only the first element may omit its key. */
    assert_parse_error("-device", "loader,file", "driver",
                       "-device: 'file' is not key=value");
    /* ... and only if the option has an implied key. */
    assert_parse_error("-device", "foo", NULL,
                       "-device: 'foo' is not key=value");
    assert_parse_error("-device", "foo,,bar,x=1", NULL,
                       "-device: 'foo,,bar' is not key=value");
}

static void test_parse_duplicates_and_set(void)
{
    GError *err = NULL;
    LemuOpts *o = opts_parse("-x", "a=1,b=2,a=3", NULL, &err);

    g_assert_no_error(err);
    /* Last value wins; the key keeps its first position. */
    g_assert_cmpuint(opts_count(o), ==, 2);
    g_assert_cmpstr(opts_key_at(o, 0), ==, "a");
    g_assert_cmpstr(opts_value_at(o, 0), ==, "3");
    g_assert_cmpstr(opts_get(o, "b"), ==, "2");

    opts_set(o, "b", "20");
    opts_set(o, "c", "30");
    g_assert_cmpuint(opts_count(o), ==, 3);
    g_assert_cmpstr(opts_get(o, "b"), ==, "20");
    g_assert_cmpstr(opts_key_at(o, 2), ==, "c");
    g_assert_cmpstr(opts_value_at(o, 2), ==, "30");
    opts_free(o);
}

static void test_parse_errors(void)
{
    GError *err = NULL;

    assert_parse_error("-device", "", "driver",
                       "-device: empty argument (expected key=value,...)");
    g_assert_null(opts_parse("-device", NULL, "driver", &err));
    g_assert_error(err, LEMU_ERROR, LEMU_ERROR_INVALID);
    g_clear_error(&err);

    assert_parse_error("-x", "a=1,", NULL,
                       "-x: empty element in 'a=1,' (expected key=value)");
    assert_parse_error("-x", ",a=1", "driver",
                       "-x: empty element in ',a=1' (expected key=value)");
    assert_parse_error("-x", "a=1,=2", NULL,
                       "-x: '=2' has an empty key (expected key=value)");
    assert_parse_error("-x", "=", NULL,
                       "-x: '=' has an empty key (expected key=value)");
    assert_parse_error("-x", "a=1,b", NULL, "-x: 'b' is not key=value");
}

static void test_check_keys(void)
{
    static const char *const known[] = { "iobase", "iosize", NULL };
    GError *err = NULL;
    LemuOpts *o = opts_parse("-device", "isa-debug-exit,iobase=0xf4",
                             "driver", &err);

    g_assert_no_error(err);
    /* The implied key is always accepted. */
    g_assert_true(opts_check_keys(o, known, &err));
    g_assert_no_error(err);
    opts_free(o);

    o = opts_parse("-device", "isa-debug-exit,iobase=0xf4,foo=1", "driver",
                   &err);
    g_assert_false(opts_check_keys(o, known, &err));
    g_assert_error(err, LEMU_ERROR, LEMU_ERROR_INVALID);
    g_assert_cmpstr(err->message, ==,
                    "-device isa-debug-exit: unknown parameter 'foo'");
    g_clear_error(&err);
    opts_free(o);

    o = opts_parse("-netdev", "id=n0,type=user", NULL, &err);
    g_assert_false(opts_check_keys(o, known, &err));
    g_assert_cmpstr(err->message, ==, "-netdev: unknown parameter 'id'");
    g_clear_error(&err);
    g_assert_false(opts_check_keys(o, NULL, &err));
    g_clear_error(&err);
    opts_free(o);
}

static void test_typed_getters(void)
{
    GError *err = NULL;
    LemuOpts *o = opts_parse("-device",
                             "loader,addr=0x1000,force-raw=on,size=2M,bad=x",
                             "driver", &err);
    uint64_t u;
    bool b;

    g_assert_no_error(err);
    g_assert_true(opts_get_u64(o, "addr", 7, &u, &err));
    g_assert_cmpuint(u, ==, 0x1000);
    g_assert_true(opts_get_u64(o, "cpu-num", 7, &u, &err));
    g_assert_cmpuint(u, ==, 7);
    g_assert_true(opts_get_bool(o, "force-raw", false, &b, &err));
    g_assert_true(b);
    g_assert_true(opts_get_bool(o, "absent", true, &b, &err));
    g_assert_true(b);
    g_assert_true(opts_get_size(o, "size", 0, &u, &err));
    g_assert_cmpuint(u, ==, 2 * MiB);
    g_assert_true(opts_get_size(o, "absent", 42, &u, &err));
    g_assert_cmpuint(u, ==, 42);
    g_assert_no_error(err);

    g_assert_false(opts_get_u64(o, "bad", 0, &u, &err));
    g_assert_cmpstr(err->message, ==,
                    "-device loader: parameter 'bad': 'x' is not a number "
                    "(expected decimal or 0x hex digits)");
    g_clear_error(&err);
    g_assert_false(opts_get_bool(o, "bad", false, &b, &err));
    g_assert_nonnull(strstr(err->message, "'bad'"));
    g_clear_error(&err);
    g_assert_false(opts_get_size(o, "bad", 0, &u, &err));
    g_assert_nonnull(strstr(err->message, "'bad'"));
    g_clear_error(&err);
    opts_free(o);

    /* For the implied key itself the message names just the option. */
    o = opts_parse("-m", "12Q", "size", &err);
    g_assert_false(opts_get_size(o, "size", 0, &u, &err));
    g_assert_cmpstr(err->message, ==,
                    "-m: '12Q' is not a size (expected a number with an "
                    "optional K, M, G or T suffix)");
    g_clear_error(&err);
    opts_free(o);
}

static void test_parse_bool(void)
{
    static const struct {
        const char *str;
        bool value;
    } good[] = {
        { "on", true }, { "yes", true }, { "true", true },
        { "off", false }, { "no", false }, { "false", false },
    };
    static const char *const bad[] = {
        "", "1", "0", "On", "YES", "y", "n", "onn", " on", "enable",
    };
    GError *err = NULL;
    bool b;

    for (size_t i = 0; i < G_N_ELEMENTS(good); i++) {
        b = !good[i].value;
        g_assert_true(parse_bool("x", good[i].str, &b, &err));
        g_assert_no_error(err);
        g_assert_cmpint(b, ==, good[i].value);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        b = true;
        g_assert_false(parse_bool("x", bad[i], &b, &err));
        g_assert_error(err, LEMU_ERROR, LEMU_ERROR_INVALID);
        g_clear_error(&err);
        g_assert_true(b);   /* untouched on error */
    }
    g_assert_false(parse_bool("-x", "maybe", &b, &err));
    g_assert_cmpstr(err->message, ==,
                    "-x: 'maybe' is not a bool (expected on, off, yes, no, "
                    "true or false)");
    g_clear_error(&err);
}

static void test_parse_u64(void)
{
    static const struct {
        const char *str;
        uint64_t value;
    } good[] = {
        { "0", 0 }, { "42", 42 }, { "007", 7 }, { "0x0", 0 },
        { "0x1F", 0x1f }, { "0Xff", 0xff },
        { "18446744073709551615", UINT64_MAX },
        { "0xffffffffffffffff", UINT64_MAX },
    };
    static const char *const bad[] = {
        "", "-1", "+1", " 1", "1 ", "1x", "0x", "0xg", "abc", "1.5", "1K",
        "0x-1",
    };
    static const char *const too_large[] = {
        "18446744073709551616", "99999999999999999999999",
        "0x10000000000000000",
    };
    GError *err = NULL;
    uint64_t v;

    for (size_t i = 0; i < G_N_ELEMENTS(good); i++) {
        g_assert_true(parse_u64("x", good[i].str, &v, &err));
        g_assert_no_error(err);
        g_assert_cmpuint(v, ==, good[i].value);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_assert_false(parse_u64("x", bad[i], &v, &err));
        g_assert_nonnull(strstr(err->message, "is not a number"));
        g_clear_error(&err);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(too_large); i++) {
        g_assert_false(parse_u64("x", too_large[i], &v, &err));
        g_assert_nonnull(strstr(err->message, "is too large"));
        g_clear_error(&err);
    }
}

static void test_parse_size(void)
{
    static const struct {
        const char *str;
        uint64_t unit;
        uint64_t value;
    } good[] = {
        { "0", 1, 0 },
        { "512", 1, 512 },
        { "512", MiB, 512 * MiB },          /* -m 512 */
        { "512M", 1, 512 * MiB },
        { "512m", MiB, 512 * MiB },
        { "4k", 1, 4096 },
        { "4K", MiB, 4096 },                /* a suffix beats the unit */
        { "2G", 1, 2 * GiB },
        { "1.5G", 1, 3 * GiB / 2 },
        { "0.5K", 1, 512 },
        { "1.5", MiB, 3 * MiB / 2 },
        { "1.0000000000000000000000001G", 1, GiB },
        { "3T", 1, UINT64_C(3) << 40 },
        { "1P", 1, UINT64_C(1) << 50 },
        { "15E", 1, UINT64_C(15) << 60 },
        { "0x1000", 1, 0x1000 },
        { "0x10", MiB, 16 * MiB },
        { "0x10M", 1, 16 * MiB },
        { "100B", MiB, 100 },
        { "18446744073709551615", 1, UINT64_MAX },
    };
    static const char *const bad[] = {
        "", "-1", "+1", " 1", "1 ", "M", "1Q", "12Q", "1MB", "1KiB", "1.",
        ".5", "1.5.5", "1.G", "0x", "0x1.5G", "1,5G", "1e3",
    };
    static const char *const too_large[] = {
        "16E", "16384P", "18446744073709551616", "17179869184G",
        "16.5E", "0x10000000000000000",
    };
    GError *err = NULL;
    uint64_t v;

    for (size_t i = 0; i < G_N_ELEMENTS(good); i++) {
        g_assert_true(parse_size("x", good[i].str, good[i].unit, &v, &err));
        g_assert_no_error(err);
        g_assert_cmpuint(v, ==, good[i].value);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_assert_false(parse_size("x", bad[i], 1, &v, &err));
        g_assert_nonnull(strstr(err->message, "is not a size"));
        g_clear_error(&err);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(too_large); i++) {
        g_assert_false(parse_size("x", too_large[i], 1, &v, &err));
        g_assert_nonnull(strstr(err->message, "is too large"));
        g_clear_error(&err);
    }
    /* -m 17592186044416 is 16 EiB: the default unit can overflow too. */
    g_assert_false(parse_size("-m", "17592186044416", MiB, &v, &err));
    g_assert_nonnull(strstr(err->message, "is too large"));
    g_clear_error(&err);

    /* Half a byte is not a size. */
    g_assert_false(parse_size("x", "1.5", 1, &v, &err));
    g_assert_cmpstr(err->message, ==, "x: '1.5' is not a whole number of bytes");
    g_clear_error(&err);

    g_assert_false(parse_size("-m", "12Q", MiB, &v, &err));
    g_assert_cmpstr(err->message, ==,
                    "-m: '12Q' is not a size (expected a number with an "
                    "optional K, M, G or T suffix)");
    g_clear_error(&err);
}

/* ---- -d / -D ---- */

static void test_log_items(void)
{
    GError *err = NULL;
    unsigned mask = 0;

    g_assert_true(log_parse_items("guest_errors,int", &mask, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(mask, ==, LOG_GUEST_ERROR | LOG_INT);
    g_assert_true(log_parse_items("in_asm,cpu,unimp,ioport", &mask, &err));
    g_assert_cmpuint(mask, ==, LOG_IN_ASM | LOG_CPU | LOG_UNIMP | LOG_IOPORT);

    mask = 123;
    g_assert_false(log_parse_items("int,bogus", &mask, &err));
    g_assert_cmpstr(err->message, ==,
                    "-d: unknown log item 'bogus' (try -d help)");
    g_clear_error(&err);
    g_assert_cmpuint(mask, ==, 123);
    g_assert_false(log_parse_items("", &mask, &err));
    g_clear_error(&err);
    g_assert_false(log_parse_items("int,", &mask, &err));
    g_clear_error(&err);
}

static void test_log_help(void)
{
    if (g_test_subprocess()) {
        GError *err = NULL;
        unsigned mask;

        g_assert_false(log_parse_items("help", &mask, &err));
        g_assert_nonnull(err);
        g_error_free(err);
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_passed();
    g_test_trap_assert_stdout("*guest_errors*int*in_asm*cpu*unimp*ioport*");
}

static gpointer log_lines_thread(gpointer opaque)
{
    for (int i = 0; i < 200; i++) {
        lemu_log_mask(LOG_INT, "thread %d line %03d %s\n",
                      GPOINTER_TO_INT(opaque), i,
                      "padding-padding-padding-padding-padding-padding");
    }
    return NULL;
}

static void test_log_file_whole_lines(void)
{
    g_autofree char *dir = g_dir_make_tmp("lemu-log-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "log.txt", NULL);
    g_autofree char *contents = NULL;
    g_auto(GStrv) lines = NULL;
    GError *err = NULL;
    GThread *threads[4];
    int n;

    g_assert_nonnull(dir);
    g_assert_true(log_setup(LOG_INT | LOG_GUEST_ERROR, path, &err));
    g_assert_no_error(err);
    g_assert_true(log_enabled(LOG_INT));
    g_assert_false(log_enabled(LOG_CPU));
    lemu_log_mask(LOG_CPU, "must not appear\n");

    for (int i = 0; i < 4; i++) {
        threads[i] = g_thread_new("log", log_lines_thread,
                                  GINT_TO_POINTER(i));
    }
    for (int i = 0; i < 4; i++) {
        g_thread_join(threads[i]);
    }
    log_close();
    g_assert_false(log_enabled(LOG_INT));

    g_assert_true(g_file_get_contents(path, &contents, NULL, NULL));
    lines = g_strsplit(contents, "\n", -1);
    n = g_strv_length(lines);
    g_assert_cmpint(n, ==, 4 * 200 + 1);    /* + the empty tail */
    for (int i = 0; i < n - 1; i++) {
        int t, l;
        char pad[64];

        /* Every line is intact: no two writers interleaved. */
        g_assert_cmpint(sscanf(lines[i], "thread %d line %d %63s", &t, &l,
                               pad), ==, 3);
        g_assert_cmpstr(pad, ==,
                        "padding-padding-padding-padding-padding-padding");
    }
    g_assert_null(strstr(contents, "must not appear"));

    unlink(path);
    rmdir(dir);

    g_assert_false(log_setup(LOG_INT, "/nonexistent-dir/x/log", &err));
    g_assert_nonnull(strstr(err->message, "/nonexistent-dir/x/log"));
    g_clear_error(&err);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/opts/parse/basic", test_parse_basic);
    g_test_add_func("/opts/parse/escapes", test_parse_escapes);
    g_test_add_func("/opts/parse/implied", test_parse_implied);
    g_test_add_func("/opts/parse/duplicates-and-set",
                    test_parse_duplicates_and_set);
    g_test_add_func("/opts/parse/errors", test_parse_errors);
    g_test_add_func("/opts/check-keys", test_check_keys);
    g_test_add_func("/opts/typed-getters", test_typed_getters);
    g_test_add_func("/opts/parse-bool", test_parse_bool);
    g_test_add_func("/opts/parse-u64", test_parse_u64);
    g_test_add_func("/opts/parse-size", test_parse_size);
    g_test_add_func("/log/items", test_log_items);
    g_test_add_func("/log/help", test_log_help);
    g_test_add_func("/log/file-whole-lines", test_log_file_whole_lines);
    return g_test_run();
}
