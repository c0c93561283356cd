/*
 * control.h: the daemon's control socket (issue 17; protocol in docs/agent.md, client in
 * issue/control.h).
 *
 * The supervisor binds the socket before it forks (agent_control_listen: it is root and
 * unsandboxed, the network process can create nothing outside state_dir) and hands the
 * listening descriptor to the network process, which accepts and serves one request per
 * connection between the steps of its loop, on its own state: renew, reload, status, revoke.
 * A renewal runs inline like any rotation, so the caller waits for its result.  Callers are
 * checked with SO_PEERCRED: root, the agent's uid, or a member of the agent's group (the
 * socket is 0660 to that group, so others cannot even connect).
 */
#ifndef AGENT_CONTROL_H
#define AGENT_CONTROL_H

#include <sys/types.h>

#include "agent/iterate.h"
#include "pki/err.h"

/*
 * Binds and listens on path, mode 0660, owner uid and group gid (the agent's), creating its
 * directory (0755, the last level) when missing.  A socket file left by a dead agent is
 * replaced; one where an agent answers is not (MK_ERR_STATE).  Returns the non-blocking,
 * close-on-exec listening descriptor (caller closes it), or -1 with err set.
 */
int agent_control_listen(const char *path, uid_t uid, gid_t gid, struct mk_err *err) MK_MUST_CHECK;

/* What the server works on: the network process's own state, borrowed.  certs and n_certs
 * point at the loop's variables because a reload replaces the array. */
struct agent_control_view {
    struct agent_ctx *ctx;
    struct agent_cert **certs;
    size_t *n_certs;
    /* Asks the supervisor for a reload (as SIGHUP does); the outcome comes back through
     * agent_control_reloaded().  Returns 0 when asked. */
    int (*request_reload)(void *arg);
    void *arg;
};

struct agent_control;

/* Serves on listen_fd (owned from now on; closed by agent_control_free) with view (copied).
 * Returns NULL when out of memory.  Caller frees with agent_control_free(). */
struct agent_control *agent_control_new(int listen_fd, const struct agent_control_view *view);
void agent_control_free(struct agent_control *ctl);

/* The descriptor to poll for POLLIN. */
int agent_control_fd(const struct agent_control *ctl);

/* The listening descriptor is readable: accepts one connection and serves its request. */
void agent_control_serve(struct agent_control *ctl);

/* A reload ended (ok 1 or 0, msg the reason of a failure or NULL): answers the callers waiting
 * for one. */
void agent_control_reloaded(struct agent_control *ctl, int ok, const char *msg);

#endif
