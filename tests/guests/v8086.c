/*
 * v8086: virtual-8086 mode under a small monitor, with 32-bit paging on.
 * A 16-bit program runs at CPL 3 with real-mode addressing; with IOPL 3,
 * INT n goes through a DPL-3 gate of the protected-mode IDT (the frame
 * carries the program's segment registers, the data segments are null in
 * the handler) and CLI/STI/PUSHF run natively; with IOPL 0 they raise
 * #GP(0), which the monitor emulates. IN/OUT obey the TSS I/O bitmap at
 * any IOPL; HLT always raises #GP; a read of a supervisor page is a #PF
 * with U set.
 */
#include "guest.h"
#include "emulated32.h"

#define V86_BASE   0x7000
#define V86_SEG    (V86_BASE >> 4)
#define SUPER_PAGE 0xb000           /* a supervisor-only page */

#define EFLAGS_FIXED 0x00002u
#define EFLAGS_IF    0x00200u
#define EFLAGS_IOPL3 0x03000u
#define EFLAGS_VM    0x20000u

#define PTE_P   0x001u
#define PTE_RW  0x002u
#define PTE_US  0x004u

extern const char v86_start[], v86_end[], v86_results[], v86_read_super[];
void enter_v86(uint32_t eip, uint32_t eflags);
extern uint64_t gdt[];

struct v86_results {
    uint16_t cs, seg, int_ax, flags_cli, flags_sti, io_done;
    uint32_t op32;
} __attribute__((packed));

struct tss32 {
    uint16_t link, r0;
    uint32_t esp0;
    uint16_t ss0, r1;
    uint32_t unused[22];
    uint16_t trap, iomap_base;
    uint8_t iomap[0x400 / 8 + 1];   /* ports 0..0x3ff, then 0xff */
} __attribute__((packed));

static uint32_t page_dir[1024] __attribute__((aligned(4096)));
static uint32_t pt_low[1024] __attribute__((aligned(4096)));
static struct tss32 tss __attribute__((aligned(16)));
static uint8_t ring0_stack[8192] __attribute__((aligned(16)));

/* What the handlers saw. */
static jmp_buf v86_exit;
static unsigned traps, int30_calls;
static bool vif;
static uint32_t denied_port;
static uint32_t int30_flags, int30_cs, int30_ds, int30_es, int30_entry_ds,
    int30_entry_es;

static uint8_t *v86_linear(uint32_t seg, uint32_t off)
{
    return phys_ptr(((seg & 0xffff) << 4) + (off & 0xffff));
}

/* The segment registers the CPU pushed after SS when it left v86 mode. */
static uint32_t v86_frame_seg(struct int_frame *f, unsigned i)
{
    return (&f->ss)[1 + i] & 0xffff;            /* ES, DS, FS, GS */
}

/* #GP from virtual-8086 mode: emulates what IOPL < 3 forbids. */
static void v86_monitor(struct int_frame *f)
{
    if (!(f->flags & EFLAGS_VM)) {
        fail("#GP outside virtual-8086 mode, error 0x%x at %x:%x", f->error,
             f->cs, f->ip);
    }
    CHECK(f->error == 0, "#GP in virtual-8086 mode with error 0x%x",
          f->error);
    const uint8_t *insn = v86_linear(f->cs, f->ip);
    uint32_t sp;

    traps++;
    switch (insn[0]) {
    case 0xcd:                      /* INT n: the service */
        f->eax = (f->eax & ~0xffffu) | ((f->eax + 0x2222) & 0xffff);
        f->ip += 2;
        break;
    case 0xfa:                      /* CLI */
        vif = false;
        f->ip += 1;
        break;
    case 0xfb:                      /* STI */
        vif = true;
        f->ip += 1;
        break;
    case 0x9c:                      /* PUSHF with the virtual IF */
        sp = (f->sp - 2) & 0xffff;
        *(uint16_t *)v86_linear(f->ss, sp) =
            (uint16_t)((f->flags & ~EFLAGS_IF) | (vif ? EFLAGS_IF : 0));
        f->sp = (f->sp & ~0xffffu) | sp;
        f->ip += 1;
        break;
    case 0xe4:                      /* IN AL, imm8 denied: skip it */
        denied_port = insn[1];
        f->ip += 2;
        break;
    case 0xf4:                      /* HLT: the end */
        longjmp(v86_exit, 1);
    default:
        fail("#GP in virtual-8086 mode at %04x:%04x, opcode 0x%02x", f->cs,
             f->ip, insn[0]);
    }
}

/* INT 0x30 through its DPL-3 gate (IOPL 3). */
static void v86_int30(struct int_frame *f)
{
    int30_calls++;
    int30_flags = f->flags;
    int30_cs = f->cs;
    int30_es = v86_frame_seg(f, 0);
    int30_ds = v86_frame_seg(f, 1);
    int30_entry_ds = f->ds & 0xffff;
    int30_entry_es = f->es & 0xffff;
    f->eax = (f->eax & ~0xffffu) | ((f->eax + 0x2222) & 0xffff);
}

static void run_v86(void *entry_and_flags)
{
    const uint32_t *a = entry_and_flags;

    if (setjmp(v86_exit) == 0) {
        enter_v86(a[0], a[1]);
    }
}

/* ---- set-up ---- */

static void setup_paging(void)
{
    for (unsigned i = 0; i < 1024; i++) {
        pt_low[i] = (i << 12) | PTE_P | PTE_RW | PTE_US;
    }
    pt_low[SUPER_PAGE >> 12] = SUPER_PAGE | PTE_P | PTE_RW;
    page_dir[0] = (uint32_t)(uintptr_t)pt_low | PTE_P | PTE_RW | PTE_US;
    write_cr3((uintptr_t)page_dir);
    write_cr0(read_cr0() | CR0_PG);
}

static void setup_tss(void)
{
    uint32_t base = (uint32_t)(uintptr_t)&tss, limit = sizeof(tss) - 1;
    unsigned slot = SEL_TSS / 8;

    memset(&tss, 0, sizeof(tss));
    tss.esp0 = (uint32_t)(uintptr_t)ring0_stack + sizeof(ring0_stack);
    tss.ss0 = SEL_KDATA;
    tss.iomap_base = offsetof(struct tss32, iomap);
    memset(tss.iomap, 0xff, sizeof(tss.iomap));
    tss.iomap[0x80 / 8] = 0xfe;         /* only port 0x80 */
    gdt[slot] = (limit & 0xffff) | ((uint64_t)(base & 0xffffff) << 16) |
                (0x89ull << 40) | ((uint64_t)(limit >> 16) << 48) |
                ((uint64_t)(base >> 24) << 56);
    __asm__ volatile("ltr %w0" : : "r"((uint16_t)SEL_TSS) : "memory");
}

/* Runs the program from the start with @eflags; checks what it stored. */
static void run_program(uint32_t eflags, const char *what)
{
    const struct v86_results *r =
        phys_ptr(V86_BASE + (uintptr_t)(v86_results - v86_start));
    uint32_t args[2] = { 0, eflags };
    struct fault_info fi;

    memset(phys_ptr(V86_BASE), 0, 4096);
    memcpy(phys_ptr(V86_BASE), v86_start, (size_t)(v86_end - v86_start));
    traps = 0;
    denied_port = 0;
    vif = false;
    int v = catch_fault(run_v86, args, &fi);
    CHECK(v == -1, "%s: exception %d error 0x%lx at %x:%lx", what, v,
          (unsigned long)fi.error, fi.cs, (unsigned long)fi.ip);
    CHECK(r->cs == V86_SEG, "%s: CS 0x%x", what, r->cs);
    CHECK(r->seg == 0x1234, "%s: 0801:0000 read 0x%x, expected 0x1234",
          what, r->seg);
    CHECK(r->int_ax == 0x3333, "%s: INT 0x30 returned AX 0x%x", what,
          r->int_ax);
    CHECK(!(r->flags_cli & EFLAGS_IF) && (r->flags_sti & EFLAGS_IF),
          "%s: PUSHF after CLI 0x%x, after STI 0x%x", what, r->flags_cli,
          r->flags_sti);
    CHECK(r->io_done == 1 && denied_port == 0x71,
          "%s: I/O: done %u, denied port 0x%x", what, r->io_done,
          denied_port);
    CHECK(r->op32 == 0x34567812, "%s: 32-bit ROL gave 0x%x", what,
          r->op32);
}

int guest_main(struct multiboot_info *mbi)
{
    (void)mbi;
    printf("v8086: virtual-8086 mode with 32-bit paging\n");
    skip_if_emulated32("virtual-8086 mode");
    pic_init();                     /* every IRQ masked; before paging */
    setup_paging();
    setup_tss();
    idt_set_handler(13, v86_monitor);
    idt_set_handler(0x30, v86_int30);
    idt_set_dpl(0x30, 3);

    run_program(EFLAGS_VM | EFLAGS_IOPL3 | EFLAGS_FIXED, "IOPL 3");
    CHECK(int30_calls == 1, "IOPL 3: INT 0x30 reached its gate %u times",
          int30_calls);
    CHECK((int30_flags & EFLAGS_VM) && int30_cs == V86_SEG &&
          int30_ds == V86_SEG && int30_es == 0x0801,
          "IOPL 3: INT 0x30 frame: EFLAGS 0x%x CS 0x%x DS 0x%x ES 0x%x",
          int30_flags, int30_cs, int30_ds, int30_es);
    CHECK(int30_entry_ds == 0 && int30_entry_es == 0,
          "IOPL 3: the handler ran with DS 0x%x ES 0x%x, expected null",
          int30_entry_ds, int30_entry_es);
    CHECK(traps == 2, "IOPL 3: %u #GP traps, expected 2 (IN 0x71, HLT)",
          traps);
    printf("IOPL 3: real-mode addressing; INT 0x30 through the IDT with the "
           "segments on the ring-0 stack and null in the handler; CLI/STI/"
           "PUSHF native; 32-bit operands ok\n");
    printf("I/O bitmap in virtual-8086 mode: port 0x80 allowed, 0x71 -> "
           "#GP(0) ok\n");

    run_program(EFLAGS_VM | EFLAGS_FIXED, "IOPL 0");
    CHECK(int30_calls == 1, "IOPL 0: INT 0x30 went through its gate");
    CHECK(traps == 8, "IOPL 0: %u #GP traps, expected 8 (INT, CLI, PUSHF, "
          "STI, PUSHF, CLI, IN 0x71, HLT)", traps);
    printf("IOPL 0: INT, CLI, STI, PUSHF -> #GP(0), emulated by the "
           "monitor ok\n");

    uint32_t args[2] = { (uint32_t)(v86_read_super - v86_start),
                         EFLAGS_VM | EFLAGS_FIXED };
    struct fault_info fi;
    int v = catch_fault(run_v86, args, &fi);
    CHECK(v == 14 && fi.error == 0x5 && fi.cr2 == SUPER_PAGE &&
          fi.cs == V86_SEG, "read of a supervisor page: vector %d error "
          "0x%lx CR2 0x%lx CS 0x%x", v, (unsigned long)fi.error,
          (unsigned long)fi.cr2, fi.cs);
    printf("paging: a supervisor page read from virtual-8086 mode -> #PF "
           "error 0x5 ok\n");
    return 0;
}
