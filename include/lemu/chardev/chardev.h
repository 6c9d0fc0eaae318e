/*
 * Character devices: the host end of a serial port or of a monitor.
 * Backends: stdio, file, unix or TCP socket server, null. All I/O runs on
 * the main loop; nothing here blocks.
 *
 * Input flows backend -> frontend only as fast as the frontend takes it:
 * when can_receive() returns 0 the backend stops reading its fd, and the
 * frontend calls chardev_accept_input() once it has room again. So a full
 * UART FIFO holds the host's input back instead of dropping it.
 */
#ifndef LEMU_CHARDEV_CHARDEV_H
#define LEMU_CHARDEV_CHARDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <glib.h>
#include "lemu/util/main-loop.h"
#include "lemu/util/opts.h"

typedef struct Chardev Chardev;

typedef enum {
    CHARDEV_EVENT_OPENED,    /* a client connected / the backend is ready */
    CHARDEV_EVENT_CLOSED,    /* the client went away */
} ChardevEvent;

typedef struct ChardevFrontendOps {
    size_t (*can_receive)(void *opaque);
    void (*receive)(void *opaque, const uint8_t *buf, size_t len);
    void (*event)(void *opaque, ChardevEvent event);   /* may be NULL */
} ChardevFrontendOps;

/* What the stdio backend's Ctrl-a escapes ask the machine to do. */
typedef struct ChardevEscapeOps {
    void (*quit)(void *opaque);            /* Ctrl-a x */
    void (*toggle_monitor)(void *opaque);  /* Ctrl-a c; NULL: none yet */
} ChardevEscapeOps;

/*
 * -chardev BACKEND,id=ID[,path=P][,server=on][,wait=off][,append=on]
 * backends: stdio (signal=on|off), file (path=), socket (path= for unix,
 * host= and port= for TCP), null.
 */
Chardev *chardev_new_from_opts(MainLoop *loop, LemuOpts *opts,
                               GError **errp);
/* Parses a -chardev option string (implied key "backend"), accepting
 * QEMU's old bare flags too: "server" for server=on, "nowait" for
 * wait=off (likewise append, signal). */
LemuOpts *chardev_opts_parse(const char *optname, const char *str,
                             GError **errp);
/*
 * The short forms of -serial and friends: "stdio", "file:PATH",
 * "unix:PATH[,server=on,wait=off]", "tcp:HOST:PORT[,server=on,wait=off]",
 * "null"; "chardev:ID" is resolved by
 * the caller. "none" is not a chardev: the caller handles it. @id names
 * the new chardev (e.g. "serial0"); @optname is used in error messages.
 */
Chardev *chardev_new_from_spec(MainLoop *loop, const char *optname,
                               const char *spec, const char *id,
                               GError **errp);
void chardev_free(Chardev *chr);

const char *chardev_id(Chardev *chr);
const char *chardev_backend_name(Chardev *chr);  /* "stdio", "file", ... */
/* "file:/tmp/x", "unix:/tmp/s,server=on", as QMP query-chardev shows. */
char *chardev_describe(Chardev *chr);
bool chardev_is_stdio(Chardev *chr);

/* Attaches the device that consumes input; one frontend per chardev.
 * @ops NULL detaches it. A frontend with an event callback gets OPENED at
 * once when the backend already has its peer. */
void chardev_set_frontend(Chardev *chr, const ChardevFrontendOps *ops,
                          void *opaque);
/* Whether a frontend is attached (a device may not take a used one). */
bool chardev_has_frontend(Chardev *chr);
/* The frontend attached now (*ops NULL when none), so that a monitor that
 * shares the chardev with a serial port (-serial mon:stdio) can take the
 * input and hand it back. */
void chardev_get_frontend(Chardev *chr, const ChardevFrontendOps **ops,
                          void **opaque);
void chardev_set_escape_ops(Chardev *chr, const ChardevEscapeOps *ops,
                            void *opaque);
/*
 * Queues @len bytes for output and returns at once. What the backend cannot
 * take now is buffered (bounded; on overflow the oldest output is kept and
 * the rest dropped, as for a disconnected socket). Returns bytes accepted.
 */
size_t chardev_write(Chardev *chr, const uint8_t *buf, size_t len);
/* The frontend has room again: resume reading the backend. */
void chardev_accept_input(Chardev *chr);
/* Writes out buffered output, blocking for at most @timeout_ms. */
void chardev_flush(Chardev *chr, int timeout_ms);

/*
 * Multi-client sockets (the QMP monitor serves every client at once):
 * from now on each client that connects to the socket chardev @chr,
 * including one already accepted by wait=on, becomes a Chardev of its own
 * (backend "socket", no listener, id "<id>-client<N>") handed to @cb,
 * which owns it: it attaches a frontend, and frees it after the frontend
 * got CHARDEV_EVENT_CLOSED, from a bottom half, never inside a callback
 * of that chardev. @chr itself keeps listening and keeps its socket file.
 * Fails for backends that are not sockets. @cb NULL stops serving (the
 * user goes away); clients handed out before stay with their owner.
 * While served, chardev_has_frontend() is true.
 */
typedef void ChardevClientFunc(void *opaque, Chardev *client);
/* Whether @chr is a socket server, which chardev_serve_clients() takes
 * (a client-mode socket, server=off, is not). */
bool chardev_is_socket_server(Chardev *chr);
bool chardev_serve_clients(Chardev *chr, ChardevClientFunc *cb,
                           void *opaque, GError **errp);
/* Hangs up on the peer of @chr (a socket client): CLOSED follows. */
void chardev_disconnect(Chardev *chr);

/* Output buffering: at most @bytes wait for a slow reader (default
 * CHARDEV_OUT_BUF_SIZE, 64 KiB); the buffer grows as needed up to that. */
void chardev_set_output_limit(Chardev *chr, size_t bytes);
/* Bytes written but not yet taken by the backend. When it drops to zero
 * the frontend's can_receive() is asked again, so a frontend may hold its
 * input back while its output waits. */
size_t chardev_output_pending(Chardev *chr);

/* Restores the terminal if a stdio chardev put it in raw mode. Safe to
 * call more than once and from an atexit handler. */
void chardev_stdio_restore_terminal(void);

#endif
