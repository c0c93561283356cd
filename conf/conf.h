/*
 * conf.h: the mskpki configuration file (libconfig syntax), parsed into a validated struct conf.
 *
 * conf_load() either returns a fully validated config or NULL with a one-line error naming the
 * file, the line and the setting ("/etc/mskpki/mskpki.conf:12: certificates.[0].key_type: unknown
 * key type 'ec-p999' (expected ec-p256, ec-p384, rsa-2048, rsa-3072, rsa-4096)").  All strings
 * are owned by the struct; conf_free() releases everything and accepts NULL.  See docs/config.md.
 */
#ifndef CONF_CONF_H
#define CONF_CONF_H

#include <stddef.h>
#include <sys/types.h>

#include "ca/ca.h"
#include "pki/err.h"
#include "pki/key.h"
#include "pki/log.h"

/* Where the agent, `mskpkictl status` and `mskpkictl cert revoke` look without --config (the
 * Debian package installs it there). */
#define CONF_DEFAULT_PATH "/etc/mskpki/mskpki.conf"

/* agent.user when the file names none: the Debian package's and scripts/setup.sh's user. */
#define CONF_DEFAULT_AGENT_USER "mskpki"

/* control.socket when the file names none (issue 17): systemd's RuntimeDirectory=mskpki. */
#define CONF_DEFAULT_CONTROL_SOCKET "/run/mskpki/control.sock"

enum conf_ca_type { CONF_CA_LOCAL, CONF_CA_AWS_PCA };

struct conf_ca {
    enum conf_ca_type type;
    /* Exactly one is meaningful, by type.  Strings inside point into this struct conf. */
    struct pki_ca_local_config local;
    struct pki_ca_aws_pca_config aws_pca;
};

struct conf_output {
    char *directory;      /* absolute */
    char *key;            /* file names inside directory (no '/'); key and cert required */
    char *cert;
    char *chain;          /* NULL = not written */
    char *fullchain;
    char *pkcs12;
    char *pkcs12_alias;
    char *owner;          /* user name or NULL */
    char *group;          /* group name or NULL */
    uid_t uid;            /* resolved owner, or (uid_t)-1 */
    gid_t gid;            /* resolved group, or (gid_t)-1 */
    mode_t key_mode;      /* 0600 (default) or 0640 (needs group); wider is a config error */
    mode_t cert_mode;     /* default 0644 */
    char *key_passphrase_file; /* absolute or NULL */
    char *pkcs12_password_file; /* absolute; required with pkcs12 */
};

struct conf_hook {
    char **argv;          /* NULL-terminated, argv[0] absolute; NULL = no hook */
    int shell;            /* 1: argv is { "/bin/sh", "-c", command, NULL } */
    long timeout_seconds; /* default 30 */
};

struct conf_certificate {
    char *name;           /* unique, [A-Za-z0-9_.-]+: metric label, state file name */
    char *common_name;
    char *organization;
    char *organizational_unit;
    char *locality;
    char *state;
    char *country;
    char **dns_names;
    size_t n_dns_names;
    char **uris;
    size_t n_uris;
    char **emails;
    size_t n_emails;
    enum pki_key_type key_type; /* default ec-p256 */
    int reuse_key;              /* default 0: a fresh key each rotation */
    long validity_seconds;      /* requested lifetime, default 30 days */
    double renew_fraction;      /* default 2/3 */
    long renew_before_seconds;  /* 0 = use renew_fraction */
    double jitter_fraction;     /* default 0.10 of the remaining window */
    int revoke_replaced;        /* default 0 */
    long revoke_grace_seconds;  /* default 3600 */
    struct conf_output output;
    struct conf_hook hook;
};

/* metrics.* beyond listen (issue 16): TLS, required off loopback unless insecure, and limits. */
struct conf_metrics {
    char *tls_cert_file;             /* absolute PEM, or NULL = plain http */
    char *tls_key_file;              /* absolute PEM; set exactly when tls_cert_file is */
    char *client_ca_file;            /* absolute PEM: scrapers must present a cert it signed */
    int insecure;                    /* 1: a non-loopback listen without TLS is accepted */
    long connection_timeout_seconds; /* idle/trickling connection closed after; default 10 */
    long max_connections;            /* default 64 */
    long max_connections_per_ip;     /* default 8 */
};

struct conf {
    char *path;                 /* the file it was read from */
    struct conf_ca ca;
    struct conf_certificate *certs;
    size_t n_certs;             /* >= 1 */
    char *metrics_listen;       /* "127.0.0.1:9464" (default); "" disables */
    struct conf_metrics metrics;
    char *state_dir;            /* absolute; default /var/lib/mskpki */
    enum mk_log_level log_level;/* default info */
    enum mk_log_target log_target; /* default stderr */
    long retry_min_seconds;     /* backoff after a failed rotation, default 30 */
    long retry_max_seconds;     /* cap, default 3600 */
    char *agent_user;           /* agent.user: the network process's user under root, "mskpki" */
    char *control_socket;       /* control.socket: the daemon's control socket; "" for none */
};

/* Parses and validates path.  Caller frees with conf_free().  Errors: MK_ERR_CONFIG (or
 * MK_ERR_IO when the file cannot be read), message "file:line: setting: problem". */
struct conf *conf_load(const char *path, struct mk_err *err) MK_MUST_CHECK;
/* As conf_load() on text, the contents of path read by someone else (the agent's sandboxed
 * network process gets the file from its supervisor): messages name path and the line in text,
 * and @include is relative to path's directory. */
struct conf *conf_load_text(const char *path, const char *text,
                            struct mk_err *err) MK_MUST_CHECK;
void conf_free(struct conf *cfg);

/* The local CA's default directory moved from <state_dir>/ca (inside state_dir, which the
 * network process's sandbox then could not write) to <state_dir>-ca.  Returns -1 with
 * MK_ERR_CONFIG and the `mv` that moves it when a CA is still at the old place while the local
 * backend uses the new one (a new CA there would re-root every client), else 0.  Looks at the
 * filesystem, so the agent calls it at start-up, not conf_load(). */
int conf_check_local_ca_moved(const struct conf *cfg, struct mk_err *err) MK_MUST_CHECK;

/* The certificate block called name, or NULL.  Borrowed from cfg. */
const struct conf_certificate *conf_find_certificate(const struct conf *cfg, const char *name);

/* Parses a duration: a positive integer with a unit s, m, h or d ("90s", "30d").  Returns 0 or -1. */
int conf_parse_duration(const char *text, long *seconds) MK_MUST_CHECK;

#endif
