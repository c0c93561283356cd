/* test_cert.c: certificate parsing, info, key match, clientAuth verification, renewal math and
 * PEM output (pki/cert.h).  Certificates are built here with plain OpenSSL calls so that these
 * tests do not depend on the CA backends. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "pki/cert.h"
#include "pki/key.h"

#define DAY (24L * 3600)

struct pair {
    EVP_PKEY *key;
    X509 *cert;
};

static void add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *ext;

    X509V3_set_ctx(&ctx, issuer != NULL ? issuer : cert, cert, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    assert_non_null(ext);
    assert_int_equal(X509_add_ext(cert, ext, -1), 1);
    X509_EXTENSION_free(ext);
}

/*
 * A certificate for a new key of type, named cn, valid [now+from, now+to], signed by issuer (or
 * self-signed when issuer is NULL).  ca: CA extensions; eku: extendedKeyUsage value or NULL;
 * san: subjectAltName value or NULL.
 */
static struct pair make_cert(enum pki_key_type type, const char *cn, const struct pair *issuer,
                             int ca, const char *eku, const char *san, long from, long to,
                             long serial)
{
    struct mk_err err;
    struct pair p;
    X509_NAME *name = X509_NAME_new();
    time_t now = time(NULL);

    p.key = pki_key_generate(type, &err);
    assert_non_null(p.key);
    p.cert = X509_new();
    assert_non_null(p.cert);
    assert_int_equal(X509_set_version(p.cert, X509_VERSION_3), 1);
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(p.cert), serial), 1);
    assert_int_equal(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                                                (const unsigned char *)"Example", -1, -1, 0),
                     1);
    assert_int_equal(
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0),
        1);
    assert_int_equal(X509_set_subject_name(p.cert, name), 1);
    assert_int_equal(
        X509_set_issuer_name(p.cert, issuer != NULL ? X509_get_subject_name(issuer->cert) : name),
        1);
    X509_NAME_free(name);
    assert_non_null(X509_time_adj_ex(X509_getm_notBefore(p.cert), 0, from, &now));
    assert_non_null(X509_time_adj_ex(X509_getm_notAfter(p.cert), 0, to, &now));
    assert_int_equal(X509_set_pubkey(p.cert, p.key), 1);
    if (ca) {
        add_ext(p.cert, NULL, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(p.cert, NULL, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        add_ext(p.cert, NULL, NID_basic_constraints, "critical,CA:FALSE");
        add_ext(p.cert, NULL, NID_key_usage, "critical,digitalSignature,keyEncipherment");
    }
    if (eku != NULL) {
        add_ext(p.cert, NULL, NID_ext_key_usage, eku);
    }
    if (san != NULL) {
        add_ext(p.cert, NULL, NID_subject_alt_name, san);
    }
    add_ext(p.cert, NULL, NID_subject_key_identifier, "hash");
    assert_true(X509_sign(p.cert, issuer != NULL ? issuer->key : p.key, EVP_sha256()) > 0);
    return p;
}

static void pair_free(struct pair *p)
{
    EVP_PKEY_free(p->key);
    X509_free(p->cert);
}

static STACK_OF(X509) * stack_of(X509 *a, X509 *b)
{
    STACK_OF(X509) *s = sk_X509_new_null();

    assert_non_null(s);
    if (a != NULL) {
        assert_int_equal(X509_up_ref(a), 1);
        assert_true(sk_X509_push(s, a) > 0);
    }
    if (b != NULL) {
        assert_int_equal(X509_up_ref(b), 1);
        assert_true(sk_X509_push(s, b) > 0);
    }
    return s;
}

static void test_parse_pem_der(void **state)
{
    struct mk_err err;
    struct pair ca = make_cert(PKI_KEY_EC_P256, "Root", NULL, 1, NULL, NULL, -DAY, 3650 * DAY, 1);
    struct pair leaf = make_cert(PKI_KEY_EC_P256, "leaf", &ca, 0, "clientAuth", NULL, -60, DAY, 2);
    STACK_OF(X509) *rest = stack_of(ca.cert, NULL);
    STACK_OF(X509) * got;
    char *pem;
    size_t len = 0;
    unsigned char *der = NULL;
    int dlen;

    (void)state;
    pem = pki_certs_to_pem(leaf.cert, rest, &len, &err);
    assert_non_null(pem);
    assert_int_equal(strlen(pem), len);
    got = pki_certs_from_mem(pem, len, &err);
    assert_non_null(got);
    assert_int_equal(sk_X509_num(got), 2);
    assert_int_equal(X509_cmp(sk_X509_value(got, 0), leaf.cert), 0);
    assert_int_equal(X509_cmp(sk_X509_value(got, 1), ca.cert), 0);
    sk_X509_pop_free(got, X509_free);

    /* Leading text before the first block (like `openssl x509 -text` output) is skipped. */
    {
        char *noisy = NULL;
        assert_true(asprintf(&noisy, "Certificate:\n  Data: ...\n%s", pem) > 0);
        got = pki_certs_from_mem(noisy, strlen(noisy), &err);
        assert_non_null(got);
        assert_int_equal(sk_X509_num(got), 2);
        sk_X509_pop_free(got, X509_free);
        free(noisy);
    }

    dlen = i2d_X509(leaf.cert, &der);
    assert_true(dlen > 0);
    got = pki_certs_from_mem(der, (size_t)dlen, &err);
    assert_non_null(got);
    assert_int_equal(sk_X509_num(got), 1);
    assert_int_equal(X509_cmp(sk_X509_value(got, 0), leaf.cert), 0);
    sk_X509_pop_free(got, X509_free);

    /* Negative: truncated DER, DER with trailing junk, no certificate, a broken second block. */
    assert_null(pki_certs_from_mem(der, (size_t)dlen - 10, &err));
    assert_int_equal(err.code, MK_ERR_INVALID);
    {
        unsigned char *longer = malloc((size_t)dlen + 3);
        memcpy(longer, der, (size_t)dlen);
        memcpy(longer + dlen, "abc", 3);
        assert_null(pki_certs_from_mem(longer, (size_t)dlen + 3, &err));
        assert_int_equal(err.code, MK_ERR_INVALID);
        assert_non_null(strstr(err.msg, "trailing"));
        free(longer);
    }
    assert_null(pki_certs_from_mem("hello\n", 6, &err));
    assert_int_equal(err.code, MK_ERR_INVALID);
    assert_null(pki_certs_from_mem("", 0, &err));
    assert_int_equal(err.code, MK_ERR_INVALID);
    {
        char *broken = NULL;
        assert_true(asprintf(&broken,
                             "%.*s-----BEGIN CERTIFICATE-----\n@@notbase64@@\n"
                             "-----END CERTIFICATE-----\n",
                             (int)len, pem) > 0);
        assert_null(pki_certs_from_mem(broken, strlen(broken), &err));
        assert_int_equal(err.code, MK_ERR_INVALID);
        assert_non_null(strstr(err.msg, "certificate 3"));
        free(broken);
    }
    OPENSSL_free(der);
    free(pem);
    sk_X509_pop_free(rest, X509_free);
    pair_free(&leaf);
    pair_free(&ca);
}

static void test_load_file(void **state)
{
    struct mk_err err;
    struct pair ca = make_cert(PKI_KEY_EC_P256, "Root", NULL, 1, NULL, NULL, -DAY, DAY, 7);
    char dir[64];
    char path[128];
    FILE *fp;
    X509 *x;
    STACK_OF(X509) * s;

    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/mk-cert-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/ca.crt", dir);
    assert_null(pki_cert_load_file(path, &err));
    assert_int_equal(err.code, MK_ERR_NOTFOUND);
    assert_non_null(strstr(err.msg, path));
    fp = fopen(path, "w");
    assert_non_null(fp);
    assert_int_equal(PEM_write_X509(fp, ca.cert), 1);
    assert_int_equal(PEM_write_X509(fp, ca.cert), 1);
    fclose(fp);
    x = pki_cert_load_file(path, &err);
    assert_non_null(x);
    assert_int_equal(X509_cmp(x, ca.cert), 0);
    X509_free(x);
    s = pki_certs_load_file(path, &err);
    assert_non_null(s);
    assert_int_equal(sk_X509_num(s), 2);
    sk_X509_pop_free(s, X509_free);

    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("garbage\n", fp);
    fclose(fp);
    assert_null(pki_certs_load_file(path, &err));
    assert_int_equal(err.code, MK_ERR_INVALID);
    assert_non_null(strstr(err.msg, path));
    unlink(path);
    rmdir(dir);
    pair_free(&ca);
}

static void test_info(void **state)
{
    struct mk_err err;
    struct pair ca =
        make_cert(PKI_KEY_EC_P384, "Root", NULL, 1, NULL, NULL, -DAY, 3650 * DAY, 0x0102);
    /* RSA key generation takes seconds under valgrind: bracket it instead of trusting a margin. */
    time_t made_from = time(NULL);
    struct pair leaf =
        make_cert(PKI_KEY_RSA_2048, "leaf", &ca, 0, "clientAuth,serverAuth",
                  "DNS:a.example, URI:spiffe://example.org/x, email:a@example.org, IP:10.0.0.1",
                  -60, DAY, 0xABCDEF);
    time_t made_to = time(NULL);
    struct pki_cert_info info;
    unsigned char md[32];
    unsigned int mdlen;
    char fp0[4];

    (void)state;
    assert_int_equal(pki_cert_info(leaf.cert, &info, &err), 0);
    assert_string_equal(info.subject, "CN=leaf,O=Example");
    assert_string_equal(info.issuer, "CN=Root,O=Example");
    assert_string_equal(info.serial_hex, "ABCDEF");
    assert_string_equal(info.sans, "DNS:a.example, URI:spiffe://example.org/x, "
                                   "email:a@example.org, IP:10.0.0.1");
    assert_string_equal(info.key_desc, "RSA 2048");
    assert_int_equal(info.is_ca, 0);
    assert_int_equal(info.has_client_auth, 1);
    assert_int_equal(info.has_server_auth, 1);
    assert_string_equal(info.key_usage, "digitalSignature, keyEncipherment");
    assert_string_equal(info.ext_key_usage, "clientAuth, serverAuth");
    assert_true(info.not_after - info.not_before == DAY + 60);
    assert_true(info.not_before >= made_from - 60 && info.not_before <= made_to - 60);
    assert_int_equal(strlen(info.fingerprint_sha256), 32 * 3 - 1);
    X509_digest(leaf.cert, EVP_sha256(), md, &mdlen);
    snprintf(fp0, sizeof(fp0), "%02X:", md[0]);
    assert_memory_equal(info.fingerprint_sha256, fp0, 3);

    assert_int_equal(pki_cert_info(ca.cert, &info, &err), 0);
    assert_int_equal(info.is_ca, 1);
    assert_string_equal(info.key_desc, "EC P-384");
    assert_string_equal(info.serial_hex, "0102");
    assert_string_equal(info.key_usage, "keyCertSign, cRLSign");
    assert_string_equal(info.ext_key_usage, "");
    assert_string_equal(info.sans, "");
    assert_int_equal(info.has_client_auth, 0);

    assert_int_equal(pki_cert_info(NULL, &info, &err), -1);
    assert_int_equal(err.code, MK_ERR_INVALID);
    pair_free(&leaf);
    pair_free(&ca);
}

static void test_matches_key(void **state)
{
    struct mk_err err;
    struct pair a = make_cert(PKI_KEY_EC_P256, "a", NULL, 0, "clientAuth", NULL, -60, DAY, 1);
    struct pair b = make_cert(PKI_KEY_EC_P256, "b", NULL, 0, "clientAuth", NULL, -60, DAY, 2);
    struct pair r = make_cert(PKI_KEY_RSA_2048, "r", NULL, 0, "clientAuth", NULL, -60, DAY, 3);

    (void)state;
    assert_int_equal(pki_cert_matches_key(a.cert, a.key, &err), 0);
    assert_int_equal(pki_cert_matches_key(r.cert, r.key, &err), 0);
    assert_int_equal(pki_cert_matches_key(a.cert, b.key, &err), -1);
    assert_int_equal(err.code, MK_ERR_VERIFY);
    assert_non_null(strstr(err.msg, "does not match"));
    /* Different algorithms: still a clean mismatch, not a crash. */
    assert_int_equal(pki_cert_matches_key(a.cert, r.key, &err), -1);
    assert_int_equal(err.code, MK_ERR_VERIFY);
    assert_int_equal(pki_cert_matches_key(NULL, a.key, &err), -1);
    pair_free(&a);
    pair_free(&b);
    pair_free(&r);
}

static void test_verify_client(void **state)
{
    struct mk_err err;
    struct pair root = make_cert(PKI_KEY_EC_P256, "Root", NULL, 1, NULL, NULL, -DAY, 3650 * DAY, 1);
    struct pair inter =
        make_cert(PKI_KEY_EC_P256, "Issuing", &root, 1, NULL, NULL, -DAY, 365 * DAY, 2);
    struct pair leaf =
        make_cert(PKI_KEY_EC_P256, "client", &inter, 0, "clientAuth", NULL, -60, 30 * DAY, 3);
    struct pair server =
        make_cert(PKI_KEY_EC_P256, "server", &inter, 0, "serverAuth", NULL, -60, 30 * DAY, 4);
    struct pair other =
        make_cert(PKI_KEY_EC_P256, "Other Root", NULL, 1, NULL, NULL, -DAY, 3650 * DAY, 5);
    struct pair direct =
        make_cert(PKI_KEY_RSA_2048, "direct", &root, 0, "clientAuth", NULL, -60, 30 * DAY, 6);
    STACK_OF(X509) *trust = stack_of(root.cert, NULL);
    STACK_OF(X509) *wrong = stack_of(other.cert, NULL);
    STACK_OF(X509) *untrusted = stack_of(inter.cert, NULL);

    (void)state;
    assert_int_equal(pki_cert_verify_client(leaf.cert, untrusted, trust, 0, &err), 0);
    assert_int_equal(pki_cert_verify_client(direct.cert, NULL, trust, 0, &err), 0);
    /* At a time inside the validity window, explicitly. */
    assert_int_equal(
        pki_cert_verify_client(leaf.cert, untrusted, trust, time(NULL) + 29 * DAY, &err), 0);

    /* A subordinate CA given as the trust anchor is enough (partial chain). */
    {
        STACK_OF(X509) *sub = stack_of(inter.cert, NULL);
        assert_int_equal(pki_cert_verify_client(leaf.cert, NULL, sub, 0, &err), 0);
        assert_int_equal(pki_cert_verify_client(direct.cert, NULL, sub, 0, &err), -1);
        sk_X509_pop_free(sub, X509_free);
    }

    /* Expired: verify at a time after notAfter. */
    assert_int_equal(
        pki_cert_verify_client(leaf.cert, untrusted, trust, time(NULL) + 31 * DAY, &err), -1);
    assert_int_equal(err.code, MK_ERR_VERIFY);
    assert_non_null(strstr(err.msg, "expired"));
    /* Not yet valid. */
    assert_int_equal(pki_cert_verify_client(leaf.cert, untrusted, trust, time(NULL) - DAY, &err),
                     -1);
    assert_non_null(strstr(err.msg, "not yet valid"));
    /* Untrusted CA. */
    assert_int_equal(pki_cert_verify_client(leaf.cert, untrusted, wrong, 0, &err), -1);
    assert_int_equal(err.code, MK_ERR_VERIFY);
    /* Missing intermediate. */
    assert_int_equal(pki_cert_verify_client(leaf.cert, NULL, trust, 0, &err), -1);
    assert_int_equal(err.code, MK_ERR_VERIFY);
    /* A serverAuth-only certificate is not a client certificate. */
    assert_int_equal(pki_cert_verify_client(server.cert, untrusted, trust, 0, &err), -1);
    assert_int_equal(err.code, MK_ERR_VERIFY);
    assert_non_null(strstr(err.msg, "purpose"));
    /* No trust anchors at all. */
    assert_int_equal(pki_cert_verify_client(leaf.cert, untrusted, NULL, 0, &err), -1);
    assert_int_equal(err.code, MK_ERR_VERIFY);

    sk_X509_pop_free(trust, X509_free);
    sk_X509_pop_free(wrong, X509_free);
    sk_X509_pop_free(untrusted, X509_free);
    pair_free(&root);
    pair_free(&inter);
    pair_free(&leaf);
    pair_free(&server);
    pair_free(&other);
    pair_free(&direct);
}

static void test_renewal_time(void **state)
{
    (void)state;
    /* Default fraction 2/3 (fraction outside (0,1) means default). */
    assert_int_equal(pki_cert_renewal_time(1000, 4000, 0, 0), 3000);
    assert_int_equal(pki_cert_renewal_time(1000, 4000, 1.5, 0), 3000);
    assert_int_equal(pki_cert_renewal_time(1000, 4000, -1, 0), 3000);
    assert_int_equal(pki_cert_renewal_time(1000, 4000, 0.5, 0), 2500);
    assert_int_equal(pki_cert_renewal_time(0, 90 * DAY, 0, 0), 60 * DAY);
    /* renew_before wins over the fraction. */
    assert_int_equal(pki_cert_renewal_time(1000, 4000, 0.5, 100), 3900);
    /* Clamping: renew_before longer than the lifetime gives not_before. */
    assert_int_equal(pki_cert_renewal_time(1000, 4000, 0, 10000), 1000);
    /* Degenerate window: not_after. */
    assert_int_equal(pki_cert_renewal_time(4000, 1000, 0, 0), 1000);
    assert_int_equal(pki_cert_renewal_time(1000, 1000, 0.5, 0), 1000);
}

static void test_to_pem_edge(void **state)
{
    struct mk_err err;
    struct pair a = make_cert(PKI_KEY_EC_P256, "a", NULL, 0, "clientAuth", NULL, -60, DAY, 1);
    STACK_OF(X509) *s = stack_of(a.cert, a.cert);
    char *pem;
    size_t len;

    (void)state;
    pem = pki_certs_to_pem(NULL, s, &len, &err);
    assert_non_null(pem);
    assert_non_null(strstr(strstr(pem, "BEGIN CERTIFICATE") + 1, "BEGIN CERTIFICATE"));
    free(pem);
    pem = pki_certs_to_pem(NULL, NULL, &len, &err);
    assert_non_null(pem);
    assert_int_equal(len, 0);
    assert_string_equal(pem, "");
    free(pem);
    sk_X509_pop_free(s, X509_free);
    pair_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_pem_der), cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_info),          cmocka_unit_test(test_matches_key),
        cmocka_unit_test(test_verify_client), cmocka_unit_test(test_renewal_time),
        cmocka_unit_test(test_to_pem_edge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
