/*
 * A small printf: %s %c %d %i %u %x %X %p %%, the '0' and '-' flags, a
 * field width, and the 'l'/'ll'/'z' length modifiers. 32-bit builds have
 * no libgcc, so 64-bit decimal conversion divides with DIVL by hand.
 */
#include "guest.h"

struct out {
    char *buf;          /* NULL: straight to COM1 */
    size_t size;
    size_t len;
};

static void emit(struct out *o, char c)
{
    if (!o->buf) {
        if (c == '\n') {
            serial_putc('\r');
        }
        serial_putc(c);
    } else if (o->len + 1 < o->size) {
        o->buf[o->len] = c;
    }
    o->len++;
}

/* *n /= 10, returns the remainder. */
static unsigned divmod10(uint64_t *n)
{
#ifdef __x86_64__
    unsigned r = (unsigned)(*n % 10);
    *n /= 10;
    return r;
#else
    uint32_t hi = (uint32_t)(*n >> 32), lo = (uint32_t)*n;
    uint32_t qhi = hi / 10, rem = hi % 10, qlo;
    /* rem < 10, so (rem:lo) / 10 fits in 32 bits */
    __asm__("divl %4" : "=a"(qlo), "=d"(rem) : "a"(lo), "d"(rem), "rm"(10u));
    *n = ((uint64_t)qhi << 32) | qlo;
    return rem;
#endif
}

static void emit_number(struct out *o, uint64_t v, unsigned base, bool neg,
                        bool upper, unsigned width, bool zero, bool left)
{
    char tmp[24];
    unsigned n = 0;
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";

    do {
        if (base == 16) {
            tmp[n++] = digits[v & 15];
            v >>= 4;
        } else {
            tmp[n++] = digits[divmod10(&v)];
        }
    } while (v);

    unsigned len = n + (neg ? 1 : 0);
    if (neg && zero) {
        emit(o, '-');
    }
    while (!left && len < width) {
        emit(o, zero ? '0' : ' ');
        width--;
    }
    if (neg && !zero) {
        emit(o, '-');
    }
    while (n) {
        emit(o, tmp[--n]);
    }
    while (left && len < width) {
        emit(o, ' ');
        width--;
    }
}

static void format(struct out *o, const char *fmt, va_list ap)
{
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            emit(o, *fmt);
            continue;
        }
        fmt++;
        bool zero = false, left = false;
        unsigned width = 0, lng = 0;
        for (;; fmt++) {
            if (*fmt == '0') {
                zero = true;
            } else if (*fmt == '-') {
                left = true;
            } else {
                break;
            }
        }
        while (*fmt >= '0' && *fmt <= '9') {
            width = width * 10 + (unsigned)(*fmt++ - '0');
        }
        while (*fmt == 'l' || *fmt == 'z') {
            lng += *fmt == 'z' ? (sizeof(size_t) == 8 ? 2 : 1) : 1;
            fmt++;
        }
        uint64_t u;
        int64_t s;
        switch (*fmt) {
        case 'd':
        case 'i':
            s = lng >= 2 ? va_arg(ap, long long)
                : lng == 1 ? va_arg(ap, long) : va_arg(ap, int);
            emit_number(o, s < 0 ? -(uint64_t)s : (uint64_t)s, 10, s < 0,
                        false, width, zero, left);
            break;
        case 'u':
        case 'x':
        case 'X':
            u = lng >= 2 ? va_arg(ap, unsigned long long)
                : lng == 1 ? va_arg(ap, unsigned long)
                : va_arg(ap, unsigned int);
            emit_number(o, u, *fmt == 'u' ? 10 : 16, false, *fmt == 'X',
                        width, zero, left);
            break;
        case 'p':
            emit(o, '0');
            emit(o, 'x');
            emit_number(o, (uintptr_t)va_arg(ap, void *), 16, false, false,
                        width, zero, left);
            break;
        case 'c':
            emit(o, (char)va_arg(ap, int));
            break;
        case 's': {
            const char *str = va_arg(ap, const char *);
            if (!str) {
                str = "(null)";
            }
            size_t len = strlen(str);
            while (!left && len < width) {
                emit(o, ' ');
                width--;
            }
            for (size_t i = 0; str[i]; i++) {
                emit(o, str[i]);
            }
            while (left && len < width) {
                emit(o, ' ');
                width--;
            }
            break;
        }
        case '%':
            emit(o, '%');
            break;
        case '\0':
            return;
        default:
            emit(o, '%');
            emit(o, *fmt);
            break;
        }
    }
}

int vprintf(const char *fmt, va_list ap)
{
    struct out o = { 0 };
    format(&o, fmt, ap);
    return (int)o.len;
}

int printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vprintf(fmt, ap);
    va_end(ap);
    return n;
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
    struct out o = { .buf = buf, .size = size };
    format(&o, fmt, ap);
    if (size) {
        buf[o.len < size ? o.len : size - 1] = '\0';
    }
    return (int)o.len;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

void puts_raw(const char *s)
{
    serial_write(s, strlen(s));
}
