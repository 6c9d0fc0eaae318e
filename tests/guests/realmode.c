/*
 * realmode: from 32-bit protected mode down to 16-bit protected mode and
 * real mode and back. The trampoline (realmode-tramp.S) prints its own
 * progress; this side copies it below 1 MiB and checks what it stored.
 */
#include "guest.h"

#define TRAMP_BASE 0x7000

extern const char rm_tramp_start[], rm_tramp_end[], rm_results[];
void realmode_run(void);

struct rm_results {
    uint16_t pm16_msw;
    uint16_t rm_msw;
    uint16_t seg;
    uint16_t far_cs;
    uint16_t far_ret;
    uint16_t int_ax;
    uint16_t int_cs;
    uint16_t int_count;
    uint32_t op32;
} __attribute__((packed));

int guest_main(struct multiboot_info *mbi)
{
    size_t size = (size_t)(rm_tramp_end - rm_tramp_start);
    const struct rm_results *r =
        phys_ptr(TRAMP_BASE + (uintptr_t)(rm_results - rm_tramp_start));

    (void)mbi;
    printf("realmode: copying a %s trampoline to 0x%x\n",
           size <= 4096 ? "<= 4 KiB" : "too large", TRAMP_BASE);
    CHECK(size <= 4096, "trampoline is %u bytes", (unsigned)size);
    memcpy(phys_ptr(TRAMP_BASE), rm_tramp_start, size);

    realmode_run();
    printf("32-bit protected mode again\n");

    CHECK(r->pm16_msw & CR0_PE, "CR0.PE clear in 16-bit protected mode");
    CHECK(!(r->rm_msw & CR0_PE), "CR0.PE set in real mode");
    CHECK(r->seg == 0x2468, "segment arithmetic read 0x%x, expected 0x2468",
          r->seg);
    CHECK(r->far_cs == 0, "far call ran with CS 0x%x, expected 0", r->far_cs);
    CHECK(r->far_ret == 0xb4b4, "far calls returned 0x%x", r->far_ret);
    CHECK(r->int_ax == 0x3333 && r->int_count == 1 && r->int_cs == 0x0700,
          "int $0x40: AX 0x%x, %u calls, pushed CS 0x%x", r->int_ax,
          r->int_count, r->int_cs);
    CHECK(r->op32 == 0x45678120, "32-bit operand ops gave 0x%x, expected "
          "0x45678120", r->op32);
    printf("realmode: results checked from protected mode\n");
    return 0;
}
