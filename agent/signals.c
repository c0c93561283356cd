/* signals.c: signalfd plumbing (see signals.h). */
#include "agent/signals.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

static void agent_sigset(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGHUP);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGUSR1);
#ifdef MK_TESTING
    /* Test builds: SIGUSR2 stands in for the timerfd's ECANCELED (see main.c). */
    sigaddset(set, SIGUSR2);
#endif
}

int agent_signals_open(int also, struct mk_err *err)
{
    sigset_t set;
    int fd = -1;

    /* A client that hangs up on the metrics server, or a dead peer, must not kill the agent:
     * it is EPIPE. */
    signal(SIGPIPE, SIG_IGN);
    agent_sigset(&set);
    if (also != 0) {
        sigaddset(&set, also);
    }
    /* Blocked before any thread starts, so the microhttpd thread inherits the mask and the
     * signals always land in the signalfd. */
    errno = pthread_sigmask(SIG_BLOCK, &set, NULL);
    MK_ENSURE_ERRNO(errno == 0, err, MK_ERR_IO, "signals: pthread_sigmask");
    fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    MK_ENSURE_ERRNO(fd >= 0, err, MK_ERR_IO, "signals: signalfd");
out:
    return fd;
}

int agent_signals_read(int fd, int *signo, struct mk_err *err)
{
    struct signalfd_siginfo si;
    ssize_t n;

    n = read(fd, &si, sizeof(si));
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        return 0;
    }
    if (n != (ssize_t)sizeof(si)) {
        mk_err_errno(err, MK_ERR_IO, "signals: read signalfd");
        return -1;
    }
    *signo = (int)si.ssi_signo;
    return 1;
}

void agent_signals_child_reset(void)
{
    sigset_t set;

    signal(SIGPIPE, SIG_DFL);
    sigemptyset(&set);
    sigprocmask(SIG_SETMASK, &set, NULL);
}
