/* test_ctl_cert.c: the helpers of `mskpkictl cert` (ctl/cert/cert.h) and the probe's prometheus
 * rendering (ctl/probe/report.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/ssl.h>

#include "ctl/cert/cert.h"
#include "ctl/output.h"
#include "ctl/ctl.h"
#include "ctl/probe/certs.h"
#include "ctl/probe/report.h"
#include "pki/key.h"

static char *serial_hex_of(X509 *x)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    char *hex = BN_bn2hex(bn);
    char *copy = strdup(hex);
    OPENSSL_free(hex);
    BN_free(bn);
    return copy;
}

static void test_serial_only_forms(void **state)
{
    (void)state;
    const char *forms[] = {"0A1B2C", "0a:1b:2c", "0x0a1b2c", "A1B2C"};
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        struct mk_err err = {0};
        X509 *x = ctl_cert_serial_only(forms[i], &err);
        assert_non_null(x);
        char *hex = serial_hex_of(x);
        assert_string_equal(hex, "0A1B2C");
        free(hex);
        X509_free(x);
    }
    /* 20 octets is the RFC 5280 maximum and fits. */
    struct mk_err err = {0};
    X509 *x = ctl_cert_serial_only("7F0102030405060708090A0B0C0D0E0F10111213", &err);
    assert_non_null(x);
    X509_free(x);
}

static void test_serial_only_rejects(void **state)
{
    (void)state;
    const char *bad[] = {
        "", "0x", "zz", "12 34", "0A-1B", "7F0102030405060708090A0B0C0D0E0F1011121314", ":"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct mk_err err = {0};
        assert_null(ctl_cert_serial_only(bad[i], &err));
        assert_int_equal(err.code, MK_ERR_USAGE);
        assert_true(strncmp(err.msg, "--serial", 8) == 0);
    }
}

static void test_reasons(void **state)
{
    (void)state;
    assert_true(ctl_cert_reason_valid("KEY_COMPROMISE"));
    assert_true(ctl_cert_reason_valid("A_A_COMPROMISE"));
    assert_true(ctl_cert_reason_valid("UNSPECIFIED"));
    /* Any case is accepted and sent to the CA as the API spells it. */
    assert_true(ctl_cert_reason_valid("key_compromise"));
    assert_string_equal(ctl_cert_reason_canonical("key_compromise"), "KEY_COMPROMISE");
    assert_string_equal(ctl_cert_reason_canonical("Superseded"), "SUPERSEDED");
    assert_string_equal(ctl_cert_reason_canonical("a_a_compromise"), "A_A_COMPROMISE");
    assert_false(ctl_cert_reason_valid("REMOVE_FROM_CRL"));
    assert_false(ctl_cert_reason_valid("key compromise"));
    assert_false(ctl_cert_reason_valid("KEY_COMPROMISE_"));
    assert_false(ctl_cert_reason_valid(""));
    assert_null(ctl_cert_reason_canonical("superseded "));
}

static void test_exit_codes(void **state)
{
    (void)state;
    struct mk_err e = {0};
    e.code = MK_ERR_CONFIG;
    assert_int_equal(ctl_exit_for(&e), CTL_EXIT_USAGE);
    e.code = MK_ERR_PERM;
    assert_int_equal(ctl_exit_for(&e), CTL_EXIT_USAGE);
    e.code = MK_ERR_NET;
    assert_int_equal(ctl_exit_for(&e), CTL_EXIT_UNAVAILABLE);
    e.code = MK_ERR_PENDING;
    assert_int_equal(ctl_exit_for(&e), CTL_EXIT_UNAVAILABLE);
    e.code = MK_ERR_AWS;
    assert_int_equal(ctl_exit_for(&e), CTL_EXIT_FINDINGS);
    e.code = MK_ERR_VERIFY;
    assert_int_equal(ctl_exit_for(&e), CTL_EXIT_FINDINGS);
}

static void test_view_checks(void **state)
{
    (void)state;
    struct probe_identity expired = {0}, self = {0};
    struct cert_view v;
    struct mk_err err = {0};
    STACK_OF(X509) *trust = sk_X509_new_null();
    time_t now = time(NULL);

    assert_int_equal(probe_identity_expired(&expired, &err), 0);
    assert_int_equal(probe_identity_self_signed(&self, &err), 0);
    /* Valid, matching key, chain to itself. */
    assert_true(sk_X509_push(trust, self.cert) > 0);
    assert_int_equal(ctl_cert_view("self.pem", self.cert, NULL, self.key, trust, now, &v, &err), 0);
    assert_true(v.key_checked && v.key_match && v.chain_checked && v.chain_ok);
    assert_true(ctl_cert_view_ok(&v));
    assert_true(v.seconds_left > 0);
    assert_string_equal(v.key, "EC P-256");
    /* The wrong key: not ok, and the problem says so. */
    assert_int_equal(ctl_cert_view("self.pem", self.cert, NULL, expired.key, NULL, now, &v, &err),
                     0);
    assert_true(v.key_checked && !v.key_match && !v.chain_checked);
    assert_false(ctl_cert_view_ok(&v));
    assert_non_null(strstr(v.problem, "key: "));
    /* Expired, and not chaining to an unrelated anchor. */
    assert_int_equal(ctl_cert_view("old.pem", expired.cert, NULL, NULL, trust, now, &v, &err), 0);
    assert_true(v.expired && v.seconds_left < 0 && v.chain_checked && !v.chain_ok);
    assert_false(ctl_cert_view_ok(&v));
    /* Not yet valid counts too. */
    assert_int_equal(ctl_cert_view("self.pem", self.cert, NULL, NULL, NULL, now - 86400 * 30, &v,
                                   &err),
                     0);
    assert_true(v.not_yet_valid);
    assert_false(ctl_cert_view_ok(&v));
    sk_X509_free(trust);
    probe_identity_clear(&expired);
    probe_identity_clear(&self);
}

static void test_views_json(void **state)
{
    (void)state;
    struct cert_view v;
    struct mk_err err = {0};
    char *buf = NULL;
    size_t len = 0;

    memset(&v, 0, sizeof(v));
    snprintf(v.file, sizeof(v.file), "a.pem");
    snprintf(v.sans, sizeof(v.sans), "DNS:a, URI:spiffe://x/y");
    snprintf(v.ext_key_usage, sizeof(v.ext_key_usage), "clientAuth");
    v.not_after = 86400;
    v.seconds_left = 10;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(ctl_cert_views_write(f, 1, &v, 1, &err), 0);
    fclose(f);
    assert_non_null(strstr(buf, "\"DNS:a\""));
    assert_non_null(strstr(buf, "\"URI:spiffe://x/y\""));
    assert_non_null(strstr(buf, "\"key_usage\": []"));
    assert_non_null(strstr(buf, "\"key_match\": null"));
    assert_non_null(strstr(buf, "\"not_after\": \"1970-01-02T00:00:00Z\""));
    assert_non_null(strstr(buf, "\"ok\": true"));
    free(buf);
}

static void test_prometheus(void **state)
{
    (void)state;
    struct probe_result r[2];
    struct mk_err err = {0};
    char *buf = NULL;
    size_t len = 0;

    memset(r, 0, sizeof(r));
    snprintf(r[0].broker, sizeof(r[0].broker), "b-1:9094");
    r[0].kase = PROBE_REVOKED_CLIENT_CERT;
    r[0].tls_version = TLS1_3_VERSION;
    r[0].ok = 1;
    snprintf(r[1].broker, sizeof(r[1].broker), "we\"ird\\host:1");
    r[1].kase = PROBE_NO_CLIENT_CERT;
    r[1].tls_version = TLS1_2_VERSION;
    r[1].ok = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(probe_report_write_prometheus(f, r, 2, 1700000000, &err), 0);
    fclose(f);
    assert_non_null(strstr(buf, "# TYPE mskpki_probe_case_ok gauge\n"));
    assert_non_null(strstr(
        buf, "mskpki_probe_case_ok{broker=\"b-1:9094\",case=\"revoked_client_cert\","
             "tls=\"TLSv1.3\"} 1\n"));
    assert_non_null(strstr(buf, "broker=\"we\\\"ird\\\\host:1\",case=\"no_client_cert\","
                                "tls=\"TLSv1.2\"} 0\n"));
    assert_non_null(strstr(buf, "mskpki_probe_last_run_timestamp_seconds 1700000000\n"));
    free(buf);
    assert_string_equal(probe_case_name(PROBE_REVOKED_CLIENT_CERT), "revoked_client_cert");
}

static char *deny_acl_text(X509 *cert, int serial_only)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    cert_print_deny_acl(f, cert, serial_only);
    fclose(f);
    return buf;
}

/* After a revocation: MSK does not check CRLs, so the principal and the deny command. */
static void test_revoke_deny_acl(void **state)
{
    (void)state;
    struct probe_identity id = {0};
    struct mk_err err = {0};
    assert_int_equal(probe_identity_self_signed(&id, &err), 0);
    char *t = deny_acl_text(id.cert, 0);
    assert_non_null(strstr(t, "does not check CRLs"));
    assert_non_null(strstr(t, "  principal: User:CN=mskpki-probe-untrusted,O=mskpki probe\n"));
    assert_non_null(strstr(t, "kafka-acls --bootstrap-server BOOTSTRAP_BROKERS --command-config "
                              "admin.properties --add --deny-principal "
                              "'User:CN=mskpki-probe-untrusted,O=mskpki probe' --operation All "
                              "--topic '*' --group '*' --cluster\n"));
    free(t);
    /* By serial the subject is unknown: no command with a made-up principal. */
    X509 *serial = ctl_cert_serial_only("0A", &err);
    assert_non_null(serial);
    t = deny_acl_text(serial, 1);
    assert_non_null(strstr(t, "unknown from the serial alone"));
    assert_null(strstr(t, "kafka-acls"));
    free(t);
    X509_free(serial);
    probe_identity_clear(&id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_serial_only_forms), cmocka_unit_test(test_serial_only_rejects),
        cmocka_unit_test(test_reasons),           cmocka_unit_test(test_exit_codes),
        cmocka_unit_test(test_view_checks),       cmocka_unit_test(test_views_json),
        cmocka_unit_test(test_prometheus),        cmocka_unit_test(test_revoke_deny_acl),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
