/*
 * The sequence generator: an x86-64 encoder, the case state, and the
 * instruction classes.
 *
 * A case is built one instruction at a time. Each candidate is run on the
 * host CPU from the exact state the previous ones left (registers, flags,
 * memory), so the generator always knows every value: it picks memory
 * operands whose addresses land in the data area, divisors that do not
 * fault (most of the time), counts, and which flags the SDM leaves
 * undefined for these very operands. An instruction that would read an
 * undefined flag is not emitted; registers the SDM leaves undefined are
 * overwritten at once by a MOV. The finished sequence then runs once more
 * natively from the start, and that run is what the interpreter must match.
 */
#ifndef TESTS_INTERP_GEN_H
#define TESTS_INTERP_GEN_H

#include <stddef.h>
#include <string.h>
#include "difftest.h"

/* ---- random numbers (xoshiro256**) ---- */
typedef struct Rng {
    uint64_t s[4];
} Rng;

void rng_seed(Rng *r, uint64_t seed, uint64_t index);
uint64_t rng_next(Rng *r);
static inline uint64_t rng_below(Rng *r, uint64_t n)
{
    return n ? rng_next(r) % n : 0ULL;
}
static inline bool rng_chance(Rng *r, unsigned num, unsigned den)
{
    return rng_below(r, den) < num;
}

/* ---- the encoder ---- */
#define DT_REG_NONE  (-1)
#define DT_REG_RIP   (-2)
#define DT_AH        16            /* 8-bit codes 16..19: AH CH DH BH */

enum { R_AX, R_CX, R_DX, R_BX, R_SP, R_BP, R_SI, R_DI };

typedef struct MemRef {
    int base;                /* 0-15, DT_REG_NONE or DT_REG_RIP */
    int index;               /* 0-15 except 4, or DT_REG_NONE */
    int scale;               /* log2 */
    int64_t disp;            /* DT_REG_RIP: the target address instead */
    int disp_size;           /* 0, 1 or 4 (the emitter may widen it) */
    bool addr32;             /* 67 prefix */
    bool force_sib;          /* SIB even when not needed */
} MemRef;

typedef struct Enc {
    uint8_t pfx[8];          /* legacy prefixes, in order */
    int npfx;
    bool rex_w;
    bool force_rex;          /* REX even without W/R/X/B (SPL..DIL) */
    uint8_t junk_rex;        /* a REX before the legacy prefixes: ignored */
    bool vex;
    uint8_t vex_pp, vex_l, vex_w;
    int vex_v;               /* VEX.vvvv register */
    int map;                 /* 0: one byte, 1: 0F, 2: 0F38, 3: 0F3A */
    uint8_t op;
    bool has_modrm;
    int reg;                 /* ModRM.reg: register or /digit */
    bool rm_mem;
    int rm;                  /* register when !rm_mem */
    MemRef m;
    int opreg;               /* register in the opcode's low bits, or -1 */
    int imm_size;            /* 0, 1, 2, 4, 8 */
    uint64_t imm;
    int imm2_size;           /* ENTER's second immediate */
    uint64_t imm2;
    int rel_size;            /* branch displacement: 1 or 4 */
    int64_t rel;
    uint8_t raw[15];         /* raw_len > 0: these bytes after the */
    int raw_len;             /* prefixes, nothing else */
} Enc;

void enc_init(Enc *e);
void enc_pfx(Enc *e, uint8_t p);
/* Operand size 2 (66), 4 or 8 (REX.W) for the usual encodings. */
void enc_opsize(Enc *e, unsigned size);
/* Encodes @e at @addr into @out (16 bytes). Returns the length, or -1 when
 * the combination cannot be encoded (AH..BH with REX, > 15 bytes). The
 * offset of the branch displacement goes to *rel_off when non-NULL. */
int enc_emit(const Enc *e, uint64_t addr, uint8_t *out, int *rel_off);

/* ---- the generator ---- */

/* Instruction classes (--class). */
typedef enum {
    CLS_ALU, CLS_UNARY, CLS_MOV, CLS_COND, CLS_BRANCH, CLS_MULDIV,
    CLS_SHIFT, CLS_BIT, CLS_BMI, CLS_ATOMIC, CLS_STRING, CLS_STACK,
    CLS_FLAGS, CLS_SMC, CLS_INVALID, CLS_NR
} DtClass;

extern const char *const dt_class_names[CLS_NR];

/* One instruction of a case. */
typedef struct DtInsn {
    uint8_t bytes[16];
    uint8_t len;
    bool live;               /* executed (not skipped by a jump) */
    uint64_t addr;
    const char *name;
    uint32_t undef_before;   /* flags undefined when it starts */
    /* branches: the displacement is patched when the sequence is done */
    int rel_off, rel_size;
    int target;              /* index of the target instruction; -1 none */
} DtInsn;

typedef struct DtCase {
    uint64_t seed, index;
    DtClass cls;
    DtRegs init;
    uint8_t data_init[DT_DATA_SIZE];
    DtInsn insn[DT_MAX_INSNS];
    int n;
    uint64_t code_start, code_end;   /* code_end: the final UD2 */
    uint64_t window_addr;
    uint8_t window[DT_WINDOW];
    /* The native run of the whole sequence. */
    DtResult expect;
    uint8_t data_expect[DT_DATA_SIZE];
    uint32_t undef_end;      /* flags undefined where it stopped */
    bool native_mismatch;    /* the step-by-step and whole runs differ */
    DtResult step_result;    /* then: what the steps gave */
} DtCase;

/* Access kinds of memory operands. */
enum { MA_NONE, MA_READ, MA_WRITE, MA_RW };

/* What an instruction does to the flags, for the undefined-flag rules. */
typedef struct Meta {
    const char *name;
    uint32_t fl_read;        /* flags its result depends on */
    uint32_t fl_def;         /* flags it leaves defined */
    uint32_t fl_undef;       /* flags the SDM leaves undefined */
    bool fault_ok;           /* a fault is what we want here */
    bool repair;             /* overwrites an undefined result: may use
                                the space kept in reserve */
} Meta;

typedef enum { COMMIT_OK, COMMIT_END, COMMIT_REJECT } Commit;

typedef struct Gen {
    Rng rng;
    DtCase *c;
    DtRegs cur;              /* exact state before the next instruction */
    uint32_t undef;          /* flags undefined now */
    uint64_t pos;            /* address of the next instruction */
    uint64_t limit;          /* the sequence must end before this */
    int live;
    bool ended;              /* an instruction faulted: the end */
    bool full;               /* no room for more */
    int dead;                /* > 0 while emitting skipped instructions */
    DtClass cls;
    bool want_fault;         /* this instruction may target a guard page */
    bool fault_intended;     /* gen_mem chose a faulting address */
    unsigned align;          /* alignment of the next memory operand */
    int64_t rsp_bias;        /* added to RSP in addresses (POP r/m) */
    uint64_t mem_addr;       /* the access address gen_mem chose */
    DtResult fault;          /* the fault that ended the case */
    /* last: not cleared between cases */
    uint8_t snap[DT_DATA_SIZE];
} Gen;

/* The register value as an operand of @size (8-bit codes for size 1). */
uint64_t gen_reg_value(Gen *g, int reg, unsigned size);
bool gen_in_data(uint64_t addr, uint64_t size, bool allow_ro);
/* The native data area (guest virtual = host address); 0 outside it. */
static inline uint64_t gen_mem_value(uint64_t addr, unsigned size)
{
    uint64_t v = 0;

    if (gen_in_data(addr, size, true)) {
        memcpy(&v, (void *)(uintptr_t)addr, size);
    }
    return v;
}
uint64_t gen_value(Gen *g);
/* A register for an operand of @size (8-bit codes 0-19 for size 1);
 * @write: a destination, RSP rarely. Sets force_rex for SPL..DIL. */
int gen_reg(Gen *g, Enc *e, unsigned size, bool write);
/* Makes the r/m operand of @e a memory operand of @size bytes whose access
 * lands at address EA + @adj in the data area (a guard page now and then
 * when g->want_fault). Returns the accessed address, or 0 when no
 * encoding was found. MA_NONE (LEA, NOP): any address. */
uint64_t gen_mem(Gen *g, Enc *e, unsigned size, int access, int64_t adj);
/* Register or memory r/m operand of @size (memory with probability
 * @mem_pct %). Returns the register code or -1 for memory. */
int gen_rm(Gen *g, Enc *e, unsigned size, int access, unsigned mem_pct);
/* The current value of that r/m operand; whether its address uses @reg. */
uint64_t gen_rm_value(Gen *g, const Enc *e, unsigned size);
bool gen_mem_uses(const Enc *e, int reg);
/* An address for an access (see gen_mem), aligned to @align if > 1. */
uint64_t gen_target(Gen *g, unsigned size, int access, bool fault,
                    unsigned align);
/* An immediate of @bytes bytes, edge values often. */
uint64_t gen_imm(Gen *g, int bytes);
unsigned gen_size(Gen *g, bool allow8);
/* Adds ignored prefixes (segment overrides in 64-bit mode) sometimes. */
void gen_noise(Gen *g, Enc *e);

/* Encodes @e at the current position, runs it natively and records it. */
Commit gen_commit(Gen *g, const Enc *e, const Meta *m);
/* MOV reg, imm of @size (a setup step). */
Commit gen_mov_imm(Gen *g, int reg, unsigned size, uint64_t value);
/* An instruction that overwrites a result the SDM leaves undefined. */
Commit gen_repair(Gen *g, const Enc *e, const char *name);
/* @e1 and @e2 run as one step; @e1's RIP-relative memory operand is
 * aimed at byte @patch_off of @e2 (self-modifying code): the case keeps
 * @e2's original bytes, the host runs the modified ones. */
Commit gen_commit_pair(Gen *g, const Enc *e1, const Meta *m1,
                       const Enc *e2, const Meta *m2, int patch_off);
/* Branches: @e with rel_size set. Runs it; if it is taken, emits @skip
 * skipped instructions and points it past them; if not, its target is
 * the instruction @skip + 1 further on. */
Commit gen_branch(Gen *g, const Enc *e, const Meta *m, int skip);

/* Host CPU features the generator needs: an instruction the host does
 * not have is not generated (it might run as another one natively, as
 * TZCNT runs as BSF without BMI1). */
typedef struct DtHostFeatures {
    bool bmi1, bmi2, adx, movbe, popcnt, lzcnt, cx16, lahf;
} DtHostFeatures;
const DtHostFeatures *dt_host(void);

/* Condition code @cc (0-15): the flags it reads. */
uint32_t cc_flags(int cc);

/* One instruction (or a few) of class @cls. */
Commit gen_class(Gen *g, DtClass cls);

/* Builds case @index of @seed (class @cls, or random if CLS_NR), using
 * @g as the workspace. */
void gen_case(Gen *g, DtCase *c, uint64_t seed, uint64_t index,
              DtClass cls);

/* Class generators (gen-ops.c, gen-ops2.c); @lock: a memory
 * destination with LOCK. */
Commit gen_alu_op(Gen *g, bool lock);
Commit gen_unary_op(Gen *g, bool lock);
Commit gen_bt_op(Gen *g, bool lock);
Commit gen_alu(Gen *g);
Commit gen_unary(Gen *g);
Commit gen_mov(Gen *g);
Commit gen_cond(Gen *g);
Commit gen_branch_insn(Gen *g);
Commit gen_muldiv(Gen *g);
Commit gen_shift(Gen *g);
Commit gen_bit(Gen *g);
Commit gen_bmi(Gen *g);
Commit gen_atomic(Gen *g);
Commit gen_string(Gen *g);
Commit gen_stack(Gen *g);
Commit gen_flags(Gen *g);
Commit gen_smc(Gen *g);
Commit gen_invalid(Gen *g);

#endif
