/*
 * qcow2 check and repair, as `qemu-img check [-r leaks|all]` does it:
 * count every reference to every cluster (header, L1 tables, L2 tables,
 * data and compressed clusters, snapshot table, refcount table and
 * blocks) into an in-memory array, compare it with the stored
 * refcounts, then check the COPIED flags of the active tables.
 *
 * Leaks (stored > real) are harmless; stored < real means a cluster
 * could be handed out twice and is a corruption. Messages go to stderr
 * in qemu-img's wording. Every offset taken from the image is checked
 * against the file before it is used.
 *
 * Tables are read straight from the file (the caches are written back
 * and emptied first); refcount fixes go through the refcount cache.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "lemu/util/log.h"
#include "qcow2.h"

/* Clusters beyond this many make check give up (-EFBIG). */
#define CHECK_MAX_CLUSTERS  (1ULL << 32)
/* References this many clusters past the end of the file are errors. */
#define CHECK_BEYOND_EOF    (1ULL << 20)

typedef struct CheckState {
    BlockDriverState *bs;
    BDRVQcow2State *s;
    BdrvCheckResult *res;
    int fix;
    uint64_t file_len;
    uint64_t file_nb;       /* clusters in the file */
    uint64_t nb;            /* clusters counted: file_nb or more */
    uint32_t *refs;         /* references found, saturating */
    bool rebuild;           /* the refcount structure itself is broken */
} CheckState;

static void check_msg(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static void check_msg(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

/*
 * Counts one reference to every cluster of [offset, offset + len).
 * References past the end of the file are counted as qemu-img does
 * (a partly written last cluster is normal), up to a limit that keeps a
 * wild offset from allocating a huge array.
 */
static void inc_refs(CheckState *cs, uint64_t offset, uint64_t len)
{
    BDRVQcow2State *s = cs->s;
    uint64_t first, last, i;

    if (len == 0) {
        return;
    }
    first = offset >> s->cluster_bits;
    last = len > UINT64_MAX - offset ? UINT64_MAX
                                     : (offset + len - 1) >> s->cluster_bits;
    if (last >= cs->file_nb + CHECK_BEYOND_EOF) {
        check_msg("ERROR: reference to offset 0x%" PRIx64 " (%" PRIu64
                  " bytes) far beyond the end of the image file\n", offset,
                  len);
        cs->res->corruptions++;
        return;
    }
    if (last >= cs->nb) {
        cs->refs = g_renew(uint32_t, cs->refs, last + 1);
        memset(cs->refs + cs->nb, 0, (last + 1 - cs->nb) * sizeof(uint32_t));
        cs->nb = last + 1;
    }
    for (i = first; i <= last; i++) {
        if (cs->refs[i] >= MIN(s->refcount_max, UINT32_MAX)) {
            check_msg("ERROR: overflow cluster offset=0x%" PRIx64 "\n",
                      i << s->cluster_bits);
            cs->res->corruptions++;
            continue;
        }
        cs->refs[i]++;
    }
}

static bool in_file(CheckState *cs, uint64_t offset, uint64_t len)
{
    return offset < cs->file_len && len <= cs->file_len - offset;
}

/* One L2 table: references and, for the active one, statistics and the
 * fixes that concern single entries. */
static int check_l2(CheckState *cs, uint64_t l2_offset, bool active,
                    uint64_t *next_contiguous)
{
    BDRVQcow2State *s = cs->s;
    BlockDriverState *bs = cs->bs;
    uint64_t *l2 = g_malloc(s->cluster_size);
    bool modified = false;
    uint32_t j;
    int ret;

    ret = bdrv_pread(bs->file, l2_offset, l2, s->cluster_size);
    if (ret < 0) {
        check_msg("ERROR: I/O error in check_refcounts_l2\n");
        cs->res->check_errors++;
        g_free(l2);
        return ret;
    }
    for (j = 0; j < s->l2_size; j++) {
        uint64_t e = qcow2_get_l2_entry(s, l2, j);
        Qcow2ClusterType type = qcow2_get_cluster_type(bs, e);
        uint64_t off = e & L2E_OFFSET_MASK;

        if (s->extended_l2 && type != QCOW2_CLUSTER_COMPRESSED) {
            uint64_t bitmap = qcow2_get_l2_bitmap(s, l2, j);

            /* A subcluster cannot be both allocated and zero, and an
             * unallocated cluster has no allocated subclusters. */
            if ((bitmap & (bitmap >> 32) & 0xffffffffULL) ||
                (!off && (bitmap & 0xffffffffULL))) {
                check_msg("ERROR: Invalid L2 entry at index %" PRIu32
                          " of L2 table 0x%" PRIx64 ": subcluster bitmap "
                          "0x%" PRIx64 "\n", j, l2_offset, bitmap);
                cs->res->corruptions++;
            }
        }
        switch (type) {
        case QCOW2_CLUSTER_COMPRESSED: {
            uint64_t coffset;
            int csize;

            if (e & QCOW_OFLAG_COPIED) {
                check_msg("ERROR: coffset=0x%" PRIx64 ": copied flag must "
                          "never be set for compressed clusters\n",
                          e & s->cluster_offset_mask);
                if (active && (cs->fix & BDRV_FIX_ERRORS)) {
                    e &= ~QCOW_OFLAG_COPIED;
                    qcow2_set_l2_entry(s, l2, j, e);
                    modified = true;
                    cs->res->corruptions_fixed++;
                } else {
                    cs->res->corruptions++;
                }
            }
            qcow2_parse_compressed_l2_entry(bs, e, &coffset, &csize);
            inc_refs(cs, coffset, csize > 0 ? csize : 1);
            if (active) {
                cs->res->allocated_clusters++;
                cs->res->compressed_clusters++;
                /* Compressed data is fragmented by nature. */
                cs->res->fragmented_clusters++;
            }
            break;
        }
        case QCOW2_CLUSTER_NORMAL:
        case QCOW2_CLUSTER_ZERO_ALLOC:
            if (active) {
                cs->res->allocated_clusters++;
                if (*next_contiguous && off != *next_contiguous) {
                    cs->res->fragmented_clusters++;
                }
                *next_contiguous = off + s->cluster_size;
            }
            if (qcow2_offset_into_cluster(s, off)) {
                if (active && type == QCOW2_CLUSTER_ZERO_ALLOC &&
                    (cs->fix & BDRV_FIX_ERRORS)) {
                    check_msg("Repairing offset=%" PRIx64 ": Preallocated "
                              "zero cluster is not properly aligned; L2 "
                              "entry corrupted.\n", off);
                    qcow2_set_l2_entry(s, l2, j, QCOW_OFLAG_ZERO);
                    modified = true;
                    cs->res->corruptions_fixed++;
                } else {
                    check_msg("ERROR offset=%" PRIx64 ": %s cluster is not "
                              "properly aligned; L2 entry corrupted.\n", off,
                              type == QCOW2_CLUSTER_ZERO_ALLOC ?
                              "Preallocated zero" : "Data");
                    cs->res->corruptions++;
                }
                break;
            }
            inc_refs(cs, off, s->cluster_size);
            break;
        default:
            break;
        }
    }
    if (modified) {
        ret = bdrv_pwrite(bs->file, l2_offset, l2, s->cluster_size, 0);
        if (ret < 0) {
            check_msg("ERROR: Could not write L2 table: %s\n",
                      g_strerror(-ret));
            cs->res->check_errors++;
        }
    }
    g_free(l2);
    return 0;
}

/* An L1 table and everything below it. @l1 may be NULL: read it. */
static void check_l1(CheckState *cs, uint64_t l1_offset, uint32_t l1_size,
                     const uint64_t *l1, bool active)
{
    BDRVQcow2State *s = cs->s;
    uint64_t *buf = NULL;
    uint64_t next_contiguous = 0;
    uint32_t i;

    if (l1_size == 0) {
        return;
    }
    inc_refs(cs, l1_offset, (uint64_t)l1_size * 8);
    if (!l1) {
        if (!in_file(cs, l1_offset, (uint64_t)l1_size * 8)) {
            check_msg("ERROR l1_offset=%" PRIx64 ": L1 table lies past the "
                      "end of the image file\n", l1_offset);
            cs->res->corruptions++;
            return;
        }
        buf = g_new(uint64_t, l1_size);
        if (bdrv_pread(cs->bs->file, l1_offset, buf,
                       (uint64_t)l1_size * 8) < 0) {
            check_msg("ERROR: I/O error in check_refcounts_l1\n");
            cs->res->check_errors++;
            g_free(buf);
            return;
        }
        for (i = 0; i < l1_size; i++) {
            buf[i] = GUINT64_FROM_BE(buf[i]);
        }
        l1 = buf;
    }
    for (i = 0; i < l1_size; i++) {
        uint64_t l2_offset = l1[i] & L1E_OFFSET_MASK;

        if (!l2_offset) {
            continue;
        }
        if (qcow2_offset_into_cluster(s, l2_offset)) {
            check_msg("ERROR l2_offset=%" PRIx64 ": Table is not cluster "
                      "aligned; L1 entry corrupted\n", l2_offset);
            cs->res->corruptions++;
            continue;
        }
        inc_refs(cs, l2_offset, s->cluster_size);
        if (!in_file(cs, l2_offset, s->cluster_size)) {
            check_msg("ERROR l2_offset=%" PRIx64 ": L2 table lies past the "
                      "end of the image file\n", l2_offset);
            cs->res->corruptions++;
            continue;
        }
        /* qemu-img counts fragmentation within each L2 table. */
        next_contiguous = 0;
        check_l2(cs, l2_offset, active, &next_contiguous);
    }
    g_free(buf);
}

/* Refcount blocks: each must be aligned, inside the file and used by
 * nothing else. */
static void check_refblocks(CheckState *cs)
{
    BDRVQcow2State *s = cs->s;
    uint64_t i;

    for (i = 0; i < s->refcount_table_size; i++) {
        uint64_t off = s->refcount_table[i] & REFT_OFFSET_MASK;

        if (!off) {
            continue;
        }
        if (qcow2_offset_into_cluster(s, off) ||
            (s->refcount_table[i] & REFT_RESERVED_MASK)) {
            check_msg("ERROR refcount block %" PRIu64 " is not cluster "
                      "aligned; refcount table entry corrupted\n", i);
            cs->res->corruptions++;
            cs->rebuild = true;
            continue;
        }
        if (!in_file(cs, off, s->cluster_size)) {
            check_msg("ERROR refcount block %" PRIu64 " is outside image\n",
                      i);
            cs->res->corruptions++;
            cs->rebuild = true;
            continue;
        }
        inc_refs(cs, off, s->cluster_size);
        if (cs->refs[off >> s->cluster_bits] != 1) {
            check_msg("ERROR refcount block %" PRIu64 " refcount=%" PRIu32
                      "\n", i, cs->refs[off >> s->cluster_bits]);
            cs->res->corruptions++;
            cs->rebuild = true;
        }
    }
}

/* Every reference in the image. @refstructs: count the refcount table
 * and blocks too (not when building new ones). */
static void calculate_refs(CheckState *cs, bool refstructs)
{
    BDRVQcow2State *s = cs->s;
    uint32_t i;

    memset(cs->refs, 0, cs->nb * sizeof(uint32_t));
    inc_refs(cs, 0, s->cluster_size);
    check_l1(cs, s->l1_table_offset, s->l1_size, s->l1_table, true);

    for (i = 0; i < s->nb_snapshots; i++) {
        Qcow2Snapshot *sn = &s->snapshots[i];

        if (qcow2_offset_into_cluster(s, sn->l1_table_offset)) {
            check_msg("ERROR snapshot %s (%s) l1_offset=%#" PRIx64 ": L1 "
                      "table is not cluster aligned; snapshot table entry "
                      "corrupted\n", sn->id_str, sn->name,
                      sn->l1_table_offset);
            cs->res->corruptions++;
            continue;
        }
        if ((uint64_t)sn->l1_size * 8 > QCOW2_MAX_L1_BYTES) {
            check_msg("ERROR snapshot %s (%s) l1_size=%#" PRIx32 ": L1 "
                      "table is too large; snapshot table entry corrupted\n",
                      sn->id_str, sn->name, sn->l1_size);
            cs->res->corruptions++;
            continue;
        }
        check_l1(cs, sn->l1_table_offset, sn->l1_size, NULL, false);
    }
    if (s->nb_snapshots) {
        inc_refs(cs, s->snapshots_offset, s->snapshots_size);
    }
    if (refstructs) {
        inc_refs(cs, s->refcount_table_offset,
                 (uint64_t)s->refcount_table_size * 8);
        check_refblocks(cs);
    }
}

/* The stored refcount, without trusting a bad refcount table entry
 * (reads 0 then: the structure is rebuilt or reported anyway). */
static int stored_refcount(CheckState *cs, uint64_t cluster, uint64_t *rc,
                           bool *no_block)
{
    BDRVQcow2State *s = cs->s;
    uint64_t ti = cluster >> s->refcount_block_bits;
    uint64_t e, off;

    *rc = 0;
    *no_block = true;
    if (ti >= s->refcount_table_size) {
        return 0;
    }
    e = s->refcount_table[ti];
    off = e & REFT_OFFSET_MASK;
    if (!off || qcow2_offset_into_cluster(s, off) ||
        (e & REFT_RESERVED_MASK) || !in_file(cs, off, s->cluster_size)) {
        return 0;
    }
    *no_block = false;
    return qcow2_get_refcount(cs->bs, cluster, rc);
}

static void compare_refs(CheckState *cs, int fix, uint64_t *highest)
{
    BDRVQcow2State *s = cs->s;
    uint64_t i, stored, real;
    bool no_block;
    int ret;

    for (i = 0; i < cs->nb; i++) {
        ret = stored_refcount(cs, i, &stored, &no_block);
        if (ret < 0) {
            check_msg("Can't get refcount for cluster %" PRIu64 ": %s\n", i,
                      g_strerror(-ret));
            cs->res->check_errors++;
            continue;
        }
        real = cs->refs[i];
        if (stored > 0 || real > 0) {
            *highest = i;
        }
        if (stored == real) {
            continue;
        }
        if (stored < real && no_block) {
            /* A new refcount block would change the structure. */
            cs->rebuild = true;
        }
        if (!cs->rebuild && ((stored < real && (fix & BDRV_FIX_ERRORS)) ||
                             (stored > real && (fix & BDRV_FIX_LEAKS)))) {
            check_msg("Repairing cluster %" PRIu64 " refcount=%" PRIu64
                      " reference=%" PRIu64 "\n", i, stored, real);
            ret = qcow2_update_cluster_refcount_range(
                cs->bs, i << s->cluster_bits, s->cluster_size,
                (int64_t)(real - stored));
            if (ret == 0) {
                if (stored < real) {
                    cs->res->corruptions_fixed++;
                } else {
                    cs->res->leaks_fixed++;
                }
                continue;
            }
        }
        if (stored < real) {
            check_msg("ERROR cluster %" PRIu64 " refcount=%" PRIu64
                      " reference=%" PRIu64 "\n", i, stored, real);
            cs->res->corruptions++;
        } else {
            check_msg("Leaked cluster %" PRIu64 " refcount=%" PRIu64
                      " reference=%" PRIu64 "\n", i, stored, real);
            cs->res->leaks++;
        }
    }
}

/*
 * Writes a whole new refcount structure from cs->refs (which must not
 * count the old one) after the end of the file, then switches the
 * header to it in one write. The old structure is left unreferenced.
 */
/*
 * Writes a fresh refcount structure for cs->refs after the end of the
 * file and switches to it. @whole_header: switch with one write of the
 * whole header, so that a new refcount_order and the new table's place
 * become valid together (amend); else with the 12 bytes of the table's
 * place only.
 */
static int rebuild_refcounts(CheckState *cs, bool whole_header)
{
    BDRVQcow2State *s = cs->s;
    BlockDriverState *bs = cs->bs;
    uint64_t csz = s->cluster_size, per = s->refcount_block_size;
    uint64_t start = cs->nb, nblocks = 0, tc = 1, end, i;
    uint64_t *table;
    uint8_t *block;
    uint8_t hdr[12];
    uint64_t v64;
    uint32_t v32;
    int ret;

    if (!whole_header) {
        check_msg("Rebuilding refcount structure\n");
    }
    ret = qcow2_cache_empty(bs, s->refcount_block_cache);
    if (ret < 0) {
        return ret;
    }
    for (;;) {
        end = start + nblocks + tc;
        uint64_t nb2 = (end + per - 1) / per;
        uint64_t tc2 = (nb2 * 8 + csz - 1) / csz;

        if (nb2 == nblocks && tc2 == tc) {
            break;
        }
        nblocks = nb2;
        tc = tc2;
    }
    if (tc * csz > QCOW2_MAX_REFTABLE_BYTES) {
        return -EFBIG;
    }

    block = g_malloc(csz);
    table = g_malloc0(tc * csz);
    for (uint64_t b = 0; b < nblocks; b++) {
        memset(block, 0, csz);
        for (i = 0; i < per; i++) {
            uint64_t c = b * per + i;
            uint64_t rc = c < cs->nb ? cs->refs[c] : 0;

            if (c >= start && c < end) {
                rc = 1;
            }
            if (rc) {
                qcow2_refblock_set(s, block, i, MIN(rc, s->refcount_max));
            }
        }
        ret = bdrv_pwrite(bs->file, (start + b) * csz, block, csz, 0);
        if (ret < 0) {
            goto out;
        }
        table[b] = GUINT64_TO_BE((start + b) * csz);
    }
    ret = bdrv_pwrite(bs->file, (start + nblocks) * csz, table, tc * csz, 0);
    if (ret < 0) {
        goto out;
    }
    ret = bdrv_flush(bs->file);
    if (ret < 0) {
        goto out;
    }
    if (whole_header) {
        uint64_t old_offset = s->refcount_table_offset;
        uint32_t old_size = s->refcount_table_size;

        s->refcount_table_offset = (start + nblocks) * csz;
        s->refcount_table_size = tc * csz / 8;
        ret = qcow2_update_header(bs);
        if (ret == 0) {
            ret = bdrv_flush(bs->file);
        }
        if (ret < 0) {
            s->refcount_table_offset = old_offset;
            s->refcount_table_size = old_size;
            goto out;
        }
    } else {
        v64 = GUINT64_TO_BE((start + nblocks) * csz);
        v32 = GUINT32_TO_BE((uint32_t)tc);
        memcpy(hdr, &v64, 8);
        memcpy(hdr + 8, &v32, 4);
        ret = bdrv_pwrite(bs->file, 48, hdr, sizeof(hdr), 0);
        if (ret < 0) {
            goto out;
        }
        ret = bdrv_flush(bs->file);
        if (ret < 0) {
            goto out;
        }
    }
    for (i = 0; i < tc * csz / 8; i++) {
        table[i] = GUINT64_FROM_BE(table[i]);
    }
    g_free(s->refcount_table);
    s->refcount_table = table;
    table = NULL;
    s->refcount_table_size = tc * csz / 8;
    s->refcount_table_offset = (start + nblocks) * csz;
    qcow2_refcount_update_max_index(s);
    s->free_cluster_index = 0;
    s->free_byte_offset = 0;
out:
    g_free(block);
    g_free(table);
    return ret;
}

/* COPIED must be set exactly where the refcount is 1 (active tables). */
static void check_copied_flags(CheckState *cs)
{
    BDRVQcow2State *s = cs->s;
    BlockDriverState *bs = cs->bs;
    bool fix = cs->fix & BDRV_FIX_ERRORS;
    bool l1_modified = false;
    uint64_t *l2 = g_malloc(s->cluster_size);
    uint64_t rc;
    bool no_block;
    uint32_t i, j;

    for (i = 0; i < s->l1_size; i++) {
        uint64_t l1e = s->l1_table[i];
        uint64_t l2_offset = l1e & L1E_OFFSET_MASK;
        bool modified = false;

        if (!l2_offset || qcow2_offset_into_cluster(s, l2_offset) ||
            !in_file(cs, l2_offset, s->cluster_size)) {
            continue;
        }
        if (stored_refcount(cs, l2_offset >> s->cluster_bits, &rc,
                            &no_block) < 0) {
            cs->res->check_errors++;
            continue;
        }
        if ((rc == 1) != !!(l1e & QCOW_OFLAG_COPIED)) {
            check_msg("%s OFLAG_COPIED L2 cluster: l1_index=%" PRIu32
                      " l1_entry=%" PRIx64 " refcount=%" PRIu64 "\n",
                      fix ? "Repairing" : "ERROR", i, l1e, rc);
            if (fix) {
                s->l1_table[i] = rc == 1 ? l1e | QCOW_OFLAG_COPIED
                                         : l1e & ~QCOW_OFLAG_COPIED;
                l1_modified = true;
                cs->res->corruptions_fixed++;
            } else {
                cs->res->corruptions++;
            }
        }
        if (bdrv_pread(bs->file, l2_offset, l2, s->cluster_size) < 0) {
            check_msg("ERROR: I/O error in check_oflag_copied\n");
            cs->res->check_errors++;
            continue;
        }
        for (j = 0; j < s->l2_size; j++) {
            uint64_t e = qcow2_get_l2_entry(s, l2, j);
            Qcow2ClusterType type = qcow2_get_cluster_type(bs, e);
            uint64_t off = e & L2E_OFFSET_MASK;

            if ((type != QCOW2_CLUSTER_NORMAL &&
                 type != QCOW2_CLUSTER_ZERO_ALLOC) ||
                qcow2_offset_into_cluster(s, off)) {
                continue;
            }
            if (stored_refcount(cs, off >> s->cluster_bits, &rc,
                                &no_block) < 0) {
                cs->res->check_errors++;
                continue;
            }
            if ((rc == 1) != !!(e & QCOW_OFLAG_COPIED)) {
                check_msg("%s OFLAG_COPIED data cluster: l2_entry=%" PRIx64
                          " refcount=%" PRIu64 "\n",
                          fix ? "Repairing" : "ERROR", e, rc);
                if (fix) {
                    qcow2_set_l2_entry(s, l2, j,
                                       rc == 1 ? e | QCOW_OFLAG_COPIED
                                               : e & ~QCOW_OFLAG_COPIED);
                    modified = true;
                    cs->res->corruptions_fixed++;
                } else {
                    cs->res->corruptions++;
                }
            }
        }
        if (modified &&
            bdrv_pwrite(bs->file, l2_offset, l2, s->cluster_size, 0) < 0) {
            check_msg("ERROR: Could not write L2 table\n");
            cs->res->check_errors++;
        }
    }
    if (l1_modified) {
        uint64_t *be = g_new(uint64_t, s->l1_size);

        for (i = 0; i < s->l1_size; i++) {
            be[i] = GUINT64_TO_BE(s->l1_table[i]);
        }
        if (bdrv_pwrite(bs->file, s->l1_table_offset, be,
                        (uint64_t)s->l1_size * 8, 0) < 0) {
            check_msg("ERROR: Could not write L1 table\n");
            cs->res->check_errors++;
        }
        g_free(be);
    }
    g_free(l2);
}

static int check_locked(BlockDriverState *bs, BdrvCheckResult *res, int fix)
{
    BDRVQcow2State *s = bs->opaque;
    CheckState cs = { .bs = bs, .s = s, .res = res, .fix = 0 };
    BdrvCheckResult found;
    uint64_t highest = 0;
    int64_t len;
    int ret;

    memset(res, 0, sizeof(*res));
    if (fix && bs->read_only) {
        return -EACCES;
    }
    /* Read everything from the file from here on. */
    ret = qcow2_cache_empty(bs, s->l2_table_cache);
    if (ret == 0) {
        ret = qcow2_cache_empty(bs, s->refcount_block_cache);
    }
    if (ret < 0) {
        res->check_errors++;
        return ret;
    }
    len = bdrv_getlength(bs->file);
    if (len < 0) {
        res->check_errors++;
        return (int)len;
    }
    cs.file_len = len;
    cs.nb = (cs.file_len + s->cluster_size - 1) >> s->cluster_bits;
    cs.file_nb = cs.nb;
    if (cs.nb > CHECK_MAX_CLUSTERS) {
        return -EFBIG;
    }
    cs.refs = g_try_new0(uint32_t, MAX(cs.nb, 1));
    if (!cs.refs) {
        return -ENOMEM;
    }
    res->total_clusters = (s->size + s->cluster_size - 1) >> s->cluster_bits;

    /* First pass: find, fix nothing. */
    calculate_refs(&cs, true);
    compare_refs(&cs, 0, &highest);
    found = *res;

    if (fix && (res->leaks || res->corruptions || cs.rebuild)) {
        bool rebuilt = false;

        cs.fix = fix;
        if (cs.rebuild) {
            if (!(fix & BDRV_FIX_ERRORS)) {
                check_msg("ERROR need to rebuild refcount structures\n");
                res->check_errors++;
                ret = -EIO;
                goto out;
            }
            /* Count (and fix entries) without the old structure, write a
             * new one from that. */
            *res = (BdrvCheckResult){ .total_clusters = found.total_clusters };
            calculate_refs(&cs, false);
            ret = rebuild_refcounts(&cs, false);
            if (ret < 0) {
                check_msg("ERROR: Could not rebuild the refcount structure: "
                          "%s\n", g_strerror(-ret));
                res->check_errors++;
                goto out;
            }
            cs.rebuild = false;
            rebuilt = true;
            len = bdrv_getlength(bs->file);
            if (len > 0 && (uint64_t)len > cs.file_len) {
                uint64_t nb = ((uint64_t)len + s->cluster_size - 1) >>
                              s->cluster_bits;

                cs.file_len = len;
                cs.file_nb = nb;
                if (nb > cs.nb) {
                    cs.refs = g_renew(uint32_t, cs.refs, nb);
                    cs.nb = nb;
                }
            }
        }
        /* Second pass: count again, fixing as we go. */
        *res = (BdrvCheckResult){ .total_clusters = found.total_clusters };
        highest = 0;
        calculate_refs(&cs, true);
        compare_refs(&cs, fix, &highest);
        if (cs.rebuild) {
            check_msg("ERROR rebuilt refcount structure is still broken\n");
        }
        if (rebuilt) {
            int done = res->corruptions + res->corruptions_fixed;

            if (found.corruptions > done) {
                res->corruptions_fixed += found.corruptions - done;
            }
            done = res->leaks + res->leaks_fixed;
            if (found.leaks > done) {
                res->leaks_fixed += found.leaks - done;
            }
        }
    }
    cs.fix = fix;
    check_copied_flags(&cs);
    res->image_end_offset = (int64_t)(highest + 1) << s->cluster_bits;

    ret = qcow2_cache_flush(bs, s->refcount_block_cache);
    if (ret < 0) {
        res->check_errors++;
        goto out;
    }
    if ((fix & BDRV_FIX_ERRORS) && s->corrupt && res->corruptions == 0 &&
        res->check_errors == 0) {
        ret = qcow2_set_incompat_bit(bs, QCOW2_INCOMPAT_CORRUPT, false);
        if (ret == 0) {
            s->corrupt = false;
            s->incompatible_features &= ~QCOW2_INCOMPAT_CORRUPT;
        }
    }
    ret = 0;
out:
    g_free(cs.refs);
    return ret;
}

int qcow2_check(BlockDriverState *bs, BdrvCheckResult *res,
                BdrvCheckMode fix)
{
    return check_locked(bs, res, (int)fix);
}

/*
 * amend -o refcount_bits=N: counts every reference as check does, then
 * writes a refcount structure of the new width after the end of the file
 * and switches to it with one header write that carries the new
 * refcount_order too. Until that write the old structure is the valid
 * one; after it, the old table and blocks are simply unreferenced (free).
 * s->lock held, caches written.
 */
int qcow2_change_refcount_order(BlockDriverState *bs, int order,
                                GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    BdrvCheckResult res = { 0 };
    CheckState cs = { .bs = bs, .s = s, .res = &res };
    int old_order = s->refcount_order, old_bits = s->refcount_bits;
    int old_block_bits = s->refcount_block_bits;
    uint32_t old_block_size = s->refcount_block_size;
    uint64_t old_max = s->refcount_max;
    uint64_t new_max = order == 6 ? UINT64_MAX : (1ULL << (1 << order)) - 1;
    int64_t len;
    int ret;

    ret = qcow2_cache_empty(bs, s->l2_table_cache);
    if (ret == 0) {
        ret = qcow2_cache_empty(bs, s->refcount_block_cache);
    }
    len = ret < 0 ? ret : bdrv_getlength(bs->file);
    if (len < 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED, "qcow2: could not "
                    "write metadata: %s", g_strerror((int)-len));
        return (int)len;
    }
    cs.file_len = len;
    cs.nb = cs.file_nb = (cs.file_len + s->cluster_size - 1) >>
                         s->cluster_bits;
    if (cs.nb > CHECK_MAX_CLUSTERS ||
        !(cs.refs = g_try_new0(uint32_t, MAX(cs.nb, 1)))) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED, "qcow2: the image "
                    "is too large to change its refcount width");
        return -EFBIG;
    }
    calculate_refs(&cs, false);
    if (res.corruptions || res.check_errors) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED, "qcow2: the image "
                    "has errors; repair it with 'check -r all' before "
                    "changing refcount_bits");
        ret = -EIO;
        goto out;
    }
    for (uint64_t c = 0; c < cs.nb; c++) {
        if (cs.refs[c] > new_max) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED, "Cannot "
                        "decrease refcount entry width to %d bits: Cluster "
                        "at offset %#" PRIx64 " has a refcount of %" PRIu32,
                        1 << order, c << s->cluster_bits, cs.refs[c]);
            ret = -ERANGE;
            goto out;
        }
    }
    s->refcount_order = order;
    s->refcount_bits = 1 << order;
    s->refcount_max = new_max;
    s->refcount_block_bits = s->cluster_bits + 3 - order;
    s->refcount_block_size = 1U << s->refcount_block_bits;
    ret = rebuild_refcounts(&cs, true);
    if (ret < 0) {
        s->refcount_order = old_order;
        s->refcount_bits = old_bits;
        s->refcount_max = old_max;
        s->refcount_block_bits = old_block_bits;
        s->refcount_block_size = old_block_size;
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED, "qcow2: could not "
                    "write the new refcount structure: %s",
                    g_strerror(-ret));
    }
out:
    g_free(cs.refs);
    return ret < 0 ? ret : 0;
}
