/*
 * hostile.c: the test-only hostile network process (see hostile.h).  Everything here is
 * compiled only with MK_TESTING: a release build (-DMSKPKI_TESTS=OFF, the Debian package) has
 * an empty object (tests/agent/check_release_objects.py checks it).
 *
 * The attacks speak the raw protocol (agent_ipc_call), as code injected into the network
 * process would: they do not go through the well-behaved client calls of keyproc.h.
 */
#include "agent/hostile.h"

#ifdef MK_TESTING

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "agent/ipc.h"
#include "agent/keypolicy.h"
#include "agent/metrics.h"
#include "pki/cert.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "pki/log.h"

#define DAY 86400L

struct hostile {
    struct agent_ctx *ctx;
    const struct conf_certificate *cc; /* the block attacked (the first one) */
    EVP_PKEY *evil_key;                /* the attacker's own key */
    X509 *evil_root;                   /* CN=Attacker Root CA, self-signed with evil_key */
};

/* ---- the raw protocol ---- */

/* Sends op with fields and drops the OK reply; -1 with the key process's error. */
static int call(struct hostile *h, enum agent_ipc_op op, const struct agent_ipc_field *f, size_t n,
                struct agent_ipc_msg *reply, struct mk_err *err)
{
    struct agent_ipc_msg m = {0};
    int rc = agent_ipc_call(h->ctx->key_fd, op, f, n, &m, NULL, 0, err);

    if (rc == 0 && reply != NULL) {
        *reply = m;
    } else {
        agent_ipc_msg_clear(&m);
    }
    return rc;
}

/* KEY_CSR without pending files: the CSR of a fresh key the key process now holds as the
 * prepared key of the block.  Caller frees with X509_REQ_free(). */
static X509_REQ *prepared_csr(struct hostile *h, struct mk_err *err)
{
    struct agent_ipc_field f[2] = {agent_ipc_s(h->cc->name), agent_ipc_s("0")};
    struct agent_ipc_msg m = {0};
    X509_REQ *csr = NULL;

    if (call(h, AGENT_IPC_KEY_CSR, f, 2, &m, err) == 0 && m.n >= 1) {
        csr = pki_csr_from_pem(m.f[0].data, m.f[0].len, err);
    }
    agent_ipc_msg_clear(&m);
    return csr;
}

/* CA_ISSUE of csr for validity seconds: 0 when the key process signed it. */
static int send_issue(struct hostile *h, X509_REQ *csr, long validity, struct mk_err *err)
{
    struct agent_ipc_field f[2];
    char num[32];
    char *pem = NULL;
    size_t len = 0;
    int rc = -1;

    MK_GUARD_PTR(pem = pki_csr_to_pem(csr, &len, err));
    snprintf(num, sizeof(num), "%ld", validity);
    f[0] = (struct agent_ipc_field){pem, len};
    f[1] = agent_ipc_s(num);
    rc = call(h, AGENT_IPC_CA_ISSUE, f, 2, NULL, err);
out:
    free(pem);
    return rc;
}

/* KEY_STORE of leaf with chain (may be NULL: empty): 0 when the key process wrote it. */
static int send_store(struct hostile *h, X509 *leaf, X509 *chain1, STACK_OF(X509) * chain,
                      struct mk_err *err)
{
    struct agent_ipc_field f[3];
    char *lpem = NULL;
    char *cpem = NULL;
    int rc = -1;

    MK_GUARD_PTR(lpem = pki_certs_to_pem(leaf, NULL, NULL, err));
    if (chain1 != NULL) {
        MK_GUARD_PTR(cpem = pki_certs_to_pem(chain1, chain, NULL, err));
    }
    f[0] = agent_ipc_s(h->cc->name);
    f[1] = agent_ipc_s(lpem);
    f[2] = agent_ipc_s(cpem);
    rc = call(h, AGENT_IPC_KEY_STORE, f, 3, NULL, err);
out:
    free(lpem);
    free(cpem);
    return rc;
}

/* ---- forgeries ---- */

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value, struct mk_err *err)
{
    X509V3_CTX v3;
    X509_EXTENSION *ext;
    int rc = -1;

    X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    MK_GUARD_OSSL(ext != NULL && X509_add_ext(cert, ext, -1) == 1, err, MK_ERR_CRYPTO,
                  "hostile: extension %d", nid);
    rc = 0;
out:
    X509_EXTENSION_free(ext);
    return rc;
}

/* The SAN extension of csr as "DNS:a,URI:b" plus extra (may be NULL) into buf. */
static void csr_san_text(X509_REQ *csr, const char *extra, char *buf, size_t size)
{
    STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(csr);
    int idx = X509v3_get_ext_by_NID(exts, NID_subject_alt_name, -1);
    GENERAL_NAMES *gens = idx >= 0 ? X509V3_EXT_d2i(X509v3_get_ext(exts, idx)) : NULL;
    size_t used = 0;

    buf[0] = '\0';
    for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
        int type = 0;
        const ASN1_STRING *s = GENERAL_NAME_get0_value(sk_GENERAL_NAME_value(gens, i), &type);
        const char *tag = type == GEN_DNS ? "DNS" : type == GEN_URI ? "URI" : "email";
        used += (size_t)snprintf(buf + used, used < size ? size - used : 0, "%s%s:%.*s",
                                 used > 0 ? "," : "", tag, ASN1_STRING_length(s),
                                 (const char *)ASN1_STRING_get0_data(s));
    }
    if (extra != NULL && used < size) {
        snprintf(buf + used, size - used, "%s%s", used > 0 ? "," : "", extra);
    }
    GENERAL_NAMES_free(gens);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
}

/*
 * A certificate for pub with subject (NULL: CN=cn), SANs san (NULL: none), EKU eku (NULL:
 * none), valid from a minute ago for validity seconds, signed by issuer_key under issuer (NULL:
 * self-signed CA).  Caller frees with X509_free().
 */
static X509 *forge_cert(EVP_PKEY *pub, const X509_NAME *subject, const char *cn, const char *san,
                        const char *eku, X509 *issuer, EVP_PKEY *issuer_key, long validity,
                        struct mk_err *err)
{
    X509 *c = X509_new();
    X509 *ret = NULL;
    time_t now = time(NULL);

    MK_ENSURE(c != NULL, err, MK_ERR_NOMEM, "hostile: X509_new");
    MK_GUARD_OSSL(X509_set_version(c, X509_VERSION_3) == 1 &&
                      ASN1_INTEGER_set(X509_get_serialNumber(c), (long)now) == 1,
                  err, MK_ERR_CRYPTO, "hostile: serial");
    if (subject != NULL) {
        MK_GUARD_OSSL(X509_set_subject_name(c, subject) == 1, err, MK_ERR_CRYPTO, "hostile");
    } else {
        MK_GUARD_OSSL(X509_NAME_add_entry_by_txt(X509_get_subject_name(c), "CN", MBSTRING_UTF8,
                                                 (const unsigned char *)cn, -1, -1, 0) == 1,
                      err, MK_ERR_CRYPTO, "hostile: subject");
    }
    MK_GUARD_OSSL(X509_set_issuer_name(c, X509_get_subject_name(issuer != NULL ? issuer : c)) ==
                          1 &&
                      X509_time_adj_ex(X509_getm_notBefore(c), 0, -60, &now) != NULL &&
                      X509_time_adj_ex(X509_getm_notAfter(c), 0, validity, &now) != NULL &&
                      X509_set_pubkey(c, pub) == 1,
                  err, MK_ERR_CRYPTO, "hostile: fields");
    if (issuer == NULL) {
        MK_GUARD(add_ext(c, c, NID_basic_constraints, "critical,CA:TRUE", err));
        MK_GUARD(add_ext(c, c, NID_key_usage, "critical,keyCertSign,cRLSign", err));
    } else {
        MK_GUARD(add_ext(c, issuer, NID_basic_constraints, "critical,CA:FALSE", err));
    }
    if (san != NULL && san[0] != '\0') {
        MK_GUARD(add_ext(c, issuer != NULL ? issuer : c, NID_subject_alt_name, san, err));
    }
    if (eku != NULL) {
        MK_GUARD(add_ext(c, issuer != NULL ? issuer : c, NID_ext_key_usage, eku, err));
    }
    MK_GUARD_OSSL(X509_sign(c, issuer_key, EVP_sha256()) > 0, err, MK_ERR_CRYPTO,
                  "hostile: X509_sign");
    ret = c;
    c = NULL;
out:
    X509_free(c);
    return ret;
}

/* A leaf for pub shaped like csr's request (subject, SANs + extra_san), with EKU eku, under the
 * attacker's root, for the configured validity.  cn (not NULL) replaces the subject. */
static X509 *forge_leaf(struct hostile *h, EVP_PKEY *pub, X509_REQ *csr, const char *cn,
                        const char *extra_san, const char *eku, struct mk_err *err)
{
    char san[2048];

    csr_san_text(csr, extra_san, san, sizeof(san));
    return forge_cert(pub, cn != NULL ? NULL : X509_REQ_get_subject_name(csr), cn, san, eku,
                      h->evil_root, h->evil_key, h->cc->validity_seconds, err);
}

/* A CSR for pub (whose private half the attacker may not have: signed with signer, so its
 * self-signature may not verify) with subject CN=cn and SANs san ("DNS:a,DNS:b"). */
static X509_REQ *forge_csr(EVP_PKEY *pub, const X509_NAME *subject, const char *cn, const char *san,
                           EVP_PKEY *signer, struct mk_err *err)
{
    X509_REQ *r = X509_REQ_new();
    X509_REQ *ret = NULL;
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    X509_EXTENSION *ext = NULL;
    X509V3_CTX v3;

    MK_ENSURE(r != NULL && exts != NULL, err, MK_ERR_NOMEM, "hostile: X509_REQ_new");
    if (subject != NULL) {
        MK_GUARD_OSSL(X509_REQ_set_subject_name(r, subject) == 1, err, MK_ERR_CRYPTO, "hostile");
    } else {
        MK_GUARD_OSSL(X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(r), "CN", MBSTRING_UTF8,
                                                 (const unsigned char *)cn, -1, -1, 0) == 1,
                      err, MK_ERR_CRYPTO, "hostile: subject");
    }
    MK_GUARD_OSSL(X509_REQ_set_pubkey(r, pub) == 1, err, MK_ERR_CRYPTO, "hostile: pubkey");
    X509V3_set_ctx(&v3, NULL, NULL, r, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
    MK_GUARD_OSSL(ext != NULL && sk_X509_EXTENSION_push(exts, ext) > 0, err, MK_ERR_CRYPTO,
                  "hostile: SAN");
    ext = NULL;
    MK_GUARD_OSSL(X509_REQ_add_extensions(r, exts) == 1, err, MK_ERR_CRYPTO, "hostile: exts");
    MK_GUARD_OSSL(X509_REQ_sign(r, signer, EVP_sha256()) > 0, err, MK_ERR_CRYPTO,
                  "hostile: X509_REQ_sign");
    ret = r;
    r = NULL;
out:
    X509_EXTENSION_free(ext);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_REQ_free(r);
    return ret;
}

/*
 * ---- the attacks ----
 * Each returns 0 when it got through (the key process did what was asked, a file was written)
 * and -1 with err saying what stopped it: a refusal of the key process's policy (MK_ERR_REFUSED,
 * ext_code the reason), or for attacks on the sandbox the errno of the refused call.
 */

/* A CSR of the attacker's own key for CN=kafka-admin, one year. */
static int atk_issue_foreign_key(struct hostile *h, struct mk_err *err)
{
    X509_REQ *csr = forge_csr(h->evil_key, NULL, "kafka-admin",
                              "DNS:kafka-admin.example.com,DNS:*.example.com", h->evil_key, err);
    int rc = csr != NULL ? send_issue(h, csr, 365 * DAY, err) : -1;

    X509_REQ_free(csr);
    return rc;
}

/* The key process's fresh key under another subject or more SANs (the attacker cannot sign the
 * CSR with that key: the policy must refuse before any signature check would). */
static int issue_reshaped(struct hostile *h, const char *cn, const char *extra_san,
                          struct mk_err *err)
{
    X509_REQ *csr = prepared_csr(h, err);
    X509_REQ *forged = NULL;
    char san[2048];
    int rc = -1;

    MK_GUARD_PTR(csr);
    csr_san_text(csr, extra_san, san, sizeof(san));
    MK_GUARD_PTR(forged = forge_csr(X509_REQ_get0_pubkey(csr),
                                    cn != NULL ? NULL : X509_REQ_get_subject_name(csr), cn,
                                    san[0] != '\0' ? san : "DNS:kafka-admin", h->evil_key, err));
    rc = send_issue(h, forged, h->cc->validity_seconds, err);
out:
    X509_REQ_free(forged);
    X509_REQ_free(csr);
    return rc;
}

static int atk_issue_admin_cn(struct hostile *h, struct mk_err *err)
{
    return issue_reshaped(h, "kafka-admin", NULL, err);
}

static int atk_issue_extra_san(struct hostile *h, struct mk_err *err)
{
    return issue_reshaped(h, NULL, "DNS:kafka-admin.example.com", err);
}

/* The genuine CSR, for longer than configured. */
static int issue_for(struct hostile *h, long validity, struct mk_err *err)
{
    X509_REQ *csr = prepared_csr(h, err);
    int rc = csr != NULL ? send_issue(h, csr, validity, err) : -1;

    X509_REQ_free(csr);
    return rc;
}

static int atk_issue_one_year(struct hostile *h, struct mk_err *err)
{
    return issue_for(h, 365 * DAY, err);
}

static int atk_issue_ten_years(struct hostile *h, struct mk_err *err)
{
    return issue_for(h, 3650 * DAY, err);
}

/* The genuine CSR twice: a second certificate for one key (the first is legitimate). */
static int atk_issue_replay(struct hostile *h, struct mk_err *err)
{
    X509_REQ *csr = prepared_csr(h, err);
    int rc = -1;

    MK_GUARD_PTR(csr);
    if (send_issue(h, csr, h->cc->validity_seconds, err) != 0) {
        mk_err_prefix(err, "hostile: the genuine first CA_ISSUE failed");
        goto out;
    }
    rc = send_issue(h, csr, h->cc->validity_seconds, err);
out:
    X509_REQ_free(csr);
    return rc;
}

/* KEY_STORE of a leaf forged under the attacker's root: for the prepared key (or the
 * attacker's when foreign), reshaped by cn/extra_san/eku. */
static int store_forged(struct hostile *h, int foreign, const char *cn, const char *extra_san,
                        const char *eku, struct mk_err *err)
{
    X509_REQ *csr = prepared_csr(h, err);
    X509 *leaf = NULL;
    int rc = -1;

    MK_GUARD_PTR(csr);
    MK_GUARD_PTR(leaf = forge_leaf(h, foreign ? h->evil_key : X509_REQ_get0_pubkey(csr), csr, cn,
                                   extra_san, eku, err));
    rc = send_store(h, leaf, h->evil_root, NULL, err);
out:
    X509_free(leaf);
    X509_REQ_free(csr);
    return rc;
}

/* The leaf is right in every way but its chain: the attacker's root (issue 16, item 3). */
static int atk_store_attacker_root(struct hostile *h, struct mk_err *err)
{
    return store_forged(h, 0, NULL, NULL, "clientAuth", err);
}

static int atk_store_foreign_key(struct hostile *h, struct mk_err *err)
{
    return store_forged(h, 1, NULL, NULL, "clientAuth", err);
}

static int atk_store_admin_cn(struct hostile *h, struct mk_err *err)
{
    return store_forged(h, 0, "kafka-admin", NULL, "clientAuth", err);
}

static int atk_store_extra_san(struct hostile *h, struct mk_err *err)
{
    return store_forged(h, 0, NULL, "DNS:kafka-admin.example.com", "clientAuth", err);
}

static int atk_store_no_client_auth(struct hostile *h, struct mk_err *err)
{
    return store_forged(h, 0, NULL, NULL, "serverAuth", err);
}

/* Roll back: the current (genuine) leaf stored again over a fresh prepared key. */
static int atk_store_old_leaf(struct hostile *h, struct mk_err *err)
{
    struct agent_ipc_field f[1] = {agent_ipc_s(h->cc->name)};
    struct agent_ipc_msg m = {0};
    STACK_OF(X509) *certs = NULL;
    X509_REQ *csr = NULL;
    int rc = -1;

    MK_GUARD(call(h, AGENT_IPC_KEY_LOAD, f, 1, &m, err));
    MK_ENSURE(m.n >= 2, err, MK_ERR_INVALID, "hostile: KEY_LOAD reply");
    MK_GUARD_PTR(certs = pki_certs_from_mem(m.f[1].data, m.f[1].len, err));
    MK_GUARD_PTR(csr = prepared_csr(h, err));
    rc = send_store(h, sk_X509_value(certs, 0), NULL, NULL, err);
out:
    X509_REQ_free(csr);
    sk_X509_pop_free(certs, X509_free);
    agent_ipc_msg_clear(&m);
    return rc;
}

/* KEY_STORE with no key prepared (after KEY_DROP). */
static int atk_store_unprepared(struct hostile *h, struct mk_err *err)
{
    struct agent_ipc_field f[1] = {agent_ipc_s(h->cc->name)};
    X509_REQ *csr = prepared_csr(h, err);
    X509 *leaf = NULL;
    int rc = -1;

    MK_GUARD_PTR(csr);
    MK_GUARD(call(h, AGENT_IPC_KEY_DROP, f, 1, NULL, err));
    MK_GUARD_PTR(leaf =
                     forge_leaf(h, X509_REQ_get0_pubkey(csr), csr, NULL, NULL, "clientAuth", err));
    rc = send_store(h, leaf, h->evil_root, NULL, err);
out:
    X509_free(leaf);
    X509_REQ_free(csr);
    return rc;
}

/* CA_REVOKE of the certificate in use: the host loses access to Kafka at the next handshake. */
static int atk_revoke_current(struct hostile *h, struct mk_err *err)
{
    struct agent_ipc_field f[2];
    struct agent_ipc_msg m = {0};
    int rc = -1;

    f[0] = agent_ipc_s(h->cc->name);
    MK_GUARD(call(h, AGENT_IPC_KEY_LOAD, f, 1, &m, err));
    MK_ENSURE(m.n >= 2, err, MK_ERR_INVALID, "hostile: KEY_LOAD reply");
    f[0] = m.f[1];
    f[1] = agent_ipc_s("KEY_COMPROMISE");
    rc = call(h, AGENT_IPC_CA_REVOKE, f, 2, NULL, err);
out:
    agent_ipc_msg_clear(&m);
    return rc;
}

/* The table: name (what MSKPKI_TEST_HOSTILE and the log say) and the attack.  New attacks go
 * at the end, with a row in docs/design.md's threat model and a case in test_hostile.py. */
static const struct hostile_attack {
    const char *name;
    int (*run)(struct hostile *h, struct mk_err *err);
} attacks[] = {
    {"issue-foreign-key", atk_issue_foreign_key},
    {"issue-admin-cn", atk_issue_admin_cn},
    {"issue-extra-san", atk_issue_extra_san},
    {"issue-one-year", atk_issue_one_year},
    {"issue-ten-years", atk_issue_ten_years},
    {"issue-replay", atk_issue_replay},
    {"store-attacker-root", atk_store_attacker_root},
    {"store-foreign-key", atk_store_foreign_key},
    {"store-admin-cn", atk_store_admin_cn},
    {"store-extra-san", atk_store_extra_san},
    {"store-no-client-auth", atk_store_no_client_auth},
    {"store-old-leaf", atk_store_old_leaf},
    {"store-unprepared", atk_store_unprepared},
    {"revoke-current", atk_revoke_current},
};

static void run_one(struct hostile *h, const struct hostile_attack *a)
{
    struct mk_err err;
    char msg[sizeof(err.msg)];
    int rc;

    mk_err_clear(&err);
    rc = a->run(h, &err);
    if (rc == 0) {
        mk_log(MK_LOG_ERROR, "hostile", "attack=%s result=accepted name=%s", a->name, h->cc->name);
        return;
    }
    if (err.code == MK_ERR_REFUSED && h->ctx->metrics != NULL) {
        agent_metrics_refusal(h->ctx->metrics, h->cc->name, err.ext_code);
    }
    mk_log_quotable(msg, sizeof(msg), err.msg);
    mk_log(MK_LOG_WARN, "hostile", "attack=%s result=refused name=%s code=%s reason=%s msg=\"%s\"",
           a->name, h->cc->name, mk_code_str(err.code),
           err.ext_code[0] != '\0' ? err.ext_code : "-", msg);
}

void agent_hostile_run(struct agent_ctx *ctx, const char *spec)
{
    struct hostile h;
    struct mk_err err;
    char *copy = NULL;
    char *save = NULL;
    size_t ran = 0;

    if (spec == NULL || spec[0] == '\0' || ctx->cfg->n_certs == 0) {
        return;
    }
    memset(&h, 0, sizeof(h));
    h.ctx = ctx;
    h.cc = &ctx->cfg->certs[0];
    h.evil_key = pki_key_generate(PKI_KEY_EC_P256, &err);
    if (h.evil_key != NULL) {
        h.evil_root = forge_cert(h.evil_key, NULL, "Attacker Root CA", NULL, NULL, NULL, h.evil_key,
                                 3650 * DAY, &err);
    }
    copy = strdup(spec);
    if (h.evil_root == NULL || copy == NULL) {
        mk_log(MK_LOG_ERROR, "hostile.setup_failed", "msg=\"%s\"", copy == NULL ? "" : err.msg);
        goto out;
    }
    for (char *item = strtok_r(copy, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save)) {
        size_t found = 0;
        for (size_t i = 0; i < sizeof(attacks) / sizeof(attacks[0]); i++) {
            if (strcmp(item, "all") == 0 || strcmp(item, attacks[i].name) == 0) {
                run_one(&h, &attacks[i]);
                found++;
                ran++;
            }
        }
        if (found == 0) {
            mk_log(MK_LOG_ERROR, "hostile.unknown", "attack=%s", item);
        }
    }
out:
    mk_log(MK_LOG_INFO, "hostile.done", "attacks=%zu", ran);
    free(copy);
    X509_free(h.evil_root);
    EVP_PKEY_free(h.evil_key);
}

#endif
