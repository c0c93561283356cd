/* lock.c: the state directory's writer lock (see lock.h). */
#include "issue/lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* The PID written in the lock file, 0 when it cannot be read. */
static pid_t read_holder(int fd)
{
    char buf[32];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    long pid;
    char *end;

    if (n <= 0) {
        return 0;
    }
    buf[n] = '\0';
    pid = strtol(buf, &end, 10);
    return pid > 0 && (*end == '\n' || *end == '\0') ? (pid_t)pid : 0;
}

int issue_lock_take(const char *state_dir, int *fd, pid_t *holder, struct mk_err *err)
{
    char path[4096];
    char pid[32];
    int lfd = -1;
    int writable = 1;
    int rc = -1;
    int n;

    MK_ENSURE(snprintf(path, sizeof(path), "%s/agent.lock", state_dir) < (int)sizeof(path), err,
              MK_ERR_INVALID, "state_dir %s: path too long", state_dir);
    MK_ENSURE_ERRNO(mkdir(state_dir, 0755) == 0 || errno == EEXIST, err, MK_ERR_IO,
                    "state_dir %s: mkdir", state_dir);
    /* XXX the network process (agent.user) can write state_dir and so unlink this file while it
     * is held; a later writer would then lock a new file.  It is a guard against mistakes (two
     * agents, a --renew beside the daemon), not against a compromised network process. */
    lfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (lfd < 0 && errno == EACCES) {
        /* Made by a root agent, and this is its user (runuser -u mskpki -- mskpkictl cert
         * issue): flock needs no write access; the PID is then not recorded. */
        lfd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        writable = 0;
    }
    MK_ENSURE_ERRNO(lfd >= 0, err, MK_ERR_IO, "%s: open", path);
    if (flock(lfd, LOCK_EX | LOCK_NB) != 0) {
        MK_ENSURE_ERRNO(errno == EWOULDBLOCK, err, MK_ERR_IO, "%s: flock", path);
        *holder = read_holder(lfd);
        rc = 1;
        goto out;
    }
    n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    MK_ENSURE_ERRNO(!writable || (ftruncate(lfd, 0) == 0 && pwrite(lfd, pid, (size_t)n, 0) == n),
                    err, MK_ERR_IO, "%s: write", path);
    *fd = lfd;
    lfd = -1;
    rc = 0;
out:
    if (lfd >= 0) {
        close(lfd);
    }
    return rc;
}
