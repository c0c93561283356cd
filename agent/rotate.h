/*
 * rotate.h: one rotation transaction for one certificate block.
 *
 *   key (fresh, or the current one with reuse_key, or the pending one when resuming)
 *   -> CSR -> CA (pki_ca_issue, resumable through <state_dir>/<name>.pending.json)
 *   -> verify (key match, clientAuth chain to the CA's trust anchors, valid now)
 *   -> pki_store_write (a new generation, atomically) -> remove the pending files.
 *
 * The rotation runs in the network process, which never holds a private key: the key process
 * (keyproc.h) makes the key and CSR and writes the generation.  With a CA that completes
 * asynchronously (aws-pca) the key process first writes the new key to
 * <directory>/.pending-<key file> (0600) and the CSR to <state_dir>/<name>.pending.csr, so that
 * a restart resumes the issuance with the same key instead of paying for a second certificate.
 * Any failure leaves the current generation untouched.
 */
#ifndef AGENT_ROTATE_H
#define AGENT_ROTATE_H

#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "conf/conf.h"
#include "pki/ca.h"
#include "pki/err.h"
#include "pki/secret.h"
#include "pki/store.h"

/* A store spec for a certificate block, with its secrets read from their files (re-read each
 * time, so a changed PKCS#12 password file takes effect at the next rotation). */
struct agent_spec {
    struct pki_store_spec spec;
    struct pki_secret *passphrase;
    struct pki_secret *pkcs12_password;
};
/* Fills out; strings borrowed from cc.  Release with agent_spec_clear(). */
int agent_spec_load(const struct conf_certificate *cc, struct agent_spec *out,
                    struct mk_err *err) MK_MUST_CHECK;
void agent_spec_clear(struct agent_spec *s);

/* The stable path of the certificate file (<directory>/<cert>) into buf. */
int agent_cert_path(const struct conf_certificate *cc, char *buf, size_t size) MK_MUST_CHECK;

/* 1 when the CA kind needs pending files (it may complete after a restart), else 0. */
int agent_rotate_uses_pending(const struct pki_ca *ca);

/* 1 when a pending record or CSR exists for name in state_dir. */
int agent_rotate_has_pending(const char *state_dir, const char *name);

/* Removes the pending files of name in state_dir (missing ones are fine); the pending key is the
 * key process's (agent_keys_drop). */
void agent_rotate_clear_pending(const char *state_dir, const char *name);

struct agent_rotate_in {
    struct pki_ca *ca;
    const struct conf_certificate *cc;
    const char *state_dir;
    int key_fd; /* the link to the key process */
    time_t now;
};

struct agent_rotate_out {
    X509 *leaf;
    STACK_OF(X509) * chain;
    unsigned long generation; /* of the generation written */
    int issued;               /* the CA issued a certificate in this call (even if a later step
                               * failed): every one costs money on AWS */
    int resumed;              /* a pending issuance was resumed */
};
/* Release with agent_rotate_out_clear(); zeroes the struct. */
void agent_rotate_out_clear(struct agent_rotate_out *out);

/* Runs the transaction.  On success fills *out (owned).  On failure -1 with err naming the step
 * ("ca: ...", "verify: ...", "store: ..."); out->issued is still set when the CA issued. */
int agent_rotate(const struct agent_rotate_in *in, struct agent_rotate_out *out,
                 struct mk_err *err) MK_MUST_CHECK;

#endif
