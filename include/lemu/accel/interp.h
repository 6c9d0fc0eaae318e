/*
 * lemu's x86-64 interpreter, the accelerator for hosts without hardware
 * virtualisation (-accel interp, alias tcg).
 *
 * Besides the AccelOps that the machine uses, the interpreter can run on
 * its own, without a Machine: the differential tester (tests/interp) and
 * the unit tests build an InterpShared over a MemoryMap, create one
 * InterpCPU, load a state and run it until it halts or takes an exception.
 */
#ifndef LEMU_ACCEL_INTERP_H
#define LEMU_ACCEL_INTERP_H

#include <stdbool.h>
#include <stdint.h>
#include "lemu/accel/accel.h"
#include "lemu/accel/x86-cpu.h"
#include "lemu/system/memory.h"

extern const AccelOps interp_accel_ops;

typedef struct InterpShared InterpShared;
typedef struct InterpCPU InterpCPU;

/* How the interpreter reaches the rest of the machine. */
typedef struct InterpEnv {
    MemoryMap *mem;           /* guest physical memory */
    IoPortMap *io;            /* NULL: every port is unassigned */
    /* Taken around device accesses (MMIO, ports, APIC); NULL: no lock. */
    void (*lock)(void *opaque);
    void (*unlock)(void *opaque);
    void *lock_opaque;
    /* Nanoseconds on the guest's clock (TSC, APIC timer); NULL: the host's
     * CLOCK_MONOTONIC. */
    int64_t (*clock_ns)(void *opaque);
    void *clock_opaque;
    unsigned nr_cpus;         /* for CPUID topology; 0 means 1 */
} InterpEnv;

/* Why interp_cpu_exec returned. */
typedef enum {
    INTERP_EXIT_REQUEST,      /* interp_cpu_request_exit or a pending IRQ */
    INTERP_EXIT_HLT,          /* HLT executed (RIP after it), or halted */
    INTERP_EXIT_SHUTDOWN,     /* triple fault */
    INTERP_EXIT_EXCEPTION,    /* only with stop_on_exception: see
                                 interp_cpu_last_exception */
    INTERP_EXIT_INSN_LIMIT,   /* the instruction budget ran out */
} InterpExit;

InterpShared *interp_shared_new(const InterpEnv *env);
void interp_shared_free(InterpShared *s);

/* A vCPU with APIC ID @index, in the power-on state. */
InterpCPU *interp_cpu_new(InterpShared *s, unsigned index);
void interp_cpu_free(InterpCPU *cpu);

void interp_cpu_set_state(InterpCPU *cpu, const X86CPUState *st);
void interp_cpu_get_state(InterpCPU *cpu, X86CPUState *st);

/*
 * Instead of delivering exceptions through the IDT, return
 * INTERP_EXIT_EXCEPTION with the state at the faulting instruction (for
 * software interrupts: RIP of the INT). For the differential tester.
 */
void interp_cpu_set_stop_on_exception(InterpCPU *cpu, bool stop);
/* The exception that ended the last run: vector, error code (-1 when the
 * vector pushes none). */
void interp_cpu_last_exception(InterpCPU *cpu, int *vector,
                               int64_t *error_code);

/* Runs guest code on the calling thread until one of InterpExit.
 * @max_insns bounds the instructions (0: no bound; counted per block, so
 * it may run a block further). */
InterpExit interp_cpu_exec(InterpCPU *cpu, uint64_t max_insns);

/* Any thread: makes interp_cpu_exec return INTERP_EXIT_REQUEST soon. */
void interp_cpu_request_exit(InterpCPU *cpu);

/*
 * Any thread: guest RAM [gpa, gpa + len) was written other than by a
 * vCPU's own stores (device DMA, a loader, the monitor): translated code
 * there is dropped, and every vCPU decodes the new bytes from its next
 * block on. Cheap when the range holds no code.
 */
void interp_notify_ram_written(InterpShared *s, uint64_t gpa, uint64_t len);

#endif
