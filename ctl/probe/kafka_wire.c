/* kafka_wire.c: ApiVersions request/response encode and strict parse (see kafka_wire.h). */
#include "ctl/probe/kafka_wire.h"

#include <string.h>

/* A bounded writer: once it overflows it stays overflowed and the caller reports NOMEM. */
struct kw_out {
    unsigned char *p;
    size_t cap;
    size_t len;
    int overflow;
};

/* A bounded reader: any read past the end sets bad and returns zeros. */
struct kw_in {
    const unsigned char *p;
    size_t len;
    size_t pos;
    int bad;
};

static void out_bytes(struct kw_out *o, const void *data, size_t n)
{
    if (o->overflow || n > o->cap - o->len) {
        o->overflow = 1;
        return;
    }
    if (n > 0) {
        memcpy(o->p + o->len, data, n);
    }
    o->len += n;
}

static void out_u8(struct kw_out *o, uint8_t v)
{
    out_bytes(o, &v, 1);
}

static void out_i16(struct kw_out *o, int16_t v)
{
    uint16_t u = (uint16_t)v;
    unsigned char b[2] = {(unsigned char)(u >> 8), (unsigned char)u};
    out_bytes(o, b, 2);
}

static void out_i32(struct kw_out *o, int32_t v)
{
    uint32_t u = (uint32_t)v;
    unsigned char b[4] = {(unsigned char)(u >> 24), (unsigned char)(u >> 16),
                          (unsigned char)(u >> 8), (unsigned char)u};
    out_bytes(o, b, 4);
}

/* Unsigned varint (protobuf style, 7 bits per byte, low bits first), as KIP-482 specifies. */
static void out_uvarint(struct kw_out *o, uint32_t v)
{
    while (v >= 0x80) {
        out_u8(o, (uint8_t)((v & 0x7f) | 0x80));
        v >>= 7;
    }
    out_u8(o, (uint8_t)v);
}

/* NULLABLE_STRING: int16 length (-1 = null) then bytes. */
static void out_nstring(struct kw_out *o, const char *s)
{
    if (s == NULL) {
        out_i16(o, -1);
        return;
    }
    size_t n = strlen(s);
    out_i16(o, (int16_t)n);
    out_bytes(o, s, n);
}

/* COMPACT_STRING: uvarint (length + 1) then bytes. */
static void out_cstring(struct kw_out *o, const char *s)
{
    size_t n = strlen(s);
    out_uvarint(o, (uint32_t)n + 1);
    out_bytes(o, s, n);
}

static const unsigned char *in_bytes(struct kw_in *in, size_t n)
{
    if (in->bad || n > in->len - in->pos) {
        in->bad = 1;
        return NULL;
    }
    const unsigned char *p = in->p + in->pos;
    in->pos += n;
    return p;
}

static int16_t in_i16(struct kw_in *in)
{
    const unsigned char *b = in_bytes(in, 2);
    if (b == NULL) {
        return 0;
    }
    return (int16_t)(uint16_t)(((unsigned)b[0] << 8) | b[1]);
}

static int32_t in_i32(struct kw_in *in)
{
    const unsigned char *b = in_bytes(in, 4);
    if (b == NULL) {
        return 0;
    }
    return (int32_t)(((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) |
                     (uint32_t)b[3]);
}

/* At most 5 bytes for a 32-bit value; a longer or overflowing encoding is malformed. */
static uint32_t in_uvarint(struct kw_in *in)
{
    uint32_t v = 0;
    for (int i = 0; i < 5; i++) {
        const unsigned char *b = in_bytes(in, 1);
        if (b == NULL) {
            return 0;
        }
        if (i == 4 && (*b & 0xf0) != 0) {
            in->bad = 1;
            return 0;
        }
        v |= (uint32_t)(*b & 0x7f) << (7 * i);
        if ((*b & 0x80) == 0) {
            return v;
        }
    }
    in->bad = 1;
    return 0;
}

/* Copies a string of n bytes into dst (cap bytes, NUL-terminated); too long or NUL inside = bad. */
static void in_string_into(struct kw_in *in, size_t n, char *dst, size_t cap)
{
    const unsigned char *b = in_bytes(in, n);
    if (b == NULL) {
        return;
    }
    if (n >= cap || memchr(b, '\0', n) != NULL) {
        in->bad = 1;
        return;
    }
    memcpy(dst, b, n);
    dst[n] = '\0';
}

/* Skips a TAG_BUFFER: uvarint count, then (uvarint tag, uvarint size, bytes) each, tags strictly
 * increasing as KIP-482 requires.  Returns the number of fields. */
static size_t in_skip_tags(struct kw_in *in)
{
    uint32_t count = in_uvarint(in);
    long last = -1;
    for (uint32_t i = 0; i < count && !in->bad; i++) {
        uint32_t tag = in_uvarint(in);
        uint32_t size = in_uvarint(in);
        if ((long)tag <= last) {
            in->bad = 1;
            break;
        }
        last = (long)tag;
        (void)in_bytes(in, size);
    }
    return in->bad ? 0 : count;
}

int32_t kafka_frame_size(const unsigned char hdr[4])
{
    return (int32_t)(((uint32_t)hdr[0] << 24) | ((uint32_t)hdr[1] << 16) | ((uint32_t)hdr[2] << 8) |
                     (uint32_t)hdr[3]);
}

/* Writes the final size into the 4 bytes reserved at the start of the frame. */
static long finish_frame(struct kw_out *o, struct mk_err *err)
{
    if (o->overflow) {
        mk_err_set(err, MK_ERR_NOMEM, "kafka frame does not fit in %zu bytes", o->cap);
        return -1;
    }
    uint32_t size = (uint32_t)(o->len - 4);
    o->p[0] = (unsigned char)(size >> 24);
    o->p[1] = (unsigned char)(size >> 16);
    o->p[2] = (unsigned char)(size >> 8);
    o->p[3] = (unsigned char)size;
    return (long)o->len;
}

long kafka_api_versions_request_encode(void *buf, size_t cap, int version, int32_t correlation_id,
                                       const char *client_id, const char *software_name,
                                       const char *software_version, struct mk_err *err)
{
    struct kw_out o = {.p = buf, .cap = cap};
    if (version < 0 || version > KAFKA_API_VERSIONS_MAX_VERSION) {
        mk_err_set(err, MK_ERR_INVALID, "ApiVersions version %d not supported (0..%d)", version,
                   KAFKA_API_VERSIONS_MAX_VERSION);
        return -1;
    }
    if (client_id != NULL && strlen(client_id) > 0x7fff) {
        mk_err_set(err, MK_ERR_INVALID, "client id too long");
        return -1;
    }
    if (version >= 3 && (software_name == NULL || software_name[0] == '\0' ||
                         software_version == NULL || software_version[0] == '\0')) {
        mk_err_set(err, MK_ERR_INVALID, "ApiVersions v3 needs a client software name and version");
        return -1;
    }
    out_i32(&o, 0); /* size, filled in by finish_frame */
    /* Request header v1 (v0..v2) or v2 (v3, flexible): the client id stays a NULLABLE_STRING. */
    out_i16(&o, KAFKA_API_VERSIONS);
    out_i16(&o, (int16_t)version);
    out_i32(&o, correlation_id);
    out_nstring(&o, client_id);
    if (version >= 3) {
        out_uvarint(&o, 0); /* header tagged fields */
        out_cstring(&o, software_name);
        out_cstring(&o, software_version);
        out_uvarint(&o, 0); /* body tagged fields */
    }
    return finish_frame(&o, err);
}

int kafka_api_versions_request_parse(const void *payload, size_t len,
                                     struct kafka_api_versions_request *out, int16_t *api_key,
                                     struct mk_err *err)
{
    struct kw_in in = {.p = payload, .len = len};
    memset(out, 0, sizeof(*out));
    *api_key = in_i16(&in);
    int16_t version = in_i16(&in);
    out->correlation_id = in_i32(&in);
    out->version = version;
    if (in.bad) {
        mk_err_set(err, MK_ERR_INVALID, "request header truncated (%zu bytes)", len);
        return -1;
    }
    if (*api_key != KAFKA_API_VERSIONS || version < 0 || version > KAFKA_API_VERSIONS_MAX_VERSION) {
        mk_err_set(err, MK_ERR_STATE, "unsupported request: api key %d version %d", *api_key,
                   version);
        return -1;
    }
    int16_t id_len = in_i16(&in);
    if (id_len == -1) {
        out->client_id_null = 1;
    } else if (id_len < 0) {
        in.bad = 1;
    } else {
        in_string_into(&in, (size_t)id_len, out->client_id, sizeof(out->client_id));
    }
    if (version >= 3) {
        (void)in_skip_tags(&in);
        uint32_t n = in_uvarint(&in);
        if (n == 0) {
            in.bad = 1; /* COMPACT_STRING, not nullable */
        }
        in_string_into(&in, n - 1, out->client_software_name, sizeof(out->client_software_name));
        n = in_uvarint(&in);
        if (n == 0) {
            in.bad = 1;
        }
        in_string_into(&in, n - 1, out->client_software_version,
                       sizeof(out->client_software_version));
        (void)in_skip_tags(&in);
    }
    if (in.bad || in.pos != in.len) {
        mk_err_set(err, MK_ERR_INVALID, "malformed ApiVersions v%d request (%zu bytes, at %zu)",
                   version, len, in.pos);
        return -1;
    }
    return 0;
}

long kafka_api_versions_response_encode(void *buf, size_t cap, int version,
                                        const struct kafka_api_versions_response *resp,
                                        struct mk_err *err)
{
    struct kw_out o = {.p = buf, .cap = cap};
    if (version < 0 || resp->n_api_keys > KAFKA_MAX_API_KEYS) {
        mk_err_set(err, MK_ERR_INVALID, "bad ApiVersions response version %d", version);
        return -1;
    }
    if (resp->error_code == KAFKA_ERR_UNSUPPORTED_VERSION ||
        version > KAFKA_API_VERSIONS_MAX_VERSION) {
        version = 0;
    }
    out_i32(&o, 0);
    /* ApiVersions responses always carry header v0 (no tagged fields), even in v3 (KIP-511). */
    out_i32(&o, resp->correlation_id);
    out_i16(&o, resp->error_code);
    if (version >= 3) {
        out_uvarint(&o, (uint32_t)resp->n_api_keys + 1);
    } else {
        out_i32(&o, (int32_t)resp->n_api_keys);
    }
    for (size_t i = 0; i < resp->n_api_keys; i++) {
        out_i16(&o, resp->api_keys[i].api_key);
        out_i16(&o, resp->api_keys[i].min_version);
        out_i16(&o, resp->api_keys[i].max_version);
        if (version >= 3) {
            out_uvarint(&o, 0);
        }
    }
    if (version >= 1) {
        out_i32(&o, resp->throttle_time_ms);
    }
    if (version >= 3) {
        out_uvarint(&o, 0);
    }
    return finish_frame(&o, err);
}

/* Parses the body after error_code in the layout of `version`. */
static void parse_response_body(struct kw_in *in, int version,
                                struct kafka_api_versions_response *out)
{
    size_t n;
    if (version >= 3) {
        uint32_t raw = in_uvarint(in);
        if (raw == 0) {
            in->bad = 1; /* api_keys is not nullable */
            return;
        }
        n = (size_t)raw - 1;
    } else {
        int32_t raw = in_i32(in);
        if (raw < 0) {
            in->bad = 1;
            return;
        }
        n = (size_t)raw;
    }
    /* Each entry is at least 6 bytes, so a count the remaining bytes cannot hold is rejected before
     * looping, as is one above our cap. */
    if (in->bad || n > KAFKA_MAX_API_KEYS || n > (in->len - in->pos) / 6) {
        in->bad = 1;
        return;
    }
    out->n_api_keys = n;
    for (size_t i = 0; i < n && !in->bad; i++) {
        out->api_keys[i].api_key = in_i16(in);
        out->api_keys[i].min_version = in_i16(in);
        out->api_keys[i].max_version = in_i16(in);
        if (out->api_keys[i].min_version > out->api_keys[i].max_version ||
            out->api_keys[i].min_version < 0) {
            in->bad = 1;
        }
        if (version >= 3) {
            (void)in_skip_tags(in);
        }
    }
    if (version >= 1) {
        out->throttle_time_ms = in_i32(in);
    }
    if (version >= 3) {
        out->n_tagged_fields = in_skip_tags(in);
    }
}

int kafka_api_versions_response_parse(const void *payload, size_t len, int version,
                                      int32_t expected_correlation_id,
                                      struct kafka_api_versions_response *out, struct mk_err *err)
{
    memset(out, 0, sizeof(*out));
    if (version < 0 || version > KAFKA_API_VERSIONS_MAX_VERSION) {
        mk_err_set(err, MK_ERR_INVALID, "ApiVersions version %d not supported", version);
        return -1;
    }
    struct kw_in in = {.p = payload, .len = len};
    out->correlation_id = in_i32(&in);
    out->error_code = in_i16(&in);
    if (in.bad) {
        mk_err_set(err, MK_ERR_INVALID, "ApiVersions response truncated (%zu bytes)", len);
        return -1;
    }
    if (out->correlation_id != expected_correlation_id) {
        mk_err_set(err, MK_ERR_VERIFY, "correlation id %d, expected %d", (int)out->correlation_id,
                   (int)expected_correlation_id);
        return -1;
    }
    /* A broker that does not support our version answers UNSUPPORTED_VERSION in the v0 layout. */
    out->version = out->error_code == KAFKA_ERR_UNSUPPORTED_VERSION ? 0 : version;
    parse_response_body(&in, out->version, out);
    if (in.bad || in.pos != in.len) {
        mk_err_set(err, MK_ERR_INVALID,
                   "malformed ApiVersions v%d response (%zu bytes, %s at offset %zu)", out->version,
                   len, in.bad ? "bad or truncated field" : "trailing bytes", in.pos);
        return -1;
    }
    return 0;
}
