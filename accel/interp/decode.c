/*
 * The x86 instruction decoder: the bytes of one instruction become a
 * DecodedInsn in the shape insn.h (and decode.h) describe. It runs once per
 * instruction when a block is built, so it favours clarity: the prefixes
 * first, then one switch per opcode map with small helpers for the operand
 * shapes, and const tables for the regular groups.
 *
 * From the Intel SDM vol. 2 (chapter 2, instruction format; appendix A,
 * opcode maps) and the AMD APM vol. 3.
 */
#include "decode.h"

#define REX_B 0x1
#define REX_X 0x2
#define REX_R 0x4
#define REX_W 0x8

enum { DEC_OK, DEC_SHORT, DEC_TOO_LONG };

typedef struct Decoder {
    InterpCPU *cpu;
    DecodedInsn *d;
    const uint8_t *bytes;
    unsigned avail;
    unsigned pos;
    int status;               /* DEC_xxx */
    bool mode64;
    unsigned code_bits;

    /* prefixes */
    uint8_t rex;              /* the REX byte that counts, or 0 */
    uint8_t last_rep;         /* 0xf2 or 0xf3: the last of them, or 0 */
    bool p66, p67, lock;
    int seg_ovr;              /* -1: none */
    unsigned opsize_v;        /* the "v" operand size: 2, 4 or 8 */

    /* ModRM fields (raw 3-bit values) */
    uint8_t mod, reg3, rm3;
    bool rip_rel;             /* disp gets the next RIP added at the end */
    bool lockable;            /* LOCK is legal with a memory destination */
} Decoder;

static const uint16_t alu_ops[8] = {
    OP_add, OP_or, OP_adc, OP_sbb, OP_and, OP_sub, OP_xor, OP_cmp,
};
/* Group 2; /6 is an alias of SHL. */
static const uint16_t shift_ops[8] = {
    OP_rol, OP_ror, OP_rcl, OP_rcr, OP_shl, OP_shr, OP_shl, OP_sar,
};
/* Group 3; /1 is an alias of TEST. */
static const uint16_t grp3_ops[8] = {
    OP_test, OP_test, OP_not, OP_neg, OP_mul, OP_imul1, OP_div, OP_idiv,
};
/* Group 8 (0F BA), /4../7. */
static const uint16_t bt_ops[4] = { OP_bt, OP_bts, OP_btr, OP_btc };

/* ---- byte fetch ---- */

static uint8_t fetch8(Decoder *s)
{
    if (s->status != DEC_OK) {
        return 0;
    }
    if (s->pos >= INTERP_MAX_INSN_LEN) {
        s->status = DEC_TOO_LONG;
        return 0;
    }
    if (s->pos >= s->avail) {
        s->status = DEC_SHORT;
        return 0;
    }
    return s->bytes[s->pos++];
}

/* @n little-endian bytes, zero-extended. */
static uint64_t fetch_le(Decoder *s, unsigned n)
{
    uint64_t v = 0;

    for (unsigned i = 0; i < n; i++) {
        v |= (uint64_t)fetch8(s) << (8 * i);
    }
    return v;
}

static uint64_t sext(uint64_t v, unsigned bytes)
{
    unsigned sh = 64 - 8 * bytes;

    return (uint64_t)((int64_t)(v << sh) >> sh);
}

/* ---- operand sizes ---- */

/* Default 64-bit in long mode (PUSH/POP, ...): 66 makes it 16 (unless
 * REX.W). */
static unsigned size_d64(const Decoder *s)
{
    return s->mode64 ? (s->opsize_v == 2 ? 2 : 8) : s->opsize_v;
}

/* Forced 64-bit in long mode (near branches, Intel). */
static unsigned size_f64(const Decoder *s)
{
    return s->mode64 ? 8 : s->opsize_v;
}

/* 32 bits, or 64 with REX.W in 64-bit mode. */
static unsigned size_y(const Decoder *s)
{
    return s->mode64 && (s->rex & REX_W) ? 8 : 4;
}

/* Immediate size of "z" operands: 2 for 16-bit, else 4. */
static unsigned imm_z(unsigned opsize)
{
    return opsize == 2 ? 2 : 4;
}

/* ---- helpers for the operand shapes ---- */

static void set_ud(Decoder *s)
{
    s->d->op = OP_ud;
}

static void set_op(Decoder *s, unsigned op, unsigned opsize)
{
    s->d->op = op;
    s->d->opsize = opsize;
}

/* An 8-bit register number: without REX, 4-7 are AH, CH, DH, BH. */
static uint8_t reg8(const Decoder *s, uint8_t r)
{
    return (!s->rex && r >= 4 && r < 8) ? r - 4 + REG8_AH : r;
}

static void byte_rm(Decoder *s)
{
    if (!(s->d->flags & D_MEM)) {
        s->d->rm = reg8(s, s->d->rm);
    }
}

/* The default segment of a memory operand, unless overridden. */
static void default_seg(Decoder *s, bool stack)
{
    if (s->seg_ovr < 0) {
        s->d->seg = stack ? SEG_SS : SEG_DS;
    }
}

/* 16-bit addressing: [BX+SI], [BX+DI], [BP+SI], [BP+DI], [SI], [DI],
 * [BP] (disp16 alone with mod 0), [BX]. */
static void decode_ea16(Decoder *s)
{
    static const uint8_t base16[8] = {
        R_EBX, R_EBX, R_EBP, R_EBP, R_ESI, R_EDI, R_EBP, R_EBX,
    };
    static const uint8_t index16[8] = {
        R_ESI, R_EDI, R_ESI, R_EDI, REG_NONE, REG_NONE, REG_NONE, REG_NONE,
    };
    DecodedInsn *d = s->d;

    if (s->mod == 0 && s->rm3 == 6) {
        d->disp = fetch_le(s, 2);
        default_seg(s, false);
        return;
    }
    d->base = base16[s->rm3];
    d->index = index16[s->rm3];
    if (s->mod == 1) {
        d->disp = sext(fetch_le(s, 1), 1);
    } else if (s->mod == 2) {
        d->disp = sext(fetch_le(s, 2), 2);
    }
    default_seg(s, d->base == R_EBP);
}

/* 32/64-bit addressing: SIB, disp32 and RIP-relative forms. */
static void decode_ea32(Decoder *s)
{
    DecodedInsn *d = s->d;
    unsigned base3 = s->rm3;

    if (s->rm3 == 4) {
        uint8_t sib = fetch8(s);
        unsigned index = ((sib >> 3) & 7) | (s->rex & REX_X ? 8 : 0);

        d->scale = sib >> 6;
        d->index = index == R_ESP ? REG_NONE : index;
        base3 = sib & 7;
        if (base3 == 5 && s->mod == 0) {
            d->disp = sext(fetch_le(s, 4), 4);
            default_seg(s, false);
            return;
        }
    } else if (s->rm3 == 5 && s->mod == 0) {
        d->disp = sext(fetch_le(s, 4), 4);
        s->rip_rel = s->mode64;
        default_seg(s, false);
        return;
    }
    d->base = base3 | (s->rex & REX_B ? 8 : 0);
    if (s->mod == 1) {
        d->disp = sext(fetch_le(s, 1), 1);
    } else if (s->mod == 2) {
        d->disp = sext(fetch_le(s, 4), 4);
    }
    default_seg(s, d->base == R_ESP || d->base == R_EBP);
}

static void decode_modrm(Decoder *s)
{
    DecodedInsn *d = s->d;
    uint8_t m = fetch8(s);

    s->mod = m >> 6;
    s->reg3 = (m >> 3) & 7;
    s->rm3 = m & 7;
    d->reg = s->reg3 | (s->rex & REX_R ? 8 : 0);
    if (s->mod == 3) {
        d->rm = s->rm3 | (s->rex & REX_B ? 8 : 0);
        return;
    }
    d->flags |= D_MEM;
    if (d->addrsize == 2) {
        decode_ea16(s);
    } else {
        decode_ea32(s);
    }
}

/* A ModRM instruction of @size bytes; @to_reg: G is the destination. */
static void op_modrm(Decoder *s, unsigned op, unsigned size, bool to_reg)
{
    DecodedInsn *d = s->d;

    decode_modrm(s);
    set_op(s, op, size);
    if (to_reg) {
        d->flags |= D_REG_DST;
    }
    if (size == 1) {
        d->reg = reg8(s, d->reg);
        byte_rm(s);
    }
}

/* A group opcode (ModRM.reg selects the operation): r/m of @size bytes. */
static void op_group(Decoder *s, unsigned size)
{
    decode_modrm(s);
    set_op(s, OP_ud, size);
    if (size == 1) {
        byte_rm(s);
    }
}

/* Like op_modrm, for instructions that take only a memory operand. */
static void op_modrm_mem(Decoder *s, unsigned op, unsigned size, bool to_reg)
{
    op_modrm(s, op, size, to_reg);
    if (s->mod == 3) {
        set_ud(s);
    }
}

/* An immediate operand of @bytes, sign- or zero-extended. */
static void set_imm(Decoder *s, unsigned bytes, bool sign)
{
    uint64_t v = fetch_le(s, bytes);

    s->d->imm = sign ? sext(v, bytes) : v;
    s->d->flags |= D_IMM;
}

/* The accumulator with an immediate (04, 0C, ..., A8, A9): E,I shape. */
static void op_acc_imm(Decoder *s, unsigned op, unsigned size)
{
    set_op(s, op, size);
    s->d->rm = R_EAX;
    set_imm(s, size == 1 ? 1 : imm_z(size), true);
}

/* A relative branch: imm = target, truncated to the operand size. */
static void op_rel(Decoder *s, unsigned op, unsigned size, unsigned rel_bytes)
{
    DecodedInsn *d = s->d;
    uint64_t rel = sext(fetch_le(s, rel_bytes), rel_bytes);

    set_op(s, op, size);
    d->imm = (d->rip + s->pos + rel) & insn_size_mask(size);
}

/* Far pointer operand (9A, EA): offset of the operand size, selector. */
static void op_far_ptr(Decoder *s, unsigned op)
{
    set_op(s, op, s->opsize_v);
    s->d->imm = fetch_le(s, s->opsize_v);
    s->d->imm2 = fetch_le(s, 2);
}

/* Opcode-register forms: the register in reg and rm. */
static void op_opreg(Decoder *s, unsigned op, unsigned size, uint8_t b)
{
    uint8_t r = (b & 7) | (s->rex & REX_B ? 8 : 0);

    set_op(s, op, size);
    s->d->reg = r;
    s->d->rm = r;
}

/* Whether an SSE/MMX/AVX opcode of the 0F map has an imm8. */
static bool sse_has_imm8(uint8_t b)
{
    return (b >= 0x70 && b <= 0x73) || b == 0xc2 || (b >= 0xc4 && b <= 0xc6);
}

/* SSE/MMX/x87/AVX: the right length, executed by the FPU handler. */
static void op_fpu_modrm(Decoder *s, bool imm8)
{
    decode_modrm(s);
    set_op(s, OP_fpu, s->opsize_v);
    if (imm8) {
        set_imm(s, 1, false);
    }
}

/* ---- the one-byte map ---- */

/* Opcodes that are #UD in 64-bit mode (C4/C5 are VEX there). */
static bool invalid_in_64(uint8_t b)
{
    switch (b) {
    case 0x06: case 0x07: case 0x0e: case 0x16: case 0x17: case 0x1e:
    case 0x1f: case 0x27: case 0x2f: case 0x37: case 0x3f: case 0x60:
    case 0x61: case 0x62: case 0x82: case 0x9a: case 0xce: case 0xd4:
    case 0xd5: case 0xd6: case 0xea:
        return true;
    default:
        return false;
    }
}

/* 00-3F with low bits 0-5: Eb,Gb / Ev,Gv / Gb,Eb / Gv,Ev / AL,Ib / rAX,Iz */
static void decode_alu(Decoder *s, uint8_t b)
{
    unsigned op = alu_ops[b >> 3];
    unsigned size = (b & 1) ? s->opsize_v : 1;

    if ((b & 7) >= 4) {
        op_acc_imm(s, op, size);
        return;
    }
    op_modrm(s, op, size, b & 2);
    s->lockable = op != OP_cmp && !(b & 2);
}

/* 80-83: group 1, E,I. */
static void decode_group1(Decoder *s, uint8_t b)
{
    unsigned size = (b & 1) ? s->opsize_v : 1;

    op_group(s, size);
    s->d->op = alu_ops[s->reg3];
    s->lockable = s->reg3 != 7;
    set_imm(s, b == 0x81 ? imm_z(size) : 1, true);
}

/* C0, C1, D0-D3: group 2 shifts and rotates. */
static void decode_group2(Decoder *s, uint8_t b)
{
    unsigned size = (b & 1) ? s->opsize_v : 1;

    op_group(s, size);
    s->d->op = shift_ops[s->reg3];
    if (b <= 0xc1) {
        set_imm(s, 1, false);
    } else if (b <= 0xd1) {
        s->d->imm = 1;
        s->d->flags |= D_IMM;
    } else {
        s->d->flags |= D_CL;
    }
}

/* F6, F7: TEST E,I / NOT / NEG / MUL / IMUL / DIV / IDIV. */
static void decode_group3(Decoder *s, uint8_t b)
{
    unsigned size = (b & 1) ? s->opsize_v : 1;

    op_group(s, size);
    s->d->op = grp3_ops[s->reg3];
    if (s->reg3 < 2) {
        set_imm(s, size == 1 ? 1 : imm_z(size), true);
    }
    s->lockable = s->reg3 == 2 || s->reg3 == 3;
}

/* FE (INC/DEC Eb), FF (INC, DEC, CALL, CALLF, JMP, JMPF, PUSH Ev). */
static void decode_group45(Decoder *s, uint8_t b)
{
    DecodedInsn *d = s->d;

    if (b == 0xfe) {
        op_group(s, 1);
        d->op = s->reg3 == 0 ? OP_inc : s->reg3 == 1 ? OP_dec : OP_ud;
        s->lockable = true;
        return;
    }
    decode_modrm(s);
    switch (s->reg3) {
    case 0:
    case 1:
        set_op(s, s->reg3 ? OP_dec : OP_inc, s->opsize_v);
        s->lockable = true;
        break;
    case 2:
        set_op(s, OP_call_rm, size_f64(s));
        break;
    case 4:
        set_op(s, OP_jmp_rm, size_f64(s));
        break;
    case 3:
    case 5:
        set_op(s, s->reg3 == 3 ? OP_call_far_m : OP_jmp_far_m, s->opsize_v);
        if (s->mod == 3) {
            set_ud(s);
        }
        break;
    case 6:
        set_op(s, OP_push, size_d64(s));
        break;
    default:
        set_ud(s);
        break;
    }
}

/* The BMI instructions of VEX map 0F38 (@pp: 0 none, 1 66, 2 F3, 3 F2). */
static void decode_vex_0f38(Decoder *s, uint8_t opc, unsigned pp, bool l)
{
    DecodedInsn *d = s->d;
    unsigned op = OP_fpu;
    bool to_reg = true;
    int feat = FEAT_BMI1;

    switch (opc) {
    case 0xf2:
        op = pp == 0 ? OP_andn : OP_ud;
        break;
    case 0xf3:
        op = pp != 0 ? OP_ud : s->reg3 == 1 ? OP_blsr :
             s->reg3 == 2 ? OP_blsmsk : s->reg3 == 3 ? OP_blsi : OP_ud;
        to_reg = false;
        break;
    case 0xf5:
        op = pp == 0 ? OP_bzhi : pp == 2 ? OP_pext : pp == 3 ? OP_pdep : OP_ud;
        feat = FEAT_BMI2;
        break;
    case 0xf6:
        op = pp == 3 ? OP_mulx : OP_ud;
        feat = FEAT_BMI2;
        break;
    case 0xf7:
        op = pp == 0 ? OP_bextr : pp == 1 ? OP_shlx : pp == 2 ? OP_sarx :
             OP_shrx;
        feat = pp == 0 ? FEAT_BMI1 : FEAT_BMI2;
        break;
    default:
        set_op(s, OP_fpu, s->opsize_v);
        return;
    }
    set_op(s, op, s->mode64 && (s->rex & REX_W) ? 8 : 4);
    if (to_reg) {
        d->flags |= D_REG_DST;
    }
    if (op == OP_ud || l || !interp_has_feature(s->cpu, feat)) {
        set_ud(s);
    }
}

/*
 * C4/C5: VEX prefix (always in 64-bit mode, elsewhere only when the next
 * byte has ModRM.mod == 3), else LES/LDS.
 */
static void decode_vex(Decoder *s, uint8_t b)
{
    DecodedInsn *d = s->d;
    uint8_t b1, b2, opc;
    unsigned map, pp, vvvv;
    bool w, l;
    /* VEX after 66/F2/F3/LOCK/REX, or in real/v86 mode, is #UD. */
    bool bad = s->p66 || s->last_rep || s->lock || s->rex ||
               !s->cpu->pe || s->cpu->vm86;

    b1 = fetch8(s);
    if (!s->mode64 && s->status == DEC_OK && (b1 >> 6) != 3) {
        s->pos--;
        op_modrm_mem(s, OP_lxs, s->opsize_v, true);
        d->cc = b == 0xc4 ? SEG_ES : SEG_DS;
        return;
    }
    if (b == 0xc5) {
        map = 1;
        w = false;
        s->rex = 0x40 | (b1 & 0x80 ? 0 : REX_R);
        b2 = b1;
    } else {
        map = b1 & 0x1f;
        s->rex = 0x40 | ((~b1 >> 5) & 7);
        b2 = fetch8(s);
        w = b2 & 0x80;
    }
    vvvv = (~b2 >> 3) & 15;
    l = b2 & 4;
    pp = b2 & 3;
    if (!s->mode64) {
        /* Only eight registers; VEX.B and VEX.W (for BMI) are ignored. */
        s->rex = 0x40;
        vvvv &= 7;
    } else if (w) {
        s->rex |= REX_W;
        d->flags |= D_REXW;
    }
    d->flags |= D_VEX | (l ? D_VEXL : 0);
    d->vreg = vvvv;
    opc = fetch8(s);
    switch (map) {
    case 1:
        if (opc == 0x77) {           /* VZEROUPPER/VZEROALL */
            set_op(s, OP_fpu, s->opsize_v);
        } else {
            op_fpu_modrm(s, sse_has_imm8(opc));
        }
        break;
    case 2:
        decode_modrm(s);
        decode_vex_0f38(s, opc, pp, l);
        break;
    case 3:
        op_fpu_modrm(s, true);
        if (opc == 0xf0 && pp == 3) {  /* RORX Gy, Ey, Ib */
            set_op(s, OP_rorx, s->mode64 && w ? 8 : 4);
            d->flags |= D_REG_DST;
            if (l || vvvv || !interp_has_feature(s->cpu, FEAT_BMI2)) {
                set_ud(s);
            }
        }
        break;
    default:
        set_ud(s);
        break;
    }
    if (bad) {
        set_ud(s);
    }
}

/*
 * One-byte opcodes without operands: the operand size is v, or 1 for
 * even opcodes among the string instructions (and for XLAT and SALC).
 */
static const uint16_t onebyte_plain[256] = {
    [0x60] = OP_pusha, [0x61] = OP_popa, [0x98] = OP_cbw, [0x99] = OP_cwd,
    [0x9b] = OP_fwait, [0xa4] = OP_movs, [0xa5] = OP_movs, [0xa6] = OP_cmps,
    [0xa7] = OP_cmps, [0xaa] = OP_stos, [0xab] = OP_stos, [0xac] = OP_lods,
    [0xad] = OP_lods, [0xae] = OP_scas, [0xaf] = OP_scas,
    [0xcb] = OP_ret_far, [0xcc] = OP_int3, [0xce] = OP_into,
    [0xcf] = OP_iret, [0xd6] = OP_salc, [0xd7] = OP_xlat, [0xf1] = OP_int1,
    [0xf4] = OP_hlt, [0xf5] = OP_cmc, [0xf8] = OP_clc, [0xf9] = OP_stc,
    [0xfa] = OP_cli, [0xfb] = OP_sti, [0xfc] = OP_cld, [0xfd] = OP_std,
};

static void decode_onebyte(Decoder *s, uint8_t b)
{
    DecodedInsn *d = s->d;
    unsigned v = s->opsize_v;
    unsigned size = (b & 1) ? v : 1;

    if (s->mode64 && invalid_in_64(b)) {
        set_ud(s);
        return;
    }
    if (onebyte_plain[b]) {
        bool byte = (b >= 0xa4 && b <= 0xaf && !(b & 1)) || b == 0xd6 ||
                    b == 0xd7;

        set_op(s, onebyte_plain[b], byte ? 1 : v);
        return;
    }
    switch (b) {
    case 0x00 ... 0x3f:
        if ((b & 7) < 6) {
            decode_alu(s, b);
        } else if (b == 0x06 || b == 0x0e || b == 0x16 || b == 0x1e) {
            set_op(s, OP_push_seg, v);
            d->cc = b >> 3;
        } else if (b == 0x07 || b == 0x17 || b == 0x1f) {
            set_op(s, OP_pop_seg, v);
            d->cc = b >> 3;
        } else if ((b & 7) == 7) {
            static const uint16_t bcd[4] = { OP_daa, OP_das, OP_aaa, OP_aas };
            set_op(s, bcd[(b >> 3) - 4], 1);
        } else {
            set_ud(s);               /* prefixes, consumed before */
        }
        break;
    case 0x40 ... 0x47:              /* only outside 64-bit mode (REX) */
        op_opreg(s, OP_inc, v, b);
        break;
    case 0x48 ... 0x4f:
        op_opreg(s, OP_dec, v, b);
        break;
    case 0x50 ... 0x57:
        op_opreg(s, OP_push, size_d64(s), b);
        break;
    case 0x58 ... 0x5f:
        op_opreg(s, OP_pop, size_d64(s), b);
        break;
    case 0x62:
        op_modrm_mem(s, OP_bound, v, true);
        break;
    case 0x63:
        if (s->mode64) {
            op_modrm(s, OP_movsxd, v, true);
        } else {
            op_modrm(s, OP_arpl, 2, false);
        }
        break;
    case 0x68:
    case 0x6a:
        set_op(s, OP_push, size_d64(s));
        set_imm(s, b == 0x6a ? 1 : imm_z(d->opsize), true);
        break;
    case 0x69:
    case 0x6b:
        op_modrm(s, OP_imul3, v, true);
        set_imm(s, b == 0x6b ? 1 : imm_z(v), true);
        break;
    case 0x6c ... 0x6f:
        set_op(s, b < 0x6e ? OP_ins : OP_outs, (b & 1) ? MIN(v, 4) : 1);
        break;
    case 0x70 ... 0x7f:
        op_rel(s, OP_jcc, size_f64(s), 1);
        d->cc = b & 15;
        break;
    case 0x80 ... 0x83:
        decode_group1(s, b);
        break;
    case 0x84:
    case 0x85:
        op_modrm(s, OP_test, size, false);
        break;
    case 0x86:
    case 0x87:
        op_modrm(s, OP_xchg, size, false);
        s->lockable = true;
        break;
    case 0x88 ... 0x8b:
        op_modrm(s, OP_mov, size, b & 2);
        break;
    case 0x8c:
        decode_modrm(s);
        set_op(s, OP_mov_from_seg, (d->flags & D_MEM) ? 2 : v);
        d->cc = s->reg3;
        if (s->reg3 > SEG_GS) {
            set_ud(s);
        }
        break;
    case 0x8d:
        op_modrm_mem(s, OP_lea, v, true);
        break;
    case 0x8e:
        decode_modrm(s);
        set_op(s, OP_mov_to_seg, 2);
        d->cc = s->reg3;
        if (s->reg3 == SEG_CS || s->reg3 > SEG_GS) {
            set_ud(s);
        }
        break;
    case 0x8f:                       /* group 1A: POP Ev (XOP otherwise) */
        op_modrm(s, OP_pop, size_d64(s), false);
        if (s->reg3 != 0) {
            set_ud(s);
        }
        break;
    case 0x90 ... 0x97:
        if (b == 0x90 && !(s->rex & REX_B)) {
            set_op(s, s->last_rep == 0xf3 ? OP_pause : OP_nop, v);
        } else {
            op_opreg(s, OP_xchg, v, b);
            d->rm = R_EAX;
        }
        break;
    case 0x9a:
        op_far_ptr(s, OP_call_far);
        break;
    case 0x9c:
        set_op(s, OP_pushf, size_d64(s));
        break;
    case 0x9d:
        set_op(s, OP_popf, size_d64(s));
        break;
    case 0x9e:
    case 0x9f:
        set_op(s, b == 0x9e ? OP_sahf : OP_lahf, 1);
        if (s->mode64 && !interp_has_feature(s->cpu, FEAT_LAHF64)) {
            set_ud(s);
        }
        break;
    case 0xa0 ... 0xa3:              /* MOV with moffs: G,E or E,G */
        set_op(s, OP_mov, size);
        d->flags |= D_MEM | (b & 2 ? 0 : D_REG_DST);
        d->reg = R_EAX;
        d->disp = fetch_le(s, d->addrsize);
        break;
    case 0xa8: case 0xa9:
        op_acc_imm(s, OP_test, size);
        break;
    case 0xb0 ... 0xb7:
        op_opreg(s, OP_mov, 1, b);
        d->rm = reg8(s, d->rm);
        d->reg = d->rm;
        set_imm(s, 1, false);
        break;
    case 0xb8 ... 0xbf:
        op_opreg(s, OP_mov, v, b);
        set_imm(s, v, false);
        break;
    case 0xc0: case 0xc1: case 0xd0 ... 0xd3:
        decode_group2(s, b);
        break;
    case 0xc2:
        set_op(s, OP_ret, size_f64(s));
        set_imm(s, 2, false);
        break;
    case 0xc3:
        set_op(s, OP_ret, size_f64(s));
        break;
    case 0xc4:
    case 0xc5:
        decode_vex(s, b);
        break;
    case 0xc6:
    case 0xc7:                       /* group 11: MOV E,I (RTM otherwise) */
        op_group(s, size);
        d->op = s->reg3 == 0 ? OP_mov : OP_ud;
        set_imm(s, size == 1 ? 1 : imm_z(size), true);
        break;
    case 0xc8:
        set_op(s, OP_enter, size_d64(s));
        set_imm(s, 2, false);
        d->imm2 = fetch8(s);
        break;
    case 0xc9:
        set_op(s, OP_leave, size_d64(s));
        break;
    case 0xca:
        set_op(s, OP_ret_far, v);
        set_imm(s, 2, false);
        break;
    case 0xcd:
        set_op(s, OP_int, v);
        set_imm(s, 1, false);
        break;
    case 0xd4:
    case 0xd5:
        set_op(s, b == 0xd4 ? OP_aam : OP_aad, 1);
        set_imm(s, 1, false);
        break;
    case 0xd8 ... 0xdf:              /* x87 */
        op_fpu_modrm(s, false);
        /* Which x87 instruction: the escape's low bits and the ModRM
         * byte (mod 3 for register forms). */
        s->d->imm2 = (uint16_t)((b & 7) << 8 |
                                (s->d->flags & D_MEM ? 0 : 0xc0) |
                                s->reg3 << 3 | s->rm3);
        break;
    case 0xe0 ... 0xe3: {
        static const uint16_t loops[4] = {
            OP_loopne, OP_loope, OP_loop, OP_jcxz,
        };
        op_rel(s, loops[b - 0xe0], size_f64(s), 1);
        d->cc = b == 0xe0 ? CC_NE : b == 0xe1 ? CC_E : 0;
        break;
    }
    case 0xe4 ... 0xe7:
        set_op(s, b < 0xe6 ? OP_in : OP_out, (b & 1) ? MIN(v, 4) : 1);
        set_imm(s, 1, false);
        break;
    case 0xe8:
    case 0xe9:
        op_rel(s, b == 0xe8 ? OP_call : OP_jmp, size_f64(s),
               imm_z(size_f64(s)));
        break;
    case 0xea:
        op_far_ptr(s, OP_jmp_far);
        break;
    case 0xeb:
        op_rel(s, OP_jmp, size_f64(s), 1);
        break;
    case 0xec ... 0xef:
        set_op(s, b < 0xee ? OP_in : OP_out, (b & 1) ? MIN(v, 4) : 1);
        break;
    case 0xf6:
    case 0xf7:
        decode_group3(s, b);
        break;
    case 0xfe:
    case 0xff:
        decode_group45(s, b);
        break;
    default:                         /* prefixes are consumed before */
        set_ud(s);
        break;
    }
}

/* ---- the 0F map ---- */

/* 0F 00: SLDT, STR, LLDT, LTR, VERR, VERW. */
static void decode_group6(Decoder *s)
{
    static const uint16_t ops[8] = {
        OP_sldt, OP_str, OP_lldt, OP_ltr, OP_verr, OP_verw, OP_ud, OP_ud,
    };

    decode_modrm(s);
    set_op(s, ops[s->reg3], 2);
    if (s->reg3 < 2 && s->mod == 3) {
        s->d->opsize = s->opsize_v;
    }
}

/* 0F 01: descriptor tables, SMSW/LMSW, INVLPG, SWAPGS, RDTSCP, ... */
static void decode_group7(Decoder *s)
{
    static const uint16_t mem_ops[8] = {
        OP_sgdt, OP_sidt, OP_lgdt, OP_lidt, OP_smsw, OP_ud, OP_lmsw,
        OP_invlpg,
    };
    unsigned table_size = s->mode64 ? 8 : s->opsize_v;

    decode_modrm(s);
    if (s->mod != 3) {
        set_op(s, mem_ops[s->reg3], s->reg3 < 4 ? table_size : 2);
        return;
    }
    switch (s->reg3) {
    case 2:                          /* XGETBV, XSETBV */
        set_op(s, s->rm3 < 2 ? OP_fpu : OP_ud, s->opsize_v);
        break;
    case 4:
        set_op(s, OP_smsw, s->opsize_v);
        break;
    case 6:
        set_op(s, OP_lmsw, 2);
        break;
    case 7:
        if (s->rm3 == 0 && s->mode64) {
            set_op(s, OP_swapgs, 8);
        } else if (s->rm3 == 1 &&
                   interp_has_feature(s->cpu, FEAT_RDTSCP)) {
            set_op(s, OP_rdtscp, s->opsize_v);
        } else {
            set_ud(s);
        }
        break;
    default:                         /* VMX, SVM, MONITOR, SMAP, ... */
        set_ud(s);
        break;
    }
}

/* 0F 20-23: MOV to/from CRn/DRn; the mod bits are ignored. */
static void decode_mov_crdr(Decoder *s, uint8_t b)
{
    static const uint16_t ops[4] = {
        OP_mov_from_cr, OP_mov_from_dr, OP_mov_to_cr, OP_mov_to_dr,
    };
    DecodedInsn *d = s->d;
    uint8_t m = fetch8(s);
    unsigned n = ((m >> 3) & 7) | (s->rex & REX_R ? 8 : 0);
    bool cr = !(b & 1);

    set_op(s, ops[b - 0x20], s->mode64 ? 8 : 4);
    d->rm = (m & 7) | (s->rex & REX_B ? 8 : 0);
    d->cc = n;
    if (cr ? !(n == 0 || n == 2 || n == 3 || n == 4 || n == 8) : n > 7) {
        set_ud(s);
    }
}

/* 0F AE: FXSAVE.. CLFLUSH (memory), fences, RD/WR FS/GS BASE. */
static void decode_group15(Decoder *s)
{
    decode_modrm(s);
    set_op(s, OP_ud, s->opsize_v);
    if (s->mod != 3) {
        if (s->last_rep) {
            return;                  /* PTWRITE, ... */
        }
        if (s->reg3 == 7) {          /* CLFLUSH, CLFLUSHOPT (66) */
            s->d->op = OP_clflush;
        } else if (!(s->reg3 == 6 && s->p66)) {   /* not CLWB */
            s->d->op = OP_fpu;       /* FXSAVE ... XSAVEOPT */
        }
        return;
    }
    if (s->last_rep == 0xf3 && s->reg3 < 4) {
        static const uint16_t base_ops[4] = {
            OP_rdfsbase, OP_rdgsbase, OP_wrfsbase, OP_wrgsbase,
        };
        if (s->mode64 && interp_has_feature(s->cpu, FEAT_FSGSBASE)) {
            set_op(s, base_ops[s->reg3], size_y(s));
        }
    } else if (!s->last_rep && !s->p66 && s->reg3 >= 5) {
        s->d->op = OP_fence;         /* LFENCE, MFENCE, SFENCE */
    }
}

/* 0F C7: CMPXCHG8B/16B, XSAVE family (RDRAND, RDSEED, VMX: #UD). */
static void decode_group9(Decoder *s)
{
    decode_modrm(s);
    set_op(s, OP_ud, s->opsize_v);
    if (s->mod == 3) {
        return;
    }
    if (s->reg3 == 1) {
        bool wide = s->rex & REX_W;

        set_op(s, OP_cmpxchg8b, wide ? 8 : 4);
        s->lockable = true;
        if (wide && !interp_has_feature(s->cpu, FEAT_CX16)) {
            set_ud(s);
        }
    } else if (s->reg3 >= 3 && s->reg3 <= 5) {
        s->d->op = OP_fpu;           /* XRSTORS, XSAVEC, XSAVES */
    }
}

/* 0F 38 xx: all have ModRM; the integer ones, the rest SSE. */
static void decode_0f38(Decoder *s)
{
    DecodedInsn *d = s->d;
    uint8_t b = fetch8(s);

    decode_modrm(s);
    set_op(s, OP_fpu, s->opsize_v);
    switch (b) {
    case 0xf0:
    case 0xf1:
        if (s->last_rep == 0xf2) {   /* CRC32: SSE4.2, with the FPU */
            break;
        }
        set_op(s, OP_movbe, s->opsize_v);
        if (b == 0xf0) {
            d->flags |= D_REG_DST;
        }
        if (s->last_rep || s->mod == 3 ||
            !interp_has_feature(s->cpu, FEAT_MOVBE)) {
            set_ud(s);
        }
        break;
    case 0xf6:                       /* 66: ADCX, F3: ADOX */
        set_op(s, s->last_rep == 0xf3 ? OP_adox :
                  s->p66 && !s->last_rep ? OP_adcx : OP_ud, size_y(s));
        d->flags |= D_REG_DST;
        if (!interp_has_feature(s->cpu, FEAT_ADX)) {
            set_ud(s);
        }
        break;
    case 0x82:                       /* 66: INVPCID Gy, Mdq */
        set_op(s, OP_invpcid, s->mode64 ? 8 : 4);
        d->flags |= D_REG_DST;
        if (!s->p66 || s->last_rep || s->mod == 3) {
            set_ud(s);
        }
        break;
    case 0x80:                       /* INVEPT, INVVPID */
    case 0x81:
        set_ud(s);
        break;
    default:
        break;
    }
}

/* 0F opcodes without operands (operand size v). */
static const uint16_t twobyte_plain[256] = {
    [0x05] = OP_syscall, [0x06] = OP_clts, [0x08] = OP_invd,
    [0x09] = OP_wbinvd, [0x30] = OP_wrmsr, [0x31] = OP_rdtsc,
    [0x32] = OP_rdmsr, [0x33] = OP_rdpmc, [0x34] = OP_sysenter,
    [0x77] = OP_fpu /* EMMS */, [0xa2] = OP_cpuid,
};

static void decode_0f(Decoder *s)
{
    DecodedInsn *d = s->d;
    unsigned v = s->opsize_v;
    uint8_t b = fetch8(s);
    unsigned size = (b & 1) ? v : 1;

    if (twobyte_plain[b]) {
        set_op(s, twobyte_plain[b], v);
        return;
    }
    switch (b) {
    case 0x00:
        decode_group6(s);
        break;
    case 0x01:
        decode_group7(s);
        break;
    case 0x02:
    case 0x03:
        op_modrm(s, b == 0x02 ? OP_lar : OP_lsl, v, true);
        break;
    case 0x07:
        set_op(s, OP_sysret, size_y(s));
        break;
    case 0x0d:                       /* PREFETCHW; NOP Ev on Intel */
        op_modrm(s, OP_nop, v, false);
        break;
    case 0x0f:                       /* 3DNow!: not supported */
        op_fpu_modrm(s, true);
        set_ud(s);
        break;
    case 0x10 ... 0x17:
    case 0x28 ... 0x2f:
    case 0x50 ... 0x76:
    case 0x7c ... 0x7f:
    case 0xc2:
    case 0xc4 ... 0xc6:
    case 0xd0 ... 0xfe:
        op_fpu_modrm(s, sse_has_imm8(b));
        break;
    case 0x18 ... 0x1f:              /* PREFETCHh and the hint NOPs */
        op_modrm(s, OP_nop, v, false);
        break;
    case 0x20 ... 0x23:
        decode_mov_crdr(s, b);
        break;
    case 0x35:
        set_op(s, OP_sysexit, size_y(s));
        break;
    case 0x38:
        decode_0f38(s);
        break;
    case 0x3a:                       /* all SSE, ModRM and imm8 */
        fetch8(s);
        op_fpu_modrm(s, true);
        break;
    case 0x40 ... 0x4f:
        op_modrm(s, OP_cmovcc, v, true);
        d->cc = b & 15;
        break;
    case 0x78:                       /* VMREAD/VMWRITE */
    case 0x79:
    case 0xb9:                       /* UD1 */
    case 0xff:                       /* UD0 */
        op_modrm(s, OP_ud, v, false);
        break;
    case 0x80 ... 0x8f:
        op_rel(s, OP_jcc, size_f64(s), imm_z(size_f64(s)));
        d->cc = b & 15;
        break;
    case 0x90 ... 0x9f:
        op_modrm(s, OP_setcc, 1, false);
        byte_rm(s);
        d->cc = b & 15;
        break;
    case 0xa0: case 0xa8:
        set_op(s, OP_push_seg, size_d64(s));
        d->cc = b == 0xa0 ? SEG_FS : SEG_GS;
        break;
    case 0xa1: case 0xa9:
        set_op(s, OP_pop_seg, size_d64(s));
        d->cc = b == 0xa1 ? SEG_FS : SEG_GS;
        break;
    case 0xa3: case 0xab: case 0xb3: case 0xbb:
        op_modrm(s, bt_ops[(b >> 3) & 3], v, false);
        s->lockable = b != 0xa3;
        break;
    case 0xa4: case 0xa5: case 0xac: case 0xad:
        op_modrm(s, b < 0xa8 ? OP_shld : OP_shrd, v, false);
        if (b & 1) {
            d->flags |= D_CL;
        } else {
            set_imm(s, 1, false);
        }
        break;
    case 0xae:
        decode_group15(s);
        break;
    case 0xaf:
        op_modrm(s, OP_imul2, v, true);
        break;
    case 0xb0: case 0xb1:
        op_modrm(s, OP_cmpxchg, size, false);
        s->lockable = true;
        break;
    case 0xb2: case 0xb4: case 0xb5:
        op_modrm_mem(s, OP_lxs, v, true);
        d->cc = b == 0xb2 ? SEG_SS : b == 0xb4 ? SEG_FS : SEG_GS;
        break;
    case 0xb6: case 0xbe:
        op_modrm(s, b == 0xb6 ? OP_movzx8 : OP_movsx8, v, true);
        byte_rm(s);
        break;
    case 0xb7: case 0xbf:
        op_modrm(s, b == 0xb7 ? OP_movzx16 : OP_movsx16, v, true);
        break;
    case 0xb8:                       /* F3: POPCNT (JMPE otherwise) */
        op_modrm(s, OP_popcnt, v, true);
        if (s->last_rep != 0xf3 ||
            !interp_has_feature(s->cpu, FEAT_POPCNT)) {
            set_ud(s);
        }
        break;
    case 0xba:                       /* group 8: BT.. Ev, Ib */
        op_modrm(s, OP_bt, v, false);
        set_imm(s, 1, false);
        d->op = s->reg3 >= 4 ? bt_ops[s->reg3 - 4] : OP_ud;
        s->lockable = s->reg3 > 4;
        break;
    case 0xbc:
        op_modrm(s, s->last_rep == 0xf3 &&
                 interp_has_feature(s->cpu, FEAT_BMI1) ? OP_tzcnt : OP_bsf,
                 v, true);
        break;
    case 0xbd:
        op_modrm(s, s->last_rep == 0xf3 &&
                 interp_has_feature(s->cpu, FEAT_LZCNT) ? OP_lzcnt : OP_bsr,
                 v, true);
        break;
    case 0xc0: case 0xc1:
        op_modrm(s, OP_xadd, size, false);
        s->lockable = true;
        break;
    case 0xc3:                       /* MOVNTI My, Gy: a plain store */
        op_modrm_mem(s, OP_mov, size_y(s), false);
        if (s->p66 || s->last_rep) {
            set_ud(s);
        }
        break;
    case 0xc7:
        decode_group9(s);
        break;
    case 0xc8 ... 0xcf:
        op_opreg(s, OP_bswap, v, b);
        break;
    default:                         /* UD2 and the holes of the map */
        set_ud(s);
        break;
    }
}

/* ---- prefixes and the entry point ---- */

/* Reads the prefixes; returns the first opcode byte. */
static uint8_t decode_prefixes(Decoder *s)
{
    for (;;) {
        uint8_t b = fetch8(s);

        switch (b) {
        case 0x26: case 0x2e: case 0x36: case 0x3e:
            /* In 64-bit mode null prefixes: they do not even cancel an
             * earlier FS/GS override (checked on an Intel host). */
            if (!s->mode64) {
                s->seg_ovr = (b >> 3) & 3;      /* ES, CS, SS, DS */
            }
            break;
        case 0x64: s->seg_ovr = SEG_FS; break;
        case 0x65: s->seg_ovr = SEG_GS; break;
        case 0x66: s->p66 = true; break;
        case 0x67: s->p67 = true; break;
        case 0xf0: s->lock = true; break;
        case 0xf2:
        case 0xf3:
            s->last_rep = b;
            break;
        case 0x40 ... 0x4f:
            if (!s->mode64) {
                return b;
            }
            s->rex = b;
            continue;
        default:
            return b;
        }
        /* Only a REX right before the opcode counts. */
        s->rex = 0;
    }
}

int interp_decode(InterpCPU *cpu, const uint8_t *bytes, unsigned avail,
                  uint64_t rip, DecodedInsn *d)
{
    Decoder s = {
        .cpu = cpu, .d = d, .bytes = bytes, .avail = avail,
        .code_bits = cpu->code_bits, .mode64 = cpu->code_bits == 64,
        .seg_ovr = -1,
    };
    InterpShared *sh = cpu->shared;
    uint8_t b;

    memset(d, 0, sizeof(*d));
    d->rip = rip;
    d->base = REG_NONE;
    d->index = REG_NONE;

    b = decode_prefixes(&s);
    d->seg = s.seg_ovr >= 0 ? s.seg_ovr : SEG_DS;
    d->flags = (s.seg_ovr >= 0 ? D_SEG_OVR : 0) |
               (s.lock ? D_LOCK : 0) |
               (s.last_rep == 0xf3 ? D_REP : 0) |
               (s.last_rep == 0xf2 ? D_REPNE : 0) |
               (s.p66 ? D_OPSIZE66 : 0) |
               (s.rex & REX_W ? D_REXW : 0);
    if (s.mode64) {
        d->addrsize = s.p67 ? 4 : 8;
        s.opsize_v = (s.rex & REX_W) ? 8 : s.p66 ? 2 : 4;
    } else {
        d->addrsize = (s.code_bits == 16) != s.p67 ? 2 : 4;
        s.opsize_v = (s.code_bits == 16) != s.p66 ? 2 : 4;
    }

    if (b == 0x0f) {
        decode_0f(&s);
    } else {
        decode_onebyte(&s, b);
    }

    if (s.status == DEC_SHORT) {
        return 0;
    }
    if (s.status == DEC_TOO_LONG) {
        return -1;
    }
    if (s.lock && !(s.lockable && (d->flags & D_MEM))) {
        d->op = OP_ud;
    }
    d->len = s.pos;
    if (s.rip_rel) {
        d->disp += rip + s.pos;
    }
    d->fn = sh->op_fn[d->op] ? sh->op_fn[d->op] : sh->op_fn[OP_ud];
    return s.pos;
}

bool interp_decode_ends_block(const DecodedInsn *d)
{
    static const bool ends[OP_NR] = {
        [OP_jcc] = true, [OP_jmp] = true, [OP_jmp_rm] = true,
        [OP_call] = true, [OP_call_rm] = true, [OP_ret] = true,
        [OP_loop] = true, [OP_loope] = true, [OP_loopne] = true,
        [OP_jcxz] = true,
        [OP_jmp_far] = true, [OP_jmp_far_m] = true, [OP_call_far] = true,
        [OP_call_far_m] = true, [OP_ret_far] = true, [OP_iret] = true,
        [OP_int] = true, [OP_int3] = true, [OP_into] = true,
        [OP_int1] = true, [OP_syscall] = true, [OP_sysret] = true,
        [OP_sysenter] = true, [OP_sysexit] = true,
        [OP_hlt] = true, [OP_cli] = true, [OP_sti] = true, [OP_popf] = true,
        [OP_mov_to_cr] = true, [OP_mov_to_dr] = true, [OP_lmsw] = true,
        [OP_clts] = true, [OP_wrmsr] = true, [OP_invlpg] = true,
        [OP_invpcid] = true,
        [OP_ud] = true, [OP_block_end] = true,
    };

    if (d->op == OP_mov_to_seg || d->op == OP_pop_seg) {
        return d->cc == SEG_SS;      /* the interrupt shadow */
    }
    return d->op < OP_NR && ends[d->op];
}
