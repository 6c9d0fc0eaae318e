/* Placeholder: the handlers of ops-muldiv.c are being written. */
#include "insn.h"

const InterpOpEntry interp_ops_muldiv[] = {
    { 0, NULL },
};
