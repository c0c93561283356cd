/*
 * report.h: the finding list of `mskpkictl audit` and its output writers (table, json, sarif,
 * junit).  See docs/audit.md for the formats.
 *
 * A struct ctl_report owns copies of every string added to it; ctl_report_free() releases them.
 * Adding is serialised by a mutex, so checks may add from several threads; sorting and writing
 * must happen after the last add.  The writers are deterministic: the same findings give the
 * same bytes (no timestamps), whatever order they were added in once ctl_report_sort() ran.
 */
#ifndef CTL_REPORT_H
#define CTL_REPORT_H

#include <stdio.h>
#include <time.h>

#include <jansson.h>

#include "pki/err.h"

enum ctl_status {
    CTL_STATUS_PASS,
    CTL_STATUS_FAIL,
    CTL_STATUS_ERROR,
    CTL_STATUS_NOT_APPLICABLE,
    CTL_STATUS__MAX
};

/* Ordered: a higher value is more severe (used by --fail-on). */
enum ctl_severity { CTL_SEV_LOW, CTL_SEV_MEDIUM, CTL_SEV_HIGH, CTL_SEV__MAX };

enum ctl_format {
    CTL_FORMAT_TABLE,
    CTL_FORMAT_JSON,
    CTL_FORMAT_SARIF,
    CTL_FORMAT_JUNIT,
    CTL_FORMAT_PROMETHEUS, /* node_exporter textfile collector (report_prom.c) */
    CTL_FORMAT__MAX
};

struct ctl_finding {
    char *check; /* stable check id, "msk.kafka_version" */
    enum ctl_status status;
    enum ctl_severity severity;
    char *resource;      /* ARN, or "*" when a whole listing failed */
    char *resource_type; /* CloudFormation type name, "AWS::MSK::Cluster" */
    char *region;
    char *message;
    char *remediation;
    char *account; /* AWS account id in a multi-account audit, else NULL */
    char *remediation_cli; /* AWS CLI command with the resource filled in, or NULL */
    char *first_seen;      /* first FAIL of this finding (--history), ISO 8601, or NULL */
};

/* The fields of a finding that may be set after it was added (ctl_report_set_field). */
enum ctl_finding_field { CTL_FIELD_REMEDIATION, CTL_FIELD_REMEDIATION_CLI, CTL_FIELD_FIRST_SEEN };

/* One check's KPI: findings by status, the resources evaluated, and the compliant share. */
struct ctl_kpi {
    size_t counts[CTL_STATUS__MAX];
    size_t resources; /* findings of the check: one per resource (and account, region) */
    size_t evaluated; /* PASS + FAIL + ERROR: NOT_APPLICABLE is out of scope */
    double ratio;     /* PASS / evaluated (an ERROR is never compliant); valid if evaluated > 0 */
};

/* A check as the SARIF writer describes it (one rule per check). */
struct ctl_rule {
    const char *id;
    const char *name;  /* PascalCase, SARIF reportingDescriptor.name */
    const char *title; /* one sentence */
    enum ctl_severity severity;
    const char *resource_type;
    const char *remediation;
    /* AWS CLI command template: "{arn}" and "{region}" are filled from the finding; NULL when
     * no single command fixes it. */
    const char *remediation_cli;
};

struct ctl_report;

/* Stable names: "PASS", "FAIL", "ERROR", "NOT_APPLICABLE"; "high", "medium", "low";
 * "table", "json", "sarif", "junit".  Never NULL. */
const char *ctl_status_name(enum ctl_status status);
const char *ctl_severity_name(enum ctl_severity sev);
const char *ctl_format_name(enum ctl_format fmt);

/* Parse the names above.  Return 0, or -1 for an unknown name. */
int ctl_severity_parse(const char *name, enum ctl_severity *out) MK_MUST_CHECK;
int ctl_format_parse(const char *name, enum ctl_format *out) MK_MUST_CHECK;

/* Caller frees with ctl_report_free().  NULL only when out of memory. */
struct ctl_report *ctl_report_new(void);
void ctl_report_free(struct ctl_report *report);

/*
 * Adds one finding; every string is copied.  message is a printf format.  Thread-safe.
 * Returns 0, or -1 with err set (MK_ERR_NOMEM, or MK_ERR_INVALID for a NULL field).
 */
int ctl_report_add(struct ctl_report *report, const char *check, enum ctl_status status,
                   enum ctl_severity severity, const char *resource, const char *resource_type,
                   const char *region, const char *remediation, struct mk_err *err, const char *fmt,
                   ...) MK_PRINTF(10, 11) MK_MUST_CHECK;

/* Findings added after this call carry account (copied; NULL = none).  Returns 0 or -1
 * (MK_ERR_NOMEM). */
int ctl_report_set_account(struct ctl_report *report, const char *account,
                           struct mk_err *err) MK_MUST_CHECK;

/* The time the prometheus writer reports as mskpki_audit_last_run_timestamp_seconds (the other
 * formats carry no time).  Default: the time the report was created. */
void ctl_report_set_time(struct ctl_report *report, time_t when);
time_t ctl_report_time(const struct ctl_report *report);

/* Replaces one field of finding i (value copied; NULL clears the optional ones).  Returns 0, or
 * -1 with err set (MK_ERR_NOMEM, MK_ERR_INVALID for i out of range or a NULL remediation). */
int ctl_report_set_field(struct ctl_report *report, size_t i, enum ctl_finding_field field,
                         const char *value, struct mk_err *err) MK_MUST_CHECK;

/* A top-level member of the json output (the audit's "scope" and "kpis"), stolen even on
 * failure; the table
 * prints "scope" (accounts, regions, checks, resources) above the findings. */
int ctl_report_set_json(struct ctl_report *report, const char *key, json_t *value,
                        struct mk_err *err) MK_MUST_CHECK;

/* Prometheus text appended after the per-check metrics (complete HELP/TYPE/sample lines). */
int ctl_report_add_prometheus(struct ctl_report *report, const char *text,
                              struct mk_err *err) MK_MUST_CHECK;

/* The statuses the table shows (bit 1 << status; 0 = all).  The other formats and the totals
 * always cover every finding. */
void ctl_report_set_table_filter(struct ctl_report *report, unsigned status_mask);

/* The KPI of one check id. */
void ctl_report_kpi(const struct ctl_report *report, const char *check, struct ctl_kpi *kpi);

/* Sorts by check id, account, region, resource, then status and message, so the order never
 * depends on the order of adds (and so not on the concurrency of the audit). */
void ctl_report_sort(struct ctl_report *report);

size_t ctl_report_count(const struct ctl_report *report);
/* Borrowed, valid until the next add or the free.  NULL past the end. */
const struct ctl_finding *ctl_report_get(const struct ctl_report *report, size_t i);

/* counts[status] = number of findings with that status. */
void ctl_report_counts(const struct ctl_report *report, size_t counts[CTL_STATUS__MAX]);

/* Whether the report fails the run: any ERROR, or any FAIL with severity >= fail_on. */
int ctl_report_failed(const struct ctl_report *report, enum ctl_severity fail_on);

/*
 * Renders the report in fmt (prometheus: see docs/audit.md; the only format with a time).  rules describes every check that ran (SARIF rules, JUnit suites
 * for checks without findings).  colour adds ANSI colours to the table (ignored by the others).
 * *out is NUL-terminated; caller frees with free().
 */
int ctl_report_render(const struct ctl_report *report, enum ctl_format fmt,
                      const struct ctl_rule *rules, size_t n_rules, int colour, char **out,
                      size_t *out_len, struct mk_err *err) MK_MUST_CHECK;


#ifdef MK_TESTING
/* The SARIF artifact path of a finding's resource (see report.c), truncated to size. */
void ctl_sarif_uri(const struct ctl_finding *f, char *out, size_t size);
#endif

#endif
