/* keypolicy.c: the key process's checks of CA_ISSUE and KEY_STORE (see keypolicy.h). */
#include "agent/keypolicy.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "pki/cert.h"
#include "pki/log.h"
#include "pki/store.h"

static const char *const reason_names[AGENT_KEYPOLICY__MAX] = {
    [AGENT_KEYPOLICY_KEY] = "key",
    [AGENT_KEYPOLICY_REPLAY] = "replay",
    [AGENT_KEYPOLICY_SUBJECT] = "subject",
    [AGENT_KEYPOLICY_SAN] = "san",
    [AGENT_KEYPOLICY_VALIDITY] = "validity",
    [AGENT_KEYPOLICY_CLIENT_AUTH] = "client_auth",
    [AGENT_KEYPOLICY_CA_FLAG] = "ca_flag",
    [AGENT_KEYPOLICY_CHAIN] = "chain",
    [AGENT_KEYPOLICY_ANCHOR_CHANGE] = "anchor_change",
    [AGENT_KEYPOLICY_REVOKE_CURRENT] = "revoke_current",
};

const char *agent_keypolicy_reason_name(int reason)
{
    if (reason < 0 || reason >= AGENT_KEYPOLICY__MAX) {
        return "unknown";
    }
    return reason_names[reason];
}

void agent_keypolicy_refuse(struct mk_err *err, enum agent_keypolicy_reason reason, const char *fmt,
                            ...)
{
    char msg[sizeof(err->msg)];
    va_list ap;

    if (err == NULL) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    mk_err_set(err, MK_ERR_REFUSED, "%s", msg);
    snprintf(err->ext_code, sizeof(err->ext_code), "%s", agent_keypolicy_reason_name(reason));
}

void agent_keypolicy_log(const char *op, const char *name, const struct mk_err *err)
{
    char msg[sizeof(err->msg)];

    mk_log_quotable(msg, sizeof(msg), err->msg);
    mk_log(MK_LOG_WARN, "keyproc.refused", "op=%s name=%s reason=%s msg=\"%s\"", op,
           name != NULL ? name : "-", err->ext_code[0] != '\0' ? err->ext_code : "-", msg);
}

/* ---- subject and SANs ---- */

/* The subject of spec, built as pki_csr_new builds it.  Caller frees with X509_NAME_free(). */
static X509_NAME *spec_name(const struct pki_csr_spec *spec, struct mk_err *err)
{
    static const char *const fields[] = {"C", "ST", "L", "O", "OU", "CN"};
    const char *values[] = {spec->country,
                            spec->state,
                            spec->locality,
                            spec->organization,
                            spec->organizational_unit,
                            spec->common_name};
    X509_NAME *name = X509_NAME_new();
    X509_NAME *ret = NULL;

    MK_GUARD_OSSL(name != NULL, err, MK_ERR_NOMEM, "keys: X509_NAME_new");
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        if (values[i] == NULL || values[i][0] == '\0') {
            continue;
        }
        MK_GUARD_OSSL(X509_NAME_add_entry_by_txt(name, fields[i], MBSTRING_UTF8,
                                                 (const unsigned char *)values[i], -1, -1, 0) == 1,
                      err, MK_ERR_INVALID, "keys: X509_NAME_add_entry_by_txt(%s)", fields[i]);
    }
    ret = name;
    name = NULL;
out:
    X509_NAME_free(name);
    return ret;
}

/* 1 when entries a and b have the same type and the same value as UTF-8 bytes.  Stricter than
 * X509_NAME_cmp, which folds case and spaces: Kafka maps principals from the exact string. */
static int entry_equal(const X509_NAME_ENTRY *a, const X509_NAME_ENTRY *b)
{
    unsigned char *ua = NULL;
    unsigned char *ub = NULL;
    int la;
    int lb;
    int eq = 0;

    if (OBJ_cmp(X509_NAME_ENTRY_get_object(a), X509_NAME_ENTRY_get_object(b)) != 0) {
        return 0;
    }
    la = ASN1_STRING_to_UTF8(&ua, X509_NAME_ENTRY_get_data(a));
    lb = ASN1_STRING_to_UTF8(&ub, X509_NAME_ENTRY_get_data(b));
    eq = la >= 0 && la == lb && memcmp(ua, ub, (size_t)la) == 0;
    OPENSSL_free(ua);
    OPENSSL_free(ub);
    ERR_clear_error();
    return eq;
}

/* 0 when name is exactly the configured subject, else a refusal naming both. */
static int check_subject(const X509_NAME *name, const struct pki_csr_spec *spec, const char *what,
                         struct mk_err *err)
{
    X509_NAME *want = NULL;
    char got_s[256];
    char want_s[256];
    int same;
    int rc = -1;

    MK_GUARD_PTR(want = spec_name(spec, err));
    same = X509_NAME_entry_count(name) == X509_NAME_entry_count(want);
    for (int i = 0; same && i < X509_NAME_entry_count(want); i++) {
        same = entry_equal(X509_NAME_get_entry(name, i), X509_NAME_get_entry(want, i));
    }
    if (!same) {
        X509_NAME_oneline(name, got_s, sizeof(got_s));
        X509_NAME_oneline(want, want_s, sizeof(want_s));
        agent_keypolicy_refuse(err, AGENT_KEYPOLICY_SUBJECT,
                               "keys: %s subject %s is not the configured %s", what, got_s, want_s);
        goto out;
    }
    rc = 0;
out:
    X509_NAME_free(want);
    return rc;
}

/* The configured value a general name must equal, by type; NULL for a type never configured. */
struct san_want {
    int type;
    const char *value;
    int used;
};

/* Fills w (room for every configured SAN) and returns the count. */
static size_t san_wants(const struct pki_csr_spec *spec, struct san_want *w)
{
    size_t n = 0;

    for (size_t i = 0; i < spec->n_dns_names; i++) {
        w[n++] = (struct san_want){GEN_DNS, spec->dns_names[i], 0};
    }
    for (size_t i = 0; i < spec->n_uris; i++) {
        w[n++] = (struct san_want){GEN_URI, spec->uris[i], 0};
    }
    for (size_t i = 0; i < spec->n_emails; i++) {
        w[n++] = (struct san_want){GEN_EMAIL, spec->emails[i], 0};
    }
    return n;
}

static const char *gen_type_name(int type)
{
    switch (type) {
    case GEN_DNS:
        return "DNS";
    case GEN_URI:
        return "URI";
    case GEN_EMAIL:
        return "email";
    case GEN_IPADD:
        return "IP";
    case GEN_DIRNAME:
        return "dirName";
    case GEN_OTHERNAME:
        return "otherName";
    default:
        return "other";
    }
}

/*
 * 0 when gens (NULL = no SAN extension) holds exactly the configured SANs, each once, in any
 * order: a missing one, an extra one, one of another type (IP, otherName...) or a duplicate is
 * a refusal.  Values compare as exact bytes.
 */
static int check_sans(const GENERAL_NAMES *gens, const struct pki_csr_spec *spec, const char *what,
                      struct mk_err *err)
{
    size_t total = spec->n_dns_names + spec->n_uris + spec->n_emails;
    struct san_want *w = calloc(total + 1, sizeof(*w));
    size_t n;
    int rc = -1;

    MK_ENSURE(w != NULL, err, MK_ERR_NOMEM, "keys: out of memory");
    n = san_wants(spec, w);
    for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        int type = 0;
        const ASN1_STRING *s = GENERAL_NAME_get0_value(g, &type);
        size_t k;

        for (k = 0; k < n; k++) {
            size_t len = strlen(w[k].value);
            if (!w[k].used && w[k].type == type && s != NULL &&
                (size_t)ASN1_STRING_length(s) == len &&
                memcmp(ASN1_STRING_get0_data(s), w[k].value, len) == 0) {
                w[k].used = 1;
                break;
            }
        }
        if (k == n) {
            int printable = type == GEN_DNS || type == GEN_URI || type == GEN_EMAIL;
            int len = printable && s != NULL ? ASN1_STRING_length(s) : 0;
            agent_keypolicy_refuse(err, AGENT_KEYPOLICY_SAN,
                                   "keys: %s has subjectAltName %s:%.*s, which is not configured",
                                   what, gen_type_name(type), len > 200 ? 200 : len,
                                   len > 0 ? (const char *)ASN1_STRING_get0_data(s) : "");
            goto out;
        }
    }
    for (size_t k = 0; k < n; k++) {
        if (!w[k].used) {
            agent_keypolicy_refuse(err, AGENT_KEYPOLICY_SAN,
                                   "keys: %s lacks the configured subjectAltName %s:%s", what,
                                   gen_type_name(w[k].type), w[k].value);
            goto out;
        }
    }
    rc = 0;
out:
    free(w);
    return rc;
}

/* The SANs of a CSR's extension request: *gens NULL when there is none.  More than one SAN
 * extension is a refusal (which would a CA take?). */
static int csr_sans(X509_REQ *csr, GENERAL_NAMES **gens, struct mk_err *err)
{
    STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(csr);
    int idx = X509v3_get_ext_by_NID(exts, NID_subject_alt_name, -1);
    int rc = -1;

    *gens = NULL;
    if (idx >= 0) {
        if (X509v3_get_ext_by_NID(exts, NID_subject_alt_name, idx) >= 0) {
            agent_keypolicy_refuse(err, AGENT_KEYPOLICY_SAN,
                                   "keys: the CSR has more than one subjectAltName extension");
            goto out;
        }
        *gens = X509V3_EXT_d2i(X509v3_get_ext(exts, idx));
        if (*gens == NULL) {
            agent_keypolicy_refuse(err, AGENT_KEYPOLICY_SAN,
                                   "keys: the CSR's subjectAltName does not parse");
            ERR_clear_error();
            goto out;
        }
    }
    rc = 0;
out:
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    return rc;
}

/* ---- CA_ISSUE ---- */

int agent_keypolicy_check_csr(X509_REQ *csr, EVP_PKEY *key, const struct pki_csr_spec *spec,
                              long validity, long cert_validity, long ca_max_validity,
                              struct mk_err *err)
{
    GENERAL_NAMES *gens = NULL;
    EVP_PKEY *pub;
    int rc = -1;

    pub = X509_REQ_get0_pubkey(csr);
    MK_ENSURE(pub != NULL, err, MK_ERR_INVALID, "keys: the CSR has no usable public key");
    if (key == NULL || EVP_PKEY_eq(pub, key) != 1) {
        ERR_clear_error();
        agent_keypolicy_refuse(err, AGENT_KEYPOLICY_KEY,
                               "keys: the CSR's public key was not made by the key process for "
                               "this certificate");
        goto out;
    }
    MK_GUARD(check_subject(X509_REQ_get_subject_name(csr), spec, "the CSR's", err));
    MK_GUARD(csr_sans(csr, &gens, err));
    MK_GUARD(check_sans(gens, spec, "the CSR", err));
    if (validity <= 0 || validity > cert_validity) {
        agent_keypolicy_refuse(err, AGENT_KEYPOLICY_VALIDITY,
                               "keys: requested validity %ld s is not within the configured "
                               "%ld s",
                               validity, cert_validity);
        goto out;
    }
    if (ca_max_validity > 0 && validity > ca_max_validity) {
        agent_keypolicy_refuse(err, AGENT_KEYPOLICY_VALIDITY,
                               "keys: requested validity %ld s is longer than the local CA's "
                               "max_validity %ld s",
                               validity, ca_max_validity);
        goto out;
    }
    rc = 0;
out:
    GENERAL_NAMES_free(gens);
    return rc;
}

/* ---- KEY_STORE ---- */

X509 *agent_keypolicy_chain_top(STACK_OF(X509) * chain)
{
    int n = sk_X509_num(chain);

    return n > 0 ? sk_X509_value(chain, n - 1) : NULL;
}

/* 1 when cert is one of anchors (same DER). */
static int is_anchor(X509 *cert, STACK_OF(X509) * anchors)
{
    for (int i = 0; cert != NULL && i < sk_X509_num(anchors); i++) {
        if (X509_cmp(cert, sk_X509_value(anchors, i)) == 0) {
            return 1;
        }
    }
    return 0;
}

/* SHA-256 fingerprint of cert as hex (or "-"), for the log. */
static void fingerprint(X509 *cert, char *buf, size_t size)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;

    snprintf(buf, size, "-");
    if (cert == NULL || X509_digest(cert, EVP_sha256(), md, &len) != 1) {
        return;
    }
    for (unsigned int i = 0; i < len && (size_t)i * 2 + 3 <= size; i++) {
        snprintf(buf + i * 2, size - i * 2, "%02X", md[i]);
    }
}

/* The anchor among anchors the chain verifies to (a new reference), or NULL. */
static X509 *verified_anchor(const struct agent_keypolicy_leaf *in)
{
    STACK_OF(X509) *one = sk_X509_new_null();
    X509 *found = NULL;
    struct mk_err ignored;

    for (int i = 0; one != NULL && found == NULL && i < sk_X509_num(in->anchors); i++) {
        X509 *a = sk_X509_value(in->anchors, i);
        if (sk_X509_push(one, a) <= 0) {
            break;
        }
        if (pki_cert_verify_client(in->leaf, in->chain, one, in->now, &ignored) == 0 &&
            X509_up_ref(a) == 1) {
            found = a;
        }
        (void)sk_X509_pop(one);
    }
    sk_X509_free(one);
    return found;
}

int agent_keypolicy_check_leaf(const struct agent_keypolicy_leaf *in, X509 **anchor,
                               struct mk_err *err)
{
    GENERAL_NAMES *gens = NULL;
    struct mk_err verr;
    X509 *used = NULL;
    int crit = 0;
    int rc = -1;

    if (in->key == NULL || pki_cert_matches_key(in->leaf, in->key, &verr) != 0) {
        agent_keypolicy_refuse(err, AGENT_KEYPOLICY_KEY,
                               "keys: the certificate's public key is not the key the key "
                               "process prepared for it");
        goto out;
    }
    MK_GUARD(check_subject(X509_get_subject_name(in->leaf), in->spec, "the certificate's", err));
    gens = X509_get_ext_d2i(in->leaf, NID_subject_alt_name, &crit, NULL);
    if (gens == NULL && crit != -1) {
        /* -2: more than one SAN extension; otherwise one that does not parse. */
        agent_keypolicy_refuse(err, AGENT_KEYPOLICY_SAN,
                               "keys: the certificate's subjectAltName is duplicated or does not "
                               "parse");
        goto out;
    }
    MK_GUARD(check_sans(gens, in->spec, "the certificate", err));
    /* No extendedKeyUsage at all means any purpose (RFC 5280 4.2.1.12), and TLS stacks take
     * it for a client (moto issues such certificates; AWS's client templates set clientAuth):
     * refused is an EKU that leaves clientAuth out. */
    if ((X509_get_extension_flags(in->leaf) & EXFLAG_XKUSAGE) != 0 &&
        (X509_get_extended_key_usage(in->leaf) & XKU_SSL_CLIENT) == 0) {
        agent_keypolicy_refuse(err, AGENT_KEYPOLICY_CLIENT_AUTH,
                               "keys: the certificate's extendedKeyUsage lacks clientAuth");
        goto out;
    }
    if (X509_check_ca(in->leaf) != 0) {
        agent_keypolicy_refuse(err, AGENT_KEYPOLICY_CA_FLAG,
                               "keys: the certificate is a CA certificate, not a client one");
        goto out;
    }
    used = verified_anchor(in);
    if (used == NULL) {
        X509 *top = agent_keypolicy_chain_top(in->chain);
        char got[80];
        char want[80];

        fingerprint(top, got, sizeof(got));
        fingerprint(sk_X509_value(in->anchors, 0), want, sizeof(want));
        if (in->kind == AGENT_KEYPOLICY_ANCHOR_PINNED && top != NULL &&
            !is_anchor(top, in->anchors) && X509_check_issued(top, top) == X509_V_OK) {
            agent_keypolicy_refuse(err, AGENT_KEYPOLICY_ANCHOR_CHANGE,
                                   "keys: the chain ends in CA certificate sha256 %s, not the "
                                   "pinned %s: name the new one in ca.aws_pca.trust_anchor_file "
                                   "to accept it",
                                   got, want);
        } else {
            (void)!pki_cert_verify_client(in->leaf, in->chain, in->anchors, in->now, &verr);
            agent_keypolicy_refuse(err, AGENT_KEYPOLICY_CHAIN,
                                   "keys: the chain (top sha256 %s) does not verify to the trust "
                                   "anchor (sha256 %s): %s",
                                   got, want, verr.msg);
        }
        goto out;
    }
    if (anchor != NULL) {
        *anchor = used;
        used = NULL;
    }
    rc = 0;
out:
    X509_free(used);
    GENERAL_NAMES_free(gens);
    return rc;
}

int agent_keypolicy_check_revoke(X509 *cert, X509 *current, struct mk_err *err)
{
    if (current != NULL && X509_cmp(cert, current) == 0) {
        agent_keypolicy_refuse(err, AGENT_KEYPOLICY_REVOKE_CURRENT,
                               "keys: the certificate to revoke is the one in use");
        return -1;
    }
    return 0;
}

/* ---- anchors for aws-pca ---- */

int agent_keypolicy_pin_path(const char *directory, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%s/.trust-anchor.pem", directory);

    return (n < 0 || (size_t)n >= size) ? -1 : 0;
}

int agent_keypolicy_anchors(const char *anchor_file, const char *pin_path, STACK_OF(X509) * current,
                            STACK_OF(X509) * chain, STACK_OF(X509) * *anchors,
                            enum agent_keypolicy_anchor_kind *kind, struct mk_err *err)
{
    STACK_OF(X509) *s = NULL;
    X509 *top;
    int rc = -1;

    if (anchor_file != NULL) {
        s = pki_certs_load_file(anchor_file, err);
        if (s == NULL) {
            mk_err_prefix(err, "keys: ca.aws_pca.trust_anchor_file");
            goto out;
        }
        *kind = AGENT_KEYPOLICY_ANCHOR_CONFIG;
    } else if (access(pin_path, F_OK) == 0) {
        s = pki_certs_load_file(pin_path, err);
        if (s == NULL) {
            mk_err_prefix(err, "keys: pinned trust anchor");
            goto out;
        }
        *kind = AGENT_KEYPOLICY_ANCHOR_PINNED;
    } else {
        /* Trust on first use: the chain stored before, else the one offered, which must at
         * least verify to its own top. */
        top = agent_keypolicy_chain_top(current);
        if (top == NULL) {
            top = agent_keypolicy_chain_top(chain);
        }
        if (top == NULL) {
            agent_keypolicy_refuse(err, AGENT_KEYPOLICY_CHAIN,
                                   "keys: the chain is empty: nothing to pin as trust anchor");
            goto out;
        }
        s = sk_X509_new_null();
        MK_ENSURE(s != NULL, err, MK_ERR_NOMEM, "keys: out of memory");
        MK_ENSURE(X509_up_ref(top) == 1, err, MK_ERR_CRYPTO, "keys: X509_up_ref");
        if (sk_X509_push(s, top) <= 0) {
            X509_free(top);
            MK_ENSURE(0, err, MK_ERR_NOMEM, "keys: out of memory");
        }
        *kind = AGENT_KEYPOLICY_ANCHOR_FIRST_USE;
    }
    *anchors = s;
    s = NULL;
    rc = 0;
out:
    sk_X509_pop_free(s, X509_free);
    return rc;
}

int agent_keypolicy_pin_write(const char *pin_path, const char *name, X509 *anchor,
                              enum agent_keypolicy_anchor_kind kind, struct mk_err *err)
{
    STACK_OF(X509) *old = NULL;
    struct mk_err ignored;
    char fp[80];
    char *pem = NULL;
    size_t len = 0;
    int rc = -1;

    if (kind == AGENT_KEYPOLICY_ANCHOR_LOCAL) {
        return 0;
    }
    if (kind == AGENT_KEYPOLICY_ANCHOR_CONFIG && access(pin_path, F_OK) == 0) {
        old = pki_certs_load_file(pin_path, &ignored);
        if (old != NULL && sk_X509_num(old) == 1 && is_anchor(anchor, old)) {
            rc = 0;
            goto out;
        }
    } else if (kind == AGENT_KEYPOLICY_ANCHOR_PINNED) {
        return 0;
    }
    MK_GUARD_PTR(pem = pki_certs_to_pem(anchor, NULL, &len, err));
    MK_GUARD(pki_store_write_file(pin_path, pem, len, 0644, (uid_t)-1, (gid_t)-1, err));
    fingerprint(anchor, fp, sizeof(fp));
    mk_log(MK_LOG_INFO, "keyproc.anchor_pinned", "name=%s sha256=%s source=%s path=%s", name, fp,
           kind == AGENT_KEYPOLICY_ANCHOR_CONFIG ? "config" : "first_use", pin_path);
    rc = 0;
out:
    sk_X509_pop_free(old, X509_free);
    free(pem);
    return rc;
}
