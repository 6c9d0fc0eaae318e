/*
 * Option dictionaries of the block layer: flat "key" -> "value" string
 * tables as -drive, -blockdev and qemu-img's -o produce them, sizes with
 * qemu-img's suffixes, and iovec helpers.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "lemu/block/block.h"
#include "lemu/util/json.h"
#include "lemu/util/log.h"

GHashTable *block_opts_new(void)
{
    return g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
}

char *block_opts_take(GHashTable *options, const char *key)
{
    gpointer orig_key, value;

    if (!options ||
        !g_hash_table_lookup_extended(options, key, &orig_key, &value)) {
        return NULL;
    }
    g_hash_table_steal(options, key);
    g_free(orig_key);
    return value;
}

GHashTable *block_opts_extract_prefix(GHashTable *opts, const char *prefix)
{
    GHashTable *out = block_opts_new();
    g_autofree char *dotted = g_strconcat(prefix, ".", NULL);
    size_t plen = strlen(dotted);
    GHashTableIter it;
    gpointer key, value;

    g_hash_table_iter_init(&it, opts);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        if (g_str_has_prefix(key, dotted)) {
            g_hash_table_insert(out, g_strdup((char *)key + plen),
                                g_strdup(value));
            g_hash_table_iter_remove(&it);
        }
    }
    return out;
}

bool block_opts_take_bool(GHashTable *opts, const char *key, bool *out,
                          bool *present, GError **errp)
{
    g_autofree char *v = block_opts_take(opts, key);

    *present = v != NULL;
    if (!v) {
        return true;
    }
    if (!strcmp(v, "on") || !strcmp(v, "yes") || !strcmp(v, "true")) {
        *out = true;
    } else if (!strcmp(v, "off") || !strcmp(v, "no") ||
               !strcmp(v, "false")) {
        *out = false;
    } else {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "Parameter '%s' expects 'on' or 'off', not '%s'", key, v);
        return false;
    }
    return true;
}

bool block_opts_take_flags(GHashTable *opts, int *flags, GError **errp)
{
    g_autofree char *discard = block_opts_take(opts, "discard");
    g_autofree char *detect = block_opts_take(opts, "detect-zeroes");
    bool val, present;

    if (!block_opts_take_bool(opts, "read-only", &val, &present, errp)) {
        return false;
    }
    if (present) {
        *flags = val ? *flags & ~BDRV_O_RDWR : *flags | BDRV_O_RDWR;
    }
    /* Accepted for -blockdev compatibility; lemu never flips to r/o. */
    if (!block_opts_take_bool(opts, "auto-read-only", &val, &present, errp)) {
        return false;
    }
    if (!block_opts_take_bool(opts, "cache.direct", &val, &present, errp)) {
        return false;
    }
    if (present) {
        *flags = val ? *flags | BDRV_O_NOCACHE : *flags & ~BDRV_O_NOCACHE;
    }
    if (!block_opts_take_bool(opts, "cache.no-flush", &val, &present, errp)) {
        return false;
    }
    if (present) {
        *flags = val ? *flags | BDRV_O_NO_FLUSH : *flags & ~BDRV_O_NO_FLUSH;
    }
    if (!block_opts_take_bool(opts, "force-share", &val, &present, errp)) {
        return false;
    }
    if (present) {
        if (val && (*flags & BDRV_O_RDWR)) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "force-share=on can only be used with read-only "
                        "images");
            return false;
        }
        *flags = val ? *flags | BDRV_O_FORCE_SHARE :
                 *flags & ~BDRV_O_FORCE_SHARE;
    }
    if (discard) {
        if (!strcmp(discard, "ignore") || !strcmp(discard, "off")) {
            *flags &= ~BDRV_O_UNMAP;
        } else if (!strcmp(discard, "unmap") || !strcmp(discard, "on")) {
            *flags |= BDRV_O_UNMAP;
        } else {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "Invalid discard option '%s' (expected ignore or "
                        "unmap)", discard);
            return false;
        }
    }
    if (detect && strcmp(detect, "off") != 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_UNSUPPORTED,
                    "detect-zeroes=%s is not supported (lemu has: off)",
                    detect);
        return false;
    }
    return true;
}

/*
 * Copies one element of @str starting at @p up to the next single comma
 * (",," is a literal comma) into @out; returns where the next element
 * starts (past the comma) or NULL at the end.
 */
static const char *block_opts_next_element(const char *p, GString *out)
{
    g_string_truncate(out, 0);
    for (;;) {
        if (*p == '\0') {
            return NULL;
        }
        if (*p == ',') {
            if (p[1] == ',') {
                g_string_append_c(out, ',');
                p += 2;
                continue;
            }
            return p + 1;
        }
        g_string_append_c(out, *p++);
    }
}

bool block_opts_parse(GHashTable *opts, const char *str,
                      const char *implied_key, GError **errp)
{
    g_autoptr(GString) elem = g_string_new(NULL);
    const char *p = str;
    bool first = true;

    if (!str) {
        return true;
    }
    while (p) {
        const char *eq;

        p = block_opts_next_element(p, elem);
        if (elem->len == 0) {
            /* "a=1," or an empty string: nothing to add */
            first = false;
            continue;
        }
        eq = strchr(elem->str, '=');
        if (!eq) {
            if (first && implied_key) {
                g_hash_table_insert(opts, g_strdup(implied_key),
                                    g_strdup(elem->str));
            } else {
                /* A bare key is a flag that is on, as QEMU reads it. */
                g_hash_table_insert(opts, g_strdup(elem->str),
                                    g_strdup("on"));
            }
        } else if (eq == elem->str) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "'%s': missing key before '=' (expected "
                        "key=value)", elem->str);
            return false;
        } else {
            g_hash_table_insert(opts, g_strndup(elem->str, eq - elem->str),
                                g_strdup(eq + 1));
        }
        first = false;
    }
    return true;
}

/* Flattens a JSON object into dotted string keys. */
static bool block_opts_flatten_json(const JsonValue *obj, const char *prefix,
                                  GHashTable *opts, GError **errp)
{
    for (size_t i = 0; i < json_object_size(obj); i++) {
        const char *k = json_object_key_at(obj, i);
        JsonValue *v = json_object_value_at(obj, i);
        g_autofree char *key = prefix ? g_strconcat(prefix, ".", k, NULL) :
                                        g_strdup(k);
        char *s;

        switch (json_type(v)) {
        case JSON_OBJECT:
            if (!block_opts_flatten_json(v, key, opts, errp)) {
                return false;
            }
            continue;
        case JSON_STRING:
            s = g_strdup(json_get_string(v));
            break;
        case JSON_BOOL:
            s = g_strdup(json_get_bool(v) ? "on" : "off");
            break;
        case JSON_INT:
        case JSON_UINT: {
            uint64_t u;

            if (json_get_u64(v, &u)) {
                s = g_strdup_printf("%" G_GUINT64_FORMAT, u);
            } else {
                s = g_strdup_printf("%" G_GINT64_FORMAT, json_get_int(v));
            }
            break;
        }
        case JSON_DOUBLE:
            s = g_strdup_printf("%.17g", json_get_number(v));
            break;
        case JSON_NULL:
            s = g_strdup("null");
            break;
        default:
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_UNSUPPORTED,
                        "'%s': lists are not supported", key);
            return false;
        }
        g_hash_table_insert(opts, g_steal_pointer(&key), s);
    }
    return true;
}

bool block_opts_parse_json(GHashTable *opts, const char *json,
                           GError **errp)
{
    g_autoptr(JsonValue) v = json_parse(json, strlen(json), errp);

    if (!v) {
        return false;
    }
    if (json_type(v) != JSON_OBJECT) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "expected a JSON object, not %s",
                    json_type_name(json_type(v)));
        return false;
    }
    return block_opts_flatten_json(v, NULL, opts, errp);
}

/*
 * qemu-img's sizes: decimal or 0x hex bytes, or a number (with an
 * optional fraction) followed by one of b/B (bytes), k/K, M/m, G/g, T/t,
 * P/p, E/e (powers of 1024); at most INT64_MAX.
 */
bool block_parse_size(const char *s, uint64_t *out, GError **errp)
{
    const char *p = s;
    char *end;
    uint64_t mult = 1;
    double frac = 0;
    uint64_t whole;
    int shift = 0;

    if (!s || !*s || *s == '-' || *s == '+' || g_ascii_isspace(*s)) {
        goto invalid;
    }
    errno = 0;
    whole = g_ascii_strtoull(p, &end, 0);
    if (errno || end == p) {
        goto invalid;
    }
    p = end;
    if (*p == '.') {
        const char *f = p + 1;
        double scale = 0.1;

        if (!g_ascii_isdigit(*f)) {
            goto invalid;
        }
        while (g_ascii_isdigit(*f)) {
            frac += (*f - '0') * scale;
            scale /= 10;
            f++;
        }
        p = f;
        /* "1.5" alone is not a byte count */
        if (*p == '\0') {
            goto invalid;
        }
    }
    switch (g_ascii_tolower(*p)) {
    case '\0':
        break;
    case 'b': shift = 0; p++; break;
    case 'k': shift = 10; p++; break;
    case 'm': shift = 20; p++; break;
    case 'g': shift = 30; p++; break;
    case 't': shift = 40; p++; break;
    case 'p': shift = 50; p++; break;
    case 'e': shift = 60; p++; break;
    default:
        goto invalid;
    }
    if (*p != '\0') {
        goto invalid;
    }
    mult = 1ULL << shift;
    if (whole > (uint64_t)INT64_MAX / mult) {
        goto range;
    }
    whole *= mult;
    if (frac > 0) {
        double extra = frac * (double)mult;

        if ((double)whole + extra > (double)INT64_MAX) {
            goto range;
        }
        whole += (uint64_t)extra;
    }
    if (whole > (uint64_t)INT64_MAX) {
        goto range;
    }
    *out = whole;
    return true;

invalid:
    g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                "Invalid size '%s' (expected a number of bytes, optionally "
                "with a k, M, G, T, P or E suffix)", s ? s : "");
    return false;
range:
    g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                "Invalid size '%s': must be between 0 and %" G_GINT64_FORMAT,
                s, (gint64)INT64_MAX);
    return false;
}

uint64_t iov_size(const struct iovec *iov, int niov)
{
    uint64_t total = 0;

    for (int i = 0; i < niov; i++) {
        total += iov[i].iov_len;
    }
    return total;
}
