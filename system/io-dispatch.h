/*
 * The access-size adapter between a guest access and a device's IoOps,
 * shared by the MMIO map (memory.c) and the port map (ioport.c).
 *
 * A device declares the access sizes its callbacks implement
 * (impl_min..impl_max, 0 meaning 1 and 4). The dispatcher turns any access
 * of 1..8 bytes inside a region into calls of those sizes only, each one
 * naturally aligned:
 *
 * - An access wider than the device implements is split into pieces of up
 *   to impl_max bytes, assembled little-endian.
 * - An access narrower than impl_min (or misaligned for it) is widened to
 *   the aligned impl_min-sized unit that contains it. Reads take the bytes
 *   they need out of the wider value. Writes are widened too, without a
 *   read-modify-write (reading a device register may have side effects):
 *   the device sees the guest's bytes at their place in the unit and zeros
 *   in the other bytes, as QEMU does.
 *
 * The device is never called with an offset at or past the region size,
 * and a missing read callback reads 0, a missing write callback ignores
 * the write.
 */
#ifndef SYSTEM_IO_DISPATCH_H
#define SYSTEM_IO_DISPATCH_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>
#include "lemu/system/memory.h"

/* Fails naming @what when @ops declares sizes other than 1, 2, 4, 8 or a
 * minimum above the maximum. */
bool io_ops_check(const IoOps *ops, const char *what, GError **errp);

/*
 * Reads @size (1..8) bytes at @offset of a region of @region_size bytes.
 * Bytes at or past @region_size are not passed to the device and read as
 * 0xff.
 */
uint64_t io_dispatch_read(const IoOps *ops, void *opaque,
                          uint64_t region_size, uint64_t offset,
                          unsigned size);
/* Writes @size (1..8) bytes of @value (little-endian) at @offset; bytes at
 * or past @region_size are dropped. */
void io_dispatch_write(const IoOps *ops, void *opaque, uint64_t region_size,
                       uint64_t offset, unsigned size, uint64_t value);

/* All ones in the low @size bytes (@size 0..8). */
static inline uint64_t io_size_mask(unsigned size)
{
    return size >= 8 ? UINT64_MAX : (UINT64_C(1) << (size * 8)) - 1;
}

#endif
