/*
 * One QMP conversation, independent of its transport: bytes come in
 * through qmp_session_feed(), complete lines (CRLF-terminated) go out
 * through the write op.
 *
 * A session starts with the greeting and accepts only qmp_capabilities
 * until negotiation; then every command of the table, through
 * qmp_dispatch(). Each request is checked in the order QEMU checks it,
 * and every problem is answered with an error: the session goes on.
 */
#include <string.h>
#include "monitor/monitor-internal.h"
#include "lemu/util/log.h"

struct QmpSession {
    Machine *machine;
    const QmpSessionOps *ops;
    void *opaque;
    bool pretty;
    bool negotiated;
    const char *const *deny;
    JsonStreamer *streamer;
    /* A reset asked for from inside qmp_session_feed() (the peer went
     * away while a command ran): the rest of that input is dropped and
     * the streamer is reset once it has returned. */
    bool feeding;
    bool reset_pending;
};

G_DEFINE_QUARK(qmp-error-quark, qmp_error)

const char *qmp_error_class_name(const GError *err)
{
    static const char *const names[] = {
        [QMP_ERROR_GENERIC] = "GenericError",
        [QMP_ERROR_COMMAND_NOT_FOUND] = "CommandNotFound",
        [QMP_ERROR_DEVICE_NOT_ACTIVE] = "DeviceNotActive",
        [QMP_ERROR_DEVICE_NOT_FOUND] = "DeviceNotFound",
        [QMP_ERROR_KVM_MISSING_CAP] = "KVMMissingCap",
    };

    if (err && err->domain == QMP_ERROR && err->code >= 0 &&
        (size_t)err->code < G_N_ELEMENTS(names) && names[err->code]) {
        return names[err->code];
    }
    return "GenericError";
}

/* Writes @msg as one line; pretty output spans several, each with CRLF. */
static void qmp_session_send(QmpSession *s, const JsonValue *msg)
{
    g_autoptr(GString) json = g_string_new(NULL);
    g_autoptr(GString) out = NULL;

    json_append(json, msg, s->pretty);
    if (!s->pretty) {
        g_string_append(json, "\r\n");
        s->ops->write(s->opaque, json->str, json->len);
        return;
    }
    /* The writer escapes newlines inside strings, so every raw '\n' is
     * a line break of the layout. */
    out = g_string_sized_new(json->len + json->len / 8 + 2);
    for (size_t i = 0; i < json->len; i++) {
        if (json->str[i] == '\n') {
            g_string_append_c(out, '\r');
        }
        g_string_append_c(out, json->str[i]);
    }
    g_string_append(out, "\r\n");
    s->ops->write(s->opaque, out->str, out->len);
}

/* {"error": {"class": C, "desc": D}} plus the request's id, if any. */
static void qmp_session_send_error(QmpSession *s, const GError *err,
                                   const JsonValue *id)
{
    g_autoptr(JsonValue) rsp = json_object();
    JsonValue *error = json_object();

    json_object_set_str(error, "class", qmp_error_class_name(err));
    json_object_set_str(error, "desc", err->message);
    json_object_set(rsp, "error", error);
    if (id) {
        json_object_set(rsp, "id", json_copy(id));
    }
    qmp_session_send(s, rsp);
}

/* {"return": VALUE} plus the request's id; takes @ret. */
static void qmp_session_send_return(QmpSession *s, JsonValue *ret,
                                    const JsonValue *id)
{
    g_autoptr(JsonValue) rsp = json_object();

    json_object_set(rsp, "return", ret);
    if (id) {
        json_object_set(rsp, "id", json_copy(id));
    }
    qmp_session_send(s, rsp);
}

static JsonValue *qmp_greeting(void)
{
    JsonValue *qmp = json_object();
    JsonValue *greeting = json_object();

    json_object_set(qmp, "version", qmp_version_info());
    /* No "oob": lemu runs every command on the main loop. */
    json_object_set(qmp, "capabilities", json_array());
    json_object_set(greeting, "QMP", qmp);
    return greeting;
}

/*
 * The envelope of a request, checked as QEMU checks it. Returns the
 * command name, or NULL with @errp set. *@args is the "arguments" object
 * or NULL when there is none.
 */
static const char *qmp_check_request(const JsonValue *req,
                                     const JsonValue **args, GError **errp)
{
    const JsonValue *execute, *arguments;

    *args = NULL;
    if (json_type(req) != JSON_OBJECT) {
        g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                    "QMP input must be a JSON object");
        return NULL;
    }
    for (size_t i = 0; i < json_object_size(req); i++) {
        const char *key = json_object_key_at(req, i);

        /* "exec-oob" is unexpected too: lemu offers no out-of-band
         * capability, and QEMU says so in the same words then. */
        if (strcmp(key, "execute") != 0 && strcmp(key, "arguments") != 0 &&
            strcmp(key, "id") != 0) {
            g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                        "QMP input member '%s' is unexpected", key);
            return NULL;
        }
    }
    execute = json_object_get(req, "execute");
    if (!execute) {
        g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                    "QMP input lacks member 'execute'");
        return NULL;
    }
    if (json_type(execute) != JSON_STRING) {
        g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                    "QMP input member 'execute' must be a string");
        return NULL;
    }
    arguments = json_object_get(req, "arguments");
    if (arguments && json_type(arguments) != JSON_OBJECT) {
        g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                    "QMP input member 'arguments' must be an object");
        return NULL;
    }
    *args = arguments;
    return json_get_string(execute);
}

/* qmp_capabilities before negotiation: the session's own business. */
static bool qmp_session_negotiate(QmpSession *s, const JsonValue *args,
                                  GError **errp)
{
    const QmpCommand *cmd = qmp_find_command("qmp_capabilities");
    const JsonValue *enable;

    if (!cmd) {
        /* Only a broken command table gets here. */
        g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                    "The command qmp_capabilities has not been found");
        return false;
    }
    if (!qmp_check_args(cmd, args, errp)) {
        return false;
    }
    enable = args ? json_object_get(args, "enable") : NULL;
    /* The schema lets through only QMPCapability values, and lemu has
     * none of them ("oob"). */
    if (enable && json_array_length(enable) > 0) {
        const char *cap = json_get_string(json_array_get(enable, 0));

        g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                    "Capability '%s' not available", cap ? cap : "");
        return false;
    }
    s->negotiated = true;
    return true;
}

static void qmp_session_handle(QmpSession *s, const JsonValue *req)
{
    QmpContext ctx = {
        .machine = s->machine,
        .session = s,
        .deny = s->deny,
    };
    const JsonValue *id = NULL, *args;
    const char *name;
    GError *err = NULL;
    JsonValue *ret;

    if (json_type(req) == JSON_OBJECT) {
        id = json_object_get(req, "id");
    }
    name = qmp_check_request(req, &args, &err);
    if (!name) {
        goto fail;
    }
    if (!s->negotiated) {
        if (strcmp(name, "qmp_capabilities") != 0) {
            g_set_error(&err, QMP_ERROR, QMP_ERROR_COMMAND_NOT_FOUND,
                        "Expecting capabilities negotiation with "
                        "'qmp_capabilities'");
            goto fail;
        }
        if (!qmp_session_negotiate(s, args, &err)) {
            goto fail;
        }
        qmp_session_send_return(s, json_object(), id);
        return;
    }

    ret = qmp_dispatch(&ctx, name, args, &err);
    if (!ret) {
        goto fail;
    }
    qmp_session_send_return(s, ret, id);
    return;

fail:
    qmp_session_send_error(s, err, id);
    g_error_free(err);
}

/* The streamer's callback: one complete message or one input error. */
static void qmp_session_message(void *opaque, JsonValue *msg, GError *err)
{
    QmpSession *s = opaque;

    if (!s->reset_pending) {
        if (err) {
            /* Malformed or oversized input (a GenericError): there is no
             * id to echo. */
            qmp_session_send_error(s, err, NULL);
        } else {
            qmp_session_handle(s, msg);
        }
    }
    json_free(msg);
    if (err) {
        g_error_free(err);
    }
}

QmpSession *qmp_session_new(Machine *m, const QmpSessionOps *ops,
                            void *opaque, bool pretty)
{
    QmpSession *s = g_new0(QmpSession, 1);

    s->machine = m;
    s->ops = ops;
    s->opaque = opaque;
    s->pretty = pretty;
    s->streamer = json_streamer_new(QMP_MAX_REQUEST_SIZE,
                                    QMP_MAX_REQUEST_DEPTH,
                                    qmp_session_message, s);
    monitor_register_session(monitor_set_of(m), s);
    return s;
}

void qmp_session_start(QmpSession *s)
{
    g_autoptr(JsonValue) greeting = qmp_greeting();

    s->negotiated = false;
    qmp_session_send(s, greeting);
}

void qmp_session_feed(QmpSession *s, const void *buf, size_t len)
{
    s->feeding = true;
    json_streamer_feed(s->streamer, buf, len);
    s->feeding = false;
    if (s->reset_pending) {
        s->reset_pending = false;
        json_streamer_reset(s->streamer);
    }
}

void qmp_session_reset(QmpSession *s)
{
    s->negotiated = false;
    if (s->feeding) {
        /* Never reset the streamer from inside its own callback. */
        s->reset_pending = true;
        return;
    }
    json_streamer_reset(s->streamer);
}

void qmp_session_set_deny(QmpSession *s, const char *const *deny)
{
    s->deny = deny;
}

void qmp_session_send_event(QmpSession *s, const JsonValue *event)
{
    if (s->negotiated) {
        qmp_session_send(s, event);
    }
}

void qmp_session_free(QmpSession *s)
{
    if (!s) {
        return;
    }
    monitor_unregister_session(monitor_set_of(s->machine), s);
    json_streamer_free(s->streamer);
    g_free(s);
}
