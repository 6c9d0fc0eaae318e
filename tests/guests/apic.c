/*
 * apic: the local APIC and the I/O APIC in long mode, with two CPUs
 * (-smp 2). The local APIC timer in one-shot mode (one interrupt, not
 * early, count at 0 after it), periodic mode (it keeps coming, stops when
 * the initial count is cleared), masked, and TSC-deadline mode where
 * CPUID has it; TPR and CR8 holding back an interrupt; the second CPU
 * started into long mode, fixed IPIs both ways, a broadcast IPI and an
 * NMI; COM1's interrupt routed through the I/O APIC to either CPU, edge
 * and level triggered (Remote IRR until the EOI).
 */
#include "guest.h"

#define LAPIC_LVT_TIMER 0x320
#define LAPIC_TIMER_ICR 0x380
#define LAPIC_TIMER_CCR 0x390
#define LAPIC_TIMER_DCR 0x3e0
#define LVT_MASKED      (1u << 16)
#define LVT_PERIODIC    (1u << 17)
#define LVT_TSC_DEADLINE (2u << 17)
#define DCR_DIV1        0xb

#define ICR_FIXED       (0u << 8)
#define ICR_NMI         (4u << 8)
#define ICR_ALL_BUT_SELF (3u << 18)
#define ICR_SELF        (1u << 18)

#define MSR_TSC_DEADLINE 0x6e0
#define CPUID_1_ECX_TSC_DEADLINE (1u << 24)

#define IOAPIC_BASE     0xfec00000u
#define IOAPIC_VER      0x01
#define IOAPIC_REDTBL(n) (0x10 + 2 * (n))
#define RTE_LEVEL       (1u << 15)
#define RTE_REMOTE_IRR  (1u << 14)
#define RTE_MASKED      (1u << 16)

#define COM1_IRQ        4
#define UART_IER        1
#define UART_IIR        2
#define UART_IER_ETBEI  0x02

#define VEC_TIMER       0x50
#define VEC_IPI         0x60
#define VEC_IPI_BSP     0x61
#define VEC_BROADCAST   0x62
#define VEC_COM1        0x70
#define VEC_TPR         0x61        /* priority class 6 */

#define AP_TRAMP_BASE   0x8000
#define SIPI_VECTOR     (AP_TRAMP_BASE >> 12)

extern const char ap64_tramp_start[], ap64_tramp_end[], ap64_tramp_gdt[];
void ap_main(void);
uint64_t ap64_stack_top;
uint32_t ap64_efer;
static uint8_t ap_stack[8192] __attribute__((aligned(16)));

/* Interrupt counts per CPU (APIC ID 0 or 1). */
static volatile unsigned timer_irqs, nmis[2], ipis[2], bsp_ipis,
    broadcasts[2], com1_irqs[2];
static volatile uint64_t timer_tsc;
static volatile uint32_t com1_rte_in_handler;
static volatile bool ap_online, ap_send_to_bsp;
static uint64_t tsc_per_ms;

static inline void write_cr8(uint64_t v)
{
    __asm__ volatile("mov %0, %%cr8" : : "r"(v) : "memory");
}

static inline uint64_t read_cr8(void)
{
    uint64_t v;
    __asm__ volatile("mov %%cr8, %0" : "=r"(v));
    return v;
}

static uint32_t ioapic_read(uint32_t reg)
{
    *(volatile uint32_t *)(uintptr_t)IOAPIC_BASE = reg;
    return *(volatile uint32_t *)(uintptr_t)(IOAPIC_BASE + 0x10);
}

static void ioapic_write(uint32_t reg, uint32_t v)
{
    *(volatile uint32_t *)(uintptr_t)IOAPIC_BASE = reg;
    *(volatile uint32_t *)(uintptr_t)(IOAPIC_BASE + 0x10) = v;
}

static void eoi(void)
{
    lapic_write(LAPIC_EOI, 0);
}

/* Waits with interrupts enabled until *count reaches @n or about @ms
 * milliseconds pass (TSC). */
static bool wait_count(volatile unsigned *count, unsigned n, unsigned ms)
{
    uint64_t end = rdtsc() + ms * tsc_per_ms;
    sti();
    while (*count < n && rdtsc() < end) {
        cpu_relax();
    }
    cli();
    return *count >= n;
}

static void delay_ms(unsigned ms)
{
    uint64_t end = rdtsc() + ms * tsc_per_ms;
    sti();
    while (rdtsc() < end) {
        cpu_relax();
    }
    cli();
}

/* ---- handlers ---- */

static void timer_handler(struct int_frame *f)
{
    (void)f;
    timer_irqs++;
    timer_tsc = rdtsc();
    eoi();
}

static void ipi_handler(struct int_frame *f)
{
    (void)f;
    ipis[lapic_id() & 1]++;
    eoi();
}

static void bsp_ipi_handler(struct int_frame *f)
{
    (void)f;
    bsp_ipis++;
    eoi();
}

static void broadcast_handler(struct int_frame *f)
{
    (void)f;
    broadcasts[lapic_id() & 1]++;
    eoi();
}

static void nmi_handler(struct int_frame *f)
{
    (void)f;
    nmis[lapic_id() & 1]++;
}

static void com1_handler(struct int_frame *f)
{
    (void)f;
    (void)inb(COM1_BASE + UART_IIR);    /* clears the THRE interrupt */
    outb(COM1_BASE + UART_IER, 0);
    com1_rte_in_handler = ioapic_read(IOAPIC_REDTBL(COM1_IRQ));
    com1_irqs[lapic_id() & 1]++;
    eoi();
}

/* ---- local APIC timer ---- */

static void calibrate_tsc(void)
{
    uint64_t t0 = rdtsc();
    pit_delay_us(10000);
    tsc_per_ms = (rdtsc() - t0) / 10;
    CHECK(tsc_per_ms > 0, "the TSC does not advance");
}

/* APIC timer ticks (divide by 1) per millisecond. */
static uint32_t apic_ticks_per_ms(void)
{
    lapic_write(LAPIC_TIMER_DCR, DCR_DIV1);
    lapic_write(LAPIC_LVT_TIMER, LVT_MASKED | VEC_TIMER);
    lapic_write(LAPIC_TIMER_ICR, 0xffffffff);
    pit_delay_us(10000);
    uint32_t ticks = 0xffffffff - lapic_read(LAPIC_TIMER_CCR);
    lapic_write(LAPIC_TIMER_ICR, 0);
    CHECK(ticks > 0, "the APIC timer does not count");
    return ticks / 10;
}

static void test_timer(void)
{
    uint32_t per_ms = apic_ticks_per_ms();

    /* One-shot, 20 ms. */
    timer_irqs = 0;
    lapic_write(LAPIC_LVT_TIMER, VEC_TIMER);
    uint64_t t0 = rdtsc();
    lapic_write(LAPIC_TIMER_ICR, 20 * per_ms);
    CHECK(wait_count(&timer_irqs, 1, 2000), "one-shot: no interrupt in 2 s");
    CHECK(timer_tsc - t0 >= 10 * tsc_per_ms, "one-shot of 20 ms fired after "
          "%lu ms", (unsigned long)((timer_tsc - t0) / tsc_per_ms));
    CHECK(lapic_read(LAPIC_TIMER_CCR) == 0, "one-shot: current count %u "
          "after it fired", lapic_read(LAPIC_TIMER_CCR));
    delay_ms(60);
    CHECK(timer_irqs == 1, "one-shot: %u interrupts", timer_irqs);
    printf("APIC timer one-shot: one interrupt, not early, count 0 after "
           "it ok\n");

    /* Periodic, 5 ms: five interrupts, then stop it. */
    timer_irqs = 0;
    lapic_write(LAPIC_LVT_TIMER, LVT_PERIODIC | VEC_TIMER);
    t0 = rdtsc();
    lapic_write(LAPIC_TIMER_ICR, 5 * per_ms);
    CHECK(wait_count(&timer_irqs, 5, 5000), "periodic: %u interrupts in 5 s",
          timer_irqs);
    CHECK(timer_tsc - t0 >= 12 * tsc_per_ms, "periodic 5 ms: five "
          "interrupts after %lu ms", (unsigned long)((timer_tsc - t0) /
                                                     tsc_per_ms));
    /* Reloaded at each interrupt: still counting. */
    uint32_t ccr = lapic_read(LAPIC_TIMER_CCR);
    CHECK(ccr > 0, "periodic: current count 0 while running");
    lapic_write(LAPIC_TIMER_ICR, 0);
    unsigned n = timer_irqs;
    delay_ms(30);
    CHECK(timer_irqs <= n + 1, "periodic: %u interrupts after stopping",
          timer_irqs - n);
    printf("APIC timer periodic: interrupts keep coming, stop with initial "
           "count 0 ok\n");

    /* Masked: counts down, no interrupt. */
    timer_irqs = 0;
    lapic_write(LAPIC_LVT_TIMER, LVT_MASKED | VEC_TIMER);
    lapic_write(LAPIC_TIMER_ICR, 2 * per_ms);
    delay_ms(20);
    CHECK(timer_irqs == 0 && lapic_read(LAPIC_TIMER_CCR) == 0,
          "masked one-shot: %u interrupts, count %u", timer_irqs,
          lapic_read(LAPIC_TIMER_CCR));
    printf("APIC timer masked: counts down without an interrupt ok\n");

    uint32_t a, b, c, d;
    cpuid(1, 0, &a, &b, &c, &d);
    if (!(c & CPUID_1_ECX_TSC_DEADLINE)) {
        printf("APIC timer TSC-deadline: not in CPUID\n");
        return;
    }
    timer_irqs = 0;
    lapic_write(LAPIC_LVT_TIMER, LVT_TSC_DEADLINE | VEC_TIMER);
    uint64_t deadline = rdtsc() + 20 * tsc_per_ms;
    wrmsr(MSR_TSC_DEADLINE, deadline);
    CHECK(wait_count(&timer_irqs, 1, 2000), "TSC deadline: no interrupt");
    CHECK(timer_tsc >= deadline, "TSC deadline: interrupt %lu ticks early",
          (unsigned long)(deadline - timer_tsc));
    CHECK(rdmsr(MSR_TSC_DEADLINE) == 0, "TSC deadline MSR 0x%lx after it "
          "fired", (unsigned long)rdmsr(MSR_TSC_DEADLINE));
    delay_ms(30);
    CHECK(timer_irqs == 1, "TSC deadline: %u interrupts", timer_irqs);
    lapic_write(LAPIC_LVT_TIMER, LVT_MASKED | VEC_TIMER);
    printf("APIC timer TSC-deadline: one interrupt at the deadline, MSR "
           "cleared ok\n");
}

/* ---- TPR and CR8 ---- */

static void test_tpr(void)
{
    bsp_ipis = 0;
    lapic_write(LAPIC_TPR, 0x70);
    CHECK(read_cr8() == 7, "CR8 %lu with TPR 0x70", (unsigned long)read_cr8());
    lapic_write(LAPIC_ICR_HI, 0);
    lapic_write(LAPIC_ICR_LO, ICR_SELF | VEC_TPR);
    delay_ms(5);
    CHECK(bsp_ipis == 0, "vector 0x%x was delivered with TPR 0x70", VEC_TPR);
    write_cr8(5);
    CHECK(lapic_read(LAPIC_TPR) >> 4 == 5, "TPR 0x%x after CR8 = 5",
          lapic_read(LAPIC_TPR));
    CHECK(wait_count(&bsp_ipis, 1, 1000), "vector 0x%x not delivered after "
          "lowering the TPR to 0x50", VEC_TPR);
    write_cr8(0);
    printf("TPR 0x70 holds back vector 0x%x, lowering it through CR8 lets it "
           "in ok\n", VEC_TPR);
}

/* ---- the second CPU ---- */

void ap_main(void)
{
    idt_load();
    lapic_enable();
    __atomic_store_n(&ap_online, true, __ATOMIC_RELEASE);
    for (;;) {
        if (__atomic_exchange_n(&ap_send_to_bsp, false, __ATOMIC_ACQ_REL)) {
            lapic_send_ipi(0, ICR_FIXED | VEC_IPI_BSP);
        }
        sti_hlt();
    }
}

static void start_ap(void)
{
    memcpy(phys_ptr(AP_TRAMP_BASE), ap64_tramp_start,
           (size_t)(ap64_tramp_end - ap64_tramp_start));
    __asm__ volatile("sgdt %0"
                     : "=m"(*(char (*)[10])phys_ptr(AP_TRAMP_BASE +
                                                     (ap64_tramp_gdt -
                                                      ap64_tramp_start))));
    ap64_stack_top = (uintptr_t)ap_stack + sizeof(ap_stack);
    ap64_efer = (uint32_t)rdmsr(MSR_EFER) & ~EFER_LMA;

    lapic_send_ipi(1, ICR_INIT | ICR_LEVEL_ASSERT);
    pit_delay_us(10000);
    lapic_send_ipi(1, ICR_STARTUP | SIPI_VECTOR);
    pit_delay_us(200);
    lapic_send_ipi(1, ICR_STARTUP | SIPI_VECTOR);
    for (unsigned i = 0; i < 2000 && !__atomic_load_n(&ap_online,
                                                      __ATOMIC_ACQUIRE); i++) {
        pit_delay_us(1000);
    }
    CHECK(ap_online, "APIC ID 1 did not reach long mode");
    printf("second CPU: INIT, SIPI, SIPI; it runs in long mode ok\n");
}

static void test_ipis(void)
{
    lapic_send_ipi(1, ICR_FIXED | VEC_IPI);
    CHECK(wait_count(&ipis[1], 1, 1000), "fixed IPI to CPU 1 not taken");
    lapic_send_ipi(1, ICR_FIXED | VEC_IPI);
    CHECK(wait_count(&ipis[1], 2, 1000), "second fixed IPI to CPU 1");
    CHECK(ipis[0] == 0, "CPU 0 took %u IPIs meant for CPU 1", ipis[0]);

    bsp_ipis = 0;
    __atomic_store_n(&ap_send_to_bsp, true, __ATOMIC_RELEASE);
    lapic_send_ipi(1, ICR_FIXED | VEC_IPI);          /* wakes CPU 1 */
    CHECK(wait_count(&bsp_ipis, 1, 1000), "CPU 1's IPI to CPU 0 not taken");
    printf("fixed IPIs: CPU 0 -> CPU 1 twice, CPU 1 -> CPU 0 ok\n");

    lapic_write(LAPIC_ICR_HI, 0);
    lapic_write(LAPIC_ICR_LO, ICR_ALL_BUT_SELF | ICR_FIXED | VEC_BROADCAST);
    CHECK(wait_count(&broadcasts[1], 1, 1000), "broadcast IPI not taken by "
          "CPU 1");
    delay_ms(5);
    CHECK(broadcasts[0] == 0, "the all-but-self IPI reached CPU 0");
    printf("all-but-self IPI: CPU 1 only ok\n");

    lapic_send_ipi(1, ICR_NMI);
    unsigned ipis_before = ipis[1];
    CHECK(wait_count(&nmis[1], 1, 1000), "NMI IPI not taken by CPU 1");
    CHECK(nmis[0] == 0 && ipis[1] == ipis_before, "NMI: CPU 0 %u NMIs, CPU 1 "
          "%u extra IPIs", nmis[0], ipis[1] - ipis_before);
    printf("NMI IPI to CPU 1 through vector 2 ok\n");
}

/* ---- I/O APIC ---- */

/* COM1's THRE interrupt through I/O APIC pin 4 to @apic_id. */
static void com1_through_ioapic(unsigned apic_id, bool level)
{
    unsigned cpu = apic_id & 1, before = com1_irqs[cpu];
    unsigned other_before = com1_irqs[cpu ^ 1];
    uint32_t lo = VEC_COM1 | (level ? RTE_LEVEL : 0);

    ioapic_write(IOAPIC_REDTBL(COM1_IRQ) + 1, apic_id << 24);
    ioapic_write(IOAPIC_REDTBL(COM1_IRQ), lo);
    CHECK((ioapic_read(IOAPIC_REDTBL(COM1_IRQ)) & 0x1ffff) == lo &&
          ioapic_read(IOAPIC_REDTBL(COM1_IRQ) + 1) >> 24 == apic_id,
          "redirection entry reads 0x%x:%x", ioapic_read(IOAPIC_REDTBL(
          COM1_IRQ) + 1), ioapic_read(IOAPIC_REDTBL(COM1_IRQ)));
    serial_flush();
    outb(COM1_BASE + UART_IER, UART_IER_ETBEI);
    CHECK(wait_count(&com1_irqs[cpu], before + 1, 1000), "COM1 interrupt "
          "through I/O APIC pin %u did not reach CPU %u", COM1_IRQ, apic_id);
    delay_ms(5);
    if (level) {
        CHECK(com1_rte_in_handler & RTE_REMOTE_IRR, "level-triggered: Remote "
              "IRR clear in the handler (entry 0x%x)", com1_rte_in_handler);
        bool irr = ioapic_read(IOAPIC_REDTBL(COM1_IRQ)) & RTE_REMOTE_IRR;
        if (irr || com1_irqs[cpu] != before + 1) {
            skip("level-triggered: %u interrupts, Remote IRR %s after the "
                 "EOI, the line low since the handler (seen with KVM on PVM "
                 "hosts)", com1_irqs[cpu] - before, irr ? "set" : "clear");
        }
    }
    CHECK(com1_irqs[cpu] == before + 1 && com1_irqs[cpu ^ 1] == other_before,
          "COM1: %u interrupts on CPU %u, %u on the other",
          com1_irqs[cpu] - before, apic_id,
          com1_irqs[cpu ^ 1] - other_before);
    ioapic_write(IOAPIC_REDTBL(COM1_IRQ), RTE_MASKED | VEC_COM1);
}

static void test_ioapic(void)
{
    uint32_t ver = ioapic_read(IOAPIC_VER);
    CHECK((ver & 0xff) >= 0x11 && ((ver >> 16) & 0xff) >= 23,
          "I/O APIC version register 0x%x", ver);
    printf("I/O APIC: version 0x%x, %u redirection entries\n", ver & 0xff,
           ((ver >> 16) & 0xff) + 1);

    com1_through_ioapic(0, false);
    com1_through_ioapic(1, false);
    printf("COM1 through I/O APIC pin %u, edge: to CPU 0, then to CPU 1 "
           "ok\n", COM1_IRQ);
    com1_through_ioapic(0, true);
    printf("COM1 through I/O APIC pin %u, level: Remote IRR set until the "
           "EOI ok\n", COM1_IRQ);
}

int guest_main(struct multiboot_info *mbi)
{
    (void)mbi;
    CHECK(cpu_has_feature_edx(1, CPUID_1_EDX_APIC), "no local APIC");
    pic_init();                     /* 8259s masked, local APIC enabled */
    idt_set_handler(VEC_TIMER, timer_handler);
    idt_set_handler(VEC_IPI, ipi_handler);
    idt_set_handler(VEC_IPI_BSP, bsp_ipi_handler);
    idt_set_handler(VEC_BROADCAST, broadcast_handler);
    idt_set_handler(VEC_COM1, com1_handler);
    idt_set_handler(2, nmi_handler);
    calibrate_tsc();
    printf("apic: local APIC ID %u, version 0x%x\n", lapic_id(),
           lapic_read(LAPIC_VERSION) & 0xff);
    test_timer();
    test_tpr();
    start_ap();
    test_ipis();
    test_ioapic();
    return 0;
}
