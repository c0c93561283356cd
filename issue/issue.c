/* issue.c: one issuance transaction (see issue.h), shared by mskpki-agent and mskpkictl. */
#include "issue/issue.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "pki/cert.h"
#include "pki/csr.h"
#include "pki/format.h"
#include "pki/key.h"
#include "pki/log.h"

/* Accepted clock difference between the CA and this host for notBefore. */
#define NOT_BEFORE_SKEW 300

/* <dir>/<name><suffix> into buf: the same layout as the agent's state files. */
static int issue_state_path(char *buf, size_t size, const char *dir, const char *name,
                            const char *suffix)
{
    int n = snprintf(buf, size, "%s/%s%s", dir, name, suffix);
    return (n < 0 || (size_t)n >= size) ? -1 : 0;
}

struct pki_ca *issue_ca_new(const struct conf *cfg, struct mk_err *err)
{
    switch (cfg->ca.type) {
    case CONF_CA_LOCAL:
        return pki_ca_local_new(&cfg->ca.local, err);
    case CONF_CA_AWS_PCA:
        return pki_ca_aws_pca_new(&cfg->ca.aws_pca, err);
    default:
        mk_err_set(err, MK_ERR_CONFIG, "unknown CA type %d", (int)cfg->ca.type);
        return NULL;
    }
}

int issue_spec_load(const struct conf_certificate *cc, struct issue_spec *out, struct mk_err *err)
{
    const struct conf_output *o = &cc->output;
    struct issue_spec s;
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
        issue_spec_clear(&s);
    }
    return rc;
}

void issue_spec_clear(struct issue_spec *s)
{
    pki_secret_free(s->passphrase);
    pki_secret_free(s->pkcs12_password);
    memset(s, 0, sizeof(*s));
}

int issue_cert_path(const struct conf_certificate *cc, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%s/%s", cc->output.directory, cc->output.cert);
    return (n < 0 || (size_t)n >= size) ? -1 : 0;
}

int issue_uses_pending(const struct pki_ca *ca)
{
    return strcmp(pki_ca_kind(ca), "local") != 0;
}

static const char *const pending_suffixes[] = {".pending.json", ".pending.key", ".pending.csr"};

int issue_has_pending(const char *state_dir, const char *name)
{
    char path[1024];

    for (size_t i = 0; i < sizeof(pending_suffixes) / sizeof(pending_suffixes[0]); i++) {
        if (issue_state_path(path, sizeof(path), state_dir, name, pending_suffixes[i]) == 0 &&
            access(path, F_OK) == 0) {
            return 1;
        }
    }
    return 0;
}

void issue_clear_pending(const char *state_dir, const char *name)
{
    char path[1024];

    for (size_t i = 0; i < sizeof(pending_suffixes) / sizeof(pending_suffixes[0]); i++) {
        if (issue_state_path(path, sizeof(path), state_dir, name, pending_suffixes[i]) == 0 &&
            unlink(path) != 0 && errno != ENOENT) {
            mk_log(MK_LOG_WARN, "rotation.pending_cleanup", "name=%s path=%s errno=%d", name, path,
                   errno);
        }
    }
}

void issue_out_clear(struct issue_out *out)
{
    EVP_PKEY_free(out->key);
    X509_free(out->leaf);
    sk_X509_pop_free(out->chain, X509_free);
    memset(out, 0, sizeof(*out));
}

void issue_csr_spec(const struct conf_certificate *cc, struct pki_csr_spec *s)
{
    memset(s, 0, sizeof(*s));
    s->common_name = cc->common_name;
    s->organization = cc->organization;
    s->organizational_unit = cc->organizational_unit;
    s->locality = cc->locality;
    s->state = cc->state;
    s->country = cc->country;
    s->dns_names = (const char *const *)cc->dns_names;
    s->n_dns_names = cc->n_dns_names;
    s->uris = (const char *const *)cc->uris;
    s->n_uris = cc->n_uris;
    s->emails = (const char *const *)cc->emails;
    s->n_emails = cc->n_emails;
}

int issue_pending_read(const char *key_path, const char *csr_path, EVP_PKEY **key, X509_REQ **csr)
{
    struct mk_err err;
    EVP_PKEY *k = NULL;
    X509_REQ *r = NULL;
    FILE *f = NULL;

    if (access(key_path, F_OK) != 0) {
        return 0;
    }
    k = pki_key_load_file(key_path, NULL, &err);
    if (k == NULL) {
        mk_log_err("rotation.pending_unusable", &err);
        return 0;
    }
    f = fopen(csr_path, "re");
    if (f != NULL) {
        r = PEM_read_X509_REQ(f, NULL, NULL, NULL);
        fclose(f);
    }
    if (r == NULL || pki_csr_verify(r, &err) != 0 || X509_REQ_get0_pubkey(r) == NULL ||
        EVP_PKEY_eq(X509_REQ_get0_pubkey(r), k) != 1) {
        /* The key alone is still good: a new CSR from it is harmless. */
        X509_REQ_free(r);
        r = NULL;
    }
    *key = k;
    *csr = r;
    return 1;
}

int issue_pending_write(const char *key_path, const char *csr_path, EVP_PKEY *key, X509_REQ *csr,
                        struct mk_err *err)
{
    struct pki_secret *pem = NULL;
    char *csr_pem = NULL;
    size_t csr_len = 0;
    int rc = -1;

    MK_GUARD_PTR(pem = pki_format_key_pem(key, NULL, err));
    MK_GUARD(pki_store_write_file(key_path, pki_secret_data(pem), pki_secret_len(pem), 0600,
                                  (uid_t)-1, (gid_t)-1, err));
    MK_GUARD_PTR(csr_pem = pki_csr_to_pem(csr, &csr_len, err));
    MK_GUARD(pki_store_write_file(csr_path, csr_pem, csr_len, 0644, (uid_t)-1, (gid_t)-1, err));
    rc = 0;
out:
    pki_secret_free(pem);
    free(csr_pem);
    return rc;
}

/* <state_dir>/<name>.pending.key and .pending.csr into kpath and cpath. */
static int pending_paths(const struct issue_in *in, char *kpath, char *cpath, size_t size)
{
    const char *name = in->cc->name;

    return issue_state_path(kpath, size, in->state_dir, name, ".pending.key") == 0 &&
                   issue_state_path(cpath, size, in->state_dir, name, ".pending.csr") == 0
               ? 0
               : -1;
}

int issue_verify(struct pki_ca *ca, time_t now, EVP_PKEY *key, X509 *leaf, STACK_OF(X509) * chain,
                 struct mk_err *err)
{
    STACK_OF(X509) *anchors = NULL;
    struct pki_cert_info info;
    int rc = -1;

    if (pki_cert_matches_key(leaf, key, err) != 0) {
        mk_err_prefix(err, "verify");
        goto out;
    }
    anchors = pki_ca_trust_anchors(ca, err);
    if (anchors == NULL) {
        mk_err_prefix(err, "verify: trust anchors");
        goto out;
    }
    if (pki_cert_verify_client(leaf, chain, anchors, 0, err) != 0) {
        mk_err_prefix(err, "verify");
        goto out;
    }
    MK_GUARD(pki_cert_info(leaf, &info, err));
    MK_ENSURE(info.not_before <= now + NOT_BEFORE_SKEW && info.not_after > now, err,
              MK_ERR_VERIFY,
              "verify: issued certificate is not valid now (notBefore %lld, "
              "notAfter %lld)",
              (long long)info.not_before, (long long)info.not_after);
    rc = 0;
out:
    sk_X509_pop_free(anchors, X509_free);
    return rc;
}

int issue_run(const struct issue_in *in, struct issue_out *out, struct mk_err *err)
{
    const struct conf_certificate *cc = in->cc;
    const int pending = issue_uses_pending(in->ca);
    char pending_path[1024];
    char kpath[1024];
    char cpath[1024];
    struct pki_csr_spec cspec;
    struct pki_issue_request req;
    struct pki_issued issued = {0};
    struct issue_spec spec = {0};
    struct pki_generation gen = {0};
    EVP_PKEY *key = NULL;
    X509_REQ *csr = NULL;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    MK_ENSURE(issue_state_path(pending_path, sizeof(pending_path), in->state_dir, cc->name,
                               ".pending.json") == 0,
              err, MK_ERR_INVALID, "rotation: state path too long for %s", cc->name);
    /* Secrets and the output directory first: a missing password file or an unusable directory
     * must fail before the CA is asked (and, on AWS, paid). */
    MK_GUARD(issue_spec_load(cc, &spec, err));
    if (pki_store_check_dir(cc->output.directory, err) != 0) {
        mk_err_prefix(err, "store");
        goto out;
    }
    MK_ENSURE(pending_paths(in, kpath, cpath, sizeof(kpath)) == 0, err, MK_ERR_INVALID,
              "pending: path too long for %s", cc->name);
    if (pending && issue_pending_read(kpath, cpath, &key, &csr) == 1) {
        out->resumed = 1;
        mk_log(MK_LOG_INFO, "rotation.resume", "name=%s", cc->name);
    }
    if (key == NULL && cc->reuse_key && in->current_key != NULL) {
        MK_ENSURE(EVP_PKEY_up_ref(in->current_key) == 1, err, MK_ERR_CRYPTO, "EVP_PKEY_up_ref");
        key = in->current_key;
    }
    if (key == NULL) {
        MK_GUARD_PTR(key = pki_key_generate(cc->key_type, err));
    }
    if (csr == NULL) {
        issue_csr_spec(cc, &cspec);
        MK_GUARD_PTR(csr = pki_csr_new(key, &cspec, err));
        if (pending) {
            MK_GUARD(issue_pending_write(kpath, cpath, key, csr, err));
        }
    }

    memset(&req, 0, sizeof(req));
    req.csr = csr;
    req.validity_seconds = cc->validity_seconds;
    req.pending_path = pending ? pending_path : NULL;
    if (pki_ca_issue(in->ca, &req, &issued, err) != 0) {
        if (err != NULL && err->code == MK_ERR_VERIFY) {
            /* The CA answered a certificate that cannot be ours (another key): resuming would
             * fetch the same one forever, so the next attempt starts over with a new key. */
            issue_clear_pending(in->state_dir, cc->name);
        }
        mk_err_prefix(err, "ca");
        goto out;
    }
    out->issued = 1;
    if (issue_verify(in->ca, in->now, key, issued.leaf, issued.chain, err) != 0) {
        /* Resuming would only fetch the same unusable certificate again. */
        issue_clear_pending(in->state_dir, cc->name);
        goto out;
    }
    if (pki_store_write(&spec.spec, key, issued.leaf, issued.chain, err) != 0) {
        /* The pending record stays: the retry fetches this certificate again, free of charge. */
        mk_err_prefix(err, "store");
        goto out;
    }
    issue_clear_pending(in->state_dir, cc->name);
    if (pki_store_read(&spec.spec, &gen, err) != 0) {
        mk_err_prefix(err, "store: read back");
        goto out;
    }
    out->generation = gen.number;
    out->key = key;
    out->leaf = issued.leaf;
    out->chain = issued.chain;
    key = NULL;
    issued.leaf = NULL;
    issued.chain = NULL;
    rc = 0;
out:
    pki_generation_clear(&gen);
    pki_issued_clear(&issued);
    X509_REQ_free(csr);
    EVP_PKEY_free(key);
    issue_spec_clear(&spec);
    return rc;
}
