/* test_audit_pool.c: audit_pool_run calls every index exactly once, whatever the concurrency. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ctl/audit_pool.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_index_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
