/*
 * key.h: private keys generated on the host with OpenSSL 3 EVP APIs.
 *
 * Keys are OpenSSL EVP_PKEY objects; the caller frees them with EVP_PKEY_free().
 */
#ifndef PKI_KEY_H
#define PKI_KEY_H

#include <openssl/evp.h>

#include "pki/err.h"
#include "pki/secret.h"

enum pki_key_type {
    PKI_KEY_EC_P256, /* the default */
    PKI_KEY_EC_P384,
    PKI_KEY_RSA_2048,
    PKI_KEY_RSA_3072,
    PKI_KEY_RSA_4096,
    PKI_KEY__MAX
};

/* Config names: "ec-p256", "ec-p384", "rsa-2048", "rsa-3072", "rsa-4096". */
const char *pki_key_type_name(enum pki_key_type type);
/* Returns 0 and sets *out, or -1 for an unknown name. */
int pki_key_type_parse(const char *name, enum pki_key_type *out) MK_MUST_CHECK;

/* A new key.  Caller frees with EVP_PKEY_free(). */
EVP_PKEY *pki_key_generate(enum pki_key_type type, struct mk_err *err) MK_MUST_CHECK;

/* The type of an existing key, or -1 when it is none of ours. */
int pki_key_type_of(EVP_PKEY *key, enum pki_key_type *out) MK_MUST_CHECK;

/* Digest that matches the key: SHA-256 for P-256 and RSA, SHA-384 for P-384. */
const EVP_MD *pki_key_digest(EVP_PKEY *key);

/* AWS Private CA SigningAlgorithm that matches the key: SHA256WITHECDSA, SHA384WITHECDSA,
 * SHA256WITHRSA.  Never NULL for a supported key. */
const char *pki_key_signing_algorithm(EVP_PKEY *key);

/* Short description for people and logs, e.g. "EC P-256", "RSA 3072". */
const char *pki_key_describe(EVP_PKEY *key);

/* PEM (PKCS#8, plain or encrypted, or traditional) from memory or a file; passphrase may be NULL.
 * Caller frees with EVP_PKEY_free(). */
EVP_PKEY *pki_key_from_pem(const void *pem, size_t len, const struct pki_secret *passphrase,
                           struct mk_err *err) MK_MUST_CHECK;
EVP_PKEY *pki_key_load_file(const char *path, const struct pki_secret *passphrase,
                            struct mk_err *err) MK_MUST_CHECK;

#endif
