/*
 * The schema language of the QMP tables (see monitor-internal.h): parsing
 * the member and type strings, checking arguments against them with
 * QEMU's messages, dispatch, query-commands/query-events, the
 * introspection of query-qmp-schema, and the Markdown reference.
 *
 * The strings are parsed again on every use: they are short, and this
 * keeps the module without any state of its own.
 */
#include <string.h>
#include "monitor/monitor-internal.h"
#include "lemu/util/log.h"

/* One member of a "name:type name2?:type" string. */
typedef struct SchemaMember {
    char *name;
    char *type;
    bool optional;
} SchemaMember;

static void schema_member_free(gpointer p)
{
    SchemaMember *mb = p;

    g_free(mb->name);
    g_free(mb->type);
    g_free(mb);
}

static bool schema_name_char(char c)
{
    return g_ascii_isalnum(c) || c == '-' || c == '_';
}

/* A type reference: a name, or "[T]" with T a type reference. */
static bool schema_type_syntax_ok(const char *t)
{
    size_t len = strlen(t);

    if (len >= 2 && t[0] == '[' && t[len - 1] == ']') {
        g_autofree char *inner = g_strndup(t + 1, len - 2);
        return schema_type_syntax_ok(inner);
    }
    if (len == 0) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (!schema_name_char(t[i])) {
            return false;
        }
    }
    return true;
}

/* Parses a members string; NULL with @errp set on bad syntax. */
static GPtrArray *schema_parse_members(const char *spec, GError **errp)
{
    GPtrArray *list = g_ptr_array_new_with_free_func(schema_member_free);
    g_auto(GStrv) words = g_strsplit(spec ? spec : "", " ", -1);

    for (size_t i = 0; words[i]; i++) {
        const char *w = words[i];
        const char *colon = strchr(w, ':');
        SchemaMember *mb;
        size_t name_len;

        if (!*w) {
            continue;   /* extra spaces */
        }
        if (!colon || colon == w) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "schema member '%s': expected NAME:TYPE", w);
            goto fail;
        }
        mb = g_new0(SchemaMember, 1);
        name_len = colon - w;
        if (w[name_len - 1] == '?') {
            mb->optional = true;
            name_len--;
        }
        mb->name = g_strndup(w, name_len);
        mb->type = g_strdup(colon + 1);
        g_ptr_array_add(list, mb);
        for (size_t j = 0; j < name_len; j++) {
            if (!schema_name_char(w[j])) {
                name_len = 0;
            }
        }
        if (name_len == 0 || !schema_type_syntax_ok(mb->type)) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "schema member '%s': expected NAME:TYPE with a "
                        "name of letters, digits, '-' and '_'", w);
            goto fail;
        }
        for (guint k = 0; k + 1 < list->len; k++) {
            SchemaMember *other = g_ptr_array_index(list, k);
            if (strcmp(other->name, mb->name) == 0) {
                g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                            "schema member '%s' is defined twice",
                            mb->name);
                goto fail;
            }
        }
    }
    return list;

fail:
    g_ptr_array_unref(list);
    return NULL;
}

/* The values of an enum, without empty words. */
static GPtrArray *schema_parse_values(const char *spec)
{
    GPtrArray *vals = g_ptr_array_new_with_free_func(g_free);
    g_auto(GStrv) words = g_strsplit(spec ? spec : "", " ", -1);

    for (size_t i = 0; words[i]; i++) {
        if (*words[i]) {
            g_ptr_array_add(vals, g_strdup(words[i]));
        }
    }
    return vals;
}

static bool schema_enum_has(const QmpTypeDef *def, const char *value)
{
    g_autoptr(GPtrArray) vals = schema_parse_values(def->members);

    for (guint i = 0; i < vals->len; i++) {
        if (strcmp(g_ptr_array_index(vals, i), value) == 0) {
            return true;
        }
    }
    return false;
}

typedef struct SchemaBuiltin {
    const char *name;
    const char *json_type;       /* introspection "json-type" */
    const char *expected;        /* in "expected: ..." messages */
} SchemaBuiltin;

static const SchemaBuiltin schema_builtins[] = {
    { "str", "string", "string" },
    { "int", "int", "integer" },
    { "number", "number", "number" },
    { "bool", "boolean", "boolean" },
    { "null", "null", "null" },
    { "any", "value", NULL },
};

static const SchemaBuiltin *schema_find_builtin(const char *name)
{
    for (size_t i = 0; i < G_N_ELEMENTS(schema_builtins); i++) {
        if (strcmp(schema_builtins[i].name, name) == 0) {
            return &schema_builtins[i];
        }
    }
    return NULL;
}

static const QmpTypeDef *schema_find_type(const char *name)
{
    for (const QmpTypeDef *t = qmp_types; t->name; t++) {
        if (strcmp(t->name, name) == 0) {
            return t;
        }
    }
    return NULL;
}

/* "[T]" -> T (g_free it); NULL for anything else. */
static char *schema_array_element(const char *type)
{
    size_t len = strlen(type);

    if (len >= 2 && type[0] == '[' && type[len - 1] == ']') {
        return g_strndup(type + 1, len - 2);
    }
    return NULL;
}

const QmpCommand *qmp_find_command(const char *name)
{
    for (const QmpCommand *c = qmp_commands; c->name; c++) {
        if (strcmp(c->name, name) == 0) {
            return c;
        }
    }
    return NULL;
}

const QmpEvent *qmp_find_event(const char *name)
{
    for (const QmpEvent *e = qmp_events; e->name; e++) {
        if (strcmp(e->name, name) == 0) {
            return e;
        }
    }
    return NULL;
}

/* ---- checking values against types ---------------------------------- */

static bool schema_check_object(const char *members, const JsonValue *obj,
                                const char *prefix, GError **errp);

static bool schema_type_error(const char *path, const char *expected,
                              GError **errp)
{
    g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                "Invalid parameter type for '%s', expected: %s", path,
                expected);
    return false;
}

/*
 * Checks @v against @type. @path names it in type errors ("a.b", "a[2]"
 * as QEMU does); @enum_name in enum errors, where QEMU names the member
 * without indexes.
 */
static bool schema_check(const char *type, const JsonValue *v,
                         const char *path, const char *enum_name,
                         GError **errp)
{
    const SchemaBuiltin *b = schema_find_builtin(type);
    g_autofree char *elem = schema_array_element(type);
    const QmpTypeDef *def;
    JsonType jt = json_type(v);

    if (b) {
        bool ok;
        if (strcmp(b->name, "any") == 0) {
            return true;
        } else if (strcmp(b->name, "str") == 0) {
            ok = jt == JSON_STRING;
        } else if (strcmp(b->name, "int") == 0) {
            /* QEMU's 64-bit addresses: above INT64_MAX they wrap */
            ok = jt == JSON_INT || jt == JSON_UINT;
        } else if (strcmp(b->name, "number") == 0) {
            ok = jt == JSON_INT || jt == JSON_UINT || jt == JSON_DOUBLE;
        } else if (strcmp(b->name, "bool") == 0) {
            ok = jt == JSON_BOOL;
        } else {
            ok = jt == JSON_NULL;
        }
        return ok || schema_type_error(path, b->expected, errp);
    }
    if (elem) {
        if (jt != JSON_ARRAY) {
            return schema_type_error(path, "array", errp);
        }
        for (size_t i = 0; i < json_array_length(v); i++) {
            g_autofree char *sub = g_strdup_printf("%s[%zu]", path, i);
            if (!schema_check(elem, json_array_get(v, i), sub, enum_name,
                              errp)) {
                return false;
            }
        }
        return true;
    }
    def = schema_find_type(type);
    if (!def) {
        g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                    "schema: type '%s' of '%s' is not defined", type, path);
        return false;
    }
    if (def->kind == QMP_TYPE_ENUM) {
        if (jt != JSON_STRING) {
            return schema_type_error(path, "string", errp);
        }
        if (!schema_enum_has(def, json_get_string(v))) {
            g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                        "Parameter '%s' does not accept value '%s'",
                        enum_name, json_get_string(v));
            return false;
        }
        return true;
    }
    if (jt != JSON_OBJECT) {
        return schema_type_error(path, "object", errp);
    }
    return schema_check_object(def->members, v, path, errp);
}

/*
 * The members of @obj against @members, in QEMU's order: each declared
 * member (missing, then its type), then any member not declared.
 * @prefix ("" at the top) qualifies the names of nested members.
 */
static bool schema_check_object(const char *members, const JsonValue *obj,
                                const char *prefix, GError **errp)
{
    g_autoptr(GPtrArray) list = schema_parse_members(members, errp);

    if (!list) {
        return false;
    }
    for (guint i = 0; i < list->len; i++) {
        SchemaMember *mb = g_ptr_array_index(list, i);
        JsonValue *v = obj ? json_object_get(obj, mb->name) : NULL;
        g_autofree char *path = *prefix
            ? g_strdup_printf("%s.%s", prefix, mb->name)
            : g_strdup(mb->name);

        if (!v) {
            if (!mb->optional) {
                g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                            "Parameter '%s' is missing", path);
                return false;
            }
            continue;
        }
        if (!schema_check(mb->type, v, path, path, errp)) {
            return false;
        }
    }
    for (size_t i = 0; obj && i < json_object_size(obj); i++) {
        const char *key = json_object_key_at(obj, i);
        bool known = false;

        for (guint k = 0; k < list->len && !known; k++) {
            SchemaMember *mb = g_ptr_array_index(list, k);
            known = strcmp(mb->name, key) == 0;
        }
        if (!known) {
            if (*prefix) {
                g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                            "Parameter '%s.%s' is unexpected", prefix, key);
            } else {
                g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                            "Parameter '%s' is unexpected", key);
            }
            return false;
        }
    }
    return true;
}

bool qmp_check_args(const QmpCommand *cmd, const JsonValue *args,
                    GError **errp)
{
    if (args && json_type(args) != JSON_OBJECT) {
        g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                    "QMP input member 'arguments' must be an object");
        return false;
    }
    return schema_check_object(cmd->args, args, "", errp);
}

bool qmp_schema_check_value(const char *type, const JsonValue *v,
                            GError **errp)
{
    return schema_check(type, v, "<value>", "<value>", errp);
}

/* ---- dispatch ---------------------------------------------------------- */

bool qmp_command_denied(const QmpContext *ctx, const char *name)
{
    if (!ctx || !ctx->deny) {
        return false;
    }
    for (const char *const *d = ctx->deny; *d; d++) {
        if (strcmp(*d, name) == 0) {
            return true;
        }
    }
    return false;
}

JsonValue *qmp_dispatch(QmpContext *ctx, const char *name,
                        const JsonValue *args, GError **errp)
{
    const QmpCommand *cmd = qmp_find_command(name);
    g_autoptr(JsonValue) empty = NULL;
    JsonValue *ret;
    GError *err = NULL;

    if (!cmd) {
        g_set_error(errp, QMP_ERROR, QMP_ERROR_COMMAND_NOT_FOUND,
                    "The command %s has not been found", name);
        return NULL;
    }
    if (qmp_command_denied(ctx, name)) {
        g_set_error(errp, QMP_ERROR, QMP_ERROR_COMMAND_NOT_FOUND,
                    "The command %s has been disabled for this instance",
                    name);
        return NULL;
    }
    if (!qmp_check_args(cmd, args, errp)) {
        return NULL;
    }
    if (!args) {
        /* Handlers always get an object. */
        empty = json_object();
        args = empty;
    }
    ret = cmd->handler(ctx, args, &err);
    if (!ret && !err) {
        g_set_error(&err, QMP_ERROR, QMP_ERROR_GENERIC,
                    "%s: the command failed without saying why", name);
    }
    if (err) {
        json_free(ret);
        g_propagate_error(errp, err);
        return NULL;
    }
    return ret;
}

JsonValue *qmp_schema_query_commands(void)
{
    JsonValue *list = json_array();

    for (const QmpCommand *c = qmp_commands; c->name; c++) {
        JsonValue *info = json_object();
        json_object_set_str(info, "name", c->name);
        json_array_append(list, info);
    }
    return list;
}

JsonValue *qmp_schema_query_events(void)
{
    JsonValue *list = json_array();

    for (const QmpEvent *e = qmp_events; e->name; e++) {
        JsonValue *info = json_object();
        json_object_set_str(info, "name", e->name);
        json_array_append(list, info);
    }
    return list;
}

/* ---- query-qmp-schema ------------------------------------------------ */

/* What the introspection has emitted and what it still has to. */
typedef struct SchemaIntro {
    JsonValue *entries;          /* commands and events */
    JsonValue *types;            /* every type they reach */
    GHashTable *seen;            /* type names queued or emitted */
    GPtrArray *queue;            /* type names to emit (not owned) */
} SchemaIntro;

static void intro_need_type(SchemaIntro *in, const char *type)
{
    if (!g_hash_table_contains(in->seen, type)) {
        char *copy = g_strdup(type);
        g_hash_table_add(in->seen, copy);
        g_ptr_array_add(in->queue, copy);
    }
}

/* An object type entry with @members; queues the member types. */
static void intro_add_object(SchemaIntro *in, const char *name,
                             const char *members)
{
    g_autoptr(GPtrArray) list = schema_parse_members(members, NULL);
    JsonValue *entry = json_object();
    JsonValue *jm = json_array();

    json_object_set_str(entry, "name", name);
    json_object_set_str(entry, "meta-type", "object");
    for (guint i = 0; list && i < list->len; i++) {
        SchemaMember *mb = g_ptr_array_index(list, i);
        JsonValue *m = json_object();
        json_object_set_str(m, "name", mb->name);
        json_object_set_str(m, "type", mb->type);
        if (mb->optional) {
            json_object_set(m, "default", json_null());
        }
        json_array_append(jm, m);
        intro_need_type(in, mb->type);
    }
    json_object_set(entry, "members", jm);
    json_array_append(in->types, entry);
}

static bool schema_members_empty(const char *members)
{
    g_autoptr(GPtrArray) list = schema_parse_members(members, NULL);
    return !list || list->len == 0;
}

/* The name of the argument type of a command or event, QEMU's way. */
static char *intro_arg_type(SchemaIntro *in, const char *owner,
                            const char *members)
{
    char *name;

    if (schema_members_empty(members)) {
        intro_need_type(in, "q_empty");
        return g_strdup("q_empty");
    }
    name = g_strdup_printf("q_obj_%s-arg", owner);
    g_hash_table_add(in->seen, g_strdup(name));
    intro_add_object(in, name, members);
    return name;
}

static void intro_emit_type(SchemaIntro *in, const char *type)
{
    const SchemaBuiltin *b = schema_find_builtin(type);
    g_autofree char *elem = schema_array_element(type);
    const QmpTypeDef *def;
    JsonValue *entry;

    if (strcmp(type, "q_empty") == 0) {
        intro_add_object(in, type, "");
        return;
    }
    def = schema_find_type(type);
    if (def && def->kind == QMP_TYPE_OBJECT) {
        intro_add_object(in, type, def->members);
        return;
    }
    entry = json_object();
    json_object_set_str(entry, "name", type);
    if (b) {
        json_object_set_str(entry, "meta-type", "builtin");
        json_object_set_str(entry, "json-type", b->json_type);
    } else if (elem) {
        json_object_set_str(entry, "meta-type", "array");
        json_object_set_str(entry, "element-type", elem);
        intro_need_type(in, elem);
    } else if (def) {
        g_autoptr(GPtrArray) vals = schema_parse_values(def->members);
        JsonValue *jv = json_array();
        JsonValue *jm = json_array();
        for (guint i = 0; i < vals->len; i++) {
            JsonValue *m = json_object();
            json_array_append(jv, json_string(g_ptr_array_index(vals, i)));
            json_object_set_str(m, "name", g_ptr_array_index(vals, i));
            json_array_append(jm, m);
        }
        json_object_set_str(entry, "meta-type", "enum");
        json_object_set(entry, "members", jm);
        json_object_set(entry, "values", jv);
    } else {
        /* qmp_schema_validate() catches this; never emit a dangling
         * reference */
        json_object_set_str(entry, "meta-type", "builtin");
        json_object_set_str(entry, "json-type", "value");
    }
    json_array_append(in->types, entry);
}

JsonValue *qmp_schema_introspect(void)
{
    SchemaIntro in = {
        .entries = json_array(),
        .types = json_array(),
        .seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL),
        .queue = g_ptr_array_new(),
    };

    for (const QmpCommand *c = qmp_commands; c->name; c++) {
        JsonValue *entry = json_object();
        const char *ret = c->returns ? c->returns : "q_empty";

        json_object_set_str(entry, "name", c->name);
        json_object_set_str(entry, "meta-type", "command");
        json_object_set(entry, "arg-type",
                        json_string_take(intro_arg_type(&in, c->name,
                                                        c->args)));
        json_object_set_str(entry, "ret-type", ret);
        intro_need_type(&in, ret);
        json_array_append(in.entries, entry);
    }
    for (const QmpEvent *e = qmp_events; e->name; e++) {
        JsonValue *entry = json_object();

        json_object_set_str(entry, "name", e->name);
        json_object_set_str(entry, "meta-type", "event");
        json_object_set(entry, "arg-type",
                        json_string_take(intro_arg_type(&in, e->name,
                                                        e->data)));
        json_array_append(in.entries, entry);
    }
    /* Emitting a type may queue more: walk until the queue is done. */
    for (guint i = 0; i < in.queue->len; i++) {
        intro_emit_type(&in, g_ptr_array_index(in.queue, i));
    }
    for (size_t i = 0; i < json_array_length(in.types); i++) {
        json_array_append(in.entries,
                          json_copy(json_array_get(in.types, i)));
    }
    json_free(in.types);
    g_ptr_array_unref(in.queue);
    g_hash_table_unref(in.seen);
    return in.entries;
}

/* ---- self-check ------------------------------------------------------ */

static bool schema_validate_type_ref(const char *type, const char *where,
                                     GError **errp)
{
    g_autofree char *elem = schema_array_element(type);

    if (elem) {
        return schema_validate_type_ref(elem, where, errp);
    }
    if (!schema_find_builtin(type) && !schema_find_type(type)) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: type '%s' is not defined", where, type);
        return false;
    }
    return true;
}

static bool schema_validate_members(const char *members, const char *where,
                                    GError **errp)
{
    g_autoptr(GPtrArray) list = NULL;
    GError *err = NULL;

    if (!members) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: members string missing (use \"\" for none)",
                    where);
        return false;
    }
    list = schema_parse_members(members, &err);
    if (!list) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID, "%s: %s", where,
                    err->message);
        g_error_free(err);
        return false;
    }
    for (guint i = 0; i < list->len; i++) {
        SchemaMember *mb = g_ptr_array_index(list, i);
        if (!schema_validate_type_ref(mb->type, where, errp)) {
            return false;
        }
    }
    return true;
}

bool qmp_schema_validate(GError **errp)
{
    for (const QmpCommand *c = qmp_commands; c->name; c++) {
        g_autofree char *where = g_strdup_printf("command %s", c->name);
        if (!c->handler || !c->doc ||
            (c != qmp_find_command(c->name))) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "%s: needs a handler and a doc, once", where);
            return false;
        }
        if (!schema_validate_members(c->args ? c->args : "", where, errp) ||
            (c->returns &&
             !schema_validate_type_ref(c->returns, where, errp))) {
            return false;
        }
    }
    for (const QmpEvent *e = qmp_events; e->name; e++) {
        g_autofree char *where = g_strdup_printf("event %s", e->name);
        if (!e->doc || e != qmp_find_event(e->name)) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "%s: needs a doc, once", where);
            return false;
        }
        if (!schema_validate_members(e->data, where, errp)) {
            return false;
        }
    }
    for (const QmpTypeDef *t = qmp_types; t->name; t++) {
        g_autofree char *where = g_strdup_printf("type %s", t->name);
        if (!t->doc || t != schema_find_type(t->name) ||
            schema_find_builtin(t->name) || !schema_type_syntax_ok(t->name) ||
            t->name[0] == '[' || g_str_has_prefix(t->name, "q_")) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "%s: needs a doc and a name of its own", where);
            return false;
        }
        if (t->kind == QMP_TYPE_OBJECT) {
            if (!schema_validate_members(t->members, where, errp)) {
                return false;
            }
        } else {
            g_autoptr(GPtrArray) vals = schema_parse_values(t->members);
            for (guint i = 0; i < vals->len; i++) {
                const char *v = g_ptr_array_index(vals, i);
                for (guint k = 0; k < i; k++) {
                    if (strcmp(v, g_ptr_array_index(vals, k)) == 0) {
                        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                                    "%s: value '%s' twice", where, v);
                        return false;
                    }
                }
            }
            if (vals->len == 0) {
                g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                            "%s: an enum without values", where);
                return false;
            }
        }
    }
    return true;
}

/* ---- Markdown reference ---------------------------------------------- */

/* @text as a paragraph wrapped at 72 columns, then a blank line. */
static void docs_paragraph(GString *out, const char *text)
{
    g_auto(GStrv) words = g_strsplit(text, " ", -1);
    size_t col = 0;

    for (size_t i = 0; words[i]; i++) {
        size_t len = strlen(words[i]);

        if (!len) {
            continue;
        }
        if (col && col + 1 + len > 72) {
            g_string_append_c(out, '\n');
            col = 0;
        } else if (col) {
            g_string_append_c(out, ' ');
            col++;
        }
        g_string_append(out, words[i]);
        col += len;
    }
    g_string_append(out, "\n\n");
}

/* `T` with a link when T is (or holds) a type of the table. */
static void docs_type_ref(GString *out, const char *type)
{
    g_autofree char *elem = schema_array_element(type);

    if (elem) {
        g_string_append(out, "array of ");
        docs_type_ref(out, elem);
    } else if (schema_find_type(type)) {
        g_autofree char *anchor = g_ascii_strdown(type, -1);
        g_string_append_printf(out, "[`%s`](#%s)", type, anchor);
    } else {
        g_string_append_printf(out, "`%s`", type);
    }
}

static void docs_members(GString *out, const char *title,
                         const char *members)
{
    g_autoptr(GPtrArray) list = schema_parse_members(members, NULL);

    if (!list || list->len == 0) {
        g_string_append_printf(out, "%s: none.\n\n", title);
        return;
    }
    g_string_append_printf(out, "%s:\n\n", title);
    for (guint i = 0; i < list->len; i++) {
        SchemaMember *mb = g_ptr_array_index(list, i);
        g_string_append_printf(out, "- `%s`%s: ", mb->name,
                               mb->optional ? " (optional)" : "");
        docs_type_ref(out, mb->type);
        g_string_append_c(out, '\n');
    }
    g_string_append_c(out, '\n');
}

void qmp_schema_write_docs(GString *out)
{
    g_string_append(out,
        "# QMP reference\n\n"
        "<!-- Generated from monitor/qmp-commands.c; do not edit. "
        "Regenerate with\n"
        "     BUILDDIR/lemu-qmp-docgen -o docs/qmp.md -->\n\n");
    docs_paragraph(out,
        "lemu speaks QEMU's QMP (the protocol of QEMU 7.2) on the "
        "sockets given with `-qmp` or `-mon mode=control`. A client "
        "reads the greeting, sends `{\"execute\": \"qmp_capabilities\"}`, "
        "then commands as `{\"execute\": NAME, \"arguments\": {...}, "
        "\"id\": ANY}`; each gets `{\"return\": VALUE}` or `{\"error\": "
        "{\"class\": ..., \"desc\": ...}}` with the same `id`. Events "
        "arrive as `{\"event\": NAME, \"data\": {...}, \"timestamp\": "
        "{\"seconds\": S, \"microseconds\": U}}`.");
    docs_paragraph(out,
        "Types: `str`, `int`, `number`, `bool`, `null`, `any` are JSON "
        "values; \"array of T\" a JSON array; the others are listed "
        "under [Types](#types).");

    g_string_append(out, "## Commands\n\n");
    for (const QmpCommand *c = qmp_commands; c->name; c++) {
        g_string_append_printf(out, "### %s\n\n", c->name);
        docs_paragraph(out, c->doc);
        docs_members(out, "Arguments", c->args);
        g_string_append(out, "Returns: ");
        if (c->returns) {
            docs_type_ref(out, c->returns);
        } else {
            g_string_append(out, "`{}`");
        }
        g_string_append(out, "\n\n");
    }

    g_string_append(out, "## Events\n\n");
    for (const QmpEvent *e = qmp_events; e->name; e++) {
        g_string_append_printf(out, "### %s\n\n", e->name);
        docs_paragraph(out, e->doc);
        docs_members(out, "Data", e->data);
    }

    g_string_append(out, "## Types\n\n");
    for (const QmpTypeDef *t = qmp_types; t->name; t++) {
        g_string_append_printf(out, "### %s\n\n", t->name);
        docs_paragraph(out, t->doc);
        if (t->kind == QMP_TYPE_OBJECT) {
            docs_members(out, "An object with members", t->members);
        } else {
            g_autoptr(GPtrArray) vals = schema_parse_values(t->members);
            g_autoptr(GString) text = g_string_new("A string, one of:");
            for (guint i = 0; i < vals->len; i++) {
                g_string_append_printf(text, "%s `%s`", i ? "," : "",
                                       (char *)g_ptr_array_index(vals, i));
            }
            g_string_append_c(text, '.');
            docs_paragraph(out, text->str);
        }
    }
    /* One newline at the end of the file, not two. */
    if (out->len >= 2 && out->str[out->len - 1] == '\n' &&
        out->str[out->len - 2] == '\n') {
        g_string_truncate(out, out->len - 1);
    }
}
