/*
 * The monitors of a machine: QMP (JSON, for programs) and the human
 * monitor (HMP, for people, built on the QMP commands).
 *
 * -qmp SPEC, -monitor SPEC and -mon chardev=ID,mode=control|readline each
 * become a MonitorConfig; -serial mon:stdio adds a readline monitor that
 * shares its chardev with the serial port (Ctrl-a c switches).
 *
 * Everything here runs on the main loop with the machine lock held.
 */
#ifndef LEMU_MONITOR_MONITOR_H
#define LEMU_MONITOR_MONITOR_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

typedef struct Machine Machine;
typedef struct JsonValue JsonValue;

typedef enum {
    MONITOR_MODE_CONTROL,        /* QMP */
    MONITOR_MODE_READLINE,       /* human monitor */
} MonitorMode;

typedef struct MonitorConfig {
    char *chardev;               /* id of the chardev it serves */
    /* -qmp/-monitor SPEC: machine-init creates chardev @chardev
     * ("compat_monitorN") from this short form; NULL for -mon. */
    char *spec;
    MonitorMode mode;
    bool pretty;                 /* QMP: indented JSON (-mon pretty=on) */
    bool mux;                    /* shares the chardev with a serial port */
} MonitorConfig;

void monitor_config_free(MonitorConfig *mc);

/* Builds the monitors of m->cfg.monitors on their chardevs (which exist
 * by then) and stores them in m->monitor. */
bool monitor_init_all(Machine *m, GError **errp);
/* Writes out what clients have not read yet (bounded wait) and frees
 * every monitor. Before the chardevs are freed. */
void monitor_cleanup(Machine *m);

/*
 * Events, sent to every QMP client that has finished negotiation, with
 * the current time as "timestamp". @data (taken, may be NULL for none)
 * must match the event's schema in the event table.
 */
void qmp_event_send(Machine *m, const char *name, JsonValue *data);

/* The machine's events, with QEMU's names and data. */
void qmp_event_stop(Machine *m);
void qmp_event_resume(Machine *m);
void qmp_event_reset(Machine *m, bool guest, const char *reason);
void qmp_event_shutdown(Machine *m, bool guest, const char *reason);
void qmp_event_powerdown(Machine *m);
/* Hooks for the block layer and device hot-unplug. */
void qmp_event_block_io_error(Machine *m, const char *device,
                              const char *node_name, const char *operation,
                              const char *action, bool nospace,
                              const char *reason);
void qmp_event_device_deleted(Machine *m, const char *device,
                              const char *path);

#endif
