/*
 * 8259A PIC pair: initialisation, masking, priorities and rotation, EOI,
 * register reads, cascade, trigger modes, spurious interrupts, poll mode,
 * as a guest programs them through the ports and as a CPU acknowledges.
 */
#include <glib.h>
#include "fixture.h"
#include "lemu/hw/intc/i8259.h"
#include "lemu/hw/qdev.h"

#define MASTER_CMD  0x20
#define MASTER_DATA 0x21
#define SLAVE_CMD   0xa0
#define SLAVE_DATA  0xa1
#define ELCR_MASTER 0x4d0
#define ELCR_SLAVE  0x4d1

#define OCW3_READ_IRR 0x0a
#define OCW3_READ_ISR 0x0b
#define OCW3_POLL     0x0c
#define EOI           0x20

#define MASTER_BASE 0x20
#define SLAVE_BASE  0x28

typedef struct PicTest {
    Machine *m;
    I8259State *pic;
    int intr;               /* INTR as the CPU sees it */
    unsigned intr_raises;
} PicTest;

static void cpu_intr(void *opaque, int n, int level)
{
    PicTest *t = opaque;

    if (level && !t->intr) {
        t->intr_raises++;
    }
    t->intr = level;
}

static void pic_test_init(PicTest *t)
{
    GError *err = NULL;
    Device *dev;

    t->m = fixture_machine_new();
    t->intr = 0;
    t->intr_raises = 0;
    dev = device_new(t->m, "i8259", &err);
    g_assert_no_error(err);
    g_assert_true(device_realize(dev, &err));
    g_assert_no_error(err);
    t->pic = i8259_from_device(dev);
    g_assert_nonnull(t->pic);
    i8259_connect_int_out(t->pic, (IrqLine){ cpu_intr, t, 0 });
}

static void pic_test_cleanup(PicTest *t)
{
    fixture_machine_free(t->m);
}

/* What Linux and the BIOS do: edge, cascade, 8086 mode; optional AEOI. */
static void pic_program(PicTest *t, bool aeoi)
{
    uint8_t icw4 = aeoi ? 0x03 : 0x01;

    fixture_outb(t->m, MASTER_CMD, 0x11);
    fixture_outb(t->m, MASTER_DATA, MASTER_BASE);
    fixture_outb(t->m, MASTER_DATA, 0x04);
    fixture_outb(t->m, MASTER_DATA, icw4);
    fixture_outb(t->m, SLAVE_CMD, 0x11);
    fixture_outb(t->m, SLAVE_DATA, SLAVE_BASE);
    fixture_outb(t->m, SLAVE_DATA, 0x02);
    fixture_outb(t->m, SLAVE_DATA, icw4);
    fixture_outb(t->m, MASTER_DATA, 0x00);
    fixture_outb(t->m, SLAVE_DATA, 0x00);
}

static uint8_t read_isr(PicTest *t, uint16_t cmd)
{
    fixture_outb(t->m, cmd, OCW3_READ_ISR);
    return fixture_inb(t->m, cmd);
}

static uint8_t read_irr(PicTest *t, uint16_t cmd)
{
    fixture_outb(t->m, cmd, OCW3_READ_IRR);
    return fixture_inb(t->m, cmd);
}

static void pulse(PicTest *t, int irq)
{
    i8259_set_irq(t->pic, irq, 1);
    i8259_set_irq(t->pic, irq, 0);
}

static void test_power_on_masked(void)
{
    PicTest t;

    pic_test_init(&t);
    /* Not initialised: everything masked, so a request does not reach
     * the CPU, but it is latched in IRR. */
    g_assert_cmpuint(fixture_inb(t.m, MASTER_DATA), ==, 0xff);
    g_assert_cmpuint(fixture_inb(t.m, SLAVE_DATA), ==, 0xff);
    pulse(&t, 1);
    g_assert_false(i8259_has_interrupt(t.pic));
    g_assert_cmpint(t.intr, ==, 0);
    g_assert_cmpuint(read_irr(&t, MASTER_CMD), ==, 0x02);

    /* ICW1 resets the edge latches and clears IMR. */
    pic_program(&t, false);
    g_assert_cmpuint(fixture_inb(t.m, MASTER_DATA), ==, 0x00);
    g_assert_cmpuint(read_irr(&t, MASTER_CMD), ==, 0x00);
    g_assert_false(i8259_has_interrupt(t.pic));
    pic_test_cleanup(&t);
}

static void test_init_and_ack(void)
{
    PicTest t;

    pic_test_init(&t);
    pic_program(&t, false);
    pulse(&t, 1);
    g_assert_true(i8259_has_interrupt(t.pic));
    g_assert_cmpint(t.intr, ==, 1);
    g_assert_cmpuint(read_irr(&t, MASTER_CMD), ==, 0x02);

    g_assert_cmpint(i8259_acknowledge(t.pic), ==, MASTER_BASE + 1);
    g_assert_cmpint(t.intr, ==, 0);
    g_assert_cmpuint(read_irr(&t, MASTER_CMD), ==, 0x00);
    g_assert_cmpuint(read_isr(&t, MASTER_CMD), ==, 0x02);

    fixture_outb(t.m, MASTER_CMD, EOI);
    g_assert_cmpuint(read_isr(&t, MASTER_CMD), ==, 0x00);
    g_assert_cmpuint(t.intr_raises, ==, 1);

    /* A new vector base through a second initialisation. */
    fixture_outb(t.m, MASTER_CMD, 0x11);
    fixture_outb(t.m, MASTER_DATA, 0x50);
    fixture_outb(t.m, MASTER_DATA, 0x04);
    fixture_outb(t.m, MASTER_DATA, 0x01);
    fixture_outb(t.m, MASTER_DATA, 0x00);
    pulse(&t, 6);
    g_assert_cmpint(i8259_acknowledge(t.pic), ==, 0x56);
    pic_test_cleanup(&t);
}

static void test_init_without_icw3_icw4(void)
{
    PicTest t;

    pic_test_init(&t);
    /* Single mode, no ICW4: only ICW2 follows, then the port is IMR. */
    fixture_outb(t.m, MASTER_CMD, 0x12);
    fixture_outb(t.m, MASTER_DATA, 0x40);
    fixture_outb(t.m, MASTER_DATA, 0xf7);
    g_assert_cmpuint(fixture_inb(t.m, MASTER_DATA), ==, 0xf7);
    pulse(&t, 3);
    g_assert_cmpint(i8259_acknowledge(t.pic), ==, 0x43);

    /* Cascade without ICW4: ICW2, ICW3, then IMR. */
    fixture_outb(t.m, MASTER_CMD, 0x10);
    fixture_outb(t.m, MASTER_DATA, 0x60);
    fixture_outb(t.m, MASTER_DATA, 0x04);
    fixture_outb(t.m, MASTER_DATA, 0xaa);
    g_assert_cmpuint(fixture_inb(t.m, MASTER_DATA), ==, 0xaa);
    pic_test_cleanup(&t);
}

static void test_masking(void)
{
    PicTest t;

    pic_test_init(&t);
    pic_program(&t, false);
    fixture_outb(t.m, MASTER_DATA, 0x10);
    g_assert_cmpuint(fixture_inb(t.m, MASTER_DATA), ==, 0x10);
    pulse(&t, 4);
    g_assert_false(i8259_has_interrupt(t.pic));
    g_assert_cmpuint(read_irr(&t, MASTER_CMD), ==, 0x10);

    /* Unmasking delivers the latched request. */
    fixture_outb(t.m, MASTER_DATA, 0x00);
    g_assert_true(i8259_has_interrupt(t.pic));
    g_assert_cmpint(i8259_acknowledge(t.pic), ==, MASTER_BASE + 4);

    /* Masking the cascade input hides every slave interrupt. */
    fixture_outb(t.m, MASTER_CMD, EOI);
    fixture_outb(t.m, MASTER_DATA, 0x04);
    pulse(&t, 12);
    g_assert_false(i8259_has_interrupt(t.pic));
    fixture_outb(t.m, MASTER_DATA, 0x00);
    g_assert_cmpint(i8259_acknowledge(t.pic), ==, SLAVE_BASE + 4);
    pic_test_cleanup(&t);
}

static void test_priority_nesting(void)
{
    PicTest t;

    pic_test_init(&t);
    pic_program(&t, false);
    pulse(&t, 5);
    pulse(&t, 3);
    g_assert_cmpint(i8259_acknowledge(t.pic), ==, MASTER_BASE + 3);
    /* 5 is below 3, which is in service. */
    g_assert_false(i8259_has_interrupt(t.pic));

    /* 1 outranks 3 and nests. */
    pulse(&t, 1);
    g_assert_true(i8259_has_interrupt(t.pic));
    g_assert_cmpint(i8259_acknowledge(t.pic), ==, MASTER_BASE + 1);
    g_assert_cmpuint(read_isr(&t, MASTER_CMD), ==, 0x0a);

    /* Non-specific EOI ends the highest priority level in service. */
    fixture_outb(t.m, MASTER_CMD, EOI);
    g_assert_cmpuint(read_isr(&t, MASTER_CMD), ==, 0x08);
    g_assert_false(i8259_has_interrupt(t.pic));
    fixture_outb(t.m, MASTER_CMD, EOI);
    g_assert_cmpuint(read_isr(&t, MASTER_CMD), ==, 0x00);
    g_assert_true(i8259_has_interrupt(t.pic));
    g_assert_cmpint(i8259_acknowledge(t.pic), ==, MASTER_BASE + 5);
    pic_test_cleanup(&t);
}

static void test_specific_eoi(void)
{
    PicTest t;

    pic_test_init(&t);
    pic_program(&t, false);
    pulse(&t, 6);
    g_assert_cmpint(i8259_acknowledge(t.pic), ==, MASTER_BASE + 6);
    pulse(&t, 4);
    g_assert_cmpint(i8259_acknowledge(t.pic), ==, MASTER_BASE + 4);
    g_assert_cmpuint(read_isr(&t, MASTER_CMD), ==, 0x50);
    /* Specific EOI for 6 leaves 4 in service. */
    fixture_outb(t.m, MASTER_CMD, 0x60 | 6);
    g_assert_cmpuint(read_isr(&t, MASTER_CMD), ==, 0x10);
    fixture_outb(t.m, MASTER_CMD, 0x60 | 4);
    g_assert_cmpuint(read_isr(&t, MASTER_CMD), ==, 0x00);
    pic_test_cleanup(&t);
}

static void test_rotation(void)
{
    PicTest t;

    pic_test_init(&t);
    pic_program(&t, false);

    /* Rotate on non-specific EOI: 3 becomes the lowest priority, so 4
     * is now the highest and wins over 0. */
    pulse(&t, 3);
    g_assert_cmpint(i8259_acknowledge(t.pic), ==, MASTER_BASE + 3);
    fixture_outb(t.m, MASTER_CMD, 0xa0);
    pulse(&t, 0);
    pulse(&t, 4);
    pulse(&t, 3);
    g_assert_cmpint(i8259_acknowledge(t.pic), ==, MASTER_BASE + 4);
    fixture_outb(t.m, MASTER_CMD, EOI);
    g_assert_cmpint(i8259_acknowledge(t.pic), ==, MASTER_BASE + 0);
    fixture_outb(t.m, MASTER_CMD, EOI);
    g_assert_cmpint(i8259_acknowledge(t.pic), ==, MASTER_BASE + 3);
    fixture_outb(t.m, MASTER_CMD, EOI);

    /* Set priority: 6 lowest, so 7 is highest. */
    fixture_outb(t.m, MASTER_CMD, 0xc0 | 6);
    pulse(&t, 6);
    pulse(&t, 1);
    pulse(&t, 7);
    g_assert_cmpint(i8259_acknowledge(t.pic), ==, MASTER_BASE + 7);
    /* While 7 (highest) is in service nothing else gets through. */
    g_assert_false(i8259_has_interrupt(t.pic));
    /* Rotate on specific EOI for 7 (in service, so it is also ended):
     * 0 becomes the highest, then 1 ... 6. */
    fixture_outb(t.m, MASTER_CMD, 0xe0 | 7);
    g_assert_cmpuint(read_isr(&t, MASTER_CMD), ==, 0x00);
    g_assert_cmpint(i8259_acknowledge(t.pic), ==, MASTER_BASE + 1);
    fixture_outb(t.m, MASTER_CMD, EOI);
    g_assert_cmpint(i8259_acknowledge(t.pic), ==, MASTER_BASE + 6);
    fixture_outb(t.m, MASTER_CMD, EOI);
    g_assert_false(i8259_has_interrupt(t.pic));
    pic_test_cleanup(&t);
}

static void test_auto_eoi(void)
{
    PicTest t;

    pic_test_init(&t);
    pic_program(&t, true);
    pulse(&t, 3);
    pulse(&t, 5);
    g_assert_cmpint(i8259_acknowledge(t.pic), ==, MASTER_BASE + 3);
    /* Nothing in service: 5 comes straight away. */
    g_assert_cmpuint(read_isr(&t, MASTER_CMD), ==, 0x00);
    g_assert_true(i8259_has_interrupt(t.pic));
    g_assert_cmpint(i8259_acknowledge(t.pic), ==, MASTER_BASE + 5);

    /* Rotate in auto-EOI mode: each acknowledged level goes last. */
    fixture_outb(t.m, MASTER_CMD, 0x80);
    pulse(&t, 0);
    pulse(&t, 1);
    g_assert_cmpint(i8259_acknowledge(t.pic), ==, MASTER_BASE + 0);
    pulse(&t, 0);
    g_assert_cmpint(i8259_acknowledge(t.pic), ==, MASTER_BASE + 1);
    g_assert_cmpint(i8259_acknowledge(t.pic), ==, MASTER_BASE + 0);

    /* Clear rotate in AEOI: 0 stays the lowest, and a level acknowledged
     * keeps its priority. */
    fixture_outb(t.m, MASTER_CMD, 0x00);
    pulse(&t, 0);
    pulse(&t, 5);
    g_assert_cmpint(i8259_acknowledge(t.pic), ==, MASTER_BASE + 5);
    pulse(&t, 5);
    g_assert_cmpint(i8259_acknowledge(t.pic), ==, MASTER_BASE + 5);
    g_assert_cmpint(i8259_acknowledge(t.pic), ==, MASTER_BASE + 0);
    g_assert_false(i8259_has_interrupt(t.pic));
    pic_test_cleanup(&t);
}

static void test_cascade(void)
{
    PicTest t;

    pic_test_init(&t);
    pic_program(&t, false);
    pulse(&t, 10);
    g_assert_true(i8259_has_interrupt(t.pic));
    g_assert_cmpuint(read_irr(&t, MASTER_CMD), ==, 0x04);
    g_assert_cmpuint(read_irr(&t, SLAVE_CMD), ==, 0x04);
    g_assert_cmpint(i8259_acknowledge(t.pic), ==, SLAVE_BASE + 2);
    g_assert_cmpuint(read_isr(&t, MASTER_CMD), ==, 0x04);
    g_assert_cmpuint(read_isr(&t, SLAVE_CMD), ==, 0x04);

    /* Another slave request waits for both EOIs. */
    pulse(&t, 15);
    g_assert_false(i8259_has_interrupt(t.pic));
    fixture_outb(t.m, SLAVE_CMD, EOI);
    /* The master still has IR2 in service. */
    g_assert_false(i8259_has_interrupt(t.pic));
    fixture_outb(t.m, MASTER_CMD, EOI);
    g_assert_true(i8259_has_interrupt(t.pic));
    g_assert_cmpint(i8259_acknowledge(t.pic), ==, SLAVE_BASE + 7);
    g_assert_cmpuint(read_isr(&t, SLAVE_CMD), ==, 0x80);
    fixture_outb(t.m, SLAVE_CMD, EOI);
    fixture_outb(t.m, MASTER_CMD, EOI);

    /* The slave's IRQs sit at master priority 2: above 3, below 1. */
    pulse(&t, 3);
    pulse(&t, 8);
    g_assert_cmpint(i8259_acknowledge(t.pic), ==, SLAVE_BASE + 0);
    pulse(&t, 1);
    g_assert_cmpint(i8259_acknowledge(t.pic), ==, MASTER_BASE + 1);
    fixture_outb(t.m, MASTER_CMD, EOI);
    fixture_outb(t.m, SLAVE_CMD, EOI);
    fixture_outb(t.m, MASTER_CMD, EOI);
    g_assert_cmpint(i8259_acknowledge(t.pic), ==, MASTER_BASE + 3);
    pic_test_cleanup(&t);
}

static void test_cascade_auto_eoi(void)
{
    PicTest t;

    pic_test_init(&t);
    pic_program(&t, true);
    /* Two slave requests at once: with auto-EOI the slave keeps INT up
     * across the first INTA; the second must not be lost. */
    i8259_set_irq(t.pic, 9, 1);
    i8259_set_irq(t.pic, 11, 1);
    g_assert_cmpint(i8259_acknowledge(t.pic), ==, SLAVE_BASE + 1);
    g_assert_true(i8259_has_interrupt(t.pic));
    g_assert_cmpint(i8259_acknowledge(t.pic), ==, SLAVE_BASE + 3);
    g_assert_false(i8259_has_interrupt(t.pic));
    pic_test_cleanup(&t);
}

static void test_edge_vs_level(void)
{
    PicTest t;

    pic_test_init(&t);
    pic_program(&t, false);

    /* Edge: a line held high interrupts once. */
    i8259_set_irq(t.pic, 5, 1);
    g_assert_cmpint(i8259_acknowledge(t.pic), ==, MASTER_BASE + 5);
    fixture_outb(t.m, MASTER_CMD, EOI);
    g_assert_false(i8259_has_interrupt(t.pic));
    i8259_set_irq(t.pic, 5, 0);
    g_assert_false(i8259_has_interrupt(t.pic));
    i8259_set_irq(t.pic, 5, 1);
    g_assert_true(i8259_has_interrupt(t.pic));
    g_assert_cmpint(i8259_acknowledge(t.pic), ==, MASTER_BASE + 5);
    fixture_outb(t.m, MASTER_CMD, EOI);
    i8259_set_irq(t.pic, 5, 0);

    /* ELCR: IRQ 0-2 and 8, 13 cannot be level-triggered. */
    fixture_outb(t.m, ELCR_MASTER, 0xff);
    fixture_outb(t.m, ELCR_SLAVE, 0xff);
    g_assert_cmpuint(fixture_inb(t.m, ELCR_MASTER), ==, 0xf8);
    g_assert_cmpuint(fixture_inb(t.m, ELCR_SLAVE), ==, 0xde);
    fixture_outb(t.m, ELCR_MASTER, 0x00);
    fixture_outb(t.m, ELCR_SLAVE, 0x04);      /* IRQ 10 level */

    /* Level: the request stays while the line is high, even after EOI. */
    i8259_set_irq(t.pic, 10, 1);
    g_assert_cmpint(i8259_acknowledge(t.pic), ==, SLAVE_BASE + 2);
    g_assert_cmpuint(read_irr(&t, SLAVE_CMD), ==, 0x04);
    fixture_outb(t.m, SLAVE_CMD, EOI);
    fixture_outb(t.m, MASTER_CMD, EOI);
    g_assert_true(i8259_has_interrupt(t.pic));
    g_assert_cmpint(i8259_acknowledge(t.pic), ==, SLAVE_BASE + 2);
    i8259_set_irq(t.pic, 10, 0);
    fixture_outb(t.m, SLAVE_CMD, EOI);
    fixture_outb(t.m, MASTER_CMD, EOI);
    g_assert_false(i8259_has_interrupt(t.pic));
    g_assert_cmpuint(read_irr(&t, SLAVE_CMD), ==, 0x00);

    /* Switching a high line to level mode makes it request. */
    i8259_set_irq(t.pic, 6, 1);
    g_assert_cmpint(i8259_acknowledge(t.pic), ==, MASTER_BASE + 6);
    fixture_outb(t.m, MASTER_CMD, EOI);
    g_assert_false(i8259_has_interrupt(t.pic));
    fixture_outb(t.m, ELCR_MASTER, 0x40);
    g_assert_true(i8259_has_interrupt(t.pic));

    /* ICW1 LTIM makes every input level-triggered. */
    fixture_outb(t.m, ELCR_MASTER, 0x00);
    i8259_set_irq(t.pic, 6, 0);
    fixture_outb(t.m, MASTER_CMD, 0x19);
    fixture_outb(t.m, MASTER_DATA, MASTER_BASE);
    fixture_outb(t.m, MASTER_DATA, 0x04);
    fixture_outb(t.m, MASTER_DATA, 0x01);
    fixture_outb(t.m, MASTER_DATA, 0x00);
    i8259_set_irq(t.pic, 4, 1);
    g_assert_cmpint(i8259_acknowledge(t.pic), ==, MASTER_BASE + 4);
    fixture_outb(t.m, MASTER_CMD, EOI);
    g_assert_true(i8259_has_interrupt(t.pic));
    pic_test_cleanup(&t);
}

static void test_spurious(void)
{
    PicTest t;

    pic_test_init(&t);
    pic_program(&t, false);
    fixture_outb(t.m, ELCR_MASTER, 0x20);     /* IRQ 5 level */
    fixture_outb(t.m, ELCR_SLAVE, 0x02);      /* IRQ 9 level */

    /* A level request that goes away before INTA: IR7, nothing in
     * service, and no EOI needed. */
    i8259_set_irq(t.pic, 5, 1);
    g_assert_true(i8259_has_interrupt(t.pic));
    i8259_set_irq(t.pic, 5, 0);
    g_assert_false(i8259_has_interrupt(t.pic));
    g_assert_cmpint(i8259_acknowledge(t.pic), ==, MASTER_BASE + 7);
    g_assert_cmpuint(read_isr(&t, MASTER_CMD), ==, 0x00);

    /* An edge request masked between INTR and INTA. */
    pulse(&t, 4);
    fixture_outb(t.m, MASTER_DATA, 0x10);
    g_assert_cmpint(i8259_acknowledge(t.pic), ==, MASTER_BASE + 7);
    g_assert_cmpuint(read_isr(&t, MASTER_CMD), ==, 0x00);
    fixture_outb(t.m, MASTER_DATA, 0x00);
    g_assert_cmpint(i8259_acknowledge(t.pic), ==, MASTER_BASE + 4);
    fixture_outb(t.m, MASTER_CMD, EOI);

    /* Slave: the master latched the cascade edge, the slave's level
     * request went away: IRQ 15 from the slave, the master's IR2 is in
     * service and needs its EOI. */
    i8259_set_irq(t.pic, 9, 1);
    i8259_set_irq(t.pic, 9, 0);
    g_assert_true(i8259_has_interrupt(t.pic));
    g_assert_cmpint(i8259_acknowledge(t.pic), ==, SLAVE_BASE + 7);
    g_assert_cmpuint(read_isr(&t, SLAVE_CMD), ==, 0x00);
    g_assert_cmpuint(read_isr(&t, MASTER_CMD), ==, 0x04);
    fixture_outb(t.m, MASTER_CMD, EOI);
    g_assert_false(i8259_has_interrupt(t.pic));
    pic_test_cleanup(&t);
}

static void test_poll(void)
{
    PicTest t;

    pic_test_init(&t);
    pic_program(&t, false);
    fixture_outb(t.m, MASTER_CMD, OCW3_POLL);
    g_assert_cmpuint(fixture_inb(t.m, MASTER_CMD), ==, 0x00);

    pulse(&t, 6);
    pulse(&t, 3);
    fixture_outb(t.m, MASTER_CMD, OCW3_POLL);
    g_assert_cmpuint(fixture_inb(t.m, MASTER_CMD), ==, 0x80 | 3);
    /* The poll acknowledged 3, and it is a one-shot: the next read is a
     * normal register read again (IRR still has 6). */
    g_assert_cmpuint(fixture_inb(t.m, MASTER_CMD), ==, 0x40);
    g_assert_cmpuint(read_isr(&t, MASTER_CMD), ==, 0x08);
    fixture_outb(t.m, MASTER_CMD, EOI);

    /* Polling the slave after the master reports the cascade. */
    pulse(&t, 13);
    fixture_outb(t.m, MASTER_CMD, OCW3_POLL);
    g_assert_cmpuint(fixture_inb(t.m, MASTER_CMD), ==, 0x80 | 2);
    fixture_outb(t.m, SLAVE_CMD, OCW3_POLL);
    g_assert_cmpuint(fixture_inb(t.m, SLAVE_CMD), ==, 0x80 | 5);
    g_assert_cmpuint(read_isr(&t, SLAVE_CMD), ==, 0x20);
    pic_test_cleanup(&t);
}

static void test_special_mask(void)
{
    PicTest t;

    pic_test_init(&t);
    pic_program(&t, false);
    pulse(&t, 3);
    g_assert_cmpint(i8259_acknowledge(t.pic), ==, MASTER_BASE + 3);
    pulse(&t, 5);
    g_assert_false(i8259_has_interrupt(t.pic));

    /* Special mask mode with 3 masked lets lower levels in. */
    fixture_outb(t.m, MASTER_CMD, 0x68);
    fixture_outb(t.m, MASTER_DATA, 0x08);
    g_assert_true(i8259_has_interrupt(t.pic));
    g_assert_cmpint(i8259_acknowledge(t.pic), ==, MASTER_BASE + 5);
    fixture_outb(t.m, MASTER_CMD, 0x60 | 5);

    /* Leaving special mask mode: 3 blocks again. */
    fixture_outb(t.m, MASTER_CMD, 0x48);
    fixture_outb(t.m, MASTER_DATA, 0x00);
    pulse(&t, 6);
    g_assert_false(i8259_has_interrupt(t.pic));
    fixture_outb(t.m, MASTER_CMD, 0x60 | 3);
    g_assert_cmpint(i8259_acknowledge(t.pic), ==, MASTER_BASE + 6);
    pic_test_cleanup(&t);
}

static void test_int_out_and_reset(void)
{
    PicTest t;

    pic_test_init(&t);
    pic_program(&t, false);
    /* The gsi handler is how a board routes its ISA lines here. */
    i8259_gsi_handler(t.pic, 7, 1);
    g_assert_cmpint(t.intr, ==, 1);
    g_assert_cmpuint(t.intr_raises, ==, 1);
    /* Out-of-range and cascade numbers are ignored. */
    i8259_gsi_handler(t.pic, 2, 1);
    i8259_gsi_handler(t.pic, 16, 1);
    i8259_gsi_handler(t.pic, -1, 1);
    g_assert_cmpuint(read_irr(&t, MASTER_CMD), ==, 0x80);

    /* Reconnecting reports the current level at once. */
    t.intr = 0;
    i8259_connect_int_out(t.pic, (IrqLine){ cpu_intr, &t, 0 });
    g_assert_cmpint(t.intr, ==, 1);

    device_reset_all(t.m);
    g_assert_cmpint(t.intr, ==, 0);
    g_assert_cmpuint(fixture_inb(t.m, MASTER_DATA), ==, 0xff);
    g_assert_cmpuint(fixture_inb(t.m, ELCR_MASTER), ==, 0x00);
    g_assert_null(i8259_from_device(NULL));
    pic_test_cleanup(&t);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/pic/power-on-masked", test_power_on_masked);
    g_test_add_func("/pic/init-and-ack", test_init_and_ack);
    g_test_add_func("/pic/init-short", test_init_without_icw3_icw4);
    g_test_add_func("/pic/masking", test_masking);
    g_test_add_func("/pic/priority-nesting", test_priority_nesting);
    g_test_add_func("/pic/specific-eoi", test_specific_eoi);
    g_test_add_func("/pic/rotation", test_rotation);
    g_test_add_func("/pic/auto-eoi", test_auto_eoi);
    g_test_add_func("/pic/cascade", test_cascade);
    g_test_add_func("/pic/cascade-auto-eoi", test_cascade_auto_eoi);
    g_test_add_func("/pic/edge-vs-level", test_edge_vs_level);
    g_test_add_func("/pic/spurious", test_spurious);
    g_test_add_func("/pic/poll", test_poll);
    g_test_add_func("/pic/special-mask", test_special_mask);
    g_test_add_func("/pic/int-out-and-reset", test_int_out_and_reset);
    return g_test_run();
}
