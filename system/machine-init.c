/*
 * Machine life cycle: build (memory, accelerator, chardevs, board, vCPUs),
 * start, pause, resume, reset, teardown, and the bottom half that turns
 * requests from vCPUs and devices into run-state changes on the main loop.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include "lemu/system/machine.h"
#include "lemu/block/blockdev.h"
#include "lemu/chardev/chardev.h"
#include "lemu/hw/i386/pc.h"
#include "lemu/hw/qdev.h"
#include "lemu/monitor/monitor.h"
#include "lemu/util/log.h"

static void machine_reset_state(Machine *m, bool cold);

static void machine_quit_from_ui(void *opaque)
{
    machine_request_shutdown(opaque, SHUTDOWN_CAUSE_HOST_UI);
}

static const ChardevEscapeOps machine_escape_ops = {
    .quit = machine_quit_from_ui,
};

static bool machine_add_chardev(Machine *m, Chardev *chr, GError **errp)
{
    const char *id = chardev_id(chr);

    if (machine_find_chardev(m, id)) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "-chardev: duplicate chardev id '%s'", id);
        chardev_free(chr);
        return false;
    }
    if (chardev_is_stdio(chr)) {
        chardev_set_escape_ops(chr, &machine_escape_ops, m);
    }
    g_ptr_array_add(m->chardevs, chr);
    return true;
}

/* -chardev first, then -serial, which may name them as chardev:ID. */
static bool machine_init_chardevs(Machine *m, GError **errp)
{
    MachineConfig *cfg = &m->cfg;

    for (guint i = 0; i < cfg->chardevs->len; i++) {
        Chardev *chr = chardev_new_from_opts(m->loop,
                                             g_ptr_array_index(cfg->chardevs, i),
                                             errp);
        if (!chr || !machine_add_chardev(m, chr, errp)) {
            return false;
        }
    }
    /* -qmp SPEC and -monitor SPEC: a chardev named for the monitor. */
    for (guint i = 0; i < cfg->monitors->len; i++) {
        MonitorConfig *mc = g_ptr_array_index(cfg->monitors, i);
        Chardev *chr;

        if (!mc->spec) {
            continue;
        }
        chr = chardev_new_from_spec(m->loop,
                                    mc->mode == MONITOR_MODE_CONTROL ?
                                    "-qmp" : "-monitor", mc->spec,
                                    mc->chardev, errp);
        if (!chr || !machine_add_chardev(m, chr, errp)) {
            return false;
        }
    }
    if (cfg->serials->len > PC_MAX_SERIAL) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "-serial: at most %d serial ports", PC_MAX_SERIAL);
        return false;
    }
    for (guint i = 0; i < cfg->serials->len; i++) {
        const char *spec = g_ptr_array_index(cfg->serials, i);
        g_autofree char *id = g_strdup_printf("serial%u", i);
        Chardev *chr;

        if (strcmp(spec, "none") == 0) {
            continue;
        }
        if (g_str_has_prefix(spec, "chardev:")) {
            chr = machine_find_chardev(m, spec + strlen("chardev:"));
            if (!chr) {
                g_set_error(errp, LEMU_ERROR, LEMU_ERROR_NOT_FOUND,
                            "-serial %s: no chardev with id '%s'", spec,
                            spec + strlen("chardev:"));
                return false;
            }
            m->serial_chr[i] = chr;
            continue;
        }
        /* "mon:" muxes a human monitor in (Ctrl-a c switches). */
        bool mux = g_str_has_prefix(spec, "mon:");
        if (mux) {
            spec += strlen("mon:");
        }
        chr = chardev_new_from_spec(m->loop, "-serial", spec, id, errp);
        if (!chr || !machine_add_chardev(m, chr, errp)) {
            return false;
        }
        m->serial_chr[i] = chr;
        if (mux) {
            MonitorConfig *mc = g_new0(MonitorConfig, 1);
            mc->chardev = g_strdup(id);
            mc->mode = MONITOR_MODE_READLINE;
            mc->mux = true;
            g_ptr_array_add(cfg->monitors, mc);
        }
    }
    return true;
}

/* -drive if=virtio: a virtio-blk-pci for each, after the -device ones
 * (which may have taken their slots), in the order given. Drives a
 * device already has are skipped, so a second call does nothing. */
bool machine_create_drive_devices(Machine *m, GError **errp)
{
    for (guint i = 0; m->drives && i < m->drives->len; i++) {
        DriveInfo *dinfo = g_ptr_array_index(m->drives, i);
        Device *dev;

        if (dinfo->type != IF_VIRTIO || dinfo->device) {
            continue;
        }
        dev = device_new(m, "virtio-blk-pci", errp);
        if (!dev || !device_set_prop(dev, "drive", dinfo->id, errp)) {
            device_free(dev);
            return false;
        }
        if (!device_realize(dev, errp)) {
            return false;
        }
    }
    return true;
}

/* An accelerator whose init fails cleans up after itself; forget it. */
static bool machine_try_accel(Machine *m, GError **errp)
{
    if (!m->accel->init(m, errp)) {
        m->accel = NULL;
        return false;
    }
    return true;
}

/*
 * -accel is a fallback list ("kvm:tcg"); with none, KVM when it works and
 * the interpreter otherwise, said in one line on stderr.
 */
static bool machine_init_accel(Machine *m, GString *notice, GError **errp)
{
    bool automatic = m->cfg.accel == NULL;
    g_auto(GStrv) names = g_strsplit(automatic ? "kvm:interp" : m->cfg.accel,
                                     ":", -1);
    g_autoptr(GString) why = g_string_new(NULL);
    guint count = g_strv_length(names);

    for (guint i = 0; i < count; i++) {
        GError *err = NULL;

        m->accel = accel_find(names[i]);
        if (!m->accel) {
            g_set_error(&err, LEMU_ERROR, LEMU_ERROR_UNSUPPORTED,
                        "the %s accelerator is not part of this build yet",
                        names[i]);
        } else if (machine_try_accel(m, &err)) {
            if (automatic || i > 0) {
                g_string_printf(notice, "accelerator: %s%s%s%s",
                                m->accel->name, why->len ? " (" : "",
                                why->str, why->len ? ")" : "");
            }
            return true;
        }
        g_string_append_printf(why, "%s%s: %s", why->len ? "; " : "",
                               names[i], err->message);
        g_error_free(err);
    }
    if (count == 1) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_UNSUPPORTED, "-accel %s",
                    why->str);
    } else {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_UNSUPPORTED,
                    "no usable accelerator (%s)", why->str);
    }
    return false;
}

static void machine_finish_run(Machine *m, int code)
{
    m->exit_code = code;
    m->exit_requested = true;
    main_loop_quit(m->loop);
}

static void machine_set_runstate(Machine *m, RunState s)
{
    m->runstate = s;
}

/* Whether a monitor of its own (-qmp, -monitor, -mon) was asked for,
 * besides the one -serial mon:stdio shares with the console. */
static bool machine_has_own_monitor(Machine *m)
{
    for (guint i = 0; m->cfg.monitors && i < m->cfg.monitors->len; i++) {
        MonitorConfig *mc = g_ptr_array_index(m->cfg.monitors, i);

        if (!mc->mux) {
            return true;
        }
    }
    return false;
}

/* Runs on the main loop with the lock held. */
static void machine_handle_requests(void *opaque)
{
    Machine *m = opaque;
    int cause;

    if (m->exit_requested) {
        return;
    }
    if (g_atomic_int_get(&m->exit_request)) {
        machine_finish_run(m, g_atomic_int_get(&m->exit_request_code));
        return;
    }
    if (m->internal_error && m->runstate != RUN_STATE_INTERNAL_ERROR) {
        error_report("%s", m->internal_error);
        if (!machine_has_own_monitor(m)) {
            /* Nobody could inspect or reset the VM: end the process
             * with an error instead of hanging. */
            if (m->runstate == RUN_STATE_RUNNING) {
                vcpus_pause_all(m);
                main_loop_virtual_clock_stop(m->loop);
            }
            machine_set_runstate(m, RUN_STATE_INTERNAL_ERROR);
            machine_finish_run(m, 1);
            return;
        }
        /* As QEMU: the VM stops in internal-error (STOP is sent) and
         * stays there for the monitor to inspect, reset or quit. */
        if (m->runstate == RUN_STATE_RUNNING) {
            machine_stop(m, RUN_STATE_INTERNAL_ERROR);
        } else {
            machine_set_runstate(m, RUN_STATE_INTERNAL_ERROR);
        }
    }
    cause = g_atomic_int_and(&m->shutdown_request, 0);
    if (cause) {
        m->shutdown_cause = cause;
        qmp_event_shutdown(m, shutdown_cause_is_guest(cause),
                           shutdown_cause_name(cause));
        if (cause == SHUTDOWN_CAUSE_GUEST_SHUTDOWN && m->cfg.no_shutdown) {
            machine_pause(m);
            machine_set_runstate(m, RUN_STATE_SHUTDOWN);
            return;
        }
        machine_finish_run(m, 0);
        return;
    }
    cause = g_atomic_int_and(&m->reset_request, 0);
    if (cause) {
        if (shutdown_cause_is_guest(cause) && m->cfg.no_reboot) {
            /* -no-reboot turns a guest reset into a shutdown */
            m->shutdown_cause = cause;
            qmp_event_shutdown(m, true, shutdown_cause_name(cause));
            machine_finish_run(m, 0);
            return;
        }
        machine_reset(m);
        /* A VM stopped by a guest poweroff (-no-shutdown) or an
         * internal error can run again after a reset: it waits in
         * prelaunch for "cont", as QEMU's. */
        if (m->runstate == RUN_STATE_SHUTDOWN ||
            m->runstate == RUN_STATE_INTERNAL_ERROR) {
            machine_set_runstate(m, RUN_STATE_PRELAUNCH);
            g_clear_pointer(&m->internal_error, g_free);
        }
        qmp_event_reset(m, shutdown_cause_is_guest(cause),
                        shutdown_cause_name(cause));
    }
}

Machine *machine_new(MachineConfig *cfg, GError **errp)
{
    Machine *m = g_new0(Machine, 1);
    g_autoptr(GString) notice = g_string_new(NULL);

    g_mutex_init(&m->lock);
    g_cond_init(&m->vcpu_cond);
    m->cfg = *cfg;
    memset(cfg, 0, sizeof(*cfg));
    m->loop = main_loop_new(&m->lock);
    m->mem = memory_map_new();
    m->io = ioport_map_new();
    m->devices = g_ptr_array_new();
    m->chardevs = g_ptr_array_new();
    m->rom_blobs = g_ptr_array_new();
    m->request_bh = bh_new(m->loop, machine_handle_requests, m);
    m->runstate = RUN_STATE_PRELAUNCH;

    machine_lock(m);
    if (strcmp(m->cfg.machine_type, "pc") != 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "-machine %s: unsupported machine type (lemu has: pc)",
                    m->cfg.machine_type);
        goto fail;
    }
    if (!pc_memory_init(m, errp) ||
        !machine_init_accel(m, notice, errp) ||
        !machine_init_chardevs(m, errp) ||
        !blockdev_init_all(m, errp) ||
        !pc_machine_init(m, errp) ||
        /* The board should have done it before assigning BARs. */
        !machine_create_drive_devices(m, errp) ||
        !vcpus_create(m, errp) ||
        !monitor_init_all(m, errp)) {
        goto fail;
    }
    machine_reset_state(m, true);
    machine_unlock(m);
    /* Said once the VM is built, so that a start-up error stays one line. */
    if (notice->len) {
        error_report("%s", notice->str);
    }
    return m;

fail:
    machine_unlock(m);
    machine_free(m);
    return NULL;
}

void machine_start(Machine *m)
{
    if (m->cfg.start_paused) {
        machine_set_runstate(m, RUN_STATE_PRELAUNCH);
        return;
    }
    machine_resume(m);
}

void machine_pause(Machine *m)
{
    machine_stop(m, RUN_STATE_PAUSED);
}

void machine_stop(Machine *m, RunState state)
{
    if (m->runstate != RUN_STATE_RUNNING) {
        return;
    }
    vcpus_pause_all(m);
    main_loop_virtual_clock_stop(m->loop);
    machine_set_runstate(m, state);
    device_vm_state_change_all(m, false);
    qmp_event_stop(m);
}

void machine_resume(Machine *m)
{
    if (m->runstate == RUN_STATE_RUNNING ||
        m->runstate == RUN_STATE_INTERNAL_ERROR) {
        return;
    }
    machine_set_runstate(m, RUN_STATE_RUNNING);
    main_loop_virtual_clock_start(m->loop);
    /* Before the vCPUs: a disk stopped by an error retries first. */
    device_vm_state_change_all(m, true);
    vcpus_resume_all(m);
    qmp_event_resume(m);
}

/* @cold: the first reset after creation, when the accelerator's own
 * devices are fresh and need no reset. */
static void machine_reset_state(Machine *m, bool cold)
{
    bool was_running = m->runstate == RUN_STATE_RUNNING;
    GError *err = NULL;

    if (was_running) {
        vcpus_pause_all(m);
    }
    device_reset_all(m);
    if (!cold && m->accel && m->accel->reset) {
        m->accel->reset(m);   /* in-kernel irqchip and PIT */
    }
    for (guint i = 0; i < m->rom_blobs->len; i++) {
        RomBlob *blob = g_ptr_array_index(m->rom_blobs, i);
        gsize len;
        const void *data = g_bytes_get_data(blob->data, &len);

        /* Checked when the blob was added; the map has not changed. */
        if (!memory_map_load(m->mem, blob->addr, data, len, &err)) {
            error_report("reset: %s", err->message);
            g_clear_error(&err);
        }
    }
    for (unsigned i = 0; i < m->nr_vcpus; i++) {
        X86CPUState st;

        if (m->has_boot_state[i]) {
            st = m->boot_state[i];
        } else {
            x86_cpu_state_reset(&st, i == 0);
        }
        vcpu_set_pending_state(m->vcpus[i], &st);
    }
    if (was_running) {
        vcpus_resume_all(m);
    }
}

void machine_reset(Machine *m)
{
    machine_reset_state(m, false);
}

void machine_free(Machine *m)
{
    if (!m) {
        return;
    }
    machine_lock(m);
    monitor_cleanup(m);
    vcpus_destroy(m);
    device_destroy_all(m);
    /* After the devices, which may still have requests in flight. */
    blockdev_cleanup_all(m);
    pc_machine_cleanup(m);
    for (guint i = 0; i < m->chardevs->len; i++) {
        Chardev *chr = g_ptr_array_index(m->chardevs, i);
        chardev_flush(chr, 500);
        chardev_free(chr);
    }
    g_ptr_array_set_size(m->chardevs, 0);
    if (m->accel && m->accel->cleanup) {
        m->accel->cleanup(m);
    }
    machine_unlock(m);

    bh_free(m->request_bh);
    g_ptr_array_free(m->devices, TRUE);
    g_ptr_array_free(m->chardevs, TRUE);
    g_ptr_array_free(m->rom_blobs, TRUE);
    ioport_map_free(m->io);
    memory_map_free(m->mem);
    if (m->ram) {
        munmap(m->ram, m->ram_size);
    }
    main_loop_free(m->loop);
    machine_config_clear(&m->cfg);
    g_free(m->internal_error);
    g_cond_clear(&m->vcpu_cond);
    g_mutex_clear(&m->lock);
    g_free(m);
}
