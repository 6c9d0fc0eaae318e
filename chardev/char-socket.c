/*
 * The socket backend: a unix or TCP stream socket, server or client.
 *
 *   -chardev socket,id=ID,path=PATH,server=on[,wait=off]
 *   -chardev socket,id=ID,host=HOST,port=PORT,server=on[,wait=off]
 *   -chardev socket,id=ID,fd=N,server=on[,wait=off]
 *   -chardev socket,id=ID,path=PATH|host=HOST,port=PORT|fd=N   (client)
 *   -serial unix:PATH,server=on[,wait=off]
 *   -serial tcp:HOST:PORT,server=on[,wait=off]
 *
 * By default one client at a time is served: a client that connects while
 * another is attached is turned away. chardev_serve_clients() switches the
 * server to handing every client out as a chardev of its own (the QMP
 * monitor serves them all at once). Output with no client attached is
 * dropped, as in QEMU.
 *
 * A unix socket file is created with mode 0600, replaces a stale socket
 * left by an earlier run, and is removed again when the chardev goes away.
 * An empty TCP host means the wildcard address. fd=N serves a socket
 * lemu inherited (libvirt binds the monitor socket itself and passes it
 * so); it is put in the listening state if it is not yet, and its file
 * is removed at exit as QEMU does.
 *
 * Without server=on lemu connects, once, at start-up (fd=N: a connected
 * socket it inherited, as QEMU's Python test harness passes one end of a
 * socketpair). When that peer hangs up the chardev stays closed: there
 * is no reconnect=.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "chardev/chardev-internal.h"
#include "lemu/util/log.h"

/* Clients that may wait to be accepted: several monitors' clients may
 * connect at once. */
#define SOCKET_LISTEN_BACKLOG 16
/* Clients accepted per wake-up of the listener, so that a flood of
 * connections cannot hold the main loop. */
#define SOCKET_ACCEPT_BATCH 16
/* Out of file descriptors: try accepting again after this long. */
#define SOCKET_ACCEPT_RETRY_NS (100 * 1000 * 1000LL)

typedef struct SocketChardev {
    Chardev parent;
    /* The address: the socket path; the numeric TCP address the server
     * is bound to (host without brackets, as QEMU shows it). */
    bool is_tcp;
    bool is_server;              /* a listener, or a client it accepted */
    char *path;
    char *host;
    char *port;
    dev_t dev;                   /* identity of the socket file we bound */
    ino_t ino;

    /* The server. -1 in a client chardev handed out by serve_clients. */
    int listen_fd;
    FdHandler *listen_handler;
    Timer *accept_retry;
    bool accept_failing;         /* warned about it already */
    ChardevClientFunc *serve_cb; /* non-NULL: every client gets a chardev */
    void *serve_opaque;
    unsigned next_client;
    BottomHalf *handover_bh;     /* hands the attached client to serve_cb */
    GPtrArray *clients;          /* SocketChardev * handed out, not freed */
    struct SocketChardev *server;  /* of a client chardev; NULL once freed */

    /* The attached client. */
    int client_fd;               /* -1: no client */
    FdHandler *client_handler;   /* NULL while parked (see client_gone) */
    GIOCondition client_events;
    char *connected_desc;        /* describe() while a client is attached */
    /* The client hung up but left input we have not read yet: finish
     * reading it (as the frontend takes it) before closing. */
    bool client_gone;
    BottomHalf *hangup_bh;       /* a write failed: check the client */
    /* chardev_disconnect() closed the client: CLOSED is still to come. */
    bool close_pending;
    BottomHalf *closed_bh;
} SocketChardev;

static const ChardevBackendOps socket_ops;
static void socket_client_ready(void *opaque, int fd, GIOCondition ready);

/* "unix:PATH,server=on" or "tcp:HOST:PORT,server=on" (no ",server=on"
 * for a client), as QEMU names the address in query-chardev. */
static char *socket_address(SocketChardev *s)
{
    const char *server = s->is_server ? ",server=on" : "";

    if (s->is_tcp) {
        return g_strdup_printf("tcp:%s:%s%s", s->host, s->port, server);
    }
    return g_strdup_printf("unix:%s%s", s->path, server);
}

/* Numeric "HOST:PORT" of a socket address, IPv6 in brackets. */
static char *socket_name_of(const struct sockaddr *sa, socklen_t len)
{
    char host[NI_MAXHOST], serv[NI_MAXSERV];

    if (getnameinfo(sa, len, host, sizeof(host), serv, sizeof(serv),
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        return g_strdup("?:?");
    }
    if (sa->sa_family == AF_INET6) {
        return g_strdup_printf("[%s]:%s", host, serv);
    }
    return g_strdup_printf("%s:%s", host, serv);
}

/* What describe() shows while @fd is attached: for TCP both ends,
 * "tcp:127.0.0.1:4444,server=on <-> 127.0.0.1:51234" as in QEMU. */
static char *socket_connected_desc(SocketChardev *s, int fd)
{
    struct sockaddr_storage local, peer;
    socklen_t llen = sizeof(local), plen = sizeof(peer);
    g_autofree char *lname = NULL, *pname = NULL;

    if (!s->is_tcp) {
        return socket_address(s);
    }
    if (getsockname(fd, (struct sockaddr *)&local, &llen) < 0 ||
        getpeername(fd, (struct sockaddr *)&peer, &plen) < 0) {
        return socket_address(s);
    }
    lname = socket_name_of((struct sockaddr *)&local, llen);
    pname = socket_name_of((struct sockaddr *)&peer, plen);
    return g_strdup_printf("tcp:%s%s <-> %s", lname,
                           s->is_server ? ",server=on" : "", pname);
}

/* Makes @fd the attached client; OPENED is left to the caller. */
static void socket_attach_client(SocketChardev *s, int fd)
{
    if (s->is_tcp) {
        /* Request/reply traffic (QMP) must not wait for delayed ACKs. */
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    s->client_fd = fd;
    s->client_events = 0;
    s->client_gone = false;
    g_free(s->connected_desc);
    s->connected_desc = socket_connected_desc(s, fd);
    s->client_handler = main_loop_add_fd(s->parent.loop, fd, 0,
                                         socket_client_ready, s);
}

/* Forgets the attached client without closing its fd; returns the fd. */
static int socket_detach_client(SocketChardev *s)
{
    int fd = s->client_fd;

    if (s->client_handler) {
        fd_handler_remove(s->client_handler);
        s->client_handler = NULL;
    }
    s->client_fd = -1;
    s->client_events = 0;
    s->client_gone = false;
    g_clear_pointer(&s->connected_desc, g_free);
    return fd;
}

/* The peer went away: close, drop its output, tell the frontend. */
static void socket_disconnect(SocketChardev *s)
{
    if (s->client_fd < 0) {
        return;
    }
    close(socket_detach_client(s));
    chardev_drop_output(&s->parent);
    chardev_set_open(&s->parent, false);
}

/* CLOSED after chardev_disconnect(), from the main loop. */
static void socket_closed_bh(void *opaque)
{
    SocketChardev *s = opaque;

    if (s->close_pending) {
        s->close_pending = false;
        chardev_set_open(&s->parent, false);
    }
}

/* chardev_disconnect(): the frontend hangs up. It may be inside one of
 * its own callbacks, so CLOSED comes later, from a bottom half. */
static void socket_hang_up(Chardev *chr)
{
    SocketChardev *s = (SocketChardev *)chr;

    if (s->client_fd < 0) {
        return;
    }
    close(socket_detach_client(s));
    chardev_drop_output(chr);
    /* Input of the peer we hung up on is not handed on. */
    chr->in_start = 0;
    chr->in_len = 0;
    if (chr->open) {
        s->close_pending = true;
        bh_schedule(s->closed_bh);
    }
}

static size_t socket_unread_bytes(SocketChardev *s)
{
    int avail = 0;

    if (ioctl(s->client_fd, FIONREAD, &avail) < 0 || avail < 0) {
        return 0;
    }
    return avail;
}

/* The client hung up. What it sent before is still delivered. */
static void socket_client_hung_up(SocketChardev *s)
{
    if (socket_unread_bytes(s) == 0) {
        socket_disconnect(s);
        return;
    }
    s->client_gone = true;
    chardev_drop_output(&s->parent);
    /* The hang-up is reported on every poll; stop watching until the
     * frontend has room again (set_watch brings the handler back). */
    if (s->client_handler) {
        fd_handler_remove(s->client_handler);
        s->client_handler = NULL;
        s->client_events = 0;
    }
    chardev_update_watch(&s->parent);
}

static void socket_hangup_bh(void *opaque)
{
    SocketChardev *s = opaque;

    if (s->client_fd >= 0 && s->client_gone) {
        socket_client_hung_up(s);
    }
}

static void socket_read_client(SocketChardev *s)
{
    size_t room = chardev_input_room(&s->parent);
    uint8_t buf[CHARDEV_IN_CHUNK];
    ssize_t n;

    if (room == 0) {
        chardev_update_watch(&s->parent);
        return;
    }
    n = recv(s->client_fd, buf, room, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        return;
    }
    if (n <= 0) {
        socket_disconnect(s);
        return;
    }
    chardev_push_input(&s->parent, buf, n);
}

static void socket_client_ready(void *opaque, int fd, GIOCondition ready)
{
    SocketChardev *s = opaque;

    if (ready & G_IO_OUT) {
        chardev_output_ready(&s->parent);
    }
    if ((ready & G_IO_PRI) && s->is_tcp && s->client_fd >= 0) {
        /* TCP urgent data: PRI stays set until it is read, which would
         * spin the loop while the frontend holds input back. It is not
         * part of the byte stream (no SO_OOBINLINE): drop it. */
        uint8_t urgent;

        /* Fails with EINVAL when there is none: nothing to do then. */
        recv(s->client_fd, &urgent, 1, MSG_OOB | MSG_DONTWAIT);
    }
    if (s->client_fd < 0 || !(ready & (G_IO_IN | G_IO_HUP | G_IO_ERR))) {
        return;
    }
    if (chardev_input_room(&s->parent) > 0) {
        /* Reads the data; after the last of it, the end or the error. */
        socket_read_client(s);
    } else if (ready & (G_IO_HUP | G_IO_ERR)) {
        socket_client_hung_up(s);
    } else {
        chardev_update_watch(&s->parent);
    }
}

/* Wraps the connection @fd accepted by the server @s in a chardev of its
 * own, for the serve_clients callback. */
static SocketChardev *socket_new_client(SocketChardev *s, int fd)
{
    g_autofree char *id = g_strdup_printf("%s-client%u", s->parent.id,
                                          s->next_client++);
    SocketChardev *c = chardev_alloc(sizeof(*c), &socket_ops, s->parent.loop,
                                     id);

    c->is_tcp = s->is_tcp;
    c->is_server = true;
    c->path = g_strdup(s->path);
    c->host = g_strdup(s->host);
    c->port = g_strdup(s->port);
    c->listen_fd = -1;
    c->hangup_bh = bh_new(c->parent.loop, socket_hangup_bh, c);
    c->closed_bh = bh_new(c->parent.loop, socket_closed_bh, c);
    c->server = s;
    g_ptr_array_add(s->clients, c);
    socket_attach_client(c, fd);
    chardev_set_open(&c->parent, true);
    return c;
}

/*
 * serve_clients() began with a client attached (wait=on): that client
 * becomes a chardev of its own too, taking along what it sent and what
 * waits to be sent to it.
 */
static void socket_handover_bh(void *opaque)
{
    SocketChardev *s = opaque;
    Chardev *old = &s->parent;
    SocketChardev *c;
    Chardev *chr;

    if (s->client_fd < 0 || !s->serve_cb) {
        return;
    }
    c = socket_new_client(s, socket_detach_client(s));
    chr = &c->parent;
    memcpy(chr->in_buf, old->in_buf + old->in_start, old->in_len);
    chr->in_len = old->in_len;
    old->in_start = old->in_len = 0;
    g_free(chr->out_buf);
    chr->out_buf = old->out_buf;
    chr->out_cap = old->out_cap;
    chr->out_start = old->out_start;
    chr->out_len = old->out_len;
    old->out_buf = NULL;
    old->out_cap = old->out_start = old->out_len = 0;
    /* The server itself has no peer from now on. */
    chardev_set_open(old, false);
    s->serve_cb(s->serve_opaque, chr);
}

/* Too many open files: stop accepting for a while instead of spinning. */
static void socket_accept_retry(void *opaque)
{
    SocketChardev *s = opaque;

    if (s->listen_handler) {
        fd_handler_set_events(s->listen_handler, G_IO_IN);
    }
}

static void socket_listen_ready(void *opaque, int fd, GIOCondition ready)
{
    SocketChardev *s = opaque;

    for (int i = 0; i < SOCKET_ACCEPT_BATCH; i++) {
        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (cfd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
                errno == ENOMEM) {
                if (!s->accept_failing) {
                    warn_report("chardev '%s': cannot accept a client: %s",
                                s->parent.id, g_strerror(errno));
                }
                s->accept_failing = true;
                fd_handler_set_events(s->listen_handler, 0);
                timer_mod_ns(s->accept_retry,
                             clock_get_ns(s->parent.loop, CLOCK_HOST) +
                             SOCKET_ACCEPT_RETRY_NS);
            }
            return;
        }
        s->accept_failing = false;
        if (s->serve_cb) {
            SocketChardev *c = socket_new_client(s, cfd);
            s->serve_cb(s->serve_opaque, &c->parent);
            continue;
        }
        if (s->client_fd >= 0) {
            /* One client at a time: the newcomer is turned away. */
            close(cfd);
            continue;
        }
        if (s->close_pending) {
            /* The previous client's CLOSED goes out before this OPENED. */
            s->close_pending = false;
            chardev_set_open(&s->parent, false);
        }
        socket_attach_client(s, cfd);
        chardev_set_open(&s->parent, true);
        chardev_update_watch(&s->parent);
    }
}

static size_t socket_write(Chardev *chr, const uint8_t *buf, size_t len)
{
    SocketChardev *s = (SocketChardev *)chr;
    ssize_t n;

    if (s->client_fd < 0 || s->client_gone) {
        return len;
    }
    do {
        n = send(s->client_fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return 0;
        }
        /* The client is gone. This may run on a vCPU thread: leave the
         * clean-up to the main loop. */
        s->client_gone = true;
        bh_schedule(s->hangup_bh);
        return len;
    }
    return n;
}

static void socket_set_watch(Chardev *chr, bool input, bool output)
{
    SocketChardev *s = (SocketChardev *)chr;
    GIOCondition events = 0;

    if (s->client_fd < 0) {
        return;
    }
    if (input) {
        events |= G_IO_IN;
    }
    if (output && !s->client_gone) {
        events |= G_IO_OUT;
    }
    if (!s->client_gone) {
        /* Keep the fd polled even while the frontend is full: a hang-up
         * is reported for any event mask, and must be noticed so that
         * the next client is let in. PRI comes only with TCP urgent
         * data, which socket_client_ready() drops. */
        events |= G_IO_PRI;
    }
    if (!s->client_handler) {
        /* Parked after a hang-up: come back only to read what is left. */
        if (events) {
            s->client_handler = main_loop_add_fd(chr->loop, s->client_fd,
                                                 events, socket_client_ready,
                                                 s);
            s->client_events = events;
        }
    } else if (events != s->client_events) {
        fd_handler_set_events(s->client_handler, events);
        s->client_events = events;
    }
}

static int socket_output_fd(Chardev *chr)
{
    SocketChardev *s = (SocketChardev *)chr;

    return s->client_gone ? -1 : s->client_fd;
}

static char *socket_describe(Chardev *chr)
{
    SocketChardev *s = (SocketChardev *)chr;
    g_autofree char *addr = NULL;

    /* As QEMU's query-chardev shows it. */
    if (s->client_fd >= 0) {
        return g_strdup(s->connected_desc);
    }
    /* A server that hands its clients out is connected while one of
     * them is: QEMU, with one client, names that one. */
    for (guint i = s->clients ? s->clients->len : 0; i-- > 0;) {
        SocketChardev *c = g_ptr_array_index(s->clients, i);

        if (c->client_fd >= 0) {
            return g_strdup(c->connected_desc);
        }
    }
    addr = socket_address(s);
    return g_strdup_printf("disconnected:%s", addr);
}

/* Removes the socket file, unless someone replaced it since. */
static void socket_unlink(SocketChardev *s)
{
    struct stat st;

    if (lstat(s->path, &st) == 0 && S_ISSOCK(st.st_mode) &&
        st.st_dev == s->dev && st.st_ino == s->ino) {
        unlink(s->path);
    }
}

static void socket_free(Chardev *chr)
{
    SocketChardev *s = (SocketChardev *)chr;

    if (s->client_fd >= 0) {
        close(socket_detach_client(s));
    }
    /* Clients and their server may be freed in either order. */
    if (s->server) {
        g_ptr_array_remove(s->server->clients, s);
    }
    for (guint i = 0; s->clients && i < s->clients->len; i++) {
        ((SocketChardev *)g_ptr_array_index(s->clients, i))->server = NULL;
    }
    if (s->clients) {
        g_ptr_array_free(s->clients, TRUE);
    }
    if (s->listen_handler) {
        fd_handler_remove(s->listen_handler);
    }
    if (s->listen_fd >= 0) {
        if (!s->is_tcp) {
            socket_unlink(s);
        }
        close(s->listen_fd);
    }
    if (s->accept_retry) {
        timer_free(s->accept_retry);
    }
    if (s->handover_bh) {
        bh_free(s->handover_bh);
    }
    if (s->hangup_bh) {
        bh_free(s->hangup_bh);
    }
    if (s->closed_bh) {
        bh_free(s->closed_bh);
    }
    g_free(s->connected_desc);
    g_free(s->path);
    g_free(s->host);
    g_free(s->port);
}

static const ChardevBackendOps socket_ops = {
    .name = "socket",
    .write = socket_write,
    .set_watch = socket_set_watch,
    .output_fd = socket_output_fd,
    .describe = socket_describe,
    .disconnect = socket_hang_up,
    .free = socket_free,
};

bool chardev_serve_clients(Chardev *chr, ChardevClientFunc *cb,
                           void *opaque, GError **errp)
{
    SocketChardev *s = (SocketChardev *)chr;

    if (chr->ops != &socket_ops || s->listen_fd < 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "chardev '%s' cannot serve several clients (backend "
                    "'%s'; expected a socket server)", chr->id,
                    chr->ops->name);
        return false;
    }
    if (!cb) {
        /* The server's user goes away: later clients are its own again. */
        s->serve_cb = NULL;
        s->serve_opaque = NULL;
        chr->serving = false;
        return true;
    }
    if (s->serve_cb) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "chardev '%s' already serves its clients to someone",
                    chr->id);
        return false;
    }
    s->serve_cb = cb;
    s->serve_opaque = opaque;
    chr->serving = true;
    if (s->client_fd >= 0) {
        /* From the loop: the caller may not be ready for clients yet. */
        bh_schedule(s->handover_bh);
    }
    return true;
}

/* Fills @addr with s->path; false with @errp set if it does not fit. */
static bool socket_unix_addr(SocketChardev *s, const char *optname,
                             struct sockaddr_un *addr, GError **errp)
{
    memset(addr, 0, sizeof(*addr));
    addr->sun_family = AF_UNIX;
    if (strlen(s->path) >= sizeof(addr->sun_path)) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: chardev '%s': socket path '%s' is too long "
                    "(at most %zu bytes)", optname, s->parent.id, s->path,
                    sizeof(addr->sun_path) - 1);
        return false;
    }
    strcpy(addr->sun_path, s->path);
    return true;
}

/* Creates, binds and listens on the socket file; -1 with @errp set. */
static int socket_listen_unix(SocketChardev *s, const char *optname,
                              GError **errp)
{
    struct sockaddr_un addr;
    struct stat st;
    int fd;

    if (!socket_unix_addr(s, optname, &addr, errp)) {
        return -1;
    }

    if (lstat(s->path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "%s: chardev '%s': '%s' exists and is not a socket",
                        optname, s->parent.id, s->path);
            return -1;
        }
        /* A socket left behind by an earlier run. */
        unlink(s->path);
    }

    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                    "%s: chardev '%s': socket: %s", optname, s->parent.id,
                    g_strerror(errno));
        return -1;
    }
    /* Linux gives the socket file the mode of the socket inode (less the
     * umask), so the file is never accessible to others, not even
     * briefly. */
    if (fchmod(fd, 0600) < 0 ||
        bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
        listen(fd, SOCKET_LISTEN_BACKLOG) < 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                    "%s: chardev '%s': could not listen on '%s': %s",
                    optname, s->parent.id, s->path, g_strerror(errno));
        close(fd);
        return -1;
    }
    if (stat(s->path, &st) == 0) {
        s->dev = st.st_dev;
        s->ino = st.st_ino;
    }
    return fd;
}

/* Binds one address getaddrinfo gave; -1 with errno set on failure. */
static int socket_bind_tcp(const struct addrinfo *ai)
{
    int one = 1, zero = 0;
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                    ai->ai_protocol);
    int err;

    if (fd < 0) {
        return -1;
    }
    /* A restarted lemu may bind its port while old connections linger. */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ai->ai_family == AF_INET6) {
        /* An IPv6 wildcard takes IPv4 clients too, as in QEMU. */
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    }
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
        listen(fd, SOCKET_LISTEN_BACKLOG) == 0) {
        return fd;
    }
    err = errno;
    close(fd);
    errno = err;
    return -1;
}

/* The port a TCP server gets: a decimal number, 0 for any free one. */
static bool socket_parse_port(const char *optname, const char *id,
                              const char *port, GError **errp)
{
    guint64 v;

    if (!g_ascii_string_to_unsigned(port, 10, 0, 65535, &v, NULL)) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: chardev '%s': port '%s' is not valid (expected a "
                    "number from 0 to 65535)", optname, id, port);
        return false;
    }
    return true;
}

/* The stream addresses of s->host and s->port (@flags: AI_PASSIVE for
 * a server); NULL with @errp set. */
static struct addrinfo *socket_resolve_tcp(SocketChardev *s,
                                           const char *optname, int flags,
                                           GError **errp)
{
    struct addrinfo hints = {
        .ai_flags = flags,
        .ai_family = AF_UNSPEC,
        .ai_socktype = SOCK_STREAM,
    };
    struct addrinfo *res = NULL;
    int rc;

    if (!socket_parse_port(optname, s->parent.id, s->port, errp)) {
        return NULL;
    }
    rc = getaddrinfo(*s->host ? s->host : NULL, s->port, &hints, &res);
    if (rc != 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: chardev '%s': address '%s' cannot be resolved: %s",
                    optname, s->parent.id, s->host, gai_strerror(rc));
        return NULL;
    }
    return res;
}

/* Resolves, binds and listens on the TCP address; -1 with @errp set. */
static int socket_listen_tcp(SocketChardev *s, const char *optname,
                             GError **errp)
{
    struct addrinfo *res;
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char host[NI_MAXHOST], serv[NI_MAXSERV];
    int fd = -1, err = 0;

    res = socket_resolve_tcp(s, optname, AI_PASSIVE, errp);
    if (!res) {
        return -1;
    }
    /* As QEMU: the first address that binds (an empty host gives the
     * wildcard addresses). */
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket_bind_tcp(ai);
        if (fd < 0 && (err == 0 || errno == EADDRINUSE)) {
            err = errno;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) {
        bool v6 = strchr(s->host, ':') != NULL;

        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                    "%s: chardev '%s': could not listen on '%s%s%s:%s': "
                    "Failed to bind socket: %s", optname, s->parent.id,
                    v6 ? "[" : "", s->host, v6 ? "]" : "", s->port,
                    g_strerror(err ? err : EADDRNOTAVAIL));
        return -1;
    }
    /* From now on the server is named by the address it got, numeric, as
     * QEMU names it ("0.0.0.0" for an empty host, the port port=0 got). */
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0 &&
        getnameinfo((struct sockaddr *)&ss, len, host, sizeof(host), serv,
                    sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
        g_free(s->host);
        s->host = g_strdup(host);
        g_free(s->port);
        s->port = g_strdup(serv);
    }
    return fd;
}

/* fd=N: takes over an inherited stream socket, listening (@server) or
 * connected, and names it by its address; -1 with @errp set. */
static int socket_adopt_fd(SocketChardev *s, const char *optname,
                           const char *fdstr, bool server, GError **errp)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    guint64 num;
    int fd, type = 0, listening = 0;
    socklen_t olen = sizeof(int);
    struct stat st;

    if (!g_ascii_string_to_unsigned(fdstr, 10, 0, INT_MAX, &num, NULL)) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: chardev '%s': fd='%s' is not a file descriptor "
                    "number", optname, s->parent.id, fdstr);
        return -1;
    }
    fd = (int)num;
    if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode) ||
        getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &olen) < 0 ||
        type != SOCK_STREAM ||
        getsockname(fd, (struct sockaddr *)&ss, &len) < 0 ||
        (ss.ss_family != AF_UNIX && ss.ss_family != AF_INET &&
         ss.ss_family != AF_INET6)) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: chardev '%s': fd=%d is not an open unix or TCP "
                    "stream socket", optname, s->parent.id, fd);
        return -1;
    }
    olen = sizeof(int);
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &olen) < 0) {
        listening = 0;
    }
    if (!server) {
        struct sockaddr_storage peer;
        socklen_t plen = sizeof(peer);

        if (listening ||
            getpeername(fd, (struct sockaddr *)&peer, &plen) < 0) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "%s: chardev '%s': fd=%d is not a connected socket "
                        "(a listening one needs server=on)", optname,
                        s->parent.id, fd);
            return -1;
        }
    } else if (!listening && listen(fd, SOCKET_LISTEN_BACKLOG) < 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                    "%s: chardev '%s': could not listen on fd=%d: %s",
                    optname, s->parent.id, fd, g_strerror(errno));
        return -1;
    }
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                    "%s: chardev '%s': fcntl: %s", optname, s->parent.id,
                    g_strerror(errno));
        return -1;
    }
    if (ss.ss_family == AF_UNIX) {
        const struct sockaddr_un *un = (const struct sockaddr_un *)&ss;
        size_t n = len - offsetof(struct sockaddr_un, sun_path);

        /* Unnamed and abstract sockets have no path to show. */
        s->path = n > 0 && un->sun_path[0]
                  ? g_strndup(un->sun_path, n) : g_strdup("");
        /* The file a server's socket is bound to is removed at exit. */
        if (server && *s->path && stat(s->path, &st) == 0 &&
            S_ISSOCK(st.st_mode)) {
            s->dev = st.st_dev;
            s->ino = st.st_ino;
        }
    } else {
        char host[NI_MAXHOST], serv[NI_MAXSERV];

        s->is_tcp = true;
        if (getnameinfo((struct sockaddr *)&ss, len, host, sizeof(host),
                        serv, sizeof(serv),
                        NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
            g_strlcpy(host, "?", sizeof(host));
            g_strlcpy(serv, "?", sizeof(serv));
        }
        s->host = g_strdup(host);
        s->port = g_strdup(serv);
    }
    return fd;
}

/* Client mode: connects to the socket file; -1 with @errp set. */
static int socket_connect_unix(SocketChardev *s, const char *optname,
                               GError **errp)
{
    struct sockaddr_un addr;
    int fd;

    if (!socket_unix_addr(s, optname, &addr, errp)) {
        return -1;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                    "%s: chardev '%s': could not connect to '%s': %s",
                    optname, s->parent.id, s->path, g_strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    return fd;
}

/* Client mode: connects to the first address of host and port that
 * takes the connection; -1 with @errp set. */
static int socket_connect_tcp(SocketChardev *s, const char *optname,
                              GError **errp)
{
    struct addrinfo *res;
    int fd = -1, err = ECONNREFUSED;

    res = socket_resolve_tcp(s, optname, 0, errp);
    if (!res) {
        return -1;
    }
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
            err = errno;
            close(fd);
            fd = -1;
        } else if (fd < 0) {
            err = errno;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) {
        bool v6 = strchr(s->host, ':') != NULL;

        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                    "%s: chardev '%s': could not connect to '%s%s%s:%s': %s",
                    optname, s->parent.id, v6 ? "[" : "", s->host,
                    v6 ? "]" : "", s->port, g_strerror(err));
    }
    return fd;
}

/* wait=on: blocks until the first client is there, before the VM runs. */
static bool socket_wait_for_client(SocketChardev *s, GError **errp)
{
    g_autofree char *desc = socket_describe(&s->parent);
    int cfd;

    fprintf(stderr, "lemu: waiting for connection on: %s\n", desc);
    do {
        cfd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    } while (cfd < 0 && errno == EINTR);
    if (cfd < 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                    "chardev '%s': accepting a client on '%s' failed: %s",
                    s->parent.id, desc, g_strerror(errno));
        return false;
    }
    socket_attach_client(s, cfd);
    return true;
}

/* Checks the options that say where to listen (unix path or TCP host
 * and port); false with @errp set. */
static bool socket_check_address(const char *optname, const char *id,
                                 LemuOpts *opts, GError **errp)
{
    const char *path = opts_get(opts, "path");
    const char *host = opts_get(opts, "host");
    const char *port = opts_get(opts, "port");

    if (opts_has(opts, "fd")) {
        if (path || host || port) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "%s: chardev '%s': fd= excludes path=, host= and "
                        "port=", optname, id);
            return false;
        }
        return true;
    }
    if (path && (host || port)) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: chardev '%s': path= (unix) and host=/port= (TCP) "
                    "exclude each other", optname, id);
        return false;
    }
    if (path && !*path) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: chardev '%s': the socket backend needs path=PATH",
                    optname, id);
        return false;
    }
    if (!path && !host && !port) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: chardev '%s': the socket backend needs path=PATH "
                    "(unix), host=HOST,port=PORT (TCP) or fd=N", optname,
                    id);
        return false;
    }
    if (!path && !host) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: chardev '%s': a TCP socket needs host=HOST (empty "
                    "for every address)", optname, id);
        return false;
    }
    if (!path && !port) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: chardev '%s': a TCP socket needs port=PORT",
                    optname, id);
        return false;
    }
    return true;
}

Chardev *chardev_socket_open(MainLoop *loop, const char *id, LemuOpts *opts,
                             GError **errp)
{
    const char *optname = opts_name(opts);
    const char *host = opts_get(opts, "host");
    bool server, wait;
    SocketChardev *s;
    int fd;

    if (!socket_check_address(optname, id, opts, errp)) {
        return NULL;
    }
    if (!opts_get_bool(opts, "server", false, &server, errp) ||
        !opts_get_bool(opts, "wait", true, &wait, errp)) {
        return NULL;
    }
    if (!server && opts_has(opts, "wait")) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: chardev '%s': wait= is only for a server "
                    "(server=on)", optname, id);
        return NULL;
    }

    s = chardev_alloc(sizeof(*s), &socket_ops, loop, id);
    s->client_fd = -1;
    s->listen_fd = -1;
    s->is_server = server;
    s->hangup_bh = bh_new(loop, socket_hangup_bh, s);
    s->closed_bh = bh_new(loop, socket_closed_bh, s);
    s->handover_bh = bh_new(loop, socket_handover_bh, s);
    s->clients = g_ptr_array_new();
    s->accept_retry = timer_new(loop, CLOCK_HOST, socket_accept_retry, s);
    if (opts_has(opts, "fd")) {
        fd = socket_adopt_fd(s, optname, opts_get(opts, "fd"), server, errp);
    } else if (host) {
        size_t len = strlen(host);

        s->is_tcp = true;
        /* host=[::1] as well as host=::1 */
        if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
            s->host = g_strndup(host + 1, len - 2);
        } else {
            s->host = g_strdup(host);
        }
        s->port = g_strdup(opts_get(opts, "port"));
        fd = server ? socket_listen_tcp(s, optname, errp)
                    : socket_connect_tcp(s, optname, errp);
    } else {
        s->path = g_strdup(opts_get(opts, "path"));
        fd = server ? socket_listen_unix(s, optname, errp)
                    : socket_connect_unix(s, optname, errp);
    }
    if (fd < 0) {
        goto fail;
    }
    if (server) {
        s->listen_fd = fd;
        /* Blocking until then: wait=on accepts the first client. */
        if (wait && !socket_wait_for_client(s, errp)) {
            goto fail;
        }
    }
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                    "%s: chardev '%s': fcntl: %s", optname, id,
                    g_strerror(errno));
        if (!server) {
            close(fd);
        }
        goto fail;
    }
    if (!server) {
        socket_attach_client(s, fd);
        chardev_set_open(&s->parent, true);
        return &s->parent;
    }
    s->listen_handler = main_loop_add_fd(loop, s->listen_fd, G_IO_IN,
                                         socket_listen_ready, s);
    if (s->client_fd >= 0) {
        chardev_set_open(&s->parent, true);
    }
    return &s->parent;

fail:
    chardev_free(&s->parent);
    return NULL;
}

bool chardev_is_socket_server(Chardev *chr)
{
    return chr->ops == &socket_ops && ((SocketChardev *)chr)->listen_fd >= 0;
}
