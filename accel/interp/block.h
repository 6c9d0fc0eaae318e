/*
 * Private to the executor core (exec.c, block-cache.c, flags.c and
 * ops-alu/data/branch.c): translated blocks, the per-vCPU block cache,
 * the shared record of which guest pages hold code, the inline fast
 * paths of the lazy flags, and the specialised handlers that the block
 * builder substitutes for the generic ones of the hottest operations.
 */
#ifndef LEMU_ACCEL_INTERP_BLOCK_H
#define LEMU_ACCEL_INTERP_BLOCK_H

#include "insn.h"

/* ---- translated blocks ---- */

/* Instructions per block, not counting the end marker. */
#define BC_MAX_INSNS    96

/*
 * Code tracking, per guest physical page: which 64-byte granules hold
 * translated code (mask; nonzero means "the page holds code") and a
 * generation that a write into those granules increments, which makes
 * every block built from the page stale on every vCPU. Entries live as
 * long as the InterpShared.
 */
typedef struct CodePage {
    uint64_t mask;
    uint32_t gen;
    uint32_t unused;
} CodePage;

struct InterpBlock {
    /* Key: where and how the block was decoded. */
    uint64_t rip;             /* offset in CS of the first instruction */
    uint64_t cs_base;         /* cpu->seg_base[SEG_CS] */
    uint64_t key;             /* bc_key(): mode bits and the CS limit */
    uint64_t pc;              /* linear address of the first byte */
    uint64_t phys;            /* guest physical address of the first byte */
    uint64_t phys2;           /* page of the last bytes when they cross
                                 into the next page, else -1 */
    CodePage *page[2];        /* NULL for a block that is not cached */
    uint32_t gen[2];          /* page[i]->gen when the block was built */
    InterpBlock *hash_next;
    /* Chaining: blocks that followed this one, in the same page and
     * mode; tried before the jump cache when this block ended at
     * chain_end (an instruction that changes no mode, no mapping). */
    InterpBlock *next[2];     /* &interp_bc_no_block when empty */
    const DecodedInsn *chain_end;     /* NULL: never chain from here */
    uint32_t n_insns;         /* instructions, without the end marker */
    uint32_t exit_limit;      /* instructions up to the first Jcc that may
                                 leave the block early (n_insns if none) */
    uint32_t size;            /* bytes allocated */
    uint32_t code_len;        /* bytes of guest code, kept after insns[] */
    DecodedInsn insns[];      /* n_insns + 1: the last is OP_block_end */
};

/* The guest bytes the block was decoded from. */
static inline uint8_t *bc_block_code(InterpBlock *b)
{
    return (uint8_t *)&b->insns[b->n_insns + 1];
}

/* Jump cache (by linear PC) and hash table (by physical PC) sizes. */
#define BC_JC_BITS      12
#define BC_HASH_BITS    14
/* Past either, the whole cache of the vCPU is flushed. */
#define BC_MAX_BLOCKS   (1u << 16)
#define BC_MAX_BYTES    (48u << 20)

/* The per-vCPU block cache, cpu->bc. */
typedef struct InterpBC {
    InterpBlock *jc[1u << BC_JC_BITS];
    InterpBlock *hash[1u << BC_HASH_BITS];
    unsigned nr_blocks;
    size_t bytes;
    InterpBlock *uncached;    /* block of code outside RAM: run once, freed
                                 at the next lookup */
    InterpBlock *dead;        /* stale blocks, freed at the next flush
                                 (chained blocks may still point to them) */
    uint64_t epoch;           /* code-page epoch this vCPU's TLB has seen */
    const uint64_t *shared_epoch;     /* the InterpCode's epoch */
    bool force_slow;          /* every boundary takes the slow path:
                                 instruction budget or -d cpu */
    unsigned chain_max;       /* blocks a run of the loop may chain
                                 (cpu->chain_left: left in this run) */
    bool log_cpu;             /* -d cpu */
    bool log_in_asm;          /* -d in_asm */
    bool atomic_held;         /* interp_atomic_lock taken by a handler of
                                 the executor core: released on a fault */
    uint64_t insns_built;     /* statistics */
    uint64_t flushes;         /* interp_bc_flush calls: every block freed */
    DecodedInsn scratch[BC_MAX_INSNS + 1];
    uint8_t log_bytes[BC_MAX_INSNS * 15];
} InterpBC;

static inline InterpBC *interp_bc(InterpCPU *cpu)
{
    return (InterpBC *)cpu->bc;
}

/* Everything in the CPU state that changes how bytes decode (or how the
 * builder specialises them): CS size, stack size, mode, CS limit. */
static inline uint64_t bc_key(InterpCPU *cpu)
{
    return (uint64_t)cpu->code_bits | (uint64_t)cpu->stack_bytes << 8 |
           (uint64_t)cpu->pe << 12 | (uint64_t)cpu->vm86 << 13 |
           (uint64_t)cpu->segs[SEG_CS].limit << 32;
}

static inline unsigned bc_jc_hash(uint64_t pc)
{
    return (unsigned)(pc ^ (pc >> BC_JC_BITS)) & ((1u << BC_JC_BITS) - 1);
}

InterpBC *interp_bc_new(InterpCPU *cpu);
void interp_bc_free(InterpCPU *cpu);
/* Drops every block of the vCPU (at a block boundary only). */
void interp_bc_flush(InterpCPU *cpu);
/* The block at cpu->rip, translated if needed; raises #PF/#GP when the
 * first instruction cannot be fetched. At a block boundary only. */
InterpBlock *interp_bc_lookup_slow(InterpCPU *cpu, uint64_t pc,
                                   uint64_t key, InterpBlock *prev);
/* Replays the code pages marked by other vCPUs into this one's TLB. */
void interp_bc_sync_epoch(InterpCPU *cpu);
/*
 * The shared code-page record (shared->code): a radix tree over guest
 * physical page numbers (52-bit addresses: 14 + 13 + 13 bits), and a ring
 * of the pages that got code recently, which the other vCPUs replay into
 * their TLBs (interp_tlb_protect_code_page) when `epoch` moves.
 */
#define CODE_L1_BITS    14
#define CODE_L2_BITS    13
#define CODE_LEAF_BITS  13
#define CODE_RING       256

typedef struct CodeLeaf {
    CodePage pages[1u << CODE_LEAF_BITS];
} CodeLeaf;

typedef struct CodeL2 {
    CodeLeaf *leaf[1u << CODE_L2_BITS];
} CodeL2;

typedef struct InterpCode {
    uint64_t epoch;           /* pages ever appended to the ring */
    GMutex ring_lock;         /* appends */
    uint64_t ring[CODE_RING]; /* guest physical page addresses */
    CodeL2 *l1[1u << CODE_L1_BITS];
} InterpCode;

void *interp_code_new(void);
void interp_code_free(void *code);

static inline uint64_t interp_code_epoch(InterpShared *s)
{
    return __atomic_load_n(&((InterpCode *)s->code)->epoch, __ATOMIC_ACQUIRE);
}

/* Whether no write touched the code of @b (a cached block) since it was
 * built. */
static inline bool bc_gen_ok(const InterpBlock *b)
{
    return __atomic_load_n(&b->page[0]->gen, __ATOMIC_RELAXED) == b->gen[0];
}

/* What an empty next[] slot points to: a RIP no code has (non-canonical
 * in 64-bit mode, above 4 GiB outside it), so that lookups need no NULL
 * check. */
extern InterpBlock interp_bc_no_block;

/*
 * Whether @b may be chained from @prev with no check at all: same page,
 * same generation of it, same mode. insn_chain and insn_side_exit then
 * follow the link without looking at the page: @b can only be stale when
 * @prev is, and this vCPU's own writes to the code of a running block
 * end that block right after the writing instruction; writes of other
 * agents are seen at the run loop's lookup, at most chain_max blocks
 * later.
 */
static inline bool bc_linkable(const InterpBlock *prev, const InterpBlock *b)
{
    return b->page[0] == prev->page[0] && !b->page[1] &&
           b->gen[0] == prev->gen[0] &&
           ((b->pc ^ prev->pc) & INTERP_PAGE_MASK) == 0 &&
           b->key == prev->key && b->cs_base == prev->cs_base;
}

/* Remembers @b as a successor of @prev (which ended at its chain end). */
static inline void bc_link(InterpBlock *prev, InterpBlock *b)
{
    if (bc_linkable(prev, b)) {
        InterpBlock *n0 = prev->next[0];

        /* Slot 0 when free or stale, else slot 1. */
        prev->next[n0 != &interp_bc_no_block && bc_gen_ok(n0)] = b;
    }
}


/*
 * The block at cpu->rip: a successor chained from @prev (the block that
 * just ended normally, or NULL), else the jump cache when it still
 * matches (same key, pages not written since, same linear->physical
 * mapping in the TLB), else the slow path.
 */
static inline InterpBlock *interp_bc_lookup(InterpCPU *cpu,
                                           InterpBlock *prev)
{
    InterpBC *bc = interp_bc(cpu);
    uint64_t cs_base, pc, key;
    InterpBlock *b;

    if (prev) {
        b = prev->next[0];
        if (b->rip == cpu->rip && bc_gen_ok(b)) {
            return b;
        }
        b = prev->next[1];
        if (b->rip == cpu->rip && bc_gen_ok(b)) {
            return b;
        }
    }
    cs_base = cpu->seg_base[SEG_CS];
    pc = (cs_base + cpu->rip) & cpu->lin_mask;
    key = bc_key(cpu);
    b = bc->jc[bc_jc_hash(pc)];
    if (__builtin_expect(b && b->rip == cpu->rip && b->cs_base == cs_base &&
                         b->key == key && bc_gen_ok(b), 1)) {
        InterpTLBEntry *e = interp_tlb_entry(cpu, pc);

        if (__builtin_expect(e->exec_tag == (pc & INTERP_PAGE_MASK) &&
                             ((e->phys ^ b->phys) & INTERP_PAGE_MASK) == 0 &&
                             !b->page[1], 1)) {
            if (prev) {
                bc_link(prev, b);
            }
            return b;
        }
    }
    return interp_bc_lookup_slow(cpu, pc, key, prev);
}

/* What other threads may raise at any time: checked at every block
 * boundary. */
static inline bool interp_async_events(InterpCPU *cpu)
{
    InterpBC *bc = interp_bc(cpu);

    /* A pending IRQ matters only with IF set: a guest that runs with
     * interrupts off and an INTR line up must not lose chaining. STI,
     * POPF and IRET end their block, so a change of IF is seen. */
    return (__atomic_load_n(&cpu->exit_request, __ATOMIC_RELAXED) |
            (__atomic_load_n(&cpu->irq_pending, __ATOMIC_RELAXED) &
             (int)(cpu->rflags >> 9)) |
            __atomic_load_n(&cpu->nmi_pending, __ATOMIC_RELAXED)) ||
           bc->epoch != __atomic_load_n(bc->shared_epoch, __ATOMIC_RELAXED);
}

/*
 * The end of a specialised near branch that ends its block (the block's
 * chain end): goes on at @target, straight into the next block when it
 * is chained to this one and nothing waits at the boundary; else back to
 * the run loop. A tail call, bounded by chain_left where the compiler
 * keeps the frames.
 */
static inline __attribute__((always_inline)) const DecodedInsn *
insn_chain(InterpCPU *cpu, const DecodedInsn *d, uint64_t target)
{
    InterpBlock *b = cpu->cur_block, *n;

    cpu->rip = target;
    /* The asynchronous events wait for the run loop: at most chain_max
     * blocks (see bc_link for the page generations). */
    if (__builtin_expect(--cpu->chain_left == 0, 0)) {
        goto out;
    }
    n = b->next[0];
    if (n->rip != target) {
        n = b->next[1];
        if (n->rip != target) {
            goto out;
        }
    }
    cpu->cur_block = n;
    return n->insns[0].fn(cpu, n->insns);
out:
    /* The run loop links the next block when the block ended here. */
    cpu->cur = d;
    return NULL;
}

/*
 * A specialised Jcc (@j) taken: its target is valid, and the block may go
 * on after it when not taken. The block linked to this exit sits in
 * j->disp (a Jcc has no memory operand; the builder sets it to
 * &interp_bc_no_block, the run loop links it).
 */
static inline __attribute__((always_inline)) const DecodedInsn *
insn_side_exit(InterpCPU *cpu, const DecodedInsn *j)
{
    InterpBlock *n = (InterpBlock *)(uintptr_t)j->disp;

    cpu->rip = j->imm;
    if (__builtin_expect(--cpu->chain_left == 0 || n->rip != j->imm, 0)) {
        cpu->cur = j;
        return NULL;
    }
    cpu->cur_block = n;
    return n->insns[0].fn(cpu, n->insns);
}

/* ---- lazy flags: inline fast paths (flags.c has the general case) ---- */

static inline uint64_t cc_mask(unsigned s)
{
    return ~0ULL >> (64 - (8u << s));
}

static inline int64_t cc_sext(uint64_t v, unsigned s)
{
    unsigned sh = 64 - (8u << s);

    return (int64_t)(v << sh) >> sh;
}

static inline unsigned cc_size_index(unsigned opsize)
{
    return (unsigned)__builtin_ctz(opsize);
}

/* Records an operation for the lazy flags. */
static inline void cc_set(InterpCPU *cpu, uint32_t op, uint64_t dst,
                          uint64_t src)
{
    cpu->cc_dst = dst;
    cpu->cc_src = src;
    cpu->cc_op = op;
}

/* CF, fast for the common producers. */
static inline bool cc_fast_cf(InterpCPU *cpu)
{
    uint32_t op = cpu->cc_op;
    unsigned s = op & 3;
    uint64_t m = cc_mask(s);

    switch (op & ~3u) {
    case CC_OP_SUB:
        return ((cpu->cc_dst + cpu->cc_src) & m) < (cpu->cc_src & m);
    case CC_OP_ADD:
        return (cpu->cc_dst & m) < (cpu->cc_src & m);
    case CC_OP_LOGIC:
        return false;
    case CC_OP_INC:
    case CC_OP_DEC:
        return cpu->cc_src & 1;
    case CC_OP_EFLAGS:
        return cpu->cc_src & RFLAGS_CF;
    default:
        return interp_compute_cf(cpu);
    }
}

bool interp_test_cc_slow(InterpCPU *cpu, int cc);

/* Condition @cc on the lazy flags; @cc is usually a constant, so that
 * only the checks of one condition remain. */
static inline bool cc_fast_test(InterpCPU *cpu, int cc)
{
    uint32_t op = cpu->cc_op;
    unsigned s = op & 3;
    uint64_t m = cc_mask(s);
    uint64_t dst = cpu->cc_dst & m;
    uint64_t sign = 1ULL << ((8u << s) - 1);
    bool r;

    switch (op & ~3u) {
    case CC_OP_SUB: {
        uint64_t src = cpu->cc_src & m;
        uint64_t a = (dst + src) & m;

        switch (cc >> 1) {
        case CC_B >> 1:  r = a < src; break;
        case CC_E >> 1:  r = dst == 0; break;
        case CC_BE >> 1: r = a <= src; break;
        case CC_S >> 1:  r = dst & sign; break;
        case CC_L >> 1:  r = cc_sext(a, s) < cc_sext(src, s); break;
        case CC_LE >> 1: r = cc_sext(a, s) <= cc_sext(src, s); break;
        default:         return interp_test_cc_slow(cpu, cc);
        }
        return r ^ (cc & 1);
    }
    case CC_OP_LOGIC:
        switch (cc >> 1) {
        case CC_O >> 1:  r = false; break;
        case CC_B >> 1:  r = false; break;
        case CC_E >> 1:  r = dst == 0; break;
        case CC_BE >> 1: r = dst == 0; break;
        case CC_S >> 1:  r = dst & sign; break;
        case CC_L >> 1:  r = dst & sign; break;
        case CC_LE >> 1: r = dst == 0 || (dst & sign); break;
        default:         return interp_test_cc_slow(cpu, cc);
        }
        return r ^ (cc & 1);
    case CC_OP_ADD:
    case CC_OP_INC:
    case CC_OP_DEC:
        switch (cc >> 1) {
        case CC_E >> 1:  r = dst == 0; break;
        case CC_S >> 1:  r = dst & sign; break;
        default:         return interp_test_cc_slow(cpu, cc);
        }
        return r ^ (cc & 1);
    default:
        return interp_test_cc_slow(cpu, cc);
    }
}

/* ---- handler helpers ---- */

/* Whether @v is a canonical 48-bit address. */
static inline bool interp_canonical(uint64_t v)
{
    return (uint64_t)((int64_t)(v << 16) >> 16) == v;
}

/*
 * The end of a specialised handler: runs the next instruction of the
 * block directly (threaded code: a tail call, so each handler has its own
 * indirect jump for the branch predictor). The depth is bounded by the
 * block length even where the compiler does not make it a jump. The run
 * loop single-steps with the generic handlers instead.
 *
 * cpu->cur is not kept up to date by the specialised handlers, which
 * neither fault nor write code on their fast paths: whatever needs it
 * sets it first (interp_generic, interp_generic_cur in front of every
 * generic handler of a block, the slow paths, the chaining exits).
 */
static inline __attribute__((always_inline)) const DecodedInsn *
insn_next(InterpCPU *cpu, const DecodedInsn *d)
{
    d++;
    return d->fn(cpu, d);
}

/* The target of a near branch: #GP(0) when it is non-canonical in 64-bit
 * mode, or beyond the CS limit outside it. */
static inline void interp_check_branch(InterpCPU *cpu, uint64_t target)
{
    if (cpu->long64) {
        if (__builtin_expect(!interp_canonical(target), 0)) {
            interp_raise(cpu, EXCP_GP, 0);
        }
    } else if (__builtin_expect(target > cpu->segs[SEG_CS].limit, 0)) {
        interp_raise(cpu, EXCP_GP, 0);
    }
}

/* Whether a near branch to @target can never fault under the block's
 * key (the builder then picks a handler without the check). */
static inline bool interp_branch_ok(InterpCPU *cpu, uint64_t target)
{
    if (cpu->long64) {
        return interp_canonical(target);
    }
    return target <= cpu->segs[SEG_CS].limit;
}

/* Checks [lin, lin + size) for writing without touching it, page by
 * page, so that a fault in the second page reports its first byte in
 * CR2 as hardware does. */
static inline void interp_probe_write(InterpCPU *cpu, uint64_t lin,
                                      unsigned size)
{
    if (INTERP_IN_PAGE(lin, size)) {
        interp_probe_access(cpu, lin, size, ACC_WRITE);
    } else {
        unsigned n1 = INTERP_PAGE_SIZE - (lin & (INTERP_PAGE_SIZE - 1));

        interp_probe_access(cpu, lin, n1, ACC_WRITE);
        interp_probe_access(cpu, (lin + n1) & cpu->lin_mask, size - n1,
                            ACC_WRITE);
    }
}

/* The global lock for locked accesses that are not host-atomic; the
 * landing pad of exec.c releases it if the access faults. */
static inline void interp_locked_begin(InterpCPU *cpu)
{
    interp_atomic_lock(cpu);
    interp_bc(cpu)->atomic_held = true;
}

static inline void interp_locked_end(InterpCPU *cpu)
{
    interp_bc(cpu)->atomic_held = false;
    interp_atomic_unlock(cpu);
}

/* interp_atomic_ptr for RAM in a page that holds translated code. */
void *interp_code_rmw_ptr(InterpCPU *cpu, uint64_t lin, unsigned size);

/*
 * Host pointer for a locked access of @size bytes when the host can do it
 * atomically (naturally aligned RAM in one page, code pages included),
 * else NULL: the caller then loads and stores under interp_locked_begin
 * (MMIO, ROM, page crossings, misaligned accesses). Raises #PF as a write
 * would.
 */
static inline void *interp_atomic_ptr(InterpCPU *cpu, uint64_t lin,
                                      unsigned size)
{
    void *p;

    if (!INTERP_IN_PAGE(lin, size)) {
        interp_probe_write(cpu, lin, size);
    }
    p = interp_get_rmw_ptr(cpu, lin, size);
    if (!p && INTERP_IN_PAGE(lin, size)) {
        p = interp_code_rmw_ptr(cpu, lin, size);
    }
    if (p && ((uintptr_t)p & (size - 1)) == 0) {
        return p;
    }
    return NULL;
}

/* ---- specialisation: faster handlers for common shapes ---- */

/*
 * Memory operands of specialised handlers, by how the linear address is
 * formed (chosen when the block is built):
 *   MK_LBD  64-bit code, 64-bit base + displacement, no FS/GS: linear =
 *           base + disp, no segment check;
 *   MK_LBIS the same with an index: base + index * scale + disp;
 *   MK_LIS  the same without a base: index * scale + disp;
 *   MK_LG   64-bit code, any other addressing, no FS/GS;
 *   MK_PBD  32-bit base + displacement outside 64-bit mode;
 *   MK_PBIS, MK_PIS  the same with an index, without a base;
 *   MK_ANY  the rest (FS/GS, 16-bit addressing, indexes outside 64-bit).
 * The fast path is plain RAM through the TLB; anything else (segment
 * checks, TLB miss, page crossing, MMIO) makes the handler start over as
 * the generic one, which has not changed any state yet.
 */
enum {
    MK_LBD, MK_LBIS, MK_LIS, MK_LG, MK_PBD, MK_PBIS, MK_PIS, MK_ANY, MK_NR
};

static inline int interp_mem_kind(InterpCPU *cpu, const DecodedInsn *d)
{
    bool base = d->base != REG_NONE, index = d->index != REG_NONE;
    int shape = base ? (index ? 1 : 0) : (index ? 2 : 3);

    if (cpu->long64 && d->seg != SEG_FS && d->seg != SEG_GS) {
        return d->addrsize == 8 && shape < 3 ? MK_LBD + shape : MK_LG;
    }
    return d->addrsize == 4 && shape < 3 ? MK_PBD + shape : MK_ANY;
}

/* The TLB fast path for [lin, lin + size): hit when the tag equals the
 * page of the last byte (an access crossing into the next page misses). */
static inline __attribute__((always_inline)) bool
interp_fast_tlb(InterpCPU *cpu, uint64_t lin, unsigned size, bool write,
                void **host)
{
    /* interp_tlb_entry, with the index scaled in one step when entries
     * are a power of two in size. */
    InterpTLBEntry *e =
        (sizeof(InterpTLBEntry) & (sizeof(InterpTLBEntry) - 1)) ?
        interp_tlb_entry(cpu, lin) :
        (InterpTLBEntry *)((char *)cpu->tlb[cpu->mmu_idx] +
                           ((lin >> (12 - __builtin_ctz(sizeof(InterpTLBEntry)))) &
                            ((INTERP_TLB_SIZE - 1) *
                             sizeof(InterpTLBEntry))));

    if ((write ? e->write_tag : e->read_tag) !=
        ((lin + size - 1) & INTERP_PAGE_MASK)) {
        return false;
    }
    *host = (void *)(uintptr_t)(lin + e->addend);
    return true;
}

/* The host address of the @size bytes of @d's memory operand in *@host,
 * or false when the fast path does not apply. @write: checked for
 * writing (which implies reading). */
static inline __attribute__((always_inline)) bool
interp_fast_host(InterpCPU *cpu, const DecodedInsn *d, int kind,
                 unsigned size, bool write, void **host)
{
    uint64_t lin, ea;

    switch (kind) {
    case MK_LBD:
        lin = d->disp + cpu->regs[d->base];
        break;
    case MK_LBIS:
        lin = d->disp + cpu->regs[d->base] + (cpu->regs[d->index] << d->scale);
        break;
    case MK_LIS:
        lin = d->disp + (cpu->regs[d->index] << d->scale);
        break;
    case MK_LG:
        lin = insn_ea(cpu, d);
        break;
    default:
        ea = kind == MK_PBD ? (uint32_t)(d->disp + cpu->regs[d->base]) :
             kind == MK_PBIS ? (uint32_t)(d->disp + cpu->regs[d->base] +
                                          (cpu->regs[d->index] << d->scale)) :
             kind == MK_PIS ? (uint32_t)(d->disp +
                                         (cpu->regs[d->index] << d->scale)) :
             insn_ea(cpu, d);
        if (cpu->seg_check_mask & (1u << d->seg)) {
            return false;
        }
        lin = (cpu->seg_base[d->seg] + ea) & cpu->lin_mask;
        break;
    }
    return interp_fast_tlb(cpu, lin, size, write, host);
}

/* The host address of @size bytes at offset @sp of SS, with a 64-bit
 * stack (@size 8, long mode: flat) or a 32-bit one (@size 4). */
static inline __attribute__((always_inline)) bool
interp_fast_stack(InterpCPU *cpu, uint64_t sp, unsigned size, bool write,
                  void **host)
{
    uint64_t lin = sp;

    if (size != 8) {
        if (cpu->seg_check_mask & (1u << SEG_SS)) {
            return false;
        }
        lin = (cpu->seg_base[SEG_SS] + sp) & cpu->lin_mask;
    }
    return interp_fast_tlb(cpu, lin, size, write, host);
}

/* Loads and stores through a host address from interp_fast_host. */
static inline __attribute__((always_inline)) uint64_t
host_ld(const void *p, unsigned size)
{
    uint8_t v8;
    uint16_t v16;
    uint32_t v32;
    uint64_t v64;

    switch (size) {
    case 1: memcpy(&v8, p, 1); return v8;
    case 2: memcpy(&v16, p, 2); return v16;
    case 4: memcpy(&v32, p, 4); return v32;
    default: memcpy(&v64, p, 8); return v64;
    }
}

static inline __attribute__((always_inline)) void
host_st(void *p, unsigned size, uint64_t v)
{
    uint8_t v8 = v;
    uint16_t v16 = v;
    uint32_t v32 = v;

    switch (size) {
    case 1: memcpy(p, &v8, 1); break;
    case 2: memcpy(p, &v16, 2); break;
    case 4: memcpy(p, &v32, 4); break;
    default: memcpy(p, &v, 8); break;
    }
}

/* The generic handler of @d: the slow path of a specialised one. */
static inline const DecodedInsn *interp_generic(InterpCPU *cpu,
                                                const DecodedInsn *d)
{
    cpu->cur = d;
    return cpu->shared->op_fn[d->op](cpu, d);
}

/* The handler the block builder puts in front of a generic one that a
 * specialised handler may run into: sets cpu->cur, then runs it (#UD for
 * an operation without handler). */
const DecodedInsn *interp_generic_cur(InterpCPU *cpu, const DecodedInsn *d);

/* Each returns a handler for @d specialised under the current mode (the
 * block key), or NULL to keep the generic one. */
InsnHandler interp_specialise_alu(InterpCPU *cpu, const DecodedInsn *d);
InsnHandler interp_specialise_data(InterpCPU *cpu, const DecodedInsn *d);
InsnHandler interp_specialise_branch(InterpCPU *cpu, const DecodedInsn *d,
                                     bool last);
/* ops-fast.c: shifts, IMUL, NEG/NOT, MOVSXD, CMOVcc. */
InsnHandler interp_specialise_fast(InterpCPU *cpu, const DecodedInsn *d);
/* What an instruction does to the arithmetic flags, for the builder's
 * liveness pass: FX_KILL writes all six without reading any and cannot
 * fault; FX_NONE neither reads nor writes them and cannot fault. */
enum { FX_OTHER, FX_KILL, FX_NONE };
int interp_flags_effect(const DecodedInsn *d);
/* A handler for the FX_KILL @d that records no flags, or NULL. */
InsnHandler interp_noflags_handler(InterpCPU *cpu, const DecodedInsn *d);
/* The end marker's handler for a block whose chain end it is. */
InsnHandler interp_block_end_chain(void);
/* A handler doing @d and the Jcc that follows it (d + 1, whose target
 * is valid), or NULL when @d has no fused form. */
InsnHandler interp_fuse_alu_jcc(InterpCPU *cpu, const DecodedInsn *d);

#endif
