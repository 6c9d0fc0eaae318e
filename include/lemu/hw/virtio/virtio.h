/*
 * The virtio core (virtio 1.x, split virtqueues): device status and
 * feature negotiation, queues with event index and indirect descriptors,
 * and the element a device pops, fills and pushes back. Transports
 * (virtio-pci.h) own the registers and the interrupt; devices
 * (virtio-blk) own the queues' meaning.
 *
 * Every descriptor is checked when it is popped: address and length must
 * lie in guest RAM, chains must end within the queue size, indirect
 * tables must be well formed, device-readable buffers come before
 * device-writable ones. A broken ring puts the device in NEEDS_RESET and
 * logs a guest error; the host never reads or writes outside guest RAM.
 *
 * Everything runs under the machine lock except the buffers an element
 * points to, which a device may fill from a worker thread between pop and
 * push.
 */
#ifndef LEMU_HW_VIRTIO_VIRTIO_H
#define LEMU_HW_VIRTIO_VIRTIO_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include <glib.h>
#include "lemu/util/iov.h"

typedef struct Machine Machine;
typedef struct VirtIODevice VirtIODevice;
typedef struct VirtQueue VirtQueue;

/* Device status bits. */
#define VIRTIO_CONFIG_S_ACKNOWLEDGE     0x01
#define VIRTIO_CONFIG_S_DRIVER          0x02
#define VIRTIO_CONFIG_S_DRIVER_OK       0x04
#define VIRTIO_CONFIG_S_FEATURES_OK     0x08
#define VIRTIO_CONFIG_S_NEEDS_RESET     0x40
#define VIRTIO_CONFIG_S_FAILED          0x80

/* Feature bits every device may offer. */
#define VIRTIO_RING_F_INDIRECT_DESC     28
#define VIRTIO_RING_F_EVENT_IDX         29
#define VIRTIO_F_VERSION_1              32
#define VIRTIO_F_ACCESS_PLATFORM        33

/* Split ring layout. */
#define VRING_DESC_F_NEXT               1
#define VRING_DESC_F_WRITE              2
#define VRING_DESC_F_INDIRECT           4
#define VRING_AVAIL_F_NO_INTERRUPT      1
#define VRING_USED_F_NO_NOTIFY          1

#define VIRTQUEUE_MAX_SIZE              1024
#define VIRTIO_NO_VECTOR                0xffff

/* One request: the chain at avail ring entry @head, mapped to host
 * memory. out = device-readable, in = device-writable. */
typedef struct VirtQueueElement {
    unsigned index;            /* head descriptor */
    unsigned out_num, in_num;
    struct iovec *out_sg;      /* host pointers into guest RAM */
    struct iovec *in_sg;
    uint64_t out_len, in_len;  /* totals */
} VirtQueueElement;

typedef struct VirtioDeviceOps {
    /* Fill/accept the device-specific config space (little endian). */
    void (*get_config)(VirtIODevice *vdev, uint8_t *config);
    void (*set_config)(VirtIODevice *vdev, const uint8_t *config);
    /* The driver wrote the status register (after the core's checks). */
    void (*set_status)(VirtIODevice *vdev, uint8_t status);
    /* Device reset: drop in-flight state (wait for requests first). */
    void (*reset)(VirtIODevice *vdev);
    /* The driver notified queue @vq. */
    void (*handle_output)(VirtIODevice *vdev, VirtQueue *vq);
} VirtioDeviceOps;

/* What a transport provides to the core. */
typedef struct VirtioTransportOps {
    /* Raise the interrupt for @vector (MSI-X), or INTx when none. */
    void (*notify)(void *opaque, uint16_t vector);
} VirtioTransportOps;

struct VirtIODevice {
    const char *name;          /* "virtio-blk" */
    uint16_t device_id;        /* VIRTIO_ID_* (2 = block) */
    Machine *machine;
    const VirtioDeviceOps *ops;
    const VirtioTransportOps *transport;
    void *transport_opaque;

    uint64_t host_features;    /* offered */
    uint64_t guest_features;   /* accepted by the driver */
    uint8_t status;
    uint8_t isr;               /* bit 0 queue, bit 1 config change */
    uint16_t config_vector;
    uint32_t config_generation;
    size_t config_len;
    uint8_t *config;           /* config_len bytes, filled by get_config */

    unsigned num_queues;
    VirtQueue *vq;             /* num_queues of them */
    bool broken;               /* set by virtio_error until reset */
};

/* Sets @vdev up with @num_queues queues of at most @queue_max_size
 * entries (a power of two), offering VERSION_1, INDIRECT_DESC and
 * EVENT_IDX besides the device's own @features. */
void virtio_init(VirtIODevice *vdev, Machine *m, const char *name,
                 uint16_t device_id, uint64_t features, size_t config_len,
                 unsigned num_queues, unsigned queue_max_size,
                 const VirtioDeviceOps *ops);
void virtio_cleanup(VirtIODevice *vdev);
void virtio_reset(VirtIODevice *vdev);
/* The driver's status write; FEATURES_OK is refused (left clear) when
 * the accepted features are not a subset of the offered ones. */
void virtio_set_status(VirtIODevice *vdev, uint8_t status);
bool virtio_has_feature(VirtIODevice *vdev, unsigned bit);  /* accepted */
/* A guest error: logs it, marks NEEDS_RESET, stops processing. */
void virtio_error(VirtIODevice *vdev, const char *fmt, ...)
    G_GNUC_PRINTF(2, 3);
/* Config space changed: raise the config interrupt. */
void virtio_notify_config(VirtIODevice *vdev);

/* ---- queues ---- */
VirtQueue *virtio_get_queue(VirtIODevice *vdev, unsigned n);
unsigned virtio_queue_index(VirtQueue *vq);
/* The transport's view of queue registers. */
void virtio_queue_set_num(VirtQueue *vq, unsigned num);
unsigned virtio_queue_get_num(VirtQueue *vq);
unsigned virtio_queue_get_max_num(VirtQueue *vq);
void virtio_queue_set_addrs(VirtQueue *vq, uint64_t desc, uint64_t avail,
                            uint64_t used);
void virtio_queue_get_addrs(VirtQueue *vq, uint64_t *desc, uint64_t *avail,
                            uint64_t *used);
void virtio_queue_set_enabled(VirtQueue *vq, bool enabled);
bool virtio_queue_enabled(VirtQueue *vq);
void virtio_queue_set_vector(VirtQueue *vq, uint16_t vector);
uint16_t virtio_queue_vector(VirtQueue *vq);
/* The driver notified the queue: calls the device's handle_output. */
void virtio_queue_notify(VirtIODevice *vdev, unsigned n);

/* Takes the next available request, or NULL (none, or the ring is
 * broken: then virtio_error was called). Free with virtqueue_push or
 * virtqueue_detach_element. */
VirtQueueElement *virtqueue_pop(VirtQueue *vq);
/* Returns @elem to the driver with @len bytes written into in_sg, frees
 * it, and tells the interpreter about the RAM written. Does not raise the
 * interrupt: call virtio_notify after a batch. */
void virtqueue_push(VirtQueue *vq, VirtQueueElement *elem, uint32_t len);
/* Frees an element that will not be returned (device reset). */
void virtqueue_detach_element(VirtQueue *vq, VirtQueueElement *elem);
/* Interrupts the driver for @vq unless it suppressed it (NO_INTERRUPT or
 * used_event with EVENT_IDX). */
void virtio_notify(VirtIODevice *vdev, VirtQueue *vq);
/* Enables/suppresses notifications from the driver (NO_NOTIFY or
 * avail_event); re-check the ring after enabling. */
void virtio_queue_set_notification(VirtQueue *vq, bool enable);
bool virtio_queue_empty(VirtQueue *vq);

/* iov_from_buf(), iov_to_buf(): lemu/util/iov.h. */

#endif
