/* audit_checks.c: the audit checks as pure functions over AWS answers (see audit_checks.h). */
#include "ctl/audit/checks.h"
#include "ctl/audit/checks-int.h"

#include "aws/arn.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "ctl/audit/versions.h"

#define RT_MSK "AWS::MSK::Cluster"
#define RT_KINESIS "AWS::Kinesis::Stream"
#define RT_FIREHOSE "AWS::KinesisFirehose::DeliveryStream"
#define RT_KMS "AWS::KMS::Key"
#define RT_PCA "AWS::ACMPCA::CertificateAuthority"
#define RT_ROLE "AWS::IAM::Role"

const struct ctl_rule audit_rules[AUDIT_CHECK__MAX] = {
    [AUDIT_MSK_CMK] = {"msk.encryption_at_rest_cmk", "MskEncryptionAtRestCmk",
                       "MSK cluster data volumes are encrypted with a customer-managed KMS key",
                       CTL_SEV_HIGH, RT_MSK,
                       "Create the cluster with EncryptionAtRest.DataVolumeKMSKeyId set to a "
                       "customer-managed KMS key (the key cannot be changed on an existing "
                       "cluster: migrate with MirrorMaker or MSK Replicator).",
                       NULL},
    [AUDIT_MSK_VERSION] =
        {"msk.kafka_version", "MskKafkaVersion",
         "MSK cluster runs a Kafka version AWS still supports, at or above the "
         "minimum",
         CTL_SEV_HIGH, RT_MSK,
         "Upgrade the cluster with UpdateClusterKafkaVersion to a supported "
         "version at or above the minimum, before AWS upgrades it without "
         "notice.",
         "aws kafka update-cluster-kafka-version --region {region} --cluster-arn {arn} "
         "--current-version <CURRENT_VERSION> --target-kafka-version <TARGET_VERSION>"},
    [AUDIT_MSK_VERSION_EOS_SOON] =
        {"msk.kafka_version_eos_soon", "MskKafkaVersionEosSoon",
         "MSK cluster's Kafka version is not near its end of support", CTL_SEV_MEDIUM, RT_MSK,
         "Plan and test the upgrade (UpdateClusterKafkaVersion) to the "
         "recommended version before the end-of-support date.",
         "aws kafka update-cluster-kafka-version --region {region} --cluster-arn {arn} "
         "--current-version <CURRENT_VERSION> --target-kafka-version <TARGET_VERSION>"},
    [AUDIT_MSK_ACL_DEFAULT_DENY] =
        {"msk.acl_default_deny", "MskAclDefaultDeny",
         "MSK cluster with client authentication denies topics "
         "without an ACL",
         CTL_SEV_HIGH, RT_MSK,
         "Create the ACLs every client principal needs, then a cluster "
         "configuration whose server.properties sets "
         "allow.everyone.if.no.acl.found=false "
         "(CreateConfiguration), applied with "
         "UpdateClusterConfiguration.",
         "aws kafka update-cluster-configuration --region {region} --cluster-arn {arn} "
         "--current-version <CURRENT_VERSION> --configuration-info "
         "Arn=<CONFIGURATION_ARN>,Revision=<REVISION>"},
    [AUDIT_MSK_PUBLIC_ACCESS] =
        {"msk.public_access", "MskPublicAccess",
         "MSK cluster brokers are not reachable from the internet", CTL_SEV_HIGH, RT_MSK,
         "Turn public access off (UpdateConnectivity with "
         "connectivityInfo.publicAccess.type DISABLED) and reach the "
         "brokers from the VPC, a peered VPC or PrivateLink.",
         "aws kafka update-connectivity --region {region} --cluster-arn {arn} --current-version "
         "<CURRENT_VERSION> --connectivity-info 'PublicAccess={Type=DISABLED}'"},
    [AUDIT_MSK_MTLS] = {"msk.mtls_required", "MskMtlsRequired",
                        "MSK cluster requires TLS client certificates from AWS Private CA",
                        CTL_SEV_HIGH, RT_MSK,
                        "Enable ClientAuthentication.Tls with at least one AWS Private CA ARN and "
                        "disable ClientAuthentication.Unauthenticated (UpdateSecurity).",
                        "aws kafka update-security --region {region} --cluster-arn {arn} "
                        "--current-version <CURRENT_VERSION> --client-authentication "
                        "'Tls={CertificateAuthorityArnList=[<CA_ARN>],Enabled=true},"
                        "Unauthenticated={Enabled=false}'"},
    [AUDIT_MSK_TLS] =
        {"msk.tls_in_transit", "MskTlsInTransit",
         "MSK cluster encrypts client-broker and in-cluster traffic with TLS", CTL_SEV_MEDIUM,
         RT_MSK,
         "Set EncryptionInTransit.ClientBroker to TLS (UpdateSecurity); in-cluster "
         "encryption can only be chosen at creation, so recreate the cluster with "
         "InCluster true if it is off.",
         "aws kafka update-security --region {region} --cluster-arn {arn} --current-version "
         "<CURRENT_VERSION> --encryption-info 'EncryptionInTransit={ClientBroker=TLS}'"},
    [AUDIT_KINESIS_CMK] = {"kinesis.encryption_cmk", "KinesisEncryptionCmk",
                           "Kinesis data stream is encrypted with a customer-managed KMS key",
                           CTL_SEV_HIGH, RT_KINESIS,
                           "Run StartStreamEncryption with EncryptionType KMS and a "
                           "customer-managed key (not alias/aws/kinesis).",
                           "aws kinesis start-stream-encryption --region {region} --stream-arn "
                           "{arn} --encryption-type KMS --key-id <KMS_KEY_ARN>"},
    [AUDIT_FIREHOSE_CMK] =
        {"firehose.encryption_cmk", "FirehoseEncryptionCmk",
         "Firehose stream encrypts data at rest with a customer-managed KMS key", CTL_SEV_HIGH,
         RT_FIREHOSE,
         "Run StartDeliveryStreamEncryption with KeyType CUSTOMER_MANAGED_CMK "
         "and the key's ARN.",
         "aws firehose start-delivery-stream-encryption --region {region} --delivery-stream-name "
         "{name} --delivery-stream-encryption-configuration-input "
         "KeyType=CUSTOMER_MANAGED_CMK,KeyARN=<KMS_KEY_ARN>"},
    [AUDIT_KMS_ROTATION] = {"kms.key_rotation", "KmsKeyRotation",
                            "Customer-managed KMS keys in use have automatic rotation enabled",
                            CTL_SEV_MEDIUM, RT_KMS, "Run EnableKeyRotation on the key.",
                            "aws kms enable-key-rotation --region {region} --key-id {arn}"},
    [AUDIT_KMS_STATE] = {"kms.key_state", "KmsKeyState",
                         "Customer-managed KMS keys in use are enabled", CTL_SEV_HIGH, RT_KMS,
                         "Run CancelKeyDeletion and EnableKey, or move the resource to an enabled "
                         "key before the data becomes unreadable.",
                         "aws kms cancel-key-deletion --region {region} --key-id {arn}; aws kms "
                         "enable-key --region {region} --key-id {arn}"},
    [AUDIT_KMS_POLICY] =
        {"kms.key_policy_public", "KmsKeyPolicyPublic",
         "KMS key policies in use grant nothing to every principal", CTL_SEV_HIGH, RT_KMS,
         "Replace Principal \"*\" with the account or role ARNs that need the key, "
         "or add a Condition (aws:PrincipalAccount, kms:CallerAccount, "
         "kms:ViaService) to the statement (PutKeyPolicy).",
         "aws kms put-key-policy --region {region} --key-id {arn} --policy-name default --policy "
         "file://<FIXED_POLICY.json>"},
    [AUDIT_PCA_STATUS] = {"pca.status", "PcaStatus",
                          "AWS Private CAs used for MSK client authentication are ACTIVE",
                          CTL_SEV_HIGH, RT_PCA,
                          "Restore or re-enable the CA (RestoreCertificateAuthority, "
                          "UpdateCertificateAuthority --status ACTIVE), install its certificate "
                          "if it is PENDING_CERTIFICATE, or point the cluster at an active CA "
                          "(UpdateSecurity).",
                          "aws acm-pca update-certificate-authority --region {region} "
                          "--certificate-authority-arn {arn} --status ACTIVE"},
    [AUDIT_PCA_EXPIRY] = {"pca.certificate_expiry", "PcaCertificateExpiry",
                          "AWS Private CA certificates outlive the minimum and the certificates "
                          "they issue",
                          CTL_SEV_HIGH, RT_PCA,
                          "Renew the CA certificate (a new certificate for the same key with "
                          "ImportCertificateAuthorityCertificate, or a new CA added to the "
                          "cluster's certificateAuthorityArnList before the old one expires).",
                          NULL},
    [AUDIT_PCA_REVOCATION] =
        {"pca.revocation_configured", "PcaRevocationConfigured",
         "AWS Private CAs publish revocation (CRL or OCSP)", CTL_SEV_MEDIUM, RT_PCA,
         "Enable a CRL (RevocationConfiguration.CrlConfiguration) or OCSP "
         "(OcspConfiguration) with UpdateCertificateAuthority, so revoking a "
         "client certificate takes effect.",
         "aws acm-pca update-certificate-authority --region {region} --certificate-authority-arn "
         "{arn} --revocation-configuration 'OcspConfiguration={Enabled=true}'"},
    [AUDIT_PCA_USAGE_MODE] = {"pca.usage_mode", "PcaUsageMode",
                              "AWS Private CA usage mode (reported, never fails)", CTL_SEV_LOW,
                              RT_PCA,
                              "Informational: GENERAL_PURPOSE CAs issue long-lived certificates "
                              "that need revocation; SHORT_LIVED_CERTIFICATE CAs issue "
                              "certificates of at most 7 days.",
                              NULL},
    [AUDIT_TAGS_OWNERSHIP] = {"tags.ownership", "TagsOwnership",
                              "Audited resources carry the required ownership tags", CTL_SEV_LOW,
                              "AWS::*",
                              "Add the missing tags (kafka TagResource, kinesis AddTagsToStream, "
                              "firehose TagDeliveryStream, kms TagResource).",
                              "aws resourcegroupstaggingapi tag-resources --region {region} "
                              "--resource-arn-list {arn} --tags <KEY>=<VALUE>"},
};

int audit_check_lookup(const char *id)
{
    for (int i = 0; i < AUDIT_CHECK__MAX && id != NULL; i++) {
        if (strcmp(audit_rules[i].id, id) == 0) {
            return i;
        }
    }
    return -1;
}

/* ---- versions ---- */

/* Reads the next component of a version at *p: 1 with *val, 0 at the end of the numeric part. */
static int version_next(const char **p, unsigned long *val)
{
    const char *s = *p;
    const char *end = s;
    if (*s == '\0') {
        return 0;
    }
    while (*end != '\0' && *end != '.') {
        end++;
    }
    if (end - s == 1 && (*s == 'x' || *s == 'X')) {
        *val = ULONG_MAX;
    } else {
        unsigned long v = 0;
        if (end == s) {
            return 0;
        }
        for (const char *c = s; c < end; c++) {
            if (*c < '0' || *c > '9') {
                return 0;
            }
            v = v > (ULONG_MAX - 9) / 10 ? ULONG_MAX - 1 : v * 10 + (unsigned long)(*c - '0');
        }
        *val = v;
    }
    *p = *end == '.' ? end + 1 : end;
    return 1;
}

int audit_version_valid(const char *v)
{
    unsigned long first;
    const char *p = v;
    return v != NULL && v[0] >= '0' && v[0] <= '9' && version_next(&p, &first) == 1;
}

int audit_version_exact(const char *v)
{
    const char *p = v;
    unsigned long val;
    if (!audit_version_valid(v)) {
        return 0;
    }
    while (version_next(&p, &val) == 1) {
    }
    if (*p == '\0') {
        return p[-1] != '.'; /* "2.5." ends in an empty component */
    }
    /* What the comparison stops at must be one lower-case suffix, the last component. */
    while (*p >= 'a' && *p <= 'z') {
        p++;
    }
    return *p == '\0';
}

int audit_version_cmp(const char *a, const char *b, int *cmp)
{
    const char *pa = a;
    const char *pb = b;
    if (!audit_version_valid(a) || !audit_version_valid(b)) {
        return -1;
    }
    for (;;) {
        unsigned long va = 0, vb = 0;
        int ha = version_next(&pa, &va);
        int hb = version_next(&pb, &vb);
        if (!ha) {
            pa = "";
            va = 0;
        }
        if (!hb) {
            pb = "";
            vb = 0;
        }
        if (va != vb) {
            *cmp = va < vb ? -1 : 1;
            return 0;
        }
        if (!ha && !hb) {
            *cmp = 0;
            return 0;
        }
    }
}

/* ---- inventory ---- */

struct audit_inventory *audit_inventory_new(void)
{
    return calloc(1, sizeof(struct audit_inventory));
}

static void result_clear(struct audit_result *r)
{
    json_decref(r->data);
    r->data = NULL;
}

void audit_inventory_free(struct audit_inventory *inv)
{
    if (inv == NULL) {
        return;
    }
    for (size_t i = 0; i < inv->n_listings; i++) {
        free(inv->listings[i].region);
        result_clear(&inv->listings[i].res);
    }
    for (size_t i = 0; i < inv->n_resources; i++) {
        free(inv->resources[i].region);
        free(inv->resources[i].name);
        result_clear(&inv->resources[i].res);
    }
    for (size_t i = 0; i < inv->n_keys; i++) {
        free(inv->keys[i].region);
        free(inv->keys[i].ref);
        result_clear(&inv->keys[i].describe);
        result_clear(&inv->keys[i].rotation);
        result_clear(&inv->keys[i].policy);
        result_clear(&inv->keys[i].tags);
        result_clear(&inv->keys[i].trail);
    }
    for (size_t i = 0; i < inv->n_resources; i++) {
        result_clear(&inv->resources[i].tags);
        result_clear(&inv->resources[i].config);
    }
    for (size_t i = 0; i < inv->n_kafka_versions; i++) {
        free(inv->kafka_versions[i].region);
        result_clear(&inv->kafka_versions[i].res);
    }
    free(inv->kafka_versions);
    for (size_t i = 0; i < inv->n_cas; i++) {
        free(inv->cas[i].arn);
        free(inv->cas[i].region);
        result_clear(&inv->cas[i].describe);
        result_clear(&inv->cas[i].cert);
    }
    for (size_t i = 0; i < inv->n_regions; i++) {
        free(inv->regions[i]);
    }
    free(inv->listings);
    free(inv->resources);
    free(inv->keys);
    free(inv->cas);
    free(inv->regions);
    free(inv->account_role);
    free(inv);
}

/* Grows *arr by one zeroed element of size sz; returns it or NULL. */
static void *grow(void **arr, size_t *n, size_t sz)
{
    char *p = realloc(*arr, (*n + 1) * sz);
    if (p == NULL) {
        return NULL;
    }
    *arr = p;
    memset(p + *n * sz, 0, sz);
    return p + (*n)++ * sz;
}

struct audit_listing *audit_inventory_add_listing(struct audit_inventory *inv, const char *region,
                                                  enum audit_service svc, const char *operation)
{
    char *r = strdup(region);
    struct audit_listing *l = NULL;
    if (r != NULL) {
        l = grow((void **)&inv->listings, &inv->n_listings, sizeof(*l));
    }
    if (l == NULL) {
        free(r);
        return NULL;
    }
    l->region = r;
    l->svc = svc;
    l->operation = operation;
    return l;
}

struct audit_resource *audit_inventory_add_resource(struct audit_inventory *inv,
                                                    enum audit_service svc, const char *region,
                                                    const char *name, const char *operation,
                                                    json_t *data)
{
    char *r = strdup(region);
    char *n = strdup(name);
    struct audit_resource *res = NULL;
    if (r != NULL && n != NULL) {
        res = grow((void **)&inv->resources, &inv->n_resources, sizeof(*res));
    }
    if (res == NULL) {
        free(r);
        free(n);
        json_decref(data);
        return NULL;
    }
    res->svc = svc;
    res->region = r;
    res->name = n;
    res->operation = operation;
    res->res.data = data;
    return res;
}

struct audit_key *audit_inventory_find_key(const struct audit_inventory *inv, const char *region,
                                           const char *ref)
{
    for (size_t i = 0; i < inv->n_keys; i++) {
        if (strcmp(inv->keys[i].region, region) == 0 && strcmp(inv->keys[i].ref, ref) == 0) {
            return &inv->keys[i];
        }
    }
    return NULL;
}

struct audit_key *audit_inventory_add_key(struct audit_inventory *inv, const char *region,
                                          const char *ref)
{
    struct audit_key *k = audit_inventory_find_key(inv, region, ref);
    char *r, *f;
    if (k != NULL) {
        return k;
    }
    r = strdup(region);
    f = strdup(ref);
    if (r != NULL && f != NULL) {
        k = grow((void **)&inv->keys, &inv->n_keys, sizeof(*k));
    }
    if (k == NULL) {
        free(r);
        free(f);
        return NULL;
    }
    k->region = r;
    k->ref = f;
    return k;
}

struct audit_kafka_versions *audit_inventory_add_kafka_versions(struct audit_inventory *inv,
                                                                const char *region)
{
    char *r = strdup(region);
    struct audit_kafka_versions *kv = NULL;
    if (r != NULL) {
        kv = grow((void **)&inv->kafka_versions, &inv->n_kafka_versions, sizeof(*kv));
    }
    if (kv == NULL) {
        free(r);
        return NULL;
    }
    kv->region = r;
    return kv;
}

int audit_ca_arn_valid(const char *s)
{
    static const char type[] = ":certificate-authority/";
    char rbuf[64];
    const char *t;
    if (s == NULL || strncmp(s, "arn:", 4) != 0 || strstr(s, ":acm-pca:") == NULL ||
        aws_arn_region(s, rbuf, sizeof(rbuf)) == NULL) {
        return 0;
    }
    t = strstr(s, type);
    return t != NULL && t[sizeof(type) - 1] != '\0' && strlen(s) < 256;
}

struct audit_ca *audit_inventory_add_ca(struct audit_inventory *inv, const char *arn)
{
    char rbuf[64];
    const char *region = aws_arn_region(arn, rbuf, sizeof(rbuf));
    struct audit_ca *ca = NULL;
    char *a, *r;
    if (region == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < inv->n_cas; i++) {
        if (strcmp(inv->cas[i].arn, arn) == 0) {
            return &inv->cas[i];
        }
    }
    a = strdup(arn);
    r = strdup(region);
    if (a != NULL && r != NULL) {
        ca = grow((void **)&inv->cas, &inv->n_cas, sizeof(*ca));
    }
    if (ca == NULL) {
        free(a);
        free(r);
        return NULL;
    }
    ca->arn = a;
    ca->region = r;
    return ca;
}

int audit_inventory_add_region(struct audit_inventory *inv, const char *region)
{
    char **slot;
    char *r = strdup(region);
    if (r == NULL) {
        return -1;
    }
    slot = grow((void **)&inv->regions, &inv->n_regions, sizeof(*slot));
    if (slot == NULL) {
        free(r);
        return -1;
    }
    *slot = r;
    return 0;
}

/* ---- JSON helpers ---- */

const char *audit_jstr(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* Follows a dotted path of object keys; NULL when any step is missing. */
json_t *audit_jpath(const json_t *obj, const char *path)
{
    char buf[256];
    char *save = NULL;
    json_t *cur = (json_t *)obj;
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *tok = strtok_r(buf, ".", &save); tok != NULL && cur != NULL;
         tok = strtok_r(NULL, ".", &save)) {
        cur = json_object_get(cur, tok);
    }
    return cur;
}

const char *audit_err_text(const struct mk_err *err, char *buf, size_t buf_len)
{
    const char *code = err->ext_code[0] != '\0' ? err->ext_code : mk_code_str(err->code);
    snprintf(buf, buf_len, "%s: %.*s", code, (int)sizeof(err->msg), err->msg);
    return buf;
}

/* Whether a Kinesis KeyId names the AWS-managed key alias (by name or alias ARN). */
static int is_aws_kinesis_alias(const char *key_id)
{
    static const char alias[] = "alias/aws/kinesis";
    size_t l = strlen(key_id);
    if (strcmp(key_id, alias) == 0) {
        return 1;
    }
    return strncmp(key_id, "arn:", 4) == 0 && l > sizeof(alias) &&
           strcmp(key_id + l - sizeof(alias), ":alias/aws/kinesis") == 0;
}

/* The "provisioned" part of an MSK clusterInfo: the v2 wrapper, or the v1 object itself. */
static const json_t *msk_provisioned(const json_t *info)
{
    json_t *p = json_object_get(info, "provisioned");
    return json_is_object(p) ? p : info;
}

static int msk_is_serverless(const json_t *info)
{
    const char *type = audit_jstr(info, "clusterType");
    return type != NULL && strcmp(type, "SERVERLESS") == 0;
}

const char *audit_resource_key_ref(const struct audit_resource *res, char *buf, size_t buf_len,
                                   const char **key_region)
{
    const char *ref = NULL;
    const json_t *d = res->res.data;
    if (res->res.failed || d == NULL) {
        return NULL;
    }
    switch (res->svc) {
    case AUDIT_SVC_MSK:
        if (!msk_is_serverless(d)) {
            ref = json_string_value(
                audit_jpath(msk_provisioned(d), "encryptionInfo.encryptionAtRest.dataVolumeKMSKeyId"));
        }
        break;
    case AUDIT_SVC_KINESIS: {
        const char *type = audit_jstr(d, "EncryptionType");
        ref = audit_jstr(d, "KeyId");
        if (type == NULL || strcmp(type, "KMS") != 0 ||
            (ref != NULL && is_aws_kinesis_alias(ref))) {
            ref = NULL;
        }
        break;
    }
    case AUDIT_SVC_FIREHOSE: {
        /* Only a customer-managed key that encryption is (being) enabled with is "in use". */
        const json_t *enc = json_object_get(d, "DeliveryStreamEncryptionConfiguration");
        const char *ktype = audit_jstr(enc, "KeyType");
        const char *status = audit_jstr(enc, "Status");
        if (ktype != NULL && strcmp(ktype, "CUSTOMER_MANAGED_CMK") == 0 &&
            (status == NULL || strncmp(status, "ENABL", 5) == 0)) {
            ref = audit_jstr(enc, "KeyARN");
        }
        break;
    }
    default:
        break;
    }
    if (ref == NULL || ref[0] == '\0') {
        return NULL;
    }
    *key_region = aws_arn_region(ref, buf, buf_len);
    if (*key_region == NULL) {
        *key_region = res->region;
    }
    return ref;
}

const json_t *audit_msk_ca_arns(const struct audit_resource *res)
{
    const json_t *cas;
    if (res->svc != AUDIT_SVC_MSK || res->res.failed || res->res.data == NULL ||
        msk_is_serverless(res->res.data)) {
        return NULL;
    }
    cas = audit_jpath(msk_provisioned(res->res.data),
                      "clientAuthentication.tls.certificateAuthorityArnList");
    return json_is_array(cas) ? cas : NULL;
}

const char *audit_msk_configuration(const struct audit_resource *res, long long *revision)
{
    const json_t *sw;
    const char *arn;
    const json_t *rev;
    if (res->svc != AUDIT_SVC_MSK || res->res.failed || res->res.data == NULL ||
        msk_is_serverless(res->res.data)) {
        return NULL;
    }
    sw = audit_jpath(msk_provisioned(res->res.data), "currentBrokerSoftwareInfo");
    arn = audit_jstr(sw, "configurationArn");
    rev = json_object_get(sw, "configurationRevision");
    /* A cluster on MSK's default configuration has no configurationArn (moto answers the
     * placeholder "string"): only a kafka configuration ARN names one. */
    if (arn == NULL || strncmp(arn, "arn:", 4) != 0 || strstr(arn, ":configuration/") == NULL ||
        strlen(arn) > 512 || !json_is_integer(rev) || json_integer_value(rev) < 1) {
        return NULL;
    }
    *revision = json_integer_value(rev);
    return arn;
}

int audit_needs_pca(const struct audit_eval_options *opts)
{
    return opts->selected[AUDIT_PCA_STATUS] || opts->selected[AUDIT_PCA_EXPIRY] ||
           opts->selected[AUDIT_PCA_REVOCATION] || opts->selected[AUDIT_PCA_USAGE_MODE];
}

int audit_key_is_customer(const struct audit_key *key)
{
    const char *mgr = audit_jstr(key->describe.data, "KeyManager");
    return !key->describe.failed && mgr != NULL && strcmp(mgr, "CUSTOMER") == 0;
}

int audit_needs_service(const struct audit_eval_options *opts, enum audit_service svc)
{
    static const enum audit_check kms[] = {AUDIT_KMS_ROTATION, AUDIT_KMS_STATE, AUDIT_KMS_POLICY};
    for (size_t i = 0; i < sizeof(kms) / sizeof(kms[0]); i++) {
        if (opts->selected[kms[i]]) {
            return 1;
        }
    }
    /* Every listed resource is tagged; the MSK clusters name the CAs. */
    if (opts->selected[AUDIT_TAGS_OWNERSHIP]) {
        return 1;
    }
    switch (svc) {
    case AUDIT_SVC_MSK:
        return audit_needs_pca(opts) || opts->selected[AUDIT_MSK_CMK] ||
               opts->selected[AUDIT_MSK_VERSION] || opts->selected[AUDIT_MSK_MTLS] ||
               opts->selected[AUDIT_MSK_TLS] || opts->selected[AUDIT_MSK_VERSION_EOS_SOON] ||
               opts->selected[AUDIT_MSK_ACL_DEFAULT_DENY] ||
               opts->selected[AUDIT_MSK_PUBLIC_ACCESS];
    case AUDIT_SVC_KINESIS:
        return opts->selected[AUDIT_KINESIS_CMK];
    case AUDIT_SVC_FIREHOSE:
        return opts->selected[AUDIT_FIREHOSE_CMK];
    default:
        return 0;
    }
}

/* ---- evaluation ---- */

/* Verdict on "the resource uses a customer-managed key", given the key reference it names. */
static int eval_key_is_cmk(struct eval *ev, enum audit_check check, const char *arn,
                           const char *region, const char *ref, const char *key_region)
{
    char ebuf[900];
    const struct audit_key *k = audit_inventory_find_key(ev->inv, key_region, ref);
    const char *mgr;
    if (k == NULL) {
        return ADD(ev, check, CTL_STATUS_ERROR, arn, region,
                   "key %s was not resolved (DescribeKey not run)", ref);
    }
    if (k->describe.failed) {
        return ADD(ev, check, CTL_STATUS_ERROR, arn, region, "DescribeKey %s failed: %s", ref,
                   audit_err_text(&k->describe.err, ebuf, sizeof(ebuf)));
    }
    mgr = audit_jstr(k->describe.data, "KeyManager");
    if (mgr == NULL) {
        return ADD(ev, check, CTL_STATUS_ERROR, arn, region,
                   "DescribeKey %s: answer has no KeyMetadata.KeyManager", ref);
    }
    if (strcmp(mgr, "CUSTOMER") == 0) {
        return ADD(ev, check, CTL_STATUS_PASS, arn, region,
                   "encrypted with customer-managed key %s",
                   audit_jstr(k->describe.data, "Arn") ? audit_jstr(k->describe.data, "Arn") : ref);
    }
    return ADD(ev, check, CTL_STATUS_FAIL, arn, region,
               "encrypted with an AWS-managed key (%s, KeyManager %s), not a customer-managed key",
               audit_jstr(k->describe.data, "Arn") ? audit_jstr(k->describe.data, "Arn") : ref, mgr);
}

static int eval_msk_cmk(struct eval *ev, const struct audit_resource *r, const char *arn)
{
    char rbuf[64];
    const char *key_region = NULL;
    const char *ref = audit_resource_key_ref(r, rbuf, sizeof(rbuf), &key_region);
    if (ref == NULL) {
        return ADD(ev, AUDIT_MSK_CMK, CTL_STATUS_FAIL, arn, r->region,
                   "no encryptionAtRest.dataVolumeKMSKeyId: data volumes use the AWS-managed key");
    }
    return eval_key_is_cmk(ev, AUDIT_MSK_CMK, arn, r->region, ref, key_region);
}

static time_t eval_now(const struct eval *ev)
{
    return ev->opts->now != 0 ? ev->opts->now : time(NULL);
}

/* ListKafkaVersions' status of v in region: "ACTIVE", "DEPRECATED", or NULL (not listed, or the
 * call failed: *failed then says so). */
static const char *kafka_version_status(const struct eval *ev, const char *region, const char *v,
                                        const struct audit_result **failed)
{
    *failed = NULL;
    for (size_t i = 0; i < ev->inv->n_kafka_versions; i++) {
        const struct audit_kafka_versions *kv = &ev->inv->kafka_versions[i];
        size_t k;
        json_t *item;
        if (strcmp(kv->region, region) != 0) {
            continue;
        }
        if (kv->res.failed) {
            *failed = &kv->res;
            return NULL;
        }
        json_array_foreach(kv->res.data, k, item)
        {
            const char *name = audit_jstr(item, "version");
            if (name != NULL && strcmp(name, v) == 0) {
                return audit_jstr(item, "status");
            }
        }
    }
    return NULL;
}

static const char *cluster_kafka_version(const struct audit_resource *r)
{
    return json_string_value(
        audit_jpath(msk_provisioned(r->res.data), "currentBrokerSoftwareInfo.kafkaVersion"));
}

/* Appends "; " and a formatted reason to buf. */
static void reason_add(char *buf, size_t len, const char *fmt, ...) MK_PRINTF(3, 4);
static void reason_add(char *buf, size_t len, const char *fmt, ...)
{
    size_t used = strlen(buf);
    va_list ap;
    if (used + 2 >= len) {
        return;
    }
    if (used > 0) {
        memcpy(buf + used, "; ", 3);
        used += 2;
    }
    va_start(ap, fmt);
    vsnprintf(buf + used, len - used, fmt, ap);
    va_end(ap);
}

/*
 * FAIL when the version is past its line's end of support on the audit date (AWS may then
 * upgrade the cluster at any time without notice), when ListKafkaVersions calls it DEPRECATED,
 * or when it is below --min-kafka-version.  Every reason found is named.
 */
static int eval_msk_version(struct eval *ev, const struct audit_resource *r, const char *arn)
{
    const char *v = cluster_kafka_version(r);
    const char *min = ev->opts->min_kafka_version;
    const struct audit_result *lkv_failed = NULL;
    const char *status, *date = NULL;
    char why[1024] = "", line[32], ebuf[560] = "";
    time_t eos = 0, now = eval_now(ev);
    int cmp = 0, has_eos;

    if (v == NULL) {
        return ADD(ev, AUDIT_MSK_VERSION, CTL_STATUS_ERROR, arn, r->region,
                   "missing data: no currentBrokerSoftwareInfo.kafkaVersion in the answer");
    }
    has_eos = audit_kafka_eos(v, &eos, &date);
    if (has_eos < 0 || audit_kafka_line(v, line, sizeof(line)) != 0 ||
        (min != NULL && audit_version_cmp(v, min, &cmp) != 0)) {
        return ADD(ev, AUDIT_MSK_VERSION, CTL_STATUS_ERROR, arn, r->region,
                   "cannot parse Kafka version \"%s\"", v);
    }
    status = kafka_version_status(ev, r->region, v, &lkv_failed);
    if (has_eos > 0 && now >= eos) {
        reason_add(why, sizeof(why),
                   "Kafka %s (line %s) is past its end of support on %s: AWS may upgrade the "
                   "cluster at any time without notice; upgrade to %s",
                   v, line, date, audit_kafka_target(v));
    }
    if (status != NULL && strcmp(status, "DEPRECATED") == 0) {
        if (why[0] == '\0') {
            reason_add(why, sizeof(why),
                       "ListKafkaVersions reports %s as DEPRECATED; upgrade to %s", v,
                       audit_kafka_target(v));
        } else {
            reason_add(why, sizeof(why), "ListKafkaVersions reports it as DEPRECATED");
        }
    }
    if (min != NULL && cmp < 0) {
        reason_add(why, sizeof(why), "Kafka %s is below the minimum %s", v, min);
    }
    if (why[0] != '\0') {
        return ADD(ev, AUDIT_MSK_VERSION, CTL_STATUS_FAIL, arn, r->region, "%s", why);
    }
    if (lkv_failed != NULL) {
        char tmp[900];
        snprintf(ebuf, sizeof(ebuf),
                 " (DEPRECATED status not read: ListKafkaVersions failed: %.480s)",
                 audit_err_text(&lkv_failed->err, tmp, sizeof(tmp)));
    }
    if (has_eos > 0) {
        return ADD(ev, AUDIT_MSK_VERSION, CTL_STATUS_PASS, arn, r->region,
                   "Kafka %s is supported until %s and at or above the minimum %s%s", v, date,
                   min != NULL ? min : "(none)", ebuf);
    }
    return ADD(ev, AUDIT_MSK_VERSION, CTL_STATUS_PASS, arn, r->region,
               "Kafka %s has no published end of support and is at or above the minimum %s%s", v,
               min != NULL ? min : "(none)", ebuf);
}

/* FAIL when the end of support falls within --eos-warning-days after the audit date. */
static int eval_msk_eos_soon(struct eval *ev, const struct audit_resource *r, const char *arn)
{
    const char *v = cluster_kafka_version(r);
    const char *date = NULL;
    time_t eos = 0, now = eval_now(ev);
    long days, warn = ev->opts->eos_warning_days;
    int has_eos;

    if (v == NULL) {
        return ADD(ev, AUDIT_MSK_VERSION_EOS_SOON, CTL_STATUS_ERROR, arn, r->region,
                   "missing data: no currentBrokerSoftwareInfo.kafkaVersion in the answer");
    }
    has_eos = audit_kafka_eos(v, &eos, &date);
    if (has_eos < 0) {
        return ADD(ev, AUDIT_MSK_VERSION_EOS_SOON, CTL_STATUS_ERROR, arn, r->region,
                   "cannot parse Kafka version \"%s\"", v);
    }
    if (has_eos == 0) {
        return ADD(ev, AUDIT_MSK_VERSION_EOS_SOON, CTL_STATUS_PASS, arn, r->region,
                   "Kafka %s has no published end of support", v);
    }
    days = audit_days_between(now, eos);
    if (now >= eos) {
        return ADD(ev, AUDIT_MSK_VERSION_EOS_SOON, CTL_STATUS_NOT_APPLICABLE, arn, r->region,
                   "Kafka %s is already past its end of support (%s): msk.kafka_version "
                   "reports it",
                   v, date);
    }
    if (days < warn) {
        return ADD(ev, AUDIT_MSK_VERSION_EOS_SOON, CTL_STATUS_FAIL, arn, r->region,
                   "Kafka %s reaches its end of support on %s, in %ld days (warning at %ld); "
                   "upgrade to %s",
                   v, date, days, warn, audit_kafka_target(v));
    }
    return ADD(ev, AUDIT_MSK_VERSION_EOS_SOON, CTL_STATUS_PASS, arn, r->region,
               "Kafka %s is supported until %s, in %ld days", v, date, days);
}

/* Joins the strings of an array with ", " into buf; "none" when empty. */
static const char *join_strings(const json_t *arr, char *buf, size_t len)
{
    size_t i;
    json_t *v;
    buf[0] = '\0';
    json_array_foreach(arr, i, v)
    {
        size_t used = strlen(buf);
        if (json_is_string(v) && used < len) {
            snprintf(buf + used, len - used, "%s%s", used ? ", " : "", json_string_value(v));
        }
    }
    if (buf[0] == '\0') {
        snprintf(buf, len, "none");
    }
    return buf;
}

static size_t count_strings(const json_t *arr)
{
    size_t i, n = 0;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        n += json_is_string(v) && json_string_length(v) > 0;
    }
    return n;
}

static int eval_msk_mtls(struct eval *ev, const struct audit_resource *r, const char *arn)
{
    const json_t *p = msk_provisioned(r->res.data);
    const json_t *auth = json_object_get(p, "clientAuthentication");
    const json_t *tls = json_object_get(auth, "tls");
    const json_t *cas = json_object_get(tls, "certificateAuthorityArnList");
    const json_t *tls_enabled = json_object_get(tls, "enabled");
    const json_t *unauth = audit_jpath(auth, "unauthenticated.enabled");
    size_t n_cas = count_strings(cas);
    char list[2048];
    char why[256] = "";
    int tls_on, unauth_on;

    /* Clusters created before the "enabled" flags existed report only the CA list. */
    tls_on = json_is_object(tls) && (json_is_true(tls_enabled) || (tls_enabled == NULL && n_cas));
    /* With no client authentication object at all, AWS allows unauthenticated clients. */
    unauth_on = !json_is_object(auth) || json_object_size(auth) == 0 || json_is_true(unauth);
    join_strings(cas, list, sizeof(list));
    if (!tls_on) {
        snprintf(why, sizeof(why), "TLS client authentication is not enabled");
    } else if (n_cas == 0) {
        snprintf(why, sizeof(why), "no AWS Private CA ARN is configured");
    } else if (unauth_on) {
        snprintf(why, sizeof(why), "unauthenticated access is enabled");
    }
    if (why[0] != '\0') {
        return ADD(ev, AUDIT_MSK_MTLS, CTL_STATUS_FAIL, arn, r->region, "%s (private CAs: %s)", why,
                   list);
    }
    return ADD(ev, AUDIT_MSK_MTLS, CTL_STATUS_PASS, arn, r->region,
               "TLS client authentication required; private CAs: %s", list);
}

static int eval_msk_tls(struct eval *ev, const struct audit_resource *r, const char *arn)
{
    const json_t *t = audit_jpath(msk_provisioned(r->res.data), "encryptionInfo.encryptionInTransit");
    const char *cb = audit_jstr(t, "clientBroker");
    const json_t *ic = json_object_get(t, "inCluster");
    if (cb == NULL || !json_is_boolean(ic)) {
        return ADD(ev, AUDIT_MSK_TLS, CTL_STATUS_ERROR, arn, r->region,
                   "missing data: no encryptionInfo.encryptionInTransit.%s in the answer",
                   cb == NULL ? "clientBroker" : "inCluster");
    }
    if (strcmp(cb, "TLS") != 0 || !json_is_true(ic)) {
        return ADD(ev, AUDIT_MSK_TLS, CTL_STATUS_FAIL, arn, r->region,
                   "clientBroker is %s and inCluster is %s (want TLS and true)", cb,
                   json_is_true(ic) ? "true" : "false");
    }
    return ADD(ev, AUDIT_MSK_TLS, CTL_STATUS_PASS, arn, r->region,
               "clientBroker is TLS and inCluster is true");
}

/* Which client authentication modes a provisioned cluster leaves on. */
struct msk_auth {
    int tls, scram, iam, unauth;
};

static struct msk_auth msk_auth_modes(const json_t *p)
{
    const json_t *auth = json_object_get(p, "clientAuthentication");
    const json_t *tls = json_object_get(auth, "tls");
    const json_t *tls_enabled = json_object_get(tls, "enabled");
    struct msk_auth a;
    /* Clusters created before the "enabled" flags existed report only the CA list. */
    a.tls = json_is_object(tls) &&
            (json_is_true(tls_enabled) ||
             (tls_enabled == NULL &&
              count_strings(json_object_get(tls, "certificateAuthorityArnList"))));
    a.scram = json_is_true(audit_jpath(auth, "sasl.scram.enabled"));
    a.iam = json_is_true(audit_jpath(auth, "sasl.iam.enabled"));
    /* With no client authentication object at all, AWS allows unauthenticated clients. */
    a.unauth = !json_is_object(auth) || json_object_size(auth) == 0 ||
               json_is_true(audit_jpath(auth, "unauthenticated.enabled"));
    return a;
}

static const char *auth_list(const struct msk_auth *a, char *buf, size_t len)
{
    buf[0] = '\0';
    if (a->tls) {
        reason_add(buf, len, "TLS");
    }
    if (a->scram) {
        reason_add(buf, len, "SASL/SCRAM");
    }
    if (a->iam) {
        reason_add(buf, len, "SASL/IAM");
    }
    if (a->unauth) {
        reason_add(buf, len, "unauthenticated");
    }
    for (char *c = buf; *c != '\0'; c++) {
        if (c[0] == ';' && c[1] == ' ') {
            c[0] = ','; /* reason_add joins with "; " */
        }
    }
    if (buf[0] == '\0') {
        snprintf(buf, len, "none");
    }
    return buf;
}

/*
 * The value of key in a Java properties text (server.properties), or NULL: the last assignment
 * wins, as in Kafka; '#' and '!' start comments; key and value are separated by '=', ':' or
 * white space.  The value is written (trimmed) into val.
 */
static const char *properties_get(const char *text, size_t len, const char *key, char *val,
                                  size_t val_len)
{
    const char *found = NULL;
    size_t klen = strlen(key);
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *s = p, *e;
        if (eol == NULL) {
            eol = end;
        }
        e = eol;
        while (s < e && (*s == ' ' || *s == '\t' || *s == '\f')) {
            s++;
        }
        while (e > s && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t')) {
            e--;
        }
        if (s < e && *s != '#' && *s != '!' && (size_t)(e - s) >= klen &&
            memcmp(s, key, klen) == 0 && (s + klen == e || strchr("=: \t", s[klen]) != NULL)) {
            const char *v = s + klen;
            size_t n;
            while (v < e && (*v == ' ' || *v == '\t')) {
                v++;
            }
            if (v < e && (*v == '=' || *v == ':')) {
                v++;
            }
            while (v < e && (*v == ' ' || *v == '\t')) {
                v++;
            }
            n = (size_t)(e - v) < val_len - 1 ? (size_t)(e - v) : val_len - 1;
            memcpy(val, v, n);
            val[n] = '\0';
            found = val;
        }
        p = eol + 1;
    }
    return found;
}

/* Decodes base64 text into a new NUL-terminated buffer (*len bytes); NULL when invalid or out of
 * memory.  Caller frees. */
static unsigned char *base64_decode(const char *text, size_t *len)
{
    size_t n = strlen(text), pad = 0;
    unsigned char *out;
    int got;
    if (n % 4 != 0 || n > 4 * 1024 * 1024) {
        return NULL;
    }
    out = malloc(n / 4 * 3 + 1);
    if (out == NULL) {
        return NULL;
    }
    got = n == 0 ? 0 : EVP_DecodeBlock(out, (const unsigned char *)text, (int)n);
    if (got < 0) {
        free(out);
        return NULL;
    }
    /* EVP_DecodeBlock counts the padding as zero bytes. */
    pad = n >= 2 && text[n - 1] == '=' ? (text[n - 2] == '=' ? 2 : 1) : 0;
    *len = (size_t)got - pad;
    out[*len] = '\0';
    return out;
}

/*
 * Without allow.everyone.if.no.acl.found=false, Kafka's authorizer lets every authenticated
 * client use every resource that has no ACL; MSK's default configuration sets it to true, so a
 * cluster without a configuration of its own is open to any holder of a certificate from its CA
 * (Amazon MSK Developer Guide, "Apache Kafka ACLs": "Amazon MSK sets it to true by default").
 * "SASL" in the issue covers both SASL mechanisms MSK offers, but only SCRAM principals are
 * authorised by ACLs: "If your cluster uses IAM access control, the
 * allow.everyone.if.no.acl.found Apache Kafka setting has no effect", and ACLs have no effect on
 * IAM identities (Developer Guide, "IAM access control", Important considerations; both pages
 * last checked 2026-12-06).  So TLS or SCRAM on: evaluated; IAM only (or no authentication):
 * NOT_APPLICABLE with that reason.
 */
static int eval_msk_acl(struct eval *ev, const struct audit_resource *r, const char *arn)
{
    static const char key[] = "allow.everyone.if.no.acl.found";
    const struct msk_auth a = msk_auth_modes(msk_provisioned(r->res.data));
    long long rev = 0;
    const char *cfg = audit_msk_configuration(r, &rev);
    const char *b64;
    unsigned char *props = NULL;
    size_t plen = 0;
    char val[64], ebuf[900];
    const char *cur;
    int rc;

    if (!a.tls && !a.scram) {
        return ADD(ev, AUDIT_MSK_ACL_DEFAULT_DENY, CTL_STATUS_NOT_APPLICABLE, arn, r->region,
                   "no TLS or SASL/SCRAM client authentication (on: %s): Kafka ACLs apply to "
                   "authenticated principals only%s",
                   auth_list(&a, ebuf, sizeof(ebuf)),
                   a.iam ? "; IAM access control authorises through IAM policies" : "");
    }
    if (cfg == NULL) {
        return ADD(ev, AUDIT_MSK_ACL_DEFAULT_DENY, CTL_STATUS_FAIL, arn, r->region,
                   "runs MSK's default configuration, which leaves %s=true: every client with a "
                   "certificate from the cluster's CA may read and write every topic without an "
                   "ACL",
                   key);
    }
    if (!r->config_fetched) {
        return ADD(ev, AUDIT_MSK_ACL_DEFAULT_DENY, CTL_STATUS_ERROR, arn, r->region,
                   "configuration %s revision %lld was not read (DescribeConfigurationRevision "
                   "not run)",
                   cfg, rev);
    }
    if (r->config.failed) {
        return ADD(ev, AUDIT_MSK_ACL_DEFAULT_DENY, CTL_STATUS_ERROR, arn, r->region,
                   "DescribeConfigurationRevision %s revision %lld failed: %s", cfg, rev,
                   audit_err_text(&r->config.err, ebuf, sizeof(ebuf)));
    }
    b64 = audit_jstr(r->config.data, "serverProperties");
    if (b64 == NULL || (props = base64_decode(b64, &plen)) == NULL) {
        return ADD(ev, AUDIT_MSK_ACL_DEFAULT_DENY, CTL_STATUS_ERROR, arn, r->region,
                   "missing data: DescribeConfigurationRevision %s revision %lld has no valid "
                   "base64 serverProperties",
                   cfg, rev);
    }
    cur = properties_get((const char *)props, plen, key, val, sizeof(val));
    if (cur != NULL && strcasecmp(cur, "false") == 0) {
        rc = ADD(ev, AUDIT_MSK_ACL_DEFAULT_DENY, CTL_STATUS_PASS, arn, r->region,
                 "configuration %s revision %lld sets %s=false", cfg, rev, key);
    } else if (cur != NULL) {
        rc = ADD(ev, AUDIT_MSK_ACL_DEFAULT_DENY, CTL_STATUS_FAIL, arn, r->region,
                 "configuration %s revision %lld sets %s=%s: every authenticated client may read "
                 "and write every topic without an ACL",
                 cfg, rev, key, cur);
    } else {
        rc = ADD(ev, AUDIT_MSK_ACL_DEFAULT_DENY, CTL_STATUS_FAIL, arn, r->region,
                 "configuration %s revision %lld does not set %s=false (MSK's default is true): "
                 "every authenticated client may read and write every topic without an ACL",
                 cfg, rev, key);
    }
    free(props);
    return rc;
}

/* Public access puts the brokers on the internet (TLS 9194, SASL/SCRAM 9196, SASL/IAM 9198):
 * only the authentication modes stand between them and everyone. */
static int eval_msk_public(struct eval *ev, const struct audit_resource *r, const char *arn)
{
    const json_t *p = msk_provisioned(r->res.data);
    const char *type =
        json_string_value(audit_jpath(p, "brokerNodeGroupInfo.connectivityInfo.publicAccess.type"));
    struct msk_auth a = msk_auth_modes(p);
    char modes[128];
    if (type != NULL && strcmp(type, "SERVICE_PROVIDED_EIPS") == 0) {
        return ADD(ev, AUDIT_MSK_PUBLIC_ACCESS, CTL_STATUS_FAIL, arn, r->region,
                   "public access is on (SERVICE_PROVIDED_EIPS): the brokers are reachable from "
                   "the internet on ports 9194/9196/9198; authentication left on: %s",
                   auth_list(&a, modes, sizeof(modes)));
    }
    return ADD(ev, AUDIT_MSK_PUBLIC_ACCESS, CTL_STATUS_PASS, arn, r->region, "public access is %s",
               type != NULL ? type : "off (no publicAccess setting)");
}

static int eval_msk(struct eval *ev, const struct audit_resource *r)
{
    static const struct {
        enum audit_check check;
        const char *why;
    } serverless[] = {
        {AUDIT_MSK_CMK, "MSK Serverless always encrypts data at rest with a service-managed key; "
                        "a customer-managed key cannot be chosen"},
        {AUDIT_MSK_VERSION, "MSK Serverless has no user-visible Kafka version to upgrade"},
        {AUDIT_MSK_MTLS, "MSK Serverless supports only IAM access control, not mTLS"},
        {AUDIT_MSK_TLS, "MSK Serverless always uses TLS in transit; it cannot be turned off"},
        {AUDIT_MSK_VERSION_EOS_SOON, "MSK Serverless has no user-visible Kafka version to "
                                     "upgrade"},
        {AUDIT_MSK_ACL_DEFAULT_DENY, "MSK Serverless supports only IAM access control, which "
                                     "authorises through IAM policies, not Kafka ACLs"},
        {AUDIT_MSK_PUBLIC_ACCESS, "MSK Serverless offers no public access: clients reach it "
                                  "through VPC endpoints only"},
    };
    const char *arn = audit_jstr(r->res.data, "clusterArn") ? audit_jstr(r->res.data, "clusterArn") : r->name;

    if (msk_is_serverless(r->res.data)) {
        for (size_t i = 0; i < sizeof(serverless) / sizeof(serverless[0]); i++) {
            if (ev->opts->selected[serverless[i].check]) {
                MK_GUARD(ADD(ev, serverless[i].check, CTL_STATUS_NOT_APPLICABLE, arn, r->region,
                             "serverless cluster: %s", serverless[i].why));
            }
        }
        return 0;
    }
    if (ev->opts->selected[AUDIT_MSK_CMK]) {
        MK_GUARD(eval_msk_cmk(ev, r, arn));
    }
    if (ev->opts->selected[AUDIT_MSK_VERSION]) {
        MK_GUARD(eval_msk_version(ev, r, arn));
    }
    if (ev->opts->selected[AUDIT_MSK_MTLS]) {
        MK_GUARD(eval_msk_mtls(ev, r, arn));
    }
    if (ev->opts->selected[AUDIT_MSK_TLS]) {
        MK_GUARD(eval_msk_tls(ev, r, arn));
    }
    if (ev->opts->selected[AUDIT_MSK_VERSION_EOS_SOON]) {
        MK_GUARD(eval_msk_eos_soon(ev, r, arn));
    }
    if (ev->opts->selected[AUDIT_MSK_ACL_DEFAULT_DENY]) {
        MK_GUARD(eval_msk_acl(ev, r, arn));
    }
    if (ev->opts->selected[AUDIT_MSK_PUBLIC_ACCESS]) {
        MK_GUARD(eval_msk_public(ev, r, arn));
    }
    return 0;
out:
    return -1;
}

static int eval_kinesis(struct eval *ev, const struct audit_resource *r)
{
    const json_t *d = r->res.data;
    const char *arn = audit_jstr(d, "StreamARN") ? audit_jstr(d, "StreamARN") : r->name;
    const char *type = audit_jstr(d, "EncryptionType");
    const char *key = audit_jstr(d, "KeyId");
    char rbuf[64];
    const char *key_region = NULL;
    const char *ref;

    if (!ev->opts->selected[AUDIT_KINESIS_CMK]) {
        return 0;
    }
    if (type == NULL) {
        return ADD(ev, AUDIT_KINESIS_CMK, CTL_STATUS_ERROR, arn, r->region,
                   "missing data: no EncryptionType in the DescribeStreamSummary answer");
    }
    if (strcmp(type, "KMS") != 0) {
        return ADD(ev, AUDIT_KINESIS_CMK, CTL_STATUS_FAIL, arn, r->region,
                   "EncryptionType is %s: the stream is not encrypted at rest", type);
    }
    if (key == NULL || key[0] == '\0') {
        return ADD(ev, AUDIT_KINESIS_CMK, CTL_STATUS_ERROR, arn, r->region,
                   "missing data: EncryptionType is KMS but no KeyId in the answer");
    }
    if (is_aws_kinesis_alias(key)) {
        return ADD(ev, AUDIT_KINESIS_CMK, CTL_STATUS_FAIL, arn, r->region,
                   "encrypted with the AWS-managed key %s, not a customer-managed key", key);
    }
    ref = audit_resource_key_ref(r, rbuf, sizeof(rbuf), &key_region);
    return eval_key_is_cmk(ev, AUDIT_KINESIS_CMK, arn, r->region, ref, key_region);
}

/* Firehose can encrypt at rest only for Direct PUT sources: with a Kinesis stream or MSK as the
 * source, the data stays in (and is encrypted by) the source, so the check does not apply. */
static int eval_firehose(struct eval *ev, const struct audit_resource *r)
{
    const json_t *d = r->res.data;
    const char *arn = audit_jstr(d, "DeliveryStreamARN") ? audit_jstr(d, "DeliveryStreamARN") : r->name;
    const char *stype = audit_jstr(d, "DeliveryStreamType");
    const json_t *enc = json_object_get(d, "DeliveryStreamEncryptionConfiguration");
    const char *status = audit_jstr(enc, "Status");
    const char *ktype = audit_jstr(enc, "KeyType");

    if (!ev->opts->selected[AUDIT_FIREHOSE_CMK]) {
        return 0;
    }
    if (stype != NULL && strcmp(stype, "DirectPut") != 0) {
        return ADD(ev, AUDIT_FIREHOSE_CMK, CTL_STATUS_NOT_APPLICABLE, arn, r->region,
                   "source is %s: data at rest stays in the source, which its own check covers",
                   stype);
    }
    if (status == NULL || strcmp(status, "ENABLED") != 0) {
        return ADD(ev, AUDIT_FIREHOSE_CMK, CTL_STATUS_FAIL, arn, r->region,
                   "server-side encryption is %s", status != NULL ? status : "not configured");
    }
    if (ktype == NULL || strcmp(ktype, "CUSTOMER_MANAGED_CMK") != 0) {
        return ADD(ev, AUDIT_FIREHOSE_CMK, CTL_STATUS_FAIL, arn, r->region,
                   "server-side encryption uses KeyType %s, not CUSTOMER_MANAGED_CMK",
                   ktype != NULL ? ktype : "(none)");
    }
    return ADD(ev, AUDIT_FIREHOSE_CMK, CTL_STATUS_PASS, arn, r->region,
               "server-side encryption enabled with customer-managed key %s",
               audit_jstr(enc, "KeyARN") ? audit_jstr(enc, "KeyARN") : "(no KeyARN in the answer)");
}

static const char *svc_resource_check_rt(enum audit_service svc)
{
    switch (svc) {
    case AUDIT_SVC_MSK:
        return RT_MSK;
    case AUDIT_SVC_KINESIS:
        return RT_KINESIS;
    case AUDIT_SVC_FIREHOSE:
        return RT_FIREHOSE;
    default:
        return "";
    }
}

static int check_is_for(enum audit_check c, enum audit_service svc)
{
    return strcmp(audit_rules[c].resource_type, svc_resource_check_rt(svc)) == 0;
}

static int is_kms_check(enum audit_check c)
{
    return c == AUDIT_KMS_ROTATION || c == AUDIT_KMS_STATE || c == AUDIT_KMS_POLICY;
}

static int is_pca_check(enum audit_check c)
{
    return c == AUDIT_PCA_STATUS || c == AUDIT_PCA_EXPIRY || c == AUDIT_PCA_REVOCATION ||
           c == AUDIT_PCA_USAGE_MODE;
}

/* A failed listing or resource hides resources and keys: every check that depends on it is
 * ERROR, never silently PASS. */
static int eval_hidden(struct eval *ev, enum audit_service svc, const char *resource,
                       const char *region, const char *what, const struct mk_err *e)
{
    char ebuf[900];
    audit_err_text(e, ebuf, sizeof(ebuf));
    for (int c = 0; c < AUDIT_CHECK__MAX; c++) {
        if (!ev->opts->selected[c]) {
            continue;
        }
        if (check_is_for((enum audit_check)c, svc)) {
            MK_GUARD(ADD(ev, (enum audit_check)c, CTL_STATUS_ERROR, resource, region,
                         "%s failed: %s", what, ebuf));
        } else if (c == AUDIT_TAGS_OWNERSHIP) {
            MK_GUARD(ctl_report_add(ev->report, audit_rules[c].id, CTL_STATUS_ERROR,
                                    audit_rules[c].severity, resource, svc_resource_check_rt(svc),
                                    region, audit_rules[c].remediation, ev->err,
                                    "%s failed: %s", what, ebuf));
        } else if (is_kms_check((enum audit_check)c) ||
                   (svc == AUDIT_SVC_MSK && is_pca_check((enum audit_check)c))) {
            MK_GUARD(ctl_report_add(ev->report, audit_rules[c].id, CTL_STATUS_ERROR,
                                    audit_rules[c].severity, resource, svc_resource_check_rt(svc),
                                    region, audit_rules[c].remediation, ev->err,
                                    "%s used here are unknown: %s failed: %s",
                                    is_kms_check((enum audit_check)c) ? "keys" : "private CAs",
                                    what, ebuf));
        }
    }
    return 0;
out:
    return -1;
}

/* ---- tags.ownership ---- */

/* FAIL names every required key that is missing or has an empty value (an empty Owner names
 * nobody).  Tag keys are case-sensitive in AWS, so "owner" does not satisfy "Owner". */
static int eval_tags(struct eval *ev, const struct audit_result *tags, const char *what,
                     const char *resource, const char *resource_type, const char *region)
{
    char ebuf[900];
    char missing[1024] = "";
    const struct audit_eval_options *o = ev->opts;
    const struct ctl_rule *rule = &audit_rules[AUDIT_TAGS_OWNERSHIP];

    if (tags->failed || !json_is_object(tags->data)) {
        if (tags->failed) {
            audit_err_text(&tags->err, ebuf, sizeof(ebuf));
        } else {
            snprintf(ebuf, sizeof(ebuf), "missing data: no tags were fetched");
        }
        return ctl_report_add(ev->report, rule->id, CTL_STATUS_ERROR, rule->severity, resource,
                              resource_type, region, rule->remediation, ev->err,
                              "%s failed: %s", what, ebuf);
    }
    for (size_t i = 0; i < o->n_required_tags; i++) {
        const char *v = audit_jstr(tags->data, o->required_tags[i]);
        size_t used = strlen(missing);
        if ((v == NULL || v[0] == '\0') && used < sizeof(missing)) {
            snprintf(missing + used, sizeof(missing) - used, "%s%s%s", used ? ", " : "",
                     o->required_tags[i], v != NULL ? " (empty)" : "");
        }
    }
    if (missing[0] != '\0') {
        return ctl_report_add(ev->report, rule->id, CTL_STATUS_FAIL, rule->severity, resource,
                              resource_type, region, rule->remediation, ev->err,
                              "missing required tags: %s", missing);
    }
    return ctl_report_add(ev->report, rule->id, CTL_STATUS_PASS, rule->severity, resource,
                          resource_type, region, rule->remediation, ev->err,
                          "has every required tag (%zu)", o->n_required_tags);
}

static const char *tags_operation(enum audit_service svc)
{
    switch (svc) {
    case AUDIT_SVC_MSK:
        return "ListTagsForResource";
    case AUDIT_SVC_KINESIS:
        return "ListTagsForStream";
    case AUDIT_SVC_FIREHOSE:
        return "ListTagsForDeliveryStream";
    default:
        return "tags";
    }
}

/* ---- KMS ---- */

static int principal_is_public(const json_t *p)
{
    const json_t *aws;
    size_t i;
    json_t *v;
    if (json_is_string(p)) {
        return strcmp(json_string_value(p), "*") == 0;
    }
    aws = json_object_get(p, "AWS");
    if (json_is_string(aws)) {
        return strcmp(json_string_value(aws), "*") == 0;
    }
    json_array_foreach(aws, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), "*") == 0) {
            return 1;
        }
    }
    return 0;
}

/* Index (0-based) of the first public statement, or -1.  Sid into *sid when present. */
static int policy_public_statement(const json_t *policy, const char **sid)
{
    const json_t *stmts = json_object_get(policy, "Statement");
    size_t n = json_is_array(stmts) ? json_array_size(stmts) : 1;
    for (size_t i = 0; i < n; i++) {
        const json_t *st = json_is_array(stmts) ? json_array_get(stmts, i) : stmts;
        const char *effect = audit_jstr(st, "Effect");
        const json_t *cond = json_object_get(st, "Condition");
        if (effect == NULL || strcmp(effect, "Allow") != 0) {
            continue;
        }
        if (cond != NULL && !(json_is_object(cond) && json_object_size(cond) == 0)) {
            continue;
        }
        /* Allow with NotPrincipal grants everyone but the listed principals: public too. */
        if (principal_is_public(json_object_get(st, "Principal")) ||
            json_object_get(st, "NotPrincipal") != NULL) {
            *sid = audit_jstr(st, "Sid");
            return (int)i;
        }
    }
    return -1;
}

static int eval_kms_policy(struct eval *ev, const struct audit_key *k, const char *arn)
{
    char ebuf[900];
    const char *text;
    json_t *policy = NULL;
    json_error_t jerr;
    const char *sid = NULL;
    int idx, rc;

    if (k->policy.failed) {
        return ADD(ev, AUDIT_KMS_POLICY, CTL_STATUS_ERROR, arn, k->region,
                   "GetKeyPolicy failed: %s", audit_err_text(&k->policy.err, ebuf, sizeof(ebuf)));
    }
    text = audit_jstr(k->policy.data, "Policy");
    if (text == NULL) {
        return ADD(ev, AUDIT_KMS_POLICY, CTL_STATUS_ERROR, arn, k->region,
                   "missing data: no Policy in the GetKeyPolicy answer");
    }
    policy = json_loads(text, 0, &jerr);
    if (!json_is_object(policy)) {
        json_decref(policy);
        return ADD(ev, AUDIT_KMS_POLICY, CTL_STATUS_ERROR, arn, k->region,
                   "key policy is not a JSON object (line %d: %s)", jerr.line, jerr.text);
    }
    idx = policy_public_statement(policy, &sid);
    if (idx >= 0) {
        rc = ADD(ev, AUDIT_KMS_POLICY, CTL_STATUS_FAIL, arn, k->region,
                 "statement %d%s%s%s allows every principal (\"*\") without a Condition", idx + 1,
                 sid ? " (Sid " : "", sid ? sid : "", sid ? ")" : "");
    } else {
        rc = ADD(ev, AUDIT_KMS_POLICY, CTL_STATUS_PASS, arn, k->region,
                 "no Allow statement grants every principal without a Condition");
    }
    json_decref(policy);
    return rc;
}

static int eval_kms_rotation(struct eval *ev, const struct audit_key *k, const char *arn)
{
    char ebuf[900];
    const json_t *on = json_object_get(k->rotation.data, "KeyRotationEnabled");
    const char *origin = audit_jstr(k->describe.data, "Origin");
    /* KMS rotates only key material it generated; for imported material or a custom key store
     * GetKeyRotationStatus answers UnsupportedOperationException, and an ERROR on every run
     * would hide real ones.  Such keys are rotated by hand (a new key and an alias switch). */
    if (origin != NULL && strcmp(origin, "AWS_KMS") != 0) {
        return ADD(ev, AUDIT_KMS_ROTATION, CTL_STATUS_NOT_APPLICABLE, arn, k->region,
                   "key material has origin %s: AWS KMS cannot rotate it automatically; rotate "
                   "it manually",
                   origin);
    }
    if (k->rotation.failed) {
        return ADD(ev, AUDIT_KMS_ROTATION, CTL_STATUS_ERROR, arn, k->region,
                   "GetKeyRotationStatus failed: %s",
                   audit_err_text(&k->rotation.err, ebuf, sizeof(ebuf)));
    }
    if (!json_is_boolean(on)) {
        return ADD(ev, AUDIT_KMS_ROTATION, CTL_STATUS_ERROR, arn, k->region,
                   "missing data: no KeyRotationEnabled in the GetKeyRotationStatus answer");
    }
    if (!json_is_true(on)) {
        return ADD(ev, AUDIT_KMS_ROTATION, CTL_STATUS_FAIL, arn, k->region,
                   "automatic key rotation is disabled");
    }
    return ADD(ev, AUDIT_KMS_ROTATION, CTL_STATUS_PASS, arn, k->region,
               "automatic key rotation is enabled");
}

static int eval_kms_state(struct eval *ev, const struct audit_key *k, const char *arn)
{
    const char *state = audit_jstr(k->describe.data, "KeyState");
    if (state == NULL) {
        return ADD(ev, AUDIT_KMS_STATE, CTL_STATUS_ERROR, arn, k->region,
                   "missing data: no KeyMetadata.KeyState in the DescribeKey answer");
    }
    /* Disabled and PendingDeletion are the named failures; any other non-Enabled state
     * (PendingImport, Unavailable, ...) also leaves the data unreadable. */
    if (strcmp(state, "Enabled") != 0) {
        return ADD(ev, AUDIT_KMS_STATE, CTL_STATUS_FAIL, arn, k->region,
                   "key state is %s: resources encrypted with it cannot read their data", state);
    }
    return ADD(ev, AUDIT_KMS_STATE, CTL_STATUS_PASS, arn, k->region, "key state is Enabled");
}

/* Whether an earlier key entry resolved to the same key ARN (one finding set per key). */
static int key_seen_before(const struct audit_inventory *inv, size_t idx, const char *arn)
{
    for (size_t i = 0; i < idx; i++) {
        const char *other = audit_jstr(inv->keys[i].describe.data, "Arn");
        if (!inv->keys[i].describe.failed && other != NULL && strcmp(other, arn) == 0) {
            return 1;
        }
    }
    return 0;
}

static int eval_key(struct eval *ev, size_t idx)
{
    const struct audit_key *k = &ev->inv->keys[idx];
    const char *arn = audit_jstr(k->describe.data, "Arn");
    char ebuf[900];

    if (k->describe.failed) {
        audit_err_text(&k->describe.err, ebuf, sizeof(ebuf));
        for (int c = 0; c < AUDIT_CHECK__MAX; c++) {
            if (ev->opts->selected[c] &&
                (is_kms_check((enum audit_check)c) || c == AUDIT_TAGS_OWNERSHIP)) {
                MK_GUARD(ADD(ev, (enum audit_check)c, CTL_STATUS_ERROR, k->ref, k->region,
                             "DescribeKey failed: %s", ebuf));
            }
        }
        return 0;
    }
    if (!audit_key_is_customer(k)) {
        return 0; /* AWS-managed keys are reported by the resource checks */
    }
    if (arn == NULL) {
        arn = k->ref;
    }
    if (key_seen_before(ev->inv, idx, arn)) {
        return 0;
    }
    if (ev->opts->selected[AUDIT_KMS_ROTATION]) {
        MK_GUARD(eval_kms_rotation(ev, k, arn));
    }
    if (ev->opts->selected[AUDIT_KMS_STATE]) {
        MK_GUARD(eval_kms_state(ev, k, arn));
    }
    if (ev->opts->selected[AUDIT_KMS_POLICY]) {
        MK_GUARD(eval_kms_policy(ev, k, arn));
    }
    if (ev->opts->selected[AUDIT_TAGS_OWNERSHIP]) {
        MK_GUARD(eval_tags(ev, &k->tags, "ListResourceTags", arn, RT_KMS, k->region));
    }
    return 0;
out:
    return -1;
}

static int eval_resource(struct eval *ev, const struct audit_resource *r)
{
    if (r->res.failed || r->res.data == NULL) {
        char what[512];
        snprintf(what, sizeof(what), "%s %s", r->operation ? r->operation : "describe", r->name);
        if (!r->res.failed) {
            struct mk_err e = {.code = MK_ERR_INVALID};
            snprintf(e.msg, sizeof(e.msg), "missing data: empty answer");
            return eval_hidden(ev, r->svc, r->name, r->region, what, &e);
        }
        return eval_hidden(ev, r->svc, r->name, r->region, what, &r->res.err);
    }
    if (ev->opts->selected[AUDIT_TAGS_OWNERSHIP]) {
        const char *arn = audit_jstr(r->res.data, r->svc == AUDIT_SVC_MSK       ? "clusterArn"
                                                  : r->svc == AUDIT_SVC_KINESIS ? "StreamARN"
                                                                                : "DeliveryStreamARN");
        MK_GUARD(eval_tags(ev, &r->tags, tags_operation(r->svc), arn != NULL ? arn : r->name,
                           svc_resource_check_rt(r->svc), r->region));
    }
    switch (r->svc) {
    case AUDIT_SVC_MSK:
        return eval_msk(ev, r);
    case AUDIT_SVC_KINESIS:
        return eval_kinesis(ev, r);
    case AUDIT_SVC_FIREHOSE:
        return eval_firehose(ev, r);
    default:
        return 0;
    }
out:
    return -1;
}

/* An account whose role could not be assumed: every selected check is ERROR in every region,
 * with the reason, so the account is never silently missing from the report. */
static int eval_account_failed(struct eval *ev)
{
    char ebuf[900];
    audit_err_text(&ev->inv->account_err, ebuf, sizeof(ebuf));
    for (size_t r = 0; r < ev->inv->n_regions; r++) {
        for (int c = 0; c < AUDIT_CHECK__MAX; c++) {
            if (ev->opts->selected[c]) {
                MK_GUARD(ctl_report_add(ev->report, audit_rules[c].id, CTL_STATUS_ERROR,
                                        audit_rules[c].severity,
                                        ev->inv->account_role ? ev->inv->account_role : "*",
                                        RT_ROLE, ev->inv->regions[r], audit_rules[c].remediation,
                                        ev->err, "account not audited: %s", ebuf));
            }
        }
    }
    return 0;
out:
    return -1;
}

int audit_evaluate(const struct audit_inventory *inv, const struct audit_eval_options *opts,
                   struct ctl_report *report, struct mk_err *err)
{
    struct eval ev = {inv, opts, report, err};
    int rc = -1;
    if (inv->account_failed) {
        return eval_account_failed(&ev);
    }
    for (size_t i = 0; i < inv->n_listings; i++) {
        const struct audit_listing *l = &inv->listings[i];
        if (l->res.failed) {
            MK_GUARD(eval_hidden(&ev, l->svc, "*", l->region, l->operation, &l->res.err));
        }
    }
    for (size_t i = 0; i < inv->n_resources; i++) {
        MK_GUARD(eval_resource(&ev, &inv->resources[i]));
    }
    for (size_t i = 0; i < inv->n_keys; i++) {
        MK_GUARD(eval_key(&ev, i));
    }
    MK_GUARD(audit_eval_pca(&ev));
    rc = 0;
out:
    return rc;
}
