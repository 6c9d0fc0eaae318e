/*
 * Character devices: the file, null and stdio backends, as a frontend (a
 * UART) and a user (a file, a terminal) see them; and the errors for bad
 * -chardev / -serial options. Sockets: test-chardev-socket.c and
 * test-chardev-serve.c.
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
    g_test_add_func("/chardev/spec-errors", test_spec_errors);
    g_test_add_func("/chardev/stdio/escapes", test_stdio_escapes);
    return g_test_run();
}
