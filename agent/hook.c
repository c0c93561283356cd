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

struct agent_hook {
    pid_t pid;      /* also the process group; 0 once reaped */
    int pidfd;      /* readable when the hook exits; -1 before Linux 5.3 */
    long deadline_ms;
    long timeout_seconds;
    long grace_ms;  /* when ended: SIGKILL at this time (monotonic), 0 otherwise */
    int ended;      /* agent_hook_end was called */
    char *prog;     /* argv[0], for the messages (the spec's may be freed by a reload) */
};

struct agent_hook *agent_hook_start(const struct agent_hook_spec *spec, struct mk_err *err)
{
    char env_name[256];
    char env_path[1200];
    char env_after[64];
    char *envp[] = {HOOK_PATH, env_name, env_path, env_after, NULL};
    struct agent_hook *h = NULL;
    struct agent_hook *ret = NULL;
    pid_t pid;

    MK_ENSURE(spec->argv != NULL && spec->argv[0] != NULL, err, MK_ERR_CONFIG, "hook: no command");
    h = calloc(1, sizeof(*h));
    MK_ENSURE(h != NULL, err, MK_ERR_NOMEM, "hook: out of memory");
    h->pidfd = -1;
    h->prog = strdup(spec->argv[0]);
    MK_ENSURE(h->prog != NULL, err, MK_ERR_NOMEM, "hook: out of memory");
    snprintf(env_name, sizeof(env_name), "MSKPKI_CERT_NAME=%s", spec->name);
    snprintf(env_path, sizeof(env_path), "MSKPKI_CERT_PATH=%s", spec->cert_path);
    snprintf(env_after, sizeof(env_after), "MSKPKI_NOT_AFTER=%lld", (long long)spec->not_after);
    h->timeout_seconds = spec->timeout_seconds > 0 ? spec->timeout_seconds : 30;
    h->deadline_ms = monotonic_ms() + h->timeout_seconds * 1000;
    pid = fork();
    MK_ENSURE_ERRNO(pid >= 0, err, MK_ERR_IO, "hook: fork for %s", spec->argv[0]);
    if (pid == 0) {
        hook_child(spec, envp);
    }
    /* Also from the parent, so the group exists before we might have to kill it. */
    setpgid(pid, pid);
    h->pid = pid;
#ifdef SYS_pidfd_open
    h->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
#endif
    ret = h;
    h = NULL;
out:
    agent_hook_free(h);
    return ret;
}

int agent_hook_fd(const struct agent_hook *h)
{
    return h->pidfd;
}

int agent_hook_wait_ms(const struct agent_hook *h)
{
    long left = (h->grace_ms != 0 ? h->grace_ms : h->deadline_ms) - monotonic_ms();

    if (left < 0) {
        left = 0;
    }
    /* Without a pidfd, SIGCHLD (the caller's signalfd) or short sleeps notice the exit. */
    if (h->pidfd < 0 && left > 20) {
        left = 20;
    }
    return left > 1000000 ? 1000000 : (int)left;
}

pid_t agent_hook_pid(const struct agent_hook *h)
{
    return h->pid;
}

/* SIGKILL to the whole group (grandchildren included), then the hook itself is reaped. */
static void kill_group(struct agent_hook *h, int *status)
{
    kill(-h->pid, SIGKILL);
    kill(h->pid, SIGKILL);
    while (waitpid(h->pid, status, 0) < 0 && errno == EINTR) {
    }
    h->pid = 0;
}

int agent_hook_poll(struct agent_hook *h, struct mk_err *err)
{
    int status = 0;
    pid_t r;

    if (h->pid == 0) {
        mk_err_set(err, MK_ERR_STATE, "hook: %s already reaped", h->prog);
        return -1;
    }
    r = waitpid(h->pid, &status, WNOHANG);
    if (r == 0) {
        long now = monotonic_ms();
        if (h->grace_ms != 0 && now >= h->grace_ms) {
            kill_group(h, &status);
            mk_err_set(err, MK_ERR_IO, "hook: %s killed: the agent is stopping", h->prog);
            return -1;
        }
        if (h->grace_ms == 0 && now >= h->deadline_ms) {
            kill_group(h, &status);
            mk_err_set(err, MK_ERR_TIMEOUT, "hook: %s killed after %ld s timeout", h->prog,
                       h->timeout_seconds);
            return -1;
        }
        return 0;
    }
    if (r < 0) {
        if (errno == EINTR) {
            return 0;
        }
        mk_err_errno(err, MK_ERR_IO, "hook: waitpid %s", h->prog);
        h->pid = 0;
        return -1;
    }
    h->pid = 0;
    if (h->ended) {
        /* What it left behind in its group goes with it. */
        kill(-r, SIGKILL);
        mk_err_set(err, MK_ERR_IO, "hook: %s ended: the agent is stopping", h->prog);
        return -1;
    }
    if (WIFSIGNALED(status)) {
        mk_err_set(err, MK_ERR_IO, "hook: %s killed by signal %d", h->prog, WTERMSIG(status));
        return -1;
    }
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        mk_err_set(err, MK_ERR_IO, "hook: %s exited with status %d%s", h->prog,
                   WEXITSTATUS(status), WEXITSTATUS(status) == 127 ? " (could not execute)" : "");
        return -1;
    }
    return 1;
}

void agent_hook_end(struct agent_hook *h, long grace_ms)
{
    if (h == NULL || h->pid == 0 || h->ended) {
        return;
    }
    h->ended = 1;
    kill(-h->pid, SIGTERM);
    h->grace_ms = monotonic_ms() + (grace_ms > 0 ? grace_ms : 1);
}

void agent_hook_free(struct agent_hook *h)
{
    int status;

    if (h == NULL) {
        return;
    }
    if (h->pid > 0) {
        kill_group(h, &status);
    }
    if (h->pidfd >= 0) {
        close(h->pidfd);
    }
    free(h->prog);
    free(h);
}

int agent_hook_run(const struct agent_hook_spec *spec, struct mk_err *err)
{
    struct agent_hook *h = agent_hook_start(spec, err);
    int r = 0;

    if (h == NULL) {
        return -1;
    }
    while (r == 0) {
        struct pollfd p = {.fd = agent_hook_fd(h), .events = POLLIN};
        int ms = agent_hook_wait_ms(h);
        if (p.fd >= 0) {
            poll(&p, 1, ms);
        } else {
            poll(NULL, 0, ms);
        }
        r = agent_hook_poll(h, err);
    }
    agent_hook_free(h);
    return r == 1 ? 0 : -1;
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
