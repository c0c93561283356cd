/* control.c: the daemon's control socket, server side (see control.h). */
#include "agent/control.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/pem.h>

#include "agent/state.h"
#include "aws/creds.h"
#include "pki/log.h"
#include "pki/secret.h"

/* A request is one line: a revocation carries one certificate PEM, far below this. */
#define CONTROL_MAX_REQUEST (256 * 1024)
/* How long a caller may take to send its request or read the answer: the loop waits for it. */
#define CONTROL_IO_SECONDS 5
/* Callers waiting for a reload at once; more are told to try again. */
#define CONTROL_MAX_WAITING 8

struct agent_control {
    int fd;
    struct agent_control_view v;
    int waiting[CONTROL_MAX_WAITING]; /* connections waiting for the reload's outcome, -1 */
};

/* ---- supervisor side ---------------------------------------------------------------------- */

int agent_control_listen(const char *path, uid_t uid, gid_t gid, struct mk_err *err)
{
    struct sockaddr_un sa;
    char dir[sizeof(sa.sun_path)];
    char *slash;
    mode_t old_umask;
    int probe = -1;
    int fd = -1;
    int rc = -1;
    int bound;

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    MK_ENSURE(strlen(path) < sizeof(sa.sun_path), err, MK_ERR_CONFIG,
              "control.socket %s: path too long", path);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    memcpy(dir, path, strlen(path) + 1);
    slash = strrchr(dir, '/');
    if (slash != NULL && slash != dir) {
        *slash = '\0';
        /* systemd makes it (RuntimeDirectory=mskpki); an agent started by hand makes it here. */
        MK_ENSURE_ERRNO(mkdir(dir, 0755) == 0 || errno == EEXIST, err, MK_ERR_IO,
                        "control.socket %s: mkdir %s", path, dir);
    }
    /* Only a dead agent's socket may be replaced: one that answers belongs to a running agent
     * (of another state_dir; the lock keeps out a second one of this). */
    probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    MK_ENSURE_ERRNO(probe >= 0, err, MK_ERR_IO, "control: socket");
    MK_ENSURE(connect(probe, (struct sockaddr *)&sa, sizeof(sa)) != 0, err, MK_ERR_STATE,
              "control.socket %s: another agent listens there (give each agent its own "
              "control.socket)",
              path);
    MK_ENSURE_ERRNO(unlink(path) == 0 || errno == ENOENT, err, MK_ERR_IO,
                    "control.socket %s: unlink the old socket", path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    MK_ENSURE_ERRNO(fd >= 0, err, MK_ERR_IO, "control: socket");
    /* Born 0660: nobody outside the group may connect in the instant before the chmod. */
    old_umask = umask(0117);
    bound = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old_umask);
    MK_ENSURE_ERRNO(bound == 0, err, MK_ERR_IO, "control.socket %s: bind", path);
    MK_ENSURE_ERRNO(chown(path, uid, gid) == 0 && chmod(path, 0660) == 0, err, MK_ERR_IO,
                    "control.socket %s: chown/chmod", path);
    MK_ENSURE_ERRNO(listen(fd, 16) == 0, err, MK_ERR_IO, "control.socket %s: listen", path);
    rc = fd;
    fd = -1;
out:
    if (probe >= 0) {
        close(probe);
    }
    if (fd >= 0) {
        close(fd);
    }
    return rc;
}

/* ---- network process side ----------------------------------------------------------------- */

struct agent_control *agent_control_new(int listen_fd, const struct agent_control_view *view)
{
    struct agent_control *ctl = calloc(1, sizeof(*ctl));

    if (ctl == NULL) {
        return NULL;
    }
    ctl->fd = listen_fd;
    ctl->v = *view;
    for (size_t i = 0; i < CONTROL_MAX_WAITING; i++) {
        ctl->waiting[i] = -1;
    }
    return ctl;
}

void agent_control_free(struct agent_control *ctl)
{
    if (ctl == NULL) {
        return;
    }
    for (size_t i = 0; i < CONTROL_MAX_WAITING; i++) {
        if (ctl->waiting[i] >= 0) {
            close(ctl->waiting[i]);
        }
    }
    close(ctl->fd);
    free(ctl);
}

int agent_control_fd(const struct agent_control *ctl)
{
    return ctl->fd;
}

/* 1 when pid's supplementary groups (/proc/PID/status "Groups:") hold gid. */
static int pid_in_group(pid_t pid, gid_t gid)
{
    char path[64];
    char line[4096];
    int found = 0;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
    f = fopen(path, "re");
    if (f == NULL) {
        return 0;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "Groups:", 7) != 0) {
            continue;
        }
        for (char *p = line + 7, *end; *p != '\0' && *p != '\n'; p = end) {
            long g = strtol(p, &end, 10);
            if (end == p) {
                break;
            }
            found |= (gid_t)g == gid;
        }
        break;
    }
    fclose(f);
    return found;
}

/* The file mode already keeps others out; this says who may ask even if it was widened.
 * XXX the PID of SO_PEERCRED can be reused between connect and the /proc read: a caller that
 * died at once could be mistaken for a member; only the supplementary-group case reads it. */
static int peer_allowed(int fd, struct ucred *uc)
{
    socklen_t len = sizeof(*uc);

    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, uc, &len) != 0) {
        return 0;
    }
    return uc->uid == 0 || uc->uid == geteuid() || uc->gid == getegid() ||
           pid_in_group(uc->pid, getegid());
}

static void send_json(int fd, json_t *o)
{
    char *text = json_dumps(o, JSON_COMPACT);
    size_t len;
    const char *p;

    if (text == NULL) {
        return;
    }
    len = strlen(text);
    p = text;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        p += n;
        len -= (size_t)n;
    }
    (void)!send(fd, "\n", 1, MSG_NOSIGNAL);
    free(text);
}

static json_t *refusal(const char *code, const char *fmt, ...) MK_PRINTF(2, 3);
static json_t *refusal(const char *code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return json_pack("{s:b, s:s, s:s}", "ok", 0, "code", code, "error", msg);
}

static struct agent_cert *find_cert(struct agent_control *ctl, const char *name)
{
    for (size_t i = 0; i < *ctl->v.n_certs; i++) {
        if (strcmp((*ctl->v.certs)[i].name, name) == 0) {
            return &(*ctl->v.certs)[i];
        }
    }
    return NULL;
}

/* The state-file view of c (agent/state.h), as `mskpkictl status` reads it, plus "state". */
static json_t *cert_json(struct agent_control *ctl, struct agent_cert *c, time_t now)
{
    struct agent_status st;
    struct mk_err err;
    json_error_t jerr;
    json_t *o = NULL;
    char *text;

    agent_cert_status(ctl->v.ctx, c, now, &st);
    text = agent_state_to_json(&st, &err);
    if (text != NULL) {
        o = json_loads(text, 0, &jerr);
        free(text);
    }
    if (o != NULL) {
        json_object_set_new(o, "state", json_string(agent_state_name(c->state)));
    }
    return o;
}

/* Rotates c now, as SIGUSR1 would, and says how it went. */
static int renew_one(struct agent_control *ctl, struct agent_cert *c, json_t *results)
{
    time_t now = time(NULL);
    json_t *r;
    int ok;

    agent_cert_force(c);
    c->attempted = 0;
    agent_iterate(ctl->v.ctx, c, now);
    now = time(NULL);
    ok = c->attempted && c->last_result == AGENT_RESULT_SUCCESS && agent_cert_ready(c, now);
    r = cert_json(ctl, c, now);
    if (r == NULL) {
        r = json_pack("{s:s}", "name", c->name);
    }
    json_object_set_new(r, "renewed", json_boolean(ok));
    json_array_append_new(results, r);
    return ok;
}

static json_t *do_renew(struct agent_control *ctl, json_t *req)
{
    json_t *names = json_object_get(req, "names");
    json_t *results = json_array();
    size_t failed = 0;
    size_t idx;
    json_t *v;

    if (results == NULL) {
        return NULL;
    }
    if (json_is_true(json_object_get(req, "all"))) {
        for (size_t i = 0; i < *ctl->v.n_certs; i++) {
            failed += !renew_one(ctl, &(*ctl->v.certs)[i], results);
        }
    } else {
        if (!json_is_array(names) || json_array_size(names) == 0) {
            json_decref(results);
            return refusal("usage", "renew: give names or all");
        }
        /* Every name first: a typo renews nothing. */
        json_array_foreach(names, idx, v) {
            if (!json_is_string(v) || find_cert(ctl, json_string_value(v)) == NULL) {
                json_decref(results);
                return refusal("not_found", "no certificate named '%s' in %s",
                               json_is_string(v) ? json_string_value(v) : "?",
                               ctl->v.ctx->cfg->path);
            }
        }
        json_array_foreach(names, idx, v) {
            failed += !renew_one(ctl, find_cert(ctl, json_string_value(v)), results);
        }
    }
    return json_pack("{s:b, s:o, s:I}", "ok", 1, "results", results, "failed", (json_int_t)failed);
}

static json_t *do_status(struct agent_control *ctl)
{
    json_t *arr = json_array();
    time_t now = time(NULL);

    for (size_t i = 0; arr != NULL && i < *ctl->v.n_certs; i++) {
        json_t *o = cert_json(ctl, &(*ctl->v.certs)[i], now);
        if (o != NULL) {
            json_array_append_new(arr, o);
        }
    }
    return json_pack("{s:b, s:I, s:s, s:o}", "ok", 1, "pid", (json_int_t)getppid(), "config",
                     ctl->v.ctx->cfg->path, "certificates", arr);
}

/*
 * Revokes the PEM certificate of the request through the agent's CA.  The certificate in use
 * by a block is refused unless mode is "replace" (that block is re-issued first, and nothing is
 * revoked when that fails) or "force".
 */
static json_t *do_revoke(struct agent_control *ctl, json_t *req)
{
    const char *pem = json_string_value(json_object_get(req, "cert"));
    const char *reason = json_string_value(json_object_get(req, "reason"));
    const char *mode = json_string_value(json_object_get(req, "mode"));
    struct pki_cert_info info;
    struct agent_cert *in_use = NULL;
    struct pki_ca *ca;
    struct mk_err err;
    json_t *replaced = NULL;
    json_t *ans = NULL;
    X509 *x = NULL;
    BIO *bio;

    if (pem == NULL || reason == NULL) {
        return refusal("usage", "revoke: cert and reason are required");
    }
    bio = BIO_new_mem_buf(pem, -1);
    x = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (x == NULL || pki_cert_info(x, &info, &err) != 0) {
        X509_free(x);
        return refusal("usage", "revoke: not a PEM certificate");
    }
    for (size_t i = 0; i < *ctl->v.n_certs; i++) {
        struct agent_cert *c = &(*ctl->v.certs)[i];
        if (c->have_cert && c->info.serial_hex != NULL &&
            strcasecmp(c->info.serial_hex, info.serial_hex) == 0) {
            in_use = c;
        }
    }
    if (in_use != NULL && mode == NULL) {
        ans = refusal("in_use",
                      "serial %s is the certificate '%s' uses now: give --replace to issue its "
                      "successor first, or --force to revoke it anyway",
                      info.serial_hex, in_use->name);
        goto out;
    }
    if (in_use != NULL && strcmp(mode, "replace") == 0) {
        json_t *results = json_array();
        int ok = results != NULL && renew_one(ctl, in_use, results);
        replaced = json_incref(json_array_get(results, 0));
        json_decref(results);
        if (!ok) {
            ans = refusal("failed", "re-issue of '%s' failed (%s): nothing revoked", in_use->name,
                          in_use->last_error != NULL ? in_use->last_error : "not ready");
            goto out;
        }
    }
    mk_err_clear(&err);
    ca = agent_ctx_ca(ctl->v.ctx, &err);
    if (ca == NULL || pki_ca_revoke(ca, x, reason, &err) != 0) {
        ans = refusal("failed", "revoke of serial %s failed: %s", info.serial_hex, err.msg);
        goto out;
    }
    mk_log(MK_LOG_INFO, "control.revoked", "serial=%s reason=%s replaced=%s", info.serial_hex,
           reason, in_use != NULL ? in_use->name : "-");
    ans = json_pack("{s:b, s:s, s:s, s:O?}", "ok", 1, "serial", info.serial_hex, "ca",
                    pki_ca_kind(ca), "replaced", replaced);
out:
    json_decref(replaced);
    X509_free(x);
    return ans;
}

/* Reads one request line; NULL on a timeout, EOF or overflow. */
static char *read_request(int fd)
{
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);

    while (buf != NULL) {
        ssize_t n;
        if (len + 1 >= cap) {
            char *nb = cap < CONTROL_MAX_REQUEST ? realloc(buf, cap * 2) : NULL;
            if (nb == NULL) {
                break;
            }
            buf = nb;
            cap *= 2;
        }
        n = read(fd, buf + len, cap - len - 1);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        if (memchr(buf + len, '\n', (size_t)n) != NULL) {
            len += (size_t)n;
            buf[len] = '\0';
            return buf;
        }
        len += (size_t)n;
    }
    free(buf);
    return NULL;
}

/* Keeps fd until the reload ends; 0 when kept. */
/*
 * credentials (mskpkictl credentials, issue 19): the Roles Anywhere session the agent signs its
 * own calls with, as credential_process JSON (Version 1), for a caller that may not read the key.
 * Only for the certificate that ca.aws_pca.roles_anywhere names, and only a Roles Anywhere
 * session: the bootstrap credentials are the host's, not the certificate's.
 */
static json_t *do_credentials(struct agent_control *ctl, json_t *req)
{
    const struct conf *cfg = ctl->v.ctx->cfg;
    const char *name = json_string_value(json_object_get(req, "name"));
    const char *ra = cfg->ca.aws_pca.roles_anywhere.certificate;
    struct aws_creds *c = NULL;
    struct pki_ca *ca;
    struct mk_err err;
    json_t *ans;
    char exp[32];
    struct tm tm;

    if (name == NULL || ra == NULL || strcmp(name, ra) != 0) {
        return refusal("unknown", "credentials: '%s' is not the certificate "
                                  "ca.aws_pca.roles_anywhere names", name != NULL ? name : "");
    }
    mk_err_clear(&err);
    ca = agent_ctx_ca(ctl->v.ctx, &err);
    if (ca == NULL || (c = pki_ca_roles_anywhere_session(ca, &err)) == NULL) {
        return refusal("failed", "%s", err.msg);
    }
    if (gmtime_r(&c->expiration, &tm) == NULL ||
        strftime(exp, sizeof(exp), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
        aws_creds_free(c);
        return refusal("failed", "credentials: bad expiration");
    }
    mk_log(MK_LOG_INFO, "control.credentials", "name=%s access_key_id=%s expires=%lld", name,
           c->access_key_id, (long long)c->expiration);
    ans = json_pack("{s:b, s:{s:i, s:s, s:s, s:s, s:s}}", "ok", 1, "credentials", "Version", 1,
                    "AccessKeyId", c->access_key_id, "SecretAccessKey",
                    pki_secret_str(c->secret_access_key), "SessionToken",
                    pki_secret_str(c->session_token), "Expiration", exp);
    aws_creds_free(c);
    return ans;
}

static int wait_reload(struct agent_control *ctl, int fd)
{
    for (size_t i = 0; i < CONTROL_MAX_WAITING; i++) {
        if (ctl->waiting[i] < 0) {
            if (ctl->v.request_reload(ctl->v.arg) != 0) {
                return -1;
            }
            ctl->waiting[i] = fd;
            return 0;
        }
    }
    return -1;
}

void agent_control_serve(struct agent_control *ctl)
{
    struct timeval tv = {CONTROL_IO_SECONDS, 0};
    struct ucred uc = {0};
    json_error_t jerr;
    json_t *req = NULL;
    json_t *ans = NULL;
    char *line = NULL;
    const char *cmd;
    const char *sd;
    int fd = accept4(ctl->fd, NULL, NULL, SOCK_CLOEXEC);

    if (fd < 0) {
        return; /* EAGAIN: another wake-up took it; anything else: the caller sees EOF */
    }
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (!peer_allowed(fd, &uc)) {
        mk_log(MK_LOG_WARN, "control.refused", "uid=%lu gid=%lu pid=%ld",
               (unsigned long)uc.uid, (unsigned long)uc.gid, (long)uc.pid);
        ans = refusal("denied", "uid %lu may not use the agent's control socket (root, the agent's "
                                "user or a member of its group may)",
                      (unsigned long)uc.uid);
        goto reply;
    }
    line = read_request(fd);
    req = line != NULL ? json_loads(line, 0, &jerr) : NULL;
    cmd = json_string_value(json_object_get(req, "cmd"));
    sd = json_string_value(json_object_get(req, "state_dir"));
    if (cmd == NULL) {
        ans = refusal("usage", "not a request: one JSON object with \"cmd\" on one line");
        goto reply;
    }
    mk_log(MK_LOG_INFO, "control.request", "cmd=%s uid=%lu pid=%ld", cmd, (unsigned long)uc.uid,
           (long)uc.pid);
    if (sd != NULL && strcmp(sd, ctl->v.ctx->cfg->state_dir) != 0) {
        ans = refusal("other_agent", "this agent manages state_dir %s, not %s",
                      ctl->v.ctx->cfg->state_dir, sd);
    } else if (strcmp(cmd, "renew") == 0) {
        ans = do_renew(ctl, req);
    } else if (strcmp(cmd, "status") == 0) {
        ans = do_status(ctl);
    } else if (strcmp(cmd, "revoke") == 0) {
        ans = do_revoke(ctl, req);
    } else if (strcmp(cmd, "credentials") == 0) {
        ans = do_credentials(ctl, req);
    } else if (strcmp(cmd, "reload") == 0) {
        if (wait_reload(ctl, fd) == 0) {
            fd = -1; /* answered by agent_control_reloaded() */
        } else {
            ans = refusal("busy", "a reload cannot be asked for now; try again");
        }
    } else {
        ans = refusal("usage", "unknown command '%s' (renew, reload, status, revoke, credentials)", cmd);
    }
reply:
    if (fd >= 0) {
        if (ans == NULL) {
            ans = refusal("failed", "out of memory");
        }
        if (ans != NULL) {
            send_json(fd, ans);
        }
        close(fd);
    }
    json_decref(ans);
    json_decref(req);
    free(line);
}

void agent_control_reloaded(struct agent_control *ctl, int ok, const char *msg)
{
    json_t *ans = ok ? json_pack("{s:b, s:s}", "ok", 1, "config", ctl->v.ctx->cfg->path)
                     : refusal("failed", "reload failed, running on the old configuration: %s",
                               msg != NULL ? msg : "see the agent's log");

    for (size_t i = 0; i < CONTROL_MAX_WAITING; i++) {
        if (ctl->waiting[i] >= 0) {
            if (ans != NULL) {
                send_json(ctl->waiting[i], ans);
            }
            close(ctl->waiting[i]);
            ctl->waiting[i] = -1;
        }
    }
    json_decref(ans);
}
