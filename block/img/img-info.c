/*
 * info and check: what an image is (sizes, backing file, snapshots,
 * format specific fields) and whether its metadata is consistent.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "block/img/lemu-img.h"
#include "lemu/util/json.h"

/* ---- info ---- */

/* The ImageInfo object qemu-img info --output=json prints. */
static JsonValue *img_image_info(BlockDriverState *bs, const char *filename)
{
    JsonValue *info = json_object();
    BlockDriverInfo bdi = { 0 };
    int64_t len = bdrv_getlength(bs);
    int64_t actual = img_allocated_file_size(bs);
    BdrvSnapshotInfo *sns = NULL;
    int nb_sns = 0;

    json_object_set_str(info, "filename", filename);
    json_object_set_str(info, "format", bs->drv->format_name);
    json_object_set_int(info, "virtual-size", len < 0 ? 0 : len);
    if (actual >= 0) {
        json_object_set_int(info, "actual-size", actual);
    }
    if (bs->encrypted) {
        json_object_set_bool(info, "encrypted", true);
    }
    if (bdrv_get_info(bs, &bdi)) {
        if (bdi.cluster_size != 0) {
            json_object_set_int(info, "cluster-size", bdi.cluster_size);
        }
    }
    json_object_set_bool(info, "dirty-flag", bdi.is_dirty);
    if (bs->backing_file[0]) {
        char *full = bdrv_resolve_backing_name(filename, bs->backing_file);

        json_object_set_str(info, "backing-filename", bs->backing_file);
        json_object_set(info, "full-backing-filename",
                        json_string_take(full));
        if (bs->backing_format[0]) {
            json_object_set_str(info, "backing-filename-format",
                                bs->backing_format);
        }
    }
    if (bs->drv->snapshot_list) {
        nb_sns = bs->drv->snapshot_list(bs, &sns);
    }
    if (nb_sns > 0) {
        JsonValue *arr = json_array();

        for (int i = 0; i < nb_sns; i++) {
            JsonValue *s = json_object();

            json_object_set_str(s, "id", sns[i].id_str);
            json_object_set_str(s, "name", sns[i].name);
            json_object_set(s, "vm-state-size",
                            json_uint(sns[i].vm_state_size));
            json_object_set_int(s, "date-sec", sns[i].date_sec);
            json_object_set_int(s, "date-nsec", sns[i].date_nsec);
            json_object_set_int(s, "vm-clock-sec",
                                sns[i].vm_clock_nsec / 1000000000ULL);
            json_object_set_int(s, "vm-clock-nsec",
                                sns[i].vm_clock_nsec % 1000000000ULL);
            if (sns[i].icount != UINT32_MAX) {
                json_object_set_int(s, "icount", sns[i].icount);
            }
            json_array_append(arr, s);
        }
        json_object_set(info, "snapshots", arr);
    }
    g_free(sns);
    if (bs->drv->get_specific_info) {
        JsonValue *spec = bs->drv->get_specific_info(bs);

        if (spec) {
            json_object_set(info, "format-specific", spec);
        }
    }
    return info;
}

static void dump_json_value(int indent, const JsonValue *v);

static bool json_is_composite(const JsonValue *v)
{
    return json_type(v) == JSON_OBJECT || json_type(v) == JSON_ARRAY;
}

static void dump_json_scalar(const JsonValue *v)
{
    uint64_t u;

    switch (json_type(v)) {
    case JSON_BOOL:
        printf("%s", json_get_bool(v) ? "true" : "false");
        break;
    case JSON_INT:
        printf("%" PRId64, json_get_int(v));
        break;
    case JSON_UINT:
        json_get_u64(v, &u);
        printf("%" PRIu64, u);
        break;
    case JSON_DOUBLE:
        printf("%g", json_get_number(v));
        break;
    case JSON_STRING:
        printf("%s", json_get_string(v));
        break;
    default:
        printf("null");
        break;
    }
}

/* Format specific information as qemu-img prints it: keys with dashes
 * turned into spaces, four spaces per level. */
static void dump_json_value(int indent, const JsonValue *v)
{
    if (json_type(v) == JSON_OBJECT) {
        for (size_t i = 0; i < json_object_size(v); i++) {
            const JsonValue *m = json_object_value_at(v, i);
            char *key = g_strdup(json_object_key_at(v, i));

            g_strdelimit(key, "-", ' ');
            printf("%*s%s:%c", indent * 4, "", key,
                   json_is_composite(m) ? '\n' : ' ');
            g_free(key);
            dump_json_value(indent + 1, m);
            if (!json_is_composite(m)) {
                printf("\n");
            }
        }
    } else if (json_type(v) == JSON_ARRAY) {
        for (size_t i = 0; i < json_array_length(v); i++) {
            const JsonValue *m = json_array_get(v, i);

            printf("%*s[%zu]:%c", indent * 4, "", i,
                   json_is_composite(m) ? '\n' : ' ');
            dump_json_value(indent + 1, m);
            if (!json_is_composite(m)) {
                printf("\n");
            }
        }
    } else {
        dump_json_scalar(v);
    }
}

static void dump_human_info(const JsonValue *info)
{
    int64_t vsize = 0, actual = -1, csize;
    bool dirty = false;
    const char *backing = json_object_get_str(info, "backing-filename");
    const JsonValue *sns = json_object_get(info, "snapshots");
    const JsonValue *spec = json_object_get(info, "format-specific");
    char *s;

    json_object_get_i64(info, "virtual-size", &vsize);
    printf("image: %s\n", json_object_get_str(info, "filename"));
    printf("file format: %s\n", json_object_get_str(info, "format"));
    s = img_size_to_str(vsize);
    printf("virtual size: %s (%" PRId64 " bytes)\n", s, vsize);
    g_free(s);
    if (json_object_get_i64(info, "actual-size", &actual) && actual >= 0) {
        s = img_size_to_str(actual);
        printf("disk size: %s\n", s);
        g_free(s);
    } else {
        printf("disk size: unavailable\n");
    }
    if (json_object_get(info, "encrypted")) {
        printf("encrypted: yes\n");
    }
    if (json_object_get_i64(info, "cluster-size", &csize)) {
        printf("cluster_size: %" PRId64 "\n", csize);
    }
    if (json_object_get_bool(info, "dirty-flag", &dirty) && dirty) {
        printf("dirty flag: yes\n");
    }
    if (backing) {
        const char *full = json_object_get_str(info,
                                               "full-backing-filename");
        const char *bfmt = json_object_get_str(info,
                                               "backing-filename-format");

        printf("backing file: %s", backing);
        if (full && strcmp(full, backing)) {
            printf(" (actual path: %s)", full);
        }
        printf("\n");
        if (bfmt) {
            printf("backing file format: %s\n", bfmt);
        }
    }
    if (sns && json_array_length(sns) > 0) {
        size_t n = json_array_length(sns);
        BdrvSnapshotInfo *tab = g_new0(BdrvSnapshotInfo, n);

        for (size_t i = 0; i < n; i++) {
            const JsonValue *o = json_array_get(sns, i);
            int64_t v;

            g_strlcpy(tab[i].id_str, json_object_get_str(o, "id") ?: "",
                      sizeof(tab[i].id_str));
            g_strlcpy(tab[i].name, json_object_get_str(o, "name") ?: "",
                      sizeof(tab[i].name));
            if (json_object_get_i64(o, "vm-state-size", &v)) {
                tab[i].vm_state_size = v;
            }
            if (json_object_get_i64(o, "date-sec", &v)) {
                tab[i].date_sec = v;
            }
            if (json_object_get_i64(o, "date-nsec", &v)) {
                tab[i].date_nsec = v;
            }
            if (json_object_get_i64(o, "vm-clock-sec", &v)) {
                tab[i].vm_clock_nsec = v * 1000000000ULL;
            }
            if (json_object_get_i64(o, "vm-clock-nsec", &v)) {
                tab[i].vm_clock_nsec += v;
            }
            tab[i].icount = json_object_get_i64(o, "icount", &v) ?
                            (uint32_t)v : UINT32_MAX;
        }
        img_dump_snapshots(tab, n);
        g_free(tab);
    }
    if (spec) {
        const JsonValue *data = json_object_get(spec, "data");

        if (data && json_type(data) == JSON_OBJECT &&
            json_object_size(data) > 0) {
            printf("Format specific information:\n");
            dump_json_value(1, data);
        }
    }
}

/* Same file, by path after resolving links (loop detection). */
static char *img_canonical(const char *filename)
{
    char *r = realpath(filename, NULL);
    char *s = g_strdup(r ? r : filename);

    free(r);
    return s;
}

int img_info(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "format", required_argument, NULL, 'f' },
        { "output", required_argument, NULL, OPTION_OUTPUT },
        { "backing-chain", no_argument, NULL, OPTION_BACKING_CHAIN },
        { "force-share", no_argument, NULL, 'U' },
        { NULL, 0, NULL, 0 }
    };
    const char *fmt = NULL;
    bool json = false, chain = false, force_share = false;
    GPtrArray *infos = g_ptr_array_new_with_free_func(
                           (GDestroyNotify)json_free);
    GHashTable *seen = g_hash_table_new_full(g_str_hash, g_str_equal,
                                             g_free, NULL);
    char *filename = NULL;
    char *cur_fmt = NULL;
    int ret = 1;
    int c;

    while ((c = img_getopt(argc, argv, ":f:hU", long_options, &ret)) != -1) {
        switch (c) {
        case IMG_GETOPT_EXIT:
            goto out;
        case 'f': fmt = optarg; break;
        case 'U': force_share = true; break;
        case OPTION_BACKING_CHAIN: chain = true; break;
        case OPTION_OUTPUT:
            if (!img_parse_output(optarg, &json)) {
                goto out;
            }
            break;
        }
    }
    if (optind != argc - 1) {
        ret = img_error_exit("Expecting one image file name");
        goto out;
    }

    filename = g_strdup(argv[optind]);
    cur_fmt = g_strdup(fmt);
    while (filename) {
        BlockDriverState *bs;
        int flags = BDRV_O_NO_BACKING | BDRV_O_NO_IO;
        char *canon = img_canonical(filename);

        if (g_hash_table_contains(seen, canon)) {
            img_error("Backing file '%s' creates an infinite loop.",
                      filename);
            g_free(canon);
            goto out;
        }
        g_hash_table_add(seen, canon);
        if (force_share) {
            flags |= BDRV_O_FORCE_SHARE;
        }
        bs = img_open(filename, cur_fmt, flags, false);
        if (!bs) {
            goto out;
        }
        g_ptr_array_add(infos, img_image_info(bs, filename));
        g_free(cur_fmt);
        cur_fmt = NULL;
        if (chain && bs->backing_file[0]) {
            char *next = bdrv_resolve_backing_name(filename,
                                                   bs->backing_file);

            g_free(filename);
            filename = next;
            cur_fmt = bs->backing_format[0] ?
                      g_strdup(bs->backing_format) : NULL;
        } else {
            g_free(filename);
            filename = NULL;
        }
        bdrv_unref(bs);
    }

    if (json) {
        if (chain) {
            g_autoptr(JsonValue) arr = json_array();

            for (guint i = 0; i < infos->len; i++) {
                json_array_append(arr, json_copy(infos->pdata[i]));
            }
            img_print_json(arr);
        } else {
            img_print_json(infos->pdata[0]);
        }
    } else {
        for (guint i = 0; i < infos->len; i++) {
            if (i > 0) {
                printf("\n");
            }
            dump_human_info(infos->pdata[i]);
        }
    }
    ret = 0;
out:
    g_free(filename);
    g_free(cur_fmt);
    g_ptr_array_free(infos, true);
    g_hash_table_destroy(seen);
    return ret;
}

/* ---- check ---- */

static void dump_human_check(const BdrvCheckResult *r)
{
    if (r->corruptions == 0 && r->leaks == 0 && r->check_errors == 0) {
        printf("No errors were found on the image.\n");
    } else {
        if (r->corruptions) {
            printf("\n%d errors were found on the image.\n"
                   "Data may be corrupted, or further writes to the image "
                   "may corrupt it.\n", r->corruptions);
        }
        if (r->leaks) {
            printf("\n%d leaked clusters were found on the image.\n"
                   "This means waste of disk space, but no harm to data.\n",
                   r->leaks);
        }
        if (r->check_errors) {
            printf("\n%d internal errors have occurred during the check.\n",
                   r->check_errors);
        }
    }
    if (r->total_clusters != 0 && r->allocated_clusters != 0) {
        printf("%" PRId64 "/%" PRId64 " = %0.2f%% allocated, "
               "%0.2f%% fragmented, %0.2f%% compressed clusters\n",
               r->allocated_clusters, r->total_clusters,
               r->allocated_clusters * 100.0 / r->total_clusters,
               r->fragmented_clusters * 100.0 / r->allocated_clusters,
               r->compressed_clusters * 100.0 / r->allocated_clusters);
    }
    if (r->image_end_offset) {
        printf("Image end offset: %" PRId64 "\n", r->image_end_offset);
    }
}

static void dump_json_check(const BdrvCheckResult *r, const char *filename,
                            const char *format)
{
    g_autoptr(JsonValue) o = json_object();

    json_object_set_str(o, "filename", filename);
    json_object_set_str(o, "format", format);
    json_object_set_int(o, "check-errors", r->check_errors);
    /* qemu-img leaves out the counters that are zero. */
#define SET_NONZERO(key, v) \
    if (v) { json_object_set_int(o, key, v); }
    SET_NONZERO("image-end-offset", r->image_end_offset);
    SET_NONZERO("total-clusters", r->total_clusters);
    SET_NONZERO("allocated-clusters", r->allocated_clusters);
    SET_NONZERO("fragmented-clusters", r->fragmented_clusters);
    SET_NONZERO("compressed-clusters", r->compressed_clusters);
    SET_NONZERO("corruptions", r->corruptions);
    SET_NONZERO("leaks", r->leaks);
    SET_NONZERO("corruptions-fixed", r->corruptions_fixed);
    SET_NONZERO("leaks-fixed", r->leaks_fixed);
#undef SET_NONZERO
    img_print_json(o);
}

int img_check(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "format", required_argument, NULL, 'f' },
        { "repair", required_argument, NULL, 'r' },
        { "output", required_argument, NULL, OPTION_OUTPUT },
        { "force-share", no_argument, NULL, 'U' },
        { NULL, 0, NULL, 0 }
    };
    const char *fmt = NULL, *cache = "writeback", *filename;
    bool json = false, quiet = false, writethrough;
    BdrvCheckMode fix = BDRV_FIX_NONE;
    BdrvCheckResult r = { 0 };
    BlockDriverState *bs;
    int flags = BDRV_O_CHECK;
    int ret;
    int c;

    while ((c = img_getopt(argc, argv, ":hf:r:T:qU", long_options,
                           &ret)) != -1) {
        switch (c) {
        case IMG_GETOPT_EXIT:
            return ret;
        case 'f': fmt = optarg; break;
        case 'r':
            flags |= BDRV_O_RDWR;
            if (!strcmp(optarg, "leaks")) {
                fix = BDRV_FIX_LEAKS;
            } else if (!strcmp(optarg, "all")) {
                fix = BDRV_FIX_LEAKS | BDRV_FIX_ERRORS;
            } else {
                return img_error_exit("Unknown option value for -r "
                                      "(expecting 'leaks' or 'all'): %s",
                                      optarg);
            }
            break;
        case 'T': cache = optarg; break;
        case 'q': quiet = true; break;
        case 'U': flags |= BDRV_O_FORCE_SHARE; break;
        case OPTION_OUTPUT:
            if (!img_parse_output(optarg, &json)) {
                return 1;
            }
            break;
        }
    }
    if (optind != argc - 1) {
        return img_error_exit("Expecting one image file name");
    }
    filename = argv[optind];
    if (!img_parse_cache(cache, &flags, &writethrough, true)) {
        return 1;
    }
    bs = img_open(filename, fmt, flags, quiet);
    if (!bs) {
        return 1;
    }
    if (!bs->drv->check) {
        img_error("This image format does not support checks");
        bdrv_unref(bs);
        return 63;
    }

    ret = bdrv_check(bs, &r, fix);
    if (ret == 0 && (r.corruptions_fixed || r.leaks_fixed)) {
        int leaks_fixed = r.leaks_fixed;
        int corruptions_fixed = r.corruptions_fixed;

        if (!json && !quiet) {
            printf("The following inconsistencies were found and repaired:"
                   "\n\n    %d leaked clusters\n    %d corruptions\n\n"
                   "Double checking the fixed image now...\n",
                   leaks_fixed, corruptions_fixed);
        }
        memset(&r, 0, sizeof(r));
        ret = bdrv_check(bs, &r, BDRV_FIX_NONE);
        r.leaks_fixed = leaks_fixed;
        r.corruptions_fixed = corruptions_fixed;
    }
    if (ret == -ENOTSUP) {
        img_error("This image format does not support checks");
        bdrv_unref(bs);
        return 63;
    }
    if (ret == 0 && !quiet) {
        if (json) {
            dump_json_check(&r, filename, bs->drv->format_name);
        } else {
            dump_human_check(&r);
        }
    }
    bdrv_unref(bs);

    if (ret < 0 || r.check_errors) {
        if (ret < 0) {
            img_error("Check failed: %s", g_strerror(-ret));
        } else {
            img_error("Check failed");
        }
        return 1;
    }
    if (r.corruptions) {
        return 2;
    }
    if (r.leaks) {
        return 3;
    }
    return 0;
}
