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

/* The e820 map matching m's memory map; returns the number of entries. */
unsigned x86_build_e820(Machine *m, E820Entry *out, unsigned max);

/*
 * Loads m->cfg.kernel (with initrd and append): a bzImage through the
 * Linux boot protocol, else a multiboot kernel, else an error saying the
 * file is neither.
 */
bool x86_load_kernel(Machine *m, GError **errp);

bool x86_linux_probe(const uint8_t *image, size_t len);
bool x86_linux_load(Machine *m, const uint8_t *image, size_t len,
                    const char *initrd, const char *cmdline, GError **errp);

bool x86_multiboot_probe(const uint8_t *image, size_t len);
bool x86_multiboot_load(Machine *m, const uint8_t *image, size_t len,
                        const char *modules, const char *cmdline,
                        GError **errp);

#endif
