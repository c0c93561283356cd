/*
 * test_aws_client.c: aws.h against moto (KMS JSON 1.1, MSK REST-JSON, STS Query) and against
 * tests/aws/fake_server.py (retries, throttling, 5xx, malformed answers, timeouts, errors),
 * region and endpoint resolution, and the rule that no secret reaches a log line or a message.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <cmocka.h>

#include "aws/aws.h"
#include "aws/client-int.h"
#include "aws/url.h"
#include "aws/xml.h"
#include "tests/aws/server.h"
#include "tests/support/capture.h"

#define SECRET "tEsTsEcReTkEy/Never+In+Logs0123456789abcd"
#define TOKEN "tEsTsEsSiOnToKeN+Never/In/Logs=="

static struct test_server moto;
static struct test_server fake;
static char home[256];
static char log_path[300];
static struct mk_test_capture capture = {-1, ""};

/* Every message we produce is checked for the secret. */
static void assert_clean(const struct mk_err *err)
{
    assert_null(strstr(err->msg, SECRET));
    assert_null(strstr(err->msg, TOKEN));
    assert_null(strstr(err->msg, "Never+In"));
}

static void base_env(void)
{
    static const char *const clear[] = {"AWS_PROFILE",
                                        "AWS_DEFAULT_REGION",
                                        "AWS_ENDPOINT_URL",
                                        "AWS_ENDPOINT_URL_KMS",
                                        "AWS_ENDPOINT_URL_KAFKA",
                                        "AWS_ENDPOINT_URL_STS",
                                        "AWS_ENDPOINT_URL_ACM_PCA",
                                        "AWS_CONFIG_FILE",
                                        "AWS_SHARED_CREDENTIALS_FILE",
                                        "AWS_SESSION_TOKEN",
                                        "AWS_WEB_IDENTITY_TOKEN_FILE",
                                        "AWS_ROLE_ARN",
                                        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                                        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                                        NULL};
    for (size_t i = 0; clear[i] != NULL; i++) {
        unsetenv(clear[i]);
    }
    setenv("HOME", home, 1);
    setenv("AWS_REGION", "us-east-1", 1);
    setenv("AWS_ACCESS_KEY_ID", "AKIDMSKPKITEST", 1);
    setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
    /* Nothing may leave 127.0.0.1: never try the real instance metadata address. */
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
}

static int group_setup(void **state)
{
    if (mk_test_tmpdir(home, sizeof(home), "aws-test") != 0) {
        return -1;
    }
    base_env();
    if (test_server_start_moto(&moto) != 0 || test_server_start_fake(&fake) != 0) {
        return -1;
    }
    /* Our log lines go to stderr: capture them to check for secrets at the end. */
    snprintf(log_path, sizeof(log_path), "%s/stderr.log", home);
    return mk_test_capture_stderr(&capture, log_path);
}

static int group_teardown(void **state)
{
    static const char *const secrets[] = {SECRET, TOKEN, "Never+In", NULL};
    int rc = mk_test_capture_end(&capture, secrets);
    test_server_stop(&moto);
    test_server_stop(&fake);
    mk_test_rmtree(home);
    /* The retry tests log aws.retry lines, so the capture is never empty. */
    return rc;
}

static int each_setup(void **state)
{
    base_env();
    return 0;
}

static struct aws_client *client_at(const char *url, int max_attempts, long timeout_ms)
{
    struct aws_client_options o = {0};
    struct mk_err err = {0};
    o.endpoint_url = url;
    o.max_attempts = max_attempts;
    o.request_timeout_ms = timeout_ms;
    o.connect_timeout_ms = 2000;
    struct aws_client *c = aws_client_new(&o, &err);
    if (c == NULL) {
        fail_msg("aws_client_new: %s", err.msg);
    }
    return c;
}

/* ---- region and endpoints ---- */

static void test_region_resolution(void **state)
{
    struct mk_err err = {0};
    struct aws_client_options o = {0};
    unsetenv("AWS_REGION");
    struct aws_client *c = aws_client_new(&o, &err);
    assert_null(c);
    assert_int_equal(err.code, MK_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "region"));

    setenv("AWS_DEFAULT_REGION", "eu-west-2", 1);
    c = aws_client_new(&o, &err);
    assert_non_null(c);
    assert_string_equal(aws_client_region(c), "eu-west-2");
    aws_client_free(c);

    setenv("AWS_REGION", "ap-south-1", 1);
    c = aws_client_new(&o, &err);
    assert_string_equal(aws_client_region(c), "ap-south-1");
    aws_client_free(c);

    o.region = "us-west-2";
    c = aws_client_new(&o, &err);
    assert_string_equal(aws_client_region(c), "us-west-2");
    aws_client_free(c);

    /* The profile's region when no variable is set. */
    unsetenv("AWS_REGION");
    unsetenv("AWS_DEFAULT_REGION");
    char cfg[512];
    assert_int_equal(test_write_file(home, "config",
                                     "[default]\nregion = ca-central-1\n"
                                     "[profile other]\nregion = sa-east-1\n",
                                     0600, cfg, sizeof(cfg)),
                     0);
    setenv("AWS_CONFIG_FILE", cfg, 1);
    o.region = NULL;
    c = aws_client_new(&o, &err);
    assert_string_equal(aws_client_region(c), "ca-central-1");
    aws_client_free(c);
    o.profile = "other";
    c = aws_client_new(&o, &err);
    assert_string_equal(aws_client_region(c), "sa-east-1");
    aws_client_free(c);

    o.region = "us east 1";
    assert_null(aws_client_new(&o, &err));
    assert_int_equal(err.code, MK_ERR_CONFIG);
    unlink(cfg);
}

static void check_endpoint(struct aws_client *c, const char *service, const char *want)
{
    struct mk_err err = {0};
    char *url = aws_client_endpoint(c, service, &err);
    assert_non_null(url);
    assert_string_equal(url, want);
    free(url);
}

static void test_endpoint_resolution(void **state)
{
    struct mk_err err = {0};
    struct aws_client_options o = {0};
    struct aws_client *c = aws_client_new(&o, &err);
    check_endpoint(c, "kms", "https://kms.us-east-1.amazonaws.com");
    check_endpoint(c, "acm-pca", "https://acm-pca.us-east-1.amazonaws.com");
    setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1/", 1);
    setenv("AWS_ENDPOINT_URL_ACM_PCA", "http://127.0.0.1:2", 1);
    setenv("AWS_ENDPOINT_URL_KAFKA", "http://127.0.0.1:3/base/", 1);
    check_endpoint(c, "kms", "http://127.0.0.1:1");
    check_endpoint(c, "acm-pca", "http://127.0.0.1:2");
    check_endpoint(c, "kafka", "http://127.0.0.1:3/base");
    aws_client_free(c);
    o.endpoint_url = "http://127.0.0.1:9";
    c = aws_client_new(&o, &err);
    check_endpoint(c, "kafka", "http://127.0.0.1:9");
    check_endpoint(c, "sts", "http://127.0.0.1:9");
    aws_client_free(c);
    /* Scoped to one service: the others resolve as without the option (environment first). */
    o.endpoint_service = "acm-pca";
    setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:4", 1);
    c = aws_client_new(&o, &err);
    check_endpoint(c, "acm-pca", "http://127.0.0.1:9");
    check_endpoint(c, "kms", "http://127.0.0.1:1");
    check_endpoint(c, "sts", "http://127.0.0.1:4");
    aws_client_free(c);
    unsetenv("AWS_ENDPOINT_URL_STS");
    unsetenv("AWS_ENDPOINT_URL_ACM_PCA");
    unsetenv("AWS_ENDPOINT_URL");
    c = aws_client_new(&o, &err);
    check_endpoint(c, "sts", "https://sts.us-east-1.amazonaws.com");
    check_endpoint(c, "acm-pca", "http://127.0.0.1:9");
    aws_client_free(c);
    o.endpoint_service = NULL;
    unsetenv("AWS_ENDPOINT_URL");
    o.endpoint_url = NULL;
    o.region = "cn-north-1";
    unsetenv("AWS_ENDPOINT_URL_KAFKA");
    c = aws_client_new(&o, &err);
    check_endpoint(c, "kafka", "https://kafka.cn-north-1.amazonaws.com.cn");
    aws_client_free(c);
}

/* ---- moto ---- */

static void test_kms_json_moto(void **state)
{
    struct mk_err err = {0};
    setenv("AWS_ENDPOINT_URL_KMS", moto.url, 1);
    struct aws_client *c = client_at(NULL, 0, 0);
    json_t *req = json_pack("{s:s}", "Description", "mskpki test key");
    json_t *resp = NULL;
    assert_int_equal(aws_json_call(c, "kms", "TrentService.CreateKey", req, &resp, &err), 0);
    json_decref(req);
    const char *id =
        json_string_value(json_object_get(json_object_get(resp, "KeyMetadata"), "KeyId"));
    assert_non_null(id);
    req = json_pack("{s:s}", "KeyId", id);
    json_t *desc = NULL;
    assert_int_equal(aws_json_call(c, "kms", "TrentService.DescribeKey", req, &desc, &err), 0);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(desc, "KeyMetadata"), "Description")),
        "mskpki test key");
    json_decref(req);
    json_decref(desc);
    json_decref(resp);

    /* A service error: decoded code, status, message; not retried. */
    req = json_pack("{s:s}", "KeyId", "00000000-0000-0000-0000-000000000000");
    resp = NULL;
    assert_int_equal(aws_json_call(c, "kms", "TrentService.DescribeKey", req, &resp, &err), -1);
    assert_null(resp);
    assert_int_equal(err.code, MK_ERR_AWS);
    assert_string_equal(err.ext_code, "NotFoundException");
    assert_int_equal(err.http_status, 400);
    assert_false(aws_err_is_retryable(&err));
    assert_clean(&err);
    json_decref(req);
    aws_client_free(c);
}

static void test_msk_rest_moto(void **state)
{
    struct mk_err err = {0};
    setenv("AWS_ENDPOINT_URL_KAFKA", moto.url, 1);
    struct aws_client *c = client_at(NULL, 0, 0);
    json_t *resp = NULL;
    assert_int_equal(aws_rest_call(c, "kafka", "GET", "/v1/clusters", NULL, NULL, &resp, &err), 0);
    assert_true(json_is_array(json_object_get(resp, "clusterInfoList")));
    json_decref(resp);

    json_t *body =
        json_pack("{s:s, s:s, s:i, s:{s:s, s:[s,s,s]}}", "clusterName", "demo", "kafkaVersion",
                  "3.5.1", "numberOfBrokerNodes", 3, "brokerNodeGroupInfo", "instanceType",
                  "kafka.m5.large", "clientSubnets", "subnet-1", "subnet-2", "subnet-3");
    assert_int_equal(aws_rest_call(c, "kafka", "POST", "/v1/clusters", NULL, body, &resp, &err), 0);
    json_decref(body);
    const char *arn = json_string_value(json_object_get(resp, "clusterArn"));
    assert_non_null(arn);
    char path[512];
    snprintf(path, sizeof(path), "/v1/clusters/%s", arn);
    json_t *desc = NULL;
    assert_int_equal(aws_rest_call(c, "kafka", "GET", path, NULL, NULL, &desc, &err), 0);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(desc, "clusterInfo"), "clusterName")),
        "demo");
    json_decref(desc);
    json_decref(resp);

    const struct aws_query_param q[] = {
        {"clusterNameFilter", "demo"}, {"maxResults", "5"}, {NULL, NULL}};
    assert_int_equal(aws_rest_call(c, "kafka", "GET", "/v1/clusters", q, NULL, &resp, &err), 0);
    assert_int_equal(json_array_size(json_object_get(resp, "clusterInfoList")), 1);
    json_decref(resp);

    /* An unknown cluster: a decoded NotFound-style error. */
    assert_int_equal(aws_rest_call(c, "kafka", "GET",
                                   "/v1/clusters/arn:aws:kafka:us-east-1:123456789012:cluster/"
                                   "nope/0a1b2c3d-0000-0000-0000-000000000000-1",
                                   NULL, NULL, &resp, &err),
                     -1);
    assert_int_equal(err.code, MK_ERR_AWS);
    assert_true(err.http_status >= 400);
    assert_clean(&err);
    aws_client_free(c);
}

/* libxml2 writes some faults to stderr by itself (here bytes that are not EUC-JP, which it
 * quotes): an answer's bytes must reach neither the log nor a terminal, only our error. */
static void test_xml_errors_stay_quiet(void **state)
{
    (void)state;
    static const char bad[] = "<?xml version=\"1.0\" encoding=\"EUC-JP\"?><a><b>\xff\xfe"
                              "SeCrEt</b></a>";
    char path[] = "/tmp/mskpki-xmlquiet-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(fd, STDERR_FILENO) >= 0);
    struct mk_err err = {0};
    char *text = aws_xml_text(bad, sizeof(bad) - 1, "a/b", &err);
    fflush(stderr);
    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
    off_t written = lseek(fd, 0, SEEK_END);
    close(fd);
    unlink(path);
    assert_null(text);
    assert_int_equal(err.code, MK_ERR_INVALID);
    assert_null(strstr(err.msg, "SeCrEt"));
    assert_int_equal(written, 0);
}

static void test_sts_query_moto(void **state)
{
    struct mk_err err = {0};
    setenv("AWS_ENDPOINT_URL_STS", moto.url, 1);
    struct aws_client *c = client_at(NULL, 0, 0);
    char *xml = NULL;
    size_t len = 0;
    assert_int_equal(
        aws_query_call(c, "sts", "GetCallerIdentity", "2011-06-15", NULL, &xml, &len, &err), 0);
    char *account = aws_xml_text(xml, len, "GetCallerIdentityResult/Account", &err);
    assert_non_null(account);
    assert_string_equal(account, "123456789012");
    free(account);
    assert_null(aws_xml_text(xml, len, "GetCallerIdentityResult/Nope", &err));
    assert_int_equal(err.code, MK_ERR_NOTFOUND);
    free(xml);
    assert_null(aws_xml_text("<a><b>", 6, "a/b", &err));
    assert_int_equal(err.code, MK_ERR_INVALID);
    aws_client_free(c);
}

struct thread_arg {
    struct aws_client *c;
    int failures;
};

static void *kms_worker(void *p)
{
    struct thread_arg *a = p;
    for (int i = 0; i < 5; i++) {
        struct mk_err err = {0};
        json_t *resp = NULL;
        if (aws_json_call(a->c, "kms", "TrentService.ListKeys", NULL, &resp, &err) != 0 ||
            !json_is_array(json_object_get(resp, "Keys"))) {
            a->failures++;
        }
        json_decref(resp);
    }
    return NULL;
}

static void test_concurrent_calls(void **state)
{
    setenv("AWS_ENDPOINT_URL_KMS", moto.url, 1);
    struct aws_client *c = client_at(NULL, 0, 0);
    pthread_t t[8];
    struct thread_arg a[8];
    for (int i = 0; i < 8; i++) {
        a[i] = (struct thread_arg){c, 0};
        assert_int_equal(pthread_create(&t[i], NULL, kms_worker, &a[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(a[i].failures, 0);
    }
    aws_client_free(c);
}

/* ---- retries against the fake ---- */

static long fake_count(const char *target)
{
    struct aws_http *h = NULL;
    struct mk_err err = {0};
    struct aws_http_response resp = {0};
    char url[128];
    snprintf(url, sizeof(url), "%s/counts", fake.url);
    h = aws_http_new(&err);
    struct aws_http_request req = {"GET", url, NULL, NULL, 0, 2000, 5000, NULL, 1};
    assert_int_equal(aws_http_perform(h, &req, &resp, &err), 0);
    json_t *j = json_loadb(resp.body.data, resp.body.len, 0, NULL);
    long n = (long)json_integer_value(json_object_get(j, target));
    json_decref(j);
    aws_http_response_clear(&resp);
    aws_http_free(h);
    return n;
}

static json_t *fake_call(struct aws_client *c, const char *target, struct mk_err *err, int *rc)
{
    json_t *resp = NULL;
    *rc = aws_json_call(c, "kms", target, NULL, &resp, err);
    assert_clean(err);
    return resp;
}

static void test_retry_throttling_then_success(void **state)
{
    struct mk_err err = {0};
    int rc;
    struct aws_client *c = client_at(fake.url, 5, 5000);
    json_t *r = fake_call(c, "Test.Throttle429", &err, &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(json_integer_value(json_object_get(r, "attempts")), 3);
    json_decref(r);
    r = fake_call(c, "Test.Throttle400", &err, &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(json_integer_value(json_object_get(r, "attempts")), 2);
    json_decref(r);
    r = fake_call(c, "Test.Error500", &err, &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(json_integer_value(json_object_get(r, "attempts")), 2);
    json_decref(r);
    aws_client_free(c);
}

static void test_retry_gives_up(void **state)
{
    struct mk_err err = {0};
    int rc;
    struct aws_client *c = client_at(fake.url, 3, 5000);
    json_t *r = fake_call(c, "Test.AlwaysThrottle", &err, &rc);
    assert_int_equal(rc, -1);
    assert_null(r);
    assert_int_equal(err.code, MK_ERR_AWS);
    assert_string_equal(err.ext_code, "ThrottlingException");
    assert_int_equal(err.http_status, 400);
    assert_true(aws_err_is_retryable(&err));
    assert_int_equal(fake_count("Test.AlwaysThrottle"), 3);

    r = fake_call(c, "Test.AccessDenied", &err, &rc);
    assert_int_equal(rc, -1);
    assert_string_equal(err.ext_code, "AccessDeniedException");
    assert_non_null(strstr(err.msg, "User is not authorized"));
    assert_non_null(strstr(err.msg, "Test.AccessDenied"));
    assert_false(aws_err_is_retryable(&err));
    assert_int_equal(fake_count("Test.AccessDenied"), 1);
    aws_client_free(c);
}

static void test_deadline(void **state)
{
    struct mk_err err = {0};
    int rc;
    struct aws_client_options o = {0};
    o.endpoint_url = fake.url;
    o.max_attempts = 1000;
    o.deadline_ms = 700;
    struct aws_client *c = aws_client_new(&o, &err);
    long before = fake_count("Test.AlwaysThrottle");
    json_t *r = fake_call(c, "Test.AlwaysThrottle", &err, &rc);
    assert_int_equal(rc, -1);
    assert_null(r);
    assert_non_null(strstr(err.msg, "deadline"));
    assert_true(fake_count("Test.AlwaysThrottle") - before < 1000);
    aws_client_free(c);
}

static void test_malformed_and_empty(void **state)
{
    struct mk_err err = {0};
    int rc;
    struct aws_client *c = client_at(fake.url, 2, 5000);
    json_t *r = fake_call(c, "Test.Malformed", &err, &rc);
    assert_int_equal(rc, -1);
    assert_null(r);
    assert_int_equal(err.code, MK_ERR_INVALID);
    r = fake_call(c, "Test.Empty", &err, &rc);
    assert_int_equal(rc, 0);
    assert_true(json_is_object(r));
    assert_int_equal(json_object_size(r), 0);
    json_decref(r);
    aws_client_free(c);
}

static void test_timeout(void **state)
{
    struct mk_err err = {0};
    int rc;
    setenv("FAKE_SLOW_SECONDS", "3", 1);
    struct aws_client *c = client_at(fake.url, 2, 300);
    json_t *r = fake_call(c, "Test.Slow", &err, &rc);
    assert_int_equal(rc, -1);
    assert_null(r);
    assert_int_equal(err.code, MK_ERR_TIMEOUT);
    assert_true(aws_err_is_retryable(&err));
    assert_int_equal(fake_count("Test.Slow"), 2);
    aws_client_free(c);
}

static void test_network_error(void **state)
{
    struct mk_err err = {0};
    int rc;
    /* Port 1 on loopback: nothing listens there. */
    struct aws_client *c = client_at("http://127.0.0.1:1", 2, 1000);
    json_t *r = fake_call(c, "Test.Echo", &err, &rc);
    assert_int_equal(rc, -1);
    assert_null(r);
    assert_int_equal(err.code, MK_ERR_NET);
    assert_non_null(strstr(err.msg, "127.0.0.1:1"));
    aws_client_free(c);
    /* A bad endpoint URL is a configuration error, found when the client is made. */
    struct aws_client_options o = {0};
    o.endpoint_url = "ftp://127.0.0.1:1";
    assert_null(aws_client_new(&o, &err));
    assert_int_equal(err.code, MK_ERR_CONFIG);
    (void)r;
}

/* Lines of the captured stderr so far that contain needle. */
static int count_log_lines(const char *needle)
{
    char line[4096];
    int n = 0;
    fflush(stderr);
    FILE *f = fopen(log_path, "r");
    assert_non_null(f);
    while (fgets(line, sizeof(line), f) != NULL) {
        n += strstr(line, needle) != NULL;
    }
    fclose(f);
    return n;
}

/* Issue 16: plain http endpoints carry SigV4 signatures and the session token in clear. */
static void test_insecure_http_endpoints(void **state)
{
    struct mk_err err = {0};
    struct aws_client_options o = {0};
    struct aws_client *c = NULL;
    (void)state;

    /* Loopback (any 127/8 address, [::1], localhost) and https are fine. */
    static const char *const fine[] = {"http://127.0.0.1:9", "http://127.1.2.3:9/x",
                                       "http://[::1]:9", "http://LOCALHOST:9",
                                       "https://192.0.2.1", "https://pca.example.com:8443/base"};
    for (size_t i = 0; i < sizeof(fine) / sizeof(fine[0]); i++) {
        o.endpoint_url = fine[i];
        c = aws_client_new(&o, &err);
        if (c == NULL) {
            fail_msg("%s: %s", fine[i], err.msg);
        }
        aws_client_free(c);
    }
    /* Off the host, names that only look like loopback, and userinfo tricks are refused with the
     * setting named. */
    static const char *const refused[] = {"http://192.0.2.1:8080", "http://127.0.0.1.nip.io/",
                                          "http://localhost.example.com/", "http://[::2]:9",
                                          "http://10.0.0.1/"};
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        o.endpoint_url = refused[i];
        mk_err_clear(&err);
        assert_null(aws_client_new(&o, &err));
        assert_int_equal(err.code, MK_ERR_CONFIG);
        assert_non_null(strstr(err.msg, "endpoint_url: plain http"));
        assert_non_null(strstr(err.msg, "allow_insecure_http = true"));
    }
    o.endpoint_url = "http://user:pass@127.0.0.1:9";
    assert_null(aws_client_new(&o, &err));
    assert_non_null(strstr(err.msg, "userinfo"));
    /* allow_insecure_http lets it through, with one warning when the client starts (none per
     * call).  No request is made: 192.0.2.1 is never contacted. */
    o.endpoint_url = "http://192.0.2.1:8080";
    o.allow_insecure_http = 1;
    int warned = count_log_lines("event=aws.insecure_http");
    c = aws_client_new(&o, &err);
    assert_non_null(c);
    check_endpoint(c, "acm-pca", "http://192.0.2.1:8080");
    check_endpoint(c, "kms", "http://192.0.2.1:8080");
    assert_int_equal(count_log_lines("event=aws.insecure_http"), warned + 1);
    aws_client_free(c);
    /* A loopback endpoint warns of nothing. */
    o.endpoint_url = "http://127.0.0.1:9";
    c = aws_client_new(&o, &err);
    assert_non_null(c);
    assert_int_equal(count_log_lines("event=aws.insecure_http"), warned + 1);
    aws_client_free(c);
    o.allow_insecure_http = 0;
    o.endpoint_url = NULL;

    /* The environment's overrides: checked at the start, naming the variable... */
    setenv("AWS_ENDPOINT_URL_KMS", "http://192.0.2.1/", 1);
    assert_null(aws_client_new(&o, &err));
    assert_non_null(strstr(err.msg, "AWS_ENDPOINT_URL_KMS: plain http"));
    unsetenv("AWS_ENDPOINT_URL_KMS");
    setenv("AWS_ENDPOINT_URL", "http://192.0.2.1/", 1);
    assert_null(aws_client_new(&o, &err));
    assert_non_null(strstr(err.msg, "AWS_ENDPOINT_URL: plain http"));
    unsetenv("AWS_ENDPOINT_URL");
    /* ...and again at each call, for one set after the start. */
    c = aws_client_new(&o, &err);
    assert_non_null(c);
    setenv("AWS_ENDPOINT_URL_KAFKA", "http://192.0.2.1/", 1);
    assert_null(aws_client_endpoint(c, "kafka", &err));
    assert_int_equal(err.code, MK_ERR_CONFIG);
    unsetenv("AWS_ENDPOINT_URL_KAFKA");
    aws_client_free(c);
}

/* Issue 16: the container credentials URL rule, on curl's own parse of the URL. */
static void test_container_url_rule(void **state)
{
    struct mk_err err = {0};
    char *norm = NULL;
    (void)state;
    static const char *const fine[] = {
        "http://127.0.0.1:9/creds", "http://127.9.9.9/creds",   "http://[::1]:9/creds",
        "http://localhost:9/creds", "http://169.254.170.2/v2",  "http://169.254.170.23/v1",
        "http://[fd00:ec2::23]/v1", "https://creds.example.com/x"};
    for (size_t i = 0; i < sizeof(fine) / sizeof(fine[0]); i++) {
        if (aws_url_check_container(fine[i], "FULL_URI", &norm, &err) != 0) {
            fail_msg("%s: %s", fine[i], err.msg);
        }
        free(norm);
        norm = NULL;
    }
    static const char *const refused[] = {
        "http://localhost:x@192.0.2.1/",  /* the review's bypass: host is 192.0.2.1 */
        "http://127.0.0.1@192.0.2.1/",    "http://user:pw@127.0.0.1/",
        "https://user@creds.example.com/", "http://127.0.0.1.nip.io/",
        "http://localhost.example.com/",  "http://169.254.170.3/",
        "http://169.254.169.254/",        "http://[fd00:ec2::24]/",
        "http://192.0.2.1/",              "ftp://127.0.0.1/",
        "not a url"};
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        mk_err_clear(&err);
        if (aws_url_check_container(refused[i], "FULL_URI", &norm, &err) != -1) {
            fail_msg("accepted: %s", refused[i]);
        }
        assert_int_equal(err.code, MK_ERR_CREDS);
        assert_non_null(strstr(err.msg, "FULL_URI"));
    }
    assert_int_equal(aws_url_check_container("http://localhost:x@192.0.2.1/", "FULL_URI", &norm,
                                             &err),
                     -1);
    assert_non_null(strstr(err.msg, "userinfo"));
}

static void test_json_request_shape(void **state)
{
    struct mk_err err = {0};
    setenv("AWS_SESSION_TOKEN", TOKEN, 1);
    struct aws_client *c = client_at(fake.url, 1, 5000);
    json_t *req = json_pack("{s:s}", "KeyId", "k");
    json_t *r = NULL;
    assert_int_equal(aws_json_call(c, "kms", "Test.Echo", req, &r, &err), 0);
    assert_string_equal(json_string_value(json_object_get(r, "content_type")),
                        "application/x-amz-json-1.1");
    assert_true(json_is_true(json_object_get(r, "has_token")));
    assert_string_equal(json_string_value(json_object_get(r, "signed")),
                        "content-type;host;x-amz-date;x-amz-security-token;x-amz-target");
    assert_string_equal(json_string_value(json_object_get(r, "body")), "{\"KeyId\":\"k\"}");
    json_decref(r);
    json_decref(req);
    aws_client_free(c);
}

static void test_expired_token_and_sig_mismatch(void **state)
{
    struct mk_err err = {0};
    int rc;
    setenv("AWS_SESSION_TOKEN", TOKEN, 1);
    struct aws_client *c = client_at(fake.url, 1, 5000);
    /* Expired credentials: dropped and fetched again once, even with max_attempts 1. */
    json_t *r = fake_call(c, "Test.Expired", &err, &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(json_integer_value(json_object_get(r, "attempts")), 2);
    json_decref(r);
    /* The canonical request AWS echoes back (with the token) never reaches the message. */
    r = fake_call(c, "Test.SigMismatch", &err, &rc);
    assert_int_equal(rc, -1);
    assert_string_equal(err.ext_code, "InvalidSignatureException");
    assert_non_null(strstr(err.msg, "does not match"));
    assert_null(strstr(err.msg, "Canonical"));
    aws_client_free(c);
}

static void test_rest_request_shape(void **state)
{
    struct mk_err err = {0};
    struct aws_client *c = client_at(fake.url, 1, 5000);
    const struct aws_query_param q[] = {{"b", "x y"}, {"a", "1/2"}, {NULL, NULL}};
    json_t *r = NULL;
    assert_int_equal(aws_rest_call(c, "kafka", "DELETE",
                                   "/v1/echo/arn:aws:kafka:us-east-1:1:cluster/n/"
                                   "0a1b2c3d-1111-2222-3",
                                   q, NULL, &r, &err),
                     0);
    assert_string_equal(json_string_value(json_object_get(r, "method")), "DELETE");
    assert_string_equal(json_string_value(json_object_get(r, "path")),
                        "/v1/echo/arn%3Aaws%3Akafka%3Aus-east-1%3A1%3Acluster%2Fn%2F"
                        "0a1b2c3d-1111-2222-3?b=x%20y&a=1%2F2");
    assert_null(json_string_value(json_object_get(r, "content_type")));
    assert_string_equal(json_string_value(json_object_get(r, "signed")), "host;x-amz-date");
    json_decref(r);
    json_t *body = json_pack("{s:s}", "k", "v");
    assert_int_equal(aws_rest_call(c, "kafka", "POST", "/v1/echo", NULL, body, &r, &err), 0);
    assert_string_equal(json_string_value(json_object_get(r, "content_type")), "application/json");
    assert_string_equal(json_string_value(json_object_get(r, "signed")),
                        "content-type;host;x-amz-date");
    assert_string_equal(json_string_value(json_object_get(r, "body")), "{\"k\":\"v\"}");
    json_decref(r);
    json_decref(body);
    aws_client_free(c);
}

static void test_query_xml_error(void **state)
{
    struct mk_err err = {0};
    struct aws_client *c = client_at(fake.url, 1, 5000);
    char *xml = NULL;
    const struct aws_query_param p[] = {{"RoleArn", "arn:aws:iam::1:role/x"}, {NULL, NULL}};
    assert_int_equal(aws_query_call(c, "sts", "AssumeRole", "2011-06-15", p, &xml, NULL, &err), -1);
    assert_null(xml);
    assert_int_equal(err.code, MK_ERR_AWS);
    assert_string_equal(err.ext_code, "InvalidParameterValue");
    assert_non_null(strstr(err.msg, "bad value"));
    aws_client_free(c);
}

static void test_tls_verification(void **state)
{
    struct mk_err err = {0};
    char dir[256];
    char cmd[1024];
    char cert[300];
    char key[300];
    struct test_server tls;
    assert_int_equal(mk_test_tmpdir(dir, sizeof(dir), "aws-test"), 0);
    snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
    snprintf(key, sizeof(key), "%s/key.pem", dir);
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout %s "
             "-out %s -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 "
             ">/dev/null 2>&1",
             key, cert);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(test_server_start_fake_tls(&tls, cert, key), 0);

    struct aws_client_options o = {0};
    o.endpoint_url = tls.url;
    o.max_attempts = 1;
    o.ca_bundle = cert;
    struct aws_client *c = aws_client_new(&o, &err);
    json_t *r = NULL;
    assert_int_equal(aws_json_call(c, "kms", "Test.Echo", NULL, &r, &err), 0);
    assert_string_equal(json_string_value(json_object_get(r, "target")), "Test.Echo");
    json_decref(r);
    aws_client_free(c);

    /* Without the bundle the self-signed server is refused: verification is never off. */
    o.ca_bundle = NULL;
    c = aws_client_new(&o, &err);
    r = NULL;
    assert_int_equal(aws_json_call(c, "kms", "Test.Echo", NULL, &r, &err), -1);
    assert_null(r);
    assert_int_equal(err.code, MK_ERR_NET);
    aws_client_free(c);
    test_server_stop(&tls);
    mk_test_rmtree(dir);
}

static void test_no_credentials(void **state)
{
    struct mk_err err = {0};
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    struct aws_client *c = client_at(fake.url, 1, 5000);
    json_t *r = NULL;
    assert_int_equal(aws_json_call(c, "kms", "Test.Echo", NULL, &r, &err), -1);
    assert_int_equal(err.code, MK_ERR_CREDS);
    assert_false(aws_err_is_retryable(&err));
    aws_client_free(c);
}

static void test_backoff(void **state)
{
    assert_int_equal(aws_backoff_ms(1, 0.0), 0);
    assert_int_equal(aws_backoff_ms(1, 0.5), 50);
    assert_int_equal(aws_backoff_ms(2, 0.5), 100);
    assert_int_equal(aws_backoff_ms(3, 0.5), 200);
    assert_true(aws_backoff_ms(1, 0.999) < 100);
    assert_int_equal(aws_backoff_ms(12, 0.5), 10000); /* capped at 20 s */
    assert_int_equal(aws_backoff_ms(60, 0.5), 10000);
    assert_int_equal(aws_backoff_ms(3, 7.0), 0); /* out-of-range jitter is ignored */
}

static void test_retryable_codes(void **state)
{
    struct mk_err e = {0};
    e.code = MK_ERR_AWS;
    static const char *const yes[] = {"ThrottlingException",
                                      "Throttling",
                                      "TooManyRequestsException",
                                      "RequestLimitExceeded",
                                      "ProvisionedThroughputExceededException",
                                      NULL};
    for (size_t i = 0; yes[i] != NULL; i++) {
        snprintf(e.ext_code, sizeof(e.ext_code), "%s", yes[i]);
        e.http_status = 400;
        assert_true(aws_err_is_retryable(&e));
    }
    snprintf(e.ext_code, sizeof(e.ext_code), "ValidationException");
    assert_false(aws_err_is_retryable(&e));
    e.http_status = 503;
    assert_true(aws_err_is_retryable(&e));
    e.http_status = 429;
    e.ext_code[0] = '\0';
    assert_true(aws_err_is_retryable(&e));
    e.code = MK_ERR_INVALID;
    assert_false(aws_err_is_retryable(&e));
    e.code = MK_ERR_NET;
    assert_true(aws_err_is_retryable(&e));
    assert_false(aws_err_is_retryable(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_region_resolution, each_setup),
        cmocka_unit_test_setup(test_endpoint_resolution, each_setup),
        cmocka_unit_test_setup(test_kms_json_moto, each_setup),
        cmocka_unit_test_setup(test_msk_rest_moto, each_setup),
        cmocka_unit_test_setup(test_sts_query_moto, each_setup),
        cmocka_unit_test(test_xml_errors_stay_quiet),
        cmocka_unit_test_setup(test_concurrent_calls, each_setup),
        cmocka_unit_test_setup(test_retry_throttling_then_success, each_setup),
        cmocka_unit_test_setup(test_retry_gives_up, each_setup),
        cmocka_unit_test_setup(test_deadline, each_setup),
        cmocka_unit_test_setup(test_malformed_and_empty, each_setup),
        cmocka_unit_test_setup(test_timeout, each_setup),
        cmocka_unit_test_setup(test_network_error, each_setup),
        cmocka_unit_test_setup(test_insecure_http_endpoints, each_setup),
        cmocka_unit_test(test_container_url_rule),
        cmocka_unit_test_setup(test_json_request_shape, each_setup),
        cmocka_unit_test_setup(test_expired_token_and_sig_mismatch, each_setup),
        cmocka_unit_test_setup(test_rest_request_shape, each_setup),
        cmocka_unit_test_setup(test_query_xml_error, each_setup),
        cmocka_unit_test_setup(test_tls_verification, each_setup),
        cmocka_unit_test_setup(test_no_credentials, each_setup),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_retryable_codes),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
