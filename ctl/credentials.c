/*
 * credentials.c: `mskpkictl credentials`, temporary AWS credentials from IAM Roles Anywhere for
 * the other AWS tools on the host, printed as credential_process JSON (Version 1).
 *
 * Two ways to name the certificate:
 *   --certificate NAME [--config F]   the agent's certificate NAME and the
 *                                     ca.aws_pca.roles_anywhere settings of F; the key is read
 *                                     from the certificate's output directory (so this needs
 *                                     the rights to read it)
 *   --certificate FILE --private-key FILE [--intermediates FILE] --trust-anchor-arn ARN
 *   --profile-arn ARN --role-arn ARN [--region R] [--endpoint URL] [--session-duration S]
 *                                     the flags of aws_signing_helper credential-process, so that
 *                                     a profile's credential_process line can switch to this
 *
 * With --certificate NAME the running agent is asked first, through its control socket
 * (control.socket): it hands out the Roles Anywhere session it signs with, so a process that may
 * not read the key (any member of the agent's group) gets credentials, and CreateSession is not
 * called once per tool.  Without an agent this process signs itself when it can read the key.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "aws/http.h"
#include "aws/rolesanywhere.h"
#include "conf/conf.h"
#include "ctl/ctl.h"
#include "issue/control.h"
#include "pki/cert.h"
#include "pki/key.h"
#include "pki/log.h"
#include "pki/secret.h"

struct cred_opts {
    const char *certificate;
    const char *config;
    const char *private_key;
    const char *intermediates;
    const char *trust_anchor_arn;
    const char *profile_arn;
    const char *role_arn;
    const char *region;
    const char *endpoint;
    const char *session_name;
    long duration;
};

static void usage(FILE *out)
{
    fprintf(out, "usage: mskpkictl credentials --certificate NAME [--config FILE]\n"
                 "       mskpkictl credentials --certificate FILE --private-key FILE\n"
                 "           [--intermediates FILE] --trust-anchor-arn ARN --profile-arn ARN\n"
                 "           --role-arn ARN [--region R] [--endpoint URL] [--session-duration S]\n"
                 "           [--role-session-name NAME]\n"
                 "Prints credential_process JSON from IAM Roles Anywhere CreateSession.\n");
}

static int usage_error(const char *fmt, ...) MK_PRINTF(1, 2);
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "mskpkictl credentials: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (try mskpkictl credentials --help)\n");
    return CTL_EXIT_USAGE;
}

/* 0 parsed, 1 --help shown, or CTL_EXIT_USAGE. */
static int parse_args(int argc, char **argv, struct cred_opts *o)
{
    enum {
        O_CERT = 256,
        O_CONFIG,
        O_KEY,
        O_INTER,
        O_TA,
        O_PROFILE,
        O_ROLE,
        O_REGION,
        O_ENDPOINT,
        O_DURATION,
        O_SESSION
    };
    static const struct option longopts[] = {
        {"certificate", required_argument, NULL, O_CERT},
        {"config", required_argument, NULL, O_CONFIG},
        {"private-key", required_argument, NULL, O_KEY},
        {"intermediates", required_argument, NULL, O_INTER},
        {"trust-anchor-arn", required_argument, NULL, O_TA},
        {"profile-arn", required_argument, NULL, O_PROFILE},
        {"role-arn", required_argument, NULL, O_ROLE},
        {"region", required_argument, NULL, O_REGION},
        {"endpoint", required_argument, NULL, O_ENDPOINT},
        {"session-duration", required_argument, NULL, O_DURATION},
        {"role-session-name", required_argument, NULL, O_SESSION},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    char *end;
    memset(o, 0, sizeof(*o));
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (ch) {
        case O_CERT:
            o->certificate = optarg;
            break;
        case O_CONFIG:
            o->config = optarg;
            break;
        case O_KEY:
            o->private_key = optarg;
            break;
        case O_INTER:
            o->intermediates = optarg;
            break;
        case O_TA:
            o->trust_anchor_arn = optarg;
            break;
        case O_PROFILE:
            o->profile_arn = optarg;
            break;
        case O_ROLE:
            o->role_arn = optarg;
            break;
        case O_REGION:
            o->region = optarg;
            break;
        case O_ENDPOINT:
            o->endpoint = optarg;
            break;
        case O_SESSION:
            o->session_name = optarg;
            break;
        case O_DURATION:
            o->duration = strtol(optarg, &end, 10);
            if (*end != '\0' || o->duration < AWS_RA_DURATION_MIN ||
                o->duration > AWS_RA_DURATION_MAX) {
                return usage_error("--session-duration: '%s' is not %d to %d seconds", optarg,
                                   AWS_RA_DURATION_MIN, AWS_RA_DURATION_MAX);
            }
            break;
        case 'h':
            usage(stdout);
            return 1;
        case ':':
            return usage_error("%s needs a value", argv[optind - 1]);
        default:
            return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) {
        return usage_error("unexpected argument '%s'", argv[optind]);
    }
    if (o->private_key != NULL) {
        if (o->certificate == NULL || o->trust_anchor_arn == NULL || o->profile_arn == NULL ||
            o->role_arn == NULL) {
            return usage_error("--private-key needs --certificate, --trust-anchor-arn, "
                               "--profile-arn and --role-arn");
        }
        if (o->config != NULL) {
            return usage_error("--config names the certificate by name; it does not go with "
                               "--private-key");
        }
    } else if (o->intermediates != NULL || o->trust_anchor_arn != NULL || o->profile_arn != NULL ||
               o->role_arn != NULL || o->region != NULL || o->endpoint != NULL) {
        return usage_error("the aws_signing_helper flags need --private-key (without it, "
                           "the settings come from --config)");
    }
    return 0;
}

static int key_sign(void *arg, const char *amz_date, const char *region, const char *hash,
                    unsigned char **sig, size_t *sig_len, struct mk_err *err)
{
    return aws_ra_sign_fields(arg, amz_date, region, hash, sig, sig_len, err);
}

/* The intermediates of a chain file: the self-signed roots are the trust anchor's business. */
static STACK_OF(X509) * intermediates_of(const char *path, struct mk_err *err)
{
    STACK_OF(X509) *all = pki_certs_load_file(path, err);
    STACK_OF(X509) *out = NULL;
    X509 *x;
    if (all == NULL) {
        return NULL;
    }
    if ((out = sk_X509_new_null()) == NULL) {
        mk_err_set(err, MK_ERR_NOMEM, "out of memory");
        goto fail;
    }
    while ((x = sk_X509_shift(all)) != NULL) {
        if (X509_check_issued(x, x) == X509_V_OK || sk_X509_push(out, x) == 0) {
            X509_free(x);
        }
    }
    sk_X509_pop_free(all, X509_free);
    return out;
fail:
    sk_X509_pop_free(all, X509_free);
    sk_X509_free(out);
    return NULL;
}

/* The settings and files of the agent's certificate name in config. */
static int from_config(const struct cred_opts *o, struct conf **cfgp, struct aws_ra_params *p,
                       const char **name, char *cert_path, char *key_path, char *chain_path,
                       size_t size, const char **pass_path, struct mk_err *err)
{
    const char *path = o->config != NULL ? o->config : CONF_DEFAULT_PATH;
    struct conf *cfg = conf_load(path, err);
    if (cfg == NULL) {
        return -1;
    }
    *cfgp = cfg;
    const struct pki_ca_roles_anywhere_config *r = &cfg->ca.aws_pca.roles_anywhere;
    if (r->trust_anchor_arn == NULL) {
        mk_err_set(err, MK_ERR_CONFIG, "%s: ca.aws_pca.roles_anywhere is not configured", path);
        return -1;
    }
    *name = o->certificate != NULL ? o->certificate : r->certificate;
    const struct conf_certificate *cc = conf_find_certificate(cfg, *name);
    if (cc == NULL) {
        mk_err_set(err, MK_ERR_CONFIG, "%s: no certificate named '%s'", path, *name);
        return -1;
    }
    p->trust_anchor_arn = r->trust_anchor_arn;
    p->profile_arn = r->profile_arn;
    p->role_arn = r->role_arn;
    p->session_name = r->session_name;
    p->duration_seconds = o->duration > 0 ? o->duration : r->duration_seconds;
    p->endpoint_url = r->endpoint_url;
    p->ca_bundle = cfg->ca.aws_pca.ca_bundle;
    snprintf(cert_path, size, "%s/%s", cc->output.directory, cc->output.cert);
    snprintf(key_path, size, "%s/%s", cc->output.directory, cc->output.key);
    chain_path[0] = '\0';
    if (cc->output.chain != NULL) {
        snprintf(chain_path, size, "%s/%s", cc->output.directory, cc->output.chain);
    }
    *pass_path = cc->output.key_passphrase_file;
    return 0;
}

static int print_json(const struct aws_creds *c, struct mk_err *err)
{
    char exp[32];
    struct tm tm;
    time_t t = c->expiration;
    if (gmtime_r(&t, &tm) == NULL || strftime(exp, sizeof(exp), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
        mk_err_set(err, MK_ERR_INVALID, "credentials: bad expiration");
        return -1;
    }
    json_t *j = json_pack("{s:i, s:s, s:s, s:s, s:s}", "Version", 1, "AccessKeyId",
                          c->access_key_id, "SecretAccessKey", pki_secret_str(c->secret_access_key),
                          "SessionToken", pki_secret_str(c->session_token), "Expiration", exp);
    char *text = j != NULL ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    int rc = -1;
    if (text == NULL) {
        mk_err_set(err, MK_ERR_NOMEM, "out of memory");
    } else if (printf("%s\n", text) < 0 || fflush(stdout) != 0) {
        mk_err_errno(err, MK_ERR_IO, "stdout");
    } else {
        rc = 0;
    }
    if (text != NULL) {
        OPENSSL_cleanse(text, strlen(text));
        free(text);
    }
    json_decref(j);
    return rc;
}

/* The running agent's session: 0 printed, 1 no agent (sign here), -1 with err (it refused). */
static int from_agent(const struct conf *cfg, const char *name, struct mk_err *err)
{
    json_t *req = json_pack("{s:s, s:s}", "cmd", "credentials", "name", name);
    json_t *ans = NULL;
    char *text = NULL;
    int rc = -1;

    MK_ENSURE(req != NULL, err, MK_ERR_NOMEM, "out of memory");
    rc = issue_control_call(cfg->control_socket, cfg->state_dir, req, &ans, err);
    if (rc != 0) {
        goto out;
    }
    rc = -1;
    text = json_dumps(json_object_get(ans, "credentials"), JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    MK_ENSURE(text != NULL, err, MK_ERR_INVALID, "credentials: the agent's answer has none");
    MK_ENSURE_ERRNO(printf("%s\n", text) >= 0 && fflush(stdout) == 0, err, MK_ERR_IO, "stdout");
    rc = 0;
out:
    if (text != NULL) {
        OPENSSL_cleanse(text, strlen(text));
        free(text);
    }
    json_decref(ans);
    json_decref(req);
    return rc;
}

int ctl_credentials_main(int argc, char **argv)
{
    struct cred_opts o;
    struct conf *cfg = NULL;
    struct aws_ra_params p = {0};
    struct pki_secret *pass = NULL;
    struct aws_http *http = NULL;
    struct aws_creds *creds = NULL;
    X509 *leaf = NULL;
    STACK_OF(X509) *chain = NULL;
    EVP_PKEY *key = NULL;
    struct mk_err err = {0};
    char cert_path[4096];
    char key_path[4096];
    char chain_path[4096];
    const char *name = NULL;
    int rc = parse_args(argc, argv, &o);
    if (rc != 0) {
        return rc == 1 ? CTL_EXIT_OK : rc;
    }
    mk_log_setup(MK_LOG_WARN, MK_LOG_STDERR, "mskpkictl");
    rc = CTL_EXIT_UNAVAILABLE;
    if (pki_sodium_init(&err) != 0) {
        goto fail;
    }
    if (o.private_key != NULL) {
        p = (struct aws_ra_params){.trust_anchor_arn = o.trust_anchor_arn,
                                   .profile_arn = o.profile_arn,
                                   .role_arn = o.role_arn,
                                   .session_name = o.session_name,
                                   .duration_seconds = o.duration,
                                   .region = o.region,
                                   .endpoint_url = o.endpoint};
        snprintf(cert_path, sizeof(cert_path), "%s", o.certificate);
        snprintf(key_path, sizeof(key_path), "%s", o.private_key);
        snprintf(chain_path, sizeof(chain_path), "%s",
                 o.intermediates != NULL ? o.intermediates : "");
        name = o.certificate;
    } else {
        const char *pass_path = NULL;
        if (from_config(&o, &cfg, &p, &name, cert_path, key_path, chain_path, sizeof(cert_path),
                        &pass_path, &err) != 0) {
            goto fail;
        }
        /* The agent first: its caller need not read the key or its passphrase. */
        int r = from_agent(cfg, name, &err);
        if (r == 0) {
            rc = CTL_EXIT_OK;
            goto out;
        }
        if (r < 0) {
            rc = CTL_EXIT_FINDINGS;
            goto fail;
        }
        if (pass_path != NULL && (pass = pki_secret_read_file(pass_path, &err)) == NULL) {
            goto fail;
        }
    }
    if ((leaf = pki_cert_load_file(cert_path, &err)) == NULL ||
        (key = pki_key_load_file(key_path, pass, &err)) == NULL) {
        goto fail;
    }
    if (pki_cert_matches_key(leaf, key, &err) != 0) {
        mk_err_prefix(&err, "%s and %s", cert_path, key_path);
        goto fail;
    }
    if (chain_path[0] != '\0' && (chain = intermediates_of(chain_path, &err)) == NULL) {
        goto fail;
    }
    if ((http = aws_http_new(&err)) == NULL) {
        goto fail;
    }
    struct aws_ra_identity id = {leaf, chain, key_sign, key, name};
    rc = CTL_EXIT_FINDINGS;
    if ((creds = aws_ra_create_session(http, &p, &id, &err)) == NULL ||
        print_json(creds, &err) != 0) {
        goto fail;
    }
    rc = CTL_EXIT_OK;
    goto out;
fail:
    fprintf(stderr, "mskpkictl credentials: %s\n", err.msg);
    if (err.code == MK_ERR_CONFIG || err.code == MK_ERR_IO || err.code == MK_ERR_NOTFOUND) {
        rc = CTL_EXIT_UNAVAILABLE;
    }
out:
    aws_creds_free(creds);
    aws_http_free(http);
    EVP_PKEY_free(key);
    X509_free(leaf);
    sk_X509_pop_free(chain, X509_free);
    pki_secret_free(pass);
    conf_free(cfg);
    return rc;
}
