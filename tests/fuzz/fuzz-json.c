/*
 * libFuzzer target for util/json.c: the parser, the writer and the
 * streamer on arbitrary bytes.
 *
 * Besides "no crash, no leak, no hang" it checks three properties:
 * - every value that parses is written as ASCII that parses back to an
 *   equal value and is written the same way again (compact and pretty);
 * - the streamer finds the same messages and errors whether the input
 *   comes in one piece or in small pieces;
 * - the streamer never hands out a value larger than its max_size.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <glib.h>
#include "lemu/util/json.h"

/* Small, so that the limits are reached often. */
#define FUZZ_MAX_SIZE 512
#define FUZZ_MAX_DEPTH 16

static void check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz-json: %s\n", what);
        abort();
    }
}

/* @v written compactly and pretty parses back to itself. */
static void check_round_trip(const JsonValue *v)
{
    for (int pretty = 0; pretty <= 1; pretty++) {
        g_autofree char *text = json_to_string(v, pretty);
        g_autofree char *again = NULL;
        g_autoptr(JsonValue) back = NULL;
        GError *err = NULL;

        for (const char *p = text; *p; p++) {
            check((unsigned char)*p < 0x80, "writer emitted non-ASCII");
        }
        back = json_parse(text, strlen(text), &err);
        if (!back) {
            fprintf(stderr, "fuzz-json: '%s' does not parse: %s\n", text,
                    err->message);
            abort();
        }
        check(json_equal(v, back), "round trip changed the value");
        again = json_to_string(back, pretty);
        check(strcmp(text, again) == 0, "round trip changed the text");
    }
}

typedef struct Messages {
    GString *log;                /* one line per message or error */
} Messages;

static void on_message(void *opaque, JsonValue *msg, GError *err)
{
    Messages *m = opaque;

    if (msg) {
        g_autofree char *text = json_to_string(msg, false);

        /* The input was at most FUZZ_MAX_SIZE bytes; the writer's form
         * may be longer (escapes), but only by a bounded factor. */
        check(strlen(text) <= 12 * FUZZ_MAX_SIZE, "message over the limit");
        check_round_trip(msg);
        g_string_append_printf(m->log, "V %s\n", text);
        json_free(msg);
    } else {
        check(err != NULL, "callback without value or error");
        g_string_append_printf(m->log, "E %s\n", err->message);
        g_error_free(err);
    }
}

/* Feeds @data in pieces of @piece bytes (0: all at once). */
static char *stream(const uint8_t *data, size_t size, size_t piece)
{
    Messages m = { .log = g_string_new(NULL) };
    JsonStreamer *js = json_streamer_new(FUZZ_MAX_SIZE, FUZZ_MAX_DEPTH,
                                         on_message, &m);

    if (!piece) {
        json_streamer_feed(js, data, size);
    } else {
        for (size_t i = 0; i < size; i += piece) {
            json_streamer_feed(js, data + i, MIN(piece, size - i));
        }
    }
    /* Whatever is left is dropped, as when a peer goes away. */
    json_streamer_reset(js);
    json_streamer_free(js);
    return g_string_free(m.log, false);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autoptr(JsonValue) v = NULL;
    g_autofree char *whole = NULL;
    g_autofree char *bytes = NULL;
    g_autofree char *pieces = NULL;
    GError *err = NULL;

    /* The parser on its own. */
    v = json_parse((const char *)data, size, &err);
    if (v) {
        g_autoptr(JsonValue) copy = json_copy(v);

        check(json_equal(v, copy), "copy differs");
        check_round_trip(v);
    } else {
        check(err != NULL, "parse failed without an error");
        check(g_str_has_prefix(err->message, "JSON parse error, "),
              "parse error without its prefix");
        check(g_utf8_validate(err->message, -1, NULL),
              "error message is not UTF-8");
        g_error_free(err);
    }

    /* The streamer: the same result however the input is split. */
    whole = stream(data, size, 0);
    bytes = stream(data, size, 1);
    check(strcmp(whole, bytes) == 0, "byte-wise feed differs");
    pieces = stream(data, size, 7);
    check(strcmp(whole, pieces) == 0, "7-byte feed differs");
    return 0;
}
