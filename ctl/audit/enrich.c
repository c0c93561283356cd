/* enrich.c: remediation commands, ERROR fixes and the scope of an audit (see enrich.h). */
#include "ctl/audit/enrich.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl/audit/checks-int.h"
#include "ctl/audit/versions.h"

/* Appends s to buf at *used, truncating. */
static void put(char *buf, size_t len, size_t *used, const char *s, size_t n)
{
    if (*used + 1 >= len) {
        return;
    }
    if (n > len - 1 - *used) {
        n = len - 1 - *used;
    }
    memcpy(buf + *used, s, n);
    *used += n;
    buf[*used] = '\0';
}

const char *audit_remediation_cli(const struct ctl_finding *f, char *buf, size_t len)
{
    int c = audit_check_lookup(f->check);
    const char *t, *name;
    size_t used = 0;
    if (c < 0 || f->status != CTL_STATUS_FAIL || audit_rules[c].remediation_cli == NULL ||
        len == 0) {
        return NULL;
    }
    name = strrchr(f->resource, '/') != NULL ? strrchr(f->resource, '/') + 1 : f->resource;
    buf[0] = '\0';
    for (t = audit_rules[c].remediation_cli; *t != '\0';) {
        if (strncmp(t, "{arn}", 5) == 0) {
            put(buf, len, &used, f->resource, strlen(f->resource));
            t += 5;
        } else if (strncmp(t, "{region}", 8) == 0) {
            put(buf, len, &used, f->region, strlen(f->region));
            t += 8;
        } else if (strncmp(t, "{name}", 6) == 0) {
            put(buf, len, &used, name, strlen(name));
            t += 6;
        } else {
            put(buf, len, &used, t, 1);
            t++;
        }
    }
    return buf;
}

/* The IAM action behind each call the audit makes (packaging/iam/audit-policy.json). */
static const struct {
    const char *call, *action;
} calls[] = {
    {"ListClustersV2", "kafka:ListClustersV2"},
    {"ListKafkaVersions", "kafka:ListKafkaVersions"},
    {"DescribeConfigurationRevision", "kafka:DescribeConfigurationRevision"},
    {"ListTagsForResource", "kafka:ListTagsForResource"},
    {"DescribeStreamSummary", "kinesis:DescribeStreamSummary"},
    {"ListTagsForStream", "kinesis:ListTagsForStream"},
    {"ListStreams", "kinesis:ListStreams"},
    {"DescribeDeliveryStream", "firehose:DescribeDeliveryStream"},
    {"ListTagsForDeliveryStream", "firehose:ListTagsForDeliveryStream"},
    {"ListDeliveryStreams", "firehose:ListDeliveryStreams"},
    {"DescribeKey", "kms:DescribeKey"},
    {"GetKeyRotationStatus", "kms:GetKeyRotationStatus"},
    {"GetKeyPolicy", "kms:GetKeyPolicy"},
    {"ListResourceTags", "kms:ListResourceTags"},
    {"DescribeCertificateAuthority", "acm-pca:DescribeCertificateAuthority"},
    {"GetCertificateAuthorityCertificate", "acm-pca:GetCertificateAuthorityCertificate"},
    {"LookupEvents", "cloudtrail:LookupEvents"},
    {"account not audited", "sts:AssumeRole"},
};

const char *audit_error_remediation(const char *m, char *buf, size_t len)
{
    const char *call = NULL, *action = NULL;
    /* The first call the message names is the one that failed ("X failed: CODE: ..."). */
    const char *at = NULL;
    for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
        const char *p = strstr(m, calls[i].call);
        if (p != NULL && (at == NULL || p < at)) {
            at = p;
            call = calls[i].call;
            action = calls[i].action;
        }
    }
    if (strstr(m, "AccessDenied") != NULL || strstr(m, "Forbidden") != NULL ||
        strstr(m, "UnauthorizedOperation") != NULL || strstr(m, "not authorized") != NULL) {
        if (action != NULL && strcmp(action, "sts:AssumeRole") == 0) {
            snprintf(buf, len,
                     "Permission: the caller needs sts:AssumeRole on the role, and the role's "
                     "trust policy must allow the caller (and the --external-id, if it requires "
                     "one); then rerun.");
        } else if (action != NULL) {
            snprintf(buf, len,
                     "Permission: %s was denied. Allow %s to the auditing principal "
                     "(packaging/iam/audit-policy.json grants every call the audit makes); check "
                     "also SCPs, permission boundaries%s; then rerun.",
                     call, action, strncmp(action, "kms:", 4) == 0 ? " and the key policy" : "");
        } else {
            snprintf(buf, len,
                     "Permission: a call was denied. Attach packaging/iam/audit-policy.json to "
                     "the auditing principal and check SCPs and permission boundaries; then "
                     "rerun.");
        }
    } else if (strstr(m, "Throttl") != NULL || strstr(m, "TooManyRequests") != NULL ||
               strstr(m, "Rate exceeded") != NULL) {
        snprintf(buf, len,
                 "%s%s was throttled past the retries: rerun with a lower --concurrency or "
                 "outside busy hours.",
                 call != NULL ? "" : "a call", call != NULL ? call : "");
    } else if (strstr(m, "missing data") != NULL) {
        snprintf(buf, len,
                 "The AWS answer lacked a field the check needs (named in the message): rerun; "
                 "if it persists, report it with the message.");
    } else if (call != NULL) {
        snprintf(buf, len,
                 "The call %s failed (cause in the message): fix the cause (network, endpoint, "
                 "region, resource) and rerun; the audit needs %s.",
                 call, action);
    } else {
        snprintf(buf, len,
                 "The check could not be evaluated (cause in the message): fix the cause and "
                 "rerun.");
    }
    return buf;
}

int audit_report_enrich(struct ctl_report *report, struct mk_err *err)
{
    char buf[2048];
    for (size_t i = 0; i < ctl_report_count(report); i++) {
        const struct ctl_finding *f = ctl_report_get(report, i);
        if (f->status == CTL_STATUS_FAIL && audit_remediation_cli(f, buf, sizeof(buf)) != NULL) {
            MK_GUARD(ctl_report_set_field(report, i, CTL_FIELD_REMEDIATION_CLI, buf, err));
        } else if (f->status == CTL_STATUS_ERROR) {
            audit_error_remediation(f->message, buf, sizeof(buf));
            MK_GUARD(ctl_report_set_field(report, i, CTL_FIELD_REMEDIATION, buf, err));
        }
    }
    return 0;
out:
    return -1;
}

static const char *const svc_names[AUDIT_SVC__MAX] = {
    [AUDIT_SVC_MSK] = "msk_clusters",
    [AUDIT_SVC_KINESIS] = "kinesis_streams",
    [AUDIT_SVC_FIREHOSE] = "firehose_streams",
};

json_t *audit_scope_new(const struct audit_eval_options *opts, int as_of_given)
{
    json_t *scope =
        json_pack("{s:[], s:[], s:[], s:{s:i, s:i, s:i, s:i, s:i}}", "accounts", "regions",
                  "checks", "resources", "msk_clusters", 0, "kinesis_streams", 0,
                  "firehose_streams", 0, "kms_keys", 0, "private_cas", 0);
    json_t *checks = json_object_get(scope, "checks");
    char date[16];
    struct tm tm;
    for (int c = 0; scope != NULL && c < AUDIT_CHECK__MAX; c++) {
        if (opts->selected[c] && json_array_append_new(checks, json_string(audit_rules[c].id))) {
            json_decref(scope);
            return NULL;
        }
    }
    if (scope != NULL && as_of_given && gmtime_r(&opts->now, &tm) != NULL &&
        strftime(date, sizeof(date), "%Y-%m-%d", &tm) > 0 &&
        json_object_set_new(scope, "as_of", json_string(date)) != 0) {
        json_decref(scope);
        return NULL;
    }
    return scope;
}

/* Appends s to the array unless present (keeps the order of first sight). */
static int add_unique(json_t *arr, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (strcmp(json_string_value(v), s) == 0) {
            return 0;
        }
    }
    return json_array_append_new(arr, json_string(s));
}

/* The account field of an ARN (arn:partition:service:region:ACCOUNT:...) into buf, or NULL. */
static const char *arn_account(const char *arn, char *buf, size_t len)
{
    const char *p = arn;
    size_t n;
    if (arn == NULL || strncmp(arn, "arn:", 4) != 0) {
        return NULL;
    }
    for (int i = 0; i < 4; i++) {
        p = strchr(p, ':');
        if (p == NULL) {
            return NULL;
        }
        p++;
    }
    n = strcspn(p, ":");
    if (n != 12 || n >= len || strspn(p, "0123456789") < 12) {
        return NULL;
    }
    memcpy(buf, p, n);
    buf[n] = '\0';
    return buf;
}

static int bump(json_t *res, const char *key)
{
    return json_object_set_new(res, key,
                               json_integer(json_integer_value(json_object_get(res, key)) + 1));
}

int audit_scope_add(json_t *scope, const struct audit_inventory *inv, const char *account)
{
    json_t *accounts = json_object_get(scope, "accounts");
    json_t *regions = json_object_get(scope, "regions");
    json_t *res = json_object_get(scope, "resources");
    char abuf[16];
    if (account != NULL && add_unique(accounts, account) != 0) {
        return -1;
    }
    for (size_t i = 0; i < inv->n_regions; i++) {
        if (add_unique(regions, inv->regions[i]) != 0) {
            return -1;
        }
    }
    for (size_t i = 0; i < inv->n_listings; i++) {
        if (add_unique(regions, inv->listings[i].region) != 0) {
            return -1;
        }
    }
    for (size_t i = 0; i < inv->n_resources; i++) {
        const struct audit_resource *r = &inv->resources[i];
        const char *arn = strncmp(r->name, "arn:", 4) == 0 ? r->name
                          : r->svc == AUDIT_SVC_KINESIS
                              ? audit_jstr(r->res.data, "StreamARN")
                              : audit_jstr(r->res.data, "DeliveryStreamARN");
        if (bump(res, svc_names[r->svc]) != 0) {
            return -1;
        }
        /* Without --role-arn the account is whatever the resources belong to. */
        if (account == NULL && arn_account(arn, abuf, sizeof(abuf)) != NULL &&
            add_unique(accounts, abuf) != 0) {
            return -1;
        }
    }
    for (size_t i = 0; i < inv->n_keys; i++) {
        if (audit_key_is_customer(&inv->keys[i]) && bump(res, "kms_keys") != 0) {
            return -1;
        }
    }
    for (size_t i = 0; i < inv->n_cas; i++) {
        if (bump(res, "private_cas") != 0) {
            return -1;
        }
    }
    return 0;
}

json_t *audit_kpis_new(void)
{
    return json_pack("{s:[], s:[]}", "kms_access_denied", "oldest_kafka_version");
}

static int kpi_keys(json_t *out, const struct audit_inventory *inv,
                    const struct audit_eval_options *opts, const char *account)
{
    char abuf[16], ebuf[900];
    for (size_t i = 0; i < inv->n_keys; i++) {
        const struct audit_key *k = &inv->keys[i];
        const char *arn = audit_jstr(k->describe.data, "Arn");
        const char *a = account != NULL ? account : arn_account(arn, abuf, sizeof(abuf));
        json_t *one;
        if (!k->trail_fetched || arn == NULL) {
            continue;
        }
        one = json_pack("{s:s, s:s, s:s, s:I}", "account", a != NULL ? a : "", "region", k->region,
                        "key", arn, "lookback_days", (json_int_t)opts->lookback_days);
        if (one == NULL) {
            return -1;
        }
        if (k->trail.failed) {
            audit_err_text(&k->trail.err, ebuf, sizeof(ebuf));
            if (json_object_set_new(one, "access_denied", json_null()) != 0 ||
                json_object_set_new(one, "error", json_string(ebuf)) != 0) {
                json_decref(one);
                return -1;
            }
        } else if (json_object_update(one, k->trail.data) != 0) {
            json_decref(one);
            return -1;
        }
        if (json_array_append_new(out, one) != 0) {
            return -1;
        }
    }
    return 0;
}

static int kpi_versions(json_t *out, const struct audit_inventory *inv,
                        const struct audit_eval_options *opts, const char *account)
{
    time_t now = opts->now != 0 ? opts->now : time(NULL);
    char abuf[16];
    for (size_t i = 0; i < inv->n_resources; i++) {
        const struct audit_resource *r = &inv->resources[i];
        const char *v, *oldest = NULL, *date = NULL, *a;
        time_t eos = 0;
        int done = 0, has;
        json_t *one;
        if (r->svc != AUDIT_SVC_MSK || r->res.failed || r->res.data == NULL) {
            continue;
        }
        /* One entry per region: skip a region already reported. */
        for (size_t j = 0; j < i; j++) {
            done |= inv->resources[j].svc == AUDIT_SVC_MSK &&
                    strcmp(inv->resources[j].region, r->region) == 0 &&
                    !inv->resources[j].res.failed && inv->resources[j].res.data != NULL;
        }
        if (done) {
            continue;
        }
        for (size_t j = i; j < inv->n_resources; j++) {
            const struct audit_resource *o = &inv->resources[j];
            int cmp = 0;
            if (o->svc != AUDIT_SVC_MSK || o->res.failed || strcmp(o->region, r->region) != 0) {
                continue;
            }
            v = json_string_value(audit_jpath(audit_jpath(o->res.data, "provisioned") != NULL
                                                  ? audit_jpath(o->res.data, "provisioned")
                                                  : o->res.data,
                                              "currentBrokerSoftwareInfo.kafkaVersion"));
            if (v != NULL && audit_version_valid(v) &&
                (oldest == NULL || (audit_version_cmp(v, oldest, &cmp) == 0 && cmp < 0))) {
                oldest = v;
            }
        }
        if (oldest == NULL) {
            continue; /* serverless only: no version */
        }
        a = account != NULL ? account : arn_account(r->name, abuf, sizeof(abuf));
        has = audit_kafka_eos(oldest, &eos, &date);
        one = json_pack("{s:s, s:s, s:s, s:o, s:o}", "account", a != NULL ? a : "", "region",
                        r->region, "version", oldest, "end_of_support",
                        has > 0 ? json_string(date) : json_null(), "days_until_eos",
                        has > 0 ? json_integer(audit_days_between(now, eos)) : json_null());
        if (one == NULL || json_array_append_new(out, one) != 0) {
            return -1;
        }
    }
    return 0;
}

int audit_kpis_add(json_t *kpis, const struct audit_inventory *inv,
                   const struct audit_eval_options *opts, const char *account)
{
    if (kpi_keys(json_object_get(kpis, "kms_access_denied"), inv, opts, account) != 0 ||
        kpi_versions(json_object_get(kpis, "oldest_kafka_version"), inv, opts, account) != 0) {
        return -1;
    }
    return 0;
}

/* A prometheus label value: backslash, quote and newline escaped. */
static void label(FILE *out, const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '\\' || *s == '"') {
            fputc('\\', out);
            fputc(*s, out);
        } else if (*s == '\n') {
            fputs("\\n", out);
        } else {
            fputc(*s, out);
        }
    }
}

char *audit_kpis_prometheus(const json_t *kpis)
{
    char *buf = NULL;
    size_t len = 0, i;
    json_t *e;
    FILE *out = open_memstream(&buf, &len);
    if (out == NULL) {
        return NULL;
    }
    fputs("# HELP mskpki_audit_kms_access_denied_events AccessDenied events CloudTrail recorded on "
          "an audited KMS key over --lookback-days (NaN when LookupEvents failed).\n"
          "# TYPE mskpki_audit_kms_access_denied_events gauge\n",
          out);
    json_array_foreach(json_object_get(kpis, "kms_access_denied"), i, e)
    {
        fputs("mskpki_audit_kms_access_denied_events{account=\"", out);
        label(out, audit_jstr(e, "account"));
        fputs("\",region=\"", out);
        label(out, audit_jstr(e, "region"));
        fputs("\",key=\"", out);
        label(out, audit_jstr(e, "key"));
        if (json_is_integer(json_object_get(e, "access_denied"))) {
            fprintf(out, "\"} %lld\n",
                    (long long)json_integer_value(json_object_get(e, "access_denied")));
        } else {
            fputs("\"} NaN\n", out);
        }
    }
    fputs("# HELP mskpki_audit_oldest_kafka_version_eos_seconds Time from the audit date to the "
          "end of support of the oldest Kafka version in use per account and region (whole days; "
          "negative: past; NaN: none published).\n"
          "# TYPE mskpki_audit_oldest_kafka_version_eos_seconds gauge\n",
          out);
    json_array_foreach(json_object_get(kpis, "oldest_kafka_version"), i, e)
    {
        fputs("mskpki_audit_oldest_kafka_version_eos_seconds{account=\"", out);
        label(out, audit_jstr(e, "account"));
        fputs("\",region=\"", out);
        label(out, audit_jstr(e, "region"));
        fputs("\",version=\"", out);
        label(out, audit_jstr(e, "version"));
        if (json_is_integer(json_object_get(e, "days_until_eos"))) {
            fprintf(out, "\"} %lld\n",
                    (long long)json_integer_value(json_object_get(e, "days_until_eos")) * 86400LL);
        } else {
            fputs("\"} NaN\n", out);
        }
    }
    if (fclose(out) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}
