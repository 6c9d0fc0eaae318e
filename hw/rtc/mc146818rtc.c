/*
 * MC146818 real-time clock and CMOS memory: index port 0x70 (bit 7 masks
 * NMI), data port 0x71, IRQ 8.
 *
 * The clock starts from the host's UTC time at realize and then advances
 * with CLOCK_VIRTUAL, so it stands still while the VM is paused. The guest
 * time is kept as a second count (time_s) plus the CLOCK_VIRTUAL instant at
 * which that second began (base_ns); the time registers are computed from
 * those on every read while the clock runs, and hold the guest's own values
 * while it is stopped (SET bit, divider in reset). The divider chain's
 * phase is the same base_ns, so periodic interrupts line up with the
 * second updates as on the chip.
 */
#include <string.h>
#include "lemu/hw/qdev.h"
#include "lemu/system/machine.h"
#include "lemu/util/log.h"
#include "lemu/util/main-loop.h"
#include "hw/device-classes.h"

#define RTC_BASE_PORT        0x70   /* 0x70 index, 0x71 data */
#define RTC_IRQ              8
#define RTC_CMOS_SIZE        128

/* Clock registers. */
#define RTC_SECONDS          0x00
#define RTC_SECONDS_ALARM    0x01
#define RTC_MINUTES          0x02
#define RTC_MINUTES_ALARM    0x03
#define RTC_HOURS            0x04
#define RTC_HOURS_ALARM      0x05
#define RTC_DAY_OF_WEEK      0x06
#define RTC_DAY_OF_MONTH     0x07
#define RTC_MONTH            0x08
#define RTC_YEAR             0x09
#define RTC_REG_A            0x0a
#define RTC_REG_B            0x0b
#define RTC_REG_C            0x0c
#define RTC_REG_D            0x0d

/* CMOS bytes of the PC BIOS. */
#define CMOS_SHUTDOWN_STATUS 0x0f
#define CMOS_FLOPPY_TYPES    0x10
#define CMOS_EQUIPMENT       0x14
#define CMOS_BASE_MEM_LO     0x15   /* KiB below 640 KiB */
#define CMOS_BASE_MEM_HI     0x16
#define CMOS_EXT_MEM_LO      0x17   /* KiB above 1 MiB */
#define CMOS_EXT_MEM_HI      0x18
#define CMOS_POST_EXT_MEM_LO 0x30   /* the same, as found by POST */
#define CMOS_POST_EXT_MEM_HI 0x31
#define CMOS_CENTURY         0x32
#define CMOS_MEM_16M_LO      0x34   /* 64 KiB units above 16 MiB, below 4 GiB */
#define CMOS_MEM_16M_HI      0x35
#define CMOS_MEM_4G_LO       0x5b   /* 64 KiB units above 4 GiB */
#define CMOS_MEM_4G_MID      0x5c
#define CMOS_MEM_4G_HI       0x5d
#define CMOS_NR_CPUS_MINUS_1 0x5f

#define CMOS_EQUIPMENT_FPU   0x02

/* Register A. */
#define REG_A_UIP            0x80   /* update in progress */
#define REG_A_DV_MASK        0x70   /* divider: 000-010 run, 11x reset */
#define REG_A_DV_32KHZ       0x20
#define REG_A_RS_MASK        0x0f   /* periodic rate select */
/* Register B. */
#define REG_B_SET            0x80
#define REG_B_PIE            0x40
#define REG_B_AIE            0x20
#define REG_B_UIE            0x10
#define REG_B_SQWE           0x08
#define REG_B_DM             0x04   /* 1: binary, 0: BCD */
#define REG_B_24H            0x02
#define REG_B_DSE            0x01
/* Register C. */
#define REG_C_IRQF           0x80
#define REG_C_PF             0x40
#define REG_C_AF             0x20
#define REG_C_UF             0x10
/* Register D. */
#define REG_D_VRT            0x80

#define RTC_INDEX_NMI_DISABLE 0x80
#define RTC_HOUR_PM          0x80
#define RTC_ALARM_DONT_CARE  0xc0   /* alarm byte 0xc0-0xff matches anything */

#define RTC_TIMEBASE_HZ      32768
#define NS                   NANOSECONDS_PER_SECOND
/* UIP is set this long before each update: 8 cycles of 32.768 kHz. */
#define RTC_UIP_HOLD_NS      (8 * NS / RTC_TIMEBASE_HZ)

#define SECONDS_PER_DAY      86400
#define KiB                  1024ULL
#define MiB                  (1024 * KiB)

typedef struct RtcState {
    Device parent;

    uint8_t cmos[RTC_CMOS_SIZE];
    uint8_t index;              /* 0..0x7f */
    bool nmi_disabled;          /* bit 7 of the last index write */
    /* Guest time: second time_s began at CLOCK_VIRTUAL base_ns. */
    int64_t time_s;
    int64_t base_ns;
    /* With PIE off, PF is worked out when register C is read. */
    int64_t pf_checked_ns;

    IrqLine irq;
    Timer *periodic_timer;
    Timer *update_timer;
    bool ports_registered;
} RtcState;

static const VMStateField rtc_vmstate[] = {
    VMSTATE_ARRAY(RtcState, cmos, VMS_U8, RTC_CMOS_SIZE),
    VMSTATE(RtcState, index, VMS_U8),
    VMSTATE(RtcState, nmi_disabled, VMS_BOOL),
    VMSTATE(RtcState, time_s, VMS_I64),
    VMSTATE(RtcState, base_ns, VMS_I64),
    VMSTATE(RtcState, pf_checked_ns, VMS_I64),
    VMSTATE_END
};

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;

    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int64_t floor_mod(int64_t a, int64_t b)
{
    return a - floor_div(a, b) * b;
}

/* Days since 1970-01-01 of a proleptic Gregorian date; @d may be out of
 * range (it just counts on), @m must be 1..12. */
static int64_t days_from_date(int64_t y, int m, int64_t d)
{
    int64_t era, yoe, doy, doe;

    if (m <= 2) {
        y--;
    }
    era = floor_div(y, 400);
    yoe = y - era * 400;                                  /* 0..399 */
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;                   /* 1970-03-01 base */
}

static void date_from_days(int64_t days, int64_t *y, int *m, int *d)
{
    int64_t z = days + 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;                       /* 0..146096 */
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;                     /* March = 0 */

    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int64_t rtc_now(RtcState *s)
{
    return clock_get_ns(DEVICE(s)->machine->loop, CLOCK_VIRTUAL);
}

static bool rtc_divider_running(RtcState *s)
{
    return (s->cmos[RTC_REG_A] & REG_A_DV_MASK) <= REG_A_DV_32KHZ;
}

/* Whether the time advances: divider running and no SET. */
static bool rtc_clock_running(RtcState *s)
{
    return rtc_divider_running(s) && !(s->cmos[RTC_REG_B] & REG_B_SET);
}

/* Nanoseconds into the current second of the divider chain, 0..NS-1. */
static int64_t rtc_subsecond(RtcState *s, int64_t now)
{
    return floor_mod(now - s->base_ns, NS);
}

static int64_t rtc_guest_seconds(RtcState *s, int64_t now)
{
    return s->time_s + floor_div(now - s->base_ns, NS);
}

static void rtc_set_guest_time(RtcState *s, int64_t now, int64_t seconds,
                               int64_t subsecond_ns)
{
    s->time_s = seconds;
    s->base_ns = now - subsecond_ns;
}

static uint8_t rtc_to_reg(RtcState *s, int v)
{
    if (s->cmos[RTC_REG_B] & REG_B_DM) {
        return (uint8_t)v;
    }
    return (uint8_t)(((v / 10) << 4) | (v % 10));
}

static int rtc_from_reg(RtcState *s, uint8_t v)
{
    if (s->cmos[RTC_REG_B] & REG_B_DM) {
        return v;
    }
    /* Not valid BCD from a careless guest still gives a bounded number. */
    return (v >> 4) * 10 + (v & 0x0f);
}

static uint8_t rtc_hour_to_reg(RtcState *s, int hour)
{
    int h12;

    if (s->cmos[RTC_REG_B] & REG_B_24H) {
        return rtc_to_reg(s, hour);
    }
    h12 = hour % 12 ? hour % 12 : 12;
    return rtc_to_reg(s, h12) | (hour >= 12 ? RTC_HOUR_PM : 0);
}

static int rtc_hour_from_reg(RtcState *s, uint8_t v)
{
    int hour;

    if (s->cmos[RTC_REG_B] & REG_B_24H) {
        return rtc_from_reg(s, v);
    }
    hour = rtc_from_reg(s, v & ~RTC_HOUR_PM) % 12;
    return (v & RTC_HOUR_PM) ? hour + 12 : hour;
}

/* Writes @seconds (since the epoch) into the time registers. */
static void rtc_store_time(RtcState *s, int64_t seconds)
{
    int64_t days = floor_div(seconds, SECONDS_PER_DAY);
    int64_t secs = seconds - days * SECONDS_PER_DAY;
    int64_t year;
    int month, day;

    date_from_days(days, &year, &month, &day);
    year = CLAMP(year, 0, 9999);
    s->cmos[RTC_SECONDS] = rtc_to_reg(s, (int)(secs % 60));
    s->cmos[RTC_MINUTES] = rtc_to_reg(s, (int)(secs / 60 % 60));
    s->cmos[RTC_HOURS] = rtc_hour_to_reg(s, (int)(secs / 3600));
    s->cmos[RTC_DAY_OF_WEEK] = rtc_to_reg(s, (int)floor_mod(days + 4, 7) + 1);
    s->cmos[RTC_DAY_OF_MONTH] = rtc_to_reg(s, day);
    s->cmos[RTC_MONTH] = rtc_to_reg(s, month);
    s->cmos[RTC_YEAR] = rtc_to_reg(s, (int)(year % 100));
    s->cmos[CMOS_CENTURY] = rtc_to_reg(s, (int)(year / 100));
}

/* The time the registers hold, in seconds since the epoch. Out-of-range
 * fields are taken as they come (a day 0 is the last of the month before);
 * only the month is clamped, since it indexes the calendar. */
static int64_t rtc_load_time(RtcState *s)
{
    int64_t year = rtc_from_reg(s, s->cmos[CMOS_CENTURY]) * 100 +
                   rtc_from_reg(s, s->cmos[RTC_YEAR]);
    int month = CLAMP(rtc_from_reg(s, s->cmos[RTC_MONTH]), 1, 12);
    int64_t days = days_from_date(year, month,
                                  rtc_from_reg(s, s->cmos[RTC_DAY_OF_MONTH]));

    return days * SECONDS_PER_DAY +
           rtc_hour_from_reg(s, s->cmos[RTC_HOURS]) * 3600 +
           rtc_from_reg(s, s->cmos[RTC_MINUTES]) * 60 +
           rtc_from_reg(s, s->cmos[RTC_SECONDS]);
}

static bool rtc_is_time_register(uint8_t index)
{
    switch (index) {
    case RTC_SECONDS:
    case RTC_MINUTES:
    case RTC_HOURS:
    case RTC_DAY_OF_WEEK:
    case RTC_DAY_OF_MONTH:
    case RTC_MONTH:
    case RTC_YEAR:
    case CMOS_CENTURY:
        return true;
    default:
        return false;
    }
}

/* Period of the periodic interrupt in 32.768 kHz cycles; 0 when off. */
static unsigned rtc_periodic_cycles(RtcState *s)
{
    unsigned rs = s->cmos[RTC_REG_A] & REG_A_RS_MASK;

    if (rs == 0) {
        return 0;
    }
    /* Rates 1 and 2 are 256 and 128 Hz with a 32.768 kHz time base, the
     * only one a PC uses; this also caps the rate at 8192 Hz. */
    if (rs <= 2) {
        rs += 7;
    }
    return 1u << (rs - 1);
}

/* The first periodic edge strictly after @now. Every period divides one
 * second, so the edges sit on a grid anchored at base_ns: no drift. */
static int64_t rtc_next_periodic_edge(RtcState *s, int64_t now,
                                      unsigned cycles)
{
    int64_t elapsed = now - s->base_ns;
    int64_t sec = floor_div(elapsed, NS);
    int64_t sub = elapsed - sec * NS;
    int64_t cycle = sub * RTC_TIMEBASE_HZ / NS;
    int64_t next = (cycle / cycles + 1) * cycles;          /* <= 32768 */

    return s->base_ns + sec * NS +
           (next * NS + RTC_TIMEBASE_HZ - 1) / RTC_TIMEBASE_HZ;
}

static void rtc_update_irq(RtcState *s)
{
    uint8_t pending = s->cmos[RTC_REG_C] & s->cmos[RTC_REG_B] &
                      (REG_C_PF | REG_C_AF | REG_C_UF);

    if (pending) {
        s->cmos[RTC_REG_C] |= REG_C_IRQF;
    } else {
        s->cmos[RTC_REG_C] &= ~REG_C_IRQF;
    }
    irq_set_level(&s->irq, pending ? 1 : 0);
}

static void rtc_arm_timers(RtcState *s, int64_t now)
{
    unsigned cycles = rtc_periodic_cycles(s);

    if (cycles && rtc_divider_running(s) &&
        (s->cmos[RTC_REG_B] & REG_B_PIE)) {
        timer_mod_ns(s->periodic_timer,
                     rtc_next_periodic_edge(s, now, cycles));
    } else {
        timer_del(s->periodic_timer);
    }
    if (rtc_clock_running(s)) {
        timer_mod_ns(s->update_timer,
                     s->base_ns + (floor_div(now - s->base_ns, NS) + 1) * NS);
    } else {
        timer_del(s->update_timer);
    }
}

static void rtc_periodic_tick(void *opaque)
{
    RtcState *s = opaque;
    int64_t now = rtc_now(s);

    s->cmos[RTC_REG_C] |= REG_C_PF;
    rtc_update_irq(s);
    /* Ticks missed while the loop was late are dropped, not replayed. */
    rtc_arm_timers(s, now);
}

static bool rtc_alarm_field_matches(uint8_t alarm, uint8_t now)
{
    return (alarm & RTC_ALARM_DONT_CARE) == RTC_ALARM_DONT_CARE ||
           alarm == now;
}

/* End of an update cycle: a new second is in the registers. */
static void rtc_update_tick(void *opaque)
{
    RtcState *s = opaque;
    int64_t now = rtc_now(s);

    if (!rtc_clock_running(s)) {
        return;
    }
    rtc_store_time(s, rtc_guest_seconds(s, now));
    s->cmos[RTC_REG_C] |= REG_C_UF;
    if (rtc_alarm_field_matches(s->cmos[RTC_SECONDS_ALARM],
                                s->cmos[RTC_SECONDS]) &&
        rtc_alarm_field_matches(s->cmos[RTC_MINUTES_ALARM],
                                s->cmos[RTC_MINUTES]) &&
        rtc_alarm_field_matches(s->cmos[RTC_HOURS_ALARM],
                                s->cmos[RTC_HOURS])) {
        s->cmos[RTC_REG_C] |= REG_C_AF;
    }
    rtc_update_irq(s);
    rtc_arm_timers(s, now);
}

static uint8_t rtc_read_reg_c(RtcState *s, int64_t now)
{
    unsigned cycles = rtc_periodic_cycles(s);
    uint8_t val;

    /* PF is set on every periodic edge even with PIE off, for guests
     * that poll it; no timer runs for that, so look back instead. */
    if (!(s->cmos[RTC_REG_B] & REG_B_PIE) && cycles &&
        rtc_divider_running(s) &&
        rtc_next_periodic_edge(s, s->pf_checked_ns, cycles) <= now) {
        s->cmos[RTC_REG_C] |= REG_C_PF;
    }
    s->pf_checked_ns = now;
    val = s->cmos[RTC_REG_C];
    s->cmos[RTC_REG_C] = 0;
    rtc_update_irq(s);
    return val;
}

static uint8_t rtc_read(RtcState *s, uint8_t index)
{
    int64_t now = rtc_now(s);
    uint8_t val;

    switch (index) {
    case RTC_REG_A:
        val = s->cmos[RTC_REG_A] & ~REG_A_UIP;
        if (rtc_clock_running(s) &&
            rtc_subsecond(s, now) >= NS - RTC_UIP_HOLD_NS) {
            val |= REG_A_UIP;
        }
        return val;
    case RTC_REG_C:
        return rtc_read_reg_c(s, now);
    case RTC_REG_D:
        return REG_D_VRT;
    default:
        if (rtc_is_time_register(index) && rtc_clock_running(s)) {
            rtc_store_time(s, rtc_guest_seconds(s, now));
        }
        return s->cmos[index];
    }
}

static void rtc_write(RtcState *s, uint8_t index, uint8_t val)
{
    int64_t now = rtc_now(s);
    bool was_running = rtc_clock_running(s);
    bool divider_was_running = rtc_divider_running(s);
    bool reload = false;

    /* The registers hold the current time before anything changes, so a
     * write of one field keeps the others, and SET freezes them. */
    if (was_running) {
        rtc_store_time(s, rtc_guest_seconds(s, now));
    }

    switch (index) {
    case RTC_REG_A:
        s->cmos[RTC_REG_A] = val & ~REG_A_UIP;
        break;
    case RTC_REG_B:
        if (val & REG_B_SET) {
            val &= ~REG_B_UIE;     /* no update cycles to report in SET */
        }
        s->cmos[RTC_REG_B] = val;
        rtc_update_irq(s);
        if (!(val & REG_B_PIE)) {
            s->pf_checked_ns = now;
        }
        break;
    case RTC_REG_C:
    case RTC_REG_D:
        lemu_log_mask(LOG_GUEST_ERROR,
                      "mc146818rtc: write 0x%02x to read-only register "
                      "0x%02x ignored\n", val, index);
        return;
    default:
        s->cmos[index] = val;
        reload = rtc_is_time_register(index);
        break;
    }

    if (rtc_clock_running(s) && (reload || !was_running)) {
        /* Leaving divider reset, the first update comes 500 ms later;
         * otherwise the divider chain kept its phase. */
        int64_t sub = divider_was_running ? rtc_subsecond(s, now) : NS / 2;
        rtc_set_guest_time(s, now, rtc_load_time(s), sub);
    } else if (!rtc_divider_running(s) || !divider_was_running) {
        /* Divider in reset, or only now out of it with SET still on. */
        s->base_ns = now - NS / 2;
    }
    rtc_arm_timers(s, now);
}

static uint64_t rtc_io_read(void *opaque, uint64_t offset, unsigned size)
{
    RtcState *s = opaque;

    if (offset == 0) {
        return 0xff;    /* the index register is write-only */
    }
    return rtc_read(s, s->index);
}

static void rtc_io_write(void *opaque, uint64_t offset, uint64_t value,
                         unsigned size)
{
    RtcState *s = opaque;

    if (offset == 0) {
        s->index = value & (RTC_CMOS_SIZE - 1);
        s->nmi_disabled = (value & RTC_INDEX_NMI_DISABLE) != 0;
        return;
    }
    rtc_write(s, s->index, (uint8_t)value);
}

static const IoOps rtc_io_ops = {
    .read = rtc_io_read,
    .write = rtc_io_write,
    .impl_min = 1,
    .impl_max = 1,
};

static void rtc_set_word(RtcState *s, uint8_t lo, uint16_t v)
{
    s->cmos[lo] = v & 0xff;
    s->cmos[lo + 1] = v >> 8;
}

/* The memory layout and CPU count as the BIOS expects to find them. */
static void rtc_init_pc_cmos(RtcState *s)
{
    Machine *m = DEVICE(s)->machine;
    uint64_t low = m->below_4g_size;
    uint64_t val;

    val = MIN(low, 640 * KiB) / 1024;
    rtc_set_word(s, CMOS_BASE_MEM_LO, (uint16_t)val);

    val = low > MiB ? MIN((low - MiB) / 1024, 0xffff) : 0;
    rtc_set_word(s, CMOS_EXT_MEM_LO, (uint16_t)val);
    rtc_set_word(s, CMOS_POST_EXT_MEM_LO, (uint16_t)val);

    val = low > 16 * MiB
          ? MIN((low - 16 * MiB) / (64 * KiB), 0xffff) : 0;
    rtc_set_word(s, CMOS_MEM_16M_LO, (uint16_t)val);

    val = MIN(m->above_4g_size / (64 * KiB), 0xffffff);
    s->cmos[CMOS_MEM_4G_LO] = val & 0xff;
    s->cmos[CMOS_MEM_4G_MID] = (val >> 8) & 0xff;
    s->cmos[CMOS_MEM_4G_HI] = (val >> 16) & 0xff;

    s->cmos[CMOS_NR_CPUS_MINUS_1] =
        (uint8_t)(m->cfg.smp > 0 ? MIN(m->cfg.smp - 1, 0xff) : 0);
    s->cmos[CMOS_EQUIPMENT] = CMOS_EQUIPMENT_FPU;   /* no floppy, no mouse */
    s->cmos[CMOS_FLOPPY_TYPES] = 0;
    s->cmos[CMOS_SHUTDOWN_STATUS] = 0;
}

static void rtc_reset(Device *dev)
{
    RtcState *s = (RtcState *)dev;

    /* The RESET pin clears the interrupt enables and flags; the time and
     * the rest of the battery-backed CMOS stay. */
    s->cmos[RTC_REG_B] &= ~(REG_B_PIE | REG_B_AIE | REG_B_UIE | REG_B_SQWE);
    s->cmos[RTC_REG_C] = 0;
    rtc_update_irq(s);
    rtc_arm_timers(s, rtc_now(s));
}

static void rtc_unrealize(Device *dev)
{
    RtcState *s = (RtcState *)dev;

    if (s->ports_registered) {
        ioport_unregister(dev->machine->io, RTC_BASE_PORT);
        s->ports_registered = false;
    }
    g_clear_pointer(&s->periodic_timer, timer_free);
    g_clear_pointer(&s->update_timer, timer_free);
}

static bool rtc_realize(Device *dev, GError **errp)
{
    RtcState *s = (RtcState *)dev;
    Machine *m = dev->machine;
    int64_t host_us = g_get_real_time();
    int64_t now;

    if (!ioport_register(m->io, "mc146818rtc", RTC_BASE_PORT, 2,
                         &rtc_io_ops, s, errp)) {
        return false;
    }
    s->ports_registered = true;
    s->irq = machine_gsi_line(m, RTC_IRQ);
    s->periodic_timer = timer_new(m->loop, CLOCK_VIRTUAL,
                                  rtc_periodic_tick, s);
    s->update_timer = timer_new(m->loop, CLOCK_VIRTUAL, rtc_update_tick, s);

    s->cmos[RTC_REG_A] = REG_A_DV_32KHZ | 0x06;     /* 1024 Hz */
    s->cmos[RTC_REG_B] = REG_B_24H;                 /* BCD, 24-hour */
    s->cmos[RTC_REG_C] = 0;
    s->cmos[RTC_REG_D] = REG_D_VRT;
    rtc_init_pc_cmos(s);

    now = rtc_now(s);
    rtc_set_guest_time(s, now, floor_div(host_us, G_USEC_PER_SEC),
                       floor_mod(host_us, G_USEC_PER_SEC) * 1000);
    rtc_store_time(s, s->time_s);
    s->pf_checked_ns = now;
    rtc_arm_timers(s, now);
    return true;
}

const DeviceClass mc146818_rtc_class = {
    .name = "mc146818rtc",
    .desc = "MC146818 real-time clock and CMOS memory",
    .instance_size = sizeof(RtcState),
    .user_creatable = false,
    .vmstate = rtc_vmstate,
    .realize = rtc_realize,
    .reset = rtc_reset,
    .unrealize = rtc_unrealize,
};
