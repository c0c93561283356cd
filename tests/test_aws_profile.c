/* test_aws_profile.c: the shared config/credentials file parser (good and malformed files). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "aws/profile.h"
#include "tests/aws/server.h"

static void test_good_config(void **state)
{
    struct mk_err err = {0};
    const char *text = "# comment\n"
                       "; another\n"
                       "[default]\n"
                       "region = eu-west-1\n"
                       "Output=json   \r\n"
                       "s3 =\n"
                       "  max_concurrent_requests = 10\n"
                       "\n"
                       "[profile dev]\n"
                       "role_arn = arn:aws:iam::123456789012:role/dev\n"
                       "source_profile=default\n"
                       "[profile   spaced  ]\n"
                       "region = us-east-2\n"
                       "[sso-session corp]\n"
                       "sso_region = us-east-1\n"
                       "[default]\n"
                       "region = eu-west-3\n";
    struct aws_profile_file *f = aws_profile_file_parse(text, "config", 1, &err);
    assert_non_null(f);
    assert_string_equal(aws_profile_get(f, "default", "region"), "eu-west-3"); /* later wins */
    assert_string_equal(aws_profile_get(f, "default", "output"), "json");      /* lower-cased */
    assert_string_equal(aws_profile_get(f, "default", "s3"), "");
    assert_null(aws_profile_get(f, "default", "max_concurrent_requests"));
    assert_string_equal(aws_profile_get(f, "dev", "role_arn"),
                        "arn:aws:iam::123456789012:role/dev");
    assert_string_equal(aws_profile_get(f, "dev", "source_profile"), "default");
    assert_string_equal(aws_profile_get(f, "spaced", "region"), "us-east-2");
    assert_true(aws_profile_has(f, "dev"));
    assert_false(aws_profile_has(f, "corp"));
    assert_false(aws_profile_has(f, "sso-session corp"));
    assert_null(aws_profile_get(f, "corp", "sso_region"));
    assert_null(aws_profile_get(f, "nope", "region"));
    assert_null(aws_profile_get(NULL, "default", "region"));
    aws_profile_file_free(f);
}

static void test_credentials_file_literal_names(void **state)
{
    struct mk_err err = {0};
    const char *text = "[default]\naws_access_key_id = AKIDDEFAULT\n"
                       "aws_secret_access_key = c2VjcmV0/+key\n"
                       "[profile x]\nk = v\n";
    struct aws_profile_file *f = aws_profile_file_parse(text, "credentials", 0, &err);
    assert_non_null(f);
    assert_string_equal(aws_profile_get(f, "default", "aws_secret_access_key"), "c2VjcmV0/+key");
    /* In the credentials file "[profile x]" is a literal name. */
    assert_string_equal(aws_profile_get(f, "profile x", "k"), "v");
    assert_null(aws_profile_get(f, "x", "k"));
    aws_profile_file_free(f);
}

static void expect_error(const char *text, int is_config, const char *want)
{
    struct mk_err err = {0};
    struct aws_profile_file *f =
        aws_profile_file_parse(text, "/home/u/.aws/config", is_config, &err);
    assert_null(f);
    assert_int_equal(err.code, MK_ERR_CONFIG);
    if (strcmp(err.msg, want) != 0) {
        fail_msg("got '%s', want '%s'", err.msg, want);
    }
}

static void test_malformed(void **state)
{
    expect_error("[default\nregion = x\n", 1,
                 "/home/u/.aws/config:1: section header must end with ']'");
    expect_error("[default]\nregion = x\njust words\n", 1,
                 "/home/u/.aws/config:3: expected 'key = value'");
    expect_error("region = x\n", 1, "/home/u/.aws/config:1: property outside a [section]");
    expect_error("[default]\n = x\n", 0, "/home/u/.aws/config:2: empty property name");
    expect_error("# c\n\n[  ]\n", 0, "/home/u/.aws/config:3: empty section name");
    /* An indented line with no property before it is not a continuation. */
    expect_error("[default]\n   indented\n", 1, "/home/u/.aws/config:2: expected 'key = value'");
}

static void test_load_files(void **state)
{
    struct mk_err err = {0};
    char dir[256];
    char cfg[512];
    char cred[512];
    assert_int_equal(mk_test_tmpdir(dir, sizeof(dir), "aws-test"), 0);
    /* A missing file is empty, not an error. */
    snprintf(cfg, sizeof(cfg), "%s/none", dir);
    struct aws_profile_file *f = aws_profile_file_load(cfg, 1, &err);
    assert_non_null(f);
    assert_false(aws_profile_has(f, "default"));
    aws_profile_file_free(f);
    /* A directory is an I/O error naming the path. */
    f = aws_profile_file_load(dir, 1, &err);
    assert_null(f);
    assert_int_equal(err.code, MK_ERR_IO);
    assert_non_null(strstr(err.msg, dir));

    assert_int_equal(test_write_file(dir, "config",
                                     "[default]\nregion = eu-west-1\naws_access_key_id = CFG\n"
                                     "[profile other]\nregion = us-west-1\n",
                                     0600, cfg, sizeof(cfg)),
                     0);
    assert_int_equal(test_write_file(dir, "credentials", "[default]\naws_access_key_id = CRED\n",
                                     0600, cred, sizeof(cred)),
                     0);
    setenv("AWS_CONFIG_FILE", cfg, 1);
    setenv("AWS_SHARED_CREDENTIALS_FILE", cred, 1);
    struct aws_profiles ps;
    assert_int_equal(aws_profiles_load(&ps, &err), 0);
    assert_string_equal(aws_profiles_get(&ps, "default", "aws_access_key_id"), "CRED");
    assert_string_equal(aws_profiles_get(&ps, "default", "region"), "eu-west-1");
    assert_true(aws_profiles_has(&ps, "other"));
    assert_false(aws_profiles_has(&ps, "third"));
    aws_profiles_clear(&ps);

    /* A malformed file fails the load with file:line. */
    assert_int_equal(
        test_write_file(dir, "credentials", "[default]\n\nbroken line\n", 0600, NULL, 0), 0);
    assert_int_equal(aws_profiles_load(&ps, &err), -1);
    char want[600];
    snprintf(want, sizeof(want), "%s:3: expected 'key = value'", cred);
    assert_string_equal(err.msg, want);

    /* Default paths under $HOME/.aws. */
    unsetenv("AWS_CONFIG_FILE");
    unsetenv("AWS_SHARED_CREDENTIALS_FILE");
    char awsdir[300];
    snprintf(awsdir, sizeof(awsdir), "%s/.aws", dir);
    assert_int_equal(mkdir(awsdir, 0700), 0);
    assert_int_equal(
        test_write_file(awsdir, "config", "[profile p]\nregion = r-1\n", 0600, NULL, 0), 0);
    setenv("HOME", dir, 1);
    assert_int_equal(aws_profiles_load(&ps, &err), 0);
    assert_string_equal(aws_profiles_get(&ps, "p", "region"), "r-1");
    aws_profiles_clear(&ps);
    mk_test_rmtree(dir);
}

static void test_profile_name(void **state)
{
    unsetenv("AWS_PROFILE");
    assert_string_equal(aws_profile_name(NULL), "default");
    setenv("AWS_PROFILE", "env", 1);
    assert_string_equal(aws_profile_name(NULL), "env");
    assert_string_equal(aws_profile_name(""), "env");
    assert_string_equal(aws_profile_name("explicit"), "explicit");
    unsetenv("AWS_PROFILE");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_config),  cmocka_unit_test(test_credentials_file_literal_names),
        cmocka_unit_test(test_malformed),    cmocka_unit_test(test_load_files),
        cmocka_unit_test(test_profile_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
