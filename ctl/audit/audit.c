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
#include <time.h>
#include <unistd.h>

#include "ctl/audit/aws.h"
#include "ctl/audit/checks.h"
#include "ctl/audit/cli.h"
#include "ctl/audit/enrich.h"
#include "ctl/audit/history.h"
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
/* The (account, region) pairs the run covered, for the history's "gone". */
struct areas {
    struct audit_history_area *items;
    char **owned; /* the strings of items, two per area */
    size_t n;
};

static void areas_free(struct areas *a)
{
    for (size_t i = 0; i < 2 * a->n; i++) {
        free(a->owned[i]);
    }
    free(a->owned);
    free(a->items);
}

static int areas_add(struct areas *a, const char *account, const char *region)
{
    struct audit_history_area *items = realloc(a->items, (a->n + 1) * sizeof(*items));
    char **owned;
    if (items == NULL) {
        return -1;
    }
    a->items = items;
    owned = realloc(a->owned, 2 * (a->n + 1) * sizeof(*owned));
    if (owned == NULL) {
        return -1;
    }
    a->owned = owned;
    owned[2 * a->n] = strdup(account);
    owned[2 * a->n + 1] = strdup(region);
    items[a->n].account = owned[2 * a->n];
    items[a->n].region = owned[2 * a->n + 1];
    a->n++;
    return owned[2 * a->n - 2] != NULL && owned[2 * a->n - 1] != NULL ? 0 : -1;
}

static int audit_account(const struct audit_cli *cli, const char *role_arn,
                         struct ctl_report *report, json_t *scope, json_t *kpis,
                         struct areas *areas, struct mk_err *err)
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
        .role_session_name =
            cli->role_session_name != NULL ? cli->role_session_name : "mskpki-audit",
        .external_id = cli->external_id,
        .ca_arns = (const char *const *)cli->ca_arns,
        .n_ca_arns = cli->n_ca_arns,
        /* Progress only for a person watching a terminal. */
        .progress = !cli->quiet && isatty(STDERR_FILENO) ? stderr : NULL,
    };
    int have_acct = role_arn != NULL && audit_role_account(role_arn, acct) == 0;
    MK_ENSURE(inv != NULL, err, MK_ERR_NOMEM, "out of memory");
    MK_GUARD(ctl_report_set_account(report, have_acct ? acct : NULL, err));
    if (audit_collect(&co, inv, err) != 0) {
        mk_err_prefix(err, "cannot run");
        goto out;
    }
    MK_GUARD(audit_evaluate(inv, &cli->eval, report, err));
    MK_ENSURE(audit_scope_add(scope, inv, have_acct ? acct : NULL) == 0 &&
                  audit_kpis_add(kpis, inv, &cli->eval, have_acct ? acct : NULL) == 0,
              err, MK_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < inv->n_regions; i++) {
        MK_ENSURE(areas_add(areas, have_acct ? acct : "", inv->regions[i]) == 0, err, MK_ERR_NOMEM,
                  "out of memory");
    }
    rc = 0;
out:
    audit_inventory_free(inv);
    return rc;
}

/* --history: record the run, stamp first_seen, add the history KPIs to json and prometheus.
 * The run's own time (not --as-of) dates the episodes. */
static int record_history(const struct audit_cli *cli, struct ctl_report *report,
                          const struct areas *areas, struct mk_err *err)
{
    struct audit_history *h = NULL;
    const char *checks[AUDIT_CHECK__MAX];
    size_t n = 0;
    char *prom = NULL;
    json_t *kpis = NULL;
    int rc = -1;
    for (int i = 0; i < AUDIT_CHECK__MAX; i++) {
        if (cli->eval.selected[i]) {
            checks[n++] = audit_rules[i].id;
        }
    }
    MK_GUARD(audit_history_open(cli->history, &h, err));
    MK_GUARD(audit_history_record(h, report, ctl_report_time(report), checks, n, areas->items,
                                  areas->n, err));
    MK_GUARD(audit_history_kpis(h, ctl_report_time(report), checks, n, &prom, &kpis, err));
    MK_GUARD(ctl_report_add_prometheus(report, prom, err));
    rc = ctl_report_set_json(report, "history", kpis, err); /* steals kpis */
    kpis = NULL;
out:
    json_decref(kpis);
    free(prom);
    audit_history_close(h);
    return rc;
}

int ctl_audit_main(int argc, char **argv)
{
    struct audit_cli cli;
    struct mk_err err = {0};
    struct ctl_report *report = NULL;
    json_t *scope = NULL, *kpis = NULL;
    char *kpi_text = NULL;
    struct areas areas = {0};
    int status = CTL_EXIT_UNAVAILABLE;
    int set;

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
    /* One audit date for every check and account (--as-of, else now). */
    if (cli.eval.now == 0) {
        cli.eval.now = time(NULL);
    }
    ctl_verbosity_set(cli.quiet ? CTL_QUIET : cli.verbose ? CTL_VERBOSE : CTL_NORMAL);
    ctl_log_begin(0);
    report = ctl_report_new();
    scope = audit_scope_new(&cli.eval, cli.as_of_given);
    kpis = audit_kpis_new();
    if (report == NULL || scope == NULL || kpis == NULL) {
        fprintf(stderr, "mskpkictl audit: out of memory\n");
        goto out;
    }
    /* Accounts one after the other, each with --concurrency calls in flight. */
    for (size_t i = 0; i < (cli.n_role_arns > 0 ? cli.n_role_arns : 1); i++) {
        if (audit_account(&cli, cli.n_role_arns > 0 ? cli.role_arns[i] : NULL, report, scope, kpis,
                          &areas, &err) != 0) {
            ctl_print_err("audit", &err);
            goto out;
        }
    }
    ctl_report_sort(report);
    ctl_report_set_table_filter(report, cli.status_mask);
    if (audit_report_enrich(report, &err) != 0) {
        fprintf(stderr, "mskpkictl audit: %s\n", err.msg);
        goto out;
    }
    kpi_text = audit_kpis_prometheus(kpis);
    if (kpi_text == NULL || ctl_report_add_prometheus(report, kpi_text, &err) != 0) {
        fprintf(stderr, "mskpkictl audit: out of memory\n");
        goto out;
    }
    set = ctl_report_set_json(report, "kpis", kpis, &err); /* steals kpis */
    kpis = NULL;
    if (set == 0) {
        set = ctl_report_set_json(report, "scope", scope, &err); /* steals scope */
    } else {
        json_decref(scope);
    }
    scope = NULL;
    if (set != 0 || (cli.history != NULL && record_history(&cli, report, &areas, &err) != 0)) {
        fprintf(stderr, "mskpkictl audit: %s\n", err.msg);
        goto out;
    }
    if (write_report(&cli, report, &err) != 0) {
        ctl_print_err("audit", &err);
        goto out;
    }
    status = ctl_report_failed(report, cli.fail_on) ? CTL_EXIT_FINDINGS : CTL_EXIT_OK;
out:
    areas_free(&areas);
    free(kpi_text);
    json_decref(kpis);
    json_decref(scope);
    ctl_report_free(report);
    audit_cli_free(&cli);
    return status;
}
