/*
 * The ACPI tables of the pc machine, built once at machine setup into the
 * BIOS area and re-copied at every reset like a ROM (ACPI specification
 * 6.x, chapter 5, with the layouts of ACPI 2.0 so that older guests read
 * them too):
 *
 *   RSDP  rev 2, with the RSDT (for ACPI 1.0 guests) and the XSDT
 *   RSDT, XSDT  pointing at the FADT and the MADT
 *   FADT  rev 3 (244 bytes): the PM blocks of the acpi-pm device, SCI on
 *         IRQ 9, no SMI command port (always in ACPI mode), the fixed
 *         power button, reset through port 0xcf9
 *   FACS  for the global lock and waking vector fields
 *   MADT  one Local APIC per vCPU (APIC ID = vCPU index), the IOAPIC at
 *         0xfec00000 with GSI base 0, IRQ0 -> GSI2 and the SCI overrides,
 *         LINT1 as NMI
 *   DSDT  \_S5 and \_SB with the PCI root bridge, the processors and COM1
 *
 * The DSDT is AML written with the small byte builder below.
 */
#include <string.h>
#include "lemu/hw/i386/acpi.h"
#include "lemu/hw/i386/pc.h"
#include "lemu/hw/pci/pci.h"
#include "lemu/system/machine.h"
#include "lemu/util/log.h"

#define ACPI_OEM_ID             "LEMU  "
#define ACPI_OEM_TABLE_ID       "LEMUPC  "
#define ACPI_OEM_REVISION       1
#define ACPI_CREATOR_ID         "LEMU"
#define ACPI_CREATOR_REVISION   1

#define ACPI_HEADER_SIZE        36
#define ACPI_RSDP_SIZE          36
#define ACPI_RSDP_V1_SIZE       20      /* what the first checksum covers */
#define ACPI_FACS_SIZE          64
#define ACPI_FADT_REV3_SIZE     244

/* Generic Address Structure. */
#define GAS_SPACE_SYSTEM_IO     1
#define GAS_ACCESS_BYTE         1
#define GAS_ACCESS_WORD         2
#define GAS_ACCESS_DWORD        3

/* FADT Flags. */
#define FADT_F_WBINVD           (1u << 0)
#define FADT_F_PROC_C1          (1u << 2)
#define FADT_F_PWR_BUTTON       (1u << 4)   /* set: no fixed power button */
#define FADT_F_SLP_BUTTON       (1u << 5)   /* set: no fixed sleep button */
#define FADT_F_FIX_RTC          (1u << 6)   /* set: no RTC wake status */
#define FADT_F_RESET_REG_SUP    (1u << 10)
/* FADT IAPC_BOOT_ARCH. */
#define FADT_BOOT_LEGACY_DEVICES (1u << 0)
#define FADT_BOOT_8042          (1u << 1)
/* C2/C3 latencies above 100/1000 us mean "not supported". */
#define FADT_P_LVL_UNSUPPORTED  0x0fff
#define FADT_RESET_PORT         0xcf9
#define FADT_RESET_VALUE        0x06        /* RCR: SRST | RCPU */
#define CMOS_CENTURY            0x32

/* MADT. */
#define MADT_LAPIC_ADDR         0xfee00000u
#define MADT_IOAPIC_ADDR        0xfec00000u
#define MADT_IOAPIC_ID          0   /* what KVM's and lemu's IOAPIC report */
#define MADT_PCAT_COMPAT        (1u << 0)
#define MADT_TYPE_LAPIC         0
#define MADT_TYPE_IOAPIC        1
#define MADT_TYPE_INT_OVERRIDE  2
#define MADT_TYPE_LAPIC_NMI     4
#define MADT_LAPIC_ENABLED      (1u << 0)
#define MADT_ALL_PROCESSORS     0xff
/* MPS INTI flags. */
#define MPS_INTI_CONFORMS       0x0000
#define MPS_INTI_ACTIVE_HIGH    0x0001
#define MPS_INTI_LEVEL          0x000c

/* The PCI root bridge's windows. */
#define PCI_HOLE_END            0xfebfffffu /* below the IOAPIC */
#define PCI_VGA_START           0xa0000u
#define PCI_VGA_END             0xbffffu

#define COM1_IOBASE             0x3f8
#define COM1_IRQ                4

/* ---- Little-endian byte helpers ---------------------------------------- */

static void put_u8(GByteArray *a, uint8_t v)
{
    g_byte_array_append(a, &v, 1);
}

static void put_u16(GByteArray *a, uint16_t v)
{
    uint8_t b[2] = { v, v >> 8 };

    g_byte_array_append(a, b, sizeof(b));
}

static void put_u32(GByteArray *a, uint32_t v)
{
    put_u16(a, (uint16_t)v);
    put_u16(a, (uint16_t)(v >> 16));
}

static void put_u64(GByteArray *a, uint64_t v)
{
    put_u32(a, (uint32_t)v);
    put_u32(a, (uint32_t)(v >> 32));
}

static void put_bytes(GByteArray *a, const void *p, size_t n)
{
    g_byte_array_append(a, p, n);
}

static void put_zeros(GByteArray *a, size_t n)
{
    g_byte_array_set_size(a, a->len + n);
    memset(a->data + a->len - n, 0, n);
}

static void patch_u32(GByteArray *a, size_t off, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        a->data[off + i] = (uint8_t)(v >> (8 * i));
    }
}

static void patch_u64(GByteArray *a, size_t off, uint64_t v)
{
    patch_u32(a, off, (uint32_t)v);
    patch_u32(a, off + 4, (uint32_t)(v >> 32));
}

/* The byte that makes @len bytes at @p sum to zero. */
static uint8_t acpi_checksum(const uint8_t *p, size_t len)
{
    uint8_t sum = 0;

    for (size_t i = 0; i < len; i++) {
        sum += p[i];
    }
    return (uint8_t)-sum;
}

/* ---- AML byte builder -------------------------------------------------- */

#define AML_ZERO_OP             0x00
#define AML_ONE_OP              0x01
#define AML_NAME_OP             0x08
#define AML_BYTE_PREFIX         0x0a
#define AML_WORD_PREFIX         0x0b
#define AML_DWORD_PREFIX        0x0c
#define AML_STRING_PREFIX       0x0d
#define AML_QWORD_PREFIX        0x0e
#define AML_SCOPE_OP            0x10
#define AML_BUFFER_OP           0x11
#define AML_PACKAGE_OP          0x12
#define AML_DUAL_NAME_PREFIX    0x2e
#define AML_MULTI_NAME_PREFIX   0x2f
#define AML_METHOD_OP           0x14
#define AML_EXT_OP_PREFIX       0x5b
#define AML_EXT_DEVICE_OP       0x82
#define AML_ROOT_CHAR           '\\'

/*
 * PkgLength for a body of @body_len bytes: the length counts its own
 * encoding. One byte holds up to 63; otherwise the low nibble of the lead
 * byte and up to three more bytes hold 12, 20 or 28 bits.
 */
static void aml_pkg_length(GByteArray *a, size_t body_len)
{
    size_t len;
    unsigned extra;

    if (body_len + 1 <= 0x3f) {
        put_u8(a, (uint8_t)(body_len + 1));
        return;
    }
    if (body_len + 2 <= 0xfff) {
        extra = 1;
    } else if (body_len + 3 <= 0xfffff) {
        extra = 2;
    } else {
        extra = 3;      /* the tables are far smaller than 256 MiB */
    }
    len = body_len + 1 + extra;
    put_u8(a, (uint8_t)((extra << 6) | (len & 0x0f)));
    for (unsigned i = 0; i < extra; i++) {
        put_u8(a, (uint8_t)(len >> (4 + 8 * i)));
    }
}

/* A NameSeg: up to four characters, padded with '_'. */
static void aml_nameseg(GByteArray *a, const char *seg, size_t n)
{
    char s[4] = { '_', '_', '_', '_' };

    g_assert(n >= 1 && n <= 4);
    memcpy(s, seg, n);
    put_bytes(a, s, 4);
}

/* A NameString such as "_S5", "\\_SB" or "\\_SB.PCI0". */
static void aml_namestring(GByteArray *a, const char *name)
{
    g_auto(GStrv) segs = NULL;
    guint n;

    if (*name == AML_ROOT_CHAR) {
        put_u8(a, AML_ROOT_CHAR);
        name++;
    }
    segs = g_strsplit(name, ".", -1);
    n = g_strv_length(segs);
    if (n == 2) {
        put_u8(a, AML_DUAL_NAME_PREFIX);
    } else if (n > 2) {
        put_u8(a, AML_MULTI_NAME_PREFIX);
        put_u8(a, (uint8_t)n);
    }
    for (guint i = 0; i < n; i++) {
        aml_nameseg(a, segs[i], strlen(segs[i]));
    }
}

static void aml_integer(GByteArray *a, uint64_t v)
{
    if (v == 0) {
        put_u8(a, AML_ZERO_OP);
    } else if (v == 1) {
        put_u8(a, AML_ONE_OP);
    } else if (v <= 0xff) {
        put_u8(a, AML_BYTE_PREFIX);
        put_u8(a, (uint8_t)v);
    } else if (v <= 0xffff) {
        put_u8(a, AML_WORD_PREFIX);
        put_u16(a, (uint16_t)v);
    } else if (v <= 0xffffffffu) {
        put_u8(a, AML_DWORD_PREFIX);
        put_u32(a, (uint32_t)v);
    } else {
        put_u8(a, AML_QWORD_PREFIX);
        put_u64(a, v);
    }
}

static void aml_string(GByteArray *a, const char *s)
{
    put_u8(a, AML_STRING_PREFIX);
    put_bytes(a, s, strlen(s) + 1);
}

/*
 * A compressed EISA ID ("PNP0A03"): three letters of five bits each, then
 * four hex digits, stored big-endian in a DWord integer.
 */
static void aml_eisaid(GByteArray *a, const char *id)
{
    uint16_t vendor, product;

    g_assert(strlen(id) == 7);
    vendor = (uint16_t)(((id[0] - 0x40) << 10) | ((id[1] - 0x40) << 5) |
                        (id[2] - 0x40));
    product = (uint16_t)g_ascii_strtoull(id + 3, NULL, 16);
    put_u8(a, AML_DWORD_PREFIX);
    put_u8(a, vendor >> 8);
    put_u8(a, vendor & 0xff);
    put_u8(a, product >> 8);
    put_u8(a, product & 0xff);
}

/* @op (one or two bytes), PkgLength, then @body, which this frees. */
static void aml_append_pkg(GByteArray *a, const uint8_t *op, size_t op_len,
                           GByteArray *body)
{
    put_bytes(a, op, op_len);
    aml_pkg_length(a, body->len);
    put_bytes(a, body->data, body->len);
    g_byte_array_unref(body);
}

/* Scope(name) { body } */
static void aml_scope(GByteArray *a, const char *name, GByteArray *terms)
{
    static const uint8_t op[] = { AML_SCOPE_OP };
    GByteArray *body = g_byte_array_new();

    aml_namestring(body, name);
    put_bytes(body, terms->data, terms->len);
    g_byte_array_unref(terms);
    aml_append_pkg(a, op, sizeof(op), body);
}

/* Device(name) { body } */
static void aml_device(GByteArray *a, const char *name, GByteArray *terms)
{
    static const uint8_t op[] = { AML_EXT_OP_PREFIX, AML_EXT_DEVICE_OP };
    GByteArray *body = g_byte_array_new();

    aml_namestring(body, name);
    put_bytes(body, terms->data, terms->len);
    g_byte_array_unref(terms);
    aml_append_pkg(a, op, sizeof(op), body);
}

static void aml_name_integer(GByteArray *a, const char *name, uint64_t v)
{
    put_u8(a, AML_NAME_OP);
    aml_namestring(a, name);
    aml_integer(a, v);
}

static void aml_name_string(GByteArray *a, const char *name, const char *s)
{
    put_u8(a, AML_NAME_OP);
    aml_namestring(a, name);
    aml_string(a, s);
}

static void aml_name_eisaid(GByteArray *a, const char *name, const char *id)
{
    put_u8(a, AML_NAME_OP);
    aml_namestring(a, name);
    aml_eisaid(a, id);
}

/* Name(name, Package() { v[0], ... }) */
static void aml_name_package(GByteArray *a, const char *name,
                             const uint64_t *v, uint8_t n)
{
    static const uint8_t op[] = { AML_PACKAGE_OP };
    GByteArray *body = g_byte_array_new();

    put_u8(a, AML_NAME_OP);
    aml_namestring(a, name);
    put_u8(body, n);
    for (unsigned i = 0; i < n; i++) {
        aml_integer(body, v[i]);
    }
    aml_append_pkg(a, op, sizeof(op), body);
}

/* Name(name, Buffer() { bytes }), which this frees: a ResourceTemplate. */
static void aml_name_buffer(GByteArray *a, const char *name,
                            GByteArray *bytes)
{
    static const uint8_t op[] = { AML_BUFFER_OP };
    GByteArray *body = g_byte_array_new();

    put_u8(a, AML_NAME_OP);
    aml_namestring(a, name);
    aml_integer(body, bytes->len);
    put_bytes(body, bytes->data, bytes->len);
    g_byte_array_unref(bytes);
    aml_append_pkg(a, op, sizeof(op), body);
}

/* Method(name, nargs) {} : an empty method, such as a link's _SRS. */
static void aml_empty_method(GByteArray *a, const char *name, uint8_t nargs)
{
    static const uint8_t op[] = { AML_METHOD_OP };
    GByteArray *body = g_byte_array_new();

    aml_namestring(body, name);
    put_u8(body, nargs & 0x07);     /* MethodFlags: not serialized */
    aml_append_pkg(a, op, sizeof(op), body);
}

/* ---- Resource descriptors (ACPI 6.4.2, 6.4.3) -------------------------- */

#define RES_IRQ_NO_FLAGS        0x22    /* small, 2 bytes */
#define RES_IO                  0x47    /* small, 7 bytes */
#define RES_END_TAG             0x79    /* small, 1 byte */
#define RES_DWORD_ADDRESS       0x87
#define RES_EXT_IRQ             0x89
#define RES_WORD_ADDRESS        0x88
#define RES_IO_DECODE16         0x01
#define RES_TYPE_MEMORY         0
#define RES_TYPE_IO             1
#define RES_TYPE_BUS_NUMBER     2
/* General flags: producer, positive decode, min and max fixed. */
#define RES_PRODUCER_FIXED      0x0c
#define RES_IO_ENTIRE_RANGE     0x03
#define RES_MEM_CACHEABLE_RW    0x03
/* Extended interrupt flags: consumer, level, active high, shared. */
#define RES_EXT_IRQ_CONSUMER    0x01
#define RES_EXT_IRQ_SHARED      0x08

static void res_io(GByteArray *r, uint16_t base, uint8_t align, uint8_t len)
{
    put_u8(r, RES_IO);
    put_u8(r, RES_IO_DECODE16);
    put_u16(r, base);           /* minimum */
    put_u16(r, base);           /* maximum */
    put_u8(r, align);
    put_u8(r, len);
}

static void res_irq(GByteArray *r, unsigned irq)
{
    put_u8(r, RES_IRQ_NO_FLAGS);
    put_u16(r, (uint16_t)(1u << irq));
}

static void res_word_address(GByteArray *r, uint8_t type, uint8_t type_flags,
                             uint16_t min, uint16_t max)
{
    put_u8(r, RES_WORD_ADDRESS);
    put_u16(r, 13);             /* bytes after the length field */
    put_u8(r, type);
    put_u8(r, RES_PRODUCER_FIXED);
    put_u8(r, type_flags);
    put_u16(r, 0);              /* granularity */
    put_u16(r, min);
    put_u16(r, max);
    put_u16(r, 0);              /* translation offset */
    put_u16(r, (uint16_t)(max - min + 1));
}

static void res_dword_memory(GByteArray *r, uint32_t min, uint32_t max)
{
    put_u8(r, RES_DWORD_ADDRESS);
    put_u16(r, 23);
    put_u8(r, RES_TYPE_MEMORY);
    put_u8(r, RES_PRODUCER_FIXED);
    put_u8(r, RES_MEM_CACHEABLE_RW);
    put_u32(r, 0);
    put_u32(r, min);
    put_u32(r, max);
    put_u32(r, 0);
    put_u32(r, max - min + 1);
}

static void res_ext_irq(GByteArray *r, uint32_t gsi, uint8_t flags)
{
    put_u8(r, RES_EXT_IRQ);
    put_u16(r, 6);              /* flags, count, one interrupt number */
    put_u8(r, flags);
    put_u8(r, 1);
    put_u32(r, gsi);
}

static void res_end(GByteArray *r)
{
    put_u8(r, RES_END_TAG);
    put_u8(r, 0);               /* checksum 0: "treat as valid" */
}

/* ---- Tables ------------------------------------------------------------ */

static unsigned acpi_cpu_count(Machine *m)
{
    return CLAMP(m->cfg.smp, 1u, (unsigned)LEMU_MAX_VCPUS);
}

static size_t acpi_table_begin(GByteArray *a, const char *sig,
                               uint8_t revision)
{
    size_t start = a->len;

    put_bytes(a, sig, 4);
    put_u32(a, 0);              /* length, patched by acpi_table_end */
    put_u8(a, revision);
    put_u8(a, 0);               /* checksum, patched too */
    put_bytes(a, ACPI_OEM_ID, 6);
    put_bytes(a, ACPI_OEM_TABLE_ID, 8);
    put_u32(a, ACPI_OEM_REVISION);
    put_bytes(a, ACPI_CREATOR_ID, 4);
    put_u32(a, ACPI_CREATOR_REVISION);
    return start;
}

static void acpi_table_end(GByteArray *a, size_t start)
{
    size_t len = a->len - start;

    patch_u32(a, start + 4, (uint32_t)len);
    a->data[start + 9] = acpi_checksum(a->data + start, len);
}

/* Pads @a to a multiple of @align and returns the guest address there. */
static uint32_t acpi_align(GByteArray *a, size_t align)
{
    put_zeros(a, (align - a->len % align) % align);
    return (uint32_t)(ACPI_TABLES_ADDR + a->len);
}

static void acpi_gas_io(GByteArray *a, uint8_t bit_width, uint8_t access,
                        uint64_t port)
{
    put_u8(a, GAS_SPACE_SYSTEM_IO);
    put_u8(a, bit_width);
    put_u8(a, 0);               /* bit offset */
    put_u8(a, access);
    put_u64(a, port);
}

static void acpi_build_facs(GByteArray *a)
{
    size_t start = a->len;

    put_bytes(a, "FACS", 4);
    put_u32(a, ACPI_FACS_SIZE);
    put_u32(a, 0);              /* hardware signature */
    put_u32(a, 0);              /* firmware waking vector */
    put_u32(a, 0);              /* global lock */
    put_u32(a, 0);              /* flags */
    put_u64(a, 0);              /* X firmware waking vector */
    put_u8(a, 1);               /* version (ACPI 2.0) */
    put_zeros(a, ACPI_FACS_SIZE - (a->len - start));
}

/*
 * The PCI interrupt links GSIA-GSID: each stands for one of GSIs 16-19,
 * fixed, level-triggered, active high and shared, which is how the board
 * drives them (hw/pci/i440fx.c). Through a link, rather than a bare GSI in
 * _PRT (which means active low), the guest programs the polarity right.
 */
static void acpi_dsdt_pci_links(GByteArray *dsdt_sb)
{
    for (int i = 0; i < PCI_INTX_GSI_COUNT; i++) {
        GByteArray *dev = g_byte_array_new();
        GByteArray *prs = g_byte_array_new();
        GByteArray *crs = g_byte_array_new();
        char name[5];

        snprintf(name, sizeof(name), "GSI%c", 'A' + i);
        aml_name_eisaid(dev, "_HID", "PNP0C0F");
        aml_name_integer(dev, "_UID", i);
        res_ext_irq(prs, PCI_INTX_GSI_BASE + i,
                    RES_EXT_IRQ_CONSUMER | RES_EXT_IRQ_SHARED);
        res_end(prs);
        aml_name_buffer(dev, "_PRS", prs);
        res_ext_irq(crs, PCI_INTX_GSI_BASE + i,
                    RES_EXT_IRQ_CONSUMER | RES_EXT_IRQ_SHARED);
        res_end(crs);
        aml_name_buffer(dev, "_CRS", crs);
        aml_empty_method(dev, "_SRS", 1);
        aml_device(dsdt_sb, name, dev);
    }
}

/*
 * _PRT: for every slot and pin, Package { slot << 16 | 0xffff, pin, link,
 * 0 }, the link being the one of GSI pci_intx_gsi(slot, pin).
 */
static void acpi_dsdt_pci_prt(GByteArray *dev)
{
    static const uint8_t pkg_op[] = { AML_PACKAGE_OP };
    GByteArray *table = g_byte_array_new();
    unsigned n = PCI_SLOT_MAX * 4;

    put_u8(table, (uint8_t)n);      /* NumElements: 128 fits a byte */
    for (int slot = 0; slot < PCI_SLOT_MAX; slot++) {
        for (int pin = 0; pin < 4; pin++) {
            GByteArray *entry = g_byte_array_new();
            char link[16];

            snprintf(link, sizeof(link), "\\_SB.GSI%c",
                     'A' + pci_intx_gsi(slot, pin) - PCI_INTX_GSI_BASE);
            put_u8(entry, 4);
            aml_integer(entry, ((uint32_t)slot << 16) | 0xffff);
            aml_integer(entry, pin);
            aml_namestring(entry, link);
            aml_integer(entry, 0);
            aml_append_pkg(table, pkg_op, sizeof(pkg_op), entry);
        }
    }
    put_u8(dev, AML_NAME_OP);
    aml_namestring(dev, "_PRT");
    aml_append_pkg(dev, pkg_op, sizeof(pkg_op), table);
}

static void acpi_dsdt_pci_root(GByteArray *dsdt_sb, Machine *m)
{
    GByteArray *dev = g_byte_array_new();
    GByteArray *crs = g_byte_array_new();
    uint64_t hole_start = MAX(m->below_4g_size, PC_HIGH_RAM_START);

    aml_name_eisaid(dev, "_HID", "PNP0A03");
    aml_name_integer(dev, "_ADR", 0);
    aml_name_integer(dev, "_UID", 0);
    aml_name_integer(dev, "_BBN", 0);
    acpi_dsdt_pci_prt(dev);

    res_word_address(crs, RES_TYPE_BUS_NUMBER, 0, 0x00, 0xff);
    res_io(crs, 0xcf8, 1, 8);   /* the configuration ports it decodes */
    res_word_address(crs, RES_TYPE_IO, RES_IO_ENTIRE_RANGE, 0x0000, 0x0cf7);
    res_word_address(crs, RES_TYPE_IO, RES_IO_ENTIRE_RANGE, 0x0d00, 0xffff);
    res_dword_memory(crs, PCI_VGA_START, PCI_VGA_END);
    if (hole_start <= PCI_HOLE_END) {
        res_dword_memory(crs, (uint32_t)hole_start, PCI_HOLE_END);
    }
    res_end(crs);
    aml_name_buffer(dev, "_CRS", crs);

    aml_device(dsdt_sb, "PCI0", dev);
}

static void acpi_dsdt_com1(GByteArray *dsdt_sb)
{
    GByteArray *dev = g_byte_array_new();
    GByteArray *crs = g_byte_array_new();

    aml_name_eisaid(dev, "_HID", "PNP0501");
    aml_name_integer(dev, "_UID", 1);
    res_io(crs, COM1_IOBASE, 0, 8);
    res_irq(crs, COM1_IRQ);
    res_end(crs);
    aml_name_buffer(dev, "_CRS", crs);
    aml_device(dsdt_sb, "COM1", dev);
}

static void acpi_build_dsdt(GByteArray *a, Machine *m)
{
    static const uint64_t s5[] = { ACPI_SLP_TYP_S5, ACPI_SLP_TYP_S5, 0, 0 };
    size_t start = acpi_table_begin(a, "DSDT", 2);
    GByteArray *sb = g_byte_array_new();

    acpi_dsdt_pci_links(sb);
    acpi_dsdt_pci_root(sb, m);
    /* Processor UIDs match the MADT's ACPI Processor IDs. */
    for (unsigned i = 0; i < acpi_cpu_count(m); i++) {
        GByteArray *cpu = g_byte_array_new();
        char name[8];

        snprintf(name, sizeof(name), "C%03X", i);
        aml_name_string(cpu, "_HID", "ACPI0007");
        aml_name_integer(cpu, "_UID", i);
        aml_device(sb, name, cpu);
    }
    if (m->serial_chr[0]) {
        acpi_dsdt_com1(sb);
    }
    aml_scope(a, "\\_SB", sb);
    aml_name_package(a, "\\_S5", s5, G_N_ELEMENTS(s5));
    acpi_table_end(a, start);
}

static void acpi_build_fadt(GByteArray *a, uint32_t facs, uint32_t dsdt)
{
    size_t start = acpi_table_begin(a, "FACP", 3);

    put_u32(a, facs);                   /* FIRMWARE_CTRL */
    put_u32(a, dsdt);                   /* DSDT */
    put_u8(a, 1);                       /* ACPI 1.0 INT_MODEL: APIC */
    put_u8(a, 0);                       /* Preferred_PM_Profile */
    put_u16(a, ACPI_SCI_IRQ);           /* SCI_INT */
    put_u32(a, 0);                      /* SMI_CMD: none, always ACPI */
    put_u8(a, 0);                       /* ACPI_ENABLE */
    put_u8(a, 0);                       /* ACPI_DISABLE */
    put_u8(a, 0);                       /* S4BIOS_REQ */
    put_u8(a, 0);                       /* PSTATE_CNT */
    put_u32(a, ACPI_PM1A_EVT_BLK);
    put_u32(a, 0);                      /* PM1b_EVT_BLK */
    put_u32(a, ACPI_PM1A_CNT_BLK);
    put_u32(a, 0);                      /* PM1b_CNT_BLK */
    put_u32(a, 0);                      /* PM2_CNT_BLK */
    put_u32(a, ACPI_PM_TMR_BLK);
    put_u32(a, ACPI_GPE0_BLK);
    put_u32(a, 0);                      /* GPE1_BLK */
    put_u8(a, ACPI_PM1_EVT_LEN);
    put_u8(a, ACPI_PM1_CNT_LEN);
    put_u8(a, 0);                       /* PM2_CNT_LEN */
    put_u8(a, ACPI_PM_TMR_LEN);
    put_u8(a, ACPI_GPE0_BLK_LEN);
    put_u8(a, 0);                       /* GPE1_BLK_LEN */
    put_u8(a, 0);                       /* GPE1_BASE */
    put_u8(a, 0);                       /* CST_CNT */
    put_u16(a, FADT_P_LVL_UNSUPPORTED); /* P_LVL2_LAT */
    put_u16(a, FADT_P_LVL_UNSUPPORTED); /* P_LVL3_LAT */
    put_u16(a, 0);                      /* FLUSH_SIZE */
    put_u16(a, 0);                      /* FLUSH_STRIDE */
    put_u8(a, 0);                       /* DUTY_OFFSET */
    put_u8(a, 0);                       /* DUTY_WIDTH */
    put_u8(a, 0);                       /* DAY_ALRM: none */
    put_u8(a, 0);                       /* MON_ALRM: none */
    put_u8(a, CMOS_CENTURY);            /* CENTURY */
    put_u16(a, FADT_BOOT_LEGACY_DEVICES | FADT_BOOT_8042);
    put_u8(a, 0);                       /* reserved */
    /* PWR_BUTTON clear: the power button is the fixed-feature one. */
    put_u32(a, FADT_F_WBINVD | FADT_F_PROC_C1 | FADT_F_SLP_BUTTON |
               FADT_F_FIX_RTC | FADT_F_RESET_REG_SUP);
    acpi_gas_io(a, 8, GAS_ACCESS_BYTE, FADT_RESET_PORT);  /* RESET_REG */
    put_u8(a, FADT_RESET_VALUE);
    put_zeros(a, 3);                    /* reserved */
    put_u64(a, facs);                   /* X_FIRMWARE_CTRL */
    put_u64(a, dsdt);                   /* X_DSDT */
    acpi_gas_io(a, ACPI_PM1_EVT_LEN * 8, GAS_ACCESS_WORD, ACPI_PM1A_EVT_BLK);
    put_zeros(a, 12);                   /* X_PM1b_EVT_BLK */
    acpi_gas_io(a, ACPI_PM1_CNT_LEN * 8, GAS_ACCESS_WORD, ACPI_PM1A_CNT_BLK);
    put_zeros(a, 12);                   /* X_PM1b_CNT_BLK */
    put_zeros(a, 12);                   /* X_PM2_CNT_BLK */
    acpi_gas_io(a, ACPI_PM_TMR_LEN * 8, GAS_ACCESS_DWORD, ACPI_PM_TMR_BLK);
    acpi_gas_io(a, ACPI_GPE0_BLK_LEN * 8, GAS_ACCESS_BYTE, ACPI_GPE0_BLK);
    put_zeros(a, 12);                   /* X_GPE1_BLK */
    g_assert(a->len - start == ACPI_FADT_REV3_SIZE);
    acpi_table_end(a, start);
}

static void madt_int_override(GByteArray *a, uint8_t irq, uint32_t gsi,
                              uint16_t flags)
{
    put_u8(a, MADT_TYPE_INT_OVERRIDE);
    put_u8(a, 10);
    put_u8(a, 0);               /* bus: ISA */
    put_u8(a, irq);
    put_u32(a, gsi);
    put_u16(a, flags);
}

static void acpi_build_madt(GByteArray *a, Machine *m)
{
    size_t start = acpi_table_begin(a, "APIC", 1);

    put_u32(a, MADT_LAPIC_ADDR);
    put_u32(a, MADT_PCAT_COMPAT);       /* 8259s present too */
    for (unsigned i = 0; i < acpi_cpu_count(m); i++) {
        put_u8(a, MADT_TYPE_LAPIC);
        put_u8(a, 8);
        put_u8(a, (uint8_t)i);          /* ACPI Processor UID */
        put_u8(a, (uint8_t)i);          /* APIC ID: the vCPU index */
        put_u32(a, MADT_LAPIC_ENABLED);
    }
    put_u8(a, MADT_TYPE_IOAPIC);
    put_u8(a, 12);
    put_u8(a, MADT_IOAPIC_ID);
    put_u8(a, 0);
    put_u32(a, MADT_IOAPIC_ADDR);
    put_u32(a, 0);                      /* GSI base */
    /* The PIT's IRQ 0 is on IOAPIC pin 2 on every PC. */
    madt_int_override(a, 0, 2, MPS_INTI_CONFORMS);
    madt_int_override(a, ACPI_SCI_IRQ, ACPI_SCI_IRQ,
                      MPS_INTI_ACTIVE_HIGH | MPS_INTI_LEVEL);
    put_u8(a, MADT_TYPE_LAPIC_NMI);
    put_u8(a, 6);
    put_u8(a, MADT_ALL_PROCESSORS);
    put_u16(a, MPS_INTI_CONFORMS);
    put_u8(a, 1);                       /* LINT1 */
    acpi_table_end(a, start);
}

static void acpi_build_rsdt(GByteArray *a, const uint32_t *tables,
                            unsigned n)
{
    size_t start = acpi_table_begin(a, "RSDT", 1);

    for (unsigned i = 0; i < n; i++) {
        put_u32(a, tables[i]);
    }
    acpi_table_end(a, start);
}

static void acpi_build_xsdt(GByteArray *a, const uint32_t *tables,
                            unsigned n)
{
    size_t start = acpi_table_begin(a, "XSDT", 1);

    for (unsigned i = 0; i < n; i++) {
        put_u64(a, tables[i]);
    }
    acpi_table_end(a, start);
}

/* The RSDP, written over the space kept for it at the start of @a. */
static void acpi_fill_rsdp(GByteArray *a, uint32_t rsdt, uint32_t xsdt)
{
    uint8_t *p = a->data;

    memcpy(p, "RSD PTR ", 8);
    memcpy(p + 9, ACPI_OEM_ID, 6);
    p[15] = 2;                          /* revision: ACPI 2.0+ */
    patch_u32(a, 16, rsdt);
    patch_u32(a, 20, ACPI_RSDP_SIZE);
    patch_u64(a, 24, xsdt);
    p[8] = acpi_checksum(p, ACPI_RSDP_V1_SIZE);
    p[32] = acpi_checksum(p, ACPI_RSDP_SIZE);
}

bool acpi_build_tables(Machine *m, GError **errp)
{
    g_autoptr(GByteArray) a = g_byte_array_new();
    uint32_t facs, dsdt, fadt, madt, rsdt, xsdt;
    uint32_t sdt_entries[2];
    bool ok;

    put_zeros(a, ACPI_RSDP_SIZE);
    facs = acpi_align(a, 64);           /* FACS needs 64-byte alignment */
    acpi_build_facs(a);
    dsdt = acpi_align(a, 16);
    acpi_build_dsdt(a, m);
    fadt = acpi_align(a, 16);
    acpi_build_fadt(a, facs, dsdt);
    madt = acpi_align(a, 16);
    acpi_build_madt(a, m);
    sdt_entries[0] = fadt;
    sdt_entries[1] = madt;
    rsdt = acpi_align(a, 16);
    acpi_build_rsdt(a, sdt_entries, G_N_ELEMENTS(sdt_entries));
    xsdt = acpi_align(a, 16);
    acpi_build_xsdt(a, sdt_entries, G_N_ELEMENTS(sdt_entries));
    acpi_fill_rsdp(a, rsdt, xsdt);

    if (a->len > ACPI_TABLES_MAX_SIZE) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                    "ACPI tables: %u bytes do not fit in the %llu bytes at "
                    "0x%llx", a->len, ACPI_TABLES_MAX_SIZE,
                    ACPI_TABLES_ADDR);
        return false;
    }
    ok = machine_add_rom_blob(m, "ACPI tables", ACPI_TABLES_ADDR, a->data,
                              a->len, errp);
    return ok;
}
