/*
 * What chardev.c shares with its backends: the Chardev struct, the backend
 * operations and the helpers that implement output buffering and input
 * back-pressure once for every backend.
 *
 * A backend embeds a Chardev as its first member, owns its file
 * descriptors and fd handlers, and calls back into chardev.c when an fd is
 * ready: chardev_output_ready() when its output fd is writable,
 * chardev_input_room() + chardev_push_input() when its input fd is
 * readable.
 */
#ifndef CHARDEV_CHARDEV_INTERNAL_H
#define CHARDEV_CHARDEV_INTERNAL_H

#include <sys/types.h>
#include "lemu/chardev/chardev.h"

/* Output the backend could not take yet, by default; beyond the limit
 * (chardev_set_output_limit) it is dropped. */
#define CHARDEV_OUT_BUF_SIZE (64 * 1024)
/* Most bytes read from a backend fd at a time. */
#define CHARDEV_IN_CHUNK 1024

typedef struct ChardevBackendOps {
    const char *name;            /* "stdio", "file", "socket", "null" */
    /*
     * Writes as much of @buf as the backend takes now, without blocking,
     * and returns how much it consumed. Bytes it discards (no client
     * connected, a dead output) count as consumed; 0 means "full, call
     * again once the output fd is writable".
     */
    size_t (*write)(Chardev *chr, const uint8_t *buf, size_t len);
    /* Watch the input fd for reading and the output fd for writing, or
     * stop watching them. */
    void (*set_watch)(Chardev *chr, bool input, bool output);
    /* The fd chardev_flush() waits on for POLLOUT; -1 when none. */
    int (*output_fd)(Chardev *chr);
    char *(*describe)(Chardev *chr);
    /* Hangs up on the peer, if any; CLOSED follows from the main loop.
     * NULL: the backend has no peer to hang up on. */
    void (*disconnect)(Chardev *chr);
    /* Closes the backend's fds and frees what it owns, not @chr itself. */
    void (*free)(Chardev *chr);
} ChardevBackendOps;

struct Chardev {
    const ChardevBackendOps *ops;
    MainLoop *loop;
    char *id;
    bool open;                   /* a peer is there: OPENED was sent */
    bool serving;                /* chardev_serve_clients() hands out
                                    its clients: that user is the frontend */

    const ChardevFrontendOps *fe_ops;
    void *fe_opaque;
    const ChardevEscapeOps *esc_ops;
    void *esc_opaque;

    /* Output not yet taken by the backend: out_buf[out_start..+out_len).
     * The buffer is allocated as output waits, grows up to out_limit and
     * is given back once it drains. */
    uint8_t *out_buf;
    size_t out_cap;
    size_t out_start, out_len;
    size_t out_limit;
    uint64_t out_dropped;

    /* Input read from the backend but not yet taken by the frontend. The
     * stdio escapes can turn n bytes read into n + 1, hence the slack. */
    uint8_t in_buf[2 * CHARDEV_IN_CHUNK];
    size_t in_start, in_len;
    bool input_paused;           /* waiting for chardev_accept_input() */
    BottomHalf *input_bh;
};

/* Allocates a backend struct of @size bytes whose first member is a
 * Chardev, and initialises that Chardev. */
void *chardev_alloc(size_t size, const ChardevBackendOps *ops,
                    MainLoop *loop, const char *id);

/* Recomputes what the backend must watch and tells it (set_watch). */
void chardev_update_watch(Chardev *chr);
/* The output fd is writable: hands buffered output to the backend. */
void chardev_output_ready(Chardev *chr);
/* The peer went away: what it did not read is dropped. */
void chardev_drop_output(Chardev *chr);
/* How many bytes the backend may read now (0: leave the fd alone). */
size_t chardev_input_room(Chardev *chr);
/* Hands @len (at most what chardev_input_room() allowed, plus one)
 * bytes to the frontend, keeping what it cannot take yet. */
void chardev_push_input(Chardev *chr, const uint8_t *buf, size_t len);
/* A peer arrived or left: sends OPENED or CLOSED to the frontend. */
void chardev_set_open(Chardev *chr, bool open);

/* Backend constructors, called with options whose keys were checked. */
Chardev *chardev_stdio_open(MainLoop *loop, const char *id, LemuOpts *opts,
                            GError **errp);
Chardev *chardev_file_open(MainLoop *loop, const char *id, LemuOpts *opts,
                           GError **errp);
Chardev *chardev_socket_open(MainLoop *loop, const char *id, LemuOpts *opts,
                             GError **errp);
Chardev *chardev_null_open(MainLoop *loop, const char *id, LemuOpts *opts,
                           GError **errp);

/* For the stdio escapes: the key that starts one (Ctrl-a). */
#define CHARDEV_ESCAPE_CHAR 0x01

#endif
