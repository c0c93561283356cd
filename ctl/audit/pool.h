/*
 * audit_pool.h: a small pthread pool for the audit's AWS calls.
 *
 * audit_pool_run() calls fn(ctx, i) once for every i in [0, n) on up to `concurrency` threads and
 * returns when all calls are done.  Each call must write only to its own slot i, so results never
 * depend on the scheduling.  If a thread cannot be started, the remaining work runs on the threads
 * that did start (or on the caller), never skipped.
 */
#ifndef CTL_AUDIT_POOL_H
#define CTL_AUDIT_POOL_H

#include <stddef.h>

void audit_pool_run(size_t n, unsigned concurrency, void (*fn)(void *ctx, size_t i), void *ctx);

#endif
