/*
 * Diagnostic logging, enabled per item with -d and sent to stderr or to the
 * file named by -D. The configuration is set once at start-up, before any
 * vCPU or worker thread exists, and only read afterwards.
 */
#ifndef LEMU_UTIL_LOG_H
#define LEMU_UTIL_LOG_H

#include <stdbool.h>
#include <glib.h>

enum {
    LOG_GUEST_ERROR = 1 << 0,  /* guest_errors: the guest did something wrong */
    LOG_INT         = 1 << 1,  /* int: interrupts and exceptions */
    LOG_IN_ASM      = 1 << 2,  /* in_asm: guest code as it is translated */
    LOG_CPU         = 1 << 3,  /* cpu: register state */
    LOG_UNIMP       = 1 << 4,  /* unimp: unimplemented device functionality */
    LOG_IOPORT      = 1 << 5,  /* ioport: unassigned port accesses */
};

/* Parses "guest_errors,int" or "help"; "help" prints the list and fails. */
bool log_parse_items(const char *items, unsigned *mask, GError **errp);
/* Enables @mask and opens @path (NULL: stderr). */
bool log_setup(unsigned mask, const char *path, GError **errp);
void log_close(void);

bool log_enabled(unsigned mask);
void log_printf(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

#define lemu_log_mask(mask, ...)         \
    do {                                 \
        if (log_enabled(mask)) {         \
            log_printf(__VA_ARGS__);     \
        }                                \
    } while (0)

/* User-facing messages on stderr, prefixed with "lemu: ". */
void error_report(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
void warn_report(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
/* Reports @err (if set) and frees it. */
void error_report_err(GError *err);

/* The one error domain lemu uses for its GErrors. */
#define LEMU_ERROR lemu_error_quark()
GQuark lemu_error_quark(void);
enum {
    LEMU_ERROR_FAILED,        /* generic */
    LEMU_ERROR_INVALID,       /* a bad value from the user or a file */
    LEMU_ERROR_UNSUPPORTED,   /* valid but not implemented */
    LEMU_ERROR_NOT_FOUND,
};

#endif
