/*
 * The socket backend: a unix stream socket server with one client at a
 * time. -chardev socket,id=ID,path=PATH,server=on[,wait=off] and
 * -serial unix:PATH,server=on[,wait=off].
 *
 * The socket file is created with mode 0600, replaces a stale socket left
 * by an earlier run, and is removed again when the chardev goes away. A
 * client that connects while another is attached is turned away. Output
 * with no client attached is dropped, as in QEMU.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "chardev/chardev-internal.h"
#include "lemu/util/log.h"

typedef struct SocketChardev {
    Chardev parent;
    char *path;
    dev_t dev;                   /* identity of the socket file we bound */
    ino_t ino;
    int listen_fd;
    FdHandler *listen_handler;
    int client_fd;               /* -1: no client */
    FdHandler *client_handler;   /* NULL while parked (see client_gone) */
    GIOCondition client_events;
    /* The client hung up but left input we have not read yet: finish
     * reading it (as the frontend takes it) before closing. */
    bool client_gone;
    BottomHalf *hangup_bh;       /* a write failed: check the client */
} SocketChardev;

static void socket_client_ready(void *opaque, int fd, GIOCondition ready);

static void socket_disconnect(SocketChardev *s)
{
    if (s->client_fd < 0) {
        return;
    }
    if (s->client_handler) {
        fd_handler_remove(s->client_handler);
        s->client_handler = NULL;
    }
    close(s->client_fd);
    s->client_fd = -1;
    s->client_events = 0;
    s->client_gone = false;
    chardev_drop_output(&s->parent);
    chardev_set_open(&s->parent, false);
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

static void socket_listen_ready(void *opaque, int fd, GIOCondition ready)
{
    SocketChardev *s = opaque;
    int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

    if (cfd < 0) {
        return;
    }
    if (s->client_fd >= 0) {
        /* One client at a time: the newcomer is turned away. */
        close(cfd);
        return;
    }
    s->client_fd = cfd;
    s->client_events = 0;
    s->client_handler = main_loop_add_fd(s->parent.loop, cfd, 0,
                                         socket_client_ready, s);
    chardev_set_open(&s->parent, true);
    chardev_update_watch(&s->parent);
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
         * the next client is let in. Unix sockets never signal PRI. */
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

    /* As QEMU's query-chardev shows it. */
    return g_strdup_printf("%sunix:%s,server=on",
                           s->client_fd < 0 ? "disconnected:" : "", s->path);
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
        if (s->client_handler) {
            fd_handler_remove(s->client_handler);
        }
        close(s->client_fd);
    }
    if (s->listen_handler) {
        fd_handler_remove(s->listen_handler);
    }
    if (s->listen_fd >= 0) {
        socket_unlink(s);
        close(s->listen_fd);
    }
    if (s->hangup_bh) {
        bh_free(s->hangup_bh);
    }
    g_free(s->path);
}

static const ChardevBackendOps socket_ops = {
    .name = "socket",
    .write = socket_write,
    .set_watch = socket_set_watch,
    .output_fd = socket_output_fd,
    .describe = socket_describe,
    .free = socket_free,
};

/* Creates, binds and listens on the socket file; -1 with @errp set. */
static int socket_listen(SocketChardev *s, const char *optname,
                         GError **errp)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    struct stat st;
    int fd;

    if (strlen(s->path) >= sizeof(addr.sun_path)) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: chardev '%s': socket path '%s' is too long "
                    "(at most %zu bytes)", optname, s->parent.id, s->path,
                    sizeof(addr.sun_path) - 1);
        return -1;
    }
    strcpy(addr.sun_path, s->path);

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
        listen(fd, 1) < 0) {
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
                    s->parent.id, s->path, g_strerror(errno));
        return false;
    }
    s->client_fd = cfd;
    s->client_handler = main_loop_add_fd(s->parent.loop, cfd, 0,
                                         socket_client_ready, s);
    return true;
}

Chardev *chardev_socket_open(MainLoop *loop, const char *id, LemuOpts *opts,
                             GError **errp)
{
    const char *optname = opts_name(opts);
    const char *path = opts_get(opts, "path");
    bool server, wait;
    SocketChardev *s;

    if (opts_has(opts, "host") || opts_has(opts, "port")) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_UNSUPPORTED,
                    "%s: chardev '%s': TCP sockets are not supported yet "
                    "(expected a unix socket: path=PATH)", optname, id);
        return NULL;
    }
    if (!path || !*path) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: chardev '%s': the socket backend needs path=PATH",
                    optname, id);
        return NULL;
    }
    if (!opts_get_bool(opts, "server", false, &server, errp) ||
        !opts_get_bool(opts, "wait", true, &wait, errp)) {
        return NULL;
    }
    if (!server) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_UNSUPPORTED,
                    "%s: chardev '%s': socket client mode is not supported "
                    "yet (expected server=on)", optname, id);
        return NULL;
    }

    s = chardev_alloc(sizeof(*s), &socket_ops, loop, id);
    s->path = g_strdup(path);
    s->client_fd = -1;
    s->listen_fd = socket_listen(s, optname, errp);
    if (s->listen_fd < 0) {
        goto fail;
    }
    s->hangup_bh = bh_new(loop, socket_hangup_bh, s);
    if (wait && !socket_wait_for_client(s, errp)) {
        goto fail;
    }
    if (fcntl(s->listen_fd, F_SETFL,
              fcntl(s->listen_fd, F_GETFL) | O_NONBLOCK) < 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                    "%s: chardev '%s': fcntl: %s", optname, id,
                    g_strerror(errno));
        goto fail;
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
