/*
 * test_issue_lock.c: the state directory's writer lock (issue/lock.h, issue 17): the first taker
 * holds it and records its PID, a second is told that PID, closing releases it, and a missing
 * state directory is created.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "issue/lock.h"

static void test_lock_contention(void **state)
{
    (void)state;
    char dir[] = "/tmp/mskpki-lock-test.XXXXXX";
    char sd[128];
    char path[160];
    char buf[32] = {0};
    struct mk_err err;
    pid_t holder = 0;
    int fd1 = -1;
    int fd2 = -1;
    int f;

    assert_non_null(mkdtemp(dir));
    snprintf(sd, sizeof(sd), "%s/state", dir);
    /* The state directory does not exist yet: made, then locked. */
    assert_int_equal(issue_lock_take(sd, &fd1, &holder, &err), 0);
    assert_true(fd1 >= 0);
    snprintf(path, sizeof(path), "%s/agent.lock", sd);
    f = open(path, O_RDONLY);
    assert_true(f >= 0);
    assert_true(read(f, buf, sizeof(buf) - 1) > 0);
    close(f);
    assert_int_equal(strtol(buf, NULL, 10), (long)getpid());

    /* flock(2) locks belong to open file descriptions: a second taker in this process is
     * refused exactly as another process would be. */
    assert_int_equal(issue_lock_take(sd, &fd2, &holder, &err), 1);
    assert_int_equal(fd2, -1);
    assert_int_equal(holder, getpid());

    close(fd1);
    assert_int_equal(issue_lock_take(sd, &fd2, &holder, &err), 0);
    close(fd2);

    /* A state directory that cannot be made: an error, not a lock. */
    snprintf(sd, sizeof(sd), "%s/no/such/state", dir);
    assert_int_equal(issue_lock_take(sd, &fd2, &holder, &err), -1);
    assert_int_equal(err.code, MK_ERR_IO);
    assert_non_null(strstr(err.msg, sd));

    snprintf(sd, sizeof(sd), "%s/state", dir);
    unlink(path);
    rmdir(sd);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lock_contention),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
