/*
 * http.h: the libcurl transport of the AWS client: one request, one answer, no retries (the
 * caller retries; see client.c).
 *
 * A struct aws_http holds a CURLSH that shares connections and DNS between threads; each
 * aws_http_perform() uses its own easy handle, so calls from several threads are safe.
 * curl_global_init runs once per process.  TLS verification is always on.
 */
#ifndef AWS_HTTP_H
#define AWS_HTTP_H

#include <stddef.h>

#include "aws/buf.h"
#include "pki/err.h"

struct aws_http;

struct aws_http_request {
    const char *method;         /* "GET", "POST", "PUT", "DELETE" */
    const char *url;            /* full URL, path and query already encoded */
    const char *const *headers; /* "Name: value" strings, NULL-terminated, or NULL */
    const void *body;
    size_t body_len;
    long connect_timeout_ms; /* > 0 */
    long timeout_ms;         /* whole attempt, > 0 */
    const char *ca_bundle;   /* PEM file, or NULL for the system store */
    int no_proxy;            /* 1 for link-local metadata services */
};

struct aws_http_response {
    long status;
    struct aws_buf body;  /* wiped when cleared: it can hold credentials */
    char error_type[128]; /* x-amzn-ErrorType header, or "" */
    char request_id[128]; /* x-amzn-RequestId / x-amz-request-id, or "" */
    char date[64];        /* Date header (RFC 7231), or "": measures clock skew */
};

/* Caller frees with aws_http_free(). */
struct aws_http *aws_http_new(struct mk_err *err) MK_MUST_CHECK;
void aws_http_free(struct aws_http *h);

/*
 * Performs req.  Returns 0 when an HTTP answer arrived (any status; resp filled, clear it with
 * aws_http_response_clear()), or -1 with MK_ERR_NET (connection, TLS, answer too large) or
 * MK_ERR_TIMEOUT.  The message names method and URL, never a header value.
 */
int aws_http_perform(struct aws_http *h, const struct aws_http_request *req,
                     struct aws_http_response *resp, struct mk_err *err) MK_MUST_CHECK;

void aws_http_response_clear(struct aws_http_response *resp);

#endif
