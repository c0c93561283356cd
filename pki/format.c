/*
 * format.c: PKCS#8 PEM keys (plain or encrypted) and PKCS#12 keystores for Kafka clients.
 *
 * Key material only ever sits in two kinds of memory here: OpenSSL's secure-heap memory BIO
 * (BIO_s_secmem, whose buffers are cleansed when they grow or are freed, and which we cleanse
 * once more before BIO_free), and the struct pki_secret handed to the caller.
 */
#include "pki/format.h"

#include <limits.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/buffer.h>
#include <openssl/crypto.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>

/*
 * PBKDF2 iterations for the PKCS#12 key and certificate bags, and for the MAC key derivation.
 * NIST SP 800-132 asks for at least 10000; OpenSSL's own default (2048) is too low.  100000 keeps
 * keytool and OpenSSL well under a second per keystore.
 */
#define PKI_P12_ITER 100000
#define PKI_P12_MAC_ITER 100000
/* The PKCS#12 MAC salt length in bytes (0 would make OpenSSL pick its default of 8). */
#define PKI_P12_SALT_LEN 16
/*
 * PBKDF2-HMAC-SHA256 iterations for an encrypted PKCS#8 key: the PKCS#12's work factor, since a
 * key file is attacked offline just like a keystore.  PEM_write_bio_PKCS8PrivateKey() would use
 * OpenSSL's default of 2048 (PKCS5_DEFAULT_ITER); scrypt would be stronger but Java's
 * EncryptedPrivateKeyInfo cannot read it, and Kafka's Java clients must.
 */
#define PKI_P8_ITER 100000

/* Copies the contents of a memory BIO into a new secret, then cleanses the BIO's buffer. */
static struct pki_secret *bio_to_secret(BIO *bio, struct mk_err *err)
{
    BUF_MEM *mem = NULL;
    struct pki_secret *out = NULL;

    if (BIO_get_mem_ptr(bio, &mem) != 1 || mem == NULL) {
        mk_err_ossl(err, MK_ERR_CRYPTO, "BIO_get_mem_ptr");
        return NULL;
    }
    out = pki_secret_from(mem->data, mem->length, err);
    OPENSSL_cleanse(mem->data, mem->max);
    return out;
}

struct pki_secret *pki_format_key_pem(EVP_PKEY *key, const struct pki_secret *passphrase,
                                      struct mk_err *err)
{
    struct pki_secret *out = NULL;
    const EVP_CIPHER *cipher = NULL;
    const char *pass = NULL;
    int pass_len = 0;
    BIO *bio = NULL;
    PKCS8_PRIV_KEY_INFO *p8inf = NULL;
    X509_SIG *p8 = NULL;

    MK_ENSURE(key != NULL, err, MK_ERR_INVALID, "key PEM: no key given");
    if (passphrase != NULL) {
        MK_ENSURE(pki_secret_len(passphrase) > 0 && pki_secret_len(passphrase) < INT_MAX, err,
                  MK_ERR_CONFIG, "key PEM: the key passphrase is empty");
        /* OpenSSL 3 encrypts PKCS#8 with PBES2: PBKDF2 (hmacWithSHA256) and AES-256-CBC. */
        cipher = EVP_aes_256_cbc();
        pass = pki_secret_str(passphrase);
        pass_len = (int)pki_secret_len(passphrase);
    }
    bio = BIO_new(BIO_s_secmem());
    MK_GUARD_OSSL(bio != NULL, err, MK_ERR_NOMEM, "BIO_new(BIO_s_secmem)");
    if (cipher == NULL) {
        MK_GUARD_OSSL(PEM_write_bio_PKCS8PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) == 1, err,
                      MK_ERR_CRYPTO, "PEM_write_bio_PKCS8PrivateKey");
    } else {
        /* pbe_nid -1 selects PBES2 with cipher and PBKDF2's default PRF, hmacWithSHA256 in
         * OpenSSL 3; a NULL salt gets a random one of that length (128 bits, SP 800-132). */
        p8inf = EVP_PKEY2PKCS8(key);
        MK_GUARD_OSSL(p8inf != NULL, err, MK_ERR_CRYPTO, "EVP_PKEY2PKCS8");
        p8 = PKCS8_encrypt_ex(-1, cipher, pass, pass_len, NULL, PKI_P12_SALT_LEN, PKI_P8_ITER,
                              p8inf, NULL, NULL);
        MK_GUARD_OSSL(p8 != NULL, err, MK_ERR_CRYPTO, "PKCS8_encrypt_ex");
        MK_GUARD_OSSL(PEM_write_bio_PKCS8(bio, p8) == 1, err, MK_ERR_CRYPTO, "PEM_write_bio_PKCS8");
    }
    out = bio_to_secret(bio, err);
out:
    X509_SIG_free(p8);
    /* Frees the plain key info with the key bytes cleansed (its free callback clears them). */
    PKCS8_PRIV_KEY_INFO_free(p8inf);
    BIO_free(bio);
    return out;
}

/* DER of p12, serialised straight into a new secret. */
static struct pki_secret *pkcs12_to_secret(PKCS12 *p12, struct mk_err *err)
{
    struct pki_secret *out = NULL;
    unsigned char *p = NULL;
    int len = i2d_PKCS12(p12, NULL);

    MK_GUARD_OSSL(len > 0, err, MK_ERR_CRYPTO, "i2d_PKCS12");
    out = pki_secret_new((size_t)len, err);
    MK_GUARD_PTR(out);
    p = pki_secret_mut(out);
    if (i2d_PKCS12(p12, &p) != len) {
        mk_err_ossl(err, MK_ERR_CRYPTO, "i2d_PKCS12");
        pki_secret_free(out);
        out = NULL;
    }
out:
    return out;
}

struct pki_secret *pki_format_pkcs12(EVP_PKEY *key, X509 *leaf, STACK_OF(X509) *chain,
                                     const char *friendly_name, const struct pki_secret *password,
                                     struct mk_err *err)
{
    struct pki_secret *out = NULL;
    PKCS12 *p12 = NULL;
    const char *pass = NULL;
    size_t pass_len = 0;

    MK_ENSURE(key != NULL && leaf != NULL, err, MK_ERR_INVALID,
              "PKCS#12: a key and a certificate are required");
    MK_ENSURE(password != NULL && pki_secret_len(password) > 0, err, MK_ERR_CONFIG,
              "PKCS#12: a non-empty keystore password is required");
    pass = pki_secret_str(password);
    pass_len = pki_secret_len(password);
    MK_ENSURE(pass_len < INT_MAX && strlen(pass) == pass_len, err, MK_ERR_CONFIG,
              "PKCS#12: the keystore password must not contain a NUL byte");
    if (friendly_name == NULL) {
        friendly_name = "mskpki";
    }
    /*
     * NID_aes_256_cbc (a cipher, not a PKCS#12 PBE) makes OpenSSL use PBES2 with PBKDF2 and
     * hmacWithSHA256 for both the shrouded key bag and the certificate bag.  mac_iter -1 means "no
     * MAC yet": PKCS12_create_ex would otherwise add a SHA-1 MAC; PKCS12_set_mac below adds the
     * SHA-256 one that Java (keytool, 12+) and OpenSSL 3 both read.
     */
    p12 = PKCS12_create_ex(pass, friendly_name, key, leaf, chain, NID_aes_256_cbc, NID_aes_256_cbc,
                           PKI_P12_ITER, -1, 0, NULL, NULL);
    MK_GUARD_OSSL(p12 != NULL, err, MK_ERR_CRYPTO, "PKCS12_create_ex");
    MK_GUARD_OSSL(PKCS12_set_mac(p12, pass, (int)pass_len, NULL, PKI_P12_SALT_LEN, PKI_P12_MAC_ITER,
                                 EVP_sha256()) == 1,
                  err, MK_ERR_CRYPTO, "PKCS12_set_mac");
    out = pkcs12_to_secret(p12, err);
out:
    PKCS12_free(p12);
    return out;
}

int pki_format_pkcs12_parse(const void *der, size_t len, const struct pki_secret *password,
                            EVP_PKEY **key, X509 **leaf, STACK_OF(X509) **chain,
                            struct mk_err *err)
{
    int rc = -1;
    PKCS12 *p12 = NULL;
    const unsigned char *p = der;
    const char *pass = NULL;
    EVP_PKEY *k = NULL;
    X509 *c = NULL;
    STACK_OF(X509) *ca = NULL;

    MK_ENSURE(der != NULL && len > 0 && len < LONG_MAX, err, MK_ERR_INVALID,
              "PKCS#12: empty input");
    MK_ENSURE(password != NULL, err, MK_ERR_CONFIG, "PKCS#12: a password is required");
    pass = pki_secret_str(password);
    p12 = d2i_PKCS12(NULL, &p, (long)len);
    MK_GUARD_OSSL(p12 != NULL, err, MK_ERR_INVALID, "PKCS#12: not a DER PKCS#12 structure");
    MK_ENSURE(p == (const unsigned char *)der + len, err, MK_ERR_INVALID,
              "PKCS#12: %zu trailing bytes after the structure",
              len - (size_t)(p - (const unsigned char *)der));
    /* Check the MAC first so that a wrong password is reported as such, not as a parse error. */
    if (PKCS12_mac_present(p12)) {
        MK_GUARD_OSSL(PKCS12_verify_mac(p12, pass, (int)pki_secret_len(password)) == 1, err,
                      MK_ERR_VERIFY, "PKCS#12: MAC verification failed (wrong password?)");
    }
    MK_GUARD_OSSL(PKCS12_parse(p12, pass, &k, &c, &ca) == 1, err, MK_ERR_INVALID, "PKCS12_parse");
    MK_ENSURE(k != NULL && c != NULL, err, MK_ERR_INVALID, "PKCS#12: the keystore holds no %s",
              k == NULL ? "private key" : "certificate");
    if (ca == NULL) {
        ca = sk_X509_new_null();
        MK_ENSURE(ca != NULL, err, MK_ERR_NOMEM, "PKCS#12: sk_X509_new_null failed");
    }
    if (key != NULL) {
        *key = k;
        k = NULL;
    }
    if (leaf != NULL) {
        *leaf = c;
        c = NULL;
    }
    if (chain != NULL) {
        *chain = ca;
        ca = NULL;
    }
    rc = 0;
out:
    EVP_PKEY_free(k);
    X509_free(c);
    sk_X509_pop_free(ca, X509_free);
    PKCS12_free(p12);
    return rc;
}
