/*
 * lemu-img: qemu-img's commands on lemu's block layer. Each command is a
 * function taking the command's own argv (argv[0] is the command name)
 * and returning the process exit status.
 */
#ifndef LEMU_IMG_H
#define LEMU_IMG_H

#include <getopt.h>
#include <stdbool.h>
#include <inttypes.h>
#include <stdint.h>
#include <glib.h>
#include "lemu/block/block.h"

int img_create(int argc, char **argv);
int img_info(int argc, char **argv);
int img_check(int argc, char **argv);
int img_convert(int argc, char **argv);
int img_resize(int argc, char **argv);
int img_snapshot(int argc, char **argv);
int img_commit(int argc, char **argv);
int img_rebase(int argc, char **argv);
int img_map(int argc, char **argv);
int img_compare(int argc, char **argv);
int img_measure(int argc, char **argv);
int img_amend(int argc, char **argv);
int img_bench(int argc, char **argv);

/* Long options shared by several commands (getopt values). */
enum {
    OPTION_OUTPUT = 256,
    OPTION_BACKING_CHAIN,
    OPTION_SHRINK,
    OPTION_PREALLOCATION,
    OPTION_SIZE,
    OPTION_FLUSH_INTERVAL,
    OPTION_NO_DRAIN,
    OPTION_PATTERN,
    OPTION_RANDOM,
    OPTION_SEED,
    OPTION_FORCE,
    OPTION_TARGET_IS_ZERO,
    OPTION_START_OFFSET,
    OPTION_MAX_LENGTH,
};

/* "lemu-img: <message>" on stderr. */
void img_error(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
/* As img_error, then the "Try 'lemu-img --help'" hint; returns 1. */
int img_error_exit(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
/* Prints err->message (prefixed) and frees @err. */
void img_error_err(GError *err);
/* Prints unless quiet. */
void img_printf(bool quiet, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/* Sizes as qemu-img prints them: "1 GiB", "332 KiB", "1.5 MiB". */
char *img_size_to_str(uint64_t size);
/* "human" or "json"; false (error reported) otherwise. */
bool img_parse_output(const char *arg, bool *json);
/* -t / -T: none, writeback, writethrough, directsync, unsafe. The first
 * is silent; the second reports "Invalid [source ]cache option: x". */
bool img_parse_cache_mode(const char *mode, int *flags, bool *writethrough);
bool img_parse_cache(const char *mode, int *flags, bool *writethrough,
                     bool source);
/* A size argument as qemu-img takes it (suffixes k, M, G, T, P, E). */
bool img_parse_size(const char *s, uint64_t *out);

/*
 * Opens an image for the tool. @fmt NULL probes, warning when it guesses
 * raw as qemu-img does. Errors are reported (naming the file) and NULL
 * returned.
 */
BlockDriverState *img_open(const char *filename, const char *fmt, int flags,
                           bool quiet);
/* "Could not open '<filename>': <err>" as img_open words it; frees @err. */
void img_open_error(const char *filename, GError *err);

/* Progress as "    (12.34/100%)\r", only when enabled. */
typedef struct ImgProgress {
    bool enabled;
    double last;
} ImgProgress;
void img_progress_init(ImgProgress *p, bool enabled);
void img_progress_print(ImgProgress *p, double percent);
void img_progress_end(ImgProgress *p);

/* True when all @len bytes are zero. */
bool img_buffer_is_zero(const void *buf, size_t len);
/* Page-aligned buffer (O_DIRECT); free with img_free_aligned(). */
void *img_alloc_aligned(size_t size);
void img_free_aligned(void *p);

/* Bytes the image uses on the host, or -1. */
int64_t img_allocated_file_size(BlockDriverState *bs);

/* create -o help: the options @drv takes, as qemu-img lists them. */
void img_print_create_opts_help(const BlockDriver *drv);
/*
 * Normalises "size" and other size options in @opts to plain byte counts
 * and rejects options @drv does not take ("Invalid parameter 'x'").
 */
bool img_check_create_opts(const BlockDriver *drv, GHashTable *opts,
                           GError **errp);
/* " cluster_size=65536 extended_l2=off ..." as qemu-img's Formatting
 * line shows it. */
char *img_create_opts_string(const char *fmt, GHashTable *opts);



/* Pretty JSON with members in the order qemu-img prints them. */
void img_print_json(const JsonValue *v);

/* The "ID TAG VM SIZE DATE VM CLOCK ICOUNT" table, header included. */
void img_dump_snapshots(const BdrvSnapshotInfo *sns, int n);

/* getopt's ':' and '?' cases, worded as qemu-img words them; return 1. */
int img_missing_argument(const char *option);
int img_unrecognized_option(const char *option);

/* img_getopt's answer when the command must return *exit_status now. */
#define IMG_GETOPT_EXIT (-2)
/*
 * getopt_long over a command's options (@shortopts starts with ':'), with
 * the cases every command shares: -h prints the command's usage (found by
 * argv[0], the command name) and sets *exit_status to 0; a missing
 * argument or an unknown option is reported and sets it to 1. Returns the
 * next option, -1 at the end, or IMG_GETOPT_EXIT.
 */
int img_getopt(int argc, char **argv, const char *shortopts,
               const struct option *longopts, int *exit_status);
#endif
