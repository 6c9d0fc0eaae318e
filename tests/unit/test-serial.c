/*
 * The 16550A UART as a guest driver sees it through its ports and IRQ 4,
 * with a unix socket chardev whose client plays the host side.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fixture.h"
#include "lemu/chardev/chardev.h"
#include "lemu/hw/qdev.h"
#include "lemu/util/log.h"

/* Declared here without hw/device-classes.h: a strong reference, so the
 * static library's serial.o is linked even while the registry's own
 * references are weak. */
extern const DeviceClass serial_isa_class;

#define COM1 0x3f8
#define RBR 0
#define THR 0
#define DLL 0
#define IER 1
#define DLM 1
#define IIR 2
#define FCR 2
#define LCR 3
#define MCR 4
#define LSR 5
#define MSR 6
#define SCR 7

#define LSR_DR   0x01
#define LSR_OE   0x02
#define LSR_THRE 0x20
#define LSR_TEMT 0x40

typedef struct SerialTest {
    Machine *m;
    char *dir;
    char *path;
    Chardev *chr;
    Device *dev;
    int client;
} SerialTest;

static uint8_t rd(SerialTest *t, unsigned reg)
{
    return fixture_inb(t->m, COM1 + reg);
}

static void wr(SerialTest *t, unsigned reg, uint8_t val)
{
    fixture_outb(t->m, COM1 + reg, val);
}

static int irq4(SerialTest *t)
{
    return fixture_irq_level(t->m, 4);
}

static int connect_client(const char *path)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    g_assert_cmpint(fd, >=, 0);
    strcpy(addr.sun_path, path);
    g_assert_cmpint(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), ==,
                    0);
    return fd;
}

/* COM1 on a socket chardev; @connect: with a client attached. */
static void serial_test_init(SerialTest *t, bool connect)
{
    g_autofree char *spec = NULL;
    GError *err = NULL;

    memset(t, 0, sizeof(*t));
    t->m = fixture_machine_new();
    t->dir = g_dir_make_tmp("lemu-serial-XXXXXX", &err);
    g_assert_no_error(err);
    t->path = g_build_filename(t->dir, "com1.sock", NULL);
    spec = g_strdup_printf("unix:%s,server=on,wait=off", t->path);
    t->chr = chardev_new_from_spec(t->m->loop, "-serial", spec, "serial0",
                                   &err);
    g_assert_no_error(err);
    g_ptr_array_add(t->m->chardevs, t->chr);

    t->dev = device_new(t->m, "isa-serial", &err);
    g_assert_no_error(err);
    g_assert_true(device_set_prop(t->dev, "chardev", "serial0", &err));
    g_assert_true(device_realize(t->dev, &err));
    g_assert_no_error(err);

    t->client = -1;
    if (connect) {
        t->client = connect_client(t->path);
        /* Connected: CTS, DSR and DCD come up. */
        FIXTURE_RUN_UNTIL(t->m->loop, (rd(t, MSR) & 0xb0) == 0xb0);
        fixture_irq_clear(t->m);
    }
}

static void serial_test_fini(SerialTest *t)
{
    if (t->client >= 0) {
        close(t->client);
    }
    device_destroy_all(t->m);
    chardev_free(t->chr);
    fixture_machine_free(t->m);
    rmdir(t->dir);
    g_free(t->path);
    g_free(t->dir);
}

static void client_send(SerialTest *t, const void *buf, size_t len)
{
    g_assert_cmpint(send(t->client, buf, len, 0), ==, (ssize_t)len);
}

/* Receives exactly @len bytes on the client side. */
static void client_expect(SerialTest *t, const void *expected, size_t len)
{
    g_autofree uint8_t *buf = g_malloc(len + 1);
    size_t got = 0;
    gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

    while (got < len && g_get_monotonic_time() < deadline) {
        ssize_t n = recv(t->client, buf + got, len + 1 - got, MSG_DONTWAIT);
        if (n > 0) {
            got += n;
        } else {
            main_loop_iterate(t->m->loop, false);
            g_usleep(200);
        }
    }
    g_assert_cmpuint(got, ==, len);
    g_assert_cmpmem(buf, got, expected, len);
}

/* Slows the line to ~1.8 baud, so that the character timeout (four
 * character times) cannot fire during a test. */
static void set_divisor(SerialTest *t, uint16_t divisor)
{
    uint8_t lcr = rd(t, LCR);

    wr(t, LCR, lcr | 0x80);
    wr(t, DLL, divisor & 0xff);
    wr(t, DLM, divisor >> 8);
    wr(t, LCR, lcr);
}

static void test_reset_state(void)
{
    SerialTest t;

    serial_test_init(&t, false);
    g_assert_cmphex(rd(&t, LSR), ==, LSR_THRE | LSR_TEMT);
    g_assert_cmphex(rd(&t, IIR), ==, 0x01);
    g_assert_cmphex(rd(&t, IER), ==, 0x00);
    g_assert_cmphex(rd(&t, LCR), ==, 0x00);
    g_assert_cmphex(rd(&t, MCR), ==, 0x00);
    /* Nobody on the socket: no CTS, DSR, DCD. */
    g_assert_cmphex(rd(&t, MSR), ==, 0x00);
    g_assert_cmpint(irq4(&t), ==, 0);

    /* Writable bits only. */
    wr(&t, IER, 0xf0);
    g_assert_cmphex(rd(&t, IER), ==, 0x00);
    wr(&t, MCR, 0xe3);
    g_assert_cmphex(rd(&t, MCR), ==, 0x03);
    wr(&t, SCR, 0x5a);
    g_assert_cmphex(rd(&t, SCR), ==, 0x5a);
    wr(&t, LCR, 0x1b);
    g_assert_cmphex(rd(&t, LCR), ==, 0x1b);

    /* Reset brings the power-on values back. */
    wr(&t, FCR, 0x01);
    wr(&t, IER, 0x02);
    g_assert_cmpint(irq4(&t), ==, 1);
    device_reset_all(t.m);
    g_assert_cmpint(irq4(&t), ==, 0);
    g_assert_cmphex(rd(&t, IIR), ==, 0x01);
    g_assert_cmphex(rd(&t, IER), ==, 0x00);
    g_assert_cmphex(rd(&t, LCR), ==, 0x00);
    g_assert_cmphex(rd(&t, MCR), ==, 0x00);
    g_assert_cmphex(rd(&t, SCR), ==, 0x00);
    g_assert_cmphex(rd(&t, LSR), ==, LSR_THRE | LSR_TEMT);
    serial_test_fini(&t);
}

static void test_modem_status(void)
{
    SerialTest t;

    serial_test_init(&t, false);
    wr(&t, IER, 0x08);             /* EDSSI */
    g_assert_cmpint(irq4(&t), ==, 0);

    /* A client connects: CTS, DSR, DCD rise, with their deltas. */
    t.client = connect_client(t.path);
    FIXTURE_RUN_UNTIL(t.m->loop, irq4(&t) == 1);
    g_assert_cmphex(rd(&t, IIR), ==, 0x00);
    g_assert_cmphex(rd(&t, MSR), ==, 0xbb);
    g_assert_cmpint(irq4(&t), ==, 0);
    g_assert_cmphex(rd(&t, MSR), ==, 0xb0);
    g_assert_cmphex(rd(&t, IIR), ==, 0x01);

    /* It leaves: they drop again. */
    close(t.client);
    t.client = -1;
    FIXTURE_RUN_UNTIL(t.m->loop, irq4(&t) == 1);
    g_assert_cmphex(rd(&t, MSR), ==, 0x0b);
    g_assert_cmpint(irq4(&t), ==, 0);

    /* Reset: line states stay, deltas go. */
    t.client = connect_client(t.path);
    FIXTURE_RUN_UNTIL(t.m->loop, irq4(&t) == 1);
    device_reset_all(t.m);
    g_assert_cmphex(rd(&t, MSR), ==, 0xb0);
    serial_test_fini(&t);
}

static void test_transmit(void)
{
    SerialTest t;
    const char *msg = "Linux version 6.1\r\n";

    serial_test_init(&t, true);
    wr(&t, LCR, 0x03);
    for (const char *p = msg; *p; p++) {
        /* A polling driver: wait for THRE, write. */
        g_assert_true(rd(&t, LSR) & LSR_THRE);
        wr(&t, THR, *p);
    }
    g_assert_cmphex(rd(&t, LSR) & (LSR_THRE | LSR_TEMT), ==,
                    LSR_THRE | LSR_TEMT);
    client_expect(&t, msg, strlen(msg));
    /* All eight bits go out, whatever LCR says. */
    wr(&t, LCR, 0x00);
    wr(&t, THR, 0xff);
    client_expect(&t, "\xff", 1);
    serial_test_fini(&t);
}

static void test_thre_interrupt(void)
{
    SerialTest t;

    serial_test_init(&t, true);
    /* Enabling ETBEI with THR empty interrupts at once. */
    wr(&t, IER, 0x02);
    g_assert_cmpint(irq4(&t), ==, 1);
    g_assert_cmpuint(fixture_irq_raises(t.m, 4), ==, 1);
    /* Reading IIR that reports THRE acknowledges it. */
    g_assert_cmphex(rd(&t, IIR), ==, 0x02);
    g_assert_cmpint(irq4(&t), ==, 0);
    g_assert_cmphex(rd(&t, IIR), ==, 0x01);

    /* Each byte sent empties THR again: a new rising edge. */
    wr(&t, THR, 'a');
    g_assert_cmpint(irq4(&t), ==, 1);
    g_assert_cmpuint(fixture_irq_raises(t.m, 4), ==, 2);
    /* Writing THR also clears it (and the byte out raises it again). */
    wr(&t, THR, 'b');
    g_assert_cmpuint(fixture_irq_raises(t.m, 4), ==, 3);
    g_assert_cmphex(rd(&t, IIR), ==, 0x02);
    g_assert_cmpint(irq4(&t), ==, 0);
    client_expect(&t, "ab", 2);

    /* Disabling ETBEI drops it; enabling it again brings it back. */
    wr(&t, THR, 'c');
    g_assert_cmpint(irq4(&t), ==, 1);
    wr(&t, IER, 0x00);
    g_assert_cmpint(irq4(&t), ==, 0);
    g_assert_cmphex(rd(&t, IIR), ==, 0x01);
    wr(&t, IER, 0x02);
    g_assert_cmpint(irq4(&t), ==, 1);
    /* Rewriting the same IER does not re-arm an acknowledged THRE. */
    g_assert_cmphex(rd(&t, IIR), ==, 0x02);
    wr(&t, IER, 0x02);
    g_assert_cmpint(irq4(&t), ==, 0);
    /* FIFO mode shows in IIR bits 6-7. */
    wr(&t, FCR, 0x07);
    g_assert_cmphex(rd(&t, IIR), ==, 0xc2);
    g_assert_cmphex(rd(&t, IIR), ==, 0xc1);
    client_expect(&t, "c", 1);
    serial_test_fini(&t);
}

static void test_rx_trigger_levels(void)
{
    static const struct {
        uint8_t fcr;
        unsigned level;
    } levels[] = {
        { 0x01, 1 }, { 0x41, 4 }, { 0x81, 8 }, { 0xc1, 14 },
    };
    SerialTest t;
    uint8_t data[16];

    serial_test_init(&t, true);
    set_divisor(&t, 0xffff);
    wr(&t, IER, 0x01);              /* ERBFI */
    for (size_t i = 0; i < G_N_ELEMENTS(levels); i++) {
        unsigned level = levels[i].level;

        for (unsigned j = 0; j < sizeof(data); j++) {
            data[j] = 'A' + i * 16 + j;
        }
        wr(&t, FCR, levels[i].fcr | 0x06);      /* and empty the FIFOs */
        fixture_irq_clear(t.m);
        g_assert_cmpint(irq4(&t), ==, 0);

        /* One byte short of the trigger level: data, but no interrupt. */
        if (level > 1) {
            client_send(&t, data, level - 1);
            FIXTURE_RUN_UNTIL(t.m->loop, rd(&t, LSR) & LSR_DR);
            fixture_run_for(t.m->loop, 20);
            g_assert_cmpint(irq4(&t), ==, 0);
            g_assert_cmphex(rd(&t, IIR), ==, 0xc1);
        }
        /* At the level: IRQ 4, "received data available". */
        client_send(&t, data + level - 1, 1);
        FIXTURE_RUN_UNTIL(t.m->loop, irq4(&t) == 1);
        g_assert_cmphex(rd(&t, IIR), ==, 0xc4);
        /* Below it again after one read: the interrupt goes away. */
        g_assert_cmphex(rd(&t, RBR), ==, data[0]);
        g_assert_cmpint(irq4(&t), ==, 0);
        for (unsigned j = 1; j < level; j++) {
            g_assert_true(rd(&t, LSR) & LSR_DR);
            g_assert_cmphex(rd(&t, RBR), ==, data[j]);
        }
        g_assert_false(rd(&t, LSR) & LSR_DR);
    }

    /* FIFOs off: one byte is enough. */
    wr(&t, FCR, 0x00);
    client_send(&t, "z", 1);
    FIXTURE_RUN_UNTIL(t.m->loop, irq4(&t) == 1);
    g_assert_cmphex(rd(&t, IIR), ==, 0x04);
    g_assert_cmphex(rd(&t, RBR), ==, 'z');
    g_assert_cmpint(irq4(&t), ==, 0);
    g_assert_cmphex(rd(&t, IIR), ==, 0x01);
    serial_test_fini(&t);
}

static void test_rx_timeout(void)
{
    SerialTest t;

    serial_test_init(&t, true);
    set_divisor(&t, 1);             /* 115200 baud: ~350 us timeout */
    wr(&t, LCR, 0x03);
    wr(&t, FCR, 0xc7);              /* FIFOs on, trigger at 14 */
    wr(&t, IER, 0x01);

    client_send(&t, "abc", 3);
    FIXTURE_RUN_UNTIL(t.m->loop, irq4(&t) == 1);
    g_assert_cmphex(rd(&t, IIR), ==, 0xcc);
    /* A read clears the timeout; it comes back for the bytes left. */
    g_assert_cmphex(rd(&t, RBR), ==, 'a');
    g_assert_cmpint(irq4(&t), ==, 0);
    g_assert_cmphex(rd(&t, IIR), ==, 0xc1);
    FIXTURE_RUN_UNTIL(t.m->loop, irq4(&t) == 1);
    g_assert_cmphex(rd(&t, IIR), ==, 0xcc);
    g_assert_cmphex(rd(&t, RBR), ==, 'b');
    g_assert_cmphex(rd(&t, RBR), ==, 'c');
    g_assert_cmpint(irq4(&t), ==, 0);
    /* Nothing left: no timeout. */
    fixture_run_for(t.m->loop, 10);
    g_assert_cmpint(irq4(&t), ==, 0);
    g_assert_cmphex(rd(&t, IIR), ==, 0xc1);
    serial_test_fini(&t);
}

static void test_iir_priority(void)
{
    SerialTest t;

    serial_test_init(&t, true);
    rd(&t, MSR);
    wr(&t, IER, 0x0f);
    /* THRE is pending from enabling ETBEI. */
    g_assert_cmphex(rd(&t, IIR), ==, 0x02);

    /* Loopback with OUT1 on: RI rises, CTS/DSR/DCD fall (deltas), and two
     * bytes into the one-byte receiver overrun it. */
    wr(&t, MCR, 0x14);
    wr(&t, THR, '1');
    wr(&t, THR, '2');
    g_assert_cmpint(irq4(&t), ==, 1);
    /* Line status first; reading LSR clears OE. */
    g_assert_cmphex(rd(&t, IIR), ==, 0x06);
    g_assert_cmphex(rd(&t, LSR), ==, LSR_THRE | LSR_TEMT | LSR_OE | LSR_DR);
    g_assert_cmphex(rd(&t, LSR), ==, LSR_THRE | LSR_TEMT | LSR_DR);
    /* Then received data; the overrun byte replaced the first. */
    g_assert_cmphex(rd(&t, IIR), ==, 0x04);
    g_assert_cmphex(rd(&t, RBR), ==, '2');
    /* Then THRE (that IIR read acknowledges it)... */
    g_assert_cmphex(rd(&t, IIR), ==, 0x02);
    /* ...then modem status, until MSR is read. */
    g_assert_cmphex(rd(&t, IIR), ==, 0x00);
    g_assert_cmphex(rd(&t, MSR), ==, 0x40 | 0x0b);
    g_assert_cmphex(rd(&t, IIR), ==, 0x01);
    g_assert_cmpint(irq4(&t), ==, 0);

    /* Masked sources do not show. */
    wr(&t, IER, 0x00);
    wr(&t, THR, '3');
    g_assert_cmphex(rd(&t, IIR), ==, 0x01);
    g_assert_cmpint(irq4(&t), ==, 0);
    g_assert_cmphex(rd(&t, RBR), ==, '3');
    serial_test_fini(&t);
}

static void test_divisor_latch(void)
{
    SerialTest t;

    serial_test_init(&t, true);
    wr(&t, IER, 0x05);
    wr(&t, LCR, 0x83);
    wr(&t, DLL, 0x34);
    wr(&t, DLM, 0x12);
    g_assert_cmphex(rd(&t, DLL), ==, 0x34);
    g_assert_cmphex(rd(&t, DLM), ==, 0x12);
    g_assert_cmphex(rd(&t, LCR), ==, 0x83);
    /* Nothing was sent, IER is untouched. */
    wr(&t, LCR, 0x03);
    g_assert_cmphex(rd(&t, IER), ==, 0x05);
    g_assert_cmphex(rd(&t, LCR), ==, 0x03);
    wr(&t, THR, 'k');
    client_expect(&t, "k", 1);
    wr(&t, LCR, 0x80);
    g_assert_cmphex(rd(&t, DLL), ==, 0x34);
    g_assert_cmphex(rd(&t, DLM), ==, 0x12);
    serial_test_fini(&t);
}

static void test_loopback(void)
{
    SerialTest t;
    const char *msg = "loop";

    serial_test_init(&t, true);
    /* Linux's probe: loopback with RTS and OUT2 shows CTS and DCD. */
    wr(&t, MCR, 0x1a);
    g_assert_cmphex(rd(&t, MSR) & 0xf0, ==, 0x90);
    wr(&t, MCR, 0x1f);
    g_assert_cmphex(rd(&t, MSR) & 0xf0, ==, 0xf0);

    wr(&t, FCR, 0x07);
    for (const char *p = msg; *p; p++) {
        wr(&t, THR, *p);
    }
    /* Host input waits while the receiver is looped back. */
    client_send(&t, "host", 4);
    fixture_run_for(t.m->loop, 20);
    for (const char *p = msg; *p; p++) {
        g_assert_true(rd(&t, LSR) & LSR_DR);
        g_assert_cmphex(rd(&t, RBR), ==, *p);
    }
    g_assert_false(rd(&t, LSR) & LSR_DR);

    /* Back to normal: the looped bytes never reached the host, and the
     * host's bytes arrive now. */
    wr(&t, MCR, 0x0b);
    g_assert_cmphex(rd(&t, MSR) & 0xf0, ==, 0xb0);
    FIXTURE_RUN_UNTIL(t.m->loop, rd(&t, LSR) & LSR_DR);
    for (const char *p = "host"; *p; p++) {
        FIXTURE_RUN_UNTIL(t.m->loop, rd(&t, LSR) & LSR_DR);
        g_assert_cmphex(rd(&t, RBR), ==, *p);
    }
    wr(&t, THR, '!');
    client_expect(&t, "!", 1);
    serial_test_fini(&t);
}

/*
 * What Linux's 8250 driver does to identify the UART and check its THRE
 * interrupt: it must come out as a plain 16550A with a working THRE.
 */
static void test_linux_probe(void)
{
    SerialTest t;
    uint8_t iir1, iir2, ier;

    serial_test_init(&t, true);
    /* IER holds exactly the four enable bits. */
    wr(&t, IER, 0x00);
    g_assert_cmphex(rd(&t, IER), ==, 0x00);
    wr(&t, IER, 0x0f);
    g_assert_cmphex(rd(&t, IER), ==, 0x0f);
    wr(&t, IER, 0x00);
    /* Loopback with RTS and OUT2 reads back CTS and DCD. */
    wr(&t, MCR, 0x1a);
    g_assert_cmphex(rd(&t, MSR) & 0xf0, ==, 0x90);
    wr(&t, MCR, 0x00);
    /* FIFOs: IIR bits 6-7 both set means a 16550A. */
    wr(&t, FCR, 0x01);
    g_assert_cmphex(rd(&t, IIR) >> 6, ==, 3);
    /* No EFR behind LCR 0x80 or 0xbf: offset 2 still reads IIR. */
    wr(&t, LCR, 0x80);
    g_assert_cmphex(rd(&t, IIR), !=, 0);
    wr(&t, LCR, 0xbf);
    g_assert_cmphex(rd(&t, IIR), !=, 0);
    /* Not a 16750: FCR bit 5 (64-byte FIFO) does not show in IIR. */
    wr(&t, LCR, 0x00);
    wr(&t, FCR, 0x21);
    g_assert_cmphex(rd(&t, IIR) >> 5, ==, 6);
    wr(&t, FCR, 0x01);
    /* Not an XScale: IER bit 6 does not stick. */
    ier = rd(&t, IER);
    wr(&t, IER, ier ^ 0x40);
    g_assert_cmphex(rd(&t, IER), ==, ier);

    /* The THRE test at open: re-enabling ETBEI re-asserts THRE. */
    wr(&t, IER, 0x02);
    iir1 = rd(&t, IIR);
    wr(&t, IER, 0x00);
    wr(&t, IER, 0x02);
    iir2 = rd(&t, IIR);
    wr(&t, IER, 0x00);
    g_assert_cmphex(iir1 & 0x0f, ==, 0x02);
    g_assert_cmphex(iir2 & 0x0f, ==, 0x02);
    g_assert_cmpint(irq4(&t), ==, 0);
    serial_test_fini(&t);
}

/* More input than the FIFO holds: nothing is lost while the guest drains
 * it, with or without FIFOs. */
static void test_rx_backpressure(void)
{
    static const uint8_t fcrs[] = { 0xc7, 0x00 };
    const size_t total = 5000;
    g_autofree uint8_t *data = g_malloc(total);
    g_autofree uint8_t *got = g_malloc(total);
    SerialTest t;

    for (size_t i = 0; i < total; i++) {
        data[i] = (i * 31) ^ (i >> 8);
    }
    serial_test_init(&t, true);
    set_divisor(&t, 0xffff);
    for (size_t f = 0; f < sizeof(fcrs); f++) {
        size_t n = 0;
        gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

        wr(&t, FCR, fcrs[f]);
        client_send(&t, data, total);
        /* Let the host side fill the FIFO before the guest reads. */
        fixture_run_for(t.m->loop, 10);
        while (n < total && g_get_monotonic_time() < deadline) {
            uint8_t lsr = rd(&t, LSR);

            g_assert_false(lsr & LSR_OE);
            if (lsr & LSR_DR) {
                got[n++] = rd(&t, RBR);
            } else {
                main_loop_iterate(t.m->loop, false);
            }
        }
        g_assert_cmpuint(n, ==, total);
        g_assert_cmpmem(got, total, data, total);
        fixture_run_for(t.m->loop, 10);
        g_assert_false(rd(&t, LSR) & LSR_DR);
    }
    serial_test_fini(&t);
}

static void test_properties(void)
{
    Machine *m = fixture_machine_new();
    GError *err = NULL;
    Chardev *chr;
    Device *dev;

    /* The registry knows the class, and it can be given with -device. */
    g_assert_true(device_class_find("isa-serial") == &serial_isa_class);
    g_assert_true(serial_isa_class.user_creatable);

    chr = chardev_new_from_spec(m->loop, "-serial", "null", "serial1", &err);
    g_assert_no_error(err);
    g_ptr_array_add(m->chardevs, chr);

    /* COM2 at 0x2f8 on IRQ 3. */
    dev = device_new(m, "isa-serial", &err);
    g_assert_no_error(err);
    g_assert_true(device_set_prop(dev, "iobase", "0x2f8", &err));
    g_assert_true(device_set_prop(dev, "irq", "3", &err));
    g_assert_true(device_set_prop(dev, "chardev", "serial1", &err));
    g_assert_true(device_realize(dev, &err));
    g_assert_no_error(err);
    g_assert_cmphex(fixture_inb(m, 0x2f8 + LSR), ==, LSR_THRE | LSR_TEMT);
    fixture_outb(m, 0x2f8 + IER, 0x02);
    g_assert_cmpint(fixture_irq_level(m, 3), ==, 1);
    g_assert_cmpint(fixture_irq_level(m, 4), ==, 0);
    /* Nothing at COM1. */
    g_assert_cmphex(fixture_inb(m, COM1 + LSR), ==, 0xff);

    /* The chardev has its frontend already. */
    dev = device_new(m, "isa-serial", &err);
    g_assert_no_error(err);
    g_assert_true(device_set_prop(dev, "chardev", "serial1", &err));
    g_assert_false(device_realize(dev, &err));
    g_assert_error(err, LEMU_ERROR, LEMU_ERROR_INVALID);
    g_assert_nonnull(strstr(err->message, "serial1"));
    g_clear_error(&err);

    /* Out of range values, and a port clash. */
    dev = device_new(m, "isa-serial", &err);
    g_assert_true(device_set_prop(dev, "iobase", "0xfffc", &err));
    g_assert_false(device_realize(dev, &err));
    g_assert_nonnull(strstr(err->message, "0xfffc"));
    g_clear_error(&err);
    dev = device_new(m, "isa-serial", &err);
    g_assert_true(device_set_prop(dev, "irq", "16", &err));
    g_assert_false(device_realize(dev, &err));
    g_assert_nonnull(strstr(err->message, "irq 16"));
    g_clear_error(&err);
    dev = device_new(m, "isa-serial", &err);
    g_assert_true(device_set_prop(dev, "iobase", "0x2fc", &err));
    g_assert_false(device_realize(dev, &err));
    g_assert_nonnull(err);
    g_clear_error(&err);

    /* Without a chardev it still works as a UART (output goes nowhere). */
    dev = device_new(m, "isa-serial", &err);
    g_assert_true(device_realize(dev, &err));
    g_assert_no_error(err);
    fixture_outb(m, COM1 + THR, 'x');
    g_assert_cmphex(fixture_inb(m, COM1 + LSR), ==, LSR_THRE | LSR_TEMT);
    g_assert_cmphex(fixture_inb(m, COM1 + MSR), ==, 0x00);

    device_destroy_all(m);
    chardev_free(chr);
    fixture_machine_free(m);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/serial/reset-state", test_reset_state);
    g_test_add_func("/serial/modem-status", test_modem_status);
    g_test_add_func("/serial/transmit", test_transmit);
    g_test_add_func("/serial/thre-interrupt", test_thre_interrupt);
    g_test_add_func("/serial/rx-trigger-levels", test_rx_trigger_levels);
    g_test_add_func("/serial/rx-timeout", test_rx_timeout);
    g_test_add_func("/serial/iir-priority", test_iir_priority);
    g_test_add_func("/serial/divisor-latch", test_divisor_latch);
    g_test_add_func("/serial/loopback", test_loopback);
    g_test_add_func("/serial/linux-probe", test_linux_probe);
    g_test_add_func("/serial/rx-backpressure", test_rx_backpressure);
    g_test_add_func("/serial/properties", test_properties);
    return g_test_run();
}
