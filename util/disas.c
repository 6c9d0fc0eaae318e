/*
 * x86 disassembly through capstone.
 *
 * Capstone is loaded with dlopen on first use, not linked: linking it
 * costs every start-up 3 MiB of mappings and milliseconds of relocation,
 * for a log and a monitor command that are rarely used. Its header only
 * gives the types.
 */
#include <dlfcn.h>
#include <inttypes.h>
#include <capstone/capstone.h>
#include "lemu/util/disas.h"
#include "lemu/util/log.h"

#define CAPSTONE_SONAME "libcapstone.so.4"

/* The monitor layout prints this many instruction bytes per line. */
#define DISAS_BYTES_PER_LINE 8

/* The capstone functions lemu uses, resolved once per process. */
typedef struct CapstoneLib {
    cs_err (*open)(cs_arch arch, cs_mode mode, csh *handle);
    cs_err (*close)(csh *handle);
    cs_err (*option)(csh handle, cs_opt_type type, size_t value);
    size_t (*disasm)(csh handle, const uint8_t *code, size_t size,
                     uint64_t address, size_t count, cs_insn **insn);
    void (*free)(cs_insn *insn, size_t count);
} CapstoneLib;

static gpointer capstone_load(gpointer data)
{
    CapstoneLib *lib = data;
    void *dl = dlopen(CAPSTONE_SONAME, RTLD_NOW | RTLD_LOCAL);

    if (!dl) {
        lemu_log_mask(LOG_IN_ASM, "disas: cannot load %s (%s): code is "
                      "shown as bytes\n", CAPSTONE_SONAME, dlerror());
        return NULL;
    }
    lib->open = (__typeof__(lib->open))dlsym(dl, "cs_open");
    lib->close = (__typeof__(lib->close))dlsym(dl, "cs_close");
    lib->option = (__typeof__(lib->option))dlsym(dl, "cs_option");
    lib->disasm = (__typeof__(lib->disasm))dlsym(dl, "cs_disasm");
    lib->free = (__typeof__(lib->free))dlsym(dl, "cs_free");
    if (!lib->open || !lib->close || !lib->option || !lib->disasm ||
        !lib->free) {
        lemu_log_mask(LOG_IN_ASM, "disas: %s lacks the cs_* functions: "
                      "code is shown as bytes\n", CAPSTONE_SONAME);
        dlclose(dl);
        return NULL;
    }
    /* Stays loaded for the life of the process. */
    return lib;
}

/* NULL when capstone cannot be loaded. The library and the table are
 * written once, inside g_once, and only read afterwards. */
static const CapstoneLib *capstone(void)
{
    static GOnce once = G_ONCE_INIT;
    static CapstoneLib lib;

    return g_once(&once, capstone_load, &lib);
}

bool disas_available(void)
{
    return capstone() != NULL;
}

static void disas_line_log(GString *out, const cs_insn *insn)
{
    g_string_append_printf(out, "0x%016" PRIx64 ":  %s%s%s\n",
                           (uint64_t)insn->address, insn->mnemonic,
                           insn->op_str[0] ? " " : "", insn->op_str);
}

/* Address, up to 8 bytes padded to a column, mnemonic and operands; the
 * bytes of a longer instruction continue on lines of their own. */
static void disas_line_monitor(GString *out, const cs_insn *insn)
{
    unsigned n = insn->size;
    unsigned first = MIN(n, DISAS_BYTES_PER_LINE);

    g_string_append_printf(out, "0x%08" PRIx64 ":  ",
                           (uint64_t)insn->address);
    for (unsigned i = 0; i < first; i++) {
        g_string_append_printf(out, "%02x ", insn->bytes[i]);
    }
    g_string_append_printf(out, "%*s  ", (DISAS_BYTES_PER_LINE - first) * 3,
                           "");
    if (insn->op_str[0]) {
        g_string_append_printf(out, "%-8s %s\n", insn->mnemonic,
                               insn->op_str);
    } else {
        g_string_append_printf(out, "%s\n", insn->mnemonic);
    }
    for (unsigned i = first; i < n; i += DISAS_BYTES_PER_LINE) {
        g_string_append_printf(out, "0x%08" PRIx64 ":  ",
                               (uint64_t)insn->address + i);
        for (unsigned j = i; j < n && j < i + DISAS_BYTES_PER_LINE; j++) {
            g_string_append_printf(out, "%02x%s", insn->bytes[j],
                                   j + 1 < n && j + 1 < i +
                                   DISAS_BYTES_PER_LINE ? " " : "");
        }
        g_string_append_c(out, '\n');
    }
}

size_t disas_x86(const uint8_t *code, size_t len, uint64_t addr,
                 unsigned bits, size_t max_insns, DisasStyle style,
                 GString *out, size_t *n_insns)
{
    const CapstoneLib *cs = capstone();
    cs_mode mode = bits == 64 ? CS_MODE_64 :
                   bits == 32 ? CS_MODE_32 : CS_MODE_16;
    cs_insn *insn = NULL;
    size_t done = 0, n = 0;
    csh h;

    if (n_insns) {
        *n_insns = 0;
    }
    if (!cs || len == 0 || cs->open(CS_ARCH_X86, mode, &h) != CS_ERR_OK) {
        return 0;
    }
    cs->option(h, CS_OPT_SYNTAX, CS_OPT_SYNTAX_ATT);
    /* cs_disasm stops at the first byte sequence it cannot decode. */
    n = cs->disasm(h, code, len, addr, max_insns, &insn);
    for (size_t i = 0; i < n; i++) {
        if (style == DISAS_STYLE_MONITOR) {
            disas_line_monitor(out, &insn[i]);
        } else {
            disas_line_log(out, &insn[i]);
        }
        done += insn[i].size;
    }
    if (n) {
        cs->free(insn, n);
    }
    cs->close(&h);
    if (n_insns) {
        *n_insns = n;
    }
    return done;
}
