/*
 * fuzz_audit_checks.c: `mskpkictl audit`'s checks on hostile AWS answers.  The input is one JSON
 * document standing in for what the collector gathers:
 *   {"msk": [clusterInfo...], "kinesis": [StreamDescriptionSummary...],
 *    "firehose": [DeliveryStreamDescription...],
 *    "keys": [{"ref": "...", "region": "...", "describe": {KeyMetadata},
 *              "rotation": {...}, "policy": {...}, "failed": true}],
 *    "min": "2.5.1"}
 * Every check runs and the report is rendered in every format.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ctl/audit/checks.h"

static const char *const svc_names[AUDIT_SVC__MAX] = {"msk", "kinesis", "firehose"};
static const char *const ops[AUDIT_SVC__MAX] = {"ListClustersV2", "DescribeStreamSummary",
                                                "DescribeDeliveryStream"};

static void add_resources(struct audit_inventory *inv, json_t *doc, enum audit_service svc)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(doc, svc_names[svc]), i, v)
    {
        const char *name = json_string_value(json_object_get(v, "name"));
        char fallback[32];
        snprintf(fallback, sizeof(fallback), "r%zu", i);
        struct audit_resource *r = audit_inventory_add_resource(
            inv, svc, "us-east-1", name != NULL ? name : fallback, ops[svc], json_incref(v));
        if (r != NULL && json_is_true(json_object_get(v, "failed"))) {
            r->res.failed = 1;
            mk_err_set(&r->res.err, MK_ERR_AWS, "fuzz: HTTP 400 AccessDenied");
        }
    }
}

static void fill_result(struct audit_result *res, json_t *key, const char *field)
{
    json_t *v = json_object_get(key, field);
    if (v != NULL) {
        json_decref(res->data);
        res->data = json_incref(v);
    }
}

static void add_keys(struct audit_inventory *inv, json_t *doc)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(doc, "keys"), i, v)
    {
        const char *ref = json_string_value(json_object_get(v, "ref"));
        const char *region = json_string_value(json_object_get(v, "region"));
        struct audit_key *k =
            audit_inventory_add_key(inv, region != NULL ? region : "us-east-1",
                                    ref != NULL ? ref : "alias/fuzz");
        if (k == NULL) {
            continue;
        }
        fill_result(&k->describe, v, "describe");
        fill_result(&k->rotation, v, "rotation");
        fill_result(&k->policy, v, "policy");
        k->fetched = json_is_true(json_object_get(v, "fetched"));
        if (json_is_true(json_object_get(v, "failed"))) {
            k->describe.failed = 1;
            mk_err_set(&k->describe.err, MK_ERR_AWS, "fuzz: HTTP 400 NotFoundException");
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mk_err err;
    json_t *doc = json_loadb((const char *)data, size, 0, NULL);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return 0;
    }
    struct audit_inventory *inv = audit_inventory_new();
    struct ctl_report *report = ctl_report_new();
    if (inv == NULL || report == NULL) {
        abort();
    }
    for (int s = 0; s < AUDIT_SVC__MAX; s++) {
        add_resources(inv, doc, (enum audit_service)s);
    }
    for (size_t i = 0; i < inv->n_resources; i++) {
        char buf[64];
        const char *region = NULL;
        (void)audit_resource_key_ref(&inv->resources[i], buf, sizeof(buf), &region);
    }
    add_keys(inv, doc);
    struct audit_eval_options opts;
    memset(&opts, 0, sizeof(opts));
    for (int c = 0; c < AUDIT_CHECK__MAX; c++) {
        opts.selected[c] = 1;
    }
    const char *min = json_string_value(json_object_get(doc, "min"));
    opts.min_kafka_version = min != NULL && audit_version_valid(min) ? min
                                                                      : AUDIT_DEFAULT_MIN_KAFKA;
    if (audit_evaluate(inv, &opts, report, &err) != 0) {
        abort();
    }
    ctl_report_sort(report);
    for (int f = 0; f < CTL_FORMAT__MAX; f++) {
        char *out = NULL;
        size_t len = 0;
        if (ctl_report_render(report, (enum ctl_format)f, audit_rules, AUDIT_CHECK__MAX, f == 0,
                              &out, &len, &err) != 0) {
            abort();
        }
        free(out);
    }
    ctl_report_free(report);
    audit_inventory_free(inv);
    json_decref(doc);
    return 0;
}
