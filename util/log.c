/*
 * Diagnostic logging (-d, -D) and user-facing error messages.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lemu/util/log.h"

G_DEFINE_QUARK(lemu-error-quark, lemu_error)

typedef struct LogItem {
    unsigned mask;
    const char *name;
    const char *help;
} LogItem;

static const LogItem log_items[] = {
    { LOG_GUEST_ERROR, "guest_errors",
      "log when the guest does something invalid (e.g. a bad register)" },
    { LOG_INT, "int", "show interrupts and exceptions" },
    { LOG_IN_ASM, "in_asm", "show guest code as it is translated" },
    { LOG_CPU, "cpu", "show the CPU registers" },
    { LOG_UNIMP, "unimp", "log device functionality that is not implemented" },
    { LOG_IOPORT, "ioport", "show accesses to unassigned I/O ports" },
};

/*
 * The log configuration. It is written only by log_setup() and log_close(),
 * which run at start-up before any vCPU or worker thread exists and at exit
 * after they are gone; every other thread only reads it.
 */
static unsigned log_mask;
static FILE *log_file;      /* NULL: stderr */

static void log_print_help(void)
{
    printf("Log items (comma separated):\n");
    for (size_t i = 0; i < G_N_ELEMENTS(log_items); i++) {
        printf("%-15s %s\n", log_items[i].name, log_items[i].help);
    }
}

bool log_parse_items(const char *items, unsigned *mask, GError **errp)
{
    g_auto(GStrv) names = NULL;
    unsigned result = 0;

    if (!items || !*items) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "-d: expected a comma-separated list of log items "
                    "(try -d help)");
        return false;
    }
    names = g_strsplit(items, ",", -1);
    for (char **n = names; *n; n++) {
        size_t i;

        if (strcmp(*n, "help") == 0) {
            log_print_help();
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                        "-d help: no log items selected");
            return false;
        }
        for (i = 0; i < G_N_ELEMENTS(log_items); i++) {
            if (strcmp(*n, log_items[i].name) == 0) {
                result |= log_items[i].mask;
                break;
            }
        }
        if (i == G_N_ELEMENTS(log_items)) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "-d: unknown log item '%s' (try -d help)", *n);
            return false;
        }
    }
    *mask = result;
    return true;
}

bool log_setup(unsigned mask, const char *path, GError **errp)
{
    FILE *f = NULL;

    if (path) {
        f = fopen(path, "w");
        if (!f) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "-D: cannot open log file '%s': %s", path,
                        g_strerror(errno));
            return false;
        }
    }
    log_close();
    log_file = f;
    log_mask = mask;
    return true;
}

void log_close(void)
{
    if (log_file) {
        fclose(log_file);
        log_file = NULL;
    }
    log_mask = 0;
}

bool log_enabled(unsigned mask)
{
    return (log_mask & mask) != 0;
}

void log_printf(const char *fmt, ...)
{
    FILE *f = log_file ? log_file : stderr;
    va_list ap;
    char *msg;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);

    /* One locked write per call: lines from concurrent vCPUs never mix. */
    flockfile(f);
    fputs(msg, f);
    fflush(f);
    funlockfile(f);
    g_free(msg);
}

static void report(const char *prefix, const char *fmt, va_list ap)
{
    char *msg = g_strdup_vprintf(fmt, ap);

    fprintf(stderr, "lemu: %s%s\n", prefix, msg);
    g_free(msg);
}

void error_report(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    report("", fmt, ap);
    va_end(ap);
}

void warn_report(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    report("warning: ", fmt, ap);
    va_end(ap);
}

void error_report_err(GError *err)
{
    if (err) {
        error_report("%s", err->message);
        g_error_free(err);
    }
}
