/* user64: ring-3 runs for the 64-bit guests (see user64.h). */
#include "user64.h"

uint64_t user_reports[4];
unsigned user_nr_reports;

static uint8_t user_stack[8192] __attribute__((aligned(16)));
static jmp_buf user_exit;
static uintptr_t user_bad_ud;        /* RIP of a #UD that is not UD2 */

static void ud_syscall(struct int_frame *f)
{
    const uint8_t *insn = (const uint8_t *)(uintptr_t)f->ip;

    if (!(f->cs & 3) || insn[0] != 0x0f || insn[1] != 0x0b) {
        user_bad_ud = f->ip;
        longjmp(user_exit, 2);
    }
    if ((uint32_t)f->rax == SYS_REPORT) {
        if (user_nr_reports < ARRAY_SIZE(user_reports)) {
            user_reports[user_nr_reports++] = f->rdi;
        }
        f->ip += 2;
        return;
    }
    longjmp(user_exit, 1);
}

static void run_user(void *arg)
{
    const struct user_run *r = arg;
    void *top = user_stack + sizeof(user_stack);

    if (setjmp(user_exit) == 0) {
        if (r->enter) {
            r->enter(r->fn, top);
        }
        enter_user(r->fn, top, r->cs, r->ss, r->rflags);
    }
}

int user_run_caught(const struct user_run *r, struct fault_info *fi)
{
    user_nr_reports = 0;
    user_bad_ud = 0;
    idt_set_handler(6, ud_syscall);
    int v = catch_fault(run_user, (void *)r, fi);
    idt_set_handler(6, NULL);
    if (user_bad_ud) {
        memset(fi, 0, sizeof(*fi));
        fi->vector = 6;
        fi->ip = user_bad_ud;
        fi->cs = (uint16_t)r->cs;
        v = 6;
    }
    return v;
}
