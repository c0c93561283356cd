/* profile.c: the shared config and credentials files; see profile.h. */
#include "aws/profile.h"

#include <ctype.h>
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aws/buf.h"

/* Largest file we read: these files are a few kilobytes. */
#define PROFILE_MAX_SIZE (1024 * 1024)

struct prof_entry {
    char *section; /* profile name; non-profile config sections are stored with a leading ' ' */
    char *key;     /* lower-cased */
    char *value;
};

struct aws_profile_file {
    struct prof_entry *entries;
    size_t n;
    size_t cap;
    char **sections;
    size_t n_sections;
};

void aws_profile_file_free(struct aws_profile_file *f)
{
    if (f == NULL) {
        return;
    }
    for (size_t i = 0; i < f->n; i++) {
        free(f->entries[i].section);
        free(f->entries[i].key);
        aws_str_wipe_free(f->entries[i].value);
    }
    for (size_t i = 0; i < f->n_sections; i++) {
        free(f->sections[i]);
    }
    free(f->sections);
    free(f->entries);
    free(f);
}

static char *dup_range(const char *s, size_t len)
{
    char *p = malloc(len + 1);
    if (p != NULL) {
        memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}

/* Trims s[0..*len) in place of the view: returns the new start, updates *len. */
static const char *trim(const char *s, size_t *len)
{
    while (*len > 0 && isspace((unsigned char)s[0])) {
        s++;
        (*len)--;
    }
    while (*len > 0 && isspace((unsigned char)s[*len - 1])) {
        (*len)--;
    }
    return s;
}

static int add_section(struct aws_profile_file *f, const char *name, struct mk_err *err)
{
    for (size_t i = 0; i < f->n_sections; i++) {
        if (strcmp(f->sections[i], name) == 0) {
            return 0;
        }
    }
    char **s = realloc(f->sections, (f->n_sections + 1) * sizeof(*s));
    MK_ENSURE(s != NULL, err, MK_ERR_NOMEM, "out of memory");
    f->sections = s;
    s[f->n_sections] = strdup(name);
    MK_ENSURE(s[f->n_sections] != NULL, err, MK_ERR_NOMEM, "out of memory");
    f->n_sections++;
    return 0;
out:
    return -1;
}

/* Sets section.key = value; a later line wins over an earlier one. */
static int add_entry(struct aws_profile_file *f, const char *section, const char *key, size_t klen,
                     const char *value, size_t vlen, struct mk_err *err)
{
    char *k = dup_range(key, klen);
    char *v = dup_range(value, vlen);
    char *s = strdup(section);
    if (k == NULL || v == NULL || s == NULL) {
        goto nomem;
    }
    for (char *c = k; *c != '\0'; c++) {
        *c = (char)tolower((unsigned char)*c);
    }
    for (size_t i = 0; i < f->n; i++) {
        if (strcmp(f->entries[i].section, s) == 0 && strcmp(f->entries[i].key, k) == 0) {
            aws_str_wipe_free(f->entries[i].value);
            f->entries[i].value = v;
            free(k);
            free(s);
            return 0;
        }
    }
    if (f->n == f->cap) {
        size_t cap = f->cap == 0 ? 16 : f->cap * 2;
        struct prof_entry *e = realloc(f->entries, cap * sizeof(*e));
        if (e == NULL) {
            goto nomem;
        }
        f->entries = e;
        f->cap = cap;
    }
    f->entries[f->n++] = (struct prof_entry){s, k, v};
    return 0;
nomem:
    free(k);
    aws_str_wipe_free(v);
    free(s);
    mk_err_set(err, MK_ERR_NOMEM, "out of memory");
    return -1;
}

/*
 * "[name]" or, in the config file, "[default]" / "[profile name]".  Other config sections
 * ("[sso-session x]", "[services x]") are kept under a name no profile can have.
 */
static int parse_section(struct aws_profile_file *f, const char *line, size_t len, const char *name,
                         int lineno, int is_config, char *out, size_t cap, struct mk_err *err)
{
    if (len < 2 || line[len - 1] != ']') {
        mk_err_set(err, MK_ERR_CONFIG, "%s:%d: section header must end with ']'", name, lineno);
        return -1;
    }
    size_t n = len - 2;
    const char *s = trim(line + 1, &n);
    if (n == 0) {
        mk_err_set(err, MK_ERR_CONFIG, "%s:%d: empty section name", name, lineno);
        return -1;
    }
    int other = 0;
    if (is_config && !(n == 7 && strncmp(s, "default", 7) == 0)) {
        if (n > 8 && strncmp(s, "profile", 7) == 0 && isspace((unsigned char)s[7])) {
            s += 8;
            n -= 8;
            s = trim(s, &n);
        } else {
            other = 1;
        }
    }
    if (n + 2 > cap) {
        mk_err_set(err, MK_ERR_CONFIG, "%s:%d: section name too long", name, lineno);
        return -1;
    }
    snprintf(out, cap, "%s%.*s", other ? " " : "", (int)n, s);
    return add_section(f, out, err);
}

static int parse_line(struct aws_profile_file *f, const char *raw, size_t rawlen, const char *name,
                      int lineno, int is_config, char *section, size_t cap, int *have_prop,
                      struct mk_err *err)
{
    size_t len = rawlen;
    int indented = rawlen > 0 && (raw[0] == ' ' || raw[0] == '\t');
    const char *line = trim(raw, &len);
    if (len == 0 || line[0] == '#' || line[0] == ';') {
        return 0;
    }
    if (indented && *have_prop) {
        /* A continuation or sub-property line (e.g. under "s3 ="): kept out of the lookup. */
        return 0;
    }
    if (line[0] == '[') {
        *have_prop = 0;
        return parse_section(f, line, len, name, lineno, is_config, section, cap, err);
    }
    if (section[0] == '\0') {
        mk_err_set(err, MK_ERR_CONFIG, "%s:%d: property outside a [section]", name, lineno);
        return -1;
    }
    const char *eq = memchr(line, '=', len);
    if (eq == NULL) {
        mk_err_set(err, MK_ERR_CONFIG, "%s:%d: expected 'key = value'", name, lineno);
        return -1;
    }
    size_t klen = (size_t)(eq - line);
    const char *key = trim(line, &klen);
    if (klen == 0) {
        mk_err_set(err, MK_ERR_CONFIG, "%s:%d: empty property name", name, lineno);
        return -1;
    }
    size_t vlen = len - (size_t)(eq - line) - 1;
    const char *val = trim(eq + 1, &vlen);
    *have_prop = 1;
    return add_entry(f, section, key, klen, val, vlen, err);
}

struct aws_profile_file *aws_profile_file_parse(const char *text, const char *name, int is_config,
                                                struct mk_err *err)
{
    struct aws_profile_file *f = calloc(1, sizeof(*f));
    char section[256] = "";
    int have_prop = 0;
    int lineno = 0;
    if (f == NULL) {
        mk_err_set(err, MK_ERR_NOMEM, "out of memory");
        return NULL;
    }
    const char *p = text;
    while (*p != '\0') {
        size_t len = strcspn(p, "\n");
        lineno++;
        if (parse_line(f, p, len, name, lineno, is_config, section, sizeof(section), &have_prop,
                       err) != 0) {
            aws_profile_file_free(f);
            return NULL;
        }
        p += len;
        if (*p == '\n') {
            p++;
        }
    }
    return f;
}

struct aws_profile_file *aws_profile_file_load(const char *path, int is_config, struct mk_err *err)
{
    struct aws_profile_file *f = NULL;
    struct aws_buf b = {0};
    char chunk[4096];
    FILE *fp = fopen(path, "re");
    if (fp == NULL) {
        if (errno == ENOENT || errno == ENOTDIR) {
            return aws_profile_file_parse("", path, is_config, err);
        }
        mk_err_errno(err, MK_ERR_IO, "%s: cannot open", path);
        return NULL;
    }
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
        MK_ENSURE(b.len + n <= PROFILE_MAX_SIZE, err, MK_ERR_CONFIG, "%s: file too large", path);
        MK_ENSURE(memchr(chunk, '\0', n) == NULL, err, MK_ERR_CONFIG, "%s: NUL byte in file", path);
        MK_GUARD(aws_buf_append(&b, chunk, n, err));
    }
    MK_ENSURE_ERRNO(!ferror(fp), err, MK_ERR_IO, "%s: read", path);
    f = aws_profile_file_parse(b.data != NULL ? b.data : "", path, is_config, err);
out:
    explicit_bzero(chunk, sizeof(chunk));
    fclose(fp);
    aws_buf_free(&b);
    return f;
}

int aws_profile_has(const struct aws_profile_file *f, const char *profile)
{
    if (f == NULL || profile == NULL) {
        return 0;
    }
    for (size_t i = 0; i < f->n_sections; i++) {
        if (strcmp(f->sections[i], profile) == 0) {
            return 1;
        }
    }
    return 0;
}

const char *aws_profile_get(const struct aws_profile_file *f, const char *profile, const char *key)
{
    if (f == NULL || profile == NULL || key == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < f->n; i++) {
        if (strcmp(f->entries[i].section, profile) == 0 && strcmp(f->entries[i].key, key) == 0) {
            return f->entries[i].value;
        }
    }
    return NULL;
}

/* $HOME, else the password database's home directory. */
static const char *home_dir(void)
{
    const char *home = getenv("HOME");
    if (home != NULL && home[0] != '\0') {
        return home;
    }
    struct passwd *pw = getpwuid(getuid());
    return pw != NULL ? pw->pw_dir : "/";
}

/* The file from env var, or ~/.aws/<leaf>; "~/" at the start is expanded as the CLI does. */
static int file_path(const char *env, const char *leaf, char *out, size_t cap, struct mk_err *err)
{
    const char *v = getenv(env);
    int n;
    if (v != NULL && v[0] != '\0') {
        if (strncmp(v, "~/", 2) == 0) {
            n = snprintf(out, cap, "%s/%s", home_dir(), v + 2);
        } else {
            n = snprintf(out, cap, "%s", v);
        }
    } else {
        n = snprintf(out, cap, "%s/.aws/%s", home_dir(), leaf);
    }
    if (n < 0 || (size_t)n >= cap) {
        mk_err_set(err, MK_ERR_CONFIG, "%s: path too long", env);
        return -1;
    }
    return 0;
}

int aws_profiles_load(struct aws_profiles *ps, struct mk_err *err)
{
    char path[4096];
    memset(ps, 0, sizeof(*ps));
    MK_GUARD(file_path("AWS_CONFIG_FILE", "config", path, sizeof(path), err));
    ps->config = aws_profile_file_load(path, 1, err);
    MK_GUARD_PTR(ps->config);
    MK_GUARD(file_path("AWS_SHARED_CREDENTIALS_FILE", "credentials", path, sizeof(path), err));
    ps->credentials = aws_profile_file_load(path, 0, err);
    MK_GUARD_PTR(ps->credentials);
    return 0;
out:
    aws_profiles_clear(ps);
    return -1;
}

void aws_profiles_clear(struct aws_profiles *ps)
{
    if (ps == NULL) {
        return;
    }
    aws_profile_file_free(ps->config);
    aws_profile_file_free(ps->credentials);
    ps->config = NULL;
    ps->credentials = NULL;
}

const char *aws_profiles_get(const struct aws_profiles *ps, const char *profile, const char *key)
{
    const char *v = aws_profile_get(ps->credentials, profile, key);
    return v != NULL ? v : aws_profile_get(ps->config, profile, key);
}

int aws_profiles_has(const struct aws_profiles *ps, const char *profile)
{
    return aws_profile_has(ps->credentials, profile) || aws_profile_has(ps->config, profile);
}

const char *aws_profile_name(const char *explicit_name)
{
    if (explicit_name != NULL && explicit_name[0] != '\0') {
        return explicit_name;
    }
    const char *env = getenv("AWS_PROFILE");
    if (env != NULL && env[0] != '\0') {
        return env;
    }
    return "default";
}
