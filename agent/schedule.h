/*
 * schedule.h: when to renew and when to retry.  Pure arithmetic: no clock, no randomness of its
 * own (the caller passes the random unit in [0, 1) from pki_random_unit()), so the unit tests
 * can pin every bound.
 */
#ifndef AGENT_SCHEDULE_H
#define AGENT_SCHEDULE_H

#include <time.h>

/*
 * The jittered renewal time.  renewal is the planned time (pki_cert_renewal_time()); the jitter
 * is jitter_fraction * unit of the window that remains after it (not_after - renewal), and it is
 * subtracted: the agent may renew earlier than planned, never later.  The result is clamped into
 * [not_before, renewal].  A fraction outside [0, 1] is clamped too.
 */
time_t agent_schedule_jitter(time_t renewal, time_t not_before, time_t not_after,
                             double jitter_fraction, double unit);

/*
 * Seconds to wait after the n-th consecutive failure (failures >= 1): retry_min * 2^(n-1),
 * capped at retry_max, plus up to a quarter more as jitter (unit), still capped at retry_max.
 * Never below retry_min (nor below 1), except when urgent (the certificate is missing or
 * expired): then the wait is at most AGENT_SCHEDULE_URGENT_SECONDS, so the agent keeps trying.
 */
#define AGENT_SCHEDULE_URGENT_SECONDS 10
long agent_schedule_backoff(unsigned failures, long retry_min, long retry_max, double unit,
                            int urgent);

/* The earliest of two deadlines where 0 means "none". */
time_t agent_schedule_min(time_t a, time_t b);

#endif
