/*
 * enospc_shim.c: an LD_PRELOAD library that makes a full disk out of thin air, for hosts where
 * the reliability tests cannot mount a small tmpfs (not root).
 *
 * For files whose path contains MSKPKI_ENOSPC_MATCH, write() succeeds for the first
 * MSKPKI_ENOSPC_AFTER bytes (in total, over all matching files; default 0) and then fails with
 * ENOSPC, as does fsync() once the budget is spent.  Other files are untouched.  Only write()
 * and fsync() are wrapped: the store writes its files with them.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

static long long written;

static int matches(int fd)
{
    const char *pattern = getenv("MSKPKI_ENOSPC_MATCH");
    char link[64];
    char path[4096];
    ssize_t n;

    if (pattern == NULL || pattern[0] == '\0') {
        return 0;
    }
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    n = readlink(link, path, sizeof(path) - 1);
    if (n < 0) {
        return 0;
    }
    path[n] = '\0';
    return strstr(path, pattern) != NULL;
}

static long long budget(void)
{
    const char *s = getenv("MSKPKI_ENOSPC_AFTER");
    char *end = NULL;
    long long v;

    if (s == NULL) {
        return 0;
    }
    errno = 0;
    v = strtoll(s, &end, 10);
    return (errno != 0 || end == s || v < 0) ? 0 : v;
}

ssize_t write(int fd, const void *buf, size_t count)
{
    ssize_t (*real_write)(int, const void *, size_t) =
        (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
    ssize_t r;

    if (count > 0 && matches(fd)) {
        long long left = budget() - written;
        if (left <= 0) {
            errno = ENOSPC;
            return -1;
        }
        if ((long long)count > left) {
            count = (size_t)left; /* a short write, then ENOSPC: as a filling disk does */
        }
        r = real_write(fd, buf, count);
        if (r > 0) {
            written += r;
        }
        return r;
    }
    return real_write(fd, buf, count);
}

int fsync(int fd)
{
    int (*real_fsync)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fsync");

    if (matches(fd) && written >= budget()) {
        errno = ENOSPC;
        return -1;
    }
    return real_fsync(fd);
}
