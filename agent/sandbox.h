/*
 * sandbox.h: what each role gives up after start-up.
 *
 * The key process installs a seccomp filter: no sockets (socket, connect, bind, listen, accept:
 * EPERM), no program execution, no tracing of or reaching into other processes (ptrace,
 * process_vm_*, pidfd_getfd, kcmp), no mounts (old and new API), namespaces, io_uring, kernel
 * modules, BPF or keyrings.  XXX It is a deny list of what an attacker would use, not an allow
 * list of what OpenSSL and glibc happen to call: an allow list breaks with every library update.
 *
 * The network process is denied the key material with Landlock: everything stays reachable
 * except the given paths (output directories, passphrase files, the local CA's directory).
 * Landlock only grants, so the rule set is the complement: every entry of every directory on
 * the way to a denied path, except that path.  Entries created later directly in those
 * directories are out of reach too (state_dir must exist first).
 *
 * Without Landlock, the network process hides the same paths in a mount namespace of its own
 * (the technique of bubblewrap, for root and non-root alike, no dedicated user needed): a user
 * namespace mapping only its own uid and gid, a private mount namespace, an empty read-only
 * tmpfs of mode 0000 over each denied directory, a read-only nodev bind of /dev/null over each
 * denied file, /dev replaced by the few devices a client needs, then no capability at all
 * (bounding set included) and no_new_privs, so nothing can be unmounted, remounted or bypassed.
 */
#ifndef AGENT_SANDBOX_H
#define AGENT_SANDBOX_H

#include <stddef.h>
#include <sys/types.h>

#include "pki/err.h"

/* Who the network process becomes.  Started as root it runs as agent.user (conf/paths.h). */
struct agent_sandbox_user {
    int drop;  /* 1: the caller is root and becomes uid/gid (supplementary groups: gid only) */
    uid_t uid;
    gid_t gid;
};

/* Installs the key process's seccomp filter (and no_new_privs).  Returns 0 or -1. */
int agent_sandbox_keyproc(struct mk_err *err) MK_MUST_CHECK;

/*
 * Restricts the calling process (another layer per call) so that the n paths (absolute; they
 * need not exist yet) and everything beneath them cannot be opened, read, written or executed.
 * Returns 1 when enforced, 0 when the kernel has no Landlock (nothing changed; the caller logs
 * it), -1 on error.
 */
int agent_sandbox_deny_paths(const char *const *paths, size_t n, struct mk_err *err) MK_MUST_CHECK;

/*
 * The fallback when agent_sandbox_deny_paths returns 0: hides the n paths (absolute; each must
 * exist: a mount needs something to cover) as sandbox.h's top comment says.  Call it once, while
 * the process is single-threaded (unshare(CLONE_NEWUSER) refuses otherwise); it cannot be
 * repeated since the process keeps no capability to mount again.  *userns tells whether a user
 * namespace was made (else, as root where user namespaces are disabled, a mount namespace
 * alone).  Returns 1 when applied; 0 when the system refuses the namespaces (nothing changed;
 * err names the refused call, for the caller to log); -1 on any later error (the process is
 * then half-sandboxed: the caller must exit).
 */
int agent_sandbox_hide_paths(const char *const *paths, size_t n, const char *writable,
                             const struct agent_sandbox_user *u, int *userns,
                             struct mk_err *err) MK_MUST_CHECK;
/* (agent_sandbox_hide_paths, continued) With writable (an existing directory), every mount but
 * writable is made read-only (a warning where the kernel lacks mount_setattr); then
 * agent_sandbox_drop_privs(u).  A root caller that drops to a user takes a mount namespace
 * without a user namespace (*userns = 0): the uid it becomes is not mapped in one. */

/*
 * Landlock layer for writes: creating, removing, renaming and writing files is allowed beneath
 * writable (an existing directory) and on /dev/null, zero and full, nowhere else.  Reading is
 * left to the other layers.  Returns 1 when enforced, 0 without Landlock, -1 on error.
 */
int agent_sandbox_write_only(const char *writable, struct mk_err *err) MK_MUST_CHECK;

/*
 * Becomes u->uid/u->gid when u->drop and the caller is root (bounding set emptied first, then
 * setgroups, setresgid, setresuid, checked: no way back to root; HOME set to u's home, a
 * warning naming an ~/.aws left in the old one), then drops every remaining
 * capability (ambient, effective, permitted, inheritable) and sets no_new_privs.  u may be
 * NULL.  Harmless to repeat.  Returns 0 or -1 (the caller must exit: half dropped).
 */
int agent_sandbox_drop_privs(const struct agent_sandbox_user *u, struct mk_err *err) MK_MUST_CHECK;

/* 1 once agent_sandbox_hide_paths has succeeded in this process. */
int agent_sandbox_hidden_active(void);

/* 1 when path (absolute) is, or is beneath, a path agent_sandbox_hide_paths hid and its mount
 * is still in place (a hidden file replaced by rename is not). */
int agent_sandbox_path_hidden(const char *path);

#endif
