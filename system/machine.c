/*
 * Machine object basics that devices and tests use: configuration, IRQ
 * routing, chardev lookup, ROM blobs and the requests any thread may make.
 * The life cycle (build, start, pause, reset, teardown) is machine-init.c.
 */
#include <stdarg.h>
#include <string.h>
#include <inttypes.h>
#include "lemu/system/machine.h"
#include "lemu/chardev/chardev.h"
#include "lemu/monitor/monitor.h"
#include "lemu/util/log.h"

void machine_config_init(MachineConfig *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->machine_type = g_strdup("pc");
    cfg->ram_size = 128ULL << 20;     /* QEMU's default */
    cfg->smp = 1;
    cfg->devices = g_ptr_array_new_with_free_func((GDestroyNotify)opts_free);
    cfg->chardevs = g_ptr_array_new_with_free_func((GDestroyNotify)opts_free);
    cfg->serials = g_ptr_array_new_with_free_func(g_free);
    cfg->drives = g_ptr_array_new_with_free_func(g_free);
    cfg->blockdevs = g_ptr_array_new_with_free_func(g_free);
    cfg->monitors =
        g_ptr_array_new_with_free_func((GDestroyNotify)monitor_config_free);
}

void machine_config_clear(MachineConfig *cfg)
{
    g_free(cfg->machine_type);
    g_free(cfg->accel);
    g_free(cfg->cpu_model);
    g_free(cfg->kernel);
    g_free(cfg->initrd);
    g_free(cfg->append);
    g_free(cfg->name);
    if (cfg->devices) {
        g_ptr_array_free(cfg->devices, TRUE);
    }
    if (cfg->chardevs) {
        g_ptr_array_free(cfg->chardevs, TRUE);
    }
    if (cfg->serials) {
        g_ptr_array_free(cfg->serials, TRUE);
    }
    if (cfg->monitors) {
        g_ptr_array_free(cfg->monitors, TRUE);
    }
    if (cfg->drives) {
        g_ptr_array_free(cfg->drives, TRUE);
    }
    if (cfg->blockdevs) {
        g_ptr_array_free(cfg->blockdevs, TRUE);
    }
    g_free(cfg->uuid);
    memset(cfg, 0, sizeof(*cfg));
}

static void machine_gsi_handler(void *opaque, int n, int level)
{
    Machine *m = opaque;

    if (m->accel && m->accel->has_irqchip && m->accel->set_irq) {
        m->accel->set_irq(m, n, level);
    } else if (m->irq_route) {
        m->irq_route(m->irq_route_opaque, n, level);
    }
}

IrqLine machine_gsi_line(Machine *m, int n)
{
    return (IrqLine){ .handler = machine_gsi_handler, .opaque = m, .n = n };
}

void machine_send_msi(Machine *m, uint64_t addr, uint32_t data)
{
    if (m->accel && m->accel->has_irqchip && m->accel->send_msi) {
        m->accel->send_msi(m, addr, data);
    } else if (m->msi_route) {
        m->msi_route(m->msi_route_opaque, addr, data);
    } else {
        lemu_log_mask(LOG_GUEST_ERROR, "MSI to 0x%" PRIx64 " data 0x%x "
                      "dropped: this machine has no interrupt controller "
                      "for MSIs\n", addr, data);
    }
}

bool machine_has_ioeventfd(Machine *m)
{
    return m && m->accel && m->accel->ioeventfd;
}

bool machine_set_ioeventfd(Machine *m, uint64_t addr, unsigned len, int fd,
                           bool assign)
{
    return machine_has_ioeventfd(m) &&
           m->accel->ioeventfd(m, addr, len, fd, assign);
}

Chardev *machine_find_chardev(Machine *m, const char *id)
{
    for (guint i = 0; m->chardevs && i < m->chardevs->len; i++) {
        Chardev *chr = g_ptr_array_index(m->chardevs, i);
        if (g_strcmp0(chardev_id(chr), id) == 0) {
            return chr;
        }
    }
    return NULL;
}

static void rom_blob_free(RomBlob *blob)
{
    g_free(blob->name);
    g_bytes_unref(blob->data);
    g_free(blob);
}

bool machine_add_rom_blob(Machine *m, const char *name, uint64_t addr,
                          const void *data, size_t len, GError **errp)
{
    RomBlob *blob;

    if (len && !memory_map_ram_ptr(m->mem, addr, len, true)) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: %zu bytes at 0x%" G_GINT64_MODIFIER "x do not fit "
                    "in guest RAM", name, len, addr);
        return false;
    }
    for (guint i = 0; i < m->rom_blobs->len; i++) {
        RomBlob *o = g_ptr_array_index(m->rom_blobs, i);
        uint64_t olen = g_bytes_get_size(o->data);
        if (len && olen && addr < o->addr + olen && o->addr < addr + len) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "%s (0x%" G_GINT64_MODIFIER "x-0x%"
                        G_GINT64_MODIFIER "x) overlaps %s (0x%"
                        G_GINT64_MODIFIER "x-0x%" G_GINT64_MODIFIER "x)",
                        name, addr, addr + len - 1, o->name, o->addr,
                        o->addr + olen - 1);
            return false;
        }
    }
    blob = g_new0(RomBlob, 1);
    blob->name = g_strdup(name);
    blob->addr = addr;
    blob->data = g_bytes_new(data, len);
    g_ptr_array_set_free_func(m->rom_blobs, (GDestroyNotify)rom_blob_free);
    g_ptr_array_add(m->rom_blobs, blob);
    return true;
}

static void machine_kick_requests(Machine *m)
{
    vcpus_request_stop(m);
    if (m->request_bh) {
        bh_schedule(m->request_bh);
    }
}

void machine_request_reset(Machine *m, ShutdownCause cause)
{
    g_atomic_int_set(&m->reset_request, (int)cause);
    machine_kick_requests(m);
}

void machine_request_shutdown(Machine *m, ShutdownCause cause)
{
    g_atomic_int_set(&m->shutdown_request, (int)cause);
    machine_kick_requests(m);
}

void machine_request_exit(Machine *m, int code)
{
    g_atomic_int_set(&m->exit_request_code, code);
    g_atomic_int_set(&m->exit_request, 1);
    machine_kick_requests(m);
}

void machine_request_internal_error(Machine *m, const char *fmt, ...)
{
    va_list ap;

    if (!m->internal_error) {
        va_start(ap, fmt);
        m->internal_error = g_strdup_vprintf(fmt, ap);
        va_end(ap);
    }
    if (m->request_bh) {
        bh_schedule(m->request_bh);
    }
}
