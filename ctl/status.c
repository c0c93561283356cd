/*
 * status.c: `mskpkictl status`: what the agent says about each certificate it manages.
 *
 * For each certificate in the agent's config it reads <state_dir>/<name>.json (written by the
 * agent, schema in agent/state.h and docs/probe.md) and prints the facts an SRE needs: subject,
 * serial, expiry and time left, next renewal, last attempt and result, consecutive failures.
 * The parser here is separate from the agent's on purpose: the ctl must not link the agent, and a
 * strict second reader catches schema drift.  A bad state file is reported in one line naming the
 * file and field, and counts as a problem for that certificate only.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "conf/conf.h"
#include "ctl/control.h"
#include "ctl/ctl.h"
#include "ctl/output.h"
#include "pki/text.h"
#include "ctl/status-int.h"
#include "pki/err.h"

#define STATUS_MAX_FILE (1024 * 1024)
#define DAY_SECONDS 86400L

enum status_format { STATUS_FORMAT_TABLE, STATUS_FORMAT_JSON };

static const char *const kind_names[STATUS__MAX] = {
    "ok",        "renewal_due", "renewal_overdue", "expiring",
    "expired",   "not_ready",   "missing",         "malformed", "unreadable",
};

static int get_string(json_t *o, const char *path, const char *key, char *dst, size_t cap,
                      int nullable, int *is_set, struct mk_err *err)
{
    json_t *v = json_object_get(o, key);
    if (v == NULL) {
        mk_err_set(err, MK_ERR_INVALID, "%s: field '%s' is missing", path, key);
        return -1;
    }
    if (nullable && json_is_null(v)) {
        dst[0] = '\0';
        if (is_set != NULL) {
            *is_set = 0;
        }
        return 0;
    }
    if (!json_is_string(v)) {
        mk_err_set(err, MK_ERR_INVALID, "%s: field '%s' must be a string%s", path, key,
                   nullable ? " or null" : "");
        return -1;
    }
    size_t len = json_string_length(v);
    if (len >= cap || memchr(json_string_value(v), '\0', len) != NULL) {
        mk_err_set(err, MK_ERR_INVALID, "%s: field '%s' is too long or has a NUL", path, key);
        return -1;
    }
    memcpy(dst, json_string_value(v), len + 1);
    if (is_set != NULL) {
        *is_set = 1;
    }
    return 0;
}

static int get_count(json_t *o, const char *path, const char *key, long long *dst,
                     struct mk_err *err)
{
    json_t *v = json_object_get(o, key);
    if (v == NULL) {
        mk_err_set(err, MK_ERR_INVALID, "%s: field '%s' is missing", path, key);
        return -1;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        mk_err_set(err, MK_ERR_INVALID, "%s: field '%s' must be a non-negative integer", path, key);
        return -1;
    }
    *dst = (long long)json_integer_value(v);
    return 0;
}

/*
 * Parses a state file's text strictly: every schema field present with its type, version 1, name
 * equal to expect_name (when not NULL).  Unknown fields are ignored (newer agents may add some).
 * Errors are MK_ERR_INVALID "PATH: field 'x' ...".  *out is scratch on failure.
 */
MK_TESTABLE int ctl_status_parse_state(const char *path, const char *text, size_t len,
                                       const char *expect_name, struct status_state *out,
                                       struct mk_err *err)
{
    int rc = -1;
    json_error_t jerr;
    long long version = 0;
    memset(out, 0, sizeof(*out));
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    MK_ENSURE(o != NULL, err, MK_ERR_INVALID, "%s:%d: not valid JSON: %s", path, jerr.line,
              jerr.text);
    MK_ENSURE(json_is_object(o), err, MK_ERR_INVALID, "%s: not a JSON object", path);
    MK_GUARD(get_count(o, path, "version", &version, err));
    MK_ENSURE(version == 1, err, MK_ERR_INVALID, "%s: field 'version': %lld is not supported (1)",
              path, version);
    json_t *ready = json_object_get(o, "ready");
    MK_ENSURE(ready != NULL, err, MK_ERR_INVALID, "%s: field 'ready' is missing", path);
    MK_ENSURE(json_is_boolean(ready), err, MK_ERR_INVALID, "%s: field 'ready' must be a boolean",
              path);
    out->ready = json_is_true(ready);
    MK_GUARD(get_string(o, path, "name", out->name, sizeof(out->name), 0, NULL, err));
    MK_GUARD(get_string(o, path, "ca", out->ca, sizeof(out->ca), 0, NULL, err));
    MK_GUARD(get_string(o, path, "subject", out->subject, sizeof(out->subject), 0, NULL, err));
    MK_GUARD(get_string(o, path, "issuer", out->issuer, sizeof(out->issuer), 0, NULL, err));
    MK_GUARD(get_string(o, path, "serial", out->serial, sizeof(out->serial), 0, NULL, err));
    MK_GUARD(get_count(o, path, "not_before", &out->not_before, err));
    MK_GUARD(get_count(o, path, "not_after", &out->not_after, err));
    MK_GUARD(get_count(o, path, "next_renewal", &out->next_renewal, err));
    MK_GUARD(get_count(o, path, "last_attempt", &out->last_attempt, err));
    MK_GUARD(get_count(o, path, "last_success", &out->last_success, err));
    MK_GUARD(get_string(o, path, "last_result", out->last_result, sizeof(out->last_result), 0, NULL,
                        err));
    MK_ENSURE(strcmp(out->last_result, "success") == 0 ||
                  strcmp(out->last_result, "failure") == 0 || strcmp(out->last_result, "none") == 0,
              err, MK_ERR_INVALID, "%s: field 'last_result': '%s' is not success, failure or none",
              path, out->last_result);
    MK_GUARD(get_string(o, path, "last_error", out->last_error, sizeof(out->last_error), 1,
                        &out->has_last_error, err));
    MK_GUARD(get_count(o, path, "consecutive_failures", &out->consecutive_failures, err));
    MK_GUARD(get_count(o, path, "generation", &out->generation, err));
    MK_GUARD(
        get_string(o, path, "cert_path", out->cert_path, sizeof(out->cert_path), 0, NULL, err));
    MK_GUARD(get_count(o, path, "updated", &out->updated, err));
    MK_ENSURE(expect_name == NULL || strcmp(out->name, expect_name) == 0, err, MK_ERR_INVALID,
              "%s: field 'name': '%s' is not certificate '%s'", path, out->name, expect_name);
    rc = 0;
out:
    json_decref(o);
    return rc;
}

/* Reads and parses <dir>/<name>.json.  MK_ERR_NOTFOUND when there is no such file. */
static int load_state(const char *path, const char *name, struct status_state *st,
                      struct mk_err *err)
{
    int rc = -1;
    char *buf = NULL;
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        mk_err_errno(err, errno == ENOENT ? MK_ERR_NOTFOUND : MK_ERR_IO, "%s", path);
        return -1;
    }
    buf = malloc(STATUS_MAX_FILE + 1);
    MK_ENSURE(buf != NULL, err, MK_ERR_NOMEM, "%s: out of memory", path);
    size_t n = fread(buf, 1, STATUS_MAX_FILE + 1, f);
    MK_ENSURE_ERRNO(!ferror(f), err, MK_ERR_IO, "%s: cannot read", path);
    MK_ENSURE(n <= STATUS_MAX_FILE, err, MK_ERR_INVALID, "%s: larger than %d bytes", path,
              STATUS_MAX_FILE);
    MK_GUARD(ctl_status_parse_state(path, buf, n, name, st, err));
    rc = 0;
out:
    free(buf);
    fclose(f);
    return rc;
}

/* The agent's view of name from status --live's array (same schema as the state file). */
static int live_state(json_t *certs, const char *where, const char *name, struct status_state *st,
                      struct mk_err *err)
{
    size_t i;
    json_t *o;
    int rc;

    json_array_foreach(certs, i, o) {
        const char *n = json_string_value(json_object_get(o, "name"));
        if (n != NULL && strcmp(n, name) == 0) {
            char *text = json_dumps(o, JSON_COMPACT);
            if (text == NULL) {
                mk_err_set(err, MK_ERR_NOMEM, "out of memory");
                return -1;
            }
            rc = ctl_status_parse_state(where, text, strlen(text), name, st, err);
            free(text);
            return rc;
        }
    }
    mk_err_set(err, MK_ERR_NOTFOUND, "%s: no certificate '%s'", where, name);
    return -1;
}

/* "2026-11-25T04:06:00Z", or "never" for 0. */
static void fmt_time(long long t, char *buf, size_t cap)
{
    if (t <= 0) {
        snprintf(buf, cap, "never");
        return;
    }
    ctl_time_rfc3339(t, buf, cap);
}

/* "12d 3h", "3h 20m", "45m", "30s". */
static void fmt_span(long long s, char *buf, size_t cap)
{
    if (s < 0) {
        s = -s;
    }
    if (s >= DAY_SECONDS) {
        snprintf(buf, cap, "%lldd %lldh", s / DAY_SECONDS, (s % DAY_SECONDS) / 3600);
    } else if (s >= 3600) {
        snprintf(buf, cap, "%lldh %lldm", s / 3600, (s % 3600) / 60);
    } else if (s >= 60) {
        snprintf(buf, cap, "%lldm", s / 60);
    } else {
        snprintf(buf, cap, "%llds", s);
    }
}

#ifdef MK_TESTING
long long ctl_status_test_now;
#endif

/* The verdict for a parsed state at time now: the renewal plan's (pki/renewal.h), so that a
 * 90-second certificate and a one-year one are judged by the same rule as the alert rules. */
MK_TESTABLE enum status_kind ctl_status_judge(const struct status_state *st, long long now,
                                              double fraction, long renew_before, long retry_min,
                                              long retry_max, long warn_days)
{
    struct pki_renewal_plan plan;
    enum status_kind kind;

    if (!st->ready || st->not_after == 0) {
        return STATUS_NOT_READY;
    }
    pki_renewal_plan((time_t)st->not_before, (time_t)st->not_after, fraction, renew_before,
                     retry_min, retry_max, &plan);
    switch (pki_renewal_judge(&plan, (time_t)now)) {
    case PKI_RENEWAL_OK:
        kind = STATUS_OK;
        break;
    case PKI_RENEWAL_DUE:
        kind = STATUS_RENEWAL_DUE;
        break;
    case PKI_RENEWAL_OVERDUE:
        kind = STATUS_RENEWAL_OVERDUE;
        break;
    case PKI_RENEWAL_EXPIRING:
        kind = STATUS_EXPIRING;
        break;
    case PKI_RENEWAL_EXPIRED:
    default:
        kind = STATUS_EXPIRED;
        break;
    }
    /* --warn-days: an extra, absolute floor for those who want one. */
    if (kind < STATUS_EXPIRING && warn_days > 0 &&
        st->not_after - now <= (long long)warn_days * DAY_SECONDS) {
        kind = STATUS_EXPIRING;
    }
    return kind;
}

/* Exit 0 for these: a renewal in progress is the plan working, not a finding. */
static int kind_fine(enum status_kind k)
{
    return k == STATUS_OK || k == STATUS_RENEWAL_DUE;
}

struct status_entry {
    const char *name; /* borrowed from the config */
    char path[1100];
    enum status_kind kind;
    char error[1200]; /* why the state file could not be used */
    struct status_state st;
};

/* "2026-12-20T03:17:41Z (in 24d 22h)" / "(5d 0h ago)", or "never". */
static void fmt_when(long long t, long long now, char *buf, size_t cap)
{
    char abs[40], span[40];
    if (t <= 0) {
        snprintf(buf, cap, "never");
        return;
    }
    fmt_time(t, abs, sizeof(abs));
    fmt_span(t - now, span, sizeof(span));
    snprintf(buf, cap, t > now ? "%s (in %s)" : "%s (%s ago)", abs, span);
}

/* Prints a value from the state file with control characters replaced: it is agent-written text
 * (an AWS error message, a subject) and must not be able to forge lines of this report. */
static void print_field(const char *label, const char *value)
{
    printf("  %-17s ", label);
    for (const char *p = value; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        putchar(c < 0x20 || c == 0x7f ? '?' : c);
    }
    putchar('\n');
}

static void print_table(const struct status_entry *e, size_t n, long long now)
{
    for (size_t i = 0; i < n; i++) {
        const struct status_entry *x = &e[i];
        char buf[128], span[40];
        printf("%s%s: %s\n", i > 0 ? "\n" : "", x->name, kind_names[x->kind]);
        if (x->kind >= STATUS_MISSING) {
            print_field("state file:", x->error);
            continue;
        }
        const struct status_state *s = &x->st;
        print_field("subject:", s->subject[0] != '\0' ? s->subject : "-");
        print_field("issuer:", s->issuer[0] != '\0' ? s->issuer : "-");
        print_field("serial:", s->serial[0] != '\0' ? s->serial : "-");
        print_field("ca:", s->ca);
        print_field("ready:", s->ready ? "yes" : "no");
        if (s->not_after > 0) {
            fmt_time(s->not_after, buf, sizeof(buf));
            print_field("not after:", buf);
            fmt_span(s->not_after - now, span, sizeof(span));
            snprintf(buf, sizeof(buf), s->not_after > now ? "%s" : "expired %s ago", span);
            print_field("time left:", buf);
        } else {
            print_field("not after:", "-");
            print_field("time left:", "-");
        }
        fmt_when(s->next_renewal, now, buf, sizeof(buf));
        print_field("next renewal:", buf);
        fmt_when(s->last_attempt, now, buf, sizeof(buf));
        print_field("last attempt:", buf);
        print_field("last result:", s->last_result);
        if (s->has_last_error) {
            print_field("last error:", s->last_error);
        }
        snprintf(buf, sizeof(buf), "%lld", s->consecutive_failures);
        print_field("failures in row:", buf);
    }
}

static json_t *time_or_null(long long t)
{
    return t > 0 ? json_integer((json_int_t)t) : json_null();
}

static int print_json(const struct status_entry *e, size_t n, long long now, long warn_days,
                      int exit_code)
{
    int rc = -1;
    json_t *root = json_object();
    json_t *arr = json_array();
    size_t bad = 0;
    if (root == NULL || arr == NULL) {
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const struct status_entry *x = &e[i];
        const struct status_state *s = &x->st;
        int usable = x->kind < STATUS_MISSING;
        bad += !kind_fine(x->kind);
        json_t *o =
            json_pack("{s:s, s:s, s:s, s:o}", "name", x->name, "state_file", x->path, "status",
                      kind_names[x->kind], "error", usable ? json_null() : json_string(x->error));
        if (o == NULL) {
            goto out;
        }
        if (usable) {
            json_object_set_new(o, "ready", json_boolean(s->ready));
            json_object_set_new(o, "ca", json_string(s->ca));
            json_object_set_new(o, "subject", json_string(s->subject));
            json_object_set_new(o, "issuer", json_string(s->issuer));
            json_object_set_new(o, "serial", json_string(s->serial));
            json_object_set_new(o, "not_after", time_or_null(s->not_after));
            json_object_set_new(o, "seconds_left",
                                s->not_after > 0 ? json_integer(s->not_after - now) : json_null());
            json_object_set_new(o, "next_renewal", time_or_null(s->next_renewal));
            json_object_set_new(o, "last_attempt", time_or_null(s->last_attempt));
            json_object_set_new(o, "last_success", time_or_null(s->last_success));
            json_object_set_new(o, "last_result", json_string(s->last_result));
            json_object_set_new(o, "last_error",
                                s->has_last_error ? json_string(s->last_error) : json_null());
            json_object_set_new(o, "consecutive_failures", json_integer(s->consecutive_failures));
            json_object_set_new(o, "generation", json_integer(s->generation));
        }
        json_array_append_new(arr, o);
    }
    json_object_set_new(root, "certificates", arr);
    arr = NULL;
    json_object_set_new(root, "summary",
                        json_pack("{s:I, s:I, s:I, s:i}", "total", (json_int_t)n, "problems",
                                  (json_int_t)bad, "warn_days", (json_int_t)warn_days, "exit_code",
                                  exit_code));
    if (json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0) {
        goto out;
    }
    fputc('\n', stdout);
    rc = 0;
out:
    json_decref(arr);
    json_decref(root);
    return rc;
}

int ctl_status_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"format", required_argument, NULL, 'f'},
        {"warn-days", required_argument, NULL, 'w'},
        CTL_VERBOSITY_OPTIONS,
        {"live", no_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = CONF_DEFAULT_PATH;
    enum status_format format = STATUS_FORMAT_TABLE;
    int json = 0;
    long warn_days = 0;
    int live = 0;
    json_t *live_certs = NULL;
    struct mk_err err = {0};
    struct conf *cfg = NULL;
    struct status_entry *entries = NULL;
    int rc = CTL_EXIT_UNAVAILABLE;
    int ch;
    if (ctl_options_begin("status", argc, argv, longopts) != 0) {
        return CTL_EXIT_USAGE;
    }
    while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            config = optarg;
            break;
        case 'f':
            if (ctl_format_table_json("status", optarg, &json) != 0) {
                return CTL_EXIT_USAGE;
            }
            format = json ? STATUS_FORMAT_JSON : STATUS_FORMAT_TABLE;
            break;
        case 'w':
            if (mk_parse_long(optarg, 0, 3650, &warn_days) != 0) {
                return ctl_usage_error("status", "--warn-days: expected 0..3650, got '%s'", optarg);
            }
            break;
        case 'q':
        case 'v':
            if (ctl_verbosity_option("status", ch) != 0) {
                return CTL_EXIT_USAGE;
            }
            break;
        case 'l':
            live = 1;
            break;
        case 'h':
            printf("usage: mskpkictl status [--config FILE] [--format table|json] "
                   "[--warn-days N] [--live] " CTL_VERBOSITY_USAGE "\n"
                   "  --live  the running agent's own view, through its control socket"
                   " (3: no agent)\n");
            return CTL_EXIT_OK;
        case ':':
        default:
            return ctl_option_error("status", ch, argc, argv);
        }
    }
    if (optind < argc) {
        return ctl_usage_error("status", "unexpected argument '%s'", argv[optind]);
    }
    ctl_log_begin(0);
    cfg = conf_load(config, &err);
    if (cfg == NULL) {
        /* A wrong setting is the caller's to fix (2, as for every config error); a file that
         * cannot be read means the status could not be taken (3). */
        ctl_print_err("status", &err);
        rc = err.code == MK_ERR_CONFIG ? CTL_EXIT_USAGE : CTL_EXIT_UNAVAILABLE;
        goto out;
    }
    /* --live: the same report from the agent's memory instead of its state files. */
    if (live) {
        int r = ctl_control_status(cfg, &live_certs, &err);
        if (r != 0) {
            fprintf(stderr, "mskpkictl status: %s\n",
                    r > 0 ? "--live: no mskpki-agent of this state_dir answers on control.socket"
                          : err.msg);
            rc = CTL_EXIT_UNAVAILABLE;
            goto out;
        }
    }
    entries = calloc(cfg->n_certs, sizeof(*entries));
    if (entries == NULL) {
        fprintf(stderr, "mskpkictl status: out of memory\n");
        goto out;
    }
    long long now = (long long)time(NULL);
#ifdef MK_TESTING
    if (ctl_status_test_now != 0) {
        now = ctl_status_test_now;
    }
#endif
    int all_ok = 1;
    for (size_t i = 0; i < cfg->n_certs; i++) {
        struct status_entry *x = &entries[i];
        x->name = cfg->certs[i].name;
        snprintf(x->path, sizeof(x->path), "%s/%s.json", cfg->state_dir, x->name);
        if (live) {
            snprintf(x->path, sizeof(x->path), "%s", cfg->control_socket);
        }
        if ((live ? live_state(live_certs, x->path, x->name, &x->st, &err)
                  : load_state(x->path, x->name, &x->st, &err)) != 0) {
            x->kind = err.code == MK_ERR_NOTFOUND ? STATUS_MISSING
                      : err.code == MK_ERR_IO     ? STATUS_UNREADABLE
                                                  : STATUS_MALFORMED;
            if (x->kind == STATUS_MISSING && live) {
                snprintf(x->error, sizeof(x->error), "%s: the running agent does not manage it "
                         "(mskpkictl reload?)", x->path);
            } else if (x->kind == STATUS_MISSING) {
                snprintf(x->error, sizeof(x->error), "%s: no state file (has the agent run?)",
                         x->path);
            } else {
                snprintf(x->error, sizeof(x->error), "%s", err.msg);
            }
            if (ctl_verbosity_get() != CTL_QUIET) {
                fprintf(stderr, "mskpkictl status: %s\n", x->error);
            }
        } else {
            const struct conf_certificate *cc = &cfg->certs[i];
            x->kind = ctl_status_judge(&x->st, now, cc->renew_fraction, cc->renew_before_seconds,
                                       cfg->retry_min_seconds, cfg->retry_max_seconds,
                                       warn_days);
        }
        all_ok &= kind_fine(x->kind);
    }
    rc = all_ok ? CTL_EXIT_OK : CTL_EXIT_FINDINGS;
    /* --quiet: the exit status is the result (`systemctl is-active --quiet`); no table. */
    if (ctl_verbosity_get() == CTL_QUIET) {
        goto out;
    }
    if (format == STATUS_FORMAT_JSON) {
        if (print_json(entries, cfg->n_certs, now, warn_days, rc) != 0) {
            fprintf(stderr, "mskpkictl status: cannot write JSON\n");
            rc = CTL_EXIT_UNAVAILABLE;
        }
    } else {
        print_table(entries, cfg->n_certs, now);
    }
    if (fflush(stdout) != 0) {
        rc = CTL_EXIT_UNAVAILABLE;
    }
out:
    json_decref(live_certs);
    free(entries);
    conf_free(cfg);
    return rc;
}
