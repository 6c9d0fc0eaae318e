/*
 * longmode: 64-bit code entered through lib/entry64.S (which built
 * identity page tables with 2 MiB pages from 32-bit code). Checks 64-bit
 * arithmetic, RIP-relative addressing from a second (upper-half) mapping
 * of the same code, 4 KiB / 2 MiB / 1 GiB pages in new page tables, an
 * NX page fault, #GP on a non-canonical address, and SYSRET/SYSCALL
 * round trips through ring 3.
 */
#include "guest.h"

#define PTE_P   0x001ull
#define PTE_RW  0x002ull
#define PTE_US  0x004ull
#define PTE_PS  0x080ull
#define PTE_NX  (1ull << 63)

#define PF_P    0x01u
#define PF_ID   0x10u

/* The upper-half window: PML4[256]. */
#define HI_BASE      0xffff800000000000ull
#define HI_CODE      (HI_BASE + 0x0000)     /* 4 KiB: rip_probe's page */
#define HI_NX        (HI_BASE + 0x1000)     /* 4 KiB: exec_page, NX */
#define HI_EXEC      (HI_BASE + 0x2000)     /* 4 KiB: exec_page */
#define HI_2M        (HI_BASE + 0x200000)   /* 2 MiB page -> 0 */
#define HI_1G        (HI_BASE + 0x40000000) /* 1 GiB page -> 0 */

#define SYS_EXIT   60

extern uint64_t boot_pml4[];
extern const char rip_probe_page[];
uint64_t rip_probe(void);
uint64_t rip_probe_read(void);
void syscall_entry(void);
void __noreturn enter_user(void (*fn)(void), void *stack_top);
void __noreturn syscall_dispatch(uint64_t nr, uint64_t arg, uint64_t rip,
                                 uint64_t rflags);

static uint64_t pml4[512] __attribute__((aligned(4096)));
static uint64_t pdpt_hi[512] __attribute__((aligned(4096)));
static uint64_t pd_hi[512] __attribute__((aligned(4096)));
static uint64_t pt_hi[512] __attribute__((aligned(4096)));
static uint8_t exec_page[4096] __attribute__((aligned(4096)));
static uint8_t ring0_stack[4096] __attribute__((aligned(16)));
static uint8_t user_stack[4096] __attribute__((aligned(16)));

static volatile uint64_t probe = 0x1122334455667788ull;

static uint64_t fnv1a64(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    while (*s) {
        h ^= (uint8_t)*s++;
        h *= 0x100000001b3ull;
    }
    return h;
}

static void test_arithmetic(void)
{
    volatile uint64_t a = 0xfedcba9876543210ull, b = 0x123456789ull;
    uint64_t lo, hi, q, r;

    CHECK(fnv1a64("lemu long mode") == 0x8e7e2649c8f2b031ull,
          "FNV-1a gave 0x%llx", (unsigned long long)fnv1a64("lemu long mode"));
    __asm__("mulq %3" : "=a"(lo), "=d"(hi) : "a"(a), "rm"(b));
    CHECK(hi == 0x121fa00acull && lo == 0xcccccccce1833a90ull,
          "MUL: 0x%llx:%016llx", (unsigned long long)hi,
          (unsigned long long)lo);
    __asm__("divq %4" : "=a"(q), "=d"(r) : "a"(lo), "d"(hi), "rm"(a));
    CHECK(q == b && r == 0, "DIV: q 0x%llx r 0x%llx", (unsigned long long)q,
          (unsigned long long)r);
    CHECK((int64_t)-a >> 4 == 0x00123456789abcdfll &&
          (int64_t)a >> 60 == -1, "SAR");
    CHECK(__builtin_bswap64(a) == 0x1032547698badcfeull, "BSWAP");
    CHECK(__builtin_clzll(b) == 31 && __builtin_ctzll(a) == 4, "BSR/BSF");
    CHECK((a + b) == 0xfedcba9999999999ull && a * 3 == 0xfc962fc962fc9630ull,
          "add/imul");
    printf("64-bit arithmetic: mul, div, shifts, bswap, bit scans ok\n");
}

static void map_upper_half(void)
{
    bool gb_pages = cpu_has_feature_edx(0x80000001, CPUID_80000001_EDX_1GB);

    pml4[0] = boot_pml4[0];             /* keep the identity map */
    pml4[256] = (uintptr_t)pdpt_hi | PTE_P | PTE_RW;
    pdpt_hi[0] = (uintptr_t)pd_hi | PTE_P | PTE_RW;
    pd_hi[0] = (uintptr_t)pt_hi | PTE_P | PTE_RW;
    pt_hi[0] = (uintptr_t)rip_probe_page | PTE_P;
    pt_hi[1] = (uintptr_t)exec_page | PTE_P | PTE_RW | PTE_NX;
    pt_hi[2] = (uintptr_t)exec_page | PTE_P;
    pd_hi[1] = 0 | PTE_PS | PTE_P | PTE_RW;
    if (gb_pages) {
        pdpt_hi[1] = 0 | PTE_PS | PTE_P | PTE_RW;
    } else {
        /* Without 1 GiB pages, map the same GiB with the identity map's
         * 2 MiB page directory. */
        pdpt_hi[1] = ((uint64_t *)(uintptr_t)(boot_pml4[0] & ~0xfffull))[0];
    }
    write_cr3((uintptr_t)pml4);
    /* The output is the same either way, for one expected file. */
    printf("new page tables: 4 KiB and 2 MiB pages and a 1 GiB region in "
           "the upper half\n");
}

static void test_large_pages(void)
{
    /* HI_2M maps physical 0..2 MiB; the kernel image (at 1 MiB) is there. */
    uintptr_t pa = (uintptr_t)&probe;
    CHECK(pa < 0x200000, "probe at 0x%lx is above 2 MiB", (unsigned long)pa);
    volatile uint64_t *via2m = (volatile uint64_t *)(HI_2M + pa);
    volatile uint64_t *via1g = (volatile uint64_t *)(HI_1G + pa);
    CHECK(*via2m == 0x1122334455667788ull, "2 MiB page reads 0x%llx",
          (unsigned long long)*via2m);
    *via1g = 0x8877665544332211ull;
    CHECK(probe == 0x8877665544332211ull && *via2m == probe,
          "write through the 1 GiB mapping was lost");
    printf("2 MiB and 1 GiB pages: aliases of low memory ok\n");
}

static void test_rip_relative(void)
{
    uintptr_t offset = HI_CODE - (uintptr_t)rip_probe_page;
    uint64_t (*probe_high)(void) =
        (uint64_t (*)(void))((uintptr_t)rip_probe + offset);
    uint64_t (*read_high)(void) =
        (uint64_t (*)(void))((uintptr_t)rip_probe_read + offset);

    CHECK(rip_probe() == (uintptr_t)rip_probe, "RIP-relative LEA at the "
          "identity mapping gave 0x%llx", (unsigned long long)rip_probe());
    uint64_t high = probe_high();
    CHECK(high == (uintptr_t)probe_high, "RIP-relative LEA at the upper-half "
          "mapping gave 0x%llx, expected 0x%llx", (unsigned long long)high,
          (unsigned long long)(uintptr_t)probe_high);
    CHECK(rip_probe_read() == 0x0123456789abcdefull &&
          read_high() == 0x0123456789abcdefull, "RIP-relative loads");
    printf("RIP-relative addressing from two mappings of one page ok\n");
}

static void call_at(void *addr)
{
    ((void (*)(void))addr)();
}

static void read_at(void *addr)
{
    (void)*(volatile uint64_t *)addr;
}

static void test_nx_and_canonical(void)
{
    struct fault_info fi;

    CHECK(rdmsr(MSR_EFER) & EFER_NXE, "EFER.NXE is clear (no NX in CPUID?)");
    exec_page[0] = 0xc3;                /* ret */
    CHECK(catch_fault(call_at, (void *)HI_EXEC, &fi) == -1,
          "executing an executable page faulted (vector %u)", fi.vector);
    int v = catch_fault(call_at, (void *)HI_NX, &fi);
    CHECK(v == 14, "executing an NX page: vector %d, expected #PF", v);
    CHECK(fi.cr2 == HI_NX && fi.error == (PF_P | PF_ID),
          "NX #PF: CR2 0x%llx error 0x%llx, expected 0x%llx 0x%x",
          (unsigned long long)fi.cr2, (unsigned long long)fi.error,
          (unsigned long long)HI_NX, PF_P | PF_ID);
    CHECK(catch_fault(read_at, (void *)HI_NX, &fi) == -1,
          "reading an NX page faulted");
    printf("NX: instruction fetch #PF with error code 0x11, reads allowed\n");

    v = catch_fault(read_at, (void *)0x0000800000000000ull, &fi);
    CHECK(v == 13 && fi.error == 0, "non-canonical read: vector %d error "
          "0x%llx, expected #GP 0", v, (unsigned long long)fi.error);
    printf("non-canonical address: #GP(0) ok\n");
}

/* ---- SYSCALL / SYSRET ---- */

struct user_exit_info {
    uint64_t nr, arg, rip, rflags;
    uint16_t handler_cs;        /* CS the SYSCALL handler ran with */
};

static jmp_buf user_exit;
static struct user_exit_info user_exit_info;

void __noreturn syscall_dispatch(uint64_t nr, uint64_t arg, uint64_t rip,
                                 uint64_t rflags)
{
    uint16_t cs;

    __asm__ volatile("mov %%cs, %0" : "=r"(cs));
    user_exit_info = (struct user_exit_info){ nr, arg, rip, rflags, cs };
    if (cs & 3) {
        /* Not in ring 0: a fault is the way back (run_user_checked). */
        __asm__ volatile("hlt");
    }
    longjmp(user_exit, 1);
}

/* The one system call of a ring-3 run: SYS_EXIT with a value. */
static inline void __noreturn sys_exit(uint64_t value)
{
    __asm__ volatile("syscall" : : "a"(SYS_EXIT), "D"(value) : "memory");
    __builtin_unreachable();
}

static void user_report_cs(void)
{
    uint16_t cs;
    __asm__ volatile("mov %%cs, %0" : "=r"(cs));
    sys_exit(cs);
}

static void user_compute(void)
{
    volatile uint64_t x = 0x123456789ull;
    sys_exit(x * 2);
}

static void user_hlt(void)
{
    __asm__ volatile("hlt");
    sys_exit(0);
}

static void run_user(void *fn)
{
    if (setjmp(user_exit) == 0) {
        enter_user((void (*)(void))fn, user_stack + sizeof(user_stack));
    }
}

static uint64_t run_user_checked(void (*fn)(void), unsigned size)
{
    struct fault_info fi;

    memset(&user_exit_info, 0, sizeof(user_exit_info));
    int v = catch_fault(run_user, (void *)fn, &fi);
    if (user_exit_info.handler_cs & 3) {
        /* Seen with PVM: the handler runs at LSTAR but with user CS. */
        skip("the SYSCALL handler ran with CS 0x%x, not the kernel CS 0x%x "
             "from STAR (a hypervisor bug)", user_exit_info.handler_cs,
             SEL_KCODE64);
    }
    CHECK(v == -1, "ring 3 code faulted: vector %d error 0x%llx at %x:%llx",
          v, (unsigned long long)fi.error, fi.cs, (unsigned long long)fi.ip);
    CHECK(user_exit_info.nr == SYS_EXIT, "syscall number %llu",
          (unsigned long long)user_exit_info.nr);
    CHECK(user_exit_info.rip > (uintptr_t)fn &&
          user_exit_info.rip <= (uintptr_t)fn + size,
          "SYSCALL saved RIP 0x%llx, outside the ring-3 function at %p",
          (unsigned long long)user_exit_info.rip, (void *)fn);
    CHECK(user_exit_info.rflags & 0x2, "SYSCALL saved RFLAGS 0x%llx",
          (unsigned long long)user_exit_info.rflags);
    return user_exit_info.arg;
}

static void test_syscall(void)
{
    struct fault_info fi;
    uint64_t v;

    CHECK(cpu_has_feature_edx(0x80000001, CPUID_80000001_EDX_SYSCALL),
          "CPUID has no SYSCALL");
    tss_init((uintptr_t)ring0_stack + sizeof(ring0_stack));
    wrmsr(MSR_STAR, ((uint64_t)(SEL_UCODE32 & ~3) << 48) |
                    ((uint64_t)SEL_KCODE64 << 32));
    wrmsr(MSR_LSTAR, (uintptr_t)syscall_entry);
    wrmsr(MSR_FMASK, 0x700);            /* TF, IF, DF */
    wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SCE);

    v = run_user_checked(user_report_cs, 64);
    CHECK(v == SEL_UCODE64, "ring 3 CS 0x%llx, expected 0x%x",
          (unsigned long long)v, SEL_UCODE64);
    v = run_user_checked(user_compute, 64);
    CHECK(v == 0x2468acf12ull, "ring 3 computed 0x%llx",
          (unsigned long long)v);
    printf("SYSRET to ring 3 (CS 0x%x) and SYSCALL back ok\n", SEL_UCODE64);

    int vec = catch_fault(run_user, (void *)user_hlt, &fi);
    CHECK(vec == 13 && fi.error == 0 && fi.cs == SEL_UCODE64,
          "HLT in ring 3: vector %d error 0x%llx CS 0x%x", vec,
          (unsigned long long)fi.error, fi.cs);
    printf("HLT in ring 3: #GP(0) through the TSS stack ok\n");
}

int guest_main(struct multiboot_info *mbi)
{
    uint16_t cs;

    (void)mbi;
    __asm__ volatile("mov %%cs, %0" : "=r"(cs));
    CHECK(rdmsr(MSR_EFER) & EFER_LMA, "EFER.LMA is clear");
    CHECK(cs == SEL_KCODE64, "CS 0x%x", cs);
    printf("longmode: 64-bit mode (EFER.LMA set, CS 0x%x)\n", cs);
    test_arithmetic();
    map_upper_half();
    test_large_pages();
    test_rip_relative();
    test_nx_and_canonical();
    test_syscall();
    return 0;
}
