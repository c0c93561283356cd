/*
 * iterate.h: the life of one managed certificate as a state enum plus one step function
 * (certmonger's iterate.c).  The main loop owns an array of struct agent_cert, calls
 * agent_iterate() for each one whose deadline has come, and sleeps until the earliest
 * agent_cert_deadline().
 *
 *   START    recover the store, load the current generation, restore counters from the state
 *            file; then ROTATE (missing, expired, corrupt, pending issuance, forced) or WAIT.
 *   WAIT     a valid certificate; due at its jittered renewal time -> ROTATE.
 *   ROTATE   one issuance transaction (issue.h, keys in the key process); success -> WAIT (+ hook, + revocation of the
 *            replaced certificate after the grace), failure -> BACKOFF.
 *   BACKOFF  due at the retry time (capped exponential backoff with jitter) -> ROTATE.
 *
 * Alongside the state: a failed hook is retried at hook_due (backoff) and replaced certificates
 * are revoked at their revoke time.  Every change is written to the state file and metrics.
 */
#ifndef AGENT_ITERATE_H
#define AGENT_ITERATE_H

#include <stddef.h>
#include <time.h>

#include <openssl/x509.h>

#include "agent/hook.h"
#include "agent/metrics.h"
#include "agent/state.h"
#include "conf/conf.h"
#include "issue/issue.h"
#include "pki/ca.h"
#include "pki/cert.h"

enum agent_state {
    AGENT_STATE_START,
    AGENT_STATE_WAIT,
    AGENT_STATE_ROTATE,
    AGENT_STATE_BACKOFF,
    AGENT_STATE__MAX
};

/* "start", "wait", "rotate", "backoff". */
const char *agent_state_name(enum agent_state s);

/* What every certificate shares.  cfg and metrics are borrowed; ca is owned (created lazily by
 * agent_ctx_ca() so that a CA that cannot start yet is retried like any other failure). */
struct agent_ctx {
    const struct conf *cfg;
    struct pki_ca *ca;
    struct agent_metrics *metrics;
    int once; /* --once: START rotates only what is due without jitter, never plans a wait */
    int key_fd; /* the link to the key process (keyclient.h): keys, outputs, the local CA */
    int sup_fd; /* the link to the supervisor, which runs hooks */
    /* The key holder of the transaction: the key process over key_fd when ops is NULL (filled
     * in at first use). */
    struct issue_keys keys;
    /* Test seams (tests/test_agent_iterate.c): NULL means the real thing: time(NULL),
     * pki_random_unit(), and agent_hook_request() over sup_fd.  test_arg is passed to each. */
    time_t (*clock)(void *test_arg);
    double (*random_unit)(void *test_arg);
    int (*hook)(void *test_arg, const struct agent_hook_spec *hs, struct mk_err *err);
    void *test_arg;
};

/* The CA, creating it from cfg when needed.  Borrowed from ctx. */
struct pki_ca *agent_ctx_ca(struct agent_ctx *ctx, struct mk_err *err) MK_MUST_CHECK;
/* Frees the CA (its request counters are folded into the metrics first). */
void agent_ctx_drop_ca(struct agent_ctx *ctx);

struct agent_revoke {
    X509 *cert;
    time_t at;
    unsigned failures;
};

/*
 * What the agent keeps of the current certificate: the dates that planning and readiness need
 * and the strings of the state file and mskpki_certificate_info, each sized to its content.
 * The parsed X509 is not kept (OpenSSL's objects cost several KiB each, and a fleet host
 * manages thousands); the strings are owned (heap) and freed with the generation.
 */
struct agent_cert_facts {
    time_t not_before;
    time_t not_after;
    char *serial_hex; /* uppercase hex, no separators */
    char *subject;    /* RFC 2253 one-line form */
    char *issuer;
};

struct agent_cert {
    const char *name;                  /* borrowed: cc->name, rebound with cc */
    const struct conf_certificate *cc; /* borrowed from ctx->cfg; rebound on reload */
    enum agent_state state;
    time_t due;   /* WAIT/BACKOFF: when the next rotation is due */
    int force;    /* rotate at the next step whatever the dates */
    int restored; /* counters were read from the state file once */

    /* The current generation, when there is one (its key stays in the key process). */
    int have_cert;
    struct agent_cert_facts info;
    /* The certificate itself (DER, owned) only when cc->revoke_replaced: it is what the CA is
     * asked to revoke once it is replaced.  NULL otherwise. */
    unsigned char *leaf_der;
    size_t leaf_der_len;
    unsigned long generation;
    double jitter_unit; /* drawn once per generation, so re-planning does not drift */

    /* Outcome bookkeeping (state file and metrics). */
    time_t last_attempt;
    time_t last_success;
    enum agent_result last_result;
    char *last_error; /* owned; NULL when there is none */
    unsigned long failures;
    int attempted; /* a rotation ran since the last agent_cert_reset_attempt() */

    /* Side work. */
    time_t hook_due; /* 0 = nothing to run */
    unsigned hook_failures;
    int hook_failed; /* the last hook run failed */
    struct agent_revoke *revokes;
    size_t n_revokes;
};

void agent_cert_init(struct agent_cert *c, const struct conf_certificate *cc);
void agent_cert_clear(struct agent_cert *c);
/* After a reload: points at the new block and starts over from START (counters kept). */
void agent_cert_rebind(struct agent_cert *c, const struct conf_certificate *cc);
/* SIGUSR1 / --renew: rotate at the next step. */
void agent_cert_force(struct agent_cert *c);

/* Runs every step that is due at now (START and ROTATE run straight through). */
void agent_iterate(struct agent_ctx *ctx, struct agent_cert *c, time_t now);

/* Runs only the START step (if that is the state): the main loop loads every certificate and
 * reports READY=1 before the first, possibly slow, rotation. */
void agent_cert_load(struct agent_ctx *ctx, struct agent_cert *c, time_t now);

/* The earliest time something is due (rotation, hook retry, revocation); 0 = nothing. */
time_t agent_cert_deadline(const struct agent_cert *c);

/* 1 while a valid current generation is in place at now. */
int agent_cert_ready(const struct agent_cert *c, time_t now);

/* The status as written to the state file. */
void agent_cert_status(const struct agent_ctx *ctx, const struct agent_cert *c, time_t now,
                       struct agent_status *st);

#endif
