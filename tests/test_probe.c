/* test_probe.c: broker list parsing, the outcome rules, the exit code and the report formats of
 * `mskpkictl probe` (the network paths are covered by tests/probe/probe_test.sh). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/x509v3.h>

#include "ctl/probe/certs.h"
#include "ctl/probe/conn.h"
#include "ctl/kafka_principal.h"
#include "ctl/probe/report.h"

static void test_parse_brokers(void **state)
{
    (void)state;
    struct probe_broker *b = NULL;
    struct mk_err err = {0};
    long n = probe_parse_brokers(" b-1.x.kafka.eu-west-1.amazonaws.com:9094, [::1]:9094,"
                                 "10.0.0.1:9094,",
                                 &b, &err);
    assert_int_equal(n, 3);
    assert_string_equal(b[0].host, "b-1.x.kafka.eu-west-1.amazonaws.com");
    assert_string_equal(b[0].port, "9094");
    assert_string_equal(b[1].host, "::1");
    assert_string_equal(b[1].display, "[::1]:9094");
    assert_string_equal(b[2].display, "10.0.0.1:9094");
    free(b);
}

static void test_parse_brokers_bad(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",        ",",        "host",      "host:", ":9094", "host:0", "host:65536",
        "host:9x", "::1:9094", "[::1]9094", "[::1",  "a:1,b", NULL,
    };
    for (size_t i = 0; bad[i] != NULL; i++) {
        struct probe_broker *b = NULL;
        struct mk_err err = {0};
        assert_int_equal(probe_parse_brokers(bad[i], &b, &err), -1);
        assert_int_equal(err.code, MK_ERR_USAGE);
        assert_null(b);
        assert_non_null(strchr(err.msg, '\0'));
        assert_null(strchr(err.msg, '\n'));
    }
}

static struct probe_facts base_facts(void)
{
    struct probe_facts f;
    memset(&f, 0, sizeof(f));
    f.alert_received = -1;
    f.alert_sent = -1;
    f.connected = 1;
    return f;
}

static void test_classify_detect(void **state)
{
    (void)state;
    char d[256];
    struct probe_facts f = base_facts();
    f.connected = 0;
    snprintf(f.reason, sizeof(f.reason), "connect: Connection refused");
    assert_int_equal(probe_classify_detect(&f, d, sizeof(d)), PROBE_VERSION_ERROR);
    assert_string_equal(d, "connect: Connection refused");

    f = base_facts();
    f.server_hello = 1;
    f.alert_received = 40; /* a later refusal of the (absent) certificate: version is spoken */
    assert_int_equal(probe_classify_detect(&f, d, sizeof(d)), PROBE_VERSION_SUPPORTED);

    f = base_facts();
    f.alert_received = 70;
    assert_int_equal(probe_classify_detect(&f, d, sizeof(d)), PROBE_VERSION_REFUSED);
    assert_non_null(strstr(d, "alert protocol version (70)"));

    /* The server picked another version and we refused it. */
    f = base_facts();
    f.server_hello = 1;
    f.alert_sent = 70;
    assert_int_equal(probe_classify_detect(&f, d, sizeof(d)), PROBE_VERSION_REFUSED);

    /* HTTP answer: OpenSSL sends protocol_version itself, but no ServerHello came: not TLS. */
    f = base_facts();
    f.alert_sent = 70;
    f.tls_error = 1;
    snprintf(f.reason, sizeof(f.reason), "wrong version number");
    assert_int_equal(probe_classify_detect(&f, d, sizeof(d)), PROBE_VERSION_ERROR);
    assert_non_null(strstr(d, "not a TLS server"));

    f = base_facts();
    f.timed_out = 1;
    assert_int_equal(probe_classify_detect(&f, d, sizeof(d)), PROBE_VERSION_ERROR);

    f = base_facts();
    f.closed = 1;
    assert_int_equal(probe_classify_detect(&f, d, sizeof(d)), PROBE_VERSION_REFUSED);
}

static void test_classify_kafka(void **state)
{
    (void)state;
    char d[256];
    struct probe_facts f = base_facts();
    f.server_hello = 1;
    f.handshake_done = 1;
    f.kafka_done = 1;
    f.kafka_n_apis = 7;
    f.kafka_version = 3;
    assert_int_equal(probe_classify_kafka(&f, d, sizeof(d)), PROBE_ACCEPTED);
    assert_non_null(strstr(d, "7 APIs"));

    /* TLS 1.3: the alert arrives after our Finished. */
    f = base_facts();
    f.server_hello = 1;
    f.handshake_done = 1;
    f.alert_received = 116;
    assert_int_equal(probe_classify_kafka(&f, d, sizeof(d)), PROBE_REFUSED);
    assert_string_equal(d, "alert certificate required (116) after handshake");

    /* TLS 1.2: during the handshake. */
    f = base_facts();
    f.server_hello = 1;
    f.alert_received = 48;
    assert_int_equal(probe_classify_kafka(&f, d, sizeof(d)), PROBE_REFUSED);
    assert_string_equal(d, "alert unknown CA (48) during handshake");

    /* Closed right after the handshake. */
    f = base_facts();
    f.server_hello = 1;
    f.handshake_done = 1;
    f.closed = 1;
    assert_int_equal(probe_classify_kafka(&f, d, sizeof(d)), PROBE_REFUSED);

    /* A TLS server that never answers ApiVersions is not Kafka: an error, never ACCEPTED. */
    f = base_facts();
    f.server_hello = 1;
    f.handshake_done = 1;
    f.timed_out = 1;
    snprintf(f.step, sizeof(f.step), "read");
    assert_int_equal(probe_classify_kafka(&f, d, sizeof(d)), PROBE_ERROR);

    /* An answer that is not ApiVersions. */
    f = base_facts();
    f.server_hello = 1;
    f.handshake_done = 1;
    f.kafka_bad = 1;
    assert_int_equal(probe_classify_kafka(&f, d, sizeof(d)), PROBE_ERROR);
    assert_non_null(strstr(d, "not Kafka"));

    /* Unreachable or not TLS: never REFUSED, so a dead broker cannot pass a negative case. */
    f = base_facts();
    f.connected = 0;
    assert_int_equal(probe_classify_kafka(&f, d, sizeof(d)), PROBE_ERROR);
    f = base_facts();
    f.closed = 1;
    assert_int_equal(probe_classify_kafka(&f, d, sizeof(d)), PROBE_ERROR);
    f = base_facts();
    f.alert_received = 40; /* before any ServerHello */
    assert_int_equal(probe_classify_kafka(&f, d, sizeof(d)), PROBE_ERROR);
    /* Version refused inside a case: not applicable. */
    f = base_facts();
    f.alert_received = 70;
    assert_int_equal(probe_classify_kafka(&f, d, sizeof(d)), PROBE_NOT_APPLICABLE);
    /* We aborted the handshake ourselves: our problem, an error. */
    f = base_facts();
    f.server_hello = 1;
    f.alert_sent = 80;
    assert_int_equal(probe_classify_kafka(&f, d, sizeof(d)), PROBE_ERROR);
}

static void test_classify_legacy(void **state)
{
    (void)state;
    char d[256];
    /* The broker finished a TLS 1.0 handshake: it speaks a deprecated version. */
    struct probe_facts f = base_facts();
    f.server_hello = 1;
    f.handshake_done = 1;
    assert_int_equal(probe_classify_legacy(&f, TLS1_VERSION, d, sizeof(d)), PROBE_ACCEPTED);
    assert_string_equal(d, "TLSv1.0 handshake completed");
    /* A ServerHello for 1.1 and then a refusal of the (absent) certificate: still spoken. */
    f = base_facts();
    f.server_hello = 1;
    f.alert_received = 40;
    snprintf(f.step, sizeof(f.step), "handshake");
    assert_int_equal(probe_classify_legacy(&f, TLS1_1_VERSION, d, sizeof(d)), PROBE_ACCEPTED);
    assert_non_null(strstr(d, "ServerHello for TLSv1.1"));
    /* protocol_version from the broker, or from us on a ServerHello for another version. */
    f = base_facts();
    f.alert_received = 70;
    assert_int_equal(probe_classify_legacy(&f, TLS1_VERSION, d, sizeof(d)), PROBE_REFUSED);
    assert_string_equal(d, "TLSv1.0 refused: alert protocol version (70)");
    f = base_facts();
    f.server_hello = 1;
    f.alert_sent = 70;
    assert_int_equal(probe_classify_legacy(&f, TLS1_VERSION, d, sizeof(d)), PROBE_REFUSED);
    f = base_facts();
    f.closed = 1;
    assert_int_equal(probe_classify_legacy(&f, TLS1_1_VERSION, d, sizeof(d)), PROBE_REFUSED);
    /* Unreachable, silent, or our library would not offer the version: never a pass. */
    f = base_facts();
    f.connected = 0;
    assert_int_equal(probe_classify_legacy(&f, TLS1_VERSION, d, sizeof(d)), PROBE_ERROR);
    f = base_facts();
    f.timed_out = 1;
    assert_int_equal(probe_classify_legacy(&f, TLS1_VERSION, d, sizeof(d)), PROBE_ERROR);
    f = base_facts();
    f.tls_error = 1;
    snprintf(f.reason, sizeof(f.reason), "no protocols available");
    assert_int_equal(probe_classify_legacy(&f, TLS1_VERSION, d, sizeof(d)), PROBE_ERROR);
    assert_non_null(strstr(d, "cannot offer TLSv1.0"));
    f = base_facts();
    f.tls_error = 1;
    snprintf(f.reason, sizeof(f.reason), "wrong version number");
    assert_int_equal(probe_classify_legacy(&f, TLS1_VERSION, d, sizeof(d)), PROBE_ERROR);
    assert_non_null(strstr(d, "not a TLS server"));
}

static void test_classify_plaintext(void **state)
{
    (void)state;
    char d[256];
    struct probe_facts f = base_facts();
    f.kafka_done = 1;
    f.kafka_version = 3;
    f.kafka_n_apis = 7;
    assert_int_equal(probe_classify_plaintext(&f, d, sizeof(d)), PROBE_ACCEPTED);
    assert_non_null(strstr(d, "plaintext ApiVersions v3 answered"));
    /* Nothing listens, or a security group drops the port: no plaintext access. */
    f = base_facts();
    f.connected = 0;
    f.connect_errno = ECONNREFUSED;
    assert_int_equal(probe_classify_plaintext(&f, d, sizeof(d)), PROBE_REFUSED);
    f = base_facts();
    f.connected = 0;
    f.timed_out = 1;
    assert_int_equal(probe_classify_plaintext(&f, d, sizeof(d)), PROBE_REFUSED);
    assert_non_null(strstr(d, "filtered"));
    /* Not Kafka, closed, or silent after connect. */
    f = base_facts();
    f.kafka_bad = 1;
    assert_int_equal(probe_classify_plaintext(&f, d, sizeof(d)), PROBE_REFUSED);
    assert_non_null(strstr(d, "not Kafka"));
    f = base_facts();
    f.closed = 1;
    assert_int_equal(probe_classify_plaintext(&f, d, sizeof(d)), PROBE_REFUSED);
    f = base_facts();
    f.timed_out = 1;
    snprintf(f.step, sizeof(f.step), "read");
    assert_int_equal(probe_classify_plaintext(&f, d, sizeof(d)), PROBE_REFUSED);
    /* A name that does not resolve, an unreachable network: the probe could not look. */
    f = base_facts();
    f.connected = 0;
    snprintf(f.reason, sizeof(f.reason), "cannot resolve b-1: Name or service not known");
    assert_int_equal(probe_classify_plaintext(&f, d, sizeof(d)), PROBE_ERROR);
    f = base_facts();
    f.connected = 0;
    f.connect_errno = ENETUNREACH;
    assert_int_equal(probe_classify_plaintext(&f, d, sizeof(d)), PROBE_ERROR);
}

static void test_classify_verify(void **state)
{
    (void)state;
    char d[256];
    struct probe_facts f = base_facts();
    f.server_hello = 1;
    f.verify_called = 1;
    snprintf(f.peer_subject, sizeof(f.peer_subject), "/CN=b-1");
    assert_int_equal(probe_classify_verify(&f, "b-1", d, sizeof(d)), PROBE_ACCEPTED);
    f.verify_error = X509_V_ERR_HOSTNAME_MISMATCH;
    assert_int_equal(probe_classify_verify(&f, "b-1", d, sizeof(d)), PROBE_REFUSED);
    assert_non_null(strstr(d, "hostname mismatch"));
    f = base_facts();
    f.connected = 0;
    assert_int_equal(probe_classify_verify(&f, "b-1", d, sizeof(d)), PROBE_ERROR);
}

static void fill(struct probe_result *r, const char *broker, enum probe_case c, int v,
                 enum probe_outcome exp, enum probe_outcome out)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->broker, sizeof(r->broker), "%s", broker);
    r->kase = c;
    r->tls_version = v;
    r->expected = exp;
    r->outcome = out;
    r->ok = exp == out || out == PROBE_NOT_APPLICABLE;
    snprintf(r->detail, sizeof(r->detail), "a <detail> & \"quotes\"");
}

static void test_exit_code(void **state)
{
    (void)state;
    struct probe_result r[3];
    fill(&r[0], "a:1", PROBE_NO_CLIENT_CERT, TLS1_2_VERSION, PROBE_REFUSED, PROBE_REFUSED);
    fill(&r[1], "a:1", PROBE_NO_CLIENT_CERT, TLS1_3_VERSION, PROBE_REFUSED, PROBE_NOT_APPLICABLE);
    assert_int_equal(probe_exit_code(r, 2), 0);
    fill(&r[2], "b:1", PROBE_NO_CLIENT_CERT, TLS1_2_VERSION, PROBE_REFUSED, PROBE_ERROR);
    assert_int_equal(probe_exit_code(r, 3), 1);
    /* Open broker. */
    fill(&r[0], "a:1", PROBE_NO_CLIENT_CERT, TLS1_2_VERSION, PROBE_REFUSED, PROBE_ACCEPTED);
    assert_int_equal(probe_exit_code(r, 2), 1);
    /* Nothing reached a verdict. */
    assert_int_equal(probe_exit_code(r + 2, 1), 3);
    assert_int_equal(probe_exit_code(r, 0), 3);
}

static char *render(enum probe_format fmt, const struct probe_result *r, size_t n)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    struct mk_err err = {0};
    assert_non_null(f);
    assert_int_equal(probe_report_write(f, fmt, r, n, &err), 0);
    fclose(f);
    return buf;
}

static void test_report_json(void **state)
{
    (void)state;
    struct probe_result r[2];
    fill(&r[0], "a:1", PROBE_UNTRUSTED_CLIENT_CERT, TLS1_3_VERSION, PROBE_REFUSED, PROBE_ACCEPTED);
    fill(&r[1], "a:1", PROBE_BROKER_CERTIFICATE, TLS1_2_VERSION, PROBE_ACCEPTED, PROBE_ACCEPTED);
    snprintf(r[1].remediation, sizeof(r[1].remediation), "do 'this'");
    char *text = render(PROBE_FORMAT_JSON, r, 2);
    json_error_t jerr;
    json_t *doc = json_loads(text, 0, &jerr);
    assert_non_null(doc);
    json_t *res0 = json_array_get(json_object_get(doc, "results"), 0);
    assert_string_equal(json_string_value(json_object_get(res0, "case")), "untrusted_client_cert");
    assert_string_equal(json_string_value(json_object_get(res0, "tls_version")), "TLSv1.3");
    assert_string_equal(json_string_value(json_object_get(res0, "expected")), "REFUSED");
    assert_string_equal(json_string_value(json_object_get(res0, "outcome")), "ACCEPTED");
    assert_true(json_is_false(json_object_get(res0, "ok")));
    assert_string_equal(json_string_value(json_object_get(res0, "detail")),
                        "a <detail> & \"quotes\"");
    /* remediation only where there is one. */
    assert_null(json_object_get(res0, "remediation"));
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(doc, "results"), 1), "remediation")),
                        "do 'this'");
    json_t *sum = json_object_get(doc, "summary");
    assert_int_equal(json_integer_value(json_object_get(sum, "failed")), 1);
    assert_int_equal(json_integer_value(json_object_get(sum, "passed")), 1);
    assert_int_equal(json_integer_value(json_object_get(sum, "exit_code")), 1);
    json_decref(doc);
    free(text);
}

static void test_report_junit_and_table(void **state)
{
    (void)state;
    struct probe_result r[3];
    fill(&r[0], "a:1", PROBE_NO_CLIENT_CERT, TLS1_2_VERSION, PROBE_REFUSED, PROBE_ACCEPTED);
    fill(&r[1], "a:1", PROBE_NO_CLIENT_CERT, TLS1_3_VERSION, PROBE_REFUSED, PROBE_NOT_APPLICABLE);
    fill(&r[2], "b:<1>", PROBE_NO_CLIENT_CERT, TLS1_2_VERSION, PROBE_REFUSED, PROBE_ERROR);
    snprintf(r[0].remediation, sizeof(r[0].remediation), "deny 'User:CN=x'");
    char *x = render(PROBE_FORMAT_JUNIT, r, 3);
    assert_non_null(strstr(x, "tests=\"3\" failures=\"1\" errors=\"1\" skipped=\"1\""));
    assert_non_null(
        strstr(x, "<failure message=\"expected REFUSED, got ACCEPTED: a &lt;detail&gt; "
                  "&amp; &quot;quotes&quot;; remediation: deny &apos;User:CN=x&apos;\"/>"));
    assert_non_null(strstr(x, "<skipped "));
    assert_non_null(strstr(x, "<error "));
    assert_non_null(strstr(x, "<testsuite name=\"b:&lt;1&gt;\""));
    assert_null(strstr(x, "<1>"));
    free(x);
    char *t = render(PROBE_FORMAT_TABLE, r, 3);
    assert_non_null(strstr(t, "no_client_cert"));
    assert_non_null(strstr(t, "FAIL"));
    assert_non_null(strstr(t, "2 broker(s), 3 checks: 1 passed, 2 failed (1 errors), 1 not"));
    assert_non_null(strstr(t, "  remediation: deny 'User:CN=x'\n"));
    free(t);
}

static void test_identities(void **state)
{
    (void)state;
    struct probe_identity ss = {0}, ex = {0}, ny = {0};
    struct mk_err err = {0};
    assert_int_equal(probe_identity_self_signed(&ss, &err), 0);
    assert_int_equal(probe_identity_expired(&ex, &err), 0);
    assert_int_equal(probe_identity_not_yet_valid(&ny, &err), 0);
    /* Not yet valid (from tomorrow), issued by a CA that is valid now. */
    assert_true(X509_cmp_current_time(X509_get0_notBefore(ny.cert)) > 0);
    assert_true(X509_cmp_current_time(X509_get0_notAfter(ny.cert)) > 0);
    assert_true(X509_cmp_current_time(X509_get0_notBefore(ny.issuer)) < 0);
    assert_int_equal(X509_check_issued(ny.issuer, ny.cert), X509_V_OK);
    assert_int_equal(X509_check_purpose(ny.cert, X509_PURPOSE_SSL_CLIENT, 0), 1);
    assert_int_equal(X509_check_private_key(ny.cert, ny.key), 1);
    probe_identity_clear(&ny);
    /* Self-signed and valid now. */
    assert_int_equal(X509_NAME_cmp(X509_get_subject_name(ss.cert), X509_get_issuer_name(ss.cert)),
                     0);
    assert_int_equal(X509_verify(ss.cert, X509_get0_pubkey(ss.cert)), 1);
    assert_true(X509_cmp_current_time(X509_get0_notAfter(ss.cert)) > 0);
    assert_null(ss.issuer);
    /* Expired, issued by a CA that is valid now. */
    assert_true(X509_cmp_current_time(X509_get0_notAfter(ex.cert)) < 0);
    assert_true(X509_cmp_current_time(X509_get0_notAfter(ex.issuer)) > 0);
    assert_int_equal(X509_check_issued(ex.issuer, ex.cert), X509_V_OK);
    assert_int_equal(X509_check_purpose(ex.cert, X509_PURPOSE_SSL_CLIENT, 0), 1);
    assert_int_equal(X509_check_ca(ex.issuer), 1);
    assert_int_equal(X509_check_private_key(ex.cert, ex.key), 1);
    probe_identity_clear(&ss);
    probe_identity_clear(&ex);
    probe_identity_clear(NULL);
}

static void test_names(void **state)
{
    (void)state;
    char buf[64];
    assert_string_equal(probe_case_name(PROBE_EXPIRED_CLIENT_CERT), "expired_client_cert");
    assert_string_equal(probe_case_name(PROBE_CASE__MAX), "unknown");
    assert_string_equal(probe_outcome_name(PROBE_NOT_APPLICABLE), "NOT_APPLICABLE");
    assert_string_equal(probe_tls_name(TLS1_3_VERSION), "TLSv1.3");
    assert_string_equal(probe_tls_name(TLS1_VERSION), "TLSv1.0");
    assert_string_equal(probe_tls_name(TLS1_1_VERSION), "TLSv1.1");
    assert_string_equal(probe_tls_name(0), "none");
    assert_string_equal(probe_case_name(PROBE_NOT_YET_VALID_CLIENT_CERT),
                        "not_yet_valid_client_cert");
    assert_string_equal(probe_case_name(PROBE_LEGACY_TLS_VERSION), "legacy_tls_version");
    assert_string_equal(probe_case_name(PROBE_PLAINTEXT_LISTENER), "plaintext_listener");
    probe_alert_text(116, buf, sizeof(buf));
    assert_string_equal(buf, "alert certificate required (116)");
    probe_alert_text(250, buf, sizeof(buf));
    assert_string_equal(buf, "alert unknown (250)");
}

/* Adds one attribute; set < 0 joins the previous RDN (a multi-valued RDN). */
static void add_attr(X509_NAME *n, int nid, const char *value, int set)
{
    assert_int_equal(X509_NAME_add_entry_by_NID(n, nid, MBSTRING_UTF8, (const unsigned char *)value,
                                                -1, -1, set),
                     1);
}

static void expect_principal(X509_NAME *n, const char *want)
{
    char buf[512];
    struct mk_err err = {0};
    assert_int_equal(kafka_principal_from_name(n, buf, sizeof(buf), &err), 0);
    assert_string_equal(buf, want);
    X509_NAME_free(n);
}

/* The expected strings are what JDK 17's X500Principal.getName() (the name Kafka's default
 * principal builder uses) printed for certificates with these subjects. */
static void test_kafka_principal(void **state)
{
    (void)state;
    X509_NAME *n = X509_NAME_new();
    add_attr(n, NID_countryName, "US", 0);
    add_attr(n, NID_organizationName, "Example", 0);
    add_attr(n, NID_organizationalUnitName, "kafka", 0);
    add_attr(n, NID_commonName, "host1", 0);
    expect_principal(n, "User:CN=host1,OU=kafka,O=Example,C=US");

    n = X509_NAME_new();
    add_attr(n, NID_commonName, "a,b=c+d<e>f#g;h\"i\\j", 0);
    expect_principal(n, "User:CN=a\\,b\\=c\\+d\\<e\\>f\\#g\\;h\\\"i\\\\j");

    n = X509_NAME_new();
    add_attr(n, NID_organizationName, "#lead", 0);
    add_attr(n, NID_commonName, " x y ", 0);
    expect_principal(n, "User:CN=\\ x y\\ ,O=\\#lead");

    /* No RFC 2253 keyword: dotted OID and the DER value in hex. */
    n = X509_NAME_new();
    add_attr(n, NID_commonName, "svc", 0);
    add_attr(n, NID_pkcs9_emailAddress, "a@b.c", 0);
    add_attr(n, NID_serialNumber, "123", 0);
    expect_principal(n, "User:2.5.4.5=#1303313233,1.2.840.113549.1.9.1=#16056140622e63,CN=svc");

    n = X509_NAME_new();
    add_attr(n, NID_domainComponent, "com", 0);
    add_attr(n, NID_commonName, "a", 0);
    add_attr(n, NID_userId, "b", -1);
    expect_principal(n, "User:CN=a+UID=b,DC=com");

    n = X509_NAME_new();
    add_attr(n, NID_localityName, "Z\xc3\xbcrich", 0);
    add_attr(n, NID_stateOrProvinceName, "ZH", 0);
    add_attr(n, NID_streetAddress, "a_b@c", 0);
    add_attr(n, NID_commonName, "Zo\xc3\xab O'Brien", 0);
    expect_principal(n, "User:CN=Zo\xc3\xab O'Brien,STREET=a_b@c,ST=ZH,L=Z\xc3\xbcrich");

    /* Too small a buffer: an error and an empty string, never a truncated principal. */
    char small[12];
    struct mk_err err = {0};
    n = X509_NAME_new();
    add_attr(n, NID_commonName, "host1.example.com", 0);
    assert_int_equal(kafka_principal_from_name(n, small, sizeof(small), &err), -1);
    assert_int_equal(err.code, MK_ERR_NOMEM);
    assert_string_equal(small, "");
    X509_NAME_free(n);
}

static void test_kafka_acl_deny_command(void **state)
{
    (void)state;
    char buf[512];
    struct mk_err err = {0};
    assert_int_equal(kafka_acl_deny_command("User:CN=Zo O'Brien,O=Example", "b-1:9094,b-2:9094",
                                            buf, sizeof(buf), &err),
                     0);
    assert_string_equal(buf, "kafka-acls --bootstrap-server b-1:9094,b-2:9094 --command-config "
                             "admin.properties --add --deny-principal 'User:CN=Zo O'\\''Brien,"
                             "O=Example' --operation All --topic '*' --group '*' --cluster");
    assert_int_equal(kafka_acl_deny_command("User:CN=x", "b:1", buf, 40, &err), -1);
    assert_int_equal(err.code, MK_ERR_NOMEM);
    assert_string_equal(buf, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_brokers),   cmocka_unit_test(test_parse_brokers_bad),
        cmocka_unit_test(test_classify_detect), cmocka_unit_test(test_classify_kafka),
        cmocka_unit_test(test_classify_legacy), cmocka_unit_test(test_classify_plaintext),
        cmocka_unit_test(test_classify_verify), cmocka_unit_test(test_exit_code),
        cmocka_unit_test(test_report_json),     cmocka_unit_test(test_report_junit_and_table),
        cmocka_unit_test(test_identities),      cmocka_unit_test(test_names),
        cmocka_unit_test(test_kafka_principal), cmocka_unit_test(test_kafka_acl_deny_command),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
