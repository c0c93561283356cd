/*
 * ca_local.c: the embedded CA, the project's default backend.  It signs CSRs as TLS client
 * certificates with its own EC P-256 key, kept in one directory:
 *
 *     <dir>/ca.key        PKCS#8 PEM private key, 0600, created on first use
 *     <dir>/ca.crt        self-signed CA certificate (the trust anchor brokers load)
 *     <dir>/revoked.json  revoked serials with reason and time, and the last CRL number
 *     <dir>/crl.pem       CRL signed by the CA (nextUpdate +7 days), rewritten on every revoke
 *     <dir>/.lock         flock(2) target: creation and revocation are serialised across processes
 *
 * Every file is written atomically with pki_store_write_file() (store.h), under the directory
 * lock, so a crash leaves either the old or the new file, never a torn one.
 * Inside one process, a mutex serialises signing and revocation: one struct pki_ca may be shared
 * by threads.
 */
#include "ca/ca-int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "pki/cert.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "pki/log.h"
#include "pki/secret.h"
#include "pki/store.h"

#define CA_DEFAULT_CN "mskpki local CA"
#define CA_DEFAULT_VALIDITY (10L * 365 * 24 * 3600)
#define CA_MAX_VALIDITY (100L * 365 * 24 * 3600)
/* CRLs are re-signed on every revocation; brokers must see a fresh one within a week. */
#define CA_CRL_NEXT_UPDATE (7L * 24 * 3600)
/* The CA certificate is backdated so hosts whose clock lags a little still accept it. */
#define CA_BACKDATE (3600L)
#define CA_KEY_FILE_MAX (64 * 1024)
#define CA_JSON_FILE_MAX (16 * 1024 * 1024)

struct ca_local {
    char dir[PATH_MAX];
    char key_path[PATH_MAX];
    char cert_path[PATH_MAX];
    char lock_path[PATH_MAX];
    char revoked_path[PATH_MAX];
    char crl_path[PATH_MAX];
    char common_name[256];
    long ca_validity_seconds;
    long max_validity_seconds;
    EVP_PKEY *key;
    X509 *cert;
    time_t not_after;
    pthread_mutex_t lock; /* serialises signing and revocation within the process */
};

/* ---- files ---------------------------------------------------------------------------- */

/* Writes dir/name atomically with mode through pki_store_write_file() (temp file with
 * O_EXCL|O_NOFOLLOW, fchmod, write, fsync, rename, fsync of the directory): a crash leaves the
 * old file or the new one, never a torn one.  Its temp name is fixed, so callers hold the
 * directory lock. */
static int ca_write_file(const char *dir, const char *name, const void *data, size_t len,
                         mode_t mode, struct mk_err *err)
{
    char path[PATH_MAX];

    if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path)) {
        mk_err_set(err, MK_ERR_INVALID, "%s: path too long", dir);
        return -1;
    }
    return pki_store_write_file(path, data, len, mode, (uid_t)-1, (gid_t)-1, err);
}

/* Reads a regular file (not a symlink) of at most max bytes into guarded memory, refusing one
 * with a mode wider than max_mode (the bits outside it set) or owned by someone else.
 * Caller frees with pki_secret_free(). */
static struct pki_secret *ca_read_file(const char *path, size_t max, mode_t max_mode,
                                       struct mk_err *err)
{
    struct pki_secret *buf = NULL;
    struct pki_secret *ret = NULL;
    struct stat st;
    size_t got = 0;
    int fd = -1;

    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
    MK_ENSURE_ERRNO(fd >= 0, err, errno == ENOENT ? MK_ERR_NOTFOUND : MK_ERR_IO, "%s: open", path);
    MK_ENSURE_ERRNO(fstat(fd, &st) == 0, err, MK_ERR_IO, "%s: fstat", path);
    MK_ENSURE(S_ISREG(st.st_mode), err, MK_ERR_INVALID, "%s: not a regular file", path);
    MK_ENSURE((st.st_mode & 0777 & ~max_mode) == 0, err, MK_ERR_PERM,
              "%s: mode %04o is wider than %04o; chmod %o it", path, (unsigned)(st.st_mode & 07777),
              (unsigned)max_mode, (unsigned)max_mode);
    MK_ENSURE(st.st_uid == geteuid() || st.st_uid == 0, err, MK_ERR_PERM,
              "%s: owned by uid %u, not by us (uid %u) or root", path, (unsigned)st.st_uid,
              (unsigned)geteuid());
    MK_ENSURE(st.st_size >= 0 && (size_t)st.st_size <= max, err, MK_ERR_INVALID,
              "%s: larger than %zu bytes", path, max);
    buf = pki_secret_new((size_t)st.st_size, err);
    MK_GUARD_PTR(buf);
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, pki_secret_mut(buf) + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        MK_ENSURE_ERRNO(n >= 0, err, MK_ERR_IO, "%s: read", path);
        MK_ENSURE(n > 0, err, MK_ERR_IO, "%s: file shrank while reading", path);
        got += (size_t)n;
    }
    MK_ENSURE(got > 0, err, MK_ERR_INVALID, "%s: empty file", path);
    ret = buf;
    buf = NULL;
out:
    if (fd >= 0) {
        close(fd);
    }
    pki_secret_free(buf);
    return ret;
}

/* 1 when path exists (without following a final symlink), 0 when not, -1 on error. */
static int ca_exists(const char *path, struct mk_err *err)
{
    struct stat st;

    if (lstat(path, &st) == 0) {
        return 1;
    }
    if (errno == ENOENT) {
        return 0;
    }
    mk_err_errno(err, MK_ERR_IO, "%s: lstat", path);
    return -1;
}

/* Creates the CA directory 0700 when missing and refuses an unsafe one: a symlink, not ours,
 * or writable by group or others (anyone could then replace ca.crt). */
static int ca_check_dir(const char *dir, struct mk_err *err)
{
    struct stat st;
    int rc = -1;

    if (mkdir(dir, 0700) != 0) {
        MK_ENSURE_ERRNO(errno == EEXIST, err, MK_ERR_IO, "%s: mkdir", dir);
    }
    MK_ENSURE_ERRNO(lstat(dir, &st) == 0, err, MK_ERR_IO, "%s: lstat", dir);
    MK_ENSURE(S_ISDIR(st.st_mode), err, MK_ERR_PERM, "%s: not a directory (or a symlink)", dir);
    MK_ENSURE(st.st_uid == geteuid() || st.st_uid == 0, err, MK_ERR_PERM,
              "%s: owned by uid %u, not by us (uid %u) or root", dir, (unsigned)st.st_uid,
              (unsigned)geteuid());
    MK_ENSURE((st.st_mode & (S_IWGRP | S_IWOTH)) == 0, err, MK_ERR_PERM,
              "%s: mode %04o is writable by group or others", dir, (unsigned)(st.st_mode & 07777));
    rc = 0;
out:
    return rc;
}

/* Opens and exclusively flock()s the lock file.  Returns the fd (close to unlock) or -1. */
static int ca_lock(const struct ca_local *impl, struct mk_err *err)
{
    int fd = open(impl->lock_path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);

    if (fd < 0) {
        mk_err_errno(err, MK_ERR_IO, "%s: open", impl->lock_path);
        return -1;
    }
    while (flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            mk_err_errno(err, MK_ERR_IO, "%s: flock", impl->lock_path);
            close(fd);
            return -1;
        }
    }
    return fd;
}

/* ---- certificates ---------------------------------------------------------------------- */

/* A random positive 128-bit serial (RFC 5280 4.1.2.2: at most 20 octets; CA/B: 64 bits of
 * entropy).  The top bit is set so every serial has exactly 128 bits. */
static ASN1_INTEGER *ca_random_serial(struct mk_err *err)
{
    unsigned char raw[16];
    BIGNUM *bn = NULL;
    ASN1_INTEGER *ret = NULL;

    pki_random_bytes(raw, sizeof(raw));
    raw[0] |= 0x80;
    bn = BN_bin2bn(raw, sizeof(raw), NULL);
    MK_GUARD_OSSL(bn != NULL, err, MK_ERR_NOMEM, "ca: BN_bin2bn");
    ret = BN_to_ASN1_INTEGER(bn, NULL);
    MK_GUARD_OSSL(ret != NULL, err, MK_ERR_NOMEM, "ca: BN_to_ASN1_INTEGER");
out:
    BN_free(bn);
    return ret;
}

/* Adds the extension nid=value (openssl x509v3_config syntax) built in ctx to cert. */
static int ca_add_ext(X509 *cert, X509V3_CTX *ctx, int nid, const char *value, struct mk_err *err)
{
    X509_EXTENSION *ext = NULL;
    int rc = -1;

    ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
    MK_GUARD_OSSL(ext != NULL, err, MK_ERR_CRYPTO, "ca: X509V3_EXT_conf_nid(%s, \"%s\")",
                  OBJ_nid2sn(nid), value);
    MK_GUARD_OSSL(X509_add_ext(cert, ext, -1) == 1, err, MK_ERR_CRYPTO, "ca: X509_add_ext(%s)",
                  OBJ_nid2sn(nid));
    rc = 0;
out:
    X509_EXTENSION_free(ext);
    return rc;
}

/* Sets notBefore/notAfter to absolute times. */
static int ca_set_validity(X509 *cert, time_t not_before, time_t not_after, struct mk_err *err)
{
    int rc = -1;

    MK_GUARD_OSSL(X509_time_adj_ex(X509_getm_notBefore(cert), 0, 0, &not_before) != NULL, err,
                  MK_ERR_CRYPTO, "ca: X509_time_adj_ex(notBefore)");
    MK_GUARD_OSSL(X509_time_adj_ex(X509_getm_notAfter(cert), 0, 0, &not_after) != NULL, err,
                  MK_ERR_CRYPTO, "ca: X509_time_adj_ex(notAfter)");
    rc = 0;
out:
    return rc;
}

/* The self-signed CA certificate for key (RFC 5280 4.2.1.9/4.2.1.3: basicConstraints and
 * keyUsage critical; pathlen 0 because this CA only ever signs end-entity certificates).
 * Caller frees with X509_free(). */
static X509 *ca_make_root(const struct ca_local *impl, EVP_PKEY *key, struct mk_err *err)
{
    X509 *cert = NULL;
    X509 *ret = NULL;
    X509_NAME *name = NULL;
    ASN1_INTEGER *serial = NULL;
    X509V3_CTX ctx;
    time_t now = time(NULL);

    cert = X509_new();
    MK_GUARD_OSSL(cert != NULL, err, MK_ERR_NOMEM, "ca: X509_new");
    MK_GUARD_OSSL(X509_set_version(cert, X509_VERSION_3) == 1, err, MK_ERR_CRYPTO,
                  "ca: X509_set_version");
    serial = ca_random_serial(err);
    MK_GUARD_PTR(serial);
    MK_GUARD_OSSL(X509_set_serialNumber(cert, serial) == 1, err, MK_ERR_CRYPTO,
                  "ca: X509_set_serialNumber");
    name = X509_NAME_new();
    MK_GUARD_OSSL(name != NULL, err, MK_ERR_NOMEM, "ca: X509_NAME_new");
    MK_GUARD_OSSL(
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                   (const unsigned char *)impl->common_name, -1, -1, 0) == 1,
        err, MK_ERR_INVALID, "ca: X509_NAME_add_entry_by_txt(CN=\"%s\")", impl->common_name);
    MK_GUARD_OSSL(X509_set_subject_name(cert, name) == 1, err, MK_ERR_CRYPTO,
                  "ca: X509_set_subject_name");
    MK_GUARD_OSSL(X509_set_issuer_name(cert, name) == 1, err, MK_ERR_CRYPTO,
                  "ca: X509_set_issuer_name");
    MK_GUARD(ca_set_validity(cert, now - CA_BACKDATE, now + impl->ca_validity_seconds, err));
    MK_GUARD_OSSL(X509_set_pubkey(cert, key) == 1, err, MK_ERR_CRYPTO, "ca: X509_set_pubkey");
    X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
    MK_GUARD(ca_add_ext(cert, &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0", err));
    MK_GUARD(ca_add_ext(cert, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign", err));
    MK_GUARD(ca_add_ext(cert, &ctx, NID_subject_key_identifier, "hash", err));
    MK_GUARD(ca_add_ext(cert, &ctx, NID_authority_key_identifier, "keyid:always", err));
    MK_GUARD_OSSL(X509_sign(cert, key, pki_key_digest(key)) > 0, err, MK_ERR_CRYPTO,
                  "ca: X509_sign (CA certificate)");
    ret = cert;
    cert = NULL;
out:
    ASN1_INTEGER_free(serial);
    X509_NAME_free(name);
    X509_free(cert);
    return ret;
}

/* ---- loading and creating -------------------------------------------------------------- */

static int ca_crl_refresh_locked(struct ca_local *impl, struct mk_err *err);

static int ca_write_key(const struct ca_local *impl, EVP_PKEY *key, struct mk_err *err)
{
    BIO *bio = NULL;
    char *pem = NULL;
    long n;
    int rc = -1;

    /* A secure-memory BIO: its buffer is cleansed when freed, so no key copy lingers. */
    bio = BIO_new(BIO_s_secmem());
    MK_GUARD_OSSL(bio != NULL, err, MK_ERR_NOMEM, "ca: BIO_new(secmem)");
    MK_GUARD_OSSL(PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) == 1, err,
                  MK_ERR_CRYPTO, "ca: PEM_write_bio_PrivateKey");
    n = BIO_get_mem_data(bio, &pem);
    MK_ENSURE(n > 0, err, MK_ERR_CRYPTO, "ca: PEM_write_bio_PrivateKey wrote nothing");
    MK_GUARD(ca_write_file(impl->dir, "ca.key", pem, (size_t)n, 0600, err));
    rc = 0;
out:
    BIO_free(bio);
    return rc;
}

static int ca_write_cert(const struct ca_local *impl, X509 *cert, struct mk_err *err)
{
    char *pem = NULL;
    size_t len = 0;
    int rc = -1;

    pem = pki_certs_to_pem(cert, NULL, &len, err);
    MK_GUARD_PTR(pem);
    MK_GUARD(ca_write_file(impl->dir, "ca.crt", pem, len, 0644, err));
    rc = 0;
out:
    free(pem);
    return rc;
}

static EVP_PKEY *ca_load_key(const struct ca_local *impl, struct mk_err *err)
{
    struct pki_secret *pem = NULL;
    EVP_PKEY *key = NULL;

    /* A CA key that anyone else can read is a compromised CA: refuse it. */
    pem = ca_read_file(impl->key_path, CA_KEY_FILE_MAX, 0600, err);
    MK_GUARD_PTR(pem);
    key = pki_key_from_pem(pki_secret_data(pem), pki_secret_len(pem), NULL, err);
    if (key == NULL) {
        mk_err_prefix(err, "%s", impl->key_path);
    }
out:
    pki_secret_free(pem);
    return key;
}

/* Loads ca.key and ca.crt, creating what is missing under the directory lock. */
static int ca_load_or_create(struct ca_local *impl, struct mk_err *err)
{
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    struct pki_cert_info info;
    int lock_fd = -1;
    int have_key;
    int have_cert;
    int rc = -1;

    MK_GUARD(ca_check_dir(impl->dir, err));
    /* Two processes starting on an empty directory must not create two different CAs. */
    lock_fd = ca_lock(impl, err);
    if (lock_fd < 0) {
        goto out;
    }
    have_key = ca_exists(impl->key_path, err);
    have_cert = ca_exists(impl->cert_path, err);
    if (have_key < 0 || have_cert < 0) {
        goto out;
    }
    MK_ENSURE(have_key || !have_cert, err, MK_ERR_STATE,
              "%s exists but %s is missing: restore the key or remove the certificate",
              impl->cert_path, impl->key_path);

    if (!have_key) {
        key = pki_key_generate(PKI_KEY_EC_P256, err);
        MK_GUARD_PTR(key);
        MK_GUARD(ca_write_key(impl, key, err));
        mk_log(MK_LOG_INFO, "ca.local.key_created", "path=%s", impl->key_path);
    } else {
        key = ca_load_key(impl, err);
        MK_GUARD_PTR(key);
    }
    if (!have_cert) {
        /* Also the recovery path for a crash between writing ca.key and ca.crt. */
        cert = ca_make_root(impl, key, err);
        MK_GUARD_PTR(cert);
        MK_GUARD(ca_write_cert(impl, cert, err));
        mk_log(MK_LOG_INFO, "ca.local.cert_created", "path=%s", impl->cert_path);
    } else {
        cert = pki_cert_load_file(impl->cert_path, err);
        MK_GUARD_PTR(cert);
    }
    if (pki_cert_matches_key(cert, key, err) != 0) {
        mk_err_prefix(err, "%s and %s", impl->cert_path, impl->key_path);
        goto out;
    }
    MK_ENSURE(X509_check_ca(cert) == 1, err, MK_ERR_INVALID,
              "%s: not a CA certificate (basicConstraints CA:TRUE missing)", impl->cert_path);
    if (pki_cert_info(cert, &info, err) != 0) {
        mk_err_prefix(err, "%s", impl->cert_path);
        goto out;
    }
    impl->not_after = info.not_after;
    impl->key = key;
    impl->cert = cert;
    key = NULL;
    cert = NULL;
    rc = 0;
    /* Brokers can be pointed at crl.pem from day one; a failure here must not stop issuing,
     * check() retries it. */
    {
        struct mk_err cerr;
        mk_err_clear(&cerr);
        if (ca_crl_refresh_locked(impl, &cerr) != 0) {
            mk_log_err("ca.local.crl_refresh_failed", &cerr);
        }
    }
out:
    if (lock_fd >= 0) {
        close(lock_fd);
    }
    EVP_PKEY_free(key);
    X509_free(cert);
    return rc;
}

/* ---- issuing --------------------------------------------------------------------------- */

#ifdef MK_TESTING
/* Test-only outage switch: while the file named by MSKPKI_TEST_CA_FAIL exists, issuing fails
 * as a network error would, so the agent's end-to-end tests can simulate a CA outage. */
static int ca_injected_failure(void)
{
    const char *path = getenv("MSKPKI_TEST_CA_FAIL");

    return path != NULL && path[0] != '\0' && access(path, F_OK) == 0;
}
#endif

/* Copies the CSR's subjectAltName, and only that: other requested extensions are ignored so a
 * requester cannot ask for CA:TRUE or extra key usages. */
static int ca_copy_san(X509_REQ *csr, X509 *leaf, int subject_empty, struct mk_err *err)
{
    STACK_OF(X509_EXTENSION) *exts = NULL;
    X509_EXTENSION *san;
    int idx;
    int rc = -1;

    exts = X509_REQ_get_extensions(csr);
    idx = X509v3_get_ext_by_NID(exts, NID_subject_alt_name, -1);
    MK_ENSURE(idx >= 0 || !subject_empty, err, MK_ERR_INVALID,
              "ca: the CSR has neither a subject nor a subjectAltName");
    if (idx >= 0) {
        san = X509v3_get_ext(exts, idx);
        /* RFC 5280 4.2.1.6: with an empty subject the SAN extension must be critical. */
        if (subject_empty) {
            MK_GUARD_OSSL(X509_EXTENSION_set_critical(san, 1) == 1, err, MK_ERR_CRYPTO,
                          "ca: X509_EXTENSION_set_critical");
        }
        MK_GUARD_OSSL(X509_add_ext(leaf, san, -1) == 1, err, MK_ERR_CRYPTO,
                      "ca: X509_add_ext(subjectAltName)");
    }
    rc = 0;
out:
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    return rc;
}

/* Builds and signs the client certificate.  Called with impl->lock held.
 * Caller frees with X509_free(). */
static X509 *ca_sign_leaf(struct ca_local *impl, X509_REQ *csr, long validity, struct mk_err *err)
{
    X509 *leaf = NULL;
    X509 *ret = NULL;
    ASN1_INTEGER *serial = NULL;
    EVP_PKEY *pub;
    X509_NAME *subject;
    X509V3_CTX ctx;
    enum pki_key_type type;
    time_t now = time(NULL);
    time_t not_after;

    pub = X509_REQ_get0_pubkey(csr);
    MK_GUARD_OSSL(pub != NULL, err, MK_ERR_INVALID, "ca: X509_REQ_get0_pubkey");
    MK_ENSURE(pki_key_type_of(pub, &type) == 0, err, MK_ERR_INVALID,
              "ca: CSR key %s is not a supported type (EC P-256/P-384, RSA 2048/3072/4096)",
              pki_key_describe(pub));
    MK_ENSURE(now < impl->not_after, err, MK_ERR_STATE, "ca: %s has expired", impl->cert_path);
    /* Compared as a difference so a huge validity cannot overflow time_t. */
    not_after = validity > impl->not_after - now ? impl->not_after : now + validity;

    leaf = X509_new();
    MK_GUARD_OSSL(leaf != NULL, err, MK_ERR_NOMEM, "ca: X509_new");
    MK_GUARD_OSSL(X509_set_version(leaf, X509_VERSION_3) == 1, err, MK_ERR_CRYPTO,
                  "ca: X509_set_version");
    serial = ca_random_serial(err);
    MK_GUARD_PTR(serial);
    MK_GUARD_OSSL(X509_set_serialNumber(leaf, serial) == 1, err, MK_ERR_CRYPTO,
                  "ca: X509_set_serialNumber");
    subject = X509_REQ_get_subject_name(csr);
    MK_GUARD_OSSL(X509_set_subject_name(leaf, subject) == 1, err, MK_ERR_CRYPTO,
                  "ca: X509_set_subject_name");
    MK_GUARD_OSSL(X509_set_issuer_name(leaf, X509_get_subject_name(impl->cert)) == 1, err,
                  MK_ERR_CRYPTO, "ca: X509_set_issuer_name");
    MK_GUARD(ca_set_validity(leaf, now, not_after, err));
    MK_GUARD_OSSL(X509_set_pubkey(leaf, pub) == 1, err, MK_ERR_CRYPTO, "ca: X509_set_pubkey");

    MK_GUARD(ca_copy_san(csr, leaf, X509_NAME_entry_count(subject) == 0, err));
    X509V3_set_ctx(&ctx, impl->cert, leaf, NULL, NULL, 0);
    MK_GUARD(ca_add_ext(leaf, &ctx, NID_basic_constraints, "critical,CA:FALSE", err));
    /* keyEncipherment only makes sense for RSA key transport (RFC 5246 RSA key exchange). */
    MK_GUARD(ca_add_ext(leaf, &ctx, NID_key_usage,
                        EVP_PKEY_get_base_id(pub) == EVP_PKEY_RSA
                            ? "critical,digitalSignature,keyEncipherment"
                            : "critical,digitalSignature",
                        err));
    MK_GUARD(ca_add_ext(leaf, &ctx, NID_ext_key_usage, "clientAuth", err));
    MK_GUARD(ca_add_ext(leaf, &ctx, NID_subject_key_identifier, "hash", err));
    MK_GUARD(ca_add_ext(leaf, &ctx, NID_authority_key_identifier, "keyid:always", err));
    MK_GUARD_OSSL(X509_sign(leaf, impl->key, pki_key_digest(impl->key)) > 0, err, MK_ERR_CRYPTO,
                  "ca: X509_sign");
    ret = leaf;
    leaf = NULL;
out:
    ASN1_INTEGER_free(serial);
    X509_free(leaf);
    return ret;
}

/* The one-element chain [ca.crt].  Caller frees with sk_X509_pop_free(s, X509_free). */
static STACK_OF(X509) * ca_chain(struct ca_local *impl, struct mk_err *err)
{
    STACK_OF(X509) *chain = NULL;
    STACK_OF(X509) *ret = NULL;

    chain = sk_X509_new_null();
    MK_GUARD_OSSL(chain != NULL, err, MK_ERR_NOMEM, "ca: sk_X509_new_null");
    MK_GUARD_OSSL(X509_up_ref(impl->cert) == 1, err, MK_ERR_CRYPTO, "ca: X509_up_ref");
    if (sk_X509_push(chain, impl->cert) <= 0) {
        X509_free(impl->cert);
        MK_GUARD_OSSL(0, err, MK_ERR_NOMEM, "ca: sk_X509_push");
    }
    ret = chain;
    chain = NULL;
out:
    sk_X509_pop_free(chain, X509_free);
    return ret;
}

static int ca_local_issue_locked(struct ca_local *impl, const struct pki_issue_request *req,
                                 struct pki_issued *out_issued, struct mk_err *err)
{
    X509 *leaf = NULL;
    STACK_OF(X509) *chain = NULL;
    long validity = req->validity_seconds;
    int rc = -1;

#ifdef MK_TESTING
    MK_ENSURE(!ca_injected_failure(), err, MK_ERR_NET, "local CA: injected failure");
#endif
    MK_ENSURE(validity > 0, err, MK_ERR_INVALID, "ca: validity must be positive, got %ld s",
              validity);
    if (impl->max_validity_seconds > 0 && validity > impl->max_validity_seconds) {
        validity = impl->max_validity_seconds;
    }
    /* Proof of possession: only the holder of the key may get it certified. */
    MK_GUARD(pki_csr_verify(req->csr, err));
    leaf = ca_sign_leaf(impl, req->csr, validity, err);
    MK_GUARD_PTR(leaf);
    chain = ca_chain(impl, err);
    MK_GUARD_PTR(chain);
    out_issued->leaf = leaf;
    out_issued->chain = chain;
    leaf = NULL;
    chain = NULL;
    rc = 0;
out:
    X509_free(leaf);
    sk_X509_pop_free(chain, X509_free);
    return rc;
}

static int ca_local_issue(struct pki_ca *ca, const struct pki_issue_request *req,
                          struct pki_issued *out_issued, struct mk_err *err)
{
    struct ca_local *impl = ca->impl;
    struct mk_err local;
    int rc;

    mk_err_clear(&local);
    pthread_mutex_lock(&impl->lock);
    rc = ca_local_issue_locked(impl, req, out_issued, &local);
    pthread_mutex_unlock(&impl->lock);
    pki_ca_count_request(ca, rc == 0 ? "ok" : mk_code_str(local.code));
    if (rc == 0) {
        struct pki_cert_info info;
        if (pki_cert_info(out_issued->leaf, &info, NULL) == 0) {
            mk_log(MK_LOG_DEBUG, "ca.local.issued", "serial=%s subject=\"%s\" not_after=%lld",
                   info.serial_hex, info.subject, (long long)info.not_after);
        }
    } else if (err != NULL) {
        *err = local;
    }
    return rc;
}

static void ca_crl_refresh(struct ca_local *impl);

static int ca_local_check(struct pki_ca *ca, long validity_seconds, struct mk_err *err)
{
    struct ca_local *impl = ca->impl;
    time_t now = time(NULL);

    (void)validity_seconds; /* issue() caps the validity to the CA's life instead */
    if (impl->key == NULL || impl->cert == NULL) {
        mk_err_set(err, MK_ERR_STATE, "ca: %s: CA key or certificate not loaded", impl->dir);
        return -1;
    }
    if (now >= impl->not_after) {
        mk_err_set(err, MK_ERR_STATE, "ca: %s has expired", impl->cert_path);
        return -1;
    }
    ca_crl_refresh(impl);
    return 0;
}

static STACK_OF(X509) * ca_local_trust_anchors(struct pki_ca *ca, struct mk_err *err)
{
    return ca_chain(ca->impl, err);
}

/* ---- revocation ------------------------------------------------------------------------ */

/* AWS Private CA RevocationReason names and their RFC 5280 5.3.1 CRLReason codes. */
static const struct {
    const char *name;
    int code;
} ca_reasons[] = {
    {"UNSPECIFIED", CRL_REASON_UNSPECIFIED},
    {"KEY_COMPROMISE", CRL_REASON_KEY_COMPROMISE},
    {"CERTIFICATE_AUTHORITY_COMPROMISE", CRL_REASON_CA_COMPROMISE},
    {"AFFILIATION_CHANGED", CRL_REASON_AFFILIATION_CHANGED},
    {"SUPERSEDED", CRL_REASON_SUPERSEDED},
    {"CESSATION_OF_OPERATION", CRL_REASON_CESSATION_OF_OPERATION},
    {"PRIVILEGE_WITHDRAWN", CRL_REASON_PRIVILEGE_WITHDRAWN},
    {"A_A_COMPROMISE", CRL_REASON_AA_COMPROMISE},
};

/* CRLReason code for an AWS name, or -1. */
static int ca_reason_code(const char *name)
{
    for (size_t i = 0; i < sizeof(ca_reasons) / sizeof(ca_reasons[0]); i++) {
        if (strcmp(name, ca_reasons[i].name) == 0) {
            return ca_reasons[i].code;
        }
    }
    return -1;
}

/* Reads revoked.json, or returns a fresh {"crl_number": 0, "revoked": []} when it does not
 * exist yet.  Caller frees with json_decref(). */
static json_t *ca_revoked_load(const struct ca_local *impl, struct mk_err *err)
{
    struct pki_secret *text = NULL;
    json_t *root = NULL;
    json_t *ret = NULL;
    json_error_t jerr;
    struct mk_err rerr;

    mk_err_clear(&rerr);
    text = ca_read_file(impl->revoked_path, CA_JSON_FILE_MAX, 0644, &rerr);
    if (text == NULL && rerr.code == MK_ERR_NOTFOUND) {
        root = json_pack("{s:I, s:[]}", "crl_number", (json_int_t)0, "revoked");
        MK_ENSURE(root != NULL, err, MK_ERR_NOMEM, "ca: out of memory");
    } else {
        if (text == NULL) {
            if (err != NULL) {
                *err = rerr;
            }
            goto out;
        }
        root = json_loadb((const char *)pki_secret_data(text), pki_secret_len(text), 0, &jerr);
        MK_ENSURE(root != NULL, err, MK_ERR_INVALID, "%s: line %d: %s", impl->revoked_path,
                  jerr.line, jerr.text);
        MK_ENSURE(json_is_object(root) && json_is_array(json_object_get(root, "revoked")) &&
                      json_is_integer(json_object_get(root, "crl_number")),
                  err, MK_ERR_INVALID,
                  "%s: expected an object with \"crl_number\" and a \"revoked\" array",
                  impl->revoked_path);
    }
    ret = root;
    root = NULL;
out:
    json_decref(root);
    pki_secret_free(text);
    return ret;
}

/* One CRL entry from a revoked.json element. */
static int ca_crl_add_entry(X509_CRL *crl, json_t *entry, const char *path, size_t idx,
                            struct mk_err *err)
{
    const char *serial_hex = json_string_value(json_object_get(entry, "serial"));
    const char *reason = json_string_value(json_object_get(entry, "reason"));
    json_t *at = json_object_get(entry, "revoked_at");
    X509_REVOKED *rev = NULL;
    BIGNUM *bn = NULL;
    ASN1_INTEGER *serial = NULL;
    ASN1_TIME *when = NULL;
    ASN1_ENUMERATED *code = NULL;
    int reason_code;
    int rc = -1;

    MK_ENSURE(serial_hex != NULL && reason != NULL && json_is_integer(at), err, MK_ERR_INVALID,
              "%s: revoked[%zu]: needs \"serial\", \"reason\" and \"revoked_at\"", path, idx);
    reason_code = ca_reason_code(reason);
    MK_ENSURE(reason_code >= 0, err, MK_ERR_INVALID, "%s: revoked[%zu]: unknown reason \"%s\"",
              path, idx, reason);
    MK_ENSURE(BN_hex2bn(&bn, serial_hex) == (int)strlen(serial_hex) && bn != NULL, err,
              MK_ERR_INVALID, "%s: revoked[%zu]: serial \"%s\" is not hex", path, idx, serial_hex);
    serial = BN_to_ASN1_INTEGER(bn, NULL);
    MK_GUARD_OSSL(serial != NULL, err, MK_ERR_NOMEM, "ca: BN_to_ASN1_INTEGER");
    when = ASN1_TIME_set(NULL, (time_t)json_integer_value(at));
    MK_GUARD_OSSL(when != NULL, err, MK_ERR_INVALID, "ca: ASN1_TIME_set(revoked_at)");
    rev = X509_REVOKED_new();
    MK_GUARD_OSSL(rev != NULL, err, MK_ERR_NOMEM, "ca: X509_REVOKED_new");
    MK_GUARD_OSSL(X509_REVOKED_set_serialNumber(rev, serial) == 1, err, MK_ERR_CRYPTO,
                  "ca: X509_REVOKED_set_serialNumber");
    MK_GUARD_OSSL(X509_REVOKED_set_revocationDate(rev, when) == 1, err, MK_ERR_CRYPTO,
                  "ca: X509_REVOKED_set_revocationDate");
    /* RFC 5280 5.3.1: reasonCode "unspecified" SHOULD be absent. */
    if (reason_code != CRL_REASON_UNSPECIFIED) {
        code = ASN1_ENUMERATED_new();
        MK_GUARD_OSSL(code != NULL && ASN1_ENUMERATED_set(code, reason_code) == 1, err,
                      MK_ERR_NOMEM, "ca: ASN1_ENUMERATED_set");
        MK_GUARD_OSSL(X509_REVOKED_add1_ext_i2d(rev, NID_crl_reason, code, 0, 0) == 1, err,
                      MK_ERR_CRYPTO, "ca: X509_REVOKED_add1_ext_i2d(CRLReason)");
    }
    MK_GUARD_OSSL(X509_CRL_add0_revoked(crl, rev) == 1, err, MK_ERR_CRYPTO,
                  "ca: X509_CRL_add0_revoked");
    rev = NULL;
    rc = 0;
out:
    ASN1_ENUMERATED_free(code);
    ASN1_TIME_free(when);
    ASN1_INTEGER_free(serial);
    BN_free(bn);
    X509_REVOKED_free(rev);
    return rc;
}

/* A CRL (RFC 5280 5.1, version 2, with AKI and CRL number) listing every entry of root, signed
 * by the CA, as PEM.  Caller frees with free(). */
static char *ca_crl_pem(const struct ca_local *impl, json_t *root, size_t *len, struct mk_err *err)
{
    X509_CRL *crl = NULL;
    ASN1_TIME *t = NULL;
    ASN1_INTEGER *number = NULL;
    X509_EXTENSION *aki = NULL;
    X509V3_CTX ctx;
    BIO *bio = NULL;
    char *ret = NULL;
    json_t *list = json_object_get(root, "revoked");
    time_t now = time(NULL);

    crl = X509_CRL_new();
    MK_GUARD_OSSL(crl != NULL, err, MK_ERR_NOMEM, "ca: X509_CRL_new");
    MK_GUARD_OSSL(X509_CRL_set_version(crl, X509_CRL_VERSION_2) == 1, err, MK_ERR_CRYPTO,
                  "ca: X509_CRL_set_version");
    MK_GUARD_OSSL(X509_CRL_set_issuer_name(crl, X509_get_subject_name(impl->cert)) == 1, err,
                  MK_ERR_CRYPTO, "ca: X509_CRL_set_issuer_name");
    t = ASN1_TIME_set(NULL, now);
    MK_GUARD_OSSL(t != NULL && X509_CRL_set1_lastUpdate(crl, t) == 1, err, MK_ERR_CRYPTO,
                  "ca: X509_CRL_set1_lastUpdate");
    MK_GUARD_OSSL(ASN1_TIME_set(t, now + CA_CRL_NEXT_UPDATE) != NULL &&
                      X509_CRL_set1_nextUpdate(crl, t) == 1,
                  err, MK_ERR_CRYPTO, "ca: X509_CRL_set1_nextUpdate");
    for (size_t i = 0; i < json_array_size(list); i++) {
        MK_GUARD(ca_crl_add_entry(crl, json_array_get(list, i), impl->revoked_path, i, err));
    }
    number = ASN1_INTEGER_new();
    MK_GUARD_OSSL(number != NULL &&
                      ASN1_INTEGER_set_int64(
                          number, json_integer_value(json_object_get(root, "crl_number"))) == 1,
                  err, MK_ERR_NOMEM, "ca: ASN1_INTEGER_set_int64(crl_number)");
    MK_GUARD_OSSL(X509_CRL_add1_ext_i2d(crl, NID_crl_number, number, 0, 0) == 1, err, MK_ERR_CRYPTO,
                  "ca: X509_CRL_add1_ext_i2d(cRLNumber)");
    X509V3_set_ctx(&ctx, impl->cert, NULL, NULL, crl, 0);
    aki = X509V3_EXT_conf_nid(NULL, &ctx, NID_authority_key_identifier, "keyid:always");
    MK_GUARD_OSSL(aki != NULL && X509_CRL_add_ext(crl, aki, -1) == 1, err, MK_ERR_CRYPTO,
                  "ca: authorityKeyIdentifier on the CRL");
    MK_GUARD_OSSL(X509_CRL_sort(crl) == 1, err, MK_ERR_CRYPTO, "ca: X509_CRL_sort");
    MK_GUARD_OSSL(X509_CRL_sign(crl, impl->key, pki_key_digest(impl->key)) > 0, err, MK_ERR_CRYPTO,
                  "ca: X509_CRL_sign");
    bio = BIO_new(BIO_s_mem());
    MK_GUARD_OSSL(bio != NULL, err, MK_ERR_NOMEM, "ca: BIO_new");
    MK_GUARD_OSSL(PEM_write_bio_X509_CRL(bio, crl) == 1, err, MK_ERR_CRYPTO,
                  "ca: PEM_write_bio_X509_CRL");
    ret = pki_bio_strdup(bio, len, "ca", err);
out:
    BIO_free(bio);
    X509_EXTENSION_free(aki);
    ASN1_INTEGER_free(number);
    ASN1_TIME_free(t);
    X509_CRL_free(crl);
    return ret;
}

/* Checks cert was signed by this CA: same issuer name and a signature the CA key verifies. */
static int ca_check_issued_here(const struct ca_local *impl, X509 *cert, struct mk_err *err)
{
    EVP_PKEY *pub = X509_get0_pubkey(impl->cert);
    int rc = -1;

    MK_ENSURE(X509_NAME_cmp(X509_get_issuer_name(cert), X509_get_subject_name(impl->cert)) == 0,
              err, MK_ERR_VERIFY, "ca: the certificate was not issued by %s", impl->cert_path);
    MK_GUARD_OSSL(pub != NULL && X509_verify(cert, pub) == 1, err, MK_ERR_VERIFY,
                  "ca: X509_verify: the certificate was not signed by %s", impl->cert_path);
    rc = 0;
out:
    return rc;
}

/* Bumps the CRL number in root, writes revoked.json, then signs and writes crl.pem.  Called
 * with the directory lock held. */
static int ca_publish(struct ca_local *impl, json_t *root, struct mk_err *err)
{
    char *text = NULL;
    char *crl = NULL;
    size_t crl_len = 0;
    int rc = -1;

    /* RFC 5280 5.2.3: the CRL number increases with every CRL issued. */
    MK_ENSURE(json_object_set_new(
                  root, "crl_number",
                  json_integer(json_integer_value(json_object_get(root, "crl_number")) + 1)) == 0,
              err, MK_ERR_NOMEM, "ca: out of memory");
    crl = ca_crl_pem(impl, root, &crl_len, err);
    MK_GUARD_PTR(crl);
    text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
    MK_ENSURE(text != NULL, err, MK_ERR_NOMEM, "ca: json_dumps");
    /* The record first: if publishing the CRL fails, the next refresh republishes it. */
    MK_GUARD(ca_write_file(impl->dir, "revoked.json", text, strlen(text), 0644, err));
    MK_GUARD(ca_write_file(impl->dir, "crl.pem", crl, crl_len, 0644, err));
    rc = 0;
out:
    free(text);
    free(crl);
    return rc;
}

/* 1 when crl.pem is missing, unreadable, not signed by this CA, or past half of its
 * nextUpdate period: brokers reject a CRL after nextUpdate, so it must be re-signed in time
 * even when nothing is revoked. */
static int ca_crl_stale(const struct ca_local *impl)
{
    FILE *fp = fopen(impl->crl_path, "re");
    X509_CRL *crl = NULL;
    const ASN1_TIME *next;
    struct tm tm;
    int stale = 1;

    if (fp == NULL) {
        return 1;
    }
    crl = PEM_read_X509_CRL(fp, NULL, NULL, NULL);
    fclose(fp);
    if (crl == NULL || X509_CRL_verify(crl, X509_get0_pubkey(impl->cert)) != 1) {
        goto out;
    }
    next = X509_CRL_get0_nextUpdate(crl);
    memset(&tm, 0, sizeof(tm));
    if (next == NULL || ASN1_TIME_to_tm(next, &tm) != 1) {
        goto out;
    }
    stale = timegm(&tm) - time(NULL) < CA_CRL_NEXT_UPDATE / 2;
out:
    ERR_clear_error();
    X509_CRL_free(crl);
    return stale;
}

/* Re-signs crl.pem from revoked.json (creating both, empty, for a new CA) when it is stale.
 * Called with the directory lock held. */
static int ca_crl_refresh_locked(struct ca_local *impl, struct mk_err *err)
{
    json_t *root = NULL;
    int rc = -1;

    if (!ca_crl_stale(impl)) {
        return 0;
    }
    root = ca_revoked_load(impl, err);
    MK_GUARD_PTR(root);
    MK_GUARD(ca_publish(impl, root, err));
    mk_log(MK_LOG_INFO, "ca.local.crl_published", "crl=%s revoked=%zu", impl->crl_path,
           json_array_size(json_object_get(root, "revoked")));
    rc = 0;
out:
    json_decref(root);
    return rc;
}

/* Appends the revocation to revoked.json (kept if the serial is already listed), writes it,
 * then publishes crl.pem.  Called with impl->lock and the directory lock held. */
static int ca_revoke_locked(struct ca_local *impl, X509 *cert, const char *reason,
                            struct mk_err *err)
{
    json_t *root = NULL;
    json_t *list;
    json_t *entry = NULL;
    struct pki_cert_info info;
    int found = 0;
    int rc = -1;

    MK_GUARD(ca_check_issued_here(impl, cert, err));
    MK_GUARD(pki_cert_info(cert, &info, err));
    root = ca_revoked_load(impl, err);
    MK_GUARD_PTR(root);
    list = json_object_get(root, "revoked");
    for (size_t i = 0; i < json_array_size(list); i++) {
        const char *s = json_string_value(json_object_get(json_array_get(list, i), "serial"));
        if (s != NULL && strcasecmp(s, info.serial_hex) == 0) {
            found = 1; /* revoking twice keeps the first reason and time */
        }
    }
    if (!found) {
        entry = json_pack("{s:s, s:s, s:I, s:s, s:I}", "serial", info.serial_hex, "reason", reason,
                          "revoked_at", (json_int_t)time(NULL), "subject", info.subject,
                          "not_after", (json_int_t)info.not_after);
        MK_ENSURE(entry != NULL, err, MK_ERR_NOMEM, "ca: out of memory");
        MK_ENSURE(json_array_append_new(list, entry) == 0, err, MK_ERR_NOMEM, "ca: out of memory");
        entry = NULL;
    }
    MK_GUARD(ca_publish(impl, root, err));
    mk_log(MK_LOG_INFO, "ca.local.revoked", "serial=%s reason=%s crl=%s", info.serial_hex, reason,
           impl->crl_path);
    rc = 0;
out:
    json_decref(entry);
    json_decref(root);
    return rc;
}

static int ca_local_revoke(struct pki_ca *ca, X509 *cert, const char *reason, struct mk_err *err)
{
    struct ca_local *impl = ca->impl;
    int lock_fd = -1;
    int rc = -1;

    if (reason == NULL || reason[0] == '\0') {
        reason = "UNSPECIFIED";
    }
    MK_ENSURE(ca_reason_code(reason) >= 0, err, MK_ERR_INVALID,
              "ca: unknown revocation reason \"%s\" (expected an AWS RevocationReason such as "
              "SUPERSEDED or KEY_COMPROMISE)",
              reason);
    pthread_mutex_lock(&impl->lock);
    /* The agent and mskpkictl may revoke at the same time: serialise the read-modify-write. */
    lock_fd = ca_lock(impl, err);
    if (lock_fd >= 0) {
        rc = ca_revoke_locked(impl, cert, reason, err);
        close(lock_fd);
    }
    pthread_mutex_unlock(&impl->lock);
out:
    return rc;
}

/* Keeps crl.pem fresh from check(), which the agent calls before every issuance.  Failures are
 * logged, not returned: a CRL problem must not stop certificates from being renewed. */
static void ca_crl_refresh(struct ca_local *impl)
{
    struct mk_err err;
    int lock_fd;

    mk_err_clear(&err);
    pthread_mutex_lock(&impl->lock);
    lock_fd = ca_lock(impl, &err);
    if (lock_fd >= 0) {
        if (ca_crl_refresh_locked(impl, &err) != 0) {
            mk_log_err("ca.local.crl_refresh_failed", &err);
        }
        close(lock_fd);
    } else {
        mk_log_err("ca.local.crl_refresh_failed", &err);
    }
    pthread_mutex_unlock(&impl->lock);
}

/* ---- construction ---------------------------------------------------------------------- */

static void ca_local_destroy(struct pki_ca *ca)
{
    struct ca_local *impl = ca->impl;

    if (impl == NULL) {
        return;
    }
    EVP_PKEY_free(impl->key);
    X509_free(impl->cert);
    pthread_mutex_destroy(&impl->lock);
    free(impl);
    ca->impl = NULL;
}

static const struct pki_ca_ops ca_local_ops = {
    .kind = "local",
    .check = ca_local_check,
    .issue = ca_local_issue,
    .trust_anchors = ca_local_trust_anchors,
    .revoke = ca_local_revoke,
    .destroy = ca_local_destroy,
};

/* Fills dst with dir/name, refusing truncation. */
static int ca_path(char *dst, size_t n, const char *dir, const char *name, struct mk_err *err)
{
    int len = snprintf(dst, n, "%s/%s", dir, name);

    if (len < 0 || (size_t)len >= n) {
        mk_err_set(err, MK_ERR_CONFIG, "%s: path too long", dir);
        return -1;
    }
    return 0;
}

struct pki_ca *pki_ca_local_new(const struct pki_ca_local_config *cfg, struct mk_err *err)
{
    struct ca_local *impl = NULL;
    struct pki_ca *ca = NULL;
    struct pki_ca *ret = NULL;
    int mutex_ok = 0;
    size_t dlen;

    MK_ENSURE(cfg != NULL && cfg->directory != NULL && cfg->directory[0] == '/', err, MK_ERR_CONFIG,
              "ca: local CA directory must be an absolute path, got \"%s\"",
              cfg != NULL && cfg->directory != NULL ? cfg->directory : "");
    MK_ENSURE(cfg->ca_validity_seconds >= 0 && cfg->max_validity_seconds >= 0, err, MK_ERR_CONFIG,
              "ca: local CA validities must not be negative");
    MK_ENSURE(cfg->ca_validity_seconds <= CA_MAX_VALIDITY, err, MK_ERR_CONFIG,
              "ca: local CA validity of %ld s is more than 100 years", cfg->ca_validity_seconds);
    MK_GUARD(pki_sodium_init(err));
    impl = calloc(1, sizeof(*impl));
    MK_ENSURE(impl != NULL, err, MK_ERR_NOMEM, "ca: out of memory");
    MK_ENSURE(pthread_mutex_init(&impl->lock, NULL) == 0, err, MK_ERR_NOMEM,
              "ca: pthread_mutex_init failed");
    mutex_ok = 1;
    dlen = strlen(cfg->directory);
    /* Strip trailing slashes so the file names read well in messages. */
    while (dlen > 1 && cfg->directory[dlen - 1] == '/') {
        dlen--;
    }
    MK_ENSURE(dlen < sizeof(impl->dir), err, MK_ERR_CONFIG, "%s: path too long", cfg->directory);
    memcpy(impl->dir, cfg->directory, dlen);
    impl->dir[dlen] = '\0';
    MK_GUARD(ca_path(impl->key_path, sizeof(impl->key_path), impl->dir, "ca.key", err));
    MK_GUARD(ca_path(impl->cert_path, sizeof(impl->cert_path), impl->dir, "ca.crt", err));
    MK_GUARD(ca_path(impl->lock_path, sizeof(impl->lock_path), impl->dir, ".lock", err));
    MK_GUARD(
        ca_path(impl->revoked_path, sizeof(impl->revoked_path), impl->dir, "revoked.json", err));
    MK_GUARD(ca_path(impl->crl_path, sizeof(impl->crl_path), impl->dir, "crl.pem", err));
    MK_ENSURE(cfg->common_name == NULL || strlen(cfg->common_name) < sizeof(impl->common_name), err,
              MK_ERR_CONFIG, "ca: local CA common name too long");
    snprintf(impl->common_name, sizeof(impl->common_name), "%s",
             cfg->common_name != NULL && cfg->common_name[0] != '\0' ? cfg->common_name
                                                                     : CA_DEFAULT_CN);
    impl->ca_validity_seconds =
        cfg->ca_validity_seconds > 0 ? cfg->ca_validity_seconds : CA_DEFAULT_VALIDITY;
    impl->max_validity_seconds = cfg->max_validity_seconds;
    MK_GUARD(ca_load_or_create(impl, err));
    ca = pki_ca_alloc(&ca_local_ops, impl, err);
    MK_GUARD_PTR(ca);
    impl = NULL;
    ret = ca;
out:
    if (impl != NULL) {
        EVP_PKEY_free(impl->key);
        X509_free(impl->cert);
        if (mutex_ok) {
            pthread_mutex_destroy(&impl->lock);
        }
        free(impl);
    }
    return ret;
}
