/*
 * The "pc" board: RAM layout, the legacy devices, interrupt routing and
 * the boot loaders, built on an already set-up generic Machine.
 */
#ifndef LEMU_HW_I386_PC_H
#define LEMU_HW_I386_PC_H

#include <stdbool.h>
#include <glib.h>

typedef struct Machine Machine;
typedef struct ApicState ApicState;
typedef struct I8259State I8259State;

/* Memory map of the pc machine. */
#define PC_LOW_RAM_END      0xa0000ULL     /* 640 KiB */
#define PC_HIGH_RAM_START   0x100000ULL    /* 1 MiB */
#define PC_MAX_BELOW_4G     0xc0000000ULL  /* RAM below 4 GiB: up to 3 GiB */
#define PC_4G               0x100000000ULL

/* Lays out and maps guest RAM and the BIOS area (before the accelerator
 * is set up, which derives its memory slots from the map). */
bool pc_memory_init(Machine *m, GError **errp);
/* Builds the devices and boot images (after the accelerator, which
 * decides whether the interrupt controllers live in userspace). */
bool pc_machine_init(Machine *m, GError **errp);
/* Frees the board's own state, after the devices are destroyed. */
void pc_machine_cleanup(Machine *m);

/*
 * The userspace interrupt controllers the board built for an accelerator
 * without irqchip (the interpreter): the local APIC of vCPU @index and the
 * 8259 pair. NULL when there are none.
 */
ApicState *pc_cpu_apic(Machine *m, unsigned index);
I8259State *pc_pic(Machine *m);

#endif
