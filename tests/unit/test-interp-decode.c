/*
 * The x86 decoder (accel/interp/decode.c): operand fields of many
 * encodings in 16, 32 and 64-bit code, length limits, the block-ending
 * list, and instruction lengths cross-checked against capstone on gas
 * output and on tens of thousands of random byte strings.
 *
 * Nothing runs here: the decoder needs only an InterpCPU with code_bits
 * (and pe/vm86) set and an InterpShared for the handler table, so the test
 * builds those by hand rather than through the harness's run loop.
 */
#include <string.h>
#include <capstone/capstone.h>
#include <glib.h>
#include "interp-harness.h"
#include "accel/interp/decode.h"

#define RIP0 0x1000

typedef struct DecodeEnv {
    InterpShared *shared;
    InterpCPU *cpu;
} DecodeEnv;

static DecodeEnv *env_new(void)
{
    DecodeEnv *e = g_new0(DecodeEnv, 1);

    e->shared = g_new0(InterpShared, 1);
    interp_ops_fill(e->shared);
    e->cpu = g_new0(InterpCPU, 1);
    e->cpu->shared = e->shared;
    return e;
}

static void env_free(DecodeEnv *e)
{
    g_free(e->cpu);
    g_free(e->shared);
    g_free(e);
}

/* 16: real mode; 32: protected mode; 64: long mode. */
static void env_mode(DecodeEnv *e, unsigned bits)
{
    e->cpu->code_bits = bits;
    e->cpu->pe = bits != 16;
    e->cpu->vm86 = false;
    e->cpu->lma = bits == 64;
    e->cpu->long64 = bits == 64;
}

static unsigned parse_hex(const char *hex, uint8_t *buf, unsigned max)
{
    unsigned n = 0;

    while (*hex) {
        if (*hex == ' ') {
            hex++;
            continue;
        }
        g_assert_cmpuint(n, <, max);
        g_assert(g_ascii_isxdigit(hex[0]) && g_ascii_isxdigit(hex[1]));
        buf[n++] = g_ascii_xdigit_value(hex[0]) << 4 |
                   g_ascii_xdigit_value(hex[1]);
        hex += 2;
    }
    return n;
}

/* Decodes @hex at RIP0 in @bits mode; it must be exactly one instruction. */
static DecodedInsn dec(DecodeEnv *e, unsigned bits, const char *hex)
{
    uint8_t buf[32];
    unsigned n = parse_hex(hex, buf, sizeof(buf));
    DecodedInsn d;
    int len;

    env_mode(e, bits);
    len = interp_decode(e->cpu, buf, n, RIP0, &d);
    if (len != (int)n) {
        g_test_message("%u-bit '%s': length %d", bits, hex, len);
    }
    g_assert_cmpint(len, ==, n);
    g_assert_cmpuint(d.len, ==, n);
    g_assert_cmpuint(d.rip, ==, RIP0);
    return d;
}

static uint16_t dec_op(DecodeEnv *e, unsigned bits, const char *hex)
{
    return dec(e, bits, hex).op;
}

/* The flags that depend on operands (not on prefixes). */
#define SHAPE (D_MEM | D_REG_DST | D_IMM | D_CL)

static void check_rr(DecodedInsn d, unsigned op, unsigned opsize,
                     unsigned reg, unsigned rm, unsigned flags)
{
    g_assert_cmpstr(interp_op_name(d.op), ==, interp_op_name(op));
    g_assert_cmpuint(d.opsize, ==, opsize);
    g_assert_cmpuint(d.reg, ==, reg);
    g_assert_cmpuint(d.rm, ==, rm);
    g_assert_cmphex(d.flags & SHAPE, ==, flags);
}

static void check_mem(DecodedInsn d, unsigned base, unsigned index,
                      unsigned scale, uint64_t disp, unsigned seg,
                      unsigned addrsize)
{
    g_assert(d.flags & D_MEM);
    g_assert_cmpuint(d.base, ==, base);
    g_assert_cmpuint(d.index, ==, index);
    g_assert_cmpuint(d.scale, ==, scale);
    g_assert_cmphex(d.disp, ==, disp);
    g_assert_cmpuint(d.seg, ==, seg);
    g_assert_cmpuint(d.addrsize, ==, addrsize);
}

static void test_alu_mov_64(void)
{
    DecodeEnv *e = env_new();
    DecodedInsn d;

    d = dec(e, 64, "48 01 d8");                 /* add rax, rbx */
    check_rr(d, OP_add, 8, R_EBX, R_EAX, 0);
    g_assert(d.flags & D_REXW);
    d = dec(e, 64, "03 44 24 08");              /* add eax, [rsp+8] */
    check_rr(d, OP_add, 4, R_EAX, 0, D_MEM | D_REG_DST);
    check_mem(d, R_ESP, REG_NONE, 0, 8, SEG_SS, 8);
    d = dec(e, 64, "66 05 34 12");              /* add ax, 0x1234 */
    check_rr(d, OP_add, 2, 0, R_EAX, D_IMM);
    g_assert_cmphex(d.imm, ==, 0x1234);
    d = dec(e, 64, "48 83 c0 ff");              /* add rax, -1 */
    check_rr(d, OP_add, 8, 0, R_EAX, D_IMM);
    g_assert_cmphex(d.imm, ==, ~0ULL);
    d = dec(e, 64, "48 81 2b 00 00 00 80");    /* sub qword [rbx], imm */
    check_rr(d, OP_sub, 8, 5, 0, D_MEM | D_IMM);
    g_assert_cmphex(d.imm, ==, 0xffffffff80000000ULL);
    d = dec(e, 64, "80 7d f0 7f");              /* cmp byte [rbp-16], 127 */
    check_rr(d, OP_cmp, 1, 7, 0, D_MEM | D_IMM);
    check_mem(d, R_EBP, REG_NONE, 0, (uint64_t)-16, SEG_SS, 8);
    d = dec(e, 64, "38 e0");                    /* cmp al, ah */
    check_rr(d, OP_cmp, 1, REG8_AH, R_EAX, 0);
    d = dec(e, 64, "40 88 e0");                 /* mov al, spl */
    check_rr(d, OP_mov, 1, R_ESP, R_EAX, 0);
    d = dec(e, 64, "44 8a 3c 24");              /* mov r15b, [rsp] */
    check_rr(d, OP_mov, 1, R_R15, 0, D_MEM | D_REG_DST);
    d = dec(e, 64, "48 b8 88 77 66 55 44 33 22 11");
    check_rr(d, OP_mov, 8, 0, R_EAX, D_IMM);
    g_assert_cmphex(d.imm, ==, 0x1122334455667788ULL);
    d = dec(e, 64, "41 bf ff ff ff ff");        /* mov r15d, -1 */
    check_rr(d, OP_mov, 4, R_R15, R_R15, D_IMM);
    g_assert_cmphex(d.imm & 0xffffffff, ==, 0xffffffff);
    d = dec(e, 64, "b4 12");                    /* mov ah, 0x12 */
    check_rr(d, OP_mov, 1, REG8_AH, REG8_AH, D_IMM);
    d = dec(e, 64, "40 b4 12");                 /* mov spl, 0x12 */
    check_rr(d, OP_mov, 1, R_ESP, R_ESP, D_IMM);
    d = dec(e, 64, "48 c7 c0 ff ff ff ff");     /* mov rax, -1 */
    check_rr(d, OP_mov, 8, 0, R_EAX, D_IMM);
    g_assert_cmphex(d.imm, ==, ~0ULL);
    d = dec(e, 64, "c6 00 12");                 /* mov byte [rax], 0x12 */
    check_rr(d, OP_mov, 1, 0, 0, D_MEM | D_IMM);
    g_assert_cmpuint(dec_op(e, 64, "c6 08 12"), ==, OP_ud);
    g_assert_cmpuint(dec_op(e, 64, "c7 f8 00 00 00 00"), ==, OP_ud);

    /* REX counts only right before the opcode; W beats 66. */
    d = dec(e, 64, "48 66 01 c0");
    check_rr(d, OP_add, 2, 0, 0, 0);
    g_assert(!(d.flags & D_REXW));
    d = dec(e, 64, "66 48 01 c0");
    check_rr(d, OP_add, 8, 0, 0, 0);
    d = dec(e, 64, "41 40 48 01 c0");
    check_rr(d, OP_add, 8, 0, 0, 0);
    d = dec(e, 64, "4c 66 88 e0");              /* REX dropped: mov al, ah */
    check_rr(d, OP_mov, 1, REG8_AH, R_EAX, 0);

    d = dec(e, 64, "48 63 c3");                 /* movsxd rax, ebx */
    check_rr(d, OP_movsxd, 8, R_EAX, R_EBX, D_REG_DST);
    d = dec(e, 64, "0f b6 c4");                 /* movzx eax, ah */
    check_rr(d, OP_movzx8, 4, R_EAX, REG8_AH, D_REG_DST);
    d = dec(e, 64, "48 0f b6 c4");              /* movzx rax, spl */
    check_rr(d, OP_movzx8, 8, R_EAX, R_ESP, D_REG_DST);
    d = dec(e, 64, "66 0f bf 03");              /* movsx ax, word [rbx] */
    check_rr(d, OP_movsx16, 2, R_EAX, 0, D_MEM | D_REG_DST);
    d = dec(e, 64, "8d 04 88");                 /* lea eax, [rax+rcx*4] */
    check_rr(d, OP_lea, 4, 0, 0, D_MEM | D_REG_DST);
    check_mem(d, R_EAX, R_ECX, 2, 0, SEG_DS, 8);
    g_assert_cmpuint(dec_op(e, 64, "8d c0"), ==, OP_ud);
    d = dec(e, 64, "87 d8");                    /* xchg eax, ebx */
    check_rr(d, OP_xchg, 4, R_EBX, R_EAX, 0);
    d = dec(e, 64, "41 90");                    /* xchg r8d, eax */
    check_rr(d, OP_xchg, 4, R_R8, R_EAX, 0);
    g_assert_cmpuint(dec_op(e, 64, "90"), ==, OP_nop);
    g_assert_cmpuint(dec_op(e, 64, "66 90"), ==, OP_nop);
    g_assert_cmpuint(dec_op(e, 64, "f3 90"), ==, OP_pause);
    g_assert_cmpuint(dec_op(e, 64, "0f 1f 44 00 00"), ==, OP_nop);
    g_assert_cmpuint(dec_op(e, 64, "66 2e 0f 1f 84 00 00 00 00 00"), ==,
                     OP_nop);
    g_assert_cmpuint(dec_op(e, 64, "f3 0f 1e fa"), ==, OP_nop);  /* endbr64 */
    g_assert_cmpuint(dec_op(e, 64, "0f 18 08"), ==, OP_nop);     /* prefetch */
    d = dec(e, 64, "0f c8");                    /* bswap eax */
    check_rr(d, OP_bswap, 4, R_EAX, R_EAX, 0);
    d = dec(e, 64, "49 0f cf");                 /* bswap r15 */
    check_rr(d, OP_bswap, 8, R_R15, R_R15, 0);
    d = dec(e, 64, "0f 44 c1");                 /* cmove eax, ecx */
    check_rr(d, OP_cmovcc, 4, R_EAX, R_ECX, D_REG_DST);
    g_assert_cmpuint(d.cc, ==, CC_E);
    d = dec(e, 64, "0f 9f c4");                 /* setg ah */
    check_rr(d, OP_setcc, 1, 0, REG8_AH, 0);
    g_assert_cmpuint(d.cc, ==, CC_G);
    d = dec(e, 64, "f6 c4 01");                 /* test ah, 1 */
    check_rr(d, OP_test, 1, 0, REG8_AH, D_IMM);
    d = dec(e, 64, "f7 c8 01 00 00 00");        /* test eax, 1 (/1 alias) */
    check_rr(d, OP_test, 4, 1, R_EAX, D_IMM);
    d = dec(e, 64, "a9 00 00 00 80");           /* test eax, imm32 */
    check_rr(d, OP_test, 4, 0, R_EAX, D_IMM);
    d = dec(e, 64, "f6 d8");                    /* neg al */
    check_rr(d, OP_neg, 1, 3, R_EAX, 0);
    d = dec(e, 64, "48 f7 f3");                 /* div rbx */
    check_rr(d, OP_div, 8, 6, R_EBX, 0);
    d = dec(e, 64, "f7 eb");                    /* imul ebx */
    check_rr(d, OP_imul1, 4, 5, R_EBX, 0);
    d = dec(e, 64, "0f af c3");                 /* imul eax, ebx */
    check_rr(d, OP_imul2, 4, R_EAX, R_EBX, D_REG_DST);
    d = dec(e, 64, "69 c3 00 01 00 00");        /* imul eax, ebx, 256 */
    check_rr(d, OP_imul3, 4, R_EAX, R_EBX, D_REG_DST | D_IMM);
    g_assert_cmphex(d.imm, ==, 256);
    d = dec(e, 64, "66 6b c3 ff");              /* imul ax, bx, -1 */
    check_rr(d, OP_imul3, 2, R_EAX, R_EBX, D_REG_DST | D_IMM);
    g_assert_cmphex(d.imm, ==, ~0ULL);
    d = dec(e, 64, "fe c8");                    /* dec al */
    check_rr(d, OP_dec, 1, 1, R_EAX, 0);
    g_assert_cmpuint(dec_op(e, 64, "fe d0"), ==, OP_ud);
    g_assert_cmpuint(dec_op(e, 64, "ff f8"), ==, OP_ud);
    d = dec(e, 64, "99");
    check_rr(d, OP_cwd, 4, 0, 0, 0);
    g_assert_cmpuint(dec(e, 64, "48 98").opsize, ==, 8);   /* cdqe */
    env_free(e);
}

static void test_addressing(void)
{
    DecodeEnv *e = env_new();
    DecodedInsn d;

    /* 64-bit: RIP-relative, SIB without base, R12/R13, overrides */
    d = dec(e, 64, "8b 05 10 00 00 00");
    check_mem(d, REG_NONE, REG_NONE, 0, RIP0 + 6 + 0x10, SEG_DS, 8);
    d = dec(e, 64, "41 8b 05 f0 ff ff ff");     /* REX.B: still RIP */
    check_mem(d, REG_NONE, REG_NONE, 0, RIP0 + 7 - 0x10, SEG_DS, 8);
    d = dec(e, 64, "c7 05 00 01 00 00 78 56 34 12");   /* with imm */
    check_mem(d, REG_NONE, REG_NONE, 0, RIP0 + 10 + 0x100, SEG_DS, 8);
    g_assert_cmphex(d.imm, ==, 0x12345678);
    d = dec(e, 64, "67 8b 05 f0 ff ff ff");     /* EIP-relative */
    g_assert_cmphex(d.disp & 0xffffffff, ==, RIP0 + 7 - 0x10);
    g_assert_cmpuint(d.addrsize, ==, 4);
    d = dec(e, 64, "8b 04 25 78 56 34 12");     /* absolute disp32 */
    check_mem(d, REG_NONE, REG_NONE, 0, 0x12345678, SEG_DS, 8);
    d = dec(e, 64, "42 8b 04 a5 00 10 00 00");  /* [r12*4+0x1000] */
    check_mem(d, REG_NONE, R_R12, 2, 0x1000, SEG_DS, 8);
    d = dec(e, 64, "41 8b 04 24");              /* [r12] */
    check_mem(d, R_R12, REG_NONE, 0, 0, SEG_DS, 8);
    d = dec(e, 64, "41 8b 45 00");              /* [r13+0] */
    check_mem(d, R_R13, REG_NONE, 0, 0, SEG_DS, 8);
    d = dec(e, 64, "43 8b 6c fd 80");           /* mov ebp, [r13+r15*8-128] */
    check_mem(d, R_R13, R_R15, 3, (uint64_t)-128, SEG_DS, 8);
    g_assert_cmpuint(d.reg, ==, R_EBP);
    d = dec(e, 64, "8b 84 24 00 01 00 00");     /* [rsp+0x100] */
    check_mem(d, R_ESP, REG_NONE, 0, 0x100, SEG_SS, 8);
    d = dec(e, 64, "64 48 8b 04 25 28 00 00 00");   /* mov rax, fs:0x28 */
    check_mem(d, REG_NONE, REG_NONE, 0, 0x28, SEG_FS, 8);
    g_assert(d.flags & D_SEG_OVR);
    d = dec(e, 64, "65 8b 45 00");              /* gs beats the SS default */
    check_mem(d, R_EBP, REG_NONE, 0, 0, SEG_GS, 8);
    d = dec(e, 64, "26 8b 45 00");              /* es ignored */
    check_mem(d, R_EBP, REG_NONE, 0, 0, SEG_SS, 8);
    g_assert(!(d.flags & D_SEG_OVR));
    d = dec(e, 64, "2e 8b 00");
    check_mem(d, R_EAX, REG_NONE, 0, 0, SEG_DS, 8);
    /* ignored ones do not cancel FS/GS; the last of FS/GS counts (as an
     * Intel host does it) */
    d = dec(e, 64, "64 3e 8b 00");
    check_mem(d, R_EAX, REG_NONE, 0, 0, SEG_FS, 8);
    d = dec(e, 64, "64 65 26 8b 00");
    check_mem(d, R_EAX, REG_NONE, 0, 0, SEG_GS, 8);
    d = dec(e, 64, "67 8b 00");                 /* [eax] */
    check_mem(d, R_EAX, REG_NONE, 0, 0, SEG_DS, 4);

    /* moffs */
    d = dec(e, 64, "a1 88 77 66 55 44 33 22 11");
    check_rr(d, OP_mov, 4, R_EAX, 0, D_MEM | D_REG_DST);
    check_mem(d, REG_NONE, REG_NONE, 0, 0x1122334455667788ULL, SEG_DS, 8);
    d = dec(e, 64, "65 48 a3 08 00 00 00 00 00 00 00");
    check_rr(d, OP_mov, 8, R_EAX, 0, D_MEM);
    check_mem(d, REG_NONE, REG_NONE, 0, 8, SEG_GS, 8);
    d = dec(e, 64, "67 a0 78 56 34 12");
    check_rr(d, OP_mov, 1, R_EAX, 0, D_MEM | D_REG_DST);
    check_mem(d, REG_NONE, REG_NONE, 0, 0x12345678, SEG_DS, 4);

    /* 32-bit */
    d = dec(e, 32, "8b 45 08");
    check_mem(d, R_EBP, REG_NONE, 0, 8, SEG_SS, 4);
    d = dec(e, 32, "8b 05 00 10 00 00");        /* no RIP-relative here */
    check_mem(d, REG_NONE, REG_NONE, 0, 0x1000, SEG_DS, 4);
    d = dec(e, 32, "8b 04 4d 00 10 00 00");     /* [ecx*2+0x1000] */
    check_mem(d, REG_NONE, R_ECX, 1, 0x1000, SEG_DS, 4);
    d = dec(e, 32, "8b 44 24 fc");
    check_mem(d, R_ESP, REG_NONE, 0, (uint64_t)-4, SEG_SS, 4);
    d = dec(e, 32, "2e 8b 00");
    check_mem(d, R_EAX, REG_NONE, 0, 0, SEG_CS, 4);
    g_assert(d.flags & D_SEG_OVR);
    d = dec(e, 32, "3e 8b 45 00");              /* ds beats SS default */
    check_mem(d, R_EBP, REG_NONE, 0, 0, SEG_DS, 4);
    d = dec(e, 32, "64 26 8b 00");              /* the last override */
    check_mem(d, R_EAX, REG_NONE, 0, 0, SEG_ES, 4);
    d = dec(e, 32, "67 8b 46 02");              /* mov eax, [bp+2] */
    check_mem(d, R_EBP, REG_NONE, 0, 2, SEG_SS, 2);
    d = dec(e, 32, "a1 78 56 34 12");
    check_mem(d, REG_NONE, REG_NONE, 0, 0x12345678, SEG_DS, 4);

    /* 16-bit */
    d = dec(e, 16, "8b 46 02");                 /* mov ax, [bp+2] */
    check_rr(d, OP_mov, 2, R_EAX, 0, D_MEM | D_REG_DST);
    check_mem(d, R_EBP, REG_NONE, 0, 2, SEG_SS, 2);
    d = dec(e, 16, "8b 00");                    /* [bx+si] */
    check_mem(d, R_EBX, R_ESI, 0, 0, SEG_DS, 2);
    d = dec(e, 16, "8b 42 fe");                 /* [bp+si-2] */
    check_mem(d, R_EBP, R_ESI, 0, (uint64_t)-2, SEG_SS, 2);
    d = dec(e, 16, "8b 87 34 12");              /* [bx+0x1234] */
    check_mem(d, R_EBX, REG_NONE, 0, 0x1234, SEG_DS, 2);
    d = dec(e, 16, "8b 06 34 12");              /* [0x1234] */
    check_mem(d, REG_NONE, REG_NONE, 0, 0x1234, SEG_DS, 2);
    d = dec(e, 16, "26 8b 03");                 /* es:[bp+di] */
    check_mem(d, R_EBP, R_EDI, 0, 0, SEG_ES, 2);
    d = dec(e, 16, "67 66 8b 44 24 04");        /* mov eax, [esp+4] */
    check_rr(d, OP_mov, 4, R_EAX, 0, D_MEM | D_REG_DST);
    check_mem(d, R_ESP, REG_NONE, 0, 4, SEG_SS, 4);
    d = dec(e, 16, "a1 34 12");                 /* moffs16 */
    check_mem(d, REG_NONE, REG_NONE, 0, 0x1234, SEG_DS, 2);
    d = dec(e, 16, "66 b8 78 56 34 12");
    check_rr(d, OP_mov, 4, R_EAX, R_EAX, D_IMM);
    g_assert_cmphex(d.imm, ==, 0x12345678);
    env_free(e);
}

static void test_branches(void)
{
    DecodeEnv *e = env_new();
    DecodedInsn d;
    uint8_t jmp_wrap[] = { 0xeb, 0x00 };

    d = dec(e, 64, "e8 00 00 00 00");
    g_assert_cmpuint(d.op, ==, OP_call);
    g_assert_cmphex(d.imm, ==, RIP0 + 5);
    g_assert_cmpuint(d.opsize, ==, 8);
    d = dec(e, 64, "66 e8 fa ff ff ff");        /* 66 ignored (Intel) */
    g_assert_cmphex(d.imm, ==, RIP0);
    g_assert_cmpuint(d.opsize, ==, 8);
    d = dec(e, 64, "eb fe");
    g_assert_cmpuint(d.op, ==, OP_jmp);
    g_assert_cmphex(d.imm, ==, RIP0);
    d = dec(e, 64, "74 02");
    g_assert_cmpuint(d.op, ==, OP_jcc);
    g_assert_cmpuint(d.cc, ==, CC_E);
    g_assert_cmphex(d.imm, ==, RIP0 + 4);
    d = dec(e, 64, "0f 8c fa ff ff ff");
    g_assert_cmpuint(d.op, ==, OP_jcc);
    g_assert_cmpuint(d.cc, ==, CC_L);
    g_assert_cmphex(d.imm, ==, RIP0);
    d = dec(e, 64, "e3 fe");
    g_assert_cmpuint(d.op, ==, OP_jcxz);
    g_assert_cmpuint(d.addrsize, ==, 8);
    d = dec(e, 64, "67 e2 10");
    g_assert_cmpuint(d.op, ==, OP_loop);
    g_assert_cmpuint(d.addrsize, ==, 4);
    g_assert_cmphex(d.imm, ==, RIP0 + 3 + 0x10);
    d = dec(e, 64, "e1 00");
    g_assert_cmpuint(d.op, ==, OP_loope);
    g_assert_cmpuint(d.cc, ==, CC_E);
    g_assert_cmpuint(dec_op(e, 64, "e0 00"), ==, OP_loopne);
    d = dec(e, 64, "ff d0");                    /* call rax */
    check_rr(d, OP_call_rm, 8, 2, R_EAX, 0);
    d = dec(e, 64, "41 ff 24 24");              /* jmp [r12] */
    check_rr(d, OP_jmp_rm, 8, 4, 0, D_MEM);
    d = dec(e, 64, "ff 18");                    /* call far [rax] */
    check_rr(d, OP_call_far_m, 4, 3, 0, D_MEM);
    d = dec(e, 64, "48 ff 28");                 /* jmp far m16:64 */
    check_rr(d, OP_jmp_far_m, 8, 5, 0, D_MEM);
    g_assert_cmpuint(dec_op(e, 64, "ff d8"), ==, OP_ud);
    g_assert_cmpuint(dec(e, 64, "c3").opsize, ==, 8);
    d = dec(e, 64, "c2 08 00");
    g_assert_cmpuint(d.op, ==, OP_ret);
    g_assert_cmphex(d.imm, ==, 8);
    g_assert_cmpuint(dec(e, 64, "cb").opsize, ==, 4);
    d = dec(e, 64, "48 ca 10 00");
    g_assert_cmpuint(d.op, ==, OP_ret_far);
    g_assert_cmpuint(d.opsize, ==, 8);
    g_assert_cmphex(d.imm, ==, 0x10);
    g_assert_cmpuint(dec(e, 64, "48 cf").opsize, ==, 8);
    g_assert_cmpuint(dec(e, 64, "cf").opsize, ==, 4);

    d = dec(e, 32, "e8 fb ff ff ff");
    g_assert_cmphex(d.imm, ==, RIP0);
    g_assert_cmpuint(d.opsize, ==, 4);
    d = dec(e, 32, "66 e8 fc ff");              /* rel16, IP truncated */
    g_assert_cmphex(d.imm, ==, RIP0);
    g_assert_cmpuint(d.opsize, ==, 2);
    d = dec(e, 32, "9a 78 56 34 12 34 12");
    g_assert_cmpuint(d.op, ==, OP_call_far);
    g_assert_cmphex(d.imm, ==, 0x12345678);
    g_assert_cmphex(d.imm2, ==, 0x1234);
    d = dec(e, 32, "66 ea 34 12 08 00");
    g_assert_cmpuint(d.op, ==, OP_jmp_far);
    g_assert_cmphex(d.imm, ==, 0x1234);
    g_assert_cmphex(d.imm2, ==, 8);
    g_assert_cmpuint(dec(e, 32, "e3 00").addrsize, ==, 4);
    g_assert_cmpuint(dec(e, 32, "67 e3 00").addrsize, ==, 2);

    d = dec(e, 16, "e9 fd ff");
    g_assert_cmphex(d.imm, ==, RIP0);
    g_assert_cmpuint(d.opsize, ==, 2);
    d = dec(e, 16, "66 e9 fa ff ff ff");        /* 32-bit in 16-bit code */
    g_assert_cmphex(d.imm, ==, RIP0);
    g_assert_cmpuint(d.opsize, ==, 4);
    d = dec(e, 16, "9a 34 12 00 f0");
    g_assert_cmpuint(d.op, ==, OP_call_far);
    g_assert_cmphex(d.imm, ==, 0x1234);
    g_assert_cmphex(d.imm2, ==, 0xf000);
    g_assert_cmpuint(dec(e, 16, "cf").opsize, ==, 2);
    g_assert_cmpuint(dec(e, 16, "66 cf").opsize, ==, 4);
    /* IP wraps at 64 KiB */
    env_mode(e, 16);
    g_assert_cmpint(interp_decode(e->cpu, jmp_wrap, 2, 0xfffe, &d), ==, 2);
    g_assert_cmphex(d.imm, ==, 0);
    env_free(e);
}

static void test_stack_string_io(void)
{
    DecodeEnv *e = env_new();
    DecodedInsn d;

    d = dec(e, 64, "50");
    check_rr(d, OP_push, 8, R_EAX, R_EAX, 0);
    d = dec(e, 64, "66 41 50");                 /* push r8w */
    check_rr(d, OP_push, 2, R_R8, R_R8, 0);
    g_assert_cmpuint(dec(e, 64, "48 5b").opsize, ==, 8);
    d = dec(e, 64, "ff 34 24");                 /* push [rsp] */
    check_rr(d, OP_push, 8, 6, 0, D_MEM);
    d = dec(e, 64, "8f 00");                    /* pop [rax] */
    check_rr(d, OP_pop, 8, 0, 0, D_MEM);
    g_assert_cmpuint(dec_op(e, 64, "8f c8"), ==, OP_ud);
    d = dec(e, 64, "68 00 00 00 80");
    check_rr(d, OP_push, 8, 0, 0, D_IMM);
    g_assert_cmphex(d.imm, ==, 0xffffffff80000000ULL);
    d = dec(e, 64, "66 68 34 12");
    check_rr(d, OP_push, 2, 0, 0, D_IMM);
    g_assert_cmphex(d.imm & 0xffff, ==, 0x1234);
    d = dec(e, 64, "6a ff");
    g_assert_cmphex(d.imm, ==, ~0ULL);
    g_assert_cmpuint(dec(e, 64, "9c").opsize, ==, 8);
    g_assert_cmpuint(dec(e, 64, "66 9d").opsize, ==, 2);
    d = dec(e, 64, "c8 10 00 02");
    g_assert_cmpuint(d.op, ==, OP_enter);
    g_assert_cmpuint(d.opsize, ==, 8);
    g_assert_cmphex(d.imm, ==, 16);
    g_assert_cmphex(d.imm2, ==, 2);
    g_assert_cmpuint(dec(e, 32, "c9").opsize, ==, 4);
    d = dec(e, 64, "0f a0");
    g_assert_cmpuint(d.op, ==, OP_push_seg);
    g_assert_cmpuint(d.cc, ==, SEG_FS);
    g_assert_cmpuint(d.opsize, ==, 8);
    d = dec(e, 64, "0f a9");
    g_assert_cmpuint(d.op, ==, OP_pop_seg);
    g_assert_cmpuint(d.cc, ==, SEG_GS);
    d = dec(e, 32, "1f");
    g_assert_cmpuint(d.op, ==, OP_pop_seg);
    g_assert_cmpuint(d.cc, ==, SEG_DS);
    g_assert_cmpuint(d.opsize, ==, 4);
    d = dec(e, 16, "0e");
    g_assert_cmpuint(d.op, ==, OP_push_seg);
    g_assert_cmpuint(d.cc, ==, SEG_CS);
    g_assert_cmpuint(d.opsize, ==, 2);
    g_assert_cmpuint(dec(e, 32, "66 60").opsize, ==, 2);

    d = dec(e, 64, "f3 a4");
    g_assert_cmpuint(d.op, ==, OP_movs);
    g_assert_cmpuint(d.opsize, ==, 1);
    g_assert_cmpuint(d.seg, ==, SEG_DS);
    g_assert_cmphex(d.flags & (D_REP | D_REPNE), ==, D_REP);
    d = dec(e, 64, "f3 48 a5");
    g_assert_cmpuint(d.op, ==, OP_movs);
    g_assert_cmpuint(d.opsize, ==, 8);
    d = dec(e, 64, "f2 ae");
    g_assert_cmpuint(d.op, ==, OP_scas);
    g_assert_cmphex(d.flags & (D_REP | D_REPNE), ==, D_REPNE);
    d = dec(e, 64, "f2 f3 a6");                 /* the last one counts */
    g_assert_cmpuint(d.op, ==, OP_cmps);
    g_assert_cmphex(d.flags & (D_REP | D_REPNE), ==, D_REP);
    d = dec(e, 64, "64 ac");
    g_assert_cmpuint(d.op, ==, OP_lods);
    g_assert_cmpuint(d.seg, ==, SEG_FS);
    g_assert_cmpuint(dec(e, 64, "67 ab").addrsize, ==, 4);
    d = dec(e, 16, "26 66 a5");
    g_assert_cmpuint(d.op, ==, OP_movs);
    g_assert_cmpuint(d.opsize, ==, 4);
    g_assert_cmpuint(d.addrsize, ==, 2);
    g_assert_cmpuint(d.seg, ==, SEG_ES);
    d = dec(e, 32, "2e d7");
    g_assert_cmpuint(d.op, ==, OP_xlat);
    g_assert_cmpuint(d.seg, ==, SEG_CS);
    d = dec(e, 32, "f3 6d");
    g_assert_cmpuint(d.op, ==, OP_ins);
    g_assert_cmpuint(d.opsize, ==, 4);
    g_assert_cmpuint(dec(e, 64, "48 6f").opsize, ==, 4);   /* outsd */
    g_assert_cmpuint(dec_op(e, 64, "6e"), ==, OP_outs);

    d = dec(e, 64, "e4 60");
    check_rr(d, OP_in, 1, 0, 0, D_IMM);
    g_assert_cmphex(d.imm, ==, 0x60);
    d = dec(e, 64, "ed");
    check_rr(d, OP_in, 4, 0, 0, 0);
    d = dec(e, 64, "66 ef");
    check_rr(d, OP_out, 2, 0, 0, 0);
    d = dec(e, 64, "48 e7 80");
    check_rr(d, OP_out, 4, 0, 0, D_IMM);
    g_assert_cmphex(d.imm, ==, 0x80);
    env_free(e);
}

static void test_shift_bit(void)
{
    DecodeEnv *e = env_new();
    DecodedInsn d;

    d = dec(e, 64, "c0 e0 03");                 /* shl al, 3 */
    check_rr(d, OP_shl, 1, 4, R_EAX, D_IMM);
    g_assert_cmphex(d.imm, ==, 3);
    d = dec(e, 64, "d1 e0");                    /* shl eax, 1 */
    check_rr(d, OP_shl, 4, 4, R_EAX, D_IMM);
    g_assert_cmphex(d.imm, ==, 1);
    d = dec(e, 64, "48 d3 f8");                 /* sar rax, cl */
    check_rr(d, OP_sar, 8, 7, R_EAX, D_CL);
    d = dec(e, 64, "c1 f0 02");                 /* /6: SHL alias */
    check_rr(d, OP_shl, 4, 6, R_EAX, D_IMM);
    g_assert_cmpuint(dec_op(e, 64, "d0 c8"), ==, OP_ror);
    g_assert_cmpuint(dec_op(e, 64, "d2 d0"), ==, OP_rcl);
    g_assert_cmpuint(dec_op(e, 64, "d3 18"), ==, OP_rcr);
    g_assert_cmpuint(dec_op(e, 64, "d3 28"), ==, OP_shr);
    g_assert_cmpuint(dec_op(e, 64, "d3 00"), ==, OP_rol);
    d = dec(e, 64, "0f a4 c3 04");              /* shld ebx, eax, 4 */
    check_rr(d, OP_shld, 4, R_EAX, R_EBX, D_IMM);
    g_assert_cmphex(d.imm, ==, 4);
    d = dec(e, 64, "0f ad c3");                 /* shrd ebx, eax, cl */
    check_rr(d, OP_shrd, 4, R_EAX, R_EBX, D_CL);

    d = dec(e, 64, "0f ba e0 05");              /* bt eax, 5 */
    check_rr(d, OP_bt, 4, 4, R_EAX, D_IMM);
    g_assert_cmphex(d.imm, ==, 5);
    g_assert_cmpuint(dec_op(e, 64, "0f ba c0 05"), ==, OP_ud);
    d = dec(e, 64, "48 0f ab 03");              /* bts [rbx], rax */
    check_rr(d, OP_bts, 8, R_EAX, 0, D_MEM);
    g_assert_cmpuint(dec_op(e, 64, "0f b3 c3"), ==, OP_btr);
    g_assert_cmpuint(dec_op(e, 64, "0f bb c3"), ==, OP_btc);
    g_assert_cmpuint(dec_op(e, 64, "0f a3 c3"), ==, OP_bt);
    d = dec(e, 64, "0f bc c3");
    check_rr(d, OP_bsf, 4, R_EAX, R_EBX, D_REG_DST);
    g_assert_cmpuint(dec_op(e, 64, "0f bd c3"), ==, OP_bsr);
    g_assert_cmpuint(dec_op(e, 64, "f2 0f bc c3"), ==, OP_bsf);
    g_assert_cmpuint(dec_op(e, 64, "f3 0f bc c3"), ==,
                     interp_has_feature(e->cpu, FEAT_BMI1) ? OP_tzcnt : OP_bsf);
    g_assert_cmpuint(dec_op(e, 64, "f3 0f bd c3"), ==,
                     interp_has_feature(e->cpu, FEAT_LZCNT) ? OP_lzcnt : OP_bsr);
    d = dec(e, 64, "f3 48 0f b8 c3");           /* popcnt rax, rbx */
    if (interp_has_feature(e->cpu, FEAT_POPCNT)) {
        check_rr(d, OP_popcnt, 8, R_EAX, R_EBX, D_REG_DST);
    } else {
        g_assert_cmpuint(d.op, ==, OP_ud);
    }
    g_assert_cmpuint(dec_op(e, 64, "0f b8 c3"), ==, OP_ud);   /* JMPE */
    env_free(e);
}

static void test_extensions(void)
{
    DecodeEnv *e = env_new();
    DecodedInsn d;
    bool bmi1, bmi2, adx, movbe;

    env_mode(e, 64);
    bmi1 = interp_has_feature(e->cpu, FEAT_BMI1);
    bmi2 = interp_has_feature(e->cpu, FEAT_BMI2);
    adx = interp_has_feature(e->cpu, FEAT_ADX);
    movbe = interp_has_feature(e->cpu, FEAT_MOVBE);

    /* VEX BMI: andn eax, ecx, ebx; with W: andn rax, rcx, rbx */
    d = dec(e, 64, "c4 e2 70 f2 c3");
    if (bmi1) {
        check_rr(d, OP_andn, 4, R_EAX, R_EBX, D_REG_DST);
        g_assert_cmpuint(d.vreg, ==, R_ECX);
        g_assert(d.flags & D_VEX);
        d = dec(e, 64, "c4 62 f0 f2 c3");       /* andn r8, rcx, rbx */
        check_rr(d, OP_andn, 8, R_R8, R_EBX, D_REG_DST);
        d = dec(e, 32, "c4 e2 70 f2 c3");
        check_rr(d, OP_andn, 4, R_EAX, R_EBX, D_REG_DST);
        d = dec(e, 64, "c4 e2 f8 f3 cb");       /* blsr rax, rbx */
        check_rr(d, OP_blsr, 8, 1, R_EBX, 0);
        g_assert_cmpuint(d.vreg, ==, R_EAX);
        g_assert_cmpuint(dec_op(e, 64, "c4 e2 78 f3 d3"), ==, OP_blsmsk);
        g_assert_cmpuint(dec_op(e, 64, "c4 e2 78 f3 db"), ==, OP_blsi);
        g_assert_cmpuint(dec_op(e, 64, "c4 e2 78 f3 e3"), ==, OP_ud);
        d = dec(e, 64, "c4 c2 70 f7 03");       /* bextr eax, [r11], ecx */
        check_rr(d, OP_bextr, 4, R_EAX, 0, D_MEM | D_REG_DST);
        check_mem(d, R_R11, REG_NONE, 0, 0, SEG_DS, 8);
    }
    g_assert_cmpuint(dec_op(e, 64, "c4 e2 74 f2 c3"), ==, OP_ud);   /* L=1 */
    if (bmi2) {
        g_assert_cmpuint(dec_op(e, 64, "c4 e2 70 f5 c3"), ==, OP_bzhi);
        g_assert_cmpuint(dec_op(e, 64, "c4 e2 72 f5 c3"), ==, OP_pext);
        g_assert_cmpuint(dec_op(e, 64, "c4 e2 73 f5 c3"), ==, OP_pdep);
        d = dec(e, 64, "c4 e2 f3 f6 c3");       /* mulx rax, rcx, rbx */
        check_rr(d, OP_mulx, 8, R_EAX, R_EBX, D_REG_DST);
        g_assert_cmpuint(d.vreg, ==, R_ECX);
        g_assert_cmpuint(dec_op(e, 64, "c4 e2 71 f7 c3"), ==, OP_shlx);
        g_assert_cmpuint(dec_op(e, 64, "c4 e2 72 f7 c3"), ==, OP_sarx);
        g_assert_cmpuint(dec_op(e, 64, "c4 e2 73 f7 c3"), ==, OP_shrx);
        d = dec(e, 64, "c4 e3 fb f0 c1 05");    /* rorx rax, rcx, 5 */
        check_rr(d, OP_rorx, 8, R_EAX, R_ECX, D_REG_DST | D_IMM);
        g_assert_cmphex(d.imm, ==, 5);
        g_assert_cmpuint(dec_op(e, 64, "c4 e3 f3 f0 c1 05"), ==, OP_ud);
    }
    g_assert_cmpuint(dec_op(e, 64, "66 c4 e2 70 f2 c3"), ==, OP_ud);
    g_assert_cmpuint(dec_op(e, 64, "48 c4 e2 70 f2 c3"), ==, OP_ud);
    g_assert_cmpuint(dec_op(e, 64, "c5 f8 77"), ==, OP_fpu);   /* vzeroupper */
    g_assert_cmpuint(dec_op(e, 64, "c5 f9 70 c1 1b"), ==, OP_fpu);
    g_assert_cmpuint(dec_op(e, 64, "c4 e3 79 0f c1 08"), ==, OP_fpu);
    /* outside 64-bit mode C4/C5 with a memory ModRM are LES/LDS */
    d = dec(e, 32, "c4 00");
    check_rr(d, OP_lxs, 4, R_EAX, 0, D_MEM | D_REG_DST);
    g_assert_cmpuint(d.cc, ==, SEG_ES);
    d = dec(e, 16, "c5 36 00 10");              /* lds si, [0x1000] */
    check_rr(d, OP_lxs, 2, R_ESI, 0, D_MEM | D_REG_DST);
    g_assert_cmpuint(d.cc, ==, SEG_DS);
    g_assert_cmpuint(dec_op(e, 16, "c4 e2 70 f2 c3"), ==, OP_ud);  /* real */
    d = dec(e, 64, "0f b2 00");
    g_assert_cmpuint(d.op, ==, OP_lxs);
    g_assert_cmpuint(d.cc, ==, SEG_SS);
    g_assert_cmpuint(dec(e, 64, "0f b4 00").cc, ==, SEG_FS);
    g_assert_cmpuint(dec(e, 64, "0f b5 00").cc, ==, SEG_GS);
    g_assert_cmpuint(dec_op(e, 64, "0f b5 c0"), ==, OP_ud);

    /* 66 and F3 are mandatory prefixes here, not operand size */
    d = dec(e, 64, "66 0f 38 f6 c3");
    g_assert_cmpuint(d.op, ==, adx ? OP_adcx : OP_ud);
    g_assert_cmpuint(d.opsize, ==, 4);
    d = dec(e, 64, "f3 48 0f 38 f6 c3");
    g_assert_cmpuint(d.op, ==, adx ? OP_adox : OP_ud);
    g_assert_cmpuint(d.opsize, ==, 8);
    d = dec(e, 64, "0f 38 f0 03");              /* movbe eax, [rbx] */
    if (movbe) {
        check_rr(d, OP_movbe, 4, R_EAX, 0, D_MEM | D_REG_DST);
        d = dec(e, 64, "66 0f 38 f1 03");       /* movbe [rbx], ax */
        check_rr(d, OP_movbe, 2, R_EAX, 0, D_MEM);
    }
    g_assert_cmpuint(dec_op(e, 64, "0f 38 f0 c3"), ==, OP_ud);
    g_assert_cmpuint(dec_op(e, 64, "f2 0f 38 f1 c3"), ==, OP_fpu); /* crc32 */
    g_assert_cmpuint(dec_op(e, 64, "66 0f 38 82 08"), ==, OP_invpcid);
    g_assert_cmpuint(dec_op(e, 64, "0f 38 82 08"), ==, OP_ud);

    /* x87, MMX, SSE: OP_fpu with the right length */
    g_assert_cmpuint(dec_op(e, 64, "d9 c0"), ==, OP_fpu);
    g_assert_cmpuint(dec_op(e, 64, "dd 44 24 08"), ==, OP_fpu);
    g_assert_cmpuint(dec_op(e, 16, "de 06 00 10"), ==, OP_fpu);
    g_assert_cmpuint(dec_op(e, 64, "9b"), ==, OP_fwait);
    g_assert_cmpuint(dec_op(e, 64, "0f 10 04 25 00 00 00 00"), ==, OP_fpu);
    g_assert_cmpuint(dec_op(e, 64, "66 0f 70 c1 1b"), ==, OP_fpu);
    g_assert_cmpuint(dec_op(e, 64, "66 0f 3a 0f c1 08"), ==, OP_fpu);
    g_assert_cmpuint(dec_op(e, 64, "66 0f 38 00 c1"), ==, OP_fpu);
    g_assert_cmpuint(dec_op(e, 64, "0f 77"), ==, OP_fpu);
    g_assert_cmpuint(dec_op(e, 64, "0f ae 00"), ==, OP_fpu);   /* fxsave */
    g_assert_cmpuint(dec_op(e, 64, "0f c6 c1 1b"), ==, OP_fpu);
    d = dec(e, 64, "48 0f c3 03");              /* movnti [rbx], rax */
    check_rr(d, OP_mov, 8, R_EAX, 0, D_MEM);
    env_free(e);
}

static void test_system(void)
{
    DecodeEnv *e = env_new();
    DecodedInsn d;

    d = dec(e, 64, "0f 20 c0");                 /* mov rax, cr0 */
    check_rr(d, OP_mov_from_cr, 8, 0, R_EAX, 0);
    g_assert_cmpuint(d.cc, ==, 0);
    d = dec(e, 64, "44 0f 22 c3");              /* mov cr8, rbx */
    g_assert_cmpuint(d.op, ==, OP_mov_to_cr);
    g_assert_cmpuint(d.cc, ==, 8);
    g_assert_cmpuint(d.rm, ==, R_EBX);
    d = dec(e, 64, "41 0f 22 d8");              /* mov cr3, r8 */
    g_assert_cmpuint(d.cc, ==, 3);
    g_assert_cmpuint(d.rm, ==, R_R8);
    d = dec(e, 64, "0f 20 18");                 /* mod ignored: mov rax, cr3 */
    check_rr(d, OP_mov_from_cr, 8, 0, R_EAX, 0);
    g_assert_cmpuint(d.cc, ==, 3);
    g_assert_cmpuint(dec_op(e, 64, "0f 22 c8"), ==, OP_ud);     /* cr1 */
    g_assert_cmpuint(dec_op(e, 64, "0f 22 e8"), ==, OP_ud);     /* cr5 */
    g_assert_cmpuint(dec_op(e, 64, "f0 0f 22 c0"), ==, OP_ud);
    g_assert_cmpuint(dec(e, 32, "0f 22 e0").opsize, ==, 4);     /* cr4 */
    d = dec(e, 32, "0f 23 f8");                 /* mov dr7, eax */
    g_assert_cmpuint(d.op, ==, OP_mov_to_dr);
    g_assert_cmpuint(d.cc, ==, 7);
    g_assert_cmpuint(dec_op(e, 64, "0f 21 c8"), ==, OP_mov_from_dr);
    g_assert_cmpuint(dec_op(e, 64, "44 0f 21 c0"), ==, OP_ud); /* dr8 */

    d = dec(e, 32, "8e d0");                    /* mov ss, ax */
    check_rr(d, OP_mov_to_seg, 2, 2, R_EAX, 0);
    g_assert_cmpuint(d.cc, ==, SEG_SS);
    g_assert_cmpuint(dec_op(e, 32, "8e c8"), ==, OP_ud);         /* cs */
    g_assert_cmpuint(dec_op(e, 32, "8e f0"), ==, OP_ud);
    d = dec(e, 64, "8c d8");                    /* mov eax, ds */
    check_rr(d, OP_mov_from_seg, 4, 3, R_EAX, 0);
    g_assert_cmpuint(d.cc, ==, SEG_DS);
    d = dec(e, 64, "8c 20");                    /* mov [rax], fs */
    g_assert_cmpuint(d.opsize, ==, 2);
    g_assert_cmpuint(d.cc, ==, SEG_FS);

    d = dec(e, 64, "0f 01 10");
    g_assert_cmpuint(d.op, ==, OP_lgdt);
    g_assert_cmpuint(d.opsize, ==, 8);
    g_assert_cmpuint(dec(e, 32, "0f 01 18").opsize, ==, 4);    /* lidt */
    g_assert_cmpuint(dec(e, 32, "66 0f 01 00").opsize, ==, 2); /* sgdt */
    g_assert_cmpuint(dec(e, 16, "0f 01 0e 00 10").op, ==, OP_sidt);
    g_assert_cmpuint(dec_op(e, 64, "0f 01 38"), ==, OP_invlpg);
    g_assert_cmpuint(dec_op(e, 64, "0f 01 f8"), ==, OP_swapgs);
    g_assert_cmpuint(dec_op(e, 32, "0f 01 f8"), ==, OP_ud);
    g_assert_cmpuint(dec_op(e, 64, "0f 01 f9"), ==,
                     interp_has_feature(e->cpu, FEAT_RDTSCP) ? OP_rdtscp
                                                             : OP_ud);
    g_assert_cmpuint(dec_op(e, 64, "0f 01 d0"), ==, OP_fpu);   /* xgetbv */
    g_assert_cmpuint(dec_op(e, 64, "0f 01 c8"), ==, OP_ud);    /* monitor */
    d = dec(e, 64, "0f 01 e0");                 /* smsw eax */
    check_rr(d, OP_smsw, 4, 4, R_EAX, 0);
    g_assert_cmpuint(dec(e, 64, "0f 01 20").opsize, ==, 2);
    g_assert_cmpuint(dec_op(e, 64, "0f 01 f0"), ==, OP_lmsw);
    g_assert_cmpuint(dec_op(e, 64, "0f 00 d8"), ==, OP_ltr);
    g_assert_cmpuint(dec_op(e, 64, "0f 00 d0"), ==, OP_lldt);
    g_assert_cmpuint(dec_op(e, 64, "0f 00 e0"), ==, OP_verr);
    g_assert_cmpuint(dec_op(e, 64, "0f 00 e8"), ==, OP_verw);
    g_assert_cmpuint(dec_op(e, 64, "0f 00 f0"), ==, OP_ud);
    g_assert_cmpuint(dec(e, 64, "0f 00 c0").opsize, ==, 4);    /* sldt eax */
    g_assert_cmpuint(dec(e, 64, "0f 00 08").opsize, ==, 2);    /* str [rax] */
    d = dec(e, 64, "0f 02 c3");
    check_rr(d, OP_lar, 4, R_EAX, R_EBX, D_REG_DST);
    g_assert_cmpuint(dec_op(e, 64, "0f 03 c3"), ==, OP_lsl);
    d = dec(e, 32, "63 c8");                    /* arpl ax, cx */
    check_rr(d, OP_arpl, 2, R_ECX, R_EAX, 0);

    g_assert_cmpuint(dec_op(e, 64, "0f 05"), ==, OP_syscall);
    g_assert_cmpuint(dec(e, 64, "48 0f 07").opsize, ==, 8);
    g_assert_cmpuint(dec(e, 64, "0f 07").opsize, ==, 4);
    g_assert_cmpuint(dec_op(e, 32, "0f 34"), ==, OP_sysenter);
    g_assert_cmpuint(dec(e, 64, "48 0f 35").opsize, ==, 8);
    g_assert_cmpuint(dec_op(e, 64, "0f 30"), ==, OP_wrmsr);
    g_assert_cmpuint(dec_op(e, 64, "0f 32"), ==, OP_rdmsr);
    g_assert_cmpuint(dec_op(e, 64, "0f 31"), ==, OP_rdtsc);
    g_assert_cmpuint(dec_op(e, 64, "0f 33"), ==, OP_rdpmc);
    g_assert_cmpuint(dec_op(e, 64, "0f a2"), ==, OP_cpuid);
    g_assert_cmpuint(dec_op(e, 64, "0f 06"), ==, OP_clts);
    g_assert_cmpuint(dec_op(e, 64, "0f 08"), ==, OP_invd);
    g_assert_cmpuint(dec_op(e, 64, "0f 09"), ==, OP_wbinvd);
    g_assert_cmpuint(dec_op(e, 64, "f4"), ==, OP_hlt);
    g_assert_cmpuint(dec_op(e, 64, "fa"), ==, OP_cli);
    g_assert_cmpuint(dec_op(e, 64, "fb"), ==, OP_sti);
    g_assert_cmpuint(dec_op(e, 64, "fc"), ==, OP_cld);
    g_assert_cmpuint(dec_op(e, 64, "fd"), ==, OP_std);
    g_assert_cmpuint(dec_op(e, 64, "f5"), ==, OP_cmc);
    g_assert_cmpuint(dec_op(e, 64, "f8"), ==, OP_clc);
    g_assert_cmpuint(dec_op(e, 64, "f9"), ==, OP_stc);
    g_assert_cmpuint(dec_op(e, 64, "cc"), ==, OP_int3);
    g_assert_cmpuint(dec_op(e, 64, "f1"), ==, OP_int1);
    d = dec(e, 64, "cd 80");
    g_assert_cmpuint(d.op, ==, OP_int);
    g_assert_cmphex(d.imm, ==, 0x80);
    g_assert_cmpuint(dec_op(e, 32, "ce"), ==, OP_into);
    g_assert_cmpuint(dec_op(e, 64, "0f ae f0"), ==, OP_fence);
    g_assert_cmpuint(dec_op(e, 64, "0f ae e8"), ==, OP_fence);
    g_assert_cmpuint(dec_op(e, 64, "0f ae f8"), ==, OP_fence);
    g_assert_cmpuint(dec_op(e, 64, "0f ae 38"), ==, OP_clflush);
    g_assert_cmpuint(dec_op(e, 64, "0f ae e0"), ==, OP_ud);
    /* checked on an Intel host: these prefixes make #UD */
    g_assert_cmpuint(dec_op(e, 64, "66 0f ae f0"), ==, OP_ud);
    g_assert_cmpuint(dec_op(e, 64, "f2 0f ae e8"), ==, OP_ud);
    g_assert_cmpuint(dec_op(e, 64, "f3 0f ae 38"), ==, OP_ud);
    g_assert_cmpuint(dec_op(e, 64, "f2 0f ae 00"), ==, OP_ud);
    g_assert_cmpuint(dec_op(e, 64, "66 0f c3 03"), ==, OP_ud);
    g_assert_cmpuint(dec_op(e, 64, "f3 0f 38 f0 03"), ==, OP_ud);
    g_assert_cmpuint(dec_op(e, 64, "0f 38 f6 c0"), ==, OP_ud);
    g_assert_cmpuint(dec_op(e, 64, "f2 0f b8 c0"), ==, OP_ud);
    /* and these are NOPs */
    g_assert_cmpuint(dec_op(e, 64, "0f 0d c0"), ==, OP_nop);
    g_assert_cmpuint(dec_op(e, 64, "0f 0d 08"), ==, OP_nop);
    g_assert_cmpuint(dec_op(e, 64, "0f 1a c0"), ==, OP_nop);
    g_assert_cmpuint(dec_op(e, 64, "0f 19 84 00 00 00 00 00"), ==, OP_nop);
    if (interp_has_feature(e->cpu, FEAT_FSGSBASE)) {
        d = dec(e, 64, "f3 48 0f ae c0");       /* rdfsbase rax */
        check_rr(d, OP_rdfsbase, 8, 0, R_EAX, 0);
        d = dec(e, 64, "f3 41 0f ae db");       /* wrgsbase r11d */
        check_rr(d, OP_wrgsbase, 4, 3, R_R11, 0);
    }
    g_assert_cmpuint(dec_op(e, 32, "f3 0f ae c0"), ==, OP_ud);
    g_assert_cmpuint(dec_op(e, 64, "9e"), ==,
                     interp_has_feature(e->cpu, FEAT_LAHF64) ? OP_sahf : OP_ud);
    g_assert_cmpuint(dec_op(e, 32, "9f"), ==, OP_lahf);
    env_free(e);
}

static void test_lock_and_ud(void)
{
    static const uint8_t invalid64[] = {
        0x06, 0x07, 0x0e, 0x16, 0x17, 0x1e, 0x1f, 0x27, 0x2f, 0x37, 0x3f,
        0x60, 0x61, 0xce, 0xd6,
    };
    DecodeEnv *e = env_new();
    DecodedInsn d;
    uint8_t buf[4] = { 0 };

    d = dec(e, 64, "f0 48 0f b1 0b");           /* lock cmpxchg [rbx], rcx */
    check_rr(d, OP_cmpxchg, 8, R_ECX, 0, D_MEM);
    g_assert(d.flags & D_LOCK);
    d = dec(e, 64, "f0 83 03 01");
    g_assert_cmpuint(d.op, ==, OP_add);
    g_assert(d.flags & D_LOCK);
    g_assert_cmpuint(dec_op(e, 64, "f0 01 c0"), ==, OP_ud);   /* register */
    g_assert_cmpuint(dec_op(e, 64, "f0 03 03"), ==, OP_ud);   /* G,E */
    g_assert_cmpuint(dec_op(e, 64, "f0 39 03"), ==, OP_ud);   /* cmp */
    g_assert_cmpuint(dec_op(e, 64, "f0 83 3b 01"), ==, OP_ud);
    g_assert_cmpuint(dec_op(e, 64, "f0 89 03"), ==, OP_ud);   /* mov */
    g_assert_cmpuint(dec_op(e, 64, "f0 f7 13"), ==, OP_not);
    g_assert_cmpuint(dec_op(e, 64, "f0 f6 1b"), ==, OP_neg);
    g_assert_cmpuint(dec_op(e, 64, "f0 f7 03 01 00 00 00"), ==, OP_ud);
    g_assert_cmpuint(dec_op(e, 64, "f0 fe 03"), ==, OP_inc);
    g_assert_cmpuint(dec_op(e, 64, "f0 ff 0b"), ==, OP_dec);
    g_assert_cmpuint(dec_op(e, 64, "f0 87 03"), ==, OP_xchg);
    g_assert_cmpuint(dec_op(e, 64, "f0 0f c1 03"), ==, OP_xadd);
    g_assert_cmpuint(dec_op(e, 64, "f0 0f ba 28 05"), ==, OP_bts);
    g_assert_cmpuint(dec_op(e, 64, "f0 0f ba 20 05"), ==, OP_ud); /* bt */
    g_assert_cmpuint(dec_op(e, 64, "f0 0f a3 03"), ==, OP_ud);
    g_assert_cmpuint(dec_op(e, 64, "f0 0f bb 03"), ==, OP_btc);
    g_assert_cmpuint(dec_op(e, 32, "f0 0f c7 0f"), ==, OP_cmpxchg8b);
    d = dec(e, 64, "48 0f c7 0e");              /* cmpxchg16b [rsi] */
    g_assert_cmpuint(d.op, ==, interp_has_feature(e->cpu, FEAT_CX16) ?
                     OP_cmpxchg8b : OP_ud);
    g_assert_cmpuint(d.opsize, ==, 8);
    g_assert_cmpuint(dec(e, 64, "0f c7 0e").opsize, ==, 4);
    g_assert_cmpuint(dec_op(e, 64, "0f c7 ce"), ==, OP_ud);
    g_assert_cmpuint(dec_op(e, 64, "f0 90"), ==, OP_ud);

    g_assert_cmpuint(dec_op(e, 64, "0f 0b"), ==, OP_ud);      /* ud2 */
    g_assert_cmpuint(dec_op(e, 64, "0f b9 c0"), ==, OP_ud);   /* ud1 */
    g_assert_cmpuint(dec_op(e, 64, "0f ff 00"), ==, OP_ud);   /* ud0 */
    g_assert_cmpuint(dec_op(e, 64, "0f 37"), ==, OP_ud);
    g_assert_cmpuint(dec_op(e, 64, "0f aa"), ==, OP_ud);      /* rsm */

    /* mode-invalid opcodes */
    for (unsigned i = 0; i < G_N_ELEMENTS(invalid64); i++) {
        buf[0] = invalid64[i];
        env_mode(e, 64);
        g_assert_cmpint(interp_decode(e->cpu, buf, 1, RIP0, &d), ==, 1);
        g_assert_cmpuint(d.op, ==, OP_ud);
        env_mode(e, 32);
        g_assert_cmpint(interp_decode(e->cpu, buf, 1, RIP0, &d), ==, 1);
        g_assert_cmpuint(d.op, !=, OP_ud);
    }
    g_assert_cmpuint(dec_op(e, 64, "62"), ==, OP_ud);
    g_assert_cmpuint(dec_op(e, 32, "62 00"), ==, OP_bound);
    g_assert_cmpuint(dec_op(e, 64, "82"), ==, OP_ud);
    g_assert_cmpuint(dec_op(e, 32, "82 c0 01"), ==, OP_add);
    g_assert_cmpuint(dec_op(e, 64, "9a"), ==, OP_ud);
    g_assert_cmpuint(dec_op(e, 64, "ea"), ==, OP_ud);
    g_assert_cmpuint(dec_op(e, 64, "d4"), ==, OP_ud);
    d = dec(e, 32, "d4 0a");
    g_assert_cmpuint(d.op, ==, OP_aam);
    g_assert_cmphex(d.imm, ==, 10);
    g_assert_cmpuint(dec_op(e, 32, "d5 0a"), ==, OP_aad);
    g_assert_cmpuint(dec_op(e, 32, "27"), ==, OP_daa);
    g_assert_cmpuint(dec_op(e, 32, "2f"), ==, OP_das);
    g_assert_cmpuint(dec_op(e, 32, "37"), ==, OP_aaa);
    g_assert_cmpuint(dec_op(e, 32, "3f"), ==, OP_aas);
    g_assert_cmpuint(dec_op(e, 32, "d6"), ==, OP_salc);
    d = dec(e, 32, "40");                       /* inc eax, not REX */
    check_rr(d, OP_inc, 4, R_EAX, R_EAX, 0);
    d = dec(e, 16, "4f");
    check_rr(d, OP_dec, 2, R_EDI, R_EDI, 0);
    env_free(e);
}

static void test_length_limits(void)
{
    DecodeEnv *e = env_new();
    DecodedInsn d;
    uint8_t buf[32];

    env_mode(e, 64);
    /* 14 prefixes and NOP: 15 bytes is fine, one more is not */
    memset(buf, 0x66, sizeof(buf));
    buf[14] = 0x90;
    g_assert_cmpint(interp_decode(e->cpu, buf, sizeof(buf), RIP0, &d), ==, 15);
    g_assert_cmpuint(d.op, ==, OP_nop);
    buf[14] = 0x66;
    buf[15] = 0x90;
    g_assert_cmpint(interp_decode(e->cpu, buf, sizeof(buf), RIP0, &d), ==, -1);
    /* 4 prefixes + 11-byte mov: 15; with a fifth prefix: 16 */
    parse_hex("26 26 26 26 48 c7 84 24 00 01 00 00 78 56 34 12", buf, 32);
    g_assert_cmpint(interp_decode(e->cpu, buf + 1, 15, RIP0, &d), ==, 15);
    g_assert_cmpuint(d.op, ==, OP_mov);
    g_assert_cmpint(interp_decode(e->cpu, buf, 16, RIP0, &d), ==, -1);
    /* too few bytes: 0, whatever is missing */
    parse_hex("48 c7 84 24 00 01 00 00 78 56 34 12", buf, 32);
    for (unsigned n = 0; n < 12; n++) {
        g_assert_cmpint(interp_decode(e->cpu, buf, n, RIP0, &d), ==, 0);
    }
    g_assert_cmpint(interp_decode(e->cpu, buf, 12, RIP0, &d), ==, 12);
    parse_hex("66 66 66", buf, 32);
    g_assert_cmpint(interp_decode(e->cpu, buf, 3, RIP0, &d), ==, 0);
    parse_hex("0f 38", buf, 32);
    g_assert_cmpint(interp_decode(e->cpu, buf, 2, RIP0, &d), ==, 0);
    env_mode(e, 32);
    parse_hex("c4", buf, 32);                   /* LES or VEX? */
    g_assert_cmpint(interp_decode(e->cpu, buf, 1, RIP0, &d), ==, 0);
    env_free(e);
}

static void test_ends_block(void)
{
    static const char *const ends[] = {
        "eb 00", "e9 00 00 00 00", "74 00", "0f 85 00 00 00 00", "e8 00 00 00 00",
        "ff d0", "ff e0", "c3", "c2 04 00", "e2 00", "e1 00", "e0 00", "e3 00",
        "ff 18", "ff 28", "cb", "cf", "cd 21", "cc", "f1", "0f 05", "0f 07",
        "0f 34", "0f 35", "f4", "fa", "fb", "9d", "8e d0", "0f 22 d8",
        "0f 23 f8", "0f 01 f0", "0f 06", "0f 30", "0f 01 38", "0f 0b",
        "66 0f 38 82 00",
    };
    static const char *const goes_on[] = {
        "01 c0", "89 c0", "8e d8", "8e c0", "0f a1", "9c", "0f 20 d8",
        "0f 32", "0f a2", "0f 01 10", "0f 01 18", "0f 00 d8", "e4 60",
        "ee", "f3 a4", "90", "f3 90", "0f 31", "0f 01 f8", "0f b2 00",
        "d9 c0", "0f ae f0", "50", "c9",
    };
    DecodeEnv *e = env_new();
    DecodedInsn d;

    for (unsigned i = 0; i < G_N_ELEMENTS(ends); i++) {
        d = dec(e, 64, ends[i]);
        if (!interp_decode_ends_block(&d)) {
            g_test_message("'%s' (%s) does not end the block", ends[i],
                           interp_op_name(d.op));
        }
        g_assert(interp_decode_ends_block(&d));
    }
    for (unsigned i = 0; i < G_N_ELEMENTS(goes_on); i++) {
        d = dec(e, 64, goes_on[i]);
        if (interp_decode_ends_block(&d)) {
            g_test_message("'%s' (%s) ends the block", goes_on[i],
                           interp_op_name(d.op));
        }
        g_assert(!interp_decode_ends_block(&d));
    }
    g_assert(interp_decode_ends_block(&(DecodedInsn){ .op = OP_block_end }));
    d = dec(e, 32, "17");                       /* pop ss */
    g_assert(interp_decode_ends_block(&d));
    d = dec(e, 32, "1f");                       /* pop ds */
    g_assert(!interp_decode_ends_block(&d));
    d = dec(e, 32, "9a 00 00 00 00 08 00");
    g_assert(interp_decode_ends_block(&d));
    d = dec(e, 32, "ce");
    g_assert(interp_decode_ends_block(&d));
    env_free(e);
}

/* ---- lengths against capstone ---- */

typedef struct Capstone {
    csh handle[3];            /* 16, 32, 64-bit */
} Capstone;

static void capstone_open(Capstone *c)
{
    static const cs_mode modes[3] = { CS_MODE_16, CS_MODE_32, CS_MODE_64 };

    for (int i = 0; i < 3; i++) {
        g_assert_cmpint(cs_open(CS_ARCH_X86, modes[i], &c->handle[i]), ==,
                        CS_ERR_OK);
    }
}

static void capstone_close(Capstone *c)
{
    for (int i = 0; i < 3; i++) {
        cs_close(&c->handle[i]);
    }
}

/* Capstone's length of the instruction at @buf, or 0 if it rejects it. */
static unsigned capstone_len(Capstone *c, unsigned bits, const uint8_t *buf,
                             unsigned n)
{
    csh h = c->handle[bits == 16 ? 0 : bits == 32 ? 1 : 2];
    cs_insn *insn;
    unsigned len = 0;

    if (cs_disasm(h, buf, n, RIP0, 1, &insn) == 1) {
        len = insn->size;
        cs_free(insn, 1);
    }
    return len;
}

static GString *hex_string(const uint8_t *buf, unsigned n)
{
    GString *s = g_string_new(NULL);

    for (unsigned i = 0; i < n; i++) {
        g_string_append_printf(s, "%s%02x", i ? " " : "", buf[i]);
    }
    return s;
}

/*
 * Where capstone 4 disagrees with the hardware (and the SDM), checked on
 * the host, so the comparison skips these:
 *  - MOV CR/DR (0F 20-23) ignore ModRM.mod; capstone reads a memory
 *    operand's SIB/displacement when mod != 3.
 *  - In 64-bit mode a 66 prefix does not shrink the displacement of near
 *    JMP/CALL/Jcc on Intel (it does on AMD, and in capstone); capstone
 *    also takes 67 with REX.W there as a 16-bit displacement.
 *  - RET imm16 with REX.W: capstone reads a 32-bit immediate.
 *  - With F2 or F3 present, capstone ignores 66 for the size of a "z"
 *    immediate or displacement (66 F2 68 iw is PUSHW imm16 on the host).
 */
static bool capstone_quirk(unsigned bits, const uint8_t *buf, unsigned n,
                           const DecodedInsn *d)
{
    bool p66_rep = (d->flags & D_OPSIZE66) && (d->flags & (D_REP | D_REPNE));

    switch (d->op) {
    case OP_jcc: case OP_jmp: case OP_call:
        return p66_rep ||
               (bits == 64 && ((d->flags & D_OPSIZE66) || d->addrsize != 8));
    case OP_ret:
        return bits == 64 && (d->flags & D_REXW);
    case OP_push:
        return p66_rep;
    case OP_mov_to_cr: case OP_mov_from_cr:
    case OP_mov_to_dr: case OP_mov_from_dr:
        return true;
    default:
        return false;
    }
}

/* Compares one byte string; returns false (and says why) on a mismatch. */
static bool compare_one(DecodeEnv *e, Capstone *c, unsigned bits,
                        const uint8_t *buf, unsigned n, unsigned *compared)
{
    DecodedInsn d;
    unsigned cs_len = capstone_len(c, bits, buf, n);
    int len;

    env_mode(e, bits);
    len = interp_decode(e->cpu, buf, n, RIP0, &d);
    g_assert_cmpint(len, !=, 0);              /* n >= 15 */
    if (!cs_len || (len > 0 && d.op == OP_ud)) {
        return true;
    }
    (*compared)++;
    if (len < 0 ? cs_len <= INTERP_MAX_INSN_LEN : (int)cs_len == len) {
        return true;
    }
    if (len > 0 && capstone_quirk(bits, buf, n, &d)) {
        return true;
    }
    {
        g_autoptr(GString) hex = hex_string(buf, MIN(n, 16u));
        g_test_message("%u-bit [%s]: decoder %d (%s), capstone %u", bits,
                       hex->str, len, len > 0 ? interp_op_name(d.op) : "-",
                       cs_len);
    }
    return false;
}

/* Gas output: consecutive instructions must decode back to back with the
 * lengths capstone finds, and none of them as OP_ud. */
INTERP_TEST_CODE(gas16, 16,
    "mov 2(%bp), %ax\n add %ax, (%bx,%si)\n les 0x10(%bx), %di\n"
    "lcall $0xf000, $0x1234\n ljmp *(%di)\n lidtl (%si)\n"
    "push %cs\n pop %ds\n pushal\n popaw\n enter $4, $1\n"
    "rep movsw\n in $0x60, %al\n outl %eax, %dx\n int $0x10\n iret\n"
    "mov %cr0, %eax\n mov %eax, %cr0\n aam\n aad $7\n daa\n"
    "movzbl %al, %ecx\n imul $300, %bx, %dx\n lss (%bp,%di), %sp\n"
    "lgdt 0x10(%esp,%ecx,2)\n xlat\n mov %es:(%di), %ax\n"
    "fildl 2(%bx)\n fwait\n bound %ax, (%bx)\n arpl %ax, %cx\n"
    "loop .\n jcxz .\n ljmp $0x08, $0x1000\n");
INTERP_TEST_CODE(gas32, 32,
    "mov 8(%ebp), %eax\n add $0x12345678, %eax\n lea (%eax,%ecx,4), %edx\n"
    "lock cmpxchg8b (%edi)\n rdtsc\n cpuid\n mov %cr3, %eax\n"
    "mov %eax, %dr7\n sysenter\n lcall $0x10, $0x1000\n"
    "movw %ds, (%eax)\n lds 4(%esp), %esi\n les (%eax), %eax\n"
    "ltr %ax\n sldt %eax\n verr (%ecx)\n lar %ecx, %eax\n"
    "shld $3, %eax, %ebx\n shrd %cl, %eax, (%ecx)\n btsl $5, (%eax)\n"
    "bsr %eax, %ecx\n movsbw %al, %cx\n cmovne 4(%esp), %eax\n"
    "setbe %ah\n xadd %eax, (%ebx)\n bswap %edx\n popcnt %eax, %ebx\n"
    "pause\n hlt\n cli\n sti\n int3\n into\n repne scasb\n"
    "movl $1, %fs:0x10(,%eax,8)\n fld %st(1)\n pxor %mm0, %mm1\n"
    "movaps %xmm0, (%eax)\n pshufd $0x1b, %xmm1, %xmm2\n"
    "andn %ecx, %ebx, %eax\n rorx $5, %ecx, %eax\n shlx %eax, %ebx, %ecx\n"
    "call .\n ret $8\n");
INTERP_TEST_CODE(gas64, 64,
    "mov %fs:0x28, %rax\n add 8(%rsp), %r12\n lea 0x100(%rip), %rsi\n"
    "movabs $0x1122334455667788, %r15\n mov %r8b, %sil\n"
    "movsxd %ebx, %r9\n movzwl (%r13,%r14,8), %eax\n"
    "lock xadd %rax, (%rbx)\n lock cmpxchg16b (%rdi)\n lock incl (%rax)\n"
    "syscall\n sysretq\n swapgs\n rdtscp\n rdfsbase %rax\n wrgsbase %r11\n"
    "mov %cr8, %rdx\n mov %r9, %cr3\n invlpg (%rax)\n invpcid (%rax), %rcx\n"
    "lgdt (%rax)\n sidt 8(%rsp)\n clflush (%rcx)\n mfence\n lfence\n"
    "sfence\n xsave (%rax)\n fxrstor64 (%rax)\n ldmxcsr (%rax)\n"
    "push %fs\n pop %gs\n pushq $-1\n pushw $0x1234\n push %r15\n"
    "pop 8(%rsp)\n enter $16, $0\n leave\n lretq\n iretq\n"
    "jmp *(%rax)\n call *%r11\n ljmp *(%rax)\n rep stosq\n"
    "movsq\n cmpsb\n lodsw\n insb\n outsl\n in %dx, %eax\n"
    "movbe (%rax), %ecx\n movbe %cx, (%rax)\n adcx %rbx, %rax\n"
    "adox %ebx, %eax\n crc32b %al, %ecx\n tzcnt %rax, %rbx\n"
    "lzcnt %eax, %ecx\n popcnt (%rax), %rbx\n bextr %rax, (%rbx), %rcx\n"
    "blsr %rax, %rbx\n blsi %eax, %ecx\n blsmsk (%rax), %r8\n"
    "bzhi %eax, %ebx, %ecx\n pdep %rax, %rbx, %rcx\n pext %eax, %ebx, %ecx\n"
    "mulx %rax, %rbx, %rcx\n sarx %rax, %rbx, %rcx\n shrx %eax, %ebx, %ecx\n"
    "rorx $63, %rax, %rbx\n vzeroupper\n vpaddd %ymm0, %ymm1, %ymm2\n"
    "vpermq $0x1b, %ymm1, %ymm2\n movq %xmm0, %rax\n pinsrw $3, %eax, %xmm1\n"
    "cmpxchg %r8, (%r9)\n xchg %r8, %rax\n xchg %eax, %eax\n"
    "nopw 0(%rax,%rax,1)\n endbr64\n ud2\n ud1 %eax, %ecx\n"
    "sahf\n lahf\n cqto\n cltq\n imul $-2, %r10, %r11\n"
    "shl $7, %r10\n sar %cl, %r11d\n rcr %rax\n bt %rax, (%rbx)\n"
    "btc $63, %rax\n test $0x80, %ah\n notq (%rax)\n negb %sil\n"
    "idivq 16(%rsp)\n mulb %ah\n div %r8w\n jrcxz .\n loopne .\n"
    "jz .+0x100\n jmp .+0x10000\n call .-0x1000\n ret\n");

static void check_gas(DecodeEnv *e, Capstone *c, unsigned bits,
                      const uint8_t *code, const uint8_t *end,
                      unsigned expected_ud)
{
    unsigned count = 0, uds = 0;
    uint64_t off = 0;
    size_t size = end - code;

    while (off < size) {
        uint8_t buf[32] = { 0 };
        DecodedInsn d;
        unsigned n = MIN(size - off, sizeof(buf));
        unsigned cs_len;
        int len;

        memcpy(buf, code + off, n);
        env_mode(e, bits);
        e->cpu->pe = true;    /* VEX in 16-bit protected mode */
        len = interp_decode(e->cpu, buf, n, RIP0 + off, &d);
        cs_len = capstone_len(c, bits, buf, n);
        if (len <= 0 || ((int)cs_len != len && d.op != OP_ud)) {
            g_autoptr(GString) hex = hex_string(buf, MIN(n, 16u));
            g_test_message("%u-bit gas insn %u at +%" PRIu64 " [%s]: "
                           "decoder %d, capstone %u", bits, count, off,
                           hex->str, len, cs_len);
        }
        g_assert_cmpint(len, >, 0);
        /* (capstone 4 has UD1 without a ModRM byte) */
        if (d.op != OP_ud && !capstone_quirk(bits, buf, n, &d)) {
            g_assert_cmpint(len, ==, cs_len);
        }
        if (d.op == OP_ud) {
            uds++;
        }
        off += len;
        count++;
    }
    g_assert_cmpuint(off, ==, size);
    if (expected_ud != ~0u) {
        g_assert_cmpuint(uds, ==, expected_ud);
    }
}

static bool all_features(DecodeEnv *e)
{
    env_mode(e, 64);
    for (int f = 0; f < FEAT_NR; f++) {
        if (!interp_has_feature(e->cpu, f)) {
            return false;
        }
    }
    return true;
}

static void test_gas_sequences(void)
{
    DecodeEnv *e = env_new();
    Capstone c;

    capstone_open(&c);
    check_gas(e, &c, 16, gas16, gas16_end, 0);
    check_gas(e, &c, 32, gas32, gas32_end, 0);
    /* ud2 and ud1, when the CPUID model has every feature used there */
    check_gas(e, &c, 64, gas64, gas64_end, all_features(e) ? 2 : ~0u);
    capstone_close(&c);
    env_free(e);
}

/* Random instructions: some prefixes, an opcode from one of the maps,
 * then random bytes (ModRM, SIB, displacement, immediate). */
static void random_insn(GRand *r, unsigned bits, uint8_t *buf, unsigned n)
{
    static const uint8_t prefixes[] = {
        0x66, 0x67, 0xf2, 0xf3, 0xf0, 0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65,
        0x66, 0x66, 0x67,
    };
    unsigned pos = 0, npfx = g_rand_int_range(r, 0, 4);

    for (unsigned i = 0; i < n; i++) {
        buf[i] = g_rand_int_range(r, 0, 256);
    }
    if (g_rand_int_range(r, 0, 10) == 0) {
        return;                               /* all random */
    }
    for (unsigned i = 0; i < npfx; i++) {
        buf[pos++] = prefixes[g_rand_int_range(r, 0, sizeof(prefixes))];
    }
    if (bits == 64 && g_rand_boolean(r)) {
        buf[pos++] = 0x40 | g_rand_int_range(r, 0, 16);
    }
    switch (g_rand_int_range(r, 0, 16)) {
    case 0 ... 6:                             /* one-byte map */
        break;
    case 7 ... 11:
        buf[pos++] = 0x0f;
        break;
    case 12:
        buf[pos++] = 0x0f;
        buf[pos++] = 0x38;
        break;
    case 13:
        buf[pos++] = 0x0f;
        buf[pos++] = 0x3a;
        break;
    case 14:                                  /* VEX3, maps 1-3 */
        buf[pos++] = 0xc4;
        buf[pos] = (buf[pos] & 0xe0) | g_rand_int_range(r, 1, 4);
        if (bits != 64) {
            buf[pos] |= 0xc0;
        }
        pos++;
        break;
    default:                                  /* VEX2 */
        buf[pos++] = 0xc5;
        if (bits != 64) {
            buf[pos] |= 0xc0;
        }
        break;
    }
}

static void test_capstone_random(void)
{
    static const unsigned modes[3] = { 16, 32, 64 };
    DecodeEnv *e = env_new();
    GRand *r = g_rand_new_with_seed(0x1e3a);
    Capstone c;
    unsigned bad = 0, compared = 0;

    capstone_open(&c);
    for (unsigned m = 0; m < 3; m++) {
        for (unsigned i = 0; i < 40000; i++) {
            uint8_t buf[24];

            random_insn(r, modes[m], buf, sizeof(buf));
            if (!compare_one(e, &c, modes[m], buf, sizeof(buf), &compared) &&
                ++bad > 30) {
                break;
            }
        }
    }
    g_test_message("%u random instructions compared", compared);
    g_assert_cmpuint(bad, ==, 0);
    /* most of them are instructions that both sides decode */
    g_assert_cmpuint(compared, >, 3 * 40000 / 2);
    capstone_close(&c);
    g_rand_free(r);
    env_free(e);
}

/* Every one- and two-byte opcode with a few ModRM bytes, in each mode. */
static void test_capstone_opcode_maps(void)
{
    static const unsigned modes[3] = { 16, 32, 64 };
    static const uint8_t modrms[] = { 0x00, 0x05, 0x04, 0x44, 0x84, 0xc0,
                                      0x1c, 0x94, 0xff, 0x46, 0x86 };
    DecodeEnv *e = env_new();
    Capstone c;
    unsigned bad = 0, compared = 0;

    capstone_open(&c);
    for (unsigned m = 0; m < 3; m++) {
        for (unsigned map = 0; map < 4; map++) {
            for (unsigned op = 0; op < 256; op++) {
                for (unsigned k = 0; k < sizeof(modrms); k++) {
                    uint8_t buf[24];
                    unsigned pos = 0;

                    memset(buf, 0x11 * (k + 1), sizeof(buf));
                    if (map) {
                        buf[pos++] = 0x0f;
                    }
                    if (map == 2) {
                        buf[pos++] = 0x38;
                    } else if (map == 3) {
                        buf[pos++] = 0x3a;
                    }
                    buf[pos++] = op;
                    buf[pos++] = modrms[k];
                    buf[pos++] = 0x25;        /* a SIB with no base */
                    if (!compare_one(e, &c, modes[m], buf, sizeof(buf),
                                     &compared)) {
                        bad++;
                    }
                }
            }
        }
    }
    g_test_message("%u opcode/ModRM pairs compared", compared);
    g_assert_cmpuint(bad, ==, 0);
    g_assert_cmpuint(compared, >, 3 * 4 * 256 * sizeof(modrms) / 3);
    capstone_close(&c);
    env_free(e);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/interp/decode/alu-mov-64", test_alu_mov_64);
    g_test_add_func("/interp/decode/addressing", test_addressing);
    g_test_add_func("/interp/decode/branches", test_branches);
    g_test_add_func("/interp/decode/stack-string-io", test_stack_string_io);
    g_test_add_func("/interp/decode/shift-bit", test_shift_bit);
    g_test_add_func("/interp/decode/extensions", test_extensions);
    g_test_add_func("/interp/decode/system", test_system);
    g_test_add_func("/interp/decode/lock-and-ud", test_lock_and_ud);
    g_test_add_func("/interp/decode/length-limits", test_length_limits);
    g_test_add_func("/interp/decode/ends-block", test_ends_block);
    g_test_add_func("/interp/decode/gas-sequences", test_gas_sequences);
    g_test_add_func("/interp/decode/capstone-opcode-maps",
                    test_capstone_opcode_maps);
    g_test_add_func("/interp/decode/capstone-random", test_capstone_random);
    return g_test_run();
}
