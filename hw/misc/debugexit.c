/*
 * isa-debug-exit: a guest write of value V to any of its ports ends lemu
 * with exit status (V << 1) | 1, the value taken at the width written, as
 * QEMU does (so a test guest can never exit with status 0 by accident).
 * Reads return 0.
 */
#include "lemu/hw/qdev.h"
#include "lemu/system/machine.h"
#include "lemu/util/log.h"
#include "hw/device-classes.h"

#define DEBUG_EXIT_PORT_SPACE 0x10000

typedef struct DebugExitState {
    Device parent;

    uint32_t iobase;
    uint32_t iosize;
    bool ports_registered;
} DebugExitState;

static const DeviceProperty debug_exit_props[] = {
    DEFINE_PROP("iobase", PROP_U32, DebugExitState, iobase, "0x501",
                "first I/O port"),
    DEFINE_PROP("iosize", PROP_U32, DebugExitState, iosize, "0x02",
                "number of I/O ports"),
    DEFINE_PROP_END
};

static const VMStateField debug_exit_vmstate[] = {
    VMSTATE_END
};

static uint64_t debug_exit_read(void *opaque, uint64_t offset, unsigned size)
{
    return 0;
}

static void debug_exit_write(void *opaque, uint64_t offset, uint64_t value,
                             unsigned size)
{
    DebugExitState *s = opaque;

    /* value < 2^32, so the status fits 33 bits; like exit(), keep the
     * low 32 bits of it. */
    machine_request_exit(DEVICE(s)->machine,
                         (int)(uint32_t)((value << 1) | 1));
}

static const IoOps debug_exit_io_ops = {
    .read = debug_exit_read,
    .write = debug_exit_write,
    .impl_min = 1,
    .impl_max = 4,
};

static void debug_exit_unrealize(Device *dev)
{
    DebugExitState *s = (DebugExitState *)dev;

    if (s->ports_registered) {
        ioport_unregister(dev->machine->io, (uint16_t)s->iobase);
        s->ports_registered = false;
    }
}

static bool debug_exit_realize(Device *dev, GError **errp)
{
    DebugExitState *s = (DebugExitState *)dev;

    if (s->iosize == 0 || s->iobase >= DEBUG_EXIT_PORT_SPACE ||
        s->iosize > DEBUG_EXIT_PORT_SPACE - s->iobase) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "isa-debug-exit: iobase=0x%x iosize=0x%x: expected "
                    "1 or more ports within 0x0-0xffff",
                    s->iobase, s->iosize);
        return false;
    }
    if (!ioport_register(dev->machine->io, "isa-debug-exit",
                         (uint16_t)s->iobase, s->iosize,
                         &debug_exit_io_ops, s, errp)) {
        return false;
    }
    s->ports_registered = true;
    return true;
}

const DeviceClass isa_debug_exit_class = {
    .name = "isa-debug-exit",
    .desc = "exits lemu with status (value << 1) | 1 on a port write",
    .instance_size = sizeof(DebugExitState),
    .user_creatable = true,
    .props = debug_exit_props,
    .vmstate = debug_exit_vmstate,
    .realize = debug_exit_realize,
    .unrealize = debug_exit_unrealize,
};
