/*
 * The monitor commands that read guest memory and registers: x, xp
 * (dumps and /i disassembly), print, memsave, pmemsave (on top of QMP)
 * and cpu, with QEMU's syntax: /FMT and expressions over $REG.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <string.h>
#include "monitor/hmp-internal.h"
#include "lemu/util/disas.h"

/* x/xp and print: the most items (or instructions) one command shows, so
 * that a typo like x/99999999 cannot make lemu build gigabytes of text. */
#define HMP_MAX_COUNT 65536
/* The longest x86 instruction. */
#define X86_MAX_INSN_LEN 15
#define GUEST_PAGE_SIZE 4096ULL

#ifndef RFLAGS_VM
#define RFLAGS_VM (1ULL << 17)
#endif

/* ---- CPU state ---------------------------------------------------------- */

/* The current CPU's state, or NULL after printing why not. */
static const X86CPUState *hmp_cpu(Hmp *h)
{
    GError *err = NULL;

    if (h->have_state) {
        return &h->state;
    }
    if (*h->cpu_index >= h->m->nr_vcpus) {
        hmp_printf(h, "No CPU available\n");
        return NULL;
    }
    if (!hmp_read_cpu_states(h->m, *h->cpu_index, 1, &h->state, &err)) {
        hmp_printf(h, "Error: %s\n", err->message);
        g_error_free(err);
        return NULL;
    }
    h->have_state = true;
    return &h->state;
}

/* 16, 32 or 64: the default operand size of the code CS selects. */
static unsigned cpu_code_bits(const X86CPUState *st)
{
    const X86Segment *cs = &st->segs[SEG_CS];

    if ((st->efer & EFER_LMA) && cs->l) {
        return 64;
    }
    if ((st->cr0 & CR0_PE) && !(st->rflags & RFLAGS_VM) && cs->db) {
        return 32;
    }
    return 16;
}

/* ---- guest memory ------------------------------------------------------- */

static bool hmp_phys_read(void *opaque, uint64_t gpa, void *buf,
                          uint64_t len)
{
    Machine *m = opaque;

    return memory_map_read(m->mem, gpa, buf, len);
}

/* Reads [addr, addr + len) all or nothing: physical, or linear through
 * the current CPU's page tables (a page at a time, each translated). */
static bool hmp_read(Hmp *h, bool phys, uint64_t addr, uint8_t *buf,
                     size_t len)
{
    const X86CPUState *st;

    if (phys) {
        return memory_map_read(h->m->mem, addr, buf, len);
    }
    st = hmp_cpu(h);
    if (!st) {
        return false;
    }
    while (len > 0) {
        uint64_t chunk = GUEST_PAGE_SIZE - (addr & (GUEST_PAGE_SIZE - 1));
        uint64_t gpa;

        chunk = MIN(chunk, len);
        if (!x86_cpu_translate_debug(st, hmp_phys_read, h->m, addr, &gpa) ||
            !memory_map_read(h->m->mem, gpa, buf, chunk)) {
            return false;
        }
        addr += chunk;
        buf += chunk;
        len -= chunk;
    }
    return true;
}

/* Reads as much of [addr, addr + len) as is readable from its start;
 * returns how many bytes that is. */
static size_t hmp_read_prefix(Hmp *h, bool phys, uint64_t addr,
                              uint8_t *buf, size_t len)
{
    size_t done = 0;

    while (done < len) {
        uint64_t a = addr + done;
        size_t chunk = MIN(GUEST_PAGE_SIZE - (a & (GUEST_PAGE_SIZE - 1)),
                           len - done);

        if (!hmp_read(h, phys, a, buf + done, chunk)) {
            /* Part of this page may still be there (a region's end). */
            while (chunk > 0 && hmp_read(h, phys, addr + done, buf + done,
                                         1)) {
                done++;
                chunk--;
            }
            break;
        }
        done += chunk;
    }
    return done;
}

/* ---- expressions -------------------------------------------------------- */

/*
 * QEMU's monitor expressions: numbers (0x hex, 0 octal, decimal), $REG,
 * 'c', parentheses, unary + - ~, and * / % & | ^ + - with C's usual
 * precedence among them. Arithmetic wraps at 64 bits.
 */
typedef struct Expr {
    Hmp *h;
    const char *p;
    char *error;                 /* set on the first error */
} Expr;

static bool expr_fail(Expr *e, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static bool expr_fail(Expr *e, const char *fmt, ...)
{
    va_list ap;

    if (!e->error) {
        va_start(ap, fmt);
        e->error = g_strdup_vprintf(fmt, ap);
        va_end(ap);
    }
    return false;
}

/* A register $NAME reads: a uint64_t field of X86CPUState (masked to
 * @bits), a segment selector, or $pc, the linear address CS.base + RIP. */
typedef enum { REG_FIELD, REG_SELECTOR, REG_LINEAR_PC } RegKind;

typedef struct RegDef {
    const char *name;
    RegKind kind;
    size_t offset;               /* REG_FIELD: of the uint64_t */
    unsigned index;              /* REG_SELECTOR: SEG_* */
    unsigned bits;
} RegDef;

#define GPR(name, r, bits) \
    { name, REG_FIELD, offsetof(X86CPUState, regs[r]), 0, bits }
#define FIELD(name, f, bits) \
    { name, REG_FIELD, offsetof(X86CPUState, f), 0, bits }
#define SELECTOR(name, seg) { name, REG_SELECTOR, 0, seg, 16 }

static const RegDef reg_defs[] = {
    GPR("rax", R_EAX, 64), GPR("rbx", R_EBX, 64), GPR("rcx", R_ECX, 64),
    GPR("rdx", R_EDX, 64), GPR("rsi", R_ESI, 64), GPR("rdi", R_EDI, 64),
    GPR("rbp", R_EBP, 64), GPR("rsp", R_ESP, 64), GPR("r8", R_R8, 64),
    GPR("r9", R_R9, 64), GPR("r10", R_R10, 64), GPR("r11", R_R11, 64),
    GPR("r12", R_R12, 64), GPR("r13", R_R13, 64), GPR("r14", R_R14, 64),
    GPR("r15", R_R15, 64),
    GPR("eax", R_EAX, 32), GPR("ebx", R_EBX, 32), GPR("ecx", R_ECX, 32),
    GPR("edx", R_EDX, 32), GPR("esi", R_ESI, 32), GPR("edi", R_EDI, 32),
    GPR("ebp", R_EBP, 32), GPR("esp", R_ESP, 32),
    GPR("ax", R_EAX, 16), GPR("bx", R_EBX, 16), GPR("cx", R_ECX, 16),
    GPR("dx", R_EDX, 16), GPR("si", R_ESI, 16), GPR("di", R_EDI, 16),
    GPR("bp", R_EBP, 16), GPR("sp", R_ESP, 16),
    FIELD("rip", rip, 64), FIELD("eip", rip, 32), FIELD("ip", rip, 16),
    FIELD("rflags", rflags, 64), FIELD("eflags", rflags, 32),
    FIELD("cr0", cr0, 64), FIELD("cr2", cr2, 64), FIELD("cr3", cr3, 64),
    FIELD("cr4", cr4, 64), FIELD("cr8", cr8, 64), FIELD("efer", efer, 64),
    SELECTOR("es", SEG_ES), SELECTOR("cs", SEG_CS), SELECTOR("ss", SEG_SS),
    SELECTOR("ds", SEG_DS), SELECTOR("fs", SEG_FS), SELECTOR("gs", SEG_GS),
    { "pc", REG_LINEAR_PC, 0, 0, 64 },
};

static uint64_t reg_value(const RegDef *r, const X86CPUState *st)
{
    uint64_t v;

    switch (r->kind) {
    case REG_SELECTOR:
        return st->segs[r->index].selector;
    case REG_LINEAR_PC:
        return st->segs[SEG_CS].base + st->rip;
    default:
        memcpy(&v, (const uint8_t *)st + r->offset, sizeof(v));
        return r->bits == 64 ? v : v & ((1ULL << r->bits) - 1);
    }
}

static bool expr_register(Expr *e, uint64_t *v)
{
    const char *start = e->p;
    const X86CPUState *st;
    size_t len;

    while (g_ascii_isalnum(*e->p) || *e->p == '_') {
        e->p++;
    }
    len = e->p - start;
    for (size_t i = 0; i < G_N_ELEMENTS(reg_defs); i++) {
        if (strlen(reg_defs[i].name) == len &&
            g_ascii_strncasecmp(reg_defs[i].name, start, len) == 0) {
            /* hmp_cpu prints its own error; the expression just fails. */
            st = hmp_cpu(e->h);
            if (!st) {
                return expr_fail(e, "cannot read the registers");
            }
            *v = reg_value(&reg_defs[i], st);
            return true;
        }
    }
    if (len == 0) {
        return expr_fail(e, "register name expected after '$'");
    }
    return expr_fail(e, "unknown register '$%.*s'", (int)len, start);
}

static bool expr_sum(Expr *e, uint64_t *v);

static bool expr_unary(Expr *e, uint64_t *v)
{
    char c;

    e->p = hmp_skip_spaces(e->p);
    c = *e->p;
    if (c == '+' || c == '-' || c == '~') {
        e->p++;
        if (!expr_unary(e, v)) {
            return false;
        }
        *v = c == '-' ? -*v : c == '~' ? ~*v : *v;
        return true;
    }
    if (c == '(') {
        e->p++;
        if (!expr_sum(e, v)) {
            return false;
        }
        e->p = hmp_skip_spaces(e->p);
        if (*e->p != ')') {
            return expr_fail(e, "')' expected");
        }
        e->p++;
        return true;
    }
    if (c == '$') {
        e->p++;
        return expr_register(e, v);
    }
    if (c == '\'') {
        /* A character constant, as QEMU accepts: 'a' */
        if (!e->p[1] || e->p[2] != '\'') {
            return expr_fail(e, "invalid character constant");
        }
        *v = (uint8_t)e->p[1];
        e->p += 3;
        return true;
    }
    if (g_ascii_isdigit(c)) {
        char *end;

        errno = 0;
        *v = g_ascii_strtoull(e->p, &end, 0);
        if (errno == ERANGE) {
            return expr_fail(e, "number too large (at most 64 bits)");
        }
        e->p = end;
        return true;
    }
    if (c == '\0') {
        return expr_fail(e, "unexpected end of expression");
    }
    return expr_fail(e, "invalid char '%c' in expression", c);
}

static bool expr_prod(Expr *e, uint64_t *v)
{
    if (!expr_unary(e, v)) {
        return false;
    }
    for (;;) {
        char op = *(e->p = hmp_skip_spaces(e->p));
        uint64_t rhs;

        if (op != '*' && op != '/' && op != '%') {
            return true;
        }
        e->p++;
        if (!expr_unary(e, &rhs)) {
            return false;
        }
        if (op == '*') {
            *v *= rhs;
        } else if (rhs == 0) {
            return expr_fail(e, "division by zero");
        } else {
            *v = op == '/' ? *v / rhs : *v % rhs;
        }
    }
}

static bool expr_logic(Expr *e, uint64_t *v)
{
    if (!expr_prod(e, v)) {
        return false;
    }
    for (;;) {
        char op = *(e->p = hmp_skip_spaces(e->p));
        uint64_t rhs;

        if (op != '&' && op != '|' && op != '^') {
            return true;
        }
        e->p++;
        if (!expr_prod(e, &rhs)) {
            return false;
        }
        *v = op == '&' ? *v & rhs : op == '|' ? *v | rhs : *v ^ rhs;
    }
}

static bool expr_sum(Expr *e, uint64_t *v)
{
    if (!expr_logic(e, v)) {
        return false;
    }
    for (;;) {
        char op = *(e->p = hmp_skip_spaces(e->p));
        uint64_t rhs;

        if (op != '+' && op != '-') {
            return true;
        }
        e->p++;
        if (!expr_logic(e, &rhs)) {
            return false;
        }
        *v = op == '+' ? *v + rhs : *v - rhs;
    }
}

/* Parses one expression at *@pp (advancing it past the expression); on
 * error prints what is wrong (@what names the argument). */
static bool hmp_parse_expr(Hmp *h, const char *what, const char **pp,
                           uint64_t *v)
{
    Expr e = { .h = h, .p = hmp_skip_spaces(*pp) };

    if (!*e.p) {
        hmp_bad_args(h, "missing %s (expected an expression such as "
                     "0x1000 or $rip)", what);
        return false;
    }
    if (!expr_sum(&e, v)) {
        hmp_bad_args(h, "%s", e.error);
        g_free(e.error);
        return false;
    }
    *pp = e.p;
    return true;
}

/* A word or a "double-quoted string" (\" and \\ inside): file names. */
static char *hmp_parse_string(Hmp *h, const char *what, const char **pp)
{
    const char *p = hmp_skip_spaces(*pp);
    GString *s = g_string_new(NULL);

    if (*p == '"') {
        for (p++; *p && *p != '"'; p++) {
            if (*p == '\\' && (p[1] == '"' || p[1] == '\\')) {
                p++;
            }
            g_string_append_c(s, *p);
        }
        if (*p != '"') {
            hmp_bad_args(h, "unterminated string");
            g_string_free(s, TRUE);
            return NULL;
        }
        p++;
    } else {
        while (*p && !g_ascii_isspace(*p)) {
            g_string_append_c(s, *p++);
        }
    }
    if (s->len == 0) {
        hmp_bad_args(h, "missing %s", what);
        g_string_free(s, TRUE);
        return NULL;
    }
    *pp = p;
    return g_string_free(s, FALSE);
}

/* ---- /FMT: count, format, size ------------------------------------------ */

typedef struct HmpFormat {
    unsigned count;
    char format;                 /* x d u o c i */
    unsigned size;               /* 1, 2, 4, 8; 0 when not given */
} HmpFormat;

/* Parses an optional "/FMT" at *@pp: count (default 1), format letter
 * (default x), size letter (b h w g), in QEMU's syntax. */
static bool hmp_parse_format(Hmp *h, const char **pp, HmpFormat *f)
{
    const char *p = hmp_skip_spaces(*pp);

    f->count = 1;
    f->format = 'x';
    f->size = 0;
    if (*p != '/') {
        return true;
    }
    p++;
    if (g_ascii_isdigit(*p)) {
        uint64_t count = 0;

        for (; g_ascii_isdigit(*p); p++) {
            count = MIN(count * 10 + (*p - '0'), (uint64_t)UINT32_MAX);
        }
        if (count > HMP_MAX_COUNT) {
            hmp_bad_args(h, "count %" PRIu64 " is too large (at most %d)",
                         count, HMP_MAX_COUNT);
            return false;
        }
        f->count = count;
    }
    for (;; p++) {
        switch (*p) {
        case 'x': case 'd': case 'u': case 'o': case 'c': case 'i':
            f->format = *p;
            continue;
        case 'b':
            f->size = 1;
            continue;
        case 'h':
            f->size = 2;
            continue;
        case 'w':
            f->size = 4;
            continue;
        case 'g': case 'L':
            f->size = 8;
            continue;
        }
        break;
    }
    if (*p && !g_ascii_isspace(*p)) {
        hmp_bad_args(h, "invalid char in format: '%c'", *p);
        return false;
    }
    *pp = p;
    return true;
}

/* ---- x, xp, print ------------------------------------------------------- */

static void hmp_printc(Hmp *h, unsigned c)
{
    switch (c) {
    case '\'':
        hmp_printf(h, "'\\''");
        break;
    case '\\':
        hmp_printf(h, "'\\\\'");
        break;
    case '\n':
        hmp_printf(h, "'\\n'");
        break;
    case '\r':
        hmp_printf(h, "'\\r'");
        break;
    default:
        if (c >= 32 && c <= 126) {
            hmp_printf(h, "'%c'", c);
        } else {
            hmp_printf(h, "'\\x%02x'", c & 0xff);
        }
        break;
    }
}

static void hmp_print_value(Hmp *h, char format, unsigned size, uint64_t v)
{
    unsigned bits = size * 8;

    switch (format) {
    case 'o':
        hmp_printf(h, "%#*" PRIo64, (bits + 2) / 3, v);
        break;
    case 'u':
        hmp_printf(h, "%*" PRIu64, (bits * 10 + 32) / 33, v);
        break;
    case 'd':
        /* As QEMU: the item is not sign-extended, so only /g shows
         * negative numbers. */
        hmp_printf(h, "%*" PRId64, (bits * 10 + 32) / 33, (int64_t)v);
        break;
    case 'c':
        hmp_printc(h, (unsigned)(v & 0xff));
        break;
    default:
        hmp_printf(h, "0x%0*" PRIx64, size * 2, v);
        break;
    }
}

/* x/i and xp/i: @count instructions from @addr, QEMU's monitor layout. */
static void hmp_disas(Hmp *h, bool phys, uint64_t addr, unsigned count,
                      unsigned size)
{
    const X86CPUState *st = hmp_cpu(h);
    size_t want = (size_t)count * X86_MAX_INSN_LEN;
    size_t avail, pos = 0, done = 0;
    unsigned bits;
    uint8_t *buf;

    if (!st) {
        return;
    }
    if (!disas_available()) {
        hmp_printf(h, "Cannot disassemble: capstone could not be loaded\n");
        return;
    }
    /* /h and /w pick 16- and 32-bit code, /g 64; else the CPU's mode. */
    bits = size == 2 ? 16 : size == 4 ? 32 : size == 8 ? 64 :
           cpu_code_bits(st);
    buf = g_malloc(MAX(want, 1));
    avail = hmp_read_prefix(h, phys, addr, buf, want);
    while (done < count) {
        size_t n, k;

        n = disas_x86(buf + pos, avail - pos, addr + pos, bits,
                      count - done, DISAS_STYLE_MONITOR, h->out, &k);
        pos += n;
        done += k;
        if (done >= count) {
            break;
        }
        if (avail < want && avail - pos < X86_MAX_INSN_LEN) {
            /* The next instruction runs into memory that is not there. */
            hmp_printf(h, "0x%08" PRIx64 ": unable to read memory\n",
                       addr + pos);
            break;
        }
        /* Not an instruction: show the byte and go on after it. */
        hmp_printf(h, "0x%08" PRIx64 ":  %02x %*s  .byte    0x%02x\n",
                   addr + pos, buf[pos], 7 * 3, "", buf[pos]);
        pos++;
        done++;
    }
    g_free(buf);
}

static void hmp_memory_dump(Hmp *h, const char *name, const char *args,
                            bool phys)
{
    HmpFormat f;
    uint64_t addr;
    unsigned size, line_size;
    uint64_t len;

    if (!hmp_parse_format(h, &args, &f) ||
        !hmp_parse_expr(h, "address", &args, &addr) ||
        !hmp_expect_end(h, name, args)) {
        return;
    }
    if (f.format == 'i') {
        hmp_disas(h, phys, addr, f.count, f.size);
        return;
    }
    /* Linear addresses go through the current CPU's page tables. */
    if (!phys && !hmp_cpu(h)) {
        return;
    }
    size = f.format == 'c' ? 1 : f.size ? f.size : 4;
    line_size = size == 1 ? 8 : 16;
    len = (uint64_t)f.count * size;
    while (len > 0) {
        uint8_t buf[16];
        unsigned l = MIN(len, line_size);

        hmp_printf(h, "%016" PRIx64 ":", addr);
        if (!hmp_read(h, phys, addr, buf, l)) {
            hmp_printf(h, " Cannot access memory\n");
            return;
        }
        for (unsigned i = 0; i < l; i += size) {
            uint64_t v = 0;

            /* Guest memory is little-endian. */
            for (unsigned b = 0; b < size; b++) {
                v |= (uint64_t)buf[i + b] << (8 * b);
            }
            hmp_printf(h, " ");
            hmp_print_value(h, f.format, size, v);
        }
        hmp_printf(h, "\n");
        addr += l;
        len -= l;
    }
}

void hmp_x(Hmp *h, const char *name, const char *args)
{
    hmp_memory_dump(h, name, args, false);
}

void hmp_xp(Hmp *h, const char *name, const char *args)
{
    hmp_memory_dump(h, name, args, true);
}

void hmp_print(Hmp *h, const char *name, const char *args)
{
    HmpFormat f;
    uint64_t v;

    if (!hmp_parse_format(h, &args, &f) ||
        !hmp_parse_expr(h, "expression", &args, &v) ||
        !hmp_expect_end(h, name, args)) {
        return;
    }
    switch (f.format) {
    case 'o':
        hmp_printf(h, "%#" PRIo64 "\n", v);
        break;
    case 'u':
        hmp_printf(h, "%" PRIu64 "\n", v);
        break;
    case 'd':
        hmp_printf(h, "%" PRId64 "\n", (int64_t)v);
        break;
    case 'c':
        hmp_printc(h, (unsigned)(v & 0xff));
        hmp_printf(h, "\n");
        break;
    default:
        hmp_printf(h, "%#" PRIx64 "\n", v);
        break;
    }
}

/* memsave ADDR SIZE FILE / pmemsave ADDR SIZE FILE */
static void hmp_memsave_common(Hmp *h, const char *name, const char *args,
                               bool phys)
{
    uint64_t addr, size;
    char *file;
    JsonValue *a;

    if (!hmp_parse_expr(h, "address", &args, &addr) ||
        !hmp_parse_expr(h, "size", &args, &size)) {
        return;
    }
    file = hmp_parse_string(h, "file name", &args);
    if (!file) {
        return;
    }
    if (!hmp_expect_end(h, name, args)) {
        g_free(file);
        return;
    }
    a = json_object();
    json_object_set(a, "val", json_uint(addr));
    json_object_set(a, "size", json_uint(size));
    json_object_set(a, "filename", json_string_take(file));
    if (!phys) {
        json_object_set_int(a, "cpu-index", *h->cpu_index);
    }
    json_free(hmp_qmp(h, phys ? "pmemsave" : "memsave", a));
}

void hmp_memsave(Hmp *h, const char *name, const char *args)
{
    hmp_memsave_common(h, name, args, false);
}

void hmp_pmemsave(Hmp *h, const char *name, const char *args)
{
    hmp_memsave_common(h, name, args, true);
}

void hmp_cpu_cmd(Hmp *h, const char *name, const char *args)
{
    uint64_t index;

    if (!hmp_parse_expr(h, "CPU index", &args, &index) ||
        !hmp_expect_end(h, name, args)) {
        return;
    }
    if (index >= h->m->nr_vcpus) {
        hmp_printf(h, "invalid CPU index\n");
        return;
    }
    *h->cpu_index = index;
    h->have_state = false;
}

