/*
 * metrics.h: the agent's Prometheus metrics and its /metrics and /healthz endpoints.
 *
 * The main loop records facts here (each call takes the mutex briefly); libmicrohttpd serves
 * them from its own thread, rendering under the same mutex.  Nothing here calls back into the
 * main loop, so a slow scraper never delays a rotation.  Names and labels: docs/metrics.md.
 */
#ifndef AGENT_METRICS_H
#define AGENT_METRICS_H

#include <stddef.h>
#include <time.h>

#include "agent/state.h"
#include "ca/ca.h"
#include "pki/err.h"

struct agent_metrics;
struct conf_metrics;

/* Caller frees with agent_metrics_free(). */
struct agent_metrics *agent_metrics_new(const char *version, struct mk_err *err) MK_MUST_CHECK;
/* Stops the server (if any) and frees.  NULL is a no-op. */
void agent_metrics_free(struct agent_metrics *m);

/* Serves /metrics and /healthz on listen ("127.0.0.1:9464", "[::1]:9464"); "" or NULL serves
 * nothing.  Replaces a running server.  opts (borrowed for the call; NULL = plain http, 10 s,
 * 64 connections, 8 per client address) gives TLS (with mTLS when client_ca_file is set: a
 * request without a certificate that verifies gets 403), the per-connection deadline and the
 * connection limits.  MK_ERR_CONFIG for a bad address, MK_ERR_IO when the port cannot be bound
 * or a TLS file cannot be read. */
int agent_metrics_listen(struct agent_metrics *m, const char *listen,
                         const struct conf_metrics *opts, struct mk_err *err) MK_MUST_CHECK;
/* 1 when a and b need no restart of the server (TLS files aside: those are re-read always). */
int agent_metrics_opts_equal(const struct conf_metrics *a, const struct conf_metrics *b);
/* The bound port, 0 when not serving. */
unsigned agent_metrics_port(struct agent_metrics *m);
void agent_metrics_stop(struct agent_metrics *m);

/* Keeps exactly these certificates (counters of those kept survive), in this order. */
int agent_metrics_set_names(struct agent_metrics *m, const char *const *names, size_t n,
                            struct mk_err *err) MK_MUST_CHECK;
/* Gauges and info from a certificate's status (matched by st->name; unknown names ignored). */
void agent_metrics_cert_update(struct agent_metrics *m, const struct agent_status *st);
/* One finished rotation attempt and how long it took. */
void agent_metrics_rotation(struct agent_metrics *m, const char *name, int success, double seconds);
void agent_metrics_hook_failure(struct agent_metrics *m, const char *name);
void agent_metrics_issued(struct agent_metrics *m, const char *name);
/* A corrupt or unreadable output or state file was found (and will be replaced). */
void agent_metrics_corrupt(struct agent_metrics *m, const char *name);
/* The key process refused a request for name (reason: agent_keypolicy_reason_name; others are
 * ignored). */
void agent_metrics_refusal(struct agent_metrics *m, const char *name, const char *reason);
void agent_metrics_wakeup(struct agent_metrics *m);
unsigned long agent_metrics_wakeups(struct agent_metrics *m);

/* Copies the CA's request counters (pki_ca_foreach_request_count); retire folds them into a
 * base before the CA is replaced, so the exported counters never go backwards. */
void agent_metrics_ca_counts(struct agent_metrics *m, const struct pki_ca *ca);
void agent_metrics_ca_retire(struct agent_metrics *m);

/* The exposition text at time now.  Caller frees with free(). */
char *agent_metrics_render(struct agent_metrics *m, time_t now, size_t *len,
                           struct mk_err *err) MK_MUST_CHECK;
/* 1 when every certificate is ready at now (a valid current generation), else 0. */
int agent_metrics_healthy(struct agent_metrics *m, time_t now);

#endif
