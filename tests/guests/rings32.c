/*
 * rings32: privilege changes in 32-bit protected mode. SYSEXIT into ring 3
 * and SYSENTER back (CS/SS/ESP/EIP from the SYSENTER MSRs, IF cleared);
 * a far call from ring 3 through a call gate that copies two parameters
 * to the ring-0 stack, and LRET 8 back; INT 0x80 through a DPL-3 gate
 * with IRET back to ring 3; INT 0x81 through a DPL-0 gate -> #GP.
 */
#include "guest.h"
#include "emulated32.h"

#define SEL_SYS_CODE  0x60          /* SYSENTER_CS: ring-0 code */
#define SEL_SYS_DATA  0x68          /* ring-0 data (SYSENTER SS) */
#define SEL_USER_CODE 0x73          /* SYSEXIT CS: ring-3 code, RPL 3 */
#define SEL_USER_DATA 0x7b          /* SYSEXIT SS: ring-3 data, RPL 3 */
#define SEL_GATE      0x80          /* call gate, DPL 3, 2 parameters */
#define SEL_TSS32     0x88
#define GDT_ENTRIES   18

#define MSR_SYSENTER_CS  0x174
#define MSR_SYSENTER_ESP 0x175
#define MSR_SYSENTER_EIP 0x176

#define EFLAGS_IF 0x200u

/* rings32-asm.S */
void enter_user_sysexit(void (*fn)(void), void *stack_top);
void sysenter_entry(void), gate_entry(void), user32_main(void),
     user32_int81(void);
extern const char user32_gate_ret[];
extern uint32_t se_seen[6], gate_seen[8], user_seen[7];
extern uint64_t gdt[];

struct table_desc {
    uint16_t limit;
    uint32_t base;
} __attribute__((packed));

struct tss32 {
    uint16_t link, r0;
    uint32_t esp0;
    uint16_t ss0, r1;
    uint32_t unused[22];
    uint16_t trap, iomap_base;
} __attribute__((packed));

static uint64_t big_gdt[GDT_ENTRIES] __attribute__((aligned(16)));
static struct tss32 tss __attribute__((aligned(16)));
static uint8_t ring0_stack[4096] __attribute__((aligned(16)));
static uint8_t sysenter_stack[4096] __attribute__((aligned(16)));
static uint8_t user_stack[4096] __attribute__((aligned(16)));

static jmp_buf user_exit;
static uint32_t int80_cs, int80_ss;

void user32_done(void);

void user32_done(void)
{
    longjmp(user_exit, 1);
}

static void setup(void)
{
    uint32_t gate = (uint32_t)(uintptr_t)gate_entry;
    uint32_t base = (uint32_t)(uintptr_t)&tss, limit = sizeof(tss) - 1;
    struct table_desc d = { sizeof(big_gdt) - 1, (uintptr_t)big_gdt };

    memcpy(big_gdt, gdt, SEL_SYS_CODE);
    big_gdt[SEL_SYS_CODE / 8] = 0x00cf9a000000ffffull;
    big_gdt[SEL_SYS_DATA / 8] = 0x00cf92000000ffffull;
    big_gdt[SEL_USER_CODE / 8] = 0x00cffa000000ffffull;
    big_gdt[SEL_USER_DATA / 8] = 0x00cff2000000ffffull;
    /* 32-bit call gate (type 0xc), DPL 3, two dword parameters */
    big_gdt[SEL_GATE / 8] = (gate & 0xffff) |
                            ((uint64_t)SEL_SYS_CODE << 16) | (2ull << 32) |
                            (0xecull << 40) | ((uint64_t)(gate >> 16) << 48);
    big_gdt[SEL_TSS32 / 8] = (limit & 0xffff) |
                             ((uint64_t)(base & 0xffffff) << 16) |
                             (0x89ull << 40) |
                             ((uint64_t)(limit >> 16) << 48) |
                             ((uint64_t)(base >> 24) << 56);
    memset(&tss, 0, sizeof(tss));
    tss.esp0 = (uint32_t)(uintptr_t)ring0_stack + sizeof(ring0_stack);
    tss.ss0 = SEL_SYS_DATA;
    tss.iomap_base = sizeof(tss);
    __asm__ volatile("lgdt %0; ltr %w1"
                     : : "m"(d), "r"((uint16_t)SEL_TSS32) : "memory");

    wrmsr(MSR_SYSENTER_CS, SEL_SYS_CODE);
    wrmsr(MSR_SYSENTER_ESP, (uintptr_t)sysenter_stack +
                            sizeof(sysenter_stack));
    wrmsr(MSR_SYSENTER_EIP, (uintptr_t)sysenter_entry);
}

static void int80_handler(struct int_frame *f)
{
    int80_cs = f->cs;
    int80_ss = f->ss;
    f->eax += 0x1000;
}

static void run_user(void *fn)
{
    if (setjmp(user_exit) == 0) {
        enter_user_sysexit((void (*)(void))fn,
                           user_stack + sizeof(user_stack));
    }
}

static void restore_kernel_segments(void)
{
    cli();
    __asm__ volatile("mov %0, %%ds; mov %0, %%es; mov %0, %%ss"
                     : : "r"((uint32_t)SEL_KDATA) : "memory");
}

int guest_main(struct multiboot_info *mbi)
{
    struct fault_info fi;
    uint32_t ring0_top = (uint32_t)(uintptr_t)ring0_stack +
                         sizeof(ring0_stack);

    (void)mbi;
    printf("rings32: SYSENTER/SYSEXIT, call gate, INT gates in 32-bit "
           "protected mode\n");
    skip_if_emulated32("SYSEXIT, call gates or INT n from ring 3");
    pic_init();                     /* ring 3 runs with IF set */
    setup();
    idt_set_handler(0x80, int80_handler);
    idt_set_dpl(0x80, 3);

    int v = catch_fault(run_user, (void *)user32_main, &fi);
    restore_kernel_segments();
    CHECK(v == -1, "ring 3 faulted: vector %d error 0x%lx at %x:%lx", v,
          (unsigned long)fi.error, fi.cs, (unsigned long)fi.ip);

    CHECK(user_seen[0] == SEL_USER_CODE && (user_seen[1] & EFLAGS_IF),
          "after SYSEXIT: CS 0x%x EFLAGS 0x%x", user_seen[0], user_seen[1]);
    CHECK(se_seen[5] == 2 && se_seen[0] == 2, "SYSENTER ran %u times",
          se_seen[5]);
    CHECK(se_seen[1] == SEL_SYS_CODE && se_seen[2] == SEL_SYS_DATA &&
          se_seen[3] == (uint32_t)(uintptr_t)sysenter_stack +
                        sizeof(sysenter_stack) &&
          !(se_seen[4] & EFLAGS_IF),
          "SYSENTER: CS 0x%x SS 0x%x ESP 0x%x EFLAGS 0x%x", se_seen[1],
          se_seen[2], se_seen[3], se_seen[4]);
    CHECK(user_seen[2] == SEL_USER_CODE, "after the second SYSEXIT: CS 0x%x",
          user_seen[2]);
    printf("SYSEXIT to ring 3 (CS 0x%x, SS 0x%x), SYSENTER to the MSRs' "
           "CS/ESP/EIP with IF clear, and back ok\n", SEL_USER_CODE,
           SEL_USER_DATA);

    CHECK(gate_seen[7] == SEL_SYS_CODE && gate_seen[0] == ring0_top - 24,
          "call gate target: CS 0x%x ESP 0x%x, expected 0x%x 0x%x",
          gate_seen[7], gate_seen[0], SEL_SYS_CODE, ring0_top - 24);
    CHECK(gate_seen[1] == (uint32_t)(uintptr_t)user32_gate_ret &&
          gate_seen[2] == SEL_USER_CODE && gate_seen[3] == 0x1111 &&
          gate_seen[4] == 0x2222 && gate_seen[5] == user_seen[3] &&
          gate_seen[6] == SEL_USER_DATA,
          "call gate frame: EIP 0x%x CS 0x%x params 0x%x 0x%x ESP 0x%x "
          "SS 0x%x", gate_seen[1], gate_seen[2], gate_seen[3], gate_seen[4],
          gate_seen[5], gate_seen[6]);
    CHECK(user_seen[4] == user_seen[3] + 8, "LRET 8: ESP 0x%x, expected "
          "0x%x", user_seen[4], user_seen[3] + 8);
    printf("call gate from ring 3: two parameters copied to the ring-0 "
           "stack, LRET 8 back pops them from both ok\n");

    CHECK(user_seen[5] == 0x2234 && user_seen[6] == SEL_USER_CODE &&
          int80_cs == SEL_USER_CODE && int80_ss == SEL_USER_DATA,
          "INT 0x80: EAX 0x%x, CS after 0x%x, frame CS 0x%x SS 0x%x",
          user_seen[5], user_seen[6], int80_cs, int80_ss);
    printf("INT 0x80 from ring 3 through a DPL-3 gate, IRET back ok\n");

    v = catch_fault(run_user, (void *)user32_int81, &fi);
    restore_kernel_segments();
    CHECK(v == 13 && fi.error == ((0x81 << 3) | 2) &&
          fi.cs == SEL_USER_CODE, "INT 0x81 from ring 3: vector %d error "
          "0x%lx CS 0x%x", v, (unsigned long)fi.error, fi.cs);
    printf("INT 0x81 from ring 3 through a DPL-0 gate -> #GP(0x%x) ok\n",
           (0x81 << 3) | 2);
    return 0;
}
