/*
 * ca_aws_pca-int.h: internals of the aws-pca backend that the unit tests reach (MK_TESTING).
 *
 * The token bucket limits the API calls one process makes to one Private CA: every call takes a
 * token first, and a caller without one blocks until a token comes or its deadline passes.  All
 * CA objects of one process that name the same CA ARN share one bucket, which outlives them, so
 * creating several backends, or re-creating one, cannot multiply the rate.  The clock and the sleep
 * are injectable so that the bucket arithmetic is testable without real time.
 */
#ifndef PKI_CA_AWS_PCA_INT_H
#define PKI_CA_AWS_PCA_INT_H

#include <jansson.h>

#include "ca/ca.h"
#include "pki/err.h"

/* Time source of a bucket: now() in seconds on a monotonic scale; sleep() for that many seconds. */
struct pki_pca_clock {
    double (*now)(void *arg);
    void (*sleep)(void *arg, double seconds);
    void *arg;
};

struct pki_pca_bucket;

#ifdef MK_TESTING
/* A bucket that refills rate tokens per second up to burst (both > 0) and starts full.  clock
 * NULL = the real monotonic clock.  Caller frees with pki_pca_bucket_free(). */
struct pki_pca_bucket *pki_pca_bucket_new(double rate, double burst,
                                          const struct pki_pca_clock *clock, struct mk_err *err);
void pki_pca_bucket_free(struct pki_pca_bucket *bucket);

/* Takes one token at time now when one is there and returns 0; otherwise takes nothing and
 * returns the seconds until a token will be there.  Thread-safe. */
double pki_pca_bucket_take(struct pki_pca_bucket *bucket, double now);

/* Blocks (through the bucket's clock) until a token is taken.  Fails with MK_ERR_TIMEOUT, without
 * sleeping, when no token can come before deadline (same scale as the clock). */
int pki_pca_bucket_acquire(struct pki_pca_bucket *bucket, double deadline, struct mk_err *err);

/* The bucket an aws-pca CA object uses (one per CA ARN, for the process's life).  Borrowed. */
struct pki_pca_bucket *pki_pca_bucket_of(struct pki_ca *ca);

/* Shortens the GetCertificate polling backoff (default 1000 ms doubling to 10000 ms) so tests of
 * RequestInProgressException run fast.  0, 0 restores the defaults.  Not thread-safe. */
void pki_ca_aws_pca_test_set_backoff(long initial_ms, long max_ms);

/* The serial as CertificateSerial wants it: lowercase hex byte pairs joined by ':' (the form
 * `openssl x509 -text` prints, which the RevokeCertificate reference tells users to copy). */
int pki_pca_serial_string(X509 *cert, char *out, size_t size, struct mk_err *err);

/* The answer parsers, separated from the calls so that the unit tests and the fuzzers reach
 * them.  GetCertificate: out gets the leaf and the chain ordered issuer first (clear with
 * pki_issued_clear()). */
int pki_pca_certificate_answer(json_t *resp, struct pki_issued *out, struct mk_err *err);
/* DescribeCertificateAuthority's CertificateAuthority object: whether it can issue a certificate
 * of validity_seconds now (ACTIVE, usage mode, NotAfter).  ca_arn names it in errors. */
int pki_pca_check_answer(json_t *desc, const char *ca_arn, long validity_seconds,
                         struct mk_err *err);
/* GetCertificateAuthorityCertificate: the self-signed roots among Certificate and
 * CertificateChain.  Caller frees with sk_X509_pop_free(s, X509_free). */
STACK_OF(X509) *pki_pca_anchors_answer(json_t *resp, const char *ca_arn, struct mk_err *err);
#endif

#endif
