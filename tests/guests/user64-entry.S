/* user64: IRETQ into ring 3 (see user64.h). */
    .section .text
    .code64
    .globl enter_user
    .type enter_user, @function
/* void enter_user(void (*fn)(void), void *stack_top, uint64_t cs,
 *                 uint64_t ss, uint64_t rflags) */
enter_user:
    push %rcx                       /* SS */
    push %rsi                       /* RSP */
    push %r8                        /* RFLAGS */
    push %rdx                       /* CS */
    push %rdi                       /* RIP */
    iretq
