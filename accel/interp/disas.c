/*
 * The interpreter's diagnostic logs, in QEMU's layouts: -d in_asm (each
 * newly translated block, disassembled through util/disas.c) and -d cpu
 * (the registers before a block runs). Without capstone, blocks are
 * logged as bytes.
 */
#include <inttypes.h>
#include <stdio.h>
#include "accel/interp/cpu.h"
#include "lemu/util/disas.h"
#include "lemu/util/log.h"

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

void interp_log_block(InterpCPU *cpu, uint64_t pc, const uint8_t *code,
                      unsigned len)
{
    GString *out = g_string_new("----------------\nIN: \n");
    unsigned done = disas_x86(code, len, pc, cpu->code_bits, 0,
                              DISAS_STYLE_LOG, out, NULL);

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

/* The attribute bits and limit[19:16] as they sit in the high dword of a
 * descriptor. */
static uint32_t seg_attr(const X86Segment *s)
{
    uint32_t limit_hi = (s->g ? s->limit >> 28 : s->limit >> 16) & 0xf;

    return ((uint32_t)s->type << 8) | ((uint32_t)s->s << 12) |
           limit_hi << 16 |
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
        flag_char(fl, RFLAGS_DF, 'D'), flag_char(fl, RFLAGS_OF, 'O'),
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
