/*
 * The interpreter's remaining integer operations (ops-muldiv.c,
 * ops-shift.c, ops-bit.c, ops-string.c, ops-bcd.c, ops-atomic.c), run as
 * small gas-assembled guest programs through interp-harness.
 *
 * The expected values of the register-only cases in the table were taken
 * from an Intel CPU: each runs one instruction on RAX, RBX, RCX, RDX with
 * the given arithmetic flags and compares the registers and the flags in
 * its mask: those the SDM defines, and for the instructions whose
 * undefined flags the interpreter sets as Intel does, all six.
 */
#include <string.h>
#include <glib.h>
#include "interp-harness.h"

#define F_CF 0x001ull
#define F_PF 0x004ull
#define F_AF 0x010ull
#define F_ZF 0x040ull
#define F_SF 0x080ull
#define F_DF 0x400ull
#define F_OF 0x800ull
#define F_ARITH 0x8d5ull

#define CODE_LEN(name) ((size_t)(name##_end - name))

/* A harness in 64-bit mode with @code at IH_CODE. */
static InterpHarness *new_long(const uint8_t *code, size_t len)
{
    InterpHarness *h = ih_new();

    ih_mode_long(h, IH_CODE);
    ih_load(h, IH_CODE, code, len);
    return h;
}
#define NEW_LONG(name) new_long(name, CODE_LEN(name))

static InterpHarness *new_flat32(const uint8_t *code, size_t len)
{
    InterpHarness *h = ih_new();

    ih_mode_flat32(h, IH_CODE);
    ih_load(h, IH_CODE, code, len);
    return h;
}
#define NEW_FLAT32(name) new_flat32(name, CODE_LEN(name))

/* Real mode, code at 0x1000:0 (linear 0x10000), DS = ES = 0x2000. */
static InterpHarness *new_real(const uint8_t *code, size_t len)
{
    InterpHarness *h = ih_new();

    ih_mode_real(h, 0x1000, 0);
    ih_load(h, 0x10000, code, len);
    h->st.segs[SEG_DS].selector = 0x2000;
    h->st.segs[SEG_DS].base = 0x20000;
    h->st.segs[SEG_ES].selector = 0x2000;
    h->st.segs[SEG_ES].base = 0x20000;
    h->st.segs[SEG_SS].selector = 0x3000;
    h->st.segs[SEG_SS].base = 0x30000;
    h->st.regs[R_ESP] = 0xfff0;
    return h;
}
#define NEW_REAL(name) new_real(name, CODE_LEN(name))

static void run_to_hlt(InterpHarness *h)
{
    InterpExit r = ih_run(h, 0);

    if (r != INTERP_EXIT_HLT) {
        g_test_message("exit %d, vector %d, error code %" G_GINT64_FORMAT
                       ", rip %#" G_GINT64_MODIFIER "x", r, h->vector,
                       h->error_code, h->st.rip);
    }
    g_assert_cmpint(r, ==, INTERP_EXIT_HLT);
}

static void run_to_fault(InterpHarness *h, int vector, uint64_t rip)
{
    g_assert_cmpint(ih_run(h, 0), ==, INTERP_EXIT_EXCEPTION);
    g_assert_cmpint(h->vector, ==, vector);
    g_assert_cmphex(h->st.rip, ==, rip);
}

static void set_flags(InterpHarness *h, uint64_t f)
{
    h->st.rflags = (h->st.rflags & ~(F_ARITH | F_DF)) | f | 2;
}

static uint64_t ram64(InterpHarness *h, uint64_t gpa)
{
    uint64_t v;

    memcpy(&v, h->ram + gpa, 8);
    return v;
}

static void put64(InterpHarness *h, uint64_t gpa, uint64_t v)
{
    ih_load(h, gpa, &v, 8);
}

/* ==== register-only cases, checked against hardware ==== */

INTERP_TEST_CODE(c_mul64, 64, "mul %rbx\n hlt");
INTERP_TEST_CODE(c_mul64_small, 64, "mul %rbx\n hlt");
INTERP_TEST_CODE(c_mul32, 64, "mul %ebx\n hlt");
INTERP_TEST_CODE(c_mul32_big, 64, "mul %ebx\n hlt");
INTERP_TEST_CODE(c_mul16, 64, "mul %bx\n hlt");
INTERP_TEST_CODE(c_mul8, 64, "mul %bl\n hlt");
INTERP_TEST_CODE(c_mul8_ah, 64, "mul %bh\n hlt");
INTERP_TEST_CODE(c_imul1_64, 64, "imul %rbx\n hlt");
INTERP_TEST_CODE(c_imul1_64_ovf, 64, "imul %rbx\n hlt");
INTERP_TEST_CODE(c_imul1_32, 64, "imul %ebx\n hlt");
INTERP_TEST_CODE(c_imul1_16, 64, "imul %bx\n hlt");
INTERP_TEST_CODE(c_imul1_8, 64, "imul %bl\n hlt");
INTERP_TEST_CODE(c_imul2_64, 64, "imul %rbx, %rax\n hlt");
INTERP_TEST_CODE(c_imul2_32, 64, "imul %ebx, %eax\n hlt");
INTERP_TEST_CODE(c_imul2_16, 64, "imul %bx, %cx\n hlt");
INTERP_TEST_CODE(c_imul3_64, 64, "imul $-3, %rbx, %rax\n hlt");
INTERP_TEST_CODE(c_imul3_32, 64, "imul $0x10000, %ebx, %edx\n hlt");
INTERP_TEST_CODE(c_imul3_16, 64, "imul $-2, %cx, %ax\n hlt");
INTERP_TEST_CODE(c_div64, 64, "div %rbx\n hlt");
INTERP_TEST_CODE(c_div64_lo, 64, "div %rbx\n hlt");
INTERP_TEST_CODE(c_div32, 64, "div %ecx\n hlt");
INTERP_TEST_CODE(c_div16, 64, "div %bx\n hlt");
INTERP_TEST_CODE(c_div8, 64, "div %bl\n hlt");
INTERP_TEST_CODE(c_div8_ah, 64, "div %ch\n hlt");
INTERP_TEST_CODE(c_idiv64, 64, "idiv %rbx\n hlt");
INTERP_TEST_CODE(c_idiv64_min, 64, "idiv %rbx\n hlt");
INTERP_TEST_CODE(c_idiv32, 64, "idiv %ebx\n hlt");
INTERP_TEST_CODE(c_idiv16, 64, "idiv %bx\n hlt");
INTERP_TEST_CODE(c_idiv8, 64, "idiv %bl\n hlt");
INTERP_TEST_CODE(c_idiv8_neg, 64, "idiv %bl\n hlt");
INTERP_TEST_CODE(c_shl1_32, 64, "shl $1, %eax\n hlt");
INTERP_TEST_CODE(c_shl3_32, 64, "shl $3, %eax\n hlt");
INTERP_TEST_CODE(c_shl_cl0, 64, "shl %cl, %eax\n hlt");
INTERP_TEST_CODE(c_shl_cl65, 64, "shl %cl, %rax\n hlt");
INTERP_TEST_CODE(c_shl8_9, 64, "shl %cl, %al\n hlt");
INTERP_TEST_CODE(c_shl8_8, 64, "shl %cl, %al\n hlt");
INTERP_TEST_CODE(c_shl16_17, 64, "shl %cl, %bx\n hlt");
INTERP_TEST_CODE(c_shr1_32, 64, "shr $1, %eax\n hlt");
INTERP_TEST_CODE(c_shr3_32, 64, "shr $3, %eax\n hlt");
INTERP_TEST_CODE(c_shr8_8, 64, "shr %cl, %al\n hlt");
INTERP_TEST_CODE(c_shr64_63, 64, "shr %cl, %rdx\n hlt");
INTERP_TEST_CODE(c_sar1_32, 64, "sar $1, %eax\n hlt");
INTERP_TEST_CODE(c_sar3_32, 64, "sar $3, %eax\n hlt");
INTERP_TEST_CODE(c_sar8_9, 64, "sar %cl, %al\n hlt");
INTERP_TEST_CODE(c_sar16_1, 64, "sar $1, %bx\n hlt");
INTERP_TEST_CODE(c_sar64_63, 64, "sar $63, %rax\n hlt");
INTERP_TEST_CODE(c_rol1_32, 64, "rol $1, %eax\n hlt");
INTERP_TEST_CODE(c_rol4_32, 64, "rol $4, %eax\n hlt");
INTERP_TEST_CODE(c_rol8_8, 64, "rol %cl, %al\n hlt");
INTERP_TEST_CODE(c_rol16_3, 64, "rol $3, %bx\n hlt");
INTERP_TEST_CODE(c_rol64_1, 64, "rol $1, %rdx\n hlt");
INTERP_TEST_CODE(c_rol_cl0, 64, "rol %cl, %eax\n hlt");
INTERP_TEST_CODE(c_ror1_8, 64, "ror $1, %al\n hlt");
INTERP_TEST_CODE(c_ror5_32, 64, "ror $5, %eax\n hlt");
INTERP_TEST_CODE(c_ror64_1, 64, "ror $1, %rbx\n hlt");
INTERP_TEST_CODE(c_rcl1_8, 64, "rcl $1, %al\n hlt");
INTERP_TEST_CODE(c_rcl3_8, 64, "rcl %cl, %al\n hlt");
INTERP_TEST_CODE(c_rcl9_8, 64, "rcl %cl, %al\n hlt");
INTERP_TEST_CODE(c_rcl17_16, 64, "rcl %cl, %ax\n hlt");
INTERP_TEST_CODE(c_rcl18_16, 64, "rcl %cl, %ax\n hlt");
INTERP_TEST_CODE(c_rcl3_64, 64, "rcl $3, %rax\n hlt");
INTERP_TEST_CODE(c_rcl1_64, 64, "rcl $1, %rax\n hlt");
INTERP_TEST_CODE(c_rcl33_64, 64, "rcl %cl, %rdx\n hlt");
INTERP_TEST_CODE(c_rcl31_32, 64, "rcl %cl, %ebx\n hlt");
INTERP_TEST_CODE(c_rcr1_64, 64, "rcr $1, %rax\n hlt");
INTERP_TEST_CODE(c_rcr3_8, 64, "rcr %cl, %al\n hlt");
INTERP_TEST_CODE(c_rcr5_32, 64, "rcr $5, %ebx\n hlt");
INTERP_TEST_CODE(c_rcr16_16, 64, "rcr %cl, %dx\n hlt");
INTERP_TEST_CODE(c_rcr63_64, 64, "rcr %cl, %rdx\n hlt");
INTERP_TEST_CODE(c_shld16_4, 64, "shld $4, %bx, %ax\n hlt");
INTERP_TEST_CODE(c_shld16_20, 64, "shld %cl, %bx, %ax\n hlt");
INTERP_TEST_CODE(c_shld16_24, 64, "shld %cl, %bx, %ax\n hlt");
INTERP_TEST_CODE(c_shld32_1, 64, "shld $1, %ebx, %eax\n hlt");
INTERP_TEST_CODE(c_shld32_0, 64, "shld %cl, %ebx, %eax\n hlt");
INTERP_TEST_CODE(c_shld64_60, 64, "shld $60, %rbx, %rax\n hlt");
INTERP_TEST_CODE(c_shrd16_20, 64, "shrd %cl, %bx, %ax\n hlt");
INTERP_TEST_CODE(c_shrd16_24, 64, "shrd %cl, %bx, %ax\n hlt");
INTERP_TEST_CODE(c_shrd32_4, 64, "shrd $4, %ebx, %eax\n hlt");
INTERP_TEST_CODE(c_shrd64_1, 64, "shrd $1, %rbx, %rax\n hlt");
INTERP_TEST_CODE(c_shrd64_cl, 64, "shrd %cl, %rbx, %rax\n hlt");
INTERP_TEST_CODE(c_bt_reg, 64, "bt %ebx, %eax\n hlt");
INTERP_TEST_CODE(c_bt_imm, 64, "bt $63, %rax\n hlt");
INTERP_TEST_CODE(c_bts_reg, 64, "bts %rcx, %rax\n hlt");
INTERP_TEST_CODE(c_btr_16, 64, "btr %cx, %bx\n hlt");
INTERP_TEST_CODE(c_btc_imm, 64, "btc $35, %edx\n hlt");
INTERP_TEST_CODE(c_bsf_0, 64, "bsf %ebx, %eax\n hlt");
INTERP_TEST_CODE(c_bsf_80, 64, "bsf %rbx, %rax\n hlt");
INTERP_TEST_CODE(c_bsf_16, 64, "bsf %bx, %ax\n hlt");
INTERP_TEST_CODE(c_bsr_1, 64, "bsr %ebx, %eax\n hlt");
INTERP_TEST_CODE(c_bsr_64, 64, "bsr %rbx, %rax\n hlt");
INTERP_TEST_CODE(c_bsr_0, 64, "bsr %rbx, %rax\n hlt");
INTERP_TEST_CODE(c_popcnt_64, 64, "popcnt %rbx, %rax\n hlt");
INTERP_TEST_CODE(c_popcnt_0, 64, "popcnt %bx, %ax\n hlt");
INTERP_TEST_CODE(c_lzcnt_16, 64, "lzcnt %bx, %ax\n hlt");
INTERP_TEST_CODE(c_lzcnt_0, 64, "lzcnt %ebx, %eax\n hlt");
INTERP_TEST_CODE(c_lzcnt_top, 64, "lzcnt %rbx, %rax\n hlt");
INTERP_TEST_CODE(c_tzcnt_64_0, 64, "tzcnt %rbx, %rax\n hlt");
INTERP_TEST_CODE(c_tzcnt_32, 64, "tzcnt %ebx, %eax\n hlt");
INTERP_TEST_CODE(c_andn_32, 64, "andn %ebx, %ecx, %eax\n hlt");
INTERP_TEST_CODE(c_andn_64, 64, "andn %rbx, %rcx, %rax\n hlt");
INTERP_TEST_CODE(c_bextr_32, 64, "bextr %ecx, %ebx, %eax\n hlt");
INTERP_TEST_CODE(c_bextr_big, 64, "bextr %ecx, %ebx, %eax\n hlt");
INTERP_TEST_CODE(c_bextr_out, 64, "bextr %rcx, %rbx, %rax\n hlt");
INTERP_TEST_CODE(c_blsi_32, 64, "blsi %ebx, %eax\n hlt");
INTERP_TEST_CODE(c_blsi_0, 64, "blsi %rbx, %rax\n hlt");
INTERP_TEST_CODE(c_blsmsk_0, 64, "blsmsk %ebx, %eax\n hlt");
INTERP_TEST_CODE(c_blsmsk_64, 64, "blsmsk %rbx, %rax\n hlt");
INTERP_TEST_CODE(c_blsr_32, 64, "blsr %ebx, %eax\n hlt");
INTERP_TEST_CODE(c_blsr_0, 64, "blsr %rbx, %rax\n hlt");
INTERP_TEST_CODE(c_bzhi_32, 64, "bzhi %ecx, %ebx, %eax\n hlt");
INTERP_TEST_CODE(c_bzhi_5, 64, "bzhi %ecx, %ebx, %eax\n hlt");
INTERP_TEST_CODE(c_bzhi_64, 64, "bzhi %rcx, %rbx, %rax\n hlt");
INTERP_TEST_CODE(c_pdep_32, 64, "pdep %ecx, %ebx, %eax\n hlt");
INTERP_TEST_CODE(c_pdep_64, 64, "pdep %rcx, %rbx, %rax\n hlt");
INTERP_TEST_CODE(c_pext_32, 64, "pext %ecx, %ebx, %eax\n hlt");
INTERP_TEST_CODE(c_pext_64, 64, "pext %rcx, %rbx, %rax\n hlt");
INTERP_TEST_CODE(c_mulx_64, 64, "mulx %rcx, %rbx, %rax\n hlt");
INTERP_TEST_CODE(c_mulx_same, 64, "mulx %rcx, %rax, %rax\n hlt");
INTERP_TEST_CODE(c_mulx_32, 64, "mulx %ecx, %ebx, %eax\n hlt");
INTERP_TEST_CODE(c_rorx_32, 64, "rorx $4, %ebx, %eax\n hlt");
INTERP_TEST_CODE(c_rorx_64, 64, "rorx $68, %rbx, %rax\n hlt");
INTERP_TEST_CODE(c_sarx_32, 64, "sarx %ecx, %ebx, %eax\n hlt");
INTERP_TEST_CODE(c_shlx_64, 64, "shlx %rcx, %rbx, %rax\n hlt");
INTERP_TEST_CODE(c_shrx_32, 64, "shrx %ecx, %ebx, %eax\n hlt");
INTERP_TEST_CODE(c_adcx_32, 64, "adcx %ebx, %eax\n hlt");
INTERP_TEST_CODE(c_adcx_64, 64, "adcx %rbx, %rax\n hlt");
INTERP_TEST_CODE(c_adox_64, 64, "adox %rbx, %rax\n hlt");
INTERP_TEST_CODE(c_adox_32in, 64, "adox %ebx, %eax\n hlt");
INTERP_TEST_CODE(c_cmpxchg_reg_fail, 64, "cmpxchg %ebx, %ecx\n hlt");
INTERP_TEST_CODE(c_cmpxchg_reg_ok, 64, "cmpxchg %ebx, %ecx\n hlt");
INTERP_TEST_CODE(c_cmpxchg_reg8, 64, "cmpxchg %bh, %cl\n hlt");
INTERP_TEST_CODE(c_cmpxchg_acc, 64, "cmpxchg %rbx, %rax\n hlt");
INTERP_TEST_CODE(c_xadd_32, 64, "xadd %ebx, %eax\n hlt");
INTERP_TEST_CODE(c_xadd_same, 64, "xadd %rax, %rax\n hlt");

typedef struct RegCase {
    const char *name;
    const uint8_t *code, *end;
    uint64_t in[4];           /* RAX, RBX, RCX, RDX */
    uint64_t flags_in;
    uint64_t out[4];
    uint64_t flags_mask, flags_out;
} RegCase;

#define C(n) #n, c_##n, c_##n##_end
#define N(n) #n, n, n##_end

static const RegCase reg_cases[] = {
    { C(mul64), { 0xffffffffffffffff, 0x2, 0x0, 0x0 }, 0x0,
      { 0xfffffffffffffffe, 0x2, 0x0, 0x1 }, 0x801, 0x801 },
    { C(mul64_small), { 0x7, 0x6, 0x0, 0x55 }, 0x8d5,
      { 0x2a, 0x6, 0x0, 0x0 }, 0x801, 0x0 },
    { C(mul32), { 0xffffffff00000003, 0x5, 0x0, 0xffffffffffffffff }, 0x0,
      { 0xf, 0x5, 0x0, 0x0 }, 0x801, 0x0 },
    { C(mul32_big), { 0x80000000, 0x2, 0x0, 0x0 }, 0x0,
      { 0x0, 0x2, 0x0, 0x1 }, 0x801, 0x801 },
    { C(mul16), { 0x1234567800008000, 0x4, 0x0, 0xffffffffffffffff }, 0x0,
      { 0x1234567800000000, 0x4, 0x0, 0xffffffffffff0002 }, 0x801, 0x801 },
    { C(mul8), { 0x1234567890abcd80, 0x3, 0x0, 0x0 }, 0x0,
      { 0x1234567890ab0180, 0x3, 0x0, 0x0 }, 0x801, 0x801 },
    { C(mul8_ah), { 0x10, 0x1000, 0x0, 0x0 }, 0x8d5,
      { 0x100, 0x1000, 0x0, 0x0 }, 0x801, 0x801 },
    { C(imul1_64), { 0xffffffffffffffff, 0x1, 0x0, 0x0 }, 0x8d5,
      { 0xffffffffffffffff, 0x1, 0x0, 0xffffffffffffffff }, 0x801, 0x0 },
    { C(imul1_64_ovf), { 0x4000000000000000, 0x4, 0x0, 0x0 }, 0x0,
      { 0x0, 0x4, 0x0, 0x1 }, 0x801, 0x801 },
    { C(imul1_32), { 0xfffffff0, 0x10000000, 0x0, 0x0 }, 0x0,
      { 0x0, 0x10000000, 0x0, 0xffffffff }, 0x801, 0x801 },
    { C(imul1_16), { 0xffff, 0xffff, 0x0, 0x0 }, 0x8d5,
      { 0x1, 0xffff, 0x0, 0x0 }, 0x801, 0x0 },
    { C(imul1_8), { 0x7f, 0x80, 0x0, 0x0 }, 0x0,
      { 0xc080, 0x80, 0x0, 0x0 }, 0x801, 0x801 },
    { C(imul2_64), { 0x4000000000000000, 0x2, 0x0, 0x0 }, 0x0,
      { 0x8000000000000000, 0x2, 0x0, 0x0 }, 0x801, 0x801 },
    { C(imul2_32), { 0xffffffff80000000, 0xffffffff, 0x0, 0x0 }, 0x8d5,
      { 0x80000000, 0xffffffff, 0x0, 0x0 }, 0x801, 0x801 },
    { C(imul2_16), { 0x0, 0x100, 0xffffffffffff00ff, 0x0 }, 0x0,
      { 0x0, 0x100, 0xffffffffffffff00, 0x0 }, 0x801, 0x801 },
    { C(imul3_64), { 0x0, 0x5555555555555555, 0x0, 0x0 }, 0x0,
      { 0x1, 0x5555555555555555, 0x0, 0x0 }, 0x801, 0x801 },
    { C(imul3_32), { 0x0, 0x12345, 0x0, 0xffffffffffffffff }, 0x0,
      { 0x0, 0x12345, 0x0, 0x23450000 }, 0x801, 0x801 },
    { C(imul3_16), { 0xffffffffffffffff, 0x0, 0x4000, 0x0 }, 0x8d5,
      { 0xffffffffffff8000, 0x0, 0x4000, 0x0 }, 0x801, 0x0 },
    { C(div64), { 0x0, 0x2, 0x0, 0x1 }, 0x8d5,
      { 0x8000000000000000, 0x2, 0x0, 0x0 }, 0x8d5, 0x8d5 },
    { C(div64_lo), { 0xf4241, 0x3e8, 0x0, 0x0 }, 0x0,
      { 0x3e8, 0x3e8, 0x0, 0x1 }, 0x8d5, 0x0 },
    { C(div32), { 0xffffffff00000064, 0x0, 0x7, 0xffffffff00000001 }, 0x8d5,
      { 0x24924932, 0x0, 0x7, 0x6 }, 0x8d5, 0x8d5 },
    { C(div16), { 0x12345, 0x100, 0x0, 0x12 }, 0x0,
      { 0x11223, 0x100, 0x0, 0x45 }, 0x8d5, 0x0 },
    { C(div8), { 0xffff1234, 0x56, 0x0, 0x0 }, 0x8d5,
      { 0xffff1036, 0x56, 0x0, 0x0 }, 0x8d5, 0x8d5 },
    { C(div8_ah), { 0xff, 0x0, 0x1000, 0x0 }, 0x0,
      { 0xf0f, 0x0, 0x1000, 0x0 }, 0x8d5, 0x0 },
    { C(idiv64), { 0xfffffffffffffff9, 0x2, 0x0, 0xffffffffffffffff }, 0x0,
      { 0xfffffffffffffffd, 0x2, 0x0, 0xffffffffffffffff }, 0x8d5, 0x0 },
    { C(idiv64_min), { 0x8000000000000000, 0xffffffffffffffff, 0x0, 0x0 }, 0x8d5,
      { 0x8000000000000000, 0xffffffffffffffff, 0x0, 0x0 }, 0x8d5, 0x8d5 },
    { C(idiv32), { 0xffffff9c, 0x7, 0x0, 0xffffffff }, 0x0,
      { 0xfffffff2, 0x7, 0x0, 0xfffffffe }, 0x8d5, 0x0 },
    { C(idiv16), { 0x8000, 0xffff, 0x0, 0x0 }, 0x0,
      { 0x8000, 0xffff, 0x0, 0x0 }, 0x8d5, 0x0 },
    { C(idiv8), { 0xfff9, 0x2, 0x0, 0x0 }, 0x8d5,
      { 0xfffd, 0x2, 0x0, 0x0 }, 0x8d5, 0x8d5 },
    { C(idiv8_neg), { 0x64, 0xf9, 0x0, 0x0 }, 0x0,
      { 0x2f2, 0xf9, 0x0, 0x0 }, 0x8d5, 0x0 },
    { C(shl1_32), { 0xffffffff40000001, 0x0, 0x0, 0x0 }, 0x0,
      { 0x80000002, 0x0, 0x0, 0x0 }, 0x8c5, 0x880 },
    { C(shl3_32), { 0x30000000, 0x0, 0x0, 0x0 }, 0x0,
      { 0x80000000, 0x0, 0x0, 0x0 }, 0xc5, 0x85 },
    { C(shl_cl0), { 0xffffffff00000005, 0x0, 0x0, 0x0 }, 0x8d5,
      { 0x5, 0x0, 0x0, 0x0 }, 0x8d5, 0x8d5 },
    { C(shl_cl65), { 0x8000000000000001, 0x0, 0x41, 0x0 }, 0x0,
      { 0x2, 0x0, 0x41, 0x0 }, 0x8c5, 0x801 },
    { C(shl8_9), { 0xff, 0x0, 0x9, 0x0 }, 0x0,
      { 0x0, 0x0, 0x9, 0x0 }, 0xc5, 0x44 },
    { C(shl8_8), { 0xff, 0x0, 0x8, 0x0 }, 0x0,
      { 0x0, 0x0, 0x8, 0x0 }, 0xc5, 0x45 },
    { C(shl16_17), { 0x0, 0xffff, 0x11, 0x0 }, 0x8d5,
      { 0x0, 0x0, 0x11, 0x0 }, 0xc5, 0x44 },
    { C(shr1_32), { 0x80000001, 0x0, 0x0, 0x0 }, 0x0,
      { 0x40000000, 0x0, 0x0, 0x0 }, 0x8c5, 0x805 },
    { C(shr3_32), { 0x80000004, 0x0, 0x0, 0x0 }, 0x0,
      { 0x10000000, 0x0, 0x0, 0x0 }, 0xc5, 0x5 },
    { C(shr8_8), { 0xff, 0x0, 0x8, 0x0 }, 0x0,
      { 0x0, 0x0, 0x8, 0x0 }, 0xc5, 0x45 },
    { C(shr64_63), { 0x0, 0x0, 0x3f, 0x8000000000000000 }, 0x0,
      { 0x0, 0x0, 0x3f, 0x1 }, 0xc5, 0x0 },
    { C(sar1_32), { 0x80000001, 0x0, 0x0, 0x0 }, 0x0,
      { 0xc0000000, 0x0, 0x0, 0x0 }, 0x8c5, 0x85 },
    { C(sar3_32), { 0x80000004, 0x0, 0x0, 0x0 }, 0x8d5,
      { 0xf0000000, 0x0, 0x0, 0x0 }, 0xc5, 0x85 },
    { C(sar8_9), { 0x80, 0x0, 0x9, 0x0 }, 0x0,
      { 0xff, 0x0, 0x9, 0x0 }, 0xc5, 0x85 },
    { C(sar16_1), { 0x0, 0x8001, 0x0, 0x0 }, 0x0,
      { 0x0, 0xc000, 0x0, 0x0 }, 0x8c5, 0x85 },
    { C(sar64_63), { 0x8000000000000000, 0x0, 0x0, 0x0 }, 0x0,
      { 0xffffffffffffffff, 0x0, 0x0, 0x0 }, 0xc5, 0x84 },
    { C(rol1_32), { 0x80000001, 0x0, 0x0, 0x0 }, 0x0,
      { 0x3, 0x0, 0x0, 0x0 }, 0x801, 0x801 },
    { C(rol4_32), { 0x8000001, 0x0, 0x0, 0x0 }, 0x8d5,
      { 0x80000010, 0x0, 0x0, 0x0 }, 0x8d5, 0x8d4 },
    { C(rol8_8), { 0x81, 0x0, 0x8, 0x0 }, 0x0,
      { 0x81, 0x0, 0x8, 0x0 }, 0x8d5, 0x801 },
    { C(rol16_3), { 0x0, 0xe001, 0x0, 0x0 }, 0x0,
      { 0x0, 0xf, 0x0, 0x0 }, 0x8d5, 0x1 },
    { C(rol64_1), { 0x0, 0x0, 0x0, 0x4000000000000000 }, 0x8d5,
      { 0x0, 0x0, 0x0, 0x8000000000000000 }, 0x8d5, 0x8d4 },
    { C(rol_cl0), { 0xffffffff00000005, 0x0, 0x0, 0x0 }, 0x8d5,
      { 0x5, 0x0, 0x0, 0x0 }, 0x8d5, 0x8d5 },
    { C(ror1_8), { 0x1, 0x0, 0x0, 0x0 }, 0x0,
      { 0x80, 0x0, 0x0, 0x0 }, 0x801, 0x801 },
    { C(ror5_32), { 0x80000011, 0x0, 0x0, 0x0 }, 0x0,
      { 0x8c000000, 0x0, 0x0, 0x0 }, 0x8d5, 0x1 },
    { C(ror64_1), { 0x0, 0x2, 0x0, 0x0 }, 0x8d5,
      { 0x0, 0x1, 0x0, 0x0 }, 0x8d5, 0xd4 },
    { C(rcl1_8), { 0x80, 0x0, 0x0, 0x0 }, 0x8d5,
      { 0x1, 0x0, 0x0, 0x0 }, 0x801, 0x801 },
    { C(rcl3_8), { 0x81, 0x0, 0x3, 0x0 }, 0x0,
      { 0xa, 0x0, 0x3, 0x0 }, 0x8d5, 0x800 },
    { C(rcl9_8), { 0x81, 0x0, 0x9, 0x0 }, 0x8d5,
      { 0x81, 0x0, 0x9, 0x0 }, 0x8d5, 0x8d5 },
    { C(rcl17_16), { 0x8001, 0x0, 0x11, 0x0 }, 0x0,
      { 0x8001, 0x0, 0x11, 0x0 }, 0x8d5, 0x0 },
    { C(rcl18_16), { 0x8001, 0x0, 0x12, 0x0 }, 0x0,
      { 0x2, 0x0, 0x12, 0x0 }, 0x801, 0x801 },
    { C(rcl3_64), { 0xa000000000000001, 0x0, 0x0, 0x0 }, 0x8d5,
      { 0xe, 0x0, 0x0, 0x0 }, 0x8d5, 0x8d5 },
    { C(rcl1_64), { 0x8000000000000000, 0x0, 0x0, 0x0 }, 0x0,
      { 0x0, 0x0, 0x0, 0x0 }, 0x801, 0x801 },
    { C(rcl33_64), { 0x0, 0x0, 0x21, 0x123456789abcdef0 }, 0x8d5,
      { 0x0, 0x0, 0x21, 0x3579bde112345678 }, 0x8d5, 0xd5 },
    { C(rcl31_32), { 0x0, 0x87654321, 0x1f, 0x0 }, 0x8d5,
      { 0x0, 0xe1d950c8, 0x1f, 0x0 }, 0x8d5, 0x8d4 },
    { C(rcr1_64), { 0x2, 0x0, 0x0, 0x0 }, 0x8d5,
      { 0x8000000000000001, 0x0, 0x0, 0x0 }, 0x801, 0x800 },
    { C(rcr3_8), { 0x81, 0x0, 0x3, 0x0 }, 0x8d5,
      { 0x70, 0x0, 0x3, 0x0 }, 0x8d5, 0xd4 },
    { C(rcr5_32), { 0x0, 0x12345678, 0x0, 0x0 }, 0x8d5,
      { 0x0, 0x8891a2b3, 0x0, 0x0 }, 0x8d5, 0x8d5 },
    { C(rcr16_16), { 0x0, 0x0, 0x10, 0xabcd }, 0x0,
      { 0x0, 0x0, 0x10, 0x579a }, 0x8d5, 0x801 },
    { C(rcr63_64), { 0x0, 0x0, 0x3f, 0x123456789abcdef1 }, 0x8d5,
      { 0x0, 0x0, 0x3f, 0x48d159e26af37bc6 }, 0x8d5, 0x8d4 },
    { C(shld16_4), { 0x1234, 0x5678, 0x0, 0x0 }, 0x0,
      { 0x2345, 0x5678, 0x0, 0x0 }, 0x8d5, 0x1 },
    { C(shld16_20), { 0x1234, 0x5678, 0x14, 0x0 }, 0x0,
      { 0x6781, 0x5678, 0x14, 0x0 }, 0x8d5, 0x5 },
    { C(shld16_24), { 0x8234, 0x5678, 0x18, 0x0 }, 0x0,
      { 0x7882, 0x5678, 0x18, 0x0 }, 0x8d5, 0x804 },
    { C(shld32_1), { 0x42345678, 0x9abcdef0, 0x0, 0x0 }, 0x0,
      { 0x8468acf1, 0x9abcdef0, 0x0, 0x0 }, 0x8c5, 0x880 },
    { C(shld32_0), { 0xffffffff42345678, 0x9abcdef0, 0x0, 0x0 }, 0x8d5,
      { 0x42345678, 0x9abcdef0, 0x0, 0x0 }, 0x8d5, 0x8d5 },
    { C(shld64_60), { 0x123456789abcdef0, 0xfedcba9876543210, 0x0, 0x0 }, 0x0,
      { 0xfedcba987654321, 0xfedcba9876543210, 0x0, 0x0 }, 0x8d5, 0x5 },
    { C(shrd16_20), { 0x1234, 0x5678, 0x14, 0x0 }, 0x0,
      { 0x4567, 0x5678, 0x14, 0x0 }, 0x8d5, 0x1 },
    { C(shrd16_24), { 0x1234, 0x9678, 0x18, 0x0 }, 0x0,
      { 0x3496, 0x9678, 0x18, 0x0 }, 0x8d5, 0x4 },
    { C(shrd32_4), { 0x12345678, 0x9abcdef0, 0x0, 0x0 }, 0x0,
      { 0x1234567, 0x9abcdef0, 0x0, 0x0 }, 0x8d5, 0x1 },
    { C(shrd64_1), { 0x123456789abcdef1, 0x1, 0x0, 0x0 }, 0x0,
      { 0x891a2b3c4d5e6f78, 0x1, 0x0, 0x0 }, 0x8c5, 0x885 },
    { C(shrd64_cl), { 0x123456789abcdef0, 0xf, 0x44, 0x0 }, 0x0,
      { 0xf123456789abcdef, 0xf, 0x44, 0x0 }, 0x8d5, 0x880 },
    { C(bt_reg), { 0x2, 0x21, 0x0, 0x0 }, 0x40,
      { 0x2, 0x21, 0x0, 0x0 }, 0x8d5, 0x41 },
    { C(bt_imm), { 0x8000000000000000, 0x0, 0x0, 0x0 }, 0x0,
      { 0x8000000000000000, 0x0, 0x0, 0x0 }, 0x8d5, 0x1 },
    { C(bts_reg), { 0x0, 0x0, 0x47, 0x0 }, 0x40,
      { 0x80, 0x0, 0x47, 0x0 }, 0x8d5, 0x40 },
    { C(btr_16), { 0x0, 0xffff, 0x1f, 0x0 }, 0x0,
      { 0x0, 0x7fff, 0x1f, 0x0 }, 0x8d5, 0x1 },
    { C(btc_imm), { 0x0, 0x0, 0x0, 0xffffffff00000008 }, 0x8d5,
      { 0x0, 0x0, 0x0, 0x0 }, 0x8d5, 0x8d5 },
    { C(bsf_0), { 0xffffffff12345678, 0x0, 0x0, 0x0 }, 0x0,
      { 0xffffffff12345678, 0x0, 0x0, 0x0 }, 0x8d5, 0x44 },
    { C(bsf_80), { 0x0, 0x80, 0x0, 0x0 }, 0x8d5,
      { 0x7, 0x80, 0x0, 0x0 }, 0x8d5, 0x0 },
    { C(bsf_16), { 0xffffffffffffffff, 0x10000, 0x0, 0x0 }, 0x0,
      { 0xffffffffffffffff, 0x10000, 0x0, 0x0 }, 0x8d5, 0x44 },
    { C(bsr_1), { 0xffffffffffffffff, 0x1, 0x0, 0x0 }, 0x8d5,
      { 0x0, 0x1, 0x0, 0x0 }, 0x8d5, 0x4 },
    { C(bsr_64), { 0x0, 0x8000000000000001, 0x0, 0x0 }, 0x0,
      { 0x3f, 0x8000000000000001, 0x0, 0x0 }, 0x8d5, 0x4 },
    { C(bsr_0), { 0x5555, 0x0, 0x0, 0x0 }, 0x0,
      { 0x5555, 0x0, 0x0, 0x0 }, 0x8d5, 0x44 },
    { C(popcnt_64), { 0x0, 0xf0f0f0f0f0f0f0f1, 0x0, 0x0 }, 0x8d5,
      { 0x21, 0xf0f0f0f0f0f0f0f1, 0x0, 0x0 }, 0x8d5, 0x0 },
    { C(popcnt_0), { 0xffffffffffffffff, 0xffff0000, 0x0, 0x0 }, 0x8d5,
      { 0xffffffffffff0000, 0xffff0000, 0x0, 0x0 }, 0x8d5, 0x40 },
    { C(lzcnt_16), { 0x0, 0x1, 0x0, 0x0 }, 0x8d5,
      { 0xf, 0x1, 0x0, 0x0 }, 0x8d5, 0x0 },
    { C(lzcnt_0), { 0x5, 0x0, 0x0, 0x0 }, 0x0,
      { 0x20, 0x0, 0x0, 0x0 }, 0x8d5, 0x1 },
    { C(lzcnt_top), { 0x5, 0x8000000000000000, 0x0, 0x0 }, 0x8d5,
      { 0x0, 0x8000000000000000, 0x0, 0x0 }, 0x8d5, 0x40 },
    { C(tzcnt_64_0), { 0x5, 0x0, 0x0, 0x0 }, 0x0,
      { 0x40, 0x0, 0x0, 0x0 }, 0x8d5, 0x1 },
    { C(tzcnt_32), { 0xffffffffffffffff, 0x100, 0x0, 0x0 }, 0x8d5,
      { 0x8, 0x100, 0x0, 0x0 }, 0x8d5, 0x0 },
    { C(andn_32), { 0x5, 0xf0, 0xff, 0x0 }, 0x8d5,
      { 0x0, 0xf0, 0xff, 0x0 }, 0x8d5, 0x40 },
    { C(andn_64), { 0x5, 0xf, 0xffffffffffffffff, 0x0 }, 0x0,
      { 0x0, 0xf, 0xffffffffffffffff, 0x0 }, 0x8d5, 0x40 },
    { C(bextr_32), { 0x5, 0xf0f0, 0x804, 0x0 }, 0x8d5,
      { 0xf, 0xf0f0, 0x804, 0x0 }, 0x8d5, 0x0 },
    { C(bextr_big), { 0x5, 0xf0000005, 0xff1c, 0x0 }, 0x8d5,
      { 0xf, 0xf0000005, 0xff1c, 0x0 }, 0x8d5, 0x0 },
    { C(bextr_out), { 0x5, 0xf0000005, 0x140, 0x0 }, 0x0,
      { 0x0, 0xf0000005, 0x140, 0x0 }, 0x8d5, 0x40 },
    { C(blsi_32), { 0x5, 0xf0f0, 0x0, 0x0 }, 0x8d5,
      { 0x10, 0xf0f0, 0x0, 0x0 }, 0x8d5, 0x1 },
    { C(blsi_0), { 0x5, 0x0, 0x0, 0x0 }, 0x8d5,
      { 0x0, 0x0, 0x0, 0x0 }, 0x8d5, 0x40 },
    { C(blsmsk_0), { 0x5, 0x0, 0x0, 0x0 }, 0x0,
      { 0xffffffff, 0x0, 0x0, 0x0 }, 0x8d5, 0x81 },
    { C(blsmsk_64), { 0x5, 0xf0f0, 0x0, 0x0 }, 0x8d5,
      { 0x1f, 0xf0f0, 0x0, 0x0 }, 0x8d5, 0x0 },
    { C(blsr_32), { 0x5, 0x8000, 0x0, 0x0 }, 0x0,
      { 0x0, 0x8000, 0x0, 0x0 }, 0x8d5, 0x40 },
    { C(blsr_0), { 0x5, 0x0, 0x0, 0x0 }, 0x0,
      { 0x0, 0x0, 0x0, 0x0 }, 0x8d5, 0x41 },
    { C(bzhi_32), { 0x5, 0x80000001, 0x20, 0x0 }, 0x0,
      { 0x80000001, 0x80000001, 0x20, 0x0 }, 0x8d5, 0x81 },
    { C(bzhi_5), { 0x5, 0xf0f0, 0x5, 0x0 }, 0x8d5,
      { 0x10, 0xf0f0, 0x5, 0x0 }, 0x8d5, 0x0 },
    { C(bzhi_64), { 0x5, 0xffffffffffffffff, 0x140, 0x0 }, 0x0,
      { 0xffffffffffffffff, 0xffffffffffffffff, 0x140, 0x0 }, 0x8d5, 0x81 },
    { C(pdep_32), { 0xffffffffffffffff, 0x5, 0xf0f0, 0x0 }, 0x8d5,
      { 0x50, 0x5, 0xf0f0, 0x0 }, 0x8d5, 0x8d5 },
    { C(pdep_64), { 0x0, 0xffffffffffffffff, 0x8000000000000001, 0x0 }, 0x0,
      { 0x8000000000000001, 0xffffffffffffffff, 0x8000000000000001, 0x0 }, 0x8d5, 0x0 },
    { C(pext_32), { 0x0, 0x5050, 0xf0f0, 0x0 }, 0x8d5,
      { 0x55, 0x5050, 0xf0f0, 0x0 }, 0x8d5, 0x8d5 },
    { C(pext_64), { 0x0, 0x8000000000000001, 0xc000000000000003, 0x0 }, 0x0,
      { 0x9, 0x8000000000000001, 0xc000000000000003, 0x0 }, 0x8d5, 0x0 },
    { C(mulx_64), { 0x0, 0x0, 0x3, 0x8000000000000001 }, 0x8d5,
      { 0x1, 0x8000000000000003, 0x3, 0x8000000000000001 }, 0x8d5, 0x8d5 },
    { C(mulx_same), { 0x0, 0x0, 0x3, 0x8000000000000001 }, 0x0,
      { 0x1, 0x0, 0x3, 0x8000000000000001 }, 0x8d5, 0x0 },
    { C(mulx_32), { 0x0, 0xffffffffffffffff, 0xffffffff, 0xffffffff }, 0x0,
      { 0xfffffffe, 0x1, 0xffffffff, 0xffffffff }, 0x8d5, 0x0 },
    { C(rorx_32), { 0xffffffffffffffff, 0x12345678, 0x0, 0x0 }, 0x8d5,
      { 0x81234567, 0x12345678, 0x0, 0x0 }, 0x8d5, 0x8d5 },
    { C(rorx_64), { 0x0, 0x123456789abcdef0, 0x0, 0x0 }, 0x0,
      { 0x123456789abcdef, 0x123456789abcdef0, 0x0, 0x0 }, 0x8d5, 0x0 },
    { C(sarx_32), { 0x0, 0x80000000, 0x24, 0x0 }, 0x8d5,
      { 0xf8000000, 0x80000000, 0x24, 0x0 }, 0x8d5, 0x8d5 },
    { C(shlx_64), { 0x0, 0x1, 0x3f, 0x0 }, 0x0,
      { 0x8000000000000000, 0x1, 0x3f, 0x0 }, 0x8d5, 0x0 },
    { C(shrx_32), { 0xffffffffffffffff, 0x80000000, 0x0, 0x0 }, 0x0,
      { 0x80000000, 0x80000000, 0x0, 0x0 }, 0x8d5, 0x0 },
    { C(adcx_32), { 0xffffffff, 0x1, 0x0, 0x0 }, 0x8d5,
      { 0x1, 0x1, 0x0, 0x0 }, 0x8d5, 0x8d5 },
    { C(adcx_64), { 0xffffffffffffffff, 0x0, 0x0, 0x0 }, 0x1,
      { 0x0, 0x0, 0x0, 0x0 }, 0x8d5, 0x1 },
    { C(adox_64), { 0x7fffffffffffffff, 0x1, 0x0, 0x0 }, 0x0,
      { 0x8000000000000000, 0x1, 0x0, 0x0 }, 0x8d5, 0x0 },
    { C(adox_32in), { 0xfffffffe, 0x1, 0x0, 0x0 }, 0x800,
      { 0x0, 0x1, 0x0, 0x0 }, 0x8d5, 0x800 },
    { C(cmpxchg_reg_fail), { 0xffffffff00000001, 0x7, 0xffffffff00000002, 0x0 }, 0x0,
      { 0x2, 0x7, 0xffffffff00000002, 0x0 }, 0x8d5, 0x95 },
    { C(cmpxchg_reg_ok), { 0xffffffff00000002, 0x7, 0xffffffff00000002, 0x0 }, 0x0,
      { 0xffffffff00000002, 0x7, 0x7, 0x0 }, 0x8d5, 0x44 },
    { C(cmpxchg_reg8), { 0x80, 0x4200, 0x7f, 0x0 }, 0x0,
      { 0x7f, 0x4200, 0x7f, 0x0 }, 0x8d5, 0x810 },
    { C(cmpxchg_acc), { 0x1234, 0x7, 0x0, 0x0 }, 0x0,
      { 0x7, 0x7, 0x0, 0x0 }, 0x8d5, 0x44 },
    { C(xadd_32), { 0xffffffff00000001, 0xffffffff00000002, 0x0, 0x0 }, 0x0,
      { 0x3, 0x1, 0x0, 0x0 }, 0x8d5, 0x4 },
    { C(xadd_same), { 0x8000000000000003, 0x0, 0x0, 0x0 }, 0x0,
      { 0x6, 0x0, 0x0, 0x0 }, 0x8d5, 0x805 },
};

static void test_reg_case(const void *data)
{
    const RegCase *c = data;
    static const int regs[4] = { R_EAX, R_EBX, R_ECX, R_EDX };
    InterpHarness *h = new_long(c->code, c->end - c->code);

    for (int i = 0; i < 4; i++) {
        h->st.regs[regs[i]] = c->in[i];
    }
    set_flags(h, c->flags_in);
    run_to_hlt(h);
    for (int i = 0; i < 4; i++) {
        g_assert_cmphex(h->st.regs[regs[i]], ==, c->out[i]);
    }
    g_assert_cmphex(h->st.rflags & c->flags_mask, ==, c->flags_out);
    ih_free(h);
}

/* ==== #DE: nothing changes, RIP stays at the division ==== */

INTERP_TEST_CODE(de_div64, 64, "div %rbx\n hlt");
INTERP_TEST_CODE(de_idiv64, 64, "idiv %rbx\n hlt");
INTERP_TEST_CODE(de_idiv32, 64, "idiv %ebx\n hlt");
INTERP_TEST_CODE(de_idiv8, 64, "idiv %bl\n hlt");
INTERP_TEST_CODE(de_div8, 64, "div %bl\n hlt");
INTERP_TEST_CODE(de_div16, 64, "div %bx\n hlt");

typedef struct DivFault {
    const char *name;
    const uint8_t *code, *end;
    uint64_t rax, rbx, rdx;
} DivFault;

static const DivFault div_faults[] = {
    { N(de_div64), 5, 0, 0 },                           /* divide by 0 */
    { N(de_div64), 0, 2, 2 },                           /* 2^65 / 2 */
    { N(de_idiv64), 0x8000000000000000ull, -1ull, -1ull },  /* MIN / -1 */
    { N(de_idiv64), 0, 0x10, 0x10 },
    { N(de_idiv32), 0x80000000, 0xffffffff, 0xffffffff },   /* MIN / -1 */
    { N(de_idiv32), 0x12345678, 0, 0 },
    { N(de_idiv8), 0x8000, 0xff, 0 },                   /* -32768 / -1 */
    { N(de_idiv8), 0x0080, 0x01, 0 },                   /* 128 > 127 */
    { N(de_div8), 0x1000, 0x10, 0 },                    /* 0x100 > 0xff */
    { N(de_div16), 0xffff, 0xffff, 0xffff },
};

static void test_divide_error(void)
{
    for (size_t i = 0; i < G_N_ELEMENTS(div_faults); i++) {
        const DivFault *c = &div_faults[i];
        InterpHarness *h = new_long(c->code, c->end - c->code);

        h->st.regs[R_EAX] = c->rax;
        h->st.regs[R_EBX] = c->rbx;
        h->st.regs[R_EDX] = c->rdx;
        set_flags(h, F_CF | F_ZF);
        run_to_fault(h, 0, IH_CODE);
        g_assert_cmphex(h->st.regs[R_EAX], ==, c->rax);
        g_assert_cmphex(h->st.regs[R_EDX], ==, c->rdx);
        g_assert_cmphex(h->st.rflags & F_ARITH, ==, F_CF | F_ZF);
        ih_free(h);
    }
}

/* ==== memory operands ==== */

INTERP_TEST_CODE(shift_mem_code, 64,
    "shll $4, (%rbx)\n"
    "rcrb $1, 8(%rbx)\n"
    "shldw %cl, %dx, 16(%rbx)\n"
    "rolq $8, 24(%rbx)\n"
    "sarl %cl, 32(%rbx)\n"
    "hlt");

static void test_shift_memory(void)
{
    InterpHarness *h = NEW_LONG(shift_mem_code);

    put64(h, IH_DATA, 0x12345678);
    put64(h, IH_DATA + 8, 0x02);
    put64(h, IH_DATA + 16, 0x1234);
    put64(h, IH_DATA + 24, 0x1122334455667788ull);
    put64(h, IH_DATA + 32, 0xaaaaaaaa80000000ull);
    h->st.regs[R_EBX] = IH_DATA;
    h->st.regs[R_ECX] = 4;
    h->st.regs[R_EDX] = 0x5678;
    run_to_hlt(h);
    g_assert_cmphex(ram64(h, IH_DATA), ==, 0x23456780);
    /* CF = 1 from the SHL (bit 28), rotated into bit 7. */
    g_assert_cmphex(ram64(h, IH_DATA + 8), ==, 0x81);
    g_assert_cmphex(ram64(h, IH_DATA + 16), ==, 0x2345);
    g_assert_cmphex(ram64(h, IH_DATA + 24), ==, 0x2233445566778811ull);
    g_assert_cmphex(ram64(h, IH_DATA + 32), ==, 0xaaaaaaaaf8000000ull);
    ih_free(h);
}

/* Bit offsets in a register reach outside the operand, signed. */
INTERP_TEST_CODE(bt_mem_code, 64,
    "bts %rcx, (%rbx)\n setc %r8b\n"
    "btl %edx, (%rbx)\n setc %r9b\n"
    "btrw %si, (%rbx)\n setc %r10b\n"
    "btcq $65, (%rbx)\n setc %r11b\n"      /* imm: bit 1 of the qword */
    "hlt");
INTERP_TEST_CODE(bt_lock_code, 64,
    "lock bts %rcx, (%rbx)\n setc %r8b\n"
    "btl %edx, (%rbx)\n setc %r9b\n"
    "lock btrw %si, (%rbx)\n setc %r10b\n"
    "lock btcq $65, (%rbx)\n setc %r11b\n"
    "hlt");

static void check_bt_memory(const uint8_t *code, size_t len)
{
    InterpHarness *h = new_long(code, len);
    uint64_t base = IH_DATA + 0x100;

    put64(h, base - 8, 0x0000800000000001ull);
    put64(h, base, 0x1);
    put64(h, base + 8, 1ull << 36);
    h->st.regs[R_EBX] = base;
    h->st.regs[R_ECX] = -1ull;       /* bit 63 of the qword at -8 */
    h->st.regs[R_EDX] = 100;         /* bit 4 of the dword at +12 */
    h->st.regs[R_ESI] = 0xffef;      /* -17: bit 15 of the word at -4 */
    run_to_hlt(h);
    g_assert_cmphex(ram64(h, base - 8), ==, 0x8000000000000001ull);
    g_assert_cmphex(ram64(h, base), ==, 0x3);
    g_assert_cmphex(ram64(h, base + 8), ==, 1ull << 36);
    g_assert_cmphex(h->st.regs[R_R8] & 0xff, ==, 0);
    g_assert_cmphex(h->st.regs[R_R9] & 0xff, ==, 1);
    g_assert_cmphex(h->st.regs[R_R10] & 0xff, ==, 1);
    g_assert_cmphex(h->st.regs[R_R11] & 0xff, ==, 0);
    ih_free(h);
}

static void test_bt_memory(void)
{
    check_bt_memory(bt_mem_code, CODE_LEN(bt_mem_code));
    check_bt_memory(bt_lock_code, CODE_LEN(bt_lock_code));
}

INTERP_TEST_CODE(cmpxchg_mem_code, 64,
    "cmpxchgq %rcx, (%rbx)\n setz %r8b\n"
    "cmpxchgl %ecx, 8(%rbx)\n setz %r9b\n setc %r10b\n"
    "hlt");
INTERP_TEST_CODE(cmpxchg_lock_code, 64,
    "lock cmpxchgq %rcx, (%rbx)\n setz %r8b\n"
    "lock cmpxchgl %ecx, 8(%rbx)\n setz %r9b\n setc %r10b\n"
    "mov $0x4444, %eax\n"
    "lock cmpxchgw %dx, 0xffe(%rbx)\n setz %r11b\n"   /* crosses a page */
    "hlt");

static void test_cmpxchg_memory(void)
{
    for (int lock = 0; lock < 2; lock++) {
        InterpHarness *h = lock ? NEW_LONG(cmpxchg_lock_code)
                                : NEW_LONG(cmpxchg_mem_code);

        put64(h, IH_DATA, 0x1111);
        put64(h, IH_DATA + 8, 0x5555555500003333ull);
        h->ram[IH_DATA + 0xffe] = 0x44;
        h->ram[IH_DATA + 0xfff] = 0x44;
        h->st.regs[R_EAX] = 0x1111;
        h->st.regs[R_EBX] = IH_DATA;
        h->st.regs[R_ECX] = 0xffffffff00002222ull;
        h->st.regs[R_EDX] = 0xbeef;
        run_to_hlt(h);
        g_assert_cmphex(ram64(h, IH_DATA), ==, 0xffffffff00002222ull);
        g_assert_cmphex(ram64(h, IH_DATA + 8), ==, 0x5555555500003333ull);
        g_assert_cmphex(h->st.regs[R_R8] & 0xff, ==, 1);
        g_assert_cmphex(h->st.regs[R_R9] & 0xff, ==, 0);
        g_assert_cmphex(h->st.regs[R_R10] & 0xff, ==, 1);  /* 0x1111 < 0x3333 */
        if (lock) {
            g_assert_cmphex(h->st.regs[R_R11] & 0xff, ==, 1);
            g_assert_cmphex(h->ram[IH_DATA + 0xffe], ==, 0xef);
            g_assert_cmphex(h->ram[IH_DATA + 0xfff], ==, 0xbe);
            g_assert_cmphex(h->st.regs[R_EAX], ==, 0x4444);
        } else {
            g_assert_cmphex(h->st.regs[R_EAX], ==, 0x3333);
        }
        ih_free(h);
    }
}

/* A failing CMPXCHG still writes its destination: on a read-only page it
 * faults, with nothing changed. */
INTERP_TEST_CODE(cmpxchg_ro_code, 64, "cmpxchgq %rcx, (%rdi)\n hlt");
INTERP_TEST_CODE(cmpxchg_ro_lock_code, 64, "lock cmpxchgq %rcx, (%rdi)\n hlt");

static void test_cmpxchg_readonly(void)
{
    for (int lock = 0; lock < 2; lock++) {
        InterpHarness *h = lock ? NEW_LONG(cmpxchg_ro_lock_code)
                                : NEW_LONG(cmpxchg_ro_code);

        put64(h, IH_PD + 2 * 8, 0x400000 | 0x81);   /* present, 2 MiB, RO */
        h->st.cr0 |= CR0_WP;
        put64(h, 0x400000, 5);
        h->st.regs[R_EAX] = 7;
        h->st.regs[R_ECX] = 9;
        h->st.regs[R_EDI] = 0x400000;
        set_flags(h, F_SF);
        run_to_fault(h, 14, IH_CODE);
        g_assert_cmphex(h->error_code, ==, 3);      /* present, write */
        g_assert_cmphex(h->st.regs[R_EAX], ==, 7);
        g_assert_cmphex(h->st.rflags & F_ARITH, ==, F_SF);
        g_assert_cmphex(ram64(h, 0x400000), ==, 5);
        ih_free(h);
    }
}

INTERP_TEST_CODE(cmpxchg8b_code, 64,
    "cmpxchg8b (%rdi)\n setz %r8b\n"
    "cmpxchg8b 8(%rdi)\n setz %r9b\n"
    "hlt");
INTERP_TEST_CODE(cmpxchg16b_code, 64,
    "lock cmpxchg16b (%rdi)\n setz %r8b\n"
    "mov $1, %eax\n mov $2, %edx\n"
    "cmpxchg16b 16(%rdi)\n setz %r9b\n"
    "hlt");
INTERP_TEST_CODE(cmpxchg16b_misaligned, 64, "cmpxchg16b 8(%rdi)\n hlt");

static void test_cmpxchg8b_16b(void)
{
    InterpHarness *h = NEW_LONG(cmpxchg8b_code);

    put64(h, IH_DATA, 0x2222222211111111ull);
    put64(h, IH_DATA + 8, 0x4444444433333333ull);
    h->st.regs[R_EAX] = 0xffffffff11111111ull;
    h->st.regs[R_EDX] = 0xffffffff22222222ull;
    h->st.regs[R_EBX] = 0xaaaaaaaa;
    h->st.regs[R_ECX] = 0xbbbbbbbb;
    h->st.regs[R_EDI] = IH_DATA;
    set_flags(h, F_CF | F_OF);
    run_to_hlt(h);
    g_assert_cmphex(ram64(h, IH_DATA), ==, 0xbbbbbbbbaaaaaaaaull);
    g_assert_cmphex(ram64(h, IH_DATA + 8), ==, 0x4444444433333333ull);
    g_assert_cmphex(h->st.regs[R_EAX], ==, 0x33333333);
    g_assert_cmphex(h->st.regs[R_EDX], ==, 0x44444444);
    g_assert_cmphex(h->st.regs[R_R8] & 0xff, ==, 1);
    g_assert_cmphex(h->st.regs[R_R9] & 0xff, ==, 0);
    /* Only ZF changes. */
    g_assert_cmphex(h->st.rflags & (F_CF | F_OF), ==, F_CF | F_OF);
    ih_free(h);

    h = NEW_LONG(cmpxchg16b_code);
    put64(h, IH_DATA, 0x10);
    put64(h, IH_DATA + 8, 0x20);
    put64(h, IH_DATA + 16, 0x30);
    put64(h, IH_DATA + 24, 0x40);
    h->st.regs[R_EAX] = 0x10;
    h->st.regs[R_EDX] = 0x20;
    h->st.regs[R_EBX] = 0x1234;
    h->st.regs[R_ECX] = 0x5678;
    h->st.regs[R_EDI] = IH_DATA;
    run_to_hlt(h);
    g_assert_cmphex(ram64(h, IH_DATA), ==, 0x1234);
    g_assert_cmphex(ram64(h, IH_DATA + 8), ==, 0x5678);
    g_assert_cmphex(ram64(h, IH_DATA + 16), ==, 0x30);
    g_assert_cmphex(ram64(h, IH_DATA + 24), ==, 0x40);
    g_assert_cmphex(h->st.regs[R_EAX], ==, 0x30);
    g_assert_cmphex(h->st.regs[R_EDX], ==, 0x40);
    g_assert_cmphex(h->st.regs[R_R8] & 0xff, ==, 1);
    g_assert_cmphex(h->st.regs[R_R9] & 0xff, ==, 0);
    ih_free(h);

    h = NEW_LONG(cmpxchg16b_misaligned);
    h->st.regs[R_EDI] = IH_DATA;
    run_to_fault(h, 13, IH_CODE);
    g_assert_cmpint(h->error_code, ==, 0);
    ih_free(h);
}

INTERP_TEST_CODE(xadd_mem_code, 64,
    "xaddq %rax, (%rdi)\n"
    "lock xaddl %ebx, 8(%rdi)\n setz %r8b\n setc %r9b\n"
    "lock xaddw %cx, 0xfff(%rdi)\n"
    "hlt");

static void test_xadd_memory(void)
{
    InterpHarness *h = NEW_LONG(xadd_mem_code);

    put64(h, IH_DATA, 5);
    put64(h, IH_DATA + 8, 0xffffffff);
    h->ram[IH_DATA + 0xfff] = 0x34;
    h->ram[IH_DATA + 0x1000] = 0x12;
    h->st.regs[R_EAX] = 3;
    h->st.regs[R_EBX] = 1;
    h->st.regs[R_ECX] = 0x1111;
    h->st.regs[R_EDI] = IH_DATA;
    run_to_hlt(h);
    g_assert_cmphex(ram64(h, IH_DATA), ==, 8);
    g_assert_cmphex(h->st.regs[R_EAX], ==, 5);
    g_assert_cmphex(ram64(h, IH_DATA + 8), ==, 0);
    g_assert_cmphex(h->st.regs[R_EBX], ==, 0xffffffff);
    g_assert_cmphex(h->st.regs[R_R8] & 0xff, ==, 1);
    g_assert_cmphex(h->st.regs[R_R9] & 0xff, ==, 1);
    g_assert_cmphex(h->ram[IH_DATA + 0xfff], ==, 0x45);
    g_assert_cmphex(h->ram[IH_DATA + 0x1000], ==, 0x23);
    g_assert_cmphex(h->st.regs[R_ECX], ==, 0x1234);
    ih_free(h);
}

INTERP_TEST_CODE(movbe_code, 64,
    "movbe (%rdi), %eax\n"
    "movbe %bx, 8(%rdi)\n"
    "movbe 16(%rdi), %rcx\n"
    "movbe %rdx, 24(%rdi)\n"
    "movbe 32(%rdi), %si\n"
    "hlt");

static void test_movbe(void)
{
    InterpHarness *h = NEW_LONG(movbe_code);

    put64(h, IH_DATA, 0x12345678);
    put64(h, IH_DATA + 8, 0xffffffffffffffffull);
    put64(h, IH_DATA + 16, 0x0102030405060708ull);
    put64(h, IH_DATA + 32, 0xabcd);
    h->st.regs[R_EAX] = -1ull;
    h->st.regs[R_EBX] = 0x1234;
    h->st.regs[R_EDX] = 0x1122334455667788ull;
    h->st.regs[R_ESI] = 0x5555555555555555ull;
    h->st.regs[R_EDI] = IH_DATA;
    run_to_hlt(h);
    g_assert_cmphex(h->st.regs[R_EAX], ==, 0x78563412);
    g_assert_cmphex(ram64(h, IH_DATA + 8), ==, 0xffffffffffff3412ull);
    g_assert_cmphex(h->st.regs[R_ECX], ==, 0x0807060504030201ull);
    g_assert_cmphex(ram64(h, IH_DATA + 24), ==, 0x8877665544332211ull);
    g_assert_cmphex(h->st.regs[R_ESI], ==, 0x555555555555cdabull);
    ih_free(h);
}

/* ==== string instructions ==== */

INTERP_TEST_CODE(rep_movsb_code, 64, "rep movsb\n hlt");
INTERP_TEST_CODE(rep_movsw_code, 64, "rep movsw\n hlt");
INTERP_TEST_CODE(rep_movsl_code, 64, "rep movsl\n hlt");
INTERP_TEST_CODE(rep_movsq_code, 64, "rep movsq\n hlt");

/* Element by element, as the SDM describes REP MOVS. */
static void ref_movs(uint8_t *mem, uint64_t si, uint64_t di, unsigned size,
                     bool down, uint64_t count)
{
    for (uint64_t i = 0; i < count; i++) {
        memmove(mem + di, mem + si, size);
        si += down ? -(uint64_t)size : size;
        di += down ? -(uint64_t)size : size;
    }
}

/* Copies from @src to @dst (guest physical = linear), compared with the
 * element-by-element model over the area around them. */
static void check_rep_movs(InterpHarness *h, unsigned size, bool down,
                           uint64_t src, uint64_t dst, uint64_t count)
{
    const uint64_t area = IH_DATA, area_len = 0x10000;
    uint8_t *expect = g_malloc(area_len);
    uint64_t step = down ? -(uint64_t)size * count : size * count;

    for (uint64_t i = 0; i < area_len; i++) {
        h->ram[area + i] = (uint8_t)(i * 7 + 3 + (i >> 8));
    }
    memcpy(expect, h->ram + area, area_len);
    ref_movs(expect, src - area, dst - area, size, down, count);

    ih_mode_long(h, IH_CODE);
    h->st.regs[R_ESI] = src;
    h->st.regs[R_EDI] = dst;
    h->st.regs[R_ECX] = count;
    set_flags(h, down ? F_DF : 0);
    run_to_hlt(h);
    g_assert_cmphex(h->st.regs[R_ECX], ==, 0);
    g_assert_cmphex(h->st.regs[R_ESI], ==, src + step);
    g_assert_cmphex(h->st.regs[R_EDI], ==, dst + step);
    g_assert_true(memcmp(h->ram + area, expect, area_len) == 0);
    g_free(expect);
}

static void test_rep_movs_overlap(void)
{
    static const struct { const uint8_t *code, *end; unsigned size; } m[] = {
        { rep_movsb_code, rep_movsb_code_end, 1 },
        { rep_movsw_code, rep_movsw_code_end, 2 },
        { rep_movsl_code, rep_movsl_code_end, 4 },
        { rep_movsq_code, rep_movsq_code_end, 8 },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(m); i++) {
        InterpHarness *h = new_long(m[i].code, m[i].end - m[i].code);
        uint64_t src = IH_DATA + 0x800;

        for (int down = 0; down < 2; down++) {
            for (int delta = -17; delta <= 17; delta++) {
                check_rep_movs(h, m[i].size, down, src, src + delta, 37);
            }
            /* Long runs across pages, overlapping and not. */
            check_rep_movs(h, m[i].size, down, IH_DATA + 0x7ffd,
                           IH_DATA + 0x8000, 0x3000 / m[i].size);
            check_rep_movs(h, m[i].size, down, IH_DATA + 0x8003,
                           IH_DATA + 0x7ff1, 0x3000 / m[i].size);
            check_rep_movs(h, m[i].size, down, IH_DATA + 0x4001,
                           IH_DATA + 0xa003, 0x3000 / m[i].size);
        }
        ih_free(h);
    }
}

INTERP_TEST_CODE(rep_stosl_code, 64, "rep stosl\n hlt");
INTERP_TEST_CODE(rep_stosb_code, 64, "rep stosb\n hlt");
INTERP_TEST_CODE(rep_stosq_code, 64, "rep stosq\n hlt");

static void test_rep_stos(void)
{
    InterpHarness *h = NEW_LONG(rep_stosl_code);
    uint32_t v;

    h->st.regs[R_EAX] = 0x12345678deadbeefull;
    h->st.regs[R_EDI] = IH_DATA + 2;
    h->st.regs[R_ECX] = 5000;
    run_to_hlt(h);
    for (unsigned i = 0; i < 5000; i++) {
        memcpy(&v, h->ram + IH_DATA + 2 + i * 4, 4);
        g_assert_cmphex(v, ==, 0xdeadbeef);
    }
    g_assert_cmphex(h->ram[IH_DATA + 1], ==, 0);
    g_assert_cmphex(h->ram[IH_DATA + 2 + 20000], ==, 0);
    g_assert_cmphex(h->st.regs[R_EDI], ==, IH_DATA + 2 + 20000);
    g_assert_cmphex(h->st.regs[R_ECX], ==, 0);
    ih_free(h);

    /* Downwards. */
    h = NEW_LONG(rep_stosb_code);
    h->st.regs[R_EAX] = 0x5a;
    h->st.regs[R_EDI] = IH_DATA + 0x5000;
    h->st.regs[R_ECX] = 3000;
    set_flags(h, F_DF);
    run_to_hlt(h);
    for (unsigned i = 0; i < 3000; i++) {
        g_assert_cmphex(h->ram[IH_DATA + 0x5000 - i], ==, 0x5a);
    }
    g_assert_cmphex(h->ram[IH_DATA + 0x5001], ==, 0);
    g_assert_cmphex(h->ram[IH_DATA + 0x5000 - 3000], ==, 0);
    g_assert_cmphex(h->st.regs[R_EDI], ==, IH_DATA + 0x5000 - 3000);
    ih_free(h);

    /* A zero count does nothing. */
    h = NEW_LONG(rep_stosq_code);
    h->st.regs[R_EAX] = -1ull;
    h->st.regs[R_EDI] = IH_DATA;
    h->st.regs[R_ECX] = 0;
    run_to_hlt(h);
    g_assert_cmphex(ram64(h, IH_DATA), ==, 0);
    g_assert_cmphex(h->st.regs[R_EDI], ==, IH_DATA);
    ih_free(h);
}

/* The 2 MiB page at 4 MiB made not present. */
static void unmap_4m(InterpHarness *h)
{
    put64(h, IH_PD + 2 * 8, 0);
}

INTERP_TEST_CODE(rep_movsq_fault_code, 64, "rep movsq\n hlt");
INTERP_TEST_CODE(rep_movsl_fault_code, 64, "rep movsl\n hlt");

/* A fault in the middle leaves the iterations done visible, and the
 * instruction restarts from there. */
static void test_rep_fault(void)
{
    InterpHarness *h = NEW_LONG(rep_stosb_code);

    unmap_4m(h);
    h->st.regs[R_EAX] = 0x99;
    h->st.regs[R_EDI] = 0x3ff800;
    h->st.regs[R_ECX] = 0x1000;
    run_to_fault(h, 14, IH_CODE);
    g_assert_cmphex(h->error_code, ==, 2);          /* not present, write */
    g_assert_cmphex(h->st.cr2, ==, 0x400000);
    g_assert_cmphex(h->st.regs[R_ECX], ==, 0x800);
    g_assert_cmphex(h->st.regs[R_EDI], ==, 0x400000);
    g_assert_cmphex(h->ram[0x3ff800], ==, 0x99);
    g_assert_cmphex(h->ram[0x3fffff], ==, 0x99);
    g_assert_cmphex(h->ram[0x3ff7ff], ==, 0);
    /* Map it again: the same instruction finishes the job. */
    put64(h, IH_PD + 2 * 8, 0x400000 | 0x83);
    run_to_hlt(h);
    g_assert_cmphex(h->st.regs[R_ECX], ==, 0);
    g_assert_cmphex(h->ram[0x4007ff], ==, 0x99);
    g_assert_cmphex(h->ram[0x400800], ==, 0);
    ih_free(h);

    /* The source faults after 8 of 16 quadwords. */
    h = NEW_LONG(rep_movsq_fault_code);
    unmap_4m(h);
    put64(h, 0x3fffc0, 0x1111);
    put64(h, 0x3ffff8, 0x8888);
    h->st.regs[R_ESI] = 0x3fffc0;
    h->st.regs[R_EDI] = IH_DATA;
    h->st.regs[R_ECX] = 16;
    run_to_fault(h, 14, IH_CODE);
    g_assert_cmphex(h->error_code, ==, 0);          /* not present, read */
    g_assert_cmphex(h->st.regs[R_ECX], ==, 8);
    g_assert_cmphex(h->st.regs[R_ESI], ==, 0x400000);
    g_assert_cmphex(h->st.regs[R_EDI], ==, IH_DATA + 64);
    g_assert_cmphex(ram64(h, IH_DATA), ==, 0x1111);
    g_assert_cmphex(ram64(h, IH_DATA + 56), ==, 0x8888);
    ih_free(h);

    /* An element that crosses into the missing page: no progress. */
    h = NEW_LONG(rep_movsl_fault_code);
    unmap_4m(h);
    h->st.regs[R_ESI] = 0x3ffffe;
    h->st.regs[R_EDI] = IH_DATA;
    h->st.regs[R_ECX] = 4;
    run_to_fault(h, 14, IH_CODE);
    g_assert_cmphex(h->st.regs[R_ECX], ==, 4);
    g_assert_cmphex(h->st.regs[R_ESI], ==, 0x3ffffe);
    g_assert_cmphex(ram64(h, IH_DATA), ==, 0);
    ih_free(h);
}

/*
 * A read-modify-write translates its operand for writing before it reads
 * it: a fault is reported as a write (error code W), at the first byte
 * that cannot be written (CR2), with nothing changed.
 */
INTERP_TEST_CODE(rmw_shl_code, 64, "shlq $1, (%rdi)\n hlt");
INTERP_TEST_CODE(rmw_shr_code, 64, "shrl $1, (%rdi)\n hlt");
INTERP_TEST_CODE(rmw_rcl_code, 64, "rclw %cl, (%rdi)\n hlt");
INTERP_TEST_CODE(rmw_rol_code, 64, "rolb $3, (%rdi)\n hlt");
INTERP_TEST_CODE(rmw_shrd_code, 64, "shrdw $1, %r8w, (%rdi)\n hlt");
INTERP_TEST_CODE(rmw_shld_code, 64, "shldl %cl, %r8d, (%rdi)\n hlt");
INTERP_TEST_CODE(rmw_bts_code, 64, "btsl %ecx, (%rdi)\n hlt");
INTERP_TEST_CODE(rmw_btc_code, 64, "btcq $3, (%rdi)\n hlt");
INTERP_TEST_CODE(rmw_btr_code, 64, "btrw %cx, (%rdi)\n hlt");
INTERP_TEST_CODE(rmw_xadd_code, 64, "xaddl %r8d, (%rdi)\n hlt");
INTERP_TEST_CODE(rmw_cmpxchg_code, 64, "cmpxchgw %r8w, (%rdi)\n hlt");
INTERP_TEST_CODE(rmw_cmpxchg8b_code, 64, "cmpxchg8b (%rdi)\n hlt");

static void test_rmw_write_fault(void)
{
    static const struct {
        const uint8_t *code, *end;
        unsigned size;
    } cases[] = {
        { rmw_shl_code, rmw_shl_code_end, 8 },
        { rmw_shr_code, rmw_shr_code_end, 4 },
        { rmw_rcl_code, rmw_rcl_code_end, 2 },
        { rmw_rol_code, rmw_rol_code_end, 1 },
        { rmw_shrd_code, rmw_shrd_code_end, 2 },
        { rmw_shld_code, rmw_shld_code_end, 4 },
        { rmw_bts_code, rmw_bts_code_end, 4 },
        { rmw_btc_code, rmw_btc_code_end, 8 },
        { rmw_btr_code, rmw_btr_code_end, 2 },
        { rmw_xadd_code, rmw_xadd_code_end, 4 },
        { rmw_cmpxchg_code, rmw_cmpxchg_code_end, 2 },
        { rmw_cmpxchg8b_code, rmw_cmpxchg8b_code_end, 8 },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        unsigned size = cases[i].size;
        InterpHarness *h;

        /* Not present: a write to a missing page (error code 2). */
        h = new_long(cases[i].code, cases[i].end - cases[i].code);
        unmap_4m(h);
        h->st.regs[R_EDI] = 0x400010;
        h->st.regs[R_ECX] = 1;
        run_to_fault(h, 14, IH_CODE);
        g_assert_cmphex(h->error_code, ==, 2);
        g_assert_cmphex(h->st.cr2, ==, 0x400010);
        ih_free(h);

        if (size == 1) {
            continue;
        }
        /* Crossing from a read-only page into a missing one: the first
         * page faults, as a write to a present page (error code 3). */
        h = new_long(cases[i].code, cases[i].end - cases[i].code);
        put64(h, IH_PD + 2 * 8, 0x400000 | 0x81);   /* present, 2 MiB, RO */
        put64(h, IH_PD + 3 * 8, 0);
        h->st.cr0 |= CR0_WP;
        put64(h, 0x5ffff8, 0x0123456789abcdefull);
        h->st.regs[R_EDI] = 0x600000 - size / 2;
        h->st.regs[R_ECX] = 1;
        run_to_fault(h, 14, IH_CODE);
        g_assert_cmphex(h->error_code, ==, 3);
        g_assert_cmphex(h->st.cr2, ==, 0x600000 - size / 2);
        g_assert_cmphex(ram64(h, 0x5ffff8), ==, 0x0123456789abcdefull);
        ih_free(h);

        /* Writable, then read-only: CR2 is the first byte of the second
         * page, and the first is not written. */
        h = new_long(cases[i].code, cases[i].end - cases[i].code);
        put64(h, IH_PD + 3 * 8, 0x600000 | 0x81);
        h->st.cr0 |= CR0_WP;
        put64(h, 0x5ffff8, 0x0123456789abcdefull);
        h->st.regs[R_EDI] = 0x600000 - size / 2;
        h->st.regs[R_ECX] = 1;
        run_to_fault(h, 14, IH_CODE);
        g_assert_cmphex(h->error_code, ==, 3);
        g_assert_cmphex(h->st.cr2, ==, 0x600000);
        g_assert_cmphex(ram64(h, 0x5ffff8), ==, 0x0123456789abcdefull);
        ih_free(h);
    }
}

/* With a 32-bit address size and a zero count, REP still writes ECX
 * (clearing the upper half of RCX), and MOVS and STOS their pointers, as
 * the host CPU does; LODS, CMPS and SCAS leave rSI and rDI alone. */
INTERP_TEST_CODE(rep_a32_zero_code, 64,
    "addr32 rep lodsq\n"
    "mov %rcx, %r8\n mov %r12, %rcx\n"
    "addr32 repe cmpsb\n"
    "addr32 repne scasw\n"
    "mov %rcx, %r9\n mov %r12, %rcx\n"
    "mov %rsi, %r13\n mov %rdi, %r14\n"
    "addr32 rep stosl\n"
    "mov %rcx, %r10\n mov %r12, %rcx\n"
    "mov %rsi, %r15\n mov %rdi, %r11\n mov %rbx, %rdi\n"
    "addr32 rep movsb\n"
    "rep movsb\n"                        /* 64-bit: RCX is 0, nothing */
    "hlt");

static void test_rep_a32_zero_count(void)
{
    const uint64_t hi = 0x8000000100000000ull;
    InterpHarness *h = NEW_LONG(rep_a32_zero_code);

    h->st.regs[R_ECX] = hi;
    h->st.regs[R_R12] = hi;
    h->st.regs[R_ESI] = hi | IH_DATA;
    h->st.regs[R_EDI] = hi | (IH_DATA + 0x100);
    h->st.regs[R_EBX] = hi | (IH_DATA + 0x100);
    h->st.regs[R_EAX] = 0x1234;
    set_flags(h, F_CF);
    run_to_hlt(h);
    g_assert_cmphex(h->st.regs[R_R8], ==, 0);
    g_assert_cmphex(h->st.regs[R_R9], ==, 0);
    g_assert_cmphex(h->st.regs[R_R10], ==, 0);
    g_assert_cmphex(h->st.regs[R_R13], ==, hi | IH_DATA);
    g_assert_cmphex(h->st.regs[R_R14], ==, hi | (IH_DATA + 0x100));
    g_assert_cmphex(h->st.regs[R_R15], ==, hi | IH_DATA);    /* STOS */
    g_assert_cmphex(h->st.regs[R_R11], ==, IH_DATA + 0x100);
    g_assert_cmphex(h->st.regs[R_ECX], ==, 0);               /* MOVS */
    g_assert_cmphex(h->st.regs[R_ESI], ==, IH_DATA);
    g_assert_cmphex(h->st.regs[R_EDI], ==, IH_DATA + 0x100);
    g_assert_cmphex(h->st.regs[R_EAX], ==, 0x1234);
    g_assert_cmphex(h->st.rflags & F_ARITH, ==, F_CF);
    g_assert_cmphex(ram64(h, IH_DATA + 0x100), ==, 0);
    ih_free(h);
}

INTERP_TEST_CODE(repne_scasq_code, 64, "repne scasq\n hlt");
INTERP_TEST_CODE(repe_cmpsq_code, 64, "repe cmpsq\n hlt");

/* REPE/REPNE CMPS/SCAS faulting part way: the iterations done show in
 * the registers, but the flags are those from before the instruction. */
static void test_rep_cmp_fault_flags(void)
{
    InterpHarness *h = NEW_LONG(repne_scasq_code);

    unmap_4m(h);
    for (int i = 0; i < 8; i++) {
        put64(h, 0x3fffc0 + i * 8, 0x8000000000000000ull + i);
    }
    h->st.regs[R_EAX] = 1;
    h->st.regs[R_EDI] = 0x3fffc0;
    h->st.regs[R_ECX] = 16;
    set_flags(h, F_ZF | F_PF);
    run_to_fault(h, 14, IH_CODE);
    g_assert_cmphex(h->error_code, ==, 0);
    g_assert_cmphex(h->st.cr2, ==, 0x400000);
    g_assert_cmphex(h->st.regs[R_ECX], ==, 8);
    g_assert_cmphex(h->st.regs[R_EDI], ==, 0x400000);
    g_assert_cmphex(h->st.rflags & F_ARITH, ==, F_ZF | F_PF);
    /* Mapped again, it finishes: the flags of the last comparison. */
    put64(h, IH_PD + 2 * 8, 0x400000 | 0x83);
    for (int i = 0; i < 8; i++) {
        put64(h, 0x400000 + i * 8, 0);
    }
    run_to_hlt(h);
    g_assert_cmphex(h->st.regs[R_ECX], ==, 0);
    g_assert_cmphex(h->st.rflags & F_ARITH, ==, 0);    /* 1 - 0 */
    ih_free(h);

    /* REPE CMPS whose destination runs into the missing page. */
    h = NEW_LONG(repe_cmpsq_code);
    unmap_4m(h);
    h->st.regs[R_ESI] = IH_DATA;
    h->st.regs[R_EDI] = 0x3ffff0;
    h->st.regs[R_ECX] = 5;
    set_flags(h, F_SF | F_OF);
    run_to_fault(h, 14, IH_CODE);
    g_assert_cmphex(h->st.cr2, ==, 0x400000);
    g_assert_cmphex(h->st.regs[R_ECX], ==, 3);
    g_assert_cmphex(h->st.regs[R_ESI], ==, IH_DATA + 16);
    g_assert_cmphex(h->st.rflags & F_ARITH, ==, F_SF | F_OF);
    ih_free(h);

    /* Both operands fault in the same iteration: CMPS reads ES:rDI
     * first, so its fault is the one reported (as on the host CPU). */
    h = NEW_LONG(repe_cmpsq_code);
    unmap_4m(h);
    put64(h, IH_PD + 1 * 8, 0);                 /* 2-4 MiB too */
    h->st.regs[R_ESI] = 0x200008;
    h->st.regs[R_EDI] = 0x400000;
    h->st.regs[R_ECX] = 5;
    run_to_fault(h, 14, IH_CODE);
    g_assert_cmphex(h->st.cr2, ==, 0x400000);
    g_assert_cmphex(h->st.regs[R_ECX], ==, 5);
    ih_free(h);
}

/* A long REP stops part-way when the budget runs out, and resumes. */
static void test_rep_restart(void)
{
    InterpHarness *h = NEW_LONG(rep_stosb_code);
    const uint64_t n = 200000;

    h->st.regs[R_EAX] = 0x77;
    h->st.regs[R_EDI] = IH_DATA;
    h->st.regs[R_ECX] = n;
    g_assert_cmpint(ih_run(h, 1), ==, INTERP_EXIT_INSN_LIMIT);
    g_assert_cmphex(h->st.rip, ==, IH_CODE);
    g_assert_cmpuint(h->st.regs[R_ECX], >, 0);
    g_assert_cmpuint(h->st.regs[R_ECX], <, n);
    g_assert_cmphex(h->st.regs[R_EDI], ==, IH_DATA + n - h->st.regs[R_ECX]);
    g_assert_cmphex(h->ram[h->st.regs[R_EDI]], ==, 0);
    g_assert_cmphex(h->ram[h->st.regs[R_EDI] - 1], ==, 0x77);
    run_to_hlt(h);
    g_assert_cmphex(h->st.regs[R_ECX], ==, 0);
    for (uint64_t i = 0; i < n; i++) {
        g_assert_cmphex(h->ram[IH_DATA + i], ==, 0x77);
    }
    ih_free(h);

    /* Single-stepping traps after each iteration, RIP still at the REP. */
    h = NEW_LONG(rep_movsb_code);
    h->st.regs[R_ESI] = IH_DATA;
    h->st.regs[R_EDI] = IH_DATA + 0x100;
    h->st.regs[R_ECX] = 3;
    h->st.rflags |= 0x100;
    for (uint64_t left = 2; left > 0; left--) {
        run_to_fault(h, 1, IH_CODE);
        g_assert_cmphex(h->st.regs[R_ECX], ==, left);
        g_assert_cmphex(h->st.regs[R_EDI], ==, IH_DATA + 0x100 + 3 - left);
    }
    run_to_fault(h, 1, IH_CODE + 2);        /* the last one: past the REP */
    g_assert_cmphex(h->st.regs[R_ECX], ==, 0);
    ih_free(h);
}

/* REP MOVS over the instructions that follow it: they run as written. */
INTERP_TEST_CODE(rep_smc_code, 64,
    "rep movsb\n"
    ".globl rep_smc_target\n"
    "rep_smc_target: mov $1, %eax\n"
    "hlt");
INTERP_TEST_CODE(rep_smc_patch, 64, "mov $2, %eax");
extern const uint8_t rep_smc_target[];

static void test_rep_self_modifying(void)
{
    InterpHarness *h = NEW_LONG(rep_smc_code);

    ih_load(h, IH_DATA, rep_smc_patch, CODE_LEN(rep_smc_patch));
    h->st.regs[R_ESI] = IH_DATA;
    h->st.regs[R_EDI] = IH_CODE + (rep_smc_target - rep_smc_code);
    h->st.regs[R_ECX] = CODE_LEN(rep_smc_patch);
    run_to_hlt(h);
    g_assert_cmphex(h->st.regs[R_EAX], ==, 2);
    ih_free(h);
}

INTERP_TEST_CODE(repe_cmpsb_code, 64, "repe cmpsb\n hlt");
INTERP_TEST_CODE(repne_cmpsl_code, 64, "repne cmpsl\n hlt");
INTERP_TEST_CODE(repne_scasb_code, 64, "repne scasb\n hlt");
INTERP_TEST_CODE(scasw_code, 64, "scasw\n hlt");
INTERP_TEST_CODE(lodsw_code, 64, "lodsw\n hlt");
INTERP_TEST_CODE(rep_lodsb_code, 64, "rep lodsb\n hlt");

static void test_cmps_scas_lods(void)
{
    InterpHarness *h = NEW_LONG(repe_cmpsb_code);
    static const uint32_t a[4] = { 1, 2, 3, 4 }, b[4] = { 5, 6, 3, 8 };

    ih_load(h, IH_DATA, "abcdefghij", 10);
    ih_load(h, IH_DATA + 0x100, "abcdeXghij", 10);
    h->st.regs[R_ESI] = IH_DATA;
    h->st.regs[R_EDI] = IH_DATA + 0x100;
    h->st.regs[R_ECX] = 10;
    run_to_hlt(h);
    g_assert_cmphex(h->st.regs[R_ECX], ==, 4);
    g_assert_cmphex(h->st.regs[R_ESI], ==, IH_DATA + 6);
    g_assert_cmphex(h->st.regs[R_EDI], ==, IH_DATA + 0x106);
    g_assert_cmphex(h->st.rflags & (F_ZF | F_CF | F_SF), ==, 0);   /* f > X */
    ih_free(h);

    /* All equal: runs out with ZF set. A zero count changes nothing. */
    for (int count = 10; count >= 0; count -= 10) {
        h = NEW_LONG(repe_cmpsb_code);
        ih_load(h, IH_DATA, "abcdefghij", 10);
        ih_load(h, IH_DATA + 0x100, "abcdefghij", 10);
        h->st.regs[R_ESI] = IH_DATA;
        h->st.regs[R_EDI] = IH_DATA + 0x100;
        h->st.regs[R_ECX] = count;
        set_flags(h, count ? F_CF : F_CF | F_SF);
        run_to_hlt(h);
        g_assert_cmphex(h->st.regs[R_ECX], ==, 0);
        g_assert_cmphex(h->st.regs[R_ESI], ==, IH_DATA + count);
        g_assert_cmphex(h->st.rflags & F_ARITH, ==,
                        count ? F_ZF | F_PF : F_CF | F_SF);
        ih_free(h);
    }

    h = NEW_LONG(repne_cmpsl_code);
    ih_load(h, IH_DATA, a, sizeof(a));
    ih_load(h, IH_DATA + 0x100, b, sizeof(b));
    h->st.regs[R_ESI] = IH_DATA;
    h->st.regs[R_EDI] = IH_DATA + 0x100;
    h->st.regs[R_ECX] = 4;
    run_to_hlt(h);
    g_assert_cmphex(h->st.regs[R_ECX], ==, 1);
    g_assert_cmphex(h->st.regs[R_ESI], ==, IH_DATA + 12);
    g_assert_true(h->st.rflags & F_ZF);
    ih_free(h);

    /* strlen: rCX = -1 - (length + 1). */
    h = NEW_LONG(repne_scasb_code);
    ih_load(h, IH_DATA, "hello", 6);
    h->st.regs[R_EAX] = 0x1200;
    h->st.regs[R_EDI] = IH_DATA;
    h->st.regs[R_ECX] = -1ull;
    run_to_hlt(h);
    g_assert_cmphex(h->st.regs[R_ECX], ==, -7ull);
    g_assert_cmphex(h->st.regs[R_EDI], ==, IH_DATA + 6);
    g_assert_true(h->st.rflags & F_ZF);
    ih_free(h);

    h = NEW_LONG(scasw_code);
    put64(h, IH_DATA, 7);
    h->st.regs[R_EAX] = 5;
    h->st.regs[R_EDI] = IH_DATA;
    run_to_hlt(h);
    g_assert_cmphex(h->st.rflags & (F_CF | F_ZF | F_SF | F_OF), ==,
                    F_CF | F_SF);
    g_assert_cmphex(h->st.regs[R_EDI], ==, IH_DATA + 2);
    ih_free(h);

    h = NEW_LONG(lodsw_code);
    put64(h, IH_DATA + 0x10, 0xbeef);
    h->st.regs[R_EAX] = 0x1111111111111111ull;
    h->st.regs[R_ESI] = IH_DATA + 0x10;
    set_flags(h, F_DF);
    run_to_hlt(h);
    g_assert_cmphex(h->st.regs[R_EAX], ==, 0x111111111111beefull);
    g_assert_cmphex(h->st.regs[R_ESI], ==, IH_DATA + 0xe);
    ih_free(h);

    h = NEW_LONG(rep_lodsb_code);
    ih_load(h, IH_DATA, "\x01\x02\x03\x04\x05", 5);
    h->st.regs[R_ESI] = IH_DATA;
    h->st.regs[R_ECX] = 5;
    run_to_hlt(h);
    g_assert_cmphex(h->st.regs[R_EAX] & 0xff, ==, 5);
    g_assert_cmphex(h->st.regs[R_ESI], ==, IH_DATA + 5);
    g_assert_cmphex(h->st.regs[R_ECX], ==, 0);
    ih_free(h);
}

INTERP_TEST_CODE(repe_scasl_code, 64, "repe scasl\n hlt");
INTERP_TEST_CODE(repne_cmpsw_code, 64, "repne cmpsw\n hlt");
INTERP_TEST_CODE(rep_lodsl_code, 64, "rep lodsl\n hlt");

/* Scans and compares over several pages (the host-memory runs), with the
 * two operands of CMPS 1 MiB apart so that they share a TLB slot. */
static void test_string_long_scans(void)
{
    const uint64_t a = IH_DATA, b = IH_DATA + 0x100000;
    InterpHarness *h = NEW_LONG(repne_scasb_code);
    uint32_t v;

    memset(h->ram + a, 'x', 0x3000);
    h->ram[a + 0x2345] = 'y';
    h->ram[a + 0x2800] = 'y';
    h->st.regs[R_EAX] = 'y';
    h->st.regs[R_EDI] = a + 1;
    h->st.regs[R_ECX] = 0x10000;
    run_to_hlt(h);
    g_assert_cmphex(h->st.regs[R_EDI], ==, a + 0x2346);
    g_assert_cmphex(h->st.regs[R_ECX], ==, 0x10000 - 0x2345);
    g_assert_true(h->st.rflags & F_ZF);
    /* Downwards from the end: the last one. */
    ih_mode_long(h, IH_CODE);
    h->st.regs[R_EAX] = 'y';
    h->st.regs[R_EDI] = a + 0x2fff;
    h->st.regs[R_ECX] = 0x3000;
    set_flags(h, F_DF);
    run_to_hlt(h);
    g_assert_cmphex(h->st.regs[R_EDI], ==, a + 0x27ff);
    g_assert_cmphex(h->st.regs[R_ECX], ==, 0x3000 - 0x800);
    /* Not found: runs out with ZF clear. */
    ih_mode_long(h, IH_CODE);
    h->st.regs[R_EAX] = 'z';
    h->st.regs[R_EDI] = a;
    h->st.regs[R_ECX] = 0x3000;
    run_to_hlt(h);
    g_assert_cmphex(h->st.regs[R_ECX], ==, 0);
    g_assert_cmphex(h->st.regs[R_EDI], ==, a + 0x3000);
    g_assert_false(h->st.rflags & F_ZF);
    ih_free(h);

    h = NEW_LONG(repe_scasl_code);
    for (unsigned i = 0; i < 3000; i++) {
        v = i == 2500 ? 0x1234 : 0xcafe;
        memcpy(h->ram + a + 2 + i * 4, &v, 4);
    }
    h->st.regs[R_EAX] = 0xcafe;
    h->st.regs[R_EDI] = a + 2;
    h->st.regs[R_ECX] = 3000;
    run_to_hlt(h);
    g_assert_cmphex(h->st.regs[R_ECX], ==, 3000 - 2501);
    g_assert_cmphex(h->st.regs[R_EDI], ==, a + 2 + 2501 * 4);
    /* The flags of CMP 0xcafe, 0x1234. */
    g_assert_cmphex(h->st.rflags & (F_ZF | F_CF | F_SF), ==, 0);
    ih_free(h);

    h = NEW_LONG(repe_cmpsb_code);
    for (unsigned i = 0; i < 10000; i++) {
        h->ram[a + i] = h->ram[b + i] = (uint8_t)(i * 13);
    }
    h->ram[b + 7777] ^= 0x80;
    h->st.regs[R_ESI] = a;
    h->st.regs[R_EDI] = b;
    h->st.regs[R_ECX] = 10000;
    run_to_hlt(h);
    g_assert_cmphex(h->st.regs[R_ECX], ==, 10000 - 7778);
    g_assert_cmphex(h->st.regs[R_ESI], ==, a + 7778);
    g_assert_cmphex(h->st.regs[R_EDI], ==, b + 7778);
    g_assert_false(h->st.rflags & F_ZF);
    ih_free(h);

    /* REPNE CMPSW: no equal pair in 5000 words. */
    h = NEW_LONG(repne_cmpsw_code);
    for (unsigned i = 0; i < 10000; i++) {
        h->ram[a + 1 + i] = (uint8_t)i;
        h->ram[b + 1 + i] = (uint8_t)(i + 1);
    }
    h->st.regs[R_ESI] = a + 1;
    h->st.regs[R_EDI] = b + 1;
    h->st.regs[R_ECX] = 5000;
    run_to_hlt(h);
    g_assert_cmphex(h->st.regs[R_ECX], ==, 0);
    g_assert_cmphex(h->st.regs[R_ESI], ==, a + 1 + 10000);
    g_assert_cmphex(h->st.regs[R_EDI], ==, b + 1 + 10000);
    g_assert_false(h->st.rflags & F_ZF);
    ih_free(h);

    h = NEW_LONG(rep_lodsl_code);
    for (unsigned i = 0; i < 2000; i++) {
        v = i;
        memcpy(h->ram + a + 0xffe + i * 4, &v, 4);
    }
    h->st.regs[R_EAX] = -1ull;
    h->st.regs[R_ESI] = a + 0xffe;
    h->st.regs[R_ECX] = 2000;
    run_to_hlt(h);
    g_assert_cmphex(h->st.regs[R_EAX], ==, 1999);
    g_assert_cmphex(h->st.regs[R_ESI], ==, a + 0xffe + 8000);
    ih_free(h);
}

/* Segment override of the source, address sizes, real-mode segments. */
INTERP_TEST_CODE(movs_fs_code, 64, "rep movsb %fs:(%rsi), %es:(%rdi)\n hlt");
INTERP_TEST_CODE(stos_a32_code, 64, ".byte 0x67, 0xf3, 0xaa\n hlt");
INTERP_TEST_CODE(movs_a16_code, 32, ".byte 0x67, 0xf3, 0xa4\n hlt");
INTERP_TEST_CODE(real_movsw_code, 16, "rep movsw\n hlt");
INTERP_TEST_CODE(real_stosb_code, 16, "rep stosb\n hlt");
INTERP_TEST_CODE(real_movs_a32_code, 16, ".byte 0x67, 0xf3, 0xa4\n hlt");

static void test_string_segments(void)
{
    InterpHarness *h = NEW_LONG(movs_fs_code);

    ih_load(h, IH_DATA + 0x10, "fs-source", 9);
    h->st.segs[SEG_FS].base = IH_DATA;
    h->st.regs[R_ESI] = 0x10;
    h->st.regs[R_EDI] = IH_DATA + 0x100;
    h->st.regs[R_ECX] = 9;
    run_to_hlt(h);
    g_assert_true(memcmp(h->ram + IH_DATA + 0x100, "fs-source", 9) == 0);
    g_assert_cmphex(h->st.regs[R_ESI], ==, 0x19);
    ih_free(h);

    /* 32-bit addresses in 64-bit mode: EDI, ECX, upper halves cleared. */
    h = NEW_LONG(stos_a32_code);
    h->st.regs[R_EAX] = 0x42;
    h->st.regs[R_EDI] = 0xabcd000000000000ull | IH_DATA;
    h->st.regs[R_ECX] = 0x1234000000000004ull;
    run_to_hlt(h);
    g_assert_cmphex(ram64(h, IH_DATA), ==, 0x42424242);
    g_assert_cmphex(h->st.regs[R_EDI], ==, IH_DATA + 4);
    g_assert_cmphex(h->st.regs[R_ECX], ==, 0);
    ih_free(h);

    /* 16-bit addresses in 32-bit mode wrap SI and keep ESI's upper half. */
    h = NEW_FLAT32(movs_a16_code);
    h->ram[0xfffe] = 0x33;
    h->ram[0xffff] = 0x44;
    h->ram[0x0] = 0x11;
    h->ram[0x1] = 0x22;
    h->st.regs[R_ESI] = 0x1fffe;
    h->st.regs[R_EDI] = 0x31000;
    h->st.regs[R_ECX] = 0xabcd0004;
    run_to_hlt(h);
    g_assert_cmphex(h->ram[0x1000], ==, 0x33);
    g_assert_cmphex(h->ram[0x1001], ==, 0x44);
    g_assert_cmphex(h->ram[0x1002], ==, 0x11);
    g_assert_cmphex(h->ram[0x1003], ==, 0x22);
    g_assert_cmphex(h->st.regs[R_ESI], ==, 0x10002);
    g_assert_cmphex(h->st.regs[R_EDI], ==, 0x31004);
    g_assert_cmphex(h->st.regs[R_ECX], ==, 0xabcd0000);
    ih_free(h);

    /* Real mode: DS:SI to ES:DI with segment bases. */
    h = NEW_REAL(real_movsw_code);
    h->st.segs[SEG_ES].selector = 0x4000;
    h->st.segs[SEG_ES].base = 0x40000;
    ih_load(h, 0x20010, "abcdef", 6);
    h->st.regs[R_ESI] = 0x10;
    h->st.regs[R_EDI] = 0x20;
    h->st.regs[R_ECX] = 3;
    run_to_hlt(h);
    g_assert_true(memcmp(h->ram + 0x40020, "abcdef", 6) == 0);
    g_assert_cmphex(h->st.regs[R_ESI], ==, 0x16);
    g_assert_cmphex(h->st.regs[R_EDI], ==, 0x26);
    ih_free(h);

    /* DI wraps at 64 KiB. */
    h = NEW_REAL(real_stosb_code);
    h->st.regs[R_EAX] = 0xee;
    h->st.regs[R_EDI] = 0xfffe;
    h->st.regs[R_ECX] = 4;
    run_to_hlt(h);
    g_assert_cmphex(h->ram[0x2fffe], ==, 0xee);
    g_assert_cmphex(h->ram[0x2ffff], ==, 0xee);
    g_assert_cmphex(h->ram[0x20000], ==, 0xee);
    g_assert_cmphex(h->ram[0x20001], ==, 0xee);
    g_assert_cmphex(h->ram[0x30000], ==, 0);
    g_assert_cmphex(h->st.regs[R_EDI], ==, 2);
    ih_free(h);

    /* 32-bit addresses in real mode stop at the 64 KiB limit: #GP after
     * the bytes below it. */
    h = NEW_REAL(real_movs_a32_code);
    ih_load(h, 0x2fff8, "12345678", 8);
    h->st.regs[R_ESI] = 0xfff8;
    h->st.regs[R_EDI] = 0;
    h->st.regs[R_ECX] = 0x10;
    run_to_fault(h, 13, 0);
    g_assert_cmphex(h->st.regs[R_ECX], ==, 8);
    g_assert_cmphex(h->st.regs[R_ESI], ==, 0x10000);
    g_assert_cmphex(h->st.regs[R_EDI], ==, 8);
    g_assert_true(memcmp(h->ram + 0x20000, "12345678", 8) == 0);
    ih_free(h);
}

/* ==== decimal adjustments, BOUND, SALC (32-bit code) ==== */

INTERP_TEST_CODE(daa_code, 32, "add $0x35, %al\n daa\n hlt");
INTERP_TEST_CODE(das_code, 32, "sub $0x47, %al\n das\n hlt");
INTERP_TEST_CODE(aaa_code, 32, "add $0x06, %al\n aaa\n hlt");
INTERP_TEST_CODE(aas_code, 32, "sub $0x05, %al\n aas\n hlt");
INTERP_TEST_CODE(aam_code, 32,
    "aam\n mov %eax, %ebx\n mov $0x3f, %al\n aam $16\n hlt");
INTERP_TEST_CODE(aad_code, 32,
    "aad\n mov %eax, %ebx\n mov $0x0305, %ax\n aad $16\n hlt");
INTERP_TEST_CODE(aam0_code, 32, ".byte 0xd4, 0x00\n hlt");
INTERP_TEST_CODE(salc_code, 32,
    "stc\n .byte 0xd6\n mov %eax, %ebx\n clc\n .byte 0xd6\n hlt");

typedef struct BcdCase {
    const char *name;
    const uint8_t *code, *end;
    uint64_t eax;
    uint64_t flags_in;
    uint64_t eax_out, ebx_out;
    uint64_t flags_mask, flags_out;
} BcdCase;

static const BcdCase bcd_cases[] = {
    /* 79 + 35 = 114 */
    { N(daa_code), 0x79, 0, 0x14, 0, F_CF | F_AF | F_SF | F_ZF | F_PF,
      F_CF | F_AF | F_PF },
    /* 35 - 47 = -12: 88 with a borrow */
    { N(das_code), 0x35, 0, 0x88, 0, F_CF | F_AF | F_SF | F_ZF | F_PF,
      F_CF | F_AF | F_SF | F_PF },
    /* 8 + 6 = 14: AH + 1, AL = 4 */
    { N(aaa_code), 0x0108, 0, 0x0204, 0, F_CF | F_AF, F_CF | F_AF },
    /* 2 - 5: AH - 1, AL = 7 */
    { N(aas_code), 0x0002, 0, 0xff07, 0, F_CF | F_AF, F_CF | F_AF },
    { N(aam_code), 63, 0, 0x030f, 0x0603, F_SF | F_ZF | F_PF, F_PF },
    { N(aad_code), 0x0603, 0, 0x0035, 0x003f, F_SF | F_ZF | F_PF, F_PF },
    { N(salc_code), 0x1234, 0, 0x1200, 0x12ff, 0, 0 },
};

static void test_bcd_case(const void *data)
{
    const BcdCase *c = data;
    InterpHarness *h = new_flat32(c->code, c->end - c->code);

    h->st.regs[R_EAX] = c->eax;
    set_flags(h, c->flags_in);
    run_to_hlt(h);
    g_assert_cmphex(h->st.regs[R_EAX], ==, c->eax_out);
    if (c->ebx_out) {
        g_assert_cmphex(h->st.regs[R_EBX], ==, c->ebx_out);
    }
    g_assert_cmphex(h->st.rflags & c->flags_mask, ==, c->flags_out);
    ih_free(h);
}

INTERP_TEST_CODE(bound32_code, 32, "bound %eax, (%ebx)\n hlt");
INTERP_TEST_CODE(bound16_code, 32, "bound %ax, (%ebx)\n hlt");

static void test_aam_zero_and_bound(void)
{
    static const struct { bool wide; uint32_t index; bool in; } b[] = {
        { true, 15, true }, { true, 10, true }, { true, 20, true },
        { true, 21, false }, { true, 9, false }, { true, 0xffffffff, false },
        { false, 0xfffc, true }, { false, 0xfffa, false }, { false, 6, false },
        { false, 5, true },
    };
    InterpHarness *h = NEW_FLAT32(aam0_code);
    uint32_t bounds32[2] = { 10, 20 };
    uint16_t bounds16[2] = { 0xfffb, 5 };       /* -5 .. 5 */

    h->st.regs[R_EAX] = 0x1234;
    run_to_fault(h, 0, IH_CODE);
    g_assert_cmphex(h->st.regs[R_EAX], ==, 0x1234);
    ih_free(h);

    for (size_t i = 0; i < G_N_ELEMENTS(b); i++) {
        h = b[i].wide ? NEW_FLAT32(bound32_code) : NEW_FLAT32(bound16_code);
        ih_load(h, IH_DATA, bounds32, sizeof(bounds32));
        ih_load(h, IH_DATA + 0x10, bounds16, sizeof(bounds16));
        h->st.regs[R_EAX] = b[i].index;
        h->st.regs[R_EBX] = b[i].wide ? IH_DATA : IH_DATA + 0x10;
        if (b[i].in) {
            run_to_hlt(h);
        } else {
            run_to_fault(h, 5, IH_CODE);
        }
        ih_free(h);
    }
}

/* ==== 16-bit code: the default operand size is 16 ==== */

INTERP_TEST_CODE(real_muldiv_code, 16,
    "mul %bx\n mov %ax, %si\n mov %dx, %di\n"
    "divl %ecx\n"
    "shld $4, %bx, %bp\n"
    "hlt");

static void test_real_mode_sizes(void)
{
    InterpHarness *h = NEW_REAL(real_muldiv_code);

    h->st.regs[R_EAX] = 0x00018000;
    h->st.regs[R_EBX] = 4;
    h->st.regs[R_ECX] = 0xf0000000;
    h->st.regs[R_EDX] = 0xabcd0000;    /* DX only: the top half stays */
    h->st.regs[R_EBP] = 0x12341234;
    run_to_hlt(h);
    g_assert_cmphex(h->st.regs[R_ESI] & 0xffff, ==, 0);
    g_assert_cmphex(h->st.regs[R_EDI] & 0xffff, ==, 2);
    /* EDX:EAX = 0xabcd0002:00010000, / 0xf0000000 */
    g_assert_cmphex(h->st.regs[R_EAX], ==, 0xb7411113);
    g_assert_cmphex(h->st.regs[R_EDX], ==, 0x30010000);
    g_assert_cmphex(h->st.regs[R_EBP], ==, 0x12342340);
    ih_free(h);
}

/* ==== LOCK across vCPUs ==== */

/* Host-atomic (aligned) and lock-serialised (misaligned) updates, and a
 * compare-and-swap retry loop, from two vCPUs at once. */
INTERP_TEST_CODE(smp_code, 64,
    "1: mov $1, %ebx\n"
    "lock xaddq %rbx, (%rdi)\n"
    "mov $1, %ebx\n"
    "lock xaddl %ebx, 0x3e(%rdi)\n"
    "mov 0x100(%rdi), %rax\n"
    "2: lea 1(%rax), %rdx\n"
    "lock cmpxchgq %rdx, 0x100(%rdi)\n"
    "jnz 2b\n"
    "lock btcq $0, 0x200(%rdi)\n"
    "dec %ecx\n"
    "jnz 1b\n"
    "hlt");

#define SMP_LOOPS 100000

static int smp_ready;

static gpointer smp_thread(gpointer data)
{
    InterpCPU *cpu = data;

    /* Start together, so that the two loops overlap. */
    g_atomic_int_inc(&smp_ready);
    while (g_atomic_int_get(&smp_ready) < 2) {
        /* spin */
    }
    return GINT_TO_POINTER(interp_cpu_exec(cpu, 0));
}

static void test_lock_smp(void)
{
    InterpHarness *h = NEW_LONG(smp_code);
    InterpCPU *cpu1 = interp_cpu_new(h->shared, 1);
    GThread *t0, *t1;

    interp_cpu_set_stop_on_exception(cpu1, true);
    h->st.regs[R_EDI] = IH_DATA;
    h->st.regs[R_ECX] = SMP_LOOPS;
    interp_cpu_set_state(h->cpu, &h->st);
    h->st.regs[R_ESP] = IH_STACK_TOP - 0x1000;
    interp_cpu_set_state(cpu1, &h->st);
    smp_ready = 0;
    t0 = g_thread_new("vcpu0", smp_thread, h->cpu);
    t1 = g_thread_new("vcpu1", smp_thread, cpu1);
    g_assert_cmpint(GPOINTER_TO_INT(g_thread_join(t0)), ==, INTERP_EXIT_HLT);
    g_assert_cmpint(GPOINTER_TO_INT(g_thread_join(t1)), ==, INTERP_EXIT_HLT);
    g_assert_cmpuint(ram64(h, IH_DATA), ==, 2 * SMP_LOOPS);
    g_assert_cmpuint(ram64(h, IH_DATA + 0x3e) & 0xffffffff, ==,
                     2 * SMP_LOOPS);
    g_assert_cmpuint(ram64(h, IH_DATA + 0x100), ==, 2 * SMP_LOOPS);
    g_assert_cmpuint(ram64(h, IH_DATA + 0x200), ==, 0);   /* even toggles */
    interp_cpu_free(cpu1);
    ih_free(h);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    for (size_t i = 0; i < G_N_ELEMENTS(reg_cases); i++) {
        char *path = g_strdup_printf("/interp-ops/reg/%s", reg_cases[i].name);
        g_test_add_data_func(path, &reg_cases[i], test_reg_case);
        g_free(path);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(bcd_cases); i++) {
        char *path = g_strdup_printf("/interp-ops/bcd/%s", bcd_cases[i].name);
        g_test_add_data_func(path, &bcd_cases[i], test_bcd_case);
        g_free(path);
    }
    g_test_add_func("/interp-ops/divide-error", test_divide_error);
    g_test_add_func("/interp-ops/shift-memory", test_shift_memory);
    g_test_add_func("/interp-ops/bt-memory", test_bt_memory);
    g_test_add_func("/interp-ops/cmpxchg-memory", test_cmpxchg_memory);
    g_test_add_func("/interp-ops/cmpxchg-readonly", test_cmpxchg_readonly);
    g_test_add_func("/interp-ops/cmpxchg8b-16b", test_cmpxchg8b_16b);
    g_test_add_func("/interp-ops/xadd-memory", test_xadd_memory);
    g_test_add_func("/interp-ops/movbe", test_movbe);
    g_test_add_func("/interp-ops/rep-movs-overlap", test_rep_movs_overlap);
    g_test_add_func("/interp-ops/rep-stos", test_rep_stos);
    g_test_add_func("/interp-ops/rep-fault", test_rep_fault);
    g_test_add_func("/interp-ops/rmw-write-fault", test_rmw_write_fault);
    g_test_add_func("/interp-ops/rep-a32-zero-count", test_rep_a32_zero_count);
    g_test_add_func("/interp-ops/rep-cmp-fault-flags",
                    test_rep_cmp_fault_flags);
    g_test_add_func("/interp-ops/rep-restart", test_rep_restart);
    g_test_add_func("/interp-ops/rep-self-modifying", test_rep_self_modifying);
    g_test_add_func("/interp-ops/cmps-scas-lods", test_cmps_scas_lods);
    g_test_add_func("/interp-ops/string-long-scans", test_string_long_scans);
    g_test_add_func("/interp-ops/string-segments", test_string_segments);
    g_test_add_func("/interp-ops/aam0-bound", test_aam_zero_and_bound);
    g_test_add_func("/interp-ops/real-mode-sizes", test_real_mode_sizes);
    g_test_add_func("/interp-ops/lock-smp", test_lock_smp);
    return g_test_run();
}
