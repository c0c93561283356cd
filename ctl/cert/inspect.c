/*
 * cert_inspect.c: `mskpkictl cert inspect FILE...`: describes PEM, DER and PKCS#12 certificates,
 * optionally checks a key against them and verifies them for clientAuth, and fails (exit 1) when
 * one is expired, not yet valid, does not match its key or does not verify (docs/cert.md).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/pkcs12.h>

#include "ctl/cert/cert.h"
#include "ctl/ctl.h"
#include "ctl/output.h"
#include "pki/cert.h"
#include "pki/format.h"
#include "pki/key.h"
#include "pki/secret.h"

/* Certificates and keystores are small; anything bigger is not one. */
#define INSPECT_FILE_MAX (4 * 1024 * 1024)

struct inspect_opts {
    const char *key_file;
    const char *key_pass_file;
    const char *password_file;
    const char *ca_file;
    int json;
};

static void inspect_usage(FILE *out)
{
    fprintf(out, "usage: mskpkictl cert inspect [--key FILE [--key-passphrase-file FILE]] "
                 "[--password-file FILE]\n"
                 "                              [--ca-file FILE] [--format table|json] FILE...\n");
}

/* The whole file into *buf.  Caller frees *buf with free(). */
static int read_all(const char *path, unsigned char **buf, size_t *len, struct mk_err *err)
{
    FILE *f = NULL;
    unsigned char *b = NULL;
    size_t n = 0;
    int rc = -1;

    f = fopen(path, "rbe");
    MK_ENSURE_ERRNO(f != NULL, err, MK_ERR_IO, "%s: cannot open", path);
    b = malloc(INSPECT_FILE_MAX + 1);
    MK_ENSURE(b != NULL, err, MK_ERR_NOMEM, "out of memory");
    n = fread(b, 1, INSPECT_FILE_MAX + 1, f);
    MK_ENSURE_ERRNO(!ferror(f), err, MK_ERR_IO, "%s: read failed", path);
    MK_ENSURE(n <= INSPECT_FILE_MAX, err, MK_ERR_INVALID, "%s: larger than %d bytes", path,
              INSPECT_FILE_MAX);
    MK_ENSURE(n > 0, err, MK_ERR_INVALID, "%s: empty file", path);
    *buf = b;
    *len = n;
    b = NULL;
    rc = 0;
out:
    free(b);
    if (f != NULL) {
        fclose(f);
    }
    return rc;
}

/* 1 when data is a DER PKCS#12 structure (no password needed to tell). */
static int looks_pkcs12(const unsigned char *data, size_t len)
{
    const unsigned char *p = data;
    PKCS12 *p12 = d2i_PKCS12(NULL, &p, (long)len);
    int yes = p12 != NULL;

    PKCS12_free(p12);
    ERR_clear_error();
    return yes;
}

/*
 * Loads FILE: a PEM bundle (leaf first), a DER certificate, or a PKCS#12 keystore (password from
 * password_file; its key then counts as the key to check).  Caller frees the results.
 */
static int load_input(const char *path, const char *password_file, X509 **leaf,
                      STACK_OF(X509) **rest, EVP_PKEY **key, struct mk_err *err)
{
    unsigned char *data = NULL;
    size_t len = 0;
    STACK_OF(X509) *certs = NULL;
    struct pki_secret *password = NULL;
    int rc = -1;

    MK_GUARD(read_all(path, &data, &len, err));
    if (looks_pkcs12(data, len)) {
        MK_ENSURE(password_file != NULL, err, MK_ERR_USAGE,
                  "%s: a PKCS#12 keystore needs --password-file", path);
        MK_GUARD_PTR(password = pki_secret_read_file(password_file, err));
        if (pki_format_pkcs12_parse(data, len, password, key, leaf, rest, err) != 0) {
            mk_err_prefix(err, "%s", path);
            goto out;
        }
        rc = 0;
        goto out;
    }
    certs = pki_certs_from_mem(data, len, err);
    if (certs == NULL) {
        mk_err_prefix(err, "%s: not a PEM, DER or PKCS#12 certificate", path);
        goto out;
    }
    *leaf = sk_X509_shift(certs);
    *rest = certs;
    certs = NULL;
    rc = 0;
out:
    pki_secret_free(password);
    sk_X509_pop_free(certs, X509_free);
    free(data);
    return rc;
}

static void add_problem(struct cert_view *v, const char *what, const struct mk_err *err)
{
    size_t used = strlen(v->problem);
    snprintf(v->problem + used, sizeof(v->problem) - used, "%s%s: %s", used > 0 ? "; " : "",
             what, err->msg);
}

int ctl_cert_view(const char *file, X509 *leaf, STACK_OF(X509) *untrusted, EVP_PKEY *key,
                  STACK_OF(X509) *trust, time_t now, struct cert_view *v, struct mk_err *err)
{
    struct pki_cert_info info;
    struct mk_err check;

    memset(v, 0, sizeof(*v));
    if (pki_cert_info(leaf, &info, err) != 0) {
        mk_err_prefix(err, "%s", file);
        return -1;
    }
    snprintf(v->file, sizeof(v->file), "%s", file);
    snprintf(v->subject, sizeof(v->subject), "%s", info.subject);
    snprintf(v->issuer, sizeof(v->issuer), "%s", info.issuer);
    snprintf(v->serial, sizeof(v->serial), "%s", info.serial_hex);
    snprintf(v->fingerprint, sizeof(v->fingerprint), "%s", info.fingerprint_sha256);
    snprintf(v->sans, sizeof(v->sans), "%s", info.sans);
    snprintf(v->key, sizeof(v->key), "%s", info.key_desc);
    snprintf(v->key_usage, sizeof(v->key_usage), "%s", info.key_usage);
    snprintf(v->ext_key_usage, sizeof(v->ext_key_usage), "%s", info.ext_key_usage);
    v->not_before = info.not_before;
    v->not_after = info.not_after;
    v->seconds_left = (long long)info.not_after - (long long)now;
    v->expired = now >= info.not_after;
    v->not_yet_valid = now < info.not_before;
    if (key != NULL) {
        v->key_checked = 1;
        mk_err_clear(&check);
        v->key_match = pki_cert_matches_key(leaf, key, &check) == 0;
        if (!v->key_match) {
            add_problem(v, "key", &check);
        }
    }
    if (trust != NULL) {
        v->chain_checked = 1;
        mk_err_clear(&check);
        v->chain_ok = pki_cert_verify_client(leaf, untrusted, trust, now, &check) == 0;
        if (!v->chain_ok) {
            add_problem(v, "chain", &check);
        }
    }
    return 0;
}

int ctl_cert_view_ok(const struct cert_view *v)
{
    return !v->expired && !v->not_yet_valid && (!v->key_checked || v->key_match) &&
           (!v->chain_checked || v->chain_ok);
}

static void fmt_time(time_t t, char *buf, size_t cap)
{
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
        snprintf(buf, cap, "%lld", (long long)t);
    }
}

/* "12d 3h", "5h 2m", "40s", or "expired 2d 1h ago". */
static void fmt_left(long long s, char *buf, size_t cap)
{
    long long a = s < 0 ? -s : s;
    char span[64];

    if (a >= 86400) {
        snprintf(span, sizeof(span), "%lldd %lldh", a / 86400, (a % 86400) / 3600);
    } else if (a >= 3600) {
        snprintf(span, sizeof(span), "%lldh %lldm", a / 3600, (a % 3600) / 60);
    } else {
        snprintf(span, sizeof(span), "%llds", a);
    }
    if (s <= 0) {
        snprintf(buf, cap, "expired %s ago", span);
    } else {
        snprintf(buf, cap, "%s", span);
    }
}

static const char *check_word(int checked, int ok)
{
    return !checked ? "not checked" : ok ? "yes" : "NO";
}

static void write_one_table(FILE *out, const struct cert_view *v)
{
    char nb[32], na[32], left[96];

    fmt_time(v->not_before, nb, sizeof(nb));
    fmt_time(v->not_after, na, sizeof(na));
    fmt_left(v->seconds_left, left, sizeof(left));
    fprintf(out, "%s\n", v->file);
    fprintf(out, "  %-19s %s\n", "subject:", v->subject);
    fprintf(out, "  %-19s %s\n", "SANs:", v->sans[0] != '\0' ? v->sans : "-");
    fprintf(out, "  %-19s %s\n", "issuer:", v->issuer);
    fprintf(out, "  %-19s %s\n", "serial:", v->serial);
    fprintf(out, "  %-19s %s\n", "not before:", nb);
    fprintf(out, "  %-19s %s%s\n", "not after:", na, v->not_yet_valid ? " (NOT YET VALID)" : "");
    fprintf(out, "  %-19s %s\n", "time left:", left);
    fprintf(out, "  %-19s %s\n", "key:", v->key);
    fprintf(out, "  %-19s %s\n", "key usage:", v->key_usage[0] != '\0' ? v->key_usage : "-");
    fprintf(out, "  %-19s %s\n", "extended key usage:",
            v->ext_key_usage[0] != '\0' ? v->ext_key_usage : "-");
    fprintf(out, "  %-19s %s\n", "SHA-256:", v->fingerprint);
    fprintf(out, "  %-19s %s\n", "key matches:", check_word(v->key_checked, v->key_match));
    fprintf(out, "  %-19s %s\n", "chain verifies:", check_word(v->chain_checked, v->chain_ok));
    if (v->problem[0] != '\0') {
        fprintf(out, "  %-19s %s\n", "problem:", v->problem);
    }
    fprintf(out, "  %-19s %s\n", "result:", ctl_cert_view_ok(v) ? "ok" : "FAIL");
}

/* "a, b, c" as a JSON array of strings. */
static json_t *split_list(const char *s)
{
    json_t *a = json_array();
    const char *p = s;

    while (a != NULL && *p != '\0') {
        const char *end = strstr(p, ", ");
        size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
        if (json_array_append_new(a, json_stringn(p, n)) != 0) {
            json_decref(a);
            return NULL;
        }
        p += n;
        if (end != NULL) {
            p += 2;
        }
    }
    return a;
}

static json_t *check_json(int checked, int ok)
{
    return checked ? json_boolean(ok) : json_null();
}

static json_t *view_json(const struct cert_view *v)
{
    char nb[32], na[32];

    fmt_time(v->not_before, nb, sizeof(nb));
    fmt_time(v->not_after, na, sizeof(na));
    return json_pack("{s:s, s:s, s:o?, s:s, s:s, s:s, s:s, s:I, s:b, s:b, s:s, s:o?, s:o?, s:s, "
                     "s:o, s:o, s:s?, s:b}",
                     "file", v->file, "subject", v->subject, "sans", split_list(v->sans),
                     "issuer", v->issuer, "serial", v->serial, "not_before", nb, "not_after", na,
                     "seconds_left", (json_int_t)v->seconds_left, "expired", v->expired,
                     "not_yet_valid", v->not_yet_valid, "key", v->key, "key_usage",
                     split_list(v->key_usage), "extended_key_usage",
                     split_list(v->ext_key_usage), "sha256_fingerprint", v->fingerprint,
                     "key_match", check_json(v->key_checked, v->key_match), "chain_verified",
                     check_json(v->chain_checked, v->chain_ok), "problem",
                     v->problem[0] != '\0' ? v->problem : NULL, "ok", ctl_cert_view_ok(v));
}

int ctl_cert_views_write(FILE *out, int json, const struct cert_view *v, size_t n,
                         struct mk_err *err)
{
    json_t *a = NULL;
    int rc = -1;

    if (!json) {
        for (size_t i = 0; i < n; i++) {
            if (i > 0) {
                fputc('\n', out);
            }
            write_one_table(out, &v[i]);
        }
    } else {
        a = json_array();
        MK_ENSURE(a != NULL, err, MK_ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
            MK_ENSURE(json_array_append_new(a, view_json(&v[i])) == 0, err, MK_ERR_NOMEM,
                      "out of memory");
        }
        MK_ENSURE(json_dumpf(a, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER) == 0, err, MK_ERR_IO,
                  "cannot write the report");
        fputc('\n', out);
    }
    MK_ENSURE_ERRNO(fflush(out) == 0 && !ferror(out), err, MK_ERR_IO, "cannot write the report");
    rc = 0;
out:
    json_decref(a);
    return rc;
}

static int parse_inspect_args(int argc, char **argv, struct inspect_opts *o)
{
    static const struct option longopts[] = {
        {"key", required_argument, NULL, 'k'},
        {"key-passphrase-file", required_argument, NULL, 'K'},
        {"password-file", required_argument, NULL, 'p'},
        {"ca-file", required_argument, NULL, 'C'},
        {"format", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int ch;

    memset(o, 0, sizeof(*o));
    if (ctl_options_begin("cert inspect", argc, argv, longopts) != 0) {
        return CTL_EXIT_USAGE;
    }
    while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'k':
            o->key_file = optarg;
            break;
        case 'K':
            o->key_pass_file = optarg;
            break;
        case 'p':
            o->password_file = optarg;
            break;
        case 'C':
            o->ca_file = optarg;
            break;
        case 'f':
            if (strcmp(optarg, "table") != 0 && strcmp(optarg, "json") != 0) {
                return ctl_usage_error("cert inspect", "--format: expected table or json, got '%s'",
                                            optarg);
            }
            o->json = strcmp(optarg, "json") == 0;
            break;
        case 'h':
            inspect_usage(stdout);
            return -1;
        case ':':
        default:
            return ctl_option_error("cert inspect", ch, argc, argv);
        }
    }
    if (optind >= argc) {
        return ctl_usage_error("cert inspect", "give at least one certificate FILE");
    }
    if (o->key_pass_file != NULL && o->key_file == NULL) {
        return ctl_usage_error("cert inspect", "--key-passphrase-file goes with --key");
    }
    return 0;
}

/* The --key and --ca-file inputs.  On failure err names the file. */
static int load_checks(const struct inspect_opts *o, EVP_PKEY **key, STACK_OF(X509) **trust,
                       struct mk_err *err)
{
    struct pki_secret *pass = NULL;
    int rc = -1;

    if (o->key_pass_file != NULL) {
        MK_GUARD_PTR(pass = pki_secret_read_file(o->key_pass_file, err));
    }
    if (o->key_file != NULL) {
        MK_GUARD_PTR(*key = pki_key_load_file(o->key_file, pass, err));
    }
    if (o->ca_file != NULL) {
        MK_GUARD_PTR(*trust = pki_certs_load_file(o->ca_file, err));
    }
    rc = 0;
out:
    pki_secret_free(pass);
    return rc;
}

int ctl_cert_inspect_main(int argc, char **argv)
{
    struct inspect_opts o;
    struct mk_err err = {0};
    struct cert_view *views = NULL;
    EVP_PKEY *key = NULL;
    STACK_OF(X509) *trust = NULL;
    size_t n = 0;
    int all_ok = 1;
    int rc = parse_inspect_args(argc, argv, &o);

    if (rc != 0) {
        return rc < 0 ? CTL_EXIT_OK : rc;
    }
    views = calloc((size_t)(argc - optind), sizeof(*views));
    if (views == NULL) {
        fprintf(stderr, "mskpkictl cert inspect: out of memory\n");
        return CTL_EXIT_UNAVAILABLE;
    }
    rc = CTL_EXIT_UNAVAILABLE;
    if (pki_sodium_init(&err) != 0 || load_checks(&o, &key, &trust, &err) != 0) {
        goto fail;
    }
    for (int i = optind; i < argc; i++) {
        X509 *leaf = NULL;
        STACK_OF(X509) *rest = NULL;
        EVP_PKEY *p12_key = NULL;
        int ok = load_input(argv[i], o.password_file, &leaf, &rest, &p12_key, &err) == 0 &&
                 ctl_cert_view(argv[i], leaf, rest, key != NULL ? key : p12_key, trust,
                               time(NULL), &views[n], &err) == 0;
        X509_free(leaf);
        sk_X509_pop_free(rest, X509_free);
        EVP_PKEY_free(p12_key);
        if (!ok) {
            goto fail;
        }
        all_ok &= ctl_cert_view_ok(&views[n]);
        n++;
    }
    if (ctl_cert_views_write(stdout, o.json, views, n, &err) != 0) {
        goto fail;
    }
    rc = all_ok ? CTL_EXIT_OK : CTL_EXIT_FINDINGS;
    goto out;
fail:
    ctl_print_err("cert inspect", &err);
    rc = err.code == MK_ERR_USAGE ? CTL_EXIT_USAGE : CTL_EXIT_UNAVAILABLE;
out:
    EVP_PKEY_free(key);
    sk_X509_pop_free(trust, X509_free);
    free(views);
    return rc;
}
