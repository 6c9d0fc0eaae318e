/*
 * The x86 Linux boot protocol (Documentation/arch/x86/boot.rst), 2.06 and
 * later, bzImage only: the protected-mode kernel is loaded high and entered
 * directly, at its 64-bit entry point when the kernel has one, else at its
 * 32-bit entry point. The real-mode setup code is not run.
 *
 * Boot structures in low memory, all below the EBDA (0x9fc00) and apart:
 *   0x00500 - 0x0051f  boot GDT (x86-boot.c)
 *   0x07000 - 0x07fff  zero page (struct boot_params)
 *   0x09000 - 0x0efff  identity page tables for the 64-bit entry: PML4,
 *                      PDPT and four page directories of 2 MiB pages
 *                      mapping the first 4 GiB
 *   0x20000 - 0x9efff  kernel command line
 * The kernel goes to pref_address (relocatable kernels) or 1 MiB, the
 * initrd as high as the kernel allows below 4 GiB, page aligned.
 */
#include <string.h>
#include "lemu/hw/i386/boot.h"
#include "lemu/hw/i386/pc.h"
#include "lemu/system/machine.h"
#include "lemu/util/log.h"

#define LINUX_ZERO_PAGE     0x7000ULL
#define LINUX_ZERO_PAGE_SIZE 0x1000
#define LINUX_PAGE_TABLES   0x9000ULL
#define LINUX_PAGE_TABLES_SIZE (6 * 0x1000)
#define LINUX_CMDLINE       0x20000ULL
#define LINUX_CMDLINE_MAX   (0x9f000 - 0x20000)

/* struct boot_params offsets outside the setup header. */
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE  0x0c4
#define BP_EXT_CMD_LINE_PTR  0x0c8
#define BP_E820_ENTRIES      0x1e8
#define BP_E820_TABLE        0x2d0
#define BP_E820_MAX          128

/* Setup header fields, at the same offsets in the image and zero page. */
#define HDR_START            0x1f1
#define HDR_SETUP_SECTS      0x1f1
#define HDR_SYSSIZE          0x1f4
#define HDR_JUMP             0x200
#define HDR_HEADER           0x202
#define HDR_VERSION          0x206
#define HDR_TYPE_OF_LOADER   0x210
#define HDR_LOADFLAGS        0x211
#define HDR_CODE32_START     0x214
#define HDR_RAMDISK_IMAGE    0x218
#define HDR_RAMDISK_SIZE     0x21c
#define HDR_CMD_LINE_PTR     0x228
#define HDR_INITRD_ADDR_MAX  0x22c
#define HDR_KERNEL_ALIGNMENT 0x230
#define HDR_RELOCATABLE      0x234
#define HDR_XLOADFLAGS       0x236
#define HDR_CMDLINE_SIZE     0x238
#define HDR_PREF_ADDRESS     0x258
#define HDR_INIT_SIZE        0x260

#define HDR_MAGIC            0x53726448     /* "HdrS" */
#define LOADED_HIGH          (1 << 0)       /* loadflags */
#define XLF_KERNEL_64        (1 << 0)       /* xloadflags */
#define LOADER_TYPE_UNKNOWN  0xff
#define INITRD_ADDR_MAX_DEFAULT 0x37ffffffULL
#define SECTOR_SIZE          512

#define PTE_PRESENT  (1ULL << 0)
#define PTE_WRITE    (1ULL << 1)
#define PTE_PS       (1ULL << 7)

/* What the loader decided from the header. */
typedef struct LinuxLayout {
    uint16_t version;
    size_t setup_size;          /* real-mode part, in the file */
    uint64_t prot_size;         /* protected-mode part loaded */
    uint64_t load_addr;
    uint64_t kernel_end;        /* end of the memory the kernel works in */
    uint32_t cmdline_size;
    uint64_t initrd_max_end;    /* initrd must end at or below this */
    bool entry64;
} LinuxLayout;

bool x86_linux_probe(const uint8_t *image, size_t len)
{
    return len >= HDR_HEADER + 4 && boot_ld32(image + HDR_HEADER) == HDR_MAGIC;
}

static bool is_pow2(uint64_t x)
{
    return x && !(x & (x - 1));
}

/* Checks the header and chooses the load addresses. */
static bool linux_parse_header(Machine *m, const char *name,
                               const uint8_t *image, size_t len,
                               LinuxLayout *lay, GError **errp)
{
    uint64_t ram_top = MIN(m->below_4g_size, PC_4G);
    unsigned setup_sects;
    uint64_t syssize, pref_address, init_size, need, runtime_start;
    uint32_t alignment;

    if (!x86_linux_probe(image, len) || len < HDR_VERSION + 2) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: no Linux setup header (\"HdrS\" at offset 0x%x), "
                    "or file truncated in it", name, HDR_HEADER);
        return false;
    }
    lay->version = boot_ld16(image + HDR_VERSION);
    if (lay->version < 0x206) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_UNSUPPORTED,
                    "%s: Linux boot protocol %u.%02u is too old: lemu "
                    "needs 2.06 or later (Linux 2.6.22+)", name,
                    lay->version >> 8, lay->version & 0xff);
        return false;
    }
    setup_sects = image[HDR_SETUP_SECTS] ? image[HDR_SETUP_SECTS] : 4;
    lay->setup_size = (size_t)(setup_sects + 1) * SECTOR_SIZE;
    if (lay->setup_size >= len) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: truncated: setup_sects %u means %zu bytes of "
                    "setup code, but the file has only %zu bytes", name,
                    setup_sects, lay->setup_size, len);
        return false;
    }
    /* From here on, every header field (all below 0x300) is in the file:
     * the setup code is at least 5 sectors. */
    if (!(image[HDR_LOADFLAGS] & LOADED_HIGH)) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_UNSUPPORTED,
                    "%s: zImage kernels (loaded low) are not supported: "
                    "give a bzImage", name);
        return false;
    }
    /* syssize counts 16-byte paragraphs, so it may round the payload up
     * by up to 15 bytes (memtest86+ does): load what the file has. */
    syssize = boot_ld32(image + HDR_SYSSIZE);
    lay->prot_size = MIN((uint64_t)syssize * 16, len - lay->setup_size);
    if (syssize == 0 || (uint64_t)syssize * 16 > len - lay->setup_size + 15) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: truncated or bad syssize: the header says the "
                    "kernel is %" G_GUINT64_FORMAT " bytes, the file has %zu "
                    "after the setup code", name, (uint64_t)syssize * 16,
                    len - lay->setup_size);
        return false;
    }

    alignment = boot_ld32(image + HDR_KERNEL_ALIGNMENT);
    pref_address = PC_HIGH_RAM_START;
    init_size = 0;
    if (lay->version >= 0x20a) {
        pref_address = boot_ld64(image + HDR_PREF_ADDRESS);
        init_size = boot_ld32(image + HDR_INIT_SIZE);
    }
    lay->load_addr = PC_HIGH_RAM_START;
    if (image[HDR_RELOCATABLE]) {
        if (!is_pow2(alignment) || alignment > (1u << 30)) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "%s: bad kernel_alignment 0x%x: expected a power "
                        "of two up to 1 GiB", name, alignment);
            return false;
        }
        if (pref_address > PC_HIGH_RAM_START && pref_address < ram_top) {
            lay->load_addr = (pref_address + alignment - 1) &
                             ~(uint64_t)(alignment - 1);
        }
    }
    /* A kernel loaded below its preferred address still decompresses
     * there (LOAD_PHYSICAL_ADDR), so it needs init_size bytes from the
     * higher of the two. */
    need = MAX(lay->prot_size, init_size);
    runtime_start = MAX(lay->load_addr, MIN(pref_address, PC_4G));
    lay->kernel_end = runtime_start + need;
    if (lay->kernel_end > ram_top) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: the kernel needs 0x%" G_GINT64_MODIFIER "x bytes "
                    "(init_size) from 0x%" G_GINT64_MODIFIER "x, but RAM "
                    "below 4 GiB ends at 0x%" G_GINT64_MODIFIER "x: give "
                    "the guest more memory", name, need, runtime_start,
                    ram_top);
        return false;
    }

    lay->cmdline_size = boot_ld32(image + HDR_CMDLINE_SIZE);
    lay->initrd_max_end = boot_ld32(image + HDR_INITRD_ADDR_MAX);
    if (lay->initrd_max_end == 0) {
        lay->initrd_max_end = INITRD_ADDR_MAX_DEFAULT;
    }
    lay->initrd_max_end = MIN(lay->initrd_max_end + 1, ram_top);
    lay->entry64 = lay->version >= 0x20c &&
                   (boot_ld16(image + HDR_XLOADFLAGS) & XLF_KERNEL_64);
    return true;
}

/* Identity map of the first 4 GiB with 2 MiB pages. */
static void linux_build_page_tables(uint8_t *pt)
{
    uint8_t *pml4 = pt, *pdpt = pt + 0x1000, *pd = pt + 0x2000;

    boot_st64(pml4, (LINUX_PAGE_TABLES + 0x1000) | PTE_PRESENT | PTE_WRITE);
    for (int i = 0; i < 4; i++) {
        boot_st64(pdpt + i * 8, (LINUX_PAGE_TABLES + 0x2000 + i * 0x1000) |
                                PTE_PRESENT | PTE_WRITE);
    }
    for (uint64_t i = 0; i < 4 * 512; i++) {
        boot_st64(pd + i * 8, (i << 21) | PTE_PRESENT | PTE_WRITE | PTE_PS);
    }
}

static void linux_build_zero_page(Machine *m, const uint8_t *image,
                                  const LinuxLayout *lay, uint64_t initrd_addr,
                                  uint64_t initrd_size, uint8_t *zp)
{
    /* The setup header ends at 0x202 + the jump offset at 0x201. */
    size_t hdr_end = MIN((size_t)HDR_JUMP + 2 + image[HDR_JUMP + 1],
                         lay->setup_size);
    E820Entry e820[BP_E820_MAX];
    unsigned n;

    memcpy(zp + HDR_START, image + HDR_START, hdr_end - HDR_START);
    zp[HDR_TYPE_OF_LOADER] = LOADER_TYPE_UNKNOWN;
    boot_st32(zp + HDR_CODE32_START, lay->load_addr);
    boot_st32(zp + HDR_CMD_LINE_PTR, LINUX_CMDLINE);
    boot_st32(zp + BP_EXT_CMD_LINE_PTR, LINUX_CMDLINE >> 32);
    boot_st32(zp + HDR_RAMDISK_IMAGE, initrd_addr);
    boot_st32(zp + BP_EXT_RAMDISK_IMAGE, initrd_addr >> 32);
    boot_st32(zp + HDR_RAMDISK_SIZE, initrd_size);
    boot_st32(zp + BP_EXT_RAMDISK_SIZE, initrd_size >> 32);

    n = x86_build_e820(m, e820, BP_E820_MAX);
    zp[BP_E820_ENTRIES] = n;
    for (unsigned i = 0; i < n; i++) {
        uint8_t *e = zp + BP_E820_TABLE + i * sizeof(E820Entry);
        boot_st64(e, e820[i].addr);
        boot_st64(e + 8, e820[i].size);
        boot_st32(e + 16, e820[i].type);
    }
}

bool x86_linux_load(Machine *m, const char *kernel_name,
                    const uint8_t *image, size_t len,
                    const char *initrd, const char *cmdline, GError **errp)
{
    LinuxLayout lay;
    g_autoptr(GBytes) initrd_bytes = NULL;
    const uint8_t *initrd_data = NULL;
    size_t initrd_size = 0, cmdline_len;
    uint64_t initrd_addr = 0;
    g_autofree uint8_t *zp = NULL;
    g_autofree uint8_t *pt = NULL;
    X86CPUState *st = &m->boot_state[0];

    if (!linux_parse_header(m, kernel_name, image, len, &lay, errp)) {
        return false;
    }

    cmdline = cmdline ? cmdline : "";
    cmdline_len = strlen(cmdline);
    if (cmdline_len > lay.cmdline_size || cmdline_len >= LINUX_CMDLINE_MAX) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: the kernel command line (-append) is %zu bytes, "
                    "but the kernel accepts at most %" G_GUINT64_FORMAT,
                    kernel_name, cmdline_len,
                    (uint64_t)MIN(lay.cmdline_size, LINUX_CMDLINE_MAX - 1));
        return false;
    }

    if (initrd) {
        initrd_bytes = x86_boot_read_file(m, "initrd", initrd, errp);
        if (!initrd_bytes) {
            return false;
        }
        initrd_data = g_bytes_get_data(initrd_bytes, &initrd_size);
    }
    if (initrd_size) {
        if (initrd_size > lay.initrd_max_end ||
            ((lay.initrd_max_end - initrd_size) & ~0xfffULL) <
                lay.kernel_end) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "initrd '%s' (%zu bytes) does not fit between the "
                        "kernel end (0x%" G_GINT64_MODIFIER "x) and its "
                        "highest allowed address (0x%" G_GINT64_MODIFIER
                        "x): give the guest more memory", initrd,
                        initrd_size, lay.kernel_end, lay.initrd_max_end);
            return false;
        }
        initrd_addr = (lay.initrd_max_end - initrd_size) & ~0xfffULL;
    }

    zp = g_malloc0(LINUX_ZERO_PAGE_SIZE);
    linux_build_zero_page(m, image, &lay, initrd_addr, initrd_size, zp);

    if (!machine_add_rom_blob(m, kernel_name, lay.load_addr,
                              image + lay.setup_size, lay.prot_size, errp) ||
        (initrd_size &&
         !machine_add_rom_blob(m, initrd, initrd_addr, initrd_data,
                               initrd_size, errp)) ||
        !machine_add_rom_blob(m, "linux zero page", LINUX_ZERO_PAGE, zp,
                              LINUX_ZERO_PAGE_SIZE, errp) ||
        !machine_add_rom_blob(m, "linux command line", LINUX_CMDLINE,
                              cmdline, cmdline_len + 1, errp)) {
        return false;
    }

    x86_cpu_state_reset(st, true);
    if (lay.entry64) {
        pt = g_malloc0(LINUX_PAGE_TABLES_SIZE);
        linux_build_page_tables(pt);
        if (!machine_add_rom_blob(m, "linux page tables", LINUX_PAGE_TABLES,
                                  pt, LINUX_PAGE_TABLES_SIZE, errp)) {
            return false;
        }
        /* startup_64 lies 0x200 bytes into the protected-mode kernel. */
        x86_cpu_state_set_long_mode(st, lay.load_addr + 0x200,
                                    LINUX_PAGE_TABLES);
    } else {
        x86_cpu_state_set_flat32(st, lay.load_addr);
    }
    if (!x86_boot_add_gdt(m, lay.entry64, st, errp)) {
        return false;
    }
    /* The protocol wants ESI/RSI = zero page, EBP = EDI = EBX = 0. */
    memset(st->regs, 0, sizeof(st->regs));
    st->regs[R_ESI] = LINUX_ZERO_PAGE;
    m->has_boot_state[0] = true;
    return true;
}
