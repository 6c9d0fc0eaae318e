/*
 * acpi-pm: the ACPI fixed-feature hardware of the pc machine, as the PM
 * function of a PIIX4 provides it (ACPI specification, chapter 4.8
 * "ACPI Hardware Model"): the PM1a event block (PM1_STS, PM1_EN), the
 * PM1a control block (PM1_CNT), the PM timer and GPE0. Port layout and
 * bit names are in lemu/hw/i386/acpi.h.
 *
 * There is no SMI handler, so the machine is always in ACPI mode: SCI_EN
 * is set and stays set. Writing SLP_TYP = 5 (\_S5) with SLP_EN powers the
 * machine off; there are no other sleep states. The power button is the
 * fixed-feature one: acpi_pm_press_power_button() sets PWRBTN_STS, and
 * the SCI (IRQ 9, level, active high) follows every enabled status bit.
 *
 * The PM timer counts at 3.579545 MHz from CLOCK_VIRTUAL, 24 bits wide;
 * TMR_STS is set each time bit 23 of the count changes.
 */
#include "lemu/hw/i386/acpi.h"
#include "lemu/hw/qdev.h"
#include "lemu/system/machine.h"
#include "lemu/util/log.h"
#include "lemu/util/main-loop.h"
#include "hw/device-classes.h"

/* Register offsets within their blocks. */
#define PM1_STS             0x00
#define PM1_EN              0x02
#define PM1_CNT             0x00
#define GPE0_STS            0x00
#define GPE0_EN             0x02

#define PM_TMR_MASK         0xffffffu
#define PM_TMR_MSB_SHIFT    23          /* TMR_STS: bit 23 changed */

/* Status bits that can raise the SCI when their enable bit is set. */
#define PM1_SCI_EVENTS      (ACPI_PM1_TMR_STS | ACPI_PM1_GBL_STS | \
                             ACPI_PM1_PWRBTN_STS | ACPI_PM1_SLPBTN_STS | \
                             ACPI_PM1_RTC_STS)
#define PM1_EN_WMASK        (ACPI_PM1_TMR_EN | ACPI_PM1_GBL_EN | \
                             ACPI_PM1_PWRBTN_EN | ACPI_PM1_SLPBTN_EN | \
                             ACPI_PM1_RTC_EN)
/* SCI_EN is fixed at 1, SLP_EN and GBL_RLS are write-only. */
#define PM1_CNT_WMASK       (ACPI_PM1_CNT_BM_RLD | ACPI_PM1_CNT_SLP_TYP)

#define NS                  NANOSECONDS_PER_SECOND

typedef struct AcpiPmState {
    Device parent;

    uint16_t pm1_sts;
    uint16_t pm1_en;
    uint16_t pm1_cnt;
    uint16_t gpe0_sts;
    uint16_t gpe0_en;
    /* Count >> 23 when TMR_STS was last brought up to date. */
    uint64_t tmr_epoch;

    IrqLine sci;
    Timer *tmr_timer;           /* armed while TMR_EN is set */
    bool evt_registered;
    bool cnt_registered;
    bool tmr_registered;
    bool gpe_registered;
} AcpiPmState;

static const VMStateField acpi_pm_vmstate[] = {
    VMSTATE(AcpiPmState, pm1_sts, VMS_U16),
    VMSTATE(AcpiPmState, pm1_en, VMS_U16),
    VMSTATE(AcpiPmState, pm1_cnt, VMS_U16),
    VMSTATE(AcpiPmState, gpe0_sts, VMS_U16),
    VMSTATE(AcpiPmState, gpe0_en, VMS_U16),
    VMSTATE(AcpiPmState, tmr_epoch, VMS_U64),
    VMSTATE_END
};

/* ---- PM timer ---------------------------------------------------------- */

static int64_t acpi_pm_now(AcpiPmState *s)
{
    return clock_get_ns(DEVICE(s)->machine->loop, CLOCK_VIRTUAL);
}

/* Timer ticks at @ns, floor(ns * f / 1e9), without 64-bit overflow. */
static uint64_t acpi_pm_ticks_at(int64_t ns)
{
    uint64_t t = ns > 0 ? (uint64_t)ns : 0;

    return t / NS * ACPI_PM_TIMER_HZ + t % NS * ACPI_PM_TIMER_HZ / NS;
}

/* The first instant at which the count reaches @ticks. */
static int64_t acpi_pm_ns_of_ticks(uint64_t ticks)
{
    uint64_t rem = ticks % ACPI_PM_TIMER_HZ;

    return (int64_t)(ticks / ACPI_PM_TIMER_HZ * NS +
                     (rem * NS + ACPI_PM_TIMER_HZ - 1) / ACPI_PM_TIMER_HZ);
}

static uint64_t acpi_pm_tmr_epoch_at(int64_t ns)
{
    return acpi_pm_ticks_at(ns) >> PM_TMR_MSB_SHIFT;
}

/* Latches TMR_STS if bit 23 of the count changed since the last look. */
static void acpi_pm_update_tmr_sts(AcpiPmState *s)
{
    uint64_t epoch = acpi_pm_tmr_epoch_at(acpi_pm_now(s));

    if (epoch != s->tmr_epoch) {
        s->pm1_sts |= ACPI_PM1_TMR_STS;
        s->tmr_epoch = epoch;
    }
}

static void acpi_pm_update_sci(AcpiPmState *s)
{
    bool level = (s->pm1_sts & s->pm1_en & PM1_SCI_EVENTS) ||
                 (s->gpe0_sts & s->gpe0_en);

    irq_set_level(&s->sci, level && (s->pm1_cnt & ACPI_PM1_CNT_SCI_EN));
}

/* With TMR_EN set, wakes up when bit 23 next changes, to raise the SCI. */
static void acpi_pm_arm_tmr_timer(AcpiPmState *s)
{
    if (!(s->pm1_en & ACPI_PM1_TMR_EN)) {
        timer_del(s->tmr_timer);
        return;
    }
    timer_mod_ns(s->tmr_timer,
                 acpi_pm_ns_of_ticks((s->tmr_epoch + 1) << PM_TMR_MSB_SHIFT));
}

static void acpi_pm_tmr_expired(void *opaque)
{
    AcpiPmState *s = opaque;

    acpi_pm_update_tmr_sts(s);
    acpi_pm_update_sci(s);
    acpi_pm_arm_tmr_timer(s);
}

static uint64_t acpi_pm_tmr_read(void *opaque, uint64_t offset,
                                 unsigned size)
{
    AcpiPmState *s = opaque;

    return acpi_pm_ticks_at(acpi_pm_now(s)) & PM_TMR_MASK;
}

static void acpi_pm_tmr_write(void *opaque, uint64_t offset, uint64_t value,
                              unsigned size)
{
    lemu_log_mask(LOG_GUEST_ERROR, "acpi-pm: write 0x%" G_GINT64_MODIFIER
                  "x to the read-only PM timer\n", value);
}

static const IoOps acpi_pm_tmr_ops = {
    .read = acpi_pm_tmr_read,
    .write = acpi_pm_tmr_write,
    .impl_min = 4,
    .impl_max = 4,
};

/* ---- 16-bit registers written by byte or word -------------------------- */

/*
 * The PM1 and GPE0 registers are 16 bits wide; guests may access them a
 * byte at a time. @offset, @size (1 or 2) and @value come from the
 * dispatcher; the result is the value and mask of the bytes written,
 * positioned within the 16-bit register.
 */
static uint16_t lane_mask(uint64_t offset, unsigned size)
{
    return (uint16_t)(((1u << (size * 8)) - 1) << ((offset & 1) * 8));
}

static uint16_t lane_value(uint64_t offset, uint64_t value)
{
    return (uint16_t)(value << ((offset & 1) * 8));
}

static uint64_t lane_read(uint16_t reg, uint64_t offset, unsigned size)
{
    return (reg >> ((offset & 1) * 8)) & ((1u << (size * 8)) - 1);
}

/* Write-1-to-clear of the written bytes. */
static void lane_clear(uint16_t *reg, uint64_t offset, unsigned size,
                       uint64_t value)
{
    *reg &= ~(lane_value(offset, value) & lane_mask(offset, size));
}

static void lane_write(uint16_t *reg, uint16_t wmask, uint64_t offset,
                       unsigned size, uint64_t value)
{
    uint16_t mask = lane_mask(offset, size) & wmask;

    *reg = (*reg & ~mask) | (lane_value(offset, value) & mask);
}

/* ---- PM1 event block --------------------------------------------------- */

static uint64_t acpi_pm_evt_read(void *opaque, uint64_t offset,
                                 unsigned size)
{
    AcpiPmState *s = opaque;

    if (offset < PM1_EN) {
        acpi_pm_update_tmr_sts(s);
        return lane_read(s->pm1_sts, offset, size);
    }
    return lane_read(s->pm1_en, offset, size);
}

static void acpi_pm_evt_write(void *opaque, uint64_t offset, uint64_t value,
                              unsigned size)
{
    AcpiPmState *s = opaque;

    if (offset < PM1_EN) {
        /* Bring TMR_STS up to date first, so a clear covers a change of
         * bit 23 that happened before the write. */
        acpi_pm_update_tmr_sts(s);
        lane_clear(&s->pm1_sts, offset, size, value);
    } else {
        lane_write(&s->pm1_en, PM1_EN_WMASK, offset, size, value);
        acpi_pm_update_tmr_sts(s);
        acpi_pm_arm_tmr_timer(s);
    }
    acpi_pm_update_sci(s);
}

static const IoOps acpi_pm_evt_ops = {
    .read = acpi_pm_evt_read,
    .write = acpi_pm_evt_write,
    .impl_min = 1,
    .impl_max = 2,
};

/* ---- PM1 control block ------------------------------------------------- */

static void acpi_pm_sleep(AcpiPmState *s, unsigned slp_typ)
{
    if (slp_typ == ACPI_SLP_TYP_S5) {
        machine_request_shutdown(DEVICE(s)->machine,
                                 SHUTDOWN_CAUSE_GUEST_SHUTDOWN);
        return;
    }
    lemu_log_mask(LOG_GUEST_ERROR, "acpi-pm: SLP_EN with SLP_TYP %u; only "
                  "%u (\\_S5, soft off) is supported, ignored\n", slp_typ,
                  ACPI_SLP_TYP_S5);
}

static uint64_t acpi_pm_cnt_read(void *opaque, uint64_t offset,
                                 unsigned size)
{
    AcpiPmState *s = opaque;

    return lane_read(s->pm1_cnt, offset, size);
}

static void acpi_pm_cnt_write(void *opaque, uint64_t offset, uint64_t value,
                              unsigned size)
{
    AcpiPmState *s = opaque;
    uint16_t written = lane_value(offset, value) & lane_mask(offset, size);

    lane_write(&s->pm1_cnt, PM1_CNT_WMASK, offset, size, value);
    if (written & ACPI_PM1_CNT_GBL_RLS) {
        lemu_log_mask(LOG_UNIMP, "acpi-pm: GBL_RLS written; there is no "
                      "firmware to release the global lock to\n");
    }
    if (written & ACPI_PM1_CNT_SLP_EN) {
        acpi_pm_sleep(s, (s->pm1_cnt & ACPI_PM1_CNT_SLP_TYP) >>
                         ACPI_PM1_CNT_SLP_TYP_SHIFT);
    }
}

static const IoOps acpi_pm_cnt_ops = {
    .read = acpi_pm_cnt_read,
    .write = acpi_pm_cnt_write,
    .impl_min = 1,
    .impl_max = 2,
};

/* ---- GPE0 block -------------------------------------------------------- */

static uint64_t acpi_pm_gpe_read(void *opaque, uint64_t offset,
                                 unsigned size)
{
    AcpiPmState *s = opaque;

    return lane_read(offset < GPE0_EN ? s->gpe0_sts : s->gpe0_en,
                     offset, size);
}

static void acpi_pm_gpe_write(void *opaque, uint64_t offset, uint64_t value,
                              unsigned size)
{
    AcpiPmState *s = opaque;

    if (offset < GPE0_EN) {
        lane_clear(&s->gpe0_sts, offset, size, value);
    } else {
        lane_write(&s->gpe0_en, 0xffff, offset, size, value);
    }
    acpi_pm_update_sci(s);
}

/* The ACPI specification has GPE registers accessed a byte at a time. */
static const IoOps acpi_pm_gpe_ops = {
    .read = acpi_pm_gpe_read,
    .write = acpi_pm_gpe_write,
    .impl_min = 1,
    .impl_max = 1,
};

/* ---- Device ------------------------------------------------------------ */

void acpi_pm_press_power_button(Device *dev)
{
    AcpiPmState *s = (AcpiPmState *)dev;

    s->pm1_sts |= ACPI_PM1_PWRBTN_STS;
    acpi_pm_update_sci(s);
}

Device *acpi_pm_find(Machine *m)
{
    for (guint i = 0; m->devices && i < m->devices->len; i++) {
        Device *dev = g_ptr_array_index(m->devices, i);
        if (dev->cls == &acpi_pm_class) {
            return dev;
        }
    }
    return NULL;
}

static void acpi_pm_reset(Device *dev)
{
    AcpiPmState *s = (AcpiPmState *)dev;

    s->pm1_sts = 0;
    s->pm1_en = 0;
    s->pm1_cnt = ACPI_PM1_CNT_SCI_EN;
    s->gpe0_sts = 0;
    s->gpe0_en = 0;
    s->tmr_epoch = acpi_pm_tmr_epoch_at(acpi_pm_now(s));
    timer_del(s->tmr_timer);
    acpi_pm_update_sci(s);
}

static void acpi_pm_unrealize(Device *dev)
{
    AcpiPmState *s = (AcpiPmState *)dev;
    IoPortMap *io = dev->machine->io;

    if (s->evt_registered) {
        ioport_unregister(io, ACPI_PM1A_EVT_BLK);
        s->evt_registered = false;
    }
    if (s->cnt_registered) {
        ioport_unregister(io, ACPI_PM1A_CNT_BLK);
        s->cnt_registered = false;
    }
    if (s->tmr_registered) {
        ioport_unregister(io, ACPI_PM_TMR_BLK);
        s->tmr_registered = false;
    }
    if (s->gpe_registered) {
        ioport_unregister(io, ACPI_GPE0_BLK);
        s->gpe_registered = false;
    }
    g_clear_pointer(&s->tmr_timer, timer_free);
}

static bool acpi_pm_realize(Device *dev, GError **errp)
{
    AcpiPmState *s = (AcpiPmState *)dev;
    Machine *m = dev->machine;

    if (!ioport_register(m->io, "acpi-pm1a-evt", ACPI_PM1A_EVT_BLK,
                         ACPI_PM1_EVT_LEN, &acpi_pm_evt_ops, s, errp)) {
        goto fail;
    }
    s->evt_registered = true;
    if (!ioport_register(m->io, "acpi-pm1a-cnt", ACPI_PM1A_CNT_BLK,
                         ACPI_PM1_CNT_LEN, &acpi_pm_cnt_ops, s, errp)) {
        goto fail;
    }
    s->cnt_registered = true;
    if (!ioport_register(m->io, "acpi-pm-tmr", ACPI_PM_TMR_BLK,
                         ACPI_PM_TMR_LEN, &acpi_pm_tmr_ops, s, errp)) {
        goto fail;
    }
    s->tmr_registered = true;
    if (!ioport_register(m->io, "acpi-gpe0", ACPI_GPE0_BLK,
                         ACPI_GPE0_BLK_LEN, &acpi_pm_gpe_ops, s, errp)) {
        goto fail;
    }
    s->gpe_registered = true;

    s->sci = machine_gsi_line(m, ACPI_SCI_IRQ);
    s->tmr_timer = timer_new(m->loop, CLOCK_VIRTUAL, acpi_pm_tmr_expired, s);
    acpi_pm_reset(dev);
    return true;

fail:
    acpi_pm_unrealize(dev);
    return false;
}

const DeviceClass acpi_pm_class = {
    .name = "acpi-pm",
    .desc = "ACPI fixed-feature PM registers (PIIX4 PM layout)",
    .instance_size = sizeof(AcpiPmState),
    .user_creatable = false,
    .vmstate = acpi_pm_vmstate,
    .realize = acpi_pm_realize,
    .reset = acpi_pm_reset,
    .unrealize = acpi_pm_unrealize,
};
