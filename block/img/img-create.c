/*
 * create, amend, resize and measure: the commands that shape an image
 * from create options (-o), and the option table they share.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "block/img/lemu-img.h"
#include "lemu/util/json.h"
#include "lemu/util/log.h"

typedef enum {
    OPT_STRING,
    OPT_BOOL,
    OPT_NUMBER,
    OPT_SIZE,
} ImgOptType;

/* One create option as qemu-img describes and prints it. */
typedef struct ImgCreateOpt {
    const char *name;
    ImgOptType type;
    const char *def_value;     /* printed when not given; NULL: not printed */
    const char *help;
    bool protocol;             /* the file protocol's: not in -o help */
} ImgCreateOpt;

/* In the order qemu-img prints them on the "Formatting" line. */
static const ImgCreateOpt qcow2_opt_table[] = {
    { "cluster_size", OPT_SIZE, "65536", "qcow2 cluster size" },
    { "extended_l2", OPT_BOOL, "off", "Extended L2 tables" },
    { "preallocation", OPT_STRING, NULL,
      "Preallocation mode (allowed values: off, metadata, falloc, full)" },
    { "compression_type", OPT_STRING, "zlib",
      "Compression method used for image cluster compression" },
    { "size", OPT_SIZE, NULL, "Virtual disk size" },
    { "compat", OPT_STRING, NULL,
      "Compatibility level (v2 [0.10] or v3 [1.1])" },
    { "backing_file", OPT_STRING, NULL, "File name of a base image" },
    { "backing_fmt", OPT_STRING, NULL, "Image format of the base image" },
    { "data_file", OPT_STRING, NULL, "File name of an external data file" },
    { "data_file_raw", OPT_BOOL, NULL,
      "The external data file must stay valid as a raw image" },
    { "encryption", OPT_BOOL, NULL,
      "Encrypt the image with format 'aes'. (Deprecated in favor of "
      "encrypt.format=aes)" },
    { "lazy_refcounts", OPT_BOOL, "off", "Postpone refcount updates" },
    { "refcount_bits", OPT_NUMBER, "16",
      "Width of a reference count entry in bits" },
    { "nocow", OPT_BOOL, NULL, "Turn off copy-on-write (valid only on "
      "btrfs)", true },
    { NULL }
};

static const ImgCreateOpt raw_opt_table[] = {
    { "size", OPT_SIZE, NULL, "Virtual disk size" },
    { "preallocation", OPT_STRING, NULL,
      "Preallocation mode (allowed values: off, falloc, full)", true },
    { "nocow", OPT_BOOL, NULL, "Turn off copy-on-write (valid only on "
      "btrfs)", true },
    { NULL }
};

static const ImgCreateOpt *img_opt_table(const char *fmt)
{
    if (!strcmp(fmt, "qcow2")) {
        return qcow2_opt_table;
    }
    if (!strcmp(fmt, "raw")) {
        return raw_opt_table;
    }
    return NULL;
}

static const ImgCreateOpt *img_find_opt(const char *fmt, const char *name)
{
    const ImgCreateOpt *t = img_opt_table(fmt);

    for (; t && t->name; t++) {
        if (!strcmp(t->name, name)) {
            return t;
        }
    }
    return NULL;
}

static bool img_driver_takes(const BlockDriver *drv, const char *name)
{
    if (!drv->create_opts) {
        /* No list: trust the table (and the driver's own check). */
        return img_find_opt(drv->format_name, name) != NULL;
    }
    for (const char *const *o = drv->create_opts; *o; o++) {
        if (!strcmp(*o, name)) {
            return true;
        }
    }
    return false;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The options qemu-img amend can change on a qcow2 image. */
static const char *const qcow2_amend_opts[] = {
    "backing_file", "backing_fmt", "compat", "data_file", "data_file_raw",
    "lazy_refcounts", "refcount_bits", "size", NULL
};

static bool img_amend_takes(const BlockDriver *drv, const char *name)
{
    if (strcmp(drv->format_name, "qcow2")) {
        return img_driver_takes(drv, name);
    }
    for (const char *const *o = qcow2_amend_opts; *o; o++) {
        if (!strcmp(*o, name)) {
            return img_driver_takes(drv, name);
        }
    }
    return false;
}

static void print_opts_help(const BlockDriver *drv, bool amend)
{
    GPtrArray *names = g_ptr_array_new();
    bool have_table = img_opt_table(drv->format_name) != NULL;
    static const char *const type_names[] = {
        [OPT_STRING] = "str", [OPT_BOOL] = "bool (on/off)",
        [OPT_NUMBER] = "num", [OPT_SIZE] = "size",
    };

    if (drv->create_opts) {
        for (const char *const *o = drv->create_opts; *o; o++) {
            g_ptr_array_add(names, (gpointer)*o);
        }
    } else {
        for (const ImgCreateOpt *t = img_opt_table(drv->format_name);
             t && t->name; t++) {
            g_ptr_array_add(names, (gpointer)t->name);
        }
    }
    qsort(names->pdata, names->len, sizeof(gpointer), cmp_str);

    if (amend) {
        printf("Amend options for '%s':\n", drv->format_name);
    } else {
        printf("Supported %s options:\n", drv->format_name);
    }
    for (guint i = 0; i < names->len; i++) {
        const char *name = names->pdata[i];
        const ImgCreateOpt *o = img_find_opt(drv->format_name, name);
        char *left;

        /* Protocol options are listed only for a named target, as
         * qemu-img does. */
        if ((o && o->protocol) || (!o && have_table) ||
            (amend && !img_amend_takes(drv, name))) {
            continue;
        }
        left = g_strdup_printf("%s=<%s>", name,
                               type_names[o ? o->type : OPT_STRING]);
        printf("  %-22s - %s\n", left, o ? o->help : "");
        g_free(left);
    }
    if (!amend) {
        printf("\nThe protocol level may support further options.\n"
               "Specify the target filename to include those options.\n");
    }
    g_ptr_array_free(names, true);
}

void img_print_create_opts_help(const BlockDriver *drv)
{
    print_opts_help(drv, false);
}

bool img_check_create_opts(const BlockDriver *drv, GHashTable *opts,
                           GError **errp)
{
    GHashTableIter it;
    gpointer key, value;

    g_hash_table_iter_init(&it, opts);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        const ImgCreateOpt *o = img_find_opt(drv->format_name, key);

        if (!img_driver_takes(drv, key)) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "Invalid parameter '%s'", (const char *)key);
            return false;
        }
        if (o && o->type == OPT_SIZE) {
            uint64_t v;

            if (!img_parse_size(value, &v)) {
                g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                            "Parameter '%s' expects a non-negative number "
                            "below 2^64\nOptional suffix k, M, G, T, P or E "
                            "means kilo-, mega-, giga-, tera-, peta-\n"
                            "and exabytes, respectively.",
                            (const char *)key);
                return false;
            }
            g_hash_table_iter_replace(&it, g_strdup_printf("%" PRIu64, v));
        } else if (o && o->type == OPT_BOOL && strcmp(value, "on") &&
                   strcmp(value, "off")) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "Parameter '%s' expects 'on' or 'off'",
                        (const char *)key);
            return false;
        }
    }
    return true;
}

char *img_create_opts_string(const char *fmt, GHashTable *opts)
{
    GString *s = g_string_new("");
    const ImgCreateOpt *t = img_opt_table(fmt);

    if (t) {
        for (; t->name; t++) {
            const char *v = g_hash_table_lookup(opts, t->name);

            if (!v) {
                v = t->def_value;
            }
            if (v) {
                g_string_append_printf(s, " %s=%s", t->name, v);
            }
        }
    } else {
        GHashTableIter it;
        gpointer key, value;
        const char *size = g_hash_table_lookup(opts, "size");

        if (size) {
            g_string_append_printf(s, " size=%s", size);
        }
        g_hash_table_iter_init(&it, opts);
        while (g_hash_table_iter_next(&it, &key, &value)) {
            if (strcmp(key, "size")) {
                g_string_append_printf(s, " %s=%s", (const char *)key,
                                       (const char *)value);
            }
        }
    }
    return g_string_free(s, false);
}

static bool is_help_option(const char *s)
{
    return s && (!strcmp(s, "help") || !strcmp(s, "?"));
}

/* Parses -o (several -o are joined by commas, as qemu-img does). */
static bool img_parse_o(GHashTable *opts, const char *options)
{
    GError *err = NULL;

    if (options && !block_opts_parse(opts, options, NULL, &err)) {
        img_error_err(err);
        return false;
    }
    return true;
}

static char *append_opts(char *old, const char *add)
{
    char *s;

    if (!old) {
        return g_strdup(add);
    }
    s = g_strdup_printf("%s,%s", old, add);
    g_free(old);
    return s;
}

/* ---- create ---- */

/* A well-formed size that is too large (qemu-img words that apart). */
static bool size_out_of_range(const char *s)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (end == s || v < 0 || s[0] == '-') {
        return false;
    }
    if (*end && strchr("bBkKmMgGtTpPeE", *end) && !end[1]) {
        end++;
    }
    return *end == '\0';
}

int img_create(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    const char *fmt = "raw", *base = NULL, *base_fmt = NULL;
    const char *filename;
    char *options = NULL;
    bool quiet = false, unsafe = false;
    const BlockDriver *drv;
    GHashTable *opts = NULL;
    GError *err = NULL;
    char *line;
    uint64_t size = 0;
    bool have_size = false;
    int ret = 1;
    int c;

    while ((c = img_getopt(argc, argv, ":F:b:f:ho:qu", long_options,
                           &ret)) != -1) {
        switch (c) {
        case IMG_GETOPT_EXIT:
            g_free(options);
            return ret;
        case 'F': base_fmt = optarg; break;
        case 'b': base = optarg; break;
        case 'f': fmt = optarg; break;
        case 'o': options = append_opts(options, optarg); break;
        case 'q': quiet = true; break;
        case 'u': unsafe = true; break;
        }
    }

    drv = bdrv_find_format(fmt);
    if (is_help_option(options)) {
        if (!drv) {
            img_error("Unknown file format '%s'", fmt);
            goto out;
        }
        img_print_create_opts_help(drv);
        ret = 0;
        goto out;
    }
    if (optind >= argc) {
        ret = img_error_exit("Expecting image file name");
        goto out;
    }
    filename = argv[optind++];
    if (!drv) {
        img_error("%s: Unknown file format '%s'", filename, fmt);
        goto out;
    }
    if (optind < argc) {
        if (!img_parse_size(argv[optind], &size) || size > INT64_MAX) {
            if (size_out_of_range(argv[optind])) {
                img_error("Invalid image size specified. Must be between 0 "
                          "and %" PRId64 ".", INT64_MAX);
            } else {
                img_error("Invalid image size specified. You may use k, M, "
                          "G, T, P or E suffixes for");
                img_error("kilobytes, megabytes, gigabytes, terabytes, "
                          "petabytes and exabytes.");
            }
            goto out;
        }
        have_size = true;
        optind++;
    }
    if (optind != argc) {
        ret = img_error_exit("Unexpected argument: %s", argv[optind]);
        goto out;
    }
    if (!drv->create) {
        img_error("Format driver '%s' does not support image creation",
                  fmt);
        goto out;
    }

    opts = block_opts_new();
    if (!img_parse_o(opts, options)) {
        goto out;
    }
    if (base) {
        g_hash_table_replace(opts, g_strdup("backing_file"), g_strdup(base));
    }
    if (base_fmt) {
        g_hash_table_replace(opts, g_strdup("backing_fmt"),
                             g_strdup(base_fmt));
    }
    if (have_size) {
        g_hash_table_replace(opts, g_strdup("size"),
                             g_strdup_printf("%" PRIu64, size));
    }
    if (!img_check_create_opts(drv, opts, &err)) {
        img_error("%s: %s", filename, err->message);
        g_clear_error(&err);
        goto out;
    }

    base = g_hash_table_lookup(opts, "backing_file");
    base_fmt = g_hash_table_lookup(opts, "backing_fmt");
    if (base && !base_fmt) {
        char *full = bdrv_resolve_backing_name(filename, base);
        const char *probed = bdrv_probe_format(full, NULL);

        img_error("%s: Backing file specified without backing format",
                  filename);
        if (probed) {
            fprintf(stderr, "Detected format of %s.", probed);
        }
        g_free(full);
        goto out;
    }
    /* Check the backing file, and take the size from it if none given. */
    if (base && (!unsafe || !g_hash_table_contains(opts, "size"))) {
        char *full = bdrv_resolve_backing_name(filename, base);
        BlockDriverState *bbs;

        if (unsafe) {
            img_error("%s: Image creation needs a size parameter", filename);
            g_free(full);
            goto out;
        }
        bbs = bdrv_open(full, base_fmt, NULL,
                        BDRV_O_NO_BACKING | BDRV_O_NO_IO, &err);
        g_free(full);
        if (!bbs) {
            img_error("%s: %s", filename, err->message);
            fprintf(stderr, "Could not open backing image.\n");
            g_clear_error(&err);
            goto out;
        }
        if (!g_hash_table_contains(opts, "size")) {
            int64_t len = bdrv_getlength(bbs);

            if (len < 0) {
                img_error("%s: Could not get the size of the backing file: "
                          "%s", filename, g_strerror(-len));
                bdrv_unref(bbs);
                goto out;
            }
            g_hash_table_replace(opts, g_strdup("size"),
                                 g_strdup_printf("%" PRId64, len));
        }
        bdrv_unref(bbs);
    }
    if (!g_hash_table_contains(opts, "size")) {
        img_error("%s: Image creation needs a size parameter", filename);
        goto out;
    }

    if (!quiet) {
        line = img_create_opts_string(fmt, opts);
        printf("Formatting '%s', fmt=%s%s\n", filename, fmt, line);
        fflush(stdout);
        g_free(line);
    }
    if (!bdrv_create(fmt, filename, opts, &err)) {
        img_error("%s: %s", filename, err->message);
        g_clear_error(&err);
        goto out;
    }
    ret = 0;
out:
    if (opts) {
        g_hash_table_unref(opts);
    }
    g_free(options);
    return ret;
}

/* ---- amend ---- */

int img_amend(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "force", no_argument, NULL, OPTION_FORCE },
        { NULL, 0, NULL, 0 }
    };
    const char *fmt = NULL, *cache = "writeback";
    char *options = NULL;
    bool quiet = false, force = false, progress = false, writethrough;
    int flags = BDRV_O_RDWR;
    BlockDriverState *bs = NULL;
    GHashTable *opts = NULL;
    GError *err = NULL;
    int ret = 1;
    int c;

    while ((c = img_getopt(argc, argv, ":ho:f:t:pq", long_options,
                           &ret)) != -1) {
        switch (c) {
        case IMG_GETOPT_EXIT:
            g_free(options);
            return ret;
        case 'o': options = append_opts(options, optarg); break;
        case 'f': fmt = optarg; break;
        case 't': cache = optarg; break;
        case 'p': progress = true; break;
        case 'q': quiet = true; break;
        case OPTION_FORCE: force = true; break;
        }
    }
    (void)progress;
    if (!options) {
        return img_error_exit("Must specify options (-o)");
    }
    if (!img_parse_cache(cache, &flags, &writethrough, false)) {
        goto out;
    }
    if (is_help_option(options) && fmt) {
        const BlockDriver *drv = bdrv_find_format(fmt);

        if (!drv) {
            img_error("Unknown file format '%s'", fmt);
            goto out;
        }
        if (!drv->amend) {
            img_error("Format driver '%s' does not support option "
                      "amendment", fmt);
            goto out;
        }
        print_opts_help(drv, true);
        ret = 0;
        goto out;
    }
    if (optind != argc - 1) {
        img_error("Expecting one image file name");
        goto out;
    }
    bs = img_open(argv[optind], fmt, flags, quiet);
    if (!bs) {
        goto out;
    }
    if (!bs->drv->amend) {
        img_error("Format driver '%s' does not support option amendment",
                  bs->drv->format_name);
        goto out;
    }
    if (is_help_option(options)) {
        print_opts_help(bs->drv, true);
        ret = 0;
        goto out;
    }
    opts = block_opts_new();
    if (!img_parse_o(opts, options)) {
        goto out;
    }
    {
        GHashTableIter it;
        gpointer key;

        g_hash_table_iter_init(&it, opts);
        while (g_hash_table_iter_next(&it, &key, NULL)) {
            if (!img_amend_takes(bs->drv, key)) {
                img_error("Invalid parameter '%s'", (const char *)key);
                if (img_driver_takes(bs->drv, key)) {
                    fprintf(stderr, "This option is only supported for "
                            "image creation\n");
                }
                goto out;
            }
        }
    }
    if (!img_check_create_opts(bs->drv, opts, &err)) {
        img_error_err(err);
        goto out;
    }
    if (!bs->drv->amend(bs, opts, force, &err)) {
        img_error("Error while amending options: %s", err->message);
        g_clear_error(&err);
        goto out;
    }
    if (bdrv_flush(bs) < 0) {
        img_error("Error while amending options: flush failed");
        goto out;
    }
    ret = 0;
out:
    if (opts) {
        g_hash_table_unref(opts);
    }
    if (bs) {
        bdrv_unref(bs);
    }
    g_free(options);
    return ret;
}

/* ---- resize ---- */

static bool parse_prealloc(const char *s, PreallocMode *mode)
{
    static const char *const names[] = {
        [PREALLOC_MODE_OFF] = "off", [PREALLOC_MODE_METADATA] = "metadata",
        [PREALLOC_MODE_FALLOC] = "falloc", [PREALLOC_MODE_FULL] = "full",
    };

    for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
        if (!strcmp(s, names[i])) {
            *mode = i;
            return true;
        }
    }
    return false;
}

int img_resize(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "preallocation", required_argument, NULL, OPTION_PREALLOCATION },
        { "shrink", no_argument, NULL, OPTION_SHRINK },
        { NULL, 0, NULL, 0 }
    };
    const char *fmt = NULL, *size_arg;
    bool quiet = false, shrink = false;
    PreallocMode prealloc = PREALLOC_MODE_OFF;
    BlockDriverState *bs = NULL;
    GError *err = NULL;
    uint64_t n;
    int64_t cur, total;
    int relative = 0;
    int ret = 1;
    int c;

    /* The size goes last and may start with '-': take it before getopt. */
    if (argc < 3) {
        return img_error_exit("Not enough arguments");
    }
    size_arg = argv[--argc];

    while ((c = img_getopt(argc, argv, ":f:hq", long_options, &ret)) != -1) {
        switch (c) {
        case IMG_GETOPT_EXIT:
            return ret;
        case 'f': fmt = optarg; break;
        case 'q': quiet = true; break;
        case OPTION_SHRINK: shrink = true; break;
        case OPTION_PREALLOCATION:
            if (!parse_prealloc(optarg, &prealloc)) {
                img_error("Invalid preallocation mode '%s'", optarg);
                return 1;
            }
            break;
        }
    }
    /* "--" before a negative size is getopt's; skip it. */
    if (optind < argc && !strcmp(argv[argc - 1], "--")) {
        argc--;
    }
    if (optind != argc - 1) {
        return img_error_exit("Expecting image file name and size");
    }

    if (size_arg[0] == '+' || size_arg[0] == '-') {
        relative = size_arg[0] == '+' ? 1 : -1;
        size_arg++;
    }
    if (!img_parse_size(size_arg, &n) || n > INT64_MAX) {
        img_error("Parameter 'size' expects a non-negative number below "
                  "2^64\nOptional suffix k, M, G, T, P or E means kilo-, "
                  "mega-, giga-, tera-, peta-\nand exabytes, respectively.");
        return 1;
    }

    bs = img_open(argv[optind], fmt, BDRV_O_RDWR, quiet);
    if (!bs) {
        return 1;
    }
    cur = bdrv_getlength(bs);
    if (cur < 0) {
        img_error("Could not get the current image size: %s",
                  g_strerror(-cur));
        goto out;
    }
    if (relative > 0) {
        total = cur + (int64_t)n;
    } else if (relative < 0) {
        total = cur - (int64_t)n;
    } else {
        total = n;
    }
    if (total <= 0 || (relative > 0 && total < cur)) {
        img_error("New image size must be positive");
        goto out;
    }
    if (total < cur && !shrink) {
        img_error("Use the --shrink option to perform a shrink operation.");
        img_error("warning: Shrinking an image will delete all data beyond "
                  "the shrunken image's end. Before performing such an "
                  "operation, make sure there is no important data there.");
        goto out;
    }
    if (total < cur && prealloc != PREALLOC_MODE_OFF) {
        img_error("Preallocation can only be used for growing images");
        goto out;
    }
    if (bdrv_truncate(bs, total, false, prealloc, &err) < 0) {
        img_error_err(err);
        goto out;
    }
    img_printf(quiet, "Image resized.\n");
    ret = 0;
out:
    bdrv_unref(bs);
    return ret;
}

/* ---- measure ---- */

static bool qcow2_v3(const char *compat)
{
    return !compat || (strcmp(compat, "0.10") && strcmp(compat, "v2"));
}

/* Can @bs hold persistent dirty bitmaps (qcow2 version 3)? */
static bool source_has_bitmaps(BlockDriverState *bs)
{
    JsonValue *spec, *data;
    const char *compat;
    bool ret = false;

    if (strcmp(bs->drv->format_name, "qcow2") || !bs->drv->get_specific_info) {
        return false;
    }
    spec = bs->drv->get_specific_info(bs);
    data = spec ? json_object_get(spec, "data") : NULL;
    compat = data ? json_object_get_str(data, "compat") : NULL;
    ret = compat && !strcmp(compat, "1.1");
    json_free(spec);
    return ret;
}

int img_measure(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "output", required_argument, NULL, OPTION_OUTPUT },
        { "size", required_argument, NULL, OPTION_SIZE },
        { NULL, 0, NULL, 0 }
    };
    const char *fmt = NULL, *out_fmt = "raw", *filename = NULL;
    char *options = NULL;
    bool json = false, have_size = false, show_bitmaps;
    uint64_t size = 0;
    const BlockDriver *drv;
    BlockDriverState *in = NULL;
    GHashTable *opts = NULL;
    BlockMeasureInfo info = { 0 };
    GError *err = NULL;
    int ret = 1;
    int c;

    while ((c = img_getopt(argc, argv, ":hf:O:o:l:", long_options,
                           &ret)) != -1) {
        switch (c) {
        case IMG_GETOPT_EXIT:
            g_free(options);
            return ret;
        case 'f': fmt = optarg; break;
        case 'O': out_fmt = optarg; break;
        case 'o': options = append_opts(options, optarg); break;
        case 'l':
            img_error("Snapshots are not supported by measure (-l)");
            goto out;
        case OPTION_OUTPUT:
            if (!img_parse_output(optarg, &json)) {
                goto out;
            }
            break;
        case OPTION_SIZE:
            if (!img_parse_size(optarg, &size) || size > INT64_MAX) {
                img_error("Invalid image size specified. You may use k, M, "
                          "G, T, P or E suffixes for");
                img_error("kilobytes, megabytes, gigabytes, terabytes, "
                          "petabytes and exabytes.");
                goto out;
            }
            have_size = true;
            break;
        }
    }
    if (optind < argc) {
        filename = argv[optind++];
    }
    if (optind < argc) {
        ret = img_error_exit("Unexpected argument: %s", argv[optind]);
        goto out;
    }
    if (!filename && !have_size) {
        img_error("Either --size N or one filename must be specified.");
        goto out;
    }
    if (filename && have_size) {
        img_error("--size N cannot be used together with a filename.");
        goto out;
    }
    drv = bdrv_find_format(out_fmt);
    if (!drv) {
        img_error("Unknown file format '%s'", out_fmt);
        goto out;
    }
    if (is_help_option(options)) {
        img_print_create_opts_help(drv);
        ret = 0;
        goto out;
    }
    opts = block_opts_new();
    if (!img_parse_o(opts, options)) {
        goto out;
    }
    if (filename) {
        int64_t len;

        in = img_open(filename, fmt, 0, false);
        if (!in) {
            goto out;
        }
        len = bdrv_getlength(in);
        if (len < 0) {
            img_error("Unable to get image size: %s", g_strerror(-len));
            goto out;
        }
        size = len;
    }
    g_hash_table_replace(opts, g_strdup("size"),
                         g_strdup_printf("%" PRIu64, size));
    if (!img_check_create_opts(drv, opts, &err)) {
        img_error_err(err);
        goto out;
    }
    if (drv->measure) {
        if (!drv->measure(opts, in, &info, &err)) {
            img_error_err(err);
            goto out;
        }
    } else if (!strcmp(drv->format_name, "raw")) {
        /* A raw image is exactly its virtual size. */
        info.required = info.fully_allocated = size;
    } else {
        img_error("Format driver '%s' does not support size measurement",
                  out_fmt);
        goto out;
    }

    /* qemu-img reports bitmaps only when both the source and the
     * target could hold persistent ones: qcow2 v3 on both sides. */
    show_bitmaps = in && !strcmp(out_fmt, "qcow2") &&
                   qcow2_v3(g_hash_table_lookup(opts, "compat")) &&
                   source_has_bitmaps(in);
    if (json) {
        g_autoptr(JsonValue) obj = json_object();

        json_object_set(obj, "required", json_uint(info.required));
        json_object_set(obj, "fully-allocated",
                        json_uint(info.fully_allocated));
        if (show_bitmaps) {
            json_object_set(obj, "bitmaps", json_uint(info.bitmaps));
        }
        img_print_json(obj);
    } else {
        printf("required size: %" PRIu64 "\n", info.required);
        printf("fully allocated size: %" PRIu64 "\n", info.fully_allocated);
        if (show_bitmaps) {
            printf("bitmaps size: %" PRIu64 "\n", info.bitmaps);
        }
    }
    ret = 0;
out:
    if (opts) {
        g_hash_table_unref(opts);
    }
    if (in) {
        bdrv_unref(in);
    }
    g_free(options);
    return ret;
}
