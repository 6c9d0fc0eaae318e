/*
 * snapshot: list, create, apply and delete internal snapshots.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "block/img/lemu-img.h"

static void dump_snapshot_row(const BdrvSnapshotInfo *sn)
{
    char date[128] = "", clock[128], icount[32] = "";
    char *size = img_size_to_str(sn->vm_state_size);
    time_t t = sn->date_sec;
    struct tm tm;
    uint64_t secs = sn->vm_clock_nsec / 1000000000ULL;

    if (localtime_r(&t, &tm)) {
        strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
    }
    snprintf(clock, sizeof(clock), "%02u:%02u:%02u.%03u",
             (unsigned)(secs / 3600), (unsigned)((secs / 60) % 60),
             (unsigned)(secs % 60),
             (unsigned)((sn->vm_clock_nsec / 1000000) % 1000));
    if (sn->icount != UINT32_MAX) {
        snprintf(icount, sizeof(icount), "%u", sn->icount);
    }
    printf("%-9s %-16s %8s%20s%13s%11s\n", sn->id_str, sn->name, size, date,
           clock, icount);
    g_free(size);
}

void img_dump_snapshots(const BdrvSnapshotInfo *sns, int n)
{
    printf("Snapshot list:\n");
    printf("%-10s%-17s%8s%20s%13s%11s\n", "ID", "TAG", "VM SIZE", "DATE",
           "VM CLOCK", "ICOUNT");
    for (int i = 0; i < n; i++) {
        dump_snapshot_row(&sns[i]);
    }
}

enum {
    SNAPSHOT_NONE,
    SNAPSHOT_LIST,
    SNAPSHOT_CREATE,
    SNAPSHOT_APPLY,
    SNAPSHOT_DELETE,
};

/* The snapshot whose ID or else whose name is @id_or_name, or -1. */
static int find_snapshot(const BdrvSnapshotInfo *sns, int n,
                         const char *id_or_name)
{
    for (int i = 0; i < n; i++) {
        if (!strcmp(sns[i].id_str, id_or_name)) {
            return i;
        }
    }
    for (int i = 0; i < n; i++) {
        if (!strcmp(sns[i].name, id_or_name)) {
            return i;
        }
    }
    return -1;
}

int img_snapshot(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "force-share", no_argument, NULL, 'U' },
        { NULL, 0, NULL, 0 }
    };
    const char *name = NULL;
    bool quiet = false, force_share = false;
    int action = SNAPSHOT_NONE;
    BlockDriverState *bs;
    BdrvSnapshotInfo *sns = NULL;
    int nb_sns = 0;
    int flags;
    int ret = 1;
    int c;

    while ((c = img_getopt(argc, argv, ":la:c:d:hqU", long_options,
                           &ret)) != -1) {
        int this_action = SNAPSHOT_NONE;

        switch (c) {
        case IMG_GETOPT_EXIT:
            return ret;
        case 'l': this_action = SNAPSHOT_LIST; break;
        case 'a': this_action = SNAPSHOT_APPLY; name = optarg; break;
        case 'c': this_action = SNAPSHOT_CREATE; name = optarg; break;
        case 'd': this_action = SNAPSHOT_DELETE; name = optarg; break;
        case 'q': quiet = true; break;
        case 'U': force_share = true; break;
        }
        if (this_action != SNAPSHOT_NONE) {
            if (action != SNAPSHOT_NONE) {
                return img_error_exit("Cannot mix '-l', '-a', '-c', '-d'");
            }
            action = this_action;
        }
    }
    if (optind != argc - 1) {
        return img_error_exit("Expecting one image file name");
    }
    if (action == SNAPSHOT_NONE) {
        action = SNAPSHOT_LIST;
    }
    if (action == SNAPSHOT_LIST) {
        flags = force_share ? BDRV_O_FORCE_SHARE : 0;
    } else {
        flags = BDRV_O_RDWR;
    }
    flags |= BDRV_O_NO_BACKING;

    bs = img_open(argv[optind], NULL, flags, quiet);
    if (!bs) {
        return 1;
    }
    if (!bs->drv->snapshot_list) {
        if (action == SNAPSHOT_LIST) {
            ret = 0;
        } else {
            img_error("Could not %s snapshot '%s': %s",
                      action == SNAPSHOT_CREATE ? "create" :
                      action == SNAPSHOT_APPLY ? "apply" : "delete",
                      name, g_strerror(ENOTSUP));
        }
        goto out;
    }
    nb_sns = bs->drv->snapshot_list(bs, &sns);

    switch (action) {
    case SNAPSHOT_LIST:
        if (nb_sns > 0) {
            img_dump_snapshots(sns, nb_sns);
        }
        ret = 0;
        break;
    case SNAPSHOT_CREATE: {
        BdrvSnapshotInfo sn = { 0 };
        gint64 now = g_get_real_time();
        int r;

        g_strlcpy(sn.name, name, sizeof(sn.name));
        sn.date_sec = now / G_USEC_PER_SEC;
        sn.date_nsec = (now % G_USEC_PER_SEC) * 1000;
        r = bs->drv->snapshot_create ? bs->drv->snapshot_create(bs, &sn)
                                     : -ENOTSUP;
        if (r < 0) {
            img_error("Could not create snapshot '%s': %s", name,
                      g_strerror(-r));
            break;
        }
        ret = 0;
        break;
    }
    case SNAPSHOT_APPLY: {
        int r = bs->drv->snapshot_goto ? bs->drv->snapshot_goto(bs, name)
                                       : -ENOTSUP;

        if (r < 0) {
            img_error("Could not apply snapshot '%s': Failed to load "
                      "snapshot: %s", name, g_strerror(-r));
            break;
        }
        ret = 0;
        break;
    }
    case SNAPSHOT_DELETE: {
        GError *err = NULL;
        int i = find_snapshot(sns, nb_sns, name);

        if (i < 0) {
            img_error("Could not delete snapshot '%s': snapshot not found",
                      name);
            break;
        }
        if (!bs->drv->snapshot_delete) {
            img_error("Could not delete snapshot '%s': %s", name,
                      g_strerror(ENOTSUP));
            break;
        }
        if (bs->drv->snapshot_delete(bs, sns[i].id_str, sns[i].name,
                                     &err) < 0) {
            img_error("Could not delete snapshot '%s': %s", name,
                      err ? err->message : "unknown error");
            g_clear_error(&err);
            break;
        }
        ret = 0;
        break;
    }
    }
    if (ret == 0 && action != SNAPSHOT_LIST && bdrv_flush(bs) < 0) {
        img_error("Could not flush '%s'", argv[optind]);
        ret = 1;
    }
out:
    g_free(sns);
    bdrv_unref(bs);
    return ret;
}
