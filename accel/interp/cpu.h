/*
 * The interpreter's vCPU: architectural state in the form the executor
 * wants it (lazy flags, derived mode bits, per-segment effective bases),
 * the software TLB, and the contracts between the interpreter's parts:
 *
 *   exec.c, block-cache.c, decode.c   blocks, dispatch loop, code tracking
 *   flags.c                           lazy condition flags
 *   ops-*.c                           one handler per operation (insn.h)
 *   mmu.c                             page walk, TLB, memory slow paths
 *   seg.c, far.c, excp.c              segments, far transfers, exceptions
 *   cpu-state.c                       X86CPUState <-> InterpCPU, mode bits
 *   ops-system.c, cpuid.c, msr.c      system instructions, CPU model
 *   interp-all.c                      AccelOps: the machine side
 *
 * Fault discipline: a handler does every access that can fault (memory,
 * segment checks) before it changes any register or flag, so that an
 * exception raised from anywhere inside it leaves the state as it was
 * before the instruction. interp_raise() longjmps back to the dispatch loop
 * and takes RIP from cpu->cur.
 */
#ifndef LEMU_ACCEL_INTERP_CPU_H
#define LEMU_ACCEL_INTERP_CPU_H

#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <glib.h>
#include "lemu/accel/interp.h"
#include "lemu/accel/x86-cpu.h"

typedef struct DecodedInsn DecodedInsn;
typedef struct InterpBlock InterpBlock;
typedef struct ApicState ApicState;

/* One handler per operation (insn.h): runs @d and returns the next
 * instruction of the block, or NULL after setting cpu->rip when the block
 * ends (branches, mode changes, the end marker). */
typedef const DecodedInsn *(*InsnHandler)(InterpCPU *cpu,
                                          const DecodedInsn *d);
#define INTERP_MAX_OPS 512

/* ---- exceptions ---- */
enum {
    EXCP_DE = 0, EXCP_DB = 1, EXCP_NMI = 2, EXCP_BP = 3, EXCP_OF = 4,
    EXCP_BR = 5, EXCP_UD = 6, EXCP_NM = 7, EXCP_DF = 8, EXCP_TS = 10,
    EXCP_NP = 11, EXCP_SS = 12, EXCP_GP = 13, EXCP_PF = 14, EXCP_MF = 16,
    EXCP_AC = 17, EXCP_MC = 18, EXCP_XM = 19,
};

/* Page-fault error code bits. */
#define PF_P    (1u << 0)
#define PF_W    (1u << 1)
#define PF_U    (1u << 2)
#define PF_RSVD (1u << 3)
#define PF_I    (1u << 4)

/* ---- RFLAGS bits beyond x86-cpu.h ---- */
#define RFLAGS_PF   (1ULL << 2)
#define RFLAGS_AF   (1ULL << 4)
#define RFLAGS_ZF   (1ULL << 6)
#define RFLAGS_SF   (1ULL << 7)
#define RFLAGS_TF   (1ULL << 8)
#define RFLAGS_OF   (1ULL << 11)
#define RFLAGS_IOPL (3ULL << 12)
#define RFLAGS_NT   (1ULL << 14)
#define RFLAGS_RF   (1ULL << 16)
#define RFLAGS_VM   (1ULL << 17)
#define RFLAGS_AC   (1ULL << 18)
#define RFLAGS_VIF  (1ULL << 19)
#define RFLAGS_VIP  (1ULL << 20)
#define RFLAGS_ID   (1ULL << 21)
/* The six arithmetic flags, which live in the lazy state. */
#define RFLAGS_OSZAPC (RFLAGS_CF | RFLAGS_PF | RFLAGS_AF | RFLAGS_ZF | \
                       RFLAGS_SF | RFLAGS_OF)

#define CR4_VME        (1ULL << 0)
#define CR4_PVI        (1ULL << 1)
#define CR4_TSD        (1ULL << 2)
#define CR4_DE         (1ULL << 3)
#define CR4_MCE        (1ULL << 6)
#define CR4_FSGSBASE   (1ULL << 16)
#define CR4_PCIDE      (1ULL << 17)
#define CR4_OSXSAVE    (1ULL << 18)
#define CR4_SMEP       (1ULL << 20)
#define CR4_SMAP       (1ULL << 21)

/*
 * ---- lazy flags ----
 * Arithmetic instructions record what they did; the flags are computed
 * only when read (jcc, setcc, pushf, ...). cc_op says how to read
 * cc_dst/cc_src/cc_src2; the low two bits are the operand size
 * (0: 8, 1: 16, 2: 32, 3: 64 bits). Instructions with unusual flag rules
 * compute the six flags themselves and store them with CC_OP_EFLAGS.
 */
enum {
    CC_OP_EFLAGS = 0,     /* cc_src holds the six flags (RFLAGS_OSZAPC) */
    CC_OP_ADD = 4,        /* dst = result, src = second operand */
    CC_OP_ADC = 8,        /* dst = result, src = second operand, src2 = CF in */
    CC_OP_SUB = 12,       /* dst = result, src = second operand (cmp too) */
    CC_OP_SBB = 16,       /* dst = result, src = second operand, src2 = CF in */
    CC_OP_LOGIC = 20,     /* dst = result; CF = OF = 0, AF = 0 */
    CC_OP_INC = 24,       /* dst = result, src = CF before (kept) */
    CC_OP_DEC = 28,       /* dst = result, src = CF before (kept) */
    CC_OP_SHL = 32,       /* dst = result, src = operand << (count - 1) */
    CC_OP_SAR = 36,       /* dst = result, src = operand >> (count - 1);
                             SHR and SAR; OF as the SDM gives for count 1 */
    CC_OP_MUL = 40,       /* dst = low result, src = nonzero when the high
                             half is significant (CF = OF = src != 0) */
    CC_OP_NR = 44,
};
#define CC_OP_SIZE(op)  ((op) & 3)

/* Condition codes, as the low nibble of jcc/setcc/cmovcc encodes them. */
enum {
    CC_O, CC_NO, CC_B, CC_AE, CC_E, CC_NE, CC_BE, CC_A,
    CC_S, CC_NS, CC_P, CC_NP, CC_L, CC_GE, CC_LE, CC_G,
};

/* ---- software TLB ---- */
#define INTERP_TLB_BITS   8
#define INTERP_TLB_SIZE   (1u << INTERP_TLB_BITS)
#define INTERP_PAGE_SIZE  4096ULL
#define INTERP_PAGE_MASK  (~(INTERP_PAGE_SIZE - 1))
/* A tag that no page-aligned address equals. */
#define INTERP_TLB_INVALID  1ULL

/* mmu_idx: which TLB set an access uses. */
enum { MMU_SUPERVISOR = 0, MMU_USER = 1, MMU_NR = 2 };

/*
 * One page: a fast-path access at linear address @lin hits when the tag
 * for its kind equals lin & INTERP_PAGE_MASK and the access stays in the
 * page; the host address is then lin + addend. A kind that must take the
 * slow path (MMIO, ROM writes, pages holding translated code, not yet
 * dirty, no permission) keeps INTERP_TLB_INVALID in its tag.
 */
typedef struct InterpTLBEntry {
    uint64_t read_tag;
    uint64_t write_tag;
    uint64_t exec_tag;
    uintptr_t addend;
    uint64_t phys;            /* guest physical address of the page */
    uint64_t flags;           /* mmu.c's: global page, ... */
    /* Padding to a cache line: the fast paths index with a shift, and
     * an entry never straddles two lines. */
    uint64_t pad[2];
} __attribute__((aligned(64))) InterpTLBEntry;

/* Access kinds for the slow paths and segment checks. */
enum { ACC_READ = 0, ACC_WRITE = 1, ACC_EXEC = 2 };

/* The 64-bit MSRs that the interpreter keeps (msr.c owns the rest). */
typedef struct InterpMsrs {
    uint64_t star, lstar, cstar, sfmask, kernel_gs_base;
    uint64_t sysenter_cs, sysenter_esp, sysenter_eip;
    uint64_t pat;
    uint64_t tsc_offset;      /* guest TSC = host-clock TSC + tsc_offset */
    uint64_t tsc_aux;
    uint64_t mtrr_cap, mtrr_def_type, mtrr_fixed[11], mtrr_var[16];
    uint64_t misc_enable;
    uint64_t tsc_deadline;
} InterpMsrs;

/* How the pending exception came about, for delivery and #DF rules. */
typedef enum {
    EVENT_FAULT,              /* RIP of the faulting instruction */
    EVENT_SOFT_INT,           /* INT n: RIP after it, DPL checked */
    EVENT_SOFT_EXCP,          /* INT3, INTO: RIP after it, DPL checked */
    EVENT_ICEBP,              /* INT1 (F1): RIP after it, no DPL check */
    EVENT_EXT_INT,            /* external interrupt or NMI */
} InterpEventKind;

struct InterpCPU {
    /* ---- hot state first ---- */
    uint64_t regs[X86_NR_GPRS];
    uint64_t rip;             /* offset in CS; exact at block boundaries */
    uint64_t cc_dst, cc_src, cc_src2;
    uint32_t cc_op;
    uint32_t df;              /* 1 or -1 (as uint32), from RFLAGS.DF */
    /* RFLAGS without OSZAPC (those are lazy) and DF (in df, also kept
     * here for convenience: interp_get_rflags merges) */
    uint64_t rflags;

    /* Effective segment base for linear addresses: the descriptor base,
     * except 0 for ES/CS/SS/DS in 64-bit mode. */
    uint64_t seg_base[X86_NR_SEGS];
    /* Bit n set: segment n needs the limit/type check of
     * interp_linear_slow (not a flat 4 GiB writable segment, or real-mode
     * 64 KiB limit, or unusable). Never set in 64-bit mode, where only
     * canonical checks apply. */
    uint32_t seg_check_mask;
    /* Linear addresses wrap at 4 GiB outside 64-bit mode. */
    uint64_t lin_mask;

    /* Derived mode bits: cpu-state.c's interp_update_hflags() recomputes
     * them from CR0, EFER, RFLAGS.VM and the CS/SS caches. */
    uint8_t cpl;
    uint8_t code_bits;        /* 16, 32 or 64: CS default size */
    uint8_t stack_bytes;      /* 2, 4 or 8: SS.B (8 in 64-bit mode) */
    uint8_t mmu_idx;          /* MMU_USER when cpl == 3 */
    bool pe, vm86, lma, long64;   /* long64: 64-bit code (CS.L and LMA) */
    bool paging;

    InterpTLBEntry tlb[MMU_NR][INTERP_TLB_SIZE];

    const DecodedInsn *cur;   /* the instruction running; NULL outside a block */
    InterpBlock *cur_block;
    unsigned chain_left;      /* exec.c's: blocks this run may still chain */

    X86Segment segs[X86_NR_SEGS];
    X86Segment ldt, tr;
    X86DescTable gdt, idt;
    uint64_t cr0, cr2, cr3, cr4, cr8;
    uint64_t dr[8];
    uint64_t efer;
    InterpMsrs msr;
    X86MpState mp_state;
    /* The x87 control state (ops-fpu.c); the register stack comes with
     * the FPU work. */
    struct {
        uint16_t fcw, fsw, ftw;
    } fpu;

    /* ---- events ---- */
    int exit_request;         /* atomic: leave interp_cpu_exec */
    int irq_pending;          /* atomic: the INTR line may be up; the run
                                 loop asks the APIC/PIC */
    int nmi_pending;          /* atomic */
    bool irq_inhibit;         /* STI / MOV SS shadow: ignore IRQs at the
                                 next block boundary */
    bool ss_shadow;           /* MOV SS / POP SS (ops-seg.c): also holds
                                 off the single-step #DB until after the
                                 next instruction (SDM 6.8.3); the TF
                                 path in exec.c clears it */
    bool nmi_blocked;         /* from NMI delivery until IRET */
    bool halted;
    bool shutdown;            /* triple fault seen */

    /* The exception being raised or delivered (excp.c). */
    struct {
        int vector;           /* -1: none */
        int64_t error_code;   /* -1: none pushed */
        InterpEventKind kind;
        uint64_t next_rip;    /* for soft ints: where the handler returns */
        int delivering;       /* vector being delivered, -1 when none: a
                                 fault during delivery makes #DF or a
                                 triple fault */
    } excp;
    bool stop_on_exception;
    int last_vector;
    int64_t last_error_code;

    sigjmp_buf jmp_env;       /* exec.c's landing pad for interp_raise */
    uint64_t insn_budget;     /* remaining instructions when bounded */
    bool insn_bounded;

    /* ---- surroundings ---- */
    InterpShared *shared;
    unsigned index;           /* APIC ID */
    ApicState *apic;          /* NULL without a local APIC */
    void *vcpu;               /* the VCPU under a machine, else NULL */

    /* block-cache.c's per-vCPU state */
    void *bc;
    /* mmu.c's per-vCPU scratch (e.g. the last page walked) */
    void *mmu;
};

/* The machine-wide part: shared by every vCPU. */
struct InterpShared {
    InterpEnv env;
    unsigned nr_cpus;
    InterpCPU *cpus[256];     /* registered by interp_cpu_new */
    /* block-cache.c's shared state: which guest pages hold code */
    void *code;
    /* The handler of each operation (OP_xxx in insn.h), filled from the
     * ops-*.c tables at creation; NULL: #UD */
    InsnHandler op_fn[INTERP_MAX_OPS];
    /* excp.c: the number of the next `-d int` line (atomic) */
    int int_log_count;
    /* mmu.c's interp_atomic_lock: locked accesses that cannot use a host
     * atomic (MMIO, page crossing, code pages). Zeroed memory is an
     * unlocked GMutex; interp_shared_free should g_mutex_clear it. */
    GMutex atomic_lock;
};

/* ==== exceptions (excp.c) ==== */

/* A fault at the current instruction (cpu->cur, or cpu->rip outside a
 * block). @error_code is pushed for the vectors that push one
 * (8, 10-14, 17) and ignored for the others. */
G_NORETURN void interp_raise(InterpCPU *cpu, int vector, uint32_t error_code);
/* #PF: sets CR2 = @lin. */
G_NORETURN void interp_raise_pf(InterpCPU *cpu, uint64_t lin, uint32_t ec);
/* INT n (EVENT_SOFT_INT), INT3/INTO (EVENT_SOFT_EXCP), INT1 (EVENT_ICEBP),
 * returning to @next_rip. */
G_NORETURN void interp_raise_soft(InterpCPU *cpu, int vector,
                                  InterpEventKind kind, uint64_t next_rip);
/* exec.c calls this after the longjmp: delivers cpu->excp through the
 * IDT (may raise again: #DF, triple fault sets cpu->shutdown). */
void interp_deliver_exception(InterpCPU *cpu);
/* At a block boundary (cpu->rip exact): delivers external interrupt
 * @vector, or an NMI. Clears cpu->halted. May raise. */
void interp_deliver_interrupt(InterpCPU *cpu, int vector);
void interp_deliver_nmi(InterpCPU *cpu);

/* ==== lazy flags (flags.c) ==== */

/* RFLAGS as the guest sees it (lazy flags and DF merged). */
uint64_t interp_get_rflags(InterpCPU *cpu);
/* Sets every flag in @mask from @value (OSZAPC into the lazy state, DF
 * into df, the rest into cpu->rflags); reserved bits fixed up. Does not
 * check privileges: POPF/IRET do that first. Calls interp_update_hflags
 * when VM changes. */
void interp_set_rflags(InterpCPU *cpu, uint64_t value, uint64_t mask);
/* The six arithmetic flags. */
uint64_t interp_compute_oszapc(InterpCPU *cpu);
bool interp_compute_cf(InterpCPU *cpu);
/* Condition @cc (CC_O..CC_G) on the current flags. */
bool interp_test_cc(InterpCPU *cpu, int cc);

/* ==== segments and modes (seg.c, cpu-state.c) ==== */

/* Recomputes cpl, code_bits, stack_bytes, mmu_idx, pe/vm86/lma/long64,
 * seg_base, seg_check_mask, lin_mask from the architectural state. Call
 * after changing CR0, EFER, CS, SS, RFLAGS.VM or a segment cache. */
void interp_update_hflags(InterpCPU *cpu);

/* The limit/type/canonical check of an access of @size bytes at offset
 * @ea in @seg; returns the linear address or raises #GP(0)/#SS(0). */
uint64_t interp_linear_slow(InterpCPU *cpu, int seg, uint64_t ea,
                            unsigned size, int access);

/*
 * MOV/POP to a data segment register, LDS/LES/LFS/LGS/LSS: loads @seg
 * from @selector with the checks of the current mode (real and v86: base
 * = selector << 4). Raises #GP/#SS/#NP with the selector error code.
 */
void interp_load_seg(InterpCPU *cpu, int seg, uint16_t selector);

/* Far JMP/CALL/RET/IRET in every mode (far.c). @opsize is 2, 4 or 8;
 * @next_rip is the return address for CALL. */
void interp_far_jmp(InterpCPU *cpu, uint16_t selector, uint64_t offset,
                    uint64_t next_rip);
void interp_far_call(InterpCPU *cpu, uint16_t selector, uint64_t offset,
                     unsigned opsize, uint64_t next_rip);
void interp_far_ret(InterpCPU *cpu, unsigned opsize, uint16_t pop_bytes);
void interp_iret(InterpCPU *cpu, unsigned opsize);

/* ==== memory (mmu.c) ==== */

/* Slow paths: page walk and TLB fill, MMIO and the local APIC, accesses
 * that cross a page, writes to pages with translated code. Raise #PF. */
uint64_t interp_ld_slow(InterpCPU *cpu, uint64_t lin, unsigned size);
void interp_st_slow(InterpCPU *cpu, uint64_t lin, unsigned size,
                    uint64_t value);
/*
 * Host pointer for a locked read-modify-write of @size bytes at @lin:
 * checks write permission (raising #PF as a write would) and marks the
 * page dirty. NULL when the bytes are not plain RAM in one page (MMIO,
 * page crossing, code page): the caller then does a load and a store
 * under interp_atomic_lock.
 */
void *interp_get_rmw_ptr(InterpCPU *cpu, uint64_t lin, unsigned size);
/* Translates [lin, lin + size) (at most a page) for @access at the
 * current privilege without touching the bytes: raises #PF as the access
 * would and sets accessed/dirty bits (CLFLUSH; INS before its port read). */
void interp_probe_access(InterpCPU *cpu, uint64_t lin, unsigned size,
                         int access);
/* Serialises non-host-atomic locked accesses across vCPUs. */
void interp_atomic_lock(InterpCPU *cpu);
void interp_atomic_unlock(InterpCPU *cpu);

/* Implicit supervisor accesses (descriptor tables, TSS, IDT), regardless
 * of CPL. */
uint64_t interp_ld_kernel(InterpCPU *cpu, uint64_t lin, unsigned size);
void interp_st_kernel(InterpCPU *cpu, uint64_t lin, unsigned size,
                      uint64_t value);

/*
 * Instruction fetch for the decoder: translates the page of @lin for
 * execution. Returns the host address of the byte at @lin (valid to the
 * end of its page) and its guest physical address, or NULL with *phys set
 * when the page is not RAM (then the decoder reads bytes with
 * interp_fetch_slow and does not cache the block). When the fetch faults:
 * raises #PF if @raise, else returns NULL with *phys = -1.
 */
const uint8_t *interp_translate_code(InterpCPU *cpu, uint64_t lin,
                                     uint64_t *phys, bool raise);
/* Bytes of code outside RAM (MMIO reads, unmapped reads as 0xff). */
void interp_fetch_slow(InterpCPU *cpu, uint64_t phys, uint8_t *buf,
                       unsigned len);

void interp_tlb_flush_all(InterpCPU *cpu);
/* Keeps global pages (CR3 write with CR4.PGE). */
void interp_tlb_flush_nonglobal(InterpCPU *cpu);
void interp_tlb_flush_page(InterpCPU *cpu, uint64_t lin);
/* Drops the fast write path of every entry mapping guest physical page
 * @phys, so writes there reach interp_code_written (block-cache.c). */
void interp_tlb_protect_code_page(InterpCPU *cpu, uint64_t phys);

/* Physical accesses by the CPU itself (page walks use host pointers). */
bool interp_phys_read(InterpCPU *cpu, uint64_t phys, void *buf, unsigned len);
bool interp_phys_write(InterpCPU *cpu, uint64_t phys, const void *buf,
                       unsigned len);

/* Port I/O under the machine lock (after the IOPL/TSS checks). */
uint32_t interp_io_read(InterpCPU *cpu, uint16_t port, unsigned size);
void interp_io_write(InterpCPU *cpu, uint16_t port, unsigned size,
                     uint32_t value);

/* ==== blocks and code tracking (block-cache.c) ==== */

/* Whether guest physical page @phys (any address in it) holds translated
 * code; mmu.c then keeps its write tag invalid. */
bool interp_page_has_code(InterpShared *s, uint64_t phys);
/* A write of @len bytes at guest physical @phys hit a code page: drops
 * the blocks there (on every vCPU), and if the running block is among
 * them, makes it end after the current instruction. */
void interp_code_written(InterpCPU *cpu, uint64_t phys, unsigned len);

/* ==== CPU model (cpuid.c, msr.c) ==== */

typedef struct CpuidResult { uint32_t eax, ebx, ecx, edx; } CpuidResult;
void interp_cpuid(InterpCPU *cpu, uint32_t leaf, uint32_t subleaf,
                  CpuidResult *r);
/* Feature tests for the decoder, from the CPUID model. */
bool interp_has_feature(InterpCPU *cpu, int feature);
enum {
    FEAT_POPCNT, FEAT_LZCNT, FEAT_BMI1, FEAT_BMI2, FEAT_MOVBE, FEAT_ADX,
    FEAT_RDTSCP, FEAT_CX16, FEAT_FSGSBASE, FEAT_LAHF64, FEAT_PCID,
    FEAT_NR,
};
/* False for an unknown MSR or a bad value: the caller raises #GP(0). */
bool interp_rdmsr(InterpCPU *cpu, uint32_t index, uint64_t *value);
bool interp_wrmsr(InterpCPU *cpu, uint32_t index, uint64_t value);
uint64_t interp_read_tsc(InterpCPU *cpu);
/* The guest TSC frequency (CPUID 0x15/0x16 advertise it). */
#define INTERP_TSC_HZ 1000000000ULL
int64_t interp_clock_ns(InterpCPU *cpu);

/* x87 power-on state (ops-fpu.c). */
void interp_fpu_reset(InterpCPU *cpu);

/* Logging (disas.c). */
/* -d in_asm: a newly translated block, disassembled with capstone. */
void interp_log_block(InterpCPU *cpu, uint64_t pc, const uint8_t *code,
                      unsigned len);
/* -d cpu: the register state, before a block runs (QEMU's layout). */
void interp_log_cpu(InterpCPU *cpu);

/* ==== inline fast paths ==== */

/* Linear address of an access through @seg; the common flat case costs
 * an add and a mask. */
static inline uint64_t interp_linear(InterpCPU *cpu, int seg, uint64_t ea,
                                     unsigned size, int access)
{
    if (__builtin_expect(cpu->seg_check_mask & (1u << seg), 0)) {
        return interp_linear_slow(cpu, seg, ea, size, access);
    }
    return (cpu->seg_base[seg] + ea) & cpu->lin_mask;
}

static inline InterpTLBEntry *interp_tlb_entry(InterpCPU *cpu, uint64_t lin)
{
    return &cpu->tlb[cpu->mmu_idx][(lin >> 12) & (INTERP_TLB_SIZE - 1)];
}

/* Whether [lin, lin + size) stays inside one page. */
#define INTERP_IN_PAGE(lin, size) \
    (((lin) & (INTERP_PAGE_SIZE - 1)) <= INTERP_PAGE_SIZE - (size))

#define INTERP_DEFINE_LD(bits)                                              \
static inline uint##bits##_t interp_ld##bits(InterpCPU *cpu, uint64_t lin)  \
{                                                                           \
    InterpTLBEntry *e = interp_tlb_entry(cpu, lin);                         \
    if (__builtin_expect(e->read_tag == (lin & INTERP_PAGE_MASK) &&         \
                         INTERP_IN_PAGE(lin, bits / 8), 1)) {               \
        uint##bits##_t v;                                                   \
        memcpy(&v, (void *)(uintptr_t)(lin + e->addend), sizeof(v));        \
        return v;                                                           \
    }                                                                       \
    return (uint##bits##_t)interp_ld_slow(cpu, lin, bits / 8);              \
}
#define INTERP_DEFINE_ST(bits)                                              \
static inline void interp_st##bits(InterpCPU *cpu, uint64_t lin,            \
                                   uint##bits##_t v)                        \
{                                                                           \
    InterpTLBEntry *e = interp_tlb_entry(cpu, lin);                         \
    if (__builtin_expect(e->write_tag == (lin & INTERP_PAGE_MASK) &&        \
                         INTERP_IN_PAGE(lin, bits / 8), 1)) {               \
        memcpy((void *)(uintptr_t)(lin + e->addend), &v, sizeof(v));        \
        return;                                                             \
    }                                                                       \
    interp_st_slow(cpu, lin, bits / 8, v);                                  \
}
INTERP_DEFINE_LD(8)
INTERP_DEFINE_LD(16)
INTERP_DEFINE_LD(32)
INTERP_DEFINE_LD(64)
INTERP_DEFINE_ST(8)
INTERP_DEFINE_ST(16)
INTERP_DEFINE_ST(32)
INTERP_DEFINE_ST(64)
#undef INTERP_DEFINE_LD
#undef INTERP_DEFINE_ST

/* Loads and stores of @size (1, 2, 4, 8) bytes at linear address @lin. */
static inline uint64_t interp_ld(InterpCPU *cpu, uint64_t lin, unsigned size)
{
    switch (size) {
    case 1: return interp_ld8(cpu, lin);
    case 2: return interp_ld16(cpu, lin);
    case 4: return interp_ld32(cpu, lin);
    default: return interp_ld64(cpu, lin);
    }
}

static inline void interp_st(InterpCPU *cpu, uint64_t lin, unsigned size,
                             uint64_t v)
{
    switch (size) {
    case 1: interp_st8(cpu, lin, v); break;
    case 2: interp_st16(cpu, lin, v); break;
    case 4: interp_st32(cpu, lin, v); break;
    default: interp_st64(cpu, lin, v); break;
    }
}

/* The same at offset @ea in @seg. */
static inline uint64_t interp_read(InterpCPU *cpu, int seg, uint64_t ea,
                                   unsigned size)
{
    return interp_ld(cpu, interp_linear(cpu, seg, ea, size, ACC_READ), size);
}

static inline void interp_write(InterpCPU *cpu, int seg, uint64_t ea,
                                unsigned size, uint64_t v)
{
    interp_st(cpu, interp_linear(cpu, seg, ea, size, ACC_WRITE), size, v);
}

/* The stack pointer as SS.B / 64-bit mode sees it. */
static inline uint64_t interp_sp_mask(InterpCPU *cpu)
{
    return cpu->stack_bytes == 8 ? ~0ULL :
           cpu->stack_bytes == 4 ? 0xffffffffULL : 0xffffULL;
}

/* Writes @sp into RSP keeping the bits above the stack width. */
static inline void interp_set_sp(InterpCPU *cpu, uint64_t sp)
{
    uint64_t mask = interp_sp_mask(cpu);
    cpu->regs[R_ESP] = (cpu->regs[R_ESP] & ~mask) | (sp & mask);
}

/* PUSH of @size bytes: the store first (it may fault), then RSP. */
static inline void interp_push(InterpCPU *cpu, uint64_t value, unsigned size)
{
    uint64_t sp = (cpu->regs[R_ESP] - size) & interp_sp_mask(cpu);

    interp_write(cpu, SEG_SS, sp, size, value);
    interp_set_sp(cpu, sp);
}

static inline uint64_t interp_pop(InterpCPU *cpu, unsigned size)
{
    uint64_t sp = cpu->regs[R_ESP] & interp_sp_mask(cpu);
    uint64_t v = interp_read(cpu, SEG_SS, sp, size);

    interp_set_sp(cpu, sp + size);
    return v;
}

#endif
