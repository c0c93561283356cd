/* keysign.c: Roles Anywhere signing in the key process, and its client; see keysign.h. */
#include "agent/keysign.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "aws/rolesanywhere.h"
#include "issue/issue.h"
#include "pki/cert.h"
#include "pki/log.h"
#include "pki/store.h"

/* ---- key process side ---- */

/* The token bucket of signatures; the key process answers one request at a time. */
static double ks_tokens = AGENT_KEYSIGN_BURST;
static time_t ks_last;
static time_t ks_test_now;

static time_t ks_now(void)
{
    return ks_test_now != 0 ? ks_test_now : time(NULL);
}

#ifdef MK_TESTING
void agent_keysign_test_reset(time_t now)
{
    ks_test_now = now;
    ks_tokens = AGENT_KEYSIGN_BURST;
    ks_last = 0;
}

void agent_keysign_test_reset_clock(time_t now)
{
    ks_test_now = now;
}
#endif

static int ks_take_token(time_t now)
{
    if (ks_last != 0 && now > ks_last) {
        ks_tokens += (double)(now - ks_last) / AGENT_KEYSIGN_REFILL_S;
        if (ks_tokens > AGENT_KEYSIGN_BURST) {
            ks_tokens = AGENT_KEYSIGN_BURST;
        }
    }
    ks_last = now;
    if (ks_tokens < 1.0) {
        return 0;
    }
    ks_tokens -= 1.0;
    return 1;
}

/* The Roles Anywhere certificate block, when field 0 names it: the key process signs for that
 * certificate only. */
static const struct conf_certificate *ra_cert(const struct conf *cfg, const struct agent_ipc_msg *m,
                                              struct mk_err *err)
{
    const char *ra = cfg->ca.aws_pca.roles_anywhere.certificate;
    const struct conf_certificate *cc = NULL;
    char *name = agent_ipc_str(m, 0, err);
    if (name == NULL) {
        return NULL;
    }
    if (cfg->ca.type != CONF_CA_AWS_PCA || ra == NULL || strcmp(name, ra) != 0) {
        mk_err_set(err, MK_ERR_PERM,
                   "keys: '%.100s' is not the Roles Anywhere certificate; not signing", name);
    } else if ((cc = conf_find_certificate(cfg, name)) == NULL) {
        mk_err_set(err, MK_ERR_NOTFOUND, "keys: no certificate block named '%.100s'", name);
    }
    free(name);
    return cc;
}

/* The current generation of cc.  -1 with *none = 1 when there is none yet. */
static int ra_read(const struct conf_certificate *cc, struct pki_generation *gen, int *none,
                   struct mk_err *err)
{
    struct issue_spec spec = {0};
    int rc = -1;
    *none = 0;
    MK_GUARD(issue_spec_load(cc, &spec, err));
    if (pki_store_read(&spec.spec, gen, err) != 0) {
        *none = err->code == MK_ERR_NOTFOUND;
        goto out;
    }
    rc = 0;
out:
    issue_spec_clear(&spec);
    return rc;
}

int agent_keysign_op_cert(const struct conf *cfg, int fd, const struct agent_ipc_msg *m,
                          const char **detail, struct mk_err *err)
{
    struct pki_generation gen = {0};
    STACK_OF(X509) *inter = NULL;
    char *leaf = NULL;
    char *chain = NULL;
    int none = 0;
    int rc = -1;
    const struct conf_certificate *cc = ra_cert(cfg, m, err);
    MK_GUARD_PTR(cc);
    if (ra_read(cc, &gen, &none, err) != 0) {
        *detail = none ? "none" : NULL;
        goto out;
    }
    inter = sk_X509_new_null();
    MK_ENSURE(inter != NULL, err, MK_ERR_NOMEM, "keys: out of memory");
    /* The roots are the trust anchor's business; only intermediates go in X-Amz-X509-Chain. */
    for (int i = 0; i < sk_X509_num(gen.chain); i++) {
        X509 *x = sk_X509_value(gen.chain, i);
        if (X509_check_issued(x, x) != X509_V_OK) {
            MK_ENSURE(sk_X509_push(inter, x) > 0, err, MK_ERR_NOMEM, "keys: out of memory");
        }
    }
    MK_GUARD_PTR(leaf = pki_certs_to_pem(gen.leaf, NULL, NULL, err));
    MK_GUARD_PTR(chain = pki_certs_to_pem(NULL, inter, NULL, err));
    struct agent_ipc_field f[2] = {agent_ipc_s(leaf), agent_ipc_s(chain)};
    rc = agent_ipc_send(fd, AGENT_IPC_OK, f, 2, err);
out:
    sk_X509_free(inter); /* borrowed from gen */
    free(leaf);
    free(chain);
    pki_generation_clear(&gen);
    return rc;
}

static int serial_is(X509 *cert, const char *dec)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
    char *s = bn != NULL ? BN_bn2dec(bn) : NULL;
    int same = s != NULL && strcmp(s, dec) == 0;
    OPENSSL_free(s);
    BN_free(bn);
    return same;
}

int agent_keysign_op_sign(const struct conf *cfg, int fd, const struct agent_ipc_msg *m,
                          struct mk_err *err)
{
    struct pki_generation gen = {0};
    char *date = NULL;
    char *region = NULL;
    char *hash = NULL;
    char *serial = NULL;
    unsigned char *sig = NULL;
    size_t sig_len = 0;
    char ta_region[33];
    struct tm tm = {0};
    int none = 0;
    int rc = -1;
    time_t now = ks_now();
    const struct conf_certificate *cc = ra_cert(cfg, m, err);
    MK_GUARD_PTR(cc);
    MK_GUARD_PTR(date = agent_ipc_str(m, 1, err));
    MK_GUARD_PTR(region = agent_ipc_str(m, 2, err));
    MK_GUARD_PTR(hash = agent_ipc_str(m, 3, err));
    MK_GUARD_PTR(serial = agent_ipc_str(m, 4, err));
    MK_GUARD(aws_ra_region_from_arn(cfg->ca.aws_pca.roles_anywhere.trust_anchor_arn, ta_region,
                                    sizeof(ta_region), err));
    MK_ENSURE(strcmp(region, ta_region) == 0, err, MK_ERR_PERM,
              "keys: roles anywhere: region '%.40s' is not the trust anchor's (%s)", region,
              ta_region);
    /* The string to sign is checked field by field in aws_ra_sign_fields; the date must also be
     * now, so that nothing is signed for later use. */
    MK_ENSURE(strlen(date) == 16 && strptime(date, "%Y%m%dT%H%M%SZ", &tm) != NULL, err,
              MK_ERR_INVALID, "keys: roles anywhere: bad date");
    time_t when = timegm(&tm);
    MK_ENSURE(when >= now - AGENT_KEYSIGN_MAX_SKEW_S && when <= now + AGENT_KEYSIGN_MAX_SKEW_S, err,
              MK_ERR_PERM, "keys: roles anywhere: date %s is not now; not signing", date);
    MK_ENSURE(ks_take_token(now), err, MK_ERR_PERM,
              "keys: roles anywhere: more than %d signatures faster than one per %d s; refused",
              AGENT_KEYSIGN_BURST, AGENT_KEYSIGN_REFILL_S);
    if (ra_read(cc, &gen, &none, err) != 0) {
        goto out;
    }
    MK_ENSURE(serial_is(gen.leaf, serial), err, MK_ERR_STATE,
              "keys: roles anywhere: serial %.80s is not the current certificate's", serial);
    MK_GUARD(aws_ra_sign_fields(gen.key, date, region, hash, &sig, &sig_len, err));
    mk_log(MK_LOG_INFO, "keyproc.ra_sign", "name=%s serial=%s date=%s region=%s", cc->name, serial,
           date, region);
    struct agent_ipc_field f[1] = {{sig, sig_len}};
    rc = agent_ipc_send(fd, AGENT_IPC_OK, f, 1, err);
out:
    if (rc != 0) {
        mk_log(MK_LOG_WARN, "keyproc.ra_sign_refused", "code=%s msg=\"%s\"", mk_code_str(err->code),
               err->msg);
    }
    free(date);
    free(region);
    free(hash);
    free(serial);
    free(sig);
    pki_generation_clear(&gen);
    return rc;
}

/* ---- network process side ---- */

/* XXX One per process: the network process has one key link and calls the CA from one thread,
 * so the serial remembered between current() and sign() is that of the same request. */
static struct {
    int *fd;
    char serial[128];
} ks_client;

static int client_current(void *arg, const char *name, X509 **leaf, STACK_OF(X509) * *chain,
                          struct mk_err *err)
{
    (void)arg;
    struct agent_ipc_field f[1] = {agent_ipc_s(name)};
    struct agent_ipc_msg m = {0};
    STACK_OF(X509) *l = NULL;
    STACK_OF(X509) *c = NULL;
    char detail[32] = "";
    int rc = -1;
    if (agent_ipc_call(*ks_client.fd, AGENT_IPC_KEY_RA_CERT, f, 1, &m, detail, sizeof(detail),
                       err) != 0) {
        /* No generation yet: bootstrap with the chain. */
        rc = strcmp(detail, "none") == 0 ? 0 : -1;
        goto out;
    }
    MK_ENSURE(m.n == 2 && m.f[0].len > 0, err, MK_ERR_INVALID, "ipc: key-ra-cert: bad reply");
    MK_GUARD_PTR(l = pki_certs_from_mem(m.f[0].data, m.f[0].len, err));
    if (m.f[1].len > 0) {
        MK_GUARD_PTR(c = pki_certs_from_mem(m.f[1].data, m.f[1].len, err));
    } else {
        c = sk_X509_new_null();
        MK_ENSURE(c != NULL, err, MK_ERR_NOMEM, "out of memory");
    }
    X509 *x = sk_X509_value(l, 0);
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    char *dec = bn != NULL ? BN_bn2dec(bn) : NULL;
    snprintf(ks_client.serial, sizeof(ks_client.serial), "%s", dec != NULL ? dec : "");
    OPENSSL_free(dec);
    BN_free(bn);
    *leaf = sk_X509_shift(l);
    *chain = c;
    c = NULL;
    rc = 1;
out:
    sk_X509_pop_free(l, X509_free);
    sk_X509_pop_free(c, X509_free);
    agent_ipc_msg_clear(&m);
    return rc;
}

static int client_sign(void *arg, const char *amz_date, const char *region, const char *hash,
                       unsigned char **sig, size_t *sig_len, struct mk_err *err)
{
    const char *name = arg;
    struct agent_ipc_field f[5] = {agent_ipc_s(name), agent_ipc_s(amz_date), agent_ipc_s(region),
                                   agent_ipc_s(hash), agent_ipc_s(ks_client.serial)};
    struct agent_ipc_msg m = {0};
    int rc = -1;
    MK_GUARD(agent_ipc_call(*ks_client.fd, AGENT_IPC_KEY_RA_SIGN, f, 5, &m, NULL, 0, err));
    MK_ENSURE(m.n == 1 && m.f[0].len > 0, err, MK_ERR_INVALID, "ipc: key-ra-sign: bad reply");
    *sig = malloc(m.f[0].len);
    MK_ENSURE(*sig != NULL, err, MK_ERR_NOMEM, "out of memory");
    memcpy(*sig, m.f[0].data, m.f[0].len);
    *sig_len = m.f[0].len;
    rc = 0;
out:
    agent_ipc_msg_clear(&m);
    return rc;
}

static const struct pki_ca_ra_signer ks_signer = {client_current, client_sign, NULL};

const struct pki_ca_ra_signer *agent_keysign_signer(int *key_fd)
{
    ks_client.fd = key_fd;
    return &ks_signer;
}

struct pki_ca *agent_keysign_ca_new(const struct conf *cfg, int *key_fd, struct mk_err *err)
{
    if (cfg->ca.type != CONF_CA_AWS_PCA ||
        cfg->ca.aws_pca.roles_anywhere.trust_anchor_arn == NULL) {
        return issue_ca_new(cfg, err);
    }
    struct pki_ca_aws_pca_config a = cfg->ca.aws_pca;
    /* The signer's arg is the certificate name, which client_sign sends. */
    static struct pki_ca_ra_signer s;
    s = *agent_keysign_signer(key_fd);
    s.arg = (void *)cfg->ca.aws_pca.roles_anywhere.certificate;
    a.ra_signer = &s;
    return pki_ca_aws_pca_new(&a, err);
}
