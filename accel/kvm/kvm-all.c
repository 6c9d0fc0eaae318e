/*
 * KVM accelerator: /dev/kvm, the VM, its memory slots and the in-kernel
 * interrupt controllers and PIT. vCPUs are kvm-cpu.c, CPUID kvm-cpuid.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include "accel/kvm/kvm-internal.h"
#include "lemu/util/log.h"

/* The only API version there has ever been. */
#define KVM_API_VERSION_EXPECTED 12

typedef struct KvmRequiredCap {
    int cap;
    const char *name;
} KvmRequiredCap;

static const KvmRequiredCap kvm_required_caps[] = {
    { KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
    { KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP" },
    { KVM_CAP_PIT2, "KVM_CAP_PIT2" },
    { KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
    { KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR" },
    { KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
    { KVM_CAP_MP_STATE, "KVM_CAP_MP_STATE" },
    { KVM_CAP_SIGNAL_MSI, "KVM_CAP_SIGNAL_MSI" },
};

static int kvm_check_extension(int fd, int cap)
{
    int r = ioctl(fd, KVM_CHECK_EXTENSION, cap);
    return r < 0 ? 0 : r;
}

static bool kvm_open_dev(KvmState *s, GError **errp)
{
    int version;

    s->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (s->kvm_fd < 0) {
        int err = errno;
        if (err == ENOENT) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_UNSUPPORTED,
                        "/dev/kvm not found: is the kvm module loaded? "
                        "(use -accel interp)");
        } else if (err == EACCES || err == EPERM) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_UNSUPPORTED,
                        "no permission to open /dev/kvm: add yourself to "
                        "the kvm group");
        } else {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_UNSUPPORTED,
                        "cannot open /dev/kvm: %s", g_strerror(err));
        }
        return false;
    }
    version = ioctl(s->kvm_fd, KVM_GET_API_VERSION, 0);
    if (version < 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_UNSUPPORTED,
                    "/dev/kvm is not a KVM device (KVM_GET_API_VERSION: %s)",
                    g_strerror(errno));
        return false;
    }
    if (version != KVM_API_VERSION_EXPECTED) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_UNSUPPORTED,
                    "/dev/kvm: API version %d, expected %d", version,
                    KVM_API_VERSION_EXPECTED);
        return false;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(kvm_required_caps); i++) {
        if (!kvm_check_extension(s->kvm_fd, kvm_required_caps[i].cap)) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_UNSUPPORTED,
                        "KVM lacks %s, which lemu needs (host kernel too "
                        "old?)", kvm_required_caps[i].name);
            return false;
        }
    }
    s->readonly_mem = kvm_check_extension(s->kvm_fd, KVM_CAP_READONLY_MEM);
    s->tsc_deadline = kvm_check_extension(s->kvm_fd,
                                          KVM_CAP_TSC_DEADLINE_TIMER);
    s->xsave = kvm_check_extension(s->kvm_fd, KVM_CAP_XSAVE);
    s->xcrs = kvm_check_extension(s->kvm_fd, KVM_CAP_XCRS);
    s->vcpu_events = kvm_check_extension(s->kvm_fd, KVM_CAP_VCPU_EVENTS);
    s->debugregs = kvm_check_extension(s->kvm_fd, KVM_CAP_DEBUGREGS);
    s->ioeventfd = kvm_check_extension(s->kvm_fd, KVM_CAP_IOEVENTFD);

    s->vcpu_mmap_size = ioctl(s->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (s->vcpu_mmap_size < (int)sizeof(struct kvm_run)) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_UNSUPPORTED,
                    "/dev/kvm: KVM_GET_VCPU_MMAP_SIZE gave %d bytes, less "
                    "than struct kvm_run", s->vcpu_mmap_size);
        return false;
    }
    return true;
}

/* The TSS and identity-map pages must not hide guest memory or devices. */
static bool kvm_check_private_pages(Machine *m, GError **errp)
{
    uint64_t start = KVM_IDENTITY_MAP_ADDR;
    uint64_t end = KVM_TSS_ADDR + KVM_TSS_SIZE;

    for (guint i = 0; i < memory_map_count(m->mem); i++) {
        const MemoryRegion *mr = memory_map_region_at(m->mem, i);
        if (mr->base < end && start < mr->base + mr->size) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "kvm: region %s (0x%" G_GINT64_MODIFIER "x-0x%"
                        G_GINT64_MODIFIER "x) overlaps the pages KVM "
                        "reserves at 0x%" G_GINT64_MODIFIER "x-0x%"
                        G_GINT64_MODIFIER "x", mr->name, mr->base,
                        mr->base + mr->size - 1, start, end - 1);
            return false;
        }
    }
    return true;
}

static bool kvm_create_vm(Machine *m, KvmState *s, GError **errp)
{
    uint64_t identity = KVM_IDENTITY_MAP_ADDR;

    s->vm_fd = ioctl(s->kvm_fd, KVM_CREATE_VM, 0);
    if (s->vm_fd < 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                    "kvm: KVM_CREATE_VM failed: %s", g_strerror(errno));
        return false;
    }
    if (ioctl(s->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)KVM_TSS_ADDR) < 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                    "kvm: KVM_SET_TSS_ADDR failed: %s", g_strerror(errno));
        return false;
    }
    /* Only Intel hosts use it; it must come before the first vCPU. */
    if (kvm_check_extension(s->kvm_fd, KVM_CAP_SET_IDENTITY_MAP_ADDR) &&
        ioctl(s->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &identity) < 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                    "kvm: KVM_SET_IDENTITY_MAP_ADDR failed: %s",
                    g_strerror(errno));
        return false;
    }
    return true;
}

/* After the memory slots: registering the first slot once the irqchip
 * exists costs several milliseconds of SRCU synchronisation in some host
 * kernels, which was most of lemu's start-up time. */
static bool kvm_create_irqchip(KvmState *s, GError **errp)
{
    struct kvm_pit_config pit = { .flags = 0 };   /* no speaker dummy */

    if (ioctl(s->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                    "kvm: KVM_CREATE_IRQCHIP failed: %s", g_strerror(errno));
        return false;
    }
    if (ioctl(s->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                    "kvm: KVM_CREATE_PIT2 failed: %s", g_strerror(errno));
        return false;
    }

    /* Remember the power-on state of the in-kernel devices for reset. */
    s->reset_pic_master.chip_id = KVM_IRQCHIP_PIC_MASTER;
    s->reset_pic_slave.chip_id = KVM_IRQCHIP_PIC_SLAVE;
    s->reset_ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
    if (ioctl(s->vm_fd, KVM_GET_IRQCHIP, &s->reset_pic_master) < 0 ||
        ioctl(s->vm_fd, KVM_GET_IRQCHIP, &s->reset_pic_slave) < 0 ||
        ioctl(s->vm_fd, KVM_GET_IRQCHIP, &s->reset_ioapic) < 0 ||
        ioctl(s->vm_fd, KVM_GET_PIT2, &s->reset_pit) < 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                    "kvm: cannot read the in-kernel irqchip/PIT state: %s",
                    g_strerror(errno));
        return false;
    }
    return true;
}

static bool kvm_set_slots(Machine *m, KvmState *s, GError **errp)
{
    int max_slots = kvm_check_extension(s->kvm_fd, KVM_CAP_NR_MEMSLOTS);
    long page = sysconf(_SC_PAGESIZE);

    if (max_slots <= 0) {
        max_slots = 32;   /* what every KVM has offered */
    }
    for (guint i = 0; i < memory_map_count(m->mem); i++) {
        const MemoryRegion *mr = memory_map_region_at(m->mem, i);
        struct kvm_userspace_memory_region slot;

        /* MMIO is not a slot: accesses there exit to userspace. */
        if (mr->kind == MEM_MMIO) {
            continue;
        }
        if ((mr->base | mr->size | (uintptr_t)mr->host) & (page - 1)) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "kvm: region %s (0x%" G_GINT64_MODIFIER "x, 0x%"
                        G_GINT64_MODIFIER "x bytes) is not page aligned",
                        mr->name, mr->base, mr->size);
            return false;
        }
        if (s->nr_slots >= (unsigned)max_slots) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_UNSUPPORTED,
                        "kvm: more than %d memory regions (at %s)",
                        max_slots, mr->name);
            return false;
        }
        memset(&slot, 0, sizeof(slot));
        slot.slot = s->nr_slots;
        slot.guest_phys_addr = mr->base;
        slot.memory_size = mr->size;
        slot.userspace_addr = (uintptr_t)mr->host;
        /* Without read-only slots a ROM is writable RAM to the guest. */
        if (mr->kind == MEM_ROM && s->readonly_mem) {
            slot.flags = KVM_MEM_READONLY;
        }
        if (ioctl(s->vm_fd, KVM_SET_USER_MEMORY_REGION, &slot) < 0) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                        "kvm: cannot map %s at 0x%" G_GINT64_MODIFIER "x: %s",
                        mr->name, mr->base, g_strerror(errno));
            return false;
        }
        s->nr_slots++;
    }
    return true;
}

static void kvm_free_state(KvmState *s)
{
    if (s->vm_fd >= 0) {
        close(s->vm_fd);
    }
    if (s->kvm_fd >= 0) {
        close(s->kvm_fd);
    }
    g_free(s->cpuid);
    g_free(s);
}

static bool kvm_init(Machine *m, GError **errp)
{
    KvmState *s = g_new0(KvmState, 1);

    s->kvm_fd = -1;
    s->vm_fd = -1;
    if (!kvm_check_private_pages(m, errp) ||
        !kvm_open_dev(s, errp) ||
        !(s->cpuid = kvm_cpuid_build(s, m->cfg.cpu_model, errp)) ||
        !kvm_create_vm(m, s, errp) ||
        !kvm_set_slots(m, s, errp) ||
        !kvm_create_irqchip(s, errp)) {
        kvm_free_state(s);
        return false;
    }
    m->accel_state = s;
    return true;
}

static void kvm_cleanup(Machine *m)
{
    KvmState *s = kvm_state(m);

    if (s) {
        kvm_free_state(s);
        m->accel_state = NULL;
    }
}

/* Lock held, vCPUs paused. */
static void kvm_reset(Machine *m)
{
    KvmState *s = kvm_state(m);

    if (ioctl(s->vm_fd, KVM_SET_IRQCHIP, &s->reset_pic_master) < 0 ||
        ioctl(s->vm_fd, KVM_SET_IRQCHIP, &s->reset_pic_slave) < 0 ||
        ioctl(s->vm_fd, KVM_SET_IRQCHIP, &s->reset_ioapic) < 0 ||
        ioctl(s->vm_fd, KVM_SET_PIT2, &s->reset_pit) < 0) {
        warn_report("kvm: cannot reset the in-kernel irqchip/PIT: %s",
                    g_strerror(errno));
    }
}

/* For GSIs 0-15 the in-kernel routing raises both the PIC and IOAPIC pin,
 * as on a real PC. */
static void kvm_set_irq(Machine *m, unsigned gsi, int level)
{
    KvmState *s = kvm_state(m);
    struct kvm_irq_level irq = { .irq = gsi, .level = level ? 1 : 0 };

    if (ioctl(s->vm_fd, KVM_IRQ_LINE, &irq) < 0) {
        warn_report("kvm: cannot set GSI %u to %d: %s", gsi, irq.level,
                    g_strerror(errno));
    }
}

/* The in-kernel LAPICs decode the message (address 0xfeeXXXXX, data). */
static void kvm_send_msi(Machine *m, uint64_t addr, uint32_t data)
{
    KvmState *s = kvm_state(m);
    struct kvm_msi msi = {
        .address_lo = (uint32_t)addr,
        .address_hi = (uint32_t)(addr >> 32),
        .data = data,
    };

    /* 0: the message was blocked (no APIC took it), not an error. */
    if (ioctl(s->vm_fd, KVM_SIGNAL_MSI, &msi) < 0) {
        warn_report("kvm: cannot send MSI to 0x%" G_GINT64_MODIFIER "x data "
                    "0x%x: %s", addr, data, g_strerror(errno));
    }
}

/* A guest write to @addr signals @fd inside the kernel: the vCPU goes on
 * running while the main loop handles it (virtio notifications). */
static bool kvm_ioeventfd(Machine *m, uint64_t addr, unsigned len, int fd,
                          bool assign)
{
    KvmState *s = kvm_state(m);
    struct kvm_ioeventfd ioe = {
        .addr = addr,
        .len = len,
        .fd = fd,
        .flags = assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN,
    };

    if (!s->ioeventfd) {
        return false;
    }
    if (ioctl(s->vm_fd, KVM_IOEVENTFD, &ioe) < 0) {
        warn_report("kvm: cannot %s an ioeventfd at 0x%" G_GINT64_MODIFIER
                    "x: %s", assign ? "attach" : "detach", addr,
                    g_strerror(errno));
        return false;
    }
    return true;
}

const AccelOps kvm_accel_ops = {
    .name = "kvm",
    .init = kvm_init,
    .cleanup = kvm_cleanup,
    .vcpu_init = kvm_vcpu_init,
    .vcpu_cleanup = kvm_vcpu_cleanup,
    .vcpu_run = kvm_vcpu_run,
    .vcpu_kick = kvm_vcpu_kick,
    .vcpu_inject_nmi = kvm_vcpu_inject_nmi,
    .get_state = kvm_get_state,
    .set_state = kvm_set_state,
    .vcpu_reset = kvm_vcpu_reset,
    .reset = kvm_reset,
    .set_irq = kvm_set_irq,
    .send_msi = kvm_send_msi,
    .ioeventfd = kvm_ioeventfd,
    .has_irqchip = true,
};
