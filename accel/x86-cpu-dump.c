/*
 * The x86 register dump in QEMU's layout, shared by the monitor's info
 * registers (any accelerator) and the interpreter's -d cpu log.
 */
#include <inttypes.h>
#include "lemu/accel/x86-cpu.h"

/* RFLAGS bits printed as letters, and VM for the CPL (SDM vol. 1, 3.4.3). */
#define DUMP_RFLAGS_PF (1ULL << 2)
#define DUMP_RFLAGS_AF (1ULL << 4)
#define DUMP_RFLAGS_ZF (1ULL << 6)
#define DUMP_RFLAGS_SF (1ULL << 7)
#define DUMP_RFLAGS_OF (1ULL << 11)
#define DUMP_RFLAGS_VM (1ULL << 17)

/* Descriptor type bits (SDM vol. 3, 3.4.5.1). */
#define DESC_TYPE_CODE        0x8
#define DESC_TYPE_CONFORMING  0x4    /* code */
#define DESC_TYPE_EXPAND_DOWN 0x4    /* data */
#define DESC_TYPE_READ        0x2    /* code */
#define DESC_TYPE_WRITE       0x2    /* data */
#define DESC_TYPE_ACCESSED    0x1

static const char *const seg_names[X86_NR_SEGS] = {
    "ES", "CS", "SS", "DS", "FS", "GS",
};

/* The high dword of the descriptor, without base bits: the attributes
 * and limit[19:16], as QEMU prints segment flags. */
static uint32_t seg_flags(const X86Segment *s)
{
    uint32_t limit_hi = (s->g ? s->limit >> 28 : s->limit >> 16) & 0xf;

    return ((uint32_t)(s->type & 0xf) << 8) | ((uint32_t)(s->s & 1) << 12) |
           ((uint32_t)(s->dpl & 3) << 13) |
           ((uint32_t)(s->present & 1) << 15) | limit_hi << 16 |
           ((uint32_t)(s->avl & 1) << 20) | ((uint32_t)(s->l & 1) << 21) |
           ((uint32_t)(s->db & 1) << 22) | ((uint32_t)(s->g & 1) << 23);
}

/* One segment line; the decoded type only for a usable, present segment
 * in protected mode (an unusable one counts as not present, as in
 * QEMU's view of KVM's segments). */
static void dump_seg(GString *out, const X86CPUState *st, bool cs64,
                     const char *name, const X86Segment *s)
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
    bool lma = st->efer & EFER_LMA;
    unsigned type = s->type & 0xf;

    if (cs64) {
        g_string_append_printf(out, "%-3s=%04x %016" PRIx64 " %08x %08x",
                               name, s->selector, s->base, s->limit,
                               seg_flags(s));
    } else {
        g_string_append_printf(out, "%-3s=%04x %08x %08x %08x", name,
                               s->selector, (uint32_t)s->base, s->limit,
                               seg_flags(s));
    }
    if (!(st->cr0 & CR0_PE) || !s->present || s->unusable) {
        g_string_append_c(out, '\n');
        return;
    }
    g_string_append_printf(out, " DPL=%d ", s->dpl & 3);
    if (!s->s) {
        g_string_append_printf(out, "%s\n", sys_names[lma][type]);
        return;
    }
    if (type & DESC_TYPE_CODE) {
        g_string_append_printf(out, "%s [%c%c",
                               s->l ? "CS64" : s->db ? "CS32" : "CS16",
                               type & DESC_TYPE_CONFORMING ? 'C' : '-',
                               type & DESC_TYPE_READ ? 'R' : '-');
    } else {
        g_string_append_printf(out, "%s [%c%c",
                               s->db || lma ? "DS  " : "DS16",
                               type & DESC_TYPE_EXPAND_DOWN ? 'E' : '-',
                               type & DESC_TYPE_WRITE ? 'W' : '-');
    }
    g_string_append_printf(out, "%c]\n",
                           type & DESC_TYPE_ACCESSED ? 'A' : '-');
}

/* The CPL as the state implies it: SS.DPL in protected mode. */
static unsigned cpl_from_state(const X86CPUState *st)
{
    if (!(st->cr0 & CR0_PE)) {
        return 0;
    }
    return st->rflags & DUMP_RFLAGS_VM ? 3 : st->segs[SEG_SS].dpl & 3;
}

static void dump_gprs(GString *out, const X86CPUState *st, bool cs64)
{
    const uint64_t *r = st->regs;

    if (cs64) {
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
            st->rip, (uint32_t)st->rflags);
    } else {
        g_string_append_printf(out,
            "EAX=%08x EBX=%08x ECX=%08x EDX=%08x\n"
            "ESI=%08x EDI=%08x EBP=%08x ESP=%08x\n"
            "EIP=%08x EFL=%08x",
            (uint32_t)r[R_EAX], (uint32_t)r[R_EBX], (uint32_t)r[R_ECX],
            (uint32_t)r[R_EDX], (uint32_t)r[R_ESI], (uint32_t)r[R_EDI],
            (uint32_t)r[R_EBP], (uint32_t)r[R_ESP],
            (uint32_t)st->rip, (uint32_t)st->rflags);
    }
}

static void dump_tables_and_crs(GString *out, const X86CPUState *st)
{
    if (st->efer & EFER_LMA) {
        g_string_append_printf(out,
            "GDT=     %016" PRIx64 " %08x\n"
            "IDT=     %016" PRIx64 " %08x\n"
            "CR0=%08x CR2=%016" PRIx64 " CR3=%016" PRIx64 " CR4=%08x\n",
            st->gdt.base, st->gdt.limit, st->idt.base, st->idt.limit,
            (uint32_t)st->cr0, st->cr2, st->cr3, (uint32_t)st->cr4);
    } else {
        g_string_append_printf(out,
            "GDT=     %08x %08x\n"
            "IDT=     %08x %08x\n"
            "CR0=%08x CR2=%08x CR3=%08x CR4=%08x\n",
            (uint32_t)st->gdt.base, st->gdt.limit,
            (uint32_t)st->idt.base, st->idt.limit, (uint32_t)st->cr0,
            (uint32_t)st->cr2, (uint32_t)st->cr3, (uint32_t)st->cr4);
    }
}

void x86_cpu_dump_state(const X86CPUState *st, const X86CPUDumpExtra *extra,
                        GString *out)
{
    bool cs64 = (st->efer & EFER_LMA) && st->segs[SEG_CS].l;
    uint64_t fl = st->rflags;
    char flags[8] = {
        fl & RFLAGS_DF ? 'D' : '-', fl & DUMP_RFLAGS_OF ? 'O' : '-',
        fl & DUMP_RFLAGS_SF ? 'S' : '-', fl & DUMP_RFLAGS_ZF ? 'Z' : '-',
        fl & DUMP_RFLAGS_AF ? 'A' : '-', fl & DUMP_RFLAGS_PF ? 'P' : '-',
        fl & RFLAGS_CF ? 'C' : '-', 0,
    };

    dump_gprs(out, st, cs64);
    g_string_append_printf(out, " [%s] CPL=%u II=%d A20=1 SMM=0 HLT=%d\n",
                           flags, extra ? extra->cpl : cpl_from_state(st),
                           extra ? extra->irq_inhibit : 0,
                           st->mp_state == X86_MP_HALTED);
    for (int i = 0; i < X86_NR_SEGS; i++) {
        dump_seg(out, st, cs64, seg_names[i], &st->segs[i]);
    }
    dump_seg(out, st, cs64, "LDT", &st->ldt);
    dump_seg(out, st, cs64, "TR", &st->tr);
    dump_tables_and_crs(out, st);
    for (int i = 0; i < 4; i++) {
        g_string_append_printf(out, "DR%d=%016" PRIx64 " ", i, st->dr[i]);
    }
    g_string_append_printf(out, "\nDR6=%016" PRIx64 " DR7=%016" PRIx64 "\n",
                           st->dr[6], st->dr[7]);
    if (extra && extra->cc_op) {
        if (cs64) {
            g_string_append_printf(out, "CCS=%016" PRIx64 " CCD=%016" PRIx64
                                   " CCO=%-8s\n", extra->cc_src,
                                   extra->cc_dst, extra->cc_op);
        } else {
            g_string_append_printf(out, "CCS=%08x CCD=%08x CCO=%-8s\n",
                                   (uint32_t)extra->cc_src,
                                   (uint32_t)extra->cc_dst, extra->cc_op);
        }
    }
    g_string_append_printf(out, "EFER=%016" PRIx64 "\n", st->efer);
}
