/*
 * sigv4.h: AWS Signature Version 4 (header signing) on OpenSSL HMAC-SHA256 and SHA-256.
 *
 * We sign ourselves rather than with CURLOPT_AWS_SIGV4 because libcurl's signer does not
 * double-encode the path (non-S3 services need it for an ARN in a REST path), cannot add the
 * session token, and gives no access to the canonical request for testing.  See docs/aws.md.
 *
 * The request is given as it goes on the wire: path already percent-encoded once, query string
 * as sent.  aws_sigv4_sign() computes the canonical request (RFC 3986 encoding, dot segments
 * removed when normalize_path, sorted query, trimmed/lower-cased/sorted headers), the string to
 * sign and the Authorization header.  It adds x-amz-date, x-amz-security-token (unless
 * omit_session_token) and x-amz-content-sha256 (when sign_body) to the signed headers itself;
 * the caller sends them (values in the result).
 */
#ifndef AWS_SIGV4_H
#define AWS_SIGV4_H

#include <stddef.h>
#include <time.h>

#include "pki/err.h"

struct aws_sigv4_header {
    const char *name;  /* any case */
    const char *value; /* raw; trimmed and whitespace-collapsed for signing */
};

struct aws_sigv4_request {
    const char *method;
    const char *path;                       /* wire path without the query ("" or NULL = "/") */
    const char *query;                      /* wire query string without '?', or NULL */
    const struct aws_sigv4_header *headers; /* must include host */
    size_t n_headers;
    const void *body; /* may be NULL when body_len is 0 */
    size_t body_len;
};

struct aws_sigv4_params {
    const char *access_key_id;
    const char *secret_access_key; /* borrowed from the credentials' pki_secret */
    const char *session_token;     /* NULL for long-term keys */
    const char *region;
    const char *service;    /* signing name, e.g. "kafka", "acm-pca", "sts" */
    time_t when;            /* signing time (UTC) */
    int normalize_path;     /* remove dot segments and empty segments (non-S3: 1) */
    int double_encode;      /* encode the wire path again (non-S3: 1) */
    int sign_body;          /* add x-amz-content-sha256 */
    int omit_session_token; /* token sent but not signed (old STS behaviour; tests only) */
};

/*
 * The result; every string is owned by it.  canonical_request holds the session token, so
 * aws_sigv4_result_clear() wipes before freeing.  Never log canonical_request.
 */
struct aws_sigv4_result {
    char amz_date[17];     /* YYYYMMDD'T'HHMMSS'Z' */
    char payload_hash[65]; /* hex SHA-256 of the body */
    char signature[65];    /* hex */
    char *canonical_request;
    char *string_to_sign;
    char *signed_headers; /* "host;x-amz-date" */
    char *authorization;  /* value of the Authorization header */
};

/* Signs req.  Fills out (clear it with aws_sigv4_result_clear()) or returns -1 with err. */
int aws_sigv4_sign(const struct aws_sigv4_request *req, const struct aws_sigv4_params *p,
                   struct aws_sigv4_result *out, struct mk_err *err) MK_MUST_CHECK;

/* Wipes and frees the strings of r; r may be all zero or NULL. */
void aws_sigv4_result_clear(struct aws_sigv4_result *r);

/* Lower-case hex SHA-256 of data into hex[65]. */
void aws_sigv4_sha256_hex(const void *data, size_t len, char hex[65]);

/* Lower-case hex of in (len bytes) into out, which holds 2 * len + 1 bytes (NUL-terminated):
 * the encoding of every hash and signature in SigV4 and the Roles Anywhere signer. */
void aws_hex_encode(const unsigned char *in, size_t len, char *out);

#endif
