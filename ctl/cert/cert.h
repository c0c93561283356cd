/*
 * cert.h: `mskpkictl cert inspect|issue|revoke` (docs/cert.md).  ctl_cert_main() in ctl.h
 * dispatches; the helpers below are shared by cert.c and cert_inspect.c and tested by
 * tests/test_ctl_cert.c.
 */
#ifndef CTL_CERT_H
#define CTL_CERT_H

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include <openssl/x509.h>

#include "pki/err.h"

/* `mskpkictl cert inspect ...` (argv[0] is "inspect"). */
int ctl_cert_inspect_main(int argc, char **argv);

/* 1 when name is an AWS Private CA RevocationReason ("KEY_COMPROMISE", ...) in any case
 * ("key_compromise"), else 0. */
int ctl_cert_reason_valid(const char *name);
/* The API's spelling of the reason name (any case), or NULL.  Static storage. */
const char *ctl_cert_reason_canonical(const char *name);

/*
 * A certificate that carries only the serial given as hex ("0A1B...", "0a:1b:..."; at most 20
 * octets, RFC 5280 4.1.2.2): RevokeCertificate names a certificate by its serial alone.
 * Caller frees with X509_free().  Bad hex is MK_ERR_USAGE.
 */
X509 *ctl_cert_serial_only(const char *hex, struct mk_err *err) MK_MUST_CHECK;

#ifdef MK_TESTING
/* cert.c: after a revocation, the note that MSK does not check CRLs, the certificate's Kafka
 * principal and the kafka-acls command that denies it (serial_only: the subject is unknown). */
void cert_print_deny_acl(FILE *out, X509 *cert, int serial_only);
#endif

/* One certificate as `cert inspect` reports it. */
struct cert_view {
    char file[1024];
    char subject[512];
    char issuer[512];
    char serial[80];
    char fingerprint[96];
    char sans[1024];
    char key[32];
    char key_usage[128];
    char ext_key_usage[128];
    time_t not_before;
    time_t not_after;
    long long seconds_left; /* not_after - now, negative once expired */
    int expired;            /* now >= not_after */
    int not_yet_valid;      /* now < not_before */
    int key_checked;        /* a key was given (--key or inside the PKCS#12) */
    int key_match;
    int chain_checked;      /* --ca-file was given */
    int chain_ok;
    char problem[768];      /* why the key or chain check failed, or empty */
};

/* Fills v from leaf, and the key and chain checks when key / trust are not NULL (untrusted are
 * the intermediates that came with the leaf, may be NULL).  Returns 0, or -1 when leaf cannot
 * be described. */
int ctl_cert_view(const char *file, X509 *leaf, STACK_OF(X509) *untrusted, EVP_PKEY *key,
                  STACK_OF(X509) *trust, time_t now, struct cert_view *v,
                  struct mk_err *err) MK_MUST_CHECK;

/* 1 when the view is fine: valid now, the key matches and the chain verifies (when checked). */
int ctl_cert_view_ok(const struct cert_view *v);

/* Renders views as a table or as a JSON array (docs/cert.md).  Returns 0 or -1 (MK_ERR_NOMEM,
 * MK_ERR_IO). */
int ctl_cert_views_write(FILE *out, int json, const struct cert_view *v, size_t n,
                         struct mk_err *err) MK_MUST_CHECK;

#endif
