/*
 * ca.c: the backend-independent part of struct pki_ca: dispatch through the vtable of ca-int.h,
 * and the per-outcome request counters that feed metrics.
 */
#include "ca/ca-int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Code under which requests are counted once the table is full, so counts are never lost. */
#define CA_CODE_OTHER "other"

struct pki_ca *pki_ca_alloc(const struct pki_ca_ops *ops, void *impl, struct mk_err *err)
{
    struct pki_ca *ca = calloc(1, sizeof(*ca));

    if (ca == NULL) {
        mk_err_set(err, MK_ERR_NOMEM, "ca: out of memory");
        return NULL;
    }
    if (pthread_mutex_init(&ca->lock, NULL) != 0) {
        mk_err_set(err, MK_ERR_NOMEM, "ca: pthread_mutex_init failed");
        free(ca);
        return NULL;
    }
    ca->ops = ops;
    ca->impl = impl;
    return ca;
}

void pki_ca_count_request(struct pki_ca *ca, const char *code)
{
    size_t i;

    if (ca == NULL) {
        return;
    }
    if (code == NULL || code[0] == '\0') {
        code = "unknown";
    }
    pthread_mutex_lock(&ca->lock);
    for (i = 0; i < ca->n_codes; i++) {
        if (strcmp(ca->codes[i].code, code) == 0) {
            break;
        }
    }
    if (i == ca->n_codes) {
        /* Keep the last slot for "other" so unexpected codes cannot crowd out counting. */
        if (ca->n_codes + 1 >= PKI_CA_MAX_CODES) {
            code = CA_CODE_OTHER;
            for (i = 0; i < ca->n_codes; i++) {
                if (strcmp(ca->codes[i].code, code) == 0) {
                    break;
                }
            }
        }
        if (i == ca->n_codes && ca->n_codes < PKI_CA_MAX_CODES) {
            snprintf(ca->codes[i].code, sizeof(ca->codes[i].code), "%s", code);
            ca->codes[i].count = 0;
            ca->n_codes++;
        }
    }
    if (i < ca->n_codes) {
        ca->codes[i].count++;
    }
    pthread_mutex_unlock(&ca->lock);
}

const char *pki_ca_kind(const struct pki_ca *ca)
{
    if (ca == NULL || ca->ops == NULL) {
        return "none";
    }
    return ca->ops->kind;
}

int pki_ca_check(struct pki_ca *ca, long validity_seconds, struct mk_err *err)
{
    if (ca == NULL || ca->ops == NULL || ca->ops->check == NULL) {
        mk_err_set(err, MK_ERR_STATE, "ca: no CA configured");
        return -1;
    }
    return ca->ops->check(ca, validity_seconds, err);
}

int pki_ca_issue(struct pki_ca *ca, const struct pki_issue_request *req, struct pki_issued *out,
                 struct mk_err *err)
{
    if (ca == NULL || ca->ops == NULL || ca->ops->issue == NULL) {
        mk_err_set(err, MK_ERR_STATE, "ca: no CA configured");
        return -1;
    }
    if (req == NULL || req->csr == NULL || out == NULL) {
        mk_err_set(err, MK_ERR_INVALID, "ca: issue needs a CSR and an output");
        return -1;
    }
    return ca->ops->issue(ca, req, out, err);
}

STACK_OF(X509) * pki_ca_trust_anchors(struct pki_ca *ca, struct mk_err *err)
{
    if (ca == NULL || ca->ops == NULL || ca->ops->trust_anchors == NULL) {
        mk_err_set(err, MK_ERR_STATE, "ca: no CA configured");
        return NULL;
    }
    return ca->ops->trust_anchors(ca, err);
}

int pki_ca_revoke(struct pki_ca *ca, X509 *cert, const char *reason, struct mk_err *err)
{
    if (ca == NULL || ca->ops == NULL || ca->ops->revoke == NULL) {
        mk_err_set(err, MK_ERR_STATE, "ca: %s backend cannot revoke", pki_ca_kind(ca));
        return -1;
    }
    if (cert == NULL) {
        mk_err_set(err, MK_ERR_INVALID, "ca: revoke needs a certificate");
        return -1;
    }
    return ca->ops->revoke(ca, cert, reason, err);
}

void pki_ca_foreach_request_count(const struct pki_ca *ca,
                                  void (*fn)(const char *code, unsigned long count, void *arg),
                                  void *arg)
{
    struct pki_ca_code_count snap[PKI_CA_MAX_CODES];
    size_t n;

    if (ca == NULL || fn == NULL) {
        return;
    }
    /* Copy under the lock, call back without it: fn may be slow or call into the CA. */
    pthread_mutex_lock((pthread_mutex_t *)&ca->lock);
    n = ca->n_codes;
    memcpy(snap, ca->codes, n * sizeof(snap[0]));
    pthread_mutex_unlock((pthread_mutex_t *)&ca->lock);
    for (size_t i = 0; i < n; i++) {
        fn(snap[i].code, snap[i].count, arg);
    }
}

void pki_issued_clear(struct pki_issued *issued)
{
    if (issued == NULL) {
        return;
    }
    X509_free(issued->leaf);
    sk_X509_pop_free(issued->chain, X509_free);
    issued->leaf = NULL;
    issued->chain = NULL;
}

void pki_ca_free(struct pki_ca *ca)
{
    if (ca == NULL) {
        return;
    }
    if (ca->ops != NULL && ca->ops->destroy != NULL) {
        ca->ops->destroy(ca);
    }
    pthread_mutex_destroy(&ca->lock);
    free(ca);
}
