/* test_csr.c: CSR building, signature check, PEM round trip, fingerprint (pki/csr.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "pki/csr.h"
#include "pki/key.h"

static const char *const dns[] = {"client1.kafka.internal", "client1.example.org"};
static const char *const uris[] = {"spiffe://example.org/ns/kafka/sa/producer"};
static const char *const emails[] = {"ops@example.org"};

static struct pki_csr_spec full_spec(void)
{
    struct pki_csr_spec spec = {
        .common_name = "client-1",
        .organization = "Example Org",
        .organizational_unit = "Streaming",
        .locality = "Dublin",
        .state = "Leinster",
        .country = "IE",
        .dns_names = dns,
        .n_dns_names = 2,
        .uris = uris,
        .n_uris = 1,
        .emails = emails,
        .n_emails = 1,
    };
    return spec;
}

/* The SAN extension of csr printed by OpenSSL ("DNS:a, DNS:b, URI:..."), into buf. */
static void csr_sans(X509_REQ *csr, char *buf, size_t n)
{
    STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(csr);
    int idx = X509v3_get_ext_by_NID(exts, NID_subject_alt_name, -1);
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    long len;

    assert_true(idx >= 0);
    assert_int_equal(X509V3_EXT_print(bio, X509v3_get_ext(exts, idx), 0, 0), 1);
    len = BIO_get_mem_data(bio, &data);
    snprintf(buf, n, "%.*s", (int)len, data);
    BIO_free(bio);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
}

static void test_new_verify_round_trip(void **state)
{
    struct mk_err err;
    struct pki_csr_spec spec = full_spec();
    EVP_PKEY *key = pki_key_generate(PKI_KEY_EC_P256, &err);
    X509_REQ *csr;
    X509_REQ *back;
    char *pem;
    size_t len = 0;
    char fp1[65];
    char fp2[65];
    char sans[512];
    char subject[256];

    (void)state;
    assert_non_null(key);
    csr = pki_csr_new(key, &spec, &err);
    assert_non_null(csr);
    assert_int_equal(pki_csr_verify(csr, &err), 0);
    assert_int_equal(EVP_PKEY_eq(X509_REQ_get0_pubkey(csr), key), 1);
    assert_int_equal(X509_REQ_get_signature_nid(csr), NID_ecdsa_with_SHA256);

    X509_NAME_oneline(X509_REQ_get_subject_name(csr), subject, sizeof(subject));
    assert_string_equal(subject,
                        "/C=IE/ST=Leinster/L=Dublin/O=Example Org/OU=Streaming/CN=client-1");
    csr_sans(csr, sans, sizeof(sans));
    assert_string_equal(sans, "DNS:client1.kafka.internal, DNS:client1.example.org, "
                              "URI:spiffe://example.org/ns/kafka/sa/producer, "
                              "email:ops@example.org");

    pem = pki_csr_to_pem(csr, &len, &err);
    assert_non_null(pem);
    assert_int_equal(strlen(pem), len);
    assert_non_null(strstr(pem, "-----BEGIN CERTIFICATE REQUEST-----"));
    back = pki_csr_from_pem(pem, len, &err);
    assert_non_null(back);
    assert_int_equal(pki_csr_verify(back, &err), 0);
    assert_int_equal(pki_csr_fingerprint(csr, fp1, &err), 0);
    assert_int_equal(pki_csr_fingerprint(back, fp2, &err), 0);
    assert_int_equal(strlen(fp1), 64);
    assert_string_equal(fp1, fp2);
    for (size_t i = 0; i < 64; i++) {
        assert_non_null(strchr("0123456789abcdef", fp1[i]));
    }
    free(pem);
    X509_REQ_free(back);

    /* A second CSR for the same key and spec differs (ECDSA is randomised): new fingerprint. */
    back = pki_csr_new(key, &spec, &err);
    assert_non_null(back);
    assert_int_equal(pki_csr_fingerprint(back, fp2, &err), 0);
    assert_string_not_equal(fp1, fp2);
    X509_REQ_free(back);
    X509_REQ_free(csr);
    EVP_PKEY_free(key);
}

static void test_digest_follows_key(void **state)
{
    struct mk_err err;
    struct pki_csr_spec spec = {.common_name = "p384"};
    EVP_PKEY *key = pki_key_generate(PKI_KEY_EC_P384, &err);
    EVP_PKEY *rsa = pki_key_generate(PKI_KEY_RSA_2048, &err);
    X509_REQ *csr;

    (void)state;
    csr = pki_csr_new(key, &spec, &err);
    assert_non_null(csr);
    assert_int_equal(X509_REQ_get_signature_nid(csr), NID_ecdsa_with_SHA384);
    /* Only a CN: no extensionRequest at all. */
    {
        STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(csr);
        assert_int_equal(sk_X509_EXTENSION_num(exts), 0);
        sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    }
    X509_REQ_free(csr);
    csr = pki_csr_new(rsa, &spec, &err);
    assert_non_null(csr);
    assert_int_equal(X509_REQ_get_signature_nid(csr), NID_sha256WithRSAEncryption);
    assert_int_equal(pki_csr_verify(csr, &err), 0);
    X509_REQ_free(csr);
    EVP_PKEY_free(key);
    EVP_PKEY_free(rsa);
}

/* Flips one letter of the CN inside the DER: the signature must no longer verify. */
static void test_tampered_refused(void **state)
{
    struct mk_err err;
    struct pki_csr_spec spec = full_spec();
    EVP_PKEY *key = pki_key_generate(PKI_KEY_EC_P256, &err);
    X509_REQ *csr = pki_csr_new(key, &spec, &err);
    X509_REQ *bad;
    unsigned char *der = NULL;
    const unsigned char *p;
    unsigned char *hit;
    int len;

    (void)state;
    assert_non_null(csr);
    len = i2d_X509_REQ(csr, &der);
    assert_true(len > 0);
    hit = memmem(der, (size_t)len, "client-1", 8);
    assert_non_null(hit);
    hit[7] = '2';
    p = der;
    bad = d2i_X509_REQ(NULL, &p, len);
    assert_non_null(bad);
    assert_int_equal(pki_csr_verify(bad, &err), -1);
    assert_int_equal(err.code, MK_ERR_VERIFY);
    assert_non_null(strstr(err.msg, "X509_REQ_verify"));
    X509_REQ_free(bad);

    /* A CSR whose key was swapped after signing is refused too. */
    {
        EVP_PKEY *other = pki_key_generate(PKI_KEY_EC_P256, &err);
        const unsigned char *q = der;
        hit[7] = '1';
        bad = d2i_X509_REQ(NULL, &q, len);
        assert_non_null(bad);
        assert_int_equal(pki_csr_verify(bad, &err), 0);
        assert_int_equal(X509_REQ_set_pubkey(bad, other), 1);
        assert_int_equal(pki_csr_verify(bad, &err), -1);
        assert_int_equal(err.code, MK_ERR_VERIFY);
        X509_REQ_free(bad);
        EVP_PKEY_free(other);
    }
    OPENSSL_free(der);
    X509_REQ_free(csr);
    EVP_PKEY_free(key);
}

static void test_bad_specs_refused(void **state)
{
    static const char *const bad_uri[] = {"no-scheme-here"};
    static const char *const bad_uri2[] = {"1abc://x"};
    static const char *const bad_email[] = {"not-an-email"};
    static const char *const empty_dns[] = {""};
    struct mk_err err;
    EVP_PKEY *key = pki_key_generate(PKI_KEY_EC_P256, &err);
    struct pki_csr_spec spec;

    (void)state;
    memset(&spec, 0, sizeof(spec));
    assert_null(pki_csr_new(key, &spec, &err));
    assert_int_equal(err.code, MK_ERR_INVALID);

    spec.common_name = "x";
    spec.country = "IRL";
    assert_null(pki_csr_new(key, &spec, &err));
    assert_int_equal(err.code, MK_ERR_INVALID);
    assert_non_null(strstr(err.msg, "country"));
    spec.country = NULL;

    spec.uris = bad_uri;
    spec.n_uris = 1;
    assert_null(pki_csr_new(key, &spec, &err));
    assert_non_null(strstr(err.msg, "no-scheme-here"));
    spec.uris = bad_uri2;
    assert_null(pki_csr_new(key, &spec, &err));
    assert_int_equal(err.code, MK_ERR_INVALID);
    spec.n_uris = 0;

    spec.emails = bad_email;
    spec.n_emails = 1;
    assert_null(pki_csr_new(key, &spec, &err));
    assert_non_null(strstr(err.msg, "not-an-email"));
    spec.n_emails = 0;

    spec.dns_names = empty_dns;
    spec.n_dns_names = 1;
    assert_null(pki_csr_new(key, &spec, &err));
    assert_int_equal(err.code, MK_ERR_INVALID);

    assert_null(pki_csr_new(NULL, &spec, &err));
    assert_int_equal(err.code, MK_ERR_INVALID);

    /* A SAN-only CSR (empty subject) is allowed. */
    spec.common_name = NULL;
    spec.n_dns_names = 0;
    spec.uris = uris;
    spec.n_uris = 1;
    {
        X509_REQ *csr = pki_csr_new(key, &spec, &err);
        assert_non_null(csr);
        assert_int_equal(X509_NAME_entry_count(X509_REQ_get_subject_name(csr)), 0);
        X509_REQ_free(csr);
    }
    EVP_PKEY_free(key);
}

static void test_from_pem_refusals(void **state)
{
    static const char cert_pem[] = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    static const char broken[] = "-----BEGIN CERTIFICATE REQUEST-----\n@@@@\n"
                                 "-----END CERTIFICATE REQUEST-----\n";
    struct mk_err err;
    char fp[65];

    (void)state;
    assert_null(pki_csr_from_pem(cert_pem, strlen(cert_pem), &err));
    assert_int_equal(err.code, MK_ERR_INVALID);
    assert_null(pki_csr_from_pem(broken, strlen(broken), &err));
    assert_int_equal(err.code, MK_ERR_INVALID);
    assert_null(pki_csr_from_pem("", 0, &err));
    assert_int_equal(err.code, MK_ERR_INVALID);
    assert_int_equal(pki_csr_verify(NULL, &err), -1);
    assert_int_equal(pki_csr_fingerprint(NULL, fp, &err), -1);
    assert_null(pki_csr_to_pem(NULL, NULL, &err));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_verify_round_trip), cmocka_unit_test(test_digest_follows_key),
        cmocka_unit_test(test_tampered_refused),      cmocka_unit_test(test_bad_specs_refused),
        cmocka_unit_test(test_from_pem_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
