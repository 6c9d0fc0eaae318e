/*
 * -drive and -blockdev: the images a VM's command line names, opened
 * before the devices are created and owned by the machine (m->drives).
 * A device takes one by id (virtio-blk-pci's drive=) with drive_claim().
 */
#ifndef LEMU_BLOCK_BLOCKDEV_H
#define LEMU_BLOCK_BLOCKDEV_H

#include <stdbool.h>
#include <glib.h>
#include "lemu/block/block-backend.h"

typedef struct Machine Machine;

typedef enum {
    IF_NONE,        /* a device given with -device ...,drive=ID takes it */
    IF_VIRTIO,      /* the board creates a virtio-blk-pci for it */
} BlockInterfaceType;

typedef struct DriveInfo {
    char *id;                  /* -drive id= (default "virtioN"), or
                                  -blockdev node-name */
    BlockBackend *blk;
    BlockInterfaceType type;
    int index;                 /* -drive index=, or the order given */
    bool from_blockdev;        /* -blockdev: no BlockBackend options */
    char *serial;              /* -drive serial= (old spelling), or NULL */
    char *snapshot_overlay;    /* snapshot=on: temporary overlay path */
    char *device;              /* id of the device that claimed it */
} DriveInfo;

/*
 * Opens every -blockdev, then every -drive of m->cfg, into m->drives.
 * -drive keys: file, format, if (virtio|none), id, index, media (disk),
 * readonly, snapshot, cache, discard, aio, werror, rerror, serial, and
 * any driver option ("l2-cache-size", "file.locking"). Without format=
 * the image is probed and lemu warns as QEMU does. Errors name the
 * option.
 */
bool blockdev_init_all(Machine *m, GError **errp);
/* Flushes and closes every drive; deletes snapshot=on overlays. */
void blockdev_cleanup_all(Machine *m);
/* The drive called @id, or NULL. */
DriveInfo *drive_find(Machine *m, const char *id);
/* Gives @id to device @device_id; fails if there is no such drive or
 * another device has it already. */
DriveInfo *drive_claim(Machine *m, const char *id, const char *device_id,
                       GError **errp);

#endif
