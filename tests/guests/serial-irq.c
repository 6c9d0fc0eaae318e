/*
 * serial-irq: interrupt-driven transmission on COM1. With IER.ETBEI set
 * the 16550 raises IRQ 4 whenever its transmit holding register is empty;
 * the handler sends the next byte of the message each time, and the main
 * loop sleeps in HLT until the whole message is out. Built for long mode:
 * some KVM implementations (PVM) cannot return from interrupts with a
 * 32-bit IRET.
 */
#include "guest.h"

#define COM1_IRQ  4
#define UART_IER  1
#define UART_IIR  2
#define UART_LSR  5
#define UART_MSR  6
#define UART_IER_ETBEI  0x02
#define UART_IIR_NO_INT 0x01
#define UART_IIR_ID     0x0e
#define UART_IIR_THRI   0x02

static const char message[] =
    "serial-irq: this text went out one byte per THRE interrupt.\r\n"
    "serial-irq:  !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNO\r\n"
    "serial-irq: PQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~\r\n"
    "serial-irq: The quick brown fox jumps over the lazy dog, twice:\r\n"
    "serial-irq: the quick brown fox jumps over the lazy dog.\r\n";

static volatile size_t sent;
static volatile unsigned interrupts;
static volatile bool done;

static void com1_interrupt(struct int_frame *f)
{
    (void)f;
    interrupts++;
    for (unsigned guard = 0; guard < 64; guard++) {
        uint8_t iir = inb(COM1_BASE + UART_IIR);
        if (iir & UART_IIR_NO_INT) {
            break;
        }
        if ((iir & UART_IIR_ID) == UART_IIR_THRI) {
            /* Reading IIR cleared the THRE interrupt; the next one comes
             * when this byte has left the holding register. */
            if (sent < sizeof(message) - 1) {
                outb(COM1_BASE, (uint8_t)message[sent++]);
            } else {
                outb(COM1_BASE + UART_IER, 0);
                done = true;
            }
        } else {
            /* line or modem status: reading the register clears it */
            (void)inb(COM1_BASE + UART_LSR);
            (void)inb(COM1_BASE + UART_MSR);
        }
    }
    pic_eoi(COM1_IRQ);
}

int guest_main(struct multiboot_info *mbi)
{
    (void)mbi;
    printf("serial-irq: sending %u bytes from the IRQ 4 handler\n",
           (unsigned)(sizeof(message) - 1));
    serial_flush();

    pic_init();
    idt_set_handler(PIC_IRQ_BASE + COM1_IRQ, com1_interrupt);
    pic_unmask(COM1_IRQ);
    /* The holding register is empty, so this raises the first interrupt. */
    outb(COM1_BASE + UART_IER, UART_IER_ETBEI);
    while (!done) {
        sti_hlt();
    }
    pic_mask(COM1_IRQ);

    CHECK(sent == sizeof(message) - 1, "sent %u of %u bytes", (unsigned)sent,
          (unsigned)(sizeof(message) - 1));
    CHECK(interrupts > 0 && interrupts <= sent + 1,
          "%u interrupts for %u bytes", interrupts, (unsigned)sent);
    printf("serial-irq: all %u bytes sent, interrupts counted\n",
           (unsigned)sent);
    return 0;
}
