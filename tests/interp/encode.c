/*
 * A small x86-64 encoder for the generator: legacy prefixes, REX, VEX
 * (three-byte form, for BMI), opcode maps 0F/0F38/0F3A, ModRM, SIB,
 * displacements (RIP-relative resolved against the instruction's own
 * address) and immediates. Intel SDM vol. 2, chapter 2.
 */
#include <string.h>
#include "gen.h"

void enc_init(Enc *e)
{
    memset(e, 0, sizeof(*e));
    e->opreg = -1;
    e->m.base = DT_REG_NONE;
    e->m.index = DT_REG_NONE;
}

void enc_pfx(Enc *e, uint8_t p)
{
    if (e->npfx < (int)sizeof(e->pfx)) {
        e->pfx[e->npfx++] = p;
    }
}

void enc_opsize(Enc *e, unsigned size)
{
    if (size == 2) {
        enc_pfx(e, 0x66);
    } else if (size == 8) {
        e->rex_w = true;
    }
}

static bool fits8(int64_t v)
{
    return v >= -128 && v <= 127;
}

static void put(uint8_t *b, int *n, uint64_t v, int size)
{
    for (int i = 0; i < size; i++) {
        b[(*n)++] = v >> (8 * i);
    }
}

/* Maps an 8-bit code AH..BH (16-19) to its encoding 4-7. */
static int low_reg(int r, bool *high8)
{
    if (r >= DT_AH) {
        *high8 = true;
        return r - DT_AH + 4;
    }
    return r;
}

int enc_emit(const Enc *e, uint64_t addr, uint8_t *out, int *rel_off)
{
    uint8_t b[40];
    int n = 0, disp_at = -1, disp_size = 0, rex_bits = 0;
    bool high8 = false, need_rex = e->force_rex || e->rex_w;
    int reg = e->has_modrm ? low_reg(e->reg, &high8) : 0;
    int rm = e->has_modrm && !e->rm_mem ? low_reg(e->rm, &high8) : 0;
    int opreg = e->opreg >= 0 ? low_reg(e->opreg, &high8) : -1;
    const MemRef *m = &e->m;
    int64_t disp = m->disp;
    int mod = 3, rmf = rm & 7, sib = -1;

    if (e->has_modrm && (reg & 8)) {
        rex_bits |= 4;
    }
    if (e->has_modrm && e->rm_mem) {
        if (m->index >= 0 && (m->index & 8)) {
            rex_bits |= 2;
        }
        if (m->base >= 0 && (m->base & 8)) {
            rex_bits |= 1;
        }
    } else if (e->has_modrm && (rm & 8)) {
        rex_bits |= 1;
    }
    if (opreg >= 0 && (opreg & 8)) {
        rex_bits |= 1;
    }
    need_rex |= rex_bits != 0;
    if (high8 && (need_rex || e->vex)) {
        return -1;
    }

    if (e->junk_rex) {
        b[n++] = e->junk_rex;
    }
    for (int i = 0; i < e->npfx; i++) {
        b[n++] = e->pfx[i];
    }
    if (e->raw_len) {
        memcpy(b + n, e->raw, e->raw_len);
        n += e->raw_len;
        if (n > 15) {
            return -1;
        }
        memcpy(out, b, n);
        return n;
    }
    if (e->vex) {
        b[n++] = 0xc4;
        b[n++] = ((~rex_bits & 7) << 5) | e->map;
        b[n++] = (e->vex_w ? 0x80 : 0) | ((~e->vex_v & 15) << 3) |
                 (e->vex_l ? 4 : 0) | e->vex_pp;
    } else {
        if (need_rex) {
            b[n++] = 0x40 | (e->rex_w ? 8 : 0) | rex_bits;
        }
        if (e->map >= 1) {
            b[n++] = 0x0f;
        }
        if (e->map == 2) {
            b[n++] = 0x38;
        } else if (e->map == 3) {
            b[n++] = 0x3a;
        }
    }
    b[n++] = e->op | (opreg >= 0 ? (opreg & 7) : 0);

    if (e->has_modrm) {
        if (e->rm_mem) {
            if (m->base == DT_REG_RIP) {
                mod = 0;
                rmf = 5;
                disp_size = 4;
            } else if (m->base == DT_REG_NONE) {
                mod = 0;
                rmf = 4;
                sib = (m->scale << 6) |
                      ((m->index >= 0 ? m->index & 7 : 4) << 3) | 5;
                disp_size = 4;
            } else {
                disp_size = m->disp_size;
                if (disp_size == 0 && disp != 0) {
                    disp_size = fits8(disp) ? 1 : 4;
                }
                if (disp_size == 1 && !fits8(disp)) {
                    disp_size = 4;
                }
                if (disp_size == 0 && (m->base & 7) == 5) {
                    disp_size = 1;      /* mod 00 there means RIP/disp32 */
                }
                mod = disp_size == 0 ? 0 : disp_size == 1 ? 1 : 2;
                if (m->index >= 0 || (m->base & 7) == 4 || m->force_sib) {
                    rmf = 4;
                    sib = (m->scale << 6) |
                          ((m->index >= 0 ? m->index & 7 : 4) << 3) |
                          (m->base & 7);
                } else {
                    rmf = m->base & 7;
                }
            }
        }
        b[n++] = (mod << 6) | ((reg & 7) << 3) | rmf;
        if (sib >= 0) {
            b[n++] = sib;
        }
        if (disp_size) {
            disp_at = n;
            put(b, &n, disp, disp_size);
        }
    }
    if (e->imm_size) {
        put(b, &n, e->imm, e->imm_size);
    }
    if (e->imm2_size) {
        put(b, &n, e->imm2, e->imm2_size);
    }
    if (e->rel_size) {
        if (rel_off) {
            *rel_off = n;
        }
        put(b, &n, e->rel, e->rel_size);
    }
    if (n > 15) {
        return -1;
    }
    if (e->has_modrm && e->rm_mem && m->base == DT_REG_RIP) {
        int nn = disp_at;
        put(b, &nn, m->disp - (int64_t)(addr + n), 4);
    }
    memcpy(out, b, n);
    return n;
}
