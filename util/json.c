/*
 * JSON values, parser, writer and stream splitter (see lemu/util/json.h).
 *
 * The parser is a recursive descent over a byte buffer with an explicit
 * depth bound. The streamer does not parse: it only tracks strings,
 * escapes and bracket depth to find where a message ends, stores at most
 * max_size bytes of it, and hands the complete message to json_parse().
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include "lemu/util/json.h"
#include "lemu/util/log.h"

/* Objects with at least this many members get a hash index. */
#define JSON_OBJECT_INDEX_MIN 16

typedef struct JsonMember {
    char *key;
    JsonValue *value;
} JsonMember;

/*
 * Open-addressing index of an object's members. The hash is SipHash-1-3
 * keyed per object, so a client cannot precompute keys that collide.
 * Slots hold member index + 1; 0 is empty.
 */
typedef struct JsonIndex {
    uint64_t k0, k1;
    size_t *slots;
    size_t nslots;            /* a power of two, at least 2 * members */
} JsonIndex;

struct JsonValue {
    JsonType type;
    union {
        bool b;
        int64_t i;
        uint64_t u;
        double d;
        char *s;
        struct {
            JsonValue **items;
            size_t len, cap;
        } arr;
        struct {
            JsonMember *members;
            size_t len, cap;
            JsonIndex *index;
        } obj;
    };
};

/* ---- SipHash-1-3 (Aumasson and Bernstein) ---- */

#define SIP_ROTL(x, b) (((x) << (b)) | ((x) >> (64 - (b))))

static void sip_round(uint64_t v[4])
{
    v[0] += v[1]; v[1] = SIP_ROTL(v[1], 13); v[1] ^= v[0];
    v[0] = SIP_ROTL(v[0], 32);
    v[2] += v[3]; v[3] = SIP_ROTL(v[3], 16); v[3] ^= v[2];
    v[0] += v[3]; v[3] = SIP_ROTL(v[3], 21); v[3] ^= v[0];
    v[2] += v[1]; v[1] = SIP_ROTL(v[1], 17); v[1] ^= v[2];
    v[2] = SIP_ROTL(v[2], 32);
}

static uint64_t siphash13(uint64_t k0, uint64_t k1, const char *data,
                          size_t len)
{
    const uint8_t *p = (const uint8_t *)data;
    uint64_t v[4] = {
        k0 ^ 0x736f6d6570736575ULL, k1 ^ 0x646f72616e646f6dULL,
        k0 ^ 0x6c7967656e657261ULL, k1 ^ 0x7465646279746573ULL,
    };
    size_t full = len & ~(size_t)7;
    uint64_t m;

    for (size_t i = 0; i < full; i += 8) {
        m = 0;
        for (int j = 7; j >= 0; j--) {
            m = (m << 8) | p[i + j];
        }
        v[3] ^= m;
        sip_round(v);
        v[0] ^= m;
    }
    m = (uint64_t)len << 56;
    for (size_t j = 0; j < (len & 7); j++) {
        m |= (uint64_t)p[full + j] << (8 * j);
    }
    v[3] ^= m;
    sip_round(v);
    v[0] ^= m;
    v[2] ^= 0xff;
    sip_round(v);
    sip_round(v);
    sip_round(v);
    return v[0] ^ v[1] ^ v[2] ^ v[3];
}

/* ---- constructors ---- */

static JsonValue *json_new(JsonType type)
{
    JsonValue *v = g_new0(JsonValue, 1);

    v->type = type;
    return v;
}

JsonValue *json_null(void)
{
    return json_new(JSON_NULL);
}

JsonValue *json_bool(bool b)
{
    JsonValue *v = json_new(JSON_BOOL);

    v->b = b;
    return v;
}

JsonValue *json_int(int64_t i)
{
    JsonValue *v = json_new(JSON_INT);

    v->i = i;
    return v;
}

JsonValue *json_uint(uint64_t u)
{
    JsonValue *v;

    if (u <= INT64_MAX) {
        return json_int((int64_t)u);
    }
    v = json_new(JSON_UINT);
    v->u = u;
    return v;
}

JsonValue *json_double(double d)
{
    JsonValue *v = json_new(JSON_DOUBLE);

    v->d = d;
    return v;
}

JsonValue *json_string_take(char *s)
{
    JsonValue *v = json_new(JSON_STRING);

    if (!s) {
        s = g_strdup("");
    } else if (!g_utf8_validate(s, -1, NULL)) {
        /* Keep the writer's output valid whatever a caller passes. */
        char *valid = g_utf8_make_valid(s, -1);

        g_free(s);
        s = valid;
    }
    v->s = s;
    return v;
}

JsonValue *json_string(const char *s)
{
    return json_string_take(g_strdup(s ? s : ""));
}

JsonValue *json_string_printf(const char *fmt, ...)
{
    va_list ap;
    char *s;

    va_start(ap, fmt);
    s = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    return json_string_take(s);
}

JsonValue *json_array(void)
{
    return json_new(JSON_ARRAY);
}

JsonValue *json_object(void)
{
    return json_new(JSON_OBJECT);
}

static void json_index_free(JsonIndex *idx)
{
    if (idx) {
        g_free(idx->slots);
        g_free(idx);
    }
}

void json_free(JsonValue *v)
{
    if (!v) {
        return;
    }
    switch (v->type) {
    case JSON_STRING:
        g_free(v->s);
        break;
    case JSON_ARRAY:
        for (size_t i = 0; i < v->arr.len; i++) {
            json_free(v->arr.items[i]);
        }
        g_free(v->arr.items);
        break;
    case JSON_OBJECT:
        for (size_t i = 0; i < v->obj.len; i++) {
            g_free(v->obj.members[i].key);
            json_free(v->obj.members[i].value);
        }
        g_free(v->obj.members);
        json_index_free(v->obj.index);
        break;
    default:
        break;
    }
    g_free(v);
}

JsonValue *json_copy(const JsonValue *v)
{
    JsonValue *c;

    if (!v) {
        return NULL;
    }
    switch (v->type) {
    case JSON_STRING:
        c = json_new(JSON_STRING);
        c->s = g_strdup(v->s);
        return c;
    case JSON_ARRAY:
        c = json_array();
        for (size_t i = 0; i < v->arr.len; i++) {
            json_array_append(c, json_copy(v->arr.items[i]));
        }
        return c;
    case JSON_OBJECT:
        c = json_object();
        for (size_t i = 0; i < v->obj.len; i++) {
            json_object_set(c, v->obj.members[i].key,
                            json_copy(v->obj.members[i].value));
        }
        return c;
    default:
        c = json_new(v->type);
        *c = *v;
        return c;
    }
}

JsonType json_type(const JsonValue *v)
{
    return v ? v->type : JSON_NULL;
}

const char *json_type_name(JsonType t)
{
    switch (t) {
    case JSON_NULL:
        return "null";
    case JSON_BOOL:
        return "boolean";
    case JSON_INT:
    case JSON_UINT:
        return "integer";
    case JSON_DOUBLE:
        return "number";
    case JSON_STRING:
        return "string";
    case JSON_ARRAY:
        return "array";
    case JSON_OBJECT:
        return "object";
    }
    return "unknown";
}

/* ---- accessors ---- */

bool json_get_bool(const JsonValue *v)
{
    return v && v->type == JSON_BOOL ? v->b : false;
}

int64_t json_get_int(const JsonValue *v)
{
    return v && v->type == JSON_INT ? v->i : 0;
}

bool json_get_u64(const JsonValue *v, uint64_t *out)
{
    if (v && v->type == JSON_INT && v->i >= 0) {
        *out = (uint64_t)v->i;
        return true;
    }
    if (v && v->type == JSON_UINT) {
        *out = v->u;
        return true;
    }
    return false;
}

bool json_get_i64_wrap(const JsonValue *v, int64_t *out)
{
    if (v && v->type == JSON_INT) {
        *out = v->i;
        return true;
    }
    if (v && v->type == JSON_UINT) {
        *out = (int64_t)v->u;
        return true;
    }
    return false;
}

double json_get_number(const JsonValue *v)
{
    if (!v) {
        return 0;
    }
    switch (v->type) {
    case JSON_INT:
        return (double)v->i;
    case JSON_UINT:
        return (double)v->u;
    case JSON_DOUBLE:
        return v->d;
    default:
        return 0;
    }
}

const char *json_get_string(const JsonValue *v)
{
    return v && v->type == JSON_STRING ? v->s : NULL;
}

size_t json_array_length(const JsonValue *arr)
{
    return arr && arr->type == JSON_ARRAY ? arr->arr.len : 0;
}

JsonValue *json_array_get(const JsonValue *arr, size_t i)
{
    if (!arr || arr->type != JSON_ARRAY || i >= arr->arr.len) {
        return NULL;
    }
    return arr->arr.items[i];
}

void json_array_append(JsonValue *arr, JsonValue *v)
{
    if (!arr || arr->type != JSON_ARRAY || !v) {
        json_free(v);
        return;
    }
    if (arr->arr.len == arr->arr.cap) {
        arr->arr.cap = arr->arr.cap ? arr->arr.cap * 2 : 4;
        arr->arr.items = g_renew(JsonValue *, arr->arr.items, arr->arr.cap);
    }
    arr->arr.items[arr->arr.len++] = v;
}

/* ---- objects and their index ---- */

size_t json_object_size(const JsonValue *obj)
{
    return obj && obj->type == JSON_OBJECT ? obj->obj.len : 0;
}

const char *json_object_key_at(const JsonValue *obj, size_t i)
{
    if (!obj || obj->type != JSON_OBJECT || i >= obj->obj.len) {
        return NULL;
    }
    return obj->obj.members[i].key;
}

JsonValue *json_object_value_at(const JsonValue *obj, size_t i)
{
    if (!obj || obj->type != JSON_OBJECT || i >= obj->obj.len) {
        return NULL;
    }
    return obj->obj.members[i].value;
}

static size_t json_index_slot_of(const JsonIndex *idx, const char *key)
{
    return siphash13(idx->k0, idx->k1, key, strlen(key)) & (idx->nslots - 1);
}

static void json_index_insert(JsonIndex *idx, const JsonMember *members,
                              size_t member)
{
    size_t slot = json_index_slot_of(idx, members[member].key);

    while (idx->slots[slot]) {
        slot = (slot + 1) & (idx->nslots - 1);
    }
    idx->slots[slot] = member + 1;
}

/* (Re)builds the index so that it has room for @want members. */
static void json_index_resize(JsonValue *obj, size_t want)
{
    JsonIndex *idx = obj->obj.index;

    if (!idx) {
        idx = g_new0(JsonIndex, 1);
        idx->k0 = ((uint64_t)g_random_int() << 32) | g_random_int();
        idx->k1 = ((uint64_t)g_random_int() << 32) | g_random_int();
        obj->obj.index = idx;
    }
    g_free(idx->slots);
    idx->nslots = 64;
    while (idx->nslots < want * 2) {
        idx->nslots *= 2;
    }
    idx->slots = g_new0(size_t, idx->nslots);
    for (size_t i = 0; i < obj->obj.len; i++) {
        json_index_insert(idx, obj->obj.members, i);
    }
}

/* The position of @key in @obj, or -1. */
static ptrdiff_t json_object_find(const JsonValue *obj, const char *key)
{
    const JsonIndex *idx = obj->obj.index;

    if (!idx) {
        for (size_t i = 0; i < obj->obj.len; i++) {
            if (strcmp(obj->obj.members[i].key, key) == 0) {
                return (ptrdiff_t)i;
            }
        }
        return -1;
    }
    for (size_t slot = json_index_slot_of(idx, key); idx->slots[slot];
         slot = (slot + 1) & (idx->nslots - 1)) {
        size_t i = idx->slots[slot] - 1;

        if (strcmp(obj->obj.members[i].key, key) == 0) {
            return (ptrdiff_t)i;
        }
    }
    return -1;
}

JsonValue *json_object_get(const JsonValue *obj, const char *key)
{
    ptrdiff_t i;

    if (!obj || obj->type != JSON_OBJECT || !key) {
        return NULL;
    }
    i = json_object_find(obj, key);
    return i < 0 ? NULL : obj->obj.members[i].value;
}

/* Appends a member whose key is known to be absent; takes @key and @v. */
static void json_object_append(JsonValue *obj, char *key, JsonValue *v)
{
    size_t n = obj->obj.len;

    if (n == obj->obj.cap) {
        obj->obj.cap = obj->obj.cap ? obj->obj.cap * 2 : 4;
        obj->obj.members = g_renew(JsonMember, obj->obj.members,
                                   obj->obj.cap);
    }
    obj->obj.members[n].key = key;
    obj->obj.members[n].value = v;
    obj->obj.len = n + 1;

    if (obj->obj.index) {
        if ((n + 1) * 2 > obj->obj.index->nslots) {
            json_index_resize(obj, n + 1);
        } else {
            json_index_insert(obj->obj.index, obj->obj.members, n);
        }
    } else if (n + 1 >= JSON_OBJECT_INDEX_MIN) {
        json_index_resize(obj, n + 1);
    }
}

void json_object_set(JsonValue *obj, const char *key, JsonValue *v)
{
    ptrdiff_t i;
    char *k;

    if (!obj || obj->type != JSON_OBJECT || !key || !v) {
        json_free(v);
        return;
    }
    i = json_object_find(obj, key);
    if (i >= 0) {
        json_free(obj->obj.members[i].value);
        obj->obj.members[i].value = v;
        return;
    }
    k = g_strdup(key);
    if (!g_utf8_validate(k, -1, NULL)) {
        char *valid = g_utf8_make_valid(k, -1);

        g_free(k);
        k = valid;
        /* Repaired, it may now equal an existing key. */
        i = json_object_find(obj, k);
        if (i >= 0) {
            g_free(k);
            json_free(obj->obj.members[i].value);
            obj->obj.members[i].value = v;
            return;
        }
    }
    json_object_append(obj, k, v);
}

void json_object_set_str(JsonValue *obj, const char *key, const char *s)
{
    json_object_set(obj, key, json_string(s));
}

void json_object_set_int(JsonValue *obj, const char *key, int64_t i)
{
    json_object_set(obj, key, json_int(i));
}

void json_object_set_bool(JsonValue *obj, const char *key, bool b)
{
    json_object_set(obj, key, json_bool(b));
}

const char *json_object_get_str(const JsonValue *obj, const char *key)
{
    return json_get_string(json_object_get(obj, key));
}

bool json_object_get_bool(const JsonValue *obj, const char *key, bool *out)
{
    JsonValue *v = json_object_get(obj, key);

    if (!v || v->type != JSON_BOOL) {
        return false;
    }
    *out = v->b;
    return true;
}

bool json_object_get_i64(const JsonValue *obj, const char *key,
                         int64_t *out)
{
    return json_get_i64_wrap(json_object_get(obj, key), out);
}

bool json_equal(const JsonValue *a, const JsonValue *b)
{
    if (!a || !b) {
        return a == b;
    }
    if (a->type != b->type) {
        return false;
    }
    switch (a->type) {
    case JSON_NULL:
        return true;
    case JSON_BOOL:
        return a->b == b->b;
    case JSON_INT:
        return a->i == b->i;
    case JSON_UINT:
        return a->u == b->u;
    case JSON_DOUBLE:
        return a->d == b->d || (isnan(a->d) && isnan(b->d));
    case JSON_STRING:
        return strcmp(a->s, b->s) == 0;
    case JSON_ARRAY:
        if (a->arr.len != b->arr.len) {
            return false;
        }
        for (size_t i = 0; i < a->arr.len; i++) {
            if (!json_equal(a->arr.items[i], b->arr.items[i])) {
                return false;
            }
        }
        return true;
    case JSON_OBJECT:
        if (a->obj.len != b->obj.len) {
            return false;
        }
        for (size_t i = 0; i < a->obj.len; i++) {
            if (!json_equal(a->obj.members[i].value,
                            json_object_get(b, a->obj.members[i].key))) {
                return false;
            }
        }
        return true;
    }
    return false;
}

/* ---- parser ---- */

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

static bool is_json_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void skip_space(JsonParser *jp)
{
    while (jp->p < jp->end && is_json_space(*jp->p)) {
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
static char escape_letter(uint8_t c)
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

/* ---- writer ---- */

static void append_string(GString *out, const char *s)
{
    const char *p = s;

    g_string_append_c(out, '"');
    while (*p) {
        uint8_t c = (uint8_t)*p;
        gunichar u;

        if (escape_letter(c)) {
            g_string_append_c(out, '\\');
            g_string_append_c(out, escape_letter(c));
            p++;
            continue;
        }
        if (c >= 0x20 && c < 0x7f) {
            g_string_append_c(out, (char)c);
            p++;
            continue;
        }
        if (c < 0x80) {
            u = c;
            p++;
        } else {
            u = g_utf8_get_char_validated(p, -1);
            if (u == (gunichar)-1 || u == (gunichar)-2) {
                /* Constructors validate; this is only a last defence. */
                u = 0xfffd;
                p++;
            } else {
                p = g_utf8_next_char(p);
            }
        }
        if (u > 0xffff) {
            u -= 0x10000;
            g_string_append_printf(out, "\\u%04X\\u%04X", 0xd800 + (u >> 10),
                                   0xdc00 + (u & 0x3ff));
        } else {
            g_string_append_printf(out, "\\u%04X", u);
        }
    }
    g_string_append_c(out, '"');
}

/* The shortest form that reads back as the same double, always with a
 * '.' or an exponent so that it reads back as a double, not an integer. */
static void append_double(GString *out, double d)
{
    char buf[G_ASCII_DTOSTR_BUF_SIZE];

    if (!isfinite(d)) {
        /* JSON has no NaN or infinity. */
        g_string_append(out, "null");
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        char fmt[8];

        g_snprintf(fmt, sizeof(fmt), "%%.%dg", prec);
        g_ascii_formatd(buf, sizeof(buf), fmt, d);
        if (g_ascii_strtod(buf, NULL) == d) {
            break;
        }
    }
    g_string_append(out, buf);
    if (!strpbrk(buf, ".eE")) {
        g_string_append(out, ".0");
    }
}

static void append_newline(GString *out, bool pretty, unsigned indent)
{
    if (pretty) {
        g_string_append_c(out, '\n');
        for (unsigned i = 0; i < indent; i++) {
            g_string_append(out, "    ");
        }
    }
}

static void append_value(GString *out, const JsonValue *v, bool pretty,
                         unsigned indent)
{
    const char *sep = "";

    if (!v) {
        g_string_append(out, "null");
        return;
    }
    switch (v->type) {
    case JSON_NULL:
        g_string_append(out, "null");
        break;
    case JSON_BOOL:
        g_string_append(out, v->b ? "true" : "false");
        break;
    case JSON_INT:
        g_string_append_printf(out, "%" G_GINT64_FORMAT, v->i);
        break;
    case JSON_UINT:
        g_string_append_printf(out, "%" G_GUINT64_FORMAT, v->u);
        break;
    case JSON_DOUBLE:
        append_double(out, v->d);
        break;
    case JSON_STRING:
        append_string(out, v->s);
        break;
    case JSON_ARRAY:
        g_string_append_c(out, '[');
        for (size_t i = 0; i < v->arr.len; i++) {
            g_string_append(out, sep);
            append_newline(out, pretty, indent + 1);
            append_value(out, v->arr.items[i], pretty, indent + 1);
            sep = pretty ? "," : ", ";
        }
        if (v->arr.len) {
            append_newline(out, pretty, indent);
        }
        g_string_append_c(out, ']');
        break;
    case JSON_OBJECT:
        g_string_append_c(out, '{');
        for (size_t i = 0; i < v->obj.len; i++) {
            g_string_append(out, sep);
            append_newline(out, pretty, indent + 1);
            append_string(out, v->obj.members[i].key);
            g_string_append(out, ": ");
            append_value(out, v->obj.members[i].value, pretty, indent + 1);
            sep = pretty ? "," : ", ";
        }
        if (v->obj.len) {
            append_newline(out, pretty, indent);
        }
        g_string_append_c(out, '}');
        break;
    }
}

void json_append(GString *out, const JsonValue *v, bool pretty)
{
    append_value(out, v, pretty, 0);
}

char *json_to_string(const JsonValue *v, bool pretty)
{
    GString *out = g_string_new(NULL);

    append_value(out, v, pretty, 0);
    return g_string_free(out, false);
}

/* ---- streamer ---- */

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
    return is_json_space(c) || c == '{' || c == '}' || c == '[' ||
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
    if (is_json_space(c)) {
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
