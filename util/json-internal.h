/*
 * What the JSON files share (util/json.c: values; json-parser.c;
 * json-writer.c; json-streamer.c). Not part of the public API in
 * lemu/util/json.h.
 */
#ifndef LEMU_UTIL_JSON_INTERNAL_H
#define LEMU_UTIL_JSON_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "lemu/util/json.h"

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

/* The member of @obj with @key, or -1. */
ptrdiff_t json_object_find(const JsonValue *obj, const char *key);
/* Appends @key (taken) = @v (taken) without looking for @key first. */
void json_object_append(JsonValue *obj, char *key, JsonValue *v);

/* JSON's four whitespace bytes. */
bool json_is_space(char c);
/* The letter that escapes @c in the writer's output, or 0. */
char json_escape_letter(uint8_t c);

#endif
