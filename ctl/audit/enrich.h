/*
 * enrich.h: what the audit adds to its findings after the checks ran: the AWS CLI command of a
 * FAIL (remediation_cli, the resource filled in), the fix of an ERROR (the permission or call that
 * failed, instead of the FAIL remediation), and the scope of the run (accounts, regions, checks,
 * resources per service) for the json "scope" member and the table header.  Pure: no I/O.
 */
#ifndef CTL_AUDIT_ENRICH_H
#define CTL_AUDIT_ENRICH_H

#include <stddef.h>

#include <jansson.h>

#include "ctl/audit/checks.h"
#include "ctl/audit/report.h"
#include "pki/err.h"

/* The rule's CLI template with {arn}, {region} and {name} (the part after the last '/') filled
 * from the finding, into buf.  NULL when the check has no template or the finding is not FAIL. */
const char *audit_remediation_cli(const struct ctl_finding *f, char *buf, size_t len);

/* What to do about an ERROR finding: the IAM action of the call its message names and how to
 * grant it, or the cause for throttling, network and missing-data errors.  Into buf. */
const char *audit_error_remediation(const char *message, char *buf, size_t len);

/* Sets remediation_cli on every FAIL and the error remediation on every ERROR.  0 or -1. */
int audit_report_enrich(struct ctl_report *report, struct mk_err *err) MK_MUST_CHECK;

/* A new, empty scope: {"accounts": [], "regions": [], "checks": [...], "resources": {...},
 * "as_of": "YYYY-MM-DD"}.  NULL when out of memory.  Caller owns it (json_decref). */
json_t *audit_scope_new(const struct audit_eval_options *opts, int as_of_given);

/* Adds one account's inventory (account id or NULL when unknown: then the ids in the resource
 * ARNs are used).  0 or -1 (out of memory). */
int audit_scope_add(json_t *scope, const struct audit_inventory *inv,
                    const char *account) MK_MUST_CHECK;

/* The KPIs beside the checks: {"kms_access_denied": [...], "oldest_kafka_version": [...]}.
 * NULL when out of memory; caller decrefs. */
json_t *audit_kpis_new(void);

/*
 * Adds one account's KPIs: per audited customer-managed key, the AccessDenied events CloudTrail
 * recorded over --lookback-days with their principals; per region with provisioned MSK clusters,
 * the oldest Kafka version and its days until (negative: past) end of support at the audit
 * date.  account NULL: the ids in the ARNs.  0 or -1 (out of memory).
 */
int audit_kpis_add(json_t *kpis, const struct audit_inventory *inv,
                   const struct audit_eval_options *opts, const char *account) MK_MUST_CHECK;

/* The KPIs as prometheus text (HELP/TYPE/samples); NULL when out of memory.  Caller frees. */
char *audit_kpis_prometheus(const json_t *kpis);

#endif
