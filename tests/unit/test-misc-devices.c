/*
 * The small board devices through their ports, as a guest sees them: the
 * i8042 keyboard controller, isa-debug-exit, port 0x80 and the PCI host
 * bridge's configuration mechanism #1.
 */
#include <string.h>
#include <glib.h>
#include "fixture.h"
#include "lemu/hw/input/i8042.h"
#include "lemu/hw/pci/pci-host.h"
#include "lemu/hw/pci/pci.h"
#include "lemu/util/log.h"
#include "lemu/hw/qdev.h"

/* Strong references, so that the classes are linked in (and registered)
 * even while the registry refers to the device classes weakly. */
extern const DeviceClass i8042_class;
extern const DeviceClass isa_debug_exit_class;
extern const DeviceClass port80_class;
extern const DeviceClass i440fx_pcihost_class;

#define KBD_IRQ 1
#define AUX_IRQ 12

#define STR_OBF  0x01
#define STR_SYS  0x04
#define STR_A2   0x08
#define STR_AUXB 0x20

static Device *create(Machine *m, const DeviceClass *cls,
                      const char *const *props)
{
    GError *err = NULL;
    Device *dev;

    g_assert_true(device_class_find(cls->name) == cls);
    dev = device_new(m, cls->name, &err);
    g_assert_no_error(err);
    for (; props && props[0]; props += 2) {
        g_assert_true(device_set_prop(dev, props[0], props[1], &err));
        g_assert_no_error(err);
    }
    g_assert_true(device_realize(dev, &err));
    g_assert_no_error(err);
    return dev;
}

static uint32_t in(Machine *m, uint16_t port, unsigned size)
{
    uint32_t v;

    ioport_read(m->io, port, size, &v);
    return v;
}

static void out(Machine *m, uint16_t port, unsigned size, uint32_t v)
{
    ioport_write(m->io, port, size, v);
}

/* ---- i8042 ---- */

static uint8_t kbd_status(Machine *m)
{
    return (uint8_t)fixture_inb(m, 0x64);
}

/* Reads one byte the controller has ready; fails if there is none. */
static uint8_t kbd_read(Machine *m)
{
    g_assert_cmphex(kbd_status(m) & STR_OBF, ==, STR_OBF);
    return (uint8_t)fixture_inb(m, 0x60);
}

static void kbd_expect(Machine *m, const uint8_t *bytes, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        g_assert_cmphex(kbd_read(m), ==, bytes[i]);
    }
    g_assert_cmphex(kbd_status(m) & STR_OBF, ==, 0);
}

#define KBD_EXPECT(m, ...) \
    kbd_expect((m), (const uint8_t[]){ __VA_ARGS__ }, \
               sizeof((const uint8_t[]){ __VA_ARGS__ }))

static void test_i8042_self_test(void)
{
    Machine *m = fixture_machine_new();

    create(m, &i8042_class, NULL);
    /* Reset as a BIOS leaves it: system flag set, nothing to read. */
    g_assert_cmphex(kbd_status(m) & (STR_OBF | STR_SYS), ==, STR_SYS);

    fixture_outb(m, 0x64, 0xaa);
    g_assert_cmphex(kbd_status(m) & (STR_A2 | STR_SYS), ==, STR_A2 | STR_SYS);
    KBD_EXPECT(m, 0x55);
    fixture_outb(m, 0x64, 0xab);            /* keyboard interface test */
    KBD_EXPECT(m, 0x00);
    fixture_outb(m, 0x64, 0xa9);            /* aux interface test */
    KBD_EXPECT(m, 0x00);
    /* An empty buffer reads the last byte again. */
    g_assert_cmphex(fixture_inb(m, 0x60), ==, 0x00);
    fixture_machine_free(m);
}

static void test_i8042_command_byte(void)
{
    Machine *m = fixture_machine_new();

    create(m, &i8042_class, NULL);
    fixture_outb(m, 0x64, 0x20);
    g_assert_cmpint(fixture_irq_level(m, KBD_IRQ), ==, 1);
    g_assert_cmphex(kbd_read(m) & 0x07, ==, 0x07);  /* both IRQs, SYS */
    g_assert_cmpint(fixture_irq_level(m, KBD_IRQ), ==, 0);

    /* Data write after 0x60 goes to the command byte; A2 tracks it. */
    fixture_outb(m, 0x64, 0x60);
    fixture_outb(m, 0x60, 0x44);            /* no interrupts, SYS, XLATE */
    g_assert_cmphex(kbd_status(m) & STR_A2, ==, 0);
    fixture_irq_clear(m);
    fixture_outb(m, 0x64, 0x20);
    g_assert_cmpint(fixture_irq_level(m, KBD_IRQ), ==, 0);
    KBD_EXPECT(m, 0x44);
    g_assert_cmpuint(fixture_irq_raises(m, KBD_IRQ), ==, 0);

    /* 0xAD/0xAE and 0xA7/0xA8 are the disable bits 4 and 5. */
    fixture_outb(m, 0x64, 0xad);
    fixture_outb(m, 0x64, 0xa7);
    fixture_outb(m, 0x64, 0x20);
    KBD_EXPECT(m, 0x74);
    fixture_outb(m, 0x64, 0xae);
    fixture_outb(m, 0x64, 0xa8);
    fixture_outb(m, 0x64, 0x20);
    KBD_EXPECT(m, 0x44);

    /* Clearing SYS in the command byte clears the status flag. */
    fixture_outb(m, 0x64, 0x60);
    fixture_outb(m, 0x60, 0x01);
    g_assert_cmphex(kbd_status(m) & STR_SYS, ==, 0);
    fixture_machine_free(m);
}

static void test_i8042_reset_line(void)
{
    Machine *m = fixture_machine_new();

    create(m, &i8042_class, NULL);
    /* 0xFF pulses no line; 0xFD pulses line 1 (A20), not reset. */
    fixture_outb(m, 0x64, 0xff);
    fixture_outb(m, 0x64, 0xfd);
    g_assert_cmpint(m->reset_request, ==, SHUTDOWN_CAUSE_NONE);

    fixture_outb(m, 0x64, 0xfe);
    g_assert_cmpint(m->reset_request, ==, SHUTDOWN_CAUSE_GUEST_RESET);

    m->reset_request = SHUTDOWN_CAUSE_NONE;
    fixture_outb(m, 0x64, 0xf0);            /* all four lines */
    g_assert_cmpint(m->reset_request, ==, SHUTDOWN_CAUSE_GUEST_RESET);
    fixture_machine_free(m);
}

static void test_i8042_output_port(void)
{
    Machine *m = fixture_machine_new();

    create(m, &i8042_class, NULL);
    fixture_outb(m, 0x64, 0xd0);
    /* Not in reset, A20 on. */
    g_assert_cmphex(kbd_read(m) & 0x03, ==, 0x03);

    /* A20 off through the output port, then on with 0xDF. */
    fixture_outb(m, 0x64, 0xd1);
    fixture_outb(m, 0x60, 0xdd);
    g_assert_cmpint(m->reset_request, ==, SHUTDOWN_CAUSE_NONE);
    fixture_outb(m, 0x64, 0xd0);
    g_assert_cmphex(kbd_read(m) & 0x03, ==, 0x01);
    fixture_outb(m, 0x64, 0xdf);
    fixture_outb(m, 0x64, 0xd0);
    g_assert_cmphex(kbd_read(m) & 0x03, ==, 0x03);

    /* Bit 0 written as 0 resets the machine. */
    fixture_outb(m, 0x64, 0xd1);
    fixture_outb(m, 0x60, 0xde);
    g_assert_cmpint(m->reset_request, ==, SHUTDOWN_CAUSE_GUEST_RESET);
    fixture_machine_free(m);
}

static void test_i8042_keyboard_reset(void)
{
    Machine *m = fixture_machine_new();

    create(m, &i8042_class, NULL);
    fixture_irq_clear(m);
    fixture_outb(m, 0x60, 0xff);
    g_assert_cmpint(fixture_irq_level(m, KBD_IRQ), ==, 1);
    g_assert_cmphex(kbd_read(m), ==, 0xfa);
    /* The second byte comes with an interrupt of its own. */
    g_assert_cmpint(fixture_irq_level(m, KBD_IRQ), ==, 1);
    g_assert_cmphex(kbd_read(m), ==, 0xaa);
    g_assert_cmphex(kbd_status(m) & STR_OBF, ==, 0);
    g_assert_cmpint(fixture_irq_level(m, KBD_IRQ), ==, 0);
    g_assert_cmpuint(fixture_irq_raises(m, KBD_IRQ), ==, 2);
    g_assert_cmpuint(fixture_irq_raises(m, AUX_IRQ), ==, 0);
    fixture_machine_free(m);
}

static void test_i8042_keyboard_commands(void)
{
    Machine *m = fixture_machine_new();

    create(m, &i8042_class, NULL);
    fixture_outb(m, 0x60, 0xf2);            /* identify */
    KBD_EXPECT(m, 0xfa, 0xab, 0x83);
    fixture_outb(m, 0x60, 0xee);            /* echo */
    KBD_EXPECT(m, 0xee);
    fixture_outb(m, 0x60, 0xed);            /* LEDs, two bytes */
    KBD_EXPECT(m, 0xfa);
    fixture_outb(m, 0x60, 0x07);
    KBD_EXPECT(m, 0xfa);
    fixture_outb(m, 0x60, 0xf0);            /* scan code set: query */
    fixture_outb(m, 0x60, 0x00);
    KBD_EXPECT(m, 0xfa, 0xfa, 0x02);
    fixture_outb(m, 0x60, 0xf0);
    fixture_outb(m, 0x60, 0x03);
    fixture_outb(m, 0x60, 0xf0);
    fixture_outb(m, 0x60, 0x00);
    KBD_EXPECT(m, 0xfa, 0xfa, 0xfa, 0xfa, 0x03);
    fixture_outb(m, 0x60, 0xf0);
    fixture_outb(m, 0x60, 0x09);            /* no such set */
    KBD_EXPECT(m, 0xfa, 0xfe);
    fixture_outb(m, 0x60, 0xf4);
    fixture_outb(m, 0x60, 0xf5);
    KBD_EXPECT(m, 0xfa, 0xfa);
    fixture_outb(m, 0x60, 0x01);            /* unknown */
    KBD_EXPECT(m, 0xfe);

    /* With translation on, the ID's second byte is the translated one. */
    fixture_outb(m, 0x64, 0x60);
    fixture_outb(m, 0x60, 0x47);
    fixture_outb(m, 0x60, 0xf2);
    KBD_EXPECT(m, 0xfa, 0xab, 0x41);
    fixture_machine_free(m);
}

static void test_i8042_scancodes(void)
{
    Machine *m = fixture_machine_new();
    Device *kbd = create(m, &i8042_class, NULL);

    i8042_keyboard_put_scancode(kbd, 0x1c);
    i8042_keyboard_put_scancode(kbd, 0x9c);
    g_assert_cmpint(fixture_irq_level(m, KBD_IRQ), ==, 1);
    KBD_EXPECT(m, 0x1c, 0x9c);

    /* Held in the keyboard while its interface is disabled; controller
     * replies still get through. */
    fixture_outb(m, 0x64, 0xad);
    i8042_keyboard_put_scancode(kbd, 0x1e);
    g_assert_cmphex(kbd_status(m) & STR_OBF, ==, 0);
    fixture_outb(m, 0x64, 0xaa);
    KBD_EXPECT(m, 0x55);
    fixture_outb(m, 0x64, 0xae);
    g_assert_cmpint(fixture_irq_level(m, KBD_IRQ), ==, 1);
    KBD_EXPECT(m, 0x1e);

    /* Dropped while scanning is disabled. */
    fixture_outb(m, 0x60, 0xf5);
    KBD_EXPECT(m, 0xfa);
    i8042_keyboard_put_scancode(kbd, 0x1f);
    g_assert_cmphex(kbd_status(m) & STR_OBF, ==, 0);

    /* A flood fills the output buffer and the keyboard's 16 bytes. */
    fixture_outb(m, 0x60, 0xf4);
    KBD_EXPECT(m, 0xfa);
    for (int i = 0; i < 100; i++) {
        i8042_keyboard_put_scancode(kbd, (uint8_t)i);
    }
    for (int i = 0; i < 17; i++) {
        g_assert_cmphex(kbd_read(m), ==, i);
    }
    g_assert_cmphex(kbd_status(m) & STR_OBF, ==, 0);
    fixture_machine_free(m);
}

static void test_i8042_aux(void)
{
    Machine *m = fixture_machine_new();

    create(m, &i8042_class, NULL);
    /* Loopback through the aux output buffer, even with aux disabled. */
    fixture_outb(m, 0x64, 0xa7);
    fixture_irq_clear(m);
    fixture_outb(m, 0x64, 0xd3);
    fixture_outb(m, 0x60, 0x5a);
    g_assert_cmphex(kbd_status(m) & (STR_OBF | STR_AUXB), ==,
                    STR_OBF | STR_AUXB);
    g_assert_cmpint(fixture_irq_level(m, AUX_IRQ), ==, 1);
    g_assert_cmpint(fixture_irq_level(m, KBD_IRQ), ==, 0);
    KBD_EXPECT(m, 0x5a);
    g_assert_cmpint(fixture_irq_level(m, AUX_IRQ), ==, 0);

    /* 0xD2 is the same as if from the keyboard. */
    fixture_outb(m, 0x64, 0xd2);
    fixture_outb(m, 0x60, 0x33);
    g_assert_cmphex(kbd_status(m) & STR_AUXB, ==, 0);
    KBD_EXPECT(m, 0x33);

    /* No mouse is plugged in: a byte sent to it is refused. */
    fixture_outb(m, 0x64, 0xa8);
    fixture_outb(m, 0x64, 0xd4);
    fixture_outb(m, 0x60, 0xff);
    g_assert_cmphex(kbd_status(m) & STR_AUXB, ==, STR_AUXB);
    KBD_EXPECT(m, 0xfe);
    fixture_machine_free(m);
}

static void test_i8042_device_reset(void)
{
    Machine *m = fixture_machine_new();

    create(m, &i8042_class, NULL);
    fixture_outb(m, 0x64, 0x60);
    fixture_outb(m, 0x60, 0x00);
    fixture_outb(m, 0x60, 0xff);
    g_assert_cmphex(kbd_status(m) & STR_OBF, ==, STR_OBF);
    device_reset_all(m);
    g_assert_cmphex(kbd_status(m) & (STR_OBF | STR_SYS), ==, STR_SYS);
    fixture_outb(m, 0x64, 0x20);
    g_assert_cmphex(kbd_read(m), ==, 0x07);
    fixture_machine_free(m);
}

/* ---- isa-debug-exit ---- */

static void test_debug_exit_default(void)
{
    Machine *m = fixture_machine_new();

    create(m, &isa_debug_exit_class, NULL);
    g_assert_cmpuint(in(m, 0x501, 1), ==, 0);
    g_assert_cmpint(m->exit_request, ==, 0);

    out(m, 0x501, 1, 0x05);
    g_assert_cmpint(m->exit_request, ==, 1);
    g_assert_cmpint(m->exit_request_code, ==, 11);

    /* The value is taken at the width written. */
    m->exit_request = 0;
    out(m, 0x501, 2, 0x1234);
    g_assert_cmpint(m->exit_request, ==, 1);
    g_assert_cmpint(m->exit_request_code, ==, (0x1234 << 1) | 1);

    m->exit_request = 0;
    out(m, 0x502, 1, 0);                    /* second port, exit 1 */
    g_assert_cmpint(m->exit_request, ==, 1);
    g_assert_cmpint(m->exit_request_code, ==, 1);

    m->exit_request = 0;
    out(m, 0x503, 1, 0);                    /* past iosize: nothing */
    g_assert_cmpint(m->exit_request, ==, 0);
    fixture_machine_free(m);
}

static void test_debug_exit_custom_iobase(void)
{
    Machine *m = fixture_machine_new();

    create(m, &isa_debug_exit_class,
           (const char *const[]){ "iobase", "0xf4", "iosize", "0x04", NULL });
    out(m, 0x501, 1, 1);
    g_assert_cmpint(m->exit_request, ==, 0);
    out(m, 0xf4, 4, 0x10);
    g_assert_cmpint(m->exit_request, ==, 1);
    g_assert_cmpint(m->exit_request_code, ==, 0x21);
    fixture_machine_free(m);
}

static void test_debug_exit_bad_range(void)
{
    static const char *const bad[][2] = {
        { "0xffff", "2" },          /* runs past 0xffff */
        { "0x10000", "1" },
        { "0x501", "0" },
    };
    Machine *m = fixture_machine_new();

    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        GError *err = NULL;
        Device *dev = device_new(m, "isa-debug-exit", &err);

        g_assert_no_error(err);
        g_assert_true(device_set_prop(dev, "iobase", bad[i][0], &err));
        g_assert_true(device_set_prop(dev, "iosize", bad[i][1], &err));
        g_assert_false(device_realize(dev, &err));
        g_assert_error(err, LEMU_ERROR, LEMU_ERROR_INVALID);
        g_assert_nonnull(strstr(err->message, "isa-debug-exit"));
        g_clear_error(&err);
    }
    /* The last port alone is fine. */
    create(m, &isa_debug_exit_class,
           (const char *const[]){ "iobase", "0xffff", "iosize", "1", NULL });
    out(m, 0xffff, 1, 3);
    g_assert_cmpint(m->exit_request_code, ==, 7);
    fixture_machine_free(m);
}

/* ---- port 0x80 ---- */

static void test_port80(void)
{
    Machine *m = fixture_machine_new();
    uint32_t v;

    g_assert_false(ioport_read(m->io, 0x80, 1, &v));
    create(m, &port80_class, NULL);
    g_assert_true(ioport_write(m->io, 0x80, 1, 0x42));
    g_assert_true(ioport_read(m->io, 0x80, 1, &v));
    g_assert_cmphex(v, ==, 0xff);
    /* Nothing else is claimed. */
    g_assert_false(ioport_read(m->io, 0x81, 1, &v));
    fixture_machine_free(m);
}

/* ---- PCI host bridge ---- */

static uint32_t pci_cfg_read(Machine *m, unsigned devfn, unsigned addr,
                             unsigned size)
{
    out(m, 0xcf8, 4, 0x80000000u | (devfn << 8) | (addr & 0xfc));
    return in(m, 0xcfc + (addr & 3), size);
}

static void pci_cfg_write(Machine *m, unsigned devfn, unsigned addr,
                          unsigned size, uint32_t v)
{
    out(m, 0xcf8, 4, 0x80000000u | (devfn << 8) | (addr & 0xfc));
    out(m, 0xcfc + (addr & 3), size, v);
}

static void test_pci_host_ids(void)
{
    Machine *m = fixture_machine_new();

    create(m, &i440fx_pcihost_class, NULL);
    g_assert_cmphex(pci_cfg_read(m, 0, 0x00, 4), ==, 0x12378086);
    g_assert_cmphex(pci_cfg_read(m, 0, 0x00, 2), ==, 0x8086);
    g_assert_cmphex(pci_cfg_read(m, 0, 0x02, 2), ==, 0x1237);
    g_assert_cmphex(pci_cfg_read(m, 0, 0x00, 1), ==, 0x86);
    g_assert_cmphex(pci_cfg_read(m, 0, 0x01, 1), ==, 0x80);
    g_assert_cmphex(pci_cfg_read(m, 0, 0x02, 1), ==, 0x37);
    g_assert_cmphex(pci_cfg_read(m, 0, 0x03, 1), ==, 0x12);
    /* Revision 2, class host bridge, header type 0. */
    g_assert_cmphex(pci_cfg_read(m, 0, 0x08, 4), ==, 0x06000002);
    g_assert_cmphex(pci_cfg_read(m, 0, 0x0e, 1), ==, 0x00);
    g_assert_cmphex(pci_cfg_read(m, 0, 0x04, 2), ==, 0x0006);
    g_assert_cmphex(pci_cfg_read(m, 0, 0x06, 2), ==, 0x0280);
    fixture_machine_free(m);
}

static void test_pci_host_absent(void)
{
    Machine *m = fixture_machine_new();

    create(m, &i440fx_pcihost_class, NULL);
    g_assert_cmphex(pci_cfg_read(m, PCI_DEVFN(1, 0), 0, 4), ==, 0xffffffff);
    g_assert_cmphex(pci_cfg_read(m, PCI_DEVFN(31, 7), 0, 2), ==, 0xffff);
    g_assert_cmphex(pci_cfg_read(m, PCI_DEVFN(0, 1), 0, 1), ==, 0xff);
    /* Bus 1 does not exist. */
    out(m, 0xcf8, 4, 0x80010000u);
    g_assert_cmphex(in(m, 0xcfc, 4), ==, 0xffffffff);
    /* Without the enable bit, CONFIG_DATA reaches nothing. */
    out(m, 0xcf8, 4, 0x00000000u);
    g_assert_cmphex(in(m, 0xcfc, 4), ==, 0xffffffff);
    out(m, 0xcfc, 4, 0);
    g_assert_cmphex(pci_cfg_read(m, 0, 0, 4), ==, 0x12378086);
    fixture_machine_free(m);
}

static void test_pci_host_read_only_fields(void)
{
    Machine *m = fixture_machine_new();

    create(m, &i440fx_pcihost_class, NULL);
    pci_cfg_write(m, 0, 0x00, 4, 0xffffffff);
    g_assert_cmphex(pci_cfg_read(m, 0, 0x00, 4), ==, 0x12378086);
    pci_cfg_write(m, 0, 0x08, 4, 0);
    g_assert_cmphex(pci_cfg_read(m, 0, 0x08, 4), ==, 0x06000002);
    pci_cfg_write(m, 0, 0x0e, 1, 0xff);
    g_assert_cmphex(pci_cfg_read(m, 0, 0x0e, 1), ==, 0x00);

    /* Command: only parity and SERR enable change; memory and bus master
     * are hard-wired on. */
    pci_cfg_write(m, 0, 0x04, 2, 0xffff);
    g_assert_cmphex(pci_cfg_read(m, 0, 0x04, 2), ==, 0x0146);
    pci_cfg_write(m, 0, 0x04, 2, 0x0000);
    g_assert_cmphex(pci_cfg_read(m, 0, 0x04, 2), ==, 0x0006);
    /* Status bits other than error flags cannot be set. */
    pci_cfg_write(m, 0, 0x06, 2, 0xffff);
    g_assert_cmphex(pci_cfg_read(m, 0, 0x06, 2), ==, 0x0280);
    /* Latency timer and the PAM registers keep what is written. */
    pci_cfg_write(m, 0, 0x0d, 1, 0x40);
    g_assert_cmphex(pci_cfg_read(m, 0, 0x0d, 1), ==, 0x40);
    pci_cfg_write(m, 0, 0x59, 1, 0x30);
    g_assert_cmphex(pci_cfg_read(m, 0, 0x59, 1), ==, 0x30);

    device_reset_all(m);
    g_assert_cmphex(pci_cfg_read(m, 0, 0x0d, 1), ==, 0x00);
    g_assert_cmphex(pci_cfg_read(m, 0, 0x59, 1), ==, 0x00);
    fixture_machine_free(m);
}

static void test_pci_host_config_address(void)
{
    Machine *m = fixture_machine_new();

    create(m, &i440fx_pcihost_class, NULL);
    /* The probe Linux does for mechanism #1. */
    out(m, 0xcf8, 4, 0x80000000u);
    g_assert_cmphex(in(m, 0xcf8, 4), ==, 0x80000000u);
    /* The two low bits are not part of the address. */
    out(m, 0xcf8, 4, 0x80000803u);
    g_assert_cmphex(in(m, 0xcf8, 4), ==, 0x80000800u);
    /* Narrower accesses do not touch CONFIG_ADDRESS. */
    out(m, 0xcfb, 1, 0x01);
    out(m, 0xcf8, 2, 0x0000);
    g_assert_cmphex(in(m, 0xcf8, 4), ==, 0x80000800u);
    g_assert_cmphex(in(m, 0xcf8, 1), ==, 0xff);
    fixture_machine_free(m);
}

static void test_pci_host_reset_control(void)
{
    Machine *m = fixture_machine_new();

    create(m, &i440fx_pcihost_class, NULL);
    g_assert_cmphex(in(m, 0xcf9, 1), ==, 0x00);
    out(m, 0xcf9, 1, 0x02);                 /* choose hard reset */
    g_assert_cmphex(in(m, 0xcf9, 1), ==, 0x02);
    g_assert_cmpint(m->reset_request, ==, SHUTDOWN_CAUSE_NONE);
    out(m, 0xcf9, 1, 0x06);
    g_assert_cmpint(m->reset_request, ==, SHUTDOWN_CAUSE_GUEST_RESET);
    fixture_machine_free(m);
}

static void test_pci_bus_devices(void)
{
    Machine *m = fixture_machine_new();
    PciDevice d1, d2, d3;
    GError *err = NULL;
    PciBus *bus;

    g_assert_null(pci_host_bus(m));
    create(m, &i440fx_pcihost_class, NULL);
    bus = pci_host_bus(m);
    g_assert_nonnull(bus);

    pci_config_init(&d1, "test-dev", 0x1af4, 0x1000, 0x01, 0x020000, 0);
    g_assert_true(pci_bus_attach(bus, &d1, PCI_DEVFN(3, 0), &err));
    g_assert_no_error(err);
    g_assert_cmphex(pci_cfg_read(m, PCI_DEVFN(3, 0), 0, 4), ==, 0x10001af4);
    g_assert_cmphex(pci_cfg_read(m, PCI_DEVFN(3, 0), 0x0a, 2), ==, 0x0200);

    /* Interrupt line is writable by default, interrupt pin is not. */
    pci_cfg_write(m, PCI_DEVFN(3, 0), 0x3c, 2, 0xffff);
    g_assert_cmphex(pci_cfg_read(m, PCI_DEVFN(3, 0), 0x3c, 2), ==, 0x00ff);
    /* A status error bit is cleared by writing 1. */
    pci_set_word(d1.config + PCI_STATUS, 0x8000 | PCI_STATUS_CAP_LIST);
    pci_cfg_write(m, PCI_DEVFN(3, 0), 0x06, 2, 0x8000);
    g_assert_cmphex(pci_cfg_read(m, PCI_DEVFN(3, 0), 0x06, 2), ==,
                    PCI_STATUS_CAP_LIST);

    /* A taken slot is refused, naming the device there. */
    pci_config_init(&d2, "other-dev", 0x1234, 0x1111, 0, 0x030000, 0);
    g_assert_false(pci_bus_attach(bus, &d2, PCI_DEVFN(3, 0), &err));
    g_assert_error(err, LEMU_ERROR, LEMU_ERROR_INVALID);
    g_assert_nonnull(strstr(err->message, "test-dev"));
    g_clear_error(&err);
    g_assert_false(pci_bus_attach(bus, &d2, PCI_DEVFN_MAX, &err));
    g_clear_error(&err);

    /* Automatic placement takes the first free slot: 1. */
    g_assert_true(pci_bus_attach(bus, &d2, -1, &err));
    g_assert_cmpuint(d2.devfn, ==, PCI_DEVFN(1, 0));
    g_assert_cmphex(pci_cfg_read(m, PCI_DEVFN(1, 0), 2, 2), ==, 0x1111);

    /* Accesses outside the 256 bytes read all ones. */
    g_assert_cmphex(pci_bus_config_read(bus, PCI_DEVFN(1, 0), 0xfe, 4), ==,
                    0xffffffff);
    g_assert_cmphex(pci_bus_config_read(bus, PCI_DEVFN(1, 0), 0x100, 1), ==,
                    0xff);
    pci_bus_config_write(bus, PCI_DEVFN(1, 0), 0xfd, 0, 4);

    pci_bus_detach(&d1);
    g_assert_cmphex(pci_cfg_read(m, PCI_DEVFN(3, 0), 0, 4), ==, 0xffffffff);
    pci_config_init(&d3, "third", 0x1234, 0x2222, 0, 0, 0);
    g_assert_true(pci_bus_attach(bus, &d3, PCI_DEVFN(3, 0), &err));
    pci_bus_detach(&d2);
    pci_bus_detach(&d3);
    fixture_machine_free(m);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/i8042/self-test", test_i8042_self_test);
    g_test_add_func("/i8042/command-byte", test_i8042_command_byte);
    g_test_add_func("/i8042/reset-line", test_i8042_reset_line);
    g_test_add_func("/i8042/output-port", test_i8042_output_port);
    g_test_add_func("/i8042/keyboard-reset", test_i8042_keyboard_reset);
    g_test_add_func("/i8042/keyboard-commands", test_i8042_keyboard_commands);
    g_test_add_func("/i8042/scancodes", test_i8042_scancodes);
    g_test_add_func("/i8042/aux", test_i8042_aux);
    g_test_add_func("/i8042/device-reset", test_i8042_device_reset);
    g_test_add_func("/debug-exit/default", test_debug_exit_default);
    g_test_add_func("/debug-exit/custom-iobase",
                    test_debug_exit_custom_iobase);
    g_test_add_func("/debug-exit/bad-range", test_debug_exit_bad_range);
    g_test_add_func("/port80/basic", test_port80);
    g_test_add_func("/pci-host/ids", test_pci_host_ids);
    g_test_add_func("/pci-host/absent", test_pci_host_absent);
    g_test_add_func("/pci-host/read-only-fields",
                    test_pci_host_read_only_fields);
    g_test_add_func("/pci-host/config-address", test_pci_host_config_address);
    g_test_add_func("/pci-host/reset-control", test_pci_host_reset_control);
    g_test_add_func("/pci-bus/devices", test_pci_bus_devices);
    return g_test_run();
}
