/*
 * x86 disassembly for -d in_asm and the monitor's x/i, in AT&T syntax as
 * QEMU prints x86 code. Capstone does the decoding; it is loaded with
 * dlopen on first use (see util/disas.c for why), so every caller must
 * cope with it being absent.
 */
#ifndef LEMU_UTIL_DISAS_H
#define LEMU_UTIL_DISAS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <glib.h>

typedef enum {
    /* "0x0000000000007c00:  movw $0x3f8, %dx" (the -d in_asm log) */
    DISAS_STYLE_LOG,
    /* QEMU's monitor layout, with the instruction bytes:
     * "0x00007c00:  66 ba f8 03              movw     $0x3f8, %dx" */
    DISAS_STYLE_MONITOR,
} DisasStyle;

/* Whether capstone could be loaded (tries once per process). */
bool disas_available(void);

/*
 * Disassembles @code[0..@len), which sits at guest address @addr, as
 * @bits-bit code (16, 32 or 64), one line per instruction appended to
 * @out; at most @max_insns instructions (0: as many as @len holds). Stops
 * early at bytes that are not a whole valid instruction. Returns how many
 * bytes it decoded (0 when capstone is missing); *n_insns (may be NULL)
 * gets the number of instructions.
 */
size_t disas_x86(const uint8_t *code, size_t len, uint64_t addr,
                 unsigned bits, size_t max_insns, DisasStyle style,
                 GString *out, size_t *n_insns);

#endif
