/* test_secret.c: guarded secrets, passphrase files and randomness (pki/secret.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pki/secret.h"
#include "tests/support/files.h"

struct fixture {
    char dir[64];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct mk_err err;

    assert_non_null(f);
    assert_int_equal(mk_test_tmpdir(f->dir, sizeof(f->dir), "secret"), 0);
    assert_int_equal(pki_sodium_init(&err), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(mk_test_rmtree(f->dir), 0);
    free(f);
    return 0;
}

/* Writes data to dir/name with mode; returns the path in a static buffer. */
static const char *write_file(struct fixture *f, const char *name, const char *data, mode_t mode)
{
    static char path[256];
    int fd;

    snprintf(path, sizeof(path), "%s/%s", f->dir, name);
    unlink(path);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
    assert_true(fd >= 0);
    assert_int_equal(fchmod(fd, mode), 0);
    assert_int_equal(write(fd, data, strlen(data)), (ssize_t)strlen(data));
    close(fd);
    return path;
}

static void test_new_from(void **state)
{
    struct mk_err err;
    struct pki_secret *s;

    (void)state;
    s = pki_secret_new(8, &err);
    assert_non_null(s);
    assert_int_equal(pki_secret_len(s), 8);
    for (size_t i = 0; i <= 8; i++) {
        assert_int_equal(pki_secret_data(s)[i], 0);
    }
    pki_secret_free(s);

    s = pki_secret_from("hunter2", 7, &err);
    assert_non_null(s);
    assert_int_equal(pki_secret_len(s), 7);
    assert_string_equal(pki_secret_str(s), "hunter2");
    assert_int_equal(pki_secret_data(s)[7], '\0');
    pki_secret_mut(s)[0] = 'H';
    assert_string_equal(pki_secret_str(s), "Hunter2");
    pki_secret_free(s);

    s = pki_secret_new(0, &err);
    assert_non_null(s);
    assert_int_equal(pki_secret_len(s), 0);
    assert_string_equal(pki_secret_str(s), "");
    pki_secret_free(s);

    pki_secret_free(NULL);
    assert_null(pki_secret_str(NULL));
    assert_int_equal(pki_secret_len(NULL), 0);

    /* Negative: an impossible size fails cleanly. */
    assert_null(pki_secret_new(SIZE_MAX, &err));
    assert_int_equal(err.code, MK_ERR_NOMEM);
}

static void test_read_file(void **state)
{
    struct fixture *f = *state;
    struct mk_err err;
    struct pki_secret *s;

    s = pki_secret_read_file(write_file(f, "a", "s3cret\nsecond line\n", 0600), &err);
    assert_non_null(s);
    assert_string_equal(pki_secret_str(s), "s3cret");
    assert_int_equal(pki_secret_len(s), 6);
    pki_secret_free(s);

    s = pki_secret_read_file(write_file(f, "b", "crlf pass\r\n", 0400), &err);
    assert_non_null(s);
    assert_string_equal(pki_secret_str(s), "crlf pass");
    pki_secret_free(s);

    s = pki_secret_read_file(write_file(f, "c", "no newline", 0600), &err);
    assert_non_null(s);
    assert_string_equal(pki_secret_str(s), "no newline");
    pki_secret_free(s);
}

static void test_read_file_refusals(void **state)
{
    struct fixture *f = *state;
    struct mk_err err;
    const char *path;
    char missing[128];
    char big[5000];

    path = write_file(f, "empty", "", 0600);
    assert_null(pki_secret_read_file(path, &err));
    assert_int_equal(err.code, MK_ERR_INVALID);
    assert_non_null(strstr(err.msg, path));

    path = write_file(f, "emptyline", "\nsecond\n", 0600);
    assert_null(pki_secret_read_file(path, &err));
    assert_int_equal(err.code, MK_ERR_INVALID);
    assert_non_null(strstr(err.msg, "empty"));

    path = write_file(f, "wide", "pass\n", 0644);
    assert_null(pki_secret_read_file(path, &err));
    assert_int_equal(err.code, MK_ERR_PERM);
    assert_non_null(strstr(err.msg, path));
    assert_null(strstr(err.msg, "pass\n"));

    /* Group-writable: the group could rewrite it. */
    path = write_file(f, "groupw", "pass\n", 0660);
    assert_null(pki_secret_read_file(path, &err));
    assert_int_equal(err.code, MK_ERR_PERM);
    assert_non_null(strstr(err.msg, "lets its group write it"));

    /* Others: refused with the exact command. */
    char want[512];
    path = write_file(f, "world", "pass\n", 0604);
    assert_null(pki_secret_read_file(path, &err));
    assert_int_equal(err.code, MK_ERR_PERM);
    snprintf(want, sizeof(want), "lets others read or write it; run: chmod 600 %s", path);
    if (strstr(err.msg, want) == NULL) {
        fail_msg("got %s\nexpected ...%s", err.msg, want);
    }

    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    path = write_file(f, "big", big, 0600);
    assert_null(pki_secret_read_file(path, &err));
    assert_int_equal(err.code, MK_ERR_INVALID);

    snprintf(missing, sizeof(missing), "%s/missing", f->dir);
    assert_null(pki_secret_read_file(missing, &err));
    assert_int_equal(err.code, MK_ERR_NOTFOUND);
    assert_non_null(strstr(err.msg, missing));

    /* A directory is not a secret file. */
    assert_null(pki_secret_read_file(f->dir, &err));
    assert_int_not_equal(err.code, MK_OK);
}

/* Root's file with this process's group, 0640 (the /etc/ssl/private convention), is accepted;
 * the same with a group this process is not in is not, and the message says what to run.  As
 * root only (chown). */
static void test_read_file_root_group(void **state)
{
    struct fixture *f = *state;
    struct mk_err err;
    struct pki_secret *s;
    const char *path;

    if (geteuid() != 0) {
        skip();
    }
    path = write_file(f, "rootgrp", "grp-pass\n", 0640);
    assert_int_equal(chown(path, 0, getegid()), 0);
    s = pki_secret_read_file(path, &err);
    assert_non_null(s);
    assert_string_equal(pki_secret_str(s), "grp-pass");
    pki_secret_free(s);

    /* nogroup (65534): readable by a group this process is not in. */
    gid_t other = 65534;
    assert_false(other == getegid());
    assert_int_equal(chown(path, 0, other), 0);
    assert_null(pki_secret_read_file(path, &err));
    assert_int_equal(err.code, MK_ERR_PERM);
    char want[512];
    snprintf(want, sizeof(want), "lets its group read it; run: chmod 600 %s", path);
    if (strstr(err.msg, want) == NULL) {
        fail_msg("got %s\nexpected ...%s", err.msg, want);
    }

    /* As the agent's user would: a process of uid/gid 65534 reads root:65534 0640 (accepted),
     * but not root:65534 0660 (its group could rewrite it). */
    assert_int_equal(chmod(f->dir, 0711), 0);
    for (int writable = 0; writable <= 1; writable++) {
        assert_int_equal(chown(path, 0, other), 0);
        assert_int_equal(chmod(path, writable ? 0660 : 0640), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            struct mk_err e;
            if (setgroups(0, NULL) != 0 || setgid(other) != 0 || setuid(65534) != 0) {
                _exit(3);
            }
            struct pki_secret *x = pki_secret_read_file(path, &e);
            int ok = x != NULL && strcmp(pki_secret_str(x), "grp-pass") == 0;
            pki_secret_free(x);
            _exit(ok ? 0 : (e.code == MK_ERR_PERM && strstr(e.msg, "run: chmod 640") ? 1 : 2));
        }
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), writable ? 1 : 0);
    }

    /* Root with the agent's group trusted (agent.user, pki_secret_trust_group): root:65534 0640
     * is read as the unit's user would read it; 0660 still is not (in a child: the trust is
     * process-wide). */
    for (int writable = 0; writable <= 1; writable++) {
        assert_int_equal(chown(path, 0, other), 0);
        assert_int_equal(chmod(path, writable ? 0660 : 0640), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            struct mk_err e;
            pki_secret_trust_group(other);
            struct pki_secret *x = pki_secret_read_file(path, &e);
            int ok = x != NULL && strcmp(pki_secret_str(x), "grp-pass") == 0;
            pki_secret_free(x);
            _exit(ok ? 0 : (e.code == MK_ERR_PERM ? 1 : 2));
        }
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), writable ? 1 : 0);
    }

    /* Owned by someone else entirely. */
    assert_int_equal(chown(path, 65534, getegid()), 0);
    assert_int_equal(chmod(path, 0600), 0);
    assert_null(pki_secret_read_file(path, &err));
    assert_int_equal(err.code, MK_ERR_PERM);
    assert_non_null(strstr(err.msg, "owned by uid 65534"));
    assert_non_null(strstr(err.msg, "&& chmod 640"));
}

static void test_random(void **state)
{
    unsigned char a[32];
    unsigned char b[32];
    int seen[7] = {0};

    (void)state;
    for (int i = 0; i < 2000; i++) {
        uint32_t r = pki_random_uniform(7);
        double d = pki_random_unit();
        assert_true(r < 7);
        seen[r] = 1;
        assert_true(d >= 0.0 && d < 1.0);
    }
    /* 2000 draws from 7 values: missing one has probability about 7 * (6/7)^2000 ~ 0. */
    for (int i = 0; i < 7; i++) {
        assert_true(seen[i]);
    }
    assert_int_equal(pki_random_uniform(1), 0);
    assert_int_equal(pki_random_uniform(0), 0);
    pki_random_bytes(a, sizeof(a));
    pki_random_bytes(b, sizeof(b));
    assert_memory_not_equal(a, b, sizeof(a));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_new_from, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_file_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_file_root_group, setup, teardown),
        cmocka_unit_test_setup_teardown(test_random, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
