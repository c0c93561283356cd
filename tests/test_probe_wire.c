/* test_probe_wire.c: the ApiVersions encoder and the strict parsers (ctl/probe/kafka_wire.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ctl/probe/kafka_wire.h"

static struct kafka_api_versions_response resp; /* large: keep it off the stack */

/* Request v0: size, api key 18, version 0, correlation id, client id "ab". */
static void test_request_v0_bytes(void **state)
{
    (void)state;
    unsigned char buf[64];
    struct mk_err err = {0};
    long n =
        kafka_api_versions_request_encode(buf, sizeof(buf), 0, 0x01020304, "ab", NULL, NULL, &err);
    static const unsigned char want[] = {0, 0, 0, 12, 0, 18, 0, 0, 1, 2, 3, 4, 0, 2, 'a', 'b'};
    assert_int_equal(n, sizeof(want));
    assert_memory_equal(buf, want, sizeof(want));
}

/* Request v3: header v2 (tagged fields), compact strings, body tagged fields (KIP-511). */
static void test_request_v3_bytes(void **state)
{
    (void)state;
    unsigned char buf[64];
    struct mk_err err = {0};
    long n = kafka_api_versions_request_encode(buf, sizeof(buf), 3, 7, NULL, "sw", "1.0", &err);
    static const unsigned char want[] = {0,    0,    0, 19, 0,   18,  0, 3,   0,   0,   0, 7,
                                         0xff, 0xff, 0, 3,  's', 'w', 4, '1', '.', '0', 0};
    assert_int_equal(n, sizeof(want));
    assert_memory_equal(buf, want, sizeof(want));
}

static void test_request_encode_errors(void **state)
{
    (void)state;
    unsigned char buf[64];
    struct mk_err err = {0};
    assert_int_equal(kafka_api_versions_request_encode(buf, sizeof(buf), 4, 1, "x", "a", "b", &err),
                     -1);
    assert_int_equal(err.code, MK_ERR_INVALID);
    assert_int_equal(
        kafka_api_versions_request_encode(buf, sizeof(buf), -1, 1, "x", "a", "b", &err), -1);
    /* v3 requires the software name and version. */
    assert_int_equal(kafka_api_versions_request_encode(buf, sizeof(buf), 3, 1, "x", "", "b", &err),
                     -1);
    assert_int_equal(
        kafka_api_versions_request_encode(buf, sizeof(buf), 3, 1, "x", "a", NULL, &err), -1);
    /* Too small a buffer is NOMEM, never an overflow. */
    assert_int_equal(kafka_api_versions_request_encode(buf, 10, 1, 1, "client", NULL, NULL, &err),
                     -1);
    assert_int_equal(err.code, MK_ERR_NOMEM);
}

static void test_request_roundtrip(void **state)
{
    (void)state;
    unsigned char buf[128];
    struct mk_err err = {0};
    struct kafka_api_versions_request req;
    int16_t key = 0;
    for (int v = 0; v <= 3; v++) {
        long n = kafka_api_versions_request_encode(
            buf, sizeof(buf), v, 42 + v, v == 1 ? NULL : "id", "mskpki-probe", "0.1.0", &err);
        assert_true(n > 4);
        assert_int_equal(kafka_frame_size(buf), n - 4);
        assert_int_equal(kafka_api_versions_request_parse(buf + 4, (size_t)n - 4, &req, &key, &err),
                         0);
        assert_int_equal(key, KAFKA_API_VERSIONS);
        assert_int_equal(req.version, v);
        assert_int_equal(req.correlation_id, 42 + v);
        assert_int_equal(req.client_id_null, v == 1);
        if (v == 3) {
            assert_string_equal(req.client_software_name, "mskpki-probe");
            assert_string_equal(req.client_software_version, "0.1.0");
        }
        /* Every truncation of a valid request is rejected. */
        for (long cut = 0; cut < n - 4; cut++) {
            assert_int_equal(
                kafka_api_versions_request_parse(buf + 4, (size_t)cut, &req, &key, &err), -1);
        }
    }
}

static void test_request_other_api_or_version(void **state)
{
    (void)state;
    struct mk_err err = {0};
    struct kafka_api_versions_request req;
    int16_t key = 0;
    /* Metadata (api key 3) v1: not ours. */
    static const unsigned char meta[] = {0, 3, 0, 1, 0, 0, 0, 9, 0xff, 0xff};
    assert_int_equal(kafka_api_versions_request_parse(meta, sizeof(meta), &req, &key, &err), -1);
    assert_int_equal(err.code, MK_ERR_STATE);
    assert_int_equal(key, 3);
    /* ApiVersions v9: the caller answers UNSUPPORTED_VERSION with this correlation id. */
    static const unsigned char v9[] = {0, 18, 0, 9, 0, 0, 0, 5, 0, 0};
    assert_int_equal(kafka_api_versions_request_parse(v9, sizeof(v9), &req, &key, &err), -1);
    assert_int_equal(err.code, MK_ERR_STATE);
    assert_int_equal(req.correlation_id, 5);
    /* Trailing garbage after a v0 request. */
    static const unsigned char trail[] = {0, 18, 0, 0, 0, 0, 0, 5, 0xff, 0xff, 0x00};
    assert_int_equal(kafka_api_versions_request_parse(trail, sizeof(trail), &req, &key, &err), -1);
    assert_int_equal(err.code, MK_ERR_INVALID);
}

/* A hand-written v0 response: correlation 9, no error, two API ranges. */
static void test_response_v0_good(void **state)
{
    (void)state;
    struct mk_err err = {0};
    static const unsigned char p[] = {0, 0, 0, 9, 0, 0, 0,  0, 0, 2, 0,
                                      0, 0, 0, 0, 9, 0, 18, 0, 0, 0, 3};
    assert_int_equal(kafka_api_versions_response_parse(p, sizeof(p), 0, 9, &resp, &err), 0);
    assert_int_equal(resp.n_api_keys, 2);
    assert_int_equal(resp.api_keys[1].api_key, 18);
    assert_int_equal(resp.api_keys[1].max_version, 3);
    assert_int_equal(resp.version, 0);
    /* The same bytes read as v1 lack the throttle time. */
    assert_int_equal(kafka_api_versions_response_parse(p, sizeof(p), 1, 9, &resp, &err), -1);
    assert_int_equal(err.code, MK_ERR_INVALID);
}

/* A hand-written v3 response with a tagged field in an entry and in the body. */
static void test_response_v3_good(void **state)
{
    (void)state;
    struct mk_err err = {0};
    static const unsigned char p[] = {
        0, 0,  0, 1,             /* correlation id (header v0: no tagged fields) */
        0, 0,                    /* error code */
        3,                       /* compact array: 2 entries */
        0, 0,  0, 0,    0, 9, 0, /* Produce 0..9, no tags */
        0, 18, 0, 0,    0, 3, 1, 5, 2, 0xab, 0xcd, /* ApiVersions 0..3, one tag 5 of 2 bytes */
        0, 0,  0, 100,                             /* throttle */
        2, 0,  1, 0x10, 3, 0,                      /* two body tags: 0 (1 byte), 3 (0 bytes) */
    };
    assert_int_equal(kafka_api_versions_response_parse(p, sizeof(p), 3, 1, &resp, &err), 0);
    assert_int_equal(resp.n_api_keys, 2);
    assert_int_equal(resp.throttle_time_ms, 100);
    assert_int_equal(resp.n_tagged_fields, 2);
    /* Every truncation fails cleanly. */
    for (size_t cut = 0; cut < sizeof(p); cut++) {
        assert_int_equal(kafka_api_versions_response_parse(p, cut, 3, 1, &resp, &err), -1);
    }
}

static void test_response_roundtrip_all_versions(void **state)
{
    (void)state;
    static unsigned char buf[KAFKA_MAX_FRAME];
    static struct kafka_api_versions_response in;
    struct mk_err err = {0};
    memset(&in, 0, sizeof(in));
    in.n_api_keys = 60;
    for (size_t i = 0; i < in.n_api_keys; i++) {
        in.api_keys[i] = (struct kafka_api_range){(int16_t)i, 0, (int16_t)(i % 13)};
    }
    in.throttle_time_ms = 7;
    for (int v = 0; v <= 3; v++) {
        in.correlation_id = 1000 + v;
        long n = kafka_api_versions_response_encode(buf, sizeof(buf), v, &in, &err);
        assert_true(n > 0);
        assert_int_equal(
            kafka_api_versions_response_parse(buf + 4, (size_t)n - 4, v, 1000 + v, &resp, &err), 0);
        assert_int_equal(resp.n_api_keys, 60);
        assert_int_equal(resp.api_keys[59].max_version, 59 % 13);
        assert_int_equal(resp.throttle_time_ms, v >= 1 ? 7 : 0);
        /* Wrong correlation id: MK_ERR_VERIFY, whatever the body. */
        assert_int_equal(
            kafka_api_versions_response_parse(buf + 4, (size_t)n - 4, v, 999, &resp, &err), -1);
        assert_int_equal(err.code, MK_ERR_VERIFY);
        /* Trailing bytes are an error. */
        buf[n] = 0;
        assert_int_equal(
            kafka_api_versions_response_parse(buf + 4, (size_t)n - 3, v, 1000 + v, &resp, &err),
            -1);
        assert_int_equal(err.code, MK_ERR_INVALID);
    }
}

/* A broker that does not know v3 answers UNSUPPORTED_VERSION in the v0 layout. */
static void test_response_unsupported_version_fallback(void **state)
{
    (void)state;
    unsigned char buf[256];
    struct mk_err err = {0};
    struct kafka_api_versions_response in = {0};
    in.correlation_id = 5;
    in.error_code = KAFKA_ERR_UNSUPPORTED_VERSION;
    in.n_api_keys = 1;
    in.api_keys[0] = (struct kafka_api_range){18, 0, 2};
    long n = kafka_api_versions_response_encode(buf, sizeof(buf), 3, &in, &err);
    assert_true(n > 0);
    assert_int_equal(kafka_api_versions_response_parse(buf + 4, (size_t)n - 4, 3, 5, &resp, &err),
                     0);
    assert_int_equal(resp.version, 0);
    assert_int_equal(resp.error_code, KAFKA_ERR_UNSUPPORTED_VERSION);
    assert_int_equal(resp.api_keys[0].max_version, 2);
}

static void test_response_oversized_arrays(void **state)
{
    (void)state;
    struct mk_err err = {0};
    /* v0 with a count of 0x7fffffff and no entries. */
    static const unsigned char big0[] = {0, 0, 0, 1, 0, 0, 0x7f, 0xff, 0xff, 0xff};
    assert_int_equal(kafka_api_versions_response_parse(big0, sizeof(big0), 0, 1, &resp, &err), -1);
    /* Negative v0 count. */
    static const unsigned char neg0[] = {0, 0, 0, 1, 0, 0, 0xff, 0xff, 0xff, 0xfe};
    assert_int_equal(kafka_api_versions_response_parse(neg0, sizeof(neg0), 0, 1, &resp, &err), -1);
    /* v3 compact count above our cap, backed by enough bytes: still refused. */
    size_t n = KAFKA_MAX_API_KEYS + 1;
    size_t len = 6 + 2 + n * 7 + 4 + 1;
    unsigned char *p = calloc(1, len);
    assert_non_null(p);
    p[3] = 1;
    p[6] = (unsigned char)(((n + 1) & 0x7f) | 0x80);
    p[7] = (unsigned char)((n + 1) >> 7);
    assert_int_equal(kafka_api_versions_response_parse(p, len, 3, 1, &resp, &err), -1);
    assert_int_equal(err.code, MK_ERR_INVALID);
    free(p);
    /* v3 null array (compact length 0). */
    static const unsigned char null3[] = {0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0};
    assert_int_equal(kafka_api_versions_response_parse(null3, sizeof(null3), 3, 1, &resp, &err),
                     -1);
}

static void test_response_bad_varints_and_tags(void **state)
{
    (void)state;
    struct mk_err err = {0};
    /* Six-byte varint for the array length. */
    static const unsigned char longvar[] = {0,    0,    0,    1, 0, 0, 0x81, 0x80, 0x80,
                                            0x80, 0x80, 0x00, 0, 0, 0, 0,    0};
    assert_int_equal(kafka_api_versions_response_parse(longvar, sizeof(longvar), 3, 1, &resp, &err),
                     -1);
    /* Body tags out of order (3 then 1). */
    static const unsigned char order[] = {0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 2, 3, 0, 1, 0};
    assert_int_equal(kafka_api_versions_response_parse(order, sizeof(order), 3, 1, &resp, &err),
                     -1);
    /* A tag whose size runs past the end. */
    static const unsigned char past[] = {0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 1, 0, 9, 1};
    assert_int_equal(kafka_api_versions_response_parse(past, sizeof(past), 3, 1, &resp, &err), -1);
    /* min_version above max_version. */
    static const unsigned char range[] = {0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1, 0, 5, 0, 2};
    assert_int_equal(kafka_api_versions_response_parse(range, sizeof(range), 0, 1, &resp, &err),
                     -1);
    /* An HTTP answer is not a response. */
    static const char http[] = "HTTP/1.1 400 Bad Request\r\n";
    assert_int_equal(kafka_api_versions_response_parse(http, sizeof(http) - 1, 3, 1, &resp, &err),
                     -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_v0_bytes),
        cmocka_unit_test(test_request_v3_bytes),
        cmocka_unit_test(test_request_encode_errors),
        cmocka_unit_test(test_request_roundtrip),
        cmocka_unit_test(test_request_other_api_or_version),
        cmocka_unit_test(test_response_v0_good),
        cmocka_unit_test(test_response_v3_good),
        cmocka_unit_test(test_response_roundtrip_all_versions),
        cmocka_unit_test(test_response_unsupported_version_fallback),
        cmocka_unit_test(test_response_oversized_arrays),
        cmocka_unit_test(test_response_bad_varints_and_tags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
