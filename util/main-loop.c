/*
 * The main loop: a private GMainContext per machine with three kinds of
 * source on it: one GSource per file descriptor handler, one GSource that
 * runs every timer, and one GSource that runs every bottom half.
 *
 * The loop is iterated by hand (prepare, query, poll, check, dispatch) so
 * that the machine lock can be dropped exactly around the poll: vCPU threads
 * can take it while the loop sleeps, and every callback runs with it held.
 *
 * Timers and bottom halves can be armed from any thread, so their lists sit
 * behind a small internal mutex. That mutex is never held while a callback
 * runs, and it is always taken after the machine lock, never before.
 */
#include <limits.h>
#include <time.h>

#include "lemu/util/main-loop.h"

/* A source that knows its loop: the timer source and the bottom-half source. */
typedef struct LoopSource {
    GSource source;
    MainLoop *loop;
} LoopSource;

struct MainLoop {
    GMainContext *ctx;
    GMutex *lock;             /* the machine lock, or NULL */
    gint quit;                /* atomic: set by main_loop_quit() */

    /* Poll set; touched only by the thread that iterates the loop. */
    GPollFD *pollfds;
    gint pollfds_size;

    GSource *timer_source;
    GSource *bh_source;

    GMutex mutex;             /* protects everything below */
    GQueue timers[2];         /* per ClockType, sorted by expiry */
    uint64_t timer_seq;       /* bumped by every timer_mod_ns() */
    bool vclock_stopped;
    int64_t vclock_stopped_at;  /* host time of the stop */
    int64_t vclock_bias;        /* total host time spent stopped */
    GQueue bh_pending;        /* scheduled bottom halves, FIFO */
    uint64_t bh_seq;          /* bumped by every new schedule */
};

struct FdHandler {
    GSource source;           /* first: the handler is the GSource */
    int fd;
    gpointer tag;             /* NULL while nothing is watched */
    GIOCondition events;
    FdHandlerFunc *cb;
    void *opaque;
};

struct Timer {
    MainLoop *loop;
    ClockType type;
    TimerFunc *cb;
    void *opaque;
    int64_t expire;           /* -1 when not pending */
    uint64_t seq;             /* loop->timer_seq when last armed */
    GList link;               /* in loop->timers[type] while pending */
};

struct BottomHalf {
    MainLoop *loop;
    BottomHalfFunc *cb;
    void *opaque;
    bool scheduled;
    uint64_t seq;             /* loop->bh_seq when scheduled */
    GList link;               /* in loop->bh_pending while scheduled */
};

static int64_t host_clock_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * NANOSECONDS_PER_SECOND + ts.tv_nsec;
}

/* Called with loop->mutex held. */
static int64_t virtual_clock_ns_locked(MainLoop *loop, int64_t host_now)
{
    if (loop->vclock_stopped) {
        return loop->vclock_stopped_at - loop->vclock_bias;
    }
    return host_now - loop->vclock_bias;
}

int64_t clock_get_ns(MainLoop *loop, ClockType type)
{
    int64_t now = host_clock_ns();

    if (type == CLOCK_HOST) {
        return now;
    }
    g_mutex_lock(&loop->mutex);
    now = virtual_clock_ns_locked(loop, now);
    g_mutex_unlock(&loop->mutex);
    return now;
}

void main_loop_virtual_clock_stop(MainLoop *loop)
{
    g_mutex_lock(&loop->mutex);
    if (!loop->vclock_stopped) {
        loop->vclock_stopped = true;
        loop->vclock_stopped_at = host_clock_ns();
    }
    g_mutex_unlock(&loop->mutex);
}

void main_loop_virtual_clock_start(MainLoop *loop)
{
    bool started = false;

    g_mutex_lock(&loop->mutex);
    if (loop->vclock_stopped) {
        loop->vclock_bias += host_clock_ns() - loop->vclock_stopped_at;
        loop->vclock_stopped = false;
        started = true;
    }
    g_mutex_unlock(&loop->mutex);
    if (started) {
        /* Virtual timers count again: let prepare() see their deadlines. */
        g_main_context_wakeup(loop->ctx);
    }
}

/*
 * Moves a stopped virtual clock forward by @ns, firing each virtual timer
 * that falls due on the way at its own deadline, in deadline order (what
 * qtest's clock_step does). Tests use it to run devices for an exact span
 * of virtual time whatever the host's load. The caller holds the machine
 * lock, as the main loop would.
 */
void main_loop_virtual_clock_step(MainLoop *loop, int64_t ns)
{
    int64_t target;

    g_assert(ns >= 0);
    g_mutex_lock(&loop->mutex);
    g_assert(loop->vclock_stopped);
    target = virtual_clock_ns_locked(loop, 0) + ns;
    for (;;) {
        GList *head = loop->timers[CLOCK_VIRTUAL].head;
        int64_t now = virtual_clock_ns_locked(loop, 0);
        TimerFunc *cb;
        void *opaque;
        Timer *t;

        if (!head || ((Timer *)head->data)->expire > target) {
            break;
        }
        t = head->data;
        if (t->expire > now) {
            loop->vclock_bias -= t->expire - now;
        }
        g_queue_unlink(&loop->timers[CLOCK_VIRTUAL], &t->link);
        t->expire = -1;
        cb = t->cb;
        opaque = t->opaque;
        g_mutex_unlock(&loop->mutex);
        cb(opaque);
        g_mutex_lock(&loop->mutex);
    }
    loop->vclock_bias -= target - virtual_clock_ns_locked(loop, 0);
    g_mutex_unlock(&loop->mutex);
}

bool main_loop_virtual_clock_running(MainLoop *loop)
{
    bool running;

    g_mutex_lock(&loop->mutex);
    running = !loop->vclock_stopped;
    g_mutex_unlock(&loop->mutex);
    return running;
}

/* ---- timers ---- */

/*
 * Nanoseconds until the earliest deadline (<= 0: something is due), or
 * INT64_MAX when no timer can fire. Called with loop->mutex held.
 */
static int64_t timers_delta_locked(MainLoop *loop)
{
    int64_t host_now = host_clock_ns();
    int64_t delta = INT64_MAX;
    GList *head;

    head = loop->timers[CLOCK_HOST].head;
    if (head) {
        delta = ((Timer *)head->data)->expire - host_now;
    }
    head = loop->timers[CLOCK_VIRTUAL].head;
    if (head && !loop->vclock_stopped) {
        int64_t v = ((Timer *)head->data)->expire -
                    virtual_clock_ns_locked(loop, host_now);
        delta = MIN(delta, v);
    }
    return delta;
}

static gboolean timer_source_prepare(GSource *source, gint *timeout)
{
    MainLoop *loop = ((LoopSource *)source)->loop;
    int64_t delta;

    g_mutex_lock(&loop->mutex);
    delta = timers_delta_locked(loop);
    g_mutex_unlock(&loop->mutex);

    if (delta == INT64_MAX) {
        *timeout = -1;
        return FALSE;
    }
    if (delta <= 0) {
        *timeout = 0;
        return TRUE;
    }
    /* Round up so that we never wake before the deadline. */
    delta = (delta + 999999) / 1000000;
    *timeout = delta > INT_MAX ? INT_MAX : (gint)delta;
    return FALSE;
}

static gboolean timer_source_check(GSource *source)
{
    MainLoop *loop = ((LoopSource *)source)->loop;
    int64_t delta;

    g_mutex_lock(&loop->mutex);
    delta = timers_delta_locked(loop);
    g_mutex_unlock(&loop->mutex);
    return delta <= 0;
}

/*
 * The first due timer that was armed before this dispatch began (@max_seq),
 * so that a callback re-arming its timer into the past cannot keep us here
 * forever. Called with loop->mutex held.
 */
static Timer *timers_next_due_locked(MainLoop *loop, uint64_t max_seq)
{
    int64_t host_now = host_clock_ns();
    GList *head;
    Timer *t;

    head = loop->timers[CLOCK_HOST].head;
    if (head) {
        t = head->data;
        if (t->expire <= host_now && t->seq <= max_seq) {
            return t;
        }
    }
    head = loop->timers[CLOCK_VIRTUAL].head;
    if (head && !loop->vclock_stopped) {
        t = head->data;
        if (t->expire <= virtual_clock_ns_locked(loop, host_now) &&
            t->seq <= max_seq) {
            return t;
        }
    }
    return NULL;
}

static gboolean timer_source_dispatch(GSource *source, GSourceFunc unused,
                                      gpointer unused_data)
{
    MainLoop *loop = ((LoopSource *)source)->loop;
    uint64_t max_seq;

    g_mutex_lock(&loop->mutex);
    max_seq = loop->timer_seq;
    for (;;) {
        Timer *t = timers_next_due_locked(loop, max_seq);
        TimerFunc *cb;
        void *opaque;

        if (!t) {
            break;
        }
        g_queue_unlink(&loop->timers[t->type], &t->link);
        t->expire = -1;
        cb = t->cb;
        opaque = t->opaque;

        /* The callback may re-arm or free @t, or any other timer. */
        g_mutex_unlock(&loop->mutex);
        cb(opaque);
        g_mutex_lock(&loop->mutex);
    }
    g_mutex_unlock(&loop->mutex);
    return G_SOURCE_CONTINUE;
}

static GSourceFuncs timer_source_funcs = {
    .prepare = timer_source_prepare,
    .check = timer_source_check,
    .dispatch = timer_source_dispatch,
};

Timer *timer_new(MainLoop *loop, ClockType type, TimerFunc *cb, void *opaque)
{
    Timer *t = g_new0(Timer, 1);

    g_assert(type == CLOCK_HOST || type == CLOCK_VIRTUAL);
    t->loop = loop;
    t->type = type;
    t->cb = cb;
    t->opaque = opaque;
    t->expire = -1;
    t->link.data = t;
    return t;
}

/* Called with loop->mutex held. */
static void timer_del_locked(Timer *t)
{
    if (t->expire >= 0) {
        g_queue_unlink(&t->loop->timers[t->type], &t->link);
        t->expire = -1;
    }
}

void timer_mod_ns(Timer *t, int64_t expire_ns)
{
    MainLoop *loop = t->loop;
    GQueue *q = &loop->timers[t->type];
    GList *l;
    bool first;

    g_mutex_lock(&loop->mutex);
    timer_del_locked(t);
    t->expire = MAX(expire_ns, 0);
    t->seq = ++loop->timer_seq;
    /* After every timer with the same deadline: equal deadlines fire FIFO. */
    for (l = q->tail; l && ((Timer *)l->data)->expire > t->expire;
         l = l->prev) {
    }
    g_queue_insert_after_link(q, l, &t->link);
    first = q->head == &t->link;
    g_mutex_unlock(&loop->mutex);

    if (first) {
        /* The poll timeout may now be too long: recompute it. */
        g_main_context_wakeup(loop->ctx);
    }
}

void timer_del(Timer *t)
{
    g_mutex_lock(&t->loop->mutex);
    timer_del_locked(t);
    g_mutex_unlock(&t->loop->mutex);
}

bool timer_pending(Timer *t)
{
    return timer_expire_time_ns(t) >= 0;
}

int64_t timer_expire_time_ns(Timer *t)
{
    int64_t expire;

    g_mutex_lock(&t->loop->mutex);
    expire = t->expire;
    g_mutex_unlock(&t->loop->mutex);
    return expire;
}

void timer_free(Timer *t)
{
    if (t) {
        timer_del(t);
        g_free(t);
    }
}

/* ---- bottom halves ---- */

static bool bh_any_pending(MainLoop *loop)
{
    bool pending;

    g_mutex_lock(&loop->mutex);
    pending = loop->bh_pending.length > 0;
    g_mutex_unlock(&loop->mutex);
    return pending;
}

static gboolean bh_source_prepare(GSource *source, gint *timeout)
{
    *timeout = -1;
    return bh_any_pending(((LoopSource *)source)->loop);
}

static gboolean bh_source_check(GSource *source)
{
    return bh_any_pending(((LoopSource *)source)->loop);
}

static gboolean bh_source_dispatch(GSource *source, GSourceFunc unused,
                                   gpointer unused_data)
{
    MainLoop *loop = ((LoopSource *)source)->loop;
    uint64_t max_seq;

    g_mutex_lock(&loop->mutex);
    /* A bottom half that reschedules itself runs again next iteration. */
    max_seq = loop->bh_seq;
    for (;;) {
        GList *head = loop->bh_pending.head;
        BottomHalf *bh;
        BottomHalfFunc *cb;
        void *opaque;

        if (!head || ((BottomHalf *)head->data)->seq > max_seq) {
            break;
        }
        bh = head->data;
        g_queue_unlink(&loop->bh_pending, &bh->link);
        bh->scheduled = false;
        cb = bh->cb;
        opaque = bh->opaque;

        g_mutex_unlock(&loop->mutex);
        cb(opaque);
        g_mutex_lock(&loop->mutex);
    }
    g_mutex_unlock(&loop->mutex);
    return G_SOURCE_CONTINUE;
}

static GSourceFuncs bh_source_funcs = {
    .prepare = bh_source_prepare,
    .check = bh_source_check,
    .dispatch = bh_source_dispatch,
};

BottomHalf *bh_new(MainLoop *loop, BottomHalfFunc *cb, void *opaque)
{
    BottomHalf *bh = g_new0(BottomHalf, 1);

    bh->loop = loop;
    bh->cb = cb;
    bh->opaque = opaque;
    bh->link.data = bh;
    return bh;
}

void bh_schedule(BottomHalf *bh)
{
    MainLoop *loop = bh->loop;
    bool newly = false;

    g_mutex_lock(&loop->mutex);
    if (!bh->scheduled) {
        bh->scheduled = true;
        bh->seq = ++loop->bh_seq;
        g_queue_push_tail_link(&loop->bh_pending, &bh->link);
        newly = true;
    }
    g_mutex_unlock(&loop->mutex);
    if (newly) {
        g_main_context_wakeup(loop->ctx);
    }
}

void bh_cancel(BottomHalf *bh)
{
    MainLoop *loop = bh->loop;

    g_mutex_lock(&loop->mutex);
    if (bh->scheduled) {
        g_queue_unlink(&loop->bh_pending, &bh->link);
        bh->scheduled = false;
    }
    g_mutex_unlock(&loop->mutex);
}

void bh_free(BottomHalf *bh)
{
    if (bh) {
        bh_cancel(bh);
        g_free(bh);
    }
}

/* ---- file descriptor handlers ---- */

static gboolean fd_source_dispatch(GSource *source, GSourceFunc unused,
                                   gpointer unused_data)
{
    FdHandler *h = (FdHandler *)source;
    GIOCondition ready;

    /* Another callback of this iteration may have stopped the watch. */
    if (!h->tag) {
        return G_SOURCE_CONTINUE;
    }
    ready = g_source_query_unix_fd(source, h->tag);
    if (ready & G_IO_NVAL) {
        /* A closed fd: report it as an error so that its owner removes it. */
        ready = (ready & ~G_IO_NVAL) | G_IO_ERR;
    }
    ready &= h->events | G_IO_HUP | G_IO_ERR;
    if (ready) {
        h->cb(h->opaque, h->fd, ready);
    }
    return G_SOURCE_CONTINUE;
}

static GSourceFuncs fd_source_funcs = {
    .dispatch = fd_source_dispatch,
};

FdHandler *main_loop_add_fd(MainLoop *loop, int fd, GIOCondition events,
                            FdHandlerFunc *cb, void *opaque)
{
    GSource *source = g_source_new(&fd_source_funcs, sizeof(FdHandler));
    FdHandler *h = (FdHandler *)source;

    g_source_set_name(source, "lemu fd handler");
    h->fd = fd;
    h->cb = cb;
    h->opaque = opaque;
    fd_handler_set_events(h, events);
    g_source_attach(source, loop->ctx);
    return h;
}

void fd_handler_set_events(FdHandler *h, GIOCondition events)
{
    GSource *source = &h->source;

    events &= G_IO_IN | G_IO_OUT | G_IO_PRI;
    if (events == h->events && (events != 0) == (h->tag != NULL)) {
        return;
    }
    h->events = events;
    if (!events) {
        /*
         * Drop the fd from the poll set altogether: poll() reports HUP and
         * ERR even for an empty event mask, which would spin the loop.
         */
        if (h->tag) {
            g_source_remove_unix_fd(source, h->tag);
            h->tag = NULL;
        }
    } else if (h->tag) {
        g_source_modify_unix_fd(source, h->tag, events);
    } else {
        h->tag = g_source_add_unix_fd(source, h->fd, events);
    }
}

void fd_handler_remove(FdHandler *h)
{
    if (h) {
        /* Safe from any callback: GLib keeps the source alive while it is
         * being dispatched and skips destroyed sources. */
        g_source_destroy(&h->source);
        g_source_unref(&h->source);
    }
}

/* ---- the loop ---- */

static GSource *loop_source_new(MainLoop *loop, GSourceFuncs *funcs,
                                const char *name)
{
    GSource *source = g_source_new(funcs, sizeof(LoopSource));

    ((LoopSource *)source)->loop = loop;
    g_source_set_name(source, name);
    g_source_attach(source, loop->ctx);
    return source;
}

MainLoop *main_loop_new(GMutex *lock)
{
    MainLoop *loop = g_new0(MainLoop, 1);

    loop->ctx = g_main_context_new();
    loop->lock = lock;
    g_mutex_init(&loop->mutex);
    g_queue_init(&loop->timers[CLOCK_HOST]);
    g_queue_init(&loop->timers[CLOCK_VIRTUAL]);
    g_queue_init(&loop->bh_pending);
    loop->pollfds_size = 16;
    loop->pollfds = g_new0(GPollFD, loop->pollfds_size);
    loop->timer_source = loop_source_new(loop, &timer_source_funcs,
                                         "lemu timers");
    loop->bh_source = loop_source_new(loop, &bh_source_funcs,
                                      "lemu bottom halves");
    return loop;
}

void main_loop_free(MainLoop *loop)
{
    if (!loop) {
        return;
    }
    g_source_destroy(loop->timer_source);
    g_source_unref(loop->timer_source);
    g_source_destroy(loop->bh_source);
    g_source_unref(loop->bh_source);
    g_main_context_unref(loop->ctx);
    g_free(loop->pollfds);
    g_mutex_clear(&loop->mutex);
    g_free(loop);
}

GMainContext *main_loop_context(MainLoop *loop)
{
    return loop->ctx;
}

bool main_loop_iterate(MainLoop *loop, bool may_block)
{
    GMainContext *ctx = loop->ctx;
    gint max_priority, timeout, nfds;
    bool ready;

    if (!g_main_context_acquire(ctx)) {
        return false;   /* another thread runs this loop */
    }
    g_main_context_prepare(ctx, &max_priority);
    for (;;) {
        nfds = g_main_context_query(ctx, max_priority, &timeout,
                                    loop->pollfds, loop->pollfds_size);
        if (nfds <= loop->pollfds_size) {
            break;
        }
        loop->pollfds_size = nfds;
        loop->pollfds = g_renew(GPollFD, loop->pollfds, nfds);
    }
    if (!may_block) {
        timeout = 0;
    }

    if (loop->lock) {
        g_mutex_unlock(loop->lock);
    }
    /* EINTR leaves no revents set; check() then finds only what is due. */
    g_poll(loop->pollfds, nfds, timeout);
    if (loop->lock) {
        g_mutex_lock(loop->lock);
    }

    ready = g_main_context_check(ctx, max_priority, loop->pollfds, nfds);
    if (ready) {
        g_main_context_dispatch(ctx);
    }
    g_main_context_release(ctx);
    return ready;
}

void main_loop_run(MainLoop *loop)
{
    while (!g_atomic_int_get(&loop->quit)) {
        main_loop_iterate(loop, true);
    }
    /* A quit that came before run() still stops it; re-arm for next time. */
    g_atomic_int_set(&loop->quit, 0);
}

void main_loop_quit(MainLoop *loop)
{
    g_atomic_int_set(&loop->quit, 1);
    g_main_context_wakeup(loop->ctx);
}
