/* test_audit_checks.c: version comparison and the audit checks over recorded AWS answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "ctl/audit/checks.h"
#include "ctl/audit/versions.h"

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
    f->opts.eos_warning_days = AUDIT_DEFAULT_EOS_WARNING_DAYS;
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

#define ARN_CFG "arn:aws:kafka:us-east-1:111122223333:configuration/strict/cfg-1"

/* good_cluster with a configuration (revision 2) whose server.properties is props. */
static struct audit_resource *add_msk_config(struct fixture *f, const char *arn, const char *auth,
                                             const char *props)
{
    char json[2048], b64[2048];
    struct audit_resource *r;
    snprintf(json, sizeof(json),
             "{\"clusterArn\":\"%s\",\"clusterType\":\"PROVISIONED\",\"provisioned\":{"
             "\"currentBrokerSoftwareInfo\":{\"kafkaVersion\":\"3.9.x\","
             "\"configurationArn\":\"" ARN_CFG "\",\"configurationRevision\":2},"
             "\"clientAuthentication\":%s}}",
             arn, auth);
    add_msk(f, json);
    r = &f->inv->resources[f->inv->n_resources - 1];
    if (props != NULL) {
        EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)props, (int)strlen(props));
        r->config.data =
            json_pack("{s:s, s:i, s:s}", "arn", ARN_CFG, "revision", 2, "serverProperties", b64);
        r->config_fetched = 1;
    }
    return r;
}

#define AUTH_TLS                                                                                   \
    "{\"tls\":{\"certificateAuthorityArnList\":[\"" ARN_CA "\"],\"enabled\":true},"                \
    "\"unauthenticated\":{\"enabled\":false}}"

static void test_msk_all_pass(void **state)
{
    struct fixture *f = *state;
    add_msk(f, good_cluster);
    /* The same cluster with a strict configuration. */
    {
        json_t *info = f->inv->resources[0].res.data;
        json_t *sw =
            json_object_get(json_object_get(info, "provisioned"), "currentBrokerSoftwareInfo");
        char b64[256];
        const char *props = "allow.everyone.if.no.acl.found=false\n";
        json_object_set_new(sw, "configurationArn", json_string(ARN_CFG));
        json_object_set_new(sw, "configurationRevision", json_integer(1));
        EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)props, (int)strlen(props));
        f->inv->resources[0].config.data = json_pack("{s:s}", "serverProperties", b64);
        f->inv->resources[0].config_fetched = 1;
    }
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
    expect(f, "msk.kafka_version_eos_soon", ARN_MSK, CTL_STATUS_PASS, "no published end");
    expect(f, "msk.acl_default_deny", ARN_MSK, CTL_STATUS_PASS, "=false");
    expect(f, "msk.public_access", ARN_MSK, CTL_STATUS_PASS, NULL);
    assert_int_equal(ctl_report_count(f->report), 10);
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

/* msk.tls_in_transit needs both halves: client-broker TLS only, and TLS between brokers. */
static void test_msk_tls_in_transit_variants(void **state)
{
    struct fixture *f = *state;
    add_msk(f, "{\"clusterArn\":\"t1\",\"clusterType\":\"PROVISIONED\",\"provisioned\":{"
               "\"encryptionInfo\":{\"encryptionInTransit\":{\"clientBroker\":\"TLS\","
               "\"inCluster\":false}}}}");
    add_msk(f, "{\"clusterArn\":\"t2\",\"clusterType\":\"PROVISIONED\",\"provisioned\":{"
               "\"encryptionInfo\":{\"encryptionInTransit\":{\"clientBroker\":\"PLAINTEXT\","
               "\"inCluster\":true}}}}");
    add_msk(f, "{\"clusterArn\":\"t3\",\"clusterType\":\"PROVISIONED\",\"provisioned\":{"
               "\"encryptionInfo\":{\"encryptionInTransit\":{\"clientBroker\":\"TLS\","
               "\"inCluster\":true}}}}");
    memset(f->opts.selected, 0, sizeof(f->opts.selected));
    f->opts.selected[AUDIT_MSK_TLS] = 1;
    evaluate(f);
    expect(f, "msk.tls_in_transit", "t1", CTL_STATUS_FAIL, "inCluster is false");
    expect(f, "msk.tls_in_transit", "t2", CTL_STATUS_FAIL, "clientBroker is PLAINTEXT");
    expect(f, "msk.tls_in_transit", "t3", CTL_STATUS_PASS, NULL);
    assert_int_equal(ctl_report_count(f->report), 3);
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
    expect(f, "msk.kafka_version_eos_soon", "s1", CTL_STATUS_NOT_APPLICABLE, "serverless");
    expect(f, "msk.acl_default_deny", "s1", CTL_STATUS_NOT_APPLICABLE, "IAM access control");
    expect(f, "msk.public_access", "s1", CTL_STATUS_NOT_APPLICABLE, "VPC endpoints");
    assert_int_equal(ctl_report_count(f->report), 7);
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
    /* Imported key material cannot rotate automatically: not applicable, even though the
     * rotation lookup failed as KMS answers for such keys. */
    static const char *k7 = "arn:aws:kms:us-east-1:1:key/k7";
    snprintf(meta, sizeof(meta),
             "{\"Arn\":\"%s\",\"KeyManager\":\"CUSTOMER\",\"KeyState\":\"Enabled\","
             "\"Origin\":\"EXTERNAL\"}",
             k7);
    add_key(f, "us-east-1", k7, meta);
    set_details(f, k7, 0, policies[0]);
    f->inv->keys[6].rotation.failed = 1;
    f->inv->keys[6].rotation.err.code = MK_ERR_AWS;
    snprintf(f->inv->keys[6].rotation.err.ext_code, 64, "UnsupportedOperationException");
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
    expect(f, "kms.key_rotation", k7, CTL_STATUS_NOT_APPLICABLE, "origin EXTERNAL");
    expect(f, "kms.key_state", k1, CTL_STATUS_PASS, NULL);
    expect(f, "kms.key_state", k2, CTL_STATUS_FAIL, "Disabled");
    expect(f, "kms.key_state", k3, CTL_STATUS_FAIL, "PendingDeletion");
    expect(f, "kms.key_policy_public", k1, CTL_STATUS_PASS, NULL);
    expect(f, "kms.key_policy_public", k2, CTL_STATUS_PASS, NULL);
    expect(f, "kms.key_policy_public", k3, CTL_STATUS_FAIL, "Sid Open");
    expect(f, "kms.key_policy_public", k4, CTL_STATUS_FAIL, "statement 1");
    expect(f, "kms.key_policy_public", k5, CTL_STATUS_FAIL, NULL);
    expect(f, "kms.key_policy_public", k6, CTL_STATUS_ERROR, "not a JSON object");
    assert_int_equal(ctl_report_count(f->report), 21); /* 7 keys x 3; the alias adds none */
}

/* kms.key_policy_public over every shape a "*" principal can take, with and without a
 * Condition, one key per policy. */
static void test_kms_policy_principal_forms(void **state)
{
    struct fixture *f = *state;
    static const struct {
        const char *policy;
        enum ctl_status want;
    } cases[] = {
        /* {"AWS":"*"} with no Condition key at all */
        {"{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"*\"},"
         "\"Action\":\"kms:Decrypt\"}]}",
         CTL_STATUS_FAIL},
        /* {"AWS":["*"]}: the list form alone */
        {"{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":[\"*\"]},"
         "\"Action\":\"kms:*\"}]}",
         CTL_STATUS_FAIL},
        /* a single statement object rather than an array */
        {"{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"*\"}}}", CTL_STATUS_FAIL},
        /* Allow + NotPrincipal grants everyone but the listed principals */
        {"{\"Statement\":[{\"Effect\":\"Allow\",\"NotPrincipal\":{\"AWS\":\"arn:aws:iam::1:root\"},"
         "\"Action\":\"kms:*\"}]}",
         CTL_STATUS_FAIL},
        /* {"AWS":"*"} restricted by a Condition */
        {"{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"*\"},\"Action\":\"kms:*\","
         "\"Condition\":{\"StringEquals\":{\"aws:PrincipalAccount\":\"1\"}}}]}",
         CTL_STATUS_PASS},
        /* named principals only */
        {"{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":[\"arn:aws:iam::1:root\","
         "\"arn:aws:iam::2:role/r\"],\"Service\":\"kinesis.amazonaws.com\"},"
         "\"Action\":\"kms:*\"}]}",
         CTL_STATUS_PASS},
        /* "*" only inside an ARN is not every principal */
        {"{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::1:root\"},"
         "\"Action\":\"*\",\"Resource\":\"*\"}]}",
         CTL_STATUS_PASS},
    };
    char arn[64], meta[256];
    memset(f->opts.selected, 0, sizeof(f->opts.selected));
    f->opts.selected[AUDIT_KMS_POLICY] = 1;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(arn, sizeof(arn), "arn:aws:kms:us-east-1:1:key/p%zu", i);
        snprintf(meta, sizeof(meta),
                 "{\"Arn\":\"%s\",\"KeyManager\":\"CUSTOMER\",\"KeyState\":\"Enabled\"}", arn);
        add_key(f, "us-east-1", arn, meta);
        set_details(f, arn, 1, cases[i].policy);
    }
    evaluate(f);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(arn, sizeof(arn), "arn:aws:kms:us-east-1:1:key/p%zu", i);
        expect(f, "kms.key_policy_public", arn, cases[i].want,
               cases[i].want == CTL_STATUS_FAIL ? "without a Condition" : NULL);
    }
    assert_int_equal(ctl_report_count(f->report), sizeof(cases) / sizeof(cases[0]));
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
    /* Seven MSK checks plus the three KMS checks that might miss keys and the four pca.* checks
     * that might miss CAs: all ERROR, none PASS. */
    assert_int_equal(ctl_report_count(f->report), 14);
    for (size_t i = 0; i < ctl_report_count(f->report); i++) {
        const struct ctl_finding *x = ctl_report_get(f->report, i);
        assert_int_equal(x->status, CTL_STATUS_ERROR);
        assert_string_equal(x->region, "eu-west-1");
        assert_non_null(strstr(x->message, "AccessDeniedException"));
    }
}

/* ---- pca.* ---- */

#define NOW ((time_t)1767225600) /* 2026-01-01T00:00:00Z: the checks judge expiry at opts.now */
#define DAY 86400L

/* A self-signed PEM certificate valid until NOW + days. Caller frees with free(). */
static char *make_pem(const char *cn, long days)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    BIO *b = BIO_new(BIO_s_mem());
    char *data = NULL, *out;
    long len;
    assert_non_null(key);
    assert_non_null(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    ASN1_TIME_set(X509_getm_notBefore(x), NOW - 365 * DAY);
    ASN1_TIME_set(X509_getm_notAfter(x), NOW + days * DAY);
    X509_set_pubkey(x, key);
    assert_true(X509_sign(x, key, EVP_sha256()) > 0);
    assert_int_equal(PEM_write_bio_X509(b, x), 1);
    /* The BIO's buffer is not NUL-terminated, so copy exactly len bytes (strndup may scan). */
    len = BIO_get_mem_data(b, &data);
    out = malloc((size_t)len + 1);
    assert_non_null(out);
    memcpy(out, data, (size_t)len);
    out[len] = '\0';
    BIO_free(b);
    X509_free(x);
    EVP_PKEY_free(key);
    return out;
}

/* A CA with a describe answer (JSON text, %lld = NotAfter) and optionally its certificate. */
static struct audit_ca *add_ca(struct fixture *f, const char *arn, const char *describe,
                               const char *cert_pem, const char *chain_pem)
{
    struct audit_ca *ca = audit_inventory_add_ca(f->inv, arn);
    assert_non_null(ca);
    if (describe != NULL) {
        ca->describe.data = load(describe);
    }
    if (cert_pem != NULL) {
        ca->cert_fetched = 1;
        ca->cert.data = json_pack("{s:s}", "Certificate", cert_pem);
        if (chain_pem != NULL) {
            json_object_set_new(ca->cert.data, "CertificateChain", json_string(chain_pem));
        }
    }
    return ca;
}

static char *ca_json(const char *status, const char *mode, int crl, int ocsp, long days)
{
    char *s = NULL;
    char na[64] = "";
    if (days != 0) {
        snprintf(na, sizeof(na), ",\"NotAfter\":%lld.5", (long long)(NOW + days * DAY));
    }
    assert_true(asprintf(&s,
                         "{\"Status\":\"%s\",\"Type\":\"SUBORDINATE\",\"UsageMode\":\"%s\","
                         "\"RevocationConfiguration\":{\"CrlConfiguration\":{\"Enabled\":%s},"
                         "\"OcspConfiguration\":{\"Enabled\":%s}}%s}",
                         status, mode, crl ? "true" : "false", ocsp ? "true" : "false", na) > 0);
    return s;
}

/* add_ca() with the describe answer of ca_json(). */
static void add_ca_json(struct fixture *f, const char *arn, const char *status, const char *mode,
                        int crl, int ocsp, long days, const char *pem, const char *chain)
{
    char *j = ca_json(status, mode, crl, ocsp, days);
    add_ca(f, arn, j, pem, chain);
    free(j);
}

#define CA(n) "arn:aws:acm-pca:us-east-1:111122223333:certificate-authority/" n

static void test_pca_checks(void **state)
{
    struct fixture *f = *state;
    char *good = make_pem("good", 3650), *soon = make_pem("soon", 60);
    char *root_soon = make_pem("Root Soon", 20);
    f->opts.now = NOW;

    add_ca_json(f, CA("good"), "ACTIVE", "GENERAL_PURPOSE", 1, 0, 3650, good, NULL);
    add_ca_json(f, CA("disabled"), "DISABLED", "GENERAL_PURPOSE", 0, 1, 3650, NULL, NULL);
    add_ca_json(f, CA("soon"), "ACTIVE", "GENERAL_PURPOSE", 0, 0, 60, soon, NULL);
    /* The CA itself is fine for ten years, but the root above it expires in 20 days. */
    add_ca_json(f, CA("chain"), "ACTIVE", "SHORT_LIVED_CERTIFICATE", 0, 0, 3650, good, root_soon);
    add_ca_json(f, CA("pending"), "PENDING_CERTIFICATE", "GENERAL_PURPOSE", 1, 1, 0, NULL, NULL);
    add_ca_json(f, CA("expired"), "EXPIRED", "GENERAL_PURPOSE", 1, 0, -3, NULL, NULL);
    evaluate(f);

    expect(f, "pca.status", CA("good"), CTL_STATUS_PASS, "ACTIVE");
    expect(f, "pca.certificate_expiry", CA("good"), CTL_STATUS_PASS, "3650 days");
    expect(f, "pca.revocation_configured", CA("good"), CTL_STATUS_PASS, "CRL enabled");
    expect(f, "pca.usage_mode", CA("good"), CTL_STATUS_PASS, "GENERAL_PURPOSE");
    expect(f, "pca.status", CA("disabled"), CTL_STATUS_FAIL, "DISABLED");
    expect(f, "pca.revocation_configured", CA("disabled"), CTL_STATUS_PASS, "OCSP enabled");
    /* Not fetched (not ACTIVE): judged by NotAfter alone. */
    expect(f, "pca.certificate_expiry", CA("disabled"), CTL_STATUS_PASS, NULL);
    expect(f, "pca.certificate_expiry", CA("soon"), CTL_STATUS_FAIL, "minimum of 90 days");
    expect(f, "pca.revocation_configured", CA("soon"), CTL_STATUS_FAIL, "neither CRL nor OCSP");
    expect(f, "pca.certificate_expiry", CA("chain"), CTL_STATUS_FAIL, "Root Soon");
    expect(f, "pca.revocation_configured", CA("chain"), CTL_STATUS_NOT_APPLICABLE, "short-lived");
    expect(f, "pca.usage_mode", CA("chain"), CTL_STATUS_PASS, "SHORT_LIVED_CERTIFICATE");
    expect(f, "pca.certificate_expiry", CA("pending"), CTL_STATUS_NOT_APPLICABLE,
           "PENDING_CERTIFICATE");
    expect(f, "pca.status", CA("pending"), CTL_STATUS_FAIL, "PENDING_CERTIFICATE");
    expect(f, "pca.certificate_expiry", CA("expired"), CTL_STATUS_FAIL, "expired on");
    assert_int_equal(ctl_report_count(f->report), 6 * 4);
    free(good);
    free(soon);
    free(root_soon);
}

/* The CA outlives --ca-min-days but not the certificates it would issue. */
static void test_pca_expiry_vs_issued(void **state)
{
    struct fixture *f = *state;
    f->opts.now = NOW;
    f->opts.ca_min_days = 30;
    f->opts.cert_days = 90;
    add_ca_json(f, CA("a"), "ACTIVE", "GENERAL_PURPOSE", 1, 0, 60, NULL, NULL);
    evaluate(f);
    expect(f, "pca.certificate_expiry", CA("a"), CTL_STATUS_FAIL, "90-day certificates");
    ctl_report_free(f->report);
    f->report = ctl_report_new();
    f->opts.cert_days = 30;
    evaluate(f);
    expect(f, "pca.certificate_expiry", CA("a"), CTL_STATUS_PASS, "60 days");
}

static void test_pca_errors(void **state)
{
    struct fixture *f = *state;
    char *j = ca_json("ACTIVE", "GENERAL_PURPOSE", 1, 0, 3650);
    struct audit_ca *ca;
    f->opts.now = NOW;
    ca = add_ca(f, CA("gone"), NULL, NULL, NULL);
    ca->describe.failed = 1;
    ca->describe.err.code = MK_ERR_AWS;
    snprintf(ca->describe.err.ext_code, sizeof(ca->describe.err.ext_code),
             "ResourceNotFoundException");
    ca = add_ca(f, CA("denied"), NULL, NULL, NULL);
    ca->describe.failed = 1;
    ca->describe.err.code = MK_ERR_AWS;
    snprintf(ca->describe.err.ext_code, sizeof(ca->describe.err.ext_code),
             "AccessDeniedException");
    ca = add_ca(f, CA("badpem"), j, "-----BEGIN CERTIFICATE-----\nnot base64!\n"
                                    "-----END CERTIFICATE-----\n", NULL);
    ca = add_ca(f, CA("certdenied"), j, NULL, NULL);
    ca->cert_fetched = 1;
    ca->cert.failed = 1;
    ca->cert.err.code = MK_ERR_AWS;
    snprintf(ca->cert.err.ext_code, sizeof(ca->cert.err.ext_code), "AccessDeniedException");
    add_ca(f, CA("nostatus"), "{\"UsageMode\":\"GENERAL_PURPOSE\"}", NULL, NULL);
    free(j);
    evaluate(f);
    expect(f, "pca.status", CA("gone"), CTL_STATUS_FAIL, "does not exist");
    expect(f, "pca.certificate_expiry", CA("gone"), CTL_STATUS_NOT_APPLICABLE, NULL);
    expect(f, "pca.status", CA("denied"), CTL_STATUS_ERROR, "AccessDeniedException");
    expect(f, "pca.usage_mode", CA("denied"), CTL_STATUS_ERROR, "AccessDeniedException");
    expect(f, "pca.certificate_expiry", CA("badpem"), CTL_STATUS_ERROR, "not PEM");
    expect(f, "pca.status", CA("badpem"), CTL_STATUS_PASS, NULL);
    expect(f, "pca.certificate_expiry", CA("certdenied"), CTL_STATUS_ERROR,
           "GetCertificateAuthorityCertificate failed: AccessDeniedException");
    expect(f, "pca.status", CA("nostatus"), CTL_STATUS_ERROR, "missing data");
    assert_true(ctl_report_failed(f->report, CTL_SEV_HIGH));
}

static void test_ca_arns(void **state)
{
    struct fixture *f = *state;
    assert_true(audit_ca_arn_valid(CA("x")));
    assert_false(audit_ca_arn_valid("arn:aws:acm-pca:us-east-1:1:certificate-authority/"));
    assert_false(audit_ca_arn_valid("arn:aws:kms:us-east-1:1:key/x"));
    assert_false(audit_ca_arn_valid("arn:aws:acm-pca:US EAST:1:certificate-authority/x"));
    assert_false(audit_ca_arn_valid(NULL));
    /* Added once; the region comes from the ARN. */
    struct audit_ca *a = audit_inventory_add_ca(f->inv, CA("x"));
    assert_ptr_equal(audit_inventory_add_ca(f->inv, CA("x")), a);
    assert_string_equal(a->region, "us-east-1");
    assert_int_equal(f->inv->n_cas, 1);
    /* The cluster's list is what the collector describes. */
    add_msk(f, good_cluster);
    const json_t *arns = audit_msk_ca_arns(&f->inv->resources[0]);
    assert_non_null(arns);
    assert_string_equal(json_string_value(json_array_get(arns, 0)), ARN_CA);
}

/* ---- tags.ownership ---- */

static void test_tags(void **state)
{
    struct fixture *f = *state;
    const char *req[] = {"Owner", "CostCenter"};
    struct audit_resource *r;
    struct audit_key *k;
    memset(f->opts.selected, 0, sizeof(f->opts.selected));
    f->opts.selected[AUDIT_TAGS_OWNERSHIP] = 1;
    f->opts.required_tags = req;
    f->opts.n_required_tags = 2;

    add_msk(f, good_cluster);
    f->inv->resources[0].tags.data = load("{\"Owner\":\"team-a\",\"CostCenter\":\"42\"}");
    r = audit_inventory_add_resource(f->inv, AUDIT_SVC_KINESIS, "us-east-1", "s1",
                                     "DescribeStreamSummary",
                                     load("{\"StreamARN\":\"arn:aws:kinesis:us-east-1:1:stream/s1\","
                                          "\"EncryptionType\":\"NONE\"}"));
    r->tags.data = load("{\"owner\":\"lower-case\",\"CostCenter\":\"\"}");
    r = audit_inventory_add_resource(f->inv, AUDIT_SVC_FIREHOSE, "us-east-1", "f1",
                                     "DescribeDeliveryStream",
                                     load("{\"DeliveryStreamARN\":\"arn:f1\"}"));
    r->tags.failed = 1;
    r->tags.err.code = MK_ERR_AWS;
    snprintf(r->tags.err.ext_code, sizeof(r->tags.err.ext_code), "AccessDeniedException");
    add_key(f, "us-east-1", ARN_KEY_CMK, cmk_meta);
    k = audit_inventory_find_key(f->inv, "us-east-1", ARN_KEY_CMK);
    k->tags.data = load("{\"Owner\":\"x\"}");
    add_key(f, "us-east-1", ARN_KEY_AWS, aws_meta); /* AWS-managed: cannot be tagged by you */
    evaluate(f);
    expect(f, "tags.ownership", ARN_MSK, CTL_STATUS_PASS, NULL);
    expect(f, "tags.ownership", "arn:aws:kinesis:us-east-1:1:stream/s1", CTL_STATUS_FAIL,
           "Owner, CostCenter (empty)");
    expect(f, "tags.ownership", "arn:f1", CTL_STATUS_ERROR,
           "ListTagsForDeliveryStream failed: AccessDeniedException");
    expect(f, "tags.ownership", ARN_KEY_CMK, CTL_STATUS_FAIL, "CostCenter");
    assert_string_equal(find(f, "tags.ownership", ARN_KEY_CMK)->resource_type, "AWS::KMS::Key");
    assert_string_equal(find(f, "tags.ownership", "arn:f1")->resource_type,
                        "AWS::KinesisFirehose::DeliveryStream");
    assert_int_equal(ctl_report_count(f->report), 4);
}

/* A role that could not be assumed: every selected check ERROR in every region, never PASS. */
static void test_account_failed(void **state)
{
    struct fixture *f = *state;
    f->inv->account_failed = 1;
    f->inv->account_err.code = MK_ERR_AWS;
    snprintf(f->inv->account_err.ext_code, sizeof(f->inv->account_err.ext_code), "AccessDenied");
    snprintf(f->inv->account_err.msg, sizeof(f->inv->account_err.msg), "assume role x: denied");
    f->inv->account_role = strdup("arn:aws:iam::222233334444:role/audit");
    assert_int_equal(audit_inventory_add_region(f->inv, "us-east-1"), 0);
    assert_int_equal(audit_inventory_add_region(f->inv, "eu-west-1"), 0);
    add_msk(f, good_cluster); /* ignored: nothing of a failed account is evaluated */
    evaluate(f);
    assert_int_equal(ctl_report_count(f->report), 2 * (AUDIT_CHECK__MAX - 1));
    for (size_t i = 0; i < ctl_report_count(f->report); i++) {
        const struct ctl_finding *x = ctl_report_get(f->report, i);
        assert_int_equal(x->status, CTL_STATUS_ERROR);
        assert_string_equal(x->resource, "arn:aws:iam::222233334444:role/audit");
        assert_string_equal(x->resource_type, "AWS::IAM::Role");
        assert_non_null(strstr(x->message, "AccessDenied: assume role x: denied"));
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
    /* CAs are found through the MSK clusters; tags need every listing. */
    memset(o.selected, 0, sizeof(o.selected));
    o.selected[AUDIT_PCA_EXPIRY] = 1;
    assert_true(audit_needs_pca(&o));
    assert_true(audit_needs_service(&o, AUDIT_SVC_MSK));
    assert_false(audit_needs_service(&o, AUDIT_SVC_KINESIS));
    memset(o.selected, 0, sizeof(o.selected));
    o.selected[AUDIT_TAGS_OWNERSHIP] = 1;
    assert_false(audit_needs_pca(&o));
    assert_true(audit_needs_service(&o, AUDIT_SVC_KINESIS));
    assert_true(audit_needs_service(&o, AUDIT_SVC_FIREHOSE));
}

/* ---- Kafka version lines, end of support, --as-of ---- */

static time_t day(const char *s)
{
    time_t t = 0;
    assert_int_equal(audit_date_parse(s, &t), 0);
    return t;
}

static void test_kafka_lines(void **state)
{
    static const struct {
        const char *v, *line, *eos;
    } cases[] = {
        {"3.7.x", "3.7", "2026-09-01"},        {"3.7.x.kraft", "3.7", "2026-09-01"},
        {"2.8.2.tiered", "2.8", "2025-01-14"}, {"2.8.1", "2.8", "2025-01-14"},
        {"4.0.x.kraft", "4.0", NULL},          {"3.9.x", "3.9", NULL},
        {"3.6.0", "3.6", "2026-06-01"},        {"3.6.0.1", "3.6", "2026-06-01"},
        {"3.5.1", "3.5", "2025-10-23"},        {"3.4.0", "3.4", "2025-08-04"},
        {"3.3.2", "3.3", "2024-09-11"},        {"2.6.0", "2.6", "2024-09-11"},
        {"2.5.1", "2.5", "2024-06-08"},        {"2.4.1.1", "2.4", "2024-06-08"},
        {"1.1.1", "1.1", "2024-06-08"},        {"3.10.0", "3.10", NULL},
    };
    char line[16];
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        time_t eos = 0;
        const char *date = NULL;
        assert_int_equal(audit_kafka_line(cases[i].v, line, sizeof(line)), 0);
        assert_string_equal(line, cases[i].line);
        assert_int_equal(audit_kafka_eos(cases[i].v, &eos, &date), cases[i].eos != NULL);
        if (cases[i].eos != NULL) {
            assert_string_equal(date, cases[i].eos);
            assert_int_equal(eos, day(cases[i].eos));
        }
    }
    assert_int_equal(audit_kafka_line("default", line, sizeof(line)), -1);
    assert_int_equal(audit_kafka_line("3", line, sizeof(line)), -1);
    assert_int_equal(audit_kafka_line("3.x", line, sizeof(line)), -1);
    assert_string_equal(audit_kafka_target("3.7.x.kraft"), "4.1.x.kraft");
    assert_string_equal(audit_kafka_target("4.0.x.kraft"), "4.1.x.kraft");
    assert_string_equal(audit_kafka_target("2.8.2.tiered"), "3.9.x");
    assert_string_equal(audit_kafka_target("3.6.0"), "3.9.x");
    assert_int_equal(strlen(audit_kafka_table_checked()), 10);
}

static void test_dates(void **state)
{
    time_t t = 0;
    (void)state;
    assert_int_equal(day("1970-01-02"), 86400);
    assert_int_equal(day("2024-02-29") + 86400, day("2024-03-01"));
    assert_int_equal(audit_date_parse("2026-02-29", &t), -1); /* not a leap year */
    assert_int_equal(audit_date_parse("2100-02-29", &t), -1);
    assert_int_equal(audit_date_parse("2000-02-29", &t), 0);
    assert_int_equal(audit_date_parse("2026-13-01", &t), -1);
    assert_int_equal(audit_date_parse("2026-04-31", &t), -1);
    assert_int_equal(audit_date_parse("2026-1-01", &t), -1);
    assert_int_equal(audit_date_parse("2026-01-01T00", &t), -1);
    assert_int_equal(audit_date_parse("2026/01/01", &t), -1);
    assert_int_equal(audit_date_parse("", &t), -1);
    assert_int_equal(audit_date_parse(NULL, &t), -1);
    assert_int_equal(audit_days_between(day("2026-06-01"), day("2026-09-01")), 92);
    assert_int_equal(audit_days_between(day("2026-09-01"), day("2026-09-01")), 0);
    assert_int_equal(audit_days_between(day("2026-09-01") + 1, day("2026-09-01")), -1);
    assert_int_equal(audit_days_between(day("2026-09-02"), day("2026-09-01")), -1);
}

static void add_version(struct fixture *f, const char *arn, const char *v)
{
    char json[512];
    snprintf(json, sizeof(json),
             "{\"clusterArn\":\"%s\",\"clusterType\":\"PROVISIONED\",\"provisioned\":{"
             "\"currentBrokerSoftwareInfo\":{\"kafkaVersion\":\"%s\"}}}",
             arn, v);
    add_msk(f, json);
}

static void only_versions(struct fixture *f)
{
    memset(f->opts.selected, 0, sizeof(f->opts.selected));
    f->opts.selected[AUDIT_MSK_VERSION] = 1;
    f->opts.selected[AUDIT_MSK_VERSION_EOS_SOON] = 1;
}

/* The same cluster judged at three audit dates: supported, soon unsupported, unsupported. */
static void test_msk_version_as_of(void **state)
{
    struct fixture *f = *state;
    add_version(f, "k37", "3.7.x.kraft");
    add_version(f, "t28", "2.8.2.tiered");
    add_version(f, "n41", "4.1.x.kraft");
    only_versions(f);
    f->opts.now = day("2026-05-01");
    evaluate(f);
    expect(f, "msk.kafka_version", "k37", CTL_STATUS_PASS, "supported until 2026-09-01");
    expect(f, "msk.kafka_version_eos_soon", "k37", CTL_STATUS_PASS, "in 123 days");
    expect(f, "msk.kafka_version", "t28", CTL_STATUS_FAIL, "past its end of support on 2025-01-14");
    expect(f, "msk.kafka_version", "t28", CTL_STATUS_FAIL, "upgrade to 3.9.x");
    expect(f, "msk.kafka_version_eos_soon", "t28", CTL_STATUS_NOT_APPLICABLE, "already past");
    expect(f, "msk.kafka_version", "n41", CTL_STATUS_PASS, "no published end of support");
    expect(f, "msk.kafka_version_eos_soon", "n41", CTL_STATUS_PASS, NULL);

    ctl_report_free(f->report);
    f->report = ctl_report_new();
    f->opts.now = day("2026-07-01");
    evaluate(f);
    expect(f, "msk.kafka_version", "k37", CTL_STATUS_PASS, NULL);
    expect(f, "msk.kafka_version_eos_soon", "k37", CTL_STATUS_FAIL,
           "end of support on 2026-09-01, in 62 days");
    expect(f, "msk.kafka_version_eos_soon", "k37", CTL_STATUS_FAIL, "upgrade to 4.1.x.kraft");
    f->opts.eos_warning_days = 30; /* --eos-warning-days moves the threshold */
    ctl_report_free(f->report);
    f->report = ctl_report_new();
    evaluate(f);
    expect(f, "msk.kafka_version_eos_soon", "k37", CTL_STATUS_PASS, NULL);

    ctl_report_free(f->report);
    f->report = ctl_report_new();
    f->opts.now = day("2026-09-01"); /* the end-of-support day itself */
    evaluate(f);
    expect(f, "msk.kafka_version", "k37", CTL_STATUS_FAIL,
           "Kafka 3.7.x.kraft (line 3.7) is past its end of support on 2026-09-01");
    expect(f, "msk.kafka_version", "k37", CTL_STATUS_FAIL, "without notice");
    expect(f, "msk.kafka_version_eos_soon", "k37", CTL_STATUS_NOT_APPLICABLE, NULL);
}

/* ListKafkaVersions' DEPRECATED fails a version the table does not date; a failed call does
 * not, but is named. */
static void test_msk_version_deprecated(void **state)
{
    struct fixture *f = *state;
    struct audit_kafka_versions *kv;
    add_version(f, "a", "3.9.x");
    add_version(f, "b", "3.8.x");
    assert_non_null(audit_inventory_add_resource(
        f->inv, AUDIT_SVC_MSK, "eu-west-1", "c", "ListClustersV2",
        load("{\"clusterArn\":\"c\",\"provisioned\":{\"currentBrokerSoftwareInfo\":"
             "{\"kafkaVersion\":\"3.9.x\"}}}")));
    kv = audit_inventory_add_kafka_versions(f->inv, "us-east-1");
    kv->res.data = load("[{\"version\":\"3.9.x\",\"status\":\"DEPRECATED\"},"
                        "{\"version\":\"3.8.x\",\"status\":\"ACTIVE\"}]");
    kv = audit_inventory_add_kafka_versions(f->inv, "eu-west-1");
    kv->res.failed = 1;
    kv->res.err.code = MK_ERR_AWS;
    snprintf(kv->res.err.ext_code, sizeof(kv->res.err.ext_code), "AccessDeniedException");
    only_versions(f);
    f->opts.now = day("2026-12-01");
    f->opts.min_kafka_version = "3.8.0";
    evaluate(f);
    expect(f, "msk.kafka_version", "a", CTL_STATUS_FAIL, "reports 3.9.x as DEPRECATED");
    expect(f, "msk.kafka_version", "b", CTL_STATUS_PASS, "at or above the minimum 3.8.0");
    expect(f, "msk.kafka_version", "c", CTL_STATUS_PASS,
           "ListKafkaVersions failed: AccessDeniedException");
    /* --min-kafka-version stays an extra floor, named next to the support reason. */
    ctl_report_free(f->report);
    f->report = ctl_report_new();
    f->opts.min_kafka_version = "3.9.1";
    evaluate(f);
    expect(f, "msk.kafka_version", "b", CTL_STATUS_FAIL, "below the minimum 3.9.1");
}

static void test_msk_acl_default_deny(void **state)
{
    struct fixture *f = *state;
    struct audit_resource *r;
    memset(f->opts.selected, 0, sizeof(f->opts.selected));
    f->opts.selected[AUDIT_MSK_ACL_DEFAULT_DENY] = 1;
    add_msk_config(f, "strict", AUTH_TLS,
                   "# strict\nauto.create.topics.enable=false\n"
                   "allow.everyone.if.no.acl.found = false\r\n");
    add_msk_config(f, "open", AUTH_TLS, "allow.everyone.if.no.acl.found=true\n");
    add_msk_config(f, "unset", AUTH_TLS,
                   "#allow.everyone.if.no.acl.found=false\n"
                   "allow.everyone.if.no.acl.found.x=false\n");
    add_msk_config(f, "lastwins", AUTH_TLS,
                   "allow.everyone.if.no.acl.found=false\n"
                   "allow.everyone.if.no.acl.found:true\n");
    add_msk_config(f, "scram", "{\"sasl\":{\"scram\":{\"enabled\":true}}}",
                   "allow.everyone.if.no.acl.found=FALSE");
    add_msk_config(f, "iam", "{\"sasl\":{\"iam\":{\"enabled\":true}}}", NULL);
    r = add_msk_config(f, "denied", AUTH_TLS, NULL);
    r->config_fetched = 1;
    r->config.failed = 1;
    r->config.err.code = MK_ERR_AWS;
    snprintf(r->config.err.ext_code, sizeof(r->config.err.ext_code), "AccessDeniedException");
    r = add_msk_config(f, "garbled", AUTH_TLS, NULL);
    r->config_fetched = 1;
    r->config.data = load("{\"serverProperties\":\"!!not base64\"}");
    add_msk(f, "{\"clusterArn\":\"nocfg\",\"clusterType\":\"PROVISIONED\",\"provisioned\":{"
               "\"currentBrokerSoftwareInfo\":{\"kafkaVersion\":\"3.9.x\","
               "\"configurationArn\":\"string\",\"configurationRevision\":1},"
               "\"clientAuthentication\":" AUTH_TLS "}}");
    evaluate(f);
    expect(f, "msk.acl_default_deny", "strict", CTL_STATUS_PASS, ARN_CFG " revision 2");
    expect(f, "msk.acl_default_deny", "open", CTL_STATUS_FAIL,
           "sets allow.everyone.if.no.acl.found=true");
    expect(f, "msk.acl_default_deny", "unset", CTL_STATUS_FAIL, "does not set");
    expect(f, "msk.acl_default_deny", "lastwins", CTL_STATUS_FAIL, "=true");
    expect(f, "msk.acl_default_deny", "scram", CTL_STATUS_PASS, NULL);
    expect(f, "msk.acl_default_deny", "iam", CTL_STATUS_NOT_APPLICABLE, "IAM");
    expect(f, "msk.acl_default_deny", "denied", CTL_STATUS_ERROR,
           "DescribeConfigurationRevision " ARN_CFG " revision 2 failed: AccessDeniedException");
    expect(f, "msk.acl_default_deny", "garbled", CTL_STATUS_ERROR, "base64");
    expect(f, "msk.acl_default_deny", "nocfg", CTL_STATUS_FAIL, "default configuration");
}

static void test_msk_public_access(void **state)
{
    struct fixture *f = *state;
    memset(f->opts.selected, 0, sizeof(f->opts.selected));
    f->opts.selected[AUDIT_MSK_PUBLIC_ACCESS] = 1;
    add_msk(f, "{\"clusterArn\":\"pub\",\"provisioned\":{\"brokerNodeGroupInfo\":{"
               "\"connectivityInfo\":{\"publicAccess\":{\"type\":\"SERVICE_PROVIDED_EIPS\"}}},"
               "\"clientAuthentication\":{\"tls\":{\"enabled\":true,"
               "\"certificateAuthorityArnList\":[\"" ARN_CA "\"]},"
               "\"sasl\":{\"iam\":{\"enabled\":true},\"scram\":{\"enabled\":false}}}}}");
    add_msk(f, "{\"clusterArn\":\"priv\",\"provisioned\":{\"brokerNodeGroupInfo\":{"
               "\"connectivityInfo\":{\"publicAccess\":{\"type\":\"DISABLED\"}}}}}");
    add_msk(f, "{\"clusterArn\":\"none\",\"provisioned\":{\"brokerNodeGroupInfo\":{}}}");
    evaluate(f);
    expect(f, "msk.public_access", "pub", CTL_STATUS_FAIL, "authentication left on: TLS, SASL/IAM");
    expect(f, "msk.public_access", "pub", CTL_STATUS_FAIL, "9194/9196/9198");
    expect(f, "msk.public_access", "priv", CTL_STATUS_PASS, "DISABLED");
    expect(f, "msk.public_access", "none", CTL_STATUS_PASS, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version_order),
        cmocka_unit_test(test_version_invalid),
        cmocka_unit_test(test_check_lookup),
        cmocka_unit_test(test_needs_service),
        cmocka_unit_test(test_kafka_lines),
        cmocka_unit_test(test_dates),
        cmocka_unit_test_setup_teardown(test_msk_version_as_of, setup, teardown),
        cmocka_unit_test_setup_teardown(test_msk_version_deprecated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_msk_acl_default_deny, setup, teardown),
        cmocka_unit_test_setup_teardown(test_msk_public_access, setup, teardown),
        cmocka_unit_test_setup_teardown(test_msk_all_pass, setup, teardown),
        cmocka_unit_test_setup_teardown(test_msk_aws_managed_key_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_msk_describe_key_denied_is_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_msk_bad_cluster, setup, teardown),
        cmocka_unit_test_setup_teardown(test_msk_mtls_variants, setup, teardown),
        cmocka_unit_test_setup_teardown(test_msk_tls_in_transit_variants, setup, teardown),
        cmocka_unit_test_setup_teardown(test_msk_missing_data_is_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_msk_min_version_option, setup, teardown),
        cmocka_unit_test_setup_teardown(test_msk_serverless_not_applicable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kinesis, setup, teardown),
        cmocka_unit_test_setup_teardown(test_firehose, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_policy_principal_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_listing_failure_is_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pca_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pca_expiry_vs_issued, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pca_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ca_arns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_account_failed, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
