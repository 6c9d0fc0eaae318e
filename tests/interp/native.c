/*
 * The host side: fixed mappings and runs of a sequence on the host CPU.
 *
 * Code and data live at the same virtual addresses as in the guest (see
 * difftest.h); the pages around them are reserved PROT_NONE so that
 * nothing else of the process lands there and a stray access faults just
 * as it does in the guest, where they are not present. The sequence ends
 * with an exception; the handler for SIGILL/SIGSEGV/SIGBUS/SIGFPE/SIGTRAP
 * (on its own stack: the guest RSP points into the data area) takes the
 * registers, the vector (trapno), error code and CR2 from the signal
 * frame and resumes the tester at difftest_native_resume.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include "lemu/util/log.h"
#include "difftest.h"

#define DT_HIDDEN __attribute__((visibility("hidden")))

extern DtRegs dt_native_in DT_HIDDEN;
extern uint64_t dt_host_rsp DT_HIDDEN;
void difftest_native_enter(void) DT_HIDDEN;
void difftest_native_resume(void) DT_HIDDEN;

/* The signal handler's only way back to the run in progress. */
static DtResult *dt_native_out;
static volatile sig_atomic_t dt_native_active;
static uint8_t dt_ro_copy[DT_PAGE];
/* The handler's stack: the guest RSP points into the data area. */
static uint8_t dt_altstack[256 * 1024] __attribute__((aligned(16)));

/* Vectors that push an error code. */
static bool vector_has_error_code(int v)
{
    return v == 8 || (v >= 10 && v <= 14) || v == 17;
}

static void native_signal(int sig, siginfo_t *si, void *uc_void)
{
    ucontext_t *uc = uc_void;
    greg_t *gr = uc->uc_mcontext.gregs;
    uint64_t rip = gr[REG_RIP];
    DtResult *out = dt_native_out;

    if (!dt_native_active || rip < DT_CODE_BASE ||
        rip >= DT_CODE_BASE + DT_CODE_PAGES * DT_PAGE) {
        /* Not the sequence: a bug of the tester itself. Let the default
         * action happen when the instruction faults again. */
        signal(sig, SIG_DFL);
        return;
    }
    out->regs.r[0] = gr[REG_RAX];
    out->regs.r[1] = gr[REG_RCX];
    out->regs.r[2] = gr[REG_RDX];
    out->regs.r[3] = gr[REG_RBX];
    out->regs.r[4] = gr[REG_RSP];
    out->regs.r[5] = gr[REG_RBP];
    out->regs.r[6] = gr[REG_RSI];
    out->regs.r[7] = gr[REG_RDI];
    out->regs.r[8] = gr[REG_R8];
    out->regs.r[9] = gr[REG_R9];
    out->regs.r[10] = gr[REG_R10];
    out->regs.r[11] = gr[REG_R11];
    out->regs.r[12] = gr[REG_R12];
    out->regs.r[13] = gr[REG_R13];
    out->regs.r[14] = gr[REG_R14];
    out->regs.r[15] = gr[REG_R15];
    out->regs.rip = rip;
    out->regs.rflags = gr[REG_EFL];
    out->vector = gr[REG_TRAPNO];
    out->error_code = vector_has_error_code(out->vector) ? gr[REG_ERR] : -1;
    out->cr2 = out->vector == DT_PF ? uc->uc_mcontext.gregs[REG_CR2] : 0;
    dt_native_active = 0;

    gr[REG_RIP] = (greg_t)(uintptr_t)difftest_native_resume;
    gr[REG_RSP] = dt_host_rsp;
    gr[REG_EFL] = 0x246;
}

static bool map_fixed(uint64_t addr, uint64_t len, int prot, GError **errp)
{
    void *p = mmap((void *)(uintptr_t)addr, len, prot,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

    if (p == MAP_FAILED || p != (void *)(uintptr_t)addr) {
        g_set_error(errp, LEMU_ERROR, 0,
                    "cannot map %#llx bytes at %#llx for the test sequences "
                    "(%s); expected the range to be free",
                    (unsigned long long)len, (unsigned long long)addr,
                    p == MAP_FAILED ? strerror(errno) : "placed elsewhere");
        if (p != MAP_FAILED) {
            munmap(p, len);
        }
        return false;
    }
    return true;
}

bool native_init(GError **errp)
{
    static const int sigs[] = { SIGILL, SIGSEGV, SIGBUS, SIGFPE, SIGTRAP };
    struct sigaction sa = { 0 };
    stack_t ss = { 0 };

    /* Guard, code (RWX: rewritten every case), guard. */
    if (!map_fixed(DT_CODE_BASE - DT_PAGE, DT_PAGE, PROT_NONE, errp) ||
        !map_fixed(DT_CODE_BASE, DT_CODE_PAGES * DT_PAGE,
                   PROT_READ | PROT_WRITE | PROT_EXEC, errp) ||
        !map_fixed(DT_CODE_BASE + DT_CODE_PAGES * DT_PAGE, DT_PAGE,
                   PROT_NONE, errp)) {
        return false;
    }
    /* Guard, data, read-only page, guard. */
    if (!map_fixed(DT_DATA_BASE - DT_PAGE, DT_PAGE, PROT_NONE, errp) ||
        !map_fixed(DT_DATA_BASE, DT_DATA_SIZE, PROT_READ | PROT_WRITE,
                   errp) ||
        !map_fixed(DT_RO_BASE, DT_PAGE, PROT_READ, errp) ||
        !map_fixed(DT_RO_BASE + DT_PAGE, DT_PAGE, PROT_NONE, errp)) {
        return false;
    }

    ss.ss_size = sizeof(dt_altstack);
    ss.ss_sp = dt_altstack;
    if (sigaltstack(&ss, NULL) < 0) {
        g_set_error(errp, LEMU_ERROR, 0, "sigaltstack: %s", strerror(errno));
        return false;
    }
    sa.sa_sigaction = native_signal;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < G_N_ELEMENTS(sigs); i++) {
        if (sigaction(sigs[i], &sa, NULL) < 0) {
            g_set_error(errp, LEMU_ERROR, 0, "sigaction: %s",
                        strerror(errno));
            return false;
        }
    }
    return true;
}

void native_set_ro_page(const uint8_t *bytes)
{
    void *ro = (void *)(uintptr_t)DT_RO_BASE;

    memcpy(dt_ro_copy, bytes, DT_PAGE);
    mprotect(ro, DT_PAGE, PROT_READ | PROT_WRITE);
    memcpy(ro, bytes, DT_PAGE);
    mprotect(ro, DT_PAGE, PROT_READ);
}

void native_run(const DtRegs *in, DtResult *out)
{
    memset(out, 0, sizeof(*out));
    dt_native_in = *in;
    /* Only flags a user program may hold; never TF or AC. */
    dt_native_in.rflags = (in->rflags & (DT_OSZAPC | DT_DF | DT_NT | DT_ID)) |
                          DT_IF | 2;
    dt_native_out = out;
    dt_native_active = 1;
    difftest_native_enter();
    g_assert(!dt_native_active);
    /* The read-only page cannot change; check that it did not. */
    g_assert(memcmp(dt_ro_copy, (void *)(uintptr_t)DT_RO_BASE,
                    DT_PAGE) == 0);
}
