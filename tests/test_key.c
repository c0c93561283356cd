/* test_key.c: key generation, typing and PEM loading (pki/key.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "pki/key.h"

static const struct {
    enum pki_key_type type;
    const char *name;
    const char *desc;
    const char *alg;
    int md_nid;
} cases[] = {
    {PKI_KEY_EC_P256, "ec-p256", "EC P-256", "SHA256WITHECDSA", NID_sha256},
    {PKI_KEY_EC_P384, "ec-p384", "EC P-384", "SHA384WITHECDSA", NID_sha384},
    {PKI_KEY_RSA_2048, "rsa-2048", "RSA 2048", "SHA256WITHRSA", NID_sha256},
    {PKI_KEY_RSA_3072, "rsa-3072", "RSA 3072", "SHA256WITHRSA", NID_sha256},
    {PKI_KEY_RSA_4096, "rsa-4096", "RSA 4096", "SHA256WITHRSA", NID_sha256},
};

/* PEM text of key (optionally encrypted with pass).  Caller frees with free(). */
static char *key_pem(EVP_PKEY *key, const char *pass)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    char *ret;
    long n;

    assert_non_null(bio);
    if (pass != NULL) {
        assert_int_equal(PEM_write_bio_PKCS8PrivateKey(bio, key, EVP_aes_256_cbc(), pass,
                                                       (int)strlen(pass), NULL, NULL),
                         1);
    } else {
        assert_int_equal(PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL), 1);
    }
    n = BIO_get_mem_data(bio, &data);
    ret = malloc((size_t)n + 1);
    assert_non_null(ret);
    memcpy(ret, data, (size_t)n);
    ret[n] = '\0';
    BIO_free(bio);
    return ret;
}

static void test_generate_each_type(void **state)
{
    struct mk_err err;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum pki_key_type t = PKI_KEY__MAX;
        EVP_PKEY *key = pki_key_generate(cases[i].type, &err);
        assert_non_null(key);
        assert_int_equal(pki_key_type_of(key, &t), 0);
        assert_int_equal(t, cases[i].type);
        assert_int_equal(EVP_MD_get_type(pki_key_digest(key)), cases[i].md_nid);
        assert_string_equal(pki_key_signing_algorithm(key), cases[i].alg);
        assert_string_equal(pki_key_describe(key), cases[i].desc);
        assert_string_equal(pki_key_type_name(cases[i].type), cases[i].name);
        assert_int_equal(pki_key_type_parse(cases[i].name, &t), 0);
        assert_int_equal(t, cases[i].type);
        EVP_PKEY_free(key);
    }
}

static void test_type_names_negative(void **state)
{
    enum pki_key_type t = PKI_KEY_EC_P256;
    struct mk_err err;

    (void)state;
    assert_int_equal(pki_key_type_parse("rsa-1024", &t), -1);
    assert_int_equal(pki_key_type_parse("EC-P256", &t), -1);
    assert_int_equal(pki_key_type_parse("", &t), -1);
    assert_int_equal(pki_key_type_parse(NULL, &t), -1);
    assert_string_equal(pki_key_type_name(PKI_KEY__MAX), "unknown");
    assert_null(pki_key_generate(PKI_KEY__MAX, &err));
    assert_int_equal(err.code, MK_ERR_INVALID);
}

static void test_foreign_key_types(void **state)
{
    EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    EVP_PKEY *k521 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
    EVP_PKEY *rsa1024 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    enum pki_key_type t;

    (void)state;
    assert_non_null(ed);
    assert_non_null(k521);
    assert_non_null(rsa1024);
    assert_int_equal(pki_key_type_of(ed, &t), -1);
    assert_int_equal(pki_key_type_of(k521, &t), -1);
    assert_int_equal(pki_key_type_of(rsa1024, &t), -1);
    assert_int_equal(pki_key_type_of(NULL, &t), -1);
    assert_string_equal(pki_key_describe(rsa1024), "RSA (other size)");
    assert_string_equal(pki_key_describe(k521), "EC (other curve)");
    assert_string_equal(pki_key_describe(ed), "unsupported key");
    EVP_PKEY_free(ed);
    EVP_PKEY_free(k521);
    EVP_PKEY_free(rsa1024);
}

static void test_pem_round_trip(void **state)
{
    struct mk_err err;
    EVP_PKEY *key = pki_key_generate(PKI_KEY_EC_P384, &err);
    EVP_PKEY *back;
    struct pki_secret *pass;
    struct pki_secret *wrong;
    char *pem;
    enum pki_key_type t;

    (void)state;
    assert_non_null(key);
    pem = key_pem(key, NULL);
    back = pki_key_from_pem(pem, strlen(pem), NULL, &err);
    assert_non_null(back);
    assert_int_equal(EVP_PKEY_eq(key, back), 1);
    assert_int_equal(pki_key_type_of(back, &t), 0);
    assert_int_equal(t, PKI_KEY_EC_P384);
    EVP_PKEY_free(back);
    free(pem);

    /* Encrypted PKCS#8: right passphrase loads, wrong or missing one is refused. */
    pem = key_pem(key, "correct horse");
    pass = pki_secret_from("correct horse", 13, &err);
    wrong = pki_secret_from("battery staple", 14, &err);
    back = pki_key_from_pem(pem, strlen(pem), pass, &err);
    assert_non_null(back);
    assert_int_equal(EVP_PKEY_eq(key, back), 1);
    EVP_PKEY_free(back);
    assert_null(pki_key_from_pem(pem, strlen(pem), wrong, &err));
    assert_int_equal(err.code, MK_ERR_INVALID);
    assert_null(strstr(err.msg, "battery"));
    assert_null(pki_key_from_pem(pem, strlen(pem), NULL, &err));
    assert_int_equal(err.code, MK_ERR_INVALID);
    free(pem);
    pki_secret_free(pass);
    pki_secret_free(wrong);
    EVP_PKEY_free(key);
}

static void test_pem_refusals(void **state)
{
    static const char garbage[] = "-----BEGIN PRIVATE KEY-----\nnot base64!\n-----END PRIVATE "
                                  "KEY-----\n";
    static const char cert_only[] = "hello world\n";
    struct mk_err err;
    char path[64];
    char missing[96];
    FILE *fp;
    EVP_PKEY *key;

    (void)state;
    assert_null(pki_key_from_pem(garbage, strlen(garbage), NULL, &err));
    assert_int_equal(err.code, MK_ERR_INVALID);
    assert_non_null(strstr(err.msg, "PEM_read_bio_PrivateKey"));
    assert_null(pki_key_from_pem(cert_only, strlen(cert_only), NULL, &err));
    assert_int_equal(err.code, MK_ERR_INVALID);
    assert_null(pki_key_from_pem("", 0, NULL, &err));
    assert_int_equal(err.code, MK_ERR_INVALID);

    snprintf(path, sizeof(path), "/tmp/mk-key-XXXXXX");
    assert_non_null(mkdtemp(path));
    snprintf(missing, sizeof(missing), "%s/none.pem", path);
    assert_null(pki_key_load_file(missing, NULL, &err));
    assert_int_equal(err.code, MK_ERR_NOTFOUND);
    assert_non_null(strstr(err.msg, missing));

    /* A file with garbage is refused and named; a good one loads. */
    fp = fopen(missing, "w");
    assert_non_null(fp);
    fputs(garbage, fp);
    fclose(fp);
    assert_null(pki_key_load_file(missing, NULL, &err));
    assert_int_equal(err.code, MK_ERR_INVALID);
    assert_non_null(strstr(err.msg, missing));

    key = pki_key_generate(PKI_KEY_EC_P256, &err);
    assert_non_null(key);
    {
        char *pem = key_pem(key, NULL);
        EVP_PKEY *back;
        fp = fopen(missing, "w");
        assert_non_null(fp);
        fputs(pem, fp);
        fclose(fp);
        back = pki_key_load_file(missing, NULL, &err);
        assert_non_null(back);
        assert_int_equal(EVP_PKEY_eq(key, back), 1);
        EVP_PKEY_free(back);
        free(pem);
    }
    EVP_PKEY_free(key);
    unlink(missing);
    rmdir(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generate_each_type), cmocka_unit_test(test_type_names_negative),
        cmocka_unit_test(test_foreign_key_types),  cmocka_unit_test(test_pem_round_trip),
        cmocka_unit_test(test_pem_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
