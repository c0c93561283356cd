/*
 * cert.c: X.509 certificates and chains: parse (PEM bundle or DER), describe, match against a
 * key, verify for TLS clientAuth at a given time, plan renewal, and print back to PEM.
 */
#include "pki/cert.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "pki/key.h"

/* A certificate bundle larger than this is not something we issue or read. */
#define CERT_FILE_MAX (4 * 1024 * 1024)

/* Reads a whole file into a malloc'ed buffer (certificates are public: no guarded memory).
 * Caller frees with free(). */
static unsigned char *cert_read_file(const char *path, size_t *len, struct mk_err *err)
{
    FILE *fp = NULL;
    unsigned char *buf = NULL;
    unsigned char *ret = NULL;
    size_t n;

    fp = fopen(path, "rbe");
    MK_ENSURE_ERRNO(fp != NULL, err, errno == ENOENT ? MK_ERR_NOTFOUND : MK_ERR_IO, "%s: open",
                    path);
    buf = malloc(CERT_FILE_MAX + 1);
    MK_ENSURE(buf != NULL, err, MK_ERR_NOMEM, "%s: out of memory", path);
    n = fread(buf, 1, CERT_FILE_MAX + 1, fp);
    MK_ENSURE_ERRNO(!ferror(fp), err, MK_ERR_IO, "%s: read", path);
    MK_ENSURE(n <= CERT_FILE_MAX, err, MK_ERR_INVALID, "%s: larger than %d bytes", path,
              CERT_FILE_MAX);
    *len = n;
    ret = buf;
    buf = NULL;
out:
    if (fp != NULL) {
        fclose(fp);
    }
    free(buf);
    return ret;
}

/* True when data starts (after whitespace) like PEM rather than DER (a SEQUENCE, 0x30). */
static int cert_looks_pem(const unsigned char *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n') {
            continue;
        }
        return data[i] != 0x30;
    }
    return 1;
}

STACK_OF(X509) * pki_certs_from_mem(const void *data, size_t len, struct mk_err *err)
{
    STACK_OF(X509) *certs = NULL;
    STACK_OF(X509) *ret = NULL;
    BIO *bio = NULL;
    X509 *x = NULL;

    MK_ENSURE(data != NULL && len > 0, err, MK_ERR_INVALID, "cert: empty input, no certificate");
    MK_ENSURE(len <= (size_t)0x7fffffff, err, MK_ERR_INVALID, "cert: input too large");
    certs = sk_X509_new_null();
    MK_GUARD_OSSL(certs != NULL, err, MK_ERR_NOMEM, "cert: sk_X509_new_null");

    if (!cert_looks_pem(data, len)) {
        const unsigned char *p = data;
        x = d2i_X509(NULL, &p, (long)len);
        MK_GUARD_OSSL(x != NULL, err, MK_ERR_INVALID, "cert: d2i_X509 (DER certificate)");
        MK_ENSURE(p == (const unsigned char *)data + len, err, MK_ERR_INVALID,
                  "cert: %zu trailing bytes after the DER certificate",
                  (size_t)((const unsigned char *)data + len - p));
        MK_GUARD_OSSL(sk_X509_push(certs, x) > 0, err, MK_ERR_NOMEM, "cert: sk_X509_push");
        x = NULL;
    } else {
        bio = BIO_new_mem_buf(data, (int)len);
        MK_GUARD_OSSL(bio != NULL, err, MK_ERR_NOMEM, "cert: BIO_new_mem_buf");
        ERR_clear_error();
        for (;;) {
            x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
            if (x == NULL) {
                unsigned long e = ERR_peek_last_error();
                /* End of input shows up as "no start line": anything else is a broken block. */
                if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
                    ERR_clear_error();
                    break;
                }
                MK_GUARD_OSSL(0, err, MK_ERR_INVALID, "cert: PEM_read_bio_X509 (certificate %d)",
                              sk_X509_num(certs) + 1);
            }
            MK_GUARD_OSSL(sk_X509_push(certs, x) > 0, err, MK_ERR_NOMEM, "cert: sk_X509_push");
            x = NULL;
        }
        MK_ENSURE(sk_X509_num(certs) > 0, err, MK_ERR_INVALID,
                  "cert: no PEM CERTIFICATE block in the input");
    }
    ret = certs;
    certs = NULL;
out:
    X509_free(x);
    BIO_free(bio);
    sk_X509_pop_free(certs, X509_free);
    return ret;
}

STACK_OF(X509) * pki_certs_load_file(const char *path, struct mk_err *err)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    STACK_OF(X509) *certs = NULL;

    buf = cert_read_file(path, &len, err);
    MK_GUARD_PTR(buf);
    certs = pki_certs_from_mem(buf, len, err);
    if (certs == NULL) {
        mk_err_prefix(err, "%s", path);
    }
out:
    free(buf);
    return certs;
}

X509 *pki_cert_load_file(const char *path, struct mk_err *err)
{
    STACK_OF(X509) *certs = pki_certs_load_file(path, err);
    X509 *x;

    if (certs == NULL) {
        return NULL;
    }
    x = sk_X509_shift(certs);
    sk_X509_pop_free(certs, X509_free);
    return x;
}

/* ASN1_TIME to time_t (UTC).  Returns 0 or -1. */
static int cert_asn1_to_time(const ASN1_TIME *t, time_t *out)
{
    struct tm tm;

    memset(&tm, 0, sizeof(tm));
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1) {
        return -1;
    }
    *out = timegm(&tm);
    return 0;
}

/* Appends text to the NUL-terminated buf (size n), truncating rather than overflowing. */
static void cert_append_raw(char *buf, size_t n, const char *text)
{
    size_t used = strlen(buf);
    size_t len = strlen(text);

    if (used + 1 >= n) {
        return;
    }
    if (len > n - 1 - used) {
        len = n - 1 - used;
    }
    memcpy(buf + used, text, len);
    buf[used + len] = '\0';
}

/* Appends ", "-separated text to buf (size n). */
static void cert_append(char *buf, size_t n, const char *text)
{
    if (buf[0] != '\0') {
        cert_append_raw(buf, n, ", ");
    }
    cert_append_raw(buf, n, text);
}

/* X509_NAME in RFC 2253 form into out[n]. */
static int cert_name_str(const X509_NAME *name, char *out, size_t n, struct mk_err *err)
{
    BIO *bio = NULL;
    char *p = NULL;
    long len;
    int rc = -1;

    bio = BIO_new(BIO_s_mem());
    MK_GUARD_OSSL(bio != NULL, err, MK_ERR_NOMEM, "cert: BIO_new");
    MK_GUARD_OSSL(X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) >= 0, err, MK_ERR_INVALID,
                  "cert: X509_NAME_print_ex");
    len = BIO_get_mem_data(bio, &p);
    snprintf(out, n, "%.*s", (int)len, p != NULL ? p : "");
    rc = 0;
out:
    BIO_free(bio);
    return rc;
}

/* An iPAddress SAN (4 or 16 octets) as "IP:a.b.c.d" or "IP:x:x:...". */
static void cert_ip_str(const ASN1_OCTET_STRING *ip, char *out, size_t n)
{
    if (ip->length == 4) {
        snprintf(out, n, "IP:%d.%d.%d.%d", ip->data[0], ip->data[1], ip->data[2], ip->data[3]);
        return;
    }
    if (ip->length == 16) {
        size_t used = 0;
        snprintf(out, n, "IP:");
        used = strlen(out);
        for (int i = 0; i < 16 && used < n; i += 2) {
            snprintf(out + used, n - used, i < 14 ? "%x:" : "%x",
                     (unsigned)((ip->data[i] << 8) | ip->data[i + 1]));
            used = strlen(out);
        }
        return;
    }
    snprintf(out, n, "IP:(invalid)");
}

static void cert_sans_str(X509 *cert, char *out, size_t n)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    char item[512];

    out[0] = '\0';
    for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        const ASN1_IA5STRING *s = NULL;
        const char *prefix = NULL;
        switch (g->type) {
        case GEN_DNS:
            prefix = "DNS";
            s = g->d.dNSName;
            break;
        case GEN_URI:
            prefix = "URI";
            s = g->d.uniformResourceIdentifier;
            break;
        case GEN_EMAIL:
            prefix = "email";
            s = g->d.rfc822Name;
            break;
        default:
            break;
        }
        if (g->type == GEN_IPADD) {
            cert_ip_str(g->d.iPAddress, item, sizeof(item));
            cert_append(out, n, item);
            continue;
        }
        if (prefix == NULL || s == NULL) {
            continue;
        }
        snprintf(item, sizeof(item), "%s:%.*s", prefix, s->length, (const char *)s->data);
        cert_append(out, n, item);
    }
    GENERAL_NAMES_free(gens);
}

static void cert_key_usage_str(X509 *cert, char *out, size_t n)
{
    static const struct {
        uint32_t bit;
        const char *name;
    } bits[] = {
        {KU_DIGITAL_SIGNATURE, "digitalSignature"},
        {KU_NON_REPUDIATION, "nonRepudiation"},
        {KU_KEY_ENCIPHERMENT, "keyEncipherment"},
        {KU_DATA_ENCIPHERMENT, "dataEncipherment"},
        {KU_KEY_AGREEMENT, "keyAgreement"},
        {KU_KEY_CERT_SIGN, "keyCertSign"},
        {KU_CRL_SIGN, "cRLSign"},
        {KU_ENCIPHER_ONLY, "encipherOnly"},
        {KU_DECIPHER_ONLY, "decipherOnly"},
    };
    uint32_t ku = X509_get_key_usage(cert);

    out[0] = '\0';
    /* UINT32_MAX means "no keyUsage extension": leave the field empty. */
    if (ku == UINT32_MAX) {
        return;
    }
    for (size_t i = 0; i < sizeof(bits) / sizeof(bits[0]); i++) {
        if (ku & bits[i].bit) {
            cert_append(out, n, bits[i].name);
        }
    }
}

static void cert_eku_str(X509 *cert, char *out, size_t n, int *client, int *server)
{
    EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(cert, NID_ext_key_usage, NULL, NULL);
    char txt[128];

    out[0] = '\0';
    *client = 0;
    *server = 0;
    for (int i = 0; i < sk_ASN1_OBJECT_num(eku); i++) {
        const ASN1_OBJECT *obj = sk_ASN1_OBJECT_value(eku, i);
        int nid = OBJ_obj2nid(obj);
        if (nid == NID_client_auth) {
            *client = 1;
        } else if (nid == NID_server_auth) {
            *server = 1;
        }
        if (nid != NID_undef) {
            /* Short names are "clientAuth", "serverAuth", ... */
            snprintf(txt, sizeof(txt), "%s", OBJ_nid2sn(nid));
        } else {
            OBJ_obj2txt(txt, sizeof(txt), obj, 1);
        }
        cert_append(out, n, txt);
    }
    EXTENDED_KEY_USAGE_free(eku);
}

int pki_cert_info(X509 *cert, struct pki_cert_info *out, struct mk_err *err)
{
    struct pki_cert_info info;
    const ASN1_INTEGER *serial;
    BIGNUM *bn = NULL;
    char *hex = NULL;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_PKEY *pub;
    int rc = -1;

    memset(&info, 0, sizeof(info));
    MK_ENSURE(cert != NULL, err, MK_ERR_INVALID, "cert: no certificate");
    MK_GUARD(cert_name_str(X509_get_subject_name(cert), info.subject, sizeof(info.subject), err));
    MK_GUARD(cert_name_str(X509_get_issuer_name(cert), info.issuer, sizeof(info.issuer), err));

    serial = X509_get0_serialNumber(cert);
    bn = ASN1_INTEGER_to_BN(serial, NULL);
    MK_GUARD_OSSL(bn != NULL, err, MK_ERR_INVALID, "cert: ASN1_INTEGER_to_BN(serial)");
    hex = BN_bn2hex(bn);
    MK_GUARD_OSSL(hex != NULL, err, MK_ERR_NOMEM, "cert: BN_bn2hex");
    snprintf(info.serial_hex, sizeof(info.serial_hex), "%s", hex);

    MK_GUARD_OSSL(X509_digest(cert, EVP_sha256(), md, &mdlen) == 1, err, MK_ERR_CRYPTO,
                  "cert: X509_digest(sha256)");
    for (unsigned int i = 0; i < mdlen && (size_t)i * 3 + 3 <= sizeof(info.fingerprint_sha256);
         i++) {
        snprintf(info.fingerprint_sha256 + i * 3, sizeof(info.fingerprint_sha256) - i * 3,
                 i + 1 < mdlen ? "%02X:" : "%02X", md[i]);
    }

    MK_ENSURE(cert_asn1_to_time(X509_get0_notBefore(cert), &info.not_before) == 0, err,
              MK_ERR_INVALID, "cert: ASN1_TIME_to_tm(notBefore) failed");
    MK_ENSURE(cert_asn1_to_time(X509_get0_notAfter(cert), &info.not_after) == 0, err,
              MK_ERR_INVALID, "cert: ASN1_TIME_to_tm(notAfter) failed");

    cert_sans_str(cert, info.sans, sizeof(info.sans));
    pub = X509_get0_pubkey(cert);
    snprintf(info.key_desc, sizeof(info.key_desc), "%s",
             pub != NULL ? pki_key_describe(pub) : "unreadable key");
    info.is_ca = X509_check_ca(cert) != 0;
    cert_key_usage_str(cert, info.key_usage, sizeof(info.key_usage));
    cert_eku_str(cert, info.ext_key_usage, sizeof(info.ext_key_usage), &info.has_client_auth,
                 &info.has_server_auth);
    ERR_clear_error();
    *out = info;
    rc = 0;
out:
    OPENSSL_free(hex);
    BN_free(bn);
    return rc;
}

int pki_cert_matches_key(X509 *cert, EVP_PKEY *key, struct mk_err *err)
{
    EVP_PKEY *pub;
    int rc = -1;

    MK_ENSURE(cert != NULL && key != NULL, err, MK_ERR_INVALID, "cert: no certificate or key");
    pub = X509_get0_pubkey(cert);
    MK_GUARD_OSSL(pub != NULL, err, MK_ERR_INVALID, "cert: X509_get0_pubkey");
    /* EVP_PKEY_eq compares the public halves; 1 = equal, 0 = different, < 0 = incomparable. */
    MK_ENSURE(EVP_PKEY_eq(pub, key) == 1, err, MK_ERR_VERIFY,
              "cert: the certificate's public key does not match the private key");
    rc = 0;
out:
    ERR_clear_error();
    return rc;
}

int pki_cert_verify_client(X509 *leaf, STACK_OF(X509) * untrusted, STACK_OF(X509) * trust,
                           time_t at, struct mk_err *err)
{
    X509_STORE *store = NULL;
    X509_STORE_CTX *ctx = NULL;
    X509_VERIFY_PARAM *param;
    int rc = -1;
    int vrc;

    MK_ENSURE(leaf != NULL, err, MK_ERR_INVALID, "cert: no certificate to verify");
    MK_ENSURE(trust != NULL && sk_X509_num(trust) > 0, err, MK_ERR_VERIFY,
              "cert: no trust anchors to verify against");
    store = X509_STORE_new();
    MK_GUARD_OSSL(store != NULL, err, MK_ERR_NOMEM, "cert: X509_STORE_new");
    for (int i = 0; i < sk_X509_num(trust); i++) {
        MK_GUARD_OSSL(X509_STORE_add_cert(store, sk_X509_value(trust, i)) == 1, err, MK_ERR_CRYPTO,
                      "cert: X509_STORE_add_cert (trust anchor %d)", i + 1);
    }
    ctx = X509_STORE_CTX_new();
    MK_GUARD_OSSL(ctx != NULL, err, MK_ERR_NOMEM, "cert: X509_STORE_CTX_new");
    MK_GUARD_OSSL(X509_STORE_CTX_init(ctx, store, leaf, untrusted) == 1, err, MK_ERR_CRYPTO,
                  "cert: X509_STORE_CTX_init");
    /* The client purpose makes OpenSSL require EKU clientAuth (when an EKU is present) on the
     * leaf and a CA fit for it up the chain. */
    MK_GUARD_OSSL(X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT) == 1, err, MK_ERR_CRYPTO,
                  "cert: X509_STORE_CTX_set_purpose(SSL_CLIENT)");
    param = X509_STORE_CTX_get0_param(ctx);
    /* A trust anchor need not be self-signed (RFC 5280 6.1.1 (d)): a subordinate CA given as
     * the anchor ends the chain there. */
    X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_PARTIAL_CHAIN);
    if (at != 0) {
        X509_VERIFY_PARAM_set_time(param, at);
    }
    vrc = X509_verify_cert(ctx);
    if (vrc != 1) {
        int e = X509_STORE_CTX_get_error(ctx);
        mk_err_set(err, MK_ERR_VERIFY, "cert: verification failed at depth %d: %s",
                   X509_STORE_CTX_get_error_depth(ctx), X509_verify_cert_error_string(e));
        ERR_clear_error();
        goto out;
    }
    rc = 0;
out:
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    return rc;
}

time_t pki_cert_renewal_time(time_t not_before, time_t not_after, double fraction,
                             long renew_before)
{
    double life;
    time_t t;

    if (not_after <= not_before) {
        return not_after;
    }
    if (renew_before > 0) {
        t = not_after - (time_t)renew_before;
    } else {
        if (!(fraction > 0.0 && fraction < 1.0)) {
            fraction = 2.0 / 3.0;
        }
        life = (double)(not_after - not_before);
        t = not_before + (time_t)(life * fraction);
    }
    if (t < not_before) {
        t = not_before;
    }
    if (t > not_after) {
        t = not_after;
    }
    return t;
}

char *pki_certs_to_pem(X509 *first, STACK_OF(X509) * rest, size_t *len, struct mk_err *err)
{
    BIO *bio = NULL;
    char *ret = NULL;

    bio = BIO_new(BIO_s_mem());
    MK_GUARD_OSSL(bio != NULL, err, MK_ERR_NOMEM, "cert: BIO_new");
    if (first != NULL) {
        MK_GUARD_OSSL(PEM_write_bio_X509(bio, first) == 1, err, MK_ERR_CRYPTO,
                      "cert: PEM_write_bio_X509");
    }
    for (int i = 0; i < sk_X509_num(rest); i++) {
        MK_GUARD_OSSL(PEM_write_bio_X509(bio, sk_X509_value(rest, i)) == 1, err, MK_ERR_CRYPTO,
                      "cert: PEM_write_bio_X509 (chain certificate %d)", i + 1);
    }
    ret = pki_bio_strdup(bio, len, "cert", err);
out:
    BIO_free(bio);
    return ret;
}

char *pki_bio_strdup(BIO *bio, size_t *len, const char *who, struct mk_err *err)
{
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    char *ret = malloc((size_t)n + 1);

    if (ret == NULL) {
        mk_err_set(err, MK_ERR_NOMEM, "%s: out of memory", who);
        return NULL;
    }
    if (n > 0) {
        memcpy(ret, data, (size_t)n);
    }
    ret[n] = '\0';
    if (len != NULL) {
        *len = (size_t)n;
    }
    return ret;
}
