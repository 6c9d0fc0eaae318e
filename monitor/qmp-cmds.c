/*
 * Handlers of the machine and query commands of the QMP table
 * (qmp-commands.c). Each runs on the main loop with the machine lock
 * held and gets arguments that qmp_dispatch() has already checked
 * against the schema.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>
#include "monitor/monitor-internal.h"
#include "lemu-config.h"
#include "lemu/chardev/chardev.h"
#include "lemu/hw/i386/acpi.h"
#include "lemu/util/log.h"

/* The QEMU release whose QMP lemu speaks (see query-version). */
#define QMP_QEMU_MAJOR 7
#define QMP_QEMU_MINOR 2
#define QMP_QEMU_MICRO 0

/* memsave/pmemsave copy guest memory through a buffer of this size, so
 * that a large dump never needs a large allocation. */
#define MEMSAVE_CHUNK (64 * 1024)
#define MEMSAVE_PAGE 4096ULL

JsonValue *qmp_qmp_capabilities(QmpContext *ctx, const JsonValue *args,
                                GError **errp)
{
    /* Before negotiation the session runs it itself: here it is late. */
    g_set_error(errp, QMP_ERROR, QMP_ERROR_COMMAND_NOT_FOUND,
                "Capabilities negotiation is already complete, command "
                "ignored");
    return NULL;
}

/* ---- queries ----------------------------------------------------------- */

JsonValue *qmp_version_info(void)
{
    JsonValue *ret = json_object();
    JsonValue *qemu = json_object();

    /* The member order of QEMU's greeting. */
    json_object_set_int(qemu, "micro", QMP_QEMU_MICRO);
    json_object_set_int(qemu, "minor", QMP_QEMU_MINOR);
    json_object_set_int(qemu, "major", QMP_QEMU_MAJOR);
    json_object_set(ret, "qemu", qemu);
    json_object_set_str(ret, "package", "lemu " LEMU_VERSION);
    return ret;
}

JsonValue *qmp_query_version(QmpContext *ctx, const JsonValue *args,
                             GError **errp)
{
    return qmp_version_info();
}

JsonValue *qmp_query_commands(QmpContext *ctx, const JsonValue *args,
                              GError **errp)
{
    g_autoptr(JsonValue) all = qmp_schema_query_commands();
    JsonValue *ret = json_array();

    /* A command refused here is not offered either. */
    for (size_t i = 0; i < json_array_length(all); i++) {
        JsonValue *info = json_array_get(all, i);
        if (!qmp_command_denied(ctx, json_object_get_str(info, "name"))) {
            json_array_append(ret, json_copy(info));
        }
    }
    return ret;
}

JsonValue *qmp_query_events(QmpContext *ctx, const JsonValue *args,
                            GError **errp)
{
    return qmp_schema_query_events();
}

JsonValue *qmp_query_qmp_schema(QmpContext *ctx, const JsonValue *args,
                                GError **errp)
{
    return qmp_schema_introspect();
}

JsonValue *qmp_query_status(QmpContext *ctx, const JsonValue *args,
                            GError **errp)
{
    Machine *m = ctx->machine;
    JsonValue *ret = json_object();

    json_object_set_bool(ret, "running", m->runstate == RUN_STATE_RUNNING);
    json_object_set_bool(ret, "singlestep", false);
    json_object_set_str(ret, "status", runstate_name(m->runstate));
    return ret;
}

JsonValue *qmp_query_name(QmpContext *ctx, const JsonValue *args,
                          GError **errp)
{
    JsonValue *ret = json_object();

    if (ctx->machine->cfg.name) {
        json_object_set_str(ret, "name", ctx->machine->cfg.name);
    }
    return ret;
}

JsonValue *qmp_query_uuid(QmpContext *ctx, const JsonValue *args,
                          GError **errp)
{
    JsonValue *ret = json_object();
    const char *uuid = ctx->machine->cfg.uuid;

    json_object_set_str(ret, "UUID",
                        uuid ? uuid : "00000000-0000-0000-0000-000000000000");
    return ret;
}

JsonValue *qmp_query_kvm(QmpContext *ctx, const JsonValue *args,
                         GError **errp)
{
    const AccelOps *accel = ctx->machine->accel;
    JsonValue *ret = json_object();
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

    if (fd >= 0) {
        close(fd);
    }
    json_object_set_bool(ret, "enabled",
                         accel && strcmp(accel->name, "kvm") == 0);
    json_object_set_bool(ret, "present", fd >= 0);
    return ret;
}

JsonValue *qmp_query_target(QmpContext *ctx, const JsonValue *args,
                            GError **errp)
{
    JsonValue *ret = json_object();

    json_object_set_str(ret, "arch", "x86_64");
    return ret;
}

JsonValue *qmp_query_machines(QmpContext *ctx, const JsonValue *args,
                              GError **errp)
{
    JsonValue *ret = json_array();
    JsonValue *pc = json_object();

    json_object_set_str(pc, "name", "pc");
    json_object_set_bool(pc, "is-default", true);
    json_object_set_int(pc, "cpu-max", LEMU_MAX_VCPUS);
    json_object_set_bool(pc, "hotpluggable-cpus", false);
    json_object_set_bool(pc, "numa-mem-supported", false);
    json_object_set_bool(pc, "deprecated", false);
    json_object_set_str(pc, "default-ram-id", "pc.ram");
    json_array_append(ret, pc);
    return ret;
}

JsonValue *qmp_query_cpus_fast(QmpContext *ctx, const JsonValue *args,
                               GError **errp)
{
    Machine *m = ctx->machine;
    JsonValue *ret = json_array();

    for (unsigned i = 0; i < m->nr_vcpus; i++) {
        VCPU *cpu = m->vcpus[i];
        JsonValue *info = json_object();
        JsonValue *props = json_object();

        json_object_set_int(info, "cpu-index", cpu->index);
        json_object_set(info, "qom-path",
                        json_string_printf("/machine/unattached/device[%u]",
                                           cpu->index));
        json_object_set_int(info, "thread-id", cpu->os_tid);
        /* -smp N is one socket of N single-thread cores (CPUID says so) */
        json_object_set_int(props, "core-id", cpu->index);
        json_object_set_int(props, "thread-id", 0);
        json_object_set_int(props, "socket-id", 0);
        json_object_set(info, "props", props);
        json_object_set_str(info, "target", "x86_64");
        json_array_append(ret, info);
    }
    return ret;
}

JsonValue *qmp_query_chardev(QmpContext *ctx, const JsonValue *args,
                             GError **errp)
{
    Machine *m = ctx->machine;
    JsonValue *ret = json_array();

    for (guint i = 0; m->chardevs && i < m->chardevs->len; i++) {
        Chardev *chr = g_ptr_array_index(m->chardevs, i);
        JsonValue *info = json_object();

        json_object_set_str(info, "label", chardev_id(chr));
        json_object_set(info, "filename",
                        json_string_take(chardev_describe(chr)));
        json_object_set_bool(info, "frontend-open",
                             chardev_has_frontend(chr));
        json_array_append(ret, info);
    }
    return ret;
}

/* ---- run control ------------------------------------------------------- */

JsonValue *qmp_stop(QmpContext *ctx, const JsonValue *args, GError **errp)
{
    /* Only a running VM pauses; prelaunch (-S) stays prelaunch. */
    machine_pause(ctx->machine);
    return json_object();
}

JsonValue *qmp_cont(QmpContext *ctx, const JsonValue *args, GError **errp)
{
    Machine *m = ctx->machine;

    if (m->runstate == RUN_STATE_SHUTDOWN ||
        m->runstate == RUN_STATE_INTERNAL_ERROR) {
        g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                    "Resetting the Virtual Machine is required");
        return NULL;
    }
    machine_resume(m);
    return json_object();
}

JsonValue *qmp_system_reset(QmpContext *ctx, const JsonValue *args,
                            GError **errp)
{
    /* Carried out (and RESET sent) by the machine's bottom half, after
     * this reply. */
    machine_request_reset(ctx->machine, SHUTDOWN_CAUSE_HOST_QMP_SYSTEM_RESET);
    return json_object();
}

JsonValue *qmp_system_powerdown(QmpContext *ctx, const JsonValue *args,
                                GError **errp)
{
    Device *pm = acpi_pm_find(ctx->machine);

    if (!pm) {
        g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                    "system_powerdown: this machine has no ACPI power "
                    "button (no acpi-pm device)");
        return NULL;
    }
    acpi_pm_press_power_button(pm);
    qmp_event_powerdown(ctx->machine);
    return json_object();
}

JsonValue *qmp_quit(QmpContext *ctx, const JsonValue *args, GError **errp)
{
    /* The bottom half that ends the main loop runs after this reply has
     * been written; monitor_cleanup() flushes it to the client. */
    machine_request_shutdown(ctx->machine, SHUTDOWN_CAUSE_HOST_QMP_QUIT);
    return json_object();
}

JsonValue *qmp_inject_nmi(QmpContext *ctx, const JsonValue *args,
                          GError **errp)
{
    Machine *m = ctx->machine;

    if (!m->accel || !m->accel->vcpu_inject_nmi) {
        g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                    "inject-nmi: accelerator '%s' cannot inject NMIs",
                    m->accel ? m->accel->name : "none");
        return NULL;
    }
    for (unsigned i = 0; i < m->nr_vcpus; i++) {
        m->accel->vcpu_inject_nmi(m->vcpus[i]);
    }
    return json_object();
}

/* ---- memsave / pmemsave ------------------------------------------------ */

/* A dump of guest memory to a host file. */
typedef struct MemDump {
    Machine *m;
    bool virt;                   /* val is a virtual address of @cpu */
    X86CPUState st;              /* virt: the vCPU's paging state */
    uint64_t addr;
    uint64_t size;
} MemDump;

static bool memdump_phys_read(void *opaque, uint64_t gpa, void *buf,
                              uint64_t len)
{
    return memory_map_read(opaque, gpa, buf, len);
}

/* Whether every byte of [gpa, gpa + len) is in some region. Walks whole
 * regions, so a large range costs no more than its region count. */
static bool memdump_phys_mapped(MemoryMap *map, uint64_t gpa, uint64_t len)
{
    while (len) {
        const MemoryRegion *mr = memory_map_lookup(map, gpa);
        uint64_t left;

        if (!mr) {
            return false;
        }
        left = mr->size - (gpa - mr->base);   /* bytes of mr from gpa on */
        if (left >= len) {
            return true;
        }
        gpa += left;
        len -= left;
    }
    return true;
}

/*
 * The chunk at offset @off of the dump: its guest physical address and
 * length (at most @max, never across a page for a virtual dump). False
 * when the address is not mapped.
 */
static bool memdump_chunk(MemDump *d, uint64_t off, uint64_t max,
                          uint64_t *gpa, uint64_t *len)
{
    uint64_t addr = d->addr + off;
    uint64_t n = MIN(d->size - off, max);

    if (d->virt) {
        n = MIN(n, MEMSAVE_PAGE - (addr & (MEMSAVE_PAGE - 1)));
        if (!x86_cpu_translate_debug(&d->st, memdump_phys_read, d->m->mem,
                                     addr, gpa)) {
            return false;
        }
    } else {
        *gpa = addr;
    }
    *len = n;
    return memdump_phys_mapped(d->m->mem, *gpa, n);
}

static bool memdump_write_all(int fd, const uint8_t *buf, size_t len)
{
    while (len) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return false;
        }
        buf += n;
        len -= n;
    }
    return true;
}

static bool memdump_run(MemDump *d, const char *filename, GError **errp)
{
    g_autofree uint8_t *buf = NULL;
    uint64_t off, gpa, len;
    int fd;

    if (d->size && d->addr + d->size - 1 < d->addr) {
        goto bad_range;   /* wraps past the top of the address space */
    }
    /* The whole range first, so that a bad one leaves the file alone. */
    for (off = 0; off < d->size; off += len) {
        if (!memdump_chunk(d, off, UINT64_MAX, &gpa, &len)) {
            goto bad_range;
        }
    }

    fd = open(filename, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                    "Could not open '%s': %s", filename, g_strerror(errno));
        return false;
    }
    buf = g_malloc(MEMSAVE_CHUNK);
    for (off = 0; off < d->size; off += len) {
        /* A running guest may have changed its page tables since. */
        if (!memdump_chunk(d, off, MEMSAVE_CHUNK, &gpa, &len) ||
            !memory_map_read(d->m->mem, gpa, buf, len)) {
            close(fd);
            goto bad_range;
        }
        if (!memdump_write_all(fd, buf, len)) {
            g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                        "Could not write '%s': %s", filename,
                        g_strerror(errno));
            close(fd);
            return false;
        }
    }
    if (close(fd) < 0) {
        g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                    "Could not write '%s': %s", filename, g_strerror(errno));
        return false;
    }
    return true;

bad_range:
    g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                "Invalid addr 0x%016" PRIx64 "/size %" PRIu64 " specified",
                d->addr, d->size);
    return false;
}

/* val and size of memsave/pmemsave; size must not be negative. */
static bool memdump_parse(MemDump *d, const JsonValue *args, GError **errp)
{
    int64_t addr = 0, size = 0;

    json_object_get_i64(args, "val", &addr);
    json_object_get_i64(args, "size", &size);
    if (size < 0) {
        g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                    "Parameter 'size' expects a size of 0 or more bytes");
        return false;
    }
    d->addr = (uint64_t)addr;   /* addresses above 2^63 come negative */
    d->size = (uint64_t)size;
    return true;
}

/* The state of vCPU @cpu, pausing the vCPUs around the read if they
 * run (the run state itself does not change). */
static bool qmp_cpu_state(Machine *m, VCPU *cpu, X86CPUState *st,
                          GError **errp)
{
    bool running = m->runstate == RUN_STATE_RUNNING;
    bool ok;

    if (running) {
        vcpus_pause_all(m);
    }
    ok = vcpu_get_state(cpu, st, errp);
    if (running) {
        vcpus_resume_all(m);
    }
    return ok;
}

JsonValue *qmp_memsave(QmpContext *ctx, const JsonValue *args,
                       GError **errp)
{
    Machine *m = ctx->machine;
    MemDump d = { .m = m, .virt = true };
    int64_t index = 0;

    if (!memdump_parse(&d, args, errp)) {
        return NULL;
    }
    json_object_get_i64(args, "cpu-index", &index);
    if (index < 0 || index >= (int64_t)m->nr_vcpus) {
        g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                    "Parameter 'cpu-index' expects a CPU number");
        return NULL;
    }
    if (!qmp_cpu_state(m, m->vcpus[index], &d.st, errp) ||
        !memdump_run(&d, json_object_get_str(args, "filename"), errp)) {
        return NULL;
    }
    return json_object();
}

JsonValue *qmp_pmemsave(QmpContext *ctx, const JsonValue *args,
                        GError **errp)
{
    MemDump d = { .m = ctx->machine, .virt = false };

    if (!memdump_parse(&d, args, errp) ||
        !memdump_run(&d, json_object_get_str(args, "filename"), errp)) {
        return NULL;
    }
    return json_object();
}
