/*
 * audit_checks-int.h: what the check modules share (audit_checks.c: MSK, Kinesis, Firehose, KMS
 * and tags; audit_pca.c: AWS Private CA).  Not for other areas.
 */
#ifndef CTL_AUDIT_CHECKS_INT_H
#define CTL_AUDIT_CHECKS_INT_H

#include "aws/arn.h"
#include "ctl/audit/checks.h"

struct eval {
    const struct audit_inventory *inv;
    const struct audit_eval_options *opts;
    struct ctl_report *report;
    struct mk_err *err;
};

/* Adds a finding of check with the rule's severity, resource type and remediation. */
#define ADD(ev, check, status, resource, region, ...)                                              \
    ctl_report_add((ev)->report, audit_rules[check].id, (status), audit_rules[check].severity,     \
                   (resource), audit_rules[check].resource_type, (region),                         \
                   audit_rules[check].remediation, (ev)->err, __VA_ARGS__)

/* The string member key of obj, or NULL.  Borrowed from obj. */
const char *audit_jstr(const json_t *obj, const char *key);
/* Follows a dotted path of object keys; NULL when any step is missing.  Borrowed. */
json_t *audit_jpath(const json_t *obj, const char *path);

/* The pca.* findings of every CA in the inventory (audit_pca.c). */
int audit_eval_pca(struct eval *ev) MK_MUST_CHECK;

#endif
