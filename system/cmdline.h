/* The command line of lemu: qemu-system-x86_64's spelling and meaning. */
#ifndef SYSTEM_CMDLINE_H
#define SYSTEM_CMDLINE_H

#include <stdbool.h>
#include <glib.h>
#include "lemu/system/machine.h"

typedef struct LaunchOptions {
    MachineConfig cfg;           /* handed to machine_new() */
    bool daemonize;
    char *pidfile;
    unsigned log_mask;
    char *log_file;
    bool nographic;
    bool nodefaults;             /* -nodefaults: no default serial port */
    unsigned monitor_index;      /* -qmp/-monitor seen: compat_monitorN */
    bool snapshot;               /* -snapshot: snapshot=on by default */
} LaunchOptions;

typedef enum {
    CMDLINE_RUN,        /* start a VM with the options */
    CMDLINE_EXIT_OK,    /* -h, -version, "help" values: done, exit 0 */
    CMDLINE_ERROR,      /* *errp says what is wrong: exit 1 */
} CmdlineResult;

CmdlineResult cmdline_parse(int argc, char **argv, LaunchOptions *lo,
                            GError **errp);
void launch_options_clear(LaunchOptions *lo);

#endif
