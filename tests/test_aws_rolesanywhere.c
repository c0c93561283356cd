/*
 * test_aws_rolesanywhere.c: the Roles Anywhere signer (string to sign from validated fields, EC
 * and RSA signatures, the request's headers and Credential), the CreateSession answer parser,
 * the ARN region and HTTP date parsers, and the credentials source hook of the chain (a source
 * first, the chain when it cannot, both reasons in one line when neither works).  The signature
 * as the service checks it is tested end to end against tests/aws/fake_rolesanywhere.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "aws/aws.h"
#include "aws/creds.h"
#include "aws/rolesanywhere.h"
#include "aws/sigv4.h"

#define HASH "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define TA "arn:aws:rolesanywhere:eu-west-1:111122223333:trust-anchor/ta1"

static EVP_PKEY *keygen(const char *alg)
{
    EVP_PKEY *k = NULL;
    if (strcmp(alg, "EC") == 0) {
        k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    } else if (strcmp(alg, "RSA") == 0) {
        k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    } else {
        k = EVP_PKEY_Q_keygen(NULL, NULL, alg);
    }
    assert_non_null(k);
    return k;
}

/* A self-signed certificate for key with the given serial. */
static X509 *make_cert(EVP_PKEY *key, long serial)
{
    X509 *x = X509_new();
    assert_non_null(x);
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), serial), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"host1", -1, -1, 0);
    X509_set_issuer_name(x, n);
    X509_set_pubkey(x, key);
    const EVP_MD *md = EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519 ? NULL : EVP_sha256();
    assert_true(X509_sign(x, key, md) > 0);
    return x;
}

static int verify(EVP_PKEY *key, const char *msg, const unsigned char *sig, size_t len)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
             EVP_DigestVerify(md, sig, len, (const unsigned char *)msg, strlen(msg)) == 1;
    EVP_MD_CTX_free(md);
    return ok;
}

static void test_string_to_sign(void **state)
{
    (void)state;
    struct mk_err err = {0};
    char *s = aws_ra_string_to_sign(AWS_RA_ALG_ECDSA, "20261206T041500Z", "eu-west-1", HASH, &err);
    assert_non_null(s);
    assert_string_equal(s, "AWS4-X509-ECDSA-SHA256\n20261206T041500Z\n"
                           "20261206/eu-west-1/rolesanywhere/aws4_request\n" HASH);
    free(s);
    s = aws_ra_string_to_sign(AWS_RA_ALG_RSA, "20261206T041500Z", "us-east-1", HASH, &err);
    assert_non_null(s);
    assert_non_null(strstr(s, "AWS4-X509-RSA-SHA256\n"));
    free(s);
}

/* The key process signs only what these fields can make: anything else is refused. */
static void test_string_to_sign_refuses(void **state)
{
    (void)state;
    struct mk_err err = {0};
    static const char *const dates[] = {"20261206T041500", "20261206T0415000Z", "20261206T04150\nZ",
                                        "20261206X041500Z", NULL};
    for (size_t i = 0; dates[i] != NULL; i++) {
        assert_null(aws_ra_string_to_sign(AWS_RA_ALG_ECDSA, dates[i], "eu-west-1", HASH, &err));
        assert_int_equal(err.code, MK_ERR_INVALID);
    }
    static const char *const regions[] = {
        "", "eu-west-1\nx", "EU-west-1", "eu/west", "a123456789012345678901234567890123", NULL};
    for (size_t i = 0; regions[i] != NULL; i++) {
        assert_null(
            aws_ra_string_to_sign(AWS_RA_ALG_ECDSA, "20261206T041500Z", regions[i], HASH, &err));
    }
    assert_null(
        aws_ra_string_to_sign(AWS_RA_ALG_ECDSA, "20261206T041500Z", "eu-west-1", HASH "0", &err));
    assert_null(aws_ra_string_to_sign(AWS_RA_ALG_ECDSA, "20261206T041500Z", "eu-west-1",
                                      "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789"
                                      "abcdef",
                                      &err));
    assert_null(
        aws_ra_string_to_sign("AWS4-HMAC-SHA256", "20261206T041500Z", "eu-west-1", HASH, &err));
    assert_null(aws_ra_string_to_sign(NULL, "20261206T041500Z", "eu-west-1", HASH, &err));
}

static void sign_and_verify(const char *alg, const char *expect_alg)
{
    struct mk_err err = {0};
    EVP_PKEY *k = keygen(alg);
    unsigned char *sig = NULL;
    size_t len = 0;
    assert_string_equal(aws_ra_algorithm(k, &err), expect_alg);
    assert_int_equal(aws_ra_sign_fields(k, "20261206T041500Z", "eu-west-1", HASH, &sig, &len, &err),
                     0);
    char *sts = aws_ra_string_to_sign(expect_alg, "20261206T041500Z", "eu-west-1", HASH, &err);
    assert_non_null(sts);
    assert_true(verify(k, sts, sig, len));
    /* Not a signature over anything else. */
    sts[0] = 'X';
    assert_false(verify(k, sts, sig, len));
    free(sts);
    free(sig);
    assert_int_equal(aws_ra_sign_fields(k, "bad", "eu-west-1", HASH, &sig, &len, &err), -1);
    EVP_PKEY_free(k);
}

static void test_sign_ec(void **state)
{
    (void)state;
    sign_and_verify("EC", AWS_RA_ALG_ECDSA);
}

static void test_sign_rsa(void **state)
{
    (void)state;
    sign_and_verify("RSA", AWS_RA_ALG_RSA);
}

static void test_unsupported_key(void **state)
{
    (void)state;
    struct mk_err err = {0};
    EVP_PKEY *k = keygen("ED25519");
    unsigned char *sig = NULL;
    size_t len = 0;
    assert_null(aws_ra_algorithm(k, &err));
    assert_int_equal(err.code, MK_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "accepts only EC and RSA"));
    assert_int_equal(aws_ra_sign_fields(k, "20261206T041500Z", "eu-west-1", HASH, &sig, &len, &err),
                     -1);
    EVP_PKEY_free(k);
}

static int key_signer(void *arg, const char *amz_date, const char *region, const char *hash,
                      unsigned char **sig, size_t *len, struct mk_err *err)
{
    return aws_ra_sign_fields(arg, amz_date, region, hash, sig, len, err);
}

static const char *header(const struct aws_ra_request *r, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; r->headers[i] != NULL; i++) {
        if (strncmp(r->headers[i], name, n) == 0 && r->headers[i][n] == ':') {
            return r->headers[i] + n + 2;
        }
    }
    return NULL;
}

static void test_build_request(void **state)
{
    (void)state;
    struct mk_err err = {0};
    EVP_PKEY *k = keygen("EC");
    EVP_PKEY *ik = keygen("EC");
    /* A serial above 2^64 shows the Credential is the serial in decimal. */
    X509 *leaf = make_cert(k, 1);
    BIGNUM *bn = NULL;
    assert_true(BN_dec2bn(&bn, "123456789012345678901234567890") > 0);
    assert_non_null(BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(leaf)));
    BN_free(bn);
    X509 *inter = make_cert(ik, 7);
    STACK_OF(X509) *chain = sk_X509_new_null();
    sk_X509_push(chain, inter);
    struct aws_ra_params p = {.trust_anchor_arn = TA,
                              .profile_arn = "arn:aws:rolesanywhere:eu-west-1:1:profile/p",
                              .role_arn = "arn:aws:iam::1:role/r",
                              .session_name = "host1",
                              .duration_seconds = 3600,
                              .endpoint_url = "http://127.0.0.1:9/"};
    struct aws_ra_identity id = {leaf, chain, key_signer, k, "kafka"};
    struct aws_ra_request r = {0};
    assert_int_equal(aws_ra_build_request(&p, &id, 1796530500, &r, &err), 0);
    assert_string_equal(r.url, "http://127.0.0.1:9/sessions");
    assert_string_equal(r.amz_date, "20261206T041500Z");
    assert_string_equal(header(&r, "Host"), "127.0.0.1:9");
    assert_non_null(header(&r, "X-Amz-X509"));
    assert_non_null(strchr(header(&r, "X-Amz-X509-Chain"), 'M'));
    const char *auth = header(&r, "Authorization");
    assert_non_null(auth);
    assert_non_null(strstr(auth, "AWS4-X509-ECDSA-SHA256 Credential=123456789012345678901234567890/"
                                 "20261206/eu-west-1/rolesanywhere/aws4_request, SignedHeaders="
                                 "content-type;host;x-amz-date;x-amz-x509;x-amz-x509-chain, "
                                 "Signature="));
    assert_non_null(strstr(r.body, "\"durationSeconds\":3600"));
    assert_non_null(strstr(r.body, "\"roleSessionName\":\"host1\""));
    assert_non_null(strstr(r.canonical_request, "POST\n/sessions\n\ncontent-type:application/json\n"
                                                "host:127.0.0.1:9\nx-amz-date:20261206T041500Z\n"));
    char hash[65];
    aws_sigv4_sha256_hex(r.canonical_request, strlen(r.canonical_request), hash);
    assert_string_equal(hash, r.creq_hash);
    /* The signature in the header verifies over the string to sign. */
    const char *hex = strstr(auth, "Signature=") + 10;
    size_t len = strlen(hex) / 2;
    unsigned char *sig = malloc(len);
    for (size_t i = 0; i < len; i++) {
        unsigned int b;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &b), 1);
        sig[i] = (unsigned char)b;
    }
    assert_true(verify(k, r.string_to_sign, sig, len));
    free(sig);
    aws_ra_request_clear(&r);

    /* Without intermediates the chain header is neither sent nor signed. */
    id.chain = NULL;
    p.endpoint_url = NULL;
    assert_int_equal(aws_ra_build_request(&p, &id, 1796530500, &r, &err), 0);
    assert_string_equal(r.url, "https://rolesanywhere.eu-west-1.amazonaws.com/sessions");
    assert_null(header(&r, "X-Amz-X509-Chain"));
    assert_non_null(strstr(header(&r, "Authorization"),
                           "SignedHeaders=content-type;host;x-amz-date;x-amz-x509, "));
    aws_ra_request_clear(&r);

    /* An endpoint with a path is refused rather than signed wrong. */
    p.endpoint_url = "https://example.test/prefix";
    assert_int_equal(aws_ra_build_request(&p, &id, 1796530500, &r, &err), -1);
    assert_int_equal(err.code, MK_ERR_CONFIG);

    sk_X509_pop_free(chain, X509_free);
    X509_free(leaf);
    EVP_PKEY_free(k);
    EVP_PKEY_free(ik);
}

static void test_build_request_unsupported_key(void **state)
{
    (void)state;
    struct mk_err err = {0};
    EVP_PKEY *k = keygen("ED25519");
    X509 *leaf = make_cert(k, 3);
    struct aws_ra_params p = {.trust_anchor_arn = TA, .profile_arn = "p", .role_arn = "r"};
    struct aws_ra_identity id = {leaf, NULL, key_signer, k, "kafka"};
    struct aws_ra_request r = {0};
    assert_int_equal(aws_ra_build_request(&p, &id, 1796530500, &r, &err), -1);
    assert_non_null(strstr(err.msg, "accepts only EC and RSA"));
    X509_free(leaf);
    EVP_PKEY_free(k);
}

static void test_parse_answer(void **state)
{
    (void)state;
    struct mk_err err = {0};
    const char *ok = "{\"credentialSet\":[{\"credentials\":{\"accessKeyId\":\"ASIAFAKE1\","
                     "\"secretAccessKey\":\"s3cr3t\",\"sessionToken\":\"tok\","
                     "\"expiration\":\"2026-12-06T05:15:00Z\"},\"roleArn\":\"r\"}],"
                     "\"subjectArn\":\"s\"}";
    struct aws_creds *c = aws_ra_parse_answer(ok, strlen(ok), &err);
    assert_non_null(c);
    assert_string_equal(c->access_key_id, "ASIAFAKE1");
    assert_string_equal(c->source, "roles-anywhere");
    assert_int_equal(c->expiration, 1796534100);
    aws_creds_free(c);
    static const char *const bad[] = {
        "",
        "[]",
        "{\"credentialSet\":[]}",
        "{\"credentialSet\":[{\"credentials\":{\"accessKeyId\":\"A\"}}]}",
        "{\"credentialSet\":[{\"credentials\":{\"accessKeyId\":\"A\",\"secretAccessKey\":\"s\","
        "\"sessionToken\":\"t\",\"expiration\":\"tomorrow\"}}]}",
        NULL};
    for (size_t i = 0; bad[i] != NULL; i++) {
        assert_null(aws_ra_parse_answer(bad[i], strlen(bad[i]), &err));
        assert_int_equal(err.code, MK_ERR_CREDS);
    }
}

static void test_region_from_arn(void **state)
{
    (void)state;
    struct mk_err err = {0};
    char r[33];
    assert_int_equal(aws_ra_region_from_arn(TA, r, sizeof(r), &err), 0);
    assert_string_equal(r, "eu-west-1");
    assert_int_equal(aws_ra_region_from_arn("arn:aws:iam::1:role/x", r, sizeof(r), &err), -1);
    assert_int_equal(aws_ra_region_from_arn("not-an-arn", r, sizeof(r), &err), -1);
    assert_int_equal(aws_ra_region_from_arn("arn:aws:x", r, sizeof(r), &err), -1);
}

static void test_http_date(void **state)
{
    (void)state;
    time_t t;
    assert_int_equal(aws_ra_parse_http_date("Sun, 06 Dec 2026 04:15:00 GMT", &t), 0);
    assert_int_equal(t, 1796530500);
    assert_int_equal(aws_ra_parse_http_date("Sun, 06 Foo 2026 04:15:00 GMT", &t), -1);
    assert_int_equal(aws_ra_parse_http_date("yesterday", &t), -1);
}

/* ---- the source hook of the chain ---- */

static int source_calls;

static int source_ok(void *arg, struct aws_creds **out, struct mk_err *err)
{
    (void)arg;
    source_calls++;
    *out = aws_creds_make("ASIASOURCE", "sourcesecret", "tok", time(NULL) + 3600, "roles-anywhere",
                          err);
    return *out != NULL ? 1 : -1;
}

/* Credentials that are already within the five minutes before expiry. */
static int source_short(void *arg, struct aws_creds **out, struct mk_err *err)
{
    (void)arg;
    source_calls++;
    *out = aws_creds_make("ASIASHORT", "shortsecret", "tok", time(NULL) + 200, "roles-anywhere",
                          err);
    return *out != NULL ? 1 : -1;
}

static int source_none(void *arg, struct aws_creds **out, struct mk_err *err)
{
    (void)arg;
    (void)out;
    (void)err;
    source_calls++;
    return 0;
}

/* No certificate for the first n calls, then credentials. */
static int source_later_n;

static int source_later(void *arg, struct aws_creds **out, struct mk_err *err)
{
    if (source_calls >= source_later_n) {
        return source_ok(arg, out, err);
    }
    return source_none(arg, out, err);
}

static int source_fail(void *arg, struct aws_creds **out, struct mk_err *err)
{
    (void)arg;
    (void)out;
    source_calls++;
    mk_err_set(err, MK_ERR_AWS, "roles anywhere: refused; bootstrap with mskpkictl cert issue X");
    return -1;
}

static void chain_env(int with_keys)
{
    setenv("AWS_REGION", "eu-west-1", 1);
    setenv("AWS_CONFIG_FILE", "/nonexistent/config", 1);
    setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials", 1);
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    unsetenv("AWS_PROFILE");
    unsetenv("AWS_WEB_IDENTITY_TOKEN_FILE");
    unsetenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    unsetenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    unsetenv("AWS_SESSION_TOKEN");
    if (with_keys) {
        setenv("AWS_ACCESS_KEY_ID", "AKIAENVKEY", 1);
        setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
    } else {
        unsetenv("AWS_ACCESS_KEY_ID");
        unsetenv("AWS_SECRET_ACCESS_KEY");
    }
}

static struct aws_client *client_with(aws_creds_source_fn fn)
{
    struct mk_err err = {0};
    struct aws_client *c = aws_client_new(NULL, &err);
    assert_non_null(c);
    aws_client_set_credentials_source(c, fn, NULL);
    return c;
}

static void test_source_first(void **state)
{
    (void)state;
    char src[32];
    time_t exp;
    chain_env(1);
    source_calls = 0;
    struct aws_client *c = client_with(source_ok);
    aws_client_credentials_info(c, src, sizeof(src), &exp);
    assert_string_equal(src, "");
    assert_int_equal(aws_client_check_credentials(c, NULL), 0);
    aws_client_credentials_info(c, src, sizeof(src), &exp);
    assert_string_equal(src, "roles-anywhere");
    assert_true(exp > time(NULL));
    /* Cached until five minutes before expiry: no second call. */
    assert_int_equal(aws_client_check_credentials(c, NULL), 0);
    assert_int_equal(source_calls, 1);
    aws_client_free(c);
}

static void test_source_refresh_early(void **state)
{
    (void)state;
    chain_env(0);
    source_calls = 0;
    struct aws_client *c = client_with(source_short);
    assert_int_equal(aws_client_check_credentials(c, NULL), 0);
    assert_int_equal(aws_client_check_credentials(c, NULL), 0);
    /* Not cached: they expire in less than AWS_CREDS_REFRESH_EARLY_S. */
    assert_int_equal(source_calls, 2);
    aws_client_free(c);
}

static void test_source_bootstrap(void **state)
{
    (void)state;
    char src[32];
    time_t exp;
    struct mk_err err = {0};
    /* No valid certificate yet: the chain (here the environment) signs. */
    chain_env(1);
    struct aws_client *c = client_with(source_none);
    assert_int_equal(aws_client_check_credentials(c, &err), 0);
    aws_client_credentials_info(c, src, sizeof(src), &exp);
    assert_string_equal(src, "env");
    aws_client_free(c);
    /* The chain's keys never expire, yet the source takes over once it can (the certificate
     * was issued with the bootstrap keys). */
    source_calls = 0;
    source_later_n = 2;
    c = client_with(source_later);
    assert_int_equal(aws_client_check_credentials(c, &err), 0);
    aws_client_credentials_info(c, src, sizeof(src), &exp);
    assert_string_equal(src, "env");
    assert_int_equal(aws_client_check_credentials(c, &err), 0);
    assert_int_equal(aws_client_check_credentials(c, &err), 0);
    aws_client_credentials_info(c, src, sizeof(src), &exp);
    assert_string_equal(src, "roles-anywhere");
    assert_int_equal(aws_client_check_credentials(c, &err), 0);
    assert_int_equal(source_calls, 3);
    aws_client_free(c);
    /* Roles Anywhere refused: the chain is still tried. */
    c = client_with(source_fail);
    assert_int_equal(aws_client_check_credentials(c, &err), 0);
    aws_client_credentials_info(c, src, sizeof(src), &exp);
    assert_string_equal(src, "env");
    aws_client_free(c);
    /* Neither: one line with both reasons. */
    chain_env(0);
    c = client_with(source_fail);
    assert_int_equal(aws_client_check_credentials(c, &err), -1);
    assert_int_equal(err.code, MK_ERR_CREDS);
    assert_non_null(strstr(err.msg, "bootstrap with mskpkictl cert issue X; and the credential "
                                    "chain: no AWS credentials found"));
    assert_null(strchr(err.msg, '\n'));
    aws_client_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_string_to_sign),
        cmocka_unit_test(test_string_to_sign_refuses),
        cmocka_unit_test(test_sign_ec),
        cmocka_unit_test(test_sign_rsa),
        cmocka_unit_test(test_unsupported_key),
        cmocka_unit_test(test_build_request),
        cmocka_unit_test(test_build_request_unsupported_key),
        cmocka_unit_test(test_parse_answer),
        cmocka_unit_test(test_region_from_arn),
        cmocka_unit_test(test_http_date),
        cmocka_unit_test(test_source_first),
        cmocka_unit_test(test_source_refresh_early),
        cmocka_unit_test(test_source_bootstrap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
