/* Placeholder: the handlers of ops-shift.c are being written. */
#include "insn.h"

const InterpOpEntry interp_ops_shift[] = {
    { 0, NULL },
};
