/* test_audit_cli.c: `mskpkictl audit` option parsing, defaults and usage errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ctl/audit_cli.h"

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
    audit_cli_free(&cli);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_all_options),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_help),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
