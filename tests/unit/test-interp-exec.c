/* Placeholder: the test-interp-exec cases are being written. */
#include <glib.h>
#include "interp-harness.h"

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    return g_test_run();
}
