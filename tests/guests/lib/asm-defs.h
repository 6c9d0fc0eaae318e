/* Constants shared by the guest library's C and assembly files. */
#ifndef GUEST_ASM_DEFS_H
#define GUEST_ASM_DEFS_H

/* Segment selectors of the GDT in gdt.S; one layout for both modes. The
 * order of 0x18..0x38 is what SYSCALL/SYSRET need (see MSR_STAR). */
#define SEL_KCODE32  0x08
#define SEL_KDATA    0x10
#define SEL_KCODE64  0x18
#define SEL_KDATA64  0x20   /* SYSCALL loads SS = STAR[47:32] + 8 */
#define SEL_UCODE32  0x2b   /* SYSRET base (STAR[63:48]), RPL 3 */
#define SEL_UDATA    0x33
#define SEL_UCODE64  0x3b
#define SEL_CODE16   0x40
#define SEL_DATA16   0x48
#define SEL_TSS      0x50   /* 16 bytes: room for a 64-bit TSS descriptor */

#define DEBUG_EXIT_PORT  0xf4
#define DEBUG_EXIT_PASS  0x10   /* exit status 33 */
#define DEBUG_EXIT_FAIL  0x11   /* exit status 35 */
#define DEBUG_EXIT_SKIP  0x12   /* exit status 37: cannot run here */

#define COM1_BASE 0x3f8

#define STACK_SIZE 16384

#endif
