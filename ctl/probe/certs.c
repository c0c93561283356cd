/* probe_certs.c: throw-away identities for the negative probe cases (see probe_certs.h). */
#include "ctl/probe/certs.h"

#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "ctl/output.h"

#define DAY (24L * 3600L)

static EVP_PKEY *new_key(struct mk_err *err)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    if (key == NULL) {
        ctl_err_ossl(err, MK_ERR_CRYPTO, "EVP_EC_gen P-256");
    }
    return key;
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value, struct mk_err *err)
{
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    int ok = ext != NULL && X509_add_ext(cert, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    if (!ok) {
        ctl_err_ossl(err, MK_ERR_CRYPTO, "adding extension %s", OBJ_nid2sn(nid));
        return -1;
    }
    return 0;
}

/* A certificate for key with CN cn, valid [now+from, now+to], signed by issuer_key (self-signed
 * when issuer is NULL).  Caller frees with X509_free(). */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, long from,
                       long to, int is_ca, struct mk_err *err)
{
    X509 *cert = X509_new();
    X509 *ret = NULL;
    BIGNUM *bn = BN_new();
    unsigned char serial[16];
    CTL_GUARD_OSSL(cert != NULL && bn != NULL, err, MK_ERR_NOMEM, "X509_new");
    CTL_GUARD_OSSL(RAND_bytes(serial, sizeof(serial)) == 1, err, MK_ERR_CRYPTO, "RAND_bytes");
    serial[0] &= 0x7f; /* positive, RFC 5280 section 4.1.2.2 */
    CTL_GUARD_OSSL(BN_bin2bn(serial, sizeof(serial), bn) != NULL &&
                      BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != NULL,
                  err, MK_ERR_CRYPTO, "serial");
    X509_NAME *name = X509_get_subject_name(cert);
    CTL_GUARD_OSSL(X509_set_version(cert, 2) == 1 &&
                      X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                                                 (const unsigned char *)"mskpki probe", -1, -1,
                                                 0) == 1 &&
                      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                                 (const unsigned char *)cn, -1, -1, 0) == 1,
                  err, MK_ERR_CRYPTO, "subject");
    CTL_GUARD_OSSL(
        X509_set_issuer_name(cert, issuer != NULL ? X509_get_subject_name(issuer) : name) == 1, err,
        MK_ERR_CRYPTO, "issuer");
    CTL_GUARD_OSSL(X509_gmtime_adj(X509_getm_notBefore(cert), from) != NULL &&
                      X509_gmtime_adj(X509_getm_notAfter(cert), to) != NULL,
                  err, MK_ERR_CRYPTO, "validity");
    CTL_GUARD_OSSL(X509_set_pubkey(cert, key) == 1, err, MK_ERR_CRYPTO, "X509_set_pubkey");
    X509 *ext_issuer = issuer != NULL ? issuer : cert;
    if (is_ca) {
        MK_GUARD(add_ext(cert, ext_issuer, NID_basic_constraints, "critical,CA:TRUE", err));
        MK_GUARD(add_ext(cert, ext_issuer, NID_key_usage, "critical,keyCertSign,cRLSign", err));
    } else {
        MK_GUARD(add_ext(cert, ext_issuer, NID_basic_constraints, "critical,CA:FALSE", err));
        MK_GUARD(add_ext(cert, ext_issuer, NID_key_usage, "critical,digitalSignature", err));
        MK_GUARD(add_ext(cert, ext_issuer, NID_ext_key_usage, "clientAuth", err));
    }
    MK_GUARD(add_ext(cert, ext_issuer, NID_subject_key_identifier, "hash", err));
    if (issuer != NULL) {
        MK_GUARD(add_ext(cert, ext_issuer, NID_authority_key_identifier, "keyid:always", err));
    }
    CTL_GUARD_OSSL(X509_sign(cert, issuer_key, EVP_sha256()) > 0, err, MK_ERR_CRYPTO, "X509_sign");
    ret = cert;
    cert = NULL;
out:
    BN_free(bn);
    X509_free(cert);
    return ret;
}

void probe_identity_clear(struct probe_identity *id)
{
    if (id == NULL) {
        return;
    }
    EVP_PKEY_free(id->key);
    X509_free(id->cert);
    X509_free(id->issuer);
    memset(id, 0, sizeof(*id));
}

int probe_identity_self_signed(struct probe_identity *out, struct mk_err *err)
{
    int rc = -1;
    struct probe_identity id = {0};
    MK_GUARD_PTR(id.key = new_key(err));
    MK_GUARD_PTR(id.cert =
                     make_cert(id.key, "mskpki-probe-untrusted", NULL, id.key, -3600, DAY, 0, err));
    *out = id;
    memset(&id, 0, sizeof(id));
    rc = 0;
out:
    probe_identity_clear(&id);
    return rc;
}

/* A leaf valid [now+from, now+to] under a fresh CA that is valid now. */
static int issued_identity(struct probe_identity *out, const char *cn, long from, long to,
                           struct mk_err *err)
{
    int rc = -1;
    struct probe_identity id = {0};
    EVP_PKEY *ca_key = NULL;
    MK_GUARD_PTR(ca_key = new_key(err));
    MK_GUARD_PTR(id.issuer = make_cert(ca_key, "mskpki-probe-throwaway-ca", NULL, ca_key, -60 * DAY,
                                       60 * DAY, 1, err));
    MK_GUARD_PTR(id.key = new_key(err));
    MK_GUARD_PTR(id.cert = make_cert(id.key, cn, id.issuer, ca_key, from, to, 0, err));
    *out = id;
    memset(&id, 0, sizeof(id));
    rc = 0;
out:
    EVP_PKEY_free(ca_key);
    probe_identity_clear(&id);
    return rc;
}

int probe_identity_expired(struct probe_identity *out, struct mk_err *err)
{
    return issued_identity(out, "mskpki-probe-expired", -30 * DAY, -DAY, err);
}

int probe_identity_not_yet_valid(struct probe_identity *out, struct mk_err *err)
{
    return issued_identity(out, "mskpki-probe-not-yet-valid", DAY, 31 * DAY, err);
}
