/* test_audit_report.c: finding list, ordering, --fail-on logic and the four writers. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "ctl/audit/checks.h"
#include "ctl/audit/report.h"
#include "ctl/output.h"

static void add(struct ctl_report *r, const char *check, enum ctl_status st, enum ctl_severity sev,
                const char *resource, const char *region, const char *msg)
{
    struct mk_err err = {0};
    assert_int_equal(ctl_report_add(r, check, st, sev, resource, "AWS::MSK::Cluster", region,
                                    "fix <it> & \"go\"", &err, "%s", msg),
                     0);
}

static struct ctl_report *sample(int reversed)
{
    struct ctl_report *r = ctl_report_new();
    const struct {
        const char *check;
        enum ctl_status st;
        enum ctl_severity sev;
        const char *res;
        const char *region;
        const char *msg;
    } rows[] = {
        {"msk.kafka_version", CTL_STATUS_FAIL, CTL_SEV_HIGH, "arn:b", "us-east-1", "old <2.5>"},
        {"msk.kafka_version", CTL_STATUS_PASS, CTL_SEV_HIGH, "arn:a", "us-east-1", "ok"},
        {"kms.key_rotation", CTL_STATUS_FAIL, CTL_SEV_MEDIUM, "arn:k", "eu-west-1", "off"},
        {"msk.tls_in_transit", CTL_STATUS_ERROR, CTL_SEV_MEDIUM, "*", "ap-south-1",
         "AccessDeniedException: no\x01way"},
        {"msk.mtls_required", CTL_STATUS_NOT_APPLICABLE, CTL_SEV_HIGH, "arn:s", "us-east-1",
         "serverless & 'iam'"},
        {"msk.kafka_version", CTL_STATUS_PASS, CTL_SEV_HIGH, "arn:a", "eu-west-1", "ok"},
    };
    size_t n = sizeof(rows) / sizeof(rows[0]);
    assert_non_null(r);
    for (size_t k = 0; k < n; k++) {
        size_t i = reversed ? n - 1 - k : k;
        add(r, rows[i].check, rows[i].st, rows[i].sev, rows[i].res, rows[i].region, rows[i].msg);
    }
    ctl_report_sort(r);
    return r;
}

static char *render(const struct ctl_report *r, enum ctl_format fmt, int colour)
{
    char *out = NULL;
    size_t len = 0;
    struct mk_err err = {0};
    struct ctl_rule rules[AUDIT_CHECK__MAX];
    for (int i = 0; i < AUDIT_CHECK__MAX; i++) {
        rules[i] = audit_rules[i];
    }
    assert_int_equal(ctl_report_render(r, fmt, rules, AUDIT_CHECK__MAX, colour, &out, &len, &err),
                     0);
    assert_int_equal(strlen(out), len);
    return out;
}

static void test_sort_stable(void **state)
{
    struct ctl_report *a = sample(0);
    struct ctl_report *b = sample(1);
    char *ja, *jb;
    (void)state;
    assert_string_equal(ctl_report_get(a, 0)->check, "kms.key_rotation");
    assert_string_equal(ctl_report_get(a, 1)->region, "eu-west-1");
    assert_string_equal(ctl_report_get(a, 2)->resource, "arn:a");
    assert_string_equal(ctl_report_get(a, 3)->resource, "arn:b");
    ja = render(a, CTL_FORMAT_JSON, 0);
    jb = render(b, CTL_FORMAT_JSON, 0);
    assert_string_equal(ja, jb);
    free(ja);
    free(jb);
    ctl_report_free(a);
    ctl_report_free(b);
}

static void test_fail_on(void **state)
{
    struct ctl_report *r = ctl_report_new();
    (void)state;
    assert_false(ctl_report_failed(r, CTL_SEV_LOW));
    add(r, "kms.key_rotation", CTL_STATUS_FAIL, CTL_SEV_MEDIUM, "k", "r", "m");
    add(r, "msk.kafka_version", CTL_STATUS_PASS, CTL_SEV_HIGH, "k", "r", "m");
    add(r, "msk.kafka_version", CTL_STATUS_NOT_APPLICABLE, CTL_SEV_HIGH, "k2", "r", "m");
    assert_true(ctl_report_failed(r, CTL_SEV_LOW));
    assert_true(ctl_report_failed(r, CTL_SEV_MEDIUM));
    assert_false(ctl_report_failed(r, CTL_SEV_HIGH));
    /* An ERROR fails the run whatever its severity and the threshold. */
    add(r, "msk.tls_in_transit", CTL_STATUS_ERROR, CTL_SEV_LOW, "k", "r", "m");
    assert_true(ctl_report_failed(r, CTL_SEV_HIGH));
    ctl_report_free(r);
}

static void test_parse_names(void **state)
{
    enum ctl_format f;
    enum ctl_severity s;
    (void)state;
    assert_int_equal(ctl_format_parse("sarif", &f), 0);
    assert_int_equal(f, CTL_FORMAT_SARIF);
    assert_int_equal(ctl_format_parse("xml", &f), -1);
    assert_int_equal(ctl_severity_parse("medium", &s), 0);
    assert_int_equal(s, CTL_SEV_MEDIUM);
    assert_int_equal(ctl_severity_parse("critical", &s), -1);
    assert_string_equal(ctl_status_name(CTL_STATUS_NOT_APPLICABLE), "NOT_APPLICABLE");
}

static void test_add_rejects_null(void **state)
{
    struct ctl_report *r = ctl_report_new();
    struct mk_err err = {0};
    (void)state;
    assert_int_equal(
        ctl_report_add(r, "c", CTL_STATUS_PASS, CTL_SEV_LOW, NULL, "t", "r", "x", &err, "m"), -1);
    assert_int_equal(err.code, MK_ERR_INVALID);
    assert_int_equal(ctl_report_count(r), 0);
    ctl_report_free(r);
}

static void test_json(void **state)
{
    struct ctl_report *r = sample(0);
    char *text = render(r, CTL_FORMAT_JSON, 0);
    json_error_t e;
    json_t *root = json_loads(text, 0, &e);
    json_t *f0, *summary;
    (void)state;
    assert_non_null(root);
    assert_int_equal(json_array_size(json_object_get(root, "findings")), 6);
    f0 = json_array_get(json_object_get(root, "findings"), 0);
    assert_string_equal(json_string_value(json_object_get(f0, "check")), "kms.key_rotation");
    assert_string_equal(json_string_value(json_object_get(f0, "status")), "FAIL");
    assert_string_equal(json_string_value(json_object_get(f0, "severity")), "medium");
    assert_string_equal(json_string_value(json_object_get(f0, "resource_type")),
                        "AWS::MSK::Cluster");
    assert_string_equal(json_string_value(json_object_get(f0, "remediation")), "fix <it> & \"go\"");
    summary = json_object_get(root, "summary");
    assert_int_equal(json_integer_value(json_object_get(summary, "PASS")), 2);
    assert_int_equal(json_integer_value(json_object_get(summary, "FAIL")), 2);
    assert_int_equal(json_integer_value(json_object_get(summary, "ERROR")), 1);
    assert_int_equal(json_integer_value(json_object_get(summary, "NOT_APPLICABLE")), 1);
    assert_int_equal(json_integer_value(json_object_get(summary, "total")), 6);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(summary, "fail_by_severity"), "high")),
        1);
    json_decref(root);
    free(text);
    ctl_report_free(r);
}

static void test_sarif(void **state)
{
    struct ctl_report *r = sample(0);
    char *text = render(r, CTL_FORMAT_SARIF, 0);
    json_error_t e;
    json_t *root = json_loads(text, 0, &e);
    json_t *run, *results;
    (void)state;
    assert_non_null(root);
    assert_string_equal(json_string_value(json_object_get(root, "version")), "2.1.0");
    run = json_array_get(json_object_get(root, "runs"), 0);
    assert_int_equal(json_array_size(json_object_get(
                         json_object_get(json_object_get(run, "tool"), "driver"), "rules")),
                     AUDIT_CHECK__MAX);
    results = json_object_get(run, "results");
    /* FAIL and ERROR only: two FAIL, one ERROR. */
    assert_int_equal(json_array_size(results), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(results, 0), "level")),
                        "warning");
    assert_string_equal(json_string_value(json_object_get(json_array_get(results, 1), "level")),
                        "error");
    assert_string_equal(json_string_value(json_object_get(json_array_get(results, 1), "ruleId")),
                        "msk.kafka_version");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(results, 1), "ruleIndex")),
                     AUDIT_MSK_VERSION);
    /* Code scanning needs a relative artifact path and a fingerprint on every result. */
    for (size_t i = 0; i < json_array_size(results); i++) {
        json_t *res = json_array_get(results, i);
        json_t *loc = json_array_get(json_object_get(res, "locations"), 0);
        const char *uri = json_string_value(json_object_get(
            json_object_get(json_object_get(loc, "physicalLocation"), "artifactLocation"), "uri"));
        const char *fp = json_string_value(
            json_object_get(json_object_get(res, "partialFingerprints"), "mskpkiFinding/v1"));
        assert_non_null(uri);
        assert_null(strchr(uri, ':'));
        assert_true(uri[0] != '/');
        assert_non_null(fp);
        assert_int_equal(strlen(fp), 64);
    }
    json_decref(root);
    free(text);
    ctl_report_free(r);
}

static void test_sarif_uri(void **state)
{
    struct ctl_finding f = {0};
    char uri[128];
    (void)state;
    f.resource = "arn:aws:kafka:us-east-1:123456789012:cluster/demo/1a2b-3";
    f.region = "us-east-1";
    f.resource_type = "AWS::MSK::Cluster";
    ctl_sarif_uri(&f, uri, sizeof(uri));
    assert_string_equal(uri, "aws/kafka/us-east-1/123456789012/cluster/demo/1a2b-3");
    /* Empty ARN fields are dropped; colons after the fourth are the resource's own. */
    f.resource = "arn:aws:acm-pca:::template/EndEntity:V1";
    ctl_sarif_uri(&f, uri, sizeof(uri));
    assert_string_equal(uri, "aws/acm-pca/template/EndEntity%3AV1");
    f.resource = "*";
    ctl_sarif_uri(&f, uri, sizeof(uri));
    assert_string_equal(uri, "aws/listing/us-east-1/AWS%3A%3AMSK%3A%3ACluster");
    /* Truncated, still terminated. */
    f.resource = "arn:aws:kinesis:eu-west-1:1:stream/a-very-long-stream-name";
    ctl_sarif_uri(&f, uri, 16);
    assert_int_equal(strlen(uri), 15);
}

static void test_junit_and_table(void **state)
{
    struct ctl_report *r = sample(0);
    char *x = render(r, CTL_FORMAT_JUNIT, 0);
    char *t = render(r, CTL_FORMAT_TABLE, 0);
    char *c = render(r, CTL_FORMAT_TABLE, 1);
    (void)state;
    assert_non_null(strstr(x, "<testsuites name=\"mskpkictl audit\" tests=\"6\" failures=\"2\" "
                              "errors=\"1\" skipped=\"1\">"));
    assert_non_null(strstr(x, "<testsuite name=\"msk.kafka_version\" tests=\"3\" failures=\"1\" "
                              "errors=\"0\" skipped=\"0\">"));
    assert_non_null(strstr(x, "<failure type=\"high\" message=\"old &lt;2.5&gt;\">"));
    assert_non_null(strstr(x, "<skipped message=\"serverless &amp; &apos;iam&apos;\"/>"));
    assert_non_null(strstr(x, "no?way")); /* control character not emitted */
    assert_null(strchr(x, '\x01'));
    /* A check without findings still gets its (empty) suite. */
    assert_non_null(strstr(x, "<testsuite name=\"firehose.encryption_cmk\" tests=\"0\""));
    assert_non_null(strstr(t, "6 findings: 2 PASS, 2 FAIL, 1 ERROR, 1 NOT_APPLICABLE"));
    assert_null(strstr(t, "\033["));
    assert_non_null(strstr(c, "\033[1;31mFAIL"));
    free(x);
    free(t);
    free(c);
    ctl_report_free(r);
}

static int count_entries(const char *dir)
{
    int n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    }
    closedir(d);
    return n;
}

static void test_atomic_write(void **state)
{
    char tmpl[] = "/tmp/mskpki-audit-XXXXXX";
    char *dir = mkdtemp(tmpl);
    char path[256], sub[256], missing[256], buf[64] = {0};
    struct mk_err err = {0};
    FILE *f;
    (void)state;
    assert_non_null(dir);
    snprintf(path, sizeof(path), "%s/report.json", dir);
    assert_int_equal(ctl_write_report("--output", path, "{\"a\":1}\n", 8, &err), 0);
    f = fopen(path, "r");
    assert_non_null(f);
    assert_int_equal(fread(buf, 1, sizeof(buf) - 1, f), 8);
    fclose(f);
    assert_string_equal(buf, "{\"a\":1}\n");
    assert_int_equal(count_entries(dir), 1);

    /* rename onto a directory fails: no temporary file is left and the target is untouched. */
    snprintf(sub, sizeof(sub), "%s/adir", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    assert_int_equal(ctl_write_report("--output", sub, "x", 1, &err), -1);
    assert_int_equal(err.code, MK_ERR_IO);
    assert_non_null(strstr(err.msg, "adir"));
    assert_int_equal(count_entries(dir), 2);

    /* A missing directory fails cleanly too. */
    snprintf(missing, sizeof(missing), "%s/nope/report.json", dir);
    assert_int_equal(ctl_write_report("--output", missing, "x", 1, &err), -1);
    assert_int_equal(count_entries(dir), 2);

    assert_int_equal(rmdir(sub), 0);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(rmdir(dir), 0);
}

/* Runs promtool check metrics on text; returns its exit status. */
static int promtool_check(const char *text)
{
    char tmpl[] = "/tmp/mskpki-prom-XXXXXX";
    char cmd[256];
    int fd = mkstemp(tmpl), st;
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    snprintf(cmd, sizeof(cmd), "promtool check metrics < %s >/dev/null 2>&1", tmpl);
    st = system(cmd);
    unlink(tmpl);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

static void test_prometheus(void **state)
{
    struct ctl_report *r = sample(0);
    char *text, *broken;
    (void)state;
    ctl_report_set_time(r, 1767225600);
    text = render(r, CTL_FORMAT_PROMETHEUS, 0);
    assert_non_null(strstr(text, "# TYPE mskpki_audit_resources gauge\n"));
    assert_non_null(strstr(text, "mskpki_audit_resources{check=\"msk.kafka_version\","
                                 "status=\"PASS\"} 2\n"));
    assert_non_null(strstr(text, "mskpki_audit_resources{check=\"msk.kafka_version\","
                                 "status=\"FAIL\"} 1\n"));
    assert_non_null(strstr(text, "mskpki_audit_resources{check=\"pca.status\","
                                 "status=\"ERROR\"} 0\n"));
    /* 2 of 3 evaluated PASS; an ERROR is never compliant; NOT_APPLICABLE is out of scope. */
    assert_non_null(strstr(text, "mskpki_audit_compliance_ratio{check=\"msk.kafka_version\"} "
                                 "0.666667\n"));
    assert_non_null(strstr(text, "mskpki_audit_compliance_ratio{check=\"msk.tls_in_transit\"} 0\n"));
    assert_non_null(strstr(text, "mskpki_audit_compliance_ratio{check=\"msk.mtls_required\"} NaN\n"));
    assert_non_null(strstr(text, "mskpki_audit_last_run_timestamp_seconds 1767225600\n"));
    assert_int_equal(promtool_check(text), 0);
    /* The check can fail: a truncated sample line is rejected. */
    broken = strdup(text);
    strstr(broken, "0.666667\n")[-2] = '\n';
    assert_int_not_equal(promtool_check(broken), 0);
    free(broken);
    free(text);
    ctl_report_free(r);
}

static void test_kpi_and_account(void **state)
{
    struct ctl_report *r = ctl_report_new();
    struct mk_err err = {0};
    struct ctl_kpi kpi;
    char *text;
    json_t *root, *by, *f0;
    (void)state;
    add(r, "msk.kafka_version", CTL_STATUS_PASS, CTL_SEV_HIGH, "arn:z", "us-east-1", "ok");
    assert_int_equal(ctl_report_set_account(r, "222233334444", &err), 0);
    add(r, "msk.kafka_version", CTL_STATUS_FAIL, CTL_SEV_HIGH, "arn:a", "us-east-1", "old");
    assert_int_equal(ctl_report_set_account(r, "111122223333", &err), 0);
    add(r, "msk.kafka_version", CTL_STATUS_ERROR, CTL_SEV_HIGH, "*", "us-east-1", "denied");
    add(r, "msk.kafka_version", CTL_STATUS_NOT_APPLICABLE, CTL_SEV_HIGH, "arn:s", "us-east-1",
        "serverless");
    ctl_report_sort(r);
    ctl_report_kpi(r, "msk.kafka_version", &kpi);
    assert_int_equal(kpi.resources, 4);
    assert_int_equal(kpi.evaluated, 3);
    assert_int_equal(kpi.counts[CTL_STATUS_PASS], 1);
    /* Sorted by check, then account (none first), then region and resource. */
    assert_null(ctl_report_get(r, 0)->account);
    assert_string_equal(ctl_report_get(r, 1)->account, "111122223333");
    assert_string_equal(ctl_report_get(r, 3)->account, "222233334444");

    text = render(r, CTL_FORMAT_JSON, 0);
    root = json_loads(text, 0, NULL);
    assert_non_null(root);
    f0 = json_array_get(json_object_get(root, "findings"), 0);
    assert_null(json_object_get(f0, "account"));
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(root, "findings"), 3), "account")),
                        "222233334444");
    by = json_object_get(json_object_get(root, "summary"), "by_check");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(by, "msk.kafka_version"),
                                                        "resources")),
                     4);
    assert_true(json_real_value(json_object_get(json_object_get(by, "msk.kafka_version"),
                                                "compliance_percent")) == 33.33);
    assert_true(json_is_null(json_object_get(json_object_get(by, "kms.key_state"),
                                             "compliance_percent")));
    assert_non_null(strstr(text, "\"compliance_percent\": 33.33"));
    json_decref(root);
    free(text);
    text = render(r, CTL_FORMAT_TABLE, 0);
    assert_non_null(strstr(text, "222233334444/us-east-1"));
    assert_non_null(strstr(text, "33.3%"));
    free(text);
    text = render(r, CTL_FORMAT_JUNIT, 0);
    assert_non_null(strstr(text, "arn:a (222233334444 us-east-1)"));
    free(text);
    text = render(r, CTL_FORMAT_SARIF, 0);
    assert_non_null(strstr(text, "\"account\": \"111122223333\""));
    free(text);
    ctl_report_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sort_stable),
        cmocka_unit_test(test_fail_on),
        cmocka_unit_test(test_parse_names),
        cmocka_unit_test(test_add_rejects_null),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_sarif),
        cmocka_unit_test(test_sarif_uri),
        cmocka_unit_test(test_junit_and_table),
        cmocka_unit_test(test_atomic_write),
        cmocka_unit_test(test_prometheus),
        cmocka_unit_test(test_kpi_and_account),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
