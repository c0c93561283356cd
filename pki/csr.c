/*
 * csr.c: PKCS#10 certificate signing requests (RFC 2986) built from a key and a subject/SAN spec.
 *
 * The subject alternative names travel in an extensionRequest attribute (RFC 2985 5.4.2), which
 * is where AWS Private CA and our local CA read them.
 */
#include "pki/csr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "pki/cert.h"
#include "pki/key.h"

/* Adds one RDN entry when value is set. */
static int csr_add_rdn(X509_NAME *name, const char *field, const char *value, struct mk_err *err)
{
    int rc = -1;

    if (value == NULL || value[0] == '\0') {
        return 0;
    }
    MK_GUARD_OSSL(X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
                                             (const unsigned char *)value, -1, -1, 0) == 1,
                  err, MK_ERR_INVALID, "csr: X509_NAME_add_entry_by_txt(%s=\"%s\")", field, value);
    rc = 0;
out:
    return rc;
}

/* Appends one GENERAL_NAME of type (GEN_DNS, GEN_URI, GEN_EMAIL) holding value. */
static int csr_add_gen(GENERAL_NAMES *gens, int type, const char *value, struct mk_err *err)
{
    GENERAL_NAME *g = NULL;
    ASN1_IA5STRING *s = NULL;
    int rc = -1;

    MK_ENSURE(value != NULL && value[0] != '\0', err, MK_ERR_INVALID,
              "csr: empty subject alternative name");
    s = ASN1_IA5STRING_new();
    MK_GUARD_OSSL(s != NULL, err, MK_ERR_NOMEM, "csr: ASN1_IA5STRING_new");
    MK_GUARD_OSSL(ASN1_STRING_set(s, value, -1) == 1, err, MK_ERR_NOMEM, "csr: ASN1_STRING_set");
    g = GENERAL_NAME_new();
    MK_GUARD_OSSL(g != NULL, err, MK_ERR_NOMEM, "csr: GENERAL_NAME_new");
    GENERAL_NAME_set0_value(g, type, s);
    s = NULL;
    MK_GUARD_OSSL(sk_GENERAL_NAME_push(gens, g) > 0, err, MK_ERR_NOMEM,
                  "csr: sk_GENERAL_NAME_push");
    g = NULL;
    rc = 0;
out:
    GENERAL_NAME_free(g);
    ASN1_IA5STRING_free(s);
    return rc;
}

/* Checks a URI SAN looks like scheme:rest (RFC 3986), e.g. spiffe://trust.domain/path. */
static int csr_check_uri(const char *uri, struct mk_err *err)
{
    const char *colon = strchr(uri, ':');

    if (colon == NULL || colon == uri) {
        mk_err_set(err, MK_ERR_INVALID, "csr: URI SAN \"%s\" has no scheme", uri);
        return -1;
    }
    for (const char *p = uri; p < colon; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (p > uri && ((*p >= '0' && *p <= '9') || *p == '+' || *p == '-' || *p == '.')))) {
            mk_err_set(err, MK_ERR_INVALID, "csr: URI SAN \"%s\" has an invalid scheme", uri);
            return -1;
        }
    }
    return 0;
}

/* The SAN extension for spec, or NULL with *none set when the spec has no SAN. */
static GENERAL_NAMES *csr_build_sans(const struct pki_csr_spec *spec, struct mk_err *err)
{
    GENERAL_NAMES *gens = NULL;
    GENERAL_NAMES *ret = NULL;

    gens = GENERAL_NAMES_new();
    MK_GUARD_OSSL(gens != NULL, err, MK_ERR_NOMEM, "csr: GENERAL_NAMES_new");
    for (size_t i = 0; i < spec->n_dns_names; i++) {
        MK_GUARD(csr_add_gen(gens, GEN_DNS, spec->dns_names[i], err));
    }
    for (size_t i = 0; i < spec->n_uris; i++) {
        MK_ENSURE(spec->uris[i] != NULL, err, MK_ERR_INVALID, "csr: empty URI SAN");
        MK_GUARD(csr_check_uri(spec->uris[i], err));
        MK_GUARD(csr_add_gen(gens, GEN_URI, spec->uris[i], err));
    }
    for (size_t i = 0; i < spec->n_emails; i++) {
        MK_ENSURE(spec->emails[i] != NULL && strchr(spec->emails[i], '@') != NULL, err,
                  MK_ERR_INVALID, "csr: email SAN \"%s\" has no '@'",
                  spec->emails[i] != NULL ? spec->emails[i] : "");
        MK_GUARD(csr_add_gen(gens, GEN_EMAIL, spec->emails[i], err));
    }
    ret = gens;
    gens = NULL;
out:
    GENERAL_NAMES_free(gens);
    return ret;
}

X509_REQ *pki_csr_new(EVP_PKEY *key, const struct pki_csr_spec *spec, struct mk_err *err)
{
    X509_REQ *req = NULL;
    X509_REQ *ret = NULL;
    X509_NAME *name = NULL;
    GENERAL_NAMES *gens = NULL;
    X509_EXTENSION *ext = NULL;
    STACK_OF(X509_EXTENSION) *exts = NULL;

    MK_ENSURE(key != NULL && spec != NULL, err, MK_ERR_INVALID, "csr: no key or spec");
    MK_ENSURE(spec->country == NULL || spec->country[0] == '\0' || strlen(spec->country) == 2, err,
              MK_ERR_INVALID, "csr: country \"%s\" must be two letters", spec->country);
    req = X509_REQ_new();
    MK_GUARD_OSSL(req != NULL, err, MK_ERR_NOMEM, "csr: X509_REQ_new");
    /* PKCS#10 version 1 is encoded as 0. */
    MK_GUARD_OSSL(X509_REQ_set_version(req, X509_REQ_VERSION_1) == 1, err, MK_ERR_CRYPTO,
                  "csr: X509_REQ_set_version");

    name = X509_NAME_new();
    MK_GUARD_OSSL(name != NULL, err, MK_ERR_NOMEM, "csr: X509_NAME_new");
    /* Conventional order, most significant first. */
    MK_GUARD(csr_add_rdn(name, "C", spec->country, err));
    MK_GUARD(csr_add_rdn(name, "ST", spec->state, err));
    MK_GUARD(csr_add_rdn(name, "L", spec->locality, err));
    MK_GUARD(csr_add_rdn(name, "O", spec->organization, err));
    MK_GUARD(csr_add_rdn(name, "OU", spec->organizational_unit, err));
    MK_GUARD(csr_add_rdn(name, "CN", spec->common_name, err));
    MK_GUARD_OSSL(X509_REQ_set_subject_name(req, name) == 1, err, MK_ERR_CRYPTO,
                  "csr: X509_REQ_set_subject_name");
    MK_GUARD_OSSL(X509_REQ_set_pubkey(req, key) == 1, err, MK_ERR_CRYPTO,
                  "csr: X509_REQ_set_pubkey");

    gens = csr_build_sans(spec, err);
    MK_GUARD_PTR(gens);
    MK_ENSURE(sk_GENERAL_NAME_num(gens) > 0 || X509_NAME_entry_count(name) > 0, err, MK_ERR_INVALID,
              "csr: neither a subject nor a subject alternative name given");
    if (sk_GENERAL_NAME_num(gens) > 0) {
        ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, gens);
        MK_GUARD_OSSL(ext != NULL, err, MK_ERR_CRYPTO, "csr: X509V3_EXT_i2d(subjectAltName)");
        exts = sk_X509_EXTENSION_new_null();
        MK_GUARD_OSSL(exts != NULL, err, MK_ERR_NOMEM, "csr: sk_X509_EXTENSION_new_null");
        MK_GUARD_OSSL(sk_X509_EXTENSION_push(exts, ext) > 0, err, MK_ERR_NOMEM,
                      "csr: sk_X509_EXTENSION_push");
        ext = NULL;
        MK_GUARD_OSSL(X509_REQ_add_extensions(req, exts) == 1, err, MK_ERR_CRYPTO,
                      "csr: X509_REQ_add_extensions");
    }
    MK_GUARD_OSSL(X509_REQ_sign(req, key, pki_key_digest(key)) > 0, err, MK_ERR_CRYPTO,
                  "csr: X509_REQ_sign");
    ret = req;
    req = NULL;
out:
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_EXTENSION_free(ext);
    GENERAL_NAMES_free(gens);
    X509_NAME_free(name);
    X509_REQ_free(req);
    return ret;
}

int pki_csr_verify(X509_REQ *csr, struct mk_err *err)
{
    EVP_PKEY *pub;
    int rc = -1;

    MK_ENSURE(csr != NULL, err, MK_ERR_INVALID, "csr: no CSR");
    pub = X509_REQ_get0_pubkey(csr);
    MK_GUARD_OSSL(pub != NULL, err, MK_ERR_VERIFY, "csr: X509_REQ_get0_pubkey (no usable key)");
    /* 1 = good signature, 0 = bad, < 0 = could not check: both refusals. */
    MK_GUARD_OSSL(X509_REQ_verify(csr, pub) == 1, err, MK_ERR_VERIFY,
                  "csr: X509_REQ_verify: the CSR signature does not verify");
    rc = 0;
out:
    return rc;
}

char *pki_csr_to_pem(X509_REQ *csr, size_t *len, struct mk_err *err)
{
    BIO *bio = NULL;
    char *ret = NULL;

    MK_ENSURE(csr != NULL, err, MK_ERR_INVALID, "csr: no CSR");
    bio = BIO_new(BIO_s_mem());
    MK_GUARD_OSSL(bio != NULL, err, MK_ERR_NOMEM, "csr: BIO_new");
    MK_GUARD_OSSL(PEM_write_bio_X509_REQ(bio, csr) == 1, err, MK_ERR_CRYPTO,
                  "csr: PEM_write_bio_X509_REQ");
    ret = pki_bio_strdup(bio, len, "csr", err);
out:
    BIO_free(bio);
    return ret;
}

X509_REQ *pki_csr_from_pem(const void *pem, size_t len, struct mk_err *err)
{
    BIO *bio = NULL;
    X509_REQ *req = NULL;

    MK_ENSURE(pem != NULL && len > 0, err, MK_ERR_INVALID, "csr: empty PEM input");
    MK_ENSURE(len <= (size_t)0x7fffffff, err, MK_ERR_INVALID, "csr: PEM input too large");
    bio = BIO_new_mem_buf(pem, (int)len);
    MK_GUARD_OSSL(bio != NULL, err, MK_ERR_NOMEM, "csr: BIO_new_mem_buf");
    ERR_clear_error();
    req = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL);
    MK_GUARD_OSSL(req != NULL, err, MK_ERR_INVALID,
                  "csr: PEM_read_bio_X509_REQ (no CERTIFICATE REQUEST block)");
out:
    BIO_free(bio);
    return req;
}

int pki_csr_fingerprint(X509_REQ *csr, char out[65], struct mk_err *err)
{
    unsigned char *der = NULL;
    unsigned char md[32];
    int dlen;
    int rc = -1;

    MK_ENSURE(csr != NULL, err, MK_ERR_INVALID, "csr: no CSR");
    dlen = i2d_X509_REQ(csr, &der);
    MK_GUARD_OSSL(dlen > 0, err, MK_ERR_CRYPTO, "csr: i2d_X509_REQ");
    MK_GUARD_OSSL(EVP_Digest(der, (size_t)dlen, md, NULL, EVP_sha256(), NULL) == 1, err,
                  MK_ERR_CRYPTO, "csr: EVP_Digest(sha256)");
    for (size_t i = 0; i < sizeof(md); i++) {
        snprintf(out + i * 2, 3, "%02x", md[i]);
    }
    rc = 0;
out:
    OPENSSL_free(der);
    return rc;
}
