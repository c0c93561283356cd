/*
 * rolesanywhere.h: IAM Roles Anywhere CreateSession, signed with an X.509 certificate's key.
 *
 * The signature is SigV4's canonical request with three changes (IAM Roles Anywhere user guide,
 * "authentication signing process"): the algorithm is AWS4-X509-ECDSA-SHA256 or
 * AWS4-X509-RSA-SHA256, the Credential's first field is the certificate's serial in decimal, and
 * the leaf (X-Amz-X509, base64 DER) and intermediates (X-Amz-X509-Chain, comma-separated) are
 * signed headers.  The string to sign is
 *
 *     ALGORITHM \n YYYYMMDDTHHMMSSZ \n YYYYMMDD/REGION/rolesanywhere/aws4_request \n
 * HEX(SHA256(CR))
 *
 * and the signature is the key's SHA-256 signature over it (ECDSA as DER, RSA PKCS#1 v1.5), hex.
 *
 * The split: the string to sign is built only from (date, region, canonical-request hash) by
 * aws_ra_string_to_sign(), and the signature comes from a callback, so that the agent's key
 * process can build and sign it itself without ever signing bytes the network process chose
 * (agent/keysign.c); aws_ra_sign_fields() is that callback for a key held in this process.
 */
#ifndef AWS_ROLESANYWHERE_H
#define AWS_ROLESANYWHERE_H

#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "aws/creds.h"
#include "aws/http.h"
#include "pki/err.h"

#define AWS_RA_ALG_ECDSA "AWS4-X509-ECDSA-SHA256"
#define AWS_RA_ALG_RSA "AWS4-X509-RSA-SHA256"
/* CreateSession accepts 900 s to 12 h; one hour is the service's default. */
#define AWS_RA_DURATION_MIN 900
#define AWS_RA_DURATION_MAX 43200
#define AWS_RA_DURATION_DEFAULT 3600
/* More than this between our clock and the service's Date header is reported as clock skew
 * (SigV4 refuses requests more than 5 minutes off). */
#define AWS_RA_SKEW_LIMIT_S 300

/* The algorithm for key (a public or private key): EC -> ECDSA, RSA -> RSA.  NULL with
 * MK_ERR_CONFIG for any other key type (Ed25519, DSA...), which Roles Anywhere does not accept. */
const char *aws_ra_algorithm(EVP_PKEY *key, struct mk_err *err);

/*
 * The string to sign from its fields, each validated so that nothing else can be smuggled in:
 * algorithm one of the two above, amz_date "YYYYMMDDTHHMMSSZ", region [a-z0-9-]{1,32},
 * creq_hash 64 lower-case hex digits.  Caller frees with free().  MK_ERR_INVALID on a bad field.
 */
char *aws_ra_string_to_sign(const char *algorithm, const char *amz_date, const char *region,
                            const char *creq_hash, struct mk_err *err) MK_MUST_CHECK;

/* Builds the string to sign for key's algorithm from the fields and signs it with key.  *sig is
 * the DER (ECDSA) or PKCS#1 v1.5 (RSA) signature; caller frees with free(). */
int aws_ra_sign_fields(EVP_PKEY *key, const char *amz_date, const char *region,
                       const char *creq_hash, unsigned char **sig, size_t *sig_len,
                       struct mk_err *err) MK_MUST_CHECK;

/* A signer: what aws_ra_sign_fields() does, wherever the key is.  Returns 0 with *sig (caller
 * frees with free()) or -1 with err. */
typedef int (*aws_ra_sign_fn)(void *arg, const char *amz_date, const char *region,
                              const char *creq_hash, unsigned char **sig, size_t *sig_len,
                              struct mk_err *err);

/* The certificate a session is asked with.  Borrowed for the call. */
struct aws_ra_identity {
    X509 *leaf;
    STACK_OF(X509) * chain; /* intermediates to send (no root needed); NULL or empty = none */
    aws_ra_sign_fn sign;
    void *sign_arg;
    const char *name; /* the certificate's name in the configuration, for messages; may be NULL */
};

/* What to ask for.  Borrowed for the call. */
struct aws_ra_params {
    const char *trust_anchor_arn; /* required */
    const char *profile_arn;      /* required */
    const char *role_arn;         /* required */
    const char *session_name;     /* roleSessionName, or NULL */
    long duration_seconds;        /* 0 = the service's default (3600) */
    const char *region;           /* NULL = from trust_anchor_arn */
    const char *endpoint_url;     /* NULL = https://rolesanywhere.REGION.amazonaws.com */
    const char *ca_bundle;        /* PEM file, or NULL for the system store */
    long timeout_ms;              /* 0 = 30000 */
};

/* The region field of an ARN (arn:PARTITION:SERVICE:REGION:ACCOUNT:...) into out.  MK_ERR_CONFIG
 * when arn is not an ARN or has no region. */
int aws_ra_region_from_arn(const char *arn, char *out, size_t size,
                           struct mk_err *err) MK_MUST_CHECK;

/* One signed CreateSession request, as it goes on the wire.  Clear with aws_ra_request_clear(). */
struct aws_ra_request {
    char amz_date[17];
    char creq_hash[65];
    char *url;
    char *body;
    char **headers; /* "Name: value", NULL-terminated */
    char *canonical_request;
    char *string_to_sign;
};
void aws_ra_request_clear(struct aws_ra_request *r);

/* Builds and signs the request at time when.  Separate from the call for the unit tests. */
int aws_ra_build_request(const struct aws_ra_params *p, const struct aws_ra_identity *id,
                         time_t when, struct aws_ra_request *out, struct mk_err *err) MK_MUST_CHECK;

/* The credentials of a CreateSession answer (credentialSet[0].credentials), source
 * "roles-anywhere".  Caller frees with aws_creds_free().  MK_ERR_CREDS when malformed. */
struct aws_creds *aws_ra_parse_answer(const char *body, size_t len,
                                      struct mk_err *err) MK_MUST_CHECK;

/*
 * Calls CreateSession over http (one attempt; the caller retries).  Returns the credentials, or
 * NULL with one line in err: MK_ERR_CONFIG for a key type Roles Anywhere refuses or a certificate
 * that has expired here, MK_ERR_AWS (ext_code from the answer) for a refusal with what it most
 * likely means (role trust policy or profile disabled; certificate not trusted by the trust anchor
 * or expired; clock skew, with the skew measured from the answer's Date header).
 */
struct aws_creds *aws_ra_create_session(struct aws_http *http, const struct aws_ra_params *p,
                                        const struct aws_ra_identity *id,
                                        struct mk_err *err) MK_MUST_CHECK;

/*
 * A credentials source for an aws_client (aws_client_set_credentials_source): CreateSession with
 * the current certificate `name`, which current() finds (1 with a new *leaf and *chain the source
 * frees, 0 when there is none, -1 with err).  While the certificate is missing or expired the
 * source answers 0 and the client's ordinary chain signs (bootstrap); the message it leaves says
 * how to bootstrap when the chain has nothing either.  The client caches what it returns until
 * five minutes before expiry.
 */
struct aws_ra_source_config {
    struct aws_ra_params params; /* copied */
    const char *name;            /* copied */
    int (*current)(void *arg, const char *name, X509 **leaf, STACK_OF(X509) * *chain,
                   struct mk_err *err);
    aws_ra_sign_fn sign;
    void *arg; /* borrowed for the source's life */
};
struct aws_ra_source;
/* Installs the source on client.  Caller frees with aws_ra_source_free() after the client. */
struct aws_ra_source *aws_ra_source_new(struct aws_client *client,
                                        const struct aws_ra_source_config *cfg,
                                        struct mk_err *err) MK_MUST_CHECK;
void aws_ra_source_free(struct aws_ra_source *s);

/* Parses an HTTP Date (RFC 7231 IMF-fixdate).  Returns 0 or -1. */
int aws_ra_parse_http_date(const char *s, time_t *out) MK_MUST_CHECK;

#endif
