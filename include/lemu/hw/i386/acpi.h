/*
 * ACPI for the pc machine: the tables lemu builds into the BIOS area
 * (RSDP, RSDT, XSDT, FADT, FACS, MADT, DSDT) and the fixed-feature PM
 * registers of the "acpi-pm" device that they describe.
 *
 * Port layout, as QEMU's PIIX4 PM (base 0x600):
 *   0x600-0x603  PM1a_EVT_BLK: PM1_STS (16 bits), PM1_EN (16 bits)
 *   0x604-0x605  PM1a_CNT_BLK: PM1_CNT (16 bits)
 *   0x608-0x60b  PM_TMR_BLK: 24-bit 3.579545 MHz counter
 *   0xafe0-0xafe3 GPE0_BLK: GPE0_STS (16 bits), GPE0_EN (16 bits)
 * The SCI is ISA IRQ 9, level triggered, active high. There is no SMI
 * command port (FADT SMI_CMD = 0): the machine is always in ACPI mode and
 * SCI_EN always reads 1.
 */
#ifndef LEMU_HW_I386_ACPI_H
#define LEMU_HW_I386_ACPI_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

typedef struct Machine Machine;
typedef struct Device Device;

#define ACPI_PM1A_EVT_BLK       0x600
#define ACPI_PM1_EVT_LEN        4
#define ACPI_PM1A_CNT_BLK       0x604
#define ACPI_PM1_CNT_LEN        2
#define ACPI_PM_TMR_BLK         0x608
#define ACPI_PM_TMR_LEN         4
#define ACPI_GPE0_BLK           0xafe0
#define ACPI_GPE0_BLK_LEN       4
#define ACPI_SCI_IRQ            9

/* PM1_STS / PM1_EN bits. */
#define ACPI_PM1_TMR_STS        0x0001
#define ACPI_PM1_GBL_STS        0x0020
#define ACPI_PM1_PWRBTN_STS     0x0100
#define ACPI_PM1_SLPBTN_STS     0x0200
#define ACPI_PM1_RTC_STS        0x0400
#define ACPI_PM1_WAK_STS        0x8000
#define ACPI_PM1_TMR_EN         0x0001
#define ACPI_PM1_GBL_EN         0x0020
#define ACPI_PM1_PWRBTN_EN      0x0100
#define ACPI_PM1_SLPBTN_EN      0x0200
#define ACPI_PM1_RTC_EN         0x0400

/* PM1_CNT bits. */
#define ACPI_PM1_CNT_SCI_EN     0x0001
#define ACPI_PM1_CNT_BM_RLD     0x0002
#define ACPI_PM1_CNT_GBL_RLS    0x0004
#define ACPI_PM1_CNT_SLP_TYP_SHIFT 10
#define ACPI_PM1_CNT_SLP_TYP    (7 << ACPI_PM1_CNT_SLP_TYP_SHIFT)
#define ACPI_PM1_CNT_SLP_EN     0x2000

/* The SLP_TYP that \_S5 (soft off) gives and acpi-pm powers off on. */
#define ACPI_SLP_TYP_S5         5

#define ACPI_PM_TIMER_HZ        3579545

/* Where the tables go: RSDP first, on a 16-byte boundary in
 * 0xe0000-0xfffff where guests scan for it, the rest after it. */
#define ACPI_TABLES_ADDR        0xe0000ULL
#define ACPI_TABLES_MAX_SIZE    0x10000ULL

/*
 * Builds the tables for @m (one Local APIC per vCPU of m->cfg.smp, the PM
 * blocks above) and adds them as a ROM blob at ACPI_TABLES_ADDR, which
 * must be mapped (the pc board's BIOS area).
 */
bool acpi_build_tables(Machine *m, GError **errp);

/* The machine's "acpi-pm" device, or NULL when it has none. */
Device *acpi_pm_find(Machine *m);

/* Lock held: a press of the fixed-feature power button (QMP
 * system_powerdown). Sets PWRBTN_STS; raises the SCI if PWRBTN_EN. */
void acpi_pm_press_power_button(Device *dev);

#endif
