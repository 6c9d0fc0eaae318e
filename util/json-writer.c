/*
 * The JSON writer: ASCII only, QEMU's separators, compact or indented.
 */
#include <math.h>
#include <string.h>
#include "util/json-internal.h"


static void append_string(GString *out, const char *s)
{
    const char *p = s;

    g_string_append_c(out, '"');
    while (*p) {
        uint8_t c = (uint8_t)*p;
        gunichar u;

        if (json_escape_letter(c)) {
            g_string_append_c(out, '\\');
            g_string_append_c(out, json_escape_letter(c));
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

