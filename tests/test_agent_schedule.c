/* test_agent_schedule.c: renewal jitter bounds and retry backoff caps (agent/schedule.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "agent/schedule.h"

/* A 30-day certificate renewed at 2/3: renewal at day 20, ten days of window after it. */
#define NB 1000000L
#define NA (NB + 30L * 86400)
#define RN (NB + 20L * 86400)

static void test_jitter_zero_unit_is_renewal(void **state)
{
    (void)state;
    assert_int_equal(agent_schedule_jitter(RN, NB, NA, 0.10, 0.0), RN);
    assert_int_equal(agent_schedule_jitter(RN, NB, NA, 0.0, 0.99), RN);
}

static void test_jitter_bounds(void **state)
{
    (void)state;
    /* The largest unit subtracts (almost) the whole fraction of the remaining window. */
    time_t t = agent_schedule_jitter(RN, NB, NA, 0.10, 0.999999);
    assert_true(t <= RN);
    assert_true(t >= RN - (time_t)(0.10 * (NA - RN)));
    assert_true(t < RN - (time_t)(0.09 * (NA - RN)));
    /* Every unit in [0, 1) lands in [renewal - fraction * window, renewal]: never later. */
    for (int i = 0; i < 100; i++) {
        double u = i / 100.0;
        time_t v = agent_schedule_jitter(RN, NB, NA, 0.25, u);
        assert_true(v <= RN);
        assert_true(v >= RN - (time_t)(0.25 * (NA - RN)) - 1);
    }
}

static void test_jitter_clamps(void **state)
{
    (void)state;
    /* Fractions above 1 act as 1 and never go before notBefore. */
    time_t early = NB + 10;
    assert_true(agent_schedule_jitter(early, NB, NA, 50.0, 0.999) >= NB);
    /* Negative or NaN inputs act as 0. */
    assert_int_equal(agent_schedule_jitter(RN, NB, NA, -1.0, 0.5), RN);
    assert_int_equal(agent_schedule_jitter(RN, NB, NA, 0.1, -3.0), RN);
    /* A renewal at or after notAfter has no window: unchanged. */
    assert_int_equal(agent_schedule_jitter(NA, NB, NA, 0.1, 0.9), NA);
    /* A renewal before notBefore is lifted to notBefore. */
    assert_int_equal(agent_schedule_jitter(NB - 100, NB, NA, 0.1, 0.9), NB);
}

static void test_backoff_grows_and_caps(void **state)
{
    (void)state;
    assert_int_equal(agent_schedule_backoff(1, 30, 3600, 0.0, 0), 30);
    assert_int_equal(agent_schedule_backoff(2, 30, 3600, 0.0, 0), 60);
    assert_int_equal(agent_schedule_backoff(3, 30, 3600, 0.0, 0), 120);
    assert_int_equal(agent_schedule_backoff(7, 30, 3600, 0.0, 0), 1920);
    assert_int_equal(agent_schedule_backoff(8, 30, 3600, 0.0, 0), 3600);
    assert_int_equal(agent_schedule_backoff(4000000000U, 30, 3600, 0.999, 0), 3600);
    /* Jitter adds at most a quarter and never passes the cap. */
    long j = agent_schedule_backoff(2, 30, 3600, 0.999, 0);
    assert_true(j >= 60 && j <= 75);
    assert_int_equal(agent_schedule_backoff(12, 30, 3600, 0.999, 0), 3600);
}

static void test_backoff_bounds(void **state)
{
    (void)state;
    for (unsigned n = 1; n < 100; n++) {
        for (int k = 0; k < 10; k++) {
            long w = agent_schedule_backoff(n, 5, 300, k / 10.0, 0);
            assert_true(w >= 5 && w <= 300);
        }
    }
    /* Nonsense limits are repaired: min at least 1, max at least min. */
    assert_int_equal(agent_schedule_backoff(1, 0, 0, 0.0, 0), 1);
    assert_int_equal(agent_schedule_backoff(5, 100, 10, 0.5, 0), 100);
}

static void test_backoff_urgent(void **state)
{
    (void)state;
    assert_int_equal(agent_schedule_backoff(9, 30, 3600, 0.5, 1), AGENT_SCHEDULE_URGENT_SECONDS);
    assert_int_equal(agent_schedule_backoff(1, 2, 3600, 0.0, 1), 2);
}

static void test_min(void **state)
{
    (void)state;
    assert_int_equal(agent_schedule_min(0, 0), 0);
    assert_int_equal(agent_schedule_min(0, 5), 5);
    assert_int_equal(agent_schedule_min(7, 0), 7);
    assert_int_equal(agent_schedule_min(7, 5), 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jitter_zero_unit_is_renewal),
        cmocka_unit_test(test_jitter_bounds),
        cmocka_unit_test(test_jitter_clamps),
        cmocka_unit_test(test_backoff_grows_and_caps),
        cmocka_unit_test(test_backoff_bounds),
        cmocka_unit_test(test_backoff_urgent),
        cmocka_unit_test(test_min),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
