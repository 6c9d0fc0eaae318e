/* Placeholder: the handlers of ops-atomic.c are being written. */
#include "insn.h"

const InterpOpEntry interp_ops_atomic[] = {
    { 0, NULL },
};
