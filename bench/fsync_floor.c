/*
 * fsync_floor.c: the durable-write floor for the rotation benchmark (bench/bench_agent.py).
 *
 * Writes COUNT files of SIZE bytes into DIR the way any durable writer must: create a temp file,
 * write, fsync, close, rename over the final name.  This is the cost the agent cannot avoid per
 * file it writes; the benchmark multiplies it by the number of files the agent wrote.
 *
 *   bench_fsync_floor DIR COUNT [SIZE]
 *
 * Prints "fsync_floor files=<n> size=<b> total_s=<t> per_file_ms=<m>".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench_util.h"

static int parse_count(const char *s, long min, long max, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
        return -1;
    }
    *out = v;
    return 0;
}

static int write_one(const char *dir, long i, const char *buf, size_t size)
{
    char tmp[4096];
    char name[4096];
    int fd;

    snprintf(tmp, sizeof(tmp), "%s/.f%ld.tmp", dir, i);
    snprintf(name, sizeof(name), "%s/f%ld", dir, i);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        perror(tmp);
        return -1;
    }
    if (write(fd, buf, size) != (ssize_t)size || fsync(fd) != 0) {
        perror(tmp);
        close(fd);
        return -1;
    }
    if (close(fd) != 0 || rename(tmp, name) != 0) {
        perror(name);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    long count = 0;
    long size = 1024;
    char *buf;
    double t0;
    double t;

    if (argc < 3 || argc > 4 || parse_count(argv[2], 1, 10000000, &count) != 0 ||
        (argc == 4 && parse_count(argv[3], 1, 1 << 24, &size) != 0)) {
        fprintf(stderr, "usage: bench_fsync_floor DIR COUNT [SIZE]\n");
        return 2;
    }
    buf = malloc((size_t)size);
    if (buf == NULL) {
        fprintf(stderr, "bench_fsync_floor: out of memory\n");
        return 1;
    }
    memset(buf, 'x', (size_t)size);
    t0 = bench_now();
    for (long i = 0; i < count; i++) {
        if (write_one(argv[1], i, buf, (size_t)size) != 0) {
            free(buf);
            return 1;
        }
    }
    t = bench_now() - t0;
    printf("fsync_floor files=%ld size=%ld total_s=%.4f per_file_ms=%.4f\n", count, size, t,
           t * 1000.0 / (double)count);
    free(buf);
    return 0;
}
