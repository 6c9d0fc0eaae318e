/*
 * strings-smc: string instructions and self-modifying code in long mode.
 *
 * Strings: REP MOVS/STOS of every size, forwards and backwards (DF=1,
 * overlapping), with RCX = 0; REPE CMPS and REPNE SCAS stopping where they
 * should, with their registers and flags; REP LODS; the 32-bit address
 * size (ECX/ESI/EDI, upper halves cleared); REP OUTSB to COM1 and REP
 * INSB from the CMOS; a REP MOVSB that runs into a not-present page
 * (#PF with RCX/RSI/RDI at the faulting byte, the bytes before it
 * copied).
 *
 * Self-modifying code: a patched immediate in code that has run before;
 * an instruction that rewrites the next one; code written through a
 * second mapping of its page; code copied with REP MOVSB over code that
 * ran, alternating, with data writes to the same page in between.
 */
#include "guest.h"

#define PTE_P   0x001ull
#define PTE_RW  0x002ull

#define RFLAGS_CF 0x001ull
#define RFLAGS_ZF 0x040ull

/* A 2 MiB slot of the identity map at 1 GiB, remapped with 4 KiB pages. */
#define WIN          0x40000000ull
#define WIN_BUF      (WIN + 0x0000)     /* -> buf_page, RW */
#define WIN_ABSENT   (WIN + 0x1000)     /* not present */
#define WIN_ALIAS    (WIN + 0x2000)     /* -> smc_alias_page, RW */

extern uint64_t boot_pml4[];
uint32_t smc_imm(void), smc_next(void), smc_alias(void);
extern uint8_t smc_next_imm[], smc_alias_page[];
extern const uint8_t tmpl_a[], tmpl_b[], tmpl_end[];

static uint64_t win_pt[512] __attribute__((aligned(4096)));
static uint8_t buf_page[4096] __attribute__((aligned(4096)));
static uint8_t src[512] __attribute__((aligned(16)));
static uint8_t dst[512] __attribute__((aligned(16)));
static uint8_t code_buf[4096] __attribute__((aligned(4096)));

struct str_regs {
    uint64_t rcx, rsi, rdi, rax, flags;
};

static struct str_regs regs(uint64_t rcx, uint64_t rsi, uint64_t rdi,
                            uint64_t rax)
{
    return (struct str_regs){ .rcx = rcx, .rsi = rsi, .rdi = rdi,
                              .rax = rax };
}

/* ---- REP MOVS / STOS ---- */

#define DEFINE_REP(name, insn)                                          \
    static void name(struct str_regs *r)                               \
    {                                                                   \
        __asm__ volatile(insn "; pushfq; pop %4"                        \
                         : "+c"(r->rcx), "+S"(r->rsi), "+D"(r->rdi),    \
                           "+a"(r->rax), "=r"(r->flags)                 \
                         : : "memory", "cc");                           \
    }
DEFINE_REP(rep_movsb, "rep movsb")
DEFINE_REP(rep_movsw, "rep movsw")
DEFINE_REP(rep_movsd, "rep movsl")
DEFINE_REP(rep_movsq, "rep movsq")
DEFINE_REP(rep_stosb, "rep stosb")
DEFINE_REP(rep_stosq, "rep stosq")
DEFINE_REP(rep_movsb_back, "std; rep movsb; cld")
DEFINE_REP(rep_movsq_back, "std; rep movsq; cld")
DEFINE_REP(repe_cmpsb, "repe cmpsb")
DEFINE_REP(repne_scasb, "repne scasb")
DEFINE_REP(repne_scasw_back, "std; repne scasw; cld")
DEFINE_REP(rep_lodsb, "rep lodsb")
DEFINE_REP(rep_movsb_a32, "addr32 rep movsb")

static void fill_src(void)
{
    for (unsigned i = 0; i < sizeof(src); i++) {
        src[i] = (uint8_t)(i * 7 + 3);
    }
}

static void test_movs_stos(void)
{
    static void (*const movs[4])(struct str_regs *) = {
        rep_movsb, rep_movsw, rep_movsd, rep_movsq,
    };
    struct str_regs r;

    fill_src();
    for (unsigned sz = 0; sz < 4; sz++) {
        unsigned n = 37, bytes = n << sz;
        memset(dst, 0, sizeof(dst));
        r = regs(n, (uintptr_t)src + 8, (uintptr_t)dst + 16, 0);
        movs[sz](&r);
        CHECK(r.rcx == 0 && r.rsi == (uintptr_t)src + 8 + bytes &&
              r.rdi == (uintptr_t)dst + 16 + bytes,
              "REP MOVS size %u: RCX %lu RSI +%ld RDI +%ld", 1u << sz,
              (unsigned long)r.rcx, (long)(r.rsi - (uintptr_t)src - 8),
              (long)(r.rdi - (uintptr_t)dst - 16));
        CHECK(!memcmp(dst + 16, src + 8, bytes) && dst[15] == 0 &&
              dst[16 + bytes] == 0, "REP MOVS size %u copied wrong bytes",
              1u << sz);
    }

    /* RCX = 0: nothing moves, nothing changes. */
    r = regs(0, (uintptr_t)src, (uintptr_t)dst, 0);
    dst[0] = 0x77;
    rep_movsq(&r);
    CHECK(r.rcx == 0 && r.rsi == (uintptr_t)src && r.rdi == (uintptr_t)dst &&
          dst[0] == 0x77, "REP MOVSQ with RCX = 0 did something");

    /* DF = 1, overlapping: move src[0..99] up by 3 bytes, from the end. */
    fill_src();
    r = regs(100, (uintptr_t)src + 99, (uintptr_t)src + 102, 0);
    rep_movsb_back(&r);
    CHECK(r.rcx == 0 && r.rsi == (uintptr_t)src - 1 &&
          r.rdi == (uintptr_t)src + 2, "backward REP MOVSB registers");
    for (unsigned i = 0; i < 100; i++) {
        CHECK(src[i + 3] == (uint8_t)(i * 7 + 3),
              "backward overlapping REP MOVSB: byte %u is 0x%x", i + 3,
              src[i + 3]);
    }
    fill_src();
    memset(dst, 0, sizeof(dst));
    r = regs(4, (uintptr_t)src + 24, (uintptr_t)dst + 24, 0);
    rep_movsq_back(&r);
    CHECK(r.rsi == (uintptr_t)src - 8 && r.rdi == (uintptr_t)dst - 8 &&
          !memcmp(dst, src, 32), "backward REP MOVSQ");

    memset(dst, 0, sizeof(dst));
    r = regs(13, 0, (uintptr_t)dst + 1, 0xab);
    rep_stosb(&r);
    CHECK(r.rcx == 0 && r.rdi == (uintptr_t)dst + 14 && dst[0] == 0 &&
          dst[1] == 0xab && dst[13] == 0xab && dst[14] == 0, "REP STOSB");
    r = regs(5, 0, (uintptr_t)dst + 64, 0x0123456789abcdefull);
    rep_stosq(&r);
    CHECK(r.rdi == (uintptr_t)dst + 104 &&
          ((uint64_t *)dst)[8] == 0x0123456789abcdefull &&
          ((uint64_t *)dst)[12] == 0x0123456789abcdefull &&
          ((uint64_t *)dst)[13] == 0, "REP STOSQ");
    printf("REP MOVS (1/2/4/8 bytes, forwards, backwards overlapping, "
           "RCX=0) and REP STOS ok\n");
}

static void test_cmps_scas_lods(void)
{
    struct str_regs r;

    memcpy(dst, src, 64);
    dst[40] ^= 0x80;                /* first difference at 40 */
    r = regs(64, (uintptr_t)src, (uintptr_t)dst, 0);
    repe_cmpsb(&r);
    CHECK(r.rcx == 64 - 41 && r.rsi == (uintptr_t)src + 41 &&
          r.rdi == (uintptr_t)dst + 41 && !(r.flags & RFLAGS_ZF),
          "REPE CMPSB: RCX %lu RSI +%ld ZF %d, expected 23 +41 0",
          (unsigned long)r.rcx, (long)(r.rsi - (uintptr_t)src),
          !!(r.flags & RFLAGS_ZF));
    /* CF from src[40] - dst[40] */
    CHECK(!!(r.flags & RFLAGS_CF) == (src[40] < dst[40]), "REPE CMPSB CF");
    r = regs(40, (uintptr_t)src, (uintptr_t)dst, 0);
    repe_cmpsb(&r);
    CHECK(r.rcx == 0 && (r.flags & RFLAGS_ZF), "REPE CMPSB over equal bytes");

    static const char text[] = "find the x in this text";
    r = regs(sizeof(text), 0, (uintptr_t)text, 'x');
    repne_scasb(&r);
    CHECK((r.flags & RFLAGS_ZF) && r.rdi == (uintptr_t)text + 10 &&
          r.rcx == sizeof(text) - 10, "REPNE SCASB found 'x' at %ld, RCX %lu",
          (long)(r.rdi - (uintptr_t)text - 1), (unsigned long)r.rcx);
    r = regs(8, 0, (uintptr_t)text, 'z');
    repne_scasb(&r);
    CHECK(!(r.flags & RFLAGS_ZF) && r.rcx == 0, "REPNE SCASB without a match");

    static const uint16_t words[6] = { 1, 0x55, 3, 4, 5, 6 };
    r = regs(6, 0, (uintptr_t)&words[5], 0x55);
    repne_scasw_back(&r);
    CHECK((r.flags & RFLAGS_ZF) && r.rdi == (uintptr_t)&words[0] &&
          r.rcx == 1, "backward REPNE SCASW: RDI at word %ld, RCX %lu",
          (long)((r.rdi - (uintptr_t)words) / 2), (unsigned long)r.rcx);

    r = regs(5, (uintptr_t)text, 0, 0);
    rep_lodsb(&r);
    CHECK((uint8_t)r.rax == ' ' && r.rsi == (uintptr_t)text + 5,
          "REP LODSB: AL 0x%x", (unsigned)(uint8_t)r.rax);
    printf("REPE CMPSB, REPNE SCASB/SCASW (forwards, backwards) stop at the "
           "right element; REP LODSB ok\n");

    /* 32-bit address size: ESI/EDI/ECX, written back zero-extended. */
    fill_src();
    memset(dst, 0, sizeof(dst));
    r = regs((1ull << 40) | 9, (1ull << 41) | (uintptr_t)src,
             (1ull << 42) | (uintptr_t)dst, 0);
    rep_movsb_a32(&r);
    CHECK(r.rcx == 0 && r.rsi == (uintptr_t)src + 9 &&
          r.rdi == (uintptr_t)dst + 9 && !memcmp(dst, src, 9) && dst[9] == 0,
          "ADDR32 REP MOVSB: RCX 0x%lx RSI 0x%lx RDI 0x%lx",
          (unsigned long)r.rcx, (unsigned long)r.rsi, (unsigned long)r.rdi);
    printf("address-size prefix: REP MOVSB with ECX/ESI/EDI, upper halves "
           "cleared ok\n");
}

static void test_port_strings(void)
{
    static const char line[] = "REP OUTSB: this line went to COM1 with one "
                               "instruction\r\n";
    const char *s = line;
    uint64_t len = sizeof(line) - 1;
    uint8_t bytes[4] = { 0 };

    serial_flush();
    __asm__ volatile("rep outsb"
                     : "+S"(s), "+c"(len) : "d"(COM1_BASE) : "memory");
    serial_flush();
    CHECK(len == 0 && s == line + sizeof(line) - 1, "REP OUTSB registers");

    /* CMOS 0x30: extended memory in KiB, low byte; stable. */
    outb(0x70, 0x30);
    uint8_t one = inb(0x71);
    void *p = bytes;
    uint64_t n = 4;
    __asm__ volatile("rep insb" : "+D"(p), "+c"(n) : "d"(0x71) : "memory");
    CHECK(n == 0 && p == bytes + 4 && bytes[0] == one && bytes[3] == one,
          "REP INSB from CMOS 0x30: %02x %02x %02x %02x, IN gave %02x",
          bytes[0], bytes[1], bytes[2], bytes[3], one);
    printf("REP INSB: four reads of the same CMOS register ok\n");
}

/* ---- a REP MOVSB into a not-present page ---- */

static void map_window(void)
{
    uint64_t *pdpt = (uint64_t *)(uintptr_t)(boot_pml4[0] & ~0xfffull);
    uint64_t *pd = (uint64_t *)(uintptr_t)(pdpt[WIN >> 30] & ~0xfffull);

    win_pt[WIN_BUF >> 12 & 511] = (uintptr_t)buf_page | PTE_P | PTE_RW;
    win_pt[WIN_ABSENT >> 12 & 511] = 0;
    win_pt[WIN_ALIAS >> 12 & 511] = (uintptr_t)smc_alias_page | PTE_P |
                                    PTE_RW;
    pd[WIN >> 21 & 511] = (uintptr_t)win_pt | PTE_P | PTE_RW;
    write_cr3(read_cr3());
}

static struct str_regs fault_regs;

static void movsb_into_absent(void *unused)
{
    (void)unused;
    fault_regs = regs(100, (uintptr_t)src, WIN_ABSENT - 40, 0);
    __asm__ volatile("rep movsb"
                     : "+c"(fault_regs.rcx), "+S"(fault_regs.rsi),
                       "+D"(fault_regs.rdi)
                     : : "memory");
}

/* The #PF handler saves the string registers of the faulting REP MOVSB,
 * which catch_fault does not keep. */
static void pf_save_regs(struct int_frame *f)
{
    fault_regs.rcx = f->rcx;
    fault_regs.rsi = f->rsi;
    fault_regs.rdi = f->rdi;
    fault_regs.rax = read_cr2();
    idt_set_handler(14, NULL);
    /* Skip the instruction: it is "rep movsb" (f3 a4). */
    f->ip += 2;
}

static void test_rep_fault(void)
{
    uint8_t *buf = buf_page;

    fill_src();
    memset(buf_page, 0, sizeof(buf_page));
    idt_set_handler(14, pf_save_regs);
    movsb_into_absent(NULL);
    CHECK(fault_regs.rax == WIN_ABSENT, "#PF CR2 0x%lx, expected 0x%lx",
          (unsigned long)fault_regs.rax, (unsigned long)WIN_ABSENT);
    CHECK(fault_regs.rcx == 60 && fault_regs.rsi == (uintptr_t)src + 40 &&
          fault_regs.rdi == WIN_ABSENT,
          "REP MOVSB faulted with RCX %lu RSI src+%ld RDI 0x%lx, expected "
          "60, src+40, 0x%lx", (unsigned long)fault_regs.rcx,
          (long)(fault_regs.rsi - (uintptr_t)src),
          (unsigned long)fault_regs.rdi, (unsigned long)WIN_ABSENT);
    CHECK(!memcmp(buf + 4096 - 40, src, 40) && buf[4096 - 41] == 0,
          "REP MOVSB did not copy the 40 bytes before the fault");
    printf("REP MOVSB into a not-present page: #PF at the page, RCX/RSI/RDI "
           "at the faulting byte, earlier bytes copied ok\n");
}

/* ---- self-modifying code ---- */

static uint32_t call_buf(void)
{
    return ((uint32_t (*)(void))(uintptr_t)code_buf)();
}

static void test_smc(void)
{
    volatile uint32_t *imm = (volatile uint32_t *)((uintptr_t)smc_imm + 1);

    for (uint32_t i = 0; i < 50; i++) {
        CHECK(smc_imm() == 0x11111111 + i, "patched immediate: round %u "
              "returned 0x%x", i, smc_imm());
        CHECK(smc_imm() == 0x11111111 + i, "patched immediate, again");
        *imm = 0x11111111 + i + 1;
    }
    printf("patched immediate in code that ran before: new value each "
           "time ok\n");

    for (unsigned i = 0; i < 50; i++) {
        *(volatile uint8_t *)smc_next_imm = (uint8_t)i;
        uint32_t v = smc_next();
        CHECK(v == 0x42, "instruction rewriting the next one: round %u "
              "returned 0x%x", i, v);
    }
    printf("an instruction that rewrites the next one: the new one runs "
           "ok\n");

    volatile uint32_t *alias_imm = (volatile uint32_t *)(WIN_ALIAS + 1);
    CHECK(smc_alias() == 0x33333333 && *alias_imm == 0x33333333,
          "code page alias");
    for (uint32_t i = 1; i <= 20; i++) {
        *alias_imm = 0x33333333 + i;
        CHECK(smc_alias() == 0x33333333 + i, "code written through a second "
              "mapping: round %u returned 0x%x", i, smc_alias());
    }
    printf("code written through a second mapping of its page ok\n");

    size_t len = (size_t)(tmpl_b - tmpl_a);
    CHECK(len == (size_t)(tmpl_end - tmpl_b), "templates differ in size");
    volatile uint32_t *counter = (volatile uint32_t *)(code_buf + 2048);
    for (unsigned i = 0; i < 100; i++) {
        struct str_regs r = regs(len, (uintptr_t)(i & 1 ? tmpl_b : tmpl_a),
                                 (uintptr_t)code_buf, 0);
        rep_movsb(&r);
        *counter = i;               /* a data write to the same page */
        uint32_t v = call_buf();
        CHECK(v == (i & 1 ? 0xbbbbu : 0xaaaau), "code copied with REP "
              "MOVSB: round %u returned 0x%x", i, v);
        CHECK(call_buf() == v && *counter == i, "second call");
    }
    printf("code copied over code with REP MOVSB, data written beside it: "
           "the new code runs ok\n");
}

int guest_main(struct multiboot_info *mbi)
{
    (void)mbi;
    printf("strings-smc: string instructions and self-modifying code\n");
    test_movs_stos();
    test_cmps_scas_lods();
    test_port_strings();
    map_window();
    test_smc();
    test_rep_fault();
    return 0;
}
