/*
 * Character devices: the file, null, unix socket and stdio backends, as a
 * frontend (a UART) and a user (a file, a socket client, a terminal) see
 * them; and the errors for bad -chardev / -serial options.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include "fixture.h"

#include "lemu/chardev/chardev.h"
#include "lemu/util/log.h"
#include "lemu/util/main-loop.h"
#include "lemu/util/opts.h"

/* A frontend that takes at most @room more bytes, as a UART FIFO would. */
typedef struct TestFrontend {
    size_t room;
    GByteArray *got;
    int opened, closed;
} TestFrontend;

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

static const ChardevFrontendOps fe_ops = {
    .can_receive = fe_can_receive,
    .receive = fe_receive,
    .event = fe_event,
};

static void fe_init(TestFrontend *fe, size_t room)
{
    memset(fe, 0, sizeof(*fe));
    fe->room = room;
    fe->got = g_byte_array_new();
}

static void fe_clear(TestFrontend *fe)
{
    g_byte_array_free(fe->got, TRUE);
}

/* Runs the loop until @cond holds, for at most five seconds. */
static char *make_tmpdir(void)
{
    GError *err = NULL;
    char *dir = g_dir_make_tmp("lemu-chardev-XXXXXX", &err);

    g_assert_no_error(err);
    return dir;
}

static Chardev *new_from_cmdline(MainLoop *loop, const char *str,
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

static char *read_whole_file(const char *path)
{
    char *data = NULL;
    GError *err = NULL;

    g_file_get_contents(path, &data, NULL, &err);
    g_assert_no_error(err);
    return data;
}

static void test_file_backend(void)
{
    MainLoop *loop = main_loop_new(NULL);
    g_autofree char *dir = make_tmpdir();
    g_autofree char *path = g_build_filename(dir, "out.txt", NULL);
    g_autofree char *spec = g_strdup_printf("file:%s", path);
    g_autofree char *desc = NULL;
    g_autofree char *data = NULL;
    GError *err = NULL;
    TestFrontend fe;
    Chardev *chr;

    g_assert_true(g_file_set_contents(path, "old contents\n", -1, NULL));

    /* -serial file:PATH truncates. */
    chr = chardev_new_from_spec(loop, "-serial", spec, "serial0", &err);
    g_assert_no_error(err);
    g_assert_cmpstr(chardev_id(chr), ==, "serial0");
    g_assert_cmpstr(chardev_backend_name(chr), ==, "file");
    g_assert_false(chardev_is_stdio(chr));
    desc = chardev_describe(chr);
    g_assert_cmpstr(desc, ==, spec);

    fe_init(&fe, 16);
    chardev_set_frontend(chr, &fe_ops, &fe);
    g_assert_true(chardev_has_frontend(chr));
    g_assert_cmpint(fe.opened, ==, 1);
    g_assert_cmpuint(chardev_write(chr, (const uint8_t *)"hello\n", 6), ==, 6);
    chardev_flush(chr, 1000);
    data = read_whole_file(path);
    g_assert_cmpstr(data, ==, "hello\n");
    chardev_free(chr);
    g_clear_pointer(&data, g_free);

    /* append=on keeps what is there. */
    {
        g_autofree char *str = g_strdup_printf("file,id=log,path=%s,append=on",
                                               path);
        chr = new_from_cmdline(loop, str, &err);
    }
    g_assert_no_error(err);
    g_assert_cmpstr(chardev_id(chr), ==, "log");
    chardev_write(chr, (const uint8_t *)"more\n", 5);
    chardev_free(chr);
    data = read_whole_file(path);
    g_assert_cmpstr(data, ==, "hello\nmore\n");

    /* Input: none; the frontend is never called. */
    g_assert_cmpuint(fe.got->len, ==, 0);
    fe_clear(&fe);
    unlink(path);
    rmdir(dir);
    main_loop_free(loop);
}

static void test_file_open_error(void)
{
    MainLoop *loop = main_loop_new(NULL);
    GError *err = NULL;

    g_assert_null(chardev_new_from_spec(loop, "-serial",
                                        "file:/nonexistent-dir/x.log",
                                        "serial0", &err));
    g_assert_error(err, LEMU_ERROR, LEMU_ERROR_FAILED);
    g_assert_nonnull(strstr(err->message, "'/nonexistent-dir/x.log'"));
    g_assert_nonnull(strstr(err->message, g_strerror(ENOENT)));
    g_clear_error(&err);

    g_assert_null(new_from_cmdline(loop, "file,id=f", &err));
    g_assert_error(err, LEMU_ERROR, LEMU_ERROR_INVALID);
    g_assert_nonnull(strstr(err->message, "path=PATH"));
    g_clear_error(&err);
    main_loop_free(loop);
}

static void test_null_backend(void)
{
    MainLoop *loop = main_loop_new(NULL);
    GError *err = NULL;
    g_autofree char *desc = NULL;
    TestFrontend fe;
    Chardev *chr = new_from_cmdline(loop, "null,id=n0", &err);

    g_assert_no_error(err);
    g_assert_cmpstr(chardev_backend_name(chr), ==, "null");
    desc = chardev_describe(chr);
    g_assert_cmpstr(desc, ==, "null");
    fe_init(&fe, 16);
    chardev_set_frontend(chr, &fe_ops, &fe);
    g_assert_cmpint(fe.opened, ==, 1);
    /* Everything is taken, none of it comes back. */
    for (int i = 0; i < 100; i++) {
        uint8_t buf[4096] = { 0 };
        g_assert_cmpuint(chardev_write(chr, buf, sizeof(buf)), ==,
                         sizeof(buf));
    }
    fixture_run_for(loop, 10);
    g_assert_cmpuint(fe.got->len, ==, 0);
    chardev_flush(chr, 0);
    chardev_free(chr);
    fe_clear(&fe);
    main_loop_free(loop);
}

static int connect_unix(const char *path)
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
static void client_read_exact(MainLoop *loop, int fd, uint8_t *buf,
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
static bool client_sees_eof(MainLoop *loop, int fd)
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

static void test_socket_server(void)
{
    MainLoop *loop = main_loop_new(NULL);
    g_autofree char *dir = make_tmpdir();
    g_autofree char *path = g_build_filename(dir, "serial.sock", NULL);
    g_autofree char *spec = g_strdup_printf("unix:%s,server=on,wait=off",
                                            path);
    g_autofree char *disconnected = g_strdup_printf(
        "disconnected:unix:%s,server=on", path);
    g_autofree char *connected = g_strdup_printf("unix:%s,server=on", path);
    GError *err = NULL;
    TestFrontend fe;
    struct stat st;
    Chardev *chr;
    char *desc;
    uint8_t buf[64];
    int c1, c2;

    chr = chardev_new_from_spec(loop, "-serial", spec, "serial0", &err);
    g_assert_no_error(err);
    g_assert_cmpstr(chardev_backend_name(chr), ==, "socket");
    g_assert_cmpint(lstat(path, &st), ==, 0);
    g_assert_true(S_ISSOCK(st.st_mode));
    g_assert_cmpint(st.st_mode & 0777, ==, 0600);
    desc = chardev_describe(chr);
    g_assert_cmpstr(desc, ==, disconnected);
    g_free(desc);

    fe_init(&fe, 64);
    chardev_set_frontend(chr, &fe_ops, &fe);
    g_assert_cmpint(fe.opened, ==, 0);

    /* Output with nobody connected is dropped, without blocking. */
    g_assert_cmpuint(chardev_write(chr, (const uint8_t *)"lost", 4), ==, 4);

    c1 = connect_unix(path);
    g_assert_cmpint(c1, >=, 0);
    FIXTURE_RUN_UNTIL(loop, fe.opened == 1);
    desc = chardev_describe(chr);
    g_assert_cmpstr(desc, ==, connected);
    g_free(desc);

    /* Both directions. */
    g_assert_cmpint(send(c1, "ping", 4, 0), ==, 4);
    FIXTURE_RUN_UNTIL(loop, fe.got->len == 4);
    g_assert_cmpmem(fe.got->data, 4, "ping", 4);
    g_assert_cmpuint(chardev_write(chr, (const uint8_t *)"pong", 4), ==, 4);
    client_read_exact(loop, c1, buf, 4);
    g_assert_cmpmem(buf, 4, "pong", 4);

    /* A second client is turned away while the first is attached. */
    c2 = connect_unix(path);
    g_assert_cmpint(c2, >=, 0);
    g_assert_true(client_sees_eof(loop, c2));
    close(c2);
    g_assert_cmpint(fe.opened, ==, 1);
    g_assert_cmpint(fe.closed, ==, 0);

    /* The first one leaves: CLOSED, and the server listens again. */
    close(c1);
    FIXTURE_RUN_UNTIL(loop, fe.closed == 1);
    desc = chardev_describe(chr);
    g_assert_cmpstr(desc, ==, disconnected);
    g_free(desc);

    c2 = connect_unix(path);
    g_assert_cmpint(c2, >=, 0);
    FIXTURE_RUN_UNTIL(loop, fe.opened == 2);
    g_assert_cmpint(send(c2, "again", 5, 0), ==, 5);
    FIXTURE_RUN_UNTIL(loop, fe.got->len == 9);
    g_assert_cmpmem(fe.got->data + 4, 5, "again", 5);
    chardev_write(chr, (const uint8_t *)"back", 4);
    client_read_exact(loop, c2, buf, 4);
    g_assert_cmpmem(buf, 4, "back", 4);
    close(c2);
    FIXTURE_RUN_UNTIL(loop, fe.closed == 2);

    /* Freeing the chardev removes the socket file. */
    chardev_free(chr);
    g_assert_cmpint(lstat(path, &st), ==, -1);
    g_assert_cmpint(errno, ==, ENOENT);
    fe_clear(&fe);
    rmdir(dir);
    main_loop_free(loop);
}

/* Client mode (no server=on): lemu connects to a listener once. */
static void test_socket_client(void)
{
    MainLoop *loop = main_loop_new(NULL);
    g_autofree char *dir = make_tmpdir();
    g_autofree char *path = g_build_filename(dir, "listener.sock", NULL);
    g_autofree char *spec = g_strdup_printf("unix:%s", path);
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    GError *err = NULL;
    TestFrontend fe;
    Chardev *chr;
    char *desc;
    uint8_t buf[8];
    int srv, peer;

    srv = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    g_assert_cmpint(srv, >=, 0);
    strcpy(addr.sun_path, path);
    g_assert_cmpint(bind(srv, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
    g_assert_cmpint(listen(srv, 1), ==, 0);

    chr = chardev_new_from_spec(loop, "-serial", spec, "serial0", &err);
    g_assert_no_error(err);
    g_assert_false(chardev_is_socket_server(chr));
    peer = accept(srv, NULL, NULL);
    g_assert_cmpint(peer, >=, 0);
    desc = chardev_describe(chr);
    g_assert_cmpstr(desc, ==, spec);      /* no ",server=on" */
    g_free(desc);

    /* Connected before the frontend came: it is told at once. */
    fe_init(&fe, 64);
    chardev_set_frontend(chr, &fe_ops, &fe);
    FIXTURE_RUN_UNTIL(loop, fe.opened == 1);
    g_assert_cmpint(send(peer, "ping", 4, 0), ==, 4);
    FIXTURE_RUN_UNTIL(loop, fe.got->len == 4);
    g_assert_cmpmem(fe.got->data, 4, "ping", 4);
    g_assert_cmpuint(chardev_write(chr, (const uint8_t *)"pong", 4), ==, 4);
    client_read_exact(loop, peer, buf, 4);
    g_assert_cmpmem(buf, 4, "pong", 4);

    /* The listener hangs up: CLOSED, and no reconnection. */
    close(peer);
    FIXTURE_RUN_UNTIL(loop, fe.closed == 1);
    g_assert_cmpuint(chardev_write(chr, (const uint8_t *)"lost", 4), ==, 4);
    for (int i = 0; i < 20; i++) {
        main_loop_iterate(loop, false);
    }
    g_assert_cmpint(fe.opened, ==, 1);

    /* Freeing the chardev leaves the listener's socket file alone. */
    chardev_free(chr);
    g_assert_cmpint(access(path, F_OK), ==, 0);
    close(srv);
    unlink(path);
    fe_clear(&fe);
    rmdir(dir);
    main_loop_free(loop);
}

static void test_socket_backpressure(void)
{
    MainLoop *loop = main_loop_new(NULL);
    g_autofree char *dir = make_tmpdir();
    g_autofree char *path = g_build_filename(dir, "s", NULL);
    g_autofree char *str = g_strdup_printf(
        "socket,id=s0,path=%s,server=on,wait=off", path);
    uint8_t data[3000];
    GError *err = NULL;
    TestFrontend fe;
    Chardev *chr;
    int c;

    for (size_t i = 0; i < sizeof(data); i++) {
        data[i] = i * 7 + (i >> 8);
    }
    chr = new_from_cmdline(loop, str, &err);
    g_assert_no_error(err);
    fe_init(&fe, 0);
    chardev_set_frontend(chr, &fe_ops, &fe);
    c = connect_unix(path);
    FIXTURE_RUN_UNTIL(loop, fe.opened == 1);

    /* A full frontend reads nothing; the bytes wait in the socket. */
    g_assert_cmpint(send(c, data, sizeof(data), 0), ==, sizeof(data));
    fixture_run_for(loop, 20);
    g_assert_cmpuint(fe.got->len, ==, 0);

    /* Room for 16 at a time, as a FIFO the guest drains: every byte
     * arrives, in order, none dropped, never more than the room. */
    while (fe.got->len < sizeof(data)) {
        size_t before = fe.got->len;

        fe.room = 16;
        chardev_accept_input(chr);
        FIXTURE_RUN_UNTIL(loop, fe.room == 0 || fe.got->len == sizeof(data));
        g_assert_cmpuint(fe.got->len - before, <=, 16);
    }
    g_assert_cmpmem(fe.got->data, fe.got->len, data, sizeof(data));

    /* The client sends and hangs up while the frontend is full: what it
     * sent is still delivered before CLOSED. */
    fe.room = 0;
    g_assert_cmpint(send(c, "bye", 3, 0), ==, 3);
    close(c);
    fixture_run_for(loop, 20);
    g_assert_cmpint(fe.closed, ==, 0);
    fe.room = 100;
    chardev_accept_input(chr);
    FIXTURE_RUN_UNTIL(loop, fe.closed == 1);
    g_assert_cmpuint(fe.got->len, ==, sizeof(data) + 3);
    g_assert_cmpmem(fe.got->data + sizeof(data), 3, "bye", 3);

    chardev_free(chr);
    fe_clear(&fe);
    rmdir(dir);
    main_loop_free(loop);
}

/* A client that does not read: the VM must not stall, the oldest output
 * is kept (up to the buffer) and arrives once the client reads. */
static void test_socket_output_stall(void)
{
    MainLoop *loop = main_loop_new(NULL);
    g_autofree char *dir = make_tmpdir();
    g_autofree char *path = g_build_filename(dir, "s", NULL);
    g_autofree char *spec = g_strdup_printf("unix:%s,server=on,wait=off",
                                            path);
    const size_t total = 4 << 20;
    g_autofree uint8_t *out = g_malloc(total);
    g_autofree uint8_t *in = g_malloc(total);
    size_t accepted = 0, got = 0;
    GError *err = NULL;
    TestFrontend fe;
    gint64 start, deadline;
    Chardev *chr;
    int c;

    for (size_t i = 0; i < total; i++) {
        out[i] = (i * 13) ^ (i >> 10);
    }
    chr = chardev_new_from_spec(loop, "-serial", spec, "serial0", &err);
    g_assert_no_error(err);
    fe_init(&fe, 0);
    chardev_set_frontend(chr, &fe_ops, &fe);
    c = connect_unix(path);
    FIXTURE_RUN_UNTIL(loop, fe.opened == 1);

    start = g_get_monotonic_time();
    for (size_t off = 0; off < total; off += 4096) {
        accepted += chardev_write(chr, out + off, 4096);
    }
    /* Never blocked, and only part of it fit. */
    g_assert_cmpint(g_get_monotonic_time() - start, <, 2 * G_USEC_PER_SEC);
    g_assert_cmpuint(accepted, <, total);
    g_assert_cmpuint(accepted, >=, 64 * 1024);

    /* A flush with a deadline gives up when nobody reads. */
    start = g_get_monotonic_time();
    chardev_flush(chr, 50);
    g_assert_cmpint(g_get_monotonic_time() - start, <, G_USEC_PER_SEC);

    /* The client reads: it gets exactly the first @accepted bytes. */
    deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
    while (g_get_monotonic_time() < deadline) {
        ssize_t n = recv(c, in + got, total - got, MSG_DONTWAIT);
        if (n > 0) {
            got += n;
            continue;
        }
        if (got == accepted) {
            break;
        }
        if (!main_loop_iterate(loop, false)) {
            g_usleep(200);
        }
    }
    fixture_run_for(loop, 10);
    while (recv(c, in + got, total - got, MSG_DONTWAIT) > 0) {
        g_assert_not_reached();
    }
    g_assert_cmpuint(got, ==, accepted);
    g_assert_cmpmem(in, got, out, accepted);

    close(c);
    FIXTURE_RUN_UNTIL(loop, fe.closed == 1);
    chardev_free(chr);
    fe_clear(&fe);
    rmdir(dir);
    main_loop_free(loop);
}

static void test_socket_stale_and_errors(void)
{
    MainLoop *loop = main_loop_new(NULL);
    g_autofree char *dir = make_tmpdir();
    g_autofree char *path = g_build_filename(dir, "stale.sock", NULL);
    g_autofree char *spec = g_strdup_printf("unix:%s,server=on,wait=off",
                                            path);
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    GError *err = NULL;
    TestFrontend fe;
    Chardev *chr;
    int fd, c;

    /* A socket file left by a dead process. */
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    strcpy(addr.sun_path, path);
    g_assert_cmpint(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
    close(fd);
    g_assert_cmpint(connect_unix(path), ==, -1);

    chr = chardev_new_from_spec(loop, "-serial", spec, "serial0", &err);
    g_assert_no_error(err);
    fe_init(&fe, 16);
    chardev_set_frontend(chr, &fe_ops, &fe);
    c = connect_unix(path);
    g_assert_cmpint(c, >=, 0);
    FIXTURE_RUN_UNTIL(loop, fe.opened == 1);
    close(c);
    chardev_free(chr);
    fe_clear(&fe);

    /* Anything else at the path is left alone. */
    g_assert_true(g_file_set_contents(path, "precious", -1, NULL));
    g_assert_null(chardev_new_from_spec(loop, "-serial", spec, "serial0",
                                        &err));
    g_assert_error(err, LEMU_ERROR, LEMU_ERROR_INVALID);
    g_assert_nonnull(strstr(err->message, path));
    g_assert_nonnull(strstr(err->message, "not a socket"));
    g_clear_error(&err);
    unlink(path);

    /* Client mode with nobody listening. */
    {
        g_autofree char *client = g_strdup_printf("unix:%s", path);
        g_assert_null(chardev_new_from_spec(loop, "-serial", client, "s",
                                            &err));
        g_assert_error(err, LEMU_ERROR, LEMU_ERROR_FAILED);
        g_assert_nonnull(strstr(err->message, "could not connect to"));
        g_assert_nonnull(strstr(err->message, path));
        g_clear_error(&err);
    }

    /* A path longer than sun_path. */
    {
        g_autofree char *longpath = g_strnfill(200, 'x');
        g_autofree char *s = g_strdup_printf("unix:/tmp/%s,server=on,"
                                             "wait=off", longpath);
        g_assert_null(chardev_new_from_spec(loop, "-serial", s, "s", &err));
        g_assert_error(err, LEMU_ERROR, LEMU_ERROR_INVALID);
        g_assert_nonnull(strstr(err->message, "too long"));
        g_clear_error(&err);
    }
    rmdir(dir);
    main_loop_free(loop);
}

typedef struct WaitClient {
    char *path;
    int fd;
} WaitClient;

static gpointer wait_client_thread(gpointer opaque)
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

/* wait=on (the default): creation blocks until a client is there. */
static void test_socket_wait(void)
{
    MainLoop *loop = main_loop_new(NULL);
    g_autofree char *dir = make_tmpdir();
    WaitClient wc = { .path = g_build_filename(dir, "w.sock", NULL),
                      .fd = -1 };
    g_autofree char *spec = g_strdup_printf("unix:%s,server=on", wc.path);
    GError *err = NULL;
    TestFrontend fe;
    GThread *th;
    Chardev *chr;

    th = g_thread_new("client", wait_client_thread, &wc);
    chr = chardev_new_from_spec(loop, "-serial", spec, "serial0", &err);
    g_assert_no_error(err);
    g_thread_join(th);
    g_assert_cmpint(wc.fd, >=, 0);

    fe_init(&fe, 16);
    chardev_set_frontend(chr, &fe_ops, &fe);
    g_assert_cmpint(fe.opened, ==, 1);
    FIXTURE_RUN_UNTIL(loop, fe.got->len == 2);
    g_assert_cmpmem(fe.got->data, 2, "hi", 2);

    close(wc.fd);
    FIXTURE_RUN_UNTIL(loop, fe.closed == 1);
    chardev_free(chr);
    fe_clear(&fe);
    g_free(wc.path);
    rmdir(dir);
    main_loop_free(loop);
}


/* ---- TCP ---- */

static int connect_tcp(int family, const char *addr, int port)
{
    struct sockaddr_storage ss = { 0 };
    socklen_t len;
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

    g_assert_cmpint(fd, >=, 0);
    if (family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(port);
        g_assert_cmpint(inet_pton(AF_INET6, addr, &a->sin6_addr), ==, 1);
        len = sizeof(*a);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons(port);
        g_assert_cmpint(inet_pton(AF_INET, addr, &a->sin_addr), ==, 1);
        len = sizeof(*a);
    }
    if (connect(fd, (struct sockaddr *)&ss, len) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* The local port of the connected socket @fd. */
static int local_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    g_assert_cmpint(getsockname(fd, (struct sockaddr *)&ss, &len), ==, 0);
    if (ss.ss_family == AF_INET6) {
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* The port of a server made with port 0, from its description
 * "disconnected:tcp:HOST:PORT,server=on". */
static int server_port(Chardev *chr)
{
    g_autofree char *desc = chardev_describe(chr);
    const char *end = strstr(desc, ",server=on");
    const char *colon;

    g_assert_true(g_str_has_prefix(desc, "disconnected:tcp:"));
    g_assert_nonnull(end);
    colon = end;
    while (colon > desc && colon[-1] != ':') {
        colon--;
    }
    return atoi(colon);
}

static bool host_has_ipv6_loopback(void)
{
    struct sockaddr_in6 a = { .sin6_family = AF_INET6,
                              .sin6_addr = IN6ADDR_LOOPBACK_INIT };
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;

    if (fd >= 0) {
        close(fd);
    }
    return ok;
}

/* The TCP server as a serial port: one client at a time, both ways, and
 * query-chardev's names for it. */
static void test_tcp_server(void)
{
    MainLoop *loop = main_loop_new(NULL);
    GError *err = NULL;
    TestFrontend fe;
    Chardev *chr;
    uint8_t buf[16];
    char *desc, *expect;
    int port, c1, c2;

    chr = chardev_new_from_spec(loop, "-serial",
                                "tcp:127.0.0.1:0,server=on,wait=off",
                                "serial0", &err);
    g_assert_no_error(err);
    g_assert_cmpstr(chardev_backend_name(chr), ==, "socket");
    port = server_port(chr);
    g_assert_cmpint(port, >, 0);
    fe_init(&fe, 64);
    chardev_set_frontend(chr, &fe_ops, &fe);
    g_assert_cmpint(fe.opened, ==, 0);

    c1 = connect_tcp(AF_INET, "127.0.0.1", port);
    g_assert_cmpint(c1, >=, 0);
    FIXTURE_RUN_UNTIL(loop, fe.opened == 1);
    desc = chardev_describe(chr);
    expect = g_strdup_printf("tcp:127.0.0.1:%d,server=on <-> 127.0.0.1:%d",
                             port, local_port(c1));
    g_assert_cmpstr(desc, ==, expect);
    g_free(desc);
    g_free(expect);

    g_assert_cmpint(send(c1, "ping", 4, 0), ==, 4);
    FIXTURE_RUN_UNTIL(loop, fe.got->len == 4);
    g_assert_cmpmem(fe.got->data, 4, "ping", 4);
    chardev_write(chr, (const uint8_t *)"pong", 4);
    client_read_exact(loop, c1, buf, 4);
    g_assert_cmpmem(buf, 4, "pong", 4);

    /* Urgent data while the frontend is full neither spins the loop nor
     * enters the byte stream. */
    fe.room = 0;
    g_assert_cmpint(send(c1, "ab", 2, 0), ==, 2);
    g_assert_cmpint(send(c1, "!", 1, MSG_OOB), ==, 1);
    g_assert_cmpint(send(c1, "cd", 2, 0), ==, 2);
    fixture_run_for(loop, 50);
    {
        int busy = 0;
        for (int i = 0; i < 100; i++) {
            busy += main_loop_iterate(loop, false);
        }
        g_assert_cmpint(busy, <, 10);
    }
    fe.room = 64;
    chardev_accept_input(chr);
    FIXTURE_RUN_UNTIL(loop, fe.got->len == 8);
    g_assert_cmpmem(fe.got->data + 4, 4, "abcd", 4);

    /* A second client is turned away while the first is attached. */
    c2 = connect_tcp(AF_INET, "127.0.0.1", port);
    g_assert_cmpint(c2, >=, 0);
    g_assert_true(client_sees_eof(loop, c2));
    close(c2);

    /* The frontend hangs up: CLOSED comes from the loop, not at once. */
    chardev_disconnect(chr);
    g_assert_cmpint(fe.closed, ==, 0);
    g_assert_true(client_sees_eof(loop, c1));
    FIXTURE_RUN_UNTIL(loop, fe.closed == 1);
    close(c1);
    desc = chardev_describe(chr);
    expect = g_strdup_printf("disconnected:tcp:127.0.0.1:%d,server=on",
                             port);
    g_assert_cmpstr(desc, ==, expect);
    g_free(desc);
    g_free(expect);

    /* The server goes on listening. */
    c2 = connect_tcp(AF_INET, "127.0.0.1", port);
    g_assert_cmpint(c2, >=, 0);
    FIXTURE_RUN_UNTIL(loop, fe.opened == 2);
    g_assert_cmpint(send(c2, "again", 5, 0), ==, 5);
    FIXTURE_RUN_UNTIL(loop, fe.got->len == 13);
    g_assert_cmpmem(fe.got->data + 8, 5, "again", 5);
    close(c2);
    FIXTURE_RUN_UNTIL(loop, fe.closed == 2);

    chardev_free(chr);
    /* The port is free again. */
    g_assert_cmpint(connect_tcp(AF_INET, "127.0.0.1", port), ==, -1);
    fe_clear(&fe);
    main_loop_free(loop);
}

/* -chardev socket,host=,port= with QEMU's old bare flags; an empty host
 * listens on every address; IPv6 in brackets. */
static void test_tcp_addresses(void)
{
    MainLoop *loop = main_loop_new(NULL);
    bool ipv6 = host_has_ipv6_loopback();
    bool wildcard_v6;
    GError *err = NULL;
    TestFrontend fe;
    LemuOpts *opts;
    Chardev *chr;
    char *desc;
    int port, c;

    opts = chardev_opts_parse("-chardev", "socket,id=mon0,host=,port=0,"
                              "server,nowait", &err);
    g_assert_no_error(err);
    g_assert_cmpstr(opts_get(opts, "server"), ==, "on");
    g_assert_cmpstr(opts_get(opts, "wait"), ==, "off");
    chr = chardev_new_from_opts(loop, opts, &err);
    opts_free(opts);
    g_assert_no_error(err);
    g_assert_cmpstr(chardev_id(chr), ==, "mon0");
    port = server_port(chr);
    /* Named by the wildcard address it got, as QEMU does. */
    desc = chardev_describe(chr);
    wildcard_v6 = g_str_has_prefix(desc, "disconnected:tcp:::");
    g_assert_true(wildcard_v6 ||
                  g_str_has_prefix(desc, "disconnected:tcp:0.0.0.0:"));
    g_free(desc);

    fe_init(&fe, 64);
    chardev_set_frontend(chr, &fe_ops, &fe);
    c = connect_tcp(AF_INET, "127.0.0.1", port);
    g_assert_cmpint(c, >=, 0);
    FIXTURE_RUN_UNTIL(loop, fe.opened == 1);
    close(c);
    FIXTURE_RUN_UNTIL(loop, fe.closed == 1);
    if (wildcard_v6 && ipv6) {
        /* An IPv6 wildcard takes both. */
        c = connect_tcp(AF_INET6, "::1", port);
        g_assert_cmpint(c, >=, 0);
        FIXTURE_RUN_UNTIL(loop, fe.opened == 2);
        close(c);
        FIXTURE_RUN_UNTIL(loop, fe.closed == 2);
    }
    chardev_free(chr);
    fe_clear(&fe);

    if (ipv6) {
        chr = chardev_new_from_spec(loop, "-qmp",
                                    "tcp:[::1]:0,server=on,wait=off",
                                    "compat_monitor0", &err);
        g_assert_no_error(err);
        port = server_port(chr);
        fe_init(&fe, 64);
        chardev_set_frontend(chr, &fe_ops, &fe);
        c = connect_tcp(AF_INET6, "::1", port);
        g_assert_cmpint(c, >=, 0);
        FIXTURE_RUN_UNTIL(loop, fe.opened == 1);
        {
            g_autofree char *expect = g_strdup_printf(
                "tcp:[::1]:%d,server=on <-> [::1]:%d", port, local_port(c));
            desc = chardev_describe(chr);
            g_assert_cmpstr(desc, ==, expect);
            g_free(desc);
        }
        close(c);
        chardev_free(chr);
        fe_clear(&fe);
    } else {
        g_test_message("no IPv6 loopback: [::1] not tested");
    }

    /* "localhost" is a name; the server is named by its address. */
    chr = chardev_new_from_spec(loop, "-serial",
                                "tcp:localhost:0,server,nowait", "s", &err);
    g_assert_no_error(err);
    desc = chardev_describe(chr);
    g_assert_true(g_str_has_prefix(desc, "disconnected:tcp:127.0.0.1:") ||
                  g_str_has_prefix(desc, "disconnected:tcp:::1:"));
    g_free(desc);
    chardev_free(chr);
    main_loop_free(loop);
}

static void test_tcp_port_in_use(void)
{
    MainLoop *loop = main_loop_new(NULL);
    struct sockaddr_in a = { .sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    g_autofree char *spec = NULL, *where = NULL;
    GError *err = NULL;

    g_assert_cmpint(bind(fd, (struct sockaddr *)&a, sizeof(a)), ==, 0);
    g_assert_cmpint(listen(fd, 1), ==, 0);
    g_assert_cmpint(getsockname(fd, (struct sockaddr *)&a, &len), ==, 0);
    spec = g_strdup_printf("tcp:127.0.0.1:%d,server=on,wait=off",
                           ntohs(a.sin_port));
    where = g_strdup_printf("'127.0.0.1:%d'", ntohs(a.sin_port));
    g_assert_null(chardev_new_from_spec(loop, "-qmp", spec,
                                        "compat_monitor0", &err));
    g_assert_error(err, LEMU_ERROR, LEMU_ERROR_FAILED);
    g_assert_nonnull(strstr(err->message, "-qmp"));
    g_assert_nonnull(strstr(err->message, where));
    g_assert_nonnull(strstr(err->message, "Failed to bind socket"));
    g_assert_nonnull(strstr(err->message, g_strerror(EADDRINUSE)));
    g_clear_error(&err);
    close(fd);
    main_loop_free(loop);
}

/* ---- several clients at once ---- */

#define MAX_SERVED 8

typedef struct ServedClient {
    Chardev *chr;
    TestFrontend fe;
} ServedClient;

typedef struct Served {
    ServedClient c[MAX_SERVED];
    int n;
} Served;

static void served_new_client(void *opaque, Chardev *client)
{
    Served *sv = opaque;
    ServedClient *sc;

    g_assert_cmpint(sv->n, <, MAX_SERVED);
    sc = &sv->c[sv->n++];
    sc->chr = client;
    fe_init(&sc->fe, 256);
    chardev_set_frontend(client, &fe_ops, &sc->fe);
    /* A client chardev has its peer from the start. */
    g_assert_cmpint(sc->fe.opened, ==, 1);
}

static void served_free(Served *sv)
{
    for (int i = 0; i < sv->n; i++) {
        chardev_free(sv->c[i].chr);
        fe_clear(&sv->c[i].fe);
    }
}

static void test_serve_clients(void)
{
    MainLoop *loop = main_loop_new(NULL);
    Served sv = { .n = 0 };
    GError *err = NULL;
    Chardev *chr, *null;
    int fds[4], port;
    uint8_t buf[16];

    chr = chardev_new_from_spec(loop, "-qmp",
                                "tcp:127.0.0.1:0,server=on,wait=off", "qmp",
                                &err);
    g_assert_no_error(err);
    port = server_port(chr);
    g_assert_true(chardev_serve_clients(chr, served_new_client, &sv, &err));
    g_assert_no_error(err);
    /* Only once, and only for socket servers. */
    g_assert_false(chardev_serve_clients(chr, served_new_client, &sv, &err));
    g_assert_error(err, LEMU_ERROR, LEMU_ERROR_INVALID);
    g_clear_error(&err);
    null = chardev_new_from_spec(loop, "-serial", "null", "n", &err);
    g_assert_false(chardev_serve_clients(null, served_new_client, &sv, &err));
    g_assert_error(err, LEMU_ERROR, LEMU_ERROR_INVALID);
    g_assert_nonnull(strstr(err->message, "'n'"));
    g_clear_error(&err);
    chardev_disconnect(null);      /* nothing to hang up: harmless */
    chardev_free(null);

    /* Three clients at once, each a chardev of its own. */
    for (int i = 0; i < 3; i++) {
        fds[i] = connect_tcp(AF_INET, "127.0.0.1", port);
        g_assert_cmpint(fds[i], >=, 0);
    }
    FIXTURE_RUN_UNTIL(loop, sv.n == 3);
    for (int i = 0; i < 3; i++) {
        g_autofree char *id = g_strdup_printf("qmp-client%d", i);
        g_autofree char *desc = chardev_describe(sv.c[i].chr);
        g_autofree char *peer = NULL;

        g_assert_cmpstr(chardev_id(sv.c[i].chr), ==, id);
        g_assert_cmpstr(chardev_backend_name(sv.c[i].chr), ==, "socket");
        g_assert_true(g_str_has_prefix(desc, "tcp:127.0.0.1:"));
        /* Accepted in the order they connected: match them by port. */
        peer = g_strdup_printf("<-> 127.0.0.1:%d", local_port(fds[i]));
        g_assert_true(g_str_has_suffix(desc, peer));
    }
    {
        /* The server is named, as QEMU names it with its one client, by
         * the newest client still connected. */
        g_autofree char *desc = chardev_describe(chr);
        g_autofree char *newest = chardev_describe(sv.c[2].chr);
        g_assert_cmpstr(desc, ==, newest);
    }

    /* Input and output stay with their client. */
    for (int i = 0; i < 3; i++) {
        char msg[8];
        snprintf(msg, sizeof(msg), "from-%d", i);
        g_assert_cmpint(send(fds[i], msg, 6, 0), ==, 6);
    }
    for (int i = 0; i < 3; i++) {
        char msg[8];
        snprintf(msg, sizeof(msg), "from-%d", i);
        FIXTURE_RUN_UNTIL(loop, sv.c[i].fe.got->len == 6);
        g_assert_cmpmem(sv.c[i].fe.got->data, 6, msg, 6);
    }
    for (int i = 0; i < 3; i++) {
        char msg[8];
        snprintf(msg, sizeof(msg), "to-%d", i);
        g_assert_cmpuint(chardev_write(sv.c[i].chr, (uint8_t *)msg, 4), ==,
                         4);
    }
    for (int i = 0; i < 3; i++) {
        char msg[8];
        snprintf(msg, sizeof(msg), "to-%d", i);
        client_read_exact(loop, fds[i], buf, 4);
        g_assert_cmpmem(buf, 4, msg, 4);
    }

    /* Client 1 leaves: only its chardev is closed. */
    close(fds[1]);
    FIXTURE_RUN_UNTIL(loop, sv.c[1].fe.closed == 1);
    {
        g_autofree char *desc = chardev_describe(sv.c[1].chr);
        g_assert_true(g_str_has_prefix(desc, "disconnected:tcp:"));
    }
    /* Its owner frees it (outside its callbacks). */
    chardev_free(sv.c[1].chr);
    sv.c[1].chr = chardev_new_from_spec(loop, "-serial", "null", "dummy",
                                        &err);
    g_assert_cmpint(sv.c[0].fe.closed + sv.c[2].fe.closed, ==, 0);
    g_assert_cmpint(send(fds[2], "still", 5, 0), ==, 5);
    FIXTURE_RUN_UNTIL(loop, sv.c[2].fe.got->len == 11);
    chardev_write(sv.c[0].chr, (const uint8_t *)"ok", 2);
    client_read_exact(loop, fds[0], buf, 2);
    g_assert_cmpmem(buf, 2, "ok", 2);

    /* The server hangs up on client 0: CLOSED follows from the loop,
     * the client sees the end, the others go on. */
    chardev_disconnect(sv.c[0].chr);
    g_assert_cmpint(sv.c[0].fe.closed, ==, 0);
    g_assert_true(client_sees_eof(loop, fds[0]));
    FIXTURE_RUN_UNTIL(loop, sv.c[0].fe.closed == 1);
    g_assert_cmpuint(chardev_write(sv.c[0].chr, (const uint8_t *)"x", 1),
                     ==, 1);       /* dropped, as with no client */
    close(fds[0]);
    g_assert_cmpint(sv.c[2].fe.closed, ==, 0);

    /* The server keeps listening: a fourth client gets a new chardev. */
    fds[3] = connect_tcp(AF_INET, "127.0.0.1", port);
    g_assert_cmpint(fds[3], >=, 0);
    FIXTURE_RUN_UNTIL(loop, sv.n == 4);
    g_assert_cmpstr(chardev_id(sv.c[3].chr), ==, "qmp-client3");
    g_assert_cmpint(send(fds[3], "four", 4, 0), ==, 4);
    FIXTURE_RUN_UNTIL(loop, sv.c[3].fe.got->len == 4);
    g_assert_cmpuint(sv.c[2].fe.got->len, ==, 11);

    /* Client 3 leaves: the server is named by client 2 again. */
    close(fds[3]);
    FIXTURE_RUN_UNTIL(loop, sv.c[3].fe.closed == 1);
    {
        g_autofree char *desc = chardev_describe(chr);
        g_autofree char *expect = chardev_describe(sv.c[2].chr);
        g_assert_cmpstr(desc, ==, expect);
    }

    /* The server may go first: its clients go on until freed. */
    chardev_free(chr);
    g_assert_cmpint(connect_tcp(AF_INET, "127.0.0.1", port), ==, -1);
    chardev_write(sv.c[2].chr, (const uint8_t *)"bye", 3);
    client_read_exact(loop, fds[2], buf, 3);
    g_assert_cmpmem(buf, 3, "bye", 3);
    served_free(&sv);
    g_assert_true(client_sees_eof(loop, fds[2]));
    close(fds[2]);
    main_loop_free(loop);
}

/* A client accepted by wait=on before serve_clients() is handed over
 * too, with what it sent; a unix server serves several clients as well. */
static void test_serve_wait_handover(void)
{
    MainLoop *loop = main_loop_new(NULL);
    g_autofree char *dir = make_tmpdir();
    WaitClient wc = { .path = g_build_filename(dir, "q.sock", NULL),
                      .fd = -1 };
    g_autofree char *spec = g_strdup_printf("unix:%s,server", wc.path);
    g_autofree char *connected = g_strdup_printf("unix:%s,server=on",
                                                 wc.path);
    Served sv = { .n = 0 };
    GError *err = NULL;
    GThread *th;
    Chardev *chr;
    uint8_t buf[8];
    char *desc;
    int c2;

    th = g_thread_new("client", wait_client_thread, &wc);
    chr = chardev_new_from_spec(loop, "-qmp", spec, "compat_monitor0", &err);
    g_assert_no_error(err);
    g_thread_join(th);
    g_assert_cmpint(wc.fd, >=, 0);

    g_assert_true(chardev_serve_clients(chr, served_new_client, &sv, &err));
    /* Handed over from the loop, not inside serve_clients(). */
    g_assert_cmpint(sv.n, ==, 0);
    FIXTURE_RUN_UNTIL(loop, sv.n == 1);
    g_assert_cmpstr(chardev_id(sv.c[0].chr), ==, "compat_monitor0-client0");
    desc = chardev_describe(sv.c[0].chr);
    g_assert_cmpstr(desc, ==, connected);
    g_free(desc);
    FIXTURE_RUN_UNTIL(loop, sv.c[0].fe.got->len == 2);
    g_assert_cmpmem(sv.c[0].fe.got->data, 2, "hi", 2);
    chardev_write(sv.c[0].chr, (const uint8_t *)"yo", 2);
    client_read_exact(loop, wc.fd, buf, 2);
    g_assert_cmpmem(buf, 2, "yo", 2);

    /* A second unix client at the same time. */
    c2 = connect_unix(wc.path);
    g_assert_cmpint(c2, >=, 0);
    FIXTURE_RUN_UNTIL(loop, sv.n == 2);
    g_assert_cmpint(send(c2, "two", 3, 0), ==, 3);
    FIXTURE_RUN_UNTIL(loop, sv.c[1].fe.got->len == 3);
    g_assert_cmpuint(sv.c[0].fe.got->len, ==, 2);

    close(wc.fd);
    FIXTURE_RUN_UNTIL(loop, sv.c[0].fe.closed == 1);
    g_assert_cmpint(sv.c[1].fe.closed, ==, 0);
    close(c2);
    FIXTURE_RUN_UNTIL(loop, sv.c[1].fe.closed == 1);
    desc = chardev_describe(chr);
    g_assert_true(g_str_has_prefix(desc, "disconnected:unix:"));
    g_free(desc);
    served_free(&sv);
    /* Freeing a client leaves the server's socket file alone. */
    g_assert_cmpint(access(wc.path, F_OK), ==, 0);
    chardev_free(chr);
    g_assert_cmpint(access(wc.path, F_OK), ==, -1);
    g_free(wc.path);
    rmdir(dir);
    main_loop_free(loop);
}

/* ---- output limit ---- */

/* A frontend that, as the QMP monitor does, takes no input while its
 * output waits. */
typedef struct PoliteFrontend {
    Chardev *chr;
    GByteArray *got;
    int asked_while_pending;
} PoliteFrontend;

static size_t polite_can_receive(void *opaque)
{
    PoliteFrontend *pf = opaque;

    if (chardev_output_pending(pf->chr) > 0) {
        pf->asked_while_pending++;
        return 0;
    }
    return 64;
}

static void polite_receive(void *opaque, const uint8_t *buf, size_t len)
{
    PoliteFrontend *pf = opaque;

    g_assert_cmpuint(chardev_output_pending(pf->chr), ==, 0);
    g_byte_array_append(pf->got, buf, len);
}

static const ChardevFrontendOps polite_ops = {
    .can_receive = polite_can_receive,
    .receive = polite_receive,
};

static void test_output_limit(void)
{
    MainLoop *loop = main_loop_new(NULL);
    g_autofree char *dir = make_tmpdir();
    g_autofree char *path = g_build_filename(dir, "s", NULL);
    g_autofree char *spec = g_strdup_printf("unix:%s,server=on,wait=off",
                                            path);
    const size_t limit = 1 << 20, total = 8 << 20, chunk = 10000;
    g_autofree uint8_t *out = g_malloc(total);
    g_autofree uint8_t *in = g_malloc(total);
    size_t accepted = 0, got = 0, pending;
    PoliteFrontend pf = { 0 };
    GError *err = NULL;
    Chardev *chr;
    int c, rcvbuf = 4096;

    for (size_t i = 0; i < total; i++) {
        out[i] = (i * 31) ^ (i >> 9);
    }
    chr = chardev_new_from_spec(loop, "-qmp", spec, "m", &err);
    g_assert_no_error(err);
    g_assert_cmpuint(chardev_output_pending(chr), ==, 0);
    pf.chr = chr;
    pf.got = g_byte_array_new();
    chardev_set_frontend(chr, &polite_ops, &pf);
    chardev_set_output_limit(chr, limit);
    c = connect_unix(path);
    g_assert_cmpint(c, >=, 0);
    setsockopt(c, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    fixture_run_for(loop, 20);

    /* The client does not read: the buffer grows past the 64 KiB default
     * up to the limit, and no further. */
    for (size_t off = 0; off < total; off += chunk) {
        size_t n = MIN(chunk, total - off);
        size_t took = chardev_write(chr, out + off, n);

        accepted += took;
        if (took < n) {
            break;          /* the rest would be dropped: stop here */
        }
    }
    pending = chardev_output_pending(chr);
    g_assert_cmpuint(pending, >, 64 * 1024);
    g_assert_cmpuint(pending, <=, limit);
    g_assert_cmpuint(pending, ==, limit);
    g_assert_cmpuint(accepted, <, total);
    /* Full: nothing more is taken. */
    g_assert_cmpuint(chardev_write(chr, out, 100), ==, 0);

    /* Input waits while output is pending. */
    g_assert_cmpint(send(c, "query", 5, 0), ==, 5);
    fixture_run_for(loop, 20);
    g_assert_cmpuint(pf.got->len, ==, 0);

    /* The client reads everything: exactly the accepted bytes, in order;
     * once nothing is pending the frontend is asked again and gets its
     * input. */
    {
        gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
        while (got < accepted && g_get_monotonic_time() < deadline) {
            ssize_t n = recv(c, in + got, total - got, MSG_DONTWAIT);
            if (n > 0) {
                got += n;
                g_assert_cmpuint(chardev_output_pending(chr), <=,
                                 accepted - (got - n));
                continue;
            }
            if (!main_loop_iterate(loop, false)) {
                g_usleep(100);
            }
        }
    }
    g_assert_cmpuint(got, ==, accepted);
    g_assert_cmpmem(in, got, out, accepted);
    FIXTURE_RUN_UNTIL(loop, pf.got->len == 5);
    g_assert_cmpmem(pf.got->data, 5, "query", 5);
    g_assert_cmpuint(chardev_output_pending(chr), ==, 0);
    g_assert_cmpint(pf.asked_while_pending, >, 0);

    /* A lower limit holds back only new output. */
    chardev_set_output_limit(chr, 1000);
    accepted = 0;
    for (int i = 0; i < 1000; i++) {
        accepted += chardev_write(chr, out, chunk);
    }
    g_assert_cmpuint(chardev_output_pending(chr), <=, 1000);
    g_assert_cmpuint(accepted, <, 1000 * chunk);

    /* The peer leaves: its pending output is dropped. */
    close(c);
    FIXTURE_RUN_UNTIL(loop, chardev_output_pending(chr) == 0);
    chardev_free(chr);
    g_byte_array_free(pf.got, TRUE);
    rmdir(dir);
    main_loop_free(loop);
}

/* Asserts that @spec fails with a message containing each of @parts. */
static void assert_spec_error(MainLoop *loop, const char *spec, ...)
{
    GError *err = NULL;
    const char *part;
    va_list ap;

    g_assert_null(chardev_new_from_spec(loop, "-serial", spec, "serial0",
                                        &err));
    g_assert_nonnull(err);
    g_assert_true(err->domain == LEMU_ERROR);
    va_start(ap, spec);
    while ((part = va_arg(ap, const char *))) {
        if (!strstr(err->message, part)) {
            g_error("'%s': message '%s' lacks '%s'", spec, err->message,
                    part);
        }
    }
    va_end(ap);
    g_error_free(err);
}

static void assert_cmdline_error(MainLoop *loop, const char *str,
                                 const char *part)
{
    GError *err = NULL;

    g_assert_null(new_from_cmdline(loop, str, &err));
    g_assert_nonnull(err);
    if (!strstr(err->message, part)) {
        g_error("'%s': message '%s' lacks '%s'", str, err->message, part);
    }
    g_error_free(err);
}

static void test_spec_errors(void)
{
    MainLoop *loop = main_loop_new(NULL);

    assert_spec_error(loop, "udp:localhost:4444", "-serial",
                      "udp:localhost:4444", "file:PATH", "unix:PATH",
                      "tcp:HOST:PORT", NULL);
    /* Client mode (no server=on) connects at once: nobody listens on
     * port 1 here. */
    assert_spec_error(loop, "tcp:127.0.0.1:1", "-serial",
                      "could not connect to '127.0.0.1:1'", NULL);
    assert_spec_error(loop, "tcp:127.0.0.1:1,wait=off", "-serial",
                      "wait= is only for a server", NULL);
    assert_spec_error(loop, "tcp:localhost", "-serial", "'tcp:localhost'",
                      "tcp:HOST:PORT", NULL);
    assert_spec_error(loop, "tcp:", "-serial", "tcp:HOST:PORT", NULL);
    assert_spec_error(loop, "tcp:::1:4444,server=on", "-serial",
                      "[IPV6]", NULL);
    assert_spec_error(loop, "tcp:[::1:4444,server=on", "-serial",
                      "[IPV6]", NULL);
    assert_spec_error(loop, "tcp:127.0.0.1:65536,server=on,wait=off",
                      "-serial", "port '65536'", "0 to 65535", NULL);
    assert_spec_error(loop, "tcp:127.0.0.1:http,server=on,wait=off",
                      "-serial", "port 'http'", NULL);
    assert_spec_error(loop, "tcp:127.0.0.1:,server=on,wait=off",
                      "-serial", "port ''", NULL);
    assert_spec_error(loop, "tcp:127.0.0.1:-1,server=on,wait=off",
                      "-serial", "port '-1'", NULL);
    assert_spec_error(loop, "tcp:127.0.0.1:4444,server=on,path=/tmp/x",
                      "-serial", "'path'", NULL);
    assert_spec_error(loop, "tcp:127.0.0.1:4444,server=on,port=5",
                      "-serial", "tcp:HOST:PORT", NULL);
    assert_spec_error(loop, "tcp:127.0.0.1:4444,server=on,bogus",
                      "-serial", "bogus", NULL);
    assert_spec_error(loop, "vc", "-serial", "expected", NULL);
    assert_spec_error(loop, "file:", "-serial", "expected", NULL);
    assert_spec_error(loop, "unix:", "-serial", "expected", NULL);
    assert_spec_error(loop, "unix:/tmp/x,server=on,bogus=1", "-serial",
                      "'bogus'", NULL);
    assert_spec_error(loop, "unix:/tmp/x,server=maybe,wait=off", "-serial",
                      "maybe", NULL);

    assert_cmdline_error(loop, "null", "id");
    assert_cmdline_error(loop, "null,id=0bad", "'0bad'");
    assert_cmdline_error(loop, "pty,id=p", "stdio, file, socket, null");
    assert_cmdline_error(loop, "null,id=n,path=/tmp/x", "'path'");
    assert_cmdline_error(loop, "file,id=f,path=/tmp/x,server=on", "'server'");
    assert_cmdline_error(loop, "stdio,id=s,signal=perhaps", "perhaps");
    assert_cmdline_error(loop, "socket,id=t,server=on", "path=PATH");
    assert_cmdline_error(loop, "socket,id=t,port=4444,server=on",
                         "host=HOST");
    assert_cmdline_error(loop, "socket,id=t,host=127.0.0.1,server=on",
                         "port=PORT");
    assert_cmdline_error(loop, "socket,id=t,path=/tmp/x,port=1,server=on",
                         "exclude");
    assert_cmdline_error(loop, "socket,id=t,host=127.0.0.1,port=x,"
                         "server=on", "port 'x'");
    main_loop_free(loop);
}

typedef struct EscapeRecorder {
    int quits;
    int toggles;
} EscapeRecorder;

static void esc_quit(void *opaque)
{
    ((EscapeRecorder *)opaque)->quits++;
}

static void esc_toggle(void *opaque)
{
    ((EscapeRecorder *)opaque)->toggles++;
}

/* Reads what is in the pipe @fd now. */
static GString *drain_pipe(int fd)
{
    GString *s = g_string_new(NULL);
    char buf[4096];
    ssize_t n;

    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        g_string_append_len(s, buf, n);
    }
    return s;
}

/*
 * stdio with pipes in place of the terminal: the Ctrl-a escapes, EOF on
 * stdin, and only one stdio chardev at a time.
 */
static void test_stdio_escapes(void)
{
    static const ChardevEscapeOps esc_ops = {
        .quit = esc_quit,
        .toggle_monitor = esc_toggle,
    };
    static const ChardevEscapeOps quit_only = { .quit = esc_quit };
    MainLoop *loop = main_loop_new(NULL);
    EscapeRecorder rec = { 0 };
    int saved_in = dup(STDIN_FILENO), saved_out = dup(STDOUT_FILENO);
    int in_pipe[2], out_pipe[2];
    GError *err = NULL;
    TestFrontend fe;
    GString *out;
    Chardev *chr, *second;

    fflush(stdout);
    g_assert_cmpint(pipe2(in_pipe, O_CLOEXEC), ==, 0);
    g_assert_cmpint(pipe2(out_pipe, O_CLOEXEC | O_NONBLOCK), ==, 0);
    dup2(in_pipe[0], STDIN_FILENO);
    dup2(out_pipe[1], STDOUT_FILENO);

    chr = chardev_new_from_spec(loop, "-serial", "stdio", "serial0", &err);
    g_assert_no_error(err);
    g_assert_true(chardev_is_stdio(chr));
    second = new_from_cmdline(loop, "stdio,id=other", &err);
    g_assert_null(second);
    g_assert_error(err, LEMU_ERROR, LEMU_ERROR_INVALID);
    g_assert_nonnull(strstr(err->message, "only one"));
    g_clear_error(&err);

    chardev_set_escape_ops(chr, &esc_ops, &rec);
    fe_init(&fe, 64);
    chardev_set_frontend(chr, &fe_ops, &fe);

    /* Ctrl-a Ctrl-a is one Ctrl-a; Ctrl-a z passes both; h, c, x act. */
    g_assert_cmpint(write(in_pipe[1], "a\x01\x01" "b\x01z", 6), ==, 6);
    FIXTURE_RUN_UNTIL(loop, fe.got->len == 5);
    g_assert_cmpmem(fe.got->data, 5, "a\x01" "b\x01z", 5);
    /* An escape split across two reads still works. */
    g_assert_cmpint(write(in_pipe[1], "\x01", 1), ==, 1);
    fixture_run_for(loop, 10);
    g_assert_cmpint(write(in_pipe[1], "h\x01" "c\x01x", 5), ==, 5);
    FIXTURE_RUN_UNTIL(loop, rec.quits == 1);
    g_assert_cmpint(rec.toggles, ==, 1);
    g_assert_cmpuint(fe.got->len, ==, 5);
    chardev_flush(chr, 1000);
    out = drain_pipe(out_pipe[0]);
    g_assert_nonnull(strstr(out->str, "C-a x"));
    g_assert_nonnull(strstr(out->str, "C-a c"));
    g_assert_nonnull(strstr(out->str, "terminated"));
    g_string_free(out, TRUE);

    /* Without a monitor, Ctrl-a c says so. */
    chardev_set_escape_ops(chr, &quit_only, &rec);
    g_assert_cmpint(write(in_pipe[1], "\x01" "c", 2), ==, 2);
    fixture_run_for(loop, 20);
    chardev_flush(chr, 1000);
    out = drain_pipe(out_pipe[0]);
    g_assert_nonnull(strstr(out->str, "monitor is not available"));
    g_string_free(out, TRUE);

    /* Guest output reaches stdout. */
    chardev_write(chr, (const uint8_t *)"guest says hi\n", 14);
    chardev_flush(chr, 1000);
    out = drain_pipe(out_pipe[0]);
    g_assert_cmpstr(out->str, ==, "guest says hi\n");
    g_string_free(out, TRUE);

    /* EOF on stdin: input stops, the chardev goes on working. */
    g_assert_cmpint(write(in_pipe[1], "end", 3), ==, 3);
    close(in_pipe[1]);
    FIXTURE_RUN_UNTIL(loop, fe.got->len == 8);
    fixture_run_for(loop, 20);
    g_assert_cmpint(rec.quits, ==, 1);
    chardev_write(chr, (const uint8_t *)"still here", 10);
    chardev_flush(chr, 1000);
    out = drain_pipe(out_pipe[0]);
    g_assert_cmpstr(out->str, ==, "still here");
    g_string_free(out, TRUE);

    chardev_free(chr);
    chardev_stdio_restore_terminal();      /* again: harmless */

    /* Once freed, stdio may be used again. */
    chr = chardev_new_from_spec(loop, "-serial", "stdio", "serial0", &err);
    g_assert_no_error(err);
    chardev_free(chr);

    dup2(saved_in, STDIN_FILENO);
    dup2(saved_out, STDOUT_FILENO);
    close(saved_in);
    close(saved_out);
    close(in_pipe[0]);
    close(out_pipe[0]);
    close(out_pipe[1]);
    fe_clear(&fe);
    main_loop_free(loop);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/chardev/file", test_file_backend);
    g_test_add_func("/chardev/file-open-error", test_file_open_error);
    g_test_add_func("/chardev/null", test_null_backend);
    g_test_add_func("/chardev/socket/server", test_socket_server);
    g_test_add_func("/chardev/socket/client", test_socket_client);
    g_test_add_func("/chardev/socket/backpressure", test_socket_backpressure);
    g_test_add_func("/chardev/socket/output-stall", test_socket_output_stall);
    g_test_add_func("/chardev/socket/stale-and-errors",
                    test_socket_stale_and_errors);
    g_test_add_func("/chardev/socket/wait", test_socket_wait);
    g_test_add_func("/chardev/tcp/server", test_tcp_server);
    g_test_add_func("/chardev/tcp/addresses", test_tcp_addresses);
    g_test_add_func("/chardev/tcp/port-in-use", test_tcp_port_in_use);
    g_test_add_func("/chardev/serve/clients", test_serve_clients);
    g_test_add_func("/chardev/serve/wait-handover",
                    test_serve_wait_handover);
    g_test_add_func("/chardev/output-limit", test_output_limit);
    g_test_add_func("/chardev/spec-errors", test_spec_errors);
    g_test_add_func("/chardev/stdio/escapes", test_stdio_escapes);
    return g_test_run();
}
