/*
 * The null backend: output is discarded, there is never input.
 */
#include "chardev/chardev-internal.h"

static size_t null_write(Chardev *chr, const uint8_t *buf, size_t len)
{
    return len;
}

static void null_set_watch(Chardev *chr, bool input, bool output)
{
}

static int null_output_fd(Chardev *chr)
{
    return -1;
}

static char *null_describe(Chardev *chr)
{
    return g_strdup("null");
}

static void null_free(Chardev *chr)
{
}

static const ChardevBackendOps null_ops = {
    .name = "null",
    .write = null_write,
    .set_watch = null_set_watch,
    .output_fd = null_output_fd,
    .describe = null_describe,
    .free = null_free,
};

Chardev *chardev_null_open(MainLoop *loop, const char *id, LemuOpts *opts,
                           GError **errp)
{
    Chardev *chr = chardev_alloc(sizeof(Chardev), &null_ops, loop, id);

    chardev_set_open(chr, true);
    return chr;
}
