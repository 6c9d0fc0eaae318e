/*
 * JSON values, a parser, a writer and a stream splitter, for the QMP
 * monitor (and later -blockdev's JSON form).
 *
 * The dialect is QEMU's: RFC 8259 plus single-quoted strings. Integers
 * that fit int64 are JSON_INT, larger non-negative ones that fit uint64
 * are JSON_UINT, everything else with a fraction or exponent (or out of
 * range) is JSON_DOUBLE. Strings are UTF-8 without NUL ("\u0000" and
 * invalid UTF-8 are parse errors), so they are plain C strings. Objects
 * keep their members in insertion order and refuse duplicate keys.
 *
 * The writer emits ASCII only (non-ASCII as \uXXXX, surrogate pairs above
 * U+FFFF), with QEMU's separators ", " and ": ", or indented with four
 * spaces when pretty.
 *
 * Everything here is bounded: the parser refuses nesting deeper than
 * JSON_MAX_DEPTH, and the streamer refuses messages larger than its
 * max_size, skipping the rest of such a message without storing it.
 */
#ifndef LEMU_UTIL_JSON_H
#define LEMU_UTIL_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <glib.h>

#define JSON_MAX_DEPTH 1024

typedef enum {
    JSON_NULL,
    JSON_BOOL,
    JSON_INT,       /* int64_t */
    JSON_UINT,      /* uint64_t above INT64_MAX */
    JSON_DOUBLE,
    JSON_STRING,
    JSON_ARRAY,
    JSON_OBJECT,
} JsonType;

typedef struct JsonValue JsonValue;

/* Constructors; every value is owned by whoever holds the pointer until
 * it is given to a container or freed with json_free(). */
JsonValue *json_null(void);
JsonValue *json_bool(bool b);
JsonValue *json_int(int64_t i);
JsonValue *json_uint(uint64_t u);   /* JSON_INT when it fits int64 */
JsonValue *json_double(double d);
JsonValue *json_string(const char *s);   /* copies; must be valid UTF-8 */
JsonValue *json_string_take(char *s);    /* takes a g_malloc'd string */
JsonValue *json_string_printf(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
JsonValue *json_array(void);
JsonValue *json_object(void);
void json_free(JsonValue *v);
JsonValue *json_copy(const JsonValue *v);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(JsonValue, json_free)

JsonType json_type(const JsonValue *v);
/* "null", "boolean", "integer", "number", "string", "array", "object"
 * (JSON_INT and JSON_UINT are both "integer", JSON_DOUBLE "number"). */
const char *json_type_name(JsonType t);

/* Accessors: the caller checks the type first (they return 0/NULL/false
 * on a mismatch, never abort). */
bool json_get_bool(const JsonValue *v);
int64_t json_get_int(const JsonValue *v);            /* JSON_INT */
/* JSON_INT >= 0 or JSON_UINT; false for anything else. */
bool json_get_u64(const JsonValue *v, uint64_t *out);
/* Any JSON_INT/JSON_UINT as int64 with two's-complement wrap for UINT
 * (QEMU accepts both for 64-bit addresses); false if not an integer. */
bool json_get_i64_wrap(const JsonValue *v, int64_t *out);
double json_get_number(const JsonValue *v);          /* any number */
const char *json_get_string(const JsonValue *v);     /* JSON_STRING */

size_t json_array_length(const JsonValue *arr);
JsonValue *json_array_get(const JsonValue *arr, size_t i);
void json_array_append(JsonValue *arr, JsonValue *v);   /* takes @v */

size_t json_object_size(const JsonValue *obj);
const char *json_object_key_at(const JsonValue *obj, size_t i);
JsonValue *json_object_value_at(const JsonValue *obj, size_t i);
JsonValue *json_object_get(const JsonValue *obj, const char *key);
/* Adds @key (copied) with @v (taken); replaces an existing member in
 * place, keeping its position. */
void json_object_set(JsonValue *obj, const char *key, JsonValue *v);
void json_object_set_str(JsonValue *obj, const char *key, const char *s);
void json_object_set_int(JsonValue *obj, const char *key, int64_t i);
void json_object_set_bool(JsonValue *obj, const char *key, bool b);
/* Typed lookups: NULL/false when absent or of another type. */
const char *json_object_get_str(const JsonValue *obj, const char *key);
bool json_object_get_bool(const JsonValue *obj, const char *key,
                          bool *out);
bool json_object_get_i64(const JsonValue *obj, const char *key,
                         int64_t *out);   /* json_get_i64_wrap rules */

/* Same type and value; objects compare as sets of members (order
 * ignored), arrays element by element. */
bool json_equal(const JsonValue *a, const JsonValue *b);

/* Parses exactly one JSON value from @text[0..@len) (whitespace around
 * it allowed). Errors (LEMU_ERROR_INVALID) read "JSON parse error, ...". */
JsonValue *json_parse(const char *text, size_t len, GError **errp);

/* Appends @v to @out; pretty: newlines and 4-space indentation. */
void json_append(GString *out, const JsonValue *v, bool pretty);
char *json_to_string(const JsonValue *v, bool pretty);

/*
 * The stream splitter: bytes in, complete top-level values out. It tracks
 * strings, escapes and bracket depth to find where each message ends, so
 * a message may arrive split over many feeds and several may come in one.
 *
 * For each message the callback gets the parsed value (and err NULL) or
 * NULL and an error: malformed JSON, a message larger than @max_size
 * bytes, nesting deeper than @max_depth. After an error the splitter
 * resynchronises: an oversized message is skipped to its end without
 * being stored; a raw newline inside a string, or a 0x04 or 0xff byte
 * anywhere, ends the broken message at once (so a client typing by hand
 * gets its error when it presses Enter). Every 0x04 or 0xff gets exactly
 * one error (that of the message it breaks off, or a stray-byte error of
 * its own), as QEMU flags them. Whitespace between messages is ignored.
 * The callback owns both arguments; it must not free the streamer. If it
 * calls json_streamer_reset(), the rest of the current feed is dropped.
 */
typedef void JsonMessageFunc(void *opaque, JsonValue *msg, GError *err);
typedef struct JsonStreamer JsonStreamer;

JsonStreamer *json_streamer_new(size_t max_size, unsigned max_depth,
                                JsonMessageFunc *cb, void *opaque);
void json_streamer_feed(JsonStreamer *js, const void *buf, size_t len);
/* Drops a partial message (the peer went away). */
void json_streamer_reset(JsonStreamer *js);
void json_streamer_free(JsonStreamer *js);

#endif
