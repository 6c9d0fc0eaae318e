/*
 * 82093AA I/O APIC: identification registers, redirection table access,
 * edge and level delivery with Remote IRR and EOI (broadcast and the EOI
 * register), polarity, masking, as a guest programs it through the MMIO
 * window and as the board drives its pins.
 */
#include <glib.h>
#include "fixture.h"
#include "lemu/hw/intc/ioapic.h"
#include "lemu/hw/qdev.h"
#include "lemu/system/memory.h"

#define IOAPIC_BASE     0xfec00000ULL
#define IOREGSEL        0x00
#define IOWIN           0x10
#define IOEOI           0x40

#define REG_ID          0x00
#define REG_VER         0x01
#define REG_ARB         0x02
#define REG_REDTBL(n)   (0x10 + 2 * (n))

#define RTE_DELMOD(m)   ((m) << 8)
#define RTE_LOGICAL     (1u << 11)
#define RTE_DELIVS      (1u << 12)
#define RTE_ACTIVE_LOW  (1u << 13)
#define RTE_REMOTE_IRR  (1u << 14)
#define RTE_LEVEL       (1u << 15)
#define RTE_MASKED      (1u << 16)

#define MAX_MSGS 16

typedef struct IoapicTest {
    Machine *m;
    IoapicState *ioapic;
    ApicMessage msgs[MAX_MSGS];
    unsigned nr_msgs;
} IoapicTest;

static void record_message(void *opaque, const ApicMessage *msg)
{
    IoapicTest *t = opaque;

    g_assert_cmpuint(t->nr_msgs, <, MAX_MSGS);
    t->msgs[t->nr_msgs++] = *msg;
}

static void ioapic_test_init(IoapicTest *t)
{
    GError *err = NULL;
    Device *dev;

    t->m = fixture_machine_new();
    t->nr_msgs = 0;
    dev = device_new(t->m, "ioapic", &err);
    g_assert_no_error(err);
    g_assert_true(device_realize(dev, &err));
    g_assert_no_error(err);
    t->ioapic = ioapic_from_device(dev);
    g_assert_nonnull(t->ioapic);
    ioapic_set_deliver(t->ioapic, record_message, t);
}

static void ioapic_test_cleanup(IoapicTest *t)
{
    fixture_machine_free(t->m);
}

static uint32_t mmio_read(IoapicTest *t, uint64_t offset)
{
    uint64_t v = 0;

    g_assert_true(memory_map_dispatch_read(t->m->mem, IOAPIC_BASE + offset,
                                           4, &v));
    return v;
}

static void mmio_write(IoapicTest *t, uint64_t offset, uint32_t v)
{
    g_assert_true(memory_map_dispatch_write(t->m->mem, IOAPIC_BASE + offset,
                                            4, v));
}

static uint32_t reg_read(IoapicTest *t, uint8_t index)
{
    mmio_write(t, IOREGSEL, index);
    return mmio_read(t, IOWIN);
}

static void reg_write(IoapicTest *t, uint8_t index, uint32_t v)
{
    mmio_write(t, IOREGSEL, index);
    mmio_write(t, IOWIN, v);
}

/* Programs entry @pin as Linux does: destination first, then low half. */
static void set_entry(IoapicTest *t, int pin, uint32_t low, uint8_t dest)
{
    reg_write(t, REG_REDTBL(pin) + 1, (uint32_t)dest << 24);
    reg_write(t, REG_REDTBL(pin), low);
}

static void test_id_version(void)
{
    IoapicTest t;

    ioapic_test_init(&t);
    g_assert_cmphex(reg_read(&t, REG_VER), ==, 0x00170020);
    g_assert_cmphex(reg_read(&t, REG_ID), ==, 0);
    reg_write(&t, REG_ID, 0xffffffff);
    g_assert_cmphex(reg_read(&t, REG_ID), ==, 0x0f000000);
    g_assert_cmphex(reg_read(&t, REG_ARB), ==, 0x0f000000);
    /* The version register is read-only. */
    reg_write(&t, REG_VER, 0);
    g_assert_cmphex(reg_read(&t, REG_VER), ==, 0x00170020);
    /* IOREGSEL reads back its 8 bits. */
    mmio_write(&t, IOREGSEL, 0x1234);
    g_assert_cmphex(mmio_read(&t, IOREGSEL), ==, 0x34);
    /* Reset clears the ID. */
    device_reset_all(t.m);
    g_assert_cmphex(reg_read(&t, REG_ID), ==, 0);
    ioapic_test_cleanup(&t);
}

static void test_reset_masked(void)
{
    IoapicTest t;

    ioapic_test_init(&t);
    for (int pin = 0; pin < IOAPIC_NR_PINS; pin++) {
        g_assert_cmphex(reg_read(&t, REG_REDTBL(pin)), ==, RTE_MASKED);
        g_assert_cmphex(reg_read(&t, REG_REDTBL(pin) + 1), ==, 0);
    }
    set_entry(&t, 3, 0x31, 0x02);
    device_reset_all(t.m);
    g_assert_cmphex(reg_read(&t, REG_REDTBL(3)), ==, RTE_MASKED);
    g_assert_cmphex(reg_read(&t, REG_REDTBL(3) + 1), ==, 0);
    /* Masked after reset: an edge goes nowhere. */
    ioapic_set_irq(t.ioapic, 3, 1);
    g_assert_cmpuint(t.nr_msgs, ==, 0);
    ioapic_test_cleanup(&t);
}

static void test_entry_readback(void)
{
    IoapicTest t;
    uint32_t low = 0x41 | RTE_DELMOD(1) | RTE_LOGICAL | RTE_ACTIVE_LOW |
                   RTE_LEVEL | RTE_MASKED;

    ioapic_test_init(&t);
    reg_write(&t, REG_REDTBL(23) + 1, 0xffffffff);
    /* Delivery status, Remote IRR and reserved bits do not take writes. */
    reg_write(&t, REG_REDTBL(23), low | RTE_DELIVS | RTE_REMOTE_IRR |
              0xfffe0000);
    g_assert_cmphex(reg_read(&t, REG_REDTBL(23)), ==, low);
    g_assert_cmphex(reg_read(&t, REG_REDTBL(23) + 1), ==, 0xff000000);
    /* Neighbouring entries are untouched. */
    g_assert_cmphex(reg_read(&t, REG_REDTBL(22)), ==, RTE_MASKED);
    g_assert_cmpuint(t.nr_msgs, ==, 0);
    ioapic_test_cleanup(&t);
}

static void test_out_of_range(void)
{
    IoapicTest t;

    ioapic_test_init(&t);
    /* Entry 24 would be 0x40/0x41; 0x03 and 0xff are unused too. */
    reg_write(&t, REG_REDTBL(24), 0x55);
    reg_write(&t, 0x03, 0xffffffff);
    reg_write(&t, 0xff, 0xffffffff);
    g_assert_cmphex(reg_read(&t, REG_REDTBL(24)), ==, 0);
    g_assert_cmphex(reg_read(&t, REG_REDTBL(24) + 1), ==, 0);
    g_assert_cmphex(reg_read(&t, 0x03), ==, 0);
    g_assert_cmphex(reg_read(&t, 0xff), ==, 0);
    g_assert_cmphex(reg_read(&t, REG_REDTBL(23)), ==, RTE_MASKED);
    /* Unknown offsets in the window read 0 and ignore writes. */
    mmio_write(&t, 0x20, 0xffffffff);
    g_assert_cmphex(mmio_read(&t, 0x20), ==, 0);
    g_assert_cmphex(mmio_read(&t, 0xffc), ==, 0);
    /* Pins out of range are ignored. */
    ioapic_set_irq(t.ioapic, 24, 1);
    ioapic_set_irq(t.ioapic, -1, 1);
    g_assert_cmpuint(t.nr_msgs, ==, 0);
    ioapic_test_cleanup(&t);
}

static void test_edge_delivery(void)
{
    IoapicTest t;

    ioapic_test_init(&t);
    set_entry(&t, 4, 0x34 | RTE_DELMOD(1) | RTE_LOGICAL, 0x05);
    ioapic_set_irq(t.ioapic, 4, 1);
    g_assert_cmpuint(t.nr_msgs, ==, 1);
    g_assert_cmphex(t.msgs[0].vector, ==, 0x34);
    g_assert_cmpuint(t.msgs[0].delivery_mode, ==, APIC_DM_LOWEST);
    g_assert_true(t.msgs[0].dest_logical);
    g_assert_cmphex(t.msgs[0].dest, ==, 0x05);
    g_assert_false(t.msgs[0].level_triggered);
    /* Holding the level high, or lowering it, sends nothing. */
    ioapic_set_irq(t.ioapic, 4, 1);
    ioapic_set_irq(t.ioapic, 4, 0);
    g_assert_cmpuint(t.nr_msgs, ==, 1);
    /* The next rising edge is the next message; no Remote IRR for edge. */
    ioapic_gsi_handler(t.ioapic, 4, 1);
    g_assert_cmpuint(t.nr_msgs, ==, 2);
    g_assert_cmphex(reg_read(&t, REG_REDTBL(4)) & RTE_REMOTE_IRR, ==, 0);

    /* Physical destination, fixed mode. */
    set_entry(&t, 9, 0x39, 0xff);
    ioapic_set_irq(t.ioapic, 9, 1);
    g_assert_cmpuint(t.nr_msgs, ==, 3);
    g_assert_cmphex(t.msgs[2].vector, ==, 0x39);
    g_assert_cmpuint(t.msgs[2].delivery_mode, ==, APIC_DM_FIXED);
    g_assert_false(t.msgs[2].dest_logical);
    g_assert_cmphex(t.msgs[2].dest, ==, 0xff);
    ioapic_test_cleanup(&t);
}

static void test_masked_edge_lost(void)
{
    IoapicTest t;

    ioapic_test_init(&t);
    set_entry(&t, 1, 0x31 | RTE_MASKED, 0);
    ioapic_set_irq(t.ioapic, 1, 1);
    reg_write(&t, REG_REDTBL(1), 0x31);
    g_assert_cmpuint(t.nr_msgs, ==, 0);
    ioapic_set_irq(t.ioapic, 1, 0);
    ioapic_set_irq(t.ioapic, 1, 1);
    g_assert_cmpuint(t.nr_msgs, ==, 1);
    ioapic_test_cleanup(&t);
}

static void test_level_eoi(void)
{
    IoapicTest t;

    ioapic_test_init(&t);
    set_entry(&t, 10, 0x5a | RTE_LEVEL, 0x01);
    ioapic_set_irq(t.ioapic, 10, 1);
    g_assert_cmpuint(t.nr_msgs, ==, 1);
    g_assert_cmphex(t.msgs[0].vector, ==, 0x5a);
    g_assert_true(t.msgs[0].level_triggered);
    g_assert_cmphex(t.msgs[0].dest, ==, 0x01);
    g_assert_cmphex(reg_read(&t, REG_REDTBL(10)) & RTE_REMOTE_IRR, ==,
                    RTE_REMOTE_IRR);
    /* Remote IRR holds further requests back. */
    ioapic_set_irq(t.ioapic, 10, 1);
    g_assert_cmpuint(t.nr_msgs, ==, 1);
    /* An EOI for another vector changes nothing. */
    ioapic_eoi(t.ioapic, 0x5b);
    g_assert_cmpuint(t.nr_msgs, ==, 1);
    /* EOI with the line still asserted: delivered again. */
    ioapic_eoi(t.ioapic, 0x5a);
    g_assert_cmpuint(t.nr_msgs, ==, 2);
    g_assert_cmphex(reg_read(&t, REG_REDTBL(10)) & RTE_REMOTE_IRR, ==,
                    RTE_REMOTE_IRR);
    /* The same through the EOI register. */
    mmio_write(&t, IOEOI, 0x5a);
    g_assert_cmpuint(t.nr_msgs, ==, 3);
    /* Deasserted, then EOI: Remote IRR clears, nothing more is sent. */
    ioapic_set_irq(t.ioapic, 10, 0);
    mmio_write(&t, IOEOI, 0x5a);
    g_assert_cmpuint(t.nr_msgs, ==, 3);
    g_assert_cmphex(reg_read(&t, REG_REDTBL(10)) & RTE_REMOTE_IRR, ==, 0);
    /* Asserted again: a new message. */
    ioapic_set_irq(t.ioapic, 10, 1);
    g_assert_cmpuint(t.nr_msgs, ==, 4);
    ioapic_test_cleanup(&t);
}

static void test_active_low(void)
{
    IoapicTest t;

    ioapic_test_init(&t);
    /* The line idles high before the entry is programmed. */
    ioapic_set_irq(t.ioapic, 16, 1);
    set_entry(&t, 16, 0x61 | RTE_ACTIVE_LOW | RTE_LEVEL, 0);
    g_assert_cmpuint(t.nr_msgs, ==, 0);
    ioapic_set_irq(t.ioapic, 16, 0);
    g_assert_cmpuint(t.nr_msgs, ==, 1);
    g_assert_cmphex(t.msgs[0].vector, ==, 0x61);
    ioapic_set_irq(t.ioapic, 16, 1);
    ioapic_eoi(t.ioapic, 0x61);
    g_assert_cmpuint(t.nr_msgs, ==, 1);

    /* Edge-triggered active low: the falling edge is the request. */
    ioapic_set_irq(t.ioapic, 17, 1);
    set_entry(&t, 17, 0x62 | RTE_ACTIVE_LOW, 0);
    ioapic_set_irq(t.ioapic, 17, 0);
    g_assert_cmpuint(t.nr_msgs, ==, 2);
    g_assert_cmphex(t.msgs[1].vector, ==, 0x62);
    ioapic_set_irq(t.ioapic, 17, 1);
    g_assert_cmpuint(t.nr_msgs, ==, 2);
    ioapic_test_cleanup(&t);
}

static void test_unmask_asserted_level(void)
{
    IoapicTest t;

    ioapic_test_init(&t);
    set_entry(&t, 11, 0x71 | RTE_LEVEL | RTE_MASKED, 0x03);
    ioapic_set_irq(t.ioapic, 11, 1);
    g_assert_cmpuint(t.nr_msgs, ==, 0);
    g_assert_cmphex(reg_read(&t, REG_REDTBL(11)) & RTE_REMOTE_IRR, ==, 0);
    reg_write(&t, REG_REDTBL(11), 0x71 | RTE_LEVEL);
    g_assert_cmpuint(t.nr_msgs, ==, 1);
    g_assert_cmphex(t.msgs[0].vector, ==, 0x71);
    g_assert_cmphex(t.msgs[0].dest, ==, 0x03);
    /* Masking and unmasking again while Remote IRR is set sends nothing. */
    reg_write(&t, REG_REDTBL(11), 0x71 | RTE_LEVEL | RTE_MASKED);
    reg_write(&t, REG_REDTBL(11), 0x71 | RTE_LEVEL);
    g_assert_cmpuint(t.nr_msgs, ==, 1);
    /* Switching to edge clears a stale Remote IRR (what Linux relies on
     * without an EOI register). */
    reg_write(&t, REG_REDTBL(11), 0x71 | RTE_MASKED);
    g_assert_cmphex(reg_read(&t, REG_REDTBL(11)) & RTE_REMOTE_IRR, ==, 0);
    ioapic_test_cleanup(&t);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/ioapic/id-version", test_id_version);
    g_test_add_func("/ioapic/reset-masked", test_reset_masked);
    g_test_add_func("/ioapic/entry-readback", test_entry_readback);
    g_test_add_func("/ioapic/out-of-range", test_out_of_range);
    g_test_add_func("/ioapic/edge-delivery", test_edge_delivery);
    g_test_add_func("/ioapic/masked-edge-lost", test_masked_edge_lost);
    g_test_add_func("/ioapic/level-eoi", test_level_eoi);
    g_test_add_func("/ioapic/active-low", test_active_low);
    g_test_add_func("/ioapic/unmask-asserted-level",
                    test_unmask_asserted_level);
    return g_test_run();
}
