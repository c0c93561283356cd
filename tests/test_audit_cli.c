/* test_audit_cli.c: `mskpkictl audit` option parsing, defaults and usage errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ctl/audit/cli.h"

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])))

static void test_defaults(void **state)
{
    char *argv[] = {"audit"};
    struct audit_cli cli;
    struct mk_err err = {0};
    (void)state;
    assert_int_equal(audit_cli_parse(ARGC(argv), argv, &cli, &err), 0);
    assert_int_equal(cli.format, CTL_FORMAT_TABLE);
    assert_int_equal(cli.concurrency, 8);
    assert_int_equal(cli.fail_on, CTL_SEV_LOW);
    assert_string_equal(cli.eval.min_kafka_version, "2.5.1");
    assert_int_equal(cli.n_regions, 0);
    assert_null(cli.output);
    for (int i = 0; i < AUDIT_CHECK__MAX; i++) {
        /* tags.ownership only with --required-tags */
        assert_int_equal(cli.eval.selected[i], i != AUDIT_TAGS_OWNERSHIP);
    }
    assert_int_equal(cli.eval.ca_min_days, 90);
    assert_int_equal(cli.eval.cert_days, 30);
    assert_int_equal(cli.n_role_arns, 0);
    assert_int_equal(cli.eval.now, 0); /* the run's time unless --as-of */
    assert_int_equal(cli.eval.eos_warning_days, 90);
    audit_cli_free(&cli);
}

static void test_as_of(void **state)
{
    char *ok[] = {"audit", "--as-of", "2026-03-31", "--eos-warning-days=30"};
    static const char *const bad[][2] = {
        {"--as-of", "2026-02-30"}, {"--as-of", "31.03.2026"},    {"--as-of", "2026-03-31Z"},
        {"--as-of", "tomorrow"},   {"--eos-warning-days", "-1"}, {"--eos-warning-days", "x"},
    };
    struct audit_cli cli;
    struct mk_err err = {0};
    (void)state;
    assert_int_equal(audit_cli_parse(ARGC(ok), ok, &cli, &err), 0);
    assert_int_equal(cli.eval.now, 1774915200); /* 2026-03-31T00:00:00Z */
    assert_int_equal(cli.eval.eos_warning_days, 30);
    audit_cli_free(&cli);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *argv[] = {"audit", (char *)bad[i][0], (char *)bad[i][1]};
        memset(&err, 0, sizeof(err));
        assert_int_equal(audit_cli_parse(ARGC(argv), argv, &cli, &err), -1);
        assert_int_equal(err.code, MK_ERR_USAGE);
        assert_non_null(strstr(err.msg, bad[i][0]));
    }
}

static void test_all_options(void **state)
{
    char *argv[] = {"audit",
                    "--region",
                    "us-east-1",
                    "--region=eu-west-1,us-east-1",
                    "--profile",
                    "prod",
                    "--endpoint-url",
                    "http://127.0.0.1:5000",
                    "--checks",
                    "msk.kafka_version,kms.key_state",
                    "--format=sarif",
                    "--output",
                    "/tmp/x.sarif",
                    "--concurrency",
                    "3",
                    "--fail-on",
                    "high",
                    "--min-kafka-version",
                    "3.5.1"};
    struct audit_cli cli;
    struct mk_err err = {0};
    (void)state;
    assert_int_equal(audit_cli_parse(ARGC(argv), argv, &cli, &err), 0);
    assert_int_equal(cli.n_regions, 2); /* duplicates dropped */
    assert_string_equal(cli.regions[0], "us-east-1");
    assert_string_equal(cli.regions[1], "eu-west-1");
    assert_string_equal(cli.profile, "prod");
    assert_string_equal(cli.endpoint_url, "http://127.0.0.1:5000");
    assert_int_equal(cli.format, CTL_FORMAT_SARIF);
    assert_string_equal(cli.output, "/tmp/x.sarif");
    assert_int_equal(cli.concurrency, 3);
    assert_int_equal(cli.fail_on, CTL_SEV_HIGH);
    assert_string_equal(cli.eval.min_kafka_version, "3.5.1");
    for (int i = 0; i < AUDIT_CHECK__MAX; i++) {
        assert_int_equal(cli.eval.selected[i], i == AUDIT_MSK_VERSION || i == AUDIT_KMS_STATE);
    }
    audit_cli_free(&cli);
}

static void expect_usage(int argc, char **argv, const char *needle)
{
    struct audit_cli cli;
    struct mk_err err = {0};
    assert_int_equal(audit_cli_parse(argc, argv, &cli, &err), -1);
    assert_int_equal(err.code, MK_ERR_USAGE);
    if (strstr(err.msg, needle) == NULL) {
        fail_msg("usage message '%s' lacks '%s'", err.msg, needle);
    }
    assert_null(strchr(err.msg, '\n'));
}

static void test_usage_errors(void **state)
{
    char *a1[] = {"audit", "--bogus"};
    char *a2[] = {"audit", "--checks", "msk.kafka_version,msk.nope"};
    char *a3[] = {"audit", "--format", "xml"};
    char *a4[] = {"audit", "--concurrency", "0"};
    char *a5[] = {"audit", "--concurrency", "8x"};
    char *a6[] = {"audit", "--fail-on", "critical"};
    char *a7[] = {"audit", "--min-kafka-version", "latest"};
    char *a8[] = {"audit", "--region"};
    char *a9[] = {"audit", "--region", "US_EAST"};
    char *a10[] = {"audit", "stray"};
    char *a11[] = {"audit", "--endpoint-url", "ftp://x"};
    char *a12[] = {"audit", "--checks", ","};
    char *a13[] = {"audit", "--output="};
    /* A typo must not silently shorten the minimum to its numeric prefix ("2.5"). */
    char *a14[] = {"audit", "--min-kafka-version", "2.5.1x"};
    char *a15[] = {"audit", "--min-kafka-version", "2..5"};
    char *a16[] = {"audit", "--min-kafka-version", "2.5."};
    char *a17[] = {"audit", "--min-kafka-version", "2.8.2.tiered.1"};
    char *a18[] = {"audit", "--min-kafka-version", "2.5.1 "};
    /* One option rule for every subcommand (ctl/output.h): no abbreviations. */
    char *a19[] = {"audit", "--reg", "us-east-1"};
    char *a20[] = {"audit", "--region=us-east-1", "--qui"};
    (void)state;
    expect_usage(ARGC(a1), a1, "--bogus");
    expect_usage(ARGC(a2), a2, "msk.nope");
    expect_usage(ARGC(a3), a3, "xml");
    expect_usage(ARGC(a4), a4, "--concurrency");
    expect_usage(ARGC(a5), a5, "8x");
    expect_usage(ARGC(a6), a6, "critical");
    expect_usage(ARGC(a7), a7, "latest");
    expect_usage(ARGC(a8), a8, "missing value");
    expect_usage(ARGC(a9), a9, "US_EAST");
    expect_usage(ARGC(a10), a10, "stray");
    expect_usage(ARGC(a11), a11, "ftp://x");
    expect_usage(ARGC(a12), a12, "no check id");
    expect_usage(ARGC(a13), a13, "--output");
    expect_usage(ARGC(a14), a14, "2.5.1x");
    expect_usage(ARGC(a15), a15, "2..5");
    expect_usage(ARGC(a16), a16, "2.5.");
    expect_usage(ARGC(a17), a17, "2.8.2.tiered.1");
    expect_usage(ARGC(a18), a18, "--min-kafka-version");
    expect_usage(ARGC(a19), a19, "not abbreviated");
    expect_usage(ARGC(a20), a20, "'--qui'");
}

/* The minimum versions MSK itself names are accepted as given. */
static void test_min_version_forms(void **state)
{
    static const char *const ok[] = {"2.5.1", "3.10.0", "3", "3.6", "2.8.2.tiered"};
    (void)state;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        char *argv[] = {"audit", "--min-kafka-version", (char *)ok[i]};
        struct audit_cli cli;
        struct mk_err err = {0};
        if (audit_cli_parse(ARGC(argv), argv, &cli, &err) != 0) {
            fail_msg("--min-kafka-version %s rejected: %s", ok[i], err.msg);
        }
        assert_string_equal(cli.eval.min_kafka_version, ok[i]);
        audit_cli_free(&cli);
    }
}

#define CA1 "arn:aws:acm-pca:us-east-1:111122223333:certificate-authority/ca1"
#define ROLE1 "arn:aws:iam::111122223333:role/audit"
#define ROLE2 "arn:aws:iam::222233334444:role/audit"

/* Writes text to a new temporary file; path into out (caller unlinks). */
static void temp_file(char *out, size_t len, const char *text)
{
    FILE *f;
    int fd;
    snprintf(out, len, "/tmp/mskpki-roles-XXXXXX");
    fd = mkstemp(out);
    assert_true(fd >= 0);
    f = fdopen(fd, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_governance_options(void **state)
{
    char roles[64];
    struct audit_cli cli;
    struct mk_err err = {0};
    char acct[13];
    (void)state;
    temp_file(roles, sizeof(roles), "# accounts\n\n  " ROLE2 "  \n" ROLE1 "\n");
    char *argv[] = {"audit", "--ca-arn", CA1 "," CA1, "--ca-min-days", "30",
                    "--cert-validity-days=365", "--required-tags", "Owner,CostCenter,Owner",
                    "--role-arn", ROLE1, "--role-arn", roles, "--role-session-name", "s",
                    "--external-id", "x-1", "--format", "prometheus"};
    assert_int_equal(audit_cli_parse(ARGC(argv), argv, &cli, &err), 0);
    assert_int_equal(cli.n_ca_arns, 1);
    assert_string_equal(cli.ca_arns[0], CA1);
    assert_int_equal(cli.eval.ca_min_days, 30);
    assert_int_equal(cli.eval.cert_days, 365);
    assert_int_equal(cli.eval.n_required_tags, 2);
    assert_string_equal(cli.eval.required_tags[1], "CostCenter");
    assert_true(cli.eval.selected[AUDIT_TAGS_OWNERSHIP]);
    /* Order kept, duplicates dropped, the file's comments and blank lines skipped. */
    assert_int_equal(cli.n_role_arns, 2);
    assert_string_equal(cli.role_arns[0], ROLE1);
    assert_string_equal(cli.role_arns[1], ROLE2);
    assert_string_equal(cli.role_session_name, "s");
    assert_string_equal(cli.external_id, "x-1");
    assert_int_equal(cli.format, CTL_FORMAT_PROMETHEUS);
    audit_cli_free(&cli);
    unlink(roles);

    assert_int_equal(audit_role_account(ROLE2, acct), 0);
    assert_string_equal(acct, "222233334444");
    assert_int_equal(audit_role_account("arn:aws:iam::12345:role/x", acct), -1);
    assert_int_equal(audit_role_account("arn:aws:iam::111122223333:user/x", acct), -1);
    assert_int_equal(audit_role_account("arn:aws:iam::111122223333:role/", acct), -1);
}

static void test_governance_usage_errors(void **state)
{
    char bad[64], empty[64];
    (void)state;
    temp_file(bad, sizeof(bad), ROLE1 "\nnot-an-arn\n");
    temp_file(empty, sizeof(empty), "# nothing\n");
    char *a1[] = {"audit", "--checks", "tags.ownership"};
    char *a2[] = {"audit", "--ca-arn", "arn:aws:kms:us-east-1:1:key/x"};
    char *a3[] = {"audit", "--ca-min-days", "-1"};
    char *a4[] = {"audit", "--cert-validity-days", "0"};
    char *a5[] = {"audit", "--required-tags", "aws:createdBy"};
    char *a6[] = {"audit", "--role-arn", "arn:aws:iam::1:role/x"};
    char *a7[] = {"audit", "--role-arn", "/nonexistent/roles.txt"};
    char *a8[] = {"audit", "--role-arn", bad};
    char *a9[] = {"audit", "--role-arn", empty};
    char *a10[] = {"audit", "--required-tags", ","};
    expect_usage(ARGC(a1), a1, "needs --required-tags");
    expect_usage(ARGC(a2), a2, "not a Private CA ARN");
    expect_usage(ARGC(a3), a3, "--ca-min-days");
    expect_usage(ARGC(a4), a4, "--cert-validity-days");
    expect_usage(ARGC(a5), a5, "aws:createdBy");
    expect_usage(ARGC(a6), a6, "not an IAM role ARN");
    expect_usage(ARGC(a7), a7, "/nonexistent/roles.txt");
    char want[128];
    snprintf(want, sizeof(want), "%s:2: 'not-an-arn'", bad);
    expect_usage(ARGC(a8), a8, want);
    expect_usage(ARGC(a9), a9, "holds no role ARN");
    expect_usage(ARGC(a10), a10, "--required-tags");
    unlink(bad);
    unlink(empty);
}

static void test_help(void **state)
{
    char *argv[] = {"audit", "--help"};
    struct audit_cli cli;
    struct mk_err err = {0};
    (void)state;
    assert_int_equal(audit_cli_parse(ARGC(argv), argv, &cli, &err), 0);
    assert_true(cli.help);
    audit_cli_free(&cli);
}

/* The usage text names every option and format of docs/audit.md and every check id. */
static void test_usage_text(void **state)
{
    static const char *const words[] = {
        "--region R]...", "--profile P", "--endpoint-url URL", "--checks ID,...",
        "--format table|json|sarif|junit|prometheus", "--output FILE", "--concurrency N",
        "--fail-on high|medium|low", "--min-kafka-version V", "--ca-arn ARN]...",
        "--ca-min-days N", "--cert-validity-days N", "--required-tags KEY,...",
        "--role-arn ARN|FILE]...", "--role-session-name S", "--external-id X",
        "[--quiet | --verbose]",
    };
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    (void)state;
    assert_non_null(out);
    audit_cli_usage(out);
    assert_int_equal(fclose(out), 0);
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (strstr(text, words[i]) == NULL) {
            fail_msg("usage lacks '%s'", words[i]);
        }
    }
    for (int c = 0; c < AUDIT_CHECK__MAX; c++) {
        assert_non_null(strstr(text, audit_rules[c].id));
    }
    free(text);
}

/* --quiet and --verbose are flags (no value); together they are a usage error. */
static void test_verbosity_flags(void **state)
{
    char *a[] = {"audit", "--quiet", "--region", "us-east-1"};
    char *b[] = {"audit", "--verbose"};
    char *c[] = {"audit", "--verbose", "--quiet"};
    struct audit_cli cli;
    struct mk_err err = {0};
    (void)state;
    assert_int_equal(audit_cli_parse(ARGC(a), a, &cli, &err), 0);
    assert_true(cli.quiet);
    assert_false(cli.verbose);
    assert_int_equal(cli.n_regions, 1);
    audit_cli_free(&cli);
    assert_int_equal(audit_cli_parse(ARGC(b), b, &cli, &err), 0);
    assert_true(cli.verbose);
    audit_cli_free(&cli);
    assert_int_equal(audit_cli_parse(ARGC(c), c, &cli, &err), -1);
    assert_int_equal(err.code, MK_ERR_USAGE);
    assert_non_null(strstr(err.msg, "exclude each other"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_all_options),
        cmocka_unit_test(test_as_of),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_min_version_forms),
        cmocka_unit_test(test_governance_options),
        cmocka_unit_test(test_governance_usage_errors),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_usage_text),
        cmocka_unit_test(test_verbosity_flags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
