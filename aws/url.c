/*
 * url.c: the URL rules of the AWS client; see url.h.
 */
#include "aws/url.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

int aws_url_host_is_loopback(const char *host)
{
    unsigned char a[16];
    char v6[64];
    size_t len = host != NULL ? strlen(host) : 0;

    if (len == 0) {
        return 0;
    }
    if (strcasecmp(host, "localhost") == 0) {
        return 1;
    }
    /* inet_pton takes only the full dotted quad, so "127.1" or "0x7f.1" are names here; curl
     * normalises such forms to a dotted quad before we see them anyway. */
    if (inet_pton(AF_INET, host, a) == 1) {
        return a[0] == 127;
    }
    if (host[0] == '[' && host[len - 1] == ']' && len - 2 < sizeof(v6)) {
        memcpy(v6, host + 1, len - 2);
        v6[len - 2] = '\0';
        return inet_pton(AF_INET6, v6, a) == 1 && memcmp(a, &in6addr_loopback, 16) == 0;
    }
    return 0;
}

/* The ECS and EKS agents' link-local addresses, which the SDKs also allow over http. */
static int host_is_container_agent(const char *host)
{
    unsigned char a[16];
    static const unsigned char eks6[16] = {0xfd, 0x00, 0x0e, 0xc2, 0, 0, 0, 0,
                                           0,    0,    0,    0,    0, 0, 0, 0x23};
    size_t len = strlen(host);
    char v6[64];

    if (inet_pton(AF_INET, host, a) == 1) {
        return a[0] == 169 && a[1] == 254 && a[2] == 170 && (a[3] == 2 || a[3] == 23);
    }
    if (len > 2 && host[0] == '[' && host[len - 1] == ']' && len - 2 < sizeof(v6)) {
        memcpy(v6, host + 1, len - 2);
        v6[len - 2] = '\0';
        return inet_pton(AF_INET6, v6, a) == 1 && memcmp(a, eks6, 16) == 0;
    }
    return 0;
}

/* Parses url with CURLU and returns its scheme and host (caller frees both with curl_free()).
 * Refuses anything but http/https, and any userinfo (user, password or login options): a
 * "http://localhost:x@evil/" must never be read as host localhost. */
static int parse(const char *url, const char *what, enum mk_code code, CURLU **u, char **scheme,
                 char **host, struct mk_err *err)
{
    char *part = NULL;
    int rc = -1;

    *u = curl_url();
    MK_ENSURE(*u != NULL, err, MK_ERR_NOMEM, "out of memory");
    MK_ENSURE(curl_url_set(*u, CURLUPART_URL, url, 0) == CURLUE_OK &&
                  curl_url_get(*u, CURLUPART_SCHEME, scheme, 0) == CURLUE_OK &&
                  curl_url_get(*u, CURLUPART_HOST, host, 0) == CURLUE_OK,
              err, code, "%s: '%.200s' is not a valid URL", what, url);
    MK_ENSURE(strcmp(*scheme, "https") == 0 || strcmp(*scheme, "http") == 0, err, code,
              "%s: '%.200s': scheme must be http or https", what, url);
    static const struct {
        CURLUPart part;
        CURLUcode absent;
    } userinfo[] = {{CURLUPART_USER, CURLUE_NO_USER},
                    {CURLUPART_PASSWORD, CURLUE_NO_PASSWORD},
                    {CURLUPART_OPTIONS, CURLUE_NO_OPTIONS}};
    for (size_t i = 0; i < sizeof(userinfo) / sizeof(userinfo[0]); i++) {
        CURLUcode got = curl_url_get(*u, userinfo[i].part, &part, 0);
        curl_free(part);
        part = NULL;
        MK_ENSURE(got == userinfo[i].absent, err, code,
                  "%s: the URL must not contain a user name or password (userinfo)", what);
    }
    rc = 0;
out:
    return rc;
}

int aws_url_check_container(const char *url, const char *env, char **normalized, struct mk_err *err)
{
    CURLU *u = NULL;
    char *scheme = NULL;
    char *host = NULL;
    char *full = NULL;
    int rc = -1;

    MK_GUARD(parse(url, env, MK_ERR_CREDS, &u, &scheme, &host, err));
    /* The SDKs' rule for the token's http destinations (e.g. botocore's
     * ContainerMetadataFetcher: loopback, 169.254.170.2, 169.254.170.23, fd00:ec2::23). */
    MK_ENSURE(strcmp(scheme, "https") == 0 || aws_url_host_is_loopback(host) ||
                  host_is_container_agent(host),
              err, MK_ERR_CREDS,
              "%s: http is allowed only to a loopback address, 169.254.170.2, 169.254.170.23 or "
              "fd00:ec2::23; '%s' needs https",
              env, host);
    MK_ENSURE(curl_url_get(u, CURLUPART_URL, &full, 0) == CURLUE_OK, err, MK_ERR_CREDS,
              "%s: '%.200s' is not a valid URL", env, url);
    *normalized = strdup(full);
    MK_ENSURE(*normalized != NULL, err, MK_ERR_NOMEM, "out of memory");
    rc = 0;
out:
    curl_free(full);
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return rc;
}

int aws_url_check_endpoint(const char *url, const char *what, int allow_insecure_http,
                           struct mk_err *err)
{
    CURLU *u = NULL;
    char *scheme = NULL;
    char *host = NULL;
    int rc = -1;

    MK_GUARD(parse(url, what, MK_ERR_CONFIG, &u, &scheme, &host, err));
    if (strcmp(scheme, "https") == 0 || aws_url_host_is_loopback(host)) {
        rc = 0;
        goto out;
    }
    /* Plain http off the host: SigV4 signatures, the session token and the CSR go in clear. */
    MK_ENSURE(allow_insecure_http, err, MK_ERR_CONFIG,
              "%s: plain http to '%s' sends the request signatures and session token in clear; "
              "use https, or set allow_insecure_http = true (ca.aws_pca) to accept it",
              what, host);
    rc = 1;
out:
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return rc;
}
