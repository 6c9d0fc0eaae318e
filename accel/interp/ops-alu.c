/* Placeholder: the handlers of ops-alu.c are being written. */
#include "insn.h"

const InterpOpEntry interp_ops_alu[] = {
    { 0, NULL },
};
