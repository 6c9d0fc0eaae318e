/*
 * Private to seg.c, far.c, excp.c and ops-seg.c: segment descriptors,
 * stack frames built on a stack that is not yet the current one, the TSS
 * and the hardware task switch.
 */
#ifndef LEMU_ACCEL_INTERP_SEG_H
#define LEMU_ACCEL_INTERP_SEG_H

#include "cpu.h"

/* The type field of a code/data descriptor (S = 1). */
#define DESC_ACCESSED       0x1
#define DESC_DATA_WRITABLE  0x2
#define DESC_DATA_EXPDOWN   0x4
#define DESC_CODE_READABLE  0x2
#define DESC_CODE_CONFORMING 0x4
#define DESC_CODE           0x8

/* The type field of a system descriptor (S = 0). */
enum {
    DESC_TSS16_AVAIL = 0x1,
    DESC_LDT = 0x2,
    DESC_TSS16_BUSY = 0x3,
    DESC_CALL_GATE16 = 0x4,
    DESC_TASK_GATE = 0x5,
    DESC_INT_GATE16 = 0x6,
    DESC_TRAP_GATE16 = 0x7,
    DESC_TSS32_AVAIL = 0x9,        /* 64-bit TSS in long mode */
    DESC_TSS32_BUSY = 0xb,
    DESC_CALL_GATE32 = 0xc,        /* 64-bit call gate in long mode */
    DESC_INT_GATE32 = 0xe,
    DESC_TRAP_GATE32 = 0xf,
};
#define DESC_TSS_BUSY_BIT   0x2

/* Fields of the low 8 bytes of a descriptor. */
static inline unsigned desc_type(uint64_t d) { return (d >> 40) & 0xf; }
static inline bool desc_s(uint64_t d) { return (d >> 44) & 1; }
static inline unsigned desc_dpl(uint64_t d) { return (d >> 45) & 3; }
static inline bool desc_present(uint64_t d) { return (d >> 47) & 1; }
static inline bool desc_l(uint64_t d) { return (d >> 53) & 1; }
static inline bool desc_db(uint64_t d) { return (d >> 54) & 1; }

static inline uint32_t desc_base(uint64_t d)
{
    return ((d >> 16) & 0xffffff) | ((d >> 56) & 0xff) << 24;
}

/* The limit in bytes (scaled by G). */
static inline uint32_t desc_limit(uint64_t d)
{
    uint32_t limit = (d & 0xffff) | ((d >> 48) & 0xf) << 16;

    return (d >> 55) & 1 ? limit << 12 | 0xfff : limit;
}

static inline bool desc_is_code(uint64_t d)
{
    return desc_s(d) && (desc_type(d) & DESC_CODE);
}

static inline bool desc_is_conforming(uint64_t d)
{
    return desc_is_code(d) && (desc_type(d) & DESC_CODE_CONFORMING);
}

static inline bool desc_is_writable_data(uint64_t d)
{
    return desc_s(d) && (desc_type(d) & (DESC_CODE | DESC_DATA_WRITABLE)) ==
           DESC_DATA_WRITABLE;
}

/* Call/interrupt/trap gates: target selector and offset (low 32 bits). */
static inline uint16_t gate_selector(uint64_t d) { return (d >> 16) & 0xffff; }

static inline uint32_t gate_offset(uint64_t d)
{
    return (d & 0xffff) | ((d >> 48) & 0xffff) << 16;
}

static inline bool is_canonical(uint64_t a)
{
    return (uint64_t)(((int64_t)a << 16) >> 16) == a;
}

/* The error code naming a selector: index and TI, RPL bits cleared. */
static inline uint32_t sel_ec(uint16_t sel)
{
    return sel & 0xfffc;
}

/* A descriptor read from the GDT or LDT, and where it lies. */
typedef struct SegDesc {
    uint64_t lo;
    uint64_t hi;              /* long-mode system descriptors only */
    uint64_t addr;            /* linear address of the descriptor */
} SegDesc;

/* seg.c */
/* Reads the 8-byte descriptor of @sel; false when it lies beyond the
 * table limit (or the LDT is unusable). May raise #PF. */
bool seg_fetch_desc(InterpCPU *cpu, uint16_t sel, SegDesc *d);
/* Reads the upper 8 bytes of a 16-byte long-mode system descriptor;
 * false when they lie beyond the table limit. */
bool seg_fetch_desc_hi(InterpCPU *cpu, uint16_t sel, SegDesc *d);
/* Sets the accessed bit of a code/data descriptor in memory. */
void seg_set_accessed(InterpCPU *cpu, const SegDesc *d);
/* A segment cache from descriptor @d (16-byte form when @wide). */
void seg_cache_from_desc(X86Segment *s, uint16_t sel, const SegDesc *d,
                         bool wide);
/* Makes @seg unusable with selector @sel (a null selector). */
void seg_load_null(InterpCPU *cpu, int seg, uint16_t sel);
/* Real mode (base and selector) or virtual-8086 mode (whole cache). */
void seg_load_real(InterpCPU *cpu, int seg, uint16_t sel);
/* Recomputes seg_base[seg] and its bit of seg_check_mask. */
void seg_refresh(InterpCPU *cpu, int seg);
/* After a return to an outer level: ES/DS/FS/GS that the new CPL may
 * not use become null. */
void seg_null_invalid(InterpCPU *cpu);

/*
 * A stack being read or built: a copy of its segment cache and the stack
 * pointer, so that a frame can be pushed on a stack that is not yet SS
 * and nothing changes in the CPU until the caller commits it.
 */
typedef struct InterpStack {
    X86Segment ss;
    uint64_t rsp;             /* the full register value it started from */
    uint64_t sp;              /* offset of the top, within mask */
    uint64_t mask;            /* 0xffff, 0xffffffff or ~0 */
    bool is64;                /* 64-bit stack: base 0, canonical checks */
    bool kernel;              /* supervisor accesses (CPL < 3) */
    uint32_t ec;              /* #SS error code */
} InterpStack;

void stack_current(InterpCPU *cpu, InterpStack *st);
/* A stack from a descriptor cache (protected mode), for CPL @cpl. */
void stack_new(InterpStack *st, const X86Segment *ss, uint64_t rsp,
               unsigned cpl, uint32_t ec);
/* A 64-bit stack (long mode, privilege change, IST). */
void stack_new64(InterpStack *st, uint64_t rsp, unsigned cpl);
void stack_push(InterpCPU *cpu, InterpStack *st, uint64_t v, unsigned size);
uint64_t stack_pop(InterpCPU *cpu, InterpStack *st, unsigned size);
/* Reads at @off bytes above the top, without popping. */
uint64_t stack_peek(InterpCPU *cpu, InterpStack *st, uint64_t off,
                    unsigned size);
/* The value for RSP: the bits above the mask from where it started. */
static inline uint64_t stack_rsp(const InterpStack *st)
{
    return (st->rsp & ~st->mask) | (st->sp & st->mask);
}

/* far.c: the TSS */
/* SS:ESP for privilege level @dpl from the legacy TSS; raises #TS. */
void tss_stack(InterpCPU *cpu, unsigned dpl, uint16_t *ss, uint64_t *sp,
               uint32_t ext);
/* RSP@dpl (@ist 0) or IST@ist from the 64-bit TSS; raises #TS. */
uint64_t tss_stack64(InterpCPU *cpu, unsigned dpl, unsigned ist,
                     uint32_t ext);

enum { TASK_JMP, TASK_CALL, TASK_IRET, TASK_INT };
/*
 * Hardware task switch to the TSS of descriptor @d (selector @sel), the
 * checks of the source already done. The outgoing task resumes at
 * @ret_rip. @error_code >= 0 is pushed on the new task's stack (an
 * exception through a task gate). @ext is the EXT bit for error codes.
 */
void task_switch(InterpCPU *cpu, uint16_t sel, const SegDesc *d, int source,
                 uint64_t ret_rip, int64_t error_code, uint32_t ext);

#endif
