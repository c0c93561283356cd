/*
 * capture.h: collect this test process's own stderr (where pki/log.h writes) into a file, so a
 * test can check at the end that no secret was ever logged.
 */
#ifndef MK_TEST_CAPTURE_H
#define MK_TEST_CAPTURE_H

struct mk_test_capture {
    int saved_fd; /* the original stderr, -1 when not capturing */
    char path[512];
};

/* Sends stderr to path (truncated) until mk_test_capture_end().  Returns 0 or -1. */
int mk_test_capture_stderr(struct mk_test_capture *cap, const char *path);

/* Restores stderr, copies the captured lines to it (so they show in the test log) and prints
 * "captured N log lines, secret found: yes/no".  Returns 0 when something was captured and no
 * line contains any string of needles (a NULL-terminated list), else -1: an empty capture means
 * the check saw nothing.  The capture file is left in place. */
int mk_test_capture_end(struct mk_test_capture *cap, const char *const needles[]);

#endif
