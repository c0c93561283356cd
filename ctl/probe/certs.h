/*
 * probe_certs.h: throw-away client identities for the negative probe cases, made in memory and
 * never written to disk: a self-signed certificate (untrusted_client_cert), an expired
 * certificate under a throw-away CA (expired_client_cert) and one valid only from tomorrow under
 * another throw-away CA (not_yet_valid_client_cert).  Keys are EC P-256.
 */
#ifndef CTL_PROBE_CERTS_H
#define CTL_PROBE_CERTS_H

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "pki/err.h"

struct probe_identity {
    EVP_PKEY *key;
    X509 *cert;
    X509 *issuer; /* the throw-away CA sent as chain, or NULL */
};

/* Self-signed clientAuth certificate valid now.  Caller frees with probe_identity_clear(). */
int probe_identity_self_signed(struct probe_identity *out, struct mk_err *err) MK_MUST_CHECK;

/* A clientAuth certificate that expired a day ago, issued by a fresh CA valid now.  Caller frees
 * with probe_identity_clear(). */
int probe_identity_expired(struct probe_identity *out, struct mk_err *err) MK_MUST_CHECK;

/* A clientAuth certificate valid from tomorrow for 30 days, issued by a fresh CA valid now.
 * Caller frees with probe_identity_clear(). */
int probe_identity_not_yet_valid(struct probe_identity *out, struct mk_err *err) MK_MUST_CHECK;

/* Frees what the identity holds and zeroes it.  NULL is a no-op. */
void probe_identity_clear(struct probe_identity *id);

#endif
