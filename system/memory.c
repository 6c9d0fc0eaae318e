/*
 * Guest physical memory map: a sorted array of non-overlapping regions,
 * looked up by binary search. Also the IoOps access-size dispatcher that
 * MMIO and port I/O share (io-dispatch.h).
 *
 * Addresses are 64-bit and a region may end exactly at 2^64, so region
 * ends are never computed as base + size; "gpa - base < size" is used
 * instead, which cannot overflow.
 */
#include <inttypes.h>
#include <string.h>
#include "lemu/system/memory.h"
#include "lemu/util/log.h"
#include "system/io-dispatch.h"

struct MemoryMap {
    GPtrArray *regions;   /* MemoryRegion *, sorted by base, owned */
};

/* ---- IoOps dispatch ---------------------------------------------------- */

static bool io_size_valid(unsigned size)
{
    return size == 0 || size == 1 || size == 2 || size == 4 || size == 8;
}

bool io_ops_check(const IoOps *ops, const char *what, GError **errp)
{
    if (!ops) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: no access callbacks given", what);
        return false;
    }
    if (!io_size_valid(ops->impl_min) || !io_size_valid(ops->impl_max) ||
        (ops->impl_min ? ops->impl_min : 1) >
        (ops->impl_max ? ops->impl_max : 4)) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: access sizes %u..%u are invalid, expected 1, 2, 4 "
                    "or 8 with impl_min <= impl_max", what,
                    ops->impl_min, ops->impl_max);
        return false;
    }
    return true;
}

static void io_impl_sizes(const IoOps *ops, unsigned *min, unsigned *max)
{
    *min = ops->impl_min ? ops->impl_min : 1;
    *max = ops->impl_max ? ops->impl_max : 4;
    if (*max < *min) {          /* rejected by io_ops_check; stay safe */
        *max = *min;
    }
}

/*
 * The size of the device access that serves byte @pos of [pos, end): the
 * largest implemented size that is aligned at @pos and does not run past
 * @end, but never below impl_min (then the unit starts before @pos or ends
 * after @end and the access is widened).
 */
static unsigned io_unit_size(unsigned min, unsigned max, uint64_t pos,
                             uint64_t end)
{
    unsigned s = max;

    while (s > min && ((pos & (s - 1)) != 0 || s > end - pos)) {
        s >>= 1;
    }
    return s;
}

uint64_t io_dispatch_read(const IoOps *ops, void *opaque,
                          uint64_t region_size, uint64_t offset,
                          unsigned size)
{
    uint64_t result, pos, end;
    unsigned min, max;

    if (size > 8) {
        size = 8;
    }
    result = io_size_mask(size);
    if (size == 0 || offset >= region_size) {
        return result;
    }
    io_impl_sizes(ops, &min, &max);
    pos = offset;
    end = offset + MIN((uint64_t)size, region_size - offset);
    while (pos < end) {
        unsigned s = io_unit_size(min, max, pos, end);
        uint64_t base = pos & ~(uint64_t)(s - 1);
        unsigned skip = pos - base;
        unsigned n = MIN(s - skip, end - pos);
        unsigned shift = (pos - offset) * 8;
        uint64_t v = ops->read ? ops->read(opaque, base, s) : 0;

        v = (v >> (skip * 8)) & io_size_mask(n);
        result &= ~(io_size_mask(n) << shift);
        result |= v << shift;
        pos += n;
    }
    return result;
}

void io_dispatch_write(const IoOps *ops, void *opaque, uint64_t region_size,
                       uint64_t offset, unsigned size, uint64_t value)
{
    uint64_t pos, end;
    unsigned min, max;

    if (size > 8) {
        size = 8;
    }
    if (size == 0 || offset >= region_size || !ops->write) {
        return;
    }
    io_impl_sizes(ops, &min, &max);
    pos = offset;
    end = offset + MIN((uint64_t)size, region_size - offset);
    while (pos < end) {
        unsigned s = io_unit_size(min, max, pos, end);
        uint64_t base = pos & ~(uint64_t)(s - 1);
        unsigned skip = pos - base;
        unsigned n = MIN(s - skip, end - pos);
        uint64_t v = (value >> ((pos - offset) * 8)) & io_size_mask(n);

        /* Widened writes carry zeros in the bytes the guest did not write. */
        ops->write(opaque, base, v << (skip * 8), s);
        pos += n;
    }
}

/* ---- The map ----------------------------------------------------------- */

static const char *region_kind_name(MemoryRegionKind kind)
{
    switch (kind) {
    case MEM_RAM:
        return "RAM";
    case MEM_ROM:
        return "ROM";
    case MEM_MMIO:
        return "MMIO";
    }
    return "?";
}

static uint64_t region_last(const MemoryRegion *mr)
{
    return mr->base + (mr->size - 1);
}

static bool region_contains(const MemoryRegion *mr, uint64_t gpa)
{
    return gpa >= mr->base && gpa - mr->base < mr->size;
}

static void region_free(MemoryRegion *mr)
{
    g_free(mr->name);
    g_free(mr);
}

MemoryMap *memory_map_new(void)
{
    MemoryMap *map = g_new0(MemoryMap, 1);

    map->regions = g_ptr_array_new_with_free_func((GDestroyNotify)region_free);
    return map;
}

void memory_map_free(MemoryMap *map)
{
    if (!map) {
        return;
    }
    g_ptr_array_free(map->regions, TRUE);
    g_free(map);
}

static MemoryRegion *region_get(MemoryMap *map, guint i)
{
    return g_ptr_array_index(map->regions, i);
}

/* The number of regions whose base is <= @gpa: the index where a region
 * at @gpa would be inserted, and one past the only candidate holding it. */
static guint region_upper_bound(MemoryMap *map, uint64_t gpa)
{
    guint lo = 0, hi = map->regions->len;

    while (lo < hi) {
        guint mid = lo + (hi - lo) / 2;

        if (region_get(map, mid)->base <= gpa) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

static MemoryRegion *region_find(MemoryMap *map, uint64_t gpa)
{
    guint i = region_upper_bound(map, gpa);
    MemoryRegion *mr;

    if (i == 0) {
        return NULL;
    }
    mr = region_get(map, i - 1);
    return region_contains(mr, gpa) ? mr : NULL;
}

static bool region_overlaps(const MemoryRegion *a, const MemoryRegion *b)
{
    return a->base <= region_last(b) && b->base <= region_last(a);
}

static void set_overlap_error(GError **errp, const MemoryRegion *mr,
                              const MemoryRegion *other)
{
    g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                "memory region '%s' [0x%" PRIx64 "-0x%" PRIx64 "] overlaps "
                "'%s' [0x%" PRIx64 "-0x%" PRIx64 "]",
                mr->name, mr->base, region_last(mr),
                other->name, other->base, region_last(other));
}

static MemoryRegion *memory_map_add(MemoryMap *map, MemoryRegion *mr,
                                    GError **errp)
{
    guint i;

    if (mr->size == 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "memory region '%s' at 0x%" PRIx64 " has size 0",
                    mr->name, mr->base);
        goto fail;
    }
    if (mr->size - 1 > UINT64_MAX - mr->base) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "memory region '%s' at 0x%" PRIx64 " of size 0x%" PRIx64
                    " runs past the end of the address space",
                    mr->name, mr->base, mr->size);
        goto fail;
    }
    i = region_upper_bound(map, mr->base);
    if (i > 0 && region_overlaps(mr, region_get(map, i - 1))) {
        set_overlap_error(errp, mr, region_get(map, i - 1));
        goto fail;
    }
    if (i < map->regions->len && region_overlaps(mr, region_get(map, i))) {
        set_overlap_error(errp, mr, region_get(map, i));
        goto fail;
    }
    g_ptr_array_insert(map->regions, i, mr);
    return mr;

fail:
    region_free(mr);
    return NULL;
}

static MemoryRegion *region_new(const char *name, MemoryRegionKind kind,
                                uint64_t base, uint64_t size)
{
    MemoryRegion *mr = g_new0(MemoryRegion, 1);

    mr->name = g_strdup(name ? name : "(unnamed)");
    mr->kind = kind;
    mr->base = base;
    mr->size = size;
    return mr;
}

static MemoryRegion *memory_map_add_host(MemoryMap *map, const char *name,
                                         MemoryRegionKind kind,
                                         uint64_t base, uint64_t size,
                                         void *host, GError **errp)
{
    MemoryRegion *mr;

    if (!host) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s region '%s' has no host memory",
                    region_kind_name(kind), name ? name : "(unnamed)");
        return NULL;
    }
    mr = region_new(name, kind, base, size);
    mr->host = host;
    return memory_map_add(map, mr, errp);
}

MemoryRegion *memory_map_add_ram(MemoryMap *map, const char *name,
                                 uint64_t base, uint64_t size, void *host,
                                 GError **errp)
{
    return memory_map_add_host(map, name, MEM_RAM, base, size, host, errp);
}

MemoryRegion *memory_map_add_rom(MemoryMap *map, const char *name,
                                 uint64_t base, uint64_t size, void *host,
                                 GError **errp)
{
    return memory_map_add_host(map, name, MEM_ROM, base, size, host, errp);
}

MemoryRegion *memory_map_add_mmio(MemoryMap *map, const char *name,
                                  uint64_t base, uint64_t size,
                                  const IoOps *ops, void *opaque,
                                  GError **errp)
{
    MemoryRegion *mr;
    g_autofree char *what = g_strdup_printf("MMIO region '%s'",
                                            name ? name : "(unnamed)");

    if (!io_ops_check(ops, what, errp)) {
        return NULL;
    }
    mr = region_new(name, MEM_MMIO, base, size);
    mr->ops = ops;
    mr->opaque = opaque;
    return memory_map_add(map, mr, errp);
}

void memory_map_remove(MemoryMap *map, MemoryRegion *mr)
{
    if (mr) {
        g_ptr_array_remove(map->regions, mr);
    }
}

guint memory_map_count(MemoryMap *map)
{
    return map->regions->len;
}

const MemoryRegion *memory_map_region_at(MemoryMap *map, guint i)
{
    return i < map->regions->len ? region_get(map, i) : NULL;
}

const MemoryRegion *memory_map_lookup(MemoryMap *map, uint64_t gpa)
{
    return region_find(map, gpa);
}

void *memory_map_ram_ptr(MemoryMap *map, uint64_t gpa, uint64_t len,
                         bool allow_rom)
{
    MemoryRegion *mr = region_find(map, gpa);
    uint64_t offset;

    if (!mr || !(mr->kind == MEM_RAM || (allow_rom && mr->kind == MEM_ROM))) {
        return NULL;
    }
    if (len == 0) {
        len = 1;
    }
    offset = gpa - mr->base;
    if (len > mr->size - offset) {
        return NULL;
    }
    return mr->host + offset;
}

/* ---- Byte-granular access ---------------------------------------------- */

static void bytes_to_le(uint8_t *buf, uint64_t value, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        buf[i] = value >> (i * 8);
    }
}

static uint64_t le_to_bytes(const uint8_t *buf, unsigned n)
{
    uint64_t value = 0;

    for (unsigned i = 0; i < n; i++) {
        value |= (uint64_t)buf[i] << (i * 8);
    }
    return value;
}

/* Reads or writes @n bytes at @offset of MMIO region @mr, in chunks of at
 * most 8 bytes that do not cross an 8-byte boundary of the region. */
static void mmio_access(MemoryRegion *mr, uint64_t offset, uint8_t *buf,
                        uint64_t n, bool is_write)
{
    while (n > 0) {
        unsigned chunk = MIN(n, 8 - (offset & 7));

        if (is_write) {
            io_dispatch_write(mr->ops, mr->opaque, mr->size, offset, chunk,
                              le_to_bytes(buf, chunk));
        } else {
            bytes_to_le(buf, io_dispatch_read(mr->ops, mr->opaque, mr->size,
                                              offset, chunk), chunk);
        }
        offset += chunk;
        buf += chunk;
        n -= chunk;
    }
}

/*
 * The common walk of memory_map_read/write and dispatch: transfers
 * [gpa, gpa + len) region by region. Unmapped bytes read as 0xff and
 * writes to them or to ROM are dropped. Bytes past the top of the address
 * space are unmapped (no wrap-around). Sets *@any_mapped when at least one
 * byte was mapped; returns whether all were.
 */
static bool memory_map_access(MemoryMap *map, uint64_t gpa, uint8_t *buf,
                              uint64_t len, bool is_write, bool *any_mapped)
{
    bool all_mapped = true;

    *any_mapped = false;
    if (len > 0 && len - 1 > UINT64_MAX - gpa) {
        /* The part past 2^64 is unmapped. */
        uint64_t inside = UINT64_MAX - gpa + 1;   /* gpa > 0 here */

        if (!is_write) {
            memset(buf + inside, 0xff, len - inside);
        }
        len = inside;
        all_mapped = false;
    }

    while (len > 0) {
        guint i = region_upper_bound(map, gpa);
        MemoryRegion *mr = i > 0 ? region_get(map, i - 1) : NULL;
        uint64_t n;

        if (!mr || !region_contains(mr, gpa)) {
            /* Unmapped up to the next region, if it is within reach. */
            n = len;
            if (i < map->regions->len) {
                n = MIN(n, region_get(map, i)->base - gpa);
            }
            if (!is_write) {
                memset(buf, 0xff, n);
            }
            all_mapped = false;
        } else {
            uint64_t offset = gpa - mr->base;

            n = MIN(len, mr->size - offset);
            *any_mapped = true;
            switch (mr->kind) {
            case MEM_RAM:
                if (is_write) {
                    memcpy(mr->host + offset, buf, n);
                } else {
                    memcpy(buf, mr->host + offset, n);
                }
                break;
            case MEM_ROM:
                if (is_write) {
                    lemu_log_mask(LOG_GUEST_ERROR,
                                  "write of %" PRIu64 " bytes to ROM '%s' "
                                  "at 0x%" PRIx64 " ignored\n",
                                  n, mr->name, gpa);
                } else {
                    memcpy(buf, mr->host + offset, n);
                }
                break;
            case MEM_MMIO:
                mmio_access(mr, offset, buf, n, is_write);
                break;
            }
        }
        buf += n;
        gpa += n;   /* may wrap to 0 on the last chunk; len is 0 then */
        len -= n;
    }
    return all_mapped;
}

bool memory_map_read(MemoryMap *map, uint64_t gpa, void *buf, uint64_t len)
{
    bool any;

    return memory_map_access(map, gpa, buf, len, false, &any);
}

bool memory_map_write(MemoryMap *map, uint64_t gpa, const void *buf,
                      uint64_t len)
{
    bool any;

    /* The walk does not write to @buf when is_write is set. */
    return memory_map_access(map, gpa, (uint8_t *)buf, len, true, &any);
}

bool memory_map_load(MemoryMap *map, uint64_t gpa, const void *buf,
                     uint64_t len, GError **errp)
{
    uint64_t pos = gpa, left = len;

    if (len == 0) {
        return true;
    }
    if (len - 1 > UINT64_MAX - gpa) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "cannot load 0x%" PRIx64 " bytes at 0x%" PRIx64
                    ": the range runs past the end of the address space",
                    len, gpa);
        return false;
    }

    /* Check everything first so that a failed load writes nothing. */
    while (left > 0) {
        MemoryRegion *mr = region_find(map, pos);
        uint64_t n;

        if (!mr || mr->kind == MEM_MMIO) {
            guint i = region_upper_bound(map, pos);
            uint64_t bad = left;

            if (mr) {
                bad = MIN(left, mr->size - (pos - mr->base));
            } else if (i < map->regions->len) {
                bad = MIN(left, region_get(map, i)->base - pos);
            }
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "cannot load 0x%" PRIx64 " bytes at 0x%" PRIx64
                        ": [0x%" PRIx64 "-0x%" PRIx64 "] is %s, not RAM "
                        "or ROM", len, gpa, pos, pos + (bad - 1),
                        mr ? "MMIO" : "unmapped");
            return false;
        }
        n = MIN(left, mr->size - (pos - mr->base));
        pos += n;
        left -= n;
    }

    pos = gpa;
    left = len;
    while (left > 0) {
        MemoryRegion *mr = region_find(map, pos);
        uint64_t n = MIN(left, mr->size - (pos - mr->base));

        memcpy(mr->host + (pos - mr->base), buf, n);
        buf = (const uint8_t *)buf + n;
        pos += n;
        left -= n;
    }
    return true;
}

bool memory_map_dispatch_read(MemoryMap *map, uint64_t gpa, unsigned size,
                              uint64_t *value)
{
    uint8_t buf[8];
    bool any;

    if (size == 0 || size > 8) {
        lemu_log_mask(LOG_GUEST_ERROR, "memory read of invalid size %u at "
                      "0x%" PRIx64 "\n", size, gpa);
        *value = UINT64_MAX;
        return false;
    }
    memory_map_access(map, gpa, buf, size, false, &any);
    *value = le_to_bytes(buf, size);
    return any;
}

bool memory_map_dispatch_write(MemoryMap *map, uint64_t gpa, unsigned size,
                               uint64_t value)
{
    uint8_t buf[8];
    bool any;

    if (size == 0 || size > 8) {
        lemu_log_mask(LOG_GUEST_ERROR, "memory write of invalid size %u at "
                      "0x%" PRIx64 "\n", size, gpa);
        return false;
    }
    bytes_to_le(buf, value, size);
    memory_map_access(map, gpa, buf, size, true, &any);
    return any;
}
