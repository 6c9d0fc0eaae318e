/*
 * The virtio 1.x PCI transport (modern only): vendor 0x1af4, device
 * 0x1040 + virtio device id, the common/notify/ISR/device config
 * structures described by vendor capabilities in one 32-bit memory BAR
 * (BAR 4), and MSI-X in BAR 1. A virtio PCI device
 * embeds a VirtIOPCIProxy next to its VirtIODevice.
 */
#ifndef LEMU_HW_VIRTIO_VIRTIO_PCI_H
#define LEMU_HW_VIRTIO_VIRTIO_PCI_H

#include "lemu/hw/pci/pci.h"
#include "lemu/hw/virtio/virtio.h"

#define PCI_VENDOR_ID_REDHAT_QUMRANET   0x1af4
#define PCI_DEVICE_ID_VIRTIO_MODERN(id) (0x1040 + (id))
#define PCI_SUBSYSTEM_VENDOR_ID_REDHAT  0x1af4

typedef struct VirtIOPCIProxy VirtIOPCIProxy;
typedef struct FdHandler FdHandler;

/* One queue's notification through an eventfd the accelerator signals
 * (KVM ioeventfd), so that the vCPU does not stop for it. */
typedef struct VirtIOPCINotifier {
    VirtIOPCIProxy *proxy;
    unsigned queue;
    int fd;                    /* the eventfd; -1 while not attached */
    uint64_t addr;             /* the guest address it is attached to */
    FdHandler *handler;
} VirtIOPCINotifier;

struct VirtIOPCIProxy {
    PciDevice pci;
    Machine *machine;
    VirtIODevice *vdev;
    unsigned nvectors;         /* MSI-X vectors; 0: INTx only */
    uint32_t device_feature_select;
    uint32_t driver_feature_select;
    uint16_t queue_select;
    int intx_pending;
    uint8_t pci_cfg_cap;       /* offset of the PCI cfg access capability */
    /* ioeventfd=on (the device's property), until the host refuses one. */
    bool use_ioeventfd;
    VirtIOPCINotifier *notifiers;   /* one per queue */
};

/* Attaches @vdev to a PCI function on @m's bus (@devfn < 0: first free
 * slot) with @class_code, @nvectors MSI-X vectors. Set use_ioeventfd
 * before, to take queue notifications through eventfds where the
 * accelerator can. */
bool virtio_pci_realize(VirtIOPCIProxy *proxy, Machine *m,
                        VirtIODevice *vdev, const char *name, int devfn,
                        uint32_t class_code, unsigned nvectors,
                        GError **errp);
void virtio_pci_unrealize(VirtIOPCIProxy *proxy);
void virtio_pci_reset(VirtIOPCIProxy *proxy);

#endif
