/*
 * client-int.h: the client's internals shared by client.c and creds.c (not for other areas).
 */
#ifndef AWS_CLIENT_INT_H
#define AWS_CLIENT_INT_H

#include "aws/aws.h"
#include "aws/creds.h"
#include "aws/http.h"

/* One signed request, retried by aws_client_send(). */
struct aws_call {
    const char *service; /* endpoint prefix and signing name */
    const char *method;
    const char *path;         /* wire path (encoded), "/" for RPC protocols */
    const char *query;        /* wire query, or NULL */
    const char *content_type; /* or NULL */
    const char *target;       /* X-Amz-Target, or NULL */
    const void *body;
    size_t body_len;
    const char *what;              /* for messages: "kms TrentService.DescribeKey" */
    int anonymous;                 /* unsigned (AssumeRoleWithWebIdentity) */
    const struct aws_creds *creds; /* explicit credentials (AssumeRole), or NULL = chain */
    /* A call the credential chain makes for itself (a profile's role_arn, web identity): its
     * endpoint ignores aws_client_options.endpoint_url, as the AWS CLI's --endpoint-url does not
     * reach the STS calls of its credential providers (see aws_client_endpoint_for()). */
    int chain;
};

/*
 * Sends call with retries.  Returns 0 with a 2xx answer in resp (clear it with
 * aws_http_response_clear()), or -1 with err (AWS errors decoded, see aws.h).
 */
int aws_client_send(struct aws_client *c, const struct aws_call *call,
                    struct aws_http_response *resp, struct mk_err *err) MK_MUST_CHECK;

/* Flags of aws_query_call_as(). */
#define AWS_CALL_ANONYMOUS 1u /* unsigned (AssumeRoleWithWebIdentity) */
#define AWS_CALL_CHAIN 2u     /* the credential chain's own call (struct aws_call.chain) */

/* aws_query_call with explicit credentials (creds, or NULL = the chain's) and flags. */
int aws_query_call_as(struct aws_client *client, const char *service, const char *action,
                      const char *version, const struct aws_query_param *params,
                      const struct aws_creds *creds, unsigned flags, char **xml, size_t *xml_len,
                      struct mk_err *err) MK_MUST_CHECK;

/* The transport and settings creds.c needs for metadata services.  Borrowed. */
struct aws_http *aws_client_http(struct aws_client *c);
const char *aws_client_ca_bundle(const struct aws_client *c);
/* The credential_process timeout in milliseconds (aws_client_options). */
long aws_client_process_timeout_ms(const struct aws_client *c);

/* The endpoint base URL (no trailing '/') for service.  Caller frees with free(). */
char *aws_client_endpoint(const struct aws_client *c, const char *service,
                          struct mk_err *err) MK_MUST_CHECK;
/* The same for a call of the credential chain when chain is set: the endpoint_url option is
 * skipped, so AWS_ENDPOINT_URL_<SERVICE>, then AWS_ENDPOINT_URL, then the regional endpoint. */
char *aws_client_endpoint_for(const struct aws_client *c, const char *service, int chain,
                              struct mk_err *err) MK_MUST_CHECK;

/* Decodes an AWS error answer into err (MK_ERR_AWS, ext_code, http_status, message). */
void aws_decode_error(const struct aws_http_response *resp, const char *what, struct mk_err *err);

/* Whether ext_code/status is throttling or transient. */
int aws_code_is_retryable(const char *ext_code, long status);

/* Backoff before attempt+1 (attempt counted from 1): full jitter over min(cap, base * 2^n). */
long aws_backoff_ms(int attempt, double unit);

#endif
