/*
 * floor.c: the memory floor for the agent footprint benchmark (bench/bench_agent.py).
 *
 * It initialises the libraries mskpki-agent initialises and does nothing else: OpenSSL (config,
 * default provider, one EC P-256 key so the EC code paths are paged in as the agent's are),
 * libsodium, libcurl, libconfig (one empty config), jansson (one object), libxml2 (loaded, as
 * in the agent, where only the aws-pca backend parses XML), and a libmicrohttpd daemon with the agent's
 * flags on a free loopback port.  Then it prints "READY pid=<pid> rss_anon_kib=<n>" and sleeps
 * until killed, so the driver reads /proc/<pid>/status of both processes the same way.
 *
 *   bench_floor
 */
#include <curl/curl.h>
#include <jansson.h>
#include <libconfig.h>
#include <libxml/parser.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench_util.h"

static enum MHD_Result no_answer(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_len, void **state)
{
    (void)cls;
    (void)c;
    (void)url;
    (void)method;
    (void)version;
    (void)upload;
    (void)upload_len;
    (void)state;
    return MHD_NO;
}

int main(void)
{
    struct sockaddr_in sin;
    config_t cfg;
    EVP_PKEY *key = NULL;
    struct MHD_Daemon *d = NULL;

    if (OPENSSL_init_ssl(OPENSSL_INIT_LOAD_CONFIG, NULL) != 1 || sodium_init() < 0 ||
        curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "bench_floor: library initialisation failed\n");
        return 1;
    }
    key = EVP_EC_gen("P-256");
    if (key == NULL) {
        fprintf(stderr, "bench_floor: EC key generation failed\n");
        return 1;
    }
    config_init(&cfg);
    json_decref(json_object());
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, no_answer, NULL,
                         MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin,
                         MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
    if (d == NULL) {
        fprintf(stderr, "bench_floor: MHD_start_daemon failed\n");
        return 1;
    }
    /* xmlParserVersion is printed so the linker keeps libxml2 loaded, as it is in the agent. */
    printf("READY pid=%ld rss_anon_kib=%ld libxml2=%s\n", (long)getpid(),
           bench_rss_anon_kib(getpid()), xmlParserVersion);
    fflush(stdout);
    for (;;) {
        pause();
    }
}
