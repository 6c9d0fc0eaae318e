/*
 * Local APIC, as the CPU model and a guest see it: the xAPIC registers,
 * interrupt priority and acknowledge/EOI, IPIs between three APICs on one
 * bus with fake CPUs that record what reached them, local interrupts and
 * the timer.
 *
 * The virtual clock is stopped except where a test lets it run, so
 * counter reads happen at known instants.
 */
#include <string.h>
#include <glib.h>
#include "fixture.h"
#include "lemu/hw/qdev.h"
#include "lemu/hw/intc/apic.h"
#include "lemu/util/log.h"

#define NR_APICS        3


#define LVT_MASKED      0x10000
#define LVT_PERIODIC    (1u << 17)
#define LVT_TSC_DEADLINE (2u << 17)
#define DM_NMI          (4u << 8)
#define DM_INIT         (5u << 8)
#define DM_STARTUP      (6u << 8)
#define DM_EXTINT       (7u << 8)
#define ICR_LOGICAL     (1u << 11)
#define ICR_ASSERT      (1u << 14)
#define ICR_LEVEL       (1u << 15)
#define SH_SELF         (1u << 18)
#define SH_ALL_EXCL     (3u << 18)
#define TDCR_BY_1       0xb
#define TDCR_BY_16      0x3

typedef struct FakeCpu {
    unsigned kicks, inits, sipis, nmis, extints;
    uint8_t sipi_vector;
} FakeCpu;

typedef struct ApicTest {
    Machine *m;
    ApicBus *bus;
    ApicState *apic[NR_APICS];
    FakeCpu cpu[NR_APICS];
    unsigned eois;
    uint8_t eoi_vector;
} ApicTest;

static void cpu_kick(void *cpu) { ((FakeCpu *)cpu)->kicks++; }
static void cpu_init(void *cpu) { ((FakeCpu *)cpu)->inits++; }
static void cpu_nmi(void *cpu) { ((FakeCpu *)cpu)->nmis++; }
static void cpu_extint(void *cpu) { ((FakeCpu *)cpu)->extints++; }

static void cpu_sipi(void *cpu, uint8_t vector)
{
    ((FakeCpu *)cpu)->sipis++;
    ((FakeCpu *)cpu)->sipi_vector = vector;
}

static const ApicCpuOps fake_cpu_ops = {
    .kick = cpu_kick,
    .init = cpu_init,
    .sipi = cpu_sipi,
    .nmi = cpu_nmi,
    .extint = cpu_extint,
};

static void eoi_hook(void *opaque, uint8_t vector)
{
    ApicTest *t = opaque;

    t->eois++;
    t->eoi_vector = vector;
}

static ApicState *new_apic(Machine *m, const char *id)
{
    GError *err = NULL;
    Device *dev = device_new(m, "apic", &err);

    g_assert_no_error(err);
    g_assert_true(device_set_prop(dev, "id", id, &err));
    g_assert_no_error(err);
    g_assert_true(device_realize(dev, &err));
    g_assert_no_error(err);
    return apic_from_device(dev);
}

static uint32_t rd(ApicState *s, unsigned reg)
{
    return apic_mmio_read(s, reg, 4);
}

static void wr(ApicState *s, unsigned reg, uint32_t v)
{
    apic_mmio_write(s, reg, v, 4);
}

/* Three software-enabled APICs with IDs 0-2 on one bus. */
static void apic_test_init(ApicTest *t, bool sw_enable)
{
    memset(t, 0, sizeof(*t));
    t->m = fixture_machine_new();
    t->bus = apic_bus_new();
    for (int i = 0; i < NR_APICS; i++) {
        char id[4];

        g_snprintf(id, sizeof(id), "%d", i);
        t->apic[i] = new_apic(t->m, id);
        g_assert_nonnull(t->apic[i]);
        apic_bus_attach(t->bus, t->apic[i]);
        apic_connect_cpu(t->apic[i], &fake_cpu_ops, &t->cpu[i]);
        apic_set_eoi_hook(t->apic[i], eoi_hook, t);
        if (sw_enable) {
            wr(t->apic[i], APIC_SVR, 0x1ff);
        }
        t->cpu[i].kicks = 0;
    }
    main_loop_virtual_clock_stop(t->m->loop);
}

static void apic_test_cleanup(ApicTest *t)
{
    apic_bus_free(t->bus);
    fixture_machine_free(t->m);
}

static bool irr_test(ApicState *s, int vector)
{
    return rd(s, APIC_IRR + (vector >> 5) * 0x10) & (1u << (vector & 31));
}

static bool isr_test(ApicState *s, int vector)
{
    return rd(s, APIC_ISR + (vector >> 5) * 0x10) & (1u << (vector & 31));
}

static bool tmr_test(ApicState *s, int vector)
{
    return rd(s, APIC_TMR + (vector >> 5) * 0x10) & (1u << (vector & 31));
}

static void send_fixed(ApicTest *t, uint8_t dest, uint8_t vector, bool level)
{
    ApicMessage msg = {
        .vector = vector,
        .delivery_mode = APIC_DM_FIXED,
        .dest = dest,
        .level_triggered = level,
    };

    apic_bus_deliver(t->bus, &msg);
}

static void send_ipi(ApicState *s, uint8_t dest, uint32_t low)
{
    wr(s, APIC_ICR_HIGH, (uint32_t)dest << 24);
    wr(s, APIC_ICR_LOW, low);
}

static int64_t vnow(ApicTest *t)
{
    return clock_get_ns(t->m->loop, CLOCK_VIRTUAL);
}

static void advance(ApicTest *t, unsigned us)
{
    main_loop_virtual_clock_start(t->m->loop);
    g_usleep(us);
    main_loop_virtual_clock_stop(t->m->loop);
}

/*
 * Runs @ms of virtual time in 50 us steps (timers fire at their exact
 * deadlines, whatever the host's load), taking every interrupt APIC 0
 * raises after each step as a CPU would (INTA, then EOI); returns how
 * many there were of @vector.
 */
static unsigned run_and_take(ApicTest *t, unsigned ms, int vector)
{
    const int64_t step = 50000;
    unsigned n = 0;

    for (int64_t done = 0; done < ms * 1000000LL; done += step) {
        main_loop_virtual_clock_step(t->m->loop, step);
        main_loop_iterate(t->m->loop, false);
        while (apic_has_interrupt(t->apic[0])) {
            if (apic_acknowledge(t->apic[0]) == vector) {
                n++;
            }
            wr(t->apic[0], APIC_EOI, 0);
        }
    }
    return n;
}

/* ---- registers ---- */

static void test_reset_values(void)
{
    ApicTest t;
    ApicState *s;
    GError *err = NULL;
    Device *dev;

    apic_test_init(&t, false);
    s = t.apic[1];
    g_assert_cmphex(rd(s, APIC_ID), ==, 0x01000000);
    g_assert_cmphex(rd(s, APIC_LVR), ==, 0x00050014);
    g_assert_cmphex(rd(s, APIC_TPR), ==, 0);
    g_assert_cmphex(rd(s, APIC_APR), ==, 0);
    g_assert_cmphex(rd(s, APIC_PPR), ==, 0);
    g_assert_cmphex(rd(s, APIC_LDR), ==, 0);
    g_assert_cmphex(rd(s, APIC_DFR), ==, 0xffffffff);
    g_assert_cmphex(rd(s, APIC_SVR), ==, 0xff);
    for (unsigned r = APIC_ISR; r <= APIC_IRR + 0x70; r += 0x10) {
        g_assert_cmphex(rd(s, r), ==, 0);
    }
    for (unsigned r = APIC_LVT_TIMER; r <= APIC_LVT_ERROR; r += 0x10) {
        g_assert_cmphex(rd(s, r), ==, LVT_MASKED);
    }
    g_assert_cmphex(rd(s, APIC_ESR), ==, 0);
    g_assert_cmphex(rd(s, APIC_ICR_LOW), ==, 0);
    g_assert_cmphex(rd(s, APIC_ICR_HIGH), ==, 0);
    g_assert_cmphex(rd(s, APIC_TMICT), ==, 0);
    g_assert_cmphex(rd(s, APIC_TMCCT), ==, 0);
    g_assert_cmphex(rd(s, APIC_TDCR), ==, 0);
    /* Enabled at the default base; APIC 0 is the BSP. */
    g_assert_cmphex(apic_get_base(t.apic[0]), ==, 0xfee00900);
    g_assert_cmphex(apic_get_base(s), ==, 0xfee00800);

    /* Misaligned and wrong-size accesses read 0 and write nothing. */
    g_assert_cmphex(apic_mmio_read(s, APIC_ID + 4, 4), ==, 0);
    g_assert_cmphex(apic_mmio_read(s, APIC_ID, 2), ==, 0);
    apic_mmio_write(s, APIC_TPR, 0x20, 1);
    apic_mmio_write(s, APIC_TPR + 8, 0x20, 4);
    apic_mmio_write(s, 0x5000, 0x20, 4);
    g_assert_cmphex(rd(s, APIC_TPR), ==, 0);

    /* Writable registers keep only their defined bits. */
    wr(s, APIC_LDR, 0x12345678);
    g_assert_cmphex(rd(s, APIC_LDR), ==, 0x12000000);
    wr(s, APIC_DFR, 0);
    g_assert_cmphex(rd(s, APIC_DFR), ==, 0x0fffffff);
    wr(s, APIC_ID, 0x07000000);
    wr(s, APIC_TPR, 0x30);

    /* INIT: power-on values except the ID. */
    apic_reset_cpu(s);
    g_assert_cmphex(rd(s, APIC_ID), ==, 0x07000000);
    g_assert_cmphex(rd(s, APIC_TPR), ==, 0);
    g_assert_cmphex(rd(s, APIC_DFR), ==, 0xffffffff);
    g_assert_cmphex(rd(s, APIC_LDR), ==, 0);

    /* The ID must not be the broadcast address. */
    dev = device_new(t.m, "apic", &err);
    g_assert_no_error(err);
    g_assert_true(device_set_prop(dev, "id", "255", &err));
    g_assert_false(device_realize(dev, &err));
    g_assert_error(err, LEMU_ERROR, LEMU_ERROR_INVALID);
    g_clear_error(&err);

    apic_test_cleanup(&t);
}

/* ---- priority, acknowledge and EOI ---- */

static void test_priority(void)
{
    ApicTest t;
    ApicState *s;

    apic_test_init(&t, true);
    s = t.apic[0];
    g_assert_false(apic_has_interrupt(s));
    send_fixed(&t, 0, 0x35, false);
    send_fixed(&t, 0, 0x51, false);
    send_fixed(&t, 0, 0x52, false);
    g_assert_cmpuint(t.cpu[0].kicks, >=, 3);
    g_assert_cmpuint(t.cpu[1].kicks, ==, 0);
    g_assert_true(irr_test(s, 0x51));
    g_assert_true(apic_has_interrupt(s));

    g_assert_cmpint(apic_acknowledge(s), ==, 0x52);
    g_assert_true(isr_test(s, 0x52));
    g_assert_false(irr_test(s, 0x52));
    g_assert_cmphex(rd(s, APIC_PPR), ==, 0x50);
    /* 0x51 is in the class being serviced: held back. */
    g_assert_false(apic_has_interrupt(s));
    wr(s, APIC_EOI, 0);
    g_assert_cmphex(rd(s, APIC_PPR), ==, 0);
    g_assert_cmpint(apic_acknowledge(s), ==, 0x51);
    wr(s, APIC_EOI, 0);

    /* TPR holds back classes at or below it. */
    t.cpu[0].kicks = 0;
    apic_set_tpr(s, 0x30);
    g_assert_cmphex(rd(s, APIC_TPR), ==, 0x30);
    g_assert_cmphex(rd(s, APIC_PPR), ==, 0x30);
    g_assert_false(apic_has_interrupt(s));
    wr(s, APIC_TPR, 0x2f);
    g_assert_cmpuint(apic_get_tpr(s), ==, 0x2f);
    g_assert_cmpuint(t.cpu[0].kicks, >=, 1);
    g_assert_true(apic_has_interrupt(s));
    g_assert_cmpint(apic_acknowledge(s), ==, 0x35);
    /* PPR follows the higher of TPR and the ISR class. */
    g_assert_cmphex(rd(s, APIC_PPR), ==, 0x30);
    wr(s, APIC_EOI, 0);
    g_assert_cmphex(rd(s, APIC_PPR), ==, 0x2f);

    apic_test_cleanup(&t);
}

static void test_nested_eoi(void)
{
    ApicTest t;
    ApicState *s;

    apic_test_init(&t, true);
    s = t.apic[0];
    send_fixed(&t, 0, 0x40, false);
    g_assert_cmpint(apic_acknowledge(s), ==, 0x40);
    send_fixed(&t, 0, 0x80, false);
    g_assert_true(apic_has_interrupt(s));
    g_assert_cmpint(apic_acknowledge(s), ==, 0x80);
    g_assert_true(isr_test(s, 0x40));
    g_assert_true(isr_test(s, 0x80));
    /* A lower class does not interrupt the handler of a higher one. */
    send_fixed(&t, 0, 0x60, false);
    g_assert_false(apic_has_interrupt(s));

    wr(s, APIC_EOI, 0);
    g_assert_false(isr_test(s, 0x80));
    g_assert_true(isr_test(s, 0x40));
    g_assert_true(apic_has_interrupt(s));
    g_assert_cmpint(apic_acknowledge(s), ==, 0x60);
    wr(s, APIC_EOI, 0);
    g_assert_true(isr_test(s, 0x40));
    wr(s, APIC_EOI, 0);
    g_assert_false(isr_test(s, 0x40));
    /* Edge-triggered vectors do not reach the EOI hook. */
    g_assert_cmpuint(t.eois, ==, 0);

    apic_test_cleanup(&t);
}

static void test_spurious(void)
{
    ApicTest t;
    ApicState *s;

    apic_test_init(&t, true);
    s = t.apic[0];
    g_assert_cmpint(apic_acknowledge(s), ==, 0xff);
    wr(s, APIC_SVR, 0x1f7);
    g_assert_cmpint(apic_acknowledge(s), ==, 0xf7);
    g_assert_cmphex(rd(s, APIC_ISR + 0x70), ==, 0);
    apic_test_cleanup(&t);
}

static void test_level_eoi_hook(void)
{
    ApicTest t;
    ApicState *s;

    apic_test_init(&t, true);
    s = t.apic[0];
    send_fixed(&t, 0, 0x61, true);
    g_assert_true(tmr_test(s, 0x61));
    g_assert_cmpint(apic_acknowledge(s), ==, 0x61);
    g_assert_cmpuint(t.eois, ==, 0);
    wr(s, APIC_EOI, 0);
    g_assert_cmpuint(t.eois, ==, 1);
    g_assert_cmpuint(t.eoi_vector, ==, 0x61);

    /* The same vector edge-triggered: TMR clear, no hook. */
    send_fixed(&t, 0, 0x61, false);
    g_assert_false(tmr_test(s, 0x61));
    g_assert_cmpint(apic_acknowledge(s), ==, 0x61);
    wr(s, APIC_EOI, 0);
    g_assert_cmpuint(t.eois, ==, 1);
    apic_test_cleanup(&t);
}

/* ---- IPIs ---- */

static void test_ipi_fixed(void)
{
    ApicTest t;

    apic_test_init(&t, true);
    /* Physical destination. */
    send_ipi(t.apic[0], 1, ICR_ASSERT | 0x41);
    g_assert_true(irr_test(t.apic[1], 0x41));
    g_assert_false(irr_test(t.apic[0], 0x41));
    g_assert_false(irr_test(t.apic[2], 0x41));
    g_assert_cmpuint(t.cpu[1].kicks, ==, 1);
    /* Delivery status reads idle. */
    g_assert_cmphex(rd(t.apic[0], APIC_ICR_LOW), ==, ICR_ASSERT | 0x41);
    g_assert_cmphex(rd(t.apic[0], APIC_ICR_HIGH), ==, 0x01000000);

    /* Self. */
    send_ipi(t.apic[2], 1, SH_SELF | 0x43);
    g_assert_true(irr_test(t.apic[2], 0x43));
    g_assert_false(irr_test(t.apic[1], 0x43));

    /* All excluding self. */
    send_ipi(t.apic[0], 0, SH_ALL_EXCL | 0x44);
    g_assert_false(irr_test(t.apic[0], 0x44));
    g_assert_true(irr_test(t.apic[1], 0x44));
    g_assert_true(irr_test(t.apic[2], 0x44));

    /* Physical broadcast includes the sender. */
    send_ipi(t.apic[1], 0xff, 0x45);
    for (int i = 0; i < NR_APICS; i++) {
        g_assert_true(irr_test(t.apic[i], 0x45));
    }

    /* An illegal vector is not sent and sets the send error. */
    send_ipi(t.apic[0], 1, 0x05);
    g_assert_false(irr_test(t.apic[1], 0x05));
    g_assert_cmphex(rd(t.apic[0], APIC_ESR), ==, 0);
    wr(t.apic[0], APIC_ESR, 0);
    g_assert_cmphex(rd(t.apic[0], APIC_ESR), ==, 0x20);
    wr(t.apic[0], APIC_ESR, 0);
    g_assert_cmphex(rd(t.apic[0], APIC_ESR), ==, 0);
    apic_test_cleanup(&t);
}

static void test_ipi_logical(void)
{
    ApicTest t;

    apic_test_init(&t, true);
    /* Flat model: one bit per APIC. */
    wr(t.apic[0], APIC_LDR, 0x01000000);
    wr(t.apic[1], APIC_LDR, 0x02000000);
    wr(t.apic[2], APIC_LDR, 0x04000000);
    send_ipi(t.apic[0], 0x06, ICR_LOGICAL | 0x50);
    g_assert_false(irr_test(t.apic[0], 0x50));
    g_assert_true(irr_test(t.apic[1], 0x50));
    g_assert_true(irr_test(t.apic[2], 0x50));
    send_ipi(t.apic[0], 0x04, ICR_LOGICAL | 0x51);
    g_assert_false(irr_test(t.apic[1], 0x51));
    g_assert_true(irr_test(t.apic[2], 0x51));

    /* Cluster model: cluster in the high nibble. */
    for (int i = 0; i < NR_APICS; i++) {
        wr(t.apic[i], APIC_DFR, 0x0fffffff);
    }
    wr(t.apic[1], APIC_LDR, 0x12000000);
    wr(t.apic[2], APIC_LDR, 0x22000000);
    send_ipi(t.apic[0], 0x13, ICR_LOGICAL | 0x52);
    g_assert_true(irr_test(t.apic[1], 0x52));
    g_assert_false(irr_test(t.apic[2], 0x52));

    /* Lowest priority goes to one APIC only: the lowest TPR. */
    for (int i = 0; i < NR_APICS; i++) {
        wr(t.apic[i], APIC_DFR, 0xffffffff);
        wr(t.apic[i], APIC_LDR, 0x01000000);
    }
    apic_set_tpr(t.apic[0], 0x20);
    apic_set_tpr(t.apic[2], 0x10);
    apic_set_tpr(t.apic[1], 0x30);
    send_ipi(t.apic[0], 0x01, ICR_LOGICAL | APIC_DM_LOWEST << 8 | 0x53);
    g_assert_false(irr_test(t.apic[0], 0x53));
    g_assert_false(irr_test(t.apic[1], 0x53));
    g_assert_true(irr_test(t.apic[2], 0x53));
    apic_test_cleanup(&t);
}

static void test_ipi_init_sipi_nmi(void)
{
    ApicTest t;

    apic_test_init(&t, true);
    send_ipi(t.apic[0], 1, ICR_LEVEL | ICR_ASSERT | DM_INIT);
    g_assert_cmpuint(t.cpu[1].inits, ==, 1);
    g_assert_cmpuint(t.cpu[2].inits, ==, 0);
    /* INIT level de-assert does nothing. */
    send_ipi(t.apic[0], 1, ICR_LEVEL | DM_INIT);
    g_assert_cmpuint(t.cpu[1].inits, ==, 1);

    send_ipi(t.apic[0], 0, SH_ALL_EXCL | ICR_ASSERT | DM_STARTUP | 0x9a);
    g_assert_cmpuint(t.cpu[0].sipis, ==, 0);
    for (int i = 1; i < NR_APICS; i++) {
        g_assert_cmpuint(t.cpu[i].sipis, ==, 1);
        g_assert_cmpuint(t.cpu[i].sipi_vector, ==, 0x9a);
    }

    send_ipi(t.apic[1], 2, ICR_ASSERT | DM_NMI);
    g_assert_cmpuint(t.cpu[2].nmis, ==, 1);
    g_assert_cmpuint(t.cpu[0].nmis + t.cpu[1].nmis, ==, 0);
    g_assert_false(apic_has_interrupt(t.apic[2]));

    /* An APIC disabled in IA32_APIC_BASE takes nothing. */
    apic_set_base(t.apic[2], 0xfee00000);
    g_assert_cmphex(apic_get_base(t.apic[2]), ==, 0xfee00000);
    send_ipi(t.apic[1], 2, ICR_ASSERT | DM_NMI);
    g_assert_cmpuint(t.cpu[2].nmis, ==, 1);
    apic_set_base(t.apic[2], 0xfee00800);
    send_ipi(t.apic[1], 2, ICR_ASSERT | DM_NMI);
    g_assert_cmpuint(t.cpu[2].nmis, ==, 2);
    apic_test_cleanup(&t);
}

static void test_software_disabled(void)
{
    ApicTest t;
    ApicState *s;

    apic_test_init(&t, true);
    s = t.apic[1];
    wr(s, APIC_LVT_LINT1, DM_NMI);
    g_assert_cmphex(rd(s, APIC_LVT_LINT1), ==, DM_NMI);
    wr(s, APIC_SVR, 0xff);
    /* Disabling masks every LVT, and keeps them masked. */
    g_assert_cmphex(rd(s, APIC_LVT_LINT1), ==, LVT_MASKED | DM_NMI);
    wr(s, APIC_LVT_LINT0, DM_EXTINT);
    g_assert_cmphex(rd(s, APIC_LVT_LINT0), ==, LVT_MASKED | DM_EXTINT);

    send_fixed(&t, 1, 0x70, false);
    g_assert_false(irr_test(s, 0x70));
    g_assert_false(apic_has_interrupt(s));
    /* NMI, INIT and SIPI still get through. */
    send_ipi(t.apic[0], 1, ICR_ASSERT | DM_NMI);
    g_assert_cmpuint(t.cpu[1].nmis, ==, 1);

    wr(s, APIC_SVR, 0x1ff);
    send_fixed(&t, 1, 0x70, false);
    g_assert_true(irr_test(s, 0x70));
    apic_test_cleanup(&t);
}

/* ---- local interrupts ---- */

static void test_lint(void)
{
    ApicTest t;
    ApicState *s;

    apic_test_init(&t, true);
    s = t.apic[0];
    /* Masked at power-on: nothing. */
    apic_set_lint(s, 0, 1);
    apic_set_lint(s, 1, 1);
    apic_set_lint(s, 0, 0);
    apic_set_lint(s, 1, 0);
    g_assert_cmpuint(t.cpu[0].extints + t.cpu[0].nmis, ==, 0);

    wr(s, APIC_LVT_LINT0, DM_EXTINT);
    wr(s, APIC_LVT_LINT1, DM_NMI);
    apic_set_lint(s, 0, 1);
    g_assert_cmpuint(t.cpu[0].extints, ==, 1);
    apic_set_lint(s, 0, 0);
    apic_set_lint(s, 1, 1);
    g_assert_cmpuint(t.cpu[0].nmis, ==, 1);
    /* NMI is edge-triggered: no new edge, no new NMI. */
    apic_set_lint(s, 1, 1);
    g_assert_cmpuint(t.cpu[0].nmis, ==, 1);
    apic_set_lint(s, 1, 0);
    apic_set_lint(s, 1, 1);
    g_assert_cmpuint(t.cpu[0].nmis, ==, 2);
    apic_set_lint(s, 1, 0);

    wr(s, APIC_LVT_LINT0, LVT_MASKED | DM_EXTINT);
    wr(s, APIC_LVT_LINT1, LVT_MASKED | DM_NMI);
    apic_set_lint(s, 0, 1);
    apic_set_lint(s, 1, 1);
    g_assert_cmpuint(t.cpu[0].extints, ==, 1);
    g_assert_cmpuint(t.cpu[0].nmis, ==, 2);
    apic_set_lint(s, 0, 0);

    /* LINT0 as a fixed edge-triggered interrupt. */
    wr(s, APIC_LVT_LINT0, 0x66);
    apic_set_lint(s, 0, 1);
    g_assert_true(irr_test(s, 0x66));
    g_assert_false(tmr_test(s, 0x66));
    apic_test_cleanup(&t);
}

/* ---- timer ---- */

static void test_timer_count(void)
{
    ApicTest t;
    ApicState *s;
    int64_t t0;
    uint64_t elapsed;

    apic_test_init(&t, true);
    s = t.apic[0];
    wr(s, APIC_TDCR, TDCR_BY_1);
    wr(s, APIC_LVT_TIMER, 0x30);
    wr(s, APIC_TMICT, 1000000000);
    t0 = vnow(&t);
    g_assert_cmpuint(rd(s, APIC_TMICT), ==, 1000000000);
    g_assert_cmpuint(rd(s, APIC_TMCCT), ==, 1000000000);
    advance(&t, 2000);
    elapsed = vnow(&t) - t0;
    g_assert_cmpuint(elapsed, >=, 2000000);
    /* One count per ns at divide-by-1. */
    g_assert_cmpuint(rd(s, APIC_TMCCT), ==, 1000000000 - elapsed);

    /* Divide by 16: a sixteenth of the rate. */
    wr(s, APIC_TDCR, TDCR_BY_16);
    g_assert_cmphex(rd(s, APIC_TDCR), ==, TDCR_BY_16);
    wr(s, APIC_TMICT, 1000000000);
    t0 = vnow(&t);
    advance(&t, 2000);
    elapsed = vnow(&t) - t0;
    g_assert_cmpuint(rd(s, APIC_TMCCT), ==, 1000000000 - elapsed / 16);

    /* Writing 0 stops the timer. */
    wr(s, APIC_TMICT, 0);
    g_assert_cmpuint(rd(s, APIC_TMCCT), ==, 0);
    apic_test_cleanup(&t);
}

static void test_timer_one_shot(void)
{
    ApicTest t;
    ApicState *s;

    apic_test_init(&t, true);
    s = t.apic[0];
    wr(s, APIC_TDCR, TDCR_BY_1);
    wr(s, APIC_LVT_TIMER, 0x30);
    wr(s, APIC_TMICT, 5000000);    /* 5 ms */
    g_assert_cmpuint(run_and_take(&t, 60, 0x30), ==, 1);
    g_assert_cmpuint(rd(s, APIC_TMCCT), ==, 0);
    apic_test_cleanup(&t);
}

static void test_timer_periodic(void)
{
    ApicTest t;
    ApicState *s;
    int64_t t0;
    unsigned n, expected;

    apic_test_init(&t, true);
    s = t.apic[0];
    wr(s, APIC_TDCR, TDCR_BY_16);
    wr(s, APIC_LVT_TIMER, LVT_PERIODIC | 0x31);
    wr(s, APIC_TMICT, 625000);     /* 10 ms at 62.5 MHz */
    t0 = vnow(&t);
    n = run_and_take(&t, 200, 0x31);
    expected = (vnow(&t) - t0) / 10000000;
    g_assert_cmpuint(expected, ==, 20);
    g_assert_cmpuint(n, ==, expected);
    /* Still counting, from the reload value down. */
    g_assert_cmpuint(rd(s, APIC_TMCCT), >, 0);
    g_assert_cmpuint(rd(s, APIC_TMCCT), <=, 625000);

    /* A tiny period is rate-limited to 10 us. */
    wr(s, APIC_TDCR, TDCR_BY_1);
    wr(s, APIC_TMICT, 100);
    n = run_and_take(&t, 50, 0x31);
    g_assert_cmpuint(n, >, 0);
    g_assert_cmpuint(n, <=, 5100);
    apic_test_cleanup(&t);
}

static void test_timer_masked(void)
{
    ApicTest t;
    ApicState *s;

    apic_test_init(&t, true);
    s = t.apic[0];
    wr(s, APIC_TDCR, TDCR_BY_1);
    wr(s, APIC_LVT_TIMER, LVT_MASKED | 0x30);
    wr(s, APIC_TMICT, 2000000);
    g_assert_cmpuint(run_and_take(&t, 30, 0x30), ==, 0);
    g_assert_false(irr_test(s, 0x30));
    /* The count ran down all the same. */
    g_assert_cmpuint(rd(s, APIC_TMCCT), ==, 0);
    apic_test_cleanup(&t);
}

static void test_timer_tsc_deadline(void)
{
    ApicTest t;
    ApicState *s;

    apic_test_init(&t, true);
    s = t.apic[0];
    /* Ignored outside TSC-deadline mode. */
    apic_set_tsc_deadline(s, vnow(&t) + 1000000);
    g_assert_cmpuint(apic_get_tsc_deadline(s), ==, 0);

    wr(s, APIC_LVT_TIMER, LVT_TSC_DEADLINE | 0x32);
    /* The initial count is not used in this mode. */
    wr(s, APIC_TMICT, 1000);
    g_assert_cmpuint(rd(s, APIC_TMICT), ==, 0);
    g_assert_cmpuint(rd(s, APIC_TMCCT), ==, 0);

    apic_set_tsc_deadline(s, vnow(&t) + 5000000);
    g_assert_cmpuint(apic_get_tsc_deadline(s), !=, 0);
    advance(&t, 1000);
    g_assert_false(irr_test(s, 0x32));
    main_loop_virtual_clock_start(t.m->loop);
    FIXTURE_RUN_UNTIL(t.m->loop, irr_test(s, 0x32));
    main_loop_virtual_clock_stop(t.m->loop);
    g_assert_cmpuint(apic_get_tsc_deadline(s), ==, 0);
    g_assert_cmpint(apic_acknowledge(s), ==, 0x32);
    wr(s, APIC_EOI, 0);

    /* A deadline already passed fires at once; 0 disarms. */
    apic_set_tsc_deadline(s, vnow(&t) - 1);
    g_assert_true(irr_test(s, 0x32));
    g_assert_cmpint(apic_acknowledge(s), ==, 0x32);
    wr(s, APIC_EOI, 0);
    apic_set_tsc_deadline(s, vnow(&t) + 2000000);
    apic_set_tsc_deadline(s, 0);
    g_assert_cmpuint(run_and_take(&t, 20, 0x32), ==, 0);
    apic_test_cleanup(&t);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/apic/reset-values", test_reset_values);
    g_test_add_func("/apic/priority", test_priority);
    g_test_add_func("/apic/nested-eoi", test_nested_eoi);
    g_test_add_func("/apic/spurious", test_spurious);
    g_test_add_func("/apic/level-eoi-hook", test_level_eoi_hook);
    g_test_add_func("/apic/ipi/fixed", test_ipi_fixed);
    g_test_add_func("/apic/ipi/logical", test_ipi_logical);
    g_test_add_func("/apic/ipi/init-sipi-nmi", test_ipi_init_sipi_nmi);
    g_test_add_func("/apic/software-disabled", test_software_disabled);
    g_test_add_func("/apic/lint", test_lint);
    g_test_add_func("/apic/timer/count", test_timer_count);
    g_test_add_func("/apic/timer/one-shot", test_timer_one_shot);
    g_test_add_func("/apic/timer/periodic", test_timer_periodic);
    g_test_add_func("/apic/timer/masked", test_timer_masked);
    g_test_add_func("/apic/timer/tsc-deadline", test_timer_tsc_deadline);
    return g_test_run();
}
