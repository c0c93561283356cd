/* http.c: libcurl transport; see http.h. */
#include "aws/http.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <sodium.h>

#include "pki/keepalive.h"

/* Answers larger than this are refused: no AWS call we make returns more. */
#define HTTP_MAX_BODY (16u * 1024u * 1024u)
/* Kept-alive connections in the shared cache: the largest thread pool (audit --concurrency 64). */
#define AWS_HTTP_MAX_CONNECTIONS 64L

struct aws_http {
    CURLSH *share;
    pthread_mutex_t locks[CURL_LOCK_DATA_LAST];
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void share_lock(CURL *handle, curl_lock_data data, curl_lock_access access, void *userp)
{
    struct aws_http *h = userp;
    if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST) {
        pthread_mutex_lock(&h->locks[data]);
    }
}

static void share_unlock(CURL *handle, curl_lock_data data, void *userp)
{
    struct aws_http *h = userp;
    if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST) {
        pthread_mutex_unlock(&h->locks[data]);
    }
}

struct aws_http *aws_http_new(struct mk_err *err)
{
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK) {
        mk_err_set(err, MK_ERR_NET, "curl_global_init: %s", curl_easy_strerror(global_rc));
        return NULL;
    }
    struct aws_http *h = calloc(1, sizeof(*h));
    if (h == NULL) {
        mk_err_set(err, MK_ERR_NOMEM, "out of memory");
        return NULL;
    }
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++) {
        pthread_mutex_init(&h->locks[i], NULL);
    }
    h->share = curl_share_init();
    if (h->share == NULL) {
        mk_err_set(err, MK_ERR_NET, "curl_share_init failed");
        aws_http_free(h);
        return NULL;
    }
    /* Connections and DNS answers are reused across calls and threads. */
    curl_share_setopt(h->share, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(h->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(h->share, CURLSHOPT_USERDATA, h);
    curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    return h;
}

void aws_http_free(struct aws_http *h)
{
    if (h == NULL) {
        return;
    }
    if (h->share != NULL) {
        curl_share_cleanup(h->share);
    }
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++) {
        pthread_mutex_destroy(&h->locks[i]);
    }
    free(h);
}

struct write_ctx {
    struct aws_http_response *resp;
    int too_large;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    struct write_ctx *w = userp;
    size_t len = size * nmemb;
    if (w->resp->body.len + len > HTTP_MAX_BODY) {
        w->too_large = 1;
        return 0;
    }
    if (aws_buf_append(&w->resp->body, data, len, NULL) != 0) {
        return 0;
    }
    return len;
}

/* Copies a header's value (trimmed) into dst when its name matches. */
static void header_value(const char *line, size_t len, const char *name, char *dst, size_t cap)
{
    size_t nlen = strlen(name);
    if (len <= nlen || strncasecmp(line, name, nlen) != 0 || line[nlen] != ':') {
        return;
    }
    const char *v = line + nlen + 1;
    const char *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t')) {
        v++;
    }
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ')) {
        end--;
    }
    size_t n = (size_t)(end - v);
    if (n >= cap) {
        n = cap - 1;
    }
    memcpy(dst, v, n);
    dst[n] = '\0';
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userp)
{
    struct aws_http_response *resp = userp;
    size_t len = size * nmemb;
    /* A new status line (after a 100 Continue or a redirect) starts a new header set. */
    if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        resp->error_type[0] = '\0';
        resp->request_id[0] = '\0';
        resp->date[0] = '\0';
    }
    header_value(data, len, "x-amzn-ErrorType", resp->error_type, sizeof(resp->error_type));
    header_value(data, len, "x-amzn-RequestId", resp->request_id, sizeof(resp->request_id));
    header_value(data, len, "x-amz-request-id", resp->request_id, sizeof(resp->request_id));
    header_value(data, len, "Date", resp->date, sizeof(resp->date));
    return len;
}

/* curl calls this about once a second while a transfer runs, even when no byte moves: a slow
 * answer must not starve the watchdog of the agent that waits for it (pki/keepalive.h). */
static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)arg;
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    pki_keepalive();
    return 0;
}

static void slist_wipe_free(struct curl_slist *l)
{
    for (struct curl_slist *i = l; i != NULL; i = i->next) {
        sodium_memzero(i->data, strlen(i->data));
    }
    curl_slist_free_all(l);
}

static int set_request(CURL *c, struct aws_http *h, const struct aws_http_request *req,
                       struct curl_slist *hl, struct write_ctx *w, struct mk_err *err)
{
    CURLcode rc = CURLE_OK;
    rc |= curl_easy_setopt(c, CURLOPT_URL, req->url);
    rc |= curl_easy_setopt(c, CURLOPT_SHARE, h->share);
    /* Each request's easy handle hands this cap to the connection cache it shares with the
     * other threads.  At curl's default (5) a pool of more threads closed a kept-alive
     * connection on almost every return, so most requests paid a new connection (and, on
     * AWS, a new TLS handshake): `mskpkictl audit` at --concurrency 8 reconnected for 72% of
     * its calls (docs/performance.md).  Room for the largest pool (64 threads). */
    rc |= curl_easy_setopt(c, CURLOPT_MAXCONNECTS, AWS_HTTP_MAX_CONNECTIONS);
    rc |= curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    rc |= curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    rc |= curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    rc |= curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, req->connect_timeout_ms);
    rc |= curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, req->timeout_ms);
    rc |= curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    rc |= curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    rc |= curl_easy_setopt(c, CURLOPT_USERAGENT, "mskpki/" MSKPKI_VERSION);
    rc |= curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    rc |= curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    rc |= curl_easy_setopt(c, CURLOPT_WRITEDATA, w);
    rc |= curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    rc |= curl_easy_setopt(c, CURLOPT_HEADERDATA, w->resp);
    rc |= curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    rc |= curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    if (req->ca_bundle != NULL) {
        rc |= curl_easy_setopt(c, CURLOPT_CAINFO, req->ca_bundle);
    }
    if (req->no_proxy) {
        rc |= curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    }
    if (strcmp(req->method, "GET") == 0) {
        rc |= curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    } else {
        /* POSTFIELDS with an explicit size also covers an empty body (Content-Length: 0). */
        rc |= curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        rc |= curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body != NULL ? req->body : "");
        if (strcmp(req->method, "POST") != 0) {
            rc |= curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
        }
    }
    if (rc != CURLE_OK) {
        mk_err_set(err, MK_ERR_NET, "%s %s: curl_easy_setopt failed", req->method, req->url);
        return -1;
    }
    return 0;
}

int aws_http_perform(struct aws_http *h, const struct aws_http_request *req,
                     struct aws_http_response *resp, struct mk_err *err)
{
    int rc = -1;
    struct curl_slist *hl = NULL;
    struct write_ctx w = {resp, 0};
    CURL *c = NULL;

    memset(resp, 0, sizeof(*resp));
    /* An empty "Expect:" stops curl from waiting for 100 Continue on larger bodies. */
    hl = curl_slist_append(hl, "Expect:");
    MK_ENSURE(hl != NULL, err, MK_ERR_NOMEM, "out of memory");
    for (size_t i = 0; req->headers != NULL && req->headers[i] != NULL; i++) {
        struct curl_slist *n = curl_slist_append(hl, req->headers[i]);
        MK_ENSURE(n != NULL, err, MK_ERR_NOMEM, "out of memory");
        hl = n;
    }
    c = curl_easy_init();
    MK_ENSURE(c != NULL, err, MK_ERR_NET, "curl_easy_init failed");
    MK_GUARD(set_request(c, h, req, hl, &w, err));
    CURLcode cr = curl_easy_perform(c);
    if (cr != CURLE_OK) {
        enum mk_code code = cr == CURLE_OPERATION_TIMEDOUT ? MK_ERR_TIMEOUT : MK_ERR_NET;
        mk_err_set(err, code, "%s %s: %s", req->method, req->url,
                   w.too_large ? "answer larger than 16 MiB" : curl_easy_strerror(cr));
        aws_http_response_clear(resp);
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
    if (resp->body.data == NULL) {
        MK_GUARD(aws_buf_append(&resp->body, "", 0, err));
    }
    rc = 0;
out:
    if (c != NULL) {
        curl_easy_cleanup(c);
    }
    slist_wipe_free(hl);
    return rc;
}

void aws_http_response_clear(struct aws_http_response *resp)
{
    if (resp == NULL) {
        return;
    }
    aws_buf_free(&resp->body);
    memset(resp, 0, sizeof(*resp));
}
