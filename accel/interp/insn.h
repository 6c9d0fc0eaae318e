/*
 * Decoded instructions: what decode.c makes of the bytes of one guest
 * instruction, and what its handler (one per operation, in ops-*.c) gets.
 *
 * Operand conventions the decoder keeps for every operation:
 *  - ModRM instructions: `reg` is ModRM.reg (+REX.R). The r/m operand is
 *    the register `rm` (+REX.B) when D_MEM is clear, else memory at
 *    insn_ea() in segment `seg` (default DS, or SS for a BP/SP base,
 *    after any override).
 *  - Direction: the destination is the r/m operand unless D_REG_DST
 *    (then `reg` is the destination and r/m the source).
 *  - D_IMM: the source is `imm` instead of `reg` (group 1, MOV E,I, TEST
 *    E,I, BT E,I, shift counts, ...). Accumulator forms (04, A8, ...) are
 *    turned into the same E,I shape with rm = RAX and D_MEM clear. MOV
 *    r,imm (B0+r/B8+r) and the moffs forms (A0-A3) likewise become E,I /
 *    E,G / G,E shapes; moffs is D_MEM with base and index REG_NONE.
 *  - Opcode-register forms (50+r PUSH, 58+r POP, 90+r XCHG, C8+r BSWAP):
 *    the register is in `reg`. PUSH/POP r (50+r/58+r) also set rm = reg
 *    with D_MEM clear, and XCHG 90+r sets rm = R_EAX, so that handlers
 *    treat them like FF /6, 8F /0 and 87 /r (operand in r/m). 90 without
 *    REX.B is OP_nop (F3 90: OP_pause).
 *  - 8-bit operands: `reg`/`rm` are REG8 numbers: 0-15 the low byte of
 *    that register, 16-19 AH, CH, DH, BH (no REX prefix, codes 4-7).
 *  - Immediates are sign- or zero-extended to 64 bits as the SDM gives
 *    for that instruction. Relative branch targets are resolved: `imm` is
 *    the target offset in CS, already truncated to the operand size.
 *  - RIP-relative memory operands are folded: base = REG_NONE and `disp`
 *    holds next RIP + displacement.
 *  - `cc`: the condition of Jcc/SETcc/CMOVcc/LOOPcc; for segment
 *    operations the segment register number (SEG_ES..SEG_GS); for MOV
 *    CRn/DRn the register number.
 *  - `opsize` is the effective operand size in bytes (1, 2, 4, 8); for
 *    string instructions and XLAT the memory operand's segment is in
 *    `seg` (the source for MOVS/CMPS/LODS/OUTS); ES is always the
 *    destination. `addrsize` is the address size in bytes (2, 4, 8).
 *  - Shift/rotate counts: D_CL (count in CL) or `imm` (1 for D0/D1).
 *  - VEX (BMI): `vreg` is VEX.vvvv.
 *  - CMPXCHG8B with REX.W (CMPXCHG16B): opsize 8 means the 16-byte form.
 *  - ENTER: imm = frame size, imm2 = nesting level. Far pointers
 *    (EA/9A): imm = offset, imm2 = selector. RET/RETF imm16: imm.
 *  - decode.h details the rest (when D_IMM/D_SEG_OVR are set, operand
 *    sizes of near branches in 64-bit mode and of system instructions,
 *    opcode-register forms) and lists the ops that end a block.
 */
#ifndef LEMU_ACCEL_INTERP_INSN_H
#define LEMU_ACCEL_INTERP_INSN_H

#include "cpu.h"

#define REG_NONE 0xff
#define REG8_AH  16          /* AH, CH, DH, BH = 16..19 */

enum {
    D_MEM       = 1 << 0,    /* r/m operand is memory */
    D_REG_DST   = 1 << 1,    /* destination is reg, source r/m */
    D_IMM       = 1 << 2,    /* source is imm */
    D_LOCK      = 1 << 3,    /* LOCK prefix (decoder #UDs where illegal) */
    D_REP       = 1 << 4,    /* F3 */
    D_REPNE     = 1 << 5,    /* F2 */
    D_CL        = 1 << 6,    /* shift count in CL */
    D_REXW      = 1 << 7,
    D_OPSIZE66  = 1 << 8,    /* 66 prefix present (for SSE later) */
    D_VEX       = 1 << 9,
    D_VEXL      = 1 << 10,
    D_SEG_OVR   = 1 << 11,   /* a segment override prefix was present */
};

struct DecodedInsn {
    InsnHandler fn;
    uint64_t imm;
    uint64_t disp;
    uint64_t rip;            /* offset of this instruction in CS */
    uint16_t op;             /* OP_xxx */
    uint16_t flags;          /* D_xxx */
    uint16_t imm2;
    uint8_t len;
    uint8_t opsize;
    uint8_t addrsize;
    uint8_t reg;
    uint8_t rm;
    uint8_t base;
    uint8_t index;
    uint8_t scale;           /* log2 of the index scale */
    uint8_t seg;
    uint8_t cc;
    uint8_t vreg;
};

/* RIP after @d. */
static inline uint64_t insn_next_rip(const DecodedInsn *d)
{
    return d->rip + d->len;
}

static inline uint64_t insn_size_mask(unsigned size)
{
    return size >= 8 ? ~0ULL : (1ULL << (size * 8)) - 1;
}

/* Effective address (offset in d->seg) of the memory operand. */
static inline uint64_t insn_ea(InterpCPU *cpu, const DecodedInsn *d)
{
    uint64_t ea = d->disp;

    if (d->base != REG_NONE) {
        ea += cpu->regs[d->base];
    }
    if (d->index != REG_NONE) {
        ea += cpu->regs[d->index] << d->scale;
    }
    return ea & insn_size_mask(d->addrsize);
}

/* Register access by operand size; 8-bit uses REG8 numbers. A 32-bit
 * write zero-extends to 64 bits, 8/16-bit writes merge. */
static inline uint64_t insn_get_reg(InterpCPU *cpu, unsigned r, unsigned size)
{
    switch (size) {
    case 1:
        return r >= REG8_AH ? (uint8_t)(cpu->regs[r - REG8_AH] >> 8)
                            : (uint8_t)cpu->regs[r];
    case 2: return (uint16_t)cpu->regs[r];
    case 4: return (uint32_t)cpu->regs[r];
    default: return cpu->regs[r];
    }
}

static inline void insn_set_reg(InterpCPU *cpu, unsigned r, unsigned size,
                                uint64_t v)
{
    switch (size) {
    case 1:
        if (r >= REG8_AH) {
            uint64_t *p = &cpu->regs[r - REG8_AH];
            *p = (*p & ~0xff00ULL) | ((v & 0xff) << 8);
        } else {
            cpu->regs[r] = (cpu->regs[r] & ~0xffULL) | (v & 0xff);
        }
        break;
    case 2:
        cpu->regs[r] = (cpu->regs[r] & ~0xffffULL) | (v & 0xffff);
        break;
    case 4:
        cpu->regs[r] = (uint32_t)v;
        break;
    default:
        cpu->regs[r] = v;
        break;
    }
}

/* The r/m operand, register or memory. */
static inline uint64_t insn_read_rm(InterpCPU *cpu, const DecodedInsn *d,
                                    unsigned size)
{
    if (d->flags & D_MEM) {
        return interp_read(cpu, d->seg, insn_ea(cpu, d), size);
    }
    return insn_get_reg(cpu, d->rm, size);
}

static inline void insn_write_rm(InterpCPU *cpu, const DecodedInsn *d,
                                 unsigned size, uint64_t v)
{
    if (d->flags & D_MEM) {
        interp_write(cpu, d->seg, insn_ea(cpu, d), size, v);
    } else {
        insn_set_reg(cpu, d->rm, size, v);
    }
}

/* Ends the block: execution goes on at @rip. */
static inline const DecodedInsn *insn_end_block(InterpCPU *cpu, uint64_t rip)
{
    cpu->rip = rip;
    return NULL;
}

/*
 * Every operation, X(name, owner file). decode.c maps encodings to
 * OP_name; ops-<file>.c defines op_name and lists it in its table
 * (interp_ops_<file>[]). An operation without a handler raises #UD.
 */
#define INTERP_OPS(X) \
    X(invalid, none)    /* 0: never decoded */                           \
    /* ops-alu.c */                                                      \
    X(add, alu) X(or, alu) X(adc, alu) X(sbb, alu) X(and, alu)           \
    X(sub, alu) X(xor, alu) X(cmp, alu) X(test, alu) X(inc, alu)         \
    X(dec, alu) X(neg, alu) X(not, alu)                                  \
    /* ops-data.c */                                                     \
    X(mov, data) X(movzx8, data) X(movzx16, data) X(movsx8, data)        \
    X(movsx16, data) X(movsxd, data) X(lea, data) X(xchg, data)          \
    X(push, data) X(pop, data) X(pusha, data) X(popa, data)              \
    X(enter, data) X(leave, data) X(cbw, data) X(cwd, data)              \
    X(lahf, data) X(sahf, data) X(clc, data) X(stc, data) X(cmc, data)   \
    X(cld, data) X(std, data) X(nop, data) X(pause, data) X(xlat, data)  \
    X(bswap, data) X(cmovcc, data) X(setcc, data)                        \
    /* ops-branch.c */                                                   \
    X(jcc, branch) X(jmp, branch) X(jmp_rm, branch) X(call, branch)      \
    X(call_rm, branch) X(ret, branch) X(loop, branch) X(loope, branch)   \
    X(loopne, branch) X(jcxz, branch) X(ud, branch) X(block_end, branch) \
    /* ops-muldiv.c */                                                   \
    X(mul, muldiv) X(imul1, muldiv) X(imul2, muldiv) X(imul3, muldiv)    \
    X(div, muldiv) X(idiv, muldiv)                                       \
    /* ops-shift.c */                                                    \
    X(rol, shift) X(ror, shift) X(rcl, shift) X(rcr, shift)              \
    X(shl, shift) X(shr, shift) X(sar, shift) X(shld, shift)             \
    X(shrd, shift)                                                       \
    /* ops-bit.c */                                                      \
    X(bt, bit) X(bts, bit) X(btr, bit) X(btc, bit) X(bsf, bit)           \
    X(bsr, bit) X(popcnt, bit) X(lzcnt, bit) X(tzcnt, bit) X(andn, bit)  \
    X(bextr, bit) X(blsi, bit) X(blsmsk, bit) X(blsr, bit) X(bzhi, bit)  \
    X(pdep, bit) X(pext, bit) X(mulx, bit) X(rorx, bit) X(sarx, bit)     \
    X(shlx, bit) X(shrx, bit) X(adcx, bit) X(adox, bit) X(movbe, bit)    \
    /* ops-string.c */                                                   \
    X(movs, string) X(cmps, string) X(scas, string) X(lods, string)      \
    X(stos, string)                                                      \
    /* ops-bcd.c */                                                      \
    X(daa, bcd) X(das, bcd) X(aaa, bcd) X(aas, bcd) X(aam, bcd)          \
    X(aad, bcd) X(bound, bcd) X(salc, bcd)                               \
    /* ops-atomic.c */                                                   \
    X(cmpxchg, atomic) X(cmpxchg8b, atomic) X(xadd, atomic)              \
    /* ops-seg.c */                                                      \
    X(mov_to_seg, seg) X(mov_from_seg, seg) X(push_seg, seg)             \
    X(pop_seg, seg) X(lxs, seg) X(jmp_far, seg) X(jmp_far_m, seg)        \
    X(call_far, seg) X(call_far_m, seg) X(ret_far, seg) X(iret, seg)     \
    X(int, seg) X(int3, seg) X(into, seg) X(int1, seg) X(lar, seg)       \
    X(lsl, seg) X(verr, seg) X(verw, seg) X(arpl, seg) X(sldt, seg)      \
    X(str, seg) X(lldt, seg) X(ltr, seg)                                 \
    /* ops-system.c */                                                   \
    X(hlt, system) X(cli, system) X(sti, system) X(pushf, system)        \
    X(popf, system) X(in, system) X(out, system) X(ins, system)          \
    X(outs, system) X(mov_to_cr, system) X(mov_from_cr, system)          \
    X(mov_to_dr, system) X(mov_from_dr, system) X(lgdt, system)          \
    X(lidt, system) X(sgdt, system) X(sidt, system) X(lmsw, system)      \
    X(smsw, system) X(clts, system) X(invlpg, system) X(invpcid, system) \
    X(wbinvd, system) X(invd, system) X(clflush, system)                 \
    X(fence, system) X(cpuid, system) X(rdmsr, system) X(wrmsr, system)  \
    X(rdtsc, system) X(rdtscp, system) X(rdpmc, system)                  \
    X(swapgs, system) X(syscall, system) X(sysret, system)               \
    X(sysenter, system) X(sysexit, system) X(rdfsbase, system)           \
    X(rdgsbase, system) X(wrfsbase, system) X(wrgsbase, system)          \
    X(fwait, system)                                                     \
    /* ops-fpu.c */                                                      \
    X(fpu, fpu)

enum {
#define INTERP_OP_ENUM(name, file) OP_##name,
    INTERP_OPS(INTERP_OP_ENUM)
#undef INTERP_OP_ENUM
    OP_NR
};
G_STATIC_ASSERT(OP_NR <= INTERP_MAX_OPS);

/* Handler declarations: op_add(cpu, d), ... */
#define INTERP_OP_DECL(name, file) \
    const DecodedInsn *op_##name(InterpCPU *cpu, const DecodedInsn *d);
INTERP_OPS(INTERP_OP_DECL)
#undef INTERP_OP_DECL

/* Each ops-<file>.c exports one table, ended by { 0, NULL }. */
typedef struct InterpOpEntry {
    uint16_t op;
    InsnHandler fn;
} InterpOpEntry;

extern const InterpOpEntry interp_ops_alu[], interp_ops_data[],
    interp_ops_branch[], interp_ops_muldiv[], interp_ops_shift[],
    interp_ops_bit[], interp_ops_string[], interp_ops_bcd[],
    interp_ops_atomic[], interp_ops_seg[], interp_ops_system[],
    interp_ops_fpu[];

/* Fills s->op_fn from the tables (ops-table.c). */
void interp_ops_fill(InterpShared *s);
/* "add", "jcc", ... for logs. */
const char *interp_op_name(unsigned op);

#endif
