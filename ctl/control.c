/* control.c: mskpkictl renew, reload, and the control socket's other callers (see control.h). */
#include "ctl/control.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "ctl/ctl.h"
#include "ctl/output.h"
#include "issue/control.h"
#include "issue/issue.h"
#include "issue/lock.h"
#include "pki/cert.h"

static const char *str_or(json_t *o, const char *key, const char *dflt)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v != NULL ? v : dflt;
}

/* One request to the agent of cfg.  Returns 0 with *ans, 1 (no agent), or -1 (message printed);
 * *status is the exit status for the last two.  No agent is an error (one line printed) unless
 * the caller does the work itself then (fallback: cert issue and revoke). */
static int call(const char *cmd, const struct conf *cfg, json_t *req, json_t **ans, int *status,
                int fallback)
{
    struct mk_err err;
    int r = issue_control_call(cfg->control_socket, cfg->state_dir, req, ans, &err);

    if (r == 1 && !fallback) {
        fprintf(stderr,
                "mskpkictl %s: no mskpki-agent of state_dir %s answers on control.socket '%s' "
                "(is it running?)\n",
                cmd, cfg->state_dir, cfg->control_socket);
        *status = CTL_EXIT_UNAVAILABLE;
    } else if (r == 1) {
        *status = CTL_EXIT_UNAVAILABLE;
    } else if (r < 0) {
        fprintf(stderr, "mskpkictl %s: %s\n", cmd, err.msg);
        *status = err.code == MK_ERR_PERM || err.code == MK_ERR_IO ? CTL_EXIT_UNAVAILABLE
                  : err.code == MK_ERR_NOTFOUND || err.code == MK_ERR_USAGE ? CTL_EXIT_USAGE
                                                                             : CTL_EXIT_FINDINGS;
    }
    return r;
}

/* Loads the config for cmd; NULL after one line on stderr with *status set (2 or 3). */
static struct conf *load(const char *cmd, const char *path, int *status)
{
    struct mk_err err;
    struct conf *cfg = conf_load(path, &err);

    if (cfg == NULL) {
        fprintf(stderr, "mskpkictl %s: %s\n", cmd, err.msg);
        *status = err.code == MK_ERR_CONFIG ? CTL_EXIT_USAGE : CTL_EXIT_UNAVAILABLE;
    }
    return cfg;
}

/* "NAME: renewed, serial S, not after T" or "NAME: failed: ERROR". */
static int print_result(json_t *r)
{
    char na[40];
    int ok = json_is_true(json_object_get(r, "renewed"));

    if (ok) {
        ctl_time_rfc3339((long long)json_integer_value(json_object_get(r, "not_after")), na,
                         sizeof(na));
        printf("%s: renewed, serial %s, generation %lld, not after %s\n", str_or(r, "name", "?"),
               str_or(r, "serial", "?"), (long long)json_integer_value(json_object_get(r, "generation")),
               na);
    } else {
        printf("%s: failed: %s\n", str_or(r, "name", "?"), str_or(r, "last_error", "not ready"));
    }
    return ok;
}

static const char renew_usage[] =
    "usage: mskpkictl renew [--config FILE] NAME... | --all\n"
    "  asks the running mskpki-agent to renew now and waits: exit 0 renewed, 1 failed,\n"
    "  3 no agent running\n";

int ctl_renew_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"all", no_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = CONF_DEFAULT_PATH;
    struct conf *cfg = NULL;
    json_t *req = NULL;
    json_t *ans = NULL;
    json_t *names = NULL;
    json_t *r;
    size_t idx;
    int all = 0;
    int status = CTL_EXIT_UNAVAILABLE;
    int ch;

    if (ctl_options_begin("renew", argc, argv, longopts) != 0) {
        return CTL_EXIT_USAGE;
    }
    while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            config = optarg;
            break;
        case 'a':
            all = 1;
            break;
        case 'h':
            fputs(renew_usage, stdout);
            return CTL_EXIT_OK;
        case ':':
        default:
            return ctl_option_error("renew", ch, argc, argv);
        }
    }
    if (all == (optind < argc)) {
        return ctl_usage_error("renew", "give certificate names or --all, not both or neither");
    }
    if ((cfg = load("renew", config, &status)) == NULL) {
        return status;
    }
    names = json_array();
    for (int i = optind; names != NULL && i < argc; i++) {
        if (conf_find_certificate(cfg, argv[i]) == NULL) {
            status = ctl_usage_error("renew", "no certificate named '%s' in %s", argv[i], config);
            goto out;
        }
        json_array_append_new(names, json_string(argv[i]));
    }
    req = all ? json_pack("{s:s, s:b}", "cmd", "renew", "all", 1)
              : json_pack("{s:s, s:O}", "cmd", "renew", "names", names);
    if (req == NULL) {
        fprintf(stderr, "mskpkictl renew: out of memory\n");
        goto out;
    }
    if (call("renew", cfg, req, &ans, &status, 0) != 0) {
        goto out;
    }
    status = CTL_EXIT_OK;
    json_array_foreach(json_object_get(ans, "results"), idx, r) {
        if (!print_result(r)) {
            status = CTL_EXIT_FINDINGS;
        }
    }
out:
    json_decref(ans);
    json_decref(req);
    json_decref(names);
    conf_free(cfg);
    return status;
}

int ctl_reload_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = CONF_DEFAULT_PATH;
    struct conf *cfg = NULL;
    json_t *req = NULL;
    json_t *ans = NULL;
    int status = CTL_EXIT_UNAVAILABLE;
    int ch;

    if (ctl_options_begin("reload", argc, argv, longopts) != 0) {
        return CTL_EXIT_USAGE;
    }
    while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            config = optarg;
            break;
        case 'h':
            fputs("usage: mskpkictl reload [--config FILE]\n"
                  "  asks the running mskpki-agent to reload its configuration (as SIGHUP does)"
                  " and\n  reports the outcome: exit 0 reloaded, 1 refused (the old one stays),"
                  " 3 no agent\n",
                  stdout);
            return CTL_EXIT_OK;
        case ':':
        default:
            return ctl_option_error("reload", ch, argc, argv);
        }
    }
    if (optind < argc) {
        return ctl_usage_error("reload", "unexpected argument '%s'", argv[optind]);
    }
    /* The agent reads the file itself: a copy here that fails to parse is only its report. */
    if ((cfg = load("reload", config, &status)) == NULL) {
        return status;
    }
    req = json_pack("{s:s}", "cmd", "reload");
    if (req != NULL && call("reload", cfg, req, &ans, &status, 0) == 0) {
        printf("reloaded %s\n", str_or(ans, "config", config));
        status = CTL_EXIT_OK;
    }
    json_decref(ans);
    json_decref(req);
    conf_free(cfg);
    return status;
}

int ctl_control_status(const struct conf *cfg, json_t **certs, struct mk_err *err)
{
    json_t *req = json_pack("{s:s}", "cmd", "status");
    json_t *ans = NULL;
    int r;

    if (req == NULL) {
        mk_err_set(err, MK_ERR_NOMEM, "out of memory");
        return -1;
    }
    r = issue_control_call(cfg->control_socket, cfg->state_dir, req, &ans, err);
    json_decref(req);
    if (r != 0) {
        return r;
    }
    if (!json_is_array(json_object_get(ans, "certificates"))) {
        mk_err_set(err, MK_ERR_INVALID, "%s: the agent's status has no certificates",
                   cfg->control_socket);
        json_decref(ans);
        return -1;
    }
    *certs = json_incref(json_object_get(ans, "certificates"));
    json_decref(ans);
    return 0;
}

int ctl_control_cert_issue(const struct conf *cfg, const char *name)
{
    json_t *req = json_pack("{s:s, s:[s]}", "cmd", "renew", "names", name);
    json_t *ans = NULL;
    json_t *r;
    char na[40];
    int status = CTL_EXIT_FINDINGS;

    if (req == NULL) {
        return CTL_EXIT_UNAVAILABLE;
    }
    if (call("cert issue", cfg, req, &ans, &status, 1) == 1) {
        status = -1; /* no agent: the caller issues itself */
        goto out;
    }
    if (ans == NULL) {
        goto out;
    }
    r = json_array_get(json_object_get(ans, "results"), 0);
    if (!json_is_true(json_object_get(r, "renewed"))) {
        fprintf(stderr, "mskpkictl cert issue: the running agent failed to issue %s: %s\n", name,
                str_or(r, "last_error", "not ready"));
        status = CTL_EXIT_FINDINGS;
        goto out;
    }
    ctl_time_rfc3339((long long)json_integer_value(json_object_get(r, "not_after")), na,
                     sizeof(na));
    printf("issued %s: serial %s, generation %lld, not after %s (by the running agent)\n"
           "  subject %s\n  written to %s\n",
           name, str_or(r, "serial", "?"),
           (long long)json_integer_value(json_object_get(r, "generation")), na,
           str_or(r, "subject", "?"), str_or(r, "cert_path", "?"));
    status = CTL_EXIT_OK;
out:
    json_decref(ans);
    json_decref(req);
    return status;
}

int ctl_control_lock(const struct conf *cfg, const char *cmd, int *fd)
{
    struct mk_err err;
    pid_t holder = 0;
    int r = issue_lock_take(cfg->state_dir, fd, &holder, &err);

    if (r < 0) {
        fprintf(stderr, "mskpkictl %s: %s\n", cmd, err.msg);
        return ctl_exit_for(&err);
    }
    if (r == 1) {
        fprintf(stderr,
                "mskpkictl %s: state_dir %s is in use by process %ld (mskpki-agent --once or "
                "--renew, or another cert issue); try again when it has ended\n",
                cmd, cfg->state_dir, (long)holder);
        return CTL_EXIT_UNAVAILABLE;
    }
    return CTL_EXIT_OK;
}

int ctl_control_cert_revoke(const struct conf *cfg, X509 *cert, const char *reason,
                            const char *mode)
{
    json_t *req = NULL;
    json_t *ans = NULL;
    json_t *rep;
    char *pem = NULL;
    long len;
    BIO *bio = BIO_new(BIO_s_mem());
    int status = CTL_EXIT_UNAVAILABLE;

    if (bio == NULL || PEM_write_bio_X509(bio, cert) != 1 || (len = BIO_get_mem_data(bio, &pem)) <= 0) {
        fprintf(stderr, "mskpkictl cert revoke: cannot encode the certificate\n");
        goto out;
    }
    req = json_pack("{s:s, s:s%, s:s, s:s?}", "cmd", "revoke", "cert", pem, (size_t)len, "reason",
                    reason, "mode", mode);
    if (req == NULL) {
        goto out;
    }
    if (call("cert revoke", cfg, req, &ans, &status, 1) == 1) {
        status = -1;
        goto out;
    }
    if (ans == NULL) {
        goto out;
    }
    rep = json_object_get(ans, "replaced");
    if (json_is_object(rep)) {
        printf("replaced %s first: new serial %s\n", str_or(rep, "name", "?"),
               str_or(rep, "serial", "?"));
    }
    printf("revoked serial %s (%s) through the %s CA of the running agent\n",
           str_or(ans, "serial", "?"), reason, str_or(ans, "ca", "?"));
    status = CTL_EXIT_OK;
out:
    json_decref(ans);
    json_decref(req);
    BIO_free(bio);
    return status;
}

const char *ctl_control_cert_in_use(const struct conf *cfg, X509 *cert)
{
    const ASN1_INTEGER *serial = X509_get0_serialNumber(cert);

    for (size_t i = 0; i < cfg->n_certs; i++) {
        char path[1024];
        struct mk_err err;
        X509 *cur;
        int same;
        if (issue_cert_path(&cfg->certs[i], path, sizeof(path)) != 0 ||
            access(path, F_OK) != 0 || (cur = pki_cert_load_file(path, &err)) == NULL) {
            continue;
        }
        same = ASN1_INTEGER_cmp(X509_get0_serialNumber(cur), serial) == 0 &&
               X509_NAME_cmp(X509_get_issuer_name(cur), X509_get_issuer_name(cert)) == 0;
        X509_free(cur);
        if (same) {
            return cfg->certs[i].name;
        }
    }
    return NULL;
}
