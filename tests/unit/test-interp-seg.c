/*
 * The interpreter's segmentation, far transfers, exceptions and task
 * switches (accel/interp/seg.c, far.c, excp.c, ops-seg.c, cpu-state.c),
 * through small guest programs on a bare InterpCPU.
 */
#include <stdio.h>
#include <string.h>
#include <glib.h>
#include <glib/gstdio.h>
#include "interp-harness.h"
#include "accel/interp/cpu.h"
#include "lemu/util/log.h"

#define IDT_BASE    0x60000
#define RF_BIT      (1u << 16)
#define NT_BIT      (1u << 14)
#define VM_BIT      (1u << 17)

/* ---- descriptor tables ---- */

/* Code/data descriptor; @flags: 0x2 L, 0x4 D/B, 0x8 G. */
static uint64_t mk_seg(uint32_t base, uint32_t limit, unsigned type,
                       unsigned dpl, unsigned flags)
{
    return (limit & 0xffff) | (uint64_t)(base & 0xffffff) << 16 |
           (uint64_t)(type | 0x10 | dpl << 5 | 0x80) << 40 |
           (uint64_t)((limit >> 16) & 0xf) << 48 | (uint64_t)flags << 52 |
           (uint64_t)(base >> 24) << 56;
}

/* System descriptor (S = 0), present. */
static uint64_t mk_sys(uint32_t base, uint32_t limit, unsigned type,
                       unsigned dpl)
{
    return (limit & 0xffff) | (uint64_t)(base & 0xffffff) << 16 |
           (uint64_t)(type | dpl << 5 | 0x80) << 40 |
           (uint64_t)((limit >> 16) & 0xf) << 48 |
           (uint64_t)(base >> 24) << 56;
}

/* Gate (low 8 bytes): call gate params / IST in bits 32-36. */
static uint64_t mk_gate(uint16_t sel, uint32_t off, unsigned type,
                        unsigned dpl, unsigned extra)
{
    return (off & 0xffff) | (uint64_t)sel << 16 | (uint64_t)extra << 32 |
           (uint64_t)(type | dpl << 5 | 0x80) << 40 |
           (uint64_t)(off >> 16) << 48;
}

static void gdt_set(InterpHarness *h, unsigned sel, uint64_t desc)
{
    unsigned off = sel & ~7u;

    ih_load(h, IH_GDT + off, &desc, 8);
    if (off + 7 > h->st.gdt.limit) {
        h->st.gdt.limit = off + 7;
    }
}

static void idt32_set(InterpHarness *h, unsigned vec, uint64_t gate)
{
    ih_load(h, IDT_BASE + vec * 8, &gate, 8);
}

static void idt64_set(InterpHarness *h, unsigned vec, uint64_t off,
                      unsigned dpl, unsigned ist)
{
    uint64_t g[2] = {
        mk_gate(IH_SEL_CODE, off, 0xe, dpl, ist),
        off >> 32,
    };

    ih_load(h, IDT_BASE + vec * 16, g, 16);
}

static void use_idt(InterpHarness *h, uint16_t limit)
{
    h->st.idt.base = IDT_BASE;
    h->st.idt.limit = limit;
}

/* TR as if LTR had loaded @sel (a busy TSS of @type). */
static void set_tr(InterpHarness *h, uint16_t sel, uint32_t base,
                   uint32_t limit, unsigned type)
{
    h->st.tr = (X86Segment) {
        .selector = sel, .base = base, .limit = limit, .type = type,
        .present = 1,
    };
    h->ram[IH_GDT + sel + 5] |= 2;
}

static uint32_t rd32(InterpHarness *h, uint64_t addr)
{
    uint32_t v;

    memcpy(&v, h->ram + addr, 4);
    return v;
}

static uint16_t rd16(InterpHarness *h, uint64_t addr)
{
    uint16_t v;

    memcpy(&v, h->ram + addr, 2);
    return v;
}

static void wr32(InterpHarness *h, uint64_t addr, uint32_t v)
{
    ih_load(h, addr, &v, 4);
}

static void wr64(InterpHarness *h, uint64_t addr, uint64_t v)
{
    ih_load(h, addr, &v, 8);
}

#define LOAD(h, addr, name) ih_load(h, addr, name, name##_end - name)

/* ---- real mode ---- */

INTERP_TEST_CODE(real_int, 16,
    "mov $0x2000, %ax\n"
    "mov %ax, %ss\n"
    "mov $0x1000, %sp\n"
    "int $0x21\n"
    "mov %ax, %bx\n"
    "pushf\n"
    "pop %di\n"
    "hlt\n"
    ".org real_int + 0x100\n"
    "mov $0x1234, %ax\n"
    "mov %sp, %cx\n"
    "pushf\n"
    "pop %dx\n"
    "iret\n");

static void test_real_int_iret(void)
{
    InterpHarness *h = ih_new();
    uint16_t ivt[2] = { 0x0100, 0x1000 };

    ih_mode_real(h, 0x1000, 0);
    LOAD(h, 0x10000, real_int);
    ih_load(h, 0x21 * 4, ivt, 4);
    h->st.rflags |= 0x200;
    ih_deliver_exceptions(h);
    g_assert_cmpint(ih_run(h, 1000), ==, INTERP_EXIT_HLT);
    g_assert_cmphex(h->st.regs[R_EBX] & 0xffff, ==, 0x1234);
    g_assert_cmphex(h->st.regs[R_ECX] & 0xffff, ==, 0x0ffa);
    g_assert_cmphex(h->st.regs[R_EDX] & 0x200, ==, 0);      /* IF off */
    g_assert_cmphex(h->st.regs[R_EDI] & 0x200, ==, 0x200);  /* restored */
    g_assert_cmphex(h->st.regs[R_ESP] & 0xffff, ==, 0x1000);
    g_assert_cmphex(h->st.segs[SEG_CS].selector, ==, 0x1000);
    /* The frame: IP after INT, CS, FLAGS. */
    g_assert_cmphex(rd16(h, 0x20ffa), ==, 10);
    g_assert_cmphex(rd16(h, 0x20ffc), ==, 0x1000);
    g_assert_cmphex(rd16(h, 0x20ffe), ==, 0x202);
    ih_free(h);
}

INTERP_TEST_CODE(real_far, 16,
    "mov $0x2000, %ax\n"
    "mov %ax, %ss\n"
    "mov $0x1000, %sp\n"
    "lcall $0x1010, $0\n"
    "mov %ax, %bx\n"
    "push %cs\n"
    "pop %es\n"
    "lds %cs:0x180, %si\n"
    "hlt\n"
    ".org real_far + 0x100\n"
    "mov %cs, %ax\n"
    "lret\n"
    ".org real_far + 0x180\n"
    ".word 0x5678, 0x4321\n");

static void test_real_far(void)
{
    InterpHarness *h = ih_new();

    ih_mode_real(h, 0x1000, 0);
    LOAD(h, 0x10000, real_far);
    g_assert_cmpint(ih_run(h, 1000), ==, INTERP_EXIT_HLT);
    g_assert_cmphex(h->st.regs[R_EBX] & 0xffff, ==, 0x1010);
    g_assert_cmphex(h->st.segs[SEG_CS].selector, ==, 0x1000);
    g_assert_cmphex(h->st.segs[SEG_CS].base, ==, 0x10000);
    g_assert_cmphex(h->st.segs[SEG_ES].selector, ==, 0x1000);
    g_assert_cmphex(h->st.segs[SEG_ES].base, ==, 0x10000);
    g_assert_cmphex(h->st.segs[SEG_DS].selector, ==, 0x4321);
    g_assert_cmphex(h->st.segs[SEG_DS].base, ==, 0x43210);
    g_assert_cmphex(h->st.regs[R_ESI] & 0xffff, ==, 0x5678);
    g_assert_cmphex(h->st.regs[R_ESP] & 0xffff, ==, 0x1000);
    ih_free(h);
}

/* Real mode to protected mode: LGDT, CR0.PE, far jump. */
INTERP_TEST_CODE(real_to_pm, 16,
    "lgdtl %cs:0x80\n"
    "mov %cr0, %eax\n"
    "or $1, %eax\n"
    "mov %eax, %cr0\n"
    "ljmpl $0x20, $0x10040\n"
    ".org real_to_pm + 0x40\n"
    ".code32\n"
    "mov $0x18, %eax\n"
    "mov %eax, %ds\n"
    "mov %eax, %ss\n"
    "mov $0x12345, %ebx\n"
    "hlt\n"
    ".org real_to_pm + 0x80\n"
    ".word 0x4f\n"
    ".long 0x800\n");

static void test_real_to_protected(void)
{
    InterpHarness *h = ih_new();

    ih_mode_real(h, 0x1000, 0);
    ih_write_gdt(h, false);
    LOAD(h, 0x10000, real_to_pm);
    g_assert_cmpint(ih_run(h, 1000), ==, INTERP_EXIT_HLT);
    g_assert_cmphex(h->st.regs[R_EBX], ==, 0x12345);
    g_assert_cmphex(h->st.segs[SEG_CS].selector, ==, 0x20);
    g_assert_cmpint(h->st.segs[SEG_CS].db, ==, 1);
    g_assert_cmphex(h->st.segs[SEG_DS].limit, ==, 0xffffffff);
    /* The load set the accessed bit in the GDT. */
    g_assert_cmphex(h->ram[IH_GDT + 0x18 + 5] & 1, ==, 1);
    g_assert_cmphex(h->ram[IH_GDT + 0x20 + 5] & 1, ==, 1);
    ih_free(h);
}

/* ---- protected mode exceptions ---- */

INTERP_TEST_CODE(pm_gp, 32,
    "mov $0x50, %eax\n"
    "mov %eax, %ds\n"
    "hlt\n"
    ".org pm_gp + 0x100\n"
    "pop %eax\n"
    "mov (%esp), %ebx\n"
    "mov 4(%esp), %ecx\n"
    "mov 8(%esp), %edx\n"
    "mov %esp, %esi\n"
    "hlt\n");

static void setup_pm_gp(InterpHarness *h)
{
    ih_mode_flat32(h, IH_CODE);
    LOAD(h, IH_CODE, pm_gp);
    idt32_set(h, 13, mk_gate(IH_SEL_CODE, IH_CODE + 0x100, 0xe, 0, 0));
    use_idt(h, 0x7ff);
}

static void test_pm_gp_frame(void)
{
    InterpHarness *h = ih_new();

    setup_pm_gp(h);
    /* Stopping on it: the selector as error code, RIP at the MOV. */
    g_assert_cmpint(ih_run(h, 100), ==, INTERP_EXIT_EXCEPTION);
    g_assert_cmpint(h->vector, ==, 13);
    g_assert_cmpint(h->error_code, ==, 0x50);
    g_assert_cmphex(h->st.rip, ==, IH_CODE + 5);

    setup_pm_gp(h);
    ih_deliver_exceptions(h);
    g_assert_cmpint(ih_run(h, 100), ==, INTERP_EXIT_HLT);
    g_assert_cmphex(h->st.regs[R_EAX], ==, 0x50);
    g_assert_cmphex(h->st.regs[R_EBX], ==, IH_CODE + 5);
    g_assert_cmphex(h->st.regs[R_ECX], ==, IH_SEL_CODE);
    g_assert_cmphex(h->st.regs[R_EDX], ==, RF_BIT | 2);
    g_assert_cmphex(h->st.regs[R_ESI], ==, IH_STACK_TOP - 12);
    ih_free(h);
}

/* -d int: QEMU's line for the #GP above. */
static void test_log_int(void)
{
    InterpHarness *h = ih_new();
    char *path, *text = NULL;
    int fd = g_file_open_tmp("lemu-int-XXXXXX", &path, NULL);

    g_assert_cmpint(fd, >=, 0);
    close(fd);
    g_assert_true(log_setup(LOG_INT, path, NULL));
    setup_pm_gp(h);
    ih_deliver_exceptions(h);
    g_assert_cmpint(ih_run(h, 100), ==, INTERP_EXIT_HLT);
    log_close();
    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    g_assert_cmpstr(text, ==,
                    "     0: v=0d e=0050 i=0 cpl=0 IP=0010:0000000000100005 "
                    "pc=0000000000100005 SP=0018:0000000000300000 "
                    "env->regs[R_EAX]=0000000000000050\n");
    g_free(text);
    g_unlink(path);
    g_free(path);
    ih_free(h);
}

/* Ring 3 (entered with IRET) -> ring 0 through an interrupt gate. */
INTERP_TEST_CODE(ring3_int, 32,
    "mov $0x2b, %eax\n"
    "mov %eax, %ds\n"
    "mov %eax, %es\n"
    "push $0x2b\n"
    "push $0x2f0000\n"
    "push $0x2\n"
    "push $0x3b\n"
    ".globl ring3_int_entry\n"
    "ring3_int_entry:\n"
    "push $0x100040\n"
    "iret\n"
    ".org ring3_int + 0x40\n"
    "mov $0x1111, %ebp\n"
    "int $0x80\n"
    ".org ring3_int + 0x60\n"
    "int $0x81\n"
    ".org ring3_int + 0x100\n"
    "mov %esp, %esi\n"
    "mov (%esp), %eax\n"
    "mov 4(%esp), %ebx\n"
    "mov 12(%esp), %ecx\n"
    "mov 16(%esp), %edx\n"
    "mov %ss, %edi\n"
    "hlt\n"
    ".org ring3_int + 0x180\n"
    "pop %eax\n"
    "mov (%esp), %ebx\n"
    "mov 4(%esp), %ecx\n"
    "hlt\n");

extern const uint8_t ring3_int_entry[];

static void setup_ring3(InterpHarness *h, uint32_t ring3_entry)
{
    ih_mode_flat32(h, IH_CODE);
    LOAD(h, IH_CODE, ring3_int);
    /* Patch the entry point pushed for the IRET. */
    wr32(h, IH_CODE + (ring3_int_entry - ring3_int) + 1, ring3_entry);
    wr32(h, IH_TSS + 4, 0x280000);       /* ESP0 */
    wr32(h, IH_TSS + 8, IH_SEL_DATA);    /* SS0 */
    set_tr(h, IH_SEL_TSS, IH_TSS, 0x67, 0xb);
    idt32_set(h, 0x80, mk_gate(IH_SEL_CODE, IH_CODE + 0x100, 0xe, 3, 0));
    idt32_set(h, 0x81, mk_gate(IH_SEL_CODE, IH_CODE + 0x100, 0xe, 0, 0));
    idt32_set(h, 13, mk_gate(IH_SEL_CODE, IH_CODE + 0x180, 0xe, 0, 0));
    use_idt(h, 0x7ff);
    ih_deliver_exceptions(h);
}

static void test_ring3_interrupt_gate(void)
{
    InterpHarness *h = ih_new();

    setup_ring3(h, IH_CODE + 0x40);
    g_assert_cmpint(ih_run(h, 100), ==, INTERP_EXIT_HLT);
    g_assert_cmphex(h->st.regs[R_ESI], ==, 0x280000 - 20);
    g_assert_cmphex(h->st.regs[R_EAX], ==, IH_CODE + 0x47);
    g_assert_cmphex(h->st.regs[R_EBX], ==, IH_SEL_UCODE32);
    g_assert_cmphex(h->st.regs[R_ECX], ==, 0x2f0000);
    g_assert_cmphex(h->st.regs[R_EDX], ==, IH_SEL_UDATA);
    g_assert_cmphex(h->st.regs[R_EDI] & 0xffff, ==, IH_SEL_DATA);
    g_assert_cmphex(h->st.regs[R_EBP], ==, 0x1111);
    g_assert_cmphex(h->st.segs[SEG_CS].selector, ==, IH_SEL_CODE);

    /* INT n through a DPL 0 gate from ring 3: #GP(vector * 8 + 2).
     * (A new harness: the blocks of the old code are cached.) */
    ih_free(h);
    h = ih_new();
    setup_ring3(h, IH_CODE + 0x60);
    g_assert_cmpint(ih_run(h, 100), ==, INTERP_EXIT_HLT);
    g_assert_cmphex(h->st.regs[R_EAX], ==, 0x81 * 8 + 2);
    g_assert_cmphex(h->st.regs[R_EBX], ==, IH_CODE + 0x60);
    g_assert_cmphex(h->st.regs[R_ECX], ==, IH_SEL_UCODE32);
    ih_free(h);
}

/* A call gate from ring 3 to ring 0 copying two parameters, and the
 * RET back to the outer level. */
INTERP_TEST_CODE(call_gate, 32,
    "mov $0x2b, %eax\n"
    "mov %eax, %ds\n"
    "mov %eax, %es\n"
    "mov %eax, %gs\n"
    "mov $0x18, %eax\n"
    "mov %eax, %fs\n"
    "push $0x2b\n"
    "push $0x2f0000\n"
    "push $0x2\n"
    "push $0x3b\n"
    "push $0x100040\n"
    "iret\n"
    ".org call_gate + 0x40\n"
    "push $0x11111111\n"
    "push $0x22222222\n"
    "lcall $0x63, $0\n"
    "mov %esp, %esi\n"
    "mov %fs, %edi\n"
    "int $0x80\n"
    ".org call_gate + 0x100\n"
    "mov %esp, %ebx\n"
    "mov 8(%esp), %eax\n"
    "mov %eax, 0x200000\n"
    "mov 12(%esp), %eax\n"
    "mov %eax, 0x200004\n"
    "mov 16(%esp), %eax\n"
    "mov %eax, 0x200008\n"
    "mov 20(%esp), %eax\n"
    "mov %eax, 0x20000c\n"
    "mov 4(%esp), %eax\n"
    "mov %eax, 0x200010\n"
    "mov %ebx, 0x200014\n"
    "mov $0x18, %eax\n"
    "mov %eax, %fs\n"
    "lret $8\n"
    ".org call_gate + 0x180\n"
    "hlt\n");

static void test_call_gate(void)
{
    InterpHarness *h = ih_new();

    ih_mode_flat32(h, IH_CODE);
    LOAD(h, IH_CODE, call_gate);
    wr32(h, IH_TSS + 4, 0x280000);
    wr32(h, IH_TSS + 8, IH_SEL_DATA);
    set_tr(h, IH_SEL_TSS, IH_TSS, 0x67, 0xb);
    gdt_set(h, 0x60, mk_gate(IH_SEL_CODE, IH_CODE + 0x100, 0xc, 3, 2));
    idt32_set(h, 0x80, mk_gate(IH_SEL_CODE, IH_CODE + 0x180, 0xe, 3, 0));
    use_idt(h, 0x7ff);
    ih_deliver_exceptions(h);
    g_assert_cmpint(ih_run(h, 200), ==, INTERP_EXIT_HLT);
    g_assert_cmphex(rd32(h, 0x200000), ==, 0x22222222);
    g_assert_cmphex(rd32(h, 0x200004), ==, 0x11111111);
    g_assert_cmphex(rd32(h, 0x200008), ==, 0x2f0000 - 8);
    g_assert_cmphex(rd32(h, 0x20000c), ==, IH_SEL_UDATA);
    g_assert_cmphex(rd32(h, 0x200010), ==, IH_SEL_UCODE32);
    g_assert_cmphex(rd32(h, 0x200014), ==, 0x280000 - 24);
    /* Back in ring 3: parameters popped, FS (DPL 0, loaded by the ring 0
     * code) made null. */
    g_assert_cmphex(h->st.regs[R_ESI], ==, 0x2f0000);
    g_assert_cmphex(h->st.regs[R_EDI] & 0xffff, ==, 0);
    g_assert_cmphex(h->st.segs[SEG_GS].selector, ==, IH_SEL_UDATA);
    ih_free(h);
}

/* ---- segment checks (stopping on the exception) ---- */

INTERP_TEST_CODE(limit_data, 32,
    "mov $0x50, %eax\n"
    "mov %eax, %ds\n"
    "mov 0xffc, %ebx\n"
    "mov 0xffd, %ecx\n"
    "hlt\n");
INTERP_TEST_CODE(limit_expdown, 32,
    "mov $0x58, %eax\n"
    "mov %eax, %ss\n"
    "mov $0x1008, %esp\n"
    "push %eax\n"
    "push %eax\n"
    "push %eax\n"
    "hlt\n");
INTERP_TEST_CODE(limit_readonly, 32,
    "mov $0x60, %eax\n"
    "mov %eax, %ds\n"
    "mov 0x200000, %ecx\n"
    "mov %ecx, 0x200000\n"
    "hlt\n");
INTERP_TEST_CODE(limit_null, 32,
    "xor %eax, %eax\n"
    "mov %eax, %es\n"
    "mov %es:0x200000, %ecx\n"
    "hlt\n");
INTERP_TEST_CODE(limit_np, 32,
    "mov $0x68, %eax\n"
    "mov %eax, %ds\n"
    "hlt\n");
INTERP_TEST_CODE(limit_ss_dpl, 32,
    "mov $0x2b, %eax\n"
    "mov %eax, %ss\n"
    "hlt\n");
INTERP_TEST_CODE(limit_xonly, 32,
    "ljmp $0x70, $0x100007\n"
    "mov %cs:0x100000, %eax\n"
    "hlt\n");
INTERP_TEST_CODE(limit_cs_write, 32,
    "mov %eax, %cs:0x200000\n"
    "hlt\n");
INTERP_TEST_CODE(limit_real, 16,
    "mov 0xfffe, %ax\n"
    "mov 0xffff, %ax\n"
    "hlt\n");

static void run_fault(const uint8_t *code, size_t len, bool real,
                      int vector, int64_t ec, unsigned fault_off,
                      InterpHarness **out)
{
    InterpHarness *h = ih_new();

    if (real) {
        ih_mode_real(h, 0x1000, 0);
        ih_load(h, 0x10000, code, len);
    } else {
        ih_mode_flat32(h, IH_CODE);
        ih_load(h, IH_CODE, code, len);
        gdt_set(h, 0x50, mk_seg(IH_DATA, 0xfff, 0x2, 0, 0x4));
        gdt_set(h, 0x58, mk_seg(0, 0xfff, 0x6, 0, 0x4));   /* expand-down */
        gdt_set(h, 0x60, mk_seg(0, 0xfffff, 0x0, 0, 0xc)); /* read-only */
        gdt_set(h, 0x68, mk_seg(0, 0xfffff, 0x2, 0, 0xc) &
                ~(1ULL << 47));                          /* not present */
        gdt_set(h, 0x70, mk_seg(0, 0xfffff, 0x8, 0, 0xc)); /* exec-only */
    }
    g_assert_cmpint(ih_run(h, 100), ==, INTERP_EXIT_EXCEPTION);
    g_assert_cmpint(h->vector, ==, vector);
    g_assert_cmpint(h->error_code, ==, ec);
    g_assert_cmphex(h->st.rip, ==, (real ? 0 : IH_CODE) + fault_off);
    if (out) {
        *out = h;
    } else {
        ih_free(h);
    }
}

#define RUN_FAULT(name, real, vec, ec, off, out) \
    run_fault(name, name##_end - name, real, vec, ec, off, out)

static void test_segment_limits(void)
{
    InterpHarness *h;

    /* 4 bytes at 0xffc fit a 4 KiB limit, at 0xffd they do not. */
    RUN_FAULT(limit_data, false, 13, 0, 13, &h);
    g_assert_cmphex(h->st.regs[R_EBX], ==, 0);
    g_assert_cmphex(h->st.segs[SEG_DS].base, ==, IH_DATA);
    ih_free(h);
    /* Expand-down stack above 0x1000: the third push is below. */
    RUN_FAULT(limit_expdown, false, 12, 0, 14, &h);
    g_assert_cmphex(h->st.regs[R_ESP], ==, 0x1000);
    ih_free(h);
    RUN_FAULT(limit_readonly, false, 13, 0, 13, NULL);
    RUN_FAULT(limit_null, false, 13, 0, 4, NULL);
    RUN_FAULT(limit_np, false, 11, 0x68, 5, NULL);
    RUN_FAULT(limit_ss_dpl, false, 13, 0x28, 5, NULL);
    RUN_FAULT(limit_xonly, false, 13, 0, 7, &h);
    g_assert_cmphex(h->st.segs[SEG_CS].selector, ==, 0x70);
    ih_free(h);
    RUN_FAULT(limit_cs_write, false, 13, 0, 0, NULL);
    RUN_FAULT(limit_real, true, 13, -1, 3, NULL);
}

/* ---- double and triple faults ---- */

static void test_double_fault(void)
{
    InterpHarness *h = ih_new();

    /* The IDT ends before vector 13: the #GP's delivery faults. */
    setup_pm_gp(h);
    idt32_set(h, 8, mk_gate(IH_SEL_CODE, IH_CODE + 0x100, 0xe, 0, 0));
    use_idt(h, 8 * 8 + 7);
    ih_deliver_exceptions(h);
    g_assert_cmpint(ih_run(h, 100), ==, INTERP_EXIT_HLT);
    g_assert_cmphex(h->st.regs[R_EAX], ==, 0);            /* #DF's code */
    g_assert_cmphex(h->st.regs[R_EBX], ==, IH_CODE + 5);
    g_assert_cmphex(h->st.regs[R_ESI], ==, IH_STACK_TOP - 12);

    /* Nor is #DF there: shutdown. */
    setup_pm_gp(h);
    use_idt(h, 8 * 8 - 1);
    ih_deliver_exceptions(h);
    g_assert_cmpint(ih_run(h, 100), ==, INTERP_EXIT_SHUTDOWN);
    /* A new state brings the CPU back. */
    setup_pm_gp(h);
    ih_deliver_exceptions(h);
    g_assert_cmpint(ih_run(h, 100), ==, INTERP_EXIT_HLT);
    g_assert_cmphex(h->st.regs[R_EAX], ==, 0x50);
    ih_free(h);
}

/* #DF through a task gate to a 32-bit TSS. */
INTERP_TEST_CODE(df_task, 32,
    "mov $0x12345678, %ebp\n"
    "mov $0x80, %eax\n"
    "mov %eax, %ds\n"
    "hlt\n"
    ".org df_task + 0x100\n"
    "pop %eax\n"
    "mov %esp, %esi\n"
    "str %ebx\n"
    "pushf\n"
    "pop %ecx\n"
    "hlt\n");

static void test_task_gate_double_fault(void)
{
    InterpHarness *h = ih_new();
    const uint32_t tss2 = 0x5000;

    ih_mode_flat32(h, IH_CODE);
    LOAD(h, IH_CODE, df_task);
    set_tr(h, IH_SEL_TSS, IH_TSS, 0x67, 0xb);
    gdt_set(h, 0x58, mk_sys(tss2, 0x67, 0x9, 0));
    wr32(h, tss2 + 0x20, IH_CODE + 0x100);     /* EIP */
    wr32(h, tss2 + 0x24, 0x2);                 /* EFLAGS */
    wr32(h, tss2 + 0x38, 0x2a0000);            /* ESP */
    for (int i = 0; i < 6; i++) {
        wr32(h, tss2 + 0x48 + i * 4, i == SEG_CS ? IH_SEL_CODE : IH_SEL_DATA);
    }
    idt32_set(h, 8, mk_gate(0x58, 0, 0x5, 0, 0));
    use_idt(h, 8 * 8 + 7);
    ih_deliver_exceptions(h);
    g_assert_cmpint(ih_run(h, 100), ==, INTERP_EXIT_HLT);
    g_assert_cmphex(h->st.regs[R_EAX], ==, 0);             /* error code */
    g_assert_cmphex(h->st.regs[R_ESI], ==, 0x2a0000);
    g_assert_cmphex(h->st.regs[R_EBX], ==, 0x58);
    g_assert_cmphex(h->st.regs[R_ECX] & NT_BIT, ==, NT_BIT);
    g_assert_cmphex(h->st.regs[R_EBP], ==, 0);             /* new task's */
    g_assert_cmphex(h->st.tr.selector, ==, 0x58);
    g_assert_cmphex(h->st.cr0 & CR0_TS, ==, CR0_TS);
    /* The old task saved at the faulting instruction, linked, busy. */
    g_assert_cmphex(rd32(h, IH_TSS + 0x20), ==, IH_CODE + 10);
    g_assert_cmphex(rd32(h, IH_TSS + 0x3c), ==, 0x12345678);
    g_assert_cmphex(rd16(h, tss2), ==, IH_SEL_TSS);
    g_assert_cmphex(h->ram[IH_GDT + 0x58 + 5], ==, 0x8b);
    g_assert_cmphex(h->ram[IH_GDT + IH_SEL_TSS + 5], ==, 0x8b);
    ih_free(h);
}

/* CALL to a TSS, IRET back through the link (NT), then JMP to it. */
INTERP_TEST_CODE(task_sw, 32,
    "mov $0x1234, %eax\n"
    "lcall $0x58, $0\n"
    "mov %eax, %ebx\n"
    "str %ecx\n"
    "pushf\n"
    "pop %edx\n"
    "ljmp $0x58, $0\n"
    ".org task_sw + 0x100\n"
    "mov $0x99, %eax\n"
    "pushf\n"
    "pop %esi\n"
    "iret\n"
    "mov $0x4321, %edi\n"
    "hlt\n");

static void test_task_switch_call_iret_jmp(void)
{
    InterpHarness *h = ih_new();
    const uint32_t tss2 = 0x5000;

    ih_mode_flat32(h, IH_CODE);
    LOAD(h, IH_CODE, task_sw);
    set_tr(h, IH_SEL_TSS, IH_TSS, 0x67, 0xb);
    gdt_set(h, 0x58, mk_sys(tss2, 0x67, 0x9, 0));
    wr32(h, tss2 + 0x20, IH_CODE + 0x100);
    wr32(h, tss2 + 0x24, 0x2);
    wr32(h, tss2 + 0x38, 0x2a0000);
    for (int i = 0; i < 6; i++) {
        wr32(h, tss2 + 0x48 + i * 4, i == SEG_CS ? IH_SEL_CODE : IH_SEL_DATA);
    }
    g_assert_cmpint(ih_run(h, 200), ==, INTERP_EXIT_HLT);
    /* Task 2 again, resumed after its IRET by the JMP. */
    g_assert_cmphex(h->st.regs[R_EAX], ==, 0x99);
    g_assert_cmphex(h->st.regs[R_ESI] & NT_BIT, ==, NT_BIT);
    g_assert_cmphex(h->st.regs[R_EDI], ==, 0x4321);
    g_assert_cmphex(h->st.regs[R_ESP], ==, 0x2a0000);
    g_assert_cmphex(h->st.rflags & NT_BIT, ==, 0);
    g_assert_cmphex(h->st.tr.selector, ==, 0x58);
    g_assert_cmphex(rd16(h, tss2), ==, IH_SEL_TSS);
    /* Task 1 as the JMP saved it: back from its CALL with its own EAX,
     * NT clear. */
    g_assert_cmphex(rd32(h, IH_TSS + 0x34), ==, 0x1234);     /* EBX */
    g_assert_cmphex(rd32(h, IH_TSS + 0x2c), ==, IH_SEL_TSS); /* ECX */
    g_assert_cmphex(rd32(h, IH_TSS + 0x30) & NT_BIT, ==, 0); /* EDX */
    /* JMP cleared the busy bit of task 1, IRET that of task 2 (set
     * again by the JMP). */
    g_assert_cmphex(h->ram[IH_GDT + IH_SEL_TSS + 5], ==, 0x89);
    g_assert_cmphex(h->ram[IH_GDT + 0x58 + 5], ==, 0x8b);
    ih_free(h);
}

/* INT3 and INTO stop at the instruction; INTO only with OF. */
INTERP_TEST_CODE(soft_traps, 32,
    "into\n"
    "mov $0x7f, %al\n"
    "add $1, %al\n"
    ".globl soft_traps_into\n"
    "soft_traps_into:\n"
    "into\n"
    "hlt\n");
INTERP_TEST_CODE(soft_int3, 32,
    "nop\n"
    "int3\n"
    "hlt\n");
extern const uint8_t soft_traps_into[];

static void test_soft_traps(void)
{
    InterpHarness *h = ih_new();

    ih_mode_flat32(h, IH_CODE);
    LOAD(h, IH_CODE, soft_traps);
    g_assert_cmpint(ih_run(h, 100), ==, INTERP_EXIT_EXCEPTION);
    g_assert_cmpint(h->vector, ==, 4);
    g_assert_cmpint(h->error_code, ==, -1);
    g_assert_cmphex(h->st.rip, ==, IH_CODE + (soft_traps_into - soft_traps));
    ih_free(h);

    h = ih_new();
    ih_mode_flat32(h, IH_CODE);
    LOAD(h, IH_CODE, soft_int3);
    g_assert_cmpint(ih_run(h, 100), ==, INTERP_EXIT_EXCEPTION);
    g_assert_cmpint(h->vector, ==, 3);
    g_assert_cmphex(h->st.rip, ==, IH_CODE + 1);
    ih_free(h);
}

/* External interrupts and NMIs delivered between runs. */
INTERP_TEST_CODE(ext_int, 32,
    "hlt\n"
    "mov $1, %edi\n"
    "hlt\n"
    ".org ext_int + 0x100\n"
    "mov (%esp), %ebx\n"
    "pushf\n"
    "pop %ecx\n"
    "hlt\n"
    "mov $2, %ebp\n"
    "hlt\n"
    ".org ext_int + 0x180\n"
    "mov $0x77, %esi\n"
    "iret\n");

static void test_external_interrupt_nmi(void)
{
    InterpHarness *h = ih_new();
    InterpCPU *cpu = h->cpu;

    ih_mode_flat32(h, IH_CODE);
    LOAD(h, IH_CODE, ext_int);
    idt32_set(h, 0x30, mk_gate(IH_SEL_CODE, IH_CODE + 0x100, 0xe, 0, 0));
    idt32_set(h, 2, mk_gate(IH_SEL_CODE, IH_CODE + 0x180, 0xe, 0, 0));
    use_idt(h, 0x7ff);
    h->st.rflags |= 0x200;
    ih_deliver_exceptions(h);
    g_assert_cmpint(ih_run(h, 100), ==, INTERP_EXIT_HLT);
    g_assert_cmpint(h->st.mp_state, ==, X86_MP_HALTED);

    interp_cpu_set_state(cpu, &h->st);
    interp_deliver_interrupt(cpu, 0x30);
    g_assert_false(cpu->halted);
    interp_cpu_get_state(cpu, &h->st);
    g_assert_cmpint(ih_run(h, 100), ==, INTERP_EXIT_HLT);
    g_assert_cmphex(h->st.regs[R_EBX], ==, IH_CODE + 1);   /* after HLT */
    g_assert_cmphex(h->st.regs[R_ECX] & 0x200, ==, 0);     /* IF off */

    interp_cpu_set_state(cpu, &h->st);
    interp_deliver_nmi(cpu);
    g_assert_true(cpu->nmi_blocked);
    interp_cpu_get_state(cpu, &h->st);
    g_assert_cmpint(ih_run(h, 100), ==, INTERP_EXIT_HLT);
    g_assert_false(cpu->nmi_blocked);                      /* IRET */
    g_assert_cmphex(h->st.regs[R_ESI], ==, 0x77);
    g_assert_cmphex(h->st.regs[R_EBP], ==, 2);
    ih_free(h);
}

/* ---- virtual-8086 mode ---- */

INTERP_TEST_CODE(v86_enter, 32,
    "push $0\n"
    "push $0\n"
    "push $0x2000\n"
    "push $0x3000\n"
    "push $0x4000\n"
    "push $0x1000\n"
    ".globl v86_enter_flags\n"
    "v86_enter_flags:\n"
    "push $0x23002\n"
    "push $0x1000\n"
    "push $0\n"
    "iret\n"
    ".org v86_enter + 0x100\n"
    "mov %esp, %ss:0x200000\n"
    "mov (%esp), %eax\n"
    "mov %eax, %ss:0x200004\n"
    "mov 8(%esp), %eax\n"
    "mov %eax, %ss:0x200008\n"
    "mov 16(%esp), %eax\n"
    "mov %eax, %ss:0x20000c\n"
    "mov 24(%esp), %eax\n"
    "mov %eax, %ss:0x200010\n"
    "mov %ds, %eax\n"
    "mov %eax, %ss:0x200014\n"
    "iret\n"
    ".org v86_enter + 0x180\n"
    "pop %eax\n"
    "mov (%esp), %ebx\n"
    "mov 8(%esp), %ecx\n"
    "hlt\n"
    ".org v86_enter + 0x1c0\n"
    "mov (%esp), %eax\n"
    "mov 8(%esp), %ecx\n"
    "hlt\n");
extern const uint8_t v86_enter_flags[];
INTERP_TEST_CODE(v86_code, 16,
    "mov $0x77, %ax\n"
    "int $0x21\n"
    "mov %ds, %bx\n"
    "int $0x22\n");

static void setup_v86(InterpHarness *h, uint32_t eflags)
{
    ih_mode_flat32(h, IH_CODE);
    LOAD(h, IH_CODE, v86_enter);
    wr32(h, IH_CODE + (v86_enter_flags - v86_enter) + 1, eflags);
    LOAD(h, 0x10000, v86_code);
    wr32(h, IH_TSS + 4, 0x280000);
    wr32(h, IH_TSS + 8, IH_SEL_DATA);
    set_tr(h, IH_SEL_TSS, IH_TSS, 0x67, 0xb);
    idt32_set(h, 0x21, mk_gate(IH_SEL_CODE, IH_CODE + 0x100, 0xe, 3, 0));
    idt32_set(h, 0x22, mk_gate(IH_SEL_CODE, IH_CODE + 0x1c0, 0xe, 3, 0));
    idt32_set(h, 13, mk_gate(IH_SEL_CODE, IH_CODE + 0x180, 0xe, 0, 0));
    use_idt(h, 0x7ff);
    ih_deliver_exceptions(h);
}

static void test_v86(void)
{
    InterpHarness *h = ih_new();

    /* IOPL 3: INT n goes to ring 0 with the v86 segments on the stack;
     * IRET returns to v86 mode. */
    setup_v86(h, 0x23002);
    g_assert_cmpint(ih_run(h, 200), ==, INTERP_EXIT_HLT);
    g_assert_cmphex(rd32(h, 0x200000), ==, 0x280000 - 36);
    g_assert_cmphex(rd32(h, 0x200004), ==, 5);          /* IP after INT */
    g_assert_cmphex(rd32(h, 0x200008) & (VM_BIT | 0x3000), ==,
                    VM_BIT | 0x3000);
    g_assert_cmphex(rd32(h, 0x20000c), ==, 0x4000);     /* SS */
    g_assert_cmphex(rd32(h, 0x200010), ==, 0x2000);     /* DS */
    g_assert_cmphex(rd32(h, 0x200014) & 0xffff, ==, 0); /* DS nulled */
    /* The second INT: the frame of a v86 program again. */
    g_assert_cmphex(h->st.regs[R_EBX] & 0xffff, ==, 0x2000);
    g_assert_cmphex(h->st.regs[R_EAX] & 0xffff, ==, 0x0009);   /* IP */
    g_assert_cmphex(h->st.regs[R_ECX] & VM_BIT, ==, VM_BIT);

    /* IOPL 0: INT n is #GP(0) at the INT. */
    ih_free(h);
    h = ih_new();
    setup_v86(h, 0x20002);
    g_assert_cmpint(ih_run(h, 200), ==, INTERP_EXIT_HLT);
    g_assert_cmphex(h->st.regs[R_EAX], ==, 0);
    g_assert_cmphex(h->st.regs[R_EBX], ==, 3);
    ih_free(h);
}

/* CR4.VME: INT n redirected to the v86 program's IVT by the TSS bitmap;
 * IRET at IOPL 0 moves IF to VIF; a vector with its bit set #GPs. */
INTERP_TEST_CODE(vme_code, 16,
    "int $0x21\n"
    "int $0x22\n"
    ".org vme_code + 0x100\n"
    "mov $0x55, %bx\n"
    "iret\n");

static void test_v86_vme_redirect(void)
{
    InterpHarness *h = ih_new();

    setup_v86(h, 0x20002 | (1u << 19));      /* VM, VIF, IOPL 0 */
    LOAD(h, 0x10000, vme_code);
    h->st.cr4 |= 1;                          /* VME */
    wr32(h, IH_TSS + 0x64, 0x68 << 16);      /* I/O map base 0x68 */
    h->ram[IH_TSS + 0x48 + 0x22 / 8] = 1 << (0x22 & 7);
    wr32(h, 0x21 * 4, 0x10000100);           /* 1000:0100 */
    g_assert_cmpint(ih_run(h, 200), ==, INTERP_EXIT_HLT);
    g_assert_cmphex(h->st.regs[R_EBX], ==, 2);          /* IP of INT 22 */
    g_assert_cmphex(h->st.regs[R_EAX], ==, 0);          /* #GP(0) */
    g_assert_cmphex(h->st.regs[R_ECX] & (1u << 19), ==, 1u << 19);
    /* The redirected INT's frame on the v86 stack: IF shows VIF, IOPL 3. */
    g_assert_cmphex(rd16(h, 0x40ffa), ==, 2);
    g_assert_cmphex(rd16(h, 0x40ffc), ==, 0x1000);
    g_assert_cmphex(rd16(h, 0x40ffe) & 0x3200, ==, 0x3200);
    ih_free(h);
}

/* ---- descriptor instructions ---- */

INTERP_TEST_CODE(desc_insns, 32,
    "mov $0x10, %eax\n"
    "lar %eax, %ebx\n"
    "setz 0x200000\n"
    "mov $0xdead, %edx\n"
    "mov $0x50, %eax\n"
    "lsl %eax, %edx\n"
    "setz 0x200001\n"
    "mov $0x18, %eax\n"
    "lsl %eax, %esi\n"
    "setz 0x200002\n"
    "verr %ax\n"
    "setz 0x200003\n"
    "verw %ax\n"
    "setz 0x200004\n"
    "mov $0x10, %eax\n"
    "verw %ax\n"
    "setz 0x200005\n"
    "verr %ax\n"
    "setz 0x200006\n"
    "mov $0x2b, %eax\n"
    "verw %ax\n"
    "setz 0x200007\n"
    "mov $0x40, %eax\n"
    "lar %eax, %edi\n"
    "setz 0x200008\n"
    "verr %ax\n"
    "setz 0x200009\n"
    "mov $0x1b, %ecx\n"
    "mov $0x18, %eax\n"
    "arpl %cx, %ax\n"
    "setz 0x20000a\n"
    "mov %eax, 0x200010\n"
    "mov $0x40, %eax\n"
    "ltr %ax\n"
    "str %ebp\n"
    "mov $0x48, %eax\n"
    "lldt %ax\n"
    "sldt %ecx\n"
    "movl $0xffffffff, -4(%esp)\n"
    "push %ds\n"
    "pop %eax\n"
    "mov $0x2b, %edx\n"
    "push %edx\n"
    "pop %fs\n"
    "lds 0x200100, %edx\n"
    "hlt\n");

static void test_descriptor_insns(void)
{
    InterpHarness *h = ih_new();
    static const uint8_t expect_zf[] = { 1, 0, 1, 1, 1, 0, 1, 1, 1, 0, 1 };

    ih_mode_flat32(h, IH_CODE);
    LOAD(h, IH_CODE, desc_insns);
    /* 0x48 (the 64-bit TSS's upper half) becomes an LDT here. */
    gdt_set(h, 0x48, mk_sys(0x6000, 0x1f, 0x2, 0));
    wr32(h, 0x200100, 0x11223344);
    wr32(h, 0x200104, IH_SEL_UDATA);
    g_assert_cmpint(ih_run(h, 200), ==, INTERP_EXIT_HLT);
    for (unsigned i = 0; i < sizeof(expect_zf); i++) {
        g_assert_cmpint(h->ram[0x200000 + i], ==, expect_zf[i]);
    }
    g_assert_cmphex(h->st.regs[R_EBX], ==, 0x00cf9a00 & 0x00f0ff00);
    g_assert_cmphex(h->st.regs[R_ESI], ==, 0xffffffff);
    g_assert_cmphex(h->st.regs[R_EDI], ==, 0x00008900);
    g_assert_cmphex(rd32(h, 0x200010) & 0xffff, ==, 0x1b);
    g_assert_cmphex(h->st.regs[R_EBP], ==, 0x40);
    g_assert_cmphex(h->st.tr.selector, ==, 0x40);
    g_assert_cmphex(h->st.tr.type, ==, 0xb);
    g_assert_cmphex(h->ram[IH_GDT + 0x40 + 5], ==, 0x8b);  /* busy */
    g_assert_cmphex(h->st.regs[R_ECX], ==, 0x48);
    g_assert_cmphex(h->st.ldt.base, ==, 0x6000);
    g_assert_cmphex(h->st.ldt.limit, ==, 0x1f);
    /* PUSH DS writes 16 bits of the 32-bit slot. */
    g_assert_cmphex(h->st.regs[R_EAX], ==, 0xffff0018);
    g_assert_cmphex(h->st.segs[SEG_FS].selector, ==, IH_SEL_UDATA);
    g_assert_cmphex(h->st.regs[R_EDX], ==, 0x11223344);
    g_assert_cmphex(h->st.segs[SEG_DS].selector, ==, IH_SEL_UDATA);
    g_assert_cmphex(h->st.regs[R_ESP], ==, IH_STACK_TOP);
    ih_free(h);
}

/* ---- long mode ---- */

INTERP_TEST_CODE(lm_ist, 64,
    "mov $0x40, %eax\n"
    "ltr %ax\n"
    "mov $0x50, %eax\n"
    ".globl lm_ist_fault\n"
    "lm_ist_fault:\n"
    "mov %eax, %ds\n"
    "hlt\n"
    ".org lm_ist + 0x100\n"
    "mov %rsp, %rsi\n"
    "pop %rax\n"
    "mov (%rsp), %rbx\n"
    "mov 8(%rsp), %rcx\n"
    "mov 16(%rsp), %rdx\n"
    "mov 24(%rsp), %rdi\n"
    "mov 32(%rsp), %rbp\n"
    "hlt\n");
extern const uint8_t lm_ist_fault[];

static void test_long_mode_ist(void)
{
    InterpHarness *h = ih_new();

    ih_mode_long(h, IH_CODE);
    LOAD(h, IH_CODE, lm_ist);
    wr64(h, IH_TSS + 4, 0x280000);           /* RSP0 */
    wr64(h, IH_TSS + 0x24, 0x290008);        /* IST1, misaligned */
    idt64_set(h, 13, IH_CODE + 0x100, 0, 1);
    use_idt(h, 0xfff);
    ih_deliver_exceptions(h);
    g_assert_cmpint(ih_run(h, 100), ==, INTERP_EXIT_HLT);
    g_assert_cmphex(h->st.regs[R_ESI], ==, 0x290000 - 48);
    g_assert_cmphex(h->st.regs[R_EAX], ==, 0x50);
    g_assert_cmphex(h->st.regs[R_EBX], ==,
                    IH_CODE + (lm_ist_fault - lm_ist));
    g_assert_cmphex(h->st.regs[R_ECX], ==, IH_SEL_CODE);
    g_assert_cmphex(h->st.regs[R_EDX], ==, RF_BIT | 2);
    g_assert_cmphex(h->st.regs[R_EDI], ==, IH_STACK_TOP);
    g_assert_cmphex(h->st.regs[R_EBP], ==, IH_SEL_DATA);
    g_assert_cmphex(h->ram[IH_GDT + IH_SEL_TSS + 5], ==, 0x8b);
    ih_free(h);
}

/* Ring 3 -> ring 0 in long mode: RSP0, 16-byte alignment, null SS. */
INTERP_TEST_CODE(lm_ring3, 64,
    "mov $0x40, %eax\n"
    "ltr %ax\n"
    "push $0x2b\n"
    "push $0x2f0008\n"
    "push $0x2\n"
    "push $0x33\n"
    "push $0x100040\n"
    "iretq\n"
    ".org lm_ring3 + 0x40\n"
    "int $0x80\n"
    ".org lm_ring3 + 0x100\n"
    "mov %rsp, %rsi\n"
    "mov (%rsp), %rax\n"
    "mov 8(%rsp), %rbx\n"
    "mov 24(%rsp), %rdi\n"
    "mov 32(%rsp), %rbp\n"
    "hlt\n");

/* Lets ring 3 use the harness's identity map (U/S in every level). */
static void long_mode_user_pages(InterpHarness *h)
{
    h->ram[IH_PML4] |= 4;
    h->ram[IH_PDPT] |= 4;
    for (unsigned i = 0; i < 512; i++) {
        h->ram[IH_PD + i * 8] |= 4;
    }
}

static void test_long_mode_ring3(void)
{
    InterpHarness *h = ih_new();

    ih_mode_long(h, IH_CODE);
    long_mode_user_pages(h);
    LOAD(h, IH_CODE, lm_ring3);
    wr64(h, IH_TSS + 4, 0x280008);
    idt64_set(h, 0x80, IH_CODE + 0x100, 3, 0);
    use_idt(h, 0xfff);
    ih_deliver_exceptions(h);
    g_assert_cmpint(ih_run(h, 100), ==, INTERP_EXIT_HLT);
    g_assert_cmphex(h->st.regs[R_ESI], ==, 0x280000 - 40);
    g_assert_cmphex(h->st.regs[R_EAX], ==, IH_CODE + 0x42);
    g_assert_cmphex(h->st.regs[R_EBX], ==, IH_SEL_UCODE);
    g_assert_cmphex(h->st.regs[R_EDI], ==, 0x2f0008);
    g_assert_cmphex(h->st.regs[R_EBP], ==, IH_SEL_UDATA);
    g_assert_cmphex(h->st.segs[SEG_SS].selector, ==, 0);
    g_assert_cmphex(h->st.segs[SEG_CS].selector, ==, IH_SEL_CODE);
    ih_free(h);
}

/* A kernel stack that is not mapped: the INT's delivery takes #PF, whose
 * delivery takes #PF again: #DF, on a good IST stack. */
INTERP_TEST_CODE(lm_stack_df, 64,
    "mov $0x40, %eax\n"
    "ltr %ax\n"
    "push $0x2b\n"
    "push $0x2f0000\n"
    "push $0x2\n"
    "push $0x33\n"
    "push $0x100040\n"
    "iretq\n"
    ".org lm_stack_df + 0x40\n"
    "int $0x80\n"
    ".org lm_stack_df + 0x100\n"
    "mov %rsp, %rsi\n"
    "pop %rax\n"
    "mov (%rsp), %rbx\n"
    "mov 8(%rsp), %rcx\n"
    "mov %cr2, %rdx\n"
    "hlt\n");

static void test_long_mode_stack_double_fault(void)
{
    InterpHarness *h = ih_new();

    ih_mode_long(h, IH_CODE);
    long_mode_user_pages(h);
    h->ram[IH_PD + 2 * 8] &= ~1;             /* 4-6 MiB not present */
    LOAD(h, IH_CODE, lm_stack_df);
    wr64(h, IH_TSS + 4, 0x500000);           /* RSP0 in the hole */
    wr64(h, IH_TSS + 0x24, 0x290000);        /* IST1 */
    idt64_set(h, 0x80, IH_CODE + 0x180, 3, 0);
    idt64_set(h, 14, IH_CODE + 0x180, 0, 0);
    idt64_set(h, 8, IH_CODE + 0x100, 0, 1);
    use_idt(h, 0xfff);
    ih_deliver_exceptions(h);
    g_assert_cmpint(ih_run(h, 100), ==, INTERP_EXIT_HLT);
    g_assert_cmphex(h->st.regs[R_ESI], ==, 0x290000 - 48);
    g_assert_cmphex(h->st.regs[R_EAX], ==, 0);
    g_assert_cmphex(h->st.regs[R_EBX], ==, IH_CODE + 0x40);  /* the INT */
    g_assert_cmphex(h->st.regs[R_ECX], ==, IH_SEL_UCODE);
    g_assert_cmphex(h->st.regs[R_EDX], ==, 0x500000 - 8);
    ih_free(h);
}

/* 64-bit -> compatibility mode with LRETQ, and back with LJMP. */
INTERP_TEST_CODE(lm_compat, 64,
    "push $0x20\n"
    "push $0x100080\n"
    "lretq\n"
    ".org lm_compat + 0x80\n"
    ".code32\n"
    "mov $0x12345678, %eax\n"
    "mov %cs, %ecx\n"
    "ljmp $0x10, $0x1000c0\n"
    ".org lm_compat + 0xc0\n"
    ".code64\n"
    "mov $0x123456789, %rbx\n"
    "hlt\n");

static void test_long_mode_compat(void)
{
    InterpHarness *h = ih_new();

    ih_mode_long(h, IH_CODE);
    LOAD(h, IH_CODE, lm_compat);
    g_assert_cmpint(ih_run(h, 100), ==, INTERP_EXIT_HLT);
    g_assert_cmphex(h->st.regs[R_EAX], ==, 0x12345678);
    g_assert_cmphex(h->st.regs[R_ECX] & 0xffff, ==, IH_SEL_CODE32);
    g_assert_cmphex(h->st.regs[R_EBX], ==, 0x123456789ULL);
    g_assert_cmphex(h->st.segs[SEG_CS].selector, ==, IH_SEL_CODE);
    g_assert_cmphex(h->st.regs[R_ESP], ==, IH_STACK_TOP);
    ih_free(h);
}

/* The power-on state survives set_state/get_state. */
static void test_state_round_trip(void)
{
    InterpHarness *h = ih_new();
    X86CPUState a, b;

    ih_mode_long(h, IH_CODE);
    a = h->st;
    a.regs[R_R15] = 0x1122334455667788ULL;
    a.rflags = 0x202 | 0x8d5;             /* IF and arithmetic flags */
    a.cr2 = 0xdeadbeef;
    a.lstar = 0xffffffff81000000ULL;
    interp_cpu_set_state(h->cpu, &a);
    interp_cpu_get_state(h->cpu, &b);
    g_assert_cmphex(b.regs[R_R15], ==, a.regs[R_R15]);
    g_assert_cmphex(b.rflags, ==, a.rflags);
    g_assert_cmphex(b.cr2, ==, a.cr2);
    g_assert_cmphex(b.lstar, ==, a.lstar);
    g_assert_cmphex(b.efer, ==, a.efer);
    g_assert_cmphex(b.segs[SEG_CS].l, ==, 1);
    g_assert_cmpint(b.mp_state, ==, X86_MP_RUNNABLE);
    ih_free(h);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/interp/seg/real-int-iret", test_real_int_iret);
    g_test_add_func("/interp/seg/real-far", test_real_far);
    g_test_add_func("/interp/seg/real-to-protected", test_real_to_protected);
    g_test_add_func("/interp/seg/pm-gp-frame", test_pm_gp_frame);
    g_test_add_func("/interp/seg/log-int", test_log_int);
    g_test_add_func("/interp/seg/ring3-interrupt-gate",
                    test_ring3_interrupt_gate);
    g_test_add_func("/interp/seg/call-gate", test_call_gate);
    g_test_add_func("/interp/seg/segment-limits", test_segment_limits);
    g_test_add_func("/interp/seg/double-fault", test_double_fault);
    g_test_add_func("/interp/seg/task-gate-double-fault",
                    test_task_gate_double_fault);
    g_test_add_func("/interp/seg/task-switch-call-iret-jmp",
                    test_task_switch_call_iret_jmp);
    g_test_add_func("/interp/seg/soft-traps", test_soft_traps);
    g_test_add_func("/interp/seg/external-interrupt-nmi",
                    test_external_interrupt_nmi);
    g_test_add_func("/interp/seg/v86", test_v86);
    g_test_add_func("/interp/seg/v86-vme-redirect", test_v86_vme_redirect);
    g_test_add_func("/interp/seg/descriptor-insns", test_descriptor_insns);
    g_test_add_func("/interp/seg/long-mode-ist", test_long_mode_ist);
    g_test_add_func("/interp/seg/long-mode-ring3", test_long_mode_ring3);
    g_test_add_func("/interp/seg/long-mode-stack-double-fault",
                    test_long_mode_stack_double_fault);
    g_test_add_func("/interp/seg/long-mode-compat", test_long_mode_compat);
    g_test_add_func("/interp/seg/state-round-trip", test_state_round_trip);
    return g_test_run();
}
