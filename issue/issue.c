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

int issue_state_path(char *buf, size_t size, const char *dir, const char *name,
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

int issue_has_pending(const char *state_dir, const char *name)
{
    char path[1024];

    return issue_state_path(path, sizeof(path), state_dir, name, ".pending.json") == 0 &&
           access(path, F_OK) == 0;
}

/* Removes path; a missing file is fine, anything else is logged. */
static void remove_pending(const char *name, const char *path)
{
    if (unlink(path) != 0 && errno != ENOENT) {
        mk_log(MK_LOG_WARN, "rotation.pending_cleanup", "name=%s path=%s errno=%d", name, path,
               errno);
    }
}

void issue_clear_pending(const char *state_dir, const char *name)
{
    /* .pending.key and .pending.csr: where earlier versions kept a pending key and CSR, in the
     * network process's reach; never read any more, removed with the record. */
    static const char *const suffixes[] = {".pending.json", ".pending.key", ".pending.csr"};
    char path[1024];

    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        if (issue_state_path(path, sizeof(path), state_dir, name, suffixes[i]) == 0) {
            remove_pending(name, path);
        }
    }
}

void issue_out_clear(struct issue_out *out)
{
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

int issue_pending_paths(const struct conf_certificate *cc, char *kpath, char *cpath, size_t size)
{
    const struct conf_output *o = &cc->output;
    int n = snprintf(kpath, size, "%s/.pending-%s", o->directory, o->key);
    int m = snprintf(cpath, size, "%s/.pending-%s.csr", o->directory, o->key);

    return (n < 0 || (size_t)n >= size || m < 0 || (size_t)m >= size) ? -1 : 0;
}

int issue_pending_read(const struct conf_certificate *cc, const struct pki_secret *passphrase,
                       EVP_PKEY **key, X509_REQ **csr)
{
    char kpath[1024];
    char cpath[1024];
    struct mk_err err;
    EVP_PKEY *k = NULL;
    X509_REQ *r = NULL;
    FILE *f = NULL;

    if (issue_pending_paths(cc, kpath, cpath, sizeof(kpath)) != 0 || access(kpath, F_OK) != 0) {
        return 0;
    }
    k = pki_key_load_file(kpath, passphrase, &err);
    if (k == NULL) {
        /* A new key is issued instead; the record of the CA (if any) is for another CSR and
         * will be superseded. */
        mk_log_err("rotation.pending_unusable", &err);
        return 0;
    }
    f = fopen(cpath, "re");
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

int issue_pending_write(const struct conf_certificate *cc, const struct pki_secret *passphrase,
                        EVP_PKEY *key, X509_REQ *csr, struct mk_err *err)
{
    struct pki_secret *pem = NULL;
    char kpath[1024];
    char cpath[1024];
    char *csr_pem = NULL;
    size_t csr_len = 0;
    int rc = -1;

    MK_ENSURE(issue_pending_paths(cc, kpath, cpath, sizeof(kpath)) == 0, err, MK_ERR_INVALID,
              "pending: path too long for %s", cc->name);
    /* Encrypted like the key it will become: the passphrase protects it at rest as well. */
    MK_GUARD_PTR(pem = pki_format_key_pem(key, passphrase, err));
    MK_GUARD(pki_store_write_file(kpath, pki_secret_data(pem), pki_secret_len(pem), 0600,
                                  (uid_t)-1, (gid_t)-1, err));
    MK_GUARD_PTR(csr_pem = pki_csr_to_pem(csr, &csr_len, err));
    MK_GUARD(pki_store_write_file(cpath, csr_pem, csr_len, 0644, (uid_t)-1, (gid_t)-1, err));
    rc = 0;
out:
    pki_secret_free(pem);
    free(csr_pem);
    return rc;
}

void issue_pending_drop(const struct conf_certificate *cc)
{
    char kpath[1024];
    char cpath[1024];

    if (issue_pending_paths(cc, kpath, cpath, sizeof(kpath)) == 0) {
        remove_pending(cc->name, kpath);
        remove_pending(cc->name, cpath);
    }
}

int issue_keys_prepare(const struct conf_certificate *cc, int pending, EVP_PKEY **key,
                       X509_REQ **csr, int *resumed, struct mk_err *err)
{
    struct issue_spec spec = {0};
    struct pki_generation gen = {0};
    struct pki_csr_spec cspec;
    struct mk_err ignored;
    EVP_PKEY *k = NULL;
    X509_REQ *r = NULL;
    int rc = -1;

    *resumed = 0;
    /* Secrets and the output directory first: a missing password file or an unusable directory
     * must fail before the CA is asked (and, on AWS, paid). */
    MK_GUARD(issue_spec_load(cc, &spec, err));
    if (pki_store_check_dir(cc->output.directory, err) != 0) {
        mk_err_prefix(err, "store");
        goto out;
    }
    if (pending && issue_pending_read(cc, spec.passphrase, &k, &r) == 1) {
        *resumed = 1;
        mk_log(MK_LOG_INFO, "rotation.resume", "name=%s", cc->name);
    }
    if (k == NULL && cc->reuse_key && pki_store_read(&spec.spec, &gen, &ignored) == 0) {
        k = gen.key;
        gen.key = NULL;
    }
    if (k == NULL) {
        MK_GUARD_PTR(k = pki_key_generate(cc->key_type, err));
    }
    if (r == NULL) {
        issue_csr_spec(cc, &cspec);
        MK_GUARD_PTR(r = pki_csr_new(k, &cspec, err));
        if (pending) {
            MK_GUARD(issue_pending_write(cc, spec.passphrase, k, r, err));
        }
    }
    *key = k;
    *csr = r;
    k = NULL;
    r = NULL;
    rc = 0;
out:
    pki_generation_clear(&gen);
    X509_REQ_free(r);
    EVP_PKEY_free(k);
    issue_spec_clear(&spec);
    return rc;
}

int issue_keys_commit(const struct conf_certificate *cc, EVP_PKEY *key, X509 *leaf,
                      STACK_OF(X509) * chain, unsigned long *generation, struct mk_err *err)
{
    struct issue_spec spec = {0};
    struct pki_generation gen = {0};
    int rc = -1;

    /* The caller checked the certificate against the CSR; the key is the last word. */
    if (pki_cert_matches_key(leaf, key, err) != 0) {
        mk_err_prefix(err, "verify");
        goto out;
    }
    MK_GUARD(issue_spec_load(cc, &spec, err));
    if (pki_store_write(&spec.spec, key, leaf, chain, err) != 0) {
        mk_err_prefix(err, "store");
        goto out;
    }
    issue_pending_drop(cc);
    if (pki_store_read(&spec.spec, &gen, err) != 0) {
        mk_err_prefix(err, "store: read back");
        goto out;
    }
    *generation = gen.number;
    rc = 0;
out:
    pki_generation_clear(&gen);
    issue_spec_clear(&spec);
    return rc;
}

/* ---- The in-process key holder ---- */

/* The key of the last csr call, per certificate name. */
struct local_prepared {
    const struct conf_certificate *cc;
    EVP_PKEY *key;
};

struct local_keys {
    struct issue_keys holder;
    const struct conf *cfg;
    struct local_prepared *prep;
    size_t n_prep;
};

static const struct conf_certificate *local_cert(struct local_keys *lk, const char *name,
                                                 struct mk_err *err)
{
    const struct conf_certificate *cc = conf_find_certificate(lk->cfg, name);

    if (cc == NULL) {
        mk_err_set(err, MK_ERR_NOTFOUND, "keys: no certificate block named '%s'", name);
    }
    return cc;
}

static struct local_prepared *local_find(struct local_keys *lk, const char *name)
{
    for (size_t i = 0; i < lk->n_prep; i++) {
        if (strcmp(lk->prep[i].cc->name, name) == 0) {
            return &lk->prep[i];
        }
    }
    return NULL;
}

static void local_forget(struct local_keys *lk, const char *name)
{
    struct local_prepared *p = local_find(lk, name);

    if (p != NULL) {
        EVP_PKEY_free(p->key);
        *p = lk->prep[lk->n_prep - 1];
        lk->n_prep--;
    }
}

static int local_load(void *arg, const char *name, unsigned long *generation, X509 **leaf,
                      char *detail, size_t detail_size, struct mk_err *err)
{
    struct local_keys *lk = arg;
    const struct conf_certificate *cc;
    struct issue_spec spec = {0};
    struct pki_generation gen = {0};
    const char *what = "unusable";
    int rc = -1;

    MK_GUARD_PTR(cc = local_cert(lk, name, err));
    MK_GUARD(issue_spec_load(cc, &spec, err));
    MK_GUARD(pki_store_check_dir(cc->output.directory, err));
    MK_GUARD(pki_store_recover(&spec.spec, err));
    what = "read";
    MK_GUARD(pki_store_read(&spec.spec, &gen, err));
    *generation = gen.number;
    *leaf = gen.leaf;
    gen.leaf = NULL;
    what = "";
    rc = 0;
out:
    if (detail != NULL && detail_size > 0) {
        snprintf(detail, detail_size, "%s", what);
    }
    pki_generation_clear(&gen);
    issue_spec_clear(&spec);
    return rc;
}

static X509_REQ *local_csr(void *arg, const char *name, int pending, int *resumed,
                           struct mk_err *err)
{
    struct local_keys *lk = arg;
    const struct conf_certificate *cc;
    struct local_prepared *p;
    EVP_PKEY *key = NULL;
    X509_REQ *csr = NULL;

    MK_GUARD_PTR(cc = local_cert(lk, name, err));
    MK_GUARD(issue_keys_prepare(cc, pending, &key, &csr, resumed, err));
    local_forget(lk, name);
    p = realloc(lk->prep, (lk->n_prep + 1) * sizeof(*p));
    if (p == NULL) {
        X509_REQ_free(csr);
        csr = NULL;
        MK_ENSURE(0, err, MK_ERR_NOMEM, "keys: out of memory");
    }
    lk->prep = p;
    lk->prep[lk->n_prep].cc = cc;
    lk->prep[lk->n_prep].key = key;
    lk->n_prep++;
    key = NULL;
out:
    EVP_PKEY_free(key);
    return csr;
}

static int local_store(void *arg, const char *name, X509 *leaf, STACK_OF(X509) * chain,
                       unsigned long *generation, struct mk_err *err)
{
    struct local_keys *lk = arg;
    struct local_prepared *p = local_find(lk, name);
    int rc = -1;

    MK_ENSURE(p != NULL, err, MK_ERR_STATE, "store: no key was prepared for %s", name);
    MK_GUARD(issue_keys_commit(p->cc, p->key, leaf, chain, generation, err));
    local_forget(lk, name);
    rc = 0;
out:
    return rc;
}

static void local_drop(void *arg, const char *name)
{
    struct local_keys *lk = arg;
    const struct conf_certificate *cc = conf_find_certificate(lk->cfg, name);

    if (cc != NULL) {
        issue_pending_drop(cc);
    }
    local_forget(lk, name);
}

struct issue_keys *issue_keys_local_new(const struct conf *cfg, struct mk_err *err)
{
    static const struct issue_keys_ops ops = {
        .load = local_load, .csr = local_csr, .store = local_store, .drop = local_drop};
    struct local_keys *lk = calloc(1, sizeof(*lk));

    if (lk == NULL) {
        mk_err_set(err, MK_ERR_NOMEM, "keys: out of memory");
        return NULL;
    }
    lk->cfg = cfg;
    lk->holder.ops = &ops;
    lk->holder.arg = lk;
    return &lk->holder;
}

void issue_keys_local_free(struct issue_keys *keys)
{
    struct local_keys *lk;

    if (keys == NULL) {
        return;
    }
    lk = keys->arg;
    for (size_t i = 0; i < lk->n_prep; i++) {
        EVP_PKEY_free(lk->prep[i].key);
    }
    free(lk->prep);
    free(lk);
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
    MK_GUARD(pki_cert_info(leaf, &info, err));
    MK_ENSURE(info.not_before <= now + NOT_BEFORE_SKEW && info.not_after > now, err,
              MK_ERR_VERIFY,
              "verify: issued certificate is not valid now (notBefore %lld, "
              "notAfter %lld)",
              (long long)info.not_before, (long long)info.not_after);
    /* The chain at the transaction's clock (the one the caller plans with), moved up to the
     * leaf's notBefore when the CA's clock is ahead by no more than the accepted skew. */
    if (pki_cert_verify_client(leaf, chain, anchors,
                               info.not_before > now ? info.not_before : now, err) != 0) {
        mk_err_prefix(err, "verify");
        goto out;
    }
    rc = 0;
out:
    sk_X509_pop_free(anchors, X509_free);
    return rc;
}

int issue_run(const struct issue_in *in, struct issue_out *out, struct mk_err *err)
{
    const struct conf_certificate *cc = in->cc;
    const struct issue_keys *keys = in->keys;
    const int pending = issue_uses_pending(in->ca);
    char pending_path[1024];
    struct pki_issue_request req;
    struct pki_issued issued = {0};
    unsigned long generation = 0;
    X509_REQ *csr = NULL;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    MK_ENSURE(issue_state_path(pending_path, sizeof(pending_path), in->state_dir, cc->name,
                               ".pending.json") == 0,
              err, MK_ERR_INVALID, "rotation: state path too long for %s", cc->name);
    /* The key holder checks the secrets and the output directory before it makes the CSR
     * (issue_keys_prepare): a failure there comes before the CA is asked (and, on AWS, paid). */
    MK_GUARD_PTR(csr = keys->ops->csr(keys->arg, cc->name, pending, &out->resumed, err));
    memset(&req, 0, sizeof(req));
    req.csr = csr;
    req.validity_seconds = cc->validity_seconds;
    req.pending_path = pending ? pending_path : NULL;
    if (pki_ca_issue(in->ca, &req, &issued, err) != 0) {
        if (err != NULL && err->code == MK_ERR_VERIFY) {
            /* The CA answered a certificate that cannot be ours (another key): resuming would
             * fetch the same one forever, so the next attempt starts over with a new key. */
            issue_clear_pending(in->state_dir, cc->name);
            keys->ops->drop(keys->arg, cc->name);
        }
        mk_err_prefix(err, "ca");
        goto out;
    }
    out->issued = 1;
    if (issue_verify(in->ca, in->now, X509_REQ_get0_pubkey(csr), issued.leaf, issued.chain,
                     err) != 0) {
        /* Resuming would only fetch the same unusable certificate again. */
        issue_clear_pending(in->state_dir, cc->name);
        keys->ops->drop(keys->arg, cc->name);
        goto out;
    }
    /* On failure the pending record stays: the retry fetches this certificate again, free. */
    MK_GUARD(keys->ops->store(keys->arg, cc->name, issued.leaf, issued.chain, &generation, err));
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
