/*
 * The interpreter's diagnostic logs, in QEMU's layouts: -d in_asm (each
 * newly translated block, disassembled) and -d cpu (the registers before
 * a block runs).
 *
 * Capstone is loaded with dlopen on first use, not linked: linking it
 * costs every start-up 3 MiB of mappings and milliseconds of relocation,
 * for a log that is rarely on. Its header only gives the types. Without
 * the library, blocks are logged as bytes.
 */
#include <dlfcn.h>
#include <inttypes.h>
#include <capstone/capstone.h>
#include "accel/interp/cpu.h"
#include "lemu/util/log.h"

#define CAPSTONE_SONAME "libcapstone.so.4"

/* The capstone functions lemu uses, resolved once per process. */
typedef struct CapstoneLib {
    cs_err (*open)(cs_arch arch, cs_mode mode, csh *handle);
    cs_err (*close)(csh *handle);
    cs_err (*option)(csh handle, cs_opt_type type, size_t value);
    size_t (*disasm)(csh handle, const uint8_t *code, size_t size,
                     uint64_t address, size_t count, cs_insn **insn);
    void (*free)(cs_insn *insn, size_t count);
} CapstoneLib;

static gpointer capstone_load(gpointer data)
{
    CapstoneLib *lib = data;
    void *dl = dlopen(CAPSTONE_SONAME, RTLD_NOW | RTLD_LOCAL);

    if (!dl) {
        lemu_log_mask(LOG_IN_ASM, "in_asm: cannot load %s (%s): code is "
                      "shown as bytes\n", CAPSTONE_SONAME, dlerror());
        return NULL;
    }
    lib->open = (__typeof__(lib->open))dlsym(dl, "cs_open");
    lib->close = (__typeof__(lib->close))dlsym(dl, "cs_close");
    lib->option = (__typeof__(lib->option))dlsym(dl, "cs_option");
    lib->disasm = (__typeof__(lib->disasm))dlsym(dl, "cs_disasm");
    lib->free = (__typeof__(lib->free))dlsym(dl, "cs_free");
    if (!lib->open || !lib->close || !lib->option || !lib->disasm ||
        !lib->free) {
        lemu_log_mask(LOG_IN_ASM, "in_asm: %s lacks the cs_* functions: "
                      "code is shown as bytes\n", CAPSTONE_SONAME);
        dlclose(dl);
        return NULL;
    }
    /* Stays loaded for the life of the process. */
    return lib;
}

/* NULL when capstone cannot be loaded. */
static const CapstoneLib *capstone(void)
{
    static GOnce once = G_ONCE_INIT;
    static CapstoneLib lib;

    return g_once(&once, capstone_load, &lib);
}

/* Bytes that capstone could not (or was not there to) decode. */
static void disas_bytes(GString *out, uint64_t pc, const uint8_t *code,
                        unsigned len)
{
    for (unsigned i = 0; i < len; i += 8) {
        g_string_append_printf(out, "0x%016" PRIx64 ":  .byte ", pc + i);
        for (unsigned j = i; j < len && j < i + 8; j++) {
            g_string_append_printf(out, "%s0x%02x", j > i ? ", " : "",
                                   code[j]);
        }
        g_string_append_c(out, '\n');
    }
}

/* Disassembles what it can in AT&T syntax, as QEMU logs x86 code; returns
 * how many bytes it decoded. */
static unsigned disas_capstone(GString *out, const CapstoneLib *cs,
                               unsigned code_bits, uint64_t pc,
                               const uint8_t *code, unsigned len)
{
    cs_mode mode = code_bits == 64 ? CS_MODE_64 :
                   code_bits == 32 ? CS_MODE_32 : CS_MODE_16;
    cs_insn *insn;
    unsigned done = 0;
    size_t n;
    csh h;

    if (cs->open(CS_ARCH_X86, mode, &h) != CS_ERR_OK) {
        return 0;
    }
    cs->option(h, CS_OPT_SYNTAX, CS_OPT_SYNTAX_ATT);
    n = cs->disasm(h, code, len, pc, 0, &insn);
    for (size_t i = 0; i < n; i++) {
        g_string_append_printf(out, "0x%016" PRIx64 ":  %s%s%s\n",
                               (uint64_t)insn[i].address, insn[i].mnemonic,
                               insn[i].op_str[0] ? " " : "",
                               insn[i].op_str);
        done += insn[i].size;
    }
    if (n) {
        cs->free(insn, n);
    }
    cs->close(&h);
    return done;
}

void interp_log_block(InterpCPU *cpu, uint64_t pc, const uint8_t *code,
                      unsigned len)
{
    const CapstoneLib *cs = capstone();
    GString *out = g_string_new("----------------\nIN: \n");
    unsigned done = 0;

    if (cs) {
        done = disas_capstone(out, cs, cpu->code_bits, pc, code, len);
    }
    disas_bytes(out, pc + done, code + done, len - done);
    g_string_append_c(out, '\n');
    log_printf("%s", out->str);
    g_string_free(out, TRUE);
}

/* ---- -d cpu ----------------------------------------------------------- */

static const char *const seg_names[X86_NR_SEGS] = {
    "ES", "CS", "SS", "DS", "FS", "GS",
};

/* Descriptor type bits (SDM vol. 3, 3.4.5.1). */
#define DESC_TYPE_CODE       0x8
#define DESC_TYPE_CONFORMING 0x4     /* code */
#define DESC_TYPE_EXPAND_DOWN 0x4    /* data */
#define DESC_TYPE_READ       0x2     /* code */
#define DESC_TYPE_WRITE      0x2     /* data */
#define DESC_TYPE_ACCESSED   0x1

/* The attribute bits as they sit in the high dword of a descriptor. */
static uint32_t seg_attr(const X86Segment *s)
{
    return ((uint32_t)s->type << 8) | ((uint32_t)s->s << 12) |
           ((uint32_t)s->dpl << 13) | ((uint32_t)s->present << 15) |
           ((uint32_t)s->avl << 20) | ((uint32_t)s->l << 21) |
           ((uint32_t)s->db << 22) | ((uint32_t)s->g << 23);
}

static void dump_seg(GString *out, InterpCPU *cpu, const char *name,
                     const X86Segment *s)
{
    static const char *const sys_names[2][16] = {
        { "Reserved", "TSS16-avl", "LDT", "TSS16-busy", "CallGate16",
          "TaskGate", "IntGate16", "TrapGate16", "Reserved", "TSS32-avl",
          "Reserved", "TSS32-busy", "CallGate32", "Reserved", "IntGate32",
          "TrapGate32" },
        { "<hiword>", "Reserved", "LDT", "Reserved", "Reserved",
          "Reserved", "Reserved", "Reserved", "Reserved", "TSS64-avl",
          "Reserved", "TSS64-busy", "CallGate64", "Reserved", "IntGate64",
          "TrapGate64" },
    };
    unsigned type = s->type & 0xf;

    if (cpu->long64) {
        g_string_append_printf(out, "%-3s=%04x %016" PRIx64 " %08x %08x",
                               name, s->selector, s->base, s->limit,
                               seg_attr(s));
    } else {
        g_string_append_printf(out, "%-3s=%04x %08x %08x %08x", name,
                               s->selector, (uint32_t)s->base, s->limit,
                               seg_attr(s));
    }
    if (!cpu->pe || !s->present || s->unusable) {
        g_string_append_c(out, '\n');
        return;
    }
    g_string_append_printf(out, " DPL=%d ", s->dpl);
    if (!s->s) {
        g_string_append_printf(out, "%s\n", sys_names[cpu->lma][type]);
        return;
    }
    if (type & DESC_TYPE_CODE) {
        g_string_append_printf(out, "%s [%c%c",
                               s->l ? "CS64" : s->db ? "CS32" : "CS16",
                               type & DESC_TYPE_CONFORMING ? 'C' : '-',
                               type & DESC_TYPE_READ ? 'R' : '-');
    } else {
        g_string_append_printf(out, "%s [%c%c",
                               s->db || cpu->lma ? "DS  " : "DS16",
                               type & DESC_TYPE_EXPAND_DOWN ? 'E' : '-',
                               type & DESC_TYPE_WRITE ? 'W' : '-');
    }
    g_string_append_printf(out, "%c]\n",
                           type & DESC_TYPE_ACCESSED ? 'A' : '-');
}

static char flag_char(uint64_t rflags, uint64_t bit, char c)
{
    return rflags & bit ? c : '-';
}

static const char *cc_op_name(uint32_t cc_op)
{
    static const char *const names[CC_OP_NR / 4] = {
        "EFLAGS", "ADD", "ADC", "SUB", "SBB", "LOGIC", "INC", "DEC", "SHL",
        "SAR", "MUL",
    };
    unsigned kind = cc_op / 4;

    return kind < G_N_ELEMENTS(names) && names[kind] ? names[kind] : "?";
}

static void dump_cc(GString *out, InterpCPU *cpu)
{
    static const char size_suffix[4] = { 'B', 'W', 'L', 'Q' };
    char op[16];

    if (cpu->cc_op == CC_OP_EFLAGS) {
        snprintf(op, sizeof(op), "EFLAGS");
    } else {
        snprintf(op, sizeof(op), "%s%c", cc_op_name(cpu->cc_op),
                 size_suffix[CC_OP_SIZE(cpu->cc_op)]);
    }
    if (cpu->long64) {
        g_string_append_printf(out, "CCS=%016" PRIx64 " CCD=%016" PRIx64
                               " CCO=%-8s\n", cpu->cc_src, cpu->cc_dst, op);
    } else {
        g_string_append_printf(out, "CCS=%08x CCD=%08x CCO=%-8s\n",
                               (uint32_t)cpu->cc_src, (uint32_t)cpu->cc_dst,
                               op);
    }
}

void interp_log_cpu(InterpCPU *cpu)
{
    GString *out = g_string_new(NULL);
    uint64_t fl = interp_get_rflags(cpu);
    char flags[8] = {
        flag_char(fl, RFLAGS_OF, 'O'), flag_char(fl, RFLAGS_DF, 'D'),
        flag_char(fl, RFLAGS_SF, 'S'), flag_char(fl, RFLAGS_ZF, 'Z'),
        flag_char(fl, RFLAGS_AF, 'A'), flag_char(fl, RFLAGS_PF, 'P'),
        flag_char(fl, RFLAGS_CF, 'C'), 0,
    };
    const uint64_t *r = cpu->regs;

    if (cpu->long64) {
        g_string_append_printf(out,
            "RAX=%016" PRIx64 " RBX=%016" PRIx64 " RCX=%016" PRIx64
            " RDX=%016" PRIx64 "\n"
            "RSI=%016" PRIx64 " RDI=%016" PRIx64 " RBP=%016" PRIx64
            " RSP=%016" PRIx64 "\n"
            "R8 =%016" PRIx64 " R9 =%016" PRIx64 " R10=%016" PRIx64
            " R11=%016" PRIx64 "\n"
            "R12=%016" PRIx64 " R13=%016" PRIx64 " R14=%016" PRIx64
            " R15=%016" PRIx64 "\n"
            "RIP=%016" PRIx64 " RFL=%08x",
            r[R_EAX], r[R_EBX], r[R_ECX], r[R_EDX],
            r[R_ESI], r[R_EDI], r[R_EBP], r[R_ESP],
            r[R_R8], r[R_R9], r[R_R10], r[R_R11],
            r[R_R12], r[R_R13], r[R_R14], r[R_R15],
            cpu->rip, (uint32_t)fl);
    } else {
        g_string_append_printf(out,
            "EAX=%08x EBX=%08x ECX=%08x EDX=%08x\n"
            "ESI=%08x EDI=%08x EBP=%08x ESP=%08x\n"
            "EIP=%08x EFL=%08x",
            (uint32_t)r[R_EAX], (uint32_t)r[R_EBX], (uint32_t)r[R_ECX],
            (uint32_t)r[R_EDX], (uint32_t)r[R_ESI], (uint32_t)r[R_EDI],
            (uint32_t)r[R_EBP], (uint32_t)r[R_ESP],
            (uint32_t)cpu->rip, (uint32_t)fl);
    }
    /* lemu has no A20 gate and no SMM. */
    g_string_append_printf(out, " [%s] CPL=%d II=%d A20=1 SMM=0 HLT=%d\n",
                           flags, cpu->cpl, cpu->irq_inhibit, cpu->halted);
    for (int i = 0; i < X86_NR_SEGS; i++) {
        dump_seg(out, cpu, seg_names[i], &cpu->segs[i]);
    }
    dump_seg(out, cpu, "LDT", &cpu->ldt);
    dump_seg(out, cpu, "TR", &cpu->tr);
    if (cpu->lma) {
        g_string_append_printf(out,
            "GDT=     %016" PRIx64 " %08x\n"
            "IDT=     %016" PRIx64 " %08x\n"
            "CR0=%08x CR2=%016" PRIx64 " CR3=%016" PRIx64 " CR4=%08x\n",
            cpu->gdt.base, cpu->gdt.limit, cpu->idt.base, cpu->idt.limit,
            (uint32_t)cpu->cr0, cpu->cr2, cpu->cr3, (uint32_t)cpu->cr4);
    } else {
        g_string_append_printf(out,
            "GDT=     %08x %08x\n"
            "IDT=     %08x %08x\n"
            "CR0=%08x CR2=%08x CR3=%08x CR4=%08x\n",
            (uint32_t)cpu->gdt.base, cpu->gdt.limit,
            (uint32_t)cpu->idt.base, cpu->idt.limit, (uint32_t)cpu->cr0,
            (uint32_t)cpu->cr2, (uint32_t)cpu->cr3, (uint32_t)cpu->cr4);
    }
    for (int i = 0; i < 4; i++) {
        g_string_append_printf(out, "DR%d=%016" PRIx64 " ", i, cpu->dr[i]);
    }
    g_string_append_printf(out, "\nDR6=%016" PRIx64 " DR7=%016" PRIx64 "\n",
                           cpu->dr[6], cpu->dr[7]);
    dump_cc(out, cpu);
    g_string_append_printf(out, "EFER=%016" PRIx64 "\n", cpu->efer);
    log_printf("%s", out->str);
    g_string_free(out, TRUE);
}
