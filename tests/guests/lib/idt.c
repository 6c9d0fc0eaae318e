/*
 * IDT for 32-bit protected mode and 64-bit long mode, the dispatcher the
 * entry stubs in int.S call, catch_fault(), and the TSS.
 */
#include "guest.h"

#define GATE_INTERRUPT 0x8e   /* present, DPL 0, 32/64-bit interrupt gate */

#ifdef __x86_64__
struct idt_gate {
    uint16_t offset_lo;
    uint16_t selector;
    uint8_t ist;
    uint8_t type;
    uint16_t offset_mid;
    uint32_t offset_hi;
    uint32_t reserved;
} __attribute__((packed));
#define KERNEL_CS SEL_KCODE64
#else
struct idt_gate {
    uint16_t offset_lo;
    uint16_t selector;
    uint8_t zero;
    uint8_t type;
    uint16_t offset_hi;
} __attribute__((packed));
#define KERNEL_CS SEL_KCODE32
#endif

struct table_desc {
    uint16_t limit;
    uintptr_t base;
} __attribute__((packed));

extern const char int_stubs[];
extern uint64_t gdt[];

static struct idt_gate idt[256] __attribute__((aligned(16)));
static int_handler_fn handlers[256];

/* catch_fault() state: where to go back to, and what to fill in. */
static jmp_buf *volatile catch_env;
static struct fault_info *volatile catch_info;

static const char *const exception_names[32] = {
    "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM",
    "#DF", "CSO", "#TS", "#NP", "#SS", "#GP", "#PF", "(15)",
    "#MF", "#AC", "#MC", "#XM", "#VE", "#CP", "(22)", "(23)",
    "(24)", "(25)", "(26)", "(27)", "#HV", "#VC", "#SX", "(31)",
};

void idt_load(void)
{
    struct table_desc d = { sizeof(idt) - 1, (uintptr_t)idt };
    __asm__ volatile("lidt %0" : : "m"(d));
}

void idt_init(void)
{
    for (unsigned v = 0; v < 256; v++) {
        uintptr_t addr = (uintptr_t)int_stubs + 16 * v;
        struct idt_gate *g = &idt[v];
        memset(g, 0, sizeof(*g));
        g->offset_lo = (uint16_t)addr;
        g->selector = KERNEL_CS;
        g->type = GATE_INTERRUPT;
#ifdef __x86_64__
        g->offset_mid = (uint16_t)(addr >> 16);
        g->offset_hi = (uint32_t)(addr >> 32);
#else
        g->offset_hi = (uint16_t)(addr >> 16);
#endif
    }
    idt_load();
}

void idt_set_handler(unsigned vector, int_handler_fn fn)
{
    if (vector < 256) {
        handlers[vector] = fn;
    }
}

void idt_set_dpl(unsigned vector, unsigned dpl)
{
    if (vector < 256) {
        idt[vector].type = (uint8_t)((idt[vector].type & ~0x60) |
                                     ((dpl & 3) << 5));
    }
}

void interrupt_dispatch(struct int_frame *f);

void interrupt_dispatch(struct int_frame *f)
{
    unsigned v = (unsigned)f->vector;

    if (handlers[v]) {
        handlers[v](f);
        return;
    }
    if (v < 32 && catch_env) {
        jmp_buf *env = catch_env;
        catch_info->vector = v;
        catch_info->error = f->error;
        catch_info->ip = f->ip;
        catch_info->cs = (uint16_t)f->cs;
        catch_info->cr2 = v == 14 ? read_cr2() : 0;
        catch_env = NULL;
        longjmp(*env, (int)v + 1);
    }
    if (v == 0xff) {
        return;     /* local APIC spurious interrupt: no EOI */
    }
    if (v < 32) {
        printf("EXCEPTION %s (vector %u) error 0x%lx at %x:%lx", 
               exception_names[v], v, (unsigned long)f->error,
               (unsigned)f->cs, (unsigned long)f->ip);
        if (v == 14) {
            printf(" CR2 0x%lx", (unsigned long)read_cr2());
        }
        printf("\n");
        fail("unexpected exception");
    }
    fail("unexpected interrupt, vector %u", v);
}

int catch_fault(void (*fn)(void *), void *arg, struct fault_info *info)
{
    jmp_buf env;
    jmp_buf *volatile saved_env = catch_env;
    struct fault_info *volatile saved_info = catch_info;
    int r;

    memset(info, 0, sizeof(*info));
    catch_info = info;
    catch_env = &env;
    r = setjmp(env);
    if (r == 0) {
        fn(arg);
        r = -1;
    } else {
        r -= 1;
    }
    catch_env = saved_env;
    catch_info = saved_info;
    return r;
}

/* ---- TSS ---- */

#ifdef __x86_64__
struct tss {
    uint32_t reserved0;
    uint64_t rsp[3];
    uint64_t reserved1;
    uint64_t ist[7];
    uint64_t reserved2;
    uint16_t reserved3;
    uint16_t iomap_base;
} __attribute__((packed));
#else
struct tss {
    uint16_t link, r0;
    uint32_t esp0;
    uint16_t ss0, r1;
    uint32_t esp1;
    uint16_t ss1, r2;
    uint32_t esp2;
    uint16_t ss2, r3;
    uint32_t cr3, eip, eflags, eax, ecx, edx, ebx, esp, ebp, esi, edi;
    uint16_t es, r4, cs, r5, ss, r6, ds, r7, fs, r8, gs, r9, ldt, r10;
    uint16_t trap, iomap_base;
} __attribute__((packed));
#endif

static struct tss tss __attribute__((aligned(16)));

void tss_init(uintptr_t kernel_stack_top)
{
    uintptr_t base = (uintptr_t)&tss;
    uint32_t limit = sizeof(tss) - 1;
    unsigned slot = SEL_TSS / 8;

    memset(&tss, 0, sizeof(tss));
#ifdef __x86_64__
    tss.rsp[0] = kernel_stack_top;
#else
    tss.esp0 = kernel_stack_top;
    tss.ss0 = SEL_KDATA;
#endif
    /* No I/O permission bitmap: ring-3 port I/O raises #GP. */
    tss.iomap_base = sizeof(tss);

    /* Available TSS (type 9), present, DPL 0; rewriting it also clears the
     * busy bit a previous LTR set. */
    gdt[slot] = (limit & 0xffff) | ((uint64_t)(base & 0xffffff) << 16) |
                (0x89ull << 40) | ((uint64_t)(limit >> 16) << 48) |
                ((uint64_t)((base >> 24) & 0xff) << 56);
#ifdef __x86_64__
    gdt[slot + 1] = base >> 32;
#else
    gdt[slot + 1] = 0;
#endif
    __asm__ volatile("ltr %w0" : : "r"((uint16_t)SEL_TSS) : "memory");
}
