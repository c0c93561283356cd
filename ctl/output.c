/* output.c: see output.h. */
#include "ctl/output.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include <openssl/err.h>

#include "ctl/ctl.h"
#include "pki/log.h"
#include "pki/store.h"

static enum ctl_verbosity verbosity = CTL_NORMAL;
static int verbosity_given; /* 'q' or 'v' seen, to refuse both */

int ctl_usage_error(const char *cmd, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "mskpkictl %s: %s (see mskpkictl %s --help)\n", cmd, msg, cmd);
    return CTL_EXIT_USAGE;
}

/* The long option that arg ("--name" or "--name=value") spells out in full, or NULL. */
static const struct option *exact_option(const char *arg, const struct option *longopts)
{
    size_t l = strcspn(arg + 2, "=");
    for (const struct option *o = longopts; o->name != NULL; o++) {
        if (strlen(o->name) == l && strncmp(arg + 2, o->name, l) == 0) {
            return o;
        }
    }
    return NULL;
}

int ctl_options_check(int argc, char **argv, const struct option *longopts, struct mk_err *err)
{
    optind = 1;
    opterr = 0;
    for (int i = 1; i < argc; i++) {
        const struct option *o;
        if (strcmp(argv[i], "--") == 0) {
            return 0;
        }
        if (strncmp(argv[i], "--", 2) != 0) {
            continue;
        }
        o = exact_option(argv[i], longopts);
        if (o == NULL) {
            size_t l = strcspn(argv[i], "=");
            mk_err_set(err, MK_ERR_USAGE, "unknown option '%.*s' (options are not abbreviated)",
                       (int)(l < 200 ? l : 200), argv[i]);
            return -1;
        }
        if (o->has_arg == required_argument && strchr(argv[i], '=') == NULL) {
            i++; /* the value, whatever it looks like */
        }
    }
    return 0;
}

int ctl_options_begin(const char *cmd, int argc, char **argv, const struct option *longopts)
{
    struct mk_err err = {0};
    if (ctl_options_check(argc, argv, longopts, &err) != 0) {
        return ctl_usage_error(cmd, "%s", err.msg);
    }
    return 0;
}

int ctl_option_error(const char *cmd, int ch, int argc, char **argv)
{
    const char *word = optind - 1 < argc && optind > 0 ? argv[optind - 1] : "?";
    if (ch == ':') {
        return ctl_usage_error(cmd, "%s needs a value", word);
    }
    return ctl_usage_error(cmd, "unknown option '%s'", word);
}

int ctl_exit_for(const struct mk_err *err)
{
    switch (err->code) {
    case MK_ERR_USAGE:
    case MK_ERR_CONFIG:
    case MK_ERR_PERM:
        return CTL_EXIT_USAGE;
    case MK_ERR_NET:
    case MK_ERR_TIMEOUT:
    case MK_ERR_CREDS:
    case MK_ERR_PENDING:
    case MK_ERR_IO:
    case MK_ERR_NOMEM:
        return CTL_EXIT_UNAVAILABLE;
    default:
        return CTL_EXIT_FINDINGS;
    }
}

int ctl_write_report(const char *opt, const char *path, const char *data, size_t len,
                     struct mk_err *err)
{
    if (pki_store_write_file(path, data, len, 0644, (uid_t)-1, (gid_t)-1, err) != 0) {
        mk_err_prefix(err, "%s %s", opt, path);
        return -1;
    }
    return 0;
}

void ctl_time_rfc3339(long long t, char *buf, size_t cap)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (gmtime_r(&tt, &tm) == NULL || strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
        snprintf(buf, cap, "%lld", t);
    }
}

int ctl_format_table_json(const char *cmd, const char *value, int *json)
{
    if (strcmp(value, "table") == 0 || strcmp(value, "json") == 0) {
        *json = value[0] == 'j';
        return 0;
    }
    return ctl_usage_error(cmd, "--format: expected table or json, got '%s'", value);
}

void ctl_xml_put(FILE *out, const char *s)
{
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        switch (c) {
        case '&':
            fputs("&amp;", out);
            break;
        case '<':
            fputs("&lt;", out);
            break;
        case '>':
            fputs("&gt;", out);
            break;
        case '"':
            fputs("&quot;", out);
            break;
        case '\'':
            fputs("&apos;", out);
            break;
        case '\n':
        case '\t':
            fputc(c, out);
            break;
        default:
            fputc(c < 0x20 || c == 0x7f ? '?' : c, out);
            break;
        }
    }
}

int ctl_verbosity_option(const char *cmd, int ch)
{
    enum ctl_verbosity v = ch == 'q' ? CTL_QUIET : CTL_VERBOSE;
    if (verbosity_given && verbosity != v) {
        return ctl_usage_error(cmd, "--quiet and --verbose exclude each other");
    }
    verbosity_given = 1;
    verbosity = v;
    return 0;
}

void ctl_verbosity_set(enum ctl_verbosity v)
{
    verbosity = v;
    verbosity_given = v != CTL_NORMAL;
}

enum ctl_verbosity ctl_verbosity_get(void)
{
    return verbosity;
}

void ctl_log_begin(int floor)
{
    enum mk_log_level level = floor > MK_LOG_WARN && floor < MK_LOG__MAX
                                  ? (enum mk_log_level)floor
                                  : MK_LOG_WARN;
    if (verbosity == CTL_QUIET) {
        level = MK_LOG_ERROR;
    } else if (verbosity == CTL_VERBOSE) {
        level = MK_LOG_DEBUG;
    }
    mk_log_setup(level, MK_LOG_STDERR, "mskpkictl");
}

void ctl_err_ossl(struct mk_err *err, enum mk_code code, const char *fmt, ...)
{
    char what[384];
    char reason[256] = "";
    unsigned long e;
    unsigned long first = 0;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    /* Oldest first: the first entry is the cause, the rest the layers it went through. */
    while ((e = ERR_get_error()) != 0) {
        char line[256];
        if (first == 0) {
            first = e;
        }
        ERR_error_string_n(e, line, sizeof(line));
        mk_log(MK_LOG_DEBUG, "openssl.error", "what=\"%.200s\" entry=\"%s\"", what, line);
    }
    if (first != 0 && ERR_SYSTEM_ERROR(first)) {
        snprintf(reason, sizeof(reason), "%s", strerror(ERR_GET_REASON(first)));
    } else if (first != 0 && ERR_reason_error_string(first) != NULL) {
        snprintf(reason, sizeof(reason), "%s", ERR_reason_error_string(first));
    } else if (first != 0) {
        ERR_error_string_n(first, reason, sizeof(reason));
    }
    if (reason[0] != '\0') {
        mk_err_set(err, code, "%s: %s", what, reason);
    } else {
        mk_err_set(err, code, "%s", what);
    }
}

/* Whether s starts an OpenSSL error string: "error:" and 8 hex digits and ':'. */
static int ossl_entry_at(const char *s)
{
    if (strncmp(s, "error:", 6) != 0) {
        return 0;
    }
    for (int i = 6; i < 14; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'F') ||
              (s[i] >= 'a' && s[i] <= 'f'))) {
            return 0;
        }
    }
    return s[14] == ':';
}

const char *ctl_err_condense(struct mk_err *err)
{
    char *start = NULL;
    for (char *p = strstr(err->msg, "error:"); p != NULL; p = strstr(p + 1, "error:")) {
        if (ossl_entry_at(p)) {
            start = p;
            break;
        }
    }
    if (start == NULL) {
        return err->msg;
    }
    /* The entry is error:CODE:LIB:FUNC:REASON (FUNC empty in OpenSSL 3); it ends at "; ". */
    size_t len = strcspn(start, ";");
    char entry[256];
    snprintf(entry, sizeof(entry), "%.*s", (int)(len < sizeof(entry) ? len : sizeof(entry) - 1),
             start);
    char *reason = strrchr(entry, ':');
    reason = reason != NULL && reason[1] != '\0' ? reason + 1 : entry;
    mk_log(MK_LOG_DEBUG, "openssl.error", "stack=\"%.400s\"", start);
    size_t keep = (size_t)(start - err->msg);
    snprintf(start, sizeof(err->msg) - keep, "%s", reason);
    return err->msg;
}

void ctl_print_err(const char *cmd, struct mk_err *err)
{
    fprintf(stderr, "mskpkictl %s: %s\n", cmd, ctl_err_condense(err));
}
