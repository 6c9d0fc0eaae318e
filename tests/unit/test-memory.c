/*
 * Guest memory map, port map and the IoOps access-size dispatcher.
 */
#include <string.h>
#include <glib.h>
#include "lemu/system/memory.h"
#include "lemu/util/log.h"

/* A device that records every callback and keeps 64 bytes of registers. */
typedef struct RecCall {
    bool write;
    uint64_t offset;
    unsigned size;
    uint64_t value;
} RecCall;

typedef struct RecDev {
    uint64_t region_size;
    uint8_t regs[64];
    RecCall calls[64];
    unsigned n;
} RecDev;

static uint64_t rec_read(void *opaque, uint64_t offset, unsigned size)
{
    RecDev *d = opaque;
    uint64_t v = 0;

    /* The dispatcher must never call past the region. */
    g_assert_cmpuint(offset, <, d->region_size);
    g_assert_cmpuint(d->n, <, G_N_ELEMENTS(d->calls));
    for (unsigned i = 0; i < size && offset + i < sizeof(d->regs); i++) {
        v |= (uint64_t)d->regs[offset + i] << (i * 8);
    }
    d->calls[d->n++] = (RecCall){ false, offset, size, v };
    return v;
}

static void rec_write(void *opaque, uint64_t offset, uint64_t value,
                      unsigned size)
{
    RecDev *d = opaque;

    g_assert_cmpuint(offset, <, d->region_size);
    g_assert_cmpuint(d->n, <, G_N_ELEMENTS(d->calls));
    d->calls[d->n++] = (RecCall){ true, offset, size, value };
    for (unsigned i = 0; i < size && offset + i < sizeof(d->regs); i++) {
        d->regs[offset + i] = value >> (i * 8);
    }
}

static const IoOps rec_ops_1_4 = {
    .read = rec_read, .write = rec_write,   /* defaults: 1..4 */
};
static const IoOps rec_ops_1_2 = {
    .read = rec_read, .write = rec_write, .impl_min = 1, .impl_max = 2,
};
static const IoOps rec_ops_4_4 = {
    .read = rec_read, .write = rec_write, .impl_min = 4, .impl_max = 4,
};
static const IoOps rec_ops_1_8 = {
    .read = rec_read, .write = rec_write, .impl_min = 1, .impl_max = 8,
};

static void assert_call(const RecDev *d, unsigned i, bool write,
                        uint64_t offset, unsigned size, uint64_t value)
{
    g_assert_cmpuint(i, <, d->n);
    g_assert_cmpint(d->calls[i].write, ==, write);
    g_assert_cmphex(d->calls[i].offset, ==, offset);
    g_assert_cmpuint(d->calls[i].size, ==, size);
    g_assert_cmphex(d->calls[i].value, ==, value);
}

/* ---- Memory map -------------------------------------------------------- */

static void test_add_overlap(void)
{
    MemoryMap *map = memory_map_new();
    static uint8_t ram[0x4000];
    GError *err = NULL;
    RecDev dev = { .region_size = 0x1000 };

    g_assert_nonnull(memory_map_add_ram(map, "ram-low", 0x1000, 0x1000, ram,
                                        &err));
    g_assert_no_error(err);
    g_assert_nonnull(memory_map_add_ram(map, "ram-high", 0x3000, 0x1000,
                                        ram + 0x1000, &err));

    /* Overlapping the region below. */
    g_assert_null(memory_map_add_mmio(map, "dev", 0x1800, 0x1000,
                                      &rec_ops_1_4, &dev, &err));
    g_assert_error(err, LEMU_ERROR, LEMU_ERROR_INVALID);
    g_assert_nonnull(strstr(err->message, "'dev' [0x1800-0x27ff]"));
    g_assert_nonnull(strstr(err->message, "'ram-low' [0x1000-0x1fff]"));
    g_clear_error(&err);

    /* Overlapping the region above by one byte. */
    g_assert_null(memory_map_add_rom(map, "rom", 0x2000, 0x1001, ram, &err));
    g_assert_nonnull(strstr(err->message, "'rom' [0x2000-0x3000]"));
    g_assert_nonnull(strstr(err->message, "'ram-high' [0x3000-0x3fff]"));
    g_clear_error(&err);

    /* Enclosing an existing region. */
    g_assert_null(memory_map_add_ram(map, "big", 0, 0x10000, ram, &err));
    g_assert_nonnull(strstr(err->message, "'big'"));
    g_clear_error(&err);

    /* Exactly filling the hole between them is fine. */
    g_assert_nonnull(memory_map_add_mmio(map, "dev", 0x2000, 0x1000,
                                         &rec_ops_1_4, &dev, &err));
    g_assert_no_error(err);

    /* Zero size, wrap-around and missing host memory are rejected. */
    g_assert_null(memory_map_add_ram(map, "empty", 0x8000, 0, ram, &err));
    g_assert_error(err, LEMU_ERROR, LEMU_ERROR_INVALID);
    g_clear_error(&err);
    g_assert_null(memory_map_add_ram(map, "wrap", UINT64_MAX - 0xfff,
                                     0x1001, ram, &err));
    g_assert_error(err, LEMU_ERROR, LEMU_ERROR_INVALID);
    g_clear_error(&err);
    g_assert_null(memory_map_add_ram(map, "nohost", 0x8000, 0x1000, NULL,
                                     &err));
    g_assert_error(err, LEMU_ERROR, LEMU_ERROR_INVALID);
    g_clear_error(&err);

    /* Bad access sizes in the ops are a programming error, reported. */
    static const IoOps bad_ops = { .read = rec_read, .impl_min = 3 };
    g_assert_null(memory_map_add_mmio(map, "bad", 0x9000, 0x10, &bad_ops,
                                      &dev, &err));
    g_assert_error(err, LEMU_ERROR, LEMU_ERROR_INVALID);
    g_clear_error(&err);

    /* A region may end exactly at the top of the address space. */
    g_assert_nonnull(memory_map_add_ram(map, "top", UINT64_MAX - 0xfff,
                                        0x1000, ram, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(memory_map_count(map), ==, 4);
    memory_map_free(map);
}

static void test_lookup_edges(void)
{
    MemoryMap *map = memory_map_new();
    static uint8_t ram[0x3000];
    MemoryRegion *a, *b, *c;

    /* Added out of order; the map keeps them sorted. */
    c = memory_map_add_ram(map, "c", 0x5000, 0x1000, ram, NULL);
    a = memory_map_add_ram(map, "a", 0x1000, 0x1000, ram + 0x1000, NULL);
    b = memory_map_add_ram(map, "b", 0x2000, 0x1000, ram + 0x2000, NULL);
    g_assert_nonnull(a);
    g_assert_nonnull(b);
    g_assert_nonnull(c);

    g_assert_cmpuint(memory_map_count(map), ==, 3);
    g_assert_true(memory_map_region_at(map, 0) == a);
    g_assert_true(memory_map_region_at(map, 1) == b);
    g_assert_true(memory_map_region_at(map, 2) == c);
    g_assert_null(memory_map_region_at(map, 3));

    g_assert_null(memory_map_lookup(map, 0));
    g_assert_null(memory_map_lookup(map, 0xfff));
    g_assert_true(memory_map_lookup(map, 0x1000) == a);
    g_assert_true(memory_map_lookup(map, 0x1fff) == a);
    g_assert_true(memory_map_lookup(map, 0x2000) == b);
    g_assert_true(memory_map_lookup(map, 0x2fff) == b);
    g_assert_null(memory_map_lookup(map, 0x3000));
    g_assert_null(memory_map_lookup(map, 0x4fff));
    g_assert_true(memory_map_lookup(map, 0x5000) == c);
    g_assert_true(memory_map_lookup(map, 0x5fff) == c);
    g_assert_null(memory_map_lookup(map, 0x6000));
    g_assert_null(memory_map_lookup(map, UINT64_MAX));

    memory_map_remove(map, b);
    g_assert_cmpuint(memory_map_count(map), ==, 2);
    g_assert_null(memory_map_lookup(map, 0x2000));
    g_assert_true(memory_map_region_at(map, 1) == c);
    /* The hole can be filled again. */
    g_assert_nonnull(memory_map_add_ram(map, "b2", 0x2000, 0x3000, ram,
                                        NULL));
    memory_map_free(map);
}

static void test_ram_ptr(void)
{
    MemoryMap *map = memory_map_new();
    static uint8_t ram[0x2000], rom[0x1000], top[0x1000];
    RecDev dev = { .region_size = 0x1000 };
    const uint64_t top_base = UINT64_MAX - 0xfff;

    memory_map_add_ram(map, "ram", 0x10000, sizeof(ram), ram, NULL);
    memory_map_add_ram(map, "ram2", 0x12000, 0x1000, rom, NULL);
    memory_map_add_rom(map, "rom", 0xf0000, sizeof(rom), rom, NULL);
    memory_map_add_mmio(map, "mmio", 0xfee00000, 0x1000, &rec_ops_1_4, &dev,
                        NULL);
    memory_map_add_ram(map, "top", top_base, sizeof(top), top, NULL);

    g_assert_true(memory_map_ram_ptr(map, 0x10000, 0x2000, false) == ram);
    g_assert_true(memory_map_ram_ptr(map, 0x10010, 16, false) == ram + 0x10);
    g_assert_true(memory_map_ram_ptr(map, 0x11fff, 1, false) ==
                  ram + 0x1fff);
    /* len 0 counts as 1. */
    g_assert_true(memory_map_ram_ptr(map, 0x11fff, 0, false) ==
                  ram + 0x1fff);
    /* One byte too many, even when the next region is adjacent RAM. */
    g_assert_null(memory_map_ram_ptr(map, 0x10000, 0x2001, false));
    g_assert_null(memory_map_ram_ptr(map, 0x11fff, 2, false));
    g_assert_null(memory_map_ram_ptr(map, 0xffff, 2, false));
    g_assert_null(memory_map_ram_ptr(map, 0x13000, 0, false));

    /* ROM only when asked; MMIO never. */
    g_assert_null(memory_map_ram_ptr(map, 0xf0000, 1, false));
    g_assert_true(memory_map_ram_ptr(map, 0xf0000, 0x1000, true) == rom);
    g_assert_null(memory_map_ram_ptr(map, 0xfee00000, 4, true));

    /* Lengths that would wrap gpa + len must not pass the check. */
    g_assert_null(memory_map_ram_ptr(map, 0x10001, UINT64_MAX, false));
    g_assert_null(memory_map_ram_ptr(map, 0x10000, UINT64_MAX - 0xffff,
                                     false));
    g_assert_null(memory_map_ram_ptr(map, top_base + 1, UINT64_MAX, false));
    g_assert_true(memory_map_ram_ptr(map, top_base, 0x1000, false) == top);
    g_assert_true(memory_map_ram_ptr(map, UINT64_MAX, 1, false) ==
                  top + 0xfff);
    g_assert_null(memory_map_ram_ptr(map, UINT64_MAX, 2, false));
    memory_map_free(map);
}

static void test_read_write_span(void)
{
    MemoryMap *map = memory_map_new();
    static uint8_t ram[0x1000];
    RecDev dev = { .region_size = 0x10 };
    uint8_t in[32], out[32];

    memset(ram, 0, sizeof(ram));
    memory_map_add_ram(map, "ram", 0x1000, 0x1000, ram, NULL);
    memory_map_add_mmio(map, "dev", 0x2000, 0x10, &rec_ops_1_4, &dev, NULL);
    /* 0x2010.. is unmapped. */

    for (unsigned i = 0; i < sizeof(in); i++) {
        in[i] = 0xa0 + i;
    }
    /* 8 bytes of RAM, 16 of MMIO, 8 unmapped. */
    g_assert_false(memory_map_write(map, 0x1ff8, in, sizeof(in)));
    g_assert_cmpmem(ram + 0xff8, 8, in, 8);
    g_assert_cmpmem(dev.regs, 16, in + 8, 16);
    /* The device saw aligned 4-byte writes only, never past its end. */
    g_assert_cmpuint(dev.n, ==, 4);
    for (unsigned i = 0; i < 4; i++) {
        assert_call(&dev, i, true, i * 4, 4,
                    in[8 + i * 4] | in[9 + i * 4] << 8 |
                    in[10 + i * 4] << 16 | (uint64_t)in[11 + i * 4] << 24);
    }

    memset(out, 0, sizeof(out));
    g_assert_false(memory_map_read(map, 0x1ff8, out, sizeof(out)));
    g_assert_cmpmem(out, 24, in, 24);
    for (unsigned i = 24; i < 32; i++) {
        g_assert_cmphex(out[i], ==, 0xff);
    }

    /* Entirely mapped ranges succeed. */
    g_assert_true(memory_map_read(map, 0x1ffc, out, 0x14));
    g_assert_true(memory_map_write(map, 0x1000, in, 4));
    g_assert_cmpmem(ram, 4, in, 4);
    /* An odd-sized, unaligned MMIO read is served by aligned pieces. */
    dev.n = 0;
    g_assert_true(memory_map_read(map, 0x2003, out, 6));
    g_assert_cmpmem(out, 6, in + 8 + 3, 6);
    g_assert_cmpuint(dev.n, ==, 3);
    assert_call(&dev, 0, false, 3, 1, in[11]);
    assert_call(&dev, 1, false, 4, 4, in[12] | in[13] << 8 | in[14] << 16 |
                (uint64_t)in[15] << 24);
    assert_call(&dev, 2, false, 8, 1, in[16]);

    /* A range past the top of the address space does not wrap to 0. */
    memset(ram, 0x11, 4);
    g_assert_false(memory_map_read(map, UINT64_MAX - 1, out, 8));
    for (unsigned i = 0; i < 8; i++) {
        g_assert_cmphex(out[i], ==, 0xff);
    }
    g_assert_false(memory_map_write(map, UINT64_MAX, in, 0x1004));
    g_assert_cmphex(ram[0], ==, 0x11);
    memory_map_free(map);
}

static void test_rom_and_load(void)
{
    MemoryMap *map = memory_map_new();
    static uint8_t ram[0x1000], rom[0x1000];
    RecDev dev = { .region_size = 0x1000 };
    const uint8_t data[4] = { 1, 2, 3, 4 };
    uint8_t out[4];
    GError *err = NULL;

    memset(ram, 0, sizeof(ram));
    memset(rom, 0x5a, sizeof(rom));
    memory_map_add_ram(map, "ram", 0, 0x1000, ram, NULL);
    memory_map_add_rom(map, "bios", 0x1000, 0x1000, rom, NULL);
    memory_map_add_mmio(map, "dev", 0x3000, 0x1000, &rec_ops_1_4, &dev,
                        NULL);

    /* Guest and DMA writes to ROM are dropped, but the ROM is mapped. */
    g_assert_true(memory_map_write(map, 0x1000, data, sizeof(data)));
    g_assert_cmphex(rom[0], ==, 0x5a);
    g_assert_true(memory_map_dispatch_write(map, 0x1004, 4, 0x12345678));
    g_assert_cmphex(rom[4], ==, 0x5a);
    g_assert_true(memory_map_read(map, 0x1000, out, sizeof(out)));
    g_assert_cmphex(out[0], ==, 0x5a);

    /* Boot loaders can write ROM, also across RAM -> ROM. */
    g_assert_true(memory_map_load(map, 0xffe, data, sizeof(data), &err));
    g_assert_no_error(err);
    g_assert_cmphex(ram[0xffe], ==, 1);
    g_assert_cmphex(ram[0xfff], ==, 2);
    g_assert_cmphex(rom[0], ==, 3);
    g_assert_cmphex(rom[1], ==, 4);

    /* Into a hole: fails naming the range, and writes nothing. */
    g_assert_false(memory_map_load(map, 0x1ffe, data, sizeof(data), &err));
    g_assert_error(err, LEMU_ERROR, LEMU_ERROR_INVALID);
    g_assert_nonnull(strstr(err->message, "0x2000-0x2001"));
    g_assert_cmphex(rom[0xffe], ==, 0x5a);
    g_clear_error(&err);

    /* Into MMIO: also refused, and the device is not touched. */
    g_assert_false(memory_map_load(map, 0x3000, data, sizeof(data), &err));
    g_assert_nonnull(strstr(err->message, "0x3000-0x3003"));
    g_clear_error(&err);
    g_assert_cmpuint(dev.n, ==, 0);

    /* Past the top of the address space. */
    g_assert_false(memory_map_load(map, UINT64_MAX, data, 2, &err));
    g_assert_error(err, LEMU_ERROR, LEMU_ERROR_INVALID);
    g_clear_error(&err);
    memory_map_free(map);
}

/* ---- Dispatch: split, widen, clamp ------------------------------------- */

static void test_dispatch_split(void)
{
    MemoryMap *map = memory_map_new();
    RecDev dev = { .region_size = 0x10 };
    uint64_t v;

    memory_map_add_mmio(map, "dev", 0x1000, 0x10, &rec_ops_1_2, &dev, NULL);

    /* An 8-byte store to a 2-byte device: four little-endian pieces. */
    g_assert_true(memory_map_dispatch_write(map, 0x1000, 8,
                                            0x8877665544332211ULL));
    g_assert_cmpuint(dev.n, ==, 4);
    assert_call(&dev, 0, true, 0, 2, 0x2211);
    assert_call(&dev, 1, true, 2, 2, 0x4433);
    assert_call(&dev, 2, true, 4, 2, 0x6655);
    assert_call(&dev, 3, true, 6, 2, 0x8877);

    dev.n = 0;
    g_assert_true(memory_map_dispatch_read(map, 0x1002, 4, &v));
    g_assert_cmphex(v, ==, 0x66554433);
    g_assert_cmpuint(dev.n, ==, 2);
    assert_call(&dev, 0, false, 2, 2, 0x4433);
    assert_call(&dev, 1, false, 4, 2, 0x6655);

    /* A 1..8 device gets the 8-byte access whole. */
    MemoryMap *map8 = memory_map_new();
    RecDev dev8 = { .region_size = 0x10 };

    memory_map_add_mmio(map8, "dev8", 0, 0x10, &rec_ops_1_8, &dev8, NULL);
    g_assert_true(memory_map_dispatch_write(map8, 8, 8, 0x0102030405060708));
    g_assert_cmpuint(dev8.n, ==, 1);
    assert_call(&dev8, 0, true, 8, 8, 0x0102030405060708);
    g_assert_true(memory_map_dispatch_read(map8, 8, 8, &v));
    g_assert_cmphex(v, ==, 0x0102030405060708);
    memory_map_free(map8);
    memory_map_free(map);
}

static void test_dispatch_widen(void)
{
    MemoryMap *map = memory_map_new();
    RecDev dev = { .region_size = 0x10 };
    uint64_t v;

    memory_map_add_mmio(map, "dev", 0x1000, 0x10, &rec_ops_4_4, &dev, NULL);
    memcpy(dev.regs, "\x44\x33\x22\x11\x88\x77\x66\x55", 8);

    /* A byte read is a read of the aligned 4-byte unit. */
    g_assert_true(memory_map_dispatch_read(map, 0x1001, 1, &v));
    g_assert_cmphex(v, ==, 0x33);
    g_assert_cmpuint(dev.n, ==, 1);
    assert_call(&dev, 0, false, 0, 4, 0x11223344);

    /* A misaligned 2-byte read takes one byte from each unit. */
    dev.n = 0;
    g_assert_true(memory_map_dispatch_read(map, 0x1003, 2, &v));
    g_assert_cmphex(v, ==, 0x8811);
    g_assert_cmpuint(dev.n, ==, 2);
    assert_call(&dev, 0, false, 0, 4, 0x11223344);
    assert_call(&dev, 1, false, 4, 4, 0x55667788);

    /* A byte write is widened with zeros, without a read first. */
    dev.n = 0;
    g_assert_true(memory_map_dispatch_write(map, 0x1002, 1, 0xab));
    g_assert_cmpuint(dev.n, ==, 1);
    assert_call(&dev, 0, true, 0, 4, 0x00ab0000);
    memory_map_free(map);
}

static void test_dispatch_clamp(void)
{
    MemoryMap *map = memory_map_new();
    RecDev dev = { .region_size = 6 };
    static const IoOps write_only = { .write = rec_write };
    static const IoOps read_only = { .read = rec_read };
    RecDev wo = { .region_size = 4 }, ro = { .region_size = 4 };
    uint64_t v;

    /* A 6-byte region followed by a hole. */
    memory_map_add_mmio(map, "dev", 0x1000, 6, &rec_ops_1_4, &dev, NULL);
    memcpy(dev.regs, "\x01\x02\x03\x04\x05\x06", 6);

    /* The 4-byte read at offset 4 reaches the device for 2 bytes only;
     * the 2 bytes past the region are unmapped. */
    g_assert_true(memory_map_dispatch_read(map, 0x1004, 4, &v));
    g_assert_cmphex(v, ==, 0xffff0605);
    g_assert_cmpuint(dev.n, ==, 1);
    assert_call(&dev, 0, false, 4, 2, 0x0605);

    /* The same for an 8-byte write at the last byte. */
    dev.n = 0;
    g_assert_true(memory_map_dispatch_write(map, 0x1005, 8, 0xffeeddccbbaa99));
    g_assert_cmpuint(dev.n, ==, 1);
    assert_call(&dev, 0, true, 5, 1, 0x99);

    /* Starting in the hole below: the hole's bytes read as ones. */
    g_assert_true(memory_map_dispatch_read(map, 0xffe, 4, &v));
    g_assert_cmphex(v, ==, 0x0201ffff);

    /* Nothing mapped: false, all ones of the access size. */
    g_assert_false(memory_map_dispatch_read(map, 0x2000, 1, &v));
    g_assert_cmphex(v, ==, 0xff);
    g_assert_false(memory_map_dispatch_read(map, 0x2000, 2, &v));
    g_assert_cmphex(v, ==, 0xffff);
    g_assert_false(memory_map_dispatch_read(map, UINT64_MAX - 3, 8, &v));
    g_assert_cmphex(v, ==, UINT64_MAX);
    g_assert_false(memory_map_dispatch_write(map, 0x2000, 4, 1));
    /* An invalid size is refused without touching the device. */
    dev.n = 0;
    g_assert_false(memory_map_dispatch_read(map, 0x1000, 9, &v));
    g_assert_false(memory_map_dispatch_write(map, 0x1000, 0, 1));
    g_assert_cmpuint(dev.n, ==, 0);

    /* Missing callbacks: reads give 0, writes are ignored. */
    memory_map_add_mmio(map, "wo", 0x3000, 4, &write_only, &wo, NULL);
    memory_map_add_mmio(map, "ro", 0x4000, 4, &read_only, &ro, NULL);
    g_assert_true(memory_map_dispatch_read(map, 0x3000, 4, &v));
    g_assert_cmphex(v, ==, 0);
    g_assert_true(memory_map_dispatch_write(map, 0x4000, 4, 0x12345678));
    g_assert_cmpuint(ro.n, ==, 0);
    memory_map_free(map);
}

static void test_dispatch_straddle_ram(void)
{
    MemoryMap *map = memory_map_new();
    static uint8_t ram[0x1000];
    RecDev dev = { .region_size = 0x10 };
    uint64_t v;

    memset(ram, 0, sizeof(ram));
    ram[0xfff] = 0x77;
    memory_map_add_ram(map, "ram", 0x0, 0x1000, ram, NULL);
    memory_map_add_mmio(map, "dev", 0x1000, 0x10, &rec_ops_1_4, &dev, NULL);
    dev.regs[0] = 0x12;

    /* A load that starts in RAM and ends in MMIO gets both parts. */
    g_assert_true(memory_map_dispatch_read(map, 0xfff, 2, &v));
    g_assert_cmphex(v, ==, 0x1277);
    g_assert_true(memory_map_dispatch_write(map, 0xfff, 2, 0x3456));
    g_assert_cmphex(ram[0xfff], ==, 0x56);
    g_assert_cmphex(dev.regs[0], ==, 0x34);
    assert_call(&dev, dev.n - 1, true, 0, 1, 0x34);
    memory_map_free(map);
}

/* ---- Port I/O ---------------------------------------------------------- */

static void test_ioport_register(void)
{
    IoPortMap *io = ioport_map_new();
    RecDev a = { .region_size = 8 }, b = { .region_size = 1 };
    GError *err = NULL;

    g_assert_true(ioport_register(io, "serial", 0x3f8, 8, &rec_ops_1_4, &a,
                                  &err));
    g_assert_no_error(err);

    /* Overlapping the end, the start, or inside. */
    g_assert_false(ioport_register(io, "other", 0x3ff, 2, &rec_ops_1_4, &b,
                                   &err));
    g_assert_error(err, LEMU_ERROR, LEMU_ERROR_INVALID);
    g_assert_nonnull(strstr(err->message, "'serial'"));
    g_assert_nonnull(strstr(err->message, "'other'"));
    g_assert_nonnull(strstr(err->message, "0x3f8-0x3ff"));
    g_clear_error(&err);
    g_assert_false(ioport_register(io, "other", 0x3f0, 9, &rec_ops_1_4, &b,
                                   &err));
    g_assert_nonnull(strstr(err->message, "'serial'"));
    g_clear_error(&err);
    g_assert_false(ioport_register(io, "other", 0x3fa, 1, &rec_ops_1_4, &b,
                                   &err));
    g_clear_error(&err);

    /* Bad lengths. */
    g_assert_false(ioport_register(io, "zero", 0x100, 0, &rec_ops_1_4, &b,
                                   &err));
    g_assert_error(err, LEMU_ERROR, LEMU_ERROR_INVALID);
    g_clear_error(&err);
    g_assert_false(ioport_register(io, "long", 0xfff0, 0x11, &rec_ops_1_4,
                                   &b, &err));
    g_assert_error(err, LEMU_ERROR, LEMU_ERROR_INVALID);
    g_clear_error(&err);
    g_assert_false(ioport_register(io, "huge", 0, 0x10001, &rec_ops_1_4,
                                   &b, &err));
    g_clear_error(&err);

    /* The very last port, and all-adjacent neighbours. */
    g_assert_true(ioport_register(io, "last", 0xffff, 1, &rec_ops_1_4, &b,
                                  &err));
    g_assert_true(ioport_register(io, "below", 0x3f0, 8, &rec_ops_1_4, &b,
                                  &err));
    g_assert_true(ioport_register(io, "above", 0x400, 1, &rec_ops_1_4, &b,
                                  &err));
    g_assert_no_error(err);

    /* Unregistering frees the ports for someone else. */
    ioport_unregister(io, 0x3f8);
    g_assert_true(ioport_register(io, "other", 0x3fa, 1, &rec_ops_1_4, &b,
                                  &err));
    g_assert_no_error(err);
    /* Unregistering by a port that is not a range's base does nothing. */
    ioport_unregister(io, 0x3f1);
    g_assert_false(ioport_register(io, "again", 0x3f1, 1, &rec_ops_1_4, &b,
                                   &err));
    g_clear_error(&err);
    ioport_map_free(io);
}

static void test_ioport_unassigned(void)
{
    IoPortMap *io = ioport_map_new();
    RecDev a = { .region_size = 1 };
    uint32_t v = 0;

    g_assert_false(ioport_read(io, 0x80, 1, &v));
    g_assert_cmphex(v, ==, 0xff);
    g_assert_false(ioport_read(io, 0x80, 2, &v));
    g_assert_cmphex(v, ==, 0xffff);
    g_assert_false(ioport_read(io, 0x80, 4, &v));
    g_assert_cmphex(v, ==, 0xffffffff);
    g_assert_false(ioport_read(io, 0xffff, 4, &v));
    g_assert_cmphex(v, ==, 0xffffffff);
    g_assert_false(ioport_write(io, 0x80, 1, 0x12));
    g_assert_false(ioport_read(io, 0x80, 3, &v));

    /* Part assigned: the device gives its byte, the rest are ones; the
     * ports do not wrap around to 0. */
    ioport_register(io, "last", 0xffff, 1, &rec_ops_1_4, &a, NULL);
    ioport_register(io, "first", 0, 1, &rec_ops_1_4, &a, NULL);
    a.regs[0] = 0x42;
    g_assert_true(ioport_read(io, 0xffff, 2, &v));
    g_assert_cmphex(v, ==, 0xff42);
    g_assert_true(ioport_read(io, 0xfffe, 2, &v));
    g_assert_cmphex(v, ==, 0x42ff);
    ioport_map_free(io);
}

static void test_ioport_dispatch(void)
{
    IoPortMap *io = ioport_map_new();
    RecDev pci = { .region_size = 4 }, uart = { .region_size = 8 };
    RecDev nxt = { .region_size = 2 };
    uint32_t v;

    ioport_register(io, "pci-data", 0xcfc, 4, &rec_ops_1_4, &pci, NULL);
    ioport_register(io, "uart", 0x3f8, 8, &rec_ops_1_2, &uart, NULL);
    ioport_register(io, "next", 0x400, 2, &rec_ops_4_4, &nxt, NULL);
    memcpy(pci.regs, "\x86\x80\x37\x12", 4);

    g_assert_true(ioport_read(io, 0xcfc, 4, &v));
    g_assert_cmphex(v, ==, 0x12378086);
    g_assert_true(ioport_read(io, 0xcfe, 2, &v));
    g_assert_cmphex(v, ==, 0x1237);
    assert_call(&pci, pci.n - 1, false, 2, 2, 0x1237);

    /* A 32-bit access to a 16-bit device is split; to a device that only
     * takes 32 bits, a byte is widened. */
    g_assert_true(ioport_write(io, 0x3f8, 4, 0xddccbbaa));
    g_assert_cmpuint(uart.n, ==, 2);
    assert_call(&uart, 0, true, 0, 2, 0xbbaa);
    assert_call(&uart, 1, true, 2, 2, 0xddcc);
    g_assert_true(ioport_write(io, 0x401, 1, 0x5a));
    g_assert_cmpuint(nxt.n, ==, 1);
    assert_call(&nxt, 0, true, 0, 4, 0x5a00);

    /* An access straddling two owners reaches each with its part. */
    uart.n = 0;
    nxt.n = 0;
    uart.regs[7] = 0x77;
    nxt.regs[0] = 0x11;
    g_assert_true(ioport_read(io, 0x3ff, 2, &v));
    g_assert_cmphex(v, ==, 0x1177);
    g_assert_cmpuint(uart.n, ==, 1);
    assert_call(&uart, 0, false, 7, 1, 0x77);
    g_assert_cmpuint(nxt.n, ==, 1);
    ioport_map_free(io);
}

static void record_range(void *opaque, const char *name, uint16_t base,
                         uint32_t len)
{
    g_string_append_printf(opaque, "%s@%x+%u ", name, base, len);
}

static void test_ioport_foreach(void)
{
    IoPortMap *io = ioport_map_new();
    GString *s = g_string_new(NULL);
    RecDev d = { .region_size = 8 };

    ioport_register(io, "c", 0x3f8, 8, &rec_ops_1_4, &d, NULL);
    ioport_register(io, "a", 0x20, 2, &rec_ops_1_4, &d, NULL);
    ioport_register(io, "d", 0xffff, 1, &rec_ops_1_4, &d, NULL);
    ioport_register(io, "b", 0x22, 1, &rec_ops_1_4, &d, NULL);
    ioport_map_foreach(io, record_range, s);
    g_assert_cmpstr(s->str, ==, "a@20+2 b@22+1 c@3f8+8 d@ffff+1 ");
    g_string_free(s, TRUE);
    ioport_map_free(io);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/memory/add-overlap", test_add_overlap);
    g_test_add_func("/memory/lookup-edges", test_lookup_edges);
    g_test_add_func("/memory/ram-ptr", test_ram_ptr);
    g_test_add_func("/memory/read-write-span", test_read_write_span);
    g_test_add_func("/memory/rom-and-load", test_rom_and_load);
    g_test_add_func("/memory/dispatch-split", test_dispatch_split);
    g_test_add_func("/memory/dispatch-widen", test_dispatch_widen);
    g_test_add_func("/memory/dispatch-clamp", test_dispatch_clamp);
    g_test_add_func("/memory/dispatch-straddle-ram",
                    test_dispatch_straddle_ram);
    g_test_add_func("/ioport/register", test_ioport_register);
    g_test_add_func("/ioport/unassigned", test_ioport_unassigned);
    g_test_add_func("/ioport/dispatch", test_ioport_dispatch);
    g_test_add_func("/ioport/foreach", test_ioport_foreach);
    return g_test_run();
}
