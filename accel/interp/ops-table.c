/*
 * The handler of each operation, gathered from the ops-*.c tables into
 * the machine-wide InterpShared when the interpreter is created.
 */
#include "insn.h"

static const InterpOpEntry *const interp_op_tables[] = {
    interp_ops_alu, interp_ops_data, interp_ops_branch, interp_ops_muldiv,
    interp_ops_shift, interp_ops_bit, interp_ops_string, interp_ops_bcd,
    interp_ops_atomic, interp_ops_seg, interp_ops_system, interp_ops_fpu,
};

static const char *const interp_op_names[] = {
#define INTERP_OP_NAME(name, file) [OP_##name] = #name,
    INTERP_OPS(INTERP_OP_NAME)
#undef INTERP_OP_NAME
};

void interp_ops_fill(InterpShared *s)
{
    memset(s->op_fn, 0, sizeof(s->op_fn));
    for (size_t t = 0; t < G_N_ELEMENTS(interp_op_tables); t++) {
        for (const InterpOpEntry *e = interp_op_tables[t]; e->fn; e++) {
            g_assert(e->op > OP_invalid && e->op < OP_NR);
            /* Two files claiming one operation is a build mistake. */
            g_assert(!s->op_fn[e->op]);
            s->op_fn[e->op] = e->fn;
        }
    }
}

const char *interp_op_name(unsigned op)
{
    return op < OP_NR ? interp_op_names[op] : "?";
}
