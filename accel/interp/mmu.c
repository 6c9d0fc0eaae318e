/*
 * The interpreter's MMU: page walks (paging off, 32-bit, PAE, 4-level),
 * the software TLB behind the inline fast paths of cpu.h, and the slow
 * paths for everything the fast paths do not handle: MMIO and the local
 * APIC, ROM, unmapped addresses, accesses crossing a page, writes to pages
 * holding translated code, accessed/dirty bit updates.
 *
 * Intel SDM vol. 3, chapter 4 (paging).
 */
#include <inttypes.h>
#include "cpu.h"
#include "lemu/hw/intc/apic.h"
#include "lemu/util/log.h"

/* The physical address width CPUID 0x80000008 reports. */
#define MMU_PHYS_BITS   40
#define MMU_PHYS_MASK   ((1ULL << MMU_PHYS_BITS) - 1)

/* Paging-structure entry bits. */
#define PTE_P       (1ULL << 0)
#define PTE_W       (1ULL << 1)
#define PTE_U       (1ULL << 2)
#define PTE_A       (1ULL << 5)
#define PTE_D       (1ULL << 6)
#define PTE_PS      (1ULL << 7)
#define PTE_G       (1ULL << 8)
#define PTE_XD      (1ULL << 63)
/* Address bits of a wide entry pointing to a 4 KiB table or page. */
#define PTE_ADDR    (MMU_PHYS_MASK & INTERP_PAGE_MASK)

/* Reserved bits of wide entries beyond MAXPHYADDR: PAE paging reserves
 * 62:M, 4-level paging 51:M (62:52 are ignored there). */
#define PAE_RSVD_HIGH    (0x7fffffffffffffffULL & ~MMU_PHYS_MASK)
#define LM_RSVD_HIGH     (0x000fffffffffffffULL & ~MMU_PHYS_MASK)
/* PAE PDPTE: bits 2:1 and 8:5 are reserved too (and XD does not exist). */
#define PDPTE_RSVD_LOW   0x1e6ULL

/*
 * InterpTLBEntry.flags: the linear page in the high bits (meaningful with
 * TLBF_VALID), what the entry's mmu_idx may do with it in the low bits.
 * The translation is cached even when a tag has to stay invalid, so the
 * slow paths of MMIO pages do not walk again.
 */
#define TLBF_VALID   (1u << 0)
#define TLBF_GLOBAL  (1u << 1)
#define TLBF_READ    (1u << 2)
#define TLBF_WRITE   (1u << 3)
#define TLBF_EXEC    (1u << 4)
#define TLBF_DIRTY   (1u << 5)    /* D already set: writes need no walk */
#define TLBF_RAM     (1u << 6)    /* addend is valid, writable memory */
#define TLBF_ROM     (1u << 7)    /* addend is valid, writes dropped */
#define TLBF_LARGE_SHIFT 8        /* log2(page size) - 12, 0 for 4 KiB */
#define TLBF_LARGE_MASK  (0xfu << TLBF_LARGE_SHIFT)

/* A fault found by a walk: the #PF error code with this marker. */
#define MMU_FAULT    (1u << 31)
#define MMU_FAULT_GP (1u << 30)   /* non-canonical: #GP(0) instead */

typedef struct MmuWalk {
    uint64_t phys;          /* 4 KiB page of the address */
    unsigned prot;          /* TLBF_READ/WRITE/EXEC for this privilege */
    bool dirty;
    bool global;
    unsigned page_shift;    /* 12, 21, 22 or 30 */
} MmuWalk;

/* One paging-structure entry read during a walk. */
typedef struct PteRef {
    void *host;             /* NULL when not in RAM: A/D cannot be set */
    uint64_t val;
    bool wide;
} PteRef;

static void env_lock(InterpCPU *cpu)
{
    InterpEnv *env = &cpu->shared->env;

    if (env->lock) {
        env->lock(env->lock_opaque);
    }
}

static void env_unlock(InterpCPU *cpu)
{
    InterpEnv *env = &cpu->shared->env;

    if (env->unlock) {
        env->unlock(env->lock_opaque);
    }
}

static bool is_canonical(uint64_t lin)
{
    return (uint64_t)((int64_t)(lin << 16) >> 16) == lin;
}

/* ---- page walk ---------------------------------------------------------- */

/*
 * mmu.c's per-vCPU scratch (cpu->mmu, allocated on first use, freed by
 * interp_cpu_free): the memory region of the last page walk or TLB fill.
 * Page tables and most data live in one RAM region; this saves a map
 * lookup per paging level. Like the host pointers in the TLB it must not
 * outlive a change of the memory map: interp_tlb_flush_all drops it.
 */
typedef struct MmuState {
    const MemoryRegion *region;
} MmuState;

static const MemoryRegion *region_at(InterpCPU *cpu, uint64_t gpa)
{
    MmuState *ms = cpu->mmu;
    const MemoryRegion *mr;

    if (!ms) {
        ms = cpu->mmu = g_new0(MmuState, 1);
    }
    mr = ms->region;
    if (mr && gpa - mr->base < mr->size) {
        return mr;
    }
    mr = memory_map_lookup(cpu->shared->env.mem, gpa);
    if (mr) {
        ms->region = mr;
    }
    return mr;
}

static void pte_read(InterpCPU *cpu, uint64_t addr, bool wide, PteRef *r)
{
    MemoryMap *mem = cpu->shared->env.mem;
    const MemoryRegion *mr = region_at(cpu, addr);
    unsigned n = wide ? 8 : 4;

    r->wide = wide;
    r->host = NULL;
    if (mr && mr->kind == MEM_RAM && addr - mr->base <= mr->size - n &&
        mr->size >= n) {
        r->host = mr->host + (addr - mr->base);
        r->val = wide ? __atomic_load_n((uint64_t *)r->host, __ATOMIC_ACQUIRE)
                      : __atomic_load_n((uint32_t *)r->host, __ATOMIC_ACQUIRE);
        return;
    }
    /* Paging structures outside RAM: read them as the bus would. */
    env_lock(cpu);
    if (!memory_map_dispatch_read(mem, addr, n, &r->val)) {
        lemu_log_mask(LOG_GUEST_ERROR, "interp: page table entry at "
                      "unmapped 0x%" PRIx64 "\n", addr);
    }
    env_unlock(cpu);
    if (!wide) {
        r->val = (uint32_t)r->val;
    }
}

/* Sets @bits (A, D) in the entry in guest RAM unless already set. */
static void pte_set_bits(PteRef *r, uint64_t bits)
{
    if (!r->host || (r->val & bits) == bits) {
        return;
    }
    /* A and D live in the low 32 bits of wide entries too. */
    __atomic_fetch_or((uint32_t *)r->host, (uint32_t)bits, __ATOMIC_SEQ_CST);
    r->val |= bits;
}

/*
 * Walks the paging structures for an @access at @lin with the privilege
 * of @user. Returns 0 and fills *@w, or MMU_FAULT | the #PF error code.
 * Accessed bits are set on every entry used and the dirty bit on a write,
 * only when the access is allowed.
 */
static uint32_t mmu_walk(InterpCPU *cpu, uint64_t lin, int access, bool user,
                         MmuWalk *w)
{
    PteRef refs[4];
    unsigned nrefs = 0;
    bool lma = cpu->efer & EFER_LMA;
    bool pae = cpu->cr4 & CR4_PAE;
    bool nxe = (cpu->efer & EFER_NXE) && pae;
    uint64_t rsvd_xd = nxe ? 0 : PTE_XD;
    uint64_t allow = PTE_W | PTE_U;   /* AND of R/W and U/S over levels */
    bool xd = false;
    uint64_t leaf, base;
    unsigned shift;
    uint32_t ec;

    ec = (access == ACC_WRITE ? PF_W : 0) | (user ? PF_U : 0) |
         (access == ACC_EXEC && nxe ? PF_I : 0);

    if (!(cpu->cr0 & CR0_PG)) {
        w->phys = lin & 0xfffff000ULL;
        w->prot = TLBF_READ | TLBF_WRITE | TLBF_EXEC;
        w->dirty = true;
        w->global = false;
        w->page_shift = 12;
        return 0;
    }

    if (!pae) {
        /* 32-bit paging: PDE, then PTE or a 4 MiB page with CR4.PSE. */
        PteRef *pde = &refs[nrefs++], *pte;

        pte_read(cpu, (cpu->cr3 & 0xfffff000ULL) | ((lin >> 20) & 0xffc),
                 false, pde);
        if (!(pde->val & PTE_P)) {
            return MMU_FAULT | ec;
        }
        allow &= pde->val;
        if ((pde->val & PTE_PS) && (cpu->cr4 & CR4_PSE)) {
            /* PSE-36: bits 20:13 are physical address bits 39:32. */
            if (pde->val & (1ULL << 21)) {
                return MMU_FAULT | ec | PF_P | PF_RSVD;
            }
            leaf = pde->val;
            base = (leaf & 0xffc00000ULL) | ((leaf >> 13) & 0xff) << 32;
            shift = 22;
        } else {
            pte = &refs[nrefs++];
            pte_read(cpu, (pde->val & 0xfffff000ULL) | ((lin >> 10) & 0xffc),
                     false, pte);
            if (!(pte->val & PTE_P)) {
                return MMU_FAULT | ec;
            }
            allow &= pte->val;
            leaf = pte->val;
            base = leaf & 0xfffff000ULL;
            shift = 12;
        }
    } else {
        uint64_t rsvd_high = lma ? LM_RSVD_HIGH : PAE_RSVD_HIGH;
        uint64_t table;
        int level;

        if (lma) {
            table = cpu->cr3 & PTE_ADDR;
            level = 4;
        } else {
            /* PAE: the PDPTE selected by bits 31:30. */
            PteRef pdpte;

            pte_read(cpu, (cpu->cr3 & 0xffffffe0ULL) | ((lin >> 27) & 0x18),
                     true, &pdpte);
            if (!(pdpte.val & PTE_P)) {
                return MMU_FAULT | ec;
            }
            if (pdpte.val & (PDPTE_RSVD_LOW | PTE_XD | PAE_RSVD_HIGH)) {
                return MMU_FAULT | ec | PF_P | PF_RSVD;
            }
            table = pdpte.val & PTE_ADDR;
            level = 2;
        }
        for (;; level--) {
            PteRef *e = &refs[nrefs++];
            unsigned lshift = 12 + 9 * (level - 1);
            uint64_t rsvd = rsvd_high | rsvd_xd;

            pte_read(cpu, table | (((lin >> lshift) & 0x1ff) << 3), true, e);
            if (!(e->val & PTE_P)) {
                return MMU_FAULT | ec;
            }
            if (level == 4) {
                rsvd |= PTE_PS;
            } else if (level > 1 && (e->val & PTE_PS)) {
                /* A large page (2 MiB, or 1 GiB in 4-level paging): its
                 * low address bits are reserved, but bit 12 is PAT. */
                rsvd |= ((1ULL << lshift) - 1) & ~0x1fffULL;
            }
            if (e->val & rsvd) {
                return MMU_FAULT | ec | PF_P | PF_RSVD;
            }
            allow &= e->val;
            xd |= (e->val & PTE_XD) != 0;
            if (level == 1 || (e->val & PTE_PS)) {
                leaf = e->val;
                shift = lshift;
                base = leaf & PTE_ADDR & ~((1ULL << shift) - 1);
                break;
            }
            table = e->val & PTE_ADDR;
        }
    }

    /* Permissions: user accesses need U everywhere, and R/W for writes;
     * supervisor writes need R/W only with CR0.WP; NX forbids fetches. */
    bool can_write = (allow & PTE_W) || (!user && !(cpu->cr0 & CR0_WP));
    bool can_exec = !(nxe && xd);
    if (user && !(allow & PTE_U)) {
        return MMU_FAULT | ec | PF_P;
    }
    if ((access == ACC_WRITE && !can_write) ||
        (access == ACC_EXEC && !can_exec)) {
        return MMU_FAULT | ec | PF_P;
    }

    for (unsigned i = 0; i < nrefs; i++) {
        pte_set_bits(&refs[i], PTE_A);
    }
    if (access == ACC_WRITE) {
        pte_set_bits(&refs[nrefs - 1], PTE_D);
    }
    leaf = refs[nrefs - 1].val;

    w->phys = (base | (lin & ((1ULL << shift) - 1))) & INTERP_PAGE_MASK;
    w->prot = TLBF_READ | (can_write ? TLBF_WRITE : 0) |
              (can_exec ? TLBF_EXEC : 0);
    w->dirty = (leaf & PTE_D) != 0;
    w->global = (leaf & PTE_G) && (cpu->cr4 & CR4_PGE);
    w->page_shift = shift;
    return 0;
}

/* ---- TLB ---------------------------------------------------------------- */

static void tlb_invalidate(InterpTLBEntry *e)
{
    e->read_tag = INTERP_TLB_INVALID;
    e->write_tag = INTERP_TLB_INVALID;
    e->exec_tag = INTERP_TLB_INVALID;
    e->addend = 0;
    e->phys = 0;
    e->flags = 0;
}

static InterpTLBEntry *tlb_fill(InterpCPU *cpu, uint64_t lin, int mmu_idx,
                                const MmuWalk *w)
{
    InterpTLBEntry *e = &cpu->tlb[mmu_idx][(lin >> 12) & (INTERP_TLB_SIZE - 1)];
    uint64_t page = lin & INTERP_PAGE_MASK;
    const MemoryRegion *mr = region_at(cpu, w->phys);
    uint64_t flags = page | TLBF_VALID | w->prot |
                     (w->dirty ? TLBF_DIRTY : 0) |
                     (w->global ? TLBF_GLOBAL : 0) |
                     (uint64_t)(w->page_shift - 12) << TLBF_LARGE_SHIFT;

    tlb_invalidate(e);
    e->phys = w->phys;
    if (mr && (mr->kind == MEM_RAM || mr->kind == MEM_ROM) &&
        w->phys - mr->base <= mr->size - INTERP_PAGE_SIZE &&
        mr->size >= INTERP_PAGE_SIZE) {
        e->addend = (uintptr_t)(mr->host + (w->phys - mr->base)) -
                    (uintptr_t)page;
        flags |= mr->kind == MEM_RAM ? TLBF_RAM : TLBF_ROM;
        if (w->prot & TLBF_READ) {
            e->read_tag = page;
        }
        if (w->prot & TLBF_EXEC) {
            e->exec_tag = page;
        }
        if (mr->kind == MEM_RAM && (w->prot & TLBF_WRITE) && w->dirty &&
            !interp_page_has_code(cpu->shared, w->phys)) {
            e->write_tag = page;
        }
    }
    e->flags = flags;
    return e;
}

static unsigned access_needs(int access)
{
    switch (access) {
    case ACC_WRITE: return TLBF_WRITE | TLBF_DIRTY;
    case ACC_EXEC:  return TLBF_EXEC;
    default:        return TLBF_READ;
    }
}

/*
 * The TLB entry translating @lin for @access with @mmu_idx's privilege,
 * walking and filling on a miss. On a fault: NULL with *@fault set when
 * @fault is given, else the exception is raised.
 */
static InterpTLBEntry *mmu_translate(InterpCPU *cpu, uint64_t lin,
                                     int access, int mmu_idx,
                                     uint32_t *fault)
{
    InterpTLBEntry *e = &cpu->tlb[mmu_idx][(lin >> 12) & (INTERP_TLB_SIZE - 1)];
    uint64_t page = lin & INTERP_PAGE_MASK;
    unsigned need = access_needs(access);
    MmuWalk w;
    uint32_t ec;

    if ((e->flags & (INTERP_PAGE_MASK | TLBF_VALID)) == (page | TLBF_VALID) &&
        (e->flags & need) == need) {
        return e;
    }
    if ((cpu->efer & EFER_LMA) && !is_canonical(lin)) {
        ec = MMU_FAULT | MMU_FAULT_GP;
    } else {
        ec = mmu_walk(cpu, lin, access, mmu_idx == MMU_USER, &w);
    }
    if (ec) {
        if (fault) {
            *fault = ec;
            return NULL;
        }
        if (ec & MMU_FAULT_GP) {
            interp_raise(cpu, EXCP_GP, 0);
        }
        interp_raise_pf(cpu, lin, ec & ~MMU_FAULT);
    }
    return tlb_fill(cpu, lin, mmu_idx, &w);
}

void interp_tlb_flush_all(InterpCPU *cpu)
{
    if (cpu->mmu) {
        ((MmuState *)cpu->mmu)->region = NULL;
    }
    for (int i = 0; i < MMU_NR; i++) {
        for (unsigned j = 0; j < INTERP_TLB_SIZE; j++) {
            tlb_invalidate(&cpu->tlb[i][j]);
        }
    }
}

void interp_tlb_flush_nonglobal(InterpCPU *cpu)
{
    for (int i = 0; i < MMU_NR; i++) {
        for (unsigned j = 0; j < INTERP_TLB_SIZE; j++) {
            if (!(cpu->tlb[i][j].flags & TLBF_GLOBAL)) {
                tlb_invalidate(&cpu->tlb[i][j]);
            }
        }
    }
}

void interp_tlb_flush_page(InterpCPU *cpu, uint64_t lin)
{
    uint64_t page = lin & INTERP_PAGE_MASK;

    for (int i = 0; i < MMU_NR; i++) {
        for (unsigned j = 0; j < INTERP_TLB_SIZE; j++) {
            InterpTLBEntry *e = &cpu->tlb[i][j];
            unsigned shift = 12 + ((e->flags & TLBF_LARGE_MASK) >>
                                   TLBF_LARGE_SHIFT);

            /* Every 4 KiB piece of a large page that holds @lin goes,
             * which a look at the one slot of @lin would miss. */
            if ((e->flags & TLBF_VALID) &&
                ((e->flags ^ page) & ~((1ULL << shift) - 1)) == 0) {
                tlb_invalidate(e);
            }
        }
    }
}

void interp_tlb_protect_code_page(InterpCPU *cpu, uint64_t phys)
{
    uint64_t page = phys & INTERP_PAGE_MASK;

    for (int i = 0; i < MMU_NR; i++) {
        for (unsigned j = 0; j < INTERP_TLB_SIZE; j++) {
            InterpTLBEntry *e = &cpu->tlb[i][j];

            if ((e->flags & TLBF_VALID) && e->phys == page) {
                e->write_tag = INTERP_TLB_INVALID;
            }
        }
    }
}

/* ---- device and memory accesses ---------------------------------------- */

/* Whether @phys is in the page of this vCPU's enabled local APIC. Call
 * with the env lock held. */
static bool is_apic_page(InterpCPU *cpu, uint64_t phys)
{
    uint64_t base;

    if (!cpu->apic) {
        return false;
    }
    base = apic_get_base(cpu->apic);
    return (base & MSR_IA32_APICBASE_ENABLE) &&
           (phys & INTERP_PAGE_MASK) == (base & MSR_IA32_APICBASE_BASE);
}

static uint64_t mmio_read(InterpCPU *cpu, uint64_t phys, unsigned size)
{
    uint64_t v;

    env_lock(cpu);
    if (is_apic_page(cpu, phys)) {
        v = apic_mmio_read(cpu->apic, phys & ~INTERP_PAGE_MASK, size);
    } else if (!memory_map_dispatch_read(cpu->shared->env.mem, phys, size,
                                         &v)) {
        lemu_log_mask(LOG_GUEST_ERROR, "interp: read of %u bytes at "
                      "unmapped 0x%" PRIx64 "\n", size, phys);
        v = UINT64_MAX;
    }
    env_unlock(cpu);
    return v;
}

static void mmio_write(InterpCPU *cpu, uint64_t phys, unsigned size,
                       uint64_t value)
{
    env_lock(cpu);
    if (is_apic_page(cpu, phys)) {
        apic_mmio_write(cpu->apic, phys & ~INTERP_PAGE_MASK, value, size);
    } else if (!memory_map_dispatch_write(cpu->shared->env.mem, phys, size,
                                          value)) {
        lemu_log_mask(LOG_GUEST_ERROR, "interp: write of %u bytes at "
                      "unmapped 0x%" PRIx64 "\n", size, phys);
    }
    env_unlock(cpu);
}

/* @n bytes at @lin through the translation @e (within one page). */
static uint64_t load_part(InterpCPU *cpu, const InterpTLBEntry *e,
                          uint64_t lin, unsigned n)
{
    uint64_t v = 0;

    if (e->flags & (TLBF_RAM | TLBF_ROM)) {
        memcpy(&v, (void *)(uintptr_t)(lin + e->addend), n);
        return v;
    }
    v = mmio_read(cpu, e->phys | (lin & ~INTERP_PAGE_MASK), n);
    return n < 8 ? v & ((1ULL << (n * 8)) - 1) : v;
}

static void store_part(InterpCPU *cpu, const InterpTLBEntry *e, int mmu_idx,
                       uint64_t lin, unsigned n, uint64_t value)
{
    uint64_t phys = e->phys | (lin & ~INTERP_PAGE_MASK);

    if (e->flags & TLBF_RAM) {
        InterpTLBEntry *slot;

        memcpy((void *)(uintptr_t)(lin + e->addend), &value, n);
        if (interp_page_has_code(cpu->shared, e->phys)) {
            interp_code_written(cpu, phys, n);
            return;
        }
        /* The page no longer holds code: writes may take the fast path
         * again if the entry is still this one. */
        slot = &cpu->tlb[mmu_idx][(lin >> 12) & (INTERP_TLB_SIZE - 1)];
        if (slot->flags == e->flags && slot->phys == e->phys &&
            (e->flags & (TLBF_WRITE | TLBF_DIRTY)) ==
                (TLBF_WRITE | TLBF_DIRTY)) {
            slot->write_tag = lin & INTERP_PAGE_MASK;
        }
    } else if (e->flags & TLBF_ROM) {
        lemu_log_mask(LOG_GUEST_ERROR, "interp: write of %u bytes to ROM "
                      "at 0x%" PRIx64 " dropped\n", n, phys);
    } else {
        mmio_write(cpu, phys, n, value);
    }
}

/* Linear addresses of explicit accesses wrap as cpu->lin_mask says;
 * implicit ones (descriptor tables) use the full width in long mode. */
static uint64_t kernel_wrap(InterpCPU *cpu)
{
    return (cpu->efer & EFER_LMA) ? ~0ULL : 0xffffffffULL;
}

static uint64_t mmu_load(InterpCPU *cpu, uint64_t lin, unsigned size,
                         int mmu_idx, uint64_t wrap)
{
    InterpTLBEntry e1, e2;
    unsigned n1;
    uint64_t lin2;

    lin &= wrap;
    if (INTERP_IN_PAGE(lin, size)) {
        e1 = *mmu_translate(cpu, lin, ACC_READ, mmu_idx, NULL);
        return load_part(cpu, &e1, lin, size);
    }
    n1 = INTERP_PAGE_SIZE - (lin & ~INTERP_PAGE_MASK);
    lin2 = (lin + n1) & wrap;
    e1 = *mmu_translate(cpu, lin, ACC_READ, mmu_idx, NULL);
    e2 = *mmu_translate(cpu, lin2, ACC_READ, mmu_idx, NULL);
    return load_part(cpu, &e1, lin, n1) |
           load_part(cpu, &e2, lin2, size - n1) << (n1 * 8);
}

static void mmu_store(InterpCPU *cpu, uint64_t lin, unsigned size,
                      uint64_t value, int mmu_idx, uint64_t wrap)
{
    InterpTLBEntry e1, e2;
    unsigned n1;
    uint64_t lin2;

    lin &= wrap;
    if (INTERP_IN_PAGE(lin, size)) {
        e1 = *mmu_translate(cpu, lin, ACC_WRITE, mmu_idx, NULL);
        store_part(cpu, &e1, mmu_idx, lin, size, value);
        return;
    }
    /* Both pages are translated before either is written, so a fault on
     * the second leaves the first untouched. */
    n1 = INTERP_PAGE_SIZE - (lin & ~INTERP_PAGE_MASK);
    lin2 = (lin + n1) & wrap;
    e1 = *mmu_translate(cpu, lin, ACC_WRITE, mmu_idx, NULL);
    e2 = *mmu_translate(cpu, lin2, ACC_WRITE, mmu_idx, NULL);
    store_part(cpu, &e1, mmu_idx, lin, n1, value);
    store_part(cpu, &e2, mmu_idx, lin2, size - n1, value >> (n1 * 8));
}

uint64_t interp_ld_slow(InterpCPU *cpu, uint64_t lin, unsigned size)
{
    return mmu_load(cpu, lin, size, cpu->mmu_idx, cpu->lin_mask);
}

void interp_st_slow(InterpCPU *cpu, uint64_t lin, unsigned size,
                    uint64_t value)
{
    mmu_store(cpu, lin, size, value, cpu->mmu_idx, cpu->lin_mask);
}

void interp_probe_access(InterpCPU *cpu, uint64_t lin, unsigned size,
                         int access)
{
    lin &= cpu->lin_mask;
    mmu_translate(cpu, lin, access, cpu->mmu_idx, NULL);
    if (size > 1 && !INTERP_IN_PAGE(lin, size)) {
        mmu_translate(cpu, (lin + size - 1) & cpu->lin_mask, access,
                      cpu->mmu_idx, NULL);
    }
}

void *interp_get_rmw_ptr(InterpCPU *cpu, uint64_t lin, unsigned size)
{
    InterpTLBEntry *e = interp_tlb_entry(cpu, lin);

    if (e->write_tag == (lin & INTERP_PAGE_MASK) &&
        INTERP_IN_PAGE(lin, size)) {
        return (void *)(uintptr_t)(lin + e->addend);
    }
    lin &= cpu->lin_mask;
    if (!INTERP_IN_PAGE(lin, size)) {
        interp_probe_access(cpu, lin, size, ACC_WRITE);
        return NULL;
    }
    e = mmu_translate(cpu, lin, ACC_WRITE, cpu->mmu_idx, NULL);
    if (!(e->flags & TLBF_RAM) || interp_page_has_code(cpu->shared, e->phys)) {
        return NULL;
    }
    e->write_tag = lin & INTERP_PAGE_MASK;
    return (void *)(uintptr_t)(lin + e->addend);
}

void interp_atomic_lock(InterpCPU *cpu)
{
    g_mutex_lock(&cpu->shared->atomic_lock);
}

void interp_atomic_unlock(InterpCPU *cpu)
{
    g_mutex_unlock(&cpu->shared->atomic_lock);
}

uint64_t interp_ld_kernel(InterpCPU *cpu, uint64_t lin, unsigned size)
{
    uint64_t wrap = kernel_wrap(cpu);
    InterpTLBEntry *e;

    lin &= wrap;
    e = &cpu->tlb[MMU_SUPERVISOR][(lin >> 12) & (INTERP_TLB_SIZE - 1)];
    if (e->read_tag == (lin & INTERP_PAGE_MASK) && INTERP_IN_PAGE(lin, size)) {
        uint64_t v = 0;

        memcpy(&v, (void *)(uintptr_t)(lin + e->addend), size);
        return v;
    }
    return mmu_load(cpu, lin, size, MMU_SUPERVISOR, wrap);
}

void interp_st_kernel(InterpCPU *cpu, uint64_t lin, unsigned size,
                      uint64_t value)
{
    uint64_t wrap = kernel_wrap(cpu);
    InterpTLBEntry *e;

    lin &= wrap;
    e = &cpu->tlb[MMU_SUPERVISOR][(lin >> 12) & (INTERP_TLB_SIZE - 1)];
    if (e->write_tag == (lin & INTERP_PAGE_MASK) && INTERP_IN_PAGE(lin, size)) {
        memcpy((void *)(uintptr_t)(lin + e->addend), &value, size);
        return;
    }
    mmu_store(cpu, lin, size, value, MMU_SUPERVISOR, wrap);
}

/* ---- instruction fetch -------------------------------------------------- */

const uint8_t *interp_translate_code(InterpCPU *cpu, uint64_t lin,
                                     uint64_t *phys, bool raise)
{
    InterpTLBEntry *e;
    uint32_t fault = 0;

    lin &= cpu->lin_mask;
    e = interp_tlb_entry(cpu, lin);
    if (e->exec_tag == (lin & INTERP_PAGE_MASK)) {
        *phys = e->phys | (lin & ~INTERP_PAGE_MASK);
        return (const uint8_t *)(uintptr_t)(lin + e->addend);
    }
    e = mmu_translate(cpu, lin, ACC_EXEC, cpu->mmu_idx, raise ? NULL : &fault);
    if (!e) {
        *phys = UINT64_MAX;
        return NULL;
    }
    *phys = e->phys | (lin & ~INTERP_PAGE_MASK);
    if (e->flags & (TLBF_RAM | TLBF_ROM)) {
        return (const uint8_t *)(uintptr_t)(lin + e->addend);
    }
    return NULL;
}

void interp_fetch_slow(InterpCPU *cpu, uint64_t phys, uint8_t *buf,
                       unsigned len)
{
    env_lock(cpu);
    if (!memory_map_read(cpu->shared->env.mem, phys, buf, len)) {
        lemu_log_mask(LOG_GUEST_ERROR, "interp: code fetch of %u bytes at "
                      "unmapped 0x%" PRIx64 "\n", len, phys);
    }
    env_unlock(cpu);
}

/* ---- physical accesses and ports ---------------------------------------- */

bool interp_phys_read(InterpCPU *cpu, uint64_t phys, void *buf, unsigned len)
{
    bool ok;

    env_lock(cpu);
    ok = memory_map_read(cpu->shared->env.mem, phys, buf, len);
    env_unlock(cpu);
    return ok;
}

bool interp_phys_write(InterpCPU *cpu, uint64_t phys, const void *buf,
                       unsigned len)
{
    bool ok;

    env_lock(cpu);
    ok = memory_map_write(cpu->shared->env.mem, phys, buf, len);
    env_unlock(cpu);
    /* Drop translated code in every page the write touched. */
    for (unsigned done = 0; done < len;) {
        uint64_t pos = phys + done;
        unsigned n = MIN(len - done,
                         INTERP_PAGE_SIZE - (pos & ~INTERP_PAGE_MASK));

        if (interp_page_has_code(cpu->shared, pos)) {
            interp_code_written(cpu, pos, n);
        }
        done += n;
    }
    return ok;
}

uint32_t interp_io_read(InterpCPU *cpu, uint16_t port, unsigned size)
{
    uint32_t v = UINT32_MAX;

    if (cpu->shared->env.io) {
        env_lock(cpu);
        ioport_read(cpu->shared->env.io, port, size, &v);
        env_unlock(cpu);
    }
    return size >= 4 ? v : v & ((1u << (size * 8)) - 1);
}

void interp_io_write(InterpCPU *cpu, uint16_t port, unsigned size,
                     uint32_t value)
{
    if (!cpu->shared->env.io) {
        return;
    }
    env_lock(cpu);
    ioport_write(cpu->shared->env.io, port, size, value);
    env_unlock(cpu);
}
