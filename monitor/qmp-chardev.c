/*
 * QMP on a chardev. A socket server serves every client at once, each
 * on a chardev and a QmpSession of its own; any other backend (stdio, a
 * client-mode socket) carries one session, which starts over when its
 * peer comes back.
 *
 * A client's unread output is bounded: while any is pending, no more of
 * its requests are read (so a client that never reads cannot make lemu
 * queue replies without end), and one that lets events pile up past
 * QMP_MAX_PENDING_OUTPUT is disconnected rather than sent a cut stream.
 *
 * Clients are freed only from a bottom half: a client may go away in the
 * middle of its own command, and the session and chardev on the stack
 * must outlive that command.
 */
#include <string.h>
#include "monitor/monitor-internal.h"
#include "lemu/util/log.h"

/* Input handed to a session at once; its replies must fit the limit. */
#define QMP_INPUT_CHUNK 1024

typedef struct QmpClient {
    QmpChardevMonitor *qm;
    Chardev *chr;
    QmpSession *session;
    bool owns_chr;               /* a socket client: freed with the client */
    bool connected;              /* between OPENED and CLOSED */
    bool closed;                 /* CLOSED came: free it from the BH */
} QmpClient;

struct QmpChardevMonitor {
    Machine *machine;
    Chardev *chr;                /* the socket listener or the backend */
    bool pretty;
    bool serving;                /* chardev_serve_clients() hands us clients */
    GPtrArray *clients;          /* QmpClient * */
    BottomHalf *reap_bh;         /* frees closed clients */
};

static void qmp_client_overflow(QmpClient *c)
{
    if (c->owns_chr) {
        error_report("monitor: client too slow, disconnected");
        c->connected = false;
        chardev_disconnect(c->chr);
    } else {
        /* stdio cannot be hung up on: this message is lost whole. */
        error_report("monitor: client too slow, output dropped");
    }
}

static void qmp_client_write(void *opaque, const char *line, size_t len)
{
    QmpClient *c = opaque;

    if (!c->connected) {
        return;
    }
    /* Checked before writing, so that a client never gets half a line. */
    if (chardev_output_pending(c->chr) + len > QMP_MAX_PENDING_OUTPUT ||
        chardev_write(c->chr, (const uint8_t *)line, len) < len) {
        qmp_client_overflow(c);
    }
}

static const QmpSessionOps qmp_client_session_ops = {
    .write = qmp_client_write,
};

static size_t qmp_client_can_receive(void *opaque)
{
    QmpClient *c = opaque;

    /* Back-pressure: the next request waits until the client has read
     * what it was sent. */
    if (!c->connected || chardev_output_pending(c->chr) > 0) {
        return 0;
    }
    return QMP_INPUT_CHUNK;
}

static void qmp_client_receive(void *opaque, const uint8_t *buf, size_t len)
{
    QmpClient *c = opaque;

    if (c->connected) {
        qmp_session_feed(c->session, buf, len);
    }
}

static void qmp_client_event(void *opaque, ChardevEvent event)
{
    QmpClient *c = opaque;

    switch (event) {
    case CHARDEV_EVENT_OPENED:
        if (!c->closed) {
            c->connected = true;
            qmp_session_start(c->session);
        }
        break;
    case CHARDEV_EVENT_CLOSED:
        c->connected = false;
        qmp_session_reset(c->session);
        if (c->owns_chr) {
            c->closed = true;
            bh_schedule(c->qm->reap_bh);
        }
        break;
    }
}

static const ChardevFrontendOps qmp_client_frontend_ops = {
    .can_receive = qmp_client_can_receive,
    .receive = qmp_client_receive,
    .event = qmp_client_event,
};

/* Attaches a client to @chr; the greeting goes out on OPENED. */
static QmpClient *qmp_client_new(QmpChardevMonitor *qm, Chardev *chr,
                                 bool owns_chr)
{
    QmpClient *c = g_new0(QmpClient, 1);

    c->qm = qm;
    c->chr = chr;
    c->owns_chr = owns_chr;
    c->session = qmp_session_new(qm->machine, &qmp_client_session_ops, c,
                                 qm->pretty);
    g_ptr_array_add(qm->clients, c);
    chardev_set_output_limit(chr, QMP_MAX_PENDING_OUTPUT);
    chardev_set_frontend(chr, &qmp_client_frontend_ops, c);
    return c;
}

static void qmp_client_free(QmpClient *c)
{
    chardev_set_frontend(c->chr, NULL, NULL);
    if (c->owns_chr) {
        chardev_free(c->chr);
    }
    qmp_session_free(c->session);
    g_free(c);
}

static void qmp_chardev_reap_clients(void *opaque)
{
    QmpChardevMonitor *qm = opaque;

    for (guint i = 0; i < qm->clients->len;) {
        QmpClient *c = g_ptr_array_index(qm->clients, i);

        if (c->closed) {
            g_ptr_array_remove_index(qm->clients, i);
            qmp_client_free(c);
        } else {
            i++;
        }
    }
}

/* chardev_serve_clients: a new connection on the socket. */
static void qmp_chardev_new_client(void *opaque, Chardev *client)
{
    qmp_client_new(opaque, client, true);
}

QmpChardevMonitor *qmp_chardev_monitor_new(Machine *m, Chardev *chr,
                                           bool pretty, GError **errp)
{
    QmpChardevMonitor *qm = g_new0(QmpChardevMonitor, 1);

    qm->machine = m;
    qm->chr = chr;
    qm->pretty = pretty;
    qm->clients = g_ptr_array_new();
    qm->reap_bh = bh_new(m->loop, qmp_chardev_reap_clients, qm);

    if (chardev_is_socket_server(chr)) {
        if (!chardev_serve_clients(chr, qmp_chardev_new_client, qm, errp)) {
            qmp_chardev_monitor_free(qm);
            return NULL;
        }
        qm->serving = true;
    } else {
        qmp_client_new(qm, chr, false);
    }
    return qm;
}

void qmp_chardev_monitor_flush(QmpChardevMonitor *qm, int timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

    for (guint i = 0; i < qm->clients->len; i++) {
        QmpClient *c = g_ptr_array_index(qm->clients, i);
        gint64 left = (deadline - g_get_monotonic_time()) / 1000;

        if (chardev_output_pending(c->chr) > 0) {
            chardev_flush(c->chr, left > 0 ? (int)left : 0);
        }
    }
}

void qmp_chardev_monitor_free(QmpChardevMonitor *qm)
{
    if (!qm) {
        return;
    }
    if (qm->serving) {
        chardev_serve_clients(qm->chr, NULL, NULL, NULL);
    }
    for (guint i = 0; i < qm->clients->len; i++) {
        qmp_client_free(g_ptr_array_index(qm->clients, i));
    }
    g_ptr_array_free(qm->clients, TRUE);
    bh_free(qm->reap_bh);
    g_free(qm);
}
