/*
 * The human monitor's commands, with QEMU's names and output. Those that
 * have a QMP counterpart go through qmp_dispatch(), so HMP is a view of
 * the one command table, not a second implementation. This file has the
 * HMP table, help, info and the x-query-* text commands (what info
 * registers, mtree and qtree print); hmp-memory.c has x, xp and print.
 */
#include <inttypes.h>
#include <string.h>
#include "monitor/hmp-internal.h"
#include "lemu/hw/qdev.h"

typedef struct HmpCommand {
    const char *name;            /* "cont|c": the name and its aliases */
    const char *params;          /* the argument syntax help shows */
    const char *help;
    HmpFunc *func;               /* gets the rest of the line */
    /* Or, for a command without arguments or output (func NULL): the QMP
     * command it runs. */
    const char *qmp;
} HmpCommand;

void hmp_printf(Hmp *h, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    g_string_append_vprintf(h->out, fmt, ap);
    va_end(ap);
}

const char *hmp_skip_spaces(const char *p)
{
    while (g_ascii_isspace(*p)) {
        p++;
    }
    return p;
}

void hmp_bad_args(Hmp *h, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    g_string_append_vprintf(h->out, fmt, ap);
    va_end(ap);
    g_string_append_c(h->out, '\n');
    h->bad_args = true;
}

/* Commands take no more than they declare, as QEMU checks. */
bool hmp_expect_end(Hmp *h, const char *name, const char *p)
{
    if (*hmp_skip_spaces(p)) {
        hmp_bad_args(h, "%s: extraneous characters at the end of line",
                     name);
        return false;
    }
    return true;
}

JsonValue *hmp_qmp(Hmp *h, const char *cmd, JsonValue *args)
{
    GError *err = NULL;
    JsonValue *ret = qmp_dispatch(h->qmp, cmd, args, &err);

    json_free(args);
    if (!ret) {
        hmp_printf(h, "Error: %s\n", err ? err->message : "failed");
        g_clear_error(&err);
    }
    return ret;
}

/* The vCPUs must be out of guest code for their registers to be read. */
bool hmp_read_cpu_states(Machine *m, unsigned first, unsigned n,
                         X86CPUState *st, GError **errp)
{
    bool running = m->runstate == RUN_STATE_RUNNING;
    bool ok = true;

    if (running) {
        vcpus_pause_all(m);
    }
    for (unsigned i = 0; i < n && ok; i++) {
        ok = vcpu_get_state(m->vcpus[first + i], &st[i], errp);
    }
    if (running) {
        vcpus_resume_all(m);
    }
    return ok;
}

/* ---- info --------------------------------------------------------------- */

static void info_status(Hmp *h, const char *name, const char *args)
{
    JsonValue *r;
    const char *status;
    bool running = false, singlestep = false;

    if (!hmp_expect_end(h, name, args) ||
        !(r = hmp_qmp(h, "query-status", NULL))) {
        return;
    }
    json_object_get_bool(r, "running", &running);
    json_object_get_bool(r, "singlestep", &singlestep);
    status = json_object_get_str(r, "status");
    hmp_printf(h, "VM status: %s%s", running ? "running" : "paused",
               singlestep ? " (single step mode)" : "");
    if (!running && status && strcmp(status, "paused") != 0) {
        hmp_printf(h, " (%s)", status);
    }
    hmp_printf(h, "\n");
    json_free(r);
}

static void info_cpus(Hmp *h, const char *name, const char *args)
{
    JsonValue *r;

    if (!hmp_expect_end(h, name, args) ||
        !(r = hmp_qmp(h, "query-cpus-fast", NULL))) {
        return;
    }
    for (size_t i = 0; i < json_array_length(r); i++) {
        const JsonValue *cpu = json_array_get(r, i);
        int64_t index = -1, tid = 0;

        json_object_get_i64(cpu, "cpu-index", &index);
        json_object_get_i64(cpu, "thread-id", &tid);
        hmp_printf(h, "%c CPU #%" PRId64 ": thread_id=%" PRId64 "\n",
                   index == (int64_t)*h->cpu_index ? '*' : ' ', index, tid);
    }
    json_free(r);
}

static void info_version(Hmp *h, const char *name, const char *args)
{
    JsonValue *r;
    const JsonValue *q;
    int64_t major = 0, minor = 0, micro = 0;
    const char *package;

    if (!hmp_expect_end(h, name, args) ||
        !(r = hmp_qmp(h, "query-version", NULL))) {
        return;
    }
    q = json_object_get(r, "qemu");
    if (q) {
        json_object_get_i64(q, "major", &major);
        json_object_get_i64(q, "minor", &minor);
        json_object_get_i64(q, "micro", &micro);
    }
    package = json_object_get_str(r, "package");
    /* QEMU appends the package right after the number; lemu's needs a
     * space: "7.2.0 lemu 0.1.0" */
    hmp_printf(h, "%" PRId64 ".%" PRId64 ".%" PRId64 "%s%s\n", major, minor,
               micro, package && *package ? " " : "", package ? package : "");
    json_free(r);
}

static void info_name(Hmp *h, const char *name, const char *args)
{
    JsonValue *r;
    const char *vm_name;

    if (!hmp_expect_end(h, name, args) ||
        !(r = hmp_qmp(h, "query-name", NULL))) {
        return;
    }
    vm_name = json_object_get_str(r, "name");
    if (vm_name) {
        hmp_printf(h, "%s\n", vm_name);
    }
    json_free(r);
}

static void info_uuid(Hmp *h, const char *name, const char *args)
{
    JsonValue *r;
    const char *uuid;

    if (!hmp_expect_end(h, name, args) ||
        !(r = hmp_qmp(h, "query-uuid", NULL))) {
        return;
    }
    uuid = json_object_get_str(r, "UUID");
    hmp_printf(h, "%s\n", uuid ? uuid : "");
    json_free(r);
}

static void info_kvm(Hmp *h, const char *name, const char *args)
{
    JsonValue *r;
    bool enabled = false, present = false;

    if (!hmp_expect_end(h, name, args) ||
        !(r = hmp_qmp(h, "query-kvm", NULL))) {
        return;
    }
    json_object_get_bool(r, "enabled", &enabled);
    json_object_get_bool(r, "present", &present);
    hmp_printf(h, "kvm support: %s\n",
               present ? (enabled ? "enabled" : "disabled") :
               "not compiled");
    json_free(r);
}

static void info_chardev(Hmp *h, const char *name, const char *args)
{
    JsonValue *r;

    if (!hmp_expect_end(h, name, args) ||
        !(r = hmp_qmp(h, "query-chardev", NULL))) {
        return;
    }
    for (size_t i = 0; i < json_array_length(r); i++) {
        const JsonValue *c = json_array_get(r, i);
        const char *label = json_object_get_str(c, "label");
        const char *file = json_object_get_str(c, "filename");

        hmp_printf(h, "%s: filename=%s\n", label ? label : "",
                   file ? file : "");
    }
    json_free(r);
}

/* The x-query-* commands return {"human-readable-text": TEXT}. */
static void hmp_print_text(Hmp *h, const char *cmd, JsonValue *args)
{
    JsonValue *r = hmp_qmp(h, cmd, args);
    const char *text;

    if (!r) {
        return;
    }
    text = json_object_get_str(r, "human-readable-text");
    hmp_printf(h, "%s", text ? text : "");
    json_free(r);
}

/* info registers [-a]: every vCPU (QEMU's -a; lemu shows all without it
 * too). */
static void info_registers(Hmp *h, const char *name, const char *args)
{
    const char *p = hmp_skip_spaces(args);

    if (g_str_has_prefix(p, "-a") && (!p[2] || g_ascii_isspace(p[2]))) {
        p += 2;
    }
    if (hmp_expect_end(h, name, p)) {
        hmp_print_text(h, "x-query-registers", NULL);
    }
}

static void info_mtree(Hmp *h, const char *name, const char *args)
{
    if (hmp_expect_end(h, name, args)) {
        hmp_print_text(h, "x-query-mtree", NULL);
    }
}

static void info_qtree(Hmp *h, const char *name, const char *args)
{
    if (hmp_expect_end(h, name, args)) {
        hmp_print_text(h, "x-query-qtree", NULL);
    }
}

static void info_block(Hmp *h, const char *name, const char *args)
{
    if (hmp_expect_end(h, name, args)) {
        hmp_info_block(h->m, h->out);
    }
}

static const HmpCommand hmp_info_commands[] = {
    { "status", "", "show the current VM status (running|paused)",
      info_status },
    { "cpus", "", "show infos for each CPU", info_cpus },
    { "registers", "[-a]", "show the cpu registers (of every CPU)",
      info_registers },
    { "mtree", "", "show memory tree", info_mtree },
    { "qtree", "", "show device tree", info_qtree },
    { "chardev", "", "show the character devices", info_chardev },
    { "block", "", "show the block devices", info_block },
    { "version", "", "show the version of QEMU whose QMP lemu speaks, "
      "and lemu's", info_version },
    { "name", "", "show the current VM name", info_name },
    { "uuid", "", "show the current VM UUID", info_uuid },
    { "kvm", "", "show KVM information", info_kvm },
    { NULL },
};

static void hmp_help(Hmp *h, const char *name, const char *args);
static void hmp_info(Hmp *h, const char *name, const char *args);

static const HmpCommand hmp_commands[] = {
    { "help|?", "[cmd]", "show the help", hmp_help },
    { "info", "[subcommand]", "show various information about the system "
      "state", hmp_info },
    { "stop|s", "", "stop emulation", .qmp = "stop" },
    { "cont|c", "", "resume emulation", .qmp = "cont" },
    { "system_reset", "", "reset the system", .qmp = "system_reset" },
    { "system_powerdown", "", "send system power down event",
      .qmp = "system_powerdown" },
    { "quit|q", "", "quit the emulator", .qmp = "quit" },
    { "nmi", "", "inject an NMI", .qmp = "inject-nmi" },
    { "x", "/fmt addr", "virtual memory dump starting at 'addr'", hmp_x },
    { "xp", "/fmt addr", "physical memory dump starting at 'addr'",
      hmp_xp },
    { "print|p", "/fmt expr", "print expression value (use $reg for CPU "
      "register access)", hmp_print },
    { "memsave", "addr size file", "save to disk virtual memory dump "
      "starting at 'addr' of size 'size'", hmp_memsave },
    { "pmemsave", "addr size file", "save to disk physical memory dump "
      "starting at 'addr' of size 'size'", hmp_pmemsave },
    { "cpu", "index", "set the default CPU", hmp_cpu_cmd },
    { NULL },
};

/* Whether @name (of @len bytes) is one of "a|b|c". */
static bool hmp_name_matches(const char *names, const char *name,
                             size_t len)
{
    const char *p = names;

    while (*p) {
        size_t n = strcspn(p, "|");

        if (n == len && strncmp(p, name, len) == 0) {
            return true;
        }
        p += n;
        if (*p == '|') {
            p++;
        }
    }
    return false;
}

static const HmpCommand *hmp_find(const HmpCommand *table, const char *name,
                                  size_t len)
{
    for (const HmpCommand *c = table; c->name; c++) {
        if (hmp_name_matches(c->name, name, len)) {
            return c;
        }
    }
    return NULL;
}

/* A command name ends at a space or at the '/' of x/FMT. */
static size_t hmp_name_len(const char *p)
{
    size_t n = 0;

    while (p[n] && p[n] != '/' && !g_ascii_isspace(p[n])) {
        n++;
    }
    return n;
}

static void hmp_help_one(Hmp *h, const char *prefix, const HmpCommand *c)
{
    hmp_printf(h, "%s%s %s -- %s\n", prefix, c->name, c->params, c->help);
}

static void hmp_help_table(Hmp *h, const char *prefix,
                           const HmpCommand *table)
{
    for (const HmpCommand *c = table; c->name; c++) {
        hmp_help_one(h, prefix, c);
    }
}

/* help, help CMD, help info [SUB] */
static void hmp_help(Hmp *h, const char *name, const char *args)
{
    const char *p = hmp_skip_spaces(args);
    size_t len = hmp_name_len(p);
    const HmpCommand *c;

    if (len == 0) {
        hmp_help_table(h, "", hmp_commands);
        return;
    }
    c = hmp_find(hmp_commands, p, len);
    if (!c) {
        hmp_printf(h, "unknown command: '%.*s'\n", (int)len, p);
        return;
    }
    if (c->func == hmp_info) {
        const char *sub = hmp_skip_spaces(p + len);
        size_t sub_len = hmp_name_len(sub);

        if (sub_len == 0) {
            hmp_help_table(h, "info ", hmp_info_commands);
            return;
        }
        c = hmp_find(hmp_info_commands, sub, sub_len);
        if (!c) {
            hmp_printf(h, "unknown command: 'info %.*s'\n", (int)sub_len,
                       sub);
            return;
        }
        hmp_help_one(h, "info ", c);
        return;
    }
    hmp_help_one(h, "", c);
}

static void hmp_info(Hmp *h, const char *name, const char *args)
{
    const char *p = hmp_skip_spaces(args);
    size_t len = hmp_name_len(p);
    const HmpCommand *c;
    g_autofree char *full = NULL;

    if (len == 0) {
        hmp_help_table(h, "info ", hmp_info_commands);
        return;
    }
    c = hmp_find(hmp_info_commands, p, len);
    if (!c) {
        hmp_printf(h, "unknown command: 'info %.*s'\n", (int)len, p);
        return;
    }
    full = g_strdup_printf("info %.*s", (int)len, p);
    c->func(h, c->name, p + len);
    if (h->bad_args) {
        hmp_printf(h, "Try \"help %s\" for more information\n", full);
        h->bad_args = false;
    }
}

void hmp_execute(QmpContext *ctx, const char *line, unsigned *cpu_index,
                 GString *out)
{
    Hmp h = {
        .qmp = ctx, .m = ctx->machine, .cpu_index = cpu_index, .out = out,
    };
    const char *p = hmp_skip_spaces(line);
    size_t len = hmp_name_len(p);
    const HmpCommand *c;
    g_autofree char *name = NULL;

    /* Arguments become JSON strings, which must be UTF-8. */
    if (!g_utf8_validate(line, -1, NULL)) {
        hmp_printf(&h, "invalid command line: not valid UTF-8\n");
        return;
    }
    if (len == 0) {
        if (*p) {
            hmp_printf(&h, "unknown command: '%s'\n", p);
        }
        return;
    }
    c = hmp_find(hmp_commands, p, len);
    if (!c) {
        hmp_printf(&h, "unknown command: '%.*s'\n", (int)len, p);
        return;
    }
    name = g_strndup(p, len);
    if (c->func) {
        c->func(&h, c->name, p + len);
    } else if (hmp_expect_end(&h, c->name, p + len)) {
        json_free(hmp_qmp(&h, c->qmp, NULL));
    }
    if (h.bad_args) {
        hmp_printf(&h, "Try \"help %s\" for more information\n", name);
    }
}

/* ---- x-query-registers -------------------------------------------------- */

static JsonValue *human_readable_text(GString *text)
{
    JsonValue *ret = json_object();

    json_object_set(ret, "human-readable-text",
                    json_string_take(g_string_free(text, FALSE)));
    return ret;
}

/* x-query-registers [cpu-index]: every vCPU, or the one asked for. */
JsonValue *qmp_x_query_registers(QmpContext *ctx, const JsonValue *args,
                                 GError **errp)
{
    Machine *m = ctx->machine;
    unsigned first = 0, n = m->nr_vcpus;
    int64_t index = -1;
    X86CPUState *st;
    GString *out;

    if (args && json_object_get(args, "cpu-index")) {
        if (!json_object_get_i64(args, "cpu-index", &index) || index < 0 ||
            index >= m->nr_vcpus) {
            g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                        "CPU %" PRId64 " not available", index);
            return NULL;
        }
        first = index;
        n = 1;
    }
    st = g_new0(X86CPUState, MAX(n, 1));
    if (!hmp_read_cpu_states(m, first, n, st, errp)) {
        g_free(st);
        return NULL;
    }
    out = g_string_new(NULL);
    for (unsigned i = 0; i < n; i++) {
        g_string_append_printf(out, "\nCPU#%u\n", first + i);
        x86_cpu_dump_state(&st[i], NULL, out);
    }
    g_free(st);
    return human_readable_text(out);
}

/* ---- x-query-mtree ------------------------------------------------------ */

static const char *region_kind_name(MemoryRegionKind kind)
{
    switch (kind) {
    case MEM_RAM:
        return "ram";
    case MEM_ROM:
        return "rom";
    default:
        return "i/o";
    }
}

static void mtree_port(void *opaque, const char *name, uint16_t base,
                       uint32_t len)
{
    GString *out = opaque;

    g_string_append_printf(out, "    %016" PRIx64 "-%016" PRIx64
                           " (prio 0, i/o): %s\n", (uint64_t)base,
                           (uint64_t)base + (len ? len - 1 : 0), name);
}

/* QEMU's layout: one address space per block, its regions beneath the
 * root container. lemu's maps are flat, so there is one level. */
JsonValue *qmp_x_query_mtree(QmpContext *ctx, const JsonValue *args,
                             GError **errp)
{
    Machine *m = ctx->machine;
    GString *out = g_string_new("address-space: memory\n"
                                "  0000000000000000-ffffffffffffffff "
                                "(prio 0, i/o): system\n");
    guint n = memory_map_count(m->mem);

    for (guint i = 0; i < n; i++) {
        const MemoryRegion *mr = memory_map_region_at(m->mem, i);

        g_string_append_printf(out, "    %016" PRIx64 "-%016" PRIx64
                               " (prio 0, %s): %s\n", mr->base,
                               mr->base + (mr->size ? mr->size - 1 : 0),
                               region_kind_name(mr->kind), mr->name);
    }
    g_string_append(out, "\naddress-space: I/O\n"
                    "  0000000000000000-000000000000ffff (prio 0, i/o): "
                    "io\n");
    ioport_map_foreach(m->io, mtree_port, out);
    g_string_append_c(out, '\n');
    return human_readable_text(out);
}

/* ---- x-query-qtree ------------------------------------------------------ */

/* "128 MiB", as QEMU shows sizes next to their byte count. */
static char *size_to_str(uint64_t v)
{
    static const char *const units[] = {
        "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB",
    };
    unsigned i = 0;
    double d = v;

    while (d >= 1024 && i + 1 < G_N_ELEMENTS(units)) {
        d /= 1024;
        i++;
    }
    return g_strdup_printf("%0.3g %s", d, units[i]);
}

static void qtree_prop(GString *out, const Device *dev,
                       const DeviceProperty *prop)
{
    const uint8_t *field = (const uint8_t *)dev + prop->offset;
    uint64_t v = 0;

    g_string_append_printf(out, "    %s = ", prop->name);
    switch (prop->type) {
    case PROP_BOOL:
        g_string_append(out, *(const bool *)field ? "true" : "false");
        break;
    case PROP_STRING: {
        const char *s = *(char *const *)field;
        g_string_append_printf(out, "\"%s\"", s ? s : "");
        break;
    }
    case PROP_CHARDEV: {
        Chardev *chr = *(Chardev *const *)field;
        g_string_append_printf(out, "\"%s\"", chr ? chardev_id(chr) : "");
        break;
    }
    case PROP_SIZE: {
        g_autofree char *human = size_to_str(*(const uint64_t *)field);
        g_string_append_printf(out, "%" PRIu64 " (%s)",
                               *(const uint64_t *)field, human);
        break;
    }
    case PROP_U8:
        v = *(const uint8_t *)field;
        break;
    case PROP_U16:
        v = *(const uint16_t *)field;
        break;
    case PROP_U32:
        v = *(const uint32_t *)field;
        break;
    case PROP_U64:
        v = *(const uint64_t *)field;
        break;
    }
    if (prop->type == PROP_U8 || prop->type == PROP_U16 ||
        prop->type == PROP_U32 || prop->type == PROP_U64) {
        g_string_append_printf(out, "%" PRIu64 " (0x%" PRIx64 ")", v, v);
    }
    g_string_append_c(out, '\n');
}

/* Every device with its class, id and properties. lemu has no bus
 * hierarchy yet: they all hang off the main system bus. */
JsonValue *qmp_x_query_qtree(QmpContext *ctx, const JsonValue *args,
                             GError **errp)
{
    Machine *m = ctx->machine;
    GString *out = g_string_new("bus: main-system-bus\n  type System\n");

    for (guint i = 0; i < m->devices->len; i++) {
        const Device *dev = g_ptr_array_index(m->devices, i);

        g_string_append_printf(out, "  dev: %s, id \"%s\"\n", dev->cls->name,
                               dev->id ? dev->id : "");
        for (const DeviceProperty *p = dev->cls->props; p && p->name; p++) {
            qtree_prop(out, dev, p);
        }
    }
    return human_readable_text(out);
}
