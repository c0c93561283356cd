/*
 * cert.c: `mskpkictl cert`: inspect (cert_inspect.c), issue and revoke (docs/cert.md).
 *
 * issue runs the agent's own transaction (issue/issue.h) once for one certificate block of a
 * config, for bootstrap and for hosts that do not run the agent.  revoke goes through the CA
 * backend: RevokeCertificate on AWS Private CA, or the local CA's revoked.json + crl.pem.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/bn.h>

#include "conf/conf.h"
#include "ctl/cert/cert.h"
#include "ctl/control.h"
#include "ctl/ctl.h"
#include "ctl/kafka_principal.h"
#include "ctl/output.h"
#include "issue/issue.h"
#include "ca/ca.h"
#include "pki/cert.h"
#include "pki/log.h"
#include "pki/secret.h"
#include "pki/store.h"

/* RFC 5280 4.1.2.2: serial numbers are at most 20 octets. */
#define SERIAL_MAX_OCTETS 20

/* AWS Private CA RevokeCertificate RevocationReason values, as the API names them. */
static const char *const revocation_reasons[] = {
    "UNSPECIFIED",         "KEY_COMPROMISE",         "CERTIFICATE_AUTHORITY_COMPROMISE",
    "AFFILIATION_CHANGED", "SUPERSEDED",             "CESSATION_OF_OPERATION",
    "PRIVILEGE_WITHDRAWN", "A_A_COMPROMISE",
};

struct revoke_opts {
    const char *config;
    const char *cert;
    const char *serial;
    const char *ca_arn;
    const char *region;
    const char *endpoint_url;
    const char *profile;
    const char *reason; /* canonical: the table's spelling, whatever case was typed */
    int json;           /* --format json */
    const char *mode; /* --replace, --force (issue 17): "replace", "force" or NULL */
};

/* Each subcommand's own usage, so `cert revoke --help` shows revoke's options alone. */
static const char revoke_usage[] =
    "usage: mskpkictl cert revoke (--cert FILE | --serial HEX --ca-arn ARN) --reason REASON"
    " [--replace | --force]\n"
    "                             [--config FILE | --ca-arn ARN [--region R] "
    "[--endpoint-url URL] [--profile P]]\n"
    "                             [--format table|json] " CTL_VERBOSITY_USAGE "\n";
static const char issue_usage[] =
    "usage: mskpkictl cert issue [--config FILE] --name CERT [--format table|json] "
    CTL_VERBOSITY_USAGE "\n";

static void cert_usage(FILE *out)
{
    /* The subcommands' usages under one "usage:" (each starts with it: 6 characters). */
    fputs("usage: mskpkictl cert inspect [--key FILE] [--password-file FILE] [--ca-file FILE]\n"
          "                              [--format table|json] FILE...\n",
          out);
    fprintf(out, "      %s      %s", issue_usage + 6, revoke_usage + 6);
}

const char *ctl_cert_reason_canonical(const char *name)
{
    for (size_t i = 0; i < sizeof(revocation_reasons) / sizeof(revocation_reasons[0]); i++) {
        if (strcasecmp(name, revocation_reasons[i]) == 0) {
            return revocation_reasons[i];
        }
    }
    return NULL;
}

int ctl_cert_reason_valid(const char *name)
{
    return ctl_cert_reason_canonical(name) != NULL;
}

/* Writes obj (stolen) as one JSON document on stdout; -1 when it could not be written. */
static int print_json(json_t *obj)
{
    int rc = obj != NULL && json_dumpf(obj, stdout, JSON_INDENT(2) | JSON_SORT_KEYS) == 0 &&
                     fputc('\n', stdout) != EOF && fflush(stdout) == 0
                 ? 0
                 : -1;
    json_decref(obj);
    return rc;
}

X509 *ctl_cert_serial_only(const char *hex, struct mk_err *err)
{
    char digits[2 * SERIAL_MAX_OCTETS + 1];
    size_t n = 0;
    BIGNUM *bn = NULL;
    ASN1_INTEGER *serial = NULL;
    X509 *x = NULL;
    X509 *ret = NULL;

    /* Accept what people copy: "0A1B", "0a:1b" (openssl x509 -text), with or without 0x. */
    if (strncmp(hex, "0x", 2) == 0 || strncmp(hex, "0X", 2) == 0) {
        hex += 2;
    }
    for (const char *p = hex; *p != '\0'; p++) {
        if (*p == ':') {
            continue;
        }
        MK_ENSURE((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F'),
                  err, MK_ERR_USAGE, "--serial: '%s' is not hexadecimal", hex);
        MK_ENSURE(n < sizeof(digits) - 1, err, MK_ERR_USAGE,
                  "--serial: longer than %d octets (RFC 5280)", SERIAL_MAX_OCTETS);
        digits[n++] = *p;
    }
    digits[n] = '\0';
    MK_ENSURE(n > 0, err, MK_ERR_USAGE, "--serial: empty");
    CTL_GUARD_OSSL(BN_hex2bn(&bn, digits) == (int)n, err, MK_ERR_USAGE, "--serial: BN_hex2bn");
    CTL_GUARD_OSSL((serial = BN_to_ASN1_INTEGER(bn, NULL)) != NULL, err, MK_ERR_CRYPTO,
                  "--serial: BN_to_ASN1_INTEGER");
    CTL_GUARD_OSSL((x = X509_new()) != NULL, err, MK_ERR_NOMEM, "X509_new");
    CTL_GUARD_OSSL(X509_set_serialNumber(x, serial) == 1, err, MK_ERR_CRYPTO,
                  "X509_set_serialNumber");
    ret = x;
    x = NULL;
out:
    X509_free(x);
    ASN1_INTEGER_free(serial);
    BN_free(bn);
    return ret;
}

/* ---- issue ------------------------------------------------------------------------------- */

/*
 * The result of an issue: one line (and, unless --quiet, the subject and the path), or with
 * --format json one object (docs/cert.md): name, serial, generation, not_before, not_after,
 * subject, certificate, resumed.  Returns -1 when stdout cannot be written.
 */
static int print_issued(const struct conf_certificate *cc, const struct issue_out *res, int json)
{
    struct pki_cert_info info;
    struct mk_err err;
    char path[1024];
    char na[32];
    char nb[32];

    if (pki_cert_info(res->leaf, &info, &err) != 0 ||
        issue_cert_path(cc, path, sizeof(path)) != 0) {
        memset(&info, 0, sizeof(info));
        path[0] = '\0';
    }
    ctl_time_rfc3339((long long)info.not_after, na, sizeof(na));
    ctl_time_rfc3339((long long)info.not_before, nb, sizeof(nb));
    if (json) {
        return print_json(json_pack("{s:s, s:s, s:I, s:s, s:s, s:s, s:s, s:b}", "name", cc->name,
                                    "serial", info.serial_hex, "generation",
                                    (json_int_t)res->generation, "not_before", nb, "not_after",
                                    na, "subject", info.subject, "certificate", path, "resumed",
                                    res->resumed != 0));
    }
    printf("issued %s: serial %s, generation %lu, not after %s%s\n", cc->name, info.serial_hex,
           res->generation, na, res->resumed ? " (resumed)" : "");
    if (ctl_verbosity_get() != CTL_QUIET) {
        printf("  subject %s\n  written to %s\n", info.subject, path);
    }
    return fflush(stdout) == 0 ? 0 : -1;
}

static int cert_issue_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"name", required_argument, NULL, 'n'},
        {"format", required_argument, NULL, 'f'},
        CTL_VERBOSITY_OPTIONS,
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    /* The agent's config, as for status and revoke: the host's one certificate set. */
    const char *config = CONF_DEFAULT_PATH;
    const char *name = NULL;
    int json = 0;
    struct conf *cfg = NULL;
    struct pki_ca *ca = NULL;
    struct issue_keys *keys = NULL;
    struct issue_in in;
    struct issue_out res = {0};
    struct mk_err err = {0};
    int rc = CTL_EXIT_USAGE;
    int lock_fd = -1;
    int ch;

    if (ctl_options_begin("cert issue", argc, argv, longopts) != 0) {
        return CTL_EXIT_USAGE;
    }
    while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            config = optarg;
            break;
        case 'n':
            name = optarg;
            break;
        case 'f':
            if (ctl_format_table_json("cert issue", optarg, &json) != 0) {
                return CTL_EXIT_USAGE;
            }
            break;
        case 'q':
        case 'v':
            if (ctl_verbosity_option("cert issue", ch) != 0) {
                return CTL_EXIT_USAGE;
            }
            break;
        case 'h':
            fputs(issue_usage, stdout);
            return CTL_EXIT_OK;
        case ':':
        default:
            return ctl_option_error("cert issue", ch, argc, argv);
        }
    }
    if (optind < argc) {
        return ctl_usage_error("cert issue", "unexpected argument '%s'", argv[optind]);
    }
    if (name == NULL) {
        return ctl_usage_error("cert issue", "--name is required");
    }
    if (pki_sodium_init(&err) != 0 || (cfg = conf_load(config, &err)) == NULL) {
        goto fail;
    }
    ctl_log_begin((int)cfg->log_level);
    memset(&in, 0, sizeof(in));
    in.cc = conf_find_certificate(cfg, name);
    if (in.cc == NULL) {
        mk_err_set(&err, MK_ERR_USAGE, "%s: no certificate named '%s'", config, name);
        goto fail;
    }
    /* Issue 17: a running agent issues it itself (one truth for files, state and metrics);
     * else this process does, holding the state directory's lock. */
    if ((rc = ctl_control_cert_issue(cfg, name)) >= 0 ||
        (rc = ctl_control_lock(cfg, "cert issue", &lock_fd)) != CTL_EXIT_OK) {
        goto out;
    }
    if ((ca = issue_ca_new(cfg, &err)) == NULL) {
        mk_err_prefix(&err, "ca");
        goto fail;
    }
    /* The key stays in this process; pending issuances are kept where the agent's key process
     * keeps them, so either resumes what the other left unfinished. */
    if ((keys = issue_keys_local_new(cfg, &err)) == NULL) {
        goto fail;
    }
    in.ca = ca;
    in.state_dir = cfg->state_dir;
    in.keys = keys;
    in.now = time(NULL);
    if (issue_run(&in, &res, &err) != 0) {
        goto fail;
    }
    if (print_issued(in.cc, &res, json) != 0) {
        /* Issued and written: only the report is lost, which the state and files still say. */
        fprintf(stderr, "mskpkictl cert issue: issued, but cannot write the result to standard "
                        "output\n");
        rc = CTL_EXIT_UNAVAILABLE;
        goto out;
    }
    rc = CTL_EXIT_OK;
    goto out;
fail:
    fprintf(stderr, "mskpkictl cert issue: %s%s\n", ctl_err_condense(&err),
            err.code == MK_ERR_PENDING ? " (run the command again to resume it)" : "");
    rc = ctl_exit_for(&err);
out:
    if (lock_fd >= 0) {
        close(lock_fd);
    }
    issue_out_clear(&res);
    issue_keys_local_free(keys);
    pki_ca_free(ca);
    conf_free(cfg);
    return rc;
}

/* ---- revoke ------------------------------------------------------------------------------ */

static int parse_revoke_args(int argc, char **argv, struct revoke_opts *o)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"cert", required_argument, NULL, 'C'},
        {"serial", required_argument, NULL, 's'},
        {"ca-arn", required_argument, NULL, 'a'},
        {"region", required_argument, NULL, 'r'},
        {"endpoint-url", required_argument, NULL, 'e'},
        {"profile", required_argument, NULL, 'P'},
        {"reason", required_argument, NULL, 'R'},
        {"format", required_argument, NULL, 'f'},
        CTL_VERBOSITY_OPTIONS,
        {"replace", no_argument, NULL, 'X'},
        {"force", no_argument, NULL, 'F'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char **slot[] = {['c'] = &o->config,      ['C'] = &o->cert,   ['s'] = &o->serial,
                           ['a'] = &o->ca_arn,      ['r'] = &o->region, ['e'] = &o->endpoint_url,
                           ['P'] = &o->profile,     ['R'] = &o->reason};
    int ch;

    memset(o, 0, sizeof(*o));
    if (ctl_options_begin("cert revoke", argc, argv, longopts) != 0) {
        return CTL_EXIT_USAGE;
    }
    while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        if (ch > 0 && (size_t)ch < sizeof(slot) / sizeof(slot[0]) && slot[ch] != NULL) {
            *slot[ch] = optarg;
            continue;
        }
        switch (ch) {
        case 'f':
            if (ctl_format_table_json("cert revoke", optarg, &o->json) != 0) {
                return CTL_EXIT_USAGE;
            }
            break;
        case 'q':
        case 'v':
            if (ctl_verbosity_option("cert revoke", ch) != 0) {
                return CTL_EXIT_USAGE;
            }
            break;
        case 'X':
        case 'F':
            if (o->mode != NULL) {
                return ctl_usage_error("cert revoke", "give --replace or --force, not both");
            }
            o->mode = ch == 'X' ? "replace" : "force";
            break;
        case 'h':
            fputs(revoke_usage, stdout);
            return -1;
        case ':':
        default:
            return ctl_option_error("cert revoke", ch, argc, argv);
        }
    }
    if (optind < argc) {
        return ctl_usage_error("cert revoke", "unexpected argument '%s'", argv[optind]);
    }
    if ((o->cert == NULL) == (o->serial == NULL)) {
        return ctl_usage_error("cert revoke", "give exactly one of --cert and --serial");
    }
    if (o->config != NULL && o->ca_arn != NULL) {
        return ctl_usage_error("cert revoke", "give --config or --ca-arn, not both");
    }
    if (o->serial != NULL && o->ca_arn == NULL) {
        return ctl_usage_error("cert revoke", "--serial needs --ca-arn (the local CA revokes by "
                                              "--cert, to check it issued the certificate)");
    }
    /* `revoke --cert FILE --reason R` (the documented short form) goes through the CA of the
     * agent's config, where the agent and `mskpkictl status` look for it too. */
    if (o->config == NULL && o->ca_arn == NULL) {
        o->config = CONF_DEFAULT_PATH;
    }
    if (o->ca_arn == NULL &&
        (o->region != NULL || o->endpoint_url != NULL || o->profile != NULL)) {
        return ctl_usage_error("cert revoke", "--region, --endpoint-url and --profile go with "
                                              "--ca-arn");
    }
    if (o->ca_arn != NULL && strncmp(o->ca_arn, "arn:", 4) != 0) {
        return ctl_usage_error("cert revoke", "--ca-arn: '%s' is not an ARN", o->ca_arn);
    }
    if (o->reason == NULL) {
        return ctl_usage_error("cert revoke", "--reason is required");
    }
    /* Any case: the API's spelling is upper case, people type key_compromise. */
    const char *canonical = ctl_cert_reason_canonical(o->reason);
    if (canonical == NULL) {
        return ctl_usage_error(
            "cert revoke",
            "--reason: '%s' is not an AWS RevocationReason (UNSPECIFIED, KEY_COMPROMISE, "
            "CERTIFICATE_AUTHORITY_COMPROMISE, AFFILIATION_CHANGED, SUPERSEDED, "
            "CESSATION_OF_OPERATION, PRIVILEGE_WITHDRAWN, A_A_COMPROMISE; any case)",
            o->reason);
    }
    o->reason = canonical;
    return 0;
}

/*
 * What revocation does not do on MSK: "Amazon MSK doesn't support certificate revocation lists
 * (CRLs). To control access to your cluster topics or block compromised certificates, use Apache
 * Kafka ACLs and AWS security groups" (MSK developer guide, "Mutual TLS client authentication for
 * Amazon MSK").  So revoke prints the principal the certificate authenticates as and the ACL that
 * denies it.  With --serial alone the subject is unknown: say how to get it.
 */
MK_TESTABLE void cert_print_deny_acl(FILE *out, X509 *cert, int serial_only)
{
    char principal[1024];
    char cmd[2048];
    struct mk_err err = {0};

    fprintf(out, "Amazon MSK does not check CRLs: a revoked certificate still connects and keeps "
                 "its access until an ACL denies its principal.\n");
    if (serial_only) {
        fprintf(out, "  principal: unknown from the serial alone (revoke with --cert FILE, or "
                     "deny User:<subject in RFC 2253 form>)\n");
        return;
    }
    if (kafka_principal_from_name(X509_get_subject_name(cert), principal, sizeof(principal),
                                  &err) != 0 ||
        kafka_acl_deny_command(principal, "BOOTSTRAP_BROKERS", cmd, sizeof(cmd), &err) != 0) {
        fprintf(out, "  principal: cannot be written: %s\n", err.msg);
        return;
    }
    fprintf(out,
            "  principal: %s\n  deny it (BOOTSTRAP_BROKERS: the cluster's TLS bootstrap "
            "brokers; admin.properties: an admin client's TLS settings):\n    %s\n",
            principal, cmd);
}

/*
 * The result of a revoke: the line and (unless --quiet) the MSK note with the deny ACL, or with
 * --format json one object (docs/cert.md): serial, reason, ca, principal and deny_command (null
 * with --serial alone).  Returns -1 when stdout cannot be written.
 */
static int print_revoked(X509 *cert, const char *serial, const char *reason, const char *ca_kind,
                         int serial_only, int json)
{
    if (json) {
        char principal[1024];
        char cmd[2048];
        struct mk_err err = {0};
        int known = !serial_only &&
                    kafka_principal_from_name(X509_get_subject_name(cert), principal,
                                              sizeof(principal), &err) == 0 &&
                    kafka_acl_deny_command(principal, "BOOTSTRAP_BROKERS", cmd, sizeof(cmd),
                                           &err) == 0;
        return print_json(json_pack("{s:s, s:s, s:s, s:o, s:o}", "serial", serial, "reason",
                                    reason, "ca", ca_kind, "principal",
                                    known ? json_string(principal) : json_null(), "deny_command",
                                    known ? json_string(cmd) : json_null()));
    }
    printf("revoked serial %s (%s) through the %s CA\n", serial, reason, ca_kind);
    if (ctl_verbosity_get() != CTL_QUIET) {
        cert_print_deny_acl(stdout, cert, serial_only);
    }
    return fflush(stdout) == 0 ? 0 : -1;
}

/*
 * Issue 17: revoke through the running agent (it knows the certificate in use and re-issues it
 * with --replace); without one, the certificate in use is refused unless --force, and
 * --replace issues its successor here first.  Returns the exit status, or -1 to revoke here.
 */
static int revoke_hook(const struct conf *cfg, X509 *cert, const struct revoke_opts *o)
{
    const char *in_use;
    char *argv[] = {"issue", "--config", (char *)o->config, "--name", NULL, NULL};
    int rc = ctl_control_cert_revoke(cfg, cert, o->reason, o->mode);

    if (rc >= 0) {
        return rc;
    }
    in_use = ctl_control_cert_in_use(cfg, cert);
    if (in_use == NULL || (o->mode != NULL && strcmp(o->mode, "force") == 0)) {
        return -1;
    }
    if (o->mode == NULL) {
        fprintf(stderr,
                "mskpkictl cert revoke: this is the certificate '%s' uses now: give --replace to "
                "issue its successor first, or --force to revoke it anyway\n",
                in_use);
        return CTL_EXIT_USAGE;
    }
    argv[4] = (char *)in_use;
    optind = 0; /* a second getopt_long pass, for cert issue's options */
    rc = cert_issue_main(5, argv);
    if (rc != CTL_EXIT_OK) {
        fprintf(stderr, "mskpkictl cert revoke: the successor of '%s' was not issued: nothing "
                        "revoked\n", in_use);
        return rc;
    }
    return -1;
}

static int cert_revoke_main(int argc, char **argv)
{
    struct revoke_opts o;
    struct pki_ca_aws_pca_config pca;
    struct conf *cfg = NULL;
    struct pki_ca *ca = NULL;
    X509 *cert = NULL;
    struct mk_err err = {0};
    char serial[80];
    int rc = parse_revoke_args(argc, argv, &o);

    if (rc != 0) {
        return rc < 0 ? CTL_EXIT_OK : rc;
    }
    ctl_log_begin(0);
    if (pki_sodium_init(&err) != 0) {
        goto fail;
    }
    if (o.cert != NULL) {
        cert = pki_cert_load_file(o.cert, &err);
    } else {
        cert = ctl_cert_serial_only(o.serial, &err);
    }
    if (cert == NULL) {
        goto fail;
    }
    if (o.config != NULL) {
        if ((cfg = conf_load(o.config, &err)) == NULL) {
            goto fail;
        }
        if ((rc = revoke_hook(cfg, cert, &o)) >= 0) {
            if (rc == CTL_EXIT_OK) {
                cert_print_deny_acl(stdout, cert, 0);
            }
            goto out;
        }
        ca = issue_ca_new(cfg, &err);
    } else {
        memset(&pca, 0, sizeof(pca));
        pca.ca_arn = o.ca_arn;
        pca.region = o.region;
        pca.endpoint_url = o.endpoint_url;
        pca.profile = o.profile;
        ca = pki_ca_aws_pca_new(&pca, &err);
    }
    if (ca == NULL) {
        mk_err_prefix(&err, "ca");
        goto fail;
    }
    if (pki_ca_revoke(ca, cert, o.reason, &err) != 0) {
        goto fail;
    }
    {
        BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
        char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;
        snprintf(serial, sizeof(serial), "%s", hex != NULL ? hex : "?");
        OPENSSL_free(hex);
        BN_free(bn);
    }
    if (print_revoked(cert, serial, o.reason, pki_ca_kind(ca), o.cert == NULL, o.json) != 0) {
        fprintf(stderr, "mskpkictl cert revoke: revoked, but cannot write the result to "
                        "standard output\n");
        rc = CTL_EXIT_UNAVAILABLE;
        goto out;
    }
    rc = CTL_EXIT_OK;
    goto out;
fail:
    ctl_print_err("cert revoke", &err);
    rc = ctl_exit_for(&err);
out:
    X509_free(cert);
    pki_ca_free(ca);
    conf_free(cfg);
    return rc;
}

int ctl_cert_main(int argc, char **argv)
{
    if (argc < 2) {
        /* A usage error is short; the options are a --help away. */
        fputs("usage: mskpkictl cert inspect|issue|revoke [OPTIONS] (see mskpkictl cert --help)\n",
              stderr);
        return CTL_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        cert_usage(stdout);
        return CTL_EXIT_OK;
    }
    if (strcmp(argv[1], "inspect") == 0) {
        return ctl_cert_inspect_main(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "issue") == 0) {
        return cert_issue_main(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "revoke") == 0) {
        return cert_revoke_main(argc - 1, argv + 1);
    }
    fprintf(stderr, "mskpkictl cert: unknown subcommand '%s' (inspect, issue or revoke)\n",
            argv[1]);
    return CTL_EXIT_USAGE;
}
