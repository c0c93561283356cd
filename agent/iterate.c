/* iterate.c: the per-certificate state machine (see iterate.h). */
#include "agent/iterate.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "agent/hook.h"
#include "agent/keyclient.h"
#include "agent/keysign.h"
#include "agent/schedule.h"
#include "issue/issue.h"
#include "pki/log.h"
#include "pki/renewal.h"
#include "pki/secret.h"
#include "pki/store.h"

static const char *const state_names[AGENT_STATE__MAX] = {"start", "wait", "rotate", "backoff"};

/* A message fit for msg="...": double quotes become single quotes (as mk_log_err does). */
static void quote_msg(const char *in, char *out, size_t size)
{
    size_t j = 0;

    for (size_t i = 0; in[i] != '\0' && j + 1 < size; i++) {
        out[j++] = in[i] == '"' ? '\'' : in[i];
    }
    out[j] = '\0';
}

const char *agent_state_name(enum agent_state s)
{
    if ((int)s < 0 || s >= AGENT_STATE__MAX) {
        return "unknown";
    }
    return state_names[s];
}

struct pki_ca *agent_ctx_ca(struct agent_ctx *ctx, struct mk_err *err)
{
    if (ctx->ca != NULL) {
        return ctx->ca;
    }
    /* The local CA's key stays in the key process; aws-pca holds no key here (Roles Anywhere
     * signs through the key process, keysign.h). */
    if (ctx->cfg->ca.type == CONF_CA_LOCAL) {
        ctx->ca = agent_keys_local_ca(&ctx->key_fd, err);
    } else {
        ctx->ca = agent_keysign_ca_new(ctx->cfg, &ctx->key_fd, err);
    }
    if (ctx->ca == NULL) {
        mk_err_prefix(err, "ca");
    }
    return ctx->ca;
}

void agent_ctx_drop_ca(struct agent_ctx *ctx)
{
    if (ctx->ca == NULL) {
        return;
    }
    if (ctx->metrics != NULL) {
        agent_metrics_ca_counts(ctx->metrics, ctx->ca);
        agent_metrics_ca_retire(ctx->metrics);
    }
    pki_ca_free(ctx->ca);
    ctx->ca = NULL;
}

static const char *ctx_ca_kind(const struct agent_ctx *ctx)
{
    if (ctx->ca != NULL) {
        return pki_ca_kind(ctx->ca);
    }
    return ctx->cfg->ca.type == CONF_CA_AWS_PCA ? "aws-pca" : "local";
}

/* The key holder: the key process over IPC unless a test put another one in ctx. */
static const struct issue_keys *ctx_keys(struct agent_ctx *ctx)
{
    if (ctx->keys.ops == NULL) {
        agent_keys_holder(&ctx->key_fd, &ctx->keys);
    }
    return &ctx->keys;
}

static time_t ctx_time(const struct agent_ctx *ctx)
{
    return ctx->clock != NULL ? ctx->clock(ctx->test_arg) : time(NULL);
}

static double ctx_random(const struct agent_ctx *ctx)
{
    return ctx->random_unit != NULL ? ctx->random_unit(ctx->test_arg) : pki_random_unit();
}

static int ctx_hook(struct agent_ctx *ctx, const struct agent_hook_spec *hs, struct mk_err *err)
{
    return ctx->hook != NULL ? ctx->hook(ctx->test_arg, hs, err)
                             : agent_hook_request(ctx->sup_fd, hs, err);
}

void agent_cert_init(struct agent_cert *c, const struct conf_certificate *cc)
{
    memset(c, 0, sizeof(*c));
    c->name = cc->name;
    c->cc = cc;
    c->state = AGENT_STATE_START;
    c->last_result = AGENT_RESULT_NONE;
}

static void facts_clear(struct agent_cert_facts *f)
{
    free(f->serial_hex);
    free(f->subject);
    free(f->issuer);
    memset(f, 0, sizeof(*f));
}

static void drop_current(struct agent_cert *c)
{
    free(c->leaf_der);
    c->leaf_der = NULL;
    c->leaf_der_len = 0;
    c->have_cert = 0;
    facts_clear(&c->info);
}

/* Replaces last_error with a copy of msg ("" or NULL clears it).  Out of memory loses the text,
 * never the result: last_result still says failure. */
static void set_last_error(struct agent_cert *c, const char *msg)
{
    free(c->last_error);
    c->last_error = msg != NULL && msg[0] != '\0' ? strdup(msg) : NULL;
}

void agent_cert_clear(struct agent_cert *c)
{
    drop_current(c);
    free(c->last_error);
    for (size_t i = 0; i < c->n_revokes; i++) {
        X509_free(c->revokes[i].cert);
    }
    free(c->revokes);
    memset(c, 0, sizeof(*c));
}

void agent_cert_rebind(struct agent_cert *c, const struct conf_certificate *cc)
{
    c->name = cc->name; /* the same name, in the new configuration (the old one is freed) */
    c->cc = cc;
    c->state = AGENT_STATE_START;
    c->due = 0;
}

void agent_cert_force(struct agent_cert *c)
{
    c->force = 1;
    if (c->state != AGENT_STATE_START) {
        c->state = AGENT_STATE_ROTATE;
    }
}

int agent_cert_ready(const struct agent_cert *c, time_t now)
{
    return c->have_cert && now >= c->info.not_before && now < c->info.not_after;
}

static time_t base_renewal(const struct agent_cert *c)
{
    return pki_cert_renewal_time(c->info.not_before, c->info.not_after, c->cc->renew_fraction,
                                 c->cc->renew_before_seconds);
}

static time_t renewal_time(const struct agent_cert *c)
{
    return agent_schedule_jitter(base_renewal(c), c->info.not_before, c->info.not_after,
                                 c->cc->jitter_fraction, c->jitter_unit);
}

void agent_cert_status(const struct agent_ctx *ctx, const struct agent_cert *c, time_t now,
                       struct agent_status *st)
{
    memset(st, 0, sizeof(*st));
    snprintf(st->name, sizeof(st->name), "%s", c->name);
    snprintf(st->ca, sizeof(st->ca), "%s", ctx_ca_kind(ctx));
    st->ready = agent_cert_ready(c, now);
    if (c->have_cert) {
        snprintf(st->subject, sizeof(st->subject), "%s", c->info.subject);
        snprintf(st->issuer, sizeof(st->issuer), "%s", c->info.issuer);
        snprintf(st->serial, sizeof(st->serial), "%s", c->info.serial_hex);
        st->not_before = c->info.not_before;
        st->not_after = c->info.not_after;
        struct pki_renewal_plan plan;
        pki_renewal_plan(c->info.not_before, c->info.not_after, c->cc->renew_fraction,
                         c->cc->renew_before_seconds, ctx->cfg->retry_min_seconds,
                         ctx->cfg->retry_max_seconds, &plan);
        st->renewal_planned = plan.planned;
        st->renewal_overdue = plan.overdue;
        st->expiring = plan.expiring;
    }
    if (c->state == AGENT_STATE_WAIT || c->state == AGENT_STATE_BACKOFF) {
        st->next_renewal = c->due;
    } else {
        st->next_renewal = now;
    }
    st->last_attempt = c->last_attempt;
    st->last_success = c->last_success;
    st->last_result = c->last_result;
    snprintf(st->last_error, sizeof(st->last_error), "%s",
             c->last_error != NULL ? c->last_error : "");
    st->consecutive_failures = c->failures;
    st->hook_failures = c->hook_failed && c->have_cert ? c->hook_failures : 0;
    st->generation = c->have_cert ? c->generation : 0;
    if (issue_cert_path(c->cc, st->cert_path, sizeof(st->cert_path)) != 0) {
        st->cert_path[0] = '\0';
    }
    st->updated = now;
}

/* State file and metrics; a failed state write is logged, never fatal. */
static void publish(struct agent_ctx *ctx, struct agent_cert *c, time_t now)
{
    struct agent_status st;
    struct mk_err err;

    agent_cert_status(ctx, c, now, &st);
    if (ctx->metrics != NULL) {
        agent_metrics_cert_update(ctx->metrics, &st);
        if (ctx->ca != NULL) {
            agent_metrics_ca_counts(ctx->metrics, ctx->ca);
        }
    }
    c->state_failed = agent_state_write(ctx->cfg->state_dir, &st, &err) != 0;
    if (c->state_failed) {
        mk_log_err("state.write_failed", &err);
    }
}

/*
 * Revocations waiting for their grace period survive restarts in <state_dir>/<name>.revoke.json:
 * {"version":1,"revocations":[{"at":unix,"failures":n,"cert":"PEM"}]}.  Certificates are public,
 * so the file is 0644.  With nothing pending the file is removed.
 */
static void revokes_save(const struct agent_ctx *ctx, const struct agent_cert *c)
{
    char path[1024];
    struct mk_err err;
    json_t *list = NULL;
    json_t *o = NULL;
    char *text = NULL;

    if (issue_state_path(path, sizeof(path), ctx->cfg->state_dir, c->name, ".revoke.json") != 0) {
        return;
    }
    if (c->n_revokes == 0) {
        if (unlink(path) != 0 && errno != ENOENT) {
            mk_log(MK_LOG_WARN, "revoke.save_failed", "name=%s path=%s errno=%d", c->name, path,
                   errno);
        }
        return;
    }
    list = json_array();
    for (size_t i = 0; list != NULL && i < c->n_revokes; i++) {
        char *pem = pki_certs_to_pem(c->revokes[i].cert, NULL, NULL, &err);
        if (pem == NULL ||
            json_array_append_new(
                list, json_pack("{s:I, s:I, s:s}", "at", (json_int_t)c->revokes[i].at, "failures",
                                (json_int_t)c->revokes[i].failures, "cert", pem)) != 0) {
            free(pem);
            json_decref(list);
            list = NULL;
            break;
        }
        free(pem);
    }
    o = list != NULL ? json_pack("{s:i, s:o}", "version", 1, "revocations", list) : NULL;
    text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    mk_err_clear(&err);
    if (text == NULL) {
        mk_log(MK_LOG_WARN, "revoke.save_failed", "name=%s msg=\"cannot build JSON\"", c->name);
    } else if (pki_store_write_file(path, text, strlen(text), 0644, (uid_t)-1, (gid_t)-1, &err) !=
               0) {
        mk_log_err("revoke.save_failed", &err);
    }
    free(text);
    json_decref(o);
}

static int add_revoke(struct agent_cert *c, X509 *cert, time_t at, unsigned failures);

static void revokes_load(struct agent_ctx *ctx, struct agent_cert *c)
{
    char path[1024];
    json_error_t jerr;
    struct mk_err err;
    json_t *o = NULL;
    json_t *list;
    json_t *item;
    size_t i;

    if (issue_state_path(path, sizeof(path), ctx->cfg->state_dir, c->name, ".revoke.json") != 0 ||
        access(path, F_OK) != 0) {
        return;
    }
    o = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    list = json_object_get(o, "revocations");
    if (o == NULL || !json_is_array(list)) {
        mk_log(MK_LOG_ERROR, "state.corrupt", "name=%s path=%s line=%d msg=\"%s\"", c->name, path,
               jerr.line, o == NULL ? jerr.text : "no revocations array");
        if (ctx->metrics != NULL) {
            agent_metrics_corrupt(ctx->metrics, c->name);
        }
        json_decref(o);
        return;
    }
    json_array_foreach(list, i, item)
    {
        const char *pem = json_string_value(json_object_get(item, "cert"));
        json_t *at = json_object_get(item, "at");
        json_t *failures = json_object_get(item, "failures");
        STACK_OF(X509) *certs = NULL;
        if (pem == NULL || !json_is_integer(at) || !json_is_integer(failures) ||
            (certs = pki_certs_from_mem(pem, strlen(pem), &err)) == NULL) {
            mk_log(MK_LOG_ERROR, "state.corrupt", "name=%s path=%s entry=%zu", c->name, path, i);
            continue;
        }
        X509 *cert = sk_X509_shift(certs);
        sk_X509_pop_free(certs, X509_free);
        if (add_revoke(c, cert, (time_t)json_integer_value(at),
                       (unsigned)json_integer_value(failures)) != 0) {
            X509_free(cert);
        }
    }
    json_decref(o);
    mk_log(MK_LOG_INFO, "revoke.restored", "name=%s pending=%zu", c->name, c->n_revokes);
}

/* Counters survive restarts through the state file (a corrupt one is reported and replaced). */
static void restore(struct agent_ctx *ctx, struct agent_cert *c)
{
    struct agent_status st;
    struct mk_err err;

    c->restored = 1;
    revokes_load(ctx, c);
    if (agent_state_read(ctx->cfg->state_dir, c->name, &st, &err) != 0) {
        if (err.code != MK_ERR_NOTFOUND) {
            mk_log_err("state.corrupt", &err);
            if (ctx->metrics != NULL) {
                agent_metrics_corrupt(ctx->metrics, c->name);
            }
        }
        return;
    }
    c->last_attempt = st.last_attempt;
    c->last_success = st.last_success;
    c->last_result = st.last_result;
    set_last_error(c, st.last_error);
    c->failures = st.consecutive_failures;
    if (st.hook_failures > 0) {
        /* The hook of the generation in place failed in an earlier run (perhaps a --once that
         * cannot retry): run it again now rather than forget it. */
        c->hook_failures = st.hook_failures > 64 ? 64 : (unsigned)st.hook_failures;
        c->hook_failed = 1;
        c->hook_due = 1;
        mk_log(MK_LOG_INFO, "hook.pending", "name=%s failures=%lu", c->name, st.hook_failures);
    }
}

/* Adopts a generation as the current one and frees leaf (always): only its facts are kept, and
 * its DER when a replacement will have to revoke it. */
static int adopt(const struct agent_ctx *ctx, struct agent_cert *c, X509 *leaf,
                 unsigned long generation, struct mk_err *err)
{
    struct pki_cert_info info;
    struct agent_cert_facts f = {0};
    unsigned char *der = NULL;
    int der_len = 0;
    int rc = -1;

    MK_GUARD(pki_cert_info(leaf, &info, err));
    f.not_before = info.not_before;
    f.not_after = info.not_after;
    f.serial_hex = strdup(info.serial_hex);
    f.subject = strdup(info.subject);
    f.issuer = strdup(info.issuer);
    MK_ENSURE(f.serial_hex != NULL && f.subject != NULL && f.issuer != NULL, err, MK_ERR_NOMEM,
              "agent: out of memory");
    if (c->cc->revoke_replaced) {
        der_len = i2d_X509(leaf, &der);
        MK_ENSURE(der_len > 0, err, MK_ERR_NOMEM, "agent: cannot encode the certificate of %s",
                  c->name);
    }
    /* The same generation again (START after a reload) keeps its jitter: the planned renewal,
     * already in the state file and the metrics, must not move with each reload. */
    if (c->generation != generation) {
        c->jitter_unit = ctx_random(ctx);
    }
    drop_current(c);
    c->info = f;
    memset(&f, 0, sizeof(f));
    c->leaf_der = der;
    c->leaf_der_len = (size_t)der_len;
    der = NULL;
    c->generation = generation;
    c->have_cert = 1;
    rc = 0;
out:
    facts_clear(&f);
    OPENSSL_free(der);
    X509_free(leaf);
    return rc;
}

static void plan_wait(struct agent_cert *c, time_t now)
{
    c->due = renewal_time(c);
    c->state = c->due <= now ? AGENT_STATE_ROTATE : AGENT_STATE_WAIT;
}

static void step_start(struct agent_ctx *ctx, struct agent_cert *c, time_t now)
{
    const struct issue_keys *keys;
    unsigned long generation = 0;
    char detail[32];
    X509 *leaf = NULL;
    struct pki_ca *ca;
    struct mk_err err;
    int pending = 0;

    if (!c->restored) {
        restore(ctx, c);
    }
    drop_current(c);
    mk_err_clear(&err);
    /* The key process recovers the store and reads the generation; only the leaf comes back. */
    keys = ctx_keys(ctx);
    if (keys->ops->load(keys->arg, c->name, &generation, &leaf, detail, sizeof(detail), &err) ==
        0) {
        if (adopt(ctx, c, leaf, generation, &err) != 0) {
            mk_log_err("store.corrupt", &err);
        }
    } else if (strcmp(detail, "read") != 0) {
        mk_log_err("store.unusable", &err);
    } else if (err.code == MK_ERR_NOTFOUND) {
        mk_log(MK_LOG_INFO, "certificate.missing", "name=%s", c->name);
    } else {
        /* Unreadable or mismatched files: report them; the rotation writes a fresh generation. */
        mk_log(MK_LOG_ERROR, "store.corrupt", "name=%s dir=%s", c->name, c->cc->output.directory);
        mk_log_err("store.corrupt", &err);
        if (ctx->metrics != NULL) {
            agent_metrics_corrupt(ctx->metrics, c->name);
        }
    }

    mk_err_clear(&err);
    ca = agent_ctx_ca(ctx, &err);
    if (ca != NULL && issue_uses_pending(ca) &&
        issue_has_pending(ctx->cfg->state_dir, c->name)) {
        pending = 1;
    }
    if (c->force || pending || !agent_cert_ready(c, now)) {
        c->state = AGENT_STATE_ROTATE;
        c->due = now;
    } else if (ctx->once) {
        /* --once renews what is past its planned time; jitter only spreads a running fleet. */
        c->due = base_renewal(c);
        c->state = c->due <= now ? AGENT_STATE_ROTATE : AGENT_STATE_WAIT;
    } else {
        plan_wait(c, now);
    }
    mk_log(MK_LOG_INFO, "certificate.loaded",
           "name=%s present=%d generation=%lu not_after=%lld next=%s due=%lld pending=%d", c->name,
           c->have_cert, c->have_cert ? c->generation : 0UL,
           (long long)(c->have_cert ? c->info.not_after : 0), agent_state_name(c->state),
           (long long)c->due, pending);
}

static void run_hook(struct agent_ctx *ctx, struct agent_cert *c, time_t now)
{
    struct agent_hook_spec hs;
    char cert_path[1024];
    char msg[sizeof(((struct mk_err *)0)->msg)];
    struct mk_err err;

    c->hook_due = 0;
    if (c->cc->hook.argv == NULL || !c->have_cert) {
        c->hook_failed = 0;
        return;
    }
    if (issue_cert_path(c->cc, cert_path, sizeof(cert_path)) != 0) {
        cert_path[0] = '\0';
    }
    memset(&hs, 0, sizeof(hs));
    hs.argv = c->cc->hook.argv;
    hs.timeout_seconds = c->cc->hook.timeout_seconds;
    hs.name = c->name;
    hs.cert_path = cert_path;
    hs.not_after = c->info.not_after;
    if (ctx_hook(ctx, &hs, &err) == 0) {
        c->hook_failures = 0;
        c->hook_failed = 0;
        mk_log(MK_LOG_INFO, "hook.success", "name=%s", c->name);
        return;
    }
    c->hook_failures++;
    c->hook_failed = 1;
    quote_msg(err.msg, msg, sizeof(msg));
    if (ctx->once) {
        /* Nothing retries in this process: the state file keeps the failure for the next run. */
        mk_log(MK_LOG_ERROR, "hook.failure",
               "name=%s code=%s failures=%u retry=next_run msg=\"%s\"", c->name,
               mk_code_str(err.code), c->hook_failures, msg);
    } else {
        long wait = agent_schedule_backoff(c->hook_failures, ctx->cfg->retry_min_seconds,
                                           ctx->cfg->retry_max_seconds, ctx_random(ctx), 0);
        c->hook_due = now + wait;
        mk_log(MK_LOG_ERROR, "hook.failure",
               "name=%s code=%s failures=%u retry_in=%ld msg=\"%s\"", c->name,
               mk_code_str(err.code), c->hook_failures, wait, msg);
    }
    if (ctx->metrics != NULL) {
        agent_metrics_hook_failure(ctx->metrics, c->name);
    }
}

static int add_revoke(struct agent_cert *c, X509 *cert, time_t at, unsigned failures)
{
    struct agent_revoke *r = realloc(c->revokes, (c->n_revokes + 1) * sizeof(*r));

    if (r == NULL) {
        return -1;
    }
    c->revokes = r;
    c->revokes[c->n_revokes].cert = cert;
    c->revokes[c->n_revokes].at = at;
    c->revokes[c->n_revokes].failures = failures;
    c->n_revokes++;
    return 0;
}

static void run_revokes(struct agent_ctx *ctx, struct agent_cert *c, time_t now)
{
    struct pki_ca *ca;
    struct mk_err err;
    char msg[sizeof(err.msg)];
    int changed = 0;
    size_t i = 0;

    while (i < c->n_revokes) {
        struct agent_revoke *r = &c->revokes[i];
        if (r->at > now) {
            i++;
            continue;
        }
        changed = 1;
        mk_err_clear(&err);
        ca = agent_ctx_ca(ctx, &err);
        if (ca != NULL && pki_ca_revoke(ca, r->cert, "SUPERSEDED", &err) == 0) {
            mk_log(MK_LOG_INFO, "revoke.success", "name=%s", c->name);
            X509_free(r->cert);
            c->revokes[i] = c->revokes[c->n_revokes - 1];
            c->n_revokes--;
            continue;
        }
        r->failures++;
        r->at = now + agent_schedule_backoff(r->failures, ctx->cfg->retry_min_seconds,
                                             ctx->cfg->retry_max_seconds, ctx_random(ctx), 0);
        quote_msg(err.msg, msg, sizeof(msg));
        mk_log(MK_LOG_ERROR, "revoke.failure",
               "name=%s code=%s failures=%u retry_at=%lld "
               "msg=\"%s\"",
               c->name, mk_code_str(err.code), r->failures, (long long)r->at, msg);
        i++;
    }
    if (changed) {
        revokes_save(ctx, c);
    }
}

static double monotonic_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The label of err->ext_code in the log: a refusal's reason or an AWS error code. */
static const char *ext_label(const struct mk_err *err)
{
    if (err->ext_code[0] == '\0') {
        return "";
    }
    return err->code == MK_ERR_REFUSED ? " reason=" : " aws_code=";
}

static void rotation_failed(struct agent_ctx *ctx, struct agent_cert *c, time_t now,
                            const struct mk_err *err)
{
    int urgent = !agent_cert_ready(c, now);
    char msg[sizeof(err->msg)];
    long wait;

    c->failures++;
    c->last_result = AGENT_RESULT_FAILURE;
    set_last_error(c, err->msg);
    wait = agent_schedule_backoff((unsigned)(c->failures > 64 ? 64 : c->failures),
                                  ctx->cfg->retry_min_seconds, ctx->cfg->retry_max_seconds,
                                  ctx_random(ctx), urgent);
    c->due = now + wait;
    /* Never sleep past the expiry of the certificate still in place: retry as it expires. */
    if (c->have_cert && c->info.not_after > now && c->due > c->info.not_after) {
        c->due = c->info.not_after;
    }
    c->state = AGENT_STATE_BACKOFF;
    quote_msg(err->msg, msg, sizeof(msg));
    /* --once does not retry: a retry_in would promise what the next run decides. */
    char retry[40] = "retry=next_run";
    if (!ctx->once) {
        snprintf(retry, sizeof(retry), "retry_in=%lld", (long long)(c->due - now));
    }
    mk_log(MK_LOG_ERROR, "rotation.failure",
           "name=%s code=%s%s%s failures=%lu ready=%d %s msg=\"%s\"", c->name,
           mk_code_str(err->code), ext_label(err), err->ext_code, c->failures,
           agent_cert_ready(c, now), retry, msg);
}

static void step_rotate(struct agent_ctx *ctx, struct agent_cert *c, time_t now)
{
    struct issue_in in;
    struct issue_out out = {0};
    struct pki_ca *ca;
    struct mk_err err;
    X509 *replaced = NULL;
    double t0 = monotonic_seconds();
    int ok = 0;

    c->force = 0;
    c->attempted = 1;
    c->last_attempt = now;
    mk_err_clear(&err);
    ca = agent_ctx_ca(ctx, &err);
    if (ca != NULL) {
        memset(&in, 0, sizeof(in));
        in.ca = ca;
        in.cc = c->cc;
        in.state_dir = ctx->cfg->state_dir;
        in.keys = ctx_keys(ctx);
        in.now = now;
        ok = issue_run(&in, &out, &err) == 0;
        if (out.issued && ctx->metrics != NULL) {
            agent_metrics_issued(ctx->metrics, c->name);
        }
    }
    if (ctx->metrics != NULL) {
        agent_metrics_rotation(ctx->metrics, c->name, ok, monotonic_seconds() - t0);
    }
    if (!ok && err.code == MK_ERR_REFUSED && ctx->metrics != NULL) {
        agent_metrics_refusal(ctx->metrics, c->name, err.ext_code);
    }
    if (!ok) {
        issue_out_clear(&out);
        rotation_failed(ctx, c, now, &err);
        return;
    }
    if (c->have_cert && c->cc->revoke_replaced && c->leaf_der != NULL) {
        const unsigned char *p = c->leaf_der;
        replaced = d2i_X509(NULL, &p, (long)c->leaf_der_len);
        if (replaced == NULL) {
            mk_log(MK_LOG_ERROR, "revoke.failure", "name=%s msg=\"cannot decode the replaced"
                   " certificate\"", c->name);
        }
    }
    /* adopt() frees out.leaf whatever it returns. */
    if (adopt(ctx, c, out.leaf, out.generation, &err) != 0) {
        out.leaf = NULL;
        issue_out_clear(&out);
        X509_free(replaced);
        rotation_failed(ctx, c, now, &err);
        return;
    }
    out.leaf = NULL;
    issue_out_clear(&out);
    c->failures = 0;
    c->last_success = now;
    c->last_result = AGENT_RESULT_SUCCESS;
    set_last_error(c, NULL);
    plan_wait(c, now);
    if (c->state == AGENT_STATE_ROTATE) {
        /* A certificate so short that its renewal time has already passed: do not spin. */
        c->state = AGENT_STATE_WAIT;
        c->due = now + 1;
    }
    mk_log(MK_LOG_INFO, "rotation.success",
           "name=%s serial=%s generation=%lu not_after=%lld next_renewal=%lld resumed=%d", c->name,
           c->info.serial_hex, c->generation, (long long)c->info.not_after, (long long)c->due,
           out.resumed);
    if (replaced != NULL) {
        if (add_revoke(c, replaced, now + c->cc->revoke_grace_seconds, 0) != 0) {
            X509_free(replaced);
            mk_log(MK_LOG_ERROR, "revoke.failure", "name=%s msg=\"out of memory\"", c->name);
        }
        revokes_save(ctx, c);
    }
    c->hook_due = now; /* run it now, below */
}

void agent_iterate(struct agent_ctx *ctx, struct agent_cert *c, time_t now)
{
    /* START and ROTATE lead straight on; at most one rotation per call. */
    for (int steps = 0; steps < 3; steps++) {
        switch (c->state) {
        case AGENT_STATE_START:
            step_start(ctx, c, now);
            continue;
        case AGENT_STATE_WAIT:
        case AGENT_STATE_BACKOFF:
            if (c->force || (c->due != 0 && c->due <= now)) {
                c->state = AGENT_STATE_ROTATE;
                continue;
            }
            break;
        case AGENT_STATE_ROTATE:
            if (ctx->once && !c->force && c->due > now) {
                break;
            }
            step_rotate(ctx, c, now);
            break;
        default:
            c->state = AGENT_STATE_START;
            continue;
        }
        break;
    }
    /* A rotation takes time (the key process, the CA, fsyncs): what follows is stamped with the
     * time it ended, so that a certificate the CA dated during the rotation counts as ready. */
    if (c->attempted && ctx_time(ctx) > now) {
        now = ctx_time(ctx);
    }
    if (c->hook_due != 0 && c->hook_due <= now) {
        run_hook(ctx, c, now);
    }
    run_revokes(ctx, c, now);
    publish(ctx, c, now);
}

void agent_cert_load(struct agent_ctx *ctx, struct agent_cert *c, time_t now)
{
    if (c->state == AGENT_STATE_START) {
        step_start(ctx, c, now);
        publish(ctx, c, now);
    }
}

time_t agent_cert_deadline(const struct agent_cert *c)
{
    time_t d = 0;

    switch (c->state) {
    case AGENT_STATE_START:
    case AGENT_STATE_ROTATE:
        d = 1; /* now */
        break;
    case AGENT_STATE_WAIT:
    case AGENT_STATE_BACKOFF:
        d = c->due;
        break;
    default:
        break;
    }
    d = agent_schedule_min(d, c->hook_due);
    for (size_t i = 0; i < c->n_revokes; i++) {
        d = agent_schedule_min(d, c->revokes[i].at);
    }
    return d;
}
