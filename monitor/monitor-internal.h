/*
 * What the files of monitor/ share.
 *
 *   monitor.c       MonitorSet: every monitor of a machine, config to
 *                   monitors, event broadcast (qmp_event_*)
 *   qmp-session.c   one QMP conversation: greeting, negotiation, request
 *                   checking, id echo, replies; transport-agnostic (bytes
 *                   in through qmp_session_feed, lines out through ops)
 *   qmp-chardev.c   QMP on a chardev: one session for stdio, one per
 *                   client for sockets; output limits and back-pressure
 *   qmp-schema.c    the schema language of the tables below: argument
 *                   checking, query-commands, query-qmp-schema, the docs
 *   qmp-commands.c  THE command and event tables (name, arguments,
 *                   return type, handler, doc)
 *   qmp-cmds.c      handlers of the machine and query commands
 *   hmp.c           the human monitor: line input, prompt, mux with a
 *                   serial port (Ctrl-a c), human-monitor-command
 *   hmp-cmds.c      HMP commands (help, info ..., x, xp, ...) on top of
 *                   qmp_dispatch(), and the x-query-* text commands
 *   hmp-memory.c    HMP x, xp, print, memsave: /FMT and expressions
 *                   (shares hmp-internal.h with hmp-cmds.c)
 *
 * Schema language (strings in the tables, parsed by qmp-schema.c):
 *   members    "name:type name2?:type [...]": space-separated; "?" marks
 *              an optional member; "" for none.
 *   types      builtins str, int, number, bool, null, any; "[T]" an
 *              array of T; otherwise the name of an entry in qmp_types.
 *   qmp_types  objects (members as above) and enums (values, space-
 *              separated), named as QEMU names them (StatusInfo,
 *              RunState, ...).
 */
#ifndef MONITOR_MONITOR_INTERNAL_H
#define MONITOR_MONITOR_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include "lemu/chardev/chardev.h"
#include "lemu/monitor/monitor.h"
#include "lemu/system/machine.h"
#include "lemu/util/json.h"

/* A request larger than this is refused (and skipped, not stored). */
#define QMP_MAX_REQUEST_SIZE (1024 * 1024)
#define QMP_MAX_REQUEST_DEPTH 64
/* Replies and events a client has not read yet; beyond this the client
 * is disconnected rather than sent a cut-off stream. */
#define QMP_MAX_PENDING_OUTPUT (8 * 1024 * 1024)

/* QMP error classes (QEMU's ErrorClass); GError domain QMP_ERROR. */
typedef enum {
    QMP_ERROR_GENERIC,               /* "GenericError" */
    QMP_ERROR_COMMAND_NOT_FOUND,     /* "CommandNotFound" */
    QMP_ERROR_DEVICE_NOT_ACTIVE,     /* "DeviceNotActive" */
    QMP_ERROR_DEVICE_NOT_FOUND,      /* "DeviceNotFound" */
    QMP_ERROR_KVM_MISSING_CAP,       /* "KVMMissingCap" */
} QmpErrorClass;

#define QMP_ERROR qmp_error_quark()
GQuark qmp_error_quark(void);
/* The class name of @err: its QMP_ERROR code, or GenericError for any
 * other domain (LEMU_ERROR messages from lower layers pass through). */
const char *qmp_error_class_name(const GError *err);

typedef struct MonitorSet MonitorSet;
typedef struct QmpSession QmpSession;
typedef struct HmpMonitor HmpMonitor;

/* Who runs a command: handlers see the machine and may look at where the
 * request came from. */
typedef struct QmpContext {
    Machine *machine;
    QmpSession *session;         /* NULL: from HMP or internal */
    /* NULL-terminated names of commands refused in this context (the
     * fuzz target refuses those that touch host files or end the
     * process); NULL for none. */
    const char *const *deny;
} QmpContext;

/* Returns the "return" value (an empty object for commands with nothing
 * to return), or NULL with @errp set. @args is an object whose members
 * were checked against the command's schema: present when required, of
 * the declared type, no others. */
typedef JsonValue *QmpCommandFunc(QmpContext *ctx, const JsonValue *args,
                                  GError **errp);

typedef enum {
    QMP_CMD_HOST_FILES = 1 << 0,      /* writes host files (memsave) */
    QMP_CMD_ENDS_PROCESS = 1 << 1,    /* quit */
    QMP_CMD_STARTS_VCPUS = 1 << 2,    /* cont */
    QMP_CMD_HIDDEN = 1 << 3,          /* not in HMP help */
} QmpCommandFlags;

typedef struct QmpCommand {
    const char *name;
    const char *args;            /* members, see the schema language */
    const char *returns;         /* a type, or NULL for {} */
    QmpCommandFunc *handler;
    unsigned flags;              /* QmpCommandFlags */
    const char *doc;             /* one paragraph, shown by the docs */
} QmpCommand;

typedef struct QmpEvent {
    const char *name;
    const char *data;            /* members; "" for none */
    const char *doc;
} QmpEvent;

typedef enum { QMP_TYPE_OBJECT, QMP_TYPE_ENUM } QmpTypeKind;

typedef struct QmpTypeDef {
    const char *name;
    QmpTypeKind kind;
    const char *members;         /* object: members; enum: values */
    const char *doc;
} QmpTypeDef;

/* qmp-commands.c: the tables, each ending with a NULL name. */
extern const QmpCommand qmp_commands[];
extern const QmpEvent qmp_events[];
extern const QmpTypeDef qmp_types[];

/* qmp-schema.c */
const QmpCommand *qmp_find_command(const char *name);
const QmpEvent *qmp_find_event(const char *name);
/* Checks @args (an object, or NULL for none) against @cmd's members:
 * "Parameter 'x' is missing", "Parameter 'x' is unexpected", "Invalid
 * parameter type for 'x', expected: integer", enum values. */
bool qmp_check_args(const QmpCommand *cmd, const JsonValue *args,
                    GError **errp);
JsonValue *qmp_schema_query_commands(void);
JsonValue *qmp_schema_query_events(void);
JsonValue *qmp_schema_introspect(void);   /* query-qmp-schema */
/* The reference of every command, event and type, in Markdown. */
void qmp_schema_write_docs(GString *out);
/* Whether @v is a value of schema type @type (builtin, "[T]" or a
 * qmp_types name), with the messages of qmp_check_args; for checking
 * return values and event data in tests. */
bool qmp_schema_check_value(const char *type, const JsonValue *v,
                            GError **errp);
/* Self-check of the tables: every members string parses, every type
 * referenced exists, no name is defined twice. */
bool qmp_schema_validate(GError **errp);
/* Whether @ctx refuses command @name (its deny list). */
bool qmp_command_denied(const QmpContext *ctx, const char *name);

/*
 * Runs command @name with @args (NULL: none): finds it, refuses it if
 * @ctx denies it, checks the arguments, calls the handler. NULL with
 * @errp set on any failure (class CommandNotFound for an unknown name).
 */
JsonValue *qmp_dispatch(QmpContext *ctx, const char *name,
                        const JsonValue *args, GError **errp);

/* qmp-session.c */
typedef struct QmpSessionOps {
    /* One complete message, CRLF included; called from inside
     * qmp_session_feed() and from qmp_event_send(). */
    void (*write)(void *opaque, const char *line, size_t len);
} QmpSessionOps;

QmpSession *qmp_session_new(Machine *m, const QmpSessionOps *ops,
                            void *opaque, bool pretty);
/* Sends the greeting; the session starts un-negotiated. */
void qmp_session_start(QmpSession *s);
void qmp_session_feed(QmpSession *s, const void *buf, size_t len);
/* The peer went away or came back: drop partial input, back to
 * un-negotiated. */
void qmp_session_reset(QmpSession *s);
void qmp_session_set_deny(QmpSession *s, const char *const *deny);
/* Sends an event line if the session has negotiated. */
void qmp_session_send_event(QmpSession *s, const JsonValue *event);
void qmp_session_free(QmpSession *s);

/* monitor.c: sessions register so that events reach them. */
void monitor_register_session(MonitorSet *ms, QmpSession *s);
void monitor_unregister_session(MonitorSet *ms, QmpSession *s);
MonitorSet *monitor_set_of(Machine *m);

/* qmp-chardev.c: serves QMP on @chr (every client for sockets). */
typedef struct QmpChardevMonitor QmpChardevMonitor;
QmpChardevMonitor *qmp_chardev_monitor_new(Machine *m, Chardev *chr,
                                           bool pretty, GError **errp);
void qmp_chardev_monitor_flush(QmpChardevMonitor *qm, int timeout_ms);
void qmp_chardev_monitor_free(QmpChardevMonitor *qm);

/* hmp.c */
HmpMonitor *hmp_monitor_new(Machine *m, Chardev *chr, bool mux,
                            GError **errp);
void hmp_monitor_free(HmpMonitor *hm);
/* Runs one HMP command line and returns what it printed (never NULL;
 * errors are printed, as the human monitor shows them). */
char *hmp_run_command_line(QmpContext *ctx, const char *line);
/* hmp-cmds.c: runs one HMP command line with vCPU *@cpu_index as the
 * current CPU (x, memsave, info cpus; "cpu N" changes it), appending what
 * it prints, with "\n" line ends, to @out. */
void hmp_execute(QmpContext *ctx, const char *line, unsigned *cpu_index,
                 GString *out);

/* VersionInfo: the greeting's "version" and query-version's return. */
JsonValue *qmp_version_info(void);

/* Handlers (qmp-cmds.c unless noted). */
QmpCommandFunc qmp_query_version, qmp_query_commands, qmp_query_status,
    qmp_query_name, qmp_query_uuid, qmp_query_kvm, qmp_query_target,
    qmp_query_machines, qmp_query_cpus_fast, qmp_query_chardev,
    qmp_query_events, qmp_query_qmp_schema, qmp_stop, qmp_cont,
    qmp_system_reset, qmp_system_powerdown, qmp_quit, qmp_inject_nmi,
    qmp_memsave, qmp_pmemsave;
/* After negotiation (the session handles it before). */
QmpCommandFunc qmp_qmp_capabilities;
/* qmp-block.c */
QmpCommandFunc qmp_query_block, qmp_query_blockstats;
/* HMP `info block`: appends the text, "\n" line ends, to @out. */
void hmp_info_block(Machine *m, GString *out);
/* hmp.c / hmp-cmds.c */
QmpCommandFunc qmp_human_monitor_command, qmp_x_query_registers,
    qmp_x_query_mtree, qmp_x_query_qtree;

#endif
