/* audit_cli.c: command line parsing of `mskpkictl audit` (see audit_cli.h). */
#include "ctl/audit/cli.h"
#include "ctl/output.h"
#include "pki/text.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/audit/versions.h"

void audit_cli_usage(FILE *out)
{
    fprintf(
        out,
        "usage: mskpkictl audit [--region R]... [--profile P] [--endpoint-url URL]\n"
        "                       [--checks ID,...] [--format table|json|sarif|junit|prometheus]\n"
        "                       [--output FILE] [--concurrency N] [--fail-on high|medium|low]\n"
        "                       [--min-kafka-version V] [--ca-arn ARN]... [--ca-min-days N]\n"
        "                       [--cert-validity-days N] [--required-tags KEY,...]\n"
        "                       [--role-arn ARN|FILE]... [--role-session-name S] [--external-id "
        "X]\n"
        "                       [--as-of YYYY-MM-DD] [--eos-warning-days N]\n"
        "                       [--status PASS,FAIL,ERROR,NOT_APPLICABLE] " CTL_VERBOSITY_USAGE "\n"
        "                       [--history FILE] [--lookback-days N]"
        "\n\n"
        "Checks MSK, Kinesis, Firehose, KMS and Private CA posture.  Exit 0: no FAIL at or above\n"
        "--fail-on (default low) and no ERROR; 1: there are; 2: usage error; 3: could not run.\n\n"
        "checks:\n");
    for (int i = 0; i < AUDIT_CHECK__MAX; i++) {
        fprintf(out, "  %-28s %-6s %s\n", audit_rules[i].id,
                ctl_severity_name(audit_rules[i].severity), audit_rules[i].title);
    }
}

void audit_cli_free(struct audit_cli *cli)
{
    if (cli == NULL) {
        return;
    }
    for (size_t i = 0; i < cli->n_regions; i++) {
        free(cli->regions[i]);
    }
    free(cli->profile);
    free(cli->endpoint_url);
    free(cli->output);
    free(cli->min_kafka_version);
    free(cli->history);
    for (size_t i = 0; i < cli->n_role_arns; i++) {
        free(cli->role_arns[i]);
    }
    free(cli->role_arns);
    free(cli->role_session_name);
    free(cli->external_id);
    for (size_t i = 0; i < cli->n_ca_arns; i++) {
        free(cli->ca_arns[i]);
    }
    for (size_t i = 0; i < cli->n_required_tags; i++) {
        free(cli->required_tags[i]);
    }
    memset(cli, 0, sizeof(*cli));
}

/* Region names are lower-case letters, digits and dashes ("us-east-1", "eu-central-2"). */
static int region_valid(const char *r)
{
    if (r[0] == '\0' || strlen(r) > 32) {
        return 0;
    }
    for (const char *p = r; *p != '\0'; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-')) {
            return 0;
        }
    }
    return 1;
}

static int add_regions(struct audit_cli *cli, const char *value, struct mk_err *err)
{
    int rc = -1;
    char *copy = strdup(value);
    char *save = NULL;
    MK_ENSURE(copy != NULL, err, MK_ERR_NOMEM, "out of memory");
    MK_ENSURE(value[0] != '\0', err, MK_ERR_USAGE, "--region: empty region name");
    for (char *tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        int dup = 0;
        MK_ENSURE(region_valid(tok), err, MK_ERR_USAGE, "--region: invalid region name '%s'", tok);
        for (size_t i = 0; i < cli->n_regions; i++) {
            dup |= strcmp(cli->regions[i], tok) == 0;
        }
        if (dup) {
            continue;
        }
        MK_ENSURE(cli->n_regions < AUDIT_MAX_REGIONS, err, MK_ERR_USAGE,
                  "--region: more than %d regions", AUDIT_MAX_REGIONS);
        cli->regions[cli->n_regions] = strdup(tok);
        MK_ENSURE(cli->regions[cli->n_regions] != NULL, err, MK_ERR_NOMEM, "out of memory");
        cli->n_regions++;
    }
    rc = 0;
out:
    free(copy);
    return rc;
}

static int set_checks(struct audit_cli *cli, const char *value, struct mk_err *err)
{
    int rc = -1;
    char *copy = strdup(value);
    char *save = NULL;
    int any = 0;
    MK_ENSURE(copy != NULL, err, MK_ERR_NOMEM, "out of memory");
    memset(cli->eval.selected, 0, sizeof(cli->eval.selected));
    for (char *tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        int id = audit_check_lookup(tok);
        MK_ENSURE(id >= 0, err, MK_ERR_USAGE, "--checks: unknown check id '%s'", tok);
        cli->eval.selected[id] = 1;
        any = 1;
    }
    MK_ENSURE(any, err, MK_ERR_USAGE, "--checks: no check id given");
    rc = 0;
out:
    free(copy);
    return rc;
}

static int set_string(char **dst, const char *opt, const char *value, struct mk_err *err)
{
    if (value[0] == '\0') {
        mk_err_set(err, MK_ERR_USAGE, "%s: empty value", opt);
        return -1;
    }
    free(*dst);
    *dst = strdup(value);
    if (*dst == NULL) {
        mk_err_set(err, MK_ERR_NOMEM, "out of memory");
        return -1;
    }
    return 0;
}

static int set_concurrency(struct audit_cli *cli, const char *value, struct mk_err *err)
{
    long n;
    if (mk_parse_long(value, 1, AUDIT_MAX_CONCURRENCY, &n) != 0) {
        mk_err_set(err, MK_ERR_USAGE, "--concurrency: '%s' is not a number from 1 to %d", value,
                   AUDIT_MAX_CONCURRENCY);
        return -1;
    }
    cli->concurrency = (unsigned)n;
    return 0;
}

int audit_role_account(const char *arn, char out[13])
{
    const char *p = arn != NULL && strncmp(arn, "arn:", 4) == 0 ? strchr(arn + 4, ':') : NULL;
    if (p == NULL || strncmp(p, ":iam::", 6) != 0) {
        return -1;
    }
    p += 6;
    for (int i = 0; i < 12; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return -1;
        }
    }
    if (strncmp(p + 12, ":role/", 6) != 0 || p[18] == '\0' || strlen(arn) > 2048) {
        return -1;
    }
    memcpy(out, p, 12);
    out[12] = '\0';
    return 0;
}

static int add_role(struct audit_cli *cli, const char *arn, const char *where, struct mk_err *err)
{
    char acct[13];
    char **grown;
    if (audit_role_account(arn, acct) != 0) {
        mk_err_set(err, MK_ERR_USAGE, "%s: '%.200s' is not an IAM role ARN "
                   "(arn:aws:iam::ACCOUNT:role/NAME)", where, arn);
        return -1;
    }
    for (size_t i = 0; i < cli->n_role_arns; i++) {
        if (strcmp(cli->role_arns[i], arn) == 0) {
            return 0;
        }
    }
    if (cli->n_role_arns >= AUDIT_MAX_ACCOUNTS) {
        mk_err_set(err, MK_ERR_USAGE, "%s: more than %d roles", where, AUDIT_MAX_ACCOUNTS);
        return -1;
    }
    grown = realloc(cli->role_arns, (cli->n_role_arns + 1) * sizeof(*grown));
    if (grown == NULL || (grown[cli->n_role_arns] = strdup(arn)) == NULL) {
        if (grown != NULL) {
            cli->role_arns = grown;
        }
        mk_err_set(err, MK_ERR_NOMEM, "out of memory");
        return -1;
    }
    cli->role_arns = grown;
    cli->n_role_arns++;
    return 0;
}

/* --role-arn takes an ARN, or a file with one ARN per line (blank lines and # comments). */
static int add_roles(struct audit_cli *cli, const char *value, struct mk_err *err)
{
    FILE *fp;
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0, rc = -1;
    char where[600];

    if (strncmp(value, "arn:", 4) == 0) {
        return add_role(cli, value, "--role-arn", err);
    }
    fp = fopen(value, "re");
    if (fp == NULL) {
        mk_err_errno(err, MK_ERR_USAGE, "--role-arn: '%s' is neither a role ARN nor a readable "
                     "file", value);
        return -1;
    }
    while (getline(&line, &cap, fp) > 0) {
        char *s = line, *e;
        lineno++;
        while (*s == ' ' || *s == '\t') {
            s++;
        }
        e = s + strlen(s);
        while (e > s && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t')) {
            *--e = '\0';
        }
        if (*s == '\0' || *s == '#') {
            continue;
        }
        snprintf(where, sizeof(where), "%.500s:%d", value, lineno);
        MK_GUARD(add_role(cli, s, where, err));
    }
    MK_ENSURE(!ferror(fp), err, MK_ERR_USAGE, "--role-arn: cannot read '%s'", value);
    MK_ENSURE(lineno > 0 && cli->n_role_arns > 0, err, MK_ERR_USAGE,
              "--role-arn: '%s' holds no role ARN", value);
    rc = 0;
out:
    free(line);
    fclose(fp);
    return rc;
}

/* Splits a comma list into dst (copies, duplicates dropped); check says what an item must be. */
static int add_list(char **dst, size_t *n, size_t max, const char *opt, const char *value,
                    int (*valid)(const char *), const char *what, struct mk_err *err)
{
    int rc = -1;
    char *copy = strdup(value);
    char *save = NULL;
    int any = 0;
    MK_ENSURE(copy != NULL, err, MK_ERR_NOMEM, "out of memory");
    for (char *tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        int dup = 0;
        any = 1;
        MK_ENSURE(valid(tok), err, MK_ERR_USAGE, "%s: '%.200s' is not %s", opt, tok, what);
        for (size_t i = 0; i < *n; i++) {
            dup |= strcmp(dst[i], tok) == 0;
        }
        if (dup) {
            continue;
        }
        MK_ENSURE(*n < max, err, MK_ERR_USAGE, "%s: more than %zu values", opt, max);
        dst[*n] = strdup(tok);
        MK_ENSURE(dst[*n] != NULL, err, MK_ERR_NOMEM, "out of memory");
        (*n)++;
    }
    MK_ENSURE(any, err, MK_ERR_USAGE, "%s: no value given", opt);
    rc = 0;
out:
    free(copy);
    return rc;
}

/* AWS tag keys: 1 to 128 characters, no control characters. */
static int tag_key_valid(const char *k)
{
    size_t l = strlen(k);
    if (l == 0 || l > 128 || strncmp(k, "aws:", 4) == 0) {
        return 0;
    }
    for (const char *p = k; *p != '\0'; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            return 0;
        }
    }
    return 1;
}

static int set_days(long *dst, const char *opt, const char *value, long min, struct mk_err *err)
{
    long n;
    if (mk_parse_long(value, min, 36500, &n) != 0) {
        mk_err_set(err, MK_ERR_USAGE, "%s: '%s' is not a number of days from %ld to 36500", opt,
                   value, min);
        return -1;
    }
    *dst = n;
    return 0;
}

/* --status FAIL,ERROR: the statuses the table shows. */
static int set_status(struct audit_cli *cli, const char *value, struct mk_err *err)
{
    int rc = -1;
    char *copy = strdup(value);
    char *save = NULL;
    MK_ENSURE(copy != NULL, err, MK_ERR_NOMEM, "out of memory");
    cli->status_mask = 0;
    for (char *tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        int found = 0;
        for (int s = 0; s < CTL_STATUS__MAX; s++) {
            if (strcmp(tok, ctl_status_name((enum ctl_status)s)) == 0) {
                cli->status_mask |= 1u << s;
                found = 1;
            }
        }
        MK_ENSURE(found, err, MK_ERR_USAGE,
                  "--status: unknown status '%.100s' (PASS, FAIL, ERROR, NOT_APPLICABLE)", tok);
    }
    MK_ENSURE(cli->status_mask != 0, err, MK_ERR_USAGE, "--status: no status given");
    rc = 0;
out:
    free(copy);
    return rc;
}

/* Applies one option with its value. */
static int apply(struct audit_cli *cli, const char *opt, const char *value, struct mk_err *err)
{
    if (strcmp(opt, "--region") == 0) {
        return add_regions(cli, value, err);
    }
    if (strcmp(opt, "--profile") == 0) {
        return set_string(&cli->profile, opt, value, err);
    }
    if (strcmp(opt, "--endpoint-url") == 0) {
        if (strncmp(value, "http://", 7) != 0 && strncmp(value, "https://", 8) != 0) {
            mk_err_set(err, MK_ERR_USAGE, "--endpoint-url: '%s' is not an http(s) URL", value);
            return -1;
        }
        return set_string(&cli->endpoint_url, opt, value, err);
    }
    if (strcmp(opt, "--checks") == 0) {
        cli->checks_given = 1;
        return set_checks(cli, value, err);
    }
    if (strcmp(opt, "--ca-arn") == 0) {
        return add_list(cli->ca_arns, &cli->n_ca_arns, AUDIT_MAX_CA_ARNS, opt, value,
                        audit_ca_arn_valid, "a Private CA ARN", err);
    }
    if (strcmp(opt, "--required-tags") == 0) {
        return add_list(cli->required_tags, &cli->n_required_tags, AUDIT_MAX_REQUIRED_TAGS, opt,
                        value, tag_key_valid, "a tag key (1-128 characters, not aws:)", err);
    }
    if (strcmp(opt, "--ca-min-days") == 0) {
        return set_days(&cli->eval.ca_min_days, opt, value, 0, err);
    }
    if (strcmp(opt, "--cert-validity-days") == 0) {
        return set_days(&cli->eval.cert_days, opt, value, 1, err);
    }
    if (strcmp(opt, "--lookback-days") == 0) {
        /* CloudTrail's event history keeps 90 days. */
        if (set_days(&cli->eval.lookback_days, opt, value, 0, err) != 0 ||
            cli->eval.lookback_days > 90) {
            mk_err_set(err, MK_ERR_USAGE,
                       "--lookback-days: '%s' is not a number of days from 0 to 90", value);
            return -1;
        }
        return 0;
    }
    if (strcmp(opt, "--eos-warning-days") == 0) {
        return set_days(&cli->eval.eos_warning_days, opt, value, 0, err);
    }
    if (strcmp(opt, "--as-of") == 0) {
        /* Midnight UTC of the date: a report with --as-of is the same whenever it runs. */
        if (audit_date_parse(value, &cli->eval.now) != 0) {
            mk_err_set(err, MK_ERR_USAGE, "--as-of: '%s' is not a date like 2026-03-31", value);
            return -1;
        }
        cli->as_of_given = 1;
        return 0;
    }
    if (strcmp(opt, "--status") == 0) {
        return set_status(cli, value, err);
    }
    if (strcmp(opt, "--history") == 0) {
        return set_string(&cli->history, opt, value, err);
    }
    if (strcmp(opt, "--role-arn") == 0) {
        return add_roles(cli, value, err);
    }
    if (strcmp(opt, "--role-session-name") == 0) {
        return set_string(&cli->role_session_name, opt, value, err);
    }
    if (strcmp(opt, "--external-id") == 0) {
        return set_string(&cli->external_id, opt, value, err);
    }
    if (strcmp(opt, "--format") == 0) {
        if (ctl_format_parse(value, &cli->format) != 0) {
            mk_err_set(err, MK_ERR_USAGE,
                       "--format: unknown format '%s' (table, json, sarif, junit, prometheus)",
                       value);
            return -1;
        }
        return 0;
    }
    if (strcmp(opt, "--output") == 0) {
        return set_string(&cli->output, opt, value, err);
    }
    if (strcmp(opt, "--concurrency") == 0) {
        return set_concurrency(cli, value, err);
    }
    if (strcmp(opt, "--fail-on") == 0) {
        if (ctl_severity_parse(value, &cli->fail_on) != 0) {
            mk_err_set(err, MK_ERR_USAGE, "--fail-on: unknown severity '%s' (high, medium, low)",
                       value);
            return -1;
        }
        return 0;
    }
    if (strcmp(opt, "--min-kafka-version") == 0) {
        if (!audit_version_exact(value)) {
            mk_err_set(err, MK_ERR_USAGE, "--min-kafka-version: '%s' is not a version like 2.5.1",
                       value);
            return -1;
        }
        return set_string(&cli->min_kafka_version, opt, value, err);
    }
    mk_err_set(err, MK_ERR_USAGE, "unknown option '%s'", opt);
    return -1;
}

/* Every option but --help, --quiet and --verbose takes a value, applied by apply() under its "--name". */
static const struct option longopts[] = {
    {"region", required_argument, NULL, 0},
    {"profile", required_argument, NULL, 0},
    {"endpoint-url", required_argument, NULL, 0},
    {"checks", required_argument, NULL, 0},
    {"format", required_argument, NULL, 0},
    {"output", required_argument, NULL, 0},
    {"concurrency", required_argument, NULL, 0},
    {"fail-on", required_argument, NULL, 0},
    {"min-kafka-version", required_argument, NULL, 0},
    {"ca-arn", required_argument, NULL, 0},
    {"ca-min-days", required_argument, NULL, 0},
    {"cert-validity-days", required_argument, NULL, 0},
    {"required-tags", required_argument, NULL, 0},
    {"role-arn", required_argument, NULL, 0},
    {"role-session-name", required_argument, NULL, 0},
    {"external-id", required_argument, NULL, 0},
    {"as-of", required_argument, NULL, 0},
    {"eos-warning-days", required_argument, NULL, 0},
    {"status", required_argument, NULL, 0},
    {"history", required_argument, NULL, 0},
    {"lookback-days", required_argument, NULL, 0},
    CTL_VERBOSITY_OPTIONS,
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

int audit_cli_parse(int argc, char **argv, struct audit_cli *cli, struct mk_err *err)
{
    int rc = -1;
    char name[64];

    memset(cli, 0, sizeof(*cli));
    cli->format = CTL_FORMAT_TABLE;
    cli->concurrency = AUDIT_DEFAULT_CONCURRENCY;
    cli->fail_on = CTL_SEV_LOW;
    cli->eval.ca_min_days = AUDIT_DEFAULT_CA_MIN_DAYS;
    cli->eval.cert_days = AUDIT_DEFAULT_CERT_DAYS;
    cli->eval.eos_warning_days = AUDIT_DEFAULT_EOS_WARNING_DAYS;
    cli->eval.lookback_days = AUDIT_DEFAULT_LOOKBACK_DAYS;
    for (int i = 0; i < AUDIT_CHECK__MAX; i++) {
        cli->eval.selected[i] = 1;
    }
    MK_GUARD(ctl_options_check(argc, argv, longopts, err));
    for (;;) {
        int index = -1;
        int ch = getopt_long(argc, argv, ":hqv", longopts, &index);
        if (ch == -1) {
            break;
        }
        switch (ch) {
        case 'h':
            cli->help = 1;
            break;
        case 'q':
        case 'v':
            *(ch == 'q' ? &cli->quiet : &cli->verbose) = 1;
            MK_ENSURE(!(cli->quiet && cli->verbose), err, MK_ERR_USAGE,
                      "--quiet and --verbose exclude each other");
            break;
        case 0:
            MK_ENSURE(snprintf(name, sizeof(name), "--%s", longopts[index].name) > 0, err,
                      MK_ERR_USAGE, "option name");
            MK_GUARD(apply(cli, name, optarg, err));
            break;
        case ':':
            MK_ENSURE(0, err, MK_ERR_USAGE, "%s: missing value", argv[optind - 1]);
            break;
        default:
            MK_ENSURE(0, err, MK_ERR_USAGE, "unknown option '%s'", argv[optind - 1]);
            break;
        }
    }
    MK_ENSURE(optind >= argc, err, MK_ERR_USAGE, "unexpected argument '%s'", argv[optind]);
    if (cli->min_kafka_version == NULL) {
        cli->min_kafka_version = strdup(AUDIT_DEFAULT_MIN_KAFKA);
        MK_ENSURE(cli->min_kafka_version != NULL, err, MK_ERR_NOMEM, "out of memory");
    }
    cli->eval.min_kafka_version = cli->min_kafka_version;
    /* tags.ownership has nothing to check without keys: off unless they are given. */
    if (cli->n_required_tags == 0) {
        MK_ENSURE(!(cli->checks_given && cli->eval.selected[AUDIT_TAGS_OWNERSHIP]), err,
                  MK_ERR_USAGE, "--checks: tags.ownership needs --required-tags KEY,...");
        cli->eval.selected[AUDIT_TAGS_OWNERSHIP] = 0;
    }
    cli->eval.required_tags = (const char *const *)cli->required_tags;
    cli->eval.n_required_tags = cli->n_required_tags;
    rc = 0;
out:
    if (rc != 0) {
        audit_cli_free(cli);
    }
    return rc;
}
