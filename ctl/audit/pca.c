/*
 * audit_pca.c: the pca.* checks over DescribeCertificateAuthority and
 * GetCertificateAuthorityCertificate answers (see docs/audit.md).  Pure: no I/O.
 *
 * The mTLS chain of an MSK cluster is only as healthy as the Private CA behind it: a CA that is
 * not ACTIVE issues nothing, a CA certificate (or a certificate above it in the chain) that
 * expires soon takes every client certificate with it, and without CRL or OCSP a revoked client
 * certificate keeps working.
 */
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "ctl/audit/checks-int.h"

#define DAY_S 86400L

static int selected(const struct eval *ev, enum audit_check c)
{
    return ev->opts->selected[c];
}

static const char *iso_date(time_t t, char *buf, size_t len)
{
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
        snprintf(buf, len, "%lld", (long long)t);
    }
    return buf;
}

/* The same status and message for every selected pca.* check (a failed or empty describe). */
static int all_pca(struct eval *ev, const struct audit_ca *ca, enum ctl_status status,
                   const char *msg)
{
    for (int c = AUDIT_PCA_STATUS; c <= AUDIT_PCA_USAGE_MODE; c++) {
        if (selected(ev, (enum audit_check)c)) {
            MK_GUARD(ADD(ev, (enum audit_check)c, status, ca->arn, ca->region, "%s", msg));
        }
    }
    return 0;
out:
    return -1;
}

/*
 * Earliest notAfter among the PEM certificates in text (the CA certificate and its chain), with
 * that certificate's subject.  Returns 0, or -1 when text holds no certificate or one is
 * unreadable.
 */
static int pem_earliest(const char *text, time_t *not_after, char *subject, size_t subject_len)
{
    BIO *bio = BIO_new_mem_buf(text, -1);
    X509 *x = NULL;
    int n = 0, rc = 0;
    if (bio == NULL) {
        return -1;
    }
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        struct tm tm;
        time_t t;
        if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) != 1) {
            rc = -1;
        } else {
            t = timegm(&tm);
            if (n == 0 || t < *not_after) {
                *not_after = t;
                X509_NAME_oneline(X509_get_subject_name(x), subject, (int)subject_len);
            }
            n++;
        }
        X509_free(x);
    }
    /* The loop ends on "no start line" at the end of the text; anything else is an error. */
    if (ERR_GET_REASON(ERR_peek_last_error()) != PEM_R_NO_START_LINE) {
        rc = -1;
    }
    ERR_clear_error();
    BIO_free(bio);
    return n > 0 ? rc : -1;
}

static int eval_status(struct eval *ev, const struct audit_ca *ca, const json_t *d)
{
    const char *status = audit_jstr(d, "Status");
    if (status == NULL) {
        return ADD(ev, AUDIT_PCA_STATUS, CTL_STATUS_ERROR, ca->arn, ca->region,
                   "missing data: no Status in the DescribeCertificateAuthority answer");
    }
    if (strcmp(status, "ACTIVE") != 0) {
        return ADD(ev, AUDIT_PCA_STATUS, CTL_STATUS_FAIL, ca->arn, ca->region,
                   "status is %s: the CA issues no certificates", status);
    }
    return ADD(ev, AUDIT_PCA_STATUS, CTL_STATUS_PASS, ca->arn, ca->region, "status is ACTIVE");
}

static int eval_usage(struct eval *ev, const struct audit_ca *ca, const json_t *d)
{
    const char *mode = audit_jstr(d, "UsageMode");
    const char *type = audit_jstr(d, "Type");
    if (mode == NULL) {
        return ADD(ev, AUDIT_PCA_USAGE_MODE, CTL_STATUS_PASS, ca->arn, ca->region,
                   "usage mode not in the answer (GENERAL_PURPOSE is the API default); type %s",
                   type != NULL ? type : "unknown");
    }
    return ADD(ev, AUDIT_PCA_USAGE_MODE, CTL_STATUS_PASS, ca->arn, ca->region,
               "usage mode %s; type %s", mode, type != NULL ? type : "unknown");
}

static int eval_revocation(struct eval *ev, const struct audit_ca *ca, const json_t *d)
{
    const char *mode = audit_jstr(d, "UsageMode");
    int crl = json_is_true(audit_jpath(d, "RevocationConfiguration.CrlConfiguration.Enabled"));
    int ocsp = json_is_true(audit_jpath(d, "RevocationConfiguration.OcspConfiguration.Enabled"));
    if (mode != NULL && strcmp(mode, "SHORT_LIVED_CERTIFICATE") == 0) {
        return ADD(ev, AUDIT_PCA_REVOCATION, CTL_STATUS_NOT_APPLICABLE, ca->arn, ca->region,
                   "short-lived certificate mode: certificates expire within 7 days instead of "
                   "being revoked");
    }
    if (!crl && !ocsp) {
        return ADD(ev, AUDIT_PCA_REVOCATION, CTL_STATUS_FAIL, ca->arn, ca->region,
                   "neither CRL nor OCSP is enabled: revoking a client certificate changes "
                   "nothing");
    }
    return ADD(ev, AUDIT_PCA_REVOCATION, CTL_STATUS_PASS, ca->arn, ca->region, "%s enabled",
               crl && ocsp ? "CRL and OCSP" : crl ? "CRL" : "OCSP");
}

/* The CA's NotAfter, lowered to the earliest certificate in its chain when that was fetched. */
static int expiry_of(struct eval *ev, const struct audit_ca *ca, const json_t *d, time_t *when,
                     char *first, size_t first_len, int *done)
{
    char ebuf[900];
    const json_t *na = json_object_get(d, "NotAfter");
    const char *status = audit_jstr(d, "Status");
    const char *chain_text;
    char *both = NULL;
    time_t chain_t = 0;
    int rc;

    *done = 1;
    first[0] = '\0';
    if (!json_is_number(na)) {
        if (status != NULL && strcmp(status, "ACTIVE") == 0) {
            return ADD(ev, AUDIT_PCA_EXPIRY, CTL_STATUS_ERROR, ca->arn, ca->region,
                       "missing data: no NotAfter in the DescribeCertificateAuthority answer");
        }
        return ADD(ev, AUDIT_PCA_EXPIRY, CTL_STATUS_NOT_APPLICABLE, ca->arn, ca->region,
                   "no CA certificate installed (status %s)", status != NULL ? status : "unknown");
    }
    *when = (time_t)json_number_value(na);
    if (!ca->cert_fetched) {
        *done = 0;
        return 0;
    }
    if (ca->cert.failed) {
        return ADD(ev, AUDIT_PCA_EXPIRY, CTL_STATUS_ERROR, ca->arn, ca->region,
                   "GetCertificateAuthorityCertificate failed: %s",
                   audit_err_text(&ca->cert.err, ebuf, sizeof(ebuf)));
    }
    chain_text = audit_jstr(ca->cert.data, "CertificateChain");
    if (asprintf(&both, "%s\n%s",
                 audit_jstr(ca->cert.data, "Certificate") ? audit_jstr(ca->cert.data, "Certificate")
                                                          : "",
                 chain_text != NULL ? chain_text : "") < 0) {
        mk_err_set(ev->err, MK_ERR_NOMEM, "out of memory");
        return -1;
    }
    rc = pem_earliest(both, &chain_t, first, first_len);
    free(both);
    if (rc != 0) {
        return ADD(ev, AUDIT_PCA_EXPIRY, CTL_STATUS_ERROR, ca->arn, ca->region,
                   "GetCertificateAuthorityCertificate: the certificate or chain is not PEM");
    }
    if (chain_t < *when) {
        *when = chain_t;
    } else {
        first[0] = '\0'; /* the CA certificate itself expires first */
    }
    *done = 0;
    return 0;
}

static int eval_expiry(struct eval *ev, const struct audit_ca *ca, const json_t *d)
{
    const struct audit_eval_options *o = ev->opts;
    time_t now = o->now != 0 ? o->now : time(NULL);
    time_t when = 0;
    char first[512], date[40], why[600] = "";
    long days;
    int done = 0;

    MK_GUARD(expiry_of(ev, ca, d, &when, first, sizeof(first), &done));
    if (done) {
        return 0;
    }
    iso_date(when, date, sizeof(date));
    if (first[0] != '\0') {
        snprintf(why, sizeof(why), " (the chain certificate %s expires first)", first);
    }
    days = (long)((when - now) / DAY_S);
    if (when <= now) {
        return ADD(ev, AUDIT_PCA_EXPIRY, CTL_STATUS_FAIL, ca->arn, ca->region,
                   "CA certificate expired on %s%s", date, why);
    }
    if (when - now < o->ca_min_days * DAY_S) {
        return ADD(ev, AUDIT_PCA_EXPIRY, CTL_STATUS_FAIL, ca->arn, ca->region,
                   "CA certificate expires on %s, in %ld days: within the minimum of %ld days%s",
                   date, days, o->ca_min_days, why);
    }
    if (when - now < o->cert_days * DAY_S) {
        return ADD(ev, AUDIT_PCA_EXPIRY, CTL_STATUS_FAIL, ca->arn, ca->region,
                   "CA certificate expires on %s, in %ld days: before the %ld-day certificates "
                   "it issues would%s",
                   date, days, o->cert_days, why);
    }
    return ADD(ev, AUDIT_PCA_EXPIRY, CTL_STATUS_PASS, ca->arn, ca->region,
               "CA certificate expires on %s, in %ld days%s", date, days, why);
out:
    return -1;
}

static int eval_ca(struct eval *ev, const struct audit_ca *ca)
{
    char ebuf[900], msg[1100];
    const json_t *d = ca->describe.data;

    if (ca->describe.failed &&
        strcmp(ca->describe.err.ext_code, "ResourceNotFoundException") == 0) {
        /* An MSK cluster trusting a CA that is gone: no client can get a certificate from it. */
        if (selected(ev, AUDIT_PCA_STATUS)) {
            MK_GUARD(ADD(ev, AUDIT_PCA_STATUS, CTL_STATUS_FAIL, ca->arn, ca->region,
                         "the CA does not exist (deleted, or the ARN is wrong): %s",
                         audit_err_text(&ca->describe.err, ebuf, sizeof(ebuf))));
        }
        for (int c = AUDIT_PCA_EXPIRY; c <= AUDIT_PCA_USAGE_MODE; c++) {
            if (selected(ev, (enum audit_check)c)) {
                MK_GUARD(ADD(ev, (enum audit_check)c, CTL_STATUS_NOT_APPLICABLE, ca->arn,
                             ca->region, "the CA does not exist"));
            }
        }
        return 0;
    }
    if (ca->describe.failed || !json_is_object(d)) {
        if (ca->describe.failed) {
            audit_err_text(&ca->describe.err, ebuf, sizeof(ebuf));
        } else {
            snprintf(ebuf, sizeof(ebuf), "missing data: empty answer");
        }
        snprintf(msg, sizeof(msg), "DescribeCertificateAuthority failed: %s", ebuf);
        return all_pca(ev, ca, CTL_STATUS_ERROR, msg);
    }
    if (selected(ev, AUDIT_PCA_STATUS)) {
        MK_GUARD(eval_status(ev, ca, d));
    }
    if (selected(ev, AUDIT_PCA_EXPIRY)) {
        MK_GUARD(eval_expiry(ev, ca, d));
    }
    if (selected(ev, AUDIT_PCA_REVOCATION)) {
        MK_GUARD(eval_revocation(ev, ca, d));
    }
    if (selected(ev, AUDIT_PCA_USAGE_MODE)) {
        MK_GUARD(eval_usage(ev, ca, d));
    }
    return 0;
out:
    return -1;
}

int audit_eval_pca(struct eval *ev)
{
    for (size_t i = 0; i < ev->inv->n_cas; i++) {
        MK_GUARD(eval_ca(ev, &ev->inv->cas[i]));
    }
    return 0;
out:
    return -1;
}
