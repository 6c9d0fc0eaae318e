/* Placeholder: the handlers of ops-bcd.c are being written. */
#include "insn.h"

const InterpOpEntry interp_ops_bcd[] = {
    { 0, NULL },
};
