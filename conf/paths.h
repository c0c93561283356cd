/*
 * paths.h: the filesystem checks of a configuration, beyond its syntax (conf.h): who the
 * network process runs as, and whether the hook programs, the state directory and the output
 * directories can be trusted (pki/path.h: owned by root or the agent's user up to /, writable by
 * no one else).  mskpki-agent runs them at start and for --check-config (exit 2), and the
 * supervisor checks a hook again right before it runs it.  conf_load() does not: mskpkictl reads
 * the same file as any user.  Nothing is allocated.
 */
#ifndef CONF_PATHS_H
#define CONF_PATHS_H

#include <sys/types.h>

#include "conf/conf.h"
#include "pki/path.h"

struct conf_agent_user {
    int drop;  /* 1: started as root, the network process runs as uid/gid */
    uid_t uid; /* agent.user's uid (as root), else the caller's euid */
    gid_t gid;
    char name[64];
    char owners_text[96]; /* "root or mskpki" */
    struct pki_path_owners owners; /* besides root: uid */
};

/*
 * Resolves agent.user.  As root it must exist and not be root (MK_ERR_CONFIG, one line naming
 * the fix: useradd ...); otherwise the agent's user is whoever runs it and agent.user is not
 * looked up.  Returns 0 or -1.
 */
int conf_agent_user_resolve(const struct conf *cfg, struct conf_agent_user *u,
                            struct mk_err *err) MK_MUST_CHECK;

/* The hook program of cc (argv[0]; /bin/sh for a shell hook): trusted, and not beneath
 * state_dir (the network process writes there).  0 when cc has no hook.  Returns 0 or -1
 * (MK_ERR_PERM, MK_ERR_NOTFOUND ...) with one line naming the file and the path. */
int conf_check_hook(const struct conf *cfg, const struct conf_certificate *cc,
                    const struct conf_agent_user *u, struct mk_err *err) MK_MUST_CHECK;

/* Every hook, state_dir and every output directory (those two may not exist yet: their
 * existing prefix is checked), the configuration file not beneath state_dir, and, when u->drop,
 * the directories above state_dir searchable and the configuration readable by agent.user.
 * Returns 0 or -1 at the first failure. */
int conf_check_paths(const struct conf *cfg, const struct conf_agent_user *u,
                     struct mk_err *err) MK_MUST_CHECK;
/* conf_check_paths but the hooks (--check-config checks each hook on its own). */
int conf_check_dirs(const struct conf *cfg, const struct conf_agent_user *u,
                    struct mk_err *err) MK_MUST_CHECK;

#endif
