/*
 * difftest: random instruction sequences run on the host CPU and in the
 * interpreter, compared.
 *
 *   difftest [--seed N] [--count N] [--start I] [--class NAME] [-v]
 *            [--native-only] [--load guest|host] [--keep-going] [--stats]
 *
 * Case I of seed S is always the same sequence: a mismatch prints the
 * command line that replays it alone. Exit status: 0 all cases matched,
 * 1 a mismatch (or a tester inconsistency), 2 bad usage, 77 the host
 * cannot run the tester (skipped).
 *
 * --native-only checks the generator and the host side alone (each case
 * run step by step and whole must agree; encodings are compared with
 * capstone's lengths). --load host writes the code into guest RAM and
 * uses a fresh vCPU per case instead of the guest loader, to tell
 * self-modifying-code problems from others.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <capstone/capstone.h>
#include "gen.h"

static const char *const reg_names[16] = {
    "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
    "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
};

typedef struct ClassStats {
    uint64_t cases, passed, faulted;
} ClassStats;

typedef struct Options {
    uint64_t seed, count, start;
    DtClass cls;
    bool verbose, native_only, host_load, keep_going, stats;
} Options;

static csh cs_handle;

static void print_code(const DtCase *c)
{
    for (int i = 0; i <= c->n; i++) {
        const uint8_t *b;
        uint64_t addr;
        unsigned len;
        GString *hex = g_string_new(NULL);
        cs_insn *insn = NULL;
        size_t got;

        if (i < c->n) {
            b = c->insn[i].bytes;
            len = c->insn[i].len;
            addr = c->insn[i].addr;
        } else {
            b = c->window + (c->code_end - c->window_addr);
            len = 2;
            addr = c->code_end;
        }
        for (unsigned k = 0; k < len; k++) {
            g_string_append_printf(hex, "%02x ", b[k]);
        }
        got = cs_disasm(cs_handle, b, len, addr, 1, &insn);
        printf("  %#" PRIx64 ": %-45s %s %s%s\n", addr, hex->str,
               got ? insn->mnemonic : "(bad)", got ? insn->op_str : "",
               i < c->n && !c->insn[i].live ? "   ; skipped" : "");
        if (got) {
            cs_free(insn, got);
        }
        g_string_free(hex, true);
    }
}

static void print_regs(const char *title, const DtRegs *r)
{
    printf("%s:\n", title);
    for (int i = 0; i < 16; i++) {
        printf("  %-3s=%016" PRIx64 "%s", reg_names[i], r->r[i],
               i % 4 == 3 ? "\n" : "");
    }
    printf("  rip=%016" PRIx64 "  rflags=%08" PRIx64 "\n", r->rip,
           r->rflags);
}

static void print_result(const char *who, const DtResult *res)
{
    printf("%s: vector %d", who, res->vector);
    if (res->error_code >= 0) {
        printf(" error code %#" PRIx64, (uint64_t)res->error_code);
    }
    if (res->vector == DT_PF) {
        printf(" cr2 %#" PRIx64, res->cr2);
    }
    printf(" at rip %#" PRIx64 "\n", res->regs.rip);
}

/* Appends each difference between @exp (native) and @got to @diff. */
static void compare(const DtCase *c, const DtResult *got,
                    const uint8_t *data_got, GString *diff)
{
    const DtResult *exp = &c->expect;
    uint64_t fmask = DT_FLAGS_COMPARED & ~(uint64_t)c->undef_end;
    /* #BP is a trap: the host reports RIP after INT3, the interpreter
     * the INT3 itself (stop_on_exception, interp.h). */
    uint64_t exp_rip = exp->vector == DT_BP && c->n ?
                       c->insn[c->n - 1].addr : exp->regs.rip;
    int shown = 0;

    if (got->vector != exp->vector) {
        g_string_append_printf(diff, "  vector: native %d, interpreter %d\n",
                               exp->vector, got->vector);
    } else if (exp->error_code >= 0 &&
               (exp->vector == DT_PF ? (exp->error_code ^ got->error_code) & 0xf
                                     : exp->error_code != got->error_code)) {
        g_string_append_printf(diff, "  error code: native %#" PRIx64
                               ", interpreter %#" PRIx64 "\n",
                               (uint64_t)exp->error_code,
                               (uint64_t)got->error_code);
    }
    if (exp->vector == DT_PF && got->vector == DT_PF && exp->cr2 != got->cr2) {
        g_string_append_printf(diff, "  cr2: native %#" PRIx64
                               ", interpreter %#" PRIx64 "\n",
                               exp->cr2, got->cr2);
    }
    if (exp_rip != got->regs.rip) {
        g_string_append_printf(diff, "  rip: native %#" PRIx64
                               ", interpreter %#" PRIx64 "\n",
                               exp_rip, got->regs.rip);
    }
    for (int i = 0; i < 16; i++) {
        if (exp->regs.r[i] != got->regs.r[i]) {
            g_string_append_printf(diff, "  %s: native %#" PRIx64
                                   ", interpreter %#" PRIx64 "\n",
                                   reg_names[i], exp->regs.r[i],
                                   got->regs.r[i]);
        }
    }
    if ((exp->regs.rflags ^ got->regs.rflags) & fmask) {
        g_string_append_printf(diff, "  rflags (compared %#" PRIx64
                               "): native %#" PRIx64 ", interpreter %#"
                               PRIx64 "\n", fmask,
                               (uint64_t)(exp->regs.rflags & fmask),
                               (uint64_t)(got->regs.rflags & fmask));
    }
    for (uint64_t off = 0; off < DT_DATA_SIZE; off += 8) {
        uint64_t a, b;
        memcpy(&a, c->data_expect + off, 8);
        memcpy(&b, data_got + off, 8);
        if (a != b && shown++ < 8) {
            g_string_append_printf(diff, "  memory %#" PRIx64 ": native %016"
                                   PRIx64 ", interpreter %016" PRIx64 "\n",
                                   (uint64_t)(DT_DATA_BASE + off), a, b);
        }
    }
}

static void print_case(const DtCase *c, const Options *o)
{
    printf("case %" PRIu64 " (class %s), replay: difftest --seed %" PRIu64
           " --start %" PRIu64 " --count 1%s%s -v\n", c->index,
           dt_class_names[c->cls], c->seed, c->index,
           o->cls < CLS_NR ? " --class " : "",
           o->cls < CLS_NR ? dt_class_names[o->cls] : "");
    print_code(c);
    print_regs("initial registers", &c->init);
    printf("flags left undefined at the end: %#x\n", c->undef_end);
}

static bool parse_options(int argc, char **argv, Options *o)
{
    g_autofree char *cls = NULL, *load = NULL;
    gint64 seed = 1, count = 1000, start = 0;
    gboolean verbose = false, native_only = false, keep_going = false;
    gboolean stats = false;
    GOptionEntry entries[] = {
        { "seed", 0, 0, G_OPTION_ARG_INT64, &seed, "random seed", "N" },
        { "count", 0, 0, G_OPTION_ARG_INT64, &count, "cases to run", "N" },
        { "start", 0, 0, G_OPTION_ARG_INT64, &start, "first case", "I" },
        { "class", 0, 0, G_OPTION_ARG_STRING, &cls,
          "only this instruction class", "NAME" },
        { "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose,
          "print every case", NULL },
        { "native-only", 0, 0, G_OPTION_ARG_NONE, &native_only,
          "only the host side (checks the generator)", NULL },
        { "load", 0, 0, G_OPTION_ARG_STRING, &load,
          "how code reaches the guest: guest (default) or host", "HOW" },
        { "keep-going", 0, 0, G_OPTION_ARG_NONE, &keep_going,
          "go on after mismatches (summarised)", NULL },
        { "stats", 0, 0, G_OPTION_ARG_NONE, &stats,
          "count executed instructions by name", NULL },
        { NULL },
    };
    g_autoptr(GOptionContext) ctx =
        g_option_context_new("- differential test of the interpreter");
    g_autoptr(GError) err = NULL;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        fprintf(stderr, "difftest: %s\n", err->message);
        return false;
    }
    if (count < 0 || start < 0) {
        fprintf(stderr, "difftest: --count and --start must not be "
                "negative\n");
        return false;
    }
    o->seed = seed;
    o->count = count;
    o->start = start;
    o->verbose = verbose;
    o->native_only = native_only;
    o->keep_going = keep_going;
    o->stats = stats;
    o->cls = CLS_NR;
    if (cls) {
        GString *names = g_string_new(NULL);
        for (int i = 0; i < CLS_NR; i++) {
            if (!strcmp(cls, dt_class_names[i])) {
                o->cls = i;
            }
            g_string_append_printf(names, " %s", dt_class_names[i]);
        }
        if (o->cls == CLS_NR) {
            fprintf(stderr, "difftest: unknown class '%s'; expected one "
                    "of:%s\n", cls, names->str);
            g_string_free(names, true);
            return false;
        }
        g_string_free(names, true);
    }
    o->host_load = false;
    if (load && strcmp(load, "guest")) {
        if (strcmp(load, "host")) {
            fprintf(stderr, "difftest: --load '%s': expected guest or "
                    "host\n", load);
            return false;
        }
        o->host_load = true;
    }
    return true;
}

static void count_insns(GHashTable *h, const DtCase *c)
{
    for (int i = 0; i < c->n; i++) {
        if (c->insn[i].live) {
            gpointer v = g_hash_table_lookup(h, c->insn[i].name);
            g_hash_table_insert(h, (gpointer)c->insn[i].name,
                                GSIZE_TO_POINTER(GPOINTER_TO_SIZE(v) + 1));
        }
    }
}

/* The generator's encodings as capstone reads them: same length. */
static uint64_t check_encodings(const DtCase *c, bool verbose)
{
    uint64_t bad = 0;

    for (int i = 0; i < c->n; i++) {
        const DtInsn *in = &c->insn[i];
        cs_insn *insn = NULL;
        size_t got = cs_disasm(cs_handle, in->bytes, in->len, in->addr, 1,
                               &insn);

        /* Capstone does not know every #UD form; those may differ. */
        if (c->cls != CLS_INVALID && (!got || insn->size != in->len)) {
            bad++;
            if (verbose) {
                printf("encoding of %s in case %" PRIu64 ": %u bytes, "
                       "capstone reads %u (%s %s)\n", in->name, c->index,
                       in->len, got ? insn->size : 0,
                       got ? insn->mnemonic : "-", got ? insn->op_str : "");
            }
        }
        if (got) {
            cs_free(insn, got);
        }
    }
    return bad;
}

static gint compare_names(gconstpointer a, gconstpointer b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void print_insn_stats(GHashTable *h)
{
    g_autoptr(GPtrArray) keys = g_ptr_array_new();
    GHashTableIter it;
    gpointer k, v;

    g_hash_table_iter_init(&it, h);
    while (g_hash_table_iter_next(&it, &k, &v)) {
        g_ptr_array_add(keys, k);
    }
    g_ptr_array_sort(keys, compare_names);
    printf("executed instructions in passing cases:\n");
    for (guint i = 0; i < keys->len; i++) {
        printf("  %-16s %zu\n", (const char *)keys->pdata[i],
               GPOINTER_TO_SIZE(g_hash_table_lookup(h, keys->pdata[i])));
    }
}

int main(int argc, char **argv)
{
    Options o = { 0 };
    g_autoptr(GError) err = NULL;
    ClassStats stats[CLS_NR] = { 0 };
    uint64_t failures = 0, native_bad = 0, enc_bad = 0;
    uint8_t *ro = g_malloc(DT_PAGE), *data_got = g_malloc(DT_DATA_SIZE);
    Gen *g = g_new0(Gen, 1);
    DtCase *c = g_new0(DtCase, 1);
    GHashTable *insn_counts = g_hash_table_new(g_str_hash, g_str_equal);
    GString *diff = g_string_new(NULL);
    DtInterp *t = NULL;
    Rng r;
    int status = 0;

    if (!parse_options(argc, argv, &o)) {
        return 2;
    }
    if (!native_init(&err)) {
        /* Not this tester's host (fixed mappings refused): skip. */
        fprintf(stderr, "difftest: %s; skipped\n", err->message);
        return 77;
    }
    if (cs_open(CS_ARCH_X86, CS_MODE_64, &cs_handle) != CS_ERR_OK) {
        fprintf(stderr, "difftest: capstone does not open for x86-64\n");
        return 2;
    }
    rng_seed(&r, o.seed, ~0ULL);
    for (uint64_t i = 0; i < DT_PAGE; i += 8) {
        uint64_t v = rng_next(&r);
        memcpy(ro + i, &v, 8);
    }
    native_set_ro_page(ro);
    if (!o.native_only) {
        t = dti_new(ro, o.host_load);
    }

    for (uint64_t i = o.start; i < o.start + o.count; i++) {
        DtResult got;
        bool ok = true;

        gen_case(g, c, o.seed, i, o.cls);
        stats[c->cls].cases++;
        g_string_truncate(diff, 0);
        if (c->native_mismatch) {
            /* The generator's own check: the host ran the steps and the
             * whole sequence differently. A bug of the tester. */
            native_bad++;
            print_case(c, &o);
            print_result("steps", &c->step_result);
            print_result("whole", &c->expect);
            print_regs("steps", &c->step_result.regs);
            print_regs("whole", &c->expect.regs);
            status = 1;
            continue;
        }
        if (o.native_only) {
            enc_bad += check_encodings(c, o.verbose || enc_bad < 20);
        } else {
            DtRegs in = c->init;
            in.rip = c->code_start;
            if (!dti_run(t, c->window_addr, c->window, c->data_init, &in,
                         &got, data_got, diff)) {
                g_string_append_c(diff, '\n');
            }
            compare(c, &got, data_got, diff);
            ok = diff->len == 0;
        }
        if (ok) {
            stats[c->cls].passed++;
            if (c->expect.vector != DT_UD ||
                c->expect.regs.rip != c->code_end) {
                stats[c->cls].faulted++;
            }
            if (o.stats) {
                count_insns(insn_counts, c);
            }
        }
        if (o.verbose || (!ok && (failures < 5 || !o.keep_going))) {
            print_case(c, &o);
            print_result("native", &c->expect);
            if (!o.native_only) {
                print_result("interpreter", &got);
            }
            if (!ok) {
                printf("MISMATCH:\n%s\n", diff->str);
            }
        } else if (!ok) {
            printf("MISMATCH in case %" PRIu64 " (class %s): %s",
                   i, dt_class_names[c->cls], diff->str);
        }
        if (!ok) {
            failures++;
            status = 1;
            if (!o.keep_going) {
                break;
            }
        }
    }

    for (int k = 0; k < CLS_NR; k++) {
        if (stats[k].cases) {
            printf("%-8s %8" PRIu64 " cases, %8" PRIu64 " passed (%" PRIu64
                   " ended by an exception)\n", dt_class_names[k],
                   stats[k].cases, stats[k].passed, stats[k].faulted);
        }
    }
    if (o.stats) {
        print_insn_stats(insn_counts);
    }
    if (enc_bad) {
        printf("%" PRIu64 " instructions that capstone decodes to another "
               "length\n", enc_bad);
    }
    if (native_bad) {
        printf("%" PRIu64 " cases ran differently on the host step by step "
               "and whole (tester bug)\n", native_bad);
    }
    printf("%s: %" PRIu64 " mismatches\n", o.native_only ? "native only" :
           "difftest", failures);

    if (t) {
        dti_free(t);
    }
    cs_close(&cs_handle);
    g_hash_table_destroy(insn_counts);
    g_string_free(diff, true);
    g_free(c);
    g_free(g);
    g_free(ro);
    g_free(data_got);
    return status;
}
