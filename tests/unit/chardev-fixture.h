/*
 * What the chardev tests share (test-chardev.c, test-chardev-socket.c,
 * test-chardev-serve.c).
 */
#ifndef TESTS_UNIT_CHARDEV_FIXTURE_H
#define TESTS_UNIT_CHARDEV_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <glib.h>
#include "fixture.h"
#include "lemu/chardev/chardev.h"
#include "lemu/util/main-loop.h"

/* A frontend that takes at most @room more bytes, as a UART FIFO would. */
typedef struct TestFrontend {
    size_t room;
    GByteArray *got;
    int opened, closed;
} TestFrontend;

/* Records what the chardev hands over, within fe->room. */
extern const ChardevFrontendOps fe_ops;
void fe_init(TestFrontend *fe, size_t room);
void fe_clear(TestFrontend *fe);

/* A new temporary directory (g_free the name, rmdir it). */
char *make_tmpdir(void);
/* A chardev from -chardev option text. */
Chardev *new_from_cmdline(MainLoop *loop, const char *str, GError **errp);

/* A client connected to the unix socket @path, or -1. */
int connect_unix(const char *path);
/* Reads from @fd until @len bytes arrived, running @loop meanwhile. */
void client_read_exact(MainLoop *loop, int fd, uint8_t *buf, size_t len);
/* True once the server closed @fd. */
bool client_sees_eof(MainLoop *loop, int fd);

/* A thread that connects to @path (retrying for five seconds) and sends
 * "hi", while the main thread blocks in wait=on; fd -1 on failure. */
typedef struct WaitClient {
    char *path;
    int fd;
} WaitClient;
gpointer wait_client_thread(gpointer opaque);

#endif
