/* Placeholder: the handlers of ops-branch.c are being written. */
#include "insn.h"

const InterpOpEntry interp_ops_branch[] = {
    { 0, NULL },
};
