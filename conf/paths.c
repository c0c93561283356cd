/* paths.c: the filesystem checks of a configuration (see paths.h). */
#include "conf/paths.h"

#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pki/secret.h"

/* getpwnam_r/getpwuid_r with a buffer that grows on ERANGE.  Returns 1 found, 0 not, -1 error
 * (errno-like code in *e). */
static int lookup(const char *name, uid_t uid, struct passwd *pw, char **buf, int *e)
{
    size_t len = 4096;
    struct passwd *res = NULL;

    for (;;) {
        char *b = realloc(*buf, len);
        if (b == NULL) {
            *e = ENOMEM;
            return -1;
        }
        *buf = b;
        *e = name != NULL ? getpwnam_r(name, pw, b, len, &res) : getpwuid_r(uid, pw, b, len, &res);
        if (*e == ERANGE && len < (1u << 20)) {
            len *= 2;
            continue;
        }
        if (res != NULL) {
            return 1;
        }
        return *e == 0 || *e == ENOENT || *e == ESRCH ? 0 : -1;
    }
}

int conf_agent_user_resolve(const struct conf *cfg, struct conf_agent_user *u, struct mk_err *err)
{
    struct passwd pw;
    char *buf = NULL;
    int e = 0;
    int r;
    int rc = -1;

    memset(u, 0, sizeof(*u));
    if (geteuid() == 0) {
        r = lookup(cfg->agent_user, 0, &pw, &buf, &e);
        MK_ENSURE(r >= 0, err, MK_ERR_IO, "%s: agent.user: cannot look up '%s': %s", cfg->path,
                  cfg->agent_user, strerror(e));
        MK_ENSURE(r == 1, err, MK_ERR_CONFIG,
                  "%s: agent.user '%s' does not exist: create it (useradd --system --user-group"
                  " --no-create-home --shell /usr/sbin/nologin %s) or name another user",
                  cfg->path, cfg->agent_user, cfg->agent_user);
        MK_ENSURE(pw.pw_uid != 0, err, MK_ERR_CONFIG,
                  "%s: agent.user '%s' is root: the network process needs a user of its own",
                  cfg->path, cfg->agent_user);
        u->drop = 1;
        u->uid = pw.pw_uid;
        u->gid = pw.pw_gid;
        /* Started as root, the agent's secrets may be kept root:<its group> 0640 as for the
         * unit's User= (docs/config.md). */
        pki_secret_trust_group(u->gid);
        snprintf(u->name, sizeof(u->name), "%s", cfg->agent_user);
    } else {
        u->uid = geteuid();
        u->gid = getegid();
        if (lookup(NULL, u->uid, &pw, &buf, &e) == 1) {
            snprintf(u->name, sizeof(u->name), "%s", pw.pw_name);
        } else {
            snprintf(u->name, sizeof(u->name), "uid %lu", (unsigned long)u->uid);
        }
    }
    snprintf(u->owners_text, sizeof(u->owners_text), "root or %s", u->name);
    u->owners.uids[0] = u->uid;
    u->owners.n = 1;
    u->owners.names = u->owners_text;
    rc = 0;
out:
    free(buf);
    return rc;
}

/* 1 when path is dir or beneath it (both without trailing slashes, as conf.c keeps them). */
static int beneath(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    return strcmp(dir, "/") == 0 ||
           (strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/'));
}

int conf_check_hook(const struct conf *cfg, const struct conf_certificate *cc,
                    const struct conf_agent_user *u, struct mk_err *err)
{
    const char *prog;
    int rc = -1;

    if (cc->hook.argv == NULL) {
        return 0;
    }
    prog = cc->hook.argv[0];
    MK_ENSURE(!beneath(prog, cfg->state_dir), err, MK_ERR_PERM,
              "%s: certificate '%s': hook program %s is beneath state_dir %s, which the network"
              " process writes",
              cfg->path, cc->name, prog, cfg->state_dir);
    if (pki_path_check_trusted(prog, &u->owners, 0, "hook program", err) != 0) {
        mk_err_prefix(err, "%s: certificate '%s'", cfg->path, cc->name);
        goto out;
    }
    rc = 0;
out:
    return rc;
}

/* 1 when u (its uid and primary group: the network process keeps no other) has the bit. */
static int user_may(const struct stat *st, const struct conf_agent_user *u, mode_t ubit,
                    mode_t gbit, mode_t obit)
{
    if (st->st_uid == u->uid) {
        return (st->st_mode & ubit) != 0;
    }
    if (st->st_gid == u->gid) {
        return (st->st_mode & gbit) != 0;
    }
    return (st->st_mode & obit) != 0;
}

/*
 * Started as root, the network process runs as u: it must search every directory above
 * state_dir (the supervisor hands it state_dir itself), read the configuration for a reload and
 * the metrics endpoint's TLS files.
 * A refusal here is one clear line at start rather than a failure deep in the network process.
 * Only the existing prefix of path is looked at.
 */
static int reachable(const char *path, int read_file, const struct conf_agent_user *u,
                     const char *what, const char *cfg_path, struct mk_err *err)
{
    char p[PATH_MAX];
    struct stat st;
    size_t len = strlen(path);

    if (!u->drop || len >= sizeof(p)) {
        return 0;
    }
    memcpy(p, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        int last = i == len;
        char c = p[i];
        if (!last && c != '/') {
            continue;
        }
        p[i] = '\0';
        if (stat(p, &st) != 0) {
            return 0; /* the rest is made by the agent */
        }
        if (last && read_file && !user_may(&st, u, S_IRUSR, S_IRGRP, S_IROTH)) {
            mk_err_set(err, MK_ERR_PERM,
                       "%s: agent.user %s cannot read %s %s (mode %04o, owner uid %lu gid %lu)",
                       cfg_path, u->name, what, p, (unsigned)(st.st_mode & 07777),
                       (unsigned long)st.st_uid, (unsigned long)st.st_gid);
            return -1;
        }
        if (!last && S_ISDIR(st.st_mode) && !user_may(&st, u, S_IXUSR, S_IXGRP, S_IXOTH)) {
            mk_err_set(err, MK_ERR_PERM,
                       "%s: agent.user %s cannot reach %s %s: %s is mode %04o (owner uid %lu)",
                       cfg_path, u->name, what, path, p, (unsigned)(st.st_mode & 07777),
                       (unsigned long)st.st_uid);
            return -1;
        }
        p[i] = c;
    }
    return 0;
}

/* conf_check_paths without the hooks: hooks_too says whether to check them as well. */
static int check_paths(const struct conf *cfg, const struct conf_agent_user *u, int hooks_too,
                       struct mk_err *err)
{
    char *conf_real = realpath(cfg->path, NULL);
    char *state_real = realpath(cfg->state_dir, NULL);
    int rc = -1;

    /* The supervisor reads the file again on SIGHUP (hooks come from it): it must not lie where
     * the network process writes. */
    MK_ENSURE(conf_real == NULL || state_real == NULL || !beneath(conf_real, state_real), err,
              MK_ERR_PERM, "%s: the configuration is beneath state_dir %s, which the network"
              " process writes", cfg->path, cfg->state_dir);

    if (pki_path_check_trusted(cfg->state_dir, &u->owners, PKI_PATH_DIR | PKI_PATH_MISSING,
                               "state_dir", err) != 0) {
        mk_err_prefix(err, "%s", cfg->path);
        goto out;
    }
    MK_GUARD(reachable(cfg->state_dir, 0, u, "state_dir", cfg->path, err));
    if (conf_real != NULL) {
        MK_GUARD(reachable(conf_real, 1, u, "the configuration", cfg->path, err));
    }
    /* The network process serves /metrics: it reads these at start and at each reload. */
    if (cfg->metrics.tls_cert_file != NULL) {
        MK_GUARD(reachable(cfg->metrics.tls_cert_file, 1, u, "metrics.tls_cert_file", cfg->path,
                           err));
        MK_GUARD(reachable(cfg->metrics.tls_key_file, 1, u, "metrics.tls_key_file", cfg->path,
                           err));
    }
    if (cfg->metrics.client_ca_file != NULL) {
        MK_GUARD(reachable(cfg->metrics.client_ca_file, 1, u, "metrics.client_ca_file",
                           cfg->path, err));
    }
    for (size_t i = 0; i < cfg->n_certs; i++) {
        const struct conf_certificate *cc = &cfg->certs[i];
        if (pki_path_check_trusted(cc->output.directory, &u->owners,
                                   PKI_PATH_DIR | PKI_PATH_MISSING, "output.directory",
                                   err) != 0) {
            mk_err_prefix(err, "%s: certificate '%s'", cfg->path, cc->name);
            goto out;
        }
        if (hooks_too) {
            MK_GUARD(conf_check_hook(cfg, cc, u, err));
        }
    }
    rc = 0;
out:
    free(conf_real);
    free(state_real);
    return rc;
}

int conf_check_paths(const struct conf *cfg, const struct conf_agent_user *u, struct mk_err *err)
{
    return check_paths(cfg, u, 1, err);
}

int conf_check_dirs(const struct conf *cfg, const struct conf_agent_user *u, struct mk_err *err)
{
    return check_paths(cfg, u, 0, err);
}
