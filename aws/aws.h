/*
 * aws.h: the shared AWS client of the agent and the ctl.
 *
 * One struct aws_client holds the region, the credentials chain (environment, web identity,
 * shared files and profiles, container, IMDSv2; refreshed before expiry), endpoint overrides, the
 * retry policy and a connection pool.  It is safe to use from several threads at once.
 * Requests are signed by our own SigV4 signer (aws/sigv4.h), never by libcurl.
 *
 * Every call returns 0, or -1 with err filled: MK_ERR_AWS with err->ext_code set to the AWS error
 * code ("ThrottlingException", "AccessDeniedException", "ResourceNotFoundException",
 * "RequestInProgressException", ...) and err->http_status, MK_ERR_NET / MK_ERR_TIMEOUT for
 * transport failures, MK_ERR_CREDS when no credentials could be found, MK_ERR_INVALID for an
 * answer that cannot be parsed.  Throttling, 5xx and network errors are retried inside the call
 * (capped exponential backoff, full jitter) until max_attempts or the deadline.
 */
#ifndef AWS_AWS_H
#define AWS_AWS_H

#include <stddef.h>

#include <jansson.h>

#include "pki/err.h"

struct aws_client;

struct aws_client_options {
    const char *region;       /* NULL = AWS_REGION, AWS_DEFAULT_REGION, then the profile's region */
    const char *profile;      /* NULL = AWS_PROFILE, then "default" */
    const char *endpoint_url; /* NULL = AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL, then
                                 https://<service>.<region>.amazonaws.com; applies to every service
                                 unless endpoint_service is set, and to role_arn's AssumeRole,
                                 never to the STS calls of the credential chain itself (see
                                 creds.h) */
    /* When set ("acm-pca"), endpoint_url applies to that service only and every other service
     * (STS for the credential chain) resolves as if endpoint_url were NULL: a backend's VPC or
     * FIPS endpoint must not receive the AssumeRole(WithWebIdentity) calls of its credentials. */
    const char *endpoint_service;
    const char *ca_bundle;    /* PEM file to verify HTTPS against; NULL = system store */
    long connect_timeout_ms;  /* 0 = 5000 */
    long request_timeout_ms;  /* per attempt; 0 = 30000 */
    long deadline_ms;         /* whole call with retries; 0 = 120000 */
    int max_attempts;         /* 0 = 5 */
    /* Plain http:// endpoints are refused (MK_ERR_CONFIG) unless the host is loopback or this is
     * set; each one it lets through is logged as a warning when the client is created. */
    int allow_insecure_http;
    long credential_process_timeout_ms; /* 0 = 60000; the helper's process group is killed */
    /* Added for multi-account audits: when role_arn is set, every call is signed with the
     * credentials of STS AssumeRole(role_arn), called with the chain's credentials (the chain
     * above is the source; the role is assumed again before it expires). */
    const char *role_arn;          /* NULL = the chain's own credentials */
    const char *role_session_name; /* NULL = "mskpki-<unix time>" */
    const char *external_id;       /* NULL = none */
};

/* Caller frees with aws_client_free().  Fails with MK_ERR_CONFIG when no region can be found. */
struct aws_client *aws_client_new(const struct aws_client_options *opts, struct mk_err *err) MK_MUST_CHECK;
void aws_client_free(struct aws_client *client);

/* Resolves the credentials now (the chain, and AssumeRole when role_arn is set) instead of on
 * the first call, so a caller can tell "cannot get credentials" from a failed service call.
 * Returns 0, or -1 with err: MK_ERR_CREDS when the chain has nothing, or the AssumeRole error
 * (MK_ERR_AWS with ext_code "AccessDenied", MK_ERR_NET, ...) prefixed "assume role <arn>". */
int aws_client_check_credentials(struct aws_client *client, struct mk_err *err) MK_MUST_CHECK;

/* The credentials the client signs with now (resolved or refreshed as a call would).  Caller
 * frees with aws_creds_free() (aws/creds.h). */
struct aws_creds *aws_client_credentials(struct aws_client *client,
                                         struct mk_err *err) MK_MUST_CHECK;

/* The resolved region.  Borrowed, valid for the client's life. */
const char *aws_client_region(const struct aws_client *client);

/*
 * JSON 1.1 protocol (ACM PCA, KMS, Kinesis, Firehose): POST / with X-Amz-Target: target.
 * service is the endpoint prefix and signing name ("acm-pca", "kms", "kinesis", "firehose").
 * request is borrowed; *response is a new reference the caller releases with json_decref().
 */
int aws_json_call(struct aws_client *client, const char *service, const char *target,
                  json_t *request, json_t **response, struct mk_err *err) MK_MUST_CHECK;

/*
 * REST-JSON protocol (MSK, service "kafka"): method and path as the API reference writes them,
 * with path parameters already inserted raw (an ARN in the path is percent-encoded here, once
 * for the wire and again for the signature as non-S3 SigV4 requires).  query is an array of
 * name/value pairs (names and values raw) ending in a NULL name, or NULL.  body may be NULL.
 * *response is a new reference (an empty object for an empty body).
 */
struct aws_query_param {
    const char *name;
    const char *value;
};
int aws_rest_call(struct aws_client *client, const char *service, const char *method,
                  const char *path, const struct aws_query_param *query, json_t *body,
                  json_t **response, struct mk_err *err) MK_MUST_CHECK;

/* Query protocol (STS) with an XML answer: the response's XML text for the caller to parse with
 * aws/xml.h helpers.  Caller frees *xml with free(). */
int aws_query_call(struct aws_client *client, const char *service, const char *action,
                   const char *version, const struct aws_query_param *params, char **xml,
                   size_t *xml_len, struct mk_err *err) MK_MUST_CHECK;

/* Whether err is worth retrying at a higher level (throttling, 5xx, network, timeout). */
int aws_err_is_retryable(const struct mk_err *err);

#endif
