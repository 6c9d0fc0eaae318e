/*
 * lemu: one process runs one virtual PC. main() parses the command line,
 * optionally detaches, builds the machine, and runs the main loop until
 * the guest or the host ends the VM.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <glib-unix.h>
#include "system/cmdline.h"
#include "lemu/chardev/chardev.h"
#include "lemu/system/machine.h"
#include "lemu/util/log.h"

typedef struct HostProcess {
    char *pidfile;          /* absolute path; removed at exit */
    int pidfile_fd;
    int daemon_pipe;        /* write end: tells the parent we are up */
} HostProcess;

/*
 * -daemonize: the parent waits until the child has built the machine, so
 * that start-up errors still reach the user's terminal and the exit status.
 */
static bool daemonize_begin(HostProcess *hp, GError **errp)
{
    int fds[2];
    pid_t pid;
    char status = 1;

    if (pipe(fds) < 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                    "-daemonize: pipe: %s", g_strerror(errno));
        return false;
    }
    pid = fork();
    if (pid < 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                    "-daemonize: fork: %s", g_strerror(errno));
        return false;
    }
    if (pid > 0) {
        close(fds[1]);
        while (read(fds[0], &status, 1) < 0 && errno == EINTR) {
        }
        _exit(status == 0 ? 0 : 1);
    }
    close(fds[0]);
    setsid();
    hp->daemon_pipe = fds[1];
    return true;
}

static void daemonize_finish(HostProcess *hp)
{
    char ok = 0;
    int null_fd;

    if (hp->daemon_pipe < 0) {
        return;
    }
    null_fd = open("/dev/null", O_RDWR);
    if (null_fd >= 0) {
        dup2(null_fd, STDIN_FILENO);
        dup2(null_fd, STDOUT_FILENO);
        dup2(null_fd, STDERR_FILENO);
        if (null_fd > STDERR_FILENO) {
            close(null_fd);
        }
    }
    if (chdir("/") < 0) {
        /* harmless: we only stay in the start-up directory */
    }
    if (write(hp->daemon_pipe, &ok, 1) < 0) {
        /* the parent is gone; nothing to tell */
    }
    close(hp->daemon_pipe);
    hp->daemon_pipe = -1;
}

/* Writes and locks the pid file, as QEMU does, so two VMs cannot share it. */
static bool pidfile_create(HostProcess *hp, const char *path, GError **errp)
{
    char buf[32];
    int fd, len;

    hp->pidfile = g_canonicalize_filename(path, NULL);
    fd = open(hp->pidfile, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                    "-pidfile %s: cannot open: %s", path, g_strerror(errno));
        goto fail;
    }
    if (lockf(fd, F_TLOCK, 0) < 0) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                    "-pidfile %s: cannot lock: %s (is another lemu using "
                    "it?)", path, g_strerror(errno));
        close(fd);
        goto fail;
    }
    len = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
    if (ftruncate(fd, 0) < 0 || write(fd, buf, len) != len) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_FAILED,
                    "-pidfile %s: cannot write: %s", path, g_strerror(errno));
        close(fd);
        unlink(hp->pidfile);
        goto fail;
    }
    hp->pidfile_fd = fd;
    return true;
fail:
    g_clear_pointer(&hp->pidfile, g_free);
    return false;
}

static void pidfile_remove(HostProcess *hp)
{
    if (hp->pidfile) {
        unlink(hp->pidfile);
        close(hp->pidfile_fd);
        g_clear_pointer(&hp->pidfile, g_free);
    }
}

typedef struct SignalWatch {
    Machine *machine;
    int signo;
} SignalWatch;

static gboolean on_host_signal(gpointer opaque)
{
    SignalWatch *w = opaque;

    error_report("terminating on signal %d", w->signo);
    machine_request_shutdown(w->machine, SHUTDOWN_CAUSE_HOST_SIGNAL);
    return G_SOURCE_CONTINUE;
}

static void watch_host_signals(Machine *m, SignalWatch *watches)
{
    static const int signals[] = { SIGINT, SIGTERM, SIGHUP };

    for (size_t i = 0; i < G_N_ELEMENTS(signals); i++) {
        GSource *src = g_unix_signal_source_new(signals[i]);

        watches[i].machine = m;
        watches[i].signo = signals[i];
        g_source_set_callback(src, on_host_signal, &watches[i], NULL);
        g_source_attach(src, main_loop_context(m->loop));
        g_source_unref(src);
    }
}

int main(int argc, char **argv)
{
    LaunchOptions lo;
    HostProcess hp = { .pidfile_fd = -1, .daemon_pipe = -1 };
    SignalWatch watches[3];
    GError *err = NULL;
    Machine *m;
    sigset_t set;
    int code;

    switch (cmdline_parse(argc, argv, &lo, &err)) {
    case CMDLINE_EXIT_OK:
        launch_options_clear(&lo);
        return 0;
    case CMDLINE_ERROR:
        error_report_err(err);
        launch_options_clear(&lo);
        return 1;
    case CMDLINE_RUN:
        break;
    }

    /* A dead peer on a socket chardev must not kill the VM. */
    signal(SIGPIPE, SIG_IGN);
    /* SIGUSR1 kicks vCPUs: only vCPU threads take it (they unblock it),
     * and every other thread inherits this mask. */
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    if (!log_setup(lo.log_mask, lo.log_file, &err) ||
        (lo.daemonize && !daemonize_begin(&hp, &err)) ||
        (lo.pidfile && !pidfile_create(&hp, lo.pidfile, &err))) {
        goto fail;
    }
    m = machine_new(&lo.cfg, &err);
    if (!m) {
        pidfile_remove(&hp);
        goto fail;
    }
    daemonize_finish(&hp);
    watch_host_signals(m, watches);

    machine_lock(m);
    machine_start(m);
    main_loop_run(m->loop);
    code = m->exit_code;
    machine_unlock(m);

    machine_free(m);
    chardev_stdio_restore_terminal();
    pidfile_remove(&hp);
    log_close();
    launch_options_clear(&lo);
    return code;

fail:
    chardev_stdio_restore_terminal();
    error_report_err(err);
    log_close();
    launch_options_clear(&lo);
    return 1;
}
