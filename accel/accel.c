/*
 * Accelerator lookup by the name -accel gives.
 */
#include <string.h>
#include "lemu/accel/accel.h"
#include "lemu/accel/interp.h"

const AccelOps *accel_find(const char *name)
{
    if (!name) {
        return NULL;
    }
    if (strcmp(name, "kvm") == 0) {
        return &kvm_accel_ops;
    }
    /* QEMU's users spell the software accelerator "tcg". */
    if (strcmp(name, "interp") == 0 || strcmp(name, "tcg") == 0) {
        return &interp_accel_ops;
    }
    return NULL;
}
