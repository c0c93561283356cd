/*
 * audit_aws.h: fills a struct audit_inventory from AWS (MSK, Kinesis, Firehose, KMS).
 *
 * Listings are paginated to the end; the describe calls run on a pthread pool of up to
 * `concurrency` threads sharing one aws_client per region (aws_client is thread-safe).  A failed
 * call is recorded in the inventory (the checks turn it into ERROR findings); only problems that
 * stop the whole audit (no region, no credentials) make audit_collect() fail.
 */
#ifndef CTL_AUDIT_AWS_H
#define CTL_AUDIT_AWS_H

#include <stddef.h>
#include <stdio.h>

#include "ctl/audit/checks.h"
#include "pki/err.h"

struct audit_collect_options {
    const char *const *regions; /* NULL / 0 = the client's default region (env, profile) */
    size_t n_regions;
    const char *profile;      /* NULL = default chain */
    const char *endpoint_url; /* NULL = the real AWS endpoints */
    unsigned concurrency;     /* >= 1 */
    const struct audit_eval_options *eval;
    /* Added: audit another account through STS AssumeRole (NULL = the chain's own account). */
    const char *role_arn;
    const char *role_session_name;
    const char *external_id;
    const char *const *ca_arns; /* extra Private CAs to check (--ca-arn) */
    size_t n_ca_arns;
    /* Progress (resources done per service) is written here as one rewritten line; NULL =
     * none.  The caller passes stderr only when it is a terminal and --quiet is not given. */
    FILE *progress;
};

/*
 * Collects everything the selected checks need into inv (which must be empty).  Returns 0, or -1
 * with err set: MK_ERR_CONFIG (no region), MK_ERR_CREDS (no credentials) or MK_ERR_NOMEM.
 * With role_arn, a role that cannot be assumed (AccessDenied, STS unreachable) is not a failure:
 * inv->account_failed is set and the checks report it as ERROR findings; only source
 * credentials missing altogether (MK_ERR_CREDS) fail the call.
 */
int audit_collect(const struct audit_collect_options *opts, struct audit_inventory *inv,
                  struct mk_err *err) MK_MUST_CHECK;

#endif
