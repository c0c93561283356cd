/*
 * cert.h: X.509 certificates and chains: parse, describe, match against a key, verify for
 * clientAuth, and plan the renewal time.
 *
 * Certificates are OpenSSL X509 objects and chains STACK_OF(X509); the caller frees them with
 * X509_free() and sk_X509_pop_free(chain, X509_free).
 */
#ifndef PKI_CERT_H
#define PKI_CERT_H

#include <stddef.h>
#include <time.h>

#include <openssl/x509.h>

#include "pki/err.h"

/* Every certificate in a PEM bundle or a single DER certificate, in file order.  An input with no
 * certificate is MK_ERR_INVALID.  Caller frees with sk_X509_pop_free(s, X509_free). */
STACK_OF(X509) *pki_certs_from_mem(const void *data, size_t len, struct mk_err *err) MK_MUST_CHECK;
STACK_OF(X509) *pki_certs_load_file(const char *path, struct mk_err *err) MK_MUST_CHECK;
/* The first certificate only.  Caller frees with X509_free(). */
X509 *pki_cert_load_file(const char *path, struct mk_err *err) MK_MUST_CHECK;

/* Facts about one certificate, for status, metrics, state files and `cert inspect`. */
struct pki_cert_info {
    char subject[512];     /* RFC 2253 one-line form */
    char issuer[512];
    char serial_hex[80];   /* uppercase hex, no separators */
    char fingerprint_sha256[96]; /* uppercase hex pairs separated by ':' */
    time_t not_before;
    time_t not_after;
    char sans[1024];       /* "DNS:a, URI:spiffe://..., email:x" or empty */
    char key_desc[32];     /* "EC P-256", "RSA 2048" ... */
    int is_ca;
    int has_client_auth;   /* EKU contains clientAuth (or no EKU at all: then 0) */
    int has_server_auth;
    char key_usage[128];   /* "digitalSignature, keyEncipherment" or empty */
    char ext_key_usage[128]; /* "clientAuth, serverAuth" or empty */
};
int pki_cert_info(X509 *cert, struct pki_cert_info *out, struct mk_err *err) MK_MUST_CHECK;

/* Returns 0 when the certificate's public key is the key's, else -1 with MK_ERR_VERIFY. */
int pki_cert_matches_key(X509 *cert, EVP_PKEY *key, struct mk_err *err) MK_MUST_CHECK;

/*
 * Verifies leaf for the TLS client purpose (EKU clientAuth) at time `at` (0 = now), using
 * untrusted intermediates (may be NULL) and the trust anchors in trust.  Returns 0, or -1 with
 * MK_ERR_VERIFY and OpenSSL's reason ("certificate has expired", ...).
 */
int pki_cert_verify_client(X509 *leaf, STACK_OF(X509) *untrusted, STACK_OF(X509) *trust,
                           time_t at, struct mk_err *err) MK_MUST_CHECK;

/*
 * When to renew a certificate valid from not_before to not_after.  With renew_before > 0 that
 * many seconds before not_after; otherwise at fraction (0 < fraction < 1, default 2/3) of the
 * lifetime.  The result is clamped into [not_before, not_after].
 */
time_t pki_cert_renewal_time(time_t not_before, time_t not_after, double fraction,
                             long renew_before);

/* PEM text of the certificates in order, NUL-terminated.  Caller frees with free(). */
char *pki_certs_to_pem(X509 *first, STACK_OF(X509) *rest, size_t *len, struct mk_err *err) MK_MUST_CHECK;

/* The contents of a memory BIO (PEM written into it) as a NUL-terminated string; *len (when not
 * NULL) gets its length.  who prefixes the out-of-memory message ("csr", "ca").  For PEM of
 * public objects only: the copy is ordinary heap memory.  Caller frees with free(). */
char *pki_bio_strdup(BIO *bio, size_t *len, const char *who, struct mk_err *err) MK_MUST_CHECK;

#endif
