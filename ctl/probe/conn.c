/* probe_conn.c: one probe connection and the rules that classify it (see probe_conn.h). */
#include "ctl/probe/conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "ctl/probe/kafka_wire.h"
#include "pki/err.h"

#define PROBE_CLIENT_ID "mskpki-probe"
#define PROBE_SOFTWARE_NAME "mskpki-probe"
/* Internal: classify_early had nothing to say. */
#define PROBE__UNDECIDED ((enum probe_outcome)PROBE_OUTCOME__MAX)

static const char *const case_names[PROBE_CASE__MAX] = {
    "no_client_cert",
    "untrusted_client_cert",
    "expired_client_cert",
    "valid_client_cert",
    "broker_certificate",
    "revoked_client_cert",
    "not_yet_valid_client_cert",
    "legacy_tls_version",
    "plaintext_listener",
};

static const char *const outcome_names[PROBE_OUTCOME__MAX] = {
    "ACCEPTED",
    "REFUSED",
    "ERROR",
    "NOT_APPLICABLE",
};

const char *probe_case_name(enum probe_case c)
{
    return (unsigned)c < PROBE_CASE__MAX ? case_names[c] : "unknown";
}

const char *probe_outcome_name(enum probe_outcome o)
{
    return (unsigned)o < PROBE_OUTCOME__MAX ? outcome_names[o] : "unknown";
}

const char *probe_tls_name(int tls_version)
{
    switch (tls_version) {
    case 0:
        return "none";
    case TLS1_VERSION:
        return "TLSv1.0";
    case TLS1_1_VERSION:
        return "TLSv1.1";
    case TLS1_2_VERSION:
        return "TLSv1.2";
    case TLS1_3_VERSION:
        return "TLSv1.3";
    default:
        return "TLS?";
    }
}

/* RFC 8446 section 6 and RFC 5246 section 7.2 names; OpenSSL 3.0 lacks some of the TLS 1.3 ones. */
void probe_alert_text(int desc, char *buf, size_t cap)
{
    static const struct {
        int desc;
        const char *name;
    } alerts[] = {
        {0, "close notify"},
        {10, "unexpected message"},
        {20, "bad record mac"},
        {22, "record overflow"},
        {40, "handshake failure"},
        {42, "bad certificate"},
        {43, "unsupported certificate"},
        {44, "certificate revoked"},
        {45, "certificate expired"},
        {46, "certificate unknown"},
        {47, "illegal parameter"},
        {48, "unknown CA"},
        {49, "access denied"},
        {50, "decode error"},
        {51, "decrypt error"},
        {70, "protocol version"},
        {71, "insufficient security"},
        {80, "internal error"},
        {86, "inappropriate fallback"},
        {90, "user canceled"},
        {109, "missing extension"},
        {110, "unsupported extension"},
        {112, "unrecognized name"},
        {113, "bad certificate status response"},
        {115, "unknown PSK identity"},
        {116, "certificate required"},
        {120, "no application protocol"},
    };
    const char *name = "unknown";
    for (size_t i = 0; i < sizeof(alerts) / sizeof(alerts[0]); i++) {
        if (alerts[i].desc == desc) {
            name = alerts[i].name;
            break;
        }
    }
    snprintf(buf, cap, "alert %s (%d)", name, desc);
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void fact_fail(struct probe_facts *f, const char *step, const char *fmt, ...)
    MK_PRINTF(3, 4);

static void fact_fail(struct probe_facts *f, const char *step, const char *fmt, ...)
{
    if (f->step[0] != '\0') {
        return; /* keep the first failure: later ones are consequences */
    }
    snprintf(f->step, sizeof(f->step), "%s", step);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->reason, sizeof(f->reason), fmt, ap);
    va_end(ap);
}

/* Waits until fd is ready for events or the deadline passes.  Returns 1 ready, 0 timeout, -1 err.
 */
static int wait_fd(int fd, short events, long deadline)
{
    for (;;) {
        long left = deadline - now_ms();
        if (left <= 0) {
            return 0;
        }
        struct pollfd p = {.fd = fd, .events = events};
        int r = poll(&p, 1, (int)(left > 60000 ? 60000 : left));
        if (r > 0) {
            return 1;
        }
        if (r < 0 && errno != EINTR) {
            return -1;
        }
    }
}

/* Non-blocking connect to each resolved address in turn.  Returns the socket or -1. */
static int tcp_connect(const struct probe_conn_opts *o, struct probe_facts *f)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(o->host, o->port, &hints, &res);
    if (rc != 0) {
        fact_fail(f, "resolve", "cannot resolve %s: %s", o->host, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
        int s =
            socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (s < 0) {
            continue;
        }
        if (connect(s, ai->ai_addr, ai->ai_addrlen) == 0) {
            fd = s;
            break;
        }
        if (errno != EINPROGRESS) {
            f->step[0] = '\0';
            f->connect_errno = errno;
            fact_fail(f, "connect", "connect: %s", strerror(errno));
            close(s);
            continue;
        }
        int w = wait_fd(s, POLLOUT, now_ms() + o->timeout_ms);
        int soerr = 0;
        socklen_t len = sizeof(soerr);
        if (w == 0) {
            f->step[0] = '\0';
            f->timed_out = 1;
            fact_fail(f, "connect", "connect: no answer within %d ms", o->timeout_ms);
        } else if (w < 0 || getsockopt(s, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0 || soerr != 0) {
            f->step[0] = '\0';
            f->connect_errno = soerr != 0 ? soerr : errno;
            fact_fail(f, "connect", "connect: %s", strerror(soerr != 0 ? soerr : errno));
        } else {
            fd = s;
            break;
        }
        close(s);
    }
    freeaddrinfo(res);
    if (fd >= 0) {
        f->connected = 1;
        f->connect_errno = 0;
        f->step[0] = '\0';
        f->reason[0] = '\0';
        f->timed_out = 0;
    }
    return fd;
}

/* Records alerts and the ServerHello as they pass: this is how a refusal is told apart from a
 * server that never spoke TLS. */
static void msg_cb(int write_p, int version, int content_type, const void *buf, size_t len,
                   SSL *ssl, void *arg)
{
    (void)version;
    (void)ssl;
    struct probe_facts *f = arg;
    const unsigned char *b = buf;
    if (content_type == SSL3_RT_ALERT && len >= 2) {
        if (write_p) {
            if (f->alert_sent < 0) {
                f->alert_sent = b[1];
            }
        } else if (f->alert_received < 0 || f->alert_received == 0) {
            /* Prefer a fatal alert over a close_notify that may follow it. */
            f->alert_received = b[1];
        }
    } else if (content_type == SSL3_RT_HANDSHAKE && !write_p && len >= 1 &&
               b[0] == SSL3_MT_SERVER_HELLO) {
        f->server_hello = 1;
    }
}

static int facts_index = -1;
static pthread_once_t facts_once = PTHREAD_ONCE_INIT;

static void facts_index_init(void)
{
    facts_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

/* Records the first chain or name problem and carries on, so the handshake still completes and
 * the probe can report the reason rather than a bare "verify failed". */
static int verify_cb(int ok, X509_STORE_CTX *xs)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
    struct probe_facts *f = ssl != NULL ? SSL_get_ex_data(ssl, facts_index) : NULL;
    if (f == NULL) {
        return ok;
    }
    f->verify_called = 1;
    int depth = X509_STORE_CTX_get_error_depth(xs);
    if (depth == 0 && f->peer_subject[0] == '\0') {
        X509 *leaf = X509_STORE_CTX_get_current_cert(xs);
        if (leaf != NULL) {
            X509_NAME_oneline(X509_get_subject_name(leaf), f->peer_subject,
                              (int)sizeof(f->peer_subject));
        }
    }
    if (!ok && f->verify_error == 0) {
        f->verify_error = X509_STORE_CTX_get_error(xs);
        f->verify_depth = depth;
    }
    return 1;
}

/* Turns a failed SSL_* call into facts.  Returns 1 to retry after waiting (WANT_*), 0 failed. */
static int ssl_step_error(SSL *ssl, int r, const char *step, struct probe_facts *f, short *events)
{
    int saved_errno = errno;
    int e = SSL_get_error(ssl, r);
    switch (e) {
    case SSL_ERROR_WANT_READ:
        *events = POLLIN;
        return 1;
    case SSL_ERROR_WANT_WRITE:
        *events = POLLOUT;
        return 1;
    case SSL_ERROR_ZERO_RETURN:
        f->closed = 1;
        fact_fail(f, step, "peer sent close_notify");
        return 0;
    case SSL_ERROR_SYSCALL:
        f->closed = 1;
        if (saved_errno != 0 && saved_errno != EAGAIN) {
            fact_fail(f, step, "%s", strerror(saved_errno));
        } else {
            fact_fail(f, step, "connection closed by peer");
        }
        ERR_clear_error();
        return 0;
    case SSL_ERROR_SSL: {
        unsigned long code = ERR_peek_last_error();
        char buf[200];
        ERR_error_string_n(code, buf, sizeof(buf));
        const char *reason = ERR_reason_error_string(code);
        if (f->alert_received < 0) {
            f->tls_error = 1;
        }
        fact_fail(f, step, "%s", reason != NULL ? reason : buf);
        ERR_clear_error();
        return 0;
    }
    default:
        fact_fail(f, step, "SSL error %d", e);
        ERR_clear_error();
        return 0;
    }
}

static int do_handshake(SSL *ssl, int fd, long timeout_ms, struct probe_facts *f)
{
    long deadline = now_ms() + timeout_ms;
    for (;;) {
        errno = 0;
        int r = SSL_connect(ssl);
        if (r == 1) {
            f->handshake_done = 1;
            f->negotiated_version = SSL_version(ssl);
            return 0;
        }
        short events = 0;
        if (!ssl_step_error(ssl, r, "handshake", f, &events)) {
            return -1;
        }
        int w = wait_fd(fd, events, deadline);
        if (w <= 0) {
            f->timed_out = w == 0;
            fact_fail(f, "handshake", "no TLS progress within %ld ms", timeout_ms);
            return -1;
        }
    }
}

static int ssl_write_all(SSL *ssl, int fd, const void *buf, size_t n, long timeout_ms,
                         struct probe_facts *f)
{
    long deadline = now_ms() + timeout_ms;
    size_t done = 0;
    while (done < n) {
        size_t w = 0;
        errno = 0;
        int r = SSL_write_ex(ssl, (const char *)buf + done, n - done, &w);
        if (r == 1) {
            done += w;
            continue;
        }
        short events = 0;
        if (!ssl_step_error(ssl, r, "write", f, &events)) {
            return -1;
        }
        int ready = wait_fd(fd, events, deadline);
        if (ready <= 0) {
            f->timed_out = ready == 0;
            fact_fail(f, "write", "cannot send within %ld ms", timeout_ms);
            return -1;
        }
    }
    return 0;
}

static int ssl_read_all(SSL *ssl, int fd, void *buf, size_t n, long deadline, long timeout_ms,
                        struct probe_facts *f)
{
    size_t done = 0;
    while (done < n) {
        size_t got = 0;
        errno = 0;
        int r = SSL_read_ex(ssl, (char *)buf + done, n - done, &got);
        if (r == 1) {
            done += got;
            continue;
        }
        short events = 0;
        if (!ssl_step_error(ssl, r, "read", f, &events)) {
            return -1;
        }
        int ready = wait_fd(fd, events, deadline);
        if (ready <= 0) {
            f->timed_out = ready == 0;
            fact_fail(f, "read", "no answer within %ld ms", timeout_ms);
            return -1;
        }
    }
    return 0;
}

/* The plaintext counterparts of ssl_write_all / ssl_read_all, for PROBE_MODE_PLAINTEXT. */
static int plain_write_all(int fd, const void *buf, size_t n, long timeout_ms,
                           struct probe_facts *f)
{
    long deadline = now_ms() + timeout_ms;
    size_t done = 0;
    while (done < n) {
        ssize_t w = send(fd, (const char *)buf + done, n - done, MSG_NOSIGNAL);
        if (w > 0) {
            done += (size_t)w;
            continue;
        }
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            f->closed = 1;
            fact_fail(f, "write", "%s", strerror(errno));
            return -1;
        }
        int ready = wait_fd(fd, POLLOUT, deadline);
        if (ready <= 0) {
            f->timed_out = ready == 0;
            fact_fail(f, "write", "cannot send within %ld ms", timeout_ms);
            return -1;
        }
    }
    return 0;
}

static int plain_read_all(int fd, void *buf, size_t n, long deadline, long timeout_ms,
                          struct probe_facts *f)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = recv(fd, (char *)buf + done, n - done, 0);
        if (r > 0) {
            done += (size_t)r;
            continue;
        }
        if (r == 0) {
            f->closed = 1;
            fact_fail(f, "read", "connection closed by peer");
            return -1;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            f->closed = 1;
            fact_fail(f, "read", "%s", strerror(errno));
            return -1;
        }
        int ready = wait_fd(fd, POLLIN, deadline);
        if (ready <= 0) {
            f->timed_out = ready == 0;
            fact_fail(f, "read", "no answer within %ld ms", timeout_ms);
            return -1;
        }
    }
    return 0;
}

/* ssl NULL: the connection is plaintext. */
static int conn_write_all(SSL *ssl, int fd, const void *buf, size_t n, long timeout_ms,
                          struct probe_facts *f)
{
    return ssl != NULL ? ssl_write_all(ssl, fd, buf, n, timeout_ms, f)
                       : plain_write_all(fd, buf, n, timeout_ms, f);
}

static int conn_read_all(SSL *ssl, int fd, void *buf, size_t n, long deadline, long timeout_ms,
                         struct probe_facts *f)
{
    return ssl != NULL ? ssl_read_all(ssl, fd, buf, n, deadline, timeout_ms, f)
                       : plain_read_all(fd, buf, n, deadline, timeout_ms, f);
}

/* Sends ApiVersions and checks the answer (in clear when ssl is NULL).  After a write failure it
 * still reads, because a TLS 1.3 server that refuses our certificate after the handshake has
 * usually sent its alert by then and the alert is the useful part of the report. */
static void kafka_round_trip(SSL *ssl, int fd, const struct probe_conn_opts *o,
                             struct probe_facts *f)
{
    unsigned char req[512];
    static __thread unsigned char payload[KAFKA_MAX_FRAME];
    static __thread struct kafka_api_versions_response resp;
    struct mk_err err = {0};
    long n = kafka_api_versions_request_encode(req, sizeof(req), o->api_version, o->correlation_id,
                                               PROBE_CLIENT_ID, PROBE_SOFTWARE_NAME, MSKPKI_VERSION,
                                               &err);
    if (n < 0) {
        fact_fail(f, "encode", "%s", err.msg);
        return;
    }
    (void)conn_write_all(ssl, fd, req, (size_t)n, o->timeout_ms, f);
    long deadline = now_ms() + o->timeout_ms;
    unsigned char hdr[4];
    if (conn_read_all(ssl, fd, hdr, 4, deadline, o->timeout_ms, f) != 0) {
        return;
    }
    int32_t size = kafka_frame_size(hdr);
    if (size < 8 || size > KAFKA_MAX_FRAME) {
        f->kafka_bad = 1;
        fact_fail(f, "read", "answer is not a Kafka frame (first bytes %02x %02x %02x %02x)",
                  hdr[0], hdr[1], hdr[2], hdr[3]);
        return;
    }
    if (conn_read_all(ssl, fd, payload, (size_t)size, deadline, o->timeout_ms, f) != 0) {
        f->kafka_bad = !f->closed && !f->timed_out && f->alert_received < 0;
        return;
    }
    if (kafka_api_versions_response_parse(payload, (size_t)size, o->api_version, o->correlation_id,
                                          &resp, &err) != 0) {
        f->kafka_bad = 1;
        fact_fail(f, "parse", "%s", err.msg);
        return;
    }
    f->kafka_done = 1;
    f->kafka_error_code = resp.error_code;
    f->kafka_version = resp.version;
    f->kafka_n_apis = resp.n_api_keys;
}

static int is_ip_literal(const char *name)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, name, buf) == 1 || inet_pton(AF_INET6, name, buf) == 1;
}

/* Pins the version, sets SNI (never for an IP, RFC 6066 section 3) and the verification name. */
static int setup_ssl(SSL *ssl, const struct probe_conn_opts *o, const char *name,
                     struct probe_facts *f)
{
    if (SSL_set_min_proto_version(ssl, o->tls_version) != 1 ||
        SSL_set_max_proto_version(ssl, o->tls_version) != 1) {
        fact_fail(f, "setup", "cannot pin %s", probe_tls_name(o->tls_version));
        return -1;
    }
    int ip = is_ip_literal(name);
    if (!ip && SSL_set_tlsext_host_name(ssl, name) != 1) {
        fact_fail(f, "setup", "bad server name '%s'", name);
        return -1;
    }
    SSL_set_msg_callback(ssl, msg_cb);
    SSL_set_msg_callback_arg(ssl, f);
    if (o->mode != PROBE_MODE_VERIFY) {
        SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
        return 0;
    }
    X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, name)
                : X509_VERIFY_PARAM_set1_host(param, name, 0);
    if (ok != 1 || SSL_set_ex_data(ssl, facts_index, f) != 1) {
        fact_fail(f, "setup", "cannot set verification name '%s'", name);
        return -1;
    }
    SSL_set_verify(ssl, SSL_VERIFY_PEER, verify_cb);
    return 0;
}

void probe_conn_run(const struct probe_conn_opts *o, struct probe_facts *f)
{
    memset(f, 0, sizeof(*f));
    f->alert_received = -1;
    f->alert_sent = -1;
    pthread_once(&facts_once, facts_index_init);
    const char *name = o->server_name != NULL ? o->server_name : o->host;
    SSL *ssl = NULL;
    int fd = tcp_connect(o, f);
    if (fd < 0) {
        return;
    }
    if (o->mode == PROBE_MODE_PLAINTEXT) {
        kafka_round_trip(NULL, fd, o, f);
        goto out;
    }
    ssl = SSL_new(o->ctx);
    if (ssl == NULL || SSL_set_fd(ssl, fd) != 1) {
        fact_fail(f, "setup", "SSL_new failed");
        goto out;
    }
    if (setup_ssl(ssl, o, name, f) != 0) {
        goto out;
    }
    if (do_handshake(ssl, fd, o->timeout_ms, f) != 0) {
        goto out;
    }
    if (o->mode == PROBE_MODE_KAFKA) {
        kafka_round_trip(ssl, fd, o, f);
    }
    if (f->step[0] == '\0') {
        /* Best effort: a polite close so brokers do not log a reset for every probe. */
        (void)SSL_shutdown(ssl);
    }
out:
    ERR_clear_error();
    SSL_free(ssl);
    close(fd);
}

enum probe_version_support probe_classify_detect(const struct probe_facts *f, char *detail,
                                                 size_t cap)
{
    char alert[64];
    if (!f->connected) {
        snprintf(detail, cap, "%s", f->reason);
        return PROBE_VERSION_ERROR;
    }
    if (f->alert_received == SSL_AD_PROTOCOL_VERSION ||
        (f->server_hello && f->alert_sent == SSL_AD_PROTOCOL_VERSION)) {
        probe_alert_text(SSL_AD_PROTOCOL_VERSION, alert, sizeof(alert));
        snprintf(detail, cap, "version refused: %s", alert);
        return PROBE_VERSION_REFUSED;
    }
    if (f->server_hello) {
        snprintf(detail, cap, "ServerHello received");
        return PROBE_VERSION_SUPPORTED;
    }
    if (f->timed_out) {
        snprintf(detail, cap, "timeout during TLS handshake: %s", f->reason);
        return PROBE_VERSION_ERROR;
    }
    if (f->alert_received >= 0) {
        probe_alert_text(f->alert_received, alert, sizeof(alert));
        snprintf(detail, cap, "version refused: %s before ServerHello", alert);
        return PROBE_VERSION_REFUSED;
    }
    if (f->closed) {
        snprintf(detail, cap, "connection closed before ServerHello (%s)", f->reason);
        return PROBE_VERSION_REFUSED;
    }
    /* Bytes came back that are not TLS (HTTP, SSH banner, ...): OpenSSL reports
     * "wrong version number" or "packet length too long". */
    snprintf(detail, cap, "not a TLS server: %s", f->reason);
    return PROBE_VERSION_ERROR;
}

/* Shared by the Kafka and verify rules: a handshake that failed before any verdict. */
static enum probe_outcome classify_early(const struct probe_facts *f, char *detail, size_t cap)
{
    char dummy[256];
    enum probe_version_support v = probe_classify_detect(f, dummy, sizeof(dummy));
    int version_refused = f->alert_received == SSL_AD_PROTOCOL_VERSION ||
                          (f->server_hello && f->alert_sent == SSL_AD_PROTOCOL_VERSION);
    if (v == PROBE_VERSION_REFUSED && version_refused) {
        snprintf(detail, cap, "%s", dummy);
        return PROBE_NOT_APPLICABLE;
    }
    if (!f->server_hello) {
        snprintf(detail, cap, "%s", dummy);
        return PROBE_ERROR;
    }
    return PROBE__UNDECIDED;
}

enum probe_outcome probe_classify_kafka(const struct probe_facts *f, char *detail, size_t cap)
{
    char alert[64];
    const char *when = f->handshake_done ? "after handshake" : "during handshake";
    if (f->kafka_done) {
        snprintf(detail, cap, "ApiVersions v%d answered: %zu APIs, error_code %d", f->kafka_version,
                 f->kafka_n_apis, (int)f->kafka_error_code);
        return PROBE_ACCEPTED;
    }
    enum probe_outcome early = classify_early(f, detail, cap);
    if (early != PROBE__UNDECIDED) {
        return early;
    }
    if (f->alert_received > 0) {
        probe_alert_text(f->alert_received, alert, sizeof(alert));
        snprintf(detail, cap, "%s %s", alert, when);
        return PROBE_REFUSED;
    }
    if (f->kafka_bad) {
        snprintf(detail, cap, "not Kafka: %s", f->reason);
        return PROBE_ERROR;
    }
    if (f->timed_out) {
        snprintf(detail, cap, "%s: %s%s", f->step, f->reason,
                 f->handshake_done ? " (not Kafka?)" : "");
        return PROBE_ERROR;
    }
    if (f->closed) {
        snprintf(detail, cap, "connection closed %s (%s)", when, f->reason);
        return PROBE_REFUSED;
    }
    if (f->alert_sent >= 0) {
        probe_alert_text(f->alert_sent, alert, sizeof(alert));
        snprintf(detail, cap, "local TLS failure, we sent %s: %s", alert, f->reason);
        return PROBE_ERROR;
    }
    snprintf(detail, cap, "%s failed: %s", f->step[0] != '\0' ? f->step : "probe", f->reason);
    return PROBE_ERROR;
}

enum probe_outcome probe_classify_legacy(const struct probe_facts *f, int tls_version, char *detail,
                                         size_t cap)
{
    char alert[64];
    const char *name = probe_tls_name(tls_version);
    if (!f->connected) {
        snprintf(detail, cap, "%s", f->reason);
        return PROBE_ERROR;
    }
    /* Our client rejects a ServerHello for another version with protocol_version itself. */
    int version_refused = f->alert_received == SSL_AD_PROTOCOL_VERSION ||
                          (f->server_hello && f->alert_sent == SSL_AD_PROTOCOL_VERSION);
    if (version_refused) {
        probe_alert_text(SSL_AD_PROTOCOL_VERSION, alert, sizeof(alert));
        snprintf(detail, cap, "%s refused: %s", name, alert);
        return PROBE_REFUSED;
    }
    if (f->server_hello) {
        if (f->handshake_done) {
            snprintf(detail, cap, "%s handshake completed", name);
        } else {
            snprintf(detail, cap, "ServerHello for %s (the broker speaks it), then %s: %s", name,
                     f->step[0] != '\0' ? f->step : "handshake", f->reason);
        }
        return PROBE_ACCEPTED;
    }
    if (f->timed_out) {
        snprintf(detail, cap, "timeout during TLS handshake: %s", f->reason);
        return PROBE_ERROR;
    }
    if (f->alert_received >= 0) {
        probe_alert_text(f->alert_received, alert, sizeof(alert));
        snprintf(detail, cap, "%s refused: %s before ServerHello", name, alert);
        return PROBE_REFUSED;
    }
    if (f->closed) {
        snprintf(detail, cap, "%s refused: connection closed before ServerHello (%s)", name,
                 f->reason);
        return PROBE_REFUSED;
    }
    if (f->alert_sent >= 0 || f->reason[0] == '\0' || strstr(f->reason, "no protocols") != NULL ||
        strstr(f->reason, "no ciphers") != NULL) {
        snprintf(detail, cap, "cannot offer %s here: %s", name, f->reason);
        return PROBE_ERROR;
    }
    snprintf(detail, cap, "not a TLS server: %s", f->reason);
    return PROBE_ERROR;
}

enum probe_outcome probe_classify_plaintext(const struct probe_facts *f, char *detail, size_t cap)
{
    if (!f->connected) {
        if (f->connect_errno == ECONNREFUSED) {
            snprintf(detail, cap, "nothing listens: %s", f->reason);
            return PROBE_REFUSED;
        }
        /* A security group that drops the port looks like this: no plaintext access from here. */
        if (f->timed_out) {
            snprintf(detail, cap, "no answer to the TCP connect (filtered from here): %s",
                     f->reason);
            return PROBE_REFUSED;
        }
        snprintf(detail, cap, "%s", f->reason);
        return PROBE_ERROR;
    }
    if (f->kafka_done) {
        snprintf(detail, cap,
                 "plaintext ApiVersions v%d answered: %zu APIs, error_code %d (no TLS, no "
                 "authentication)",
                 f->kafka_version, f->kafka_n_apis, (int)f->kafka_error_code);
        return PROBE_ACCEPTED;
    }
    if (f->kafka_bad) {
        snprintf(detail, cap, "not Kafka: %s", f->reason);
        return PROBE_REFUSED;
    }
    if (f->closed) {
        snprintf(detail, cap, "connection closed without a Kafka answer (%s)", f->reason);
        return PROBE_REFUSED;
    }
    if (f->timed_out) {
        snprintf(detail, cap, "no Kafka answer: %s: %s", f->step, f->reason);
        return PROBE_REFUSED;
    }
    snprintf(detail, cap, "%s failed: %s", f->step[0] != '\0' ? f->step : "probe", f->reason);
    return PROBE_ERROR;
}

enum probe_outcome probe_classify_verify(const struct probe_facts *f, const char *name,
                                         char *detail, size_t cap)
{
    if (f->verify_called) {
        if (f->verify_error == 0) {
            snprintf(detail, cap, "chain and name %s verified: %s", name, f->peer_subject);
            return PROBE_ACCEPTED;
        }
        snprintf(detail, cap, "verify failed at depth %d: %s (name %s, subject %s)",
                 f->verify_depth, X509_verify_cert_error_string(f->verify_error), name,
                 f->peer_subject);
        return PROBE_REFUSED;
    }
    enum probe_outcome early = classify_early(f, detail, cap);
    if (early != PROBE__UNDECIDED) {
        return early;
    }
    snprintf(detail, cap, "no certificate checked: %s failed: %s",
             f->step[0] != '\0' ? f->step : "handshake", f->reason);
    return PROBE_ERROR;
}
