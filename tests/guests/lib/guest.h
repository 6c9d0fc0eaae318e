/*
 * The guest library: what every test guest links. Freestanding, built
 * both for 32-bit protected mode (-m32) and for 64-bit long mode (-m64).
 *
 * Exit convention (isa-debug-exit at port 0xf4, exit status =
 * (value << 1) | 1): PASS writes 0x10 (status 33), FAIL writes 0x11
 * (status 35). See tests/guests/README.md.
 */
#ifndef GUEST_H
#define GUEST_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "multiboot.h"

#include "asm-defs.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define __noreturn __attribute__((noreturn))
#define __printf(a, b) __attribute__((format(printf, a, b)))

/* A pointer to physical (identity-mapped) address @addr. The empty asm
 * hides the constant from GCC, which otherwise warns about accesses to
 * small absolute addresses such as the BIOS data area. */
static inline void *phys_ptr(uintptr_t addr)
{
    void *p = (void *)addr;
    __asm__("" : "+r"(p));
    return p;
}

/* ---- port I/O and CPU helpers ---- */

static inline void outb(uint16_t port, uint8_t v)
{
    __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}
static inline void outw(uint16_t port, uint16_t v)
{
    __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}
static inline void outl(uint16_t port, uint32_t v)
{
    __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}
static inline uint8_t inb(uint16_t port)
{
    uint8_t v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}
static inline uint16_t inw(uint16_t port)
{
    uint16_t v;
    __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}
static inline uint32_t inl(uint16_t port)
{
    uint32_t v;
    __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static inline void cpuid(uint32_t leaf, uint32_t sub, uint32_t *a,
                         uint32_t *b, uint32_t *c, uint32_t *d)
{
    __asm__ volatile("cpuid"
                     : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d)
                     : "a"(leaf), "c"(sub));
}

static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

static inline uint64_t rdmsr(uint32_t msr)
{
    uint32_t lo, hi;
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return ((uint64_t)hi << 32) | lo;
}
static inline void wrmsr(uint32_t msr, uint64_t v)
{
    __asm__ volatile("wrmsr"
                     : : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32))
                     : "memory");
}

#define DEFINE_CR_ACCESSORS(n)                                          \
    static inline uintptr_t read_cr##n(void)                            \
    {                                                                   \
        uintptr_t v;                                                    \
        __asm__ volatile("mov %%cr" #n ", %0" : "=r"(v));               \
        return v;                                                       \
    }                                                                   \
    static inline void write_cr##n(uintptr_t v)                         \
    {                                                                   \
        __asm__ volatile("mov %0, %%cr" #n : : "r"(v) : "memory");      \
    }
DEFINE_CR_ACCESSORS(0)
DEFINE_CR_ACCESSORS(2)
DEFINE_CR_ACCESSORS(3)
DEFINE_CR_ACCESSORS(4)

static inline void invlpg(uintptr_t va)
{
    __asm__ volatile("invlpg (%0)" : : "r"(va) : "memory");
}
static inline void cli(void) { __asm__ volatile("cli" : : : "memory"); }
static inline void sti(void) { __asm__ volatile("sti" : : : "memory"); }
static inline void hlt(void) { __asm__ volatile("hlt" : : : "memory"); }
/* STI's one-instruction shadow makes "sti; hlt" wait for the next
 * interrupt without a window where it could be missed. */
static inline void sti_hlt(void)
{
    __asm__ volatile("sti; hlt; cli" : : : "memory");
}
static inline void cpu_relax(void) { __asm__ volatile("pause" : : : "memory"); }
static inline void barrier(void) { __asm__ volatile("" : : : "memory"); }

#define CR0_PE (1u << 0)
#define CR0_WP (1u << 16)
#define CR0_PG (1u << 31)
#define CR4_PSE (1u << 4)
#define CR4_PAE (1u << 5)

#define MSR_EFER   0xc0000080
#define MSR_STAR   0xc0000081
#define MSR_LSTAR  0xc0000082
#define MSR_FMASK  0xc0000084
#define MSR_APIC_BASE 0x1b
#define EFER_SCE (1u << 0)
#define EFER_LME (1u << 8)
#define EFER_LMA (1u << 10)
#define EFER_NXE (1u << 11)

/* CPUID bits the guests test for */
#define CPUID_1_EDX_TSC   (1u << 4)
#define CPUID_1_EDX_MSR   (1u << 5)
#define CPUID_1_EDX_PAE   (1u << 6)
#define CPUID_1_EDX_APIC  (1u << 9)
#define CPUID_1_EDX_PSE   (1u << 3)
#define CPUID_80000001_EDX_SYSCALL (1u << 11)
#define CPUID_80000001_EDX_NX      (1u << 20)
#define CPUID_80000001_EDX_1GB     (1u << 26)
#define CPUID_80000001_EDX_LM      (1u << 29)

bool cpu_has_feature_edx(uint32_t leaf, uint32_t bit);

/* ---- serial (COM1, polled) ---- */
void serial_init(void);
void serial_putc(char c);
void serial_write(const char *s, size_t len);
/* Waits until the transmitter is empty (everything left the UART). */
void serial_flush(void);

/* ---- formatted output ---- */
/* %s %c %d %u %x %p, flags '0' and a width, length 'l' and 'll'. "\n" goes
 * out as "\r\n". */
int printf(const char *fmt, ...) __printf(1, 2);
int vprintf(const char *fmt, va_list ap);
int snprintf(char *buf, size_t size, const char *fmt, ...) __printf(3, 4);
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
void puts_raw(const char *s);     /* no newline appended, no translation */

/* True when the multiboot command line has @word as a whole word. */
bool cmdline_has(const struct multiboot_info *mbi, const char *word);

/* ---- string ---- */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);

/* ---- exit ---- */
void __noreturn guest_exit(bool pass);
/* Prints "FAIL: <message>" and exits FAIL. */
void __noreturn fail(const char *fmt, ...) __printf(1, 2);
/* Prints "SKIP: <message>" and exits SKIP: the machine lacks something the
 * test needs (the runner accepts it only where it was told to). */
void __noreturn skip(const char *fmt, ...) __printf(1, 2);
#define CHECK(cond, ...)                                                \
    do {                                                                \
        if (!(cond)) {                                                  \
            fail(__VA_ARGS__);                                          \
        }                                                               \
    } while (0)

/* Implemented by each guest; returns 0 for PASS. The library prints
 * "PASS" or "FAIL" and exits through isa-debug-exit. */
int guest_main(struct multiboot_info *mbi);

/* ---- setjmp/longjmp ---- */
typedef struct jmp_buf_s {
    uintptr_t regs[8];
} jmp_buf[1];
int setjmp(jmp_buf env) __attribute__((returns_twice));
void __noreturn longjmp(jmp_buf env, int val);

/* ---- interrupts and exceptions ---- */

#ifdef __x86_64__
struct int_frame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
    uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector, error;
    uint64_t ip, cs, flags, sp, ss;
};
#else
struct int_frame {
    uint32_t gs, fs, es, ds;
    uint32_t edi, esi, ebp, esp_pusha, ebx, edx, ecx, eax;
    uint32_t vector, error;
    uint32_t ip, cs, flags;
    uint32_t sp, ss;                /* only on a privilege change */
};
#endif

typedef void (*int_handler_fn)(struct int_frame *f);

/* Loads an IDT whose 256 gates go to the common dispatcher. Exceptions
 * without a handler print vector, error code and instruction pointer and
 * exit FAIL. */
void idt_init(void);
void idt_set_handler(unsigned vector, int_handler_fn fn);
/* The privilege level that may reach @vector with INT n (default 0). */
void idt_set_dpl(unsigned vector, unsigned dpl);
/* lidt with the library's IDT (after someone loaded another). */
void idt_load(void);

struct fault_info {
    unsigned vector;
    uintptr_t error;
    uintptr_t ip;
    uintptr_t cr2;
    uint16_t cs;
};
/* Runs fn(arg); if it raises an exception (at any privilege level), stops
 * it there and returns the vector with the details in @info; returns -1
 * when fn returned normally. */
int catch_fault(void (*fn)(void *), void *arg, struct fault_info *info);

/* Points the TSS at @kernel_stack_top (ring-0 stack on a privilege change)
 * and loads TR. */
void tss_init(uintptr_t kernel_stack_top);

/* ---- 8259 PIC ---- */
#define PIC_IRQ_BASE 0x20   /* IRQ n is vector 0x20 + n */
/* ICW1..4: master at vector 0x20, slave at 0x28, all lines masked; also
 * puts the local APIC into virtual-wire mode so that PIC interrupts reach
 * the BSP on machines without a BIOS that did it. */
void pic_init(void);
void pic_unmask(unsigned irq);
void pic_mask(unsigned irq);
void pic_eoi(unsigned irq);

/* ---- 8254 PIT ---- */
#define PIT_HZ 1193182u
/* Channel 0, mode 2 (rate generator), @hz interrupts per second. */
void pit_start_periodic(unsigned hz);
/* Channel 0, mode 0 (interrupt on terminal count) after @count ticks. */
void pit_start_oneshot(uint16_t count);
/* Latches and reads channel 0's count. */
uint16_t pit_read_count(void);
/* Read-back status byte of channel @ch (OUT in bit 7, mode in bits 3..1). */
uint8_t pit_read_status(unsigned ch);
/* Busy-waits about @us microseconds on channel 2 (gated through port 0x61),
 * leaving channel 0 alone. */
void pit_delay_us(unsigned us);

/* ---- local APIC (xAPIC MMIO at 0xfee00000) ---- */
#define LAPIC_BASE     0xfee00000u
#define LAPIC_ID       0x020
#define LAPIC_VERSION  0x030
#define LAPIC_TPR      0x080
#define LAPIC_EOI      0x0b0
#define LAPIC_SVR      0x0f0
#define LAPIC_ICR_LO   0x300
#define LAPIC_ICR_HI   0x310
#define LAPIC_LVT_LINT0 0x350
#define LAPIC_LVT_LINT1 0x360
#define LAPIC_SVR_ENABLE (1u << 8)
#define ICR_INIT       (5u << 8)
#define ICR_STARTUP    (6u << 8)
#define ICR_LEVEL_ASSERT (1u << 14)
#define ICR_DELIVERY_PENDING (1u << 12)

uint32_t lapic_read(uint32_t reg);
void lapic_write(uint32_t reg, uint32_t v);
unsigned lapic_id(void);
/* Software-enables the local APIC with spurious vector 0xff. */
void lapic_enable(void);
/* Sends an IPI and waits until the APIC has delivered it. */
void lapic_send_ipi(unsigned apic_id, uint32_t icr_lo);

/* ---- spinlock (lock cmpxchg) ---- */
typedef struct spinlock {
    volatile uint32_t locked;
} spinlock_t;
void spin_lock(spinlock_t *l);
void spin_unlock(spinlock_t *l);

#endif
