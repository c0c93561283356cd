/* keyclient.c: the network process's calls to the key process (see keyclient.h). */
#include "agent/keyclient.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/ipc.h"
#include "agent/ipc_pem.h"
#include "pki/cert.h"
#include "pki/csr.h"
#include "pki/log.h"

int agent_keys_load(int fd, const char *name, unsigned long *generation, X509 **leaf,
                    char *detail, size_t detail_size, struct mk_err *err)
{
    struct agent_ipc_field f[1] = {agent_ipc_s(name)};
    struct agent_ipc_msg m = {0};
    long num = 0;
    X509 *l = NULL;
    int rc = -1;

    MK_GUARD(agent_ipc_call(fd, AGENT_IPC_KEY_LOAD, f, 1, &m, detail, detail_size, err));
    MK_GUARD(agent_ipc_long(&m, 0, &num, err));
    MK_GUARD_PTR(l = agent_ipc_cert(&m, 1, err));
    *generation = (unsigned long)num;
    *leaf = l;
    rc = 0;
out:
    agent_ipc_msg_clear(&m);
    return rc;
}

X509_REQ *agent_keys_csr(int fd, const char *name, int pending, int *resumed, struct mk_err *err)
{
    struct agent_ipc_field f[2] = {agent_ipc_s(name), agent_ipc_s(pending ? "1" : "0")};
    struct agent_ipc_msg m = {0};
    X509_REQ *csr = NULL;
    long r = 0;

    MK_GUARD(agent_ipc_call(fd, AGENT_IPC_KEY_CSR, f, 2, &m, NULL, 0, err));
    MK_GUARD(agent_ipc_long(&m, 1, &r, err));
    MK_GUARD_PTR(csr = agent_ipc_csr(&m, 0, err));
    *resumed = r != 0;
out:
    agent_ipc_msg_clear(&m);
    return csr;
}

int agent_keys_store(int fd, const char *name, X509 *leaf, STACK_OF(X509) * chain,
                     unsigned long *generation, struct mk_err *err)
{
    struct agent_ipc_field f[3];
    struct agent_ipc_msg m = {0};
    char *lpem = NULL;
    char *cpem = NULL;
    long num = 0;
    int rc = -1;

    MK_GUARD_PTR(lpem = pki_certs_to_pem(leaf, NULL, NULL, err));
    MK_GUARD_PTR(cpem = agent_ipc_certs_pem(chain, err));
    f[0] = agent_ipc_s(name);
    f[1] = agent_ipc_s(lpem);
    f[2] = agent_ipc_s(cpem);
    MK_GUARD(agent_ipc_call(fd, AGENT_IPC_KEY_STORE, f, 3, &m, NULL, 0, err));
    MK_GUARD(agent_ipc_long(&m, 0, &num, err));
    *generation = (unsigned long)num;
    rc = 0;
out:
    agent_ipc_msg_clear(&m);
    free(lpem);
    free(cpem);
    return rc;
}

void agent_keys_drop(int fd, const char *name)
{
    struct agent_ipc_field f[1] = {agent_ipc_s(name)};
    struct agent_ipc_msg m = {0};
    struct mk_err err;

    if (agent_ipc_call(fd, AGENT_IPC_KEY_DROP, f, 1, &m, NULL, 0, &err) != 0) {
        mk_log_err("rotation.pending_cleanup", &err);
    }
    agent_ipc_msg_clear(&m);
}

static int holder_load(void *arg, const char *name, unsigned long *generation, X509 **leaf,
                       char *detail, size_t detail_size, struct mk_err *err)
{
    return agent_keys_load(*(const int *)arg, name, generation, leaf, detail, detail_size, err);
}

static X509_REQ *holder_csr(void *arg, const char *name, int pending, int *resumed,
                            struct mk_err *err)
{
    return agent_keys_csr(*(const int *)arg, name, pending, resumed, err);
}

static int holder_store(void *arg, const char *name, X509 *leaf, STACK_OF(X509) * chain,
                        unsigned long *generation, struct mk_err *err)
{
    return agent_keys_store(*(const int *)arg, name, leaf, chain, generation, err);
}

static void holder_drop(void *arg, const char *name)
{
    agent_keys_drop(*(const int *)arg, name);
}

void agent_keys_holder(const int *fd, struct issue_keys *out)
{
    static const struct issue_keys_ops ops = {
        .load = holder_load, .csr = holder_csr, .store = holder_store, .drop = holder_drop};

    out->ops = &ops;
    out->arg = (void *)fd;
}

int agent_keys_reload(int fd, struct mk_err *err)
{
    struct agent_ipc_msg m = {0};
    int rc = agent_ipc_call(fd, AGENT_IPC_KEY_RELOAD, NULL, 0, &m, NULL, 0, err);

    agent_ipc_msg_clear(&m);
    return rc;
}

static int proxy_issue(void *arg, const struct pki_issue_request *req, struct pki_issued *out,
                       struct mk_err *err)
{
    const int *fd = arg;
    struct agent_ipc_field f[2];
    struct agent_ipc_msg m = {0};
    struct pki_issued got = {0};
    char validity[32];
    char *csr = NULL;
    size_t len = 0;
    int rc = -1;

    MK_GUARD_PTR(csr = pki_csr_to_pem(req->csr, &len, err));
    snprintf(validity, sizeof(validity), "%ld", req->validity_seconds);
    f[0] = (struct agent_ipc_field){csr, len};
    f[1] = agent_ipc_s(validity);
    MK_GUARD(agent_ipc_call(*fd, AGENT_IPC_CA_ISSUE, f, 2, &m, NULL, 0, err));
    MK_GUARD_PTR(got.leaf = agent_ipc_cert(&m, 0, err));
    MK_GUARD_PTR(got.chain = agent_ipc_certs(&m, 1, err));
    *out = got;
    memset(&got, 0, sizeof(got));
    rc = 0;
out:
    pki_issued_clear(&got);
    agent_ipc_msg_clear(&m);
    free(csr);
    return rc;
}

static STACK_OF(X509) * proxy_anchors(void *arg, struct mk_err *err)
{
    const int *fd = arg;
    struct agent_ipc_msg m = {0};
    STACK_OF(X509) *s = NULL;

    MK_GUARD(agent_ipc_call(*fd, AGENT_IPC_CA_ANCHORS, NULL, 0, &m, NULL, 0, err));
    s = agent_ipc_certs(&m, 0, err);
out:
    agent_ipc_msg_clear(&m);
    return s;
}

static int proxy_revoke(void *arg, X509 *cert, const char *reason, struct mk_err *err)
{
    const int *fd = arg;
    struct agent_ipc_field f[2];
    struct agent_ipc_msg m = {0};
    char *pem = NULL;
    int rc = -1;

    MK_GUARD_PTR(pem = pki_certs_to_pem(cert, NULL, NULL, err));
    f[0] = agent_ipc_s(pem);
    f[1] = agent_ipc_s(reason);
    rc = agent_ipc_call(*fd, AGENT_IPC_CA_REVOKE, f, 2, &m, NULL, 0, err);
out:
    agent_ipc_msg_clear(&m);
    free(pem);
    return rc;
}

struct pki_ca *agent_keys_local_ca(const int *fd, struct mk_err *err)
{
    static const struct pki_ca_proxy_ops ops = {
        .issue = proxy_issue, .trust_anchors = proxy_anchors, .revoke = proxy_revoke};

    return pki_ca_proxy_new("local", &ops, (void *)fd, err);
}

#ifdef MK_TESTING
int agent_keys_test_probe(int fd, const char *what, const char *arg, int *err_no,
                          struct mk_err *err)
{
    struct agent_ipc_field f[2] = {agent_ipc_s(what), agent_ipc_s(arg)};
    struct agent_ipc_msg m = {0};
    long e = 0;
    int rc = -1;

    MK_GUARD(agent_ipc_call(fd, AGENT_IPC_TEST_PROBE, f, 2, &m, NULL, 0, err));
    MK_GUARD(agent_ipc_long(&m, 0, &e, err));
    *err_no = (int)e;
    rc = 0;
out:
    agent_ipc_msg_clear(&m);
    return rc;
}
#endif
