/*
 * signals.h: the agent's signals through a signalfd, so the main loop sees them as readable
 * data in its poll() and acts on them between steps (a rotation in flight always completes).
 *
 * SIGHUP reloads, SIGTERM/SIGINT stop, SIGUSR1 renews everything.  SIGPIPE is ignored.
 */
#ifndef AGENT_SIGNALS_H
#define AGENT_SIGNALS_H

#include <signal.h>

#include "pki/err.h"

/* Blocks the signals above, and also (when not 0: the supervisor's SIGCHLD), and returns a
 * non-blocking, close-on-exec signalfd, or -1.  Caller closes it.  Children restore the mask
 * with agent_signals_child_reset(). */
int agent_signals_open(int also, struct mk_err *err) MK_MUST_CHECK;

/* Reads one pending signal: returns 1 and sets *signo, 0 when none is pending, -1 on error. */
int agent_signals_read(int fd, int *signo, struct mk_err *err) MK_MUST_CHECK;

/* In a forked child before execve: default dispositions and an empty mask. */
void agent_signals_child_reset(void);

#endif
