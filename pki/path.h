/*
 * path.h: may a path be trusted?  OpenSSH's StrictModes rule: the file or directory and every
 * directory above it, up to /, owned by root or one of the given users and writable by no one
 * else (no group or other write bit; a sticky shared directory such as /tmp is refused too:
 * anyone may create entries there).  Symbolic links on the way are followed and their targets
 * checked as well, so a link cannot lead the walk out of the trusted tree.
 *
 * The agent checks its hook programs, its state directory and its output directories this way
 * (conf/paths.h), so that no other user can swap what the unsandboxed supervisor executes or
 * what the key process writes into.  Nothing is allocated for the caller.
 */
#ifndef PKI_PATH_H
#define PKI_PATH_H

#include <stddef.h>
#include <sys/types.h>

#include "pki/err.h"

/* The uids besides root that may own a path, and the name to print for them. */
struct pki_path_owners {
    uid_t uids[2];
    size_t n;
    const char *names; /* e.g. "root or mskpki", for the message */
};

enum pki_path_flags {
    PKI_PATH_DIR = 1 << 0,     /* the path must be a directory (else a regular file) */
    PKI_PATH_MISSING = 1 << 1, /* the path (and parents) may not exist yet: the existing prefix
                                * is checked, the rest will be created by the agent */
};

/*
 * Walks path (absolute) from / down and checks each component as above.  what names the
 * setting for the message ("hook program", "state_dir").  Returns 0, or -1 with MK_ERR_PERM
 * and one line naming the offending path, its owner or mode (MK_ERR_IO / MK_ERR_NOTFOUND when
 * a component cannot be examined or is missing).
 */
int pki_path_check_trusted(const char *path, const struct pki_path_owners *owners, unsigned flags,
                           const char *what, struct mk_err *err) MK_MUST_CHECK;

#endif
