/*
 * Main loop, timers, bottom halves and the worker thread pool.
 */
#include <unistd.h>

#include "lemu/util/main-loop.h"
#include "lemu/util/thread-pool.h"

#define MS (1000 * 1000LL)

static void quit_cb(void *opaque)
{
    main_loop_quit(opaque);
}

/* A host timer that ends main_loop_run() if a test would otherwise hang. */
static Timer *safety_timer_new(MainLoop *loop, int64_t ms)
{
    Timer *t = timer_new(loop, CLOCK_HOST, quit_cb, loop);

    timer_mod_ns(t, clock_get_ns(loop, CLOCK_HOST) + ms * MS);
    return t;
}

/* ---- file descriptor handlers ---- */

typedef struct PipeState {
    int fds[2];
    FdHandler *h;
    int calls;
    GIOCondition last;
    char buf[16];
    ssize_t got;
} PipeState;

static void pipe_read_cb(void *opaque, int fd, GIOCondition ready)
{
    PipeState *s = opaque;

    s->calls++;
    s->last = ready;
    if (ready & G_IO_IN) {
        s->got = read(fd, s->buf, sizeof(s->buf));
    }
}

static void test_fd_handler_read(void)
{
    MainLoop *loop = main_loop_new(NULL);
    PipeState s = { 0 };

    g_assert_cmpint(pipe(s.fds), ==, 0);
    s.h = main_loop_add_fd(loop, s.fds[0], G_IO_IN, pipe_read_cb, &s);

    /* Nothing to read: nothing dispatched. */
    g_assert_false(main_loop_iterate(loop, false));
    g_assert_cmpint(s.calls, ==, 0);

    g_assert_cmpint(write(s.fds[1], "abc", 3), ==, 3);
    g_assert_true(main_loop_iterate(loop, true));
    g_assert_cmpint(s.calls, ==, 1);
    g_assert_true(s.last & G_IO_IN);
    g_assert_cmpint(s.got, ==, 3);
    g_assert_cmpmem(s.buf, 3, "abc", 3);

    fd_handler_remove(s.h);
    close(s.fds[0]);
    close(s.fds[1]);
    main_loop_free(loop);
}

static void test_fd_handler_backpressure(void)
{
    MainLoop *loop = main_loop_new(NULL);
    PipeState s = { 0 };

    g_assert_cmpint(pipe(s.fds), ==, 0);
    s.h = main_loop_add_fd(loop, s.fds[0], G_IO_IN, pipe_read_cb, &s);

    /* Readable, but the frontend is full: the handler must stay quiet. */
    fd_handler_set_events(s.h, 0);
    g_assert_cmpint(write(s.fds[1], "x", 1), ==, 1);
    for (int i = 0; i < 3; i++) {
        g_assert_false(main_loop_iterate(loop, false));
    }
    g_assert_cmpint(s.calls, ==, 0);

    /* Space again: the pending byte is delivered. */
    fd_handler_set_events(s.h, G_IO_IN);
    g_assert_true(main_loop_iterate(loop, false));
    g_assert_cmpint(s.calls, ==, 1);
    g_assert_cmpint(s.got, ==, 1);

    /* A hang-up while not watching must not spin the loop either. */
    fd_handler_set_events(s.h, 0);
    close(s.fds[1]);
    g_assert_false(main_loop_iterate(loop, false));
    g_assert_cmpint(s.calls, ==, 1);
    fd_handler_set_events(s.h, G_IO_IN);
    g_assert_true(main_loop_iterate(loop, false));
    g_assert_cmpint(s.calls, ==, 2);
    g_assert_true(s.last & G_IO_HUP);

    fd_handler_remove(s.h);
    close(s.fds[0]);
    main_loop_free(loop);
}

typedef struct RemoveState {
    int fds[2][2];
    FdHandler *h[2];
    int calls;
} RemoveState;

/* Whichever handler runs first removes both (its own and the other). */
static void remove_both_cb(void *opaque, int fd, GIOCondition ready)
{
    RemoveState *s = opaque;

    s->calls++;
    for (int i = 0; i < 2; i++) {
        fd_handler_remove(s->h[i]);
        s->h[i] = NULL;
    }
}

static void test_fd_handler_remove_in_callback(void)
{
    MainLoop *loop = main_loop_new(NULL);
    RemoveState s = { 0 };

    for (int i = 0; i < 2; i++) {
        g_assert_cmpint(pipe(s.fds[i]), ==, 0);
        s.h[i] = main_loop_add_fd(loop, s.fds[i][0], G_IO_IN,
                                  remove_both_cb, &s);
        g_assert_cmpint(write(s.fds[i][1], "x", 1), ==, 1);
    }
    /* Both are ready in the same iteration; only one callback may run. */
    g_assert_true(main_loop_iterate(loop, false));
    g_assert_cmpint(s.calls, ==, 1);
    g_assert_false(main_loop_iterate(loop, false));
    g_assert_cmpint(s.calls, ==, 1);

    for (int i = 0; i < 2; i++) {
        close(s.fds[i][0]);
        close(s.fds[i][1]);
    }
    main_loop_free(loop);
}

/* ---- timers ---- */

typedef struct TimerLog {
    MainLoop *loop;
    int order[8];
    int n;
    int64_t fired_at[8];
} TimerLog;

typedef struct TimerEntry {
    TimerLog *log;
    int id;
    Timer *t;
    int64_t deadline;
} TimerEntry;

static void log_timer_cb(void *opaque)
{
    TimerEntry *e = opaque;
    TimerLog *log = e->log;

    g_assert_cmpint(log->n, <, 8);
    log->fired_at[log->n] = clock_get_ns(log->loop, CLOCK_HOST);
    log->order[log->n++] = e->id;
    if (log->n == 3) {
        main_loop_quit(log->loop);
    }
}

static void test_timer_order(void)
{
    MainLoop *loop = main_loop_new(NULL);
    TimerLog log = { .loop = loop };
    TimerEntry e[4];
    int64_t now = clock_get_ns(loop, CLOCK_HOST);
    static const int delay_ms[4] = { 6, 2, 4, 1 };
    Timer *safety = safety_timer_new(loop, 1000);

    for (int i = 0; i < 4; i++) {
        e[i] = (TimerEntry){ .log = &log, .id = i };
        e[i].t = timer_new(loop, CLOCK_HOST, log_timer_cb, &e[i]);
        e[i].deadline = now + delay_ms[i] * MS;
        timer_mod_ns(e[i].t, e[i].deadline);
    }
    g_assert_true(timer_pending(e[3].t));
    g_assert_cmpint(timer_expire_time_ns(e[3].t), ==, e[3].deadline);

    /* A deleted timer never fires. */
    timer_del(e[3].t);
    g_assert_false(timer_pending(e[3].t));
    g_assert_cmpint(timer_expire_time_ns(e[3].t), ==, -1);

    main_loop_run(loop);
    g_assert_cmpint(log.n, ==, 3);
    g_assert_cmpint(log.order[0], ==, 1);
    g_assert_cmpint(log.order[1], ==, 2);
    g_assert_cmpint(log.order[2], ==, 0);
    for (int i = 0; i < 3; i++) {
        /* Never early. */
        g_assert_cmpint(log.fired_at[i], >=, e[log.order[i]].deadline);
        g_assert_false(timer_pending(e[log.order[i]].t));
    }
    g_assert_true(timer_pending(safety));

    for (int i = 0; i < 4; i++) {
        timer_free(e[i].t);
    }
    timer_free(safety);
    main_loop_free(loop);
}

typedef struct Periodic {
    MainLoop *loop;
    Timer *t;
    int count;
    int limit;
} Periodic;

/* Re-arms itself limit times, then frees itself. */
static void periodic_cb(void *opaque)
{
    Periodic *p = opaque;

    if (++p->count < p->limit) {
        timer_mod_ns(p->t, clock_get_ns(p->loop, CLOCK_HOST) + MS);
        return;
    }
    timer_free(p->t);
    p->t = NULL;
    main_loop_quit(p->loop);
}

static void test_timer_rearm_and_free_in_callback(void)
{
    MainLoop *loop = main_loop_new(NULL);
    Periodic p = { .loop = loop, .limit = 5 };
    Timer *safety = safety_timer_new(loop, 1000);

    p.t = timer_new(loop, CLOCK_HOST, periodic_cb, &p);
    timer_mod_ns(p.t, clock_get_ns(loop, CLOCK_HOST) + MS);
    main_loop_run(loop);
    g_assert_cmpint(p.count, ==, 5);
    g_assert_null(p.t);

    timer_free(safety);
    main_loop_free(loop);
}

static void count_cb(void *opaque)
{
    (*(int *)opaque)++;
}

/* A timer re-armed into the past from its callback must not starve others. */
static void rearm_now_cb(void *opaque)
{
    Periodic *p = opaque;

    p->count++;
    timer_mod_ns(p->t, 0);
}

static void test_timer_rearm_past_deadline(void)
{
    MainLoop *loop = main_loop_new(NULL);
    Periodic p = { .loop = loop };
    BottomHalf *bh;
    int bh_runs = 0;

    p.t = timer_new(loop, CLOCK_HOST, rearm_now_cb, &p);
    timer_mod_ns(p.t, 0);
    bh = bh_new(loop, count_cb, &bh_runs);
    bh_schedule(bh);

    g_assert_true(main_loop_iterate(loop, false));
    g_assert_cmpint(p.count, ==, 1);
    g_assert_cmpint(bh_runs, ==, 1);
    g_assert_true(main_loop_iterate(loop, false));
    g_assert_cmpint(p.count, ==, 2);

    bh_free(bh);
    timer_free(p.t);
    main_loop_free(loop);
}

typedef struct ModFromThread {
    MainLoop *loop;
    Timer *t;
} ModFromThread;

static gpointer mod_timer_thread(gpointer opaque)
{
    ModFromThread *m = opaque;

    g_usleep(20 * 1000);
    timer_mod_ns(m->t, clock_get_ns(m->loop, CLOCK_HOST));
    return NULL;
}

static void test_timer_mod_from_thread(void)
{
    MainLoop *loop = main_loop_new(NULL);
    ModFromThread m = { .loop = loop };
    Timer *safety = safety_timer_new(loop, 1000);
    int64_t start = clock_get_ns(loop, CLOCK_HOST);
    GThread *thread;

    m.t = timer_new(loop, CLOCK_HOST, quit_cb, loop);
    thread = g_thread_new("mod", mod_timer_thread, &m);
    /* Blocks with nothing due but the safety timer, until the thread arms. */
    main_loop_run(loop);
    g_thread_join(thread);
    g_assert_true(timer_pending(safety));
    g_assert_cmpint(clock_get_ns(loop, CLOCK_HOST) - start, <, 500 * MS);

    timer_free(m.t);
    timer_free(safety);
    main_loop_free(loop);
}

static void test_virtual_clock(void)
{
    MainLoop *loop = main_loop_new(NULL);
    int64_t v0, v1, h0, h1;
    int fired = 0;
    Timer *vt = timer_new(loop, CLOCK_VIRTUAL, count_cb, &fired);
    Timer *ht;

    g_assert_true(main_loop_virtual_clock_running(loop));
    v0 = clock_get_ns(loop, CLOCK_VIRTUAL);
    timer_mod_ns(vt, v0 + 2 * MS);

    /* Stopped: the clock reads a constant and the timer does not fire. */
    main_loop_virtual_clock_stop(loop);
    main_loop_virtual_clock_stop(loop);     /* idempotent */
    g_assert_false(main_loop_virtual_clock_running(loop));
    v1 = clock_get_ns(loop, CLOCK_VIRTUAL);
    h0 = clock_get_ns(loop, CLOCK_HOST);
    ht = safety_timer_new(loop, 10);
    main_loop_run(loop);                    /* 10 ms of host time */
    g_assert_cmpint(fired, ==, 0);
    g_assert_cmpint(clock_get_ns(loop, CLOCK_VIRTUAL), ==, v1);

    /* Running again: time resumes from where it stopped. */
    main_loop_virtual_clock_start(loop);
    main_loop_virtual_clock_start(loop);    /* idempotent */
    g_assert_true(main_loop_virtual_clock_running(loop));
    h1 = clock_get_ns(loop, CLOCK_HOST);
    g_assert_cmpint(h1 - h0, >=, 10 * MS);
    g_assert_cmpint(clock_get_ns(loop, CLOCK_VIRTUAL) - v1, <, h1 - h0);
    g_assert_cmpint(clock_get_ns(loop, CLOCK_VIRTUAL), >=, v1);

    timer_mod_ns(ht, clock_get_ns(loop, CLOCK_HOST) + 500 * MS);
    while (!fired && timer_pending(ht)) {
        main_loop_iterate(loop, true);
    }
    g_assert_cmpint(fired, ==, 1);
    g_assert_cmpint(clock_get_ns(loop, CLOCK_VIRTUAL), >=, v0 + 2 * MS);

    timer_free(vt);
    timer_free(ht);
    main_loop_free(loop);
}

typedef struct StepProbe {
    MainLoop *loop;
    Timer *timer;
    int64_t seen[4];
    int n;
    int64_t period;         /* re-arm this far ahead while n < 4 */
} StepProbe;

static void step_probe_cb(void *opaque)
{
    StepProbe *p = opaque;

    p->seen[p->n++] = clock_get_ns(p->loop, CLOCK_VIRTUAL);
    if (p->n < 4) {
        timer_mod_ns(p->timer, p->seen[p->n - 1] + p->period);
    }
}

static void test_virtual_clock_step(void)
{
    MainLoop *loop = main_loop_new(NULL);
    StepProbe a = { .loop = loop, .period = 3 * MS };
    int late = 0;
    Timer *lt;
    int64_t v0;

    main_loop_virtual_clock_stop(loop);
    v0 = clock_get_ns(loop, CLOCK_VIRTUAL);
    a.timer = timer_new(loop, CLOCK_VIRTUAL, step_probe_cb, &a);
    lt = timer_new(loop, CLOCK_VIRTUAL, count_cb, &late);
    timer_mod_ns(a.timer, v0 + 1 * MS);
    timer_mod_ns(lt, v0 + 8 * MS);

    /* Each callback sees the clock at its own deadline, in order. */
    main_loop_virtual_clock_step(loop, 7 * MS + 999999);
    g_assert_cmpint(a.n, ==, 3);
    g_assert_cmpint(a.seen[0], ==, v0 + 1 * MS);
    g_assert_cmpint(a.seen[1], ==, v0 + 4 * MS);
    g_assert_cmpint(a.seen[2], ==, v0 + 7 * MS);
    g_assert_cmpint(late, ==, 0);
    g_assert_cmpint(clock_get_ns(loop, CLOCK_VIRTUAL), ==, v0 + 8 * MS - 1);
    g_assert_false(main_loop_virtual_clock_running(loop));

    /* A deadline exactly at the end of the step fires. */
    main_loop_virtual_clock_step(loop, 1);
    g_assert_cmpint(late, ==, 1);
    g_assert_cmpint(a.n, ==, 3);
    main_loop_virtual_clock_step(loop, 2 * MS);
    g_assert_cmpint(a.n, ==, 4);
    g_assert_cmpint(a.seen[3], ==, v0 + 10 * MS);
    g_assert_cmpint(clock_get_ns(loop, CLOCK_VIRTUAL), ==, v0 + 10 * MS);

    timer_free(a.timer);
    timer_free(lt);
    main_loop_free(loop);
}

/* ---- bottom halves ---- */

static void test_bh_coalesce_and_cancel(void)
{
    MainLoop *loop = main_loop_new(NULL);
    int runs = 0, freed_runs = 0;
    BottomHalf *bh = bh_new(loop, count_cb, &runs);
    BottomHalf *gone = bh_new(loop, count_cb, &freed_runs);

    bh_schedule(bh);
    bh_schedule(bh);
    bh_schedule(bh);
    bh_schedule(gone);
    bh_free(gone);          /* cancels the pending run */
    g_assert_true(main_loop_iterate(loop, false));
    g_assert_cmpint(runs, ==, 1);
    g_assert_false(main_loop_iterate(loop, false));
    g_assert_cmpint(runs, ==, 1);
    g_assert_cmpint(freed_runs, ==, 0);

    bh_schedule(bh);
    bh_cancel(bh);
    g_assert_false(main_loop_iterate(loop, false));
    g_assert_cmpint(runs, ==, 1);

    bh_free(bh);
    main_loop_free(loop);
}

typedef struct SelfBh {
    BottomHalf *bh;
    int runs;
} SelfBh;

static void self_reschedule_cb(void *opaque)
{
    SelfBh *s = opaque;

    if (++s->runs < 3) {
        bh_schedule(s->bh);
    }
}

static void test_bh_reschedules_itself(void)
{
    MainLoop *loop = main_loop_new(NULL);
    SelfBh s = { 0 };

    s.bh = bh_new(loop, self_reschedule_cb, &s);
    bh_schedule(s.bh);
    /* Once per iteration, so that a busy BH cannot starve the loop. */
    for (int i = 1; i <= 3; i++) {
        g_assert_true(main_loop_iterate(loop, false));
        g_assert_cmpint(s.runs, ==, i);
    }
    g_assert_false(main_loop_iterate(loop, false));
    bh_free(s.bh);
    main_loop_free(loop);
}

typedef struct Waker {
    BottomHalf *bh;
    MainLoop *loop;
} Waker;

static gpointer schedule_bh_thread(gpointer opaque)
{
    g_usleep(20 * 1000);
    bh_schedule(((Waker *)opaque)->bh);
    return NULL;
}

static gpointer quit_thread(gpointer opaque)
{
    g_usleep(20 * 1000);
    main_loop_quit(((Waker *)opaque)->loop);
    return NULL;
}

static void test_bh_from_thread_wakes_loop(void)
{
    MainLoop *loop = main_loop_new(NULL);
    Waker w = { .loop = loop };
    int64_t start = clock_get_ns(loop, CLOCK_HOST);
    Timer *safety = safety_timer_new(loop, 1000);
    GThread *thread;

    w.bh = bh_new(loop, quit_cb, loop);
    thread = g_thread_new("bh", schedule_bh_thread, &w);
    /* Nothing else is due for a second: only the BH's wake-up ends this. */
    main_loop_run(loop);
    g_thread_join(thread);
    g_assert_true(timer_pending(safety));
    g_assert_cmpint(clock_get_ns(loop, CLOCK_HOST) - start, <, 500 * MS);

    bh_free(w.bh);
    timer_free(safety);
    main_loop_free(loop);
}

static void test_quit_from_thread(void)
{
    MainLoop *loop = main_loop_new(NULL);
    Waker w = { .loop = loop };
    int64_t start = clock_get_ns(loop, CLOCK_HOST);
    Timer *safety = safety_timer_new(loop, 1000);
    GThread *thread = g_thread_new("quit", quit_thread, &w);

    main_loop_run(loop);
    g_thread_join(thread);
    g_assert_true(timer_pending(safety));
    g_assert_cmpint(clock_get_ns(loop, CLOCK_HOST) - start, <, 500 * MS);
    timer_free(safety);

    /* A quit before run() is not lost. */
    main_loop_quit(loop);
    main_loop_run(loop);
    main_loop_free(loop);
}

/* ---- machine lock and thread pool ---- */

typedef struct PoolTest {
    MainLoop *loop;
    GMutex *lock;
    GThread *main_thread;
    int submitted;
    int completed;
    int order[32];
    gint work_on_main;      /* atomic */
    bool lock_held_in_completions;
} PoolTest;

typedef struct PoolItem {
    PoolTest *pt;
    int index;
} PoolItem;

static int pool_work(void *opaque)
{
    PoolItem *item = opaque;

    if (g_thread_self() == item->pt->main_thread) {
        g_atomic_int_inc(&item->pt->work_on_main);
    }
    g_usleep(1000);
    return item->index * 10;
}

static void pool_complete(void *opaque, int ret)
{
    PoolItem *item = opaque;
    PoolTest *pt = item->pt;

    g_assert_true(g_thread_self() == pt->main_thread);
    g_assert_cmpint(ret, ==, item->index * 10);
    /* The loop holds the machine lock while it dispatches. */
    if (pt->lock && g_mutex_trylock(pt->lock)) {
        g_mutex_unlock(pt->lock);
        pt->lock_held_in_completions = false;
    }
    pt->order[pt->completed++] = item->index;
    if (pt->completed == pt->submitted) {
        main_loop_quit(pt->loop);
    }
}

static void run_pool(GMutex *lock, int max_threads)
{
    MainLoop *loop = main_loop_new(lock);
    PoolTest pt = {
        .loop = loop, .lock = lock, .main_thread = g_thread_self(),
        .submitted = 16, .lock_held_in_completions = true,
    };
    PoolItem items[16];
    ThreadPool *pool;
    Timer *safety;

    if (lock) {
        g_mutex_lock(lock);
    }
    safety = safety_timer_new(loop, 1000);
    pool = thread_pool_new(loop, max_threads);
    for (int i = 0; i < pt.submitted; i++) {
        items[i] = (PoolItem){ .pt = &pt, .index = i };
        thread_pool_submit(pool, pool_work, pool_complete, &items[i]);
    }
    main_loop_run(loop);
    g_assert_true(timer_pending(safety));
    g_assert_cmpint(pt.completed, ==, pt.submitted);
    g_assert_cmpint(g_atomic_int_get(&pt.work_on_main), ==, 0);
    g_assert_true(pt.lock_held_in_completions);
    if (max_threads == 1) {
        for (int i = 0; i < pt.submitted; i++) {
            g_assert_cmpint(pt.order[i], ==, i);     /* FIFO */
        }
    }
    thread_pool_free(pool);
    timer_free(safety);
    main_loop_free(loop);
    if (lock) {
        g_mutex_unlock(lock);
    }
}

static void test_thread_pool(void)
{
    run_pool(NULL, 4);
    run_pool(NULL, 1);
}

static void test_thread_pool_with_lock(void)
{
    GMutex lock;

    g_mutex_init(&lock);
    run_pool(&lock, 4);
    g_mutex_clear(&lock);
}

static void test_thread_pool_free_drains(void)
{
    MainLoop *loop = main_loop_new(NULL);
    PoolTest pt = {
        .loop = loop, .main_thread = g_thread_self(), .submitted = 8,
    };
    PoolItem items[8];
    ThreadPool *pool = thread_pool_new(loop, 2);

    for (int i = 0; i < pt.submitted; i++) {
        items[i] = (PoolItem){ .pt = &pt, .index = i };
        thread_pool_submit(pool, pool_work, pool_complete, &items[i]);
    }
    /* Without running the loop: free waits and runs every completion. */
    thread_pool_free(pool);
    g_assert_cmpint(pt.completed, ==, pt.submitted);
    main_loop_free(loop);
}

typedef struct LockGrabber {
    MainLoop *loop;
    GMutex *lock;
    BottomHalf *bh;
    bool got_lock;
} LockGrabber;

static gpointer grab_lock_thread(gpointer opaque)
{
    LockGrabber *g = opaque;
    gint64 deadline = g_get_monotonic_time() + G_USEC_PER_SEC;

    /* The loop must drop the lock while it waits in poll. */
    while (g_get_monotonic_time() < deadline) {
        if (g_mutex_trylock(g->lock)) {
            g->got_lock = true;
            g_mutex_unlock(g->lock);
            break;
        }
        g_usleep(1000);
    }
    bh_schedule(g->bh);
    return NULL;
}

static void test_lock_released_while_polling(void)
{
    GMutex lock;
    LockGrabber g = { .lock = &lock };
    GThread *thread;

    g_mutex_init(&lock);
    g_mutex_lock(&lock);
    g.loop = main_loop_new(&lock);
    g.bh = bh_new(g.loop, quit_cb, g.loop);
    thread = g_thread_new("grab", grab_lock_thread, &g);
    main_loop_run(g.loop);
    g_thread_join(thread);
    g_assert_true(g.got_lock);
    /* main_loop_run() returns with the lock held again. */
    g_assert_false(g_mutex_trylock(&lock));

    bh_free(g.bh);
    main_loop_free(g.loop);
    g_mutex_unlock(&lock);
    g_mutex_clear(&lock);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/main-loop/fd/read", test_fd_handler_read);
    g_test_add_func("/main-loop/fd/backpressure",
                    test_fd_handler_backpressure);
    g_test_add_func("/main-loop/fd/remove-in-callback",
                    test_fd_handler_remove_in_callback);
    g_test_add_func("/main-loop/timer/order", test_timer_order);
    g_test_add_func("/main-loop/timer/rearm-and-free",
                    test_timer_rearm_and_free_in_callback);
    g_test_add_func("/main-loop/timer/rearm-past",
                    test_timer_rearm_past_deadline);
    g_test_add_func("/main-loop/timer/mod-from-thread",
                    test_timer_mod_from_thread);
    g_test_add_func("/main-loop/timer/virtual-clock", test_virtual_clock);
    g_test_add_func("/main-loop/bh/coalesce-and-cancel",
                    test_bh_coalesce_and_cancel);
    g_test_add_func("/main-loop/bh/reschedule-itself",
                    test_bh_reschedules_itself);
    g_test_add_func("/main-loop/bh/from-thread", test_bh_from_thread_wakes_loop);
    g_test_add_func("/main-loop/quit-from-thread", test_quit_from_thread);
    g_test_add_func("/main-loop/lock-released-while-polling",
                    test_lock_released_while_polling);
    g_test_add_func("/main-loop/virtual-clock-step", test_virtual_clock_step);
    g_test_add_func("/thread-pool/completions", test_thread_pool);
    g_test_add_func("/thread-pool/completions-with-lock",
                    test_thread_pool_with_lock);
    g_test_add_func("/thread-pool/free-drains", test_thread_pool_free_drains);
    return g_test_run();
}
