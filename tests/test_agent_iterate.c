/*
 * test_agent_iterate.c: the rotation state machine (agent/iterate.c) driven through tables of
 * (state, event, clock) -> (actions, next state).
 *
 * The machine runs against the real issuance transaction (issue.h) and the real in-process key
 * holder (issue_keys_local_new) writing real generations in a directory under the test's
 * working directory, behind a wrapper that records the calls (the actions) and fails on request
 * (the events); a fake CA (a CA key made here, dating certificates by the injected clock, with
 * the kind "local" or "aws-pca" so that the transaction keeps pending files or not); a fake
 * hook; an injected clock and random source (the agent_ctx test seams).  Each row sets the clock and the events,
 * runs one agent_iterate() step, and checks the actions taken, the next state, the due time,
 * the failure counters and the generation.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/x509v3.h>

#include "agent/iterate.h"
#include "agent/schedule.h"
#include "conf/conf.h"
#include "issue/issue.h"
#include "pki/ca-int.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "pki/log.h"
#include "pki/secret.h"

#define RETRY_MIN 10
#define RETRY_MAX 600

/* Actions: what a step asked of its collaborators. */
enum {
    ACT_LOAD = 1 << 0,  /* the key holder read the current generation (START) */
    ACT_CSR = 1 << 1,   /* the key holder made a CSR */
    ACT_ISSUE = 1 << 2, /* the CA was asked */
    ACT_STORE = 1 << 3, /* the key holder was asked to write a generation */
    ACT_HOOK = 1 << 4,  /* the hook ran */
    ACT_DROP = 1 << 5,  /* a pending issuance was dropped */
};
#define ACT_ROTATE (ACT_CSR | ACT_ISSUE | ACT_STORE)

/* Events: what happens to the step. */
enum {
    EV_CA_FAIL = 1 << 0,    /* the CA is unreachable (MK_ERR_NET) */
    EV_CA_PENDING = 1 << 1, /* the CA accepts the request but the certificate is not ready */
    EV_STORE_FAIL = 1 << 2, /* writing the generation fails */
    EV_HOOK_FAIL = 1 << 3,  /* the hook fails */
    EV_RELOAD = 1 << 4,     /* SIGHUP: agent_cert_rebind() before the step */
    EV_FORCE = 1 << 5,      /* SIGUSR1: agent_cert_force() before the step */
    EV_RESTART = 1 << 6,    /* the agent restarts: a fresh agent_cert, counters from state */
};

/* Where the row's clock is, relative to what the machine planned. */
enum clock_base {
    AT_NOW,   /* the clock of the row before (the test's start for the first row) */
    AT_DUE,   /* the certificate's due time (c->due) */
    AT_HOOK,  /* the hook's retry time (c->hook_due) */
};

/* The expected due time after the step. */
enum due_rule {
    DUE_RENEWAL,   /* notBefore + lifetime * fraction (jitter 0) */
    DUE_BACKOFF,   /* now + retry_min * 2^(failures - 1) */
    DUE_UNCHANGED, /* as before the step */
};

struct row {
    const char *what;
    enum agent_state state; /* before the step (after the events) */
    unsigned events;
    enum clock_base base;
    long offset;
    unsigned actions;
    enum agent_state next;
    enum due_rule due;
    unsigned long failures;
    unsigned hook_failures;
    unsigned long generation;
    unsigned issued; /* IssueCertificate-like calls that made a new certificate, in total */
};

struct fixture {
    char dir[512];
    struct conf *cfg;
    struct pki_ca *ca; /* the fake CA (impl: this fixture) */
    EVP_PKEY *ca_key;
    X509 *ca_cert;
    unsigned long serial;
    struct issue_keys *real_keys;
    struct issue_keys keys;
    struct agent_ctx ctx;
    struct agent_cert cert;
    time_t t0;
    time_t now;
    unsigned events;
    unsigned actions;
    unsigned issued;
    char pending_csr_fp[65]; /* the CSR the fake CA holds a pending issuance for */
};

/* ---- the fakes ---- */

static time_t fake_clock(void *arg)
{
    return ((struct fixture *)arg)->now;
}

static double fake_random(void *arg)
{
    (void)arg;
    return 0.0; /* no jitter: backoffs are exactly retry_min * 2^(n-1) */
}

static int fake_hook(void *arg, const struct agent_hook_spec *hs, struct mk_err *err)
{
    struct fixture *f = arg;

    assert_string_equal(hs->name, "client");
    f->actions |= ACT_HOOK;
    if (f->events & EV_HOOK_FAIL) {
        mk_err_set(err, MK_ERR_IO, "hook: exited with status 1");
        return -1;
    }
    return 0;
}

/* Sets notBefore/notAfter of x to [from, to]. */
static void set_validity(X509 *x, time_t from, time_t to)
{
    assert_non_null(X509_time_adj_ex(X509_getm_notBefore(x), 0, 0, &from));
    assert_non_null(X509_time_adj_ex(X509_getm_notAfter(x), 0, 0, &to));
}

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX v3;
    X509_EXTENSION *ext;

    X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    assert_non_null(ext);
    assert_int_equal(X509_add_ext(x, ext, -1), 1);
    X509_EXTENSION_free(ext);
}

/* The fake CA's own certificate, valid a year either side of the test's start. */
static void fake_ca_init(struct fixture *f)
{
    struct mk_err err;
    X509_NAME *name = X509_NAME_new();

    f->ca_key = pki_key_generate(PKI_KEY_EC_P256, &err);
    assert_non_null(f->ca_key);
    f->ca_cert = X509_new();
    assert_non_null(name);
    assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                                (const unsigned char *)"iterate test CA", -1,
                                                -1, 0),
                     1);
    assert_int_equal(X509_set_version(f->ca_cert, 2), 1);
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(f->ca_cert), 1), 1);
    assert_int_equal(X509_set_subject_name(f->ca_cert, name), 1);
    assert_int_equal(X509_set_issuer_name(f->ca_cert, name), 1);
    assert_int_equal(X509_set_pubkey(f->ca_cert, f->ca_key), 1);
    set_validity(f->ca_cert, f->t0 - 366 * 86400, f->t0 + 366 * 86400);
    add_ext(f->ca_cert, f->ca_cert, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(f->ca_cert, f->ca_cert, NID_key_usage, "critical,keyCertSign,cRLSign");
    add_ext(f->ca_cert, f->ca_cert, NID_subject_key_identifier, "hash");
    assert_true(X509_sign(f->ca_cert, f->ca_key, EVP_sha256()) > 0);
    X509_NAME_free(name);
}

/* A clientAuth leaf for the CSR, dated by the test's clock (as a CA would date it "now"). */
static X509 *fake_sign(struct fixture *f, X509_REQ *csr, long validity)
{
    X509 *x = X509_new();

    assert_non_null(x);
    assert_int_equal(X509_set_version(x, 2), 1);
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), (long)++f->serial + 1), 1);
    assert_int_equal(X509_set_subject_name(x, X509_REQ_get_subject_name(csr)), 1);
    assert_int_equal(X509_set_issuer_name(x, X509_get_subject_name(f->ca_cert)), 1);
    assert_int_equal(X509_set_pubkey(x, X509_REQ_get0_pubkey(csr)), 1);
    set_validity(x, f->now, f->now + validity);
    add_ext(x, f->ca_cert, NID_basic_constraints, "critical,CA:FALSE");
    add_ext(x, f->ca_cert, NID_key_usage, "critical,digitalSignature");
    add_ext(x, f->ca_cert, NID_ext_key_usage, "clientAuth");
    add_ext(x, f->ca_cert, NID_authority_key_identifier, "keyid");
    assert_true(X509_sign(x, f->ca_key, EVP_sha256()) > 0);
    return x;
}

static struct fixture *fake_of(struct pki_ca *ca)
{
    return ca->impl;
}

static int fake_check(struct pki_ca *ca, long validity_seconds, struct mk_err *err)
{
    (void)ca;
    (void)validity_seconds;
    (void)err;
    return 0;
}

static int fake_issue(struct pki_ca *ca, const struct pki_issue_request *req,
                      struct pki_issued *out, struct mk_err *err)
{
    struct fixture *f = fake_of(ca);
    char fp[65];

    f->actions |= ACT_ISSUE;
    if (f->events & EV_CA_FAIL) {
        mk_err_set(err, MK_ERR_NET, "fake CA: connection refused");
        return -1;
    }
    if (pki_csr_fingerprint(req->csr, fp, err) != 0) {
        return -1;
    }
    /* Like aws-pca: an issuance for a CSR it already accepted is resumed, not paid again. */
    if (strcmp(fp, f->pending_csr_fp) != 0) {
        f->issued++;
    }
    if (f->events & EV_CA_PENDING) {
        snprintf(f->pending_csr_fp, sizeof(f->pending_csr_fp), "%s", fp);
        if (req->pending_path != NULL) {
            FILE *rec = fopen(req->pending_path, "we");
            assert_non_null(rec);
            fprintf(rec, "{\"csr_sha256\":\"%s\"}\n", fp);
            fclose(rec);
        }
        mk_err_set(err, MK_ERR_PENDING, "fake CA: still in progress");
        return -1;
    }
    f->pending_csr_fp[0] = '\0';
    out->leaf = fake_sign(f, req->csr, req->validity_seconds);
    out->chain = sk_X509_new_null();
    assert_non_null(out->chain);
    assert_int_equal(X509_up_ref(f->ca_cert), 1);
    assert_true(sk_X509_push(out->chain, f->ca_cert) > 0);
    return 0;
}

static STACK_OF(X509) * fake_anchors(struct pki_ca *ca, struct mk_err *err)
{
    STACK_OF(X509) *s = sk_X509_new_null();

    (void)err;
    assert_non_null(s);
    assert_int_equal(X509_up_ref(fake_of(ca)->ca_cert), 1);
    assert_true(sk_X509_push(s, fake_of(ca)->ca_cert) > 0);
    return s;
}

static int fake_revoke(struct pki_ca *ca, X509 *cert, const char *reason, struct mk_err *err)
{
    (void)ca;
    (void)cert;
    (void)reason;
    mk_err_set(err, MK_ERR_INVALID, "fake CA: revocation not expected");
    return -1;
}

static void fake_destroy(struct pki_ca *ca)
{
    (void)ca; /* impl is the fixture */
}

static int keys_load(void *arg, const char *name, unsigned long *generation, X509 **leaf,
                     char *detail, size_t detail_size, struct mk_err *err)
{
    struct fixture *f = arg;

    f->actions |= ACT_LOAD;
    return f->real_keys->ops->load(f->real_keys->arg, name, generation, leaf, detail,
                                   detail_size, err);
}

static X509_REQ *keys_csr(void *arg, const char *name, int pending, int *resumed,
                          struct mk_err *err)
{
    struct fixture *f = arg;

    f->actions |= ACT_CSR;
    return f->real_keys->ops->csr(f->real_keys->arg, name, pending, resumed, err);
}

static int keys_store(void *arg, const char *name, X509 *leaf, STACK_OF(X509) * chain,
                      unsigned long *generation, struct mk_err *err)
{
    struct fixture *f = arg;

    f->actions |= ACT_STORE;
    if (f->events & EV_STORE_FAIL) {
        mk_err_set(err, MK_ERR_IO, "store: write client.key: No space left on device");
        return -1;
    }
    return f->real_keys->ops->store(f->real_keys->arg, name, leaf, chain, generation, err);
}

static void keys_drop(void *arg, const char *name)
{
    struct fixture *f = arg;

    f->actions |= ACT_DROP;
    f->real_keys->ops->drop(f->real_keys->arg, name);
}

/* ---- set-up ---- */

static void fixture_setup(struct fixture *f, const char *ca_kind)
{
    /* "aws-pca" makes the transaction keep pending files, as with a CA that can be slow. */
    static const struct pki_ca_ops local_ops = {"local",      fake_check,  fake_issue,
                                                fake_anchors, fake_revoke, fake_destroy};
    static const struct pki_ca_ops pca_ops = {"aws-pca",    fake_check,  fake_issue,
                                              fake_anchors, fake_revoke, fake_destroy};
    static const struct issue_keys_ops key_ops = {
        .load = keys_load, .csr = keys_csr, .store = keys_store, .drop = keys_drop};
    char path[600];
    char tmpl[] = "iterate.XXXXXX";
    struct mk_err err;
    FILE *cf;

    memset(f, 0, sizeof(*f));
    /* Under the build tree (the test's working directory), not /tmp: the store refuses
     * directories others can write to. */
    assert_non_null(mkdtemp(tmpl));
    assert_non_null(realpath(tmpl, f->dir));
    snprintf(path, sizeof(path), "%s/out", f->dir);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/state", f->dir);
    assert_int_equal(mkdir(path, 0750), 0);
    snprintf(path, sizeof(path), "%s/mskpki.conf", f->dir);
    cf = fopen(path, "we");
    assert_non_null(cf);
    fprintf(cf,
            "ca = { backend = \"local\"; local = { directory = \"%s/ca\"; }; };\n"
            "state_dir = \"%s/state\";\n"
            "retry = { min = \"%ds\"; max = \"%ds\"; };\n"
            "certificates = ({ name = \"client\";\n"
            "  subject = { common_name = \"client.example.com\"; };\n"
            "  san = { dns = [ \"client.example.com\" ]; };\n"
            "  validity = \"1h\"; renew = { fraction = 0.5; jitter = 0.0; };\n"
            "  output = { directory = \"%s/out/client\"; key = \"client.key\";\n"
            "             cert = \"client.crt\"; chain = \"ca.crt\"; };\n"
            "  hook = { command = [ \"/bin/true\" ]; };\n"
            "});\n",
            f->dir, f->dir, RETRY_MIN, RETRY_MAX, f->dir);
    fclose(cf);
    f->cfg = conf_load(path, &err);
    if (f->cfg == NULL) {
        fail_msg("conf_load: %s", err.msg);
    }
    /* Certificates are dated by the test's clock, which starts at the real time. */
    f->t0 = time(NULL);
    f->now = f->t0;
    fake_ca_init(f);
    f->ca = pki_ca_alloc(strcmp(ca_kind, "local") == 0 ? &local_ops : &pca_ops, f, &err);
    assert_non_null(f->ca);
    f->real_keys = issue_keys_local_new(f->cfg, &err);
    assert_non_null(f->real_keys);
    f->keys.ops = &key_ops;
    f->keys.arg = f;

    f->ctx.cfg = f->cfg;
    f->ctx.ca = f->ca;
    f->ctx.key_fd = -1;
    f->ctx.sup_fd = -1;
    f->ctx.keys = f->keys;
    f->ctx.clock = fake_clock;
    f->ctx.random_unit = fake_random;
    f->ctx.hook = fake_hook;
    f->ctx.test_arg = f;
    agent_cert_init(&f->cert, conf_find_certificate(f->cfg, "client"));
}

static void fixture_teardown(struct fixture *f)
{
    char cmd[600];

    agent_cert_clear(&f->cert);
    pki_ca_free(f->ca);
    X509_free(f->ca_cert);
    EVP_PKEY_free(f->ca_key);
    issue_keys_local_free(f->real_keys);
    conf_free(f->cfg);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
}

static const char *actions_str(unsigned a, char *buf, size_t size)
{
    static const char *const names[] = {"load", "csr", "issue", "store", "hook", "drop"};
    size_t n = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (a & (1u << i)) {
            n += (size_t)snprintf(buf + n, size - n, "%s%s", n > 0 ? "," : "", names[i]);
        }
    }
    if (n == 0) {
        snprintf(buf, size, "-");
    }
    return buf;
}

/* Runs one row: events, clock, one step; then checks everything the row expects. */
static void run_row(struct fixture *f, const struct row *r)
{
    struct agent_cert *c = &f->cert;
    char want[96];
    char got[96];
    time_t due_before;
    time_t expect_due = 0;

    f->events = r->events;
    f->actions = 0;
    if (r->events & EV_RESTART) {
        agent_cert_clear(c);
        agent_cert_init(c, conf_find_certificate(f->cfg, "client"));
    }
    if (r->events & EV_RELOAD) {
        agent_cert_rebind(c, conf_find_certificate(f->cfg, "client"));
    }
    if (r->events & EV_FORCE) {
        agent_cert_force(c);
    }
    switch (r->base) {
    case AT_DUE:
        f->now = c->due + r->offset;
        break;
    case AT_HOOK:
        f->now = c->hook_due + r->offset;
        break;
    case AT_NOW:
    default:
        f->now += r->offset;
        break;
    }
    if (c->state != r->state) {
        fail_msg("%s: state before %s, expected %s", r->what, agent_state_name(c->state),
                 agent_state_name(r->state));
    }
    due_before = c->due;
    c->attempted = 0;
    agent_iterate(&f->ctx, c, f->now);
    print_message("%-44s %-8s -> %-22s %-8s due%+lld failures=%lu gen=%lu\n", r->what,
                  agent_state_name(r->state), actions_str(f->actions, got, sizeof(got)),
                  agent_state_name(c->state), (long long)(c->due - f->now), c->failures,
                  c->generation);
    if (f->actions != r->actions) {
        fail_msg("%s: actions %s, expected %s", r->what, actions_str(f->actions, got, sizeof(got)),
                 actions_str(r->actions, want, sizeof(want)));
    }
    if (c->state != r->next) {
        fail_msg("%s: next state %s, expected %s", r->what, agent_state_name(c->state),
                 agent_state_name(r->next));
    }
    switch (r->due) {
    case DUE_RENEWAL:
        assert_true(c->have_cert);
        expect_due = c->info.not_before + (c->info.not_after - c->info.not_before) / 2;
        break;
    case DUE_BACKOFF:
        expect_due = f->now + agent_schedule_backoff((unsigned)c->failures, RETRY_MIN,
                                                     RETRY_MAX, 0.0, !agent_cert_ready(c, f->now));
        assert_true(expect_due - f->now >= (agent_cert_ready(c, f->now) ? RETRY_MIN : 1));
        break;
    case DUE_UNCHANGED:
    default:
        expect_due = due_before;
        break;
    }
    if (c->due != expect_due) {
        fail_msg("%s: due %lld (now%+lld), expected %lld (now%+lld)", r->what,
                 (long long)c->due, (long long)(c->due - f->now), (long long)expect_due,
                 (long long)(expect_due - f->now));
    }
    if (c->failures != r->failures || c->hook_failures != r->hook_failures ||
        c->generation != r->generation || f->issued != r->issued) {
        fail_msg("%s: failures %lu hook_failures %u generation %lu issued %u, expected %lu %u "
                 "%lu %u",
                 r->what, c->failures, c->hook_failures, c->generation, f->issued, r->failures,
                 r->hook_failures, r->generation, r->issued);
    }
}

/* ---- the tables ---- */

static void test_lifecycle(void **state)
{
    /* One certificate through its life; each row starts where the one before left it. */
    static const struct row rows[] = {
        {"first start, no certificate: issue", AGENT_STATE_START, 0, AT_NOW, 0,
         ACT_LOAD | ACT_ROTATE | ACT_HOOK, AGENT_STATE_WAIT, DUE_RENEWAL, 0, 0, 1, 1},
        {"not due (a minute later)", AGENT_STATE_WAIT, 0, AT_NOW, 60, 0, AGENT_STATE_WAIT,
         DUE_UNCHANGED, 0, 0, 1, 1},
        {"not due (a second before due)", AGENT_STATE_WAIT, 0, AT_DUE, -1, 0, AGENT_STATE_WAIT,
         DUE_UNCHANGED, 0, 0, 1, 1},
        {"due: rotate", AGENT_STATE_WAIT, 0, AT_DUE, 0, ACT_ROTATE | ACT_HOOK, AGENT_STATE_WAIT,
         DUE_RENEWAL, 0, 0, 2, 2},
        {"forced, CA unreachable: backoff 1", AGENT_STATE_ROTATE, EV_FORCE | EV_CA_FAIL,
         AT_NOW, 120, ACT_CSR | ACT_ISSUE, AGENT_STATE_BACKOFF, DUE_BACKOFF, 1, 0, 2, 2},
        {"backoff not over", AGENT_STATE_BACKOFF, 0, AT_DUE, -1, 0, AGENT_STATE_BACKOFF,
         DUE_UNCHANGED, 1, 0, 2, 2},
        {"backoff over, CA still down: backoff 2", AGENT_STATE_BACKOFF, EV_CA_FAIL, AT_DUE, 0,
         ACT_CSR | ACT_ISSUE, AGENT_STATE_BACKOFF, DUE_BACKOFF, 2, 0, 2, 2},
        {"issued but the store fails: backoff 3", AGENT_STATE_BACKOFF, EV_STORE_FAIL, AT_DUE, 0,
         ACT_ROTATE, AGENT_STATE_BACKOFF, DUE_BACKOFF, 3, 0, 2, 3},
        {"backoff over, all well: counters reset", AGENT_STATE_BACKOFF, 0, AT_DUE, 0,
         ACT_ROTATE | ACT_HOOK, AGENT_STATE_WAIT, DUE_RENEWAL, 0, 0, 3, 4},
        {"forced, hook fails: rotation stands", AGENT_STATE_ROTATE, EV_FORCE | EV_HOOK_FAIL,
         AT_NOW, 300, ACT_ROTATE | ACT_HOOK, AGENT_STATE_WAIT, DUE_RENEWAL, 0, 1, 4, 5},
        {"hook retry not yet due", AGENT_STATE_WAIT, 0, AT_HOOK, -1, 0, AGENT_STATE_WAIT,
         DUE_UNCHANGED, 0, 1, 4, 5},
        {"hook retry fails again", AGENT_STATE_WAIT, EV_HOOK_FAIL, AT_HOOK, 0, ACT_HOOK,
         AGENT_STATE_WAIT, DUE_UNCHANGED, 0, 2, 4, 5},
        {"hook retry succeeds, no rotation", AGENT_STATE_WAIT, 0, AT_HOOK, 0, ACT_HOOK,
         AGENT_STATE_WAIT, DUE_UNCHANGED, 0, 0, 4, 5},
        {"reload: START reloads, still valid, waits", AGENT_STATE_START, EV_RELOAD, AT_NOW,
         400, ACT_LOAD, AGENT_STATE_WAIT, DUE_RENEWAL, 0, 0, 4, 5},
        {"restart: a fresh agent_cert loads gen 4", AGENT_STATE_START, EV_RESTART, AT_NOW,
         400, ACT_LOAD, AGENT_STATE_WAIT, DUE_RENEWAL, 0, 0, 4, 5},
        {"clock jumps back an hour: nothing due", AGENT_STATE_WAIT, 0, AT_NOW, -3600, 0,
         AGENT_STATE_WAIT, DUE_UNCHANGED, 0, 0, 4, 5},
        {"clock jumps past due: rotate at once", AGENT_STATE_WAIT, 0, AT_DUE, 900,
         ACT_ROTATE | ACT_HOOK, AGENT_STATE_WAIT, DUE_RENEWAL, 0, 0, 5, 6},
    };
    struct fixture *f = *state;

    fixture_setup(f, "local");
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        run_row(f, &rows[i]);
    }
    /* The local CA keeps no pending files (it completes at once). */
    assert_int_equal(issue_has_pending(f->cfg->state_dir, "client"), 0);
    fixture_teardown(f);
}

static void test_pending_resume(void **state)
{
    /* A CA that accepts the request and is not done yet (aws-pca's RequestInProgress past the
     * poll deadline): the pending key and CSR stay, every later attempt resumes them, and a
     * restart rotates at once (though the certificate in place is valid and not due) to
     * resume them: one paid issuance. */
    static const struct row rows[] = {
        {"first start: issue", AGENT_STATE_START, 0, AT_NOW, 0,
         ACT_LOAD | ACT_ROTATE | ACT_HOOK, AGENT_STATE_WAIT, DUE_RENEWAL, 0, 0, 1, 1},
        {"forced, CA accepts but is not done: backoff", AGENT_STATE_ROTATE,
         EV_FORCE | EV_CA_PENDING, AT_NOW, 60, ACT_CSR | ACT_ISSUE, AGENT_STATE_BACKOFF,
         DUE_BACKOFF, 1, 0, 1, 2},
        {"retry, still pending: same CSR, not paid", AGENT_STATE_BACKOFF, EV_CA_PENDING, AT_DUE,
         0, ACT_CSR | ACT_ISSUE, AGENT_STATE_BACKOFF, DUE_BACKOFF, 2, 0, 1, 2},
        {"restart, valid cert, pending: resume now", AGENT_STATE_START, EV_RESTART, AT_NOW, 5,
         ACT_LOAD | ACT_ROTATE | ACT_HOOK, AGENT_STATE_WAIT, DUE_RENEWAL, 0, 0, 2, 2},
        {"next rotation: a new key, a new issuance", AGENT_STATE_WAIT, 0, AT_DUE, 0,
         ACT_ROTATE | ACT_HOOK, AGENT_STATE_WAIT, DUE_RENEWAL, 0, 0, 3, 3},
    };
    struct fixture *f = *state;
    char kpath[1024];
    char cpath[1024];
    char rec[1024];
    EVP_PKEY *pending = NULL;
    X509_REQ *csr = NULL;

    fixture_setup(f, "aws-pca");
    const struct conf_certificate *cc = conf_find_certificate(f->cfg, "client");
    assert_int_equal(issue_pending_paths(cc, kpath, cpath,
                                         sizeof(kpath)),
                     0);
    assert_int_equal(issue_state_path(rec, sizeof(rec), f->cfg->state_dir, "client",
                                      ".pending.json"),
                     0);
    run_row(f, &rows[0]);
    run_row(f, &rows[1]);
    /* The pending issuance: key and CSR beside the outputs, the CA's record in state_dir. */
    assert_int_equal(access(kpath, F_OK), 0);
    assert_int_equal(access(cpath, F_OK), 0);
    assert_int_equal(access(rec, F_OK), 0);
    assert_int_equal(issue_pending_read(cc, NULL, &pending, &csr), 1);
    assert_non_null(csr);
    run_row(f, &rows[2]);
    run_row(f, &rows[3]);
    /* The certificate written is for the pending key; nothing pending is left. */
    assert_int_equal(access(kpath, F_OK), -1);
    assert_int_equal(access(cpath, F_OK), -1);
    assert_int_equal(access(rec, F_OK), -1);
    {
        struct issue_spec spec;
        struct pki_generation gen = {0};
        struct mk_err err;

        assert_int_equal(issue_spec_load(cc, &spec, &err), 0);
        assert_int_equal(pki_store_read(&spec.spec, &gen, &err), 0);
        assert_int_equal(EVP_PKEY_eq(gen.key, pending), 1);
        pki_generation_clear(&gen);
        issue_spec_clear(&spec);
    }
    run_row(f, &rows[4]);
    EVP_PKEY_free(pending);
    X509_REQ_free(csr);
    fixture_teardown(f);
}

int main(void)
{
    static struct fixture f;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_prestate(test_lifecycle, &f),
        cmocka_unit_test_prestate(test_pending_resume, &f),
    };
    struct mk_err err;

    mk_log_setup(MK_LOG_ERROR, MK_LOG_STDERR, "test_agent_iterate");
    if (pki_sodium_init(&err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
