/* audit_pool.c: run n independent calls on up to `concurrency` threads (see audit_pool.h). */
#include "ctl/audit/pool.h"

#include <pthread.h>
#include <stdlib.h>

struct pool {
    pthread_mutex_t lock;
    size_t next;
    size_t n;
    void (*fn)(void *ctx, size_t i);
    void *ctx;
};

static void *pool_worker(void *arg)
{
    struct pool *p = arg;
    for (;;) {
        size_t i;
        pthread_mutex_lock(&p->lock);
        i = p->next < p->n ? p->next++ : p->n;
        pthread_mutex_unlock(&p->lock);
        if (i == p->n) {
            return NULL;
        }
        p->fn(p->ctx, i);
    }
}

void audit_pool_run(size_t n, unsigned concurrency, void (*fn)(void *ctx, size_t i), void *ctx)
{
    struct pool p = {.next = 0, .n = n, .fn = fn, .ctx = ctx};
    size_t n_threads = concurrency == 0 ? 1 : concurrency;
    pthread_t *threads = NULL;
    size_t started = 0;

    if (n == 0) {
        return;
    }
    if (n_threads > n) {
        n_threads = n;
    }
    pthread_mutex_init(&p.lock, NULL);
    /* The caller is one worker, so concurrency 1 starts no thread at all. */
    if (n_threads > 1) {
        threads = calloc(n_threads - 1, sizeof(*threads));
    }
    for (size_t t = 0; threads != NULL && t + 1 < n_threads; t++) {
        if (pthread_create(&threads[t], NULL, pool_worker, &p) != 0) {
            break;
        }
        started++;
    }
    pool_worker(&p);
    for (size_t t = 0; t < started; t++) {
        pthread_join(threads[t], NULL);
    }
    free(threads);
    pthread_mutex_destroy(&p.lock);
}
