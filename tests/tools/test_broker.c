/*
 * test_broker.c: a tiny TLS "Kafka broker" for the probe tests.  It completes TLS handshakes with
 * the configured client-certificate policy and answers ApiVersions v0..v3 (higher versions get
 * UNSUPPORTED_VERSION in the v0 layout, as real brokers do).  Any other request closes the
 * connection.  It serves until killed; one thread per connection.
 *
 *   test_broker --port 0 --cert S.pem --key S.key [--ca-file CA.pem] [--require-client-cert |
 *               --optional-client-cert] [--trust-any] [--tls-min 1.0|1.1|1.2|1.3]
 *               [--tls-max 1.0|1.1|1.2|1.3] [--crl F] [--api-versions-max N]
 *   test_broker --port 0 --plaintext [--api-versions-max N]
 *
 * --plaintext plays a PLAINTEXT listener (MSK's port 9092 with clientBroker TLS_PLAINTEXT): no
 * TLS, ApiVersions answered in clear, no certificate needed.
 *
 * --tls-min 1.0 or 1.1 plays a broker that still speaks the versions RFC 8996 deprecated; the
 * server then runs at OpenSSL security level 0, without which OpenSSL 3 refuses them.
 *
 * --api-versions-max N (0..3, default 3) plays an older broker: ApiVersions above vN get
 * UNSUPPORTED_VERSION in the v0 layout (KIP-511), which the probe must still take as Kafka.
 *
 * With --port 0 it binds a free loopback port and prints "PORT=<n>" on stdout first.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include "ctl/probe/kafka_wire.h"

static const struct kafka_api_range broker_apis[] = {
    {0, 0, 9}, {1, 0, 13}, {3, 0, 12}, {8, 0, 8}, {9, 0, 8}, {18, 0, 3}, {19, 0, 7},
};

/* Highest ApiVersions version answered normally; written once by main before any thread. */
static int api_versions_max = KAFKA_API_VERSIONS_MAX_VERSION;

static int trust_any_cb(int ok, X509_STORE_CTX *ctx)
{
    (void)ok;
    (void)ctx;
    return 1;
}

static int parse_tls_version(const char *s, int *out)
{
    if (strcmp(s, "1.0") == 0) {
        *out = TLS1_VERSION;
    } else if (strcmp(s, "1.1") == 0) {
        *out = TLS1_1_VERSION;
    } else if (strcmp(s, "1.2") == 0) {
        *out = TLS1_2_VERSION;
    } else if (strcmp(s, "1.3") == 0) {
        *out = TLS1_3_VERSION;
    } else {
        return -1;
    }
    return 0;
}

/* One connection: TLS when ssl is set, else the plain socket. */
struct io {
    SSL *ssl;
    int fd;
};

static int io_read_full(const struct io *io, unsigned char *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        size_t r = 0;
        if (io->ssl != NULL) {
            if (SSL_read_ex(io->ssl, buf + got, n - got, &r) != 1) {
                return -1;
            }
        } else {
            ssize_t k = recv(io->fd, buf + got, n - got, 0);
            if (k <= 0) {
                return -1;
            }
            r = (size_t)k;
        }
        got += r;
    }
    return 0;
}

static int io_write_all(const struct io *io, const unsigned char *buf, size_t n)
{
    if (io->ssl != NULL) {
        size_t w = 0;
        return SSL_write_ex(io->ssl, buf, n, &w) == 1 ? 0 : -1;
    }
    size_t done = 0;
    while (done < n) {
        ssize_t k = send(io->fd, buf + done, n - done, MSG_NOSIGNAL);
        if (k <= 0) {
            return -1;
        }
        done += (size_t)k;
    }
    return 0;
}

static void answer(const struct io *io)
{
    unsigned char hdr[4];
    static __thread unsigned char payload[KAFKA_MAX_FRAME];
    static __thread unsigned char out[KAFKA_MAX_FRAME];
    for (;;) {
        if (io_read_full(io, hdr, 4) != 0) {
            return;
        }
        int32_t size = kafka_frame_size(hdr);
        if (size < 0 || size > KAFKA_MAX_FRAME) {
            fprintf(stderr, "test_broker: bad frame size %d\n", (int)size);
            return;
        }
        if (io_read_full(io, payload, (size_t)size) != 0) {
            return;
        }
        struct kafka_api_versions_request req;
        struct mk_err err = {0};
        int16_t api_key = 0;
        struct kafka_api_versions_response resp = {0};
        resp.n_api_keys = sizeof(broker_apis) / sizeof(broker_apis[0]);
        memcpy(resp.api_keys, broker_apis, sizeof(broker_apis));
        if (kafka_api_versions_request_parse(payload, (size_t)size, &req, &api_key, &err) != 0) {
            if (err.code != MK_ERR_STATE || api_key != KAFKA_API_VERSIONS) {
                fprintf(stderr, "test_broker: %s\n", err.msg);
                return;
            }
            req.version = KAFKA_API_VERSIONS_MAX_VERSION + 1; /* anything above what we speak */
        }
        if (req.version > api_versions_max) {
            /* What a broker answers a version it does not know: the error, in the v0 layout,
             * with the ApiVersions range it does speak so the client can retry lower. */
            resp.error_code = KAFKA_ERR_UNSUPPORTED_VERSION;
            resp.n_api_keys = 1;
            resp.api_keys[0] =
                (struct kafka_api_range){KAFKA_API_VERSIONS, 0, (int16_t)api_versions_max};
        } else {
            /* Our own range in the list must say what this broker answers. */
            for (size_t i = 0; i < resp.n_api_keys; i++) {
                if (resp.api_keys[i].api_key == KAFKA_API_VERSIONS) {
                    resp.api_keys[i].max_version = (int16_t)api_versions_max;
                }
            }
        }
        resp.correlation_id = req.correlation_id;
        long n = kafka_api_versions_response_encode(out, sizeof(out), req.version, &resp, &err);
        if (n < 0) {
            fprintf(stderr, "test_broker: %s\n", err.msg);
            return;
        }
        if (io_write_all(io, out, (size_t)n) != 0) {
            return;
        }
    }
}

struct conn {
    SSL_CTX *ctx;
    int fd;
};

static void *serve(void *arg)
{
    struct conn *c = arg;
    struct timeval tv = {.tv_sec = 10};
    (void)setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    (void)setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (c->ctx == NULL) {
        struct io io = {.ssl = NULL, .fd = c->fd};
        answer(&io);
        close(c->fd);
        free(c);
        return NULL;
    }
    SSL *ssl = SSL_new(c->ctx);
    if (ssl != NULL && SSL_set_fd(ssl, c->fd) == 1) {
        if (SSL_accept(ssl) == 1) {
            struct io io = {.ssl = ssl, .fd = c->fd};
            answer(&io);
            (void)SSL_shutdown(ssl);
        } else {
            unsigned long e = ERR_get_error();
            char buf[256];
            ERR_error_string_n(e, buf, sizeof(buf));
            fprintf(stderr, "test_broker: handshake failed: %s\n", buf);
        }
    }
    ERR_clear_error();
    SSL_free(ssl);
    close(c->fd);
    free(c);
    return NULL;
}

static void usage(void)
{
    fprintf(stderr, "usage: test_broker --port N --cert F --key F [--ca-file F] "
                    "[--require-client-cert|--optional-client-cert] [--trust-any] "
                    "[--tls-min V] [--tls-max V] [--crl F] [--api-versions-max N]\n"
                    "       test_broker --port N --plaintext [--api-versions-max N]\n");
}

int main(int argc, char **argv)
{
    const char *cert = NULL, *key = NULL, *ca = NULL, *crl = NULL;
    long port = -1;
    int require = 0, optional = 0, trust_any = 0, plaintext = 0;
    int tls_min = TLS1_2_VERSION, tls_max = TLS1_3_VERSION;
    static const struct option opts[] = {
        {"port", required_argument, NULL, 'p'},
        {"cert", required_argument, NULL, 'c'},
        {"key", required_argument, NULL, 'k'},
        {"ca-file", required_argument, NULL, 'a'},
        {"require-client-cert", no_argument, NULL, 'r'},
        {"optional-client-cert", no_argument, NULL, 'o'},
        {"trust-any", no_argument, NULL, 't'},
        {"tls-min", required_argument, NULL, 'm'},
        {"tls-max", required_argument, NULL, 'M'},
        {"crl", required_argument, NULL, 'l'},
        {"api-versions-max", required_argument, NULL, 'V'},
        {"plaintext", no_argument, NULL, 'P'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        char *end = NULL;
        switch (ch) {
        case 'p':
            errno = 0;
            port = strtol(optarg, &end, 10);
            if (errno != 0 || *end != '\0' || port < 0 || port > 65535) {
                usage();
                return 2;
            }
            break;
        case 'c':
            cert = optarg;
            break;
        case 'k':
            key = optarg;
            break;
        case 'a':
            ca = optarg;
            break;
        case 'r':
            require = 1;
            break;
        case 'o':
            optional = 1;
            break;
        case 't':
            trust_any = 1;
            break;
        case 'm':
            if (parse_tls_version(optarg, &tls_min) != 0) {
                usage();
                return 2;
            }
            break;
        case 'M':
            if (parse_tls_version(optarg, &tls_max) != 0) {
                usage();
                return 2;
            }
            break;
        case 'l':
            crl = optarg;
            break;
        case 'P':
            plaintext = 1;
            break;
        case 'V':
            errno = 0;
            api_versions_max = (int)strtol(optarg, &end, 10);
            if (errno != 0 || end == optarg || *end != '\0' || api_versions_max < 0 ||
                api_versions_max > KAFKA_API_VERSIONS_MAX_VERSION) {
                usage();
                return 2;
            }
            break;
        default:
            usage();
            return 2;
        }
    }
    if (port < 0 || (!plaintext && (cert == NULL || key == NULL)) ||
        (plaintext && (cert != NULL || ca != NULL || require || optional || crl != NULL)) ||
        ((require || optional) && ca == NULL && !trust_any)) {
        usage();
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);

    SSL_CTX *ctx = NULL;
    if (plaintext) {
        goto listen;
    }
    ctx = SSL_CTX_new(TLS_server_method());
    /* OpenSSL 3 speaks TLS 1.0/1.1 only at security level 0 (SHA-1 / MD5+SHA-1 signatures). */
    if (ctx != NULL && tls_min < TLS1_2_VERSION &&
        SSL_CTX_set_cipher_list(ctx, "DEFAULT:@SECLEVEL=0") != 1) {
        ERR_print_errors_fp(stderr);
        return 1;
    }
    if (ctx == NULL || SSL_CTX_set_min_proto_version(ctx, tls_min) != 1 ||
        SSL_CTX_set_max_proto_version(ctx, tls_max) != 1 ||
        SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        ERR_print_errors_fp(stderr);
        return 1;
    }
    if (ca != NULL) {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca);
        if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1 || names == NULL) {
            ERR_print_errors_fp(stderr);
            return 1;
        }
        SSL_CTX_set_client_CA_list(ctx, names);
    }
    if (crl != NULL) {
        FILE *f = fopen(crl, "r");
        X509_CRL *c = f != NULL ? PEM_read_X509_CRL(f, NULL, NULL, NULL) : NULL;
        if (f != NULL) {
            fclose(f);
        }
        X509_STORE *store = SSL_CTX_get_cert_store(ctx);
        if (c == NULL || X509_STORE_add_crl(store, c) != 1) {
            fprintf(stderr, "test_broker: cannot load CRL %s\n", crl);
            return 1;
        }
        X509_CRL_free(c);
        X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
    }
    int mode = SSL_VERIFY_NONE;
    if (require) {
        mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    } else if (optional) {
        mode = SSL_VERIFY_PEER;
    }
    SSL_CTX_set_verify(ctx, mode, trust_any ? trust_any_cb : NULL);

listen:;
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t slen = sizeof(sa);
    if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(lfd, 64) != 0 ||
        getsockname(lfd, (struct sockaddr *)&sa, &slen) != 0) {
        perror("test_broker: listen");
        return 1;
    }
    printf("PORT=%u\n", (unsigned)ntohs(sa.sin_port));
    fflush(stdout);
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR) {
                continue;
            }
            perror("test_broker: accept");
            return 1;
        }
        struct conn *c = malloc(sizeof(*c));
        pthread_t th;
        if (c == NULL) {
            close(fd);
            continue;
        }
        c->ctx = ctx;
        c->fd = fd;
        if (pthread_create(&th, NULL, serve, c) != 0) {
            close(fd);
            free(c);
            continue;
        }
        pthread_detach(th);
    }
}
