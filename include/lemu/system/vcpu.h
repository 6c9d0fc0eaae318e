/*
 * vCPU threads. Each vCPU runs guest code on its own thread through the
 * accelerator, without the machine lock. The main loop stops, resumes,
 * resets and kicks them; all fields marked (lock) are protected by the
 * machine lock.
 */
#ifndef LEMU_SYSTEM_VCPU_H
#define LEMU_SYSTEM_VCPU_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <glib.h>
#include "lemu/accel/x86-cpu.h"

typedef struct Machine Machine;

/*
 * The signal that kicks a vCPU thread out of a blocking accelerator call
 * (KVM_RUN). vcpus_create() installs an empty handler for it (without
 * SA_RESTART) and each vCPU thread unblocks it for itself. Every other
 * thread must keep it blocked: main() blocks it before it creates any
 * thread, so that threads made later (glib, workers, vCPUs) inherit the
 * blocked mask.
 */
#define VCPU_SIG_IPI SIGUSR1

typedef struct VCPU {
    Machine *machine;
    unsigned index;              /* also the initial APIC ID */
    GThread *thread;
    pthread_t tid;
    bool thread_started;         /* (lock) the thread runs and tid is valid */
    int os_tid;                  /* the thread's Linux id (query-cpus-fast) */

    bool stop_requested;         /* (lock) leave guest code and park */
    bool stopped;                /* (lock) parked, out of guest code */
    bool quit_requested;         /* (lock) end the thread */
    bool halted;                 /* (lock) waiting for a kick (no irqchip) */
    /* (lock) state to load before the next vcpu_run; set by reset and
     * boot code while the vCPU is stopped */
    bool state_pending;
    X86CPUState pending_state;
    GCond wake;                  /* signalled to un-park */

    int kick_pending;            /* atomic; accelerators may poll it */
    void *accel;                 /* the accelerator's per-vCPU data */
} VCPU;

/* Creates every vCPU (accelerator vcpu_init + thread), all parked. */
bool vcpus_create(Machine *m, GError **errp);
/* Lock held. Returns once every vCPU is out of guest code and parked. */
void vcpus_pause_all(Machine *m);
/* Lock held, any thread (a vCPU too): asks every vCPU to leave guest code
 * and park, without waiting. Used when the guest asked for a reset or an
 * exit, so that no vCPU runs on past that request. */
void vcpus_request_stop(Machine *m);
/* Lock held. Un-parks every vCPU. */
void vcpus_resume_all(Machine *m);
/* Any thread: makes the vCPU return from vcpu_run soon. With the lock
 * held it also wakes a vCPU that waits after VCPU_EXIT_HALTED. */
void vcpu_kick(VCPU *cpu);
/* Lock held, vCPUs paused: loads @st before the vCPU runs again, as a CPU
 * reset does (the accelerator's vcpu_reset runs first). */
void vcpu_set_pending_state(VCPU *cpu, const X86CPUState *st);
/* Lock held: stops, joins and frees every vCPU. */
void vcpus_destroy(Machine *m);
/* Lock held, vCPUs paused: reads the state of @cpu. */
bool vcpu_get_state(VCPU *cpu, X86CPUState *st, GError **errp);

#endif
