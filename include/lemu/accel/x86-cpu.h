/*
 * Architectural state of one x86-64 CPU, independent of the accelerator.
 * Accelerators convert to and from it (get_state/set_state); boot loaders
 * build the entry state in it; the monitor prints it.
 */
#ifndef LEMU_ACCEL_X86_CPU_H
#define LEMU_ACCEL_X86_CPU_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

enum {
    R_EAX, R_ECX, R_EDX, R_EBX, R_ESP, R_EBP, R_ESI, R_EDI,
    R_R8, R_R9, R_R10, R_R11, R_R12, R_R13, R_R14, R_R15,
    X86_NR_GPRS
};

enum { SEG_ES, SEG_CS, SEG_SS, SEG_DS, SEG_FS, SEG_GS, X86_NR_SEGS };

/* A segment register with its hidden descriptor cache. */
typedef struct X86Segment {
    uint64_t base;
    uint32_t limit;          /* byte granular, already scaled by G */
    uint16_t selector;
    uint8_t type;            /* descriptor type field (4 bits) */
    uint8_t s;               /* 1: code/data, 0: system */
    uint8_t dpl;
    uint8_t present;
    uint8_t avl;
    uint8_t l;               /* 64-bit code segment */
    uint8_t db;              /* default operation size */
    uint8_t g;
    uint8_t unusable;
} X86Segment;

typedef struct X86DescTable {
    uint64_t base;
    uint16_t limit;
} X86DescTable;

/* Whether the CPU runs or waits, as KVM's mp_state has it. */
typedef enum {
    X86_MP_RUNNABLE,
    X86_MP_WAIT_FOR_SIPI,    /* an application processor after reset/INIT */
    X86_MP_HALTED,
} X86MpState;

typedef struct X86CPUState {
    uint64_t regs[X86_NR_GPRS];
    uint64_t rip;
    uint64_t rflags;
    X86Segment segs[X86_NR_SEGS];
    X86Segment ldt;
    X86Segment tr;
    X86DescTable gdt;
    X86DescTable idt;
    uint64_t cr0, cr2, cr3, cr4, cr8;
    uint64_t dr[8];          /* dr4/dr5 unused */
    uint64_t efer;
    uint64_t apic_base;
    uint64_t star, lstar, cstar, sfmask, kernel_gs_base;
    uint64_t sysenter_cs, sysenter_esp, sysenter_eip;
    uint64_t pat;
    uint64_t tsc;
    X86MpState mp_state;
} X86CPUState;

/* Control register and flag bits used across lemu. */
#define CR0_PE   (1ULL << 0)
#define CR0_MP   (1ULL << 1)
#define CR0_EM   (1ULL << 2)
#define CR0_TS   (1ULL << 3)
#define CR0_ET   (1ULL << 4)
#define CR0_NE   (1ULL << 5)
#define CR0_WP   (1ULL << 16)
#define CR0_AM   (1ULL << 18)
#define CR0_NW   (1ULL << 29)
#define CR0_CD   (1ULL << 30)
#define CR0_PG   (1ULL << 31)

#define CR4_PSE  (1ULL << 4)
#define CR4_PAE  (1ULL << 5)
#define CR4_PGE  (1ULL << 7)
#define CR4_OSFXSR (1ULL << 9)
#define CR4_OSXMMEXCPT (1ULL << 10)

#define EFER_SCE (1ULL << 0)
#define EFER_LME (1ULL << 8)
#define EFER_LMA (1ULL << 10)
#define EFER_NXE (1ULL << 11)

#define RFLAGS_CF (1ULL << 0)
#define RFLAGS_FIXED (1ULL << 1)   /* bit 1 always reads as one */
#define RFLAGS_IF (1ULL << 9)
#define RFLAGS_DF (1ULL << 10)

#define APIC_DEFAULT_BASE 0xfee00000ULL
#define MSR_APIC_BASE_BSP    (1ULL << 8)
#define MSR_APIC_BASE_ENABLE (1ULL << 11)

/* The power-on state of the SDM (vol. 3, 9.1.1): real mode at
 * F000:FFF0 with CS base 0xffff0000; an AP waits for SIPI. */
void x86_cpu_state_reset(X86CPUState *st, bool bsp);

/* Real mode with CS:IP chosen so that CS.base + IP == @entry (below 1 MiB
 * the selector is entry >> 4 rounded down to a 64 KiB boundary). */
void x86_cpu_state_set_real_mode(X86CPUState *st, uint64_t entry);

/* Flat 32-bit protected mode, paging off: CS 0x10 and data 0x18 with base 0
 * and limit 4 GiB, as the Linux 32-bit boot protocol and multiboot ask. */
void x86_cpu_state_set_flat32(X86CPUState *st, uint64_t entry);

/* 64-bit long mode with CS 0x10 (L=1), data 0x18, paging on with CR3 =
 * @cr3, PAE, EFER.LME|LMA. The caller builds the page tables. */
void x86_cpu_state_set_long_mode(X86CPUState *st, uint64_t entry,
                                 uint64_t cr3);

/*
 * What a register dump prints that X86CPUState does not hold; only an
 * accelerator that keeps it (the interpreter) knows it. With no extra,
 * the CPL comes from the state (SS.DPL, 3 in virtual-8086 mode, 0 in
 * real mode), II is 0 and there is no CCS/CCD/CCO line.
 */
typedef struct X86CPUDumpExtra {
    unsigned cpl;
    bool irq_inhibit;        /* II: an STI or MOV SS interrupt shadow */
    /* The lazy condition codes, as QEMU's TCG prints them (its
     * CPU_DUMP_CCOP): cc_op names the operation, NULL for no line. */
    const char *cc_op;
    uint64_t cc_src, cc_dst;
} X86CPUDumpExtra;

/*
 * Appends @st to @out in QEMU's "info registers" / -d cpu layout: 64-bit
 * registers while the CPU runs 64-bit code, 32-bit ones otherwise (real
 * mode included), then segments, descriptor tables, control and debug
 * registers, EFER. lemu has no A20 gate or SMM: A20=1 SMM=0. @extra may
 * be NULL.
 */
void x86_cpu_dump_state(const X86CPUState *st, const X86CPUDumpExtra *extra,
                        GString *out);

/*
 * For the monitor (memsave, x): translates linear address @vaddr through
 * the paging mode @st is in (none, 32-bit with PSE, PAE, 4-level),
 * reading the page tables with @read. Ignores permissions; false when the
 * address is not mapped or a table cannot be read.
 */
typedef bool X86PhysReadFunc(void *opaque, uint64_t gpa, void *buf,
                             uint64_t len);
bool x86_cpu_translate_debug(const X86CPUState *st, X86PhysReadFunc *read,
                             void *opaque, uint64_t vaddr, uint64_t *gpa);

#endif
