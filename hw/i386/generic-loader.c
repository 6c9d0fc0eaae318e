/*
 * -device loader: QEMU's generic loader for the pc machine.
 *
 *   file=F,addr=A        loads F raw at A; an ELF file (unless force-raw)
 *                        goes to its segments' physical addresses and its
 *                        entry point replaces addr, as in QEMU
 *   data=V,data-len=N,addr=A
 *                        stores the N-byte value V at A (little-endian
 *                        unless data-be)
 *   cpu-num=C            starts vCPU C in real mode at addr (CS.base + IP
 *                        == addr), even an AP; the power-on state otherwise
 *
 * Everything is loaded as ROM blobs, so it comes back at every reset. The
 * device has no run-time state.
 */
#include <string.h>
#include "hw/device-classes.h"
#include "lemu/hw/i386/boot.h"
#include "lemu/system/machine.h"
#include "lemu/util/log.h"

#define LOADER_CPU_NONE 0xffffffffu

typedef struct GenericLoader {
    Device parent;
    char *file;
    uint64_t addr;
    uint32_t cpu_num;
    uint64_t data;
    uint32_t data_len;
    bool data_be;
    bool force_raw;
} GenericLoader;

static const DeviceProperty generic_loader_props[] = {
    DEFINE_PROP("file", PROP_STRING, GenericLoader, file, NULL,
                "image to load"),
    DEFINE_PROP("addr", PROP_U64, GenericLoader, addr, "0",
                "guest physical address to load at / start from"),
    DEFINE_PROP("cpu-num", PROP_U32, GenericLoader, cpu_num, "0xffffffff",
                "vCPU to start at addr (default: none)"),
    DEFINE_PROP("data", PROP_U64, GenericLoader, data, "0",
                "value to store at addr"),
    DEFINE_PROP("data-len", PROP_U32, GenericLoader, data_len, "0",
                "size of data in bytes: 1, 2, 4 or 8"),
    DEFINE_PROP("data-be", PROP_BOOL, GenericLoader, data_be, "off",
                "store data big-endian"),
    DEFINE_PROP("force-raw", PROP_BOOL, GenericLoader, force_raw, "off",
                "load an ELF file as a raw image"),
    DEFINE_PROP_END
};

/* The loader acts once at realize; what it loaded lives in ROM blobs. */
static const VMStateField generic_loader_vmstate[] = {
    VMSTATE_END
};

static bool generic_loader_store_data(GenericLoader *s, Machine *m,
                                      GError **errp)
{
    uint8_t buf[8];
    unsigned n = s->data_len;

    if (n != 1 && n != 2 && n != 4 && n != 8) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "loader: data-len %u: expected 1, 2, 4 or 8", n);
        return false;
    }
    if (n < 8 && (s->data >> (n * 8))) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "loader: data 0x%" G_GINT64_MODIFIER "x does not fit in "
                    "data-len %u bytes", s->data, n);
        return false;
    }
    for (unsigned i = 0; i < n; i++) {
        unsigned shift = s->data_be ? (n - 1 - i) * 8 : i * 8;
        buf[i] = s->data >> shift;
    }
    return machine_add_rom_blob(m, "loader data", s->addr, buf, n, errp);
}

static bool generic_loader_load_file(GenericLoader *s, Machine *m,
                                     GError **errp)
{
    g_autoptr(GBytes) bytes = x86_boot_read_file(m, "loader: file", s->file,
                                                 errp);
    const uint8_t *image;
    size_t len;
    uint64_t entry, high;

    if (!bytes) {
        return false;
    }
    image = g_bytes_get_data(bytes, &len);
    if (!s->force_raw && x86_elf_probe(image, len)) {
        if (!x86_elf_load(m, s->file, image, len, true, &entry, &high,
                          errp)) {
            return false;
        }
        s->addr = entry;
        return true;
    }
    if (len == 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "loader: file '%s' is empty", s->file);
        return false;
    }
    return machine_add_rom_blob(m, s->file, s->addr, image, len, errp);
}

static bool generic_loader_realize(Device *dev, GError **errp)
{
    GenericLoader *s = (GenericLoader *)dev;
    Machine *m = dev->machine;
    bool has_cpu = s->cpu_num != LOADER_CPU_NONE;

    if (!s->file && !s->data_len && !has_cpu) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "loader: needs file=, data=/data-len= or cpu-num=");
        return false;
    }
    if (s->file && (s->data_len || s->data)) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "loader: file= and data= cannot be used together");
        return false;
    }
    if (s->data && !s->data_len) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "loader: data= needs data-len=");
        return false;
    }
    if (has_cpu && (s->cpu_num >= m->cfg.smp ||
                    s->cpu_num >= LEMU_MAX_VCPUS)) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "loader: cpu-num %u does not exist (the machine has %u "
                    "vCPUs)", s->cpu_num, m->cfg.smp);
        return false;
    }

    if (s->file && !generic_loader_load_file(s, m, errp)) {
        return false;
    }
    if (s->data_len && !generic_loader_store_data(s, m, errp)) {
        return false;
    }
    if (has_cpu) {
        X86CPUState *st = &m->boot_state[s->cpu_num];

        x86_cpu_state_reset(st, s->cpu_num == 0);
        x86_cpu_state_set_real_mode(st, s->addr);
        st->mp_state = X86_MP_RUNNABLE;
        m->has_boot_state[s->cpu_num] = true;
    }
    return true;
}

const DeviceClass generic_loader_class = {
    .name = "loader",
    .desc = "generic loader: raw or ELF file, data value, vCPU start address",
    .instance_size = sizeof(GenericLoader),
    .user_creatable = true,
    .props = generic_loader_props,
    .vmstate = generic_loader_vmstate,
    .realize = generic_loader_realize,
};
