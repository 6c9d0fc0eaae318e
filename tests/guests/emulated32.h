/*
 * Some hypervisors (PVM, see README.md "Hosts") emulate every non-64-bit
 * mode instruction by instruction and fail on much of it: INT n, INT3,
 * INTO, BOUND, the BCD instructions, a 32-bit IRET end the VM with an
 * emulation failure. They also refuse 32-bit paging with #GP, which a
 * guest can see without harm, so 32-bit guests ask that first and say
 * SKIP (exit SKIP) before the part such a hypervisor cannot run.
 */
#ifndef EMULATED32_H
#define EMULATED32_H

#include <stdbool.h>

/* True when setting CR0.PG (with 32-bit paging identity-mapping the first
 * 4 MiB) raises #GP; leaves paging off either way. */
bool paging32_refused(void);

/* Says SKIP with @what and exits if paging32_refused(). */
void skip_if_emulated32(const char *what);

#endif
