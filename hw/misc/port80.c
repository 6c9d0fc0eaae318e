/*
 * Port 0x80, the POST diagnostic port. BIOSes write progress codes there
 * and old code writes it just to wait about a microsecond; writes are
 * accepted and the last code is kept (visible in the device state), reads
 * return all ones as on a bus with nothing to answer them.
 */
#include "lemu/hw/qdev.h"
#include "lemu/system/machine.h"
#include "hw/device-classes.h"

#define PORT80_PORT 0x80

typedef struct Port80State {
    Device parent;

    uint8_t last_code;
    bool port_registered;
} Port80State;

static const VMStateField port80_vmstate[] = {
    VMSTATE(Port80State, last_code, VMS_U8),
    VMSTATE_END
};

static uint64_t port80_read(void *opaque, uint64_t offset, unsigned size)
{
    return 0xff;
}

static void port80_write(void *opaque, uint64_t offset, uint64_t value,
                         unsigned size)
{
    Port80State *s = opaque;

    s->last_code = (uint8_t)value;
}

static const IoOps port80_io_ops = {
    .read = port80_read,
    .write = port80_write,
    .impl_min = 1,
    .impl_max = 1,
};

static void port80_unrealize(Device *dev)
{
    Port80State *s = (Port80State *)dev;

    if (s->port_registered) {
        ioport_unregister(dev->machine->io, PORT80_PORT);
        s->port_registered = false;
    }
}

static bool port80_realize(Device *dev, GError **errp)
{
    Port80State *s = (Port80State *)dev;

    if (!ioport_register(dev->machine->io, "port80", PORT80_PORT, 1,
                         &port80_io_ops, s, errp)) {
        return false;
    }
    s->port_registered = true;
    return true;
}

const DeviceClass port80_class = {
    .name = "port80",
    .desc = "POST code port 0x80",
    .instance_size = sizeof(Port80State),
    .user_creatable = false,
    .vmstate = port80_vmstate,
    .realize = port80_realize,
    .unrealize = port80_unrealize,
};
