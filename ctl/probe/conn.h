/*
 * probe_conn.h: one probe connection to one broker: non-blocking TCP connect, a TLS handshake
 * pinned to one protocol version, optionally a Kafka ApiVersions round trip, with every step
 * bounded by a timeout (poll()).  probe_conn_run() records what happened as plain facts
 * (struct probe_facts); the probe_classify_* functions turn facts into an outcome and a one-line
 * detail, so the decision rules are testable without a network.
 */
#ifndef CTL_PROBE_CONN_H
#define CTL_PROBE_CONN_H

#include <stdint.h>

#include <openssl/ssl.h>

enum probe_case {
    PROBE_NO_CLIENT_CERT,
    PROBE_UNTRUSTED_CLIENT_CERT,
    PROBE_EXPIRED_CLIENT_CERT,
    PROBE_VALID_CLIENT_CERT,
    PROBE_BROKER_CERTIFICATE,
    PROBE_REVOKED_CLIENT_CERT, /* --revoked-cert: a certificate the CA revoked */
    PROBE_NOT_YET_VALID_CLIENT_CERT,
    PROBE_LEGACY_TLS_VERSION, /* per broker, TLS 1.0 and 1.1, not per modern version */
    PROBE_PLAINTEXT_LISTENER, /* per plaintext endpoint, no TLS at all */
    PROBE_CASE__MAX
};

enum probe_outcome {
    PROBE_ACCEPTED,
    PROBE_REFUSED,
    PROBE_ERROR,
    PROBE_NOT_APPLICABLE,
    PROBE_OUTCOME__MAX
};

/* What a version-detection connection found out about one TLS version. */
enum probe_version_support { PROBE_VERSION_SUPPORTED, PROBE_VERSION_REFUSED, PROBE_VERSION_ERROR };

/* "no_client_cert", ...; "ACCEPTED", ...; "TLSv1.0" to "TLSv1.3", "none" for 0 (plaintext).
 * Never NULL. */
const char *probe_case_name(enum probe_case c);
const char *probe_outcome_name(enum probe_outcome o);
const char *probe_tls_name(int tls_version);
/* "alert certificate required (116)" into buf. */
void probe_alert_text(int desc, char *buf, size_t cap);

enum probe_mode {
    PROBE_MODE_DETECT,    /* handshake only, to learn whether the version is spoken */
    PROBE_MODE_KAFKA,     /* handshake, then ApiVersions: was our client certificate accepted? */
    PROBE_MODE_VERIFY,    /* handshake verifying the broker's chain and name */
    PROBE_MODE_PLAINTEXT, /* no TLS: ApiVersions in clear on the TCP connection */
};

struct probe_conn_opts {
    const char *host; /* name or IP literal to connect to */
    const char *port;
    const char *server_name; /* SNI and name to verify; NULL = host */
    int tls_version;         /* TLS1_VERSION .. TLS1_3_VERSION; unused in PROBE_MODE_PLAINTEXT */
    int timeout_ms;          /* per step: connect, handshake, write, read */
    SSL_CTX *ctx;            /* borrowed; client certificate (if any) already set */
    enum probe_mode mode;
    int32_t correlation_id; /* PROBE_MODE_KAFKA */
    int api_version;        /* ApiVersions version to send, 0..3 */
};

struct probe_facts {
    int connected;          /* TCP connect succeeded */
    int connect_errno;      /* errno of the last failed connect (ECONNREFUSED...), 0 none */
    int server_hello;       /* a ServerHello arrived */
    int handshake_done;     /* SSL_connect returned 1 */
    int alert_received;     /* alert description from the peer, -1 none */
    int alert_sent;         /* alert description we sent, -1 none */
    int closed;             /* EOF, close_notify or reset from the peer */
    int timed_out;          /* a step hit the timeout */
    int tls_error;          /* SSL_ERROR_SSL without a received alert */
    int kafka_done;         /* a well-formed ApiVersions answer with our correlation id */
    int kafka_bad;          /* an answer came but is not a valid ApiVersions response */
    int negotiated_version; /* SSL_version() after the handshake, 0 before */
    int verify_called;      /* PROBE_MODE_VERIFY: the broker's chain was checked */
    int verify_error;       /* first X509_V_ERR_* seen, 0 = verified */
    int verify_depth;
    int16_t kafka_error_code;
    int kafka_version; /* layout of the answer */
    size_t kafka_n_apis;
    char step[32];          /* the step that failed: "resolve", "connect", "handshake", ... */
    char reason[256];       /* system or OpenSSL reason for the failure, or "" */
    char peer_subject[256]; /* PROBE_MODE_VERIFY: the broker's leaf subject */
};

/* Runs one connection as opts says and fills facts.  Never fails as a function: every failure is a
 * fact.  Thread-safe (touches only its own SSL and socket). */
void probe_conn_run(const struct probe_conn_opts *opts, struct probe_facts *facts);

/* DETECT facts -> whether the version is spoken; detail gets a one-line reason. */
enum probe_version_support probe_classify_detect(const struct probe_facts *f, char *detail,
                                                 size_t cap);
/* KAFKA facts -> ACCEPTED / REFUSED / ERROR / NOT_APPLICABLE with detail. */
enum probe_outcome probe_classify_kafka(const struct probe_facts *f, char *detail, size_t cap);
/* DETECT facts of a TLS 1.0/1.1 handshake -> ACCEPTED when the broker answered with a
 * ServerHello for that version (it speaks it, whatever it thinks of our certificate), REFUSED
 * when it refused the version or closed before any ServerHello, ERROR when unreachable, not TLS,
 * or our own TLS library would not offer the version. */
enum probe_outcome probe_classify_legacy(const struct probe_facts *f, int tls_version, char *detail,
                                         size_t cap);
/* PLAINTEXT facts -> ACCEPTED when ApiVersions was answered in clear; REFUSED when the port
 * refused or timed out the connection, closed it, or answered something that is not Kafka;
 * ERROR when the name does not resolve or the network is unreachable. */
enum probe_outcome probe_classify_plaintext(const struct probe_facts *f, char *detail, size_t cap);
/* VERIFY facts -> ACCEPTED (chain and name verified) / REFUSED (verification failed) / ERROR. */
enum probe_outcome probe_classify_verify(const struct probe_facts *f, const char *name,
                                         char *detail, size_t cap);

#endif
