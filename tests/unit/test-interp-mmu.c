/*
 * The interpreter's MMU (accel/interp/mmu.c), seen by guest code: page
 * walks in every paging mode with permissions and #PF error codes,
 * accessed/dirty bits in guest memory, global pages and INVLPG, accesses
 * crossing a page, MMIO, ROM and unmapped memory.
 */
#include <string.h>
#include <glib.h>
#include "interp-harness.h"
#include "accel/interp/cpu.h"

/* Test mappings: linear TL + i * 4 KiB -> TP(i), set per test. */
#define TL          0x40000000ULL
#define TP(i)       (0x500000ULL + (uint64_t)(i) * 0x1000)
#define BIG_PHYS    0x800000ULL     /* target of the 2 MiB / 4 MiB pages */

/* Long mode: PML4 -> PDPT (harness), PD for 1-2 GiB, its first PT. */
#define LM_PD2      0x4000
#define LM_PT       0x5000
/* 32-bit paging. */
#define PD32        0x6000
#define PT32        0x7000
/* PAE. */
#define PAE_PDPT    0x8000
#define PAE_PD0     0x9000
#define PAE_PD1     0xa000
#define PAE_PT      0xb000

#define P   0x1ULL
#define W   0x2ULL
#define U   0x4ULL
#define A   0x20ULL
#define D   0x40ULL
#define PS  0x80ULL
#define G   0x100ULL
#define XD  (1ULL << 63)

enum { MODE_32, MODE_PAE, MODE_LONG };
enum { DO_READ, DO_WRITE, DO_EXEC };

/* Each blob ends with UD2, so "the access worked" is #UD at a known RIP
 * at any CPL. The EXEC blobs jump to the tested page, which holds UD2. */
INTERP_TEST_CODE(rd64, 64, "mov (%rbx), %rax\n ud2\n");
INTERP_TEST_CODE(wr64, 64, "mov %rax, (%rbx)\n ud2\n");
INTERP_TEST_CODE(ex64, 64, "jmp *%rbx\n");
INTERP_TEST_CODE(rd32, 32, "mov (%ebx), %eax\n ud2\n");
INTERP_TEST_CODE(wr32, 32, "mov %eax, (%ebx)\n ud2\n");
INTERP_TEST_CODE(ex32, 32, "jmp *%ebx\n");
INTERP_TEST_CODE(st32_64, 64, "movl %eax, (%rbx)\n ud2\n");
INTERP_TEST_CODE(ld32_64, 64, "movl (%rbx), %eax\n ud2\n");
INTERP_TEST_CODE(rd_then_wr32, 32,
                 "mov (%ebx), %eax\n mov %eax, 4(%ebx)\n ud2\n");
/* Caches a 4 KiB piece of a 2 MiB page, repoints the page, INVLPGs
 * another piece of it and reads the first again. */
INTERP_TEST_CODE(invlpg_big, 32,
    "mov (%ebx), %eax\n"
    "mov %ecx, (%edx)\n"
    "invlpg 0x3000(%ebx)\n"
    "mov (%ebx), %esi\n"
    "hlt\n");

static void wr64_phys(InterpHarness *h, uint64_t gpa, uint64_t v)
{
    ih_load(h, gpa, &v, 8);
}

static void wr32_phys(InterpHarness *h, uint64_t gpa, uint32_t v)
{
    ih_load(h, gpa, &v, 4);
}

static uint64_t rd64_phys(InterpHarness *h, uint64_t gpa)
{
    uint64_t v;

    memcpy(&v, h->ram + gpa, 8);
    return v;
}

static uint32_t rd32_phys(InterpHarness *h, uint64_t gpa)
{
    uint32_t v;

    memcpy(&v, h->ram + gpa, 4);
    return v;
}

static void load_code(InterpHarness *h, const uint8_t *start,
                      const uint8_t *end)
{
    ih_load(h, IH_CODE, start, end - start);
}

/* 4-level paging: identity map of 1 GiB (2 MiB pages, user-accessible),
 * 1-2 GiB through LM_PD2/LM_PT (empty), 2-3 GiB one 1 GiB page at 0. */
static void setup_long(InterpHarness *h)
{
    ih_mode_long(h, IH_CODE);
    wr64_phys(h, IH_PML4, IH_PDPT | P | W | U);
    wr64_phys(h, IH_PDPT, IH_PD | P | W | U);
    for (uint64_t i = 0; i < 512; i++) {
        wr64_phys(h, IH_PD + i * 8, (i << 21) | P | W | U | PS);
    }
    wr64_phys(h, IH_PDPT + 8, LM_PD2 | P | W | U);
    wr64_phys(h, LM_PD2, LM_PT | P | W | U);
    wr64_phys(h, IH_PDPT + 16, 0 | P | W | U | PS);
}

/* 32-bit paging with CR4.PSE: 16 MiB identity in 4 MiB pages, TL in
 * PT32, TL + 4 MiB a 4 MiB page at BIG_PHYS. */
static void setup_32(InterpHarness *h)
{
    ih_mode_flat32(h, IH_CODE);
    for (uint32_t i = 0; i < 4; i++) {
        wr32_phys(h, PD32 + i * 4, (i << 22) | P | W | U | PS);
    }
    wr32_phys(h, PD32 + (TL >> 22) * 4, PT32 | P | W | U);
    wr32_phys(h, PD32 + ((TL >> 22) + 1) * 4, BIG_PHYS | P | W | U | PS);
    h->st.cr3 = PD32;
    h->st.cr4 |= CR4_PSE;
    h->st.cr0 |= CR0_PG;
}

/* PAE: 16 MiB identity in 2 MiB pages, TL in PAE_PT, TL + 2 MiB a 2 MiB
 * page at BIG_PHYS. */
static void setup_pae(InterpHarness *h)
{
    ih_mode_flat32(h, IH_CODE);
    wr64_phys(h, PAE_PDPT, PAE_PD0 | P);
    wr64_phys(h, PAE_PDPT + 8, PAE_PD1 | P);
    for (uint64_t i = 0; i < 8; i++) {
        wr64_phys(h, PAE_PD0 + i * 8, (i << 21) | P | W | U | PS);
    }
    wr64_phys(h, PAE_PD1, PAE_PT | P | W | U);
    wr64_phys(h, PAE_PD1 + 8, BIG_PHYS | P | W | U | PS);
    h->st.cr3 = PAE_PDPT;
    h->st.cr4 |= CR4_PAE;
    h->st.cr0 |= CR0_PG;
}

static void setup_mode(InterpHarness *h, int mode)
{
    switch (mode) {
    case MODE_32: setup_32(h); break;
    case MODE_PAE: setup_pae(h); break;
    default: setup_long(h); break;
    }
}

/* Sets the PTE of TL + @i * 4 KiB. */
static void map_page(InterpHarness *h, int mode, unsigned i, uint64_t pte)
{
    switch (mode) {
    case MODE_32: wr32_phys(h, PT32 + i * 4, pte); break;
    case MODE_PAE: wr64_phys(h, PAE_PT + i * 8, pte); break;
    default: wr64_phys(h, LM_PT + i * 8, pte); break;
    }
}

/* CPL 3 with flat user segments. */
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

static void assert_pf(InterpHarness *h, InterpExit r, uint32_t ec,
                      uint64_t cr2)
{
    g_assert_cmpint(r, ==, INTERP_EXIT_EXCEPTION);
    g_assert_cmpint(h->vector, ==, EXCP_PF);
    g_assert_cmphex(h->error_code, ==, ec);
    g_assert_cmphex(h->st.cr2, ==, cr2);
}

/* Ran to the UD2 at @rip: the access went through. */
static void assert_done(InterpHarness *h, InterpExit r, uint64_t rip)
{
    g_assert_cmpint(r, ==, INTERP_EXIT_EXCEPTION);
    g_assert_cmpint(h->vector, ==, EXCP_UD);
    g_assert_cmphex(h->st.rip, ==, rip);
}

/* ---- permissions and error codes ----------------------------------------- */

typedef struct PermCase {
    int mode;
    uint64_t pte;
    int access;
    bool user;
    bool wp;
    bool nxe;
    int64_t ec;           /* -1: allowed */
} PermCase;

static const PermCase perm_cases[] = {
    /* Everything allowed. */
    { MODE_LONG, P | W | U, DO_READ, true, true, false, -1 },
    { MODE_LONG, P | W | U, DO_WRITE, true, true, false, -1 },
    { MODE_LONG, P | W | U, DO_EXEC, true, true, true, -1 },
    /* Not present: P clear; W, U, I as the access. */
    { MODE_LONG, 0, DO_READ, false, true, false, 0 },
    { MODE_LONG, 0, DO_WRITE, true, true, false, PF_W | PF_U },
    { MODE_LONG, 0, DO_EXEC, false, true, true, PF_I },
    { MODE_LONG, 0, DO_EXEC, false, true, false, 0 },
    /* Supervisor pages from CPL 3. */
    { MODE_LONG, P | W, DO_READ, true, true, false, PF_P | PF_U },
    { MODE_LONG, P | W, DO_EXEC, true, true, true, PF_P | PF_U | PF_I },
    /* Read-only pages: user writes fault; supervisor writes with WP. */
    { MODE_LONG, P | U, DO_WRITE, true, false, false, PF_P | PF_W | PF_U },
    { MODE_LONG, P | U, DO_WRITE, false, true, false, PF_P | PF_W },
    { MODE_LONG, P | U, DO_WRITE, false, false, false, -1 },
    { MODE_LONG, P, DO_WRITE, false, false, false, -1 },
    /* Supervisor access to user pages is fine (no SMAP/SMEP). */
    { MODE_LONG, P | W | U, DO_WRITE, false, true, false, -1 },
    { MODE_LONG, P | W | U, DO_EXEC, false, true, true, -1 },
    /* NX: fetches fault with I; reads are fine. */
    { MODE_LONG, P | W | U | XD, DO_EXEC, false, true, true, PF_P | PF_I },
    { MODE_LONG, P | W | U | XD, DO_READ, true, true, true, -1 },
    /* Reserved bits: address bits above MAXPHYADDR, XD without NXE. */
    { MODE_LONG, P | W | (1ULL << 45), DO_READ, false, true, false,
      PF_P | PF_RSVD },
    { MODE_LONG, P | W | U | (1ULL << 51), DO_WRITE, true, true, false,
      PF_P | PF_RSVD | PF_W | PF_U },
    { MODE_LONG, P | W | XD, DO_READ, false, true, false, PF_P | PF_RSVD },
    /* Bits 62:52 are ignored in 4-level paging, reserved in PAE. */
    { MODE_LONG, P | W | (1ULL << 55), DO_READ, false, true, false, -1 },
    { MODE_PAE, P | W | (1ULL << 55), DO_READ, false, true, false,
      PF_P | PF_RSVD },
    /* PAE. */
    { MODE_PAE, P | W | U, DO_WRITE, true, true, false, -1 },
    { MODE_PAE, 0, DO_WRITE, false, true, false, PF_W },
    { MODE_PAE, P | W, DO_READ, true, true, false, PF_P | PF_U },
    { MODE_PAE, P | U, DO_WRITE, true, true, false, PF_P | PF_W | PF_U },
    { MODE_PAE, P | W | U | XD, DO_EXEC, false, true, true, PF_P | PF_I },
    { MODE_PAE, P | W | U | XD, DO_READ, false, true, false, PF_P | PF_RSVD },
    { MODE_PAE, 0, DO_EXEC, true, true, true, PF_U | PF_I },
    /* 32-bit paging: no NX, no I bit, no reserved bits in a PTE. */
    { MODE_32, P | W | U, DO_WRITE, true, true, false, -1 },
    { MODE_32, P | W | U, DO_EXEC, true, true, false, -1 },
    { MODE_32, 0, DO_EXEC, false, true, false, 0 },
    { MODE_32, 0, DO_READ, true, true, false, PF_U },
    { MODE_32, P | W, DO_WRITE, true, true, false, PF_P | PF_W | PF_U },
    { MODE_32, P | U, DO_WRITE, false, true, false, PF_P | PF_W },
    { MODE_32, P | U, DO_WRITE, false, false, false, -1 },
    { MODE_32, P | U, DO_WRITE, true, false, false, PF_P | PF_W | PF_U },
};

static void run_perm_case(const PermCase *c)
{
    InterpHarness *h = ih_new();
    bool lm = c->mode == MODE_LONG;
    uint64_t addr = TL + 0x10;
    static const uint8_t ud2[] = { 0x0f, 0x0b };
    const uint8_t *code, *end;
    InterpExit r;

    setup_mode(h, c->mode);
    map_page(h, c->mode, 0, c->pte ? TP(0) | c->pte : 0);
    ih_load(h, TP(0) + 0x10, ud2, sizeof(ud2));
    if (!c->wp) {
        h->st.cr0 &= ~CR0_WP;
    } else {
        h->st.cr0 |= CR0_WP;
    }
    if (c->nxe) {
        h->st.efer |= EFER_NXE;
    }
    if (c->user) {
        enter_user(h, lm);
    }
    switch (c->access) {
    case DO_READ:
        code = lm ? rd64 : rd32;
        end = lm ? rd64_end : rd32_end;
        break;
    case DO_WRITE:
        code = lm ? wr64 : wr32;
        end = lm ? wr64_end : wr32_end;
        break;
    default:
        code = lm ? ex64 : ex32;
        end = lm ? ex64_end : ex32_end;
        break;
    }
    load_code(h, code, end);
    h->st.regs[R_EBX] = addr;
    h->st.regs[R_EAX] = 0x5a5a5a5a;
    r = ih_run(h, 1000);
    if (c->ec < 0) {
        assert_done(h, r, c->access == DO_EXEC ?
                    addr : (uint64_t)(IH_CODE + (end - code) - 2));
        if (c->access == DO_WRITE) {
            g_assert_cmphex(rd32_phys(h, TP(0) + 0x10), ==, 0x5a5a5a5a);
        }
    } else {
        assert_pf(h, r, c->ec, addr);
        g_assert_cmphex(h->st.rip, ==,
                        c->access == DO_EXEC ? addr : IH_CODE);
        /* Nothing is written on a faulting store. */
        g_assert_cmphex(rd32_phys(h, TP(0) + 0x10), ==, 0x0b0f);
    }
    ih_free(h);
}

static void test_permissions(void)
{
    for (size_t i = 0; i < G_N_ELEMENTS(perm_cases); i++) {
        if (g_test_verbose()) {
            g_test_message("case %zu", i);
        }
        run_perm_case(&perm_cases[i]);
    }
}

/* ---- page sizes ---------------------------------------------------------- */

/* Reads the qword at linear @lin with rd64/rd32 and returns RAX. */
static uint64_t read_via(InterpHarness *h, bool lm, uint64_t lin)
{
    InterpExit r;

    load_code(h, lm ? rd64 : rd32, lm ? rd64_end : rd32_end);
    h->st.rip = IH_CODE;
    h->st.regs[R_EBX] = lin;
    r = ih_run(h, 1000);
    assert_done(h, r, IH_CODE + (lm ? rd64_end - rd64 : rd32_end - rd32) - 2);
    return lm ? h->st.regs[R_EAX] : (uint32_t)h->st.regs[R_EAX];
}

static void test_page_sizes(void)
{
    InterpHarness *h;

    /* 4-level: 4 KiB, 2 MiB (identity) and 1 GiB pages. */
    h = ih_new();
    setup_long(h);
    map_page(h, MODE_LONG, 3, TP(7) | P | W);
    wr64_phys(h, TP(7) + 0x18, 0x1111222233334444ULL);
    wr64_phys(h, IH_DATA + 0x28, 0x5555666677778888ULL);
    g_assert_cmphex(read_via(h, true, TL + 3 * 0x1000 + 0x18), ==,
                    0x1111222233334444ULL);
    g_assert_cmphex(read_via(h, true, IH_DATA + 0x28), ==,
                    0x5555666677778888ULL);
    g_assert_cmphex(read_via(h, true, 0x80000000ULL + IH_DATA + 0x28), ==,
                    0x5555666677778888ULL);
    ih_free(h);

    /* 32-bit: 4 KiB and 4 MiB pages. */
    h = ih_new();
    setup_32(h);
    map_page(h, MODE_32, 2, TP(5) | P);
    wr32_phys(h, TP(5) + 0x40, 0xcafef00d);
    wr32_phys(h, BIG_PHYS + 0x123456, 0xdeadbeef);
    g_assert_cmphex(read_via(h, false, TL + 2 * 0x1000 + 0x40), ==,
                    0xcafef00d);
    g_assert_cmphex(read_via(h, false, TL + 0x400000 + 0x123456), ==,
                    0xdeadbeef);
    ih_free(h);

    /* PAE: 4 KiB and 2 MiB pages. */
    h = ih_new();
    setup_pae(h);
    map_page(h, MODE_PAE, 1, TP(6) | P);
    wr32_phys(h, TP(6) + 0x80, 0x0badf00d);
    wr32_phys(h, BIG_PHYS + 0x1abcd0, 0x600dcafe);
    g_assert_cmphex(read_via(h, false, TL + 0x1000 + 0x80), ==, 0x0badf00d);
    g_assert_cmphex(read_via(h, false, TL + 0x200000 + 0x1abcd0), ==,
                    0x600dcafe);
    ih_free(h);

    /* Paging off: linear is physical. */
    h = ih_new();
    ih_mode_flat32(h, IH_CODE);
    wr32_phys(h, IH_DATA + 0x44, 0x13572468);
    g_assert_cmphex(read_via(h, false, IH_DATA + 0x44), ==, 0x13572468);
    ih_free(h);
}

/* Reserved bits in large-page and upper-level entries. */
static void test_reserved_bits(void)
{
    InterpHarness *h;
    InterpExit r;

    /* 32-bit 4 MiB page with bit 21 set. */
    h = ih_new();
    setup_32(h);
    wr32_phys(h, PD32 + ((TL >> 22) + 1) * 4,
              BIG_PHYS | P | W | PS | (1u << 21));
    load_code(h, rd32, rd32_end);
    h->st.regs[R_EBX] = TL + 0x400000;
    r = ih_run(h, 1000);
    assert_pf(h, r, PF_P | PF_RSVD, TL + 0x400000);
    ih_free(h);

    /* PAE 2 MiB page with bit 13 set. */
    h = ih_new();
    setup_pae(h);
    wr64_phys(h, PAE_PD1 + 8, BIG_PHYS | P | W | PS | (1ULL << 13));
    load_code(h, rd32, rd32_end);
    h->st.regs[R_EBX] = TL + 0x200000;
    r = ih_run(h, 1000);
    assert_pf(h, r, PF_P | PF_RSVD, TL + 0x200000);
    ih_free(h);

    /* PS in a PML4E is reserved; a 1 GiB page with bit 20 set too. */
    h = ih_new();
    setup_long(h);
    wr64_phys(h, IH_PDPT + 16, P | W | PS | (1ULL << 20));
    load_code(h, rd64, rd64_end);
    h->st.regs[R_EBX] = 0x80000000ULL;
    r = ih_run(h, 1000);
    assert_pf(h, r, PF_P | PF_RSVD, 0x80000000ULL);
    ih_free(h);

    h = ih_new();
    setup_long(h);
    wr64_phys(h, IH_PML4 + 8, IH_PDPT | P | W | PS);
    load_code(h, rd64, rd64_end);
    h->st.regs[R_EBX] = 1ULL << 39;
    r = ih_run(h, 1000);
    assert_pf(h, r, PF_P | PF_RSVD, 1ULL << 39);
    ih_free(h);
}

/* ---- accessed and dirty bits --------------------------------------------- */

static void test_accessed_dirty(void)
{
    InterpHarness *h = ih_new();
    InterpExit r;

    setup_long(h);
    map_page(h, MODE_LONG, 0, TP(0) | P | W);
    map_page(h, MODE_LONG, 1, TP(1) | P);          /* read-only */
    /* A read sets A everywhere on the path, not D. */
    read_via(h, true, TL + 8);
    g_assert_true(rd64_phys(h, IH_PML4) & A);
    g_assert_true(rd64_phys(h, IH_PDPT + 8) & A);
    g_assert_true(rd64_phys(h, LM_PD2) & A);
    g_assert_cmphex(rd64_phys(h, LM_PT), ==, TP(0) | P | W | A);
    ih_free(h);

    /* A write sets D in the leaf only. */
    h = ih_new();
    setup_long(h);
    map_page(h, MODE_LONG, 0, TP(0) | P | W);
    load_code(h, wr64, wr64_end);
    h->st.regs[R_EBX] = TL;
    r = ih_run(h, 1000);
    assert_done(h, r, IH_CODE + (wr64_end - wr64) - 2);
    g_assert_cmphex(rd64_phys(h, LM_PT), ==, TP(0) | P | W | A | D);
    g_assert_false(rd64_phys(h, LM_PD2) & D);
    /* A faulting write sets neither. */
    map_page(h, MODE_LONG, 1, TP(1) | P | U);
    h->st.regs[R_EBX] = TL + 0x1000;
    h->st.rip = IH_CODE;
    h->st.cr0 |= CR0_WP;
    r = ih_run(h, 1000);
    assert_pf(h, r, PF_P | PF_W, TL + 0x1000);
    g_assert_cmphex(rd64_phys(h, LM_PT + 8), ==, TP(1) | P | U);
    ih_free(h);

    /* 32-bit: a write to a 4 MiB page sets its D. */
    h = ih_new();
    setup_32(h);
    load_code(h, wr32, wr32_end);
    h->st.regs[R_EBX] = TL + 0x400000;
    r = ih_run(h, 1000);
    assert_done(h, r, IH_CODE + (wr32_end - wr32) - 2);
    g_assert_cmphex(rd32_phys(h, PD32 + ((TL >> 22) + 1) * 4), ==,
                    BIG_PHYS | P | W | U | PS | A | D);
    ih_free(h);

    /* A read of a clean page, then a write: D comes with the write
     * although the translation was cached by the read. */
    h = ih_new();
    setup_pae(h);
    map_page(h, MODE_PAE, 0, TP(0) | P | W);
    load_code(h, rd_then_wr32, rd_then_wr32_end);
    h->st.regs[R_EBX] = TL;
    r = ih_run(h, 1000);
    assert_done(h, r, IH_CODE + (rd_then_wr32_end - rd_then_wr32) - 2);
    g_assert_cmphex(rd64_phys(h, PAE_PT), ==, TP(0) | P | W | A | D);
    ih_free(h);
}

/* ---- TLB: global pages, CR3 reload, INVLPG ------------------------------- */

/*
 * Reads TL (RAX), repoints its PTE at TP(1) behind the TLB's back,
 * reloads CR3 and reads again (RSI), then INVLPG and a third read (RDI).
 */
INTERP_TEST_CODE(tlb_code, 64,
    "mov (%rbx), %rax\n"
    "mov %rcx, (%rdx)\n"
    "mov %cr3, %r8\n"
    "mov %r8, %cr3\n"
    "mov (%rbx), %rsi\n"
    "invlpg (%rbx)\n"
    "mov (%rbx), %rdi\n"
    "hlt\n");

static void run_tlb_case(bool global, bool pge)
{
    InterpHarness *h = ih_new();
    InterpExit r;

    /* Page 7 of TL: its TLB slot is not the code's (0) or the PT's (5),
     * so nothing but the flushes under test can evict it. */
    setup_long(h);
    map_page(h, MODE_LONG, 7, TP(0) | P | W | (global ? G : 0));
    wr64_phys(h, TP(0), 0xaaaa);
    wr64_phys(h, TP(1), 0xbbbb);
    if (pge) {
        h->st.cr4 |= CR4_PGE;
    }
    load_code(h, tlb_code, tlb_code_end);
    h->st.regs[R_EBX] = TL + 7 * 0x1000;
    h->st.regs[R_ECX] = TP(1) | P | W | (global ? G : 0);
    h->st.regs[R_EDX] = LM_PT + 7 * 8;
    r = ih_run(h, 1000);
    g_assert_cmpint(r, ==, INTERP_EXIT_HLT);
    g_assert_cmphex(h->st.regs[R_EAX], ==, 0xaaaa);
    /* Only a global page survives the CR3 reload (with CR4.PGE). */
    g_assert_cmphex(h->st.regs[R_ESI], ==, global && pge ? 0xaaaa : 0xbbbb);
    g_assert_cmphex(h->st.regs[R_EDI], ==, 0xbbbb);
    ih_free(h);
}

static void test_global_pages(void)
{
    run_tlb_case(true, true);
    run_tlb_case(false, true);
    run_tlb_case(true, false);
}

/* INVLPG of any address inside a 2 MiB page drops all of it. */
static void test_invlpg_large_page(void)
{
    InterpHarness *h = ih_new();
    InterpExit r;

    /* Offset 0x9000 of the page: TLB slot 9, which neither the code nor
     * the page directory uses. */
    setup_pae(h);
    wr32_phys(h, BIG_PHYS + 0x9000, 0x1111);
    wr32_phys(h, BIG_PHYS + 0x200000 + 0x9000, 0x2222);
    load_code(h, invlpg_big, invlpg_big_end);
    h->st.regs[R_EBX] = TL + 0x200000 + 0x9000;
    h->st.regs[R_ECX] = (BIG_PHYS + 0x200000) | P | W | PS;
    h->st.regs[R_EDX] = PAE_PD1 + 8;
    r = ih_run(h, 1000);
    g_assert_cmpint(r, ==, INTERP_EXIT_HLT);
    g_assert_cmphex((uint32_t)h->st.regs[R_EAX], ==, 0x1111);
    g_assert_cmphex((uint32_t)h->st.regs[R_ESI], ==, 0x2222);
    ih_free(h);
}

/* ---- accesses crossing a page -------------------------------------------- */

static void test_page_crossing(void)
{
    InterpHarness *h;
    uint64_t lin = TL + 3 * 0x1000 + 0xffe;
    InterpExit r;
    uint8_t fill[0x1000];

    memset(fill, 0x5a, sizeof(fill));

    /* The second page is not present: #PF on it, the first untouched. */
    h = ih_new();
    setup_long(h);
    map_page(h, MODE_LONG, 3, TP(3) | P | W);
    ih_load(h, TP(3), fill, sizeof(fill));
    load_code(h, st32_64, st32_64_end);
    h->st.regs[R_EBX] = lin;
    h->st.regs[R_EAX] = 0xaabbccdd;
    r = ih_run(h, 1000);
    assert_pf(h, r, PF_W, TL + 4 * 0x1000);
    g_assert_cmphex(h->ram[TP(3) + 0xffe], ==, 0x5a);
    g_assert_cmphex(h->ram[TP(3) + 0xfff], ==, 0x5a);
    ih_free(h);

    /* The second page is read-only (CR0.WP): the same. */
    h = ih_new();
    setup_long(h);
    map_page(h, MODE_LONG, 3, TP(3) | P | W);
    map_page(h, MODE_LONG, 4, TP(9) | P);
    ih_load(h, TP(3), fill, sizeof(fill));
    ih_load(h, TP(9), fill, sizeof(fill));
    load_code(h, st32_64, st32_64_end);
    h->st.cr0 |= CR0_WP;
    h->st.regs[R_EBX] = lin;
    h->st.regs[R_EAX] = 0xaabbccdd;
    r = ih_run(h, 1000);
    assert_pf(h, r, PF_P | PF_W, TL + 4 * 0x1000);
    g_assert_cmphex(h->ram[TP(3) + 0xffe], ==, 0x5a);
    g_assert_cmphex(h->ram[TP(9)], ==, 0x5a);
    ih_free(h);

    /* Both writable, the pages not physically adjacent. */
    h = ih_new();
    setup_long(h);
    map_page(h, MODE_LONG, 3, TP(3) | P | W);
    map_page(h, MODE_LONG, 4, TP(9) | P | W);
    load_code(h, st32_64, st32_64_end);
    h->st.regs[R_EBX] = lin;
    h->st.regs[R_EAX] = 0xaabbccdd;
    r = ih_run(h, 1000);
    assert_done(h, r, IH_CODE + (st32_64_end - st32_64) - 2);
    g_assert_cmphex(h->ram[TP(3) + 0xffe], ==, 0xdd);
    g_assert_cmphex(h->ram[TP(3) + 0xfff], ==, 0xcc);
    g_assert_cmphex(h->ram[TP(9)], ==, 0xbb);
    g_assert_cmphex(h->ram[TP(9) + 1], ==, 0xaa);
    /* And the load back across the same boundary (the code elsewhere:
     * ih_load does not tell the interpreter that code changed). */
    ih_load(h, IH_CODE + 0x800, ld32_64, ld32_64_end - ld32_64);
    h->st.rip = IH_CODE + 0x800;
    h->st.regs[R_EAX] = 0;
    r = ih_run(h, 1000);
    assert_done(h, r, IH_CODE + 0x800 + (ld32_64_end - ld32_64) - 2);
    g_assert_cmphex(h->st.regs[R_EAX], ==, 0xaabbccdd);
    ih_free(h);
}

/* ---- MMIO, ROM, unmapped memory ------------------------------------------ */

#define MMIO_BASE   0x20000000ULL
#define ROM_BASE    0x10000000ULL

typedef struct TestDev {
    uint64_t offset, value;
    unsigned size;
    int writes;
} TestDev;

/* Reads return (offset << 8) | size, so a test can tell both. */
static uint64_t tdev_read(void *opaque, uint64_t offset, unsigned size)
{
    return offset << 8 | size;
}

static void tdev_write(void *opaque, uint64_t offset, uint64_t value,
                       unsigned size)
{
    TestDev *dev = opaque;

    dev->offset = offset;
    dev->value = value;
    dev->size = size;
    dev->writes++;
}

static const IoOps tdev_ops = {
    .read = tdev_read, .write = tdev_write, .impl_min = 1, .impl_max = 8,
};

INTERP_TEST_CODE(mmio_code, 64,
    "movl $0x12345678, 0x10(%rbx)\n"
    "mov 0x20(%rbx), %rax\n"
    "movw 0x30(%rbx), %cx\n"
    "movl 0x40(%rdx), %esi\n"
    "hlt\n");

static void test_mmio(void)
{
    InterpHarness *h = ih_new();
    TestDev dev = { 0 };
    InterpExit r;

    g_assert_nonnull(memory_map_add_mmio(h->mem, "testdev", MMIO_BASE,
                                         0x1000, &tdev_ops, &dev, NULL));
    setup_long(h);
    /* Also reachable through a 4 KiB mapping. */
    map_page(h, MODE_LONG, 5, MMIO_BASE | P | W);
    load_code(h, mmio_code, mmio_code_end);
    h->st.regs[R_EBX] = MMIO_BASE;
    h->st.regs[R_EDX] = TL + 5 * 0x1000;
    r = ih_run(h, 1000);
    g_assert_cmpint(r, ==, INTERP_EXIT_HLT);
    g_assert_cmpint(dev.writes, ==, 1);
    g_assert_cmphex(dev.offset, ==, 0x10);
    g_assert_cmpuint(dev.size, ==, 4);
    g_assert_cmphex(dev.value, ==, 0x12345678);
    g_assert_cmphex(h->st.regs[R_EAX], ==, 0x20 << 8 | 8);
    g_assert_cmphex(h->st.regs[R_ECX] & 0xffff, ==, 0x30 << 8 | 2);
    g_assert_cmphex(h->st.regs[R_ESI], ==, 0x40 << 8 | 4);
    ih_free(h);
}

INTERP_TEST_CODE(unmapped_code, 64,
    "mov (%rbx), %rax\n"
    "mov %rax, (%rbx)\n"
    "mov (%rdx), %rsi\n"
    "movb $0x99, (%rcx)\n"
    "movb (%rcx), %dil\n"
    "hlt\n");

static void test_unmapped_and_rom(void)
{
    InterpHarness *h = ih_new();
    uint8_t *rom = g_malloc(0x1000);
    InterpExit r;

    memset(rom, 0x42, 0x1000);
    g_assert_nonnull(memory_map_add_rom(h->mem, "rom", ROM_BASE, 0x1000,
                                        rom, NULL));
    setup_long(h);
    wr32_phys(h, IH_RAM_SIZE - 4, 0x01020304);
    load_code(h, unmapped_code, unmapped_code_end);
    h->st.regs[R_EBX] = 0x30000000;             /* nothing there */
    h->st.regs[R_EDX] = IH_RAM_SIZE - 4;        /* half RAM, half nothing */
    h->st.regs[R_ECX] = ROM_BASE + 0x80;
    r = ih_run(h, 1000);
    g_assert_cmpint(r, ==, INTERP_EXIT_HLT);
    g_assert_cmphex(h->st.regs[R_EAX], ==, UINT64_MAX);
    g_assert_cmphex(h->st.regs[R_ESI], ==, 0xffffffff01020304ULL);
    /* The ROM write was dropped. */
    g_assert_cmphex(h->st.regs[R_EDI] & 0xff, ==, 0x42);
    g_assert_cmphex(rom[0x80], ==, 0x42);
    ih_free(h);
    g_free(rom);
}

/* ---- the MMU API directly ------------------------------------------------ */

static void test_api(void)
{
    InterpHarness *h = ih_new();
    InterpCPU *cpu;
    uint64_t phys, v = 0x0123456789abcdefULL;
    uint8_t buf[8];

    setup_long(h);
    map_page(h, MODE_LONG, 0, TP(2) | P | W);
    map_page(h, MODE_LONG, 1, TP(3) | P | W);
    interp_cpu_set_state(h->cpu, &h->st);
    cpu = h->cpu;

    /* Physical accesses. */
    g_assert_true(interp_phys_write(cpu, TP(2) + 8, &v, 8));
    g_assert_true(interp_phys_read(cpu, TP(2) + 8, buf, 8));
    g_assert_cmpmem(buf, 8, &v, 8);
    g_assert_false(interp_phys_read(cpu, 0x30000000, buf, 8));
    g_assert_cmphex(buf[0], ==, 0xff);

    /* Implicit supervisor accesses through the page tables. */
    g_assert_cmphex(interp_ld_kernel(cpu, TL + 8, 8), ==, v);
    interp_st_kernel(cpu, TL + 0xffc, 8, 0x1122334455667788ULL);
    g_assert_cmphex(rd32_phys(h, TP(2) + 0xffc), ==, 0x55667788);
    g_assert_cmphex(rd32_phys(h, TP(3)), ==, 0x11223344);

    /* Code translation without raising. */
    g_assert_nonnull(interp_translate_code(cpu, IH_CODE + 5, &phys, false));
    g_assert_cmphex(phys, ==, IH_CODE + 5);
    g_assert_null(interp_translate_code(cpu, TL + 0x5000, &phys, false));
    g_assert_cmphex(phys, ==, UINT64_MAX);
    g_assert_null(interp_translate_code(cpu, 0x8000000000000000ULL, &phys,
                                        false));
    g_assert_cmphex(phys, ==, UINT64_MAX);

    /* Ports without a port map read as all ones. */
    g_assert_cmphex(interp_io_read(cpu, 0x80, 1), ==, 0xff);
    g_assert_cmphex(interp_io_read(cpu, 0x80, 4), ==, 0xffffffff);
    ih_free(h);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/interp/mmu/permissions", test_permissions);
    g_test_add_func("/interp/mmu/page-sizes", test_page_sizes);
    g_test_add_func("/interp/mmu/reserved-bits", test_reserved_bits);
    g_test_add_func("/interp/mmu/accessed-dirty", test_accessed_dirty);
    g_test_add_func("/interp/mmu/global-pages", test_global_pages);
    g_test_add_func("/interp/mmu/invlpg-large-page", test_invlpg_large_page);
    g_test_add_func("/interp/mmu/page-crossing", test_page_crossing);
    g_test_add_func("/interp/mmu/mmio", test_mmio);
    g_test_add_func("/interp/mmu/unmapped-rom", test_unmapped_and_rom);
    g_test_add_func("/interp/mmu/api", test_api);
    return g_test_run();
}
