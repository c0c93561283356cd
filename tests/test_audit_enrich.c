/* test_audit_enrich.c: remediation commands, ERROR fixes, the scope and the table's --status
 * filter and scope header. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ctl/audit/enrich.h"
#include "ctl/audit/versions.h"

#define ARN_MSK "arn:aws:kafka:us-east-1:111122223333:cluster/c1/abc"
#define ARN_FH "arn:aws:firehose:us-east-1:111122223333:deliverystream/fh-1"

static void add(struct ctl_report *r, const char *check, enum ctl_status st, const char *res,
                const char *msg)
{
    struct mk_err err = {0};
    assert_int_equal(ctl_report_add(r, check, st, CTL_SEV_HIGH, res, "AWS::MSK::Cluster",
                                    "us-east-1", "the FAIL remediation", &err, "%s", msg),
                     0);
}

static void test_remediation_cli(void **state)
{
    struct ctl_report *r = ctl_report_new();
    char buf[1024];
    (void)state;
    add(r, "msk.public_access", CTL_STATUS_FAIL, ARN_MSK, "public");
    add(r, "msk.public_access", CTL_STATUS_PASS, ARN_MSK, "private");
    add(r, "firehose.encryption_cmk", CTL_STATUS_FAIL, ARN_FH, "none");
    add(r, "msk.encryption_at_rest_cmk", CTL_STATUS_FAIL, ARN_MSK, "no template");
    assert_string_equal(audit_remediation_cli(ctl_report_get(r, 0), buf, sizeof(buf)),
                        "aws kafka update-connectivity --region us-east-1 --cluster-arn " ARN_MSK
                        " --current-version <CURRENT_VERSION> --connectivity-info "
                        "'PublicAccess={Type=DISABLED}'");
    assert_null(audit_remediation_cli(ctl_report_get(r, 1), buf, sizeof(buf)));
    assert_non_null(strstr(audit_remediation_cli(ctl_report_get(r, 2), buf, sizeof(buf)),
                           "--delivery-stream-name fh-1 "));
    assert_null(audit_remediation_cli(ctl_report_get(r, 3), buf, sizeof(buf)));
    /* Truncation stays inside the buffer. */
    assert_non_null(audit_remediation_cli(ctl_report_get(r, 0), buf, 10));
    assert_int_equal(strlen(buf), 9);
    ctl_report_free(r);
}

static void test_error_remediation(void **state)
{
    char buf[512];
    (void)state;
    audit_error_remediation("DescribeKey arn:aws:kms:x failed: AccessDeniedException: no", buf,
                            sizeof(buf));
    assert_non_null(strstr(buf, "Allow kms:DescribeKey"));
    assert_non_null(strstr(buf, "key policy"));
    audit_error_remediation("keys used here are unknown: ListClustersV2 failed: "
                            "ForbiddenException: not authorized to perform: kafka:ListClustersV2",
                            buf, sizeof(buf));
    assert_non_null(strstr(buf, "Allow kafka:ListClustersV2"));
    audit_error_remediation("account not audited: AccessDenied: assume role", buf, sizeof(buf));
    assert_non_null(strstr(buf, "sts:AssumeRole"));
    audit_error_remediation("GetKeyRotationStatus failed: ThrottlingException: Rate exceeded", buf,
                            sizeof(buf));
    assert_non_null(strstr(buf, "--concurrency"));
    audit_error_remediation("missing data: no KeyState", buf, sizeof(buf));
    assert_non_null(strstr(buf, "lacked a field"));
    audit_error_remediation("ListStreams failed: NETWORK: connection refused", buf, sizeof(buf));
    assert_non_null(strstr(buf, "kinesis:ListStreams"));
}

static void test_enrich_report(void **state)
{
    struct ctl_report *r = ctl_report_new();
    struct mk_err err = {0};
    (void)state;
    add(r, "msk.public_access", CTL_STATUS_FAIL, ARN_MSK, "public");
    add(r, "msk.acl_default_deny", CTL_STATUS_ERROR, ARN_MSK,
        "DescribeConfigurationRevision x revision 1 failed: AccessDeniedException: no");
    add(r, "msk.tls_in_transit", CTL_STATUS_PASS, ARN_MSK, "ok");
    assert_int_equal(audit_report_enrich(r, &err), 0);
    assert_non_null(strstr(ctl_report_get(r, 0)->remediation_cli, "update-connectivity"));
    assert_string_equal(ctl_report_get(r, 0)->remediation, "the FAIL remediation");
    assert_non_null(
        strstr(ctl_report_get(r, 1)->remediation, "Allow kafka:DescribeConfigurationRevision"));
    assert_null(ctl_report_get(r, 1)->remediation_cli);
    assert_null(ctl_report_get(r, 2)->remediation_cli);
    assert_int_equal(ctl_report_set_field(r, 9, CTL_FIELD_FIRST_SEEN, "x", &err), -1);
    assert_int_equal(ctl_report_set_field(r, 0, CTL_FIELD_REMEDIATION, NULL, &err), -1);
    ctl_report_free(r);
}

static void test_scope_and_table(void **state)
{
    struct audit_eval_options o = {0};
    struct audit_inventory *inv = audit_inventory_new();
    struct ctl_report *r = ctl_report_new();
    struct mk_err err = {0};
    json_t *scope;
    char *text = NULL;
    size_t len = 0;
    struct ctl_rule rules[1] = {audit_rules[AUDIT_MSK_PUBLIC_ACCESS]};
    (void)state;
    o.selected[AUDIT_MSK_PUBLIC_ACCESS] = 1;
    o.selected[AUDIT_MSK_VERSION] = 1;
    assert_int_equal(audit_date_parse("2026-03-31", &o.now), 0);
    scope = audit_scope_new(&o, 1);
    assert_non_null(scope);
    assert_non_null(audit_inventory_add_resource(inv, AUDIT_SVC_MSK, "us-east-1", ARN_MSK,
                                                 "ListClustersV2", json_object()));
    assert_non_null(audit_inventory_add_resource(inv, AUDIT_SVC_FIREHOSE, "eu-west-1", "fh-1",
                                                 "DescribeDeliveryStream",
                                                 json_pack("{s:s}", "DeliveryStreamARN", ARN_FH)));
    assert_non_null(audit_inventory_add_listing(inv, "eu-west-1", AUDIT_SVC_FIREHOSE, "x"));
    assert_int_equal(audit_scope_add(scope, inv, NULL), 0);
    assert_int_equal(audit_scope_add(scope, inv, "222233334444"), 0);
    assert_int_equal(json_array_size(json_object_get(scope, "accounts")), 2);
    assert_string_equal(json_string_value(json_array_get(json_object_get(scope, "accounts"), 0)),
                        "111122223333");
    assert_int_equal(json_array_size(json_object_get(scope, "regions")), 1);
    assert_int_equal(json_array_size(json_object_get(scope, "checks")), 2);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(scope, "resources"), "msk_clusters")),
        2);
    assert_string_equal(json_string_value(json_object_get(scope, "as_of")), "2026-03-31");

    add(r, "msk.public_access", CTL_STATUS_PASS, "arn:pass", "private");
    add(r, "msk.public_access", CTL_STATUS_FAIL, "arn:fail", "public");
    assert_int_equal(ctl_report_set_json(r, "scope", scope, &err), 0);
    ctl_report_set_table_filter(r, 1u << CTL_STATUS_FAIL);
    assert_int_equal(ctl_report_render(r, CTL_FORMAT_TABLE, rules, 1, 0, &text, &len, &err), 0);
    assert_true(strncmp(text, "Scope\n  accounts:  111122223333, 222233334444\n", 46) == 0);
    assert_true(strstr(text, "as of:     2026-03-31") < strstr(text, "STATUS"));
    assert_null(strstr(text, "arn:pass"));
    assert_non_null(strstr(text, "arn:fail\n    public\n    fix: the FAIL remediation\n"));
    assert_non_null(strstr(text, "2 findings: 1 PASS, 1 FAIL"));
    assert_non_null(strstr(text, "(1 shown by --status)"));
    free(text);
    /* json carries the scope; the filter is the table's only. */
    assert_int_equal(ctl_report_render(r, CTL_FORMAT_JSON, rules, 1, 0, &text, &len, &err), 0);
    assert_non_null(strstr(text, "\"scope\""));
    assert_non_null(strstr(text, "arn:pass"));
    free(text);
    ctl_report_free(r);
    audit_inventory_free(inv);
}

static void test_kpis(void **state)
{
    struct audit_eval_options o = {0};
    struct audit_inventory *inv = audit_inventory_new();
    struct audit_key *k;
    json_t *kpis = audit_kpis_new();
    const json_t *e;
    char *prom;
    (void)state;
    o.lookback_days = 7;
    assert_int_equal(audit_date_parse("2026-08-02", &o.now), 0);
    assert_non_null(audit_inventory_add_resource(
        inv, AUDIT_SVC_MSK, "us-east-1", ARN_MSK, "ListClustersV2",
        json_pack("{s:{s:{s:s}}}", "provisioned", "currentBrokerSoftwareInfo", "kafkaVersion",
                  "3.9.x")));
    assert_non_null(audit_inventory_add_resource(
        inv, AUDIT_SVC_MSK, "us-east-1", ARN_MSK "2", "ListClustersV2",
        json_pack("{s:{s:{s:s}}}", "provisioned", "currentBrokerSoftwareInfo", "kafkaVersion",
                  "3.7.x.kraft")));
    assert_non_null(audit_inventory_add_resource(inv, AUDIT_SVC_MSK, "eu-west-1", ARN_MSK "s",
                                                 "ListClustersV2",
                                                 json_pack("{s:s}", "clusterType", "SERVERLESS")));
    k = audit_inventory_add_key(inv, "us-east-1", "alias/app");
    k->describe.data = json_pack("{s:s, s:s}", "Arn", "arn:aws:kms:us-east-1:111122223333:key/k1",
                                 "KeyManager", "CUSTOMER");
    k->trail_fetched = 1;
    k->trail.data = json_pack("{s:i, s:i, s:{s:i}, s:b}", "events", 9, "access_denied", 2,
                              "principals", "arn:aws:iam::1:role/x", 2, "truncated", 0);
    k = audit_inventory_add_key(inv, "us-east-1", "alias/other");
    k->describe.data = json_pack("{s:s}", "Arn", "arn:aws:kms:us-east-1:111122223333:key/k2");
    k->trail_fetched = 1;
    k->trail.failed = 1;
    k->trail.err.code = MK_ERR_AWS;
    snprintf(k->trail.err.ext_code, sizeof(k->trail.err.ext_code), "AccessDeniedException");
    assert_int_equal(audit_kpis_add(kpis, inv, &o, NULL), 0);

    e = json_object_get(kpis, "oldest_kafka_version");
    assert_int_equal(json_array_size(e), 1); /* eu-west-1 has only a serverless cluster */
    e = json_array_get(e, 0);
    assert_string_equal(json_string_value(json_object_get(e, "version")), "3.7.x.kraft");
    assert_string_equal(json_string_value(json_object_get(e, "account")), "111122223333");
    assert_int_equal(json_integer_value(json_object_get(e, "days_until_eos")), 30);
    e = json_object_get(kpis, "kms_access_denied");
    assert_int_equal(json_array_size(e), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(e, 0), "access_denied")), 2);
    assert_true(json_is_null(json_object_get(json_array_get(e, 1), "access_denied")));

    prom = audit_kpis_prometheus(kpis);
    assert_non_null(strstr(prom, "mskpki_audit_kms_access_denied_events{account=\"111122223333\","
                                 "region=\"us-east-1\",key=\"arn:aws:kms:us-east-1:111122223333:"
                                 "key/k1\"} 2\n"));
    assert_non_null(strstr(prom, "key/k2\"} NaN\n"));
    assert_non_null(strstr(prom, "version=\"3.7.x.kraft\"} 2592000\n"));
    free(prom);
    json_decref(kpis);
    audit_inventory_free(inv);
}

/* Every check renders its command whole for a FAIL: the resource's ARN (or, for Firehose, its
 * name) and region filled in, no placeholder left.  The only checks without one have no
 * in-place fix (the MSK key is chosen at creation, a CA certificate is replaced by a new CA) or
 * never fail (pca.usage_mode). */
static void test_remediation_cli_all_checks(void **state)
{
    static const char *const without[] = {"msk.encryption_at_rest_cmk", "pca.certificate_expiry",
                                          "pca.usage_mode"};
    char buf[2048];
    char arn[256];
    (void)state;
    for (int c = 0; c < AUDIT_CHECK__MAX; c++) {
        struct ctl_report *r = ctl_report_new();
        const char *cmd;
        int expect_none = 0;
        snprintf(arn, sizeof(arn), "arn:aws:test:us-east-1:111122223333:thing/res-%d", c);
        add(r, audit_rules[c].id, CTL_STATUS_FAIL, arn, "failing");
        cmd = audit_remediation_cli(ctl_report_get(r, 0), buf, sizeof(buf));
        for (size_t i = 0; i < sizeof(without) / sizeof(without[0]); i++) {
            expect_none |= strcmp(audit_rules[c].id, without[i]) == 0;
        }
        if (expect_none) {
            assert_null(cmd);
            ctl_report_free(r);
            continue;
        }
        assert_non_null(cmd);
        assert_true(strncmp(cmd, "aws ", 4) == 0);
        assert_non_null(strstr(cmd, "--region us-east-1"));
        snprintf(arn, sizeof(arn), "res-%d", c); /* the name is the ARN's tail: both contain it */
        assert_non_null(strstr(cmd, arn));
        assert_null(strstr(cmd, "{arn}"));
        assert_null(strstr(cmd, "{region}"));
        assert_null(strstr(cmd, "{name}"));
        ctl_report_free(r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_remediation_cli),
        cmocka_unit_test(test_remediation_cli_all_checks),
        cmocka_unit_test(test_error_remediation),
        cmocka_unit_test(test_enrich_report),
        cmocka_unit_test(test_scope_and_table),
        cmocka_unit_test(test_kpis),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
