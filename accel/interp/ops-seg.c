/* Placeholder: the handlers of ops-seg.c are being written. */
#include "insn.h"

const InterpOpEntry interp_ops_seg[] = {
    { 0, NULL },
};
