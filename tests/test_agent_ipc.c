/* test_agent_ipc.c: the framing of agent/ipc.c, and the sandboxes of agent/sandbox.c. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/ipc.h"
#include "agent/sandbox.h"

/* A frame built by hand, so the test does not trust agent_ipc_send to define the format. */
static size_t frame(unsigned char *buf, int version, int op, const char *const *fields, size_t n)
{
    size_t pos = 8;

    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(fields[i]);
        buf[pos] = (unsigned char)(len >> 24);
        buf[pos + 1] = (unsigned char)(len >> 16);
        buf[pos + 2] = (unsigned char)(len >> 8);
        buf[pos + 3] = (unsigned char)len;
        memcpy(buf + pos + 4, fields[i], len);
        pos += 4 + len;
    }
    buf[0] = (unsigned char)version;
    buf[1] = (unsigned char)op;
    buf[2] = (unsigned char)(n >> 8);
    buf[3] = (unsigned char)n;
    buf[4] = (unsigned char)((pos - 8) >> 24);
    buf[5] = (unsigned char)((pos - 8) >> 16);
    buf[6] = (unsigned char)((pos - 8) >> 8);
    buf[7] = (unsigned char)(pos - 8);
    return pos;
}

static void test_parse_good(void **state)
{
    const char *const fields[] = {"client", "", "1"};
    unsigned char buf[256];
    struct agent_ipc_msg m;
    struct mk_err err;
    char *s;
    long v = 0;
    size_t len = frame(buf, 1, AGENT_IPC_KEY_CSR, fields, 3);

    (void)state;
    assert_int_equal(agent_ipc_parse(buf, len, &m, &err), 0);
    assert_int_equal(m.op, AGENT_IPC_KEY_CSR);
    assert_int_equal(m.n, 3);
    assert_int_equal(m.f[1].len, 0);
    s = agent_ipc_str(&m, 0, &err);
    assert_string_equal(s, "client");
    free(s);
    assert_int_equal(agent_ipc_long(&m, 2, &v, &err), 0);
    assert_int_equal(v, 1);
    /* Negative: a missing field, a field that is not a number. */
    assert_null(agent_ipc_str(&m, 3, &err));
    assert_int_equal(err.code, MK_ERR_INVALID);
    assert_int_equal(agent_ipc_long(&m, 0, &v, &err), -1);
    assert_int_equal(agent_ipc_long(&m, 1, &v, &err), -1);
}

static void test_parse_bad(void **state)
{
    const char *const fields[] = {"abc", "de"};
    unsigned char buf[256];
    unsigned char bad[256];
    struct agent_ipc_msg m;
    struct mk_err err;
    size_t len = frame(buf, 1, AGENT_IPC_KEY_LOAD, fields, 2);

    (void)state;
    /* Short frames, every truncation. */
    for (size_t i = 0; i < len; i++) {
        assert_int_equal(agent_ipc_parse(buf, i, &m, &err), -1);
        assert_int_equal(err.code, MK_ERR_INVALID);
    }
    /* Wrong version. */
    memcpy(bad, buf, len);
    bad[0] = 2;
    assert_int_equal(agent_ipc_parse(bad, len, &m, &err), -1);
    assert_non_null(strstr(err.msg, "version"));
    /* Unknown op. */
    memcpy(bad, buf, len);
    bad[1] = AGENT_IPC__MAX;
    assert_int_equal(agent_ipc_parse(bad, len, &m, &err), -1);
    assert_non_null(strstr(err.msg, "op"));
    /* Too many fields. */
    memcpy(bad, buf, len);
    bad[3] = AGENT_IPC_MAX_FIELDS + 1;
    assert_int_equal(agent_ipc_parse(bad, len, &m, &err), -1);
    /* A field length that overruns the body. */
    memcpy(bad, buf, len);
    bad[11] = 200;
    assert_int_equal(agent_ipc_parse(bad, len, &m, &err), -1);
    assert_non_null(strstr(err.msg, "overrun"));
    /* Trailing bytes: one field fewer than the body holds. */
    memcpy(bad, buf, len);
    bad[3] = 1;
    assert_int_equal(agent_ipc_parse(bad, len, &m, &err), -1);
    assert_non_null(strstr(err.msg, "trailing"));
    /* A body length beyond the maximum. */
    memcpy(bad, buf, len);
    bad[4] = 0x7f;
    assert_int_equal(agent_ipc_parse(bad, len, &m, &err), -1);
}

static void test_nul_in_string(void **state)
{
    unsigned char buf[64];
    const char *const fields[] = {"abc"};
    struct agent_ipc_msg m;
    struct mk_err err;
    size_t len = frame(buf, 1, AGENT_IPC_KEY_DROP, fields, 1);

    (void)state;
    buf[13] = '\0'; /* "a\0c" */
    assert_int_equal(agent_ipc_parse(buf, len, &m, &err), 0);
    assert_null(agent_ipc_str(&m, 0, &err));
    assert_non_null(strstr(err.msg, "NUL"));
}

static void test_send_recv(void **state)
{
    int sv[2];
    struct agent_ipc_field f[2] = {agent_ipc_s("name"), agent_ipc_s(NULL)};
    struct agent_ipc_msg m = {0};
    struct mk_err err;

    (void)state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(agent_ipc_send(sv[0], AGENT_IPC_SUP_HOOK, f, 2, &err), 0);
    assert_int_equal(agent_ipc_recv(sv[1], &m, &err), 1);
    assert_int_equal(m.op, AGENT_IPC_SUP_HOOK);
    assert_int_equal(m.n, 2);
    assert_memory_equal(m.f[0].data, "name", 4);
    agent_ipc_msg_clear(&m);
    /* Too many fields are refused before anything is written. */
    assert_int_equal(agent_ipc_send(sv[0], AGENT_IPC_OK, f, AGENT_IPC_MAX_FIELDS + 1, &err), -1);
    /* EOF between frames is a clean 0; EOF inside a frame is an error. */
    assert_int_equal(write(sv[0], "\x01\x00\x00", 3), 3);
    close(sv[0]);
    assert_int_equal(agent_ipc_recv(sv[1], &m, &err), -1);
    assert_int_equal(err.code, MK_ERR_IO);
    assert_int_equal(agent_ipc_recv(sv[1], &m, &err), 0);
    close(sv[1]);
}

static void test_malformed_on_wire(void **state)
{
    int sv[2];
    unsigned char h[8] = {1, 0xee, 0, 0, 0, 0, 0, 0};
    struct agent_ipc_msg m = {0};
    struct mk_err err;

    (void)state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(write(sv[0], h, sizeof(h)), (ssize_t)sizeof(h));
    assert_int_equal(agent_ipc_recv(sv[1], &m, &err), -1);
    assert_int_equal(err.code, MK_ERR_INVALID);
    close(sv[0]);
    close(sv[1]);
}

/* agent_ipc_call: an ERR reply carries the peer's code and message; a dead peer ends the
 * caller with AGENT_EXIT_PEER_LOST. */
static void test_call(void **state)
{
    int sv[2];
    struct agent_ipc_msg m = {0};
    struct mk_err err;
    struct mk_err perr;
    char detail[16];
    int st = 0;
    pid_t pid;

    (void)state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(sv[0]);
        if (agent_ipc_recv(sv[1], &m, &err) != 1) {
            _exit(10);
        }
        agent_ipc_msg_clear(&m);
        mk_err_set(&perr, MK_ERR_NOTFOUND, "no such thing");
        if (agent_ipc_send_err(sv[1], &perr, "read", &err) != 0) {
            _exit(11);
        }
        _exit(0);
    }
    close(sv[1]);
    assert_int_equal(agent_ipc_call(sv[0], AGENT_IPC_KEY_LOAD, NULL, 0, &m, detail,
                                    sizeof(detail), &err),
                     -1);
    assert_int_equal(err.code, MK_ERR_NOTFOUND);
    assert_string_equal(err.msg, "no such thing");
    assert_string_equal(detail, "read");
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_int_equal(st, 0);
    /* The peer is gone now. */
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGPIPE, SIG_IGN);
        if (agent_ipc_call(sv[0], AGENT_IPC_KEY_LOAD, NULL, 0, &m, NULL, 0, &err) != 0) {
            _exit(1);
        }
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), AGENT_EXIT_PEER_LOST);
    close(sv[0]);
}

static void test_op_names(void **state)
{
    (void)state;
    assert_string_equal(agent_ipc_op_name(AGENT_IPC_OK), "ok");
    assert_string_equal(agent_ipc_op_name(AGENT_IPC_SUP_HOOK), "sup-hook");
    assert_string_equal(agent_ipc_op_name(AGENT_IPC__MAX), "unknown");
    assert_string_equal(agent_ipc_op_name(-1), "unknown");
    for (int i = 0; i < AGENT_IPC__MAX; i++) {
        assert_string_not_equal(agent_ipc_op_name(i), "unknown");
    }
}

/* The key process's filter: sockets fail with EPERM, files still work. */
static void test_seccomp(void **state)
{
    int st = 0;
    pid_t pid;

    (void)state;
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct mk_err err;
        if (agent_sandbox_keyproc(&err) != 0) {
            _exit(10);
        }
        int s = socket(AF_INET, SOCK_STREAM, 0);
        if (s >= 0 || errno != EPERM) {
            _exit(11);
        }
        int fd = open("/dev/null", O_RDONLY);
        if (fd < 0) {
            _exit(12);
        }
        close(fd);
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

/* Landlock: the denied directory cannot be opened, its sibling can; a second layer adds to the
 * first.  Skipped when the kernel has no Landlock. */
static void test_landlock(void **state)
{
    char dir[] = "/tmp/test_agent_ipc.XXXXXX";
    char keys[64];
    char keyfile[80];
    char other[64];
    char more[64];
    char cmd[128];
    int st = 0;
    pid_t pid;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(keys, sizeof(keys), "%s/keys", dir);
    snprintf(keyfile, sizeof(keyfile), "%s/keys/k.pem", dir);
    snprintf(other, sizeof(other), "%s/other", dir);
    snprintf(more, sizeof(more), "%s/more", dir);
    assert_int_equal(mkdir(keys, 0700), 0);
    assert_int_equal(mkdir(other, 0700), 0);
    assert_int_equal(mkdir(more, 0700), 0);
    close(open(keyfile, O_WRONLY | O_CREAT, 0600));
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        const char *deny1[] = {keys};
        const char *deny2[] = {more};
        struct mk_err err;
        int r = agent_sandbox_deny_paths(deny1, 1, &err);
        if (r == 0) {
            _exit(77);
        }
        if (r != 1) {
            _exit(10);
        }
        if (open(keyfile, O_RDONLY) >= 0 || errno != EACCES) {
            _exit(11);
        }
        if (open(other, O_RDONLY | O_DIRECTORY) < 0) {
            _exit(12);
        }
        if (agent_sandbox_deny_paths(deny2, 1, &err) != 1) {
            _exit(13);
        }
        if (open(more, O_RDONLY | O_DIRECTORY) >= 0 || open(keyfile, O_RDONLY) >= 0) {
            _exit(14);
        }
        if (open(other, O_RDONLY | O_DIRECTORY) < 0) {
            _exit(15);
        }
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &st, 0), pid);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    assert_true(WIFEXITED(st));
    if (WEXITSTATUS(st) == 77) {
        skip();
    }
    assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_good),     cmocka_unit_test(test_parse_bad),
        cmocka_unit_test(test_nul_in_string),  cmocka_unit_test(test_send_recv),
        cmocka_unit_test(test_malformed_on_wire), cmocka_unit_test(test_call),
        cmocka_unit_test(test_op_names),       cmocka_unit_test(test_seccomp),
        cmocka_unit_test(test_landlock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
