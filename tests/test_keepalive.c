/* test_keepalive.c: pki/keepalive.h: the installed function is called from long sleeps at least
 * once a second, not at all when none is installed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "pki/keepalive.h"

struct calls {
    int n;
    double at[16];
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void count(void *arg)
{
    struct calls *c = arg;
    if (c->n < 16) {
        c->at[c->n] = now();
    }
    c->n++;
}

static void test_no_function(void **state)
{
    (void)state;
    pki_keepalive_set(NULL, NULL);
    pki_keepalive(); /* a no-op, not a crash */
    pki_keepalive_sleep(0.01);
}

static void test_call(void **state)
{
    struct calls c = {0};
    (void)state;
    pki_keepalive_set(count, &c);
    pki_keepalive();
    assert_int_equal(c.n, 1);
    pki_keepalive_set(NULL, NULL);
    pki_keepalive();
    assert_int_equal(c.n, 1);
}

/* 2.5 s of sleep: three slices (1, 1, 0.5), one call before each, never more than ~1 s apart. */
static void test_sleep_slices(void **state)
{
    struct calls c = {0};
    double start = now();
    (void)state;
    pki_keepalive_set(count, &c);
    pki_keepalive_sleep(2.5);
    pki_keepalive_set(NULL, NULL);
    assert_true(now() - start >= 2.5);
    assert_int_equal(c.n, 3);
    for (int i = 1; i < c.n; i++) {
        assert_true(c.at[i] - c.at[i - 1] < 1.5);
    }
    /* Nothing to sleep: no call either. */
    pki_keepalive_set(count, &c);
    pki_keepalive_sleep(0);
    pki_keepalive_sleep(-1);
    pki_keepalive_set(NULL, NULL);
    assert_int_equal(c.n, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_function),
        cmocka_unit_test(test_call),
        cmocka_unit_test(test_sleep_slices),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
