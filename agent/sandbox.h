/*
 * sandbox.h: what each role gives up after start-up.
 *
 * The key process installs a seccomp filter: no sockets (socket, connect, bind, listen, accept:
 * EPERM), no program execution, no tracing of other processes, no mounts, namespaces, kernel
 * modules, BPF or keyrings.  XXX It is a deny list of what an attacker would use, not an allow
 * list of what OpenSSL and glibc happen to call: an allow list breaks with every library update.
 *
 * The network process is denied the key material with Landlock: everything stays reachable
 * except the given paths (output directories, passphrase files, the local CA's directory).
 * Landlock only grants, so the rule set is the complement: every entry of every directory on
 * the way to a denied path, except that path.  Entries created later directly in those
 * directories are out of reach too (state_dir must exist first).
 */
#ifndef AGENT_SANDBOX_H
#define AGENT_SANDBOX_H

#include <stddef.h>

#include "pki/err.h"

/* Installs the key process's seccomp filter (and no_new_privs).  Returns 0 or -1. */
int agent_sandbox_keyproc(struct mk_err *err) MK_MUST_CHECK;

/*
 * Restricts the calling process (another layer per call) so that the n paths (absolute; they
 * need not exist yet) and everything beneath them cannot be opened, read, written or executed.
 * Returns 1 when enforced, 0 when the kernel has no Landlock (nothing changed; the caller logs
 * it), -1 on error.
 */
int agent_sandbox_deny_paths(const char *const *paths, size_t n, struct mk_err *err) MK_MUST_CHECK;

#endif
