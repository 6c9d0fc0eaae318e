/*
 * mix-guest: the interpreter benchmark's guest. A 64-bit multiboot kernel
 * (entered through tests/guests/lib/entry64.S) that runs a CoreMark-like
 * mix of integer, memory and branch work a number of times
 * ("iterations=N" on the command line), checks that every iteration gave
 * the known checksum, and exits through isa-debug-exit.
 *
 * Serial protocol (tests/bench/interp.py times the guest between the two
 * markers, so VMM start-up and firmware are not counted):
 *   mix: N iterations
 *   mix: start
 *   mix: end
 *   mix: checksum 0x... ok      (or FAIL: ...)
 *   PASS
 *
 * The parts, each re-initialised from the same seed every iteration:
 *   - CRC-32 (table driven) over a 16 KiB buffer, and bit by bit over 1 KiB;
 *   - a heap sort and a quicksort of 2048 pseudo-random 32-bit numbers;
 *   - a 24x24 integer matrix multiply;
 *   - a 1024-node linked list in shuffled memory order: walks, searches,
 *     reversal;
 *   - a CoreMark-style state machine that classifies the tokens of a text
 *     (integers, decimals, exponents, hex, junk);
 *   - 64-bit multiply, divide and modulo.
 * Everything is unsigned and deterministic: the same C gives the same
 * checksum on any compiler, which MIX_EXPECTED records.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "asm-defs.h"

#define MIX_EXPECTED 0x7188b53bb226953full
#define DEFAULT_ITERATIONS 3000

#define CRC_BYTES   16384
#define CRC_BIT_BYTES 1024
#define SORT_N      2048
#define MAT_N       24
#define LIST_N      1024
#define TEXT_BYTES  4096

void guest_start(uint32_t magic, uint32_t mbi_addr);

/* ---- console and exit ---- */

static inline void outb(uint16_t port, uint8_t v)
{
    __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
    uint8_t v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static void putc_serial(char c)
{
    while (!(inb(COM1_BASE + 5) & 0x20)) {
    }
    outb(COM1_BASE, (uint8_t)c);
}

static void puts_serial(const char *s)
{
    for (; *s; s++) {
        if (*s == '\n') {
            putc_serial('\r');
        }
        putc_serial(*s);
    }
}

static void put_hex(uint64_t v)
{
    puts_serial("0x");
    for (int shift = 60; shift >= 0; shift -= 4) {
        putc_serial("0123456789abcdef"[(v >> shift) & 15]);
    }
}

static void put_dec(uint64_t v)
{
    char buf[24];
    int i = sizeof(buf);

    buf[--i] = '\0';
    do {
        buf[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    puts_serial(&buf[i]);
}

static void __attribute__((noreturn)) exit_with(uint32_t code)
{
    /* Let the last line leave the UART before the VM goes away. */
    while (!(inb(COM1_BASE + 5) & 0x40)) {
    }
    __asm__ volatile("outl %0, %1" : : "a"(code), "Nd"(DEBUG_EXIT_PORT));
    for (;;) {
        __asm__ volatile("cli; hlt");
    }
}

/* ---- the work ---- */

struct node {
    struct node *next;
    uint32_t key;
    uint32_t value;
};

/* The working set, in .bss (zeroed by the entry code). */
static uint32_t crc_table[256];
static uint8_t crc_buf[CRC_BYTES];
static uint32_t sort_a[SORT_N], sort_b[SORT_N];
static uint32_t mat_a[MAT_N][MAT_N], mat_b[MAT_N][MAT_N], mat_c[MAT_N][MAT_N];
static struct node list_pool[LIST_N];
static uint16_t list_order[LIST_N];
static char text[TEXT_BYTES];

static uint32_t lcg_state;

static uint32_t lcg(void)
{
    lcg_state = lcg_state * 1664525u + 1013904223u;
    return lcg_state;
}

static uint64_t mix64(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h;
}

static void crc_table_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) {
            c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
        }
        crc_table[i] = c;
    }
}

static uint32_t crc32_table(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c = crc_table[(c ^ p[i]) & 0xff] ^ (c >> 8);
    }
    return ~c;
}

static uint32_t crc32_bitwise(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) {
            c = (c >> 1) ^ (0xedb88320u & -(c & 1));
        }
    }
    return ~c;
}

static uint64_t do_crc(void)
{
    for (size_t i = 0; i < CRC_BYTES; i += 4) {
        uint32_t r = lcg();
        crc_buf[i] = (uint8_t)r;
        crc_buf[i + 1] = (uint8_t)(r >> 8);
        crc_buf[i + 2] = (uint8_t)(r >> 16);
        crc_buf[i + 3] = (uint8_t)(r >> 24);
    }
    uint64_t h = crc32_table(crc_buf, CRC_BYTES);
    return mix64(h, crc32_bitwise(crc_buf + 123, CRC_BIT_BYTES));
}

static void sift_down(uint32_t *a, size_t start, size_t end)
{
    size_t root = start;
    while (2 * root + 1 <= end) {
        size_t child = 2 * root + 1;
        if (child + 1 <= end && a[child] < a[child + 1]) {
            child++;
        }
        if (a[root] >= a[child]) {
            return;
        }
        uint32_t t = a[root];
        a[root] = a[child];
        a[child] = t;
        root = child;
    }
}

static void heap_sort(uint32_t *a, size_t n)
{
    for (size_t start = n / 2; start-- > 0;) {
        sift_down(a, start, n - 1);
    }
    for (size_t end = n - 1; end > 0; end--) {
        uint32_t t = a[0];
        a[0] = a[end];
        a[end] = t;
        sift_down(a, 0, end - 1);
    }
}

/* Quicksort with an explicit stack and insertion sort for short runs. */
static void quick_sort(uint32_t *a, size_t n)
{
    size_t stack[64][2];
    int sp = 0;

    stack[sp][0] = 0;
    stack[sp][1] = n;
    sp++;
    while (sp > 0) {
        sp--;
        size_t lo = stack[sp][0], hi = stack[sp][1];
        while (hi - lo > 12) {
            uint32_t pivot = a[lo + (hi - lo) / 2];
            size_t i = lo, j = hi - 1;
            for (;;) {
                while (a[i] < pivot) {
                    i++;
                }
                while (a[j] > pivot) {
                    j--;
                }
                if (i >= j) {
                    break;
                }
                uint32_t t = a[i];
                a[i] = a[j];
                a[j] = t;
                i++;
                j--;
            }
            /* Push the larger half, loop on the smaller one. */
            if (j + 1 - lo > hi - (j + 1)) {
                stack[sp][0] = lo;
                stack[sp][1] = j + 1;
                lo = j + 1;
            } else {
                stack[sp][0] = j + 1;
                stack[sp][1] = hi;
                hi = j + 1;
            }
            sp++;
        }
        for (size_t i = lo + 1; i < hi; i++) {
            uint32_t v = a[i];
            size_t k = i;
            while (k > lo && a[k - 1] > v) {
                a[k] = a[k - 1];
                k--;
            }
            a[k] = v;
        }
    }
}

static uint64_t do_sort(void)
{
    uint64_t h = 0;

    for (size_t i = 0; i < SORT_N; i++) {
        sort_a[i] = sort_b[i] = lcg() >> (i & 7);
    }
    heap_sort(sort_a, SORT_N);
    quick_sort(sort_b, SORT_N);
    for (size_t i = 0; i < SORT_N; i++) {
        if (sort_a[i] != sort_b[i] || (i && sort_a[i - 1] > sort_a[i])) {
            return 0xbad50;     /* makes the checksum wrong */
        }
        h += (uint64_t)sort_a[i] * (i + 1);
    }
    return h;
}

static uint64_t do_matrix(void)
{
    uint64_t h = 0;

    for (int i = 0; i < MAT_N; i++) {
        for (int j = 0; j < MAT_N; j++) {
            mat_a[i][j] = lcg() & 0xffff;
            mat_b[i][j] = (lcg() >> 7) & 0xfff;
        }
    }
    for (int i = 0; i < MAT_N; i++) {
        for (int j = 0; j < MAT_N; j++) {
            uint32_t s = 0;
            for (int k = 0; k < MAT_N; k++) {
                s += mat_a[i][k] * mat_b[k][j];
            }
            mat_c[i][j] = s;
        }
    }
    for (int i = 0; i < MAT_N; i++) {
        for (int j = 0; j < MAT_N; j++) {
            h = mix64(h, mat_c[i][j] ^ (uint32_t)(i * MAT_N + j));
        }
    }
    return h;
}

static uint64_t do_list(void)
{
    struct node *head = NULL;
    uint64_t h = 0;

    /* Link the pool in a shuffled order (Fisher-Yates). */
    for (unsigned i = 0; i < LIST_N; i++) {
        list_order[i] = (uint16_t)i;
    }
    for (unsigned i = LIST_N - 1; i > 0; i--) {
        unsigned j = lcg() % (i + 1);
        uint16_t t = list_order[i];
        list_order[i] = list_order[j];
        list_order[j] = t;
    }
    for (unsigned i = 0; i < LIST_N; i++) {
        struct node *n = &list_pool[list_order[i]];
        n->key = lcg() & 0x3ff;
        n->value = i;
        n->next = head;
        head = n;
    }
    /* Searches: the first node with each of 64 keys. */
    for (uint32_t key = 0; key < 0x400; key += 16) {
        uint32_t pos = 0;
        struct node *n = head;
        while (n && n->key != key) {
            n = n->next;
            pos++;
        }
        h = mix64(h, n ? pos * 0x10001u + n->value : 0xffff);
    }
    /* Reverse, then a walk that weighs each node by its position. */
    struct node *prev = NULL;
    while (head) {
        struct node *next = head->next;
        head->next = prev;
        prev = head;
        head = next;
    }
    head = prev;
    uint32_t pos = 0;
    for (struct node *n = head; n; n = n->next, pos++) {
        h += (uint64_t)(n->key ^ n->value) * (pos | 1);
    }
    return h;
}

/* ---- state machine over a generated text ---- */

enum { ST_START, ST_INT, ST_SIGN, ST_FLOAT, ST_EXP, ST_EXP_SIGN, ST_SCI,
       ST_HEX0, ST_HEX, ST_JUNK, ST_NR };

static void gen_text(void)
{
    static const char *const pieces[] = {
        "5012", "1234", "-874", "+122", "35.54", "-.123", "-110.700",
        "+0.64400", "5.500e+3", "-.123e-2", "-87e+832", "+0.6e-12",
        "0x1f", "0xdeadBEEF", "T0.3e-1F", "-T.T++Tq", "1T3.4e4z", "34.0e-T^",
        "0x", "-", ".e",
    };
    size_t pos = 0;

    while (pos < TEXT_BYTES - 16) {
        const char *p = pieces[lcg() % (sizeof(pieces) / sizeof(pieces[0]))];
        while (*p) {
            text[pos++] = *p++;
        }
        text[pos++] = (lcg() & 3) ? ',' : ' ';
    }
    text[pos] = '\0';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_hex_digit(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* One token from @p; returns the final state, advances *p past it and
 * counts each transition. */
static int scan_token(const char **p, uint32_t *transitions)
{
    int st = ST_START;
    const char *s = *p;

    for (; *s && *s != ',' && *s != ' '; s++) {
        char c = *s;
        int next = st;
        switch (st) {
        case ST_START:
            if (c == '0' && s[1] == 'x') {
                next = ST_HEX0;
                s++;
            } else if (is_digit(c)) {
                next = ST_INT;
            } else if (c == '+' || c == '-') {
                next = ST_SIGN;
            } else if (c == '.') {
                next = ST_FLOAT;
            } else {
                next = ST_JUNK;
            }
            break;
        case ST_SIGN:
            next = is_digit(c) ? ST_INT : c == '.' ? ST_FLOAT : ST_JUNK;
            break;
        case ST_INT:
            next = is_digit(c) ? ST_INT : c == '.' ? ST_FLOAT :
                   (c == 'e' || c == 'E') ? ST_EXP : ST_JUNK;
            break;
        case ST_FLOAT:
            next = is_digit(c) ? ST_FLOAT :
                   (c == 'e' || c == 'E') ? ST_EXP : ST_JUNK;
            break;
        case ST_EXP:
            next = (c == '+' || c == '-') ? ST_EXP_SIGN :
                   is_digit(c) ? ST_SCI : ST_JUNK;
            break;
        case ST_EXP_SIGN:
        case ST_SCI:
            next = is_digit(c) ? ST_SCI : ST_JUNK;
            break;
        case ST_HEX0:
        case ST_HEX:
            next = is_hex_digit(c) ? ST_HEX : ST_JUNK;
            break;
        default:
            break;
        }
        if (next != st) {
            transitions[st * ST_NR + next]++;
        }
        st = next;
    }
    *p = *s ? s + 1 : s;
    return st;
}

static uint64_t do_state_machine(void)
{
    uint32_t finals[ST_NR] = { 0 };
    uint32_t transitions[ST_NR * ST_NR] = { 0 };
    const char *p = text;
    uint64_t h = 0;

    gen_text();
    while (*p) {
        finals[scan_token(&p, transitions)]++;
    }
    for (int i = 0; i < ST_NR; i++) {
        h = mix64(h, finals[i]);
    }
    for (int i = 0; i < ST_NR * ST_NR; i++) {
        h = h * 31 + transitions[i];
    }
    return h;
}

static uint64_t do_divide(void)
{
    uint64_t h = 1;

    for (unsigned i = 1; i < 512; i++) {
        uint64_t x = ((uint64_t)lcg() << 32) | lcg();
        uint64_t d = (lcg() | 1) >> (i & 15);
        h += x / d + x % (i + 3);
        h ^= h * 0x100000001b3ull;
    }
    return h;
}

static uint64_t iteration(void)
{
    uint64_t h = 0;

    lcg_state = 0x2545f491u;
    h = mix64(h, do_crc());
    h = mix64(h, do_sort());
    h = mix64(h, do_matrix());
    h = mix64(h, do_list());
    h = mix64(h, do_state_machine());
    h = mix64(h, do_divide());
    return h;
}

/* ---- command line ---- */

/* The value of "iterations=N" in the multiboot command line, or the
 * default. */
static uint64_t parse_iterations(uint32_t mbi_addr)
{
    const uint32_t *mbi = (const uint32_t *)(uintptr_t)mbi_addr;
    const char *key = "iterations=";

    if (!(mbi[0] & (1u << 2))) {            /* MB_INFO_CMDLINE */
        return DEFAULT_ITERATIONS;
    }
    const char *cmdline = (const char *)(uintptr_t)mbi[4];
    for (const char *s = cmdline; *s; s++) {
        if (s != cmdline && s[-1] != ' ') {
            continue;
        }
        size_t k = 0;
        while (key[k] && s[k] == key[k]) {
            k++;
        }
        if (key[k]) {
            continue;
        }
        uint64_t n = 0;
        for (s += k; is_digit(*s) && n < 100000000; s++) {
            n = n * 10 + (uint64_t)(*s - '0');
        }
        return n ? n : 1;
    }
    return DEFAULT_ITERATIONS;
}

void guest_start(uint32_t magic, uint32_t mbi_addr)
{
    uint64_t n, first = 0;
    bool ok = true;

    (void)magic;
    n = parse_iterations(mbi_addr);
    puts_serial("mix: ");
    put_dec(n);
    puts_serial(" iterations\n");
    crc_table_init();
    puts_serial("mix: start\n");
    for (uint64_t i = 0; i < n; i++) {
        uint64_t h = iteration();
        if (i == 0) {
            first = h;
        } else if (h != first) {
            ok = false;
        }
    }
    puts_serial("mix: end\n");
    puts_serial("mix: checksum ");
    put_hex(first);
    if (ok && first == MIX_EXPECTED) {
        puts_serial(" ok\nPASS\n");
        exit_with(DEBUG_EXIT_PASS);
    }
    puts_serial(ok ? "\nFAIL: expected checksum " :
                "\nFAIL: iterations disagree; expected ");
    put_hex(MIX_EXPECTED);
    puts_serial("\n");
    exit_with(DEBUG_EXIT_FAIL);
}
