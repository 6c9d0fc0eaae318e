/*
 * A bare interpreter for unit tests: guest RAM in a MemoryMap, one
 * InterpCPU, no machine. Tests put code in guest memory (usually bytes
 * assembled by gas from a top-level asm block, see INTERP_TEST_CODE), pick
 * a mode, run until HLT or an exception and look at the state.
 */
#ifndef TESTS_UNIT_INTERP_HARNESS_H
#define TESTS_UNIT_INTERP_HARNESS_H

#include <stdint.h>
#include "lemu/accel/interp.h"

/* Layout of the harness's guest memory (16 MiB of RAM from 0). */
#define IH_RAM_SIZE     (16u << 20)
#define IH_GDT          0x800      /* GDT, see ih_write_gdt */
#define IH_PML4         0x1000     /* long mode: identity map of 1 GiB */
#define IH_PDPT         0x2000
#define IH_PD           0x3000
#define IH_CODE         0x100000   /* default code address */
#define IH_DATA         0x200000   /* scratch data */
#define IH_STACK_TOP    0x300000

/* GDT selectors (ih_write_gdt): */
#define IH_SEL_CODE16   0x08       /* 16-bit code, base 0, limit 64 KiB */
#define IH_SEL_CODE     0x10       /* the mode's flat code: 32 or 64-bit */
#define IH_SEL_DATA     0x18       /* flat data, DPL 0 */
#define IH_SEL_CODE32   0x20       /* flat 32-bit code (compat in long) */
#define IH_SEL_UDATA    0x2b       /* flat data, DPL 3 */
#define IH_SEL_UCODE    0x33       /* flat code, DPL 3, 64-bit in long */
#define IH_SEL_UCODE32  0x3b       /* flat 32-bit code, DPL 3 */
#define IH_SEL_TSS      0x40       /* 64-bit TSS at IH_TSS (two slots) */
#define IH_TSS          0x700

typedef struct InterpHarness {
    MemoryMap *mem;
    uint8_t *ram;
    InterpShared *shared;
    InterpCPU *cpu;
    X86CPUState st;      /* loaded by ih_run, read back after it */
    int vector;          /* exception that ended the run, or -1 */
    int64_t error_code;
} InterpHarness;

InterpHarness *ih_new(void);
void ih_free(InterpHarness *h);

/* Copies @len bytes to guest physical @gpa. */
void ih_load(InterpHarness *h, uint64_t gpa, const void *bytes, size_t len);
/* Puts a flat GDT (the IH_SEL_* descriptors) at IH_GDT; @long_mode picks
 * 64-bit code for IH_SEL_CODE/IH_SEL_UCODE. ih_mode_* call it. */
void ih_write_gdt(InterpHarness *h, bool long_mode);

/* Entry states (RSP = IH_STACK_TOP in the flat modes). Exceptions stop
 * the run (stop_on_exception) unless ih_deliver_exceptions is called. */
void ih_mode_real(InterpHarness *h, uint16_t cs, uint16_t ip);
void ih_mode_flat32(InterpHarness *h, uint64_t entry);
void ih_mode_long(InterpHarness *h, uint64_t entry);
void ih_deliver_exceptions(InterpHarness *h);

/* Loads h->st, runs up to @max_insns (0: unbounded), stores the state
 * back into h->st and the ending exception in h->vector/error_code. */
InterpExit ih_run(InterpHarness *h, uint64_t max_insns);

/*
 * Declares `const uint8_t name[]; const uint8_t name##_end[];` holding
 * the bytes gas assembles from @asm_text in .code16/.code32/.code64 as
 * @bits says, e.g.
 *     INTERP_TEST_CODE(add_code, 64, "add %rbx, %rax\n hlt\n")
 * then ih_load(h, IH_CODE, add_code, add_code_end - add_code).
 */
#define INTERP_TEST_CODE(name, bits, asm_text)                        \
    extern const uint8_t name[], name##_end[];                        \
    __asm__(".pushsection .rodata\n"                                  \
            ".globl " #name "\n.globl " #name "_end\n"                \
            #name ":\n.code" #bits "\n" asm_text "\n.code64\n"        \
            #name "_end:\n.popsection\n")

#endif
