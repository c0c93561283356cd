/*
 * test_conf.c: conf_load() on the example configs, on good files in tests/data/conf/ (values and
 * defaults), and on one bad file per validation rule, asserting the exact "file:line: setting: "
 * prefix of the one-line error.  Also conf_parse_duration() and conf_find_certificate(), and
 * `mskpki-agent --check-config` on every bad file: exit status 2 and the same one-line error.
 */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "aws/arn.h"
#include "conf/conf.h"

/* An absolute path below the source tree; returns a static buffer (one at a time). */
static const char *src_path(const char *rel)
{
    static char buf[4096];
    const char *root = getenv("MSKPKI_SOURCE_DIR");
    assert_non_null(root);
    int n = snprintf(buf, sizeof(buf), "%s/%s", root, rel);
    assert_true(n > 0 && (size_t)n < sizeof(buf));
    return buf;
}

static struct conf *load_ok(const char *rel)
{
    struct mk_err err;
    struct conf *cfg = conf_load(src_path(rel), &err);
    if (cfg == NULL) {
        fail_msg("%s: %s", rel, err.msg);
    }
    assert_int_equal(err.code, MK_OK);
    return cfg;
}

/* ---- example configs ---------------------------------------------------------------------- */

static void test_example_local_ca(void **state)
{
    (void)state;
    struct conf *cfg = load_ok("conf/local-ca.conf");
    assert_int_equal(cfg->ca.type, CONF_CA_LOCAL);
    assert_string_equal(cfg->ca.local.directory, "/var/lib/mskpki-demo/ca");
    assert_string_equal(cfg->ca.local.common_name, "mskpki demo CA");
    assert_int_equal(cfg->ca.local.ca_validity_seconds, 3650L * 86400);
    assert_int_equal(cfg->ca.local.max_validity_seconds, 365L * 86400);
    assert_string_equal(cfg->state_dir, "/var/lib/mskpki-demo/state");
    assert_string_equal(cfg->metrics_listen, "127.0.0.1:9464");
    assert_int_equal(cfg->n_certs, 1);
    const struct conf_certificate *c = &cfg->certs[0];
    assert_string_equal(c->name, "demo-client");
    assert_int_equal(c->validity_seconds, 90);
    assert_true(c->renew_fraction > 0.666 && c->renew_fraction < 0.667);
    assert_int_equal(c->renew_before_seconds, 0);
    assert_int_equal(c->key_type, PKI_KEY_EC_P256);
    assert_string_equal(c->output.directory, "/var/lib/mskpki-demo/out/demo-client");
    assert_non_null(c->output.key);
    assert_non_null(c->output.cert);
    assert_non_null(c->output.chain);
    assert_non_null(c->output.fullchain);
    assert_non_null(c->output.pkcs12);
    assert_string_equal(c->output.pkcs12_password_file, "/var/lib/mskpki-demo/p12.pass");
    assert_non_null(c->hook.argv);
    assert_int_equal(c->hook.shell, 0);
    assert_string_equal(c->hook.argv[0], "/bin/sh");
    assert_string_equal(c->hook.argv[1], "-c");
    assert_non_null(strstr(c->hook.argv[2], "$MSKPKI_CERT_NAME"));
    assert_null(c->hook.argv[3]);
    conf_free(cfg);
}

static void test_example_aws_pca(void **state)
{
    (void)state;
    struct conf *cfg = load_ok("conf/aws-pca.conf");
    assert_int_equal(cfg->ca.type, CONF_CA_AWS_PCA);
    assert_non_null(strstr(cfg->ca.aws_pca.ca_arn, ":certificate-authority/"));
    assert_string_equal(cfg->ca.aws_pca.region, "eu-west-1");
    assert_string_equal(cfg->ca.aws_pca.profile, "kafka");
    assert_null(cfg->ca.aws_pca.signing_algorithm);
    assert_int_equal(cfg->ca.aws_pca.burst, 5);
    assert_int_equal(cfg->ca.aws_pca.poll_timeout_seconds, 120);
    assert_int_equal(cfg->log_target, MK_LOG_SYSLOG);
    assert_int_equal(cfg->n_certs, 1);
    const struct conf_certificate *c = &cfg->certs[0];
    assert_int_equal(c->key_type, PKI_KEY_EC_P384);
    assert_int_equal(c->validity_seconds, 7L * 86400);
    assert_int_equal(c->renew_before_seconds, 2L * 86400);
    assert_int_equal(c->revoke_replaced, 1);
    assert_null(c->output.owner);
    assert_true(c->output.uid == (uid_t)-1);
    assert_int_equal(c->output.gid, 0);
    assert_int_equal(c->output.key_mode, 0640);
    assert_string_equal(c->hook.argv[0], "/bin/systemctl");
    conf_free(cfg);
}

static void test_roles_anywhere(void **state)
{
    (void)state;
    struct conf *cfg = load_ok("tests/data/conf/good_roles_anywhere.conf");
    const struct pki_ca_roles_anywhere_config *r = &cfg->ca.aws_pca.roles_anywhere;
    assert_non_null(strstr(r->trust_anchor_arn, ":trust-anchor/ta"));
    assert_non_null(strstr(r->profile_arn, ":profile/p"));
    assert_string_equal(r->role_arn, "arn:aws:iam::111122223333:role/mskpki-issuer");
    assert_string_equal(r->certificate, "kafka");
    assert_int_equal(r->duration_seconds, 7200);
    assert_string_equal(r->session_name, "host1");
    assert_string_equal(r->endpoint_url, "http://127.0.0.1:9");
    conf_free(cfg);
    /* Absent group: disabled. */
    cfg = load_ok("conf/aws-pca.conf");
    assert_null(cfg->ca.aws_pca.roles_anywhere.trust_anchor_arn);
    conf_free(cfg);
}

static void test_example_packaged(void **state)
{
    (void)state;
    struct conf *cfg = load_ok("conf/mskpki.conf");
    assert_int_equal(cfg->ca.type, CONF_CA_LOCAL);
    assert_string_equal(cfg->ca.local.directory, "/var/lib/mskpki/ca");
    assert_string_equal(cfg->state_dir, "/var/lib/mskpki/state");
    assert_int_equal(cfg->n_certs, 1);
    assert_string_equal(cfg->certs[0].output.directory, "/var/lib/mskpki/certs/client");
    assert_null(cfg->certs[0].hook.argv);
    conf_free(cfg);
}

/* ---- good files: values and defaults ------------------------------------------------------ */

static void test_defaults(void **state)
{
    (void)state;
    struct conf *cfg = load_ok("tests/data/conf/good_minimal.conf");
    assert_string_equal(cfg->path, src_path("tests/data/conf/good_minimal.conf"));
    assert_int_equal(cfg->ca.type, CONF_CA_LOCAL);
    /* Beside state_dir, not in it (the network process's sandbox hides the CA). */
    assert_string_equal(cfg->ca.local.directory, "/var/lib/mskpki-ca");
    assert_string_equal(cfg->ca.local.common_name, "mskpki local CA");
    assert_int_equal(cfg->ca.local.ca_validity_seconds, 3650L * 86400);
    /* No max_validity: the longest certificate validity (30 days here). */
    assert_int_equal(cfg->ca.local.max_validity_seconds, 30L * 86400);
    assert_null(cfg->ca.aws_pca.ca_arn);
    assert_true(cfg->ca.aws_pca.rate_per_second == 1.0);
    assert_int_equal(cfg->ca.aws_pca.burst, 5);
    assert_int_equal(cfg->ca.aws_pca.poll_timeout_seconds, 120);
    assert_null(cfg->ca.aws_pca.trust_anchor_file);
    assert_string_equal(cfg->state_dir, "/var/lib/mskpki");
    assert_string_equal(cfg->metrics_listen, "127.0.0.1:9464");
    assert_int_equal(cfg->log_level, MK_LOG_INFO);
    assert_int_equal(cfg->log_target, MK_LOG_STDERR);
    assert_int_equal(cfg->retry_min_seconds, 30);
    assert_int_equal(cfg->retry_max_seconds, 3600);

    const struct conf_certificate *c = &cfg->certs[0];
    assert_string_equal(c->name, "min");
    assert_string_equal(c->common_name, "min.example.com");
    assert_null(c->organization);
    assert_null(c->country);
    assert_int_equal(c->n_dns_names, 0);
    assert_int_equal(c->n_uris, 0);
    assert_int_equal(c->n_emails, 0);
    assert_int_equal(c->key_type, PKI_KEY_EC_P256);
    assert_int_equal(c->reuse_key, 0);
    assert_int_equal(c->validity_seconds, 30L * 86400);
    assert_true(c->renew_fraction > 0.6666 && c->renew_fraction < 0.6667);
    assert_int_equal(c->renew_before_seconds, 0);
    assert_true(c->jitter_fraction > 0.0999 && c->jitter_fraction < 0.1001);
    assert_int_equal(c->revoke_replaced, 0);
    assert_int_equal(c->revoke_grace_seconds, 3600);
    /* The trailing slash is dropped so that directories compare equal. */
    assert_string_equal(c->output.directory, "/tmp/mskpki-conf-test/min");
    assert_null(c->output.chain);
    assert_null(c->output.fullchain);
    assert_null(c->output.pkcs12);
    assert_null(c->output.pkcs12_alias);
    assert_null(c->output.owner);
    assert_true(c->output.uid == (uid_t)-1);
    assert_true(c->output.gid == (gid_t)-1);
    assert_int_equal(c->output.key_mode, 0600);
    assert_int_equal(c->output.cert_mode, 0644);
    assert_null(c->output.key_passphrase_file);
    assert_null(c->hook.argv);
    assert_int_equal(c->hook.timeout_seconds, 30);
    conf_free(cfg);
}

static void test_full(void **state)
{
    (void)state;
    struct conf *cfg = load_ok("tests/data/conf/good_full.conf");
    assert_int_equal(cfg->ca.type, CONF_CA_AWS_PCA);
    assert_string_equal(cfg->ca.local.directory, "/srv/ca");
    assert_string_equal(cfg->ca.local.common_name, "Test CA");
    assert_int_equal(cfg->ca.local.ca_validity_seconds, 365L * 86400);
    assert_int_equal(cfg->ca.local.max_validity_seconds, 30L * 86400);
    const struct pki_ca_aws_pca_config *a = &cfg->ca.aws_pca;
    assert_string_equal(a->ca_arn,
                        "arn:aws:acm-pca:eu-west-1:111122223333:certificate-authority/abc");
    assert_string_equal(a->region, "eu-west-1");
    assert_string_equal(
        a->template_arn,
        "arn:aws:acm-pca:::template/EndEntityClientAuthCertificate_APIPassthrough/V1");
    assert_string_equal(a->signing_algorithm, "SHA384WITHECDSA");
    assert_string_equal(a->endpoint_url, "http://127.0.0.1:5000");
    assert_string_equal(a->profile, "kafka");
    assert_string_equal(a->ca_bundle, "/etc/ssl/certs/ca-certificates.crt");
    assert_string_equal(a->trust_anchor_file, "/etc/mskpki/pca-root.pem");
    assert_true(a->rate_per_second == 2.5);
    assert_int_equal(a->burst, 7);
    assert_int_equal(a->poll_timeout_seconds, 120);
    assert_string_equal(cfg->state_dir, "/srv/state");
    assert_string_equal(cfg->metrics_listen, "[::1]:9999");
    assert_int_equal(cfg->log_level, MK_LOG_DEBUG);
    assert_int_equal(cfg->log_target, MK_LOG_SYSLOG);
    assert_int_equal(cfg->retry_min_seconds, 10);
    assert_int_equal(cfg->retry_max_seconds, 7200);
    assert_int_equal(cfg->n_certs, 2);

    const struct conf_certificate *c = &cfg->certs[0];
    assert_string_equal(c->name, "client");
    assert_string_equal(c->common_name, "host1.example.com");
    assert_string_equal(c->organization, "Example");
    assert_string_equal(c->organizational_unit, "Kafka");
    assert_string_equal(c->locality, "London");
    assert_string_equal(c->state, "England");
    assert_string_equal(c->country, "GB");
    assert_int_equal(c->n_dns_names, 2);
    assert_string_equal(c->dns_names[0], "host1.example.com");
    assert_string_equal(c->dns_names[1], "host1");
    assert_int_equal(c->n_uris, 1);
    assert_string_equal(c->uris[0], "spiffe://example.org/kafka/producer");
    assert_int_equal(c->n_emails, 0);
    assert_int_equal(c->key_type, PKI_KEY_RSA_3072);
    assert_int_equal(c->reuse_key, 1);
    assert_int_equal(c->validity_seconds, 10L * 86400);
    assert_true(c->renew_fraction == 0.5);
    assert_true(c->jitter_fraction == 0.0);
    assert_int_equal(c->revoke_replaced, 1);
    assert_int_equal(c->revoke_grace_seconds, 900);
    const struct conf_output *o = &c->output;
    assert_string_equal(o->directory, "/srv/out/client");
    assert_string_equal(o->key, "client.key");
    assert_string_equal(o->cert, "client.crt");
    assert_string_equal(o->chain, "ca.crt");
    assert_string_equal(o->fullchain, "fullchain.pem");
    assert_string_equal(o->pkcs12, "client.p12");
    assert_string_equal(o->pkcs12_alias, "alias1");
    assert_string_equal(o->owner, "root");
    assert_string_equal(o->group, "root");
    assert_int_equal(o->uid, 0);
    assert_int_equal(o->gid, 0);
    assert_int_equal(o->key_mode, 0640);
    assert_int_equal(o->cert_mode, 0444);
    assert_string_equal(o->key_passphrase_file, "/etc/mskpki/client.pass");
    assert_string_equal(o->pkcs12_password_file, "/etc/mskpki/p12.pass");
    assert_int_equal(c->hook.shell, 0);
    assert_string_equal(c->hook.argv[0], "/bin/systemctl");
    assert_string_equal(c->hook.argv[1], "reload");
    assert_string_equal(c->hook.argv[2], "my-producer");
    assert_null(c->hook.argv[3]);
    assert_int_equal(c->hook.timeout_seconds, 60);

    c = &cfg->certs[1];
    assert_string_equal(c->name, "second.one_2");
    assert_int_equal(c->n_emails, 1);
    assert_string_equal(c->emails[0], "ops@example.com");
    assert_int_equal(c->renew_before_seconds, 6L * 3600);
    assert_true(c->jitter_fraction == 0.5);
    /* The PKCS#12 friendly name defaults to the certificate name. */
    assert_string_equal(c->output.pkcs12_alias, "second.one_2");
    assert_int_equal(c->hook.shell, 1);
    assert_string_equal(c->hook.argv[0], "/bin/sh");
    assert_string_equal(c->hook.argv[1], "-c");
    assert_string_equal(c->hook.argv[2], "kill -HUP \"$(cat /run/producer.pid)\"");
    assert_null(c->hook.argv[3]);
    assert_int_equal(c->hook.timeout_seconds, 30);
    conf_free(cfg);
}

static void test_include_relative_to_file(void **state)
{
    (void)state;
    /* From another working directory: the include must still be found next to the file. */
    char cwd[4096];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir("/"), 0);
    struct conf *cfg = load_ok("tests/data/conf/good_include.conf");
    assert_int_equal(chdir(cwd), 0);
    assert_string_equal(cfg->state_dir, "/srv/inc");
    assert_non_null(conf_find_certificate(cfg, "inc"));
    conf_free(cfg);
}

static void test_metrics_off_and_ca_dir_default(void **state)
{
    (void)state;
    struct conf *cfg = load_ok("tests/data/conf/good_metrics_off.conf");
    assert_string_equal(cfg->metrics_listen, "");
    assert_string_equal(cfg->state_dir, "/srv/m");
    assert_string_equal(cfg->ca.local.directory, "/srv/m-ca");
    conf_free(cfg);
}

/* Issue 16's settings and their defaults. */
static void test_hardening_settings(void **state)
{
    (void)state;
    struct conf *cfg = load_ok("tests/data/conf/good_hardening.conf");
    assert_string_equal(cfg->metrics.tls_cert_file, "/etc/mskpki/metrics.crt");
    assert_string_equal(cfg->metrics.tls_key_file, "/etc/mskpki/metrics.key");
    assert_string_equal(cfg->metrics.client_ca_file, "/etc/mskpki/scrapers-ca.crt");
    assert_int_equal(cfg->metrics.insecure, 0);
    assert_int_equal(cfg->metrics.connection_timeout_seconds, 5);
    assert_int_equal(cfg->metrics.max_connections, 32);
    assert_int_equal(cfg->metrics.max_connections_per_ip, 4);
    assert_int_equal(cfg->ca.aws_pca.allow_insecure_http, 1);
    assert_int_equal(cfg->ca.aws_pca.credential_process_timeout_seconds, 20);
    conf_free(cfg);
    cfg = load_ok("tests/data/conf/good_metrics_insecure.conf");
    assert_int_equal(cfg->metrics.insecure, 1);
    assert_null(cfg->metrics.tls_cert_file);
    assert_int_equal(cfg->metrics.connection_timeout_seconds, 10);
    assert_int_equal(cfg->metrics.max_connections, 64);
    assert_int_equal(cfg->metrics.max_connections_per_ip, 8);
    assert_int_equal(cfg->ca.aws_pca.allow_insecure_http, 0);
    assert_int_equal(cfg->ca.aws_pca.credential_process_timeout_seconds, 0);
    conf_free(cfg);
}

/* agent.user: the default, and a name taken as written (looked up only at the agent's start). */
static void test_agent_user(void **state)
{
    (void)state;
    struct conf *cfg = load_ok("tests/data/conf/good_agent_user.conf");
    assert_string_equal(cfg->agent_user, "kafka-agent");
    conf_free(cfg);
    cfg = load_ok("tests/data/conf/good_metrics_off.conf");
    assert_string_equal(cfg->agent_user, "mskpki");
    conf_free(cfg);
}

static void test_renew_before_flat(void **state)
{
    (void)state;
    struct conf *cfg = load_ok("tests/data/conf/good_renew_before.conf");
    assert_int_equal(cfg->certs[0].renew_before_seconds, 3L * 86400);
    assert_true(cfg->certs[0].jitter_fraction == 0.2);
    conf_free(cfg);
}

static void test_find_certificate(void **state)
{
    (void)state;
    struct conf *cfg = load_ok("tests/data/conf/good_full.conf");
    const struct conf_certificate *c = conf_find_certificate(cfg, "second.one_2");
    assert_ptr_equal(c, &cfg->certs[1]);
    assert_ptr_equal(conf_find_certificate(cfg, "client"), &cfg->certs[0]);
    assert_null(conf_find_certificate(cfg, "Client"));
    assert_null(conf_find_certificate(cfg, "second"));
    assert_null(conf_find_certificate(cfg, ""));
    assert_null(conf_find_certificate(cfg, NULL));
    assert_null(conf_find_certificate(NULL, "client"));
    conf_free(cfg);
    conf_free(NULL);
}

/* ---- errors ------------------------------------------------------------------------------- */

struct bad_case {
    const char *file;    /* in tests/data/conf/ */
    int line;            /* 0: the message names no line */
    const char *setting; /* "" for libconfig's own syntax errors */
    const char *problem; /* must appear after the prefix */
};

/* Each file's "# <- error" comment marks the line the message must name. */
static const struct bad_case bad_cases[] = {
    {"bad_syntax.conf", 2, "", "syntax error"},
    {"bad_unknown_agent.conf", 2, "agent.uid", "unknown setting (valid: user)"},
    {"bad_unknown_root.conf", 2, "colour", "unknown setting (valid: ca, state_dir"},
    {"bad_unknown_output.conf", 6, "certificates.[0].output.mode",
     "unknown setting (valid: directory, key, cert"},
    {"bad_unknown_ca_local.conf", 3, "ca.local.dir",
     "unknown setting (valid: directory, common_name"},
    {"bad_unknown_cert.conf", 5, "certificates.[0].lifetime",
     "unknown setting (valid: name, subject"},
    {"bad_type_string.conf", 2, "state_dir", "expected a string"},
    {"bad_type_bool.conf", 5, "certificates.[0].reuse_key", "expected true or false"},
    {"bad_type_group.conf", 2, "metrics", "expected a group"},
    {"bad_type_duration.conf", 5, "certificates.[0].validity", "expected a duration string"},
    {"bad_type_number.conf", 5, "certificates.[0].renew.jitter", "expected a number"},
    {"bad_type_list.conf", 2, "certificates", "expected a list"},
    {"bad_type_cert_elem.conf", 2, "certificates.[0]", "expected a group"},
    {"bad_fraction_one.conf", 5, "certificates.[0].renew.fraction", "is not between 0 and 1"},
    {"bad_fraction_zero.conf", 5, "certificates.[0].renew.fraction", "is not between 0 and 1"},
    {"bad_jitter_high.conf", 5, "certificates.[0].renew.jitter", "is not between 0 and 0.5"},
    {"bad_jitter_negative.conf", 5, "certificates.[0].renew.jitter", "is not between 0 and 0.5"},
    {"bad_validity_zero.conf", 5, "certificates.[0].validity", "invalid duration '0d'"},
    {"bad_validity_unit.conf", 5, "certificates.[0].validity", "invalid duration '30y'"},
    {"bad_before_ge_validity.conf", 6, "certificates.[0].renew.before",
     "must be shorter than the validity"},
    {"bad_renew_both.conf", 6, "certificates.[0].renew.before",
     "either renew.fraction or renew.before"},
    {"bad_renew_before_and_fraction.conf", 5, "certificates.[0].renew_before",
     "give one of renew_before, renew.before or renew.fraction"},
    {"bad_renew_before_ge_validity.conf", 6, "certificates.[0].renew_before",
     "must be shorter than the validity"},
    {"bad_rate_zero.conf", 5, "ca.aws_pca.rate_per_second", "must be greater than 0"},
    {"bad_burst_zero.conf", 5, "ca.aws_pca.burst", "must be at least 1"},
    {"bad_dup_name.conf", 7, "certificates.[1].name",
     "duplicate certificate name 'a' (first at line 3)"},
    {"bad_bad_name.conf", 3, "certificates.[0].name", "invalid name 'a b'"},
    {"bad_bad_name_dotdot.conf", 3, "certificates.[0].name", "invalid name '..'"},
    {"bad_no_certs.conf", 2, "certificates", "at least one certificate is required"},
    {"bad_missing_certs.conf", 0, "certificates", "required: at least one certificate block"},
    {"bad_rel_output_dir.conf", 5, "certificates.[0].output.directory",
     "path 'out/a' must be absolute"},
    {"bad_rel_state_dir.conf", 2, "state_dir", "must be absolute"},
    {"bad_rel_ca_dir.conf", 2, "ca.local.directory", "must be absolute"},
    {"bad_rel_ca_bundle.conf", 5, "ca.aws_pca.ca_bundle", "must be absolute"},
    {"bad_rel_passphrase.conf", 6, "certificates.[0].output.key_passphrase_file",
     "must be absolute"},
    {"bad_rel_p12_password.conf", 6, "certificates.[0].output.pkcs12_password_file",
     "must be absolute"},
    {"bad_rel_hook.conf", 5, "certificates.[0].hook.command.[0]",
     "program 'bin/reload' must be an absolute path"},
    {"bad_filename_slash.conf", 6, "certificates.[0].output.chain", "must be a plain file name"},
    {"bad_same_file_names.conf", 6, "certificates.[0].output.cert", "same file name as output.key"},
    {"bad_key_mode_wide.conf", 6, "certificates.[0].output.key_mode", "0644 is wider than 0640"},
    {"bad_key_mode_group.conf", 6, "certificates.[0].output.key_mode", "set output.group"},
    {"bad_key_mode_int.conf", 6, "certificates.[0].output.key_mode",
     "expected a string of octal digits"},
    {"bad_key_mode_digits.conf", 6, "certificates.[0].output.key_mode",
     "expected a string of octal digits"},
    {"bad_cert_mode_world.conf", 6, "certificates.[0].output.cert_mode", "lets anyone replace"},
    {"bad_unknown_key_type.conf", 5, "certificates.[0].key_type",
     "unknown key type 'ec-p999' (expected ec-p256, ec-p384, rsa-2048, rsa-3072, rsa-4096)"},
    {"bad_unknown_backend.conf", 2, "ca.backend",
     "unknown backend 'vault' (expected local or aws-pca)"},
    {"bad_unknown_level.conf", 2, "log.level", "unknown log level 'verbose'"},
    {"bad_unknown_target.conf", 2, "log.target", "unknown log target 'file'"},
    {"bad_missing_ca_arn.conf", 3, "ca.aws_pca.ca_arn", "required for backend aws-pca"},
    {"bad_missing_aws_group.conf", 2, "ca.aws_pca.ca_arn", "required for backend aws-pca"},
    {"bad_missing_output_dir.conf", 5, "certificates.[0].output.directory", "required"},
    {"bad_missing_output.conf", 3, "certificates.[0].output.directory", "required"},
    {"bad_missing_key.conf", 5, "certificates.[0].output.key", "required"},
    {"bad_missing_cert.conf", 5, "certificates.[0].output.cert", "required"},
    {"bad_missing_cn.conf", 4, "certificates.[0].subject.common_name", "required"},
    {"bad_missing_subject.conf", 3, "certificates.[0].subject.common_name", "required"},
    {"bad_missing_name.conf", 3, "certificates.[0].name", "required"},
    {"bad_missing_p12_password.conf", 5, "certificates.[0].output.pkcs12_password_file",
     "required when output.pkcs12 is set"},
    {"bad_p12_alias_without_p12.conf", 6, "certificates.[0].output.pkcs12_alias",
     "only meaningful with output.pkcs12"},
    {"bad_bad_owner.conf", 6, "certificates.[0].output.owner",
     "no such user 'mskpki-no-such-user'"},
    {"bad_bad_group.conf", 6, "certificates.[0].output.group",
     "no such group 'mskpki-no-such-group'"},
    {"bad_listen_noport.conf", 2, "metrics.listen", "is not ADDRESS:PORT"},
    {"bad_listen_port0.conf", 2, "metrics.listen", "is not ADDRESS:PORT"},
    {"bad_listen_port_big.conf", 2, "metrics.listen", "is not ADDRESS:PORT"},
    {"bad_listen_hostname.conf", 2, "metrics.listen", "is not ADDRESS:PORT with a numeric"},
    {"bad_listen_v6_bare.conf", 2, "metrics.listen", "is not ADDRESS:PORT"},
    {"bad_dup_outdir.conf", 9, "certificates.[1].output.directory",
     "already used by certificate 'a'"},
    {"bad_outdir_is_state.conf", 6, "certificates.[0].output.directory",
     "must not be the state_dir"},
    {"bad_outdir_is_ca.conf", 6, "certificates.[0].output.directory",
     "must not be the local CA directory"},
    {"bad_ca_dir_in_state.conf", 3, "ca.local.directory",
     "'/var/lib/mskpki/ca' must lie outside state_dir '/var/lib/mskpki'"},
    {"bad_outdir_in_state.conf", 6, "certificates.[0].output.directory",
     "must lie outside state_dir '/var/lib/mskpki'"},
    {"bad_state_in_outdir.conf", 6, "certificates.[0].output.directory",
     "'/srv/out' must lie outside state_dir '/srv/out/state' (and not contain it)"},
    {"bad_p12_password_in_state.conf", 7, "certificates.[0].output.pkcs12_password_file",
     "must lie outside state_dir"},
    {"bad_rel_trust_anchor.conf", 5, "ca.aws_pca.trust_anchor_file", "must be absolute"},
    {"bad_validity_over_max.conf", 5, "certificates.[0].validity",
     "5184000 seconds is longer than ca.local.max_validity (2592000 seconds)"},
    {"bad_hook_string_no_shell.conf", 5, "certificates.[0].hook.command", "needs shell = true"},
    {"bad_hook_shell_list.conf", 5, "certificates.[0].hook.command",
     "with shell = true, give the command as one string"},
    {"bad_hook_empty.conf", 5, "certificates.[0].hook.command", "must name a program"},
    {"bad_hook_no_command.conf", 5, "certificates.[0].hook.command", "required in a hook"},
    {"bad_retry_order.conf", 3, "retry.max", "must not be shorter than retry.min"},
    {"bad_country.conf", 4, "certificates.[0].subject.country", "two-letter ISO 3166"},
    {"bad_cn_too_long.conf", 4, "certificates.[0].subject.common_name",
     "longer than 64 characters"},
    {"bad_san_email.conf", 5, "certificates.[0].san.email.[0]", "'nobody' is not an email address"},
    {"bad_san_uri.conf", 5, "certificates.[0].san.uri.[1]", "is not a URI"},
    {"bad_san_dns.conf", 5, "certificates.[0].san.dns.[0]", "is not a DNS name"},
    {"bad_san_type.conf", 5, "certificates.[0].san.dns", "expected a list of strings"},
    {"bad_ca_arn_format.conf", 3, "ca.aws_pca.ca_arn", "is not a certificate authority ARN"},
    {"bad_region_not_arn.conf", 4, "ca.aws_pca.region",
     "region 'us-east-1' is not the region of ca_arn arn:aws:acm-pca:eu-west-1:"},
    {"bad_signing_alg.conf", 5, "ca.aws_pca.signing_algorithm",
     "unknown value 'MD5WITHRSA' (expected SHA256WITHECDSA"},
    {"bad_endpoint_scheme.conf", 5, "ca.aws_pca.endpoint_url", "is not an http(s):// URL"},
    {"bad_endpoint_http.conf", 5, "ca.aws_pca.endpoint_url",
     "plain http to '192.0.2.1' sends the request signatures and session token in clear; use "
     "https, or set allow_insecure_http = true"},
    {"bad_metrics_public.conf", 3, "metrics.listen",
     "'0.0.0.0:9464' is not a loopback address: set metrics.tls_cert_file and "
     "metrics.tls_key_file (TLS), or metrics.insecure = true"},
    {"bad_metrics_tls_half.conf", 2, "metrics.tls_key_file", "go together"},
    {"bad_ra_unknown_cert.conf", 9, "ca.aws_pca.roles_anywhere.certificate",
     "'nope' is not the name of a configured certificate"},
    {"bad_ra_missing_role.conf", 5, "ca.aws_pca.roles_anywhere.role_arn", "required"},
    {"bad_ra_role_not_iam.conf", 8, "ca.aws_pca.roles_anywhere.role_arn", "is not an iam ARN"},
    {"bad_ra_region_mismatch.conf", 7, "ca.aws_pca.roles_anywhere.profile_arn",
     "not in the trust anchor's partition and region"},
    {"bad_ra_duration.conf", 10, "ca.aws_pca.roles_anywhere.duration",
     "must be between 15m and 12h"},
    {"bad_ra_unknown_key.conf", 10, "ca.aws_pca.roles_anywhere.region", "unknown setting"},
    {"bad_ra_endpoint_http.conf", 10, "ca.aws_pca.roles_anywhere.endpoint_url",
     "plain http to '192.0.2.7'"},
    {"bad_empty_string.conf", 5, "certificates.[0].output.key", "must not be empty"},
};

/* The file's absolute path (src_path's static buffer), and in prefix the "file:line: setting: "
 * start its error must have. */
static const char *bad_case_prefix(const struct bad_case *bc, char *prefix, size_t size)
{
    char rel[256];
    snprintf(rel, sizeof(rel), "tests/data/conf/%s", bc->file);
    const char *path = src_path(rel);
    if (bc->line == 0) {
        snprintf(prefix, size, "%s: %s: ", path, bc->setting);
    } else if (bc->setting[0] == '\0') {
        snprintf(prefix, size, "%s:%d: ", path, bc->line);
    } else {
        snprintf(prefix, size, "%s:%d: %s: ", path, bc->line, bc->setting);
    }
    return path;
}

static void test_bad_files(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const struct bad_case *bc = &bad_cases[i];
        char prefix[4400];
        const char *path = bad_case_prefix(bc, prefix, sizeof(prefix));
        struct mk_err err;
        struct conf *cfg = conf_load(path, &err);
        if (cfg != NULL) {
            conf_free(cfg);
            fail_msg("%s: loaded, expected \"%s%s\"", bc->file, prefix, bc->problem);
        }
        if (err.code != MK_ERR_CONFIG || strncmp(err.msg, prefix, strlen(prefix)) != 0 ||
            strstr(err.msg + strlen(prefix), bc->problem) == NULL) {
            fail_msg("%s:\n  got      [%s] %s\n  expected [config] %s...%s", bc->file,
                     mk_code_str(err.code), err.msg, prefix, bc->problem);
        }
        assert_null(strchr(err.msg, '\n'));
    }
}

/* Runs `mskpki-agent --check-config --config path` with stderr captured into buf (NUL-ended);
 * returns the raw wait status. */
static int run_check_config(const char *agent, const char *path, char *buf, size_t cap)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDWR);
        if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0 || dup2(fds[1], 2) < 0) {
            _exit(127);
        }
        close(fds[0]);
        execl(agent, agent, "--check-config", "--config", path, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    size_t len = 0;
    ssize_t n;
    while ((n = read(fds[0], buf + len, cap - 1 - len)) > 0) {
        len += (size_t)n;
        if (len == cap - 1) {
            break;
        }
    }
    buf[len] = '\0';
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

/* Issue 2 makes exit status 2 part of the contract for every class of bad value, so each row of
 * bad_cases goes through the agent as well: exit 2 (not just non-zero), one line on stderr,
 * carrying the same file:line: setting: prefix the library produced. */
static void test_agent_exit_2_per_bad_file(void **state)
{
    (void)state;
    const char *build = getenv("MSKPKI_BUILD_DIR");
    assert_non_null(build);
    char agent[4096];
    snprintf(agent, sizeof(agent), "%s/agent/mskpki-agent", build);
    if (access(agent, X_OK) != 0) {
        fail_msg("%s is not built", agent);
    }
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const struct bad_case *bc = &bad_cases[i];
        char prefix[4400];
        char out[8192];
        const char *path = bad_case_prefix(bc, prefix, sizeof(prefix));
        int status = run_check_config(agent, path, out, sizeof(out));
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 2) {
            fail_msg("%s: wait status %#x, expected exit 2; stderr: %s", bc->file, (unsigned)status,
                     out);
        }
        const char *nl = strchr(out, '\n');
        if (nl == NULL || nl[1] != '\0') {
            fail_msg("%s: stderr is not exactly one line: [%s]", bc->file, out);
        }
        const char *at = strstr(out, prefix);
        if (at == NULL || strstr(at + strlen(prefix), bc->problem) == NULL) {
            fail_msg("%s: stderr [%s] lacks \"%s...%s\"", bc->file, out, prefix, bc->problem);
        }
    }
}

static void test_include_error_names_included_file(void **state)
{
    (void)state;
    struct mk_err err;
    assert_null(conf_load(src_path("tests/data/conf/include_error.conf"), &err));
    assert_int_equal(err.code, MK_ERR_CONFIG);
    char want[4200];
    snprintf(want, sizeof(want), "%s:3: log.level: unknown log level 'loud'",
             src_path("tests/data/conf/include_bad.inc"));
    if (strncmp(err.msg, want, strlen(want)) != 0) {
        fail_msg("got %s\nexpected %s", err.msg, want);
    }
}

/* A CA made under the old default <state_dir>/ca is not replaced by a new one at the new default
 * <state_dir>-ca: the config is refused with the command that moves it. */
/* control.socket (issue 17): default, "" for none, an absolute path of at most 107 bytes. */
static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_control_socket(void **state)
{
    (void)state;
    char dir[] = "/tmp/mskpki-conf-test.XXXXXX";
    char path[256];
    char text[2048];
    static const char base[] =
        "ca = { backend = \"local\"; local = { directory = \"%s/ca\"; }; };\n"
        "state_dir = \"%s/state\";\n%s\n"
        "certificates = ( { name = \"a\"; subject = { common_name = \"a\"; };\n"
        "  output = { directory = \"%s/out\"; key = \"k\"; cert = \"c\"; }; } );\n";
    struct mk_err err;
    struct conf *cfg;
    char longpath[200];

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/mskpki.conf", dir);

    snprintf(text, sizeof(text), base, dir, dir, "", dir);
    write_file(path, text);
    cfg = conf_load(path, &err);
    assert_non_null(cfg);
    assert_string_equal(cfg->control_socket, "/run/mskpki/control.sock");
    conf_free(cfg);

    snprintf(text, sizeof(text), base, dir, dir, "control = { socket = \"\"; };", dir);
    write_file(path, text);
    cfg = conf_load(path, &err);
    assert_non_null(cfg);
    assert_string_equal(cfg->control_socket, "");
    conf_free(cfg);

    snprintf(text, sizeof(text), base, dir, dir, "control = { socket = \"run/c.sock\"; };", dir);
    write_file(path, text);
    assert_null(conf_load(path, &err));
    assert_non_null(strstr(err.msg, "control.socket: path 'run/c.sock' must be absolute"));

    memset(longpath, 'x', sizeof(longpath) - 1);
    longpath[0] = '/';
    longpath[sizeof(longpath) - 1] = '\0';
    char setting[300];
    snprintf(setting, sizeof(setting), "control = { socket = \"%s\"; };", longpath);
    snprintf(text, sizeof(text), base, dir, dir, setting, dir);
    write_file(path, text);
    assert_null(conf_load(path, &err));
    assert_non_null(strstr(err.msg, "control.socket: "));
    assert_non_null(strstr(err.msg, "107 bytes"));

    snprintf(text, sizeof(text), base, dir, dir, "control = { sockett = \"/x\"; };", dir);
    write_file(path, text);
    assert_null(conf_load(path, &err));
    assert_non_null(strstr(err.msg, "sockett"));

    unlink(path);
    rmdir(dir);
}

static void test_old_ca_default_refused(void **state)
{
    (void)state;
    char dir[] = "/tmp/mskpki-conf-test.XXXXXX";
    char path[256];
    char text[1024];
    char want[1024];
    struct mk_err err;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/mskpki.conf", dir);
    snprintf(text, sizeof(text),
             "ca = { backend = \"local\"; };\nstate_dir = \"%s/state\";\n"
             "certificates = ( { name = \"a\"; subject = { common_name = \"a\"; };\n"
             "  output = { directory = \"%s/out\"; key = \"k\"; cert = \"c\"; }; } );\n",
             dir, dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);

    /* No old CA: the new default, and it loads. */
    struct conf *cfg = conf_load(path, &err);
    assert_non_null(cfg);
    snprintf(want, sizeof(want), "%s/state-ca", dir);
    assert_string_equal(cfg->ca.local.directory, want);
    assert_int_equal(conf_check_local_ca_moved(cfg, &err), 0);

    char old[256];
    char key[300];
    snprintf(old, sizeof(old), "%s/state", dir);
    assert_int_equal(mkdir(old, 0700), 0);
    snprintf(old, sizeof(old), "%s/state/ca", dir);
    assert_int_equal(mkdir(old, 0700), 0);
    snprintf(key, sizeof(key), "%s/ca.key", old);
    f = fopen(key, "w");
    assert_non_null(f);
    fclose(f);
    /* conf_load() does not look at the disk; the start-up check does. */
    assert_int_equal(conf_check_local_ca_moved(cfg, &err), -1);
    conf_free(cfg);
    assert_int_equal(err.code, MK_ERR_CONFIG);
    snprintf(want, sizeof(want), "run 'mv %s/state/ca %s/state-ca'", dir, dir);
    if (strstr(err.msg, want) == NULL || strstr(err.msg, "ca.local.directory") == NULL) {
        fail_msg("got %s\nexpected ...%s...", err.msg, want);
    }

    /* With the aws-pca backend the old local CA is not in the way. */
    snprintf(text, sizeof(text),
             "ca = { backend = \"aws-pca\"; aws_pca = { ca_arn = "
             "\"arn:aws:acm-pca:eu-west-1:111122223333:certificate-authority/abc\"; }; };\n"
             "state_dir = \"%s/state\";\n"
             "certificates = ( { name = \"a\"; subject = { common_name = \"a\"; };\n"
             "  output = { directory = \"%s/out\"; key = \"k\"; cert = \"c\"; }; } );\n",
             dir, dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    cfg = conf_load(path, &err);
    if (cfg == NULL) {
        fail_msg("aws-pca config refused: %s", err.msg);
    }
    assert_int_equal(conf_check_local_ca_moved(cfg, &err), 0);
    conf_free(cfg);
    unlink(key);
    rmdir(old);
    snprintf(old, sizeof(old), "%s/state", dir);
    rmdir(old);
    unlink(path);
    rmdir(dir);
}

static void test_missing_file(void **state)
{
    (void)state;
    struct mk_err err;
    assert_null(conf_load("/nonexistent/mskpki.conf", &err));
    assert_int_equal(err.code, MK_ERR_IO);
    assert_non_null(strstr(err.msg, "/nonexistent/mskpki.conf: cannot open"));
    assert_non_null(strstr(err.msg, "No such file"));
    /* A directory opens but cannot be read. */
    assert_null(conf_load(src_path("tests/data/conf"), &err));
    assert_int_equal(err.code, MK_ERR_IO);
    /* err may be NULL. */
    assert_null(conf_load("/nonexistent/mskpki.conf", NULL));
    assert_null(conf_load(src_path("tests/data/conf/bad_syntax.conf"), NULL));
}

/* conf_load_text: the text as if it were path's (the agent's reload); errors name path and the
 * line in the text. */
static void test_load_text(void **state)
{
    (void)state;
    const char *good = "certificates = ( { name = \"a\";\n"
                       "  subject = { common_name = \"a.example.com\"; };\n"
                       "  output = { directory = \"/tmp/mskpki-conf-test/a\"; key = \"a.key\";"
                       " cert = \"a.crt\"; }; } );\n";
    struct mk_err err;
    struct conf *cfg = conf_load_text("/nonexistent/dir/mskpki.conf", good, &err);
    assert_non_null(cfg);
    assert_string_equal(cfg->path, "/nonexistent/dir/mskpki.conf");
    assert_int_equal(cfg->n_certs, 1);
    conf_free(cfg);
    assert_null(conf_load_text("/etc/x/mskpki.conf", "state_dir = \"/var/lib/x\";\n\noops\n",
                               &err));
    assert_int_equal(err.code, MK_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "/etc/x/mskpki.conf:4: "));
    assert_null(conf_load_text("/etc/x/mskpki.conf", "colour = 1;\n", &err));
    assert_non_null(strstr(err.msg, "/etc/x/mskpki.conf:1: colour: unknown setting"));
}

/* aws_arn_region (aws/arn.h), which the region default and mismatch check rely on. */
static void test_arn_region(void **state)
{
    (void)state;
    char buf[64];
    char tiny[4];
    assert_non_null(aws_arn_region("arn:aws:acm-pca:eu-west-1:1:certificate-authority/x", buf,
                                   sizeof(buf)));
    assert_string_equal(buf, "eu-west-1");
    assert_null(aws_arn_region("arn:aws:acm-pca::1:x", buf, sizeof(buf)));
    assert_null(aws_arn_region("arn:aws", buf, sizeof(buf)));
    assert_null(aws_arn_region("arn:aws:acm-pca:eu-west-1:1:x", tiny, sizeof(tiny)));
    assert_null(aws_arn_region("arn:aws:acm-pca:eu-west-1.evil.com/:1:x", buf, sizeof(buf)));
    assert_null(aws_arn_region("nope:aws:acm-pca:eu-west-1:1:x", buf, sizeof(buf)));
}

static void test_every_bad_file_is_tested(void **state)
{
    (void)state;
    /* A bad_*.conf without a table row would be dead weight: list the directory. */
    DIR *dir = opendir(src_path("tests/data/conf"));
    assert_non_null(dir);
    size_t n_files = 0;
    const struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        const char *name = de->d_name;
        if (strncmp(name, "bad_", 4) != 0) {
            continue;
        }
        n_files++;
        int found = 0;
        for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
            found |= strcmp(bad_cases[i].file, name) == 0;
        }
        if (!found) {
            fail_msg("%s has no row in bad_cases", name);
        }
    }
    closedir(dir);
    assert_int_equal(n_files, sizeof(bad_cases) / sizeof(bad_cases[0]));
}

/* ---- durations ---------------------------------------------------------------------------- */

static void test_parse_duration(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        long seconds;
    } good[] = {
        {"1s", 1},
        {"90s", 90},
        {"5m", 300},
        {"2h", 7200},
        {"30d", 2592000},
        {"007s", 7},
        {"36525d", 36525L * 86400},
        {"3155760000s", 3155760000L},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        long v = -1;
        if (conf_parse_duration(good[i].text, &v) != 0) {
            fail_msg("'%s' refused", good[i].text);
        }
        assert_int_equal(v, good[i].seconds);
    }
    static const char *const bad[] = {
        "",
        "s",
        "0s",
        "0d",
        "-5s",
        "+5s",
        " 5s",
        "5s ",
        "5",
        "5x",
        "5S",
        "5ss",
        "1.5h",
        "5 s",
        "36526d",
        "3155760001s",
        "99999999999999999999s",
        "0x10s",
        "1e3s",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        long v = 42;
        if (conf_parse_duration(bad[i], &v) == 0) {
            fail_msg("'%s' accepted as %ld", bad[i], v);
        }
        assert_int_equal(v, 42); /* untouched on failure */
    }
    long v = 42;
    assert_int_equal(conf_parse_duration(NULL, &v), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_local_ca),
        cmocka_unit_test(test_example_aws_pca),
        cmocka_unit_test(test_roles_anywhere),
        cmocka_unit_test(test_example_packaged),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_include_relative_to_file),
        cmocka_unit_test(test_metrics_off_and_ca_dir_default),
        cmocka_unit_test(test_find_certificate),
        cmocka_unit_test(test_load_text),
        cmocka_unit_test(test_arn_region),
        cmocka_unit_test(test_hardening_settings),
        cmocka_unit_test(test_renew_before_flat),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_agent_exit_2_per_bad_file),
        cmocka_unit_test(test_include_error_names_included_file),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_old_ca_default_refused),
        cmocka_unit_test(test_control_socket),
        cmocka_unit_test(test_every_bad_file_is_tested),
        cmocka_unit_test(test_parse_duration),
        cmocka_unit_test(test_agent_user),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
