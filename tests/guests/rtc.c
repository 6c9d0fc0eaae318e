/*
 * rtc: the MC146818 real-time clock and CMOS. Reads the date and time
 * (after update-in-progress clears), checks the BCD fields and registers
 * B and D, that the seconds advance over 1.2 s of PIT ticks, and the
 * memory-size bytes against the multiboot memory size. The date line is
 * compared with the host's UTC time by the runner. Built for long mode,
 * like pit-hlt, for its timer interrupts.
 */
#include "guest.h"

#define CMOS_INDEX 0x70
#define CMOS_DATA  0x71

#define RTC_SECONDS  0x00
#define RTC_MINUTES  0x02
#define RTC_HOURS    0x04
#define RTC_DAY      0x07
#define RTC_MONTH    0x08
#define RTC_YEAR     0x09
#define RTC_REG_A    0x0a
#define RTC_REG_B    0x0b
#define RTC_REG_D    0x0d
#define CMOS_EXT_MEM_LO   0x30   /* KiB above 1 MiB, capped at 65535 */
#define CMOS_EXT_MEM_HI   0x31
#define CMOS_HIGH_MEM_LO  0x34   /* 64 KiB units above 16 MiB */
#define CMOS_HIGH_MEM_HI  0x35
#define CMOS_CENTURY 0x32

#define REG_A_UIP   0x80
#define REG_B_24H   0x02
#define REG_B_DM    0x04         /* binary, not BCD */
#define REG_D_VRT   0x80

#define TIMER_IRQ 0

struct rtc_time {
    unsigned year, month, day, hour, min, sec;
};

static volatile unsigned ticks;

static uint8_t cmos_read(uint8_t reg)
{
    outb(CMOS_INDEX, reg);
    return inb(CMOS_DATA);
}

static bool bcd_ok(uint8_t v)
{
    return (v & 0x0f) <= 9 && (v >> 4) <= 9;
}

static unsigned bcd(uint8_t v)
{
    return (v >> 4) * 10 + (v & 0x0f);
}

static void read_raw(uint8_t raw[7])
{
    static const uint8_t regs[7] = { RTC_SECONDS, RTC_MINUTES, RTC_HOURS,
                                     RTC_DAY, RTC_MONTH, RTC_YEAR,
                                     CMOS_CENTURY };
    for (unsigned i = 0; i < 7; i++) {
        raw[i] = cmos_read(regs[i]);
    }
}

/* Reads a consistent time: after UIP clears, twice until both agree. */
static void rtc_read(struct rtc_time *t)
{
    uint8_t a[7], b[7];

    for (unsigned tries = 0;; tries++) {
        CHECK(tries < 1000, "the RTC never settled");
        while (cmos_read(RTC_REG_A) & REG_A_UIP) {
            cpu_relax();
        }
        read_raw(a);
        read_raw(b);
        if (!memcmp(a, b, sizeof(a))) {
            break;
        }
    }
    for (unsigned i = 0; i < 6; i++) {
        CHECK(bcd_ok(a[i]), "RTC register %u holds 0x%02x: not BCD", i, a[i]);
    }
    unsigned century = bcd_ok(a[6]) && bcd(a[6]) >= 19 && bcd(a[6]) <= 21
                       ? bcd(a[6]) : 20;
    t->sec = bcd(a[0]);
    t->min = bcd(a[1]);
    t->hour = bcd(a[2]);
    t->day = bcd(a[3]);
    t->month = bcd(a[4]);
    t->year = century * 100 + bcd(a[5]);
    CHECK(t->sec < 60 && t->min < 60 && t->hour < 24 && t->day >= 1 &&
          t->day <= 31 && t->month >= 1 && t->month <= 12,
          "RTC time out of range: %u-%u-%u %u:%u:%u", t->year, t->month,
          t->day, t->hour, t->min, t->sec);
}

static void timer_interrupt(struct int_frame *f)
{
    (void)f;
    ticks++;
    pic_eoi(TIMER_IRQ);
}

static void sleep_ticks(unsigned n)
{
    ticks = 0;
    pic_unmask(TIMER_IRQ);
    while (ticks < n) {
        sti_hlt();
    }
    pic_mask(TIMER_IRQ);
}

int guest_main(struct multiboot_info *mbi)
{
    struct rtc_time t0, t1;

    uint8_t b = cmos_read(RTC_REG_B), d = cmos_read(RTC_REG_D);
    CHECK((b & (REG_B_24H | REG_B_DM)) == REG_B_24H,
          "register B 0x%02x: expected 24-hour BCD mode", b);
    printf("RTC register B: 24-hour mode, BCD\n");
    CHECK(d & REG_D_VRT, "register D 0x%02x: VRT clear", d);
    printf("RTC register D: valid RAM and time\n");

    rtc_read(&t0);
    printf("RTC: %04u-%02u-%02u %02u:%02u\n", t0.year, t0.month, t0.day,
           t0.hour, t0.min);

    pic_init();
    idt_set_handler(PIC_IRQ_BASE + TIMER_IRQ, timer_interrupt);
    pit_start_periodic(100);
    sleep_ticks(120);
    rtc_read(&t1);
    unsigned s0 = t0.hour * 3600 + t0.min * 60 + t0.sec;
    unsigned s1 = t1.hour * 3600 + t1.min * 60 + t1.sec;
    unsigned delta = (s1 + 86400 - s0) % 86400;
    CHECK(delta >= 1 && delta <= 5, "the RTC moved %u s in 1.2 s of PIT "
          "ticks", delta);
    printf("RTC seconds advanced over 1.2 s of PIT ticks ok\n");

    unsigned ext = cmos_read(CMOS_EXT_MEM_LO) | cmos_read(CMOS_EXT_MEM_HI) << 8;
    unsigned high = cmos_read(CMOS_HIGH_MEM_LO) |
                    cmos_read(CMOS_HIGH_MEM_HI) << 8;
    unsigned cmos_kib = high ? 16384 + high * 64 : 1024 + ext;
    CHECK(mbi->flags & MB_INFO_MEMORY, "no multiboot memory size");
    unsigned mb_kib = 1024 + mbi->mem_upper;
    /* Firmware may keep some memory for itself: allow 1 MiB. */
    CHECK(cmos_kib >= mb_kib && cmos_kib - mb_kib <= 1024,
          "CMOS says %u KiB (0x30: %u, 0x34: %u), multiboot %u KiB",
          cmos_kib, ext, high, mb_kib);
    CHECK(ext == (cmos_kib - 1024 > 65535 ? 65535 : cmos_kib - 1024),
          "CMOS 0x30/0x31 holds %u", ext);
    printf("CMOS memory size: %u MiB, agrees with multiboot\n",
           cmos_kib / 1024);
    return 0;
}
