/*
 * CMPXCHG, CMPXCHG8B/CMPXCHG16B and XADD (Intel SDM vol. 2).
 *
 * With LOCK, a memory operand is updated with a host atomic on the guest
 * page (interp_atomic_ptr), so that it is atomic against the other vCPUs;
 * where the operand is not naturally aligned plain RAM, the load and store
 * run under the global lock (interp_locked_begin). Without LOCK they are an ordinary load and
 * store. CMPXCHG writes its memory destination even when the comparison
 * fails (the old value back), as the SDM says; a register destination is
 * left alone then, as Intel CPUs do (its upper half is not cleared).
 */
/* block.h: interp_atomic_ptr and interp_locked_begin/end, whose lock the
 * dispatch loop releases when an access under it faults. */
#include "block.h"

static inline unsigned size_index(unsigned size)
{
    return __builtin_ctz(size);
}

/* The load of an unlocked read-modify-write: the bytes are translated
 * for writing first, so that a fault has the error code and CR2 of a
 * write, as on hardware. */
static uint64_t rmw_load(InterpCPU *cpu, uint64_t lin, unsigned size)
{
    void *p;

    if (!interp_fast_tlb(cpu, lin, size, true, &p)) {
        interp_probe_write(cpu, lin, size);
    }
    return interp_ld(cpu, lin, size);
}

/* ---- CMPXCHG ---- */

/* Atomic compare-and-exchange of @size bytes at @p; returns the old value. */
static uint64_t host_cmpxchg(void *p, unsigned size, uint64_t expect,
                             uint64_t nv)
{
    switch (size) {
    case 1: {
        uint8_t e = expect;
        __atomic_compare_exchange_n((uint8_t *)p, &e, (uint8_t)nv, false,
                                    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
        return e;
    }
    case 2: {
        uint16_t e = expect;
        __atomic_compare_exchange_n((uint16_t *)p, &e, (uint16_t)nv, false,
                                    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
        return e;
    }
    case 4: {
        uint32_t e = expect;
        __atomic_compare_exchange_n((uint32_t *)p, &e, (uint32_t)nv, false,
                                    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
        return e;
    }
    default: {
        uint64_t e = expect;
        __atomic_compare_exchange_n((uint64_t *)p, &e, nv, false,
                                    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
        return e;
    }
    }
}

const DecodedInsn *op_cmpxchg(InterpCPU *cpu, const DecodedInsn *d)
{
    unsigned size = d->opsize;
    uint64_t acc = insn_get_reg(cpu, R_EAX, size);
    uint64_t src = insn_get_reg(cpu, d->reg, size);
    uint64_t old;

    if (!(d->flags & D_MEM)) {
        old = insn_get_reg(cpu, d->rm, size);
        if (old == acc) {
            insn_set_reg(cpu, d->rm, size, src);
        }
    } else if (d->flags & D_LOCK) {
        uint64_t lin = interp_linear(cpu, d->seg, insn_ea(cpu, d), size,
                                     ACC_WRITE);
        void *p = interp_atomic_ptr(cpu, lin, size);
        if (p) {
            old = host_cmpxchg(p, size, acc, src);
        } else {
            interp_locked_begin(cpu);
            old = interp_ld(cpu, lin, size);
            interp_st(cpu, lin, size, old == acc ? src : old);
            interp_locked_end(cpu);
        }
    } else {
        uint64_t lin = interp_linear(cpu, d->seg, insn_ea(cpu, d), size,
                                     ACC_WRITE);
        old = rmw_load(cpu, lin, size);
        interp_st(cpu, lin, size, old == acc ? src : old);
    }
    if (old != acc) {
        insn_set_reg(cpu, R_EAX, size, old);
    }
    /* The flags of CMP accumulator, destination. */
    cpu->cc_dst = (acc - old) & insn_size_mask(size);
    cpu->cc_src = old;
    cpu->cc_op = CC_OP_SUB + size_index(size);
    return d + 1;
}

/* ---- CMPXCHG8B / CMPXCHG16B ---- */

static bool host_cmpxchg16b(void *p, uint64_t *lo, uint64_t *hi,
                            uint64_t new_lo, uint64_t new_hi)
{
    bool ok;

    __asm__ volatile("lock cmpxchg16b %1"
                     : "=@ccz"(ok), "+m"(*(volatile __int128 *)p),
                       "+a"(*lo), "+d"(*hi)
                     : "b"(new_lo), "c"(new_hi)
                     : "memory");
    return ok;
}

/* Compares rDX:rAX with the 16 bytes at @lin (16-byte aligned), stores
 * rCX:rBX there when equal, else loads them into rDX:rAX. */
static bool cmpxchg16b(InterpCPU *cpu, const DecodedInsn *d, uint64_t lin)
{
    uint64_t lo = cpu->regs[R_EAX], hi = cpu->regs[R_EDX];
    uint64_t new_lo = cpu->regs[R_EBX], new_hi = cpu->regs[R_ECX];
    uint64_t old_lo, old_hi;
    bool eq;

    if (d->flags & D_LOCK) {
        void *p = interp_atomic_ptr(cpu, lin, 16);
        if (p) {
            old_lo = lo;
            old_hi = hi;
            eq = host_cmpxchg16b(p, &old_lo, &old_hi, new_lo, new_hi);
            goto done;
        }
        interp_locked_begin(cpu);
        old_lo = interp_ld64(cpu, lin);
        old_hi = interp_ld64(cpu, lin + 8);
        eq = old_lo == lo && old_hi == hi;
        interp_st64(cpu, lin, eq ? new_lo : old_lo);
        interp_st64(cpu, lin + 8, eq ? new_hi : old_hi);
        interp_locked_end(cpu);
    } else {
        /* Aligned: both halves lie in one page, so the first store cannot
         * succeed while the second faults. */
        void *p;
        if (!interp_fast_tlb(cpu, lin, 16, true, &p)) {
            interp_probe_write(cpu, lin, 16);
        }
        old_lo = interp_ld64(cpu, lin);
        old_hi = interp_ld64(cpu, lin + 8);
        eq = old_lo == lo && old_hi == hi;
        interp_st64(cpu, lin, eq ? new_lo : old_lo);
        interp_st64(cpu, lin + 8, eq ? new_hi : old_hi);
    }
done:
    if (!eq) {
        cpu->regs[R_EAX] = old_lo;
        cpu->regs[R_EDX] = old_hi;
    }
    return eq;
}

/* CMPXCHG8B m64, or CMPXCHG16B m128 (REX.W: opsize 8). Only ZF changes. */
const DecodedInsn *op_cmpxchg8b(InterpCPU *cpu, const DecodedInsn *d)
{
    uint64_t lin, f;
    bool eq;

    if (!(d->flags & D_MEM)) {
        interp_raise(cpu, EXCP_UD, 0);
    }
    if (d->opsize == 8) {
        lin = interp_linear(cpu, d->seg, insn_ea(cpu, d), 16, ACC_WRITE);
        if (lin & 15) {
            interp_raise(cpu, EXCP_GP, 0);
        }
        eq = cmpxchg16b(cpu, d, lin);
    } else {
        uint64_t cmp = ((uint64_t)(uint32_t)cpu->regs[R_EDX] << 32) |
                       (uint32_t)cpu->regs[R_EAX];
        uint64_t nv = ((uint64_t)(uint32_t)cpu->regs[R_ECX] << 32) |
                      (uint32_t)cpu->regs[R_EBX];
        uint64_t old;

        lin = interp_linear(cpu, d->seg, insn_ea(cpu, d), 8, ACC_WRITE);
        if (d->flags & D_LOCK) {
            void *p = interp_atomic_ptr(cpu, lin, 8);
            if (p) {
                old = host_cmpxchg(p, 8, cmp, nv);
            } else {
                interp_locked_begin(cpu);
                old = interp_ld64(cpu, lin);
                interp_st64(cpu, lin, old == cmp ? nv : old);
                interp_locked_end(cpu);
            }
        } else {
            old = rmw_load(cpu, lin, 8);
            interp_st64(cpu, lin, old == cmp ? nv : old);
        }
        eq = old == cmp;
        if (!eq) {
            insn_set_reg(cpu, R_EAX, 4, old);
            insn_set_reg(cpu, R_EDX, 4, old >> 32);
        }
    }
    f = interp_compute_oszapc(cpu) & ~RFLAGS_ZF;
    cpu->cc_src = f | (eq ? RFLAGS_ZF : 0);
    cpu->cc_op = CC_OP_EFLAGS;
    return d + 1;
}

/* ---- XADD ---- */

static uint64_t host_fetch_add(void *p, unsigned size, uint64_t v)
{
    switch (size) {
    case 1: return __atomic_fetch_add((uint8_t *)p, v, __ATOMIC_SEQ_CST);
    case 2: return __atomic_fetch_add((uint16_t *)p, v, __ATOMIC_SEQ_CST);
    case 4: return __atomic_fetch_add((uint32_t *)p, v, __ATOMIC_SEQ_CST);
    default: return __atomic_fetch_add((uint64_t *)p, v, __ATOMIC_SEQ_CST);
    }
}

/* XADD r/m, reg: reg = old r/m, r/m = old r/m + reg. */
const DecodedInsn *op_xadd(InterpCPU *cpu, const DecodedInsn *d)
{
    unsigned size = d->opsize;
    uint64_t src = insn_get_reg(cpu, d->reg, size);
    uint64_t old, sum;

    if (!(d->flags & D_MEM)) {
        old = insn_get_reg(cpu, d->rm, size);
        sum = old + src;
        /* SRC then DEST: with one register for both, it gets the sum. */
        insn_set_reg(cpu, d->reg, size, old);
        insn_set_reg(cpu, d->rm, size, sum);
    } else {
        uint64_t ea = insn_ea(cpu, d);
        if (d->flags & D_LOCK) {
            uint64_t lin = interp_linear(cpu, d->seg, ea, size, ACC_WRITE);
            void *p = interp_atomic_ptr(cpu, lin, size);
            if (p) {
                old = host_fetch_add(p, size, src);
            } else {
                interp_locked_begin(cpu);
                old = interp_ld(cpu, lin, size);
                interp_st(cpu, lin, size, old + src);
                interp_locked_end(cpu);
            }
        } else {
            uint64_t lin = interp_linear(cpu, d->seg, ea, size, ACC_WRITE);
            old = rmw_load(cpu, lin, size);
            interp_st(cpu, lin, size, old + src);
        }
        sum = old + src;
        insn_set_reg(cpu, d->reg, size, old);
    }
    cpu->cc_dst = sum & insn_size_mask(size);
    cpu->cc_src = src;
    cpu->cc_op = CC_OP_ADD + size_index(size);
    return d + 1;
}

const InterpOpEntry interp_ops_atomic[] = {
    { OP_cmpxchg, op_cmpxchg },
    { OP_cmpxchg8b, op_cmpxchg8b },
    { OP_xadd, op_xadd },
    { 0, NULL },
};
