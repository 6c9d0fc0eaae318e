/*
 * 16550A UART on the ISA bus (COM1 is iobase 0x3f8, IRQ 4).
 *
 * Registers and their bits follow the 16550A datasheet. Transmission is
 * instantaneous: a byte written to THR goes to the chardev at once (which
 * buffers it without ever blocking) and THR is empty again right after,
 * so the transmitter FIFO never holds anything. The THRE interrupt still
 * drops on the THR write and rises again when the byte is out, which is
 * the edge an interrupt-driven driver waits for.
 *
 * Reception is paced by the guest: the chardev hands over at most the
 * free space in the receiver FIFO (one byte with FIFOs off), and is told
 * to resume when the guest reads RBR, so host input is held back rather
 * than lost. Overruns (LSR.OE) can only come from loopback.
 *
 * Like QEMU, the IRQ line is not gated by MCR.OUT2: the interrupt is
 * driven whenever IIR has a pending source. PC hardware routes the IRQ
 * through OUT2, and Linux sets OUT2 on PC ports anyway, so only guests
 * that rely on OUT2 to mask the IRQ see a difference, and those would not
 * work on QEMU either.
 */
#include "lemu/chardev/chardev.h"
#include "lemu/hw/qdev.h"
#include "lemu/system/irq.h"
#include "lemu/system/machine.h"
#include "lemu/system/memory.h"
#include "lemu/util/log.h"
#include "lemu/util/main-loop.h"
#include "hw/device-classes.h"

/* Register offsets from iobase; DLL and DLM replace RBR/THR and IER while
 * LCR.DLAB is set. */
#define UART_RBR 0      /* receiver buffer (read) */
#define UART_THR 0      /* transmitter holding (write) */
#define UART_DLL 0      /* divisor latch, low byte */
#define UART_IER 1      /* interrupt enable */
#define UART_DLM 1      /* divisor latch, high byte */
#define UART_IIR 2      /* interrupt identification (read) */
#define UART_FCR 2      /* FIFO control (write) */
#define UART_LCR 3      /* line control */
#define UART_MCR 4      /* modem control */
#define UART_LSR 5      /* line status */
#define UART_MSR 6      /* modem status */
#define UART_SCR 7      /* scratch */
#define UART_NR_PORTS 8

/* IER */
#define UART_IER_ERBFI  0x01    /* received data available */
#define UART_IER_ETBEI  0x02    /* transmitter holding register empty */
#define UART_IER_ELSI   0x04    /* receiver line status */
#define UART_IER_EDSSI  0x08    /* modem status */
#define UART_IER_MASK   0x0f

/* IIR: bit 0 clear when an interrupt is pending, bits 1-3 its source. */
#define UART_IIR_NO_INT 0x01
#define UART_IIR_ID     0x0e
#define UART_IIR_MSI    0x00    /* modem status */
#define UART_IIR_THRI   0x02    /* THR empty */
#define UART_IIR_RDI    0x04    /* received data available */
#define UART_IIR_RLSI   0x06    /* receiver line status */
#define UART_IIR_CTI    0x0c    /* character timeout */
#define UART_IIR_FIFOS  0xc0    /* FIFOs enabled */

/* FCR */
#define UART_FCR_FIFOE  0x01    /* FIFO enable */
#define UART_FCR_RFR    0x02    /* receiver FIFO reset (self-clearing) */
#define UART_FCR_XFR    0x04    /* transmitter FIFO reset (self-clearing) */
#define UART_FCR_DMS    0x08    /* DMA mode select (no effect here) */
#define UART_FCR_RTL    0xc0    /* receiver trigger level */

/* LCR */
#define UART_LCR_WLS    0x03    /* word length: 5 + value bits */
#define UART_LCR_STB    0x04    /* 1.5 or 2 stop bits */
#define UART_LCR_PEN    0x08    /* parity enable */
#define UART_LCR_DLAB   0x80    /* divisor latch access */

/* MCR */
#define UART_MCR_DTR    0x01
#define UART_MCR_RTS    0x02
#define UART_MCR_OUT1   0x04
#define UART_MCR_OUT2   0x08
#define UART_MCR_LOOP   0x10
#define UART_MCR_MASK   0x1f

/* LSR */
#define UART_LSR_DR     0x01    /* data ready */
#define UART_LSR_OE     0x02    /* overrun error */
#define UART_LSR_PE     0x04    /* parity error */
#define UART_LSR_FE     0x08    /* framing error */
#define UART_LSR_BI     0x10    /* break interrupt */
#define UART_LSR_THRE   0x20    /* THR (TX FIFO) empty */
#define UART_LSR_TEMT   0x40    /* transmitter empty */
#define UART_LSR_ERRORS (UART_LSR_OE | UART_LSR_PE | UART_LSR_FE | UART_LSR_BI)

/* MSR: deltas in the low nibble, line states in the high one. */
#define UART_MSR_DCTS   0x01
#define UART_MSR_DDSR   0x02
#define UART_MSR_TERI   0x04    /* RI went from on to off */
#define UART_MSR_DDCD   0x08
#define UART_MSR_DELTAS 0x0f
#define UART_MSR_CTS    0x10
#define UART_MSR_DSR    0x20
#define UART_MSR_RI     0x40
#define UART_MSR_DCD    0x80
#define UART_MSR_LINES  0xf0

#define UART_FIFO_SIZE  16
/* The 1.8432 MHz crystal divided by 16: the baud rate at divisor 1. */
#define UART_BASE_BAUD  115200

typedef struct SerialState {
    Device parent;

    /* Properties. */
    uint32_t iobase;
    uint32_t irq;
    Chardev *chr;

    /* Guest-visible state, saved through serial_vmstate. */
    uint16_t divisor;           /* DLM:DLL */
    uint8_t rbr;                /* the last byte read from the receiver */
    uint8_t ier;
    uint8_t lcr;
    uint8_t mcr;
    uint8_t lsr;
    uint8_t msr;
    uint8_t scr;
    uint8_t fcr;                /* FIFOE, DMS and RTL as written */
    bool thr_ipending;          /* THR became empty, not yet acknowledged */
    bool timeout_ipending;      /* character timeout indication */
    uint8_t rx_fifo[UART_FIFO_SIZE];   /* ring; one slot with FIFOs off */
    uint8_t rx_head;
    uint8_t rx_count;

    /* Host side, not saved. */
    bool connected;             /* the chardev has a peer: CTS, DSR, DCD */
    int irq_level;
    IrqLine irq_line;
    Timer *timeout_timer;
} SerialState;

static const VMStateField serial_vmstate[] = {
    VMSTATE(SerialState, divisor, VMS_U16),
    VMSTATE(SerialState, rbr, VMS_U8),
    VMSTATE(SerialState, ier, VMS_U8),
    VMSTATE(SerialState, lcr, VMS_U8),
    VMSTATE(SerialState, mcr, VMS_U8),
    VMSTATE(SerialState, lsr, VMS_U8),
    VMSTATE(SerialState, msr, VMS_U8),
    VMSTATE(SerialState, scr, VMS_U8),
    VMSTATE(SerialState, fcr, VMS_U8),
    VMSTATE(SerialState, thr_ipending, VMS_BOOL),
    VMSTATE(SerialState, timeout_ipending, VMS_BOOL),
    VMSTATE_ARRAY(SerialState, rx_fifo, VMS_U8, UART_FIFO_SIZE),
    VMSTATE(SerialState, rx_head, VMS_U8),
    VMSTATE(SerialState, rx_count, VMS_U8),
    VMSTATE_END
};

static const DeviceProperty serial_props[] = {
    DEFINE_PROP("iobase", PROP_U32, SerialState, iobase, "0x3f8",
                "first of the 8 I/O ports"),
    DEFINE_PROP("irq", PROP_U32, SerialState, irq, "4", "ISA IRQ line"),
    DEFINE_PROP("chardev", PROP_CHARDEV, SerialState, chr, NULL,
                "ID of the chardev at the host end"),
    DEFINE_PROP_END
};

static bool serial_fifo_enabled(SerialState *s)
{
    return s->fcr & UART_FCR_FIFOE;
}

static unsigned serial_rx_capacity(SerialState *s)
{
    return serial_fifo_enabled(s) ? UART_FIFO_SIZE : 1;
}

/* Bytes in the receiver; clamped, since saved state is not trusted. */
static unsigned serial_rx_count(SerialState *s)
{
    return MIN(s->rx_count, serial_rx_capacity(s));
}

static unsigned serial_rx_trigger_level(SerialState *s)
{
    static const uint8_t levels[4] = { 1, 4, 8, 14 };

    return serial_fifo_enabled(s) ? levels[(s->fcr & UART_FCR_RTL) >> 6] : 1;
}

/* The highest-priority pending interrupt, as IIR shows it. */
static uint8_t serial_iir(SerialState *s)
{
    uint8_t fifo_bits = serial_fifo_enabled(s) ? UART_IIR_FIFOS : 0;

    if ((s->ier & UART_IER_ELSI) && (s->lsr & UART_LSR_ERRORS)) {
        return fifo_bits | UART_IIR_RLSI;
    }
    if (s->ier & UART_IER_ERBFI) {
        if (serial_rx_count(s) >= serial_rx_trigger_level(s)) {
            return fifo_bits | UART_IIR_RDI;
        }
        if (s->timeout_ipending) {
            return fifo_bits | UART_IIR_CTI;
        }
    }
    if ((s->ier & UART_IER_ETBEI) && s->thr_ipending) {
        return fifo_bits | UART_IIR_THRI;
    }
    if ((s->ier & UART_IER_EDSSI) && (s->msr & UART_MSR_DELTAS)) {
        return fifo_bits | UART_IIR_MSI;
    }
    return fifo_bits | UART_IIR_NO_INT;
}

static void serial_update_irq(SerialState *s)
{
    int level = !(serial_iir(s) & UART_IIR_NO_INT);

    if (level != s->irq_level) {
        s->irq_level = level;
        irq_set_level(&s->irq_line, level);
    }
}

/* One character on the line: start, data, parity and stop bits. */
static int64_t serial_char_time_ns(SerialState *s)
{
    unsigned data_bits = 5 + (s->lcr & UART_LCR_WLS);
    unsigned half_bits = 2 * (1 + data_bits);
    unsigned divisor = s->divisor ? s->divisor : 1;

    if (s->lcr & UART_LCR_PEN) {
        half_bits += 2;
    }
    if (!(s->lcr & UART_LCR_STB)) {
        half_bits += 2;
    } else {
        half_bits += data_bits == 5 ? 3 : 4;
    }
    return (int64_t)half_bits * divisor * NANOSECONDS_PER_SECOND /
           (2 * UART_BASE_BAUD);
}

/* The character timeout fires after four character times without the
 * receiver FIFO being written or read. */
static void serial_restart_timeout(SerialState *s)
{
    s->timeout_ipending = false;
    if (serial_fifo_enabled(s) && serial_rx_count(s) > 0) {
        timer_mod_ns(s->timeout_timer,
                     clock_get_ns(s->parent.machine->loop, CLOCK_VIRTUAL) +
                     4 * serial_char_time_ns(s));
    } else {
        timer_del(s->timeout_timer);
    }
}

static void serial_timeout(void *opaque)
{
    SerialState *s = opaque;

    if (serial_fifo_enabled(s) && serial_rx_count(s) > 0) {
        s->timeout_ipending = true;
        serial_update_irq(s);
    }
}

static void serial_clear_rx(SerialState *s)
{
    s->rx_head = 0;
    s->rx_count = 0;
    s->lsr &= ~(UART_LSR_DR | UART_LSR_BI);
    s->timeout_ipending = false;
    timer_del(s->timeout_timer);
}

/* A character arrives at the receiver (from the host or from loopback). */
static void serial_receive_byte(SerialState *s, uint8_t byte)
{
    unsigned count = serial_rx_count(s);

    if (count < serial_rx_capacity(s)) {
        s->rx_fifo[(s->rx_head + count) % UART_FIFO_SIZE] = byte;
        s->rx_count = count + 1;
    } else {
        /* Overrun: with FIFOs the new character is lost; without them it
         * overwrites the unread one. */
        s->lsr |= UART_LSR_OE;
        if (!serial_fifo_enabled(s)) {
            s->rx_fifo[s->rx_head % UART_FIFO_SIZE] = byte;
        }
    }
    s->lsr |= UART_LSR_DR;
    serial_restart_timeout(s);
}

static uint8_t serial_read_rbr(SerialState *s)
{
    unsigned count = serial_rx_count(s);

    if (count > 0) {
        s->rbr = s->rx_fifo[s->rx_head % UART_FIFO_SIZE];
        s->rx_head = (s->rx_head + 1) % UART_FIFO_SIZE;
        s->rx_count = count - 1;
    }
    if (s->rx_count == 0) {
        s->rx_head = 0;
        s->lsr &= ~(UART_LSR_DR | UART_LSR_BI);
    }
    serial_restart_timeout(s);
    serial_update_irq(s);
    if (s->chr) {
        chardev_accept_input(s->chr);
    }
    return s->rbr;
}

static void serial_write_thr(SerialState *s, uint8_t byte)
{
    /* THR is full for a moment: the THRE interrupt drops, so that it
     * rises again (a new edge) once the byte has gone out. */
    s->thr_ipending = false;
    s->lsr &= ~(UART_LSR_THRE | UART_LSR_TEMT);
    serial_update_irq(s);

    if (s->mcr & UART_MCR_LOOP) {
        serial_receive_byte(s, byte);
    } else if (s->chr) {
        chardev_write(s->chr, &byte, 1);
    }

    s->lsr |= UART_LSR_THRE | UART_LSR_TEMT;
    s->thr_ipending = (s->ier & UART_IER_ETBEI) != 0;
    serial_update_irq(s);
}

static void serial_write_ier(SerialState *s, uint8_t val)
{
    uint8_t changed = (s->ier ^ val) & UART_IER_MASK;

    s->ier = val & UART_IER_MASK;
    /* Enabling ETBEI while THR is empty interrupts at once, as on the
     * real part (Windows and Linux's THRE test rely on it); disabling it
     * forgets the pending THRE. */
    if (changed & UART_IER_ETBEI) {
        s->thr_ipending = (s->ier & UART_IER_ETBEI) &&
                          (s->lsr & UART_LSR_THRE);
    }
    serial_update_irq(s);
}

static void serial_write_fcr(SerialState *s, uint8_t val)
{
    if ((val ^ s->fcr) & UART_FCR_FIFOE) {
        /* Switching the FIFOs on or off empties both. */
        val |= UART_FCR_RFR | UART_FCR_XFR;
    }
    if (val & UART_FCR_RFR) {
        serial_clear_rx(s);
    }
    if (val & UART_FCR_XFR) {
        /* Nothing is ever waiting to be sent: THR is empty already. */
        s->lsr |= UART_LSR_THRE | UART_LSR_TEMT;
        s->thr_ipending = (s->ier & UART_IER_ETBEI) != 0;
    }
    /* The other bits are only written together with FIFOE. */
    if (val & UART_FCR_FIFOE) {
        s->fcr = val & (UART_FCR_FIFOE | UART_FCR_DMS | UART_FCR_RTL);
    } else {
        s->fcr = 0;
    }
    serial_update_irq(s);
    if (s->chr) {
        chardev_accept_input(s->chr);
    }
}

/* Updates the MSR line states; changes set the delta bits. */
static void serial_update_msr(SerialState *s)
{
    uint8_t lines, changed;

    if (s->mcr & UART_MCR_LOOP) {
        /* Loopback wires the modem outputs back to the inputs. */
        lines = (s->mcr & UART_MCR_RTS ? UART_MSR_CTS : 0) |
                (s->mcr & UART_MCR_DTR ? UART_MSR_DSR : 0) |
                (s->mcr & UART_MCR_OUT1 ? UART_MSR_RI : 0) |
                (s->mcr & UART_MCR_OUT2 ? UART_MSR_DCD : 0);
    } else {
        lines = s->connected ? UART_MSR_CTS | UART_MSR_DSR | UART_MSR_DCD : 0;
    }
    changed = (s->msr ^ lines) & UART_MSR_LINES;
    if (changed & UART_MSR_CTS) {
        s->msr |= UART_MSR_DCTS;
    }
    if (changed & UART_MSR_DSR) {
        s->msr |= UART_MSR_DDSR;
    }
    if (changed & UART_MSR_DCD) {
        s->msr |= UART_MSR_DDCD;
    }
    if ((changed & UART_MSR_RI) && !(lines & UART_MSR_RI)) {
        s->msr |= UART_MSR_TERI;
    }
    s->msr = (s->msr & UART_MSR_DELTAS) | lines;
    serial_update_irq(s);
}

static void serial_write_mcr(SerialState *s, uint8_t val)
{
    bool was_loop = s->mcr & UART_MCR_LOOP;

    s->mcr = val & UART_MCR_MASK;
    serial_update_msr(s);
    /* In loopback the receiver is cut off from the host; input waits. */
    if (was_loop && !(s->mcr & UART_MCR_LOOP) && s->chr) {
        chardev_accept_input(s->chr);
    }
}

static uint64_t serial_io_read(void *opaque, uint64_t offset, unsigned size)
{
    SerialState *s = opaque;
    bool dlab = s->lcr & UART_LCR_DLAB;
    uint8_t val;

    switch (offset) {
    case UART_RBR:
        return dlab ? s->divisor & 0xff : serial_read_rbr(s);
    case UART_IER:
        return dlab ? s->divisor >> 8 : s->ier;
    case UART_IIR:
        val = serial_iir(s);
        /* Reading IIR acknowledges a THRE interrupt it reports. */
        if ((val & (UART_IIR_ID | UART_IIR_NO_INT)) == UART_IIR_THRI) {
            s->thr_ipending = false;
            serial_update_irq(s);
        }
        return val;
    case UART_LCR:
        return s->lcr;
    case UART_MCR:
        return s->mcr;
    case UART_LSR:
        /* Reading LSR clears the error bits and their interrupt. */
        val = s->lsr;
        s->lsr &= ~UART_LSR_ERRORS;
        serial_update_irq(s);
        return val;
    case UART_MSR:
        /* Reading MSR clears the deltas and their interrupt. */
        val = s->msr;
        s->msr &= ~UART_MSR_DELTAS;
        serial_update_irq(s);
        return val;
    case UART_SCR:
        return s->scr;
    default:
        return 0xff;
    }
}

static void serial_io_write(void *opaque, uint64_t offset, uint64_t value,
                            unsigned size)
{
    SerialState *s = opaque;
    bool dlab = s->lcr & UART_LCR_DLAB;
    uint8_t val = value;

    switch (offset) {
    case UART_THR:
        if (dlab) {
            s->divisor = (s->divisor & 0xff00) | val;
        } else {
            serial_write_thr(s, val);
        }
        break;
    case UART_IER:
        if (dlab) {
            s->divisor = (s->divisor & 0x00ff) | (uint16_t)(val << 8);
        } else {
            serial_write_ier(s, val);
        }
        break;
    case UART_FCR:
        serial_write_fcr(s, val);
        break;
    case UART_LCR:
        s->lcr = val;
        break;
    case UART_MCR:
        serial_write_mcr(s, val);
        break;
    case UART_SCR:
        s->scr = val;
        break;
    default:
        /* LSR and MSR are read-only (writing them is a factory test). */
        lemu_log_mask(LOG_GUEST_ERROR, "isa-serial@0x%x: write 0x%02x to "
                      "read-only register %u ignored\n", s->iobase, val,
                      (unsigned)offset);
        break;
    }
}

static const IoOps serial_io_ops = {
    .read = serial_io_read,
    .write = serial_io_write,
    .impl_min = 1,
    .impl_max = 1,
};

static size_t serial_can_receive(void *opaque)
{
    SerialState *s = opaque;

    if (s->mcr & UART_MCR_LOOP) {
        return 0;
    }
    return serial_rx_capacity(s) - serial_rx_count(s);
}

static void serial_receive(void *opaque, const uint8_t *buf, size_t len)
{
    SerialState *s = opaque;

    for (size_t i = 0; i < len; i++) {
        serial_receive_byte(s, buf[i]);
    }
    serial_update_irq(s);
}

static void serial_chardev_event(void *opaque, ChardevEvent event)
{
    SerialState *s = opaque;

    s->connected = event == CHARDEV_EVENT_OPENED;
    serial_update_msr(s);
}

static const ChardevFrontendOps serial_chardev_ops = {
    .can_receive = serial_can_receive,
    .receive = serial_receive,
    .event = serial_chardev_event,
};

static void serial_reset(Device *dev)
{
    SerialState *s = (SerialState *)dev;

    /* Power-on values from the datasheet; the divisor is undefined there,
     * 12 (9600 baud) is what PC firmware leaves. */
    s->divisor = 12;
    s->rbr = 0;
    s->ier = 0;
    s->lcr = 0;
    s->mcr = 0;
    s->lsr = UART_LSR_THRE | UART_LSR_TEMT;
    s->scr = 0;
    s->fcr = 0;
    s->thr_ipending = false;
    serial_clear_rx(s);
    s->msr = 0;
    serial_update_msr(s);
    s->msr &= ~UART_MSR_DELTAS;
    serial_update_irq(s);
    if (s->chr) {
        chardev_accept_input(s->chr);
    }
}

static bool serial_realize(Device *dev, GError **errp)
{
    SerialState *s = (SerialState *)dev;
    Machine *m = dev->machine;

    if (s->iobase > 0x10000 - UART_NR_PORTS) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "isa-serial: iobase 0x%x is out of range (expected at "
                    "most 0x%x)", s->iobase, 0x10000 - UART_NR_PORTS);
        return false;
    }
    if (s->irq > 15) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "isa-serial: irq %u is out of range (expected 0-15)",
                    s->irq);
        return false;
    }
    if (s->chr && chardev_has_frontend(s->chr)) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "isa-serial: chardev '%s' is already used by another "
                    "device", chardev_id(s->chr));
        return false;
    }
    if (!ioport_register(m->io, "serial", s->iobase, UART_NR_PORTS,
                         &serial_io_ops, s, errp)) {
        return false;
    }
    s->irq_line = machine_gsi_line(m, s->irq);
    s->timeout_timer = timer_new(m->loop, CLOCK_VIRTUAL, serial_timeout, s);
    if (s->chr) {
        chardev_set_frontend(s->chr, &serial_chardev_ops, s);
    }
    serial_reset(dev);
    return true;
}

static void serial_unrealize(Device *dev)
{
    SerialState *s = (SerialState *)dev;

    if (s->chr) {
        chardev_set_frontend(s->chr, NULL, NULL);
    }
    ioport_unregister(dev->machine->io, s->iobase);
    timer_free(s->timeout_timer);
    s->timeout_timer = NULL;
}

const DeviceClass serial_isa_class = {
    .name = "isa-serial",
    .desc = "16550A UART on the ISA bus",
    .instance_size = sizeof(SerialState),
    .user_creatable = true,
    .props = serial_props,
    .vmstate = serial_vmstate,
    .realize = serial_realize,
    .reset = serial_reset,
    .unrealize = serial_unrealize,
};
