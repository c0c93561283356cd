/*
 * store.c: the key store.  See store.h for the layout and docs/store.md for the crash guarantees.
 *
 * Every operation works relative to a directory file descriptor opened once with O_NOFOLLOW and
 * checked (owner, mode), so a path component swapped after the check cannot redirect us.  Files
 * are created with O_CREAT|O_EXCL|O_NOFOLLOW, which refuses any existing entry (a planted symlink
 * included), and renamed into place: rename(2) replaces a symlink at the destination instead of
 * following it.  `current`, `previous` and the stable links are checked to be the symlinks we
 * create before anything is written, and we never replace something we did not create.
 */
#include "pki/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pki/cert.h"
#include "pki/format.h"
#include "pki/key.h"
#include "pki/log.h"

/* Every temp entry we create is ".<final name>" TMP_SUFFIX, so recovery can recognise them. */
#define TMP_SUFFIX ".mskpki-tmp"
#define GEN_PREFIX ".gen-"
#define LINK_CURRENT "current"
#define LINK_PREVIOUS "previous"
/* Generation directories hold only files; deeper trees are not ours and are not removed. */
#define GEN_REMOVE_DEPTH 2
/* Refuse to read absurdly large outputs (a key, a few certificates). */
#define MAX_READ_SIZE (4 * 1024 * 1024)
#define STORE_MAX_FILES 5

#ifdef MK_TESTING
static int fail_write_countdown;

void pki_store_test_fail_write(int n)
{
    fail_write_countdown = n < 0 ? 0 : n;
}
#endif

/* True when the test hook says this file write must fail. */
static int injected_write_failure(void)
{
#ifdef MK_TESTING
    if (fail_write_countdown > 0) {
        fail_write_countdown--;
        return fail_write_countdown == 0;
    }
#endif
    return 0;
}

static int is_temp_name(const char *name)
{
    size_t len = strlen(name);
    size_t slen = strlen(TMP_SUFFIX);
    return name[0] == '.' && len > slen && strcmp(name + len - slen, TMP_SUFFIX) == 0;
}

/* Parses ".gen-<N>" (canonical decimal: digits only, no leading zero, N > 0) so that one
 * number has exactly one name.  Returns 0 and sets *out, or -1. */
MK_TESTABLE int store_parse_gen(const char *name, unsigned long *out)
{
    const char *digits = NULL;
    char *end = NULL;
    unsigned long n = 0;

    if (strncmp(name, GEN_PREFIX, strlen(GEN_PREFIX)) != 0) {
        return -1;
    }
    digits = name + strlen(GEN_PREFIX);
    if (digits[0] < '1' || digits[0] > '9' || strlen(digits) > 20) {
        return -1;
    }
    errno = 0;
    n = strtoul(digits, &end, 10);
    if (errno != 0 || *end != '\0' || n == 0) {
        return -1;
    }
    *out = n;
    return 0;
}

/* Writes all of buf, retrying short writes and EINTR.  Returns 0 or -1 with errno. */
static int write_all(int fd, const unsigned char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Opens name in dfd for O_EXCL creation; a leftover entry (crash, or planted) is unlinked
 * (unlinkat removes a symlink itself, never its target) and creation retried once. */
static int create_exclusive(int dfd, const char *name)
{
    int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
    int fd = openat(dfd, name, flags, 0600);
    if (fd < 0 && errno == EEXIST) {
        if (unlinkat(dfd, name, 0) != 0 && errno != ENOENT) {
            return -1;
        }
        fd = openat(dfd, name, flags, 0600);
    }
    return fd;
}

/*
 * Writes name in directory dfd (called dir in messages) atomically: temp file, fchown, fchmod,
 * write, fsync, rename, and with sync_dir an fsync of the directory.  Without it the caller
 * fsyncs the directory once after its last file (a generation's files are unreachable until
 * `current` names it, so one directory fsync covers them all).  On failure the temp file is
 * removed and name is untouched.
 */
static int write_file_at(int dfd, const char *dir, const char *name, const void *data, size_t len,
                         mode_t mode, uid_t owner, gid_t group, int sync_dir,
                         struct mk_err *err)
{
    int rc = -1;
    int fd = -1;
    int have_tmp = 0;
    char tmp[NAME_MAX + 1];
    int n = snprintf(tmp, sizeof(tmp), ".%s" TMP_SUFFIX, name);

    MK_ENSURE(n > 0 && (size_t)n < sizeof(tmp), err, MK_ERR_CONFIG, "%s/%s: file name too long",
              dir, name);
    fd = create_exclusive(dfd, tmp);
    MK_ENSURE_ERRNO(fd >= 0, err, MK_ERR_IO, "%s/%s: cannot create temp file", dir, tmp);
    have_tmp = 1;
    if (owner != (uid_t)-1 || group != (gid_t)-1) {
        MK_ENSURE_ERRNO(fchown(fd, owner, group) == 0, err, MK_ERR_PERM, "%s/%s: fchown to %ld:%ld",
                        dir, tmp, owner == (uid_t)-1 ? -1L : (long)owner,
                        group == (gid_t)-1 ? -1L : (long)group);
    }
    MK_ENSURE_ERRNO(fchmod(fd, mode) == 0, err, MK_ERR_IO, "%s/%s: fchmod %04o", dir, tmp,
                    (unsigned)mode);
    if (injected_write_failure()) {
        /* Leave a half-written temp file behind, as a real failure would. */
        (void)write_all(fd, data, len / 2);
        errno = EIO;
        mk_err_errno(err, MK_ERR_IO, "%s/%s: write (injected failure)", dir, tmp);
        goto out;
    }
    MK_ENSURE_ERRNO(write_all(fd, data, len) == 0, err, MK_ERR_IO, "%s/%s: write", dir, tmp);
    MK_ENSURE_ERRNO(fsync(fd) == 0, err, MK_ERR_IO, "%s/%s: fsync", dir, tmp);
    n = close(fd);
    fd = -1;
    MK_ENSURE_ERRNO(n == 0, err, MK_ERR_IO, "%s/%s: close", dir, tmp);
    MK_ENSURE_ERRNO(renameat(dfd, tmp, dfd, name) == 0, err, MK_ERR_IO, "%s: rename %s to %s", dir,
                    tmp, name);
    have_tmp = 0;
    if (sync_dir) {
        MK_ENSURE_ERRNO(fsync(dfd) == 0, err, MK_ERR_IO, "%s: fsync of the directory", dir);
    }
    rc = 0;
out:
    if (fd >= 0) {
        close(fd);
    }
    if (have_tmp) {
        (void)unlinkat(dfd, tmp, 0);
    }
    return rc;
}

int pki_store_write_file(const char *path, const void *data, size_t len, mode_t mode, uid_t owner,
                         gid_t group, struct mk_err *err)
{
    int rc = -1;
    int dfd = -1;
    char *dir = NULL;
    const char *base = NULL;
    const char *slash = NULL;

    MK_ENSURE(path != NULL && path[0] != '\0', err, MK_ERR_INVALID, "write_file: empty path");
    MK_ENSURE(data != NULL || len == 0, err, MK_ERR_INVALID, "%s: no data", path);
    slash = strrchr(path, '/');
    if (slash == NULL) {
        dir = strdup(".");
        base = path;
    } else if (slash == path) {
        dir = strdup("/");
        base = slash + 1;
    } else {
        dir = strndup(path, (size_t)(slash - path));
        base = slash + 1;
    }
    MK_ENSURE(dir != NULL, err, MK_ERR_NOMEM, "%s: out of memory", path);
    MK_ENSURE(base[0] != '\0' && strcmp(base, ".") != 0 && strcmp(base, "..") != 0, err,
              MK_ERR_INVALID, "%s: not a file name", path);
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    MK_ENSURE_ERRNO(dfd >= 0, err, errno == ENOENT ? MK_ERR_NOTFOUND : MK_ERR_IO,
                    "%s: cannot open directory", dir);
    MK_GUARD(write_file_at(dfd, dir, base, data, len, mode, owner, group, 1, err));
    rc = 0;
out:
    if (dfd >= 0) {
        close(dfd);
    }
    free(dir);
    return rc;
}

/* Refuses a directory that is not ours (or root's) or that others may write to. */
static int check_dir_fd(int fd, const char *dir, struct mk_err *err)
{
    int rc = -1;
    struct stat st;

    MK_ENSURE_ERRNO(fstat(fd, &st) == 0, err, MK_ERR_IO, "%s: fstat", dir);
    MK_ENSURE(S_ISDIR(st.st_mode), err, MK_ERR_PERM, "%s: not a directory", dir);
    MK_ENSURE(st.st_uid == geteuid() || st.st_uid == 0, err, MK_ERR_PERM,
              "%s: owned by uid %lu, neither us (uid %lu) nor root; refusing to store keys there",
              dir, (unsigned long)st.st_uid, (unsigned long)geteuid());
    MK_ENSURE((st.st_mode & (S_IWGRP | S_IWOTH)) == 0, err, MK_ERR_PERM,
              "%s: mode %04o is group- or world-writable; refusing to store keys there", dir,
              (unsigned)(st.st_mode & 07777));
    rc = 0;
out:
    return rc;
}

/* Creates dir (one level, mode 0750) when its parent is safe.  Returns an open fd or -1. */
static int create_dir(const char *dir, struct mk_err *err)
{
    int fd = -1;
    int pfd = -1;
    char *parent = NULL;
    const char *base = strrchr(dir, '/') + 1; /* dir is absolute and has no trailing '/' */
    struct stat st;
    int created = 0;

    parent = base - 1 == dir ? strdup("/") : strndup(dir, (size_t)(base - 1 - dir));
    MK_ENSURE(parent != NULL, err, MK_ERR_NOMEM, "%s: out of memory", dir);
    pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    MK_ENSURE_ERRNO(pfd >= 0, err, errno == ENOENT ? MK_ERR_NOTFOUND : MK_ERR_IO,
                    "%s: cannot open the parent directory of %s", parent, dir);
    MK_ENSURE_ERRNO(fstat(pfd, &st) == 0, err, MK_ERR_IO, "%s: fstat", parent);
    /* A sticky world-writable parent (/tmp) is fine: others cannot rename or remove our dir. */
    MK_ENSURE(st.st_uid == geteuid() || st.st_uid == 0, err, MK_ERR_PERM,
              "%s: parent directory owned by uid %lu; refusing to create %s there", parent,
              (unsigned long)st.st_uid, dir);
    MK_ENSURE((st.st_mode & (S_IWGRP | S_IWOTH)) == 0 || (st.st_mode & S_ISVTX) != 0, err,
              MK_ERR_PERM, "%s: parent directory is writable by others; refusing to create %s",
              parent, dir);
    if (mkdirat(pfd, base, 0750) == 0) {
        created = 1;
    } else {
        MK_ENSURE_ERRNO(errno == EEXIST, err, MK_ERR_IO, "%s: mkdir", dir);
    }
    fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    MK_ENSURE_ERRNO(fd >= 0, err, errno == ELOOP ? MK_ERR_PERM : MK_ERR_IO, "%s: open", dir);
    if (created) {
        /* mkdir's mode went through the umask; make it exactly 0750. */
        if (fchmod(fd, 0750) != 0) {
            mk_err_errno(err, MK_ERR_IO, "%s: fchmod 0750", dir);
            close(fd);
            fd = -1;
            goto out;
        }
        mk_log(MK_LOG_INFO, "store.dir.created", "dir=%s mode=0750", dir);
    }
out:
    if (pfd >= 0) {
        close(pfd);
    }
    free(parent);
    return fd;
}

/*
 * Opens and checks the store directory.  create: make it when missing.  A missing directory
 * without create is MK_ERR_NOTFOUND.  Returns the fd or -1.
 */
static int store_open_dir(const char *dir, int create, struct mk_err *err)
{
    int fd = -1;
    size_t len = dir == NULL ? 0 : strlen(dir);

    MK_ENSURE(len > 1 && dir[0] == '/' && dir[len - 1] != '/', err, MK_ERR_CONFIG,
              "store directory \"%s\" must be an absolute path without a trailing '/'",
              dir == NULL ? "" : dir);
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && create) {
        fd = create_dir(dir, err);
        MK_GUARD(fd < 0);
    }
    if (fd < 0) {
        /* O_NOFOLLOW|O_DIRECTORY on a symlink gives ELOOP or ENOTDIR. */
        struct stat st;
        int saved = errno;
        if (saved != ENOENT && lstat(dir, &st) == 0 && S_ISLNK(st.st_mode)) {
            mk_err_set(err, MK_ERR_PERM, "%s: is a symlink; refusing to follow it", dir);
        } else {
            errno = saved;
            mk_err_errno(err, saved == ENOENT ? MK_ERR_NOTFOUND : MK_ERR_IO, "%s: open", dir);
        }
        goto out;
    }
    if (check_dir_fd(fd, dir, err) != 0) {
        close(fd);
        fd = -1;
    }
out:
    return fd;
}

int pki_store_check_dir(const char *directory, struct mk_err *err)
{
    int fd = store_open_dir(directory, 1, err);
    if (fd < 0) {
        return -1;
    }
    close(fd);
    return 0;
}

/*
 * Lets the configured group reach its files.  A key 0640 to output.group is useless when its
 * readers cannot enter the directory, and a directory this process made is 0750 with our own
 * primary group, so members of output.group would be locked out.  A directory we own is given the
 * group (read and search only: check_dir_fd still refuses group write); as root that includes
 * every directory, since the agent then owns them all.  One owned by root while we are not root
 * was made by the admin, whose choice we keep, only warning when the group cannot search it.
 */
static int dir_share_group(int dfd, const char *dir, gid_t group, struct mk_err *err)
{
    struct stat st;
    int rc = -1;

    if (group == (gid_t)-1) {
        return 0;
    }
    MK_ENSURE_ERRNO(fstat(dfd, &st) == 0, err, MK_ERR_IO, "%s: fstat", dir);
    if (st.st_gid == group) {
        return 0;
    }
    if (st.st_uid == geteuid()) {
        MK_ENSURE_ERRNO(fchown(dfd, (uid_t)-1, group) == 0, err, MK_ERR_PERM,
                        "%s: fchown to group %ld so output.group can enter it", dir, (long)group);
        /* The group gets read and search, never write; the other bits stay as they were. */
        MK_ENSURE_ERRNO(fchmod(dfd, (st.st_mode & 0705) | 0050) == 0, err, MK_ERR_IO, "%s: fchmod",
                        dir);
        mk_log(MK_LOG_INFO, "store.dir.group", "dir=%s gid=%ld", dir, (long)group);
    } else if ((st.st_mode & S_IXOTH) == 0) {
        mk_log(MK_LOG_WARN, "store.dir.group",
               "dir=%s gid=%ld want_gid=%ld "
               "error=\"output.group cannot enter this directory\"",
               dir, (long)st.st_gid, (long)group);
    }
    rc = 0;
out:
    return rc;
}

/* One writer at a time per directory; a second one fails instead of interleaving. */
static int lock_dir(int dfd, const char *dir, struct mk_err *err)
{
    if (flock(dfd, LOCK_EX | LOCK_NB) != 0) {
        mk_err_errno(err, errno == EWOULDBLOCK ? MK_ERR_STATE : MK_ERR_IO,
                     "%s: another process is writing this store (flock)", dir);
        return -1;
    }
    return 0;
}

/*
 * Reads our symlink dir/name into target (cap bytes).  Absent: *present = 0.  Anything but a
 * symlink is refused with MK_ERR_PERM and "<dir>/<name>: <not_link>", because we never replace
 * what we did not create.
 */
static int read_own_link(int dfd, const char *dir, const char *name, const char *not_link,
                         char *target, size_t cap, int *present, struct mk_err *err)
{
    int rc = -1;
    struct stat st;
    ssize_t n = 0;

    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        MK_ENSURE_ERRNO(errno == ENOENT, err, MK_ERR_IO, "%s/%s: stat", dir, name);
        *present = 0;
        return 0;
    }
    MK_ENSURE(S_ISLNK(st.st_mode), err, MK_ERR_PERM, "%s/%s: %s", dir, name, not_link);
    n = readlinkat(dfd, name, target, cap - 1);
    MK_ENSURE_ERRNO(n >= 0, err, MK_ERR_IO, "%s/%s: readlink", dir, name);
    target[n] = '\0';
    *present = 1;
    rc = 0;
out:
    return rc;
}

/*
 * Reads the link `name` (current or previous).  Absent: *present = 0.  Anything but a symlink
 * to ".gen-<N>" is refused, because we never replace what we did not create.
 */
static int read_gen_link(int dfd, const char *dir, const char *name, int *present,
                         unsigned long *num, struct mk_err *err)
{
    int rc = -1;
    int have = 0;
    char target[PATH_MAX];

    MK_GUARD(read_own_link(dfd, dir, name, "not a symlink; refusing to replace it (move it away)",
                           target, sizeof(target), &have, err));
    if (!have) {
        *present = 0;
        *num = 0;
        return 0;
    }
    MK_ENSURE(store_parse_gen(target, num) == 0, err, MK_ERR_PERM,
              "%s/%s: points to \"%.200s\", not to a generation (" GEN_PREFIX "N); refusing it",
              dir, name, target);
    *present = 1;
    rc = 0;
out:
    return rc;
}

/* Points link `name` at .gen-<num> atomically: a temp symlink renamed over the old one. */
static int set_gen_link(int dfd, const char *dir, const char *name, unsigned long num,
                        struct mk_err *err)
{
    int rc = -1;
    char tmp[64];
    char target[64];

    snprintf(tmp, sizeof(tmp), ".%s" TMP_SUFFIX, name);
    snprintf(target, sizeof(target), GEN_PREFIX "%lu", num);
    if (symlinkat(target, dfd, tmp) != 0 && errno == EEXIST) {
        (void)unlinkat(dfd, tmp, 0);
        MK_ENSURE_ERRNO(symlinkat(target, dfd, tmp) == 0, err, MK_ERR_IO, "%s/%s: symlink", dir,
                        tmp);
    }
    if (renameat(dfd, tmp, dfd, name) != 0) {
        mk_err_errno(err, MK_ERR_IO, "%s: rename %s to %s", dir, tmp, name);
        (void)unlinkat(dfd, tmp, 0);
        goto out;
    }
    rc = 0;
out:
    return rc;
}

/* Checks the stable link `name`: absent (*present = 0) or a symlink to exactly current/<name>. */
static int check_stable_link(int dfd, const char *dir, const char *name, int *present,
                             struct mk_err *err)
{
    int rc = -1;
    int have = 0;
    char target[PATH_MAX];
    char want[PATH_MAX];
    char not_link[PATH_MAX + 64];

    snprintf(want, sizeof(want), LINK_CURRENT "/%s", name);
    snprintf(not_link, sizeof(not_link), "exists and is not our symlink to %s; move it away", want);
    MK_GUARD(read_own_link(dfd, dir, name, not_link, target, sizeof(target), &have, err));
    if (!have) {
        *present = 0;
        return 0;
    }
    MK_ENSURE(strcmp(target, want) == 0, err, MK_ERR_PERM,
              "%s/%s: symlink points to \"%.200s\", not to %s; refusing to use it", dir, name,
              target, want);
    *present = 1;
    rc = 0;
out:
    return rc;
}

/* Creates the stable link name -> current/<name> unless it is already there. */
static int make_stable_link(int dfd, const char *dir, const char *name, struct mk_err *err)
{
    int rc = -1;
    int present = 0;
    char target[PATH_MAX];

    snprintf(target, sizeof(target), LINK_CURRENT "/%s", name);
    if (symlinkat(target, dfd, name) != 0) {
        MK_ENSURE_ERRNO(errno == EEXIST, err, MK_ERR_IO, "%s/%s: symlink", dir, name);
        MK_GUARD(check_stable_link(dfd, dir, name, &present, err));
    }
    rc = 0;
out:
    return rc;
}

/* Removes entry name of dfd without following symlinks; directories are emptied first, down
 * to depth levels.  Returns 0, or -1 with errno. */
static int remove_entry(int dfd, const char *name, int depth)
{
    struct stat st;
    struct dirent *de = NULL;
    DIR *d = NULL;
    int fd = -1;
    int rc = 0;
    int saved = 0;

    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        return errno == ENOENT ? 0 : -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        return unlinkat(dfd, name, 0) == 0 || errno == ENOENT ? 0 : -1;
    }
    if (depth <= 0) {
        errno = ENOTEMPTY;
        return -1;
    }
    fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        return -1;
    }
    d = fdopendir(fd);
    if (d == NULL) {
        saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
            continue;
        }
        if (remove_entry(fd, de->d_name, depth - 1) != 0) {
            saved = errno;
            rc = -1;
        }
    }
    closedir(d);
    if (unlinkat(dfd, name, AT_REMOVEDIR) != 0 && errno != ENOENT) {
        return -1;
    }
    if (rc != 0) {
        errno = saved;
    }
    return rc;
}

/* Opens a fresh directory stream on dfd (its own offset, so dfd stays usable). */
static DIR *open_dir_stream(int dfd, const char *dir, struct mk_err *err)
{
    DIR *d = NULL;
    int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0) {
        mk_err_errno(err, MK_ERR_IO, "%s: open", dir);
        return NULL;
    }
    d = fdopendir(fd);
    if (d == NULL) {
        mk_err_errno(err, MK_ERR_IO, "%s: fdopendir", dir);
        close(fd);
    }
    return d;
}

/* The highest N among the .gen-N entries of the directory (0 when there are none). */
static int scan_max_gen(int dfd, const char *dir, unsigned long *max, struct mk_err *err)
{
    DIR *d = open_dir_stream(dfd, dir, err);
    struct dirent *de = NULL;
    unsigned long n = 0;

    if (d == NULL) {
        return -1;
    }
    *max = 0;
    while ((de = readdir(d)) != NULL) {
        if (store_parse_gen(de->d_name, &n) == 0 && n > *max) {
            *max = n;
        }
    }
    closedir(d);
    return 0;
}

/*
 * Removes temp entries and every .gen-N other than keep1/keep2 (0 = none) from the directory.
 * Best effort: failures are logged, and the first one is reported by returning -1.
 */
static int remove_stale(int dfd, const char *dir, unsigned long keep1, unsigned long keep2,
                        const char *why)
{
    DIR *d = open_dir_stream(dfd, dir, NULL);
    struct dirent *de = NULL;
    unsigned long n = 0;
    int rc = 0;

    if (d == NULL) {
        mk_log(MK_LOG_WARN, "store.cleanup.failed", "dir=%s error=\"cannot list\"", dir);
        return -1;
    }
    while ((de = readdir(d)) != NULL) {
        int stale = is_temp_name(de->d_name) ||
                    (store_parse_gen(de->d_name, &n) == 0 && n != keep1 && n != keep2);
        if (!stale) {
            continue;
        }
        if (remove_entry(dfd, de->d_name, GEN_REMOVE_DEPTH) != 0) {
            mk_log(MK_LOG_WARN, "store.cleanup.failed", "dir=%s entry=%s error=\"%s\"", dir,
                   de->d_name, strerror(errno));
            rc = -1;
        } else {
            mk_log(MK_LOG_INFO, "store.cleanup.removed", "dir=%s entry=%s reason=%s", dir,
                   de->d_name, why);
        }
    }
    closedir(d);
    return rc;
}

/* Removes temp files left inside generation num (a crash during its write of a later file). */
static int remove_gen_temps(int dfd, const char *dir, unsigned long num)
{
    char name[64];
    char path[PATH_MAX];
    int gfd = -1;
    int rc = 0;
    DIR *d = NULL;
    struct dirent *de = NULL;

    snprintf(name, sizeof(name), GEN_PREFIX "%lu", num);
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    gfd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (gfd < 0) {
        return errno == ENOENT ? 0 : -1;
    }
    d = open_dir_stream(gfd, path, NULL);
    if (d == NULL) {
        close(gfd);
        return -1;
    }
    while ((de = readdir(d)) != NULL) {
        if (!is_temp_name(de->d_name)) {
            continue;
        }
        if (remove_entry(gfd, de->d_name, 0) != 0) {
            rc = -1;
        } else {
            mk_log(MK_LOG_INFO, "store.cleanup.removed", "dir=%s entry=%s reason=recover", path,
                   de->d_name);
        }
    }
    closedir(d);
    close(gfd);
    return rc;
}

/* A plain file name of the store: no '/', not hidden (ours are), not a link name of ours. */
static int name_ok(const char *name)
{
    return name != NULL && name[0] != '\0' && name[0] != '.' && strchr(name, '/') == NULL &&
           strlen(name) + sizeof(TMP_SUFFIX) + 1 < NAME_MAX && strcmp(name, LINK_CURRENT) != 0 &&
           strcmp(name, LINK_PREVIOUS) != 0;
}

/* The configured output names of spec, key first; returns how many. */
static size_t spec_names(const struct pki_store_spec *spec, const char *names[STORE_MAX_FILES])
{
    const char *all[STORE_MAX_FILES] = {spec->key_name, spec->cert_name, spec->chain_name,
                                        spec->fullchain_name, spec->pkcs12_name};
    size_t n = 0;

    for (size_t i = 0; i < STORE_MAX_FILES; i++) {
        if (all[i] != NULL) {
            names[n++] = all[i];
        }
    }
    return n;
}

/* Validates spec; for_write adds the checks that only matter when writing. */
static int spec_check(const struct pki_store_spec *spec, int for_write, struct mk_err *err)
{
    int rc = -1;
    const char *names[STORE_MAX_FILES];
    size_t n = 0;

    MK_ENSURE(spec != NULL && spec->directory != NULL, err, MK_ERR_CONFIG,
              "store: no output directory configured");
    MK_ENSURE(spec->key_name != NULL && spec->cert_name != NULL, err, MK_ERR_CONFIG,
              "store %s: key and certificate file names are required", spec->directory);
    n = spec_names(spec, names);
    for (size_t i = 0; i < n; i++) {
        MK_ENSURE(name_ok(names[i]), err, MK_ERR_CONFIG,
                  "store %s: invalid output file name \"%.100s\" (plain name, not hidden, not "
                  "current/previous)",
                  spec->directory, names[i]);
        for (size_t j = 0; j < i; j++) {
            MK_ENSURE(strcmp(names[i], names[j]) != 0, err, MK_ERR_CONFIG,
                      "store %s: output file name \"%s\" is used twice", spec->directory, names[i]);
        }
    }
    if (!for_write) {
        rc = 0;
        goto out;
    }
    MK_ENSURE(spec->pkcs12_name == NULL || spec->pkcs12_password != NULL, err, MK_ERR_CONFIG,
              "store %s: %s needs a PKCS#12 password", spec->directory,
              spec->pkcs12_name == NULL ? "" : spec->pkcs12_name);
    MK_ENSURE(spec->key_mode == 0 || spec->key_mode == 0600 || spec->key_mode == 0640, err,
              MK_ERR_CONFIG, "store %s: key mode %04o: must be 0600 or 0640", spec->directory,
              (unsigned)spec->key_mode);
    MK_ENSURE(spec->key_mode != 0640 || spec->group != (gid_t)-1, err, MK_ERR_CONFIG,
              "store %s: key mode 0640 needs a group to share the key with", spec->directory);
    MK_ENSURE((spec->cert_mode & ~(mode_t)0644) == 0, err, MK_ERR_CONFIG,
              "store %s: certificate mode %04o: only read bits and owner write are allowed",
              spec->directory, (unsigned)spec->cert_mode);
    rc = 0;
out:
    return rc;
}

/* One output file, rendered in memory before anything touches the disk. */
struct out_file {
    const char *name;
    struct pki_secret *secret; /* key material */
    char *text;                /* certificates (public) */
    mode_t mode;
};

static void out_files_clear(struct out_file *files, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        pki_secret_free(files[i].secret);
        free(files[i].text);
        memset(&files[i], 0, sizeof(files[i]));
    }
}

/* PEM of the chain alone (issuer first). */
static char *chain_pem(STACK_OF(X509) *chain, struct mk_err *err)
{
    char *pem = NULL;
    size_t len = 0;
    STACK_OF(X509) *rest = sk_X509_dup(chain);

    if (rest == NULL) {
        mk_err_set(err, MK_ERR_NOMEM, "chain PEM: out of memory");
        return NULL;
    }
    (void)sk_X509_shift(rest);
    pem = pki_certs_to_pem(sk_X509_value(chain, 0), rest, &len, err);
    sk_X509_free(rest);
    return pem;
}

/* Renders every configured output.  Returns how many files, or -1. */
static int render_files(const struct pki_store_spec *spec, EVP_PKEY *key, X509 *leaf,
                        STACK_OF(X509) *chain, struct out_file files[STORE_MAX_FILES],
                        struct mk_err *err)
{
    int n = 0;
    size_t len = 0;
    mode_t key_mode = spec->key_mode == 0 ? 0600 : spec->key_mode;
    mode_t cert_mode = spec->cert_mode == 0 ? 0644 : spec->cert_mode;
    int n_chain = chain == NULL ? 0 : sk_X509_num(chain);

    files[n] = (struct out_file){.name = spec->key_name, .mode = key_mode};
    files[n].secret = pki_format_key_pem(key, spec->key_passphrase, err);
    MK_GUARD_PTR(files[n++].secret);
    files[n] = (struct out_file){.name = spec->cert_name, .mode = cert_mode};
    files[n].text = pki_certs_to_pem(leaf, NULL, &len, err);
    MK_GUARD_PTR(files[n++].text);
    if (spec->chain_name != NULL) {
        MK_ENSURE(n_chain > 0, err, MK_ERR_INVALID,
                  "store %s: %s is configured but there is no CA chain to write", spec->directory,
                  spec->chain_name);
        files[n] = (struct out_file){.name = spec->chain_name, .mode = cert_mode};
        files[n].text = chain_pem(chain, err);
        MK_GUARD_PTR(files[n++].text);
    }
    if (spec->fullchain_name != NULL) {
        files[n] = (struct out_file){.name = spec->fullchain_name, .mode = cert_mode};
        files[n].text = pki_certs_to_pem(leaf, n_chain > 0 ? chain : NULL, &len, err);
        MK_GUARD_PTR(files[n++].text);
    }
    if (spec->pkcs12_name != NULL) {
        /* The keystore holds the private key: it gets the key's mode. */
        files[n] = (struct out_file){.name = spec->pkcs12_name, .mode = key_mode};
        files[n].secret = pki_format_pkcs12(
            key, leaf, n_chain > 0 ? chain : NULL,
            spec->pkcs12_alias == NULL ? "mskpki" : spec->pkcs12_alias, spec->pkcs12_password, err);
        MK_GUARD_PTR(files[n++].secret);
    }
    return n;
out:
    out_files_clear(files, STORE_MAX_FILES);
    return -1;
}

static int write_out_file(int gfd, const char *gpath, const struct pki_store_spec *spec,
                          const struct out_file *f, struct mk_err *err)
{
    const void *data = f->secret != NULL ? (const void *)pki_secret_data(f->secret) : f->text;
    size_t len = f->secret != NULL ? pki_secret_len(f->secret) : strlen(f->text);

    return write_file_at(gfd, gpath, f->name, data, len, f->mode, spec->owner, spec->group, 0,
                         err);
}

int pki_store_write(const struct pki_store_spec *spec, EVP_PKEY *key, X509 *leaf,
                    STACK_OF(X509) *chain, struct mk_err *err)
{
    int rc = -1;
    int dfd = -1;
    int gfd = -1;
    int n_files = 0;
    int made_gen = 0;
    int committed = 0;
    int have_cur = 0;
    int have_prev = 0;
    int present = 0;
    unsigned long cur = 0;
    unsigned long prev = 0;
    unsigned long max = 0;
    unsigned long num = 0;
    const char *dir = NULL;
    char gen_name[64];
    char gen_path[PATH_MAX];
    struct out_file files[STORE_MAX_FILES];
    const char *names[STORE_MAX_FILES];

    memset(files, 0, sizeof(files));
    MK_GUARD(spec_check(spec, 1, err));
    dir = spec->directory;
    MK_ENSURE(key != NULL && leaf != NULL, err, MK_ERR_INVALID,
              "store %s: a key and a certificate are required", dir);
    /* Never write a pair that cannot work together. */
    MK_GUARD(pki_cert_matches_key(leaf, key, err));

    /* Refuse an unsafe directory or unexpected links before any work is done. */
    dfd = store_open_dir(dir, 1, err);
    MK_GUARD(dfd < 0);
    MK_GUARD(lock_dir(dfd, dir, err));
    MK_GUARD(dir_share_group(dfd, dir, spec->group, err));
    MK_GUARD(read_gen_link(dfd, dir, LINK_CURRENT, &have_cur, &cur, err));
    MK_GUARD(read_gen_link(dfd, dir, LINK_PREVIOUS, &have_prev, &prev, err));
    n_files = (int)spec_names(spec, names);
    for (int i = 0; i < n_files; i++) {
        MK_GUARD(check_stable_link(dfd, dir, names[i], &present, err));
    }
    /* Every output is rendered in memory first: a format error writes nothing. */
    n_files = render_files(spec, key, leaf, chain, files, err);
    MK_GUARD(n_files < 0);

    /* Numbers only grow: above every .gen-N present and every one the links name. */
    MK_GUARD(scan_max_gen(dfd, dir, &max, err));
    max = cur > max ? cur : max;
    max = prev > max ? prev : max;
    MK_ENSURE(max < ULONG_MAX, err, MK_ERR_STATE, "%s: generation numbers exhausted", dir);
    num = max + 1;
    snprintf(gen_name, sizeof(gen_name), GEN_PREFIX "%lu", num);
    snprintf(gen_path, sizeof(gen_path), "%s/%s", dir, gen_name);
    MK_ENSURE_ERRNO(mkdirat(dfd, gen_name, 0755) == 0, err, MK_ERR_IO, "%s: mkdir", gen_path);
    made_gen = 1;
    gfd = openat(dfd, gen_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    MK_ENSURE_ERRNO(gfd >= 0, err, MK_ERR_IO, "%s: open", gen_path);
    /* The files carry the access control; the generation directory only needs to be
     * traversable by the readers of the certificates.  Exact mode, whatever the umask. */
    MK_ENSURE_ERRNO(fchmod(gfd, 0755) == 0, err, MK_ERR_IO, "%s: fchmod", gen_path);
    for (int i = 0; i < n_files; i++) {
        MK_GUARD(write_out_file(gfd, gen_path, spec, &files[i], err));
    }
    /* The files' names in the generation, then the generation's entry, must be durable before
     * `current` can name it: one fsync each, not one per file. */
    MK_ENSURE_ERRNO(fsync(gfd) == 0, err, MK_ERR_IO, "%s: fsync", gen_path);
    MK_ENSURE_ERRNO(fsync(dfd) == 0, err, MK_ERR_IO, "%s: fsync", dir);

    /* Stable links point through `current`, so they are made once and never change.  Made
     * before the switch, a crash leaves them valid (or dangling until the first success). */
    for (int i = 0; i < n_files; i++) {
        MK_GUARD(make_stable_link(dfd, dir, files[i].name, err));
    }
    /* previous first: a crash between the two renames leaves both naming the old current. */
    if (have_cur) {
        MK_GUARD(set_gen_link(dfd, dir, LINK_PREVIOUS, cur, err));
    }
    MK_GUARD(set_gen_link(dfd, dir, LINK_CURRENT, num, err));
    committed = 1;

    /* From here the new generation is live; what follows cannot make it fail.  A lost directory
     * fsync means a crash could bring back the old current, which is complete. */
    if (fsync(dfd) != 0) {
        mk_log(MK_LOG_WARN, "store.fsync.failed", "dir=%s error=\"%s\"", dir, strerror(errno));
    }
    if (!have_cur && have_prev && unlinkat(dfd, LINK_PREVIOUS, 0) != 0) {
        mk_log(MK_LOG_WARN, "store.cleanup.failed", "dir=%s entry=" LINK_PREVIOUS " error=\"%s\"",
               dir, strerror(errno));
    }
    (void)remove_stale(dfd, dir, num, have_cur ? cur : 0, "superseded");
    mk_log(MK_LOG_INFO, "store.generation.written", "dir=%s generation=%lu files=%d", dir, num,
           n_files);
    rc = 0;
out:
    if (gfd >= 0) {
        close(gfd);
    }
    if (made_gen && !committed && remove_entry(dfd, gen_name, GEN_REMOVE_DEPTH) != 0) {
        mk_log(MK_LOG_WARN, "store.cleanup.failed", "dir=%s entry=%s error=\"%s\"", dir, gen_name,
               strerror(errno));
    }
    if (dfd >= 0) {
        close(dfd);
    }
    out_files_clear(files, STORE_MAX_FILES);
    return rc;
}

/* Opens name in gfd (no symlinks, regular file, bounded size) and returns its size. */
static int open_regular(int gfd, const char *gpath, const char *name, size_t *size,
                        struct mk_err *err)
{
    struct stat st;
    int fd = openat(gfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

    if (fd < 0) {
        /* The generation exists, so a missing file is a damaged generation, not "none yet". */
        mk_err_errno(err, errno == ENOENT || errno == ELOOP ? MK_ERR_INVALID : MK_ERR_IO,
                     "%s/%s: open", gpath, name);
        return -1;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
        st.st_size > MAX_READ_SIZE) {
        mk_err_set(err, MK_ERR_INVALID, "%s/%s: not a regular file of 1 byte to %d bytes", gpath,
                   name, MAX_READ_SIZE);
        close(fd);
        return -1;
    }
    *size = (size_t)st.st_size;
    return fd;
}

static int read_all(int fd, unsigned char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = read(fd, buf, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            if (n == 0) {
                errno = EIO; /* the file shrank under us */
            }
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Loads the key file: its bytes only ever sit in a pki_secret (guarded, wiped on free). */
static EVP_PKEY *read_key_at(int gfd, const char *gpath, const struct pki_store_spec *spec,
                             struct mk_err *err)
{
    EVP_PKEY *key = NULL;
    struct pki_secret *buf = NULL;
    size_t len = 0;
    int fd = open_regular(gfd, gpath, spec->key_name, &len, err);

    MK_GUARD(fd < 0);
    buf = pki_secret_new(len, err);
    MK_GUARD_PTR(buf);
    MK_ENSURE_ERRNO(read_all(fd, pki_secret_mut(buf), len) == 0, err, MK_ERR_IO, "%s/%s: read",
                    gpath, spec->key_name);
    key = pki_key_from_pem(pki_secret_data(buf), len, spec->key_passphrase, err);
    if (key == NULL) {
        mk_err_prefix(err, "%s/%s", gpath, spec->key_name);
    }
out:
    if (fd >= 0) {
        close(fd);
    }
    pki_secret_free(buf);
    return key;
}

/* Loads every certificate of a PEM file.  Caller frees with sk_X509_pop_free. */
static STACK_OF(X509) *
    read_certs_at(int gfd, const char *gpath, const char *name, struct mk_err *err)
{
    STACK_OF(X509) *certs = NULL;
    unsigned char *buf = NULL;
    size_t len = 0;
    int fd = open_regular(gfd, gpath, name, &len, err);

    MK_GUARD(fd < 0);
    buf = malloc(len + 1);
    MK_ENSURE(buf != NULL, err, MK_ERR_NOMEM, "%s/%s: out of memory", gpath, name);
    MK_ENSURE_ERRNO(read_all(fd, buf, len) == 0, err, MK_ERR_IO, "%s/%s: read", gpath, name);
    buf[len] = '\0';
    certs = pki_certs_from_mem(buf, len, err);
    if (certs == NULL) {
        mk_err_prefix(err, "%s/%s", gpath, name);
    }
out:
    if (fd >= 0) {
        close(fd);
    }
    free(buf);
    return certs;
}

void pki_generation_clear(struct pki_generation *gen)
{
    if (gen == NULL) {
        return;
    }
    EVP_PKEY_free(gen->key);
    X509_free(gen->leaf);
    sk_X509_pop_free(gen->chain, X509_free);
    memset(gen, 0, sizeof(*gen));
}

int pki_store_read(const struct pki_store_spec *spec, struct pki_generation *out,
                   struct mk_err *err)
{
    int rc = -1;
    int dfd = -1;
    int gfd = -1;
    int present = 0;
    unsigned long num = 0;
    const char *dir = NULL;
    char gen_name[64];
    char gen_path[PATH_MAX];
    struct pki_generation gen;

    memset(&gen, 0, sizeof(gen));
    MK_GUARD(spec_check(spec, 0, err));
    MK_ENSURE(out != NULL, err, MK_ERR_INVALID, "store read: no output");
    dir = spec->directory;
    dfd = store_open_dir(dir, 0, err);
    MK_GUARD(dfd < 0);
    MK_GUARD(read_gen_link(dfd, dir, LINK_CURRENT, &present, &num, err));
    MK_ENSURE(present, err, MK_ERR_NOTFOUND, "%s: no generation written yet (no %s link)", dir,
              LINK_CURRENT);
    snprintf(gen_name, sizeof(gen_name), GEN_PREFIX "%lu", num);
    snprintf(gen_path, sizeof(gen_path), "%s/%s", dir, gen_name);
    /* Open the generation the link named; it stays valid even if `current` moves on. */
    gfd = openat(dfd, gen_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    MK_ENSURE_ERRNO(gfd >= 0, err, MK_ERR_INVALID, "%s: %s names a missing generation", gen_path,
                    LINK_CURRENT);
    gen.number = num;
    gen.key = read_key_at(gfd, gen_path, spec, err);
    MK_GUARD_PTR(gen.key);
    gen.chain = read_certs_at(gfd, gen_path, spec->cert_name, err);
    MK_GUARD_PTR(gen.chain);
    gen.leaf = sk_X509_shift(gen.chain);
    sk_X509_pop_free(gen.chain, X509_free);
    gen.chain = NULL;
    if (spec->chain_name != NULL) {
        gen.chain = read_certs_at(gfd, gen_path, spec->chain_name, err);
        MK_GUARD_PTR(gen.chain);
    } else if (spec->fullchain_name != NULL) {
        gen.chain = read_certs_at(gfd, gen_path, spec->fullchain_name, err);
        MK_GUARD_PTR(gen.chain);
        X509_free(sk_X509_shift(gen.chain));
    } else {
        gen.chain = sk_X509_new_null();
        MK_ENSURE(gen.chain != NULL, err, MK_ERR_NOMEM, "%s: out of memory", gen_path);
    }
    if (pki_cert_matches_key(gen.leaf, gen.key, err) != 0) {
        if (err != NULL) {
            err->code = MK_ERR_VERIFY;
        }
        mk_err_prefix(err, "%s: %s and %s do not belong together", gen_path, spec->key_name,
                      spec->cert_name);
        goto out;
    }
    *out = gen;
    memset(&gen, 0, sizeof(gen));
    rc = 0;
out:
    pki_generation_clear(&gen);
    if (gfd >= 0) {
        close(gfd);
    }
    if (dfd >= 0) {
        close(dfd);
    }
    return rc;
}

int pki_store_recover(const struct pki_store_spec *spec, struct mk_err *err)
{
    int rc = -1;
    int dfd = -1;
    int have_cur = 0;
    int have_prev = 0;
    unsigned long cur = 0;
    unsigned long prev = 0;
    const char *dir = NULL;
    struct mk_err local;

    MK_ENSURE(spec != NULL && spec->directory != NULL, err, MK_ERR_CONFIG,
              "store: no output directory configured");
    dir = spec->directory;
    mk_err_clear(&local);
    dfd = store_open_dir(dir, 0, &local);
    if (dfd < 0 && local.code == MK_ERR_NOTFOUND) {
        rc = 0; /* nothing written yet, nothing to recover */
        goto out;
    }
    if (dfd < 0) {
        if (err != NULL) {
            *err = local;
        }
        goto out;
    }
    MK_GUARD(lock_dir(dfd, dir, err));
    /* Without trustworthy links we cannot tell live generations from dead ones: remove nothing. */
    MK_GUARD(read_gen_link(dfd, dir, LINK_CURRENT, &have_cur, &cur, err));
    MK_GUARD(read_gen_link(dfd, dir, LINK_PREVIOUS, &have_prev, &prev, err));
    (void)remove_stale(dfd, dir, cur, prev, "recover");
    if (have_cur) {
        (void)remove_gen_temps(dfd, dir, cur);
    }
    if (have_prev && prev != cur) {
        (void)remove_gen_temps(dfd, dir, prev);
    }
    rc = 0;
out:
    if (dfd >= 0) {
        close(dfd);
    }
    return rc;
}
