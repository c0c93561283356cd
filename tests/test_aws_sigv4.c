/*
 * test_aws_sigv4.c: the SigV4 signer against every case of the public test suite and against
 * botocore's signer for the request shapes we send.
 *
 * The suite is read from ../shared/sigv4-test-suite beside the source tree (where CI keeps it,
 * read-only) and from the copy in tests/data/sigv4-test-suite (Apache-2.0, so the test also runs
 * from a checkout without ../shared).  Every case of every copy present is run; a case folder
 * that lacks one of its files fails the test instead of being skipped.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "aws/buf.h"
#include "aws/sigv4.h"

/* From client.c (MK_TESTABLE). */
int aws_rest_wire_path(const char *path, struct aws_buf *out, struct mk_err *err);

static char *read_all(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        return NULL;
    }
    struct aws_buf b = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
        assert_int_equal(aws_buf_append(&b, chunk, n, NULL), 0);
    }
    fclose(fp);
    if (b.data == NULL) {
        assert_int_equal(aws_buf_append(&b, "", 0, NULL), 0);
    }
    return aws_buf_steal(&b);
}

static char *case_file(const char *dir, const char *name)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    char *s = read_all(path);
    if (s == NULL) {
        fail_msg("cannot read %s", path);
    }
    return s;
}

static const char *source_dir(void)
{
    const char *src = getenv("MSKPKI_SOURCE_DIR");
    return src != NULL ? src : ".";
}

/* A request.txt split into its parts (pointers into text, which is modified). */
struct parsed_req {
    char *method;
    char *path;
    char *query;
    struct aws_sigv4_header headers[16];
    size_t n;
    char *body;
};

static void parse_request(char *text, struct parsed_req *r)
{
    memset(r, 0, sizeof(*r));
    char *line_end = strchr(text, '\n');
    assert_non_null(line_end);
    *line_end = '\0';
    char *sp = strchr(text, ' ');
    char *http = strstr(text, " HTTP/");
    assert_non_null(sp);
    assert_non_null(http);
    *sp = '\0';
    *http = '\0';
    r->method = text;
    r->path = sp + 1;
    char *q = strchr(r->path, '?');
    if (q != NULL) {
        *q = '\0';
        r->query = q + 1;
    }
    char *p = line_end + 1;
    while (*p != '\0' && *p != '\n') {
        char *end = strchr(p, '\n');
        char *next = end != NULL ? end + 1 : p + strlen(p);
        if (end != NULL) {
            *end = '\0';
        }
        if ((*p == ' ' || *p == '\t') && r->n > 0) {
            /* Folded value: the signer collapses the whitespace; keep it joined by a space. */
            char *prev = (char *)r->headers[r->n - 1].value;
            size_t plen = strlen(prev);
            memmove(prev + plen + 1, p, strlen(p) + 1);
            prev[plen] = ' ';
        } else {
            char *colon = strchr(p, ':');
            assert_non_null(colon);
            *colon = '\0';
            assert_true(r->n < 16);
            r->headers[r->n].name = p;
            r->headers[r->n].value = colon + 1;
            r->n++;
        }
        p = next;
    }
    r->body = *p == '\n' ? p + 1 : p;
}

static int run_case(const char *dir)
{
    char *req_text = case_file(dir, "request.txt");
    char *ctx_text = case_file(dir, "context.json");
    char *want_creq = case_file(dir, "header-canonical-request.txt");
    char *want_sts = case_file(dir, "header-string-to-sign.txt");
    char *want_sig = case_file(dir, "header-signature.txt");
    char *want_signed = case_file(dir, "header-signed-request.txt");
    json_error_t je;
    json_t *ctx = json_loads(ctx_text, 0, &je);
    assert_non_null(ctx);
    struct parsed_req r;
    parse_request(req_text, &r);

    time_t when = 0;
    struct tm tm = {0};
    const char *ts = json_string_value(json_object_get(ctx, "timestamp"));
    assert_non_null(strptime(ts, "%Y-%m-%dT%H:%M:%SZ", &tm));
    when = timegm(&tm);
    json_t *creds = json_object_get(ctx, "credentials");
    struct aws_sigv4_params p = {
        .access_key_id = json_string_value(json_object_get(creds, "access_key_id")),
        .secret_access_key = json_string_value(json_object_get(creds, "secret_access_key")),
        .session_token = json_string_value(json_object_get(creds, "token")),
        .region = json_string_value(json_object_get(ctx, "region")),
        .service = json_string_value(json_object_get(ctx, "service")),
        .when = when,
        .normalize_path = json_is_true(json_object_get(ctx, "normalize")),
        .double_encode = 1,
        .sign_body = json_is_true(json_object_get(ctx, "sign_body")),
        .omit_session_token = json_is_true(json_object_get(ctx, "omit_session_token")),
    };
    struct aws_sigv4_request req = {r.method, r.path, r.query,       r.headers,
                                    r.n,      r.body, strlen(r.body)};
    struct aws_sigv4_result res = {0};
    struct mk_err err = {0};
    assert_int_equal(aws_sigv4_sign(&req, &p, &res, &err), 0);
    if (strcmp(res.canonical_request, want_creq) != 0) {
        fail_msg("%s: canonical request\n--- got\n%s\n--- want\n%s", dir, res.canonical_request,
                 want_creq);
    }
    assert_string_equal(res.string_to_sign, want_sts);
    assert_string_equal(res.signature, want_sig);
    /* The signed request's Authorization line must be exactly ours. */
    char line[1024];
    snprintf(line, sizeof(line), "Authorization:%s\n", res.authorization);
    if (strstr(want_signed, line) == NULL) {
        fail_msg("%s: Authorization %s not in the signed request", dir, res.authorization);
    }
    aws_sigv4_result_clear(&res);
    json_decref(ctx);
    free(req_text);
    free(ctx_text);
    free(want_creq);
    free(want_sts);
    free(want_sig);
    free(want_signed);
    return 0;
}

/* The cases in the suite as published (aws-c-auth's v4 folder, see its README.md). */
#define SUITE_CASES 38

/*
 * Runs every case folder under dir; returns how many.  Every entry that is a folder is a case:
 * one without request.txt (or any other expected file, see case_file()) fails the test, so a
 * broken copy cannot shrink the suite silently.
 */
static int run_suite(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        fail_msg("cannot open %s", dir);
    }
    int cases = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char path[1600];
        if (e->d_name[0] == '.') {
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        DIR *sub = opendir(path);
        if (sub == NULL) {
            continue; /* LICENSE, README.md */
        }
        closedir(sub);
        run_case(path);
        cases++;
    }
    closedir(d);
    return cases;
}

static void test_suite_every_case(void **state)
{
    char shared[1200];
    char copy[1200];
    snprintf(shared, sizeof(shared), "%s/../shared/sigv4-test-suite", source_dir());
    snprintf(copy, sizeof(copy), "%s/tests/data/sigv4-test-suite", source_dir());
    DIR *d = opendir(shared);
    if (d != NULL) {
        closedir(d);
        int n = run_suite(shared);
        if (n < SUITE_CASES) {
            fail_msg("%s: %d cases, the suite has %d", shared, n, SUITE_CASES);
        }
    } else {
        print_message("note: %s not found; the in-tree copy alone is used\n", shared);
    }
    int n = run_suite(copy);
    if (n < SUITE_CASES) {
        fail_msg("%s: %d cases, the suite has %d", copy, n, SUITE_CASES);
    }
}

static void test_wrong_secret_changes_signature(void **state)
{
    struct aws_sigv4_header h[] = {{"Host", "example.amazonaws.com"}};
    struct aws_sigv4_request req = {"GET", "/", NULL, h, 1, NULL, 0};
    struct aws_sigv4_params p = {"AKIDEXAMPLE",
                                 "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                 NULL,
                                 "us-east-1",
                                 "service",
                                 1440938160,
                                 1,
                                 1,
                                 0,
                                 0};
    struct aws_sigv4_result a = {0};
    struct aws_sigv4_result b = {0};
    assert_int_equal(aws_sigv4_sign(&req, &p, &a, NULL), 0);
    assert_string_equal(a.signature,
                        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
    p.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEz";
    assert_int_equal(aws_sigv4_sign(&req, &p, &b, NULL), 0);
    assert_string_not_equal(a.signature, b.signature);
    /* The secret never appears in any output string. */
    assert_null(strstr(b.authorization, "EXAMPLEKEz"));
    assert_null(strstr(b.canonical_request, "EXAMPLEKEz"));
    assert_null(strstr(b.string_to_sign, "EXAMPLEKEz"));
    aws_sigv4_result_clear(&a);
    aws_sigv4_result_clear(&b);
}

static void test_missing_params_rejected(void **state)
{
    struct aws_sigv4_request req = {"GET", "/", NULL, NULL, 0, NULL, 0};
    struct aws_sigv4_params p = {"AKID", NULL, NULL, "us-east-1", "svc", 0, 1, 1, 0, 0};
    struct aws_sigv4_result r = {0};
    struct mk_err err = {0};
    assert_int_equal(aws_sigv4_sign(&req, &p, &r, &err), -1);
    assert_int_equal(err.code, MK_ERR_INVALID);
    assert_null(r.authorization);
    char long_secret[400];
    memset(long_secret, 'x', sizeof(long_secret) - 1);
    long_secret[sizeof(long_secret) - 1] = '\0';
    p.secret_access_key = long_secret;
    assert_int_equal(aws_sigv4_sign(&req, &p, &r, &err), -1);
    assert_null(strstr(err.msg, "xxxx"));
}

static void test_wire_path_arn(void **state)
{
    static const struct {
        const char *raw;
        const char *wire;
    } cases[] = {
        {"/v1/clusters", "/v1/clusters"},
        {"/v1/clusters/arn:aws:kafka:us-east-1:123456789012:cluster/demo/abc-1",
         "/v1/clusters/arn%3Aaws%3Akafka%3Aus-east-1%3A123456789012%3Acluster%2Fdemo%2Fabc-1"},
        {"/v1/clusters/arn:aws:kafka:us-east-1:123456789012:cluster/demo/abc-1/bootstrap-brokers",
         "/v1/clusters/arn%3Aaws%3Akafka%3Aus-east-1%3A123456789012%3Acluster%2Fdemo%2Fabc-1"
         "/bootstrap-brokers"},
        {"/api/v2/clusters/arn:aws:kafka:eu-west-1:1:cluster/x/y",
         "/api/v2/clusters/arn%3Aaws%3Akafka%3Aeu-west-1%3A1%3Acluster%2Fx%2Fy"},
        {"/v1/configurations/arn:aws:kafka:us-east-1:1:configuration/c/u/revisions/2",
         "/v1/configurations/arn%3Aaws%3Akafka%3Aus-east-1%3A1%3Aconfiguration%2Fc%2Fu"
         "/revisions/2"},
        {"/v1/clusters/arn:aws:kafka:us-east-1:1:cluster/0a1b2c3d-aaaa-bbbb/nodes",
         "/v1/clusters/arn%3Aaws%3Akafka%3Aus-east-1%3A1%3Acluster%2F0a1b2c3d-aaaa-bbbb/nodes"},
        {"/v1/x/arn:aws:unknown:r:1:thing/a/b",
         "/v1/x/arn%3Aaws%3Aunknown%3Ar%3A1%3Athing%2Fa%2Fb"},
        {"/v1/a b", "/v1/a%20b"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct aws_buf b = {0};
        assert_int_equal(aws_rest_wire_path(cases[i].raw, &b, NULL), 0);
        assert_string_equal(b.data, cases[i].wire);
        aws_buf_free(&b);
    }
}

/* ---- botocore comparison ---- */

struct boto_case {
    const char *method;
    const char *host;
    const char *raw_path; /* as the API reference writes it, ARN raw */
    const char *query;    /* wire query */
    const char *content_type;
    const char *target;
    const char *body;
    const char *service;
    const char *token;
};

static const struct boto_case boto_cases[] = {
    {"GET", "kafka.us-east-1.amazonaws.com",
     "/v1/clusters/arn:aws:kafka:us-east-1:123456789012:cluster/demo/0a1b2c3d-4e5f-6a7b-8c9d-"
     "0e1f2a3b4c5d-2/bootstrap-brokers",
     NULL, NULL, NULL, "", "kafka", "FQoGZXIvYXdzEXAMPLETOKEN//+=="},
    {"GET", "kafka.eu-west-1.amazonaws.com",
     "/api/v2/clusters/arn:aws:kafka:eu-west-1:123456789012:cluster/x/y-1", NULL, NULL, NULL, "",
     "kafka", NULL},
    {"GET", "kafka.us-east-1.amazonaws.com", "/v1/clusters",
     "maxResults=10&nextToken=ab%2Fc%2Bd%3D%3D&clusterNameFilter=my%20cluster&a=1", NULL, NULL, "",
     "kafka", NULL},
    {"POST", "acm-pca.us-east-1.amazonaws.com", "/", NULL, "application/x-amz-json-1.1",
     "ACMPrivateCA.IssueCertificate",
     "{\"CertificateAuthorityArn\":\"arn:aws:acm-pca:us-east-1:1:certificate-authority/x\","
     "\"Csr\":\"LS0t\",\"SigningAlgorithm\":\"SHA256WITHRSA\"}",
     "acm-pca", "IQoJb3JpZ2luX2VjEXAMPLE"},
    {"POST", "sts.us-east-1.amazonaws.com", "/", NULL,
     "application/x-www-form-urlencoded; charset=utf-8", NULL,
     "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fr&"
     "RoleSessionName=s",
     "sts", NULL},
};

#define BOTO_SECRET "bOtOcOrEsEcReTkEy/Example+Key0123456789ab"

static void test_botocore_comparison(void **state)
{
    const size_t n = sizeof(boto_cases) / sizeof(boto_cases[0]);
    char in_path[] = "/tmp/mskpki-boto-XXXXXX";
    int fd = mkstemp(in_path);
    assert_true(fd >= 0);
    json_t *list = json_array();
    char *ours[8] = {0};
    time_t when = 1767323045; /* 2026-01-02T03:04:05Z */
    for (size_t i = 0; i < n; i++) {
        const struct boto_case *c = &boto_cases[i];
        struct aws_buf path = {0};
        assert_int_equal(aws_rest_wire_path(c->raw_path, &path, NULL), 0);
        struct aws_sigv4_header hs[3];
        size_t nh = 0;
        hs[nh++] = (struct aws_sigv4_header){"Host", c->host};
        if (c->content_type != NULL) {
            hs[nh++] = (struct aws_sigv4_header){"Content-Type", c->content_type};
        }
        if (c->target != NULL) {
            hs[nh++] = (struct aws_sigv4_header){"X-Amz-Target", c->target};
        }
        struct aws_sigv4_request req = {c->method, path.data, c->query,       hs,
                                        nh,        c->body,   strlen(c->body)};
        struct aws_sigv4_params p = {"AKIDEXAMPLE", BOTO_SECRET, c->token, "us-east-1", c->service,
                                     when,          1,           1,        0,           0};
        if (strstr(c->host, "eu-west-1") != NULL) {
            p.region = "eu-west-1";
        }
        struct aws_sigv4_result r = {0};
        assert_int_equal(aws_sigv4_sign(&req, &p, &r, NULL), 0);
        ours[i] = strdup(r.authorization);
        aws_sigv4_result_clear(&r);

        char url[2048];
        snprintf(url, sizeof(url), "https://%s%s%s%s", c->host, path.data, c->query ? "?" : "",
                 c->query ? c->query : "");
        json_t *headers = json_object();
        if (c->content_type != NULL) {
            json_object_set_new(headers, "Content-Type", json_string(c->content_type));
        }
        if (c->target != NULL) {
            json_object_set_new(headers, "X-Amz-Target", json_string(c->target));
        }
        json_array_append_new(list,
                              json_pack("{s:s, s:s, s:o, s:s, s:s, s:s, s:s, s:s, s:s?, s:s}",
                                        "method", c->method, "url", url, "headers", headers, "body",
                                        c->body, "service", c->service, "region", p.region,
                                        "access_key", "AKIDEXAMPLE", "secret_key", BOTO_SECRET,
                                        "token", c->token, "timestamp", "20260102T030405Z"));
        aws_buf_free(&path);
    }
    assert_int_equal(json_dumpfd(list, fd, 0), 0);
    close(fd);
    json_decref(list);

    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "python3 %s/tests/aws/botocore_sign.py < %s", source_dir(), in_path);
    FILE *pp = popen(cmd, "r");
    assert_non_null(pp);
    char line[1024];
    size_t got = 0;
    while (fgets(line, sizeof(line), pp) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        assert_true(got < n);
        if (strcmp(line, ours[got]) != 0) {
            fail_msg("case %zu: botocore\n%s\nours\n%s", got, line, ours[got]);
        }
        got++;
    }
    assert_int_equal(pclose(pp), 0);
    unlink(in_path);
    assert_int_equal(got, n);
    for (size_t i = 0; i < n; i++) {
        free(ours[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_suite_every_case),
        cmocka_unit_test(test_wrong_secret_changes_signature),
        cmocka_unit_test(test_missing_params_rejected),
        cmocka_unit_test(test_wire_path_arn),
        cmocka_unit_test(test_botocore_comparison),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
