/* Placeholder: the handlers of ops-data.c are being written. */
#include "insn.h"

const InterpOpEntry interp_ops_data[] = {
    { 0, NULL },
};
