/*
 * smp: starts the second CPU (APIC ID 1) with INIT, SIPI, SIPI through the
 * local APIC's ICR. The AP comes up in real mode at 0800:0000, switches to
 * protected mode, says so (output serialised by a lock cmpxchg spinlock),
 * then both CPUs add to a shared counter with lock xadd and to another
 * under the spinlock; the BSP checks the totals.
 */
#include "guest.h"

#define AP_TRAMP_BASE 0x8000
#define SIPI_VECTOR   (AP_TRAMP_BASE >> 12)
#define ROUNDS        1000

extern const char ap_tramp_start[], ap_tramp_end[], ap_tramp_gdt[];
void ap_main(void);

uint32_t ap_stack_top;
static uint8_t ap_stack[4096] __attribute__((aligned(16)));

static spinlock_t print_lock;
static spinlock_t counter_lock;
static volatile uint32_t atomic_counter;
static volatile uint32_t locked_counter;
static volatile uint32_t ap_apic_id = 0xffffffff;
static volatile bool ap_online, go, ap_done;

static void count(void)
{
    for (unsigned i = 0; i < ROUNDS; i++) {
        __atomic_fetch_add(&atomic_counter, 1, __ATOMIC_SEQ_CST);
        spin_lock(&counter_lock);
        locked_counter = locked_counter + 1;
        spin_unlock(&counter_lock);
    }
}

void ap_main(void)
{
    idt_load();
    ap_apic_id = lapic_id();
    spin_lock(&print_lock);
    printf("CPU %u online, in 32-bit protected mode\n", ap_apic_id);
    spin_unlock(&print_lock);
    __atomic_store_n(&ap_online, true, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&go, __ATOMIC_ACQUIRE)) {
        cpu_relax();
    }
    count();
    __atomic_store_n(&ap_done, true, __ATOMIC_RELEASE);
}

/* Waits up to about @ms milliseconds for *flag (PIT channel 2 clock). */
static bool wait_for(volatile bool *flag, unsigned ms)
{
    for (unsigned i = 0; i < ms; i++) {
        if (__atomic_load_n(flag, __ATOMIC_ACQUIRE)) {
            return true;
        }
        pit_delay_us(1000);
    }
    return __atomic_load_n(flag, __ATOMIC_ACQUIRE);
}

int guest_main(struct multiboot_info *mbi)
{
    size_t size = (size_t)(ap_tramp_end - ap_tramp_start);

    (void)mbi;
    CHECK(cpu_has_feature_edx(1, CPUID_1_EDX_APIC), "no local APIC");
    lapic_enable();
    CHECK(lapic_id() == 0, "the BSP has APIC ID %u, expected 0", lapic_id());
    printf("smp: BSP is APIC ID 0, starting APIC ID 1\n");

    memcpy(phys_ptr(AP_TRAMP_BASE), ap_tramp_start, size);
    __asm__ volatile("sgdt %0"
                     : "=m"(*(char (*)[6])phys_ptr(AP_TRAMP_BASE +
                                                    (ap_tramp_gdt -
                                                     ap_tramp_start))));
    ap_stack_top = (uint32_t)(uintptr_t)(ap_stack + sizeof(ap_stack));

    /* INIT, 10 ms, SIPI, 200 us, SIPI (the universal startup algorithm). */
    spin_lock(&print_lock);
    lapic_send_ipi(1, ICR_INIT | ICR_LEVEL_ASSERT);
    pit_delay_us(10000);
    lapic_send_ipi(1, ICR_STARTUP | SIPI_VECTOR);
    pit_delay_us(200);
    lapic_send_ipi(1, ICR_STARTUP | SIPI_VECTOR);
    spin_unlock(&print_lock);

    CHECK(wait_for(&ap_online, 2000), "APIC ID 1 did not come online");
    CHECK(ap_apic_id == 1, "the AP reports APIC ID %u", ap_apic_id);
    printf("smp: the AP reported in\n");

    __atomic_store_n(&go, true, __ATOMIC_RELEASE);
    count();
    CHECK(wait_for(&ap_done, 5000), "the AP did not finish counting");
    CHECK(atomic_counter == 2 * ROUNDS, "lock xadd counter %u, expected %u",
          atomic_counter, 2 * ROUNDS);
    CHECK(locked_counter == 2 * ROUNDS, "spinlocked counter %u, expected %u",
          locked_counter, 2 * ROUNDS);
    printf("smp: both CPUs counted to %u with lock xadd and with a "
           "spinlock\n", 2 * ROUNDS);
    return 0;
}
