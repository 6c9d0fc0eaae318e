/*
 * Option strings in QEMU's "key=value,key2=value2" syntax, and the value
 * parsers (bool, unsigned number, size) that command-line options share.
 */
#include <string.h>

#include "lemu/util/log.h"
#include "lemu/util/opts.h"

struct LemuOpts {
    char *name;               /* e.g. "-device" */
    char *implied_key;        /* NULL if every element needs a key */
    GPtrArray *keys;          /* char *, in first-seen order */
    GPtrArray *values;        /* char *, same index as keys */
};

static const char size_expected[] =
    "expected a number with an optional K, M, G or T suffix";

static LemuOpts *opts_new(const char *optname, const char *implied_key)
{
    LemuOpts *opts = g_new0(LemuOpts, 1);

    opts->name = g_strdup(optname);
    opts->implied_key = g_strdup(implied_key);
    opts->keys = g_ptr_array_new_with_free_func(g_free);
    opts->values = g_ptr_array_new_with_free_func(g_free);
    return opts;
}

void opts_free(LemuOpts *opts)
{
    if (!opts) {
        return;
    }
    g_ptr_array_free(opts->keys, TRUE);
    g_ptr_array_free(opts->values, TRUE);
    g_free(opts->implied_key);
    g_free(opts->name);
    g_free(opts);
}

/*
 * Reads one key or value at *@p up to the next single ',' (or, for a key,
 * '='), turning ",," into ','. Leaves *@p on the terminator.
 */
static char *read_token(const char **p, bool stop_at_equals)
{
    GString *s = g_string_new(NULL);
    const char *c = *p;

    while (*c) {
        if (c[0] == ',') {
            if (c[1] != ',') {
                break;
            }
            g_string_append_c(s, ',');
            c += 2;
            continue;
        }
        if (stop_at_equals && c[0] == '=') {
            break;
        }
        g_string_append_c(s, *c++);
    }
    *p = c;
    return g_string_free(s, FALSE);
}

/*
 * Parses the element at *@p and adds it to @opts; *@p is left on the ','
 * that ends it or on the final NUL.
 */
static bool opts_parse_element(LemuOpts *opts, const char **p, bool first,
                               const char *str, GError **errp)
{
    const char *start = *p;
    g_autofree char *key = read_token(p, true);
    g_autofree char *value = NULL;

    if (**p == '=') {
        (*p)++;
        value = read_token(p, false);
    }
    if (*p == start) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: empty element in '%s' (expected key=value)",
                    opts->name, str);
        return false;
    }
    if (!value) {
        if (!first || !opts->implied_key) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "%s: '%.*s' is not key=value", opts->name,
                        (int)(*p - start), start);
            return false;
        }
        opts_set(opts, opts->implied_key, key);
        return true;
    }
    if (!*key) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: '%.*s' has an empty key (expected key=value)",
                    opts->name, (int)(*p - start), start);
        return false;
    }
    opts_set(opts, key, value);
    return true;
}

LemuOpts *opts_parse(const char *optname, const char *str,
                     const char *implied_key, GError **errp)
{
    LemuOpts *opts;
    const char *p = str;

    if (!str || !*str) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: empty argument (expected key=value,...)", optname);
        return NULL;
    }
    opts = opts_new(optname, implied_key);
    for (bool first = true; ; first = false) {
        if (!opts_parse_element(opts, &p, first, str, errp)) {
            opts_free(opts);
            return NULL;
        }
        if (!*p) {
            return opts;
        }
        p++;    /* the ',' between elements */
    }
}

const char *opts_name(LemuOpts *opts)
{
    return opts->name;
}

static int opts_find(LemuOpts *opts, const char *key)
{
    for (guint i = 0; i < opts->keys->len; i++) {
        if (strcmp(opts->keys->pdata[i], key) == 0) {
            return i;
        }
    }
    return -1;
}

const char *opts_get(LemuOpts *opts, const char *key)
{
    int i = opts_find(opts, key);

    return i < 0 ? NULL : opts->values->pdata[i];
}

bool opts_has(LemuOpts *opts, const char *key)
{
    return opts_find(opts, key) >= 0;
}

guint opts_count(LemuOpts *opts)
{
    return opts->keys->len;
}

const char *opts_key_at(LemuOpts *opts, guint i)
{
    g_return_val_if_fail(i < opts->keys->len, NULL);
    return opts->keys->pdata[i];
}

const char *opts_value_at(LemuOpts *opts, guint i)
{
    g_return_val_if_fail(i < opts->values->len, NULL);
    return opts->values->pdata[i];
}

void opts_set(LemuOpts *opts, const char *key, const char *value)
{
    int i = opts_find(opts, key);

    if (i >= 0) {
        g_free(opts->values->pdata[i]);
        opts->values->pdata[i] = g_strdup(value);
    } else {
        g_ptr_array_add(opts->keys, g_strdup(key));
        g_ptr_array_add(opts->values, g_strdup(value));
    }
}

/*
 * What an error about @key calls it: "-device isa-debug-exit: parameter
 * 'iobase'", or just "-m" for the implied key itself ("-m 12Q").
 */
static char *opts_describe_key(LemuOpts *opts, const char *key)
{
    const char *implied = opts->implied_key ?
                          opts_get(opts, opts->implied_key) : NULL;

    if (opts->implied_key && strcmp(key, opts->implied_key) == 0) {
        return g_strdup(opts->name);
    }
    if (implied) {
        return g_strdup_printf("%s %s: parameter '%s'", opts->name, implied,
                               key);
    }
    return g_strdup_printf("%s: parameter '%s'", opts->name, key);
}

/* Looks @key up for a typed getter: true with *v NULL when absent, the
 * error message prefix ("-device loader: 'addr'") in *what otherwise. */
static const char *opts_lookup_typed(LemuOpts *opts, const char *key,
                                     char **what)
{
    const char *v = opts_get(opts, key);

    *what = v ? opts_describe_key(opts, key) : NULL;
    return v;
}

bool opts_get_bool(LemuOpts *opts, const char *key, bool def, bool *out,
                   GError **errp)
{
    g_autofree char *what = NULL;
    const char *v = opts_lookup_typed(opts, key, &what);

    *out = def;
    return !v || parse_bool(what, v, out, errp);
}

bool opts_get_u64(LemuOpts *opts, const char *key, uint64_t def,
                  uint64_t *out, GError **errp)
{
    g_autofree char *what = NULL;
    const char *v = opts_lookup_typed(opts, key, &what);

    *out = def;
    return !v || parse_u64(what, v, out, errp);
}

bool opts_get_size(LemuOpts *opts, const char *key, uint64_t def,
                   uint64_t *out, GError **errp)
{
    g_autofree char *what = NULL;
    const char *v = opts_lookup_typed(opts, key, &what);

    *out = def;
    return !v || parse_size(what, v, 1, out, errp);
}

bool opts_check_keys(LemuOpts *opts, const char *const *known,
                     GError **errp)
{
    for (guint i = 0; i < opts->keys->len; i++) {
        const char *key = opts->keys->pdata[i];
        bool found = false;

        /* The implied key is part of the option's syntax, always allowed. */
        if (opts->implied_key && strcmp(key, opts->implied_key) == 0) {
            continue;
        }
        for (const char *const *k = known; k && *k; k++) {
            if (strcmp(key, *k) == 0) {
                found = true;
                break;
            }
        }
        if (!found) {
            const char *implied = opts->implied_key ?
                                  opts_get(opts, opts->implied_key) : NULL;

            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "%s%s%s: unknown parameter '%s'", opts->name,
                        implied ? " " : "", implied ? implied : "", key);
            return false;
        }
    }
    return true;
}

/* ---- value parsers ---- */

bool parse_bool(const char *what, const char *str, bool *out, GError **errp)
{
    static const char *const yes[] = { "on", "yes", "true" };
    static const char *const no[] = { "off", "no", "false" };

    for (size_t i = 0; str && i < G_N_ELEMENTS(yes); i++) {
        if (strcmp(str, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcmp(str, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                "%s: '%s' is not a bool (expected on, off, yes, no, true "
                "or false)", what, str ? str : "");
    return false;
}

/*
 * Reads the digits of an unsigned number at *@p in base 10 or 16 into @out.
 * Returns false on overflow; *@p is left after the last digit.
 */
static bool read_digits(const char **p, unsigned base, uint64_t *out)
{
    const char *c = *p;
    uint64_t v = 0;
    bool ok = true;

    for (;; c++) {
        int d = base == 16 ? g_ascii_xdigit_value(*c) :
                             g_ascii_digit_value(*c);

        if (d < 0) {
            break;
        }
        if (__builtin_mul_overflow(v, base, &v) ||
            __builtin_add_overflow(v, (uint64_t)d, &v)) {
            ok = false;
        }
    }
    *p = c;
    *out = v;
    return ok;
}

static bool is_hex_prefix(const char *s)
{
    return s[0] == '0' && (s[1] == 'x' || s[1] == 'X') &&
           g_ascii_isxdigit(s[2]);
}

bool parse_u64(const char *what, const char *str, uint64_t *out,
               GError **errp)
{
    const char *p = str;
    uint64_t v;
    bool ok;

    /* A leading digit rules out "", "-1", "+1" and leading blanks. */
    if (!str || !g_ascii_isdigit(*str)) {
        goto bad;
    }
    if (is_hex_prefix(p)) {
        p += 2;
        ok = read_digits(&p, 16, &v);
    } else {
        ok = read_digits(&p, 10, &v);
    }
    if (*p) {
        goto bad;
    }
    if (!ok) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: '%s' is too large (the largest is %" G_GUINT64_FORMAT
                    ")", what, str, G_MAXUINT64);
        return false;
    }
    *out = v;
    return true;

bad:
    g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                "%s: '%s' is not a number (expected decimal or 0x hex "
                "digits)", what, str ? str : "");
    return false;
}

static uint64_t size_suffix_unit(char c)
{
    switch (g_ascii_toupper(c)) {
    case 'B': return 1;
    case 'K': return UINT64_C(1) << 10;
    case 'M': return UINT64_C(1) << 20;
    case 'G': return UINT64_C(1) << 30;
    case 'T': return UINT64_C(1) << 40;
    case 'P': return UINT64_C(1) << 50;
    case 'E': return UINT64_C(1) << 60;
    default:  return 0;
    }
}

bool parse_size(const char *what, const char *str, uint64_t default_unit,
                uint64_t *out, GError **errp)
{
    const char *p = str;
    uint64_t whole, unit, v;
    /* The fraction as frac_num / frac_den, e.g. ".25" is 25 / 100. */
    uint64_t frac_num = 0, frac_den = 1;
    bool ok;

    if (!str || !g_ascii_isdigit(*str)) {
        goto bad;
    }
    if (is_hex_prefix(p)) {
        p += 2;
        ok = read_digits(&p, 16, &whole);
    } else {
        ok = read_digits(&p, 10, &whole);
        if (*p == '.') {
            p++;
            if (!g_ascii_isdigit(*p)) {
                goto bad;
            }
            /* 18 digits are exact enough; later ones are truncated. */
            for (; g_ascii_isdigit(*p); p++) {
                if (frac_den < UINT64_C(1000000000000000000)) {
                    frac_num = frac_num * 10 + g_ascii_digit_value(*p);
                    frac_den *= 10;
                }
            }
        }
    }
    unit = default_unit ? default_unit : 1;
    if (*p) {
        unit = size_suffix_unit(*p);
        if (!unit || p[1]) {
            goto bad;
        }
    }
    if (frac_den > 1 && unit == 1) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: '%s' is not a whole number of bytes", what, str);
        return false;
    }
    if (!ok || __builtin_mul_overflow(whole, unit, &v)) {
        goto too_large;
    }
    if (frac_num) {
        unsigned __int128 part = (unsigned __int128)frac_num * unit / frac_den;

        if (__builtin_add_overflow(v, (uint64_t)part, &v)) {
            goto too_large;
        }
    }
    *out = v;
    return true;

too_large:
    g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                "%s: '%s' is too large (sizes must be below 16 EiB)",
                what, str);
    return false;
bad:
    g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                "%s: '%s' is not a size (%s)", what, str ? str : "",
                size_expected);
    return false;
}
