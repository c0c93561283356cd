/* audit_aws.c: collect the audit's inventory from AWS (see audit_aws.h). */
#include "ctl/audit/aws.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <time.h>

#include "aws/aws.h"
#include "ctl/audit/checks-int.h"
#include "ctl/audit/pool.h"

/* A listing that keeps returning tokens after this many pages is cut off as an error rather than
 * looping for ever on a misbehaving endpoint. */
#define MAX_PAGES 10000

static const char *const list_ops[AUDIT_SVC__MAX] = {
    [AUDIT_SVC_MSK] = "ListClustersV2",
    [AUDIT_SVC_KINESIS] = "ListStreams",
    [AUDIT_SVC_FIREHOSE] = "ListDeliveryStreams",
};

struct region_client {
    char *region;
    struct aws_client *client;
};

/* Progress for a person at a terminal: resources done per service. */
enum progress_kind { PK_MSK, PK_KINESIS, PK_FIREHOSE, PK_KMS, PK_PCA, PK__MAX };

struct progress {
    pthread_mutex_t lock;
    FILE *out;
    size_t total[PK__MAX], done[PK__MAX];
    int shown;
};

struct collector {
    const struct audit_collect_options *opts;
    struct region_client *clients;
    size_t n_clients;
    struct progress *progress; /* NULL: silent */
};

static void progress_step(struct progress *p, enum progress_kind k, size_t add_total,
                          size_t add_done)
{
    static const char *const names[PK__MAX] = {"msk", "kinesis", "firehose", "kms", "pca"};
    if (p == NULL) {
        return;
    }
    pthread_mutex_lock(&p->lock);
    p->total[k] += add_total;
    p->done[k] += add_done;
    fputs("\rmskpkictl audit:", p->out);
    for (int i = 0; i < PK__MAX; i++) {
        fprintf(p->out, " %s %zu/%zu", names[i], p->done[i], p->total[i]);
    }
    fputs(" \033[K", p->out);
    fflush(p->out);
    p->shown = 1;
    pthread_mutex_unlock(&p->lock);
}

static struct aws_client *client_for(const struct collector *c, const char *region)
{
    for (size_t i = 0; i < c->n_clients; i++) {
        if (strcmp(c->clients[i].region, region) == 0) {
            return c->clients[i].client;
        }
    }
    return NULL;
}

/* Creates the client for region unless there is one (region NULL = the default chain). */
static int client_add(struct collector *c, const char *region, struct mk_err *err)
{
    struct aws_client_options o = {0};
    struct aws_client *client = NULL;
    struct region_client *grown;
    char *name = NULL;
    int rc = -1;

    if (region != NULL && client_for(c, region) != NULL) {
        return 0;
    }
    o.region = region;
    o.profile = c->opts->profile;
    o.endpoint_url = c->opts->endpoint_url;
    o.role_arn = c->opts->role_arn;
    o.role_session_name = c->opts->role_session_name;
    o.external_id = c->opts->external_id;
    client = aws_client_new(&o, err);
    MK_GUARD_PTR(client);
    if (region == NULL && client_for(c, aws_client_region(client)) != NULL) {
        rc = 0;
        goto out;
    }
    name = strdup(aws_client_region(client));
    grown = realloc(c->clients, (c->n_clients + 1) * sizeof(*grown));
    MK_ENSURE(name != NULL && grown != NULL, err, MK_ERR_NOMEM, "audit: out of memory");
    c->clients = grown;
    c->clients[c->n_clients].region = name;
    c->clients[c->n_clients].client = client;
    c->n_clients++;
    client = NULL;
    name = NULL;
    rc = 0;
out:
    aws_client_free(client);
    free(name);
    return rc;
}

static void clients_free(struct collector *c)
{
    for (size_t i = 0; i < c->n_clients; i++) {
        aws_client_free(c->clients[i].client);
        free(c->clients[i].region);
    }
    free(c->clients);
}

/* ---- phase 1: listings ---- */

struct list_task {
    const char *region;
    enum audit_service svc;
    struct aws_client *client;
    json_t *items; /* clusterInfo objects (MSK) or name strings */
    struct audit_result res;
};

static int append_all(json_t *items, const json_t *arr)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (json_array_append(items, v) != 0) {
            return -1;
        }
    }
    return 0;
}

/* Moves a listing to the next page's cursor; a cursor that repeats would loop for ever. */
static int cursor_advance(char **cursor, const char *next, const char *what, struct mk_err *err)
{
    MK_ENSURE(*cursor == NULL || strcmp(*cursor, next) != 0, err, MK_ERR_INVALID,
              "%s repeats", what);
    free(*cursor);
    *cursor = strdup(next);
    MK_ENSURE(*cursor != NULL, err, MK_ERR_NOMEM, "out of memory");
    return 0;
out:
    return -1;
}

static int list_msk(struct list_task *t, struct mk_err *err)
{
    int rc = -1;
    char *token = NULL;
    json_t *resp = NULL;

    for (int page = 0;; page++) {
        struct aws_query_param q[] = {{"maxResults", "100"}, {NULL, NULL}, {NULL, NULL}};
        const char *next;
        MK_ENSURE(page < MAX_PAGES, err, MK_ERR_INVALID, "ListClustersV2: more than %d pages",
                  MAX_PAGES);
        if (token != NULL) {
            q[1].name = "nextToken";
            q[1].value = token;
        }
        MK_GUARD(aws_rest_call(t->client, "kafka", "GET", "/api/v2/clusters", q, NULL, &resp, err));
        MK_ENSURE(json_is_array(json_object_get(resp, "clusterInfoList")) ||
                      json_object_get(resp, "clusterInfoList") == NULL,
                  err, MK_ERR_INVALID, "ListClustersV2: clusterInfoList is not an array");
        MK_ENSURE(append_all(t->items, json_object_get(resp, "clusterInfoList")) == 0, err,
                  MK_ERR_NOMEM, "out of memory");
        next = json_string_value(json_object_get(resp, "nextToken"));
        if (next == NULL || next[0] == '\0') {
            break;
        }
        MK_GUARD(cursor_advance(&token, next, "ListClustersV2: nextToken", err));
        json_decref(resp);
        resp = NULL;
    }
    rc = 0;
out:
    json_decref(resp);
    free(token);
    return rc;
}

/*
 * Kinesis ListStreams and Firehose ListDeliveryStreams page by "exclusive start name" plus a
 * has-more flag; Kinesis also returns NextToken (preferred when present, and then sent alone with
 * Limit, as the API requires).
 */
static int list_by_name(struct list_task *t, struct mk_err *err)
{
    int rc = -1;
    int kinesis = t->svc == AUDIT_SVC_KINESIS;
    const char *service = kinesis ? "kinesis" : "firehose";
    const char *target =
        kinesis ? "Kinesis_20131202.ListStreams" : "Firehose_20150804.ListDeliveryStreams";
    const char *names_key = kinesis ? "StreamNames" : "DeliveryStreamNames";
    const char *more_key = kinesis ? "HasMoreStreams" : "HasMoreDeliveryStreams";
    const char *start_key =
        kinesis ? "ExclusiveStartStreamName" : "ExclusiveStartDeliveryStreamName";
    json_t *req = NULL, *resp = NULL;
    char *token = NULL, *start = NULL;

    for (int page = 0;; page++) {
        const json_t *names;
        const char *next;
        MK_ENSURE(page < MAX_PAGES, err, MK_ERR_INVALID, "%s: more than %d pages", list_ops[t->svc],
                  MAX_PAGES);
        req = json_pack("{s:i}", "Limit", 100);
        MK_ENSURE(req != NULL, err, MK_ERR_NOMEM, "out of memory");
        if (token != NULL) {
            MK_ENSURE(json_object_set_new(req, "NextToken", json_string(token)) == 0, err,
                      MK_ERR_NOMEM, "out of memory");
        } else if (start != NULL) {
            MK_ENSURE(json_object_set_new(req, start_key, json_string(start)) == 0, err,
                      MK_ERR_NOMEM, "out of memory");
        }
        MK_GUARD(aws_json_call(t->client, service, target, req, &resp, err));
        names = json_object_get(resp, names_key);
        MK_ENSURE(names == NULL || json_is_array(names), err, MK_ERR_INVALID,
                  "%s: %s is not an array", list_ops[t->svc], names_key);
        MK_ENSURE(append_all(t->items, names) == 0, err, MK_ERR_NOMEM, "out of memory");
        next = kinesis ? json_string_value(json_object_get(resp, "NextToken")) : NULL;
        if (next != NULL && next[0] != '\0') {
            MK_GUARD(cursor_advance(&token, next,
                                    t->svc == AUDIT_SVC_KINESIS ? "ListStreams: NextToken"
                                                                : "ListDeliveryStreams: NextToken",
                                    err));
        } else if (json_is_true(json_object_get(resp, more_key)) && json_array_size(names) > 0) {
            const char *last = json_string_value(json_array_get(names, json_array_size(names) - 1));
            MK_ENSURE(last != NULL, err, MK_ERR_INVALID, "%s: a name is not a string",
                      list_ops[t->svc]);
            free(start);
            start = strdup(last);
            MK_ENSURE(start != NULL, err, MK_ERR_NOMEM, "out of memory");
            free(token);
            token = NULL;
        } else {
            break;
        }
        json_decref(req);
        json_decref(resp);
        req = resp = NULL;
    }
    rc = 0;
out:
    json_decref(req);
    json_decref(resp);
    free(token);
    free(start);
    return rc;
}

static void list_run(void *ctx, size_t i)
{
    struct list_task *t = &((struct list_task *)ctx)[i];
    int rc;
    t->items = json_array();
    if (t->items == NULL) {
        t->res.failed = 1;
        mk_err_set(&t->res.err, MK_ERR_NOMEM, "out of memory");
        return;
    }
    rc = t->svc == AUDIT_SVC_MSK ? list_msk(t, &t->res.err) : list_by_name(t, &t->res.err);
    if (rc != 0) {
        t->res.failed = 1;
    }
}

/* Moves the listed items into the inventory, in task order. */
static int list_merge(struct list_task *tasks, size_t n, struct audit_inventory *inv,
                      struct mk_err *err)
{
    int rc = -1;
    for (size_t i = 0; i < n; i++) {
        struct list_task *t = &tasks[i];
        struct audit_listing *l =
            audit_inventory_add_listing(inv, t->region, t->svc, list_ops[t->svc]);
        size_t k;
        json_t *v;
        MK_ENSURE(l != NULL, err, MK_ERR_NOMEM, "out of memory");
        l->res.failed = t->res.failed;
        l->res.err = t->res.err;
        /* Items from the pages before a failure are still audited. */
        json_array_foreach(t->items, k, v)
        {
            struct audit_resource *r;
            if (t->svc == AUDIT_SVC_MSK) {
                const char *arn = json_string_value(json_object_get(v, "clusterArn"));
                r = audit_inventory_add_resource(inv, t->svc, t->region,
                                                 arn != NULL ? arn : "(cluster without ARN)",
                                                 "ListClustersV2", json_incref(v));
            } else {
                if (!json_is_string(v)) {
                    continue;
                }
                r = audit_inventory_add_resource(inv, t->svc, t->region, json_string_value(v),
                                                 t->svc == AUDIT_SVC_KINESIS
                                                     ? "DescribeStreamSummary"
                                                     : "DescribeDeliveryStream",
                                                 NULL);
            }
            MK_ENSURE(r != NULL, err, MK_ERR_NOMEM, "out of memory");
        }
    }
    rc = 0;
out:
    return rc;
}

/* ---- phase 2: describe streams ---- */

/* The per-resource calls of a phase (describe streams, configuration revisions): the
 * collector and the resources, one pool index each. */
struct resources_ctx {
    const struct collector *c;
    struct audit_resource **items;
};

static void describe_run(void *ctx, size_t i)
{
    struct resources_ctx *d = ctx;
    struct audit_resource *r = d->items[i];
    int kinesis = r->svc == AUDIT_SVC_KINESIS;
    json_t *req = json_pack("{s:s}", kinesis ? "StreamName" : "DeliveryStreamName", r->name);
    json_t *resp = NULL;
    const char *wrap = kinesis ? "StreamDescriptionSummary" : "DeliveryStreamDescription";

    if (req == NULL) {
        r->res.failed = 1;
        mk_err_set(&r->res.err, MK_ERR_NOMEM, "out of memory");
        return;
    }
    if (aws_json_call(client_for(d->c, r->region), kinesis ? "kinesis" : "firehose",
                      kinesis ? "Kinesis_20131202.DescribeStreamSummary"
                              : "Firehose_20150804.DescribeDeliveryStream",
                      req, &resp, &r->res.err) != 0) {
        r->res.failed = 1;
    } else if (!json_is_object(json_object_get(resp, wrap))) {
        r->res.failed = 1;
        mk_err_set(&r->res.err, MK_ERR_INVALID, "missing data: no %s in the answer", wrap);
    } else {
        r->res.data = json_incref(json_object_get(resp, wrap));
    }
    json_decref(req);
    json_decref(resp);
    progress_step(d->c->progress, kinesis ? PK_KINESIS : PK_FIREHOSE, 0, 1);
}

/* ---- phase 3 and 4: keys ---- */

struct key_ctx {
    const struct collector *c;
    struct audit_key **keys;
    const struct audit_eval_options *eval;
};

static void key_describe_run(void *ctx, size_t i)
{
    struct key_ctx *kc = ctx;
    struct audit_key *k = kc->keys[i];
    json_t *req = json_pack("{s:s}", "KeyId", k->ref);
    json_t *resp = NULL;
    if (req == NULL) {
        k->describe.failed = 1;
        mk_err_set(&k->describe.err, MK_ERR_NOMEM, "out of memory");
        return;
    }
    if (aws_json_call(client_for(kc->c, k->region), "kms", "TrentService.DescribeKey", req, &resp,
                      &k->describe.err) != 0) {
        k->describe.failed = 1;
    } else if (!json_is_object(json_object_get(resp, "KeyMetadata"))) {
        k->describe.failed = 1;
        mk_err_set(&k->describe.err, MK_ERR_INVALID, "missing data: no KeyMetadata in the answer");
    } else {
        k->describe.data = json_incref(json_object_get(resp, "KeyMetadata"));
    }
    json_decref(req);
    json_decref(resp);
    progress_step(kc->c->progress, PK_KMS, 0, 1);
}

static void kms_call(struct aws_client *client, const char *target, json_t *req,
                     struct audit_result *res)
{
    if (req == NULL) {
        res->failed = 1;
        mk_err_set(&res->err, MK_ERR_NOMEM, "out of memory");
        return;
    }
    if (aws_json_call(client, "kms", target, req, &res->data, &res->err) != 0) {
        res->failed = 1;
        res->data = NULL;
    }
    json_decref(req);
}

static void key_details_run(void *ctx, size_t i)
{
    struct key_ctx *kc = ctx;
    struct audit_key *k = kc->keys[i];
    struct aws_client *client = client_for(kc->c, k->region);
    /* The ARN, not the alias the resource named: GetKeyRotationStatus rejects aliases. */
    const char *arn = json_string_value(json_object_get(k->describe.data, "Arn"));
    if (arn == NULL) {
        arn = k->ref;
    }
    k->fetched = 1;
    if (kc->eval->selected[AUDIT_KMS_ROTATION]) {
        kms_call(client, "TrentService.GetKeyRotationStatus", json_pack("{s:s}", "KeyId", arn),
                 &k->rotation);
    }
    if (kc->eval->selected[AUDIT_KMS_POLICY]) {
        kms_call(client, "TrentService.GetKeyPolicy",
                 json_pack("{s:s, s:s}", "KeyId", arn, "PolicyName", "default"), &k->policy);
    }
}

/* The first call that failed for want of credentials makes the whole audit unable to run. */
static int creds_failure(const struct audit_inventory *inv, struct mk_err *err)
{
    const struct mk_err *found = NULL;
    for (size_t i = 0; i < inv->n_listings && found == NULL; i++) {
        if (inv->listings[i].res.failed && inv->listings[i].res.err.code == MK_ERR_CREDS) {
            found = &inv->listings[i].res.err;
        }
    }
    for (size_t i = 0; i < inv->n_resources && found == NULL; i++) {
        if (inv->resources[i].res.failed && inv->resources[i].res.err.code == MK_ERR_CREDS) {
            found = &inv->resources[i].res.err;
        }
    }
    for (size_t i = 0; i < inv->n_keys && found == NULL; i++) {
        const struct audit_key *k = &inv->keys[i];
        if (k->describe.failed && k->describe.err.code == MK_ERR_CREDS) {
            found = &k->describe.err;
        } else if (k->rotation.failed && k->rotation.err.code == MK_ERR_CREDS) {
            found = &k->rotation.err;
        } else if (k->policy.failed && k->policy.err.code == MK_ERR_CREDS) {
            found = &k->policy.err;
        }
    }
    if (found != NULL) {
        *err = *found;
        return -1;
    }
    return 0;
}

static int phase_list(struct collector *c, struct audit_inventory *inv, struct mk_err *err)
{
    int rc = -1;
    size_t n = 0;
    struct list_task *tasks = calloc(c->n_clients * AUDIT_SVC__MAX + 1, sizeof(*tasks));
    MK_ENSURE(tasks != NULL, err, MK_ERR_NOMEM, "out of memory");
    for (size_t r = 0; r < c->n_clients; r++) {
        for (int s = 0; s < AUDIT_SVC__MAX; s++) {
            if (audit_needs_service(c->opts->eval, (enum audit_service)s)) {
                tasks[n].region = c->clients[r].region;
                tasks[n].client = c->clients[r].client;
                tasks[n].svc = (enum audit_service)s;
                n++;
            }
        }
    }
    audit_pool_run(n, c->opts->concurrency, list_run, tasks);
    MK_GUARD(list_merge(tasks, n, inv, err));
    for (size_t i = 0; c->progress != NULL && i < inv->n_resources; i++) {
        /* An MSK cluster comes whole with the listing; streams still need a describe. */
        enum audit_service svc = inv->resources[i].svc;
        progress_step(c->progress,
                      svc == AUDIT_SVC_MSK       ? PK_MSK
                      : svc == AUDIT_SVC_KINESIS ? PK_KINESIS
                                                 : PK_FIREHOSE,
                      1, svc == AUDIT_SVC_MSK);
    }
    rc = 0;
out:
    for (size_t i = 0; tasks != NULL && i < n; i++) {
        json_decref(tasks[i].items);
    }
    free(tasks);
    return rc;
}

static int phase_describe(struct collector *c, struct audit_inventory *inv, struct mk_err *err)
{
    int rc = -1;
    size_t n = 0;
    struct resources_ctx d = {c, calloc(inv->n_resources + 1, sizeof(struct audit_resource *))};
    MK_ENSURE(d.items != NULL, err, MK_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < inv->n_resources; i++) {
        if (inv->resources[i].svc != AUDIT_SVC_MSK) {
            d.items[n++] = &inv->resources[i];
        }
    }
    audit_pool_run(n, c->opts->concurrency, describe_run, &d);
    rc = 0;
out:
    free(d.items);
    return rc;
}

static int phase_keys(struct collector *c, struct audit_inventory *inv, struct mk_err *err)
{
    int rc = -1;
    size_t n = 0;
    const struct audit_eval_options *ev = c->opts->eval;
    struct key_ctx kc = {c, NULL, ev};

    for (size_t i = 0; i < inv->n_resources; i++) {
        char buf[64];
        const char *key_region = NULL;
        const char *ref = audit_resource_key_ref(&inv->resources[i], buf, sizeof(buf), &key_region);
        if (ref == NULL) {
            continue;
        }
        /* A key in another region (by ARN) is resolved there, with a client of its own. */
        MK_GUARD(client_add(c, key_region, err));
        MK_ENSURE(audit_inventory_add_key(inv, key_region, ref) != NULL, err, MK_ERR_NOMEM,
                  "out of memory");
    }
    kc.keys = calloc(inv->n_keys + 1, sizeof(struct audit_key *));
    MK_ENSURE(kc.keys != NULL, err, MK_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < inv->n_keys; i++) {
        kc.keys[i] = &inv->keys[i];
    }
    progress_step(c->progress, PK_KMS, inv->n_keys, 0);
    audit_pool_run(inv->n_keys, c->opts->concurrency, key_describe_run, &kc);
    MK_GUARD(creds_failure(inv, err));

    if (ev->selected[AUDIT_KMS_ROTATION] || ev->selected[AUDIT_KMS_POLICY]) {
        /* One GetKeyRotationStatus / GetKeyPolicy per distinct customer-managed key ARN. */
        for (size_t i = 0; i < inv->n_keys; i++) {
            const char *arn = json_string_value(json_object_get(inv->keys[i].describe.data, "Arn"));
            int dup = 0;
            if (!audit_key_is_customer(&inv->keys[i])) {
                continue;
            }
            for (size_t j = 0; j < i && arn != NULL; j++) {
                const char *other =
                    json_string_value(json_object_get(inv->keys[j].describe.data, "Arn"));
                dup |= other != NULL && strcmp(other, arn) == 0;
            }
            if (!dup) {
                kc.keys[n++] = &inv->keys[i];
            }
        }
        audit_pool_run(n, c->opts->concurrency, key_details_run, &kc);
    }
    rc = 0;
out:
    free(kc.keys);
    return rc;
}

/* ---- tags (tags.ownership) ---- */

/* Adds the {Key, Value} (or {TagKey, TagValue}) items of arr to obj. */
static int tags_merge(json_t *obj, const json_t *arr, const char *kname, const char *vname,
                      const char **last, struct mk_err *err)
{
    size_t i;
    json_t *t;
    MK_ENSURE(arr == NULL || json_is_array(arr), err, MK_ERR_INVALID,
              "missing data: Tags is not an array");
    json_array_foreach(arr, i, t)
    {
        const char *k = json_string_value(json_object_get(t, kname));
        const char *v = json_string_value(json_object_get(t, vname));
        MK_ENSURE(k != NULL, err, MK_ERR_INVALID, "missing data: a tag without %s", kname);
        MK_ENSURE(json_object_set_new(obj, k, json_string(v != NULL ? v : "")) == 0, err,
                  MK_ERR_NOMEM, "out of memory");
        *last = k;
    }
    return 0;
out:
    return -1;
}

/*
 * The JSON 1.1 tag listings page differently: Kinesis and Firehose by ExclusiveStartTagKey +
 * HasMoreTags, KMS by Marker + Truncated/NextMarker.  name_key/name is the resource parameter.
 */
static int tags_json(struct aws_client *client, enum audit_service svc, const char *name,
                     json_t *obj, struct mk_err *err)
{
    int kms = svc == AUDIT_SVC__MAX; /* KMS keys are not a listed service */
    const char *service = kms ? "kms" : svc == AUDIT_SVC_KINESIS ? "kinesis" : "firehose";
    const char *target = kms ? "TrentService.ListResourceTags"
                         : svc == AUDIT_SVC_KINESIS ? "Kinesis_20131202.ListTagsForStream"
                                                    : "Firehose_20150804.ListTagsForDeliveryStream";
    const char *name_key = kms ? "KeyId" : svc == AUDIT_SVC_KINESIS ? "StreamName"
                                                                    : "DeliveryStreamName";
    json_t *req = NULL, *resp = NULL;
    char *cursor = NULL;
    int rc = -1;

    for (int page = 0;; page++) {
        const char *last = NULL;
        const char *next = NULL;
        MK_ENSURE(page < MAX_PAGES, err, MK_ERR_INVALID, "%s: more than %d pages", target,
                  MAX_PAGES);
        req = json_pack("{s:s, s:i}", name_key, name, "Limit", 50);
        MK_ENSURE(req != NULL, err, MK_ERR_NOMEM, "out of memory");
        if (cursor != NULL) {
            MK_ENSURE(json_object_set_new(req, kms ? "Marker" : "ExclusiveStartTagKey",
                                          json_string(cursor)) == 0,
                      err, MK_ERR_NOMEM, "out of memory");
        }
        MK_GUARD(aws_json_call(client, service, target, req, &resp, err));
        MK_GUARD(tags_merge(obj, json_object_get(resp, "Tags"), kms ? "TagKey" : "Key",
                            kms ? "TagValue" : "Value", &last, err));
        if (kms && json_is_true(json_object_get(resp, "Truncated"))) {
            next = json_string_value(json_object_get(resp, "NextMarker"));
        } else if (!kms && json_is_true(json_object_get(resp, "HasMoreTags"))) {
            next = last;
        }
        if (next == NULL || next[0] == '\0') {
            break;
        }
        MK_GUARD(cursor_advance(&cursor, next, target, err));
        json_decref(req);
        json_decref(resp);
        req = resp = NULL;
    }
    rc = 0;
out:
    json_decref(req);
    json_decref(resp);
    free(cursor);
    return rc;
}

/* MSK ListTagsForResource: GET /v1/tags/{resourceArn} -> {"tags": {...}}, not paginated. */
static int tags_msk(struct aws_client *client, const char *arn, json_t *obj, struct mk_err *err)
{
    char *path = NULL;
    json_t *resp = NULL;
    const json_t *tags;
    int rc = -1;
    MK_ENSURE(asprintf(&path, "/v1/tags/%s", arn) >= 0, err, MK_ERR_NOMEM, "out of memory");
    MK_GUARD(aws_rest_call(client, "kafka", "GET", path, NULL, NULL, &resp, err));
    tags = json_object_get(resp, "tags");
    MK_ENSURE(tags == NULL || json_is_object(tags), err, MK_ERR_INVALID,
              "missing data: tags is not an object");
    MK_ENSURE(tags == NULL || json_object_update(obj, (json_t *)tags) == 0, err, MK_ERR_NOMEM,
              "out of memory");
    rc = 0;
out:
    free(path);
    json_decref(resp);
    return rc;
}

struct tag_task {
    struct aws_client *client;
    enum audit_service svc; /* AUDIT_SVC__MAX for a KMS key */
    const char *name;       /* cluster ARN, stream name, delivery stream name, key ARN */
    struct audit_result *res;
};

static void tags_run(void *ctx, size_t i)
{
    struct tag_task *t = &((struct tag_task *)ctx)[i];
    json_t *obj = json_object();
    int rc;
    if (obj == NULL) {
        t->res->failed = 1;
        mk_err_set(&t->res->err, MK_ERR_NOMEM, "out of memory");
        return;
    }
    rc = t->svc == AUDIT_SVC_MSK ? tags_msk(t->client, t->name, obj, &t->res->err)
                                 : tags_json(t->client, t->svc, t->name, obj, &t->res->err);
    if (rc != 0) {
        t->res->failed = 1;
        json_decref(obj);
        return;
    }
    t->res->data = obj;
}

/* Tags of every described resource and of every customer-managed key (once per key ARN). */
static int phase_tags(struct collector *c, struct audit_inventory *inv, struct mk_err *err)
{
    size_t n = 0;
    int rc = -1;
    struct tag_task *tasks = calloc(inv->n_resources + inv->n_keys + 1, sizeof(*tasks));
    MK_ENSURE(tasks != NULL, err, MK_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < inv->n_resources; i++) {
        struct audit_resource *r = &inv->resources[i];
        if (r->res.failed || r->res.data == NULL) {
            continue;
        }
        tasks[n++] = (struct tag_task){client_for(c, r->region), r->svc,
                                       r->name, &r->tags};
    }
    for (size_t i = 0; i < inv->n_keys; i++) {
        struct audit_key *k = &inv->keys[i];
        const char *arn = json_string_value(json_object_get(k->describe.data, "Arn"));
        int dup = 0;
        if (!audit_key_is_customer(k)) {
            continue;
        }
        for (size_t j = 0; j < i && arn != NULL; j++) {
            const char *other = json_string_value(json_object_get(inv->keys[j].describe.data,
                                                                  "Arn"));
            dup |= other != NULL && strcmp(other, arn) == 0;
        }
        if (!dup) {
            tasks[n++] = (struct tag_task){client_for(c, k->region), AUDIT_SVC__MAX,
                                           arn != NULL ? arn : k->ref, &k->tags};
        }
    }
    audit_pool_run(n, c->opts->concurrency, tags_run, tasks);
    rc = 0;
out:
    free(tasks);
    return rc;
}

/* ---- MSK versions and configurations (msk.kafka_version, msk.acl_default_deny) ---- */

struct lkv_task {
    struct aws_client *client;
    struct audit_kafka_versions *kv;
};

/* ListKafkaVersions: GET /v1/kafka-versions -> {"kafkaVersions": [{"version", "status"}],
 * "nextToken"}, every page appended to one array. */
static int list_kafka_versions(struct aws_client *client, json_t *all, struct mk_err *err)
{
    int rc = -1;
    char *token = NULL;
    json_t *resp = NULL;
    for (int page = 0;; page++) {
        struct aws_query_param q[] = {{"maxResults", "100"}, {NULL, NULL}, {NULL, NULL}};
        const json_t *items;
        const char *next;
        MK_ENSURE(page < MAX_PAGES, err, MK_ERR_INVALID, "ListKafkaVersions: more than %d pages",
                  MAX_PAGES);
        if (token != NULL) {
            q[1].name = "nextToken";
            q[1].value = token;
        }
        MK_GUARD(aws_rest_call(client, "kafka", "GET", "/v1/kafka-versions", q, NULL, &resp, err));
        items = json_object_get(resp, "kafkaVersions");
        MK_ENSURE(items == NULL || json_is_array(items), err, MK_ERR_INVALID,
                  "ListKafkaVersions: kafkaVersions is not an array");
        MK_ENSURE(append_all(all, items) == 0, err, MK_ERR_NOMEM, "out of memory");
        next = json_string_value(json_object_get(resp, "nextToken"));
        if (next == NULL || next[0] == '\0') {
            break;
        }
        MK_GUARD(cursor_advance(&token, next, "ListKafkaVersions: nextToken", err));
        json_decref(resp);
        resp = NULL;
    }
    rc = 0;
out:
    json_decref(resp);
    free(token);
    return rc;
}

static void lkv_run(void *ctx, size_t i)
{
    struct lkv_task *t = &((struct lkv_task *)ctx)[i];
    json_t *all = json_array();
    if (all == NULL) {
        t->kv->res.failed = 1;
        mk_err_set(&t->kv->res.err, MK_ERR_NOMEM, "out of memory");
        return;
    }
    if (list_kafka_versions(t->client, all, &t->kv->res.err) != 0) {
        t->kv->res.failed = 1;
        json_decref(all);
        return;
    }
    t->kv->res.data = all;
}

/* One ListKafkaVersions per audited region that has an MSK cluster. */
static int phase_kafka_versions(struct collector *c, struct audit_inventory *inv,
                                struct mk_err *err)
{
    int rc = -1;
    size_t n = 0;
    struct lkv_task *tasks = calloc(c->n_clients + 1, sizeof(*tasks));
    MK_ENSURE(tasks != NULL, err, MK_ERR_NOMEM, "out of memory");
    for (size_t r = 0; r < c->n_clients; r++) {
        int any = 0;
        for (size_t i = 0; i < inv->n_resources && !any; i++) {
            any = inv->resources[i].svc == AUDIT_SVC_MSK &&
                  strcmp(inv->resources[i].region, c->clients[r].region) == 0;
        }
        if (any) {
            tasks[n].client = c->clients[r].client;
            n++;
        }
    }
    /* The entries are added before the pool runs: the array must not move under it. */
    for (size_t r = 0, k = 0; r < c->n_clients && k < n; r++) {
        if (tasks[k].client == c->clients[r].client) {
            MK_ENSURE(audit_inventory_add_kafka_versions(inv, c->clients[r].region) != NULL, err,
                      MK_ERR_NOMEM, "out of memory");
            k++;
        }
    }
    for (size_t k = 0; k < n; k++) {
        tasks[k].kv = &inv->kafka_versions[inv->n_kafka_versions - n + k];
    }
    audit_pool_run(n, c->opts->concurrency, lkv_run, tasks);
    rc = 0;
out:
    free(tasks);
    return rc;
}

/* DescribeConfigurationRevision: GET /v1/configurations/{arn}/revisions/{revision}. */
static void config_run(void *ctx, size_t i)
{
    struct resources_ctx *cc = ctx;
    struct audit_resource *r = cc->items[i];
    long long rev = 0;
    const char *arn = audit_msk_configuration(r, &rev);
    char *path = NULL;
    json_t *resp = NULL;
    r->config_fetched = 1;
    if (asprintf(&path, "/v1/configurations/%s/revisions/%lld", arn, rev) < 0) {
        r->config.failed = 1;
        mk_err_set(&r->config.err, MK_ERR_NOMEM, "out of memory");
        return;
    }
    if (aws_rest_call(client_for(cc->c, r->region), "kafka", "GET", path, NULL, NULL, &resp,
                      &r->config.err) != 0) {
        r->config.failed = 1;
    } else {
        r->config.data = resp;
        resp = NULL;
    }
    json_decref(resp);
    free(path);
}

static int phase_msk_config(struct collector *c, struct audit_inventory *inv, struct mk_err *err)
{
    int rc = -1;
    size_t n = 0;
    struct resources_ctx cc = {c, calloc(inv->n_resources + 1, sizeof(struct audit_resource *))};
    MK_ENSURE(cc.items != NULL, err, MK_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < inv->n_resources; i++) {
        long long rev;
        if (audit_msk_configuration(&inv->resources[i], &rev) != NULL) {
            cc.items[n++] = &inv->resources[i];
        }
    }
    audit_pool_run(n, c->opts->concurrency, config_run, &cc);
    rc = 0;
out:
    free(cc.items);
    return rc;
}

/* ---- CloudTrail: AccessDenied events on the audited keys (KPI) ---- */

/* LookupEvents allows 2 requests per second per account and region (CloudTrail quotas): the
 * calls of one region run one after the other, at least this far apart. */
#define TRAIL_SPACING_NS 500000000L
/* Every KMS call on a key is an event, so a busy key has many: read at most this many pages (50
 * events each) per key and say when the count is truncated. */
#define TRAIL_MAX_PAGES 10

struct trail_task {
    struct aws_client *client;
    const char *region;
    struct audit_key **keys; /* this region's customer-managed keys, one per ARN */
    size_t n_keys;
    long lookback_days;
    time_t now;
};

static void trail_pace(struct timespec *last)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (last->tv_sec != 0 || last->tv_nsec != 0) {
        long long gap = (now.tv_sec - last->tv_sec) * 1000000000LL + (now.tv_nsec - last->tv_nsec);
        if (gap < TRAIL_SPACING_NS) {
            struct timespec d = {0, (long)(TRAIL_SPACING_NS - gap)};
            while (nanosleep(&d, &d) != 0) {
            }
        }
    }
    clock_gettime(CLOCK_MONOTONIC, last);
}

/* Whether a CloudTrail event record (the CloudTrailEvent JSON text) is an access denial; the
 * caller's ARN into principal. */
static int trail_denied(const char *text, char *principal, size_t len)
{
    json_t *ev = text != NULL ? json_loads(text, 0, NULL) : NULL;
    const char *code = json_string_value(json_object_get(ev, "errorCode"));
    const char *who = json_string_value(audit_jpath(ev, "userIdentity.arn"));
    int denied = code != NULL && (strstr(code, "AccessDenied") != NULL ||
                                  strcmp(code, "UnauthorizedOperation") == 0);
    snprintf(principal, len, "%s",
             who != NULL ? who
             : json_string_value(audit_jpath(ev, "userIdentity.invokedBy")) != NULL
                 ? json_string_value(audit_jpath(ev, "userIdentity.invokedBy"))
                 : "unknown");
    json_decref(ev);
    return denied;
}

static int trail_key(struct trail_task *t, struct audit_key *k, struct timespec *last,
                     struct mk_err *err)
{
    const char *arn = json_string_value(json_object_get(k->describe.data, "Arn"));
    json_t *req = NULL, *resp = NULL, *out = NULL, *principals;
    char *token = NULL;
    long long events = 0, denied = 0;
    int truncated = 0, rc = -1;

    out = json_object();
    principals = json_object();
    MK_ENSURE(out != NULL && principals != NULL &&
                  json_object_set_new(out, "principals", principals) == 0,
              err, MK_ERR_NOMEM, "out of memory");
    for (int page = 0;; page++) {
        size_t i;
        json_t *e;
        const char *next;
        if (page == TRAIL_MAX_PAGES) {
            truncated = 1;
            break;
        }
        req = json_pack("{s:[{s:s, s:s}], s:I, s:I, s:i}", "LookupAttributes", "AttributeKey",
                        "ResourceName", "AttributeValue", arn != NULL ? arn : k->ref, "StartTime",
                        (json_int_t)(t->now - t->lookback_days * 86400L), "EndTime",
                        (json_int_t)t->now, "MaxResults", 50);
        MK_ENSURE(req != NULL, err, MK_ERR_NOMEM, "out of memory");
        if (token != NULL) {
            MK_ENSURE(json_object_set_new(req, "NextToken", json_string(token)) == 0, err,
                      MK_ERR_NOMEM, "out of memory");
        }
        trail_pace(last);
        MK_GUARD(
            aws_json_call(t->client, "cloudtrail",
                          "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents",
                          req, &resp, err));
        json_array_foreach(json_object_get(resp, "Events"), i, e)
        {
            char who[512];
            events++;
            if (trail_denied(json_string_value(json_object_get(e, "CloudTrailEvent")), who,
                             sizeof(who))) {
                denied++;
                MK_ENSURE(json_object_set_new(
                              principals, who,
                              json_integer(json_integer_value(json_object_get(principals, who)) +
                                           1)) == 0,
                          err, MK_ERR_NOMEM, "out of memory");
            }
        }
        next = json_string_value(json_object_get(resp, "NextToken"));
        if (next == NULL || next[0] == '\0') {
            break;
        }
        MK_GUARD(cursor_advance(&token, next, "LookupEvents: NextToken", err));
        json_decref(req);
        json_decref(resp);
        req = resp = NULL;
    }
    MK_ENSURE(json_object_set_new(out, "events", json_integer(events)) == 0 &&
                  json_object_set_new(out, "access_denied", json_integer(denied)) == 0 &&
                  json_object_set_new(out, "truncated", json_boolean(truncated)) == 0,
              err, MK_ERR_NOMEM, "out of memory");
    k->trail.data = out;
    out = NULL;
    rc = 0;
out:
    json_decref(out);
    json_decref(req);
    json_decref(resp);
    free(token);
    return rc;
}

static void trail_run(void *ctx, size_t i)
{
    struct trail_task *t = &((struct trail_task *)ctx)[i];
    struct timespec last = {0, 0};
    for (size_t k = 0; k < t->n_keys; k++) {
        struct audit_key *key = t->keys[k];
        key->trail_fetched = 1;
        if (trail_key(t, key, &last, &key->trail.err) != 0) {
            key->trail.failed = 1;
        }
    }
}

/* One task per region: its keys' lookups run in sequence, paced. */
static int phase_trail(struct collector *c, struct audit_inventory *inv, struct mk_err *err)
{
    int rc = -1;
    struct trail_task *tasks = calloc(c->n_clients + 1, sizeof(*tasks));
    struct audit_key **all = calloc(inv->n_keys + 1, sizeof(*all));
    size_t used = 0;
    MK_ENSURE(tasks != NULL && all != NULL, err, MK_ERR_NOMEM, "out of memory");
    for (size_t r = 0; r < c->n_clients; r++) {
        tasks[r] =
            (struct trail_task){c->clients[r].client,         c->clients[r].region, all + used, 0,
                                c->opts->eval->lookback_days, c->opts->eval->now};
        if (tasks[r].now == 0) {
            tasks[r].now = time(NULL);
        }
        for (size_t i = 0; i < inv->n_keys; i++) {
            struct audit_key *k = &inv->keys[i];
            const char *arn = json_string_value(json_object_get(k->describe.data, "Arn"));
            int dup = 0;
            if (!audit_key_is_customer(k) || strcmp(k->region, c->clients[r].region) != 0) {
                continue;
            }
            for (size_t j = 0; j < i && arn != NULL; j++) {
                const char *other =
                    json_string_value(json_object_get(inv->keys[j].describe.data, "Arn"));
                dup |= other != NULL && strcmp(other, arn) == 0;
            }
            if (!dup) {
                all[used++] = k;
                tasks[r].n_keys++;
            }
        }
    }
    audit_pool_run(c->n_clients, c->opts->concurrency, trail_run, tasks);
    rc = 0;
out:
    free(tasks);
    free(all);
    return rc;
}

/* ---- Private CAs (pca.*) ---- */

struct ca_ctx {
    const struct collector *c;
    struct audit_ca **cas;
};

static void ca_call(struct aws_client *client, const char *target, const char *arn,
                    const char *wrap, struct audit_result *res)
{
    json_t *req = json_pack("{s:s}", "CertificateAuthorityArn", arn);
    json_t *resp = NULL;
    if (req == NULL) {
        res->failed = 1;
        mk_err_set(&res->err, MK_ERR_NOMEM, "out of memory");
        return;
    }
    if (aws_json_call(client, "acm-pca", target, req, &resp, &res->err) != 0) {
        res->failed = 1;
    } else if (wrap != NULL && !json_is_object(json_object_get(resp, wrap))) {
        res->failed = 1;
        mk_err_set(&res->err, MK_ERR_INVALID, "missing data: no %s in the answer", wrap);
    } else {
        res->data = json_incref(wrap != NULL ? json_object_get(resp, wrap) : resp);
    }
    json_decref(req);
    json_decref(resp);
}

static void ca_describe_run(void *ctx, size_t i)
{
    struct ca_ctx *cc = ctx;
    struct audit_ca *ca = cc->cas[i];
    ca_call(client_for(cc->c, ca->region), "ACMPrivateCA.DescribeCertificateAuthority", ca->arn,
            "CertificateAuthority", &ca->describe);
    progress_step(cc->c->progress, PK_PCA, 0, 1);
}

static void ca_cert_run(void *ctx, size_t i)
{
    struct ca_ctx *cc = ctx;
    struct audit_ca *ca = cc->cas[i];
    ca->cert_fetched = 1;
    ca_call(client_for(cc->c, ca->region), "ACMPrivateCA.GetCertificateAuthorityCertificate",
            ca->arn, NULL, &ca->cert);
}

static int ca_add(struct collector *c, struct audit_inventory *inv, const char *arn,
                  struct mk_err *err)
{
    struct audit_ca *ca;
    if (!audit_ca_arn_valid(arn)) {
        return 0; /* not a Private CA ARN: msk.mtls_required shows the list as it is */
    }
    ca = audit_inventory_add_ca(inv, arn);
    MK_ENSURE(ca != NULL, err, MK_ERR_NOMEM, "out of memory");
    /* A CA lives in its ARN's region, which need not be one being audited. */
    MK_GUARD(client_add(c, ca->region, err));
    return 0;
out:
    return -1;
}

static int phase_pca(struct collector *c, struct audit_inventory *inv, struct mk_err *err)
{
    int rc = -1;
    size_t n = 0;
    struct ca_ctx cc = {c, NULL};

    for (size_t i = 0; i < inv->n_resources; i++) {
        const json_t *arns = audit_msk_ca_arns(&inv->resources[i]);
        size_t k;
        json_t *v;
        json_array_foreach(arns, k, v)
        {
            if (json_is_string(v)) {
                MK_GUARD(ca_add(c, inv, json_string_value(v), err));
            }
        }
    }
    for (size_t i = 0; i < c->opts->n_ca_arns; i++) {
        MK_GUARD(ca_add(c, inv, c->opts->ca_arns[i], err));
    }
    cc.cas = calloc(inv->n_cas + 1, sizeof(*cc.cas));
    MK_ENSURE(cc.cas != NULL, err, MK_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < inv->n_cas; i++) {
        cc.cas[i] = &inv->cas[i];
    }
    progress_step(c->progress, PK_PCA, inv->n_cas, 0);
    audit_pool_run(inv->n_cas, c->opts->concurrency, ca_describe_run, &cc);
    /* Only an ACTIVE CA has a certificate (and a chain) to read the expiry from. */
    if (c->opts->eval->selected[AUDIT_PCA_EXPIRY]) {
        for (size_t i = 0; i < inv->n_cas; i++) {
            const char *st =
                json_string_value(json_object_get(inv->cas[i].describe.data, "Status"));
            if (st != NULL && strcmp(st, "ACTIVE") == 0) {
                cc.cas[n++] = &inv->cas[i];
            }
        }
        audit_pool_run(n, c->opts->concurrency, ca_cert_run, &cc);
    }
    rc = 0;
out:
    free(cc.cas);
    return rc;
}

/* With a role: can it be assumed?  Not: the account is reported, not the audit aborted. */
static int check_account(struct collector *c, struct audit_inventory *inv, int *usable,
                         struct mk_err *err)
{
    struct mk_err e = {0};
    *usable = 1;
    for (size_t i = 0; i < c->n_clients; i++) {
        MK_ENSURE(audit_inventory_add_region(inv, c->clients[i].region) == 0, err, MK_ERR_NOMEM,
                  "out of memory");
    }
    if (c->opts->role_arn == NULL || c->n_clients == 0) {
        return 0;
    }
    inv->account_role = strdup(c->opts->role_arn);
    MK_ENSURE(inv->account_role != NULL, err, MK_ERR_NOMEM, "out of memory");
    if (aws_client_check_credentials(c->clients[0].client, &e) == 0) {
        return 0;
    }
    if (e.code == MK_ERR_CREDS) {
        *err = e; /* no source credentials at all: no account can be audited */
        return -1;
    }
    *usable = 0;
    inv->account_failed = 1;
    inv->account_err = e;
    return 0;
out:
    return -1;
}

int audit_collect(const struct audit_collect_options *opts, struct audit_inventory *inv,
                  struct mk_err *err)
{
    int rc = -1;
    struct progress prog = {.out = opts->progress};
    struct collector c = {opts, NULL, 0, NULL};
    int usable = 1;

    if (opts->progress != NULL && pthread_mutex_init(&prog.lock, NULL) == 0) {
        c.progress = &prog;
    }
    if (opts->n_regions == 0) {
        MK_GUARD(client_add(&c, NULL, err));
    }
    for (size_t i = 0; i < opts->n_regions; i++) {
        MK_GUARD(client_add(&c, opts->regions[i], err));
    }
    MK_GUARD(check_account(&c, inv, &usable, err));
    if (!usable) {
        rc = 0;
        goto out;
    }
    MK_GUARD(phase_list(&c, inv, err));
    MK_GUARD(creds_failure(inv, err));
    MK_GUARD(phase_describe(&c, inv, err));
    MK_GUARD(creds_failure(inv, err));
    if (opts->eval->selected[AUDIT_MSK_CMK] || opts->eval->selected[AUDIT_KINESIS_CMK] ||
        opts->eval->selected[AUDIT_KMS_ROTATION] || opts->eval->selected[AUDIT_KMS_STATE] ||
        opts->eval->selected[AUDIT_KMS_POLICY] || opts->eval->selected[AUDIT_TAGS_OWNERSHIP]) {
        MK_GUARD(phase_keys(&c, inv, err));
        MK_GUARD(creds_failure(inv, err));
    }
    if (opts->eval->selected[AUDIT_TAGS_OWNERSHIP]) {
        MK_GUARD(phase_tags(&c, inv, err));
    }
    /* The AccessDenied KPI of the audited keys: those the kms.* checks looked at. */
    if (opts->eval->lookback_days > 0 &&
        (opts->eval->selected[AUDIT_KMS_ROTATION] || opts->eval->selected[AUDIT_KMS_STATE] ||
         opts->eval->selected[AUDIT_KMS_POLICY])) {
        MK_GUARD(phase_trail(&c, inv, err));
    }
    if (opts->eval->selected[AUDIT_MSK_VERSION]) {
        MK_GUARD(phase_kafka_versions(&c, inv, err));
    }
    if (opts->eval->selected[AUDIT_MSK_ACL_DEFAULT_DENY]) {
        MK_GUARD(phase_msk_config(&c, inv, err));
    }
    if (audit_needs_pca(opts->eval)) {
        MK_GUARD(phase_pca(&c, inv, err));
    }
    rc = 0;
out:
    clients_free(&c);
    if (c.progress != NULL) {
        if (prog.shown) {
            fputc('\n', prog.out);
        }
        pthread_mutex_destroy(&prog.lock);
    }
    return rc;
}
