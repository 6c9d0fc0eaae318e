/*
 * Device model core: class lookup in the registry, typed properties with
 * defaults, and the life cycle (new, set properties, realize, reset,
 * unrealize) of every device of a machine.
 */
#include <inttypes.h>
#include <string.h>
#include "lemu/hw/qdev.h"
#include "lemu/system/machine.h"
#include "lemu/util/log.h"
#include "hw/device-classes.h"

const DeviceClass *device_class_find(const char *name)
{
    if (!name) {
        return NULL;
    }
    for (size_t i = 0; i < device_registry_len; i++) {
        const DeviceClass *cls = device_registry[i];

        if (cls && strcmp(cls->name, name) == 0) {
            return cls;
        }
    }
    return NULL;
}

static const char *prop_type_name(PropType type)
{
    switch (type) {
    case PROP_BOOL:
        return "bool";
    case PROP_U8:
        return "uint8";
    case PROP_U16:
        return "uint16";
    case PROP_U32:
        return "uint32";
    case PROP_U64:
        return "uint64";
    case PROP_SIZE:
        return "size";
    case PROP_STRING:
        return "str";
    case PROP_CHARDEV:
        return "chardev";
    }
    return "?";
}

static gint compare_class_names(gconstpointer a, gconstpointer b)
{
    const DeviceClass *ca = *(const DeviceClass *const *)a;
    const DeviceClass *cb = *(const DeviceClass *const *)b;

    return strcmp(ca->name, cb->name);
}

void device_class_print_list(FILE *out)
{
    g_autoptr(GPtrArray) list = g_ptr_array_new();

    for (size_t i = 0; i < device_registry_len; i++) {
        const DeviceClass *cls = device_registry[i];

        if (cls && cls->user_creatable) {
            g_ptr_array_add(list, (gpointer)cls);
        }
    }
    g_ptr_array_sort(list, compare_class_names);
    for (guint i = 0; i < list->len; i++) {
        const DeviceClass *cls = g_ptr_array_index(list, i);

        if (cls->desc) {
            fprintf(out, "name \"%s\", desc \"%s\"\n", cls->name, cls->desc);
        } else {
            fprintf(out, "name \"%s\"\n", cls->name);
        }
    }
}

void device_class_print_props(FILE *out, const DeviceClass *cls)
{
    const DeviceProperty *p;

    if (!cls->props || !cls->props[0].name) {
        fprintf(out, "There are no options for %s.\n", cls->name);
        return;
    }
    fprintf(out, "%s options:\n", cls->name);
    for (p = cls->props; p->name; p++) {
        g_autofree char *left = g_strdup_printf("%s=<%s>", p->name,
                                                prop_type_name(p->type));

        fprintf(out, "  %-24s -", left);
        if (p->desc) {
            fprintf(out, " %s", p->desc);
        }
        if (p->default_value) {
            fprintf(out, " (default: %s)", p->default_value);
        }
        fputc('\n', out);
    }
}

static const DeviceProperty *device_find_prop(const DeviceClass *cls,
                                              const char *name)
{
    for (const DeviceProperty *p = cls->props; p && p->name; p++) {
        if (strcmp(p->name, name) == 0) {
            return p;
        }
    }
    return NULL;
}

static void *prop_field(Device *dev, const DeviceProperty *p)
{
    return (char *)dev + p->offset;
}

void device_free(Device *dev)
{
    if (!dev) {
        return;
    }
    g_return_if_fail(!dev->realized);
    for (const DeviceProperty *p = dev->cls->props; p && p->name; p++) {
        if (p->type == PROP_STRING) {
            char **field = prop_field(dev, p);

            g_free(*field);
            *field = NULL;
        }
    }
    g_free(dev->id);
    g_free(dev);
}

Device *device_new_from_class(Machine *m, const DeviceClass *cls,
                              GError **errp)
{
    Device *dev;

    g_return_val_if_fail(cls != NULL, NULL);
    if (cls->instance_size < sizeof(Device)) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                    "device '%s': instance size %zu is smaller than a Device",
                    cls->name, cls->instance_size);
        return NULL;
    }
    dev = g_malloc0(cls->instance_size);
    dev->cls = cls;
    dev->machine = m;
    for (const DeviceProperty *p = cls->props; p && p->name; p++) {
        if (p->default_value &&
            !device_set_prop(dev, p->name, p->default_value, errp)) {
            g_prefix_error(errp, "default of ");
            device_free(dev);
            return NULL;
        }
    }
    return dev;
}

Device *device_new(Machine *m, const char *name, GError **errp)
{
    const DeviceClass *cls = device_class_find(name);

    if (!cls) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_NOT_FOUND,
                    "'%s' is not a valid device model name",
                    name ? name : "");
        return NULL;
    }
    return device_new_from_class(m, cls, errp);
}

static bool prop_set_uint(Device *dev, const DeviceProperty *p,
                          const char *what, const char *value,
                          GError **errp)
{
    uint64_t v, max;

    if (!parse_u64(what, value, &v, errp)) {
        return false;
    }
    switch (p->type) {
    case PROP_U8:
        max = UINT8_MAX;
        break;
    case PROP_U16:
        max = UINT16_MAX;
        break;
    case PROP_U32:
        max = UINT32_MAX;
        break;
    default:
        max = UINT64_MAX;
        break;
    }
    if (v > max) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s must be at most %" PRIu64, what, max);
        return false;
    }
    switch (p->type) {
    case PROP_U8:
        *(uint8_t *)prop_field(dev, p) = v;
        break;
    case PROP_U16:
        *(uint16_t *)prop_field(dev, p) = v;
        break;
    case PROP_U32:
        *(uint32_t *)prop_field(dev, p) = v;
        break;
    default:
        *(uint64_t *)prop_field(dev, p) = v;
        break;
    }
    return true;
}

bool device_set_prop(Device *dev, const char *prop, const char *value,
                     GError **errp)
{
    const DeviceClass *cls = dev->cls;
    const DeviceProperty *p = device_find_prop(cls, prop);
    g_autofree char *what = NULL;

    if (!p) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_NOT_FOUND,
                    "Property '%s' not found in device '%s'", prop,
                    cls->name);
        return false;
    }
    what = g_strdup_printf("%s: property '%s'", cls->name, prop);
    if (dev->realized) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s cannot be changed after the device is realized",
                    what);
        return false;
    }
    if (!value) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s needs a value", what);
        return false;
    }

    switch (p->type) {
    case PROP_BOOL:
        return parse_bool(what, value, (bool *)prop_field(dev, p), errp);
    case PROP_U8:
    case PROP_U16:
    case PROP_U32:
    case PROP_U64:
        return prop_set_uint(dev, p, what, value, errp);
    case PROP_SIZE:
        return parse_size(what, value, 1, (uint64_t *)prop_field(dev, p),
                          errp);
    case PROP_STRING: {
        char **field = prop_field(dev, p);

        g_free(*field);
        *field = g_strdup(value);
        return true;
    }
    case PROP_CHARDEV: {
        Chardev *chr = dev->machine ? machine_find_chardev(dev->machine,
                                                           value) : NULL;

        if (!chr) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_NOT_FOUND,
                        "%s: no chardev with id '%s'", what, value);
            return false;
        }
        *(Chardev **)prop_field(dev, p) = chr;
        return true;
    }
    }
    g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                "%s has an unknown type %d", what, (int)p->type);
    return false;
}

bool device_realize(Device *dev, GError **errp)
{
    Machine *m = dev->machine;

    if (dev->realized) {
        return true;
    }
    if (dev->cls->realize && !dev->cls->realize(dev, errp)) {
        device_free(dev);
        return false;
    }
    dev->realized = true;
    if (m && m->devices) {
        g_ptr_array_add(m->devices, dev);
    }
    return true;
}

static bool device_id_in_use(Machine *m, const char *id)
{
    for (guint i = 0; m->devices && i < m->devices->len; i++) {
        Device *dev = g_ptr_array_index(m->devices, i);

        if (g_strcmp0(dev->id, id) == 0) {
            return true;
        }
    }
    return false;
}

Device *device_create_from_opts(Machine *m, LemuOpts *opts, GError **errp)
{
    const char *driver = opts_get(opts, "driver");
    const char *id = opts_get(opts, "id");
    const DeviceClass *cls;
    Device *dev;

    if (!driver) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "Parameter 'driver' is missing");
        return NULL;
    }
    cls = device_class_find(driver);
    if (!cls) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_NOT_FOUND,
                    "'%s' is not a valid device model name", driver);
        return NULL;
    }
    if (!cls->user_creatable) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "Parameter 'driver' expects a pluggable device type: "
                    "'%s' is built into the board and cannot be added with "
                    "-device", driver);
        return NULL;
    }
    if (id && device_id_in_use(m, id)) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "Duplicate device ID '%s'", id);
        return NULL;
    }

    dev = device_new_from_class(m, cls, errp);
    if (!dev) {
        return NULL;
    }
    dev->id = g_strdup(id);
    for (guint i = 0; i < opts_count(opts); i++) {
        const char *key = opts_key_at(opts, i);

        if (strcmp(key, "driver") == 0 || strcmp(key, "id") == 0) {
            continue;
        }
        if (!device_set_prop(dev, key, opts_value_at(opts, i), errp)) {
            device_free(dev);
            return NULL;
        }
    }
    if (!device_realize(dev, errp)) {
        return NULL;
    }
    return dev;
}

void device_destroy_all(Machine *m)
{
    if (!m->devices) {
        return;
    }
    for (guint i = m->devices->len; i > 0; i--) {
        Device *dev = g_ptr_array_index(m->devices, i - 1);

        if (dev->cls->unrealize) {
            dev->cls->unrealize(dev);
        }
        dev->realized = false;
        device_free(dev);
    }
    g_ptr_array_set_size(m->devices, 0);
}

void device_reset_all(Machine *m)
{
    for (guint i = 0; m->devices && i < m->devices->len; i++) {
        Device *dev = g_ptr_array_index(m->devices, i);

        if (dev->cls->reset) {
            dev->cls->reset(dev);
        }
    }
}

void device_vm_state_change_all(Machine *m, bool running)
{
    for (guint i = 0; m->devices && i < m->devices->len; i++) {
        Device *dev = g_ptr_array_index(m->devices, i);

        if (dev->cls->vm_state_change) {
            dev->cls->vm_state_change(dev, running);
        }
    }
}
