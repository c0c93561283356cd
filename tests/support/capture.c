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

int mk_test_capture_end(struct mk_test_capture *cap, const char *const needles[])
{
    char line[4096];
    int lines = 0;
    int bad = 0;
    FILE *fp;

    if (cap->saved_fd >= 0) {
        fflush(stderr);
        dup2(cap->saved_fd, STDERR_FILENO);
        close(cap->saved_fd);
        cap->saved_fd = -1;
    }
    fp = fopen(cap->path, "r");
    while (fp != NULL && fgets(line, sizeof(line), fp) != NULL) {
        lines++;
        fputs(line, stderr);
        for (int i = 0; needles[i] != NULL; i++) {
            bad |= strstr(line, needles[i]) != NULL;
        }
    }
    if (fp != NULL) {
        fclose(fp);
    }
    fprintf(stderr, "captured %d log lines, secret found: %s\n", lines, bad ? "YES" : "no");
    return (bad || lines == 0) ? -1 : 0;
}
