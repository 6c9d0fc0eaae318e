/*
 * Worker thread pool. Work items wait in a FIFO queue; up to max_threads
 * workers, started on demand, take them in order and run them without the
 * machine lock. A finished item goes on a completion queue, and one bottom
 * half drains that queue on the main loop, where the completions run with
 * the machine lock held.
 */
#include "lemu/util/thread-pool.h"

typedef struct ThreadPoolItem {
    ThreadPoolWorkFunc *work;
    ThreadPoolCompleteFunc *complete;
    void *opaque;
    int ret;
} ThreadPoolItem;

struct ThreadPool {
    MainLoop *loop;
    BottomHalf *completion_bh;
    int max_threads;

    GMutex lock;              /* protects everything below */
    GCond work_cond;          /* signalled when work is queued or on stop */
    GQueue work;              /* ThreadPoolItem, FIFO */
    GQueue done;              /* ThreadPoolItem, finished, FIFO */
    GPtrArray *threads;       /* GThread, joined by thread_pool_free() */
    int idle_threads;         /* workers waiting on work_cond */
    bool stopping;            /* workers exit once the queue is empty */
};

static gpointer thread_pool_worker(gpointer opaque)
{
    ThreadPool *pool = opaque;

    g_mutex_lock(&pool->lock);
    for (;;) {
        ThreadPoolItem *item = g_queue_pop_head(&pool->work);

        if (!item) {
            if (pool->stopping) {
                break;
            }
            pool->idle_threads++;
            g_cond_wait(&pool->work_cond, &pool->lock);
            pool->idle_threads--;
            continue;
        }
        g_mutex_unlock(&pool->lock);
        item->ret = item->work(item->opaque);
        g_mutex_lock(&pool->lock);
        g_queue_push_tail(&pool->done, item);
        /* bh_schedule() only takes the loop's internal mutex. */
        bh_schedule(pool->completion_bh);
    }
    g_mutex_unlock(&pool->lock);
    return NULL;
}

/* Runs every finished item's completion, in the order they finished.
 * Takes the whole queue at once: one lock round trip per batch. */
static void thread_pool_run_completions(void *opaque)
{
    ThreadPool *pool = opaque;

    for (;;) {
        GQueue batch;
        ThreadPoolItem *item;

        g_mutex_lock(&pool->lock);
        batch = pool->done;
        g_queue_init(&pool->done);
        g_mutex_unlock(&pool->lock);
        if (g_queue_is_empty(&batch)) {
            break;
        }
        while ((item = g_queue_pop_head(&batch))) {
            if (item->complete) {
                item->complete(item->opaque, item->ret);
            }
            g_free(item);
        }
    }
}

ThreadPool *thread_pool_new(MainLoop *loop, int max_threads)
{
    ThreadPool *pool = g_new0(ThreadPool, 1);

    pool->loop = loop;
    pool->max_threads = MAX(max_threads, 1);
    pool->completion_bh = bh_new(loop, thread_pool_run_completions, pool);
    g_mutex_init(&pool->lock);
    g_cond_init(&pool->work_cond);
    g_queue_init(&pool->work);
    g_queue_init(&pool->done);
    pool->threads = g_ptr_array_new();
    return pool;
}

void thread_pool_submit(ThreadPool *pool, ThreadPoolWorkFunc *work,
                        ThreadPoolCompleteFunc *complete, void *opaque)
{
    ThreadPoolItem *item = g_new0(ThreadPoolItem, 1);

    item->work = work;
    item->complete = complete;
    item->opaque = opaque;

    g_mutex_lock(&pool->lock);
    g_queue_push_tail(&pool->work, item);
    /* Start a worker only when the idle ones cannot take all queued work. */
    if (pool->work.length > (guint)pool->idle_threads &&
        pool->threads->len < (guint)pool->max_threads) {
        g_ptr_array_add(pool->threads,
                        g_thread_new("lemu-worker", thread_pool_worker, pool));
    } else {
        g_cond_signal(&pool->work_cond);
    }
    g_mutex_unlock(&pool->lock);
}

void thread_pool_free(ThreadPool *pool)
{
    if (!pool) {
        return;
    }
    /* A completion may submit more work: repeat until nothing is left. */
    for (;;) {
        GPtrArray *threads;
        bool idle;

        g_mutex_lock(&pool->lock);
        pool->stopping = true;
        g_cond_broadcast(&pool->work_cond);
        threads = pool->threads;
        pool->threads = g_ptr_array_new();
        g_mutex_unlock(&pool->lock);

        for (guint i = 0; i < threads->len; i++) {
            g_thread_join(threads->pdata[i]);
        }
        g_ptr_array_free(threads, TRUE);

        thread_pool_run_completions(pool);

        g_mutex_lock(&pool->lock);
        idle = pool->work.length == 0 && pool->done.length == 0 &&
               pool->threads->len == 0;
        g_mutex_unlock(&pool->lock);
        if (idle) {
            break;
        }
    }
    bh_free(pool->completion_bh);
    g_ptr_array_free(pool->threads, TRUE);
    g_cond_clear(&pool->work_cond);
    g_mutex_clear(&pool->lock);
    g_free(pool);
}
