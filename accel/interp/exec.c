/*
 * The interpreter's run loop: vCPU creation, the landing pad for
 * exceptions raised by handlers (interp_raise longjmps here), and the
 * dispatch of pre-decoded blocks with the checks due at each block
 * boundary (exit requests, interrupts, NMIs, HLT, the instruction budget,
 * single-stepping).
 */
#include <stdlib.h>
#include "block.h"
#include "lemu/util/log.h"

#define DR6_BS (1ULL << 14)

InterpShared *interp_shared_new(const InterpEnv *env)
{
    InterpShared *s = g_new0(InterpShared, 1);

    s->env = *env;
    s->nr_cpus = env->nr_cpus ? env->nr_cpus : 1;
    s->code = interp_code_new();
    interp_ops_fill(s);
    return s;
}

void interp_shared_free(InterpShared *s)
{
    if (!s) {
        return;
    }
    interp_code_free(s->code);
    g_free(s);
}

InterpCPU *interp_cpu_new(InterpShared *s, unsigned index)
{
    InterpCPU *cpu;
    X86CPUState st;
    void *mem;

    if (index >= G_N_ELEMENTS(s->cpus) || s->cpus[index]) {
        g_warning("interp: vCPU index %u is out of range or in use", index);
        return NULL;
    }
    /* Cache-line aligned: the hot registers share the first lines. */
    if (posix_memalign(&mem, 64, sizeof(InterpCPU))) {
        g_error("interp: out of memory for a vCPU");
    }
    cpu = mem;
    memset(cpu, 0, sizeof(*cpu));
    cpu->shared = s;
    cpu->index = index;
    cpu->df = 1;
    cpu->rflags = RFLAGS_FIXED;
    cpu->lin_mask = 0xffffffffULL;
    cpu->cc_op = CC_OP_EFLAGS;
    cpu->excp.vector = -1;
    cpu->excp.error_code = -1;
    cpu->excp.delivering = -1;
    cpu->last_vector = -1;
    cpu->last_error_code = -1;
    for (unsigned m = 0; m < MMU_NR; m++) {
        for (unsigned i = 0; i < INTERP_TLB_SIZE; i++) {
            InterpTLBEntry *e = &cpu->tlb[m][i];

            e->read_tag = e->write_tag = e->exec_tag = INTERP_TLB_INVALID;
        }
    }
    cpu->bc = interp_bc_new(cpu);

    x86_cpu_state_reset(&st, index == 0);
    interp_cpu_set_state(cpu, &st);
    __atomic_store_n(&s->cpus[index], cpu, __ATOMIC_RELEASE);
    return cpu;
}

void interp_cpu_free(InterpCPU *cpu)
{
    if (!cpu) {
        return;
    }
    if (cpu->shared->cpus[cpu->index] == cpu) {
        __atomic_store_n(&cpu->shared->cpus[cpu->index], NULL,
                         __ATOMIC_RELEASE);
    }
    interp_bc_free(cpu);
    /* mmu.c's scratch: a plain g_new'ed block (see mmu.c). */
    g_free(cpu->mmu);
    free(cpu);
}

void interp_cpu_set_stop_on_exception(InterpCPU *cpu, bool stop)
{
    cpu->stop_on_exception = stop;
}

void interp_cpu_last_exception(InterpCPU *cpu, int *vector,
                               int64_t *error_code)
{
    *vector = cpu->last_vector;
    *error_code = cpu->last_error_code;
}

void interp_cpu_request_exit(InterpCPU *cpu)
{
    __atomic_store_n(&cpu->exit_request, 1, __ATOMIC_RELEASE);
}

/* ---- the run loop ---- */

/*
 * Blocks a run of the loop may chain: the latency of the asynchronous
 * events (insn_chain does not look at them), and the depth of the
 * handlers' tail calls where the compiler keeps their frames (without
 * optimisation, or with ASan).
 */
#if defined(__OPTIMIZE__) && !defined(__SANITIZE_ADDRESS__)
#define INTERP_CHAIN_MAX 512
#else
#define INTERP_CHAIN_MAX 64
#endif

/* Runs the whole block. */
static inline void run_block(InterpCPU *cpu, const InterpBlock *b)
{
    const DecodedInsn *d = b->insns;

    do {
        cpu->cur = d;
        d = d->fn(cpu, d);
    } while (d);
}

/* Runs at most @n instructions of the block with the generic handlers
 * (the specialised ones run on into the next instruction, fused ones do
 * two); cpu->rip exact after. */
static void run_insns(InterpCPU *cpu, const InterpBlock *b, uint64_t n)
{
    const DecodedInsn *d = b->insns;

    while (n--) {
        InsnHandler fn = cpu->shared->op_fn[d->op];

        /* The end marker, or an instruction cut off by a code write. */
        if (!fn || d->fn == op_block_end) {
            fn = d->fn;
        }
        cpu->cur = d;
        d = fn(cpu, d);
        if (!d) {
            return;
        }
    }
    cpu->rip = d->rip;
}

static inline bool irq_deliverable(InterpCPU *cpu)
{
    return __atomic_load_n(&cpu->irq_pending, __ATOMIC_RELAXED) &&
           (cpu->rflags & RFLAGS_IF);
}

static inline bool nmi_deliverable(InterpCPU *cpu)
{
    return __atomic_load_n(&cpu->nmi_pending, __ATOMIC_RELAXED) &&
           !cpu->nmi_blocked;
}

/*
 * The rare checks of a block boundary. Returns an exit reason, or -1 to
 * run the next block; *limit becomes the number of instructions to run
 * (0: the whole block).
 */
static int boundary_slow(InterpCPU *cpu, uint64_t *limit)
{
    InterpBC *bc = interp_bc(cpu);
    bool inhibit = cpu->irq_inhibit;

    cpu->cur = NULL;
    *limit = 0;
    if (__atomic_load_n(&cpu->exit_request, __ATOMIC_ACQUIRE)) {
        __atomic_store_n(&cpu->exit_request, 0, __ATOMIC_RELAXED);
        return INTERP_EXIT_REQUEST;
    }
    if (nmi_deliverable(cpu) || (!inhibit && irq_deliverable(cpu))) {
        return INTERP_EXIT_REQUEST;
    }
    if (cpu->halted) {
        return INTERP_EXIT_HLT;
    }
    if (cpu->insn_bounded) {
        if (cpu->insn_budget == 0) {
            return INTERP_EXIT_INSN_LIMIT;
        }
        *limit = cpu->insn_budget;
    }
    if (inhibit) {
        /* The shadow covers one instruction: run just that one when an
         * interrupt waits behind it. */
        cpu->irq_inhibit = false;
        if (irq_deliverable(cpu)) {
            *limit = 1;
        }
    }
    if (cpu->rflags & RFLAGS_TF) {
        *limit = 1;
    }
    if (bc->epoch != interp_code_epoch(cpu->shared)) {
        interp_bc_sync_epoch(cpu);
    }
    if (bc->log_cpu) {
        interp_log_cpu(cpu);
    }
    return -1;
}

/*
 * Whether the boundary needs boundary_slow(). After a block that ended
 * with a near branch (@chained) only the asynchronous events can have
 * changed: HLT, STI/MOV SS shadows and TF changes end their block with
 * an instruction that is never a chain end.
 */
static inline bool boundary_needs_slow(InterpCPU *cpu, bool chained)
{
    if (chained) {
        return interp_async_events(cpu);
    }
    return interp_async_events(cpu) || cpu->halted || cpu->irq_inhibit ||
           interp_bc(cpu)->force_slow || (cpu->rflags & RFLAGS_TF);
}

static __attribute__((noinline)) InterpExit exec_loop(InterpCPU *cpu)
{
    InterpBC *bc = interp_bc(cpu);
    InterpBlock *prev = NULL, *side_from = NULL;
    DecodedInsn *side = NULL;
    uint64_t flushes = 0;

    for (;;) {
        uint64_t limit = 0;
        InterpBlock *b;

        if (__builtin_expect(boundary_needs_slow(cpu, prev || side), 0)) {
            int r = boundary_slow(cpu, &limit);

            if (r >= 0) {
                return (InterpExit)r;
            }
            prev = NULL;
            side = NULL;
        }
        if (side) {
            flushes = bc->flushes;
        }
        b = interp_bc_lookup(cpu, prev);
        if (side) {
            /* Link the Jcc that left side_from early (insn_side_exit),
             * unless the lookup flushed the cache. */
            if (flushes == bc->flushes && bc_linkable(side_from, b)) {
                side->disp = (uintptr_t)b;
            }
            side = NULL;
        }
        cpu->cur_block = b;
        if (__builtin_expect(limit == 0, 1)) {
            const DecodedInsn *cur;

            cpu->chain_left = bc->chain_max;
            run_block(cpu, b);
            /* Maybe a later block, chained from the first. */
            b = cpu->cur_block;
            cur = cpu->cur;
            prev = NULL;
            if (cur == b->chain_end) {
                prev = b;
            } else if (b->chain_end && cur >= b->insns &&
                       cur < b->insns + b->n_insns && cur->op == OP_jcc &&
                       cur->fn != cpu->shared->op_fn[OP_jcc] &&
                       cpu->rip == cur->imm) {
                /* A specialised Jcc, taken. */
                side = (DecodedInsn *)cur;
                side_from = b;
            }
            continue;
        }
        prev = NULL;
        if (limit > b->n_insns) {
            limit = b->n_insns;
        }
        /* Under a budget the instructions after a Jcc that may leave
         * early run in the next round. */
        if (limit > b->exit_limit) {
            limit = b->exit_limit;
        }
        if (cpu->insn_bounded) {
            cpu->insn_budget -= limit;
        }
        if (cpu->rflags & RFLAGS_TF) {
            const DecodedInsn *first = b->insns;

            run_insns(cpu, b, 1);
            /* MOV SS and POP SS hold the trap back until after the next
             * instruction (SDM 6.8.3); then TF traps again. */
            if ((first->op == OP_mov_to_seg || first->op == OP_pop_seg) &&
                first->cc == SEG_SS && cpu->irq_inhibit) {
                continue;
            }
            /* A single-step trap after the instruction (SDM 17.3.1.4). */
            cpu->cur = NULL;
            cpu->cur_block = NULL;
            cpu->dr[6] |= DR6_BS;
            interp_raise(cpu, EXCP_DB, 0);
        }
        if (limit == b->n_insns) {
            /* The whole block: the fast handlers count as well (no
             * chaining here: chain_left is 1 under a budget). */
            cpu->chain_left = 1;
            run_block(cpu, b);
        } else {
            run_insns(cpu, b, limit);
        }
    }
}

/* After interp_raise: stop, or deliver and go on. Returns true with
 * *exit set when interp_cpu_exec must return. */
static bool exec_after_exception(InterpCPU *cpu, InterpExit *exit)
{
    InterpBC *bc = interp_bc(cpu);

    cpu->cur = NULL;
    cpu->cur_block = NULL;
    if (bc->atomic_held) {
        interp_locked_end(cpu);
    }
    if (cpu->shutdown) {
        *exit = INTERP_EXIT_SHUTDOWN;
        return true;
    }
    if (cpu->stop_on_exception) {
        cpu->last_vector = cpu->excp.vector;
        cpu->last_error_code = cpu->excp.error_code;
        cpu->excp.vector = -1;
        *exit = INTERP_EXIT_EXCEPTION;
        return true;
    }
    /* May raise again (#DF, triple fault): back to the landing pad. */
    interp_deliver_exception(cpu);
    if (cpu->shutdown) {
        *exit = INTERP_EXIT_SHUTDOWN;
        return true;
    }
    return false;
}

InterpExit interp_cpu_exec(InterpCPU *cpu, uint64_t max_insns)
{
    InterpExit exit;

    cpu->insn_bounded = max_insns != 0;
    cpu->insn_budget = max_insns;
    interp_bc(cpu)->force_slow = cpu->insn_bounded ||
                                 interp_bc(cpu)->log_cpu;
    /* Chaining skips the boundary checks that force_slow asks for. */
    interp_bc(cpu)->chain_max = interp_bc(cpu)->force_slow ? 1 :
                                INTERP_CHAIN_MAX;
    cpu->cur = NULL;
    if (cpu->shutdown) {
        return INTERP_EXIT_SHUTDOWN;
    }
    if (sigsetjmp(cpu->jmp_env, 0) != 0) {
        if (exec_after_exception(cpu, &exit)) {
            cpu->insn_bounded = false;
            return exit;
        }
    }
    exit = exec_loop(cpu);
    cpu->cur = NULL;
    cpu->cur_block = NULL;
    cpu->insn_bounded = false;
    return exit;
}
