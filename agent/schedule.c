/* schedule.c: renewal jitter and retry backoff (see schedule.h). */
#include "agent/schedule.h"

static double clamp_unit(double v)
{
    if (!(v >= 0.0)) { /* also catches NaN */
        return 0.0;
    }
    return v > 1.0 ? 1.0 : v;
}

time_t agent_schedule_jitter(time_t renewal, time_t not_before, time_t not_after,
                             double jitter_fraction, double unit)
{
    double window;
    double jitter;
    time_t at;

    if (renewal < not_before) {
        renewal = not_before;
    }
    if (not_after <= renewal) {
        return renewal;
    }
    window = (double)(not_after - renewal);
    jitter = window * clamp_unit(jitter_fraction) * clamp_unit(unit);
    at = renewal - (time_t)jitter;
    if (at < not_before) {
        at = not_before;
    }
    if (at > renewal) {
        at = renewal;
    }
    return at;
}

long agent_schedule_backoff(unsigned failures, long retry_min, long retry_max, double unit,
                            int urgent)
{
    long base;
    long wait;

    if (retry_min < 1) {
        retry_min = 1;
    }
    if (retry_max < retry_min) {
        retry_max = retry_min;
    }
    base = retry_min;
    /* Doubling stops at the cap, so the shift never overflows. */
    for (unsigned i = 1; i < failures && base < retry_max; i++) {
        base = base > retry_max / 2 ? retry_max : base * 2;
    }
    if (base > retry_max) {
        base = retry_max;
    }
    wait = base + (long)((double)base * 0.25 * clamp_unit(unit));
    if (wait > retry_max) {
        wait = retry_max;
    }
    if (urgent && wait > AGENT_SCHEDULE_URGENT_SECONDS) {
        wait = AGENT_SCHEDULE_URGENT_SECONDS;
    }
    return wait;
}

time_t agent_schedule_min(time_t a, time_t b)
{
    if (a == 0) {
        return b;
    }
    if (b == 0) {
        return a;
    }
    return a < b ? a : b;
}
