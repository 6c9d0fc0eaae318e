/*
 * QEMU-style option strings: "key=value,key2=value2". A ",," inside a value
 * stands for one comma. The first element may omit its key when the option
 * has an implied key: "-device loader,file=x" is driver=loader,file=x.
 * Bools are on/off/yes/no/true/false; sizes take K, M, G, T (binary)
 * suffixes, a bare number being bytes unless the caller says otherwise.
 */
#ifndef LEMU_UTIL_OPTS_H
#define LEMU_UTIL_OPTS_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

typedef struct LemuOpts LemuOpts;

/*
 * Parses @str. @implied_key names the key of a first element written without
 * "key=" (NULL: every element needs a key). A key given twice keeps the
 * last value, as QEMU does. Errors name @optname (e.g. "-device").
 */
LemuOpts *opts_parse(const char *optname, const char *str,
                     const char *implied_key, GError **errp);
void opts_free(LemuOpts *opts);

const char *opts_name(LemuOpts *opts);   /* e.g. "-device" */
const char *opts_get(LemuOpts *opts, const char *key);  /* NULL if absent */
bool opts_has(LemuOpts *opts, const char *key);
/* Marks nothing; lists keys in order, for callers that walk them all. */
guint opts_count(LemuOpts *opts);
const char *opts_key_at(LemuOpts *opts, guint i);
const char *opts_value_at(LemuOpts *opts, guint i);
/* Adds or replaces a key (used to merge -chardev style defaults). */
void opts_set(LemuOpts *opts, const char *key, const char *value);

/* Typed getters: @def when absent; an error naming the option and key when
 * the value is malformed. */
bool opts_get_bool(LemuOpts *opts, const char *key, bool def, bool *out,
                   GError **errp);
bool opts_get_u64(LemuOpts *opts, const char *key, uint64_t def,
                  uint64_t *out, GError **errp);
bool opts_get_size(LemuOpts *opts, const char *key, uint64_t def,
                   uint64_t *out, GError **errp);

/* Fails naming the first key not in the NULL-terminated @known list; the
 * implied key (e.g. "driver") is always accepted. */
bool opts_check_keys(LemuOpts *opts, const char *const *known,
                     GError **errp);

/* Standalone value parsers; @what names the thing in error messages. */
bool parse_bool(const char *what, const char *str, bool *out, GError **errp);
/* Decimal, or 0x hex, unsigned 64-bit with overflow checks. */
bool parse_u64(const char *what, const char *str, uint64_t *out,
               GError **errp);
/* @default_unit multiplies a bare number: 1 for bytes, 1 << 20 for "-m". */
bool parse_size(const char *what, const char *str, uint64_t default_unit,
                uint64_t *out, GError **errp);

#endif
