/*
 * The monitors of a machine: builds them from the configuration, keeps
 * every QMP session for event broadcast, and tears them down.
 *
 * Events are built once here (timestamp, name, data) and handed to every
 * session, which sends them only once its client has negotiated.
 */
#include "monitor/monitor-internal.h"
#include "lemu/util/log.h"

struct MonitorSet {
    Machine *machine;
    GPtrArray *sessions;         /* QmpSession *, not owned */
    GPtrArray *qmp_monitors;     /* QmpChardevMonitor *, owned */
    GPtrArray *hmp_monitors;     /* HmpMonitor *, owned */
};

/* Bound on how long teardown waits for slow clients, all together. */
#define MONITOR_FLUSH_MS 500

void monitor_config_free(MonitorConfig *mc)
{
    if (mc) {
        g_free(mc->chardev);
        g_free(mc->spec);
        g_free(mc);
    }
}

MonitorSet *monitor_set_of(Machine *m)
{
    return m ? m->monitor : NULL;
}

void monitor_register_session(MonitorSet *ms, QmpSession *s)
{
    /* A machine without monitors (a bare test machine) gets no events. */
    if (ms) {
        g_ptr_array_add(ms->sessions, s);
    }
}

void monitor_unregister_session(MonitorSet *ms, QmpSession *s)
{
    if (ms) {
        g_ptr_array_remove(ms->sessions, s);
    }
}

static MonitorSet *monitor_set_new(Machine *m)
{
    MonitorSet *ms = g_new0(MonitorSet, 1);

    ms->machine = m;
    ms->sessions = g_ptr_array_new();
    ms->qmp_monitors = g_ptr_array_new();
    ms->hmp_monitors = g_ptr_array_new();
    return ms;
}

static bool monitor_init_one(Machine *m, MonitorSet *ms,
                             const MonitorConfig *mc, GError **errp)
{
    Chardev *chr = machine_find_chardev(m, mc->chardev);

    if (!chr) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_NOT_FOUND,
                    "-mon: chardev '%s' not found", mc->chardev);
        return false;
    }
    if (mc->mode == MONITOR_MODE_CONTROL) {
        QmpChardevMonitor *qm;

        if (chardev_has_frontend(chr)) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "-mon: chardev '%s' is already in use (a QMP "
                        "monitor needs a chardev of its own)", mc->chardev);
            return false;
        }
        qm = qmp_chardev_monitor_new(m, chr, mc->pretty, errp);
        if (!qm) {
            return false;
        }
        g_ptr_array_add(ms->qmp_monitors, qm);
    } else {
        HmpMonitor *hm = hmp_monitor_new(m, chr, mc->mux, errp);

        if (!hm) {
            return false;
        }
        g_ptr_array_add(ms->hmp_monitors, hm);
    }
    return true;
}

bool monitor_init_all(Machine *m, GError **errp)
{
    GPtrArray *monitors = m->cfg.monitors;

    if (!m->monitor) {
        m->monitor = monitor_set_new(m);
    }
    for (guint i = 0; monitors && i < monitors->len; i++) {
        /* On failure machine_free() -> monitor_cleanup() frees what was
         * built so far. */
        if (!monitor_init_one(m, m->monitor, g_ptr_array_index(monitors, i),
                              errp)) {
            return false;
        }
    }
    return true;
}

void monitor_cleanup(Machine *m)
{
    MonitorSet *ms = m->monitor;
    gint64 deadline;

    if (!ms) {
        return;
    }
    /* The last replies and events (quit's SHUTDOWN) reach the clients
     * that read them; a client that does not read costs at most this. */
    deadline = g_get_monotonic_time() + MONITOR_FLUSH_MS * 1000;
    for (guint i = 0; i < ms->qmp_monitors->len; i++) {
        gint64 left = (deadline - g_get_monotonic_time()) / 1000;

        qmp_chardev_monitor_flush(g_ptr_array_index(ms->qmp_monitors, i),
                                  left > 0 ? (int)left : 0);
    }
    for (guint i = 0; i < ms->hmp_monitors->len; i++) {
        hmp_monitor_free(g_ptr_array_index(ms->hmp_monitors, i));
    }
    for (guint i = 0; i < ms->qmp_monitors->len; i++) {
        qmp_chardev_monitor_free(g_ptr_array_index(ms->qmp_monitors, i));
    }
    /* Sessions still registered belong to someone else (a test, the fuzz
     * target); they simply stop getting events. */
    g_ptr_array_free(ms->hmp_monitors, TRUE);
    g_ptr_array_free(ms->qmp_monitors, TRUE);
    g_ptr_array_free(ms->sessions, TRUE);
    g_free(ms);
    m->monitor = NULL;
}

void qmp_event_send(Machine *m, const char *name, JsonValue *data)
{
    MonitorSet *ms = monitor_set_of(m);
    g_autoptr(JsonValue) event = NULL;
    JsonValue *timestamp;
    gint64 now;

    if (!ms || ms->sessions->len == 0) {
        json_free(data);
        return;
    }
    now = g_get_real_time();
    timestamp = json_object();
    json_object_set_int(timestamp, "seconds", now / G_USEC_PER_SEC);
    json_object_set_int(timestamp, "microseconds", now % G_USEC_PER_SEC);
    event = json_object();
    json_object_set(event, "timestamp", timestamp);
    json_object_set_str(event, "event", name);
    if (data) {
        json_object_set(event, "data", data);
    }
    /* Writing never frees a session (that happens in bottom halves), so
     * the array does not change under this loop. */
    for (guint i = 0; i < ms->sessions->len; i++) {
        qmp_session_send_event(g_ptr_array_index(ms->sessions, i), event);
    }
}

void qmp_event_stop(Machine *m)
{
    qmp_event_send(m, "STOP", NULL);
}

void qmp_event_resume(Machine *m)
{
    qmp_event_send(m, "RESUME", NULL);
}

/* RESET and SHUTDOWN share their data: {"guest", "reason"}. */
static JsonValue *qmp_event_cause(bool guest, const char *reason)
{
    JsonValue *data = json_object();

    json_object_set_bool(data, "guest", guest);
    json_object_set_str(data, "reason", reason);
    return data;
}

void qmp_event_reset(Machine *m, bool guest, const char *reason)
{
    qmp_event_send(m, "RESET", qmp_event_cause(guest, reason));
}

void qmp_event_shutdown(Machine *m, bool guest, const char *reason)
{
    qmp_event_send(m, "SHUTDOWN", qmp_event_cause(guest, reason));
}

void qmp_event_powerdown(Machine *m)
{
    qmp_event_send(m, "POWERDOWN", NULL);
}

void qmp_event_block_io_error(Machine *m, const char *device,
                              const char *node_name, const char *operation,
                              const char *action, bool nospace,
                              const char *reason)
{
    JsonValue *data = json_object();

    json_object_set_str(data, "device", device ? device : "");
    if (node_name) {
        json_object_set_str(data, "node-name", node_name);
    }
    json_object_set_str(data, "operation", operation);
    json_object_set_str(data, "action", action);
    /* QEMU sends "nospace" only for errors that report it. */
    if (nospace) {
        json_object_set_bool(data, "nospace", true);
    }
    json_object_set_str(data, "reason", reason);
    qmp_event_send(m, "BLOCK_IO_ERROR", data);
}

void qmp_event_device_deleted(Machine *m, const char *device,
                              const char *path)
{
    JsonValue *data = json_object();

    if (device) {
        json_object_set_str(data, "device", device);
    }
    json_object_set_str(data, "path", path);
    qmp_event_send(m, "DEVICE_DELETED", data);
}
