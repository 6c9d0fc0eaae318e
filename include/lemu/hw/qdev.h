/*
 * Device model: every device, board-built or from -device, is created
 * through one registry of DeviceClasses (name, typed properties with
 * defaults, realize). Each device keeps its state in one struct whose first
 * member is a Device, and describes its state fields in a VMStateField
 * table next to the struct, so that info qtree, savevm and migration can
 * walk the state without device-specific code.
 */
#ifndef LEMU_HW_QDEV_H
#define LEMU_HW_QDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <glib.h>
#include "lemu/util/opts.h"

typedef struct Machine Machine;
typedef struct Device Device;

typedef enum {
    PROP_BOOL,      /* bool */
    PROP_U8,        /* uint8_t */
    PROP_U16,       /* uint16_t */
    PROP_U32,       /* uint32_t */
    PROP_U64,       /* uint64_t */
    PROP_SIZE,      /* uint64_t, with K/M/G suffixes */
    PROP_STRING,    /* char *, owned by the device */
    PROP_CHARDEV,   /* Chardev *, given as the chardev's id */
} PropType;

typedef struct DeviceProperty {
    const char *name;
    PropType type;
    size_t offset;            /* of the field in the device struct */
    const char *default_value; /* NULL: zero / NULL */
    const char *desc;
} DeviceProperty;

#define DEFINE_PROP(_name, _type, _state, _field, _def, _desc) \
    { .name = (_name), .type = (_type), .offset = offsetof(_state, _field), \
      .default_value = (_def), .desc = (_desc) }
#define DEFINE_PROP_END { .name = NULL }

typedef enum {
    VMS_BOOL,
    VMS_U8,
    VMS_U16,
    VMS_U32,
    VMS_U64,
    VMS_I64,
} VMStateType;

/* One field of saved state; count > 1 for arrays. */
typedef struct VMStateField {
    const char *name;
    VMStateType type;
    size_t offset;
    size_t count;
} VMStateField;

#define VMSTATE(_state, _field, _type) \
    { .name = #_field, .type = (_type), .offset = offsetof(_state, _field), \
      .count = 1 }
#define VMSTATE_ARRAY(_state, _field, _type, _n) \
    { .name = #_field, .type = (_type), .offset = offsetof(_state, _field), \
      .count = (_n) }
#define VMSTATE_END { .name = NULL }

typedef struct DeviceClass {
    const char *name;              /* "isa-serial", "isa-debug-exit" */
    const char *desc;
    size_t instance_size;
    bool user_creatable;           /* may be given with -device */
    const DeviceProperty *props;   /* ends with DEFINE_PROP_END */
    const VMStateField *vmstate;   /* ends with VMSTATE_END */
    /* Claims ports/MMIO, IRQs and chardevs; fails cleanly (no leftovers). */
    bool (*realize)(Device *dev, GError **errp);
    void (*reset)(Device *dev);            /* may be NULL */
    void (*unrealize)(Device *dev);        /* may be NULL */
    /* The VM started running (@running) or stopped; may be NULL. */
    void (*vm_state_change)(Device *dev, bool running);
} DeviceClass;

struct Device {
    const DeviceClass *cls;
    Machine *machine;
    char *id;                      /* -device ...,id=; may be NULL */
    bool realized;
};

/* Looks a class up in the registry; NULL if there is none. */
const DeviceClass *device_class_find(const char *name);
/* Prints the user-creatable devices (-device help) or one's properties. */
void device_class_print_list(FILE *out);
void device_class_print_props(FILE *out, const DeviceClass *cls);

/* A new, unrealized device with its defaults applied. */
Device *device_new(Machine *m, const char *name, GError **errp);
/* Same, for a class that need not be in the registry (board-internal
 * helpers, unit tests). */
Device *device_new_from_class(Machine *m, const DeviceClass *cls,
                              GError **errp);
bool device_set_prop(Device *dev, const char *prop, const char *value,
                     GError **errp);
/* Frees a device that was never realized (property errors). */
void device_free(Device *dev);
/* Realizes @dev and adds it to m->devices; on failure frees it. */
bool device_realize(Device *dev, GError **errp);
/* -device NAME,prop=value,...: new + props + realize. */
Device *device_create_from_opts(Machine *m, LemuOpts *opts, GError **errp);
/* Unrealizes (reverse order) and frees every device of @m. */
void device_destroy_all(Machine *m);
void device_reset_all(Machine *m);
/* Tells every device with a vm_state_change hook, in creation order. */
void device_vm_state_change_all(Machine *m, bool running);

#define DEVICE(obj) ((Device *)(obj))

#endif
