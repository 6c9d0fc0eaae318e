/* Placeholder: the handlers of ops-string.c are being written. */
#include "insn.h"

const InterpOpEntry interp_ops_string[] = {
    { 0, NULL },
};
