/* Placeholder: the handlers of ops-bit.c are being written. */
#include "insn.h"

const InterpOpEntry interp_ops_bit[] = {
    { 0, NULL },
};
