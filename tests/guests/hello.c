/*
 * hello: the demo guest. Shows what the machine hands a multiboot kernel:
 * CPU identification, memory size and map, the command line, the CPUs the
 * ACPI MADT lists. Lines that differ between correct machines (vendor,
 * model name, the exact memory map) are matched by patterns in
 * expected/hello.out.
 */
#include "guest.h"

static void print_cpu(void)
{
    uint32_t a, b, c, d;
    char vendor[13];

    cpuid(0, 0, &a, &b, &c, &d);
    memcpy(vendor, &b, 4);
    memcpy(vendor + 4, &d, 4);
    memcpy(vendor + 8, &c, 4);
    vendor[12] = '\0';
    printf("CPU vendor: %s\n", vendor);

    cpuid(0x80000000, 0, &a, &b, &c, &d);
    if (a >= 0x80000004) {
        uint32_t brand[13];
        const char *s;
        for (unsigned i = 0; i < 3; i++) {
            cpuid(0x80000002 + i, 0, &brand[4 * i], &brand[4 * i + 1],
                  &brand[4 * i + 2], &brand[4 * i + 3]);
        }
        brand[12] = 0;
        for (s = (const char *)brand; *s == ' '; s++) {
        }
        printf("CPU model: %s\n", s);
    } else {
        printf("CPU model: (no brand string)\n");
    }

    static const struct {
        uint32_t leaf, bit;
        const char *name;
    } features[] = {
        { 1, CPUID_1_EDX_PSE, "pse" },
        { 1, CPUID_1_EDX_TSC, "tsc" },
        { 1, CPUID_1_EDX_MSR, "msr" },
        { 1, CPUID_1_EDX_PAE, "pae" },
        { 1, CPUID_1_EDX_APIC, "apic" },
        { 0x80000001, CPUID_80000001_EDX_SYSCALL, "syscall" },
        { 0x80000001, CPUID_80000001_EDX_NX, "nx" },
        { 0x80000001, CPUID_80000001_EDX_LM, "lm" },
    };
    printf("CPU features:");
    for (unsigned i = 0; i < ARRAY_SIZE(features); i++) {
        if (cpu_has_feature_edx(features[i].leaf, features[i].bit)) {
            printf(" %s", features[i].name);
        }
    }
    printf("\n");
}

static const char *mmap_type_name(uint32_t type)
{
    switch (type) {
    case MB_MMAP_RAM:
        return "RAM";
    case MB_MMAP_RESERVED:
        return "reserved";
    case MB_MMAP_ACPI:
        return "ACPI";
    case MB_MMAP_NVS:
        return "ACPI NVS";
    default:
        return "other";
    }
}

static int print_memory(const struct multiboot_info *mbi)
{
    extern char __image_start[], __image_end[];
    uint64_t img_start = (uintptr_t)__image_start;
    uint64_t img_end = (uintptr_t)__image_end;
    bool image_in_ram = false;

    CHECK(mbi->flags & MB_INFO_MEMORY, "no memory size in multiboot info");
    /* The exact figures depend on what the firmware keeps for itself;
     * rounded to MiB they are the -m size. */
    printf("memory: %u KiB below 1 MiB, %u KiB above 1 MiB\n",
           mbi->mem_lower, mbi->mem_upper);
    printf("memory: %u MiB in all, rounded to MiB\n",
           (1024 + mbi->mem_upper + 512) / 1024);

    CHECK(mbi->flags & MB_INFO_MMAP, "no memory map in multiboot info");
    printf("memory map:\n");
    uintptr_t p = mbi->mmap_addr, end = p + mbi->mmap_length;
    unsigned n = 0;
    while (p < end && n < 64) {
        const struct multiboot_mmap_entry *e = (const void *)p;
        printf("  0x%016llx-0x%016llx %s\n", (unsigned long long)e->addr,
               (unsigned long long)(e->addr + e->len - 1),
               mmap_type_name(e->type));
        if (e->type == MB_MMAP_RAM && e->addr <= img_start &&
            e->addr + e->len >= img_end) {
            image_in_ram = true;
        }
        p += e->size + 4;
        n++;
    }
    CHECK(n > 0, "empty memory map");
    CHECK(image_in_ram, "the kernel image at 0x%llx-0x%llx is not in RAM",
          (unsigned long long)img_start, (unsigned long long)img_end);
    printf("memory map: kernel image at 0x%x is in RAM\n",
           (unsigned)img_start);
    return 0;
}

/* A multiboot loader may put the kernel's file name before the arguments
 * (QEMU does); skip a first word that looks like a path. */
static const char *skip_kernel_name(const char *s)
{
    const char *w = s;
    bool path = false;

    while (*w && *w != ' ') {
        if (*w == '/') {
            path = true;
        }
        w++;
    }
    if (w - s > 4 && !strncmp(w - 4, ".elf", 4)) {
        path = true;
    }
    if (!path) {
        return s;
    }
    while (*w == ' ') {
        w++;
    }
    return w;
}

static void print_cmdline(const struct multiboot_info *mbi)
{
    if (!(mbi->flags & MB_INFO_CMDLINE)) {
        printf("command line: (none)\n");
        return;
    }
    const char *args = skip_kernel_name((const char *)(uintptr_t)mbi->cmdline);
    printf("command line: \"%s\"\n", args);

    /* one line per word */
    unsigned n = 0;
    while (*args) {
        while (*args == ' ') {
            args++;
        }
        if (!*args) {
            break;
        }
        printf("  arg %u: ", n++);
        while (*args && *args != ' ') {
            serial_putc(*args++);
        }
        printf("\n");
    }
}

/* ---- ACPI: count the processors in the MADT ---- */

struct acpi_header {
    char signature[4];
    uint32_t length;
    uint8_t revision;
    uint8_t checksum;
    char oem_id[6];
    char oem_table_id[8];
    uint32_t oem_revision;
    uint32_t creator_id;
    uint32_t creator_revision;
} __attribute__((packed));

static bool checksum_ok(const void *p, uint32_t len)
{
    const uint8_t *b = p;
    uint8_t sum = 0;
    for (uint32_t i = 0; i < len; i++) {
        sum += b[i];
    }
    return sum == 0;
}

static const uint8_t *find_rsdp_in(uintptr_t start, uintptr_t end)
{
    for (uintptr_t p = start; p + 20 <= end; p += 16) {
        const uint8_t *r = phys_ptr(p);
        if (!memcmp(r, "RSD PTR ", 8) && checksum_ok(r, 20)) {
            return r;
        }
    }
    return NULL;
}

static const struct acpi_header *acpi_table(uint64_t addr)
{
    if (addr == 0 || addr >= 0xffffffffu - sizeof(struct acpi_header)) {
        return NULL;
    }
    const struct acpi_header *h = (const void *)(uintptr_t)addr;
    if (h->length < sizeof(*h) || h->length > 0x100000 ||
        !checksum_ok(h, h->length)) {
        return NULL;
    }
    return h;
}

static const struct acpi_header *find_madt(void)
{
    uintptr_t ebda = (uintptr_t)*(volatile uint16_t *)phys_ptr(0x40e) << 4;
    const uint8_t *rsdp = NULL;

    if (ebda >= 0x80000 && ebda < 0xa0000) {
        rsdp = find_rsdp_in(ebda, ebda + 1024);
    }
    if (!rsdp) {
        rsdp = find_rsdp_in(0xe0000, 0x100000);
    }
    if (!rsdp) {
        return NULL;
    }

    uint32_t rsdt_addr, entry_size = 4;
    uint64_t sdt_addr;
    memcpy(&rsdt_addr, rsdp + 16, 4);
    sdt_addr = rsdt_addr;
    if (rsdp[15] >= 2 && checksum_ok(rsdp, 36)) {
        uint64_t xsdt_addr;
        memcpy(&xsdt_addr, rsdp + 24, 8);
        if (xsdt_addr && xsdt_addr < 0xffffffffu) {
            sdt_addr = xsdt_addr;
            entry_size = 8;
        }
    }
    const struct acpi_header *sdt = acpi_table(sdt_addr);
    if (!sdt) {
        return NULL;
    }
    const uint8_t *entries = (const uint8_t *)(sdt + 1);
    uint32_t n = (sdt->length - sizeof(*sdt)) / entry_size;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t a = 0;
        memcpy(&a, entries + i * entry_size, entry_size);
        const struct acpi_header *t = acpi_table(a);
        if (t && !memcmp(t->signature, "APIC", 4)) {
            return t;
        }
    }
    return NULL;
}

static void print_cpus(void)
{
    const struct acpi_header *madt = find_madt();
    if (!madt) {
        printf("ACPI: no MADT found\n");
        return;
    }
    const uint8_t *p = (const uint8_t *)madt + 44;
    const uint8_t *end = (const uint8_t *)madt + madt->length;
    unsigned cpus = 0;
    while (p + 2 <= end && p[1] >= 2 && p + p[1] <= end) {
        uint32_t flags;
        if (p[0] == 0 && p[1] >= 8) {           /* processor local APIC */
            memcpy(&flags, p + 4, 4);
            cpus += flags & 1;
        } else if (p[0] == 9 && p[1] >= 16) {   /* processor local x2APIC */
            memcpy(&flags, p + 8, 4);
            cpus += flags & 1;
        }
        p += p[1];
    }
    printf("ACPI: the MADT lists %u enabled CPU%s\n", cpus,
           cpus == 1 ? "" : "s");
}

int guest_main(struct multiboot_info *mbi)
{
    printf("Hello from a lemu test guest (32-bit protected mode)\n");
    print_cpu();
    print_memory(mbi);
    print_cmdline(mbi);
    print_cpus();
    if (cpu_has_feature_edx(1, CPUID_1_EDX_APIC)) {
        printf("boot CPU: local APIC ID %u\n", lapic_id());
    }
    return 0;
}
