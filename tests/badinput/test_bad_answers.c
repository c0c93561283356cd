/*
 * test_bad_answers.c: regressions for what the fuzzers found (docs/fuzzing.md): error messages
 * stay on one line whatever value they quote, and the aws-pca answer parsers refuse values that
 * used to reach undefined behaviour.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "ca/aws_pca-int.h"
#include "pki/err.h"

static void test_err_one_line(void **state)
{
    (void)state;
    struct mk_err err;
    mk_err_set(&err, MK_ERR_CONFIG, "f.conf:1: name: invalid name '%s'", "a\nb\x1b[31m\x7f");
    assert_null(strchr(err.msg, '\n'));
    assert_null(strchr(err.msg, '\x1b'));
    assert_null(strchr(err.msg, '\x7f'));
    assert_string_equal(err.msg, "f.conf:1: name: invalid name 'a b [31m '");
    mk_err_prefix(&err, "load %s", "x\r\ny");
    assert_string_equal(err.msg, "load x  y: f.conf:1: name: invalid name 'a b [31m '");
}

static void expect_ca_check(const char *json, int rc, const char *needle)
{
    struct mk_err err;
    json_t *desc = json_loads(json, 0, NULL);
    assert_non_null(desc);
    mk_err_clear(&err);
    assert_int_equal(pki_pca_check_answer(desc, "arn:test", 86400, &err), rc);
    if (needle != NULL) {
        assert_non_null(strstr(err.msg, needle));
        assert_null(strchr(err.msg, '\n'));
    }
    json_decref(desc);
}

static void test_pca_check_not_after(void **state)
{
    (void)state;
    /* Far beyond time_t: converting it used to be undefined (UBSan float-cast-overflow). */
    expect_ca_check("{\"Status\": \"ACTIVE\", \"NotAfter\": 1e300}", -1, "NotAfter 1e+300 is out");
    expect_ca_check("{\"Status\": \"ACTIVE\", \"NotAfter\": -1e300}", -1, "out of range");
    expect_ca_check("{\"Status\": \"ACTIVE\", \"NotAfter\": 4102444800}", 0, NULL);
    expect_ca_check("{\"Status\": \"ACTIVE\", \"NotAfter\": 1000}", -1, "expires at 1970");
    expect_ca_check("{\"Status\": \"ACTIVE\\nINJECTED\", \"NotAfter\": 4102444800}", -1,
                 "is ACTIVE INJECTED, not ACTIVE");
    expect_ca_check("{\"NotAfter\": 4102444800}", -1, "Status is missing");
}

static void test_pca_certificate_answer_bad(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "{}",
        "{\"Certificate\": 5}",
        "{\"Certificate\": \"\"}",
        "{\"Certificate\": \"-----BEGIN CERTIFICATE-----\\nAAAA\\n-----END CERTIFICATE-----\\n\"}",
        "{\"Certificate\": \"garbage\", \"CertificateChain\": \"garbage\"}",
        NULL,
    };
    for (size_t i = 0; bad[i] != NULL; i++) {
        struct mk_err err;
        struct pki_issued got = {NULL, NULL};
        json_t *resp = json_loads(bad[i], 0, NULL);
        assert_non_null(resp);
        assert_int_equal(pki_pca_certificate_answer(resp, &got, &err), -1);
        assert_null(got.leaf);
        assert_non_null(strstr(err.msg, "GetCertificate answer"));
        assert_null(pki_pca_anchors_answer(resp, "arn:test", &err));
        json_decref(resp);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_err_one_line),
        cmocka_unit_test(test_pca_check_not_after),
        cmocka_unit_test(test_pca_certificate_answer_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
