/*
 * The file backend: output appended to or replacing a file, no input.
 * -chardev file,id=ID,path=PATH[,append=on] and -serial file:PATH.
 *
 * The fd is non-blocking, so a FIFO or a terminal named as the file that
 * stops reading fills the output buffer instead of stalling the VM.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include "chardev/chardev-internal.h"
#include "lemu/util/log.h"

typedef struct FileChardev {
    Chardev parent;
    char *path;
    bool append;
    int fd;
    FdHandler *out_handler;
    GIOCondition events;
    bool dead;                   /* a write failed: output is discarded */
} FileChardev;

static void file_output_failed(FileChardev *f, int err)
{
    if (!f->dead) {
        warn_report("chardev '%s': writing '%s' failed: %s; discarding "
                    "further output", f->parent.id, f->path, g_strerror(err));
    }
    f->dead = true;
    if (f->out_handler) {
        fd_handler_remove(f->out_handler);
        f->out_handler = NULL;
    }
}

static size_t file_write(Chardev *chr, const uint8_t *buf, size_t len)
{
    FileChardev *f = (FileChardev *)chr;
    ssize_t n;

    if (f->dead) {
        return len;
    }
    do {
        n = write(f->fd, buf, len);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return 0;
        }
        file_output_failed(f, errno);
        return len;
    }
    return n;
}

static void file_fd_ready(void *opaque, int fd, GIOCondition ready)
{
    FileChardev *f = opaque;

    if (ready & G_IO_OUT) {
        chardev_output_ready(&f->parent);
    } else if (ready & (G_IO_ERR | G_IO_HUP)) {
        /* A FIFO whose reader went away. */
        file_output_failed(f, EPIPE);
        chardev_drop_output(&f->parent);
    }
}

static void file_set_watch(Chardev *chr, bool input, bool output)
{
    FileChardev *f = (FileChardev *)chr;
    GIOCondition events = output ? G_IO_OUT : 0;

    if (f->out_handler && events != f->events) {
        fd_handler_set_events(f->out_handler, events);
        f->events = events;
    }
}

static int file_output_fd(Chardev *chr)
{
    FileChardev *f = (FileChardev *)chr;

    return f->dead ? -1 : f->fd;
}

static char *file_describe(Chardev *chr)
{
    FileChardev *f = (FileChardev *)chr;

    return g_strdup_printf("file:%s", f->path);
}

static void file_free(Chardev *chr)
{
    FileChardev *f = (FileChardev *)chr;

    if (f->out_handler) {
        fd_handler_remove(f->out_handler);
    }
    if (f->fd >= 0) {
        close(f->fd);
    }
    g_free(f->path);
}

static const ChardevBackendOps file_ops = {
    .name = "file",
    .write = file_write,
    .set_watch = file_set_watch,
    .output_fd = file_output_fd,
    .describe = file_describe,
    .free = file_free,
};

Chardev *chardev_file_open(MainLoop *loop, const char *id, LemuOpts *opts,
                           GError **errp)
{
    const char *path = opts_get(opts, "path");
    bool append;
    FileChardev *f;
    int fd;

    if (!path || !*path) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: chardev '%s': the file backend needs path=PATH",
                    opts_name(opts), id);
        return NULL;
    }
    if (!opts_get_bool(opts, "append", false, &append, errp)) {
        return NULL;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_NOCTTY | O_NONBLOCK | O_CLOEXEC |
                    (append ? O_APPEND : O_TRUNC), 0666);
    if (fd < 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                    "%s: chardev '%s': could not open '%s': %s",
                    opts_name(opts), id, path, g_strerror(errno));
        return NULL;
    }

    f = chardev_alloc(sizeof(*f), &file_ops, loop, id);
    f->path = g_strdup(path);
    f->append = append;
    f->fd = fd;
    f->out_handler = main_loop_add_fd(loop, fd, 0, file_fd_ready, f);
    chardev_set_open(&f->parent, true);
    return &f->parent;
}
