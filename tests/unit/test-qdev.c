/*
 * Device core: property parsing and defaults, realize/reset/unrealize
 * order, -device option handling and the registry. The real device classes
 * are tested in their own files; here test-only classes exercise the
 * machinery.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <glib.h>
#include "fixture.h"
#include "lemu/chardev/chardev.h"
#include "lemu/hw/qdev.h"
#include "lemu/util/log.h"
#include "hw/device-classes.h"

typedef struct TestDev {
    Device parent;
    bool flag;
    uint8_t u8;
    uint16_t iobase;
    uint32_t u32;
    uint64_t u64;
    uint64_t size;
    char *tag;
    Chardev *chr;
    bool fail;
} TestDev;

static const DeviceProperty test_dev_props[] = {
    DEFINE_PROP("flag", PROP_BOOL, TestDev, flag, "on", "a switch"),
    DEFINE_PROP("u8", PROP_U8, TestDev, u8, "7", NULL),
    DEFINE_PROP("iobase", PROP_U16, TestDev, iobase, "0x501", "I/O base"),
    DEFINE_PROP("u32", PROP_U32, TestDev, u32, NULL, NULL),
    DEFINE_PROP("u64", PROP_U64, TestDev, u64, "18446744073709551615", NULL),
    DEFINE_PROP("size", PROP_SIZE, TestDev, size, "1M", NULL),
    DEFINE_PROP("tag", PROP_STRING, TestDev, tag, "t", NULL),
    DEFINE_PROP("chardev", PROP_CHARDEV, TestDev, chr, NULL, NULL),
    DEFINE_PROP("fail", PROP_BOOL, TestDev, fail, NULL, NULL),
    DEFINE_PROP_END
};

/* The tests keep a GString event log in m->board. */
static void test_dev_event(Device *dev, const char *what)
{
    GString *log = dev->machine->board;

    if (log) {
        g_string_append_printf(log, "%s(%s)", what, ((TestDev *)dev)->tag);
    }
}

static bool test_dev_realize(Device *dev, GError **errp)
{
    TestDev *s = (TestDev *)dev;

    if (s->fail) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                    "test-dev '%s': told to fail", s->tag);
        return false;
    }
    test_dev_event(dev, "R");
    return true;
}

static void test_dev_reset(Device *dev)
{
    test_dev_event(dev, "S");
}

static void test_dev_unrealize(Device *dev)
{
    test_dev_event(dev, "U");
}

static const DeviceClass test_dev_class = {
    .name = "test-dev",
    .desc = "a device for unit tests",
    .instance_size = sizeof(TestDev),
    .user_creatable = true,
    .props = test_dev_props,
    .realize = test_dev_realize,
    .reset = test_dev_reset,
    .unrealize = test_dev_unrealize,
};

static const DeviceProperty bad_default_props[] = {
    DEFINE_PROP("u8", PROP_U8, TestDev, u8, "300", NULL),
    DEFINE_PROP("tag", PROP_STRING, TestDev, tag, "t", NULL),
    DEFINE_PROP_END
};

static const DeviceClass bad_default_class = {
    .name = "bad-default",
    .instance_size = sizeof(TestDev),
    .props = bad_default_props,
};

/* No properties and no callbacks at all. */
static const DeviceClass bare_class = {
    .name = "bare",
    .instance_size = sizeof(Device),
};

static TestDev *test_dev_new(Machine *m, const char *tag)
{
    GError *err = NULL;
    Device *dev = device_new_from_class(m, &test_dev_class, &err);

    g_assert_no_error(err);
    g_assert_nonnull(dev);
    if (tag) {
        g_assert_true(device_set_prop(dev, "tag", tag, &err));
        g_assert_no_error(err);
    }
    return (TestDev *)dev;
}

static void test_defaults(void)
{
    Machine *m = fixture_machine_new();
    TestDev *s = test_dev_new(m, NULL);

    g_assert_true(s->parent.cls == &test_dev_class);
    g_assert_true(s->parent.machine == m);
    g_assert_null(s->parent.id);
    g_assert_false(s->parent.realized);
    g_assert_true(s->flag);
    g_assert_cmpuint(s->u8, ==, 7);
    g_assert_cmphex(s->iobase, ==, 0x501);
    g_assert_cmpuint(s->u32, ==, 0);
    g_assert_cmphex(s->u64, ==, UINT64_MAX);
    g_assert_cmpuint(s->size, ==, 1 << 20);
    g_assert_cmpstr(s->tag, ==, "t");
    g_assert_null(s->chr);
    g_assert_false(s->fail);
    device_free(DEVICE(s));

    Device *bare = device_new_from_class(m, &bare_class, NULL);
    g_assert_nonnull(bare);
    device_free(bare);
    fixture_machine_free(m);
}

static void test_bad_default(void)
{
    Machine *m = fixture_machine_new();
    GError *err = NULL;

    g_assert_null(device_new_from_class(m, &bad_default_class, &err));
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(err->message, "'u8'"));
    g_error_free(err);
    fixture_machine_free(m);
}

static void test_set_prop(void)
{
    Machine *m = fixture_machine_new();
    TestDev *s = test_dev_new(m, NULL);
    Device *dev = DEVICE(s);
    GError *err = NULL;

    g_assert_true(device_set_prop(dev, "flag", "off", &err));
    g_assert_false(s->flag);
    g_assert_true(device_set_prop(dev, "flag", "yes", &err));
    g_assert_true(s->flag);
    g_assert_false(device_set_prop(dev, "flag", "maybe", &err));
    g_assert_nonnull(err);
    g_clear_error(&err);

    g_assert_true(device_set_prop(dev, "u8", "255", &err));
    g_assert_cmpuint(s->u8, ==, 255);
    g_assert_false(device_set_prop(dev, "u8", "256", &err));
    g_assert_error(err, LEMU_ERROR, LEMU_ERROR_INVALID);
    g_assert_cmpstr(err->message, ==,
                    "test-dev: property 'u8' must be at most 255");
    g_clear_error(&err);
    g_assert_cmpuint(s->u8, ==, 255);     /* unchanged by the bad value */

    g_assert_true(device_set_prop(dev, "iobase", "0xf4", &err));
    g_assert_cmphex(s->iobase, ==, 0xf4);
    g_assert_false(device_set_prop(dev, "iobase", "65536", &err));
    g_assert_cmpstr(err->message, ==,
                    "test-dev: property 'iobase' must be at most 65535");
    g_clear_error(&err);
    g_assert_false(device_set_prop(dev, "iobase", "twelve", &err));
    g_assert_nonnull(err);
    g_clear_error(&err);
    g_assert_cmphex(s->iobase, ==, 0xf4);

    g_assert_true(device_set_prop(dev, "u32", "4294967295", &err));
    g_assert_cmphex(s->u32, ==, UINT32_MAX);
    g_assert_false(device_set_prop(dev, "u32", "0x100000000", &err));
    g_clear_error(&err);
    g_assert_true(device_set_prop(dev, "u64", "0x123456789abcdef0", &err));
    g_assert_cmphex(s->u64, ==, 0x123456789abcdef0);
    g_assert_false(device_set_prop(dev, "u64", "18446744073709551616",
                                   &err));
    g_assert_nonnull(err);
    g_clear_error(&err);

    g_assert_true(device_set_prop(dev, "size", "2G", &err));
    g_assert_cmphex(s->size, ==, 2ULL << 30);
    g_assert_true(device_set_prop(dev, "size", "4096", &err));
    g_assert_cmpuint(s->size, ==, 4096);
    g_assert_false(device_set_prop(dev, "size", "lots", &err));
    g_clear_error(&err);

    /* Strings replace (and free) the old value. */
    g_assert_true(device_set_prop(dev, "tag", "one", &err));
    g_assert_true(device_set_prop(dev, "tag", "two,with comma", &err));
    g_assert_cmpstr(s->tag, ==, "two,with comma");
    g_assert_no_error(err);

    /* Unknown properties name only the property and the device. */
    g_assert_false(device_set_prop(dev, "foo", "1", &err));
    g_assert_error(err, LEMU_ERROR, LEMU_ERROR_NOT_FOUND);
    g_assert_cmpstr(err->message, ==,
                    "Property 'foo' not found in device 'test-dev'");
    g_clear_error(&err);
    /* Names are exact. */
    g_assert_false(device_set_prop(dev, "IOBASE", "1", &err));
    g_clear_error(&err);

    device_free(dev);
    fixture_machine_free(m);
}

static void test_chardev_prop(void)
{
    Machine *m = fixture_machine_new();
    TestDev *s = test_dev_new(m, NULL);
    GError *err = NULL;
    Chardev *chr = chardev_new_from_spec(m->loop, "-serial", "null", "chr0",
                                         &err);

    g_assert_no_error(err);
    g_assert_nonnull(chr);
    g_ptr_array_add(m->chardevs, chr);

    g_assert_false(device_set_prop(DEVICE(s), "chardev", "nope", &err));
    g_assert_error(err, LEMU_ERROR, LEMU_ERROR_NOT_FOUND);
    g_assert_nonnull(strstr(err->message, "'nope'"));
    g_clear_error(&err);
    g_assert_null(s->chr);

    g_assert_true(device_set_prop(DEVICE(s), "chardev", "chr0", &err));
    g_assert_no_error(err);
    g_assert_true(s->chr == chr);

    device_free(DEVICE(s));
    g_ptr_array_set_size(m->chardevs, 0);
    chardev_free(chr);
    fixture_machine_free(m);
}

static void test_realize(void)
{
    Machine *m = fixture_machine_new();
    GString *events = g_string_new(NULL);
    TestDev *a = test_dev_new(m, "a"), *b;
    GError *err = NULL;

    m->board = events;
    g_assert_true(device_realize(DEVICE(a), &err));
    g_assert_no_error(err);
    g_assert_true(a->parent.realized);
    g_assert_cmpuint(m->devices->len, ==, 1);
    g_assert_true(g_ptr_array_index(m->devices, 0) == a);
    g_assert_cmpstr(events->str, ==, "R(a)");

    /* Properties are fixed once realized. */
    g_assert_false(device_set_prop(DEVICE(a), "iobase", "1", &err));
    g_assert_nonnull(err);
    g_clear_error(&err);
    g_assert_cmphex(a->iobase, ==, 0x501);

    /* A failed realize frees the device (ASan checks) and adds nothing. */
    b = test_dev_new(m, "b");
    g_assert_true(device_set_prop(DEVICE(b), "fail", "on", NULL));
    g_assert_false(device_realize(DEVICE(b), &err));
    g_assert_error(err, LEMU_ERROR, LEMU_ERROR_FAILED);
    g_assert_cmpstr(err->message, ==, "test-dev 'b': told to fail");
    g_clear_error(&err);
    g_assert_cmpuint(m->devices->len, ==, 1);
    g_assert_cmpstr(events->str, ==, "R(a)");

    /* A class without realize is simply realized. */
    Device *bare = device_new_from_class(m, &bare_class, NULL);
    g_assert_true(device_realize(bare, &err));
    g_assert_cmpuint(m->devices->len, ==, 2);

    m->board = NULL;
    fixture_machine_free(m);
    g_string_free(events, TRUE);
}

static void test_lifecycle_order(void)
{
    Machine *m = fixture_machine_new();
    GString *events = g_string_new(NULL);
    const char *tags[] = { "a", "b", "c" };

    m->board = events;
    for (unsigned i = 0; i < G_N_ELEMENTS(tags); i++) {
        g_assert_true(device_realize(DEVICE(test_dev_new(m, tags[i])), NULL));
    }
    g_assert_cmpstr(events->str, ==, "R(a)R(b)R(c)");

    g_string_truncate(events, 0);
    device_reset_all(m);
    g_assert_cmpstr(events->str, ==, "S(a)S(b)S(c)");

    g_string_truncate(events, 0);
    device_destroy_all(m);
    g_assert_cmpstr(events->str, ==, "U(c)U(b)U(a)");
    g_assert_cmpuint(m->devices->len, ==, 0);

    /* Again on an empty machine: nothing happens. */
    g_string_truncate(events, 0);
    device_destroy_all(m);
    device_reset_all(m);
    g_assert_cmpstr(events->str, ==, "");

    m->board = NULL;
    fixture_machine_free(m);
    g_string_free(events, TRUE);
}

static void test_registry(void)
{
    Machine *m = fixture_machine_new();
    GError *err = NULL;

    g_assert_null(device_class_find("no-such-device"));
    g_assert_null(device_class_find(""));
    g_assert_null(device_class_find(NULL));
    g_assert_null(device_class_find("test-dev"));   /* not registered */

    g_assert_null(device_new(m, "no-such-device", &err));
    g_assert_error(err, LEMU_ERROR, LEMU_ERROR_NOT_FOUND);
    g_assert_cmpstr(err->message, ==,
                    "'no-such-device' is not a valid device model name");
    g_clear_error(&err);

    for (size_t i = 0; i < device_registry_len; i++) {
        const DeviceClass *cls = device_registry[i];

        if (!cls) {
            continue;   /* still being written */
        }
        g_assert_true(device_class_find(cls->name) == cls);
        g_assert_cmpuint(cls->instance_size, >=, sizeof(Device));
    }
    fixture_machine_free(m);
}

static Device *create_from_string(Machine *m, const char *str, GError **errp)
{
    LemuOpts *opts = opts_parse("-device", str, "driver", errp);
    Device *dev;

    g_assert_nonnull(opts);
    dev = device_create_from_opts(m, opts, errp);
    opts_free(opts);
    return dev;
}

static void test_create_from_opts(void)
{
    Machine *m = fixture_machine_new();
    GError *err = NULL;

    g_assert_null(create_from_string(m, "no-such-device,id=x", &err));
    g_assert_error(err, LEMU_ERROR, LEMU_ERROR_NOT_FOUND);
    g_assert_cmpstr(err->message, ==,
                    "'no-such-device' is not a valid device model name");
    g_clear_error(&err);

    g_assert_null(create_from_string(m, "id=x", &err));
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(err->message, "driver"));
    g_clear_error(&err);

    for (size_t i = 0; i < device_registry_len; i++) {
        const DeviceClass *cls = device_registry[i];
        g_autofree char *str = NULL;

        if (!cls) {
            continue;
        }
        str = g_strdup_printf("%s,no-such-prop=1", cls->name);
        g_assert_null(create_from_string(m, str, &err));
        g_assert_nonnull(err);
        if (cls->user_creatable) {
            /* Fails on the property, before realize claims anything. */
            g_autofree char *msg = g_strdup_printf(
                "Property 'no-such-prop' not found in device '%s'",
                cls->name);
            g_assert_cmpstr(err->message, ==, msg);
        } else {
            g_assert_nonnull(strstr(err->message, "pluggable"));
        }
        g_clear_error(&err);
    }
    g_assert_cmpuint(m->devices->len, ==, 0);
    fixture_machine_free(m);
}

static char *capture(void (*fn)(FILE *, const DeviceClass *),
                     const DeviceClass *cls)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    g_assert_nonnull(f);
    if (fn) {
        fn(f, cls);
    } else {
        device_class_print_list(f);
    }
    fclose(f);
    return buf;
}

static void test_print(void)
{
    char *list = capture(NULL, NULL);
    char *props = capture(device_class_print_props, &test_dev_class);
    char *none = capture(device_class_print_props, &bare_class);
    char **lines;

    for (size_t i = 0; i < device_registry_len; i++) {
        const DeviceClass *cls = device_registry[i];
        g_autofree char *line = NULL;

        if (!cls) {
            continue;
        }
        line = g_strdup_printf("name \"%s\"", cls->name);
        g_assert_true((strstr(list, line) != NULL) == cls->user_creatable);
    }
    /* One line per user-creatable class, nothing else. */
    lines = g_strsplit(list, "\n", -1);
    for (char **p = lines; *p; p++) {
        g_assert_true(**p == '\0' || g_str_has_prefix(*p, "name \""));
    }
    g_strfreev(lines);

    g_assert_true(g_str_has_prefix(props, "test-dev options:\n"));
    g_assert_nonnull(strstr(props, "  iobase=<uint16>"));
    g_assert_nonnull(strstr(props, "I/O base (default: 0x501)\n"));
    g_assert_nonnull(strstr(props, "  tag=<str>"));
    g_assert_nonnull(strstr(props, "  chardev=<chardev>"));
    g_assert_nonnull(strstr(props, "  size=<size>"));
    g_assert_nonnull(strstr(none, "no options"));
    free(list);
    free(props);
    free(none);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qdev/defaults", test_defaults);
    g_test_add_func("/qdev/bad-default", test_bad_default);
    g_test_add_func("/qdev/set-prop", test_set_prop);
    g_test_add_func("/qdev/chardev-prop", test_chardev_prop);
    g_test_add_func("/qdev/realize", test_realize);
    g_test_add_func("/qdev/lifecycle-order", test_lifecycle_order);
    g_test_add_func("/qdev/registry", test_registry);
    g_test_add_func("/qdev/create-from-opts", test_create_from_opts);
    g_test_add_func("/qdev/print", test_print);
    return g_test_run();
}
