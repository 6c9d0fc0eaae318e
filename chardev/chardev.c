/*
 * Character devices: option parsing, and the output buffering and input
 * back-pressure every backend shares.
 *
 * Output: chardev_write() hands bytes to the backend at once; what its fd
 * cannot take now waits in a bounded buffer that is written out when the
 * fd becomes writable. A stalled terminal or socket therefore costs at
 * most the buffer, never a blocked main loop or vCPU.
 *
 * Input: the backend reads its fd only while the frontend has room, and
 * never more than that room, so nothing is read that would have to be
 * dropped. When the frontend is full the fd is no longer watched until
 * the frontend calls chardev_accept_input().
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include "chardev/chardev-internal.h"
#include "lemu/util/log.h"

typedef struct ChardevBackendInfo {
    const char *name;
    Chardev *(*open)(MainLoop *loop, const char *id, LemuOpts *opts,
                     GError **errp);
    const char *const *keys;     /* besides "backend" and "id" */
} ChardevBackendInfo;

static const char *const stdio_keys[] = { "signal", NULL };
static const char *const file_keys[] = { "path", "append", NULL };
/* host and port are accepted here only to say TCP is not supported. */
static const char *const socket_keys[] = {
    "path", "server", "wait", "host", "port", NULL
};
static const char *const null_keys[] = { NULL };

static const ChardevBackendInfo chardev_backends[] = {
    { "stdio", chardev_stdio_open, stdio_keys },
    { "file", chardev_file_open, file_keys },
    { "socket", chardev_socket_open, socket_keys },
    { "null", chardev_null_open, null_keys },
};

static void chardev_input_bh(void *opaque);

void *chardev_alloc(size_t size, const ChardevBackendOps *ops,
                    MainLoop *loop, const char *id)
{
    Chardev *chr;

    g_assert(size >= sizeof(Chardev));
    chr = g_malloc0(size);
    chr->ops = ops;
    chr->loop = loop;
    chr->id = g_strdup(id);
    chr->out_buf = g_malloc(CHARDEV_OUT_BUF_SIZE);
    chr->input_bh = bh_new(loop, chardev_input_bh, chr);
    return chr;
}

void chardev_free(Chardev *chr)
{
    if (!chr) {
        return;
    }
    chr->ops->free(chr);
    bh_free(chr->input_bh);
    g_free(chr->out_buf);
    g_free(chr->id);
    g_free(chr);
}

/* QEMU's rule for ids: a letter, then letters, digits, '-', '.', '_'. */
static bool chardev_id_valid(const char *id)
{
    if (!g_ascii_isalpha(id[0])) {
        return false;
    }
    for (const char *p = id; *p; p++) {
        if (!g_ascii_isalnum(*p) && *p != '-' && *p != '.' && *p != '_') {
            return false;
        }
    }
    return true;
}

static char *chardev_backend_list(void)
{
    GString *s = g_string_new(NULL);

    for (size_t i = 0; i < G_N_ELEMENTS(chardev_backends); i++) {
        g_string_append_printf(s, "%s%s", i ? ", " : "",
                               chardev_backends[i].name);
    }
    return g_string_free(s, FALSE);
}

/* Opens backend @backend with @opts, after checking its keys. */
static Chardev *chardev_open_backend(MainLoop *loop, const char *backend,
                                     const char *id, LemuOpts *opts,
                                     GError **errp)
{
    const ChardevBackendInfo *info = NULL;
    const char *known[8];
    size_t n = 0;

    for (size_t i = 0; i < G_N_ELEMENTS(chardev_backends); i++) {
        if (strcmp(chardev_backends[i].name, backend) == 0) {
            info = &chardev_backends[i];
        }
    }
    if (!info) {
        g_autofree char *list = chardev_backend_list();
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: unknown chardev backend '%s' (expected one of: %s)",
                    opts_name(opts), backend, list);
        return NULL;
    }
    known[n++] = "backend";
    known[n++] = "id";
    for (const char *const *k = info->keys; *k; k++) {
        g_assert(n < G_N_ELEMENTS(known) - 1);
        known[n++] = *k;
    }
    known[n] = NULL;
    if (!opts_check_keys(opts, known, errp)) {
        return NULL;
    }
    return info->open(loop, id, opts, errp);
}

Chardev *chardev_new_from_opts(MainLoop *loop, LemuOpts *opts,
                               GError **errp)
{
    const char *backend = opts_get(opts, "backend");
    const char *id = opts_get(opts, "id");

    if (!backend || !*backend) {
        g_autofree char *list = chardev_backend_list();
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: missing backend (expected one of: %s)",
                    opts_name(opts), list);
        return NULL;
    }
    if (!id) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: the chardev needs an id (id=NAME)", opts_name(opts));
        return NULL;
    }
    if (!chardev_id_valid(id)) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: id '%s' is not valid (expected a letter followed "
                    "by letters, digits, '-', '.' or '_')",
                    opts_name(opts), id);
        return NULL;
    }
    return chardev_open_backend(loop, backend, id, opts, errp);
}

Chardev *chardev_new_from_spec(MainLoop *loop, const char *optname,
                               const char *spec, const char *id,
                               GError **errp)
{
    LemuOpts *opts = NULL;
    const char *backend;
    Chardev *chr;

    if (strcmp(spec, "stdio") == 0 || strcmp(spec, "null") == 0) {
        backend = spec;
        opts = opts_parse(optname, spec, "backend", errp);
    } else if (g_str_has_prefix(spec, "file:") && spec[5]) {
        /* The whole rest is the path, commas included, as in QEMU. */
        backend = "file";
        opts = opts_parse(optname, "file", "backend", errp);
        if (opts) {
            opts_set(opts, "path", spec + 5);
        }
    } else if (g_str_has_prefix(spec, "unix:") && spec[5] &&
               spec[5] != ',') {
        static const char *const unix_keys[] = {
            "path", "server", "wait", NULL
        };
        backend = "socket";
        opts = opts_parse(optname, spec + 5, "path", errp);
        if (opts && !opts_check_keys(opts, unix_keys, errp)) {
            opts_free(opts);
            return NULL;
        }
    } else {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: '%s' is not a character device (expected stdio, "
                    "null, file:PATH, unix:PATH,server=on[,wait=off], "
                    "chardev:ID or none)", optname, spec);
        return NULL;
    }
    if (!opts) {
        return NULL;
    }
    chr = chardev_open_backend(loop, backend, id, opts, errp);
    opts_free(opts);
    return chr;
}

const char *chardev_id(Chardev *chr)
{
    return chr->id;
}

const char *chardev_backend_name(Chardev *chr)
{
    return chr->ops->name;
}

char *chardev_describe(Chardev *chr)
{
    return chr->ops->describe(chr);
}

bool chardev_is_stdio(Chardev *chr)
{
    return strcmp(chr->ops->name, "stdio") == 0;
}

bool chardev_has_frontend(Chardev *chr)
{
    return chr->fe_ops != NULL;
}

void chardev_set_frontend(Chardev *chr, const ChardevFrontendOps *ops,
                          void *opaque)
{
    chr->fe_ops = ops;
    chr->fe_opaque = ops ? opaque : NULL;
    /* A frontend that arrives after the peer still learns it is there. */
    if (ops && ops->event && chr->open) {
        ops->event(opaque, CHARDEV_EVENT_OPENED);
    }
    chardev_update_watch(chr);
}

void chardev_set_escape_ops(Chardev *chr, const ChardevEscapeOps *ops,
                            void *opaque)
{
    chr->esc_ops = ops;
    chr->esc_opaque = opaque;
}

void chardev_set_open(Chardev *chr, bool open)
{
    if (chr->open == open) {
        return;
    }
    chr->open = open;
    if (chr->fe_ops && chr->fe_ops->event) {
        chr->fe_ops->event(chr->fe_opaque,
                           open ? CHARDEV_EVENT_OPENED : CHARDEV_EVENT_CLOSED);
    }
}

void chardev_update_watch(Chardev *chr)
{
    bool input = false;

    if (chr->fe_ops && chr->in_len == 0) {
        input = chr->fe_ops->can_receive(chr->fe_opaque) > 0;
    }
    /* Without a frontend there is nobody to call accept_input(); the
     * watch comes back with chardev_set_frontend(). */
    chr->input_paused = chr->fe_ops && !input;
    chr->ops->set_watch(chr, input, chr->out_len > 0);
}

/* Writes buffered output until the backend is full or the buffer empty. */
static void chardev_write_buffered(Chardev *chr)
{
    while (chr->out_len > 0) {
        size_t n = chr->ops->write(chr, chr->out_buf + chr->out_start,
                                   chr->out_len);
        if (n == 0) {
            break;
        }
        n = MIN(n, chr->out_len);
        chr->out_start += n;
        chr->out_len -= n;
    }
    if (chr->out_len == 0) {
        chr->out_start = 0;
    }
}

void chardev_output_ready(Chardev *chr)
{
    bool had_output = chr->out_len > 0;

    chardev_write_buffered(chr);
    if (had_output && chr->out_len == 0) {
        chardev_update_watch(chr);
    }
}

void chardev_drop_output(Chardev *chr)
{
    chr->out_start = 0;
    chr->out_len = 0;
}

size_t chardev_write(Chardev *chr, const uint8_t *buf, size_t len)
{
    size_t done = 0, take;

    /* Bytes already waiting go first, so nothing is written out of order. */
    while (chr->out_len == 0 && done < len) {
        size_t n = chr->ops->write(chr, buf + done, len - done);
        if (n == 0) {
            break;
        }
        done += MIN(n, len - done);
    }
    if (done == len) {
        return len;
    }

    take = MIN(len - done, CHARDEV_OUT_BUF_SIZE - chr->out_len);
    if (chr->out_start + chr->out_len + take > CHARDEV_OUT_BUF_SIZE) {
        memmove(chr->out_buf, chr->out_buf + chr->out_start, chr->out_len);
        chr->out_start = 0;
    }
    memcpy(chr->out_buf + chr->out_start + chr->out_len, buf + done, take);
    if (take < len - done) {
        /* Keep the oldest output; a stalled reader loses the newest. */
        chr->out_dropped += len - done - take;
    }
    if (chr->out_len == 0 && take > 0) {
        chr->out_len = take;
        chardev_update_watch(chr);
    } else {
        chr->out_len += take;
    }
    return done + take;
}

void chardev_flush(Chardev *chr, int timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

    chardev_write_buffered(chr);
    while (chr->out_len > 0) {
        int fd = chr->ops->output_fd(chr);
        gint64 left = deadline - g_get_monotonic_time();
        struct pollfd pfd = { .fd = fd, .events = POLLOUT };
        int ret;

        if (fd < 0 || left <= 0) {
            break;
        }
        ret = poll(&pfd, 1, (int)((left + 999) / 1000));
        if (ret < 0 && errno != EINTR) {
            break;
        }
        if (ret == 0) {
            break;
        }
        chardev_write_buffered(chr);
    }
    chardev_update_watch(chr);
}

size_t chardev_input_room(Chardev *chr)
{
    size_t room;

    if (!chr->fe_ops || chr->in_len > 0) {
        return 0;
    }
    room = chr->fe_ops->can_receive(chr->fe_opaque);
    return MIN(room, CHARDEV_IN_CHUNK);
}

/* Gives the frontend as much pending input as it takes. */
static void chardev_deliver_input(Chardev *chr)
{
    while (chr->in_len > 0 && chr->fe_ops) {
        size_t room = chr->fe_ops->can_receive(chr->fe_opaque);
        size_t n = MIN(room, chr->in_len);

        if (n == 0) {
            break;
        }
        chr->in_start += n;
        chr->in_len -= n;
        chr->fe_ops->receive(chr->fe_opaque,
                             chr->in_buf + chr->in_start - n, n);
    }
    if (chr->in_len == 0) {
        chr->in_start = 0;
    }
}

void chardev_push_input(Chardev *chr, const uint8_t *buf, size_t len)
{
    if (len > 0) {
        /* Backends read only while in_buf is empty. */
        g_assert(chr->in_len == 0 && len <= sizeof(chr->in_buf));
        memcpy(chr->in_buf, buf, len);
        chr->in_start = 0;
        chr->in_len = len;
        chardev_deliver_input(chr);
    }
    chardev_update_watch(chr);
}

static void chardev_input_bh(void *opaque)
{
    Chardev *chr = opaque;

    chardev_deliver_input(chr);
    chardev_update_watch(chr);
}

void chardev_accept_input(Chardev *chr)
{
    /* Resumed from the loop, not from inside the frontend's own register
     * access (a vCPU thread), so the frontend is never re-entered. */
    if (chr->input_paused) {
        bh_schedule(chr->input_bh);
    }
}
