/*
 * Intel 82093AA I/O APIC: 24 input pins, a redirection table that turns
 * each into an APIC bus message, the indirect IOREGSEL/IOWIN register
 * window and the EOI register of version 0x20 parts.
 *
 * Written from the 82093AA datasheet (290566) and the Intel SDM's
 * description of APIC interrupt messages. Messages are handed to the board
 * synchronously, so Delivery Status always reads as idle.
 */
#include <inttypes.h>
#include "lemu/hw/intc/ioapic.h"
#include "hw/device-classes.h"
#include "lemu/system/machine.h"
#include "lemu/system/memory.h"
#include "lemu/util/log.h"

/* MMIO offsets within the window. */
#define IOREGSEL            0x00
#define IOWIN               0x10
#define IOEOI               0x40

/* Indirect registers, selected by IOREGSEL. */
#define IOAPICID            0x00
#define IOAPICVER           0x01
#define IOAPICARB           0x02
#define IOREDTBL_BASE       0x10    /* entry n: low 0x10 + 2n, high + 1 */

#define IOAPIC_ID_MASK      0x0f000000u
#define IOAPIC_VERSION      0x20
#define IOAPIC_MAX_REDIR_SHIFT 16   /* in IOAPICVER: entries - 1 */

/* Redirection table entry fields. */
#define IOREDTBL_VECTOR_MASK    0xffULL
#define IOREDTBL_DELMOD_SHIFT   8
#define IOREDTBL_DELMOD_MASK    (7ULL << IOREDTBL_DELMOD_SHIFT)
#define IOREDTBL_DESTMOD        (1ULL << 11)    /* 1: logical */
#define IOREDTBL_DELIVS         (1ULL << 12)    /* read-only */
#define IOREDTBL_INTPOL         (1ULL << 13)    /* 1: active low */
#define IOREDTBL_REMOTE_IRR     (1ULL << 14)    /* read-only */
#define IOREDTBL_TRIGGER        (1ULL << 15)    /* 1: level */
#define IOREDTBL_MASK           (1ULL << 16)
#define IOREDTBL_DEST_SHIFT     56
#define IOREDTBL_DEST_MASK      (0xffULL << IOREDTBL_DEST_SHIFT)

/* What the guest may write; other bits are reserved or read-only. */
#define IOREDTBL_WRITABLE   (IOREDTBL_VECTOR_MASK | IOREDTBL_DELMOD_MASK | \
                             IOREDTBL_DESTMOD | IOREDTBL_INTPOL | \
                             IOREDTBL_TRIGGER | IOREDTBL_MASK | \
                             IOREDTBL_DEST_MASK)

struct IoapicState {
    Device parent;
    uint64_t base;                      /* "base" property */
    uint32_t id;                        /* IOAPICID, bits 24-27 */
    uint8_t ioregsel;
    uint64_t redirtbl[IOAPIC_NR_PINS];
    uint32_t pin_level;                 /* input levels, one bit a pin */
    MemoryRegion *mmio;
    ApicDeliverFunc *deliver;
    void *deliver_opaque;
};

static const VMStateField ioapic_vmstate[] = {
    VMSTATE(IoapicState, id, VMS_U32),
    VMSTATE(IoapicState, ioregsel, VMS_U8),
    VMSTATE_ARRAY(IoapicState, redirtbl, VMS_U64, IOAPIC_NR_PINS),
    VMSTATE(IoapicState, pin_level, VMS_U32),
    VMSTATE_END
};

static const DeviceProperty ioapic_props[] = {
    DEFINE_PROP("base", PROP_U64, IoapicState, base, "0xfec00000",
                "guest physical address of the register window"),
    DEFINE_PROP_END
};

/* ---- pins and messages ---- */

static bool pin_is_level(const IoapicState *s, int pin)
{
    return s->redirtbl[pin] & IOREDTBL_TRIGGER;
}

/* The input as the entry sees it, after the polarity inversion. */
static bool pin_is_active(const IoapicState *s, int pin)
{
    bool high = s->pin_level & (1u << pin);

    return (s->redirtbl[pin] & IOREDTBL_INTPOL) ? !high : high;
}

static void pin_send_message(IoapicState *s, int pin)
{
    uint64_t entry = s->redirtbl[pin];
    ApicMessage msg = {
        .vector = entry & IOREDTBL_VECTOR_MASK,
        .delivery_mode = (entry & IOREDTBL_DELMOD_MASK) >>
                         IOREDTBL_DELMOD_SHIFT,
        .dest_logical = entry & IOREDTBL_DESTMOD,
        .dest = (entry & IOREDTBL_DEST_MASK) >> IOREDTBL_DEST_SHIFT,
        .level_triggered = entry & IOREDTBL_TRIGGER,
    };

    if (msg.delivery_mode == 3 || msg.delivery_mode == 6) {
        lemu_log_mask(LOG_GUEST_ERROR, "ioapic: pin %d uses reserved "
                      "delivery mode %u; interrupt dropped\n", pin,
                      msg.delivery_mode);
        return;
    }
    lemu_log_mask(LOG_INT, "ioapic: pin %d -> vector 0x%02x mode %u "
                  "dest 0x%02x%s\n", pin, msg.vector, msg.delivery_mode,
                  msg.dest, msg.dest_logical ? " (logical)" : "");
    if (s->deliver) {
        s->deliver(s->deliver_opaque, &msg);
    }
}

/*
 * A level-triggered pin requests while its input is active: it sends once
 * and then waits with Remote IRR set until the local APIC's EOI.
 */
static void pin_service_level(IoapicState *s, int pin)
{
    uint64_t *entry = &s->redirtbl[pin];

    if (!pin_is_level(s, pin) || !pin_is_active(s, pin) ||
        (*entry & (IOREDTBL_MASK | IOREDTBL_REMOTE_IRR))) {
        return;
    }
    *entry |= IOREDTBL_REMOTE_IRR;
    pin_send_message(s, pin);
}

void ioapic_set_irq(IoapicState *s, int pin, int level)
{
    bool was_active;

    if (pin < 0 || pin >= IOAPIC_NR_PINS) {
        return;
    }
    was_active = pin_is_active(s, pin);
    if (level) {
        s->pin_level |= 1u << pin;
    } else {
        s->pin_level &= ~(1u << pin);
    }
    if (pin_is_level(s, pin)) {
        pin_service_level(s, pin);
    } else if (!was_active && pin_is_active(s, pin) &&
               !(s->redirtbl[pin] & IOREDTBL_MASK)) {
        /* A masked edge is not latched: it is lost. */
        pin_send_message(s, pin);
    }
}

void ioapic_gsi_handler(void *opaque, int n, int level)
{
    ioapic_set_irq(opaque, n, level);
}

void ioapic_set_deliver(IoapicState *s, ApicDeliverFunc *fn, void *opaque)
{
    s->deliver = fn;
    s->deliver_opaque = opaque;
}

void ioapic_eoi(IoapicState *s, uint8_t vector)
{
    for (int pin = 0; pin < IOAPIC_NR_PINS; pin++) {
        uint64_t *entry = &s->redirtbl[pin];

        if ((*entry & IOREDTBL_VECTOR_MASK) != vector ||
            !pin_is_level(s, pin) || !(*entry & IOREDTBL_REMOTE_IRR)) {
            continue;
        }
        *entry &= ~IOREDTBL_REMOTE_IRR;
        pin_service_level(s, pin);
    }
}

IoapicState *ioapic_from_device(Device *dev)
{
    if (!dev || dev->cls != &ioapic_class) {
        return NULL;
    }
    return (IoapicState *)dev;
}

/* ---- registers ---- */

static uint32_t ioapic_read_reg(IoapicState *s, uint8_t index)
{
    switch (index) {
    case IOAPICID:
    case IOAPICARB:
        /* The arbitration ID is loaded from the APIC ID. */
        return s->id;
    case IOAPICVER:
        return ((IOAPIC_NR_PINS - 1) << IOAPIC_MAX_REDIR_SHIFT) |
               IOAPIC_VERSION;
    }
    if (index >= IOREDTBL_BASE &&
        index < IOREDTBL_BASE + 2 * IOAPIC_NR_PINS) {
        int pin = (index - IOREDTBL_BASE) / 2;

        uint64_t entry = s->redirtbl[pin];

        return (index & 1) ? entry >> 32 : (uint32_t)entry;
    }
    lemu_log_mask(LOG_GUEST_ERROR, "ioapic: read of unknown register "
                  "0x%02x\n", index);
    return 0;
}

static void ioapic_write_redirtbl(IoapicState *s, int pin, bool high,
                                  uint32_t val)
{
    uint64_t *entry = &s->redirtbl[pin];
    uint64_t new = high ? (*entry & 0xffffffffULL) | ((uint64_t)val << 32)
                        : (*entry & ~0xffffffffULL) | val;

    new = (new & IOREDTBL_WRITABLE) |
          (*entry & (IOREDTBL_DELIVS | IOREDTBL_REMOTE_IRR));
    /* Remote IRR has no meaning for edge-triggered entries; OSes switch an
     * entry to edge and back to clear a stale one. */
    if (!(new & IOREDTBL_TRIGGER)) {
        new &= ~IOREDTBL_REMOTE_IRR;
    }
    *entry = new;
    /* An asserted level input that was masked requests now. */
    pin_service_level(s, pin);
}

static void ioapic_write_reg(IoapicState *s, uint8_t index, uint32_t val)
{
    switch (index) {
    case IOAPICID:
        s->id = val & IOAPIC_ID_MASK;
        return;
    case IOAPICVER:
    case IOAPICARB:
        return;     /* read-only */
    }
    if (index >= IOREDTBL_BASE &&
        index < IOREDTBL_BASE + 2 * IOAPIC_NR_PINS) {
        ioapic_write_redirtbl(s, (index - IOREDTBL_BASE) / 2, index & 1, val);
        return;
    }
    lemu_log_mask(LOG_GUEST_ERROR, "ioapic: write 0x%08x to unknown "
                  "register 0x%02x\n", val, index);
}

static uint64_t ioapic_mmio_read(void *opaque, uint64_t offset,
                                 unsigned size)
{
    IoapicState *s = opaque;

    switch (offset) {
    case IOREGSEL:
        return s->ioregsel;
    case IOWIN:
        return ioapic_read_reg(s, s->ioregsel);
    }
    lemu_log_mask(LOG_GUEST_ERROR, "ioapic: read at unknown offset "
                  "0x%" PRIx64 "\n", offset);
    return 0;
}

static void ioapic_mmio_write(void *opaque, uint64_t offset, uint64_t value,
                              unsigned size)
{
    IoapicState *s = opaque;

    switch (offset) {
    case IOREGSEL:
        s->ioregsel = value & 0xff;
        return;
    case IOWIN:
        ioapic_write_reg(s, s->ioregsel, value);
        return;
    case IOEOI:
        ioapic_eoi(s, value & 0xff);
        return;
    }
    lemu_log_mask(LOG_GUEST_ERROR, "ioapic: write 0x%" PRIx64 " at unknown "
                  "offset 0x%" PRIx64 "\n", value, offset);
}

static const IoOps ioapic_mmio_ops = {
    .read = ioapic_mmio_read,
    .write = ioapic_mmio_write,
    .impl_min = 4,
    .impl_max = 4,
};

/* ---- device ---- */

static void ioapic_reset(Device *dev)
{
    IoapicState *s = (IoapicState *)dev;

    s->id = 0;
    s->ioregsel = 0;
    for (int pin = 0; pin < IOAPIC_NR_PINS; pin++) {
        s->redirtbl[pin] = IOREDTBL_MASK;
    }
    /* Input levels are wires, not state the reset clears. */
}

static bool ioapic_realize(Device *dev, GError **errp)
{
    IoapicState *s = (IoapicState *)dev;

    if (s->base & (IOAPIC_MMIO_SIZE - 1)) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "ioapic: base 0x%" PRIx64 " is not aligned to 0x%x",
                    s->base, IOAPIC_MMIO_SIZE);
        return false;
    }
    s->mmio = memory_map_add_mmio(dev->machine->mem, "ioapic", s->base,
                                  IOAPIC_MMIO_SIZE, &ioapic_mmio_ops, s,
                                  errp);
    if (!s->mmio) {
        return false;
    }
    ioapic_reset(dev);
    return true;
}

static void ioapic_unrealize(Device *dev)
{
    IoapicState *s = (IoapicState *)dev;

    memory_map_remove(dev->machine->mem, s->mmio);
    s->mmio = NULL;
}

const DeviceClass ioapic_class = {
    .name = "ioapic",
    .desc = "82093AA I/O APIC (24 pins)",
    .instance_size = sizeof(IoapicState),
    .user_creatable = false,
    .props = ioapic_props,
    .vmstate = ioapic_vmstate,
    .realize = ioapic_realize,
    .reset = ioapic_reset,
    .unrealize = ioapic_unrealize,
};
