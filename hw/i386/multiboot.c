/*
 * Multiboot v1 (the Multiboot Specification 0.6.96): 32-bit ELF kernels,
 * or any format through the a.out kludge (header flag 16), entered in flat
 * 32-bit protected mode with EAX = 0x2BADB002 and EBX = the info struct.
 *
 * Like QEMU: the kernel's command line is "KERNEL APPEND", modules come
 * from -initrd as "file1 args,file2 args" (",," for a comma) and each
 * module's string is its whole "file args" entry; 64-bit ELF kernels and
 * video mode requests are not honoured (the latter silently).
 *
 * Layout: the info struct, the boot loader name and the memory map in one
 * block at 0x9000; the modules, page aligned, right after the kernel's
 * highest address, then the module list and the command lines.
 */
#include <string.h>
#include "lemu/hw/i386/boot.h"
#include "lemu/hw/i386/pc.h"
#include "lemu/system/machine.h"
#include "lemu/util/log.h"

#define MB_HEADER_MAGIC      0x1badb002u
#define MB_BOOTLOADER_MAGIC  0x2badb002u
#define MB_SEARCH_LIMIT      8192

/* Header flags: bits 0-15 are requirements, 16-31 optional features. */
#define MB_FLAG_PAGE_ALIGN   (1u << 0)   /* modules page aligned: always */
#define MB_FLAG_MEMORY_INFO  (1u << 1)   /* mem_* and mmap: always */
#define MB_FLAG_VIDEO_MODE   (1u << 2)   /* ignored, as QEMU does */
#define MB_FLAG_AOUT_KLUDGE  (1u << 16)
#define MB_FLAGS_UNDERSTOOD  (MB_FLAG_PAGE_ALIGN | MB_FLAG_MEMORY_INFO | \
                              MB_FLAG_VIDEO_MODE)

/* Header fields (offsets from the magic). */
#define MBH_FLAGS            4
#define MBH_CHECKSUM         8
#define MBH_HEADER_ADDR      12
#define MBH_LOAD_ADDR        16
#define MBH_LOAD_END_ADDR    20
#define MBH_BSS_END_ADDR     24
#define MBH_ENTRY_ADDR       28
#define MBH_AOUT_SIZE        32

/* Info struct fields and flags. */
#define MBI_FLAGS            0
#define MBI_MEM_LOWER        4
#define MBI_MEM_UPPER        8
#define MBI_CMDLINE          16
#define MBI_MODS_COUNT       20
#define MBI_MODS_ADDR        24
#define MBI_MMAP_LENGTH      44
#define MBI_MMAP_ADDR        48
#define MBI_BOOT_LOADER_NAME 64
#define MBI_SIZE             88

#define MBI_FLAG_MEMORY      (1u << 0)
#define MBI_FLAG_CMDLINE     (1u << 2)
#define MBI_FLAG_MODS        (1u << 3)
#define MBI_FLAG_MMAP        (1u << 6)
#define MBI_FLAG_LOADER_NAME (1u << 9)

#define MB_MOD_SIZE          16     /* mod_start, mod_end, string, reserved */
#define MB_MMAP_ENTRY_SIZE   24     /* size field + 20 bytes */
#define MB_MMAP_MAX          32

/* The low block: info struct, loader name, memory map. */
#define MB_INFO_ADDR         0x9000ULL
#define MB_LOADER_NAME_OFF   0x100
#define MB_MMAP_OFF          0x200
#define MB_INFO_BLOCK_SIZE   (MB_MMAP_OFF + MB_MMAP_MAX * MB_MMAP_ENTRY_SIZE)

#define MB_PAGE              0x1000ULL
#define MB_ALIGN_PAGE(x)     (((x) + MB_PAGE - 1) & ~(MB_PAGE - 1))

/* Offset of the multiboot header in @image, or -1. */
static long multiboot_find_header(const uint8_t *image, size_t len)
{
    size_t limit = MIN(len, (size_t)MB_SEARCH_LIMIT);

    for (size_t off = 0; off + 12 <= limit; off += 4) {
        if (boot_ld32(image + off) == MB_HEADER_MAGIC) {
            return off;
        }
    }
    return -1;
}

bool x86_multiboot_probe(const uint8_t *image, size_t len)
{
    return multiboot_find_header(image, len) >= 0;
}

/* Loads the a.out kludge image described by the header at @off. */
static bool multiboot_load_aout(Machine *m, const char *name,
                                const uint8_t *image, size_t len, size_t off,
                                uint64_t *entry, uint64_t *high, GError **errp)
{
    const uint8_t *h = image + off;
    uint32_t header_addr, load_addr, load_end, bss_end, entry_addr;
    uint64_t file_off, load_size, mem_size;
    g_autofree uint8_t *buf = NULL;

    if (len - off < MBH_AOUT_SIZE) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: truncated multiboot header at offset 0x%zx", name,
                    off);
        return false;
    }
    header_addr = boot_ld32(h + MBH_HEADER_ADDR);
    load_addr = boot_ld32(h + MBH_LOAD_ADDR);
    load_end = boot_ld32(h + MBH_LOAD_END_ADDR);
    bss_end = boot_ld32(h + MBH_BSS_END_ADDR);
    entry_addr = boot_ld32(h + MBH_ENTRY_ADDR);

    if (header_addr < load_addr || header_addr - load_addr > off) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: multiboot header_addr 0x%x and load_addr 0x%x do "
                    "not match the header's file offset 0x%zx", name,
                    header_addr, load_addr, off);
        return false;
    }
    file_off = off - (header_addr - load_addr);
    if (load_end == 0) {
        load_size = len - file_off;
    } else if (load_end < load_addr || load_end - load_addr > len - file_off) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: multiboot load_end_addr 0x%x is before load_addr "
                    "0x%x or beyond the end of the file", name, load_end,
                    load_addr);
        return false;
    } else {
        load_size = load_end - load_addr;
    }
    if (bss_end == 0) {
        mem_size = load_size;
    } else if (bss_end < load_addr + load_size) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: multiboot bss_end_addr 0x%x lies before the end of "
                    "the loaded image (0x%" G_GINT64_MODIFIER "x)", name,
                    bss_end, load_addr + load_size);
        return false;
    } else {
        mem_size = bss_end - (uint64_t)load_addr;
    }
    if (mem_size == 0 ||
        !memory_map_ram_ptr(m->mem, load_addr, mem_size, false)) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: multiboot image (0x%x, 0x%" G_GINT64_MODIFIER
                    "x bytes) does not fit in guest RAM", name, load_addr,
                    mem_size);
        return false;
    }
    if (entry_addr < load_addr || entry_addr - load_addr >= load_size) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: multiboot entry_addr 0x%x lies outside the loaded "
                    "image (0x%x-0x%" G_GINT64_MODIFIER "x)", name,
                    entry_addr, load_addr, load_addr + load_size - 1);
        return false;
    }

    /* mem_size is bounded by the RAM block that holds it. */
    buf = g_malloc0(mem_size);
    memcpy(buf, image + file_off, load_size);
    if (!machine_add_rom_blob(m, name, load_addr, buf, mem_size, errp)) {
        return false;
    }
    *entry = entry_addr;
    *high = load_addr + mem_size;
    return true;
}

/* Splits QEMU's module list "a x,b y" on single commas; ",," is a comma. */
static GPtrArray *multiboot_split_modules(const char *list)
{
    GPtrArray *mods = g_ptr_array_new_with_free_func(g_free);
    GString *cur = g_string_new(NULL);

    for (const char *p = list; ; p++) {
        if (*p == ',' && p[1] == ',') {
            g_string_append_c(cur, ',');
            p++;
        } else if (*p == ',' || *p == '\0') {
            g_ptr_array_add(mods, g_string_free(cur, FALSE));
            if (*p == '\0') {
                break;
            }
            cur = g_string_new(NULL);
        } else {
            g_string_append_c(cur, *p);
        }
    }
    return mods;
}

/* Modules and strings above the kernel, info block in low memory. */
static bool multiboot_load_info(Machine *m, const char *kernel_name,
                                const char *modules, const char *append,
                                uint64_t kernel_high, GError **errp)
{
    uint64_t ram_top = MIN(m->below_4g_size, PC_4G);
    g_autoptr(GPtrArray) mods = NULL;
    g_autofree uint8_t *info = g_malloc0(MB_INFO_BLOCK_SIZE);
    g_autofree char *cmdline = NULL;
    GByteArray *meta = g_byte_array_new();   /* mod list, then strings */
    E820Entry e820[MB_MMAP_MAX];
    uint64_t cur = MB_ALIGN_PAGE(kernel_high), meta_addr, strings;
    unsigned nr_mods, n;
    bool ok = false;

    mods = modules ? multiboot_split_modules(modules)
                   : g_ptr_array_new_with_free_func(g_free);
    nr_mods = mods->len;

    /* Module list first: the strings follow it. */
    g_byte_array_set_size(meta, nr_mods * MB_MOD_SIZE);
    if (meta->len) {
        memset(meta->data, 0, meta->len);
    }
    for (unsigned i = 0; i < nr_mods; i++) {
        const char *entry = g_ptr_array_index(mods, i);
        g_autofree char *file = g_strndup(entry, strcspn(entry, " "));
        g_autoptr(GBytes) data = NULL;
        const uint8_t *bytes;
        size_t size;

        if (!*file) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "-initrd: multiboot module %u has no file name "
                        "(list '%s')", i + 1, modules);
            goto out;
        }
        data = x86_boot_read_file(m, "multiboot module", file, errp);
        if (!data) {
            goto out;
        }
        bytes = g_bytes_get_data(data, &size);
        if (size > ram_top || cur > ram_top - size) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "multiboot module '%s' (%zu bytes) does not fit in "
                        "guest RAM at 0x%" G_GINT64_MODIFIER "x", file, size,
                        cur);
            goto out;
        }
        if (size && !machine_add_rom_blob(m, file, cur, bytes, size, errp)) {
            goto out;
        }
        boot_st32(meta->data + i * MB_MOD_SIZE, cur);
        boot_st32(meta->data + i * MB_MOD_SIZE + 4, cur + size);
        cur = MB_ALIGN_PAGE(cur + size);
    }
    meta_addr = cur;
    strings = meta_addr + meta->len;

    cmdline = g_strdup_printf("%s %s", kernel_name, append ? append : "");
    boot_st32(info + MBI_CMDLINE, strings);
    g_byte_array_append(meta, (const guint8 *)cmdline, strlen(cmdline) + 1);
    for (unsigned i = 0; i < nr_mods; i++) {
        const char *entry = g_ptr_array_index(mods, i);
        boot_st32(meta->data + i * MB_MOD_SIZE + 8, meta_addr + meta->len);
        g_byte_array_append(meta, (const guint8 *)entry, strlen(entry) + 1);
    }
    if (meta->len > ram_top || meta_addr > ram_top - meta->len) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: multiboot command lines and module list (%u bytes) "
                    "do not fit in guest RAM at 0x%" G_GINT64_MODIFIER "x",
                    kernel_name, meta->len, meta_addr);
        goto out;
    }
    if (!machine_add_rom_blob(m, "multiboot command lines", meta_addr,
                              meta->data, meta->len, errp)) {
        goto out;
    }

    boot_st32(info + MBI_FLAGS, MBI_FLAG_MEMORY | MBI_FLAG_CMDLINE |
                                MBI_FLAG_MODS | MBI_FLAG_MMAP |
                                MBI_FLAG_LOADER_NAME);
    boot_st32(info + MBI_MODS_COUNT, nr_mods);
    boot_st32(info + MBI_MODS_ADDR, nr_mods ? meta_addr : 0);
    memcpy(info + MB_LOADER_NAME_OFF, "lemu", 5);
    boot_st32(info + MBI_BOOT_LOADER_NAME, MB_INFO_ADDR + MB_LOADER_NAME_OFF);

    /* mem_lower/mem_upper as a BIOS reports them (and QEMU's multiboot
     * ROM passes on): the usable RAM from 0, and from 1 MiB up to the
     * first hole, in KiB. */
    n = x86_build_e820(m, e820, MB_MMAP_MAX);
    for (unsigned i = 0; i < n; i++) {
        uint8_t *e = info + MB_MMAP_OFF + i * MB_MMAP_ENTRY_SIZE;
        if (e820[i].type == E820_RAM && e820[i].addr == 0) {
            boot_st32(info + MBI_MEM_LOWER, e820[i].size / 1024);
        }
        if (e820[i].type == E820_RAM &&
            e820[i].addr == PC_HIGH_RAM_START) {
            boot_st32(info + MBI_MEM_UPPER,
                      MIN(e820[i].size / 1024, UINT32_MAX));
        }
        boot_st32(e, MB_MMAP_ENTRY_SIZE - 4);
        boot_st64(e + 4, e820[i].addr);
        boot_st64(e + 12, e820[i].size);
        boot_st32(e + 20, e820[i].type);
    }
    boot_st32(info + MBI_MMAP_LENGTH, n * MB_MMAP_ENTRY_SIZE);
    boot_st32(info + MBI_MMAP_ADDR, MB_INFO_ADDR + MB_MMAP_OFF);

    ok = machine_add_rom_blob(m, "multiboot info", MB_INFO_ADDR, info,
                              MB_INFO_BLOCK_SIZE, errp);
out:
    g_byte_array_unref(meta);
    return ok;
}

bool x86_multiboot_load(Machine *m, const char *kernel_name,
                        const uint8_t *image, size_t len,
                        const char *modules, const char *append,
                        GError **errp)
{
    long off = multiboot_find_header(image, len);
    uint32_t flags;
    uint64_t entry = 0, high = 0;
    X86CPUState *st = &m->boot_state[0];

    if (off < 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: no multiboot header in the first %d bytes",
                    kernel_name, MB_SEARCH_LIMIT);
        return false;
    }
    flags = boot_ld32(image + off + MBH_FLAGS);
    if ((uint32_t)(MB_HEADER_MAGIC + flags +
                   boot_ld32(image + off + MBH_CHECKSUM)) != 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: multiboot header at offset 0x%lx has a bad "
                    "checksum", kernel_name, off);
        return false;
    }
    if (flags & 0xffff & ~MB_FLAGS_UNDERSTOOD) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_UNSUPPORTED,
                    "%s: multiboot kernel requires features lemu does not "
                    "provide (header flags 0x%x)", kernel_name, flags);
        return false;
    }

    if (flags & MB_FLAG_AOUT_KLUDGE) {
        if (!multiboot_load_aout(m, kernel_name, image, len, off, &entry,
                                 &high, errp)) {
            return false;
        }
    } else if (x86_elf_probe(image, len)) {
        if (!x86_elf_load(m, kernel_name, image, len, false, &entry, &high,
                          errp)) {
            return false;
        }
    } else {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: multiboot kernel is not an ELF file and has no "
                    "load addresses (header flag 16)", kernel_name);
        return false;
    }

    if (!multiboot_load_info(m, kernel_name, modules, append, high, errp)) {
        return false;
    }

    x86_cpu_state_reset(st, true);
    x86_cpu_state_set_flat32(st, entry);
    if (!x86_boot_add_gdt(m, false, st, errp)) {
        return false;
    }
    st->regs[R_EAX] = MB_BOOTLOADER_MAGIC;
    st->regs[R_EBX] = MB_INFO_ADDR;
    m->has_boot_state[0] = true;
    return true;
}
