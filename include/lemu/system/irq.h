/*
 * An interrupt line: what a device raises and lowers. The machine decides
 * where it goes (the in-kernel irqchip under KVM, the userspace PIC/IOAPIC
 * under the interpreter, or a unit test's recorder).
 */
#ifndef LEMU_SYSTEM_IRQ_H
#define LEMU_SYSTEM_IRQ_H

typedef void IrqHandler(void *opaque, int n, int level);

typedef struct IrqLine {
    IrqHandler *handler;
    void *opaque;
    int n;
} IrqLine;

static inline void irq_set_level(const IrqLine *irq, int level)
{
    if (irq && irq->handler) {
        irq->handler(irq->opaque, irq->n, level);
    }
}

static inline void irq_raise(const IrqLine *irq) { irq_set_level(irq, 1); }
static inline void irq_lower(const IrqLine *irq) { irq_set_level(irq, 0); }
static inline void irq_pulse(const IrqLine *irq)
{
    irq_set_level(irq, 1);
    irq_set_level(irq, 0);
}

#endif
