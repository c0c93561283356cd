/* sandbox.c: seccomp for the key process, Landlock for the network process (see sandbox.h). */
#include "agent/sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/landlock.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

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
