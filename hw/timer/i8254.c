/*
 * Intel 8254 programmable interval timer, and the PC's system control
 * port B (0x61), which holds channel 2's GATE and reads its OUT.
 *
 * Written from the Intel 8254 datasheet (231164). Nothing ticks: each
 * channel remembers when its counting element was loaded (on
 * CLOCK_VIRTUAL) and how many input clocks it had counted before then,
 * and the counter and OUT are computed from the clocks elapsed since.
 * Channel 0's OUT drives IRQ 0 through a timer armed for its next
 * transition, computed from the load time so that periodic interrupts do
 * not drift.
 *
 * One simplification: a count is taken by the counting element at the
 * write (or gate trigger) itself rather than on the next input clock, so
 * everything happens one clock (838 ns) early.
 */
#include <string.h>
#include "lemu/hw/timer/i8254.h"
#include "hw/device-classes.h"
#include "lemu/system/machine.h"
#include "lemu/system/memory.h"
#include "lemu/util/log.h"

#define PIT_BASE            0x40
#define PIT_PORT_B          0x61    /* system control port B */

/* Register offsets from PIT_BASE. */
#define PIT_COUNTER0        0
#define PIT_COUNTER1        1
#define PIT_COUNTER2        2
#define PIT_CONTROL         3

/* Control word. */
#define CW_SC_SHIFT         6       /* select counter; 3 = read-back */
#define CW_SC_READ_BACK     3
#define CW_RW_SHIFT         4       /* read/write: 0 = counter latch */
#define CW_RW_MASK          3
#define CW_M_SHIFT          1       /* mode */
#define CW_M_MASK           7
#define CW_BCD              0x01

/* RW field. */
#define RW_LATCH            0
#define RW_LSB              1
#define RW_MSB              2
#define RW_LSB_MSB          3

/* Read-back command. */
#define RB_COUNT_N          0x20    /* 0: latch the count */
#define RB_STATUS_N         0x10    /* 0: latch the status */
#define RB_CNT(n)           (0x02 << (n))

/* Status byte. */
#define STATUS_OUTPUT       0x80
#define STATUS_NULL_COUNT   0x40

/* Port B bits. */
#define PORT_B_GATE2        0x01    /* timer 2 gate */
#define PORT_B_SPKR_DATA    0x02    /* speaker data enable */
#define PORT_B_PARITY_EN    0x04    /* (inverted) parity check enable */
#define PORT_B_IOCHK_EN     0x08    /* (inverted) channel check enable */
#define PORT_B_REFRESH      0x10    /* refresh request toggle */
#define PORT_B_OUT2         0x20    /* timer 2 OUT */
#define PORT_B_WRITABLE     0x0f

/* The refresh request bit toggles at each DRAM refresh, every 15.085 us. */
#define PORT_B_REFRESH_NS   15085

/*
 * IRQ 0 timer events closer together than this are merged, so that a
 * guest programming a tiny period cannot flood the host; it still sees a
 * rising edge per timer event.
 */
#define PIT_MIN_EVENT_NS    10000

#define PIT_NO_EVENT        UINT64_MAX

typedef struct PitChannel {
    uint32_t count;         /* counting element reload: 1..modulus */
    uint32_t cr;            /* count register: the last count written */
    uint8_t mode;           /* 0-5 */
    uint8_t rw_mode;        /* RW_LSB, RW_MSB, RW_LSB_MSB */
    bool bcd;
    bool gate;
    bool armed;             /* the mode's count sequence has started */
    bool cr_valid;          /* a full count was written since the mode */
    bool null_count;        /* CR not yet transferred to the element */
    bool reload_pending;    /* modes 2/3: cr takes over at reload_at */
    uint64_t reload_at;     /* in elapsed clocks */
    uint8_t write_msb_next; /* RW_LSB_MSB: the next write is the MSB */
    uint8_t write_lsb;
    uint8_t read_msb_next;  /* RW_LSB_MSB: the next live read is the MSB */
    uint8_t latch_bytes;    /* latched count bytes still to be read */
    uint16_t latched_count;
    bool status_latched;
    uint8_t status;
    int64_t base_time;      /* CLOCK_VIRTUAL ns when counting (re)started */
    uint64_t base_ticks;    /* clocks counted before base_time */
    int64_t edges_delivered; /* channel 0: rising edges sent on IRQ 0 */
} PitChannel;

struct I8254State {
    Device parent;
    PitChannel ch[I8254_NR_CHANNELS];
    uint8_t port_b;         /* the writable bits of port 0x61 */
    bool irq_level;
    IrqLine irq;
    Timer *timer;
};

#define VMSTATE_PIT_CHANNEL(i) \
    VMSTATE(I8254State, ch[i].count, VMS_U32), \
    VMSTATE(I8254State, ch[i].cr, VMS_U32), \
    VMSTATE(I8254State, ch[i].mode, VMS_U8), \
    VMSTATE(I8254State, ch[i].rw_mode, VMS_U8), \
    VMSTATE(I8254State, ch[i].bcd, VMS_BOOL), \
    VMSTATE(I8254State, ch[i].gate, VMS_BOOL), \
    VMSTATE(I8254State, ch[i].armed, VMS_BOOL), \
    VMSTATE(I8254State, ch[i].cr_valid, VMS_BOOL), \
    VMSTATE(I8254State, ch[i].null_count, VMS_BOOL), \
    VMSTATE(I8254State, ch[i].reload_pending, VMS_BOOL), \
    VMSTATE(I8254State, ch[i].reload_at, VMS_U64), \
    VMSTATE(I8254State, ch[i].write_msb_next, VMS_U8), \
    VMSTATE(I8254State, ch[i].write_lsb, VMS_U8), \
    VMSTATE(I8254State, ch[i].read_msb_next, VMS_U8), \
    VMSTATE(I8254State, ch[i].latch_bytes, VMS_U8), \
    VMSTATE(I8254State, ch[i].latched_count, VMS_U16), \
    VMSTATE(I8254State, ch[i].status_latched, VMS_BOOL), \
    VMSTATE(I8254State, ch[i].status, VMS_U8), \
    VMSTATE(I8254State, ch[i].base_time, VMS_I64), \
    VMSTATE(I8254State, ch[i].base_ticks, VMS_U64), \
    VMSTATE(I8254State, ch[i].edges_delivered, VMS_I64)

static const VMStateField i8254_vmstate[] = {
    VMSTATE_PIT_CHANNEL(0),
    VMSTATE_PIT_CHANNEL(1),
    VMSTATE_PIT_CHANNEL(2),
    VMSTATE(I8254State, port_b, VMS_U8),
    VMSTATE(I8254State, irq_level, VMS_BOOL),
    VMSTATE_END
};

static const DeviceProperty i8254_props[] = {
    DEFINE_PROP_END
};

/* ---- time ---- */

static int64_t pit_now(I8254State *s)
{
    return clock_get_ns(s->parent.machine->loop, CLOCK_VIRTUAL);
}

static uint64_t ns_to_ticks(int64_t ns)
{
    if (ns <= 0) {
        return 0;
    }
    return (unsigned __int128)ns * I8254_FREQ_HZ / NANOSECONDS_PER_SECOND;
}

/* The first ns at which @ticks clocks have elapsed. */
static int64_t ticks_to_ns_ceil(uint64_t ticks)
{
    unsigned __int128 ns = ((unsigned __int128)ticks * NANOSECONDS_PER_SECOND
                            + I8254_FREQ_HZ - 1) / I8254_FREQ_HZ;

    return ns > INT64_MAX ? INT64_MAX : (int64_t)ns;
}

/* ---- one channel's counting, as a function of elapsed clocks ---- */

static uint32_t pit_modulus(const PitChannel *ch)
{
    return ch->bcd ? 10000 : 65536;
}

static bool pit_counting(const PitChannel *ch)
{
    /* Modes 1 and 5 are started by a gate edge; its level does not
     * matter afterwards. The others count only while GATE is high. */
    return ch->armed && (ch->gate || ch->mode == 1 || ch->mode == 5);
}

/* Input clocks counted since the element was loaded. */
static uint64_t pit_elapsed(const PitChannel *ch, int64_t now)
{
    if (!pit_counting(ch)) {
        return ch->base_ticks;
    }
    return ch->base_ticks + ns_to_ticks(now - ch->base_time);
}

static void pit_start(PitChannel *ch, int64_t now, uint32_t count)
{
    ch->count = count;
    ch->armed = true;
    ch->null_count = false;
    ch->reload_pending = false;
    ch->base_time = now;
    ch->base_ticks = 0;
    ch->edges_delivered = 0;
}

/* Modes 2 and 3: a count written while running takes over at the end of
 * the current period; apply it once that point has passed. */
static void pit_sync(PitChannel *ch, int64_t now)
{
    uint64_t old_count = ch->count;

    if (!ch->reload_pending || !pit_counting(ch) ||
        pit_elapsed(ch, now) < ch->reload_at) {
        return;
    }
    /* Rebase on the exact switch point, so that no time is lost. */
    ch->base_time += ticks_to_ns_ceil(ch->reload_at - ch->base_ticks);
    ch->base_ticks = 0;
    ch->edges_delivered -= ch->reload_at / old_count;
    ch->count = ch->cr;
    ch->reload_pending = false;
    ch->null_count = false;
}

/* The counting element, 0..modulus-1 (binary, before any BCD encoding). */
static uint32_t pit_counter_value(const PitChannel *ch, uint64_t d)
{
    uint32_t n = ch->count;
    uint32_t m = pit_modulus(ch);
    uint32_t phase, high, start;

    switch (ch->mode) {
    case 2:
        return (n - d % n) % m;
    case 3:
        /* Decrements by two; an odd count loads count - 1 and spends one
         * more clock with OUT high than low. */
        phase = d % n;
        high = (n + 1) / 2;
        if (phase >= high) {
            phase -= high;
        }
        start = (n & 1) ? n - 1 : n;
        return (start - 2 * phase) % m;
    default:
        /* Modes 0, 1, 4, 5 wrap past zero and keep counting. */
        return (n + m - d % m) % m;
    }
}

static bool pit_out_level(const PitChannel *ch, uint64_t d)
{
    uint32_t n = ch->count;

    if (!ch->armed) {
        /* After the control word (or the first byte of a mode 0 count)
         * OUT is low in mode 0 and high in the others. */
        return ch->mode != 0;
    }
    switch (ch->mode) {
    case 0:
    case 1:
        return d >= n;
    case 2:
        /* Low for the one clock in which the counter reads 1. */
        return !ch->gate || !(n > 1 && d % n == n - 1);
    case 3:
        return !ch->gate || d % n < (n + 1) / 2;
    default:
        /* Modes 4 and 5: one low clock at terminal count. */
        return d != n;
    }
}

/* Rising edges of OUT since the element was loaded. */
static uint64_t pit_rising_edges(const PitChannel *ch, uint64_t d)
{
    uint32_t n = ch->count;

    if (!ch->armed) {
        return 0;
    }
    switch (ch->mode) {
    case 0:
    case 1:
        return d >= n;
    case 2:
    case 3:
        return d / n;
    default:
        return d > n;
    }
}

/* The next elapsed-clock count after @d at which OUT changes. */
static uint64_t pit_next_event(const PitChannel *ch, uint64_t d)
{
    uint32_t n = ch->count;
    uint64_t period_start, high;

    if (!pit_counting(ch)) {
        return PIT_NO_EVENT;
    }
    switch (ch->mode) {
    case 0:
    case 1:
        return d < n ? n : PIT_NO_EVENT;
    case 2:
        /* Only the rising edge that ends the low clock is scheduled; the
         * IRQ is pulsed there. */
        return (d / n + 1) * n;
    case 3:
        period_start = d - d % n;
        high = (n + 1) / 2;
        if (d % n < high && high < n) {
            return period_start + high;
        }
        return period_start + n;
    default:
        return d <= n ? (uint64_t)n + 1 : PIT_NO_EVENT;
    }
}

/* ---- channel 0 and IRQ 0 ---- */

static void pit_update_irq(I8254State *s, int64_t now)
{
    PitChannel *ch = &s->ch[0];
    uint64_t d, next;
    int64_t edges, deadline;
    bool out;

    pit_sync(ch, now);
    d = pit_elapsed(ch, now);
    edges = pit_rising_edges(ch, d);
    out = pit_out_level(ch, d);

    if (ch->armed && edges != ch->edges_delivered) {
        /* One or more rising edges happened since the last update:
         * deliver one (the PIC latches only one anyway). */
        if (s->irq_level) {
            irq_lower(&s->irq);
        }
        irq_raise(&s->irq);
        s->irq_level = true;
        ch->edges_delivered = edges;
    }
    if (out != s->irq_level) {
        s->irq_level = out;
        irq_set_level(&s->irq, out);
    }

    next = pit_next_event(ch, d);
    if (next == PIT_NO_EVENT) {
        timer_del(s->timer);
        return;
    }
    deadline = ch->base_time + ticks_to_ns_ceil(next - ch->base_ticks);
    if (deadline < now + PIT_MIN_EVENT_NS) {
        deadline = now + PIT_MIN_EVENT_NS;
    }
    timer_mod_ns(s->timer, deadline);
}

static void pit_timer_cb(void *opaque)
{
    I8254State *s = opaque;

    pit_update_irq(s, pit_now(s));
}

/* ---- register access ---- */

static uint32_t bin_to_bcd(uint32_t v)
{
    return (v / 1000 % 10) << 12 | (v / 100 % 10) << 8 |
           (v / 10 % 10) << 4 | (v % 10);
}

/* The count a guest wrote, as clocks: 0 stands for the modulus. */
static uint32_t pit_decode_count(int n, const PitChannel *ch, uint16_t raw)
{
    uint32_t v = raw;

    if (ch->bcd) {
        v = 0;
        for (int shift = 12; shift >= 0; shift -= 4) {
            uint32_t digit = (raw >> shift) & 0xf;

            if (digit > 9) {
                lemu_log_mask(LOG_GUEST_ERROR, "i8254: channel %d: BCD "
                              "count 0x%04x has a digit above 9\n", n, raw);
                digit = 9;
            }
            v = v * 10 + digit;
        }
    }
    return v ? v : pit_modulus(ch);
}

static void pit_load_count(I8254State *s, int n, uint16_t raw, int64_t now)
{
    PitChannel *ch = &s->ch[n];
    uint32_t count = pit_decode_count(n, ch, raw);

    ch->cr = count;
    ch->cr_valid = true;
    ch->null_count = true;

    if (n == 0 && (ch->mode == 2 || ch->mode == 3) &&
        ticks_to_ns_ceil(count) < PIT_MIN_EVENT_NS) {
        lemu_log_mask(LOG_UNIMP, "i8254: channel 0 period of %u clocks is "
                      "below %d ns; IRQ 0 is rate-limited\n", count,
                      PIT_MIN_EVENT_NS);
    }

    switch (ch->mode) {
    case 0:
    case 4:
        pit_start(ch, now, count);
        break;
    case 1:
    case 5:
        /* Taken at the next gate trigger. */
        break;
    default:
        if (ch->armed && ch->gate) {
            uint64_t d = pit_elapsed(ch, now);

            ch->reload_pending = true;
            ch->reload_at = (d / ch->count + 1) * ch->count;
        } else {
            pit_start(ch, now, count);
        }
        break;
    }
}

static void pit_write_counter(I8254State *s, int n, uint8_t val, int64_t now)
{
    PitChannel *ch = &s->ch[n];

    switch (ch->rw_mode) {
    case RW_LSB:
        pit_load_count(s, n, val, now);
        break;
    case RW_MSB:
        pit_load_count(s, n, val << 8, now);
        break;
    default:
        if (!ch->write_msb_next) {
            ch->write_lsb = val;
            ch->write_msb_next = 1;
            if (ch->mode == 0) {
                /* The first byte stops counting and drives OUT low. */
                ch->base_ticks = pit_elapsed(ch, now);
                ch->armed = false;
            }
        } else {
            ch->write_msb_next = 0;
            pit_load_count(s, n, ch->write_lsb | val << 8, now);
        }
        break;
    }
}

static uint8_t pit_status(const PitChannel *ch, int64_t now)
{
    return (pit_out_level(ch, pit_elapsed(ch, now)) ? STATUS_OUTPUT : 0) |
           (ch->null_count ? STATUS_NULL_COUNT : 0) |
           ch->rw_mode << CW_RW_SHIFT | ch->mode << CW_M_SHIFT |
           (ch->bcd ? CW_BCD : 0);
}

static uint16_t pit_read_count(const PitChannel *ch, int64_t now)
{
    uint32_t v = pit_counter_value(ch, pit_elapsed(ch, now));

    return ch->bcd ? bin_to_bcd(v) : v;
}

static void pit_latch_count(PitChannel *ch, int64_t now)
{
    /* A second latch before the first is read is ignored. */
    if (ch->latch_bytes) {
        return;
    }
    ch->latched_count = pit_read_count(ch, now);
    ch->latch_bytes = ch->rw_mode == RW_LSB_MSB ? 2 : 1;
}

static void pit_latch_status(PitChannel *ch, int64_t now)
{
    if (ch->status_latched) {
        return;
    }
    ch->status = pit_status(ch, now);
    ch->status_latched = true;
}

static void pit_read_back(I8254State *s, uint8_t val, int64_t now)
{
    for (int n = 0; n < I8254_NR_CHANNELS; n++) {
        if (!(val & RB_CNT(n))) {
            continue;
        }
        pit_sync(&s->ch[n], now);
        if (!(val & RB_STATUS_N)) {
            pit_latch_status(&s->ch[n], now);
        }
        if (!(val & RB_COUNT_N)) {
            pit_latch_count(&s->ch[n], now);
        }
    }
}

static void pit_write_control(I8254State *s, uint8_t val, int64_t now)
{
    int n = val >> CW_SC_SHIFT;
    int rw = (val >> CW_RW_SHIFT) & CW_RW_MASK;
    int mode = (val >> CW_M_SHIFT) & CW_M_MASK;
    PitChannel *ch;

    if (n == CW_SC_READ_BACK) {
        pit_read_back(s, val, now);
        return;
    }
    ch = &s->ch[n];
    pit_sync(ch, now);
    if (rw == RW_LATCH) {
        pit_latch_count(ch, now);
        return;
    }
    /* Modes 6 and 7 are modes 2 and 3 (the top bit is don't-care). */
    if (mode > 5) {
        mode -= 4;
    }
    ch->base_ticks = pit_elapsed(ch, now);
    ch->mode = mode;
    ch->rw_mode = rw;
    ch->bcd = val & CW_BCD;
    ch->armed = false;
    ch->cr_valid = false;
    ch->null_count = true;
    ch->reload_pending = false;
    ch->write_msb_next = 0;
    ch->read_msb_next = 0;
    ch->latch_bytes = 0;
    ch->status_latched = false;
    /* count stays a legal divisor for the counter formulas. */
    if (ch->count > pit_modulus(ch)) {
        ch->count = pit_modulus(ch);
    }
}

static uint8_t pit_read_counter(I8254State *s, int n, int64_t now)
{
    PitChannel *ch = &s->ch[n];
    uint16_t v;
    bool msb;

    if (ch->status_latched) {
        ch->status_latched = false;
        return ch->status;
    }
    if (ch->latch_bytes) {
        v = ch->latched_count;
        /* LSB first for two-byte reads. */
        msb = ch->rw_mode == RW_MSB ||
              (ch->rw_mode == RW_LSB_MSB && ch->latch_bytes == 1);
        ch->latch_bytes--;
    } else {
        pit_sync(ch, now);
        v = pit_read_count(ch, now);
        switch (ch->rw_mode) {
        case RW_LSB:
            msb = false;
            break;
        case RW_MSB:
            msb = true;
            break;
        default:
            msb = ch->read_msb_next;
            ch->read_msb_next ^= 1;
            break;
        }
    }
    return msb ? v >> 8 : v & 0xff;
}

static void pit_set_gate(I8254State *s, int n, bool level, int64_t now)
{
    PitChannel *ch = &s->ch[n];

    if (level == ch->gate) {
        return;
    }
    pit_sync(ch, now);
    if (!level) {
        /* Modes 0, 2, 3, 4 stop counting while GATE is low; 1 and 5 go
         * on. */
        if (ch->mode != 1 && ch->mode != 5) {
            ch->base_ticks = pit_elapsed(ch, now);
        }
        ch->gate = false;
        return;
    }
    ch->gate = true;
    switch (ch->mode) {
    case 0:
    case 4:
        /* Resume where counting stopped. */
        ch->base_time = now;
        break;
    default:
        /* Modes 1 and 5 trigger, 2 and 3 reload and restart. */
        if (ch->cr_valid) {
            pit_start(ch, now, ch->cr);
        }
        break;
    }
}

static uint64_t pit_io_read(void *opaque, uint64_t offset, unsigned size)
{
    I8254State *s = opaque;

    if (offset == PIT_CONTROL) {
        lemu_log_mask(LOG_GUEST_ERROR, "i8254: read of the write-only "
                      "control word register\n");
        return 0xff;
    }
    return pit_read_counter(s, offset, pit_now(s));
}

static void pit_io_write(void *opaque, uint64_t offset, uint64_t value,
                         unsigned size)
{
    I8254State *s = opaque;
    int64_t now = pit_now(s);

    if (offset == PIT_CONTROL) {
        pit_write_control(s, value, now);
    } else {
        pit_write_counter(s, offset, value, now);
    }
    pit_update_irq(s, now);
}

static uint64_t port_b_io_read(void *opaque, uint64_t offset, unsigned size)
{
    I8254State *s = opaque;
    int64_t now = pit_now(s);
    PitChannel *ch2 = &s->ch[2];
    uint8_t v = s->port_b;

    if ((now / PORT_B_REFRESH_NS) & 1) {
        v |= PORT_B_REFRESH;
    }
    pit_sync(ch2, now);
    if (pit_out_level(ch2, pit_elapsed(ch2, now))) {
        v |= PORT_B_OUT2;
    }
    return v;
}

static void port_b_io_write(void *opaque, uint64_t offset, uint64_t value,
                            unsigned size)
{
    I8254State *s = opaque;

    s->port_b = value & PORT_B_WRITABLE;
    pit_set_gate(s, 2, value & PORT_B_GATE2, pit_now(s));
}

static const IoOps pit_ops = {
    .read = pit_io_read,
    .write = pit_io_write,
    .impl_min = 1,
    .impl_max = 1,
};

static const IoOps port_b_ops = {
    .read = port_b_io_read,
    .write = port_b_io_write,
    .impl_min = 1,
    .impl_max = 1,
};

/* ---- public API ---- */

I8254State *i8254_from_device(Device *dev)
{
    if (!dev || dev->cls != &i8254_class) {
        return NULL;
    }
    return (I8254State *)dev;
}

bool i8254_get_out(I8254State *s, int channel)
{
    int64_t now;

    if (channel < 0 || channel >= I8254_NR_CHANNELS) {
        return false;
    }
    now = pit_now(s);
    pit_sync(&s->ch[channel], now);
    return pit_out_level(&s->ch[channel], pit_elapsed(&s->ch[channel], now));
}

void i8254_set_gate(I8254State *s, int channel, bool level)
{
    int64_t now;

    if (channel < 0 || channel >= I8254_NR_CHANNELS) {
        return;
    }
    now = pit_now(s);
    pit_set_gate(s, channel, level, now);
    if (channel == 0) {
        pit_update_irq(s, now);
    } else if (channel == 2) {
        s->port_b = (s->port_b & ~PORT_B_GATE2) | (level ? PORT_B_GATE2 : 0);
    }
}

/* ---- device ---- */

/*
 * Power-on: every channel in mode 3 with a count of 65536, as the PC BIOS
 * leaves them, so guests started without firmware get the usual 18.2 Hz
 * tick. Channel 2's gate is off (port B bit 0 clear).
 */
static void i8254_reset(Device *dev)
{
    I8254State *s = (I8254State *)dev;
    int64_t now = pit_now(s);

    for (int n = 0; n < I8254_NR_CHANNELS; n++) {
        PitChannel *ch = &s->ch[n];

        memset(ch, 0, sizeof(*ch));
        ch->mode = 3;
        ch->rw_mode = RW_LSB_MSB;
        ch->gate = n != 2;
        ch->cr = pit_modulus(ch);
        ch->cr_valid = true;
        pit_start(ch, now, ch->cr);
    }
    s->port_b = 0;
    pit_update_irq(s, now);
}

static bool i8254_realize(Device *dev, GError **errp)
{
    I8254State *s = (I8254State *)dev;
    Machine *m = dev->machine;

    if (!ioport_register(m->io, "i8254", PIT_BASE, 4, &pit_ops, s, errp)) {
        return false;
    }
    if (!ioport_register(m->io, "i8254-port-b", PIT_PORT_B, 1, &port_b_ops,
                         s, errp)) {
        ioport_unregister(m->io, PIT_BASE);
        return false;
    }
    s->irq = machine_gsi_line(m, 0);
    s->timer = timer_new(m->loop, CLOCK_VIRTUAL, pit_timer_cb, s);
    i8254_reset(dev);
    return true;
}

static void i8254_unrealize(Device *dev)
{
    I8254State *s = (I8254State *)dev;
    Machine *m = dev->machine;

    timer_free(s->timer);
    s->timer = NULL;
    ioport_unregister(m->io, PIT_PORT_B);
    ioport_unregister(m->io, PIT_BASE);
}

const DeviceClass i8254_class = {
    .name = "i8254",
    .desc = "8254 interval timer (IRQ 0) and port 0x61",
    .instance_size = sizeof(I8254State),
    .user_creatable = false,
    .props = i8254_props,
    .vmstate = i8254_vmstate,
    .realize = i8254_realize,
    .reset = i8254_reset,
    .unrealize = i8254_unrealize,
};
