/*
 * The human monitor (HMP) on a chardev: banner, "(lemu) " prompt and line
 * editing for a terminal in raw mode (so the monitor echoes), and the mux
 * of -serial mon:stdio, where the monitor shares the stdio chardev with
 * the serial port and Ctrl-a c moves the keyboard between them, as in
 * QEMU. Also human-monitor-command, which runs HMP lines for QMP clients.
 *
 * Output ends its lines with "\r\n", as QEMU's monitor does (also in what
 * human-monitor-command returns).
 */
#include <string.h>
#include "monitor/monitor-internal.h"
#include "lemu-config.h"
#include "lemu/util/log.h"

#define HMP_BANNER "lemu " LEMU_VERSION " monitor - type 'help' for more " \
                   "information\r\n"
#define HMP_PROMPT "(lemu) "
/* The longest command line; more is refused, not stored. */
#define HMP_MAX_LINE 4096
/* Output a slow reader may leave unread (x/FMT can print a lot). */
#define HMP_OUTPUT_LIMIT (4 * 1024 * 1024)
/* Bytes of input taken at a time. */
#define HMP_INPUT_CHUNK 256

/* Keys the line editor knows. */
#define KEY_BS      0x08
#define KEY_LF      0x0a
#define KEY_CR      0x0d
#define KEY_CTRL_U  0x15
#define KEY_ESC     0x1b
#define KEY_DEL     0x7f

typedef enum {
    ESC_NONE,
    ESC_START,       /* after ESC */
    ESC_CSI,         /* after ESC [: parameters up to a final byte */
    ESC_SS3,         /* after ESC O: one more byte */
} EscState;

struct HmpMonitor {
    Machine *machine;
    Chardev *chr;
    QmpContext ctx;
    unsigned cpu_index;          /* the current CPU ("cpu N") */

    bool mux;                    /* shares chr with a serial port */
    bool shown;                  /* mux: the monitor has the keyboard */
    bool banner_shown;           /* mux: shown on the first switch */
    /* mux: the serial port's frontend, while the monitor has the input */
    const ChardevFrontendOps *saved_ops;
    void *saved_opaque;

    char line[HMP_MAX_LINE + 1];
    size_t len;
    bool too_long;               /* input went past HMP_MAX_LINE */
    bool after_cr;               /* a LF right after CR ends no line */
    EscState esc;                /* swallowing a terminal escape sequence */
};

/* "\n" -> "\r\n", as QEMU's monitor writes lines. */
static char *hmp_to_crlf(const char *text, size_t len)
{
    GString *s = g_string_sized_new(len + len / 16 + 1);

    for (size_t i = 0; i < len; i++) {
        if (text[i] == '\n') {
            g_string_append_c(s, '\r');
        }
        g_string_append_c(s, text[i]);
    }
    return g_string_free(s, FALSE);
}

static void hmp_write(HmpMonitor *hm, const char *s, size_t len)
{
    chardev_write(hm->chr, (const uint8_t *)s, len);
}

static void hmp_puts(HmpMonitor *hm, const char *s)
{
    hmp_write(hm, s, strlen(s));
}

static void hmp_show_prompt(HmpMonitor *hm)
{
    hmp_puts(hm, HMP_PROMPT);
    hmp_write(hm, hm->line, hm->len);
}

static void hmp_reset_line(HmpMonitor *hm)
{
    hm->len = 0;
    hm->line[0] = '\0';
    hm->too_long = false;
    hm->after_cr = false;
    hm->esc = ESC_NONE;
}

static void hmp_run_line(HmpMonitor *hm)
{
    hmp_puts(hm, "\r\n");
    if (hm->too_long) {
        hmp_puts(hm, "Error: the command line is too long (at most 4096 "
                 "bytes): ignored\r\n");
    } else {
        GString *out = g_string_new(NULL);
        char *text;

        hm->line[hm->len] = '\0';
        hmp_execute(&hm->ctx, hm->line, &hm->cpu_index, out);
        text = hmp_to_crlf(out->str, out->len);
        hmp_puts(hm, text);
        g_free(text);
        g_string_free(out, TRUE);
    }
    hmp_reset_line(hm);
    hmp_show_prompt(hm);
}

/* Removes the last character (all bytes of a UTF-8 sequence) and erases
 * one column of the terminal. */
static void hmp_backspace(HmpMonitor *hm)
{
    if (hm->len == 0) {
        return;
    }
    do {
        hm->len--;
    } while (hm->len > 0 && ((uint8_t)hm->line[hm->len] & 0xc0) == 0x80);
    hmp_puts(hm, "\b \b");
}

static void hmp_kill_line(HmpMonitor *hm)
{
    /* Back to just after the prompt and clear to the end of the line. */
    hmp_puts(hm, "\r" HMP_PROMPT "\033[K");
    hmp_reset_line(hm);
}

/* Escape sequences (arrow keys, function keys) are swallowed: lemu has no
 * history or cursor movement, and they must not end up in the line. */
static void hmp_escape_byte(HmpMonitor *hm, uint8_t c)
{
    switch (hm->esc) {
    case ESC_START:
        hm->esc = c == '[' ? ESC_CSI : c == 'O' ? ESC_SS3 : ESC_NONE;
        break;
    case ESC_CSI:
        if (c >= 0x40 && c <= 0x7e) {
            hm->esc = ESC_NONE;
        }
        break;
    default:
        hm->esc = ESC_NONE;
        break;
    }
}

static void hmp_input_byte(HmpMonitor *hm, uint8_t c)
{
    bool after_cr = hm->after_cr;

    hm->after_cr = false;
    if (hm->esc != ESC_NONE) {
        hmp_escape_byte(hm, c);
        return;
    }
    switch (c) {
    case KEY_CR:
        hmp_run_line(hm);
        hm->after_cr = true;
        return;
    case KEY_LF:
        if (!after_cr) {
            hmp_run_line(hm);
        }
        return;
    case KEY_BS:
    case KEY_DEL:
        hmp_backspace(hm);
        return;
    case KEY_CTRL_U:
        hmp_kill_line(hm);
        return;
    case KEY_ESC:
        hm->esc = ESC_START;
        return;
    }
    if (c < 0x20) {
        return;          /* other control keys do nothing */
    }
    if (hm->len >= HMP_MAX_LINE) {
        hm->too_long = true;
        return;
    }
    hm->line[hm->len++] = c;
    hmp_write(hm, (const char *)&c, 1);
}

static size_t hmp_can_receive(void *opaque)
{
    HmpMonitor *hm = opaque;

    /* Back-pressure: no new command while the last output waits. */
    return chardev_output_pending(hm->chr) > 0 ? 0 : HMP_INPUT_CHUNK;
}

static void hmp_receive(void *opaque, const uint8_t *buf, size_t len)
{
    HmpMonitor *hm = opaque;

    for (size_t i = 0; i < len; i++) {
        hmp_input_byte(hm, buf[i]);
    }
}

static void hmp_event(void *opaque, ChardevEvent event)
{
    HmpMonitor *hm = opaque;

    /* A shared chardev does not come and go; the banner is shown when
     * the monitor is switched to. */
    if (hm->mux) {
        return;
    }
    hmp_reset_line(hm);
    if (event == CHARDEV_EVENT_OPENED) {
        hmp_puts(hm, HMP_BANNER);
        hmp_show_prompt(hm);
    }
}

static const ChardevFrontendOps hmp_frontend_ops = {
    .can_receive = hmp_can_receive,
    .receive = hmp_receive,
    .event = hmp_event,
};

/* ---- -serial mon:stdio ------------------------------------------------- */

/* Ctrl-a c: the keyboard goes to the monitor or back to the serial port.
 * The serial port's output keeps appearing either way, as in QEMU. */
static void hmp_mux_toggle(void *opaque)
{
    HmpMonitor *hm = opaque;

    if (!hm->shown) {
        chardev_get_frontend(hm->chr, &hm->saved_ops, &hm->saved_opaque);
        if (hm->saved_ops == &hmp_frontend_ops) {
            hm->saved_ops = NULL;
            hm->saved_opaque = NULL;
        }
        hm->shown = true;
        chardev_set_frontend(hm->chr, &hmp_frontend_ops, hm);
        if (!hm->banner_shown) {
            hm->banner_shown = true;
            hmp_puts(hm, HMP_BANNER);
        }
        hmp_show_prompt(hm);
    } else {
        hm->shown = false;
        hmp_puts(hm, "\r\n");
        chardev_set_frontend(hm->chr, hm->saved_ops, hm->saved_opaque);
    }
}

static void hmp_mux_quit(void *opaque)
{
    HmpMonitor *hm = opaque;

    machine_request_shutdown(hm->machine, SHUTDOWN_CAUSE_HOST_UI);
}

static const ChardevEscapeOps hmp_mux_escape_ops = {
    .quit = hmp_mux_quit,
    .toggle_monitor = hmp_mux_toggle,
};

/* What the stdio chardev is left with once the monitor is gone. */
static void hmp_machine_quit(void *opaque)
{
    machine_request_shutdown(opaque, SHUTDOWN_CAUSE_HOST_UI);
}

static const ChardevEscapeOps hmp_machine_escape_ops = {
    .quit = hmp_machine_quit,
};

HmpMonitor *hmp_monitor_new(Machine *m, Chardev *chr, bool mux,
                            GError **errp)
{
    HmpMonitor *hm;

    if (mux && !chardev_is_stdio(chr)) {
        /* The Ctrl-a escapes that switch come from the stdio backend. */
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_UNSUPPORTED,
                    "monitor: chardev '%s' is a %s chardev; a monitor "
                    "shares only stdio with a serial port (expected "
                    "-serial mon:stdio)", chardev_id(chr),
                    chardev_backend_name(chr));
        return NULL;
    }
    if (!mux && chardev_has_frontend(chr)) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "monitor: chardev '%s' is already used by a device or "
                    "another monitor", chardev_id(chr));
        return NULL;
    }
    hm = g_new0(HmpMonitor, 1);
    hm->machine = m;
    hm->chr = chr;
    hm->mux = mux;
    hm->ctx.machine = m;
    hmp_reset_line(hm);
    if (mux) {
        /* Hidden until Ctrl-a c; the serial port keeps the input. */
        chardev_set_escape_ops(chr, &hmp_mux_escape_ops, hm);
    } else {
        chardev_set_output_limit(chr, HMP_OUTPUT_LIMIT);
        chardev_set_frontend(chr, &hmp_frontend_ops, hm);
    }
    return hm;
}

void hmp_monitor_free(HmpMonitor *hm)
{
    const ChardevFrontendOps *ops;
    void *opaque;

    if (!hm) {
        return;
    }
    chardev_get_frontend(hm->chr, &ops, &opaque);
    if (ops == &hmp_frontend_ops && opaque == hm) {
        /* mux: give the serial port its input back */
        chardev_set_frontend(hm->chr, hm->mux ? hm->saved_ops : NULL,
                             hm->mux ? hm->saved_opaque : NULL);
    }
    if (hm->mux) {
        chardev_set_escape_ops(hm->chr, &hmp_machine_escape_ops,
                               hm->machine);
    }
    g_free(hm);
}

/* ---- running command lines ---------------------------------------------- */

char *hmp_run_command_line(QmpContext *ctx, const char *line)
{
    GString *out = g_string_new(NULL);
    unsigned cpu_index = 0;
    char *text;

    hmp_execute(ctx, line, &cpu_index, out);
    text = hmp_to_crlf(out->str, out->len);
    g_string_free(out, TRUE);
    return text;
}

/* human-monitor-command command-line:str cpu-index?:int -> str */
JsonValue *qmp_human_monitor_command(QmpContext *ctx, const JsonValue *args,
                                     GError **errp)
{
    const char *line = json_object_get_str(args, "command-line");
    unsigned cpu_index = 0;
    GString *out;
    char *text;

    if (json_object_get(args, "cpu-index")) {
        int64_t index = -1;

        if (!json_object_get_i64(args, "cpu-index", &index) || index < 0 ||
            index >= ctx->machine->nr_vcpus) {
            g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                        "Parameter 'cpu-index' expects a CPU number");
            return NULL;
        }
        cpu_index = index;
    }
    out = g_string_new(NULL);
    hmp_execute(ctx, line ? line : "", &cpu_index, out);
    text = hmp_to_crlf(out->str, out->len);
    g_string_free(out, TRUE);
    /* Device ids and file names come from the command line, which need
     * not be UTF-8; a JSON string must be. */
    if (!g_utf8_validate(text, -1, NULL)) {
        char *valid = g_utf8_make_valid(text, -1);

        g_free(text);
        text = valid;
    }
    return json_string_take(text);
}
