/*
 * fuzz_apiversions.c: the ApiVersions parsers on hostile bytes (a broker, or anything that
 * answers on a broker's port, controls them).  The first byte picks the version; the rest is one
 * frame payload.  Parsed responses are re-encoded and parsed again: the result must be identical.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/probe/kafka_wire.h"

static struct kafka_api_versions_response resp, again;
static unsigned char buf[KAFKA_MAX_FRAME + 8192];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mk_err err;
    struct kafka_api_versions_request req;
    int16_t key = 0;
    if (size < 1) {
        return 0;
    }
    int version = data[0] & 3;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    /* Correlation id taken from the payload so that the body parser is reached. */
    int32_t corr = n >= 4 ? kafka_frame_size(p) : 0;
    if (kafka_api_versions_response_parse(p, n, version, corr, &resp, &err) == 0) {
        if (resp.n_api_keys > KAFKA_MAX_API_KEYS) {
            abort();
        }
        long len = kafka_api_versions_response_encode(buf, sizeof(buf), resp.version, &resp, &err);
        if (len < 4 ||
            kafka_api_versions_response_parse(buf + 4, (size_t)len - 4, resp.version, corr, &again,
                                              &err) != 0 ||
            again.n_api_keys != resp.n_api_keys ||
            memcmp(again.api_keys, resp.api_keys, resp.n_api_keys * sizeof(resp.api_keys[0])) !=
                0) {
            abort();
        }
    }
    (void)kafka_api_versions_request_parse(p, n, &req, &key, &err);
    return 0;
}
