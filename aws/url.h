/*
 * url.h: which URLs the AWS client may send credentials to, decided on libcurl's own parse of the
 * URL (CURLU), so the check and the request see the same host.
 *
 * Two rules, both from issue 16:
 *   - Container credentials (AWS_CONTAINER_CREDENTIALS_FULL_URI) carry an authorization token:
 *     https to any host, http only to the hosts the AWS SDKs allow (a loopback address
 *     127.0.0.0/8 or ::1, "localhost", the ECS agent 169.254.170.2, the EKS Pod Identity agent
 *     169.254.170.23 and fd00:ec2::23).  Userinfo is refused in every case.
 *   - Service endpoints (endpoint_url, AWS_ENDPOINT_URL*) carry SigV4 signatures and the session
 *     token: plain http only to a loopback host unless the caller allows insecure http.
 * Host names other than "localhost" are never resolved for the check: a name is not loopback.
 */
#ifndef AWS_URL_H
#define AWS_URL_H

#include "pki/err.h"

/* 1 when host (as CURLUPART_HOST gives it: an IPv6 literal in brackets) is 127.0.0.0/8, [::1] or
 * "localhost" (any case), else 0. */
int aws_url_host_is_loopback(const char *host);

/* Checks a container credentials URL.  Returns 0 and sets *normalized (curl's re-serialised URL,
 * the one to fetch; caller frees with free()), or -1 with err (MK_ERR_CREDS) naming env. */
int aws_url_check_container(const char *url, const char *env, char **normalized,
                            struct mk_err *err) MK_MUST_CHECK;

/* Checks a service endpoint URL named by what ("endpoint_url", "AWS_ENDPOINT_URL_ACM_PCA"):
 * http or https, no userinfo, http only to a loopback host unless allow_insecure_http.
 * Returns 1 when the URL is plain http to a non-loopback host (allowed), 0 when it is fine, or
 * -1 with err (MK_ERR_CONFIG) naming what and the allow_insecure_http setting. */
int aws_url_check_endpoint(const char *url, const char *what, int allow_insecure_http,
                           struct mk_err *err) MK_MUST_CHECK;

#endif
