/* The probe of emulated32.h. */
#include "guest.h"
#include "emulated32.h"

static uint32_t probe_pd[1024] __attribute__((aligned(4096)));
static uint32_t probe_pt[1024] __attribute__((aligned(4096)));

static void set_paging(void *on)
{
    if (on) {
        write_cr0(read_cr0() | CR0_PG);
    } else {
        write_cr0(read_cr0() & ~CR0_PG);
    }
}

bool paging32_refused(void)
{
    struct fault_info fi;
    uintptr_t old_cr3 = read_cr3();

    for (unsigned i = 0; i < 1024; i++) {
        probe_pt[i] = (i << 12) | 0x3;          /* present, writable */
    }
    probe_pd[0] = (uint32_t)(uintptr_t)probe_pt | 0x3;
    write_cr3((uintptr_t)probe_pd);
    /* Everything the guest touches lies below 4 MiB. */
    int v = catch_fault(set_paging, (void *)1, &fi);
    if (v == -1) {
        set_paging(NULL);
    }
    write_cr3(old_cr3);
    return v == 13;
}

void skip_if_emulated32(const char *what)
{
    if (paging32_refused()) {
        skip("CR0.PG raised #GP in 32-bit protected mode: a hypervisor that "
             "emulates 32-bit mode (PVM?) and cannot run %s", what);
    }
}
