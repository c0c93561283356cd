/*
 * issue.h: one issuance (rotation) transaction for one certificate block, shared by mskpki-agent
 * (each rotation, in its network process) and `mskpkictl cert issue` (bootstrap, hosts without
 * the agent).  It holds no agent state: the caller passes the CA, the block, the state directory
 * and a key holder.
 *
 *   key holder: CSR for the next key (fresh, the current one with reuse_key, or the pending one
 *               when resuming)
 *   -> CA (pki_ca_issue, resumable through <state_dir>/<name>.pending.json)
 *   -> verify (the CSR's public key, clientAuth chain to the CA's trust anchors, valid now)
 *   -> key holder: store (a new generation, atomically; it checks the key again)
 *   -> remove the pending files.
 *
 * The key holder (struct issue_keys) is where the private keys live: the agent's key process,
 * reached over IPC (agent/keyclient.h), or this process (issue_keys_local_new, for cert issue).
 * Both keep pending issuances the same way (issue_keys_prepare): with a CA that completes
 * asynchronously (aws-pca) the new key and its CSR are first written beside the outputs, as
 * <directory>/.pending-<key file> (0600, encrypted PKCS#8 when key_passphrase_file is set) and
 * <directory>/.pending-<key file>.csr, out of the agent's network process's reach, so that a
 * restart, or a cert issue after an interrupted agent issuance, resumes it with the same key and
 * CSR (hence the same idempotency token and pending record) instead of paying for a second
 * certificate.  Any failure leaves the current generation untouched.
 */
#ifndef ISSUE_ISSUE_H
#define ISSUE_ISSUE_H

#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "conf/conf.h"
#include "pki/ca.h"
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

/* <dir>/<name><suffix> into buf: the one layout of the state directory's files (the agent's
 * <name>.json, .revoke.json, .pending.json).  Returns 0, or -1 when it does not fit. */
int issue_state_path(char *buf, size_t size, const char *dir, const char *name,
                     const char *suffix) MK_MUST_CHECK;

/* 1 when the CA kind needs pending files (it may complete after a restart), else 0. */
int issue_uses_pending(const struct pki_ca *ca);

/* 1 when the CA's pending record (<state_dir>/<name>.pending.json) exists. */
int issue_has_pending(const char *state_dir, const char *name);

/* Removes the CA's pending record of name from state_dir (a missing one is fine). */
void issue_clear_pending(const char *state_dir, const char *name);

/* The CA backend the config's ca block names (local or aws-pca).  Caller frees with
 * pki_ca_free(). */
struct pki_ca *issue_ca_new(const struct conf *cfg, struct mk_err *err) MK_MUST_CHECK;

/* The CSR subject and SANs of a certificate block into s (strings borrowed from cc). */
void issue_csr_spec(const struct conf_certificate *cc, struct pki_csr_spec *s);

/* ---- Pending issuances: one format and place, whoever holds the key ---- */

/* <directory>/.pending-<key file> and <directory>/.pending-<key file>.csr into kpath and cpath. */
int issue_pending_paths(const struct conf_certificate *cc, char *kpath, char *cpath,
                        size_t size) MK_MUST_CHECK;

/* Reads the pending key (decrypted with passphrase, may be NULL) and CSR of an interrupted
 * issuance of cc.  Returns 1 when the key was loaded (*csr stays NULL when the CSR is missing or
 * not the key's: a new CSR from the same key is harmless), else 0.  Caller frees both. */
int issue_pending_read(const struct conf_certificate *cc, const struct pki_secret *passphrase,
                       EVP_PKEY **key, X509_REQ **csr);

/* Writes the pending key (0600; encrypted PKCS#8 when passphrase is not NULL) and its CSR. */
int issue_pending_write(const struct conf_certificate *cc, const struct pki_secret *passphrase,
                        EVP_PKEY *key, X509_REQ *csr, struct mk_err *err) MK_MUST_CHECK;

/* Removes the pending key and CSR of cc (missing ones are fine; other errors are logged). */
void issue_pending_drop(const struct conf_certificate *cc);

/*
 * The key side of the transaction, for the process that holds the keys: checks the secrets and
 * the output directory (so that a failure there comes before the CA is asked and, on AWS, paid),
 * then picks the next key: the pending one when pending and one exists (*resumed = 1), else the
 * current one with reuse_key, else a fresh one, written as pending (with its CSR) when pending.
 * On success *key and *csr are the caller's (free with EVP_PKEY_free, X509_REQ_free).
 */
int issue_keys_prepare(const struct conf_certificate *cc, int pending, EVP_PKEY **key,
                       X509_REQ **csr, int *resumed, struct mk_err *err) MK_MUST_CHECK;

/* Writes leaf and chain with key as a new generation of cc (after checking that they match),
 * removes the pending key and CSR, and reads back the generation's number into *generation. */
int issue_keys_commit(const struct conf_certificate *cc, EVP_PKEY *key, X509 *leaf,
                      STACK_OF(X509) * chain, unsigned long *generation,
                      struct mk_err *err) MK_MUST_CHECK;

/* ---- The key holder ---- */

/* What the transaction asks of whoever holds the keys.  arg is the holder's. */
struct issue_keys_ops {
    /* The current generation of name: its number and leaf (caller frees with X509_free).  On
     * failure -1, detail "unusable" (the directory or a secret file) or "read" (err.code
     * MK_ERR_NOTFOUND when there is no generation yet, else unreadable or mismatched files). */
    int (*load)(void *arg, const char *name, unsigned long *generation, X509 **leaf,
                char *detail, size_t detail_size, struct mk_err *err);
    /* issue_keys_prepare() for the block name; returns its CSR (caller frees with
     * X509_REQ_free) and keeps the key for store. */
    X509_REQ *(*csr)(void *arg, const char *name, int pending, int *resumed, struct mk_err *err);
    /* issue_keys_commit() with the key of the last csr for name. */
    int (*store)(void *arg, const char *name, X509 *leaf, STACK_OF(X509) * chain,
                 unsigned long *generation, struct mk_err *err);
    /* Forgets the key of the last csr for name and removes its pending key and CSR. */
    void (*drop)(void *arg, const char *name);
};

struct issue_keys {
    const struct issue_keys_ops *ops;
    void *arg;
};

/* A key holder in this process (mskpkictl cert issue, tests) for the blocks of cfg, which is
 * borrowed and must outlive it.  Caller frees with issue_keys_local_free(). */
struct issue_keys *issue_keys_local_new(const struct conf *cfg, struct mk_err *err) MK_MUST_CHECK;
void issue_keys_local_free(struct issue_keys *keys);

/* ---- The transaction ---- */

struct issue_in {
    struct pki_ca *ca;
    const struct conf_certificate *cc;
    const char *state_dir;
    const struct issue_keys *keys; /* borrowed */
    time_t now;
};

struct issue_out {
    X509 *leaf;
    STACK_OF(X509) * chain;
    unsigned long generation; /* of the generation written */
    int issued;               /* the CA issued a certificate in this call (even if a later step
                               * failed): every one costs money on AWS */
    int resumed;              /* a pending issuance was resumed */
};
/* Release with issue_out_clear(); zeroes the struct. */
void issue_out_clear(struct issue_out *out);

/* Checks that an issued certificate is usable before it replaces anything: it carries pub (the
 * CSR's public key), chains (clientAuth) to the trust anchors of ca, and is valid at now.  -1
 * with err ("verify: ..."). */
int issue_verify(struct pki_ca *ca, time_t now, EVP_PKEY *pub, X509 *leaf,
                 STACK_OF(X509) * chain, struct mk_err *err) MK_MUST_CHECK;

/* Runs the transaction.  On success fills *out (owned).  On failure -1 with err naming the step
 * ("ca: ...", "verify: ...", "store: ..."); out->issued is still set when the CA issued. */
int issue_run(const struct issue_in *in, struct issue_out *out, struct mk_err *err) MK_MUST_CHECK;

#endif
