/* 8259A interrupt controllers and 8254 timer. */
#include "guest.h"

#define PIC1_CMD  0x20
#define PIC1_DATA 0x21
#define PIC2_CMD  0xa0
#define PIC2_DATA 0xa1
#define ICW1_INIT_ICW4 0x11     /* edge triggered, cascade, ICW4 follows */
#define ICW4_8086 0x01
#define OCW2_EOI  0x20

#define PIT_CH0  0x40
#define PIT_CH2  0x42
#define PIT_CMD  0x43
#define PORT_B   0x61           /* bit 0: gate 2, bit 1: speaker, bit 5: OUT2 */

void pic_init(void)
{
    outb(PIC1_CMD, ICW1_INIT_ICW4);
    outb(PIC2_CMD, ICW1_INIT_ICW4);
    outb(PIC1_DATA, PIC_IRQ_BASE);
    outb(PIC2_DATA, PIC_IRQ_BASE + 8);
    outb(PIC1_DATA, 1 << 2);            /* slave on IRQ 2 */
    outb(PIC2_DATA, 2);                 /* slave identity */
    outb(PIC1_DATA, ICW4_8086);
    outb(PIC2_DATA, ICW4_8086);
    outb(PIC1_DATA, 0xff);
    outb(PIC2_DATA, 0xff);

    /* Virtual-wire mode (MP spec 3.6.2.2): LINT0 takes the PIC's INTR as
     * ExtINT, LINT1 is NMI. A BIOS does this; without one, a local APIC
     * left in its reset state would keep PIC interrupts from the CPU. */
    if (cpu_has_feature_edx(1, CPUID_1_EDX_APIC)) {
        lapic_enable();
        lapic_write(LAPIC_LVT_LINT0, 7u << 8);
        lapic_write(LAPIC_LVT_LINT1, 4u << 8);
    }
}

void pic_unmask(unsigned irq)
{
    if (irq >= 8) {
        outb(PIC2_DATA, inb(PIC2_DATA) & ~(1u << (irq - 8)));
        irq = 2;
    }
    outb(PIC1_DATA, inb(PIC1_DATA) & ~(1u << irq));
}

void pic_mask(unsigned irq)
{
    if (irq >= 8) {
        outb(PIC2_DATA, inb(PIC2_DATA) | (1u << (irq - 8)));
    } else {
        outb(PIC1_DATA, inb(PIC1_DATA) | (1u << irq));
    }
}

void pic_eoi(unsigned irq)
{
    if (irq >= 8) {
        outb(PIC2_CMD, OCW2_EOI);
    }
    outb(PIC1_CMD, OCW2_EOI);
}

void pit_start_periodic(unsigned hz)
{
    uint32_t div = (PIT_HZ + hz / 2) / hz;
    outb(PIT_CMD, 0x34);                /* ch 0, lo/hi byte, mode 2, binary */
    outb(PIT_CH0, (uint8_t)div);
    outb(PIT_CH0, (uint8_t)(div >> 8));
}

void pit_start_oneshot(uint16_t count)
{
    outb(PIT_CMD, 0x30);                /* ch 0, lo/hi byte, mode 0, binary */
    outb(PIT_CH0, (uint8_t)count);
    outb(PIT_CH0, (uint8_t)(count >> 8));
}

uint16_t pit_read_count(void)
{
    outb(PIT_CMD, 0x00);                /* counter latch, ch 0 */
    uint8_t lo = inb(PIT_CH0);
    uint8_t hi = inb(PIT_CH0);
    return (uint16_t)(lo | (hi << 8));
}

uint8_t pit_read_status(unsigned ch)
{
    /* read-back: latch status only (COUNT bit set = don't latch count) */
    outb(PIT_CMD, (uint8_t)(0xc0 | 0x20 | (2u << ch)));
    return inb((uint16_t)(PIT_CH0 + ch));
}

void pit_delay_us(unsigned us)
{
    while (us) {
        unsigned chunk = us > 50000 ? 50000 : us;
        uint32_t count = chunk * (PIT_HZ / 1000) / 1000;   /* < 60000 */
        if (count < 2) {
            count = 2;
        }
        outb(PORT_B, inb(PORT_B) & ~0x03);  /* gate 2 low, speaker off */
        outb(PIT_CMD, 0xb0);                /* ch 2, lo/hi byte, mode 0 */
        outb(PIT_CH2, (uint8_t)count);
        outb(PIT_CH2, (uint8_t)(count >> 8));
        outb(PORT_B, (inb(PORT_B) & ~0x02) | 0x01);     /* gate 2 high */
        while (!(inb(PORT_B) & 0x20)) {
            cpu_relax();
        }
        us -= chunk;
    }
    outb(PORT_B, inb(PORT_B) & ~0x03);
}
