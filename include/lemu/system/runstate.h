/*
 * Run state of the VM and why it shut down, with QEMU's spellings (the
 * monitor reports them as QMP RunState and ShutdownCause values).
 */
#ifndef LEMU_SYSTEM_RUNSTATE_H
#define LEMU_SYSTEM_RUNSTATE_H

typedef enum {
    RUN_STATE_PRELAUNCH,       /* "prelaunch": built, not started (-S) */
    RUN_STATE_RUNNING,         /* "running" */
    RUN_STATE_PAUSED,          /* "paused" */
    RUN_STATE_SHUTDOWN,        /* "shutdown": guest powered off, -no-shutdown */
    RUN_STATE_INTERNAL_ERROR,  /* "internal-error": an accelerator failed */
    RUN_STATE_IO_ERROR,        /* "io-error": a disk error with werror=stop */
    RUN_STATE__MAX
} RunState;

typedef enum {
    SHUTDOWN_CAUSE_NONE,                  /* "none" */
    SHUTDOWN_CAUSE_HOST_ERROR,            /* "host-error" */
    SHUTDOWN_CAUSE_HOST_QMP_QUIT,         /* "host-qmp-quit" */
    SHUTDOWN_CAUSE_HOST_QMP_SYSTEM_RESET, /* "host-qmp-system-reset" */
    SHUTDOWN_CAUSE_HOST_SIGNAL,           /* "host-signal" */
    SHUTDOWN_CAUSE_HOST_UI,               /* "host-ui": Ctrl-a x */
    SHUTDOWN_CAUSE_GUEST_SHUTDOWN,        /* "guest-shutdown" */
    SHUTDOWN_CAUSE_GUEST_RESET,           /* "guest-reset" */
    SHUTDOWN_CAUSE_GUEST_PANIC,           /* "guest-panic" */
    SHUTDOWN_CAUSE_SUBSYSTEM_RESET,       /* "subsystem-reset" */
    SHUTDOWN_CAUSE__MAX
} ShutdownCause;

const char *runstate_name(RunState s);
const char *shutdown_cause_name(ShutdownCause c);
/* Causes that come from the guest, for the "guest" field of events. */
static inline int shutdown_cause_is_guest(ShutdownCause c)
{
    return c == SHUTDOWN_CAUSE_GUEST_SHUTDOWN ||
           c == SHUTDOWN_CAUSE_GUEST_RESET ||
           c == SHUTDOWN_CAUSE_GUEST_PANIC;
}

#endif
