/*
 * The x86 instruction decoder (decode.c): the bytes of one instruction
 * become a DecodedInsn in the shape that insn.h describes. Used by the
 * block builder (exec.c / block-cache.c).
 */
#ifndef LEMU_ACCEL_INTERP_DECODE_H
#define LEMU_ACCEL_INTERP_DECODE_H

#include <stdbool.h>
#include <stdint.h>
#include "insn.h"

/* The architectural limit: a longer instruction raises #GP(0). */
#define INTERP_MAX_INSN_LEN 15

/*
 * Decodes the instruction at @bytes (@avail bytes readable, at most 15
 * used) in the mode of @cpu (cpu->code_bits 16/32/64), whose offset in CS
 * is @rip. Fills *d, including d->fn = cpu->shared->op_fn[op] (or the
 * OP_ud handler when that is NULL) and d->len.
 * Returns the length (> 0); 0 when the instruction needs more than @avail
 * bytes (the caller fetches the next page and retries with more); -1 when
 * it is longer than 15 bytes (the caller raises #GP(0)). Invalid encodings
 * decode as OP_ud (never fail).
 *
 * Besides code_bits, the decoder reads cpu->pe and cpu->vm86 (VEX-encoded
 * instructions are #UD in real and virtual-8086 mode) and the CPUID model
 * through interp_has_feature(); everything else is left to the handlers.
 * Beyond insn.h's conventions:
 *  - D_SEG_OVR is set when d->seg comes from a segment override prefix
 *    (in 64-bit mode only FS/GS count: ES/CS/SS/DS prefixes are ignored
 *    altogether). With several segment prefixes the last one that counts
 *    wins; likewise the last of F2/F3 gives D_REPNE/D_REP (and selects
 *    the mandatory-prefix form).
 *  - D_IMM is set whenever `imm` holds an immediate operand of the
 *    instruction (ALU/MOV/TEST/PUSH/IMUL immediates, shift and SHLD/SHRD
 *    counts, BT bit offsets, IN/OUT ports, INT n, AAM/AAD base, ENTER,
 *    RET imm16); it is clear for relative branches (`imm` is the target)
 *    and far pointers.
 *  - Opcode-register forms (INC/DEC 40+r, PUSH/POP 50+r/58+r, BSWAP) have
 *    the register in both `reg` and `rm` (D_MEM clear); XCHG 90+r has it
 *    in `reg` and rm = RAX; MOV B0+r/B8+r has it in `rm`.
 *  - Near branches in 64-bit mode have opsize 8 whatever the 66 prefix
 *    (Intel behaviour; PUSH/POP/ENTER/LEAVE/PUSHF/POPF: 66 makes them 2).
 *    Far returns, IRET and indirect far transfers default to 4 and take
 *    REX.W for 8.
 *  - IN/OUT/INS/OUTS: opsize 1, 2 or 4 (REX.W ignored).
 *  - MOV from Sreg to memory, SMSW/SLDT/STR to memory: opsize 2; to a
 *    register: the operand size. MOV to Sreg, LLDT, LTR, VERR, VERW, LMSW,
 *    ARPL: opsize 2.
 *  - SGDT/SIDT/LGDT/LIDT: opsize 8 in 64-bit mode, else 2 or 4 (66).
 *  - MOV CR/DR: cc = CRn/DRn (REX.R included), the GPR in rm (the ModRM
 *    mod bits are ignored, as the SDM says), opsize 8 in 64-bit mode,
 *    else 4. Only CR0/2/3/4/8 and DR0-7 decode; others are OP_ud.
 *  - MOV to/from Sreg, PUSH/POP Sreg, LxS: cc = segment; D_REG_DST only
 *    for LxS (its destination is a GPR).
 *  - LOOPE/LOOPNE also carry cc = CC_E / CC_NE; LOOP/JCXZ use addrsize.
 *  - MOVNTI decodes as OP_mov (a plain store); SYSRET/SYSEXIT: opsize 8
 *    with REX.W, else 4. RD/WR FS/GS BASE: opsize 4 or 8 (REX.W).
 *  - VEX BMI: opsize 8 only with VEX.W in 64-bit mode; D_REG_DST when
 *    `reg` is the destination (all but BLSI/BLSMSK/BLSR, whose
 *    destination is vreg). MULX: reg = high half, vreg = low half.
 *  - x87 (D8-DF), MMX/SSE/AVX, CRC32, XSAVE family, XGETBV/XSETBV decode
 *    as OP_fpu with the right length; the ModRM fields are filled. For
 *    x87 (D8-DF) imm2 = (opcode & 7) << 8 | ModRM, with mod 3 for the
 *    register forms and 0 for memory forms.
 */
int interp_decode(InterpCPU *cpu, const uint8_t *bytes, unsigned avail,
                  uint64_t rip, DecodedInsn *d);

/*
 * Whether the block must end after an instruction of @d's kind: the block
 * builder stops there, so only the end marker (OP_block_end, which goes on
 * at the next RIP) follows it and its handler may either return NULL after
 * setting cpu->rip (a taken branch must) or return d + 1. They are:
 *  - near branches: jcc, jmp, jmp_rm, call, call_rm, ret, loop, loope,
 *    loopne, jcxz (taken or not);
 *  - far transfers and events: jmp_far, jmp_far_m, call_far, call_far_m,
 *    ret_far, iret, int, int3, into, int1, syscall, sysret, sysenter,
 *    sysexit;
 *  - state the block or the run loop depends on: hlt, cli, sti, popf
 *    (IF/TF/VM), mov_to_seg and pop_seg when cc == SEG_SS (interrupt
 *    shadow), mov_to_cr, mov_to_dr, lmsw, clts, wrmsr (mode, paging,
 *    breakpoints, TPR), invlpg, invpcid (the code page's mapping);
 *  - ud and block_end.
 * Any other handler may still return NULL (an interrupted REP string, a
 * write to the running block's code); this list is what the block
 * builder relies on to stop decoding.
 */
bool interp_decode_ends_block(const DecodedInsn *d);

#endif
