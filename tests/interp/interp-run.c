/*
 * The interpreter side: one InterpCPU in 64-bit mode at CPL 3 over a
 * small guest RAM whose page tables map the tester's code, data,
 * read-only and guard pages at the same virtual addresses as the host
 * process has them (difftest.h), plus a loader page of our own.
 *
 * Every case rewrites the code window. By default a fixed guest loader
 * copies the new bytes there with ordinary 64-bit stores, so the
 * interpreter sees its own code page written and must drop what it
 * translated from it; --load host writes guest RAM directly instead and
 * uses a fresh vCPU for every case.
 */
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include "lemu/accel/interp.h"
#include "lemu/system/memory.h"
#include "difftest.h"

/* Guest physical layout. */
#define G_RAM_SIZE   0x100000ULL
#define G_GDT        0x0800ULL
#define G_PML4       0x1000ULL
#define G_PDPT       0x2000ULL
#define G_PD         0x3000ULL
#define G_PT_TEST    0x4000ULL       /* 0x10000000-0x101fffff */
#define G_PT_LOADER  0x5000ULL       /* 0x20000000-0x201fffff */
#define G_CODE       0x10000ULL
#define G_DATA       0x20000ULL
#define G_RO         (G_DATA + DT_DATA_SIZE)
#define G_LOADER     0x30000ULL
#define G_STAGING    0x31000ULL
#define G_TSS        0x32000ULL

/* Guest virtual addresses of the loader and its staging page. */
#define DT_LOADER_VA   0x20000000ULL
#define DT_STAGING_VA  0x20001000ULL
#define DT_TSS_VA      0x20002000ULL

#define PTE_P   1ULL
#define PTE_W   2ULL
#define PTE_U   4ULL

/* The selectors of a 64-bit Linux process. */
#define SEL_UDATA  0x2b
#define SEL_UCODE  0x33

struct DtInterp {
    MemoryMap *mem;
    uint8_t *ram;
    InterpShared *shared;
    InterpCPU *cpu;
    bool host_load;
    X86CPUState base;        /* the user-mode state, registers aside */
    uint64_t loader_end;     /* RIP of the loader's final UD2 */
};

/* The vCPU that the watchdog stops (SIGALRM): a run must not hang the
 * tester even if the interpreter loops. */
static InterpCPU *volatile dti_watched;

static void dti_watchdog(int sig)
{
    if (dti_watched) {
        interp_cpu_request_exit(dti_watched);
    }
}

static void put64(DtInterp *t, uint64_t gpa, uint64_t v)
{
    memcpy(t->ram + gpa, &v, 8);
}

static void build_page_tables(DtInterp *t)
{
    uint64_t user = PTE_P | PTE_W | PTE_U;

    put64(t, G_PML4, G_PDPT | user);
    put64(t, G_PDPT, G_PD | user);
    put64(t, G_PD + 8 * ((DT_CODE_BASE >> 21) & 511), G_PT_TEST | user);
    put64(t, G_PD + 8 * ((DT_LOADER_VA >> 21) & 511), G_PT_LOADER | user);
    for (unsigned i = 0; i < DT_CODE_PAGES; i++) {
        put64(t, G_PT_TEST + 8 * (((DT_CODE_BASE >> 12) + i) & 511),
              (G_CODE + i * DT_PAGE) | user);
    }
    for (unsigned i = 0; i < DT_DATA_PAGES; i++) {
        put64(t, G_PT_TEST + 8 * (((DT_DATA_BASE >> 12) + i) & 511),
              (G_DATA + i * DT_PAGE) | user);
    }
    put64(t, G_PT_TEST + 8 * ((DT_RO_BASE >> 12) & 511),
          G_RO | PTE_P | PTE_U);
    put64(t, G_PT_LOADER, G_LOADER | user);
    put64(t, G_PT_LOADER + 8, G_STAGING | user);
    put64(t, G_PT_LOADER + 16, G_TSS | PTE_P | PTE_W);
}

/* 32 x (mov rax, [rsi + 8i]; mov [rdi + 8i], rax); ud2 */
static void build_loader(DtInterp *t)
{
    uint8_t *p = t->ram + G_LOADER;

    for (unsigned i = 0; i < DT_WINDOW / 8; i++) {
        uint32_t d = i * 8;
        *p++ = 0x48; *p++ = 0x8b; *p++ = 0x86;
        memcpy(p, &d, 4);
        p += 4;
        *p++ = 0x48; *p++ = 0x89; *p++ = 0x87;
        memcpy(p, &d, 4);
        p += 4;
    }
    t->loader_end = DT_LOADER_VA + (p - (t->ram + G_LOADER));
    *p++ = 0x0f;
    *p++ = 0x0b;
}

static X86Segment user_seg(uint16_t sel, bool code)
{
    return (X86Segment) {
        .base = 0, .limit = 0xffffffff, .selector = sel,
        .type = code ? 0xb : 0x3, .s = 1, .dpl = 3, .present = 1,
        .l = code, .db = !code, .g = 1,
    };
}

static void build_state(DtInterp *t)
{
    X86CPUState *st = &t->base;
    /* Null descriptor, then flat DPL 3 data (0x28) and 64-bit code (0x30)
     * as Linux has them. */
    uint64_t gdt[8] = { 0 };

    gdt[SEL_UDATA >> 3] = 0x00cff3000000ffffULL;
    gdt[SEL_UCODE >> 3] = 0x00affb000000ffffULL;
    memcpy(t->ram + G_GDT, gdt, sizeof(gdt));

    x86_cpu_state_reset(st, true);
    x86_cpu_state_set_long_mode(st, 0, G_PML4);
    st->segs[SEG_CS] = user_seg(SEL_UCODE, true);
    st->segs[SEG_SS] = user_seg(SEL_UDATA, false);
    for (int s = 0; s < X86_NR_SEGS; s++) {
        if (s != SEG_CS && s != SEG_SS) {
            st->segs[s] = user_seg(0, false);
            st->segs[s].unusable = 1;
        }
    }
    st->gdt.base = G_GDT;
    st->gdt.limit = sizeof(gdt) - 1;
    /* A 64-bit TSS whose I/O bitmap lies past its limit: IN/OUT at CPL 3
     * raise #GP(0), as in a Linux process without ioperm(). */
    t->ram[G_TSS + 0x66] = 0x68;
    st->tr = (X86Segment) {
        .base = DT_TSS_VA, .limit = 0x67, .selector = 0x40, .type = 0xb,
        .present = 1,
    };
    st->cr0 |= CR0_MP | CR0_NE | CR0_WP | CR0_AM;
    st->efer |= EFER_SCE | EFER_NXE;
}

static void cpu_create(DtInterp *t)
{
    InterpEnv env = { .mem = t->mem, .nr_cpus = 1 };

    t->shared = interp_shared_new(&env);
    t->cpu = interp_cpu_new(t->shared, 0);
    interp_cpu_set_stop_on_exception(t->cpu, true);
}

static void cpu_destroy(DtInterp *t)
{
    interp_cpu_free(t->cpu);
    interp_shared_free(t->shared);
}

DtInterp *dti_new(const uint8_t *ro_page, bool host_load)
{
    DtInterp *t = g_new0(DtInterp, 1);

    t->mem = memory_map_new();
    t->ram = g_malloc0(G_RAM_SIZE);
    g_assert(memory_map_add_ram(t->mem, "ram", 0, G_RAM_SIZE, t->ram, NULL));
    t->host_load = host_load;
    build_page_tables(t);
    build_loader(t);
    build_state(t);
    memcpy(t->ram + G_RO, ro_page, DT_PAGE);
    memset(t->ram + G_CODE, 0xcc, DT_CODE_PAGES * DT_PAGE);
    cpu_create(t);
    {
        struct sigaction sa = { .sa_handler = dti_watchdog };
        sigemptyset(&sa.sa_mask);
        sigaction(SIGALRM, &sa, NULL);
    }
    return t;
}

void dti_free(DtInterp *t)
{
    cpu_destroy(t);
    memory_map_free(t->mem);
    g_free(t->ram);
    g_free(t);
}

static InterpExit run_from(DtInterp *t, const X86CPUState *st,
                           X86CPUState *out, int *vector, int64_t *ec)
{
    InterpExit r;

    interp_cpu_set_state(t->cpu, st);
    /* Unbounded, so that the fast paths (block chaining) run as they do
     * under a machine; the watchdog ends a run that does not stop. */
    dti_watched = t->cpu;
    alarm(10);
    r = interp_cpu_exec(t->cpu, 0);
    alarm(0);
    dti_watched = NULL;
    interp_cpu_get_state(t->cpu, out);
    *vector = -1;
    *ec = -1;
    if (r == INTERP_EXIT_EXCEPTION) {
        interp_cpu_last_exception(t->cpu, vector, ec);
    }
    return r;
}

static const char *exit_name(InterpExit r)
{
    switch (r) {
    case INTERP_EXIT_REQUEST: return "exit request";
    case INTERP_EXIT_HLT: return "HLT";
    case INTERP_EXIT_SHUTDOWN: return "shutdown";
    case INTERP_EXIT_EXCEPTION: return "exception";
    case INTERP_EXIT_INSN_LIMIT: return "instruction limit";
    }
    return "?";
}

bool dti_run(DtInterp *t, uint64_t window_addr, const uint8_t *window,
             const uint8_t *data, const DtRegs *in, DtResult *out,
             uint8_t *data_out, GString *why)
{
    X86CPUState st, end;
    InterpExit r;
    int vector;
    int64_t ec;

    memcpy(t->ram + G_DATA, data, DT_DATA_SIZE);
    if (t->host_load) {
        cpu_destroy(t);
        cpu_create(t);
        memcpy(t->ram + G_CODE + (window_addr - DT_CODE_BASE), window,
               DT_WINDOW);
    } else {
        memcpy(t->ram + G_STAGING, window, DT_WINDOW);
        st = t->base;
        st.rip = DT_LOADER_VA;
        st.regs[R_ESI] = DT_STAGING_VA;
        st.regs[R_EDI] = window_addr;
        r = run_from(t, &st, &end, &vector, &ec);
        if (r != INTERP_EXIT_EXCEPTION || vector != DT_UD ||
            end.rip != t->loader_end) {
            g_string_append_printf(why, "the guest loader stopped with %s "
                                   "(vector %d) at %#llx, expected #UD at "
                                   "%#llx", exit_name(r), vector,
                                   (unsigned long long)end.rip,
                                   (unsigned long long)t->loader_end);
            return false;
        }
    }

    st = t->base;
    memcpy(st.regs, in->r, sizeof(in->r));
    st.rip = in->rip;
    st.rflags = (in->rflags & (DT_OSZAPC | DT_DF | DT_NT | DT_ID)) |
                DT_IF | 2;
    r = run_from(t, &st, &end, &vector, &ec);
    memcpy(out->regs.r, end.regs, sizeof(out->regs.r));
    out->regs.rip = end.rip;
    out->regs.rflags = end.rflags;
    out->vector = vector;
    out->error_code = ec;
    out->cr2 = vector == DT_PF ? end.cr2 : 0;
    memcpy(data_out, t->ram + G_DATA, DT_DATA_SIZE);
    if (r != INTERP_EXIT_EXCEPTION) {
        g_string_append_printf(why, "the interpreter stopped with %s at "
                               "%#llx instead of an exception",
                               exit_name(r), (unsigned long long)end.rip);
        return false;
    }
    return true;
}
