/*
 * Local APIC in xAPIC mode, written from the Intel SDM vol. 3A chapter 10
 * (Advanced Programmable Interrupt Controller).
 *
 * One instance per vCPU, reached by the CPU model through the functions
 * in apic.h rather than through the memory map. Interrupt messages go
 * through an ApicBus, a plain list of the APICs attached to it.
 *
 * The timer does not tick: it remembers when its count was loaded (on
 * CLOCK_VIRTUAL) and computes the current count from the time elapsed,
 * with one Timer armed for the next expiry. Periodic expiries are counted
 * from the load time, so they do not drift.
 *
 * Not modelled: x2APIC, SMI, the CMCI LVT, EOI-broadcast suppression,
 * and focus processor checking.
 */
#include <inttypes.h>
#include <string.h>
#include "lemu/hw/intc/apic.h"
#include "hw/device-classes.h"
#include "lemu/system/machine.h"
#include "lemu/util/log.h"
#include "lemu/util/main-loop.h"


/* Version 0x14 (integrated xAPIC), max LVT entry 5 (six LVTs). */
#define APIC_VERSION        0x00050014

/* LVT indices, in register order from APIC_LVT_TIMER. */
enum {
    LVT_TIMER,
    LVT_THERMAL,
    LVT_PERF,
    LVT_LINT0,
    LVT_LINT1,
    LVT_ERROR,
    LVT_NB,
};

/* LVT bits. */
#define LVT_VECTOR          0x000000ff
#define LVT_DM_SHIFT        8
#define LVT_DM_MASK         7
#define LVT_REMOTE_IRR      (1u << 14)
#define LVT_LEVEL_TRIGGER   (1u << 15)
#define LVT_MASKED          (1u << 16)
#define LVT_TIMER_MODE_SHIFT 17
#define LVT_TIMER_MODE_MASK 3

/* What a guest may write to each LVT. */
#define LVT_TIMER_WRITABLE  0x000700ffu
#define LVT_PLAIN_WRITABLE  0x000107ffu  /* vector, delivery mode, mask */
#define LVT_LINT_WRITABLE   0x0001a7ffu  /* + polarity, trigger mode */
#define LVT_ERROR_WRITABLE  0x000100ffu

/* LVT timer modes. */
#define TIMER_ONE_SHOT      0
#define TIMER_PERIODIC      1
#define TIMER_TSC_DEADLINE  2

/* Spurious interrupt vector register. */
#define SVR_VECTOR          0x000000ff
#define SVR_APIC_ENABLED    (1u << 8)
#define SVR_WRITABLE        0x000001ffu

/* Destination format register: the model is bits 28-31. */
#define DFR_MODEL_FLAT      0xf
#define DFR_MODEL_CLUSTER   0x0

/* Interrupt command register, low word. */
#define ICR_VECTOR          0x000000ff
#define ICR_DM_SHIFT        8
#define ICR_DM_MASK         7
#define ICR_DEST_LOGICAL    (1u << 11)
#define ICR_DELIV_STATUS    (1u << 12)
#define ICR_LEVEL_ASSERT    (1u << 14)
#define ICR_TRIGGER_LEVEL   (1u << 15)
#define ICR_SHORTHAND_SHIFT 18
#define ICR_SHORTHAND_MASK  3
#define ICR_LOW_WRITABLE    0x000ccfffu

/* Destination shorthands. */
#define SH_NONE             0
#define SH_SELF             1
#define SH_ALL_INCL_SELF    2
#define SH_ALL_EXCL_SELF    3

/* Error status register. */
#define ESR_SEND_ILLEGAL_VECTOR     (1u << 5)
#define ESR_RECV_ILLEGAL_VECTOR     (1u << 6)

#define APIC_BROADCAST      0xff
#define APIC_MAX_ID         0xfe

/*
 * Periodic timer expiries closer together than this are merged, so that
 * a guest programming a tiny period cannot flood the host.
 */
#define APIC_MIN_PERIOD_NS  10000

#define APIC_NO_EXPIRY      (-1)

struct ApicBus {
    GPtrArray *apics;       /* ApicState *, in attach order */
};

struct ApicState {
    Device parent;
    uint32_t id_prop;       /* "id": the APIC ID at power-on */

    uint64_t apicbase;      /* IA32_APIC_BASE */
    uint8_t id;
    uint8_t tpr;
    uint32_t ldr;
    uint32_t dfr;
    uint32_t svr;
    uint32_t isr[8];
    uint32_t tmr[8];
    uint32_t irr[8];
    uint32_t esr;           /* what ESR reads: latched by the last write */
    uint32_t esr_pending;   /* errors since the last ESR write */
    uint32_t icr_low;
    uint32_t icr_high;
    uint32_t lvt[LVT_NB];
    uint32_t initial_count;
    uint32_t divide_conf;
    int64_t timer_start;    /* CLOCK_VIRTUAL ns when the count was loaded */
    int64_t timer_next;     /* next expiry, or APIC_NO_EXPIRY */
    uint64_t tsc_deadline;  /* CLOCK_VIRTUAL ns, 0 when disarmed */
    bool lint_level[2];

    Timer *timer;
    ApicBus *bus;
    const ApicCpuOps *ops;
    void *cpu;
    void (*eoi_hook)(void *opaque, uint8_t vector);
    void *eoi_opaque;
};

static const VMStateField apic_vmstate[] = {
    VMSTATE(ApicState, apicbase, VMS_U64),
    VMSTATE(ApicState, id, VMS_U8),
    VMSTATE(ApicState, tpr, VMS_U8),
    VMSTATE(ApicState, ldr, VMS_U32),
    VMSTATE(ApicState, dfr, VMS_U32),
    VMSTATE(ApicState, svr, VMS_U32),
    VMSTATE_ARRAY(ApicState, isr, VMS_U32, 8),
    VMSTATE_ARRAY(ApicState, tmr, VMS_U32, 8),
    VMSTATE_ARRAY(ApicState, irr, VMS_U32, 8),
    VMSTATE(ApicState, esr, VMS_U32),
    VMSTATE(ApicState, esr_pending, VMS_U32),
    VMSTATE(ApicState, icr_low, VMS_U32),
    VMSTATE(ApicState, icr_high, VMS_U32),
    VMSTATE_ARRAY(ApicState, lvt, VMS_U32, LVT_NB),
    VMSTATE(ApicState, initial_count, VMS_U32),
    VMSTATE(ApicState, divide_conf, VMS_U32),
    VMSTATE(ApicState, timer_start, VMS_I64),
    VMSTATE(ApicState, timer_next, VMS_I64),
    VMSTATE(ApicState, tsc_deadline, VMS_U64),
    VMSTATE_ARRAY(ApicState, lint_level, VMS_BOOL, 2),
    VMSTATE_END
};

static const DeviceProperty apic_props[] = {
    DEFINE_PROP("id", PROP_U32, ApicState, id_prop, "0",
                "APIC ID (0-254)"),
    DEFINE_PROP_END
};

static void apic_deliver_lvt(ApicState *s, int lvt);

/* ---- helpers ---- */

static int64_t apic_now(ApicState *s)
{
    return clock_get_ns(s->parent.machine->loop, CLOCK_VIRTUAL);
}

static bool apic_hw_enabled(ApicState *s)
{
    return s->apicbase & MSR_IA32_APICBASE_ENABLE;
}

static bool apic_sw_enabled(ApicState *s)
{
    return s->svr & SVR_APIC_ENABLED;
}

static void apic_kick(ApicState *s)
{
    if (s->ops && s->ops->kick) {
        s->ops->kick(s->cpu);
    }
}

static bool vec_test(const uint32_t *reg, int vector)
{
    return reg[vector >> 5] & (1u << (vector & 31));
}

static void vec_set(uint32_t *reg, int vector)
{
    reg[vector >> 5] |= 1u << (vector & 31);
}

static void vec_clear(uint32_t *reg, int vector)
{
    reg[vector >> 5] &= ~(1u << (vector & 31));
}

/* The highest vector set in a 256-bit register, or -1. */
static int vec_highest(const uint32_t *reg)
{
    for (int i = 7; i >= 0; i--) {
        if (reg[i]) {
            return i * 32 + 31 - __builtin_clz(reg[i]);
        }
    }
    return -1;
}

static uint8_t apic_ppr(ApicState *s)
{
    int isrv = vec_highest(s->isr);

    if (isrv < 0 || (s->tpr >> 4) >= (isrv >> 4)) {
        return s->tpr;
    }
    return isrv & 0xf0;
}

static void apic_set_error(ApicState *s, uint32_t bit)
{
    bool first = !s->esr_pending;

    s->esr_pending |= bit;
    if (first) {
        apic_deliver_lvt(s, LVT_ERROR);
    }
}

/* A fixed interrupt arrives: accepted into IRR, with TMR saying its
 * trigger mode for the EOI. */
static void apic_accept_fixed(ApicState *s, uint8_t vector, bool level)
{
    if (!apic_sw_enabled(s)) {
        return;
    }
    if (vector < 16) {
        apic_set_error(s, ESR_RECV_ILLEGAL_VECTOR);
        return;
    }
    vec_set(s->irr, vector);
    if (level) {
        vec_set(s->tmr, vector);
    } else {
        vec_clear(s->tmr, vector);
    }
    apic_kick(s);
}

/* One APIC receives a message from the bus (or from itself). */
static void apic_accept(ApicState *s, const ApicMessage *msg)
{
    const ApicCpuOps *ops = s->ops;

    if (!apic_hw_enabled(s)) {
        return;
    }
    switch (msg->delivery_mode) {
    case APIC_DM_FIXED:
    case APIC_DM_LOWEST:
        apic_accept_fixed(s, msg->vector, msg->level_triggered);
        break;
    case APIC_DM_NMI:
        if (ops && ops->nmi) {
            ops->nmi(s->cpu);
        }
        break;
    case APIC_DM_INIT:
        if (ops && ops->init) {
            ops->init(s->cpu);
        }
        break;
    case APIC_DM_STARTUP:
        if (ops && ops->sipi) {
            ops->sipi(s->cpu, msg->vector);
        }
        break;
    case APIC_DM_EXTINT:
        if (ops && ops->extint) {
            ops->extint(s->cpu);
        }
        break;
    case APIC_DM_SMI:
        lemu_log_mask(LOG_UNIMP, "apic %u: SMI is not supported\n", s->id);
        break;
    default:
        lemu_log_mask(LOG_GUEST_ERROR, "apic %u: reserved delivery mode %u\n",
                      s->id, msg->delivery_mode);
        break;
    }
}

/* ---- local interrupts ---- */

/* Raises the interrupt an LVT entry describes, unless it is masked. */
static void apic_deliver_lvt(ApicState *s, int lvt)
{
    uint32_t v = s->lvt[lvt];
    ApicMessage msg = {
        .vector = v & LVT_VECTOR,
        .delivery_mode = (v >> LVT_DM_SHIFT) & LVT_DM_MASK,
        .level_triggered = false,
    };

    if (v & LVT_MASKED) {
        return;
    }
    switch (lvt) {
    case LVT_TIMER:
    case LVT_ERROR:
        /* These have no delivery mode field: always fixed. */
        msg.delivery_mode = APIC_DM_FIXED;
        break;
    case LVT_LINT0:
        msg.level_triggered = msg.delivery_mode == APIC_DM_FIXED &&
                              (v & LVT_LEVEL_TRIGGER);
        break;
    default:
        break;
    }
    if (msg.delivery_mode == APIC_DM_STARTUP ||
        msg.delivery_mode == APIC_DM_LOWEST) {
        lemu_log_mask(LOG_GUEST_ERROR, "apic %u: LVT %d has reserved "
                      "delivery mode %u\n", s->id, lvt, msg.delivery_mode);
        return;
    }
    apic_accept(s, &msg);
}

/*
 * A level-triggered fixed LINT0 is re-raised while its line stays high:
 * Remote IRR is set when the interrupt is accepted and cleared by its EOI.
 * ExtINT is level-sensitive too: the CPU is told while the line is high.
 */
static void apic_update_lint(ApicState *s, int lint)
{
    int lvt = LVT_LINT0 + lint;
    uint32_t v = s->lvt[lvt];
    int dm = (v >> LVT_DM_SHIFT) & LVT_DM_MASK;

    if (!s->lint_level[lint] || (v & LVT_MASKED)) {
        return;
    }
    if (dm == APIC_DM_EXTINT) {
        apic_deliver_lvt(s, lvt);
    } else if (lint == 0 && dm == APIC_DM_FIXED && (v & LVT_LEVEL_TRIGGER) &&
               !(v & LVT_REMOTE_IRR)) {
        s->lvt[lvt] |= LVT_REMOTE_IRR;
        apic_deliver_lvt(s, lvt);
    }
}

/* ---- timer ---- */

static unsigned apic_timer_mode(ApicState *s)
{
    return (s->lvt[LVT_TIMER] >> LVT_TIMER_MODE_SHIFT) & LVT_TIMER_MODE_MASK;
}

/* Divide configuration bits 0, 1 and 3: 0-6 divide by 2 << n, 7 by 1. */
static unsigned apic_timer_shift(ApicState *s)
{
    unsigned v = (s->divide_conf & 3) | ((s->divide_conf >> 1) & 4);

    return (v + 1) & 7;
}

static int64_t apic_timer_period_ns(ApicState *s)
{
    return (int64_t)s->initial_count << apic_timer_shift(s);
}

/* The expiry interval: periodic expiries are rate-limited. */
static int64_t apic_timer_interval_ns(ApicState *s)
{
    int64_t period = apic_timer_period_ns(s);

    if (apic_timer_mode(s) == TIMER_PERIODIC && period < APIC_MIN_PERIOD_NS) {
        return APIC_MIN_PERIOD_NS;
    }
    return period;
}

/* The first expiry after @now, counting from timer_start. */
static void apic_timer_compute_next(ApicState *s, int64_t now)
{
    int64_t interval = apic_timer_interval_ns(s);

    if (!s->initial_count || apic_timer_mode(s) == TIMER_TSC_DEADLINE) {
        s->timer_next = APIC_NO_EXPIRY;
    } else if (apic_timer_mode(s) == TIMER_PERIODIC) {
        s->timer_next = s->timer_start +
                        ((now - s->timer_start) / interval + 1) * interval;
    } else if (now < s->timer_start + interval) {
        s->timer_next = s->timer_start + interval;
    } else {
        s->timer_next = APIC_NO_EXPIRY;
    }
}

static void apic_timer_arm(ApicState *s)
{
    if (apic_timer_mode(s) == TIMER_TSC_DEADLINE) {
        if (s->tsc_deadline) {
            timer_mod_ns(s->timer, s->tsc_deadline > INT64_MAX ?
                         INT64_MAX : (int64_t)s->tsc_deadline);
        } else {
            timer_del(s->timer);
        }
    } else if (s->timer_next != APIC_NO_EXPIRY) {
        timer_mod_ns(s->timer, s->timer_next);
    } else {
        timer_del(s->timer);
    }
}

static void apic_timer_cb(void *opaque)
{
    ApicState *s = opaque;
    int64_t now = apic_now(s);

    if (apic_timer_mode(s) == TIMER_TSC_DEADLINE) {
        if (s->tsc_deadline && (uint64_t)now >= s->tsc_deadline) {
            s->tsc_deadline = 0;
            apic_deliver_lvt(s, LVT_TIMER);
        }
    } else if (s->timer_next != APIC_NO_EXPIRY && now >= s->timer_next) {
        /* Expiries missed while the loop was late are merged into one. */
        apic_deliver_lvt(s, LVT_TIMER);
        apic_timer_compute_next(s, now);
    }
    apic_timer_arm(s);
}

static uint32_t apic_timer_current_count(ApicState *s, int64_t now)
{
    uint64_t ticks;

    if (!s->initial_count || apic_timer_mode(s) == TIMER_TSC_DEADLINE ||
        now < s->timer_start) {
        return apic_timer_mode(s) == TIMER_TSC_DEADLINE ? 0 : s->initial_count;
    }
    ticks = (uint64_t)(now - s->timer_start) >> apic_timer_shift(s);
    if (apic_timer_mode(s) == TIMER_PERIODIC) {
        return s->initial_count - ticks % s->initial_count;
    }
    return ticks >= s->initial_count ? 0 : s->initial_count - ticks;
}

static void apic_write_initial_count(ApicState *s, uint32_t value)
{
    int64_t now = apic_now(s);

    if (apic_timer_mode(s) == TIMER_TSC_DEADLINE) {
        return;
    }
    s->initial_count = value;
    s->timer_start = now;
    if (apic_timer_mode(s) == TIMER_PERIODIC && value &&
        apic_timer_period_ns(s) < APIC_MIN_PERIOD_NS) {
        lemu_log_mask(LOG_UNIMP, "apic %u: timer period of %" PRId64 " ns is "
                      "below %d ns; expiries are rate-limited\n", s->id,
                      apic_timer_period_ns(s), APIC_MIN_PERIOD_NS);
    }
    apic_timer_compute_next(s, now);
    apic_timer_arm(s);
}

/* A new divider applies from now on: the ticks already counted stay. */
static void apic_write_divide_conf(ApicState *s, uint32_t value)
{
    int64_t now = apic_now(s);
    uint64_t ticks = 0;

    /* An expiry that is due is delivered under the old divider. */
    apic_timer_cb(s);
    if (s->initial_count && now > s->timer_start) {
        ticks = (uint64_t)(now - s->timer_start) >> apic_timer_shift(s);
        if (apic_timer_mode(s) == TIMER_PERIODIC) {
            ticks %= s->initial_count;
        } else if (ticks > s->initial_count) {
            ticks = s->initial_count;
        }
    }
    s->divide_conf = value & 0xb;
    if (s->initial_count) {
        s->timer_start = now - (int64_t)(ticks << apic_timer_shift(s));
        apic_timer_compute_next(s, now);
        apic_timer_arm(s);
    }
}

static void apic_write_lvt_timer(ApicState *s, uint32_t value)
{
    unsigned old_mode = apic_timer_mode(s);
    int64_t now = apic_now(s);

    s->lvt[LVT_TIMER] = value;
    if (apic_timer_mode(s) == 3) {
        lemu_log_mask(LOG_GUEST_ERROR, "apic %u: reserved timer mode 3, "
                      "counting as one-shot\n", s->id);
    }
    if (old_mode == apic_timer_mode(s)) {
        return;
    }
    /* Switching into or out of TSC-deadline mode disarms the timer;
     * between one-shot and periodic the count goes on. */
    if (old_mode == TIMER_TSC_DEADLINE ||
        apic_timer_mode(s) == TIMER_TSC_DEADLINE) {
        s->tsc_deadline = 0;
        s->initial_count = 0;
        s->timer_next = APIC_NO_EXPIRY;
    } else if (s->initial_count) {
        apic_timer_compute_next(s, now);
    }
    apic_timer_arm(s);
}

/* ---- EOI and IPIs ---- */

static void apic_eoi(ApicState *s)
{
    int vector = vec_highest(s->isr);

    if (vector < 0) {
        return;
    }
    vec_clear(s->isr, vector);
    if (vec_test(s->tmr, vector)) {
        uint32_t *lint0 = &s->lvt[LVT_LINT0];

        if ((*lint0 & LVT_REMOTE_IRR) && (int)(*lint0 & LVT_VECTOR) == vector) {
            *lint0 &= ~LVT_REMOTE_IRR;
            apic_update_lint(s, 0);
        }
        if (s->eoi_hook) {
            s->eoi_hook(s->eoi_opaque, vector);
        }
    }
    apic_kick(s);
}

static bool apic_match_dest(ApicState *s, const ApicMessage *msg)
{
    uint8_t dest = msg->dest & 0xff;
    uint8_t ldr = s->ldr >> 24;

    if (!msg->dest_logical) {
        return dest == APIC_BROADCAST || dest == s->id;
    }
    if (dest == APIC_BROADCAST) {
        return true;
    }
    if ((s->dfr >> 28) == DFR_MODEL_CLUSTER) {
        /* Cluster in bits 4-7, up to four APICs in bits 0-3. */
        return (dest >> 4) == (ldr >> 4) && (dest & ldr & 0xf);
    }
    return dest & ldr;
}

/* Lowest priority: the APIC with the lowest TPR among the addressed ones
 * that take fixed interrupts; the first on a tie. */
static ApicState *apic_bus_lowest(ApicBus *bus, const ApicMessage *msg,
                                  ApicState *exclude)
{
    ApicState *best = NULL;

    for (guint i = 0; i < bus->apics->len; i++) {
        ApicState *s = g_ptr_array_index(bus->apics, i);

        if (s == exclude || !apic_hw_enabled(s) || !apic_sw_enabled(s) ||
            !apic_match_dest(s, msg)) {
            continue;
        }
        if (!best || s->tpr < best->tpr) {
            best = s;
        }
    }
    return best;
}

/* Delivers @msg to the APICs it addresses, except @exclude (may be NULL). */
static void apic_bus_send(ApicBus *bus, const ApicMessage *msg,
                          ApicState *exclude)
{
    if (msg->delivery_mode == APIC_DM_LOWEST) {
        ApicState *s = apic_bus_lowest(bus, msg, exclude);

        if (s) {
            apic_accept(s, msg);
        }
        return;
    }
    for (guint i = 0; i < bus->apics->len; i++) {
        ApicState *s = g_ptr_array_index(bus->apics, i);

        if (s != exclude && apic_match_dest(s, msg)) {
            apic_accept(s, msg);
        }
    }
}

static void apic_send_ipi(ApicState *s)
{
    uint32_t icr = s->icr_low;
    unsigned shorthand = (icr >> ICR_SHORTHAND_SHIFT) & ICR_SHORTHAND_MASK;
    ApicMessage msg = {
        .vector = icr & ICR_VECTOR,
        .delivery_mode = (icr >> ICR_DM_SHIFT) & ICR_DM_MASK,
        .dest_logical = icr & ICR_DEST_LOGICAL,
        .dest = s->icr_high >> 24,
        .level_triggered = icr & ICR_TRIGGER_LEVEL,
    };

    switch (msg.delivery_mode) {
    case APIC_DM_FIXED:
    case APIC_DM_LOWEST:
        if (msg.vector < 16) {
            apic_set_error(s, ESR_SEND_ILLEGAL_VECTOR);
            return;
        }
        break;
    case APIC_DM_INIT:
        /* INIT level de-assert only synchronises arbitration IDs. */
        if ((icr & ICR_TRIGGER_LEVEL) && !(icr & ICR_LEVEL_ASSERT)) {
            return;
        }
        break;
    case APIC_DM_EXTINT:
    case 3:
        lemu_log_mask(LOG_GUEST_ERROR, "apic %u: ICR delivery mode %u is "
                      "reserved\n", s->id, msg.delivery_mode);
        return;
    default:
        break;
    }
    /* IPIs sent through the ICR are edge-triggered, except as written. */
    switch (shorthand) {
    case SH_SELF:
        apic_accept(s, &msg);
        return;
    case SH_ALL_INCL_SELF:
    case SH_ALL_EXCL_SELF:
        msg.dest_logical = false;
        msg.dest = APIC_BROADCAST;
        break;
    default:
        break;
    }
    if (s->bus) {
        apic_bus_send(s->bus, &msg, shorthand == SH_ALL_EXCL_SELF ? s : NULL);
    } else if (shorthand != SH_ALL_EXCL_SELF && apic_match_dest(s, &msg)) {
        apic_accept(s, &msg);
    }
}

/* ---- registers ---- */

static void apic_write_svr(ApicState *s, uint32_t value)
{
    s->svr = value & SVR_WRITABLE;
    if (!apic_sw_enabled(s)) {
        for (int i = 0; i < LVT_NB; i++) {
            s->lvt[i] |= LVT_MASKED;
        }
    }
    apic_kick(s);
}

static void apic_write_lvt(ApicState *s, int lvt, uint32_t value)
{
    static const uint32_t writable[LVT_NB] = {
        [LVT_TIMER] = LVT_TIMER_WRITABLE,
        [LVT_THERMAL] = LVT_PLAIN_WRITABLE,
        [LVT_PERF] = LVT_PLAIN_WRITABLE,
        [LVT_LINT0] = LVT_LINT_WRITABLE,
        [LVT_LINT1] = LVT_LINT_WRITABLE,
        [LVT_ERROR] = LVT_ERROR_WRITABLE,
    };

    value &= writable[lvt];
    if (!apic_sw_enabled(s)) {
        value |= LVT_MASKED;
    }
    if (lvt == LVT_TIMER) {
        apic_write_lvt_timer(s, value);
        return;
    }
    value |= s->lvt[lvt] & LVT_REMOTE_IRR;
    s->lvt[lvt] = value;
    if (lvt == LVT_LINT0 || lvt == LVT_LINT1) {
        apic_update_lint(s, lvt - LVT_LINT0);
    }
}

uint32_t apic_mmio_read(ApicState *s, uint64_t offset, unsigned size)
{
    unsigned reg;

    if (size != 4 || (offset & 0xf) || offset >= APIC_MMIO_SIZE) {
        lemu_log_mask(LOG_GUEST_ERROR, "apic %u: bad read of %u bytes at "
                      "offset 0x%" PRIx64 "\n", s->id, size, offset);
        return 0;
    }
    reg = offset;
    switch (reg) {
    case APIC_ID:
        return (uint32_t)s->id << 24;
    case APIC_LVR:
        return APIC_VERSION;
    case APIC_TPR:
        return s->tpr;
    case APIC_APR:
        return 0;
    case APIC_PPR:
        return apic_ppr(s);
    case APIC_EOI:
        return 0;
    case APIC_LDR:
        return s->ldr;
    case APIC_DFR:
        return s->dfr;
    case APIC_SVR:
        return s->svr;
    case APIC_ISR ... APIC_ISR + 0x70:
        return s->isr[(reg - APIC_ISR) >> 4];
    case APIC_TMR ... APIC_TMR + 0x70:
        return s->tmr[(reg - APIC_TMR) >> 4];
    case APIC_IRR ... APIC_IRR + 0x70:
        return s->irr[(reg - APIC_IRR) >> 4];
    case APIC_ESR:
        return s->esr;
    case APIC_ICR_LOW:
        return s->icr_low;  /* delivery status is always idle */
    case APIC_ICR_HIGH:
        return s->icr_high;
    case APIC_LVT_TIMER ... APIC_LVT_ERROR:
        return s->lvt[(reg - APIC_LVT_TIMER) >> 4];
    case APIC_TMICT:
        return s->initial_count;
    case APIC_TMCCT:
        return apic_timer_current_count(s, apic_now(s));
    case APIC_TDCR:
        return s->divide_conf;
    default:
        lemu_log_mask(LOG_GUEST_ERROR, "apic %u: read of reserved register "
                      "0x%03x\n", s->id, reg);
        return 0;
    }
}

void apic_mmio_write(ApicState *s, uint64_t offset, uint32_t value,
                     unsigned size)
{
    unsigned reg;

    if (size != 4 || (offset & 0xf) || offset >= APIC_MMIO_SIZE) {
        lemu_log_mask(LOG_GUEST_ERROR, "apic %u: bad write of %u bytes at "
                      "offset 0x%" PRIx64 "\n", s->id, size, offset);
        return;
    }
    reg = offset;
    switch (reg) {
    case APIC_ID:
        s->id = value >> 24;
        break;
    case APIC_TPR:
        apic_set_tpr(s, value & 0xff);
        break;
    case APIC_EOI:
        apic_eoi(s);
        break;
    case APIC_LDR:
        s->ldr = value & 0xff000000;
        break;
    case APIC_DFR:
        s->dfr = value | 0x0fffffff;
        break;
    case APIC_SVR:
        apic_write_svr(s, value);
        break;
    case APIC_ESR:
        /* A write latches the errors seen since the previous one. */
        s->esr = s->esr_pending;
        s->esr_pending = 0;
        break;
    case APIC_ICR_LOW:
        s->icr_low = value & ICR_LOW_WRITABLE & ~ICR_DELIV_STATUS;
        apic_send_ipi(s);
        break;
    case APIC_ICR_HIGH:
        s->icr_high = value & 0xff000000;
        break;
    case APIC_LVT_TIMER ... APIC_LVT_ERROR:
        if (reg & 0xf) {
            break;
        }
        apic_write_lvt(s, (reg - APIC_LVT_TIMER) >> 4, value);
        break;
    case APIC_TMICT:
        apic_write_initial_count(s, value);
        break;
    case APIC_TDCR:
        apic_write_divide_conf(s, value);
        break;
    case APIC_LVR:
    case APIC_APR:
    case APIC_PPR:
    case APIC_ISR ... APIC_IRR + 0x70:
    case APIC_TMCCT:
        lemu_log_mask(LOG_GUEST_ERROR, "apic %u: write 0x%08x to read-only "
                      "register 0x%03x\n", s->id, value, reg);
        break;
    default:
        lemu_log_mask(LOG_GUEST_ERROR, "apic %u: write 0x%08x to reserved "
                      "register 0x%03x\n", s->id, value, reg);
        break;
    }
}

/* ---- CPU interface ---- */

bool apic_has_interrupt(ApicState *s)
{
    int vector;

    if (!apic_hw_enabled(s) || !apic_sw_enabled(s)) {
        return false;
    }
    vector = vec_highest(s->irr);
    return vector >= 0 && (vector & 0xf0) > (apic_ppr(s) & 0xf0);
}

int apic_acknowledge(ApicState *s)
{
    int vector;

    if (!apic_has_interrupt(s)) {
        return s->svr & SVR_VECTOR;
    }
    vector = vec_highest(s->irr);
    vec_clear(s->irr, vector);
    vec_set(s->isr, vector);
    return vector;
}

void apic_set_tpr(ApicState *s, uint8_t tpr)
{
    if (s->tpr != tpr) {
        s->tpr = tpr;
        apic_kick(s);
    }
}

uint8_t apic_get_tpr(ApicState *s)
{
    return s->tpr;
}

uint64_t apic_get_base(ApicState *s)
{
    return s->apicbase;
}

/* Registers at power-on or INIT; the ID and IA32_APIC_BASE stay. */
static void apic_reset_registers(ApicState *s)
{
    s->tpr = 0;
    s->ldr = 0;
    s->dfr = 0xffffffff;
    s->svr = 0xff;
    memset(s->isr, 0, sizeof(s->isr));
    memset(s->tmr, 0, sizeof(s->tmr));
    memset(s->irr, 0, sizeof(s->irr));
    s->esr = 0;
    s->esr_pending = 0;
    s->icr_low = 0;
    s->icr_high = 0;
    for (int i = 0; i < LVT_NB; i++) {
        s->lvt[i] = LVT_MASKED;
    }
    s->initial_count = 0;
    s->divide_conf = 0;
    s->timer_start = 0;
    s->timer_next = APIC_NO_EXPIRY;
    s->tsc_deadline = 0;
    if (s->timer) {
        timer_del(s->timer);
    }
}

void apic_set_base(ApicState *s, uint64_t msr)
{
    bool was_enabled = apic_hw_enabled(s);

    s->apicbase = (msr & (MSR_IA32_APICBASE_BASE |
                          MSR_IA32_APICBASE_ENABLE)) |
                  (s->apicbase & MSR_IA32_APICBASE_BSP);
    if (was_enabled && !apic_hw_enabled(s)) {
        /* A disabled APIC comes back in its power-on state. */
        apic_reset_registers(s);
        apic_kick(s);
    }
}

void apic_set_tsc_deadline(ApicState *s, uint64_t ns_deadline)
{
    if (apic_timer_mode(s) != TIMER_TSC_DEADLINE) {
        return;
    }
    s->tsc_deadline = ns_deadline;
    if (ns_deadline && ns_deadline <= INT64_MAX &&
        (int64_t)ns_deadline <= apic_now(s)) {
        s->tsc_deadline = 0;
        apic_deliver_lvt(s, LVT_TIMER);
    }
    apic_timer_arm(s);
}

uint64_t apic_get_tsc_deadline(ApicState *s)
{
    return s->tsc_deadline;
}

void apic_set_lint(ApicState *s, int lint, int level)
{
    uint32_t v;
    bool rising;

    if (lint < 0 || lint > 1) {
        return;
    }
    rising = level && !s->lint_level[lint];
    s->lint_level[lint] = level;
    v = s->lvt[LVT_LINT0 + lint];
    if (!apic_hw_enabled(s) || (v & LVT_MASKED)) {
        return;
    }
    if (((v >> LVT_DM_SHIFT) & LVT_DM_MASK) == APIC_DM_EXTINT ||
        (lint == 0 && (v & LVT_LEVEL_TRIGGER) &&
         ((v >> LVT_DM_SHIFT) & LVT_DM_MASK) == APIC_DM_FIXED)) {
        apic_update_lint(s, lint);
    } else if (rising) {
        apic_deliver_lvt(s, LVT_LINT0 + lint);
    }
}

void apic_reset_cpu(ApicState *s)
{
    apic_reset_registers(s);
    apic_kick(s);
}

void apic_connect_cpu(ApicState *s, const ApicCpuOps *ops, void *cpu)
{
    s->ops = ops;
    s->cpu = cpu;
}

void apic_set_eoi_hook(ApicState *s, void (*fn)(void *opaque, uint8_t vector),
                       void *opaque)
{
    s->eoi_hook = fn;
    s->eoi_opaque = opaque;
}

ApicState *apic_from_device(Device *dev)
{
    if (!dev || dev->cls != &apic_class) {
        return NULL;
    }
    return (ApicState *)dev;
}

/* ---- bus ---- */

ApicBus *apic_bus_new(void)
{
    ApicBus *bus = g_new0(ApicBus, 1);

    bus->apics = g_ptr_array_new();
    return bus;
}

void apic_bus_free(ApicBus *bus)
{
    if (!bus) {
        return;
    }
    for (guint i = 0; i < bus->apics->len; i++) {
        ApicState *s = g_ptr_array_index(bus->apics, i);

        s->bus = NULL;
    }
    g_ptr_array_free(bus->apics, TRUE);
    g_free(bus);
}

void apic_bus_attach(ApicBus *bus, ApicState *s)
{
    if (s->bus) {
        g_ptr_array_remove(s->bus->apics, s);
    }
    s->bus = bus;
    g_ptr_array_add(bus->apics, s);
}

void apic_bus_deliver(void *opaque, const ApicMessage *msg)
{
    apic_bus_send(opaque, msg, NULL);
}

/* ---- device ---- */

/* Power-on: the APIC enabled at the default base, the BSP being APIC 0. */
static void apic_reset(Device *dev)
{
    ApicState *s = (ApicState *)dev;

    s->id = s->id_prop;
    s->apicbase = APIC_DEFAULT_ADDRESS | MSR_IA32_APICBASE_ENABLE |
                  (s->id == 0 ? MSR_IA32_APICBASE_BSP : 0);
    s->lint_level[0] = false;
    s->lint_level[1] = false;
    apic_reset_registers(s);
}

static bool apic_realize(Device *dev, GError **errp)
{
    ApicState *s = (ApicState *)dev;

    if (s->id_prop > APIC_MAX_ID) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "apic: id %u is out of range: expected 0-%d (0xff is "
                    "the broadcast address)", s->id_prop, APIC_MAX_ID);
        return false;
    }
    s->timer = timer_new(dev->machine->loop, CLOCK_VIRTUAL, apic_timer_cb, s);
    apic_reset(dev);
    return true;
}

static void apic_unrealize(Device *dev)
{
    ApicState *s = (ApicState *)dev;

    if (s->bus) {
        g_ptr_array_remove(s->bus->apics, s);
        s->bus = NULL;
    }
    timer_free(s->timer);
    s->timer = NULL;
}

const DeviceClass apic_class = {
    .name = "apic",
    .desc = "local APIC (xAPIC) of one vCPU",
    .instance_size = sizeof(ApicState),
    .user_creatable = false,
    .props = apic_props,
    .vmstate = apic_vmstate,
    .realize = apic_realize,
    .reset = apic_reset,
    .unrealize = apic_unrealize,
};
