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

static const char *cc_op_name(uint32_t cc_op)
{
    static const char *const names[CC_OP_NR / 4] = {
        "EFLAGS", "ADD", "ADC", "SUB", "SBB", "LOGIC", "INC", "DEC", "SHL",
        "SAR", "MUL",
    };
    unsigned kind = cc_op / 4;

    return kind < G_N_ELEMENTS(names) && names[kind] ? names[kind] : "?";
}

/* The flags operation as QEMU's CCO= names it: "EFLAGS", or the
 * operation with its operand size (ADDL, SUBQ...). */
static void cc_op_string(char *buf, size_t size, uint32_t cc_op)
{
    static const char size_suffix[4] = { 'B', 'W', 'L', 'Q' };

    if (cc_op == CC_OP_EFLAGS) {
        snprintf(buf, size, "EFLAGS");
    } else {
        snprintf(buf, size, "%s%c", cc_op_name(cc_op),
                 size_suffix[CC_OP_SIZE(cc_op)]);
    }
}

/* interp_cpu_get_state under the machine lock, which the vCPU thread
 * does not hold while it runs: CR8 and the APIC base come from the local
 * APIC. */
static void get_state_locked(InterpCPU *cpu, X86CPUState *st)
{
    InterpEnv *env = &cpu->shared->env;

    if (env->lock) {
        env->lock(env->lock_opaque);
    }
    interp_cpu_get_state(cpu, st);
    if (env->unlock) {
        env->unlock(env->lock_opaque);
    }
}

void interp_log_cpu(InterpCPU *cpu)
{
    GString *out = g_string_new(NULL);
    X86CPUState st;
    char op[16];
    X86CPUDumpExtra extra = {
        .cpl = cpu->cpl,
        .irq_inhibit = cpu->irq_inhibit,
        .cc_op = op,
        .cc_src = cpu->cc_src,
        .cc_dst = cpu->cc_dst,
    };

    get_state_locked(cpu, &st);
    cc_op_string(op, sizeof(op), cpu->cc_op);
    x86_cpu_dump_state(&st, &extra, out);
    log_printf("%s", out->str);
    g_string_free(out, TRUE);
}
