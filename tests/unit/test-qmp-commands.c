/*
 * The QMP command tables, schema and handlers on a real pc machine
 * (interp, 16 MiB, -S, serial on "null"): through qmp_dispatch() as a
 * session calls it, and through a session where events matter.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <glib/gstdio.h>
#include "fixture.h"
#include "lemu-config.h"
#include "monitor/monitor-internal.h"
#include "lemu/hw/i386/acpi.h"
#include "lemu/util/log.h"

#define MiB (1ULL << 20)

static Machine *test_machine_new(const char *accel, unsigned smp,
                                 const char *name, const char *uuid)
{
    MachineConfig cfg;
    GError *err = NULL;
    Machine *m;

    machine_config_init(&cfg);
    cfg.accel = g_strdup(accel);
    cfg.ram_size = 16 * MiB;
    cfg.smp = smp;
    cfg.start_paused = true;
    cfg.name = g_strdup(name);
    cfg.uuid = g_strdup(uuid);
    g_ptr_array_add(cfg.serials, g_strdup("null"));
    /* Something to boot: "jmp $" at 0x7c00, where vCPU 0 starts. */
    g_ptr_array_add(cfg.devices,
                    opts_parse("-device", "loader,data=0xfeeb,data-len=2,"
                               "addr=0x7c00,cpu-num=0", "driver", &err));
    g_assert_no_error(err);
    m = machine_new(&cfg, &err);
    if (!m && g_strcmp0(accel, "kvm") == 0) {
        g_test_skip(err->message);
        g_error_free(err);
        return NULL;
    }
    g_assert_no_error(err);
    machine_lock(m);
    machine_start(m);
    machine_unlock(m);
    return m;
}

static Machine *test_machine(void)
{
    return test_machine_new("interp", 1, NULL, NULL);
}

/* Runs a command as the main loop does: the lock held. @args is JSON
 * text or NULL. */
static JsonValue *qmp_ctx(QmpContext *ctx, const char *cmd,
                          const char *args, GError **errp)
{
    g_autoptr(JsonValue) a = NULL;
    JsonValue *ret;

    if (args) {
        GError *perr = NULL;
        a = json_parse(args, strlen(args), &perr);
        g_assert_no_error(perr);
    }
    machine_lock(ctx->machine);
    ret = qmp_dispatch(ctx, cmd, a, errp);
    machine_unlock(ctx->machine);
    return ret;
}

/* A command that must succeed; its return matches the schema. */
static JsonValue *qmp_ok(Machine *m, const char *cmd, const char *args)
{
    QmpContext ctx = { .machine = m };
    const QmpCommand *c = qmp_find_command(cmd);
    GError *err = NULL;
    JsonValue *ret = qmp_ctx(&ctx, cmd, args, &err);

    g_assert_no_error(err);
    g_assert_nonnull(ret);
    g_assert_nonnull(c);
    if (c->returns) {
        qmp_schema_check_value(c->returns, ret, &err);
        g_assert_no_error(err);
    } else {
        g_assert_cmpint(json_type(ret), ==, JSON_OBJECT);
        g_assert_cmpuint(json_object_size(ret), ==, 0);
    }
    return ret;
}

static void qmp_ok_free(Machine *m, const char *cmd, const char *args)
{
    json_free(qmp_ok(m, cmd, args));
}

static void assert_qmp_error_ctx(QmpContext *ctx, const char *cmd,
                                 const char *args, const char *cls,
                                 const char *desc)
{
    GError *err = NULL;
    JsonValue *ret = qmp_ctx(ctx, cmd, args, &err);

    g_assert_null(ret);
    g_assert_nonnull(err);
    g_assert_cmpstr(err->message, ==, desc);
    g_assert_cmpstr(qmp_error_class_name(err), ==, cls);
    g_error_free(err);
}

static void assert_qmp_error(Machine *m, const char *cmd, const char *args,
                             const char *desc)
{
    QmpContext ctx = { .machine = m };

    assert_qmp_error_ctx(&ctx, cmd, args, "GenericError", desc);
}

static const char *status_of(Machine *m)
{
    g_autoptr(JsonValue) st = qmp_ok(m, "query-status", NULL);
    static const char *const names[] = {
        "prelaunch", "running", "paused", "shutdown", "internal-error",
    };
    const char *s = json_object_get_str(st, "status");
    bool running = false;

    g_assert_true(json_object_get_bool(st, "running", &running));
    g_assert_cmpint(running, ==, strcmp(s, "running") == 0);
    for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
        if (strcmp(s, names[i]) == 0) {
            return names[i];   /* static, outlives @st */
        }
    }
    g_assert_not_reached();
}

static char *tmp_path(const char *name)
{
    g_autofree char *base = g_strdup_printf("lemu-test-qmp-%d-%s",
                                            (int)getpid(), name);
    return g_build_filename(g_get_tmp_dir(), base, NULL);
}

static void poke(Machine *m, uint64_t gpa, const void *data, size_t len)
{
    machine_lock(m);
    g_assert_true(memory_map_write(m->mem, gpa, data, len));
    machine_unlock(m);
}

static void assert_file_is(const char *path, const void *data, size_t len)
{
    g_autofree char *got = NULL;
    gsize got_len;
    GError *err = NULL;

    g_assert_true(g_file_get_contents(path, &got, &got_len, &err));
    g_assert_no_error(err);
    g_assert_cmpmem(got, got_len, data, len);
}

/* ---- a session, to see events ---------------------------------------- */

typedef struct TestSession {
    Machine *m;
    QmpSession *s;
    GPtrArray *lines;            /* char *, CRLF stripped */
} TestSession;

static void test_session_write(void *opaque, const char *line, size_t len)
{
    TestSession *ts = opaque;

    g_assert_true(len >= 2 && line[len - 2] == '\r' && line[len - 1] == '\n');
    g_ptr_array_add(ts->lines, g_strndup(line, len - 2));
}

static const QmpSessionOps test_session_ops = {
    .write = test_session_write,
};

static void test_session_open(TestSession *ts, Machine *m)
{
    static const char neg[] = "{\"execute\": \"qmp_capabilities\"}";

    ts->m = m;
    ts->lines = g_ptr_array_new_with_free_func(g_free);
    machine_lock(m);
    ts->s = qmp_session_new(m, &test_session_ops, ts, false);
    qmp_session_start(ts->s);
    qmp_session_feed(ts->s, neg, strlen(neg));
    machine_unlock(m);
    g_assert_cmpuint(ts->lines->len, ==, 2);    /* greeting, {} */
    g_ptr_array_set_size(ts->lines, 0);
}

static void test_session_close(TestSession *ts)
{
    machine_lock(ts->m);
    qmp_session_free(ts->s);
    machine_unlock(ts->m);
    g_ptr_array_unref(ts->lines);
}

/* Index of the first line at or after @from that is event @name, or -1. */
static int find_event(TestSession *ts, guint from, const char *name,
                      JsonValue **data)
{
    for (guint i = from; i < ts->lines->len; i++) {
        const char *line = g_ptr_array_index(ts->lines, i);
        g_autoptr(JsonValue) v = json_parse(line, strlen(line), NULL);
        const char *ev = v ? json_object_get_str(v, "event") : NULL;

        if (g_strcmp0(ev, name) == 0) {
            const QmpEvent *e = qmp_find_event(name);
            JsonValue *d = json_object_get(v, "data");
            GError *err = NULL;
            g_autofree char *args = g_strdup_printf("q_check_%s", name);

            /* The data matches the event's schema. */
            g_assert_nonnull(e);
            if (d) {
                QmpCommand fake = { .name = args, .args = e->data };
                qmp_check_args(&fake, d, &err);
                g_assert_no_error(err);
            }
            if (data) {
                *data = d ? json_copy(d) : NULL;
            }
            return (int)i;
        }
    }
    return -1;
}

/* ---- the tables and the schema ---------------------------------------- */

static void test_tables_consistent(void)
{
    GError *err = NULL;
    static const char *const commands[] = {
        "qmp_capabilities", "query-version", "query-commands",
        "query-events", "query-qmp-schema", "query-status", "query-name",
        "query-uuid", "query-kvm", "query-target", "query-machines",
        "query-cpus-fast", "query-chardev", "stop", "cont", "system_reset",
        "system_powerdown", "quit", "inject-nmi", "memsave", "pmemsave",
        "human-monitor-command", "x-query-registers", "x-query-mtree",
        "x-query-qtree",
    };
    static const char *const events[] = {
        "STOP", "RESUME", "RESET", "SHUTDOWN", "POWERDOWN",
        "BLOCK_IO_ERROR", "DEVICE_DELETED",
    };

    g_assert_true(qmp_schema_validate(&err));
    g_assert_no_error(err);
    for (size_t i = 0; i < G_N_ELEMENTS(commands); i++) {
        const QmpCommand *c = qmp_find_command(commands[i]);
        g_assert_nonnull(c);
        g_assert_nonnull(c->handler);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(events); i++) {
        g_assert_nonnull(qmp_find_event(events[i]));
    }
    g_assert_null(qmp_find_command("no-such-command"));
    g_assert_null(qmp_find_event("NO_SUCH_EVENT"));
    g_assert_true(qmp_find_command("memsave")->flags & QMP_CMD_HOST_FILES);
    g_assert_true(qmp_find_command("pmemsave")->flags & QMP_CMD_HOST_FILES);
    g_assert_true(qmp_find_command("quit")->flags & QMP_CMD_ENDS_PROCESS);
}

/* query-qmp-schema: QEMU's introspection format, self-contained. */
static void test_introspection(void)
{
    Machine *m = test_machine();
    g_autoptr(JsonValue) schema = qmp_ok(m, "query-qmp-schema", NULL);
    g_autoptr(GHashTable) defined =
        g_hash_table_new(g_str_hash, g_str_equal);
    g_autoptr(GPtrArray) refs = g_ptr_array_new();
    size_t n = json_array_length(schema);
    JsonValue *memsave = NULL, *memsave_arg = NULL, *run_state = NULL;
    JsonValue *int_builtin = NULL, *stop = NULL, *reset_ev = NULL;

    g_assert_cmpuint(n, >, 0);
    for (size_t i = 0; i < n; i++) {
        JsonValue *e = json_array_get(schema, i);
        const char *name = json_object_get_str(e, "name");
        const char *meta = json_object_get_str(e, "meta-type");
        JsonValue *members = json_object_get(e, "members");

        g_assert_nonnull(name);
        g_assert_nonnull(meta);
        /* Each entity once. */
        g_assert_false(g_hash_table_contains(defined, name));
        g_hash_table_add(defined, (gpointer)name);
        if (strcmp(meta, "command") == 0) {
            g_ptr_array_add(refs, (gpointer)json_object_get_str(e,
                                                               "arg-type"));
            g_ptr_array_add(refs, (gpointer)json_object_get_str(e,
                                                               "ret-type"));
        } else if (strcmp(meta, "event") == 0) {
            g_ptr_array_add(refs, (gpointer)json_object_get_str(e,
                                                               "arg-type"));
        } else if (strcmp(meta, "array") == 0) {
            g_ptr_array_add(refs, (gpointer)json_object_get_str(
                                      e, "element-type"));
        } else if (strcmp(meta, "object") == 0) {
            g_assert_nonnull(members);
            for (size_t k = 0; k < json_array_length(members); k++) {
                JsonValue *mb = json_array_get(members, k);
                g_assert_nonnull(json_object_get_str(mb, "name"));
                g_ptr_array_add(refs,
                                (gpointer)json_object_get_str(mb, "type"));
            }
        } else if (strcmp(meta, "enum") == 0) {
            g_assert_cmpuint(json_array_length(json_object_get(e, "values")),
                             ==, json_array_length(members));
        } else {
            g_assert_cmpstr(meta, ==, "builtin");
            g_assert_nonnull(json_object_get_str(e, "json-type"));
        }
        if (strcmp(name, "memsave") == 0) {
            memsave = e;
        } else if (strcmp(name, "q_obj_memsave-arg") == 0) {
            memsave_arg = e;
        } else if (strcmp(name, "RunState") == 0) {
            run_state = e;
        } else if (strcmp(name, "int") == 0) {
            int_builtin = e;
        } else if (strcmp(name, "stop") == 0) {
            stop = e;
        } else if (strcmp(name, "RESET") == 0) {
            reset_ev = e;
        }
    }
    /* Every name an entity refers to is defined in the same answer. */
    for (guint i = 0; i < refs->len; i++) {
        const char *t = g_ptr_array_index(refs, i);
        g_assert_nonnull(t);
        if (!g_hash_table_contains(defined, t)) {
            g_error("query-qmp-schema refers to undefined type '%s'", t);
        }
    }
    /* Every command and event of the tables is there. */
    for (const QmpCommand *c = qmp_commands; c->name; c++) {
        g_assert_true(g_hash_table_contains(defined, c->name));
    }
    for (const QmpEvent *e = qmp_events; e->name; e++) {
        g_assert_true(g_hash_table_contains(defined, e->name));
    }

    g_assert_nonnull(memsave);
    g_assert_cmpstr(json_object_get_str(memsave, "meta-type"), ==,
                    "command");
    g_assert_cmpstr(json_object_get_str(memsave, "arg-type"), ==,
                    "q_obj_memsave-arg");
    g_assert_cmpstr(json_object_get_str(memsave, "ret-type"), ==, "q_empty");
    g_assert_nonnull(memsave_arg);
    {
        JsonValue *mbs = json_object_get(memsave_arg, "members");
        JsonValue *val = json_array_get(mbs, 0);
        JsonValue *cpu = json_array_get(mbs, 3);
        g_assert_cmpuint(json_array_length(mbs), ==, 4);
        g_assert_cmpstr(json_object_get_str(val, "name"), ==, "val");
        g_assert_cmpstr(json_object_get_str(val, "type"), ==, "int");
        g_assert_null(json_object_get(val, "default"));
        g_assert_cmpstr(json_object_get_str(cpu, "name"), ==, "cpu-index");
        g_assert_cmpint(json_type(json_object_get(cpu, "default")), ==,
                        JSON_NULL);
    }
    g_assert_nonnull(stop);
    g_assert_cmpstr(json_object_get_str(stop, "arg-type"), ==, "q_empty");
    g_assert_nonnull(reset_ev);
    g_assert_cmpstr(json_object_get_str(reset_ev, "meta-type"), ==, "event");
    g_assert_cmpstr(json_object_get_str(reset_ev, "arg-type"), ==,
                    "q_obj_RESET-arg");
    g_assert_nonnull(run_state);
    g_assert_cmpstr(json_object_get_str(run_state, "meta-type"), ==, "enum");
    g_assert_cmpstr(json_get_string(json_array_get(
                        json_object_get(run_state, "values"), 6)), ==,
                    "prelaunch");
    g_assert_nonnull(int_builtin);
    g_assert_cmpstr(json_object_get_str(int_builtin, "json-type"), ==, "int");
    g_assert_true(g_hash_table_contains(defined, "[CpuInfoFast]"));
    machine_free(m);
}

static void test_query_commands_events(void)
{
    Machine *m = test_machine();
    g_autoptr(JsonValue) cmds = qmp_ok(m, "query-commands", NULL);
    g_autoptr(JsonValue) evs = qmp_ok(m, "query-events", NULL);
    size_t nr_cmds = 0, nr_evs = 0;

    for (const QmpCommand *c = qmp_commands; c->name; c++, nr_cmds++) {
        g_assert_cmpstr(json_object_get_str(json_array_get(cmds, nr_cmds),
                                            "name"), ==, c->name);
    }
    g_assert_cmpuint(json_array_length(cmds), ==, nr_cmds);
    for (const QmpEvent *e = qmp_events; e->name; e++, nr_evs++) {
        g_assert_cmpstr(json_object_get_str(json_array_get(evs, nr_evs),
                                            "name"), ==, e->name);
    }
    g_assert_cmpuint(json_array_length(evs), ==, nr_evs);
    machine_free(m);
}

/* ---- return values ------------------------------------------------------ */

static void test_query_returns(void)
{
    Machine *m = test_machine();
    JsonValue *v, *q;
    int64_t i64 = -1;
    int fd;
    bool b;

    v = qmp_ok(m, "query-version", NULL);
    q = json_object_get(v, "qemu");
    g_assert_true(json_object_get_i64(q, "major", &i64) && i64 == 7);
    g_assert_true(json_object_get_i64(q, "minor", &i64) && i64 == 2);
    g_assert_true(json_object_get_i64(q, "micro", &i64) && i64 == 0);
    g_assert_cmpstr(json_object_get_str(v, "package"), ==,
                    "lemu " LEMU_VERSION);
    json_free(v);

    g_assert_cmpstr(status_of(m), ==, "prelaunch");
    v = qmp_ok(m, "query-status", NULL);
    g_assert_true(json_object_get_bool(v, "singlestep", &b) && !b);
    json_free(v);

    v = qmp_ok(m, "query-name", NULL);
    g_assert_cmpuint(json_object_size(v), ==, 0);
    json_free(v);

    v = qmp_ok(m, "query-uuid", NULL);
    g_assert_cmpstr(json_object_get_str(v, "UUID"), ==,
                    "00000000-0000-0000-0000-000000000000");
    json_free(v);

    v = qmp_ok(m, "query-kvm", NULL);
    g_assert_true(json_object_get_bool(v, "enabled", &b) && !b);
    fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    g_assert_true(json_object_get_bool(v, "present", &b));
    g_assert_cmpint(b, ==, fd >= 0);
    if (fd >= 0) {
        close(fd);
    }
    json_free(v);

    v = qmp_ok(m, "query-target", NULL);
    g_assert_cmpstr(json_object_get_str(v, "arch"), ==, "x86_64");
    json_free(v);

    v = qmp_ok(m, "query-machines", NULL);
    g_assert_cmpuint(json_array_length(v), ==, 1);
    q = json_array_get(v, 0);
    g_assert_cmpstr(json_object_get_str(q, "name"), ==, "pc");
    g_assert_true(json_object_get_bool(q, "is-default", &b) && b);
    g_assert_true(json_object_get_i64(q, "cpu-max", &i64) &&
                  i64 == LEMU_MAX_VCPUS);
    json_free(v);

    v = qmp_ok(m, "query-chardev", NULL);
    g_assert_cmpuint(json_array_length(v), >=, 1);
    q = json_array_get(v, 0);
    g_assert_cmpstr(json_object_get_str(q, "filename"), ==, "null");
    g_assert_cmpstr(json_object_get_str(q, "label"), ==,
                    chardev_id(m->serial_chr[0]));
    /* COM1 uses it */
    g_assert_true(json_object_get_bool(q, "frontend-open", &b) && b);
    json_free(v);

    qmp_ok_free(m, "inject-nmi", NULL);
    machine_free(m);
}

static void test_query_name_uuid_cpus(void)
{
    Machine *m = test_machine_new("interp", 2, "guest-7",
                                  "12345678-9abc-def0-1234-56789abcdef0");
    JsonValue *v, *c, *props;
    int64_t i64;

    v = qmp_ok(m, "query-name", NULL);
    g_assert_cmpstr(json_object_get_str(v, "name"), ==, "guest-7");
    json_free(v);
    v = qmp_ok(m, "query-uuid", NULL);
    g_assert_cmpstr(json_object_get_str(v, "UUID"), ==,
                    "12345678-9abc-def0-1234-56789abcdef0");
    json_free(v);

    /* The thread IDs are known once the threads run. */
    for (unsigned i = 0; i < 2; i++) {
        gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
        bool started = false;
        while (!started && g_get_monotonic_time() < deadline) {
            machine_lock(m);
            started = m->vcpus[i]->thread_started;
            machine_unlock(m);
            g_usleep(1000);
        }
        g_assert_true(started);
    }
    v = qmp_ok(m, "query-cpus-fast", NULL);
    g_assert_cmpuint(json_array_length(v), ==, 2);
    for (unsigned i = 0; i < 2; i++) {
        g_autofree char *path =
            g_strdup_printf("/machine/unattached/device[%u]", i);
        c = json_array_get(v, i);
        g_assert_true(json_object_get_i64(c, "cpu-index", &i64) && i64 == i);
        g_assert_cmpstr(json_object_get_str(c, "qom-path"), ==, path);
        g_assert_true(json_object_get_i64(c, "thread-id", &i64));
        g_assert_cmpint(i64, ==, m->vcpus[i]->os_tid);
        g_assert_cmpint(i64, >, 0);
        g_assert_cmpint(i64, !=, (int64_t)getpid());
        g_assert_cmpstr(json_object_get_str(c, "target"), ==, "x86_64");
        props = json_object_get(c, "props");
        g_assert_true(json_object_get_i64(props, "core-id", &i64) &&
                      i64 == i);
        g_assert_true(json_object_get_i64(props, "socket-id", &i64) &&
                      i64 == 0);
    }
    json_free(v);
    machine_free(m);
}

/* The commands backed by the human monitor. */
static void test_hmp_backed(void)
{
    Machine *m = test_machine();
    static const char *const text_cmds[] = {
        "x-query-registers", "x-query-mtree", "x-query-qtree",
    };
    JsonValue *v;

    for (size_t i = 0; i < G_N_ELEMENTS(text_cmds); i++) {
        v = qmp_ok(m, text_cmds[i], NULL);
        g_assert_cmpuint(strlen(json_object_get_str(v,
                                                    "human-readable-text")),
                         >, 0);
        json_free(v);
    }
    v = qmp_ok(m, "human-monitor-command",
               "{\"command-line\": \"info status\"}");
    g_assert_nonnull(strstr(json_get_string(v), "VM status"));
    json_free(v);
    machine_free(m);
}

/* ---- argument errors --------------------------------------------------- */

static void test_arg_errors(void)
{
    Machine *m = test_machine();
    QmpContext ctx = { .machine = m };

    assert_qmp_error_ctx(&ctx, "no-such-command", NULL, "CommandNotFound",
                         "The command no-such-command has not been found");
    assert_qmp_error(m, "memsave", NULL, "Parameter 'val' is missing");
    assert_qmp_error(m, "memsave", "{\"val\": 1, \"size\": 2}",
                     "Parameter 'filename' is missing");
    assert_qmp_error(m, "query-status", "{\"foo\": 1}",
                     "Parameter 'foo' is unexpected");
    /* Declared members first, as QEMU: missing before unexpected. */
    assert_qmp_error(m, "memsave", "{\"foo\": 1, \"size\": 2}",
                     "Parameter 'val' is missing");
    assert_qmp_error(m, "memsave",
                     "{\"val\": \"a\", \"size\": 1, \"filename\": \"/x\"}",
                     "Invalid parameter type for 'val', expected: integer");
    assert_qmp_error(m, "memsave",
                     "{\"val\": 1.5, \"size\": 1, \"filename\": \"/x\"}",
                     "Invalid parameter type for 'val', expected: integer");
    assert_qmp_error(m, "memsave",
                     "{\"val\": 1, \"size\": 1, \"filename\": 3}",
                     "Invalid parameter type for 'filename', expected: "
                     "string");
    assert_qmp_error(m, "memsave",
                     "{\"val\": 1, \"size\": 1, \"filename\": \"/x\", "
                     "\"cpu-index\": null}",
                     "Invalid parameter type for 'cpu-index', expected: "
                     "integer");
    assert_qmp_error(m, "qmp_capabilities", "{\"enable\": \"oob\"}",
                     "Invalid parameter type for 'enable', expected: array");
    assert_qmp_error(m, "qmp_capabilities", "{\"enable\": [1]}",
                     "Invalid parameter type for 'enable[0]', expected: "
                     "string");
    assert_qmp_error(m, "qmp_capabilities", "{\"enable\": [\"xyz\"]}",
                     "Parameter 'enable' does not accept value 'xyz'");
    assert_qmp_error(m, "human-monitor-command",
                     "{\"command-line\": \"info status\", "
                     "\"cpu-index\": \"x\"}",
                     "Invalid parameter type for 'cpu-index', expected: "
                     "integer");
    /* Integers above INT64_MAX are addresses that wrap, not errors. */
    assert_qmp_error(m, "pmemsave",
                     "{\"val\": 18446744073709551615, \"size\": 2, "
                     "\"filename\": \"/nonexistent-dir/x\"}",
                     "Invalid addr 0xffffffffffffffff/size 2 specified");
    machine_free(m);
}

/* The other builtin and nested types, through the value checker. */
static void test_value_types(void)
{
    static const struct {
        const char *type, *json, *error;
    } cases[] = {
        { "number", "1.5", NULL },
        { "number", "7", NULL },
        { "number", "\"7\"", "expected: number" },
        { "bool", "true", NULL },
        { "bool", "0", "expected: boolean" },
        { "null", "null", NULL },
        { "null", "{}", "expected: null" },
        { "any", "[{}, 1, null]", NULL },
        { "[int]", "[1, 2]", NULL },
        { "[int]", "[1, true]", "'<value>[1]', expected: integer" },
        { "[[str]]", "[[\"a\"], []]", NULL },
        { "VersionTriple", "[]", "expected: object" },
        { "VersionInfo",
          "{\"qemu\": {\"major\": 1, \"minor\": 2, \"micro\": 3}, "
          "\"package\": \"p\"}", NULL },
        { "VersionInfo",
          "{\"qemu\": {\"major\": 1, \"minor\": 2}, \"package\": \"p\"}",
          "Parameter '<value>.qemu.micro' is missing" },
        { "VersionInfo",
          "{\"qemu\": {\"major\": 1, \"minor\": 2, \"micro\": 3, "
          "\"nano\": 4}, \"package\": \"p\"}",
          "Parameter '<value>.qemu.nano' is unexpected" },
        { "RunState", "\"running\"", NULL },
        { "RunState", "\"sprinting\"", "does not accept value 'sprinting'" },
        { "RunState", "3", "expected: string" },
        { "NameInfo", "{}", NULL },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(JsonValue) v =
            json_parse(cases[i].json, strlen(cases[i].json), NULL);
        GError *err = NULL;
        bool ok;

        g_assert_nonnull(v);
        ok = qmp_schema_check_value(cases[i].type, v, &err);
        if (!cases[i].error) {
            g_assert_no_error(err);
            g_assert_true(ok);
        } else {
            g_assert_false(ok);
            g_assert_nonnull(err);
            if (!strstr(err->message, cases[i].error)) {
                g_error("%s %s: '%s' lacks '%s'", cases[i].type,
                        cases[i].json, err->message, cases[i].error);
            }
            g_error_free(err);
        }
    }
}

/* Bad arguments are refused before the command does anything. */
static void test_no_side_effects(void)
{
    Machine *m = test_machine();
    g_autofree char *path = tmp_path("side-effect");
    g_autofree char *args = NULL;

    g_unlink(path);
    args = g_strdup_printf("{\"val\": 0, \"size\": 16, \"filename\": \"%s\", "
                           "\"extra\": 1}", path);
    assert_qmp_error(m, "memsave", args, "Parameter 'extra' is unexpected");
    assert_qmp_error(m, "pmemsave", args, "Parameter 'extra' is unexpected");
    g_free(args);
    args = g_strdup_printf("{\"val\": 0, \"size\": \"16\", "
                           "\"filename\": \"%s\"}", path);
    assert_qmp_error(m, "pmemsave", args,
                     "Invalid parameter type for 'size', expected: integer");
    g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));

    assert_qmp_error(m, "cont", "{\"now\": true}",
                     "Parameter 'now' is unexpected");
    g_assert_cmpstr(status_of(m), ==, "prelaunch");
    assert_qmp_error(m, "quit", "{\"x\": 1}", "Parameter 'x' is unexpected");
    g_assert_cmpint(g_atomic_int_get(&m->shutdown_request), ==, 0);
    assert_qmp_error(m, "system_reset", "{\"x\": 1}",
                     "Parameter 'x' is unexpected");
    g_assert_cmpint(g_atomic_int_get(&m->reset_request), ==, 0);
    machine_free(m);
}

static void test_deny(void)
{
    Machine *m = test_machine();
    static const char *const deny[] = { "memsave", "quit", NULL };
    QmpContext ctx = { .machine = m, .deny = deny };
    g_autofree char *path = tmp_path("denied");
    g_autofree char *args = g_strdup_printf(
        "{\"val\": 0, \"size\": 16, \"filename\": \"%s\"}", path);
    g_autoptr(JsonValue) cmds = NULL;
    GError *err = NULL;

    g_unlink(path);
    assert_qmp_error_ctx(&ctx, "memsave", args, "CommandNotFound",
                         "The command memsave has been disabled for this "
                         "instance");
    g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
    assert_qmp_error_ctx(&ctx, "quit", NULL, "CommandNotFound",
                         "The command quit has been disabled for this "
                         "instance");
    g_assert_cmpint(g_atomic_int_get(&m->shutdown_request), ==, 0);

    cmds = qmp_ctx(&ctx, "query-commands", NULL, &err);
    g_assert_no_error(err);
    for (size_t i = 0; i < json_array_length(cmds); i++) {
        const char *n = json_object_get_str(json_array_get(cmds, i), "name");
        g_assert_cmpstr(n, !=, "memsave");
        g_assert_cmpstr(n, !=, "quit");
    }
    g_assert_cmpuint(json_array_length(cmds), >, 10);
    json_free(qmp_ctx(&ctx, "pmemsave", args, &err));
    g_assert_no_error(err);
    g_assert_true(g_file_test(path, G_FILE_TEST_EXISTS));
    g_unlink(path);
    machine_free(m);
}

static void test_capabilities_late(void)
{
    Machine *m = test_machine();
    QmpContext ctx = { .machine = m };
    static const char *const msg =
        "Capabilities negotiation is already complete, command ignored";

    assert_qmp_error_ctx(&ctx, "qmp_capabilities", NULL, "CommandNotFound",
                         msg);
    assert_qmp_error_ctx(&ctx, "qmp_capabilities", "{\"enable\": [\"oob\"]}",
                         "CommandNotFound", msg);
    machine_free(m);
}

/* ---- run control -------------------------------------------------------- */

static void test_stop_cont(void)
{
    Machine *m = test_machine();
    TestSession ts;
    int i;

    test_session_open(&ts, m);
    /* -S: stop keeps prelaunch and says nothing */
    qmp_ok_free(m, "stop", NULL);
    g_assert_cmpstr(status_of(m), ==, "prelaunch");
    g_assert_cmpint(find_event(&ts, 0, "STOP", NULL), ==, -1);

    qmp_ok_free(m, "cont", NULL);
    g_assert_cmpstr(status_of(m), ==, "running");
    i = find_event(&ts, 0, "RESUME", NULL);
    g_assert_cmpint(i, >=, 0);
    qmp_ok_free(m, "cont", NULL);      /* running already: nothing */
    g_assert_cmpint(find_event(&ts, i + 1, "RESUME", NULL), ==, -1);

    qmp_ok_free(m, "stop", NULL);
    g_assert_cmpstr(status_of(m), ==, "paused");
    i = find_event(&ts, 0, "STOP", NULL);
    g_assert_cmpint(i, >=, 0);
    qmp_ok_free(m, "stop", NULL);      /* paused already: nothing */
    g_assert_cmpint(find_event(&ts, i + 1, "STOP", NULL), ==, -1);

    qmp_ok_free(m, "cont", NULL);
    g_assert_cmpstr(status_of(m), ==, "running");
    qmp_ok_free(m, "stop", NULL);
    g_assert_cmpstr(status_of(m), ==, "paused");

    /* After a guest poweroff with -no-shutdown, or an internal error,
     * only a reset helps. */
    machine_lock(m);
    m->runstate = RUN_STATE_SHUTDOWN;
    machine_unlock(m);
    assert_qmp_error(m, "cont", NULL,
                     "Resetting the Virtual Machine is required");
    g_assert_cmpstr(status_of(m), ==, "shutdown");
    machine_lock(m);
    m->runstate = RUN_STATE_INTERNAL_ERROR;
    machine_unlock(m);
    assert_qmp_error(m, "cont", NULL,
                     "Resetting the Virtual Machine is required");
    machine_lock(m);
    m->runstate = RUN_STATE_PAUSED;
    machine_unlock(m);

    test_session_close(&ts);
    machine_free(m);
}

static void test_system_reset(void)
{
    Machine *m = test_machine();
    g_autoptr(JsonValue) data = NULL;
    TestSession ts;
    bool guest = true;

    test_session_open(&ts, m);
    qmp_ok_free(m, "system_reset", NULL);
    machine_lock(m);    /* the loop's caller holds it */
    FIXTURE_RUN_UNTIL(m->loop, find_event(&ts, 0, "RESET", NULL) >= 0);
    machine_unlock(m);
    find_event(&ts, 0, "RESET", &data);
    g_assert_cmpstr(json_object_get_str(data, "reason"), ==,
                    "host-qmp-system-reset");
    g_assert_true(json_object_get_bool(data, "guest", &guest) && !guest);
    g_assert_cmpstr(status_of(m), ==, "prelaunch");
    test_session_close(&ts);
    machine_free(m);
}

static void test_system_powerdown(void)
{
    Machine *m = test_machine();
    TestSession ts;
    uint32_t sts = 0;

    test_session_open(&ts, m);
    machine_lock(m);
    ioport_read(m->io, ACPI_PM1A_EVT_BLK, 2, &sts);
    machine_unlock(m);
    g_assert_cmpuint(sts & ACPI_PM1_PWRBTN_STS, ==, 0);

    qmp_ok_free(m, "system_powerdown", NULL);
    g_assert_cmpint(find_event(&ts, 0, "POWERDOWN", NULL), >=, 0);
    machine_lock(m);
    ioport_read(m->io, ACPI_PM1A_EVT_BLK, 2, &sts);
    machine_unlock(m);
    g_assert_cmpuint(sts & ACPI_PM1_PWRBTN_STS, ==, ACPI_PM1_PWRBTN_STS);
    test_session_close(&ts);
    machine_free(m);
}

static void test_quit(void)
{
    Machine *m = test_machine();
    g_autoptr(JsonValue) data = NULL;
    TestSession ts;
    bool guest = true;

    test_session_open(&ts, m);
    qmp_ok_free(m, "quit", NULL);
    g_assert_false(m->exit_requested);    /* after the reply, not inside */
    machine_lock(m);
    FIXTURE_RUN_UNTIL(m->loop, m->exit_requested);
    machine_unlock(m);
    g_assert_cmpint(m->exit_code, ==, 0);
    g_assert_cmpint(find_event(&ts, 0, "SHUTDOWN", &data), >=, 0);
    g_assert_cmpstr(json_object_get_str(data, "reason"), ==, "host-qmp-quit");
    g_assert_true(json_object_get_bool(data, "guest", &guest) && !guest);
    test_session_close(&ts);
    machine_free(m);
}

/*
 * inject-nmi on a running guest: real-mode code spins at 0x7c00 (the
 * loader of test_machine_new); the NMI handler (IVT vector 2) stores a
 * marker and halts.
 */
static void run_inject_nmi(const char *accel)
{
    static const uint8_t handler[] = {
        0xc6, 0x06, 0x00, 0x05, 0x42,                   /* mov [0x500], 42 */
        0xf4, 0xeb, 0xfd,                               /* hlt; jmp hlt */
    };
    static const uint8_t ivt2[] = { 0x00, 0x80, 0x00, 0x00 };   /* 0:8000 */
    Machine *m = test_machine_new(accel, 1, NULL, NULL);
    uint8_t marker = 0;
    gint64 deadline;

    if (!m) {
        return;   /* skipped */
    }
    poke(m, 0x8000, handler, sizeof(handler));
    poke(m, 2 * 4, ivt2, sizeof(ivt2));

    qmp_ok_free(m, "cont", NULL);
    g_usleep(20 * 1000);                 /* spinning, no NMI yet */
    machine_lock(m);
    memory_map_read(m->mem, 0x500, &marker, 1);
    machine_unlock(m);
    g_assert_cmpuint(marker, ==, 0);

    qmp_ok_free(m, "inject-nmi", NULL);
    deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
    while (marker != 0x42 && g_get_monotonic_time() < deadline) {
        g_usleep(1000);
        machine_lock(m);
        memory_map_read(m->mem, 0x500, &marker, 1);
        machine_unlock(m);
    }
    g_assert_cmpuint(marker, ==, 0x42);
    qmp_ok_free(m, "stop", NULL);
    machine_free(m);
}

static void test_inject_nmi_interp(void)
{
    run_inject_nmi("interp");
}

static void test_inject_nmi_kvm(void)
{
    run_inject_nmi("kvm");
}

/* ---- memsave / pmemsave ------------------------------------------------- */

static void fill_pattern(uint8_t *buf, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++) {
        buf[i] = (uint8_t)(i * 7 + seed + (i >> 8));
    }
}

static char *save_args(uint64_t addr, int64_t size, const char *path,
                       const char *extra)
{
    return g_strdup_printf("{\"val\": %" G_GINT64_FORMAT ", \"size\": %"
                           G_GINT64_FORMAT ", \"filename\": \"%s\"%s}",
                           (int64_t)addr, size, path, extra ? extra : "");
}

static void save(Machine *m, const char *cmd, uint64_t addr, int64_t size,
                 const char *path, const char *extra)
{
    g_autofree char *args = save_args(addr, size, path, extra);

    qmp_ok_free(m, cmd, args);
}

static void save_fails(Machine *m, const char *cmd, uint64_t addr,
                       int64_t size, const char *path, const char *extra,
                       const char *desc)
{
    g_autofree char *args = save_args(addr, size, path, extra);

    assert_qmp_error(m, cmd, args, desc);
}

static void test_pmemsave(void)
{
    Machine *m = test_machine();
    g_autofree char *path = tmp_path("pmem");
    g_autofree uint8_t *big = g_malloc(3 * MiB + 123);
    uint8_t small[8192];
    struct stat sb;

    fill_pattern(small, sizeof(small), 3);
    poke(m, 0x1000, small, sizeof(small));
    save(m, "pmemsave", 0x1000, sizeof(small), path, NULL);
    assert_file_is(path, small, sizeof(small));
    g_assert_cmpint(g_stat(path, &sb), ==, 0);
    g_assert_cmpint(sb.st_mode & 0777, ==, 0600);

    /* Many chunks, an odd size; the old contents are truncated. */
    fill_pattern(big, 3 * MiB + 123, 11);
    poke(m, 2 * MiB + 5, big, 3 * MiB + 123);
    save(m, "pmemsave", 2 * MiB + 5, 3 * MiB + 123, path, NULL);
    assert_file_is(path, big, 3 * MiB + 123);
    save(m, "pmemsave", 0x1000, 0, path, NULL);
    assert_file_is(path, "", 0);

    /* A bad range fails before the file is touched. */
    g_assert_true(g_file_set_contents(path, "keep", 4, NULL));
    save_fails(m, "pmemsave", 16 * MiB - 8, 16, path, NULL,
               "Invalid addr 0x0000000000fffff8/size 16 specified");
    save_fails(m, "pmemsave", 1ULL << 30, 1, path, NULL,
               "Invalid addr 0x0000000040000000/size 1 specified");
    save_fails(m, "pmemsave", -16, 32, path, NULL,
               "Invalid addr 0xfffffffffffffff0/size 32 specified");
    save_fails(m, "pmemsave", 0, -1, path, NULL,
               "Parameter 'size' expects a size of 0 or more bytes");
    assert_file_is(path, "keep", 4);

    assert_qmp_error(m, "pmemsave",
                     "{\"val\": 0, \"size\": 1, \"filename\": "
                     "\"/nonexistent-dir/f\"}",
                     "Could not open '/nonexistent-dir/f': No such file or "
                     "directory");
    g_unlink(path);
    machine_free(m);
}

/* Page tables for 4-level paging at 0x10000: virtual 0x40000000 and
 * 0x40001000 map to physical 0x205000 and 0x203000 (swapped), 0x40002000
 * is not present; 0x40200000 is a 2 MiB page at 0x600000. */
static void build_page_tables(Machine *m)
{
    uint64_t pml4 = 0x10000, pdpt = 0x11000, pd = 0x12000, pt = 0x13000;
    uint64_t e;

    e = pdpt | 3;
    poke(m, pml4, &e, 8);
    e = pd | 3;
    poke(m, pdpt + 1 * 8, &e, 8);              /* 1 GiB slot 1 */
    e = pt | 3;
    poke(m, pd + 0 * 8, &e, 8);
    e = 0x600000 | 0x83;                       /* PS: 2 MiB */
    poke(m, pd + 1 * 8, &e, 8);
    e = 0x205000 | 3;
    poke(m, pt + 0 * 8, &e, 8);
    e = 0x203000 | 3;
    poke(m, pt + 1 * 8, &e, 8);
}

static void test_memsave(void)
{
    Machine *m = test_machine_new("interp", 2, NULL, NULL);
    g_autofree char *path = tmp_path("mem");
    uint8_t page_a[4096], page_b[4096], expect[4096], two_m[4096];
    X86CPUState st;

    /* Paging off (the reset state): virtual is physical. */
    fill_pattern(page_a, sizeof(page_a), 1);
    poke(m, 0x3000, page_a, sizeof(page_a));
    save(m, "memsave", 0x3000, 4096, path, NULL);
    assert_file_is(path, page_a, 4096);

    /* Paging on for vCPU 1 only. */
    build_page_tables(m);
    fill_pattern(page_a, sizeof(page_a), 5);
    fill_pattern(page_b, sizeof(page_b), 9);
    poke(m, 0x205000, page_a, sizeof(page_a));
    poke(m, 0x203000, page_b, sizeof(page_b));
    fill_pattern(two_m, sizeof(two_m), 13);
    poke(m, 0x600000 + 0x1ff000, two_m, sizeof(two_m));
    x86_cpu_state_reset(&st, false);
    x86_cpu_state_set_long_mode(&st, 0x1000, 0x10000);
    machine_lock(m);
    vcpu_set_pending_state(m->vcpus[1], &st);
    machine_unlock(m);

    /* Across the two pages: the end of one, the start of the other. */
    memcpy(expect, page_a + 0x800, 0x800);
    memcpy(expect + 0x800, page_b, 0x800);
    save(m, "memsave", 0x40000800, 4096, path, ", \"cpu-index\": 1");
    assert_file_is(path, expect, 4096);
    save(m, "memsave", 0x40200000 + 0x1ff000, 4096, path,
         ", \"cpu-index\": 1");
    assert_file_is(path, two_m, 4096);

    /* vCPU 0 still has paging off: the same address is physical. */
    g_assert_true(g_file_set_contents(path, "keep", 4, NULL));
    save_fails(m, "memsave", 0x40000800, 4096, path, NULL,
               "Invalid addr 0x0000000040000800/size 4096 specified");
    /* The third page is not present. */
    save_fails(m, "memsave", 0x40001800, 4096, path, ", \"cpu-index\": 1",
               "Invalid addr 0x0000000040001800/size 4096 specified");
    save_fails(m, "memsave", 0, 1, path, ", \"cpu-index\": 2",
               "Parameter 'cpu-index' expects a CPU number");
    save_fails(m, "memsave", 0, 1, path, ", \"cpu-index\": -1",
               "Parameter 'cpu-index' expects a CPU number");
    assert_file_is(path, "keep", 4);
    g_unlink(path);
    machine_free(m);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qmp-commands/tables", test_tables_consistent);
    g_test_add_func("/qmp-commands/introspection", test_introspection);
    g_test_add_func("/qmp-commands/query-commands-events",
                    test_query_commands_events);
    g_test_add_func("/qmp-commands/query-returns", test_query_returns);
    g_test_add_func("/qmp-commands/query-name-uuid-cpus",
                    test_query_name_uuid_cpus);
    g_test_add_func("/qmp-commands/hmp-backed", test_hmp_backed);
    g_test_add_func("/qmp-commands/arg-errors", test_arg_errors);
    g_test_add_func("/qmp-commands/value-types", test_value_types);
    g_test_add_func("/qmp-commands/no-side-effects", test_no_side_effects);
    g_test_add_func("/qmp-commands/deny", test_deny);
    g_test_add_func("/qmp-commands/capabilities-late",
                    test_capabilities_late);
    g_test_add_func("/qmp-commands/stop-cont", test_stop_cont);
    g_test_add_func("/qmp-commands/system-reset", test_system_reset);
    g_test_add_func("/qmp-commands/system-powerdown", test_system_powerdown);
    g_test_add_func("/qmp-commands/quit", test_quit);
    g_test_add_func("/qmp-commands/inject-nmi/interp",
                    test_inject_nmi_interp);
    g_test_add_func("/qmp-commands/inject-nmi/kvm", test_inject_nmi_kvm);
    g_test_add_func("/qmp-commands/pmemsave", test_pmemsave);
    g_test_add_func("/qmp-commands/memsave", test_memsave);
    return g_test_run();
}
