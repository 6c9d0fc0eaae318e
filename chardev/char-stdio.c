/*
 * The stdio backend: input from fd 0, output to fd 1.
 *
 * A terminal on stdin is put in raw mode (no echo, no line editing, no
 * flow control, 8-bit), keeping output post-processing so that a bare
 * "\n" from the guest still starts a new line; with signal=on (the
 * default) Ctrl-C still raises SIGINT. The original settings come back
 * with chardev_stdio_restore_terminal(), at exit or from a signal handler.
 *
 * Ctrl-a starts an escape, as in QEMU: Ctrl-a x quits, Ctrl-a h prints
 * the keys, Ctrl-a c switches to the monitor, Ctrl-a Ctrl-a sends one
 * Ctrl-a; Ctrl-a and any other key reach the guest unchanged.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include "chardev/chardev-internal.h"
#include "lemu/util/log.h"

/*
 * The terminal belongs to the process, and so does what restores it: an
 * atexit or signal handler cannot be handed a Chardev. These are the only
 * mutable globals of the chardev layer; they are set while the one stdio
 * chardev is created, from the main thread, before any vCPU runs.
 */
static struct termios stdio_saved_termios;
static volatile sig_atomic_t stdio_termios_saved;
static int stdio_saved_flags[2];     /* of fds 0 and 1; -1: not open */
static volatile sig_atomic_t stdio_flags_saved;
static bool stdio_in_use;
static bool stdio_atexit_registered;

typedef struct StdioChardev {
    Chardev parent;
    FdHandler *in_handler;       /* NULL at EOF, or parked (see below) */
    FdHandler *out_handler;
    GIOCondition in_events, out_events;
    bool in_eof;                 /* stdin ended: no more input, ever */
    bool out_dead;               /* stdout failed: output is discarded */
    bool escape_pending;         /* the last key was Ctrl-a */
} StdioChardev;

static const char stdio_help[] =
    "\r\n"
    "C-a h    print this help\r\n"
    "C-a x    exit lemu\r\n"
    "C-a c    switch between console and monitor\r\n"
    "C-a C-a  send C-a to the guest\r\n";

void chardev_stdio_restore_terminal(void)
{
    /* Only async-signal-safe calls: this may run in a signal handler. */
    if (stdio_termios_saved) {
        tcsetattr(STDIN_FILENO, TCSANOW, &stdio_saved_termios);
        stdio_termios_saved = 0;
    }
    if (stdio_flags_saved) {
        for (int fd = STDIN_FILENO; fd <= STDOUT_FILENO; fd++) {
            if (stdio_saved_flags[fd] >= 0) {
                fcntl(fd, F_SETFL, stdio_saved_flags[fd]);
            }
        }
        stdio_flags_saved = 0;
    }
}

static void stdio_message(StdioChardev *s, const char *msg)
{
    chardev_write(&s->parent, (const uint8_t *)msg, strlen(msg));
}

/* Runs the escape after Ctrl-a; returns the bytes it passes to the guest. */
static size_t stdio_escape(StdioChardev *s, uint8_t key, uint8_t *out)
{
    const ChardevEscapeOps *esc = s->parent.esc_ops;
    void *opaque = s->parent.esc_opaque;

    switch (key) {
    case 'x':
        if (esc && esc->quit) {
            stdio_message(s, "\r\nlemu: terminated\r\n");
            esc->quit(opaque);
        } else {
            stdio_message(s, "\r\nlemu: quitting is not available here\r\n");
        }
        return 0;
    case 'h':
    case '?':
        stdio_message(s, stdio_help);
        return 0;
    case 'c':
        if (esc && esc->toggle_monitor) {
            esc->toggle_monitor(opaque);
        } else {
            stdio_message(s, "\r\nlemu: the monitor is not available yet\r\n");
        }
        return 0;
    case CHARDEV_ESCAPE_CHAR:
        out[0] = CHARDEV_ESCAPE_CHAR;
        return 1;
    default:
        out[0] = CHARDEV_ESCAPE_CHAR;
        out[1] = key;
        return 2;
    }
}

/* Filters @len keys into @out (room for len + 1 bytes); returns its length. */
static size_t stdio_process_escapes(StdioChardev *s, const uint8_t *in,
                                    size_t len, uint8_t *out)
{
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        if (s->escape_pending) {
            s->escape_pending = false;
            n += stdio_escape(s, in[i], out + n);
        } else if (in[i] == CHARDEV_ESCAPE_CHAR) {
            s->escape_pending = true;
        } else {
            out[n++] = in[i];
        }
    }
    return n;
}

static void stdio_stop_input(StdioChardev *s)
{
    if (s->in_handler) {
        fd_handler_remove(s->in_handler);
        s->in_handler = NULL;
    }
}

static void stdio_in_ready(void *opaque, int fd, GIOCondition ready)
{
    StdioChardev *s = opaque;
    size_t room = chardev_input_room(&s->parent);
    uint8_t buf[CHARDEV_IN_CHUNK];
    uint8_t out[CHARDEV_IN_CHUNK + 1];
    ssize_t n;

    if (room == 0) {
        if (ready & (G_IO_HUP | G_IO_ERR)) {
            /* Poll reports a hang-up even unwatched; park the handler
             * until the frontend wants input again, then read the rest. */
            stdio_stop_input(s);
        }
        chardev_update_watch(&s->parent);
        return;
    }
    n = read(fd, buf, room);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        return;
    }
    if (n <= 0) {
        /* EOF (or a dead terminal): the guest keeps running without input. */
        stdio_stop_input(s);
        s->in_eof = true;
        return;
    }
    chardev_push_input(&s->parent, out,
                       stdio_process_escapes(s, buf, n, out));
}

static void stdio_out_failed(StdioChardev *s)
{
    s->out_dead = true;
    if (s->out_handler) {
        fd_handler_remove(s->out_handler);
        s->out_handler = NULL;
    }
}

static void stdio_out_ready(void *opaque, int fd, GIOCondition ready)
{
    StdioChardev *s = opaque;

    if (ready & G_IO_OUT) {
        chardev_output_ready(&s->parent);
    } else if (ready & (G_IO_ERR | G_IO_HUP)) {
        stdio_out_failed(s);
        chardev_drop_output(&s->parent);
    }
}

static size_t stdio_write(Chardev *chr, const uint8_t *buf, size_t len)
{
    StdioChardev *s = (StdioChardev *)chr;
    ssize_t n;

    if (s->out_dead) {
        return len;
    }
    do {
        n = write(STDOUT_FILENO, buf, len);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return 0;
        }
        stdio_out_failed(s);
        return len;
    }
    return n;
}

static void stdio_set_watch(Chardev *chr, bool input, bool output)
{
    StdioChardev *s = (StdioChardev *)chr;
    GIOCondition in_events = input ? G_IO_IN : 0;
    GIOCondition out_events = output ? G_IO_OUT : 0;

    if (!s->in_eof) {
        if (!s->in_handler && in_events) {
            s->in_handler = main_loop_add_fd(chr->loop, STDIN_FILENO,
                                             in_events, stdio_in_ready, s);
            s->in_events = in_events;
        } else if (s->in_handler && in_events != s->in_events) {
            fd_handler_set_events(s->in_handler, in_events);
            s->in_events = in_events;
        }
    }
    if (s->out_handler && out_events != s->out_events) {
        fd_handler_set_events(s->out_handler, out_events);
        s->out_events = out_events;
    }
}

static int stdio_output_fd(Chardev *chr)
{
    StdioChardev *s = (StdioChardev *)chr;

    return s->out_dead ? -1 : STDOUT_FILENO;
}

static char *stdio_describe(Chardev *chr)
{
    return g_strdup("stdio");
}

static void stdio_free(Chardev *chr)
{
    StdioChardev *s = (StdioChardev *)chr;

    stdio_stop_input(s);
    if (s->out_handler) {
        fd_handler_remove(s->out_handler);
    }
    chardev_stdio_restore_terminal();
    stdio_in_use = false;
}

static const ChardevBackendOps stdio_ops = {
    .name = "stdio",
    .write = stdio_write,
    .set_watch = stdio_set_watch,
    .output_fd = stdio_output_fd,
    .describe = stdio_describe,
    .free = stdio_free,
};

/* Raw input, as a serial line: keys go to the guest as typed. */
static void stdio_make_raw(bool allow_signals)
{
    struct termios tio;

    if (tcgetattr(STDIN_FILENO, &tio) < 0) {
        return;
    }
    stdio_saved_termios = tio;
    stdio_termios_saved = 1;
    tio.c_iflag &= ~(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR |
                     ICRNL | IXON);
    tio.c_oflag |= OPOST;
    tio.c_lflag &= ~(ECHO | ECHONL | ICANON | IEXTEN);
    if (!allow_signals) {
        tio.c_lflag &= ~ISIG;
    }
    tio.c_cflag &= ~(CSIZE | PARENB);
    tio.c_cflag |= CS8;
    tio.c_cc[VMIN] = 1;
    tio.c_cc[VTIME] = 0;
    tcsetattr(STDIN_FILENO, TCSANOW, &tio);
}

Chardev *chardev_stdio_open(MainLoop *loop, const char *id, LemuOpts *opts,
                            GError **errp)
{
    StdioChardev *s;
    bool allow_signals;
    int in_flags, out_flags;

    if (stdio_in_use) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: chardev '%s': stdio is already used by another "
                    "chardev (only one may use it)", opts_name(opts), id);
        return NULL;
    }
    if (!opts_get_bool(opts, "signal", true, &allow_signals, errp)) {
        return NULL;
    }

    s = chardev_alloc(sizeof(*s), &stdio_ops, loop, id);
    stdio_in_use = true;

    in_flags = fcntl(STDIN_FILENO, F_GETFL);
    out_flags = fcntl(STDOUT_FILENO, F_GETFL);
    s->in_eof = in_flags < 0;
    s->out_dead = out_flags < 0;
    stdio_saved_flags[STDIN_FILENO] = in_flags;
    stdio_saved_flags[STDOUT_FILENO] = out_flags;
    stdio_flags_saved = 1;
    if (!s->in_eof) {
        fcntl(STDIN_FILENO, F_SETFL, in_flags | O_NONBLOCK);
        if (isatty(STDIN_FILENO)) {
            stdio_make_raw(allow_signals);
        }
    }
    if (!s->out_dead) {
        fcntl(STDOUT_FILENO, F_SETFL, out_flags | O_NONBLOCK);
        s->out_handler = main_loop_add_fd(loop, STDOUT_FILENO, 0,
                                          stdio_out_ready, s);
    }
    if (!stdio_atexit_registered) {
        atexit(chardev_stdio_restore_terminal);
        stdio_atexit_registered = true;
    }
    chardev_set_open(&s->parent, true);
    return &s->parent;
}
