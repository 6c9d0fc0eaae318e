/*
 * The interpreter as lemu's accelerator (-accel interp, alias tcg): one
 * InterpShared per machine over its memory and port maps, one InterpCPU
 * per vCPU, and the run loop that connects a vCPU to the board's
 * userspace interrupt controllers: its local APIC (fixed interrupts, NMI,
 * INIT, SIPI, ExtINT) and, for the boot CPU, the 8259 pair.
 *
 * Interrupts are taken at block boundaries: anything that may raise INTR
 * kicks the vCPU (cpu->irq_pending plus an exit request), and the run loop
 * asks the controllers under the machine lock, acknowledges, then delivers
 * through the IDT without the lock (delivery writes guest memory, which
 * may be MMIO and take the lock itself).
 */
#include <pthread.h>
#include <setjmp.h>
#include "accel/interp/cpu.h"
#include "lemu/hw/i386/pc.h"
#include "lemu/hw/intc/apic.h"
#include "lemu/hw/intc/i8259.h"
#include "lemu/system/machine.h"
#include "lemu/util/log.h"

/* Local APIC register bits the CPU side looks at (SDM vol. 3, 11.4-11.5). */
#define APIC_SVR_ENABLE         (1u << 8)
#define APIC_LVT_MASKED         (1u << 16)
#define APIC_LVT_DM_SHIFT       8
#define APIC_LVT_DM_MASK        7

/* Events from the APIC bus that change the run state (InterpVcpu.events). */
#define INTERP_EV_INIT  (1 << 0)
#define INTERP_EV_SIPI  (1 << 1)

typedef struct InterpVcpu {
    VCPU *vcpu;
    InterpCPU *cpu;
    ApicState *apic;          /* NULL: no local APIC */
    I8259State *pic;          /* NULL: no 8259 */
    int events;               /* atomic INTERP_EV_* */
    uint8_t sipi_vector;      /* (lock) of the last SIPI */
    bool extint_pending;      /* (lock) an ExtINT message: the 8259 has
                                 the vector */
} InterpVcpu;

static InterpShared *interp_shared(Machine *m)
{
    return m->accel_state;
}

static InterpVcpu *interp_vcpu(VCPU *vcpu)
{
    return vcpu->accel;
}

/* ---- the machine ------------------------------------------------------ */

static void interp_env_lock(void *opaque)
{
    machine_lock(opaque);
}

static void interp_env_unlock(void *opaque)
{
    machine_unlock(opaque);
}

/* The guest's clock stops while the VM is paused. */
static int64_t interp_env_clock_ns(void *opaque)
{
    Machine *m = opaque;

    return clock_get_ns(m->loop, CLOCK_VIRTUAL);
}

static bool interp_init(Machine *m, GError **errp)
{
    InterpEnv env = {
        .mem = m->mem,
        .io = m->io,
        .lock = interp_env_lock,
        .unlock = interp_env_unlock,
        .lock_opaque = m,
        .clock_ns = interp_env_clock_ns,
        .clock_opaque = m,
        .nr_cpus = m->cfg.smp,
    };

    m->accel_state = interp_shared_new(&env);
    if (!m->accel_state) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                    "interp: cannot set up the interpreter");
        return false;
    }
    return true;
}

static void interp_cleanup(Machine *m)
{
    if (m->accel_state) {
        interp_shared_free(m->accel_state);
        m->accel_state = NULL;
    }
}

/*
 * Lock held, vCPUs paused: guest memory is about to be re-loaded from the
 * ROM blobs by plain host writes, which the interpreter does not see, so
 * drop the code translated from those ranges first.
 */
static void interp_reset(Machine *m)
{
    for (guint i = 0; i < m->rom_blobs->len; i++) {
        RomBlob *blob = g_ptr_array_index(m->rom_blobs, i);

        interp_notify_ram_written(interp_shared(m), blob->addr,
                                  g_bytes_get_size(blob->data));
    }
}

/* ---- state ------------------------------------------------------------ */

static uint64_t interp_default_apic_base(VCPU *vcpu)
{
    return APIC_DEFAULT_BASE | MSR_APIC_BASE_ENABLE |
           (vcpu->index == 0 ? MSR_APIC_BASE_BSP : 0);
}

/*
 * Lock held. The APIC base and CR8 (the APIC's TPR) live in the local
 * APIC and are moved here, with cpu->apic hidden from cpu-state.c for the
 * call: a state built without an APIC (boot loaders, apic_base 0) must
 * not disable it, as KVM's set_state does too.
 */
static void interp_load_state(InterpVcpu *iv, const X86CPUState *st)
{
    InterpCPU *cpu = iv->cpu;

    cpu->apic = NULL;
    interp_cpu_set_state(cpu, st);
    cpu->apic = iv->apic;
    if (iv->apic) {
        /* A base of 0 is a state built without an APIC: keep it enabled
         * where it belongs. */
        apic_set_base(iv->apic, st->apic_base ? st->apic_base
                                : interp_default_apic_base(iv->vcpu));
        apic_set_tpr(iv->apic, (st->cr8 & 0xf) << 4);
    }
}

static void interp_save_state(InterpVcpu *iv, X86CPUState *st)
{
    InterpCPU *cpu = iv->cpu;

    cpu->apic = NULL;
    interp_cpu_get_state(cpu, st);
    cpu->apic = iv->apic;
    if (iv->apic) {
        st->apic_base = apic_get_base(iv->apic);
        st->cr8 = apic_get_tpr(iv->apic) >> 4;
    }
}

static bool interp_get_state(VCPU *vcpu, X86CPUState *st, GError **errp)
{
    interp_save_state(interp_vcpu(vcpu), st);
    return true;
}

static bool interp_set_state(VCPU *vcpu, const X86CPUState *st,
                             GError **errp)
{
    interp_load_state(interp_vcpu(vcpu), st);
    return true;
}

/* Lock held: no event left from before a reset or INIT. */
static void interp_clear_events(InterpVcpu *iv)
{
    InterpCPU *cpu = iv->cpu;

    g_atomic_int_set(&iv->events, 0);
    iv->extint_pending = false;
    g_atomic_int_set(&cpu->nmi_pending, 0);
    /* Look at the controllers once the vCPU runs again. */
    g_atomic_int_set(&cpu->irq_pending, 1);
    cpu->nmi_blocked = false;
    cpu->irq_inhibit = false;
    cpu->ss_shadow = false;
    cpu->halted = false;
    cpu->shutdown = false;
}

/* Lock held, on the vCPU's thread, before its reset state is loaded. */
static void interp_vcpu_reset(VCPU *vcpu)
{
    InterpVcpu *iv = interp_vcpu(vcpu);

    if (iv->apic) {
        apic_reset_cpu(iv->apic);
    }
    interp_fpu_reset(iv->cpu);
    interp_clear_events(iv);
}

/* ---- events from the local APIC (lock held, any thread) ---------------- */

static bool interp_on_vcpu_thread(VCPU *vcpu)
{
    return vcpu->thread_started && pthread_equal(vcpu->tid, pthread_self());
}

static void interp_apic_kick(void *opaque)
{
    InterpVcpu *iv = opaque;

    if (interp_on_vcpu_thread(iv->vcpu)) {
        /* The vCPU itself changed its APIC (EOI, TPR, self IPI): it looks
         * at the next block boundary, no need to leave the run loop. */
        g_atomic_int_set(&iv->cpu->irq_pending, 1);
        interp_cpu_request_exit(iv->cpu);
        return;
    }
    vcpu_kick(iv->vcpu);
}

static void interp_apic_init(void *opaque)
{
    InterpVcpu *iv = opaque;

    g_atomic_int_or(&iv->events, INTERP_EV_INIT);
    vcpu_kick(iv->vcpu);
}

static void interp_apic_sipi(void *opaque, uint8_t vector)
{
    InterpVcpu *iv = opaque;

    iv->sipi_vector = vector;
    g_atomic_int_or(&iv->events, INTERP_EV_SIPI);
    vcpu_kick(iv->vcpu);
}

static void interp_apic_nmi(void *opaque)
{
    InterpVcpu *iv = opaque;

    g_atomic_int_set(&iv->cpu->nmi_pending, 1);
    vcpu_kick(iv->vcpu);
}

static void interp_apic_extint(void *opaque)
{
    InterpVcpu *iv = opaque;

    iv->extint_pending = true;
    vcpu_kick(iv->vcpu);
}

/* QMP inject-nmi: the same as an NMI from the local APIC. */
static void interp_vcpu_inject_nmi(VCPU *vcpu)
{
    InterpCPU *cpu = interp_vcpu(vcpu)->cpu;

    g_atomic_int_set(&cpu->nmi_pending, 1);
    vcpu_kick(vcpu);
}

static const ApicCpuOps interp_apic_cpu_ops = {
    .kick = interp_apic_kick,
    .init = interp_apic_init,
    .sipi = interp_apic_sipi,
    .nmi = interp_apic_nmi,
    .extint = interp_apic_extint,
};

/* ---- vCPUs ------------------------------------------------------------ */

static bool interp_vcpu_init(VCPU *vcpu, GError **errp)
{
    Machine *m = vcpu->machine;
    InterpVcpu *iv = g_new0(InterpVcpu, 1);

    iv->vcpu = vcpu;
    iv->cpu = interp_cpu_new(interp_shared(m), vcpu->index);
    if (!iv->cpu) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                    "interp: cannot create vCPU %u", vcpu->index);
        g_free(iv);
        return false;
    }
    iv->cpu->vcpu = vcpu;
    iv->apic = pc_cpu_apic(m, vcpu->index);
    iv->pic = pc_pic(m);
    iv->cpu->apic = iv->apic;
    if (iv->apic) {
        apic_connect_cpu(iv->apic, &interp_apic_cpu_ops, iv);
    }
    vcpu->accel = iv;
    return true;
}

static void interp_vcpu_cleanup(VCPU *vcpu)
{
    InterpVcpu *iv = interp_vcpu(vcpu);

    if (!iv) {
        return;
    }
    if (iv->apic) {
        apic_connect_cpu(iv->apic, NULL, NULL);
    }
    interp_cpu_free(iv->cpu);
    g_free(iv);
    vcpu->accel = NULL;
}

static void interp_vcpu_kick(VCPU *vcpu)
{
    InterpCPU *cpu = interp_vcpu(vcpu)->cpu;

    /* A kick may mean a new interrupt: have the run loop look. */
    g_atomic_int_set(&cpu->irq_pending, 1);
    interp_cpu_request_exit(cpu);
}

/*
 * Lock held. Whether the 8259's INTR reaches this CPU: through LINT0 of
 * the boot CPU's APIC when it is an unmasked ExtINT entry; directly while
 * that APIC is disabled (in hardware, or in software as after reset,
 * which KVM and firmware leave in virtual-wire mode); or once for an
 * ExtINT message from the IOAPIC or an IPI.
 */
static bool interp_pic_reaches_cpu(InterpVcpu *iv)
{
    uint32_t lvt0;

    if (iv->extint_pending) {
        return true;
    }
    if (iv->vcpu->index != 0) {
        return false;
    }
    if (!iv->apic || !(apic_get_base(iv->apic) & MSR_IA32_APICBASE_ENABLE) ||
        !(apic_mmio_read(iv->apic, APIC_SVR, 4) & APIC_SVR_ENABLE)) {
        return true;
    }
    lvt0 = apic_mmio_read(iv->apic, APIC_LVT_LINT0, 4);
    return !(lvt0 & APIC_LVT_MASKED) &&
           ((lvt0 >> APIC_LVT_DM_SHIFT) & APIC_LVT_DM_MASK) == APIC_DM_EXTINT;
}

/* Lock held: the INTA cycle. The vector, or -1 when nothing is pending.
 * ExtINT comes before the APIC's fixed interrupts. */
static int interp_acknowledge(InterpVcpu *iv)
{
    if (iv->pic && interp_pic_reaches_cpu(iv)) {
        iv->extint_pending = false;
        if (i8259_has_interrupt(iv->pic)) {
            return i8259_acknowledge(iv->pic);
        }
    }
    iv->extint_pending = false;
    if (iv->apic && apic_has_interrupt(iv->apic)) {
        return apic_acknowledge(iv->apic);
    }
    return -1;
}

/*
 * Delivers external interrupt @vector, or an NMI when @vector < 0. A fault
 * during delivery (a bad IDT entry, a stack that faults) longjmps back
 * here from interp_raise and is delivered in turn, which may end in #DF
 * or a triple fault (cpu->shutdown).
 */
static void interp_deliver(InterpCPU *cpu, int vector)
{
    if (sigsetjmp(cpu->jmp_env, 0)) {
        /* interp_deliver_exception may come back here again. */
        if (!cpu->shutdown) {
            interp_deliver_exception(cpu);
        }
        return;
    }
    if (vector < 0) {
        interp_deliver_nmi(cpu);
    } else {
        interp_deliver_interrupt(cpu, vector);
    }
}

/* At a block boundary: delivers a pending NMI or interrupt. True when it
 * did (cpu->halted is then clear). */
static bool interp_take_interrupt(InterpVcpu *iv)
{
    InterpCPU *cpu = iv->cpu;
    Machine *m = iv->vcpu->machine;
    int vector;

    if (g_atomic_int_get(&cpu->nmi_pending) && !cpu->nmi_blocked) {
        g_atomic_int_set(&cpu->nmi_pending, 0);
        interp_deliver(cpu, -1);
        return true;
    }
    if (!g_atomic_int_get(&cpu->irq_pending) ||
        !(cpu->rflags & RFLAGS_IF) || cpu->irq_inhibit) {
        return false;
    }
    machine_lock(m);
    g_atomic_int_set(&cpu->irq_pending, 0);
    vector = interp_acknowledge(iv);
    if (vector >= 0) {
        /* Another one may wait behind it: look again after this one. */
        g_atomic_int_set(&cpu->irq_pending, 1);
    }
    machine_unlock(m);
    if (vector < 0) {
        return false;
    }
    interp_deliver(cpu, vector);
    return true;
}

/* Lock held. INIT: the CPU and its APIC to their INIT state; an AP then
 * waits for SIPI, the boot CPU starts at the reset vector. */
static void interp_do_init(InterpVcpu *iv)
{
    X86CPUState st;

    x86_cpu_state_reset(&st, iv->vcpu->index == 0);
    if (iv->apic) {
        apic_reset_cpu(iv->apic);
        st.apic_base = apic_get_base(iv->apic);
    }
    interp_clear_events(iv);
    interp_load_state(iv, &st);
}

/* Lock held. SIPI: real mode at vector:0000 (CS.base = vector << 12). */
static void interp_do_sipi(InterpVcpu *iv, uint8_t vector)
{
    X86CPUState st;

    interp_save_state(iv, &st);
    st.segs[SEG_CS].selector = (uint16_t)vector << 8;
    st.segs[SEG_CS].base = (uint64_t)vector << 12;
    st.rip = 0;
    st.mp_state = X86_MP_RUNNABLE;
    interp_load_state(iv, &st);
}

static void interp_handle_events(InterpVcpu *iv)
{
    Machine *m = iv->vcpu->machine;
    int ev;

    machine_lock(m);
    ev = g_atomic_int_and(&iv->events, 0);
    if (ev & INTERP_EV_INIT) {
        interp_do_init(iv);
    }
    /* A SIPI is ignored unless the CPU waits for one. */
    if ((ev & INTERP_EV_SIPI) && iv->cpu->mp_state == X86_MP_WAIT_FOR_SIPI) {
        interp_do_sipi(iv, iv->sipi_vector);
    }
    machine_unlock(m);
}

static VcpuExit interp_vcpu_run(VCPU *vcpu)
{
    InterpVcpu *iv = interp_vcpu(vcpu);
    InterpCPU *cpu = iv->cpu;

    for (;;) {
        InterpExit r;

        /* A kick after this point sets it again (vcpu_kick sets
         * kick_pending first), so none is lost. */
        g_atomic_int_set(&cpu->exit_request, 0);
        if (g_atomic_int_get(&vcpu->kick_pending)) {
            return VCPU_EXIT_KICKED;
        }
        if (g_atomic_int_get(&iv->events)) {
            interp_handle_events(iv);
        }
        if (cpu->mp_state == X86_MP_WAIT_FOR_SIPI) {
            return VCPU_EXIT_HALTED;
        }
        if (interp_take_interrupt(iv) && cpu->shutdown) {
            r = INTERP_EXIT_SHUTDOWN;
        } else {
            r = interp_cpu_exec(cpu, 0);
        }

        switch (r) {
        case INTERP_EXIT_HLT:
            /* HLT has retired: the shadow of an STI before it is over. */
            cpu->irq_inhibit = false;
            g_atomic_int_set(&cpu->irq_pending, 1);
            if (interp_take_interrupt(iv)) {
                if (cpu->shutdown) {
                    return VCPU_EXIT_SHUTDOWN;
                }
                continue;
            }
            if (g_atomic_int_get(&iv->events)) {
                continue;
            }
            /* Any interrupt from now on kicks the vCPU awake. */
            return VCPU_EXIT_HALTED;
        case INTERP_EXIT_SHUTDOWN:
            /* excp.c has logged the triple fault; the machine resets. */
            return VCPU_EXIT_SHUTDOWN;
        case INTERP_EXIT_REQUEST:
        case INTERP_EXIT_EXCEPTION:
        case INTERP_EXIT_INSN_LIMIT:
        default:
            break;
        }
    }
}

const AccelOps interp_accel_ops = {
    .name = "interp",
    .init = interp_init,
    .cleanup = interp_cleanup,
    .vcpu_init = interp_vcpu_init,
    .vcpu_cleanup = interp_vcpu_cleanup,
    .vcpu_run = interp_vcpu_run,
    .vcpu_kick = interp_vcpu_kick,
    .get_state = interp_get_state,
    .set_state = interp_set_state,
    .vcpu_reset = interp_vcpu_reset,
    .reset = interp_reset,
    .vcpu_inject_nmi = interp_vcpu_inject_nmi,
    .set_irq = NULL,       /* the board routes GSIs itself */
    .has_irqchip = false,
};
