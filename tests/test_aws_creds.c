/*
 * test_aws_creds.c: the credentials chain in a temp HOME: order of the sources, static profiles,
 * credential_process, STS AssumeRole and AssumeRoleWithWebIdentity against moto, container and
 * IMDSv2 credentials against tests/aws/fake_server.py, refresh before expiry, and no secret in
 * any message or captured log line.
 */
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

#include "aws/aws.h"
#include "aws/client-int.h"
#include "aws/creds.h"
#include "aws/xml.h"
#include "tests/aws/server.h"
#include "tests/support/capture.h"

/* From creds.c (MK_TESTABLE): the ECS agent address used with the RELATIVE_URI. */
extern const char *aws_creds_ecs_base;
int aws_creds_from_process(const char *command, long timeout_ms, struct aws_creds **out,
                           struct mk_err *err);

#define SECRET "cReDsSeCrEt/Never+In+Logs0123456789abcdef"
#define FAKE_SECRET "fAkEsErVeRsEcReT/Never+In+Logs+0123456789"
#define FAKE_TOKEN "fAkEsErVeRtOkEn/Never+In+Logs=="
#define FAKE_AUTH "Bearer-container-auth-Never+In+Logs"

static struct test_server moto;
static struct test_server fake;
static char home[256];
static char log_path[300];
static struct mk_test_capture capture = {-1, ""};

static void assert_clean(const struct mk_err *err)
{
    assert_null(strstr(err->msg, "Never+In"));
}

static void base_env(void)
{
    static const char *const clear[] = {"AWS_PROFILE",
                                        "AWS_ACCESS_KEY_ID",
                                        "AWS_SECRET_ACCESS_KEY",
                                        "AWS_SESSION_TOKEN",
                                        "AWS_WEB_IDENTITY_TOKEN_FILE",
                                        "AWS_ROLE_ARN",
                                        "AWS_ROLE_SESSION_NAME",
                                        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                                        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                                        "AWS_CONTAINER_AUTHORIZATION_TOKEN",
                                        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                                        "AWS_EC2_METADATA_SERVICE_ENDPOINT",
                                        "AWS_ENDPOINT_URL",
                                        "AWS_DEFAULT_REGION",
                                        NULL};
    for (size_t i = 0; clear[i] != NULL; i++) {
        unsetenv(clear[i]);
    }
    char path[512];
    snprintf(path, sizeof(path), "%s/config", home);
    setenv("AWS_CONFIG_FILE", path, 1);
    snprintf(path, sizeof(path), "%s/credentials", home);
    setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
    unlink(getenv("AWS_CONFIG_FILE"));
    unlink(getenv("AWS_SHARED_CREDENTIALS_FILE"));
    setenv("HOME", home, 1);
    setenv("AWS_REGION", "us-east-1", 1);
    setenv("AWS_ENDPOINT_URL_STS", moto.url, 1);
    /* Nothing may leave 127.0.0.1: never the real instance metadata address. */
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
}

static int group_setup(void **state)
{
    if (mk_test_tmpdir(home, sizeof(home), "aws-test") != 0) {
        return -1;
    }
    /* The fake hands out these; the test must never see them in a message or log line. */
    setenv("FAKE_AKID", "ASIAFAKESERVER", 1);
    setenv("FAKE_SECRET", FAKE_SECRET, 1);
    setenv("FAKE_TOKEN", FAKE_TOKEN, 1);
    setenv("FAKE_CONTAINER_AUTH", FAKE_AUTH, 1);
    if (test_server_start_moto(&moto) != 0 || test_server_start_fake(&fake) != 0) {
        return -1;
    }
    snprintf(log_path, sizeof(log_path), "%s/stderr.log", home);
    return mk_test_capture_stderr(&capture, log_path);
}

static int group_teardown(void **state)
{
    static const char *const secrets[] = {"Never+In", NULL};
    int rc = mk_test_capture_end(&capture, secrets);
    test_server_stop(&moto);
    test_server_stop(&fake);
    mk_test_rmtree(home);
    return rc;
}

static int each_setup(void **state)
{
    base_env();
    return 0;
}

static void write_home(const char *name, const char *text)
{
    assert_int_equal(test_write_file(home, name, text, 0600, NULL, 0), 0);
}

/* Resolves the chain once with a fresh client; returns creds or NULL with err. */
static struct aws_creds *resolve(const char *profile, struct mk_err *err)
{
    struct aws_client_options o = {0};
    o.max_attempts = 2;
    o.request_timeout_ms = 5000;
    struct aws_client *c = aws_client_new(&o, err);
    assert_non_null(c);
    struct aws_creds_provider *p = aws_creds_provider_new(c, profile, err);
    assert_non_null(p);
    struct aws_creds *cr = aws_creds_provider_get(p, err);
    if (cr == NULL) {
        assert_clean(err);
    }
    aws_creds_provider_free(p);
    aws_client_free(c);
    return cr;
}

static long fake_count(const char *key)
{
    struct mk_err err = {0};
    struct aws_http_response resp = {0};
    char url[128];
    snprintf(url, sizeof(url), "%s/counts", fake.url);
    struct aws_http *h = aws_http_new(&err);
    struct aws_http_request req = {"GET", url, NULL, NULL, 0, 2000, 5000, NULL, 1};
    assert_int_equal(aws_http_perform(h, &req, &resp, &err), 0);
    json_t *j = json_loadb(resp.body.data, resp.body.len, 0, NULL);
    long n = (long)json_integer_value(json_object_get(j, key));
    json_decref(j);
    aws_http_response_clear(&resp);
    aws_http_free(h);
    return n;
}

static void test_env(void **state)
{
    struct mk_err err = {0};
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
    setenv("AWS_SESSION_TOKEN", "tok-Never+In", 1);
    struct aws_creds *c = resolve(NULL, &err);
    assert_non_null(c);
    assert_string_equal(c->source, "env");
    assert_string_equal(c->access_key_id, "AKIDENV");
    assert_string_equal(pki_secret_str(c->secret_access_key), SECRET);
    assert_string_equal(pki_secret_str(c->session_token), "tok-Never+In");
    assert_int_equal(c->expiration, 0);
    aws_creds_free(c);
    /* Half-set: an error naming the missing variable, not a fall-through. */
    unsetenv("AWS_SECRET_ACCESS_KEY");
    write_home("credentials", "[default]\naws_access_key_id = AKIDFILE\n"
                              "aws_secret_access_key = " SECRET "\n");
    assert_null(resolve(NULL, &err));
    assert_int_equal(err.code, MK_ERR_CREDS);
    assert_non_null(strstr(err.msg, "AWS_SECRET_ACCESS_KEY"));
}

static void test_env_beats_profile(void **state)
{
    struct mk_err err = {0};
    write_home("credentials", "[default]\naws_access_key_id = AKIDFILE\n"
                              "aws_secret_access_key = " SECRET "\n");
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
    struct aws_creds *c = resolve(NULL, &err);
    assert_string_equal(c->access_key_id, "AKIDENV");
    aws_creds_free(c);
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    c = resolve(NULL, &err);
    assert_non_null(c);
    assert_string_equal(c->access_key_id, "AKIDFILE");
    assert_string_equal(c->source, "profile");
    assert_null(c->session_token);
    aws_creds_free(c);
}

static void test_profiles(void **state)
{
    struct mk_err err = {0};
    write_home("credentials", "[default]\naws_access_key_id = AKIDDEF\n"
                              "aws_secret_access_key = " SECRET "\n"
                              "[other]\naws_access_key_id = AKIDOTHER\n"
                              "aws_secret_access_key = " SECRET "\n"
                              "aws_session_token = sess\n"
                              "[half]\naws_access_key_id = AKIDHALF\n");
    write_home("config", "[profile cfgonly]\naws_access_key_id = AKIDCFG\n"
                         "aws_secret_access_key = " SECRET "\n"
                         "[profile other]\naws_access_key_id = AKIDLOSES\n"
                         "aws_secret_access_key = x\n");
    setenv("AWS_PROFILE", "other", 1);
    struct aws_creds *c = resolve(NULL, &err);
    assert_string_equal(c->access_key_id, "AKIDOTHER"); /* credentials file wins */
    assert_string_equal(pki_secret_str(c->session_token), "sess");
    aws_creds_free(c);
    c = resolve("cfgonly", &err); /* explicit name wins over AWS_PROFILE */
    assert_string_equal(c->access_key_id, "AKIDCFG");
    aws_creds_free(c);
    assert_null(resolve("half", &err));
    assert_int_equal(err.code, MK_ERR_CREDS);
    assert_non_null(strstr(err.msg, "aws_secret_access_key"));
    assert_null(resolve("missing", &err));
    assert_int_equal(err.code, MK_ERR_CREDS);
    if (strstr(err.msg, "profile 'missing' not found") == NULL) {
        fail_msg("%s", err.msg);
    }
    /* A malformed file is an error naming file:line. */
    write_home("config", "[profile x\n");
    assert_null(resolve("other", &err));
    assert_non_null(strstr(err.msg, "/config:1:"));
}

static void test_credential_process(void **state)
{
    struct mk_err err = {0};
    char script[512];
    assert_int_equal(test_write_file(home, "proc.sh",
                                     "#!/bin/sh\n"
                                     "echo '{\"Version\": 1, \"AccessKeyId\": \"ASIAPROC\", "
                                     "\"SecretAccessKey\": \"" SECRET "\", "
                                     "\"SessionToken\": \"ptok\", "
                                     "\"Expiration\": \"2099-05-06T07:08:09+00:00\"}'\n",
                                     0700, script, sizeof(script)),
                     0);
    char text[1024];
    snprintf(text, sizeof(text),
             "[profile proc]\ncredential_process = %s --arg\n"
             "[profile badver]\ncredential_process = echo '{\"Version\": 2, "
             "\"AccessKeyId\": \"A\", \"SecretAccessKey\": \"B\"}'\n"
             "[profile fails]\ncredential_process = echo '" SECRET "'; exit 3\n"
             "[profile notjson]\ncredential_process = echo 'oops " SECRET "'\n",
             script);
    write_home("config", text);
    struct aws_creds *c = resolve("proc", &err);
    assert_non_null(c);
    assert_string_equal(c->source, "process");
    assert_string_equal(c->access_key_id, "ASIAPROC");
    assert_string_equal(pki_secret_str(c->secret_access_key), SECRET);
    assert_int_equal(c->expiration, 4081734489); /* 2099-05-06T07:08:09Z */
    aws_creds_free(c);
    assert_null(resolve("badver", &err));
    assert_non_null(strstr(err.msg, "Version"));
    assert_null(resolve("fails", &err));
    assert_non_null(strstr(err.msg, "exited with status 3"));
    assert_null(strstr(err.msg, "cReDs"));
    assert_null(resolve("notjson", &err));
    assert_int_equal(err.code, MK_ERR_CREDS);
    assert_null(strstr(err.msg, "cReDs"));
}

/* 1 while pid runs (a zombie or a reaped process counts as ended). */
static int pid_running(long pid)
{
    char path[64];
    char buf[512];
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return 0;
    }
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *paren = strrchr(buf, ')');
    return paren != NULL && paren[1] == ' ' && paren[2] != 'Z' && paren[2] != 'X';
}

/* Issue 16: a helper that closes stdout and keeps running (or leaves a child behind) no longer
 * stalls the agent: the timeout (credential_process_timeout) kills its whole process group. */
static void test_credential_process_timeout(void **state)
{
    struct mk_err err = {0};
    char pidfile[300];
    char cmd[700];
    long pid = 0;
    struct timespec t0, t1;
    (void)state;
    snprintf(pidfile, sizeof(pidfile), "%s/helper.pid", home);
    snprintf(cmd, sizeof(cmd), "sleep 30 & echo $! > %s; exec >&-; sleep 30", pidfile);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct aws_creds *c = NULL;
    assert_int_equal(aws_creds_from_process(cmd, 700, &c, &err), -1);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_null(c);
    assert_int_equal(err.code, MK_ERR_TIMEOUT);
    assert_non_null(strstr(err.msg, "credential_process_timeout"));
    /* Back within the timeout plus a margin, not after the helper's 30 s. */
    assert_true(t1.tv_sec - t0.tv_sec < 5);
    FILE *f = fopen(pidfile, "r");
    assert_non_null(f);
    assert_int_equal(fscanf(f, "%ld", &pid), 1);
    fclose(f);
    /* The background child of the helper was killed with it (it is in the helper's group). */
    for (int i = 0; i < 100 && pid_running(pid); i++) {
        usleep(20000);
    }
    assert_false(pid_running(pid));

    /* A helper that answers in time still works with a short timeout. */
    assert_int_equal(aws_creds_from_process("echo '{\"Version\": 1, \"AccessKeyId\": \"ASIAQ\", "
                                            "\"SecretAccessKey\": \"s\"}'",
                                            2000, &c, &err),
                     1);
    assert_string_equal(c->access_key_id, "ASIAQ");
    aws_creds_free(c);

    /* The client option reaches credential_process from a profile. */
    snprintf(cmd, sizeof(cmd), "[profile slow]\ncredential_process = sleep 30\n");
    write_home("config", cmd);
    struct aws_client_options o = {0};
    o.credential_process_timeout_ms = 500;
    struct aws_client *cl = aws_client_new(&o, &err);
    assert_non_null(cl);
    struct aws_creds_provider *p = aws_creds_provider_new(cl, "slow", &err);
    assert_non_null(p);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_null(aws_creds_provider_get(p, &err));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(err.code, MK_ERR_TIMEOUT);
    assert_true(t1.tv_sec - t0.tv_sec < 5);
    aws_creds_provider_free(p);
    aws_client_free(cl);
}

static void test_assume_role_moto(void **state)
{
    struct mk_err err = {0};
    write_home("credentials", "[base]\naws_access_key_id = AKIDBASE\n"
                              "aws_secret_access_key = " SECRET "\n");
    write_home("config", "[profile role]\nrole_arn = arn:aws:iam::123456789012:role/mskpki\n"
                         "source_profile = base\nrole_session_name = test-session\n"
                         "[profile chained]\nrole_arn = arn:aws:iam::123456789012:role/two\n"
                         "source_profile = role\n"
                         "[profile loop1]\nrole_arn = arn:aws:iam::1:role/a\n"
                         "source_profile = loop2\n"
                         "[profile loop2]\nrole_arn = arn:aws:iam::1:role/b\n"
                         "source_profile = loop1\n"
                         "[profile nosource]\nrole_arn = arn:aws:iam::1:role/c\n"

                         "[profile badsource]\nrole_arn = arn:aws:iam::1:role/d\n"
                         "source_profile = ghost\n");
    time_t now = time(NULL);
    struct aws_creds *c = resolve("role", &err);
    if (c == NULL) {
        fail_msg("%s", err.msg);
    }
    assert_string_equal(c->source, "assume-role");
    assert_non_null(c->session_token);
    assert_true(c->expiration > now);
    assert_string_not_equal(pki_secret_str(c->secret_access_key), SECRET);
    aws_creds_free(c);
    c = resolve("chained", &err);
    assert_non_null(c);
    assert_string_equal(c->source, "assume-role");
    aws_creds_free(c);
    assert_null(resolve("loop1", &err));
    assert_non_null(strstr(err.msg, "loop"));
    assert_null(resolve("nosource", &err));
    assert_non_null(strstr(err.msg, "source_profile"));
    assert_null(resolve("badsource", &err));
    assert_non_null(strstr(err.msg, "'ghost' not found"));
    /* credential_source = EcsContainer: container credentials sign the AssumeRole. */
    write_home("config", "[profile ecs]\nrole_arn = arn:aws:iam::123456789012:role/ecs\n"
                         "credential_source = EcsContainer\n"
                         "[profile weird]\nrole_arn = arn:aws:iam::1:role/e\n"
                         "credential_source = Floppy\n");
    char url[256];
    snprintf(url, sizeof(url), "%s/container-creds?for=assume", fake.url);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", FAKE_AUTH, 1);
    c = resolve("ecs", &err);
    if (c == NULL) {
        fail_msg("%s", err.msg);
    }
    assert_string_equal(c->source, "assume-role");
    aws_creds_free(c);
    assert_int_equal(fake_count("GET /container-creds?for=assume"), 1);
    assert_null(resolve("weird", &err));
    assert_non_null(strstr(err.msg, "unknown credential_source"));
    /* An explicit profile wins over the environment's keys (the AWS CLI's --profile). */
    setenv("AWS_ACCESS_KEY_ID", "AKIDENVSRC", 1);
    setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
    c = resolve("ecs", &err);
    assert_non_null(c);
    assert_string_equal(c->source, "assume-role");
    aws_creds_free(c);
    assert_int_equal(fake_count("GET /container-creds?for=assume"), 2);
}

/* The account a client's credentials belong to, from STS GetCallerIdentity (moto maps assumed-role
 * credentials to the role's account). */
static char *caller_account(struct aws_client *c, struct mk_err *err)
{
    char *xml = NULL;
    size_t len = 0;
    char *acct = NULL;
    if (aws_query_call(c, "sts", "GetCallerIdentity", "2011-06-15", NULL, &xml, &len, err) == 0) {
        acct = aws_xml_text(xml, len, "GetCallerIdentityResult/Account", err);
    }
    free(xml);
    return acct;
}

/* aws_client_options.role_arn: every call is signed with the assumed role's credentials. */
static void test_client_role_arn(void **state)
{
    struct mk_err err = {0};
    struct aws_client_options o = {.max_attempts = 2, .request_timeout_ms = 5000};
    setenv("AWS_ACCESS_KEY_ID", "AKIDENVSRC", 1);
    setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);

    struct aws_client *c = aws_client_new(&o, &err);
    assert_non_null(c);
    char *acct = caller_account(c, &err);
    if (acct == NULL) {
        fail_msg("%s", err.msg);
    }
    assert_string_equal(acct, "123456789012");
    free(acct);
    aws_client_free(c);

    o.role_arn = "arn:aws:iam::210987654321:role/audit";
    o.role_session_name = "audit-test";
    c = aws_client_new(&o, &err);
    assert_non_null(c);
    assert_int_equal(aws_client_check_credentials(c, &err), 0);
    acct = caller_account(c, &err);
    if (acct == NULL) {
        fail_msg("%s", err.msg);
    }
    assert_string_equal(acct, "210987654321");
    free(acct);
    aws_client_free(c);

    /* No source credentials: MK_ERR_CREDS, before any AssumeRole. */
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    c = aws_client_new(&o, &err);
    assert_non_null(c);
    assert_int_equal(aws_client_check_credentials(c, &err), -1);
    assert_int_equal(err.code, MK_ERR_CREDS);
    aws_client_free(c);

    /* STS unreachable: the AssumeRole failure keeps its own code and names the role. */
    setenv("AWS_ACCESS_KEY_ID", "AKIDENVSRC", 1);
    setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
    setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:1", 1);
    c = aws_client_new(&o, &err);
    assert_non_null(c);
    assert_int_equal(aws_client_check_credentials(c, &err), -1);
    assert_int_equal(err.code, MK_ERR_NET);
    assert_non_null(strstr(err.msg, "assume role arn:aws:iam::210987654321:role/audit"));
    assert_null(strstr(err.msg, SECRET));
    aws_client_free(c);
}

static void test_web_identity_moto(void **state)
{
    struct mk_err err = {0};
    char tok[512];
    assert_int_equal(test_write_file(home, "token", "eyJhbGciOiJSUzI1NiJ9.Never+In.sig\n", 0600,
                                     tok, sizeof(tok)),
                     0);
    setenv("AWS_WEB_IDENTITY_TOKEN_FILE", tok, 1);
    setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/web", 1);
    /* Web identity beats the shared files. */
    write_home("credentials", "[default]\naws_access_key_id = AKIDFILE\n"
                              "aws_secret_access_key = " SECRET "\n");
    struct aws_creds *c = resolve(NULL, &err);
    if (c == NULL) {
        fail_msg("%s", err.msg);
    }
    assert_string_equal(c->source, "web-identity");
    assert_non_null(c->session_token);
    assert_true(c->expiration > 0);
    aws_creds_free(c);
    /* ...and the environment beats web identity. */
    setenv("AWS_ACCESS_KEY_ID", "AKIDENVWINS", 1);
    setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
    c = resolve(NULL, &err);
    assert_non_null(c);
    assert_string_equal(c->source, "env");
    assert_string_equal(c->access_key_id, "AKIDENVWINS");
    aws_creds_free(c);
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    /* A missing token file is an error naming it. */
    char missing[600];
    snprintf(missing, sizeof(missing), "%s/no-token", home);
    setenv("AWS_WEB_IDENTITY_TOKEN_FILE", missing, 1);
    assert_null(resolve(NULL, &err));
    assert_int_equal(err.code, MK_ERR_CREDS);
    assert_non_null(strstr(err.msg, missing));
    /* Profile form: web_identity_token_file + role_arn. */
    unsetenv("AWS_WEB_IDENTITY_TOKEN_FILE");
    unsetenv("AWS_ROLE_ARN");
    char text[1024];
    snprintf(text, sizeof(text),
             "[profile wi]\nrole_arn = arn:aws:iam::1:role/w\n"
             "web_identity_token_file = %s\n",
             tok);
    write_home("config", text);
    c = resolve("wi", &err);
    assert_non_null(c);
    assert_string_equal(c->source, "web-identity");
    aws_creds_free(c);
}

static void test_container(void **state)
{
    struct mk_err err = {0};
    char url[256];
    snprintf(url, sizeof(url), "%s/container-creds", fake.url);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", FAKE_AUTH, 1);
    struct aws_creds *c = resolve(NULL, &err);
    if (c == NULL) {
        fail_msg("%s", err.msg);
    }
    assert_string_equal(c->source, "container");
    assert_string_equal(c->access_key_id, "ASIAFAKESERVER");
    assert_string_equal(pki_secret_str(c->secret_access_key), FAKE_SECRET);
    assert_string_equal(pki_secret_str(c->session_token), FAKE_TOKEN);
    assert_int_equal(c->expiration, 4070908800); /* 2099-01-01T00:00:00Z */
    aws_creds_free(c);
    /* The token file wins over the variable. */
    char tokfile[512];
    assert_int_equal(test_write_file(home, "ctok", "wrong-token\n", 0600, tokfile, sizeof(tokfile)),
                     0);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", tokfile, 1);
    assert_null(resolve(NULL, &err));
    assert_non_null(strstr(err.msg, "HTTP 403"));
    assert_int_equal(test_write_file(home, "ctok", FAKE_AUTH "\n", 0600, NULL, 0), 0);
    c = resolve(NULL, &err);
    assert_non_null(c);
    aws_creds_free(c);
    /* Plain http to a non-loopback host is refused before any connection. */
    /* Issue 16: userinfo is refused, so "http://localhost:x@HOST/" cannot pass as localhost;
     * the token is not sent anywhere. */
    snprintf(url, sizeof(url), "http://localhost:x@%s/container-creds?userinfo", fake.url + 7);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
    assert_null(resolve(NULL, &err));
    assert_non_null(strstr(err.msg, "userinfo"));
    assert_int_equal(fake_count("GET /container-creds?userinfo"), 0);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://192.0.2.1/creds", 1);
    assert_null(resolve(NULL, &err));
    assert_non_null(strstr(err.msg, "FULL_URI"));
    /* A broken answer is an error without the body. */
    snprintf(url, sizeof(url), "%s/container-creds?broken", fake.url);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
    assert_null(resolve(NULL, &err));
    assert_non_null(strstr(err.msg, "not a JSON object"));
    /* The shared profile beats the container. */
    snprintf(url, sizeof(url), "%s/container-creds", fake.url);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
    write_home("credentials", "[default]\naws_access_key_id = AKIDFILE\n"
                              "aws_secret_access_key = " SECRET "\n");
    c = resolve(NULL, &err);
    assert_string_equal(c->source, "profile");
    aws_creds_free(c);
}

static void test_container_relative_uri(void **state)
{
    struct mk_err err = {0};
    const char *saved = aws_creds_ecs_base;
    aws_creds_ecs_base = fake.url;
    setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/container-creds?relative", 1);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", FAKE_AUTH, 1);
    /* FULL_URI is ignored when RELATIVE_URI is set. */
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://192.0.2.1/never", 1);
    struct aws_creds *c = resolve(NULL, &err);
    aws_creds_ecs_base = saved;
    if (c == NULL) {
        fail_msg("%s", err.msg);
    }
    assert_string_equal(c->source, "container");
    aws_creds_free(c);
    assert_int_equal(fake_count("GET /container-creds?relative"), 1);
}

static void test_imds(void **state)
{
    struct mk_err err = {0};
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", fake.url, 1);
    /* Disabled: the chain ends with "no credentials". */
    assert_null(resolve(NULL, &err));
    assert_int_equal(err.code, MK_ERR_CREDS);
    assert_non_null(strstr(err.msg, "no AWS credentials found"));
    setenv("AWS_EC2_METADATA_DISABLED", "false", 1);
    struct aws_creds *c = resolve(NULL, &err);
    if (c == NULL) {
        fail_msg("%s", err.msg);
    }
    assert_string_equal(c->source, "imds");
    assert_string_equal(pki_secret_str(c->session_token), FAKE_TOKEN);
    assert_int_equal(c->expiration, 4070908800);
    aws_creds_free(c);
    /* The container beats IMDS. */
    char url[256];
    snprintf(url, sizeof(url), "%s/container-creds", fake.url);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", FAKE_AUTH, 1);
    c = resolve(NULL, &err);
    assert_string_equal(c->source, "container");
    aws_creds_free(c);
    /* Nothing listening: IMDS is skipped and the chain reports no credentials. */
    unsetenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1", 1);
    assert_null(resolve(NULL, &err));
    assert_non_null(strstr(err.msg, "no AWS credentials found"));
}

static void get_twice(const char *path)
{
    struct mk_err err = {0};
    char url[256];
    snprintf(url, sizeof(url), "%s%s", fake.url, path);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", FAKE_AUTH, 1);
    struct aws_client_options o = {0};
    struct aws_client *c = aws_client_new(&o, &err);
    struct aws_creds_provider *p = aws_creds_provider_new(c, NULL, &err);
    for (int i = 0; i < 2; i++) {
        struct aws_creds *cr = aws_creds_provider_get(p, &err);
        assert_non_null(cr);
        aws_creds_free(cr);
    }
    aws_creds_provider_free(p);
    aws_client_free(c);
}

static void test_refresh_before_expiry(void **state)
{
    /* Far from expiry: fetched once, then cached. */
    get_twice("/container-creds?exp=far");
    assert_int_equal(fake_count("GET /container-creds?exp=far"), 1);
    /* Expiring within 5 minutes: every use refreshes. */
    get_twice("/container-creds?exp=near");
    assert_int_equal(fake_count("GET /container-creds?exp=near"), 2);
}

static void test_refresh_failure_keeps_valid_creds(void **state)
{
    struct mk_err err = {0};
    char url[256];
    snprintf(url, sizeof(url), "%s/container-creds?exp=near&keep", fake.url);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", FAKE_AUTH, 1);
    struct aws_client_options o = {0};
    struct aws_client *c = aws_client_new(&o, &err);
    struct aws_creds_provider *p = aws_creds_provider_new(c, NULL, &err);
    struct aws_creds *cr = aws_creds_provider_get(p, &err);
    assert_non_null(cr);
    aws_creds_free(cr);
    /* The source breaks; the cached credentials (valid 2 more minutes) are still served. */
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:1/", 1);
    cr = aws_creds_provider_get(p, &err);
    assert_non_null(cr);
    assert_string_equal(pki_secret_str(cr->secret_access_key), FAKE_SECRET);
    aws_creds_free(cr);
    /* Once invalidated nothing valid is left: the error comes through. */
    aws_creds_provider_invalidate(p);
    assert_null(aws_creds_provider_get(p, &err));
    assert_int_equal(err.code, MK_ERR_CREDS);
    assert_clean(&err);
    aws_creds_provider_free(p);
    aws_client_free(c);
}

static void test_iso8601(void **state)
{
    time_t t;
    assert_int_equal(aws_parse_iso8601("2015-08-30T12:36:00Z", &t), 0);
    assert_int_equal(t, 1440938160);
    assert_int_equal(aws_parse_iso8601("2015-08-30T12:36:00.123Z", &t), 0);
    assert_int_equal(t, 1440938160);
    assert_int_equal(aws_parse_iso8601("2015-08-30T14:36:00+02:00", &t), 0);
    assert_int_equal(t, 1440938160);
    assert_int_equal(aws_parse_iso8601("2015-08-30T10:06:00-0230", &t), 0);
    assert_int_equal(t, 1440938160);
    assert_int_equal(aws_parse_iso8601("2015-08-30T12:36:00", &t), 0);
    assert_int_equal(t, 1440938160);
    assert_int_equal(aws_parse_iso8601("2015-08-30T12:36:00+2", &t), -1);
    assert_int_equal(aws_parse_iso8601("2015-08-30", &t), -1);
    assert_int_equal(aws_parse_iso8601("2015-13-30T12:36:00Z", &t), -1);
    assert_int_equal(aws_parse_iso8601("2015-08-30T12:36:00Zjunk", &t), -1);
    assert_int_equal(aws_parse_iso8601(NULL, &t), -1);
}

static void test_creds_make_rejects(void **state)
{
    struct mk_err err = {0};
    assert_null(aws_creds_make("", "s", NULL, 0, "test", &err));
    assert_int_equal(err.code, MK_ERR_CREDS);
    assert_null(aws_creds_make("AKID\nX", "s", NULL, 0, "test", &err));
    assert_null(aws_creds_make("AKID", "", NULL, 0, "test", &err));
}

/* An explicit profile (--profile) is the only source: environment keys and web identity do not
 * override it, and a profile that is missing or holds nothing is an error, not a fall-back. */
static void test_explicit_profile_beats_env(void **state)
{
    struct mk_err err = {0};
    char tok[512];
    write_home("credentials", "[base]\naws_access_key_id = AKIDBASE\n"
                              "aws_secret_access_key = " SECRET "\n");
    write_home("config", "[profile empty]\nregion = us-east-1\n");
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
    assert_int_equal(test_write_file(home, "token", "eyJ.Never+In.sig\n", 0600, tok, sizeof(tok)),
                     0);
    setenv("AWS_WEB_IDENTITY_TOKEN_FILE", tok, 1);
    setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/web", 1);
    struct aws_creds *c = resolve("base", &err);
    if (c == NULL) {
        fail_msg("%s", err.msg);
    }
    assert_string_equal(c->access_key_id, "AKIDBASE");
    assert_string_equal(c->source, "profile");
    aws_creds_free(c);
    assert_null(resolve("nosuch", &err));
    assert_int_equal(err.code, MK_ERR_CREDS);
    assert_non_null(strstr(err.msg, "profile 'nosuch' not found"));
    assert_null(resolve("empty", &err));
    assert_int_equal(err.code, MK_ERR_CREDS);
    assert_non_null(strstr(err.msg, "profile 'empty' has no credentials"));
    /* AWS_PROFILE is not explicit: the environment's keys still come first, as in the SDKs. */
    unsetenv("AWS_WEB_IDENTITY_TOKEN_FILE");
    unsetenv("AWS_ROLE_ARN");
    setenv("AWS_PROFILE", "base", 1);
    c = resolve(NULL, &err);
    assert_non_null(c);
    assert_string_equal(c->access_key_id, "AKIDENV");
    aws_creds_free(c);
}

/* Checks the credentials of a client with endpoint_url = the fake server and the given profile
 * and role_arn option; returns aws_client_check_credentials()'s result. */
static int check_with_endpoint(const char *profile, const char *role_arn, struct mk_err *err)
{
    struct aws_client_options o = {.max_attempts = 1, .request_timeout_ms = 5000};
    o.endpoint_url = fake.url;
    o.profile = profile;
    o.role_arn = role_arn;
    struct aws_client *c = aws_client_new(&o, err);
    assert_non_null(c);
    int rc = aws_client_check_credentials(c, err);
    aws_client_free(c);
    return rc;
}

/* endpoint_url (--endpoint-url) is for the services called and the role_arn option's AssumeRole;
 * the chain's own STS calls follow AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL, then the region. */
static void test_chain_sts_endpoint(void **state)
{
    struct mk_err err = {0};
    char tok[512];
    char text[1024];
    assert_int_equal(test_write_file(home, "token", "eyJ.Never+In.sig\n", 0600, tok, sizeof(tok)),
                     0);
    write_home("credentials", "[base]\naws_access_key_id = AKIDBASE\n"
                              "aws_secret_access_key = " SECRET "\n");
    snprintf(text, sizeof(text),
             "[profile role]\nrole_arn = arn:aws:iam::123456789012:role/mskpki\n"
             "source_profile = base\n"
             "[profile wi]\nrole_arn = arn:aws:iam::123456789012:role/w\n"
             "web_identity_token_file = %s\n",
             tok);
    write_home("config", text);
    long fake_sts = fake_count("/");
    /* AWS_ENDPOINT_URL_STS (moto, from base_env): the fake never sees the chain's calls. */
    if (check_with_endpoint("role", NULL, &err) != 0) {
        fail_msg("%s", err.msg);
    }
    if (check_with_endpoint("wi", NULL, &err) != 0) {
        fail_msg("%s", err.msg);
    }
    assert_int_equal(fake_count("/"), fake_sts);
    /* AWS_ENDPOINT_URL when there is no AWS_ENDPOINT_URL_STS... */
    unsetenv("AWS_ENDPOINT_URL_STS");
    setenv("AWS_ENDPOINT_URL", moto.url, 1);
    if (check_with_endpoint("role", NULL, &err) != 0) {
        fail_msg("%s", err.msg);
    }
    assert_int_equal(fake_count("/"), fake_sts);
    /* ...and AWS_ENDPOINT_URL_STS before it: nothing listens on port 1. */
    setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:1", 1);
    assert_int_equal(check_with_endpoint("role", NULL, &err), -1);
    assert_int_equal(err.code, MK_ERR_NET);
    assert_int_equal(fake_count("/"), fake_sts);
    /* The role_arn option's AssumeRole goes to endpoint_url (the fake answers it with an
     * error), signed with what the chain resolved through AWS_ENDPOINT_URL_STS. */
    setenv("AWS_ENDPOINT_URL_STS", moto.url, 1);
    unsetenv("AWS_ENDPOINT_URL");
    assert_int_equal(check_with_endpoint("role", "arn:aws:iam::210987654321:role/audit", &err), -1);
    assert_int_equal(err.code, MK_ERR_AWS);
    assert_non_null(strstr(err.msg, "assume role arn:aws:iam::210987654321:role/audit"));
    assert_int_equal(fake_count("/"), fake_sts + 1);
    /* Without any override the chain's STS is the regional endpoint (not called here). */
    unsetenv("AWS_ENDPOINT_URL_STS");
    struct aws_client_options o = {.endpoint_url = fake.url};
    struct aws_client *c = aws_client_new(&o, &err);
    assert_non_null(c);
    char *url = aws_client_endpoint_for(c, "sts", 1, &err);
    assert_string_equal(url, "https://sts.us-east-1.amazonaws.com");
    free(url);
    url = aws_client_endpoint_for(c, "sts", 0, &err);
    assert_string_equal(url, fake.url);
    free(url);
    aws_client_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_env, each_setup),
        cmocka_unit_test_setup(test_env_beats_profile, each_setup),
        cmocka_unit_test_setup(test_explicit_profile_beats_env, each_setup),
        cmocka_unit_test_setup(test_chain_sts_endpoint, each_setup),
        cmocka_unit_test_setup(test_profiles, each_setup),
        cmocka_unit_test_setup(test_credential_process, each_setup),
        cmocka_unit_test_setup(test_assume_role_moto, each_setup),
        cmocka_unit_test_setup(test_client_role_arn, each_setup),
        cmocka_unit_test_setup(test_web_identity_moto, each_setup),
        cmocka_unit_test_setup(test_credential_process_timeout, each_setup),
        cmocka_unit_test_setup(test_container, each_setup),
        cmocka_unit_test_setup(test_container_relative_uri, each_setup),
        cmocka_unit_test_setup(test_imds, each_setup),
        cmocka_unit_test_setup(test_refresh_before_expiry, each_setup),
        cmocka_unit_test_setup(test_refresh_failure_keeps_valid_creds, each_setup),
        cmocka_unit_test(test_iso8601),
        cmocka_unit_test(test_creds_make_rejects),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
