/* ca_proxy.c: a CA whose work is done in another process (see pki_ca_proxy_new in ca.h). */
#include <stdlib.h>
#include <string.h>

#include "ca/ca-int.h"

struct proxy {
    struct pki_ca_proxy_ops ops;
    void *arg;
};

static struct proxy *proxy_of(struct pki_ca *ca)
{
    return ca->impl;
}

/* Counted the way the local backend counts its own signatures. */
static void count(struct pki_ca *ca, int rc, const struct mk_err *err)
{
    pki_ca_count_request(ca, rc == 0 ? "ok" : mk_code_str(err->code));
}

static int proxy_check(struct pki_ca *ca, long validity_seconds, struct mk_err *err)
{
    STACK_OF(X509) *anchors = proxy_of(ca)->ops.trust_anchors(proxy_of(ca)->arg, err);

    (void)validity_seconds;
    sk_X509_pop_free(anchors, X509_free);
    return anchors != NULL ? 0 : -1;
}

static int proxy_issue(struct pki_ca *ca, const struct pki_issue_request *req,
                       struct pki_issued *out, struct mk_err *err)
{
    int rc = proxy_of(ca)->ops.issue(proxy_of(ca)->arg, req, out, err);

    count(ca, rc, err);
    return rc;
}

static STACK_OF(X509) *proxy_anchors(struct pki_ca *ca, struct mk_err *err)
{
    return proxy_of(ca)->ops.trust_anchors(proxy_of(ca)->arg, err);
}

static int proxy_revoke(struct pki_ca *ca, X509 *cert, const char *reason, struct mk_err *err)
{
    return proxy_of(ca)->ops.revoke(proxy_of(ca)->arg, cert, reason, err);
}

static void proxy_destroy(struct pki_ca *ca)
{
    free(ca->impl);
}

/* One table per kind would be needed for other labels; the agent only proxies "local". */
static const struct pki_ca_ops proxy_local_ops = {
    .kind = "local",
    .check = proxy_check,
    .issue = proxy_issue,
    .trust_anchors = proxy_anchors,
    .revoke = proxy_revoke,
    .destroy = proxy_destroy,
};

struct pki_ca *pki_ca_proxy_new(const char *kind, const struct pki_ca_proxy_ops *ops, void *arg,
                                struct mk_err *err)
{
    struct proxy *p = NULL;
    struct pki_ca *ca = NULL;

    MK_ENSURE(kind != NULL && strcmp(kind, "local") == 0, err, MK_ERR_INVALID,
              "ca: cannot proxy a CA of kind %s", kind != NULL ? kind : "(null)");
    MK_ENSURE(ops->issue != NULL && ops->trust_anchors != NULL && ops->revoke != NULL, err,
              MK_ERR_INVALID, "ca: proxy without every operation");
    p = calloc(1, sizeof(*p));
    MK_ENSURE(p != NULL, err, MK_ERR_NOMEM, "ca: out of memory");
    p->ops = *ops;
    p->arg = arg;
    MK_GUARD_PTR(ca = pki_ca_alloc(&proxy_local_ops, p, err));
    p = NULL;
out:
    free(p);
    return ca;
}
