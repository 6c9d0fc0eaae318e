/*
 * Port I/O map over 0..0xffff. Every port points at the range that owns
 * it, so a lookup is one array index. Access sizes are adapted to what the
 * device implements by the shared dispatcher (io-dispatch.h).
 */
#include <inttypes.h>
#include "lemu/system/memory.h"
#include "lemu/util/log.h"
#include "system/io-dispatch.h"

#define IOPORT_COUNT 0x10000u

typedef struct IoPortRange {
    char *name;
    uint16_t base;
    uint32_t len;
    const IoOps *ops;
    void *opaque;
} IoPortRange;

struct IoPortMap {
    IoPortRange *port[IOPORT_COUNT];   /* owner of each port, or NULL */
};

IoPortMap *ioport_map_new(void)
{
    return g_new0(IoPortMap, 1);
}

static void ioport_range_free(IoPortRange *r)
{
    g_free(r->name);
    g_free(r);
}

void ioport_map_free(IoPortMap *map)
{
    if (!map) {
        return;
    }
    for (uint32_t p = 0; p < IOPORT_COUNT;) {
        IoPortRange *r = map->port[p];

        /* Each range once: free it, then step past all of its ports. */
        if (r) {
            p = (uint32_t)r->base + r->len;
            ioport_range_free(r);
        } else {
            p++;
        }
    }
    g_free(map);
}

bool ioport_register(IoPortMap *map, const char *name, uint16_t base,
                     uint32_t len, const IoOps *ops, void *opaque,
                     GError **errp)
{
    g_autofree char *what = NULL;
    IoPortRange *r;

    if (!name) {
        name = "(unnamed)";
    }
    if (len == 0 || len > IOPORT_COUNT - base) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "I/O ports of '%s': %" PRIu32 " ports at 0x%x do not fit "
                    "in 0x0-0xffff (expected 1 to 0x%x ports)",
                    name, len, base, IOPORT_COUNT - base);
        return false;
    }
    what = g_strdup_printf("I/O ports of '%s'", name);
    if (!io_ops_check(ops, what, errp)) {
        return false;
    }
    for (uint32_t p = base; p < base + len; p++) {
        IoPortRange *owner = map->port[p];

        if (owner) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "I/O ports 0x%x-0x%x of '%s' conflict with '%s' at "
                        "0x%x-0x%x", base, base + len - 1, name,
                        owner->name, owner->base,
                        owner->base + owner->len - 1);
            return false;
        }
    }

    r = g_new0(IoPortRange, 1);
    r->name = g_strdup(name);
    r->base = base;
    r->len = len;
    r->ops = ops;
    r->opaque = opaque;
    for (uint32_t p = base; p < base + len; p++) {
        map->port[p] = r;
    }
    return true;
}

void ioport_unregister(IoPortMap *map, uint16_t base)
{
    IoPortRange *r = map->port[base];

    if (!r || r->base != base) {
        return;
    }
    for (uint32_t p = base; p < (uint32_t)base + r->len; p++) {
        map->port[p] = NULL;
    }
    ioport_range_free(r);
}

static bool ioport_size_valid(unsigned size)
{
    return size == 1 || size == 2 || size == 4;
}

/* The owner of port @p, which may be past 0xffff for the upper bytes of
 * an access at the top (those are unassigned: ports do not wrap). */
static IoPortRange *ioport_owner(IoPortMap *map, uint32_t p)
{
    return p < IOPORT_COUNT ? map->port[p] : NULL;
}

/*
 * Splits an access of @size bytes at @port into runs of ports with the
 * same owner, so that an access straddling two devices reaches both, each
 * with its own part. Returns the length of the run that starts at byte @i.
 */
static unsigned ioport_run(IoPortMap *map, uint32_t port, unsigned i,
                           unsigned size)
{
    IoPortRange *r = ioport_owner(map, port + i);
    unsigned n = 1;

    while (i + n < size && ioport_owner(map, port + i + n) == r) {
        n++;
    }
    return n;
}

bool ioport_read(IoPortMap *map, uint16_t port, unsigned size,
                 uint32_t *value)
{
    uint64_t result = 0;
    bool any = false, all = true;

    if (!ioport_size_valid(size)) {
        lemu_log_mask(LOG_GUEST_ERROR, "port read of invalid size %u at "
                      "0x%x\n", size, port);
        *value = UINT32_MAX;
        return false;
    }
    for (unsigned i = 0; i < size;) {
        unsigned n = ioport_run(map, port, i, size);
        IoPortRange *r = ioport_owner(map, (uint32_t)port + i);
        uint64_t v = io_size_mask(n);

        if (r) {
            v = io_dispatch_read(r->ops, r->opaque, r->len,
                                 (uint32_t)port + i - r->base, n);
            any = true;
        } else {
            all = false;
        }
        result |= (v & io_size_mask(n)) << (i * 8);
        i += n;
    }
    if (!all) {
        lemu_log_mask(LOG_IOPORT, "unassigned port read 0x%x size %u "
                      "-> 0x%" PRIx64 "\n", port, size, result);
    }
    *value = result;
    return any;
}

bool ioport_write(IoPortMap *map, uint16_t port, unsigned size,
                  uint32_t value)
{
    bool any = false, all = true;

    if (!ioport_size_valid(size)) {
        lemu_log_mask(LOG_GUEST_ERROR, "port write of invalid size %u at "
                      "0x%x\n", size, port);
        return false;
    }
    for (unsigned i = 0; i < size;) {
        unsigned n = ioport_run(map, port, i, size);
        IoPortRange *r = ioport_owner(map, (uint32_t)port + i);

        if (r) {
            io_dispatch_write(r->ops, r->opaque, r->len,
                              (uint32_t)port + i - r->base, n,
                              (value >> (i * 8)) & io_size_mask(n));
            any = true;
        } else {
            all = false;
        }
        i += n;
    }
    if (!all) {
        lemu_log_mask(LOG_IOPORT, "unassigned port write 0x%x size %u "
                      "value 0x%" PRIx32 "\n", port, size, value);
    }
    return any;
}

void ioport_map_foreach(IoPortMap *map, IoPortVisitFunc *fn, void *opaque)
{
    uint32_t p = 0;

    while (p < IOPORT_COUNT) {
        IoPortRange *r = map->port[p];

        if (r) {
            /* Step past @r first: @fn may unregister it. */
            p = (uint32_t)r->base + r->len;
            fn(opaque, r->name, r->base, r->len);
        } else {
            p++;
        }
    }
}
