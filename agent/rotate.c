/* rotate.c: one rotation transaction (see rotate.h). */
#include "agent/rotate.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/keyproc.h"
#include "agent/state.h"
#include "pki/cert.h"
#include "pki/csr.h"
#include "pki/format.h"
#include "pki/key.h"
#include "pki/log.h"

/* Accepted clock difference between the CA and this host for notBefore. */
#define NOT_BEFORE_SKEW 300

int agent_spec_load(const struct conf_certificate *cc, struct agent_spec *out, struct mk_err *err)
{
    const struct conf_output *o = &cc->output;
    struct agent_spec s;
    int rc = -1;

    memset(&s, 0, sizeof(s));
    s.spec.directory = o->directory;
    s.spec.key_name = o->key;
    s.spec.cert_name = o->cert;
    s.spec.chain_name = o->chain;
    s.spec.fullchain_name = o->fullchain;
    s.spec.pkcs12_name = o->pkcs12;
    s.spec.pkcs12_alias = o->pkcs12_alias;
    s.spec.owner = o->uid;
    s.spec.group = o->gid;
    s.spec.key_mode = o->key_mode;
    s.spec.cert_mode = o->cert_mode;
    if (o->key_passphrase_file != NULL) {
        MK_GUARD_PTR(s.passphrase = pki_secret_read_file(o->key_passphrase_file, err));
    }
    if (o->pkcs12 != NULL && o->pkcs12_password_file != NULL) {
        MK_GUARD_PTR(s.pkcs12_password = pki_secret_read_file(o->pkcs12_password_file, err));
    }
    s.spec.key_passphrase = s.passphrase;
    s.spec.pkcs12_password = s.pkcs12_password;
    *out = s;
    rc = 0;
out:
    if (rc != 0) {
        agent_spec_clear(&s);
    }
    return rc;
}

void agent_spec_clear(struct agent_spec *s)
{
    pki_secret_free(s->passphrase);
    pki_secret_free(s->pkcs12_password);
    memset(s, 0, sizeof(*s));
}

int agent_cert_path(const struct conf_certificate *cc, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%s/%s", cc->output.directory, cc->output.cert);
    return (n < 0 || (size_t)n >= size) ? -1 : 0;
}

int agent_rotate_uses_pending(const struct pki_ca *ca)
{
    return strcmp(pki_ca_kind(ca), "local") != 0;
}

/* .pending.key is where earlier versions kept the pending key: leftovers are cleaned up. */
static const char *const pending_suffixes[] = {".pending.json", ".pending.csr", ".pending.key"};

int agent_rotate_has_pending(const char *state_dir, const char *name)
{
    char path[1024];

    for (size_t i = 0; i < sizeof(pending_suffixes) / sizeof(pending_suffixes[0]); i++) {
        if (agent_state_path(path, sizeof(path), state_dir, name, pending_suffixes[i]) == 0 &&
            access(path, F_OK) == 0) {
            return 1;
        }
    }
    return 0;
}

void agent_rotate_clear_pending(const char *state_dir, const char *name)
{
    char path[1024];

    for (size_t i = 0; i < sizeof(pending_suffixes) / sizeof(pending_suffixes[0]); i++) {
        if (agent_state_path(path, sizeof(path), state_dir, name, pending_suffixes[i]) == 0 &&
            unlink(path) != 0 && errno != ENOENT) {
            mk_log(MK_LOG_WARN, "rotation.pending_cleanup", "name=%s path=%s errno=%d", name, path,
                   errno);
        }
    }
}

void agent_rotate_out_clear(struct agent_rotate_out *out)
{
    X509_free(out->leaf);
    sk_X509_pop_free(out->chain, X509_free);
    memset(out, 0, sizeof(*out));
}

/* The new certificate must be usable before it replaces anything. */
static int verify_issued(const struct agent_rotate_in *in, EVP_PKEY *key, X509 *leaf,
                         STACK_OF(X509) * chain, struct mk_err *err)
{
    STACK_OF(X509) *anchors = NULL;
    struct pki_cert_info info;
    int rc = -1;

    if (pki_cert_matches_key(leaf, key, err) != 0) {
        mk_err_prefix(err, "verify");
        goto out;
    }
    anchors = pki_ca_trust_anchors(in->ca, err);
    if (anchors == NULL) {
        mk_err_prefix(err, "verify: trust anchors");
        goto out;
    }
    if (pki_cert_verify_client(leaf, chain, anchors, 0, err) != 0) {
        mk_err_prefix(err, "verify");
        goto out;
    }
    MK_GUARD(pki_cert_info(leaf, &info, err));
    MK_ENSURE(info.not_before <= in->now + NOT_BEFORE_SKEW && info.not_after > in->now, err,
              MK_ERR_VERIFY,
              "verify: issued certificate is not valid now (notBefore %lld, "
              "notAfter %lld)",
              (long long)info.not_before, (long long)info.not_after);
    rc = 0;
out:
    sk_X509_pop_free(anchors, X509_free);
    return rc;
}

int agent_rotate(const struct agent_rotate_in *in, struct agent_rotate_out *out, struct mk_err *err)
{
    const struct conf_certificate *cc = in->cc;
    const int pending = agent_rotate_uses_pending(in->ca);
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
        mk_err_prefix(err, "ca");
        goto out;
    }
    out->issued = 1;
    if (verify_issued(in, X509_REQ_get0_pubkey(csr), issued.leaf, issued.chain, err) != 0) {
        /* Resuming would only fetch the same unusable certificate again. */
        agent_rotate_clear_pending(in->state_dir, cc->name);
        agent_keys_drop(in->key_fd, cc->name);
        goto out;
    }
    /* On failure the pending record stays: the retry fetches this certificate again, free. */
    MK_GUARD(agent_keys_store(in->key_fd, cc->name, issued.leaf, issued.chain, &generation, err));
    agent_rotate_clear_pending(in->state_dir, cc->name);
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
