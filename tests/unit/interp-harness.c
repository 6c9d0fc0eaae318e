/*
 * A bare interpreter for unit tests (interp-harness.h).
 */
#include <string.h>
#include <glib.h>
#include "interp-harness.h"

InterpHarness *ih_new(void)
{
    InterpHarness *h = g_new0(InterpHarness, 1);
    InterpEnv env = { 0 };

    h->mem = memory_map_new();
    h->ram = g_malloc0(IH_RAM_SIZE);
    g_assert(memory_map_add_ram(h->mem, "ram", 0, IH_RAM_SIZE, h->ram,
                                NULL));
    env.mem = h->mem;
    env.nr_cpus = 1;
    h->shared = interp_shared_new(&env);
    h->cpu = interp_cpu_new(h->shared, 0);
    interp_cpu_set_stop_on_exception(h->cpu, true);
    h->vector = -1;
    h->error_code = -1;
    return h;
}

void ih_free(InterpHarness *h)
{
    interp_cpu_free(h->cpu);
    interp_shared_free(h->shared);
    memory_map_free(h->mem);
    g_free(h->ram);
    g_free(h);
}

void ih_load(InterpHarness *h, uint64_t gpa, const void *bytes, size_t len)
{
    g_assert(gpa + len <= IH_RAM_SIZE);
    memcpy(h->ram + gpa, bytes, len);
}

/* A code/data descriptor: base 0, limit 4 GiB (64 KiB for 16-bit code). */
static uint64_t ih_desc(bool code, unsigned dpl, bool l, bool db, bool g)
{
    uint64_t limit = g ? 0xfffff : 0xffff;
    uint64_t type = code ? 0xa : 0x2;          /* execute/read, read/write */
    uint64_t d = (limit & 0xffff) | ((limit >> 16) & 0xf) << 48;

    d |= (type | 0x10 | (uint64_t)dpl << 5 | 0x80) << 40;   /* S, DPL, P */
    d |= (uint64_t)((l ? 2 : 0) | (db ? 4 : 0) | (g ? 8 : 0)) << 52;
    return d;
}

void ih_write_gdt(InterpHarness *h, bool long_mode)
{
    uint64_t gdt[10] = { 0 };
    uint64_t tss_base = IH_TSS, tss_limit = 0x67;

    gdt[IH_SEL_CODE16 >> 3] = ih_desc(true, 0, false, false, false);
    gdt[IH_SEL_CODE >> 3] = ih_desc(true, 0, long_mode, !long_mode, true);
    gdt[IH_SEL_DATA >> 3] = ih_desc(false, 0, false, true, true);
    gdt[IH_SEL_CODE32 >> 3] = ih_desc(true, 0, false, true, true);
    gdt[IH_SEL_UDATA >> 3] = ih_desc(false, 3, false, true, true);
    gdt[IH_SEL_UCODE >> 3] = ih_desc(true, 3, long_mode, !long_mode, true);
    gdt[IH_SEL_UCODE32 >> 3] = ih_desc(true, 3, false, true, true);
    /* An available 64-bit (or 32-bit) TSS. */
    gdt[IH_SEL_TSS >> 3] = (tss_limit & 0xffff) |
        (tss_base & 0xffffff) << 16 | (uint64_t)(0x89) << 40 |
        ((tss_base >> 24) & 0xff) << 56;
    gdt[(IH_SEL_TSS >> 3) + 1] = tss_base >> 32;
    ih_load(h, IH_GDT, gdt, sizeof(gdt));
    h->st.gdt.base = IH_GDT;
    h->st.gdt.limit = sizeof(gdt) - 1;
}

void ih_mode_real(InterpHarness *h, uint16_t cs, uint16_t ip)
{
    x86_cpu_state_reset(&h->st, true);
    x86_cpu_state_set_real_mode(&h->st, (uint64_t)cs * 16 + ip);
    h->st.segs[SEG_CS].selector = cs;
    h->st.segs[SEG_CS].base = (uint64_t)cs * 16;
    h->st.rip = ip;
}

void ih_mode_flat32(InterpHarness *h, uint64_t entry)
{
    x86_cpu_state_reset(&h->st, true);
    x86_cpu_state_set_flat32(&h->st, entry);
    ih_write_gdt(h, false);
    h->st.regs[R_ESP] = IH_STACK_TOP;
}

void ih_mode_long(InterpHarness *h, uint64_t entry)
{
    uint64_t pml4e = IH_PDPT | 3, pdpte = IH_PD | 3;

    ih_load(h, IH_PML4, &pml4e, 8);
    ih_load(h, IH_PDPT, &pdpte, 8);
    for (uint64_t i = 0; i < 512; i++) {
        uint64_t pde = (i << 21) | 0x83;      /* 2 MiB, present, writable */
        ih_load(h, IH_PD + i * 8, &pde, 8);
    }
    x86_cpu_state_reset(&h->st, true);
    x86_cpu_state_set_long_mode(&h->st, entry, IH_PML4);
    ih_write_gdt(h, true);
    h->st.regs[R_ESP] = IH_STACK_TOP;
}

void ih_deliver_exceptions(InterpHarness *h)
{
    interp_cpu_set_stop_on_exception(h->cpu, false);
}

InterpExit ih_run(InterpHarness *h, uint64_t max_insns)
{
    InterpExit r;

    interp_cpu_set_state(h->cpu, &h->st);
    r = interp_cpu_exec(h->cpu, max_insns);
    interp_cpu_get_state(h->cpu, &h->st);
    h->vector = -1;
    h->error_code = -1;
    if (r == INTERP_EXIT_EXCEPTION) {
        interp_cpu_last_exception(h->cpu, &h->vector, &h->error_code);
    }
    return r;
}
