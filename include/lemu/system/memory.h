/*
 * Guest physical memory map and port I/O map.
 *
 * Memory is a sorted list of non-overlapping regions: RAM and ROM backed by
 * host memory, MMIO backed by callbacks. Port I/O is a second map over
 * 0..0xffff. Both maps change only before the vCPUs start or while they are
 * all paused, so lookups from vCPU threads need no lock. Callbacks of MMIO
 * and port regions run with the machine lock held.
 *
 * Every address that comes from the guest goes through these functions,
 * which range-check it: a bad address is a guest error, never a host access
 * outside guest memory.
 */
#ifndef LEMU_SYSTEM_MEMORY_H
#define LEMU_SYSTEM_MEMORY_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

/*
 * Device access callbacks, shared by MMIO and port regions. @offset is
 * relative to the region base. impl_min/impl_max declare the access sizes
 * (1, 2, 4 or 8) the callbacks implement; the dispatcher splits a wider
 * guest access into several (little-endian) and widens a narrower one, so
 * handlers never check sizes themselves. 0 means 1 for impl_min and 4 for
 * impl_max.
 */
typedef struct IoOps {
    uint64_t (*read)(void *opaque, uint64_t offset, unsigned size);
    void (*write)(void *opaque, uint64_t offset, uint64_t value,
                  unsigned size);
    unsigned impl_min;
    unsigned impl_max;
} IoOps;

typedef enum {
    MEM_RAM,
    MEM_ROM,     /* guest writes are ignored (and logged) */
    MEM_MMIO,
} MemoryRegionKind;

typedef struct MemoryRegion {
    char *name;
    MemoryRegionKind kind;
    uint64_t base;
    uint64_t size;
    uint8_t *host;           /* RAM and ROM: host memory, not owned */
    const IoOps *ops;        /* MMIO */
    void *opaque;
} MemoryRegion;

typedef struct MemoryMap MemoryMap;

MemoryMap *memory_map_new(void);
void memory_map_free(MemoryMap *map);

/* Each fails, naming both regions, if the new one overlaps another. */
MemoryRegion *memory_map_add_ram(MemoryMap *map, const char *name,
                                 uint64_t base, uint64_t size, void *host,
                                 GError **errp);
MemoryRegion *memory_map_add_rom(MemoryMap *map, const char *name,
                                 uint64_t base, uint64_t size, void *host,
                                 GError **errp);
MemoryRegion *memory_map_add_mmio(MemoryMap *map, const char *name,
                                  uint64_t base, uint64_t size,
                                  const IoOps *ops, void *opaque,
                                  GError **errp);
void memory_map_remove(MemoryMap *map, MemoryRegion *mr);

/* Regions in address order, for KVM slots, the e820 map and info mtree. */
guint memory_map_count(MemoryMap *map);
const MemoryRegion *memory_map_region_at(MemoryMap *map, guint i);
const MemoryRegion *memory_map_lookup(MemoryMap *map, uint64_t gpa);

/*
 * Host pointer for [gpa, gpa + len) when the whole range lies in one RAM
 * region (ROM too when @allow_rom), else NULL. len == 0 is treated as 1.
 */
void *memory_map_ram_ptr(MemoryMap *map, uint64_t gpa, uint64_t len,
                         bool allow_rom);

/*
 * Byte-granular access on behalf of a device or the guest (DMA, boot
 * structures, debugger): RAM, ROM and MMIO, split across regions. Returns
 * false if any byte is unmapped; the bytes that are mapped are still
 * transferred and unmapped ones read as 0xff. Writes to ROM are dropped.
 */
bool memory_map_read(MemoryMap *map, uint64_t gpa, void *buf, uint64_t len);
bool memory_map_write(MemoryMap *map, uint64_t gpa, const void *buf,
                      uint64_t len);
/* For boot loaders: writes RAM or ROM contents; fails naming the range when
 * any of it is not backed by RAM/ROM. */
bool memory_map_load(MemoryMap *map, uint64_t gpa, const void *buf,
                     uint64_t len, GError **errp);

/*
 * One guest load or store of @size bytes (1, 2, 4, 8) that missed RAM, as
 * a vCPU's MMIO exit. Returns false when nothing is mapped there (reads
 * give all ones); the caller decides whether that is a guest error.
 */
bool memory_map_dispatch_read(MemoryMap *map, uint64_t gpa, unsigned size,
                              uint64_t *value);
bool memory_map_dispatch_write(MemoryMap *map, uint64_t gpa, unsigned size,
                               uint64_t value);

/* Port I/O. */
typedef struct IoPortMap IoPortMap;

IoPortMap *ioport_map_new(void);
void ioport_map_free(IoPortMap *map);
/* Claims ports [base, base + len); fails naming the owner on a conflict. */
bool ioport_register(IoPortMap *map, const char *name, uint16_t base,
                     uint32_t len, const IoOps *ops, void *opaque,
                     GError **errp);
void ioport_unregister(IoPortMap *map, uint16_t base);
/* Unassigned ports read as all ones and ignore writes. @size is 1, 2 or 4.
 * Return false for an unassigned port. */
bool ioport_read(IoPortMap *map, uint16_t port, unsigned size,
                 uint32_t *value);
bool ioport_write(IoPortMap *map, uint16_t port, unsigned size,
                  uint32_t value);

/* Walks the registered port ranges in order, for info mtree. */
typedef void IoPortVisitFunc(void *opaque, const char *name, uint16_t base,
                             uint32_t len);
void ioport_map_foreach(IoPortMap *map, IoPortVisitFunc *fn, void *opaque);

#endif
