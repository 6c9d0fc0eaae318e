/*
 * The JSON parser (QEMU's dialect: also single-quoted strings): a
 * recursive descent over a byte buffer with an explicit depth bound.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include "util/json-internal.h"
#include "lemu/util/log.h"


typedef struct JsonParser {
    const char *p;
    const char *end;
    unsigned depth;
} JsonParser;

static void G_GNUC_PRINTF(2, 3)
parse_error(GError **errp, const char *fmt, ...)
{
    va_list ap;
    char *what;

    va_start(ap, fmt);
    what = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID, "JSON parse error, %s",
                what);
    g_free(what);
}

/* A byte for an error message: the character if printable ASCII. */
static void parse_error_stray(GError **errp, uint8_t c)
{
    if (c >= 0x20 && c < 0x7f) {
        parse_error(errp, "stray '%c'", c);
    } else {
        parse_error(errp, "stray byte 0x%02x", c);
    }
}

bool json_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void skip_space(JsonParser *jp)
{
    while (jp->p < jp->end && json_is_space(*jp->p)) {
        jp->p++;
    }
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Reads the 4 hex digits of a \u escape at jp->p; -1 if malformed. */
static int parse_hex4(JsonParser *jp)
{
    int cp = 0;

    if (jp->end - jp->p < 4) {
        return -1;
    }
    for (int i = 0; i < 4; i++) {
        int h = hex_value(jp->p[i]);

        if (h < 0) {
            return -1;
        }
        cp = cp << 4 | h;
    }
    jp->p += 4;
    return cp;
}

/* After the "\u" of an escape: appends the code point to @s. */
static bool parse_unicode_escape(JsonParser *jp, GString *s, GError **errp)
{
    int cp = parse_hex4(jp);

    if (cp < 0) {
        parse_error(errp, "\\u must be followed by four hex digits");
        return false;
    }
    if (cp == 0) {
        parse_error(errp, "\\u0000 is not supported");
        return false;
    }
    if (cp >= 0xdc00 && cp <= 0xdfff) {
        parse_error(errp, "\\u%04X is a trailing surrogate without a "
                    "leading one", cp);
        return false;
    }
    if (cp >= 0xd800 && cp <= 0xdbff) {
        int low = -1;

        if (jp->end - jp->p >= 2 && jp->p[0] == '\\' && jp->p[1] == 'u') {
            jp->p += 2;
            low = parse_hex4(jp);
        }
        if (low < 0xdc00 || low > 0xdfff) {
            parse_error(errp, "\\u%04X is not followed by a trailing "
                        "surrogate", cp);
            return false;
        }
        cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
    }
    g_string_append_unichar(s, (gunichar)cp);
    return true;
}

/*
 * The two-character escapes: the letter after the '\\' and the character
 * it stands for. The writer uses the first seven; '/' and '\'' are only
 * read (the latter in QEMU's single-quoted strings, and in both kinds).
 */
static const char json_escapes[][2] = {
    { '"', '"' }, { '\\', '\\' }, { 'b', '\b' }, { 'f', '\f' },
    { 'n', '\n' }, { 'r', '\r' }, { 't', '\t' }, { '/', '/' }, { '\'', '\'' },
};

/* What "\\@letter" stands for, or 0 if it is no escape (or \\u). */
static char unescape(char letter)
{
    for (size_t i = 0; i < G_N_ELEMENTS(json_escapes); i++) {
        if (json_escapes[i][0] == letter) {
            return json_escapes[i][1];
        }
    }
    return 0;
}

/* The letter that escapes @c in the writer's output, or 0. */
char json_escape_letter(uint8_t c)
{
    for (size_t i = 0; i < 7; i++) {
        if ((uint8_t)json_escapes[i][1] == c) {
            return json_escapes[i][0];
        }
    }
    return 0;
}

/* A string in double or single quotes, at jp->p. */
static char *parse_string(JsonParser *jp, GError **errp)
{
    char quote = *jp->p++;
    GString *s = g_string_new(NULL);

    for (;;) {
        uint8_t c;

        if (jp->p >= jp->end) {
            parse_error(errp, "unterminated string");
            goto fail;
        }
        c = (uint8_t)*jp->p;
        if (c == (uint8_t)quote) {
            jp->p++;
            return g_string_free(s, false);
        }
        if (c == '\\') {
            char e;

            if (jp->end - jp->p < 2) {
                parse_error(errp, "unterminated string");
                goto fail;
            }
            e = jp->p[1];
            jp->p += 2;
            if (e == 'u') {
                if (!parse_unicode_escape(jp, s, errp)) {
                    goto fail;
                }
            } else if (unescape(e)) {
                g_string_append_c(s, unescape(e));
            } else {
                if ((uint8_t)e >= 0x20 && (uint8_t)e < 0x7f) {
                    parse_error(errp, "invalid escape '\\%c' in string", e);
                } else {
                    parse_error(errp, "invalid escape in string (byte 0x%02x "
                                "after '\\')", (uint8_t)e);
                }
                goto fail;
            }
        } else if (c < 0x20) {
            if (c == '\n') {
                parse_error(errp, "newline in string");
            } else {
                parse_error(errp, "control character 0x%02x in string", c);
            }
            goto fail;
        } else if (c < 0x80) {
            g_string_append_c(s, (char)c);
            jp->p++;
        } else {
            /* Rejects overlong forms, surrogates, > U+10FFFF, truncation. */
            gunichar u = g_utf8_get_char_validated(jp->p, jp->end - jp->p);
            int n;

            if (u == (gunichar)-1 || u == (gunichar)-2) {
                parse_error(errp, "invalid UTF-8 sequence in string");
                goto fail;
            }
            n = g_utf8_skip[c];
            g_string_append_len(s, jp->p, n);
            jp->p += n;
        }
    }
fail:
    g_string_free(s, true);
    return NULL;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static JsonValue *parse_number(JsonParser *jp, GError **errp)
{
    const char *start = jp->p;
    const char *p = jp->p;
    bool integer = true;
    char *text;
    JsonValue *v = NULL;

    if (p < jp->end && *p == '-') {
        p++;
    }
    if (p >= jp->end || !is_digit(*p)) {
        parse_error(errp, "invalid number, expected a digit after '-'");
        return NULL;
    }
    if (*p == '0') {
        p++;
    } else {
        while (p < jp->end && is_digit(*p)) {
            p++;
        }
    }
    if (p < jp->end && *p == '.') {
        integer = false;
        p++;
        if (p >= jp->end || !is_digit(*p)) {
            parse_error(errp, "invalid number, expected a digit after '.'");
            return NULL;
        }
        while (p < jp->end && is_digit(*p)) {
            p++;
        }
    }
    if (p < jp->end && (*p == 'e' || *p == 'E')) {
        integer = false;
        p++;
        if (p < jp->end && (*p == '+' || *p == '-')) {
            p++;
        }
        if (p >= jp->end || !is_digit(*p)) {
            parse_error(errp, "invalid number, expected a digit in the "
                        "exponent");
            return NULL;
        }
        while (p < jp->end && is_digit(*p)) {
            p++;
        }
    }
    jp->p = p;

    text = g_strndup(start, p - start);
    if (integer) {
        char *endp;
        gint64 i;

        errno = 0;
        i = g_ascii_strtoll(text, &endp, 10);
        if (errno == 0) {
            v = json_int(i);
        } else if (text[0] != '-') {
            guint64 u;

            errno = 0;
            u = g_ascii_strtoull(text, &endp, 10);
            if (errno == 0) {
                v = json_uint(u);
            }
        }
    }
    if (!v) {
        double d = g_ascii_strtod(text, NULL);

        if (isinf(d)) {
            parse_error(errp, "number %.32s%s is out of range",
                        text, strlen(text) > 32 ? "..." : "");
        } else {
            v = json_double(d);
        }
    }
    g_free(text);
    return v;
}

static bool is_word_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) ||
           c == '_';
}

static JsonValue *parse_keyword(JsonParser *jp, GError **errp)
{
    const char *start = jp->p;
    size_t n;

    while (jp->p < jp->end && is_word_char(*jp->p)) {
        jp->p++;
    }
    n = jp->p - start;
    if (n == 4 && memcmp(start, "true", 4) == 0) {
        return json_bool(true);
    }
    if (n == 5 && memcmp(start, "false", 5) == 0) {
        return json_bool(false);
    }
    if (n == 4 && memcmp(start, "null", 4) == 0) {
        return json_null();
    }
    parse_error(errp, "invalid keyword '%.*s%s'", (int)MIN(n, 32), start,
                n > 32 ? "..." : "");
    return NULL;
}

static JsonValue *parse_value(JsonParser *jp, GError **errp);

/* For error messages: @key shortened to 32 characters. */
static char *short_key(const char *key)
{
    char *head, *s;

    if (g_utf8_strlen(key, -1) <= 32) {
        return g_strdup(key);
    }
    head = g_utf8_substring(key, 0, 32);
    s = g_strconcat(head, "...", NULL);
    g_free(head);
    return s;
}

static JsonValue *parse_object(JsonParser *jp, GError **errp)
{
    JsonValue *obj = json_object();

    jp->p++;                      /* '{' */
    skip_space(jp);
    if (jp->p < jp->end && *jp->p == '}') {
        jp->p++;
        return obj;
    }
    for (;;) {
        char *key;
        JsonValue *v;

        skip_space(jp);
        if (jp->p >= jp->end) {
            parse_error(errp, "unexpected end of input in object");
            goto fail;
        }
        if (*jp->p != '"' && *jp->p != '\'') {
            parse_error(errp, "key is not a string in object");
            goto fail;
        }
        key = parse_string(jp, errp);
        if (!key) {
            goto fail;
        }
        if (json_object_find(obj, key) >= 0) {
            char *k = short_key(key);

            parse_error(errp, "duplicate key '%s' in object", k);
            g_free(k);
            g_free(key);
            goto fail;
        }
        skip_space(jp);
        if (jp->p >= jp->end || *jp->p != ':') {
            parse_error(errp, "missing ':' after key in object");
            g_free(key);
            goto fail;
        }
        jp->p++;
        v = parse_value(jp, errp);
        if (!v) {
            g_free(key);
            goto fail;
        }
        json_object_append(obj, key, v);
        skip_space(jp);
        if (jp->p < jp->end && *jp->p == ',') {
            jp->p++;
        } else if (jp->p < jp->end && *jp->p == '}') {
            jp->p++;
            return obj;
        } else if (jp->p >= jp->end) {
            parse_error(errp, "unexpected end of input in object");
            goto fail;
        } else {
            parse_error(errp, "expected ',' or '}' after a member of an "
                        "object");
            goto fail;
        }
    }
fail:
    json_free(obj);
    return NULL;
}

static JsonValue *parse_array(JsonParser *jp, GError **errp)
{
    JsonValue *arr = json_array();

    jp->p++;                      /* '[' */
    skip_space(jp);
    if (jp->p < jp->end && *jp->p == ']') {
        jp->p++;
        return arr;
    }
    for (;;) {
        JsonValue *v = parse_value(jp, errp);

        if (!v) {
            goto fail;
        }
        json_array_append(arr, v);
        skip_space(jp);
        if (jp->p < jp->end && *jp->p == ',') {
            jp->p++;
        } else if (jp->p < jp->end && *jp->p == ']') {
            jp->p++;
            return arr;
        } else if (jp->p >= jp->end) {
            parse_error(errp, "unexpected end of input in array");
            goto fail;
        } else {
            parse_error(errp, "expected ',' or ']' after an element of an "
                        "array");
            goto fail;
        }
    }
fail:
    json_free(arr);
    return NULL;
}

static JsonValue *parse_value(JsonParser *jp, GError **errp)
{
    JsonValue *v;
    char *s;
    uint8_t c;

    skip_space(jp);
    if (jp->p >= jp->end) {
        parse_error(errp, "expecting value, got end of input");
        return NULL;
    }
    c = (uint8_t)*jp->p;
    switch (c) {
    case '{':
    case '[':
        if (jp->depth >= JSON_MAX_DEPTH) {
            parse_error(errp, "nesting too deep (more than %d levels)",
                        JSON_MAX_DEPTH);
            return NULL;
        }
        jp->depth++;
        v = c == '{' ? parse_object(jp, errp) : parse_array(jp, errp);
        jp->depth--;
        return v;
    case '"':
    case '\'':
        s = parse_string(jp, errp);
        return s ? json_string_take(s) : NULL;
    case '-':
    case '0' ... '9':
        return parse_number(jp, errp);
    case '}':
    case ']':
    case ',':
    case ':':
        parse_error(errp, "expecting value, got '%c'", c);
        return NULL;
    default:
        if (is_word_char(c)) {
            return parse_keyword(jp, errp);
        }
        parse_error_stray(errp, c);
        return NULL;
    }
}

JsonValue *json_parse(const char *text, size_t len, GError **errp)
{
    JsonParser jp = { .p = "", .end = "" };
    JsonValue *v;

    if (text) {
        jp.p = text;
        jp.end = text + len;
    }
    v = parse_value(&jp, errp);
    if (!v) {
        return NULL;
    }
    skip_space(&jp);
    if (jp.p < jp.end) {
        parse_error(errp, "unexpected content after the value");
        json_free(v);
        return NULL;
    }
    return v;
}

