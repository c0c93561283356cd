/* bench_util.h: small helpers shared by the bench/ C programs (not part of libmskpki). */
#ifndef MSKPKI_BENCH_UTIL_H
#define MSKPKI_BENCH_UTIL_H

#include <sys/types.h>

/* RssAnon of process pid in KiB from /proc/<pid>/status, or -1 when it cannot be read. */
long bench_rss_anon_kib(pid_t pid);

/* Seconds on the monotonic clock. */
double bench_now(void);

#endif
