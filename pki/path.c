/* path.c: the StrictModes walk (see path.h). */
#include "pki/path.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Symbolic links followed in one walk before it gives up (the kernel's own limit is 40). */
#define MAX_LINKS 40

static int owner_ok(const struct pki_path_owners *o, uid_t uid)
{
    if (uid == 0) {
        return 1;
    }
    for (size_t i = 0; o != NULL && i < o->n; i++) {
        if (o->uids[i] == uid) {
            return 1;
        }
    }
    return 0;
}

/* Checks one existing component (lstat'ed into st). */
static int check_one(const char *comp, const struct stat *st, const struct pki_path_owners *o,
                     const char *what, const char *path, struct mk_err *err)
{
    const char *who = o != NULL && o->names != NULL ? o->names : "root";

    if (!owner_ok(o, st->st_uid)) {
        mk_err_set(err, MK_ERR_PERM, "%s %s: %s is owned by uid %lu (only %s may own it)", what,
                   path, comp, (unsigned long)st->st_uid, who);
        return -1;
    }
    /* A link's own mode means nothing: its target is checked on its own. */
    if (!S_ISLNK(st->st_mode) && (st->st_mode & (S_IWGRP | S_IWOTH)) != 0) {
        mk_err_set(err, MK_ERR_PERM, "%s %s: %s is writable by %s (mode %04o)%s", what, path, comp,
                   (st->st_mode & S_IWOTH) ? "everyone" : "its group",
                   (unsigned)(st->st_mode & 07777),
                   (st->st_mode & S_ISVTX) ? ": a shared directory is not safe" : "");
        return -1;
    }
    return 0;
}

/*
 * Walks the absolute path p component by component; a link's target is walked from its start
 * (or from the link's directory when relative).  *links counts the links followed.
 */
static int walk(const char *p, const struct pki_path_owners *o, unsigned flags, const char *what,
                const char *path, int *links, struct mk_err *err)
{
    char cur[PATH_MAX];
    size_t len = 0;
    const char *s = p;
    struct stat st;

    if (p[0] != '/') {
        mk_err_set(err, MK_ERR_INVALID, "%s %s: not an absolute path", what, path);
        return -1;
    }
    cur[0] = '/';
    cur[1] = '\0';
    if (lstat("/", &st) != 0) {
        mk_err_errno(err, MK_ERR_IO, "%s %s: lstat /", what, path);
        return -1;
    }
    if (check_one("/", &st, o, what, path, err) != 0) {
        return -1;
    }
    for (;;) {
        while (*s == '/') {
            s++;
        }
        if (*s == '\0') {
            break;
        }
        const char *e = strchr(s, '/');
        size_t n = e != NULL ? (size_t)(e - s) : strlen(s);
        int last;
        if (len + 1 + n + 1 > sizeof(cur)) {
            mk_err_set(err, MK_ERR_INVALID, "%s %s: path too long", what, path);
            return -1;
        }
        if (n == 2 && s[0] == '.' && s[1] == '.') {
            /* Lexically up: the parent was checked on the way down. */
            char *slash = strrchr(cur, '/');
            len = slash != NULL && slash != cur ? (size_t)(slash - cur) : 0;
            cur[len == 0 ? 1 : len] = '\0';
            s += n;
            continue;
        }
        if (n == 1 && s[0] == '.') {
            s += n;
            continue;
        }
        if (len > 0) {
            cur[len++] = '/';
        }
        memcpy(cur + (len == 0 ? 1 : len), s, n);
        len = (len == 0 ? 1 : len) + n;
        cur[len] = '\0';
        s += n;
        while (*s == '/') {
            s++;
        }
        last = *s == '\0';
        if (lstat(cur, &st) != 0) {
            if (errno == ENOENT && (flags & PKI_PATH_MISSING)) {
                return 0; /* the rest will be created by the agent, 0750/0755 */
            }
            mk_err_errno(err, errno == ENOENT ? MK_ERR_NOTFOUND : MK_ERR_IO, "%s %s: %s", what,
                         path, cur);
            return -1;
        }
        if (check_one(cur, &st, o, what, path, err) != 0) {
            return -1;
        }
        if (S_ISLNK(st.st_mode)) {
            char target[PATH_MAX];
            char next[PATH_MAX];
            ssize_t tl = readlink(cur, target, sizeof(target) - 1);
            if (tl < 0 || ++*links > MAX_LINKS) {
                mk_err_set(err, MK_ERR_IO, "%s %s: cannot follow the link %s", what, path, cur);
                return -1;
            }
            target[tl] = '\0';
            /* The target, then what remains of the path beneath it, walked from the start. */
            char *slash = strrchr(cur, '/');
            size_t dl = slash != NULL ? (size_t)(slash - cur) : 0;
            int w = target[0] == '/'
                        ? snprintf(next, sizeof(next), "%s%s%s", target, last ? "" : "/", s)
                        : snprintf(next, sizeof(next), "%.*s/%s%s%s", (int)dl, cur, target,
                                   last ? "" : "/", s);
            if (w < 0 || (size_t)w >= sizeof(next)) {
                mk_err_set(err, MK_ERR_INVALID, "%s %s: path too long", what, path);
                return -1;
            }
            return walk(next, o, flags, what, path, links, err);
        }
        if (!last && !S_ISDIR(st.st_mode)) {
            mk_err_set(err, MK_ERR_INVALID, "%s %s: %s is not a directory", what, path, cur);
            return -1;
        }
        if (last) {
            int isdir = S_ISDIR(st.st_mode);
            if ((flags & PKI_PATH_DIR) ? !isdir : !S_ISREG(st.st_mode)) {
                mk_err_set(err, MK_ERR_INVALID, "%s %s: not a %s", what, path,
                           (flags & PKI_PATH_DIR) ? "directory" : "regular file");
                return -1;
            }
        }
    }
    return 0;
}

int pki_path_check_trusted(const char *path, const struct pki_path_owners *owners, unsigned flags,
                           const char *what, struct mk_err *err)
{
    int links = 0;

    if (path == NULL) {
        mk_err_set(err, MK_ERR_INVALID, "%s: no path", what);
        return -1;
    }
    return walk(path, owners, flags, what, path, &links, err);
}
