/* report.c: the audit finding list and its writers (see report.h, docs/audit.md). */
#include "ctl/audit/report.h"
#include "ctl/output.h"
#include "pki/text.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

struct ctl_report {
    pthread_mutex_t lock;
    struct ctl_finding *items;
    size_t n;
    size_t cap;
    char *account; /* stamped on new findings */
    time_t when;
    json_t *extra;       /* top-level json members (scope, kpis) */
    char *prom_extra;    /* appended to the prometheus output */
    unsigned table_mask; /* statuses the table shows; 0 = all */
};

static const char *const status_names[CTL_STATUS__MAX] = {
    [CTL_STATUS_PASS] = "PASS",
    [CTL_STATUS_FAIL] = "FAIL",
    [CTL_STATUS_ERROR] = "ERROR",
    [CTL_STATUS_NOT_APPLICABLE] = "NOT_APPLICABLE",
};

static const char *const severity_names[CTL_SEV__MAX] = {
    [CTL_SEV_LOW] = "low",
    [CTL_SEV_MEDIUM] = "medium",
    [CTL_SEV_HIGH] = "high",
};

static const char *const format_names[CTL_FORMAT__MAX] = {
    [CTL_FORMAT_TABLE] = "table",
    [CTL_FORMAT_JSON] = "json",
    [CTL_FORMAT_SARIF] = "sarif",
    [CTL_FORMAT_JUNIT] = "junit",
    [CTL_FORMAT_PROMETHEUS] = "prometheus",
};

const char *ctl_status_name(enum ctl_status status)
{
    if ((int)status < 0 || status >= CTL_STATUS__MAX) {
        return "UNKNOWN";
    }
    return status_names[status];
}

const char *ctl_severity_name(enum ctl_severity sev)
{
    if ((int)sev < 0 || sev >= CTL_SEV__MAX) {
        return "unknown";
    }
    return severity_names[sev];
}

const char *ctl_format_name(enum ctl_format fmt)
{
    if ((int)fmt < 0 || fmt >= CTL_FORMAT__MAX) {
        return "unknown";
    }
    return format_names[fmt];
}

int ctl_severity_parse(const char *name, enum ctl_severity *out)
{
    for (int i = 0; i < CTL_SEV__MAX && name != NULL; i++) {
        if (strcmp(name, severity_names[i]) == 0) {
            *out = (enum ctl_severity)i;
            return 0;
        }
    }
    return -1;
}

int ctl_format_parse(const char *name, enum ctl_format *out)
{
    for (int i = 0; i < CTL_FORMAT__MAX && name != NULL; i++) {
        if (strcmp(name, format_names[i]) == 0) {
            *out = (enum ctl_format)i;
            return 0;
        }
    }
    return -1;
}

struct ctl_report *ctl_report_new(void)
{
    struct ctl_report *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        return NULL;
    }
    if (pthread_mutex_init(&r->lock, NULL) != 0) {
        free(r);
        return NULL;
    }
    r->when = time(NULL);
    return r;
}

static void finding_clear(struct ctl_finding *f)
{
    free(f->check);
    free(f->resource);
    free(f->resource_type);
    free(f->region);
    free(f->message);
    free(f->remediation);
    free(f->account);
    free(f->remediation_cli);
    free(f->first_seen);
    memset(f, 0, sizeof(*f));
}

void ctl_report_free(struct ctl_report *report)
{
    if (report == NULL) {
        return;
    }
    for (size_t i = 0; i < report->n; i++) {
        finding_clear(&report->items[i]);
    }
    free(report->items);
    free(report->account);
    json_decref(report->extra);
    free(report->prom_extra);
    pthread_mutex_destroy(&report->lock);
    free(report);
}

int ctl_report_add(struct ctl_report *report, const char *check, enum ctl_status status,
                   enum ctl_severity severity, const char *resource, const char *resource_type,
                   const char *region, const char *remediation, struct mk_err *err, const char *fmt,
                   ...)
{
    int rc = -1;
    int locked = 0;
    struct ctl_finding f = {0};
    va_list ap;

    MK_ENSURE(report != NULL && check != NULL && resource != NULL && resource_type != NULL &&
                  region != NULL && remediation != NULL && fmt != NULL,
              err, MK_ERR_INVALID, "ctl_report_add: a finding field is missing");
    MK_ENSURE(status < CTL_STATUS__MAX && severity < CTL_SEV__MAX, err, MK_ERR_INVALID,
              "ctl_report_add: %s: bad status or severity", check);
    f.status = status;
    f.severity = severity;
    f.check = strdup(check);
    f.resource = strdup(resource);
    f.resource_type = strdup(resource_type);
    f.region = strdup(region);
    f.remediation = strdup(remediation);
    va_start(ap, fmt);
    if (vasprintf(&f.message, fmt, ap) < 0) {
        f.message = NULL;
    }
    va_end(ap);
    MK_ENSURE(f.check != NULL && f.resource != NULL && f.resource_type != NULL &&
                  f.region != NULL && f.remediation != NULL && f.message != NULL,
              err, MK_ERR_NOMEM, "ctl_report_add: out of memory");

    pthread_mutex_lock(&report->lock);
    locked = 1;
    if (report->account != NULL) {
        f.account = strdup(report->account);
        MK_ENSURE(f.account != NULL, err, MK_ERR_NOMEM, "ctl_report_add: out of memory");
    }
    if (report->n == report->cap) {
        size_t cap = report->cap == 0 ? 32 : report->cap * 2;
        struct ctl_finding *items = realloc(report->items, cap * sizeof(*items));
        MK_ENSURE(items != NULL, err, MK_ERR_NOMEM, "ctl_report_add: out of memory");
        report->items = items;
        report->cap = cap;
    }
    report->items[report->n++] = f;
    memset(&f, 0, sizeof(f));
    rc = 0;
out:
    if (locked) {
        pthread_mutex_unlock(&report->lock);
    }
    finding_clear(&f);
    return rc;
}

int ctl_report_set_field(struct ctl_report *report, size_t i, enum ctl_finding_field field,
                         const char *value, struct mk_err *err)
{
    char **slot = NULL;
    char *copy = NULL;
    MK_ENSURE(i < report->n, err, MK_ERR_INVALID, "ctl_report_set_field: no finding %zu", i);
    switch (field) {
    case CTL_FIELD_REMEDIATION:
        slot = &report->items[i].remediation;
        break;
    case CTL_FIELD_REMEDIATION_CLI:
        slot = &report->items[i].remediation_cli;
        break;
    case CTL_FIELD_FIRST_SEEN:
        slot = &report->items[i].first_seen;
        break;
    default:
        break;
    }
    MK_ENSURE(slot != NULL && (value != NULL || field != CTL_FIELD_REMEDIATION), err,
              MK_ERR_INVALID, "ctl_report_set_field: bad field");
    if (value != NULL) {
        copy = strdup(value);
        MK_ENSURE(copy != NULL, err, MK_ERR_NOMEM, "ctl_report_set_field: out of memory");
    }
    free(*slot);
    *slot = copy;
    return 0;
out:
    return -1;
}

int ctl_report_set_json(struct ctl_report *report, const char *key, json_t *value,
                        struct mk_err *err)
{
    if (report->extra == NULL) {
        report->extra = json_object();
    }
    if (report->extra == NULL) {
        json_decref(value);
    }
    /* json_object_set_new releases value on failure too: value is always stolen. */
    if (value == NULL || report->extra == NULL ||
        json_object_set_new(report->extra, key, value) != 0) {
        mk_err_set(err, MK_ERR_NOMEM, "ctl_report_set_json: out of memory");
        return -1;
    }
    return 0;
}

int ctl_report_add_prometheus(struct ctl_report *report, const char *text, struct mk_err *err)
{
    size_t old = report->prom_extra != NULL ? strlen(report->prom_extra) : 0;
    char *grown = realloc(report->prom_extra, old + strlen(text) + 1);
    if (grown == NULL) {
        mk_err_set(err, MK_ERR_NOMEM, "ctl_report_add_prometheus: out of memory");
        return -1;
    }
    memcpy(grown + old, text, strlen(text) + 1);
    report->prom_extra = grown;
    return 0;
}

void ctl_report_set_table_filter(struct ctl_report *report, unsigned status_mask)
{
    report->table_mask = status_mask;
}

static int finding_cmp(const void *pa, const void *pb)
{
    const struct ctl_finding *a = pa;
    const struct ctl_finding *b = pb;
    int c = strcmp(a->check, b->check);
    if (c == 0) {
        c = strcmp(a->account != NULL ? a->account : "", b->account != NULL ? b->account : "");
    }
    if (c == 0) {
        c = strcmp(a->region, b->region);
    }
    if (c == 0) {
        c = strcmp(a->resource, b->resource);
    }
    if (c == 0) {
        c = (int)a->status - (int)b->status;
    }
    if (c == 0) {
        c = strcmp(a->message, b->message);
    }
    return c;
}

void ctl_report_sort(struct ctl_report *report)
{
    if (report != NULL && report->n > 1) {
        qsort(report->items, report->n, sizeof(report->items[0]), finding_cmp);
    }
}

int ctl_report_set_account(struct ctl_report *report, const char *account, struct mk_err *err)
{
    char *copy = account != NULL ? strdup(account) : NULL;
    if (account != NULL && copy == NULL) {
        mk_err_set(err, MK_ERR_NOMEM, "out of memory");
        return -1;
    }
    pthread_mutex_lock(&report->lock);
    free(report->account);
    report->account = copy;
    pthread_mutex_unlock(&report->lock);
    return 0;
}

void ctl_report_set_time(struct ctl_report *report, time_t when)
{
    report->when = when;
}

time_t ctl_report_time(const struct ctl_report *report)
{
    return report->when;
}

void ctl_report_kpi(const struct ctl_report *report, const char *check, struct ctl_kpi *kpi)
{
    memset(kpi, 0, sizeof(*kpi));
    for (size_t i = 0; i < ctl_report_count(report); i++) {
        const struct ctl_finding *f = &report->items[i];
        if (strcmp(f->check, check) == 0) {
            kpi->counts[f->status]++;
            kpi->resources++;
        }
    }
    kpi->evaluated = kpi->resources - kpi->counts[CTL_STATUS_NOT_APPLICABLE];
    if (kpi->evaluated > 0) {
        kpi->ratio = (double)kpi->counts[CTL_STATUS_PASS] / (double)kpi->evaluated;
    }
}

size_t ctl_report_count(const struct ctl_report *report)
{
    return report == NULL ? 0 : report->n;
}

const struct ctl_finding *ctl_report_get(const struct ctl_report *report, size_t i)
{
    if (report == NULL || i >= report->n) {
        return NULL;
    }
    return &report->items[i];
}

void ctl_report_counts(const struct ctl_report *report, size_t counts[CTL_STATUS__MAX])
{
    memset(counts, 0, sizeof(size_t) * CTL_STATUS__MAX);
    for (size_t i = 0; i < ctl_report_count(report); i++) {
        counts[report->items[i].status]++;
    }
}

int ctl_report_failed(const struct ctl_report *report, enum ctl_severity fail_on)
{
    for (size_t i = 0; i < ctl_report_count(report); i++) {
        const struct ctl_finding *f = &report->items[i];
        if (f->status == CTL_STATUS_ERROR) {
            return 1;
        }
        if (f->status == CTL_STATUS_FAIL && f->severity >= fail_on) {
            return 1;
        }
    }
    return 0;
}

/* ---- table ---- */

static const char *status_colour(enum ctl_status status)
{
    switch (status) {
    case CTL_STATUS_PASS:
        return "\033[32m";
    case CTL_STATUS_FAIL:
        return "\033[1;31m";
    case CTL_STATUS_ERROR:
        return "\033[35m";
    case CTL_STATUS_NOT_APPLICABLE:
        return "\033[2m";
    default:
        return "";
    }
}

/* Terminal output is for people: control characters from AWS answers are shown as '?'. */
static void put_clean(FILE *out, const char *s)
{
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        fputc(c < 0x20 || c == 0x7f ? '?' : c, out);
    }
}

/* "region", or "account/region" in a multi-account audit. */
static const char *where(const struct ctl_finding *f, char *buf, size_t len)
{
    if (f->account == NULL) {
        return f->region;
    }
    snprintf(buf, len, "%s/%s", f->account, f->region);
    return buf;
}

/* Per-check KPIs under the table: resources and the compliant share. */
static void table_kpis(const struct ctl_report *r, const struct ctl_rule *rules, size_t n_rules,
                       FILE *out)
{
    fprintf(out, "\n%-28s %9s %10s\n", "CHECK", "RESOURCES", "COMPLIANT");
    for (size_t k = 0; k < n_rules; k++) {
        struct ctl_kpi kpi;
        ctl_report_kpi(r, rules[k].id, &kpi);
        if (kpi.evaluated > 0) {
            fprintf(out, "%-28s %9zu %9.1f%%\n", rules[k].id, kpi.resources, kpi.ratio * 100.0);
        } else {
            fprintf(out, "%-28s %9zu %10s\n", rules[k].id, kpi.resources, "-");
        }
    }
}

/* Joins the strings of a json array with ", " to out (at most max items, then "..."). */
static void put_list(FILE *out, const json_t *arr, size_t max)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (i == max) {
            fprintf(out, ", ... (%zu in all)", json_array_size(arr));
            break;
        }
        fputs(i > 0 ? ", " : "", out);
        put_clean(out, json_is_string(v) ? json_string_value(v) : "?");
    }
    if (json_array_size(arr) == 0) {
        fputs("-", out);
    }
}

/* The scope above the findings, so a reader knows what was (and was not) looked at. */
static void table_scope(const struct ctl_report *r, FILE *out)
{
    const json_t *scope = json_object_get(r->extra, "scope");
    const json_t *res = json_object_get(scope, "resources");
    const char *key;
    json_t *v;
    int first = 1;
    if (!json_is_object(scope)) {
        return;
    }
    fputs("Scope\n  accounts:  ", out);
    put_list(out, json_object_get(scope, "accounts"), 20);
    fputs("\n  regions:   ", out);
    put_list(out, json_object_get(scope, "regions"), 20);
    fprintf(out, "\n  checks:    %zu (", json_array_size(json_object_get(scope, "checks")));
    put_list(out, json_object_get(scope, "checks"), 30);
    fputs(")\n  resources: ", out);
    json_object_foreach((json_t *)res, key, v)
    {
        fprintf(out, "%s%s %lld", first ? "" : ", ", key, (long long)json_integer_value(v));
        first = 0;
    }
    if (json_is_string(json_object_get(scope, "as_of"))) {
        fputs("\n  as of:     ", out);
        put_clean(out, json_string_value(json_object_get(scope, "as_of")));
    }
    fputs("\n\n", out);
}

static int table_shows(const struct ctl_report *r, const struct ctl_finding *f)
{
    return r->table_mask == 0 || (r->table_mask & (1u << f->status)) != 0;
}

static void render_table(const struct ctl_report *r, const struct ctl_rule *rules,
                         size_t n_rules, int colour, FILE *out)
{
    char wbuf[128];
    size_t w_status = strlen("STATUS"), w_sev = strlen("SEVERITY"), w_check = strlen("CHECK");
    size_t w_region = strlen("REGION");
    size_t counts[CTL_STATUS__MAX];
    size_t shown = 0;

    for (size_t i = 0; i < r->n; i++) {
        const struct ctl_finding *f = &r->items[i];
        size_t l = strlen(ctl_status_name(f->status));
        w_status = l > w_status ? l : w_status;
        l = strlen(f->check);
        w_check = l > w_check ? l : w_check;
        l = strlen(where(f, wbuf, sizeof(wbuf)));
        w_region = l > w_region ? l : w_region;
    }
    table_scope(r, out);
    fprintf(out, "%-*s  %-*s  %-*s  %-*s  %s\n", (int)w_status, "STATUS", (int)w_sev, "SEVERITY",
            (int)w_check, "CHECK", (int)w_region, "REGION", "RESOURCE");
    for (size_t i = 0; i < r->n; i++) {
        const struct ctl_finding *f = &r->items[i];
        if (!table_shows(r, f)) {
            continue;
        }
        shown++;
        fprintf(out, "%s%-*s%s  %-*s  %-*s  %-*s  ", colour ? status_colour(f->status) : "",
                (int)w_status, ctl_status_name(f->status), colour ? "\033[0m" : "", (int)w_sev,
                ctl_severity_name(f->severity), (int)w_check, f->check, (int)w_region,
                where(f, wbuf, sizeof(wbuf)));
        put_clean(out, f->resource);
        fputs("\n    ", out);
        put_clean(out, f->message);
        fputc('\n', out);
        /* What to do about it: only where there is something to do. */
        if (f->status == CTL_STATUS_FAIL || f->status == CTL_STATUS_ERROR) {
            fputs("    fix: ", out);
            put_clean(out, f->remediation);
            fputc('\n', out);
            if (f->remediation_cli != NULL) {
                fputs("    $ ", out);
                put_clean(out, f->remediation_cli);
                fputc('\n', out);
            }
        }
        if (f->first_seen != NULL) {
            fputs("    failing since ", out);
            put_clean(out, f->first_seen);
            fputc('\n', out);
        }
    }
    ctl_report_counts(r, counts);
    fprintf(out, "\n%zu findings: %zu PASS, %zu FAIL, %zu ERROR, %zu NOT_APPLICABLE\n", r->n,
            counts[CTL_STATUS_PASS], counts[CTL_STATUS_FAIL], counts[CTL_STATUS_ERROR],
            counts[CTL_STATUS_NOT_APPLICABLE]);
    if (r->table_mask != 0) {
        fprintf(out, "(%zu shown by --status)\n", shown);
    }
    table_kpis(r, rules, n_rules, out);
}

/* ---- json ---- */

static json_t *finding_json(const struct ctl_finding *f)
{
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "check", f->check, "status",
                          ctl_status_name(f->status), "severity", ctl_severity_name(f->severity),
                          "resource", f->resource, "resource_type", f->resource_type, "region",
                          f->region, "message", f->message, "remediation", f->remediation);
    /* Only multi-account audits have the field, so single-account reports are unchanged. */
    if (j != NULL && f->account != NULL &&
        json_object_set_new(j, "account", json_string(f->account)) != 0) {
        json_decref(j);
        return NULL;
    }
    if (j != NULL &&
        json_object_set_new(j, "remediation_cli",
                            f->remediation_cli != NULL ? json_string(f->remediation_cli)
                                                       : json_null()) != 0) {
        json_decref(j);
        return NULL;
    }
    /* Only with --history. */
    if (j != NULL && f->first_seen != NULL &&
        json_object_set_new(j, "first_seen", json_string(f->first_seen)) != 0) {
        json_decref(j);
        return NULL;
    }
    return j;
}

/* summary.by_check: the KPI of every check that ran, also those without findings. */
static json_t *kpi_json(const struct ctl_report *r, const struct ctl_rule *rules, size_t n_rules)
{
    json_t *by = json_object();
    for (size_t k = 0; by != NULL && k < n_rules; k++) {
        struct ctl_kpi kpi;
        json_t *one;
        ctl_report_kpi(r, rules[k].id, &kpi);
        /* Percent with two decimals, null when nothing was in scope (0 of 0 is no KPI). */
        one = json_pack("{s:I, s:I, s:I, s:I, s:I, s:o}", "resources", (json_int_t)kpi.resources,
                        "PASS", (json_int_t)kpi.counts[CTL_STATUS_PASS], "FAIL",
                        (json_int_t)kpi.counts[CTL_STATUS_FAIL], "ERROR",
                        (json_int_t)kpi.counts[CTL_STATUS_ERROR], "NOT_APPLICABLE",
                        (json_int_t)kpi.counts[CTL_STATUS_NOT_APPLICABLE], "compliance_percent",
                        kpi.evaluated > 0 ? json_real(round(kpi.ratio * 10000.0) / 100.0)
                                          : json_null());
        if (json_object_set_new(by, rules[k].id, one) != 0) {
            json_decref(by);
            return NULL;
        }
    }
    return by;
}

static json_t *build_json(const struct ctl_report *r, const struct ctl_rule *rules,
                          size_t n_rules)
{
    json_t *root = NULL, *list = NULL, *summary = NULL, *fails = NULL;
    size_t counts[CTL_STATUS__MAX];
    size_t by_sev[CTL_SEV__MAX] = {0};

    list = json_array();
    summary = json_object();
    fails = json_object();
    if (list == NULL || summary == NULL || fails == NULL) {
        goto fail;
    }
    for (size_t i = 0; i < r->n; i++) {
        if (json_array_append_new(list, finding_json(&r->items[i])) != 0) {
            goto fail;
        }
        if (r->items[i].status == CTL_STATUS_FAIL) {
            by_sev[r->items[i].severity]++;
        }
    }
    ctl_report_counts(r, counts);
    for (int s = 0; s < CTL_STATUS__MAX; s++) {
        if (json_object_set_new(summary, status_names[s], json_integer((json_int_t)counts[s]))) {
            goto fail;
        }
    }
    for (int s = CTL_SEV__MAX - 1; s >= 0; s--) {
        if (json_object_set_new(fails, severity_names[s], json_integer((json_int_t)by_sev[s]))) {
            goto fail;
        }
    }
    if (json_object_set_new(summary, "total", json_integer((json_int_t)r->n)) != 0 ||
        json_object_set_new(summary, "fail_by_severity", fails) != 0) {
        fails = NULL;
        goto fail;
    }
    fails = NULL;
    if (json_object_set_new(summary, "by_check", kpi_json(r, rules, n_rules)) != 0) {
        goto fail;
    }
    root = json_pack("{s:s, s:o, s:o}", "tool", "mskpkictl " MSKPKI_VERSION, "findings", list,
                     "summary", summary);
    if (root != NULL && r->extra != NULL && json_object_update(root, r->extra) != 0) {
        json_decref(root);
        return NULL;
    }
    return root;
fail:
    json_decref(list);
    json_decref(summary);
    json_decref(fails);
    return NULL;
}

/* ---- sarif ---- */

static const char *sarif_level(enum ctl_severity sev)
{
    switch (sev) {
    case CTL_SEV_HIGH:
        return "error";
    case CTL_SEV_MEDIUM:
        return "warning";
    case CTL_SEV_LOW:
        return "note";
    default:
        return "none";
    }
}

/* GitHub code scanning reads properties.security-severity (CVSS-like, as a string). */
static const char *sarif_security_severity(enum ctl_severity sev)
{
    switch (sev) {
    case CTL_SEV_HIGH:
        return "8.0";
    case CTL_SEV_MEDIUM:
        return "5.0";
    case CTL_SEV_LOW:
        return "3.0";
    default:
        return "0.0";
    }
}

static json_t *sarif_rule(const struct ctl_rule *rule)
{
    return json_pack("{s:s, s:s, s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s}, s:{s:[s, s], s:s}}", "id",
                     rule->id, "name", rule->name, "shortDescription", "text", rule->title,
                     "fullDescription", "text", rule->title, "help", "text", rule->remediation,
                     "defaultConfiguration", "level", sarif_level(rule->severity), "properties",
                     "tags", "security", rule->resource_type, "security-severity",
                     sarif_security_severity(rule->severity));
}

/*
 * Code scanning (GitHub's, and tools modelled on it) rejects a result without
 * physicalLocation.artifactLocation.uri and accepts only relative paths, so each resource gets a
 * stable path made from its ARN: "arn:aws:kafka:us-east-1:1:cluster/a/b" becomes
 * "aws/kafka/us-east-1/1/cluster/a/b" (empty ARN fields dropped, anything but unreserved
 * characters and '/' percent-encoded).  A failed listing ("*") is placed by region and type.
 */
static void sarif_uri_append(char *out, size_t size, size_t *used, const char *text)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *c = (const unsigned char *)text; *c != '\0'; c++) {
        int plain = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                    (*c >= '0' && *c <= '9') || strchr("-._~/", *c) != NULL;
        size_t need = plain ? 1 : 3;
        if (*used + need >= size) {
            break;
        }
        if (plain) {
            out[(*used)++] = (char)*c;
        } else {
            out[(*used)++] = '%';
            out[(*used)++] = hex[*c >> 4];
            out[(*used)++] = hex[*c & 0x0f];
        }
    }
    out[*used] = '\0';
}

MK_TESTABLE void ctl_sarif_uri(const struct ctl_finding *f, char *out, size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    if (strncmp(f->resource, "arn:", 4) != 0) {
        sarif_uri_append(out, size, &used, "aws/listing/");
        sarif_uri_append(out, size, &used, f->region != NULL ? f->region : "global");
        sarif_uri_append(out, size, &used, "/");
        sarif_uri_append(out, size, &used, f->resource_type);
        return;
    }
    const char *p = f->resource + 4;
    int fields = 0;
    /* partition:service:region:account:resource; only the first four are ':'-separated. */
    while (fields < 4) {
        const char *colon = strchr(p, ':');
        if (colon == NULL) {
            break;
        }
        if (colon > p) {
            char part[256];
            snprintf(part, sizeof(part), "%.*s/", (int)(colon - p), p);
            sarif_uri_append(out, size, &used, part);
        }
        p = colon + 1;
        fields++;
    }
    sarif_uri_append(out, size, &used, p);
}

/* The same finding in the next run (same check, account, region, resource) has the same
 * fingerprint, so dashboards track one alert instead of opening a new one per run. */
static int sarif_fingerprint(const struct ctl_finding *f, char hex[65])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char md[32];
    unsigned int len = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    const char *parts[] = {f->check, f->account != NULL ? f->account : "",
                           f->region != NULL ? f->region : "", f->resource};
    int ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;
    for (size_t i = 0; ok && i < sizeof(parts) / sizeof(parts[0]); i++) {
        ok = EVP_DigestUpdate(ctx, parts[i], strlen(parts[i]) + 1) == 1; /* with its NUL */
    }
    ok = ok && EVP_DigestFinal_ex(ctx, md, &len) == 1 && len == sizeof(md);
    EVP_MD_CTX_free(ctx);
    if (!ok) {
        return -1;
    }
    for (size_t i = 0; i < sizeof(md); i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 0x0f];
    }
    hex[64] = '\0';
    return 0;
}

/*
 * FAIL and ERROR findings become results.  An ERROR is kept as kind "fail" (SARIF requires level
 * "none" for any other kind) with properties.status saying it could not be evaluated, so code
 * scanning surfaces it instead of silently dropping it.
 */
static json_t *sarif_result(const struct ctl_finding *f, int rule_index)
{
    char uri[1024];
    char fingerprint[65];
    ctl_sarif_uri(f, uri, sizeof(uri));
    if (sarif_fingerprint(f, fingerprint) != 0) {
        return NULL;
    }
    json_t *res = json_pack(
        "{s:s, s:s, s:s, s:{s:s}, s:[{s:{s:{s:s}, s:{s:i}}, s:[{s:s, s:s}]}], s:{s:s},"
        " s:{s:s, s:s, s:s, s:s, s:s}}",
        "ruleId", f->check, "kind", "fail", "level", sarif_level(f->severity), "message", "text",
        f->message, "locations", "physicalLocation", "artifactLocation", "uri", uri, "region",
        "startLine", 1, "logicalLocations", "fullyQualifiedName", f->resource, "kind", "resource",
        "partialFingerprints", "mskpkiFinding/v1", fingerprint, "properties", "status",
        ctl_status_name(f->status), "severity", ctl_severity_name(f->severity), "region", f->region,
        "resourceType", f->resource_type, "remediation", f->remediation);
    if (res != NULL && rule_index >= 0 &&
        json_object_set_new(res, "ruleIndex", json_integer(rule_index)) != 0) {
        json_decref(res);
        return NULL;
    }
    if (res != NULL && f->account != NULL &&
        json_object_set_new(json_object_get(res, "properties"), "account",
                            json_string(f->account)) != 0) {
        json_decref(res);
        return NULL;
    }
    if (res != NULL && f->first_seen != NULL &&
        json_object_set_new(json_object_get(res, "properties"), "first_seen",
                            json_string(f->first_seen)) != 0) {
        json_decref(res);
        return NULL;
    }
    if (res != NULL && f->remediation_cli != NULL &&
        json_object_set_new(json_object_get(res, "properties"), "remediation_cli",
                            json_string(f->remediation_cli)) != 0) {
        json_decref(res);
        return NULL;
    }
    return res;
}

static json_t *build_sarif(const struct ctl_report *r, const struct ctl_rule *rules, size_t n_rules)
{
    json_t *jrules = json_array(), *results = json_array();
    if (jrules == NULL || results == NULL) {
        goto fail;
    }
    for (size_t i = 0; i < n_rules; i++) {
        if (json_array_append_new(jrules, sarif_rule(&rules[i])) != 0) {
            goto fail;
        }
    }
    for (size_t i = 0; i < r->n; i++) {
        const struct ctl_finding *f = &r->items[i];
        int idx = -1;
        if (f->status != CTL_STATUS_FAIL && f->status != CTL_STATUS_ERROR) {
            continue;
        }
        for (size_t k = 0; k < n_rules; k++) {
            if (strcmp(rules[k].id, f->check) == 0) {
                idx = (int)k;
                break;
            }
        }
        if (json_array_append_new(results, sarif_result(f, idx)) != 0) {
            goto fail;
        }
    }
    return json_pack("{s:s, s:s, s:[{s:{s:{s:s, s:s, s:o}}, s:o, s:s}]}", "$schema",
                     "https://json.schemastore.org/sarif-2.1.0.json", "version", "2.1.0", "runs",
                     "tool", "driver", "name", "mskpkictl", "version", MSKPKI_VERSION, "rules",
                     jrules, "results", results, "columnKind", "unicodeCodePoints");
fail:
    json_decref(jrules);
    json_decref(results);
    return NULL;
}

/* ---- junit ---- */

struct junit_counts {
    size_t tests, failures, errors, skipped;
};

static void junit_count(const struct ctl_report *r, const char *check, struct junit_counts *c)
{
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < r->n; i++) {
        const struct ctl_finding *f = &r->items[i];
        if (check != NULL && strcmp(f->check, check) != 0) {
            continue;
        }
        c->tests++;
        c->failures += f->status == CTL_STATUS_FAIL;
        c->errors += f->status == CTL_STATUS_ERROR;
        c->skipped += f->status == CTL_STATUS_NOT_APPLICABLE;
    }
}

static void junit_case(const struct ctl_finding *f, FILE *out)
{
    fputs("    <testcase classname=\"", out);
    ctl_xml_put(out, f->check);
    fputs("\" name=\"", out);
    ctl_xml_put(out, f->resource);
    fputs(" (", out);
    if (f->account != NULL) {
        ctl_xml_put(out, f->account);
        fputc(' ', out);
    }
    ctl_xml_put(out, f->region);
    fputs(")\">\n", out);
    switch (f->status) {
    case CTL_STATUS_FAIL:
    case CTL_STATUS_ERROR:
        fprintf(out, "      <%s type=\"%s\" message=\"",
                f->status == CTL_STATUS_FAIL ? "failure" : "error", ctl_severity_name(f->severity));
        ctl_xml_put(out, f->message);
        fputs("\">", out);
        ctl_xml_put(out, f->message);
        fputs("\nRemediation: ", out);
        ctl_xml_put(out, f->remediation);
        fprintf(out, "</%s>\n", f->status == CTL_STATUS_FAIL ? "failure" : "error");
        break;
    case CTL_STATUS_NOT_APPLICABLE:
        fputs("      <skipped message=\"", out);
        ctl_xml_put(out, f->message);
        fputs("\"/>\n", out);
        break;
    case CTL_STATUS_PASS:
    default:
        fputs("      <system-out>", out);
        ctl_xml_put(out, f->message);
        fputs("</system-out>\n", out);
        break;
    }
    fputs("    </testcase>\n", out);
}

static void render_junit(const struct ctl_report *r, const struct ctl_rule *rules, size_t n_rules,
                         FILE *out)
{
    struct junit_counts all;
    junit_count(r, NULL, &all);
    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", out);
    fprintf(out,
            "<testsuites name=\"mskpkictl audit\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" "
            "skipped=\"%zu\">\n",
            all.tests, all.failures, all.errors, all.skipped);
    for (size_t k = 0; k < n_rules; k++) {
        struct junit_counts c;
        junit_count(r, rules[k].id, &c);
        fputs("  <testsuite name=\"", out);
        ctl_xml_put(out, rules[k].id);
        fprintf(out, "\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" skipped=\"%zu\">\n", c.tests,
                c.failures, c.errors, c.skipped);
        for (size_t i = 0; i < r->n; i++) {
            if (strcmp(r->items[i].check, rules[k].id) == 0) {
                junit_case(&r->items[i], out);
            }
        }
        fputs("  </testsuite>\n", out);
    }
    fputs("</testsuites>\n", out);
}

/* ---- prometheus (node_exporter textfile collector) ---- */

static void render_prometheus(const struct ctl_report *r, const struct ctl_rule *rules,
                              size_t n_rules, FILE *out)
{
    fputs("# HELP mskpki_audit_resources Resources evaluated by the last mskpkictl audit, by check "
          "and status.\n# TYPE mskpki_audit_resources gauge\n",
          out);
    for (size_t k = 0; k < n_rules; k++) {
        struct ctl_kpi kpi;
        ctl_report_kpi(r, rules[k].id, &kpi);
        for (int s = 0; s < CTL_STATUS__MAX; s++) {
            fputs("mskpki_audit_resources{check=\"", out);
            mk_prom_label_put(out, rules[k].id);
            fprintf(out, "\",status=\"%s\"} %zu\n", status_names[s], kpi.counts[s]);
        }
    }
    fputs("# HELP mskpki_audit_compliance_ratio Share of the evaluated resources (PASS, FAIL, "
          "ERROR; not NOT_APPLICABLE) that PASS, per check; NaN when none was evaluated.\n"
          "# TYPE mskpki_audit_compliance_ratio gauge\n",
          out);
    for (size_t k = 0; k < n_rules; k++) {
        struct ctl_kpi kpi;
        ctl_report_kpi(r, rules[k].id, &kpi);
        fputs("mskpki_audit_compliance_ratio{check=\"", out);
        mk_prom_label_put(out, rules[k].id);
        if (kpi.evaluated > 0) {
            fprintf(out, "\"} %.6g\n", kpi.ratio);
        } else {
            fputs("\"} NaN\n", out);
        }
    }
    fprintf(out,
            "# HELP mskpki_audit_last_run_timestamp_seconds Unix time of the last mskpkictl audit "
            "run.\n# TYPE mskpki_audit_last_run_timestamp_seconds gauge\n"
            "mskpki_audit_last_run_timestamp_seconds %lld\n",
            (long long)r->when);
    if (r->prom_extra != NULL) {
        fputs(r->prom_extra, out);
    }
}

static int dump_json(json_t *root, FILE *out, struct mk_err *err)
{
    int rc = -1;
    MK_ENSURE(root != NULL, err, MK_ERR_NOMEM, "audit report: out of memory building JSON");
    MK_ENSURE(json_dumpf(root, out, JSON_INDENT(2) | JSON_REAL_PRECISION(10)) == 0, err, MK_ERR_IO,
              "audit report: cannot write JSON");
    fputc('\n', out);
    rc = 0;
out:
    json_decref(root);
    return rc;
}

int ctl_report_render(const struct ctl_report *report, enum ctl_format fmt,
                      const struct ctl_rule *rules, size_t n_rules, int colour, char **out,
                      size_t *out_len, struct mk_err *err)
{
    int rc = -1;
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);

    MK_ENSURE_ERRNO(mem != NULL, err, MK_ERR_NOMEM, "audit report: open_memstream");
    switch (fmt) {
    case CTL_FORMAT_TABLE:
        render_table(report, rules, n_rules, colour, mem);
        break;
    case CTL_FORMAT_JSON:
        MK_GUARD(dump_json(build_json(report, rules, n_rules), mem, err));
        break;
    case CTL_FORMAT_SARIF:
        MK_GUARD(dump_json(build_sarif(report, rules, n_rules), mem, err));
        break;
    case CTL_FORMAT_JUNIT:
        render_junit(report, rules, n_rules, mem);
        break;
    case CTL_FORMAT_PROMETHEUS:
        render_prometheus(report, rules, n_rules, mem);
        break;
    default:
        MK_ENSURE(0, err, MK_ERR_INVALID, "audit report: unknown format %d", (int)fmt);
    }
    MK_ENSURE(fflush(mem) == 0 && !ferror(mem), err, MK_ERR_NOMEM,
              "audit report: out of memory rendering %s", ctl_format_name(fmt));
    fclose(mem);
    mem = NULL;
    *out = buf;
    *out_len = len;
    buf = NULL;
    rc = 0;
out:
    if (mem != NULL) {
        fclose(mem);
    }
    free(buf);
    return rc;
}
