/*
 * -drive and -blockdev: turn the command line's disks into open
 * BlockBackends in m->drives before the devices are created.
 *
 * -drive takes QEMU's legacy keys (file, format, if, id, index, media,
 * readonly, snapshot, cache, discard, aio, werror, rerror, serial); every
 * other key goes to the block driver (l2-cache-size, file.locking, ...),
 * which refuses the ones it does not know. -blockdev is a node described
 * by driver options, in JSON or dotted-key form; a "file" or "backing"
 * that names an earlier -blockdev's node-name takes that node as its
 * child.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "lemu/block/blockdev.h"
#include "lemu/system/machine.h"
#include "lemu/util/log.h"

static void drive_info_free(DriveInfo *dinfo)
{
    if (!dinfo) {
        return;
    }
    blk_unref(dinfo->blk);
    if (dinfo->snapshot_overlay) {
        unlink(dinfo->snapshot_overlay);
    }
    g_free(dinfo->id);
    g_free(dinfo->serial);
    g_free(dinfo->snapshot_overlay);
    g_free(dinfo->device);
    g_free(dinfo);
}

DriveInfo *drive_find(Machine *m, const char *id)
{
    if (!m->drives || !id) {
        return NULL;
    }
    for (guint i = 0; i < m->drives->len; i++) {
        DriveInfo *dinfo = g_ptr_array_index(m->drives, i);

        if (strcmp(dinfo->id, id) == 0) {
            return dinfo;
        }
    }
    return NULL;
}

DriveInfo *drive_claim(Machine *m, const char *id, const char *device_id,
                       GError **errp)
{
    DriveInfo *dinfo = drive_find(m, id);

    if (!dinfo) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_NOT_FOUND,
                    "Property 'drive': no drive or block node with id '%s'",
                    id ? id : "");
        return NULL;
    }
    if (dinfo->device) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "Property 'drive': drive '%s' is already in use by "
                    "device '%s'", id, dinfo->device);
        return NULL;
    }
    dinfo->device = g_strdup(device_id ? device_id : "");
    return dinfo;
}

static bool drive_id_is_free(Machine *m, const char *opt, const char *id,
                             GError **errp)
{
    if (drive_find(m, id)) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: Duplicate ID '%s' for drive", opt, id);
        return false;
    }
    return true;
}

static bool drive_take_bool(GHashTable *opts, const char *key, bool def,
                            bool *out, GError **errp)
{
    bool present;

    *out = def;
    if (!block_opts_take_bool(opts, key, out, &present, errp)) {
        g_prefix_error(errp, "-drive: ");
        return false;
    }
    return true;
}

/* cache=MODE: QEMU's meaning of each mode. */
static bool drive_parse_cache(const char *mode, int *flags, bool *wce,
                              GError **errp)
{
    *flags &= ~(BDRV_O_NOCACHE | BDRV_O_NO_FLUSH);
    *wce = true;
    if (!strcmp(mode, "writeback")) {
        /* the defaults */
    } else if (!strcmp(mode, "none") || !strcmp(mode, "off")) {
        *flags |= BDRV_O_NOCACHE;
    } else if (!strcmp(mode, "writethrough")) {
        *wce = false;
    } else if (!strcmp(mode, "unsafe")) {
        *flags |= BDRV_O_NO_FLUSH;
    } else if (!strcmp(mode, "directsync")) {
        *flags |= BDRV_O_NOCACHE;
        *wce = false;
    } else {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "-drive: invalid cache option '%s' (expected writeback, "
                    "none, writethrough, unsafe or directsync)", mode);
        return false;
    }
    return true;
}

static bool drive_parse_on_error(const char *key, const char *value,
                                 bool is_read, BlockdevOnError *out,
                                 GError **errp)
{
    int v;

    if (!value) {
        return true;
    }
    v = blockdev_on_error_parse(value);
    if (v < 0 || (is_read && v == BLOCKDEV_ON_ERROR_ENOSPC)) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "-drive: '%s' invalid %s error action (expected "
                    "report, ignore, stop%s)", value,
                    is_read ? "read" : "write", is_read ? "" : " or enospc");
        return false;
    }
    *out = v;
    return true;
}

/* Opens @filename read-only just to learn its virtual size. */
static int64_t drive_image_size(const char *filename, const char *format,
                                GError **errp)
{
    BlockDriverState *bs = bdrv_open(filename, format, NULL,
                                     BDRV_O_NO_BACKING | BDRV_O_FORCE_SHARE,
                                     errp);
    int64_t len;

    if (!bs) {
        return -1;
    }
    len = bdrv_getlength(bs);
    bdrv_unref(bs);
    if (len < 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                    "Could not get the size of '%s': %s", filename,
                    g_strerror(-len));
    }
    return len;
}

/*
 * snapshot=on: a temporary qcow2 overlay over the image, so that the
 * guest's writes never reach it. The image's own options go to the
 * overlay's backing node.
 */
static BlockDriverState *drive_open_snapshot(const char *file,
                                             const char *format,
                                             GHashTable *opts, int flags,
                                             char **overlay_out,
                                             GError **errp)
{
    g_autoptr(GHashTable) create = block_opts_new();
    g_autoptr(GHashTable) top = block_opts_new();
    g_autofree char *base = g_str_has_prefix(file, "json:") ?
                            g_strdup(file) :
                            g_canonicalize_filename(file, NULL);
    g_autofree char *path = NULL;
    GHashTableIter it;
    gpointer key, value;
    BlockDriverState *bs;
    GError *err = NULL;
    int64_t size;
    int fd;

    size = drive_image_size(file, format, errp);
    if (size < 0) {
        return NULL;
    }
    fd = g_file_open_tmp("lemu-snapshot-XXXXXX.qcow2", &path, &err);
    if (fd < 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                    "-drive snapshot=on: could not create the temporary "
                    "overlay: %s", err->message);
        g_error_free(err);
        return NULL;
    }
    close(fd);
    g_hash_table_insert(create, g_strdup("size"),
                        g_strdup_printf("%" G_GINT64_FORMAT, size));
    g_hash_table_insert(create, g_strdup("backing_file"), g_strdup(base));
    if (format) {
        g_hash_table_insert(create, g_strdup("backing_fmt"),
                            g_strdup(format));
    }
    if (!bdrv_create("qcow2", path, create, errp)) {
        unlink(path);
        return NULL;
    }
    g_hash_table_iter_init(&it, opts);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        g_hash_table_insert(top, g_strconcat("backing.", key, NULL),
                            g_strdup(value));
    }
    if (format) {
        g_hash_table_insert(top, g_strdup("backing.driver"),
                            g_strdup(format));
    }
    bs = bdrv_open(path, "qcow2", top, flags, errp);
    if (!bs) {
        unlink(path);
        return NULL;
    }
    *overlay_out = g_steal_pointer(&path);
    return bs;
}

/* The first index of @type not taken yet. */
static int drive_next_index(Machine *m, BlockInterfaceType type)
{
    int index = 0;

    for (guint i = 0; i < m->drives->len; i++) {
        DriveInfo *d = g_ptr_array_index(m->drives, i);

        if (!d->from_blockdev && d->type == type && d->index >= index) {
            index = d->index + 1;
        }
    }
    return index;
}

static bool drive_init_one(Machine *m, const char *str, GError **errp)
{
    g_autoptr(GHashTable) opts = block_opts_new();
    g_autofree char *file = NULL, *format = NULL, *iface = NULL;
    g_autofree char *id = NULL, *index_str = NULL, *media = NULL;
    g_autofree char *cache = NULL, *aio = NULL, *werror = NULL;
    g_autofree char *rerror = NULL, *serial = NULL, *overlay = NULL;
    BlockdevOnError on_read = BLOCKDEV_ON_ERROR_REPORT;
    BlockdevOnError on_write = BLOCKDEV_ON_ERROR_ENOSPC;
    BlockInterfaceType type;
    bool readonly, snapshot, wce = true, writeback_set, writeback;
    BlockDriverState *bs;
    DriveInfo *dinfo;
    int flags = BDRV_O_RDWR;
    int index;

    if (!block_opts_parse(opts, str, NULL, errp)) {
        g_prefix_error(errp, "-drive %s: ", str);
        return false;
    }
    file = block_opts_take(opts, "file");
    format = block_opts_take(opts, "format");
    iface = block_opts_take(opts, "if");
    id = block_opts_take(opts, "id");
    index_str = block_opts_take(opts, "index");
    media = block_opts_take(opts, "media");
    cache = block_opts_take(opts, "cache");
    aio = block_opts_take(opts, "aio");
    werror = block_opts_take(opts, "werror");
    rerror = block_opts_take(opts, "rerror");
    serial = block_opts_take(opts, "serial");

    if (!iface || !strcmp(iface, "virtio")) {
        type = IF_VIRTIO;
    } else if (!strcmp(iface, "none")) {
        type = IF_NONE;
    } else {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_UNSUPPORTED,
                    "-drive if=%s: interface not supported (lemu has: "
                    "virtio, none)", iface);
        return false;
    }
    if (media && strcmp(media, "disk") != 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_UNSUPPORTED,
                    "-drive media=%s: not supported (lemu has: disk)", media);
        return false;
    }
    if (!file || !*file) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "-drive %s: missing file= (expected file=PATH; empty "
                    "drives are not supported)", str);
        return false;
    }
    if (!drive_take_bool(opts, "readonly", false, &readonly, errp) ||
        !drive_take_bool(opts, "snapshot", false, &snapshot, errp)) {
        return false;
    }
    if (readonly) {
        flags &= ~BDRV_O_RDWR;
    }
    if (cache && !drive_parse_cache(cache, &flags, &wce, errp)) {
        return false;
    }
    if (!block_opts_take_bool(opts, "cache.writeback", &writeback,
                              &writeback_set, errp)) {
        g_prefix_error(errp, "-drive: ");
        return false;
    }
    if (writeback_set) {
        wce = writeback;
    }
    if (aio) {
        if (strcmp(aio, "threads") && strcmp(aio, "native") &&
            strcmp(aio, "io_uring")) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "-drive aio=%s: invalid aio option (expected "
                        "threads, native or io_uring)", aio);
            return false;
        }
        /* The file driver checks it against cache.direct. */
        g_hash_table_insert(opts, g_strdup("file.aio"), g_strdup(aio));
    }
    if (!drive_parse_on_error("werror", werror, false, &on_write, errp) ||
        !drive_parse_on_error("rerror", rerror, true, &on_read, errp)) {
        return false;
    }
    if (index_str) {
        char *end;
        long v = strtol(index_str, &end, 10);

        if (*index_str == '\0' || *end || v < 0 || v > 1023) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "-drive index=%s: expected a number from 0 to 1023",
                        index_str);
            return false;
        }
        index = v;
        for (guint i = 0; i < m->drives->len; i++) {
            DriveInfo *d = g_ptr_array_index(m->drives, i);

            if (!d->from_blockdev && d->type == type && d->index == index) {
                g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                            "-drive index=%d: drive with bus=0, unit=%d "
                            "(index=%d) exists", index, index, index);
                return false;
            }
        }
    } else {
        index = drive_next_index(m, type);
    }
    if (!id) {
        id = g_strdup_printf("%s%d", type == IF_VIRTIO ? "virtio" : "none",
                             index);
    }
    if (!drive_id_is_free(m, "-drive", id, errp)) {
        return false;
    }

    /* A json: file name says its driver itself. */
    if (!format && !g_str_has_prefix(file, "json:")) {
        const char *probed = bdrv_probe_format(file, errp);

        if (!probed) {
            return false;
        }
        format = g_strdup(probed);
        if (!strcmp(format, "raw")) {
            warn_report("Image format was not specified for '%s' and "
                        "probing guessed raw.\n"
                        "         Automatically detecting the format is "
                        "dangerous for raw images, write operations on "
                        "block 0 will be restricted.\n"
                        "         Specify the 'raw' format explicitly to "
                        "remove the restrictions.", file);
            g_hash_table_insert(opts, g_strdup("x-probed"), g_strdup("on"));
        }
    }

    if (snapshot) {
        bs = drive_open_snapshot(file, format, opts, flags, &overlay, errp);
    } else {
        bs = bdrv_open(file, format, opts, flags, errp);
    }
    if (!bs) {
        g_prefix_error(errp, "-drive %s: ", str);
        return false;
    }

    dinfo = g_new0(DriveInfo, 1);
    dinfo->id = g_steal_pointer(&id);
    dinfo->type = type;
    dinfo->index = index;
    dinfo->serial = g_steal_pointer(&serial);
    dinfo->snapshot_overlay = g_steal_pointer(&overlay);
    dinfo->blk = blk_new(m->loop, bs);
    blk_set_name(dinfo->blk, dinfo->id);
    blk_set_enable_write_cache(dinfo->blk, wce);
    blk_set_on_error(dinfo->blk, on_read, on_write);
    g_ptr_array_add(m->drives, dinfo);
    return true;
}

static GHashTable *blockdev_parse(const char *arg, GError **errp)
{
    GHashTable *opts = block_opts_new();

    while (g_ascii_isspace(*arg)) {
        arg++;
    }
    if (*arg == '{') {
        if (!block_opts_parse_json(opts, arg, errp)) {
            g_prefix_error(errp, "-blockdev: ");
            goto fail;
        }
    } else if (!block_opts_parse(opts, arg, NULL, errp)) {
        g_prefix_error(errp, "-blockdev %s: ", arg);
        goto fail;
    }
    if (!g_hash_table_contains(opts, "driver")) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "-blockdev %s: Parameter 'driver' is missing", arg);
        goto fail;
    }
    return opts;

fail:
    g_hash_table_unref(opts);
    return NULL;
}

/* Copies every key of @child under "PREFIX." into @opts. */
static void blockdev_merge_child(GHashTable *opts, const char *prefix,
                                 GHashTable *child)
{
    GHashTableIter it;
    gpointer key, value;

    g_hash_table_iter_init(&it, child);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        g_hash_table_insert(opts, g_strconcat(prefix, ".", key, NULL),
                            g_strdup(value));
    }
}

static bool blockdev_init_all_nodes(Machine *m, GError **errp)
{
    MachineConfig *cfg = &m->cfg;
    guint n = cfg->blockdevs ? cfg->blockdevs->len : 0;
    g_autoptr(GPtrArray) all = g_ptr_array_new_with_free_func(
        (GDestroyNotify)g_hash_table_unref);
    g_autofree bool *used_as_child = g_new0(bool, MAX(n, 1));
    static const char *const child_keys[] = { "file", "backing" };

    for (guint i = 0; i < n; i++) {
        GHashTable *opts = blockdev_parse(g_ptr_array_index(cfg->blockdevs,
                                                            i), errp);
        if (!opts) {
            return false;
        }
        /* A child given by node-name: its options go in as "file.*". */
        for (size_t k = 0; k < G_N_ELEMENTS(child_keys); k++) {
            const char *ref = g_hash_table_lookup(opts, child_keys[k]);

            for (guint j = 0; ref && j < i; j++) {
                GHashTable *prev = g_ptr_array_index(all, j);

                if (!used_as_child[j] &&
                    !g_strcmp0(g_hash_table_lookup(prev, "node-name"),
                               ref)) {
                    g_hash_table_remove(opts, child_keys[k]);
                    blockdev_merge_child(opts, child_keys[k], prev);
                    used_as_child[j] = true;
                    break;
                }
            }
        }
        g_ptr_array_add(all, opts);
    }
    for (guint i = 0; i < n; i++) {
        GHashTable *opts = g_ptr_array_index(all, i);
        const char *name = g_hash_table_lookup(opts, "node-name");
        g_autofree char *id = name ? g_strdup(name) :
                              g_strdup_printf("#blockdev%u", i);
        BlockDriverState *bs;
        DriveInfo *dinfo;

        if (used_as_child[i]) {
            continue;
        }
        if (!drive_id_is_free(m, "-blockdev", id, errp)) {
            return false;
        }
        bs = bdrv_open(NULL, NULL, opts, BDRV_O_RDWR, errp);
        if (!bs) {
            g_prefix_error(errp, "-blockdev node-name=%s: ", id);
            return false;
        }
        dinfo = g_new0(DriveInfo, 1);
        dinfo->id = g_steal_pointer(&id);
        dinfo->type = IF_NONE;
        dinfo->index = i;
        dinfo->from_blockdev = true;
        dinfo->blk = blk_new(m->loop, bs);
        blk_set_name(dinfo->blk, dinfo->id);
        g_ptr_array_add(m->drives, dinfo);
    }
    return true;
}

bool blockdev_init_all(Machine *m, GError **errp)
{
    MachineConfig *cfg = &m->cfg;

    if (!m->drives) {
        m->drives = g_ptr_array_new();
    }
    if (!blockdev_init_all_nodes(m, errp)) {
        return false;
    }
    for (guint i = 0; cfg->drives && i < cfg->drives->len; i++) {
        if (!drive_init_one(m, g_ptr_array_index(cfg->drives, i), errp)) {
            return false;
        }
    }
    return true;
}

void blockdev_cleanup_all(Machine *m)
{
    if (!m->drives) {
        return;
    }
    for (guint i = 0; i < m->drives->len; i++) {
        drive_info_free(g_ptr_array_index(m->drives, i));
    }
    g_ptr_array_free(m->drives, TRUE);
    m->drives = NULL;
}
