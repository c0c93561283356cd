/*
 * client.c: struct aws_client (aws.h): region and endpoint resolution, the JSON 1.1, REST-JSON
 * and Query protocols, error decoding and the retry loop around the signer and the transport.
 */
#include "aws/aws.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "aws/buf.h"
#include "aws/client-int.h"
#include "aws/creds.h"
#include "aws/http.h"
#include "aws/profile.h"
#include "aws/sigv4.h"
#include "aws/url.h"
#include "aws/xml.h"
#include "pki/keepalive.h"
#include "pki/log.h"
#include "pki/secret.h"

#define BACKOFF_BASE_MS 100
#define BACKOFF_CAP_MS 20000

struct aws_client {
    char *region;
    char *endpoint_url;     /* from the options, or NULL */
    char *endpoint_service; /* the one service endpoint_url is for, or NULL = all */
    char *ca_bundle;
    long connect_timeout_ms;
    long request_timeout_ms;
    long deadline_ms;
    int max_attempts;
    int allow_insecure_http; /* plain http to non-loopback endpoints accepted */
    long credential_process_timeout_ms;
    struct aws_http *http;
    struct aws_creds_provider *creds;
};

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A retry's backoff, with keepalive calls (pki/keepalive.h). */
static void sleep_ms(long ms)
{
    pki_keepalive_sleep((double)ms / 1000.0);
}

static const char *env_nonempty(const char *name)
{
    const char *v = getenv(name);
    return (v != NULL && v[0] != '\0') ? v : NULL;
}

static int dup_opt(const char *s, char **out, struct mk_err *err)
{
    *out = NULL;
    if (s == NULL) {
        return 0;
    }
    *out = strdup(s);
    if (*out == NULL) {
        mk_err_set(err, MK_ERR_NOMEM, "out of memory");
        return -1;
    }
    return 0;
}

/* Region: options, AWS_REGION, AWS_DEFAULT_REGION, then the profile's "region". */
static int resolve_region(const struct aws_client_options *o, char **out, struct mk_err *err)
{
    const char *r = o->region != NULL && o->region[0] != '\0' ? o->region : NULL;
    struct aws_profiles ps = {0};
    int rc = -1;
    if (r == NULL) {
        r = env_nonempty("AWS_REGION");
    }
    if (r == NULL) {
        r = env_nonempty("AWS_DEFAULT_REGION");
    }
    if (r == NULL) {
        MK_GUARD(aws_profiles_load(&ps, err));
        r = aws_profile_get(ps.config, aws_profile_name(o->profile), "region");
    }
    MK_ENSURE(r != NULL && r[0] != '\0', err, MK_ERR_CONFIG,
              "no AWS region: set region in the configuration, AWS_REGION or the profile's "
              "region");
    for (const char *c = r; *c != '\0'; c++) {
        MK_ENSURE(isalnum((unsigned char)*c) || *c == '-', err, MK_ERR_CONFIG,
                  "AWS region '%.64s' is not valid", r);
    }
    MK_GUARD(dup_opt(r, out, err));
    rc = 0;
out:
    aws_profiles_clear(&ps);
    return rc;
}

extern char **environ;

/* aws_url_check_endpoint for an optional url (NULL passes), with the start's warning. */
static int check_one(const struct aws_client *c, const char *url, const char *what,
                     struct mk_err *err)
{
    int rc = url != NULL ? aws_url_check_endpoint(url, what, c->allow_insecure_http, err) : 0;
    if (rc == 1) {
        mk_log(MK_LOG_WARN, "aws.insecure_http",
               "setting=%s allow_insecure_http=true: requests to this plain http endpoint carry "
               "their signatures and session token in clear",
               what);
    }
    return rc;
}

/*
 * Checks every endpoint override known at start (the option, AWS_ENDPOINT_URL and each
 * AWS_ENDPOINT_URL_<SERVICE>), so a plain http one fails the start rather than the first call,
 * and warns once per start for each one allow_insecure_http lets through.
 */
static int check_endpoints(const struct aws_client *c, struct mk_err *err)
{
    static const char prefix[] = "AWS_ENDPOINT_URL";
    int rc = check_one(c, c->endpoint_url, "endpoint_url", err);
    for (char **e = environ; rc >= 0 && e != NULL && *e != NULL; e++) {
        const char *eq = strchr(*e, '=');
        char name[128];
        size_t len = eq != NULL ? (size_t)(eq - *e) : 0;
        /* AWS_ENDPOINT_URL itself or AWS_ENDPOINT_URL_<SERVICE>, set and not empty. */
        if (eq == NULL || eq[1] == '\0' || len >= sizeof(name) ||
            strncmp(*e, prefix, sizeof(prefix) - 1) != 0 ||
            (len != sizeof(prefix) - 1 && (*e)[sizeof(prefix) - 1] != '_')) {
            continue;
        }
        snprintf(name, sizeof(name), "%.*s", (int)(eq - *e), *e);
        rc = check_one(c, eq + 1, name, err);
    }
    return rc < 0 ? -1 : 0;
}

struct aws_client *aws_client_new(const struct aws_client_options *opts, struct mk_err *err)
{
    static const struct aws_client_options none = {0};
    const struct aws_client_options *o = opts != NULL ? opts : &none;
    struct aws_client *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        mk_err_set(err, MK_ERR_NOMEM, "out of memory");
        return NULL;
    }
    MK_GUARD(pki_sodium_init(err));
    MK_GUARD(resolve_region(o, &c->region, err));
    MK_GUARD(dup_opt(o->endpoint_url != NULL && o->endpoint_url[0] != '\0' ? o->endpoint_url : NULL,
                     &c->endpoint_url, err));
    MK_GUARD(dup_opt(
        o->endpoint_service != NULL && o->endpoint_service[0] != '\0' ? o->endpoint_service : NULL,
        &c->endpoint_service, err));
    MK_GUARD(dup_opt(o->ca_bundle, &c->ca_bundle, err));
    c->connect_timeout_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 5000;
    c->request_timeout_ms = o->request_timeout_ms > 0 ? o->request_timeout_ms : 30000;
    c->deadline_ms = o->deadline_ms > 0 ? o->deadline_ms : 120000;
    c->max_attempts = o->max_attempts > 0 ? o->max_attempts : 5;
    c->allow_insecure_http = o->allow_insecure_http;
    c->credential_process_timeout_ms =
        o->credential_process_timeout_ms > 0 ? o->credential_process_timeout_ms : 60000;
    MK_GUARD(check_endpoints(c, err));
    c->http = aws_http_new(err);
    MK_GUARD_PTR(c->http);
    c->creds = aws_creds_provider_new(c, o->profile, err);
    MK_GUARD_PTR(c->creds);
    if (o->role_arn != NULL && o->role_arn[0] != '\0') {
        MK_GUARD(aws_creds_provider_set_role(c->creds, o->role_arn, o->role_session_name,
                                             o->external_id, err));
    }
    return c;
out:
    aws_client_free(c);
    return NULL;
}

struct aws_creds *aws_client_credentials(struct aws_client *c, struct mk_err *err)
{
    return aws_creds_provider_get(c->creds, err);
}

int aws_client_check_credentials(struct aws_client *c, struct mk_err *err)
{
    struct aws_creds *creds = aws_client_credentials(c, err);
    if (creds == NULL) {
        return -1;
    }
    aws_creds_free(creds);
    return 0;
}

void aws_client_set_credentials_source(struct aws_client *c, aws_creds_source_fn fn, void *arg)
{
    aws_creds_provider_set_source(c->creds, fn, arg);
}

void aws_client_credentials_info(struct aws_client *c, char *source, size_t size,
                                 time_t *expiration)
{
    aws_creds_provider_info(c->creds, source, size, expiration);
}

void aws_client_free(struct aws_client *c)
{
    if (c == NULL) {
        return;
    }
    aws_creds_provider_free(c->creds);
    aws_http_free(c->http);
    free(c->region);
    free(c->endpoint_url);
    free(c->endpoint_service);
    free(c->ca_bundle);
    free(c);
}

const char *aws_client_region(const struct aws_client *c)
{
    return c->region;
}

struct aws_http *aws_client_http(struct aws_client *c)
{
    return c->http;
}

const char *aws_client_ca_bundle(const struct aws_client *c)
{
    return c->ca_bundle;
}

long aws_client_process_timeout_ms(const struct aws_client *c)
{
    return c->credential_process_timeout_ms;
}

/* AWS_ENDPOINT_URL_<SERVICE>: the service id upper-cased with '-' as '_' ("ACM_PCA"). */
static const char *service_endpoint_env(const char *service)
{
    char name[96];
    int n = snprintf(name, sizeof(name), "AWS_ENDPOINT_URL_%s", service);
    if (n < 0 || (size_t)n >= sizeof(name)) {
        return NULL;
    }
    for (char *p = name; *p != '\0'; p++) {
        *p = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
    }
    return env_nonempty(name);
}

char *aws_client_endpoint(const struct aws_client *c, const char *service, struct mk_err *err)
{
    return aws_client_endpoint_for(c, service, 0, err);
}

char *aws_client_endpoint_for(const struct aws_client *c, const char *service, int chain,
                              struct mk_err *err)
{
    const char *url = NULL;
    struct aws_buf b = {0};
    if (!chain && (c->endpoint_service == NULL || strcmp(c->endpoint_service, service) == 0)) {
        url = c->endpoint_url;
    }
    if (url == NULL) {
        url = service_endpoint_env(service);
    }
    if (url == NULL) {
        url = env_nonempty("AWS_ENDPOINT_URL");
    }
    int rc;
    if (url != NULL) {
        /* Checked again per call: AWS_ENDPOINT_URL_<SERVICE> may name a service first used now. */
        if (aws_url_check_endpoint(url, "endpoint URL", c->allow_insecure_http, err) < 0) {
            return NULL;
        }
        size_t len = strlen(url);
        while (len > 0 && url[len - 1] == '/') {
            len--;
        }
        rc = aws_buf_append(&b, url, len, err);
    } else {
        const char *suffix =
            strncmp(c->region, "cn-", 3) == 0 ? "amazonaws.com.cn" : "amazonaws.com";
        rc = aws_buf_printf(&b, err, "https://%s.%s.%s", service, c->region, suffix);
    }
    if (rc != 0) {
        aws_buf_free(&b);
        return NULL;
    }
    return aws_buf_steal(&b);
}

/* Splits an endpoint URL into the Host header value and a base path ("" or "/prefix"). */
static int endpoint_parts(const char *url, char *host, size_t host_cap, char *base, size_t base_cap,
                          struct mk_err *err)
{
    int rc = -1;
    char *scheme = NULL;
    char *h = NULL;
    char *port = NULL;
    char *path = NULL;
    CURLU *u = curl_url();
    MK_ENSURE(u != NULL, err, MK_ERR_NOMEM, "out of memory");
    MK_ENSURE(curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
                  curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
                  curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK,
              err, MK_ERR_CONFIG, "endpoint URL '%.200s' is not valid", url);
    MK_ENSURE(strcmp(scheme, "https") == 0 || strcmp(scheme, "http") == 0, err, MK_ERR_CONFIG,
              "endpoint URL '%.200s': scheme must be http or https", url);
    /* The port as written (none when default), so Host matches what curl sends. */
    if (curl_url_get(u, CURLUPART_PORT, &port, 0) != CURLUE_OK) {
        port = NULL;
    }
    if (curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK) {
        path = NULL;
    }
    int n = port != NULL ? snprintf(host, host_cap, "%s:%s", h, port)
                         : snprintf(host, host_cap, "%s", h);
    MK_ENSURE(n > 0 && (size_t)n < host_cap, err, MK_ERR_CONFIG, "endpoint host too long");
    size_t plen = path != NULL ? strlen(path) : 0;
    while (plen > 0 && path[plen - 1] == '/') {
        plen--;
    }
    n = snprintf(base, base_cap, "%.*s", (int)plen, path != NULL ? path : "");
    MK_ENSURE(n >= 0 && (size_t)n < base_cap, err, MK_ERR_CONFIG, "endpoint path too long");
    rc = 0;
out:
    curl_free(scheme);
    curl_free(h);
    curl_free(port);
    curl_free(path);
    curl_url_cleanup(u);
    return rc;
}

int aws_code_is_retryable(const char *code, long status)
{
    static const char *const retry_codes[] = {"Throttling",
                                              "ThrottlingException",
                                              "ThrottledException",
                                              "RequestThrottledException",
                                              "TooManyRequestsException",
                                              "ProvisionedThroughputExceededException",
                                              "TransactionInProgressException",
                                              "RequestLimitExceeded",
                                              "BandwidthLimitExceeded",
                                              "RequestThrottled",
                                              "SlowDown",
                                              "PriorRequestNotComplete",
                                              "EC2ThrottledException",
                                              "RequestTimeout",
                                              "RequestTimeoutException",
                                              "InternalError",
                                              "InternalFailure",
                                              "ServiceUnavailable",
                                              "ServiceUnavailableException",
                                              "IDPCommunicationError",
                                              NULL};
    if (status == 429 || status == 500 || status == 502 || status == 503 || status == 504) {
        return 1;
    }
    for (size_t i = 0; code != NULL && retry_codes[i] != NULL; i++) {
        if (strcmp(code, retry_codes[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

int aws_err_is_retryable(const struct mk_err *err)
{
    if (err == NULL) {
        return 0;
    }
    switch (err->code) {
    case MK_ERR_NET:
    case MK_ERR_TIMEOUT:
        return 1;
    case MK_ERR_AWS:
        return aws_code_is_retryable(err->ext_code, err->http_status);
    default:
        return 0;
    }
}

long aws_backoff_ms(int attempt, double unit)
{
    long ceiling = BACKOFF_CAP_MS;
    if (attempt < 1) {
        attempt = 1;
    }
    if (attempt <= 20) {
        long exp = (long)BACKOFF_BASE_MS << (attempt - 1);
        ceiling = exp < BACKOFF_CAP_MS ? exp : BACKOFF_CAP_MS;
    }
    if (unit < 0.0 || unit >= 1.0) {
        unit = 0.0;
    }
    return (long)(unit * (double)ceiling);
}

/* Copies s into dst (one line: control characters become spaces). */
static void copy_line(char *dst, size_t cap, const char *s, size_t len)
{
    size_t n = len < cap - 1 ? len : cap - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        dst[i] = (ch < 0x20 || ch == 0x7f) ? ' ' : (char)ch;
    }
    dst[n] = '\0';
}

/*
 * The first line of an AWS message: a signature mismatch goes on, after a blank line, with the
 * canonical request we sent, and that includes the session token.
 */
static size_t first_line_len(const char *s)
{
    return strcspn(s, "\r\n");
}

/* JSON error bodies: {"__type": "ns#Code", "message": "..."} or {"code": ..., "Message": ...}. */
static void decode_json_error(const struct aws_http_response *resp, char *code, size_t code_cap,
                              char *msg, size_t msg_cap)
{
    json_t *j = json_loadb(resp->body.data, resp->body.len, 0, NULL);
    if (!json_is_object(j)) {
        json_decref(j);
        return;
    }
    const char *t = json_string_value(json_object_get(j, "__type"));
    if (t != NULL && code[0] == '\0') {
        const char *hash = strrchr(t, '#');
        t = hash != NULL ? hash + 1 : t;
        copy_line(code, code_cap, t, strcspn(t, ":"));
    }
    static const char *const code_keys[] = {"code", "Code", NULL};
    for (size_t i = 0; code[0] == '\0' && code_keys[i] != NULL; i++) {
        t = json_string_value(json_object_get(j, code_keys[i]));
        if (t != NULL) {
            copy_line(code, code_cap, t, strlen(t));
        }
    }
    static const char *const msg_keys[] = {"message", "Message", "errorMessage", NULL};
    for (size_t i = 0; msg[0] == '\0' && msg_keys[i] != NULL; i++) {
        t = json_string_value(json_object_get(j, msg_keys[i]));
        if (t != NULL) {
            copy_line(msg, msg_cap, t, first_line_len(t));
        }
    }
    json_decref(j);
}

static void decode_xml_error(const struct aws_http_response *resp, char *code, size_t code_cap,
                             char *msg, size_t msg_cap)
{
    struct aws_xml *x = aws_xml_parse(resp->body.data, resp->body.len, NULL);
    if (x == NULL) {
        return;
    }
    char *t = NULL;
    if (code[0] == '\0' && (t = aws_xml_get(x, "Error/Code", NULL)) != NULL) {
        copy_line(code, code_cap, t, strlen(t));
    }
    free(t);
    if ((t = aws_xml_get(x, "Error/Message", NULL)) != NULL) {
        copy_line(msg, msg_cap, t, first_line_len(t));
    }
    free(t);
    aws_xml_free(x);
}

void aws_decode_error(const struct aws_http_response *resp, const char *what, struct mk_err *err)
{
    char code[64] = "";
    char msg[512] = "";
    if (resp->error_type[0] != '\0') {
        copy_line(code, sizeof(code), resp->error_type, strcspn(resp->error_type, ":"));
    }
    const char *b = resp->body.data != NULL ? resp->body.data : "";
    while (isspace((unsigned char)*b)) {
        b++;
    }
    if (*b == '<') {
        decode_xml_error(resp, code, sizeof(code), msg, sizeof(msg));
    } else if (*b == '{') {
        decode_json_error(resp, code, sizeof(code), msg, sizeof(msg));
    }
    mk_err_set(err, MK_ERR_AWS, "%s: HTTP %ld%s%s%s%s", what, resp->status, code[0] ? " " : "",
               code, msg[0] ? ": " : "", msg);
    if (err != NULL) {
        snprintf(err->ext_code, sizeof(err->ext_code), "%s", code);
        err->http_status = (int)resp->status;
    }
}

/* The headers of one attempt: signed ones, then the signature's. */
struct attempt {
    struct aws_sigv4_result sig;
    char *lines[8];
    size_t n;
};

static void attempt_clear(struct attempt *a)
{
    aws_sigv4_result_clear(&a->sig);
    for (size_t i = 0; i < a->n; i++) {
        aws_str_wipe_free(a->lines[i]);
    }
    memset(a, 0, sizeof(*a));
}

static int attempt_line(struct attempt *a, const char *name, const char *value, struct mk_err *err)
{
    struct aws_buf b = {0};
    if (aws_buf_printf(&b, err, "%s: %s", name, value) != 0) {
        aws_buf_free(&b);
        return -1;
    }
    a->lines[a->n++] = aws_buf_steal(&b);
    return 0;
}

/* Signs the call with creds (NULL = anonymous) and builds the header lines. */
static int attempt_prepare(struct aws_client *c, const struct aws_call *call, const char *host,
                           const char *path, const struct aws_creds *creds, struct attempt *a,
                           struct mk_err *err)
{
    struct aws_sigv4_header hs[3];
    size_t n = 0;
    hs[n++] = (struct aws_sigv4_header){"Host", host};
    if (call->content_type != NULL) {
        hs[n++] = (struct aws_sigv4_header){"Content-Type", call->content_type};
    }
    if (call->target != NULL) {
        hs[n++] = (struct aws_sigv4_header){"X-Amz-Target", call->target};
    }
    for (size_t i = 0; i < n; i++) {
        MK_GUARD(attempt_line(a, hs[i].name, hs[i].value, err));
    }
    if (call->content_type == NULL && strcmp(call->method, "GET") != 0) {
        /* Without this curl would send its form Content-Type for a body-less POST/DELETE. */
        a->lines[a->n] = strdup("Content-Type:");
        MK_ENSURE(a->lines[a->n] != NULL, err, MK_ERR_NOMEM, "out of memory");
        a->n++;
    }
    if (creds == NULL) {
        return 0;
    }
    struct aws_sigv4_request req = {call->method, path,          call->query, hs, n,
                                    call->body,   call->body_len};
    struct aws_sigv4_params p = {
        .access_key_id = creds->access_key_id,
        .secret_access_key = pki_secret_str(creds->secret_access_key),
        .session_token = creds->session_token != NULL ? pki_secret_str(creds->session_token) : NULL,
        .region = c->region,
        .service = call->service,
        .when = time(NULL),
        .normalize_path = 1,
        .double_encode = 1,
    };
    MK_GUARD(aws_sigv4_sign(&req, &p, &a->sig, err));
    MK_GUARD(attempt_line(a, "X-Amz-Date", a->sig.amz_date, err));
    if (p.session_token != NULL) {
        MK_GUARD(attempt_line(a, "X-Amz-Security-Token", p.session_token, err));
    }
    MK_GUARD(attempt_line(a, "Authorization", a->sig.authorization, err));
    return 0;
out:
    return -1;
}

/* One attempt: credentials, signature, transport.  0 = some HTTP answer in resp. */
static int attempt_once(struct aws_client *c, const struct aws_call *call, const char *url,
                        const char *host, const char *path, long timeout_ms,
                        struct aws_http_response *resp, struct mk_err *err)
{
    int rc = -1;
    struct attempt a = {0};
    struct aws_creds *creds = NULL;
    if (!call->anonymous) {
        creds = call->creds != NULL ? aws_creds_dup(call->creds, err)
                                    : aws_creds_provider_get(c->creds, err);
        MK_GUARD_PTR(creds);
    }
    MK_GUARD(attempt_prepare(c, call, host, path, creds, &a, err));
    a.lines[a.n] = NULL;
    struct aws_http_request req = {
        .method = call->method,
        .url = url,
        .headers = (const char *const *)a.lines,
        .body = call->body,
        .body_len = call->body_len,
        .connect_timeout_ms =
            c->connect_timeout_ms < timeout_ms ? c->connect_timeout_ms : timeout_ms,
        .timeout_ms = timeout_ms,
        .ca_bundle = c->ca_bundle,
    };
    rc = aws_http_perform(c->http, &req, resp, err);
out:
    aws_creds_free(creds);
    attempt_clear(&a);
    return rc;
}

static void err_copy(struct mk_err *dst, const struct mk_err *src)
{
    if (dst != NULL) {
        *dst = *src;
    }
}

static int is_expired_token(const struct mk_err *err)
{
    return err->code == MK_ERR_AWS && (strcmp(err->ext_code, "ExpiredToken") == 0 ||
                                       strcmp(err->ext_code, "ExpiredTokenException") == 0 ||
                                       strcmp(err->ext_code, "RequestExpired") == 0);
}

int aws_client_send(struct aws_client *c, const struct aws_call *call,
                    struct aws_http_response *resp, struct mk_err *err)
{
    int rc = -1;
    char host[512];
    char base[1024];
    char *endpoint = NULL;
    struct aws_buf url = {0};
    struct aws_buf path = {0};
    struct mk_err last = {0};
    long deadline = now_ms() + c->deadline_ms;
    int refreshed = 0;

    endpoint = aws_client_endpoint_for(c, call->service, call->chain, err);
    MK_GUARD_PTR(endpoint);
    /* Which endpoint gets which call (mskpkictl --verbose): endpoint overrides are easy to get
     * wrong, and the credential chain's calls do not follow the service endpoint. */
    mk_log(MK_LOG_DEBUG, "aws.request", "call=\"%s\" endpoint=%s credentials=%s", call->what,
           endpoint, call->anonymous ? "none" : call->creds != NULL ? "given" : "chain");
    MK_GUARD(endpoint_parts(endpoint, host, sizeof(host), base, sizeof(base), err));
    MK_GUARD(aws_buf_printf(&path, err, "%s%s", base, call->path));
    MK_GUARD(aws_buf_printf(&url, err, "%s%s%s%s", endpoint, call->path,
                            call->query != NULL && call->query[0] ? "?" : "",
                            call->query != NULL ? call->query : ""));
    for (int attempt = 1;; attempt++) {
        long left = deadline - now_ms();
        if (left <= 0) {
            mk_err_set(err, MK_ERR_TIMEOUT, "%s: deadline of %ld ms passed after %d attempts%s%s",
                       call->what, c->deadline_ms, attempt - 1, last.msg[0] ? "; last: " : "",
                       last.msg);
            goto out;
        }
        long timeout = c->request_timeout_ms < left ? c->request_timeout_ms : left;
        mk_err_clear(&last);
        if (attempt_once(c, call, url.data, host, path.data, timeout, resp, &last) == 0) {
            if (resp->status >= 200 && resp->status < 300) {
                break;
            }
            aws_decode_error(resp, call->what, &last);
            aws_http_response_clear(resp);
        } else if (last.code == MK_ERR_NET || last.code == MK_ERR_TIMEOUT) {
            mk_err_prefix(&last, "%s", call->what);
        }
        if (is_expired_token(&last) && !refreshed && call->creds == NULL && !call->anonymous) {
            /* Cached temporary credentials were revoked or expired early: fetch new ones. */
            refreshed = 1;
            aws_creds_provider_invalidate(c->creds);
        } else if (!aws_err_is_retryable(&last) || attempt >= c->max_attempts) {
            err_copy(err, &last);
            goto out;
        }
        long delay = aws_backoff_ms(attempt, pki_random_unit());
        mk_log(MK_LOG_WARN, "aws.retry",
               "service=%s attempt=%d code=%s aws_code=%s status=%d "
               "delay_ms=%ld",
               call->service, attempt, mk_code_str(last.code),
               last.ext_code[0] ? last.ext_code : "-", last.http_status, delay);
        if (now_ms() + delay >= deadline) {
            err_copy(err, &last);
            mk_err_prefix(err, "deadline of %ld ms reached", c->deadline_ms);
            goto out;
        }
        sleep_ms(delay);
    }
    rc = 0;
out:
    free(endpoint);
    aws_buf_free(&url);
    aws_buf_free(&path);
    return rc;
}

/* Parses a JSON answer; an empty body is an empty object. */
static int parse_json_answer(const struct aws_http_response *resp, const char *what, json_t **out,
                             struct mk_err *err)
{
    const char *b = resp->body.data != NULL ? resp->body.data : "";
    size_t len = resp->body.len;
    while (len > 0 && isspace((unsigned char)*b)) {
        b++;
        len--;
    }
    if (len == 0) {
        *out = json_object();
        if (*out == NULL) {
            mk_err_set(err, MK_ERR_NOMEM, "out of memory");
            return -1;
        }
        return 0;
    }
    json_error_t je;
    json_t *j = json_loadb(b, len, 0, &je);
    if (j == NULL) {
        mk_err_set(err, MK_ERR_INVALID, "%s: answer is not JSON (line %d: %s)", what, je.line,
                   je.text);
        return -1;
    }
    /* Every JSON 1.1 and REST-JSON output shape is a structure: callers look members up and
     * would read an array or a number as an empty answer. */
    if (!json_is_object(j)) {
        mk_err_set(err, MK_ERR_INVALID, "%s: answer is not a JSON object", what);
        json_decref(j);
        return -1;
    }
    *out = j;
    return 0;
}

static char *dump_body(json_t *body, struct mk_err *err)
{
    char *s = body != NULL ? json_dumps(body, JSON_COMPACT) : strdup("{}");
    if (s == NULL) {
        mk_err_set(err, MK_ERR_INVALID, "request body cannot be serialised as JSON");
    }
    return s;
}

int aws_json_call(struct aws_client *client, const char *service, const char *target,
                  json_t *request, json_t **response, struct mk_err *err)
{
    int rc = -1;
    char what[160];
    struct aws_http_response resp = {0};
    char *body = NULL;
    MK_ENSURE(client != NULL && service != NULL && target != NULL && response != NULL, err,
              MK_ERR_INVALID, "aws_json_call: missing argument");
    snprintf(what, sizeof(what), "%s %s", service, target);
    body = dump_body(request, err);
    MK_GUARD_PTR(body);
    struct aws_call call = {
        .service = service,
        .method = "POST",
        .path = "/",
        .content_type = "application/x-amz-json-1.1",
        .target = target,
        .body = body,
        .body_len = strlen(body),
        .what = what,
    };
    MK_GUARD(aws_client_send(client, &call, &resp, err));
    MK_GUARD(parse_json_answer(&resp, what, response, err));
    rc = 0;
out:
    aws_str_wipe_free(body);
    aws_http_response_clear(&resp);
    return rc;
}

/*
 * How many '/'-separated pieces the resource part of an ARN has, by resource type, so that an
 * ARN inserted raw into a REST path can be told from the path segments after it.  0 = unknown
 * (the ARN then runs to the end of the path).
 */
static int arn_resource_pieces(const char *type, size_t len)
{
    static const struct {
        const char *type;
        int pieces;
    } table[] = {
        {"cluster", 3},
        {"configuration", 3},
        {"replicator", 3},
        {"vpc-connection", 4},
        {"topic", 4},
        {"group", 4},
        {"transactional-id", 4},
        {"certificate-authority", 2},
        {"key", 2},
        {"alias", 2},
        {"role", 2},
        {"certificate", 2},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        if (strlen(table[i].type) == len && strncmp(table[i].type, type, len) == 0) {
            return table[i].pieces;
        }
    }
    return 0;
}

/* Whether a path piece starts like a UUID ("0a1b2c3d-"), the last piece of an MSK resource. */
static int looks_like_uuid(const char *p)
{
    for (int i = 0; i < 8; i++) {
        if (!isxdigit((unsigned char)p[i])) {
            return 0;
        }
    }
    return p[8] == '-';
}

/*
 * Length of the ARN starting at s (which starts with "arn:"), within a path.  The resource part
 * takes the table's number of pieces, stopping early after a UUID-like piece (moto's cluster
 * ARNs are "cluster/<uuid>", real ones "cluster/<name>/<uuid>").
 */
static size_t arn_length(const char *s)
{
    const char *res = s;
    for (int colons = 0; colons < 5; colons++) {
        res = strchr(res, ':');
        if (res == NULL) {
            return strcspn(s, "/");
        }
        res++;
    }
    size_t tlen = strcspn(res, "/:");
    int pieces = arn_resource_pieces(res, tlen);
    if (pieces == 0) {
        return strlen(s);
    }
    const char *p = res;
    for (int i = 0; i < pieces; i++) {
        int uuid = i > 0 && looks_like_uuid(p);
        p += strcspn(p, "/");
        if (uuid || i + 1 == pieces || *p != '/') {
            break;
        }
        p++;
    }
    return (size_t)(p - s);
}

/* The wire path: each segment percent-encoded, an ARN as one segment ('/' and ':' encoded). */
MK_TESTABLE int aws_rest_wire_path(const char *path, struct aws_buf *out, struct mk_err *err)
{
    const char *p = path;
    if (*p != '/') {
        MK_GUARD(aws_buf_puts(out, "/", err));
    }
    while (*p != '\0') {
        if (*p == '/') {
            MK_GUARD(aws_buf_puts(out, "/", err));
            p++;
            continue;
        }
        size_t len = strncmp(p, "arn:", 4) == 0 ? arn_length(p) : strcspn(p, "/");
        MK_GUARD(aws_buf_uri_encode(out, p, len, 0, err));
        p += len;
    }
    return 0;
out:
    return -1;
}

static int wire_query(const struct aws_query_param *q, struct aws_buf *out, struct mk_err *err)
{
    for (size_t i = 0; q != NULL && q[i].name != NULL; i++) {
        const char *v = q[i].value != NULL ? q[i].value : "";
        if (i > 0) {
            MK_GUARD(aws_buf_puts(out, "&", err));
        }
        MK_GUARD(aws_buf_uri_encode(out, q[i].name, strlen(q[i].name), 0, err));
        MK_GUARD(aws_buf_puts(out, "=", err));
        MK_GUARD(aws_buf_uri_encode(out, v, strlen(v), 0, err));
    }
    return 0;
out:
    return -1;
}

int aws_rest_call(struct aws_client *client, const char *service, const char *method,
                  const char *path, const struct aws_query_param *query, json_t *body,
                  json_t **response, struct mk_err *err)
{
    int rc = -1;
    char what[160];
    struct aws_http_response resp = {0};
    struct aws_buf wpath = {0};
    struct aws_buf wquery = {0};
    char *b = NULL;
    MK_ENSURE(client != NULL && service != NULL && method != NULL && path != NULL &&
                  response != NULL,
              err, MK_ERR_INVALID, "aws_rest_call: missing argument");
    snprintf(what, sizeof(what), "%s %s %.120s", service, method, path);
    MK_GUARD(aws_rest_wire_path(path, &wpath, err));
    MK_GUARD(wire_query(query, &wquery, err));
    if (body != NULL) {
        b = dump_body(body, err);
        MK_GUARD_PTR(b);
    }
    struct aws_call call = {
        .service = service,
        .method = method,
        .path = wpath.data,
        .query = wquery.data,
        .content_type = b != NULL ? "application/json" : NULL,
        .body = b,
        .body_len = b != NULL ? strlen(b) : 0,
        .what = what,
    };
    MK_GUARD(aws_client_send(client, &call, &resp, err));
    MK_GUARD(parse_json_answer(&resp, what, response, err));
    rc = 0;
out:
    aws_str_wipe_free(b);
    aws_buf_free(&wpath);
    aws_buf_free(&wquery);
    aws_http_response_clear(&resp);
    return rc;
}

/* Query protocol request body: Action, Version, then the parameters, form-encoded. */
MK_TESTABLE int aws_query_body(const char *action, const char *version,
                               const struct aws_query_param *params, struct aws_buf *out,
                               struct mk_err *err)
{
    MK_GUARD(aws_buf_puts(out, "Action=", err));
    MK_GUARD(aws_buf_uri_encode(out, action, strlen(action), 0, err));
    MK_GUARD(aws_buf_puts(out, "&Version=", err));
    MK_GUARD(aws_buf_uri_encode(out, version, strlen(version), 0, err));
    if (params != NULL && params[0].name != NULL) {
        MK_GUARD(aws_buf_puts(out, "&", err));
        MK_GUARD(wire_query(params, out, err));
    }
    return 0;
out:
    return -1;
}

/* Shared by aws_query_call and the STS credential sources (explicit or no credentials). */
int aws_query_call_as(struct aws_client *client, const char *service, const char *action,
                      const char *version, const struct aws_query_param *params,
                      const struct aws_creds *creds, unsigned flags, char **xml, size_t *xml_len,
                      struct mk_err *err)
{
    int rc = -1;
    char what[160];
    struct aws_http_response resp = {0};
    struct aws_buf body = {0};
    MK_ENSURE(client != NULL && service != NULL && action != NULL && version != NULL && xml != NULL,
              err, MK_ERR_INVALID, "aws_query_call: missing argument");
    snprintf(what, sizeof(what), "%s %s", service, action);
    MK_GUARD(aws_query_body(action, version, params, &body, err));
    struct aws_call call = {
        .service = service,
        .method = "POST",
        .path = "/",
        .content_type = "application/x-www-form-urlencoded; charset=utf-8",
        .body = body.data,
        .body_len = body.len,
        .what = what,
        .anonymous = (flags & AWS_CALL_ANONYMOUS) != 0,
        .creds = creds,
        .chain = (flags & AWS_CALL_CHAIN) != 0,
    };
    MK_GUARD(aws_client_send(client, &call, &resp, err));
    if (xml_len != NULL) {
        *xml_len = resp.body.len;
    }
    *xml = aws_buf_steal(&resp.body);
    rc = 0;
out:
    aws_buf_free(&body);
    aws_http_response_clear(&resp);
    return rc;
}

int aws_query_call(struct aws_client *client, const char *service, const char *action,
                   const char *version, const struct aws_query_param *params, char **xml,
                   size_t *xml_len, struct mk_err *err)
{
    return aws_query_call_as(client, service, action, version, params, NULL, 0, xml, xml_len, err);
}
