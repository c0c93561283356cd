/*
 * lock.h: one writer per state directory (issue 17).
 *
 * The daemon, --once, --renew and `mskpkictl cert issue` each hold an exclusive flock(2) on
 * <state_dir>/agent.lock for as long as they may write outputs, state files or pending
 * issuances; the file holds the holder's PID, so that a second writer can name it.  The lock
 * belongs to the open file description: it ends with the holder's process (even on SIGKILL),
 * and forked children that keep the descriptor keep it held.
 */
#ifndef ISSUE_LOCK_H
#define ISSUE_LOCK_H

#include <sys/types.h>

#include "pki/err.h"

/*
 * Takes the lock of state_dir (created 0755 when missing, the last level only).  Returns 0 with
 * *fd the held descriptor (close-on-exec; close it to release), 1 when another process holds
 * it (*holder its PID, 0 when the file does not say), or -1 with err set.
 */
int issue_lock_take(const char *state_dir, int *fd, pid_t *holder,
                    struct mk_err *err) MK_MUST_CHECK;

#endif
