/*
 * The block queries of QMP, in QEMU's shapes: query-block (BlockInfo:
 * each drive, what is inserted, the image chain) and query-blockstats
 * (the counters of each backend), and the text of HMP `info block`.
 * Run on the main loop with the machine lock held.
 */
#include <inttypes.h>
#include <string.h>
#include "monitor/monitor-internal.h"
#include "lemu/block/blockdev.h"
#include "lemu/hw/virtio/virtio-blk.h"

/* The virtio-blk device using @blk, or NULL. */
static Device *block_find_device(Machine *m, BlockBackend *blk)
{
    Device *dev;

    for (unsigned i = 0; (dev = virtio_blk_nth(m, i)) != NULL; i++) {
        if (virtio_blk_get_blk(dev) == blk) {
            return dev;
        }
    }
    return NULL;
}

/* Host bytes of @bs: its own answer, else its file child's. */
static int64_t block_allocated_size(BlockDriverState *bs)
{
    for (; bs; bs = bs->file) {
        if (bs->drv && bs->drv->get_allocated_file_size) {
            return bs->drv->get_allocated_file_size(bs);
        }
    }
    return -1;
}

static JsonValue *block_snapshots(BlockDriverState *bs)
{
    BdrvSnapshotInfo *list = NULL;
    JsonValue *arr;
    int n;

    if (!bs->drv || !bs->drv->snapshot_list) {
        return NULL;
    }
    n = bs->drv->snapshot_list(bs, &list);
    if (n <= 0) {
        g_free(list);
        return NULL;
    }
    arr = json_array();
    for (int i = 0; i < n; i++) {
        JsonValue *sn = json_object();

        json_object_set_str(sn, "id", list[i].id_str);
        json_object_set_str(sn, "name", list[i].name);
        json_object_set_int(sn, "vm-state-size",
                            (int64_t)list[i].vm_state_size);
        json_object_set_int(sn, "date-sec", list[i].date_sec);
        json_object_set_int(sn, "date-nsec", list[i].date_nsec);
        json_object_set_int(sn, "vm-clock-sec",
                            (int64_t)(list[i].vm_clock_nsec / 1000000000));
        json_object_set_int(sn, "vm-clock-nsec",
                            (int64_t)(list[i].vm_clock_nsec % 1000000000));
        if (list[i].icount != (uint32_t)-1) {
            json_object_set_int(sn, "icount", list[i].icount);
        }
        json_array_append(arr, sn);
    }
    g_free(list);
    return arr;
}

/* ImageInfo of @bs and, below it, its backing chain. */
static JsonValue *block_image_info(BlockDriverState *bs, unsigned depth)
{
    JsonValue *img = json_object();
    BlockDriverInfo bdi = { 0 };
    int64_t len = bdrv_getlength(bs);
    int64_t actual = block_allocated_size(bs);
    JsonValue *snapshots = block_snapshots(bs);
    bool have_info = bdrv_get_info(bs, &bdi);

    json_object_set_str(img, "filename", bs->filename ? bs->filename : "");
    json_object_set_str(img, "format", bs->drv ? bs->drv->format_name : "");
    json_object_set_bool(img, "dirty-flag", have_info && bdi.is_dirty);
    if (actual >= 0) {
        json_object_set_int(img, "actual-size", actual);
    }
    json_object_set_int(img, "virtual-size", len > 0 ? len : 0);
    if (have_info && bdi.cluster_size > 0) {
        json_object_set_int(img, "cluster-size", bdi.cluster_size);
    }
    if (bs->encrypted) {
        json_object_set_bool(img, "encrypted", true);
    }
    if (bs->backing_file[0]) {
        json_object_set_str(img, "backing-filename", bs->backing_file);
        if (bs->backing_filename_full) {
            json_object_set_str(img, "full-backing-filename",
                                bs->backing_filename_full);
        }
        if (bs->backing_format[0]) {
            json_object_set_str(img, "backing-filename-format",
                                bs->backing_format);
        }
    }
    if (snapshots) {
        json_object_set(img, "snapshots", snapshots);
    }
    /* A chain deeper than 64 was refused at open. */
    if (bs->backing && depth < 64) {
        json_object_set(img, "backing-image",
                        block_image_info(bs->backing, depth + 1));
    }
    if (bs->drv && bs->drv->get_specific_info) {
        JsonValue *spec = bs->drv->get_specific_info(bs);

        if (spec) {
            json_object_set(img, "format-specific", spec);
        }
    }
    return img;
}

/* BlockDeviceInfo: the node a backend has inserted. */
static JsonValue *block_inserted_info(BlockBackend *blk)
{
    BlockDriverState *bs = blk_bs(blk);
    JsonValue *ins = json_object();
    JsonValue *cache = json_object();
    unsigned depth = 0;
    static const char *const throttles[] = {
        "bps", "bps_rd", "bps_wr", "iops", "iops_rd", "iops_wr",
    };

    for (BlockDriverState *b = bs->backing; b && depth < 64; b = b->backing) {
        depth++;
    }
    json_object_set_str(ins, "file", bs->filename ? bs->filename : "");
    if (bs->node_name) {
        json_object_set_str(ins, "node-name", bs->node_name);
    }
    json_object_set_bool(ins, "ro", blk_is_read_only(blk));
    json_object_set_str(ins, "drv", bs->drv ? bs->drv->format_name : "");
    if (bs->backing_file[0]) {
        json_object_set_str(ins, "backing_file", bs->backing_file);
    }
    json_object_set_int(ins, "backing_file_depth", depth);
    json_object_set_bool(ins, "encrypted", bs->encrypted);
    json_object_set_str(ins, "detect_zeroes", "off");
    for (size_t i = 0; i < G_N_ELEMENTS(throttles); i++) {
        json_object_set_int(ins, throttles[i], 0);
    }
    json_object_set(ins, "image", block_image_info(bs, 0));
    json_object_set_bool(cache, "writeback", blk_enable_write_cache(blk));
    json_object_set_bool(cache, "direct",
                         (bs->open_flags & BDRV_O_NOCACHE) != 0);
    json_object_set_bool(cache, "no-flush",
                         (bs->open_flags & BDRV_O_NO_FLUSH) != 0);
    json_object_set(ins, "cache", cache);
    json_object_set_int(ins, "write_threshold", 0);
    return ins;
}

/* -blockdev nodes that no device uses are not BlockBackends in QEMU. */
static bool block_listed(const DriveInfo *dinfo)
{
    return dinfo->blk && (!dinfo->from_blockdev || dinfo->device);
}

JsonValue *qmp_query_block(QmpContext *ctx, const JsonValue *args,
                           GError **errp)
{
    Machine *m = ctx->machine;
    JsonValue *ret = json_array();

    for (guint i = 0; m->drives && i < m->drives->len; i++) {
        DriveInfo *dinfo = g_ptr_array_index(m->drives, i);
        JsonValue *info;
        Device *dev;

        if (!block_listed(dinfo)) {
            continue;
        }
        dev = block_find_device(m, dinfo->blk);
        info = json_object();
        json_object_set_str(info, "device",
                            dinfo->from_blockdev ? "" : dinfo->id);
        if (dinfo->device) {
            json_object_set_str(info, "qdev", dinfo->device);
        }
        json_object_set_str(info, "type", "unknown");
        json_object_set_bool(info, "removable", false);
        json_object_set_bool(info, "locked", false);
        if (blk_bs(dinfo->blk)) {
            json_object_set(info, "inserted",
                            block_inserted_info(dinfo->blk));
        }
        if (dev) {
            json_object_set_str(info, "io-status",
                                virtio_blk_io_status(dev));
        }
        json_array_append(ret, info);
    }
    return ret;
}

/* BlockDeviceStats, with QEMU's members; what lemu does not count is 0. */
static JsonValue *block_device_stats(BlockBackend *blk)
{
    const BlockAcctStats *st = blk_stats(blk);
    JsonValue *o = json_object();
    static const char *const zeros[] = {
        "unmap_bytes", "rd_total_time_ns", "wr_total_time_ns",
        "flush_total_time_ns", "unmap_total_time_ns", "wr_highest_offset",
        "rd_merged", "wr_merged", "unmap_merged", "failed_flush_operations",
        "failed_unmap_operations", "invalid_rd_operations",
        "invalid_wr_operations", "invalid_flush_operations",
        "invalid_unmap_operations",
    };

    json_object_set_int(o, "rd_bytes", (int64_t)st->rd_bytes);
    json_object_set_int(o, "wr_bytes", (int64_t)st->wr_bytes);
    json_object_set_int(o, "rd_operations", (int64_t)st->rd_ops);
    json_object_set_int(o, "wr_operations", (int64_t)st->wr_ops);
    json_object_set_int(o, "flush_operations", (int64_t)st->flush_ops);
    json_object_set_int(o, "unmap_operations", (int64_t)st->discard_ops);
    json_object_set_int(o, "failed_rd_operations",
                        (int64_t)st->failed_rd_ops);
    json_object_set_int(o, "failed_wr_operations",
                        (int64_t)st->failed_wr_ops);
    for (size_t i = 0; i < G_N_ELEMENTS(zeros); i++) {
        json_object_set_int(o, zeros[i], 0);
    }
    json_object_set_bool(o, "account_invalid", true);
    json_object_set_bool(o, "account_failed", true);
    json_object_set(o, "timed_stats", json_array());
    return o;
}

JsonValue *qmp_query_blockstats(QmpContext *ctx, const JsonValue *args,
                                GError **errp)
{
    Machine *m = ctx->machine;
    JsonValue *ret = json_array();

    for (guint i = 0; m->drives && i < m->drives->len; i++) {
        DriveInfo *dinfo = g_ptr_array_index(m->drives, i);
        BlockDriverState *bs;
        JsonValue *info;

        if (!block_listed(dinfo)) {
            continue;
        }
        bs = blk_bs(dinfo->blk);
        info = json_object();
        json_object_set_str(info, "device",
                            dinfo->from_blockdev ? "" : dinfo->id);
        if (bs && bs->node_name) {
            json_object_set_str(info, "node-name", bs->node_name);
        }
        if (dinfo->device) {
            json_object_set_str(info, "qdev", dinfo->device);
        }
        json_object_set(info, "stats", block_device_stats(dinfo->blk));
        json_array_append(ret, info);
    }
    return ret;
}

/* HMP `info block`: QEMU's layout, one paragraph per drive. */
void hmp_info_block(Machine *m, GString *out)
{
    bool first = true;

    for (guint i = 0; m->drives && i < m->drives->len; i++) {
        DriveInfo *dinfo = g_ptr_array_index(m->drives, i);
        BlockDriverState *bs;

        if (!block_listed(dinfo)) {
            continue;
        }
        bs = blk_bs(dinfo->blk);
        if (!first) {
            g_string_append(out, "\n");
        }
        first = false;
        if (!bs) {
            g_string_append_printf(out, "%s: [not inserted]\n", dinfo->id);
            continue;
        }
        g_string_append_printf(out, "%s (%s): %s (%s%s)\n",
                               dinfo->from_blockdev ? "" : dinfo->id,
                               bs->node_name ? bs->node_name : "",
                               bs->filename ? bs->filename : "",
                               bs->drv ? bs->drv->format_name : "",
                               blk_is_read_only(dinfo->blk) ?
                               ", read-only" : "");
        if (dinfo->device) {
            g_string_append_printf(out, "    Attached to:      %s\n",
                                   dinfo->device);
        }
        g_string_append_printf(out, "    Cache mode:       %s%s%s\n",
                               blk_enable_write_cache(dinfo->blk) ?
                               "writeback" : "writethrough",
                               (bs->open_flags & BDRV_O_NOCACHE) ?
                               ", direct" : "",
                               (bs->open_flags & BDRV_O_NO_FLUSH) ?
                               ", ignore flushes" : "");
        if (bs->backing_file[0]) {
            g_string_append_printf(out, "    Backing file:     %s\n",
                                   bs->backing_file);
        }
    }
}
