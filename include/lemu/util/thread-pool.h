/*
 * Worker thread pool: work runs on a worker thread without the machine
 * lock; its completion comes back to the main loop as a bottom half and runs
 * there with the machine lock held.
 */
#ifndef LEMU_UTIL_THREAD_POOL_H
#define LEMU_UTIL_THREAD_POOL_H

#include "lemu/util/main-loop.h"

typedef struct ThreadPool ThreadPool;

/* Runs on a worker thread; its return value is passed to the completion. */
typedef int ThreadPoolWorkFunc(void *opaque);
/* Runs on the main loop after the work function returned @ret. */
typedef void ThreadPoolCompleteFunc(void *opaque, int ret);

ThreadPool *thread_pool_new(MainLoop *loop, int max_threads);
void thread_pool_submit(ThreadPool *pool, ThreadPoolWorkFunc *work,
                        ThreadPoolCompleteFunc *complete, void *opaque);
/* Waits for queued work and pending completions, then frees the pool. */
void thread_pool_free(ThreadPool *pool);

#endif
