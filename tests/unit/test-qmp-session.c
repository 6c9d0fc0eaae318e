/*
 * QMP sessions: the greeting, negotiation, request checking, id echo,
 * stream framing and events, as a client sees them on the wire; and QMP
 * on a unix socket with several clients at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <glib.h>
#include <glib/gstdio.h>
#include "monitor/monitor-internal.h"
#include "lemu/util/log.h"
#include "fixture.h"

#define GREETING                                                           \
    "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, "     \
    "\"major\": 7}, \"package\": \"lemu 0.1.0\"}, \"capabilities\": []}}"

/* ---- a session whose output goes to memory ---- */

typedef struct TestSession {
    Machine *m;
    QmpSession *s;
    GString *out;               /* everything written, not yet taken */
} TestSession;

static void test_write(void *opaque, const char *line, size_t len)
{
    TestSession *ts = opaque;

    /* One call is one complete message ending in CRLF. */
    g_assert_cmpuint(len, >=, 2);
    g_assert_cmpint(line[len - 2], ==, '\r');
    g_assert_cmpint(line[len - 1], ==, '\n');
    g_string_append_len(ts->out, line, len);
}

static const QmpSessionOps test_ops = { .write = test_write };

/* -machine pc -accel interp -m 16M -S -serial null, booting a loop of
 * "hlt; jmp back" loaded at 0x1000. */
static Machine *test_machine_new(GPtrArray *monitors, GError **errp)
{
    static const char guest[] = "\xf4\xeb\xfd";
    g_autofree char *image = NULL;
    g_autofree char *spec = NULL;
    MachineConfig cfg;
    LemuOpts *loader;
    Machine *m;
    int fd;

    fd = g_file_open_tmp("lemu-qmp-guest-XXXXXX", &image, NULL);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(write(fd, guest, 3), ==, 3);
    close(fd);
    spec = g_strdup_printf("loader,file=%s,addr=0x1000,cpu-num=0", image);
    loader = opts_parse("-device", spec, "driver", NULL);
    g_assert_nonnull(loader);

    machine_config_init(&cfg);
    cfg.accel = g_strdup("interp");
    cfg.ram_size = 16 << 20;
    cfg.start_paused = true;
    g_ptr_array_add(cfg.serials, g_strdup("null"));
    g_ptr_array_add(cfg.devices, loader);
    for (guint i = 0; monitors && i < monitors->len; i++) {
        g_ptr_array_add(cfg.monitors, g_ptr_array_index(monitors, i));
    }
    m = machine_new(&cfg, errp);
    machine_config_clear(&cfg);
    g_unlink(image);
    return m;
}

static void ts_init(TestSession *ts, bool pretty)
{
    g_autoptr(GError) err = NULL;

    ts->m = test_machine_new(NULL, &err);
    g_assert_no_error(err);
    machine_lock(ts->m);
    ts->out = g_string_new(NULL);
    ts->s = qmp_session_new(ts->m, &test_ops, ts, pretty);
}

static void ts_cleanup(TestSession *ts)
{
    qmp_session_free(ts->s);
    machine_unlock(ts->m);
    machine_free(ts->m);
    g_string_free(ts->out, TRUE);
}

/* Takes the next CRLF-terminated line of output, or NULL if none. */
static char *ts_take_line(TestSession *ts)
{
    char *end = strstr(ts->out->str, "\r\n");
    char *line;

    if (!end) {
        return NULL;
    }
    line = g_strndup(ts->out->str, end - ts->out->str);
    g_string_erase(ts->out, 0, end - ts->out->str + 2);
    return line;
}

static void ts_feed(TestSession *ts, const char *text)
{
    qmp_session_feed(ts->s, text, strlen(text));
}

/* Feeds @request and checks that exactly @reply came back. */
static void ts_expect(TestSession *ts, const char *request,
                      const char *reply)
{
    g_autofree char *line = NULL;

    ts_feed(ts, request);
    line = ts_take_line(ts);
    g_assert_cmpstr(line, ==, reply);
    g_assert_cmpstr(ts->out->str, ==, "");
}

static void ts_negotiate(TestSession *ts)
{
    g_autofree char *greeting = NULL;

    qmp_session_start(ts->s);
    greeting = ts_take_line(ts);
    g_assert_cmpstr(greeting, ==, GREETING);
    ts_expect(ts, "{\"execute\": \"qmp_capabilities\"}", "{\"return\": {}}");
}

/* Checks that @line is an error of @cls with description @desc. */
static void assert_error(const char *line, const char *cls, const char *desc)
{
    g_autoptr(JsonValue) v = json_parse(line, strlen(line), NULL);
    JsonValue *e;

    g_assert_nonnull(v);
    e = json_object_get(v, "error");
    g_assert_nonnull(e);
    g_assert_cmpstr(json_object_get_str(e, "class"), ==, cls);
    if (desc) {
        g_assert_cmpstr(json_object_get_str(e, "desc"), ==, desc);
    }
    g_assert_null(json_object_get(v, "return"));
}

static void ts_expect_error(TestSession *ts, const char *request,
                            const char *cls, const char *desc)
{
    g_autofree char *line = NULL;

    ts_feed(ts, request);
    line = ts_take_line(ts);
    g_assert_nonnull(line);
    assert_error(line, cls, desc);
    g_assert_cmpstr(ts->out->str, ==, "");
}

static void test_greeting(void)
{
    TestSession ts;
    g_autofree char *line = NULL;

    ts_init(&ts, false);
    qmp_session_start(ts.s);
    g_assert_true(g_str_has_suffix(ts.out->str, "\r\n"));
    line = ts_take_line(&ts);
    g_assert_cmpstr(line, ==, GREETING);
    g_assert_cmpstr(ts.out->str, ==, "");
    ts_cleanup(&ts);
}

static void test_negotiation(void)
{
    TestSession ts;
    g_autofree char *line = NULL;

    ts_init(&ts, false);
    qmp_session_start(ts.s);
    g_free(ts_take_line(&ts));

    /* Before negotiation: known and unknown commands alike. */
    ts_expect_error(&ts, "{\"execute\": \"query-status\"}", "CommandNotFound",
                    "Expecting capabilities negotiation with "
                    "'qmp_capabilities'");
    ts_expect_error(&ts, "{\"execute\": \"no-such-command\", \"id\": 1}",
                    "CommandNotFound",
                    "Expecting capabilities negotiation with "
                    "'qmp_capabilities'");
    /* Envelope errors are reported as such, even before. */
    ts_expect_error(&ts, "{\"id\": 1}", "GenericError",
                    "QMP input lacks member 'execute'");
    /* Capabilities lemu does not have. */
    ts_expect_error(&ts, "{\"execute\": \"qmp_capabilities\", "
                    "\"arguments\": {\"enable\": [\"oob\"]}}",
                    "GenericError", "Capability 'oob' not available");
    ts_expect_error(&ts, "{\"execute\": \"qmp_capabilities\", "
                    "\"arguments\": {\"enable\": [\"xyz\"]}}",
                    "GenericError",
                    "Parameter 'enable' does not accept value 'xyz'");
    ts_expect_error(&ts, "{\"execute\": \"qmp_capabilities\", "
                    "\"arguments\": {\"enable\": \"oob\"}}",
                    "GenericError", NULL);
    ts_expect_error(&ts, "{\"execute\": \"qmp_capabilities\", "
                    "\"arguments\": {\"bogus\": 1}}",
                    "GenericError", "Parameter 'bogus' is unexpected");
    /* Still un-negotiated after all that. */
    ts_expect_error(&ts, "{\"execute\": \"query-status\"}", "CommandNotFound",
                    NULL);

    ts_expect(&ts, "{\"execute\": \"qmp_capabilities\", "
              "\"arguments\": {\"enable\": []}}", "{\"return\": {}}");
    ts_expect_error(&ts, "{\"execute\": \"qmp_capabilities\"}",
                    "CommandNotFound",
                    "Capabilities negotiation is already complete, command "
                    "ignored");
    ts_feed(&ts, "{\"execute\": \"query-status\"}");
    line = ts_take_line(&ts);
    g_assert_nonnull(strstr(line, "\"status\": \"prelaunch\""));
    g_assert_true(g_str_has_prefix(line, "{\"return\": {"));
    g_clear_pointer(&line, g_free);

    /* A reset (the peer reconnected) starts over. */
    qmp_session_reset(ts.s);
    ts_expect_error(&ts, "{\"execute\": \"query-status\"}", "CommandNotFound",
                    "Expecting capabilities negotiation with "
                    "'qmp_capabilities'");
    ts_negotiate(&ts);
    ts_cleanup(&ts);
}

static void test_id_echo(void)
{
    static const char *const ids[] = {
        "\"abc\"", "42", "-7", "1.5", "null", "true", "[1, \"two\", null]",
        "{\"a\": {\"b\": [1, 2]}}", "18446744073709551615", "\"\\u00e9\"",
    };
    TestSession ts;

    ts_init(&ts, false);
    ts_negotiate(&ts);
    for (size_t i = 0; i < G_N_ELEMENTS(ids); i++) {
        g_autofree char *req = g_strdup_printf(
            "{\"execute\": \"query-name\", \"id\": %s}", ids[i]);
        g_autofree char *rsp = g_strdup_printf(
            "{\"return\": {}, \"id\": %s}", ids[i]);
        g_autofree char *bad = g_strdup_printf(
            "{\"id\": %s, \"execute\": \"nope\"}", ids[i]);
        g_autofree char *line = NULL;
        g_autoptr(JsonValue) v = NULL;
        g_autoptr(JsonValue) want = json_parse(ids[i], strlen(ids[i]), NULL);
        g_autoptr(GString) a = g_string_new(NULL);
        g_autoptr(GString) b = g_string_new(NULL);

        /* \u00e9 comes back as the writer spells it; compare values. */
        ts_feed(&ts, req);
        line = ts_take_line(&ts);
        v = json_parse(line, strlen(line), NULL);
        g_assert_nonnull(v);
        json_append(a, json_object_get(v, "id"), false);
        json_append(b, want, false);
        g_assert_cmpstr(a->str, ==, b->str);
        if (i != 3 && i < 8) {   /* exact spelling, but for the double */
            g_assert_cmpstr(line, ==, rsp);
        }
        g_clear_pointer(&line, g_free);
        g_clear_pointer(&v, json_free);
        g_string_truncate(a, 0);

        /* Errors carry the id too. */
        ts_feed(&ts, bad);
        line = ts_take_line(&ts);
        assert_error(line, "CommandNotFound",
                     "The command nope has not been found");
        v = json_parse(line, strlen(line), NULL);
        json_append(a, json_object_get(v, "id"), false);
        g_assert_cmpstr(a->str, ==, b->str);
    }
    /* An envelope error with an id: still echoed. */
    ts_expect(&ts, "{\"id\": \"x\", \"execute\": 5}",
              "{\"error\": {\"class\": \"GenericError\", \"desc\": \"QMP "
              "input member 'execute' must be a string\"}, \"id\": \"x\"}");
    ts_cleanup(&ts);
}

static void test_malformed(void)
{
    TestSession ts;
    g_autofree char *line = NULL;

    ts_init(&ts, false);
    ts_negotiate(&ts);

    ts_feed(&ts, "{\"execute\": }");
    line = ts_take_line(&ts);
    assert_error(line, "GenericError", NULL);
    g_assert_true(strstr(line, "JSON parse error") != NULL);
    g_assert_null(strstr(line, "\"id\""));
    g_clear_pointer(&line, g_free);

    ts_expect_error(&ts, "[]", "GenericError",
                    "QMP input must be a JSON object");
    /* A bare number ends only at a delimiter, as in QEMU. */
    ts_expect_error(&ts, "3\n", "GenericError",
                    "QMP input must be a JSON object");
    ts_expect_error(&ts, "\"query-status\"", "GenericError",
                    "QMP input must be a JSON object");
    ts_expect_error(&ts, "{\"execute\": \"query-status\", \"foo\": 1}",
                    "GenericError", "QMP input member 'foo' is unexpected");
    ts_expect_error(&ts, "{\"exec-oob\": \"query-status\"}", "GenericError",
                    "QMP input member 'exec-oob' is unexpected");
    ts_expect_error(&ts, "{}", "GenericError",
                    "QMP input lacks member 'execute'");
    ts_expect_error(&ts, "{\"arguments\": {}}", "GenericError",
                    "QMP input lacks member 'execute'");
    ts_expect_error(&ts, "{\"execute\": [\"query-status\"]}", "GenericError",
                    "QMP input member 'execute' must be a string");
    ts_expect_error(&ts, "{\"execute\": \"query-status\", \"arguments\": []}",
                    "GenericError",
                    "QMP input member 'arguments' must be an object");
    /* The order of the checks: an unexpected key before the rest. */
    ts_expect_error(&ts, "{\"execute\": 1, \"arguments\": 2, \"x\": 3}",
                    "GenericError", "QMP input member 'x' is unexpected");
    ts_expect_error(&ts, "{\"execute\": 1, \"arguments\": 2}",
                    "GenericError",
                    "QMP input member 'execute' must be a string");
    ts_expect_error(&ts, "{\"execute\": \"no-such\"}", "CommandNotFound",
                    "The command no-such has not been found");
    /* Arguments are checked against the command's schema. */
    ts_expect_error(&ts, "{\"execute\": \"query-status\", "
                    "\"arguments\": {\"x\": 1}}",
                    "GenericError", "Parameter 'x' is unexpected");
    ts_expect_error(&ts, "{\"execute\": \"pmemsave\", "
                    "\"arguments\": {\"val\": 0, \"size\": 1}}",
                    "GenericError", "Parameter 'filename' is missing");
    ts_expect_error(&ts, "{\"execute\": \"pmemsave\", \"arguments\": "
                    "{\"val\": \"0\", \"size\": 1, \"filename\": \"/\"}}",
                    "GenericError",
                    "Invalid parameter type for 'val', expected: integer");
    /* Bytes that end a broken message at once: the session goes on. */
    ts_feed(&ts, "{\"execute\": \"x\xff");
    line = ts_take_line(&ts);
    assert_error(line, "GenericError", NULL);
    g_clear_pointer(&line, g_free);
    g_assert_cmpstr(ts.out->str, ==, "");

    ts_expect(&ts, "{\"execute\": \"query-name\"}", "{\"return\": {}}");
    ts_cleanup(&ts);
}

static void test_split_and_merged(void)
{
    static const char req[] =
        "{\"execute\": \"query-name\", \"id\": \"a{b}\\\"c\"}";
    TestSession ts;
    g_autofree char *line = NULL;

    ts_init(&ts, false);
    ts_negotiate(&ts);

    /* One byte at a time: nothing until the last one. */
    for (size_t i = 0; i < strlen(req); i++) {
        g_assert_cmpstr(ts.out->str, ==, "");
        qmp_session_feed(ts.s, &req[i], 1);
    }
    line = ts_take_line(&ts);
    g_assert_cmpstr(line, ==, "{\"return\": {}, \"id\": \"a{b}\\\"c\"}");
    g_clear_pointer(&line, g_free);

    /* Three in one feed, with whitespace between, answered in order. */
    ts_feed(&ts, "{\"execute\": \"query-name\", \"id\": 1}\r\n "
            "{\"execute\": \"bad\", \"id\": 2}"
            "{\"execute\": \"query-name\", \"id\": 3}\n");
    line = ts_take_line(&ts);
    g_assert_cmpstr(line, ==, "{\"return\": {}, \"id\": 1}");
    g_clear_pointer(&line, g_free);
    line = ts_take_line(&ts);
    assert_error(line, "CommandNotFound", NULL);
    g_assert_true(g_str_has_suffix(line, "\"id\": 2}"));
    g_clear_pointer(&line, g_free);
    line = ts_take_line(&ts);
    g_assert_cmpstr(line, ==, "{\"return\": {}, \"id\": 3}");
    g_clear_pointer(&line, g_free);

    /* Split in the middle of the second of two. */
    ts_feed(&ts, "{\"execute\": \"query-name\", \"id\": 4}{\"exec");
    line = ts_take_line(&ts);
    g_assert_cmpstr(line, ==, "{\"return\": {}, \"id\": 4}");
    g_clear_pointer(&line, g_free);
    g_assert_cmpstr(ts.out->str, ==, "");
    ts_feed(&ts, "ute\": \"query-name\", \"id\": 5}");
    line = ts_take_line(&ts);
    g_assert_cmpstr(line, ==, "{\"return\": {}, \"id\": 5}");
    ts_cleanup(&ts);
}

static void test_limits(void)
{
    TestSession ts;
    g_autofree char *line = NULL;
    GString *big = g_string_new("{\"execute\": \"query-name\", \"id\": \"");
    GString *deep = g_string_new("{\"execute\": \"query-name\", \"id\": ");

    ts_init(&ts, false);
    ts_negotiate(&ts);

    /* Over 1 MiB, fed in pieces: one error, then the session goes on. */
    qmp_session_feed(ts.s, big->str, big->len);
    g_string_assign(big, "");
    for (int i = 0; i < 64 * 1024; i++) {
        g_string_append(big, "0123456789abcdef");
    }
    for (int i = 0; i < 3; i++) {
        qmp_session_feed(ts.s, big->str, big->len);
    }
    ts_feed(&ts, "\"}{\"execute\": \"query-name\", \"id\": 1}");
    line = ts_take_line(&ts);
    assert_error(line, "GenericError", NULL);
    g_clear_pointer(&line, g_free);
    line = ts_take_line(&ts);
    g_assert_cmpstr(line, ==, "{\"return\": {}, \"id\": 1}");
    g_clear_pointer(&line, g_free);
    g_assert_cmpstr(ts.out->str, ==, "");

    /* Deeper than 64 levels: an error; 60 levels are fine. */
    for (int i = 0; i < 100; i++) {
        g_string_append_c(deep, '[');
    }
    for (int i = 0; i < 100; i++) {
        g_string_append_c(deep, ']');
    }
    g_string_append_c(deep, '}');
    ts_feed(&ts, deep->str);
    line = ts_take_line(&ts);
    assert_error(line, "GenericError", NULL);
    g_clear_pointer(&line, g_free);
    g_assert_cmpstr(ts.out->str, ==, "");

    g_string_assign(deep, "{\"execute\": \"query-name\", \"id\": ");
    for (int i = 0; i < 60; i++) {
        g_string_append_c(deep, '[');
    }
    for (int i = 0; i < 60; i++) {
        g_string_append_c(deep, ']');
    }
    g_string_append_c(deep, '}');
    ts_feed(&ts, deep->str);
    line = ts_take_line(&ts);
    g_assert_nonnull(line);
    g_assert_true(g_str_has_prefix(line, "{\"return\": {}, \"id\": [[["));

    g_string_free(big, TRUE);
    g_string_free(deep, TRUE);
    ts_cleanup(&ts);
}

/* Checks an event line: name, timestamp near now, data as given. */
static void assert_event(const char *line, const char *name,
                         const char *data)
{
    g_autoptr(JsonValue) v = json_parse(line, strlen(line), NULL);
    JsonValue *ts;
    int64_t sec = -1, usec = -1;
    gint64 now = g_get_real_time() / G_USEC_PER_SEC;

    g_assert_nonnull(v);
    g_assert_cmpstr(json_object_key_at(v, 0), ==, "timestamp");
    ts = json_object_get(v, "timestamp");
    g_assert_true(json_object_get_i64(ts, "seconds", &sec));
    g_assert_true(json_object_get_i64(ts, "microseconds", &usec));
    g_assert_cmpint(sec, <=, now);
    g_assert_cmpint(sec, >=, now - 5);
    g_assert_cmpint(usec, >=, 0);
    g_assert_cmpint(usec, <, 1000000);
    g_assert_cmpstr(json_object_get_str(v, "event"), ==, name);
    if (data) {
        g_autofree char *got = json_to_string(json_object_get(v, "data"),
                                              false);
        g_assert_cmpstr(got, ==, data);
        g_assert_cmpuint(json_object_size(v), ==, 3);
    } else {
        g_assert_null(json_object_get(v, "data"));
        g_assert_cmpuint(json_object_size(v), ==, 2);
    }
}

static void test_events(void)
{
    TestSession ts, other;
    g_autofree char *line = NULL;
    QmpSession *second;

    ts_init(&ts, false);
    /* A second session on the same machine, never negotiated. */
    other.m = ts.m;
    other.out = g_string_new(NULL);
    second = qmp_session_new(ts.m, &test_ops, &other, false);
    qmp_session_start(second);
    g_free(ts_take_line(&other));

    qmp_session_start(ts.s);
    g_free(ts_take_line(&ts));
    qmp_event_stop(ts.m);
    g_assert_cmpstr(ts.out->str, ==, "");
    ts_expect(&ts, "{\"execute\": \"qmp_capabilities\"}", "{\"return\": {}}");

    qmp_event_stop(ts.m);
    line = ts_take_line(&ts);
    assert_event(line, "STOP", NULL);
    g_clear_pointer(&line, g_free);

    qmp_event_reset(ts.m, false, "host-qmp-system-reset");
    line = ts_take_line(&ts);
    assert_event(line, "RESET",
                 "{\"guest\": false, \"reason\": \"host-qmp-system-reset\"}");
    g_clear_pointer(&line, g_free);

    qmp_event_shutdown(ts.m, true, "guest-shutdown");
    line = ts_take_line(&ts);
    assert_event(line, "SHUTDOWN",
                 "{\"guest\": true, \"reason\": \"guest-shutdown\"}");
    g_clear_pointer(&line, g_free);

    qmp_event_block_io_error(ts.m, "disk0", NULL, "write", "report", true,
                             "No space left on device");
    line = ts_take_line(&ts);
    assert_event(line, "BLOCK_IO_ERROR",
                 "{\"device\": \"disk0\", \"operation\": \"write\", "
                 "\"action\": \"report\", \"nospace\": true, "
                 "\"reason\": \"No space left on device\"}");
    g_clear_pointer(&line, g_free);

    qmp_event_resume(ts.m);
    qmp_event_powerdown(ts.m);
    line = ts_take_line(&ts);
    assert_event(line, "RESUME", NULL);
    g_clear_pointer(&line, g_free);
    line = ts_take_line(&ts);
    assert_event(line, "POWERDOWN", NULL);
    g_clear_pointer(&line, g_free);

    /* A command that changes the run state: the event comes before its
     * reply, as in QEMU. */
    ts_feed(&ts, "{\"execute\": \"cont\", \"id\": 1}");
    line = ts_take_line(&ts);
    assert_event(line, "RESUME", NULL);
    g_clear_pointer(&line, g_free);
    line = ts_take_line(&ts);
    g_assert_cmpstr(line, ==, "{\"return\": {}, \"id\": 1}");
    g_clear_pointer(&line, g_free);
    ts_feed(&ts, "{\"execute\": \"stop\"}");
    line = ts_take_line(&ts);
    assert_event(line, "STOP", NULL);
    g_clear_pointer(&line, g_free);
    line = ts_take_line(&ts);
    g_assert_cmpstr(line, ==, "{\"return\": {}}");
    g_clear_pointer(&line, g_free);

    /* The un-negotiated session heard nothing. */
    g_assert_cmpstr(other.out->str, ==, "");
    qmp_session_free(second);
    g_string_free(other.out, TRUE);
    ts_cleanup(&ts);
}

static void test_pretty(void)
{
    TestSession ts;
    g_autoptr(JsonValue) v = NULL;
    const char *p;

    ts_init(&ts, true);
    qmp_session_start(ts.s);
    ts_feed(&ts, "{\"execute\": \"qmp_capabilities\", \"id\": [1]}");
    /* Several lines, each ending in CRLF, that parse as two messages. */
    g_assert_true(g_str_has_suffix(ts.out->str, "\r\n"));
    for (p = ts.out->str; (p = strchr(p, '\n')) != NULL; p++) {
        g_assert_cmpint(p[-1], ==, '\r');
    }
    g_assert_nonnull(strstr(ts.out->str, "\r\n    \"QMP\": {\r\n"));
    p = strstr(ts.out->str, "}\r\n{");
    g_assert_nonnull(p);
    v = json_parse(ts.out->str, p + 1 - ts.out->str, NULL);
    g_assert_nonnull(json_object_get(v, "QMP"));
    g_clear_pointer(&v, json_free);
    v = json_parse(p + 3, strlen(p + 3), NULL);
    g_assert_nonnull(json_object_get(v, "return"));
    ts_cleanup(&ts);
}

static void test_deny(void)
{
    static const char *const deny[] = { "stop", NULL };
    TestSession ts;

    ts_init(&ts, false);
    qmp_session_set_deny(ts.s, deny);
    ts_negotiate(&ts);
    ts_expect_error(&ts, "{\"execute\": \"stop\"}", "CommandNotFound", NULL);
    ts_expect(&ts, "{\"execute\": \"query-name\"}", "{\"return\": {}}");
    ts_cleanup(&ts);
}

/* ---- QMP on a unix socket, several clients ---- */

typedef struct Client {
    int fd;
    GString *in;                /* received, not yet taken */
    bool eof;
} Client;

static void client_connect(Client *c, const char *path)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };

    g_strlcpy(addr.sun_path, path, sizeof(addr.sun_path));
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    g_assert_cmpint(c->fd, >=, 0);
    g_assert_cmpint(connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)),
                    ==, 0);
    g_assert_cmpint(fcntl(c->fd, F_SETFL, O_NONBLOCK), ==, 0);
    c->in = g_string_new(NULL);
    c->eof = false;
}

static void client_close(Client *c)
{
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    g_string_free(c->in, TRUE);
}

static void client_send(Client *c, const char *text)
{
    g_assert_cmpint(write(c->fd, text, strlen(text)), ==, strlen(text));
}

/* Reads what is there without blocking. */
static void client_poll(Client *c)
{
    char buf[65536];
    ssize_t n;

    while (!c->eof && (n = read(c->fd, buf, sizeof(buf))) != 0) {
        if (n < 0) {
            g_assert_true(errno == EAGAIN || errno == ECONNRESET);
            c->eof = errno == ECONNRESET;
            return;
        }
        g_string_append_len(c->in, buf, n);
    }
    c->eof = true;
}

static char *client_take_line(Client *c)
{
    char *end;
    char *line;

    client_poll(c);
    end = strstr(c->in->str, "\r\n");
    if (!end) {
        return NULL;
    }
    line = g_strndup(c->in->str, end - c->in->str);
    g_string_erase(c->in, 0, end - c->in->str + 2);
    return line;
}

/* Runs the machine's loop until @c has a complete line. */
static char *client_wait_line(Machine *m, Client *c)
{
    gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
    char *line;

    while (!(line = client_take_line(c))) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        if (!main_loop_iterate(m->loop, false)) {
            g_usleep(200);
        }
    }
    return line;
}

static void client_expect(Machine *m, Client *c, const char *request,
                          const char *reply)
{
    g_autofree char *line = NULL;

    client_send(c, request);
    line = client_wait_line(m, c);
    g_assert_cmpstr(line, ==, reply);
}

static void test_socket_clients(void)
{
    g_autofree char *dir = g_dir_make_tmp("lemu-qmp-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "qmp.sock", NULL);
    g_autoptr(GPtrArray) monitors = g_ptr_array_new();
    g_autoptr(GError) err = NULL;
    g_autofree char *line = NULL;
    g_autofree char *reason = NULL;
    MonitorConfig *mc = g_new0(MonitorConfig, 1);
    Client a, b, c;
    Machine *m;
    guint got = 0;

    mc->chardev = g_strdup("compat_monitor0");
    mc->spec = g_strdup_printf("unix:%s,server=on,wait=off", path);
    mc->mode = MONITOR_MODE_CONTROL;
    g_ptr_array_add(monitors, mc);
    m = test_machine_new(monitors, &err);
    g_assert_no_error(err);
    machine_lock(m);

    client_connect(&a, path);
    client_connect(&b, path);
    line = client_wait_line(m, &a);
    g_assert_cmpstr(line, ==, GREETING);
    g_clear_pointer(&line, g_free);
    line = client_wait_line(m, &b);
    g_assert_cmpstr(line, ==, GREETING);
    g_clear_pointer(&line, g_free);

    /* Each client negotiates for itself; events reach only a. */
    client_expect(m, &a, "{\"execute\": \"qmp_capabilities\"}",
                  "{\"return\": {}}");
    client_send(&b, "{\"execute\": \"query-status\", \"id\": \"b\"}");
    line = client_wait_line(m, &b);
    assert_error(line, "CommandNotFound", NULL);
    g_clear_pointer(&line, g_free);
    qmp_event_powerdown(m);
    line = client_wait_line(m, &a);
    assert_event(line, "POWERDOWN", NULL);
    g_clear_pointer(&line, g_free);
    client_expect(m, &b, "{\"execute\": \"qmp_capabilities\"}",
                  "{\"return\": {}}");

    /* b asks and hangs up before the reply: a goes on undisturbed. */
    client_send(&b, "{\"execute\": \"query-status\"}"
                "{\"execute\": \"stop\"}{\"execute\": \"query-name\"}");
    client_close(&b);
    fixture_run_for(m->loop, 50);
    client_expect(m, &a, "{\"execute\": \"query-name\", \"id\": 7}",
                  "{\"return\": {}, \"id\": 7}");

    /* c never reads while events pile up: it is disconnected once its
     * unread output passes the limit; a, reading, keeps up. */
    client_connect(&c, path);
    line = client_wait_line(m, &c);
    g_clear_pointer(&line, g_free);
    client_expect(m, &c, "{\"execute\": \"qmp_capabilities\"}",
                  "{\"return\": {}}");
    reason = g_malloc(64 * 1024 + 1);
    memset(reason, 'x', 64 * 1024);
    reason[64 * 1024] = 0;
    for (guint i = 0; i < 200; i++) {
        g_autofree char *dev = g_strdup_printf("disk%u", i);

        qmp_event_block_io_error(m, dev, NULL, "read", "report", false,
                                 reason);
        line = client_wait_line(m, &a);
        g_assert_nonnull(strstr(line, dev));
        g_clear_pointer(&line, g_free);
    }
    /* What c did get is at most the limit plus the socket buffer, then
     * the end of the stream. */
    while (!c.eof) {
        client_poll(&c);
        got += c.in->len;
        g_string_truncate(c.in, 0);
        main_loop_iterate(m->loop, false);
    }
    g_assert_cmpuint(got, <, 200 * 64 * 1024);
    g_assert_cmpuint(got, >, 64 * 1024);
    client_expect(m, &a, "{\"execute\": \"query-name\"}", "{\"return\": {}}");

    client_close(&a);
    client_close(&c);
    machine_unlock(m);
    machine_free(m);
    /* The socket file goes with the chardev. */
    g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
    g_rmdir(dir);
}

static void test_mon_chardev_missing(void)
{
    g_autoptr(GPtrArray) monitors = g_ptr_array_new();
    g_autoptr(GError) err = NULL;
    MonitorConfig *mc = g_new0(MonitorConfig, 1);

    mc->chardev = g_strdup("nope");
    mc->mode = MONITOR_MODE_CONTROL;
    g_ptr_array_add(monitors, mc);
    g_assert_null(test_machine_new(monitors, &err));
    g_assert_error(err, LEMU_ERROR, LEMU_ERROR_NOT_FOUND);
    g_assert_cmpstr(err->message, ==, "-mon: chardev 'nope' not found");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qmp-session/greeting", test_greeting);
    g_test_add_func("/qmp-session/negotiation", test_negotiation);
    g_test_add_func("/qmp-session/id-echo", test_id_echo);
    g_test_add_func("/qmp-session/malformed", test_malformed);
    g_test_add_func("/qmp-session/split-and-merged", test_split_and_merged);
    g_test_add_func("/qmp-session/limits", test_limits);
    g_test_add_func("/qmp-session/events", test_events);
    g_test_add_func("/qmp-session/pretty", test_pretty);
    g_test_add_func("/qmp-session/deny", test_deny);
    g_test_add_func("/qmp-session/socket-clients", test_socket_clients);
    g_test_add_func("/qmp-session/mon-chardev-missing",
                    test_mon_chardev_missing);
    return g_test_run();
}
