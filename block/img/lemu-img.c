/*
 * lemu-img: the command dispatcher and the helpers every command shares
 * (error messages, human sizes, cache modes, opening images, progress).
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "lemu-config.h"
#include "block/img/lemu-img.h"
#include "lemu/util/json.h"

typedef struct ImgCommand {
    const char *name;
    int (*handler)(int argc, char **argv);
    const char *synopsis;
    /* What "<command> -h" prints, when not the synopsis. */
    const char *usage;
} ImgCommand;

static const ImgCommand img_commands[] = {
    { "amend", img_amend,
      "amend [-p] [-q] [-f fmt] [-t cache] [--force] -o options filename" },
    { "bench", img_bench,
      "bench [-c count] [-d depth] [-f fmt] [--flush-interval=flush_interval] "
      "[-i aio] [-n] [--no-drain] [-o offset] [--pattern=pattern] [-q] "
      "[-s buffer_size] [-S step_size] [-t cache] [-w] [-U] "
      "[--random [--seed=N]] filename" },
    { "check", img_check,
      "check [-q] [-f fmt] [--output=ofmt] [-r [leaks | all]] [-T src_cache] "
      "[-U] filename" },
    { "commit", img_commit,
      "commit [-q] [-f fmt] [-t cache] [-b base] [-d] [-p] filename" },
    { "compare", img_compare,
      "compare [-f fmt] [-F fmt] [-T src_cache] [-p] [-q] [-s] [-U] "
      "filename1 filename2" },
    { "convert", img_convert,
      "convert [--target-is-zero] [-U] [-c] [-p] [-q] [-n] [-f fmt] "
      "[-t cache] [-T src_cache] [-O output_fmt] [-B backing_file "
      "[-F backing_fmt]] [-o options] [-S sparse_size] [-W] "
      "filename [filename2 [...]] output_filename",
      "convert [-c] [-p] [-q] [-n] [-f fmt] [-t cache] [-T src_cache] "
      "[-O output_fmt] [-B backing_file [-F backing_fmt]] [-o options] "
      "[-S sparse_size] [-W] filename [filename2 [...]] output_filename" },
    { "create", img_create,
      "create [-q] [-f fmt] [-b backing_file [-F backing_fmt]] [-u] "
      "[-o options] filename [size]" },
    { "info", img_info,
      "info [-f fmt] [--output=ofmt] [--backing-chain] [-U] filename" },
    { "map", img_map,
      "map [-f fmt] [--output=ofmt] [--start-offset=offset] "
      "[--max-length=len] [-U] filename" },
    { "measure", img_measure,
      "measure [--output=ofmt] [-O output_fmt] [-o options] "
      "[--size N | [-f fmt] filename]" },
    { "snapshot", img_snapshot,
      "snapshot [-q] [-l | -a snapshot | -c snapshot | -d snapshot] [-U] "
      "filename" },
    { "rebase", img_rebase,
      "rebase [-q] [-f fmt] [-t cache] [-T src_cache] [-p] [-u] [-U] "
      "-b backing_file [-F backing_fmt] filename" },
    { "resize", img_resize,
      "resize [-f fmt] [--preallocation=prealloc] [-q] [--shrink] "
      "filename [+ | -]size" },
};

static void img_help(void)
{
    printf("lemu-img version " LEMU_VERSION "\n"
           "usage: lemu-img [standard options] command [command options]\n"
           "QEMU-style disk image utility\n\n"
           "    '-h', '--help'       display this help and exit\n"
           "    '-V', '--version'    output version information and exit\n\n"
           "Command syntax:\n");
    for (size_t i = 0; i < G_N_ELEMENTS(img_commands); i++) {
        printf("  %s\n", img_commands[i].synopsis);
    }
    printf("\nSupported formats: qcow2 raw\n"
           "Extension to qemu-img: bench --random [--seed=N] issues requests "
           "at random 4 KiB aligned offsets.\n");
}

/* ---- messages ---- */

void img_error(const char *fmt, ...)
{
    va_list ap;

    fputs("lemu-img: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int img_error_exit(const char *fmt, ...)
{
    va_list ap;

    fputs("lemu-img: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nTry 'lemu-img --help' for more information\n", stderr);
    return 1;
}

int img_missing_argument(const char *option)
{
    return img_error_exit("missing argument for option '%s'", option);
}

int img_unrecognized_option(const char *option)
{
    return img_error_exit("unrecognized option '%s'", option);
}

static const char *img_command_usage(const char *name)
{
    for (size_t i = 0; i < G_N_ELEMENTS(img_commands); i++) {
        const ImgCommand *cmd = &img_commands[i];

        if (!strcmp(name, cmd->name)) {
            return cmd->usage ? cmd->usage : cmd->synopsis;
        }
    }
    return name;
}

int img_getopt(int argc, char **argv, const char *shortopts,
               const struct option *longopts, int *exit_status)
{
    int c;

    opterr = 0;
    c = getopt_long(argc, argv, shortopts, longopts, NULL);
    switch (c) {
    case ':':
        *exit_status = img_missing_argument(argv[optind - 1]);
        return IMG_GETOPT_EXIT;
    case '?':
        *exit_status = img_unrecognized_option(argv[optind - 1]);
        return IMG_GETOPT_EXIT;
    case 'h':
        printf("%s\n", img_command_usage(argv[0]));
        *exit_status = 0;
        return IMG_GETOPT_EXIT;
    default:
        return c;
    }
}

void img_error_err(GError *err)
{
    img_error("%s", err ? err->message : "unknown error");
    if (err) {
        g_error_free(err);
    }
}

void img_printf(bool quiet, const char *fmt, ...)
{
    va_list ap;

    if (quiet) {
        return;
    }
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
}

/* ---- parsing ---- */

char *img_size_to_str(uint64_t size)
{
    static const char *const suffixes[] = {
        "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"
    };
    int exp = 0;
    int i;

    /* Pick the unit so that the value printed is below 1000. */
    frexp(size / (1000.0 / 1024.0), &exp);
    i = (exp - 1) / 10;
    if (i < 0) {
        i = 0;
    }
    if (i >= (int)G_N_ELEMENTS(suffixes)) {
        i = G_N_ELEMENTS(suffixes) - 1;
    }
    return g_strdup_printf("%0.3g %s", (double)size / (double)(1ULL << (i * 10)),
                           suffixes[i]);
}

bool img_parse_output(const char *arg, bool *json)
{
    if (!strcmp(arg, "json")) {
        *json = true;
        return true;
    }
    if (!strcmp(arg, "human")) {
        *json = false;
        return true;
    }
    img_error("--output must be used with human or json as argument.");
    return false;
}

bool img_parse_cache_mode(const char *mode, int *flags, bool *writethrough)
{
    *flags &= ~(BDRV_O_NOCACHE | BDRV_O_NO_FLUSH);
    if (!strcmp(mode, "none") || !strcmp(mode, "off")) {
        *flags |= BDRV_O_NOCACHE;
        *writethrough = false;
    } else if (!strcmp(mode, "directsync")) {
        *flags |= BDRV_O_NOCACHE;
        *writethrough = true;
    } else if (!strcmp(mode, "writeback")) {
        *writethrough = false;
    } else if (!strcmp(mode, "unsafe")) {
        *flags |= BDRV_O_NO_FLUSH;
        *writethrough = false;
    } else if (!strcmp(mode, "writethrough")) {
        *writethrough = true;
    } else {
        return false;
    }
    return true;
}

bool img_parse_cache(const char *mode, int *flags, bool *writethrough,
                     bool source)
{
    if (!img_parse_cache_mode(mode, flags, writethrough)) {
        img_error("Invalid %scache option: %s", source ? "source " : "",
                  mode);
        return false;
    }
    return true;
}

bool img_parse_size(const char *s, uint64_t *out)
{
    GError *err = NULL;

    if (!s || !*s || s[0] == '-' || !block_parse_size(s, out, &err)) {
        g_clear_error(&err);
        return false;
    }
    return true;
}

/* ---- images ---- */

void img_open_error(const char *filename, GError *err)
{
    img_error("Could not open '%s': %s", filename,
              err ? err->message : "unknown error");
    g_clear_error(&err);
}

BlockDriverState *img_open(const char *filename, const char *fmt, int flags,
                           bool quiet)
{
    GError *err = NULL;
    BlockDriverState *bs;

    if (fmt && !bdrv_find_format(fmt)) {
        img_error("Could not open '%s': Unknown driver '%s'", filename, fmt);
        return NULL;
    }
    if (!fmt) {
        const char *probed = bdrv_probe_format(filename, &err);

        if (!probed) {
            img_open_error(filename, err);
            return NULL;
        }
        /* Only writes to block 0 are dangerous: warn for read-write. */
        if (!strcmp(probed, "raw") && (flags & BDRV_O_RDWR) && !quiet) {
            fprintf(stderr,
                    "WARNING: Image format was not specified for '%s' and "
                    "probing guessed raw.\n"
                    "         Automatically detecting the format is "
                    "dangerous for raw images, write operations on block 0 "
                    "will be restricted.\n"
                    "         Specify the 'raw' format explicitly to remove "
                    "the restrictions.\n", filename);
        }
        fmt = probed;
    }
    bs = bdrv_open(filename, fmt, NULL, flags, &err);
    if (!bs) {
        img_open_error(filename, err);
        return NULL;
    }
    return bs;
}

int64_t img_allocated_file_size(BlockDriverState *bs)
{
    struct stat st;

    if (bs->drv->get_allocated_file_size) {
        return bs->drv->get_allocated_file_size(bs);
    }
    if (bs->file && bs->file->drv->get_allocated_file_size) {
        return bs->file->drv->get_allocated_file_size(bs->file);
    }
    if (stat(bs->filename, &st) == 0) {
        return (int64_t)st.st_blocks * 512;
    }
    return -1;
}

/* ---- JSON output ---- */

/*
 * qemu-img prints its JSON from a QDict, whose members come out in the
 * order of its hash buckets (512 of them, newest first within one). We
 * print ours in the same order so that the text matches.
 */
static unsigned qdict_bucket(const char *name)
{
    unsigned value = 0x238F13AF * (unsigned)strlen(name);

    for (unsigned i = 0; name[i]; i++) {
        value = value + ((unsigned)(unsigned char)name[i] << (i * 5 % 24));
    }
    return (1103515243 * value + 12345) % 512;
}

typedef struct KeyOrder {
    unsigned bucket;
    size_t index;
} KeyOrder;

static int cmp_key_order(const void *a, const void *b)
{
    const KeyOrder *x = a, *y = b;

    if (x->bucket != y->bucket) {
        return x->bucket < y->bucket ? -1 : 1;
    }
    /* Within a bucket the member added last comes first. */
    return x->index > y->index ? -1 : x->index < y->index;
}

static JsonValue *json_qemu_order(const JsonValue *v)
{
    JsonValue *out;

    if (json_type(v) == JSON_ARRAY) {
        out = json_array();
        for (size_t i = 0; i < json_array_length(v); i++) {
            json_array_append(out, json_qemu_order(json_array_get(v, i)));
        }
        return out;
    }
    if (json_type(v) == JSON_OBJECT) {
        size_t n = json_object_size(v);
        KeyOrder *order = g_new(KeyOrder, n ? n : 1);

        for (size_t i = 0; i < n; i++) {
            order[i].bucket = qdict_bucket(json_object_key_at(v, i));
            order[i].index = i;
        }
        qsort(order, n, sizeof(*order), cmp_key_order);
        out = json_object();
        for (size_t i = 0; i < n; i++) {
            size_t k = order[i].index;

            json_object_set(out, json_object_key_at(v, k),
                            json_qemu_order(json_object_value_at(v, k)));
        }
        g_free(order);
        return out;
    }
    return json_copy(v);
}

void img_print_json(const JsonValue *v)
{
    JsonValue *ordered = json_qemu_order(v);
    char *s = json_to_string(ordered, true);

    printf("%s\n", s);
    g_free(s);
    json_free(ordered);
}

/* ---- progress ---- */

void img_progress_init(ImgProgress *p, bool enabled)
{
    p->enabled = enabled;
    p->last = -1;
    img_progress_print(p, 0);
}

void img_progress_print(ImgProgress *p, double percent)
{
    if (!p->enabled) {
        return;
    }
    if (percent > 100) {
        percent = 100;
    }
    /* qemu-img redraws at most every whole percent. */
    if (p->last >= 0 && percent < 100 && percent - p->last < 1.0) {
        return;
    }
    p->last = percent;
    printf("    (%3.2f/100%%)\r", percent);
    fflush(stdout);
}

void img_progress_end(ImgProgress *p)
{
    if (!p->enabled) {
        return;
    }
    p->last = -1;
    img_progress_print(p, 100);
    printf("\n");
    fflush(stdout);
}

/* ---- buffers ---- */

bool img_buffer_is_zero(const void *buf, size_t len)
{
    const unsigned char *p = buf;
    size_t i = 0;

    /* Word at a time once aligned; the tail byte by byte. */
    while (i < len && ((uintptr_t)(p + i) & 7)) {
        if (p[i++]) {
            return false;
        }
    }
    for (; i + 32 <= len; i += 32) {
        const uint64_t *w = (const uint64_t *)(p + i);
        if (w[0] | w[1] | w[2] | w[3]) {
            return false;
        }
    }
    for (; i < len; i++) {
        if (p[i]) {
            return false;
        }
    }
    return true;
}

void *img_alloc_aligned(size_t size)
{
    void *p = NULL;

    if (posix_memalign(&p, 4096, size ? size : 4096) != 0) {
        g_error("lemu-img: out of memory allocating %zu bytes", size);
    }
    return p;
}

void img_free_aligned(void *p)
{
    free(p);
}

/* ---- dispatcher ---- */

int main(int argc, char **argv)
{
    const char *cmd;

    if (argc < 2) {
        return img_error_exit("Not enough arguments");
    }
    cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help")) {
        img_help();
        return 0;
    }
    if (!strcmp(cmd, "-V") || !strcmp(cmd, "--version")) {
        printf("lemu-img version " LEMU_VERSION "\n");
        return 0;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(img_commands); i++) {
        if (!strcmp(cmd, img_commands[i].name)) {
            /* The command sees its own name as argv[0]. */
            return img_commands[i].handler(argc - 1, argv + 1);
        }
    }
    return img_error_exit("Command not found: %s", cmd);
}
