/*
 * Ring 3 for the 64-bit guests (rings64, paging64): runs a function in
 * ring 3 until it makes the exit system call or raises an exception.
 *
 * A system call is UD2 with the number in RAX and the argument in RDI,
 * taken by a #UD handler installed while ring-3 code runs: some
 * hypervisors (PVM) deliver no INT n from ring 3, so the guests test INT
 * gates on their own and use UD2 for everything else.
 */
#ifndef USER64_H
#define USER64_H

#include "guest.h"

#define SYS_REPORT 1        /* appends RDI to user_reports[] */
#define SYS_EXIT   2        /* ends the ring-3 run */

struct user_run {
    void (*fn)(void);
    uint64_t cs, ss, rflags;        /* for IRETQ */
    /* When set, enters ring 3 this way instead of IRETQ (e.g. SYSRET);
     * gets fn and the top of the user stack. */
    void (*enter)(void (*fn)(void), void *stack_top);
};

extern uint64_t user_reports[4];
extern unsigned user_nr_reports;

/* Runs @r in ring 3 until SYS_EXIT (returns -1) or an exception (returns
 * its vector, details in @fi). The ring-0 stack is the TSS's RSP0, which
 * the caller has set (tss_init or its own TSS). */
int user_run_caught(const struct user_run *r, struct fault_info *fi);

/* IRETQ to @fn with the given stack, CS, SS and RFLAGS (user64-entry.S). */
void __noreturn enter_user(void (*fn)(void), void *stack_top, uint64_t cs,
                           uint64_t ss, uint64_t rflags);

static inline void user_sys(uint64_t nr, uint64_t arg)
{
    __asm__ volatile("ud2" : : "a"(nr), "D"(arg) : "memory");
}

#endif
