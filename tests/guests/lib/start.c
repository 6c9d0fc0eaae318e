/* C entry of the guests, exit through isa-debug-exit, small CPU helpers. */
#include "guest.h"

void guest_start(uint32_t magic, uint32_t mbi_addr);

void guest_start(uint32_t magic, uint32_t mbi_addr)
{
    serial_init();
    idt_init();
    if (magic != MULTIBOOT_BOOTLOADER_MAGIC) {
        fail("not started by a multiboot loader (EAX=0x%x)", magic);
    }
    if (guest_main((struct multiboot_info *)(uintptr_t)mbi_addr) != 0) {
        printf("FAIL\n");
        guest_exit(false);
    }
    printf("PASS\n");
    guest_exit(true);
}

static void __noreturn exit_with(uint32_t code)
{
    outl(DEBUG_EXIT_PORT, code);
    /* Nothing more: a VM that runs on for a moment after the write must
     * not see more output. Without the device, the runner times out. */
    for (;;) {
        cli();
        hlt();
    }
}

void guest_exit(bool pass)
{
    exit_with(pass ? DEBUG_EXIT_PASS : DEBUG_EXIT_FAIL);
}

void skip(const char *fmt, ...)
{
    va_list ap;
    printf("SKIP: ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    exit_with(DEBUG_EXIT_SKIP);
}

void fail(const char *fmt, ...)
{
    va_list ap;
    printf("FAIL: ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    guest_exit(false);
}

bool cpu_has_feature_edx(uint32_t leaf, uint32_t bit)
{
    uint32_t a, b, c, d;
    cpuid(leaf & 0x80000000u, 0, &a, &b, &c, &d);
    if (a < leaf) {
        return false;
    }
    cpuid(leaf, 0, &a, &b, &c, &d);
    return d & bit;
}

bool cmdline_has(const struct multiboot_info *mbi, const char *word)
{
    if (!(mbi->flags & MB_INFO_CMDLINE)) {
        return false;
    }
    const char *start = (const char *)(uintptr_t)mbi->cmdline;
    size_t n = strlen(word);
    for (const char *s = start; *s; s++) {
        if ((s == start || s[-1] == ' ') && !strncmp(s, word, n) &&
            (s[n] == ' ' || s[n] == '\0')) {
            return true;
        }
    }
    return false;
}
