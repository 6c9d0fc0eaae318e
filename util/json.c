/*
 * JSON values: constructors, accessors, objects with a hash index for
 * large ones, comparison (see lemu/util/json.h). The parser, writer and
 * stream splitter are json-parser.c, json-writer.c and json-streamer.c.
 */
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include "util/json-internal.h"


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
ptrdiff_t json_object_find(const JsonValue *obj, const char *key)
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
void json_object_append(JsonValue *obj, char *key, JsonValue *v)
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

