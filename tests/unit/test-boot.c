/*
 * Boot loaders: e820 map, CPU entry states, the Linux boot protocol,
 * multiboot and -device loader, on synthetic images built here.
 */
#include <elf.h>
#include <string.h>
#include <unistd.h>
#include <glib/gstdio.h>
#include "fixture.h"
#include "lemu/accel/x86-cpu.h"
#include "lemu/hw/i386/boot.h"
#include "lemu/hw/i386/pc.h"
#include "lemu/hw/qdev.h"
#include "lemu/util/log.h"

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

/* ---- helpers ---- */

/* A fixture machine with @ram_size bytes of RAM mapped from 0. */
static Machine *boot_machine_new(uint64_t ram_size)
{
    Machine *m = fixture_machine_new();
    GError *err = NULL;

    m->ram = g_malloc0(ram_size);
    g_assert_nonnull(memory_map_add_ram(m->mem, "ram", 0, ram_size, m->ram,
                                        &err));
    g_assert_no_error(err);
    m->ram_size = ram_size;
    m->below_4g_size = ram_size;
    return m;
}

static void boot_machine_free(Machine *m)
{
    uint8_t *ram = m->ram;

    fixture_machine_free(m);
    g_free(ram);
}

/* Copies the ROM blobs into RAM as a reset does, over RAM filled with
 * 0xcc so that zeroed bss is visible. */
static void apply_blobs(Machine *m)
{
    memset(m->ram, 0xcc, m->ram_size);
    for (guint i = 0; i < m->rom_blobs->len; i++) {
        RomBlob *b = g_ptr_array_index(m->rom_blobs, i);
        size_t len;
        const void *data = g_bytes_get_data(b->data, &len);

        g_assert_cmpuint(b->addr + len, <=, m->ram_size);
        memcpy(m->ram + b->addr, data, len);
    }
}

static const RomBlob *find_blob(Machine *m, uint64_t addr)
{
    for (guint i = 0; i < m->rom_blobs->len; i++) {
        RomBlob *b = g_ptr_array_index(m->rom_blobs, i);
        if (b->addr == addr) {
            return b;
        }
    }
    return NULL;
}

static uint32_t ram32(Machine *m, uint64_t addr)
{
    return boot_ld32(m->ram + addr);
}

static uint64_t ram64(Machine *m, uint64_t addr)
{
    return boot_ld64(m->ram + addr);
}

static char *write_temp(const void *data, size_t len)
{
    GError *err = NULL;
    char *path = NULL;
    int fd = g_file_open_tmp("lemu-test-boot-XXXXXX", &path, &err);

    g_assert_no_error(err);
    g_assert_cmpint(write(fd, data, len), ==, (ssize_t)len);
    close(fd);
    return path;
}

static void remove_temp(char *path)
{
    g_unlink(path);
    g_free(path);
}

static void assert_error(GError *err, const char *part1, const char *part2)
{
    g_assert_nonnull(err);
    if (!strstr(err->message, part1) || (part2 && !strstr(err->message,
                                                          part2))) {
        g_error("error '%s' lacks '%s'/'%s'", err->message, part1,
                part2 ? part2 : "");
    }
}

/* ---- e820 ---- */

static unsigned e820_for(uint64_t below, uint64_t above, E820Entry *e)
{
    Machine *m = fixture_machine_new();
    unsigned n;

    m->below_4g_size = below;
    m->above_4g_size = above;
    n = x86_build_e820(m, e, 16);
    fixture_machine_free(m);
    return n;
}

static void check_e820(const E820Entry *e, uint64_t addr, uint64_t size,
                       uint32_t type)
{
    g_assert_cmphex(e->addr, ==, addr);
    g_assert_cmphex(e->size, ==, size);
    g_assert_cmpuint(e->type, ==, type);
}

static void check_e820_low(const E820Entry *e)
{
    check_e820(&e[0], 0, 0x9fc00, E820_RAM);
    check_e820(&e[1], 0x9fc00, 0x400, E820_RESERVED);
    check_e820(&e[2], 0xf0000, 0x10000, E820_RESERVED);
}

static void test_e820_128m(void)
{
    E820Entry e[16];

    g_assert_cmpuint(e820_for(128 * MiB, 0, e), ==, 4);
    check_e820_low(e);
    check_e820(&e[3], MiB, 127 * MiB, E820_RAM);
}

static void test_e820_split(void)
{
    E820Entry e[16];

    /* -m 3.5G: 3 GiB below the PCI hole, the rest above 4 GiB */
    g_assert_cmpuint(e820_for(PC_MAX_BELOW_4G, 512 * MiB, e), ==, 5);
    check_e820_low(e);
    check_e820(&e[3], MiB, PC_MAX_BELOW_4G - MiB, E820_RAM);
    check_e820(&e[4], PC_4G, 512 * MiB, E820_RAM);

    g_assert_cmpuint(e820_for(PC_MAX_BELOW_4G, 2 * GiB, e), ==, 5);
    check_e820(&e[4], PC_4G, 2 * GiB, E820_RAM);
}

static void test_e820_rom_and_limit(void)
{
    Machine *m = fixture_machine_new();
    static uint8_t bios[0x40000];
    E820Entry e[16];

    m->below_4g_size = 128 * MiB;
    g_assert_nonnull(memory_map_add_rom(m->mem, "bios", 0xfffc0000,
                                        sizeof(bios), bios, NULL));
    g_assert_cmpuint(x86_build_e820(m, e, 16), ==, 5);
    check_e820(&e[4], 0xfffc0000, 0x40000, E820_RESERVED);
    /* a short table gets the first entries */
    g_assert_cmpuint(x86_build_e820(m, e, 2), ==, 2);
    check_e820(&e[1], 0x9fc00, 0x400, E820_RESERVED);
    fixture_machine_free(m);
}

/* ---- CPU states ---- */

static void test_cpu_reset_state(void)
{
    X86CPUState st;

    x86_cpu_state_reset(&st, true);
    g_assert_cmphex(st.cr0, ==, 0x60000010);
    g_assert_cmphex(st.rip, ==, 0xfff0);
    g_assert_cmphex(st.rflags, ==, 2);
    g_assert_cmphex(st.segs[SEG_CS].selector, ==, 0xf000);
    g_assert_cmphex(st.segs[SEG_CS].base, ==, 0xffff0000);
    g_assert_cmphex(st.segs[SEG_CS].limit, ==, 0xffff);
    g_assert_cmpuint(st.segs[SEG_CS].type, ==, 0xb);
    g_assert_cmpuint(st.segs[SEG_DS].type, ==, 0x3);
    g_assert_true(st.segs[SEG_SS].present && st.segs[SEG_SS].s);
    g_assert_cmpuint(st.tr.type, ==, 0xb);
    g_assert_true(st.tr.present);
    g_assert_cmphex(st.apic_base, ==, 0xfee00000 | MSR_APIC_BASE_ENABLE |
                                      MSR_APIC_BASE_BSP);
    g_assert_cmpint(st.mp_state, ==, X86_MP_RUNNABLE);

    x86_cpu_state_reset(&st, false);
    g_assert_cmphex(st.apic_base, ==, 0xfee00000 | MSR_APIC_BASE_ENABLE);
    g_assert_cmpint(st.mp_state, ==, X86_MP_WAIT_FOR_SIPI);

    x86_cpu_state_set_real_mode(&st, 0x12345);
    g_assert_cmphex(st.segs[SEG_CS].selector, ==, 0x1000);
    g_assert_cmphex(st.segs[SEG_CS].base, ==, 0x10000);
    g_assert_cmphex(st.rip, ==, 0x2345);
    x86_cpu_state_set_real_mode(&st, 0xfffffff0);
    g_assert_cmphex(st.segs[SEG_CS].base + st.rip, ==, 0xfffffff0);
}

/* ---- Linux boot protocol ---- */

#define BZ_PAYLOAD   0x4000
#define BZ_PREF      (16 * MiB)
#define BZ_INIT_SIZE (8 * MiB)

typedef struct BzImage {
    uint8_t *data;
    size_t len;
} BzImage;

static BzImage make_bzimage(uint16_t version, bool kernel64,
                            unsigned setup_sects)
{
    unsigned sects = setup_sects ? setup_sects : 4;
    size_t setup = (sects + 1) * 512;
    BzImage bz = { .len = setup + BZ_PAYLOAD };
    uint8_t *p = bz.data = g_malloc0(bz.len);

    p[0x1f1] = setup_sects;
    boot_st32(p + 0x1f4, BZ_PAYLOAD / 16);        /* syssize */
    boot_st16(p + 0x1fa, 0xffff);                 /* vid_mode */
    boot_st16(p + 0x1fe, 0xaa55);
    p[0x200] = 0xeb;
    p[0x201] = 0x6a;                              /* header ends at 0x26c */
    memcpy(p + 0x202, "HdrS", 4);
    boot_st16(p + 0x206, version);
    p[0x211] = 0x01;                              /* LOADED_HIGH */
    boot_st32(p + 0x214, 0x100000);
    boot_st32(p + 0x22c, 0x7fffffff);             /* initrd_addr_max */
    boot_st32(p + 0x230, 0x200000);               /* kernel_alignment */
    p[0x234] = 1;                                 /* relocatable */
    p[0x235] = 21;
    boot_st16(p + 0x236, kernel64 ? 0x3 : 0);     /* xloadflags */
    boot_st32(p + 0x238, 2047);                   /* cmdline_size */
    boot_st64(p + 0x258, BZ_PREF);
    boot_st32(p + 0x260, BZ_INIT_SIZE);
    p[0x26c] = 0x77;                              /* not header */
    for (size_t i = setup; i < bz.len; i++) {
        p[i] = (uint8_t)(i * 7);
    }
    return bz;
}

/* Follows the guest's 4-level page tables in RAM. */
static uint64_t walk_page_tables(Machine *m, uint64_t cr3, uint64_t va)
{
    uint64_t pml4e = ram64(m, (cr3 & ~0xfffULL) + ((va >> 39) & 511) * 8);
    uint64_t pdpte, pde;

    g_assert_true(pml4e & 1);
    pdpte = ram64(m, (pml4e & 0xffffffffff000ULL) + ((va >> 30) & 511) * 8);
    g_assert_true(pdpte & 1);
    pde = ram64(m, (pdpte & 0xffffffffff000ULL) + ((va >> 21) & 511) * 8);
    g_assert_true((pde & 1) && (pde & 0x80));
    return (pde & 0xfffffffe00000ULL) | (va & 0x1fffff);
}

static void test_linux_64bit(void)
{
    Machine *m = boot_machine_new(64 * MiB);
    BzImage bz = make_bzimage(0x20f, true, 0);
    uint8_t initrd[10000];
    char *initrd_path;
    const char *cmdline = "console=ttyS0 root=/dev/vda";
    const X86CPUState *st = &m->boot_state[0];
    uint64_t zp = 0x7000, rd_addr;
    GError *err = NULL;

    for (size_t i = 0; i < sizeof(initrd); i++) {
        initrd[i] = i ^ 0x5a;
    }
    initrd_path = write_temp(initrd, sizeof(initrd));
    g_assert_true(x86_linux_probe(bz.data, bz.len));
    g_assert_true(x86_linux_load(m, "bzImage", bz.data, bz.len, initrd_path,
                                 cmdline, &err));
    g_assert_no_error(err);
    apply_blobs(m);

    /* setup header copied, loader fields filled in */
    g_assert_cmpmem(m->ram + zp + 0x1f1, 0x210 - 0x1f1,
                    bz.data + 0x1f1, 0x210 - 0x1f1);
    g_assert_cmpmem(m->ram + zp + 0x22c, 0x26c - 0x22c,
                    bz.data + 0x22c, 0x26c - 0x22c);
    g_assert_cmphex(m->ram[zp + 0x26c], ==, 0);   /* past the header */
    g_assert_cmphex(m->ram[zp + 0x210], ==, 0xff);          /* loader */
    g_assert_cmphex(boot_ld16(m->ram + zp + 0x1fa), ==, 0xffff);
    g_assert_cmphex(ram32(m, zp + 0x214), ==, BZ_PREF);      /* code32 */
    g_assert_cmphex(ram32(m, zp + 0x228), ==, 0x20000);
    g_assert_cmpstr((char *)m->ram + ram32(m, zp + 0x228), ==, cmdline);
    g_assert_cmphex(m->ram[zp + 0x1ef], ==, 0);              /* sentinel */

    /* initrd: page aligned, as high as possible below the RAM top */
    rd_addr = ram32(m, zp + 0x218);
    g_assert_cmphex(rd_addr & 0xfff, ==, 0);
    g_assert_cmphex(rd_addr, ==, (64 * MiB - sizeof(initrd)) & ~0xfffULL);
    g_assert_cmpuint(ram32(m, zp + 0x21c), ==, sizeof(initrd));
    g_assert_cmpuint(ram32(m, zp + 0xc0), ==, 0);
    g_assert_cmpmem(m->ram + rd_addr, sizeof(initrd), initrd, sizeof(initrd));

    /* e820 */
    g_assert_cmpuint(m->ram[zp + 0x1e8], ==, 4);
    g_assert_cmphex(ram64(m, zp + 0x2d0), ==, 0);
    g_assert_cmphex(ram64(m, zp + 0x2d0 + 8), ==, 0x9fc00);
    g_assert_cmpuint(ram32(m, zp + 0x2d0 + 16), ==, E820_RAM);
    g_assert_cmphex(ram64(m, zp + 0x2d0 + 3 * 20), ==, MiB);
    g_assert_cmphex(ram64(m, zp + 0x2d0 + 3 * 20 + 8), ==, 63 * MiB);

    /* kernel at pref_address */
    g_assert_cmpmem(m->ram + BZ_PREF, BZ_PAYLOAD, bz.data + 5 * 512,
                    BZ_PAYLOAD);

    /* 64-bit entry state */
    g_assert_true(m->has_boot_state[0]);
    g_assert_cmphex(st->rip, ==, BZ_PREF + 0x200);
    g_assert_cmphex(st->regs[R_ESI], ==, zp);
    g_assert_cmphex(st->regs[R_EBX] | st->regs[R_EBP] | st->regs[R_EDI],
                    ==, 0);
    g_assert_true(st->cr0 & CR0_PG);
    g_assert_true(st->cr0 & CR0_PE);
    g_assert_true(st->cr4 & CR4_PAE);
    g_assert_cmphex(st->efer & (EFER_LME | EFER_LMA), ==,
                    EFER_LME | EFER_LMA);
    g_assert_false(st->rflags & RFLAGS_IF);
    g_assert_cmphex(st->segs[SEG_CS].selector, ==, 0x10);
    g_assert_true(st->segs[SEG_CS].l);
    g_assert_cmphex(st->segs[SEG_DS].selector, ==, 0x18);
    g_assert_cmphex(st->segs[SEG_SS].selector, ==, 0x18);
    g_assert_cmphex(st->gdt.base, ==, X86_BOOT_GDT_ADDR);
    g_assert_cmphex(ram64(m, X86_BOOT_GDT_ADDR + 0x10), ==,
                    0x00af9b000000ffffULL);
    g_assert_cmphex(ram64(m, X86_BOOT_GDT_ADDR + 0x18), ==,
                    0x00cf93000000ffffULL);
    /* identity mapping of everything the kernel touches, and of 4 GiB */
    g_assert_cmphex(walk_page_tables(m, st->cr3, st->rip), ==, st->rip);
    g_assert_cmphex(walk_page_tables(m, st->cr3, zp), ==, zp);
    g_assert_cmphex(walk_page_tables(m, st->cr3, 0xfffff123), ==,
                    0xfffff123);

    remove_temp(initrd_path);
    g_free(bz.data);
    boot_machine_free(m);
}

static void test_linux_32bit(void)
{
    Machine *m = boot_machine_new(64 * MiB);
    BzImage bz = make_bzimage(0x206, false, 0);   /* no pref_address */
    const X86CPUState *st = &m->boot_state[0];
    GError *err = NULL;

    g_assert_true(x86_linux_load(m, "bzImage", bz.data, bz.len, NULL, NULL,
                                 &err));
    g_assert_no_error(err);
    apply_blobs(m);
    g_assert_cmpmem(m->ram + MiB, BZ_PAYLOAD, bz.data + 5 * 512, BZ_PAYLOAD);
    g_assert_cmphex(st->rip, ==, MiB);
    g_assert_cmphex(st->regs[R_ESI], ==, 0x7000);
    g_assert_false(st->cr0 & CR0_PG);
    g_assert_true(st->cr0 & CR0_PE);
    g_assert_cmphex(st->efer, ==, 0);
    g_assert_false(st->segs[SEG_CS].l);
    g_assert_true(st->segs[SEG_CS].db);
    g_assert_cmphex(st->segs[SEG_CS].limit, ==, 0xffffffff);
    g_assert_cmphex(ram64(m, X86_BOOT_GDT_ADDR + 0x10), ==,
                    0x00cf9b000000ffffULL);
    g_assert_null(find_blob(m, 0x9000));           /* no page tables */
    g_assert_cmpuint(ram32(m, 0x7000 + 0x218), ==, 0);  /* no initrd */
    g_assert_cmpstr((char *)m->ram + 0x20000, ==, "");
    g_free(bz.data);
    boot_machine_free(m);
}

static GError *linux_load_error(uint64_t ram, BzImage *bz, const char *initrd,
                                const char *cmdline)
{
    Machine *m = boot_machine_new(ram);
    GError *err = NULL;

    g_assert_false(x86_linux_load(m, "vmlinuz-test", bz->data, bz->len,
                                  initrd, cmdline, &err));
    g_assert_false(m->has_boot_state[0]);
    boot_machine_free(m);
    return err;
}

static void test_linux_bad_headers(void)
{
    BzImage bz;
    GError *err;

    /* protocol too old */
    bz = make_bzimage(0x205, true, 0);
    err = linux_load_error(64 * MiB, &bz, NULL, NULL);
    assert_error(err, "vmlinuz-test", "2.05 is too old");
    g_error_free(err);
    g_free(bz.data);

    /* zImage */
    bz = make_bzimage(0x20f, true, 0);
    bz.data[0x211] = 0;
    err = linux_load_error(64 * MiB, &bz, NULL, NULL);
    assert_error(err, "vmlinuz-test", "zImage");
    g_error_free(err);

    /* setup_sects beyond the end of the file */
    bz.data[0x211] = 1;
    bz.data[0x1f1] = 60;
    err = linux_load_error(64 * MiB, &bz, NULL, NULL);
    assert_error(err, "vmlinuz-test: truncated", "setup_sects 60");
    g_error_free(err);
    bz.data[0x1f1] = 0;

    /* file cut inside the payload */
    bz.len -= 100;
    err = linux_load_error(64 * MiB, &bz, NULL, NULL);
    assert_error(err, "vmlinuz-test", "syssize");
    g_error_free(err);

    /* file cut inside the header */
    bz.len = 0x204;
    g_assert_false(x86_linux_probe(bz.data, bz.len));
    err = linux_load_error(64 * MiB, &bz, NULL, NULL);
    assert_error(err, "vmlinuz-test", "HdrS");
    g_error_free(err);
    bz.len = 0x207;
    err = linux_load_error(64 * MiB, &bz, NULL, NULL);
    assert_error(err, "vmlinuz-test", "truncated");
    g_error_free(err);
    g_free(bz.data);

    /* garbage */
    bz.len = 4096;
    bz.data = g_malloc(bz.len);
    memset(bz.data, 0x90, bz.len);
    g_assert_false(x86_linux_probe(bz.data, bz.len));
    g_assert_false(x86_multiboot_probe(bz.data, bz.len));
    g_free(bz.data);
}

static void test_linux_limits(void)
{
    BzImage bz = make_bzimage(0x20f, true, 0);
    Machine *m;
    GError *err = NULL;
    char *long_cmdline;
    char *initrd_path;
    static uint8_t initrd[3 * 4096];

    /* command line: cmdline_size bytes fit, one more does not */
    boot_st32(bz.data + 0x238, 16);
    long_cmdline = g_strnfill(17, 'x');
    err = linux_load_error(64 * MiB, &bz, NULL, long_cmdline);
    assert_error(err, "-append", "at most 16");
    g_clear_error(&err);
    long_cmdline[16] = '\0';
    m = boot_machine_new(64 * MiB);
    g_assert_true(x86_linux_load(m, "k", bz.data, bz.len, NULL,
                                 long_cmdline, &err));
    g_assert_no_error(err);
    boot_machine_free(m);
    g_free(long_cmdline);

    /* kernel (pref_address + init_size) larger than RAM */
    err = linux_load_error(20 * MiB, &bz, NULL, NULL);
    assert_error(err, "vmlinuz-test", "more memory");
    g_clear_error(&err);

    /* initrd limited by initrd_addr_max */
    initrd_path = write_temp(initrd, sizeof(initrd));
    boot_st32(bz.data + 0x22c, 0x2ffffff);
    m = boot_machine_new(64 * MiB);
    g_assert_true(x86_linux_load(m, "k", bz.data, bz.len, initrd_path, NULL,
                                 &err));
    g_assert_no_error(err);
    g_assert_nonnull(find_blob(m, 48 * MiB - sizeof(initrd)));
    boot_machine_free(m);

    /* ... and not fitting between the kernel and that limit */
    boot_st32(bz.data + 0x22c, BZ_PREF + BZ_INIT_SIZE + 0x1000);
    err = linux_load_error(64 * MiB, &bz, initrd_path, NULL);
    assert_error(err, initrd_path, "does not fit");
    g_clear_error(&err);

    /* missing initrd */
    err = linux_load_error(64 * MiB, &bz, "/nonexistent/initrd.img", NULL);
    assert_error(err, "/nonexistent/initrd.img", NULL);
    g_clear_error(&err);

    remove_temp(initrd_path);
    g_free(bz.data);
}

/* ---- multiboot ---- */

#define MB_MAGIC 0x1badb002u
#define MB_LOAD  0x100000u

static void put_mb_header(uint8_t *h, uint32_t flags)
{
    boot_st32(h, MB_MAGIC);
    boot_st32(h + 4, flags);
    boot_st32(h + 8, -(MB_MAGIC + flags));
}

/* a.out kludge kernel: header at 64, loaded whole at 1 MiB, 4 KiB bss */
static uint8_t *make_aout(size_t *len)
{
    uint8_t *p = g_malloc0(0x2000);

    for (int i = 0; i < 0x2000; i++) {
        p[i] = 0x40 + (i & 15);
    }
    put_mb_header(p + 64, 0x10003);
    boot_st32(p + 64 + 12, MB_LOAD + 64);          /* header_addr */
    boot_st32(p + 64 + 16, MB_LOAD);               /* load_addr */
    boot_st32(p + 64 + 20, 0);                     /* load_end: whole file */
    boot_st32(p + 64 + 24, MB_LOAD + 0x3000);      /* bss_end */
    boot_st32(p + 64 + 28, MB_LOAD + 0x100);       /* entry */
    *len = 0x2000;
    return p;
}

/* ELF32 with one segment linked at 0xc0100000, loaded at 1 MiB; the
 * multiboot header sits in the segment at file offset 0x1000. */
static uint8_t *make_elf(bool elf64, uint32_t paddr, size_t *len)
{
    size_t size = 0x1200;
    uint8_t *p = g_malloc0(size);

    memcpy(p, ELFMAG, SELFMAG);
    p[EI_CLASS] = elf64 ? ELFCLASS64 : ELFCLASS32;
    p[EI_DATA] = ELFDATA2LSB;
    p[EI_VERSION] = EV_CURRENT;
    if (elf64) {
        boot_st16(p + offsetof(Elf64_Ehdr, e_type), ET_EXEC);
        boot_st16(p + offsetof(Elf64_Ehdr, e_machine), EM_X86_64);
        boot_st64(p + offsetof(Elf64_Ehdr, e_entry), 0xc0100010);
        boot_st64(p + offsetof(Elf64_Ehdr, e_phoff), 64);
        boot_st16(p + offsetof(Elf64_Ehdr, e_phentsize), sizeof(Elf64_Phdr));
        boot_st16(p + offsetof(Elf64_Ehdr, e_phnum), 1);
        uint8_t *ph = p + 64;
        boot_st32(ph + offsetof(Elf64_Phdr, p_type), PT_LOAD);
        boot_st64(ph + offsetof(Elf64_Phdr, p_offset), 0x1000);
        boot_st64(ph + offsetof(Elf64_Phdr, p_vaddr), 0xc0100000);
        boot_st64(ph + offsetof(Elf64_Phdr, p_paddr), paddr);
        boot_st64(ph + offsetof(Elf64_Phdr, p_filesz), 0x200);
        boot_st64(ph + offsetof(Elf64_Phdr, p_memsz), 0x1000);
    } else {
        boot_st16(p + offsetof(Elf32_Ehdr, e_type), ET_EXEC);
        boot_st16(p + offsetof(Elf32_Ehdr, e_machine), EM_386);
        boot_st32(p + offsetof(Elf32_Ehdr, e_entry), 0xc0100010);
        boot_st32(p + offsetof(Elf32_Ehdr, e_phoff), 52);
        boot_st16(p + offsetof(Elf32_Ehdr, e_phentsize), sizeof(Elf32_Phdr));
        boot_st16(p + offsetof(Elf32_Ehdr, e_phnum), 1);
        uint8_t *ph = p + 52;
        boot_st32(ph + offsetof(Elf32_Phdr, p_type), PT_LOAD);
        boot_st32(ph + offsetof(Elf32_Phdr, p_offset), 0x1000);
        boot_st32(ph + offsetof(Elf32_Phdr, p_vaddr), 0xc0100000);
        boot_st32(ph + offsetof(Elf32_Phdr, p_paddr), paddr);
        boot_st32(ph + offsetof(Elf32_Phdr, p_filesz), 0x200);
        boot_st32(ph + offsetof(Elf32_Phdr, p_memsz), 0x1000);
    }
    for (int i = 0x1000; i < 0x1200; i++) {
        p[i] = 0xa0 + (i & 15);
    }
    put_mb_header(p + 0x1000, 0x3);
    *len = size;
    return p;
}

static void check_mb_entry(Machine *m, uint32_t entry)
{
    const X86CPUState *st = &m->boot_state[0];

    g_assert_true(m->has_boot_state[0]);
    g_assert_cmphex(st->rip, ==, entry);
    g_assert_cmphex(st->regs[R_EAX], ==, 0x2badb002);
    g_assert_cmphex(st->regs[R_EBX], ==, 0x9000);
    g_assert_true(st->cr0 & CR0_PE);
    g_assert_false(st->cr0 & CR0_PG);
    g_assert_true(st->segs[SEG_CS].db);
    g_assert_cmphex(st->segs[SEG_CS].limit, ==, 0xffffffff);
    g_assert_false(st->rflags & RFLAGS_IF);
}

static void test_multiboot_aout(void)
{
    Machine *m = boot_machine_new(32 * MiB);
    static const char mod1[] = "first module";
    static uint8_t mod2[5000];
    char *p1 = write_temp(mod1, sizeof(mod1));
    char *p2 = write_temp(mod2, sizeof(mod2));
    g_autofree char *list = g_strdup_printf("%s arg1,,x y,%s", p1, p2);
    g_autofree char *str1 = g_strdup_printf("%s arg1,x y", p1);
    size_t len;
    uint8_t *k = make_aout(&len);
    GError *err = NULL;
    uint32_t info = 0x9000, mods, mmap;

    g_assert_true(x86_multiboot_probe(k, len));
    g_assert_false(x86_linux_probe(k, len));
    g_assert_true(x86_multiboot_load(m, "/boot/kernel.bin", k, len, list,
                                     "foo=bar", &err));
    g_assert_no_error(err);
    apply_blobs(m);
    check_mb_entry(m, MB_LOAD + 0x100);

    /* image and zeroed bss */
    g_assert_cmpmem(m->ram + MB_LOAD, len, k, len);
    for (uint32_t a = MB_LOAD + len; a < MB_LOAD + 0x3000; a++) {
        g_assert_cmpuint(m->ram[a], ==, 0);
    }

    g_assert_cmphex(ram32(m, info), ==, (1 << 0) | (1 << 2) | (1 << 3) |
                                        (1 << 6) | (1 << 9));
    g_assert_cmpuint(ram32(m, info + 4), ==, 639);          /* no EBDA */
    g_assert_cmpuint(ram32(m, info + 8), ==, 31 * 1024);
    g_assert_cmpstr((char *)m->ram + ram32(m, info + 16), ==,
                    "/boot/kernel.bin foo=bar");
    g_assert_cmpstr((char *)m->ram + ram32(m, info + 64), ==, "lemu");

    /* modules: page aligned, above the kernel's bss, with their strings */
    g_assert_cmpuint(ram32(m, info + 20), ==, 2);
    mods = ram32(m, info + 24);
    g_assert_cmphex(ram32(m, mods), ==, MB_LOAD + 0x3000);
    g_assert_cmphex(ram32(m, mods + 4), ==, MB_LOAD + 0x3000 + sizeof(mod1));
    g_assert_cmpstr((char *)m->ram + ram32(m, mods), ==, mod1);
    g_assert_cmpstr((char *)m->ram + ram32(m, mods + 8), ==, str1);
    g_assert_cmphex(ram32(m, mods + 16), ==, MB_LOAD + 0x4000);
    g_assert_cmphex(ram32(m, mods + 20), ==, MB_LOAD + 0x4000 + sizeof(mod2));
    g_assert_cmpmem(m->ram + MB_LOAD + 0x4000, sizeof(mod2), mod2,
                    sizeof(mod2));
    g_assert_cmpstr((char *)m->ram + ram32(m, mods + 24), ==, p2);

    /* memory map: the e820 entries with size 20 */
    g_assert_cmpuint(ram32(m, info + 44), ==, 4 * 24);
    mmap = ram32(m, info + 48);
    g_assert_cmpuint(ram32(m, mmap), ==, 20);
    g_assert_cmphex(ram64(m, mmap + 4), ==, 0);
    g_assert_cmphex(ram64(m, mmap + 12), ==, 0x9fc00);
    g_assert_cmpuint(ram32(m, mmap + 20), ==, E820_RAM);
    g_assert_cmphex(ram64(m, mmap + 3 * 24 + 4), ==, MiB);
    g_assert_cmphex(ram64(m, mmap + 3 * 24 + 12), ==, 31 * MiB);

    remove_temp(p1);
    remove_temp(p2);
    g_free(k);
    boot_machine_free(m);
}

static void test_multiboot_elf(void)
{
    Machine *m = boot_machine_new(32 * MiB);
    size_t len;
    uint8_t *k = make_elf(false, MB_LOAD, &len);
    GError *err = NULL;

    g_assert_true(x86_multiboot_probe(k, len));
    g_assert_true(x86_multiboot_load(m, "k.elf", k, len, NULL, NULL, &err));
    g_assert_no_error(err);
    apply_blobs(m);
    /* entry translated from the virtual to the physical address */
    check_mb_entry(m, MB_LOAD + 0x10);
    g_assert_cmpmem(m->ram + MB_LOAD, 0x200, k + 0x1000, 0x200);
    g_assert_cmpuint(m->ram[MB_LOAD + 0x200], ==, 0);
    g_assert_cmpuint(m->ram[MB_LOAD + 0xfff], ==, 0);
    g_assert_cmpuint(ram32(m, 0x9000 + 20), ==, 0);         /* no modules */
    g_assert_cmpstr((char *)m->ram + ram32(m, 0x9000 + 16), ==, "k.elf ");
    g_free(k);
    boot_machine_free(m);
}

static GError *multiboot_error(uint8_t *k, size_t len, const char *mods)
{
    Machine *m = boot_machine_new(32 * MiB);
    GError *err = NULL;

    g_assert_false(x86_multiboot_load(m, "mbk", k, len, mods, NULL, &err));
    g_assert_false(m->has_boot_state[0]);
    boot_machine_free(m);
    return err;
}

static void test_multiboot_errors(void)
{
    size_t len;
    uint8_t *k;
    GError *err;

    k = make_elf(true, MB_LOAD, &len);
    err = multiboot_error(k, len, NULL);
    assert_error(err, "mbk", "64-bit");
    g_error_free(err);
    g_free(k);

    k = make_elf(false, 0x10000000, &len);          /* beyond 32 MiB */
    err = multiboot_error(k, len, NULL);
    assert_error(err, "mbk", "does not fit in guest RAM");
    g_error_free(err);
    g_free(k);

    k = make_aout(&len);
    boot_st32(k + 64 + 8, 0);
    err = multiboot_error(k, len, NULL);
    assert_error(err, "mbk", "bad checksum");
    g_error_free(err);

    put_mb_header(k + 64, 0x10003 | (1 << 5));        /* unknown need */
    err = multiboot_error(k, len, NULL);
    assert_error(err, "mbk", "requires features");
    g_error_free(err);

    put_mb_header(k + 64, 0x10003);
    boot_st32(k + 64 + 16, 0x7f00000);               /* load beyond RAM */
    boot_st32(k + 64 + 12, 0x7f00000 + 64);
    boot_st32(k + 64 + 24, 0x7f00000 + 0x3000);
    boot_st32(k + 64 + 28, 0x7f00000 + 0x100);
    err = multiboot_error(k, len, NULL);
    assert_error(err, "mbk", "does not fit in guest RAM");
    g_error_free(err);

    boot_st32(k + 64 + 16, MB_LOAD);                 /* load_end past file */
    boot_st32(k + 64 + 12, MB_LOAD + 64);
    boot_st32(k + 64 + 20, MB_LOAD + 0x4000);
    boot_st32(k + 64 + 24, 0);
    boot_st32(k + 64 + 28, MB_LOAD + 0x100);
    err = multiboot_error(k, len, NULL);
    assert_error(err, "mbk", "load_end_addr");
    g_error_free(err);

    boot_st32(k + 64 + 20, 0);
    err = multiboot_error(k, len, "/nonexistent/module arg");
    assert_error(err, "/nonexistent/module", NULL);
    g_error_free(err);

    g_free(k);

    /* a header past the first 8 KiB does not count */
    k = g_malloc0(12288);
    put_mb_header(k + 8192, 0x3);
    g_assert_false(x86_multiboot_probe(k, 12288));
    put_mb_header(k + 8180, 0x3);
    g_assert_true(x86_multiboot_probe(k, 12288));
    g_free(k);
}

/* ---- x86_load_kernel ---- */

static void test_load_kernel_formats(void)
{
    BzImage bz = make_bzimage(0x20f, true, 0);
    uint8_t garbage[4096];
    size_t elf_len;
    uint8_t *elf = make_elf(false, MB_LOAD, &elf_len);
    char *bz_path = write_temp(bz.data, bz.len);
    char *garbage_path, *elf_path;
    Machine *m;
    GError *err = NULL;

    memset(garbage, 0x90, sizeof(garbage));
    garbage_path = write_temp(garbage, sizeof(garbage));
    memset(elf + 0x1000, 0, 12);                  /* drop the mb header */
    elf_path = write_temp(elf, elf_len);

    m = boot_machine_new(64 * MiB);
    m->cfg.kernel = g_strdup(bz_path);
    m->cfg.append = g_strdup("quiet");
    g_assert_true(x86_load_kernel(m, &err));
    g_assert_no_error(err);
    g_assert_true(m->has_boot_state[0]);
    g_assert_nonnull(find_blob(m, BZ_PREF));
    boot_machine_free(m);

    m = boot_machine_new(64 * MiB);
    m->cfg.kernel = g_strdup(garbage_path);
    g_assert_false(x86_load_kernel(m, &err));
    assert_error(err, garbage_path, "not a Linux bzImage or multiboot");
    g_clear_error(&err);
    g_free(m->cfg.kernel);
    m->cfg.kernel = g_strdup(elf_path);
    g_assert_false(x86_load_kernel(m, &err));
    assert_error(err, elf_path, "PVH");
    g_clear_error(&err);
    g_free(m->cfg.kernel);
    m->cfg.kernel = g_strdup("/nonexistent/vmlinuz");
    g_assert_false(x86_load_kernel(m, &err));
    assert_error(err, "/nonexistent/vmlinuz", NULL);
    g_clear_error(&err);
    g_free(m->cfg.kernel);
    m->cfg.kernel = NULL;
    g_assert_true(x86_load_kernel(m, &err));      /* nothing to load */
    m->cfg.append = g_strdup("x");
    g_assert_false(x86_load_kernel(m, &err));
    assert_error(err, "-kernel", NULL);
    g_clear_error(&err);
    boot_machine_free(m);

    remove_temp(bz_path);
    remove_temp(garbage_path);
    remove_temp(elf_path);
    g_free(elf);
    g_free(bz.data);
}

/* ---- -device loader ---- */

/* A strong reference, so the class is linked in from the library even
 * while hw/device-classes.h declares it weak. */
extern const DeviceClass generic_loader_class;

static void test_loader_class(void)
{
    g_assert_true(device_class_find("loader") == &generic_loader_class);
    g_assert_true(generic_loader_class.user_creatable);
}

static Device *loader_new(Machine *m, const char *const *props, GError **errp)
{
    Device *dev = device_new(m, "loader", errp);

    if (!dev) {
        return NULL;
    }
    for (int i = 0; props[i]; i += 2) {
        g_assert_true(device_set_prop(dev, props[i], props[i + 1], NULL));
    }
    return device_realize(dev, errp) ? dev : NULL;
}

static void test_loader_file_and_cpu(void)
{
    Machine *m = boot_machine_new(16 * MiB);
    static const uint8_t blob[] = { 0xfa, 0xf4, 0xeb, 0xfd };
    char *path = write_temp(blob, sizeof(blob));
    const X86CPUState *st = &m->boot_state[1];
    GError *err = NULL;

    m->cfg.smp = 2;
    g_assert_nonnull(loader_new(m, (const char *const[]) {
        "file", path, "addr", "0x12345", "cpu-num", "1", NULL }, &err));
    g_assert_no_error(err);
    apply_blobs(m);
    g_assert_cmpmem(m->ram + 0x12345, sizeof(blob), blob, sizeof(blob));
    g_assert_true(m->has_boot_state[1]);
    g_assert_false(m->has_boot_state[0]);
    g_assert_cmphex(st->segs[SEG_CS].base + st->rip, ==, 0x12345);
    g_assert_cmphex(st->segs[SEG_CS].selector, ==, 0x1000);
    g_assert_cmpint(st->mp_state, ==, X86_MP_RUNNABLE);   /* an AP */
    g_assert_false(st->apic_base & MSR_APIC_BASE_BSP);
    g_assert_false(st->cr0 & CR0_PE);

    /* data, little- and big-endian */
    g_assert_nonnull(loader_new(m, (const char *const[]) {
        "data", "0x11223344", "data-len", "4", "addr", "0x9000", NULL },
        &err));
    g_assert_nonnull(loader_new(m, (const char *const[]) {
        "data", "0x1122", "data-len", "2", "data-be", "on", "addr", "0x9010",
        NULL }, &err));
    g_assert_no_error(err);
    apply_blobs(m);
    g_assert_cmphex(ram32(m, 0x9000), ==, 0x11223344);
    g_assert_cmphex(m->ram[0x9010], ==, 0x11);
    g_assert_cmphex(m->ram[0x9011], ==, 0x22);

    /* errors */
    g_assert_null(loader_new(m, (const char *const[]) {
        "file", path, "cpu-num", "2", NULL }, &err));
    assert_error(err, "cpu-num 2", NULL);
    g_clear_error(&err);
    g_assert_null(loader_new(m, (const char *const[]) {
        "file", "/nonexistent/blob.bin", NULL }, &err));
    assert_error(err, "/nonexistent/blob.bin", NULL);
    g_clear_error(&err);
    g_assert_null(loader_new(m, (const char *const[]) {
        "file", path, "addr", "0xfffffe", NULL }, &err));
    assert_error(err, path, "do not fit");
    g_clear_error(&err);
    g_assert_null(loader_new(m, (const char *const[]) {
        "data", "1", "data-len", "3", NULL }, &err));
    assert_error(err, "data-len 3", NULL);
    g_clear_error(&err);

    remove_temp(path);
    boot_machine_free(m);
}

static void test_loader_elf(void)
{
    Machine *m = boot_machine_new(16 * MiB);
    size_t len;
    uint8_t *elf = make_elf(true, MB_LOAD, &len);
    char *path = write_temp(elf, len);
    const X86CPUState *st = &m->boot_state[0];
    GError *err = NULL;

    g_assert_nonnull(loader_new(m, (const char *const[]) {
        "file", path, "cpu-num", "0", NULL }, &err));
    g_assert_no_error(err);
    apply_blobs(m);
    g_assert_cmpmem(m->ram + MB_LOAD, 0x200, elf + 0x1000, 0x200);
    g_assert_true(m->has_boot_state[0]);
    g_assert_cmphex(st->segs[SEG_CS].base + st->rip, ==, MB_LOAD + 0x10);
    g_assert_true(st->apic_base & MSR_APIC_BASE_BSP);

    /* force-raw loads the file as it is */
    g_assert_nonnull(loader_new(m, (const char *const[]) {
        "file", path, "addr", "0x400000", "force-raw", "on", NULL }, &err));
    g_assert_no_error(err);
    apply_blobs(m);
    g_assert_cmpmem(m->ram + 0x400000, len, elf, len);

    remove_temp(path);
    g_free(elf);
    boot_machine_free(m);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/boot/e820/128m", test_e820_128m);
    g_test_add_func("/boot/e820/split", test_e820_split);
    g_test_add_func("/boot/e820/rom-and-limit", test_e820_rom_and_limit);
    g_test_add_func("/boot/cpu/reset-state", test_cpu_reset_state);
    g_test_add_func("/boot/linux/64bit", test_linux_64bit);
    g_test_add_func("/boot/linux/32bit", test_linux_32bit);
    g_test_add_func("/boot/linux/bad-headers", test_linux_bad_headers);
    g_test_add_func("/boot/linux/limits", test_linux_limits);
    g_test_add_func("/boot/multiboot/aout", test_multiboot_aout);
    g_test_add_func("/boot/multiboot/elf", test_multiboot_elf);
    g_test_add_func("/boot/multiboot/errors", test_multiboot_errors);
    g_test_add_func("/boot/load-kernel/formats", test_load_kernel_formats);
    g_test_add_func("/boot/loader/class", test_loader_class);
    g_test_add_func("/boot/loader/file-and-cpu", test_loader_file_and_cpu);
    g_test_add_func("/boot/loader/elf", test_loader_elf);
    return g_test_run();
}
