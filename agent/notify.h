/*
 * notify.h: the systemd notification protocol (sd_notify(3)) without libsystemd: one datagram
 * per message to the AF_UNIX socket named by $NOTIFY_SOCKET ("@name" is the abstract
 * namespace).  Without $NOTIFY_SOCKET every call is a no-op that succeeds, so the agent runs the
 * same under systemd (Type=notify) and in a terminal.
 */
#ifndef AGENT_NOTIFY_H
#define AGENT_NOTIFY_H

#include "pki/err.h"

/* Sends msg ("READY=1", "STATUS=...", "WATCHDOG=1", "STOPPING=1"; lines joined by '\n').
 * Returns 0, or -1 with MK_ERR_IO when the socket is set but the send failed. */
int agent_notify(const char *msg, struct mk_err *err) MK_MUST_CHECK;

/* printf-style STATUS=<line>; newlines in the text are replaced by spaces.  Errors are dropped
 * (a status line is advisory). */
void agent_notify_status(const char *fmt, ...) MK_PRINTF(1, 2);

/* The watchdog interval in microseconds from $WATCHDOG_USEC when $WATCHDOG_PID is unset or is
 * this process, else 0 (no watchdog). */
unsigned long long agent_notify_watchdog_usec(void);

#endif
