/*
 * conf.c: reads a libconfig file into a validated struct conf (see conf.h and docs/config.md).
 *
 * libconfig checks the syntax; this file checks everything else: the settings allowed in each
 * group (the key tables below), types, ranges, paths, owners, and the cross-checks between
 * certificates.  The first problem stops the load with one line "file:line: setting: problem"
 * (MK_ERR_CONFIG): the agent must never run on a half-understood config.  Settings are named by
 * their dotted path, list elements by index ("certificates.[0].key_type", as in conf.h).
 */
#include "conf/conf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <libconfig.h>

#include "aws/arn.h"
#include "aws/url.h"

#define CONF_DEFAULT_STATE_DIR "/var/lib/mskpki"
#define CONF_DEFAULT_METRICS "127.0.0.1:9464"
#define CONF_DEFAULT_CA_CN "mskpki local CA"
#define CONF_DAY (24L * 3600L)
/* CreateSession's durationSeconds when the config names none: AWS's own default, written down
 * so that the log and the docs say what is asked for. */
#define CONF_RA_DEFAULT_DURATION 3600

/* 100 years: keeps now + duration far from time_t overflow and catches typos like "3650000d". */
#define CONF_MAX_DURATION (36525L * CONF_DAY)
#define CONF_MAX_NAME 128

/* What a load is working on: the top file (for settings libconfig names no file for) and err. */
struct conf_ctx {
    const char *path;
    const char *dir; /* of path: where libconfig looks for @include files */
    struct mk_err *err;
};

/*
 * libconfig names a setting's file as it was written in @include; prefix it with the include
 * directory so that the message points at a file the reader can open.
 */
static const char *display_file(const char *path, const char *dir, const char *file, char *buf,
                                size_t len)
{
    if (file == NULL || strcmp(file, path) == 0) {
        return path;
    }
    if (file[0] == '/' || dir == NULL) {
        return file;
    }
    snprintf(buf, len, "%s/%s", dir, file);
    return buf;
}

/* ---- settings allowed in each group ------------------------------------------------------- */

static const char *const keys_root[] = {"ca",    "state_dir",    "metrics", "log",
                                        "retry", "certificates", "agent",  "control", NULL};
static const char *const keys_agent[] = {"user", NULL};
static const char *const keys_control[] = {"socket", NULL}; /* issue 17, see parse_agent() */
static const char *const keys_ca[] = {"backend", "local", "aws_pca", NULL};
static const char *const keys_local[] = {"directory", "common_name", "validity", "max_validity",
                                         NULL};
static const char *const keys_aws_pca[] = {"ca_arn",
                                           "region",
                                           "template_arn",
                                           "signing_algorithm",
                                           "endpoint_url",
                                           "profile",
                                           "ca_bundle",
                                           "rate_per_second",
                                           "burst",
                                           "poll_timeout",
                                           "trust_anchor_file",
                                           /* issue 16, see parse_hardening() */
                                           "allow_insecure_http",
                                           "credential_process_timeout",
                                           "roles_anywhere",
                                           NULL};
static const char *const keys_metrics[] = {"listen",
                                           /* issue 16, see parse_hardening() */
                                           "insecure", "tls_cert_file", "tls_key_file",
                                           "client_ca_file", "connection_timeout",
                                           "max_connections", "max_connections_per_ip", NULL};
static const char *const keys_log[] = {"level", "target", NULL};
static const char *const keys_retry[] = {"min", "max", NULL};
static const char *const keys_cert[] = {"name",         "subject",  "san",   "key_type",
                                        "reuse_key",    "validity", "renew", "renew_before",
                                        "revoke_replaced", "revoke_grace", "output", "hook", NULL};
static const char *const keys_subject[] = {
    "common_name", "organization", "organizational_unit", "locality", "state", "country", NULL};
static const char *const keys_san[] = {"dns", "uri", "email", NULL};
static const char *const keys_renew[] = {"fraction", "before", "jitter", NULL};
static const char *const keys_output[] = {"directory",
                                          "key",
                                          "cert",
                                          "chain",
                                          "fullchain",
                                          "pkcs12",
                                          "pkcs12_alias",
                                          "owner",
                                          "group",
                                          "key_mode",
                                          "cert_mode",
                                          "key_passphrase_file",
                                          "pkcs12_password_file",
                                          NULL};
static const char *const keys_hook[] = {"command", "shell", "timeout", NULL};

/* AWS Private CA SigningAlgorithm values (API reference, IssueCertificate). */
static const char *const aws_signing_algorithms[] = {"SHA256WITHECDSA",
                                                     "SHA384WITHECDSA",
                                                     "SHA512WITHECDSA",
                                                     "SHA256WITHRSA",
                                                     "SHA384WITHRSA",
                                                     "SHA512WITHRSA",
                                                     NULL};

/* ---- error reporting ---------------------------------------------------------------------- */

/* Writes the dotted path of s ("certificates.[0].output.key") into buf; the root is "". */
static void setting_path(const config_setting_t *s, char *buf, size_t len)
{
    if (s == NULL || config_setting_parent(s) == NULL) {
        buf[0] = '\0';
        return;
    }
    setting_path(config_setting_parent(s), buf, len);
    size_t used = strlen(buf);
    const char *sep = used > 0 ? "." : "";
    const char *name = config_setting_name(s);
    if (name != NULL) {
        snprintf(buf + used, len - used, "%s%s", sep, name);
    } else {
        snprintf(buf + used, len - used, "%s[%d]", sep, config_setting_index(s));
    }
}

/*
 * Fails the load at setting `at`, or, when child is given, at the missing setting `child` of
 * group `at` (named by the group's line, since a missing setting has none).  Always returns -1 so
 * that validators can `return conf_fail(...)`.
 */
static int conf_fail(struct conf_ctx *c, const config_setting_t *at, const char *child,
                     const char *fmt, ...) MK_PRINTF(4, 5);
static int conf_fail(struct conf_ctx *c, const config_setting_t *at, const char *child,
                     const char *fmt, ...)
{
    char where[256];
    char problem[512];
    va_list ap;

    setting_path(at, where, sizeof(where));
    if (child != NULL) {
        size_t used = strlen(where);
        snprintf(where + used, sizeof(where) - used, "%s%s", used > 0 ? "." : "", child);
    }
    va_start(ap, fmt);
    vsnprintf(problem, sizeof(problem), fmt, ap);
    va_end(ap);

    char file_buf[PATH_MAX];
    const char *file =
        display_file(c->path, c->dir, at != NULL ? config_setting_source_file(at) : NULL, file_buf,
                     sizeof(file_buf));
    int line = at != NULL ? (int)config_setting_source_line(at) : 0;
    if (line > 0) {
        mk_err_set(c->err, MK_ERR_CONFIG, "%s:%d: %s: %s", file, line, where, problem);
    } else {
        /* Only the root group has no line: say which file, as compilers do. */
        mk_err_set(c->err, MK_ERR_CONFIG, "%s: %s: %s", file, where, problem);
    }
    return -1;
}

static int conf_nomem(struct conf_ctx *c)
{
    mk_err_set(c->err, MK_ERR_NOMEM, "%s: out of memory", c->path);
    return -1;
}

/* ---- generic readers ---------------------------------------------------------------------- */

static const config_setting_t *member(const config_setting_t *grp, const char *name)
{
    return grp == NULL ? NULL : config_setting_get_member(grp, name);
}

static int key_allowed(const char *name, const char *const *allowed)
{
    for (size_t i = 0; allowed[i] != NULL; i++) {
        if (strcmp(name, allowed[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

static void join_names(const char *const *names, char *buf, size_t len)
{
    buf[0] = '\0';
    for (size_t i = 0; names[i] != NULL; i++) {
        size_t used = strlen(buf);
        snprintf(buf + used, len - used, "%s%s", i > 0 ? ", " : "", names[i]);
    }
}

/* Checks that s is a group holding only the allowed settings. */
static int check_group(struct conf_ctx *c, const config_setting_t *s, const char *const *allowed)
{
    if (!config_setting_is_group(s)) {
        return conf_fail(c, s, NULL, "expected a group { ... }");
    }
    for (int i = 0; i < config_setting_length(s); i++) {
        const config_setting_t *m = config_setting_get_elem(s, (unsigned int)i);
        if (!key_allowed(config_setting_name(m), allowed)) {
            char valid[512];
            join_names(allowed, valid, sizeof(valid));
            return conf_fail(c, m, NULL, "unknown setting (valid: %s)", valid);
        }
    }
    return 0;
}

/* The group `name` of parent, checked against allowed; *out is NULL when it is absent. */
static int read_group(struct conf_ctx *c, const config_setting_t *parent, const char *name,
                      const char *const *allowed, const config_setting_t **out)
{
    const config_setting_t *s = member(parent, name);
    if (s != NULL && check_group(c, s, allowed) != 0) {
        return -1;
    }
    *out = s;
    return 0;
}

enum {
    STR_REQUIRED = 1 << 0, /* absent is an error */
    STR_EMPTY_OK = 1 << 1, /* "" is a meaningful value */
    STR_ABSPATH = 1 << 2,  /* must start with '/' */
    STR_FILENAME = 1 << 3, /* a name inside a directory: no '/', not "." or ".." */
};

/* Checks a string value against the STR_ flags; s is the setting, for the message. */
static int check_str(struct conf_ctx *c, const config_setting_t *s, const char *v, unsigned flags)
{
    if (v[0] == '\0') {
        if (flags & STR_EMPTY_OK) {
            return 0;
        }
        return conf_fail(c, s, NULL, "must not be empty");
    }
    if ((flags & STR_ABSPATH) && v[0] != '/') {
        return conf_fail(c, s, NULL, "path '%s' must be absolute", v);
    }
    if ((flags & STR_FILENAME) &&
        (strchr(v, '/') != NULL || strcmp(v, ".") == 0 || strcmp(v, "..") == 0)) {
        return conf_fail(c, s, NULL, "'%s' must be a plain file name (no '/')", v);
    }
    return 0;
}

/*
 * Reads the string setting `name` of grp into *out, freeing the default it replaces.  An absent
 * setting leaves *out as it is (or fails with STR_REQUIRED).  grp may be NULL (absent group)
 * only without STR_REQUIRED; callers name a missing group's required child themselves.
 */
static int read_str(struct conf_ctx *c, const config_setting_t *grp, const char *name,
                    unsigned flags, char **out)
{
    const config_setting_t *s = member(grp, name);
    if (s == NULL) {
        if (flags & STR_REQUIRED) {
            return conf_fail(c, grp, name, "required");
        }
        return 0;
    }
    if (config_setting_type(s) != CONFIG_TYPE_STRING) {
        return conf_fail(c, s, NULL, "expected a string");
    }
    const char *v = config_setting_get_string(s);
    if (check_str(c, s, v, flags) != 0) {
        return -1;
    }
    char *dup = strdup(v);
    if (dup == NULL) {
        return conf_nomem(c);
    }
    free(*out);
    *out = dup;
    return 0;
}

/* read_str for the const char * fields of ca/ca.h's config structs (owned by struct conf). */
static int read_cstr(struct conf_ctx *c, const config_setting_t *grp, const char *name,
                     unsigned flags, const char **out)
{
    /* Written in place, not through a local copy: gcc -O3 took the copy for where the field
     * points (-Wdangling-pointer) once this is inlined into the Roles Anywhere checks. */
    return read_str(c, grp, name, flags, (char **)out);
}

static int read_duration(struct conf_ctx *c, const config_setting_t *grp, const char *name,
                         long *out)
{
    const config_setting_t *s = member(grp, name);
    if (s == NULL) {
        return 0;
    }
    if (config_setting_type(s) != CONFIG_TYPE_STRING) {
        return conf_fail(c, s, NULL, "expected a duration string such as \"30d\"");
    }
    const char *v = config_setting_get_string(s);
    if (conf_parse_duration(v, out) != 0) {
        return conf_fail(c, s, NULL,
                         "invalid duration '%s' (expected a positive integer with s, m, h or d, "
                         "at most 36525d, e.g. \"30d\")",
                         v);
    }
    return 0;
}

/* A number: integers are accepted where a fraction is expected ("jitter = 0"). */
static int read_number(struct conf_ctx *c, const config_setting_t *grp, const char *name,
                       double *out)
{
    const config_setting_t *s = member(grp, name);
    if (s == NULL) {
        return 0;
    }
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_FLOAT:
        *out = config_setting_get_float(s);
        return 0;
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:
        *out = (double)config_setting_get_int64(s);
        return 0;
    default:
        return conf_fail(c, s, NULL, "expected a number");
    }
}

static int read_int(struct conf_ctx *c, const config_setting_t *grp, const char *name,
                    long long *out)
{
    const config_setting_t *s = member(grp, name);
    if (s == NULL) {
        return 0;
    }
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:
        *out = config_setting_get_int64(s);
        return 0;
    default:
        return conf_fail(c, s, NULL, "expected an integer");
    }
}

static int read_bool(struct conf_ctx *c, const config_setting_t *grp, const char *name, int *out)
{
    const config_setting_t *s = member(grp, name);
    if (s == NULL) {
        return 0;
    }
    if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
        return conf_fail(c, s, NULL, "expected true or false");
    }
    *out = config_setting_get_bool(s) ? 1 : 0;
    return 0;
}

/* Reads a list or array of strings (may be empty) into a new vector *out of *n entries. */
static int read_str_list(struct conf_ctx *c, const config_setting_t *grp, const char *name,
                         int (*check)(struct conf_ctx *, const config_setting_t *, const char *),
                         char ***out, size_t *n)
{
    const config_setting_t *s = member(grp, name);
    if (s == NULL) {
        return 0;
    }
    if (!config_setting_is_array(s) && !config_setting_is_list(s)) {
        return conf_fail(c, s, NULL, "expected a list of strings [ \"...\", ... ]");
    }
    int len = config_setting_length(s);
    char **v = calloc((size_t)len + 1, sizeof(*v));
    if (v == NULL) {
        return conf_nomem(c);
    }
    for (int i = 0; i < len; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned int)i);
        if (config_setting_type(e) != CONFIG_TYPE_STRING) {
            conf_fail(c, e, NULL, "expected a string");
            goto fail;
        }
        const char *str = config_setting_get_string(e);
        if (check_str(c, e, str, 0) != 0 || (check != NULL && check(c, e, str) != 0)) {
            goto fail;
        }
        v[i] = strdup(str);
        if (v[i] == NULL) {
            conf_nomem(c);
            goto fail;
        }
    }
    *out = v;
    *n = (size_t)len;
    return 0;
fail:
    for (int i = 0; i < len; i++) {
        free(v[i]);
    }
    free(v);
    return -1;
}

/* ---- value validators --------------------------------------------------------------------- */

int conf_parse_duration(const char *text, long *seconds)
{
    if (text == NULL || text[0] < '0' || text[0] > '9') {
        return -1; /* no sign, no space: strtoll would accept both */
    }
    errno = 0;
    char *end = NULL;
    long long v = strtoll(text, &end, 10);
    if (errno != 0 || v <= 0 || end[0] == '\0' || end[1] != '\0') {
        return -1;
    }
    long long unit;
    switch (end[0]) {
    case 's':
        unit = 1;
        break;
    case 'm':
        unit = 60;
        break;
    case 'h':
        unit = 3600;
        break;
    case 'd':
        unit = CONF_DAY;
        break;
    default:
        return -1;
    }
    if (v > CONF_MAX_DURATION / unit) {
        return -1;
    }
    *seconds = (long)(v * unit);
    return 0;
}

/* A mode as a string of 1 to 4 octal digits ("0640"), at most 0777. */
static int parse_mode(const char *text, mode_t *out)
{
    size_t len = strlen(text);
    if (len == 0 || len > 4 || strspn(text, "01234567") != len) {
        return -1;
    }
    long v = strtol(text, NULL, 8);
    if (v > 0777) {
        return -1;
    }
    *out = (mode_t)v;
    return 0;
}

static int read_mode(struct conf_ctx *c, const config_setting_t *grp, const char *name, mode_t *out)
{
    const config_setting_t *s = member(grp, name);
    if (s == NULL) {
        return 0;
    }
    /* An unquoted 0640 is the decimal integer 640 to libconfig: insist on a string. */
    if (config_setting_type(s) != CONFIG_TYPE_STRING ||
        parse_mode(config_setting_get_string(s), out) != 0) {
        return conf_fail(c, s, NULL, "expected a string of octal digits such as \"0640\"");
    }
    return 0;
}

/* Certificate names become state file names and metric labels. */
static int check_cert_name(struct conf_ctx *c, const config_setting_t *s, const char *name)
{
    size_t len = strlen(name);
    const char *ok = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-";
    if (len == 0 || len > CONF_MAX_NAME || strspn(name, ok) != len || strcmp(name, ".") == 0 ||
        strcmp(name, "..") == 0) {
        return conf_fail(c, s, NULL,
                         "invalid name '%s' (1 to %d of A-Z a-z 0-9 _ . -, not . or ..)", name,
                         CONF_MAX_NAME);
    }
    return 0;
}

static int check_dns(struct conf_ctx *c, const config_setting_t *s, const char *v)
{
    if (strpbrk(v, " \t/:@") != NULL) {
        return conf_fail(c, s, NULL, "'%s' is not a DNS name", v);
    }
    return 0;
}

static int check_uri(struct conf_ctx *c, const config_setting_t *s, const char *v)
{
    const char *colon = strchr(v, ':');
    if (colon == NULL || colon == v || strpbrk(v, " \t") != NULL) {
        return conf_fail(c, s, NULL, "'%s' is not a URI (scheme:...)", v);
    }
    return 0;
}

static int check_email(struct conf_ctx *c, const config_setting_t *s, const char *v)
{
    const char *at = strchr(v, '@');
    if (at == NULL || at == v || at[1] == '\0' || strpbrk(v, " \t") != NULL) {
        return conf_fail(c, s, NULL, "'%s' is not an email address", v);
    }
    return 0;
}

/*
 * "ipv4:port" or "[ipv6]:port", port 1..65535; "" (disabled) is handled by the caller.  The host
 * must be a numeric address because the agent binds it without a DNS lookup.
 */
static int check_listen(struct conf_ctx *c, const config_setting_t *s, const char *v)
{
    const char *colon = strrchr(v, ':');
    char host[INET6_ADDRSTRLEN + 2] = "";
    unsigned char addr[sizeof(struct in6_addr)];
    int ok = colon != NULL && colon != v && (size_t)(colon - v) < sizeof(host);
    if (ok) {
        memcpy(host, v, (size_t)(colon - v));
        host[colon - v] = '\0';
        size_t hl = strlen(host);
        if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
            host[hl - 1] = '\0';
            ok = inet_pton(AF_INET6, host + 1, addr) == 1;
        } else {
            ok = inet_pton(AF_INET, host, addr) == 1;
        }
    }
    if (ok) {
        const char *port = colon + 1;
        size_t len = strlen(port);
        ok = len >= 1 && len <= 5 && strspn(port, "0123456789") == len;
        long p = ok ? strtol(port, NULL, 10) : 0;
        ok = ok && p >= 1 && p <= 65535;
    }
    if (!ok) {
        return conf_fail(c, s, NULL,
                         "'%s' is not ADDRESS:PORT with a numeric IPv4 or [IPv6] address and a "
                         "port 1..65535 (\"\" disables metrics)",
                         v);
    }
    return 0;
}

/* One lookup for resolve_id: getpwnam_r/getgrnam_r into buf; *id is set when found. */
typedef int (*id_lookup_fn)(const char *name, char *buf, size_t len, unsigned long *id,
                            int *found);

static int lookup_user(const char *name, char *buf, size_t len, unsigned long *id, int *found)
{
    struct passwd pw;
    struct passwd *res = NULL;
    int rc = getpwnam_r(name, &pw, buf, len, &res);
    *found = res != NULL;
    *id = res != NULL ? (unsigned long)res->pw_uid : 0;
    return rc;
}

static int lookup_group(const char *name, char *buf, size_t len, unsigned long *id, int *found)
{
    struct group gr;
    struct group *res = NULL;
    int rc = getgrnam_r(name, &gr, buf, len, &res);
    *found = res != NULL;
    *id = res != NULL ? (unsigned long)res->gr_gid : 0;
    return rc;
}

/*
 * Resolves a user or group name (names only: a numeric id would silently mean something else).
 * what is "user" or "group" for the message; size_name the sysconf hint for the buffer, which
 * grows on ERANGE up to 1 MiB.
 */
static int resolve_id(struct conf_ctx *c, const config_setting_t *s, const char *what,
                      const char *name, int size_name, id_lookup_fn lookup, unsigned long *out)
{
    long size = sysconf(size_name);
    size_t len = size > 0 ? (size_t)size : 16384;
    unsigned long id = 0;
    int found = 0;
    int rc;
    for (;;) {
        char *buf = malloc(len);
        if (buf == NULL) {
            (void)conf_nomem(c);
            return -1;
        }
        rc = lookup(name, buf, len, &id, &found);
        free(buf);
        if (rc == ERANGE && len < (1u << 20)) {
            len *= 2;
            continue;
        }
        if (!found) {
            break;
        }
        *out = id;
        return 0;
    }
    /* The literal -1 (not conf_fail's result) lets the compiler see that *out is written on
     * every 0 return: conf_fail is a varargs function it does not inline at -O3, so with
     * "return conf_fail(...)" gcc 12 warned that the callers' id may be used uninitialized. */
    if (rc != 0 && rc != ENOENT && rc != ESRCH) {
        (void)conf_fail(c, s, NULL, "cannot look up %s '%s': %s", what, name, strerror(rc));
        return -1;
    }
    (void)conf_fail(c, s, NULL, "no such %s '%s'", what, name);
    return -1;
}

static int resolve_user(struct conf_ctx *c, const config_setting_t *s, const char *name, uid_t *out)
{
    unsigned long id;
    if (resolve_id(c, s, "user", name, _SC_GETPW_R_SIZE_MAX, lookup_user, &id) != 0) {
        return -1;
    }
    *out = (uid_t)id;
    return 0;
}

static int resolve_group(struct conf_ctx *c, const config_setting_t *s, const char *name,
                         gid_t *out)
{
    unsigned long id;
    if (resolve_id(c, s, "group", name, _SC_GETGR_R_SIZE_MAX, lookup_group, &id) != 0) {
        return -1;
    }
    *out = (gid_t)id;
    return 0;
}

/* Drops trailing slashes so that "/a/b/" and "/a/b" compare equal (keeps "/"). */
static void trim_slashes(char *path)
{
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/') {
        path[--len] = '\0';
    }
}

/* 1 when path is dir or beneath it (both absolute, without trailing slashes). */
static int path_within(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    if (strcmp(dir, "/") == 0) {
        return 1;
    }
    return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/*
 * What the network process's sandbox hides (output directories, secret files, the local CA)
 * must lie outside state_dir, which it writes: Landlock grants a directory with everything
 * beneath it, so state_dir, its ancestors and its subdirectories are all refused here rather
 * than failing at the first state write ("cannot open directory: Permission denied").
 */
static int check_outside_state_dir(struct conf_ctx *c, const config_setting_t *at,
                                   const char *child, const char *path, const char *state_dir)
{
    if (path_within(path, state_dir) || path_within(state_dir, path)) {
        return conf_fail(c, at, child,
                         "'%s' must lie outside state_dir '%s' (and not contain it): the agent's "
                         "network process writes state_dir but must not reach this path",
                         path, state_dir);
    }
    return 0;
}

/* ---- sections ----------------------------------------------------------------------------- */

static int parse_local(struct conf_ctx *c, const config_setting_t *ca, struct conf *cfg)
{
    struct pki_ca_local_config *l = &cfg->ca.local;
    const config_setting_t *g;
    if (read_group(c, ca, "local", keys_local, &g) != 0 ||
        read_cstr(c, g, "directory", STR_ABSPATH, &l->directory) != 0 ||
        read_cstr(c, g, "common_name", 0, &l->common_name) != 0 ||
        read_duration(c, g, "validity", &l->ca_validity_seconds) != 0 ||
        read_duration(c, g, "max_validity", &l->max_validity_seconds) != 0) {
        return -1;
    }
    if (l->directory == NULL) {
        /* Default: <state_dir>-ca, beside state_dir, so a minimal config needs no CA settings.
         * Not inside it: the network process writes state_dir while its sandbox hides the CA,
         * and Landlock cannot grant a directory except one of its subdirectories. */
        size_t len = strlen(cfg->state_dir) + sizeof("-ca");
        char *dir = malloc(len);
        if (dir == NULL) {
            return conf_nomem(c);
        }
        snprintf(dir, len, "%s-ca", cfg->state_dir);
        l->directory = dir;
    }
    trim_slashes((char *)l->directory);
    /* Only the backend in use is hidden from the network process (agent/netproc.c). */
    if (cfg->ca.type != CONF_CA_LOCAL) {
        return 0;
    }
    return check_outside_state_dir(c, member(g, "directory"), NULL, l->directory, cfg->state_dir);
}

static int check_in_list(struct conf_ctx *c, const config_setting_t *g, const char *name,
                         const char *value, const char *const *valid)
{
    if (value == NULL || key_allowed(value, valid)) {
        return 0;
    }
    char list[256];
    join_names(valid, list, sizeof(list));
    return conf_fail(c, member(g, name), NULL, "unknown value '%s' (expected %s)", value, list);
}

/* ---- ca.aws_pca.roles_anywhere (docs/quickstart-roles-anywhere.md) ---- */

static const char *const keys_roles_anywhere[] = {"trust_anchor_arn", "profile_arn", "role_arn",
                                                  "certificate",      "duration",    "session_name",
                                                  "endpoint_url",     NULL};

/* An ARN of service with a region and a resource starting with kind ("trust-anchor/"). */
static int ra_arn_ok(const char *arn, const char *service, const char *kind)
{
    char prefix[64];
    const char *p = arn;
    snprintf(prefix, sizeof(prefix), ":%s:", service);
    if (strncmp(arn, "arn:", 4) != 0 || (p = strstr(arn, prefix)) == NULL) {
        return 0;
    }
    return strstr(p, kind) != NULL;
}

/* "PARTITION:SERVICE:REGION" of an ARN into out; 0 when there is no region. */
static int arn_region(const char *arn, char *out, size_t size)
{
    const char *p = arn + 4;
    const char *end = p;
    for (int i = 0; i < 3 && end != NULL; i++) {
        end = strchr(end, ':');
        end = end != NULL && i < 2 ? end + 1 : end;
    }
    if (end == NULL || end[-1] == ':' || (size_t)(end - p) >= size) {
        return 0;
    }
    snprintf(out, size, "%.*s", (int)(end - p), p);
    return 1;
}

static int parse_roles_anywhere(struct conf_ctx *c, const config_setting_t *aws,
                                struct conf *cfg)
{
    struct pki_ca_roles_anywhere_config *r = &cfg->ca.aws_pca.roles_anywhere;
    const config_setting_t *g;
    static const char *const arns[][3] = {{"trust_anchor_arn", "rolesanywhere", ":trust-anchor/"},
                                          {"profile_arn", "rolesanywhere", ":profile/"},
                                          {"role_arn", "iam", ":role/"}};
    const char **vals[] = {&r->trust_anchor_arn, &r->profile_arn, &r->role_arn};
    if (read_group(c, aws, "roles_anywhere", keys_roles_anywhere, &g) != 0) {
        return -1;
    }
    if (g == NULL) {
        return 0;
    }
    for (size_t i = 0; i < 3; i++) {
        if (read_cstr(c, g, arns[i][0], STR_REQUIRED, vals[i]) != 0) {
            return -1;
        }
        if (!ra_arn_ok(*vals[i], arns[i][1], arns[i][2])) {
            return conf_fail(c, member(g, arns[i][0]), NULL,
                             "'%s' is not an %s ARN (arn:aws:%s:%s)", *vals[i], arns[i][1],
                             arns[i][1], arns[i][2] + 1);
        }
    }
    if (read_cstr(c, g, "certificate", STR_REQUIRED, &r->certificate) != 0 ||
        read_cstr(c, g, "session_name", 0, &r->session_name) != 0 ||
        read_cstr(c, g, "endpoint_url", 0, &r->endpoint_url) != 0 ||
        read_duration(c, g, "duration", &r->duration_seconds) != 0) {
        return -1;
    }
    if (r->duration_seconds == 0) {
        r->duration_seconds = CONF_RA_DEFAULT_DURATION;
    }
    /* The region comes from the ARNs, so the trust anchor and profile must agree on it. */
    char ta[96];
    char pr[96];
    if (!arn_region(r->trust_anchor_arn, ta, sizeof(ta))) {
        return conf_fail(c, member(g, "trust_anchor_arn"), NULL, "has no region");
    }
    if (!arn_region(r->profile_arn, pr, sizeof(pr)) || strcmp(ta, pr) != 0) {
        return conf_fail(c, member(g, "profile_arn"), NULL,
                         "not in the trust anchor's partition and region");
    }
    if (r->duration_seconds != 0 && (r->duration_seconds < 900 || r->duration_seconds > 43200)) {
        return conf_fail(c, member(g, "duration"), NULL,
                         "must be between 15m and 12h (CreateSession's durationSeconds)");
    }
    if (r->endpoint_url != NULL && strncmp(r->endpoint_url, "https://", 8) != 0 &&
        strncmp(r->endpoint_url, "http://", 7) != 0) {
        return conf_fail(c, member(g, "endpoint_url"), NULL, "'%s' is not an http(s):// URL",
                         r->endpoint_url);
    }
    return 0;
}

/* After the certificates: roles_anywhere.certificate must name one of them. */
static int check_roles_anywhere_certificate(struct conf_ctx *c, const config_setting_t *root,
                                            const struct conf *cfg)
{
    const char *name = cfg->ca.aws_pca.roles_anywhere.certificate;
    const config_setting_t *at = member(member(member(member(root, "ca"), "aws_pca"),
                                               "roles_anywhere"),
                                        "certificate");
    if (name == NULL) {
        return 0;
    }
    const struct conf_certificate *cc = conf_find_certificate(cfg, name);
    if (cc == NULL) {
        return conf_fail(c, at, NULL, "'%s' is not the name of a configured certificate", name);
    }
    return 0;
}

static int parse_aws_pca(struct conf_ctx *c, const config_setting_t *ca, struct conf *cfg)
{
    struct pki_ca_aws_pca_config *a = &cfg->ca.aws_pca;
    const config_setting_t *g;
    long long burst = a->burst;
    if (read_group(c, ca, "aws_pca", keys_aws_pca, &g) != 0 ||
        read_cstr(c, g, "ca_arn", 0, &a->ca_arn) != 0 ||
        read_cstr(c, g, "region", 0, &a->region) != 0 ||
        read_cstr(c, g, "template_arn", 0, &a->template_arn) != 0 ||
        read_cstr(c, g, "signing_algorithm", 0, &a->signing_algorithm) != 0 ||
        read_cstr(c, g, "endpoint_url", 0, &a->endpoint_url) != 0 ||
        read_cstr(c, g, "profile", 0, &a->profile) != 0 ||
        read_cstr(c, g, "ca_bundle", STR_ABSPATH, &a->ca_bundle) != 0 ||
        read_number(c, g, "rate_per_second", &a->rate_per_second) != 0 ||
        read_int(c, g, "burst", &burst) != 0 ||
        read_duration(c, g, "poll_timeout", &a->poll_timeout_seconds) != 0 ||
        read_cstr(c, g, "trust_anchor_file", STR_ABSPATH, &a->trust_anchor_file) != 0 ||
        parse_roles_anywhere(c, g, cfg) != 0) {
        return -1;
    }
    if (a->ca_arn != NULL && (strncmp(a->ca_arn, "arn:", 4) != 0 ||
                              strstr(a->ca_arn, ":certificate-authority/") == NULL)) {
        return conf_fail(c, member(g, "ca_arn"), NULL,
                         "'%s' is not a certificate authority ARN "
                         "(arn:aws:acm-pca:REGION:ACCOUNT:certificate-authority/ID)",
                         a->ca_arn);
    }
    /* A Private CA lives in one region and answers there only: another configured region
     * would fail every call with a bare ResourceNotFoundException (issue 17). */
    if (a->ca_arn != NULL && a->region != NULL) {
        char arn_region[64];
        if (aws_arn_region(a->ca_arn, arn_region, sizeof(arn_region)) != NULL &&
            strcmp(a->region, arn_region) != 0) {
            return conf_fail(c, member(g, "region"), NULL,
                             "region '%s' is not the region of ca_arn %s ('%s'): remove region "
                             "(it defaults to the CA's) or set it to \"%s\"",
                             a->region, a->ca_arn, arn_region, arn_region);
        }
    }
    if (a->template_arn != NULL && strncmp(a->template_arn, "arn:", 4) != 0) {
        return conf_fail(c, member(g, "template_arn"), NULL, "'%s' is not an ARN", a->template_arn);
    }
    if (a->endpoint_url != NULL && strncmp(a->endpoint_url, "https://", 8) != 0 &&
        strncmp(a->endpoint_url, "http://", 7) != 0) {
        return conf_fail(c, member(g, "endpoint_url"), NULL, "'%s' is not an http(s):// URL",
                         a->endpoint_url);
    }
    if (check_in_list(c, g, "signing_algorithm", a->signing_algorithm, aws_signing_algorithms) !=
        0) {
        return -1;
    }
    if (!(a->rate_per_second > 0)) {
        return conf_fail(c, member(g, "rate_per_second"), NULL, "must be greater than 0");
    }
    if (burst < 1 || burst > INT_MAX) {
        return conf_fail(c, member(g, "burst"), NULL, "must be at least 1");
    }
    a->burst = (int)burst;
    return 0;
}

static int parse_ca(struct conf_ctx *c, const config_setting_t *root, struct conf *cfg)
{
    const config_setting_t *ca;
    char *backend = NULL;
    int rc = -1;
    if (read_group(c, root, "ca", keys_ca, &ca) != 0 ||
        read_str(c, ca, "backend", 0, &backend) != 0) {
        goto out;
    }
    if (backend == NULL || strcmp(backend, "local") == 0) {
        cfg->ca.type = CONF_CA_LOCAL;
    } else if (strcmp(backend, "aws-pca") == 0) {
        cfg->ca.type = CONF_CA_AWS_PCA;
    } else {
        conf_fail(c, member(ca, "backend"), NULL,
                  "unknown backend '%s' (expected local or aws-pca)", backend);
        goto out;
    }
    /* Both groups are checked when present, so that a typo in the unused one still shows. */
    if (parse_local(c, ca, cfg) != 0 || parse_aws_pca(c, ca, cfg) != 0) {
        goto out;
    }
    if (cfg->ca.type == CONF_CA_AWS_PCA && cfg->ca.aws_pca.ca_arn == NULL) {
        const config_setting_t *g = member(ca, "aws_pca");
        conf_fail(c, g != NULL ? g : ca, g != NULL ? "ca_arn" : "aws_pca.ca_arn",
                  "required for backend aws-pca");
        goto out;
    }
    rc = 0;
out:
    free(backend);
    return rc;
}

static int parse_metrics_log_retry(struct conf_ctx *c, const config_setting_t *root,
                                   struct conf *cfg)
{
    const config_setting_t *m, *lg, *r;
    char *level = NULL, *target = NULL;
    int rc = -1;
    if (read_group(c, root, "metrics", keys_metrics, &m) != 0 ||
        read_str(c, m, "listen", STR_EMPTY_OK, &cfg->metrics_listen) != 0) {
        goto out;
    }
    if (cfg->metrics_listen[0] != '\0' &&
        check_listen(c, member(m, "listen"), cfg->metrics_listen) != 0) {
        goto out;
    }

    if (read_group(c, root, "log", keys_log, &lg) != 0 ||
        read_str(c, lg, "level", 0, &level) != 0 || read_str(c, lg, "target", 0, &target) != 0) {
        goto out;
    }
    if (level != NULL && mk_log_level_parse(level, &cfg->log_level) != 0) {
        conf_fail(c, member(lg, "level"), NULL,
                  "unknown log level '%s' (expected debug, info, warn, error)", level);
        goto out;
    }
    if (target == NULL || strcmp(target, "stderr") == 0) {
        cfg->log_target = MK_LOG_STDERR;
    } else if (strcmp(target, "syslog") == 0) {
        cfg->log_target = MK_LOG_SYSLOG;
    } else {
        conf_fail(c, member(lg, "target"), NULL,
                  "unknown log target '%s' (expected stderr or syslog)", target);
        goto out;
    }

    if (read_group(c, root, "retry", keys_retry, &r) != 0 ||
        read_duration(c, r, "min", &cfg->retry_min_seconds) != 0 ||
        read_duration(c, r, "max", &cfg->retry_max_seconds) != 0) {
        goto out;
    }
    if (cfg->retry_max_seconds < cfg->retry_min_seconds) {
        conf_fail(c, member(r, "max") != NULL ? member(r, "max") : member(r, "min"), NULL,
                  "must not be shorter than retry.min (%ld seconds)", cfg->retry_min_seconds);
        goto out;
    }
    rc = 0;
out:
    free(level);
    free(target);
    return rc;
}

/* Upper bounds from RFC 5280 appendix A (ub-common-name etc.); OpenSSL refuses longer values. */
static int check_subject_len(struct conf_ctx *c, const config_setting_t *g, const char *name,
                             const char *value, size_t max)
{
    if (value != NULL && strlen(value) > max) {
        return conf_fail(c, member(g, name), NULL, "longer than %zu characters (RFC 5280)", max);
    }
    return 0;
}

static int parse_subject(struct conf_ctx *c, const config_setting_t *cs,
                         struct conf_certificate *cert)
{
    const config_setting_t *g;
    if (read_group(c, cs, "subject", keys_subject, &g) != 0) {
        return -1;
    }
    if (g == NULL) {
        return conf_fail(c, cs, "subject.common_name", "required");
    }
    if (read_str(c, g, "common_name", STR_REQUIRED, &cert->common_name) != 0 ||
        read_str(c, g, "organization", 0, &cert->organization) != 0 ||
        read_str(c, g, "organizational_unit", 0, &cert->organizational_unit) != 0 ||
        read_str(c, g, "locality", 0, &cert->locality) != 0 ||
        read_str(c, g, "state", 0, &cert->state) != 0 ||
        read_str(c, g, "country", 0, &cert->country) != 0 ||
        check_subject_len(c, g, "common_name", cert->common_name, 64) != 0 ||
        check_subject_len(c, g, "organization", cert->organization, 64) != 0 ||
        check_subject_len(c, g, "organizational_unit", cert->organizational_unit, 64) != 0 ||
        check_subject_len(c, g, "locality", cert->locality, 128) != 0 ||
        check_subject_len(c, g, "state", cert->state, 128) != 0) {
        return -1;
    }
    const char *cc = cert->country;
    if (cc != NULL && (strlen(cc) != 2 || strspn(cc, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != 2)) {
        return conf_fail(c, member(g, "country"), NULL,
                         "'%s' is not a two-letter ISO 3166 country code such as \"GB\"", cc);
    }
    return 0;
}

static int parse_san(struct conf_ctx *c, const config_setting_t *cs, struct conf_certificate *cert)
{
    const config_setting_t *g;
    if (read_group(c, cs, "san", keys_san, &g) != 0 ||
        read_str_list(c, g, "dns", check_dns, &cert->dns_names, &cert->n_dns_names) != 0 ||
        read_str_list(c, g, "uri", check_uri, &cert->uris, &cert->n_uris) != 0 ||
        read_str_list(c, g, "email", check_email, &cert->emails, &cert->n_emails) != 0) {
        return -1;
    }
    return 0;
}

static int parse_key_type(struct conf_ctx *c, const config_setting_t *cs,
                          struct conf_certificate *cert)
{
    char *name = NULL;
    if (read_str(c, cs, "key_type", 0, &name) != 0) {
        return -1;
    }
    if (name == NULL) {
        return 0;
    }
    int rc = pki_key_type_parse(name, &cert->key_type);
    if (rc != 0) {
        char valid[256] = "";
        for (int i = 0; i < PKI_KEY__MAX; i++) {
            size_t used = strlen(valid);
            snprintf(valid + used, sizeof(valid) - used, "%s%s", i > 0 ? ", " : "",
                     pki_key_type_name((enum pki_key_type)i));
        }
        conf_fail(c, member(cs, "key_type"), NULL, "unknown key type '%s' (expected %s)", name,
                  valid);
    }
    free(name);
    return rc == 0 ? 0 : -1;
}

static int parse_renew(struct conf_ctx *c, const config_setting_t *cs,
                       struct conf_certificate *cert)
{
    const config_setting_t *g;
    if (read_group(c, cs, "renew", keys_renew, &g) != 0 ||
        read_number(c, g, "fraction", &cert->renew_fraction) != 0 ||
        read_duration(c, g, "before", &cert->renew_before_seconds) != 0 ||
        read_number(c, g, "jitter", &cert->jitter_fraction) != 0) {
        return -1;
    }
    if (member(g, "fraction") != NULL && member(g, "before") != NULL) {
        return conf_fail(c, member(g, "before"), NULL,
                         "give either renew.fraction or renew.before, not both");
    }
    /* renew_before is the name the agent's contract uses; renew.before is the same setting. */
    const config_setting_t *flat = member(cs, "renew_before");
    if (flat != NULL) {
        if (member(g, "fraction") != NULL || member(g, "before") != NULL) {
            return conf_fail(c, flat, NULL,
                             "give one of renew_before, renew.before or renew.fraction");
        }
        if (read_duration(c, cs, "renew_before", &cert->renew_before_seconds) != 0) {
            return -1;
        }
        if (cert->renew_before_seconds >= cert->validity_seconds) {
            return conf_fail(c, flat, NULL, "must be shorter than the validity (%ld seconds)",
                             cert->validity_seconds);
        }
    }
    if (!(cert->renew_fraction > 0 && cert->renew_fraction < 1)) {
        return conf_fail(c, member(g, "fraction"), NULL, "%g is not between 0 and 1 (exclusive)",
                         cert->renew_fraction);
    }
    if (cert->renew_before_seconds >= cert->validity_seconds) {
        return conf_fail(c, member(g, "before"), NULL,
                         "must be shorter than the validity (%ld seconds)", cert->validity_seconds);
    }
    if (!(cert->jitter_fraction >= 0 && cert->jitter_fraction <= 0.5)) {
        return conf_fail(c, member(g, "jitter"), NULL, "%g is not between 0 and 0.5",
                         cert->jitter_fraction);
    }
    return 0;
}

/* The file names written into one directory must differ, or one would overwrite another. */
static int check_output_names(struct conf_ctx *c, const config_setting_t *g,
                              const struct conf_output *o)
{
    static const char *const names[] = {"key", "cert", "chain", "fullchain", "pkcs12"};
    const char *values[] = {o->key, o->cert, o->chain, o->fullchain, o->pkcs12};
    for (size_t i = 1; i < sizeof(names) / sizeof(names[0]); i++) {
        for (size_t j = 0; j < i; j++) {
            if (values[i] != NULL && values[j] != NULL && strcmp(values[i], values[j]) == 0) {
                return conf_fail(c, member(g, names[i]), NULL, "same file name as output.%s",
                                 names[j]);
            }
        }
    }
    return 0;
}

/* The key file is secret: 0600, or 0640 for a service group; never more. */
static int check_modes(struct conf_ctx *c, const config_setting_t *g, const struct conf_output *o)
{
    if ((o->key_mode & ~(mode_t)0640) != 0) {
        return conf_fail(c, member(g, "key_mode"), NULL,
                         "%04o is wider than 0640: the private key must not be writable by others "
                         "or readable by the world",
                         (unsigned)o->key_mode);
    }
    if ((o->key_mode & 0400) == 0) {
        return conf_fail(c, member(g, "key_mode"), NULL, "%04o does not let the owner read the key",
                         (unsigned)o->key_mode);
    }
    if ((o->key_mode & 0040) != 0 && o->group == NULL) {
        return conf_fail(c, member(g, "key_mode"), NULL,
                         "%04o lets a group read the key: set output.group to name that group",
                         (unsigned)o->key_mode);
    }
    if ((o->cert_mode & 0002) != 0) {
        return conf_fail(c, member(g, "cert_mode"), NULL,
                         "%04o lets anyone replace the certificate", (unsigned)o->cert_mode);
    }
    return 0;
}

static int parse_output(struct conf_ctx *c, const config_setting_t *cs,
                        struct conf_certificate *cert)
{
    struct conf_output *o = &cert->output;
    const config_setting_t *g;
    if (read_group(c, cs, "output", keys_output, &g) != 0) {
        return -1;
    }
    if (g == NULL) {
        return conf_fail(c, cs, "output.directory", "required");
    }
    if (read_str(c, g, "directory", STR_REQUIRED | STR_ABSPATH, &o->directory) != 0 ||
        read_str(c, g, "key", STR_REQUIRED | STR_FILENAME, &o->key) != 0 ||
        read_str(c, g, "cert", STR_REQUIRED | STR_FILENAME, &o->cert) != 0 ||
        read_str(c, g, "chain", STR_FILENAME, &o->chain) != 0 ||
        read_str(c, g, "fullchain", STR_FILENAME, &o->fullchain) != 0 ||
        read_str(c, g, "pkcs12", STR_FILENAME, &o->pkcs12) != 0 ||
        read_str(c, g, "pkcs12_alias", 0, &o->pkcs12_alias) != 0 ||
        read_str(c, g, "owner", 0, &o->owner) != 0 || read_str(c, g, "group", 0, &o->group) != 0 ||
        read_mode(c, g, "key_mode", &o->key_mode) != 0 ||
        read_mode(c, g, "cert_mode", &o->cert_mode) != 0 ||
        read_str(c, g, "key_passphrase_file", STR_ABSPATH, &o->key_passphrase_file) != 0 ||
        read_str(c, g, "pkcs12_password_file", STR_ABSPATH, &o->pkcs12_password_file) != 0) {
        return -1;
    }
    trim_slashes(o->directory);
    if (check_output_names(c, g, o) != 0 || check_modes(c, g, o) != 0) {
        return -1;
    }
    if (o->pkcs12 != NULL && o->pkcs12_password_file == NULL) {
        return conf_fail(c, g, "pkcs12_password_file", "required when output.pkcs12 is set");
    }
    if (o->pkcs12 == NULL && (o->pkcs12_password_file != NULL || o->pkcs12_alias != NULL)) {
        const char *which = o->pkcs12_alias != NULL ? "pkcs12_alias" : "pkcs12_password_file";
        return conf_fail(c, member(g, which), NULL, "only meaningful with output.pkcs12");
    }
    if (o->pkcs12 != NULL && o->pkcs12_alias == NULL) {
        o->pkcs12_alias = strdup(cert->name); /* the friendly name keytool -list shows */
        if (o->pkcs12_alias == NULL) {
            return conf_nomem(c);
        }
    }
    if (o->owner != NULL && resolve_user(c, member(g, "owner"), o->owner, &o->uid) != 0) {
        return -1;
    }
    if (o->group != NULL && resolve_group(c, member(g, "group"), o->group, &o->gid) != 0) {
        return -1;
    }
    return 0;
}

/* Builds a NULL-terminated argv of n + 1 slots; the slots are filled by the caller. */
static char **argv_new(struct conf_ctx *c, size_t n)
{
    char **argv = calloc(n + 1, sizeof(*argv));
    if (argv == NULL) {
        conf_nomem(c);
    }
    return argv;
}

static void argv_free(char **argv)
{
    for (size_t i = 0; argv != NULL && argv[i] != NULL; i++) {
        free(argv[i]);
    }
    free(argv);
}

static int parse_hook(struct conf_ctx *c, const config_setting_t *cs, struct conf_certificate *cert)
{
    struct conf_hook *h = &cert->hook;
    const config_setting_t *g;
    if (read_group(c, cs, "hook", keys_hook, &g) != 0) {
        return -1;
    }
    if (g == NULL) {
        return 0; /* no hook */
    }
    if (read_bool(c, g, "shell", &h->shell) != 0 ||
        read_duration(c, g, "timeout", &h->timeout_seconds) != 0) {
        return -1;
    }
    const config_setting_t *cmd = member(g, "command");
    if (cmd == NULL) {
        return conf_fail(c, g, "command", "required in a hook");
    }
    if (h->shell) {
        if (config_setting_type(cmd) != CONFIG_TYPE_STRING) {
            return conf_fail(c, cmd, NULL, "with shell = true, give the command as one string");
        }
        const char *text = config_setting_get_string(cmd);
        if (check_str(c, cmd, text, 0) != 0 || (h->argv = argv_new(c, 3)) == NULL) {
            return -1;
        }
        const char *words[] = {"/bin/sh", "-c", text};
        for (size_t i = 0; i < 3; i++) {
            if ((h->argv[i] = strdup(words[i])) == NULL) {
                return conf_nomem(c);
            }
        }
        return 0;
    }
    if (config_setting_type(cmd) == CONFIG_TYPE_STRING) {
        return conf_fail(
            c, cmd, NULL,
            "a command string needs shell = true; or give a list [ \"/path\", \"arg\" ]");
    }
    size_t n = 0;
    if (read_str_list(c, g, "command", NULL, &h->argv, &n) != 0) {
        return -1;
    }
    if (n == 0) {
        return conf_fail(c, cmd, NULL, "must name a program");
    }
    if (h->argv[0][0] != '/') {
        return conf_fail(c, config_setting_get_elem(cmd, 0), NULL,
                         "program '%s' must be an absolute path", h->argv[0]);
    }
    return 0;
}

static void cert_defaults(struct conf_certificate *cert)
{
    cert->key_type = PKI_KEY_EC_P256;
    cert->validity_seconds = 30 * CONF_DAY;
    cert->renew_fraction = 2.0 / 3.0;
    cert->jitter_fraction = 0.10;
    cert->revoke_grace_seconds = 3600;
    cert->output.uid = (uid_t)-1;
    cert->output.gid = (gid_t)-1;
    cert->output.key_mode = 0600;
    cert->output.cert_mode = 0644;
    cert->hook.timeout_seconds = 30;
}

static int parse_certificate(struct conf_ctx *c, const config_setting_t *cs,
                             struct conf_certificate *cert)
{
    cert_defaults(cert);
    if (!config_setting_is_group(cs)) {
        return conf_fail(c, cs, NULL, "expected a group { name = \"...\"; ... }");
    }
    if (check_group(c, cs, keys_cert) != 0 ||
        read_str(c, cs, "name", STR_REQUIRED, &cert->name) != 0 ||
        check_cert_name(c, member(cs, "name"), cert->name) != 0 ||
        parse_subject(c, cs, cert) != 0 || parse_san(c, cs, cert) != 0 ||
        parse_key_type(c, cs, cert) != 0 || read_bool(c, cs, "reuse_key", &cert->reuse_key) != 0 ||
        read_duration(c, cs, "validity", &cert->validity_seconds) != 0 ||
        parse_renew(c, cs, cert) != 0 ||
        read_bool(c, cs, "revoke_replaced", &cert->revoke_replaced) != 0 ||
        read_duration(c, cs, "revoke_grace", &cert->revoke_grace_seconds) != 0 ||
        parse_output(c, cs, cert) != 0 || parse_hook(c, cs, cert) != 0) {
        return -1;
    }
    return 0;
}

/* Two certificates sharing a name or directory would overwrite each other's state or files;
 * an output directory equal to the state or CA directory would mix keys with the agent's own. */
static int check_cert_conflicts(struct conf_ctx *c, const config_setting_t *list,
                                const struct conf *cfg, size_t i)
{
    const struct conf_certificate *cert = &cfg->certs[i];
    const config_setting_t *cs = config_setting_get_elem(list, (unsigned int)i);
    const config_setting_t *dir = member(member(cs, "output"), "directory");
    for (size_t j = 0; j < i; j++) {
        const config_setting_t *other = config_setting_get_elem(list, (unsigned int)j);
        if (strcmp(cfg->certs[j].name, cert->name) == 0) {
            return conf_fail(c, member(cs, "name"), NULL,
                             "duplicate certificate name '%s' (first at line %d)", cert->name,
                             (int)config_setting_source_line(other));
        }
        if (strcmp(cfg->certs[j].output.directory, cert->output.directory) == 0) {
            return conf_fail(c, dir, NULL, "directory '%s' is already used by certificate '%s'",
                             cert->output.directory, cfg->certs[j].name);
        }
    }
    if (strcmp(cert->output.directory, cfg->state_dir) == 0) {
        return conf_fail(c, dir, NULL, "must not be the state_dir");
    }
    const config_setting_t *out = member(cs, "output");
    if (check_outside_state_dir(c, dir, NULL, cert->output.directory, cfg->state_dir) != 0 ||
        (cert->output.key_passphrase_file != NULL &&
         check_outside_state_dir(c, member(out, "key_passphrase_file"), NULL,
                                 cert->output.key_passphrase_file, cfg->state_dir) != 0) ||
        (cert->output.pkcs12_password_file != NULL &&
         check_outside_state_dir(c, member(out, "pkcs12_password_file"), NULL,
                                 cert->output.pkcs12_password_file, cfg->state_dir) != 0)) {
        return -1;
    }
    if (cfg->ca.type == CONF_CA_LOCAL &&
        strcmp(cert->output.directory, cfg->ca.local.directory) == 0) {
        return conf_fail(c, dir, NULL, "must not be the local CA directory");
    }
    /* The key process refuses a CSR for longer than max_validity: it would never rotate. */
    if (cfg->ca.type == CONF_CA_LOCAL && cfg->ca.local.max_validity_seconds > 0 &&
        cert->validity_seconds > cfg->ca.local.max_validity_seconds) {
        const config_setting_t *v = member(cs, "validity");
        return conf_fail(c, v != NULL ? v : cs, v != NULL ? NULL : "validity",
                         "%ld seconds is longer than ca.local.max_validity (%ld seconds)",
                         cert->validity_seconds, cfg->ca.local.max_validity_seconds);
    }
    return 0;
}

static int parse_certificates(struct conf_ctx *c, const config_setting_t *root, struct conf *cfg)
{
    const config_setting_t *list = member(root, "certificates");
    if (list == NULL) {
        return conf_fail(c, root, "certificates", "required: at least one certificate block");
    }
    if (!config_setting_is_list(list)) {
        return conf_fail(c, list, NULL, "expected a list ( { ... }, { ... } )");
    }
    int n = config_setting_length(list);
    if (n == 0) {
        return conf_fail(c, list, NULL, "at least one certificate is required");
    }
    cfg->certs = calloc((size_t)n, sizeof(*cfg->certs));
    if (cfg->certs == NULL) {
        return conf_nomem(c);
    }
    cfg->n_certs = (size_t)n;
    for (size_t i = 0; i < cfg->n_certs; i++) {
        if (parse_certificate(c, config_setting_get_elem(list, (unsigned int)i), &cfg->certs[i]) !=
                0 ||
            check_cert_conflicts(c, list, cfg, i) != 0) {
            return -1;
        }
    }
    /* No max_validity: the longest configured validity, so the local CA signs nothing longer
     * than some block asks for (it used to be the CA's own remaining life, ten years). */
    if (cfg->ca.local.max_validity_seconds == 0) {
        for (size_t i = 0; i < cfg->n_certs; i++) {
            if (cfg->certs[i].validity_seconds > cfg->ca.local.max_validity_seconds) {
                cfg->ca.local.max_validity_seconds = cfg->certs[i].validity_seconds;
            }
        }
    }
    return 0;
}

/* agent.user: who the network process runs as when the agent starts as root (conf/paths.h
 * resolves it; a name only, looked up at start so that mskpkictl can read the file anywhere). */
static int parse_agent(struct conf_ctx *c, const config_setting_t *root, struct conf *cfg)
{
    const config_setting_t *g;
    if (read_group(c, root, "agent", keys_agent, &g) != 0 ||
        read_str(c, g, "user", 0, &cfg->agent_user) != 0) {
        return -1;
    }
    if (cfg->agent_user == NULL && (cfg->agent_user = strdup(CONF_DEFAULT_AGENT_USER)) == NULL) {
        return conf_nomem(c);
    }
    /* control.socket (issue 17): "" runs the daemon without one.  sun_path holds 107 bytes. */
    if (read_group(c, root, "control", keys_control, &g) != 0 ||
        read_str(c, g, "socket", STR_EMPTY_OK | STR_ABSPATH, &cfg->control_socket) != 0) {
        return -1;
    }
    if (cfg->control_socket == NULL &&
        (cfg->control_socket = strdup(CONF_DEFAULT_CONTROL_SOCKET)) == NULL) {
        return conf_nomem(c);
    }
    if (strlen(cfg->control_socket) > 107) {
        return conf_fail(c, member(g, "socket"), NULL,
                         "'%s' is longer than a socket path may be (107 bytes)",
                         cfg->control_socket);
    }
    return 0;
}

/* ---- issue 16: transport hardening of the AWS client and the metrics endpoint ------------- */

/* 1 when a metrics.listen value ("ipv4:port", "[ipv6]:port") binds a loopback address only. */
static int listen_is_loopback(const char *v)
{
    const char *colon = strrchr(v, ':');
    char host[INET6_ADDRSTRLEN + 2];
    if (colon == NULL || (size_t)(colon - v) >= sizeof(host)) {
        return 0;
    }
    memcpy(host, v, (size_t)(colon - v));
    host[colon - v] = '\0';
    return aws_url_host_is_loopback(host) && strcasecmp(host, "localhost") != 0;
}

static int read_limit(struct conf_ctx *c, const config_setting_t *grp, const char *name, long *out)
{
    long long v = *out;
    if (read_int(c, grp, name, &v) != 0) {
        return -1;
    }
    if (v < 1 || v > 100000) {
        return conf_fail(c, member(grp, name), NULL, "must be 1..100000");
    }
    *out = (long)v;
    return 0;
}

static int parse_hardening(struct conf_ctx *c, const config_setting_t *root, struct conf *cfg)
{
    const config_setting_t *m = member(root, "metrics");
    const config_setting_t *a = member(member(root, "ca"), "aws_pca");
    struct conf_metrics *mt = &cfg->metrics;
    struct pki_ca_aws_pca_config *pca = &cfg->ca.aws_pca;
    struct mk_err e = {0};

    mt->connection_timeout_seconds = 10;
    mt->max_connections = 64;
    mt->max_connections_per_ip = 8;
    if (read_bool(c, m, "insecure", &mt->insecure) != 0 ||
        read_str(c, m, "tls_cert_file", STR_ABSPATH, &mt->tls_cert_file) != 0 ||
        read_str(c, m, "tls_key_file", STR_ABSPATH, &mt->tls_key_file) != 0 ||
        read_str(c, m, "client_ca_file", STR_ABSPATH, &mt->client_ca_file) != 0 ||
        read_duration(c, m, "connection_timeout", &mt->connection_timeout_seconds) != 0 ||
        read_limit(c, m, "max_connections", &mt->max_connections) != 0 ||
        read_limit(c, m, "max_connections_per_ip", &mt->max_connections_per_ip) != 0) {
        return -1;
    }
    if ((mt->tls_cert_file == NULL) != (mt->tls_key_file == NULL)) {
        return conf_fail(c, m, mt->tls_cert_file == NULL ? "tls_cert_file" : "tls_key_file",
                         "tls_cert_file and tls_key_file go together");
    }
    if (mt->client_ca_file != NULL && mt->tls_cert_file == NULL) {
        return conf_fail(c, member(m, "client_ca_file"), NULL,
                         "needs tls_cert_file and tls_key_file (mTLS is on top of TLS)");
    }
    /* Scrapes are unauthenticated and in clear unless TLS is on: off the host, that must be a
     * decision written in the file, not the default. */
    if (cfg->metrics_listen[0] != '\0' && !listen_is_loopback(cfg->metrics_listen) &&
        mt->tls_cert_file == NULL && !mt->insecure) {
        return conf_fail(c, member(m, "listen"), NULL,
                         "'%s' is not a loopback address: set metrics.tls_cert_file and "
                         "metrics.tls_key_file (TLS), or metrics.insecure = true",
                         cfg->metrics_listen);
    }

    if (read_bool(c, a, "allow_insecure_http", &pca->allow_insecure_http) != 0 ||
        read_duration(c, a, "credential_process_timeout",
                      &pca->credential_process_timeout_seconds) != 0) {
        return -1;
    }
    if (pca->endpoint_url != NULL &&
        aws_url_check_endpoint(pca->endpoint_url, "ca.aws_pca.endpoint_url",
                               pca->allow_insecure_http, &e) < 0) {
        return conf_fail(c, member(a, "endpoint_url"), NULL, "%s", e.msg);
    }
    /* CreateSession's answer is the session's secret key: the same rule as every AWS endpoint. */
    const char *ra_url = pca->roles_anywhere.endpoint_url;
    if (ra_url != NULL && aws_url_check_endpoint(ra_url, "ca.aws_pca.roles_anywhere.endpoint_url",
                                                 pca->allow_insecure_http, &e) < 0) {
        return conf_fail(c, member(member(a, "roles_anywhere"), "endpoint_url"), NULL, "%s",
                         e.msg);
    }
    return 0;
}

static int parse_root(struct conf_ctx *c, const config_setting_t *root, struct conf *cfg)
{
    if (check_group(c, root, keys_root) != 0 ||
        read_str(c, root, "state_dir", STR_ABSPATH, &cfg->state_dir) != 0) {
        return -1;
    }
    trim_slashes(cfg->state_dir);
    if (parse_agent(c, root, cfg) != 0 || parse_metrics_log_retry(c, root, cfg) != 0 ||
        parse_ca(c, root, cfg) != 0 || parse_hardening(c, root, cfg) != 0 ||
        parse_certificates(c, root, cfg) != 0 ||
        check_roles_anywhere_certificate(c, root, cfg) != 0) {
        return -1;
    }
    return 0;
}

/* ---- public ------------------------------------------------------------------------------- */

static struct conf *conf_new(const char *path)
{
    struct conf *cfg = calloc(1, sizeof(*cfg));
    if (cfg == NULL) {
        return NULL;
    }
    cfg->path = strdup(path);
    cfg->metrics_listen = strdup(CONF_DEFAULT_METRICS);
    cfg->state_dir = strdup(CONF_DEFAULT_STATE_DIR);
    cfg->ca.local.common_name = strdup(CONF_DEFAULT_CA_CN);
    cfg->ca.type = CONF_CA_LOCAL;
    cfg->ca.local.ca_validity_seconds = 3650 * CONF_DAY;
    cfg->ca.aws_pca.rate_per_second = 1.0;
    cfg->ca.aws_pca.burst = 5;
    cfg->ca.aws_pca.poll_timeout_seconds = 120;
    cfg->log_level = MK_LOG_INFO;
    cfg->log_target = MK_LOG_STDERR;
    cfg->retry_min_seconds = 30;
    cfg->retry_max_seconds = 3600;
    if (cfg->path == NULL || cfg->metrics_listen == NULL || cfg->state_dir == NULL ||
        cfg->ca.local.common_name == NULL) {
        conf_free(cfg);
        return NULL;
    }
    return cfg;
}

/* Reports a libconfig read failure: its own message with file and line. */
static void report_read_error(const config_t *lc, const struct conf_ctx *c)
{
    if (config_error_type(lc) == CONFIG_ERR_FILE_IO) {
        mk_err_set(c->err, MK_ERR_IO, "%s: cannot read the file", c->path);
        return;
    }
    char buf[PATH_MAX];
    const char *file = display_file(c->path, c->dir, config_error_file(lc), buf, sizeof(buf));
    mk_err_set(c->err, MK_ERR_CONFIG, "%s:%d: %s", file, config_error_line(lc),
               config_error_text(lc));
}

/* conf_load() and conf_load_text(): text NULL reads path itself. */
static struct conf *load(const char *path, const char *text, struct mk_err *err)
{
    config_t lc;
    struct conf *cfg = NULL;
    struct conf *ret = NULL;
    char *dir = NULL;
    FILE *fp = NULL;
    struct mk_err dropped;
    struct conf_ctx ctx = {.path = path, .err = err != NULL ? err : &dropped};

    config_init(&lc);
    mk_err_clear(ctx.err);
    if (text == NULL) {
        /* Opened once first for a precise errno; libconfig only says "file I/O error". */
        fp = fopen(path, "r");
        MK_ENSURE_ERRNO(fp != NULL, err, MK_ERR_IO, "%s: cannot open", path);
        fclose(fp);
    }
    dir = strdup(path);
    MK_ENSURE(dir != NULL, err, MK_ERR_NOMEM, "%s: out of memory", path);
    /* @include "x.conf" is relative to the including file, not to the daemon's cwd. */
    ctx.dir = dirname(dir);
    config_set_include_dir(&lc, ctx.dir);
    if ((text == NULL ? config_read_file(&lc, path) : config_read_string(&lc, text)) !=
        CONFIG_TRUE) {
        report_read_error(&lc, &ctx);
        goto out;
    }
    cfg = conf_new(path);
    MK_ENSURE(cfg != NULL, err, MK_ERR_NOMEM, "%s: out of memory", path);
    MK_GUARD(parse_root(&ctx, config_root_setting(&lc), cfg));
    ret = cfg;
    cfg = NULL;
out:
    conf_free(cfg);
    config_destroy(&lc);
    free(dir);
    return ret;
}

struct conf *conf_load(const char *path, struct mk_err *err)
{
    return load(path, NULL, err);
}

struct conf *conf_load_text(const char *path, const char *text, struct mk_err *err)
{
    return load(path, text, err);
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i]);
    }
    free(v);
}

static void cert_free(struct conf_certificate *cert)
{
    free(cert->name);
    free(cert->common_name);
    free(cert->organization);
    free(cert->organizational_unit);
    free(cert->locality);
    free(cert->state);
    free(cert->country);
    strv_free(cert->dns_names, cert->n_dns_names);
    strv_free(cert->uris, cert->n_uris);
    strv_free(cert->emails, cert->n_emails);
    struct conf_output *o = &cert->output;
    free(o->directory);
    free(o->key);
    free(o->cert);
    free(o->chain);
    free(o->fullchain);
    free(o->pkcs12);
    free(o->pkcs12_alias);
    free(o->owner);
    free(o->group);
    free(o->key_passphrase_file);
    free(o->pkcs12_password_file);
    argv_free(cert->hook.argv);
}

void conf_free(struct conf *cfg)
{
    if (cfg == NULL) {
        return;
    }
    for (size_t i = 0; i < cfg->n_certs; i++) {
        cert_free(&cfg->certs[i]);
    }
    free(cfg->certs);
    free(cfg->path);
    free(cfg->metrics_listen);
    free(cfg->metrics.tls_cert_file);
    free(cfg->metrics.tls_key_file);
    free(cfg->metrics.client_ca_file);
    free(cfg->state_dir);
    free(cfg->agent_user);
    free(cfg->control_socket);
    /* The ca/ca.h structs hold const pointers, but the strings were strdup'ed by this file. */
    free((char *)cfg->ca.local.directory);
    free((char *)cfg->ca.local.common_name);
    free((char *)cfg->ca.aws_pca.ca_arn);
    free((char *)cfg->ca.aws_pca.region);
    free((char *)cfg->ca.aws_pca.profile);
    free((char *)cfg->ca.aws_pca.endpoint_url);
    free((char *)cfg->ca.aws_pca.ca_bundle);
    free((char *)cfg->ca.aws_pca.template_arn);
    free((char *)cfg->ca.aws_pca.signing_algorithm);
    free((char *)cfg->ca.aws_pca.trust_anchor_file);
    free((char *)cfg->ca.aws_pca.roles_anywhere.trust_anchor_arn);
    free((char *)cfg->ca.aws_pca.roles_anywhere.profile_arn);
    free((char *)cfg->ca.aws_pca.roles_anywhere.role_arn);
    free((char *)cfg->ca.aws_pca.roles_anywhere.certificate);
    free((char *)cfg->ca.aws_pca.roles_anywhere.session_name);
    free((char *)cfg->ca.aws_pca.roles_anywhere.endpoint_url);
    free(cfg);
}

int conf_check_local_ca_moved(const struct conf *cfg, struct mk_err *err)
{
    char old[PATH_MAX];
    char def[PATH_MAX];
    char key[PATH_MAX + 8];
    if (cfg->ca.type != CONF_CA_LOCAL ||
        snprintf(def, sizeof(def), "%s-ca", cfg->state_dir) >= (int)sizeof(def) ||
        strcmp(cfg->ca.local.directory, def) != 0 ||
        snprintf(old, sizeof(old), "%s/ca", cfg->state_dir) >= (int)sizeof(old)) {
        return 0;
    }
    /* A CA at the new place already (made there, or moved by hand) is the one in use. */
    snprintf(key, sizeof(key), "%s/ca.key", def);
    if (access(key, F_OK) == 0) {
        return 0;
    }
    snprintf(key, sizeof(key), "%s/ca.key", old);
    if (access(key, F_OK) != 0) {
        return 0;
    }
    mk_err_set(err, MK_ERR_CONFIG,
               "%s: ca.local.directory: the local CA is in %s, inside state_dir, where the sandbox "
               "keeps the agent from writing its state; the default moved to %s: run 'mv %s %s' "
               "(or set ca.local.directory outside state_dir)",
               cfg->path, old, def, old, def);
    return -1;
}

const struct conf_certificate *conf_find_certificate(const struct conf *cfg, const char *name)
{
    if (cfg == NULL || name == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < cfg->n_certs; i++) {
        if (strcmp(cfg->certs[i].name, name) == 0) {
            return &cfg->certs[i];
        }
    }
    return NULL;
}
