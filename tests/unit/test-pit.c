/*
 * 8254 PIT and port 0x61, as a guest sees them through the ports and as
 * IRQ 0 edges.
 *
 * The virtual clock is kept stopped while the test looks at the counters,
 * so every read happens at a known instant; time moves forward only in
 * advance(), by however long the host really slept, and the expected
 * counter and OUT values are computed from the virtual time that actually
 * went by. IRQ edges are counted over exact steps of virtual time
 * (run_loop), so that host load cannot merge them.
 */
#include <glib.h>
#include "fixture.h"
#include "lemu/hw/qdev.h"
#include "lemu/hw/timer/i8254.h"

#define PIT_HZ      1193182
#define PIT_CH(n)   (0x40 + (n))
#define PIT_CONTROL 0x43
#define PORT_B      0x61

#define RW_LSB      0x10
#define RW_MSB      0x20
#define RW_LSB_MSB  0x30
#define CW_BCD      0x01

#define STATUS_OUT  0x80
#define STATUS_NULL 0x40

typedef struct PitTest {
    Machine *m;
    I8254State *pit;
    int64_t t0;             /* virtual time of the last count load */
} PitTest;

static void pit_test_init(PitTest *t)
{
    GError *err = NULL;
    Device *dev;

    t->m = fixture_machine_new();
    dev = device_new(t->m, "i8254", &err);
    g_assert_no_error(err);
    g_assert_true(device_realize(dev, &err));
    g_assert_no_error(err);
    t->pit = i8254_from_device(dev);
    g_assert_nonnull(t->pit);
    main_loop_virtual_clock_stop(t->m->loop);
    t->t0 = 0;
}

static void pit_test_cleanup(PitTest *t)
{
    fixture_machine_free(t->m);
}

static int64_t vnow(PitTest *t)
{
    return clock_get_ns(t->m->loop, CLOCK_VIRTUAL);
}

/* Input clocks since the last count load. */
static uint64_t elapsed_ticks(PitTest *t)
{
    return (uint64_t)(vnow(t) - t->t0) * PIT_HZ / NANOSECONDS_PER_SECOND;
}

/* Lets the virtual clock run for at least @us microseconds. */
static void advance(PitTest *t, unsigned us)
{
    main_loop_virtual_clock_start(t->m->loop);
    g_usleep(us);
    main_loop_virtual_clock_stop(t->m->loop);
}

/*
 * Runs @ms of virtual time exactly: the clock stays stopped and steps
 * from timer deadline to timer deadline, so the count of IRQ 0 edges does
 * not depend on how busy the host is.
 */
static void run_loop(PitTest *t, unsigned ms)
{
    main_loop_virtual_clock_step(t->m->loop, ms * 1000000LL);
    main_loop_iterate(t->m->loop, false);
}

static void pit_control(PitTest *t, int ch, uint8_t rw, int mode, bool bcd)
{
    fixture_outb(t->m, PIT_CONTROL,
                 ch << 6 | rw | mode << 1 | (bcd ? CW_BCD : 0));
}

/* Control word and a two-byte count; records the load time. */
static void pit_program(PitTest *t, int ch, int mode, uint16_t count)
{
    pit_control(t, ch, RW_LSB_MSB, mode, false);
    fixture_outb(t->m, PIT_CH(ch), count & 0xff);
    fixture_outb(t->m, PIT_CH(ch), count >> 8);
    t->t0 = vnow(t);
}

static uint16_t pit_read16(PitTest *t, int ch)
{
    uint16_t lsb = fixture_inb(t->m, PIT_CH(ch));

    return lsb | fixture_inb(t->m, PIT_CH(ch)) << 8;
}

/* Counter latch command, then the two bytes. */
static uint16_t pit_latch_read(PitTest *t, int ch)
{
    fixture_outb(t->m, PIT_CONTROL, ch << 6);
    return pit_read16(t, ch);
}

/* Read-back of the status alone. */
static uint8_t pit_status(PitTest *t, int ch)
{
    fixture_outb(t->m, PIT_CONTROL, 0xe0 | 2 << ch);
    return fixture_inb(t->m, PIT_CH(ch));
}

static bool pit_out(PitTest *t, int ch)
{
    return pit_status(t, ch) & STATUS_OUT;
}

static void test_mode0_one_shot(void)
{
    PitTest t;
    const uint32_t n = 5966;        /* 5 ms */
    uint64_t d;

    pit_test_init(&t);
    pit_program(&t, 0, 0, n);
    g_assert_cmpuint(pit_status(&t, 0), ==, 0x30);  /* OUT low, mode 0 */
    g_assert_cmpuint(pit_latch_read(&t, 0), ==, n);
    g_assert_cmpint(fixture_irq_level(t.m, 0), ==, 0);

    fixture_irq_clear(t.m);
    advance(&t, 1000);
    d = elapsed_ticks(&t);
    g_assert_cmpuint(pit_latch_read(&t, 0), ==, (n - d) & 0xffff);
    g_assert_cmpint(pit_out(&t, 0), ==, d >= n);

    /* IRQ 0 rises once at terminal count and stays up. */
    run_loop(&t, 20);
    g_assert_cmpuint(fixture_irq_raises(t.m, 0), ==, 1);
    g_assert_cmpint(fixture_irq_level(t.m, 0), ==, 1);
    g_assert_true(pit_out(&t, 0));
    /* The counter wrapped and goes on counting down from 0xffff. */
    d = elapsed_ticks(&t);
    g_assert_cmpuint(pit_latch_read(&t, 0), ==, (n - d) & 0xffff);
    run_loop(&t, 10);
    g_assert_cmpuint(fixture_irq_raises(t.m, 0), ==, 1);

    /* Writing the first byte of a new count stops counting with OUT
     * low; the second starts it again. */
    fixture_outb(t.m, PIT_CH(0), 0x00);
    g_assert_false(pit_out(&t, 0));
    g_assert_cmpint(fixture_irq_level(t.m, 0), ==, 0);
    {
        uint16_t held = pit_latch_read(&t, 0);

        advance(&t, 2000);
        g_assert_cmpuint(pit_latch_read(&t, 0), ==, held);
    }
    fixture_outb(t.m, PIT_CH(0), 0x10);
    t.t0 = vnow(&t);
    g_assert_cmpuint(pit_latch_read(&t, 0), ==, 0x1000);
    pit_test_cleanup(&t);
}

static void test_mode1_gate_triggered(void)
{
    PitTest t;
    const uint32_t n = 5966;
    uint64_t d;

    pit_test_init(&t);
    fixture_outb(t.m, PORT_B, 0x00);
    pit_program(&t, 2, 1, n);
    /* Waiting for a trigger: OUT high, count not yet in the element. */
    g_assert_cmpuint(pit_status(&t, 2), ==, STATUS_OUT | STATUS_NULL | 0x32);
    advance(&t, 2000);
    g_assert_true(pit_out(&t, 2));

    /* Gate rising edge: OUT goes low for the count. */
    fixture_outb(t.m, PORT_B, 0x01);
    t.t0 = vnow(&t);
    g_assert_cmpuint(pit_status(&t, 2), ==, 0x32);
    g_assert_cmpuint(pit_latch_read(&t, 2), ==, n);
    g_assert_cmpuint(fixture_inb(t.m, PORT_B) & 0x20, ==, 0);

    /* Gate going low does not stop mode 1. */
    fixture_outb(t.m, PORT_B, 0x00);
    advance(&t, 1000);
    d = elapsed_ticks(&t);
    g_assert_cmpuint(pit_latch_read(&t, 2), ==, (n - d) & 0xffff);
    advance(&t, 6000);
    g_assert_true(pit_out(&t, 2));
    g_assert_cmpuint(fixture_inb(t.m, PORT_B) & 0x20, ==, 0x20);

    /* Retrigger. */
    fixture_outb(t.m, PORT_B, 0x01);
    g_assert_false(pit_out(&t, 2));
    g_assert_cmpuint(pit_latch_read(&t, 2), ==, n);
    pit_test_cleanup(&t);
}

static void test_mode2_rate_generator(void)
{
    PitTest t;
    const uint32_t n = 5966;        /* 200 Hz */
    uint64_t d, edges;
    unsigned raises;

    pit_test_init(&t);
    pit_program(&t, 0, 2, n);
    g_assert_cmpuint(pit_status(&t, 0), ==, STATUS_OUT | 0x34);
    advance(&t, 3000);
    d = elapsed_ticks(&t);
    g_assert_cmpuint(pit_latch_read(&t, 0), ==, n - d % n);
    g_assert_cmpint(pit_out(&t, 0), ==, d % n != n - 1);

    /* One IRQ 0 edge per period, counted from the load time. Periods
     * well above the main loop's 1 ms poll granularity, so that a late
     * wake-up does not merge two edges. */
    fixture_irq_clear(t.m);
    run_loop(&t, 100);
    edges = elapsed_ticks(&t) / n - d / n;
    raises = fixture_irq_raises(t.m, 0);
    g_assert_cmpuint(edges, >=, 19);
    /* + 1: the edges that passed during advance() come as one. */
    g_assert_cmpuint(raises, <=, edges + 1);
    g_assert_cmpuint(raises, >=, edges);
    pit_test_cleanup(&t);
}

static void test_mode3_square_wave(void)
{
    PitTest t;
    const uint32_t n = 65536;       /* count 0: 54.9 ms */
    bool seen_high = false, seen_low = false;
    unsigned raises;
    uint64_t d, edges;

    pit_test_init(&t);
    fixture_outb(t.m, PORT_B, 0x01);
    pit_program(&t, 2, 3, 0);
    g_assert_cmpuint(pit_status(&t, 2), ==, STATUS_OUT | 0x36);
    for (int i = 0; i < 40 && !(seen_high && seen_low); i++) {
        uint64_t phase, p;
        bool high;

        advance(&t, 5000);
        d = elapsed_ticks(&t);
        phase = d % n;
        high = phase < n / 2;
        p = high ? phase : phase - n / 2;
        g_assert_cmpint(pit_out(&t, 2), ==, high);
        g_assert_cmpint(!!(fixture_inb(t.m, PORT_B) & 0x20), ==, high);
        g_assert_cmpuint(pit_latch_read(&t, 2), ==, (n - 2 * p) & 0xffff);
        seen_high |= high;
        seen_low |= !high;
    }
    g_assert_true(seen_high && seen_low);

    /* On channel 0: one rising edge per period. */
    pit_program(&t, 0, 3, 4773);    /* 4 ms */
    fixture_irq_clear(t.m);
    run_loop(&t, 60);
    edges = elapsed_ticks(&t) / 4773;
    raises = fixture_irq_raises(t.m, 0);
    g_assert_cmpuint(edges, >=, 14);
    g_assert_cmpuint(raises, <=, edges);
    g_assert_cmpuint(raises + 1, >=, edges);
    pit_test_cleanup(&t);
}

static void test_mode4_software_strobe(void)
{
    PitTest t;
    const uint32_t n = 5966;
    uint64_t d;

    pit_test_init(&t);
    pit_program(&t, 0, 4, n);
    g_assert_cmpuint(pit_status(&t, 0), ==, STATUS_OUT | 0x38);
    fixture_irq_clear(t.m);
    advance(&t, 1000);
    d = elapsed_ticks(&t);
    g_assert_cmpuint(pit_latch_read(&t, 0), ==, (n - d) & 0xffff);

    /* One strobe (a low clock, then a rising edge) at terminal count:
     * how Linux programs its one-shot clock event. */
    run_loop(&t, 20);
    g_assert_cmpuint(fixture_irq_raises(t.m, 0), ==, 1);
    g_assert_cmpint(fixture_irq_level(t.m, 0), ==, 1);
    run_loop(&t, 10);
    g_assert_cmpuint(fixture_irq_raises(t.m, 0), ==, 1);
    d = elapsed_ticks(&t);
    g_assert_cmpuint(pit_latch_read(&t, 0), ==, (n - d) & 0xffff);
    pit_test_cleanup(&t);
}

static void test_mode5_hardware_strobe(void)
{
    PitTest t;
    const uint32_t n = 3000;
    uint64_t d;

    pit_test_init(&t);
    pit_program(&t, 2, 5, n);
    advance(&t, 3000);
    /* No trigger yet: nothing counts, OUT stays high. */
    g_assert_true(pit_out(&t, 2));
    g_assert_cmpuint(pit_status(&t, 2) & STATUS_NULL, ==, STATUS_NULL);

    fixture_outb(t.m, PORT_B, 0x01);
    t.t0 = vnow(&t);
    g_assert_cmpuint(pit_latch_read(&t, 2), ==, n);
    g_assert_true(pit_out(&t, 2));
    advance(&t, 1000);
    d = elapsed_ticks(&t);
    g_assert_cmpuint(pit_latch_read(&t, 2), ==, (n - d) & 0xffff);
    g_assert_cmpint(pit_out(&t, 2), ==, d != n);
    pit_test_cleanup(&t);
}

static void test_gate_stops_counting(void)
{
    PitTest t;
    const uint32_t n = 50000;
    uint64_t before, d;

    pit_test_init(&t);
    /* Channel 2 in mode 0 with the gate off: loaded but not counting
     * (the classic TSC calibration set-up). */
    fixture_outb(t.m, PORT_B, 0x00);
    pit_program(&t, 2, 0, n);
    advance(&t, 2000);
    g_assert_cmpuint(pit_latch_read(&t, 2), ==, n);
    g_assert_cmpuint(fixture_inb(t.m, PORT_B) & 0x20, ==, 0);

    fixture_outb(t.m, PORT_B, 0x01);
    t.t0 = vnow(&t);
    advance(&t, 1000);
    d = elapsed_ticks(&t);
    before = (n - d) & 0xffff;
    g_assert_cmpuint(pit_latch_read(&t, 2), ==, before);

    /* Gate low: the count holds; gate high: it resumes from there. */
    fixture_outb(t.m, PORT_B, 0x00);
    advance(&t, 2000);
    g_assert_cmpuint(pit_latch_read(&t, 2), ==, before);
    fixture_outb(t.m, PORT_B, 0x01);
    t.t0 = vnow(&t);
    advance(&t, 1000);
    d = elapsed_ticks(&t);
    g_assert_cmpuint(pit_latch_read(&t, 2), ==, (before - d) & 0xffff);

    /* Mode 2 with the gate low: OUT high, frozen; the rising edge
     * reloads the count. */
    fixture_outb(t.m, PORT_B, 0x00);
    pit_program(&t, 2, 2, 1000);
    advance(&t, 2000);
    g_assert_true(pit_out(&t, 2));
    g_assert_cmpuint(pit_latch_read(&t, 2), ==, 1000);
    fixture_outb(t.m, PORT_B, 0x01);
    t.t0 = vnow(&t);
    advance(&t, 1500);
    d = elapsed_ticks(&t);
    g_assert_cmpuint(pit_latch_read(&t, 2), ==, 1000 - d % 1000);
    fixture_outb(t.m, PORT_B, 0x00);
    fixture_outb(t.m, PORT_B, 0x01);
    g_assert_cmpuint(pit_latch_read(&t, 2), ==, 1000);
    pit_test_cleanup(&t);
}

static void test_latch(void)
{
    PitTest t;
    const uint32_t n = 60000;
    uint64_t d;
    uint16_t latched;

    pit_test_init(&t);
    pit_program(&t, 0, 2, n);
    advance(&t, 2000);
    d = elapsed_ticks(&t);
    fixture_outb(t.m, PIT_CONTROL, 0x00);
    latched = n - d % n;

    /* The latch holds across time and a second latch command. */
    advance(&t, 2000);
    fixture_outb(t.m, PIT_CONTROL, 0x00);
    g_assert_cmpuint(pit_read16(&t, 0), ==, latched);
    /* After it has been read, reads are live again. */
    d = elapsed_ticks(&t);
    g_assert_cmpuint(pit_read16(&t, 0), ==, n - d % n);
    g_assert_cmpuint(n - d % n, !=, latched);

    /* LSB-only latch: one read frees it. */
    pit_control(&t, 1, RW_LSB, 2, false);
    fixture_outb(t.m, PIT_CH(1), 200);
    t.t0 = vnow(&t);
    advance(&t, 50);
    d = elapsed_ticks(&t);
    fixture_outb(t.m, PIT_CONTROL, 0x40);
    advance(&t, 50);
    g_assert_cmpuint(fixture_inb(t.m, PIT_CH(1)), ==, 200 - d % 200);
    d = elapsed_ticks(&t);
    g_assert_cmpuint(fixture_inb(t.m, PIT_CH(1)), ==, 200 - d % 200);
    pit_test_cleanup(&t);
}

static void test_access_modes(void)
{
    PitTest t;

    pit_test_init(&t);
    /* LSB then MSB, for reads and writes alike. */
    pit_program(&t, 1, 2, 0x1234);
    g_assert_cmpuint(fixture_inb(t.m, PIT_CH(1)), ==, 0x34);
    g_assert_cmpuint(fixture_inb(t.m, PIT_CH(1)), ==, 0x12);
    g_assert_cmpuint(fixture_inb(t.m, PIT_CH(1)), ==, 0x34);
    /* Reads and writes keep separate byte pointers. */
    fixture_outb(t.m, PIT_CH(1), 0x78);
    g_assert_cmpuint(fixture_inb(t.m, PIT_CH(1)), ==, 0x12);
    fixture_outb(t.m, PIT_CH(1), 0x56);
    /* Mode 2 reloads at the end of the period, so the new count is not
     * in the element yet. */
    g_assert_cmpuint(pit_status(&t, 1) & STATUS_NULL, ==, STATUS_NULL);
    g_assert_cmpuint(pit_read16(&t, 1), ==, 0x1234);

    /* LSB only: the MSB is zero. */
    pit_control(&t, 0, RW_LSB, 0, false);
    fixture_outb(t.m, PIT_CH(0), 0x9a);
    g_assert_cmpuint(fixture_inb(t.m, PIT_CH(0)), ==, 0x9a);
    g_assert_cmpuint(fixture_inb(t.m, PIT_CH(0)), ==, 0x9a);
    g_assert_cmpuint(pit_status(&t, 0), ==, 0x10);

    /* MSB only: the LSB is zero. */
    pit_control(&t, 0, RW_MSB, 0, false);
    fixture_outb(t.m, PIT_CH(0), 0x12);
    g_assert_cmpuint(fixture_inb(t.m, PIT_CH(0)), ==, 0x12);
    fixture_outb(t.m, PIT_CONTROL, 0x00);
    g_assert_cmpuint(fixture_inb(t.m, PIT_CH(0)), ==, 0x12);
    pit_control(&t, 0, RW_LSB_MSB, 0, false);
    fixture_outb(t.m, PIT_CH(0), 0x00);
    fixture_outb(t.m, PIT_CH(0), 0x12);
    g_assert_cmpuint(pit_read16(&t, 0), ==, 0x1200);

    /* Modes 6 and 7 are 2 and 3; the control port is write-only. */
    pit_control(&t, 0, RW_LSB_MSB, 6, false);
    g_assert_cmpuint(pit_status(&t, 0) & 0x0e, ==, 2 << 1);
    pit_control(&t, 0, RW_LSB_MSB, 7, false);
    g_assert_cmpuint(pit_status(&t, 0) & 0x0e, ==, 3 << 1);
    g_assert_cmpuint(fixture_inb(t.m, PIT_CONTROL), ==, 0xff);
    pit_test_cleanup(&t);
}

static void test_read_back(void)
{
    PitTest t;
    uint64_t d;

    pit_test_init(&t);
    pit_control(&t, 0, RW_LSB_MSB, 2, false);
    /* After the control word: null count until a count is loaded. */
    g_assert_cmpuint(pit_status(&t, 0), ==, STATUS_OUT | STATUS_NULL | 0x34);
    fixture_outb(t.m, PIT_CH(0), 0x00);
    fixture_outb(t.m, PIT_CH(0), 0x40);
    t.t0 = vnow(&t);
    pit_program(&t, 1, 0, 0x2000);

    /* Count and status of channels 0 and 1: status first, then count. */
    advance(&t, 500);
    d = elapsed_ticks(&t);
    fixture_outb(t.m, PIT_CONTROL, 0xc0 | 0x02 | 0x04);
    g_assert_cmpuint(fixture_inb(t.m, PIT_CH(0)), ==, STATUS_OUT | 0x34);
    advance(&t, 500);
    g_assert_cmpuint(pit_read16(&t, 0), ==, 0x4000 - d % 0x4000);
    g_assert_cmpuint(fixture_inb(t.m, PIT_CH(1)), ==,
                     (d >= 0x2000 ? STATUS_OUT : 0) | 0x30);
    g_assert_cmpuint(pit_read16(&t, 1), ==, (0x2000 - d) & 0xffff);

    /* Count only (0xd0 | channel): no status byte. */
    d = elapsed_ticks(&t);
    fixture_outb(t.m, PIT_CONTROL, 0xd0 | 0x04);
    g_assert_cmpuint(pit_read16(&t, 1), ==, (0x2000 - d) & 0xffff);

    /* A repeated status latch keeps the first status. */
    pit_control(&t, 1, RW_LSB, 4, false);
    fixture_outb(t.m, PIT_CONTROL, 0xe0 | 0x04);
    fixture_outb(t.m, PIT_CH(1), 0x50);
    fixture_outb(t.m, PIT_CONTROL, 0xe0 | 0x04);
    g_assert_cmpuint(fixture_inb(t.m, PIT_CH(1)), ==,
                     STATUS_OUT | STATUS_NULL | 0x18);
    g_assert_cmpuint(pit_status(&t, 1), ==, STATUS_OUT | 0x18);
    pit_test_cleanup(&t);
}

static uint16_t bcd(uint32_t v)
{
    return (v / 1000 % 10) << 12 | (v / 100 % 10) << 8 |
           (v / 10 % 10) << 4 | v % 10;
}

static void test_bcd(void)
{
    PitTest t;
    uint64_t d;

    pit_test_init(&t);
    pit_control(&t, 0, RW_LSB_MSB, 2, true);
    fixture_outb(t.m, PIT_CH(0), 0x00);
    fixture_outb(t.m, PIT_CH(0), 0x10);
    t.t0 = vnow(&t);
    g_assert_cmpuint(pit_latch_read(&t, 0), ==, 0x1000);
    g_assert_cmpuint(pit_status(&t, 0), ==, STATUS_OUT | 0x35);
    advance(&t, 2000);
    d = elapsed_ticks(&t);
    g_assert_cmpuint(pit_latch_read(&t, 0), ==, bcd(1000 - d % 1000));

    /* Count 0 in BCD is 10000, and the counter wraps to 9999. */
    pit_control(&t, 1, RW_LSB_MSB, 0, true);
    fixture_outb(t.m, PIT_CH(1), 0x00);
    fixture_outb(t.m, PIT_CH(1), 0x00);
    t.t0 = vnow(&t);
    g_assert_cmpuint(pit_latch_read(&t, 1), ==, 0x0000);
    advance(&t, 1000);
    d = elapsed_ticks(&t);
    g_assert_cmpuint(pit_latch_read(&t, 1), ==, bcd((10000 - d % 10000) % 10000));

    /* A digit above 9 is a guest error, not a crash. */
    pit_control(&t, 1, RW_LSB_MSB, 2, true);
    fixture_outb(t.m, PIT_CH(1), 0xff);
    fixture_outb(t.m, PIT_CH(1), 0xff);
    g_assert_cmpuint(pit_latch_read(&t, 1), ==, 0x9999);
    pit_test_cleanup(&t);
}

static void test_reload_at_period_end(void)
{
    PitTest t;
    const uint32_t n1 = 11932, n2 = 2386;
    uint64_t d, switch_at, want, got, diff;

    pit_test_init(&t);
    pit_program(&t, 0, 2, n1);
    advance(&t, 2000);
    fixture_outb(t.m, PIT_CH(0), n2 & 0xff);
    fixture_outb(t.m, PIT_CH(0), n2 >> 8);
    d = elapsed_ticks(&t);
    switch_at = (d / n1 + 1) * n1;
    /* The running period finishes with the old count. */
    g_assert_cmpuint(pit_latch_read(&t, 0), ==, n1 - d % n1);
    g_assert_cmpuint(pit_status(&t, 0) & STATUS_NULL, ==, STATUS_NULL);

    advance(&t, 12000);
    d = elapsed_ticks(&t);
    g_assert_cmpuint(d, >=, switch_at);
    g_assert_cmpuint(pit_status(&t, 0) & STATUS_NULL, ==, 0);
    /* The new period counts from the exact switch point (give or take
     * the rounding of one clock). */
    want = n2 - (d - switch_at) % n2;
    got = pit_latch_read(&t, 0);
    diff = (got + n2 - want) % n2;
    g_assert_true(diff == 0 || diff == 1 || diff == n2 - 1);
    pit_test_cleanup(&t);
}

static void test_virtual_clock_stopped(void)
{
    PitTest t;
    int64_t end;

    pit_test_init(&t);
    pit_program(&t, 0, 2, 1193);
    fixture_irq_clear(t.m);
    /* The clock is stopped: the loop runs, but IRQ 0 never comes. */
    end = clock_get_ns(t.m->loop, CLOCK_HOST) + 20 * 1000000LL;
    while (clock_get_ns(t.m->loop, CLOCK_HOST) < end) {
        main_loop_iterate(t.m->loop, false);
        g_usleep(500);
    }
    g_assert_cmpuint(fixture_irq_raises(t.m, 0), ==, 0);
    g_assert_cmpuint(pit_latch_read(&t, 0), ==, 1193);

    run_loop(&t, 10);
    g_assert_cmpuint(fixture_irq_raises(t.m, 0), >, 0);
    pit_test_cleanup(&t);
}

static void test_tiny_period_rate_limited(void)
{
    PitTest t;
    unsigned raises;

    pit_test_init(&t);
    /* 2 clocks is ~600 kHz; the host timer is held to one event per
     * 10 us, each still a rising edge. */
    pit_program(&t, 0, 2, 2);
    fixture_irq_clear(t.m);
    run_loop(&t, 20);
    raises = fixture_irq_raises(t.m, 0);
    g_assert_cmpuint(raises, >, 0);
    g_assert_cmpuint(raises, <=, (vnow(&t) - t.t0) / 10000 + 1);

    pit_program(&t, 0, 3, 1);
    fixture_irq_clear(t.m);
    run_loop(&t, 10);
    g_assert_cmpuint(fixture_irq_raises(t.m, 0), >, 0);
    g_assert_cmpuint(fixture_irq_raises(t.m, 0), <=,
                     (vnow(&t) - t.t0) / 10000 + 1);
    pit_test_cleanup(&t);
}

static void test_port_b(void)
{
    PitTest t;
    uint8_t first, v;
    bool toggled = false;

    pit_test_init(&t);
    fixture_outb(t.m, PORT_B, 0xff);
    v = fixture_inb(t.m, PORT_B);
    /* Bits 0-3 read back; IOCHK and parity errors never set. */
    g_assert_cmpuint(v & 0xcf, ==, 0x0f);
    fixture_outb(t.m, PORT_B, 0x02);
    g_assert_cmpuint(fixture_inb(t.m, PORT_B) & 0x0f, ==, 0x02);

    /* The refresh bit holds while time stands still and toggles as it
     * runs. */
    first = fixture_inb(t.m, PORT_B) & 0x10;
    g_assert_cmpuint(fixture_inb(t.m, PORT_B) & 0x10, ==, first);
    for (int i = 0; i < 100 && !toggled; i++) {
        advance(&t, 20);
        toggled = (fixture_inb(t.m, PORT_B) & 0x10) != first;
    }
    g_assert_true(toggled);

    /* The API sees the same gate. */
    i8254_set_gate(t.pit, 2, true);
    g_assert_cmpuint(fixture_inb(t.m, PORT_B) & 0x01, ==, 0x01);
    g_assert_false(i8254_get_out(t.pit, 5));
    pit_test_cleanup(&t);
}

static void test_power_on_tick(void)
{
    PitTest t;

    pit_test_init(&t);
    /* Mode 3, count 65536 on every channel, as the BIOS leaves it:
     * channel 0 ticks at 18.2 Hz without any programming. */
    g_assert_cmpuint(pit_status(&t, 0), ==, STATUS_OUT | 0x36);
    g_assert_cmpuint(pit_status(&t, 2) & 0x3f, ==, 0x36);
    fixture_irq_clear(t.m);
    run_loop(&t, 130);
    g_assert_cmpuint(fixture_irq_raises(t.m, 0), >=, 1);
    g_assert_cmpuint(fixture_irq_raises(t.m, 0), <=, 3);
    g_assert_null(i8254_from_device(NULL));
    pit_test_cleanup(&t);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/pit/mode0-one-shot", test_mode0_one_shot);
    g_test_add_func("/pit/mode1-gate-triggered", test_mode1_gate_triggered);
    g_test_add_func("/pit/mode2-rate-generator", test_mode2_rate_generator);
    g_test_add_func("/pit/mode3-square-wave", test_mode3_square_wave);
    g_test_add_func("/pit/mode4-software-strobe", test_mode4_software_strobe);
    g_test_add_func("/pit/mode5-hardware-strobe", test_mode5_hardware_strobe);
    g_test_add_func("/pit/gate", test_gate_stops_counting);
    g_test_add_func("/pit/latch", test_latch);
    g_test_add_func("/pit/access-modes", test_access_modes);
    g_test_add_func("/pit/read-back", test_read_back);
    g_test_add_func("/pit/bcd", test_bcd);
    g_test_add_func("/pit/reload-at-period-end", test_reload_at_period_end);
    g_test_add_func("/pit/virtual-clock-stopped", test_virtual_clock_stopped);
    g_test_add_func("/pit/tiny-period", test_tiny_period_rate_limited);
    g_test_add_func("/pit/port-b", test_port_b);
    g_test_add_func("/pit/power-on-tick", test_power_on_tick);
    return g_test_run();
}
