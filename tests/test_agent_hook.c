/* test_agent_hook.c: the hook runner: environment, failures, timeout kill (agent/hook.c). */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/hook.h"

static char tmpdir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_agent_hook.XXXXXX");
    return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static int run_sh(const char *script, long timeout, struct mk_err *err)
{
    char *argv[] = {"/bin/sh", "-c", (char *)script, NULL};
    struct agent_hook_spec spec = {
        .argv = argv,
        .timeout_seconds = timeout,
        .name = "client-a",
        .cert_path = "/etc/kafka/tls/client.crt",
        .not_after = 1700000000,
    };
    return agent_hook_run(&spec, err);
}

static char *slurp(const char *path)
{
    static char buf[8192];
    FILE *f = fopen(path, "r");
    size_t n;

    assert_non_null(f);
    n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void test_env(void **state)
{
    char script[640];
    char path[128];
    struct mk_err err;
    char *env;

    (void)state;
    setenv("MSKPKI_TEST_SHOULD_NOT_LEAK", "1", 1);
    snprintf(path, sizeof(path), "%s/env", tmpdir);
    snprintf(script, sizeof(script), "env > '%s'; read x || echo stdin-eof >> '%s'", path, path);
    assert_int_equal(run_sh(script, 10, &err), 0);
    env = slurp(path);
    assert_non_null(strstr(env, "MSKPKI_CERT_NAME=client-a\n"));
    assert_non_null(strstr(env, "MSKPKI_CERT_PATH=/etc/kafka/tls/client.crt\n"));
    assert_non_null(strstr(env, "MSKPKI_NOT_AFTER=1700000000\n"));
    assert_non_null(strstr(env, "PATH="));
    assert_non_null(strstr(env, "stdin-eof"));
    assert_null(strstr(env, "MSKPKI_TEST_SHOULD_NOT_LEAK"));
    unsetenv("MSKPKI_TEST_SHOULD_NOT_LEAK");
}

static void test_failure_reported(void **state)
{
    struct mk_err err;
    char *argv[] = {"/nonexistent/hook", NULL};
    struct agent_hook_spec spec = {
        .argv = argv, .timeout_seconds = 5, .name = "x", .cert_path = "/x", .not_after = 1};

    (void)state;
    assert_int_equal(run_sh("exit 3", 10, &err), -1);
    assert_int_equal(err.code, MK_ERR_IO);
    assert_non_null(strstr(err.msg, "status 3"));
    assert_int_equal(run_sh("kill -TERM $$", 10, &err), -1);
    assert_non_null(strstr(err.msg, "signal 15"));
    assert_int_equal(agent_hook_run(&spec, &err), -1);
    assert_non_null(strstr(err.msg, "could not execute"));
    spec.argv = NULL;
    assert_int_equal(agent_hook_run(&spec, &err), -1);
    assert_int_equal(err.code, MK_ERR_CONFIG);
}

/* A hook given as a list runs without a shell: its arguments reach the program as written, with
 * no expansion, quoting or command separators (only shell = true adds /bin/sh -c). */
static void test_no_shell(void **state)
{
    char literal[160];
    char expanded[160];
    struct mk_err err;
    char *argv[] = {"/usr/bin/touch", literal, NULL};
    struct agent_hook_spec spec = {.argv = argv,
                                   .timeout_seconds = 10,
                                   .name = "client-a",
                                   .cert_path = "/etc/kafka/tls/client.crt",
                                   .not_after = 1700000000};

    (void)state;
    snprintf(literal, sizeof(literal), "%s/$MSKPKI_CERT_NAME;touch x", tmpdir);
    snprintf(expanded, sizeof(expanded), "%s/client-a", tmpdir);
    assert_int_equal(agent_hook_run(&spec, &err), 0);
    assert_int_equal(access(literal, F_OK), 0);
    assert_int_equal(access(expanded, F_OK), -1);
    assert_int_equal(access("x", F_OK), -1);
}

static void test_timeout_kills_group(void **state)
{
    char script[640];
    char path[128];
    struct mk_err err;
    long pid;
    char *end;

    (void)state;
    snprintf(path, sizeof(path), "%s/pid", tmpdir);
    /* The hook starts a grandchild and waits: the whole process group must die. */
    snprintf(script, sizeof(script), "sleep 300 & echo $! > '%s.tmp'; mv '%s.tmp' '%s'; wait", path,
             path, path);
    assert_int_equal(run_sh(script, 1, &err), -1);
    assert_int_equal(err.code, MK_ERR_TIMEOUT);
    assert_non_null(strstr(err.msg, "timeout"));
    pid = strtol(slurp(path), &end, 10);
    assert_true(pid > 1);
    /* The grandchild was killed (it may linger as a zombie until init reaps it). */
    for (int i = 0; i < 200; i++) {
        char stat[64];
        char buf[512];
        FILE *f;
        snprintf(stat, sizeof(stat), "/proc/%ld/stat", pid);
        f = fopen(stat, "r");
        if (f == NULL) {
            return;
        }
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        char *rp = strrchr(buf, ')');
        if (rp != NULL && rp[2] == 'Z') {
            return;
        }
        usleep(10000);
    }
    fail_msg("grandchild %ld still running after the hook timed out", pid);
}

/* Live (not zombie) processes whose process group is pgid. */
static int group_alive(pid_t pgid)
{
    DIR *d = opendir("/proc");
    struct dirent *de;
    int n = 0;

    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        char path[300];
        char buf[512];
        char st;
        long grp;
        FILE *f;
        snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
        if (de->d_name[0] < '0' || de->d_name[0] > '9' || (f = fopen(path, "r")) == NULL) {
            continue;
        }
        size_t len = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[len] = '\0';
        char *rp = strrchr(buf, ')');
        if (rp != NULL && sscanf(rp + 2, "%c %*d %ld", &st, &grp) == 2 && grp == (long)pgid &&
            st != 'Z' && st != 'X') {
            n++;
        }
    }
    closedir(d);
    return n;
}

/* agent_hook_end (the agent stops): SIGTERM to the group, SIGKILL after the grace for a hook
 * that ignores it; the result is a failure naming the stop, and nothing of the group is left. */
static void test_end_on_stop(void **state)
{
    char *argv[] = {"/bin/sh", "-c", "trap '' TERM; sleep 300 & wait; sleep 300", NULL};
    struct agent_hook_spec spec = {.argv = argv, .timeout_seconds = 60, .name = "x",
                                   .cert_path = "/x", .not_after = 1};
    struct mk_err err;
    struct agent_hook *h = agent_hook_start(&spec, &err);
    pid_t pid;
    int r = 0;

    (void)state;
    assert_non_null(h);
    pid = agent_hook_pid(h);
    assert_true(pid > 0);
    assert_int_equal(agent_hook_poll(h, &err), 0);
    usleep(100000);
    agent_hook_end(h, 200);
    for (int i = 0; i < 500 && r == 0; i++) {
        usleep(10000);
        r = agent_hook_poll(h, &err);
    }
    assert_int_equal(r, -1);
    assert_non_null(strstr(err.msg, "the agent is stopping"));
    assert_int_equal(agent_hook_pid(h), 0);
    /* The group is gone: no live process is left in it (SIGKILL is delivered asynchronously). */
    for (int i = 0; i < 200 && group_alive(pid) > 0; i++) {
        usleep(10000);
    }
    assert_int_equal(group_alive(pid), 0);
    agent_hook_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_env),
        cmocka_unit_test(test_failure_reported),
        cmocka_unit_test(test_no_shell),
        cmocka_unit_test(test_timeout_kills_group),
        cmocka_unit_test(test_end_on_stop),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
