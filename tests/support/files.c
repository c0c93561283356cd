/* files.c: see files.h. */
#include "tests/support/files.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int mk_test_tmpdir(char *out, size_t cap, const char *tag)
{
    int n = snprintf(out, cap, "/tmp/mskpki-%s-XXXXXX", tag);

    if (n < 0 || (size_t)n >= cap) {
        return -1;
    }
    return mkdtemp(out) != NULL ? 0 : -1;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

int mk_test_rmtree(const char *dir)
{
    if (dir == NULL || dir[0] == '\0') {
        return 0;
    }
    /* A guard against a fixture bug turning this into rm -r of something that matters. */
    if (strncmp(dir, "/tmp/", 5) != 0 || strstr(dir, "/../") != NULL) {
        fprintf(stderr, "mk_test_rmtree: refusing to remove %s\n", dir);
        return -1;
    }
    return nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

char *mk_test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0;
    size_t n = 0;
    size_t got = 0;

    if (f == NULL) {
        return NULL;
    }
    do {
        if (n + 4096 + 1 > cap) {
            char *nb = realloc(buf, (n + 4096 + 1) * 2);

            if (nb == NULL) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
            cap = (n + 4096 + 1) * 2;
        }
        got = fread(buf + n, 1, 4096, f);
        n += got;
    } while (got > 0);
    fclose(f);
    buf[n] = '\0';
    if (len != NULL) {
        *len = n;
    }
    return buf;
}

int mk_test_write_file(const char *path, const void *data, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    const char *p = data;
    size_t done = 0;
    int rc = 0;

    if (fd < 0) {
        return -1;
    }
    while (done < len) {
        ssize_t w = write(fd, p + done, len - done);

        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            rc = -1;
            break;
        }
        done += (size_t)w;
    }
    if (fchmod(fd, mode) != 0) {
        rc = -1;
    }
    if (close(fd) != 0) {
        rc = -1;
    }
    return rc;
}
