/*
 * audit.c: `mskpkictl audit`, the posture check of MSK, Kinesis, Firehose and KMS.
 *
 * Parse the command line (audit_cli.c), collect the AWS answers (audit_aws.c), evaluate the
 * checks (audit_checks.c), sort and write the report (report.c).  Exit codes are in ctl.h and
 * docs/audit.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl/audit/aws.h"
#include "ctl/audit/checks.h"
#include "ctl/audit/cli.h"
#include "ctl/ctl.h"
#include "ctl/output.h"
#include "ctl/audit/report.h"

/* The rules of the checks that ran, in check-id order (SARIF rules, JUnit suites). */
static size_t selected_rules(const struct audit_cli *cli, struct ctl_rule *rules)
{
    size_t n = 0;
    for (int i = 0; i < AUDIT_CHECK__MAX; i++) {
        if (cli->eval.selected[i]) {
            rules[n++] = audit_rules[i];
        }
    }
    for (size_t a = 1; a < n; a++) {
        for (size_t b = a; b > 0 && strcmp(rules[b - 1].id, rules[b].id) > 0; b--) {
            struct ctl_rule t = rules[b];
            rules[b] = rules[b - 1];
            rules[b - 1] = t;
        }
    }
    return n;
}

static int write_report(const struct audit_cli *cli, const struct ctl_report *report,
                        struct mk_err *err)
{
    struct ctl_rule rules[AUDIT_CHECK__MAX];
    size_t n_rules = selected_rules(cli, rules);
    char *text = NULL;
    size_t len = 0;
    int rc = -1;
    /* Colour only for a person at a terminal; NO_COLOR (no-color.org) turns it off. */
    int colour = cli->format == CTL_FORMAT_TABLE && cli->output == NULL && isatty(STDOUT_FILENO) &&
                 getenv("NO_COLOR") == NULL;

    MK_GUARD(ctl_report_render(report, cli->format, rules, n_rules, colour, &text, &len, err));
    if (cli->output != NULL) {
        MK_GUARD(ctl_write_report("--output", cli->output, text, len, err));
    } else {
        MK_ENSURE(fwrite(text, 1, len, stdout) == len && fflush(stdout) == 0, err, MK_ERR_IO,
                  "cannot write the report to standard output");
    }
    rc = 0;
out:
    free(text);
    return rc;
}

/*
 * One account: collect and evaluate.  With a role, every finding carries the role's account id
 * and a role that cannot be assumed becomes ERROR findings (audit_collect); -1 only when the
 * audit as a whole cannot go on (no credentials at all, out of memory).
 */
static int audit_account(const struct audit_cli *cli, const char *role_arn,
                         struct ctl_report *report, struct mk_err *err)
{
    struct audit_inventory *inv = audit_inventory_new();
    char acct[13];
    int rc = -1;
    struct audit_collect_options co = {
        .regions = (const char *const *)cli->regions,
        .n_regions = cli->n_regions,
        .profile = cli->profile,
        .endpoint_url = cli->endpoint_url,
        .concurrency = cli->concurrency,
        .eval = &cli->eval,
        .role_arn = role_arn,
        .role_session_name = cli->role_session_name != NULL ? cli->role_session_name
                                                            : "mskpki-audit",
        .external_id = cli->external_id,
        .ca_arns = (const char *const *)cli->ca_arns,
        .n_ca_arns = cli->n_ca_arns,
    };
    MK_ENSURE(inv != NULL, err, MK_ERR_NOMEM, "out of memory");
    MK_GUARD(ctl_report_set_account(
        report, role_arn != NULL && audit_role_account(role_arn, acct) == 0 ? acct : NULL, err));
    if (audit_collect(&co, inv, err) != 0) {
        mk_err_prefix(err, "cannot run");
        goto out;
    }
    MK_GUARD(audit_evaluate(inv, &cli->eval, report, err));
    rc = 0;
out:
    audit_inventory_free(inv);
    return rc;
}

int ctl_audit_main(int argc, char **argv)
{
    struct audit_cli cli;
    struct mk_err err = {0};
    struct ctl_report *report = NULL;
    int status = CTL_EXIT_UNAVAILABLE;

    if (audit_cli_parse(argc, argv, &cli, &err) != 0) {
        if (err.code == MK_ERR_USAGE) {
            return ctl_usage_error("audit", "%s", err.msg);
        }
        ctl_print_err("audit", &err);
        return CTL_EXIT_UNAVAILABLE;
    }
    if (cli.help) {
        audit_cli_usage(stdout);
        audit_cli_free(&cli);
        return CTL_EXIT_OK;
    }
    ctl_verbosity_set(cli.quiet ? CTL_QUIET : cli.verbose ? CTL_VERBOSE : CTL_NORMAL);
    ctl_log_begin(0);
    report = ctl_report_new();
    if (report == NULL) {
        fprintf(stderr, "mskpkictl audit: out of memory\n");
        goto out;
    }
    /* Accounts one after the other, each with --concurrency calls in flight. */
    for (size_t i = 0; i < (cli.n_role_arns > 0 ? cli.n_role_arns : 1); i++) {
        if (audit_account(&cli, cli.n_role_arns > 0 ? cli.role_arns[i] : NULL, report, &err) !=
            0) {
            ctl_print_err("audit", &err);
            goto out;
        }
    }
    ctl_report_sort(report);
    if (write_report(&cli, report, &err) != 0) {
        ctl_print_err("audit", &err);
        goto out;
    }
    status = ctl_report_failed(report, cli.fail_on) ? CTL_EXIT_FINDINGS : CTL_EXIT_OK;
out:
    ctl_report_free(report);
    audit_cli_free(&cli);
    return status;
}
