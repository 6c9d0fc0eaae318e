/*
 * The machine: everything one virtual PC owns. Its mutable state is
 * guarded by the machine lock (m->lock), which the main loop holds while
 * it dispatches and vCPUs take to touch device state.
 */
#ifndef LEMU_SYSTEM_MACHINE_H
#define LEMU_SYSTEM_MACHINE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <glib.h>
#include "lemu/accel/accel.h"
#include "lemu/system/irq.h"
#include "lemu/system/memory.h"
#include "lemu/system/runstate.h"
#include "lemu/system/vcpu.h"
#include "lemu/util/main-loop.h"
#include "lemu/util/opts.h"

typedef struct Chardev Chardev;
typedef struct Device Device;
typedef struct MonitorSet MonitorSet;

#define LEMU_MAX_VCPUS 64

/* What the command line asked for. */
typedef struct MachineConfig {
    char *machine_type;          /* -machine: "pc" */
    uint64_t ram_size;           /* -m, bytes */
    unsigned smp;                /* -smp */
    char *accel;                 /* -accel; NULL: kvm if usable */
    char *cpu_model;             /* -cpu: "host" or "max" */
    char *kernel, *initrd, *append;
    char *name;                  /* -name */
    bool no_reboot;              /* -no-reboot: guest reset exits */
    bool no_shutdown;            /* -no-shutdown: guest poweroff pauses */
    bool start_paused;           /* -S */
    GPtrArray *devices;          /* LemuOpts of each -device, in order */
    GPtrArray *chardevs;         /* LemuOpts of each -chardev, in order */
    GPtrArray *serials;          /* char * spec of each -serial, in order */
    GPtrArray *monitors;         /* MonitorConfig * of -qmp/-monitor/-mon */
    char *uuid;                  /* -uuid, canonical lower-case; NULL */
    GPtrArray *drives;           /* char * option string of each -drive */
    GPtrArray *blockdevs;        /* char * argument of each -blockdev
                                    (JSON or dotted keys) */
} MachineConfig;

#define PC_MAX_SERIAL 4

/* A blob copied into guest memory at every reset (kernel, initrd, boot
 * structures, -device loader files), like a ROM the board re-loads. */
typedef struct RomBlob {
    char *name;
    uint64_t addr;
    GBytes *data;
} RomBlob;

typedef struct Machine {
    GMutex lock;                 /* the machine lock */
    GCond vcpu_cond;             /* vCPUs signal parking on it */
    MainLoop *loop;
    MachineConfig cfg;

    MemoryMap *mem;
    IoPortMap *io;
    uint8_t *ram;                /* host mapping of all guest RAM */
    uint64_t ram_size;
    uint64_t below_4g_size;      /* RAM mapped at 0 .. below_4g_size */
    uint64_t above_4g_size;      /* RAM mapped at 4 GiB .. */

    const AccelOps *accel;
    void *accel_state;
    VCPU *vcpus[LEMU_MAX_VCPUS];
    unsigned nr_vcpus;

    RunState runstate;           /* (lock) */
    ShutdownCause shutdown_cause;
    int exit_code;               /* what main() returns */
    bool exit_requested;         /* (lock) main loop should end */

    /* Requests from any thread, handled by a bottom half on the loop. */
    BottomHalf *request_bh;
    int reset_request;           /* atomic ShutdownCause, 0 = none */
    int shutdown_request;        /* atomic ShutdownCause, 0 = none */
    int exit_request_code;       /* atomic, valid when exit requested */
    int exit_request;            /* atomic flag */
    char *internal_error;        /* (lock) message of the first error */

    GPtrArray *devices;          /* Device *, realized, creation order */
    GPtrArray *chardevs;         /* Chardev * */
    Chardev *serial_chr[PC_MAX_SERIAL];  /* backends of COM1..COM4 */
    GPtrArray *rom_blobs;        /* RomBlob * */

    /* Boot: the state of each vCPU at reset; filled by the boot loaders.
     * Entries with has_boot_state false get the architectural reset
     * state (BSP) or wait for SIPI (APs). */
    X86CPUState boot_state[LEMU_MAX_VCPUS];
    bool has_boot_state[LEMU_MAX_VCPUS];

    /* Interrupt routing for ISA IRQ lines when the accelerator has no
     * in-kernel irqchip: set by the board (userspace PIC/IOAPIC). */
    IrqHandler *irq_route;
    void *irq_route_opaque;

    /* MSI writes (address 0xfeeXXXXX, data) when the accelerator has no
     * in-kernel irqchip: set by the board (userspace APIC bus). */
    void (*msi_route)(void *opaque, uint64_t addr, uint32_t data);
    void *msi_route_opaque;

    GPtrArray *drives;           /* DriveInfo * (block/blockdev.c) */
    struct PciBus *pci_bus;      /* bus 0, once the host bridge exists */

    void *board;                 /* the board's own state (PcMachine) */
    MonitorSet *monitor;         /* QMP and human monitors (monitor/) */
} Machine;

static inline void machine_lock(Machine *m) { g_mutex_lock(&m->lock); }
static inline void machine_unlock(Machine *m) { g_mutex_unlock(&m->lock); }

/* Creates a machine from @cfg (which it takes over): memory, accelerator,
 * board devices, boot images, vCPUs. Nothing runs yet. */
Machine *machine_new(MachineConfig *cfg, GError **errp);
/* Lock held. Starts the vCPUs (or leaves the VM in prelaunch for -S). */
void machine_start(Machine *m);
void machine_free(Machine *m);

/* The line of ISA IRQ/GSI @n; routed to the accelerator's irqchip or to
 * the board's userspace interrupt controllers. */
IrqLine machine_gsi_line(Machine *m, int n);

/* Lock held: delivers a message-signalled interrupt (MSI/MSI-X) through
 * the accelerator's irqchip or the board's APIC bus. */
void machine_send_msi(Machine *m, uint64_t addr, uint32_t data);
/* Whether guest writes to MMIO addresses can signal an eventfd without
 * leaving the vCPU (KVM's ioeventfd); see AccelOps.ioeventfd. */
bool machine_has_ioeventfd(Machine *m);
bool machine_set_ioeventfd(Machine *m, uint64_t addr, unsigned len, int fd,
                           bool assign);

/* Lock held: state changes done on the main loop. */
void machine_pause(Machine *m);
void machine_resume(Machine *m);
/* Lock held, main loop: pauses a running VM into @state (paused,
 * io-error) with event STOP; devices hear of it (vm_state_change). */
void machine_stop(Machine *m, RunState state);
/* Lock held, the VM paused or not: resets devices, re-loads ROM blobs,
 * sets every vCPU to its boot state. */
void machine_reset(Machine *m);

/* Requests from any thread with the lock held (device callbacks, the main
 * loop, vCPUs): every vCPU stops at once, and a bottom half on the main
 * loop carries the request out. */
void machine_request_reset(Machine *m, ShutdownCause cause);
void machine_request_shutdown(Machine *m, ShutdownCause cause);
/* Ends the process with @code after flushing (isa-debug-exit). */
void machine_request_exit(Machine *m, int code);
/* Lock held: the accelerator cannot go on; stops the VM in
 * internal-error with @msg reported on stderr. */
void machine_request_internal_error(Machine *m, const char *fmt, ...)
    G_GNUC_PRINTF(2, 3);

/* Creates a virtio-blk-pci for each -drive if=virtio that no device has
 * taken. The board calls it after the -device devices and before the
 * PCI BARs are assigned (pc-pci-firmware). */
bool machine_create_drive_devices(Machine *m, GError **errp);

/* Adds a blob to load at @addr at every reset; fails when it does not fit
 * in RAM/ROM. */
bool machine_add_rom_blob(Machine *m, const char *name, uint64_t addr,
                          const void *data, size_t len, GError **errp);

Chardev *machine_find_chardev(Machine *m, const char *id);

void machine_config_init(MachineConfig *cfg);
void machine_config_clear(MachineConfig *cfg);

#endif
