/*
 * Accelerator lookup by the name -accel gives.
 */
#include <string.h>
#include "lemu/accel/accel.h"

const AccelOps *accel_find(const char *name)
{
    if (!name) {
        return NULL;
    }
    if (strcmp(name, "kvm") == 0) {
        return &kvm_accel_ops;
    }
    /* "interp" and its alias "tcg": the interpreter is not built yet. */
    return NULL;
}
