/*
 * ACPI of the pc machine as a guest finds it: the tables in guest memory
 * (found by scanning for the RSDP, checked for signatures, lengths and
 * checksums, then read field by field, the DSDT's \_S5 decoded from AML),
 * and the acpi-pm registers through their ports: soft-off, SCI_EN, the PM
 * timer and TMR_STS, the power button and its SCI.
 */
#include <string.h>
#include <glib.h>
#include "fixture.h"
#include "lemu/hw/i386/acpi.h"
#include "lemu/hw/qdev.h"
#include "lemu/util/log.h"

#define LOW_RAM_END      0xa0000ULL
#define BIOS_AREA_START  0xc0000ULL
#define BIOS_AREA_END    0x100000ULL
#define HEADER_SIZE      36

#define PM1_STS          ACPI_PM1A_EVT_BLK
#define PM1_EN           (ACPI_PM1A_EVT_BLK + 2)
#define PM1_CNT          ACPI_PM1A_CNT_BLK
#define PM_TMR           ACPI_PM_TMR_BLK
#define GPE0_STS         ACPI_GPE0_BLK
#define GPE0_EN          (ACPI_GPE0_BLK + 2)

/* ---- A guest's view of memory ------------------------------------------ */

typedef struct AcpiMachine {
    Machine *m;
    uint8_t *host;      /* backs 0 .. 1 MiB */
} AcpiMachine;

static void acpi_machine_init(AcpiMachine *am, unsigned smp, bool com1)
{
    GError *err = NULL;

    am->m = fixture_machine_new();
    am->m->cfg.smp = smp;
    am->m->below_4g_size = 256ULL << 20;
    am->host = g_malloc0(BIOS_AREA_END);
    g_assert_nonnull(memory_map_add_ram(am->m->mem, "ram", 0, LOW_RAM_END,
                                        am->host, &err));
    g_assert_nonnull(memory_map_add_rom(am->m->mem, "bios", BIOS_AREA_START,
                                        BIOS_AREA_END - BIOS_AREA_START,
                                        am->host + BIOS_AREA_START, &err));
    /* Only whether a COM1 backend exists matters to the DSDT. */
    am->m->serial_chr[0] = com1 ? (Chardev *)am : NULL;
    g_assert_true(acpi_build_tables(am->m, &err));
    g_assert_no_error(err);
    am->m->serial_chr[0] = NULL;

    /* What machine_reset does: copy the ROM blobs into guest memory. */
    for (guint i = 0; i < am->m->rom_blobs->len; i++) {
        RomBlob *b = g_ptr_array_index(am->m->rom_blobs, i);
        gsize len;
        const void *data = g_bytes_get_data(b->data, &len);

        g_assert_true(memory_map_load(am->m->mem, b->addr, data, len, &err));
    }
}

static void acpi_machine_clear(AcpiMachine *am)
{
    fixture_machine_free(am->m);
    g_free(am->host);
}

static void guest_read(AcpiMachine *am, uint64_t gpa, void *buf, size_t len)
{
    g_assert_cmpuint(gpa + len, <=, BIOS_AREA_END);
    g_assert_true(memory_map_read(am->m->mem, gpa, buf, len));
}

static uint8_t sum_bytes(const uint8_t *p, size_t len)
{
    uint8_t s = 0;

    for (size_t i = 0; i < len; i++) {
        s += p[i];
    }
    return s;
}

static uint16_t le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
    return le16(p) | (uint32_t)le16(p + 2) << 16;
}

static uint64_t le64(const uint8_t *p)
{
    return le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* Finds the RSDP as a guest does: "RSD PTR " on a 16-byte boundary in
 * 0xe0000-0xfffff with a good checksum over the first 20 bytes. */
static uint64_t find_rsdp(AcpiMachine *am, uint8_t rsdp[36])
{
    for (uint64_t a = 0xe0000; a + 36 <= BIOS_AREA_END; a += 16) {
        guest_read(am, a, rsdp, 36);
        if (!memcmp(rsdp, "RSD PTR ", 8) && sum_bytes(rsdp, 20) == 0) {
            return a;
        }
    }
    return 0;
}

/* Reads a whole table at @gpa after checking its signature, length
 * bounds and checksum. Free with g_free. */
static uint8_t *read_table(AcpiMachine *am, uint64_t gpa, const char *sig,
                           uint32_t *len_out)
{
    uint8_t hdr[HEADER_SIZE];
    uint8_t *t;
    uint32_t len;

    g_assert_cmpuint(gpa, >=, BIOS_AREA_START);
    guest_read(am, gpa, hdr, sizeof(hdr));
    g_assert_cmpmem(hdr, 4, sig, 4);
    len = le32(hdr + 4);
    g_assert_cmpuint(len, >=, HEADER_SIZE);
    g_assert_cmpuint(gpa + len, <=, BIOS_AREA_END);
    t = g_malloc(len);
    guest_read(am, gpa, t, len);
    g_assert_cmpuint(sum_bytes(t, len), ==, 0);
    g_assert_cmpmem(t + 10, 6, "LEMU  ", 6);
    *len_out = len;
    return t;
}

/* ---- A tiny AML reader ------------------------------------------------- */

/* PkgLength at @p: returns the encoded length, *n = bytes it took. */
static size_t aml_read_pkg_length(const uint8_t *p, size_t *n)
{
    unsigned extra = p[0] >> 6;
    size_t len;

    if (extra == 0) {
        *n = 1;
        return p[0] & 0x3f;
    }
    len = p[0] & 0x0f;
    for (unsigned i = 0; i < extra; i++) {
        len |= (size_t)p[1 + i] << (4 + 8 * i);
    }
    *n = 1 + extra;
    return len;
}

/* One integer data object at @p; *n = bytes it took. */
static uint64_t aml_read_integer(const uint8_t *p, size_t *n)
{
    switch (p[0]) {
    case 0x00:
        *n = 1;
        return 0;
    case 0x01:
        *n = 1;
        return 1;
    case 0x0a:
        *n = 2;
        return p[1];
    case 0x0b:
        *n = 3;
        return le16(p + 1);
    case 0x0c:
        *n = 5;
        return le32(p + 1);
    case 0x0e:
        *n = 9;
        return le64(p + 1);
    }
    g_assert_not_reached();
}

/*
 * Walks the DSDT's top-level terms: Scope(\_SB) {...} (skipped by its
 * PkgLength, which checks the encoding), then Name(\_S5, Package(){...}).
 * Returns the package's elements.
 */
static void dsdt_read_s5(const uint8_t *dsdt, uint32_t len, uint64_t *elems,
                         unsigned *count)
{
    const uint8_t *p = dsdt + HEADER_SIZE, *end = dsdt + len, *pkg_end;
    size_t n, pkg_len;

    g_assert_cmpuint(p[0], ==, 0x10);                   /* ScopeOp */
    pkg_len = aml_read_pkg_length(p + 1, &n);
    g_assert_cmpmem(p + 1 + n, 5, "\\_SB_", 5);
    p += 1 + pkg_len;
    g_assert_true(p < end);

    g_assert_cmpuint(p[0], ==, 0x08);                   /* NameOp */
    p++;
    if (p[0] == '\\') {
        p++;
    }
    g_assert_cmpmem(p, 4, "_S5_", 4);
    p += 4;
    g_assert_cmpuint(p[0], ==, 0x12);                   /* PackageOp */
    pkg_len = aml_read_pkg_length(p + 1, &n);
    pkg_end = p + 1 + pkg_len;
    g_assert_true(pkg_end == end);                      /* the last term */
    p += 1 + n;
    *count = *p++;
    for (unsigned i = 0; i < *count; i++) {
        g_assert_true(p < pkg_end);
        elems[i] = aml_read_integer(p, &n);
        p += n;
    }
    g_assert_true(p == pkg_end);
}

/* Whether the AML holds a Device with _HID EisaId @eisa (DWord form). */
static bool dsdt_has_eisaid(const uint8_t *dsdt, uint32_t len,
                            const uint8_t eisa[4])
{
    static const uint8_t hid[] = { 0x08, '_', 'H', 'I', 'D', 0x0c };

    for (uint32_t i = HEADER_SIZE; i + sizeof(hid) + 4 <= len; i++) {
        if (!memcmp(dsdt + i, hid, sizeof(hid)) &&
            !memcmp(dsdt + i + sizeof(hid), eisa, 4)) {
            return true;
        }
    }
    return false;
}

/* ---- Tables ------------------------------------------------------------ */

static void check_tables(unsigned smp, bool com1)
{
    static const uint8_t pnp0a03[4] = { 0x41, 0xd0, 0x0a, 0x03 };
    static const uint8_t pnp0501[4] = { 0x41, 0xd0, 0x05, 0x01 };
    AcpiMachine am;
    uint8_t rsdp[36], facs[64];
    uint8_t *rsdt, *xsdt, *fadt = NULL, *madt = NULL, *dsdt;
    uint32_t rsdt_len, xsdt_len, fadt_len = 0, madt_len = 0, dsdt_len;
    uint64_t rsdp_addr, fadt_addr = 0, madt_addr = 0, s5[8];
    unsigned lapics = 0, ioapics = 0, overrides = 0, nmis = 0, s5_count;
    bool irq0_to_gsi2 = false, sci_level_high = false;

    acpi_machine_init(&am, smp, com1);

    /* RSDP: ACPI 2.0, both checksums, RSDT and XSDT. */
    rsdp_addr = find_rsdp(&am, rsdp);
    g_assert_cmpuint(rsdp_addr, !=, 0);
    g_assert_cmpuint(rsdp_addr % 16, ==, 0);
    g_assert_cmpmem(rsdp + 9, 6, "LEMU  ", 6);
    g_assert_cmpuint(rsdp[15], ==, 2);
    g_assert_cmpuint(le32(rsdp + 20), ==, 36);
    g_assert_cmpuint(sum_bytes(rsdp, 36), ==, 0);

    /* RSDT (32-bit entries) and XSDT (64-bit) list the same tables. */
    rsdt = read_table(&am, le32(rsdp + 16), "RSDT", &rsdt_len);
    xsdt = read_table(&am, le64(rsdp + 24), "XSDT", &xsdt_len);
    g_assert_cmpuint((rsdt_len - HEADER_SIZE) % 4, ==, 0);
    g_assert_cmpuint((xsdt_len - HEADER_SIZE) % 8, ==, 0);
    g_assert_cmpuint((rsdt_len - HEADER_SIZE) / 4, ==,
                     (xsdt_len - HEADER_SIZE) / 8);
    for (uint32_t i = 0; i < (xsdt_len - HEADER_SIZE) / 8; i++) {
        uint64_t a = le64(xsdt + HEADER_SIZE + 8 * i);
        char sig[4];

        g_assert_cmpuint(a, ==, le32(rsdt + HEADER_SIZE + 4 * i));
        guest_read(&am, a, sig, 4);
        if (!memcmp(sig, "FACP", 4)) {
            fadt_addr = a;
        } else if (!memcmp(sig, "APIC", 4)) {
            madt_addr = a;
        }
    }
    g_assert_cmpuint(fadt_addr, !=, 0);
    g_assert_cmpuint(madt_addr, !=, 0);

    /* FADT revision 3, 244 bytes: the PM blocks of acpi-pm, 32-bit
     * fields and their 64-bit GAS twins agreeing. */
    fadt = read_table(&am, fadt_addr, "FACP", &fadt_len);
    g_assert_cmpuint(fadt[8], ==, 3);
    g_assert_cmpuint(fadt_len, ==, 244);
    g_assert_cmpuint(le16(fadt + 46), ==, 9);             /* SCI_INT */
    g_assert_cmpuint(le32(fadt + 48), ==, 0);             /* SMI_CMD */
    g_assert_cmpuint(le32(fadt + 56), ==, 0x600);         /* PM1a_EVT */
    g_assert_cmpuint(le32(fadt + 64), ==, 0x604);         /* PM1a_CNT */
    g_assert_cmpuint(le32(fadt + 76), ==, 0x608);         /* PM_TMR */
    g_assert_cmpuint(le32(fadt + 80), ==, 0xafe0);        /* GPE0 */
    g_assert_cmpuint(fadt[88], ==, 4);                    /* PM1_EVT_LEN */
    g_assert_cmpuint(fadt[89], ==, 2);                    /* PM1_CNT_LEN */
    g_assert_cmpuint(fadt[91], ==, 4);                    /* PM_TMR_LEN */
    g_assert_cmpuint(fadt[92], ==, 4);                    /* GPE0_BLK_LEN */
    g_assert_cmpuint(fadt[108], ==, 0x32);                /* CENTURY */
    g_assert_cmpuint(le16(fadt + 109), ==, 0x3);  /* legacy devs, 8042 */
    /* WBINVD, PROC_C1, SLP_BUTTON, RESET_REG_SUP; PWR_BUTTON clear. */
    g_assert_cmpuint(le32(fadt + 112) & 0x435, ==, 0x425);
    g_assert_cmpuint(fadt[116], ==, 1);                   /* RESET_REG: I/O */
    g_assert_cmpuint(le64(fadt + 120), ==, 0xcf9);
    g_assert_cmpuint(fadt[128], ==, 0x06);                /* RESET_VALUE */
    g_assert_cmpuint(le64(fadt + 140), ==, le32(fadt + 40));  /* X_DSDT */
    g_assert_cmpuint(le64(fadt + 132), ==, le32(fadt + 36));  /* X_FACS */
    g_assert_cmpuint(fadt[148], ==, 1);                   /* X_PM1a_EVT */
    g_assert_cmpuint(le64(fadt + 152), ==, 0x600);
    g_assert_cmpuint(le64(fadt + 176), ==, 0x604);        /* X_PM1a_CNT */
    g_assert_cmpuint(le64(fadt + 212), ==, 0x608);        /* X_PM_TMR */
    g_assert_cmpuint(fadt[209], ==, 32);
    g_assert_cmpuint(le64(fadt + 224), ==, 0xafe0);       /* X_GPE0 */

    /* FACS: 64 bytes on a 64-byte boundary, no checksum. */
    g_assert_cmpuint(le32(fadt + 36) % 64, ==, 0);
    guest_read(&am, le32(fadt + 36), facs, sizeof(facs));
    g_assert_cmpmem(facs, 4, "FACS", 4);
    g_assert_cmpuint(le32(facs + 4), ==, 64);

    /* MADT: a Local APIC per vCPU with APIC ID = index, one IOAPIC,
     * IRQ0 -> GSI2, the SCI level/high, LINT1 NMI. */
    madt = read_table(&am, madt_addr, "APIC", &madt_len);
    g_assert_cmpuint(le32(madt + 36), ==, 0xfee00000);
    g_assert_cmpuint(le32(madt + 40) & 1, ==, 1);         /* PCAT_COMPAT */
    for (uint32_t off = 44; off < madt_len;) {
        const uint8_t *e = madt + off;

        g_assert_cmpuint(off + 2, <=, madt_len);
        g_assert_cmpuint(e[1], >=, 2);
        g_assert_cmpuint(off + e[1], <=, madt_len);
        switch (e[0]) {
        case 0:
            g_assert_cmpuint(e[1], ==, 8);
            g_assert_cmpuint(e[2], ==, lapics);           /* UID */
            g_assert_cmpuint(e[3], ==, lapics);           /* APIC ID */
            g_assert_cmpuint(le32(e + 4) & 1, ==, 1);     /* enabled */
            lapics++;
            break;
        case 1:
            g_assert_cmpuint(e[1], ==, 12);
            g_assert_cmpuint(le32(e + 4), ==, 0xfec00000);
            g_assert_cmpuint(le32(e + 8), ==, 0);         /* GSI base */
            ioapics++;
            break;
        case 2:
            g_assert_cmpuint(e[1], ==, 10);
            g_assert_cmpuint(e[2], ==, 0);                /* ISA */
            if (e[3] == 0 && le32(e + 4) == 2) {
                irq0_to_gsi2 = true;
            }
            if (e[3] == 9 && le32(e + 4) == 9 && le16(e + 8) == 0x000d) {
                sci_level_high = true;
            }
            overrides++;
            break;
        case 4:
            g_assert_cmpuint(e[1], ==, 6);
            g_assert_cmpuint(e[5], ==, 1);                /* LINT1 */
            nmis++;
            break;
        default:
            g_assert_not_reached();
        }
        off += e[1];
    }
    g_assert_cmpuint(lapics, ==, smp);
    g_assert_cmpuint(ioapics, ==, 1);
    g_assert_cmpuint(overrides, ==, 2);
    g_assert_cmpuint(nmis, ==, 1);
    g_assert_true(irq0_to_gsi2);
    g_assert_true(sci_level_high);

    /* DSDT: \_S5 = {5, 5, 0, 0}, the PCI root bridge, COM1 if present. */
    dsdt = read_table(&am, le32(fadt + 40), "DSDT", &dsdt_len);
    dsdt_read_s5(dsdt, dsdt_len, s5, &s5_count);
    g_assert_cmpuint(s5_count, ==, 4);
    g_assert_cmpuint(s5[0], ==, ACPI_SLP_TYP_S5);
    g_assert_cmpuint(s5[1], ==, ACPI_SLP_TYP_S5);
    g_assert_true(dsdt_has_eisaid(dsdt, dsdt_len, pnp0a03));
    g_assert_true(dsdt_has_eisaid(dsdt, dsdt_len, pnp0501) == com1);

    g_free(dsdt);
    g_free(madt);
    g_free(fadt);
    g_free(xsdt);
    g_free(rsdt);
    acpi_machine_clear(&am);
}

static void test_tables_smp1(void)
{
    check_tables(1, true);
}

static void test_tables_smp4(void)
{
    check_tables(4, false);
}

/* 64 processor devices make the \_SB scope need a longer PkgLength. */
static void test_tables_smp64(void)
{
    check_tables(64, true);
}

/* The tables take the place a -device loader file may not also take. */
static void test_tables_overlap(void)
{
    AcpiMachine am;
    GError *err = NULL;
    static const uint8_t byte = 0x90;

    acpi_machine_init(&am, 1, false);
    g_assert_false(machine_add_rom_blob(am.m, "file", 0xe0010, &byte, 1,
                                        &err));
    g_assert_error(err, LEMU_ERROR, LEMU_ERROR_INVALID);
    g_assert_nonnull(strstr(err->message, "ACPI tables"));
    g_error_free(err);
    acpi_machine_clear(&am);
}

/* ---- PM registers ------------------------------------------------------ */

static Device *pm_new(Machine *m)
{
    GError *err = NULL;
    Device *dev = device_new(m, "acpi-pm", &err);

    g_assert_no_error(err);
    g_assert_false(dev->cls->user_creatable);
    g_assert_true(device_realize(dev, &err));
    g_assert_no_error(err);
    g_assert_true(acpi_pm_find(m) == dev);
    return dev;
}

static uint32_t inw(Machine *m, uint16_t port)
{
    uint32_t v;

    g_assert_true(ioport_read(m->io, port, 2, &v));
    return v & 0xffff;
}

static void outw(Machine *m, uint16_t port, uint16_t v)
{
    g_assert_true(ioport_write(m->io, port, 2, v));
}

static uint32_t inl(Machine *m, uint16_t port)
{
    uint32_t v;

    g_assert_true(ioport_read(m->io, port, 4, &v));
    return v;
}

static void test_pm_soft_off(void)
{
    Machine *m = fixture_machine_new();
    uint16_t s5 = ACPI_SLP_TYP_S5 << ACPI_PM1_CNT_SLP_TYP_SHIFT;

    pm_new(m);
    /* SLP_TYP alone, as guests write it first, does nothing. */
    outw(m, PM1_CNT, s5);
    g_assert_cmpint(m->shutdown_request, ==, 0);
    g_assert_cmpuint(inw(m, PM1_CNT), ==, s5 | ACPI_PM1_CNT_SCI_EN);
    /* Another sleep type with SLP_EN is not a power-off. */
    outw(m, PM1_CNT, (1 << ACPI_PM1_CNT_SLP_TYP_SHIFT) | ACPI_PM1_CNT_SLP_EN);
    g_assert_cmpint(m->shutdown_request, ==, 0);
    /* SLP_EN reads back 0. */
    g_assert_cmpuint(inw(m, PM1_CNT) & ACPI_PM1_CNT_SLP_EN, ==, 0);

    outw(m, PM1_CNT, s5 | ACPI_PM1_CNT_SLP_EN);
    g_assert_cmpint(m->shutdown_request, ==, SHUTDOWN_CAUSE_GUEST_SHUTDOWN);
    fixture_machine_free(m);
}

static void test_pm_soft_off_bytes(void)
{
    Machine *m = fixture_machine_new();

    pm_new(m);
    /* The same through the high byte alone. */
    fixture_outb(m, PM1_CNT + 1, (ACPI_SLP_TYP_S5 << 2) | 0x20);
    g_assert_cmpint(m->shutdown_request, ==, SHUTDOWN_CAUSE_GUEST_SHUTDOWN);
    fixture_machine_free(m);
}

static void test_pm_sci_en_fixed(void)
{
    Machine *m = fixture_machine_new();

    pm_new(m);
    g_assert_cmpuint(inw(m, PM1_CNT) & ACPI_PM1_CNT_SCI_EN, ==, 1);
    outw(m, PM1_CNT, 0);
    g_assert_cmpuint(inw(m, PM1_CNT) & ACPI_PM1_CNT_SCI_EN, ==, 1);
    fixture_machine_free(m);
}

static void test_pm_timer_rate(void)
{
    Machine *m = fixture_machine_new();
    int64_t t0, t1, t2, t3;
    uint32_t v1, v2, delta;
    double lo, hi;

    pm_new(m);
    t0 = g_get_monotonic_time();
    v1 = inl(m, PM_TMR);
    t1 = g_get_monotonic_time();
    g_usleep(50 * 1000);
    t2 = g_get_monotonic_time();
    v2 = inl(m, PM_TMR);
    t3 = g_get_monotonic_time();

    g_assert_cmpuint(v1 & ~0xffffffu, ==, 0);          /* 24 bits */
    g_assert_cmpuint(v2 & ~0xffffffu, ==, 0);
    delta = (v2 - v1) & 0xffffff;
    /* The same clock as g_get_monotonic_time: the count must lie within
     * what 3.579545 MHz gives over the shortest and longest interval. */
    lo = (double)(t2 - t1) * ACPI_PM_TIMER_HZ / G_USEC_PER_SEC - 2;
    hi = (double)(t3 - t0) * ACPI_PM_TIMER_HZ / G_USEC_PER_SEC + 2;
    g_assert_cmpfloat(delta, >=, lo);
    g_assert_cmpfloat(delta, <=, hi);
    g_assert_cmpfloat(delta, >=, 0.05 * ACPI_PM_TIMER_HZ - 2);

    /* It stands still while the VM is paused. */
    main_loop_virtual_clock_stop(m->loop);
    v1 = inl(m, PM_TMR);
    g_usleep(10 * 1000);
    g_assert_cmpuint(inl(m, PM_TMR), ==, v1);
    fixture_machine_free(m);
}

/* TMR_STS comes up when bit 23 of the count changes; with TMR_EN the
 * SCI follows without the guest looking. Waits up to ~2.4 s. */
static void test_pm_timer_overflow(void)
{
    Machine *m = fixture_machine_new();
    int64_t deadline;

    pm_new(m);
    outw(m, PM1_STS, 0xffff);
    g_assert_cmpuint(inw(m, PM1_STS) & ACPI_PM1_TMR_STS, ==, 0);
    outw(m, PM1_EN, ACPI_PM1_TMR_EN);
    g_assert_cmpint(fixture_irq_level(m, ACPI_SCI_IRQ), ==, 0);

    deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
    while (!fixture_irq_level(m, ACPI_SCI_IRQ) &&
           g_get_monotonic_time() < deadline) {
        main_loop_iterate(m->loop, true);
    }
    g_assert_cmpint(fixture_irq_level(m, ACPI_SCI_IRQ), ==, 1);
    g_assert_cmpuint(inw(m, PM1_STS) & ACPI_PM1_TMR_STS, ==,
                     ACPI_PM1_TMR_STS);
    outw(m, PM1_STS, ACPI_PM1_TMR_STS);
    g_assert_cmpuint(inw(m, PM1_STS) & ACPI_PM1_TMR_STS, ==, 0);
    g_assert_cmpint(fixture_irq_level(m, ACPI_SCI_IRQ), ==, 0);
    fixture_machine_free(m);
}

static void test_pm_power_button(void)
{
    Machine *m = fixture_machine_new();
    Device *pm = pm_new(m);

    /* Disabled: status only, no SCI. */
    acpi_pm_press_power_button(pm);
    g_assert_cmpuint(inw(m, PM1_STS) & ACPI_PM1_PWRBTN_STS, ==,
                     ACPI_PM1_PWRBTN_STS);
    g_assert_cmpuint(fixture_irq_raises(m, ACPI_SCI_IRQ), ==, 0);
    /* Enabling with the status pending raises the SCI at once. */
    outw(m, PM1_EN, ACPI_PM1_PWRBTN_EN);
    g_assert_cmpuint(inw(m, PM1_EN), ==, ACPI_PM1_PWRBTN_EN);
    g_assert_cmpint(fixture_irq_level(m, ACPI_SCI_IRQ), ==, 1);

    /* Writing 0s, or 1s to other bits, clears nothing. */
    outw(m, PM1_STS, 0);
    outw(m, PM1_STS, (uint16_t)~ACPI_PM1_PWRBTN_STS);
    g_assert_cmpuint(inw(m, PM1_STS) & ACPI_PM1_PWRBTN_STS, ==,
                     ACPI_PM1_PWRBTN_STS);
    g_assert_cmpint(fixture_irq_level(m, ACPI_SCI_IRQ), ==, 1);
    /* Write 1 to clear. */
    outw(m, PM1_STS, ACPI_PM1_PWRBTN_STS);
    g_assert_cmpuint(inw(m, PM1_STS) & ACPI_PM1_PWRBTN_STS, ==, 0);
    g_assert_cmpint(fixture_irq_level(m, ACPI_SCI_IRQ), ==, 0);

    /* Enabled: a press raises the SCI; a byte write to the high byte of
     * PM1_STS clears it too. */
    fixture_irq_clear(m);
    acpi_pm_press_power_button(pm);
    g_assert_cmpuint(fixture_irq_raises(m, ACPI_SCI_IRQ), ==, 1);
    g_assert_cmpint(fixture_irq_level(m, ACPI_SCI_IRQ), ==, 1);
    fixture_outb(m, PM1_STS + 1, ACPI_PM1_PWRBTN_STS >> 8);
    g_assert_cmpuint(fixture_inb(m, PM1_STS + 1), ==, 0);
    g_assert_cmpint(fixture_irq_level(m, ACPI_SCI_IRQ), ==, 0);

    /* Disabling drops a pending SCI. */
    acpi_pm_press_power_button(pm);
    g_assert_cmpint(fixture_irq_level(m, ACPI_SCI_IRQ), ==, 1);
    fixture_outb(m, PM1_EN + 1, 0);
    g_assert_cmpint(fixture_irq_level(m, ACPI_SCI_IRQ), ==, 0);
    fixture_machine_free(m);
}

static void test_pm_gpe0(void)
{
    Machine *m = fixture_machine_new();

    pm_new(m);
    g_assert_cmpuint(inw(m, GPE0_STS), ==, 0);
    outw(m, GPE0_EN, 0x1234);
    g_assert_cmpuint(inw(m, GPE0_EN), ==, 0x1234);
    g_assert_cmpuint(fixture_inb(m, GPE0_EN + 1), ==, 0x12);
    g_assert_cmpint(fixture_irq_level(m, ACPI_SCI_IRQ), ==, 0);
    fixture_machine_free(m);
}

static void test_pm_reset(void)
{
    Machine *m = fixture_machine_new();
    Device *pm = pm_new(m);

    outw(m, PM1_EN, ACPI_PM1_PWRBTN_EN);
    outw(m, GPE0_EN, 0xffff);
    outw(m, PM1_CNT, ACPI_SLP_TYP_S5 << ACPI_PM1_CNT_SLP_TYP_SHIFT);
    acpi_pm_press_power_button(pm);
    g_assert_cmpint(fixture_irq_level(m, ACPI_SCI_IRQ), ==, 1);

    device_reset_all(m);
    g_assert_cmpuint(inw(m, PM1_STS), ==, 0);
    g_assert_cmpuint(inw(m, PM1_EN), ==, 0);
    g_assert_cmpuint(inw(m, GPE0_EN), ==, 0);
    g_assert_cmpuint(inw(m, PM1_CNT), ==, ACPI_PM1_CNT_SCI_EN);
    g_assert_cmpint(fixture_irq_level(m, ACPI_SCI_IRQ), ==, 0);
    fixture_machine_free(m);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/acpi/tables/smp1", test_tables_smp1);
    g_test_add_func("/acpi/tables/smp4", test_tables_smp4);
    g_test_add_func("/acpi/tables/smp64", test_tables_smp64);
    g_test_add_func("/acpi/tables/overlap", test_tables_overlap);
    g_test_add_func("/acpi/pm/soft-off", test_pm_soft_off);
    g_test_add_func("/acpi/pm/soft-off-bytes", test_pm_soft_off_bytes);
    g_test_add_func("/acpi/pm/sci-en-fixed", test_pm_sci_en_fixed);
    g_test_add_func("/acpi/pm/timer-rate", test_pm_timer_rate);
    g_test_add_func("/acpi/pm/timer-overflow", test_pm_timer_overflow);
    g_test_add_func("/acpi/pm/power-button", test_pm_power_button);
    g_test_add_func("/acpi/pm/gpe0", test_pm_gpe0);
    g_test_add_func("/acpi/pm/reset", test_pm_reset);
    return g_test_run();
}
