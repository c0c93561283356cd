/* capture.c: see capture.h. */
#include "tests/support/capture.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

int mk_test_capture_stderr(struct mk_test_capture *cap, const char *path)
{
    snprintf(cap->path, sizeof(cap->path), "%s", path);
    fflush(stderr);
    cap->saved_fd = dup(STDERR_FILENO);
    if (cap->saved_fd < 0) {
        return -1;
    }
    return freopen(cap->path, "w", stderr) != NULL ? 0 : -1;
}

int mk_test_capture_end(struct mk_test_capture *cap, const char *const needles[], int *lines)
{
    char line[4096];
    int hits = 0;
    FILE *fp;

    *lines = 0;
    if (cap->saved_fd >= 0) {
        fflush(stderr);
        dup2(cap->saved_fd, STDERR_FILENO);
        close(cap->saved_fd);
        cap->saved_fd = -1;
    }
    fp = fopen(cap->path, "r");
    while (fp != NULL && fgets(line, sizeof(line), fp) != NULL) {
        int hit = 0;

        (*lines)++;
        fputs(line, stderr);
        for (int i = 0; needles[i] != NULL; i++) {
            hit |= strstr(line, needles[i]) != NULL;
        }
        hits += hit;
    }
    if (fp != NULL) {
        fclose(fp);
    }
    return hits;
}
