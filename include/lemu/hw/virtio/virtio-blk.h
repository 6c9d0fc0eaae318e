/*
 * virtio-blk (virtio 1.x spec, section 5.2): feature bits, the layout of
 * the device configuration space, request types and status values, and
 * what the monitor asks of a virtio-blk-pci device.
 */
#ifndef LEMU_HW_VIRTIO_VIRTIO_BLK_H
#define LEMU_HW_VIRTIO_VIRTIO_BLK_H

#include <stdbool.h>
#include <stdint.h>

typedef struct Device Device;
typedef struct Machine Machine;
typedef struct BlockBackend BlockBackend;

#define VIRTIO_ID_BLOCK                 2

/* Feature bits (5.2.3). */
#define VIRTIO_BLK_F_SIZE_MAX           1
#define VIRTIO_BLK_F_SEG_MAX            2
#define VIRTIO_BLK_F_GEOMETRY           4
#define VIRTIO_BLK_F_RO                 5
#define VIRTIO_BLK_F_BLK_SIZE           6
#define VIRTIO_BLK_F_FLUSH              9
#define VIRTIO_BLK_F_TOPOLOGY           10
#define VIRTIO_BLK_F_CONFIG_WCE         11
#define VIRTIO_BLK_F_MQ                 12
#define VIRTIO_BLK_F_DISCARD            13
#define VIRTIO_BLK_F_WRITE_ZEROES       14

/* Device configuration layout (5.2.4), byte offsets, little endian. */
#define VIRTIO_BLK_CFG_CAPACITY         0    /* le64, 512-byte sectors */
#define VIRTIO_BLK_CFG_SIZE_MAX         8    /* le32 */
#define VIRTIO_BLK_CFG_SEG_MAX          12   /* le32 */
#define VIRTIO_BLK_CFG_GEOMETRY         16   /* le16 cyl, u8 heads, u8 sec */
#define VIRTIO_BLK_CFG_BLK_SIZE         20   /* le32 */
#define VIRTIO_BLK_CFG_PHYS_BLOCK_EXP   24   /* u8 */
#define VIRTIO_BLK_CFG_ALIGNMENT_OFFSET 25   /* u8 */
#define VIRTIO_BLK_CFG_MIN_IO_SIZE      26   /* le16 */
#define VIRTIO_BLK_CFG_OPT_IO_SIZE      28   /* le32 */
#define VIRTIO_BLK_CFG_WRITEBACK        32   /* u8 */
#define VIRTIO_BLK_CFG_NUM_QUEUES       34   /* le16 */
#define VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS 36    /* le32 */
#define VIRTIO_BLK_CFG_MAX_DISCARD_SEG  40   /* le32 */
#define VIRTIO_BLK_CFG_DISCARD_SECTOR_ALIGNMENT 44   /* le32 */
#define VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SECTORS 48   /* le32 */
#define VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SEG 52       /* le32 */
#define VIRTIO_BLK_CFG_WRITE_ZEROES_MAY_UNMAP 56     /* u8 */
#define VIRTIO_BLK_CFG_SIZE             60

/* Request header (5.2.6): le32 type, le32 reserved, le64 sector. */
#define VIRTIO_BLK_OUTHDR_SIZE          16
#define VIRTIO_BLK_T_IN                 0
#define VIRTIO_BLK_T_OUT                1
#define VIRTIO_BLK_T_FLUSH              4
#define VIRTIO_BLK_T_GET_ID             8
#define VIRTIO_BLK_T_DISCARD            11
#define VIRTIO_BLK_T_WRITE_ZEROES       13

/* The status byte, the last device-writable byte of a request. */
#define VIRTIO_BLK_S_OK                 0
#define VIRTIO_BLK_S_IOERR              1
#define VIRTIO_BLK_S_UNSUPP             2

/* GET_ID: the serial, at most this many bytes, not NUL terminated when
 * it is that long. */
#define VIRTIO_BLK_ID_BYTES             20

/* A discard / write-zeroes segment: le64 sector, le32 num_sectors,
 * le32 flags. */
#define VIRTIO_BLK_DWZ_SEG_SIZE         16
#define VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP 0x1

/* virtio-blk-pci devices of @m in creation order, for the monitor: the
 * @n-th one (NULL past the end), its backend and its QEMU-style
 * io-status ("ok", "failed", "nospace"). */
Device *virtio_blk_nth(Machine *m, unsigned n);
BlockBackend *virtio_blk_get_blk(Device *dev);
const char *virtio_blk_io_status(Device *dev);

#endif
