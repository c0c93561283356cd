/* check.c: --check-config (see check.h and docs/agent.md). */
#include "agent/check.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "aws/arn.h"
#include "aws/aws.h"
#include "ca/ca.h"
#include "conf/conf.h"
#include "conf/paths.h"
#include "pki/secret.h"

enum check_status { CHECK_OK, CHECK_FAIL, CHECK_SKIP };

static const char *const status_names[] = {"ok", "fail", "skip"};

/* Results so far: name, status, one-line message.  Kept in a JSON array for both formats. */
struct checks {
    json_t *list;
    int failed_offline;
    int failed_online;
};

static void add(struct checks *c, int online, const char *name, enum check_status st,
                const char *fmt, ...) MK_PRINTF(5, 6);
static void add(struct checks *c, int online, const char *name, enum check_status st,
                const char *fmt, ...)
{
    char msg[sizeof(((struct mk_err *)0)->msg) + 256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (st == CHECK_FAIL) {
        if (online) {
            c->failed_online = 1;
        } else {
            c->failed_offline = 1;
        }
    }
    /* json_array_append_new steals the reference; a NULL from jansson (no memory) is dropped
     * there, and the failure flags above still decide the exit. */
    (void)json_array_append_new(c->list, json_pack("{s:s, s:s, s:s, s:b}", "name", name, "status",
                                                   status_names[st], "message", msg, "online",
                                                   online));
}

/* The hook program: there, a regular file with an execute bit, and trusted (conf_check_hook:
 * owners up to /, not beneath state_dir). */
static void check_hook(struct checks *c, const struct conf *cfg, const struct conf_certificate *cc,
                       const struct conf_agent_user *u, const char *name)
{
    const char *prog = cc->hook.argv[0]; /* "/bin/sh" for a shell hook */
    struct mk_err err;
    struct stat st;

    /* Trust first: its messages name a program beneath state_dir or in an unsafe directory
     * before whether it exists. */
    if (u != NULL && conf_check_hook(cfg, cc, u, &err) != 0) {
        add(c, 0, name, CHECK_FAIL, "%s", err.msg);
        return;
    }
    if (stat(prog, &st) != 0) {
        add(c, 0, name, CHECK_FAIL, "%s: certificate '%s': hook program %s: %s", cfg->path,
            cc->name, prog, strerror(errno));
        return;
    }
    if (!S_ISREG(st.st_mode) || (st.st_mode & 0111) == 0) {
        add(c, 0, name, CHECK_FAIL,
            "%s: certificate '%s': hook program %s is not an executable file (mode %04o); run: "
            "chmod 755 %s",
            cfg->path, cc->name, prog, (unsigned)(st.st_mode & 07777), prog);
        return;
    }
    if (u == NULL) {
        add(c, 0, name, CHECK_SKIP, "ownership not checked: agent.user did not resolve");
        return;
    }
    add(c, 0, name, CHECK_OK, "%s", prog);
}

/* The store makes output.directory itself, not its parents. */
static void check_output_parent(struct checks *c, const struct conf *cfg,
                                const struct conf_certificate *cc, const char *name)
{
    char buf[PATH_MAX];
    struct stat st;
    const char *parent;

    snprintf(buf, sizeof(buf), "%s", cc->output.directory);
    parent = dirname(buf);
    if (stat(parent, &st) != 0) {
        add(c, 0, name, CHECK_FAIL,
            "%s: certificate '%s': the parent of output.directory %s, %s: %s; create it "
            "(the agent makes the last level only)",
            cfg->path, cc->name, cc->output.directory, parent,
            errno == ENOENT ? "does not exist" : strerror(errno));
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        add(c, 0, name, CHECK_FAIL,
            "%s: certificate '%s': the parent of output.directory %s, %s, is not a directory",
            cfg->path, cc->name, cc->output.directory, parent);
        return;
    }
    add(c, 0, name, CHECK_OK, "%s", parent);
}

/* Read as the key process reads it: present, not empty, owner and mode as pki/secret.c wants
 * (the message carries the command that fixes it).  The secret is wiped at once. */
static void check_secret(struct checks *c, const struct conf *cfg,
                         const struct conf_certificate *cc, const char *field, const char *path)
{
    char name[256];
    struct pki_secret *s;
    struct mk_err err;

    snprintf(name, sizeof(name), "certificate.%s.%s", cc->name, field);
    if (path == NULL) {
        return;
    }
    s = pki_secret_read_file(path, &err);
    if (s == NULL) {
        add(c, 0, name, CHECK_FAIL, "%s: certificate '%s': %s: %s", cfg->path, cc->name, field,
            err.msg);
        return;
    }
    pki_secret_free(s);
    add(c, 0, name, CHECK_OK, "%s", path);
}

static void check_certificate(struct checks *c, const struct conf *cfg,
                              const struct conf_certificate *cc, const struct conf_agent_user *u)
{
    char name[256];

    if (cc->hook.argv != NULL) {
        snprintf(name, sizeof(name), "certificate.%s.hook", cc->name);
        check_hook(c, cfg, cc, u, name);
    }
    snprintf(name, sizeof(name), "certificate.%s.output_parent", cc->name);
    check_output_parent(c, cfg, cc, name);
    check_secret(c, cfg, cc, "key_passphrase_file", cc->output.key_passphrase_file);
    check_secret(c, cfg, cc, "pkcs12_password_file", cc->output.pkcs12_password_file);
}

/* --online, aws-pca: the credentials chain, then DescribeCertificateAuthority for each
 * certificate's validity (pki_ca_check: ACTIVE, usage mode, NotAfter). */
static void check_online(struct checks *c, const struct conf *cfg)
{
    const struct pki_ca_aws_pca_config *p = &cfg->ca.aws_pca;
    struct aws_client_options o;
    struct aws_client *client = NULL;
    struct pki_ca *ca = NULL;
    struct mk_err err;
    char name[256];
    char region[64];

    if (cfg->ca.type != CONF_CA_AWS_PCA) {
        add(c, 1, "ca.online", CHECK_SKIP, "the local CA needs no network");
        return;
    }
    memset(&o, 0, sizeof(o));
    o.region = p->region != NULL ? p->region
               : aws_arn_region(p->ca_arn, region, sizeof(region)) != NULL ? region
                                                                          : NULL;
    o.profile = p->profile;
    o.endpoint_url = p->endpoint_url;
    o.endpoint_service = "acm-pca";
    o.ca_bundle = p->ca_bundle;
    o.allow_insecure_http = p->allow_insecure_http;
    o.credential_process_timeout_ms = p->credential_process_timeout_seconds * 1000;
    client = aws_client_new(&o, &err);
    if (client == NULL || aws_client_check_credentials(client, &err) != 0) {
        add(c, 1, "aws.credentials", CHECK_FAIL, "aws: credentials: %s", err.msg);
        goto out;
    }
    add(c, 1, "aws.credentials", CHECK_OK, "region %s", aws_client_region(client));
    ca = pki_ca_aws_pca_new(p, &err);
    if (ca == NULL) {
        add(c, 1, "ca.describe", CHECK_FAIL, "%s", err.msg);
        goto out;
    }
    for (size_t i = 0; i < cfg->n_certs; i++) {
        const struct conf_certificate *cc = &cfg->certs[i];
        snprintf(name, sizeof(name), "certificate.%s.ca", cc->name);
        if (pki_ca_check(ca, cc->validity_seconds, &err) != 0) {
            add(c, 1, name, CHECK_FAIL, "certificate '%s' (validity %ld s): %s", cc->name,
                cc->validity_seconds, err.msg);
        } else {
            add(c, 1, name, CHECK_OK, "%s can issue %ld s", p->ca_arn, cc->validity_seconds);
        }
    }
out:
    pki_ca_free(ca);
    aws_client_free(client);
}

static int report(struct checks *c, const char *path, const struct conf *cfg, int json)
{
    int rc = c->failed_offline ? AGENT_CHECK_CONFIG
             : c->failed_online ? AGENT_CHECK_ONLINE
                                : AGENT_CHECK_OK;
    size_t i;
    json_t *v;

    if (json) {
        json_t *doc = json_pack("{s:s, s:s, s:i, s:O}", "config", path, "status",
                                rc == AGENT_CHECK_OK ? "ok" : "fail", "exit", rc, "checks",
                                c->list);
        char *text = doc != NULL ? json_dumps(doc, JSON_INDENT(2)) : NULL;
        if (text == NULL) {
            fprintf(stderr, "mskpki-agent: out of memory\n");
            json_decref(doc);
            return AGENT_CHECK_CONFIG;
        }
        printf("%s\n", text);
        free(text);
        json_decref(doc);
        return rc;
    }
    json_array_foreach(c->list, i, v)
    {
        if (strcmp(json_string_value(json_object_get(v, "status")), "fail") == 0) {
            fprintf(stderr, "mskpki-agent: %s\n", json_string_value(json_object_get(v, "message")));
        }
    }
    if (rc == AGENT_CHECK_OK) {
        printf("%s: ok (%zu certificate(s), %zu checks)\n", path, cfg->n_certs,
               json_array_size(c->list));
    }
    return rc;
}

int agent_check_config(const char *path, int online, int json)
{
    struct checks c = {json_array(), 0, 0};
    struct conf_agent_user u;
    struct conf *cfg = NULL;
    struct mk_err err;
    int user_ok = 0;
    int rc;

    if (c.list == NULL || pki_sodium_init(&err) != 0) {
        fprintf(stderr, "mskpki-agent: cannot start the checks\n");
        json_decref(c.list);
        return AGENT_CHECK_CONFIG;
    }
    cfg = conf_load(path, &err);
    if (cfg == NULL) {
        /* Nothing else can be checked without it. */
        add(&c, 0, "config", CHECK_FAIL, "%s", err.msg);
        rc = report(&c, path, NULL, json);
        json_decref(c.list);
        return rc;
    }
    add(&c, 0, "config", CHECK_OK, "%zu certificate(s)", cfg->n_certs);
    /* A CA left at the old default place would be replaced by a new root at the first start. */
    if (conf_check_local_ca_moved(cfg, &err) != 0) {
        add(&c, 0, "ca.local.directory", CHECK_FAIL, "%s", err.msg);
    }
    if (conf_agent_user_resolve(cfg, &u, &err) != 0) {
        add(&c, 0, "agent.user", CHECK_FAIL, "%s", err.msg);
    } else {
        user_ok = 1;
        add(&c, 0, "agent.user", CHECK_OK, "%s", u.drop ? u.name : "the caller's user");
        /* The hooks are checked one by one below. */
        if (conf_check_dirs(cfg, &u, &err) != 0) {
            add(&c, 0, "paths", CHECK_FAIL, "%s", err.msg);
        } else {
            add(&c, 0, "paths", CHECK_OK, "state_dir and output directories trusted");
        }
    }
    for (size_t i = 0; i < cfg->n_certs; i++) {
        check_certificate(&c, cfg, &cfg->certs[i], user_ok ? &u : NULL);
    }
    if (cfg->ca.type == CONF_CA_AWS_PCA) {
        /* conf_load refused a region that differs from the ARN's. */
        char region[64];
        const char *r = cfg->ca.aws_pca.region;
        if (r == NULL && aws_arn_region(cfg->ca.aws_pca.ca_arn, region, sizeof(region)) != NULL) {
            r = region;
        }
        add(&c, 0, "ca.region", CHECK_OK, "%s", r != NULL ? r : "from the environment");
        /* The usage mode (a short-lived CA issues for 7 days at most) is the CA's, not the
         * configuration's: only DescribeCertificateAuthority tells it. */
        if (!online) {
            add(&c, 0, "ca.validity", CHECK_SKIP,
                "the CA's usage mode and expiry are checked with --online");
        }
    }
    if (online) {
        check_online(&c, cfg);
    }
    rc = report(&c, path, cfg, json);
    json_decref(c.list);
    conf_free(cfg);
    return rc;
}
