/*
 * protected32: paging in 32-bit protected mode, either 32-bit paging with
 * 4 KiB and 4 MiB (PSE) pages or PAE paging with 4 KiB and 2 MiB pages
 * ("paging=legacy" or "paging=pae" on the command line); page faults
 * (not present, write-protect with and without CR0.WP, user access to a
 * supervisor page) checked through CR2 and the error code, #GP error
 * codes, and ring 3 entered through IRET with INT $0x80 back to ring 0.
 */
#include "guest.h"

#define PTE_P   0x001u
#define PTE_RW  0x002u
#define PTE_US  0x004u
#define PTE_A   0x020u
#define PTE_D   0x040u
#define PDE_PS  0x080u

#define PF_P    0x1u
#define PF_W    0x2u
#define PF_U    0x4u

/* Test windows: one page table at 1 GiB, two large pages at 2 GiB. */
#define TEST_VA     0x40000000u
#define VA_RW       (TEST_VA + 0x0000)  /* -> page_a, supervisor RW */
#define VA_RO       (TEST_VA + 0x1000)  /* -> page_a, supervisor RO */
#define VA_ABSENT   (TEST_VA + 0x2000)  /* not present */
#define VA_USER     (TEST_VA + 0x3000)  /* -> page_b, user RW */
#define VA_SUPER    (TEST_VA + 0x4000)  /* -> page_b, supervisor only */
#define VA_REMAP    (TEST_VA + 0x5000)  /* -> page_c, then page_a */
#define BIG_VA_RW   0x80000000u         /* large page -> 0, RW */
#define BIG_VA_RO   (BIG_VA_RW + big_size)  /* large page -> 0, read-only */

#define SYS_EXIT    0
#define SYS_REPORT  1

/*
 * Two paging modes, chosen by "paging=legacy|pae" on the command line:
 * 32-bit paging (1024-entry tables, 4 MiB PSE pages) and PAE paging
 * (4 PDPTEs, 512-entry tables of 64-bit entries, 2 MiB pages). Some
 * hypervisors run only PAE paging, so the tests can pick.
 */
static bool pae;
static uint32_t big_size;

/* legacy */
static uint32_t page_dir[1024] __attribute__((aligned(4096)));
static uint32_t pt_low[1024] __attribute__((aligned(4096)));
static uint32_t pt_test[1024] __attribute__((aligned(4096)));
/* PAE */
static uint64_t pdpt[4] __attribute__((aligned(32)));
static uint64_t pae_pd[4][512] __attribute__((aligned(4096)));
static uint64_t pae_pt_low[2][512] __attribute__((aligned(4096)));
static uint64_t pae_pt_test[512] __attribute__((aligned(4096)));

static uint8_t page_a[4096] __attribute__((aligned(4096)));
static uint8_t page_b[4096] __attribute__((aligned(4096)));
static uint8_t page_c[4096] __attribute__((aligned(4096)));
static uint8_t ring0_stack[4096] __attribute__((aligned(16)));
static uint8_t user_stack[4096] __attribute__((aligned(16)));

static volatile uint32_t pse_probe = 0xfeedf00d;

/* The test window's 4 KiB entries (index = (va - TEST_VA) >> 12). */
static void set_test_pte(uint32_t va, uint32_t pa, uint32_t flags)
{
    unsigned i = (va - TEST_VA) >> 12;
    if (pae) {
        pae_pt_test[i] = pa | flags;
    } else {
        pt_test[i] = pa | flags;
    }
}

static uint32_t test_pte_flags(uint32_t va)
{
    unsigned i = (va - TEST_VA) >> 12;
    return (pae ? (uint32_t)pae_pt_test[i] : pt_test[i]) & 0xfff;
}

static uint32_t big_pde_flags(uint32_t va)
{
    return (pae ? (uint32_t)pae_pd[va >> 30][(va >> 21) & 511]
            : page_dir[va >> 22]) & 0xfff;
}

static void setup_legacy_paging(void)
{
    /* 0-4 MiB: 4 KiB pages, all user-accessible so ring-3 code can run
     * from the kernel image; page 0 stays absent to catch null pointers. */
    for (unsigned i = 1; i < 1024; i++) {
        pt_low[i] = (i << 12) | PTE_P | PTE_RW | PTE_US;
    }
    page_dir[0] = (uint32_t)(uintptr_t)pt_low | PTE_P | PTE_RW | PTE_US;
    /* 4-64 MiB: 4 MiB pages. */
    for (unsigned i = 1; i < 16; i++) {
        page_dir[i] = (i << 22) | PDE_PS | PTE_P | PTE_RW | PTE_US;
    }
    page_dir[TEST_VA >> 22] = (uint32_t)(uintptr_t)pt_test | PTE_P | PTE_RW |
                              PTE_US;
    page_dir[BIG_VA_RW >> 22] = 0 | PDE_PS | PTE_P | PTE_RW;
    page_dir[BIG_VA_RO >> 22] = 0 | PDE_PS | PTE_P;
    write_cr4(read_cr4() | CR4_PSE);
    write_cr3((uintptr_t)page_dir);
}

static void setup_pae_paging(void)
{
    /* PDPTEs have no RW/US bits: those come from the lower levels. */
    for (unsigned i = 0; i < 4; i++) {
        pdpt[i] = (uint32_t)(uintptr_t)pae_pd[i] | PTE_P;
    }
    /* 0-4 MiB: 4 KiB pages (page 0 absent), 4-64 MiB: 2 MiB pages. */
    for (unsigned i = 1; i < 1024; i++) {
        pae_pt_low[i / 512][i % 512] = (i << 12) | PTE_P | PTE_RW | PTE_US;
    }
    for (unsigned i = 0; i < 2; i++) {
        pae_pd[0][i] = (uint32_t)(uintptr_t)pae_pt_low[i] | PTE_P | PTE_RW |
                       PTE_US;
    }
    for (unsigned i = 2; i < 32; i++) {
        pae_pd[0][i] = (i << 21) | PDE_PS | PTE_P | PTE_RW | PTE_US;
    }
    pae_pd[TEST_VA >> 30][(TEST_VA >> 21) & 511] =
        (uint32_t)(uintptr_t)pae_pt_test | PTE_P | PTE_RW | PTE_US;
    pae_pd[BIG_VA_RW >> 30][(BIG_VA_RW >> 21) & 511] =
        PDE_PS | PTE_P | PTE_RW;
    pae_pd[BIG_VA_RO >> 30][(BIG_VA_RO >> 21) & 511] = PDE_PS | PTE_P;
    write_cr4(read_cr4() | CR4_PAE);
    write_cr3((uintptr_t)pdpt);
}

static void enable_paging(void *unused)
{
    (void)unused;
    write_cr0(read_cr0() | CR0_PG);
}

static void setup_paging(void)
{
    uint32_t a = (uint32_t)(uintptr_t)page_a, b = (uint32_t)(uintptr_t)page_b;

    big_size = pae ? 0x200000 : 0x400000;
    set_test_pte(VA_RW, a, PTE_P | PTE_RW);
    set_test_pte(VA_RO, a, PTE_P);
    set_test_pte(VA_USER, b, PTE_P | PTE_RW | PTE_US);
    set_test_pte(VA_SUPER, b, PTE_P | PTE_RW);
    set_test_pte(VA_REMAP, (uint32_t)(uintptr_t)page_c, PTE_P | PTE_RW);
    if (pae) {
        setup_pae_paging();
    } else {
        setup_legacy_paging();
    }
    struct fault_info fi;
    if (catch_fault(enable_paging, NULL, &fi) == 13) {
        skip("CR0.PG raised #GP in 32-bit protected mode (a hypervisor "
             "that runs no 32-bit paging?)");
    }
    write_cr0(read_cr0() | CR0_WP);
}

static void read_u32(void *p)
{
    (void)*(volatile uint32_t *)p;
}

static void write_u32(void *p)
{
    *(volatile uint32_t *)p = 0x11223344;
}

static void expect_pf(void (*fn)(void *), uint32_t va, uint32_t err,
                      const char *what)
{
    struct fault_info fi;
    int v = catch_fault(fn, (void *)(uintptr_t)va, &fi);
    CHECK(v == 14, "%s: got vector %d, expected #PF", what, v);
    CHECK(fi.cr2 == va, "%s: CR2 0x%lx, expected 0x%x", what,
          (unsigned long)fi.cr2, va);
    CHECK(fi.error == err, "%s: error code 0x%lx, expected 0x%x", what,
          (unsigned long)fi.error, err);
    printf("#PF %s: CR2 and error code 0x%x ok\n", what, err);
}

static void test_mappings(void)
{
    volatile uint32_t *rw = (volatile uint32_t *)VA_RW;
    volatile uint32_t *ro = (volatile uint32_t *)VA_RO;

    *rw = 0xcafe0001;
    CHECK(*ro == 0xcafe0001 && *(volatile uint32_t *)page_a == 0xcafe0001,
          "two 4 KiB mappings of one page disagree");
    CHECK((test_pte_flags(VA_RW) & (PTE_A | PTE_D)) == (PTE_A | PTE_D),
          "written PTE lacks accessed/dirty: 0x%x", test_pte_flags(VA_RW));
    CHECK((test_pte_flags(VA_RO) & (PTE_A | PTE_D)) == PTE_A,
          "read-only PTE: accessed/dirty 0x%x, expected accessed only",
          test_pte_flags(VA_RO) & (PTE_A | PTE_D));
    printf("4 KiB pages: aliases and accessed/dirty bits ok\n");

    volatile uint32_t *big = (volatile uint32_t *)(BIG_VA_RW +
                                                   (uintptr_t)&pse_probe);
    CHECK(*big == 0xfeedf00d, "large page reads 0x%x", *big);
    *big = 0x600df00d;
    CHECK(pse_probe == 0x600df00d, "write through a large page was lost");
    CHECK(big_pde_flags(BIG_VA_RW) & PTE_D, "large-page PDE not dirty");
    printf("%s pages: alias read/write and dirty bit ok\n",
           pae ? "2 MiB" : "4 MiB");

    *(volatile uint32_t *)page_c = 0xc0c0c0c0;
    CHECK(*(volatile uint32_t *)VA_REMAP == 0xc0c0c0c0, "page_c mapping");
    set_test_pte(VA_REMAP, (uint32_t)(uintptr_t)page_a, PTE_P | PTE_RW);
    invlpg(VA_REMAP);
    CHECK(*(volatile uint32_t *)VA_REMAP == 0xcafe0001,
          "after remap and invlpg: 0x%x", *(volatile uint32_t *)VA_REMAP);
    printf("invlpg after changing a PTE ok\n");
}

static void test_page_faults(void)
{
    expect_pf(read_u32, VA_ABSENT, 0, "read, not present");
    expect_pf(write_u32, VA_ABSENT, PF_W, "write, not present");
    expect_pf(read_u32, 0x10, 0, "null pointer read");
    expect_pf(write_u32, VA_RO, PF_P | PF_W, "write to read-only 4 KiB page");
    expect_pf(write_u32, BIG_VA_RO + 0x100000, PF_P | PF_W,
              pae ? "write to read-only 2 MiB page"
              : "write to read-only 4 MiB page");

    /* Without CR0.WP, ring 0 writes read-only pages. */
    write_cr0(read_cr0() & ~CR0_WP);
    struct fault_info fi;
    int v = catch_fault(write_u32, (void *)VA_RO, &fi);
    write_cr0(read_cr0() | CR0_WP);
    CHECK(v == -1, "CR0.WP=0: supervisor write faulted with vector %d", v);
    CHECK(*(volatile uint32_t *)VA_RW == 0x11223344,
          "CR0.WP=0: the write did not land");
    printf("CR0.WP=0: ring-0 write to a read-only page ok\n");
}

static void load_ds(void *sel)
{
    __asm__ volatile("mov %0, %%ds" : : "r"((uint32_t)(uintptr_t)sel));
}

static void load_ss(void *sel)
{
    __asm__ volatile("mov %0, %%ss" : : "r"((uint32_t)(uintptr_t)sel));
}

static void test_gp(void)
{
    struct fault_info fi;
    int v = catch_fault(load_ds, (void *)0x1f8, &fi);
    __asm__ volatile("mov %0, %%ds" : : "r"((uint32_t)SEL_KDATA));
    CHECK(v == 13 && fi.error == 0x1f8, "selector past the GDT limit: "
          "vector %d error 0x%lx, expected #GP 0x1f8", v,
          (unsigned long)fi.error);
    printf("#GP: selector beyond the GDT limit, error code 0x1f8 ok\n");

    v = catch_fault(load_ss, (void *)SEL_KCODE32, &fi);
    CHECK(v == 13 && fi.error == SEL_KCODE32, "code selector into SS: "
          "vector %d error 0x%lx, expected #GP 0x%x", v,
          (unsigned long)fi.error, SEL_KCODE32);
    printf("#GP: code segment loaded into SS, error code 0x%x ok\n",
           SEL_KCODE32);
}

/* ---- ring 3 ---- */

static jmp_buf user_exit;
static volatile uint32_t user_reports[4];
static volatile unsigned user_nr_reports;

static void syscall_handler(struct int_frame *f)
{
    if (f->eax == SYS_REPORT) {
        if (user_nr_reports < ARRAY_SIZE(user_reports)) {
            user_reports[user_nr_reports++] = f->ebx;
        }
        return;
    }
    longjmp(user_exit, 1);          /* SYS_EXIT */
}

static inline void sys_call(uint32_t nr, uint32_t arg)
{
    __asm__ volatile("int $0x80" : : "a"(nr), "b"(arg) : "memory");
}

static void __noreturn enter_user(void (*fn)(void))
{
    __asm__ volatile(
        "mov %0, %%ds\n\t"
        "mov %0, %%es\n\t"
        "push %0\n\t"               /* SS */
        "push %1\n\t"               /* ESP */
        "pushf\n\t"
        "push %2\n\t"               /* CS */
        "push %3\n\t"               /* EIP */
        "iret"
        : : "r"((uint32_t)SEL_UDATA),
            "r"((uint32_t)(uintptr_t)(user_stack + sizeof(user_stack))),
            "i"(SEL_UCODE32), "r"(fn)
        : "memory");
    __builtin_unreachable();
}

/* Runs fn in ring 3 until it makes SYS_EXIT (or faults: catch_fault). */
static void run_user(void *fn)
{
    if (setjmp(user_exit) == 0) {
        enter_user((void (*)(void))fn);
    }
    __asm__ volatile("mov %0, %%ds; mov %0, %%es"
                     : : "r"((uint32_t)SEL_KDATA));
}

static void user_good(void)
{
    uint32_t cs;
    __asm__ volatile("mov %%cs, %0" : "=r"(cs));
    sys_call(SYS_REPORT, cs & 3);
    *(volatile uint32_t *)VA_USER = 0x05e70003;
    sys_call(SYS_REPORT, *(volatile uint32_t *)VA_USER);
    sys_call(SYS_EXIT, 0);
}

static void user_read_supervisor(void)
{
    (void)*(volatile uint32_t *)VA_SUPER;
    sys_call(SYS_EXIT, 0);
}

static void user_cli(void)
{
    __asm__ volatile("cli");
    sys_call(SYS_EXIT, 0);
}

static void user_int_dpl0(void)
{
    __asm__ volatile("int $0x81");
    sys_call(SYS_EXIT, 0);
}

static void user_port_io(void)
{
    (void)inb(0x80);
    sys_call(SYS_EXIT, 0);
}

static void expect_user_fault(void (*fn)(void), unsigned vector,
                              uint32_t err, const char *what)
{
    struct fault_info fi;
    int v = catch_fault(run_user, (void *)fn, &fi);
    CHECK(v == (int)vector, "ring 3 %s: vector %d, expected %u", what, v,
          vector);
    CHECK(fi.error == err, "ring 3 %s: error code 0x%lx, expected 0x%x",
          what, (unsigned long)fi.error, err);
    CHECK(fi.cs == SEL_UCODE32, "ring 3 %s: faulting CS 0x%x", what, fi.cs);
    if (vector == 14) {
        CHECK(fi.cr2 == VA_SUPER, "ring 3 %s: CR2 0x%lx", what,
              (unsigned long)fi.cr2);
    }
    printf("ring 3: %s -> %s error code 0x%x ok\n", what,
           vector == 14 ? "#PF" : "#GP", err);
}

static void test_ring3(void)
{
    struct fault_info fi;

    tss_init((uintptr_t)ring0_stack + sizeof(ring0_stack));
    idt_set_handler(0x80, syscall_handler);
    idt_set_dpl(0x80, 3);

    int v = catch_fault(run_user, (void *)user_good, &fi);
    CHECK(v == -1, "ring 3 code faulted: vector %d error 0x%lx at 0x%lx", v,
          (unsigned long)fi.error, (unsigned long)fi.ip);
    CHECK(user_nr_reports == 2 && user_reports[0] == 3 &&
          user_reports[1] == 0x05e70003,
          "ring 3 reports: %u, CPL %u, value 0x%x", user_nr_reports,
          user_reports[0], user_reports[1]);
    printf("ring 3: entered with IRET (CPL 3), INT $0x80 back to ring 0 ok\n");

    expect_user_fault(user_read_supervisor, 14, PF_P | PF_U,
                      "read of a supervisor page");
    expect_user_fault(user_cli, 13, 0, "CLI with IOPL 0");
    expect_user_fault(user_port_io, 13, 0, "port I/O without permission");
    expect_user_fault(user_int_dpl0, 13, (0x81 << 3) | 2,
                      "INT to a DPL 0 gate");
}

int guest_main(struct multiboot_info *mbi)
{
    pae = cmdline_has(mbi, "paging=pae");
    printf("protected32: 32-bit protected mode, enabling %s paging\n",
           pae ? "PAE" : "32-bit");
    setup_paging();
    CHECK(read_cr3() == (pae ? (uintptr_t)pdpt : (uintptr_t)page_dir),
          "CR3 read back");
    printf("paging on: 4 KiB pages below 4 MiB, %s pages above\n",
           pae ? "2 MiB" : "4 MiB");
    test_mappings();
    test_page_faults();
    test_gp();
    test_ring3();
    return 0;
}
