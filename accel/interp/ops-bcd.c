/*
 * Decimal adjustments and other legacy integer operations: DAA DAS AAA AAS
 * AAM AAD BOUND SALC (Intel SDM vol. 2). All are invalid in 64-bit mode;
 * the decoder raises #UD there. Flags the SDM leaves undefined are set as
 * Intel CPUs set them (checked against one over every input): OF cleared
 * by DAA/DAS, SF/ZF/PF from AL and OF cleared by AAA/AAS, the others
 * cleared by AAM, and those of the 8-bit addition by AAD.
 */
#include "insn.h"

static inline uint64_t szp8(uint8_t v)
{
    return (__builtin_parity(v) ? 0 : RFLAGS_PF) |
           (v == 0 ? RFLAGS_ZF : 0) | ((v & 0x80) ? RFLAGS_SF : 0);
}

static inline void set_eflags(InterpCPU *cpu, uint64_t f)
{
    cpu->cc_src = f;
    cpu->cc_op = CC_OP_EFLAGS;
}

static inline uint8_t get_al(InterpCPU *cpu)
{
    return (uint8_t)cpu->regs[R_EAX];
}

/* DAA: decimal adjust AL after an addition. */
const DecodedInsn *op_daa(InterpCPU *cpu, const DecodedInsn *d)
{
    uint64_t f = interp_compute_oszapc(cpu);
    uint8_t old_al = get_al(cpu), al = old_al;
    bool old_cf = f & RFLAGS_CF, cf = false, af = false;

    if ((al & 0xf) > 9 || (f & RFLAGS_AF)) {
        cf = old_cf || al > 0xf9;
        al += 6;
        af = true;
    }
    if (old_al > 0x99 || old_cf) {
        al += 0x60;
        cf = true;
    } else {
        cf = false;
    }
    insn_set_reg(cpu, R_EAX, 1, al);
    set_eflags(cpu, szp8(al) | (cf ? RFLAGS_CF : 0) | (af ? RFLAGS_AF : 0));
    return d + 1;
}

/* DAS: decimal adjust AL after a subtraction. */
const DecodedInsn *op_das(InterpCPU *cpu, const DecodedInsn *d)
{
    uint64_t f = interp_compute_oszapc(cpu);
    uint8_t old_al = get_al(cpu), al = old_al;
    bool old_cf = f & RFLAGS_CF, cf = false, af = false;

    if ((al & 0xf) > 9 || (f & RFLAGS_AF)) {
        cf = old_cf || al < 6;
        al -= 6;
        af = true;
    }
    if (old_al > 0x99 || old_cf) {
        al -= 0x60;
        cf = true;
    }
    insn_set_reg(cpu, R_EAX, 1, al);
    set_eflags(cpu, szp8(al) | (cf ? RFLAGS_CF : 0) | (af ? RFLAGS_AF : 0));
    return d + 1;
}

/* AAA: ASCII adjust after an addition (AX += 0x106 when adjusting). */
const DecodedInsn *op_aaa(InterpCPU *cpu, const DecodedInsn *d)
{
    uint64_t f = interp_compute_oszapc(cpu);
    uint16_t ax = cpu->regs[R_EAX];
    bool adjust = (ax & 0xf) > 9 || (f & RFLAGS_AF);

    if (adjust) {
        ax += 0x106;
    }
    ax &= 0xff0f;
    insn_set_reg(cpu, R_EAX, 2, ax);
    set_eflags(cpu, szp8(ax) | (adjust ? RFLAGS_AF | RFLAGS_CF : 0));
    return d + 1;
}

/* AAS: ASCII adjust after a subtraction. */
const DecodedInsn *op_aas(InterpCPU *cpu, const DecodedInsn *d)
{
    uint64_t f = interp_compute_oszapc(cpu);
    uint16_t ax = cpu->regs[R_EAX];
    bool adjust = (ax & 0xf) > 9 || (f & RFLAGS_AF);

    if (adjust) {
        ax -= 6;
        ax -= 0x100;
    }
    ax &= 0xff0f;
    insn_set_reg(cpu, R_EAX, 2, ax);
    set_eflags(cpu, szp8(ax) | (adjust ? RFLAGS_AF | RFLAGS_CF : 0));
    return d + 1;
}

/* AAM imm8: AH = AL / imm8, AL = AL % imm8; #DE for a zero base. */
const DecodedInsn *op_aam(InterpCPU *cpu, const DecodedInsn *d)
{
    uint8_t base = d->imm, al = get_al(cpu);

    if (base == 0) {
        interp_raise(cpu, EXCP_DE, 0);
    }
    insn_set_reg(cpu, R_EAX, 2, ((al / base) << 8) | (al % base));
    set_eflags(cpu, szp8(al % base));
    return d + 1;
}

/* AAD imm8: AL = AL + AH * imm8, AH = 0. The undefined CF, AF and OF
 * come out of that 8-bit addition, as on Intel CPUs. */
const DecodedInsn *op_aad(InterpCPU *cpu, const DecodedInsn *d)
{
    uint8_t base = d->imm;
    uint16_t ax = cpu->regs[R_EAX];
    unsigned a = ax & 0xff, b = ((ax >> 8) * base) & 0xff, r = a + b;
    uint64_t f = szp8(r);

    f |= (r > 0xff ? RFLAGS_CF : 0) | ((a ^ b ^ r) & RFLAGS_AF);
    f |= (~(a ^ b) & (a ^ r) & 0x80) ? RFLAGS_OF : 0;
    insn_set_reg(cpu, R_EAX, 2, r & 0xff);
    set_eflags(cpu, f);
    return d + 1;
}

/* BOUND reg, m: #BR unless lower <= reg <= upper (signed, the two bounds
 * one after the other at m). */
const DecodedInsn *op_bound(InterpCPU *cpu, const DecodedInsn *d)
{
    unsigned size = d->opsize, shift = 64 - size * 8;
    uint64_t ea;
    int64_t lower, upper, index;

    if (!(d->flags & D_MEM)) {
        interp_raise(cpu, EXCP_UD, 0);
    }
    ea = insn_ea(cpu, d);
    lower = (int64_t)(interp_read(cpu, d->seg, ea, size) << shift) >> shift;
    upper = (int64_t)(interp_read(cpu, d->seg,
                                  (ea + size) & insn_size_mask(d->addrsize),
                                  size) << shift) >> shift;
    index = (int64_t)(insn_get_reg(cpu, d->reg, size) << shift) >> shift;
    if (index < lower || index > upper) {
        interp_raise(cpu, EXCP_BR, 0);
    }
    return d + 1;
}

/* SALC (undocumented D6): AL = CF ? 0xff : 0, flags unchanged. */
const DecodedInsn *op_salc(InterpCPU *cpu, const DecodedInsn *d)
{
    insn_set_reg(cpu, R_EAX, 1, interp_compute_cf(cpu) ? 0xff : 0);
    return d + 1;
}

const InterpOpEntry interp_ops_bcd[] = {
    { OP_daa, op_daa },
    { OP_das, op_das },
    { OP_aaa, op_aaa },
    { OP_aas, op_aas },
    { OP_aam, op_aam },
    { OP_aad, op_aad },
    { OP_bound, op_bound },
    { OP_salc, op_salc },
    { 0, NULL },
};
