/*
 * exceptions: 32-bit protected mode, no paging. Every exception an
 * instruction can raise at CPL 0 without paging, with its vector, error
 * code and saved EIP (the faulting instruction for a fault, the next one
 * for a trap): #DE, #UD, #GP, #NP and #SS with selector error codes and
 * which check comes first, #DF from an exception whose gate is not
 * present; then (not on hypervisors that emulate 32-bit mode, see
 * emulated32.h) #BP, #OF, #BR, INT n beyond the IDT limit or through a
 * not-present gate, and the BCD instructions (DAA, DAS, AAA, AAS, AAM,
 * AAD) over their inputs against the SDM's pseudo-code.
 *
 * Segment limit and read-only checks on data accesses are not here: QEMU's
 * TCG, the reference the expected output is checked against, does not
 * make them.
 */
#include "guest.h"
#include "emulated32.h"

/* Descriptors added after the library's GDT entries. */
#define SEL_DATA_NP     0x60    /* writable data, not present */
#define SEL_CODE_XO     0x68    /* execute-only code */
#define SEL_DATA_RO     0x70    /* read-only data */
#define SEL_CODE_XO_NP  0x78    /* execute-only code, not present */
#define SEL_CODE_NP     0x80    /* readable code, not present */
#define GDT_ENTRIES     17

#define ERR_IDT 0x2             /* error code: the selector is an IDT vector */
#define ERR_EXT 0x1             /* error code: raised while delivering */

#define FL_CF 0x001u
#define FL_PF 0x004u
#define FL_AF 0x010u
#define FL_ZF 0x040u
#define FL_SF 0x080u

/* exceptions-asm.S */
#define ASM_FN(name) void name(void *arg); extern const char name##_insn[]
ASM_FN(de_div_zero);
ASM_FN(de_div_overflow);
ASM_FN(de_idiv_overflow);
ASM_FN(de_aam_zero);
ASM_FN(ud_ud2);
ASM_FN(ud_lock_reg);
ASM_FN(br_bound);
void bp_int3(void *arg);
void of_into_set(void *arg);
void of_into_clear(void *arg);
extern const char bp_int3_next[], of_into_set_next[];

struct table_desc {
    uint16_t limit;
    uint32_t base;
} __attribute__((packed));

extern uint64_t gdt[];
static uint64_t big_gdt[GDT_ENTRIES] __attribute__((aligned(16)));

/* Flat descriptors (base 0): access byte, flags nibble and a limit. */
static uint64_t descriptor(unsigned access, unsigned flags, uint32_t limit)
{
    return (limit & 0xffffull) | ((uint64_t)access << 40) |
           ((uint64_t)((limit >> 16) & 0xf) << 48) | ((uint64_t)flags << 52);
}

/* The library's GDT plus the descriptors above. */
static void load_big_gdt(void)
{
    struct table_desc d = { sizeof(big_gdt) - 1, (uintptr_t)big_gdt };

    memcpy(big_gdt, gdt, SEL_DATA_NP);
    big_gdt[SEL_DATA_NP / 8] = descriptor(0x12, 0xc, 0xfffff);
    big_gdt[SEL_CODE_XO / 8] = descriptor(0x98, 0xc, 0xfffff);
    big_gdt[SEL_DATA_RO / 8] = descriptor(0x90, 0xc, 0xfffff);
    big_gdt[SEL_CODE_XO_NP / 8] = descriptor(0x18, 0xc, 0xfffff);
    big_gdt[SEL_CODE_NP / 8] = descriptor(0x1a, 0xc, 0xfffff);
    __asm__ volatile("lgdt %0" : : "m"(d) : "memory");
    /* At reset the LDTR cache holds base 0, limit 0xffff, which LDT
     * selectors would use; a null LDTR makes them fault. */
    __asm__ volatile("lldt %w0" : : "r"(0) : "memory");
}

/* Runs @fn and checks that it raised @vector with @error at @ip (the
 * instruction for a fault, the next one for a trap). */
static void expect(void (*fn)(void *), void *arg, unsigned vector,
                   uint32_t error, const void *ip, const char *what)
{
    struct fault_info fi;
    int v = catch_fault(fn, arg, &fi);

    CHECK(v == (int)vector, "%s: vector %d, expected %u", what, v, vector);
    CHECK(fi.error == error, "%s: error code 0x%lx, expected 0x%x", what,
          (unsigned long)fi.error, error);
    CHECK(!ip || fi.ip == (uintptr_t)ip, "%s: saved EIP 0x%lx, expected %p",
          what, (unsigned long)fi.ip, ip);
    CHECK(fi.cs == SEL_KCODE32, "%s: saved CS 0x%x", what, fi.cs);
}

static void expect_none(void (*fn)(void *), void *arg, const char *what)
{
    struct fault_info fi;
    int v = catch_fault(fn, arg, &fi);

    CHECK(v == -1, "%s: vector %d error 0x%lx at 0x%lx", what, v,
          (unsigned long)fi.error, (unsigned long)fi.ip);
}

static void test_faults(void)
{
    expect(de_div_zero, NULL, 0, 0, de_div_zero_insn, "DIV by zero");
    expect(de_div_overflow, NULL, 0, 0, de_div_overflow_insn,
           "DIV quotient overflow");
    expect(de_idiv_overflow, NULL, 0, 0, de_idiv_overflow_insn,
           "IDIV -2^31 / -1");
    expect(de_aam_zero, NULL, 0, 0, de_aam_zero_insn, "AAM 0");
    printf("#DE: DIV by zero, DIV and IDIV overflow, AAM 0 (EIP at the "
           "instruction) ok\n");

    expect(ud_ud2, NULL, 6, 0, ud_ud2_insn, "UD2");
    expect(ud_lock_reg, NULL, 6, 0, ud_lock_reg_insn, "LOCK ADD reg, reg");
    printf("#UD: UD2 and LOCK without a memory operand ok\n");
}

static void test_traps(void)
{
    expect(bp_int3, NULL, 3, 0, bp_int3_next, "INT3");
    printf("#BP: INT3 traps with EIP after it ok\n");

    expect(of_into_set, NULL, 4, 0, of_into_set_next, "INTO with OF=1");
    expect_none(of_into_clear, NULL, "INTO with OF=0");
    printf("#OF: INTO traps when OF=1 (EIP after it), not when OF=0 ok\n");

    expect(br_bound, (void *)21, 5, 0, br_bound_insn, "BOUND 21 in [10,20]");
    expect(br_bound, (void *)9, 5, 0, br_bound_insn, "BOUND 9 in [10,20]");
    expect_none(br_bound, (void *)20, "BOUND 20 in [10,20]");
    expect_none(br_bound, (void *)10, "BOUND 10 in [10,20]");
    printf("#BR: BOUND outside [10,20] faults, inside does not ok\n");
}

/* ---- segment loads ---- */

static void load_ds(void *sel)
{
    __asm__ volatile("mov %0, %%ds" : : "r"((uint32_t)(uintptr_t)sel));
}

static void load_ss(void *sel)
{
    __asm__ volatile("mov %0, %%ss" : : "r"((uint32_t)(uintptr_t)sel));
}

static void far_jump_np(void *unused)
{
    (void)unused;
    __asm__ volatile("ljmp %0, $0" : : "i"(SEL_CODE_NP));
}

static void far_jump_data(void *unused)
{
    (void)unused;
    __asm__ volatile("ljmp %0, $0" : : "i"(SEL_KDATA));
}

static void restore_segments(void)
{
    __asm__ volatile("mov %0, %%ds; mov %0, %%es; mov %0, %%ss"
                     : : "r"((uint32_t)SEL_KDATA) : "memory");
}

static void test_segments(void)
{
    load_big_gdt();

    expect(load_ds, (void *)0x1fb, 13, 0x1f8, NULL,
           "DS = 0x1fb, beyond the GDT limit");
    expect(load_ds, (void *)0x0f, 13, 0x0c, NULL,
           "DS = 0x0f, an LDT selector with no LDT");
    expect(load_ds, (void *)SEL_CODE_XO, 13, SEL_CODE_XO, NULL,
           "DS = execute-only code");
    expect(load_ss, (void *)0, 13, 0, NULL, "SS = null");
    expect(load_ss, (void *)SEL_DATA_RO, 13, SEL_DATA_RO, NULL,
           "SS = read-only data");
    expect(far_jump_data, NULL, 13, SEL_KDATA, NULL,
           "far JMP to a data segment");
    restore_segments();
    printf("#GP(selector): beyond the GDT, LDT selector without LDT (RPL "
           "bits not in the code), wrong type for DS/SS/CS ok\n");

    expect(load_ds, (void *)SEL_DATA_NP, 11, SEL_DATA_NP, NULL,
           "DS = not-present data");
    expect(far_jump_np, NULL, 11, SEL_CODE_NP, NULL,
           "far JMP to a not-present code segment");
    /* An execute-only, not-present segment fails the type check first. */
    expect(load_ds, (void *)SEL_CODE_XO_NP, 13, SEL_CODE_XO_NP, NULL,
           "DS = not-present execute-only code");
    restore_segments();
    printf("#NP(selector): DS and CS not present; the type check comes "
           "before the present bit ok\n");

    expect(load_ss, (void *)SEL_DATA_NP, 12, SEL_DATA_NP, NULL,
           "SS = not-present data");
    printf("#SS: SS = not-present data, error code 0x%x ok\n", SEL_DATA_NP);
}

/* ---- IDT ---- */

struct idt_gate32 {
    uint16_t offset_lo, selector;
    uint8_t zero, type;
    uint16_t offset_hi;
} __attribute__((packed));

static struct idt_gate32 *idt_base(void)
{
    struct table_desc d;
    __asm__ volatile("sidt %0" : "=m"(d));
    return (struct idt_gate32 *)(uintptr_t)d.base;
}

static void int_0x51(void *unused)
{
    (void)unused;
    __asm__ volatile("int $0x51");
}

static void int_0x50_short_idt(void *unused)
{
    /* The same IDT with room for vectors 0..0x3f only. */
    struct table_desc d = { 0x40 * 8 - 1, (uintptr_t)idt_base() };

    (void)unused;
    __asm__ volatile("lidt %0; int $0x50" : : "m"(d));
}

static void test_double_fault(void)
{
    struct idt_gate32 *idt = idt_base();

    /* #GP whose gate is not present: delivering it raises #NP, and two
     * contributory exceptions make a double fault (error code 0). */
    idt[13].type &= 0x7f;
    expect(load_ds, (void *)0x1f8, 8, 0, NULL,
           "#GP with a not-present #GP gate");
    idt[13].type |= 0x80;
    printf("#DF: #GP through a not-present gate became a double fault, "
           "error code 0 ok\n");
}

static void test_idt(void)
{
    struct idt_gate32 *idt = idt_base();

    expect(int_0x50_short_idt, NULL, 13, (0x50 << 3) | ERR_IDT, NULL,
           "INT 0x50 beyond the IDT limit");
    idt_load();
    printf("#GP: INT 0x50 beyond the IDT limit, error code 0x%x ok\n",
           (0x50 << 3) | ERR_IDT);

    idt[0x51].type &= 0x7f;
    expect(int_0x51, NULL, 11, (0x51 << 3) | ERR_IDT, NULL,
           "INT 0x51 through a not-present gate");
    idt[0x51].type |= 0x80;
    printf("#NP: INT 0x51 through a not-present gate, error code 0x%x ok\n",
           (0x51 << 3) | ERR_IDT);

    /* The same with a trap-class exception first: #BP, then #NP for its
     * gate, is not a double fault. */
    idt[3].type &= 0x7f;
    expect(bp_int3, NULL, 11, (3 << 3) | ERR_IDT, NULL,
           "INT3 with a not-present #BP gate");
    idt[3].type |= 0x80;
    printf("#NP: INT3 through a not-present gate is no double fault, "
           "error code 0x%x ok\n", (3 << 3) | ERR_IDT);
}

/* ---- BCD ---- */

/* Runs one BCD instruction with AX = @ax and the arithmetic flags
 * @flags; returns AX and stores the flags after it. */
#define DEFINE_BCD_RUNNER(name, insn)                                   \
    static uint32_t run_##name(uint32_t ax, uint32_t flags,             \
                               uint32_t *flags_out)                     \
    {                                                                   \
        uint32_t f = flags | 0x2;                                       \
        __asm__ volatile("push %1; popf; " insn "; pushf; pop %1"       \
                         : "+a"(ax), "+r"(f) : : "cc");                 \
        *flags_out = f;                                                 \
        return ax & 0xffff;                                             \
    }
DEFINE_BCD_RUNNER(daa, "daa")
DEFINE_BCD_RUNNER(das, "das")
DEFINE_BCD_RUNNER(aaa, "aaa")
DEFINE_BCD_RUNNER(aas, "aas")
DEFINE_BCD_RUNNER(aam10, "aam")
DEFINE_BCD_RUNNER(aam16, "aam $16")
DEFINE_BCD_RUNNER(aad10, "aad")
DEFINE_BCD_RUNNER(aad7, "aad $7")

static uint32_t szp(uint8_t v)
{
    uint32_t f = v ? 0 : FL_ZF;
    if (v & 0x80) {
        f |= FL_SF;
    }
    if (!(__builtin_popcount(v) & 1)) {
        f |= FL_PF;
    }
    return f;
}

/* The SDM's pseudo-code; returns AX, *flags gets the defined flags. */
static uint32_t model_daa(uint32_t ax, uint32_t fin, uint32_t *flags)
{
    uint8_t al = (uint8_t)ax, old_al = al;
    uint32_t f = 0;

    if ((al & 0xf) > 9 || (fin & FL_AF)) {
        al += 6;
        f |= FL_AF;
    }
    if (old_al > 0x99 || (fin & FL_CF)) {
        al += 0x60;
        f |= FL_CF;
    }
    *flags = f | szp(al);
    return (ax & 0xff00) | al;
}

static uint32_t model_das(uint32_t ax, uint32_t fin, uint32_t *flags)
{
    uint8_t al = (uint8_t)ax, old_al = al;
    uint32_t f = 0;

    if ((al & 0xf) > 9 || (fin & FL_AF)) {
        if (al < 6 || (fin & FL_CF)) {
            f |= FL_CF;
        }
        al -= 6;
        f |= FL_AF;
    }
    if (old_al > 0x99 || (fin & FL_CF)) {
        al -= 0x60;
        f |= FL_CF;
    }
    *flags = f | szp(al);
    return (ax & 0xff00) | al;
}

static uint32_t model_aaa(uint32_t ax, uint32_t fin, uint32_t *flags)
{
    if ((ax & 0xf) > 9 || (fin & FL_AF)) {
        ax += 0x106;
        *flags = FL_AF | FL_CF;
    } else {
        *flags = 0;
    }
    return ax & 0xff0f;
}

static uint32_t model_aas(uint32_t ax, uint32_t fin, uint32_t *flags)
{
    if ((ax & 0xf) > 9 || (fin & FL_AF)) {
        ax = (ax - 6) & 0xffff;
        ax -= 0x100;
        *flags = FL_AF | FL_CF;
    } else {
        *flags = 0;
    }
    return ax & 0xff0f;
}

static uint32_t model_aam(uint32_t ax, unsigned base, uint32_t *flags)
{
    uint8_t al = (uint8_t)ax;
    uint8_t q = (uint8_t)(al / base), r = (uint8_t)(al % base);
    *flags = szp(r);
    return ((uint32_t)q << 8) | r;
}

static uint32_t model_aad(uint32_t ax, unsigned base, uint32_t *flags)
{
    uint8_t al = (uint8_t)((ax & 0xff) + ((ax >> 8) & 0xff) * base);
    *flags = szp(al);
    return al;
}

/*
 * AAA and AAS: old CPUs (and some emulators) add 6 to AL and 1 to AH where
 * the SDM adds 0x106 to AX, and subtract 6 from AL where it subtracts 6
 * from AX; the results differ only when that carries or borrows across AL,
 * so those inputs (AL >= 0xfa for AAA, AL < 6 with AF for AAS) are left
 * out. Undefined flags are masked.
 */
static void test_bcd(void)
{
    static const uint32_t fins[4] = { 0, FL_CF, FL_AF, FL_CF | FL_AF };
    const uint32_t mask_daa = FL_CF | FL_AF | FL_SF | FL_ZF | FL_PF;
    const uint32_t mask_aaa = FL_CF | FL_AF;
    const uint32_t mask_aam = FL_SF | FL_ZF | FL_PF;
    unsigned n = 0;

    for (uint32_t ah = 0; ah < 256; ah += 0x35) {
        for (uint32_t al = 0; al < 256; al++) {
            uint32_t ax = (ah << 8) | al;
            for (unsigned i = 0; i < 4; i++) {
                uint32_t fin = fins[i], got, want, fgot, fwant;

                got = run_daa(ax, fin, &fgot);
                want = model_daa(ax, fin, &fwant);
                CHECK(got == want && (fgot & mask_daa) == fwant,
                      "DAA AX=0x%04x CF=%u AF=%u: AX 0x%04x flags 0x%x, "
                      "expected 0x%04x 0x%x", ax, fin & 1, !!(fin & FL_AF),
                      got, fgot & mask_daa, want, fwant);
                got = run_das(ax, fin, &fgot);
                want = model_das(ax, fin, &fwant);
                CHECK(got == want && (fgot & mask_daa) == fwant,
                      "DAS AX=0x%04x CF=%u AF=%u: AX 0x%04x flags 0x%x, "
                      "expected 0x%04x 0x%x", ax, fin & 1, !!(fin & FL_AF),
                      got, fgot & mask_daa, want, fwant);
                if (al < 0xfa) {
                    got = run_aaa(ax, fin, &fgot);
                    want = model_aaa(ax, fin, &fwant);
                    CHECK(got == want && (fgot & mask_aaa) == fwant,
                          "AAA AX=0x%04x AF=%u: AX 0x%04x flags 0x%x, "
                          "expected 0x%04x 0x%x", ax, !!(fin & FL_AF), got,
                          fgot & mask_aaa, want, fwant);
                }
                if (al >= 6) {
                    got = run_aas(ax, fin, &fgot);
                    want = model_aas(ax, fin, &fwant);
                    CHECK(got == want && (fgot & mask_aaa) == fwant,
                          "AAS AX=0x%04x AF=%u: AX 0x%04x flags 0x%x, "
                          "expected 0x%04x 0x%x", ax, !!(fin & FL_AF), got,
                          fgot & mask_aaa, want, fwant);
                }
                n++;
            }
        }
    }
    printf("BCD: DAA, DAS, AAA, AAS over %u inputs and flag states ok\n", n);

    n = 0;
    for (uint32_t ax = 0; ax < 0x10000; ax += 0x11) {
        uint32_t got, want, fgot, fwant;

        got = run_aam10(ax, 0, &fgot);
        want = model_aam(ax, 10, &fwant);
        CHECK(got == want && (fgot & mask_aam) == fwant,
              "AAM AX=0x%04x: 0x%04x flags 0x%x, expected 0x%04x 0x%x", ax,
              got, fgot & mask_aam, want, fwant);
        got = run_aam16(ax, 0, &fgot);
        want = model_aam(ax, 16, &fwant);
        CHECK(got == want && (fgot & mask_aam) == fwant,
              "AAM 16 AX=0x%04x: 0x%04x flags 0x%x, expected 0x%04x 0x%x",
              ax, got, fgot & mask_aam, want, fwant);
        got = run_aad10(ax, 0, &fgot);
        want = model_aad(ax, 10, &fwant);
        CHECK(got == want && (fgot & mask_aam) == fwant,
              "AAD AX=0x%04x: 0x%04x flags 0x%x, expected 0x%04x 0x%x", ax,
              got, fgot & mask_aam, want, fwant);
        got = run_aad7(ax, 0, &fgot);
        want = model_aad(ax, 7, &fwant);
        CHECK(got == want && (fgot & mask_aam) == fwant,
              "AAD 7 AX=0x%04x: 0x%04x flags 0x%x, expected 0x%04x 0x%x",
              ax, got, fgot & mask_aam, want, fwant);
        n++;
    }
    printf("BCD: AAM and AAD (bases 10, 16, 7) over %u inputs ok\n", n);
}

int guest_main(struct multiboot_info *mbi)
{
    (void)mbi;
    printf("exceptions: 32-bit protected mode, CPL 0, no paging\n");
    test_faults();
    test_segments();
    test_double_fault();
    skip_if_emulated32("INT n, INT3, INTO, BOUND or BCD instructions");
    test_traps();
    test_idt();
    test_bcd();
    return 0;
}
