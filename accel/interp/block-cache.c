/*
 * Translated blocks: pre-decoded runs of guest instructions, cached per
 * vCPU and found by linear PC (a direct-mapped jump cache) or by guest
 * physical PC (a hash table), plus the machine-wide record of which guest
 * physical pages hold translated code, for self- and cross-modifying code.
 *
 * A block is valid while its key matches the CPU (CS base, RIP, mode bits,
 * CS limit), the linear page still maps the physical page it was decoded
 * from (checked against the TLB's exec entry), and no write touched its
 * code since (per-page generations). Stale blocks are dropped lazily when
 * met, and the whole cache is flushed when it grows too large.
 */
#include <stddef.h>
#include "block.h"
#include "decode.h"
#include "lemu/util/log.h"

#define GRANULE_SHIFT 6          /* 64-byte granules: 64 per page */

InterpBlock interp_bc_no_block = { .rip = 0x8000000000000000ULL };

/* ---- which guest pages hold code (shared by the vCPUs) ---- */

void *interp_code_new(void)
{
    InterpCode *code = g_new0(InterpCode, 1);

    g_mutex_init(&code->ring_lock);
    return code;
}

void interp_code_free(void *opaque)
{
    InterpCode *code = opaque;

    if (!code) {
        return;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(code->l1); i++) {
        CodeL2 *l2 = code->l1[i];

        if (l2) {
            for (size_t j = 0; j < G_N_ELEMENTS(l2->leaf); j++) {
                g_free(l2->leaf[j]);
            }
            g_free(l2);
        }
    }
    g_mutex_clear(&code->ring_lock);
    g_free(code);
}

/* Installs a zeroed node in *@slot unless another thread did first. */
static void *code_node(void **slot, size_t size, bool alloc)
{
    void *node = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    void *expected = NULL;

    if (node || !alloc) {
        return node;
    }
    node = g_malloc0(size);
    if (!__atomic_compare_exchange_n(slot, &expected, node, false,
                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        g_free(node);
        node = expected;
    }
    return node;
}

static CodePage *code_page_find(InterpCode *code, uint64_t phys, bool alloc)
{
    uint64_t pn = phys >> 12;
    CodeL2 *l2;
    CodeLeaf *leaf;

    if (phys >> 52) {
        return NULL;
    }
    l2 = code_node((void **)&code->l1[pn >> (CODE_L2_BITS + CODE_LEAF_BITS)],
                   sizeof(CodeL2), alloc);
    if (!l2) {
        return NULL;
    }
    leaf = code_node((void **)&l2->leaf[(pn >> CODE_LEAF_BITS) &
                                        ((1u << CODE_L2_BITS) - 1)],
                     sizeof(CodeLeaf), alloc);
    if (!leaf) {
        return NULL;
    }
    return &leaf->pages[pn & ((1u << CODE_LEAF_BITS) - 1)];
}

bool interp_page_has_code(InterpShared *s, uint64_t phys)
{
    CodePage *pg = code_page_find(s->code, phys, false);

    return pg && __atomic_load_n(&pg->mask, __ATOMIC_ACQUIRE) != 0;
}

/* The granules of bytes [off, off + len) of a page, len >= 1. */
static uint64_t granule_mask(unsigned off, unsigned len)
{
    unsigned g0 = off >> GRANULE_SHIFT;
    unsigned g1 = (off + len - 1) >> GRANULE_SHIFT;
    uint64_t hi = g1 >= 63 ? ~0ULL : (1ULL << (g1 + 1)) - 1;

    return hi & ~((1ULL << g0) - 1);
}

/*
 * Marks bytes [off, off + len) of page @page_phys as code, before they
 * are read. When the page gets its first code, this vCPU's TLB stops
 * writing it directly at once and the others do at their next block
 * boundary (the ring and epoch).
 */
static void code_mark(InterpCPU *cpu, CodePage *pg, uint64_t page_phys,
                      uint64_t *marked, unsigned off, unsigned len)
{
    InterpCode *code = cpu->shared->code;
    uint64_t bits = granule_mask(off, len);
    uint64_t old;

    if ((*marked & bits) == bits) {
        return;
    }
    *marked |= bits;
    old = __atomic_fetch_or(&pg->mask, bits, __ATOMIC_SEQ_CST);
    if (old) {
        return;
    }
    interp_tlb_protect_code_page(cpu, page_phys);
    g_mutex_lock(&code->ring_lock);
    __atomic_store_n(&code->ring[code->epoch % CODE_RING], page_phys,
                     __ATOMIC_RELAXED);
    __atomic_store_n(&code->epoch, code->epoch + 1, __ATOMIC_RELEASE);
    g_mutex_unlock(&code->ring_lock);
}

void interp_bc_sync_epoch(InterpCPU *cpu)
{
    InterpBC *bc = interp_bc(cpu);
    InterpCode *code = cpu->shared->code;
    uint64_t now = __atomic_load_n(&code->epoch, __ATOMIC_ACQUIRE);

    if (now - bc->epoch > CODE_RING) {
        interp_tlb_flush_all(cpu);
    } else {
        for (uint64_t e = bc->epoch; e < now; e++) {
            interp_tlb_protect_code_page(
                cpu, __atomic_load_n(&code->ring[e % CODE_RING],
                                     __ATOMIC_RELAXED));
        }
        /* Entries overwritten while we read them: be safe. */
        if (__atomic_load_n(&code->epoch, __ATOMIC_ACQUIRE) - bc->epoch >
            CODE_RING) {
            interp_tlb_flush_all(cpu);
        }
    }
    bc->epoch = now;
}

/*
 * A write to bytes [off, off + n) of the page of @pg: when it touches
 * translated code, every block of the page becomes stale. Returns whether
 * it did.
 */
static bool code_page_written(CodePage *pg, unsigned off, unsigned n)
{
    if (!(__atomic_load_n(&pg->mask, __ATOMIC_ACQUIRE) &
          granule_mask(off, n))) {
        return false;
    }
    /* Clear before the generation moves: a block built against the new
     * generation keeps its marks. */
    __atomic_exchange_n(&pg->mask, 0, __ATOMIC_SEQ_CST);
    __atomic_fetch_add(&pg->gen, 1, __ATOMIC_SEQ_CST);
    return true;
}

void interp_code_written(InterpCPU *cpu, uint64_t phys, unsigned len)
{
    InterpCode *code = cpu->shared->code;

    while (len) {
        unsigned off = phys & (INTERP_PAGE_SIZE - 1);
        unsigned n = MIN(len, INTERP_PAGE_SIZE - off);
        CodePage *pg = code_page_find(code, phys, false);

        if (pg && code_page_written(pg, off, n)) {
            InterpBlock *b = cpu->cur_block;

            /* The running block is now stale: end it right after the
             * current instruction. It is freed at a block boundary. */
            if (b && cpu->cur && (b->page[0] == pg || b->page[1] == pg) &&
                cpu->cur >= b->insns && cpu->cur < b->insns + b->n_insns) {
                DecodedInsn *next = (DecodedInsn *)cpu->cur + 1;

                next->fn = op_block_end;
            }
        }
        phys += n;
        len -= n;
    }
}

/*
 * A locked read-modify-write of RAM in a page with translated code (data
 * next to code, as small guests have it): interp_get_rmw_ptr refuses it,
 * but the global lock of the fallback would not be atomic against plain
 * stores of other vCPUs (a spinlock released by MOV while another vCPU's
 * LOCK CMPXCHG writes the old value back would lose the release). So the
 * access uses the host pointer too; the code it may overwrite is dropped
 * first (a write that touches code this way is cross-modifying code).
 */
void *interp_code_rmw_ptr(InterpCPU *cpu, uint64_t lin, unsigned size)
{
    InterpTLBEntry *e = interp_tlb_entry(cpu, lin);
    uint64_t phys;
    void *host;

    /* interp_get_rmw_ptr translated the page for writing just before. */
    if (e->read_tag != (lin & INTERP_PAGE_MASK)) {
        return NULL;                    /* MMIO */
    }
    phys = (e->phys & INTERP_PAGE_MASK) | (lin & (INTERP_PAGE_SIZE - 1));
    if (!interp_page_has_code(cpu->shared, phys)) {
        return NULL;
    }
    host = memory_map_ram_ptr(cpu->shared->env.mem, phys, size, false);
    if (host) {
        interp_code_written(cpu, phys, size);
    }
    return host;
}

void interp_notify_ram_written(InterpShared *s, uint64_t gpa, uint64_t len)
{
    InterpCode *code = s->code;
    uint64_t end = gpa + len;

    if (end < gpa || (end >> 52)) {
        end = 1ULL << 52;
    }
    while (gpa < end) {
        uint64_t pn = gpa >> 12;
        CodeL2 *l2 = __atomic_load_n(
            &code->l1[pn >> (CODE_L2_BITS + CODE_LEAF_BITS)],
            __ATOMIC_ACQUIRE);
        uint64_t span = 1ULL << (12 + CODE_L2_BITS + CODE_LEAF_BITS);
        CodeLeaf *leaf;

        if (!l2) {
            gpa = (gpa & ~(span - 1)) + span;      /* nothing in 256 GiB */
            continue;
        }
        span = 1ULL << (12 + CODE_LEAF_BITS);
        leaf = __atomic_load_n(&l2->leaf[(pn >> CODE_LEAF_BITS) &
                                         ((1u << CODE_L2_BITS) - 1)],
                               __ATOMIC_ACQUIRE);
        if (!leaf) {
            gpa = (gpa & ~(span - 1)) + span;      /* nothing in 32 MiB */
            continue;
        }
        {
            unsigned off = gpa & (INTERP_PAGE_SIZE - 1);
            uint64_t n = MIN(end - gpa, INTERP_PAGE_SIZE - off);

            code_page_written(&leaf->pages[pn & ((1u << CODE_LEAF_BITS) - 1)],
                              off, n);
            gpa += n;
        }
    }
}

/* ---- the per-vCPU cache ---- */

InterpBC *interp_bc_new(InterpCPU *cpu)
{
    InterpBC *bc = g_new0(InterpBC, 1);

    bc->log_cpu = log_enabled(LOG_CPU);
    bc->log_in_asm = log_enabled(LOG_IN_ASM);
    bc->shared_epoch = &((InterpCode *)cpu->shared->code)->epoch;
    bc->epoch = interp_code_epoch(cpu->shared);
    return bc;
}

static unsigned bc_hash(uint64_t phys)
{
    return (unsigned)((phys * 0x9e3779b97f4a7c15ULL) >> (64 - BC_HASH_BITS));
}

/* A stale block leaves the tables; chained blocks may still point to
 * it, so it is freed with the next flush. */
static void bc_retire_block(InterpBC *bc, InterpBlock *b)
{
    unsigned j = bc_jc_hash(b->pc);

    if (bc->jc[j] == b) {
        bc->jc[j] = NULL;
    }
    b->hash_next = bc->dead;
    bc->dead = b;
}

static void bc_free_list(InterpBlock *b)
{
    InterpBlock *next;

    for (; b; b = next) {
        next = b->hash_next;
        g_free(b);
    }
}

void interp_bc_flush(InterpCPU *cpu)
{
    InterpBC *bc = interp_bc(cpu);

    for (size_t i = 0; i < G_N_ELEMENTS(bc->hash); i++) {
        bc_free_list(bc->hash[i]);
        bc->hash[i] = NULL;
    }
    bc_free_list(bc->dead);
    bc->dead = NULL;
    bc->flushes++;
    memset(bc->jc, 0, sizeof(bc->jc));
    bc->nr_blocks = 0;
    bc->bytes = 0;
    g_free(bc->uncached);
    bc->uncached = NULL;
    cpu->cur_block = NULL;
}

void interp_bc_free(InterpCPU *cpu)
{
    if (!cpu->bc) {
        return;
    }
    interp_bc_flush(cpu);
    g_free(cpu->bc);
    cpu->bc = NULL;
}

const DecodedInsn *interp_generic_cur(InterpCPU *cpu, const DecodedInsn *d)
{
    InsnHandler fn = cpu->shared->op_fn[d->op];

    cpu->cur = d;
    return fn ? fn(cpu, d) : cpu->shared->op_fn[OP_ud](cpu, d);
}

/* Picks the specialised handler of a hot operation, if there is one. */
static void bc_specialise(InterpCPU *cpu, DecodedInsn *d, bool last)
{
    InsnHandler h;

    if (d->fn != cpu->shared->op_fn[d->op]) {
        return;
    }
    h = interp_specialise_alu(cpu, d);
    if (!h) {
        h = interp_specialise_data(cpu, d);
    }
    if (!h) {
        h = interp_specialise_branch(cpu, d, last);
    }
    if (!h) {
        h = interp_specialise_fast(cpu, d);
    }
    if (h) {
        d->fn = h;
    }
}

/*
 * Where the block may end for chaining: after a near branch (or the
 * operation fused with a final Jcc), or at the end marker; not after
 * instructions that change the mode, a mapping or the interrupt state.
 */
static const DecodedInsn *bc_chain_end(InterpCPU *cpu, InterpBlock *b)
{
    const DecodedInsn *last = &b->insns[b->n_insns - 1];

    if (!interp_decode_ends_block(last)) {
        return &b->insns[b->n_insns];
    }
    switch (last->op) {
    case OP_jcc:
        /* A specialised Jcc goes on into the end marker when not taken
         * (and leaves by its own link when taken). */
        return interp_branch_ok(cpu, last->imm) ?
               &b->insns[b->n_insns] : last;
    case OP_jmp:
    case OP_jmp_rm:
    case OP_call:
    case OP_call_rm:
    case OP_ret:
    case OP_loop:
    case OP_loope:
    case OP_loopne:
    case OP_jcxz:
        return last;
    default:
        return NULL;
    }
}

/*
 * Builds the block at cpu->rip: linear @pc, guest physical @phys, host
 * bytes @host (valid to the end of the page), or @host NULL for code
 * outside RAM (decoded from interp_fetch_slow, one instruction, not
 * cached). A fault on the first instruction raises; on a later one the
 * block ends before it.
 */
static InterpBlock *bc_build(InterpCPU *cpu, uint64_t pc, uint64_t key,
                             uint64_t phys, const uint8_t *host)
{
    InterpBC *bc = interp_bc(cpu);
    InterpCode *code = cpu->shared->code;
    DecodedInsn *insns = bc->scratch;
    bool cached = host != NULL;
    CodePage *pg[2] = { NULL, NULL };
    uint32_t gen[2] = { 0, 0 };
    uint64_t marked[2] = { 0, 0 };
    uint64_t phys2 = -1ULL;
    uint64_t rip = cpu->rip, lin = pc;
    uint64_t rip_mask = cpu->code_bits == 64 ? ~0ULL :
                        cpu->code_bits == 32 ? 0xffffffffULL : 0xffffULL;
    unsigned n = 0, log_len = 0, exit_limit;
    InterpBlock *b;
    size_t size;

    if (cached) {
        pg[0] = code_page_find(code, phys, true);
        if (!pg[0]) {
            cached = false;
        } else {
            gen[0] = __atomic_load_n(&pg[0]->gen, __ATOMIC_SEQ_CST);
        }
    }
    while (n < BC_MAX_INSNS) {
        unsigned off = lin & (INTERP_PAGE_SIZE - 1);
        unsigned avail = INTERP_PAGE_SIZE - off;
        DecodedInsn *d = &insns[n];
        uint8_t buf[INTERP_MAX_INSN_LEN + 1];
        const uint8_t *bytes;
        bool straddle = false;
        int len;

        if (host) {
            if (cached) {
                code_mark(cpu, pg[0], phys & INTERP_PAGE_MASK, &marked[0],
                          off, MIN(avail, INTERP_MAX_INSN_LEN));
            }
            bytes = host + (lin - pc);
        } else {
            interp_fetch_slow(cpu, (phys & INTERP_PAGE_MASK) + off, buf,
                              MIN(avail, INTERP_MAX_INSN_LEN));
            bytes = buf;
        }
        len = interp_decode(cpu, bytes, MIN(avail, INTERP_MAX_INSN_LEN),
                            rip, d);
        if (len == 0 && avail < INTERP_MAX_INSN_LEN && n > 0) {
            /* An instruction that goes on in the next page starts a block
             * of its own: the others stay in one page, so that the jump
             * cache and chaining take them. */
            break;
        }
        if (len == 0 && avail < INTERP_MAX_INSN_LEN) {
            /* The instruction goes on in the next page. */
            uint64_t lin2 = (lin + avail) & cpu->lin_mask;
            unsigned need = INTERP_MAX_INSN_LEN - avail;
            uint64_t p2;
            const uint8_t *h2 = interp_translate_code(cpu, lin2, &p2, n == 0);

            if (!h2 && (p2 == -1ULL || n > 0)) {
                break;          /* fetch fault, or code outside RAM next */
            }
            if (bytes != buf) {
                memcpy(buf, bytes, avail);
            }
            if (h2 && cached) {
                pg[1] = code_page_find(code, p2, true);
                if (pg[1]) {
                    gen[1] = __atomic_load_n(&pg[1]->gen, __ATOMIC_SEQ_CST);
                    code_mark(cpu, pg[1], p2 & INTERP_PAGE_MASK, &marked[1],
                              0, need);
                } else {
                    cached = false;
                }
            } else {
                cached = false;
            }
            if (h2) {
                memcpy(buf + avail, h2, need);
            } else {
                interp_fetch_slow(cpu, p2 & INTERP_PAGE_MASK, buf + avail,
                                  need);
            }
            phys2 = p2 & INTERP_PAGE_MASK;
            bytes = buf;
            straddle = true;
            len = interp_decode(cpu, buf, INTERP_MAX_INSN_LEN, rip, d);
        }
        if (len <= 0) {
            /* Longer than 15 bytes. */
            if (n == 0) {
                interp_raise(cpu, EXCP_GP, 0);
            }
            break;
        }
        if (!cpu->long64 && rip + len - 1 > cpu->segs[SEG_CS].limit) {
            if (n == 0) {
                interp_raise(cpu, EXCP_GP, 0);
            }
            break;
        }
        /* Kept for -d in_asm and to check the block against RAM later. */
        memcpy(bc->log_bytes + log_len, bytes, len);
        log_len += len;
        n++;
        rip = (rip + len) & rip_mask;
        lin = (lin + len) & cpu->lin_mask;
        /* A Jcc whose target needs no check does not end the block: the
         * handler leaves when it is taken (insn_side_exit). */
        if ((interp_decode_ends_block(d) &&
             !(d->op == OP_jcc && interp_branch_ok(cpu, d->imm))) ||
            straddle || !cached || (lin & (INTERP_PAGE_SIZE - 1)) == 0) {
            break;
        }
    }
    for (unsigned i = 0; i < n; i++) {
        bc_specialise(cpu, &insns[i], i == n - 1);
    }
    /* A flag-setting operation and the Jcc after it run as one handler;
     * a specialised Jcc keeps the block it leaves for in `disp`. */
    exit_limit = n;
    for (unsigned i = 0; i < n; i++) {
        if (insns[i].op != OP_jcc ||
            insns[i].fn == cpu->shared->op_fn[OP_jcc]) {
            continue;
        }
        insns[i].disp = (uintptr_t)&interp_bc_no_block;
        if (i + 1 < n && exit_limit == n) {
            exit_limit = i + 1;
        }
        if (i >= 1 && insns[i - 1].op != OP_jcc) {
            InsnHandler f = interp_fuse_alu_jcc(cpu, &insns[i - 1]);

            if (f) {
                insns[i - 1].fn = f;
            }
        }
    }
    /* Flags that a later instruction overwrites before anything reads
     * them or can fault need no record (the block's end reads all). */
    {
        bool live = true;

        for (unsigned i = n; i-- > 0;) {
            int fx = interp_flags_effect(&insns[i]);

            if (fx == FX_KILL) {
                InsnHandler h = live ? NULL :
                                interp_noflags_handler(cpu, &insns[i]);

                if (h) {
                    insns[i].fn = h;
                }
                live = false;
            } else if (fx != FX_NONE) {
                live = true;
            }
        }
    }
    /* The specialised handlers (and chaining into a block) run on into
     * the next instruction without setting cpu->cur: the generic ones
     * get it set. */
    for (unsigned i = 0; i < n; i++) {
        if (insns[i].fn == cpu->shared->op_fn[insns[i].op] ||
            insns[i].fn == cpu->shared->op_fn[OP_ud]) {
            insns[i].fn = interp_generic_cur;
        }
    }
    insns[n] = (DecodedInsn) {
        .fn = op_block_end,
        .op = OP_block_end,
        .rip = rip,
        .base = REG_NONE,
        .index = REG_NONE,
    };

    size = offsetof(InterpBlock, insns) + (n + 1) * sizeof(DecodedInsn) +
           log_len;
    b = g_malloc(size);
    b->rip = cpu->rip;
    b->cs_base = cpu->seg_base[SEG_CS];
    b->key = key;
    b->pc = pc;
    b->phys = phys;
    b->phys2 = pg[1] ? phys2 : -1ULL;
    b->page[0] = cached ? pg[0] : NULL;
    b->page[1] = cached ? pg[1] : NULL;
    b->gen[0] = gen[0];
    b->gen[1] = gen[1];
    b->hash_next = NULL;
    b->next[0] = b->next[1] = &interp_bc_no_block;
    b->n_insns = n;
    b->exit_limit = exit_limit;
    b->size = size;
    memcpy(b->insns, insns, (n + 1) * sizeof(DecodedInsn));
    b->code_len = log_len;
    memcpy(bc_block_code(b), bc->log_bytes, log_len);
    b->chain_end = cached ? bc_chain_end(cpu, b) : NULL;
    if (b->chain_end == &b->insns[n]) {
        b->insns[n].fn = interp_block_end_chain();
    }
    bc->insns_built += n;
    if (bc->log_in_asm) {
        interp_log_block(cpu, pc, bc->log_bytes, log_len);
    }
    return b;
}

/*
 * Whether a cached block found by physical PC (at host bytes @host) still
 * holds. Its bytes are compared with RAM too: the slow path runs after
 * every TLB flush (a state load, a reset), and this catches code that
 * the host rewrote without interp_notify_ram_written; the page's other
 * blocks are then dropped as well.
 */
static bool bc_block_valid(InterpCPU *cpu, InterpBlock *b,
                           const uint8_t *host)
{
    unsigned len1 = MIN(b->code_len,
                        INTERP_PAGE_SIZE - (b->pc & (INTERP_PAGE_SIZE - 1)));
    const uint8_t *code = bc_block_code(b);

    if (__atomic_load_n(&b->page[0]->gen, __ATOMIC_ACQUIRE) != b->gen[0]) {
        return false;
    }
    if (memcmp(host, code, len1)) {
        code_page_written(b->page[0], b->phys & (INTERP_PAGE_SIZE - 1), len1);
        return false;
    }
    if (b->page[1]) {
        uint64_t lin2 = ((b->pc & INTERP_PAGE_MASK) + INTERP_PAGE_SIZE) &
                        cpu->lin_mask;
        const uint8_t *host2;
        uint64_t p2;

        if (__atomic_load_n(&b->page[1]->gen, __ATOMIC_ACQUIRE) !=
            b->gen[1]) {
            return false;
        }
        host2 = interp_translate_code(cpu, lin2, &p2, false);
        if (!host2 || (p2 & INTERP_PAGE_MASK) != b->phys2) {
            return false;
        }
        if (memcmp(host2, code + len1, b->code_len - len1)) {
            code_page_written(b->page[1], 0, b->code_len - len1);
            return false;
        }
    }
    return true;
}

InterpBlock *interp_bc_lookup_slow(InterpCPU *cpu, uint64_t pc, uint64_t key,
                                   InterpBlock *prev)
{
    InterpBC *bc = interp_bc(cpu);
    uint64_t cs_base = cpu->seg_base[SEG_CS];
    InterpBlock *b, **pp;
    const uint8_t *host;
    uint64_t phys;
    unsigned h;

    /* Faults raised here belong to cpu->rip, not to the last block. */
    cpu->cur = NULL;
    if (bc->uncached) {
        g_free(bc->uncached);
        bc->uncached = NULL;
    }
    if (!cpu->long64 && cpu->rip > cpu->segs[SEG_CS].limit) {
        interp_raise(cpu, EXCP_GP, 0);
    }
    host = interp_translate_code(cpu, pc, &phys, true);
    if (!host) {
        bc->uncached = bc_build(cpu, pc, key, phys, NULL);
        return bc->uncached;
    }
    h = bc_hash(phys);
    for (pp = &bc->hash[h]; (b = *pp) != NULL; pp = &b->hash_next) {
        if (b->phys != phys || b->rip != cpu->rip || b->cs_base != cs_base ||
            b->key != key) {
            continue;
        }
        if (bc_block_valid(cpu, b, host)) {
            bc->jc[bc_jc_hash(pc)] = b;
            if (prev) {
                bc_link(prev, b);
            }
            return b;
        }
        *pp = b->hash_next;
        bc_retire_block(bc, b);
        break;
    }
    if (bc->nr_blocks >= BC_MAX_BLOCKS || bc->bytes >= BC_MAX_BYTES) {
        interp_bc_flush(cpu);
        prev = NULL;
    }
    b = bc_build(cpu, pc, key, phys, host);
    if (!b->page[0]) {
        bc->uncached = b;
        return b;
    }
    b->hash_next = bc->hash[h];
    bc->hash[h] = b;
    bc->jc[bc_jc_hash(pc)] = b;
    bc->nr_blocks++;
    bc->bytes += b->size;
    if (prev) {
        bc_link(prev, b);
    }
    return b;
}
