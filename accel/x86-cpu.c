/*
 * Architectural x86 CPU states that do not depend on the accelerator: the
 * power-on state (Intel SDM vol. 3, 9.1.1) and the entry states the boot
 * loaders need. Segment attributes are chosen so that KVM's VMX guest
 * state checks accept them: code segments are present, S=1, type 0xb
 * (execute/read, accessed), data segments type 0x3 (read/write, accessed),
 * TR a present busy TSS (type 0xb) and the LDT unusable outside real mode.
 */
#include <string.h>
#include "lemu/accel/x86-cpu.h"

/* Descriptor types of the segment caches. */
#define SEG_TYPE_DATA_RW_ACCESSED  0x3
#define SEG_TYPE_CODE_RX_ACCESSED  0xb
#define SEG_TYPE_LDT               0x2
#define SEG_TYPE_TSS_BUSY          0xb

/* CPUID.1:EAX-style signature left in EDX by a reset: family 6. */
#define RESET_EDX_SIGNATURE  0x00000600

#define RESET_CR0   (CR0_CD | CR0_NW | CR0_ET)       /* 0x60000010 */
#define RESET_DR6   0xffff0ff0ULL
#define RESET_DR7   0x00000400ULL
#define RESET_PAT   0x0007040600070406ULL

/* Selectors of the flat GDT the boot loaders install (Linux __BOOT_CS/DS). */
#define BOOT_CS_SELECTOR  0x10
#define BOOT_DS_SELECTOR  0x18

static X86Segment real_mode_segment(uint16_t selector, uint64_t base,
                                    uint8_t type)
{
    return (X86Segment) {
        .base = base,
        .limit = 0xffff,
        .selector = selector,
        .type = type,
        .s = 1,
        .present = 1,
    };
}

static X86Segment flat_segment(uint16_t selector, uint8_t type, bool code64)
{
    return (X86Segment) {
        .base = 0,
        .limit = 0xffffffff,
        .selector = selector,
        .type = type,
        .s = 1,
        .present = 1,
        .l = code64,
        .db = !code64,       /* L=1 requires D=0 */
        .g = 1,
    };
}

/* A TR that KVM accepts in every mode: busy TSS, present. */
static X86Segment boot_tr(void)
{
    return (X86Segment) {
        .limit = 0xffff,
        .type = SEG_TYPE_TSS_BUSY,
        .present = 1,
    };
}

static X86Segment unusable_ldt(void)
{
    return (X86Segment) {
        .limit = 0xffff,
        .type = SEG_TYPE_LDT,
        .unusable = 1,
    };
}

/* Real-mode segments: CS as given, the data segments at 0, and LDTR/TR
 * present with limit 0xffff as the SDM has them after reset. */
static void load_real_mode_segments(X86CPUState *st, uint16_t cs_selector,
                                    uint32_t cs_base)
{
    st->segs[SEG_CS] = real_mode_segment(cs_selector, cs_base,
                                         SEG_TYPE_CODE_RX_ACCESSED);
    for (int i = 0; i < X86_NR_SEGS; i++) {
        if (i != SEG_CS) {
            st->segs[i] = real_mode_segment(0, 0, SEG_TYPE_DATA_RW_ACCESSED);
        }
    }
    st->ldt = (X86Segment) {
        .limit = 0xffff, .type = SEG_TYPE_LDT, .present = 1,
    };
    st->tr = boot_tr();
}

void x86_cpu_state_reset(X86CPUState *st, bool bsp)
{
    memset(st, 0, sizeof(*st));

    st->regs[R_EDX] = RESET_EDX_SIGNATURE;
    st->rip = 0xfff0;
    st->rflags = RFLAGS_FIXED;

    load_real_mode_segments(st, 0xf000, 0xffff0000);
    st->gdt = (X86DescTable) { .base = 0, .limit = 0xffff };
    st->idt = (X86DescTable) { .base = 0, .limit = 0xffff };

    st->cr0 = RESET_CR0;
    st->dr[6] = RESET_DR6;
    st->dr[7] = RESET_DR7;
    st->pat = RESET_PAT;
    st->apic_base = APIC_DEFAULT_BASE | MSR_APIC_BASE_ENABLE |
                    (bsp ? MSR_APIC_BASE_BSP : 0);
    st->mp_state = bsp ? X86_MP_RUNNABLE : X86_MP_WAIT_FOR_SIPI;
}

void x86_cpu_state_set_real_mode(X86CPUState *st, uint64_t entry)
{
    /* The CS base keeps the 64 KiB block of @entry and IP the offset in
     * it; above 1 MiB the selector cannot express the base (as at reset,
     * F000 with base 0xffff0000), so it only keeps the low bits. */
    uint32_t base = (uint32_t)entry & 0xffff0000u;

    load_real_mode_segments(st, (base >> 4) & 0xffff, base);
    st->rip = entry & 0xffff;
    st->rflags = RFLAGS_FIXED;
    st->cr0 = RESET_CR0;
    st->cr3 = 0;
    st->cr4 = 0;
    st->efer = 0;
}

void x86_cpu_state_set_flat32(X86CPUState *st, uint64_t entry)
{
    st->segs[SEG_CS] = flat_segment(BOOT_CS_SELECTOR,
                                    SEG_TYPE_CODE_RX_ACCESSED, false);
    for (int i = 0; i < X86_NR_SEGS; i++) {
        if (i != SEG_CS) {
            st->segs[i] = flat_segment(BOOT_DS_SELECTOR,
                                       SEG_TYPE_DATA_RW_ACCESSED, false);
        }
    }
    st->ldt = unusable_ldt();
    st->tr = boot_tr();
    st->rip = (uint32_t)entry;
    st->rflags = RFLAGS_FIXED;          /* interrupts off */
    st->cr0 = CR0_PE | CR0_ET;          /* caches on, paging off */
    st->cr3 = 0;
    st->cr4 = 0;
    st->efer = 0;
}

void x86_cpu_state_set_long_mode(X86CPUState *st, uint64_t entry,
                                 uint64_t cr3)
{
    st->segs[SEG_CS] = flat_segment(BOOT_CS_SELECTOR,
                                    SEG_TYPE_CODE_RX_ACCESSED, true);
    for (int i = 0; i < X86_NR_SEGS; i++) {
        if (i != SEG_CS) {
            st->segs[i] = flat_segment(BOOT_DS_SELECTOR,
                                       SEG_TYPE_DATA_RW_ACCESSED, false);
        }
    }
    st->ldt = unusable_ldt();
    st->tr = boot_tr();
    st->rip = entry;
    st->rflags = RFLAGS_FIXED;          /* interrupts off */
    st->cr0 = CR0_PE | CR0_ET | CR0_PG;
    st->cr3 = cr3;
    st->cr4 = CR4_PAE;
    st->efer = EFER_LME | EFER_LMA;
}

/* Page-table entry bits the debug walk needs. */
#define PTE_P   (1ULL << 0)
#define PTE_PS  (1ULL << 7)
#define PTE_ADDR_MASK 0x000ffffffffff000ULL   /* bits 51:12 */

static bool read_pte(X86PhysReadFunc *read, void *opaque, uint64_t gpa,
                     bool wide, uint64_t *pte)
{
    uint32_t pte32;

    if (wide) {
        return read(opaque, gpa, pte, 8);
    }
    if (!read(opaque, gpa, &pte32, 4)) {
        return false;
    }
    *pte = pte32;
    return true;
}

bool x86_cpu_translate_debug(const X86CPUState *st, X86PhysReadFunc *read,
                             void *opaque, uint64_t vaddr, uint64_t *gpa)
{
    uint64_t pte, table;
    int levels, shift;
    bool wide;

    if (!(st->cr0 & CR0_PG)) {
        *gpa = vaddr & 0xffffffffULL;
        return true;
    }
    if (st->efer & EFER_LMA) {
        levels = 4;
        wide = true;
        table = st->cr3 & PTE_ADDR_MASK;
    } else if (st->cr4 & CR4_PAE) {
        /* The four PDPTEs sit at CR3[31:5]. */
        vaddr &= 0xffffffffULL;
        if (!read(opaque, (st->cr3 & 0xffffffe0ULL) + ((vaddr >> 30) & 3) * 8,
                  &pte, 8) || !(pte & PTE_P)) {
            return false;
        }
        levels = 2;
        wide = true;
        table = pte & PTE_ADDR_MASK;
    } else {
        vaddr &= 0xffffffffULL;
        levels = 2;
        wide = false;
        table = st->cr3 & 0xfffff000ULL;
    }

    /* Walk from the top level down: 9 index bits per level (10 for
     * 32-bit tables), large pages at every level above the last. */
    shift = wide ? 12 + 9 * (levels - 1) : 22;
    for (int level = levels; level >= 1; level--) {
        unsigned bits = wide ? 9 : 10;
        uint64_t index = (vaddr >> shift) & ((1ULL << bits) - 1);

        if (!read_pte(read, opaque, table + index * (wide ? 8 : 4), wide,
                      &pte) || !(pte & PTE_P)) {
            return false;
        }
        if (level > 1 && (pte & PTE_PS) &&
            (level < 4) && (wide || (st->cr4 & CR4_PSE))) {
            uint64_t page_mask = (1ULL << shift) - 1;
            uint64_t base;

            if (wide) {
                base = pte & PTE_ADDR_MASK & ~page_mask;
            } else {
                /* PSE-36: bits 20:13 of the PDE are address bits 39:32. */
                base = (pte & 0xffc00000ULL) | ((pte >> 13) & 0xffULL) << 32;
            }
            *gpa = base | (vaddr & page_mask);
            return true;
        }
        table = wide ? pte & PTE_ADDR_MASK : pte & 0xfffff000ULL;
        shift -= bits;
    }
    *gpa = table | (vaddr & 0xfff);
    return true;
}
