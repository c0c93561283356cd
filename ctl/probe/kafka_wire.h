/*
 * kafka_wire.h: just enough of the Kafka wire protocol to ask a broker "are you Kafka, and will
 * you talk to me?": the ApiVersions request (api key 18, versions 0 to 3) and its response.
 *
 * References: https://kafka.apache.org/protocol (ApiVersions, request header v1/v2, response
 * header v0) and KIP-482 (tagged fields) / KIP-511 (client software name and version in v3).
 *
 * Frames on the wire are a 4-byte big-endian size followed by that many bytes.  The encoders write
 * whole frames (size included); the parsers take one frame's payload (size stripped) and are
 * strict: every length is bounds-checked, trailing bytes are an error, and arrays are capped at
 * KAFKA_MAX_API_KEYS entries so a hostile peer cannot make us allocate much.  Nothing here
 * allocates: results go into caller-provided structs.
 */
#ifndef CTL_KAFKA_WIRE_H
#define CTL_KAFKA_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "pki/err.h"

#define KAFKA_API_VERSIONS 18
#define KAFKA_API_VERSIONS_MAX_VERSION 3
#define KAFKA_ERR_NONE 0
#define KAFKA_ERR_UNSUPPORTED_VERSION 35
/* Real brokers list about 70 APIs; 1024 leaves room and still bounds the parse. */
#define KAFKA_MAX_API_KEYS 1024
/* Largest frame we accept from a peer: an ApiVersions answer is a few hundred bytes. */
#define KAFKA_MAX_FRAME 65536

struct kafka_api_range {
    int16_t api_key;
    int16_t min_version;
    int16_t max_version;
};

struct kafka_api_versions_response {
    int32_t correlation_id;
    int16_t error_code;
    /* The version whose body layout was parsed: the one asked for, or 0 when the broker answered
     * UNSUPPORTED_VERSION (brokers then fall back to the v0 layout, see KIP-511). */
    int version;
    size_t n_api_keys;
    struct kafka_api_range api_keys[KAFKA_MAX_API_KEYS];
    int32_t throttle_time_ms; /* v1+, else 0 */
    size_t n_tagged_fields;   /* v3: how many tagged fields the body carried (skipped) */
};

struct kafka_api_versions_request {
    int version;
    int32_t correlation_id;
    char client_id[256]; /* "" when null */
    int client_id_null;
    char client_software_name[256];    /* v3 only */
    char client_software_version[256]; /* v3 only */
};

/*
 * Writes an ApiVersions request frame of `version` (0..3) into buf (capacity cap).  client_id
 * may be NULL (sent as a null string); software name/version are used by v3 only and must be
 * non-empty there (KIP-511 requires it).  Returns the frame length, or -1 with MK_ERR_INVALID for a
 * bad version or strings, MK_ERR_NOMEM when cap is too small.
 */
long kafka_api_versions_request_encode(void *buf, size_t cap, int version, int32_t correlation_id,
                                       const char *client_id, const char *software_name,
                                       const char *software_version,
                                       struct mk_err *err) MK_MUST_CHECK;

/*
 * Parses one request frame payload (size prefix stripped) as ApiVersions v0..v3.  A request for a
 * different api key or a version above 3 fills out->version / correlation_id and fails with
 * MK_ERR_STATE so a server can answer UNSUPPORTED_VERSION; anything malformed is MK_ERR_INVALID.
 */
int kafka_api_versions_request_parse(const void *payload, size_t len,
                                     struct kafka_api_versions_request *out, int16_t *api_key,
                                     struct mk_err *err) MK_MUST_CHECK;

/*
 * Writes a response frame for `version` (0..3).  With error_code UNSUPPORTED_VERSION the v0 layout
 * is used whatever the version, as Kafka brokers do.  Returns the frame length or -1.
 */
long kafka_api_versions_response_encode(void *buf, size_t cap, int version,
                                        const struct kafka_api_versions_response *resp,
                                        struct mk_err *err) MK_MUST_CHECK;

/*
 * Parses one response frame payload for a request of `version`, checking the correlation id.
 * Errors: MK_ERR_INVALID for a malformed or truncated body, trailing bytes or too many entries;
 * MK_ERR_VERIFY when the correlation id is not expected_correlation_id.  out is written whatever
 * happens (it is scratch on failure).
 */
int kafka_api_versions_response_parse(const void *payload, size_t len, int version,
                                      int32_t expected_correlation_id,
                                      struct kafka_api_versions_response *out,
                                      struct mk_err *err) MK_MUST_CHECK;

/* The size field of a frame header (4 bytes, big-endian), as a signed value. */
int32_t kafka_frame_size(const unsigned char hdr[4]);

#endif
