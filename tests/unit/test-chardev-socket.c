/*
 * The unix socket backend: one client at a time as a server, client mode,
 * back-pressure, stalled output, stale files and errors, wait=on, and the
 * output limit.
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
#include "chardev-fixture.h"

#include "lemu/chardev/chardev.h"
#include "lemu/util/log.h"
#include "lemu/util/main-loop.h"
#include "lemu/util/opts.h"

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

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/chardev/socket/server", test_socket_server);
    g_test_add_func("/chardev/socket/client", test_socket_client);
    g_test_add_func("/chardev/socket/backpressure", test_socket_backpressure);
    g_test_add_func("/chardev/socket/output-stall", test_socket_output_stall);
    g_test_add_func("/chardev/socket/stale-and-errors",
                    test_socket_stale_and_errors);
    g_test_add_func("/chardev/socket/wait", test_socket_wait);
    g_test_add_func("/chardev/output-limit", test_output_limit);
    return g_test_run();
}
