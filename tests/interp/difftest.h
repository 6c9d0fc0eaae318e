/*
 * Differential tester of the interpreter: random instruction sequences run
 * natively on the host CPU and in the interpreter, compared register by
 * register, flag by flag and byte by byte.
 *
 * Both runs see the same bytes at the same virtual addresses: the code
 * window at DT_CODE_BASE, DT_DATA_PAGES pages of read/write data from
 * DT_DATA_BASE (the stack lives there too), one read-only page after them
 * and unmapped guard pages around. Every sequence ends in UD2, so both
 * runs stop with #UD (or earlier with the fault of one of the instructions)
 * and the state at that point is compared.
 */
#ifndef TESTS_INTERP_DIFFTEST_H
#define TESTS_INTERP_DIFFTEST_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

#define DT_PAGE         0x1000ULL
#define DT_CODE_BASE    0x10000000ULL
#define DT_CODE_PAGES   2
#define DT_DATA_BASE    0x10100000ULL
#define DT_DATA_PAGES   8
#define DT_DATA_SIZE    (DT_DATA_PAGES * DT_PAGE)
#define DT_RO_BASE      (DT_DATA_BASE + DT_DATA_SIZE)   /* one page */
#define DT_WINDOW       256        /* code bytes that a case may use */
#define DT_MAX_INSNS    48

/* x86 vectors the tester meets. */
#define DT_DE   0
#define DT_BP   3
#define DT_UD   6
#define DT_SS   12
#define DT_GP   13
#define DT_PF   14
#define DT_AC   17

/* The six arithmetic flags and the others compared. */
#define DT_CF   0x0001u
#define DT_PF_FLAG 0x0004u
#define DT_AF   0x0010u
#define DT_ZF   0x0040u
#define DT_SF   0x0080u
#define DT_TF   0x0100u
#define DT_IF   0x0200u
#define DT_DF   0x0400u
#define DT_OF   0x0800u
#define DT_NT   0x4000u
#define DT_AC_FLAG 0x40000u
#define DT_ID   0x200000u
#define DT_OSZAPC (DT_CF | DT_PF_FLAG | DT_AF | DT_ZF | DT_SF | DT_OF)
/* What the tester compares; AC and TF are never set by its sequences. */
#define DT_FLAGS_COMPARED (DT_OSZAPC | DT_DF | DT_IF | DT_NT | DT_ID)

/* The user-visible registers: RAX..R15 as numbered by the ISA. */
typedef struct DtRegs {
    uint64_t r[16];
    uint64_t rip;
    uint64_t rflags;
} DtRegs;

/* How a run ended: always an exception (#UD of the final UD2 when the
 * sequence completed). regs is the state at the faulting instruction. */
typedef struct DtResult {
    DtRegs regs;
    int vector;
    int64_t error_code;       /* -1: the vector pushes none */
    uint64_t cr2;             /* #PF only */
} DtResult;

/* ---- native.c + native-entry.S ---- */

/* Maps the code, data and guard pages at their fixed addresses and
 * installs the signal handlers. False with a message if that fails. */
bool native_init(GError **errp);
/* Fills the read-only page (once). */
void native_set_ro_page(const uint8_t *bytes);
/* Runs from @in (rip included) until the first exception. */
void native_run(const DtRegs *in, DtResult *out);
static inline uint8_t *native_code(void)
{
    return (uint8_t *)(uintptr_t)DT_CODE_BASE;
}
static inline uint8_t *native_data(void)
{
    return (uint8_t *)(uintptr_t)DT_DATA_BASE;
}

/* ---- interp-run.c ---- */

typedef struct DtInterp DtInterp;

/* @host_load: write the code window straight into guest RAM and use a
 * fresh vCPU for every case; otherwise a guest loader copies it with
 * ordinary stores (the interpreter must notice the rewritten code). */
DtInterp *dti_new(const uint8_t *ro_page, bool host_load);
void dti_free(DtInterp *t);
/* Runs the case: @window (DT_WINDOW bytes) at @window_addr, the data area
 * from @data, registers from @in. The data area after the run goes to
 * @data_out. False (with @why) when the interpreter did not stop with an
 * exception. */
bool dti_run(DtInterp *t, uint64_t window_addr, const uint8_t *window,
             const uint8_t *data, const DtRegs *in, DtResult *out,
             uint8_t *data_out, GString *why);

#endif
