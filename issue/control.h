/*
 * control.h: the client side of the daemon's control socket (issue 17; the server is
 * agent/control.c, the protocol docs/agent.md "Control socket").
 *
 * One request per connection: a JSON object on one line ({"cmd": "renew", ...}), answered by one
 * JSON object on one line ({"ok": true, ...} or {"ok": false, "code": "...", "error": "..."}).
 * Every request names the state_dir of the caller's configuration: an agent that manages another
 * one answers "other_agent", and the caller goes on as if no agent ran.  Used by mskpkictl
 * (renew, reload, status --live, cert issue/revoke) and by mskpki-agent --renew.
 */
#ifndef ISSUE_CONTROL_H
#define ISSUE_CONTROL_H

#include <jansson.h>

#include "pki/err.h"

/*
 * Adds "state_dir" to req (borrowed) and sends it to the agent listening at path, then waits,
 * without a time limit (a renewal may wait on the CA), for the answer.  Returns 0 with *reply the
 * answer when it says "ok": true (caller frees with json_decref); 1 when no agent for state_dir
 * answers at path (path "" or missing, nobody listening, an agent of another state_dir); -1
 * with err: connection refused by permissions (MK_ERR_PERM), a broken answer (MK_ERR_INVALID),
 * or the agent's "ok": false answer (its "error" text; MK_ERR_STATE, MK_ERR_NOTFOUND for an
 * unknown certificate, MK_ERR_PERM for a caller it refuses, MK_ERR_USAGE for a malformed request
 * or a revocation of a certificate in use without a mode).
 */
int issue_control_call(const char *path, const char *state_dir, json_t *req, json_t **reply,
                       struct mk_err *err) MK_MUST_CHECK;

#endif
