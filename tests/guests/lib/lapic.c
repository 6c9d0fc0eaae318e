/* Local APIC in xAPIC mode, and spinlocks. */
#include "guest.h"

uint32_t lapic_read(uint32_t reg)
{
    return *(volatile uint32_t *)(uintptr_t)(LAPIC_BASE + reg);
}

void lapic_write(uint32_t reg, uint32_t v)
{
    *(volatile uint32_t *)(uintptr_t)(LAPIC_BASE + reg) = v;
}

unsigned lapic_id(void)
{
    return lapic_read(LAPIC_ID) >> 24;
}

void lapic_enable(void)
{
    lapic_write(LAPIC_SVR, LAPIC_SVR_ENABLE | 0xff);
}

void lapic_send_ipi(unsigned apic_id, uint32_t icr_lo)
{
    lapic_write(LAPIC_ICR_HI, apic_id << 24);
    lapic_write(LAPIC_ICR_LO, icr_lo);
    while (lapic_read(LAPIC_ICR_LO) & ICR_DELIVERY_PENDING) {
        cpu_relax();
    }
}

void spin_lock(spinlock_t *l)
{
    while (__sync_val_compare_and_swap(&l->locked, 0, 1) != 0) {
        while (l->locked) {
            cpu_relax();
        }
    }
}

void spin_unlock(spinlock_t *l)
{
    __atomic_store_n(&l->locked, 0, __ATOMIC_RELEASE);
}
