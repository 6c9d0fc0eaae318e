/*
 * Intel 8259A programmable interrupt controller pair, as wired in the
 * PC/AT: master at 0x20/0x21, slave at 0xa0/0xa1 on the master's IR2, and
 * the edge/level control registers (ELCR) at 0x4d0/0x4d1.
 *
 * Written from the Intel 8259A datasheet (231468) and the PIIX ELCR
 * description. Special fully nested mode and 8080/8085 call vectors are
 * not modelled (the PC uses neither); buffered-mode bits are kept only so
 * that they read back.
 */
#include "lemu/hw/intc/i8259.h"
#include "hw/device-classes.h"
#include "lemu/system/machine.h"
#include "lemu/system/memory.h"
#include "lemu/util/log.h"

/* Port offsets within each chip's two-port range (the A0 input). */
#define PIC_CMD             0   /* ICW1, OCW2, OCW3; reads IRR/ISR/poll */
#define PIC_DATA            1   /* ICW2-4, OCW1 (IMR) */

#define PIC_MASTER_BASE     0x20
#define PIC_SLAVE_BASE      0xa0
#define PIC_ELCR_BASE       0x4d0

/* ICW1 (A0 = 0, D4 = 1). */
#define ICW1_IC4            0x01    /* ICW4 follows */
#define ICW1_SNGL           0x02    /* single PIC, no ICW3 */
#define ICW1_ADI            0x04    /* call address interval (8080 only) */
#define ICW1_LTIM           0x08    /* level-triggered inputs */
#define ICW1_SELECT         0x10

/* ICW4. */
#define ICW4_UPM            0x01    /* 8086/8088 mode */
#define ICW4_AEOI           0x02    /* automatic end of interrupt */
#define ICW4_MS             0x04    /* buffered mode master/slave */
#define ICW4_BUF            0x08    /* buffered mode */
#define ICW4_SFNM           0x10    /* special fully nested mode */

/* OCW2 (A0 = 0, D4 = D3 = 0): R, SL, EOI and the level L2-L0. */
#define OCW2_LEVEL_MASK     0x07
#define OCW2_CMD_MASK       0xe0
#define OCW2_ROTATE_AEOI_CLEAR  0x00
#define OCW2_NONSPECIFIC_EOI    0x20
#define OCW2_NOP                0x40
#define OCW2_SPECIFIC_EOI       0x60
#define OCW2_ROTATE_AEOI_SET    0x80
#define OCW2_ROTATE_NONSPECIFIC 0xa0
#define OCW2_SET_PRIORITY       0xc0
#define OCW2_ROTATE_SPECIFIC    0xe0

/* OCW3 (A0 = 0, D4 = 0, D3 = 1). */
#define OCW3_SELECT         0x08
#define OCW3_RIS            0x01    /* read ISR (else IRR) */
#define OCW3_RR             0x02    /* the RIS bit is valid */
#define OCW3_P              0x04    /* poll command */
#define OCW3_SMM            0x20    /* special mask mode */
#define OCW3_ESMM           0x40    /* the SMM bit is valid */

#define POLL_INT            0x80    /* poll word: an interrupt was pending */

#define CASCADE_IRQ         2       /* the master input the slave drives */
#define SPURIOUS_IRQ        7

/*
 * On the PC, IRQ 0, 1, 2, 8 and 13 are always edge-triggered; the ELCR
 * bits for them do not exist.
 */
static const uint8_t elcr_writable[2] = { 0xf8, 0xde };

/* Initialisation sequence position: which word the data port expects. */
enum {
    INIT_DONE = 0,
    INIT_ICW2,
    INIT_ICW3,
    INIT_ICW4,
};

typedef struct I8259Chip {
    uint8_t irr;            /* interrupt request register */
    uint8_t imr;            /* interrupt mask register (OCW1) */
    uint8_t isr;            /* in-service register */
    uint8_t line;           /* input levels, for edge detection */
    uint8_t elcr;           /* edge/level control: 1 = level */
    uint8_t lowest_prio_irq_next; /* IR with the highest priority */
    uint8_t vector_base;    /* ICW2 T7-T3 */
    uint8_t icw3;
    uint8_t icw4;
    uint8_t init_state;     /* INIT_* */
    bool icw4_needed;
    bool single;            /* ICW1 SNGL */
    bool ltim;              /* ICW1 LTIM: all inputs level-triggered */
    bool auto_eoi;
    bool rotate_on_aeoi;
    bool special_mask;
    bool read_isr;          /* OCW3 RIS: the command port reads ISR */
    bool poll;              /* the next command port read is a poll */
} I8259Chip;

struct I8259State {
    Device parent;
    I8259Chip chip[2];      /* master, slave */
    bool int_level;         /* INTR output */
    IrqLine int_out;
};

#define VMSTATE_I8259_CHIP(i) \
    VMSTATE(I8259State, chip[i].irr, VMS_U8), \
    VMSTATE(I8259State, chip[i].imr, VMS_U8), \
    VMSTATE(I8259State, chip[i].isr, VMS_U8), \
    VMSTATE(I8259State, chip[i].line, VMS_U8), \
    VMSTATE(I8259State, chip[i].elcr, VMS_U8), \
    VMSTATE(I8259State, chip[i].lowest_prio_irq_next, VMS_U8), \
    VMSTATE(I8259State, chip[i].vector_base, VMS_U8), \
    VMSTATE(I8259State, chip[i].icw3, VMS_U8), \
    VMSTATE(I8259State, chip[i].icw4, VMS_U8), \
    VMSTATE(I8259State, chip[i].init_state, VMS_U8), \
    VMSTATE(I8259State, chip[i].icw4_needed, VMS_BOOL), \
    VMSTATE(I8259State, chip[i].single, VMS_BOOL), \
    VMSTATE(I8259State, chip[i].ltim, VMS_BOOL), \
    VMSTATE(I8259State, chip[i].auto_eoi, VMS_BOOL), \
    VMSTATE(I8259State, chip[i].rotate_on_aeoi, VMS_BOOL), \
    VMSTATE(I8259State, chip[i].special_mask, VMS_BOOL), \
    VMSTATE(I8259State, chip[i].read_isr, VMS_BOOL), \
    VMSTATE(I8259State, chip[i].poll, VMS_BOOL)

static const VMStateField i8259_vmstate[] = {
    VMSTATE_I8259_CHIP(0),
    VMSTATE_I8259_CHIP(1),
    VMSTATE(I8259State, int_level, VMS_BOOL),
    VMSTATE_END
};

static const DeviceProperty i8259_props[] = {
    DEFINE_PROP_END
};

static const char *const chip_name[2] = { "master", "slave" };

/* ---- one chip ---- */

static uint8_t chip_level_mask(const I8259Chip *c)
{
    return c->ltim ? 0xff : c->elcr;
}

/*
 * Priority of the highest-priority bit set in @mask: 0 is the highest
 * (the IR lowest_prio_irq_next points at), 7 the lowest; 8 if none.
 */
static int chip_priority(const I8259Chip *c, uint8_t mask)
{
    for (int prio = 0; prio < 8; prio++) {
        if (mask & (1 << ((prio + c->lowest_prio_irq_next) & 7))) {
            return prio;
        }
    }
    return 8;
}

static int chip_prio_to_irq(const I8259Chip *c, int prio)
{
    return (prio + c->lowest_prio_irq_next) & 7;
}

/*
 * The IR this chip would present on INTA, or -1: the highest-priority
 * unmasked request that outranks everything in service. In special mask
 * mode, in-service levels that are masked do not block lower ones.
 */
static int chip_pending_irq(const I8259Chip *c)
{
    uint8_t requests = c->irr & ~c->imr;
    uint8_t blocking = c->isr;
    int prio;

    if (c->special_mask) {
        blocking &= ~c->imr;
    }
    prio = chip_priority(c, requests);
    if (prio < chip_priority(c, blocking)) {
        return chip_prio_to_irq(c, prio);
    }
    return -1;
}

/* A change of input @irq: IRR latches rising edges, or follows the level. */
static void chip_set_input(I8259Chip *c, int irq, int level)
{
    uint8_t bit = 1 << irq;

    if (chip_level_mask(c) & bit) {
        if (level) {
            c->irr |= bit;
        } else {
            c->irr &= ~bit;
        }
    } else if (level && !(c->line & bit)) {
        c->irr |= bit;
    }
    if (level) {
        c->line |= bit;
    } else {
        c->line &= ~bit;
    }
}

/*
 * The acknowledge half of INTA (or of a poll): the request goes in service.
 * A level-triggered IRR bit keeps following its input.
 */
static void chip_ack(I8259Chip *c, int irq)
{
    uint8_t bit = 1 << irq;

    if (c->auto_eoi) {
        if (c->rotate_on_aeoi) {
            c->lowest_prio_irq_next = (irq + 1) & 7;
        }
    } else {
        c->isr |= bit;
    }
    if (!(chip_level_mask(c) & bit)) {
        c->irr &= ~bit;
    }
}

/* ICW1 and power-on both start from here. */
static void chip_init_reset(I8259Chip *c)
{
    /* The edge sense latches reset: a high edge input must go low and
     * high again; level inputs keep requesting. */
    c->irr = c->line & chip_level_mask(c);
    c->imr = 0;
    c->isr = 0;
    c->lowest_prio_irq_next = 0;
    c->special_mask = false;
    c->read_isr = false;
    c->poll = false;
    c->auto_eoi = false;
    c->rotate_on_aeoi = false;
    c->icw4 = 0;
    c->init_state = INIT_DONE;
}

/* ---- the pair ---- */

/*
 * Recomputes the slave's INT (the master's IR2 input) and the master's
 * INTR, and tells the CPU when INTR changed.
 */
static void pic_update(I8259State *s)
{
    I8259Chip *master = &s->chip[0];
    I8259Chip *slave = &s->chip[1];
    bool level;

    chip_set_input(master, CASCADE_IRQ, chip_pending_irq(slave) >= 0);
    level = chip_pending_irq(master) >= 0;
    if (level != s->int_level) {
        s->int_level = level;
        irq_set_level(&s->int_out, level);
    }
}

void i8259_set_irq(I8259State *s, int irq, int level)
{
    if (irq < 0 || irq >= I8259_NR_IRQS || irq == CASCADE_IRQ) {
        return;
    }
    chip_set_input(&s->chip[irq >> 3], irq & 7, level != 0);
    pic_update(s);
}

void i8259_gsi_handler(void *opaque, int n, int level)
{
    i8259_set_irq(opaque, n, level);
}

bool i8259_has_interrupt(I8259State *s)
{
    return s->int_level;
}

int i8259_acknowledge(I8259State *s)
{
    I8259Chip *master = &s->chip[0];
    I8259Chip *slave = &s->chip[1];
    int irq = chip_pending_irq(master);
    int vector;

    if (irq < 0) {
        /* The request went away (or was masked) after INTR rose: the
         * 8259A answers with IR7 and sets no ISR bit. */
        vector = master->vector_base + SPURIOUS_IRQ;
        lemu_log_mask(LOG_INT, "i8259: spurious interrupt on the master\n");
    } else if (irq == CASCADE_IRQ && !master->single) {
        int slave_irq = chip_pending_irq(slave);

        if (slave_irq >= 0) {
            chip_ack(slave, slave_irq);
            vector = slave->vector_base + slave_irq;
        } else {
            /* The master latched the cascade request, but the slave's
             * request is gone: the slave sends its IR7. */
            vector = slave->vector_base + SPURIOUS_IRQ;
            lemu_log_mask(LOG_INT, "i8259: spurious interrupt on the slave\n");
        }
        chip_ack(master, CASCADE_IRQ);
        /* The slave drops INT during the INTA sequence; if it still has a
         * request afterwards (auto-EOI, special mask mode) that is a new
         * edge on the master's IR2. */
        chip_set_input(master, CASCADE_IRQ, 0);
    } else {
        chip_ack(master, irq);
        vector = master->vector_base + irq;
    }
    pic_update(s);
    return vector;
}

void i8259_connect_int_out(I8259State *s, IrqLine line)
{
    s->int_out = line;
    irq_set_level(&s->int_out, s->int_level);
}

I8259State *i8259_from_device(Device *dev)
{
    if (!dev || dev->cls != &i8259_class) {
        return NULL;
    }
    return (I8259State *)dev;
}

/* ---- register access ---- */

static void pic_write_icw1(I8259State *s, int n, uint8_t val)
{
    I8259Chip *c = &s->chip[n];

    if (val & ICW1_ADI) {
        /* Only meaningful for 8080 call vectors; ignored in 8086 mode. */
        lemu_log_mask(LOG_UNIMP, "i8259 %s: ICW1 ADI is ignored\n",
                      chip_name[n]);
    }
    c->ltim = val & ICW1_LTIM;
    c->single = val & ICW1_SNGL;
    c->icw4_needed = val & ICW1_IC4;
    chip_init_reset(c);
    c->init_state = INIT_ICW2;
}

static void pic_write_ocw2(I8259State *s, int n, uint8_t val)
{
    I8259Chip *c = &s->chip[n];
    int level = val & OCW2_LEVEL_MASK;
    int prio;

    switch (val & OCW2_CMD_MASK) {
    case OCW2_ROTATE_AEOI_CLEAR:
        c->rotate_on_aeoi = false;
        break;
    case OCW2_ROTATE_AEOI_SET:
        c->rotate_on_aeoi = true;
        break;
    case OCW2_NONSPECIFIC_EOI:
    case OCW2_ROTATE_NONSPECIFIC:
        prio = chip_priority(c, c->isr);
        if (prio == 8) {
            lemu_log_mask(LOG_GUEST_ERROR, "i8259 %s: EOI with nothing in "
                          "service\n", chip_name[n]);
            break;
        }
        level = chip_prio_to_irq(c, prio);
        c->isr &= ~(1 << level);
        if ((val & OCW2_CMD_MASK) == OCW2_ROTATE_NONSPECIFIC) {
            c->lowest_prio_irq_next = (level + 1) & 7;
        }
        break;
    case OCW2_SPECIFIC_EOI:
        c->isr &= ~(1 << level);
        break;
    case OCW2_ROTATE_SPECIFIC:
        c->isr &= ~(1 << level);
        c->lowest_prio_irq_next = (level + 1) & 7;
        break;
    case OCW2_SET_PRIORITY:
        /* L becomes the lowest priority. */
        c->lowest_prio_irq_next = (level + 1) & 7;
        break;
    case OCW2_NOP:
        break;
    }
}

static void pic_write_ocw3(I8259State *s, int n, uint8_t val)
{
    I8259Chip *c = &s->chip[n];

    if (val & OCW3_P) {
        c->poll = true;
    }
    if (val & OCW3_RR) {
        c->read_isr = val & OCW3_RIS;
    }
    if (val & OCW3_ESMM) {
        c->special_mask = val & OCW3_SMM;
    }
}

static void pic_write_data(I8259State *s, int n, uint8_t val)
{
    I8259Chip *c = &s->chip[n];

    switch (c->init_state) {
    case INIT_DONE:
        c->imr = val;
        break;
    case INIT_ICW2:
        c->vector_base = val & 0xf8;
        if (!c->single) {
            c->init_state = INIT_ICW3;
        } else {
            c->init_state = c->icw4_needed ? INIT_ICW4 : INIT_DONE;
        }
        break;
    case INIT_ICW3:
        c->icw3 = val;
        /* The cascade is wired: slave on the master's IR2, ID 2. */
        if ((n == 0 && val != (1 << CASCADE_IRQ)) ||
            (n == 1 && (val & 7) != CASCADE_IRQ)) {
            lemu_log_mask(LOG_GUEST_ERROR, "i8259 %s: ICW3 0x%02x does not "
                          "match the PC cascade (slave on IR2)\n",
                          chip_name[n], val);
        }
        c->init_state = c->icw4_needed ? INIT_ICW4 : INIT_DONE;
        break;
    case INIT_ICW4:
        c->icw4 = val;
        c->auto_eoi = val & ICW4_AEOI;
        if (!(val & ICW4_UPM)) {
            lemu_log_mask(LOG_UNIMP, "i8259 %s: 8080/8085 mode is not "
                          "supported; using 8086 vectors\n", chip_name[n]);
        }
        if (val & ICW4_SFNM) {
            lemu_log_mask(LOG_UNIMP, "i8259 %s: special fully nested mode "
                          "is not supported\n", chip_name[n]);
        }
        c->init_state = INIT_DONE;
        break;
    }
}

static void pic_write(I8259State *s, int n, uint64_t offset, uint8_t val)
{
    if (offset == PIC_DATA) {
        pic_write_data(s, n, val);
    } else if (val & ICW1_SELECT) {
        pic_write_icw1(s, n, val);
    } else if (val & OCW3_SELECT) {
        pic_write_ocw3(s, n, val);
    } else {
        pic_write_ocw2(s, n, val);
    }
    pic_update(s);
}

/* Poll command: the read acknowledges like INTA and returns the level. */
static uint8_t pic_poll(I8259State *s, int n)
{
    I8259Chip *c = &s->chip[n];
    int irq = chip_pending_irq(c);

    c->poll = false;
    if (irq < 0) {
        return 0;
    }
    chip_ack(c, irq);
    pic_update(s);
    return POLL_INT | irq;
}

static uint8_t pic_read(I8259State *s, int n, uint64_t offset)
{
    I8259Chip *c = &s->chip[n];

    if (c->poll) {
        return pic_poll(s, n);
    }
    if (offset == PIC_DATA) {
        return c->imr;
    }
    return c->read_isr ? c->isr : c->irr;
}

static uint64_t pic_master_io_read(void *opaque, uint64_t offset,
                                   unsigned size)
{
    return pic_read(opaque, 0, offset);
}

static void pic_master_io_write(void *opaque, uint64_t offset,
                                uint64_t value, unsigned size)
{
    pic_write(opaque, 0, offset, value);
}

static uint64_t pic_slave_io_read(void *opaque, uint64_t offset,
                                  unsigned size)
{
    return pic_read(opaque, 1, offset);
}

static void pic_slave_io_write(void *opaque, uint64_t offset,
                               uint64_t value, unsigned size)
{
    pic_write(opaque, 1, offset, value);
}

static uint64_t elcr_io_read(void *opaque, uint64_t offset, unsigned size)
{
    I8259State *s = opaque;

    return s->chip[offset & 1].elcr;
}

static void elcr_io_write(void *opaque, uint64_t offset, uint64_t value,
                          unsigned size)
{
    I8259State *s = opaque;
    I8259Chip *c = &s->chip[offset & 1];
    uint8_t now_level;

    c->elcr = value & elcr_writable[offset & 1];
    /* Inputs that became level-triggered request while they are high. */
    now_level = chip_level_mask(c);
    c->irr = (c->irr & ~now_level) | (c->line & now_level);
    pic_update(s);
}

static const IoOps pic_master_ops = {
    .read = pic_master_io_read,
    .write = pic_master_io_write,
    .impl_min = 1,
    .impl_max = 1,
};

static const IoOps pic_slave_ops = {
    .read = pic_slave_io_read,
    .write = pic_slave_io_write,
    .impl_min = 1,
    .impl_max = 1,
};

static const IoOps elcr_ops = {
    .read = elcr_io_read,
    .write = elcr_io_write,
    .impl_min = 1,
    .impl_max = 1,
};

/* ---- device ---- */

static void i8259_reset(Device *dev)
{
    I8259State *s = (I8259State *)dev;

    for (int n = 0; n < 2; n++) {
        I8259Chip *c = &s->chip[n];

        c->elcr = 0;
        c->ltim = false;
        c->single = false;
        c->icw4_needed = false;
        c->vector_base = 0;
        c->icw3 = 0;
        chip_init_reset(c);
        /* Nothing is programmed yet (vector base 0): keep it all masked
         * until the guest initialises the chip. */
        c->imr = 0xff;
    }
    pic_update(s);
}

static bool i8259_realize(Device *dev, GError **errp)
{
    I8259State *s = (I8259State *)dev;
    IoPortMap *io = dev->machine->io;

    if (!ioport_register(io, "i8259-master", PIC_MASTER_BASE, 2,
                         &pic_master_ops, s, errp)) {
        goto fail;
    }
    if (!ioport_register(io, "i8259-slave", PIC_SLAVE_BASE, 2,
                         &pic_slave_ops, s, errp)) {
        goto fail_master;
    }
    if (!ioport_register(io, "i8259-elcr", PIC_ELCR_BASE, 2,
                         &elcr_ops, s, errp)) {
        goto fail_slave;
    }
    i8259_reset(dev);
    return true;

fail_slave:
    ioport_unregister(io, PIC_SLAVE_BASE);
fail_master:
    ioport_unregister(io, PIC_MASTER_BASE);
fail:
    return false;
}

static void i8259_unrealize(Device *dev)
{
    IoPortMap *io = dev->machine->io;

    ioport_unregister(io, PIC_ELCR_BASE);
    ioport_unregister(io, PIC_SLAVE_BASE);
    ioport_unregister(io, PIC_MASTER_BASE);
}

const DeviceClass i8259_class = {
    .name = "i8259",
    .desc = "8259A interrupt controller pair (master, slave, ELCR)",
    .instance_size = sizeof(I8259State),
    .user_creatable = false,
    .props = i8259_props,
    .vmstate = i8259_vmstate,
    .realize = i8259_realize,
    .reset = i8259_reset,
    .unrealize = i8259_unrealize,
};
