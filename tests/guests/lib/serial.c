/* COM1 output by polling the 16550's Line Status Register. */
#include "guest.h"

#define UART_THR 0      /* transmit holding (DLAB=0) */
#define UART_DLL 0      /* divisor latch low (DLAB=1) */
#define UART_IER 1
#define UART_DLM 1
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_LCR_DLAB 0x80
#define UART_LCR_8N1  0x03
#define UART_LSR_THRE 0x20
#define UART_LSR_TEMT 0x40
#define UART_MCR_DTR_RTS_OUT2 0x0b

void serial_init(void)
{
    outb(COM1_BASE + UART_IER, 0x00);
    outb(COM1_BASE + UART_LCR, UART_LCR_DLAB);
    outb(COM1_BASE + UART_DLL, 1);             /* 115200 baud */
    outb(COM1_BASE + UART_DLM, 0);
    outb(COM1_BASE + UART_LCR, UART_LCR_8N1);
    outb(COM1_BASE + UART_FCR, 0xc7);          /* FIFOs on and cleared */
    outb(COM1_BASE + UART_MCR, UART_MCR_DTR_RTS_OUT2);
}

void serial_putc(char c)
{
    while (!(inb(COM1_BASE + UART_LSR) & UART_LSR_THRE)) {
        cpu_relax();
    }
    outb(COM1_BASE + UART_THR, (uint8_t)c);
}

void serial_write(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        serial_putc(s[i]);
    }
}

void serial_flush(void)
{
    while (!(inb(COM1_BASE + UART_LSR) & UART_LSR_TEMT)) {
        cpu_relax();
    }
}
