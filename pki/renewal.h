/*
 * renewal.h: the renewal plan of one certificate and its verdict at a time: the one definition
 * that `mskpkictl status`, the agent's metrics and the alert rules in docs/alerts.rules.yml share.
 *
 * Pure arithmetic (no clock of its own, nothing allocated).  Verdicts, from fine to worst:
 *   ok               before the planned renewal;
 *   renewal_due      past the planned renewal: the agent is renewing (or retrying) now;
 *   renewal_overdue  past the planned renewal plus the retry grace (retry.max, the longest wait
 *                    between two attempts): at least one whole retry round has failed;
 *   expiring         under a tenth of the lifetime left, or less than one retry interval
 *                    (retry.min): one more failure may outlast the certificate;
 *   expired          at or past notAfter.
 * Thresholds scale with the lifetime, so a 90-second certificate and a one-year one are judged
 * alike (a fixed "7 days" called every short-lived certificate expiring right after issuance).
 */
#ifndef PKI_RENEWAL_H
#define PKI_RENEWAL_H

#include <time.h>

enum pki_renewal_verdict {
    PKI_RENEWAL_OK,
    PKI_RENEWAL_DUE,
    PKI_RENEWAL_OVERDUE,
    PKI_RENEWAL_EXPIRING,
    PKI_RENEWAL_EXPIRED,
};

struct pki_renewal_plan {
    time_t planned;  /* the planned renewal (pki_cert_renewal_time(), no jitter: the agent renews
                      * at or before it, never after) */
    time_t overdue;  /* planned + retry grace, clamped to expiring */
    time_t expiring; /* not_after - max(lifetime / 10, retry_min) */
    time_t not_after;
};

/* The plan of a certificate valid from not_before to not_after renewed with fraction or
 * renew_before_seconds (as in the config), retrying between retry_min and retry_max seconds. */
void pki_renewal_plan(time_t not_before, time_t not_after, double fraction,
                      long renew_before_seconds, long retry_min, long retry_max,
                      struct pki_renewal_plan *out);

/* The verdict of plan at now. */
enum pki_renewal_verdict pki_renewal_judge(const struct pki_renewal_plan *plan, time_t now);

/* "ok", "renewal_due", "renewal_overdue", "expiring", "expired". */
const char *pki_renewal_verdict_name(enum pki_renewal_verdict v);

#endif
