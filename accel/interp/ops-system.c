/* Placeholder: the handlers of ops-system.c are being written. */
#include "insn.h"

const InterpOpEntry interp_ops_system[] = {
    { 0, NULL },
};
