/*
 * ca_aws_pca.c: the aws-pca CA backend: AWS Private CA through the ACM PCA JSON 1.1 API
 * (service "acm-pca", targets "ACMPrivateCA.<Op>", API version 2017-08-22) on aws/aws.h.
 *
 * Issuance is DescribeCertificateAuthority (refuse a CA that cannot issue this certificate before
 * paying for one), IssueCertificate, then GetCertificate until the certificate is there.  Because
 * an issued certificate costs money and cannot be taken back, the certificate ARN is written to the
 * caller's pending file before the first GetCertificate: a crash, a restart or a poll deadline
 * leaves that record behind and the next call for the same CSR resumes polling instead of
 * issuing again.  The IdempotencyToken (derived from the CSR) covers the other window, a retry
 * of IssueCertificate itself after a lost answer.  See docs/aws-pca.md.
 */
#include "ca/ca-int.h"
#include "ca/aws_pca-int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "aws/arn.h"
#include "aws/aws.h"
#include "aws/creds.h"
#include "aws/rolesanywhere.h"
#include "pki/cert.h"
#include "pki/csr.h"
#include "pki/keepalive.h"
#include "pki/key.h"
#include "pki/log.h"
#include "pki/store.h"

/* Defined with the other answer parsers below; declared here because pca_precheck() uses it and
 * ca_aws_pca-int.h declares it only for test builds. */
MK_TESTABLE int pki_pca_check_answer(json_t *desc, const char *ca_arn, long validity_seconds,
                                     struct mk_err *err);

#define PCA_DEFAULT_TEMPLATE "arn:aws:acm-pca:::template/EndEntityClientAuthCertificate/V1"
#define PCA_DEFAULT_RATE 1.0
#define PCA_DEFAULT_BURST 5
#define PCA_DEFAULT_POLL_TIMEOUT 120
/* AWS Private CA short-lived certificate mode issues certificates valid for at most 7 days. */
#define PCA_SHORT_LIVED_MAX (7L * 86400L)
/* IssueCertificate's IdempotencyToken is 1 to 36 characters; 32 hex characters of the CSR
 * fingerprint keep 128 bits. */
#define PCA_TOKEN_LEN 32
/* A pending record is a few hundred bytes; refuse to slurp anything much larger. */
#define PCA_PENDING_MAX 16384

static long poll_initial_ms = 1000;
static long poll_max_ms = 10000;

/* ---- clock ------------------------------------------------------------------------------ */

static double real_now(void *arg)
{
    struct timespec ts;

    (void)arg;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* In slices with keepalive calls: a poll's backoff or the rate limit must not starve the
 * watchdog of the agent that waits here (pki/keepalive.h). */
static void real_sleep(void *arg, double seconds)
{
    (void)arg;
    pki_keepalive_sleep(seconds);
}

static const struct pki_pca_clock real_clock = {real_now, real_sleep, NULL};

/* ---- token bucket ------------------------------------------------------------------------ */

struct pki_pca_bucket {
    pthread_mutex_t lock; /* guards tokens and last */
    double rate;          /* tokens per second */
    double burst;         /* capacity */
    double tokens;
    double last; /* clock time of the last refill */
    struct pki_pca_clock clock;
    /* Registry entries only: the CA the bucket belongs to, and the next entry. */
    char *ca_arn;
    struct pki_pca_bucket *next;
};

MK_TESTABLE struct pki_pca_bucket *
pki_pca_bucket_new(double rate, double burst, const struct pki_pca_clock *clock, struct mk_err *err)
{
    struct pki_pca_bucket *b = NULL;

    if (!(rate > 0) || !(burst >= 1)) {
        mk_err_set(err, MK_ERR_CONFIG,
                   "aws-pca: rate limit needs rate_per_second > 0 and burst >= 1 (got %g, %g)",
                   rate, burst);
        return NULL;
    }
    b = calloc(1, sizeof(*b));
    if (b == NULL) {
        mk_err_set(err, MK_ERR_NOMEM, "aws-pca: out of memory");
        return NULL;
    }
    if (pthread_mutex_init(&b->lock, NULL) != 0) {
        mk_err_set(err, MK_ERR_NOMEM, "aws-pca: pthread_mutex_init failed");
        free(b);
        return NULL;
    }
    b->rate = rate;
    b->burst = burst;
    b->tokens = burst;
    b->clock = clock != NULL ? *clock : real_clock;
    b->last = b->clock.now(b->clock.arg);
    return b;
}

MK_TESTABLE void pki_pca_bucket_free(struct pki_pca_bucket *bucket)
{
    if (bucket == NULL) {
        return;
    }
    pthread_mutex_destroy(&bucket->lock);
    free(bucket->ca_arn);
    free(bucket);
}

/* Adds what the time since the last refill earned, up to burst.  Called with the lock held. */
static void bucket_refill_locked(struct pki_pca_bucket *bucket, double now)
{
    /* A clock that went backwards (another thread passed an older "now") refills nothing. */
    if (now > bucket->last) {
        bucket->tokens += (now - bucket->last) * bucket->rate;
        if (bucket->tokens > bucket->burst) {
            bucket->tokens = bucket->burst;
        }
        bucket->last = now;
    }
}

MK_TESTABLE double pki_pca_bucket_take(struct pki_pca_bucket *bucket, double now)
{
    double wait = 0;

    pthread_mutex_lock(&bucket->lock);
    bucket_refill_locked(bucket, now);
    if (bucket->tokens >= 1.0) {
        bucket->tokens -= 1.0;
    } else {
        wait = (1.0 - bucket->tokens) / bucket->rate;
    }
    pthread_mutex_unlock(&bucket->lock);
    return wait;
}

MK_TESTABLE int pki_pca_bucket_acquire(struct pki_pca_bucket *bucket, double deadline,
                                       struct mk_err *err)
{
    for (;;) {
        double now = bucket->clock.now(bucket->clock.arg);
        double wait = pki_pca_bucket_take(bucket, now);

        if (wait <= 0) {
            return 0;
        }
        /* Fail at once rather than sleep towards a deadline we already know we will miss. */
        if (now + wait > deadline) {
            mk_err_set(err, MK_ERR_TIMEOUT,
                       "rate limit: no request token before the deadline "
                       "(next in %.2f s, %.2f s left)",
                       wait, deadline > now ? deadline - now : 0.0);
            return -1;
        }
        bucket->clock.sleep(bucket->clock.arg, wait);
    }
}

/*
 * Process-wide registry: one bucket per CA ARN, kept for the life of the process (a few bytes per
 * CA).  Keeping it across backend objects matters: the agent drops and re-creates its CA object
 * after errors and on reload, and a fresh, full bucket each time would let a failure loop call
 * the CA at burst rate.  The latest backend's rate and burst apply (a reload may change them);
 * two live backends with different settings share the bucket, so they cannot double the rate.
 */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pki_pca_bucket *registry;

static struct pki_pca_bucket *bucket_get(const char *ca_arn, double rate, double burst,
                                         struct mk_err *err)
{
    struct pki_pca_bucket *b = NULL;

    pthread_mutex_lock(&registry_lock);
    for (b = registry; b != NULL; b = b->next) {
        if (strcmp(b->ca_arn, ca_arn) == 0) {
            break;
        }
    }
    if (b != NULL) {
        pthread_mutex_lock(&b->lock);
        if (b->rate != rate || b->burst != burst) {
            mk_log(MK_LOG_INFO, "pca.rate_limit.changed",
                   "ca_arn=%s rate=%g burst=%g old_rate=%g old_burst=%g", ca_arn, rate, burst,
                   b->rate, b->burst);
            /* Time so far is earned at the old rate. */
            bucket_refill_locked(b, b->clock.now(b->clock.arg));
            b->rate = rate;
            b->burst = burst;
            if (b->tokens > burst) {
                b->tokens = burst;
            }
        }
        pthread_mutex_unlock(&b->lock);
        goto out;
    }
    b = pki_pca_bucket_new(rate, burst, NULL, err);
    if (b == NULL) {
        goto out;
    }
    b->ca_arn = strdup(ca_arn);
    if (b->ca_arn == NULL) {
        mk_err_set(err, MK_ERR_NOMEM, "aws-pca: out of memory");
        pki_pca_bucket_free(b);
        b = NULL;
        goto out;
    }
    b->next = registry;
    registry = b;
out:
    pthread_mutex_unlock(&registry_lock);
    return b;
}

/* ---- backend state ----------------------------------------------------------------------- */

struct pca_impl {
    struct aws_client *client;
    struct aws_ra_source *ra; /* Roles Anywhere, or NULL */
    char *ca_arn;
    char *template_arn;
    char *signing_algorithm; /* configured; NULL = the CA's own (see ca_signing_algorithm) */
    long poll_timeout;       /* seconds */
    struct pki_pca_bucket *bucket;
    pthread_mutex_t lock; /* guards ca_alg */
    char ca_alg[32];      /* the CA's SigningAlgorithm once learnt, else empty */
};

static void pca_impl_free(struct pca_impl *impl)
{
    if (impl == NULL) {
        return;
    }
    aws_client_free(impl->client);
    aws_ra_source_free(impl->ra);
    /* impl->bucket belongs to the registry. */
    pthread_mutex_destroy(&impl->lock);
    free(impl->ca_arn);
    free(impl->template_arn);
    free(impl->signing_algorithm);
    free(impl);
}

static void pca_destroy(struct pki_ca *ca)
{
    pca_impl_free(ca->impl);
    ca->impl = NULL;
}

static double deadline_in(long seconds)
{
    return real_now(NULL) + (double)seconds;
}

/*
 * One ACM PCA call: waits for a token, calls, and counts the outcome.  On failure the message
 * names the operation, the CA and the AWS error code.  *resp is a new reference on success.
 */
static int pca_call(struct pki_ca *ca, const char *op, json_t *req, json_t **resp, double deadline,
                    struct mk_err *err)
{
    struct pca_impl *impl = ca->impl;
    char target[64];

    snprintf(target, sizeof(target), "ACMPrivateCA.%s", op);
    if (pki_pca_bucket_acquire(impl->bucket, deadline, err) != 0) {
        mk_err_prefix(err, "aws-pca: %s on %s", op, impl->ca_arn);
        return -1;
    }
    if (aws_json_call(impl->client, "acm-pca", target, req, resp, err) != 0) {
        if (err != NULL) {
            int aws = err->code == MK_ERR_AWS && err->ext_code[0] != '\0';

            pki_ca_count_request(ca, aws ? err->ext_code : mk_code_str(err->code));
            if (aws && strstr(err->msg, err->ext_code) == NULL) {
                mk_err_prefix(err, "aws-pca: %s on %s: %s", op, impl->ca_arn, err->ext_code);
            } else {
                mk_err_prefix(err, "aws-pca: %s on %s", op, impl->ca_arn);
            }
        } else {
            pki_ca_count_request(ca, "unknown");
        }
        return -1;
    }
    pki_ca_count_request(ca, "ok");
    if (*resp == NULL || !json_is_object(*resp)) {
        json_decref(*resp);
        *resp = NULL;
        mk_err_set(err, MK_ERR_INVALID, "aws-pca: %s on %s: answer is not a JSON object", op,
                   impl->ca_arn);
        return -1;
    }
    return 0;
}

static int is_aws_code(const struct mk_err *err, const char *code)
{
    return err != NULL && err->code == MK_ERR_AWS && strcmp(err->ext_code, code) == 0;
}

/* A required non-empty string member of an answer; borrowed from obj. */
static const char *json_req_str(json_t *obj, const char *op, const char *field, struct mk_err *err)
{
    const char *s = json_string_value(json_object_get(obj, field));

    if (s == NULL || s[0] == '\0') {
        mk_err_set(err, MK_ERR_INVALID, "aws-pca: %s answer: %s is missing or not a string", op,
                   field);
        return NULL;
    }
    return s;
}

static void format_utc(time_t t, char *out, size_t size)
{
    struct tm tm;

    if (gmtime_r(&t, &tm) == NULL || strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
        snprintf(out, size, "%lld", (long long)t);
    }
}

/* ---- certificates from answers ----------------------------------------------------------- */

/* Every certificate of a PEM string member, or an empty stack when the member is absent or
 * empty (required = 0).  Caller frees with sk_X509_pop_free(s, X509_free). */
static STACK_OF(X509) *
    certs_of(json_t *obj, const char *op, const char *field, int required, struct mk_err *err)
{
    const char *pem = json_string_value(json_object_get(obj, field));
    STACK_OF(X509) *certs = NULL;

    if (pem == NULL || pem[0] == '\0') {
        if (required) {
            mk_err_set(err, MK_ERR_INVALID, "aws-pca: %s answer: %s is missing", op, field);
            return NULL;
        }
        certs = sk_X509_new_null();
        if (certs == NULL) {
            mk_err_set(err, MK_ERR_NOMEM, "aws-pca: out of memory");
        }
        return certs;
    }
    certs = pki_certs_from_mem(pem, strlen(pem), err);
    if (certs == NULL) {
        mk_err_prefix(err, "aws-pca: %s answer: %s", op, field);
    }
    return certs;
}

/*
 * Returns chain ordered issuer first: the certificate that issued `from`, then its issuer, and so
 * on.  AWS documents that order already; sorting protects the chain file from an answer in
 * another order.  Certificates off the path are kept at the end rather than dropped.  On success
 * the result owns every certificate and chain's (now empty) stack is freed; on failure chain is
 * untouched.  Caller frees with sk_X509_pop_free(s, X509_free).
 */
static STACK_OF(X509) * chain_order(X509 *from, STACK_OF(X509) * chain, struct mk_err *err)
{
    STACK_OF(X509) *left = sk_X509_dup(chain);
    STACK_OF(X509) *sorted = sk_X509_new_null();
    STACK_OF(X509) *ret = NULL;
    X509 *cur = from;

    MK_ENSURE(left != NULL && sorted != NULL, err, MK_ERR_NOMEM, "aws-pca: out of memory");
    /* A self-signed certificate ends the path. */
    while (sk_X509_num(left) > 0 && !(cur != from && X509_check_issued(cur, cur) == X509_V_OK)) {
        int found = -1;

        for (int i = 0; i < sk_X509_num(left); i++) {
            if (X509_check_issued(sk_X509_value(left, i), cur) == X509_V_OK) {
                found = i;
                break;
            }
        }
        if (found < 0) {
            break;
        }
        cur = sk_X509_delete(left, found);
        MK_ENSURE(sk_X509_push(sorted, cur) > 0, err, MK_ERR_NOMEM, "aws-pca: out of memory");
    }
    for (int i = 0; i < sk_X509_num(left); i++) {
        MK_ENSURE(sk_X509_push(sorted, sk_X509_value(left, i)) > 0, err, MK_ERR_NOMEM,
                  "aws-pca: out of memory");
    }
    sk_X509_free(chain);
    ret = sorted;
    sorted = NULL;
out:
    sk_X509_free(sorted);
    sk_X509_free(left);
    return ret;
}

/* ---- pending record ---------------------------------------------------------------------- */

/*
 * Reads the pending record at path.  When it is for this CSR and this CA, *arn gets the
 * certificate ARN (caller frees with free()); when the file is missing or belongs to another
 * CSR or CA, *arn stays NULL and the record will be replaced.  A record that cannot be read or
 * parsed is an error naming the file: silently issuing again could double the bill.
 */
static int pending_read(const char *path, const char *fingerprint, const char *ca_arn, char **arn,
                        struct mk_err *err)
{
    char buf[PCA_PENDING_MAX + 1];
    json_t *rec = NULL;
    json_error_t jerr;
    const char *fp = NULL;
    const char *rec_ca = NULL;
    const char *cert_arn = NULL;
    size_t len = 0;
    int fd = -1;
    int rc = -1;

    *arn = NULL;
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        return 0;
    }
    MK_ENSURE_ERRNO(fd >= 0, err, MK_ERR_IO, "aws-pca: pending record %s: open", path);
    for (;;) {
        ssize_t n = read(fd, buf + len, sizeof(buf) - len);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        MK_ENSURE_ERRNO(n >= 0, err, MK_ERR_IO, "aws-pca: pending record %s: read", path);
        if (n == 0) {
            break;
        }
        len += (size_t)n;
        MK_ENSURE(len <= PCA_PENDING_MAX, err, MK_ERR_INVALID,
                  "aws-pca: pending record %s: larger than %d bytes", path, PCA_PENDING_MAX);
    }
    rec = json_loadb(buf, len, 0, &jerr);
    MK_ENSURE(rec != NULL && json_is_object(rec), err, MK_ERR_INVALID,
              "aws-pca: pending record %s: line %d: not a JSON object (%s); remove it to issue "
              "a new certificate",
              path, rec != NULL ? 1 : jerr.line, rec != NULL ? "wrong type" : jerr.text);
    fp = json_string_value(json_object_get(rec, "csr_sha256"));
    rec_ca = json_string_value(json_object_get(rec, "ca_arn"));
    cert_arn = json_string_value(json_object_get(rec, "certificate_arn"));
    MK_ENSURE(fp != NULL && rec_ca != NULL && cert_arn != NULL && cert_arn[0] != '\0', err,
              MK_ERR_INVALID,
              "aws-pca: pending record %s: field %s is missing or not a string; remove it to "
              "issue a new certificate",
              path,
              fp == NULL       ? "csr_sha256"
              : rec_ca == NULL ? "ca_arn"
                               : "certificate_arn");
    if (strcmp(fp, fingerprint) != 0 || strcmp(rec_ca, ca_arn) != 0) {
        mk_log(MK_LOG_WARN, "pca.pending.superseded",
               "path=%s certificate_arn=%s reason=\"record is for another %s\"", path, cert_arn,
               strcmp(fp, fingerprint) != 0 ? "CSR" : "CA");
        rc = 0;
        goto out;
    }
    *arn = strdup(cert_arn);
    MK_ENSURE(*arn != NULL, err, MK_ERR_NOMEM, "aws-pca: out of memory");
    rc = 0;
out:
    if (fd >= 0) {
        close(fd);
    }
    json_decref(rec);
    return rc;
}

/*
 * The record belongs to whoever owns its directory: `mskpkictl cert issue` run as root leaves it
 * in state_dir, which agent.user owns, and the running agent's network process (that user) must
 * read it to resume rather than fail at each retry.  It holds ARNs and a CSR hash, no secret.
 */
static void pending_owner(const char *path, uid_t *uid, gid_t *gid)
{
    char dir[1024];
    const char *slash = strrchr(path, '/');
    struct stat st;
    size_t n;

    *uid = (uid_t)-1;
    *gid = (gid_t)-1;
    if (geteuid() != 0 || slash == NULL) {
        return;
    }
    n = slash == path ? 1 : (size_t)(slash - path);
    if (n >= sizeof(dir)) {
        return;
    }
    memcpy(dir, path, n);
    dir[n] = '\0';
    if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid != 0) {
        *uid = st.st_uid;
        *gid = st.st_gid;
    }
}

static int pending_write(const char *path, const char *fingerprint, const char *ca_arn,
                         const char *cert_arn, struct mk_err *err)
{
    char issued_at[32];
    json_t *rec = NULL;
    char *text = NULL;
    uid_t uid;
    gid_t gid;
    int rc = -1;

    format_utc(time(NULL), issued_at, sizeof(issued_at));
    rec = json_pack("{s:s, s:s, s:s, s:s}", "csr_sha256", fingerprint, "certificate_arn", cert_arn,
                    "ca_arn", ca_arn, "issued_at", issued_at);
    MK_ENSURE(rec != NULL, err, MK_ERR_NOMEM, "aws-pca: out of memory");
    text = json_dumps(rec, JSON_INDENT(2) | JSON_SORT_KEYS);
    MK_ENSURE(text != NULL, err, MK_ERR_NOMEM, "aws-pca: out of memory");
    pending_owner(path, &uid, &gid);
    MK_GUARD(pki_store_write_file(path, text, strlen(text), 0600, uid, gid, err));
    rc = 0;
out:
    free(text);
    json_decref(rec);
    return rc;
}

/* ---- describe ---------------------------------------------------------------------------- */

/* The SigningAlgorithm values of the API (2017-08-22) for RSA and ECDSA CAs. */
static int known_signing_algorithm(const char *alg)
{
    static const char *const known[] = {"SHA256WITHECDSA", "SHA384WITHECDSA", "SHA512WITHECDSA",
                                        "SHA256WITHRSA",   "SHA384WITHRSA",   "SHA512WITHRSA"};

    for (size_t i = 0; alg != NULL && i < sizeof(known) / sizeof(known[0]); i++) {
        if (strcmp(alg, known[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Remembers the CA's CertificateAuthorityConfiguration.SigningAlgorithm from a description. */
static void remember_ca_algorithm(struct pca_impl *impl, json_t *desc)
{
    const char *alg = json_string_value(json_object_get(
        json_object_get(desc, "CertificateAuthorityConfiguration"), "SigningAlgorithm"));

    if (!known_signing_algorithm(alg)) {
        return;
    }
    pthread_mutex_lock(&impl->lock);
    snprintf(impl->ca_alg, sizeof(impl->ca_alg), "%s", alg);
    pthread_mutex_unlock(&impl->lock);
}

/* DescribeCertificateAuthority; *desc is borrowed from *resp, which the caller releases with
 * json_decref(). */
static int pca_describe(struct pki_ca *ca, double deadline, json_t **resp, json_t **desc,
                        struct mk_err *err)
{
    struct pca_impl *impl = ca->impl;
    json_t *req = NULL;
    int rc = -1;

    *resp = NULL;
    req = json_pack("{s:s}", "CertificateAuthorityArn", impl->ca_arn);
    MK_ENSURE(req != NULL, err, MK_ERR_NOMEM, "aws-pca: out of memory");
    MK_GUARD(pca_call(ca, "DescribeCertificateAuthority", req, resp, deadline, err));
    *desc = json_object_get(*resp, "CertificateAuthority");
    MK_ENSURE(json_is_object(*desc), err, MK_ERR_INVALID,
              "aws-pca: DescribeCertificateAuthority answer for %s: CertificateAuthority is "
              "missing",
              impl->ca_arn);
    remember_ca_algorithm(impl, *desc);
    rc = 0;
out:
    if (rc != 0) {
        json_decref(*resp);
        *resp = NULL;
    }
    json_decref(req);
    return rc;
}

/*
 * The SigningAlgorithm for IssueCertificate, into out.  The API wants the algorithm family of the
 * CA's own key ("must match the algorithm family of the CA's secret key"), which need not be the
 * family of the host's key: an RSA CA signs EC client keys with SHA256WITHRSA.  So: the
 * configured one; else the CA's configured SigningAlgorithm (from the DescribeCertificateAuthority
 * that pca_precheck() just made, or one learnt before); else, when the CA could not be described
 * (describe_err: no IAM permission), the one that matches the CSR's key, which is right whenever
 * CA and host use the same key type.
 */
static int ca_signing_algorithm(struct pki_ca *ca, X509_REQ *csr, const struct mk_err *describe_err,
                                char *out, size_t size, struct mk_err *err)
{
    struct pca_impl *impl = ca->impl;
    EVP_PKEY *pub = NULL;
    const char *alg = NULL;

    if (impl->signing_algorithm != NULL) {
        snprintf(out, size, "%s", impl->signing_algorithm);
        return 0;
    }
    pthread_mutex_lock(&impl->lock);
    snprintf(out, size, "%s", impl->ca_alg);
    pthread_mutex_unlock(&impl->lock);
    if (out[0] != '\0') {
        return 0;
    }
    pub = X509_REQ_get0_pubkey(csr);
    alg = pub != NULL ? pki_key_signing_algorithm(pub) : NULL;
    if (alg == NULL) {
        mk_err_set(err, MK_ERR_CONFIG,
                   "aws-pca: cannot tell the signing algorithm of %s; set signing_algorithm",
                   impl->ca_arn);
        return -1;
    }
    mk_log(MK_LOG_WARN, "pca.signing_algorithm.guessed",
           "ca_arn=%s signing_algorithm=%s reason=\"%s\"", impl->ca_arn, alg,
           describe_err->code != MK_OK ? describe_err->ext_code
                                       : "no SigningAlgorithm in the CA description");
    snprintf(out, size, "%s", alg);
    return 0;
}

/* Describe answers that mean "not allowed to look", not "the CA cannot issue". */
static int describe_denied(const struct mk_err *err)
{
    return is_aws_code(err, "AccessDeniedException") || is_aws_code(err, "UnauthorizedOperation") ||
           is_aws_code(err, "AccessDenied");
}

/*
 * Before paying for a certificate: DescribeCertificateAuthority and pki_pca_check_answer(), so a
 * CA that is not ACTIVE, is in short-lived mode for a longer validity, or expires before the
 * certificate would is refused clearly (MK_ERR_STATE, naming the CA) and IssueCertificate is
 * never sent.  The description also teaches the CA's SigningAlgorithm.  A host whose role may
 * not describe the CA (AccessDeniedException) still issues, as before the check existed: the
 * outcome goes to *describe_err for ca_signing_algorithm() and is logged.  Any other failure
 * (network, throttling after the client's retries, an unknown CA) is returned.
 */
static int pca_precheck(struct pki_ca *ca, long validity_seconds, double deadline,
                        struct mk_err *describe_err, struct mk_err *err)
{
    struct pca_impl *impl = ca->impl;
    json_t *resp = NULL;
    json_t *desc = NULL;
    int rc;

    mk_err_clear(describe_err);
    if (pca_describe(ca, deadline, &resp, &desc, describe_err) == 0) {
        rc = pki_pca_check_answer(desc, impl->ca_arn, validity_seconds, err);
        json_decref(resp);
        return rc;
    }
    if (describe_denied(describe_err)) {
        mk_log(MK_LOG_WARN, "pca.describe.denied",
               "ca_arn=%s code=%s reason=\"issuing without checking the CA's status and expiry\"",
               impl->ca_arn, describe_err->ext_code);
        return 0;
    }
    if (err != NULL) {
        *err = *describe_err;
    }
    return -1;
}

/* ---- issue ------------------------------------------------------------------------------- */

static char *base64_of(const void *data, size_t len, struct mk_err *err)
{
    size_t cap = 4 * ((len + 2) / 3) + 1;
    char *out = malloc(cap);

    if (out == NULL) {
        mk_err_set(err, MK_ERR_NOMEM, "aws-pca: out of memory");
        return NULL;
    }
    EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    return out;
}

/* IssueCertificate; *arn gets the certificate ARN (caller frees with free()). */
static int pca_issue_certificate(struct pki_ca *ca, X509_REQ *csr, const char *fingerprint,
                                 long validity_seconds, double deadline,
                                 const struct mk_err *describe_err, char **arn, struct mk_err *err)
{
    struct pca_impl *impl = ca->impl;
    char alg[32];
    char token[PCA_TOKEN_LEN + 1];
    char *pem = NULL;
    char *b64 = NULL;
    json_t *req = NULL;
    json_t *resp = NULL;
    const char *cert_arn = NULL;
    size_t pem_len = 0;
    int rc = -1;

    MK_GUARD(ca_signing_algorithm(ca, csr, describe_err, alg, sizeof(alg), err));
    pem = pki_csr_to_pem(csr, &pem_len, err);
    MK_GUARD_PTR(pem);
    /* Csr is a blob: in JSON 1.1 that is base64 of the bytes, and the bytes are the PEM text. */
    b64 = base64_of(pem, pem_len, err);
    MK_GUARD_PTR(b64);
    snprintf(token, sizeof(token), "%.*s", PCA_TOKEN_LEN, fingerprint);
    /*
     * Validity ABSOLUTE is the end time in Unix seconds; unlike DAYS it expresses the sub-day
     * lifetimes of short-lived mode exactly.
     */
    req = json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:I}, s:s}", "CertificateAuthorityArn",
                    impl->ca_arn, "Csr", b64, "SigningAlgorithm", alg, "TemplateArn",
                    impl->template_arn, "Validity", "Type", "ABSOLUTE", "Value",
                    (json_int_t)(time(NULL) + validity_seconds), "IdempotencyToken", token);
    MK_ENSURE(req != NULL, err, MK_ERR_NOMEM, "aws-pca: out of memory");
    MK_GUARD(pca_call(ca, "IssueCertificate", req, &resp, deadline, err));
    cert_arn = json_req_str(resp, "IssueCertificate", "CertificateArn", err);
    MK_GUARD_PTR(cert_arn);
    *arn = strdup(cert_arn);
    MK_ENSURE(*arn != NULL, err, MK_ERR_NOMEM, "aws-pca: out of memory");
    {
        /* Which credentials paid for it: tells a bootstrap ("env") from a self-renewal. */
        char source[32];
        time_t expiry;
        aws_client_credentials_info(impl->client, source, sizeof(source), &expiry);
        mk_log(MK_LOG_INFO, "pca.issued",
               "ca_arn=%s certificate_arn=%s signing_algorithm=%s credentials=%s", impl->ca_arn,
               *arn, alg, source[0] != '\0' ? source : "-");
    }
    rc = 0;
out:
    json_decref(resp);
    json_decref(req);
    free(b64);
    free(pem);
    return rc;
}

/* GetCertificate answers that mean the ARN will never yield a certificate: keeping a record for
 * it would wedge every later attempt for this CSR. */
/* The certificate of a GetCertificate answer: exactly one leaf, and its chain issuer first.  On
 * success out owns both (clear with pki_issued_clear()). */
MK_TESTABLE int pki_pca_certificate_answer(json_t *resp, struct pki_issued *out,
                                           struct mk_err *err)
{
    STACK_OF(X509) *leaf = NULL;
    STACK_OF(X509) *chain = NULL;
    STACK_OF(X509) *sorted = NULL;
    int rc = -1;

    leaf = certs_of(resp, "GetCertificate", "Certificate", 1, err);
    MK_GUARD_PTR(leaf);
    chain = certs_of(resp, "GetCertificate", "CertificateChain", 0, err);
    MK_GUARD_PTR(chain);
    MK_ENSURE(sk_X509_num(leaf) == 1, err, MK_ERR_INVALID,
              "aws-pca: GetCertificate answer: Certificate holds %d certificates, expected 1",
              sk_X509_num(leaf));
    sorted = chain_order(sk_X509_value(leaf, 0), chain, err);
    MK_GUARD_PTR(sorted);
    chain = NULL;
    out->leaf = sk_X509_shift(leaf);
    out->chain = sorted;
    rc = 0;
out:
    sk_X509_pop_free(leaf, X509_free);
    sk_X509_pop_free(chain, X509_free);
    return rc;
}

static int get_error_is_final(const struct mk_err *err)
{
    return is_aws_code(err, "ResourceNotFoundException") ||
           is_aws_code(err, "InvalidArnException") || is_aws_code(err, "RequestFailedException");
}

/*
 * GetCertificate until the certificate is there, backing off while it answers
 * RequestInProgressException; MK_ERR_PENDING when the deadline passes first.
 */
static int pca_get_certificate(struct pki_ca *ca, const char *cert_arn, double deadline,
                               struct pki_issued *out, struct mk_err *err)
{
    struct pca_impl *impl = ca->impl;
    long backoff_ms = poll_initial_ms;
    json_t *req = NULL;
    json_t *resp = NULL;
    int polls = 0;
    int rc = -1;

    req = json_pack("{s:s, s:s}", "CertificateAuthorityArn", impl->ca_arn, "CertificateArn",
                    cert_arn);
    MK_ENSURE(req != NULL, err, MK_ERR_NOMEM, "aws-pca: out of memory");
    for (;;) {
        double now;
        double nap;

        polls++;
        if (pca_call(ca, "GetCertificate", req, &resp, deadline, err) == 0) {
            break;
        }
        if (err != NULL && err->code == MK_ERR_TIMEOUT) {
            /* The rate limiter or the client ran out of time: the certificate is still
             * pending, and the next call resumes it. */
            err->code = MK_ERR_PENDING;
            mk_err_prefix(err,
                          "aws-pca: GetCertificate %s: deadline of %ld s reached after %d "
                          "polls",
                          cert_arn, impl->poll_timeout, polls);
            goto out;
        }
        if (!is_aws_code(err, "RequestInProgressException")) {
            goto out;
        }
        now = real_now(NULL);
        if (now >= deadline) {
            mk_err_set(err, MK_ERR_PENDING,
                       "aws-pca: GetCertificate %s: still RequestInProgressException after %d "
                       "polls and %ld s",
                       cert_arn, polls, impl->poll_timeout);
            goto out;
        }
        nap = (double)backoff_ms / 1000.0;
        if (now + nap > deadline) {
            nap = deadline - now;
        }
        real_sleep(NULL, nap);
        backoff_ms = backoff_ms * 2 > poll_max_ms ? poll_max_ms : backoff_ms * 2;
    }
    rc = pki_pca_certificate_answer(resp, out, err);
out:
    json_decref(resp);
    json_decref(req);
    return rc;
}

static int pca_issue(struct pki_ca *ca, const struct pki_issue_request *req, struct pki_issued *out,
                     struct mk_err *err)
{
    struct mk_err local_err; /* the logic below reads err, and err may be NULL */
    struct pca_impl *impl = ca->impl;
    double deadline = deadline_in(impl->poll_timeout);
    struct pki_issued got = {NULL, NULL};
    struct mk_err record_err;
    char fp[65];
    char *cert_arn = NULL;
    int recorded = 0;
    int rc = -1;

    if (err == NULL) {
        mk_err_clear(&local_err);
        err = &local_err;
    }
    mk_err_clear(&record_err);
    MK_ENSURE(req != NULL && req->csr != NULL, err, MK_ERR_INVALID, "aws-pca: no CSR to issue");
    MK_ENSURE(req->validity_seconds > 0, err, MK_ERR_INVALID,
              "aws-pca: validity must be positive (got %ld s)", req->validity_seconds);
    MK_GUARD(pki_csr_verify(req->csr, err));
    MK_GUARD(pki_csr_fingerprint(req->csr, fp, err));
    if (req->pending_path != NULL) {
        MK_GUARD(pending_read(req->pending_path, fp, impl->ca_arn, &cert_arn, err));
    }
    if (cert_arn != NULL) {
        recorded = 1;
        mk_log(MK_LOG_INFO, "pca.resume", "ca_arn=%s certificate_arn=%s path=%s", impl->ca_arn,
               cert_arn, req->pending_path);
    } else {
        struct mk_err describe_err;

        MK_GUARD(pca_precheck(ca, req->validity_seconds, deadline, &describe_err, err));
        MK_GUARD(pca_issue_certificate(ca, req->csr, fp, req->validity_seconds, deadline,
                                       &describe_err, &cert_arn, err));
        if (req->pending_path != NULL) {
            /*
             * Keep going when the record cannot be written: the certificate is paid for and
             * the ARN is still in memory.  Only a poll timeout then loses it (said below).
             */
            if (pending_write(req->pending_path, fp, impl->ca_arn, cert_arn, &record_err) == 0) {
                recorded = 1;
            } else {
                mk_log_err("pca.pending.write_failed", &record_err);
            }
        }
    }
    if (pca_get_certificate(ca, cert_arn, deadline, &got, err) != 0) {
        if (err != NULL && err->code == MK_ERR_PENDING) {
            char cause[sizeof(err->msg)];

            snprintf(cause, sizeof(cause), "%s", err->msg);
            if (recorded) {
                mk_err_set(err, MK_ERR_PENDING,
                           "%s; pending record kept at %s, the next attempt resumes it", cause,
                           req->pending_path);
            } else {
                mk_err_set(err, MK_ERR_PENDING,
                           "%s; pending record lost (%s): the next attempt issues again", cause,
                           req->pending_path == NULL ? "no pending_path" : record_err.msg);
            }
            mk_log(MK_LOG_INFO, "pca.pending", "ca_arn=%s certificate_arn=%s recorded=%d",
                   impl->ca_arn, cert_arn, recorded);
        } else if (recorded && get_error_is_final(err)) {
            /* This ARN will never produce a certificate: let the next attempt issue anew. */
            if (unlink(req->pending_path) == 0) {
                mk_log(MK_LOG_WARN, "pca.pending.dropped", "path=%s certificate_arn=%s code=%s",
                       req->pending_path, cert_arn, err->ext_code);
            }
        }
        goto out;
    }
    /* A certificate for another key would be useless and, after a resume, means the record
     * pointed at the wrong issuance. */
    if (EVP_PKEY_eq(X509_get0_pubkey(got.leaf), X509_REQ_get0_pubkey(req->csr)) != 1) {
        /* The ARN's answer never changes: drop the record so the next attempt issues anew. */
        if (recorded && unlink(req->pending_path) == 0) {
            mk_log(MK_LOG_WARN, "pca.pending.dropped", "path=%s certificate_arn=%s code=%s",
                   req->pending_path, cert_arn, "key_mismatch");
        }
        mk_err_set(err, MK_ERR_VERIFY, "aws-pca: certificate %s does not carry the CSR's public key",
                   cert_arn);
        goto out;
    }
    *out = got;
    got.leaf = NULL;
    got.chain = NULL;
    rc = 0;
out:
    pki_issued_clear(&got);
    free(cert_arn);
    return rc;
}

/* ---- check ------------------------------------------------------------------------------- */

/* Year 10000: a NotAfter beyond is no date AWS can answer, and would overflow time_t casts. */
#define PCA_NOT_AFTER_MAX 253402300800.0

/* Whether a DescribeCertificateAuthority answer's CertificateAuthority (desc) can issue a
 * certificate of validity_seconds now: ACTIVE, a usage mode that allows it, a NotAfter late
 * enough. */
MK_TESTABLE int pki_pca_check_answer(json_t *desc, const char *ca_arn, long validity_seconds,
                                     struct mk_err *err)
{
    json_t *not_after = NULL;
    const char *status = NULL;
    const char *mode = NULL;
    char when[32];
    char need[32];
    double end_value;
    time_t end;
    int rc = -1;

    status = json_req_str(desc, "DescribeCertificateAuthority", "Status", err);
    MK_GUARD_PTR(status);
    MK_ENSURE(strcmp(status, "ACTIVE") == 0, err, MK_ERR_STATE,
              "aws-pca: certificate authority %s is %s, not ACTIVE: it cannot issue", ca_arn,
              status);
    mode = json_string_value(json_object_get(desc, "UsageMode"));
    MK_ENSURE(mode == NULL || strcmp(mode, "SHORT_LIVED_CERTIFICATE") != 0 ||
                  validity_seconds <= PCA_SHORT_LIVED_MAX,
              err, MK_ERR_STATE,
              "aws-pca: certificate authority %s is in SHORT_LIVED_CERTIFICATE mode, which "
              "issues for at most 7 days (604800 s); requested validity is %ld s",
              ca_arn, validity_seconds);
    not_after = json_object_get(desc, "NotAfter");
    MK_ENSURE(json_is_number(not_after), err, MK_ERR_INVALID,
              "aws-pca: DescribeCertificateAuthority answer for %s: NotAfter is missing", ca_arn);
    /* Timestamps in JSON 1.1 are Unix seconds, possibly with a fraction (dropped).  The range
     * check comes first: converting an out-of-range double to time_t is undefined. */
    end_value = json_number_value(not_after);
    MK_ENSURE(end_value >= 0.0 && end_value < PCA_NOT_AFTER_MAX, err, MK_ERR_INVALID,
              "aws-pca: DescribeCertificateAuthority answer for %s: NotAfter %g is out of range",
              ca_arn, end_value);
    end = (time_t)end_value;
    format_utc(end, when, sizeof(when));
    format_utc(time(NULL) + validity_seconds, need, sizeof(need));
    MK_ENSURE(end >= time(NULL) + validity_seconds, err, MK_ERR_STATE,
              "aws-pca: certificate authority %s expires at %s, before a certificate of %ld s "
              "requested now would (%s)",
              ca_arn, when, validity_seconds, need);
    rc = 0;
out:
    return rc;
}

static int pca_check(struct pki_ca *ca, long validity_seconds, struct mk_err *err)
{
    struct mk_err local_err; /* the logic below reads err, and err may be NULL */
    struct pca_impl *impl = ca->impl;
    json_t *resp = NULL;
    json_t *desc = NULL;
    int rc = -1;

    if (err == NULL) {
        mk_err_clear(&local_err);
        err = &local_err;
    }
    MK_ENSURE(validity_seconds >= 0, err, MK_ERR_INVALID,
              "aws-pca: validity must not be negative (got %ld s)", validity_seconds);
    MK_GUARD(pca_describe(ca, deadline_in(impl->poll_timeout), &resp, &desc, err));
    rc = pki_pca_check_answer(desc, impl->ca_arn, validity_seconds, err);
out:
    json_decref(resp);
    return rc;
}

/* ---- trust anchors ----------------------------------------------------------------------- */

/* The self-signed roots of a GetCertificateAuthorityCertificate answer (at least one).  Caller
 * frees with sk_X509_pop_free(s, X509_free). */
MK_TESTABLE STACK_OF(X509) * pki_pca_anchors_answer(json_t *resp, const char *ca_arn,
                                                   struct mk_err *err)
{
    STACK_OF(X509) *certs = NULL;
    STACK_OF(X509) *rest = NULL;
    STACK_OF(X509) *anchors = NULL;
    STACK_OF(X509) *ret = NULL;

    certs = certs_of(resp, "GetCertificateAuthorityCertificate", "Certificate", 1, err);
    MK_GUARD_PTR(certs);
    rest = certs_of(resp, "GetCertificateAuthorityCertificate", "CertificateChain", 0, err);
    MK_GUARD_PTR(rest);
    while (sk_X509_num(rest) > 0) {
        MK_ENSURE(sk_X509_push(certs, sk_X509_value(rest, 0)) > 0, err, MK_ERR_NOMEM,
                  "aws-pca: out of memory");
        (void)sk_X509_shift(rest);
    }
    anchors = sk_X509_new_null();
    MK_ENSURE(anchors != NULL, err, MK_ERR_NOMEM, "aws-pca: out of memory");
    for (int i = 0; i < sk_X509_num(certs); i++) {
        X509 *c = sk_X509_value(certs, i);

        /* X509_self_signed(c, 1) also checks the signature, not only the names. */
        if (X509_self_signed(c, 1) != 1) {
            continue;
        }
        MK_ENSURE(X509_up_ref(c) == 1 && sk_X509_push(anchors, c) > 0, err, MK_ERR_NOMEM,
                  "aws-pca: out of memory");
    }
    MK_ENSURE(sk_X509_num(anchors) > 0, err, MK_ERR_INVALID,
              "aws-pca: GetCertificateAuthorityCertificate for %s: no self-signed root in the "
              "CA's certificate chain (%d certificates)",
              ca_arn, sk_X509_num(certs));
    ret = anchors;
    anchors = NULL;
out:
    sk_X509_pop_free(anchors, X509_free);
    sk_X509_pop_free(rest, X509_free);
    sk_X509_pop_free(certs, X509_free);
    return ret;
}

static STACK_OF(X509) * pca_trust_anchors(struct pki_ca *ca, struct mk_err *err)
{
    struct mk_err local_err; /* the logic below reads err, and err may be NULL */
    struct pca_impl *impl = ca->impl;
    json_t *req = NULL;
    json_t *resp = NULL;
    STACK_OF(X509) *ret = NULL;

    if (err == NULL) {
        mk_err_clear(&local_err);
        err = &local_err;
    }
    req = json_pack("{s:s}", "CertificateAuthorityArn", impl->ca_arn);
    MK_ENSURE(req != NULL, err, MK_ERR_NOMEM, "aws-pca: out of memory");
    MK_GUARD(pca_call(ca, "GetCertificateAuthorityCertificate", req, &resp,
                      deadline_in(impl->poll_timeout), err));
    ret = pki_pca_anchors_answer(resp, impl->ca_arn, err);
out:
    json_decref(resp);
    json_decref(req);
    return ret;
}

/* ---- revoke ------------------------------------------------------------------------------ */

/*
 * CertificateSerial (a String128) in the form the RevokeCertificate reference asks for (copied
 * from `openssl x509 -text`) and that its CLI and CloudTrail examples show:
 * "67:07:44:76:83:a9:b7:f4:05:56:27:ff:d5:5c:eb:cc".
 */

MK_TESTABLE int pki_pca_serial_string(X509 *cert, char *out, size_t size, struct mk_err *err)
{
    BIGNUM *bn = NULL;
    unsigned char *bytes = NULL;
    size_t pos = 0;
    int n = 0;
    int rc = -1;

    bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
    MK_GUARD_OSSL(bn != NULL, err, MK_ERR_CRYPTO, "aws-pca: certificate serial");
    MK_ENSURE(!BN_is_negative(bn), err, MK_ERR_INVALID, "aws-pca: certificate serial is negative");
    n = BN_num_bytes(bn);
    bytes = calloc(1, n > 0 ? (size_t)n : 1);
    MK_ENSURE(bytes != NULL, err, MK_ERR_NOMEM, "aws-pca: out of memory");
    BN_bn2bin(bn, bytes);
    if (n == 0) {
        n = 1; /* serial 0 prints as "00" */
    }
    MK_ENSURE((size_t)n * 3 <= size, err, MK_ERR_INVALID,
              "aws-pca: certificate serial too long (%d bytes)", n);
    for (int i = 0; i < n; i++) {
        pos += (size_t)snprintf(out + pos, size - pos, i == 0 ? "%02x" : ":%02x", bytes[i]);
    }
    rc = 0;
out:
    free(bytes);
    BN_free(bn);
    return rc;
}

static int pca_revoke(struct pki_ca *ca, X509 *cert, const char *reason, struct mk_err *err)
{
    struct mk_err local_err; /* the logic below reads err, and err may be NULL */
    struct pca_impl *impl = ca->impl;
    char serial[200];
    json_t *req = NULL;
    json_t *resp = NULL;
    int rc = -1;

    if (err == NULL) {
        mk_err_clear(&local_err);
        err = &local_err;
    }
    MK_ENSURE(cert != NULL, err, MK_ERR_INVALID, "aws-pca: no certificate to revoke");
    MK_GUARD(pki_pca_serial_string(cert, serial, sizeof(serial), err));
    if (reason == NULL || reason[0] == '\0') {
        reason = "UNSPECIFIED";
    }
    req = json_pack("{s:s, s:s, s:s}", "CertificateAuthorityArn", impl->ca_arn, "CertificateSerial",
                    serial, "RevocationReason", reason);
    MK_ENSURE(req != NULL, err, MK_ERR_NOMEM, "aws-pca: out of memory");
    MK_GUARD(pca_call(ca, "RevokeCertificate", req, &resp, deadline_in(impl->poll_timeout), err));
    mk_log(MK_LOG_INFO, "pca.revoked", "ca_arn=%s serial=%s reason=%s", impl->ca_arn, serial,
           reason);
    rc = 0;
out:
    json_decref(resp);
    json_decref(req);
    return rc;
}

/* ---- constructor ------------------------------------------------------------------------- */

static const struct pki_ca_ops pca_ops = {
    .kind = "aws-pca",
    .check = pca_check,
    .issue = pca_issue,
    .trust_anchors = pca_trust_anchors,
    .revoke = pca_revoke,
    .destroy = pca_destroy,
};

static int dup_opt(const char *s, const char *def, char **out, struct mk_err *err)
{
    const char *v = s != NULL && s[0] != '\0' ? s : def;

    *out = NULL;
    if (v == NULL) {
        return 0;
    }
    *out = strdup(v);
    if (*out == NULL) {
        mk_err_set(err, MK_ERR_NOMEM, "aws-pca: out of memory");
        return -1;
    }
    return 0;
}

/* Every call of this backend signed with CreateSession credentials of the configured
 * certificate, the ordinary chain standing in while it has none (see ca.h). */
static int pca_use_roles_anywhere(struct pca_impl *impl, const struct pki_ca_aws_pca_config *cfg,
                                  struct mk_err *err)
{
    const struct pki_ca_roles_anywhere_config *r = &cfg->roles_anywhere;
    struct aws_ra_source_config rc = {
        .params = {.trust_anchor_arn = r->trust_anchor_arn,
                   .profile_arn = r->profile_arn,
                   .role_arn = r->role_arn,
                   .session_name = r->session_name,
                   .duration_seconds = r->duration_seconds,
                   .endpoint_url = r->endpoint_url,
                   .ca_bundle = cfg->ca_bundle},
        .name = r->certificate,
        .current = cfg->ra_signer->current,
        .sign = cfg->ra_signer->sign,
        .arg = cfg->ra_signer->arg,
    };
    impl->ra = aws_ra_source_new(impl->client, &rc, err);
    if (impl->ra == NULL) {
        mk_err_prefix(err, "aws-pca");
        return -1;
    }
    return 0;
}

struct pki_ca *pki_ca_aws_pca_new(const struct pki_ca_aws_pca_config *cfg, struct mk_err *err)
{
    char region[64];
    struct aws_client_options opts;
    struct pca_impl *impl = NULL;
    struct pki_ca *ca = NULL;
    double rate;
    int burst;

    MK_ENSURE(cfg != NULL && cfg->ca_arn != NULL && cfg->ca_arn[0] != '\0', err, MK_ERR_CONFIG,
              "aws-pca: ca_arn is required");
    MK_ENSURE(strncmp(cfg->ca_arn, "arn:", 4) == 0 &&
                  strstr(cfg->ca_arn, ":certificate-authority/") != NULL,
              err, MK_ERR_CONFIG,
              "aws-pca: ca_arn \"%s\" is not a certificate authority ARN "
              "(arn:aws:acm-pca:REGION:ACCOUNT:certificate-authority/ID)",
              cfg->ca_arn);
    MK_ENSURE(cfg->signing_algorithm == NULL || cfg->signing_algorithm[0] == '\0' ||
                  known_signing_algorithm(cfg->signing_algorithm),
              err, MK_ERR_CONFIG,
              "aws-pca: signing_algorithm \"%s\" is not one of SHA256WITHECDSA, SHA384WITHECDSA, "
              "SHA512WITHECDSA, SHA256WITHRSA, SHA384WITHRSA, SHA512WITHRSA",
              cfg->signing_algorithm);
    MK_ENSURE(cfg->rate_per_second >= 0 && cfg->burst >= 0 && cfg->poll_timeout_seconds >= 0, err,
              MK_ERR_CONFIG,
              "aws-pca: rate_per_second, burst and poll_timeout_seconds must not be negative");
    rate = cfg->rate_per_second > 0 ? cfg->rate_per_second : PCA_DEFAULT_RATE;
    burst = cfg->burst > 0 ? cfg->burst : PCA_DEFAULT_BURST;
    impl = calloc(1, sizeof(*impl));
    MK_ENSURE(impl != NULL, err, MK_ERR_NOMEM, "aws-pca: out of memory");
    if (pthread_mutex_init(&impl->lock, NULL) != 0) {
        free(impl);
        impl = NULL;
        MK_ENSURE(0, err, MK_ERR_NOMEM, "aws-pca: pthread_mutex_init failed");
    }
    impl->poll_timeout =
        cfg->poll_timeout_seconds > 0 ? cfg->poll_timeout_seconds : PCA_DEFAULT_POLL_TIMEOUT;
    MK_GUARD(dup_opt(cfg->ca_arn, NULL, &impl->ca_arn, err));
    MK_GUARD(dup_opt(cfg->template_arn, PCA_DEFAULT_TEMPLATE, &impl->template_arn, err));
    MK_GUARD(dup_opt(cfg->signing_algorithm, NULL, &impl->signing_algorithm, err));
    memset(&opts, 0, sizeof(opts));
    /* The CA answers in its own region only: the ARN's region is the default, ahead of
     * AWS_REGION and the profile (conf.c refuses a configured region that differs). */
    opts.region = cfg->region != NULL ? cfg->region : aws_arn_region(cfg->ca_arn, region, sizeof(region));
    opts.profile = cfg->profile;
    opts.endpoint_url = cfg->endpoint_url;
    /* The configured endpoint is ACM PCA's (a VPC endpoint, FIPS, the emulator): STS calls of the
     * credential chain (web identity on EKS, role profiles) keep their own endpoints. */
    opts.endpoint_service = "acm-pca";
    opts.ca_bundle = cfg->ca_bundle;
    opts.allow_insecure_http = cfg->allow_insecure_http;
    opts.credential_process_timeout_ms = cfg->credential_process_timeout_seconds * 1000;
    /* One call (with its internal retries) never outlives the polling deadline. */
    opts.deadline_ms = impl->poll_timeout < 120 ? impl->poll_timeout * 1000 : 120000;
    impl->client = aws_client_new(&opts, err);
    if (impl->client == NULL) {
        mk_err_prefix(err, "aws-pca");
        goto out;
    }
    if (cfg->ra_signer != NULL && cfg->roles_anywhere.trust_anchor_arn != NULL) {
        MK_GUARD(pca_use_roles_anywhere(impl, cfg, err));
    }
    impl->bucket = bucket_get(impl->ca_arn, rate, (double)burst, err);
    MK_GUARD_PTR(impl->bucket);
    ca = pki_ca_alloc(&pca_ops, impl, err);
    MK_GUARD_PTR(ca);
    impl = NULL;
out:
    pca_impl_free(impl);
    return ca;
}

int pki_ca_aws_credentials(const struct pki_ca *ca, char *source, size_t size, time_t *expiry)
{
    if (ca == NULL || ca->ops != &pca_ops) {
        return -1;
    }
    aws_client_credentials_info(((struct pca_impl *)ca->impl)->client, source, size, expiry);
    return source[0] != '\0' ? 0 : -1;
}

struct aws_creds *pki_ca_roles_anywhere_session(struct pki_ca *ca, struct mk_err *err)
{
    struct aws_creds *c = NULL;

    MK_ENSURE(ca != NULL && ca->ops == &pca_ops, err, MK_ERR_STATE,
              "credentials: the agent's CA is not aws-pca");
    MK_ENSURE(((struct pca_impl *)ca->impl)->ra != NULL, err, MK_ERR_STATE,
              "credentials: ca.aws_pca.roles_anywhere is not configured");
    c = aws_client_credentials(((struct pca_impl *)ca->impl)->client, err);
    if (c != NULL && strcmp(c->source, "roles-anywhere") != 0) {
        mk_err_set(err, MK_ERR_STATE,
                   "credentials: no Roles Anywhere session yet (the certificate is not valid; "
                   "the agent signs with its bootstrap credentials, which it does not hand out)");
        aws_creds_free(c);
        c = NULL;
    }
out:
    return c;
}

#ifdef MK_TESTING
struct pki_pca_bucket *pki_pca_bucket_of(struct pki_ca *ca)
{
    if (ca == NULL || ca->ops != &pca_ops) {
        return NULL;
    }
    return ((struct pca_impl *)ca->impl)->bucket;
}

void pki_ca_aws_pca_test_set_backoff(long initial_ms, long max_ms)
{
    poll_initial_ms = initial_ms > 0 ? initial_ms : 1000;
    poll_max_ms = max_ms > 0 ? max_ms : 10000;
}
#endif
