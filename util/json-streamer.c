/*
 * The JSON stream splitter. It does not parse: it only tracks strings,
 * escapes and bracket depth to find where a message ends, stores at most
 * max_size bytes of it, and hands the complete message to json_parse().
 */
#include <string.h>
#include "util/json-internal.h"
#include "lemu/util/log.h"


typedef enum {
    STREAM_IDLE,        /* between messages */
    STREAM_BARE,        /* a top-level number, keyword or stray bytes */
    STREAM_NESTED,      /* inside a top-level string, object or array */
} StreamMode;

struct JsonStreamer {
    size_t max_size;
    unsigned max_depth;
    JsonMessageFunc *cb;
    void *opaque;

    GString *buf;             /* the message so far, unless skipping */
    StreamMode mode;
    bool skipping;            /* over the limits: track, do not store */
    char quote;               /* the open string's quote, or 0 */
    bool escape;              /* the previous byte was a '\' in a string */
    size_t depth;
    unsigned generation;      /* bumped by json_streamer_reset() */
};

/* After a large message, do not keep its buffer for the next ones. */
#define STREAMER_KEEP_BUFFER (64 * 1024)

JsonStreamer *json_streamer_new(size_t max_size, unsigned max_depth,
                                JsonMessageFunc *cb, void *opaque)
{
    JsonStreamer *js = g_new0(JsonStreamer, 1);

    js->max_size = max_size ? max_size : 1;
    js->max_depth = MIN(MAX(max_depth, 1), JSON_MAX_DEPTH);
    js->cb = cb;
    js->opaque = opaque;
    js->buf = g_string_new(NULL);
    return js;
}

static void streamer_clear(JsonStreamer *js)
{
    if (js->buf->allocated_len > STREAMER_KEEP_BUFFER) {
        g_string_free(js->buf, true);
        js->buf = g_string_new(NULL);
    } else {
        g_string_truncate(js->buf, 0);
    }
    js->mode = STREAM_IDLE;
    js->skipping = false;
    js->quote = 0;
    js->escape = false;
    js->depth = 0;
}

/* The message in the buffer is complete (or broken off): parse it and
 * hand it out, unless it was already refused for its size or depth. */
static void streamer_emit(JsonStreamer *js)
{
    GError *err = NULL;
    JsonValue *v;

    if (js->skipping) {
        streamer_clear(js);
        return;
    }
    v = json_parse(js->buf->str, js->buf->len, &err);
    streamer_clear(js);
    js->cb(js->opaque, v, err);
}

static void streamer_refuse(JsonStreamer *js, GError *err)
{
    js->skipping = true;
    g_string_truncate(js->buf, 0);
    js->cb(js->opaque, NULL, err);
}

/* Stores @c; false if the message became too large (and is refused). */
static bool streamer_store(JsonStreamer *js, uint8_t c)
{
    if (js->skipping) {
        return true;
    }
    if (js->buf->len >= js->max_size) {
        streamer_refuse(js, g_error_new(LEMU_ERROR, LEMU_ERROR_INVALID,
                                        "JSON message too large (more than "
                                        "%zu bytes)", js->max_size));
        return false;
    }
    g_string_append_c(js->buf, (char)c);
    return true;
}

static bool ends_bare_token(uint8_t c)
{
    return json_is_space(c) || c == '{' || c == '}' || c == '[' ||
           c == ']' || c == '"' || c == '\'' || c == ',' || c == ':';
}

static void streamer_open_bracket(JsonStreamer *js)
{
    js->depth++;
    if (js->depth > js->max_depth && !js->skipping) {
        streamer_refuse(js, g_error_new(LEMU_ERROR, LEMU_ERROR_INVALID,
                                        "JSON nesting too deep (more than "
                                        "%u levels)", js->max_depth));
    }
}

static void streamer_byte_nested(JsonStreamer *js, uint8_t c)
{
    unsigned gen = js->generation;

    if (!streamer_store(js, c) && js->generation != gen) {
        return;
    }
    if (js->quote) {
        if (c == '\n') {
            /* A string cannot span lines: end the broken message now. */
            streamer_emit(js);
        } else if (js->escape) {
            js->escape = false;
        } else if (c == '\\') {
            js->escape = true;
        } else if (c == (uint8_t)js->quote) {
            js->quote = 0;
            if (js->depth == 0) {
                streamer_emit(js);
            }
        }
        return;
    }
    switch (c) {
    case '"':
    case '\'':
        js->quote = (char)c;
        break;
    case '{':
    case '[':
        streamer_open_bracket(js);
        break;
    case '}':
    case ']':
        if (--js->depth == 0) {
            streamer_emit(js);
        }
        break;
    }
}

/* Clients send these to force the parser back to a known state. */
static bool is_reset_byte(uint8_t c)
{
    return c == 0x04 || c == 0xff;
}

/*
 * Every 0x04 or 0xff gets exactly one error: that of the broken message
 * it ends, or a stray byte error of its own (as QEMU flags them).
 */
static void streamer_byte(JsonStreamer *js, uint8_t c)
{
    unsigned gen = js->generation;

    if (js->mode == STREAM_BARE) {
        if (!ends_bare_token(c) && !is_reset_byte(c)) {
            streamer_store(js, c);
            return;
        }
        streamer_emit(js);
        if (js->generation != gen) {
            return;
        }
        /* @c starts whatever comes next. */
    }
    if (js->mode == STREAM_NESTED) {
        if (!is_reset_byte(c)) {
            streamer_byte_nested(js, c);
            return;
        }
        if (!js->skipping) {
            streamer_emit(js);
            return;
        }
        /* Its error was sent already; this byte gets one of its own. */
        streamer_clear(js);
    }

    /* Between messages. */
    if (json_is_space(c)) {
        return;
    }
    g_string_append_c(js->buf, (char)c);
    switch (c) {
    case '{':
    case '[':
        js->mode = STREAM_NESTED;
        streamer_open_bracket(js);
        break;
    case '"':
    case '\'':
        js->mode = STREAM_NESTED;
        js->quote = (char)c;
        break;
    case '}':
    case ']':
    case ',':
    case ':':
    case 0x04:
    case 0xff:
        /* Cannot start a value: an error of its own. */
        streamer_emit(js);
        break;
    default:
        js->mode = STREAM_BARE;
        break;
    }
}

void json_streamer_feed(JsonStreamer *js, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    unsigned gen = js->generation;

    /* A reset from inside the callback means the peer is gone: the rest
     * of its bytes are dropped too. */
    for (size_t i = 0; i < len && js->generation == gen; i++) {
        streamer_byte(js, p[i]);
    }
}

void json_streamer_reset(JsonStreamer *js)
{
    streamer_clear(js);
    js->generation++;
}

void json_streamer_free(JsonStreamer *js)
{
    if (js) {
        g_string_free(js->buf, true);
        g_free(js);
    }
}
