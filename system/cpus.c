/*
 * vCPU threads, independent of the accelerator.
 *
 * Each vCPU thread loops: park while a stop is requested (or while halted
 * without an in-kernel irqchip), load a pending reset state, then run guest
 * code through the accelerator without the machine lock until it returns.
 * Every flag is read and written under the machine lock; a kick (flag plus
 * accelerator-specific wake-up) makes a running vCPU come back to look at
 * them.
 */
#include <unistd.h>
#include <errno.h>
#include <string.h>
#include "lemu/system/machine.h"
#include "lemu/util/log.h"

static void vcpu_sig_ipi_handler(int sig)
{
    /* Nothing to do: delivery alone interrupts KVM_RUN with EINTR. */
}

/* Process-wide and idempotent: the same handler every time. */
static void vcpu_install_sig_ipi(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = vcpu_sig_ipi_handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;   /* no SA_RESTART: blocking calls must see EINTR */
    sigaction(VCPU_SIG_IPI, &sa, NULL);
}

/* Lock held. Marks @cpu parked and tells whoever waits in pause_all. */
static void vcpu_mark_stopped(VCPU *cpu)
{
    if (!cpu->stopped) {
        cpu->stopped = true;
        g_cond_broadcast(&cpu->machine->vcpu_cond);
    }
}

static bool vcpu_should_wait(VCPU *cpu)
{
    if (cpu->quit_requested) {
        return false;
    }
    if (cpu->stop_requested) {
        return true;
    }
    return cpu->halted && !g_atomic_int_get(&cpu->kick_pending);
}

/* Lock held: loads the pending reset state. False if the accelerator
 * refused it (reported as an internal error). */
static bool vcpu_load_pending_state(VCPU *cpu)
{
    Machine *m = cpu->machine;
    GError *err = NULL;

    cpu->state_pending = false;
    if (m->accel->vcpu_reset) {
        m->accel->vcpu_reset(cpu);
    }
    if (!m->accel->set_state(cpu, &cpu->pending_state, &err)) {
        machine_request_internal_error(m, "vCPU %u: cannot load its reset "
                                       "state: %s", cpu->index, err->message);
        g_error_free(err);
        return false;
    }
    return true;
}

static gpointer vcpu_thread_fn(gpointer opaque)
{
    VCPU *cpu = opaque;
    Machine *m = cpu->machine;
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, VCPU_SIG_IPI);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);

    machine_lock(m);
    cpu->tid = pthread_self();
    cpu->os_tid = (int)gettid();
    cpu->thread_started = true;
    while (!cpu->quit_requested) {
        VcpuExit exit;

        if (vcpu_should_wait(cpu)) {
            if (cpu->stop_requested) {
                vcpu_mark_stopped(cpu);
            }
            g_cond_wait(&cpu->wake, &m->lock);
            continue;
        }
        cpu->stopped = false;
        cpu->halted = false;
        g_atomic_int_set(&cpu->kick_pending, 0);
        if (cpu->state_pending && !vcpu_load_pending_state(cpu)) {
            cpu->stop_requested = true;
            continue;
        }

        machine_unlock(m);
        exit = m->accel->vcpu_run(cpu);
        machine_lock(m);

        switch (exit) {
        case VCPU_EXIT_KICKED:
            break;
        case VCPU_EXIT_HALTED:
            cpu->halted = true;
            break;
        case VCPU_EXIT_SHUTDOWN:
            /* Triple fault: the main loop resets the machine, which
             * un-parks us with a fresh state. */
            machine_request_reset(m, SHUTDOWN_CAUSE_GUEST_RESET);
            cpu->stop_requested = true;
            break;
        case VCPU_EXIT_ERROR:
            /* Already reported through machine_request_internal_error. */
            cpu->stop_requested = true;
            break;
        }
    }
    cpu->thread_started = false;
    vcpu_mark_stopped(cpu);
    machine_unlock(m);
    return NULL;
}

static void vcpu_free(VCPU *cpu)
{
    g_cond_clear(&cpu->wake);
    g_free(cpu);
}

bool vcpus_create(Machine *m, GError **errp)
{
    unsigned n = m->cfg.smp;

    g_assert(m->accel && m->nr_vcpus == 0);
    if (n < 1 || n > LEMU_MAX_VCPUS) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "-smp %u: the number of vCPUs must be 1 to %d", n,
                    LEMU_MAX_VCPUS);
        return false;
    }
    vcpu_install_sig_ipi();

    for (unsigned i = 0; i < n; i++) {
        VCPU *cpu = g_new0(VCPU, 1);
        g_autofree char *name = g_strdup_printf("vcpu %u", i);
        GError *err = NULL;

        cpu->machine = m;
        cpu->index = i;
        cpu->stop_requested = true;   /* parked until machine_start */
        g_cond_init(&cpu->wake);
        if (!m->accel->vcpu_init(cpu, errp)) {
            vcpu_free(cpu);
            goto fail;
        }
        m->vcpus[i] = cpu;
        m->nr_vcpus = i + 1;

        cpu->thread = g_thread_try_new(name, vcpu_thread_fn, cpu, &err);
        if (!cpu->thread) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                        "cannot create the thread of vCPU %u: %s", i,
                        err->message);
            g_error_free(err);
            goto fail;
        }
    }
    /* Return with every thread parked, so that cpu->tid is valid for
     * kicks and the caller may load states. */
    for (unsigned i = 0; i < n; i++) {
        while (!m->vcpus[i]->stopped) {
            g_cond_wait(&m->vcpu_cond, &m->lock);
        }
    }
    return true;

fail:
    vcpus_destroy(m);
    return false;
}

static void vcpu_assert_not_vcpu_thread(Machine *m)
{
    for (unsigned i = 0; i < m->nr_vcpus; i++) {
        VCPU *cpu = m->vcpus[i];
        /* A vCPU cannot wait for itself to park. */
        g_assert(!cpu->thread_started ||
                 !pthread_equal(cpu->tid, pthread_self()));
    }
}

void vcpus_pause_all(Machine *m)
{
    vcpu_assert_not_vcpu_thread(m);
    for (unsigned i = 0; i < m->nr_vcpus; i++) {
        m->vcpus[i]->stop_requested = true;
        vcpu_kick(m->vcpus[i]);
    }
    for (unsigned i = 0; i < m->nr_vcpus; i++) {
        while (!m->vcpus[i]->stopped) {
            g_cond_wait(&m->vcpu_cond, &m->lock);
        }
    }
}

void vcpus_request_stop(Machine *m)
{
    for (unsigned i = 0; i < m->nr_vcpus; i++) {
        m->vcpus[i]->stop_requested = true;
        vcpu_kick(m->vcpus[i]);
    }
}

void vcpus_resume_all(Machine *m)
{
    for (unsigned i = 0; i < m->nr_vcpus; i++) {
        m->vcpus[i]->stop_requested = false;
        g_cond_signal(&m->vcpus[i]->wake);
    }
}

void vcpu_kick(VCPU *cpu)
{
    g_atomic_int_set(&cpu->kick_pending, 1);
    if (cpu->thread_started) {
        cpu->machine->accel->vcpu_kick(cpu);
    }
    /* Wakes a halted vCPU; reliable when the caller holds the lock, which
     * interrupt delivery from device code always does. */
    g_cond_signal(&cpu->wake);
}

void vcpu_set_pending_state(VCPU *cpu, const X86CPUState *st)
{
    cpu->pending_state = *st;
    cpu->state_pending = true;
}

bool vcpu_get_state(VCPU *cpu, X86CPUState *st, GError **errp)
{
    /* A state not yet loaded is the one the vCPU will run with. */
    if (cpu->state_pending) {
        *st = cpu->pending_state;
        return true;
    }
    return cpu->machine->accel->get_state(cpu, st, errp);
}

void vcpus_destroy(Machine *m)
{
    unsigned n = m->nr_vcpus;

    vcpu_assert_not_vcpu_thread(m);
    for (unsigned i = 0; i < n; i++) {
        VCPU *cpu = m->vcpus[i];
        cpu->quit_requested = true;
        vcpu_kick(cpu);
    }
    /* The threads need the lock to notice and leave. */
    machine_unlock(m);
    for (unsigned i = 0; i < n; i++) {
        VCPU *cpu = m->vcpus[i];
        if (cpu->thread) {
            g_thread_join(cpu->thread);
        }
    }
    machine_lock(m);
    for (unsigned i = 0; i < n; i++) {
        VCPU *cpu = m->vcpus[i];
        cpu->thread = NULL;
        cpu->thread_started = false;
        m->accel->vcpu_cleanup(cpu);
        vcpu_free(cpu);
        m->vcpus[i] = NULL;
    }
    m->nr_vcpus = 0;
}
