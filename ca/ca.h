/*
 * ca.h: certificate authorities behind one interface (a vtable in ca-int.h): `local`, the
 * embedded default that signs with its own CA key, and `aws-pca`, AWS Private CA.
 *
 * struct pki_ca is opaque; create one with a backend's constructor, free with pki_ca_free().
 * A backend may block (network); the agent calls it from its rotation step.
 */
#ifndef PKI_CA_H
#define PKI_CA_H

#include <time.h>

#include <openssl/x509.h>

#include "pki/err.h"

struct pki_ca;

/* Settings of the local CA backend. */
struct pki_ca_local_config {
    const char *directory;      /* absolute; holds ca.key (0600), ca.crt, serial/CRL state */
    const char *common_name;    /* of the CA certificate, default "mskpki local CA" */
    long ca_validity_seconds;   /* of a CA created on first use; default 10 years */
    long max_validity_seconds;  /* cap on issued certificates; 0 = the CA's own remaining life */
};

/*
 * IAM Roles Anywhere for the aws-pca backend's own calls (docs/quickstart-roles-anywhere.md): with
 * a valid certificate `certificate`, every call is signed with CreateSession credentials that the
 * certificate's key obtained; without one the ordinary credential chain is used (bootstrap).
 * Enabled when trust_anchor_arn is set.  The region is the trust anchor ARN's.
 */
struct pki_ca_roles_anywhere_config {
    const char *trust_anchor_arn;
    const char *profile_arn;
    const char *role_arn;
    const char *certificate;  /* the name of one of the configured certificates */
    long duration_seconds;    /* 0 = 3600 */
    const char *session_name; /* NULL = none */
    const char *endpoint_url; /* NULL = https://rolesanywhere.REGION.amazonaws.com */
};

/*
 * Where the aws-pca backend finds the Roles Anywhere certificate and how it gets it to sign (the
 * agent: its key process; mskpkictl: the key file).  current() returns 1 with a new *leaf and
 * *chain (intermediates; the caller frees both), 0 when the certificate has no usable copy now,
 * or -1 with err.  sign() has aws/rolesanywhere.h's aws_ra_sign_fn contract.
 */
struct pki_ca_ra_signer {
    int (*current)(void *arg, const char *name, X509 **leaf, STACK_OF(X509) **chain,
                   struct mk_err *err);
    int (*sign)(void *arg, const char *amz_date, const char *region, const char *creq_hash,
                unsigned char **sig, size_t *sig_len, struct mk_err *err);
    void *arg; /* borrowed for the CA's life */
};

/* Settings of the aws-pca backend (see aws/aws.h for region/profile/endpoint resolution). */
struct pki_ca_aws_pca_config {
    const char *ca_arn;             /* required */
    const char *region;             /* NULL = from the environment or profile */
    const char *profile;            /* NULL = AWS_PROFILE or "default" */
    const char *endpoint_url;       /* NULL = AWS_ENDPOINT_URL(_ACM_PCA) or the regional one */
    const char *ca_bundle;          /* PEM file for the HTTPS connection; NULL = system store */
    const char *template_arn;       /* NULL = arn:aws:acm-pca:::template/EndEntityClientAuthCertificate/V1 */
    const char *signing_algorithm;  /* NULL = the CA's own (DescribeCertificateAuthority); the
                                     * key's when the CA cannot be described */
    double rate_per_second;         /* token bucket refill; 0 = 1 request per second */
    int burst;                      /* token bucket size; 0 = 5 */
    long poll_timeout_seconds;      /* GetCertificate polling deadline; 0 = 120 */
    const char *trust_anchor_file;  /* PEM the agent's key process verifies chains to; NULL = the
                                     * CA certificate pinned at the first store */
    int allow_insecure_http;        /* plain http endpoint_url off loopback accepted (issue 16) */
    long credential_process_timeout_seconds; /* 0 = 60; then the helper's group is killed */
    struct pki_ca_roles_anywhere_config roles_anywhere;
    const struct pki_ca_ra_signer *ra_signer; /* NULL = Roles Anywhere is not used */
};

/* One issuance.  Borrowed pointers, valid for the call. */
struct pki_issue_request {
    X509_REQ *csr;
    long validity_seconds;
    /*
     * Where the backend records an issuance in flight (e.g. the certificate ARN) before it waits
     * for the certificate, so that a crash or restart resumes it instead of issuing (and paying
     * for) a second certificate.  The backend reads it on entry: a record for the same CSR is
     * resumed.  The caller removes it after a successful write of the new generation.  May be
     * NULL for backends that complete synchronously, or for one-off use.
     */
    const char *pending_path;
};

/* What a CA returned.  Owned; release with pki_issued_clear(). */
struct pki_issued {
    X509 *leaf;
    STACK_OF(X509) *chain; /* issuer first, up to the root; never NULL after success */
};
void pki_issued_clear(struct pki_issued *issued);

struct pki_ca *pki_ca_local_new(const struct pki_ca_local_config *cfg, struct mk_err *err) MK_MUST_CHECK;
struct pki_ca *pki_ca_aws_pca_new(const struct pki_ca_aws_pca_config *cfg, struct mk_err *err) MK_MUST_CHECK;

/*
 * A CA whose work is done in another process: the agent's key process holds the local CA key,
 * and its network process reaches it through these calls.  kind is the metrics label ("local").
 * Each call is forwarded to ops with arg, and counted like a backend's requests.  arg is borrowed
 * for the life of the CA.  Caller frees with pki_ca_free().
 */
struct pki_ca_proxy_ops {
    int (*issue)(void *arg, const struct pki_issue_request *req, struct pki_issued *out,
                 struct mk_err *err);
    STACK_OF(X509) *(*trust_anchors)(void *arg, struct mk_err *err);
    int (*revoke)(void *arg, X509 *cert, const char *reason, struct mk_err *err);
};
struct pki_ca *pki_ca_proxy_new(const char *kind, const struct pki_ca_proxy_ops *ops, void *arg,
                                struct mk_err *err) MK_MUST_CHECK;

/* "local" or "aws-pca": the metrics label. */
const char *pki_ca_kind(const struct pki_ca *ca);

/* Checks the CA can issue now (local: key and certificate load; aws-pca: the CA is ACTIVE and
 * outlives the requested validity). */
int pki_ca_check(struct pki_ca *ca, long validity_seconds, struct mk_err *err) MK_MUST_CHECK;

/*
 * Signs the CSR.  Refuses a CSR whose signature does not verify (MK_ERR_VERIFY).  A backend that
 * is still waiting when its deadline passes returns -1 with MK_ERR_PENDING (the pending record
 * stays, the next call resumes it).  The result is not yet verified against the key: the caller
 * does that before writing anything.
 */
int pki_ca_issue(struct pki_ca *ca, const struct pki_issue_request *req, struct pki_issued *out,
                 struct mk_err *err) MK_MUST_CHECK;

/* The trust anchors that issued certificates chain to.  Caller frees with
 * sk_X509_pop_free(s, X509_free). */
STACK_OF(X509) *pki_ca_trust_anchors(struct pki_ca *ca, struct mk_err *err) MK_MUST_CHECK;

/* Revokes a certificate this CA issued.  reason is an AWS RevocationReason name
 * ("SUPERSEDED", "KEY_COMPROMISE", ...). */
int pki_ca_revoke(struct pki_ca *ca, X509 *cert, const char *reason, struct mk_err *err) MK_MUST_CHECK;

/* The AWS credentials an aws-pca CA signs with now: their source ("roles-anywhere", "env", ...)
 * and expiry (0 = none).  Returns 0, or -1 for another kind or when none were resolved yet. */
int pki_ca_aws_credentials(const struct pki_ca *ca, char *source, size_t size, time_t *expiry);

/* The IAM Roles Anywhere session an aws-pca CA signs with (cached until five minutes before it
 * expires, created when due): never the bootstrap chain's credentials, which belong to the host,
 * not to the certificate.  Caller frees with aws_creds_free() (aws/creds.h).  NULL with err for
 * another kind of CA or while Roles Anywhere is not in use (MK_ERR_STATE). */
struct aws_creds *pki_ca_roles_anywhere_session(struct pki_ca *ca, struct mk_err *err) MK_MUST_CHECK;

/* Counters since creation, for metrics: requests by outcome code ("ok", "ThrottlingException",
 * "network", ...).  Calls fn once per code.  */
void pki_ca_foreach_request_count(const struct pki_ca *ca,
                                  void (*fn)(const char *code, unsigned long count, void *arg),
                                  void *arg);

void pki_ca_free(struct pki_ca *ca);

#endif
