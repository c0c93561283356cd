/*
 * probe_report.h: the probe's results and their three renderings (table, json, junit), plus the
 * exit-code rule.  Formats are documented in docs/probe.md.
 */
#ifndef CTL_PROBE_REPORT_H
#define CTL_PROBE_REPORT_H

#include <stdio.h>
#include <time.h>

#include "ctl/probe/conn.h"
#include "pki/err.h"

enum probe_format {
    PROBE_FORMAT_TABLE,
    PROBE_FORMAT_JSON,
    PROBE_FORMAT_JUNIT,
    PROBE_FORMAT_PROMETHEUS, /* node_exporter textfile collector */
};

struct probe_result {
    char broker[300]; /* "host:port" as given */
    enum probe_case kase;
    int tls_version;             /* TLS1_VERSION .. TLS1_3_VERSION, 0 for plaintext */
    enum probe_outcome expected; /* ACCEPTED or REFUSED */
    enum probe_outcome outcome;
    int ok; /* outcome met the expectation (NOT_APPLICABLE counts as ok) */
    char detail[1024];
    char remediation[1024]; /* what to do about a failed result, or "" */
};

#define PROBE_N_VERSIONS 2
#define PROBE_N_LEGACY_VERSIONS 2 /* TLS 1.0 and 1.1, for legacy_tls_version */
/* Every case per modern version, plus legacy_tls_version per legacy version and one
 * plaintext_listener (the two are not run per modern version). */
#define PROBE_RESULTS_PER_BROKER (PROBE_CASE__MAX * PROBE_N_VERSIONS + PROBE_N_LEGACY_VERSIONS + 1)

/* One broker to probe and, once probed, its results in case order per TLS version. */
struct probe_broker {
    char host[256]; /* name or IP literal, without brackets */
    char port[8];
    char display[300]; /* "host:port" or "[v6]:port" */
    int plaintext;     /* a plaintext endpoint: only plaintext_listener runs on it */
    struct probe_result results[PROBE_RESULTS_PER_BROKER];
    size_t n_results;
};

#ifdef MK_TESTING
/* probe.c: splits "host:port,[v6]:port" into brokers; returns the count or -1 (MK_ERR_USAGE).
 * Caller frees *out with free(). */
long probe_parse_brokers(const char *list, struct probe_broker **out, struct mk_err *err);
#endif

struct probe_summary {
    size_t brokers, total, passed, failed, errors, not_applicable;
};

/* Counts results.  brokers is the number of distinct broker names. */
void probe_summarize(const struct probe_result *r, size_t n, struct probe_summary *s);

/* 0 when every result is ok; 3 when no result reached a verdict (no ACCEPTED or REFUSED at all:
 * nothing could be probed); otherwise 1. */
int probe_exit_code(const struct probe_result *r, size_t n);

/* The Prometheus text exposition of the results (docs/probe.md): mskpki_probe_case_ok per
 * broker, case and TLS version, and mskpki_probe_last_run_timestamp_seconds = now.  Returns 0,
 * or -1 with MK_ERR_IO. */
int probe_report_write_prometheus(FILE *out, const struct probe_result *r, size_t n, time_t now,
                                  struct mk_err *err) MK_MUST_CHECK;

/* Writes the report.  Returns 0, or -1 with MK_ERR_IO / MK_ERR_NOMEM. */
int probe_report_write(FILE *out, enum probe_format fmt, const struct probe_result *r, size_t n,
                       struct mk_err *err) MK_MUST_CHECK;

#endif
