/*
 * TCP sockets (addresses, IPv6, ports in use) and sockets that serve
 * every client as a chardev of its own (the QMP monitor's way).
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

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/chardev/tcp/server", test_tcp_server);
    g_test_add_func("/chardev/tcp/addresses", test_tcp_addresses);
    g_test_add_func("/chardev/tcp/port-in-use", test_tcp_port_in_use);
    g_test_add_func("/chardev/serve/clients", test_serve_clients);
    g_test_add_func("/chardev/serve/wait-handover",
                    test_serve_wait_handover);
    return g_test_run();
}
