/*
 * probe.c: `mskpkictl probe`: negative (and one positive) mTLS tests against Kafka brokers.
 *
 * For each broker and each TLS version the broker speaks, every case runs on its own connection
 * and is judged at the Kafka level (probe_conn.c): a broker that completes the handshake and then
 * answers ApiVersions has ACCEPTED the client certificate, an alert or a close has REFUSED it.
 * Brokers are probed in parallel (--concurrency threads); the cases of one broker run in order.
 * See docs/probe.md for the cases, the outcomes, the formats and the exit codes.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <sodium.h>

#include "aws/aws.h"
#include "conf/conf.h"
#include "ctl/ctl.h"
#include "ctl/output.h"
#include "pki/text.h"
#include "ctl/probe/kafka_wire.h"
#include "ctl/kafka_principal.h"
#include "ctl/probe/certs.h"
#include "ctl/probe/conn.h"
#include "ctl/probe/report.h"
#include "pki/err.h"
#include "pki/log.h"
#include "pki/store.h"

#define PROBE_MAX_BROKERS 256

static const int tls_versions[PROBE_N_VERSIONS] = {TLS1_2_VERSION, TLS1_3_VERSION};
/* legacy_tls_version: versions RFC 8996 deprecated, which a broker must refuse. */
static const int legacy_versions[PROBE_N_LEGACY_VERSIONS] = {TLS1_VERSION, TLS1_1_VERSION};

struct probe_opts {
    const char *bootstrap;
    const char *plaintext_bootstrap;
    const char *cluster_arn;
    const char *region;
    const char *endpoint_url;
    const char *profile;
    const char *ca_file;
    const char *cert;
    const char *key;
    const char *revoked_cert;
    const char *revoked_key;
    const char *output;
    const char *agent_config;
    const char *name;
    const char *server_name;
    long timeout_s;
    long concurrency;
    enum probe_format format;
};

/* Shared, read-only while the workers run. */
struct probe_run {
    const struct probe_opts *opts;
    SSL_CTX *ctx[PROBE_CASE__MAX]; /* client context per case; NULL = case not applicable */
    struct probe_broker *brokers;  /* the TLS brokers, then the plaintext endpoints */
    size_t n_brokers;
    size_t n_plaintext;           /* plaintext endpoints at the end of brokers */
    const char *tls_list;         /* the TLS bootstrap list, for the kafka-acls command */
    char revoked_principal[1024]; /* Kafka principal of --revoked-cert, or "" */
    size_t next; /* next broker to take, under lock */
    pthread_mutex_t lock;
    int32_t correlation_base;
};

static void usage_line(FILE *out)
{
    fprintf(out,
            "usage: mskpkictl probe (--bootstrap HOST:PORT[,HOST:PORT...] | --cluster-arn ARN "
            "[--region R] [--endpoint-url URL] [--profile P]) --ca-file FILE\n"
            "                       [--cert FILE --key FILE | --agent-config FILE --name CERT] "
            "[--server-name NAME]\n"
            "                       [--revoked-cert FILE --revoked-key FILE] "
            "[--plaintext-bootstrap HOST:PORT[,...]]\n"
            "                       [--timeout S] [--concurrency N]\n"
            "                       [--format table|json|junit|prometheus] [--output FILE]\n"
            "                       " CTL_VERBOSITY_USAGE "\n");
}

/*
 * Splits "host:port,[v6]:port" into brokers.  Returns the count, or -1 with a message in err.
 * Caller frees *out with free().
 */
MK_TESTABLE long probe_parse_brokers(const char *list, struct probe_broker **out,
                                     struct mk_err *err)
{
    long rc = -1;
    long n = 0;
    char *copy = strdup(list);
    struct probe_broker *b = calloc(PROBE_MAX_BROKERS, sizeof(*b));
    char *save = NULL;
    MK_ENSURE(copy != NULL && b != NULL, err, MK_ERR_NOMEM, "out of memory");
    for (char *tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ' || *tok == '\t') {
            tok++;
        }
        size_t len = strlen(tok);
        while (len > 0 && (tok[len - 1] == ' ' || tok[len - 1] == '\t')) {
            tok[--len] = '\0';
        }
        if (len == 0) {
            continue;
        }
        MK_ENSURE(n < PROBE_MAX_BROKERS, err, MK_ERR_USAGE, "more than %d brokers",
                  PROBE_MAX_BROKERS);
        char *host = tok;
        char *colon = strrchr(tok, ':');
        if (tok[0] == '[') {
            char *close = strchr(tok, ']');
            MK_ENSURE(close != NULL && close[1] == ':', err, MK_ERR_USAGE,
                      "broker '%s': expected [ADDRESS]:PORT", tok);
            *close = '\0';
            host = tok + 1;
            colon = close + 1;
        }
        MK_ENSURE(colon != NULL && colon != host, err, MK_ERR_USAGE,
                  "broker '%s': expected HOST:PORT", tok);
        *colon = '\0';
        long port = 0;
        MK_ENSURE(mk_parse_long(colon + 1, 1, 65535, &port) == 0, err, MK_ERR_USAGE,
                  "broker '%s': bad port '%s'", host, colon + 1);
        /* An IPv6 address needs brackets, or its last group would be taken for the port. */
        MK_ENSURE(host[0] != '\0' && strlen(host) < sizeof(b[n].host) &&
                      (tok[0] == '[' || strchr(host, ':') == NULL),
                  err, MK_ERR_USAGE, "broker '%s': bad host (IPv6 needs [ADDRESS]:PORT)", host);
        snprintf(b[n].host, sizeof(b[n].host), "%s", host);
        snprintf(b[n].port, sizeof(b[n].port), "%ld", port);
        snprintf(b[n].display, sizeof(b[n].display), tok[0] == '[' ? "[%s]:%ld" : "%s:%ld", host,
                 port);
        n++;
    }
    MK_ENSURE(n > 0, err, MK_ERR_USAGE, "no broker in '%s'", list);
    *out = b;
    b = NULL;
    rc = n;
out:
    free(copy);
    free(b);
    return rc;
}

/* Brokers of an MSK cluster: GetBootstrapBrokers (MSK API reference, "BootstrapBrokers":
 * GET /v1/clusters/{clusterArn}/bootstrap-brokers), field bootstrapBrokerStringTls, and in *plain
 * its bootstrapBrokerString, the plaintext listeners a TLS_PLAINTEXT or PLAINTEXT cluster keeps
 * (NULL when the field is absent).  Caller frees *list and *plain with free(). */
static int fetch_bootstrap(const struct probe_opts *o, char **list, char **plain,
                           struct mk_err *err)
{
    int rc = -1;
    struct aws_client *client = NULL;
    json_t *resp = NULL;
    char path[2048];
    struct aws_client_options copts = {
        .region = o->region,
        .profile = o->profile,
        .endpoint_url = o->endpoint_url,
    };
    MK_GUARD_PTR(client = aws_client_new(&copts, err));
    int n = snprintf(path, sizeof(path), "/v1/clusters/%s/bootstrap-brokers", o->cluster_arn);
    MK_ENSURE(n > 0 && (size_t)n < sizeof(path), err, MK_ERR_USAGE, "cluster ARN too long");
    if (aws_rest_call(client, "kafka", "GET", path, NULL, NULL, &resp, err) != 0) {
        mk_err_prefix(err, "GetBootstrapBrokers");
        goto out;
    }
    const char *tls = json_string_value(json_object_get(resp, "bootstrapBrokerStringTls"));
    MK_ENSURE(tls != NULL && tls[0] != '\0', err, MK_ERR_NOTFOUND,
              "GetBootstrapBrokers %s: no bootstrapBrokerStringTls (is TLS enabled between "
              "clients and brokers?)",
              o->cluster_arn);
    const char *clear = json_string_value(json_object_get(resp, "bootstrapBrokerString"));
    *list = strdup(tls);
    *plain = clear != NULL && clear[0] != '\0' ? strdup(clear) : NULL;
    MK_ENSURE(*list != NULL && (clear == NULL || clear[0] == '\0' || *plain != NULL), err,
              MK_ERR_NOMEM, "out of memory");
    rc = 0;
out:
    json_decref(resp);
    aws_client_free(client);
    return rc;
}

struct passphrase {
    char buf[1024];
    size_t len;
};

/* Never prompts: an encrypted key without a passphrase file fails with a clear message. */
static int pass_cb(char *buf, int size, int rwflag, void *u)
{
    (void)rwflag;
    struct passphrase *p = u;
    if (p == NULL || p->len == 0 || p->len > (size_t)size) {
        return -1;
    }
    memcpy(buf, p->buf, p->len);
    return (int)p->len;
}

static int read_passphrase(const char *path, struct passphrase *p, struct mk_err *err)
{
    int rc = -1;
    FILE *f = fopen(path, "r");
    MK_ENSURE_ERRNO(f != NULL, err, MK_ERR_IO, "%s", path);
    p->len = fread(p->buf, 1, sizeof(p->buf) - 1, f);
    MK_ENSURE(!ferror(f), err, MK_ERR_IO, "%s: read error", path);
    while (p->len > 0 && (p->buf[p->len - 1] == '\n' || p->buf[p->len - 1] == '\r')) {
        p->len--;
    }
    MK_ENSURE(p->len > 0, err, MK_ERR_CONFIG, "%s: empty passphrase file", path);
    rc = 0;
out:
    if (f != NULL) {
        fclose(f);
    }
    return rc;
}

static SSL_CTX *new_client_ctx(const char *ca_file, struct mk_err *err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        ctl_err_ossl(err, MK_ERR_CRYPTO, "SSL_CTX_new");
        return NULL;
    }
    if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
        ctl_err_ossl(err, MK_ERR_USAGE, "--ca-file %s: no usable CA certificate", ca_file);
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_default_passwd_cb(ctx, pass_cb);
    SSL_CTX_set_default_passwd_cb_userdata(ctx, NULL);
    return ctx;
}

static int ctx_use_identity(SSL_CTX *ctx, const struct probe_identity *id, struct mk_err *err)
{
    int rc = -1;
    CTL_GUARD_OSSL(SSL_CTX_use_certificate(ctx, id->cert) == 1 &&
                      SSL_CTX_use_PrivateKey(ctx, id->key) == 1,
                  err, MK_ERR_CRYPTO, "installing throw-away identity");
    if (id->issuer != NULL) {
        CTL_GUARD_OSSL(SSL_CTX_add1_chain_cert(ctx, id->issuer) == 1, err, MK_ERR_CRYPTO,
                      "adding throw-away CA to the chain");
    }
    rc = 0;
out:
    return rc;
}

/* The client's own certificate (with any chain in the same file or in chain_file) and key. */
static int ctx_use_files(SSL_CTX *ctx, const char *cert, const char *chain_file, const char *key,
                         struct passphrase *pass, struct mk_err *err)
{
    int rc = -1;
    BIO *bio = NULL;
    EVP_PKEY *pkey = NULL;
    CTL_GUARD_OSSL(SSL_CTX_use_certificate_chain_file(ctx, cert) == 1, err, MK_ERR_USAGE,
                  "%s: cannot load client certificate", cert);
    if (chain_file != NULL) {
        STACK_OF(X509_INFO) *infos = NULL;
        BIO *cb = BIO_new_file(chain_file, "r");
        infos = cb != NULL ? PEM_X509_INFO_read_bio(cb, NULL, NULL, NULL) : NULL;
        BIO_free(cb);
        int ok = infos != NULL;
        for (int i = 0; ok && i < sk_X509_INFO_num(infos); i++) {
            X509_INFO *xi = sk_X509_INFO_value(infos, i);
            ok = xi->x509 == NULL || SSL_CTX_add1_chain_cert(ctx, xi->x509) == 1;
        }
        sk_X509_INFO_pop_free(infos, X509_INFO_free);
        CTL_GUARD_OSSL(ok, err, MK_ERR_USAGE, "%s: cannot load chain", chain_file);
    }
    bio = BIO_new_file(key, "r");
    CTL_GUARD_OSSL(bio != NULL, err, MK_ERR_USAGE, "%s: cannot open key", key);
    pkey = PEM_read_bio_PrivateKey(bio, NULL, pass_cb, pass);
    CTL_GUARD_OSSL(pkey != NULL, err, MK_ERR_USAGE,
                  "%s: cannot load private key (PEM expected; encrypted keys need the agent's "
                  "key_passphrase_file)",
                  key);
    CTL_GUARD_OSSL(SSL_CTX_use_PrivateKey(ctx, pkey) == 1 && SSL_CTX_check_private_key(ctx) == 1,
                  err, MK_ERR_USAGE, "%s does not match certificate %s", key, cert);
    rc = 0;
out:
    EVP_PKEY_free(pkey);
    BIO_free(bio);
    return rc;
}

static char *join_path(const char *dir, const char *file)
{
    char *p = NULL;
    if (file == NULL || asprintf(&p, "%s/%s", dir, file) < 0) {
        return NULL;
    }
    return p;
}

/* --agent-config/--name: the certificate files the agent writes for that name. */
static int ctx_use_agent_cert(SSL_CTX *ctx, const struct probe_opts *o, struct mk_err *err)
{
    int rc = -1;
    struct conf *cfg = NULL;
    char *cert = NULL, *chain = NULL, *key = NULL;
    struct passphrase *pass = NULL;
    MK_ENSURE(sodium_init() >= 0, err, MK_ERR_CRYPTO, "sodium_init failed");
    pass = sodium_malloc(sizeof(*pass));
    MK_ENSURE(pass != NULL, err, MK_ERR_NOMEM, "out of memory");
    memset(pass, 0, sizeof(*pass));
    MK_GUARD_PTR(cfg = conf_load(o->agent_config, err));
    const struct conf_certificate *c = conf_find_certificate(cfg, o->name);
    MK_ENSURE(c != NULL, err, MK_ERR_USAGE, "%s: no certificate named '%s'", o->agent_config,
              o->name);
    const struct conf_output *out = &c->output;
    /* The full chain when the agent writes one, so brokers that only know the root still work. */
    MK_ENSURE((cert = join_path(out->directory,
                                out->fullchain != NULL ? out->fullchain : out->cert)) != NULL &&
                  (key = join_path(out->directory, out->key)) != NULL,
              err, MK_ERR_NOMEM, "out of memory");
    if (out->fullchain == NULL && out->chain != NULL) {
        MK_ENSURE((chain = join_path(out->directory, out->chain)) != NULL, err, MK_ERR_NOMEM,
                  "out of memory");
    }
    if (out->key_passphrase_file != NULL) {
        MK_GUARD(read_passphrase(out->key_passphrase_file, pass, err));
    }
    MK_GUARD(ctx_use_files(ctx, cert, chain, key, pass, err));
    rc = 0;
out:
    if (pass != NULL) {
        sodium_free(pass); /* wipes before freeing */
    }
    free(cert);
    free(chain);
    free(key);
    conf_free(cfg);
    return rc;
}

/* The valid client certificate (--cert/--key or the agent's), when one was given. */
static int ctx_use_valid(SSL_CTX *ctx, const struct probe_opts *o, struct mk_err *err)
{
    if (o->cert != NULL) {
        struct passphrase none = {0};
        return ctx_use_files(ctx, o->cert, NULL, o->key, &none, err);
    }
    if (o->agent_config != NULL) {
        return ctx_use_agent_cert(ctx, o, err);
    }
    return 0;
}

/* One client context per case.  Returns 0, or -1 with err (a usage problem for bad files). */
static int build_contexts(struct probe_run *run, struct mk_err *err)
{
    int rc = -1;
    const struct probe_opts *o = run->opts;
    struct probe_identity untrusted = {0}, expired = {0}, not_yet = {0};
    for (int c = 0; c < PROBE_CASE__MAX; c++) {
        if (c == PROBE_VALID_CLIENT_CERT && o->cert == NULL && o->agent_config == NULL) {
            continue;
        }
        if (c == PROBE_REVOKED_CLIENT_CERT && o->revoked_cert == NULL) {
            continue;
        }
        if (c == PROBE_PLAINTEXT_LISTENER) {
            continue; /* no TLS at all */
        }
        MK_GUARD_PTR(run->ctx[c] = new_client_ctx(o->ca_file, err));
    }
    MK_GUARD(probe_identity_self_signed(&untrusted, err));
    MK_GUARD(probe_identity_expired(&expired, err));
    MK_GUARD(probe_identity_not_yet_valid(&not_yet, err));
    MK_GUARD(ctx_use_identity(run->ctx[PROBE_UNTRUSTED_CLIENT_CERT], &untrusted, err));
    MK_GUARD(ctx_use_identity(run->ctx[PROBE_EXPIRED_CLIENT_CERT], &expired, err));
    MK_GUARD(ctx_use_identity(run->ctx[PROBE_NOT_YET_VALID_CLIENT_CERT], &not_yet, err));
    if (run->ctx[PROBE_VALID_CLIENT_CERT] != NULL) {
        MK_GUARD(ctx_use_valid(run->ctx[PROBE_VALID_CLIENT_CERT], o, err));
    }
    /* OpenSSL 3 will not even offer TLS 1.0/1.1 at security level 1 or above (their handshake
     * signs with SHA-1 or MD5+SHA-1): level 0 here, and the versions are pinned per connection.
     * With the valid certificate, a broker that requires one can complete the handshake. */
    CTL_GUARD_OSSL(
        SSL_CTX_set_cipher_list(run->ctx[PROBE_LEGACY_TLS_VERSION], "DEFAULT:@SECLEVEL=0") == 1,
        err, MK_ERR_CRYPTO, "legacy_tls_version: SSL_CTX_set_cipher_list");
    MK_GUARD(ctx_use_valid(run->ctx[PROBE_LEGACY_TLS_VERSION], o, err));
    if (o->revoked_cert != NULL) {
        struct passphrase none = {0};
        MK_GUARD(ctx_use_files(run->ctx[PROBE_REVOKED_CLIENT_CERT], o->revoked_cert, NULL,
                               o->revoked_key, &none, err));
        X509 *leaf = SSL_CTX_get0_certificate(run->ctx[PROBE_REVOKED_CLIENT_CERT]);
        struct mk_err perr = {0};
        if (leaf == NULL ||
            kafka_principal_from_name(X509_get_subject_name(leaf), run->revoked_principal,
                                      sizeof(run->revoked_principal), &perr) != 0) {
            run->revoked_principal[0] = '\0'; /* the remediation then says so */
        }
    }
    /* broker_certificate presents the valid certificate when there is one, so that a broker
     * requiring client certificates still completes the handshake under TLS 1.3. */
    if (run->ctx[PROBE_VALID_CLIENT_CERT] != NULL) {
        SSL_CTX_free(run->ctx[PROBE_BROKER_CERTIFICATE]);
        SSL_CTX_up_ref(run->ctx[PROBE_VALID_CLIENT_CERT]);
        run->ctx[PROBE_BROKER_CERTIFICATE] = run->ctx[PROBE_VALID_CLIENT_CERT];
    }
    rc = 0;
out:
    probe_identity_clear(&untrusted);
    probe_identity_clear(&expired);
    probe_identity_clear(&not_yet);
    return rc;
}

static struct probe_result *add_result(struct probe_broker *b, enum probe_case c, int version)
{
    struct probe_result *r = &b->results[b->n_results++];
    memset(r, 0, sizeof(*r));
    snprintf(r->broker, sizeof(r->broker), "%s", b->display);
    r->kase = c;
    r->tls_version = version;
    r->expected = (c == PROBE_VALID_CLIENT_CERT || c == PROBE_BROKER_CERTIFICATE) ? PROBE_ACCEPTED
                                                                                  : PROBE_REFUSED;
    return r;
}

/*
 * revoked_client_cert ACCEPTED: "Amazon MSK doesn't support certificate revocation lists (CRLs).
 * To control access to your cluster topics or block compromised certificates, use Apache Kafka
 * ACLs and AWS security groups" (MSK developer guide, "Mutual TLS client authentication for
 * Amazon MSK").  The remediation is the deny ACL for the certificate's principal.
 */
static void revoked_remediation(const struct probe_run *run, struct probe_result *r)
{
    char cmd[sizeof(r->remediation)];
    struct mk_err err = {0};
    snprintf(r->detail, sizeof(r->detail),
             "accepted although revoked: MSK does not check CRLs, so this certificate keeps "
             "its access until an ACL denies its principal %.600s",
             run->revoked_principal[0] != '\0' ? run->revoked_principal : "(unknown)");
    if (run->revoked_principal[0] == '\0' ||
        kafka_acl_deny_command(run->revoked_principal, run->tls_list, cmd, sizeof(cmd), &err) !=
            0) {
        snprintf(r->remediation, sizeof(r->remediation),
                 "deny the certificate's principal (User: + its subject in RFC 2253 form) with a "
                 "DENY ACL for all operations on topics, groups and the cluster");
        return;
    }
    snprintf(r->remediation, sizeof(r->remediation), "%s", cmd);
}

/* One connection to broker b: TLS version (0 for plaintext), context and mode as given. */
static struct probe_conn_opts conn_opts(const struct probe_run *run, const struct probe_broker *b,
                                        int version, SSL_CTX *ctx, enum probe_mode mode,
                                        int32_t corr)
{
    const struct probe_opts *o = run->opts;
    struct probe_conn_opts co = {
        .host = b->host,
        .port = b->port,
        .server_name = mode == PROBE_MODE_PLAINTEXT ? NULL : o->server_name,
        .tls_version = version,
        .timeout_ms = (int)(o->timeout_s * 1000),
        .ctx = ctx,
        .mode = mode,
        .correlation_id = corr,
        .api_version = KAFKA_API_VERSIONS_MAX_VERSION,
    };
    return co;
}

static void run_case(struct probe_run *run, struct probe_broker *b, enum probe_case c, int version,
                     int32_t corr)
{
    const struct probe_opts *o = run->opts;
    struct probe_result *r = add_result(b, c, version);
    if (run->ctx[c] == NULL) {
        r->outcome = PROBE_NOT_APPLICABLE;
        snprintf(r->detail, sizeof(r->detail),
                 "no client certificate given (--cert/--key or --agent-config/--name)");
        r->ok = 1;
        return;
    }
    struct probe_conn_opts co = conn_opts(run, b, version, run->ctx[c],
                                          c == PROBE_BROKER_CERTIFICATE ? PROBE_MODE_VERIFY
                                                                        : PROBE_MODE_KAFKA,
                                          corr);
    struct probe_facts f;
    probe_conn_run(&co, &f);
    if (c == PROBE_BROKER_CERTIFICATE) {
        r->outcome = probe_classify_verify(&f, o->server_name != NULL ? o->server_name : b->host,
                                           r->detail, sizeof(r->detail));
    } else {
        r->outcome = probe_classify_kafka(&f, r->detail, sizeof(r->detail));
    }
    if (c == PROBE_REVOKED_CLIENT_CERT && r->outcome == PROBE_ACCEPTED) {
        revoked_remediation(run, r);
    }
    r->ok = r->outcome == r->expected || r->outcome == PROBE_NOT_APPLICABLE;
}

/* legacy_tls_version: one handshake offering only `version` (TLS 1.0 or 1.1). */
static void run_legacy(struct probe_run *run, struct probe_broker *b, int version)
{
    struct probe_result *r = add_result(b, PROBE_LEGACY_TLS_VERSION, version);
    struct probe_conn_opts co =
        conn_opts(run, b, version, run->ctx[PROBE_LEGACY_TLS_VERSION], PROBE_MODE_DETECT, 0);
    struct probe_facts f;
    probe_conn_run(&co, &f);
    r->outcome = probe_classify_legacy(&f, version, r->detail, sizeof(r->detail));
    if (r->outcome == PROBE_ACCEPTED) {
        snprintf(r->remediation, sizeof(r->remediation),
                 "allow only TLS 1.2 and 1.3 on the broker's TLS listener (Kafka: "
                 "ssl.enabled.protocols=TLSv1.2,TLSv1.3); RFC 8996 deprecates TLS 1.0 and 1.1");
    }
    r->ok = r->outcome == r->expected;
}

/*
 * plaintext_listener on a plaintext endpoint: ApiVersions in clear.  "When client-broker
 * encryption is set to TLS_PLAINTEXT and client-authentication is set to mTLS, Amazon MSK creates
 * two types of listeners [...] and another for clients to connect without authentication or
 * encryption (plaintext)"; UpdateSecurity changes client-broker encryption (MSK developer guide,
 * "Update security settings of a Amazon MSK cluster"), hence the remediation.
 */
static void run_plaintext(struct probe_run *run, struct probe_broker *b, int32_t corr)
{
    const struct probe_opts *o = run->opts;
    struct probe_result *r = add_result(b, PROBE_PLAINTEXT_LISTENER, 0);
    struct probe_conn_opts co = conn_opts(run, b, 0, NULL, PROBE_MODE_PLAINTEXT, corr);
    struct probe_facts f;
    probe_conn_run(&co, &f);
    r->outcome = probe_classify_plaintext(&f, r->detail, sizeof(r->detail));
    if (r->outcome == PROBE_ACCEPTED) {
        snprintf(r->remediation, sizeof(r->remediation),
                 "turn the plaintext listener off: aws kafka update-security --cluster-arn %s "
                 "--current-version CURRENT_VERSION --encryption-info "
                 "'{\"EncryptionInTransit\":{\"ClientBroker\":\"TLS\"}}' (CURRENT_VERSION from "
                 "aws kafka describe-cluster), or close the port in the brokers' security group",
                 o->cluster_arn != NULL ? o->cluster_arn : "CLUSTER_ARN");
    }
    r->ok = r->outcome == r->expected;
}

static void probe_broker(struct probe_run *run, struct probe_broker *b, int32_t corr_base)
{
    const struct probe_opts *o = run->opts;
    if (b->plaintext) {
        run_plaintext(run, b, corr_base);
        return;
    }
    enum probe_version_support support[PROBE_N_VERSIONS];
    char detail[PROBE_N_VERSIONS][sizeof(b->results[0].detail)];
    int any = 0;
    for (int v = 0; v < PROBE_N_VERSIONS; v++) {
        struct probe_conn_opts co = {
            .host = b->host,
            .port = b->port,
            .server_name = o->server_name,
            .tls_version = tls_versions[v],
            .timeout_ms = (int)(o->timeout_s * 1000),
            .ctx = run->ctx[PROBE_NO_CLIENT_CERT],
            .mode = PROBE_MODE_DETECT,
        };
        struct probe_facts f;
        probe_conn_run(&co, &f);
        support[v] = probe_classify_detect(&f, detail[v], sizeof(detail[v]));
        any |= support[v] == PROBE_VERSION_SUPPORTED;
    }
    for (int v = 0; v < PROBE_N_VERSIONS; v++) {
        for (int c = 0; c < PROBE_CASE__MAX; c++) {
            /* revoked_client_cert is opt-in: without --revoked-cert the report stays as it was. */
            if (c == PROBE_REVOKED_CLIENT_CERT && run->ctx[c] == NULL) {
                continue;
            }
            if (c == PROBE_LEGACY_TLS_VERSION || c == PROBE_PLAINTEXT_LISTENER) {
                continue; /* not per modern version: below */
            }
            if (any && support[v] == PROBE_VERSION_SUPPORTED) {
                run_case(run, b, (enum probe_case)c, tls_versions[v], corr_base + v * 16 + c);
                continue;
            }
            struct probe_result *r = add_result(b, (enum probe_case)c, tls_versions[v]);
            /* A version the broker refuses is not a failure, but a broker that speaks neither
             * version could not be probed at all: every case is an error then. */
            r->outcome =
                any && support[v] == PROBE_VERSION_REFUSED ? PROBE_NOT_APPLICABLE : PROBE_ERROR;
            r->ok = r->outcome == PROBE_NOT_APPLICABLE;
            snprintf(r->detail, sizeof(r->detail), "%s", detail[v]);
        }
    }
    /* Whatever the modern versions gave: a broker that only speaks TLS 1.0 is still caught. */
    for (int v = 0; v < PROBE_N_LEGACY_VERSIONS; v++) {
        run_legacy(run, b, legacy_versions[v]);
    }
    if (run->n_plaintext == 0) {
        struct probe_result *r = add_result(b, PROBE_PLAINTEXT_LISTENER, 0);
        r->outcome = PROBE_NOT_APPLICABLE;
        r->ok = 1;
        snprintf(r->detail, sizeof(r->detail),
                 "no plaintext endpoint known (--plaintext-bootstrap, or the "
                 "BootstrapBrokerString of GetBootstrapBrokers with --cluster-arn)");
    }
}

static void *worker(void *arg)
{
    struct probe_run *run = arg;
    for (;;) {
        pthread_mutex_lock(&run->lock);
        size_t i = run->next++;
        pthread_mutex_unlock(&run->lock);
        if (i >= run->n_brokers) {
            return NULL;
        }
        probe_broker(run, &run->brokers[i], run->correlation_base + (int32_t)i * 64);
        ERR_clear_error();
    }
}

/* The report on stdout, or atomically into --output (a textfile collector must never read a
 * half-written file): rendered in memory, then pki_store_write_file(). */
static int write_report(const struct probe_opts *o, const struct probe_result *all, size_t n,
                        struct mk_err *err)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = NULL;
    int rc = -1;

    if (o->output == NULL) {
        return probe_report_write(stdout, o->format, all, n, err);
    }
    mem = open_memstream(&buf, &len);
    MK_ENSURE_ERRNO(mem != NULL, err, MK_ERR_NOMEM, "open_memstream");
    MK_GUARD(probe_report_write(mem, o->format, all, n, err));
    MK_ENSURE_ERRNO(fclose(mem) == 0, err, MK_ERR_NOMEM, "report buffer");
    mem = NULL;
    MK_GUARD(ctl_write_report("--output", o->output, buf, len, err));
    rc = 0;
out:
    if (mem != NULL) {
        fclose(mem);
    }
    free(buf);
    return rc;
}

static int parse_args(int argc, char **argv, struct probe_opts *o)
{
    static const struct option longopts[] = {
        {"bootstrap", required_argument, NULL, 'b'},
        {"plaintext-bootstrap", required_argument, NULL, 'L'},
        {"cluster-arn", required_argument, NULL, 'A'},
        {"region", required_argument, NULL, 'r'},
        {"endpoint-url", required_argument, NULL, 'e'},
        {"profile", required_argument, NULL, 'P'},
        {"ca-file", required_argument, NULL, 'C'},
        {"cert", required_argument, NULL, 'c'},
        {"key", required_argument, NULL, 'k'},
        {"revoked-cert", required_argument, NULL, 'R'},
        {"revoked-key", required_argument, NULL, 'K'},
        {"output", required_argument, NULL, 'o'},
        {"agent-config", required_argument, NULL, 'g'},
        {"name", required_argument, NULL, 'n'},
        {"server-name", required_argument, NULL, 's'},
        {"timeout", required_argument, NULL, 't'},
        {"concurrency", required_argument, NULL, 'j'},
        {"format", required_argument, NULL, 'f'},
        CTL_VERBOSITY_OPTIONS,
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof(*o));
    o->timeout_s = 10;
    o->concurrency = 4;
    optind = 1;
    opterr = 0;
    int ch;
    if (ctl_options_begin("probe", argc, argv, longopts) != 0) {
        return CTL_EXIT_USAGE;
    }
    while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'b':
            o->bootstrap = optarg;
            break;
        case 'L':
            o->plaintext_bootstrap = optarg;
            break;
        case 'A':
            o->cluster_arn = optarg;
            break;
        case 'r':
            o->region = optarg;
            break;
        case 'e':
            o->endpoint_url = optarg;
            break;
        case 'P':
            o->profile = optarg;
            break;
        case 'C':
            o->ca_file = optarg;
            break;
        case 'c':
            o->cert = optarg;
            break;
        case 'k':
            o->key = optarg;
            break;
        case 'R':
            o->revoked_cert = optarg;
            break;
        case 'K':
            o->revoked_key = optarg;
            break;
        case 'o':
            o->output = optarg;
            break;
        case 'g':
            o->agent_config = optarg;
            break;
        case 'n':
            o->name = optarg;
            break;
        case 's':
            o->server_name = optarg;
            break;
        case 't':
            if (mk_parse_long(optarg, 1, 3600, &o->timeout_s) != 0) {
                return ctl_usage_error("probe", "--timeout: expected seconds 1..3600, got '%s'", optarg);
            }
            break;
        case 'j':
            if (mk_parse_long(optarg, 1, 64, &o->concurrency) != 0) {
                return ctl_usage_error("probe", "--concurrency: expected 1..64, got '%s'", optarg);
            }
            break;
        case 'f':
            if (strcmp(optarg, "table") == 0) {
                o->format = PROBE_FORMAT_TABLE;
            } else if (strcmp(optarg, "json") == 0) {
                o->format = PROBE_FORMAT_JSON;
            } else if (strcmp(optarg, "junit") == 0) {
                o->format = PROBE_FORMAT_JUNIT;
            } else if (strcmp(optarg, "prometheus") == 0) {
                o->format = PROBE_FORMAT_PROMETHEUS;
            } else {
                return ctl_usage_error("probe", "--format: expected table, json, junit or prometheus, got '%s'",
                                   optarg);
            }
            break;
        case 'q':
        case 'v':
            if (ctl_verbosity_option("probe", ch) != 0) {
                return CTL_EXIT_USAGE;
            }
            break;
        case 'h':
            usage_line(stdout);
            return -1;
        case ':':
        default:
            return ctl_option_error("probe", ch, argc, argv);
        }
    }
    if (optind < argc) {
        return ctl_usage_error("probe", "unexpected argument '%s'", argv[optind]);
    }
    if ((o->bootstrap == NULL) == (o->cluster_arn == NULL)) {
        return ctl_usage_error("probe", "give exactly one of --bootstrap and --cluster-arn");
    }
    if (o->cluster_arn == NULL &&
        (o->region != NULL || o->endpoint_url != NULL || o->profile != NULL)) {
        return ctl_usage_error("probe", "--region, --endpoint-url and --profile go with --cluster-arn");
    }
    if (o->cluster_arn != NULL && strncmp(o->cluster_arn, "arn:", 4) != 0) {
        return ctl_usage_error("probe", "--cluster-arn: '%s' is not an ARN", o->cluster_arn);
    }
    if (o->ca_file == NULL) {
        return ctl_usage_error("probe", "--ca-file is required");
    }
    if ((o->cert == NULL) != (o->key == NULL)) {
        return ctl_usage_error("probe", "--cert and --key go together");
    }
    if ((o->revoked_cert == NULL) != (o->revoked_key == NULL)) {
        return ctl_usage_error("probe", "--revoked-cert and --revoked-key go together");
    }
    if ((o->agent_config == NULL) != (o->name == NULL)) {
        return ctl_usage_error("probe", "--agent-config and --name go together");
    }
    if (o->cert != NULL && o->agent_config != NULL) {
        return ctl_usage_error("probe", "give --cert/--key or --agent-config/--name, not both");
    }
    return 0;
}

int ctl_probe_main(int argc, char **argv)
{
    struct probe_opts o;
    struct probe_run run;
    struct mk_err err = {0};
    struct probe_result *all = NULL;
    pthread_t threads[64];
    size_t n_threads = 0;
    char *list = NULL;
    char *plain_list = NULL;
    struct probe_broker *plain = NULL;
    int rc = parse_args(argc, argv, &o);
    if (rc != 0) {
        return rc < 0 ? CTL_EXIT_OK : rc;
    }
    memset(&run, 0, sizeof(run));
    run.opts = &o;
    pthread_mutex_init(&run.lock, NULL);
    /* The report is the output: library chatter (credential source, ...) only with --verbose. */
    ctl_log_begin(0);
    /* A broker that closes while we write must not kill us: the close is a result. */
    signal(SIGPIPE, SIG_IGN);

    rc = CTL_EXIT_USAGE;
    if (o.cluster_arn != NULL) {
        if (fetch_bootstrap(&o, &list, &plain_list, &err) != 0) {
            ctl_print_err("probe", &err);
            rc = err.code == MK_ERR_USAGE ? CTL_EXIT_USAGE : CTL_EXIT_UNAVAILABLE;
            goto out;
        }
    }
    long n = probe_parse_brokers(list != NULL ? list : o.bootstrap, &run.brokers, &err);
    if (n < 0) {
        rc = list != NULL ? CTL_EXIT_UNAVAILABLE : CTL_EXIT_USAGE;
        ctl_print_err("probe", &err);
        goto out;
    }
    run.n_brokers = (size_t)n;
    run.tls_list = list != NULL ? list : o.bootstrap;
    /* --plaintext-bootstrap wins over what GetBootstrapBrokers says. */
    const char *plain_src = o.plaintext_bootstrap != NULL ? o.plaintext_bootstrap : plain_list;
    if (plain_src != NULL) {
        long np = probe_parse_brokers(plain_src, &plain, &err);
        if (np < 0) {
            rc = o.plaintext_bootstrap != NULL ? CTL_EXIT_USAGE : CTL_EXIT_UNAVAILABLE;
            fprintf(stderr, "mskpkictl probe: %s%s\n",
                    o.plaintext_bootstrap != NULL ? "--plaintext-bootstrap: " : "", err.msg);
            goto out;
        }
        struct probe_broker *all_b =
            realloc(run.brokers, ((size_t)n + (size_t)np) * sizeof(*run.brokers));
        if (all_b == NULL) {
            fprintf(stderr, "mskpkictl probe: out of memory\n");
            rc = CTL_EXIT_UNAVAILABLE;
            goto out;
        }
        run.brokers = all_b;
        for (long i = 0; i < np; i++) {
            plain[i].plaintext = 1;
        }
        memcpy(run.brokers + n, plain, (size_t)np * sizeof(*plain));
        run.n_plaintext = (size_t)np;
        run.n_brokers += (size_t)np;
    }
    if (build_contexts(&run, &err) != 0) {
        ctl_print_err("probe", &err);
        rc = err.code == MK_ERR_NOMEM || err.code == MK_ERR_CRYPTO ? CTL_EXIT_UNAVAILABLE
                                                                   : CTL_EXIT_USAGE;
        goto out;
    }
    uint32_t rnd = 0;
    (void)RAND_bytes((unsigned char *)&rnd, sizeof(rnd));
    run.correlation_base = (int32_t)(rnd & 0x3fffffff);
    size_t want = (size_t)o.concurrency < run.n_brokers ? (size_t)o.concurrency : run.n_brokers;
    for (; n_threads < want; n_threads++) {
        if (pthread_create(&threads[n_threads], NULL, worker, &run) != 0) {
            break;
        }
    }
    if (n_threads == 0) {
        worker(&run);
    }
    for (size_t i = 0; i < n_threads; i++) {
        pthread_join(threads[i], NULL);
    }
    size_t total = 0;
    all = calloc(run.n_brokers * PROBE_RESULTS_PER_BROKER, sizeof(*all));
    if (all == NULL) {
        fprintf(stderr, "mskpkictl probe: out of memory\n");
        rc = CTL_EXIT_UNAVAILABLE;
        goto out;
    }
    for (size_t i = 0; i < run.n_brokers; i++) {
        memcpy(all + total, run.brokers[i].results,
               run.brokers[i].n_results * sizeof(struct probe_result));
        total += run.brokers[i].n_results;
    }
    if (write_report(&o, all, total, &err) != 0) {
        ctl_print_err("probe", &err);
        rc = CTL_EXIT_UNAVAILABLE;
        goto out;
    }
    rc = probe_exit_code(all, total);
out:
    for (int c = 0; c < PROBE_CASE__MAX; c++) {
        SSL_CTX_free(run.ctx[c]);
    }
    pthread_mutex_destroy(&run.lock);
    free(all);
    free(run.brokers);
    free(plain);
    free(list);
    free(plain_list);
    return rc;
}
