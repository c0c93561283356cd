/*
 * hook.h: the post-rotation hook: the configured argv run with fork/execve (no shell unless the
 * config asked for one, which conf already turned into /bin/sh -c), a minimal environment plus
 *     MSKPKI_CERT_NAME   the certificate block's name
 *     MSKPKI_CERT_PATH   the stable path of the certificate file
 *     MSKPKI_NOT_AFTER   end of validity, unix seconds
 * stdin from /dev/null, stdout/stderr inherited (the journal), in its own process group which
 * is killed (SIGKILL) when the timeout passes.  The supervisor runs it asynchronously
 * (agent_hook_start ... agent_hook_poll ... agent_hook_free, certmonger's _start/_ready/_done),
 * so it keeps handling signals and its children meanwhile; agent_hook_run blocks.
 */
#ifndef AGENT_HOOK_H
#define AGENT_HOOK_H

#include <sys/types.h>
#include <time.h>

#include "pki/err.h"

struct agent_hook_spec {
    char *const *argv;    /* NULL-terminated, argv[0] absolute; borrowed */
    long timeout_seconds; /* > 0 */
    const char *name;
    const char *cert_path;
    time_t not_after;
};

/* A running hook.  Opaque. */
struct agent_hook;

/* Starts the hook (fork + execve, its own process group).  Returns the running hook (caller
 * frees with agent_hook_free) or NULL with MK_ERR_CONFIG (no command), MK_ERR_IO or
 * MK_ERR_NOMEM.  spec may be freed once this returns. */
struct agent_hook *agent_hook_start(const struct agent_hook_spec *spec, struct mk_err *err);

/* A descriptor that becomes readable when the hook exits (a pidfd), or -1 on kernels before 5.3:
 * then poll no longer than agent_hook_wait_ms.  Borrowed until agent_hook_free. */
int agent_hook_fd(const struct agent_hook *h);

/* How long the caller may sleep before agent_hook_poll must run again (its deadline), in ms. */
int agent_hook_wait_ms(const struct agent_hook *h);

/* The hook's pid (and process group id); 0 once reaped. */
pid_t agent_hook_pid(const struct agent_hook *h);

/* Reaps the hook if it exited and enforces the deadline: past it, SIGKILL to the whole process
 * group (grandchildren too).  Returns 0 while it runs; 1 when it exited with status 0; -1 when
 * it failed (MK_ERR_IO: exited non-zero, by a signal, ended by agent_hook_end; MK_ERR_TIMEOUT:
 * killed after the timeout).  Call it only while the result is 0; the caller must not reap the
 * hook's pid itself. */
int agent_hook_poll(struct agent_hook *h, struct mk_err *err) MK_MUST_CHECK;

/* The agent is stopping: SIGTERM to the hook's process group now, SIGKILL after grace_ms if it
 * is still running then (agent_hook_poll enforces it). */
void agent_hook_end(struct agent_hook *h, long grace_ms);

/* Kills the group (SIGKILL) if the hook still runs, reaps it, frees h.  NULL is a no-op. */
void agent_hook_free(struct agent_hook *h);

/* Runs the hook to its end (agent_hook_start + poll).  Returns 0 when it exited with status 0;
 * otherwise -1 as agent_hook_poll. */
int agent_hook_run(const struct agent_hook_spec *spec, struct mk_err *err) MK_MUST_CHECK;

/* From the network process: asks the supervisor over fd (AGENT_IPC_SUP_HOOK, ipc.h) to run the
 * hook of spec->name with spec->not_after.  The supervisor takes the command, timeout and
 * certificate path from its own configuration, so a compromised network process cannot choose
 * what runs unsandboxed.  Returns as agent_hook_run. */
int agent_hook_request(int fd, const struct agent_hook_spec *spec, struct mk_err *err) MK_MUST_CHECK;

#endif
