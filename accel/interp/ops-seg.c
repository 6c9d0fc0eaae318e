/*
 * Handlers of the segment operations: segment register moves, far
 * transfers, software interrupts, and the descriptor instructions
 * LAR/LSL/VERR/VERW/ARPL/SLDT/STR/LLDT/LTR.
 */
#include "insn.h"
#include "seg.h"

/* The descriptor instructions do not exist in real and v86 mode. */
static void require_protected(InterpCPU *cpu)
{
    if (!cpu->pe || cpu->vm86) {
        interp_raise(cpu, EXCP_UD, 0);
    }
}

static void set_zf(InterpCPU *cpu, bool zf)
{
    interp_set_rflags(cpu, zf ? RFLAGS_ZF : 0, RFLAGS_ZF);
}

/* ---- segment registers ---- */

const DecodedInsn *op_mov_to_seg(InterpCPU *cpu, const DecodedInsn *d)
{
    uint16_t sel = insn_read_rm(cpu, d, 2);

    interp_load_seg(cpu, d->cc, sel);
    if (d->cc == SEG_SS) {
        /* No interrupt or single-step trap until after the next
         * instruction. */
        cpu->irq_inhibit = true;
        cpu->ss_shadow = true;
        return insn_end_block(cpu, insn_next_rip(d));
    }
    return d + 1;
}

const DecodedInsn *op_mov_from_seg(InterpCPU *cpu, const DecodedInsn *d)
{
    if (d->cc >= X86_NR_SEGS) {
        interp_raise(cpu, EXCP_UD, 0);
    }
    /* A register gets the selector zero-extended to the operand size; a
     * memory operand is always 16 bits. */
    insn_write_rm(cpu, d, d->flags & D_MEM ? 2 : d->opsize,
                  cpu->segs[d->cc].selector);
    return d + 1;
}

const DecodedInsn *op_push_seg(InterpCPU *cpu, const DecodedInsn *d)
{
    uint64_t sp = (cpu->regs[R_ESP] - d->opsize) & interp_sp_mask(cpu);
    uint64_t lin = interp_linear(cpu, SEG_SS, sp, d->opsize, ACC_WRITE);

    /* Like recent Intel cores: a 16-bit store, the rest of the slot is
     * left as it was. */
    interp_st16(cpu, lin, cpu->segs[d->cc].selector);
    interp_set_sp(cpu, sp);
    return d + 1;
}

const DecodedInsn *op_pop_seg(InterpCPU *cpu, const DecodedInsn *d)
{
    uint64_t mask = interp_sp_mask(cpu);
    uint64_t sp = cpu->regs[R_ESP] & mask;
    uint16_t sel = interp_read(cpu, SEG_SS, sp, d->opsize);

    interp_load_seg(cpu, d->cc, sel);
    /* The increment has the width of the stack the value came from. */
    cpu->regs[R_ESP] = (cpu->regs[R_ESP] & ~mask) | ((sp + d->opsize) & mask);
    if (d->cc == SEG_SS) {
        cpu->irq_inhibit = true;
        cpu->ss_shadow = true;
        return insn_end_block(cpu, insn_next_rip(d));
    }
    return d + 1;
}

/* LDS/LES/LSS/LFS/LGS: far pointer, offset first. */
const DecodedInsn *op_lxs(InterpCPU *cpu, const DecodedInsn *d)
{
    uint64_t ea, offset;
    uint16_t sel;

    if (!(d->flags & D_MEM)) {
        interp_raise(cpu, EXCP_UD, 0);
    }
    ea = insn_ea(cpu, d);
    offset = interp_read(cpu, d->seg, ea, d->opsize);
    sel = interp_read(cpu, d->seg, (ea + d->opsize) & insn_size_mask(d->addrsize),
                      2);
    interp_load_seg(cpu, d->cc, sel);
    insn_set_reg(cpu, d->reg, d->opsize, offset);
    return d + 1;
}

/* ---- far transfers ---- */

/* m16:16, m16:32 or m16:64 */
static void read_far_pointer(InterpCPU *cpu, const DecodedInsn *d,
                             uint16_t *sel, uint64_t *offset)
{
    uint64_t ea;

    if (!(d->flags & D_MEM)) {
        interp_raise(cpu, EXCP_UD, 0);
    }
    ea = insn_ea(cpu, d);
    *offset = interp_read(cpu, d->seg, ea, d->opsize);
    *sel = interp_read(cpu, d->seg,
                       (ea + d->opsize) & insn_size_mask(d->addrsize), 2);
}

const DecodedInsn *op_jmp_far(InterpCPU *cpu, const DecodedInsn *d)
{
    interp_far_jmp(cpu, d->imm2, d->imm, insn_next_rip(d));
    return NULL;
}

const DecodedInsn *op_jmp_far_m(InterpCPU *cpu, const DecodedInsn *d)
{
    uint16_t sel;
    uint64_t offset;

    read_far_pointer(cpu, d, &sel, &offset);
    interp_far_jmp(cpu, sel, offset, insn_next_rip(d));
    return NULL;
}

const DecodedInsn *op_call_far(InterpCPU *cpu, const DecodedInsn *d)
{
    interp_far_call(cpu, d->imm2, d->imm, d->opsize, insn_next_rip(d));
    return NULL;
}

const DecodedInsn *op_call_far_m(InterpCPU *cpu, const DecodedInsn *d)
{
    uint16_t sel;
    uint64_t offset;

    read_far_pointer(cpu, d, &sel, &offset);
    interp_far_call(cpu, sel, offset, d->opsize, insn_next_rip(d));
    return NULL;
}

const DecodedInsn *op_ret_far(InterpCPU *cpu, const DecodedInsn *d)
{
    interp_far_ret(cpu, d->opsize, d->imm);
    return NULL;
}

const DecodedInsn *op_iret(InterpCPU *cpu, const DecodedInsn *d)
{
    interp_iret(cpu, d->opsize);
    return NULL;
}

/* ---- software interrupts ---- */

const DecodedInsn *op_int(InterpCPU *cpu, const DecodedInsn *d)
{
    interp_raise_soft(cpu, d->imm & 0xff, EVENT_SOFT_INT, insn_next_rip(d));
}

const DecodedInsn *op_int3(InterpCPU *cpu, const DecodedInsn *d)
{
    interp_raise_soft(cpu, EXCP_BP, EVENT_SOFT_EXCP, insn_next_rip(d));
}

const DecodedInsn *op_into(InterpCPU *cpu, const DecodedInsn *d)
{
    if (interp_test_cc(cpu, CC_O)) {
        interp_raise_soft(cpu, EXCP_OF, EVENT_SOFT_EXCP, insn_next_rip(d));
    }
    /* The decoder ends blocks after INTO. */
    return insn_end_block(cpu, insn_next_rip(d));
}

const DecodedInsn *op_int1(InterpCPU *cpu, const DecodedInsn *d)
{
    interp_raise_soft(cpu, EXCP_DB, EVENT_ICEBP, insn_next_rip(d));
}

/* ---- descriptor instructions ---- */

/*
 * The descriptor of @sel if LAR/LSL/VERR/VERW may look at it (present
 * in its table, visible at CPL and RPL unless conforming code); false
 * makes them clear ZF.
 */
static bool fetch_visible_desc(InterpCPU *cpu, uint16_t sel, SegDesc *d)
{
    unsigned dpl;

    if (!(sel & 0xfffc) || !seg_fetch_desc(cpu, sel, d)) {
        return false;
    }
    dpl = desc_dpl(d->lo);
    return desc_is_conforming(d->lo) ||
           (dpl >= cpu->cpl && dpl >= (sel & 3u));
}

/* System descriptor types that LAR (@lar) or LSL accept. */
static bool system_type_ok(InterpCPU *cpu, unsigned type, bool lar)
{
    switch (type) {
    case DESC_LDT: case DESC_TSS32_AVAIL: case DESC_TSS32_BUSY:
        return true;
    case DESC_TSS16_AVAIL: case DESC_TSS16_BUSY:
        return !cpu->lma;
    case DESC_CALL_GATE32:
        return lar;
    case DESC_CALL_GATE16: case DESC_TASK_GATE:
        return lar && !cpu->lma;
    default:
        return false;
    }
}

static const DecodedInsn *lar_lsl(InterpCPU *cpu, const DecodedInsn *d,
                                  bool lar)
{
    uint16_t sel;
    SegDesc desc;
    bool ok;

    require_protected(cpu);
    sel = insn_read_rm(cpu, d, 2);
    ok = fetch_visible_desc(cpu, sel, &desc) &&
         (desc_s(desc.lo) || system_type_ok(cpu, desc_type(desc.lo), lar));
    if (ok) {
        uint64_t v = lar ? (desc.lo >> 32) & 0x00f0ff00 : desc_limit(desc.lo);

        insn_set_reg(cpu, d->reg, d->opsize, v);
    }
    set_zf(cpu, ok);
    return d + 1;
}

const DecodedInsn *op_lar(InterpCPU *cpu, const DecodedInsn *d)
{
    return lar_lsl(cpu, d, true);
}

const DecodedInsn *op_lsl(InterpCPU *cpu, const DecodedInsn *d)
{
    return lar_lsl(cpu, d, false);
}

static const DecodedInsn *verify(InterpCPU *cpu, const DecodedInsn *d,
                                 bool write)
{
    uint16_t sel;
    SegDesc desc;
    bool ok;

    require_protected(cpu);
    sel = insn_read_rm(cpu, d, 2);
    ok = fetch_visible_desc(cpu, sel, &desc) && desc_s(desc.lo);
    if (ok && write) {
        ok = desc_is_writable_data(desc.lo);
    } else if (ok) {
        ok = !desc_is_code(desc.lo) ||
             (desc_type(desc.lo) & DESC_CODE_READABLE);
    }
    set_zf(cpu, ok);
    return d + 1;
}

const DecodedInsn *op_verr(InterpCPU *cpu, const DecodedInsn *d)
{
    return verify(cpu, d, false);
}

const DecodedInsn *op_verw(InterpCPU *cpu, const DecodedInsn *d)
{
    return verify(cpu, d, true);
}

const DecodedInsn *op_arpl(InterpCPU *cpu, const DecodedInsn *d)
{
    uint16_t dst, src;

    require_protected(cpu);
    dst = insn_read_rm(cpu, d, 2);
    src = insn_get_reg(cpu, d->reg, 2);
    if ((dst & 3) < (src & 3)) {
        insn_write_rm(cpu, d, 2, (dst & ~3) | (src & 3));
        set_zf(cpu, true);
    } else {
        set_zf(cpu, false);
    }
    return d + 1;
}

const DecodedInsn *op_sldt(InterpCPU *cpu, const DecodedInsn *d)
{
    require_protected(cpu);
    insn_write_rm(cpu, d, d->flags & D_MEM ? 2 : d->opsize,
                  cpu->ldt.selector);
    return d + 1;
}

const DecodedInsn *op_str(InterpCPU *cpu, const DecodedInsn *d)
{
    require_protected(cpu);
    insn_write_rm(cpu, d, d->flags & D_MEM ? 2 : d->opsize,
                  cpu->tr.selector);
    return d + 1;
}

const DecodedInsn *op_lldt(InterpCPU *cpu, const DecodedInsn *d)
{
    uint16_t sel;
    SegDesc desc;

    require_protected(cpu);
    if (cpu->cpl != 0) {
        interp_raise(cpu, EXCP_GP, 0);
    }
    sel = insn_read_rm(cpu, d, 2);
    if (!(sel & 0xfffc)) {
        cpu->ldt = (X86Segment) { .selector = sel, .unusable = 1 };
        return d + 1;
    }
    if ((sel & 4) || !seg_fetch_desc(cpu, sel, &desc) || desc_s(desc.lo) ||
        desc_type(desc.lo) != DESC_LDT) {
        interp_raise(cpu, EXCP_GP, sel_ec(sel));
    }
    if (cpu->lma && (!seg_fetch_desc_hi(cpu, sel, &desc) ||
                     ((desc.hi >> 40) & 0x1f) != 0 ||
                     !is_canonical(desc_base(desc.lo) |
                                   (desc.hi & 0xffffffffULL) << 32))) {
        interp_raise(cpu, EXCP_GP, sel_ec(sel));
    }
    if (!desc_present(desc.lo)) {
        interp_raise(cpu, EXCP_NP, sel_ec(sel));
    }
    seg_cache_from_desc(&cpu->ldt, sel, &desc, cpu->lma);
    return d + 1;
}

const DecodedInsn *op_ltr(InterpCPU *cpu, const DecodedInsn *d)
{
    uint16_t sel;
    SegDesc desc;
    unsigned type;

    require_protected(cpu);
    if (cpu->cpl != 0) {
        interp_raise(cpu, EXCP_GP, 0);
    }
    sel = insn_read_rm(cpu, d, 2);
    if (!(sel & 0xfffc)) {
        interp_raise(cpu, EXCP_GP, 0);
    }
    if ((sel & 4) || !seg_fetch_desc(cpu, sel, &desc)) {
        interp_raise(cpu, EXCP_GP, sel_ec(sel));
    }
    type = desc_type(desc.lo);
    if (desc_s(desc.lo) || (type != DESC_TSS32_AVAIL &&
                            (cpu->lma || type != DESC_TSS16_AVAIL))) {
        interp_raise(cpu, EXCP_GP, sel_ec(sel));
    }
    if (cpu->lma && (!seg_fetch_desc_hi(cpu, sel, &desc) ||
                     ((desc.hi >> 40) & 0x1f) != 0 ||
                     !is_canonical(desc_base(desc.lo) |
                                   (desc.hi & 0xffffffffULL) << 32))) {
        interp_raise(cpu, EXCP_GP, sel_ec(sel));
    }
    if (!desc_present(desc.lo)) {
        interp_raise(cpu, EXCP_NP, sel_ec(sel));
    }
    interp_st_kernel(cpu, desc.addr + 5, 1,
                     ((desc.lo >> 40) & 0xff) | DESC_TSS_BUSY_BIT);
    seg_cache_from_desc(&cpu->tr, sel, &desc, cpu->lma);
    cpu->tr.type |= DESC_TSS_BUSY_BIT;
    return d + 1;
}

const InterpOpEntry interp_ops_seg[] = {
    { OP_mov_to_seg, op_mov_to_seg },
    { OP_mov_from_seg, op_mov_from_seg },
    { OP_push_seg, op_push_seg },
    { OP_pop_seg, op_pop_seg },
    { OP_lxs, op_lxs },
    { OP_jmp_far, op_jmp_far },
    { OP_jmp_far_m, op_jmp_far_m },
    { OP_call_far, op_call_far },
    { OP_call_far_m, op_call_far_m },
    { OP_ret_far, op_ret_far },
    { OP_iret, op_iret },
    { OP_int, op_int },
    { OP_int3, op_int3 },
    { OP_into, op_into },
    { OP_int1, op_int1 },
    { OP_lar, op_lar },
    { OP_lsl, op_lsl },
    { OP_verr, op_verr },
    { OP_verw, op_verw },
    { OP_arpl, op_arpl },
    { OP_sldt, op_sldt },
    { OP_str, op_str },
    { OP_lldt, op_lldt },
    { OP_ltr, op_ltr },
    { 0, NULL },
};
