/*
 * What the chardev tests share: a recording frontend, temporary
 * directories, and the client end of a unix socket.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include "chardev-fixture.h"
#include "lemu/util/opts.h"


static size_t fe_can_receive(void *opaque)
{
    return ((TestFrontend *)opaque)->room;
}

static void fe_receive(void *opaque, const uint8_t *buf, size_t len)
{
    TestFrontend *fe = opaque;

    /* The backend must never hand over more than can_receive() allowed. */
    g_assert_cmpuint(len, >, 0);
    g_assert_cmpuint(len, <=, fe->room);
    fe->room -= len;
    g_byte_array_append(fe->got, buf, len);
}

static void fe_event(void *opaque, ChardevEvent event)
{
    TestFrontend *fe = opaque;

    if (event == CHARDEV_EVENT_OPENED) {
        fe->opened++;
    } else {
        fe->closed++;
    }
}

const ChardevFrontendOps fe_ops = {
    .can_receive = fe_can_receive,
    .receive = fe_receive,
    .event = fe_event,
};

void fe_init(TestFrontend *fe, size_t room)
{
    memset(fe, 0, sizeof(*fe));
    fe->room = room;
    fe->got = g_byte_array_new();
}

void fe_clear(TestFrontend *fe)
{
    g_byte_array_free(fe->got, TRUE);
}

/* Runs the loop until @cond holds, for at most five seconds. */
char *make_tmpdir(void)
{
    GError *err = NULL;
    char *dir = g_dir_make_tmp("lemu-chardev-XXXXXX", &err);

    g_assert_no_error(err);
    return dir;
}

Chardev *new_from_cmdline(MainLoop *loop, const char *str,
                                 GError **errp)
{
    LemuOpts *opts = opts_parse("-chardev", str, "backend", errp);
    Chardev *chr;

    if (!opts) {
        return NULL;
    }
    chr = chardev_new_from_opts(loop, opts, errp);
    opts_free(opts);
    return chr;
}

int connect_unix(const char *path)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpuint(strlen(path), <, sizeof(addr.sun_path));
    strcpy(addr.sun_path, path);
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Reads from @fd until @len bytes arrived, running @loop meanwhile. */
void client_read_exact(MainLoop *loop, int fd, uint8_t *buf,
                              size_t len)
{
    size_t got = 0;
    gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

    while (got < len && g_get_monotonic_time() < deadline) {
        ssize_t n = recv(fd, buf + got, len - got, MSG_DONTWAIT);
        if (n > 0) {
            got += n;
        } else {
            g_assert_true(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
            if (!main_loop_iterate(loop, false)) {
                g_usleep(500);
            }
        }
    }
    g_assert_cmpuint(got, ==, len);
}

/* True once the server closed @fd (recv returns 0). */
bool client_sees_eof(MainLoop *loop, int fd)
{
    uint8_t c;

    for (int i = 0; i < 2000; i++) {
        ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT);
        if (n == 0) {
            return true;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            return true;    /* reset: closed as well */
        }
        main_loop_iterate(loop, false);
        g_usleep(500);
    }
    return false;
}

gpointer wait_client_thread(gpointer opaque)
{
    WaitClient *wc = opaque;

    for (int i = 0; i < 5000 && wc->fd < 0; i++) {
        wc->fd = connect_unix(wc->path);
        if (wc->fd < 0) {
            g_usleep(1000);
        }
    }
    if (wc->fd >= 0) {
        g_assert_cmpint(send(wc->fd, "hi", 2, 0), ==, 2);
    }
    return NULL;
}
