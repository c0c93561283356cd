/*
 * hook.h: the post-rotation hook: the configured argv run with fork/execve (no shell unless the
 * config asked for one, which conf already turned into /bin/sh -c), a minimal environment plus
 *     MSKPKI_CERT_NAME   the certificate block's name
 *     MSKPKI_CERT_PATH   the stable path of the certificate file
 *     MSKPKI_NOT_AFTER   end of validity, unix seconds
 * stdin from /dev/null, stdout/stderr inherited (the journal), in its own process group which
 * is killed (SIGKILL) when the timeout passes.  The call blocks until the hook ends or is killed.
 */
#ifndef AGENT_HOOK_H
#define AGENT_HOOK_H

#include <time.h>

#include "pki/err.h"

struct agent_hook_spec {
    char *const *argv;    /* NULL-terminated, argv[0] absolute; borrowed */
    long timeout_seconds; /* > 0 */
    const char *name;
    const char *cert_path;
    time_t not_after;
};

/* Runs the hook.  Returns 0 when it exited with status 0; otherwise -1 with MK_ERR_IO (could
 * not start, or exited non-zero / by a signal: the message says which) or MK_ERR_TIMEOUT
 * (killed after the timeout). */
int agent_hook_run(const struct agent_hook_spec *spec, struct mk_err *err) MK_MUST_CHECK;

/* From the network process: asks the supervisor over fd (AGENT_IPC_SUP_HOOK, ipc.h) to run the
 * hook of spec->name with spec->not_after.  The supervisor takes the command, timeout and
 * certificate path from its own configuration, so a compromised network process cannot choose
 * what runs unsandboxed.  Returns as agent_hook_run. */
int agent_hook_request(int fd, const struct agent_hook_spec *spec, struct mk_err *err) MK_MUST_CHECK;

#endif
