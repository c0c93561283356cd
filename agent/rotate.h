/*
 * rotate.h: one rotation transaction for one certificate block, across the agent's processes.
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
#include "ca/ca.h"
#include "pki/err.h"
#include "pki/secret.h"
#include "issue/issue.h"
#include "pki/store.h"

/* The store spec, CSR, pending-file and verify helpers are the shared ones (issue/issue.h); the
 * in-process transaction there (issue_run) is what `mskpkictl cert issue` uses. */
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
