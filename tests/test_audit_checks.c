/* test_audit_checks.c: version comparison and the audit checks over recorded AWS answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ctl/audit_checks.h"

#define ARN_KEY_CMK "arn:aws:kms:us-east-1:111122223333:key/11111111-1111-1111-1111-111111111111"
#define ARN_KEY_AWS "arn:aws:kms:us-east-1:111122223333:key/22222222-2222-2222-2222-222222222222"
#define ARN_MSK "arn:aws:kafka:us-east-1:111122223333:cluster/c1/abc"
#define ARN_CA "arn:aws:acm-pca:us-east-1:111122223333:certificate-authority/ca1"

static int cmp(const char *a, const char *b)
{
    int c = 99;
    assert_int_equal(audit_version_cmp(a, b, &c), 0);
    return c;
}

static void test_version_order(void **state)
{
    (void)state;
    assert_true(cmp("2.2.1", "2.5.1") < 0);
    assert_true(cmp("2.5.1", "2.8.2.tiered") < 0);
    assert_true(cmp("2.8.2.tiered", "3.5.1") < 0);
    assert_true(cmp("3.5.1", "3.10.0") < 0);
    assert_true(cmp("3.10.0", "3.9.9") > 0); /* numeric, not lexical */
    assert_true(cmp("2.10.0", "2.9.1") > 0);
    assert_int_equal(cmp("2.8.2.tiered", "2.8.2"), 0);
    assert_int_equal(cmp("2.5.1", "2.5.1"), 0);
    assert_int_equal(cmp("3.6", "3.6.0"), 0);
    assert_true(cmp("1.1.1", "2.5.1") < 0);
    assert_true(cmp("3.7.x", "3.7.1") > 0); /* AWS-managed patch level */
    assert_true(cmp("3.7.x", "3.8.0") < 0);
    assert_true(cmp("2.5.1", "2.5.0") > 0);
}

static void test_version_invalid(void **state)
{
    int c = 0;
    (void)state;
    assert_int_equal(audit_version_cmp("", "2.5.1", &c), -1);
    assert_int_equal(audit_version_cmp("v2.5.1", "2.5.1", &c), -1);
    assert_int_equal(audit_version_cmp("2.5.1", "latest", &c), -1);
    assert_int_equal(audit_version_cmp(NULL, "2.5.1", &c), -1);
    assert_false(audit_version_valid("default-kafka-version"));
    assert_true(audit_version_valid("2.5.1"));
    assert_true(audit_version_valid("3"));
}

static void test_check_lookup(void **state)
{
    (void)state;
    assert_int_equal(audit_check_lookup("msk.kafka_version"), AUDIT_MSK_VERSION);
    assert_int_equal(audit_check_lookup("kms.key_policy_public"), AUDIT_KMS_POLICY);
    assert_int_equal(audit_check_lookup("msk.nope"), -1);
    assert_int_equal(audit_check_lookup(NULL), -1);
}

/* ---- evaluation over a hand-built inventory ---- */

struct fixture {
    struct audit_inventory *inv;
    struct ctl_report *report;
    struct audit_eval_options opts;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->inv = audit_inventory_new();
    f->report = ctl_report_new();
    for (int i = 0; i < AUDIT_CHECK__MAX; i++) {
        f->opts.selected[i] = 1;
    }
    /* tags.ownership is off unless --required-tags is given; the tags tests turn it on. */
    f->opts.selected[AUDIT_TAGS_OWNERSHIP] = 0;
    f->opts.min_kafka_version = AUDIT_DEFAULT_MIN_KAFKA;
    f->opts.ca_min_days = AUDIT_DEFAULT_CA_MIN_DAYS;
    f->opts.cert_days = AUDIT_DEFAULT_CERT_DAYS;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    audit_inventory_free(f->inv);
    ctl_report_free(f->report);
    free(f);
    return 0;
}

static json_t *load(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    if (j == NULL) {
        fail_msg("bad test JSON line %d: %s", e.line, e.text);
    }
    return j;
}

static void add_key(struct fixture *f, const char *region, const char *ref, const char *meta)
{
    struct audit_key *k = audit_inventory_add_key(f->inv, region, ref);
    assert_non_null(k);
    k->describe.data = load(meta);
}

static void evaluate(struct fixture *f)
{
    struct mk_err err = {0};
    assert_int_equal(audit_evaluate(f->inv, &f->opts, f->report, &err), 0);
    ctl_report_sort(f->report);
}

/* The finding for (check, resource), or a test failure when there is none or several. */
static const struct ctl_finding *find(struct fixture *f, const char *check, const char *resource)
{
    const struct ctl_finding *hit = NULL;
    for (size_t i = 0; i < ctl_report_count(f->report); i++) {
        const struct ctl_finding *x = ctl_report_get(f->report, i);
        if (strcmp(x->check, check) == 0 && strcmp(x->resource, resource) == 0) {
            assert_null(hit);
            hit = x;
        }
    }
    if (hit == NULL) {
        fail_msg("no finding %s for %s", check, resource);
    }
    return hit;
}

static void expect(struct fixture *f, const char *check, const char *resource,
                   enum ctl_status status, const char *needle)
{
    const struct ctl_finding *x = find(f, check, resource);
    if (x->status != status) {
        fail_msg("%s %s: status %s (%s), want %s", check, resource, ctl_status_name(x->status),
                 x->message, ctl_status_name(status));
    }
    if (needle != NULL && strstr(x->message, needle) == NULL) {
        fail_msg("%s %s: message '%s' lacks '%s'", check, resource, x->message, needle);
    }
}

static void add_msk(struct fixture *f, const char *json)
{
    json_t *j = load(json);
    const char *arn = json_string_value(json_object_get(j, "clusterArn"));
    assert_non_null(
        audit_inventory_add_resource(f->inv, AUDIT_SVC_MSK, "us-east-1", arn, "ListClustersV2", j));
}

static const char *good_cluster =
    "{\"clusterArn\":\"" ARN_MSK "\",\"clusterType\":\"PROVISIONED\",\"provisioned\":{"
    "\"currentBrokerSoftwareInfo\":{\"kafkaVersion\":\"3.10.0\"},"
    "\"encryptionInfo\":{\"encryptionAtRest\":{\"dataVolumeKMSKeyId\":\"" ARN_KEY_CMK "\"},"
    "\"encryptionInTransit\":{\"clientBroker\":\"TLS\",\"inCluster\":true}},"
    "\"clientAuthentication\":{\"tls\":{\"certificateAuthorityArnList\":[\"" ARN_CA "\"],"
    "\"enabled\":true},\"unauthenticated\":{\"enabled\":false}}}}";

static const char *cmk_meta = "{\"Arn\":\"" ARN_KEY_CMK "\",\"KeyManager\":\"CUSTOMER\","
                              "\"KeyState\":\"Enabled\"}";
static const char *aws_meta = "{\"Arn\":\"" ARN_KEY_AWS "\",\"KeyManager\":\"AWS\","
                              "\"KeyState\":\"Enabled\"}";

static void set_details(struct fixture *f, const char *ref, int rotation, const char *policy)
{
    struct audit_key *k = audit_inventory_find_key(f->inv, "us-east-1", ref);
    json_t *p = json_object();
    assert_non_null(k);
    k->rotation.data = json_pack("{s:b}", "KeyRotationEnabled", rotation);
    json_object_set_new(p, "Policy", json_string(policy));
    k->policy.data = p;
    k->fetched = 1;
}

static void test_msk_all_pass(void **state)
{
    struct fixture *f = *state;
    add_msk(f, good_cluster);
    add_key(f, "us-east-1", ARN_KEY_CMK, cmk_meta);
    set_details(f, ARN_KEY_CMK, 1,
                "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":"
                "\"arn:aws:iam::111122223333:root\"},\"Action\":\"kms:*\"}]}");
    evaluate(f);
    expect(f, "msk.encryption_at_rest_cmk", ARN_MSK, CTL_STATUS_PASS, ARN_KEY_CMK);
    expect(f, "msk.kafka_version", ARN_MSK, CTL_STATUS_PASS, "3.10.0");
    expect(f, "msk.mtls_required", ARN_MSK, CTL_STATUS_PASS, ARN_CA);
    expect(f, "msk.tls_in_transit", ARN_MSK, CTL_STATUS_PASS, NULL);
    expect(f, "kms.key_rotation", ARN_KEY_CMK, CTL_STATUS_PASS, NULL);
    expect(f, "kms.key_state", ARN_KEY_CMK, CTL_STATUS_PASS, NULL);
    expect(f, "kms.key_policy_public", ARN_KEY_CMK, CTL_STATUS_PASS, NULL);
    assert_int_equal(ctl_report_count(f->report), 7);
    assert_false(ctl_report_failed(f->report, CTL_SEV_LOW));
}

static void test_msk_aws_managed_key_fails(void **state)
{
    struct fixture *f = *state;
    /* A provisioned cluster always names a key, even the AWS-managed one: DescribeKey decides. */
    char *c = strdup(good_cluster);
    char *p = strstr(c, ARN_KEY_CMK);
    memcpy(p, ARN_KEY_AWS, strlen(ARN_KEY_AWS));
    add_msk(f, c);
    free(c);
    add_key(f, "us-east-1", ARN_KEY_AWS, aws_meta);
    evaluate(f);
    expect(f, "msk.encryption_at_rest_cmk", ARN_MSK, CTL_STATUS_FAIL, "AWS-managed");
    /* AWS-managed keys get no kms.* findings: rotation and policy are AWS's. */
    for (size_t i = 0; i < ctl_report_count(f->report); i++) {
        assert_true(strncmp(ctl_report_get(f->report, i)->check, "kms.", 4) != 0);
    }
    assert_true(ctl_report_failed(f->report, CTL_SEV_HIGH));
}

static void test_msk_describe_key_denied_is_error(void **state)
{
    struct fixture *f = *state;
    struct audit_key *k;
    add_msk(f, good_cluster);
    k = audit_inventory_add_key(f->inv, "us-east-1", ARN_KEY_CMK);
    k->describe.failed = 1;
    k->describe.err.code = MK_ERR_AWS;
    snprintf(k->describe.err.ext_code, sizeof(k->describe.err.ext_code), "AccessDeniedException");
    snprintf(k->describe.err.msg, sizeof(k->describe.err.msg), "not authorized");
    evaluate(f);
    expect(f, "msk.encryption_at_rest_cmk", ARN_MSK, CTL_STATUS_ERROR, "AccessDeniedException");
    expect(f, "kms.key_rotation", ARN_KEY_CMK, CTL_STATUS_ERROR, "AccessDeniedException");
    expect(f, "kms.key_state", ARN_KEY_CMK, CTL_STATUS_ERROR, "AccessDeniedException");
    expect(f, "kms.key_policy_public", ARN_KEY_CMK, CTL_STATUS_ERROR, "AccessDeniedException");
    assert_true(ctl_report_failed(f->report, CTL_SEV_HIGH));
}

static void test_msk_bad_cluster(void **state)
{
    struct fixture *f = *state;
    /* v1 shape (no provisioned wrapper), old version, plaintext, no client auth, no key. */
    add_msk(f, "{\"clusterArn\":\"" ARN_MSK "\",\"currentBrokerSoftwareInfo\":{\"kafkaVersion\":"
               "\"2.2.1\"},\"encryptionInfo\":{\"encryptionInTransit\":{\"clientBroker\":"
               "\"TLS_PLAINTEXT\",\"inCluster\":true}}}");
    evaluate(f);
    expect(f, "msk.encryption_at_rest_cmk", ARN_MSK, CTL_STATUS_FAIL, "dataVolumeKMSKeyId");
    expect(f, "msk.kafka_version", ARN_MSK, CTL_STATUS_FAIL, "2.2.1 is below the minimum 2.5.1");
    expect(f, "msk.mtls_required", ARN_MSK, CTL_STATUS_FAIL, "not enabled");
    expect(f, "msk.tls_in_transit", ARN_MSK, CTL_STATUS_FAIL, "TLS_PLAINTEXT");
}

static void test_msk_mtls_variants(void **state)
{
    struct fixture *f = *state;
    /* TLS on but unauthenticated still allowed. */
    add_msk(f, "{\"clusterArn\":\"a1\",\"clusterType\":\"PROVISIONED\",\"provisioned\":{"
               "\"clientAuthentication\":{\"tls\":{\"certificateAuthorityArnList\":[\"ca-x\"],"
               "\"enabled\":true},\"unauthenticated\":{\"enabled\":true}}}}");
    /* TLS enabled without any CA. */
    add_msk(f, "{\"clusterArn\":\"a2\",\"clusterType\":\"PROVISIONED\",\"provisioned\":{"
               "\"clientAuthentication\":{\"tls\":{\"certificateAuthorityArnList\":[],"
               "\"enabled\":true},\"unauthenticated\":{\"enabled\":false}}}}");
    /* Old clusters: CA list without an enabled flag, SASL only besides. */
    add_msk(f, "{\"clusterArn\":\"a3\",\"clusterType\":\"PROVISIONED\",\"provisioned\":{"
               "\"clientAuthentication\":{\"tls\":{\"certificateAuthorityArnList\":[\"ca-1\","
               "\"ca-2\"]}}}}");
    /* TLS explicitly disabled although CAs are listed. */
    add_msk(f, "{\"clusterArn\":\"a4\",\"clusterType\":\"PROVISIONED\",\"provisioned\":{"
               "\"clientAuthentication\":{\"tls\":{\"certificateAuthorityArnList\":[\"ca-1\"],"
               "\"enabled\":false},\"unauthenticated\":{\"enabled\":false}}}}");
    f->opts.min_kafka_version = "2.5.1";
    memset(f->opts.selected, 0, sizeof(f->opts.selected));
    f->opts.selected[AUDIT_MSK_MTLS] = 1;
    evaluate(f);
    expect(f, "msk.mtls_required", "a1", CTL_STATUS_FAIL, "unauthenticated access is enabled");
    expect(f, "msk.mtls_required", "a1", CTL_STATUS_FAIL, "ca-x");
    expect(f, "msk.mtls_required", "a2", CTL_STATUS_FAIL, "no AWS Private CA");
    expect(f, "msk.mtls_required", "a3", CTL_STATUS_PASS, "ca-1, ca-2");
    expect(f, "msk.mtls_required", "a4", CTL_STATUS_FAIL, "not enabled");
    assert_int_equal(ctl_report_count(f->report), 4);
}

static void test_msk_missing_data_is_error(void **state)
{
    struct fixture *f = *state;
    add_msk(f, "{\"clusterArn\":\"m1\",\"clusterType\":\"PROVISIONED\",\"provisioned\":{}}");
    add_msk(f, "{\"clusterArn\":\"m2\",\"clusterType\":\"PROVISIONED\",\"provisioned\":{"
               "\"currentBrokerSoftwareInfo\":{\"kafkaVersion\":\"default-kafka-version\"},"
               "\"encryptionInfo\":{\"encryptionInTransit\":{\"clientBroker\":\"TLS\"}}}}");
    evaluate(f);
    expect(f, "msk.kafka_version", "m1", CTL_STATUS_ERROR, "missing data");
    expect(f, "msk.tls_in_transit", "m1", CTL_STATUS_ERROR, "missing data");
    expect(f, "msk.kafka_version", "m2", CTL_STATUS_ERROR, "cannot parse");
    expect(f, "msk.tls_in_transit", "m2", CTL_STATUS_ERROR, "inCluster");
}

static void test_msk_min_version_option(void **state)
{
    struct fixture *f = *state;
    add_msk(f, "{\"clusterArn\":\"v1\",\"clusterType\":\"PROVISIONED\",\"provisioned\":{"
               "\"currentBrokerSoftwareInfo\":{\"kafkaVersion\":\"2.8.2.tiered\"}}}");
    add_msk(f, "{\"clusterArn\":\"v2\",\"clusterType\":\"PROVISIONED\",\"provisioned\":{"
               "\"currentBrokerSoftwareInfo\":{\"kafkaVersion\":\"3.10.0\"}}}");
    memset(f->opts.selected, 0, sizeof(f->opts.selected));
    f->opts.selected[AUDIT_MSK_VERSION] = 1;
    f->opts.min_kafka_version = "3.5.1";
    evaluate(f);
    expect(f, "msk.kafka_version", "v1", CTL_STATUS_FAIL, "below the minimum 3.5.1");
    expect(f, "msk.kafka_version", "v2", CTL_STATUS_PASS, NULL);
}

static void test_msk_serverless_not_applicable(void **state)
{
    struct fixture *f = *state;
    add_msk(f, "{\"clusterArn\":\"s1\",\"clusterType\":\"SERVERLESS\",\"serverless\":{"
               "\"clientAuthentication\":{\"sasl\":{\"iam\":{\"enabled\":true}}}}}");
    evaluate(f);
    expect(f, "msk.encryption_at_rest_cmk", "s1", CTL_STATUS_NOT_APPLICABLE, "serverless");
    expect(f, "msk.kafka_version", "s1", CTL_STATUS_NOT_APPLICABLE, "serverless");
    expect(f, "msk.mtls_required", "s1", CTL_STATUS_NOT_APPLICABLE, "IAM");
    expect(f, "msk.tls_in_transit", "s1", CTL_STATUS_NOT_APPLICABLE, "serverless");
    assert_int_equal(ctl_report_count(f->report), 4);
    assert_false(ctl_report_failed(f->report, CTL_SEV_LOW));
}

static void add_stream(struct fixture *f, const char *name, const char *json)
{
    assert_non_null(audit_inventory_add_resource(f->inv, AUDIT_SVC_KINESIS, "us-east-1", name,
                                                 "DescribeStreamSummary",
                                                 json ? load(json) : NULL));
}

static void test_kinesis(void **state)
{
    struct fixture *f = *state;
    struct audit_resource *r;
    memset(f->opts.selected, 0, sizeof(f->opts.selected));
    f->opts.selected[AUDIT_KINESIS_CMK] = 1;
    add_stream(f, "plain", "{\"StreamARN\":\"k-plain\",\"EncryptionType\":\"NONE\"}");
    add_stream(f, "awsalias",
               "{\"StreamARN\":\"k-alias\",\"EncryptionType\":\"KMS\","
               "\"KeyId\":\"alias/aws/kinesis\"}");
    add_stream(f, "awsaliasarn",
               "{\"StreamARN\":\"k-aliasarn\",\"EncryptionType\":\"KMS\","
               "\"KeyId\":\"arn:aws:kms:us-east-1:111122223333:alias/aws/"
               "kinesis\"}");
    add_stream(f, "cmk",
               "{\"StreamARN\":\"k-cmk\",\"EncryptionType\":\"KMS\",\"KeyId\":"
               "\"alias/mine\"}");
    add_stream(f, "awskey",
               "{\"StreamARN\":\"k-awskey\",\"EncryptionType\":\"KMS\",\"KeyId\":"
               "\"" ARN_KEY_AWS "\"}");
    add_stream(f, "nokey", "{\"StreamARN\":\"k-nokey\",\"EncryptionType\":\"KMS\"}");
    add_stream(f, "denied", NULL);
    r = &f->inv->resources[f->inv->n_resources - 1];
    r->res.failed = 1;
    r->res.err.code = MK_ERR_AWS;
    snprintf(r->res.err.ext_code, sizeof(r->res.err.ext_code), "AccessDeniedException");
    add_key(f, "us-east-1", "alias/mine", cmk_meta);
    add_key(f, "us-east-1", ARN_KEY_AWS, aws_meta);
    /* audit_resource_key_ref must not ask DescribeKey about the AWS alias. */
    {
        char buf[64];
        const char *region = NULL;
        assert_null(audit_resource_key_ref(&f->inv->resources[1], buf, sizeof(buf), &region));
        assert_string_equal(
            audit_resource_key_ref(&f->inv->resources[3], buf, sizeof(buf), &region), "alias/mine");
        assert_string_equal(region, "us-east-1");
    }
    /* A key ARN names its own region; a malformed one falls back to the stream's region. */
    {
        char buf[64];
        const char *region = NULL;
        struct audit_resource x = {.svc = AUDIT_SVC_KINESIS, .region = "us-east-1"};
        x.res.data =
            load("{\"EncryptionType\":\"KMS\",\"KeyId\":\"arn:aws:kms:eu-west-3:1:key/k\"}");
        assert_non_null(audit_resource_key_ref(&x, buf, sizeof(buf), &region));
        assert_string_equal(region, "eu-west-3");
        json_decref(x.res.data);
        x.res.data =
            load("{\"EncryptionType\":\"KMS\",\"KeyId\":\"arn:aws:kms:evil.host/:1:key/k\"}");
        assert_non_null(audit_resource_key_ref(&x, buf, sizeof(buf), &region));
        assert_string_equal(region, "us-east-1");
        json_decref(x.res.data);
    }
    evaluate(f);
    expect(f, "kinesis.encryption_cmk", "k-plain", CTL_STATUS_FAIL, "NONE");
    expect(f, "kinesis.encryption_cmk", "k-alias", CTL_STATUS_FAIL, "alias/aws/kinesis");
    expect(f, "kinesis.encryption_cmk", "k-aliasarn", CTL_STATUS_FAIL, "AWS-managed");
    expect(f, "kinesis.encryption_cmk", "k-cmk", CTL_STATUS_PASS, ARN_KEY_CMK);
    expect(f, "kinesis.encryption_cmk", "k-awskey", CTL_STATUS_FAIL, "AWS-managed");
    expect(f, "kinesis.encryption_cmk", "k-nokey", CTL_STATUS_ERROR, "KeyId");
    expect(f, "kinesis.encryption_cmk", "denied", CTL_STATUS_ERROR, "AccessDeniedException");
}

static void add_firehose(struct fixture *f, const char *name, const char *json)
{
    assert_non_null(audit_inventory_add_resource(f->inv, AUDIT_SVC_FIREHOSE, "us-east-1", name,
                                                 "DescribeDeliveryStream", load(json)));
}

static void test_firehose(void **state)
{
    struct fixture *f = *state;
    memset(f->opts.selected, 0, sizeof(f->opts.selected));
    f->opts.selected[AUDIT_FIREHOSE_CMK] = 1;
    add_firehose(f, "none",
                 "{\"DeliveryStreamARN\":\"f-none\",\"DeliveryStreamType\":"
                 "\"DirectPut\"}");
    add_firehose(f, "owned",
                 "{\"DeliveryStreamARN\":\"f-owned\",\"DeliveryStreamType\":"
                 "\"DirectPut\",\"DeliveryStreamEncryptionConfiguration\":{"
                 "\"KeyType\":\"AWS_OWNED_CMK\",\"Status\":\"ENABLED\"}}");
    add_firehose(f, "cmk",
                 "{\"DeliveryStreamARN\":\"f-cmk\",\"DeliveryStreamEncryptionConfigur"
                 "ation\":{\"KeyARN\":\"" ARN_KEY_CMK "\",\"KeyType\":"
                 "\"CUSTOMER_MANAGED_CMK\",\"Status\":\"ENABLED\"}}");
    add_firehose(f, "disabled",
                 "{\"DeliveryStreamARN\":\"f-dis\",\"DeliveryStreamEncryptionCon"
                 "figuration\":{\"KeyARN\":\"" ARN_KEY_CMK "\",\"KeyType\":"
                 "\"CUSTOMER_MANAGED_CMK\",\"Status\":\"DISABLED\"}}");
    add_firehose(f, "fromkinesis",
                 "{\"DeliveryStreamARN\":\"f-src\",\"DeliveryStreamType\":"
                 "\"KinesisStreamAsSource\"}");
    evaluate(f);
    expect(f, "firehose.encryption_cmk", "f-none", CTL_STATUS_FAIL, "not configured");
    expect(f, "firehose.encryption_cmk", "f-owned", CTL_STATUS_FAIL, "AWS_OWNED_CMK");
    expect(f, "firehose.encryption_cmk", "f-cmk", CTL_STATUS_PASS, ARN_KEY_CMK);
    expect(f, "firehose.encryption_cmk", "f-dis", CTL_STATUS_FAIL, "DISABLED");
    expect(f, "firehose.encryption_cmk", "f-src", CTL_STATUS_NOT_APPLICABLE, "KinesisStream");
}

static void test_kms_checks(void **state)
{
    struct fixture *f = *state;
    static const char *k1 = "arn:aws:kms:us-east-1:1:key/k1";
    static const char *k2 = "arn:aws:kms:us-east-1:1:key/k2";
    static const char *k3 = "arn:aws:kms:us-east-1:1:key/k3";
    static const char *k4 = "arn:aws:kms:us-east-1:1:key/k4";
    static const char *k5 = "arn:aws:kms:us-east-1:1:key/k5";
    static const char *k6 = "arn:aws:kms:us-east-1:1:key/k6";
    char meta[256];
    const char *states[] = {"Enabled", "Disabled", "PendingDeletion",
                            "Enabled", "Enabled",  "Enabled"};
    const char *keys[] = {k1, k2, k3, k4, k5, k6};
    const char *policies[] = {
        /* k1: conditioned public statement is fine */
        "{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"kms:*\","
        "\"Condition\":{\"StringEquals\":{\"kms:CallerAccount\":\"1\"}}}}",
        /* k2: Deny with * is fine */
        "{\"Statement\":[{\"Effect\":\"Deny\",\"Principal\":\"*\",\"Action\":\"kms:*\"}]}",
        /* k3: AWS list containing * */
        "{\"Statement\":[{\"Sid\":\"ok\",\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:"
        "iam::1:root\"}},{\"Sid\":\"Open\",\"Effect\":\"Allow\",\"Principal\":{\"AWS\":[\"arn:aws:"
        "iam::1:root\",\"*\"]},\"Action\":\"kms:Decrypt\"}]}",
        /* k4: string * */
        "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"kms:*\"}]}",
        /* k5: {"AWS":"*"} with an empty Condition */
        "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"*\"},\"Condition\":{}}]}",
        /* k6: not JSON */
        "not json",
    };
    for (size_t i = 0; i < 6; i++) {
        snprintf(meta, sizeof(meta),
                 "{\"Arn\":\"%s\",\"KeyManager\":\"CUSTOMER\",\"KeyState\":"
                 "\"%s\"}",
                 keys[i], states[i]);
        add_key(f, "us-east-1", keys[i], meta);
        set_details(f, keys[i], i % 2 == 0, policies[i]);
    }
    /* Same key reached by alias: one set of findings per key ARN. */
    snprintf(meta, sizeof(meta),
             "{\"Arn\":\"%s\",\"KeyManager\":\"CUSTOMER\",\"KeyState\":"
             "\"Enabled\"}",
             k1);
    add_key(f, "us-east-1", "alias/k1", meta);
    /* Rotation lookup failed. */
    f->inv->keys[5].rotation.failed = 1;
    f->inv->keys[5].rotation.err.code = MK_ERR_AWS;
    snprintf(f->inv->keys[5].rotation.err.ext_code, 64, "ThrottlingException");
    evaluate(f);
    expect(f, "kms.key_rotation", k1, CTL_STATUS_PASS, NULL);
    expect(f, "kms.key_rotation", k2, CTL_STATUS_FAIL, "disabled");
    expect(f, "kms.key_rotation", k6, CTL_STATUS_ERROR, "ThrottlingException");
    expect(f, "kms.key_state", k1, CTL_STATUS_PASS, NULL);
    expect(f, "kms.key_state", k2, CTL_STATUS_FAIL, "Disabled");
    expect(f, "kms.key_state", k3, CTL_STATUS_FAIL, "PendingDeletion");
    expect(f, "kms.key_policy_public", k1, CTL_STATUS_PASS, NULL);
    expect(f, "kms.key_policy_public", k2, CTL_STATUS_PASS, NULL);
    expect(f, "kms.key_policy_public", k3, CTL_STATUS_FAIL, "Sid Open");
    expect(f, "kms.key_policy_public", k4, CTL_STATUS_FAIL, "statement 1");
    expect(f, "kms.key_policy_public", k5, CTL_STATUS_FAIL, NULL);
    expect(f, "kms.key_policy_public", k6, CTL_STATUS_ERROR, "not a JSON object");
    assert_int_equal(ctl_report_count(f->report), 18);
}

static void test_listing_failure_is_error(void **state)
{
    struct fixture *f = *state;
    struct audit_listing *l =
        audit_inventory_add_listing(f->inv, "eu-west-1", AUDIT_SVC_MSK, "ListClustersV2");
    l->res.failed = 1;
    l->res.err.code = MK_ERR_AWS;
    snprintf(l->res.err.ext_code, sizeof(l->res.err.ext_code), "AccessDeniedException");
    evaluate(f);
    /* Four MSK checks plus the three KMS checks that might miss keys and the four pca.* checks
     * that might miss CAs: all ERROR, none PASS. */
    assert_int_equal(ctl_report_count(f->report), 11);
    for (size_t i = 0; i < ctl_report_count(f->report); i++) {
        const struct ctl_finding *x = ctl_report_get(f->report, i);
        assert_int_equal(x->status, CTL_STATUS_ERROR);
        assert_string_equal(x->region, "eu-west-1");
        assert_non_null(strstr(x->message, "AccessDeniedException"));
    }
}

static void test_needs_service(void **state)
{
    struct audit_eval_options o = {.min_kafka_version = "2.5.1"};
    (void)state;
    o.selected[AUDIT_MSK_VERSION] = 1;
    assert_true(audit_needs_service(&o, AUDIT_SVC_MSK));
    assert_false(audit_needs_service(&o, AUDIT_SVC_KINESIS));
    o.selected[AUDIT_KMS_STATE] = 1;
    assert_true(audit_needs_service(&o, AUDIT_SVC_FIREHOSE));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version_order),
        cmocka_unit_test(test_version_invalid),
        cmocka_unit_test(test_check_lookup),
        cmocka_unit_test(test_needs_service),
        cmocka_unit_test_setup_teardown(test_msk_all_pass, setup, teardown),
        cmocka_unit_test_setup_teardown(test_msk_aws_managed_key_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_msk_describe_key_denied_is_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_msk_bad_cluster, setup, teardown),
        cmocka_unit_test_setup_teardown(test_msk_mtls_variants, setup, teardown),
        cmocka_unit_test_setup_teardown(test_msk_missing_data_is_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_msk_min_version_option, setup, teardown),
        cmocka_unit_test_setup_teardown(test_msk_serverless_not_applicable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kinesis, setup, teardown),
        cmocka_unit_test_setup_teardown(test_firehose, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_listing_failure_is_error, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
