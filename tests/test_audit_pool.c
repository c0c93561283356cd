/*
 * test_audit_pool.c: audit_pool_run calls every index exactly once, whatever the concurrency,
 * and really has `concurrency` calls in flight at once (never more).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "ctl/audit/pool.h"

#define N 500

struct counts {
    int hits[N];
};

static void bump(void *ctx, size_t i)
{
    struct counts *c = ctx;
    /* Each index is its own slot, so no lock is needed: a double call shows as 2. */
    c->hits[i]++;
}

static void run_with(unsigned concurrency, size_t n)
{
    struct counts c;
    memset(&c, 0, sizeof(c));
    audit_pool_run(n, concurrency, bump, &c);
    for (size_t i = 0; i < N; i++) {
        assert_int_equal(c.hits[i], i < n ? 1 : 0);
    }
}

static void test_every_index_once(void **state)
{
    (void)state;
    run_with(1, N);
    run_with(8, N);
    run_with(64, N);
    run_with(8, 3); /* more threads than work */
    run_with(0, 10); /* 0 means 1 */
    run_with(8, 0);  /* nothing to do */
}

/*
 * Every call waits until `want` calls are in flight together, so a pool that ran the calls one
 * at a time (or on fewer threads) could never get there.  The deadline only keeps such a broken
 * pool from hanging the test; nothing is asserted about how long anything takes.
 */
struct flight {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned in_flight;
    unsigned peak;
    unsigned want;
    int timed_out;
    struct timespec deadline;
};

static void wait_for_peers(void *ctx, size_t i)
{
    struct flight *fl = ctx;
    (void)i;
    pthread_mutex_lock(&fl->lock);
    fl->in_flight++;
    if (fl->in_flight > fl->peak) {
        fl->peak = fl->in_flight;
    }
    pthread_cond_broadcast(&fl->cond);
    while (fl->peak < fl->want && !fl->timed_out) {
        if (pthread_cond_timedwait(&fl->cond, &fl->lock, &fl->deadline) == ETIMEDOUT) {
            fl->timed_out = 1;
        }
    }
    fl->in_flight--;
    pthread_mutex_unlock(&fl->lock);
}

static void run_in_flight(unsigned concurrency, size_t n, unsigned want)
{
    struct flight fl = {.want = want};
    pthread_mutex_init(&fl.lock, NULL);
    pthread_cond_init(&fl.cond, NULL);
    clock_gettime(CLOCK_REALTIME, &fl.deadline);
    fl.deadline.tv_sec += 60;
    audit_pool_run(n, concurrency, wait_for_peers, &fl);
    assert_false(fl.timed_out);      /* `want` calls did run at the same time */
    assert_int_equal(fl.peak, want); /* and never more than the concurrency */
    pthread_cond_destroy(&fl.cond);
    pthread_mutex_destroy(&fl.lock);
}

static void test_calls_overlap_up_to_concurrency(void **state)
{
    (void)state;
    run_in_flight(8, 8, 8);
    run_in_flight(4, 100, 4);
    run_in_flight(8, 3, 3); /* no more threads than calls */
    run_in_flight(1, 5, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_index_once),
        cmocka_unit_test(test_calls_overlap_up_to_concurrency),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
