/*
 * audit_cli.h: the command line of `mskpkictl audit` (see docs/audit.md for the options).
 *
 * audit_cli_parse() fills a struct audit_cli from argv (argv[0] is "audit"); the struct owns its
 * strings and is released with audit_cli_free().  A usage error returns -1 with err->code
 * MK_ERR_USAGE and a one-line message naming the option or value.
 */
#ifndef CTL_AUDIT_CLI_H
#define CTL_AUDIT_CLI_H

#include <stddef.h>

#include "ctl/audit/checks.h"
#include "ctl/audit/report.h"
#include "pki/err.h"

#define AUDIT_MAX_REGIONS 64
#define AUDIT_MAX_CONCURRENCY 64
#define AUDIT_DEFAULT_CONCURRENCY 8
#define AUDIT_MAX_ACCOUNTS 1000
#define AUDIT_MAX_CA_ARNS 64

struct audit_cli {
    char *regions[AUDIT_MAX_REGIONS];
    size_t n_regions;
    char *profile;
    char *endpoint_url;
    char *output;
    char *min_kafka_version;
    enum ctl_format format;
    unsigned concurrency;
    enum ctl_severity fail_on;
    struct audit_eval_options eval; /* eval.min_kafka_version points into min_kafka_version */
    int help;
    /* --role-arn (ARNs, or files of ARNs): one audit per account, in the order given */
    char **role_arns;
    size_t n_role_arns;
    char *role_session_name;
    char *external_id;
    char *ca_arns[AUDIT_MAX_CA_ARNS]; /* --ca-arn */
    size_t n_ca_arns;
    char *required_tags[AUDIT_MAX_REQUIRED_TAGS]; /* --required-tags; eval.required_tags */
    size_t n_required_tags;
    int checks_given; /* --checks was used */
    int as_of_given;  /* --as-of was used (eval.now is then that date) */
    int quiet;        /* --quiet (ctl/output.h): no progress on stderr either */
    int verbose;      /* --verbose */
    char *history;    /* --history FILE (SQLite), or NULL */
    unsigned status_mask; /* --status: 1 << status of what the table shows; 0 = all */
};

/* The 12-digit account of an IAM role ARN (arn:PARTITION:iam::ACCOUNT:role/NAME) into out,
 * or -1 when arn is not one. */
int audit_role_account(const char *arn, char out[13]) MK_MUST_CHECK;

int audit_cli_parse(int argc, char **argv, struct audit_cli *cli, struct mk_err *err) MK_MUST_CHECK;
void audit_cli_free(struct audit_cli *cli);
void audit_cli_usage(FILE *out);

#endif
