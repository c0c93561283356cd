/*
 * audit_checks.h: the checks of `mskpkictl audit` as pure functions over the AWS answers.
 *
 * The collector (audit_aws.h) fills a struct audit_inventory with the JSON answers of the AWS
 * APIs (or the error of each failed call); audit_evaluate() turns an inventory into findings
 * without any I/O, so every check is unit-testable with recorded answers.  docs/audit.md lists
 * the checks and what each status means.
 */
#ifndef CTL_AUDIT_CHECKS_H
#define CTL_AUDIT_CHECKS_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "ctl/audit/report.h"
#include "pki/err.h"

enum audit_check {
    AUDIT_MSK_CMK,
    AUDIT_MSK_VERSION,
    AUDIT_MSK_MTLS,
    AUDIT_MSK_TLS,
    AUDIT_MSK_VERSION_EOS_SOON,
    AUDIT_MSK_ACL_DEFAULT_DENY,
    AUDIT_MSK_PUBLIC_ACCESS,
    AUDIT_KINESIS_CMK,
    AUDIT_FIREHOSE_CMK,
    AUDIT_KMS_ROTATION,
    AUDIT_KMS_STATE,
    AUDIT_KMS_POLICY,
    AUDIT_PCA_STATUS,
    AUDIT_PCA_EXPIRY,
    AUDIT_PCA_REVOCATION,
    AUDIT_PCA_USAGE_MODE,
    AUDIT_TAGS_OWNERSHIP, /* off unless required tags are given */
    AUDIT_CHECK__MAX
};

/* One rule per check, indexed by enum audit_check.  rules[i].id is the stable check id. */
extern const struct ctl_rule audit_rules[AUDIT_CHECK__MAX];

/* Returns the check for a stable id, or -1 for an unknown id. */
int audit_check_lookup(const char *id);

#define AUDIT_DEFAULT_MIN_KAFKA "2.5.1"
#define AUDIT_DEFAULT_CA_MIN_DAYS 90
#define AUDIT_DEFAULT_LOOKBACK_DAYS 7
#define AUDIT_DEFAULT_CERT_DAYS 30 /* the agent's default certificate lifetime (conf.h) */
#define AUDIT_MAX_REQUIRED_TAGS 32

/*
 * Compares two Kafka versions numerically per dot-separated component ("2.10.0" > "2.9.1").
 * Parsing stops at the first component that is not all digits, so suffixes like ".tiered" do not
 * order; a component "x" (MSK's "3.7.x": AWS applies the patch releases) ranks above any number.
 * Missing components count as 0.  Sets *cmp to <0, 0, >0 and returns 0, or returns -1 when a
 * version does not start with a number.
 */
int audit_version_cmp(const char *a, const char *b, int *cmp) MK_MUST_CHECK;

/* Whether v starts with a numeric component (what audit_version_cmp accepts). */
int audit_version_valid(const char *v);

/* Whether v is exactly a version: numeric (or "x") components, optionally ending in one
 * lower-case suffix as MSK writes them ("2.8.2.tiered").  audit_version_cmp() stops at the first
 * other component, so for a version the user gives ("2.5.1x") anything else is a typo. */
int audit_version_exact(const char *v);

enum audit_service { AUDIT_SVC_MSK, AUDIT_SVC_KINESIS, AUDIT_SVC_FIREHOSE, AUDIT_SVC__MAX };

/* The answer of one AWS call, or its error.  data is owned (json_decref). */
struct audit_result {
    json_t *data;
    int failed;
    struct mk_err err;
};

/* A listing of one service in one region (ListClustersV2, ListStreams, ListDeliveryStreams). */
struct audit_listing {
    char *region;
    enum audit_service svc;
    const char *operation;   /* "ListClustersV2", for messages */
    struct audit_result res; /* data unused: the items became resources */
};

/* One resource: for MSK the clusterInfo object from the listing, for Kinesis the
 * StreamDescriptionSummary, for Firehose the DeliveryStreamDescription. */
struct audit_resource {
    enum audit_service svc;
    char *region;
    char *name;            /* cluster ARN, stream name, delivery stream name */
    const char *operation; /* call that produced res, for messages */
    struct audit_result res;
    struct audit_result tags; /* {"key": "value"}; used only by tags.ownership */
    /* MSK: the DescribeConfigurationRevision answer of the cluster's configuration (its
     * serverProperties is base64); unused unless config_fetched (msk.acl_default_deny). */
    struct audit_result config;
    int config_fetched;
};

/* The ListKafkaVersions answer of one region: data is the kafkaVersions array of every page.
 * A failed call only means DEPRECATED cannot be read (msk.kafka_version says so). */
struct audit_kafka_versions {
    char *region;
    struct audit_result res;
};

/* One KMS key reference as a resource names it, resolved in region. */
struct audit_key {
    char *region;
    char *ref;
    struct audit_result describe; /* KeyMetadata */
    struct audit_result rotation; /* GetKeyRotationStatus answer; unused unless fetched */
    struct audit_result policy;   /* GetKeyPolicy answer */
    struct audit_result tags;     /* {"key": "value"} from ListResourceTags; unused unless fetched */
    int fetched;                  /* rotation and policy were requested for this entry */
    /* CloudTrail LookupEvents over --lookback-days: {"events": n, "access_denied": n,
     * "principals": {"arn": n}, "truncated": bool}; unused unless trail_fetched. */
    struct audit_result trail;
    int trail_fetched;
};

/* One AWS Private CA, named by an MSK cluster or --ca-arn. */
struct audit_ca {
    char *arn;
    char *region;                 /* from the ARN */
    struct audit_result describe; /* the CertificateAuthority object of the answer */
    struct audit_result cert;     /* GetCertificateAuthorityCertificate answer; unused unless
                                     cert_fetched (only ACTIVE CAs have a certificate) */
    int cert_fetched;
};

struct audit_inventory {
    struct audit_listing *listings;
    size_t n_listings;
    struct audit_resource *resources;
    size_t n_resources;
    struct audit_key *keys;
    size_t n_keys;
    struct audit_ca *cas;
    size_t n_cas;
    struct audit_kafka_versions *kafka_versions;
    size_t n_kafka_versions;
    /* Multi-account audits: the role of this account could not be assumed.  Every selected
     * check is then one ERROR per region (regions[]), and nothing else was collected. */
    int account_failed;
    struct mk_err account_err;
    char *account_role; /* the role ARN (owned), the resource of those ERRORs */
    char **regions;
    size_t n_regions;
};

/* Caller frees with audit_inventory_free().  NULL when out of memory. */
struct audit_inventory *audit_inventory_new(void);
void audit_inventory_free(struct audit_inventory *inv);

/* Each returns the new entry (owned by inv, valid until the next add of the same kind) or NULL
 * when out of memory.  Strings are copied; data is stolen (may be NULL). */
struct audit_listing *audit_inventory_add_listing(struct audit_inventory *inv, const char *region,
                                                  enum audit_service svc, const char *operation);
struct audit_resource *audit_inventory_add_resource(struct audit_inventory *inv,
                                                    enum audit_service svc, const char *region,
                                                    const char *name, const char *operation,
                                                    json_t *data);
/* Adds (region, ref) unless present; returns the existing or new entry. */
struct audit_key *audit_inventory_add_key(struct audit_inventory *inv, const char *region,
                                          const char *ref);
struct audit_key *audit_inventory_find_key(const struct audit_inventory *inv, const char *region,
                                           const char *ref);

/* Adds the ListKafkaVersions entry of region (data stolen); NULL when out of memory. */
struct audit_kafka_versions *audit_inventory_add_kafka_versions(struct audit_inventory *inv,
                                                                const char *region);

/* The MSK configuration a provisioned cluster runs with: its ARN (borrowed from res) and
 * revision, or NULL when it has none (MSK's default configuration). */
const char *audit_msk_configuration(const struct audit_resource *res, long long *revision);

/* Adds a CA ARN unless present (region from the ARN; NULL when the ARN has none or out of
 * memory: check audit_ca_arn_valid() first). */
struct audit_ca *audit_inventory_add_ca(struct audit_inventory *inv, const char *arn);
/* Whether s looks like arn:PARTITION:acm-pca:REGION:ACCOUNT:certificate-authority/ID. */
int audit_ca_arn_valid(const char *s);
/* Records a region the inventory covers (for account-level ERRORs). */
int audit_inventory_add_region(struct audit_inventory *inv, const char *region) MK_MUST_CHECK;

/* The Private CA ARNs an MSK clusterInfo names (TLS client authentication), or NULL. */
const json_t *audit_msk_ca_arns(const struct audit_resource *res);

/* The KMS key a resource uses and must be resolved with DescribeKey, or NULL (none, AWS-managed
 * by alias, or the resource failed).  *key_region is where to resolve it: the ARN's region, else
 * the resource's.  Both borrowed from res / the ARN inside it; key_region is written into buf. */
const char *audit_resource_key_ref(const struct audit_resource *res, char *buf, size_t buf_len,
                                   const char **key_region);

/* Whether a DescribeKey answer names a customer-managed key (KeyManager CUSTOMER). */
int audit_key_is_customer(const struct audit_key *key);

struct audit_eval_options {
    int selected[AUDIT_CHECK__MAX];
    const char *min_kafka_version;
    long ca_min_days;   /* pca.certificate_expiry: FAIL when fewer days are left */
    long cert_days;     /* lifetime of the certificates the CA issues (same check) */
    time_t now;         /* the audit date (--as-of) the date-dependent checks (version support,
                           CA expiry) are judged at; 0 = time(NULL) */
    long eos_warning_days; /* msk.kafka_version_eos_soon: FAIL when support ends this soon */
    long lookback_days;    /* CloudTrail AccessDenied KPI window; 0 = off */
    const char *const *required_tags; /* tags.ownership keys */
    size_t n_required_tags;
};

/* Whether any pca.* check is selected (the CAs must then be described). */
int audit_needs_pca(const struct audit_eval_options *opts);

/* Which services must be listed for the selected checks. */
int audit_needs_service(const struct audit_eval_options *opts, enum audit_service svc);

/* Turns the inventory into findings (see docs/audit.md).  Returns 0, or -1 with err set when a
 * finding could not be added (out of memory). */
int audit_evaluate(const struct audit_inventory *inv, const struct audit_eval_options *opts,
                   struct ctl_report *report, struct mk_err *err) MK_MUST_CHECK;

/* "CODE: message" for an ERROR finding: the AWS error code when there is one, else the mskpki
 * code name.  Written into buf. */
const char *audit_err_text(const struct mk_err *err, char *buf, size_t buf_len);

#endif
