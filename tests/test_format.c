/*
 * test_format.c: PKCS#8 PEM keys (plain and encrypted) and PKCS#12 keystores, checked by our own
 * parser, by OpenSSL's structures and by the openssl CLI.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <cmocka.h>

#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>

#include "pki/cert.h"
#include "pki/format.h"
#include "pki/key.h"
#include "pki/log.h"
#include "pki/secret.h"
#include "store_fixture.h"

struct fmt_state {
    struct store_fx fx;
    struct fx_pair pair;
};

static int setup(void **state)
{
    struct fmt_state *s = calloc(1, sizeof(*s));
    assert_non_null(s);
    mk_log_setup(MK_LOG_WARN, MK_LOG_STDERR, "test_format");
    fx_setup(&s->fx);
    fx_issue(&s->fx, "format-client", &s->pair);
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    struct fmt_state *s = *state;
    fx_pair_clear(&s->pair);
    fx_teardown(&s->fx);
    free(s);
    return 0;
}

static struct pki_secret *secret(const char *text)
{
    struct mk_err err;
    struct pki_secret *sec = pki_secret_from(text, strlen(text), &err);
    assert_non_null(sec);
    return sec;
}

/* Writes data to <tmp>/name and puts that path into path. */
static void write_at(const struct store_fx *fx, const char *name, const void *data, size_t len,
                     char *path, size_t cap)
{
    snprintf(path, cap, "%s/%s", fx->tmp, name);
    fx_write(path, data, len);
}

static void test_key_pem_plain_is_pkcs8(void **state)
{
    struct fmt_state *s = *state;
    struct mk_err err;
    struct pki_secret *pem = pki_format_key_pem(s->pair.key, NULL, &err);
    EVP_PKEY *back = NULL;

    assert_non_null(pem);
    /* PKCS#8, not the traditional "EC PRIVATE KEY" form. */
    assert_non_null(strstr(pki_secret_str(pem), "-----BEGIN PRIVATE KEY-----"));
    assert_null(strstr(pki_secret_str(pem), "ENCRYPTED"));
    back = pki_key_from_pem(pki_secret_data(pem), pki_secret_len(pem), NULL, &err);
    assert_non_null(back);
    assert_int_equal(EVP_PKEY_eq(back, s->pair.key), 1);
    EVP_PKEY_free(back);
    pki_secret_free(pem);
}

/* The encryption must be PBES2 with PBKDF2 and AES-256-CBC, read from the DER structure. */
static void assert_pbes2_aes256(const struct pki_secret *pem)
{
    BIO *bio = BIO_new_mem_buf(pki_secret_data(pem), (int)pki_secret_len(pem));
    X509_SIG *p8 = NULL;
    const X509_ALGOR *alg = NULL;
    const ASN1_OBJECT *oid = NULL;
    const void *param = NULL;
    int ptype = 0;
    PBE2PARAM *pbe2 = NULL;
    PBKDF2PARAM *kdf = NULL;

    assert_non_null(bio);
    p8 = PEM_read_bio_PKCS8(bio, NULL, NULL, NULL);
    assert_non_null(p8);
    X509_SIG_get0(p8, &alg, NULL);
    X509_ALGOR_get0(&oid, &ptype, &param, alg);
    assert_int_equal(OBJ_obj2nid(oid), NID_pbes2);
    assert_int_equal(ptype, V_ASN1_SEQUENCE);
    pbe2 = ASN1_item_unpack((const ASN1_STRING *)param, ASN1_ITEM_rptr(PBE2PARAM));
    assert_non_null(pbe2);
    assert_int_equal(OBJ_obj2nid(pbe2->keyfunc->algorithm), NID_id_pbkdf2);
    assert_int_equal(OBJ_obj2nid(pbe2->encryption->algorithm), NID_aes_256_cbc);
    /* The PKCS#12's work factor (issue 16): PBKDF2-HMAC-SHA256 with >= 100000 iterations, not
     * OpenSSL's default of 2048. */
    kdf = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBKDF2PARAM), pbe2->keyfunc->parameter);
    assert_non_null(kdf);
    assert_true(ASN1_INTEGER_get(kdf->iter) >= 100000);
    assert_non_null(kdf->prf);
    assert_int_equal(OBJ_obj2nid(kdf->prf->algorithm), NID_hmacWithSHA256);
    PBKDF2PARAM_free(kdf);
    PBE2PARAM_free(pbe2);
    X509_SIG_free(p8);
    BIO_free(bio);
}

static void test_key_pem_encrypted(void **state)
{
    struct fmt_state *s = *state;
    struct mk_err err;
    struct pki_secret *pass = secret("correct horse battery");
    struct pki_secret *wrong = secret("wrong horse");
    struct pki_secret *pem = pki_format_key_pem(s->pair.key, pass, &err);
    EVP_PKEY *back = NULL;
    char key_path[256];
    char pw_path[256];
    char bad_path[256];
    char cmd[1024];
    char *out = NULL;

    assert_non_null(pem);
    assert_non_null(strstr(pki_secret_str(pem), "-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    assert_pbes2_aes256(pem);

    /* Our own reader: right passphrase works, wrong one and none are refused. */
    back = pki_key_from_pem(pki_secret_data(pem), pki_secret_len(pem), pass, &err);
    assert_non_null(back);
    assert_int_equal(EVP_PKEY_eq(back, s->pair.key), 1);
    EVP_PKEY_free(back);
    assert_null(pki_key_from_pem(pki_secret_data(pem), pki_secret_len(pem), wrong, &err));

    /* The real openssl CLI. */
    write_at(&s->fx, "enc.key", pki_secret_data(pem), pki_secret_len(pem), key_path,
             sizeof(key_path));
    write_at(&s->fx, "pw", "correct horse battery\n", 22, pw_path, sizeof(pw_path));
    write_at(&s->fx, "badpw", "wrong horse\n", 12, bad_path, sizeof(bad_path));
    snprintf(cmd, sizeof(cmd), "openssl pkey -in %s -passin file:%s -noout", key_path, pw_path);
    assert_int_equal(fx_run(cmd, &out), 0);
    free(out);
    snprintf(cmd, sizeof(cmd), "openssl pkey -in %s -passin file:%s -noout", key_path, bad_path);
    assert_int_not_equal(fx_run(cmd, &out), 0);
    free(out);

    pki_secret_free(pem);
    pki_secret_free(pass);
    pki_secret_free(wrong);
}

static void test_key_pem_refuses_bad_input(void **state)
{
    struct mk_err err;
    struct pki_secret *empty = NULL;

    (void)state;
    mk_err_clear(&err);
    assert_null(pki_format_key_pem(NULL, NULL, &err));
    assert_int_equal(err.code, MK_ERR_INVALID);
    empty = pki_secret_new(0, &err);
    assert_non_null(empty);
    assert_null(pki_format_key_pem(((struct fmt_state *)*state)->pair.key, empty, &err));
    assert_int_equal(err.code, MK_ERR_CONFIG);
    pki_secret_free(empty);
}

static void test_pkcs12_roundtrip(void **state)
{
    struct fmt_state *s = *state;
    struct mk_err err;
    struct pki_secret *pw = secret("keystore-pw");
    struct pki_secret *p12 = NULL;
    EVP_PKEY *key = NULL;
    X509 *leaf = NULL;
    STACK_OF(X509) *chain = NULL;
    const unsigned char *p = NULL;
    PKCS12 *parsed = NULL;
    const X509_ALGOR *macalg = NULL;
    const ASN1_INTEGER *iter = NULL;
    const ASN1_OBJECT *mdoid = NULL;

    p12 = pki_format_pkcs12(s->pair.key, s->pair.leaf, s->pair.chain, "kafka-client", pw, &err);
    assert_non_null(p12);

    /* The MAC is HMAC-SHA256 with at least 10000 iterations. */
    p = pki_secret_data(p12);
    parsed = d2i_PKCS12(NULL, &p, (long)pki_secret_len(p12));
    assert_non_null(parsed);
    PKCS12_get0_mac(NULL, &macalg, NULL, &iter, parsed);
    assert_non_null(macalg);
    X509_ALGOR_get0(&mdoid, NULL, NULL, macalg);
    assert_int_equal(OBJ_obj2nid(mdoid), NID_sha256);
    assert_non_null(iter);
    assert_true(ASN1_INTEGER_get(iter) >= 10000);
    PKCS12_free(parsed);

    assert_int_equal(pki_format_pkcs12_parse(pki_secret_data(p12), pki_secret_len(p12), pw, &key,
                                             &leaf, &chain, &err),
                     0);
    assert_int_equal(EVP_PKEY_eq(key, s->pair.key), 1);
    assert_int_equal(X509_cmp(leaf, s->pair.leaf), 0);
    assert_int_equal(sk_X509_num(chain), sk_X509_num(s->pair.chain));
    assert_int_equal(X509_cmp(sk_X509_value(chain, 0), sk_X509_value(s->pair.chain, 0)), 0);
    assert_non_null(X509_alias_get0(leaf, NULL));
    assert_memory_equal(X509_alias_get0(leaf, NULL), "kafka-client", 12);
    EVP_PKEY_free(key);
    X509_free(leaf);
    sk_X509_pop_free(chain, X509_free);

    /* Any out pointer may be NULL. */
    assert_int_equal(pki_format_pkcs12_parse(pki_secret_data(p12), pki_secret_len(p12), pw, NULL,
                                             NULL, NULL, &err),
                     0);
    pki_secret_free(p12);
    pki_secret_free(pw);
}

static void test_pkcs12_wrong_password(void **state)
{
    struct fmt_state *s = *state;
    struct mk_err err;
    struct pki_secret *pw = secret("keystore-pw");
    struct pki_secret *wrong = secret("keystore-pX");
    struct pki_secret *p12 = NULL;
    EVP_PKEY *key = NULL;

    p12 = pki_format_pkcs12(s->pair.key, s->pair.leaf, s->pair.chain, NULL, pw, &err);
    assert_non_null(p12);
    mk_err_clear(&err);
    assert_int_equal(pki_format_pkcs12_parse(pki_secret_data(p12), pki_secret_len(p12), wrong, &key,
                                             NULL, NULL, &err),
                     -1);
    assert_int_equal(err.code, MK_ERR_VERIFY);
    assert_null(key);
    /* The message must not echo the password. */
    assert_null(strstr(err.msg, "keystore-p"));
    pki_secret_free(p12);
    pki_secret_free(pw);
    pki_secret_free(wrong);
}

static void test_pkcs12_refuses_bad_input(void **state)
{
    struct fmt_state *s = *state;
    struct mk_err err;
    struct pki_secret *pw = secret("keystore-pw");
    struct pki_secret *empty = NULL;
    static const unsigned char junk[] = "this is not DER at all";
    struct pki_secret *p12 = NULL;
    unsigned char *longer = NULL;

    assert_int_equal(pki_format_pkcs12_parse(junk, sizeof(junk), pw, NULL, NULL, NULL, &err), -1);
    assert_int_equal(err.code, MK_ERR_INVALID);
    assert_int_equal(pki_format_pkcs12_parse(junk, 0, pw, NULL, NULL, NULL, &err), -1);
    assert_int_equal(err.code, MK_ERR_INVALID);
    /* No password, empty password, no key. */
    assert_null(pki_format_pkcs12(s->pair.key, s->pair.leaf, NULL, "a", NULL, &err));
    assert_int_equal(err.code, MK_ERR_CONFIG);
    empty = pki_secret_new(0, &err);
    assert_non_null(empty);
    assert_null(pki_format_pkcs12(s->pair.key, s->pair.leaf, NULL, "a", empty, &err));
    assert_int_equal(err.code, MK_ERR_CONFIG);
    assert_null(pki_format_pkcs12(NULL, s->pair.leaf, NULL, "a", pw, &err));
    assert_int_equal(err.code, MK_ERR_INVALID);
    /* Trailing garbage after a valid keystore is refused. */
    p12 = pki_format_pkcs12(s->pair.key, s->pair.leaf, NULL, "a", pw, &err);
    assert_non_null(p12);
    longer = calloc(1, pki_secret_len(p12) + 4);
    assert_non_null(longer);
    memcpy(longer, pki_secret_data(p12), pki_secret_len(p12));
    assert_int_equal(
        pki_format_pkcs12_parse(longer, pki_secret_len(p12) + 4, pw, NULL, NULL, NULL, &err), -1);
    assert_int_equal(err.code, MK_ERR_INVALID);
    /* And without a chain, parse gives an empty chain, not NULL. */
    {
        STACK_OF(X509) *chain = NULL;
        assert_int_equal(pki_format_pkcs12_parse(pki_secret_data(p12), pki_secret_len(p12), pw,
                                                 NULL, NULL, &chain, &err),
                         0);
        assert_non_null(chain);
        assert_int_equal(sk_X509_num(chain), 0);
        sk_X509_pop_free(chain, X509_free);
    }
    free(longer);
    pki_secret_free(p12);
    pki_secret_free(empty);
    pki_secret_free(pw);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_key_pem_plain_is_pkcs8, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_pem_encrypted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_pem_refuses_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pkcs12_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pkcs12_wrong_password, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pkcs12_refuses_bad_input, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
