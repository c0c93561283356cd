/* keepalive.c: see keepalive.h. */
#include "pki/keepalive.h"

#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <time.h>

struct keepalive {
    void (*fn)(void *arg);
    void *arg;
};

/* Set once at start-up by the agent, read by any thread: a pointer swap keeps fn and arg
 * consistent without a lock. */
static struct keepalive slots[2];
static _Atomic(struct keepalive *) current;

void pki_keepalive_set(void (*fn)(void *arg), void *arg)
{
    struct keepalive *k;

    if (fn == NULL) {
        atomic_store(&current, NULL);
        return;
    }
    /* The slot not in use now: a reader of the other one never sees a half-written pair. */
    k = atomic_load(&current) == &slots[0] ? &slots[1] : &slots[0];
    k->fn = fn;
    k->arg = arg;
    atomic_store(&current, k);
}

void pki_keepalive(void)
{
    struct keepalive *k = atomic_load(&current);

    if (k != NULL) {
        k->fn(k->arg);
    }
}

void pki_keepalive_sleep(double seconds)
{
    while (seconds > 0) {
        double slice = seconds > 1.0 ? 1.0 : seconds;
        struct timespec ts;

        pki_keepalive();
        ts.tv_sec = (time_t)slice;
        ts.tv_nsec = (long)((slice - (double)ts.tv_sec) * 1e9);
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_nsec = 999999999L;
        }
        /* nanosleep writes the remainder back into ts when a signal interrupts it. */
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        }
        seconds -= slice;
    }
}
