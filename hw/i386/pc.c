/*
 * The "pc" machine: an i440FX-era PC without firmware. Guest RAM from 0
 * with the 640 KiB-1 MiB hole, up to 3 GiB below 4 GiB and the rest above;
 * COM1-COM4, RTC/CMOS, i8042, port 0x80, the PCI host bridge, and, when
 * the accelerator has no irqchip of its own, the interrupt controllers in
 * userspace: the 8259 pair, the 8254, one local APIC per vCPU on an APIC
 * bus and the IOAPIC. Boot is direct: -kernel (bzImage or multiboot) or
 * -device loader.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include "lemu/hw/i386/pc.h"
#include "lemu/hw/i386/acpi.h"
#include "lemu/hw/i386/boot.h"
#include "lemu/hw/intc/apic.h"
#include "lemu/hw/intc/i8259.h"
#include "lemu/hw/intc/ioapic.h"
#include "lemu/hw/pci/pci.h"
#include "lemu/hw/qdev.h"
#include "lemu/chardev/chardev.h"
#include "lemu/system/machine.h"
#include "lemu/util/log.h"

/* The BIOS area (0xc0000-0xfffff) is mapped as ROM so that guests that
 * scan it for tables (MP, ACPI RSDP) read zeros at memory speed. */
#define PC_BIOS_AREA_START  0xc0000ULL
#define PC_BIOS_AREA_END    0x100000ULL
/* Smallest RAM that leaves room for the boot structures and a kernel. */
#define PC_MIN_RAM          (2ULL << 20)

static const uint16_t pc_serial_iobase[PC_MAX_SERIAL] = {
    0x3f8, 0x2f8, 0x3e8, 0x2e8
};
static const uint8_t pc_serial_irq[PC_MAX_SERIAL] = { 4, 3, 4, 3 };

bool pc_memory_init(Machine *m, GError **errp)
{
    uint64_t size = m->cfg.ram_size;

    if (size < PC_MIN_RAM) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "-m: %" G_GUINT64_FORMAT " bytes of RAM is too little "
                    "(the pc machine needs at least 2M)", size);
        return false;
    }
    /* MAP_NORESERVE: guest RAM costs host memory only once touched. */
    m->ram = mmap(NULL, size, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m->ram == MAP_FAILED) {
        m->ram = NULL;
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                    "-m: cannot allocate %" G_GUINT64_FORMAT " MiB of guest "
                    "RAM: %s", size >> 20, g_strerror(errno));
        return false;
    }
    m->ram_size = size;
    m->below_4g_size = MIN(size, PC_MAX_BELOW_4G);
    m->above_4g_size = size - m->below_4g_size;

    if (!memory_map_add_ram(m->mem, "pc.ram-low", 0, PC_LOW_RAM_END,
                            m->ram, errp) ||
        !memory_map_add_rom(m->mem, "pc.bios-area", PC_BIOS_AREA_START,
                            PC_BIOS_AREA_END - PC_BIOS_AREA_START,
                            m->ram + PC_BIOS_AREA_START, errp) ||
        !memory_map_add_ram(m->mem, "pc.ram", PC_HIGH_RAM_START,
                            m->below_4g_size - PC_HIGH_RAM_START,
                            m->ram + PC_HIGH_RAM_START, errp)) {
        return false;
    }
    if (m->above_4g_size &&
        !memory_map_add_ram(m->mem, "pc.ram-above-4g", PC_4G,
                            m->above_4g_size, m->ram + m->below_4g_size,
                            errp)) {
        return false;
    }
    return true;
}

/* Creates board device @name with NULL-terminated key/value pairs. */
static Device *pc_create_device(Machine *m, const char *name,
                                const char *const *props, GError **errp)
{
    Device *dev = device_new(m, name, errp);

    if (!dev) {
        return NULL;
    }
    for (; props && props[0]; props += 2) {
        if (!device_set_prop(dev, props[0], props[1], errp)) {
            device_free(dev);
            return NULL;
        }
    }
    return device_realize(dev, errp) ? dev : NULL;
}

/*
 * The board's own state: the userspace interrupt controllers (all NULL
 * when the accelerator has its own irqchip) and how they are wired.
 */
typedef struct PcMachine {
    Machine *machine;
    I8259State *pic;
    IoapicState *ioapic;
    ApicBus *apic_bus;
    ApicState *apic[LEMU_MAX_VCPUS];   /* local APIC of each vCPU */
} PcMachine;

/* The MADT's interrupt source override: the PIT's IRQ 0 is IOAPIC pin 2. */
#define PC_IOAPIC_PIT_PIN   2

static PcMachine *pc_machine(Machine *m)
{
    return m->board;
}

/* ISA IRQs (GSIs 0-15) go to both the 8259 and the IOAPIC, as on a PC
 * chipset; whichever the guest programs delivers them. */
static void pc_gsi_handler(void *opaque, int gsi, int level)
{
    PcMachine *pcms = opaque;

    if (gsi < 0) {
        return;
    }
    if (gsi < I8259_NR_IRQS) {
        i8259_set_irq(pcms->pic, gsi, level);
    }
    ioapic_set_irq(pcms->ioapic, gsi == 0 ? PC_IOAPIC_PIT_PIN : gsi, level);
}

/*
 * The 8259's INTR goes to LINT0 of the boot CPU's local APIC (ExtINT in
 * virtual-wire mode). The boot CPU also looks at the 8259 itself while its
 * APIC is disabled, as KVM and firmware leave it after reset (LINT0 is
 * then the plain INTR pin), so wake it on a rising INTR.
 */
static void pc_pic_int_out(void *opaque, int n, int level)
{
    PcMachine *pcms = opaque;
    Machine *m = pcms->machine;

    if (pcms->apic[0]) {
        apic_set_lint(pcms->apic[0], 0, level);
    }
    if (level && m->nr_vcpus > 0) {
        vcpu_kick(m->vcpus[0]);
    }
}

/* A local APIC's EOI of a level-triggered vector: the IOAPIC's Remote IRR. */
static void pc_apic_eoi(void *opaque, uint8_t vector)
{
    ioapic_eoi(opaque, vector);
}

/* MSI address and data (Intel SDM vol. 3, 11.11). */
#define MSI_ADDR_BASE_MASK      0xfff00000u
#define MSI_ADDR_BASE           0xfee00000u
#define MSI_ADDR_DEST_SHIFT     12
#define MSI_ADDR_DEST_MASK      0xff
#define MSI_ADDR_DEST_LOGICAL   (1u << 2)
#define MSI_DATA_VECTOR_MASK    0xff
#define MSI_DATA_DM_SHIFT       8
#define MSI_DATA_DM_MASK        0x7
#define MSI_DATA_TRIGGER_LEVEL  (1u << 15)

/* An MSI write as an interrupt message on the APIC bus. */
static void pc_msi_route(void *opaque, uint64_t addr, uint32_t data)
{
    PcMachine *pcms = opaque;
    ApicMessage msg;

    if ((addr & MSI_ADDR_BASE_MASK) != MSI_ADDR_BASE || (addr >> 32)) {
        lemu_log_mask(LOG_GUEST_ERROR, "MSI to 0x%" G_GINT64_MODIFIER "x "
                      "(data 0x%x) dropped: not an interrupt address "
                      "0xfeexxxxx\n", addr, data);
        return;
    }
    msg = (ApicMessage){
        .vector = data & MSI_DATA_VECTOR_MASK,
        .delivery_mode = (data >> MSI_DATA_DM_SHIFT) & MSI_DATA_DM_MASK,
        .dest_logical = addr & MSI_ADDR_DEST_LOGICAL,
        .dest = (addr >> MSI_ADDR_DEST_SHIFT) & MSI_ADDR_DEST_MASK,
        .level_triggered = data & MSI_DATA_TRIGGER_LEVEL,
    };
    apic_bus_deliver(pcms->apic_bus, &msg);
}

static bool pc_create_local_apics(Machine *m, PcMachine *pcms, GError **errp)
{
    unsigned n = MIN(m->cfg.smp, (unsigned)LEMU_MAX_VCPUS);

    pcms->apic_bus = apic_bus_new();
    for (unsigned i = 0; i < n; i++) {
        char id[8];
        const char *props[] = { "id", id, NULL };
        Device *dev;

        /* APIC ID = vCPU index, as the MADT says. */
        snprintf(id, sizeof(id), "%u", i);
        dev = pc_create_device(m, "apic", props, errp);
        if (!dev) {
            return false;
        }
        pcms->apic[i] = apic_from_device(dev);
        apic_bus_attach(pcms->apic_bus, pcms->apic[i]);
        apic_set_eoi_hook(pcms->apic[i], pc_apic_eoi, pcms->ioapic);
    }
    return true;
}

static bool pc_create_interrupt_controllers(Machine *m, GError **errp)
{
    PcMachine *pcms = pc_machine(m);
    Device *pic, *ioapic;

    if (m->accel && m->accel->has_irqchip) {
        return true;   /* PIC, IOAPIC, LAPIC and PIT are in the kernel */
    }
    pic = pc_create_device(m, "i8259", NULL, errp);
    if (!pic) {
        return false;
    }
    pcms->pic = i8259_from_device(pic);
    ioapic = pc_create_device(m, "ioapic", NULL, errp);
    if (!ioapic) {
        return false;
    }
    pcms->ioapic = ioapic_from_device(ioapic);
    if (!pc_create_local_apics(m, pcms, errp)) {
        return false;
    }
    ioapic_set_deliver(pcms->ioapic, apic_bus_deliver, pcms->apic_bus);
    i8259_connect_int_out(pcms->pic, (IrqLine){
        .handler = pc_pic_int_out, .opaque = pcms, .n = 0 });
    m->irq_route = pc_gsi_handler;
    m->irq_route_opaque = pcms;
    m->msi_route = pc_msi_route;
    m->msi_route_opaque = pcms;
    return pc_create_device(m, "i8254", NULL, errp) != NULL;
}

ApicState *pc_cpu_apic(Machine *m, unsigned index)
{
    PcMachine *pcms = pc_machine(m);

    return pcms && index < LEMU_MAX_VCPUS ? pcms->apic[index] : NULL;
}

I8259State *pc_pic(Machine *m)
{
    PcMachine *pcms = pc_machine(m);

    return pcms ? pcms->pic : NULL;
}

void pc_machine_cleanup(Machine *m)
{
    PcMachine *pcms = pc_machine(m);

    if (!pcms) {
        return;
    }
    /* The devices are gone already (device_destroy_all). */
    apic_bus_free(pcms->apic_bus);
    g_free(pcms);
    m->board = NULL;
}

static bool pc_create_serial_ports(Machine *m, GError **errp)
{
    for (int i = 0; i < PC_MAX_SERIAL; i++) {
        char iobase[16], irq[8];
        const char *props[] = {
            "iobase", iobase, "irq", irq,
            "chardev", NULL, NULL
        };

        if (!m->serial_chr[i]) {
            continue;
        }
        snprintf(iobase, sizeof(iobase), "0x%x", pc_serial_iobase[i]);
        snprintf(irq, sizeof(irq), "%u", pc_serial_irq[i]);
        props[5] = chardev_id(m->serial_chr[i]);
        if (!pc_create_device(m, "isa-serial", props, errp)) {
            return false;
        }
    }
    return true;
}

/*
 * The BIOS Data Area at 0x400, as firmware leaves it: kernels booted
 * directly still read it (Xen places its trampoline below the base memory
 * size, Linux finds the EBDA through it).
 */
#define BDA_BASE            0x400
#define BDA_COM_PORTS       0x00    /* 4 words: COM1..COM4 I/O bases */
#define BDA_EBDA_SEGMENT    0x0e
#define BDA_EQUIPMENT       0x10    /* bits 9-11: number of serial ports */
#define BDA_BASE_MEMORY_KB  0x13
#define BDA_SIZE            0x100
#define EBDA_SIZE_KB        1       /* first byte of the EBDA */

static bool pc_build_bios_data_area(Machine *m, GError **errp)
{
    uint8_t bda[BDA_SIZE] = { 0 };
    uint8_t ebda_size_kb = EBDA_SIZE_KB;
    unsigned nr_serial = 0;

    for (int i = 0; i < PC_MAX_SERIAL; i++) {
        if (m->serial_chr[i]) {
            boot_st16(bda + BDA_COM_PORTS + 2 * nr_serial++,
                      pc_serial_iobase[i]);
        }
    }
    boot_st16(bda + BDA_EBDA_SEGMENT, E820_EBDA_START >> 4);
    boot_st16(bda + BDA_EQUIPMENT, (nr_serial << 9) | 0x2 /* FPU */);
    boot_st16(bda + BDA_BASE_MEMORY_KB, E820_EBDA_START >> 10);
    return machine_add_rom_blob(m, "bios-data-area", BDA_BASE, bda,
                                sizeof(bda), errp) &&
           machine_add_rom_blob(m, "ebda", E820_EBDA_START, &ebda_size_kb,
                                1, errp);
}

/*
 * What firmware does before a direct kernel boot: give every PCI BAR an
 * address and enable decoding. A board-internal device created after the
 * -device ones, so that its reset runs after theirs (which park the BARs)
 * at power-on and at every machine reset.
 */
typedef struct PcPciFirmware {
    Device parent;
} PcPciFirmware;

static const VMStateField pc_pci_firmware_vmstate[] = {
    VMSTATE_END
};

static void pc_pci_firmware_reset(Device *dev)
{
    if (dev->machine->pci_bus) {
        pci_bus_assign_bars(dev->machine->pci_bus);
    }
}

static bool pc_pci_firmware_realize(Device *dev, GError **errp)
{
    return true;
}

static const DeviceClass pc_pci_firmware_class = {
    .name = "pc-pci-firmware",
    .desc = "assigns PCI BARs at reset, as firmware would",
    .instance_size = sizeof(PcPciFirmware),
    .user_creatable = false,
    .vmstate = pc_pci_firmware_vmstate,
    .realize = pc_pci_firmware_realize,
    .reset = pc_pci_firmware_reset,
};

bool pc_machine_init(Machine *m, GError **errp)
{
    static const char *const board_devices[] = {
        "mc146818rtc", "i8042", "port80", "i440FX-pcihost", "acpi-pm",
    };
    PcMachine *pcms = g_new0(PcMachine, 1);
    Device *fw;

    pcms->machine = m;
    m->board = pcms;
    if (!pc_create_interrupt_controllers(m, errp)) {
        return false;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(board_devices); i++) {
        if (!pc_create_device(m, board_devices[i], NULL, errp)) {
            return false;
        }
    }
    if (!pc_create_serial_ports(m, errp) || !acpi_build_tables(m, errp) ||
        !pc_build_bios_data_area(m, errp)) {
        return false;
    }
    for (guint i = 0; i < m->cfg.devices->len; i++) {
        if (!device_create_from_opts(m, g_ptr_array_index(m->cfg.devices, i),
                                     errp)) {
            return false;
        }
    }
    /* -drive if=virtio disks, then the firmware: it must see every PCI
     * function to assign their BARs. */
    if (!machine_create_drive_devices(m, errp)) {
        return false;
    }
    fw = device_new_from_class(m, &pc_pci_firmware_class, errp);
    if (!fw || !device_realize(fw, errp)) {
        return false;
    }
    if (m->cfg.kernel) {
        return x86_load_kernel(m, errp);
    }
    if (!m->has_boot_state[0]) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "nothing to boot: give -kernel FILE or -device "
                    "loader,file=FILE,addr=ADDR,cpu-num=0 (lemu has no BIOS "
                    "yet)");
        return false;
    }
    return true;
}
