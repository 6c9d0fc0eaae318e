/*
 * The interpreter's executor core: blocks, the run loop, lazy flags and
 * the ALU / data / branch operations. Arithmetic, flags and conditions
 * are checked against the host CPU: each case is one snippet of code
 * assembled twice, once for the guest and once as a host function that
 * runs it on the same register values.
 */
#include <string.h>
#include <glib.h>
#include "interp-harness.h"
#include "accel/interp/block.h"

#define FLAGS_ALL   (RFLAGS_CF | RFLAGS_PF | RFLAGS_AF | RFLAGS_ZF | \
                     RFLAGS_SF | RFLAGS_OF)
#define FLAGS_LOGIC (FLAGS_ALL & ~RFLAGS_AF)     /* AF undefined */

/* ---- differential cases: guest vs host ---- */

/*
 * The host function takes io[] = { rax, rbx, rcx, rdx, rflags } and runs
 * the snippet on them; the guest copy ends with HLT.
 */
#define HOST_FN(name, text)                                               \
    extern void h_##name(uint64_t *io);                                   \
    __asm__(".pushsection .text\n.globl h_" #name "\n"                    \
            ".type h_" #name ", @function\nh_" #name ":\n"                \
            "push %rbx\npush %rbp\npush %r12\npush %r13\npush %r14\n"   \
            "push %r15\n"                                                 \
            "mov 8(%rdi), %rbx\nmov 16(%rdi), %rcx\nmov 24(%rdi), %rdx\n" \
            "pushq 32(%rdi)\npopfq\nmov (%rdi), %rax\n"                   \
            text "\n"                                                     \
            "pushfq\npopq 32(%rdi)\n"                                     \
            "mov %rax, (%rdi)\nmov %rbx, 8(%rdi)\n"                       \
            "mov %rcx, 16(%rdi)\nmov %rdx, 24(%rdi)\n"                    \
            "pop %r15\npop %r14\npop %r13\npop %r12\npop %rbp\n"       \
            "pop %rbx\nret\n.popsection\n")
#define CASE(name, text)                                                  \
    INTERP_TEST_CODE(g_##name, 64, text "\nhlt\n");                       \
    HOST_FN(name, text)
/* Memory cases also run with the TLB already filled for their data (the
 * same operation through the handlers' fast paths). */
#define WARM "orb $0, (%rdx)\n orb $0, 15(%rdx)\n"
#define MCASE(name, text) CASE(name, text); CASE(name##_warm, WARM text)

typedef struct DiffCase {
    const char *name;
    const uint8_t *code, *end;
    void (*host)(uint64_t *io);
    uint64_t fmask;           /* flags to compare */
    bool mem;                 /* RDX points at 16 bytes of data */
} DiffCase;

#define DC(name, fmask) { #name, g_##name, g_##name##_end, h_##name, fmask, false }
#define DM(name, fmask) { #name, g_##name, g_##name##_end, h_##name, fmask, true }
#define DMW(name, fmask) DM(name, fmask), DM(name##_warm, fmask)

/* Binary ALU ops in four sizes, reg-reg. */
#define ALU4(op)                                         \
    CASE(op##b, #op "b %bl, %al");                       \
    CASE(op##w, #op "w %bx, %ax");                       \
    CASE(op##l, #op "l %ebx, %eax");                     \
    CASE(op##q, #op "q %rbx, %rax");                     \
    CASE(op##l_rev, #op "l %eax, %ebx");                 \
    CASE(op##b_high, #op "b %ah, %bh")
ALU4(add); ALU4(or); ALU4(adc); ALU4(sbb); ALU4(and); ALU4(sub); ALU4(xor);
ALU4(cmp); ALU4(test);

#define UNARY4(op)                                       \
    CASE(op##b, #op "b %al");                            \
    CASE(op##w, #op "w %ax");                            \
    CASE(op##l, #op "l %eax");                           \
    CASE(op##q, #op "q %rax");                           \
    CASE(op##b_high, #op "b %ah")
UNARY4(inc); UNARY4(dec); UNARY4(neg); UNARY4(not);

/* Immediate forms (the encodings with sign-extended imm8 included). */
CASE(addb_imm, "addb $0x80, %al");
CASE(addw_imm8, "addw $-3, %ax");
CASE(subl_imm, "subl $0x7fffffff, %eax");
CASE(subq_imm8, "subq $1, %rax");
CASE(cmpq_imm, "cmpq $-0x80000000, %rax");
CASE(andl_imm, "andl $0xff00ff00, %eax");
CASE(orq_imm8, "orq $-2, %rax");
CASE(xorw_imm, "xorw $0x8001, %ax");
CASE(testb_imm, "testb $0x81, %al");
CASE(testq_imm, "testq $0x7fff0000, %rax");
CASE(adcl_imm, "adcl $0x80000000, %eax");
CASE(sbbq_imm8, "sbbq $-1, %rax");
CASE(cmpb_imm_ah, "cmpb $0x40, %ah");
CASE(addl_acc, ".byte 0x05\n .long 0x12345678");   /* add eax, imm32 */
CASE(addq_r8_r15, "mov %rax, %r8\n mov %rbx, %r15\n addq %r15, %r8\n"
                  "mov %r8, %rax");

/* Memory operands (RDX points at data). */
MCASE(addl_mem_dst, "addl %ebx, (%rdx)");
MCASE(addq_mem_src, "addq 8(%rdx), %rax");
MCASE(subw_mem_dst, "subw %bx, 2(%rdx)");
MCASE(cmpl_mem_imm, "cmpl $5, (%rdx)");
MCASE(cmpq_mem_reg, "cmpq %rax, (%rdx)");
MCASE(andb_mem_imm, "andb $0x3c, 3(%rdx)");
MCASE(xorq_mem_dst, "xorq %rbx, 8(%rdx)");
MCASE(orl_mem_src, "orl 4(%rdx), %eax");
MCASE(adcq_mem_dst, "adcq %rbx, (%rdx)");
MCASE(sbbb_mem_src, "sbbb 5(%rdx), %al");
MCASE(testw_mem_reg, "testw %bx, 6(%rdx)");
MCASE(incl_mem, "incl 4(%rdx)");
MCASE(decw_mem, "decw (%rdx)");
MCASE(negq_mem, "negq 8(%rdx)");
MCASE(notl_mem, "notl (%rdx)");
MCASE(addl_bis, "movl $1, %ecx\n addl %ebx, 2(%rdx,%rcx,4)");
MCASE(movq_bis, "movl $1, %ecx\n movq (%rdx,%rcx,8), %rax");
MCASE(cmpb_bis, "movl $3, %ecx\n cmpb %bl, 1(%rdx,%rcx,2)");
MCASE(subq_is, "movq %rdx, %rcx\n shrq $1, %rcx\n"
               "subq %rbx, (,%rcx,2)\n movl $0, %ecx");

/* Memory compares fused with the Jcc after them. */
#define JTAIL "\n movl $0, %ecx\n jmp 2f\n1: movl $1, %ecx\n2:"
MCASE(jl_cmpl_mr, "cmpl %ebx, 4(%rdx)\n jl 1f" JTAIL);
MCASE(jbe_cmpq_mi, "cmpq $0x7f, 8(%rdx)\n jbe 1f" JTAIL);
MCASE(jne_testl_mr, "testl %ebx, (%rdx)\n jne 1f" JTAIL);
MCASE(jg_cmpq_gm, "cmpq 8(%rdx), %rax\n jg 1f" JTAIL);
MCASE(jo_subl_gm, "subl 4(%rdx), %eax\n jo 1f" JTAIL);

/* LOCK forms, aligned (host atomics) and not (the locked fallback). */
MCASE(lock_addl, "lock addl %ebx, (%rdx)");
MCASE(lock_addq_imm, "lock addq $-5, 8(%rdx)");
MCASE(lock_orb, "lock orb %bl, 3(%rdx)");
MCASE(lock_andw, "lock andw %bx, 2(%rdx)");
MCASE(lock_xorq, "lock xorq %rbx, (%rdx)");
MCASE(lock_subl, "lock subl %ebx, 4(%rdx)");
MCASE(lock_adcq, "lock adcq %rbx, 8(%rdx)");
MCASE(lock_sbbl, "lock sbbl %ebx, (%rdx)");
MCASE(lock_incw, "lock incw 6(%rdx)");
MCASE(lock_decq, "lock decq (%rdx)");
MCASE(lock_negl, "lock negl 4(%rdx)");
MCASE(lock_notb, "lock notb 1(%rdx)");
MCASE(lock_addl_unaligned, "lock addl %ebx, 1(%rdx)");
MCASE(lock_adcq_unaligned, "lock adcq %rbx, 3(%rdx)");
MCASE(xchgq_mem, "xchgq %rbx, (%rdx)");
MCASE(xchgw_mem_unaligned, "xchgw %bx, 5(%rdx)");
MCASE(lock_xorl_unaligned, "lock xorl %ebx, 6(%rdx)");
MCASE(xchgl_mem_unaligned, "xchgl %ebx, 7(%rdx)");

/* Data movement and flag operations. */
CASE(movl_rr, "movl %ebx, %eax");
CASE(movw_rr, "movw %bx, %ax");
CASE(movb_high, "movb %bh, %al\n movb %bl, %ah");
CASE(movq_imm64, "movabsq $0x123456789abcdef0, %rax");
CASE(movl_imm, "movl $0xfedcba98, %eax");
CASE(movq_imm32, "movq $-2, %rbx");
MCASE(movl_load, "movl 4(%rdx), %eax");
MCASE(movq_store, "movq %rbx, 8(%rdx)");
MCASE(movw_store, "movw %bx, 2(%rdx)");
MCASE(movb_store_high, "movb %bh, 7(%rdx)");
MCASE(movb_load, "movb 5(%rdx), %bl");
MCASE(movl_store_imm, "movl $0x89abcdef, 4(%rdx)");
MCASE(movq_store_imm, "movq $-7, (%rdx)");
CASE(movzbl, "movzbl %bl, %eax");
CASE(movzbq_high, "movzbl %bh, %eax");
CASE(movzwl, "movzwl %bx, %eax");
MCASE(movzwq_mem, "movzwq 2(%rdx), %rax");
CASE(movzbw, "movzbw %bl, %ax");
CASE(movsbl, "movsbl %bl, %eax");
MCASE(movsbq_mem, "movsbq 3(%rdx), %rax");
CASE(movswl, "movswl %bx, %eax");
CASE(movswq, "movswq %bx, %rax");
CASE(movslq, "movslq %ebx, %rax");
MCASE(movslq_mem, "movslq 4(%rdx), %rax");
CASE(leaq, "leaq 0x10(%rax,%rbx,4), %rcx");
CASE(leal, "leal -8(%rax,%rbx,2), %ecx");
CASE(leaw, "leaw 3(%rax,%rbx), %cx");
CASE(leal_addr32, "addr32 leal 4(%eax,%ebx,8), %ecx");
CASE(leaq_rip, "leaq 0x1000(%rip), %rcx\n subq %rcx, %rcx");
CASE(leaq_bd, "leaq -0x80(%rbx), %rax");
CASE(leaq_is, "leaq 0x7fffffff(,%rbx,8), %rax");
CASE(leal_bd, "leal 0x12345678(%rbx), %eax");
CASE(leal_is, "leal (,%rbx,2), %eax");
CASE(leaq_addr32, "addr32 leaq 4(%eax,%ebx,8), %rcx");
CASE(xchgl_rr, "xchgl %eax, %ebx");
CASE(xchgb_high, "xchgb %ah, %bl");
CASE(xchgq_acc, "xchgq %rax, %rcx");
CASE(xchgl_acc, "xchgl %eax, %eax");
CASE(cbw, "cbtw");
CASE(cwde, "cwtl");
CASE(cdqe, "cltq");
CASE(cwd, "cwtd");
CASE(cdq, "cltd");
CASE(cqo, "cqto");
CASE(bswapl, "bswapl %eax");
CASE(bswapq, "bswapq %rbx");
CASE(lahf, "addb %bl, %al\n lahf");
CASE(sahf, "sahf");
CASE(clc, "clc");
CASE(stc, "stc");
CASE(cmc, "cmc");
CASE(cmc_after_sub, "subl %ebx, %eax\n cmc");

/* Conditions after each kind of flag producer. */
#define CCS(X, pn, prod)                                                 \
    X(pn, prod, o) X(pn, prod, no) X(pn, prod, b) X(pn, prod, ae)        \
    X(pn, prod, e) X(pn, prod, ne) X(pn, prod, be) X(pn, prod, a)        \
    X(pn, prod, s) X(pn, prod, ns) X(pn, prod, p) X(pn, prod, np)        \
    X(pn, prod, l) X(pn, prod, ge) X(pn, prod, le) X(pn, prod, g)
#define JCC_CASE(pn, prod, cc)                                           \
    CASE(j##cc##_##pn, prod "\n j" #cc " 1f\n movl $0, %ecx\n jmp 2f\n"  \
                       "1: movl $1, %ecx\n2:");                          \
    CASE(set##cc##_##pn, prod "\n set" #cc " %cl\n");                    \
    CASE(cmov##cc##_##pn, prod "\n cmov" #cc "l %ebx, %ecx\n");
#define PRODUCERS(X)                                                     \
    X(cmpq, "cmpq %rbx, %rax") X(cmpl, "cmpl %ebx, %eax")                \
    X(cmpw, "cmpw %bx, %ax") X(cmpb, "cmpb %bl, %al")                    \
    X(addq, "addq %rbx, %rax") X(addb, "addb %bl, %al")                  \
    X(subl, "subl %ebx, %eax") X(testl, "testl %ebx, %eax")              \
    X(andb, "andb %bl, %al") X(orq, "orq %rbx, %rax")                    \
    X(incl, "incl %eax") X(decw, "decw %ax") X(negq, "negq %rax")        \
    X(adcl, "adcl %ebx, %eax") X(sbbq, "sbbq %rbx, %rax")                \
    X(xorw, "xorw %bx, %ax") X(sahf, "sahf") X(stc, "stc")
#define PRODUCER_CASES(pn, prod) CCS(JCC_CASE, pn, prod)
PRODUCERS(PRODUCER_CASES)

static const DiffCase alu_cases[] = {
#define ALU4_DC(op, m) DC(op##b, m), DC(op##w, m), DC(op##l, m), DC(op##q, m), \
                       DC(op##l_rev, m), DC(op##b_high, m)
    ALU4_DC(add, FLAGS_ALL), ALU4_DC(or, FLAGS_LOGIC), ALU4_DC(adc, FLAGS_ALL),
    ALU4_DC(sbb, FLAGS_ALL), ALU4_DC(and, FLAGS_LOGIC),
    ALU4_DC(sub, FLAGS_ALL), ALU4_DC(xor, FLAGS_LOGIC),
    ALU4_DC(cmp, FLAGS_ALL), ALU4_DC(test, FLAGS_LOGIC),
#define UNARY4_DC(op, m) DC(op##b, m), DC(op##w, m), DC(op##l, m), DC(op##q, m), \
                         DC(op##b_high, m)
    UNARY4_DC(inc, FLAGS_ALL), UNARY4_DC(dec, FLAGS_ALL),
    UNARY4_DC(neg, FLAGS_ALL), UNARY4_DC(not, FLAGS_ALL),
    DC(addb_imm, FLAGS_ALL), DC(addw_imm8, FLAGS_ALL), DC(subl_imm, FLAGS_ALL),
    DC(subq_imm8, FLAGS_ALL), DC(cmpq_imm, FLAGS_ALL),
    DC(andl_imm, FLAGS_LOGIC), DC(orq_imm8, FLAGS_LOGIC),
    DC(xorw_imm, FLAGS_LOGIC), DC(testb_imm, FLAGS_LOGIC),
    DC(testq_imm, FLAGS_LOGIC), DC(adcl_imm, FLAGS_ALL),
    DC(sbbq_imm8, FLAGS_ALL), DC(cmpb_imm_ah, FLAGS_ALL),
    DC(addl_acc, FLAGS_ALL), DC(addq_r8_r15, FLAGS_ALL),
};

static const DiffCase mem_cases[] = {
    DMW(addl_mem_dst, FLAGS_ALL), DMW(addq_mem_src, FLAGS_ALL),
    DMW(subw_mem_dst, FLAGS_ALL), DMW(cmpl_mem_imm, FLAGS_ALL),
    DMW(cmpq_mem_reg, FLAGS_ALL), DMW(andb_mem_imm, FLAGS_LOGIC),
    DMW(xorq_mem_dst, FLAGS_LOGIC), DMW(orl_mem_src, FLAGS_LOGIC),
    DMW(adcq_mem_dst, FLAGS_ALL), DMW(sbbb_mem_src, FLAGS_ALL),
    DMW(testw_mem_reg, FLAGS_LOGIC), DMW(incl_mem, FLAGS_ALL),
    DMW(decw_mem, FLAGS_ALL), DMW(negq_mem, FLAGS_ALL),
    DMW(notl_mem, FLAGS_ALL),
    DMW(addl_bis, FLAGS_ALL), DMW(movq_bis, FLAGS_ALL),
    DMW(cmpb_bis, FLAGS_ALL),
    DMW(subq_is, FLAGS_ALL),
    DMW(jl_cmpl_mr, FLAGS_ALL), DMW(jbe_cmpq_mi, FLAGS_ALL),
    DMW(jne_testl_mr, FLAGS_LOGIC), DMW(jg_cmpq_gm, FLAGS_ALL),
    DMW(jo_subl_gm, FLAGS_ALL),
};

static const DiffCase lock_cases[] = {
    DMW(lock_addl, FLAGS_ALL), DMW(lock_addq_imm, FLAGS_ALL),
    DMW(lock_orb, FLAGS_LOGIC), DMW(lock_andw, FLAGS_LOGIC),
    DMW(lock_xorq, FLAGS_LOGIC), DMW(lock_subl, FLAGS_ALL),
    DMW(lock_adcq, FLAGS_ALL), DMW(lock_sbbl, FLAGS_ALL),
    DMW(lock_incw, FLAGS_ALL), DMW(lock_decq, FLAGS_ALL),
    DMW(lock_negl, FLAGS_ALL), DMW(lock_notb, FLAGS_ALL),
    DMW(lock_addl_unaligned, FLAGS_ALL), DMW(lock_adcq_unaligned, FLAGS_ALL),
    DMW(xchgq_mem, FLAGS_ALL), DMW(xchgw_mem_unaligned, FLAGS_ALL),
    DMW(lock_xorl_unaligned, FLAGS_LOGIC), DMW(xchgl_mem_unaligned, FLAGS_ALL),
};

static const DiffCase data_cases[] = {
    DC(movl_rr, FLAGS_ALL), DC(movw_rr, FLAGS_ALL), DC(movb_high, FLAGS_ALL),
    DC(movq_imm64, FLAGS_ALL), DC(movl_imm, FLAGS_ALL),
    DC(movq_imm32, FLAGS_ALL), DMW(movl_load, FLAGS_ALL),
    DMW(movq_store, FLAGS_ALL), DMW(movw_store, FLAGS_ALL),
    DMW(movb_store_high, FLAGS_ALL), DMW(movb_load, FLAGS_ALL),
    DMW(movl_store_imm, FLAGS_ALL), DMW(movq_store_imm, FLAGS_ALL),
    DC(movzbl, FLAGS_ALL), DC(movzbq_high, FLAGS_ALL), DC(movzwl, FLAGS_ALL),
    DMW(movzwq_mem, FLAGS_ALL), DC(movzbw, FLAGS_ALL), DC(movsbl, FLAGS_ALL),
    DMW(movsbq_mem, FLAGS_ALL), DC(movswl, FLAGS_ALL), DC(movswq, FLAGS_ALL),
    DC(movslq, FLAGS_ALL), DMW(movslq_mem, FLAGS_ALL), DC(leaq, FLAGS_ALL),
    DC(leal, FLAGS_ALL), DC(leaw, FLAGS_ALL), DC(leal_addr32, FLAGS_ALL),
    DC(leaq_rip, FLAGS_ALL),
    DC(leaq_bd, FLAGS_ALL), DC(leaq_is, FLAGS_ALL), DC(leal_bd, FLAGS_ALL),
    DC(leal_is, FLAGS_ALL), DC(leaq_addr32, FLAGS_ALL),
    DC(xchgl_rr, FLAGS_ALL), DC(xchgb_high, FLAGS_ALL),
    DC(xchgq_acc, FLAGS_ALL), DC(xchgl_acc, FLAGS_ALL),
    DC(cbw, FLAGS_ALL), DC(cwde, FLAGS_ALL), DC(cdqe, FLAGS_ALL),
    DC(cwd, FLAGS_ALL), DC(cdq, FLAGS_ALL), DC(cqo, FLAGS_ALL),
    DC(bswapl, FLAGS_ALL), DC(bswapq, FLAGS_ALL), DC(lahf, FLAGS_ALL),
    DC(sahf, FLAGS_ALL), DC(clc, FLAGS_ALL), DC(stc, FLAGS_ALL),
    DC(cmc, FLAGS_ALL), DC(cmc_after_sub, FLAGS_ALL),
};

static const DiffCase cc_cases[] = {
#define CC_DC(pn, prod, cc) DC(j##cc##_##pn, 0), DC(set##cc##_##pn, 0), \
                            DC(cmov##cc##_##pn, 0),
#define PRODUCER_DCS(pn, prod) CCS(CC_DC, pn, prod)
    PRODUCERS(PRODUCER_DCS)
};

/* Operands that hit the edges of every size often. */
static uint64_t interesting(GRand *r)
{
    static const uint64_t edges[] = {
        0, 1, 2, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fffffff,
        0x80000000, 0xffffffff, 0x7fffffffffffffffULL,
        0x8000000000000000ULL, ~0ULL, 0xfffffffffffffffeULL, 0x100, 0xf,
        0x10, 0x0f0f0f0f0f0f0f0fULL,
    };
    uint64_t v = ((uint64_t)g_rand_int(r) << 32) | g_rand_int(r);

    switch (g_rand_int_range(r, 0, 4)) {
    case 0:
        return edges[g_rand_int_range(r, 0, G_N_ELEMENTS(edges))];
    case 1:
        return edges[g_rand_int_range(r, 0, G_N_ELEMENTS(edges))] +
               g_rand_int_range(r, -2, 3);
    case 2:
        return v & 0xff;
    default:
        return v;
    }
}

/* Places code at the next free spot after IH_CODE. */
static uint64_t place(InterpHarness *h, uint64_t *next, const uint8_t *code,
                      const uint8_t *end)
{
    uint64_t addr = *next;

    ih_load(h, addr, code, end - code);
    *next = (addr + (end - code) + 63) & ~63ULL;
    return addr;
}

/* The registers of io[0..3]. */
static const int io_reg[4] = { R_EAX, R_EBX, R_ECX, R_EDX };

static InterpExit run_at(InterpHarness *h, uint64_t rip, uint64_t max)
{
    h->st.rip = rip;
    h->st.mp_state = X86_MP_RUNNABLE;
    return ih_run(h, max);
}

/* @data_off: where the 16 bytes of guest data start after IH_DATA. */
static void run_diff_cases(const DiffCase *cases, size_t n, int iters,
                           unsigned data_off)
{
    InterpHarness *h = ih_new();
    GRand *rnd = g_rand_new_with_seed(0x1e3u);
    uint64_t next = IH_CODE;
    static uint8_t hostbuf[64] __attribute__((aligned(64)));

    ih_mode_long(h, IH_CODE);
    for (size_t c = 0; c < n; c++) {
        const DiffCase *dc = &cases[c];
        uint64_t addr = place(h, &next, dc->code, dc->end);

        for (int i = 0; i < iters; i++) {
            uint64_t io[5], gio[5];
            uint8_t data[16];
            InterpExit r;

            for (int k = 0; k < 4; k++) {
                io[k] = interesting(rnd);
            }
            if (g_rand_int_range(rnd, 0, 8) == 0) {
                io[1] = io[0];
            }
            io[4] = (interesting(rnd) & FLAGS_ALL) | RFLAGS_FIXED;
            for (int k = 0; k < 16; k++) {
                data[k] = interesting(rnd);
            }
            memcpy(gio, io, sizeof(io));
            if (dc->mem) {
                io[3] = (uintptr_t)hostbuf;
                gio[3] = IH_DATA + data_off;
                memcpy(hostbuf, data, 16);
                ih_load(h, IH_DATA + data_off, data, 16);
            }
            dc->host(io);

            for (int k = 0; k < 4; k++) {
                h->st.regs[io_reg[k]] = gio[k];
            }
            h->st.rflags = gio[4];
            r = run_at(h, addr, 0);
            if (r != INTERP_EXIT_HLT) {
                g_error("%s: exit %d, vector %d", dc->name, r, h->vector);
            }
            for (int k = 0; k < 4; k++) {
                if (dc->mem && k == 3) {
                    continue;
                }
                if (h->st.regs[io_reg[k]] != io[k]) {
                    g_error("%s: reg %d is %#" G_GINT64_MODIFIER "x, host "
                            "%#" G_GINT64_MODIFIER "x (in: %#"
                            G_GINT64_MODIFIER "x %#" G_GINT64_MODIFIER
                            "x %#" G_GINT64_MODIFIER "x fl %#"
                            G_GINT64_MODIFIER "x)", dc->name, k,
                            h->st.regs[io_reg[k]], io[k], gio[0], gio[1],
                            gio[2],
                            gio[4]);
                }
            }
            if ((h->st.rflags ^ io[4]) & dc->fmask) {
                g_error("%s: flags %#" G_GINT64_MODIFIER "x, host %#"
                        G_GINT64_MODIFIER "x (in: %#" G_GINT64_MODIFIER
                        "x %#" G_GINT64_MODIFIER "x fl %#"
                        G_GINT64_MODIFIER "x)", dc->name,
                        h->st.rflags & dc->fmask, io[4] & dc->fmask,
                        gio[0], gio[1], gio[4]);
            }
            if (dc->mem && memcmp(h->ram + IH_DATA + data_off, hostbuf,
                                  16)) {
                g_error("%s: memory differs", dc->name);
            }
        }
    }
    g_rand_free(rnd);
    ih_free(h);
}

static void test_alu_vs_host(void)
{
    run_diff_cases(alu_cases, G_N_ELEMENTS(alu_cases), 400, 0);
}

static void test_mem_vs_host(void)
{
    run_diff_cases(mem_cases, G_N_ELEMENTS(mem_cases), 200, 0);
}

static void test_lock_vs_host(void)
{
    run_diff_cases(lock_cases, G_N_ELEMENTS(lock_cases), 100, 0);
    /* Guest data across a page boundary: some accesses cross it. */
    run_diff_cases(lock_cases, G_N_ELEMENTS(lock_cases), 20, 0xff8);
}

static void test_data_vs_host(void)
{
    run_diff_cases(data_cases, G_N_ELEMENTS(data_cases), 200, 0);
}

static void test_conditions_vs_host(void)
{
    run_diff_cases(cc_cases, G_N_ELEMENTS(cc_cases), 60, 0);
}

/* ---- control flow ---- */

INTERP_TEST_CODE(loop64, 64,
    "xor %eax, %eax\n mov $1000, %ecx\n"
    "1: add %rcx, %rax\n dec %ecx\n jnz 1b\n"
    "mov $10, %edx\n xor %ebx, %ebx\n"
    "2: inc %ebx\n cmp %edx, %ebx\n jb 2b\n"
    "mov $5, %ecx\n xor %esi, %esi\n"
    "3: inc %esi\n loop 3b\n"
    "hlt\n");

static void test_loops(void)
{
    InterpHarness *h = ih_new();

    ih_load(h, IH_CODE, loop64, loop64_end - loop64);
    ih_mode_long(h, IH_CODE);
    g_assert_cmpint(ih_run(h, 0), ==, INTERP_EXIT_HLT);
    g_assert_cmphex(h->st.regs[R_EAX], ==, 500500);
    g_assert_cmphex(h->st.regs[R_EBX], ==, 10);
    g_assert_cmphex(h->st.regs[R_ESI], ==, 5);
    g_assert_cmphex(h->st.regs[R_ECX], ==, 0);
    g_assert_cmphex(h->st.rip, ==, IH_CODE + (loop64_end - loop64));
    ih_free(h);
}

/* Recursive Fibonacci, indirect calls and jumps, RET imm16. */
INTERP_TEST_CODE(calls64, 64,
    "mov $15, %edi\n call fib64\n mov %rax, %r12\n"
    "lea sq64(%rip), %rbx\n mov $7, %edi\n call *%rbx\n mov %rax, %r13\n"
    "lea bad64(%rip), %rax\n mov %rax, tab64(%rip)\n"
    "lea back64(%rip), %rax\n mov %rax, tab64+8(%rip)\n"
    "lea tab64(%rip), %rbx\n mov $1, %ecx\n jmp *(%rbx,%rcx,8)\n"
    "back64: pushq $11\n pushq $22\n call sum2_64\n mov %rax, %r14\n"
    "hlt\n"
    "fib64: cmp $2, %edi\n jb 1f\n push %rdi\n dec %edi\n call fib64\n"
    "pop %rdi\n push %rax\n sub $2, %edi\n call fib64\n pop %rdx\n"
    "add %rdx, %rax\n ret\n"
    "1: mov %edi, %eax\n ret\n"
    "sq64: mov %edi, %eax\n imul %edi, %eax\n ret\n"
    "sum2_64: mov 8(%rsp), %rax\n add 16(%rsp), %rax\n ret $16\n"
    "bad64: hlt\n"
    ".balign 64\n tab64: .quad 0, 0\n");

static void test_calls64(void)
{
    InterpHarness *h = ih_new();

    ih_load(h, IH_CODE, calls64, calls64_end - calls64);
    ih_mode_long(h, IH_CODE);
    g_assert_cmpint(ih_run(h, 0), ==, INTERP_EXIT_HLT);
    g_assert_cmphex(h->st.regs[R_R12], ==, 610);
    g_assert_cmphex(h->st.regs[R_R13], ==, 49);
    g_assert_cmphex(h->st.regs[R_R14], ==, 33);
    g_assert_cmphex(h->st.regs[R_ESP], ==, IH_STACK_TOP);
    ih_free(h);
}

/* The same in 32-bit protected mode, with 16-bit pushes and ENTER/LEAVE. */
INTERP_TEST_CODE(calls32, 32,
    "mov $12, %edi\n call fib32\n mov %eax, %ebp\n"
    "pushw $0x1234\n pushl $0x55667788\n popl %ebx\n popw %cx\n"
    "pushl $3\n pushl $4\n popl (%esp)\n popl %edx\n"
    "enter $16, $0\n movl $0xaa, -4(%ebp)\n mov %ebp, %esi\n"
    "movl -4(%esi), %eax\n movl %eax, 0x200000\n leave\n"
    "mov $0x1000, %eax\n push %eax\n push %esp\n pop %edi\n pop %eax\n"
    "hlt\n"
    "fib32: cmp $2, %edi\n jb 1f\n push %edi\n dec %edi\n call fib32\n"
    "pop %edi\n push %eax\n sub $2, %edi\n call fib32\n pop %edx\n"
    "add %edx, %eax\n ret\n"
    "1: mov %edi, %eax\n ret\n");

static void test_calls32(void)
{
    InterpHarness *h = ih_new();

    ih_load(h, IH_CODE, calls32, calls32_end - calls32);
    ih_mode_flat32(h, IH_CODE);
    g_assert_cmpint(ih_run(h, 0), ==, INTERP_EXIT_HLT);
    g_assert_cmphex(h->st.regs[R_EBP], ==, 144);
    g_assert_cmphex(h->st.regs[R_EBX], ==, 0x55667788);
    g_assert_cmphex(h->st.regs[R_ECX] & 0xffff, ==, 0x1234);
    /* popl (%esp) stores at ESP after the increment: the "3" slot. */
    g_assert_cmphex(h->st.regs[R_EDX], ==, 4);
    g_assert_cmphex(h->st.regs[R_ESI], ==, IH_STACK_TOP - 4);
    g_assert_cmphex(*(uint32_t *)(h->ram + IH_DATA), ==, 0xaa);
    /* PUSH ESP pushes the value before the push. */
    g_assert_cmphex(h->st.regs[R_EDI], ==, IH_STACK_TOP - 4);
    g_assert_cmphex(h->st.regs[R_ESP], ==, IH_STACK_TOP);
    ih_free(h);
}

/* Real mode: 16-bit stack, near calls and returns, PUSHA/POPA. */
INTERP_TEST_CODE(code16, 16,
    "mov $0x8000, %sp\n"
    "mov $5, %cx\n xor %ax, %ax\n"
    "1: add %cx, %ax\n loop 1b\n"
    "call f16\n .globl code16_call_ret\n code16_call_ret:\n"
    "push $0x1234\n pop %bx\n"
    "mov $0x1111, %si\n pusha\n mov $0, %si\n popa\n"
    "pushl $0x89abcdef\n popl %edx\n"
    "mov $0x80, %al\n cbw\n mov %ax, %di\n"
    "hlt\n"
    "f16: pop %bp\n push %bp\n add $100, %ax\n ret\n");

extern const uint8_t code16_call_ret[];

static void test_real_mode(void)
{
    InterpHarness *h = ih_new();

    ih_load(h, 0x10000, code16, code16_end - code16);
    ih_mode_real(h, 0x1000, 0);
    g_assert_cmpint(ih_run(h, 0), ==, INTERP_EXIT_HLT);
    g_assert_cmphex(h->st.regs[R_EBX] & 0xffff, ==, 0x1234);
    g_assert_cmphex(h->st.regs[R_ESI] & 0xffff, ==, 0x1111);
    g_assert_cmphex(h->st.regs[R_EDX] & 0xffffffff, ==, 0x89abcdef);
    g_assert_cmphex(h->st.regs[R_EDI] & 0xffff, ==, 0xff80);
    g_assert_cmphex(h->st.regs[R_ESP] & 0xffff, ==, 0x8000);
    /* The return address of the call went on the stack at SS:7FFE. */
    g_assert_cmphex(h->st.regs[R_EBP] & 0xffff, ==,
                    code16_call_ret - code16);
    ih_free(h);
}

INTERP_TEST_CODE(push64, 64,
    "pushq $-1\n pushw $0x1234\n popw %ax\n popq %rbx\n"
    "push %rsp\n pop %rcx\n"
    "pushq $1\n pushq $2\n popq (%rsp)\n popq %rdx\n"
    "lea 8(%rsp), %rsi\n pushq $7\n popq -8(%rsi)\n"
    "mov %rsp, %r8\n enter $32, $0\n mov %rbp, %r9\n leave\n"
    "hlt\n");

static void test_push_pop64(void)
{
    InterpHarness *h = ih_new();

    ih_load(h, IH_CODE, push64, push64_end - push64);
    ih_mode_long(h, IH_CODE);
    g_assert_cmpint(ih_run(h, 0), ==, INTERP_EXIT_HLT);
    g_assert_cmphex(h->st.regs[R_EAX] & 0xffff, ==, 0x1234);
    g_assert_cmphex(h->st.regs[R_EBX], ==, ~0ULL);
    g_assert_cmphex(h->st.regs[R_ECX], ==, IH_STACK_TOP);
    g_assert_cmphex(h->st.regs[R_EDX], ==, 2);
    g_assert_cmphex(h->st.regs[R_R9], ==, IH_STACK_TOP - 8);
    g_assert_cmphex(h->st.regs[R_ESP], ==, IH_STACK_TOP);
    g_assert_cmphex(*(uint64_t *)(h->ram + IH_STACK_TOP), ==, 7);
    ih_free(h);
}

/* Memory operands through FS/GS bases in 64-bit mode, and through the
 * 32-bit fast paths. */
INTERP_TEST_CODE(fsgs64, 64,
    "movq $5, %fs:0\n movq %fs:0, %rax\n addq $3, %gs:8\n"
    "movq %gs:8, %rbx\n movl $0x40, %ecx\n movb %cl, %fs:(%rcx)\n"
    "movzbl 0x40(%rdx), %esi\n cmpq $5, %fs:0\n jne 1f\n"
    "movl $1, %edi\n 1: hlt\n");

INTERP_TEST_CODE(mem32, 32,
    "mov $0x200000, %esi\n movl $7, (%esi)\n movl $9, 4(%esi)\n"
    "movl (%esi), %eax\n addl %eax, 4(%esi)\n movl 4(%esi), %ebx\n"
    "mov $1, %ecx\n movl (%esi,%ecx,4), %edx\n"
    "movb $0xfe, 9(%esi)\n movzbl 9(%esi), %edi\n"
    "cmpl $16, 4(%esi)\n jne 1f\n movl $0x77, 12(%esi)\n"
    "1: mov $0x1000, %esp\n pushl (%esi)\n popl 16(%esi)\n hlt\n");

static void test_memory_paths(void)
{
    InterpHarness *h = ih_new();

    ih_load(h, IH_CODE, fsgs64, fsgs64_end - fsgs64);
    ih_mode_long(h, IH_CODE);
    h->st.segs[SEG_FS].base = IH_DATA;
    h->st.segs[SEG_GS].base = IH_DATA + 0x100;
    h->st.regs[R_EDX] = IH_DATA;
    memset(h->ram + IH_DATA, 0, 0x200);
    g_assert_cmpint(ih_run(h, 0), ==, INTERP_EXIT_HLT);
    g_assert_cmphex(h->st.regs[R_EAX], ==, 5);
    g_assert_cmphex(h->st.regs[R_EBX], ==, 3);
    g_assert_cmphex(h->st.regs[R_ESI], ==, 0x40);
    g_assert_cmphex(h->st.regs[R_EDI], ==, 1);
    g_assert_cmphex(*(uint64_t *)(h->ram + IH_DATA + 0x108), ==, 3);

    ih_load(h, IH_CODE + 0x1000, mem32, mem32_end - mem32);
    ih_mode_flat32(h, IH_CODE + 0x1000);
    memset(h->ram + IH_DATA, 0, 0x200);
    g_assert_cmpint(ih_run(h, 0), ==, INTERP_EXIT_HLT);
    g_assert_cmphex(h->st.regs[R_EAX], ==, 7);
    g_assert_cmphex(h->st.regs[R_EBX], ==, 16);
    g_assert_cmphex(h->st.regs[R_EDX], ==, 16);
    g_assert_cmphex(h->st.regs[R_EDI], ==, 0xfe);
    g_assert_cmphex(*(uint32_t *)(h->ram + IH_DATA + 12), ==, 0x77);
    g_assert_cmphex(*(uint32_t *)(h->ram + IH_DATA + 16), ==, 7);
    g_assert_cmphex(h->st.regs[R_ESP], ==, 0x1000);
    ih_free(h);
}

/* A near branch to a non-canonical address is #GP(0) at the branch. */
INTERP_TEST_CODE(noncanon, 64,
    "movabs $0x0000800000000000, %rax\n jmp *%rax\n");

static void test_branch_gp(void)
{
    InterpHarness *h = ih_new();

    ih_load(h, IH_CODE, noncanon, noncanon_end - noncanon);
    ih_mode_long(h, IH_CODE);
    g_assert_cmpint(ih_run(h, 0), ==, INTERP_EXIT_EXCEPTION);
    g_assert_cmpint(h->vector, ==, EXCP_GP);
    g_assert_cmpint(h->error_code, ==, 0);
    g_assert_cmphex(h->st.rip, ==, IH_CODE + 10);
    ih_free(h);
}

INTERP_TEST_CODE(ud2code, 64, "inc %eax\n ud2\n");

static void test_ud(void)
{
    InterpHarness *h = ih_new();

    ih_load(h, IH_CODE, ud2code, ud2code_end - ud2code);
    ih_mode_long(h, IH_CODE);
    h->st.regs[R_EAX] = 0;
    g_assert_cmpint(ih_run(h, 0), ==, INTERP_EXIT_EXCEPTION);
    g_assert_cmpint(h->vector, ==, EXCP_UD);
    g_assert_cmphex(h->st.rip, ==, IH_CODE + 2);
    g_assert_cmphex(h->st.regs[R_EAX], ==, 1);
    ih_free(h);
}

/* ---- the run loop ---- */

INTERP_TEST_CODE(incs, 64,
    ".rept 20\n inc %eax\n .endr\n hlt\n");

static void test_insn_budget(void)
{
    InterpHarness *h = ih_new();

    ih_load(h, IH_CODE, incs, incs_end - incs);
    ih_mode_long(h, IH_CODE);
    h->st.regs[R_EAX] = 0;
    g_assert_cmpint(ih_run(h, 7), ==, INTERP_EXIT_INSN_LIMIT);
    g_assert_cmphex(h->st.regs[R_EAX], ==, 7);
    g_assert_cmphex(h->st.rip, ==, IH_CODE + 14);
    g_assert_cmpint(ih_run(h, 1), ==, INTERP_EXIT_INSN_LIMIT);
    g_assert_cmphex(h->st.regs[R_EAX], ==, 8);
    g_assert_cmpint(ih_run(h, 0), ==, INTERP_EXIT_HLT);
    g_assert_cmphex(h->st.regs[R_EAX], ==, 20);
    ih_free(h);
}

/* RFLAGS.TF: a #DB trap after each instruction, RIP at the next one. */
static void test_single_step(void)
{
    InterpHarness *h = ih_new();

    ih_load(h, IH_CODE, incs, incs_end - incs);
    ih_mode_long(h, IH_CODE);
    h->st.regs[R_EAX] = 0;
    for (int i = 1; i <= 3; i++) {
        h->st.rflags |= RFLAGS_TF;
        g_assert_cmpint(ih_run(h, 0), ==, INTERP_EXIT_EXCEPTION);
        g_assert_cmpint(h->vector, ==, EXCP_DB);
        g_assert_cmphex(h->st.regs[R_EAX], ==, i);
        g_assert_cmphex(h->st.rip, ==, IH_CODE + 2 * i);
        g_assert_true(h->st.dr[6] & (1u << 14));
    }
    ih_free(h);
}

/* MOV SS holds the single-step trap back by one instruction. */
INTERP_TEST_CODE(movss_step, 64,
    "mov %ss, %eax\n mov %eax, %ss\n inc %ebx\n inc %ecx\n hlt\n");

static void test_single_step_mov_ss(void)
{
    InterpHarness *h = ih_new();

    ih_load(h, IH_CODE, movss_step, movss_step_end - movss_step);
    ih_mode_long(h, IH_CODE);
    h->st.regs[R_EBX] = h->st.regs[R_ECX] = 0;
    h->st.rflags |= RFLAGS_TF;
    g_assert_cmpint(ih_run(h, 0), ==, INTERP_EXIT_EXCEPTION);
    g_assert_cmpint(h->vector, ==, EXCP_DB);
    g_assert_cmphex(h->st.rip, ==, IH_CODE + 2);
    g_assert_cmpint(ih_run(h, 0), ==, INTERP_EXIT_EXCEPTION);
    g_assert_cmpint(h->vector, ==, EXCP_DB);
    g_assert_cmphex(h->st.rip, ==, IH_CODE + 6);
    g_assert_cmphex(h->st.regs[R_EBX], ==, 1);
    g_assert_cmphex(h->st.regs[R_ECX], ==, 0);
    ih_free(h);
}

INTERP_TEST_CODE(spin, 64, "1: inc %rax\n jmp 1b\n");

static gpointer request_exit_later(gpointer opaque)
{
    g_usleep(50000);
    interp_cpu_request_exit(opaque);
    return NULL;
}

static void test_exit_request(void)
{
    InterpHarness *h = ih_new();
    GThread *t;

    ih_load(h, IH_CODE, spin, spin_end - spin);
    ih_mode_long(h, IH_CODE);
    h->st.regs[R_EAX] = 0;
    t = g_thread_new("kick", request_exit_later, h->cpu);
    g_assert_cmpint(ih_run(h, 0), ==, INTERP_EXIT_REQUEST);
    g_thread_join(t);
    g_assert_cmpuint(h->st.regs[R_EAX], >, 1000);
    g_assert_true(h->st.rip == IH_CODE || h->st.rip == IH_CODE + 3);
    ih_free(h);
}

/* A pending interrupt with IF=1 ends the run at a block boundary. */
static void test_irq_exit(void)
{
    InterpHarness *h = ih_new();

    ih_load(h, IH_CODE, spin, spin_end - spin);
    ih_mode_long(h, IH_CODE);
    interp_cpu_set_state(h->cpu, &h->st);
    h->cpu->irq_pending = 1;
    /* IF=0: the interrupt waits. */
    g_assert_cmpint(interp_cpu_exec(h->cpu, 1000), ==,
                    INTERP_EXIT_INSN_LIMIT);
    interp_set_rflags(h->cpu, RFLAGS_IF, RFLAGS_IF);
    g_assert_cmpint(interp_cpu_exec(h->cpu, 1000), ==, INTERP_EXIT_REQUEST);
    h->cpu->irq_pending = 0;
    /* An NMI does not wait for IF, only for the end of the last one. */
    interp_set_rflags(h->cpu, 0, RFLAGS_IF);
    h->cpu->nmi_pending = 1;
    h->cpu->nmi_blocked = true;
    g_assert_cmpint(interp_cpu_exec(h->cpu, 1000), ==,
                    INTERP_EXIT_INSN_LIMIT);
    h->cpu->nmi_blocked = false;
    g_assert_cmpint(interp_cpu_exec(h->cpu, 0), ==, INTERP_EXIT_REQUEST);
    h->cpu->nmi_pending = 0;
    ih_free(h);
}

/* ---- SMP: LOCK ADD from two vCPUs ---- */

#define LOCK_ITERS 200000
INTERP_TEST_CODE(lockloop, 64,
    "mov $200000, %ecx\n"
    "1: lock addq $1, (%rdx)\n lock incl 8(%rdx)\n dec %ecx\n jnz 1b\n"
    "hlt\n");

typedef struct LockThread {
    InterpCPU *cpu;
    InterpExit exit;
} LockThread;

static gpointer lock_thread(gpointer opaque)
{
    LockThread *lt = opaque;

    lt->exit = interp_cpu_exec(lt->cpu, 0);
    return NULL;
}

static void test_lock_two_cpus(void)
{
    InterpHarness *h = ih_new();
    InterpCPU *cpu1 = interp_cpu_new(h->shared, 1);
    LockThread lt[2] = { { h->cpu, 0 }, { cpu1, 0 } };
    GThread *t[2];

    ih_load(h, IH_CODE, lockloop, lockloop_end - lockloop);
    ih_mode_long(h, IH_CODE);
    h->st.regs[R_EDX] = IH_DATA;
    memset(h->ram + IH_DATA, 0, 16);
    interp_cpu_set_state(h->cpu, &h->st);
    interp_cpu_set_state(cpu1, &h->st);
    for (int i = 0; i < 2; i++) {
        t[i] = g_thread_new("vcpu", lock_thread, &lt[i]);
    }
    for (int i = 0; i < 2; i++) {
        g_thread_join(t[i]);
        g_assert_cmpint(lt[i].exit, ==, INTERP_EXIT_HLT);
    }
    g_assert_cmphex(*(uint64_t *)(h->ram + IH_DATA), ==, 2 * LOCK_ITERS);
    g_assert_cmphex(*(uint32_t *)(h->ram + IH_DATA + 8), ==, 2 * LOCK_ITERS);
    interp_cpu_free(cpu1);
    ih_free(h);
}

/* ---- cross-modifying code: one vCPU rewrites what another runs ---- */

INTERP_TEST_CODE(xmc_runner, 64,
    "movl $1, xmc_flag - xmc_runner(%rdi)\n"
    "1: call xmc_f\n cmp $2, %eax\n jne 1b\n hlt\n"
    ".balign 64\n xmc_f: movl $1, %eax\n ret\n"
    ".balign 64\n xmc_flag: .long 0\n"
    ".balign 64\n xmc_scratch: .long 0\n .balign 64\n");
INTERP_TEST_CODE(xmc_patcher, 64,
    /* A write to the page first, so that this vCPU may hold a writable
     * TLB entry for it from before the page held code. */
    "movl $0, xmc_scratch - xmc_runner(%rdi)\n"
    "1: cmpl $0, xmc_flag - xmc_runner(%rdi)\n je 1b\n"
    "movl $100000, %ecx\n 2: dec %ecx\n jnz 2b\n"
    "movb $2, xmc_f + 1 - xmc_runner(%rdi)\n hlt\n");

static gpointer stop_later(gpointer opaque)
{
    InterpCPU **cpus = opaque;

    for (int i = 0; i < 200 && !__atomic_load_n(&cpus[2], __ATOMIC_ACQUIRE);
         i++) {
        g_usleep(50000);
    }
    interp_cpu_request_exit(cpus[0]);
    interp_cpu_request_exit(cpus[1]);
    return NULL;
}

static void test_cross_modifying(void)
{
    InterpHarness *h = ih_new();
    InterpCPU *cpu1 = interp_cpu_new(h->shared, 1);
    LockThread lt[2] = { { h->cpu, 0 }, { cpu1, 0 } };
    InterpCPU *cpus[3] = { h->cpu, cpu1, NULL };
    uint64_t runner = IH_CODE + 0x4000, patcher = IH_CODE + 0x6000;
    GThread *t[2], *watchdog;

    ih_load(h, runner, xmc_runner, xmc_runner_end - xmc_runner);
    ih_load(h, patcher, xmc_patcher, xmc_patcher_end - xmc_patcher);
    ih_mode_long(h, runner);
    h->st.regs[R_EDI] = runner;
    interp_cpu_set_state(h->cpu, &h->st);
    h->st.rip = patcher;
    interp_cpu_set_state(cpu1, &h->st);
    watchdog = g_thread_new("watchdog", stop_later, cpus);
    for (int i = 0; i < 2; i++) {
        t[i] = g_thread_new("vcpu", lock_thread, &lt[i]);
    }
    for (int i = 0; i < 2; i++) {
        g_thread_join(t[i]);
    }
    __atomic_store_n(&cpus[2], (InterpCPU *)h->cpu, __ATOMIC_RELEASE);
    g_thread_join(watchdog);
    /* The runner saw the new code (else it spins until the watchdog). */
    g_assert_cmpint(lt[0].exit, ==, INTERP_EXIT_HLT);
    g_assert_cmpint(lt[1].exit, ==, INTERP_EXIT_HLT);
    interp_cpu_free(cpu1);
    ih_free(h);
}

/* A spinlock (XCHG to take, MOV to release) and the counter it guards,
 * in the page of the code: the locked accesses must stay atomic against
 * the plain stores of the other vCPU. */
INTERP_TEST_CODE(spin_code, 64,
    "mov $20000, %ecx\n"
    "1: mov $1, %eax\n"
    "2: xchg %eax, spin_lockvar(%rip)\n test %eax, %eax\n jnz 2b\n"
    "incl spin_counter(%rip)\n movl $0, spin_lockvar(%rip)\n"
    "dec %ecx\n jnz 1b\n hlt\n"
    ".balign 64\n spin_lockvar: .long 0\n"
    ".balign 64\n .globl spin_counter\n spin_counter: .long 0\n"
    ".balign 64\n");
extern const uint8_t spin_counter[];

static void test_spinlock_in_code_page(void)
{
    InterpHarness *h = ih_new();
    InterpCPU *cpu1 = interp_cpu_new(h->shared, 1);
    LockThread lt[2] = { { h->cpu, 0 }, { cpu1, 0 } };
    InterpCPU *cpus[3] = { h->cpu, cpu1, NULL };
    uint64_t at = IH_CODE + 0x8000;
    GThread *t[2], *watchdog;

    ih_load(h, at, spin_code, spin_code_end - spin_code);
    ih_mode_long(h, at);
    interp_cpu_set_state(h->cpu, &h->st);
    interp_cpu_set_state(cpu1, &h->st);
    watchdog = g_thread_new("watchdog", stop_later, cpus);
    for (int i = 0; i < 2; i++) {
        t[i] = g_thread_new("vcpu", lock_thread, &lt[i]);
    }
    for (int i = 0; i < 2; i++) {
        g_thread_join(t[i]);
    }
    __atomic_store_n(&cpus[2], (InterpCPU *)h->cpu, __ATOMIC_RELEASE);
    g_thread_join(watchdog);
    g_assert_cmpint(lt[0].exit, ==, INTERP_EXIT_HLT);
    g_assert_cmpint(lt[1].exit, ==, INTERP_EXIT_HLT);
    g_assert_cmpuint(*(uint32_t *)(h->ram + at + (spin_counter - spin_code)),
                     ==, 40000);
    interp_cpu_free(cpu1);
    ih_free(h);
}

/* ---- self-modifying code ---- */

/* A store rewrites the immediate of the next instruction, in the same
 * block. */
INTERP_TEST_CODE(smc_same, 64,
    "movl $1, %eax\n"
    "movb $0x02, patch1+1(%rip)\n"
    "patch1: movl $0x11111111, %ebx\n"
    "hlt\n");

/* A routine runs (and is cached), is patched, then runs again. */
INTERP_TEST_CODE(smc_other, 64,
    "xor %ecx, %ecx\n xor %esi, %esi\n"
    "1: call target2\n add %eax, %esi\n inc %ecx\n cmp $3, %ecx\n je 2f\n"
    "addb $0x10, target2+1(%rip)\n jmp 1b\n"
    "2: hlt\n"
    "target2: movl $0x01, %eax\n ret\n");

static void test_smc(void)
{
    InterpHarness *h = ih_new();

    ih_load(h, IH_CODE, smc_same, smc_same_end - smc_same);
    ih_mode_long(h, IH_CODE);
    g_assert_cmpint(ih_run(h, 0), ==, INTERP_EXIT_HLT);
    g_assert_cmphex(h->st.regs[R_EBX], ==, 0x11111102);
    /* Again, with the code already patched: the new bytes are seen. */
    g_assert_cmpint(run_at(h, IH_CODE, 0), ==, INTERP_EXIT_HLT);
    g_assert_cmphex(h->st.regs[R_EBX], ==, 0x11111102);

    ih_load(h, IH_CODE + 0x1000, smc_other, smc_other_end - smc_other);
    g_assert_cmpint(run_at(h, IH_CODE + 0x1000, 0), ==, INTERP_EXIT_HLT);
    /* 0x01 + 0x11 + 0x21 */
    g_assert_cmphex(h->st.regs[R_ESI], ==, 0x33);
    ih_free(h);
}

/* An instruction that straddles two pages, whose tail is rewritten. */
INTERP_TEST_CODE(straddle, 64,
    "movabsq $0x1122334455667788, %rax\n hlt\n");
INTERP_TEST_CODE(straddle_patcher, 64,
    "movb $0x99, (%rdx)\n hlt\n");

static void test_straddle(void)
{
    InterpHarness *h = ih_new();
    uint64_t at = IH_CODE + 0x2000 - 4;    /* 10 bytes: 4 + 6 */

    ih_load(h, at, straddle, straddle_end - straddle);
    ih_load(h, IH_CODE, straddle_patcher,
            straddle_patcher_end - straddle_patcher);
    ih_mode_long(h, at);
    g_assert_cmpint(ih_run(h, 0), ==, INTERP_EXIT_HLT);
    g_assert_cmphex(h->st.regs[R_EAX], ==, 0x1122334455667788ULL);
    g_assert_true(interp_page_has_code(h->shared, IH_CODE + 0x2000));

    /* The guest rewrites the most significant byte, in the second page. */
    h->st.regs[R_EDX] = at + 9;
    g_assert_cmpint(run_at(h, IH_CODE, 0), ==, INTERP_EXIT_HLT);
    g_assert_cmpint(run_at(h, at, 0), ==, INTERP_EXIT_HLT);
    g_assert_cmphex(h->st.regs[R_EAX], ==, 0x9922334455667788ULL);
    ih_free(h);
}

/* Writes from outside the CPU (DMA) reported with interp_code_written. */
INTERP_TEST_CODE(dma_a, 64, "movl $0xaaaa, %eax\n hlt\n");
INTERP_TEST_CODE(dma_b, 64, "movl $0xbbbb, %eax\n hlt\n");

static void test_invalidation(void)
{
    InterpHarness *h = ih_new();
    uint64_t at = IH_CODE + 0x3000;

    ih_load(h, at, dma_a, dma_a_end - dma_a);
    ih_mode_long(h, at);
    g_assert_false(interp_page_has_code(h->shared, at));
    g_assert_cmpint(ih_run(h, 0), ==, INTERP_EXIT_HLT);
    g_assert_cmphex(h->st.regs[R_EAX], ==, 0xaaaa);
    g_assert_true(interp_page_has_code(h->shared, at));
    /* A write elsewhere in the page leaves the code alone. */
    interp_code_written(h->cpu, at + 0x800, 4);
    g_assert_true(interp_page_has_code(h->shared, at));

    ih_load(h, at, dma_b, dma_b_end - dma_b);
    interp_code_written(h->cpu, at + 1, 4);
    g_assert_false(interp_page_has_code(h->shared, at));
    g_assert_cmpint(run_at(h, at, 0), ==, INTERP_EXIT_HLT);
    g_assert_cmphex(h->st.regs[R_EAX], ==, 0xbbbb);

    /* The same from a device: a large range that covers the code. */
    ih_load(h, at, dma_a, dma_a_end - dma_a);
    interp_notify_ram_written(h->shared, 0x1000, IH_RAM_SIZE);
    g_assert_false(interp_page_has_code(h->shared, at));
    g_assert_cmpint(run_at(h, at, 0), ==, INTERP_EXIT_HLT);
    g_assert_cmphex(h->st.regs[R_EAX], ==, 0xaaaa);
    /* And a range that does not: the blocks stay. */
    interp_notify_ram_written(h->shared, at + 0x1000, 1ULL << 40);
    interp_notify_ram_written(h->shared, ~0ULL - 5, 100);
    g_assert_true(interp_page_has_code(h->shared, at));

    /* Without a notice, a state load (which flushes the TLB) is enough
     * for the new bytes to be seen. */
    ih_load(h, at, dma_b, dma_b_end - dma_b);
    g_assert_cmpint(run_at(h, at, 0), ==, INTERP_EXIT_HLT);
    g_assert_cmphex(h->st.regs[R_EAX], ==, 0xbbbb);
    ih_free(h);
}

/* Many distinct blocks: the cache flushes itself and stays correct. */
static void test_cache_flush(void)
{
    InterpHarness *h = ih_new();
    static const uint8_t jmp_next[] = { 0xff, 0xc0, 0xeb, 0x00 };
    const unsigned n = BC_MAX_BLOCKS + 100;
    uint64_t base = 0x400000;
    uint8_t hlt = 0xf4;

    /* inc %eax; jmp .+2, repeated: one block per 4 bytes. */
    for (unsigned i = 0; i < n; i++) {
        ih_load(h, base + 4 * i, jmp_next, sizeof(jmp_next));
    }
    ih_load(h, base + 4 * n, &hlt, 1);
    ih_mode_long(h, base);
    h->st.regs[R_EAX] = 0;
    g_assert_cmpint(ih_run(h, 0), ==, INTERP_EXIT_HLT);
    g_assert_cmphex(h->st.regs[R_EAX], ==, n);
    g_assert_cmpuint(interp_bc(h->cpu)->nr_blocks, <=, BC_MAX_BLOCKS);
    ih_free(h);
}

/* ---- speed ---- */

INTERP_TEST_CODE(bench_loop, 64,
    "xor %eax, %eax\n mov $100000000, %ecx\n"
    "1: add $3, %rax\n sub $1, %rcx\n cmp $0, %rcx\n jnz 1b\n"
    "hlt\n");

static void test_speed(void)
{
    InterpHarness *h;
    gint64 t0, t1;
    double mips;

    if (!g_test_perf()) {
        g_test_skip("run with -m perf");
        return;
    }
    h = ih_new();
    ih_load(h, IH_CODE, bench_loop, bench_loop_end - bench_loop);
    ih_mode_long(h, IH_CODE);
    t0 = g_get_monotonic_time();
    g_assert_cmpint(ih_run(h, 0), ==, INTERP_EXIT_HLT);
    t1 = g_get_monotonic_time();
    g_assert_cmphex(h->st.regs[R_EAX], ==, 300000000);
    mips = 400e6 / (double)(t1 - t0);
    g_test_minimized_result(t1 - t0, "400M instructions in %.3f s: "
                            "%.0f MIPS", (t1 - t0) / 1e6, mips);
    g_printerr("interp tight loop: %.0f million instructions/s\n", mips);
    ih_free(h);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/interp/exec/alu-vs-host", test_alu_vs_host);
    g_test_add_func("/interp/exec/mem-vs-host", test_mem_vs_host);
    g_test_add_func("/interp/exec/lock-vs-host", test_lock_vs_host);
    g_test_add_func("/interp/exec/data-vs-host", test_data_vs_host);
    g_test_add_func("/interp/exec/conditions-vs-host",
                    test_conditions_vs_host);
    g_test_add_func("/interp/exec/loops", test_loops);
    g_test_add_func("/interp/exec/calls64", test_calls64);
    g_test_add_func("/interp/exec/calls32", test_calls32);
    g_test_add_func("/interp/exec/real-mode", test_real_mode);
    g_test_add_func("/interp/exec/push-pop64", test_push_pop64);
    g_test_add_func("/interp/exec/memory-paths", test_memory_paths);
    g_test_add_func("/interp/exec/branch-gp", test_branch_gp);
    g_test_add_func("/interp/exec/ud", test_ud);
    g_test_add_func("/interp/exec/insn-budget", test_insn_budget);
    g_test_add_func("/interp/exec/single-step", test_single_step);
    g_test_add_func("/interp/exec/single-step-mov-ss",
                    test_single_step_mov_ss);
    g_test_add_func("/interp/exec/exit-request", test_exit_request);
    g_test_add_func("/interp/exec/irq-exit", test_irq_exit);
    g_test_add_func("/interp/exec/lock-two-cpus", test_lock_two_cpus);
    g_test_add_func("/interp/exec/smc", test_smc);
    g_test_add_func("/interp/exec/cross-modifying", test_cross_modifying);
    g_test_add_func("/interp/exec/spinlock-in-code-page",
                    test_spinlock_in_code_page);
    g_test_add_func("/interp/exec/straddle", test_straddle);
    g_test_add_func("/interp/exec/invalidation", test_invalidation);
    g_test_add_func("/interp/exec/cache-flush", test_cache_flush);
    g_test_add_func("/interp/exec/speed", test_speed);
    return g_test_run();
}
