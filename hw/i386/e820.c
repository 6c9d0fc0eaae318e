/*
 * The BIOS e820 memory map of the pc machine, as a kernel-direct boot
 * hands it to the guest (Linux zero page, multiboot mmap).
 *
 * RAM below 640 KiB minus the EBDA, RAM from 1 MiB to the end of low RAM,
 * RAM above 4 GiB; reserved: the EBDA (0x9fc00-0xa0000), the system BIOS
 * area (0xf0000-0x100000) and every ROM region of the memory map (a BIOS
 * image at 0xfffc0000, option ROMs), as QEMU reports them. The LAPIC and
 * IOAPIC windows are left out: guests find them through ACPI/MP tables,
 * and QEMU does not list them either.
 */
#include "lemu/hw/i386/boot.h"
#include "lemu/hw/i386/pc.h"
#include "lemu/system/machine.h"

static void e820_add(GArray *map, uint64_t addr, uint64_t size, uint32_t type)
{
    E820Entry e = { .addr = addr, .size = size, .type = type };

    if (size) {
        g_array_append_val(map, e);
    }
}

static gint e820_compare(gconstpointer a, gconstpointer b)
{
    const E820Entry *x = a, *y = b;

    return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* Sorts and folds overlapping or touching reserved ranges into one. */
static void e820_sort_merge(GArray *map)
{
    guint out = 0;

    g_array_sort(map, e820_compare);
    for (guint i = 0; i < map->len; i++) {
        E820Entry cur = g_array_index(map, E820Entry, i);
        E820Entry *prev = out ? &g_array_index(map, E820Entry, out - 1)
                              : NULL;

        if (prev && prev->type == E820_RESERVED &&
            cur.type == E820_RESERVED && cur.addr <= prev->addr + prev->size) {
            uint64_t end = MAX(prev->addr + prev->size, cur.addr + cur.size);
            prev->size = end - prev->addr;
            continue;
        }
        g_array_index(map, E820Entry, out++) = cur;
    }
    g_array_set_size(map, out);
}

unsigned x86_build_e820(Machine *m, E820Entry *out, unsigned max)
{
    GArray *map = g_array_new(FALSE, FALSE, sizeof(E820Entry));
    uint64_t below = MIN(m->below_4g_size, PC_4G);
    unsigned n;

    e820_add(map, 0, MIN(below, E820_EBDA_START), E820_RAM);
    if (below > E820_EBDA_START) {
        e820_add(map, E820_EBDA_START, PC_LOW_RAM_END - E820_EBDA_START,
                 E820_RESERVED);
    }
    e820_add(map, E820_BIOS_START, PC_HIGH_RAM_START - E820_BIOS_START,
             E820_RESERVED);
    if (below > PC_HIGH_RAM_START) {
        e820_add(map, PC_HIGH_RAM_START, below - PC_HIGH_RAM_START, E820_RAM);
    }
    e820_add(map, PC_4G, m->above_4g_size, E820_RAM);

    for (guint i = 0; m->mem && i < memory_map_count(m->mem); i++) {
        const MemoryRegion *mr = memory_map_region_at(m->mem, i);
        if (mr->kind == MEM_ROM) {
            e820_add(map, mr->base, mr->size, E820_RESERVED);
        }
    }
    e820_sort_merge(map);

    n = MIN(map->len, max);
    if (n) {
        memcpy(out, map->data, n * sizeof(E820Entry));
    }
    g_array_free(map, TRUE);
    return n;
}
