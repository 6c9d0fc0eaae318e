/*
 * JSON values, parser, writer and streamer (util/json.c).
 */
#include <math.h>
#include <string.h>
#include <glib.h>
#include "lemu/util/json.h"
#include "lemu/util/log.h"

/* Parses @text (NUL-terminated) and expects success. */
static JsonValue *parse_ok(const char *text)
{
    GError *err = NULL;
    JsonValue *v = json_parse(text, strlen(text), &err);

    if (!v) {
        g_test_message("parsing '%s': %s", text, err->message);
    }
    g_assert_no_error(err);
    g_assert_nonnull(v);
    return v;
}

/* Parses @len bytes and expects an error whose message contains @what. */
static void parse_fails_len(const char *text, size_t len, const char *what)
{
    GError *err = NULL;
    JsonValue *v = json_parse(text, len, &err);

    g_assert_null(v);
    g_assert_error(err, LEMU_ERROR, LEMU_ERROR_INVALID);
    g_assert_true(g_str_has_prefix(err->message, "JSON parse error, "));
    if (!strstr(err->message, what)) {
        g_test_message("error '%s' does not mention '%s'", err->message,
                       what);
        g_assert_not_reached();
    }
    g_error_free(err);
}

static void parse_fails(const char *text, const char *what)
{
    parse_fails_len(text, strlen(text), what);
}

/* Parses @in and expects the compact writer to produce @out. */
static void check_rewrite(const char *in, const char *out)
{
    g_autoptr(JsonValue) v = parse_ok(in);
    g_autofree char *s = json_to_string(v, false);

    g_assert_cmpstr(s, ==, out);
}

static void test_values(void)
{
    g_autoptr(JsonValue) u = json_uint(5);
    g_autoptr(JsonValue) big = json_uint(UINT64_MAX);
    g_autoptr(JsonValue) neg = json_int(-7);
    g_autoptr(JsonValue) d = json_double(2.5);
    g_autoptr(JsonValue) s = json_string_printf("%s-%d", "abc", 42);
    g_autoptr(JsonValue) b = json_bool(true);
    g_autoptr(JsonValue) n = json_null();
    uint64_t u64 = 0;
    int64_t i64 = 0;

    g_assert_cmpint(json_type(u), ==, JSON_INT);
    g_assert_cmpint(json_get_int(u), ==, 5);
    g_assert_cmpint(json_type(big), ==, JSON_UINT);
    g_assert_true(json_get_u64(big, &u64));
    g_assert_cmpuint(u64, ==, UINT64_MAX);
    g_assert_true(json_get_i64_wrap(big, &i64));
    g_assert_cmpint(i64, ==, -1);
    g_assert_cmpint(json_get_int(big), ==, 0);
    g_assert_false(json_get_u64(neg, &u64));
    g_assert_true(json_get_i64_wrap(neg, &i64));
    g_assert_cmpint(i64, ==, -7);
    g_assert_false(json_get_i64_wrap(d, &i64));
    g_assert_cmpfloat(json_get_number(d), ==, 2.5);
    g_assert_cmpfloat(json_get_number(neg), ==, -7.0);
    g_assert_cmpstr(json_get_string(s), ==, "abc-42");
    g_assert_null(json_get_string(d));
    g_assert_true(json_get_bool(b));
    g_assert_false(json_get_bool(s));
    g_assert_cmpint(json_type(n), ==, JSON_NULL);

    g_assert_cmpstr(json_type_name(JSON_INT), ==, "integer");
    g_assert_cmpstr(json_type_name(JSON_UINT), ==, "integer");
    g_assert_cmpstr(json_type_name(JSON_DOUBLE), ==, "number");
    g_assert_cmpstr(json_type_name(JSON_BOOL), ==, "boolean");
    g_assert_cmpstr(json_type_name(JSON_STRING), ==, "string");
    g_assert_cmpstr(json_type_name(JSON_ARRAY), ==, "array");
    g_assert_cmpstr(json_type_name(JSON_OBJECT), ==, "object");
    g_assert_cmpstr(json_type_name(JSON_NULL), ==, "null");

    /* Accessors on the wrong container type do not crash. */
    g_assert_cmpuint(json_array_length(s), ==, 0);
    g_assert_null(json_array_get(s, 0));
    g_assert_null(json_object_get(s, "x"));
    g_assert_cmpuint(json_object_size(n), ==, 0);
}

static void test_invalid_utf8_constructor(void)
{
    /* The writer never emits invalid UTF-8, whatever a caller passes. */
    g_autoptr(JsonValue) s = json_string("a\xff" "b");
    g_autofree char *out = json_to_string(s, false);

    g_assert_cmpstr(out, ==, "\"a\\uFFFDb\"");
}

static void test_array_object(void)
{
    g_autoptr(JsonValue) obj = json_object();
    g_autoptr(JsonValue) arr = json_array();
    g_autoptr(JsonValue) copy = NULL;
    g_autofree char *s = NULL;
    bool b = false;
    int64_t i = 0;

    json_object_set_str(obj, "name", "lemu");
    json_object_set_int(obj, "count", 3);
    json_object_set_bool(obj, "on", true);
    json_array_append(arr, json_int(1));
    json_array_append(arr, json_string("two"));
    json_object_set(obj, "list", arr);
    arr = NULL;
    /* Replacing keeps the member's position. */
    json_object_set_int(obj, "count", 4);

    g_assert_cmpuint(json_object_size(obj), ==, 4);
    g_assert_cmpstr(json_object_key_at(obj, 1), ==, "count");
    g_assert_cmpint(json_get_int(json_object_value_at(obj, 1)), ==, 4);
    g_assert_null(json_object_key_at(obj, 4));
    g_assert_null(json_object_value_at(obj, 4));
    g_assert_cmpstr(json_object_get_str(obj, "name"), ==, "lemu");
    g_assert_null(json_object_get_str(obj, "count"));
    g_assert_true(json_object_get_bool(obj, "on", &b));
    g_assert_true(b);
    g_assert_false(json_object_get_bool(obj, "name", &b));
    g_assert_true(json_object_get_i64(obj, "count", &i));
    g_assert_cmpint(i, ==, 4);
    g_assert_false(json_object_get_i64(obj, "missing", &i));
    g_assert_null(json_array_get(json_object_get(obj, "list"), 2));

    s = json_to_string(obj, false);
    g_assert_cmpstr(s, ==, "{\"name\": \"lemu\", \"count\": 4, \"on\": true, "
                    "\"list\": [1, \"two\"]}");

    copy = json_copy(obj);
    g_assert_true(json_equal(copy, obj));
    json_object_set_int(copy, "count", 5);
    g_assert_false(json_equal(copy, obj));
}

static void test_large_object(void)
{
    g_autoptr(JsonValue) obj = json_object();
    g_autoptr(JsonValue) parsed = NULL;
    g_autofree char *text = NULL;
    GString *in = g_string_new("{");
    GError *err = NULL;
    gint64 start;
    const int n = 100000;

    for (int i = 0; i < n; i++) {
        char key[32];

        g_snprintf(key, sizeof(key), "k%d", i);
        json_object_set_int(obj, key, i);
        g_string_append_printf(in, "%s\"%s\": %d", i ? ", " : "", key, i);
    }
    g_string_append_c(in, '}');
    /* Replacing through the index keeps order and size. */
    json_object_set_int(obj, "k500", -1);
    g_assert_cmpuint(json_object_size(obj), ==, n);
    g_assert_cmpstr(json_object_key_at(obj, 500), ==, "k500");
    g_assert_cmpint(json_get_int(json_object_get(obj, "k500")), ==, -1);
    g_assert_cmpint(json_get_int(json_object_get(obj, "k99999")), ==, 99999);
    g_assert_null(json_object_get(obj, "k100000"));

    /* A quadratic duplicate check would take minutes here. */
    start = g_get_monotonic_time();
    parsed = json_parse(in->str, in->len, &err);
    g_assert_no_error(err);
    g_assert_cmpint(g_get_monotonic_time() - start, <, 10 * G_USEC_PER_SEC);
    g_assert_cmpuint(json_object_size(parsed), ==, n);
    g_assert_cmpint(json_get_int(json_object_get(parsed, "k77777")), ==,
                    77777);
    json_object_set_int(obj, "k500", 500);
    g_assert_true(json_equal(parsed, obj));

    /* A duplicate far into a large object is found. */
    g_string_truncate(in, in->len - 1);
    g_string_append(in, ", \"k31337\": 0}");
    g_assert_null(json_parse(in->str, in->len, &err));
    g_assert_nonnull(strstr(err->message, "duplicate key 'k31337'"));
    g_clear_error(&err);

    text = json_to_string(parsed, false);
    g_assert_cmpuint(strlen(text), ==, in->len - strlen(", \"k31337\": 0"));
    g_string_free(in, true);
}

static void test_writer_pretty(void)
{
    g_autoptr(JsonValue) v = parse_ok(
        "{\"return\": {\"a\": 1, \"b\": [1, {}, []], \"c\": {\"d\": null}}}");
    g_autofree char *pretty = json_to_string(v, true);
    g_autofree char *compact = json_to_string(v, false);
    GString *acc = g_string_new("x");

    g_assert_cmpstr(pretty, ==,
        "{\n"
        "    \"return\": {\n"
        "        \"a\": 1,\n"
        "        \"b\": [\n"
        "            1,\n"
        "            {},\n"
        "            []\n"
        "        ],\n"
        "        \"c\": {\n"
        "            \"d\": null\n"
        "        }\n"
        "    }\n"
        "}");
    g_assert_cmpstr(compact, ==,
        "{\"return\": {\"a\": 1, \"b\": [1, {}, []], \"c\": {\"d\": null}}}");
    json_append(acc, v, false);
    g_assert_cmpstr(acc->str + 1, ==, compact);
    g_string_free(acc, true);
}

static void test_round_trip_documents(void)
{
    check_rewrite("  {\"execute\":\"query-status\",\"id\":[1,{\"x\":null}]} ",
                  "{\"execute\": \"query-status\", \"id\": [1, {\"x\": null}]}");
    check_rewrite("[true,false,null,\"\",[],{}]",
                  "[true, false, null, \"\", [], {}]");
    check_rewrite("\t\r\n 42 \n", "42");
    check_rewrite("\"lone\"", "\"lone\"");
    check_rewrite("{'single': 'quoted \"x\"'}",
                  "{\"single\": \"quoted \\\"x\\\"\"}");
}

static void test_escapes(void)
{
    g_autoptr(JsonValue) v = parse_ok(
        "\"q\\\" s\\' b\\\\ sl\\/ \\b\\f\\n\\r\\t \\u0041\\u00e9\\u20AC\"");
    g_autoptr(JsonValue) sq = parse_ok("'it\\'s \"ok\" \\u0042'");
    g_autoptr(JsonValue) ctl = json_string("\x01\x1f\x7f");
    g_autofree char *out = NULL;
    g_autofree char *ctl_out = NULL;

    g_assert_cmpstr(json_get_string(v), ==,
                    "q\" s' b\\ sl/ \b\f\n\r\t A\xc3\xa9\xe2\x82\xac");
    g_assert_cmpstr(json_get_string(sq), ==, "it's \"ok\" B");

    /* The writer: ASCII only, '/' and '\'' as they are, \u upper case. */
    out = json_to_string(v, false);
    g_assert_cmpstr(out, ==, "\"q\\\" s' b\\\\ sl/ \\b\\f\\n\\r\\t "
                    "A\\u00E9\\u20AC\"");
    ctl_out = json_to_string(ctl, false);
    g_assert_cmpstr(ctl_out, ==, "\"\\u0001\\u001F\\u007F\"");

    parse_fails("\"\\x\"", "invalid escape '\\x'");
    parse_fails("\"\\u12\"", "four hex digits");
    parse_fails("\"\\u12G4\"", "four hex digits");
    parse_fails("\"abc", "unterminated string");
    parse_fails("\"abc\\", "unterminated string");
    parse_fails("'abc\"", "unterminated string");
}

static void test_surrogates(void)
{
    g_autoptr(JsonValue) v = parse_ok("\"\\uD83D\\ude00 \\uDBFF\\uDFFF\"");
    g_autoptr(JsonValue) raw = parse_ok("\"\xf0\x9f\x98\x80\"");
    g_autofree char *out = json_to_string(v, false);
    g_autofree char *raw_out = json_to_string(raw, false);

    g_assert_cmpstr(json_get_string(v), ==,
                    "\xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf");
    g_assert_cmpstr(out, ==, "\"\\uD83D\\uDE00 \\uDBFF\\uDFFF\"");
    g_assert_cmpstr(raw_out, ==, "\"\\uD83D\\uDE00\"");

    parse_fails("\"\\uD83D\"", "not followed by a trailing surrogate");
    parse_fails("\"\\uD83Dx\"", "not followed by a trailing surrogate");
    parse_fails("\"\\uD83D\\u0041\"", "not followed by a trailing surrogate");
    parse_fails("\"\\uD83D\\uD83D\"", "not followed by a trailing surrogate");
    parse_fails("\"\\uDE00\"", "trailing surrogate without a leading one");
    parse_fails("\"\\u0000\"", "\\u0000 is not supported");
}

static void test_utf8(void)
{
    static const char *const bad[] = {
        "\xc0\x80",              /* overlong NUL */
        "\xc1\xbf",              /* overlong */
        "\xe0\x80\x80",          /* overlong */
        "\xf0\x80\x80\x80",      /* overlong */
        "\xed\xa0\x80",          /* encoded surrogate */
        "\xf4\x90\x80\x80",      /* above U+10FFFF */
        "\xf8\x88\x80\x80\x80",  /* five bytes */
        "\x80",                  /* stray continuation */
        "\xc3",                  /* truncated */
        "\xe2\x82",              /* truncated */
        "\xc3\x28",              /* bad continuation */
        "\xfe",
    };
    static const char *const good[] = {
        "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xef\xbf\xbf",
        "\xf4\x8f\xbf\xbf", "\x7f",
    };

    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autofree char *text = g_strdup_printf("\"a%sb\"", bad[i]);

        parse_fails(text, "invalid UTF-8");
    }
    for (size_t i = 0; i < G_N_ELEMENTS(good); i++) {
        g_autofree char *text = g_strdup_printf("\"a%sb\"", good[i]);
        g_autofree char *want = g_strdup_printf("a%sb", good[i]);
        g_autoptr(JsonValue) v = parse_ok(text);

        g_assert_cmpstr(json_get_string(v), ==, want);
    }
    /* Strings are C strings: no NUL, no raw control characters. */
    parse_fails_len("\"a\0b\"", 5, "control character 0x00");
    parse_fails("\"a\tb\"", "control character 0x09");
    parse_fails("\"a\nb\"", "newline in string");
    parse_fails_len("[1,\0]", 5, "stray byte 0x00");
    parse_fails("\xff", "stray byte 0xff");
}

static void check_int(const char *text, int64_t want)
{
    g_autoptr(JsonValue) v = parse_ok(text);

    g_assert_cmpint(json_type(v), ==, JSON_INT);
    g_assert_cmpint(json_get_int(v), ==, want);
}

static void check_double(const char *text, double want, const char *out)
{
    g_autoptr(JsonValue) v = parse_ok(text);
    g_autofree char *s = json_to_string(v, false);

    g_assert_cmpint(json_type(v), ==, JSON_DOUBLE);
    g_assert_cmpfloat(json_get_number(v), ==, want);
    g_assert_cmpstr(s, ==, out);
}

static void test_numbers(void)
{
    uint64_t u = 0;

    check_int("0", 0);
    check_int("-0", 0);
    check_int("-1", -1);
    check_int("9223372036854775807", INT64_MAX);
    check_int("-9223372036854775808", INT64_MIN);
    check_rewrite("9223372036854775807", "9223372036854775807");
    check_rewrite("-9223372036854775808", "-9223372036854775808");

    {
        g_autoptr(JsonValue) v = parse_ok("9223372036854775808");

        g_assert_cmpint(json_type(v), ==, JSON_UINT);
        g_assert_true(json_get_u64(v, &u));
        g_assert_cmpuint(u, ==, (uint64_t)INT64_MAX + 1);
    }
    {
        g_autoptr(JsonValue) v = parse_ok("18446744073709551615");

        g_assert_cmpint(json_type(v), ==, JSON_UINT);
        g_assert_true(json_get_u64(v, &u));
        g_assert_cmpuint(u, ==, UINT64_MAX);
    }
    check_rewrite("18446744073709551615", "18446744073709551615");
    /* Beyond uint64 and below int64: doubles. */
    check_double("18446744073709551616", 18446744073709551616.0,
                 "1.8446744073709552e+19");
    check_double("-9223372036854775809", -9223372036854775808.0,
                 "-9.223372036854776e+18");
    check_double("1.5", 1.5, "1.5");
    check_double("-0.0", -0.0, "-0.0");
    check_double("1e2", 100.0, "100.0");
    check_double("1E+2", 100.0, "100.0");
    check_double("25e-1", 2.5, "2.5");
    check_double("0.1", 0.1, "0.1");
    check_double("1e300", 1e300, "1e+300");
    check_double("1e-400", 0.0, "0.0");
    check_double("0.30000000000000004", 0.30000000000000004,
                 "0.30000000000000004");

    parse_fails("01", "unexpected content after the value");
    parse_fails("1.", "expected a digit after '.'");
    parse_fails(".5", "stray '.'");
    parse_fails("-", "expected a digit after '-'");
    parse_fails("-a", "expected a digit after '-'");
    parse_fails("1e", "expected a digit in the exponent");
    parse_fails("1e+", "expected a digit in the exponent");
    parse_fails("+1", "stray '+'");
    parse_fails("1e400", "out of range");
    parse_fails("0x10", "unexpected content");
    parse_fails("[1 2]", "expected ',' or ']'");

    /* Non-finite doubles cannot be written as JSON numbers. */
    {
        g_autoptr(JsonValue) v = json_double(INFINITY);
        g_autofree char *s = json_to_string(v, false);

        g_assert_cmpstr(s, ==, "null");
    }
}

static void test_syntax_errors(void)
{
    parse_fails("", "expecting value, got end of input");
    parse_fails("   ", "expecting value, got end of input");
    parse_fails("tru", "invalid keyword 'tru'");
    parse_fails("nullx", "invalid keyword 'nullx'");
    parse_fails("True", "invalid keyword 'True'");
    parse_fails("}", "expecting value, got '}'");
    parse_fails("[1,]", "expecting value, got ']'");
    parse_fails("[1", "unexpected end of input in array");
    parse_fails("{\"a\": 1", "unexpected end of input in object");
    parse_fails("{\"a\" 1}", "missing ':'");
    parse_fails("{a: 1}", "key is not a string");
    parse_fails("{1: 1}", "key is not a string");
    parse_fails("{\"a\": 1,}", "key is not a string");
    parse_fails("{\"a\": 1 \"b\": 2}", "expected ',' or '}'");
    parse_fails("{} {}", "unexpected content after the value");
    parse_fails("@", "stray '@'");
    {
        GError *err = NULL;

        g_assert_null(json_parse(NULL, 0, &err));
        g_assert_error(err, LEMU_ERROR, LEMU_ERROR_INVALID);
        g_error_free(err);
    }
}

static void test_duplicate_keys(void)
{
    parse_fails("{\"a\": 1, \"a\": 2}", "duplicate key 'a'");
    parse_fails("{\"a\": 1, 'a': 2}", "duplicate key 'a'");
    parse_fails("{\"\\u0061\": 1, \"a\": 2}", "duplicate key 'a'");
    parse_fails("{\"x\": {\"b\": 1, \"c\": 2, \"b\": 3}}", "duplicate key 'b'");
    /* The same key in different objects is fine. */
    check_rewrite("[{\"a\": 1}, {\"a\": 2}]", "[{\"a\": 1}, {\"a\": 2}]");
}

static void test_depth_limit(void)
{
    GString *s = g_string_new(NULL);
    JsonValue *v;
    GError *err = NULL;

    for (int i = 0; i < JSON_MAX_DEPTH; i++) {
        g_string_append(s, i % 2 ? "{\"k\": " : "[");
    }
    g_string_append_c(s, '0');
    for (int i = JSON_MAX_DEPTH - 1; i >= 0; i--) {
        g_string_append(s, i % 2 ? "}" : "]");
    }
    v = json_parse(s->str, s->len, &err);
    g_assert_no_error(err);
    json_free(v);

    g_string_prepend_c(s, '[');
    g_string_append_c(s, ']');
    g_assert_null(json_parse(s->str, s->len, &err));
    g_assert_nonnull(strstr(err->message, "nesting too deep"));
    g_clear_error(&err);

    /* Unclosed and far too deep: refused without recursing forever. */
    g_string_truncate(s, 0);
    for (int i = 0; i < 100000; i++) {
        g_string_append_c(s, '[');
    }
    g_assert_null(json_parse(s->str, s->len, &err));
    g_assert_nonnull(strstr(err->message, "nesting too deep"));
    g_clear_error(&err);
    g_string_free(s, true);
}

/* ---- streamer ---- */

typedef struct Collected {
    GPtrArray *items;            /* compact JSON, or "ERR: message" */
    JsonStreamer *js;
    int reset_after;             /* reset the streamer at this item */
} Collected;

static void collect(void *opaque, JsonValue *msg, GError *err)
{
    Collected *c = opaque;

    if (msg) {
        g_assert_null(err);
        g_ptr_array_add(c->items, json_to_string(msg, false));
        json_free(msg);
    } else {
        g_assert_nonnull(err);
        g_ptr_array_add(c->items, g_strdup_printf("ERR: %s", err->message));
        g_error_free(err);
    }
    if ((int)c->items->len == c->reset_after) {
        json_streamer_reset(c->js);
    }
}

static void collected_init(Collected *c, size_t max_size, unsigned depth)
{
    c->items = g_ptr_array_new_with_free_func(g_free);
    c->js = json_streamer_new(max_size, depth, collect, c);
    c->reset_after = -1;
}

static void collected_free(Collected *c)
{
    json_streamer_free(c->js);
    g_ptr_array_free(c->items, true);
}

static void feed_str(Collected *c, const char *s)
{
    json_streamer_feed(c->js, s, strlen(s));
}

static const char *item(Collected *c, guint i)
{
    g_assert_cmpuint(i, <, c->items->len);
    return g_ptr_array_index(c->items, i);
}

static const char stream_input[] =
    "{\"execute\": \"a\", \"arguments\": {\"s\": \"}]\\\"{[\"}}\r\n"
    "  [1, [2, {}]] 'x}' \"y\\\\\" 17 true null -3.5\n"
    "{'q': \"'\"}{}";

static const char *const stream_expected[] = {
    "{\"execute\": \"a\", \"arguments\": {\"s\": \"}]\\\"{[\"}}",
    "[1, [2, {}]]", "\"x}\"", "\"y\\\\\"", "17", "true", "null", "-3.5",
    "{\"q\": \"'\"}", "{}",
};

static void check_stream_items(Collected *c)
{
    g_assert_cmpuint(c->items->len, ==, G_N_ELEMENTS(stream_expected));
    for (guint i = 0; i < c->items->len; i++) {
        g_assert_cmpstr(item(c, i), ==, stream_expected[i]);
    }
}

static void test_streamer_split_merged(void)
{
    Collected c;

    /* All at once. */
    collected_init(&c, 4096, 64);
    feed_str(&c, stream_input);
    check_stream_items(&c);
    collected_free(&c);

    /* One byte at a time. */
    collected_init(&c, 4096, 64);
    for (size_t i = 0; i < strlen(stream_input); i++) {
        json_streamer_feed(c.js, stream_input + i, 1);
    }
    check_stream_items(&c);
    collected_free(&c);

    /* In random pieces. */
    for (int round = 0; round < 50; round++) {
        size_t len = strlen(stream_input), pos = 0;

        collected_init(&c, 4096, 64);
        while (pos < len) {
            size_t n = g_test_rand_int_range(0, 9);

            n = MIN(n, len - pos);

            json_streamer_feed(c.js, stream_input + pos, n);
            pos += n;
        }
        check_stream_items(&c);
        collected_free(&c);
    }
}

static void test_streamer_incomplete(void)
{
    Collected c;

    collected_init(&c, 4096, 64);
    /* A bare value ends only at a delimiter. */
    feed_str(&c, "{\"a\": 1} 12");
    g_assert_cmpuint(c.items->len, ==, 1);
    feed_str(&c, "34");
    g_assert_cmpuint(c.items->len, ==, 1);
    feed_str(&c, "\n{\"b\"");
    g_assert_cmpuint(c.items->len, ==, 2);
    g_assert_cmpstr(item(&c, 1), ==, "1234");
    /* A newline outside a string does not end an object. */
    feed_str(&c, "\n:\n2\n");
    g_assert_cmpuint(c.items->len, ==, 2);
    feed_str(&c, "}");
    g_assert_cmpuint(c.items->len, ==, 3);
    g_assert_cmpstr(item(&c, 2), ==, "{\"b\": 2}");

    /* Reset drops a partial message. */
    feed_str(&c, "{\"lost\": ");
    json_streamer_reset(c.js);
    feed_str(&c, "[5]");
    g_assert_cmpuint(c.items->len, ==, 4);
    g_assert_cmpstr(item(&c, 3), ==, "[5]");
    collected_free(&c);
}

static void test_streamer_errors(void)
{
    Collected c;

    collected_init(&c, 4096, 64);
    feed_str(&c, "{\"a\" 1} }garbage [1,] {\"a\":1,\"a\":2} [3]");
    g_assert_cmpuint(c.items->len, ==, 6);
    g_assert_cmpstr(item(&c, 0), ==, "ERR: JSON parse error, missing ':' "
                    "after key in object");
    g_assert_cmpstr(item(&c, 1), ==, "ERR: JSON parse error, expecting "
                    "value, got '}'");
    g_assert_cmpstr(item(&c, 2), ==, "ERR: JSON parse error, invalid "
                    "keyword 'garbage'");
    g_assert_cmpstr(item(&c, 3), ==, "ERR: JSON parse error, expecting "
                    "value, got ']'");
    g_assert_cmpstr(item(&c, 4), ==, "ERR: JSON parse error, duplicate key "
                    "'a' in object");
    g_assert_cmpstr(item(&c, 5), ==, "[3]");
    collected_free(&c);
}

static void test_streamer_newline_in_string(void)
{
    Collected c;

    collected_init(&c, 4096, 64);
    /* A client typing by hand gets its error when it presses Enter. */
    feed_str(&c, "{\"execute\": \"query-status}\n");
    g_assert_cmpuint(c.items->len, ==, 1);
    g_assert_cmpstr(item(&c, 0), ==,
                    "ERR: JSON parse error, newline in string");
    feed_str(&c, "{\"execute\": \"query-status\"}\n");
    g_assert_cmpuint(c.items->len, ==, 2);
    g_assert_cmpstr(item(&c, 1), ==, "{\"execute\": \"query-status\"}");

    /* An escaped newline is no better. */
    feed_str(&c, "'abc\\\n[1]");
    g_assert_cmpuint(c.items->len, ==, 4);
    g_assert_true(g_str_has_prefix(item(&c, 2), "ERR: JSON parse error"));
    g_assert_cmpstr(item(&c, 3), ==, "[1]");
    collected_free(&c);
}

static void test_streamer_reset_bytes(void)
{
    Collected c;
    static const char ff_input[] = "{\"execute\": [[\"x\xff{\"ok\": 1}";
    static const char eot_input[] = "{\"a\": \"b\x04 7 ";

    collected_init(&c, 4096, 64);
    /* Between messages each one is flagged, as QEMU does, so that a
     * client that sends one to resynchronise always gets an error. */
    feed_str(&c, "\xff\x04");
    g_assert_cmpuint(c.items->len, ==, 2);
    g_assert_cmpstr(item(&c, 0), ==,
                    "ERR: JSON parse error, stray byte 0xff");
    g_assert_cmpstr(item(&c, 1), ==,
                    "ERR: JSON parse error, stray byte 0x04");

    /* Inside a message: one error, that of the broken message. */
    feed_str(&c, ff_input);
    g_assert_cmpuint(c.items->len, ==, 4);
    g_assert_cmpstr(item(&c, 2), ==, "ERR: JSON parse error, unterminated "
                    "string");
    g_assert_cmpstr(item(&c, 3), ==, "{\"ok\": 1}");

    feed_str(&c, eot_input);
    g_assert_cmpuint(c.items->len, ==, 6);
    g_assert_cmpstr(item(&c, 4), ==, "ERR: JSON parse error, unterminated "
                    "string");
    g_assert_cmpstr(item(&c, 5), ==, "7");

    /* They end a bare token like any delimiter, then are flagged. */
    feed_str(&c, "42\xff");
    g_assert_cmpuint(c.items->len, ==, 8);
    g_assert_cmpstr(item(&c, 6), ==, "42");
    g_assert_cmpstr(item(&c, 7), ==,
                    "ERR: JSON parse error, stray byte 0xff");
    collected_free(&c);
}

static void test_streamer_oversize(void)
{
    Collected c;
    GString *big = g_string_new("{\"execute\": \"x\", \"arguments\": {\"d\": [");

    /* Brackets and quotes inside strings must not end the skip early. */
    for (int i = 0; i < 1000; i++) {
        g_string_append(big, "\"]}\\\"{\", {\"k\": [1, 2]}, ");
    }
    g_string_append(big, "0]}}");

    collected_init(&c, 256, 64);
    feed_str(&c, "[1]");
    json_streamer_feed(c.js, big->str, big->len);
    g_assert_cmpuint(c.items->len, ==, 2);
    g_assert_cmpstr(item(&c, 1), ==,
                    "ERR: JSON message too large (more than 256 bytes)");
    feed_str(&c, " {\"after\": true}");
    g_assert_cmpuint(c.items->len, ==, 3);
    g_assert_cmpstr(item(&c, 2), ==, "{\"after\": true}");

    /* The same, one byte at a time. */
    for (size_t i = 0; i < big->len; i++) {
        json_streamer_feed(c.js, big->str + i, 1);
    }
    feed_str(&c, "[2]");
    g_assert_cmpuint(c.items->len, ==, 5);
    g_assert_cmpstr(item(&c, 3), ==,
                    "ERR: JSON message too large (more than 256 bytes)");
    g_assert_cmpstr(item(&c, 4), ==, "[2]");

    /* A message of exactly max_size bytes is accepted. */
    g_string_assign(big, "\"");
    while (big->len < 255) {
        g_string_append_c(big, 'a');
    }
    g_string_append_c(big, '"');
    json_streamer_feed(c.js, big->str, big->len);
    g_assert_cmpuint(c.items->len, ==, 6);
    g_assert_cmpuint(strlen(item(&c, 5)), ==, 256);

    /* An endless bare token and an endless string are skipped too, and
     * a 0xff ends the skip (with an error of its own: the message's was
     * sent already). */
    for (int i = 0; i < 1000; i++) {
        feed_str(&c, "abcdefghijklmnopqrstuvwxyz");
    }
    feed_str(&c, " [3] \"");
    for (int i = 0; i < 1000; i++) {
        feed_str(&c, "abcdefghijklmnopqrstuvwxyz{{{{");
    }
    feed_str(&c, "\xff[4]");
    g_assert_cmpuint(c.items->len, ==, 11);
    g_assert_cmpstr(item(&c, 6), ==,
                    "ERR: JSON message too large (more than 256 bytes)");
    g_assert_cmpstr(item(&c, 7), ==, "[3]");
    g_assert_cmpstr(item(&c, 8), ==,
                    "ERR: JSON message too large (more than 256 bytes)");
    g_assert_cmpstr(item(&c, 9), ==,
                    "ERR: JSON parse error, stray byte 0xff");
    g_assert_cmpstr(item(&c, 10), ==, "[4]");
    collected_free(&c);
    g_string_free(big, true);
}

static void test_streamer_depth(void)
{
    Collected c;
    GString *s = g_string_new(NULL);

    collected_init(&c, 1 << 20, 4);
    feed_str(&c, "[[[{\"a\": 1}]]]");
    g_assert_cmpuint(c.items->len, ==, 1);
    g_assert_cmpstr(item(&c, 0), ==, "[[[{\"a\": 1}]]]");

    /* Too deep: one error, the rest skipped up to the matching close. */
    feed_str(&c, "[[[[[1], \"]]]]]\"], 2]]] {\"b\": 2}");
    g_assert_cmpuint(c.items->len, ==, 3);
    g_assert_cmpstr(item(&c, 1), ==,
                    "ERR: JSON nesting too deep (more than 4 levels)");
    g_assert_cmpstr(item(&c, 2), ==, "{\"b\": 2}");

    /* A flood of open brackets costs no memory and is ended by 0xff,
     * which is flagged on its own. */
    for (int i = 0; i < 100000; i++) {
        g_string_append_c(s, '[');
    }
    json_streamer_feed(c.js, s->str, s->len);
    g_assert_cmpuint(c.items->len, ==, 4);
    g_assert_cmpstr(item(&c, 3), ==,
                    "ERR: JSON nesting too deep (more than 4 levels)");
    feed_str(&c, "\xff{}");
    g_assert_cmpuint(c.items->len, ==, 6);
    g_assert_cmpstr(item(&c, 4), ==,
                    "ERR: JSON parse error, stray byte 0xff");
    g_assert_cmpstr(item(&c, 5), ==, "{}");
    collected_free(&c);
    g_string_free(s, true);
}

static void test_streamer_reset_in_callback(void)
{
    Collected c;

    collected_init(&c, 4096, 64);
    c.reset_after = 2;
    /* The peer went away while its second message ran: the rest of what
     * it sent is dropped. */
    feed_str(&c, "[1] [2] [3] [4");
    g_assert_cmpuint(c.items->len, ==, 2);
    c.reset_after = -1;
    feed_str(&c, "[5]");
    g_assert_cmpuint(c.items->len, ==, 3);
    g_assert_cmpstr(item(&c, 2), ==, "[5]");
    collected_free(&c);
}

/* ---- random trees ---- */

static char *random_string(void)
{
    /* A mix of ASCII, escapes, 2-, 3- and 4-byte characters. */
    static const gunichar pool[] = {
        'a', 'Z', '0', ' ', '"', '\\', '/', '\'', '\n', '\t', 0x01, 0x1f,
        0x7f, 0xe9, 0x7ff, 0x800, 0x20ac, 0xd7ff, 0xe000, 0xfffd, 0xffff,
        0x10000, 0x1f600, 0x10ffff,
    };
    GString *s = g_string_new(NULL);
    int n = g_test_rand_int_range(0, 12);

    for (int i = 0; i < n; i++) {
        g_string_append_unichar(
            s, pool[g_test_rand_int_range(0, G_N_ELEMENTS(pool))]);
    }
    return g_string_free(s, false);
}

static uint64_t random_u64(void)
{
    return ((uint64_t)(guint32)g_test_rand_int() << 32) |
           (guint32)g_test_rand_int();
}

static JsonValue *random_tree(int depth)
{
    int kind = g_test_rand_int_range(0, depth > 0 ? 9 : 7);
    JsonValue *v;

    switch (kind) {
    case 0:
        return json_null();
    case 1:
        return json_bool(g_test_rand_bit());
    case 2:
        switch (g_test_rand_int_range(0, 4)) {
        case 0:
            return json_int(INT64_MIN);
        case 1:
            return json_int(INT64_MAX);
        default:
            return json_int((int64_t)random_u64());
        }
    case 3:
        return json_uint((uint64_t)INT64_MAX + 1 +
                         (g_test_rand_bit() ? UINT64_MAX / 2 : 0));
    case 4: {
        /* Any finite double, from its bits. */
        uint64_t bits;
        double d;

        do {
            bits = random_u64();
            memcpy(&d, &bits, sizeof(d));
        } while (!isfinite(d));
        return json_double(g_test_rand_bit() ? d : g_test_rand_double());
    }
    case 5:
    case 6:
        return json_string_take(random_string());
    case 7:
        v = json_array();
        for (int i = g_test_rand_int_range(0, 5); i > 0; i--) {
            json_array_append(v, random_tree(depth - 1));
        }
        return v;
    default:
        v = json_object();
        /* Enough members sometimes to get an index. */
        for (int i = g_test_rand_int_range(0, g_test_rand_bit() ? 5 : 40);
             i > 0; i--) {
            g_autofree char *key = random_string();

            json_object_set(v, key, random_tree(depth - 1));
        }
        return v;
    }
}

static void test_random_round_trip(void)
{
    for (int i = 0; i < 500; i++) {
        g_autoptr(JsonValue) tree = random_tree(g_test_rand_int_range(0, 6));

        for (int pretty = 0; pretty <= 1; pretty++) {
            g_autofree char *text = json_to_string(tree, pretty);
            g_autofree char *again = NULL;
            g_autoptr(JsonValue) back = NULL;
            GError *err = NULL;

            /* ASCII only. */
            for (const char *p = text; *p; p++) {
                g_assert_cmpint((unsigned char)*p, <, 0x80);
            }
            back = json_parse(text, strlen(text), &err);
            g_assert_no_error(err);
            g_assert_true(json_equal(tree, back));
            /* Same member order: the same text again. */
            again = json_to_string(back, pretty);
            g_assert_cmpstr(again, ==, text);
        }
    }
}

static void test_equal(void)
{
    g_autoptr(JsonValue) a = parse_ok("{\"x\": 1, \"y\": [1, 2]}");
    g_autoptr(JsonValue) b = parse_ok("{\"y\": [1, 2], \"x\": 1}");
    g_autoptr(JsonValue) c = parse_ok("{\"y\": [2, 1], \"x\": 1}");
    g_autoptr(JsonValue) d = parse_ok("{\"y\": [1, 2], \"x\": 1.0}");
    g_autoptr(JsonValue) e = parse_ok("{\"y\": [1, 2], \"z\": 1}");

    g_assert_true(json_equal(a, b));
    g_assert_false(json_equal(a, c));
    g_assert_false(json_equal(a, d));
    g_assert_false(json_equal(a, e));
    g_assert_true(json_equal(NULL, NULL));
    g_assert_false(json_equal(a, NULL));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/json/values", test_values);
    g_test_add_func("/json/invalid-utf8-constructor",
                    test_invalid_utf8_constructor);
    g_test_add_func("/json/array-object", test_array_object);
    g_test_add_func("/json/large-object", test_large_object);
    g_test_add_func("/json/equal", test_equal);
    g_test_add_func("/json/writer-pretty", test_writer_pretty);
    g_test_add_func("/json/round-trip-documents", test_round_trip_documents);
    g_test_add_func("/json/escapes", test_escapes);
    g_test_add_func("/json/surrogates", test_surrogates);
    g_test_add_func("/json/utf8", test_utf8);
    g_test_add_func("/json/numbers", test_numbers);
    g_test_add_func("/json/syntax-errors", test_syntax_errors);
    g_test_add_func("/json/duplicate-keys", test_duplicate_keys);
    g_test_add_func("/json/depth-limit", test_depth_limit);
    g_test_add_func("/json/streamer/split-merged", test_streamer_split_merged);
    g_test_add_func("/json/streamer/incomplete", test_streamer_incomplete);
    g_test_add_func("/json/streamer/errors", test_streamer_errors);
    g_test_add_func("/json/streamer/newline-in-string",
                    test_streamer_newline_in_string);
    g_test_add_func("/json/streamer/reset-bytes", test_streamer_reset_bytes);
    g_test_add_func("/json/streamer/oversize", test_streamer_oversize);
    g_test_add_func("/json/streamer/depth", test_streamer_depth);
    g_test_add_func("/json/streamer/reset-in-callback",
                    test_streamer_reset_in_callback);
    g_test_add_func("/json/random-round-trip", test_random_round_trip);
    return g_test_run();
}
