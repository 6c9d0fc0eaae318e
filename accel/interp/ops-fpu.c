/*
 * The x87 and SSE units. For now only the x87 control instructions that
 * kernels run before they look at CPUID (FNINIT, FNCLEX, FNSTSW, FNSTCW,
 * FLDCW, FNOP): Xen's trampoline and memtest86+ execute FNINIT
 * unconditionally. The register stack and SSE come with the FPU work;
 * until then CPUID does not advertise them and everything else here is
 * #UD.
 */
#include <inttypes.h>
#include "insn.h"
#include "lemu/util/log.h"

#define FPU_FCW_INIT  0x037f   /* all exceptions masked, 64-bit, nearest */
#define FPU_FSW_ES    0x0080   /* exception summary */
#define FPU_FSW_B     0x8000   /* busy, mirrors ES */

/* imm2 as decode.c encodes x87: escape (0-7) << 8 | ModRM. */
#define X87(esc, modrm)  ((esc) << 8 | (modrm))
#define X87_REG(esc, reg) ((esc) << 8 | (reg) << 3)   /* memory form */

void interp_fpu_reset(InterpCPU *cpu)
{
    /* The power-on values (SDM vol. 3, table 9-1). */
    cpu->fpu.fcw = 0x0040;
    cpu->fpu.fsw = 0;
    cpu->fpu.ftw = 0x5555;
}

const DecodedInsn *op_fpu(InterpCPU *cpu, const DecodedInsn *d)
{
    bool x87 = (d->flags & D_VEX) == 0 && d->imm2 != 0;
    unsigned what = d->imm2;

    if (cpu->cr0 & (CR0_EM | CR0_TS)) {
        interp_raise(cpu, EXCP_NM, 0);
    }
    if (x87 && (d->flags & D_MEM)) {
        uint64_t ea = insn_ea(cpu, d);

        switch (what & 0x738) {
        case X87_REG(1, 7):                        /* FNSTCW m16 */
            interp_write(cpu, d->seg, ea, 2, cpu->fpu.fcw);
            return d + 1;
        case X87_REG(1, 5):                        /* FLDCW m16 */
            cpu->fpu.fcw = (uint16_t)interp_read(cpu, d->seg, ea, 2) | 0x40;
            return d + 1;
        case X87_REG(5, 7):                        /* FNSTSW m16 */
            interp_write(cpu, d->seg, ea, 2, cpu->fpu.fsw);
            return d + 1;
        }
    } else if (x87) {
        switch (what) {
        case X87(3, 0xe3):                         /* FNINIT */
            cpu->fpu.fcw = FPU_FCW_INIT;
            cpu->fpu.fsw = 0;
            cpu->fpu.ftw = 0xffff;
            return d + 1;
        case X87(3, 0xe2):                         /* FNCLEX */
            cpu->fpu.fsw &= ~(0x00ff | FPU_FSW_ES | FPU_FSW_B);
            return d + 1;
        case X87(7, 0xe0):                         /* FNSTSW AX */
            insn_set_reg(cpu, R_EAX, 2, cpu->fpu.fsw);
            return d + 1;
        case X87(1, 0xd0):                         /* FNOP */
        case X87(3, 0xe0):                         /* FENI (8087): nop */
        case X87(3, 0xe1):                         /* FDISI (8087): nop */
        case X87(3, 0xe4):                         /* FSETPM (287): nop */
            return d + 1;
        }
    }
    lemu_log_mask(LOG_UNIMP, "interp: x87/SSE instruction at 0x%" PRIx64
                  " not implemented\n", d->rip);
    interp_raise(cpu, EXCP_UD, 0);
}

const InterpOpEntry interp_ops_fpu[] = {
    { OP_fpu, op_fpu },
    { 0, NULL },
};
