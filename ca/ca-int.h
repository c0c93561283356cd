/*
 * ca-int.h: the CA backend vtable and the shared part of struct pki_ca.  Only pki/ca*.c include
 * this; everyone else sees the opaque struct pki_ca of ca.h.
 */
#ifndef PKI_CA_INT_H
#define PKI_CA_INT_H

#include <pthread.h>

#include "ca/ca.h"

#define PKI_CA_MAX_CODES 32

struct pki_ca_ops {
    const char *kind;
    int (*check)(struct pki_ca *ca, long validity_seconds, struct mk_err *err);
    int (*issue)(struct pki_ca *ca, const struct pki_issue_request *req, struct pki_issued *out,
                 struct mk_err *err);
    STACK_OF(X509) *(*trust_anchors)(struct pki_ca *ca, struct mk_err *err);
    int (*revoke)(struct pki_ca *ca, X509 *cert, const char *reason, struct mk_err *err);
    void (*destroy)(struct pki_ca *ca); /* frees impl */
};

struct pki_ca_code_count {
    char code[64];
    unsigned long count;
};

struct pki_ca {
    const struct pki_ca_ops *ops;
    void *impl;
    pthread_mutex_t lock; /* guards codes */
    struct pki_ca_code_count codes[PKI_CA_MAX_CODES];
    size_t n_codes;
};

/* Backends call these. pki_ca_alloc returns a struct with ops set and counters zeroed; caller
 * frees with pki_ca_free(). */
struct pki_ca *pki_ca_alloc(const struct pki_ca_ops *ops, void *impl, struct mk_err *err);
/* Counts one request with outcome code ("ok" or an error code). */
void pki_ca_count_request(struct pki_ca *ca, const char *code);

#endif
