/*
 * What the human monitor's command files share:
 *
 *   hmp-cmds.c     the command table, help, info, the commands on top of
 *                  QMP, and the x-query-* text (registers, mtree, qtree)
 *   hmp-memory.c   the commands that read guest memory and registers:
 *                  x, xp, print, memsave, pmemsave, cpu; expressions
 *
 * Commands print with hmp_printf ("\n" line ends); hmp.c turns them into
 * "\r\n" for the terminal.
 */
#ifndef MONITOR_HMP_INTERNAL_H
#define MONITOR_HMP_INTERNAL_H

#include "monitor/monitor-internal.h"

/* One command line being run. */
typedef struct Hmp {
    QmpContext *qmp;
    Machine *m;
    unsigned *cpu_index;         /* the current CPU; "cpu N" changes it */
    GString *out;
    bool have_state;
    X86CPUState state;           /* of the current CPU, read on first use */
    /* Set with the message about a bad argument: the output ends with
     * 'Try "help CMD" for more information', as in QEMU. */
    bool bad_args;
} Hmp;

/* Prints the message about a bad argument (see Hmp.bad_args). */
void hmp_bad_args(Hmp *h, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/* A command gets its table name (for messages) and the rest of the line. */
typedef void HmpFunc(Hmp *h, const char *name, const char *args);

void hmp_printf(Hmp *h, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
const char *hmp_skip_spaces(const char *p);
/* Prints "NAME: extraneous characters..." unless only spaces are left. */
bool hmp_expect_end(Hmp *h, const char *name, const char *p);
/* Runs QMP command @cmd with @args (taken; NULL: none); NULL after
 * printing "Error: ..." as QEMU's HMP does. */
JsonValue *hmp_qmp(Hmp *h, const char *cmd, JsonValue *args);
/* Reads the registers of vCPUs @first..@first+@n-1, pausing the vCPUs
 * around it when the VM runs (its run state stays as it is). */
bool hmp_read_cpu_states(Machine *m, unsigned first, unsigned n,
                         X86CPUState *st, GError **errp);

/* hmp-memory.c */
HmpFunc hmp_x, hmp_xp, hmp_print, hmp_memsave, hmp_pmemsave, hmp_cpu_cmd;

#endif
