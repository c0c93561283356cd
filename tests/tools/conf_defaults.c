/*
 * conf_defaults.c: prints, as one JSON object, the value conf_load() gives every setting that
 * CONFIG leaves out, keyed by the setting's dotted name in docs/config.md ("retry.min",
 * "certificates.renew.fraction"; certificate settings from the first certificate).  Durations
 * are seconds, modes octal strings.  tests/docs/test_config_defaults.py compares them with the
 * defaults docs/config.md states, so the two cannot drift apart.
 *
 * usage: conf_defaults CONFIG
 */
#include <stdio.h>

#include <jansson.h>

#include "conf/conf.h"
#include "pki/key.h"
#include "pki/log.h"

static json_t *mode_str(mode_t m)
{
    char buf[8];
    snprintf(buf, sizeof(buf), "%04o", (unsigned)m);
    return json_string(buf);
}

int main(int argc, char **argv)
{
    struct mk_err err = {0};
    struct conf *cfg;
    json_t *o;
    int rc = 1;

    if (argc != 2) {
        fprintf(stderr, "usage: conf_defaults CONFIG\n");
        return 2;
    }
    cfg = conf_load(argv[1], &err);
    if (cfg == NULL) {
        fprintf(stderr, "conf_defaults: %s\n", err.msg);
        return 1;
    }
    const struct conf_certificate *c = &cfg->certs[0];
    const struct pki_ca_aws_pca_config *a = &cfg->ca.aws_pca;
    o = json_pack(
        "{s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:b, s:I, s:I, s:I, s:s, s:s, s:s, s:I, s:I,"
        " s:f, s:i, s:I, s:b}",
        "state_dir", cfg->state_dir, "metrics.listen", cfg->metrics_listen, "log.level",
        mk_log_level_name(cfg->log_level), "log.target",
        cfg->log_target == MK_LOG_SYSLOG ? "syslog" : "stderr", "retry.min",
        (json_int_t)cfg->retry_min_seconds, "retry.max", (json_int_t)cfg->retry_max_seconds,
        "agent.user", cfg->agent_user, "metrics.insecure", cfg->metrics.insecure,
        "metrics.connection_timeout", (json_int_t)cfg->metrics.connection_timeout_seconds,
        "metrics.max_connections", (json_int_t)cfg->metrics.max_connections,
        "metrics.max_connections_per_ip", (json_int_t)cfg->metrics.max_connections_per_ip,
        "ca.backend", cfg->ca.type == CONF_CA_LOCAL ? "local" : "aws-pca", "ca.local.directory",
        cfg->ca.local.directory, "ca.local.common_name", cfg->ca.local.common_name,
        "ca.local.validity", (json_int_t)cfg->ca.local.ca_validity_seconds,
        "ca.local.max_validity", (json_int_t)cfg->ca.local.max_validity_seconds,
        "ca.aws_pca.rate_per_second", a->rate_per_second, "ca.aws_pca.burst", a->burst,
        "ca.aws_pca.poll_timeout", (json_int_t)a->poll_timeout_seconds,
        "ca.aws_pca.allow_insecure_http", a->allow_insecure_http);
    if (o == NULL ||
        json_object_update_new(
            o, json_pack("{s:s, s:b, s:I, s:f, s:f, s:b, s:I, s:o, s:o, s:b, s:I}",
                         "certificates.key_type", pki_key_type_name(c->key_type),
                         "certificates.reuse_key", c->reuse_key, "certificates.validity",
                         (json_int_t)c->validity_seconds, "certificates.renew.fraction",
                         c->renew_fraction, "certificates.renew.jitter", c->jitter_fraction,
                         "certificates.revoke_replaced", c->revoke_replaced,
                         "certificates.revoke_grace", (json_int_t)c->revoke_grace_seconds,
                         "certificates.output.key_mode", mode_str(c->output.key_mode),
                         "certificates.output.cert_mode", mode_str(c->output.cert_mode),
                         "certificates.hook.shell", c->hook.shell, "certificates.hook.timeout",
                         (json_int_t)c->hook.timeout_seconds)) != 0) {
        fprintf(stderr, "conf_defaults: cannot build JSON\n");
        goto out;
    }
    if (json_dumpf(o, stdout, JSON_INDENT(1) | JSON_SORT_KEYS) != 0 || puts("") == EOF) {
        goto out;
    }
    rc = 0;
out:
    json_decref(o);
    conf_free(cfg);
    return rc;
}
