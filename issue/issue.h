/*
 * issue.h: one issuance (rotation) transaction for one certificate block, shared by mskpki-agent
 * (each rotation) and `mskpkictl cert issue` (bootstrap, hosts without the agent).  It holds no
 * agent state: the caller passes the CA, the block, the state directory and the current key.
 *
 *   key (fresh, or the current one with reuse_key, or the pending one when resuming)
 *   -> CSR -> CA (pki_ca_issue, resumable through <state_dir>/<name>.pending.json)
 *   -> verify (key match, clientAuth chain to the CA's trust anchors, valid now)
 *   -> pki_store_write (a new generation, atomically) -> remove the pending files.
 *
 * With a CA that completes asynchronously (aws-pca) the new key and CSR are first written to
 * <state_dir>/<name>.pending.key (0600) and .pending.csr, so that a restart resumes the
 * issuance with the same key instead of paying for a second certificate.  Any failure leaves
 * the current generation untouched.
 */
#ifndef ISSUE_ISSUE_H
#define ISSUE_ISSUE_H

#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "conf/conf.h"
#include "ca/ca.h"
#include "pki/csr.h"
#include "pki/err.h"
#include "pki/secret.h"
#include "pki/store.h"

/* A store spec for a certificate block, with its secrets read from their files (re-read each
 * time, so a changed PKCS#12 password file takes effect at the next rotation). */
struct issue_spec {
    struct pki_store_spec spec;
    struct pki_secret *passphrase;
    struct pki_secret *pkcs12_password;
};
/* Fills out; strings borrowed from cc.  Release with issue_spec_clear(). */
int issue_spec_load(const struct conf_certificate *cc, struct issue_spec *out,
                    struct mk_err *err) MK_MUST_CHECK;
void issue_spec_clear(struct issue_spec *s);

/* The stable path of the certificate file (<directory>/<cert>) into buf. */
int issue_cert_path(const struct conf_certificate *cc, char *buf, size_t size) MK_MUST_CHECK;

/* 1 when the CA kind needs pending files (it may complete after a restart), else 0. */
int issue_uses_pending(const struct pki_ca *ca);

/* 1 when pending key or record files exist for name in state_dir. */
int issue_has_pending(const char *state_dir, const char *name);

/* Removes the pending files of name (missing ones are fine). */
void issue_clear_pending(const char *state_dir, const char *name);

/* The CA backend the config's ca block names (local or aws-pca).  Caller frees with
 * pki_ca_free(). */
struct pki_ca *issue_ca_new(const struct conf *cfg, struct mk_err *err) MK_MUST_CHECK;

/* The CSR subject and SANs of a certificate block into s (strings borrowed from cc). */
void issue_csr_spec(const struct conf_certificate *cc, struct pki_csr_spec *s);

/* Reads a pending key (key_path) and its CSR (csr_path) of an interrupted issuance.  Returns 1
 * when the key was loaded (*csr stays NULL when the CSR is missing or not the key's: a new CSR
 * from the same key is harmless), else 0.  Caller frees both. */
int issue_pending_read(const char *key_path, const char *csr_path, EVP_PKEY **key, X509_REQ **csr);

/* Writes a pending key (0600) and its CSR so that a restart can resume the issuance. */
int issue_pending_write(const char *key_path, const char *csr_path, EVP_PKEY *key, X509_REQ *csr,
                        struct mk_err *err) MK_MUST_CHECK;

struct issue_in {
    struct pki_ca *ca;
    const struct conf_certificate *cc;
    const char *state_dir;
    EVP_PKEY *current_key; /* borrowed; used as the new key when cc->reuse_key, may be NULL */
    time_t now;
};

struct issue_out {
    EVP_PKEY *key;
    X509 *leaf;
    STACK_OF(X509) * chain;
    unsigned long generation; /* of the generation written */
    int issued;               /* the CA issued a certificate in this call (even if a later step
                               * failed): every one costs money on AWS */
    int resumed;              /* a pending issuance was resumed */
};
/* Release with issue_out_clear(); zeroes the struct. */
void issue_out_clear(struct issue_out *out);

/* Checks that an issued certificate is usable before it replaces anything: it matches key,
 * chains (clientAuth) to the trust anchors of ca, and is valid at now.  -1 with err ("verify: ..."). */
int issue_verify(struct pki_ca *ca, time_t now, EVP_PKEY *key, X509 *leaf,
                 STACK_OF(X509) * chain, struct mk_err *err) MK_MUST_CHECK;

/* Runs the transaction.  On success fills *out (owned).  On failure -1 with err naming the step
 * ("ca: ...", "verify: ...", "store: ..."); out->issued is still set when the CA issued. */
int issue_run(const struct issue_in *in, struct issue_out *out, struct mk_err *err) MK_MUST_CHECK;

#endif
