/* hook.c: runs the post-rotation hook with a timeout (see hook.h). */
#include "agent/hook.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/ipc.h"
#include "agent/signals.h"

#define HOOK_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static long monotonic_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* In the child: never returns. Only async-signal-safe calls after fork. */
static void hook_child(const struct agent_hook_spec *spec, char *const *envp)
{
    int devnull;

    setpgid(0, 0);
    agent_signals_child_reset();
    devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull >= 0) {
        dup2(devnull, STDIN_FILENO);
    }
    /* The agent's own descriptors (sockets, signalfd, timerfd) are close-on-exec or closed here
     * so that a hook cannot hold the metrics port or read our signals. */
    if (syscall(SYS_close_range, 3U, ~0U, 0U) != 0) {
        for (int fd = 3; fd < 1024; fd++) {
            close(fd);
        }
    }
    execve(spec->argv[0], spec->argv, envp);
    _exit(127);
}

/* Waits for pid until deadline_ms (monotonic); returns 1 when it ended (*status set), 0 on
 * timeout, -1 on error. */
static int hook_wait(pid_t pid, long deadline_ms, int *status)
{
#ifdef SYS_pidfd_open
    int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
#else
    int pfd = -1;
#endif

    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid || (r < 0 && errno != EINTR)) {
            if (pfd >= 0) {
                close(pfd);
            }
            return r == pid ? 1 : -1;
        }
        long left = deadline_ms - monotonic_ms();
        if (left <= 0) {
            if (pfd >= 0) {
                close(pfd);
            }
            return 0;
        }
        if (pfd >= 0) {
            /* The pidfd becomes readable when the child exits: no busy waiting. */
            struct pollfd p = {.fd = pfd, .events = POLLIN};
            poll(&p, 1, left > 1000000 ? 1000000 : (int)left);
        } else {
            /* Kernels before 5.3: short sleeps, only while a hook is alive. */
            poll(NULL, 0, left < 20 ? (int)left : 20);
        }
    }
}

int agent_hook_run(const struct agent_hook_spec *spec, struct mk_err *err)
{
    char env_name[256];
    char env_path[1200];
    char env_after[64];
    char *envp[] = {HOOK_PATH, env_name, env_path, env_after, NULL};
    long deadline;
    int status = 0;
    int w;
    pid_t pid;
    int rc = -1;

    MK_ENSURE(spec->argv != NULL && spec->argv[0] != NULL, err, MK_ERR_CONFIG, "hook: no command");
    snprintf(env_name, sizeof(env_name), "MSKPKI_CERT_NAME=%s", spec->name);
    snprintf(env_path, sizeof(env_path), "MSKPKI_CERT_PATH=%s", spec->cert_path);
    snprintf(env_after, sizeof(env_after), "MSKPKI_NOT_AFTER=%lld", (long long)spec->not_after);
    deadline = monotonic_ms() + (spec->timeout_seconds > 0 ? spec->timeout_seconds : 30) * 1000;
    pid = fork();
    MK_ENSURE_ERRNO(pid >= 0, err, MK_ERR_IO, "hook: fork for %s", spec->argv[0]);
    if (pid == 0) {
        hook_child(spec, envp);
    }
    /* Also from the parent, so the group exists before we might have to kill it. */
    setpgid(pid, pid);
    w = hook_wait(pid, deadline, &status);
    if (w == 0) {
        kill(-pid, SIGKILL);
        kill(pid, SIGKILL);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        mk_err_set(err, MK_ERR_TIMEOUT, "hook: %s killed after %ld s timeout", spec->argv[0],
                   spec->timeout_seconds);
        goto out;
    }
    MK_ENSURE_ERRNO(w == 1, err, MK_ERR_IO, "hook: waitpid %s", spec->argv[0]);
    if (WIFSIGNALED(status)) {
        mk_err_set(err, MK_ERR_IO, "hook: %s killed by signal %d", spec->argv[0], WTERMSIG(status));
        goto out;
    }
    MK_ENSURE(WIFEXITED(status) && WEXITSTATUS(status) == 0, err, MK_ERR_IO,
              "hook: %s exited with status %d%s", spec->argv[0], WEXITSTATUS(status),
              WEXITSTATUS(status) == 127 ? " (could not execute)" : "");
    rc = 0;
out:
    return rc;
}

int agent_hook_request(int fd, const struct agent_hook_spec *spec, struct mk_err *err)
{
    char not_after[32];
    struct agent_ipc_field f[2];
    struct agent_ipc_msg m = {0};
    int rc;

    snprintf(not_after, sizeof(not_after), "%lld", (long long)spec->not_after);
    f[0] = agent_ipc_s(spec->name);
    f[1] = agent_ipc_s(not_after);
    rc = agent_ipc_call(fd, AGENT_IPC_SUP_HOOK, f, 2, &m, NULL, 0, err);
    agent_ipc_msg_clear(&m);
    return rc;
}
