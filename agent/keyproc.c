/* keyproc.c: the key process and the calls that reach it (see keyproc.h). */
#include "agent/keyproc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "agent/ipc.h"
#include "agent/ipc_pem.h"
#include "agent/keypolicy.h"
#include "agent/keysign.h"
#include "agent/sandbox.h"
#include "issue/issue.h"
#include "pki/cert.h"
#include "pki/csr.h"
#include "pki/format.h"
#include "pki/key.h"
#include "pki/log.h"
#include "pki/store.h"

/* A key made by KEY_CSR, waiting for its certificate (KEY_STORE). */
struct prepared {
    char name[128];
    EVP_PKEY *key;
    int issued; /* CA_ISSUE signed it already: a second one is a replay */
};

struct keyproc {
    int fd;
    struct conf *cfg;
    struct pki_ca *ca; /* the local CA, created on first use */
    struct prepared *prep;
    size_t n_prep;
};

static struct pki_ca *local_ca(struct keyproc *kp, struct mk_err *err);

/* ---- The key process ---- */

static struct prepared *prep_find(struct keyproc *kp, const char *name)
{
    for (size_t i = 0; i < kp->n_prep; i++) {
        if (strcmp(kp->prep[i].name, name) == 0) {
            return &kp->prep[i];
        }
    }
    return NULL;
}

static void prep_drop(struct keyproc *kp, const char *name)
{
    struct prepared *p = prep_find(kp, name);

    if (p != NULL) {
        EVP_PKEY_free(p->key);
        *p = kp->prep[kp->n_prep - 1];
        kp->n_prep--;
    }
}

/* Keeps key (a reference is taken) as the prepared key of name. */
static int prep_set(struct keyproc *kp, const char *name, EVP_PKEY *key, struct mk_err *err)
{
    struct prepared *p;

    prep_drop(kp, name);
    p = realloc(kp->prep, (kp->n_prep + 1) * sizeof(*p));
    if (p == NULL || EVP_PKEY_up_ref(key) != 1) {
        if (p != NULL) {
            kp->prep = p;
        }
        mk_err_set(err, MK_ERR_NOMEM, "keys: out of memory");
        return -1;
    }
    kp->prep = p;
    snprintf(p[kp->n_prep].name, sizeof(p[kp->n_prep].name), "%s", name);
    p[kp->n_prep].key = key;
    p[kp->n_prep].issued = 0;
    kp->n_prep++;
    return 0;
}

/* The certificate block named by field 0. */
static const struct conf_certificate *req_cert(struct keyproc *kp, const struct agent_ipc_msg *m,
                                               struct mk_err *err)
{
    const struct conf_certificate *cc = NULL;
    char *name = agent_ipc_str(m, 0, err);

    if (name != NULL) {
        cc = conf_find_certificate(kp->cfg, name);
        if (cc == NULL) {
            mk_err_set(err, MK_ERR_NOTFOUND, "keys: no certificate block named '%s'", name);
        }
    }
    free(name);
    return cc;
}

static int reply_ok(struct keyproc *kp, const struct agent_ipc_field *f, size_t n,
                    struct mk_err *err)
{
    return agent_ipc_send(kp->fd, AGENT_IPC_OK, f, n, err);
}

static int op_load(struct keyproc *kp, const struct agent_ipc_msg *m, const char **detail,
                   struct mk_err *err)
{
    const struct conf_certificate *cc;
    struct issue_spec spec = {0};
    struct pki_generation gen = {0};
    struct agent_ipc_field f[2];
    char num[32];
    char *pem = NULL;
    int rc = -1;

    *detail = "unusable";
    MK_GUARD_PTR(cc = req_cert(kp, m, err));
    MK_GUARD(issue_spec_load(cc, &spec, err));
    MK_GUARD(pki_store_check_dir(cc->output.directory, err));
    MK_GUARD(pki_store_recover(&spec.spec, err));
    *detail = "read";
    MK_GUARD(pki_store_read(&spec.spec, &gen, err));
    MK_GUARD_PTR(pem = pki_certs_to_pem(gen.leaf, NULL, NULL, err));
    snprintf(num, sizeof(num), "%lu", gen.number);
    f[0] = agent_ipc_s(num);
    f[1] = agent_ipc_s(pem);
    *detail = NULL;
    rc = reply_ok(kp, f, 2, err);
out:
    free(pem);
    pki_generation_clear(&gen);
    issue_spec_clear(&spec);
    return rc;
}

static int op_csr(struct keyproc *kp, const struct agent_ipc_msg *m, struct mk_err *err)
{
    const struct conf_certificate *cc;
    struct agent_ipc_field f[2];
    EVP_PKEY *key = NULL;
    X509_REQ *csr = NULL;
    char *pem = NULL;
    size_t len = 0;
    long pending = 0;
    int resumed = 0;
    int rc = -1;

    MK_GUARD_PTR(cc = req_cert(kp, m, err));
    MK_GUARD(agent_ipc_long(m, 1, &pending, err));
    /* The pending key and CSR are kept the way cert issue keeps them (issue.h). */
    MK_GUARD(issue_keys_prepare(cc, pending != 0, &key, &csr, &resumed, err));
    MK_GUARD_PTR(pem = pki_csr_to_pem(csr, &len, err));
    MK_GUARD(prep_set(kp, cc->name, key, err));
    f[0] = (struct agent_ipc_field){pem, len};
    f[1] = agent_ipc_s(resumed ? "1" : "0");
    rc = reply_ok(kp, f, 2, err);
out:
    free(pem);
    X509_REQ_free(csr);
    EVP_PKEY_free(key);
    return rc;
}

/* KEY_STORE's policy (keypolicy.h): *anchor (caller frees) is the anchor the chain verified
 * to and *kind where it came from. */
static int store_policy(struct keyproc *kp, const struct conf_certificate *cc,
                        const struct issue_spec *ispec, EVP_PKEY *key, X509 *leaf,
                        STACK_OF(X509) * chain, X509 **anchor,
                        enum agent_keypolicy_anchor_kind *kind, struct mk_err *err)
{
    struct agent_keypolicy_leaf in;
    struct pki_csr_spec spec;
    struct pki_generation gen = {0};
    struct mk_err ignored;
    STACK_OF(X509) *anchors = NULL;
    struct pki_ca *ca;
    char pin[1024];
    int rc = -1;

    if (kp->cfg->ca.type == CONF_CA_LOCAL) {
        MK_GUARD_PTR(ca = local_ca(kp, err));
        MK_GUARD_PTR(anchors = pki_ca_trust_anchors(ca, err));
        *kind = AGENT_KEYPOLICY_ANCHOR_LOCAL;
    } else {
        MK_ENSURE(agent_keypolicy_pin_path(cc->output.directory, pin, sizeof(pin)) == 0, err,
                  MK_ERR_INVALID, "keys: path too long for %s", cc->name);
        /* No pin yet (an agent upgraded on a host with outputs): the chain stored before is
         * the first issuance's, so it, not the one now offered, gives the pin. */
        if (kp->cfg->ca.aws_pca.trust_anchor_file == NULL && access(pin, F_OK) != 0 &&
            pki_store_read(&ispec->spec, &gen, &ignored) != 0) {
            pki_generation_clear(&gen);
        }
        MK_GUARD(agent_keypolicy_anchors(kp->cfg->ca.aws_pca.trust_anchor_file, pin, gen.chain,
                                         chain, &anchors, kind, err));
    }
    issue_csr_spec(cc, &spec);
    memset(&in, 0, sizeof(in));
    in.leaf = leaf;
    in.chain = chain;
    in.key = key;
    in.spec = &spec;
    in.now = time(NULL);
    in.anchors = anchors;
    in.kind = *kind;
    rc = agent_keypolicy_check_leaf(&in, anchor, err);
out:
    pki_generation_clear(&gen);
    sk_X509_pop_free(anchors, X509_free);
    return rc;
}

/* Pins the anchor a stored chain verified to (aws-pca); a failure is logged: the generation is
 * written, and the next store pins again. */
static void pin_anchor(const struct conf_certificate *cc, X509 *anchor,
                       enum agent_keypolicy_anchor_kind kind)
{
    struct mk_err err;
    char pin[1024];

    if (anchor == NULL || agent_keypolicy_pin_path(cc->output.directory, pin, sizeof(pin)) != 0) {
        return;
    }
    if (agent_keypolicy_pin_write(pin, cc->name, anchor, kind, &err) != 0) {
        mk_log_err("keyproc.anchor_pin_failed", &err);
    }
}

static int op_store(struct keyproc *kp, const struct agent_ipc_msg *m, struct mk_err *err)
{
    const struct conf_certificate *cc = NULL;
    struct issue_spec spec = {0};
    unsigned long generation = 0;
    struct prepared *p;
    enum agent_keypolicy_anchor_kind kind = AGENT_KEYPOLICY_ANCHOR_LOCAL;
    STACK_OF(X509) *chain = NULL;
    X509 *anchor = NULL;
    X509 *leaf = NULL;
    char num[32];
    struct agent_ipc_field f[1];
    int rc = -1;

    MK_GUARD_PTR(cc = req_cert(kp, m, err));
    p = prep_find(kp, cc->name);
    if (p == NULL) {
        agent_keypolicy_refuse(err, AGENT_KEYPOLICY_KEY, "store: no key was prepared for %s",
                               cc->name);
        goto out;
    }
    MK_GUARD_PTR(leaf = agent_ipc_cert(m, 1, err));
    MK_GUARD_PTR(chain = agent_ipc_certs(m, 2, err));
    /* The network process checked all this too; the key process has the last word. */
    MK_GUARD(issue_spec_load(cc, &spec, err));
    MK_GUARD(store_policy(kp, cc, &spec, p->key, leaf, chain, &anchor, &kind, err));
    /* Checks the leaf against the key, writes the generation, removes the pending files. */
    MK_GUARD(issue_keys_commit(cc, p->key, leaf, chain, &generation, err));
    pin_anchor(cc, anchor, kind);
    prep_drop(kp, cc->name);
    snprintf(num, sizeof(num), "%lu", generation);
    f[0] = agent_ipc_s(num);
    rc = reply_ok(kp, f, 1, err);
out:
    if (rc != 0 && err->code == MK_ERR_REFUSED) {
        agent_keypolicy_log("key-store", cc != NULL ? cc->name : NULL, err);
    }
    issue_spec_clear(&spec);
    X509_free(anchor);
    X509_free(leaf);
    sk_X509_pop_free(chain, X509_free);
    return rc;
}

static int op_drop(struct keyproc *kp, const struct agent_ipc_msg *m, struct mk_err *err)
{
    const struct conf_certificate *cc = req_cert(kp, m, err);

    if (cc == NULL) {
        return -1;
    }
    issue_pending_drop(cc);
    prep_drop(kp, cc->name);
    return reply_ok(kp, NULL, 0, err);
}

static int op_reload(struct keyproc *kp, struct mk_err *err)
{
    struct conf *cfg = conf_load(kp->cfg->path, err);

    if (cfg == NULL) {
        return -1;
    }
    pki_ca_free(kp->ca);
    kp->ca = NULL;
    conf_free(kp->cfg);
    kp->cfg = cfg;
    return reply_ok(kp, NULL, 0, err);
}

static struct pki_ca *local_ca(struct keyproc *kp, struct mk_err *err)
{
    if (kp->ca == NULL) {
        MK_ENSURE(kp->cfg->ca.type == CONF_CA_LOCAL, err, MK_ERR_CONFIG,
                  "ca: the configured CA is not the local one");
        kp->ca = pki_ca_local_new(&kp->cfg->ca.local, err);
    }
out:
    return kp->ca;
}

/* The prepared key whose public half csr carries (*name its certificate block), if the CSR
 * passes the policy (keypolicy.h) for that block.  Borrowed from kp. */
static struct prepared *issue_policy(struct keyproc *kp, X509_REQ *csr, long validity,
                                     const char **name, struct mk_err *err)
{
    const struct conf_certificate *cc = NULL;
    struct pki_csr_spec spec;
    struct prepared *p = NULL;
    EVP_PKEY *pub = X509_REQ_get0_pubkey(csr);

    for (size_t i = 0; pub != NULL && i < kp->n_prep; i++) {
        if (EVP_PKEY_eq(kp->prep[i].key, pub) == 1) {
            p = &kp->prep[i];
        }
    }
    if (p == NULL || (cc = conf_find_certificate(kp->cfg, p->name)) == NULL) {
        agent_keypolicy_refuse(err, AGENT_KEYPOLICY_KEY,
                               "keys: the CSR's public key is not one the key process made");
        return NULL;
    }
    *name = cc->name;
    if (p->issued) {
        agent_keypolicy_refuse(err, AGENT_KEYPOLICY_REPLAY,
                               "keys: a certificate was issued for this key already");
        return NULL;
    }
    issue_csr_spec(cc, &spec);
    if (agent_keypolicy_check_csr(csr, p->key, &spec, validity, cc->validity_seconds,
                                  kp->cfg->ca.local.max_validity_seconds, err) != 0) {
        return NULL;
    }
    return p;
}

static int op_issue(struct keyproc *kp, const struct agent_ipc_msg *m, struct mk_err *err)
{
    struct pki_issue_request req;
    struct pki_issued issued = {0};
    struct agent_ipc_field f[2];
    struct pki_ca *ca;
    struct prepared *p;
    const char *name = NULL;
    char *leaf = NULL;
    char *chain = NULL;
    long validity = 0;
    int rc = -1;

    memset(&req, 0, sizeof(req));
    MK_GUARD_PTR(req.csr = agent_ipc_csr(m, 0, err));
    MK_GUARD(agent_ipc_long(m, 1, &validity, err));
    req.validity_seconds = validity;
    MK_GUARD_PTR(ca = local_ca(kp, err));
    MK_GUARD_PTR(p = issue_policy(kp, req.csr, validity, &name, err));
    MK_GUARD(pki_ca_issue(ca, &req, &issued, err));
    p->issued = 1;
    MK_GUARD_PTR(leaf = pki_certs_to_pem(issued.leaf, NULL, NULL, err));
    MK_GUARD_PTR(chain = agent_ipc_certs_pem(issued.chain, err));
    f[0] = agent_ipc_s(leaf);
    f[1] = agent_ipc_s(chain);
    rc = reply_ok(kp, f, 2, err);
out:
    if (rc != 0 && err->code == MK_ERR_REFUSED) {
        agent_keypolicy_log("ca-issue", name, err);
    }
    X509_REQ_free(req.csr);
    pki_issued_clear(&issued);
    free(leaf);
    free(chain);
    return rc;
}

static int op_anchors(struct keyproc *kp, struct mk_err *err)
{
    STACK_OF(X509) *anchors = NULL;
    struct agent_ipc_field f[1];
    struct pki_ca *ca;
    char *pem = NULL;
    int rc = -1;

    MK_GUARD_PTR(ca = local_ca(kp, err));
    MK_GUARD_PTR(anchors = pki_ca_trust_anchors(ca, err));
    MK_GUARD_PTR(pem = agent_ipc_certs_pem(anchors, err));
    f[0] = agent_ipc_s(pem);
    rc = reply_ok(kp, f, 1, err);
out:
    sk_X509_pop_free(anchors, X509_free);
    free(pem);
    return rc;
}

/* CA_REVOKE's policy (keypolicy.h): cert is no block's certificate in use (*name: that
 * block's, on a refusal). */
static int revoke_policy(struct keyproc *kp, X509 *cert, const char **name, struct mk_err *err)
{
    for (size_t i = 0; i < kp->cfg->n_certs; i++) {
        const struct conf_certificate *cc = &kp->cfg->certs[i];
        struct mk_err ignored;
        char path[1024];
        X509 *current = NULL;
        int r;

        if (issue_cert_path(cc, path, sizeof(path)) == 0) {
            current = pki_cert_load_file(path, &ignored);
        }
        r = agent_keypolicy_check_revoke(cert, current, err);
        X509_free(current);
        if (r != 0) {
            *name = cc->name;
            return -1;
        }
    }
    return 0;
}

static int op_revoke(struct keyproc *kp, const struct agent_ipc_msg *m, struct mk_err *err)
{
    struct pki_ca *ca;
    const char *name = NULL;
    X509 *cert = NULL;
    char *reason = NULL;
    int rc = -1;

    MK_GUARD_PTR(cert = agent_ipc_cert(m, 0, err));
    MK_GUARD_PTR(reason = agent_ipc_str(m, 1, err));
    MK_GUARD_PTR(ca = local_ca(kp, err));
    MK_GUARD(revoke_policy(kp, cert, &name, err));
    MK_GUARD(pki_ca_revoke(ca, cert, reason, err));
    rc = reply_ok(kp, NULL, 0, err);
out:
    if (rc != 0 && err->code == MK_ERR_REFUSED) {
        agent_keypolicy_log("ca-revoke", name, err);
    }
    X509_free(cert);
    free(reason);
    return rc;
}

#ifdef MK_TESTING
/* Test builds: proves the sandbox by trying what it forbids and answering the errno (0 when it
 * worked).  what "connect": a TCP connection to 127.0.0.1:<arg>; "getfd": a copy of descriptor
 * FD of process PID through pidfd_getfd, arg "PID:FD" (the network process's own link). */
static int probe_connect(long port)
{
    struct sockaddr_in sin;
    int e;
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (s < 0) {
        return errno;
    }
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    e = connect(s, (struct sockaddr *)&sin, sizeof(sin)) == 0 ? 0 : errno;
    close(s);
    return e;
}

static int probe_getfd(const char *arg)
{
    char *end = NULL;
    long pid = strtol(arg, &end, 10);
    long fd;
    int pfd;
    int got;
    int e;

    if (end == NULL || *end != ':') {
        return EINVAL;
    }
    fd = strtol(end + 1, NULL, 10);
    pfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
    if (pfd < 0) {
        return errno;
    }
    got = (int)syscall(SYS_pidfd_getfd, pfd, (int)fd, 0);
    e = got >= 0 ? 0 : errno;
    if (got >= 0) {
        close(got);
    }
    close(pfd);
    return e;
}

static int op_test_probe(struct keyproc *kp, const struct agent_ipc_msg *m, struct mk_err *err)
{
    struct agent_ipc_field f[1];
    char num[16];
    char *what = NULL;
    char *arg = NULL;
    long port = 0;
    int e = 0;
    int rc = -1;

    MK_GUARD_PTR(what = agent_ipc_str(m, 0, err));
    MK_GUARD_PTR(arg = agent_ipc_str(m, 1, err));
    if (strcmp(what, "getfd") == 0) {
        e = probe_getfd(arg);
    } else {
        MK_GUARD(agent_ipc_long(m, 1, &port, err));
        e = probe_connect(port);
    }
    snprintf(num, sizeof(num), "%d", e);
    f[0] = agent_ipc_s(num);
    rc = reply_ok(kp, f, 1, err);
out:
    free(what);
    free(arg);
    return rc;
}
#endif

/* Runs one request; a request that fails is answered with ERR.  Returns -1 only when the reply
 * cannot be sent. */
static int dispatch(struct keyproc *kp, const struct agent_ipc_msg *m)
{
    const char *detail = NULL;
    struct mk_err err;
    struct mk_err serr;
    int rc;

    mk_err_clear(&err);
    switch (m->op) {
    case AGENT_IPC_KEY_LOAD:
        rc = op_load(kp, m, &detail, &err);
        break;
    case AGENT_IPC_KEY_CSR:
        rc = op_csr(kp, m, &err);
        break;
    case AGENT_IPC_KEY_STORE:
        rc = op_store(kp, m, &err);
        break;
    case AGENT_IPC_KEY_DROP:
        rc = op_drop(kp, m, &err);
        break;
    case AGENT_IPC_KEY_RELOAD:
        rc = op_reload(kp, &err);
        break;
    case AGENT_IPC_CA_ISSUE:
        rc = op_issue(kp, m, &err);
        break;
    case AGENT_IPC_CA_ANCHORS:
        rc = op_anchors(kp, &err);
        break;
    case AGENT_IPC_CA_REVOKE:
        rc = op_revoke(kp, m, &err);
        break;
    case AGENT_IPC_KEY_RA_CERT:
        rc = agent_keysign_op_cert(kp->cfg, kp->fd, m, &detail, &err);
        break;
    case AGENT_IPC_KEY_RA_SIGN:
        rc = agent_keysign_op_sign(kp->cfg, kp->fd, m, &err);
        break;
#ifdef MK_TESTING
    case AGENT_IPC_TEST_PROBE:
        rc = op_test_probe(kp, m, &err);
        break;
#endif
    default:
        return 1; /* not ours: the caller treats it as misbehaviour */
    }
    if (rc == 0) {
        return 0;
    }
    if (err.code == MK_OK) {
        mk_err_set(&err, MK_ERR_IO, "keys: %s failed", agent_ipc_op_name((int)m->op));
    }
    if (err.code == MK_ERR_REFUSED) {
        detail = err.ext_code; /* the reason, for the network process's metric */
    }
    if (agent_ipc_send_err(kp->fd, &err, detail, &serr) != 0) {
        mk_log_err("keyproc.reply_failed", &serr);
        return -1;
    }
    return 0;
}

int agent_keyproc_main(int fd, struct conf *cfg)
{
    struct keyproc kp;
    struct agent_ipc_msg m;
    struct mk_err err;
    int status = 0;

    memset(&kp, 0, sizeof(kp));
    kp.fd = fd;
    kp.cfg = cfg;
    (void)prctl(PR_SET_NAME, "mskpki-keyproc", 0, 0, 0);
    if (cfg->log_target == MK_LOG_SYSLOG) {
        /* Connect to syslog now: the filter denies socket() later.  XXX If syslogd restarts,
         * the key process's lines are lost until the agent restarts. */
        openlog("mskpki-agent", LOG_PID | LOG_NDELAY, LOG_DAEMON);
    }
    if (agent_sandbox_keyproc(&err) != 0) {
        mk_log_err("keyproc.sandbox_failed", &err);
        status = 1;
        goto out;
    }
    for (;;) {
        int r = agent_ipc_recv(fd, &m, &err);
        if (r == 0) {
            break;
        }
        if (r < 0) {
            mk_log_err("keyproc.protocol", &err);
            status = err.code == MK_ERR_INVALID ? AGENT_EXIT_PROTOCOL : 1;
            break;
        }
        r = dispatch(&kp, &m);
        if (r > 0) {
            mk_log(MK_LOG_ERROR, "keyproc.protocol", "op=%s msg=\"not a key process request\"",
                   agent_ipc_op_name((int)m.op));
            status = AGENT_EXIT_PROTOCOL;
        } else if (r < 0) {
            status = 1;
        }
        agent_ipc_msg_clear(&m);
        if (status != 0) {
            break;
        }
    }
out:
    for (size_t i = 0; i < kp.n_prep; i++) {
        EVP_PKEY_free(kp.prep[i].key);
    }
    free(kp.prep);
    pki_ca_free(kp.ca);
    conf_free(kp.cfg);
    close(fd);
    return status;
}
