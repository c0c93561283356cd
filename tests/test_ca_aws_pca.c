/*
 * test_ca_aws_pca.c: the aws-pca CA backend against moto (a Private CA created and activated by
 * tests/pca/make_ca.py) and against tests/pca/fake_pca.py for what moto cannot show
 * (RequestInProgressException, throttling, malformed answers, call counts).  Both servers run on
 * free loopback ports for the whole binary and are always stopped.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "ca/aws_pca-int.h"
#include "pki/cert.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "pki/secret.h"
#include "pki/store.h"
#include "tests/support/files.h"
#include "tests/support/server.h"

/* Set by tests/pca.cmake; MSKPKI_SOURCE_DIR from ctest takes precedence. */
#ifndef MSKPKI_SOURCE_DIR_FALLBACK
#define MSKPKI_SOURCE_DIR_FALLBACK "."
#endif

#define FAKE_CA_ARN "arn:aws:acm-pca:us-east-1:123456789012:certificate-authority/fake"
#define DAY 86400L

static char tmpdir[] = "/tmp/mskpki-pca-XXXXXX";
static char state_dir[512];
static char moto_url[64];
static char fake_url[64];
static char root_arn[256];
static char sub_arn[256];
static char disabled_arn[256];
static struct mk_test_server moto = {0, 0};
static struct mk_test_server fake = {0, 0};
static int config_epoch;

/* ---- helpers ------------------------------------------------------------------------------ */

static void path_in(char *out, size_t size, const char *name)
{
    snprintf(out, size, "%s/%s", tmpdir, name);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

/* Replaces the fake's behaviour; a new config also resets its call counters. */
static void fake_config(const char *json_fields)
{
    char path[600];
    char text[2048];

    snprintf(path, sizeof(path), "%s/stats.json", state_dir);
    unlink(path); /* the fake rewrites it on its next request; until then every count is 0 */
    snprintf(path, sizeof(path), "%s/config.json", state_dir);
    snprintf(text, sizeof(text), "{\"epoch\": %d%s%s}", ++config_epoch,
             json_fields[0] != '\0' ? ", " : "", json_fields);
    write_text(path, text);
}

static json_t *fake_stats(void)
{
    char path[600];
    json_error_t jerr;
    json_t *stats;

    snprintf(path, sizeof(path), "%s/stats.json", state_dir);
    stats = json_load_file(path, 0, &jerr);
    if (stats == NULL) {
        stats = json_pack("{s:{}, s:{}}", "calls", "last");
    }
    return stats;
}

static long fake_calls(const char *op)
{
    json_t *stats = fake_stats();
    long n = (long)json_integer_value(json_object_get(json_object_get(stats, "calls"), op));

    json_decref(stats);
    return n;
}

/* The last request body the fake saw for op.  Caller releases with json_decref(). */
static json_t *fake_last(const char *op)
{
    json_t *stats = fake_stats();
    json_t *body = json_incref(json_object_get(json_object_get(stats, "last"), op));

    json_decref(stats);
    return body;
}

struct counts {
    unsigned long ok;
    unsigned long in_progress;
    unsigned long throttled;
};

static void count_cb(const char *code, unsigned long count, void *arg)
{
    struct counts *c = arg;

    if (strcmp(code, "ok") == 0) {
        c->ok = count;
    } else if (strcmp(code, "RequestInProgressException") == 0) {
        c->in_progress = count;
    } else if (strcmp(code, "ThrottlingException") == 0) {
        c->throttled = count;
    }
}

static struct counts counts_of(struct pki_ca *ca)
{
    struct counts c = {0, 0, 0};

    pki_ca_foreach_request_count(ca, count_cb, &c);
    return c;
}

static void new_key_csr(EVP_PKEY **key, X509_REQ **csr)
{
    static const char *const dns[] = {"client-1.example.org"};
    struct pki_csr_spec spec;
    struct mk_err err;

    memset(&spec, 0, sizeof(spec));
    spec.common_name = "client-1";
    spec.organization = "mskpki tests";
    spec.dns_names = dns;
    spec.n_dns_names = 1;
    *key = pki_key_generate(PKI_KEY_EC_P256, &err);
    assert_non_null(*key);
    *csr = pki_csr_new(*key, &spec, &err);
    assert_non_null(*csr);
}

static struct pki_ca *moto_ca(const char *arn, const char *template_arn)
{
    struct pki_ca_aws_pca_config cfg;
    struct mk_err err;
    struct pki_ca *ca;

    memset(&cfg, 0, sizeof(cfg));
    cfg.ca_arn = arn;
    cfg.template_arn = template_arn;
    cfg.rate_per_second = 50;
    cfg.burst = 50;
    cfg.poll_timeout_seconds = 20;
    /* endpoint_url NULL: the client takes AWS_ENDPOINT_URL, which points at moto. */
    ca = pki_ca_aws_pca_new(&cfg, &err);
    if (ca == NULL) {
        fail_msg("pki_ca_aws_pca_new: %s", err.msg);
    }
    return ca;
}

static struct pki_ca *fake_ca_with(double rate, int burst, long poll_timeout, const char *alg,
                                   const char *template_arn)
{
    struct pki_ca_aws_pca_config cfg;
    struct mk_err err;
    struct pki_ca *ca;

    memset(&cfg, 0, sizeof(cfg));
    cfg.ca_arn = FAKE_CA_ARN;
    cfg.endpoint_url = fake_url;
    cfg.region = "us-east-1";
    cfg.rate_per_second = rate;
    cfg.burst = burst;
    cfg.poll_timeout_seconds = poll_timeout;
    cfg.signing_algorithm = alg;
    cfg.template_arn = template_arn;
    ca = pki_ca_aws_pca_new(&cfg, &err);
    if (ca == NULL) {
        fail_msg("pki_ca_aws_pca_new: %s", err.msg);
    }
    return ca;
}

static struct pki_ca *fake_ca(void)
{
    return fake_ca_with(100, 100, 10, NULL, NULL);
}

/* Leaf matches the key, has clientAuth, and verifies against the CA's trust anchors. */
static void assert_issued_good(struct pki_ca *ca, const struct pki_issued *got, EVP_PKEY *key,
                               int want_client_auth)
{
    struct pki_cert_info info;
    struct mk_err err;
    STACK_OF(X509) * anchors;

    assert_non_null(got->leaf);
    assert_non_null(got->chain);
    assert_true(sk_X509_num(got->chain) >= 1);
    assert_int_equal(pki_cert_matches_key(got->leaf, key, &err), 0);
    /* Issuer first. */
    assert_int_equal(X509_check_issued(sk_X509_value(got->chain, 0), got->leaf), X509_V_OK);
    assert_int_equal(pki_cert_info(got->leaf, &info, &err), 0);
    if (want_client_auth) {
        assert_int_equal(info.has_client_auth, 1);
    }
    assert_int_equal(info.is_ca, 0);
    anchors = pki_ca_trust_anchors(ca, &err);
    if (anchors == NULL) {
        fail_msg("trust anchors: %s", err.msg);
    }
    if (pki_cert_verify_client(got->leaf, got->chain, anchors, 0, &err) != 0) {
        fail_msg("verify: %s", err.msg);
    }
    sk_X509_pop_free(anchors, X509_free);
}

static char *read_file(const char *path)
{
    char *buf = mk_test_read_file(path, NULL);

    assert_non_null(buf);
    return buf;
}

/* ---- group setup -------------------------------------------------------------------------- */

static int group_teardown(void **state);

static int setup_all(void)
{
    const char *src = getenv("MSKPKI_SOURCE_DIR");
    char script[600];
    char fake_script[600];
    char log_path[600];
    char port_file[600];
    char *out = NULL;
    char *line;
    char *save = NULL;
    struct mk_err err;

    if (src == NULL) {
        src = MSKPKI_SOURCE_DIR_FALLBACK;
        setenv("MSKPKI_SOURCE_DIR", src, 1); /* mk_test_moto_start finds moto_server.py there */
    }
    if (pki_sodium_init(&err) != 0 || mkdtemp(tmpdir) == NULL) {
        return -1;
    }
    snprintf(state_dir, sizeof(state_dir), "%s/fake", tmpdir);
    if (mkdir(state_dir, 0700) != 0) {
        return -1;
    }
    /* Fake credentials only: nothing here may reach AWS or read the host's AWS files. */
    setenv("AWS_ACCESS_KEY_ID", "testing", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "testing", 1);
    setenv("AWS_REGION", "us-east-1", 1);
    setenv("AWS_DEFAULT_REGION", "us-east-1", 1);
    setenv("AWS_CONFIG_FILE", "/nonexistent/mskpki-test", 1);
    setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/mskpki-test", 1);
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    unsetenv("AWS_SESSION_TOKEN");
    unsetenv("AWS_PROFILE");
    unsetenv("AWS_ENDPOINT_URL_ACM_PCA");

    path_in(log_path, sizeof(log_path), "moto.log");
    path_in(port_file, sizeof(port_file), "moto.port");
    if (mk_test_moto_start(&moto, port_file, log_path, moto_url, sizeof(moto_url)) != 0) {
        return -1;
    }
    setenv("AWS_ENDPOINT_URL", moto_url, 1);

    snprintf(fake_script, sizeof(fake_script), "%s/tests/pca/fake_pca.py", src);
    {
        /* Port 0: the fake reports the port it bound in <state_dir>/port. */
        char *argv[] = {"python3", fake_script, "0", state_dir, NULL};

        path_in(log_path, sizeof(log_path), "fake.log");
        snprintf(port_file, sizeof(port_file), "%s/port", state_dir);
        if (mk_test_server_start_reporting(&fake, argv, port_file, log_path, 30000) != 0) {
            return -1;
        }
    }
    snprintf(fake_url, sizeof(fake_url), "http://127.0.0.1:%d", fake.port);

    snprintf(script, sizeof(script), "%s/tests/pca/make_ca.py", src);
    {
        char *argv[] = {"python3", script, moto_url, "root", "subordinate", "disabled", NULL};

        out = mk_test_run_capture(argv);
    }
    if (out == NULL) {
        fprintf(stderr, "make_ca.py failed\n");
        return -1;
    }
    for (line = strtok_r(out, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        char *arn = strchr(line, ' ');

        if (arn == NULL) {
            continue;
        }
        *arn++ = '\0';
        if (strcmp(line, "root") == 0) {
            snprintf(root_arn, sizeof(root_arn), "%s", arn);
        } else if (strcmp(line, "subordinate") == 0) {
            snprintf(sub_arn, sizeof(sub_arn), "%s", arn);
        } else if (strcmp(line, "disabled") == 0) {
            snprintf(disabled_arn, sizeof(disabled_arn), "%s", arn);
        }
    }
    free(out);
    if (root_arn[0] == '\0' || sub_arn[0] == '\0' || disabled_arn[0] == '\0') {
        fprintf(stderr, "make_ca.py printed no ARNs\n");
        return -1;
    }
    pki_ca_aws_pca_test_set_backoff(20, 100);
    return 0;
}

/* cmocka skips the group teardown when the setup fails: clean up here too (servers, tmpdir). */
static int group_setup(void **state)
{
    if (setup_all() != 0) {
        group_teardown(state);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    mk_test_server_stop(&moto);
    mk_test_server_stop(&fake);
    if (getenv("MSKPKI_KEEP_TMP") == NULL) {
        mk_test_rmtree(tmpdir);
    }
    return 0;
}

/* ---- token bucket (no real time) ---------------------------------------------------------- */

struct fake_clock {
    double t;
    double slept;
    int sleeps;
};

static double fc_now(void *arg)
{
    return ((struct fake_clock *)arg)->t;
}

static void fc_sleep(void *arg, double s)
{
    struct fake_clock *c = arg;

    c->t += s;
    c->slept += s;
    c->sleeps++;
}

static void test_bucket_math(void **state)
{
    struct fake_clock c = {100.0, 0, 0};
    struct pki_pca_clock clock = {fc_now, fc_sleep, &c};
    struct mk_err err;
    struct pki_pca_bucket *b = pki_pca_bucket_new(2.0, 3.0, &clock, &err);

    (void)state;
    assert_non_null(b);
    /* Starts full: burst tokens at once, then the wait for one token at rate 2/s. */
    assert_true(pki_pca_bucket_take(b, 100.0) == 0);
    assert_true(pki_pca_bucket_take(b, 100.0) == 0);
    assert_true(pki_pca_bucket_take(b, 100.0) == 0);
    assert_float_equal(pki_pca_bucket_take(b, 100.0), 0.5, 1e-9);
    /* A refused take consumes nothing: a quarter second later the wait is a quarter second. */
    assert_float_equal(pki_pca_bucket_take(b, 100.25), 0.25, 1e-9);
    assert_true(pki_pca_bucket_take(b, 100.5) == 0);
    /* A long idle refills to burst, never beyond. */
    assert_true(pki_pca_bucket_take(b, 1000.0) == 0);
    assert_true(pki_pca_bucket_take(b, 1000.0) == 0);
    assert_true(pki_pca_bucket_take(b, 1000.0) == 0);
    assert_true(pki_pca_bucket_take(b, 1000.0) > 0);
    /* A clock that goes backwards refills nothing. */
    assert_true(pki_pca_bucket_take(b, 999.0) > 0);
    pki_pca_bucket_free(b);

    assert_null(pki_pca_bucket_new(0, 3, &clock, &err));
    assert_int_equal(err.code, MK_ERR_CONFIG);
    assert_null(pki_pca_bucket_new(1, 0.5, &clock, &err));
    pki_pca_bucket_free(NULL);
}

static void test_bucket_acquire(void **state)
{
    struct fake_clock c = {0.0, 0, 0};
    struct pki_pca_clock clock = {fc_now, fc_sleep, &c};
    struct mk_err err;
    struct pki_pca_bucket *b = pki_pca_bucket_new(0.5, 1.0, &clock, &err);

    (void)state;
    assert_non_null(b);
    assert_int_equal(pki_pca_bucket_acquire(b, 10.0, &err), 0);
    assert_int_equal(c.sleeps, 0);
    /* The next token comes in 2 s: acquire sleeps that long (on the fake clock) and gets it. */
    assert_int_equal(pki_pca_bucket_acquire(b, 10.0, &err), 0);
    assert_int_equal(c.sleeps, 1);
    assert_float_equal(c.slept, 2.0, 1e-9);
    /* A deadline before the next token: fails at once, without sleeping. */
    assert_int_equal(pki_pca_bucket_acquire(b, c.t + 1.0, &err), -1);
    assert_int_equal(err.code, MK_ERR_TIMEOUT);
    assert_non_null(strstr(err.msg, "rate limit"));
    assert_int_equal(c.sleeps, 1);
    pki_pca_bucket_free(b);
}

struct taker {
    struct pki_pca_bucket *bucket;
    int got;
};

static void *take_many(void *arg)
{
    struct taker *t = arg;

    for (int i = 0; i < 200; i++) {
        if (pki_pca_bucket_take(t->bucket, 5.0) == 0) {
            t->got++;
        }
    }
    return NULL;
}

/* Many threads at one instant: exactly burst tokens are handed out, never more. */
static void test_bucket_threads(void **state)
{
    struct fake_clock c = {5.0, 0, 0};
    struct pki_pca_clock clock = {fc_now, fc_sleep, &c};
    struct mk_err err;
    struct pki_pca_bucket *b = pki_pca_bucket_new(1.0, 37.0, &clock, &err);
    struct taker takers[8];
    pthread_t threads[8];
    int total = 0;

    (void)state;
    assert_non_null(b);
    for (int i = 0; i < 8; i++) {
        takers[i].bucket = b;
        takers[i].got = 0;
        assert_int_equal(pthread_create(&threads[i], NULL, take_many, &takers[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        total += takers[i].got;
    }
    assert_int_equal(total, 37);
    pki_pca_bucket_free(b);
}

/* Backends for one CA ARN share one bucket, so several of them cannot multiply the rate. */
static void test_bucket_shared_per_ca(void **state)
{
    struct pki_ca *a = fake_ca();
    struct pki_ca *b = fake_ca();
    struct pki_ca *other = moto_ca(root_arn, NULL);

    (void)state;
    assert_non_null(pki_pca_bucket_of(a));
    assert_ptr_equal(pki_pca_bucket_of(a), pki_pca_bucket_of(b));
    assert_ptr_not_equal(pki_pca_bucket_of(a), pki_pca_bucket_of(other));
    pki_ca_free(a);
    pki_ca_free(b);
    pki_ca_free(other);
}

/* The limiter really stands between the caller and the CA: with burst 2 and a rate far below
 * the deadline, the third call fails fast and never reaches the service.  (Its own CA ARN gives
 * it its own bucket; the fake answers DescribeCertificateAuthority for any ARN.) */
static void test_rate_limit_blocks_calls(void **state)
{
    struct pki_ca_aws_pca_config cfg;
    struct pki_ca *ca;
    struct mk_err err;

    (void)state;
    memset(&cfg, 0, sizeof(cfg));
    cfg.ca_arn = FAKE_CA_ARN "-ratelimit";
    cfg.endpoint_url = fake_url;
    cfg.rate_per_second = 0.01;
    cfg.burst = 2;
    cfg.poll_timeout_seconds = 5;
    ca = pki_ca_aws_pca_new(&cfg, &err);
    assert_non_null(ca);
    fake_config("");
    assert_int_equal(pki_ca_check(ca, DAY, &err), 0);
    assert_int_equal(pki_ca_check(ca, DAY, &err), 0);
    assert_int_equal(pki_ca_check(ca, DAY, &err), -1);
    assert_int_equal(err.code, MK_ERR_TIMEOUT);
    assert_non_null(strstr(err.msg, "rate limit"));
    assert_non_null(strstr(err.msg, "DescribeCertificateAuthority"));
    assert_int_equal(fake_calls("DescribeCertificateAuthority"), 2);
    pki_ca_free(ca);

    /* Re-creating the backend (as the agent does after errors) does not refill the bucket. */
    ca = pki_ca_aws_pca_new(&cfg, &err);
    assert_non_null(ca);
    assert_int_equal(pki_ca_check(ca, DAY, &err), -1);
    assert_int_equal(err.code, MK_ERR_TIMEOUT);
    assert_int_equal(fake_calls("DescribeCertificateAuthority"), 2);
    pki_ca_free(ca);

    /* A new configuration (a reload with a faster rate) applies to the same bucket. */
    cfg.rate_per_second = 1000;
    ca = pki_ca_aws_pca_new(&cfg, &err);
    assert_non_null(ca);
    assert_int_equal(pki_ca_check(ca, DAY, &err), 0);
    assert_int_equal(fake_calls("DescribeCertificateAuthority"), 3);
    pki_ca_free(ca);
}

/* ---- constructor --------------------------------------------------------------------------- */

static void test_new_rejects_bad_config(void **state)
{
    struct pki_ca_aws_pca_config cfg;
    struct mk_err err;

    (void)state;
    memset(&cfg, 0, sizeof(cfg));
    assert_null(pki_ca_aws_pca_new(NULL, &err));
    assert_int_equal(err.code, MK_ERR_CONFIG);
    assert_null(pki_ca_aws_pca_new(&cfg, &err));
    assert_int_equal(err.code, MK_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "ca_arn"));
    cfg.ca_arn = "arn:aws:kms:us-east-1:123456789012:key/abc";
    assert_null(pki_ca_aws_pca_new(&cfg, &err));
    assert_int_equal(err.code, MK_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "arn:aws:kms"));
    cfg.ca_arn = FAKE_CA_ARN;
    cfg.rate_per_second = -1;
    assert_null(pki_ca_aws_pca_new(&cfg, &err));
    assert_int_equal(err.code, MK_ERR_CONFIG);
}

static void test_kind(void **state)
{
    struct pki_ca *ca = fake_ca();

    (void)state;
    assert_string_equal(pki_ca_kind(ca), "aws-pca");
    pki_ca_free(ca);
}

/* ---- moto ---------------------------------------------------------------------------------- */

static void issue_and_verify(const char *arn, const char *template_arn, int want_client_auth)
{
    struct pki_ca *ca = moto_ca(arn, template_arn);
    struct pki_issue_request req;
    struct pki_issued got = {NULL, NULL};
    struct mk_err err;
    EVP_PKEY *key;
    X509_REQ *csr;

    new_key_csr(&key, &csr);
    memset(&req, 0, sizeof(req));
    req.csr = csr;
    req.validity_seconds = DAY;
    if (pki_ca_issue(ca, &req, &got, &err) != 0) {
        fail_msg("issue: %s", err.msg);
    }
    assert_issued_good(ca, &got, key, want_client_auth);
    assert_true(counts_of(ca).ok >= 3); /* Issue, Get, GetCertificateAuthorityCertificate */
    pki_issued_clear(&got);
    X509_REQ_free(csr);
    EVP_PKEY_free(key);
    pki_ca_free(ca);
}

static void test_moto_issue_root(void **state)
{
    (void)state;
    /* moto adds clientAuth only for EndEntityCertificate/V1 (it ignores the ClientAuth
     * variant), so this one checks the EKU... */
    issue_and_verify(root_arn, "arn:aws:acm-pca:::template/EndEntityCertificate/V1", 1);
    /* ...and the default template still yields a certificate that verifies. */
    issue_and_verify(root_arn, NULL, 0);
}

/* A subordinate CA: the trust anchor is the external root in the CA's chain, not the CA. */
static void test_moto_issue_subordinate(void **state)
{
    struct pki_ca *ca = moto_ca(sub_arn, NULL);
    STACK_OF(X509) * anchors;
    struct mk_err err;
    char cn[256];

    (void)state;
    issue_and_verify(sub_arn, "arn:aws:acm-pca:::template/EndEntityCertificate/V1", 1);
    anchors = pki_ca_trust_anchors(ca, &err);
    assert_non_null(anchors);
    assert_int_equal(sk_X509_num(anchors), 1);
    assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(sk_X509_value(anchors, 0)),
                                          NID_commonName, cn, sizeof(cn)) > 0);
    assert_string_equal(cn, "mskpki external test root");
    sk_X509_pop_free(anchors, X509_free);
    pki_ca_free(ca);
}

static void test_moto_check(void **state)
{
    struct pki_ca *ca = moto_ca(root_arn, NULL);
    struct pki_ca *off = moto_ca(disabled_arn, NULL);
    struct mk_err err;

    (void)state;
    if (pki_ca_check(ca, DAY, &err) != 0) {
        fail_msg("check: %s", err.msg);
    }
    /* moto puts every CA in SHORT_LIVED_CERTIFICATE mode: 8 days is refused, clearly. */
    assert_int_equal(pki_ca_check(ca, 8 * DAY, &err), -1);
    assert_int_equal(err.code, MK_ERR_STATE);
    assert_non_null(strstr(err.msg, "SHORT_LIVED_CERTIFICATE"));
    assert_non_null(strstr(err.msg, root_arn));
    assert_int_equal(pki_ca_check(ca, 7 * DAY, &err), 0);

    assert_int_equal(pki_ca_check(off, DAY, &err), -1);
    assert_int_equal(err.code, MK_ERR_STATE);
    assert_non_null(strstr(err.msg, disabled_arn));
    assert_non_null(strstr(err.msg, "DISABLED"));
    /* pki_ca_issue makes the same check itself before IssueCertificate. */
    {
        struct pki_issue_request req;
        struct pki_issued got = {NULL, NULL};
        EVP_PKEY *key;
        X509_REQ *csr;

        new_key_csr(&key, &csr);
        memset(&req, 0, sizeof(req));
        req.csr = csr;
        req.validity_seconds = DAY;
        assert_int_equal(pki_ca_issue(off, &req, &got, &err), -1);
        assert_int_equal(err.code, MK_ERR_STATE);
        assert_non_null(strstr(err.msg, "DISABLED"));
        assert_null(got.leaf);
        req.validity_seconds = 8 * DAY;
        assert_int_equal(pki_ca_issue(ca, &req, &got, &err), -1);
        assert_int_equal(err.code, MK_ERR_STATE);
        assert_non_null(strstr(err.msg, "SHORT_LIVED_CERTIFICATE"));
        X509_REQ_free(csr);
        EVP_PKEY_free(key);
    }
    pki_ca_free(off);
    pki_ca_free(ca);
}

static void test_moto_unknown_ca(void **state)
{
    struct pki_ca *ca =
        moto_ca("arn:aws:acm-pca:us-east-1:123456789012:certificate-authority/nope", NULL);
    struct mk_err err;

    (void)state;
    assert_int_equal(pki_ca_check(ca, DAY, &err), -1);
    assert_int_equal(err.code, MK_ERR_AWS);
    assert_string_equal(err.ext_code, "ResourceNotFoundException");
    assert_non_null(strstr(err.msg, "DescribeCertificateAuthority"));
    assert_non_null(strstr(err.msg, "ResourceNotFoundException"));
    assert_null(pki_ca_trust_anchors(ca, &err));
    assert_non_null(strstr(err.msg, "GetCertificateAuthorityCertificate"));
    pki_ca_free(ca);
}

/*
 * Resume against moto: after a first issuance with a pending record, a second call for the same
 * CSR returns the very same certificate (moto mints a new random serial on every
 * IssueCertificate, so an equal serial proves no second issuance).
 */
static void test_moto_resume(void **state)
{
    struct pki_ca *ca = moto_ca(root_arn, NULL);
    struct pki_issue_request req;
    struct pki_issued first = {NULL, NULL};
    struct pki_issued again = {NULL, NULL};
    struct mk_err err;
    struct stat st;
    char pending[600];
    char fp[65];
    char *text;
    json_t *rec;
    json_error_t jerr;
    EVP_PKEY *key;
    X509_REQ *csr;

    (void)state;
    new_key_csr(&key, &csr);
    path_in(pending, sizeof(pending), "moto.pending");
    memset(&req, 0, sizeof(req));
    req.csr = csr;
    req.validity_seconds = DAY;
    req.pending_path = pending;
    if (pki_ca_issue(ca, &req, &first, &err) != 0) {
        fail_msg("issue: %s", err.msg);
    }
    /* The record is there, 0600, for this CSR and CA. */
    assert_int_equal(stat(pending, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    text = read_file(pending);
    rec = json_loads(text, 0, &jerr);
    assert_non_null(rec);
    assert_int_equal(pki_csr_fingerprint(csr, fp, &err), 0);
    assert_string_equal(json_string_value(json_object_get(rec, "csr_sha256")), fp);
    assert_string_equal(json_string_value(json_object_get(rec, "ca_arn")), root_arn);
    assert_non_null(
        strstr(json_string_value(json_object_get(rec, "certificate_arn")), "/certificate/"));
    assert_non_null(json_string_value(json_object_get(rec, "issued_at")));
    json_decref(rec);
    free(text);

    if (pki_ca_issue(ca, &req, &again, &err) != 0) {
        fail_msg("resume: %s", err.msg);
    }
    assert_int_equal(
        ASN1_INTEGER_cmp(X509_get0_serialNumber(first.leaf), X509_get0_serialNumber(again.leaf)),
        0);
    /* Without the record the same CSR is issued again (moto ignores IdempotencyToken): a new
     * serial, so the equal serial above really came from the record. */
    pki_issued_clear(&again);
    assert_int_equal(unlink(pending), 0);
    assert_int_equal(pki_ca_issue(ca, &req, &again, &err), 0);
    assert_int_not_equal(
        ASN1_INTEGER_cmp(X509_get0_serialNumber(first.leaf), X509_get0_serialNumber(again.leaf)),
        0);
    unlink(pending);
    pki_issued_clear(&first);
    pki_issued_clear(&again);
    X509_REQ_free(csr);
    EVP_PKEY_free(key);
    pki_ca_free(ca);
}

static void test_moto_revoke(void **state)
{
    struct pki_ca *ca = moto_ca(root_arn, NULL);
    struct pki_ca *gone =
        moto_ca("arn:aws:acm-pca:us-east-1:123456789012:certificate-authority/nope", NULL);
    struct pki_issue_request req;
    struct pki_issued got = {NULL, NULL};
    struct mk_err err;
    EVP_PKEY *key;
    X509_REQ *csr;

    (void)state;
    new_key_csr(&key, &csr);
    memset(&req, 0, sizeof(req));
    req.csr = csr;
    req.validity_seconds = DAY;
    assert_int_equal(pki_ca_issue(ca, &req, &got, &err), 0);
    if (pki_ca_revoke(ca, got.leaf, "SUPERSEDED", &err) != 0) {
        fail_msg("revoke: %s", err.msg);
    }
    assert_int_equal(pki_ca_revoke(gone, got.leaf, "SUPERSEDED", &err), -1);
    assert_int_equal(err.code, MK_ERR_AWS);
    assert_non_null(strstr(err.msg, "RevokeCertificate"));
    assert_string_equal(err.ext_code, "ResourceNotFoundException");
    pki_issued_clear(&got);
    X509_REQ_free(csr);
    EVP_PKEY_free(key);
    pki_ca_free(gone);
    pki_ca_free(ca);
}

/* ---- fake: request shape, polling, resume, failures ---------------------------------------- */

static void issue_request(struct pki_issue_request *req, X509_REQ *csr, const char *pending)
{
    memset(req, 0, sizeof(*req));
    req->csr = csr;
    req->validity_seconds = 3600; /* sub-day: short-lived mode */
    req->pending_path = pending;
}

/* One issuance under test: the CA, a fresh key and CSR, and a short-lived request for them whose
 * pending record is pending_name in the temp dir (none when NULL).  Release with
 * issue_case_end(), which also removes the record. */
struct issue_case {
    struct pki_ca *ca;
    EVP_PKEY *key;
    X509_REQ *csr;
    struct pki_issue_request req;
    char pending[600];
};

static void issue_case_begin(struct issue_case *tc, struct pki_ca *ca, const char *pending_name)
{
    memset(tc, 0, sizeof(*tc));
    tc->ca = ca;
    new_key_csr(&tc->key, &tc->csr);
    if (pending_name != NULL) {
        path_in(tc->pending, sizeof(tc->pending), pending_name);
    }
    issue_request(&tc->req, tc->csr, pending_name != NULL ? tc->pending : NULL);
}

static void issue_case_end(struct issue_case *tc)
{
    if (tc->pending[0] != '\0') {
        unlink(tc->pending);
    }
    X509_REQ_free(tc->csr);
    EVP_PKEY_free(tc->key);
    pki_ca_free(tc->ca);
}

static void test_fake_request_shape(void **state)
{
    struct issue_case tc;
    struct pki_issued got = {NULL, NULL};
    struct mk_err err;
    char fp[65];
    char *pem;
    size_t pem_len;
    unsigned char *decoded;
    json_t *body;
    json_t *validity;
    time_t before = time(NULL);
    int n;

    (void)state;
    fake_config("");
    issue_case_begin(&tc, fake_ca(), NULL);
    if (pki_ca_issue(tc.ca, &tc.req, &got, &err) != 0) {
        fail_msg("issue: %s", err.msg);
    }
    assert_issued_good(tc.ca, &got, tc.key, 1);
    /* The fake answers the chain root first; the backend orders it issuer first. */
    assert_int_equal(sk_X509_num(got.chain), 2);
    assert_int_equal(X509_check_issued(sk_X509_value(got.chain, 1), sk_X509_value(got.chain, 0)),
                     X509_V_OK);

    body = fake_last("IssueCertificate");
    assert_non_null(body);
    assert_string_equal(json_string_value(json_object_get(body, "CertificateAuthorityArn")),
                        FAKE_CA_ARN);
    assert_string_equal(json_string_value(json_object_get(body, "SigningAlgorithm")),
                        "SHA256WITHECDSA");
    assert_string_equal(json_string_value(json_object_get(body, "TemplateArn")),
                        "arn:aws:acm-pca:::template/EndEntityClientAuthCertificate/V1");
    assert_int_equal(pki_csr_fingerprint(tc.csr, fp, &err), 0);
    fp[32] = '\0';
    assert_string_equal(json_string_value(json_object_get(body, "IdempotencyToken")), fp);
    validity = json_object_get(body, "Validity");
    assert_string_equal(json_string_value(json_object_get(validity, "Type")), "ABSOLUTE");
    assert_true(json_integer_value(json_object_get(validity, "Value")) >= before + 3600);
    assert_true(json_integer_value(json_object_get(validity, "Value")) <= time(NULL) + 3600);
    /* Csr is base64 of the PEM bytes. */
    pem = pki_csr_to_pem(tc.csr, &pem_len, &err);
    assert_non_null(pem);
    {
        const char *b64 = json_string_value(json_object_get(body, "Csr"));

        decoded = calloc(1, strlen(b64) + 1);
        n = EVP_DecodeBlock(decoded, (const unsigned char *)b64, (int)strlen(b64));
        assert_true(n >= (int)pem_len);
        assert_memory_equal(decoded, pem, pem_len);
        free(decoded);
    }
    free(pem);
    json_decref(body);
    assert_int_equal(fake_calls("IssueCertificate"), 1);
    pki_issued_clear(&got);
    issue_case_end(&tc);
}

static void test_fake_overrides(void **state)
{
    struct pki_ca *ca = fake_ca_with(100, 100, 10, "SHA384WITHECDSA",
                                     "arn:aws:acm-pca:::template/EndEntityCertificate/V1");
    struct pki_issue_request req;
    struct pki_issued got = {NULL, NULL};
    struct mk_err err;
    json_t *body;
    EVP_PKEY *key;
    X509_REQ *csr;

    (void)state;
    fake_config("");
    new_key_csr(&key, &csr);
    issue_request(&req, csr, NULL);
    assert_int_equal(pki_ca_issue(ca, &req, &got, &err), 0);
    body = fake_last("IssueCertificate");
    assert_string_equal(json_string_value(json_object_get(body, "SigningAlgorithm")),
                        "SHA384WITHECDSA");
    assert_string_equal(json_string_value(json_object_get(body, "TemplateArn")),
                        "arn:aws:acm-pca:::template/EndEntityCertificate/V1");
    json_decref(body);
    pki_issued_clear(&got);
    X509_REQ_free(csr);
    EVP_PKEY_free(key);
    pki_ca_free(ca);
}

static void test_fake_in_progress_then_ready(void **state)
{
    struct issue_case tc;
    struct pki_issued got = {NULL, NULL};
    struct mk_err err;
    struct counts c;

    (void)state;
    fake_config("\"in_progress\": 3");
    issue_case_begin(&tc, fake_ca(), "progress.pending");
    if (pki_ca_issue(tc.ca, &tc.req, &got, &err) != 0) {
        fail_msg("issue: %s", err.msg);
    }
    assert_issued_good(tc.ca, &got, tc.key, 1);
    assert_int_equal(fake_calls("IssueCertificate"), 1);
    assert_int_equal(fake_calls("GetCertificate"), 4);
    c = counts_of(tc.ca);
    assert_int_equal(c.in_progress, 3);
    /* The backend leaves the record; the caller removes it after writing the generation. */
    assert_int_equal(access(tc.pending, F_OK), 0);
    pki_issued_clear(&got);
    issue_case_end(&tc);
}

/* Run as root (`mskpkictl cert issue` by an admin), the record takes its directory's owner:
 * state_dir is agent.user's, whose network process must read it to resume. */
static void test_fake_pending_record_owner(void **state)
{
    struct issue_case tc;
    struct pki_issued got = {NULL, NULL};
    struct mk_err err;
    char dir[600];
    struct stat st;

    (void)state;
    if (geteuid() != 0) {
        skip();
    }
    path_in(dir, sizeof(dir), "owned");
    assert_int_equal(mkdir(dir, 0750), 0);
    assert_int_equal(chown(dir, 65534, 65534), 0);
    fake_config("\"in_progress\": 1");
    issue_case_begin(&tc, fake_ca(), "owned/rec.pending");
    if (pki_ca_issue(tc.ca, &tc.req, &got, &err) != 0) {
        fail_msg("issue: %s", err.msg);
    }
    assert_int_equal(stat(tc.pending, &st), 0);
    assert_int_equal(st.st_uid, 65534);
    assert_int_equal(st.st_gid, 65534);
    assert_int_equal(st.st_mode & 0777, 0600);
    pki_issued_clear(&got);
    issue_case_end(&tc);
    assert_int_equal(rmdir(dir), 0);
}

/* A poll deadline: MK_ERR_PENDING, the record stays, and the next call resumes it without a
 * second IssueCertificate. */
static void test_fake_poll_timeout_then_resume(void **state)
{
    struct issue_case tc;
    struct pki_issued got = {NULL, NULL};
    struct mk_err err;
    char *text;

    (void)state;
    fake_config("\"in_progress\": -1");
    issue_case_begin(&tc, fake_ca_with(100, 100, 1, NULL, NULL), "timeout.pending");
    assert_int_equal(pki_ca_issue(tc.ca, &tc.req, &got, &err), -1);
    assert_int_equal(err.code, MK_ERR_PENDING);
    assert_non_null(strstr(err.msg, "RequestInProgressException"));
    assert_non_null(strstr(err.msg, "pending record kept"));
    assert_null(got.leaf);
    assert_int_equal(fake_calls("IssueCertificate"), 1);
    assert_true(fake_calls("GetCertificate") >= 2);
    text = read_file(tc.pending);
    assert_non_null(strstr(text, FAKE_CA_ARN "/certificate/"));
    free(text);

    fake_config("");
    if (pki_ca_issue(tc.ca, &tc.req, &got, &err) != 0) {
        fail_msg("resume: %s", err.msg);
    }
    assert_int_equal(fake_calls("IssueCertificate"), 0);
    assert_int_equal(fake_calls("GetCertificate"), 1);
    assert_int_equal(pki_cert_matches_key(got.leaf, tc.key, &err), 0);
    pki_issued_clear(&got);
    issue_case_end(&tc);
}

/* A record written before a "crash" (by hand here) is resumed: no IssueCertificate at all. */
static void test_fake_resume_written_record(void **state)
{
    struct pki_ca *ca = fake_ca();
    struct pki_issue_request req;
    struct pki_issued got = {NULL, NULL};
    struct pki_issued again = {NULL, NULL};
    struct mk_err err;
    char pending[600];
    char fp[65];
    char rec[1024];
    json_t *body;
    EVP_PKEY *key;
    X509_REQ *csr;

    (void)state;
    fake_config("");
    new_key_csr(&key, &csr);
    issue_request(&req, csr, NULL);
    assert_int_equal(pki_ca_issue(ca, &req, &got, &err), 0);
    body = fake_last("GetCertificate");
    assert_int_equal(pki_csr_fingerprint(csr, fp, &err), 0);
    path_in(pending, sizeof(pending), "written.pending");
    snprintf(rec, sizeof(rec),
             "{\"csr_sha256\": \"%s\", \"certificate_arn\": \"%s\", \"ca_arn\": \"%s\", "
             "\"issued_at\": \"2026-01-01T00:00:00Z\"}",
             fp, json_string_value(json_object_get(body, "CertificateArn")), FAKE_CA_ARN);
    json_decref(body);
    assert_int_equal(
        pki_store_write_file(pending, rec, strlen(rec), 0600, (uid_t)-1, (gid_t)-1, &err), 0);

    fake_config("");
    issue_request(&req, csr, pending);
    assert_int_equal(pki_ca_issue(ca, &req, &again, &err), 0);
    assert_int_equal(fake_calls("IssueCertificate"), 0);
    assert_int_equal(X509_cmp(got.leaf, again.leaf), 0);
    unlink(pending);
    pki_issued_clear(&got);
    pki_issued_clear(&again);
    X509_REQ_free(csr);
    EVP_PKEY_free(key);
    pki_ca_free(ca);
}

/* A record for another CSR (a new key was made) does not block: the new CSR is issued and the
 * record replaced.  A record that cannot be parsed is refused, naming the file. */
static void test_fake_record_other_csr_and_corrupt(void **state)
{
    struct pki_ca *ca = fake_ca();
    struct pki_issue_request req;
    struct pki_issued got = {NULL, NULL};
    struct mk_err err;
    char pending[600];
    char fp[65];
    char *text;
    EVP_PKEY *key;
    X509_REQ *csr;

    (void)state;
    new_key_csr(&key, &csr);
    assert_int_equal(pki_csr_fingerprint(csr, fp, &err), 0);
    path_in(pending, sizeof(pending), "other.pending");
    write_text(pending, "{\"csr_sha256\": \"00ff\", \"certificate_arn\": \"" FAKE_CA_ARN
                        "/certificate/dead\", \"ca_arn\": \"" FAKE_CA_ARN "\"}");
    fake_config("");
    issue_request(&req, csr, pending);
    if (pki_ca_issue(ca, &req, &got, &err) != 0) {
        fail_msg("issue: %s", err.msg);
    }
    assert_int_equal(fake_calls("IssueCertificate"), 1);
    text = read_file(pending);
    assert_non_null(strstr(text, fp));
    assert_null(strstr(text, "dead"));
    free(text);
    pki_issued_clear(&got);

    write_text(pending, "{\"csr_sha256\": ");
    fake_config("");
    assert_int_equal(pki_ca_issue(ca, &req, &got, &err), -1);
    assert_int_equal(err.code, MK_ERR_INVALID);
    assert_non_null(strstr(err.msg, pending));
    assert_int_equal(fake_calls("IssueCertificate"), 0);

    write_text(pending, "{\"csr_sha256\": \"x\", \"ca_arn\": \"y\"}");
    assert_int_equal(pki_ca_issue(ca, &req, &got, &err), -1);
    assert_int_equal(err.code, MK_ERR_INVALID);
    assert_non_null(strstr(err.msg, "certificate_arn"));
    assert_int_equal(fake_calls("IssueCertificate"), 0);
    unlink(pending);
    X509_REQ_free(csr);
    EVP_PKEY_free(key);
    pki_ca_free(ca);
}

/* GetCertificate says the ARN does not exist: the record is dropped so the next try can issue. */
static void test_fake_get_not_found_drops_record(void **state)
{
    struct issue_case tc;
    struct pki_issued got = {NULL, NULL};
    struct mk_err err;

    (void)state;
    fake_config("\"errors\": {\"GetCertificate\": \"ResourceNotFoundException\"}");
    issue_case_begin(&tc, fake_ca(), "notfound.pending");
    assert_int_equal(pki_ca_issue(tc.ca, &tc.req, &got, &err), -1);
    assert_int_equal(err.code, MK_ERR_AWS);
    assert_string_equal(err.ext_code, "ResourceNotFoundException");
    assert_non_null(strstr(err.msg, "GetCertificate"));
    assert_int_equal(access(tc.pending, F_OK), -1);

    /* An access problem is not final: the record stays for the next attempt. */
    fake_config("\"errors\": {\"GetCertificate\": \"AccessDeniedException\"}");
    assert_int_equal(pki_ca_issue(tc.ca, &tc.req, &got, &err), -1);
    assert_string_equal(err.ext_code, "AccessDeniedException");
    assert_int_equal(access(tc.pending, F_OK), 0);
    issue_case_end(&tc);
}

/* A certificate for another key is what that ARN will always answer: the record goes. */
static void test_fake_wrong_key_drops_record(void **state)
{
    struct pki_ca *ca = fake_ca();
    struct pki_issue_request req;
    struct pki_issued got = {NULL, NULL};
    struct mk_err err;
    char pending[600];
    EVP_PKEY *key;
    X509_REQ *csr;

    (void)state;
    fake_config("\"bad_issue\": \"wrong_key\"");
    new_key_csr(&key, &csr);
    path_in(pending, sizeof(pending), "wrongkey.pending");
    issue_request(&req, csr, pending);
    assert_int_equal(pki_ca_issue(ca, &req, &got, &err), -1);
    assert_int_equal(err.code, MK_ERR_VERIFY);
    assert_non_null(strstr(err.msg, "public key"));
    assert_null(got.leaf);
    assert_int_equal(access(pending, F_OK), -1);
    fake_config("");
    X509_REQ_free(csr);
    EVP_PKEY_free(key);
    pki_ca_free(ca);
}

static void test_fake_throttled(void **state)
{
    struct issue_case tc;
    struct pki_issued got = {NULL, NULL};
    struct mk_err err;

    (void)state;
    fake_config("\"throttle\": {\"IssueCertificate\": -1}");
    issue_case_begin(&tc, fake_ca(), "throttled.pending");
    assert_int_equal(pki_ca_issue(tc.ca, &tc.req, &got, &err), -1);
    assert_int_equal(err.code, MK_ERR_AWS);
    assert_string_equal(err.ext_code, "ThrottlingException");
    assert_non_null(strstr(err.msg, "IssueCertificate"));
    assert_non_null(strstr(err.msg, FAKE_CA_ARN));
    assert_int_equal(counts_of(tc.ca).throttled, 1);
    /* Nothing was issued, so nothing is pending. */
    assert_int_equal(access(tc.pending, F_OK), -1);
    assert_int_equal(fake_calls("GetCertificate"), 0);

    /* Throttled once, then through: the client's own retries absorb it, one certificate. */
    fake_config("\"throttle\": {\"IssueCertificate\": 1}");
    if (pki_ca_issue(tc.ca, &tc.req, &got, &err) != 0) {
        fail_msg("issue after throttling: %s", err.msg);
    }
    assert_int_equal(fake_calls("IssueCertificate"), 2);
    assert_non_null(got.leaf);
    pki_issued_clear(&got);
    issue_case_end(&tc);
}

static void test_fake_malformed(void **state)
{
    struct issue_case tc;
    struct pki_issued got = {NULL, NULL};
    struct mk_err err;

    (void)state;
    issue_case_begin(&tc, fake_ca(), NULL);

    fake_config("\"malformed\": [\"IssueCertificate\"]");
    assert_int_equal(pki_ca_issue(tc.ca, &tc.req, &got, &err), -1);
    assert_int_equal(err.code, MK_ERR_INVALID);
    assert_non_null(strstr(err.msg, "IssueCertificate"));

    fake_config("\"malformed\": [\"DescribeCertificateAuthority\"]");
    assert_int_equal(pki_ca_check(tc.ca, DAY, &err), -1);
    assert_int_equal(err.code, MK_ERR_INVALID);

    fake_config("\"garbage_certificate\": true");
    assert_int_equal(pki_ca_issue(tc.ca, &tc.req, &got, &err), -1);
    assert_int_equal(err.code, MK_ERR_INVALID);
    assert_non_null(strstr(err.msg, "GetCertificate"));
    assert_null(got.leaf);
    issue_case_end(&tc);
}

/*
 * SigningAlgorithm follows the CA's key, not the host's: the fake CA (an EC key) refuses RSA
 * algorithms as AWS does, so an RSA client key must still be issued with the CA's ECDSA one.
 */
static void test_fake_signing_algorithm_from_ca(void **state)
{
    struct pki_ca *ca = fake_ca();
    struct pki_issue_request req;
    struct pki_issued got = {NULL, NULL};
    struct mk_err err;
    struct pki_csr_spec spec;
    json_t *body;
    EVP_PKEY *rsa;
    X509_REQ *csr;

    (void)state;
    memset(&spec, 0, sizeof(spec));
    spec.common_name = "rsa-client";
    rsa = pki_key_generate(PKI_KEY_RSA_2048, &err);
    assert_non_null(rsa);
    csr = pki_csr_new(rsa, &spec, &err);
    assert_non_null(csr);
    fake_config("\"describe\": {\"CertificateAuthorityConfiguration\": {\"KeyAlgorithm\": "
                "\"EC_prime256v1\", \"SigningAlgorithm\": \"SHA512WITHECDSA\"}}");
    issue_request(&req, csr, NULL);
    if (pki_ca_issue(ca, &req, &got, &err) != 0) {
        fail_msg("issue: %s", err.msg);
    }
    assert_int_equal(pki_cert_matches_key(got.leaf, rsa, &err), 0);
    body = fake_last("IssueCertificate");
    assert_string_equal(json_string_value(json_object_get(body, "SigningAlgorithm")),
                        "SHA512WITHECDSA");
    json_decref(body);
    assert_int_equal(fake_calls("DescribeCertificateAuthority"), 1);
    pki_issued_clear(&got);

    /* Every new issuance is checked first (one DescribeCertificateAuthority each); the algorithm
     * learnt before stays when a later description lacks it. */
    fake_config("\"describe\": {\"CertificateAuthorityConfiguration\": {}}");
    assert_int_equal(pki_ca_issue(ca, &req, &got, &err), 0);
    assert_int_equal(fake_calls("DescribeCertificateAuthority"), 1);
    body = fake_last("IssueCertificate");
    assert_string_equal(json_string_value(json_object_get(body, "SigningAlgorithm")),
                        "SHA512WITHECDSA");
    json_decref(body);
    pki_issued_clear(&got);
    pki_ca_free(ca);

    /* Without DescribeCertificateAuthority permission: the algorithm of the CSR's key, which the
     * EC CA refuses for an RSA key, clearly (AWS error code and operation named). */
    ca = fake_ca();
    fake_config("\"errors\": {\"DescribeCertificateAuthority\": \"AccessDeniedException\"}");
    assert_int_equal(pki_ca_issue(ca, &req, &got, &err), -1);
    assert_int_equal(err.code, MK_ERR_AWS);
    assert_string_equal(err.ext_code, "ValidationException");
    assert_non_null(strstr(err.msg, "IssueCertificate"));
    body = fake_last("IssueCertificate");
    assert_string_equal(json_string_value(json_object_get(body, "SigningAlgorithm")),
                        "SHA256WITHRSA");
    json_decref(body);
    pki_ca_free(ca);

    /* A configured algorithm is checked when the backend is made. */
    {
        struct pki_ca_aws_pca_config cfg;

        memset(&cfg, 0, sizeof(cfg));
        cfg.ca_arn = FAKE_CA_ARN;
        cfg.signing_algorithm = "MD5WITHRSA";
        assert_null(pki_ca_aws_pca_new(&cfg, &err));
        assert_int_equal(err.code, MK_ERR_CONFIG);
        assert_non_null(strstr(err.msg, "MD5WITHRSA"));
    }
    X509_REQ_free(csr);
    EVP_PKEY_free(rsa);
}

/* A CSR whose signature does not verify never reaches the CA. */
static void test_fake_bad_csr(void **state)
{
    struct pki_ca *ca = fake_ca();
    struct pki_issue_request req;
    struct pki_issued got = {NULL, NULL};
    struct mk_err err;
    EVP_PKEY *key;
    EVP_PKEY *other;
    X509_REQ *csr;

    (void)state;
    fake_config("");
    new_key_csr(&key, &csr);
    other = pki_key_generate(PKI_KEY_EC_P256, &err);
    assert_non_null(other);
    /* Swap in another public key after signing: the self-signature no longer verifies. */
    assert_int_equal(X509_REQ_set_pubkey(csr, other), 1);
    issue_request(&req, csr, NULL);
    assert_int_equal(pki_ca_issue(ca, &req, &got, &err), -1);
    assert_int_equal(err.code, MK_ERR_VERIFY);
    assert_int_equal(fake_calls("IssueCertificate"), 0);

    req.csr = NULL;
    assert_int_equal(pki_ca_issue(ca, &req, &got, &err), -1);
    assert_int_equal(err.code, MK_ERR_INVALID);
    EVP_PKEY_free(other);
    X509_REQ_free(csr);
    EVP_PKEY_free(key);
    pki_ca_free(ca);
}

static void test_fake_check(void **state)
{
    struct pki_ca *ca = fake_ca();
    struct mk_err err;

    (void)state;
    fake_config("");
    /* GENERAL_PURPOSE: 30 days is fine. */
    if (pki_ca_check(ca, 30 * DAY, &err) != 0) {
        fail_msg("check: %s", err.msg);
    }
    /* The CA expires in 10 days: a 30-day certificate would outlive it. */
    fake_config("\"describe\": {\"NotAfterIn\": 864000}");
    assert_int_equal(pki_ca_check(ca, 30 * DAY, &err), -1);
    assert_int_equal(err.code, MK_ERR_STATE);
    assert_non_null(strstr(err.msg, FAKE_CA_ARN));
    assert_non_null(strstr(err.msg, "expires"));
    assert_int_equal(pki_ca_check(ca, 9 * DAY, &err), 0);

    fake_config("\"describe\": {\"Status\": \"EXPIRED\"}");
    assert_int_equal(pki_ca_check(ca, DAY, &err), -1);
    assert_int_equal(err.code, MK_ERR_STATE);
    assert_non_null(strstr(err.msg, "EXPIRED"));

    fake_config("\"describe\": {\"NotAfter\": \"soon\"}");
    assert_int_equal(pki_ca_check(ca, DAY, &err), -1);
    assert_int_equal(err.code, MK_ERR_INVALID);
    assert_non_null(strstr(err.msg, "NotAfter"));

    assert_int_equal(pki_ca_check(ca, -1, &err), -1);
    assert_int_equal(err.code, MK_ERR_INVALID);
    pki_ca_free(ca);
}

/*
 * pki_ca_issue itself describes the CA before paying for a certificate, whatever the caller did:
 * a CA that is not ACTIVE, a short-lived CA asked for more than 7 days, or a CA that expires
 * before the certificate would is refused (MK_ERR_STATE, the CA named) and IssueCertificate is
 * never sent.  A resume does not describe: that certificate is already paid for.
 */
static void test_fake_issue_refused_by_describe(void **state)
{
    static const struct {
        const char *describe;
        long validity;
        const char *says;
    } cases[] = {
        {"\"describe\": {\"Status\": \"DISABLED\"}", 3600, "DISABLED"},
        {"\"describe\": {\"Status\": \"PENDING_CERTIFICATE\"}", 3600, "PENDING_CERTIFICATE"},
        {"\"describe\": {\"UsageMode\": \"SHORT_LIVED_CERTIFICATE\"}", 8 * DAY,
         "SHORT_LIVED_CERTIFICATE"},
        {"\"describe\": {\"NotAfterIn\": 7200}", 3 * 3600, "expires"},
    };
    struct issue_case tc;
    struct pki_issued got = {NULL, NULL};
    struct mk_err err;

    (void)state;
    issue_case_begin(&tc, fake_ca(), "refused.pending");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fake_config(cases[i].describe);
        tc.req.validity_seconds = cases[i].validity;
        assert_int_equal(pki_ca_issue(tc.ca, &tc.req, &got, &err), -1);
        assert_int_equal(err.code, MK_ERR_STATE);
        if (strstr(err.msg, cases[i].says) == NULL || strstr(err.msg, FAKE_CA_ARN) == NULL) {
            fail_msg("case %zu: %s", i, err.msg);
        }
        assert_int_equal(fake_calls("DescribeCertificateAuthority"), 1);
        assert_int_equal(fake_calls("IssueCertificate"), 0);
        assert_null(got.leaf);
        assert_int_equal(access(tc.pending, F_OK), -1);
    }
    /* Short-lived mode within 7 days, and a CA that outlives the certificate, issue. */
    fake_config(
        "\"describe\": {\"UsageMode\": \"SHORT_LIVED_CERTIFICATE\", \"NotAfterIn\": 864000}");
    tc.req.validity_seconds = 7 * DAY;
    if (pki_ca_issue(tc.ca, &tc.req, &got, &err) != 0) {
        fail_msg("issue: %s", err.msg);
    }
    assert_int_equal(fake_calls("IssueCertificate"), 1);
    pki_issued_clear(&got);

    /* A describe that fails for another reason than permission stops the issuance too. */
    fake_config("\"errors\": {\"DescribeCertificateAuthority\": \"ResourceNotFoundException\"}");
    unlink(tc.pending);
    assert_int_equal(pki_ca_issue(tc.ca, &tc.req, &got, &err), -1);
    assert_string_equal(err.ext_code, "ResourceNotFoundException");
    assert_non_null(strstr(err.msg, "DescribeCertificateAuthority"));
    assert_int_equal(fake_calls("IssueCertificate"), 0);

    /* A pending record is resumed without describing the CA (even a now-disabled one).  A
     * 1-second poll deadline leaves the record behind quickly. */
    pki_ca_free(tc.ca);
    tc.ca = fake_ca_with(100, 100, 1, NULL, NULL);
    fake_config("\"in_progress\": -1");
    tc.req.validity_seconds = 3600;
    assert_int_equal(pki_ca_issue(tc.ca, &tc.req, &got, &err), -1);
    assert_int_equal(err.code, MK_ERR_PENDING);
    fake_config("\"describe\": {\"Status\": \"DISABLED\"}");
    if (pki_ca_issue(tc.ca, &tc.req, &got, &err) != 0) {
        fail_msg("resume: %s", err.msg);
    }
    assert_int_equal(fake_calls("DescribeCertificateAuthority"), 0);
    assert_int_equal(fake_calls("IssueCertificate"), 0);
    pki_issued_clear(&got);
    issue_case_end(&tc);
}

/*
 * The configured endpoint_url is ACM PCA's only: with credentials from a role profile, the STS
 * AssumeRole goes to STS's own endpoint (moto here, through AWS_ENDPOINT_URL_STS), not to the
 * fake PCA, which would answer UnknownOperationException.
 */
static void test_fake_endpoint_is_pca_only(void **state)
{
    struct pki_ca_aws_pca_config cfg;
    struct issue_case tc;
    struct pki_issued got = {NULL, NULL};
    struct mk_err err;
    char conf[600];
    char *saved_endpoint = strdup(getenv("AWS_ENDPOINT_URL"));

    (void)state;
    assert_non_null(saved_endpoint);
    path_in(conf, sizeof(conf), "aws-config");
    write_text(conf, "[profile pcarole]\nrole_arn = arn:aws:iam::123456789012:role/pca\n"
                     "source_profile = base\n"
                     "[profile base]\naws_access_key_id = AKIDPROFILEBASE\n"
                     "aws_secret_access_key = base-secret\n");
    setenv("AWS_CONFIG_FILE", conf, 1);
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    unsetenv("AWS_ENDPOINT_URL");
    setenv("AWS_ENDPOINT_URL_STS", moto_url, 1);

    memset(&cfg, 0, sizeof(cfg));
    cfg.ca_arn = FAKE_CA_ARN;
    cfg.endpoint_url = fake_url;
    cfg.region = "us-east-1";
    cfg.profile = "pcarole";
    cfg.rate_per_second = 100;
    cfg.burst = 100;
    cfg.poll_timeout_seconds = 10;
    fake_config("");
    issue_case_begin(&tc, pki_ca_aws_pca_new(&cfg, &err), NULL);
    assert_non_null(tc.ca);
    int rc = pki_ca_issue(tc.ca, &tc.req, &got, &err);

    setenv("AWS_CONFIG_FILE", "/nonexistent/mskpki-test", 1);
    setenv("AWS_ACCESS_KEY_ID", "testing", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "testing", 1);
    setenv("AWS_ENDPOINT_URL", saved_endpoint, 1);
    unsetenv("AWS_ENDPOINT_URL_STS");
    free(saved_endpoint);
    if (rc != 0) {
        fail_msg("issue with role credentials: %s", err.msg);
    }
    assert_int_equal(fake_calls("IssueCertificate"), 1);
    pki_issued_clear(&got);
    issue_case_end(&tc);
}

static void test_fake_revoke_serial_format(void **state)
{
    struct issue_case tc;
    struct pki_issued got = {NULL, NULL};
    struct mk_err err;
    char want[200];
    json_t *body;

    (void)state;
    fake_config("");
    issue_case_begin(&tc, fake_ca(), NULL);
    assert_int_equal(pki_ca_issue(tc.ca, &tc.req, &got, &err), 0);
    assert_int_equal(pki_ca_revoke(tc.ca, got.leaf, "KEY_COMPROMISE", &err), 0);
    body = fake_last("RevokeCertificate");
    assert_int_equal(pki_pca_serial_string(got.leaf, want, sizeof(want), &err), 0);
    assert_string_equal(json_string_value(json_object_get(body, "CertificateSerial")), want);
    assert_string_equal(json_string_value(json_object_get(body, "RevocationReason")),
                        "KEY_COMPROMISE");
    json_decref(body);

    fake_config("\"errors\": {\"RevokeCertificate\": \"InvalidStateException\"}");
    assert_int_equal(pki_ca_revoke(tc.ca, got.leaf, "SUPERSEDED", &err), -1);
    assert_string_equal(err.ext_code, "InvalidStateException");
    assert_non_null(strstr(err.msg, "RevokeCertificate"));
    pki_issued_clear(&got);
    issue_case_end(&tc);
}

/* The CertificateSerial form: lowercase hex pairs joined by ':', as `openssl x509 -text`. */
static void test_serial_string(void **state)
{
    X509 *cert = X509_new();
    BIGNUM *bn = NULL;
    struct mk_err err;
    char out[200];
    char tiny[4];

    (void)state;
    assert_non_null(cert);
    assert_true(BN_hex2bn(&bn, "0AFF0012") > 0);
    assert_non_null(BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)));
    assert_int_equal(pki_pca_serial_string(cert, out, sizeof(out), &err), 0);
    assert_string_equal(out, "0a:ff:00:12");
    assert_int_equal(pki_pca_serial_string(cert, tiny, sizeof(tiny), &err), -1);
    assert_true(BN_hex2bn(&bn, "80") > 0);
    assert_non_null(BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)));
    assert_int_equal(pki_pca_serial_string(cert, out, sizeof(out), &err), 0);
    assert_string_equal(out, "80");
    BN_free(bn);
    X509_free(cert);
}

/* A failed record write (disk full...) does not waste the issued certificate. */
static void test_fake_record_write_fails(void **state)
{
    struct issue_case tc;
    struct pki_issued got = {NULL, NULL};
    struct mk_err err;

    (void)state;
    fake_config("");
    issue_case_begin(&tc, fake_ca(), "failwrite.pending");
    pki_store_test_fail_write(1);
    if (pki_ca_issue(tc.ca, &tc.req, &got, &err) != 0) {
        fail_msg("issue: %s", err.msg);
    }
    pki_store_test_fail_write(0);
    assert_int_equal(access(tc.pending, F_OK), -1);
    assert_int_equal(pki_cert_matches_key(got.leaf, tc.key, &err), 0);
    pki_issued_clear(&got);
    pki_ca_free(tc.ca);

    /* ...but if the certificate then stays pending past the deadline, the caller is told that
     * the record is lost. */
    tc.ca = fake_ca_with(100, 100, 1, NULL, NULL);
    fake_config("\"in_progress\": -1");
    pki_store_test_fail_write(1);
    assert_int_equal(pki_ca_issue(tc.ca, &tc.req, &got, &err), -1);
    pki_store_test_fail_write(0);
    assert_int_equal(err.code, MK_ERR_PENDING);
    assert_non_null(strstr(err.msg, "pending record lost"));
    assert_int_equal(access(tc.pending, F_OK), -1);
    issue_case_end(&tc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bucket_math),
        cmocka_unit_test(test_bucket_acquire),
        cmocka_unit_test(test_bucket_threads),
        cmocka_unit_test(test_serial_string),
        cmocka_unit_test(test_new_rejects_bad_config),
        cmocka_unit_test(test_kind),
        cmocka_unit_test(test_bucket_shared_per_ca),
        cmocka_unit_test(test_moto_issue_root),
        cmocka_unit_test(test_moto_issue_subordinate),
        cmocka_unit_test(test_moto_check),
        cmocka_unit_test(test_moto_unknown_ca),
        cmocka_unit_test(test_moto_resume),
        cmocka_unit_test(test_moto_revoke),
        cmocka_unit_test(test_fake_request_shape),
        cmocka_unit_test(test_fake_overrides),
        cmocka_unit_test(test_fake_in_progress_then_ready),
        cmocka_unit_test(test_fake_pending_record_owner),
        cmocka_unit_test(test_fake_poll_timeout_then_resume),
        cmocka_unit_test(test_fake_resume_written_record),
        cmocka_unit_test(test_fake_record_other_csr_and_corrupt),
        cmocka_unit_test(test_fake_get_not_found_drops_record),
        cmocka_unit_test(test_fake_wrong_key_drops_record),
        cmocka_unit_test(test_fake_throttled),
        cmocka_unit_test(test_fake_malformed),
        cmocka_unit_test(test_fake_signing_algorithm_from_ca),
        cmocka_unit_test(test_fake_bad_csr),
        cmocka_unit_test(test_fake_check),
        cmocka_unit_test(test_fake_issue_refused_by_describe),
        cmocka_unit_test(test_fake_endpoint_is_pca_only),
        cmocka_unit_test(test_fake_revoke_serial_format),
        cmocka_unit_test(test_fake_record_write_fails),
        cmocka_unit_test(test_rate_limit_blocks_calls),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
