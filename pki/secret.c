/*
 * secret.c: secrets in libsodium guarded memory, reading passphrase files, and randomness.
 *
 * sodium_malloc() places the bytes between guard pages, mlock()s them and fills them with a
 * canary; sodium_free() wipes and unlocks.  One extra byte holds a NUL so a secret can be passed
 * to APIs that want a C string (passwords for PKCS#12, PEM passphrases).
 */
#include "pki/secret.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

struct pki_secret {
    size_t len;
    unsigned char *data; /* sodium_malloc'ed, len + 1 bytes, data[len] == '\0' */
};

/* A passphrase or password longer than this is a misconfiguration (e.g. a key file pointed to
 * as a password file). */
#define SECRET_FILE_MAX 4096

int pki_sodium_init(struct mk_err *err)
{
    /* Returns 0 on first success, 1 when already initialised, -1 on failure. */
    if (sodium_init() < 0) {
        mk_err_set(err, MK_ERR_CRYPTO, "secret: sodium_init failed");
        return -1;
    }
    return 0;
}

struct pki_secret *pki_secret_new(size_t len, struct mk_err *err)
{
    struct pki_secret *s = NULL;

    if (len >= SIZE_MAX - 1) {
        mk_err_set(err, MK_ERR_NOMEM, "secret: size %zu too large", len);
        return NULL;
    }
    /* sodium_malloc works before sodium_init on Linux, but initialise to be safe; it is cheap
     * and idempotent. */
    if (sodium_init() < 0) {
        mk_err_set(err, MK_ERR_CRYPTO, "secret: sodium_init failed");
        return NULL;
    }
    s = malloc(sizeof(*s));
    if (s == NULL) {
        mk_err_set(err, MK_ERR_NOMEM, "secret: out of memory");
        return NULL;
    }
    s->len = len;
    s->data = sodium_malloc(len + 1);
    if (s->data == NULL) {
        mk_err_errno(err, MK_ERR_NOMEM, "secret: sodium_malloc(%zu)", len + 1);
        free(s);
        return NULL;
    }
    /* sodium_malloc fills with 0xdb; a new secret starts zeroed as documented. */
    memset(s->data, 0, len + 1);
    return s;
}

struct pki_secret *pki_secret_from(const void *data, size_t len, struct mk_err *err)
{
    struct pki_secret *s = pki_secret_new(len, err);

    if (s != NULL && len > 0) {
        memcpy(s->data, data, len);
    }
    return s;
}

/* Reads at most max bytes from fd into buf (retrying short reads and EINTR).  Returns the
 * count, or -1 with errno. */
static ssize_t secret_read_all(int fd, unsigned char *buf, size_t max)
{
    size_t got = 0;

    while (got < max) {
        ssize_t n = read(fd, buf + got, max - got);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        if (n == 0) {
            break;
        }
        got += (size_t)n;
    }
    return (ssize_t)got;
}

/* 1 when this process is in group gid (effective or supplementary). */
/* The agent's group when it runs as root (pki_secret_trust_group); -1 for none. */
static gid_t trusted_gid = (gid_t)-1;

void pki_secret_trust_group(gid_t gid)
{
    trusted_gid = gid;
}

static int in_group(gid_t gid)
{
    gid_t groups[256];
    int n;

    if (gid == getegid() || (trusted_gid != (gid_t)-1 && gid == trusted_gid)) {
        return 1;
    }
    n = getgroups((int)(sizeof(groups) / sizeof(groups[0])), groups);
    for (int i = 0; i < n; i++) {
        if (groups[i] == gid) {
            return 1;
        }
    }
    return 0;
}

/* The name of group gid (or its number) into buf. */
static const char *group_name(gid_t gid, char *buf, size_t cap)
{
    struct group gr;
    struct group *res = NULL;
    char tmp[4096];

    if (getgrgid_r(gid, &gr, tmp, sizeof(tmp), &res) == 0 && res != NULL) {
        snprintf(buf, cap, "%s", res->gr_name);
    } else {
        snprintf(buf, cap, "%lu", (unsigned long)gid);
    }
    return buf;
}

/*
 * Who may hold a secret file: this process's user alone (0600, 0400), or root as the owner with
 * this process's group able to read it (0640: the /etc/ssl/private convention, a password root
 * manages and the agent only reads; the quick start's umask 027 + chgrp).  Never others, never
 * writable through the group (the agent's group could rewrite it).  Returns 1 when acceptable,
 * else 0 with why set to the problem and the exact command that fixes it.
 */
static int secret_file_ok(const char *path, const struct stat *st, char *why, size_t cap)
{
    mode_t m = st->st_mode & 07777;
    char grp[64];
    char ours[64];

    if (st->st_uid == 0 && in_group(st->st_gid) && (m & 0027) == 0) {
        return 1; /* root:<our group> 0640 (or narrower) */
    }
    if (st->st_uid == geteuid() && (m & 0077) == 0) {
        return 1; /* ours alone */
    }
    if (st->st_uid != 0 && st->st_uid != geteuid()) {
        snprintf(why, cap,
                 "owned by uid %lu, neither root nor this process's user; run: chown root:%s %s "
                 "&& chmod 640 %s",
                 (unsigned long)st->st_uid, group_name(getegid(), grp, sizeof(grp)), path, path);
        return 0;
    }
    if (st->st_uid == 0 && st->st_uid != geteuid() && !in_group(st->st_gid)) {
        snprintf(why, cap,
                 "mode %04o, group %s, which this process is not in; run: chgrp %s %s && "
                 "chmod 640 %s",
                 (unsigned)m, group_name(st->st_gid, grp, sizeof(grp)),
                 group_name(getegid(), ours, sizeof(ours)), path, path);
        return 0;
    }
    /* Ours (or root's, as root) with bits for the group or others: narrow the mode.  Our own
     * file keeps the owner's read alone (600); root's in our group may keep the group's (640). */
    const char *what = (m & 0007) != 0   ? "lets others read or write it"
                       : (m & 0020) != 0 ? "lets its group write it"
                                         : "lets its group read it";
    snprintf(why, cap, "mode %04o %s; run: chmod %s %s", (unsigned)m, what,
             st->st_uid != geteuid() && in_group(st->st_gid) ? "640" : "600", path);
    return 0;
}

struct pki_secret *pki_secret_read_file(const char *path, struct mk_err *err)
{
    char why[1024 + 2 * 4096];
    struct pki_secret *buf = NULL;
    struct pki_secret *ret = NULL;
    struct stat st;
    ssize_t n;
    size_t len;
    int fd = -1;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    MK_ENSURE_ERRNO(fd >= 0, err, errno == ENOENT ? MK_ERR_NOTFOUND : MK_ERR_IO, "%s: open", path);
    MK_ENSURE_ERRNO(fstat(fd, &st) == 0, err, MK_ERR_IO, "%s: fstat", path);
    MK_ENSURE(S_ISREG(st.st_mode), err, MK_ERR_INVALID, "%s: not a regular file", path);
    MK_ENSURE(secret_file_ok(path, &st, why, sizeof(why)), err, MK_ERR_PERM, "%s: %s", path, why);
    /* read(2) straight into guarded memory: no stdio buffer keeps a copy. */
    buf = pki_secret_new(SECRET_FILE_MAX + 1, err);
    MK_GUARD_PTR(buf);
    n = secret_read_all(fd, buf->data, SECRET_FILE_MAX + 1);
    MK_ENSURE_ERRNO(n >= 0, err, MK_ERR_IO, "%s: read", path);
    MK_ENSURE((size_t)n <= SECRET_FILE_MAX, err, MK_ERR_INVALID,
              "%s: larger than %d bytes, not a passphrase file", path, SECRET_FILE_MAX);
    len = 0;
    while (len < (size_t)n && buf->data[len] != '\n') {
        len++;
    }
    if (len > 0 && buf->data[len - 1] == '\r') {
        len--;
    }
    MK_ENSURE(len > 0, err, MK_ERR_INVALID, "%s: empty secret (first line is empty)", path);
    ret = pki_secret_from(buf->data, len, err);
out:
    if (fd >= 0) {
        close(fd);
    }
    pki_secret_free(buf);
    return ret;
}

const unsigned char *pki_secret_data(const struct pki_secret *s)
{
    return s != NULL ? s->data : NULL;
}

const char *pki_secret_str(const struct pki_secret *s)
{
    return s != NULL ? (const char *)s->data : NULL;
}

unsigned char *pki_secret_mut(struct pki_secret *s)
{
    return s != NULL ? s->data : NULL;
}

size_t pki_secret_len(const struct pki_secret *s)
{
    return s != NULL ? s->len : 0;
}

void pki_secret_free(struct pki_secret *s)
{
    if (s == NULL) {
        return;
    }
    sodium_free(s->data); /* wipes, unlocks and unmaps */
    free(s);
}

uint32_t pki_random_uniform(uint32_t upper)
{
    if (upper == 0) {
        return 0;
    }
    return randombytes_uniform(upper);
}

double pki_random_unit(void)
{
    uint64_t r;

    /* 53 random bits make every double in [0, 1) with a step of 2^-53 equally likely. */
    randombytes_buf(&r, sizeof(r));
    return (double)(r >> 11) * (1.0 / 9007199254740992.0);
}

void pki_random_bytes(void *buf, size_t len)
{
    randombytes_buf(buf, len);
}
