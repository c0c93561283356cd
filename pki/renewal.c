/* renewal.c: see renewal.h. */
#include "pki/renewal.h"

#include "pki/cert.h"

void pki_renewal_plan(time_t not_before, time_t not_after, double fraction,
                      long renew_before_seconds, long retry_min, long retry_max,
                      struct pki_renewal_plan *out)
{
    time_t lifetime = not_after > not_before ? not_after - not_before : 0;
    time_t margin = lifetime / 10;

    if (retry_min > margin) {
        margin = retry_min;
    }
    out->not_after = not_after;
    out->planned = pki_cert_renewal_time(not_before, not_after, fraction, renew_before_seconds);
    out->expiring = not_after - margin;
    if (out->expiring < not_before) {
        out->expiring = not_before;
    }
    /* Past expiring, "expiring" is the stronger word: overdue never lies beyond it. */
    out->overdue = out->planned + (retry_max > 0 ? retry_max : 0);
    if (out->overdue > out->expiring) {
        out->overdue = out->expiring;
    }
    if (out->planned > out->overdue) {
        out->planned = out->overdue;
    }
}

enum pki_renewal_verdict pki_renewal_judge(const struct pki_renewal_plan *plan, time_t now)
{
    if (now >= plan->not_after) {
        return PKI_RENEWAL_EXPIRED;
    }
    if (now >= plan->expiring) {
        return PKI_RENEWAL_EXPIRING;
    }
    if (now >= plan->overdue) {
        return PKI_RENEWAL_OVERDUE;
    }
    if (now >= plan->planned) {
        return PKI_RENEWAL_DUE;
    }
    return PKI_RENEWAL_OK;
}

const char *pki_renewal_verdict_name(enum pki_renewal_verdict v)
{
    switch (v) {
    case PKI_RENEWAL_OK:
        return "ok";
    case PKI_RENEWAL_DUE:
        return "renewal_due";
    case PKI_RENEWAL_OVERDUE:
        return "renewal_overdue";
    case PKI_RENEWAL_EXPIRING:
        return "expiring";
    case PKI_RENEWAL_EXPIRED:
        return "expired";
    default:
        return "unknown";
    }
}
