/*
 * MC146818 RTC/CMOS through ports 0x70/0x71, as a guest sees it: the time
 * against the host's UTC clock, BCD/binary and 12/24-hour formats, setting
 * the time, interrupts and their flags, UIP, the CMOS memory bytes.
 */
#include <glib.h>
#include "fixture.h"
#include "lemu/hw/qdev.h"

#define RTC_IRQ 8

#define REG_SECONDS   0x00
#define REG_SEC_ALARM 0x01
#define REG_MINUTES   0x02
#define REG_MIN_ALARM 0x03
#define REG_HOURS     0x04
#define REG_HR_ALARM  0x05
#define REG_WEEKDAY   0x06
#define REG_DAY       0x07
#define REG_MONTH     0x08
#define REG_YEAR      0x09
#define REG_A         0x0a
#define REG_B         0x0b
#define REG_C         0x0c
#define REG_D         0x0d
#define REG_CENTURY   0x32

#define A_UIP  0x80
#define B_SET  0x80
#define B_PIE  0x40
#define B_AIE  0x20
#define B_UIE  0x10
#define B_DM   0x04
#define B_24H  0x02
#define C_IRQF 0x80
#define C_PF   0x40
#define C_AF   0x20
#define C_UF   0x10

/* A strong reference, so that the class is linked in (and registered)
 * even while the registry refers to the device classes weakly. */
extern const DeviceClass mc146818_rtc_class;

typedef struct RtcTime {
    int year, month, day, weekday, hour, minute, second;
} RtcTime;

static Machine *rtc_machine_new_full(uint64_t below_4g, uint64_t above_4g,
                                     unsigned smp, bool clock_stopped)
{
    Machine *m = fixture_machine_new();
    GError *err = NULL;
    Device *dev;

    m->below_4g_size = below_4g;
    m->above_4g_size = above_4g;
    m->ram_size = below_4g + above_4g;
    m->cfg.smp = smp;
    if (clock_stopped) {
        main_loop_virtual_clock_stop(m->loop);
    }
    g_assert_true(device_class_find("mc146818rtc") == &mc146818_rtc_class);
    dev = device_new(m, "mc146818rtc", &err);
    g_assert_no_error(err);
    g_assert_true(device_realize(dev, &err));
    g_assert_no_error(err);
    return m;
}

static Machine *rtc_machine_new(uint64_t below_4g, uint64_t above_4g,
                                unsigned smp)
{
    return rtc_machine_new_full(below_4g, above_4g, smp, false);
}

static uint8_t cmos_read(Machine *m, uint8_t index)
{
    fixture_outb(m, 0x70, index);
    return (uint8_t)fixture_inb(m, 0x71);
}

static void cmos_write(Machine *m, uint8_t index, uint8_t val)
{
    fixture_outb(m, 0x70, index);
    fixture_outb(m, 0x71, val);
}

static int from_bcd(uint8_t v)
{
    return (v >> 4) * 10 + (v & 0x0f);
}

static uint8_t to_bcd(int v)
{
    return (uint8_t)(((v / 10) << 4) | (v % 10));
}

/* Reads the clock the way a BIOS does: wait for UIP to drop, read, and
 * start over if the seconds moved meanwhile. */
static void rtc_read_time(Machine *m, RtcTime *t)
{
    for (;;) {
        uint8_t b, sec;
        int (*conv)(uint8_t);

        while (cmos_read(m, REG_A) & A_UIP) {
        }
        sec = cmos_read(m, REG_SECONDS);
        b = cmos_read(m, REG_B);
        conv = (b & B_DM) ? NULL : from_bcd;
#define CONV(v) (conv ? conv(v) : (v))
        t->second = CONV(sec);
        t->minute = CONV(cmos_read(m, REG_MINUTES));
        t->hour = CONV(cmos_read(m, REG_HOURS));
        t->weekday = CONV(cmos_read(m, REG_WEEKDAY));
        t->day = CONV(cmos_read(m, REG_DAY));
        t->month = CONV(cmos_read(m, REG_MONTH));
        t->year = CONV(cmos_read(m, REG_CENTURY)) * 100 +
                  CONV(cmos_read(m, REG_YEAR));
#undef CONV
        if (cmos_read(m, REG_SECONDS) == sec) {
            return;
        }
    }
}

/* Seconds between the RTC's time and the host's UTC time now. */
static double rtc_diff_from_host(const RtcTime *t)
{
    GDateTime *rtc = g_date_time_new_utc(t->year, t->month, t->day,
                                         t->hour, t->minute, t->second);
    GDateTime *host = g_date_time_new_now_utc();
    double diff;

    g_assert_nonnull(rtc);
    diff = (double)g_date_time_difference(host, rtc) / G_TIME_SPAN_SECOND;
    g_date_time_unref(rtc);
    g_date_time_unref(host);
    return diff;
}

/* Stops the clock with SET and loads @t in the current format. */
static void rtc_set_time(Machine *m, const RtcTime *t)
{
    uint8_t b = cmos_read(m, REG_B);
    uint8_t (*conv)(int) = (b & B_DM) ? NULL : to_bcd;
#define CONV(v) (conv ? conv(v) : (uint8_t)(v))

    cmos_write(m, REG_B, b | B_SET);
    cmos_write(m, REG_SECONDS, CONV(t->second));
    cmos_write(m, REG_MINUTES, CONV(t->minute));
    cmos_write(m, REG_HOURS, CONV(t->hour));     /* 24-hour callers only */
    cmos_write(m, REG_DAY, CONV(t->day));
    cmos_write(m, REG_MONTH, CONV(t->month));
    cmos_write(m, REG_YEAR, CONV(t->year % 100));
    cmos_write(m, REG_CENTURY, CONV(t->year / 100));
#undef CONV
    cmos_write(m, REG_B, b & ~B_SET);
}

/* Runs the main loop until IRQ 8 is high or @timeout_ms passes. */
static bool wait_for_irq8(Machine *m, int timeout_ms)
{
    gint64 end = g_get_monotonic_time() + timeout_ms * 1000;

    while (!fixture_irq_level(m, RTC_IRQ)) {
        if (g_get_monotonic_time() >= end) {
            return false;
        }
        main_loop_iterate(m->loop, false);
        g_usleep(200);
    }
    return true;
}

static void test_rtc_defaults(void)
{
    /* With time stopped: the 1024 Hz periodic flag sets itself in C
     * after a millisecond even with interrupts off, as on hardware. */
    Machine *m = rtc_machine_new_full(128 << 20, 0, 1, true);

    g_assert_cmphex(cmos_read(m, REG_A) & ~A_UIP, ==, 0x26);
    g_assert_cmphex(cmos_read(m, REG_B), ==, B_24H);
    g_assert_cmphex(cmos_read(m, REG_C), ==, 0);
    g_assert_cmphex(cmos_read(m, REG_D), ==, 0x80);
    /* The index register is write-only. */
    g_assert_cmphex(fixture_inb(m, 0x70), ==, 0xff);
    fixture_machine_free(m);
}

static void test_rtc_time_matches_host(void)
{
    Machine *m = rtc_machine_new(128 << 20, 0, 1);
    RtcTime t;
    GDateTime *dt;

    rtc_read_time(m, &t);
    /* BCD is the default: every nibble is a decimal digit. */
    g_assert_cmpint(cmos_read(m, REG_SECONDS) & 0x0f, <=, 9);
    g_assert_cmpfloat(ABS(rtc_diff_from_host(&t)), <=, 2.0);

    /* Day of week 1 = Sunday; GDateTime has 7 = Sunday. */
    dt = g_date_time_new_utc(t.year, t.month, t.day, 0, 0, 0);
    g_assert_cmpint(t.weekday, ==, g_date_time_get_day_of_week(dt) % 7 + 1);
    g_date_time_unref(dt);
    fixture_machine_free(m);
}

static void test_rtc_binary_mode(void)
{
    Machine *m = rtc_machine_new(128 << 20, 0, 1);
    RtcTime t;

    cmos_write(m, REG_B, B_24H | B_DM);
    rtc_read_time(m, &t);
    g_assert_cmpfloat(ABS(rtc_diff_from_host(&t)), <=, 2.0);

    /* A binary seconds value above 9 shows no BCD digit. */
    rtc_set_time(m, &(RtcTime){ .year = 2024, .month = 2, .day = 29,
                                .hour = 23, .minute = 45, .second = 30 });
    g_assert_cmphex(cmos_read(m, REG_MINUTES), ==, 45);
    g_assert_cmphex(cmos_read(m, REG_HOURS), ==, 23);
    g_assert_cmphex(cmos_read(m, REG_DAY), ==, 29);
    g_assert_cmphex(cmos_read(m, REG_MONTH), ==, 2);
    g_assert_cmphex(cmos_read(m, REG_YEAR), ==, 24);
    g_assert_cmphex(cmos_read(m, REG_CENTURY), ==, 20);
    g_assert_cmphex(cmos_read(m, REG_WEEKDAY), ==, 5);     /* Thursday */

    /* The same time in BCD after switching the format back. */
    cmos_write(m, REG_B, B_24H);
    g_assert_cmphex(cmos_read(m, REG_MINUTES), ==, 0x45);
    g_assert_cmphex(cmos_read(m, REG_HOURS), ==, 0x23);
    g_assert_cmphex(cmos_read(m, REG_CENTURY), ==, 0x20);
    fixture_machine_free(m);
}

static void test_rtc_set_time_rolls_over(void)
{
    Machine *m = rtc_machine_new(128 << 20, 0, 1);
    gint64 end;
    RtcTime t;

    cmos_write(m, REG_B, B_24H | B_SET);
    cmos_write(m, REG_SECONDS, 0x59);
    cmos_write(m, REG_MINUTES, 0x59);
    cmos_write(m, REG_HOURS, 0x23);
    cmos_write(m, REG_DAY, 0x31);
    cmos_write(m, REG_MONTH, 0x12);
    cmos_write(m, REG_YEAR, 0x99);
    cmos_write(m, REG_CENTURY, 0x19);
    /* Frozen while SET is on, no matter how long. */
    g_usleep(1100 * 1000);
    g_assert_cmphex(cmos_read(m, REG_SECONDS), ==, 0x59);
    g_assert_cmphex(cmos_read(m, REG_A) & A_UIP, ==, 0);
    cmos_write(m, REG_B, B_24H);

    end = g_get_monotonic_time() + 3 * G_USEC_PER_SEC;
    while (cmos_read(m, REG_SECONDS) == 0x59) {
        g_assert_cmpint(g_get_monotonic_time(), <, end);
        g_usleep(1000);
    }
    rtc_read_time(m, &t);
    g_assert_cmpint(t.year, ==, 2000);
    g_assert_cmpint(t.month, ==, 1);
    g_assert_cmpint(t.day, ==, 1);
    g_assert_cmpint(t.hour, ==, 0);
    g_assert_cmpint(t.minute, ==, 0);
    g_assert_cmpint(t.second, <=, 1);
    g_assert_cmpint(t.weekday, ==, 7);                       /* Saturday */
    g_assert_cmphex(cmos_read(m, REG_CENTURY), ==, 0x20);

    /* A field written without SET takes effect at once, the others stay. */
    cmos_write(m, REG_MONTH, 0x06);
    g_assert_cmphex(cmos_read(m, REG_MONTH), ==, 0x06);
    g_assert_cmphex(cmos_read(m, REG_YEAR), ==, 0x00);
    g_assert_cmphex(cmos_read(m, REG_DAY), ==, 0x01);
    fixture_machine_free(m);
}

/* Dates across leap years and centuries read back as set, with the
 * weekday the calendar gives. */
static void test_rtc_calendar(void)
{
    Machine *m = rtc_machine_new(128 << 20, 0, 1);
    GDateTime *dt = g_date_time_new_utc(1900, 1, 1, 12, 0, 0);

    cmos_write(m, REG_B, B_24H | B_DM);
    while (g_date_time_get_year(dt) < 2200) {
        GDateTime *next;
        RtcTime t, want = {
            .year = g_date_time_get_year(dt),
            .month = g_date_time_get_month(dt),
            .day = g_date_time_get_day_of_month(dt),
            .hour = 12,
        };

        rtc_set_time(m, &want);
        rtc_read_time(m, &t);
        g_assert_cmpint(t.year, ==, want.year);
        g_assert_cmpint(t.month, ==, want.month);
        g_assert_cmpint(t.day, ==, want.day);
        g_assert_cmpint(t.weekday, ==,
                        g_date_time_get_day_of_week(dt) % 7 + 1);
        next = g_date_time_add_days(dt, 29);
        g_date_time_unref(dt);
        dt = next;
    }
    g_date_time_unref(dt);

    /* 2100 is not a leap year: February 29 becomes March 1. */
    rtc_set_time(m, &(RtcTime){ .year = 2100, .month = 2, .day = 29,
                                .hour = 12 });
    g_assert_cmpint(cmos_read(m, REG_MONTH), ==, 3);
    g_assert_cmpint(cmos_read(m, REG_DAY), ==, 1);
    fixture_machine_free(m);
}

static void test_rtc_12_hour(void)
{
    Machine *m = rtc_machine_new(128 << 20, 0, 1);
    static const struct {
        int hour;
        uint8_t bcd, bin;
    } cases[] = {
        { 0, 0x12, 12 },            /* midnight: 12 AM */
        { 1, 0x01, 1 },
        { 11, 0x11, 11 },
        { 12, 0x92, 0x8c },         /* noon: 12 PM */
        { 13, 0x81, 0x81 },
        { 23, 0x91, 0x8b },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        cmos_write(m, REG_B, B_24H);
        rtc_set_time(m, &(RtcTime){ .year = 2023, .month = 7, .day = 14,
                                    .hour = cases[i].hour, .minute = 10,
                                    .second = 0 });
        cmos_write(m, REG_B, 0);                        /* BCD, 12-hour */
        g_assert_cmphex(cmos_read(m, REG_HOURS), ==, cases[i].bcd);
        cmos_write(m, REG_B, B_DM);                     /* binary, 12-hour */
        g_assert_cmphex(cmos_read(m, REG_HOURS), ==, cases[i].bin);
    }

    /* Setting 12 AM and 11 PM in 12-hour mode gives 0 and 23. */
    cmos_write(m, REG_B, B_SET);
    cmos_write(m, REG_HOURS, 0x12);
    cmos_write(m, REG_B, 0);
    cmos_write(m, REG_B, B_24H);
    g_assert_cmphex(cmos_read(m, REG_HOURS), ==, 0x00);
    cmos_write(m, REG_B, B_SET);
    cmos_write(m, REG_HOURS, 0x91);
    cmos_write(m, REG_B, 0);
    cmos_write(m, REG_B, B_24H);
    g_assert_cmphex(cmos_read(m, REG_HOURS), ==, 0x23);
    fixture_machine_free(m);
}

static void test_rtc_reg_c_clears_irq(void)
{
    Machine *m = rtc_machine_new(128 << 20, 0, 1);
    uint8_t c;

    cmos_write(m, REG_B, B_24H | B_UIE);
    g_assert_true(wait_for_irq8(m, 2000));
    c = cmos_read(m, REG_C);
    g_assert_cmphex(c & (C_IRQF | C_UF), ==, C_IRQF | C_UF);
    g_assert_cmpint(fixture_irq_level(m, RTC_IRQ), ==, 0);
    g_assert_cmphex(cmos_read(m, REG_C), ==, 0);

    /* Enabling an interrupt whose flag is already set raises it at once. */
    cmos_write(m, REG_B, B_24H);
    fixture_irq_clear(m);
    g_assert_false(wait_for_irq8(m, 1300));
    cmos_write(m, REG_B, B_24H | B_UIE);
    g_assert_cmpint(fixture_irq_level(m, RTC_IRQ), ==, 1);
    c = cmos_read(m, REG_C);
    g_assert_cmphex(c & (C_IRQF | C_UF), ==, C_IRQF | C_UF);
    fixture_machine_free(m);
}

static void test_rtc_alarm(void)
{
    Machine *m = rtc_machine_new(128 << 20, 0, 1);
    uint8_t hour, c;

    /* An alarm for another hour does not fire; UF still comes. */
    cmos_write(m, REG_B, B_24H | B_DM);
    hour = cmos_read(m, REG_HOURS);
    cmos_write(m, REG_SEC_ALARM, 0xc0);
    cmos_write(m, REG_MIN_ALARM, 0xff);
    cmos_write(m, REG_HR_ALARM, (hour + 12) % 24);
    cmos_write(m, REG_B, B_24H | B_DM | B_AIE | B_UIE);
    g_assert_true(wait_for_irq8(m, 2000));
    c = cmos_read(m, REG_C);
    g_assert_cmphex(c & (C_UF | C_AF), ==, C_UF);

    /* All three "don't care": an alarm every second. */
    cmos_write(m, REG_B, B_24H | B_DM | B_AIE);
    cmos_write(m, REG_HR_ALARM, 0xc0);
    g_assert_true(wait_for_irq8(m, 2000));
    c = cmos_read(m, REG_C);
    g_assert_cmphex(c & (C_IRQF | C_AF), ==, C_IRQF | C_AF);
    fixture_machine_free(m);
}

/* Counts periodic interrupts over @ms, acknowledging each as a guest. */
static unsigned count_periodic(Machine *m, int ms)
{
    gint64 end = g_get_monotonic_time() + ms * 1000;
    unsigned n = 0;

    cmos_read(m, REG_C);
    while (g_get_monotonic_time() < end) {
        main_loop_iterate(m->loop, false);
        if (fixture_irq_level(m, RTC_IRQ)) {
            if (cmos_read(m, REG_C) & C_PF) {
                n++;
            }
        }
        g_usleep(100);
    }
    g_test_message("%u periodic interrupts in %d ms", n, ms);
    return n;
}

static void test_rtc_periodic_rate(void)
{
    Machine *m = rtc_machine_new(128 << 20, 0, 1);
    unsigned n;

    /* Rate 10: 64 Hz; 32 interrupts in 500 ms. */
    cmos_write(m, REG_A, 0x2a);
    cmos_write(m, REG_B, B_24H | B_PIE);
    n = count_periodic(m, 500);
    g_assert_cmpuint(n, >=, 16);     /* a loaded host may drop ticks */
    g_assert_cmpuint(n, <=, 33);

    /* Rate 15: 2 Hz. */
    cmos_write(m, REG_A, 0x2f);
    n = count_periodic(m, 1000);
    g_assert_cmpuint(n, >=, 1);
    g_assert_cmpuint(n, <=, 3);

    /* Rate 0: off. */
    cmos_write(m, REG_A, 0x20);
    g_assert_cmpuint(count_periodic(m, 100), ==, 0);
    fixture_machine_free(m);
}

static void test_rtc_periodic_flag_polled(void)
{
    Machine *m = rtc_machine_new(128 << 20, 0, 1);

    /* PIE off: PF still rises for a guest that polls, without IRQ 8. */
    cmos_write(m, REG_A, 0x2f);                             /* 2 Hz */
    cmos_read(m, REG_C);
    g_usleep(600 * 1000);
    main_loop_iterate(m->loop, false);
    g_assert_cmphex(cmos_read(m, REG_C) & (C_PF | C_IRQF), ==, C_PF);
    g_assert_cmpuint(fixture_irq_raises(m, RTC_IRQ), ==, 0);
    /* Read clears it until the next edge. */
    g_assert_cmphex(cmos_read(m, REG_C) & C_PF, ==, 0);
    fixture_machine_free(m);
}

static void test_rtc_uip(void)
{
    const int64_t step_ns = 20000;
    Machine *m = rtc_machine_new_full(128 << 20, 0, 1, true);
    unsigned windows = 0, window_samples = 0;
    uint8_t sec_before = 0;

    /* Virtual time steps 20 us at a time over 2.2 s: UIP is set for the
     * last 244 us of every second (12 or 13 samples), and each window
     * ends with a new second. */
    for (int64_t t = 0; t < 2200000000LL; t += step_ns) {
        bool uip = cmos_read(m, REG_A) & A_UIP;

        if (uip) {
            if (!window_samples) {
                sec_before = cmos_read(m, REG_SECONDS);
            }
            window_samples++;
        } else if (window_samples) {
            g_assert_cmphex(cmos_read(m, REG_SECONDS), !=, sec_before);
            g_assert_cmpuint(window_samples, >=, 12);
            g_assert_cmpuint(window_samples, <=, 13);
            window_samples = 0;
            windows++;
        }
        main_loop_virtual_clock_step(m->loop, step_ns);
    }
    g_assert_cmpuint(windows, >=, 2);

    /* No update cycles with SET. */
    cmos_write(m, REG_B, B_24H | B_SET);
    for (int64_t t = 0; t < 1100000000LL; t += step_ns) {
        g_assert_cmphex(cmos_read(m, REG_A) & A_UIP, ==, 0);
        main_loop_virtual_clock_step(m->loop, step_ns);
    }
    fixture_machine_free(m);
}

static void test_rtc_stops_while_paused(void)
{
    Machine *m = rtc_machine_new(128 << 20, 0, 1);
    RtcTime t2;

    uint8_t sec, min;

    main_loop_virtual_clock_stop(m->loop);
    /* Not rtc_read_time(): UIP could be frozen on too. */
    sec = cmos_read(m, REG_SECONDS);
    min = cmos_read(m, REG_MINUTES);
    g_usleep(1200 * 1000);
    g_assert_cmphex(cmos_read(m, REG_SECONDS), ==, sec);
    g_assert_cmphex(cmos_read(m, REG_MINUTES), ==, min);
    main_loop_virtual_clock_start(m->loop);
    /* Running again, now behind the host by the pause. */
    rtc_read_time(m, &t2);
    g_assert_cmpfloat(rtc_diff_from_host(&t2), >=, 0.5);
    fixture_machine_free(m);
}

static void test_rtc_cmos_memory_512m(void)
{
    Machine *m = rtc_machine_new(512ULL << 20, 0, 1);

    g_assert_cmphex(cmos_read(m, 0x15), ==, 0x80);          /* 640 KiB */
    g_assert_cmphex(cmos_read(m, 0x16), ==, 0x02);
    /* 511 MiB above 1 MiB in KiB does not fit: capped. */
    g_assert_cmphex(cmos_read(m, 0x17), ==, 0xff);
    g_assert_cmphex(cmos_read(m, 0x18), ==, 0xff);
    g_assert_cmphex(cmos_read(m, 0x30), ==, 0xff);
    g_assert_cmphex(cmos_read(m, 0x31), ==, 0xff);
    /* (512 - 16) MiB in 64 KiB units = 7936 = 0x1f00. */
    g_assert_cmphex(cmos_read(m, 0x34), ==, 0x00);
    g_assert_cmphex(cmos_read(m, 0x35), ==, 0x1f);
    g_assert_cmphex(cmos_read(m, 0x5b), ==, 0);
    g_assert_cmphex(cmos_read(m, 0x5c), ==, 0);
    g_assert_cmphex(cmos_read(m, 0x5d), ==, 0);
    g_assert_cmphex(cmos_read(m, 0x5f), ==, 0);             /* 1 CPU */
    g_assert_cmphex(cmos_read(m, 0x10), ==, 0);             /* no floppy */
    g_assert_cmphex(cmos_read(m, 0x14), ==, 0x02);          /* FPU */
    g_assert_cmphex(cmos_read(m, 0x0f), ==, 0);
    fixture_machine_free(m);
}

static void test_rtc_cmos_memory_5g(void)
{
    /* 5 GiB: 3 GiB below 4 GiB, 2 GiB above; 4 CPUs. */
    Machine *m = rtc_machine_new(3ULL << 30, 2ULL << 30, 4);

    /* (3072 - 16) MiB in 64 KiB units = 48896 = 0xbf00. */
    g_assert_cmphex(cmos_read(m, 0x34), ==, 0x00);
    g_assert_cmphex(cmos_read(m, 0x35), ==, 0xbf);
    /* 2 GiB in 64 KiB units = 0x8000. */
    g_assert_cmphex(cmos_read(m, 0x5b), ==, 0x00);
    g_assert_cmphex(cmos_read(m, 0x5c), ==, 0x80);
    g_assert_cmphex(cmos_read(m, 0x5d), ==, 0x00);
    g_assert_cmphex(cmos_read(m, 0x5f), ==, 3);
    fixture_machine_free(m);
}

static void test_rtc_cmos_memory_small(void)
{
    Machine *m = rtc_machine_new(15ULL << 20, 0, 1);

    /* 14 MiB above 1 MiB = 14336 KiB = 0x3800; nothing above 16 MiB. */
    g_assert_cmphex(cmos_read(m, 0x17), ==, 0x00);
    g_assert_cmphex(cmos_read(m, 0x18), ==, 0x38);
    g_assert_cmphex(cmos_read(m, 0x34), ==, 0);
    g_assert_cmphex(cmos_read(m, 0x35), ==, 0);
    fixture_machine_free(m);
}

static void test_rtc_index_masks_nmi_bit(void)
{
    Machine *m = rtc_machine_new(128 << 20, 0, 1);

    /* Bit 7 of the index is the NMI mask, not part of the address. */
    g_assert_cmphex(cmos_read(m, 0x80 | 0x15), ==, 0x80);
    cmos_write(m, 0x80 | 0x40, 0x5a);
    g_assert_cmphex(cmos_read(m, 0x40), ==, 0x5a);
    cmos_write(m, 0xff, 0xa5);
    g_assert_cmphex(cmos_read(m, 0x7f), ==, 0xa5);

    /* Every index reads and writes safely; C and D stay read-only. */
    for (unsigned i = 0; i < 256; i++) {
        cmos_read(m, (uint8_t)i);
    }
    cmos_write(m, 0x0d, 0x00);
    g_assert_cmphex(cmos_read(m, 0x0d), ==, 0x80);
    /* UIP cannot be written. */
    cmos_write(m, 0x8a, 0xa6);
    g_assert_cmphex(cmos_read(m, 0x0a) & 0x7f, ==, 0x26);
    fixture_machine_free(m);
}

static void test_rtc_garbage_time_is_safe(void)
{
    Machine *m = rtc_machine_new(128 << 20, 0, 1);
    RtcTime t;

    /* Fields no valid clock holds still give a time that reads back. */
    cmos_write(m, REG_B, B_24H | B_SET);
    for (uint8_t r = 0; r <= REG_YEAR; r++) {
        cmos_write(m, r, 0xff);
    }
    cmos_write(m, REG_CENTURY, 0xff);
    cmos_write(m, REG_B, B_24H);
    rtc_read_time(m, &t);
    g_assert_cmpint(t.month, >=, 1);
    g_assert_cmpint(t.month, <=, 12);
    g_assert_cmpint(t.day, >=, 1);
    g_assert_cmpint(t.day, <=, 31);
    g_assert_cmpint(t.hour, <=, 23);
    fixture_machine_free(m);
}

static void test_rtc_reset_keeps_time(void)
{
    Machine *m = rtc_machine_new(128 << 20, 0, 1);
    RtcTime t;

    cmos_write(m, REG_B, B_24H | B_PIE | B_UIE);
    cmos_write(m, 0x40, 0x12);
    device_reset_all(m);
    g_assert_cmphex(cmos_read(m, REG_B), ==, B_24H);
    g_assert_cmphex(cmos_read(m, 0x40), ==, 0x12);
    rtc_read_time(m, &t);
    g_assert_cmpfloat(ABS(rtc_diff_from_host(&t)), <=, 2.0);
    fixture_machine_free(m);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/rtc/defaults", test_rtc_defaults);
    g_test_add_func("/rtc/time-matches-host", test_rtc_time_matches_host);
    g_test_add_func("/rtc/binary-mode", test_rtc_binary_mode);
    g_test_add_func("/rtc/set-time-rolls-over", test_rtc_set_time_rolls_over);
    g_test_add_func("/rtc/calendar", test_rtc_calendar);
    g_test_add_func("/rtc/12-hour", test_rtc_12_hour);
    g_test_add_func("/rtc/reg-c-clears-irq", test_rtc_reg_c_clears_irq);
    g_test_add_func("/rtc/alarm", test_rtc_alarm);
    g_test_add_func("/rtc/periodic-rate", test_rtc_periodic_rate);
    g_test_add_func("/rtc/periodic-flag-polled",
                    test_rtc_periodic_flag_polled);
    g_test_add_func("/rtc/uip", test_rtc_uip);
    g_test_add_func("/rtc/stops-while-paused", test_rtc_stops_while_paused);
    g_test_add_func("/rtc/cmos-memory-512m", test_rtc_cmos_memory_512m);
    g_test_add_func("/rtc/cmos-memory-5g", test_rtc_cmos_memory_5g);
    g_test_add_func("/rtc/cmos-memory-small", test_rtc_cmos_memory_small);
    g_test_add_func("/rtc/index-masks-nmi-bit", test_rtc_index_masks_nmi_bit);
    g_test_add_func("/rtc/garbage-time-is-safe",
                    test_rtc_garbage_time_is_safe);
    g_test_add_func("/rtc/reset-keeps-time", test_rtc_reset_keeps_time);
    return g_test_run();
}
