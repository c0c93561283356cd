/* sandbox.c: seccomp for the key process, Landlock for the network process and its mount
 * namespace fallback (see sandbox.h). */
#include "agent/sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/landlock.h>
#include <linux/magic.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <grp.h>
#include <pwd.h>

#include "pki/log.h"

/* Denied with EPERM in the key process. */
static const int denied_syscalls[] = {
    SCMP_SYS(socket),        SCMP_SYS(connect),       SCMP_SYS(bind),
    SCMP_SYS(listen),        SCMP_SYS(accept),        SCMP_SYS(accept4),
    SCMP_SYS(execve),        SCMP_SYS(execveat),      SCMP_SYS(process_vm_readv),
    SCMP_SYS(process_vm_writev), SCMP_SYS(mount),     SCMP_SYS(umount2),
    SCMP_SYS(pivot_root),    SCMP_SYS(chroot),        SCMP_SYS(unshare),
    SCMP_SYS(setns),         SCMP_SYS(kexec_load),    SCMP_SYS(init_module),
    SCMP_SYS(finit_module),  SCMP_SYS(delete_module), SCMP_SYS(bpf),
    SCMP_SYS(perf_event_open), SCMP_SYS(keyctl),      SCMP_SYS(add_key),
    SCMP_SYS(request_key),   SCMP_SYS(userfaultfd),   SCMP_SYS(io_uring_setup),
    SCMP_SYS(open_by_handle_at), SCMP_SYS(name_to_handle_at), SCMP_SYS(reboot),
    SCMP_SYS(swapon),        SCMP_SYS(swapoff),       SCMP_SYS(acct),
    SCMP_SYS(personality),
    /* pidfd_getfd copies a descriptor out of another process of the same uid: the network
     * process's sockets would be one call away.  kcmp and process_madvise reach into other
     * processes too. */
    SCMP_SYS(pidfd_getfd),   SCMP_SYS(kcmp),          SCMP_SYS(process_madvise),
    /* The new mount API does what mount(2) does. */
    SCMP_SYS(open_tree),     SCMP_SYS(move_mount),    SCMP_SYS(fsopen),
    SCMP_SYS(fsconfig),      SCMP_SYS(fsmount),       SCMP_SYS(fspick),
    SCMP_SYS(mount_setattr),
    /* io_uring performs socket and file operations without the syscalls filtered here. */
    SCMP_SYS(io_uring_enter), SCMP_SYS(io_uring_register),
#if !defined(__SANITIZE_ADDRESS__)
    /* LeakSanitizer stops the world with clone and ptrace at exit: sanitizer builds keep them. */
    SCMP_SYS(ptrace),
#endif
};

int agent_sandbox_keyproc(struct mk_err *err)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    int rc = -1;
    int r;

    MK_ENSURE(ctx != NULL, err, MK_ERR_NOMEM, "sandbox: seccomp_init failed");
    for (size_t i = 0; i < sizeof(denied_syscalls) / sizeof(denied_syscalls[0]); i++) {
        if (denied_syscalls[i] < 0) {
            continue; /* not a syscall of this architecture */
        }
        r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), denied_syscalls[i], 0);
        MK_ENSURE(r == 0, err, MK_ERR_IO, "sandbox: seccomp_rule_add(%d): %s", denied_syscalls[i],
                  strerror(-r));
    }
    r = seccomp_load(ctx);
    MK_ENSURE(r == 0, err, MK_ERR_IO, "sandbox: seccomp_load: %s", strerror(-r));
    rc = 0;
out:
    if (ctx != NULL) {
        seccomp_release(ctx);
    }
    return rc;
}

/* ---- Landlock ---- */

/* Newer rights than the build host's linux/landlock.h may know (values from the kernel ABI). */
#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13)
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)
#endif

#define FS_FILE_RIGHTS                                                                             \
    (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE)
#define FS_V1_RIGHTS ((LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1)

/* The rights this kernel's Landlock ABI knows, and the subset that applies to a file. */
static void abi_rights(int abi, __u64 *all, __u64 *file)
{
    *all = FS_V1_RIGHTS;
    *file = FS_FILE_RIGHTS;
    if (abi >= 2) {
        *all |= LANDLOCK_ACCESS_FS_REFER;
    }
    if (abi >= 3) {
        *all |= LANDLOCK_ACCESS_FS_TRUNCATE;
        *file |= LANDLOCK_ACCESS_FS_TRUNCATE;
    }
    if (abi >= 5) {
        *all |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
        *file |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
    }
}

/* 1 when path is p or beneath it. */
static int is_under(const char *path, const char *p)
{
    size_t n = strlen(p);

    if (strcmp(p, "/") == 0) {
        return 1;
    }
    return strncmp(path, p, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* 1 when the directory d is an ancestor of p (d != p). */
static int is_ancestor(const char *d, const char *p)
{
    return strcmp(d, p) != 0 && is_under(p, d);
}

struct deny_set {
    char **paths;
    size_t n;
};

static int denied(const struct deny_set *ds, const char *path)
{
    for (size_t i = 0; i < ds->n; i++) {
        if (is_under(path, ds->paths[i])) {
            return 1;
        }
    }
    return 0;
}

static int on_spine(const struct deny_set *ds, const char *dir)
{
    for (size_t i = 0; i < ds->n; i++) {
        if (is_ancestor(dir, ds->paths[i])) {
            return 1;
        }
    }
    return 0;
}

static int allow_path(int rfd, const char *path, __u64 all, __u64 file)
{
    struct landlock_path_beneath_attr pb;
    struct stat st;
    int fd = open(path, O_PATH | O_CLOEXEC | O_NOFOLLOW);
    int rc = 0;

    if (fd < 0) {
        return 0; /* vanished or unreachable: nothing to grant */
    }
    if (fstat(fd, &st) == 0) {
        pb.parent_fd = fd;
        pb.allowed_access = S_ISDIR(st.st_mode) ? all : file;
        if (S_ISLNK(st.st_mode)) {
            pb.allowed_access = file; /* the link itself; its target has its own rule */
        }
        if (syscall(SYS_landlock_add_rule, rfd, LANDLOCK_RULE_PATH_BENEATH, &pb, 0) != 0) {
            rc = -1;
        }
    }
    close(fd);
    return rc;
}

/*
 * Directories on the way to a denied path cannot be listed once a layer is in place (nothing
 * grants them), yet the next layer (after a reload) must list them again.  Landlock checks a
 * directory when it is opened, so a descriptor opened before the first layer keeps working.
 */
#define SPINE_CACHE 64
static struct {
    char *path;
    int fd;
} spine_cache[SPINE_CACHE];

static DIR *open_spine_dir(const char *dir)
{
    DIR *d = opendir(dir);
    size_t i;

    for (i = 0; i < SPINE_CACHE && spine_cache[i].path != NULL; i++) {
        if (strcmp(spine_cache[i].path, dir) == 0) {
            break;
        }
    }
    if (d == NULL && i < SPINE_CACHE && spine_cache[i].path != NULL) {
        int fd = dup(spine_cache[i].fd);
        d = fd >= 0 ? fdopendir(fd) : NULL;
        if (d == NULL && fd >= 0) {
            close(fd);
        }
        if (d != NULL) {
            rewinddir(d);
        }
    } else if (d != NULL && i < SPINE_CACHE && spine_cache[i].path == NULL) {
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        spine_cache[i].path = fd >= 0 ? strdup(dir) : NULL;
        if (spine_cache[i].path != NULL) {
            spine_cache[i].fd = fd;
        } else if (fd >= 0) {
            close(fd);
        }
    }
    return d;
}

/* Grants everything beneath dir except the denied paths, recursing along the spine. */
static int allow_dir(int rfd, const struct deny_set *ds, const char *dir, __u64 all, __u64 file,
                     int depth, struct mk_err *err)
{
    DIR *d = open_spine_dir(dir);
    struct dirent *de;
    char child[PATH_MAX];
    int rc = 0;

    if (d == NULL || depth > 64) {
        if (d != NULL) {
            closedir(d);
        }
        return 0;
    }
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
            continue;
        }
        if (snprintf(child, sizeof(child), "%s%s%s", dir, strcmp(dir, "/") == 0 ? "" : "/",
                     de->d_name) >= (int)sizeof(child) ||
            denied(ds, child)) {
            continue;
        }
        if (on_spine(ds, child)) {
            rc = allow_dir(rfd, ds, child, all, file, depth + 1, err);
        } else if (allow_path(rfd, child, all, file) != 0) {
            mk_err_errno(err, MK_ERR_IO, "sandbox: landlock_add_rule %s", child);
            rc = -1;
        }
    }
    closedir(d);
    return rc;
}

/* Canonical form of a path that may not exist yet: the real path of its longest existing
 * prefix plus the rest. */
static char *canonical(const char *path)
{
    char buf[PATH_MAX];
    char *r = realpath(path, NULL);
    const char *slash;

    if (r != NULL) {
        return r;
    }
    slash = strrchr(path, '/');
    if (slash == NULL || slash == path) {
        return strdup(path);
    }
    snprintf(buf, sizeof(buf), "%.*s", (int)(slash - path), path);
    char *parent = canonical(buf);
    if (parent == NULL) {
        return NULL;
    }
    snprintf(buf, sizeof(buf), "%s%s", strcmp(parent, "/") == 0 ? "" : parent, slash);
    free(parent);
    return strdup(buf);
}

int agent_sandbox_deny_paths(const char *const *paths, size_t n, struct mk_err *err)
{
    struct landlock_ruleset_attr ra;
    struct deny_set ds = {0};
    __u64 all = 0;
    __u64 file = 0;
    int rfd = -1;
    int abi;
    int rc = -1;

    abi = (int)syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    if (abi < 1) {
        return 0;
    }
    abi_rights(abi, &all, &file);
    ds.paths = calloc(n + 1, sizeof(*ds.paths));
    MK_ENSURE(ds.paths != NULL, err, MK_ERR_NOMEM, "sandbox: out of memory");
    for (size_t i = 0; i < n; i++) {
        MK_ENSURE(paths[i] != NULL && paths[i][0] == '/', err, MK_ERR_INVALID,
                  "sandbox: %s is not an absolute path", paths[i] != NULL ? paths[i] : "(null)");
        ds.paths[ds.n] = canonical(paths[i]);
        MK_ENSURE(ds.paths[ds.n] != NULL, err, MK_ERR_NOMEM, "sandbox: out of memory");
        MK_ENSURE(strcmp(ds.paths[ds.n], "/") != 0, err, MK_ERR_INVALID,
                  "sandbox: refusing to deny /");
        ds.n++;
    }
    memset(&ra, 0, sizeof(ra));
    ra.handled_access_fs = all;
    rfd = (int)syscall(SYS_landlock_create_ruleset, &ra, sizeof(ra), 0);
    MK_ENSURE_ERRNO(rfd >= 0, err, MK_ERR_IO, "sandbox: landlock_create_ruleset");
    MK_GUARD(allow_dir(rfd, &ds, "/", all, file, 0, err));
    MK_ENSURE_ERRNO(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0, err, MK_ERR_IO,
                    "sandbox: PR_SET_NO_NEW_PRIVS");
    MK_ENSURE_ERRNO(syscall(SYS_landlock_restrict_self, rfd, 0) == 0, err, MK_ERR_IO,
                    "sandbox: landlock_restrict_self");
    rc = 1;
out:
    if (rfd >= 0) {
        close(rfd);
    }
    for (size_t i = 0; i < ds.n; i++) {
        free(ds.paths[i]);
    }
    free(ds.paths);
    return rc;
}

/* ---- The fallback without Landlock: a private mount namespace ---- */

/*
 * What agent_sandbox_hide_paths covered, so that a reload can tell which new paths it cannot
 * hide (the mounts need capabilities the process no longer has).
 */
static struct {
    char **paths;
    size_t n;
    int active;
} hidden;

/* Writes one line to a /proc/self file (uid_map, gid_map, setgroups). */
static int write_proc(const char *file, const char *text, struct mk_err *err)
{
    int fd = open(file, O_WRONLY | O_CLOEXEC);
    size_t len = strlen(text);
    int rc = -1;

    MK_ENSURE_ERRNO(fd >= 0, err, MK_ERR_IO, "sandbox: open %s", file);
    MK_ENSURE_ERRNO(write(fd, text, len) == (ssize_t)len, err, MK_ERR_IO, "sandbox: write %s",
                    file);
    rc = 0;
out:
    if (fd >= 0) {
        close(fd);
    }
    return rc;
}

/*
 * A user namespace of our own (the same uid and gid mapped to themselves) plus a mount
 * namespace.  The user namespace is what makes the rest hold: every mount copied from the
 * parent becomes locked, and every process outside (the supervisor, the key process, any other
 * process of this uid, root or not) is in another user namespace, so /proc/<pid>/root, fd and
 * mem, ptrace, process_vm_readv and pidfd_getfd need CAP_SYS_PTRACE over it, which we will not
 * have.  Where user namespaces are disabled, root still gets a mount namespace alone.
 * Returns 1 (*userns says which), 0 when refused (err holds the reason), -1 on error.
 */
static int enter_namespaces(int want_userns, int *userns, struct mk_err *err)
{
    char map[64];
    uid_t uid = geteuid();
    gid_t gid = getegid();

    *userns = 1;
    if (!want_userns && uid == 0) {
        *userns = 0;
        if (unshare(CLONE_NEWNS) != 0) {
            mk_err_errno(err, MK_ERR_PERM, "unshare(CLONE_NEWNS)");
            return 0;
        }
        return 1;
    }
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) {
        int e = errno;
        *userns = 0;
        if (uid != 0) {
            mk_err_errno(err, MK_ERR_PERM, "unshare(CLONE_NEWUSER|CLONE_NEWNS)");
            return 0;
        }
        if (unshare(CLONE_NEWNS) != 0) {
            mk_err_errno(err, MK_ERR_PERM,
                         "unshare(CLONE_NEWUSER|CLONE_NEWNS): %s; as root,"
                         " unshare(CLONE_NEWNS)",
                         strerror(e));
            return 0;
        }
        return 1;
    }
    /* Unprivileged gid_map writes need setgroups denied first (user_namespaces(7)). */
    snprintf(map, sizeof(map), "%lu %lu 1\n", (unsigned long)uid, (unsigned long)uid);
    MK_GUARD(write_proc("/proc/self/setgroups", "deny", err));
    MK_GUARD(write_proc("/proc/self/uid_map", map, err));
    snprintf(map, sizeof(map), "%lu %lu 1\n", (unsigned long)gid, (unsigned long)gid);
    MK_GUARD(write_proc("/proc/self/gid_map", map, err));
    return 1;
out:
    return -1;
}

/* Hides a directory under an empty read-only tmpfs of mode 0000. */
static int hide_dir(const char *path, struct mk_err *err)
{
    MK_ENSURE_ERRNO(mount("mskpki-hidden", path, "tmpfs",
                          MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                          "mode=0000,size=4k,nr_inodes=1") == 0,
                    err, MK_ERR_IO, "sandbox: mount tmpfs on %s", path);
    return 0;
out:
    return -1;
}

/* Hides a file under a read-only, nodev bind of /dev/null: opening it fails with EACCES. */
static int hide_file(const char *path, struct mk_err *err)
{
    MK_ENSURE_ERRNO(mount("/dev/null", path, NULL, MS_BIND, NULL) == 0, err, MK_ERR_IO,
                    "sandbox: bind /dev/null on %s", path);
    /* Flags of a bind mount change only by remounting it; nosuid and noexec may be locked on
     * from the source mount, and asking for them keeps the call legal. */
    MK_ENSURE_ERRNO(mount(NULL, path, NULL,
                          MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                          NULL) == 0,
                    err, MK_ERR_IO, "sandbox: remount %s read-only", path);
    return 0;
out:
    return -1;
}

/*
 * Binds the original /dev's entry name (reached through dfd) onto /dev/name in the new tmpfs:
 * a file is made there to mount on, and the source is given relative to dfd as the working
 * directory, because "/dev/name" now names the new file.  cwd is the directory to return to.
 */
static int bind_dev_node(int dfd, int cwd, const char *name, struct mk_err *err)
{
    char dst[64];
    int fd;
    int rc = -1;

    snprintf(dst, sizeof(dst), "/dev/%s", name);
    fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    MK_ENSURE_ERRNO(fd >= 0, err, MK_ERR_IO, "sandbox: create %s", dst);
    close(fd);
    MK_ENSURE_ERRNO(fchdir(dfd) == 0, err, MK_ERR_IO, "sandbox: fchdir /dev");
    if (mount(name, dst, NULL, MS_BIND, NULL) != 0) {
        mk_err_errno(err, MK_ERR_IO, "sandbox: bind %s", dst);
        (void)fchdir(cwd);
        goto out;
    }
    MK_ENSURE_ERRNO(fchdir(cwd) == 0, err, MK_ERR_IO, "sandbox: fchdir back");
    rc = 0;
out:
    return rc;
}

/*
 * Replaces /dev with a tmpfs that holds only the character devices a client needs, bound from
 * the original (reached through a descriptor: once covered, "/dev/null" names the new file).
 * uid 0 without capabilities still opens the disks by their mode (root:disk 0660) and could
 * read the key files off the block device.
 */
static int cover_dev(struct mk_err *err)
{
    static const char *const nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};
    static const char *const links[][2] = {{"fd", "/proc/self/fd"},
                                           {"stdin", "/proc/self/fd/0"},
                                           {"stdout", "/proc/self/fd/1"},
                                           {"stderr", "/proc/self/fd/2"}};
    char dst[64];
    char target[PATH_MAX];
    struct stat st;
    int dfd = open("/dev", O_PATH | O_DIRECTORY | O_CLOEXEC);
    int cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    int rc = -1;
    ssize_t len;

    MK_ENSURE_ERRNO(dfd >= 0 && cwd >= 0, err, MK_ERR_IO, "sandbox: open /dev");
    MK_ENSURE_ERRNO(mount("mskpki-dev", "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC,
                          "mode=0755,size=64k,nr_inodes=64") == 0,
                    err, MK_ERR_IO, "sandbox: mount tmpfs on /dev");
    for (size_t i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
        if (fstatat(dfd, nodes[i], &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISCHR(st.st_mode)) {
            continue; /* absent here (a container without a tty): nothing to offer */
        }
        MK_GUARD(bind_dev_node(dfd, cwd, nodes[i], err));
    }
    for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
        snprintf(dst, sizeof(dst), "/dev/%s", links[i][0]);
        MK_ENSURE_ERRNO(symlink(links[i][1], dst) == 0, err, MK_ERR_IO, "sandbox: symlink %s", dst);
    }
    /* syslog(3) writes to /dev/log: a link into /run (systemd) or the socket itself. */
    if (fstatat(dfd, "log", &st, AT_SYMLINK_NOFOLLOW) == 0) {
        len = S_ISLNK(st.st_mode) ? readlinkat(dfd, "log", target, sizeof(target) - 1) : -1;
        if (len > 0) {
            target[len] = '\0';
            MK_ENSURE_ERRNO(symlink(target, "/dev/log") == 0, err, MK_ERR_IO,
                            "sandbox: symlink /dev/log");
        } else if (S_ISSOCK(st.st_mode)) {
            MK_GUARD(bind_dev_node(dfd, cwd, "log", err));
        }
    }
    MK_ENSURE_ERRNO(mount(NULL, "/dev", NULL,
                          MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC, NULL) == 0,
                    err, MK_ERR_IO, "sandbox: remount /dev read-only");
    rc = 0;
out:
    if (dfd >= 0) {
        close(dfd);
    }
    if (cwd >= 0) {
        close(cwd);
    }
    return rc;
}

/*
 * Drops every capability: the bounding set first (that needs CAP_SETPCAP), the ambient set,
 * then effective, permitted and inheritable.  Without CAP_SYS_ADMIN the mounts above cannot be
 * undone; without CAP_DAC_OVERRIDE their mode 0000 holds; with no_new_privs and an empty
 * bounding set no execve gives any back.
 */
static int drop_caps(struct mk_err *err)
{
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

    for (int c = 0; c <= 63; c++) {
        int in = prctl(PR_CAPBSET_READ, c, 0, 0, 0);
        if (in < 0) {
            break; /* EINVAL: past the last capability this kernel knows */
        }
        if (in == 0) {
            continue; /* dropped already (before a setuid) */
        }
        if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0 && errno == EPERM && geteuid() != 0) {
            /* An unprivileged process without CAP_SETPCAP: it has no capability to lose, and
             * with no_new_privs no execve can grant one. */
            break;
        }
        MK_ENSURE_ERRNO(prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 0, err, MK_ERR_IO,
                        "sandbox: PR_CAPBSET_DROP %d", c);
    }
    MK_ENSURE_ERRNO(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) == 0 ||
                        errno == EINVAL,
                    err, MK_ERR_IO, "sandbox: PR_CAP_AMBIENT_CLEAR_ALL");
    memset(data, 0, sizeof(data));
    MK_ENSURE_ERRNO(syscall(SYS_capset, &hdr, data) == 0, err, MK_ERR_IO, "sandbox: capset");
    MK_ENSURE_ERRNO(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0, err, MK_ERR_IO,
                    "sandbox: PR_SET_NO_NEW_PRIVS");
    return 0;
out:
    return -1;
}

/*
 * HOME becomes the user's own, as login(1) or systemd's User= would set it.  The AWS credential
 * chain reads ~/.aws: under root's home (0700) it would stop at EACCES before the container and
 * instance credentials, whichever of them the host has.  Shared files left in the old home are
 * named in one warning (looked at as root, before the drop).
 */
static void adopt_home(uid_t uid)
{
    const struct passwd *pw = getpwuid(uid);
    const char *old = getenv("HOME");
    char aws[PATH_MAX];
    struct stat st;
    int n;

    if (pw == NULL || pw->pw_dir == NULL || pw->pw_dir[0] == '\0') {
        (void)unsetenv("HOME");
        return;
    }
    if (old != NULL && strcmp(old, pw->pw_dir) != 0) {
        n = snprintf(aws, sizeof(aws), "%s/.aws", old);
        if (n > 0 && (size_t)n < sizeof(aws) && stat(aws, &st) == 0) {
            mk_log(MK_LOG_WARN, "sandbox.home",
                   "home=%s ignored=%s msg=\"the network process runs as uid %lu and reads AWS"
                   " shared files from its own home; name them in AWS_CONFIG_FILE and"
                   " AWS_SHARED_CREDENTIALS_FILE (readable by that user) to use them\"",
                   pw->pw_dir, aws, (unsigned long)uid);
        }
    }
    (void)setenv("HOME", pw->pw_dir, 1);
}

int agent_sandbox_drop_privs(const struct agent_sandbox_user *u, struct mk_err *err)
{
    uid_t r, e, sv;
    int rc = -1;

    if (u != NULL && u->drop && geteuid() == 0) {
        adopt_home(u->uid);
        /* The bounding set first: that takes CAP_SETPCAP, which the setuid below clears. */
        for (int c = 0; c <= 63; c++) {
            if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) < 0) {
                break;
            }
            MK_ENSURE_ERRNO(prctl(PR_CAPBSET_DROP, c, 0, 0, 0) == 0, err, MK_ERR_IO,
                            "sandbox: PR_CAPBSET_DROP %d", c);
        }
        MK_ENSURE_ERRNO(setgroups(1, &u->gid) == 0, err, MK_ERR_PERM, "sandbox: setgroups");
        MK_ENSURE_ERRNO(setresgid(u->gid, u->gid, u->gid) == 0, err, MK_ERR_PERM,
                        "sandbox: setresgid %lu", (unsigned long)u->gid);
        MK_ENSURE_ERRNO(setresuid(u->uid, u->uid, u->uid) == 0, err, MK_ERR_PERM,
                        "sandbox: setresuid %lu", (unsigned long)u->uid);
        /* A setuid that half worked would leave a way back to root. */
        MK_ENSURE(getresuid(&r, &e, &sv) == 0 && r == u->uid && e == u->uid && sv == u->uid &&
                      setuid(0) != 0,
                  err, MK_ERR_PERM, "sandbox: still able to become root after setresuid");
#if defined(__SANITIZE_ADDRESS__)
        /* The uid change made the process non-dumpable, and LeakSanitizer's tracer (a clone,
         * not a thread) could no longer attach at exit: sanitizer builds only. */
        (void)prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
#endif
    }
    MK_GUARD(drop_caps(err));
    rc = 0;
out:
    return rc;
}

/*
 * Landlock's second layer: the rights that change the filesystem, granted beneath writable
 * only (plus writing to the null devices).  Layers intersect, so the denied key paths stay
 * denied inside it too (a local CA directory beneath state_dir).
 */
int agent_sandbox_write_only(const char *writable, struct mk_err *err)
{
    static const char *const devs[] = {"/dev/null", "/dev/zero", "/dev/full"};
    struct landlock_ruleset_attr ra;
    struct landlock_path_beneath_attr pb;
    __u64 write = LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR |
                  LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_CHAR |
                  LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |
                  LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO |
                  LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_SYM;
    __u64 file_write = LANDLOCK_ACCESS_FS_WRITE_FILE;
    int abi;
    int fd = -1;
    int rfd = -1;
    int rc = -1;

    abi = (int)syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    if (abi < 1) {
        return 0;
    }
    if (abi >= 2) {
        write |= LANDLOCK_ACCESS_FS_REFER;
    }
    if (abi >= 3) {
        write |= LANDLOCK_ACCESS_FS_TRUNCATE;
        file_write |= LANDLOCK_ACCESS_FS_TRUNCATE;
    }
    memset(&ra, 0, sizeof(ra));
    ra.handled_access_fs = write;
    rfd = (int)syscall(SYS_landlock_create_ruleset, &ra, sizeof(ra), 0);
    MK_ENSURE_ERRNO(rfd >= 0, err, MK_ERR_IO, "sandbox: landlock_create_ruleset (writes)");
    fd = open(writable, O_PATH | O_DIRECTORY | O_CLOEXEC);
    MK_ENSURE_ERRNO(fd >= 0, err, MK_ERR_IO, "sandbox: open %s", writable);
    pb.parent_fd = fd;
    pb.allowed_access = write;
    MK_ENSURE_ERRNO(syscall(SYS_landlock_add_rule, rfd, LANDLOCK_RULE_PATH_BENEATH, &pb, 0) == 0,
                    err, MK_ERR_IO, "sandbox: landlock_add_rule %s", writable);
    for (size_t i = 0; i < sizeof(devs) / sizeof(devs[0]); i++) {
        close(fd);
        fd = open(devs[i], O_PATH | O_CLOEXEC);
        if (fd < 0) {
            continue;
        }
        pb.parent_fd = fd;
        pb.allowed_access = file_write;
        MK_ENSURE_ERRNO(
            syscall(SYS_landlock_add_rule, rfd, LANDLOCK_RULE_PATH_BENEATH, &pb, 0) == 0, err,
            MK_ERR_IO, "sandbox: landlock_add_rule %s", devs[i]);
    }
    MK_ENSURE_ERRNO(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0, err, MK_ERR_IO,
                    "sandbox: PR_SET_NO_NEW_PRIVS");
    MK_ENSURE_ERRNO(syscall(SYS_landlock_restrict_self, rfd, 0) == 0, err, MK_ERR_IO,
                    "sandbox: landlock_restrict_self (writes)");
    rc = 1;
out:
    if (fd >= 0) {
        close(fd);
    }
    if (rfd >= 0) {
        close(rfd);
    }
    return rc;
}

/*
 * The mount namespace's counterpart of agent_sandbox_write_only: every mount read-only but a
 * bind of writable onto itself (made before the key paths are covered, so covers beneath it
 * stay read-only).  mount_setattr (Linux 5.12) sets the flag on the whole tree in one call.
 * Returns 1 when done, 0 when the kernel lacks mount_setattr (err says so), -1 on error.
 */
static int readonly_but(const char *writable, struct mk_err *err)
{
    struct mount_attr ro = {.attr_set = MOUNT_ATTR_RDONLY};
    struct mount_attr rw = {.attr_clr = MOUNT_ATTR_RDONLY};

    if (syscall(SYS_mount_setattr, -1, "/", AT_RECURSIVE, &ro, sizeof(ro)) != 0) {
        if (errno == ENOSYS) {
            mk_err_errno(err, MK_ERR_IO, "sandbox: mount_setattr");
            return 0;
        }
        mk_err_errno(err, MK_ERR_IO, "sandbox: make / read-only");
        return -1;
    }
    if (syscall(SYS_mount_setattr, -1, writable, 0, &rw, sizeof(rw)) != 0) {
        mk_err_errno(err, MK_ERR_IO, "sandbox: make %s writable", writable);
        return -1;
    }
    return 1;
}

int agent_sandbox_hide_paths(const char *const *paths, size_t n, const char *writable,
                             const struct agent_sandbox_user *u, int *userns, struct mk_err *err)
{
    char **canon = calloc(n + 1, sizeof(*canon));
    size_t nc = 0;
    int rc = -1;
    int r;

    MK_ENSURE(canon != NULL, err, MK_ERR_NOMEM, "sandbox: out of memory");
    MK_ENSURE(!hidden.active, err, MK_ERR_INVALID, "sandbox: the paths are already hidden");
    for (size_t i = 0; i < n; i++) {
        MK_ENSURE(paths[i] != NULL && paths[i][0] == '/', err, MK_ERR_INVALID,
                  "sandbox: %s is not an absolute path", paths[i] != NULL ? paths[i] : "(null)");
        /* The mounts land on the real path: a symlink's target is what must disappear. */
        canon[nc] = realpath(paths[i], NULL);
        MK_ENSURE_ERRNO(canon[nc] != NULL, err, MK_ERR_IO, "sandbox: %s", paths[i]);
        MK_ENSURE(strcmp(canon[nc], "/") != 0, err, MK_ERR_INVALID, "sandbox: refusing to hide /");
        nc++;
    }
    /* A user namespace maps only the uid we have: one about to become agent.user (root now)
     * takes a mount namespace alone, and the uid change then keeps it from every other
     * process's /proc entries and from ptrace. */
    r = enter_namespaces(u == NULL || !u->drop, userns, err);
    if (r <= 0) {
        rc = r;
        goto out;
    }
    /* Nothing we mount may travel back to the parent's namespace, nor theirs to us. */
    MK_ENSURE_ERRNO(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0, err, MK_ERR_IO,
                    "sandbox: make / private");
    if (writable != NULL) {
        /* A mount of its own, so that it alone can be made writable again below. */
        MK_ENSURE_ERRNO(mount(writable, writable, NULL, MS_BIND | MS_REC, NULL) == 0, err,
                        MK_ERR_IO, "sandbox: bind %s", writable);
    }
    for (size_t i = 0; i < nc; i++) {
        struct stat st;
        int covered = 0;
        for (size_t j = 0; j < nc; j++) {
            covered |= j != i && is_ancestor(canon[j], canon[i]);
        }
        if (covered) {
            continue; /* beneath another hidden directory already */
        }
        MK_ENSURE_ERRNO(stat(canon[i], &st) == 0, err, MK_ERR_IO, "sandbox: stat %s", canon[i]);
        MK_GUARD(S_ISDIR(st.st_mode) ? hide_dir(canon[i], err) : hide_file(canon[i], err));
    }
    MK_GUARD(cover_dev(err));
    if (writable != NULL) {
        r = readonly_but(writable, err);
        if (r < 0) {
            goto out;
        }
        if (r == 0) {
            mk_log(MK_LOG_WARN, "sandbox.writes_unconfined",
                   "reason=\"%s\" msg=\"the network process can write wherever its user can\"",
                   err->msg);
        }
    }
    MK_GUARD(agent_sandbox_drop_privs(u, err));
    hidden.paths = canon;
    hidden.n = nc;
    hidden.active = 1;
    canon = NULL;
    rc = 1;
out:
    if (canon != NULL) {
        for (size_t i = 0; i < nc; i++) {
            free(canon[i]);
        }
        free(canon);
    }
    return rc;
}

int agent_sandbox_hidden_active(void)
{
    return hidden.active;
}

int agent_sandbox_path_hidden(const char *path)
{
    char *c = realpath(path, NULL);
    int found = 0;

    if (c == NULL) {
        /* Beneath a hidden directory a path resolves to nothing; else it is not covered. */
        c = canonical(path);
    }
    for (size_t i = 0; c != NULL && i < hidden.n && !found; i++) {
        struct stat st;
        struct statfs sf;
        if (!is_under(c, hidden.paths[i]) || stat(hidden.paths[i], &st) != 0) {
            continue;
        }
        /* Still covered?  A hidden file replaced by rename, or a directory removed and made
         * again, drops our mount with the old dentry: the new one is in plain sight. */
        if (S_ISDIR(st.st_mode)) {
            found = statfs(hidden.paths[i], &sf) == 0 && sf.f_type == TMPFS_MAGIC &&
                    (st.st_mode & 07777) == 0;
        } else {
            found = S_ISCHR(st.st_mode);
        }
    }
    free(c);
    return found;
}
