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
#include <unistd.h>

#include <openssl/pem.h>

#include "agent/ipc.h"
#include "agent/keysign.h"
#include "agent/rotate.h"
#include "agent/sandbox.h"
#include "agent/state.h"
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
};

struct keyproc {
    int fd;
    struct conf *cfg;
    struct pki_ca *ca; /* the local CA, created on first use */
    struct prepared *prep;
    size_t n_prep;
};

/* ---- PEM helpers (both sides) ---- */

/* Every certificate of s as PEM ("" for none).  Caller frees with free(). */
static char *stack_pem(STACK_OF(X509) * s, struct mk_err *err)
{
    char *all = calloc(1, 1);
    size_t len = 0;

    MK_ENSURE(all != NULL, err, MK_ERR_NOMEM, "keys: out of memory");
    for (int i = 0; i < sk_X509_num(s); i++) {
        size_t n = 0;
        char *pem = pki_certs_to_pem(sk_X509_value(s, i), NULL, &n, err);
        char *grown = pem != NULL ? realloc(all, len + n + 1) : NULL;
        if (grown == NULL) {
            free(pem);
            free(all);
            all = NULL;
            MK_ENSURE(0, err, MK_ERR_NOMEM, "keys: out of memory");
        }
        all = grown;
        memcpy(all + len, pem, n);
        len += n;
        all[len] = '\0';
        free(pem);
    }
out:
    return all;
}

/* The certificates of a PEM field (none for an empty field).  Caller frees with
 * sk_X509_pop_free(s, X509_free). */
static STACK_OF(X509) * field_certs(const struct agent_ipc_msg *m, size_t i, struct mk_err *err)
{
    STACK_OF(X509) *s = NULL;

    MK_ENSURE(i < m->n, err, MK_ERR_INVALID, "ipc: %s: field %zu missing",
              agent_ipc_op_name((int)m->op), i);
    if (m->f[i].len == 0) {
        s = sk_X509_new_null();
        MK_ENSURE(s != NULL, err, MK_ERR_NOMEM, "keys: out of memory");
    } else {
        s = pki_certs_from_mem(m->f[i].data, m->f[i].len, err);
    }
out:
    return s;
}

/* The first certificate of a PEM field.  Caller frees with X509_free(). */
static X509 *field_cert(const struct agent_ipc_msg *m, size_t i, struct mk_err *err)
{
    STACK_OF(X509) *s = field_certs(m, i, err);
    X509 *c = NULL;

    if (s != NULL) {
        c = sk_X509_shift(s);
        if (c == NULL) {
            mk_err_set(err, MK_ERR_INVALID, "ipc: %s: no certificate in field %zu",
                       agent_ipc_op_name((int)m->op), i);
        }
    }
    sk_X509_pop_free(s, X509_free);
    return c;
}

static X509_REQ *field_csr(const struct agent_ipc_msg *m, size_t i, struct mk_err *err)
{
    X509_REQ *r = NULL;
    BIO *b = NULL;

    MK_ENSURE(i < m->n && m->f[i].len < (size_t)0x7fffffff, err, MK_ERR_INVALID,
              "ipc: %s: field %zu missing", agent_ipc_op_name((int)m->op), i);
    b = BIO_new_mem_buf(m->f[i].data, (int)m->f[i].len);
    MK_ENSURE(b != NULL, err, MK_ERR_NOMEM, "keys: out of memory");
    r = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL);
    MK_ENSURE(r != NULL, err, MK_ERR_INVALID, "ipc: %s: field %zu is not a PEM CSR",
              agent_ipc_op_name((int)m->op), i);
out:
    BIO_free(b);
    return r;
}

/* ---- The key process ---- */

/* The pending key lives beside the outputs, where only the key process may look. */
static int pending_key_path(const struct conf_certificate *cc, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%s/.pending-%s", cc->output.directory, cc->output.key);
    return (n < 0 || (size_t)n >= size) ? -1 : 0;
}

static void clear_pending_files(const struct conf *cfg, const struct conf_certificate *cc)
{
    char kpath[1024];
    char cpath[1024];

    if (pending_key_path(cc, kpath, sizeof(kpath)) == 0 && unlink(kpath) != 0 && errno != ENOENT) {
        mk_log(MK_LOG_WARN, "rotation.pending_cleanup", "name=%s path=%s errno=%d", cc->name, kpath,
               errno);
    }
    if (agent_state_path(cpath, sizeof(cpath), cfg->state_dir, cc->name, ".pending.csr") == 0 &&
        unlink(cpath) != 0 && errno != ENOENT) {
        mk_log(MK_LOG_WARN, "rotation.pending_cleanup", "name=%s path=%s errno=%d", cc->name, cpath,
               errno);
    }
}

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
    kp->n_prep++;
    return 0;
}

/* The key process's pending files: <directory>/.pending-<key file> (out of the network process's
 * reach) and <state_dir>/<name>.pending.csr. */
static int pending_paths(const struct conf *cfg, const struct conf_certificate *cc, char *kpath,
                         char *cpath, size_t size)
{
    return pending_key_path(cc, kpath, size) == 0 &&
                   agent_state_path(cpath, size, cfg->state_dir, cc->name, ".pending.csr") == 0
               ? 0
               : -1;
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

/* The key for the next CSR: pending, current (reuse_key) or fresh.  *csr is set when resumed. */
static EVP_PKEY *next_key(struct keyproc *kp, const struct conf_certificate *cc,
                          const struct issue_spec *spec, int pending, int *resumed,
                          X509_REQ **csr, struct mk_err *err)
{
    struct pki_generation gen = {0};
    struct mk_err ignored;
    EVP_PKEY *key = NULL;
    char kpath[1024];
    char cpath[1024];

    if (pending && pending_paths(kp->cfg, cc, kpath, cpath, sizeof(kpath)) == 0 &&
        issue_pending_read(kpath, cpath, &key, csr) == 1) {
        *resumed = 1;
        mk_log(MK_LOG_INFO, "rotation.resume", "name=%s", cc->name);
        return key;
    }
    if (cc->reuse_key && pki_store_read(&spec->spec, &gen, &ignored) == 0) {
        key = gen.key;
        gen.key = NULL;
    }
    pki_generation_clear(&gen);
    if (key == NULL) {
        key = pki_key_generate(cc->key_type, err);
    }
    return key;
}

static int op_csr(struct keyproc *kp, const struct agent_ipc_msg *m, struct mk_err *err)
{
    const struct conf_certificate *cc;
    struct issue_spec spec = {0};
    struct pki_csr_spec cspec;
    struct agent_ipc_field f[2];
    EVP_PKEY *key = NULL;
    X509_REQ *csr = NULL;
    char kpath[1024];
    char cpath[1024];
    char *pem = NULL;
    size_t len = 0;
    long pending = 0;
    int resumed = 0;
    int rc = -1;

    MK_GUARD_PTR(cc = req_cert(kp, m, err));
    MK_GUARD(agent_ipc_long(m, 1, &pending, err));
    /* Secrets and the output directory first: a missing password file or an unusable directory
     * must fail before the CA is asked (and, on AWS, paid). */
    MK_GUARD(issue_spec_load(cc, &spec, err));
    if (pki_store_check_dir(cc->output.directory, err) != 0) {
        mk_err_prefix(err, "store");
        goto out;
    }
    MK_GUARD_PTR(key = next_key(kp, cc, &spec, pending != 0, &resumed, &csr, err));
    if (csr == NULL) {
        issue_csr_spec(cc, &cspec);
        MK_GUARD_PTR(csr = pki_csr_new(key, &cspec, err));
        if (pending) {
            MK_ENSURE(pending_paths(kp->cfg, cc, kpath, cpath, sizeof(kpath)) == 0, err,
                      MK_ERR_INVALID, "pending: path too long for %s", cc->name);
            MK_GUARD(issue_pending_write(kpath, cpath, key, csr, err));
        }
    }
    MK_GUARD_PTR(pem = pki_csr_to_pem(csr, &len, err));
    MK_GUARD(prep_set(kp, cc->name, key, err));
    f[0] = (struct agent_ipc_field){pem, len};
    f[1] = agent_ipc_s(resumed ? "1" : "0");
    rc = reply_ok(kp, f, 2, err);
out:
    free(pem);
    X509_REQ_free(csr);
    EVP_PKEY_free(key);
    issue_spec_clear(&spec);
    return rc;
}

static int op_store(struct keyproc *kp, const struct agent_ipc_msg *m, struct mk_err *err)
{
    const struct conf_certificate *cc;
    struct issue_spec spec = {0};
    struct pki_generation gen = {0};
    struct prepared *p;
    STACK_OF(X509) *chain = NULL;
    X509 *leaf = NULL;
    char num[32];
    struct agent_ipc_field f[1];
    int rc = -1;

    MK_GUARD_PTR(cc = req_cert(kp, m, err));
    p = prep_find(kp, cc->name);
    MK_ENSURE(p != NULL, err, MK_ERR_STATE, "store: no key was prepared for %s", cc->name);
    MK_GUARD_PTR(leaf = field_cert(m, 1, err));
    MK_GUARD_PTR(chain = field_certs(m, 2, err));
    /* The network process checked this against the CSR; the key is the last word. */
    if (pki_cert_matches_key(leaf, p->key, err) != 0) {
        mk_err_prefix(err, "verify");
        goto out;
    }
    MK_GUARD(issue_spec_load(cc, &spec, err));
    if (pki_store_write(&spec.spec, p->key, leaf, chain, err) != 0) {
        mk_err_prefix(err, "store");
        goto out;
    }
    clear_pending_files(kp->cfg, cc);
    prep_drop(kp, cc->name);
    if (pki_store_read(&spec.spec, &gen, err) != 0) {
        mk_err_prefix(err, "store: read back");
        goto out;
    }
    snprintf(num, sizeof(num), "%lu", gen.number);
    f[0] = agent_ipc_s(num);
    rc = reply_ok(kp, f, 1, err);
out:
    pki_generation_clear(&gen);
    issue_spec_clear(&spec);
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
    clear_pending_files(kp->cfg, cc);
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

static int op_issue(struct keyproc *kp, const struct agent_ipc_msg *m, struct mk_err *err)
{
    struct pki_issue_request req;
    struct pki_issued issued = {0};
    struct agent_ipc_field f[2];
    struct pki_ca *ca;
    char *leaf = NULL;
    char *chain = NULL;
    long validity = 0;
    int rc = -1;

    memset(&req, 0, sizeof(req));
    MK_GUARD_PTR(req.csr = field_csr(m, 0, err));
    MK_GUARD(agent_ipc_long(m, 1, &validity, err));
    req.validity_seconds = validity;
    MK_GUARD_PTR(ca = local_ca(kp, err));
    MK_GUARD(pki_ca_issue(ca, &req, &issued, err));
    MK_GUARD_PTR(leaf = pki_certs_to_pem(issued.leaf, NULL, NULL, err));
    MK_GUARD_PTR(chain = stack_pem(issued.chain, err));
    f[0] = agent_ipc_s(leaf);
    f[1] = agent_ipc_s(chain);
    rc = reply_ok(kp, f, 2, err);
out:
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
    MK_GUARD_PTR(pem = stack_pem(anchors, err));
    f[0] = agent_ipc_s(pem);
    rc = reply_ok(kp, f, 1, err);
out:
    sk_X509_pop_free(anchors, X509_free);
    free(pem);
    return rc;
}

static int op_revoke(struct keyproc *kp, const struct agent_ipc_msg *m, struct mk_err *err)
{
    struct pki_ca *ca;
    X509 *cert = NULL;
    char *reason = NULL;
    int rc = -1;

    MK_GUARD_PTR(cert = field_cert(m, 0, err));
    MK_GUARD_PTR(reason = agent_ipc_str(m, 1, err));
    MK_GUARD_PTR(ca = local_ca(kp, err));
    MK_GUARD(pki_ca_revoke(ca, cert, reason, err));
    rc = reply_ok(kp, NULL, 0, err);
out:
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

/* ---- Calls from the network process ---- */

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
    MK_GUARD_PTR(l = field_cert(&m, 1, err));
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
    MK_GUARD_PTR(csr = field_csr(&m, 0, err));
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
    MK_GUARD_PTR(cpem = stack_pem(chain, err));
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
    MK_GUARD_PTR(got.leaf = field_cert(&m, 0, err));
    MK_GUARD_PTR(got.chain = field_certs(&m, 1, err));
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
    s = field_certs(&m, 0, err);
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
