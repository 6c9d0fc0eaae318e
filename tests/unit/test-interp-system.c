/*
 * System instructions and the CPU model of the interpreter
 * (accel/interp/ops-system.c, cpuid.c, msr.c): privilege checks, the way
 * into long mode and its #GP cases, SYSCALL/SYSRET, SYSENTER/SYSEXIT,
 * CPUID, MSRs, port I/O with the TSS permission bitmap, the TSC.
 */
#include <string.h>
#include <glib.h>
#include "fixture.h"
#include "interp-harness.h"
#include "accel/interp/cpu.h"
#include "lemu/hw/intc/apic.h"
#include "lemu/hw/qdev.h"
#include "lemu/system/machine.h"
#include "lemu/util/main-loop.h"

#define P   0x1ULL
#define W   0x2ULL
#define U   0x4ULL
#define PS  0x80ULL

#define MSR_EFER        0xc0000080u
#define MSR_STAR        0xc0000081u
#define MSR_LSTAR       0xc0000082u
#define MSR_SFMASK      0xc0000084u
#define MSR_KGS_BASE    0xc0000102u

static uint64_t rd64_phys(InterpHarness *h, uint64_t gpa)
{
    uint64_t v;

    memcpy(&v, h->ram + gpa, 8);
    return v;
}

static void wr64_phys(InterpHarness *h, uint64_t gpa, uint64_t v)
{
    ih_load(h, gpa, &v, 8);
}

/* Long mode, identity map of 1 GiB that CPL 3 may use too. */
static InterpHarness *new_long(void)
{
    InterpHarness *h = ih_new();

    ih_mode_long(h, IH_CODE);
    wr64_phys(h, IH_PML4, IH_PDPT | P | W | U);
    wr64_phys(h, IH_PDPT, IH_PD | P | W | U);
    for (uint64_t i = 0; i < 512; i++) {
        wr64_phys(h, IH_PD + i * 8, (i << 21) | P | W | U | PS);
    }
    return h;
}

static InterpHarness *new_flat32(void)
{
    InterpHarness *h = ih_new();

    ih_mode_flat32(h, IH_CODE);
    return h;
}

static void enter_user(InterpHarness *h, bool long_mode)
{
    X86Segment code = h->st.segs[SEG_CS], data = h->st.segs[SEG_SS];

    code.selector = long_mode ? IH_SEL_UCODE : IH_SEL_UCODE32;
    code.dpl = 3;
    data.selector = IH_SEL_UDATA;
    data.dpl = 3;
    h->st.segs[SEG_CS] = code;
    for (int s = 0; s < X86_NR_SEGS; s++) {
        if (s != SEG_CS) {
            h->st.segs[s] = data;
        }
    }
}

static InterpExit run_blob(InterpHarness *h, const uint8_t *start,
                           const uint8_t *end)
{
    ih_load(h, IH_CODE, start, end - start);
    h->st.rip = IH_CODE;
    return ih_run(h, 100000);
}
#define RUN(h, name) run_blob(h, name, name##_end)

static void assert_exception(InterpHarness *h, InterpExit r, int vector,
                             int64_t ec)
{
    g_assert_cmpint(r, ==, INTERP_EXIT_EXCEPTION);
    g_assert_cmpint(h->vector, ==, vector);
    g_assert_cmpint(h->error_code, ==, ec);
}

/* ---- privilege checks ---------------------------------------------------- */

INTERP_TEST_CODE(p_hlt, 64, "hlt\n");
INTERP_TEST_CODE(p_cli, 64, "cli\n");
INTERP_TEST_CODE(p_sti, 64, "sti\n");
INTERP_TEST_CODE(p_rdcr0, 64, "mov %cr0, %rax\n");
INTERP_TEST_CODE(p_wrcr3, 64, "mov %rax, %cr3\n");
INTERP_TEST_CODE(p_rddr7, 64, "mov %dr7, %rax\n");
INTERP_TEST_CODE(p_rdmsr, 64, "rdmsr\n");
INTERP_TEST_CODE(p_wrmsr, 64, "wrmsr\n");
INTERP_TEST_CODE(p_wbinvd, 64, "wbinvd\n");
INTERP_TEST_CODE(p_invd, 64, "invd\n");
INTERP_TEST_CODE(p_clts, 64, "clts\n");
INTERP_TEST_CODE(p_lgdt, 64, "lgdt (%rbx)\n");
INTERP_TEST_CODE(p_lidt, 64, "lidt (%rbx)\n");
INTERP_TEST_CODE(p_invlpg, 64, "invlpg (%rbx)\n");
INTERP_TEST_CODE(p_swapgs, 64, "swapgs\n");
INTERP_TEST_CODE(p_rdpmc, 64, "rdpmc\n");
INTERP_TEST_CODE(p_lmsw, 64, "lmsw %ax\n");
INTERP_TEST_CODE(p_sysret, 64, "sysretq\n");
INTERP_TEST_CODE(p_sysexit, 64, "sysexit\n");
INTERP_TEST_CODE(p_in, 64, "in $0x80, %al\n");
INTERP_TEST_CODE(p_out, 64, "out %al, (%dx)\n");
INTERP_TEST_CODE(p_insb, 64, "insb\n");
/* Allowed at CPL 3 (no UMIP): ud2 after them. */
INTERP_TEST_CODE(p_sgdt, 64, "sgdt (%rbx)\n ud2\n");
INTERP_TEST_CODE(p_smsw, 64, "smsw %rax\n ud2\n");
INTERP_TEST_CODE(p_rdtsc, 64, "rdtsc\n ud2\n");
INTERP_TEST_CODE(p_cpuid, 64, "cpuid\n ud2\n");

typedef struct Blob {
    const uint8_t *start, *end;
    const char *name;
} Blob;
#define BLOB(n) { n, n##_end, #n }

/* A TSS at 0x9000 whose I/O bitmap lies beyond its limit. */
static void set_tss_without_bitmap(InterpHarness *h)
{
    uint16_t iomap = 0x68;

    ih_load(h, 0x9000 + 0x66, &iomap, 2);
    h->st.tr = (X86Segment) {
        .base = 0x9000, .limit = 0x67, .type = 0xb, .present = 1,
        .selector = IH_SEL_TSS,
    };
}

static void test_cpl3_gp(void)
{
    static const Blob blobs[] = {
        BLOB(p_hlt), BLOB(p_cli), BLOB(p_sti), BLOB(p_rdcr0),
        BLOB(p_wrcr3), BLOB(p_rddr7), BLOB(p_rdmsr), BLOB(p_wrmsr),
        BLOB(p_wbinvd), BLOB(p_invd), BLOB(p_clts), BLOB(p_lgdt),
        BLOB(p_lidt), BLOB(p_invlpg), BLOB(p_swapgs), BLOB(p_rdpmc),
        BLOB(p_lmsw), BLOB(p_sysret), BLOB(p_sysexit), BLOB(p_in),
        BLOB(p_out), BLOB(p_insb),
    };

    for (size_t i = 0; i < G_N_ELEMENTS(blobs); i++) {
        InterpHarness *h = new_long();
        InterpExit r;

        if (g_test_verbose()) {
            g_test_message("%s", blobs[i].name);
        }
        enter_user(h, true);
        set_tss_without_bitmap(h);
        h->st.efer |= EFER_SCE;
        h->st.regs[R_EBX] = IH_DATA;
        h->st.regs[R_ECX] = 0x10;          /* an MSR that exists: STAR-ish */
        h->st.regs[R_EDX] = 0x80;
        h->st.regs[R_EDI] = IH_DATA;
        r = run_blob(h, blobs[i].start, blobs[i].end);
        assert_exception(h, r, EXCP_GP, 0);
        g_assert_cmphex(h->st.rip, ==, IH_CODE);
        ih_free(h);
    }
}

static void test_cpl3_allowed(void)
{
    static const Blob blobs[] = {
        BLOB(p_sgdt), BLOB(p_smsw), BLOB(p_rdtsc), BLOB(p_cpuid),
    };

    for (size_t i = 0; i < G_N_ELEMENTS(blobs); i++) {
        InterpHarness *h = new_long();
        InterpExit r;

        enter_user(h, true);
        h->st.regs[R_EBX] = IH_DATA;
        r = run_blob(h, blobs[i].start, blobs[i].end);
        assert_exception(h, r, EXCP_UD, -1);
        g_assert_cmphex(h->st.rip, ==,
                        IH_CODE + (blobs[i].end - blobs[i].start) - 2);
        ih_free(h);
    }
}

/* IOPL 3 lets CPL 3 use CLI/STI and every port. */
INTERP_TEST_CODE(iopl3_code, 64, "cli\n sti\n in $0x99, %al\n ud2\n");

static void test_iopl(void)
{
    InterpHarness *h = new_long();
    InterpExit r;

    enter_user(h, true);
    set_tss_without_bitmap(h);
    h->st.rflags |= RFLAGS_IOPL | RFLAGS_IF;
    r = RUN(h, iopl3_code);
    assert_exception(h, r, EXCP_UD, -1);
    g_assert_cmphex(h->st.regs[R_EAX] & 0xff, ==, 0xff);
    g_assert_true(h->st.rflags & RFLAGS_IF);
    ih_free(h);
}

/* POPF at CPL 3 with IOPL 0 changes neither IF nor IOPL, silently. */
INTERP_TEST_CODE(popf_code, 64,
    "pushfq\n"
    "orq $0x3000, (%rsp)\n"          /* IOPL 3 */
    "andq $~0x200, (%rsp)\n"         /* IF 0 */
    "orq $0x0401, (%rsp)\n"          /* DF, CF */
    "popfq\n"
    "pushfq\n"
    "pop %rbx\n"
    "cld\n"
    "ud2\n");

static void test_popf(void)
{
    InterpHarness *h = new_long();
    InterpExit r;

    enter_user(h, true);
    h->st.rflags |= RFLAGS_IF;
    r = RUN(h, popf_code);
    assert_exception(h, r, EXCP_UD, -1);
    g_assert_cmphex(h->st.regs[R_EBX] & (RFLAGS_IOPL | RFLAGS_IF), ==,
                    RFLAGS_IF);
    g_assert_cmphex(h->st.regs[R_EBX] & (RFLAGS_DF | RFLAGS_CF), ==,
                    RFLAGS_DF | RFLAGS_CF);
    ih_free(h);

    /* At CPL 0 both change. */
    h = new_long();
    h->st.rflags |= RFLAGS_IF;
    r = RUN(h, popf_code);
    assert_exception(h, r, EXCP_UD, -1);
    g_assert_cmphex(h->st.regs[R_EBX] & (RFLAGS_IOPL | RFLAGS_IF), ==,
                    RFLAGS_IOPL);
    ih_free(h);
}

/* ---- control registers and the way into long mode ------------------------ */

INTERP_TEST_CODE(enter_lm, 32,
    "mov %cr4, %eax\n or $0x20, %eax\n mov %eax, %cr4\n"
    "mov $0x1000, %eax\n mov %eax, %cr3\n"
    "mov $0xc0000080, %ecx\n rdmsr\n or $0x100, %eax\n wrmsr\n"
    "mov %cr0, %eax\n or $0x80000000, %eax\n mov %eax, %cr0\n"
    "ljmp $0x10, $(0x100000 + 1f - enter_lm)\n"
    ".code64\n"
    "1: movabs $0x123456789a, %rax\n"
    "hlt\n");

static void test_enter_long_mode(void)
{
    InterpHarness *h = new_long();     /* for the page tables */
    InterpExit r;

    ih_mode_flat32(h, IH_CODE);
    ih_write_gdt(h, true);             /* 0x10 is 64-bit code in memory */
    r = RUN(h, enter_lm);
    g_assert_cmpint(r, ==, INTERP_EXIT_HLT);
    g_assert_cmphex(h->st.efer & (EFER_LME | EFER_LMA), ==,
                    EFER_LME | EFER_LMA);
    g_assert_true(h->st.cr0 & CR0_PG);
    g_assert_cmpint(h->st.segs[SEG_CS].l, ==, 1);
    g_assert_cmphex(h->st.regs[R_EAX], ==, 0x123456789aULL);
    ih_free(h);
}

INTERP_TEST_CODE(pg_no_pae, 32,
    "mov $0xc0000080, %ecx\n rdmsr\n or $0x100, %eax\n wrmsr\n"
    "mov %cr0, %eax\n or $0x80000000, %eax\n mov %eax, %cr0\n hlt\n");
INTERP_TEST_CODE(pg_no_pe, 32, "mov $0x80000010, %eax\n mov %eax, %cr0\n");
INTERP_TEST_CODE(nw_no_cd, 32, "mov $0x20000011, %eax\n mov %eax, %cr0\n");
INTERP_TEST_CODE(cr4_vmxe, 32,
    "mov %cr4, %eax\n or $0x2000, %eax\n mov %eax, %cr4\n");
INTERP_TEST_CODE(lme_paging, 32,
    "mov $0xc0000080, %ecx\n rdmsr\n or $0x100, %eax\n wrmsr\n");
INTERP_TEST_CODE(clr_pae, 64,
    "mov %cr4, %rax\n and $~0x20, %rax\n mov %rax, %cr4\n");
INTERP_TEST_CODE(clr_pg, 64,
    "mov %cr0, %rax\n btr $31, %rax\n mov %rax, %cr0\n");
INTERP_TEST_CODE(cr3_rsvd, 64,
    "movabs $0x10000000001000, %rax\n mov %rax, %cr3\n");
INTERP_TEST_CODE(cr8_rsvd, 64, "mov $0x10, %rax\n mov %rax, %cr8\n");
INTERP_TEST_CODE(cr8_ok, 64, "mov $0x9, %rax\n mov %rax, %cr8\n"
                 "mov %cr8, %rbx\n hlt\n");

static void test_control_register_faults(void)
{
    InterpHarness *h;
    InterpExit r;

    /* CR0.PG with EFER.LME but no CR4.PAE. */
    h = new_flat32();
    r = RUN(h, pg_no_pae);
    assert_exception(h, r, EXCP_GP, 0);
    g_assert_false(h->st.cr0 & CR0_PG);
    g_assert_false(h->st.efer & EFER_LMA);
    g_assert_true(h->st.efer & EFER_LME);
    ih_free(h);

    h = new_flat32();
    r = RUN(h, pg_no_pe);
    assert_exception(h, r, EXCP_GP, 0);
    ih_free(h);

    h = new_flat32();
    r = RUN(h, nw_no_cd);
    assert_exception(h, r, EXCP_GP, 0);
    ih_free(h);

    h = new_flat32();
    r = RUN(h, cr4_vmxe);
    assert_exception(h, r, EXCP_GP, 0);
    ih_free(h);

    /* EFER.LME does not change with paging on (32-bit paging here). */
    h = new_flat32();
    for (uint32_t i = 0; i < 4; i++) {
        uint32_t pde = (i << 22) | P | W | PS;

        ih_load(h, 0x6000 + i * 4, &pde, 4);
    }
    h->st.cr3 = 0x6000;
    h->st.cr4 |= CR4_PSE;
    h->st.cr0 |= CR0_PG;
    r = RUN(h, lme_paging);
    assert_exception(h, r, EXCP_GP, 0);
    g_assert_false(h->st.efer & EFER_LME);
    ih_free(h);

    /* In long mode: PAE and PG stay, CR3 bits above MAXPHYADDR, CR8. */
    h = new_long();
    r = RUN(h, clr_pae);
    assert_exception(h, r, EXCP_GP, 0);
    g_assert_true(h->st.cr4 & CR4_PAE);
    ih_free(h);

    h = new_long();
    r = RUN(h, clr_pg);
    assert_exception(h, r, EXCP_GP, 0);
    ih_free(h);

    h = new_long();
    r = RUN(h, cr3_rsvd);
    assert_exception(h, r, EXCP_GP, 0);
    g_assert_cmphex(h->st.cr3, ==, IH_PML4);
    ih_free(h);

    h = new_long();
    r = RUN(h, cr8_rsvd);
    assert_exception(h, r, EXCP_GP, 0);
    ih_free(h);

    h = new_long();
    r = RUN(h, cr8_ok);
    g_assert_cmpint(r, ==, INTERP_EXIT_HLT);
    g_assert_cmphex(h->st.regs[R_EBX], ==, 9);
    ih_free(h);
}

/* PAE paging refuses PDPTEs with reserved bits at MOV CR3. */
INTERP_TEST_CODE(pae_bad_pdpte, 32, "mov %eax, %cr3\n hlt\n");

static void test_pae_pdptes(void)
{
    InterpHarness *h = new_flat32();
    InterpExit r;

    wr64_phys(h, 0x8000, 0x9000 | P);
    for (uint64_t i = 0; i < 8; i++) {
        wr64_phys(h, 0x9000 + i * 8, (i << 21) | P | W | PS);
    }
    wr64_phys(h, 0xa000, 0x9000 | P | W);   /* W is reserved in a PDPTE */
    h->st.cr3 = 0x8000;
    h->st.cr4 |= CR4_PAE;
    h->st.cr0 |= CR0_PG;
    h->st.regs[R_EAX] = 0xa000;
    r = RUN(h, pae_bad_pdpte);
    assert_exception(h, r, EXCP_GP, 0);
    g_assert_cmphex(h->st.cr3, ==, 0x8000);
    ih_free(h);
}

/* Debug registers: DR4/DR5 alias DR6/DR7 without CR4.DE, #UD with it. */
INTERP_TEST_CODE(dr_code, 64,
    "mov $0x3, %rax\n mov %rax, %dr7\n"
    "mov %dr5, %rbx\n"
    "mov %dr4, %rcx\n"
    "mov $0x1234, %rax\n mov %rax, %dr0\n mov %dr0, %rdx\n"
    "hlt\n");
INTERP_TEST_CODE(dr4_de, 64, "mov %dr4, %rax\n");

static void test_debug_registers(void)
{
    InterpHarness *h = new_long();
    InterpExit r;

    r = RUN(h, dr_code);
    g_assert_cmpint(r, ==, INTERP_EXIT_HLT);
    g_assert_cmphex(h->st.regs[R_EBX], ==, 0x403);
    g_assert_cmphex(h->st.regs[R_ECX], ==, 0xffff0ff0);
    g_assert_cmphex(h->st.regs[R_EDX], ==, 0x1234);
    ih_free(h);

    h = new_long();
    h->st.cr4 |= CR4_DE;
    r = RUN(h, dr4_de);
    assert_exception(h, r, EXCP_UD, -1);
    ih_free(h);
}

/* LGDT/SGDT/LIDT/SIDT/LMSW/SMSW. */
INTERP_TEST_CODE(dtr64, 64,
    "lgdt (%rbx)\n sgdt 0x10(%rbx)\n"
    "lidt 0x20(%rbx)\n sidt 0x30(%rbx)\n"
    "mov $0xe, %ax\n lmsw %ax\n smsw %rcx\n hlt\n");
INTERP_TEST_CODE(dtr16, 32, "data16 lgdt (%ebx)\n sgdt 0x10(%ebx)\n hlt\n");

static void test_descriptor_tables(void)
{
    InterpHarness *h = new_long();
    uint8_t gdtr[10] = { 0x34, 0x12, 1, 2, 3, 4, 5, 6, 7, 8 };
    uint8_t idtr[10] = { 0xff, 0x0f, 0x10, 0x20, 0x30, 0, 0, 0, 0, 0 };
    InterpExit r;

    ih_load(h, IH_DATA, gdtr, 10);
    ih_load(h, IH_DATA + 0x20, idtr, 10);
    h->st.regs[R_EBX] = IH_DATA;
    r = RUN(h, dtr64);
    g_assert_cmpint(r, ==, INTERP_EXIT_HLT);
    g_assert_cmphex(h->st.gdt.base, ==, 0x0807060504030201ULL);
    g_assert_cmphex(h->st.gdt.limit, ==, 0x1234);
    g_assert_cmpmem(h->ram + IH_DATA + 0x10, 10, gdtr, 10);
    g_assert_cmphex(h->st.idt.base, ==, 0x302010);
    g_assert_cmpmem(h->ram + IH_DATA + 0x30, 10, idtr, 10);
    /* LMSW sets MP|EM|TS but cannot clear PE. */
    g_assert_cmphex(h->st.regs[R_ECX] & 0xf, ==, 0xf);
    g_assert_cmphex(h->st.cr0 & 0xf, ==, 0xf);
    ih_free(h);

    /* A 16-bit operand size loads a 24-bit base; SGDT stores 32 bits. */
    h = new_flat32();
    ih_load(h, IH_DATA, gdtr, 10);
    h->st.regs[R_EBX] = IH_DATA;
    r = RUN(h, dtr16);
    g_assert_cmpint(r, ==, INTERP_EXIT_HLT);
    g_assert_cmphex(h->st.gdt.base, ==, 0x030201);
    g_assert_cmphex(rd64_phys(h, IH_DATA + 0x10) & 0xffffffffffffULL, ==,
                    0x0302011234ULL);
    ih_free(h);
}

/* ---- SYSCALL / SYSRET ---------------------------------------------------- */

/*
 * Kernel: STAR (kernel CS 0x10, user base 0x20), LSTAR, SFMASK (IF|DF),
 * EFER.SCE, then SYSRETQ to user code, which sets RAX and comes back
 * with SYSCALL to kentry.
 */
INTERP_TEST_CODE(syscall_code, 64,
    "mov $0xc0000081, %ecx\n xor %eax, %eax\n mov $0x00200010, %edx\n wrmsr\n"
    "mov $0xc0000082, %ecx\n mov $(0x100000 + 2f - syscall_code), %eax\n"
    "xor %edx, %edx\n wrmsr\n"
    "mov $0xc0000084, %ecx\n mov $0x600, %eax\n wrmsr\n"
    "mov $0xc0000080, %ecx\n rdmsr\n or $1, %eax\n wrmsr\n"
    "mov $(0x100000 + 1f - syscall_code), %rcx\n"
    "mov $0x602, %r11\n"
    "sysretq\n"
    "1: mov $0x1234, %eax\n"
    "syscall\n"
    "2: hlt\n");

static void test_syscall_sysret(void)
{
    InterpHarness *h = new_long();
    InterpExit r;
    uint64_t kentry;

    r = RUN(h, syscall_code);
    g_assert_cmpint(r, ==, INTERP_EXIT_HLT);
    kentry = IH_CODE + (syscall_code_end - syscall_code) - 1;
    g_assert_cmphex(h->st.rip, ==, kentry + 1);
    g_assert_cmphex(h->st.regs[R_EAX], ==, 0x1234);
    /* RCX: after the SYSCALL, R11: the user's flags. */
    g_assert_cmphex(h->st.regs[R_ECX], ==, kentry);
    g_assert_cmphex(h->st.regs[R_R11] & ~(uint64_t)RFLAGS_OSZAPC, ==, 0x602);
    g_assert_cmphex(h->st.rflags & (RFLAGS_IF | RFLAGS_DF), ==, 0);
    g_assert_cmphex(h->st.segs[SEG_CS].selector, ==, 0x10);
    g_assert_cmphex(h->st.segs[SEG_SS].selector, ==, 0x18);
    g_assert_cmpint(h->st.segs[SEG_CS].l, ==, 1);
    g_assert_cmpint(h->st.segs[SEG_CS].dpl, ==, 0);
    ih_free(h);
}

/* SYSRET without REX.W goes to 32-bit compatibility mode at ECX. */
INTERP_TEST_CODE(sysretl_code, 64,
    "mov $0xc0000081, %ecx\n xor %eax, %eax\n mov $0x00200010, %edx\n wrmsr\n"
    "mov $0x200000, %ecx\n"
    "mov $0x2, %r11\n"
    "sysretl\n");
INTERP_TEST_CODE(sysret_noncanon, 64,
    "movabs $0x8000000000000000, %rcx\n sysretq\n");
INTERP_TEST_CODE(syscall_nosce, 64, "syscall\n");

static void test_sysret_forms(void)
{
    InterpHarness *h = new_long();
    InterpExit r;

    static const uint8_t ud2[] = { 0x0f, 0x0b };

    /* UD2 at the target: #UD there, in compatibility mode at CPL 3. */
    h->st.efer |= EFER_SCE;
    ih_load(h, IH_DATA, ud2, sizeof(ud2));
    r = RUN(h, sysretl_code);
    assert_exception(h, r, EXCP_UD, -1);
    g_assert_cmphex(h->st.rip, ==, IH_DATA);
    g_assert_cmphex(h->st.segs[SEG_CS].selector, ==, 0x23);
    g_assert_cmpint(h->st.segs[SEG_CS].l, ==, 0);
    g_assert_cmpint(h->st.segs[SEG_CS].db, ==, 1);
    g_assert_cmphex(h->st.segs[SEG_SS].selector, ==, 0x2b);
    g_assert_cmpint(h->st.segs[SEG_SS].dpl, ==, 3);
    ih_free(h);

    h = new_long();
    h->st.efer |= EFER_SCE;
    r = RUN(h, sysret_noncanon);
    assert_exception(h, r, EXCP_GP, 0);
    g_assert_cmphex(h->st.segs[SEG_CS].selector, ==, IH_SEL_CODE);
    ih_free(h);

    h = new_long();
    r = RUN(h, syscall_nosce);
    assert_exception(h, r, EXCP_UD, -1);
    ih_free(h);
}

/* ---- SYSENTER / SYSEXIT -------------------------------------------------- */

INTERP_TEST_CODE(sysenter32, 32,
    "mov $0x174, %ecx\n mov $0x10, %eax\n xor %edx, %edx\n wrmsr\n"
    "mov $0x175, %ecx\n mov $0x2ff000, %eax\n wrmsr\n"
    "mov $0x176, %ecx\n mov $(0x100000 + 2f - sysenter32), %eax\n wrmsr\n"
    "mov $(0x100000 + 1f - sysenter32), %edx\n"
    "mov $0x2fe000, %ecx\n"
    "sti\n"
    "sysexit\n"
    "1: mov %esp, %ebx\n"
    "mov $0x77, %eax\n"
    "sysenter\n"
    "2: hlt\n");

static void test_sysenter_sysexit32(void)
{
    InterpHarness *h = new_flat32();
    InterpExit r;

    r = RUN(h, sysenter32);
    g_assert_cmpint(r, ==, INTERP_EXIT_HLT);
    g_assert_cmphex(h->st.regs[R_EAX], ==, 0x77);
    g_assert_cmphex(h->st.regs[R_EBX], ==, 0x2fe000);      /* user ESP */
    g_assert_cmphex(h->st.regs[R_ESP], ==, 0x2ff000);
    g_assert_cmphex(h->st.segs[SEG_CS].selector, ==, 0x10);
    g_assert_cmphex(h->st.segs[SEG_SS].selector, ==, 0x18);
    g_assert_false(h->st.rflags & RFLAGS_IF);
    g_assert_cmphex(h->st.rip, ==,
                    IH_CODE + (sysenter32_end - sysenter32));
    ih_free(h);
}

INTERP_TEST_CODE(sysenter64, 64,
    "mov $0x174, %ecx\n mov $0x10, %eax\n xor %edx, %edx\n wrmsr\n"
    "mov $0x175, %ecx\n mov $0x2ff000, %eax\n wrmsr\n"
    "mov $0x176, %ecx\n mov $(0x100000 + 2f - sysenter64), %eax\n wrmsr\n"
    "mov $(0x100000 + 1f - sysenter64), %rdx\n"
    "mov $0x2fe000, %rcx\n"
    "sysexitq\n"
    "1: mov %cs, %ebx\n"
    "sysenter\n"
    "2: hlt\n");
INTERP_TEST_CODE(sysenter_nocs, 32, "sysenter\n");

static void test_sysenter_sysexit64(void)
{
    InterpHarness *h = new_long();
    InterpExit r;

    r = RUN(h, sysenter64);
    g_assert_cmpint(r, ==, INTERP_EXIT_HLT);
    g_assert_cmphex(h->st.regs[R_EBX], ==, 0x33);   /* 0x10 + 32, RPL 3 */
    g_assert_cmphex(h->st.segs[SEG_CS].selector, ==, 0x10);
    g_assert_cmpint(h->st.segs[SEG_CS].l, ==, 1);
    g_assert_cmphex(h->st.regs[R_ESP], ==, 0x2ff000);
    ih_free(h);

    /* IA32_SYSENTER_CS = 0: #GP(0). */
    h = new_flat32();
    r = RUN(h, sysenter_nocs);
    assert_exception(h, r, EXCP_GP, 0);
    ih_free(h);
}

/* ---- CPUID --------------------------------------------------------------- */

INTERP_TEST_CODE(cpuid0, 64, "xor %eax, %eax\n cpuid\n hlt\n");

static void test_cpuid(void)
{
    InterpHarness *h = new_long();
    InterpCPU *cpu = h->cpu;
    CpuidResult r, r2;
    char vendor[13], brand[49];
    uint32_t want;
    InterpExit x;

    x = RUN(h, cpuid0);
    g_assert_cmpint(x, ==, INTERP_EXIT_HLT);
    memcpy(vendor, &h->st.regs[R_EBX], 4);
    memcpy(vendor + 4, &h->st.regs[R_EDX], 4);
    memcpy(vendor + 8, &h->st.regs[R_ECX], 4);
    vendor[12] = 0;
    g_assert_cmpstr(vendor, ==, "GenuineIntel");
    g_assert_cmpuint(h->st.regs[R_EAX], >=, 0xb);

    interp_cpuid(cpu, 1, 0, &r);
    /* TSC MSR PAE CX8 SEP MTRR PGE CMOV PAT CLFSH; no APIC bit without
     * a local APIC. */
    want = 1u << 4 | 1u << 5 | 1u << 6 | 1u << 8 | 1u << 11 | 1u << 12 |
           1u << 13 | 1u << 15 | 1u << 16 | 1u << 19;
    g_assert_cmphex(r.edx & want, ==, want);
    g_assert_cmphex(r.edx & (1u << 9), ==, 0);
    g_assert_cmphex(r.ecx & (1u << 31 | 1u << 23 | 1u << 22 | 1u << 13), ==,
                    1u << 31 | 1u << 23 | 1u << 22 | 1u << 13);
    g_assert_cmphex(r.ebx >> 24, ==, 0);              /* APIC ID */
    g_assert_cmphex((r.ebx >> 8) & 0xff, ==, 8);      /* 64-byte lines */
    g_assert_cmphex((r.eax >> 8) & 0xf, ==, 6);       /* family */

    interp_cpuid(cpu, 7, 0, &r);
    g_assert_cmphex(r.ebx, ==, 1u << 0 | 1u << 3 | 1u << 8 | 1u << 9 |
                    1u << 19);
    interp_cpuid(cpu, 0x80000000, 0, &r);
    g_assert_cmphex(r.eax, ==, 0x80000008);
    interp_cpuid(cpu, 0x80000001, 0, &r);
    g_assert_cmphex(r.edx, ==, 1u << 11 | 1u << 20 | 1u << 26 | 1u << 27 |
                    1u << 29);
    g_assert_cmphex(r.ecx, ==, 1u << 0 | 1u << 5);
    interp_cpuid(cpu, 0x80000008, 0, &r);
    g_assert_cmphex(r.eax, ==, 0x3028);

    for (uint32_t i = 0; i < 3; i++) {
        interp_cpuid(cpu, 0x80000002 + i, 0, &r);
        memcpy(brand + i * 16, &r, 16);
    }
    brand[48] = 0;
    g_assert_nonnull(strstr(brand, "lemu"));

    /* The TSC frequency: crystal * EBX / EAX. */
    interp_cpuid(cpu, 0x15, 0, &r);
    g_assert_cmpuint((uint64_t)r.ecx * r.ebx / r.eax, ==, INTERP_TSC_HZ);

    /* Beyond the last leaf: the last basic leaf's answer. */
    interp_cpuid(cpu, 0x16, 0, &r);
    interp_cpuid(cpu, 0x40000000, 0, &r2);
    g_assert_cmpmem(&r, sizeof(r), &r2, sizeof(r2));

    /* Topology: one thread per core, nr_cpus cores. */
    interp_cpuid(cpu, 0xb, 0, &r);
    g_assert_cmphex((r.ecx >> 8) & 0xff, ==, 1);
    g_assert_cmphex(r.ebx, ==, 1);
    h->shared->env.nr_cpus = 4;
    interp_cpuid(cpu, 0xb, 1, &r);
    g_assert_cmphex((r.ecx >> 8) & 0xff, ==, 2);
    g_assert_cmphex(r.ebx, ==, 4);
    g_assert_cmphex(r.eax, ==, 2);
    interp_cpuid(cpu, 0xb, 2, &r);
    g_assert_cmphex((r.ecx >> 8) & 0xff, ==, 0);
    interp_cpuid(cpu, 1, 0, &r);
    g_assert_true(r.edx & (1u << 28));                /* HTT */
    g_assert_cmphex((r.ebx >> 16) & 0xff, ==, 4);

    /* The decoder's feature tests agree with the table. */
    g_assert_true(interp_has_feature(cpu, FEAT_BMI2));
    g_assert_true(interp_has_feature(cpu, FEAT_LZCNT));
    g_assert_true(interp_has_feature(cpu, FEAT_CX16));
    g_assert_true(interp_has_feature(cpu, FEAT_FSGSBASE));
    g_assert_false(interp_has_feature(cpu, FEAT_PCID));
    ih_free(h);
}

/* ---- MSRs ---------------------------------------------------------------- */

static void test_msr_round_trips(void)
{
    static const struct { uint32_t index; uint64_t value; } ok[] = {
        { 0xc0000081, 0x0023001000000000ULL },      /* STAR */
        { 0xc0000082, 0xffffffff81000000ULL },      /* LSTAR */
        { 0xc0000083, 0x00007fffffff0000ULL },      /* CSTAR */
        { 0xc0000084, 0x47700 },                    /* SFMASK */
        { 0xc0000100, 0x00007f0012345000ULL },      /* FS_BASE */
        { 0xc0000101, 0xffff880000000000ULL },      /* GS_BASE */
        { 0xc0000102, 0xffff888800000000ULL },      /* KERNEL_GS_BASE */
        { 0xc0000103, 7 },                          /* TSC_AUX */
        { 0x174, 0x10 }, { 0x175, 0x2ff000 }, { 0x176, 0x100000 },
        { 0x277, 0x0007010600070106ULL },           /* PAT */
        { 0x2ff, 0xc06 },                           /* MTRRdefType */
        { 0x250, 0x0606060606060606ULL },           /* FIX64K_00000 */
        { 0x26f, 0x0505050505050505ULL },           /* FIX4K_F8000 */
        { 0x200, 0x80000006 }, { 0x201, 0xff80000800ULL },
        { 0x20f, 0xfffffff800ULL },
    };
    static const struct { uint32_t index; uint64_t value; } bad[] = {
        { 0x12345, 0 },                             /* unknown */
        { 0xc0000082, 0x0000800000000000ULL },      /* LSTAR non-canonical */
        { 0xc0000102, 0x8000000000000000ULL },
        { 0xc0000103, 1ULL << 32 },                 /* TSC_AUX reserved */
        { 0x277, 0x0007040600070402ULL },           /* PAT type 2 */
        { 0x2ff, 0x1006 },                          /* reserved bit 12 */
        { 0x250, 0x0606060606060603ULL },           /* MTRR type 3 */
        { 0x200, 0x80000106 },                      /* reserved bit 8 */
        { 0x201, 0x80000400ULL },                   /* reserved bit 10 */
        { 0xfe, 0 },                                /* MTRRcap read-only */
        { 0xc0000080, 1ULL << 2 },                  /* EFER reserved */
    };
    InterpHarness *h = new_long();
    InterpCPU *cpu = h->cpu;
    uint64_t v;

    interp_cpu_set_state(cpu, &h->st);
    for (size_t i = 0; i < G_N_ELEMENTS(ok); i++) {
        g_assert_true(interp_wrmsr(cpu, ok[i].index, ok[i].value));
        g_assert_true(interp_rdmsr(cpu, ok[i].index, &v));
        g_assert_cmphex(v, ==, ok[i].value);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_assert_false(interp_wrmsr(cpu, bad[i].index, bad[i].value));
    }
    g_assert_false(interp_rdmsr(cpu, 0x12345, &v));
    g_assert_true(interp_rdmsr(cpu, 0xfe, &v));
    g_assert_cmphex(v & 0xff, ==, 8);                  /* MTRRcap VCNT */
    /* EFER: LMA stays as the CPU has it; NXE round trips. */
    g_assert_true(interp_wrmsr(cpu, MSR_EFER, EFER_LME | EFER_NXE));
    g_assert_true(interp_rdmsr(cpu, MSR_EFER, &v));
    g_assert_cmphex(v, ==, EFER_LME | EFER_LMA | EFER_NXE);
    /* No local APIC: IA32_APIC_BASE does not exist. */
    g_assert_false(interp_rdmsr(cpu, 0x1b, &v));
    ih_free(h);
}

INTERP_TEST_CODE(rdmsr_unknown, 64,
    "mov $0x12345, %ecx\n rdmsr\n");
INTERP_TEST_CODE(wrmsr_swapgs, 64,
    "mov $0xc0000102, %ecx\n mov $0x5000, %eax\n xor %edx, %edx\n wrmsr\n"
    "mov $0xc0000101, %ecx\n mov $0x6000, %eax\n wrmsr\n"
    "swapgs\n"
    "mov %gs:0x10, %rbx\n"
    "mov $0xc0000102, %ecx\n rdmsr\n"
    "hlt\n");

static void test_msr_instructions(void)
{
    InterpHarness *h = new_long();
    InterpExit r;

    r = RUN(h, rdmsr_unknown);
    assert_exception(h, r, EXCP_GP, 0);
    ih_free(h);

    h = new_long();
    wr64_phys(h, 0x5010, 0xabcdef);
    r = RUN(h, wrmsr_swapgs);
    g_assert_cmpint(r, ==, INTERP_EXIT_HLT);
    g_assert_cmphex(h->st.segs[SEG_GS].base, ==, 0x5000);
    g_assert_cmphex(h->st.regs[R_EBX], ==, 0xabcdef);
    g_assert_cmphex(h->st.regs[R_EAX], ==, 0x6000);   /* KERNEL_GS_BASE */
    ih_free(h);
}

/* RD/WR FS/GS BASE need CR4.FSGSBASE. */
INTERP_TEST_CODE(fsgsbase_code, 64,
    "mov $0x200000, %eax\n wrfsbase %rax\n"
    "rdfsbase %rbx\n mov %fs:8, %rcx\n"
    "mov $0x9000, %eax\n wrgsbase %eax\n rdgsbase %rdx\n"
    "hlt\n");
INTERP_TEST_CODE(wrfsbase_bad, 64,
    "movabs $0x800000000000, %rax\n wrfsbase %rax\n");

static void test_fsgsbase(void)
{
    InterpHarness *h = new_long();
    InterpExit r;

    r = RUN(h, fsgsbase_code);
    assert_exception(h, r, EXCP_UD, -1);
    ih_free(h);

    h = new_long();
    h->st.cr4 |= CR4_FSGSBASE;
    h->st.regs[R_EDX] = 0x1111;
    wr64_phys(h, IH_DATA + 8, 0x8877665544332211ULL);
    r = RUN(h, fsgsbase_code);
    g_assert_cmpint(r, ==, INTERP_EXIT_HLT);
    g_assert_cmphex(h->st.regs[R_EBX], ==, IH_DATA);
    g_assert_cmphex(h->st.regs[R_ECX], ==, 0x8877665544332211ULL);
    g_assert_cmphex(h->st.regs[R_EDX], ==, 0x9000);
    g_assert_cmphex(h->st.segs[SEG_FS].base, ==, IH_DATA);
    g_assert_cmphex(h->st.segs[SEG_GS].base, ==, 0x9000);
    ih_free(h);

    h = new_long();
    h->st.cr4 |= CR4_FSGSBASE;
    r = RUN(h, wrfsbase_bad);
    assert_exception(h, r, EXCP_GP, 0);
    ih_free(h);
}

/* ---- port I/O and the TSS bitmap ----------------------------------------- */

typedef struct IoDev {
    uint8_t out[32];
    unsigned nr_out;
    unsigned reads;
} IoDev;

static uint64_t iodev_read(void *opaque, uint64_t offset, unsigned size)
{
    IoDev *dev = opaque;

    dev->reads++;
    return 0xa0 + offset;
}

static void iodev_write(void *opaque, uint64_t offset, uint64_t value,
                        unsigned size)
{
    IoDev *dev = opaque;

    if (dev->nr_out < sizeof(dev->out)) {
        dev->out[dev->nr_out++] = value;
    }
}

static const IoOps iodev_ops = {
    .read = iodev_read, .write = iodev_write, .impl_min = 1, .impl_max = 1,
};

static IoPortMap *attach_iodev(InterpHarness *h, IoDev *dev)
{
    IoPortMap *io = ioport_map_new();

    g_assert_true(ioport_register(io, "testdev", 0x80, 0x10, &iodev_ops, dev,
                                  NULL));
    h->shared->env.io = io;
    return io;
}

/* A TSS at 0x9000 whose bitmap (0x68) covers ports 0-0xff and allows
 * 0x80-0x83 only. */
static void set_tss_bitmap(InterpHarness *h)
{
    uint16_t iomap = 0x68;
    uint8_t bitmap[0x21];

    memset(bitmap, 0xff, sizeof(bitmap));
    bitmap[0x10] = 0xf0;
    ih_load(h, 0x9000 + 0x66, &iomap, 2);
    ih_load(h, 0x9000 + 0x68, bitmap, sizeof(bitmap));
    h->st.tr = (X86Segment) {
        .base = 0x9000, .limit = 0x68 + sizeof(bitmap) - 1, .type = 0xb,
        .present = 1, .selector = IH_SEL_TSS,
    };
}

INTERP_TEST_CODE(io_allowed, 64,
    "in $0x80, %al\n mov %eax, %ebx\n"
    "mov $0x80, %dx\n in (%dx), %eax\n mov %eax, %ecx\n"
    "mov $0x5a, %al\n out %al, $0x83\n"
    "ud2\n");
INTERP_TEST_CODE(io_word_denied, 64, "in $0x83, %ax\n");
INTERP_TEST_CODE(io_byte_denied, 64, "in $0x84, %al\n");
INTERP_TEST_CODE(io_beyond_limit, 64, "mov $0x400, %dx\n in (%dx), %al\n");

static void test_io_bitmap(void)
{
    static const Blob denied[] = {
        BLOB(io_word_denied), BLOB(io_byte_denied), BLOB(io_beyond_limit),
    };
    InterpHarness *h = new_long();
    IoDev dev = { 0 };
    IoPortMap *io = attach_iodev(h, &dev);
    InterpExit r;

    enter_user(h, true);
    set_tss_bitmap(h);
    r = RUN(h, io_allowed);
    assert_exception(h, r, EXCP_UD, -1);
    g_assert_cmphex(h->st.regs[R_EBX] & 0xff, ==, 0xa0);
    g_assert_cmphex(h->st.regs[R_ECX], ==, 0xa3a2a1a0);
    g_assert_cmpuint(dev.nr_out, ==, 1);
    g_assert_cmphex(dev.out[0], ==, 0x5a);
    ih_free(h);
    ioport_map_free(io);

    for (size_t i = 0; i < G_N_ELEMENTS(denied); i++) {
        h = new_long();
        memset(&dev, 0, sizeof(dev));
        io = attach_iodev(h, &dev);
        enter_user(h, true);
        set_tss_bitmap(h);
        r = run_blob(h, denied[i].start, denied[i].end);
        assert_exception(h, r, EXCP_GP, 0);
        g_assert_cmpuint(dev.reads, ==, 0);
        ih_free(h);
        ioport_map_free(io);
    }
}

INTERP_TEST_CODE(string_io, 64,
    "mov $0x80, %dx\n"
    "mov $0x200000, %rsi\n mov $4, %rcx\n rep outsb\n"
    "mov $0x200100, %rdi\n mov $2, %rcx\n rep insw\n"
    "std\n mov $0x200003, %rsi\n mov $4, %ecx\n rep outsb\n cld\n"
    "mov $0x200200, %edi\n insb\n"
    "hlt\n");

static void test_string_io(void)
{
    static const uint8_t data[4] = { 1, 2, 3, 4 };
    static const uint8_t words[4] = { 0xa0, 0xa1, 0xa0, 0xa1 };
    static const uint8_t expect_out[8] = { 1, 2, 3, 4, 4, 3, 2, 1 };
    InterpHarness *h = new_long();
    IoDev dev = { 0 };
    IoPortMap *io = attach_iodev(h, &dev);
    InterpExit r;

    ih_load(h, IH_DATA, data, sizeof(data));
    r = RUN(h, string_io);
    g_assert_cmpint(r, ==, INTERP_EXIT_HLT);
    g_assert_cmpuint(dev.nr_out, ==, 8);
    g_assert_cmpmem(dev.out, 8, expect_out, 8);
    g_assert_cmpmem(h->ram + IH_DATA + 0x100, 4, words, 4);
    g_assert_cmphex(h->ram[IH_DATA + 0x200], ==, 0xa0);
    g_assert_cmphex(h->st.regs[R_ESI], ==, IH_DATA - 1);
    g_assert_cmphex(h->st.regs[R_EDI], ==, IH_DATA + 0x201);
    g_assert_cmphex(h->st.regs[R_ECX], ==, 0);
    ih_free(h);
    ioport_map_free(io);
}

/* ---- TSC, HLT, x87 placeholder ------------------------------------------- */

INTERP_TEST_CODE(rdtsc_code, 64,
    "rdtsc\n shl $32, %rdx\n or %rdx, %rax\n mov %rax, %r8\n"
    "mov $20000, %ecx\n 1: dec %ecx\n jnz 1b\n"
    "rdtsc\n shl $32, %rdx\n or %rdx, %rax\n mov %rax, %r9\n"
    "rdtscp\n"
    "hlt\n");
INTERP_TEST_CODE(rdtsc_only, 64, "rdtsc\n");

static int64_t fake_now;

static int64_t fake_clock(void *opaque)
{
    return fake_now;
}

static void test_tsc(void)
{
    InterpHarness *h = new_long();
    InterpExit r;

    r = RUN(h, rdtsc_code);
    g_assert_cmpint(r, ==, INTERP_EXIT_HLT);
    g_assert_cmpuint(h->st.regs[R_R9], >, h->st.regs[R_R8]);
    ih_free(h);

    /* On the env's clock: TSC = ns * 1 GHz / 1e9 + offset. */
    h = new_long();
    h->shared->env.clock_ns = fake_clock;
    interp_cpu_set_state(h->cpu, &h->st);
    fake_now = 1000;
    g_assert_true(interp_wrmsr(h->cpu, 0x10, 5000));
    fake_now = 3000;
    g_assert_cmpuint(interp_read_tsc(h->cpu), ==, 7000);
    g_assert_true(interp_wrmsr(h->cpu, 0xc0000103, 3));
    ih_free(h);

    /* CR4.TSD: #GP(0) at CPL 3. */
    h = new_long();
    h->st.cr4 |= CR4_TSD;
    enter_user(h, true);
    r = RUN(h, rdtsc_only);
    assert_exception(h, r, EXCP_GP, 0);
    ih_free(h);
}

INTERP_TEST_CODE(hlt_code, 64, "nop\n hlt\n nop\n");
INTERP_TEST_CODE(fpu_code, 64, "fld1\n");
INTERP_TEST_CODE(fwait_code, 64, "fwait\n ud2\n");

static void test_hlt_and_fpu(void)
{
    InterpHarness *h = new_long();
    InterpExit r;

    r = RUN(h, hlt_code);
    g_assert_cmpint(r, ==, INTERP_EXIT_HLT);
    g_assert_cmphex(h->st.rip, ==, IH_CODE + 2);
    ih_free(h);

    /* x87 is not implemented yet: #NM with CR0.EM or TS, else #UD. */
    h = new_long();
    h->st.cr0 |= CR0_EM;
    r = RUN(h, fpu_code);
    assert_exception(h, r, EXCP_NM, -1);
    ih_free(h);

    h = new_long();
    h->st.cr0 &= ~(CR0_EM | CR0_TS);
    r = RUN(h, fpu_code);
    assert_exception(h, r, EXCP_UD, -1);
    ih_free(h);

    h = new_long();
    h->st.cr0 |= CR0_MP | CR0_TS;
    r = RUN(h, fwait_code);
    assert_exception(h, r, EXCP_NM, -1);
    ih_free(h);

    h = new_long();
    h->st.cr0 |= CR0_TS;
    r = RUN(h, fwait_code);
    assert_exception(h, r, EXCP_UD, -1);     /* the ud2 after it */
    ih_free(h);
}

/* ---- the local APIC ------------------------------------------------------ */

static void test_env_lock(void *opaque)
{
    g_mutex_lock(&((Machine *)opaque)->lock);
}

static void test_env_unlock(void *opaque)
{
    g_mutex_unlock(&((Machine *)opaque)->lock);
}

static int64_t machine_clock(void *opaque)
{
    return clock_get_ns(((Machine *)opaque)->loop, CLOCK_VIRTUAL);
}

/*
 * The APIC page (1 GiB page at 3 GiB maps it), CR8 and TPR, a TSC
 * deadline, IA32_APIC_BASE and moving the page.
 */
INTERP_TEST_CODE(apic_code, 64,
    "mov $0xfee00000, %ebx\n"
    "movl $0x1ff, 0xf0(%rbx)\n"                 /* SVR: software enable */
    "mov 0x30(%rbx), %r8d\n"                    /* version */
    "mov 0x20(%rbx), %r9d\n"                    /* ID */
    "mov $5, %eax\n mov %rax, %cr8\n"
    "mov 0x80(%rbx), %r10d\n"                   /* TPR from CR8 */
    "movl $0x30, 0x80(%rbx)\n"
    "mov %cr8, %r11\n"                          /* CR8 from TPR */
    "movl $0x40040, 0x320(%rbx)\n"              /* LVT timer: TSC-deadline */
    "rdtsc\n shl $32, %rdx\n or %rdx, %rax\n add $1000000000, %rax\n"
    "mov %rax, %r12\n"
    "mov %rax, %rdx\n shr $32, %rdx\n mov $0x6e0, %ecx\n wrmsr\n"
    "rdmsr\n shl $32, %rdx\n or %rdx, %rax\n mov %rax, %r13\n"
    "mov $0x1b, %ecx\n rdmsr\n mov %eax, %r14d\n"
    "mov $0xfed00900, %eax\n xor %edx, %edx\n wrmsr\n"
    "mov $0xfed00000, %esi\n mov 0x20(%rsi), %r15d\n"
    "mov 0x20(%rbx), %edi\n"                    /* the old page: nothing */
    "hlt\n");

static void test_apic(void)
{
    Machine *m = fixture_machine_new();
    GError *err = NULL;
    Device *dev = device_new(m, "apic", &err);
    InterpHarness *h;
    ApicState *apic;
    uint64_t deadline;
    CpuidResult c;
    InterpExit r;

    g_assert_no_error(err);
    g_assert_true(device_set_prop(dev, "id", "0", &err));
    g_assert_true(device_realize(dev, &err));
    g_assert_no_error(err);
    apic = apic_from_device(dev);

    h = new_long();
    wr64_phys(h, IH_PDPT + 24, 0xc0000000ULL | P | W | PS);
    h->cpu->apic = apic;
    h->shared->env.lock = test_env_lock;
    h->shared->env.unlock = test_env_unlock;
    h->shared->env.lock_opaque = m;
    h->shared->env.clock_ns = machine_clock;
    h->shared->env.clock_opaque = m;
    r = RUN(h, apic_code);
    g_assert_cmpint(r, ==, INTERP_EXIT_HLT);
    g_assert_cmphex(h->st.regs[R_R8], ==, apic_mmio_read(apic, APIC_LVR, 4));
    g_assert_cmphex(h->st.regs[R_R9], ==, 0);
    g_assert_cmphex(h->st.regs[R_R10], ==, 0x50);
    g_assert_cmphex(h->st.regs[R_R11], ==, 3);
    /* The deadline reads back while armed, and reached the APIC as the
     * matching time on the clock. */
    g_assert_cmphex(h->st.regs[R_R13], ==, h->st.regs[R_R12]);
    deadline = apic_get_tsc_deadline(apic);
    g_assert_cmpuint(deadline, ==,
                     h->st.regs[R_R12] - h->cpu->msr.tsc_offset);
    g_assert_cmphex(h->st.regs[R_R14], ==, 0xfee00900);
    g_assert_cmphex(h->st.regs[R_R15], ==, 0);
    g_assert_cmphex(h->st.regs[R_EDI], ==, 0xffffffff);
    g_assert_cmphex(apic_get_base(apic), ==, 0xfed00900);

    /* CPUID.1:EDX.APIC follows the enable bit. */
    interp_cpuid(h->cpu, 1, 0, &c);
    g_assert_true(c.edx & (1u << 9));
    g_assert_true(interp_wrmsr(h->cpu, 0x1b, 0xfee00000));
    interp_cpuid(h->cpu, 1, 0, &c);
    g_assert_false(c.edx & (1u << 9));
    /* Reserved bits (x2APIC's EXTD is not there). */
    g_assert_false(interp_wrmsr(h->cpu, 0x1b, 0xfee00c00));

    h->cpu->apic = NULL;
    ih_free(h);
    fixture_machine_free(m);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/interp/system/cpl3-gp", test_cpl3_gp);
    g_test_add_func("/interp/system/cpl3-allowed", test_cpl3_allowed);
    g_test_add_func("/interp/system/iopl", test_iopl);
    g_test_add_func("/interp/system/popf", test_popf);
    g_test_add_func("/interp/system/enter-long-mode", test_enter_long_mode);
    g_test_add_func("/interp/system/cr-faults", test_control_register_faults);
    g_test_add_func("/interp/system/pae-pdptes", test_pae_pdptes);
    g_test_add_func("/interp/system/debug-registers", test_debug_registers);
    g_test_add_func("/interp/system/descriptor-tables",
                    test_descriptor_tables);
    g_test_add_func("/interp/system/syscall", test_syscall_sysret);
    g_test_add_func("/interp/system/sysret-forms", test_sysret_forms);
    g_test_add_func("/interp/system/sysenter32", test_sysenter_sysexit32);
    g_test_add_func("/interp/system/sysenter64", test_sysenter_sysexit64);
    g_test_add_func("/interp/system/cpuid", test_cpuid);
    g_test_add_func("/interp/system/msr-round-trips", test_msr_round_trips);
    g_test_add_func("/interp/system/msr-instructions", test_msr_instructions);
    g_test_add_func("/interp/system/fsgsbase", test_fsgsbase);
    g_test_add_func("/interp/system/io-bitmap", test_io_bitmap);
    g_test_add_func("/interp/system/string-io", test_string_io);
    g_test_add_func("/interp/system/tsc", test_tsc);
    g_test_add_func("/interp/system/hlt-fpu", test_hlt_and_fpu);
    g_test_add_func("/interp/system/apic", test_apic);
    return g_test_run();
}
