/*
 * KVM vCPUs: creation, the KVM_RUN loop with its port I/O and MMIO exits,
 * kicks (immediate_exit plus VCPU_SIG_IPI), and the conversion between
 * X86CPUState and KVM's register structures.
 */
#include <errno.h>
#include <stddef.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include "accel/kvm/kvm-internal.h"
#include "lemu/util/log.h"

/* MSRs that X86CPUState carries (SDM vol. 4). */
#define MSR_IA32_TSC             0x00000010
#define MSR_IA32_APICBASE        0x0000001b
#define MSR_IA32_SYSENTER_CS     0x00000174
#define MSR_IA32_SYSENTER_ESP    0x00000175
#define MSR_IA32_SYSENTER_EIP    0x00000176
#define MSR_IA32_CR_PAT          0x00000277
#define MSR_STAR                 0xc0000081
#define MSR_LSTAR                0xc0000082
#define MSR_CSTAR                0xc0000083
#define MSR_FMASK                0xc0000084
#define MSR_KERNEL_GS_BASE       0xc0000102

/* Power-on values of the x87 control word and MXCSR (SDM vol. 1). */
#define FPU_FCW_RESET   0x37f
#define FPU_MXCSR_RESET 0x1f80

#define XCR0_X87 1ULL

/* The MSRs that X86CPUState carries and where. */
static const struct {
    uint32_t index;
    size_t offset;
} kvm_state_msrs[] = {
    { MSR_IA32_SYSENTER_CS, offsetof(X86CPUState, sysenter_cs) },
    { MSR_IA32_SYSENTER_ESP, offsetof(X86CPUState, sysenter_esp) },
    { MSR_IA32_SYSENTER_EIP, offsetof(X86CPUState, sysenter_eip) },
    { MSR_STAR, offsetof(X86CPUState, star) },
    { MSR_LSTAR, offsetof(X86CPUState, lstar) },
    { MSR_CSTAR, offsetof(X86CPUState, cstar) },
    { MSR_FMASK, offsetof(X86CPUState, sfmask) },
    { MSR_KERNEL_GS_BASE, offsetof(X86CPUState, kernel_gs_base) },
    { MSR_IA32_CR_PAT, offsetof(X86CPUState, pat) },
    { MSR_IA32_TSC, offsetof(X86CPUState, tsc) },
};
#define KVM_STATE_NR_MSRS G_N_ELEMENTS(kvm_state_msrs)

typedef struct {
    struct kvm_msrs hdr;
    struct kvm_msr_entry entries[KVM_STATE_NR_MSRS];
} KvmMsrBuf;

static KvmVcpu *kvm_vcpu(VCPU *cpu)
{
    return cpu->accel;
}

/* ---- vCPU creation ---------------------------------------------------- */

bool kvm_vcpu_init(VCPU *cpu, GError **errp)
{
    Machine *m = cpu->machine;
    KvmState *s = kvm_state(m);
    KvmVcpu *kv = g_new0(KvmVcpu, 1);
    g_autofree struct kvm_cpuid2 *cpuid = NULL;
    struct kvm_sregs sregs;

    kv->fd = ioctl(s->vm_fd, KVM_CREATE_VCPU, (unsigned long)cpu->index);
    if (kv->fd < 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                    "kvm: cannot create vCPU %u: %s", cpu->index,
                    g_strerror(errno));
        g_free(kv);
        return false;
    }
    kv->run_size = s->vcpu_mmap_size;
    kv->run = mmap(NULL, kv->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
                   kv->fd, 0);
    if (kv->run == MAP_FAILED) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                    "kvm: cannot map kvm_run of vCPU %u: %s", cpu->index,
                    g_strerror(errno));
        goto fail;
    }

    cpuid = kvm_cpuid_for_vcpu(s->cpuid, cpu->index, m->cfg.smp);
    if (ioctl(kv->fd, KVM_SET_CPUID2, cpuid) < 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                    "kvm: KVM_SET_CPUID2 failed for vCPU %u: %s",
                    cpu->index, g_strerror(errno));
        goto fail;
    }
    /* After CPUID, which decides the APIC version register. */
    if (ioctl(kv->fd, KVM_GET_LAPIC, &kv->reset_lapic) < 0 ||
        ioctl(kv->fd, KVM_GET_SREGS, &sregs) < 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                    "kvm: cannot read the initial state of vCPU %u: %s",
                    cpu->index, g_strerror(errno));
        goto fail;
    }
    kv->reset_apic_base = sregs.apic_base;
    cpu->accel = kv;
    return true;

fail:
    if (kv->run && kv->run != MAP_FAILED) {
        munmap(kv->run, kv->run_size);
    }
    close(kv->fd);
    g_free(kv);
    return false;
}

void kvm_vcpu_cleanup(VCPU *cpu)
{
    KvmVcpu *kv = kvm_vcpu(cpu);

    if (!kv) {
        return;
    }
    munmap(kv->run, kv->run_size);
    close(kv->fd);
    g_free(kv);
    cpu->accel = NULL;
}

/* ---- state conversion ------------------------------------------------- */

static void seg_to_kvm(struct kvm_segment *k, const X86Segment *s)
{
    memset(k, 0, sizeof(*k));
    k->base = s->base;
    k->limit = s->limit;
    k->selector = s->selector;
    k->type = s->type;
    k->s = s->s;
    k->dpl = s->dpl;
    k->present = s->present;
    k->avl = s->avl;
    k->l = s->l;
    k->db = s->db;
    k->g = s->g;
    k->unusable = s->unusable;
}

static void seg_from_kvm(X86Segment *s, const struct kvm_segment *k)
{
    memset(s, 0, sizeof(*s));
    s->base = k->base;
    s->limit = k->limit;
    s->selector = k->selector;
    s->type = k->type;
    s->s = k->s;
    s->dpl = k->dpl;
    s->present = k->present;
    s->avl = k->avl;
    s->l = k->l;
    s->db = k->db;
    s->g = k->g;
    s->unusable = k->unusable;
}

static void regs_to_kvm(struct kvm_regs *k, const X86CPUState *st)
{
    memset(k, 0, sizeof(*k));
    k->rax = st->regs[R_EAX];
    k->rbx = st->regs[R_EBX];
    k->rcx = st->regs[R_ECX];
    k->rdx = st->regs[R_EDX];
    k->rsi = st->regs[R_ESI];
    k->rdi = st->regs[R_EDI];
    k->rsp = st->regs[R_ESP];
    k->rbp = st->regs[R_EBP];
    k->r8 = st->regs[R_R8];
    k->r9 = st->regs[R_R9];
    k->r10 = st->regs[R_R10];
    k->r11 = st->regs[R_R11];
    k->r12 = st->regs[R_R12];
    k->r13 = st->regs[R_R13];
    k->r14 = st->regs[R_R14];
    k->r15 = st->regs[R_R15];
    k->rip = st->rip;
    k->rflags = st->rflags | RFLAGS_FIXED;
}

static void regs_from_kvm(X86CPUState *st, const struct kvm_regs *k)
{
    st->regs[R_EAX] = k->rax;
    st->regs[R_EBX] = k->rbx;
    st->regs[R_ECX] = k->rcx;
    st->regs[R_EDX] = k->rdx;
    st->regs[R_ESI] = k->rsi;
    st->regs[R_EDI] = k->rdi;
    st->regs[R_ESP] = k->rsp;
    st->regs[R_EBP] = k->rbp;
    st->regs[R_R8] = k->r8;
    st->regs[R_R9] = k->r9;
    st->regs[R_R10] = k->r10;
    st->regs[R_R11] = k->r11;
    st->regs[R_R12] = k->r12;
    st->regs[R_R13] = k->r13;
    st->regs[R_R14] = k->r14;
    st->regs[R_R15] = k->r15;
    st->rip = k->rip;
    st->rflags = k->rflags;
}

static uint64_t default_apic_base(VCPU *cpu)
{
    return APIC_DEFAULT_BASE | MSR_APIC_BASE_ENABLE |
           (cpu->index == 0 ? MSR_APIC_BASE_BSP : 0);
}

static void sregs_to_kvm(VCPU *cpu, struct kvm_sregs *k,
                         const X86CPUState *st)
{
    struct kvm_segment *segs[X86_NR_SEGS] = {
        [SEG_ES] = &k->es, [SEG_CS] = &k->cs, [SEG_SS] = &k->ss,
        [SEG_DS] = &k->ds, [SEG_FS] = &k->fs, [SEG_GS] = &k->gs,
    };

    /* Also clears interrupt_bitmap: no interrupt waits for injection. */
    memset(k, 0, sizeof(*k));
    for (int i = 0; i < X86_NR_SEGS; i++) {
        seg_to_kvm(segs[i], &st->segs[i]);
    }
    seg_to_kvm(&k->ldt, &st->ldt);
    seg_to_kvm(&k->tr, &st->tr);
    k->gdt.base = st->gdt.base;
    k->gdt.limit = st->gdt.limit;
    k->idt.base = st->idt.base;
    k->idt.limit = st->idt.limit;
    k->cr0 = st->cr0;
    k->cr2 = st->cr2;
    k->cr3 = st->cr3;
    k->cr4 = st->cr4;
    k->cr8 = st->cr8;
    k->efer = st->efer;
    /* A base of 0 is no real APIC state, only a state built without one:
     * keep the APIC enabled where it belongs. */
    k->apic_base = st->apic_base ? st->apic_base : default_apic_base(cpu);
}

static void sregs_from_kvm(X86CPUState *st, const struct kvm_sregs *k)
{
    const struct kvm_segment *segs[X86_NR_SEGS] = {
        [SEG_ES] = &k->es, [SEG_CS] = &k->cs, [SEG_SS] = &k->ss,
        [SEG_DS] = &k->ds, [SEG_FS] = &k->fs, [SEG_GS] = &k->gs,
    };

    for (int i = 0; i < X86_NR_SEGS; i++) {
        seg_from_kvm(&st->segs[i], segs[i]);
    }
    seg_from_kvm(&st->ldt, &k->ldt);
    seg_from_kvm(&st->tr, &k->tr);
    st->gdt.base = k->gdt.base;
    st->gdt.limit = k->gdt.limit;
    st->idt.base = k->idt.base;
    st->idt.limit = k->idt.limit;
    st->cr0 = k->cr0;
    st->cr2 = k->cr2;
    st->cr3 = k->cr3;
    st->cr4 = k->cr4;
    st->cr8 = k->cr8;
    st->efer = k->efer;
    st->apic_base = k->apic_base;
}

static void msrs_prepare(KvmMsrBuf *buf)
{
    memset(buf, 0, sizeof(*buf));
    buf->hdr.nmsrs = KVM_STATE_NR_MSRS;
    for (size_t i = 0; i < KVM_STATE_NR_MSRS; i++) {
        buf->entries[i].index = kvm_state_msrs[i].index;
    }
}

/* KVM_GET/SET_MSRS return how many MSRs they did; the next one failed. */
static bool msrs_check(int r, const char *what, GError **errp)
{
    if (r == (int)KVM_STATE_NR_MSRS) {
        return true;
    }
    if (r < 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED, "kvm: %s: %s", what,
                    g_strerror(errno));
    } else {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                    "kvm: %s: MSR 0x%x refused", what, kvm_state_msrs[r].index);
    }
    return false;
}

static uint32_t mp_state_to_kvm(X86MpState s)
{
    switch (s) {
    case X86_MP_WAIT_FOR_SIPI:
        /* What KVM gives an AP after reset: INIT then SIPI start it. */
        return KVM_MP_STATE_UNINITIALIZED;
    case X86_MP_HALTED:
        return KVM_MP_STATE_HALTED;
    case X86_MP_RUNNABLE:
    default:
        return KVM_MP_STATE_RUNNABLE;
    }
}

static X86MpState mp_state_from_kvm(uint32_t s)
{
    switch (s) {
    case KVM_MP_STATE_UNINITIALIZED:
    case KVM_MP_STATE_INIT_RECEIVED:
        return X86_MP_WAIT_FOR_SIPI;
    case KVM_MP_STATE_HALTED:
        return X86_MP_HALTED;
    default:
        return X86_MP_RUNNABLE;
    }
}

static bool kvm_ioctl_ok(int r, unsigned index, const char *what,
                         GError **errp)
{
    if (r < 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                    "kvm: %s failed for vCPU %u: %s", what, index,
                    g_strerror(errno));
        return false;
    }
    return true;
}

bool kvm_get_state(VCPU *cpu, X86CPUState *st, GError **errp)
{
    KvmVcpu *kv = kvm_vcpu(cpu);
    KvmState *s = kvm_state(cpu->machine);
    struct kvm_regs regs;
    struct kvm_sregs sregs;
    struct kvm_mp_state mp;
    KvmMsrBuf msrs;

    memset(st, 0, sizeof(*st));
    if (!kvm_ioctl_ok(ioctl(kv->fd, KVM_GET_REGS, &regs), cpu->index,
                      "KVM_GET_REGS", errp) ||
        !kvm_ioctl_ok(ioctl(kv->fd, KVM_GET_SREGS, &sregs), cpu->index,
                      "KVM_GET_SREGS", errp) ||
        !kvm_ioctl_ok(ioctl(kv->fd, KVM_GET_MP_STATE, &mp), cpu->index,
                      "KVM_GET_MP_STATE", errp)) {
        return false;
    }
    regs_from_kvm(st, &regs);
    sregs_from_kvm(st, &sregs);
    st->mp_state = mp_state_from_kvm(mp.mp_state);

    msrs_prepare(&msrs);
    if (!msrs_check(ioctl(kv->fd, KVM_GET_MSRS, &msrs), "KVM_GET_MSRS",
                    errp)) {
        return false;
    }
    for (size_t i = 0; i < KVM_STATE_NR_MSRS; i++) {
        uint64_t *field = (uint64_t *)((char *)st + kvm_state_msrs[i].offset);
        *field = msrs.entries[i].data;
    }

    if (s->debugregs) {
        struct kvm_debugregs dbg;
        if (!kvm_ioctl_ok(ioctl(kv->fd, KVM_GET_DEBUGREGS, &dbg),
                          cpu->index, "KVM_GET_DEBUGREGS", errp)) {
            return false;
        }
        for (int i = 0; i < 4; i++) {
            st->dr[i] = dbg.db[i];
        }
        st->dr[6] = dbg.dr6;
        st->dr[7] = dbg.dr7;
    }
    return true;
}

bool kvm_set_state(VCPU *cpu, const X86CPUState *st, GError **errp)
{
    KvmVcpu *kv = kvm_vcpu(cpu);
    KvmState *s = kvm_state(cpu->machine);
    struct kvm_regs regs;
    struct kvm_sregs sregs;
    struct kvm_mp_state mp = { .mp_state = mp_state_to_kvm(st->mp_state) };
    KvmMsrBuf msrs;

    /* Control registers first: they decide how the rest is read. */
    sregs_to_kvm(cpu, &sregs, st);
    regs_to_kvm(&regs, st);
    if (!kvm_ioctl_ok(ioctl(kv->fd, KVM_SET_SREGS, &sregs), cpu->index,
                      "KVM_SET_SREGS", errp) ||
        !kvm_ioctl_ok(ioctl(kv->fd, KVM_SET_REGS, &regs), cpu->index,
                      "KVM_SET_REGS", errp)) {
        return false;
    }

    msrs_prepare(&msrs);
    for (size_t i = 0; i < KVM_STATE_NR_MSRS; i++) {
        const uint64_t *field =
            (const uint64_t *)((const char *)st + kvm_state_msrs[i].offset);
        msrs.entries[i].data = *field;
    }
    if (!msrs_check(ioctl(kv->fd, KVM_SET_MSRS, &msrs), "KVM_SET_MSRS",
                    errp)) {
        return false;
    }

    if (s->debugregs) {
        struct kvm_debugregs dbg;
        memset(&dbg, 0, sizeof(dbg));
        for (int i = 0; i < 4; i++) {
            dbg.db[i] = st->dr[i];
        }
        dbg.dr6 = st->dr[6];
        dbg.dr7 = st->dr[7];
        if (!kvm_ioctl_ok(ioctl(kv->fd, KVM_SET_DEBUGREGS, &dbg),
                          cpu->index, "KVM_SET_DEBUGREGS", errp)) {
            return false;
        }
    }
    return kvm_ioctl_ok(ioctl(kv->fd, KVM_SET_MP_STATE, &mp), cpu->index,
                        "KVM_SET_MP_STATE", errp);
}

/*
 * What a reset changes beyond X86CPUState: the local APIC back to its
 * state at creation (ID, LVTs masked, software-disabled), the x87/SSE
 * unit and XCR0 to power-on values, and no exception, interrupt or NMI
 * left pending from before (a triple fault leaves some).
 */
void kvm_vcpu_reset(VCPU *cpu)
{
    KvmVcpu *kv = kvm_vcpu(cpu);
    KvmState *s = kvm_state(cpu->machine);
    struct {
        struct kvm_msrs hdr;
        struct kvm_msr_entry entry;
    } apic_base = {
        .hdr.nmsrs = 1,
        .entry = { .index = MSR_IA32_APICBASE, .data = kv->reset_apic_base },
    };
    struct kvm_fpu fpu;

    /* The APIC base decides (xAPIC or x2APIC) how the LAPIC state reads. */
    if (ioctl(kv->fd, KVM_SET_MSRS, &apic_base) != 1 ||
        ioctl(kv->fd, KVM_SET_LAPIC, &kv->reset_lapic) < 0) {
        warn_report("kvm: vCPU %u: cannot reset the local APIC: %s",
                    cpu->index, g_strerror(errno));
    }

    memset(&fpu, 0, sizeof(fpu));
    fpu.fcw = FPU_FCW_RESET;
    fpu.mxcsr = FPU_MXCSR_RESET;
    if (ioctl(kv->fd, KVM_SET_FPU, &fpu) < 0) {
        warn_report("kvm: vCPU %u: cannot reset the FPU: %s", cpu->index,
                    g_strerror(errno));
    }

    if (s->xcrs) {
        struct kvm_xcrs xcrs;
        memset(&xcrs, 0, sizeof(xcrs));
        xcrs.nr_xcrs = 1;
        xcrs.xcrs[0].xcr = 0;
        xcrs.xcrs[0].value = XCR0_X87;
        if (ioctl(kv->fd, KVM_SET_XCRS, &xcrs) < 0) {
            warn_report("kvm: vCPU %u: cannot reset XCR0: %s", cpu->index,
                        g_strerror(errno));
        }
    }

    g_atomic_int_set(&kv->nmi_pending, 0);
    if (s->vcpu_events) {
        struct kvm_vcpu_events ev;
        memset(&ev, 0, sizeof(ev));
        ev.flags = KVM_VCPUEVENT_VALID_NMI_PENDING |
                   KVM_VCPUEVENT_VALID_SHADOW;
        if (ioctl(kv->fd, KVM_SET_VCPU_EVENTS, &ev) < 0) {
            warn_report("kvm: vCPU %u: cannot clear pending events: %s",
                        cpu->index, g_strerror(errno));
        }
    }
}

/* ---- error reports ---------------------------------------------------- */

static char eflags_flag(uint64_t rflags, int bit, char c)
{
    return (rflags >> bit) & 1 ? c : '-';
}

/* The descriptor attribute bits as they sit in the high dword of a GDT
 * entry, as QEMU prints them. */
static uint32_t seg_attr(const X86Segment *s)
{
    return ((uint32_t)s->type << 8) | ((uint32_t)s->s << 12) |
           ((uint32_t)s->dpl << 13) | ((uint32_t)s->present << 15) |
           ((uint32_t)s->avl << 20) | ((uint32_t)s->l << 21) |
           ((uint32_t)s->db << 22) | ((uint32_t)s->g << 23);
}

/* Reads guest code at linear address @lin through the vCPU's page tables. */
static bool kvm_read_linear(KvmVcpu *kv, Machine *m, uint64_t lin,
                            uint8_t *byte)
{
    struct kvm_translation tr = { .linear_address = lin };

    if (ioctl(kv->fd, KVM_TRANSLATE, &tr) < 0 || !tr.valid) {
        return false;
    }
    return memory_map_read(m->mem, tr.physical_address, byte, 1);
}

/* Registers in the layout of QEMU's "-d cpu", then the code bytes around
 * RIP with the current one in <>. */
#define KVM_DUMP_CODE_TOTAL     50
#define KVM_DUMP_CODE_BACKWARD  20

static void kvm_dump_state(VCPU *cpu, GString *out)
{
    static const char *const seg_names[X86_NR_SEGS] = {
        "ES", "CS", "SS", "DS", "FS", "GS"
    };
    KvmVcpu *kv = kvm_vcpu(cpu);
    X86CPUState st;
    GError *err = NULL;
    bool lma;
    uint64_t pc, back;

    if (!kvm_get_state(cpu, &st, &err)) {
        g_string_append_printf(out, "(registers unavailable: %s)\n",
                               err->message);
        g_error_free(err);
        return;
    }
    lma = st.efer & EFER_LMA;
    if (lma) {
        static const char *const names[X86_NR_GPRS] = {
            "RAX", "RCX", "RDX", "RBX", "RSP", "RBP", "RSI", "RDI",
            "R8 ", "R9 ", "R10", "R11", "R12", "R13", "R14", "R15",
        };
        static const int order[X86_NR_GPRS] = {
            R_EAX, R_EBX, R_ECX, R_EDX, R_ESI, R_EDI, R_EBP, R_ESP,
            R_R8, R_R9, R_R10, R_R11, R_R12, R_R13, R_R14, R_R15,
        };
        for (int i = 0; i < X86_NR_GPRS; i++) {
            g_string_append_printf(out, "%s=%016" G_GINT64_MODIFIER "x%s",
                                   names[order[i]], st.regs[order[i]],
                                   i % 4 == 3 ? "\n" : " ");
        }
        g_string_append_printf(out, "RIP=%016" G_GINT64_MODIFIER "x",
                               st.rip);
    } else {
        g_string_append_printf(out,
            "EAX=%08x EBX=%08x ECX=%08x EDX=%08x\n"
            "ESI=%08x EDI=%08x EBP=%08x ESP=%08x\n"
            "EIP=%08x",
            (uint32_t)st.regs[R_EAX], (uint32_t)st.regs[R_EBX],
            (uint32_t)st.regs[R_ECX], (uint32_t)st.regs[R_EDX],
            (uint32_t)st.regs[R_ESI], (uint32_t)st.regs[R_EDI],
            (uint32_t)st.regs[R_EBP], (uint32_t)st.regs[R_ESP],
            (uint32_t)st.rip);
    }
    g_string_append_printf(out, " EFL=%08x [%c%c%c%c%c%c%c] CPL=%d HLT=%d\n",
                           (uint32_t)st.rflags,
                           eflags_flag(st.rflags, 11, 'O'),
                           eflags_flag(st.rflags, 10, 'D'),
                           eflags_flag(st.rflags, 7, 'S'),
                           eflags_flag(st.rflags, 6, 'Z'),
                           eflags_flag(st.rflags, 4, 'A'),
                           eflags_flag(st.rflags, 2, 'P'),
                           eflags_flag(st.rflags, 0, 'C'),
                           st.segs[SEG_SS].dpl,
                           st.mp_state == X86_MP_HALTED);
    for (int i = 0; i < X86_NR_SEGS + 2; i++) {
        const X86Segment *sg = i < X86_NR_SEGS ? &st.segs[i]
                               : i == X86_NR_SEGS ? &st.ldt : &st.tr;
        const char *name = i < X86_NR_SEGS ? seg_names[i]
                           : i == X86_NR_SEGS ? "LDT" : "TR ";
        if (lma) {
            g_string_append_printf(out, "%-3s=%04x %016" G_GINT64_MODIFIER
                                   "x %08x %08x\n", name, sg->selector,
                                   sg->base, sg->limit, seg_attr(sg));
        } else {
            g_string_append_printf(out, "%-3s=%04x %08x %08x %08x\n", name,
                                   sg->selector, (uint32_t)sg->base,
                                   sg->limit, seg_attr(sg));
        }
    }
    g_string_append_printf(out,
        "GDT=     %016" G_GINT64_MODIFIER "x %08x\n"
        "IDT=     %016" G_GINT64_MODIFIER "x %08x\n"
        "CR0=%08x CR2=%016" G_GINT64_MODIFIER "x CR3=%016"
        G_GINT64_MODIFIER "x CR4=%08x\n"
        "EFER=%016" G_GINT64_MODIFIER "x\n",
        st.gdt.base, st.gdt.limit, st.idt.base, st.idt.limit,
        (uint32_t)st.cr0, st.cr2, st.cr3, (uint32_t)st.cr4, st.efer);

    pc = st.segs[SEG_CS].base + st.rip;
    if (!lma) {
        pc &= 0xffffffffULL;
    }
    /* QEMU's layout: 50 bytes, 20 of them before RIP (fewer when RIP is
     * near the start of CS), unreadable ones as "??". */
    back = MIN(st.rip, (uint64_t)KVM_DUMP_CODE_BACKWARD);
    g_string_append(out, "Code=");
    for (unsigned i = 0; i < KVM_DUMP_CODE_TOTAL; i++) {
        uint8_t b;
        bool at_rip = i == back;

        g_string_append_printf(out, "%s%s", i ? " " : "", at_rip ? "<" : "");
        if (kvm_read_linear(kv, cpu->machine, pc - back + i, &b)) {
            g_string_append_printf(out, "%02x", b);
        } else {
            g_string_append(out, "??");
        }
        g_string_append(out, at_rip ? ">" : "");
    }
}

/* Reports @msg (and the registers) as an internal error; the VM stops. */
static VcpuExit kvm_vcpu_fail(VCPU *cpu, GString *msg)
{
    Machine *m = cpu->machine;

    kvm_dump_state(cpu, msg);
    machine_lock(m);
    machine_request_internal_error(m, "%s", msg->str);
    machine_unlock(m);
    g_string_free(msg, TRUE);
    return VCPU_EXIT_ERROR;
}

static VcpuExit kvm_handle_internal_error(VCPU *cpu, struct kvm_run *run)
{
    GString *msg = g_string_new(NULL);
    uint32_t ndata = MIN(run->internal.ndata,
                         (uint32_t)G_N_ELEMENTS(run->internal.data));

    g_string_append_printf(msg, "KVM internal error. Suberror: %u\n",
                           run->internal.suberror);
    for (uint32_t i = 0; i < ndata; i++) {
        g_string_append_printf(msg, "extra data[%u]: 0x%016"
                               G_GINT64_MODIFIER "x\n", i,
                               (uint64_t)run->internal.data[i]);
    }
    switch (run->internal.suberror) {
    case KVM_INTERNAL_ERROR_EMULATION:
        g_string_append(msg, "emulation failure (an instruction KVM cannot "
                        "emulate)\n");
        break;
    case KVM_INTERNAL_ERROR_SIMUL_EX:
        g_string_append(msg, "exception while delivering an exception\n");
        break;
    case KVM_INTERNAL_ERROR_DELIVERY_EV:
        g_string_append(msg, "exit while delivering an event\n");
        break;
    }
    return kvm_vcpu_fail(cpu, msg);
}

/* ---- exits -------------------------------------------------------------- */

static void kvm_handle_io(VCPU *cpu, struct kvm_run *run, size_t run_size)
{
    Machine *m = cpu->machine;
    unsigned size = run->io.size;
    uint64_t len = (uint64_t)size * run->io.count;
    uint8_t *data = (uint8_t *)run + run->io.data_offset;

    if ((size != 1 && size != 2 && size != 4) ||
        run->io.data_offset > run_size || len > run_size - run->io.data_offset) {
        lemu_log_mask(LOG_GUEST_ERROR, "kvm: malformed port I/O exit "
                      "(port 0x%x size %u count %u)\n", run->io.port, size,
                      run->io.count);
        return;
    }
    machine_lock(m);
    for (uint32_t i = 0; i < run->io.count; i++, data += size) {
        uint32_t val = 0;
        if (run->io.direction == KVM_EXIT_IO_IN) {
            ioport_read(m->io, run->io.port, size, &val);
            memcpy(data, &val, size);     /* x86 hosts: little-endian */
        } else {
            memcpy(&val, data, size);
            ioport_write(m->io, run->io.port, size, val);
        }
    }
    machine_unlock(m);
}

/* One access of 1, 2, 4 or 8 bytes; others (page-split pieces) by bytes. */
static bool kvm_mmio_is_natural(unsigned len)
{
    return len == 1 || len == 2 || len == 4 || len == 8;
}

static void kvm_handle_mmio(VCPU *cpu, struct kvm_run *run)
{
    Machine *m = cpu->machine;
    uint64_t addr = run->mmio.phys_addr;
    unsigned len = MIN(run->mmio.len, 8u);
    const MemoryRegion *mr;

    machine_lock(m);
    if (run->mmio.is_write) {
        mr = memory_map_lookup(m->mem, addr);
        if (mr && mr->kind == MEM_ROM) {
            lemu_log_mask(LOG_GUEST_ERROR, "write to ROM %s at 0x%"
                          G_GINT64_MODIFIER "x ignored\n", mr->name, addr);
        } else if (kvm_mmio_is_natural(len)) {
            uint64_t val = 0;
            memcpy(&val, run->mmio.data, len);
            if (!memory_map_dispatch_write(m->mem, addr, len, val)) {
                lemu_log_mask(LOG_GUEST_ERROR, "unassigned MMIO write of %u "
                              "bytes at 0x%" G_GINT64_MODIFIER "x\n", len,
                              addr);
            }
        } else {
            for (unsigned i = 0; i < len; i++) {
                if (!memory_map_dispatch_write(m->mem, addr + i, 1,
                                               run->mmio.data[i])) {
                    lemu_log_mask(LOG_GUEST_ERROR, "unassigned MMIO write at "
                                  "0x%" G_GINT64_MODIFIER "x\n", addr + i);
                }
            }
        }
    } else if (kvm_mmio_is_natural(len)) {
        uint64_t val = 0;
        if (!memory_map_dispatch_read(m->mem, addr, len, &val)) {
            lemu_log_mask(LOG_GUEST_ERROR, "unassigned MMIO read of %u bytes "
                          "at 0x%" G_GINT64_MODIFIER "x\n", len, addr);
            val = UINT64_MAX;
        }
        memcpy(run->mmio.data, &val, len);
    } else {
        for (unsigned i = 0; i < len; i++) {
            uint64_t val = 0;
            if (!memory_map_dispatch_read(m->mem, addr + i, 1, &val)) {
                lemu_log_mask(LOG_GUEST_ERROR, "unassigned MMIO read at 0x%"
                              G_GINT64_MODIFIER "x\n", addr + i);
                val = 0xff;
            }
            run->mmio.data[i] = val;
        }
    }
    machine_unlock(m);
}

static VcpuExit kvm_handle_system_event(VCPU *cpu, struct kvm_run *run)
{
    Machine *m = cpu->machine;

    switch (run->system_event.type) {
    case KVM_SYSTEM_EVENT_RESET:
        return VCPU_EXIT_SHUTDOWN;     /* the generic loop resets */
    case KVM_SYSTEM_EVENT_SHUTDOWN:
        machine_lock(m);
        machine_request_shutdown(m, SHUTDOWN_CAUSE_GUEST_SHUTDOWN);
        machine_unlock(m);
        return VCPU_EXIT_KICKED;
    case KVM_SYSTEM_EVENT_CRASH:
        machine_lock(m);
        machine_request_shutdown(m, SHUTDOWN_CAUSE_GUEST_PANIC);
        machine_unlock(m);
        return VCPU_EXIT_KICKED;
    default: {
        GString *msg = g_string_new(NULL);
        g_string_append_printf(msg, "KVM: unknown system event %u\n",
                               run->system_event.type);
        return kvm_vcpu_fail(cpu, msg);
    }
    }
}

VcpuExit kvm_vcpu_run(VCPU *cpu)
{
    KvmVcpu *kv = kvm_vcpu(cpu);
    struct kvm_run *run = kv->run;

    for (;;) {
        GString *msg;

        /* A stop request still enters KVM_RUN (with immediate_exit), which
         * first completes a pending port or MMIO read: the state the
         * generic layer then reads or replaces is consistent. */
        if (g_atomic_int_get(&cpu->kick_pending)) {
            __atomic_store_n(&run->immediate_exit, 1, __ATOMIC_SEQ_CST);
        }
        if (g_atomic_int_get(&kv->nmi_pending) &&
            g_atomic_int_compare_and_exchange(&kv->nmi_pending, 1, 0) &&
            ioctl(kv->fd, KVM_NMI) < 0) {
            warn_report("kvm: vCPU %u: KVM_NMI failed: %s", cpu->index,
                        g_strerror(errno));
        }
        if (ioctl(kv->fd, KVM_RUN, 0) < 0) {
            int err = errno;
            if (err == EINTR || err == EAGAIN) {
                __atomic_store_n(&run->immediate_exit, 0, __ATOMIC_SEQ_CST);
                return VCPU_EXIT_KICKED;
            }
            msg = g_string_new(NULL);
            g_string_append_printf(msg, "KVM_RUN failed: %s\n",
                                   g_strerror(err));
            return kvm_vcpu_fail(cpu, msg);
        }

        switch (run->exit_reason) {
        case KVM_EXIT_IO:
            kvm_handle_io(cpu, run, kv->run_size);
            break;
        case KVM_EXIT_MMIO:
            kvm_handle_mmio(cpu, run);
            break;
        case KVM_EXIT_IRQ_WINDOW_OPEN:
        case KVM_EXIT_INTR:
            break;
        case KVM_EXIT_HLT:
            /* Only without an in-kernel LAPIC, which lemu always has. */
            return VCPU_EXIT_HALTED;
        case KVM_EXIT_SHUTDOWN:
            lemu_log_mask(LOG_GUEST_ERROR, "vCPU %u: triple fault\n",
                          cpu->index);
            return VCPU_EXIT_SHUTDOWN;
        case KVM_EXIT_SYSTEM_EVENT:
            return kvm_handle_system_event(cpu, run);
        case KVM_EXIT_INTERNAL_ERROR:
            return kvm_handle_internal_error(cpu, run);
        case KVM_EXIT_FAIL_ENTRY:
            msg = g_string_new(NULL);
            g_string_append_printf(msg, "KVM: entry failed, hardware error "
                                   "0x%" G_GINT64_MODIFIER "x\n",
                                   (uint64_t)run->fail_entry
                                       .hardware_entry_failure_reason);
            return kvm_vcpu_fail(cpu, msg);
        default:
            msg = g_string_new(NULL);
            g_string_append_printf(msg, "KVM: unknown exit reason %u\n",
                                   run->exit_reason);
            return kvm_vcpu_fail(cpu, msg);
        }
    }
}

/* Lock held, any thread: KVM_NMI would block until the vCPU leaves
 * KVM_RUN, so flag it and kick; kvm_vcpu_run issues it before it enters
 * KVM_RUN again. */
void kvm_vcpu_inject_nmi(VCPU *cpu)
{
    KvmVcpu *kv = kvm_vcpu(cpu);

    g_atomic_int_set(&kv->nmi_pending, 1);
    vcpu_kick(cpu);
}

void kvm_vcpu_kick(VCPU *cpu)
{
    KvmVcpu *kv = kvm_vcpu(cpu);

    /* The flag covers a vCPU about to enter KVM_RUN, the signal one that
     * is inside it (or blocked in it on HLT). */
    __atomic_store_n(&kv->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
    pthread_kill(cpu->tid, VCPU_SIG_IPI);
}
