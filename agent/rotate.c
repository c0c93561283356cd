/* rotate.c: one rotation transaction (see rotate.h). */
#include "agent/rotate.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/keyclient.h"
#include "agent/state.h"
#include "pki/cert.h"
#include "pki/csr.h"
#include "pki/format.h"
#include "pki/key.h"
#include "pki/log.h"

void agent_rotate_out_clear(struct agent_rotate_out *out)
{
    X509_free(out->leaf);
    sk_X509_pop_free(out->chain, X509_free);
    memset(out, 0, sizeof(*out));
}

int agent_rotate(const struct agent_rotate_in *in, struct agent_rotate_out *out, struct mk_err *err)
{
    const struct conf_certificate *cc = in->cc;
    const int pending = issue_uses_pending(in->ca);
    char pending_path[1024];
    struct pki_issue_request req;
    struct pki_issued issued = {0};
    unsigned long generation = 0;
    X509_REQ *csr = NULL;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    MK_ENSURE(agent_state_path(pending_path, sizeof(pending_path), in->state_dir, cc->name,
                               ".pending.json") == 0,
              err, MK_ERR_INVALID, "rotation: state path too long for %s", cc->name);
    /* The key process checks the secrets and the output directory before it makes the CSR: a
     * failure there comes before the CA is asked (and, on AWS, paid). */
    MK_GUARD_PTR(csr = agent_keys_csr(in->key_fd, cc->name, pending, &out->resumed, err));
    memset(&req, 0, sizeof(req));
    req.csr = csr;
    req.validity_seconds = cc->validity_seconds;
    req.pending_path = pending ? pending_path : NULL;
    if (pki_ca_issue(in->ca, &req, &issued, err) != 0) {
        if (err != NULL && err->code == MK_ERR_VERIFY) {
            /* The CA answered a certificate that cannot be ours (another key): resuming would
             * fetch the same one forever, so the next attempt starts over with a new key. */
            issue_clear_pending(in->state_dir, cc->name);
            agent_keys_drop(in->key_fd, cc->name);
        }
        mk_err_prefix(err, "ca");
        goto out;
    }
    out->issued = 1;
    if (issue_verify(in->ca, in->now, X509_REQ_get0_pubkey(csr), issued.leaf, issued.chain, err) != 0) {
        /* Resuming would only fetch the same unusable certificate again. */
        issue_clear_pending(in->state_dir, cc->name);
        agent_keys_drop(in->key_fd, cc->name);
        goto out;
    }
    /* On failure the pending record stays: the retry fetches this certificate again, free. */
    MK_GUARD(agent_keys_store(in->key_fd, cc->name, issued.leaf, issued.chain, &generation, err));
    issue_clear_pending(in->state_dir, cc->name);
    out->generation = generation;
    out->leaf = issued.leaf;
    out->chain = issued.chain;
    issued.leaf = NULL;
    issued.chain = NULL;
    rc = 0;
out:
    pki_issued_clear(&issued);
    X509_REQ_free(csr);
    return rc;
}
