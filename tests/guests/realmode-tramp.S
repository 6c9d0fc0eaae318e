/*
 * realmode: the trampoline. It is assembled here but runs only from its
 * copy at TRAMP_BASE (below 1 MiB): 16-bit protected mode with CS base 0
 * (offsets TRAMP_BASE + OFF(x)), then real mode with CS = DS = TRAMP_SEG
 * (offsets OFF(x)). Jumps and calls inside it are relative, so both work.
 * The results it stores are read back by realmode.c.
 */
#include "asm-defs.h"

#define TRAMP_BASE 0x7000
#define TRAMP_SEG  (TRAMP_BASE >> 4)
#define OFF(x)     ((x) - rm_tramp_start)
#define IVT_VECTOR 0x40
#define CR0_PE_BIT 1

    .section .rodata.tramp, "a"
    .code16
    .globl rm_tramp_start, rm_tramp_end, rm_results
rm_tramp_start:

/* Entered from realmode_run with ljmp $SEL_CODE16. */
pm16_entry:
    mov $SEL_DATA16, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %fs
    mov %ax, %gs
    mov %ax, %ss
    smsw %ax
    mov %ax, TRAMP_BASE + OFF(res_pm16_msw)
    mov $(TRAMP_BASE + OFF(msg_pm16)), %si
    call print16

    /* The real-mode IVT at 0, then PE off and a far jump to load CS. */
    lidt TRAMP_BASE + OFF(ivt_desc)
    mov %cr0, %eax
    and $~CR0_PE_BIT, %eax
    mov %eax, %cr0
    ljmp $TRAMP_SEG, $OFF(rm_entry)

rm_entry:
    mov $TRAMP_SEG, %ax
    mov %ax, %ds
    mov %ax, %es
    xor %ax, %ax
    mov %ax, %ss
    mov $TRAMP_BASE, %sp
    smsw %ax
    mov %ax, OFF(res_rm_msw)
    mov $OFF(msg_rm), %si
    call print16

    /* Segment arithmetic: 0800:0010, 0801:0000 and 07ff:0020 are all
     * linear 0x8010. */
    mov $0x0800, %ax
    mov %ax, %es
    movw $0x1234, %es:0x0010
    mov $0x0801, %ax
    mov %ax, %es
    mov %es:0x0000, %bx
    mov $0x07ff, %ax
    mov %ax, %es
    add %es:0x0020, %bx
    mov %bx, OFF(res_seg)
    mov $OFF(msg_seg_ok), %si
    cmp $0x2468, %bx
    je 1f
    mov $OFF(msg_seg_bad), %si
1:  call print16

    /* 32-bit operands in real mode (operand-size prefix). */
    mov $0x12345678, %eax
    rol $8, %eax
    mov $0x10, %ecx
    imul %ecx, %eax
    mov %eax, OFF(res_op32)
    mov $OFF(msg_op32_ok), %si
    cmp $0x45678120, %eax
    je 1f
    mov $OFF(msg_op32_bad), %si
1:  call print16

    /* Far calls: a direct one into segment 0 (offset TRAMP_BASE + x), and
     * an indirect one through a far pointer in memory. */
    lcall $0, $(TRAMP_BASE + OFF(far_func))
    mov %ax, OFF(res_far_cs)
    mov %bx, OFF(res_far_ret)
    lcall *OFF(far_ptr)
    add %bx, OFF(res_far_ret)
    mov $OFF(msg_far_ok), %si
    cmpw $0, OFF(res_far_cs)
    jne 2f
    cmpw $(0x5a5a + 0x5a5a), OFF(res_far_ret)
    je 3f
2:  mov $OFF(msg_far_bad), %si
3:  call print16

    /* A software interrupt through our own IVT entry, saving the old one. */
    xor %ax, %ax
    mov %ax, %es
    mov %es:IVT_VECTOR * 4, %eax
    mov %eax, OFF(saved_ivt)
    movw $OFF(isr40), %es:IVT_VECTOR * 4
    movw $TRAMP_SEG, %es:IVT_VECTOR * 4 + 2
    mov $0x1111, %ax
    int $IVT_VECTOR
    mov %ax, OFF(res_int_ax)
    mov OFF(saved_ivt), %eax
    xor %bx, %bx
    mov %bx, %es
    mov %eax, %es:IVT_VECTOR * 4
    mov $OFF(msg_int_ok), %si
    cmpw $0x3333, OFF(res_int_ax)
    jne 4f
    cmpw $1, OFF(res_int_count)
    jne 4f
    cmpw $TRAMP_SEG, OFF(res_int_cs)
    je 5f
4:  mov $OFF(msg_int_bad), %si
5:  call print16

    /* Back to 32-bit protected mode: the GDT pseudo-descriptor was stored
     * here by realmode_run (SGDT); LGDTL loads all 32 bits of its base. */
    mov $OFF(msg_leaving), %si
    call print16
    cli
    lgdtl OFF(gdt_ptr)
    mov %cr0, %eax
    or $CR0_PE_BIT, %eax
    mov %eax, %cr0
    ljmpl *OFF(pm32_ptr)

/* Called far from segment 0: returns CS in AX and a marker in BX. */
far_func:
    mov %cs, %ax
    mov $0x5a5a, %bx
    lret

far_func2:
    mov $0x5a5a, %bx
    lret

/* INT 0x40: AX += 0x2222, records the CS pushed by INT and a count. */
isr40:
    push %bp
    mov %sp, %bp
    push %bx
    mov 4(%bp), %bx                 /* [bp+2] IP, [bp+4] CS, [bp+6] FLAGS */
    mov %bx, %cs:OFF(res_int_cs)
    incw %cs:OFF(res_int_count)
    add $0x2222, %ax
    pop %bx
    pop %bp
    iret

/* Prints the string at DS:SI on COM1. */
print16:
    push %ax
    push %dx
6:  lodsb
    test %al, %al
    jz 8f
    mov %al, %ah
    mov $(COM1_BASE + 5), %dx
7:  in %dx, %al
    test $0x20, %al
    jz 7b
    mov $COM1_BASE, %dx
    mov %ah, %al
    out %al, %dx
    jmp 6b
8:  pop %dx
    pop %ax
    ret

    .balign 4
far_ptr:
    .word OFF(far_func2), TRAMP_SEG
pm32_ptr:
    .long rm_return32
    .word SEL_KCODE32
ivt_desc:
    .word 0x3ff
    .long 0
    .balign 4
    .word 0
gdt_ptr:
    .word 0
    .long 0
saved_ivt:
    .long 0

    .balign 4
rm_results:
res_pm16_msw:   .word 0
res_rm_msw:     .word 0
res_seg:        .word 0
res_far_cs:     .word 0xffff
res_far_ret:    .word 0
res_int_ax:     .word 0
res_int_cs:     .word 0
res_int_count:  .word 0
res_op32:       .long 0

msg_pm16:    .asciz "16-bit protected mode: hello from the trampoline\r\n"
msg_rm:      .asciz "real mode: CS=0700, stack at 0000:7000\r\n"
msg_op32_ok: .asciz "real mode: 32-bit operands ok\r\n"
msg_op32_bad: .asciz "real mode: 32-bit operands BAD\r\n"
msg_seg_ok:  .asciz "real mode: segment arithmetic ok\r\n"
msg_seg_bad: .asciz "real mode: segment arithmetic BAD\r\n"
msg_far_ok:  .asciz "real mode: far calls ok\r\n"
msg_far_bad: .asciz "real mode: far calls BAD\r\n"
msg_int_ok:  .asciz "real mode: int $0x40 through the IVT ok\r\n"
msg_int_bad: .asciz "real mode: int $0x40 through the IVT BAD\r\n"
msg_leaving: .asciz "real mode: going back to protected mode\r\n"
rm_tramp_end:

/* ---- 32-bit side ---- */

    .section .text
    .code32
    .globl realmode_run
/* void realmode_run(void): runs the trampoline already copied to
 * TRAMP_BASE and comes back with everything as it was. */
realmode_run:
    push %ebp
    push %ebx
    push %esi
    push %edi
    mov %esp, saved_esp
    sidt saved_idt
    sgdt TRAMP_BASE + OFF(gdt_ptr)
    ljmp $SEL_CODE16, $(TRAMP_BASE + OFF(pm16_entry))

rm_return32:
    mov $SEL_KDATA, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %fs
    mov %eax, %gs
    mov %eax, %ss
    mov saved_esp, %esp
    lidt saved_idt
    pop %edi
    pop %esi
    pop %ebx
    pop %ebp
    ret

    .section .bss
    .balign 4
saved_esp:
    .long 0
    .word 0
saved_idt:
    .skip 6
