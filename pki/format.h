/*
 * format.h: the file formats Kafka clients read.
 *
 * librdkafka: ssl.key.location (PKCS#8 PEM, optionally encrypted: ssl.key.password),
 * ssl.certificate.location (leaf PEM), ssl.ca.location (chain PEM).  Java: PKCS#12 keystore
 * (ssl.keystore.type=PKCS12) with AES-256-CBC, PBKDF2 and a SHA-256 MAC, readable by keytool.
 * Outputs that hold key material are returned as struct pki_secret (guarded, wiped on free).
 */
#ifndef PKI_FORMAT_H
#define PKI_FORMAT_H

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "pki/err.h"
#include "pki/secret.h"

/* PKCS#8 PEM of key; encrypted with AES-256-CBC and PBKDF2 when passphrase is not NULL.
 * Caller frees with pki_secret_free(). */
struct pki_secret *pki_format_key_pem(EVP_PKEY *key, const struct pki_secret *passphrase,
                                      struct mk_err *err) MK_MUST_CHECK;

/* PKCS#12 (DER) holding key, leaf and chain, friendly name as the alias, protected by
 * password.  Caller frees with pki_secret_free(). */
struct pki_secret *pki_format_pkcs12(EVP_PKEY *key, X509 *leaf, STACK_OF(X509) *chain,
                                     const char *friendly_name, const struct pki_secret *password,
                                     struct mk_err *err) MK_MUST_CHECK;

/* Reads a PKCS#12 back (for `cert inspect` and tests).  Any out pointer may be NULL.
 * Caller frees the results with EVP_PKEY_free, X509_free, sk_X509_pop_free. */
int pki_format_pkcs12_parse(const void *der, size_t len, const struct pki_secret *password,
                            EVP_PKEY **key, X509 **leaf, STACK_OF(X509) **chain,
                            struct mk_err *err) MK_MUST_CHECK;

#endif
