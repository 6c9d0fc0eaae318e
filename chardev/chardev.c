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
static const char *const socket_keys[] = {
    "path", "server", "wait", "host", "port", "fd", NULL
};
static const char *const null_keys[] = { NULL };

static const ChardevBackendInfo chardev_backends[] = {
    { "stdio", chardev_stdio_open, stdio_keys },
    { "file", chardev_file_open, file_keys },
    { "socket", chardev_socket_open, socket_keys },
    { "null", chardev_null_open, null_keys },
};

static void chardev_input_bh(void *opaque);

/* A drained buffer bigger than the default goes back to the allocator, so
 * that a burst for one slow reader does not stay allocated. */
static void chardev_release_output_buffer(Chardev *chr)
{
    if (chr->out_len == 0 && chr->out_cap > CHARDEV_OUT_BUF_SIZE) {
        g_clear_pointer(&chr->out_buf, g_free);
        chr->out_cap = 0;
        chr->out_start = 0;
    }
}

void *chardev_alloc(size_t size, const ChardevBackendOps *ops,
                    MainLoop *loop, const char *id)
{
    Chardev *chr;

    g_assert(size >= sizeof(Chardev));
    chr = g_malloc0(size);
    chr->ops = ops;
    chr->loop = loop;
    chr->id = g_strdup(id);
    chr->out_limit = CHARDEV_OUT_BUF_SIZE;
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
    const char *known[10];
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

/* The keys QEMU's old syntax lets one write as bare flags: "server" for
 * server=on, "nowait" for wait=off. */
static const char *const chardev_flag_keys[] = {
    "server", "wait", "append", "signal", NULL
};

/* Whether the element @elem (@len bytes) is a bare flag; sets @key to the
 * option it stands for and @on to its value. */
static bool chardev_bare_flag(const char *elem, size_t len, const char **key,
                              bool *on)
{
    for (const char *const *k = chardev_flag_keys; *k; k++) {
        size_t klen = strlen(*k);

        if (len == klen && strncmp(elem, *k, len) == 0) {
            *key = *k;
            *on = true;
            return true;
        }
        if (len == klen + 2 && strncmp(elem, "no", 2) == 0 &&
            strncmp(elem + 2, *k, klen) == 0) {
            *key = *k;
            *on = false;
            return true;
        }
    }
    return false;
}

/*
 * Rewrites QEMU's old bare flags after the first element of @str
 * ("unix:/s,server,nowait") as key=value ("server=on,wait=off"). Other
 * elements are copied as they are, ",," escapes included.
 */
static char *chardev_expand_flags(const char *str)
{
    GString *out = g_string_sized_new(strlen(str) + 16);
    const char *p = str;

    for (bool first = true; ; first = false) {
        const char *start = p;
        bool has_value = false;
        const char *key;
        bool on;

        /* One element: up to a ',' that is not part of a ",,". */
        while (*p) {
            if (p[0] == ',' && p[1] == ',') {
                p += 2;
            } else if (p[0] == ',') {
                break;
            } else {
                has_value |= p[0] == '=';
                p++;
            }
        }
        if (!first && !has_value &&
            chardev_bare_flag(start, p - start, &key, &on)) {
            g_string_append_printf(out, "%s=%s", key, on ? "on" : "off");
        } else {
            g_string_append_len(out, start, p - start);
        }
        if (!*p) {
            break;
        }
        g_string_append_c(out, ',');
        p++;
    }
    return g_string_free(out, FALSE);
}

LemuOpts *chardev_opts_parse(const char *optname, const char *str,
                             GError **errp)
{
    g_autofree char *expanded = NULL;

    if (!str || !*str) {
        return opts_parse(optname, str, "backend", errp);
    }
    expanded = chardev_expand_flags(str);
    return opts_parse(optname, expanded, "backend", errp);
}

/* Splits "HOST:PORT" of a tcp: spec, where HOST may be empty (every
 * address), a name, an IPv4 address or a bracketed IPv6 address. */
static bool chardev_split_host_port(const char *optname, const char *spec,
                                    const char *addr, char **host,
                                    char **port, GError **errp)
{
    const char *colon;

    if (addr[0] == '[') {
        const char *end = strchr(addr, ']');

        if (!end || end[1] != ':') {
            goto bad;
        }
        *host = g_strndup(addr + 1, end - addr - 1);
        colon = end + 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon || memchr(addr, ':', colon - addr)) {
            /* An IPv6 address must be written in brackets. */
            goto bad;
        }
        *host = g_strndup(addr, colon - addr);
    }
    *port = g_strdup(colon + 1);
    return true;

bad:
    g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                "%s: '%s' is not a TCP address (expected tcp:HOST:PORT, "
                "tcp::PORT or tcp:[IPV6]:PORT)", optname, spec);
    return false;
}

/* "tcp:HOST:PORT[,server=on][,wait=off]" as -chardev socket options. */
static LemuOpts *chardev_parse_tcp_spec(const char *optname,
                                        const char *spec, GError **errp)
{
    static const char *const tcp_keys[] = {
        "host", "port", "server", "wait", NULL
    };
    const char *rest = spec + strlen("tcp:");
    const char *comma = strchr(rest, ',');
    g_autofree char *addr = comma ? g_strndup(rest, comma - rest)
                                  : g_strdup(rest);
    g_autofree char *host = NULL, *port = NULL;
    LemuOpts *opts;

    if (!chardev_split_host_port(optname, spec, addr, &host, &port, errp)) {
        return NULL;
    }
    if (comma) {
        g_autofree char *flags = chardev_expand_flags(comma);

        /* The leading ',' makes every flag a non-first element. */
        opts = opts_parse(optname, flags + 1, NULL, errp);
        if (!opts) {
            return NULL;
        }
        if (!opts_check_keys(opts, tcp_keys, errp)) {
            opts_free(opts);
            return NULL;
        }
        if (opts_has(opts, "host") || opts_has(opts, "port")) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "%s: '%s': host and port are given as "
                        "tcp:HOST:PORT, not as options", optname, spec);
            opts_free(opts);
            return NULL;
        }
    } else {
        opts = opts_parse(optname, "socket", "backend", errp);
        if (!opts) {
            return NULL;
        }
    }
    opts_set(opts, "backend", "socket");
    opts_set(opts, "host", host);
    opts_set(opts, "port", port);
    return opts;
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
        g_autofree char *expanded = chardev_expand_flags(spec + 5);

        backend = "socket";
        opts = opts_parse(optname, expanded, "path", errp);
        if (opts && !opts_check_keys(opts, unix_keys, errp)) {
            opts_free(opts);
            return NULL;
        }
    } else if (g_str_has_prefix(spec, "tcp:")) {
        backend = "socket";
        opts = chardev_parse_tcp_spec(optname, spec, errp);
    } else {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: '%s' is not a character device (expected stdio, "
                    "null, file:PATH, unix:PATH,server=on[,wait=off], "
                    "tcp:HOST:PORT,server=on[,wait=off], chardev:ID or "
                    "none)", optname, spec);
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
    return chr->fe_ops != NULL || chr->serving;
}

void chardev_get_frontend(Chardev *chr, const ChardevFrontendOps **ops,
                          void **opaque)
{
    *ops = chr->fe_ops;
    *opaque = chr->fe_opaque;
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
        chardev_release_output_buffer(chr);
    }
}

/* All output is out: the frontend may want input again (see
 * chardev_output_pending), including input it left waiting in in_buf. */
static void chardev_output_drained(Chardev *chr)
{
    if (chr->fe_ops && chr->in_len > 0) {
        bh_schedule(chr->input_bh);
    }
    chardev_update_watch(chr);
}

void chardev_output_ready(Chardev *chr)
{
    bool had_output = chr->out_len > 0;

    chardev_write_buffered(chr);
    if (had_output && chr->out_len == 0) {
        chardev_output_drained(chr);
    }
}

void chardev_drop_output(Chardev *chr)
{
    chr->out_start = 0;
    chr->out_len = 0;
    chardev_release_output_buffer(chr);
}

/* Makes room for @more bytes after the pending output, within the limit
 * (the caller clamps @more); moves the pending output to the front first. */
static void chardev_reserve_output(Chardev *chr, size_t more)
{
    size_t need = chr->out_len + more;

    if (chr->out_start + need <= chr->out_cap) {
        return;
    }
    if (chr->out_start > 0) {
        memmove(chr->out_buf, chr->out_buf + chr->out_start, chr->out_len);
        chr->out_start = 0;
    }
    if (need > chr->out_cap) {
        /* Doubling keeps appends cheap; never past what the limit allows. */
        size_t cap = MAX(need, MIN(chr->out_cap * 2, chr->out_limit));

        cap = MAX(cap, 4096);
        chr->out_buf = g_realloc(chr->out_buf, cap);
        chr->out_cap = cap;
    }
}

void chardev_set_output_limit(Chardev *chr, size_t bytes)
{
    /* Output already queued stays; only new output is held to it. */
    chr->out_limit = bytes;
}

size_t chardev_output_pending(Chardev *chr)
{
    return chr->out_len;
}

void chardev_disconnect(Chardev *chr)
{
    if (chr->ops->disconnect) {
        chr->ops->disconnect(chr);
    }
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

    take = chr->out_len < chr->out_limit ?
           MIN(len - done, chr->out_limit - chr->out_len) : 0;
    if (take > 0) {
        chardev_reserve_output(chr, take);
        memcpy(chr->out_buf + chr->out_start + chr->out_len, buf + done,
               take);
    }
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
    bool had_output = chr->out_len > 0;

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
    if (had_output && chr->out_len == 0) {
        chardev_output_drained(chr);
    } else {
        chardev_update_watch(chr);
    }
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
