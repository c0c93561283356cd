/*
 * creds.c: credentials and the default provider chain; see creds.h.
 *
 * Each source function returns 1 with *out set (found), 0 when the source is not configured
 * (the chain goes on), or -1 with err (configured but failed: the chain stops, as in the SDKs).
 */
#include "aws/creds.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "aws/buf.h"
#include "aws/client-int.h"
#include "aws/profile.h"
#include "aws/url.h"
#include "aws/xml.h"
#include "pki/keepalive.h"
#include "pki/log.h"

extern char **environ;

#define IMDS_DEFAULT "http://169.254.169.254"
#define ECS_DEFAULT "http://169.254.170.2"
#define META_CONNECT_MS 1000
#define META_TIMEOUT_MS 2000
#define PROCESS_TIMEOUT_MS 60000
#define PROCESS_MAX_OUT (64 * 1024)
#define MAX_PROFILE_DEPTH 5
#define STS_VERSION "2011-06-15"

/* The ECS agent; test builds point it at a local fake. */
MK_TESTABLE const char *aws_creds_ecs_base = ECS_DEFAULT;

struct aws_creds_provider {
    struct aws_client *client;
    char *profile; /* explicit name, or NULL */
    char *role_arn;    /* aws_creds_provider_set_role(), or NULL */
    char *role_session;
    char *role_external_id;
    aws_creds_source_fn source_fn; /* asked before the chain, or NULL */
    void *source_arg;
    int fallback;           /* cached came from the chain although source_fn is set */
    time_t source_retry_at; /* when to ask source_fn again while on the fallback */
    pthread_mutex_t lock;
    struct aws_creds *cached; /* under lock */
};

/* ---- credentials ---- */

void aws_creds_free(struct aws_creds *c)
{
    if (c == NULL) {
        return;
    }
    pki_secret_free(c->secret_access_key);
    pki_secret_free(c->session_token);
    free(c);
}

struct aws_creds *aws_creds_make(const char *akid, const char *secret, const char *token,
                                 time_t expiration, const char *source, struct mk_err *err)
{
    struct aws_creds *c = NULL;
    MK_ENSURE(akid != NULL && akid[0] != '\0' && secret != NULL && secret[0] != '\0', err,
              MK_ERR_CREDS, "%s credentials: empty access key id or secret access key", source);
    MK_ENSURE(strlen(akid) < sizeof(c->access_key_id), err, MK_ERR_CREDS,
              "%s credentials: access key id too long", source);
    for (const char *p = akid; *p != '\0'; p++) {
        MK_ENSURE(isalnum((unsigned char)*p), err, MK_ERR_CREDS,
                  "%s credentials: access key id has a bad character", source);
    }
    c = calloc(1, sizeof(*c));
    MK_ENSURE(c != NULL, err, MK_ERR_NOMEM, "out of memory");
    snprintf(c->access_key_id, sizeof(c->access_key_id), "%s", akid);
    snprintf(c->source, sizeof(c->source), "%s", source);
    c->expiration = expiration;
    c->secret_access_key = pki_secret_from(secret, strlen(secret), err);
    MK_GUARD_PTR(c->secret_access_key);
    if (token != NULL && token[0] != '\0') {
        c->session_token = pki_secret_from(token, strlen(token), err);
        MK_GUARD_PTR(c->session_token);
    }
    return c;
out:
    aws_creds_free(c);
    return NULL;
}

struct aws_creds *aws_creds_dup(const struct aws_creds *c, struct mk_err *err)
{
    return aws_creds_make(c->access_key_id, pki_secret_str(c->secret_access_key),
                          c->session_token != NULL ? pki_secret_str(c->session_token) : NULL,
                          c->expiration, c->source, err);
}

/* Reads n digits at *s into *out. */
static int digits(const char **s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*s)[i])) {
            return -1;
        }
        v = v * 10 + ((*s)[i] - '0');
    }
    *s += n;
    *out = v;
    return 0;
}

static int expect(const char **s, char c)
{
    if (**s != c) {
        return -1;
    }
    (*s)++;
    return 0;
}

/* Skips one of the characters in set at *s; -1 when none is there. */
static int expect_any(const char **s, const char *set)
{
    if (**s == '\0' || strchr(set, **s) == NULL) {
        return -1;
    }
    (*s)++;
    return 0;
}

/* "+hh:mm", "-hhmm", "Z" or nothing (UTC) into seconds east of UTC. */
static int parse_offset(const char **s, long *offset)
{
    int oh;
    int om;
    *offset = 0;
    if (expect_any(s, "Zz") == 0 || **s == '\0') {
        return 0;
    }
    long sign = **s == '-' ? -1 : 1;
    if (expect_any(s, "+-") != 0 || digits(s, 2, &oh) != 0) {
        return -1;
    }
    if (**s == ':') {
        (*s)++;
    }
    if (digits(s, 2, &om) != 0) {
        return -1;
    }
    *offset = sign * (oh * 3600L + om * 60L);
    return 0;
}

int aws_parse_iso8601(const char *s, time_t *out)
{
    struct tm tm = {0};
    int y, mo, d, h, mi, sec;
    long offset = 0;
    if (s == NULL || digits(&s, 4, &y) || expect(&s, '-') || digits(&s, 2, &mo) ||
        expect(&s, '-') || digits(&s, 2, &d) || expect_any(&s, "Tt ") || digits(&s, 2, &h) ||
        expect(&s, ':') || digits(&s, 2, &mi) || expect(&s, ':') || digits(&s, 2, &sec)) {
        return -1;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) {
        return -1;
    }
    if (*s == '.') {
        s++;
        while (isdigit((unsigned char)*s)) {
            s++;
        }
    }
    if (parse_offset(&s, &offset) != 0 || *s != '\0') {
        return -1;
    }
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    if (t == (time_t)-1) {
        return -1;
    }
    *out = t - offset;
    return 0;
}

static const char *env_nonempty(const char *name)
{
    const char *v = getenv(name);
    return (v != NULL && v[0] != '\0') ? v : NULL;
}

/* Wipes a jansson string in place (answers with credentials), before json_decref. */
static void json_wipe(json_t *j)
{
    const char *key;
    json_t *v;
    if (json_is_object(j)) {
        json_object_foreach(j, key, v)
        {
            json_wipe(v);
        }
    } else if (json_is_string(j)) {
        sodium_memzero((char *)json_string_value(j), json_string_length(j));
    }
}

/* Wipes and releases a credentials answer; NULL is a no-op. */
static void json_wipe_free(json_t *j)
{
    if (j != NULL) {
        json_wipe(j);
        json_decref(j);
    }
}

/* Credentials from a JSON object with the given member names (container, IMDS, process). */
static struct aws_creds *creds_from_json(json_t *j, const char *token_key, const char *source,
                                         struct mk_err *err)
{
    const char *akid = json_string_value(json_object_get(j, "AccessKeyId"));
    const char *secret = json_string_value(json_object_get(j, "SecretAccessKey"));
    const char *token = json_string_value(json_object_get(j, token_key));
    const char *exp = json_string_value(json_object_get(j, "Expiration"));
    time_t expiration = 0;
    if (akid == NULL || secret == NULL) {
        mk_err_set(err, MK_ERR_CREDS,
                   "%s credentials: answer lacks AccessKeyId or "
                   "SecretAccessKey",
                   source);
        return NULL;
    }
    if (exp != NULL && aws_parse_iso8601(exp, &expiration) != 0) {
        mk_err_set(err, MK_ERR_CREDS, "%s credentials: Expiration '%.40s' is not ISO 8601", source,
                   exp);
        return NULL;
    }
    return aws_creds_make(akid, secret, token, expiration, source, err);
}

static json_t *parse_json_creds(const char *text, size_t len, const char *source,
                                struct mk_err *err)
{
    json_t *j = json_loadb(text, len, 0, NULL);
    if (!json_is_object(j)) {
        /* The parser's message could quote the secret: say only where it came from. */
        mk_err_set(err, MK_ERR_CREDS, "%s credentials: answer is not a JSON object", source);
        json_wipe_free(j);
        return NULL;
    }
    return j;
}

/* ---- STS ---- */

/* Credentials from an AssumeRole / AssumeRoleWithWebIdentity answer. */
static struct aws_creds *creds_from_sts(const char *xml, size_t len, const char *source,
                                        struct mk_err *err)
{
    struct aws_creds *c = NULL;
    char *akid = NULL;
    char *secret = NULL;
    char *token = NULL;
    char *exp = NULL;
    time_t expiration = 0;
    struct aws_xml *x = aws_xml_parse(xml, len, err);
    MK_GUARD_PTR(x);
    akid = aws_xml_get(x, "Credentials/AccessKeyId", err);
    MK_GUARD_PTR(akid);
    secret = aws_xml_get(x, "Credentials/SecretAccessKey", err);
    MK_GUARD_PTR(secret);
    token = aws_xml_get(x, "Credentials/SessionToken", err);
    MK_GUARD_PTR(token);
    exp = aws_xml_get(x, "Credentials/Expiration", err);
    MK_GUARD_PTR(exp);
    MK_ENSURE(aws_parse_iso8601(exp, &expiration) == 0, err, MK_ERR_CREDS,
              "%s: Expiration '%.40s' is not ISO 8601", source, exp);
    c = aws_creds_make(akid, secret, token, expiration, source, err);
out:
    if (c == NULL && err != NULL && err->code != MK_ERR_CREDS) {
        mk_err_prefix(err, "%s", source);
        err->code = MK_ERR_CREDS;
    }
    aws_xml_free(x);
    free(akid);
    aws_str_wipe_free(secret);
    aws_str_wipe_free(token);
    free(exp);
    return c;
}

static void session_name(const char *given, char *out, size_t cap)
{
    if (given != NULL && given[0] != '\0') {
        snprintf(out, cap, "%s", given);
    } else {
        snprintf(out, cap, "mskpki-%ld", (long)time(NULL));
    }
}

/* chain: a profile's role_arn (the endpoint_url option does not apply), not the client's own
 * role_arn option (it does: the audit's --role-arn goes where --endpoint-url says). */
static int assume_role(struct aws_creds_provider *p, const struct aws_creds *src,
                       const char *role_arn, const char *session, const char *external_id,
                       const char *duration, int chain, struct aws_creds **out,
                       struct mk_err *err)
{
    char name[65];
    char *xml = NULL;
    size_t len = 0;
    struct aws_query_param params[5];
    size_t n = 0;
    session_name(session, name, sizeof(name));
    params[n++] = (struct aws_query_param){"RoleArn", role_arn};
    params[n++] = (struct aws_query_param){"RoleSessionName", name};
    if (external_id != NULL) {
        params[n++] = (struct aws_query_param){"ExternalId", external_id};
    }
    if (duration != NULL) {
        params[n++] = (struct aws_query_param){"DurationSeconds", duration};
    }
    params[n] = (struct aws_query_param){NULL, NULL};
    if (aws_query_call_as(p->client, "sts", "AssumeRole", STS_VERSION, params, src,
                          chain ? AWS_CALL_CHAIN : 0u, &xml, &len, err) != 0) {
        mk_err_prefix(err, "assume role %.200s", role_arn);
        return -1;
    }
    *out = creds_from_sts(xml, len, "assume-role", err);
    aws_str_wipe_free(xml);
    return *out != NULL ? 1 : -1;
}

/* Reads a token file (web identity, container authorization): whole file, trimmed. */
static struct pki_secret *read_token_file(const char *path, const char *what, struct mk_err *err)
{
    struct aws_buf b = {0};
    struct pki_secret *s = NULL;
    char chunk[4096];
    size_t n;
    FILE *fp = fopen(path, "re");
    if (fp == NULL) {
        mk_err_errno(err, MK_ERR_CREDS, "%s: %s: cannot open", what, path);
        return NULL;
    }
    while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
        MK_ENSURE(b.len + n <= 64 * 1024, err, MK_ERR_CREDS, "%s: %s: file too large", what, path);
        MK_GUARD(aws_buf_append(&b, chunk, n, err));
    }
    size_t len = b.len;
    const char *start = b.data != NULL ? b.data : "";
    while (len > 0 && isspace((unsigned char)*start)) {
        start++;
        len--;
    }
    while (len > 0 && isspace((unsigned char)start[len - 1])) {
        len--;
    }
    MK_ENSURE(len > 0, err, MK_ERR_CREDS, "%s: %s: file is empty", what, path);
    s = pki_secret_from(start, len, err);
out:
    sodium_memzero(chunk, sizeof(chunk));
    fclose(fp);
    aws_buf_free(&b);
    return s;
}

static int web_identity(struct aws_creds_provider *p, const char *token_file, const char *role_arn,
                        const char *session, struct aws_creds **out, struct mk_err *err)
{
    char name[65];
    char *xml = NULL;
    size_t len = 0;
    int rc = -1;
    struct pki_secret *tok = read_token_file(token_file, "web identity token", err);
    if (tok == NULL) {
        return -1;
    }
    session_name(session, name, sizeof(name));
    struct aws_query_param params[] = {{"RoleArn", role_arn},
                                       {"RoleSessionName", name},
                                       {"WebIdentityToken", pki_secret_str(tok)},
                                       {NULL, NULL}};
    if (aws_query_call_as(p->client, "sts", "AssumeRoleWithWebIdentity", STS_VERSION, params, NULL,
                          AWS_CALL_ANONYMOUS | AWS_CALL_CHAIN, &xml, &len, err) != 0) {
        mk_err_prefix(err, "web identity role %.200s", role_arn);
        goto out;
    }
    *out = creds_from_sts(xml, len, "web-identity", err);
    rc = *out != NULL ? 1 : -1;
out:
    aws_str_wipe_free(xml);
    pki_secret_free(tok);
    return rc;
}

/* ---- environment ---- */

static int from_env(struct aws_creds **out, struct mk_err *err)
{
    const char *akid = env_nonempty("AWS_ACCESS_KEY_ID");
    const char *secret = env_nonempty("AWS_SECRET_ACCESS_KEY");
    if (akid == NULL && secret == NULL) {
        return 0;
    }
    if (akid == NULL || secret == NULL) {
        mk_err_set(err, MK_ERR_CREDS, "environment credentials: %s is set but %s is not",
                   akid != NULL ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
                   akid != NULL ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
        return -1;
    }
    *out = aws_creds_make(akid, secret, env_nonempty("AWS_SESSION_TOKEN"), 0, "env", err);
    return *out != NULL ? 1 : -1;
}

/* ---- credential_process ---- */

static long ms_since(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - start->tv_sec) * 1000 + (now.tv_nsec - start->tv_nsec) / 1000000;
}

static void timeout_err(long timeout_ms, struct mk_err *err)
{
    mk_err_set(err, MK_ERR_TIMEOUT,
               "credential_process: no answer within %ld s (killed; the timeout is "
               "ca.aws_pca.credential_process_timeout)",
               (timeout_ms + 999) / 1000);
}

/* Reads the child's stdout until EOF, the size limit or the deadline (start + timeout_ms). */
static int read_child(int fd, const struct timespec *start, long timeout_ms, struct aws_buf *b,
                      struct mk_err *err)
{
    char chunk[4096];
    for (;;) {
        long spent = ms_since(start);
        if (spent >= timeout_ms) {
            timeout_err(timeout_ms, err);
            return -1;
        }
        struct pollfd pfd = {fd, POLLIN, 0};
        long wait = timeout_ms - spent;
        /* A slow helper must not starve the agent's watchdog (pki/keepalive.h): wake each
         * second to say so. */
        pki_keepalive();
        int pr = poll(&pfd, 1, (int)(wait > 1000 ? 1000 : wait));
        if (pr <= 0) {
            continue; /* EINTR or the deadline, checked above */
        }
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            mk_err_errno(err, MK_ERR_CREDS, "credential_process: read");
            return -1;
        }
        if (n == 0) {
            sodium_memzero(chunk, sizeof(chunk));
            return 0;
        }
        if (b->len + (size_t)n > PROCESS_MAX_OUT) {
            mk_err_set(err, MK_ERR_CREDS, "credential_process: output larger than %d bytes",
                       PROCESS_MAX_OUT);
            sodium_memzero(chunk, sizeof(chunk));
            return -1;
        }
        if (aws_buf_append(b, chunk, (size_t)n, err) != 0) {
            return -1;
        }
    }
}

/* Waits for pid until the deadline.  Returns 0 with *status, or -1 when it is still running. */
static int wait_child(pid_t pid, const struct timespec *start, long timeout_ms, int *status)
{
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid) {
            return 0;
        }
        if (r < 0 && errno != EINTR) {
            *status = 0;
            return 0; /* not ours to wait for any more */
        }
        if (ms_since(start) >= timeout_ms) {
            return -1;
        }
        struct timespec nap = {0, 10 * 1000 * 1000};
        pki_keepalive();
        nanosleep(&nap, NULL);
    }
}

/*
 * Runs command with /bin/sh -c in a process group of its own, stdout captured, stderr passed
 * through.  timeout_ms bounds the whole run: reading the answer and waiting for the exit.  When it
 * passes, the whole group is killed, so a helper that closed stdout and kept running, or one that
 * left a child holding the pipe, cannot stall the agent.
 */
static int run_process(const char *command, long timeout_ms, struct aws_buf *outb,
                       struct mk_err *err)
{
    int fds[2] = {-1, -1};
    int rc = -1;
    pid_t pid = -1;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    int fa_ok = 0;
    int attr_ok = 0;
    int status = 0;
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    MK_ENSURE_ERRNO(pipe2(fds, O_CLOEXEC) == 0, err, MK_ERR_CREDS, "credential_process: pipe");
    MK_ENSURE(posix_spawn_file_actions_init(&fa) == 0, err, MK_ERR_NOMEM, "out of memory");
    fa_ok = 1;
    MK_ENSURE(posix_spawnattr_init(&attr) == 0, err, MK_ERR_NOMEM, "out of memory");
    attr_ok = 1;
    /* pgroup 0: the child's own pid, so kill(-pid) reaches everything it started. */
    MK_ENSURE(posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP) == 0 &&
                  posix_spawnattr_setpgroup(&attr, 0) == 0,
              err, MK_ERR_CREDS, "credential_process: posix_spawnattr");
    posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    char *argv[] = {"/bin/sh", "-c", (char *)command, NULL};
    int sr = posix_spawn(&pid, "/bin/sh", &fa, &attr, argv, environ);
    if (sr != 0) {
        errno = sr;
        mk_err_errno(err, MK_ERR_CREDS, "credential_process: cannot start /bin/sh");
        pid = -1;
        goto out;
    }
    close(fds[1]);
    fds[1] = -1;
    if (read_child(fds[0], &start, timeout_ms, outb, err) != 0) {
        goto out;
    }
    if (wait_child(pid, &start, timeout_ms, &status) != 0) {
        timeout_err(timeout_ms, err);
        goto out;
    }
    pid = -1;
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        /* Not the output: a failing helper may print anything, secrets included. */
        mk_err_set(err, MK_ERR_CREDS, "credential_process exited with %s %d",
                   WIFEXITED(status) ? "status" : "signal",
                   WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        goto out;
    }
    rc = 0;
out:
    if (pid > 0) {
        /* Failed or timed out while the helper runs: end its whole group, then reap it. */
        kill(-pid, SIGKILL);
        kill(pid, SIGKILL);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
    }
    if (attr_ok) {
        posix_spawnattr_destroy(&attr);
    }
    if (fa_ok) {
        posix_spawn_file_actions_destroy(&fa);
    }
    if (fds[0] >= 0) {
        close(fds[0]);
    }
    if (fds[1] >= 0) {
        close(fds[1]);
    }
    return rc;
}

MK_TESTABLE int aws_creds_from_process(const char *command, long timeout_ms, struct aws_creds **out,
                                       struct mk_err *err)
{
    struct aws_buf b = {0};
    json_t *j = NULL;
    int rc = -1;
    MK_GUARD(run_process(command, timeout_ms > 0 ? timeout_ms : PROCESS_TIMEOUT_MS, &b, err));
    j = parse_json_creds(b.data != NULL ? b.data : "", b.len, "credential_process", err);
    MK_GUARD_PTR(j);
    json_t *ver = json_object_get(j, "Version");
    MK_ENSURE(json_is_integer(ver) && json_integer_value(ver) == 1, err, MK_ERR_CREDS,
              "credential_process: answer must have \"Version\": 1");
    *out = creds_from_json(j, "SessionToken", "process", err);
    MK_GUARD_PTR(*out);
    rc = 1;
out:
    json_wipe_free(j);
    aws_buf_free(&b);
    return rc;
}

/* ---- container ---- */

static struct pki_secret *container_token(struct mk_err *err)
{
    const char *file = env_nonempty("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    const char *tok = env_nonempty("AWS_CONTAINER_AUTHORIZATION_TOKEN");
    struct pki_secret *s = NULL;
    if (file != NULL) {
        s = read_token_file(file, "container authorization token", err);
    } else if (tok != NULL) {
        s = pki_secret_from(tok, strlen(tok), err);
    } else {
        return pki_secret_new(0, err);
    }
    if (s != NULL && strpbrk(pki_secret_str(s), "\r\n") != NULL) {
        mk_err_set(err, MK_ERR_CREDS, "container authorization token has a line break");
        pki_secret_free(s);
        return NULL;
    }
    return s;
}

static int from_container(struct aws_creds_provider *p, struct aws_creds **out, struct mk_err *err)
{
    const char *rel = env_nonempty("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    const char *full = env_nonempty("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    char *checked = NULL;
    struct aws_buf url = {0};
    struct aws_buf auth = {0};
    struct pki_secret *tok = NULL;
    struct aws_http_response resp = {0};
    json_t *j = NULL;
    int rc = -1;
    if (rel == NULL && full == NULL) {
        return 0;
    }
    if (rel != NULL) {
        MK_GUARD(
            aws_buf_printf(&url, err, "%s%s%s", aws_creds_ecs_base, rel[0] == '/' ? "" : "/", rel));
    } else {
        /* curl's parse decides the host, so the check and the request cannot disagree. */
        MK_GUARD(
            aws_url_check_container(full, "AWS_CONTAINER_CREDENTIALS_FULL_URI", &checked, err));
        MK_GUARD(aws_buf_puts(&url, checked, err));
    }
    tok = container_token(err);
    MK_GUARD_PTR(tok);
    const char *headers[] = {NULL, NULL};
    if (pki_secret_len(tok) > 0) {
        MK_GUARD(aws_buf_printf(&auth, err, "Authorization: %s", pki_secret_str(tok)));
        headers[0] = auth.data;
    }
    struct aws_http_request req = {
        "GET", url.data, headers, NULL, 0, META_CONNECT_MS, META_TIMEOUT_MS * 2, NULL, 1};
    for (int attempt = 1;; attempt++) {
        struct mk_err net = {0};
        if (aws_http_perform(aws_client_http(p->client), &req, &resp, &net) == 0) {
            break;
        }
        MK_ENSURE(attempt < 3, err, MK_ERR_CREDS, "container credentials: %s", net.msg);
    }
    MK_ENSURE(resp.status == 200, err, MK_ERR_CREDS, "container credentials: %s: HTTP %ld",
              url.data, resp.status);
    j = parse_json_creds(resp.body.data, resp.body.len, "container", err);
    MK_GUARD_PTR(j);
    *out = creds_from_json(j, "Token", "container", err);
    MK_GUARD_PTR(*out);
    rc = 1;
out:
    json_wipe_free(j);
    aws_http_response_clear(&resp);
    pki_secret_free(tok);
    free(checked);
    aws_buf_free(&url);
    aws_buf_free(&auth);
    return rc;
}

/* ---- IMDSv2 ---- */

static int imds_get(struct aws_creds_provider *p, const char *method, const char *url,
                    const char *header, struct aws_http_response *resp, struct mk_err *err)
{
    const char *headers[] = {header, NULL};
    struct aws_http_request req = {method,          url,  headers, NULL, 0, META_CONNECT_MS,
                                   META_TIMEOUT_MS, NULL, 1};
    return aws_http_perform(aws_client_http(p->client), &req, resp, err);
}

static int from_imds(struct aws_creds_provider *p, struct aws_creds **out, struct mk_err *err)
{
    const char *disabled = getenv("AWS_EC2_METADATA_DISABLED");
    const char *base = env_nonempty("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    struct aws_http_response resp = {0};
    struct aws_buf url = {0};
    struct aws_buf tokhdr = {0};
    char role[256];
    json_t *j = NULL;
    int rc = -1;
    struct mk_err ignored = {0};
    if (disabled != NULL && strcasecmp(disabled, "true") == 0) {
        return 0;
    }
    base = base != NULL ? base : IMDS_DEFAULT;
    size_t blen = strlen(base);
    while (blen > 0 && base[blen - 1] == '/') {
        blen--;
    }
    /* Session token first (IMDSv2); no answer means we are not on EC2. */
    MK_GUARD(aws_buf_printf(&url, err, "%.*s/latest/api/token", (int)blen, base));
    if (imds_get(p, "PUT", url.data, "X-aws-ec2-metadata-token-ttl-seconds: 21600", &resp,
                 &ignored) != 0 ||
        resp.status != 200 || resp.body.len == 0 || strpbrk(resp.body.data, "\r\n") != NULL) {
        rc = 0;
        goto out;
    }
    MK_GUARD(aws_buf_printf(&tokhdr, err, "X-aws-ec2-metadata-token: %s", resp.body.data));
    aws_http_response_clear(&resp);
    url.len = 0;
    MK_GUARD(aws_buf_printf(&url, err, "%.*s/latest/meta-data/iam/security-credentials/", (int)blen,
                            base));
    MK_GUARD(imds_get(p, "GET", url.data, tokhdr.data, &resp, err));
    if (resp.status == 404) {
        mk_err_set(err, MK_ERR_CREDS, "instance metadata: no IAM role attached to the instance");
        goto out;
    }
    MK_ENSURE(resp.status == 200, err, MK_ERR_CREDS, "instance metadata: role name: HTTP %ld",
              resp.status);
    size_t rlen = strcspn(resp.body.data, "\r\n");
    MK_ENSURE(rlen > 0 && rlen < sizeof(role), err, MK_ERR_CREDS,
              "instance metadata: bad role name");
    snprintf(role, sizeof(role), "%.*s", (int)rlen, resp.body.data);
    aws_http_response_clear(&resp);
    url.len = 0;
    MK_GUARD(aws_buf_printf(&url, err, "%.*s/latest/meta-data/iam/security-credentials/", (int)blen,
                            base));
    MK_GUARD(aws_buf_uri_encode(&url, role, strlen(role), 0, err));
    MK_GUARD(imds_get(p, "GET", url.data, tokhdr.data, &resp, err));
    MK_ENSURE(resp.status == 200, err, MK_ERR_CREDS, "instance metadata: credentials: HTTP %ld",
              resp.status);
    j = parse_json_creds(resp.body.data, resp.body.len, "instance metadata", err);
    MK_GUARD_PTR(j);
    const char *code = json_string_value(json_object_get(j, "Code"));
    MK_ENSURE(code == NULL || strcmp(code, "Success") == 0, err, MK_ERR_CREDS,
              "instance metadata: credentials answer Code is '%.40s'", code);
    *out = creds_from_json(j, "Token", "imds", err);
    MK_GUARD_PTR(*out);
    rc = 1;
out:
    json_wipe_free(j);
    if (rc < 0 && err != NULL && err->code != MK_ERR_CREDS && err->code != MK_ERR_NOMEM) {
        err->code = MK_ERR_CREDS;
    }
    aws_http_response_clear(&resp);
    aws_buf_free(&url);
    aws_buf_free(&tokhdr);
    return rc;
}

/* ---- profiles ---- */

static int from_profile(struct aws_creds_provider *p, const struct aws_profiles *ps,
                        const char *name, int depth, struct aws_creds **out, struct mk_err *err);

static int static_keys(const struct aws_profiles *ps, const char *name, struct aws_creds **out,
                       struct mk_err *err)
{
    const char *akid = aws_profiles_get(ps, name, "aws_access_key_id");
    const char *secret = aws_profiles_get(ps, name, "aws_secret_access_key");
    if (akid == NULL && secret == NULL) {
        return 0;
    }
    if (akid == NULL || secret == NULL) {
        mk_err_set(err, MK_ERR_CREDS, "profile '%s': %s without %s", name,
                   akid != NULL ? "aws_access_key_id" : "aws_secret_access_key",
                   akid != NULL ? "aws_secret_access_key" : "aws_access_key_id");
        return -1;
    }
    *out = aws_creds_make(akid, secret, aws_profiles_get(ps, name, "aws_session_token"), 0,
                          "profile", err);
    return *out != NULL ? 1 : -1;
}

/* The source credentials of a role profile: source_profile or credential_source. */
static int role_source(struct aws_creds_provider *p, const struct aws_profiles *ps,
                       const char *name, int depth, struct aws_creds **out, struct mk_err *err)
{
    const char *src = aws_profiles_get(ps, name, "source_profile");
    const char *csrc = aws_profiles_get(ps, name, "credential_source");
    int rc;
    if (src != NULL) {
        if (!aws_profiles_has(ps, src)) {
            mk_err_set(err, MK_ERR_CREDS, "profile '%s': source_profile '%s' not found", name, src);
            return -1;
        }
        /* A profile that names itself uses its own static keys (the SDKs allow this). */
        rc = strcmp(src, name) == 0 ? static_keys(ps, src, out, err)
                                    : from_profile(p, ps, src, depth + 1, out, err);
    } else if (csrc != NULL) {
        if (strcmp(csrc, "Environment") == 0) {
            rc = from_env(out, err);
        } else if (strcmp(csrc, "EcsContainer") == 0) {
            rc = from_container(p, out, err);
        } else if (strcmp(csrc, "Ec2InstanceMetadata") == 0) {
            rc = from_imds(p, out, err);
        } else {
            mk_err_set(err, MK_ERR_CREDS, "profile '%s': unknown credential_source '%.40s'", name,
                       csrc);
            return -1;
        }
    } else {
        mk_err_set(err, MK_ERR_CREDS,
                   "profile '%s': role_arn needs source_profile or "
                   "credential_source",
                   name);
        return -1;
    }
    if (rc == 0) {
        mk_err_set(err, MK_ERR_CREDS, "profile '%s': the role's source has no credentials", name);
        return -1;
    }
    return rc;
}

static int from_profile(struct aws_creds_provider *p, const struct aws_profiles *ps,
                        const char *name, int depth, struct aws_creds **out, struct mk_err *err)
{
    if (depth > MAX_PROFILE_DEPTH) {
        mk_err_set(err, MK_ERR_CREDS,
                   "profile '%s': source_profile chain longer than %d (a "
                   "loop?)",
                   name, MAX_PROFILE_DEPTH);
        return -1;
    }
    const char *role = aws_profiles_get(ps, name, "role_arn");
    const char *wit = aws_profiles_get(ps, name, "web_identity_token_file");
    const char *process = aws_profiles_get(ps, name, "credential_process");
    const char *session = aws_profiles_get(ps, name, "role_session_name");
    if (role != NULL && wit != NULL) {
        return web_identity(p, wit, role, session, out, err);
    }
    if (role != NULL) {
        struct aws_creds *src = NULL;
        if (role_source(p, ps, name, depth, &src, err) < 0) {
            return -1;
        }
        int rc = assume_role(p, src, role, session, aws_profiles_get(ps, name, "external_id"),
                             aws_profiles_get(ps, name, "duration_seconds"), 1, out, err);
        aws_creds_free(src);
        return rc;
    }
    int rc = static_keys(ps, name, out, err);
    if (rc != 0) {
        return rc;
    }
    if (process != NULL) {
        rc = aws_creds_from_process(process, aws_client_process_timeout_ms(p->client), out, err);
        if (rc < 0) {
            mk_err_prefix(err, "profile '%s'", name);
        }
        return rc;
    }
    return 0;
}

static int from_profiles(struct aws_creds_provider *p, struct aws_creds **out, struct mk_err *err)
{
    struct aws_profiles ps = {0};
    const char *name = aws_profile_name(p->profile);
    int explicit_name = p->profile != NULL || env_nonempty("AWS_PROFILE") != NULL;
    int rc = -1;
    if (aws_profiles_load(&ps, err) != 0) {
        err->code = MK_ERR_CREDS;
        return -1;
    }
    if (!aws_profiles_has(&ps, name)) {
        MK_ENSURE(!explicit_name, err, MK_ERR_CREDS,
                  "profile '%s' not found in the shared config or credentials file", name);
        rc = 0;
        goto out;
    }
    rc = from_profile(p, &ps, name, 0, out, err);
out:
    aws_profiles_clear(&ps);
    return rc;
}

/* ---- the chain ---- */

/* An explicit profile that exists but holds no credentials of any kind. */
static int profile_empty(const char *name, struct mk_err *err)
{
    mk_err_set(err, MK_ERR_CREDS,
               "profile '%s' has no credentials (static keys, role_arn, web_identity_token_file "
               "or credential_process)",
               name);
    return -1;
}

static int chain_resolve(struct aws_creds_provider *p, struct aws_creds **out, struct mk_err *err)
{
    int rc;
    /* A profile named by the caller (--profile, aws_pca.profile) wins over the environment's
     * keys and web identity, as the AWS CLI's --profile does; one it cannot find or use is an
     * error, never a fall-back to other credentials.  AWS_PROFILE alone does not: the
     * environment's keys still come first then, as in the SDKs. */
    if (p->profile != NULL) {
        rc = from_profiles(p, out, err);
        return rc != 0 ? rc : profile_empty(p->profile, err);
    }
    rc = from_env(out, err);
    if (rc != 0) {
        return rc;
    }
    const char *wit = env_nonempty("AWS_WEB_IDENTITY_TOKEN_FILE");
    const char *role = env_nonempty("AWS_ROLE_ARN");
    if (wit != NULL && role != NULL) {
        return web_identity(p, wit, role, env_nonempty("AWS_ROLE_SESSION_NAME"), out, err);
    }
    rc = from_profiles(p, out, err);
    if (rc != 0) {
        return rc;
    }
    rc = from_container(p, out, err);
    if (rc != 0) {
        return rc;
    }
    rc = from_imds(p, out, err);
    if (rc != 0) {
        return rc;
    }
    mk_err_set(err, MK_ERR_CREDS,
               "no AWS credentials found (tried environment, web identity, "
               "profile '%s', container, instance metadata)",
               aws_profile_name(p->profile));
    return -1;
}

/* The source set by aws_creds_provider_set_source(), falling back to the chain. */
static int source_or_chain(struct aws_creds_provider *p, struct aws_creds **out,
                           struct mk_err *err)
{
    struct mk_err se = {0};
    int rc = p->source_fn != NULL ? p->source_fn(p->source_arg, out, &se) : 0;
    p->fallback = p->source_fn != NULL && rc != 1;
    /* A source that cannot yet (no certificate) is asked again at the next call; one that
     * failed, after a minute (each try costs a CreateSession and a signature). */
    p->source_retry_at = time(NULL) + (rc < 0 ? 60 : 0);
    if (rc == 1) {
        return 1;
    }
    if (rc < 0) {
        mk_log(MK_LOG_WARN, "aws.credentials.source_failed", "code=%s msg=\"%s\"",
               mk_code_str(se.code), se.msg);
    }
    rc = chain_resolve(p, out, err);
    if (rc != 1 && se.code != MK_OK && err != NULL) {
        char chain[sizeof(err->msg)];
        snprintf(chain, sizeof(chain), "%s", err->msg);
        mk_err_set(err, MK_ERR_CREDS, "%s; and the credential chain: %s", se.msg, chain);
    }
    return rc;
}

void aws_creds_provider_set_source(struct aws_creds_provider *p, aws_creds_source_fn fn,
                                   void *arg)
{
    p->source_fn = fn;
    p->source_arg = arg;
}

void aws_creds_provider_info(struct aws_creds_provider *p, char *source, size_t size,
                             time_t *expiration)
{
    pthread_mutex_lock(&p->lock);
    snprintf(source, size, "%s", p->cached != NULL ? p->cached->source : "");
    *expiration = p->cached != NULL ? p->cached->expiration : 0;
    pthread_mutex_unlock(&p->lock);
}

/* The chain, then AssumeRole when the provider has a role of its own. */
static int provider_resolve(struct aws_creds_provider *p, struct aws_creds **out,
                            struct mk_err *err)
{
    struct aws_creds *base = NULL;
    int rc = source_or_chain(p, &base, err);
    if (rc != 1 || p->role_arn == NULL) {
        *out = base;
        return rc;
    }
    rc = assume_role(p, base, p->role_arn, p->role_session, p->role_external_id, NULL, 0, out,
                     err);
    aws_creds_free(base);
    return rc;
}

int aws_creds_provider_set_role(struct aws_creds_provider *p, const char *role_arn,
                                const char *session, const char *external_id, struct mk_err *err)
{
    char *r = role_arn != NULL ? strdup(role_arn) : NULL;
    char *s = session != NULL ? strdup(session) : NULL;
    char *e = external_id != NULL ? strdup(external_id) : NULL;
    if ((role_arn != NULL && r == NULL) || (session != NULL && s == NULL) ||
        (external_id != NULL && e == NULL)) {
        free(r);
        free(s);
        free(e);
        mk_err_set(err, MK_ERR_NOMEM, "out of memory");
        return -1;
    }
    free(p->role_arn);
    free(p->role_session);
    free(p->role_external_id);
    p->role_arn = r;
    p->role_session = s;
    p->role_external_id = e;
    return 0;
}

struct aws_creds_provider *aws_creds_provider_new(struct aws_client *client, const char *profile,
                                                  struct mk_err *err)
{
    struct aws_creds_provider *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        mk_err_set(err, MK_ERR_NOMEM, "out of memory");
        return NULL;
    }
    p->client = client;
    if (profile != NULL && profile[0] != '\0') {
        p->profile = strdup(profile);
        if (p->profile == NULL) {
            free(p);
            mk_err_set(err, MK_ERR_NOMEM, "out of memory");
            return NULL;
        }
    }
    pthread_mutex_init(&p->lock, NULL);
    return p;
}

void aws_creds_provider_free(struct aws_creds_provider *p)
{
    if (p == NULL) {
        return;
    }
    aws_creds_free(p->cached);
    pthread_mutex_destroy(&p->lock);
    free(p->profile);
    free(p->role_arn);
    free(p->role_session);
    free(p->role_external_id);
    free(p);
}

static int fresh_enough(const struct aws_creds *c, time_t now)
{
    return c != NULL && (c->expiration == 0 || now < c->expiration - AWS_CREDS_REFRESH_EARLY_S);
}

/* While the chain stands in for the source (bootstrap), the source takes over as soon as it
 * can: the chain's credentials may never expire.  Only the source is asked, so a chain that
 * calls STS is not called again. */
static void source_takeover(struct aws_creds_provider *p, time_t now)
{
    struct aws_creds *c = NULL;
    struct mk_err se = {0};
    if (!p->fallback || p->source_fn == NULL || now < p->source_retry_at) {
        return;
    }
    int rc = p->source_fn(p->source_arg, &c, &se);
    if (rc == 1) {
        aws_creds_free(p->cached);
        p->cached = c;
        p->fallback = 0;
        mk_log(MK_LOG_INFO, "aws.credentials", "source=%s expires=%ld", c->source,
               (long)c->expiration);
        return;
    }
    p->source_retry_at = now + (rc < 0 ? 60 : 0);
    if (rc < 0) {
        mk_log(MK_LOG_WARN, "aws.credentials.source_failed", "code=%s msg=\"%s\"",
               mk_code_str(se.code), se.msg);
    }
}

struct aws_creds *aws_creds_provider_get(struct aws_creds_provider *p, struct mk_err *err)
{
    struct aws_creds *fresh = NULL;
    struct aws_creds *copy = NULL;
    struct mk_err e = {0};
    pthread_mutex_lock(&p->lock);
    time_t now = time(NULL);
    if (fresh_enough(p->cached, now)) {
        source_takeover(p, now);
    }
    if (!fresh_enough(p->cached, now)) {
        int rc = provider_resolve(p, &fresh, &e);
        if (rc == 1) {
            aws_creds_free(p->cached);
            p->cached = fresh;
            mk_log(MK_LOG_INFO, "aws.credentials", "source=%s expires=%ld", fresh->source,
                   (long)fresh->expiration);
        } else if (p->cached != NULL && now < p->cached->expiration) {
            /* Refresh failed early: the old credentials are still valid for a while. */
            mk_log(MK_LOG_WARN, "aws.credentials.refresh_failed", "code=%s msg=\"%s\"",
                   mk_code_str(e.code), e.msg);
        } else {
            aws_creds_free(p->cached);
            p->cached = NULL;
            if (err != NULL) {
                *err = e;
            }
            goto out;
        }
    }
    copy = aws_creds_dup(p->cached, err);
out:
    pthread_mutex_unlock(&p->lock);
    return copy;
}

void aws_creds_provider_invalidate(struct aws_creds_provider *p)
{
    pthread_mutex_lock(&p->lock);
    aws_creds_free(p->cached);
    p->cached = NULL;
    pthread_mutex_unlock(&p->lock);
}
