/*
 * The main loop: one GMainContext that owns every file descriptor, timer and
 * bottom half of a machine.
 *
 * The loop holds the machine lock while it dispatches callbacks and drops it
 * while it polls, so every callback registered here runs with the machine
 * lock held (when the loop was given one).
 */
#ifndef LEMU_UTIL_MAIN_LOOP_H
#define LEMU_UTIL_MAIN_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

typedef struct MainLoop MainLoop;
typedef struct FdHandler FdHandler;
typedef struct Timer Timer;
typedef struct BottomHalf BottomHalf;

#define NANOSECONDS_PER_SECOND 1000000000LL

/*
 * Creates a loop on a new GMainContext. @lock, when not NULL, is the machine
 * lock: the loop takes it around every dispatch and releases it while it
 * polls. The caller of main_loop_run()/main_loop_iterate() must hold it.
 */
MainLoop *main_loop_new(GMutex *lock);
void main_loop_free(MainLoop *loop);
GMainContext *main_loop_context(MainLoop *loop);

/* Runs until main_loop_quit() is called (from any thread). */
void main_loop_run(MainLoop *loop);
void main_loop_quit(MainLoop *loop);
/* One iteration; returns true if something was dispatched. */
bool main_loop_iterate(MainLoop *loop, bool may_block);

/*
 * File descriptor handlers. The callback gets the conditions that are ready
 * (G_IO_IN, G_IO_OUT, G_IO_HUP, G_IO_ERR). The handler stays registered
 * until fd_handler_remove(); fd_handler_set_events() changes what is watched
 * (0 watches nothing: this is how a frontend applies back-pressure).
 */
typedef void FdHandlerFunc(void *opaque, int fd, GIOCondition ready);
FdHandler *main_loop_add_fd(MainLoop *loop, int fd, GIOCondition events,
                            FdHandlerFunc *cb, void *opaque);
void fd_handler_set_events(FdHandler *h, GIOCondition events);
void fd_handler_remove(FdHandler *h);

/*
 * Clocks. CLOCK_HOST is CLOCK_MONOTONIC. CLOCK_VIRTUAL runs with the host
 * clock but stops while the VM is paused (main_loop_virtual_clock_stop).
 */
typedef enum {
    CLOCK_HOST,
    CLOCK_VIRTUAL,
} ClockType;

int64_t clock_get_ns(MainLoop *loop, ClockType type);
void main_loop_virtual_clock_stop(MainLoop *loop);
void main_loop_virtual_clock_start(MainLoop *loop);
bool main_loop_virtual_clock_running(MainLoop *loop);
/* Stopped clock only: advance by @ns, firing due virtual timers in order. */
void main_loop_virtual_clock_step(MainLoop *loop, int64_t ns);

/*
 * Timers fire from the main loop once their clock reaches the deadline.
 * timer_mod_ns() takes an absolute time on the timer's clock and may be
 * called from any thread; a timer on CLOCK_VIRTUAL does not fire while the
 * virtual clock is stopped.
 */
typedef void TimerFunc(void *opaque);
Timer *timer_new(MainLoop *loop, ClockType type, TimerFunc *cb, void *opaque);
void timer_mod_ns(Timer *t, int64_t expire_ns);
void timer_del(Timer *t);
bool timer_pending(Timer *t);
int64_t timer_expire_time_ns(Timer *t);  /* -1 when not pending */
void timer_free(Timer *t);

/*
 * Bottom halves: a callback the main loop runs soon. bh_schedule() may be
 * called from any thread and wakes the loop at once; scheduling a bottom
 * half that is already pending runs it once.
 */
typedef void BottomHalfFunc(void *opaque);
BottomHalf *bh_new(MainLoop *loop, BottomHalfFunc *cb, void *opaque);
void bh_schedule(BottomHalf *bh);
void bh_cancel(BottomHalf *bh);
void bh_free(BottomHalf *bh);

#endif
