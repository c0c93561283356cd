/* audit_cli.c: command line parsing of `mskpkictl audit` (see audit_cli.h). */
#include "ctl/audit_cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void audit_cli_usage(FILE *out)
{
    fprintf(
        out,
        "usage: mskpkictl audit [--region R]... [--profile P] [--endpoint-url URL]\n"
        "                       [--checks ID,...] [--format table|json|sarif|junit]\n"
        "                       [--output FILE] [--concurrency N] [--fail-on high|medium|low]\n"
        "                       [--min-kafka-version V]\n\n"
        "Checks MSK, Kinesis, Firehose and KMS posture.  Exit 0: no FAIL at or above\n"
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
    char *end = NULL;
    long n;
    errno = 0;
    n = strtol(value, &end, 10);
    if (errno != 0 || end == value || *end != '\0' || n < 1 || n > AUDIT_MAX_CONCURRENCY) {
        mk_err_set(err, MK_ERR_USAGE, "--concurrency: '%s' is not a number from 1 to %d", value,
                   AUDIT_MAX_CONCURRENCY);
        return -1;
    }
    cli->concurrency = (unsigned)n;
    return 0;
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
        return set_checks(cli, value, err);
    }
    if (strcmp(opt, "--format") == 0) {
        if (ctl_format_parse(value, &cli->format) != 0) {
            mk_err_set(err, MK_ERR_USAGE,
                       "--format: unknown format '%s' (table, json, sarif, junit)", value);
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
        if (!audit_version_valid(value)) {
            mk_err_set(err, MK_ERR_USAGE, "--min-kafka-version: '%s' is not a version like 2.5.1",
                       value);
            return -1;
        }
        return set_string(&cli->min_kafka_version, opt, value, err);
    }
    mk_err_set(err, MK_ERR_USAGE, "unknown option '%s'", opt);
    return -1;
}

static const char *const with_value[] = {
    "--region",      "--profile", "--endpoint-url",      "--checks", "--format", "--output",
    "--concurrency", "--fail-on", "--min-kafka-version",
};

static int takes_value(const char *opt)
{
    for (size_t i = 0; i < sizeof(with_value) / sizeof(with_value[0]); i++) {
        if (strcmp(opt, with_value[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

int audit_cli_parse(int argc, char **argv, struct audit_cli *cli, struct mk_err *err)
{
    int rc = -1;
    char *name = NULL;

    memset(cli, 0, sizeof(*cli));
    cli->format = CTL_FORMAT_TABLE;
    cli->concurrency = AUDIT_DEFAULT_CONCURRENCY;
    cli->fail_on = CTL_SEV_LOW;
    for (int i = 0; i < AUDIT_CHECK__MAX; i++) {
        cli->eval.selected[i] = 1;
    }
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *eq = strchr(arg, '=');
        const char *value;
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            cli->help = 1;
            continue;
        }
        MK_ENSURE(strncmp(arg, "--", 2) == 0, err, MK_ERR_USAGE, "unexpected argument '%s'", arg);
        free(name);
        name = eq != NULL ? strndup(arg, (size_t)(eq - arg)) : strdup(arg);
        MK_ENSURE(name != NULL, err, MK_ERR_NOMEM, "out of memory");
        MK_ENSURE(takes_value(name), err, MK_ERR_USAGE, "unknown option '%s'", name);
        if (eq != NULL) {
            value = eq + 1;
        } else {
            MK_ENSURE(i + 1 < argc, err, MK_ERR_USAGE, "%s: missing value", name);
            value = argv[++i];
        }
        MK_GUARD(apply(cli, name, value, err));
    }
    if (cli->min_kafka_version == NULL) {
        cli->min_kafka_version = strdup(AUDIT_DEFAULT_MIN_KAFKA);
        MK_ENSURE(cli->min_kafka_version != NULL, err, MK_ERR_NOMEM, "out of memory");
    }
    cli->eval.min_kafka_version = cli->min_kafka_version;
    rc = 0;
out:
    free(name);
    if (rc != 0) {
        audit_cli_free(cli);
    }
    return rc;
}
