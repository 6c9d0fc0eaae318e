/*
 * Boot loaders of the pc machine: the Linux x86 boot protocol (bzImage),
 * multiboot v1 (ELF and a.out kludge) and raw images (-device loader).
 * They load the images as ROM blobs (re-copied at every reset) and set the
 * boot state of the vCPUs in the Machine.
 */
#ifndef LEMU_HW_I386_BOOT_H
#define LEMU_HW_I386_BOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <glib.h>
#include "lemu/accel/x86-cpu.h"

typedef struct Machine Machine;

/* e820 types */
#define E820_RAM       1
#define E820_RESERVED  2
#define E820_ACPI      3

typedef struct E820Entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
} __attribute__((packed)) E820Entry;

/* Reserved ranges of the pc e820 map (besides the 640 KiB - 1 MiB hole). */
#define E820_EBDA_START  0x9fc00ULL     /* extended BIOS data area */
#define E820_BIOS_START  0xf0000ULL     /* system BIOS area up to 1 MiB */

/*
 * The e820 map matching m's memory layout (below_4g_size, above_4g_size,
 * ROM regions of m->mem), sorted by address; writes at most @max entries
 * and returns how many it wrote.
 */
unsigned x86_build_e820(Machine *m, E820Entry *out, unsigned max);

/*
 * Loads m->cfg.kernel (with initrd and append): a bzImage through the
 * Linux boot protocol, else a multiboot kernel, else an error saying the
 * file is neither. Does nothing when no kernel is configured.
 */
bool x86_load_kernel(Machine *m, GError **errp);

/*
 * Linux boot protocol 2.06+: loads the protected-mode kernel, the initrd
 * file @initrd (NULL: none) and the zero page with @cmdline (NULL: empty),
 * and sets the BSP's boot state to the 64-bit (or 32-bit) entry.
 * @kernel_name names the image in error messages.
 */
bool x86_linux_probe(const uint8_t *image, size_t len);
bool x86_linux_load(Machine *m, const char *kernel_name,
                    const uint8_t *image, size_t len,
                    const char *initrd, const char *cmdline, GError **errp);

/*
 * Multiboot v1. @modules is QEMU's -initrd list for multiboot:
 * "file1 args,file2 args" with ",," for a literal comma (NULL: none).
 * The kernel's command line is "@kernel_name @append", as QEMU passes it.
 */
bool x86_multiboot_probe(const uint8_t *image, size_t len);
bool x86_multiboot_load(Machine *m, const char *kernel_name,
                        const uint8_t *image, size_t len,
                        const char *modules, const char *append,
                        GError **errp);

/* Helpers shared by the loaders (hw/i386/x86-boot.c). */

/* Little-endian loads and stores on image and boot-structure buffers. */
static inline uint16_t boot_ld16(const uint8_t *p)
{
    return p[0] | (uint16_t)p[1] << 8;
}
static inline uint32_t boot_ld32(const uint8_t *p)
{
    return boot_ld16(p) | (uint32_t)boot_ld16(p + 2) << 16;
}
static inline uint64_t boot_ld64(const uint8_t *p)
{
    return boot_ld32(p) | (uint64_t)boot_ld32(p + 4) << 32;
}
static inline void boot_st16(uint8_t *p, uint16_t v)
{
    p[0] = v;
    p[1] = v >> 8;
}
static inline void boot_st32(uint8_t *p, uint32_t v)
{
    boot_st16(p, v);
    boot_st16(p + 2, v >> 16);
}
static inline void boot_st64(uint8_t *p, uint64_t v)
{
    boot_st32(p, v);
    boot_st32(p + 4, v >> 32);
}

/*
 * Maps file @path for loading into the guest; fails with a message naming
 * @what ("initrd", "kernel") and the path when it cannot be read or is
 * larger than guest RAM.
 */
GBytes *x86_boot_read_file(Machine *m, const char *what, const char *path,
                           GError **errp);

/* Where the loaders put the flat boot GDT: null, null, code at 0x10 and
 * data at 0x18 (Linux's __BOOT_CS/__BOOT_DS). */
#define X86_BOOT_GDT_ADDR  0x500ULL

/* Adds the boot GDT blob (64-bit code segment when @code64) and points
 * st->gdt at it. */
bool x86_boot_add_gdt(Machine *m, bool code64, X86CPUState *st,
                      GError **errp);

bool x86_elf_probe(const uint8_t *image, size_t len);
/*
 * Loads the PT_LOAD segments of a little-endian x86 ELF (ELF32 EM_386, or
 * ELF64 EM_X86_64 when @allow_elf64) at their physical addresses as ROM
 * blobs named after @name, with their bss zeroed. *entry gets the entry
 * point (translated to a physical address when it lies in a segment's
 * virtual range) and *high the end of the highest segment.
 */
bool x86_elf_load(Machine *m, const char *name, const uint8_t *image,
                  size_t len, bool allow_elf64, uint64_t *entry,
                  uint64_t *high, GError **errp);

#endif
