/*
 * Kernel loading for the pc machine: picks the boot protocol of -kernel
 * (Linux bzImage, then multiboot), and the helpers the loaders share:
 * reading files, the flat boot GDT and a small ELF segment loader.
 */
#include <elf.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include "lemu/hw/i386/boot.h"
#include "lemu/system/machine.h"
#include "lemu/util/log.h"

GBytes *x86_boot_read_file(Machine *m, const char *what, const char *path,
                           GError **errp)
{
    GMappedFile *mf;
    GBytes *bytes;
    GError *err = NULL;
    struct stat sb;

    if (stat(path, &sb) < 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_NOT_FOUND,
                    "%s '%s': %s", what, path, g_strerror(errno));
        return NULL;
    }
    if (!S_ISREG(sb.st_mode)) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s '%s': not a regular file", what, path);
        return NULL;
    }
    if ((uint64_t)sb.st_size > m->ram_size) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s '%s' (%" G_GUINT64_FORMAT " bytes) is larger than "
                    "guest RAM (%" G_GUINT64_FORMAT " bytes)", what, path,
                    (uint64_t)sb.st_size, m->ram_size);
        return NULL;
    }
    mf = g_mapped_file_new(path, FALSE, &err);
    if (!mf) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID, "%s '%s': %s",
                    what, path, err->message);
        g_error_free(err);
        return NULL;
    }
    bytes = g_mapped_file_get_bytes(mf);
    g_mapped_file_unref(mf);
    return bytes;
}

bool x86_boot_add_gdt(Machine *m, bool code64, X86CPUState *st,
                      GError **errp)
{
    /* Flat 4 GiB descriptors, accessed bit set so the CPU never writes
     * them back: code 0x10 (64-bit with L=1, or 32-bit with D=1), data
     * 0x18 read/write. Entries 0 and 0x08 stay null. */
    const uint64_t code = code64 ? 0x00af9b000000ffffULL
                                 : 0x00cf9b000000ffffULL;
    const uint64_t data = 0x00cf93000000ffffULL;
    uint8_t gdt[4 * 8] = { 0 };

    boot_st64(gdt + 0x10, code);
    boot_st64(gdt + 0x18, data);
    if (!machine_add_rom_blob(m, "boot GDT", X86_BOOT_GDT_ADDR, gdt,
                              sizeof(gdt), errp)) {
        return false;
    }
    st->gdt.base = X86_BOOT_GDT_ADDR;
    st->gdt.limit = sizeof(gdt) - 1;
    return true;
}

bool x86_elf_probe(const uint8_t *image, size_t len)
{
    return len >= SELFMAG && memcmp(image, ELFMAG, SELFMAG) == 0;
}

/* One PT_LOAD program header, whatever the ELF class. */
typedef struct ElfSegment {
    uint32_t type;
    uint64_t offset, vaddr, paddr, filesz, memsz;
} ElfSegment;

static void elf_read_phdr(const uint8_t *p, bool elf64, ElfSegment *seg)
{
    if (elf64) {
        seg->type = boot_ld32(p + offsetof(Elf64_Phdr, p_type));
        seg->offset = boot_ld64(p + offsetof(Elf64_Phdr, p_offset));
        seg->vaddr = boot_ld64(p + offsetof(Elf64_Phdr, p_vaddr));
        seg->paddr = boot_ld64(p + offsetof(Elf64_Phdr, p_paddr));
        seg->filesz = boot_ld64(p + offsetof(Elf64_Phdr, p_filesz));
        seg->memsz = boot_ld64(p + offsetof(Elf64_Phdr, p_memsz));
    } else {
        seg->type = boot_ld32(p + offsetof(Elf32_Phdr, p_type));
        seg->offset = boot_ld32(p + offsetof(Elf32_Phdr, p_offset));
        seg->vaddr = boot_ld32(p + offsetof(Elf32_Phdr, p_vaddr));
        seg->paddr = boot_ld32(p + offsetof(Elf32_Phdr, p_paddr));
        seg->filesz = boot_ld32(p + offsetof(Elf32_Phdr, p_filesz));
        seg->memsz = boot_ld32(p + offsetof(Elf32_Phdr, p_memsz));
    }
}

/* Checks the segment against the file and guest RAM. */
static bool elf_check_segment(Machine *m, const char *name, unsigned i,
                              const ElfSegment *seg, size_t len, GError **errp)
{
    if (seg->filesz > seg->memsz) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: ELF segment %u has a file size (0x%" G_GINT64_MODIFIER
                    "x) larger than its memory size (0x%" G_GINT64_MODIFIER
                    "x)", name, i, seg->filesz, seg->memsz);
        return false;
    }
    if (seg->offset > len || seg->filesz > len - seg->offset) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: ELF segment %u (offset 0x%" G_GINT64_MODIFIER
                    "x, 0x%" G_GINT64_MODIFIER "x bytes) lies beyond the end "
                    "of the file (%zu bytes)", name, i, seg->offset,
                    seg->filesz, len);
        return false;
    }
    if (seg->paddr + seg->memsz < seg->paddr ||
        !memory_map_ram_ptr(m->mem, seg->paddr, seg->memsz, false)) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: ELF segment %u (0x%" G_GINT64_MODIFIER "x, 0x%"
                    G_GINT64_MODIFIER "x bytes) does not fit in guest RAM",
                    name, i, seg->paddr, seg->memsz);
        return false;
    }
    return true;
}

bool x86_elf_load(Machine *m, const char *name, const uint8_t *image,
                  size_t len, bool allow_elf64, uint64_t *entry,
                  uint64_t *high, GError **errp)
{
    bool elf64;
    uint16_t machine, phentsize, phnum;
    uint64_t phoff, e_entry, top = 0;
    bool loaded = false;

    if (!x86_elf_probe(image, len) || len < EI_NIDENT) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: not an ELF file", name);
        return false;
    }
    elf64 = image[EI_CLASS] == ELFCLASS64;
    if ((image[EI_CLASS] != ELFCLASS32 && !elf64) ||
        image[EI_DATA] != ELFDATA2LSB ||
        len < (elf64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr))) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: not a little-endian ELF32/ELF64 file, or truncated "
                    "ELF header", name);
        return false;
    }
    if (elf64 && !allow_elf64) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_UNSUPPORTED,
                    "%s: 64-bit ELF kernels cannot be loaded this way: give "
                    "a 32-bit ELF", name);
        return false;
    }
    if (elf64) {
        machine = boot_ld16(image + offsetof(Elf64_Ehdr, e_machine));
        e_entry = boot_ld64(image + offsetof(Elf64_Ehdr, e_entry));
        phoff = boot_ld64(image + offsetof(Elf64_Ehdr, e_phoff));
        phentsize = boot_ld16(image + offsetof(Elf64_Ehdr, e_phentsize));
        phnum = boot_ld16(image + offsetof(Elf64_Ehdr, e_phnum));
    } else {
        machine = boot_ld16(image + offsetof(Elf32_Ehdr, e_machine));
        e_entry = boot_ld32(image + offsetof(Elf32_Ehdr, e_entry));
        phoff = boot_ld32(image + offsetof(Elf32_Ehdr, e_phoff));
        phentsize = boot_ld16(image + offsetof(Elf32_Ehdr, e_phentsize));
        phnum = boot_ld16(image + offsetof(Elf32_Ehdr, e_phnum));
    }
    if (machine != (elf64 ? EM_X86_64 : EM_386)) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: ELF machine %u is not %s", name, machine,
                    elf64 ? "x86-64" : "i386");
        return false;
    }
    if (phentsize < (elf64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr)) ||
        phoff > len || (uint64_t)phnum * phentsize > len - phoff) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: ELF program headers (offset 0x%" G_GINT64_MODIFIER
                    "x, %u of %u bytes) lie outside the file", name, phoff,
                    phnum, phentsize);
        return false;
    }

    *entry = e_entry;
    for (unsigned i = 0; i < phnum; i++) {
        ElfSegment seg;
        g_autofree uint8_t *buf = NULL;
        g_autofree char *blob_name = NULL;

        elf_read_phdr(image + phoff + (uint64_t)i * phentsize, elf64, &seg);
        if (seg.type != PT_LOAD || seg.memsz == 0) {
            continue;
        }
        if (!elf_check_segment(m, name, i, &seg, len, errp)) {
            return false;
        }
        /* RAM holds the segment, so memsz is bounded by the RAM size. */
        buf = g_malloc0(seg.memsz);
        memcpy(buf, image + seg.offset, seg.filesz);
        blob_name = g_strdup_printf("%s segment %u", name, i);
        if (!machine_add_rom_blob(m, blob_name, seg.paddr, buf, seg.memsz,
                                  errp)) {
            return false;
        }
        if (e_entry >= seg.vaddr && e_entry - seg.vaddr < seg.memsz) {
            *entry = e_entry - seg.vaddr + seg.paddr;
        }
        top = MAX(top, seg.paddr + seg.memsz);
        loaded = true;
    }
    if (!loaded) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: ELF file has no loadable segment", name);
        return false;
    }
    *high = top;
    return true;
}

bool x86_load_kernel(Machine *m, GError **errp)
{
    const MachineConfig *cfg = &m->cfg;
    g_autoptr(GBytes) bytes = NULL;
    const uint8_t *image;
    size_t len;

    if (!cfg->kernel) {
        if (cfg->initrd || cfg->append) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "-initrd and -append need -kernel");
            return false;
        }
        return true;
    }
    bytes = x86_boot_read_file(m, "kernel", cfg->kernel, errp);
    if (!bytes) {
        return false;
    }
    image = g_bytes_get_data(bytes, &len);
    if (len && x86_linux_probe(image, len)) {
        return x86_linux_load(m, cfg->kernel, image, len, cfg->initrd,
                              cfg->append, errp);
    }
    if (len && x86_multiboot_probe(image, len)) {
        return x86_multiboot_load(m, cfg->kernel, image, len, cfg->initrd,
                                  cfg->append, errp);
    }
    if (len && x86_elf_probe(image, len)) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_UNSUPPORTED,
                    "%s: ELF kernel without a multiboot header; PVH boot "
                    "(an ELF note) is not supported yet", cfg->kernel);
        return false;
    }
    g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                "%s: not a Linux bzImage or multiboot kernel", cfg->kernel);
    return false;
}
