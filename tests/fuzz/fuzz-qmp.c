/*
 * libFuzzer target for the QMP input path: arbitrary bytes into a
 * QmpSession on a real (paused) pc machine, replies discarded.
 *
 * The machine is built once: pc, interpreter, 16 MiB, -S, a null serial
 * and a one-byte boot image (lemu has no BIOS).
 * Commands that write host files, end the process or start the vCPUs
 * are refused in this session, so that the fuzzer can run everything
 * else (queries, stop, system_reset, HMP through human-monitor-command)
 * without touching the host.
 *
 * The first byte of an input chooses how it is delivered: bit 0 sends
 * qmp_capabilities first (so that short inputs reach the commands), bits
 * 1-3 the size of the pieces it is fed in (0: all at once).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <glib.h>
#include "monitor/monitor-internal.h"
#include "lemu/system/machine.h"
#include "lemu/util/opts.h"
#include "lemu/util/main-loop.h"

typedef struct FuzzQmp {
    Machine *machine;
    const char **deny;           /* NULL-terminated */
    size_t output;               /* bytes the session wrote */
} FuzzQmp;

/* The target's state: built once, it lives as long as the process. */
static FuzzQmp *fuzz;

static void discard_output(void *opaque, const char *line, size_t len)
{
    FuzzQmp *f = opaque;

    /* Every line is a complete message with its CRLF. */
    if (len < 2 || line[len - 2] != '\r' || line[len - 1] != '\n') {
        fprintf(stderr, "fuzz-qmp: output line without CRLF\n");
        abort();
    }
    f->output += len;
}

static const QmpSessionOps fuzz_ops = {
    .write = discard_output,
};

/* The commands the fuzzer must not run: by their flags in the table,
 * and by name in case a flag is missing. */
static const char **fuzz_deny_list(void)
{
    static const char *const always[] = { "memsave", "pmemsave", "quit",
                                          "cont" };
    const unsigned flags = QMP_CMD_HOST_FILES | QMP_CMD_ENDS_PROCESS |
                           QMP_CMD_STARTS_VCPUS;
    GPtrArray *deny = g_ptr_array_new();

    for (size_t i = 0; i < G_N_ELEMENTS(always); i++) {
        g_ptr_array_add(deny, (char *)always[i]);
    }
    for (const QmpCommand *c = qmp_commands; c->name; c++) {
        if (c->flags & flags) {
            g_ptr_array_add(deny, (char *)c->name);
        }
    }
    g_ptr_array_add(deny, NULL);
    return (const char **)g_ptr_array_free(deny, false);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    MachineConfig cfg;
    LemuOpts *opts;
    GError *err = NULL;

    machine_config_init(&cfg);
    g_free(cfg.accel);
    cfg.accel = g_strdup("interp");
    cfg.ram_size = 16 << 20;
    cfg.start_paused = true;
    g_ptr_array_add(cfg.serials, g_strdup("null"));
    /* lemu has no BIOS: boot a HLT at 0x7c00 (it never runs anyway). */
    opts = opts_parse("-device", "loader,data=0xf4,data-len=1,addr=0x7c00,"
                      "cpu-num=0", "driver", &err);
    if (!opts) {
        fprintf(stderr, "fuzz-qmp: %s\n", err->message);
        abort();
    }
    g_ptr_array_add(cfg.devices, opts);

    fuzz = g_new0(FuzzQmp, 1);
    fuzz->machine = machine_new(&cfg, &err);
    if (!fuzz->machine) {
        fprintf(stderr, "fuzz-qmp: cannot build the machine: %s\n",
                err->message);
        abort();
    }
    fuzz->deny = fuzz_deny_list();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char negotiate[] = "{\"execute\": \"qmp_capabilities\"}";
    Machine *m = fuzz->machine;
    QmpSession *s;
    size_t piece = 0;

    if (size > 0) {
        piece = (data[0] >> 1) & 7;
    }

    /* As a chardev callback would: on the main loop, lock held. */
    machine_lock(m);
    s = qmp_session_new(m, &fuzz_ops, fuzz, false);
    qmp_session_set_deny(s, (const char *const *)fuzz->deny);
    qmp_session_start(s);
    if (size > 0 && (data[0] & 1)) {
        qmp_session_feed(s, negotiate, strlen(negotiate));
    }
    if (size > 0) {
        data++;
        size--;
    }
    if (!piece) {
        qmp_session_feed(s, data, size);
    } else {
        for (size_t i = 0; i < size; i += piece) {
            qmp_session_feed(s, data + i, MIN(piece, size - i));
        }
    }
    /* Requests handled later (system_reset, powerdown) run now, while
     * the session still gets their events. */
    for (int i = 0; i < 16 && main_loop_iterate(m->loop, false); i++) {
    }
    /* The client goes away. */
    qmp_session_reset(s);
    qmp_session_free(s);
    machine_unlock(m);
    return 0;
}
