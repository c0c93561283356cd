/*
 * control.h: mskpkictl's side of the agent's control socket (issue 17; protocol in
 * docs/agent.md, client in issue/control.h): `mskpkictl renew` and `reload`, the data of
 * `status --live`, and the hand-over of `cert issue` and `cert revoke` to a running agent, so
 * that its files, state and metrics stay one truth.  Without a running agent, cert issue takes
 * the state directory's writer lock (issue/lock.h) instead.
 */
#ifndef CTL_CONTROL_H
#define CTL_CONTROL_H

#include <stddef.h>

#include <jansson.h>
#include <openssl/x509.h>

#include "conf/conf.h"
#include "pki/err.h"

/* `mskpkictl renew [--config FILE] NAME...|--all`: 0 renewed, 1 failed, 2 usage, 3 no agent. */
int ctl_renew_main(int argc, char **argv);
/* `mskpkictl reload [--config FILE]`: 0 reloaded, 1 refused (old config kept), 3 no agent. */
int ctl_reload_main(int argc, char **argv);

/* The running agent's own view: *certs gets its array of state-file objects (agent/state.h plus
 * "state"; caller frees with json_decref) and 0 is returned; 1 when no agent of cfg's state_dir
 * answers; -1 with err. */
int ctl_control_status(const struct conf *cfg, json_t **certs, struct mk_err *err) MK_MUST_CHECK;

/* cert issue: asks the running agent to issue block name now and prints the outcome.  Returns
 * the exit status, or -1 when no agent runs (the caller then issues under the lock). */
int ctl_control_cert_issue(const struct conf *cfg, const char *name);

/* Takes cfg's state_dir lock for cmd ("cert issue").  Returns CTL_EXIT_OK with *fd held (close
 * it to release), or the exit status after one line on stderr (3: held by the PID it names). */
int ctl_control_lock(const struct conf *cfg, const char *cmd, int *fd);

/* cert revoke: asks the running agent to revoke cert (mode NULL, "replace" or "force"); prints
 * what it did.  Returns the exit status, or -1 when no agent runs. */
int ctl_control_cert_revoke(const struct conf *cfg, X509 *cert, const char *reason,
                            const char *mode);

/* The block of cfg whose current certificate file is cert (same serial), or NULL.  Borrowed
 * from cfg. */
const char *ctl_control_cert_in_use(const struct conf *cfg, X509 *cert);

#endif
