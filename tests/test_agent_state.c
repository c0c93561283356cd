/* test_agent_state.c: the state file schema round trip and its rejections (agent/state.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "agent/state.h"
#include "issue/issue.h"

static void sample(struct agent_status *st)
{
    memset(st, 0, sizeof(*st));
    snprintf(st->name, sizeof(st->name), "client-a");
    snprintf(st->ca, sizeof(st->ca), "aws-pca");
    st->ready = 1;
    snprintf(st->subject, sizeof(st->subject), "CN=producer \"one\",O=Example\\, Inc.");
    snprintf(st->issuer, sizeof(st->issuer), "CN=mskpki local CA");
    snprintf(st->serial, sizeof(st->serial), "0A1B2C");
    st->not_before = 1700000000;
    st->not_after = 1702592000;
    st->next_renewal = 1701728000;
    st->last_attempt = 1700000100;
    st->last_success = 1700000100;
    st->last_result = AGENT_RESULT_FAILURE;
    snprintf(st->last_error, sizeof(st->last_error), "ca: ThrottlingException: slow down");
    st->consecutive_failures = 3;
    st->generation = 42;
    snprintf(st->cert_path, sizeof(st->cert_path), "/etc/kafka/tls/client.crt");
    st->updated = 1700000200;
}

static void test_round_trip(void **state)
{
    struct agent_status a;
    struct agent_status b;
    struct mk_err err;
    char *text;

    (void)state;
    sample(&a);
    text = agent_state_to_json(&a, &err);
    assert_non_null(text);
    assert_int_equal(agent_state_from_json(text, strlen(text), &b, &err), 0);
    assert_memory_equal(&a, &b, sizeof(a));
    free(text);
}

static void test_exact_schema(void **state)
{
    static const char *const keys[] = {
        "version",      "name",         "ca",          "ready",      "subject",
        "issuer",       "serial",       "not_before",  "not_after",  "next_renewal",
        "last_attempt", "last_success", "last_result", "last_error", "consecutive_failures",
        "generation",   "cert_path",    "updated"};
    struct agent_status a;
    struct mk_err err;
    json_error_t jerr;
    char *text;
    json_t *o;

    (void)state;
    sample(&a);
    a.last_error[0] = '\0';
    a.last_result = AGENT_RESULT_SUCCESS;
    a.ready = 0;
    text = agent_state_to_json(&a, &err);
    assert_non_null(text);
    o = json_loads(text, 0, &jerr);
    assert_non_null(o);
    assert_int_equal(json_object_size(o), sizeof(keys) / sizeof(keys[0]));
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        assert_non_null(json_object_get(o, keys[i]));
    }
    assert_int_equal(json_integer_value(json_object_get(o, "version")), 1);
    assert_true(json_is_null(json_object_get(o, "last_error")));
    assert_true(json_is_false(json_object_get(o, "ready")));
    assert_string_equal(json_string_value(json_object_get(o, "last_result")), "success");
    assert_string_equal(json_string_value(json_object_get(o, "ca")), "aws-pca");
    assert_int_equal(json_integer_value(json_object_get(o, "generation")), 42);
    json_decref(o);
    free(text);
}

static void expect_invalid(const char *text, const char *needle)
{
    struct agent_status b;
    struct mk_err err;

    memset(&b, 0x5a, sizeof(b));
    assert_int_equal(agent_state_from_json(text, strlen(text), &b, &err), -1);
    assert_int_equal(err.code, MK_ERR_INVALID);
    assert_non_null(strstr(err.msg, needle));
}

static void test_rejects(void **state)
{
    struct agent_status a;
    struct mk_err err;
    char *text;
    char *bad;
    char *p;

    (void)state;
    expect_invalid("not json", "state:");
    expect_invalid("[]", "not a JSON object");
    expect_invalid("{\"version\":2}", "unsupported version");
    sample(&a);
    text = agent_state_to_json(&a, &err);
    assert_non_null(text);
    /* Wrong types name the field. */
    bad = strdup(text);
    p = strstr(bad, "\"ready\":true");
    assert_non_null(p);
    memcpy(p, "\"ready\":1   ", 12);
    expect_invalid(bad, "'ready'");
    free(bad);
    bad = strdup(text);
    p = strstr(bad, "\"last_result\":\"failure\"");
    assert_non_null(p);
    memcpy(p + 15, "failed!", 7);
    expect_invalid(bad, "'last_result'");
    free(bad);
    bad = strdup(text);
    p = strstr(bad, "\"generation\":42");
    assert_non_null(p);
    memcpy(p + 13, "-1", 2);
    expect_invalid(bad, "'generation'");
    free(bad);
    free(text);
}

static void test_write_read_file(void **state)
{
    char tmpl[] = "/tmp/test_agent_state.XXXXXX";
    char path[256];
    struct agent_status a;
    struct agent_status b;
    struct mk_err err;
    struct stat st;
    char *dir;

    (void)state;
    dir = mkdtemp(tmpl);
    assert_non_null(dir);
    assert_int_equal(agent_state_read(dir, "client-a", &b, &err), -1);
    assert_int_equal(err.code, MK_ERR_NOTFOUND);
    sample(&a);
    assert_int_equal(agent_state_write(dir, &a, &err), 0);
    assert_int_equal(agent_state_read(dir, "client-a", &b, &err), 0);
    assert_memory_equal(&a, &b, sizeof(a));
    snprintf(path, sizeof(path), "%s/client-a.json", dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);
    /* A corrupt file is an error naming the file, not a crash. */
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"version\":1,", f);
    fclose(f);
    assert_int_equal(agent_state_read(dir, "client-a", &b, &err), -1);
    assert_int_equal(err.code, MK_ERR_INVALID);
    assert_non_null(strstr(err.msg, path));
    unlink(path);
    rmdir(dir);
}

static void test_path(void **state)
{
    char small[8];
    char buf[64];

    (void)state;
    assert_int_equal(issue_state_path(buf, sizeof(buf), "/var/lib/mskpki", "a", ".json"), 0);
    assert_string_equal(buf, "/var/lib/mskpki/a.json");
    assert_int_equal(issue_state_path(small, sizeof(small), "/var/lib/mskpki", "a", ".json"), -1);
    assert_string_equal(agent_result_name(AGENT_RESULT_NONE), "none");
    assert_string_equal(agent_result_name((enum agent_result)99), "none");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip), cmocka_unit_test(test_exact_schema),
        cmocka_unit_test(test_rejects),    cmocka_unit_test(test_write_read_file),
        cmocka_unit_test(test_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
