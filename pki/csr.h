/*
 * csr.h: certificate signing requests built from a key and a subject/SAN spec.
 *
 * CSRs are OpenSSL X509_REQ objects; the caller frees them with X509_REQ_free().
 */
#ifndef PKI_CSR_H
#define PKI_CSR_H

#include <stddef.h>

#include <openssl/x509.h>

#include "pki/err.h"

/* What goes into a CSR.  NULL or empty strings are left out; arrays may be NULL with n 0. */
struct pki_csr_spec {
    const char *common_name;
    const char *organization;
    const char *organizational_unit;
    const char *locality;
    const char *state;
    const char *country; /* two letters */
    const char *const *dns_names;
    size_t n_dns_names;
    const char *const *uris; /* e.g. spiffe://example.org/ns/kafka/sa/producer */
    size_t n_uris;
    const char *const *emails;
    size_t n_emails;
};

/* A CSR for key, signed with the digest that matches the key.  Caller frees with X509_REQ_free(). */
X509_REQ *pki_csr_new(EVP_PKEY *key, const struct pki_csr_spec *spec, struct mk_err *err) MK_MUST_CHECK;

/* Checks the CSR's self-signature.  Returns 0, or -1 with MK_ERR_VERIFY. */
int pki_csr_verify(X509_REQ *csr, struct mk_err *err) MK_MUST_CHECK;

/* PEM text of the CSR, NUL-terminated; *len (may be NULL) gets its length.  Caller frees with free(). */
char *pki_csr_to_pem(X509_REQ *csr, size_t *len, struct mk_err *err) MK_MUST_CHECK;
/* Parses one PEM CSR.  Caller frees with X509_REQ_free(). */
X509_REQ *pki_csr_from_pem(const void *pem, size_t len, struct mk_err *err) MK_MUST_CHECK;

/* SHA-256 of the CSR's DER as 64 lowercase hex characters plus NUL, into out[65]. */
int pki_csr_fingerprint(X509_REQ *csr, char out[65], struct mk_err *err) MK_MUST_CHECK;

#endif
