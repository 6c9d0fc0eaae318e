/*
 * A minimal Machine for device unit tests: memory and port maps, a main
 * loop without a machine lock, no accelerator and no vCPUs. Interrupt
 * lines are recorded so that tests can check what a device raised.
 */
#ifndef TESTS_UNIT_FIXTURE_H
#define TESTS_UNIT_FIXTURE_H

#include <glib.h>
#include "lemu/system/machine.h"

#define FIXTURE_NR_IRQS 24

Machine *fixture_machine_new(void);
void fixture_machine_free(Machine *m);

/* Current level of GSI @n, and how many 0->1 edges it saw. */
int fixture_irq_level(Machine *m, int n);
unsigned fixture_irq_raises(Machine *m, int n);
void fixture_irq_clear(Machine *m);

/* Runs @loop for about @ms milliseconds of host time. */
void fixture_run_for(MainLoop *loop, int ms);

/* Runs @loop until @cond holds, failing the test after 5 seconds. */
#define FIXTURE_RUN_UNTIL(loop, cond)                                     \
    do {                                                                  \
        gint64 deadline_ = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;   \
        while (!(cond) && g_get_monotonic_time() < deadline_) {           \
            if (!main_loop_iterate((loop), false)) {                      \
                g_usleep(200);                                            \
            }                                                             \
        }                                                                 \
        g_assert_true(cond);                                              \
    } while (0)

/* Port I/O as the guest would do it. */
uint32_t fixture_inb(Machine *m, uint16_t port);
void fixture_outb(Machine *m, uint16_t port, uint8_t v);

#endif
