/*
 * history.h: the audit's finding history (--history FILE), an SQLite database.
 *
 * Every (account, region, check, resource) FAIL opens an episode: its first FAIL, its last FAIL,
 * and the run that closed it: PASS again ("remediated"), NOT_APPLICABLE ("not_applicable"), or
 * the resource no longer listed where its check ran without an ERROR ("gone", not remediated).
 * An ERROR changes nothing: the state is unknown.  A run is one IMMEDIATE transaction with a busy
 * timeout, so two audits that overlap serialise instead of failing or mixing.  The tables are
 * plain (runs, episodes) for the sqlite3 CLI; docs/audit.md shows queries.
 */
#ifndef CTL_AUDIT_HISTORY_H
#define CTL_AUDIT_HISTORY_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "ctl/audit/report.h"
#include "pki/err.h"

#define AUDIT_HISTORY_BUSY_MS 120000 /* how long a run waits for an overlapping one */
#define AUDIT_MTTR_WINDOW_DAYS 90

struct audit_history;

/* Opens (creating if needed, mode 0600) the database at path.  Caller closes with
 * audit_history_close().  -1 with err naming the file on failure. */
int audit_history_open(const char *path, struct audit_history **out,
                       struct mk_err *err) MK_MUST_CHECK;
void audit_history_close(struct audit_history *h);

/* One (account, region) the run audited: "" for the account of a single-account run. */
struct audit_history_area {
    const char *account;
    const char *region;
};

/*
 * Records the findings of one run at time now: checks (ids) are the checks that ran, areas the
 * accounts and regions they covered (for "gone").  Sets first_seen on every FAIL finding.  Returns
 * 0, or -1 with err (the database unchanged).
 */
int audit_history_record(struct audit_history *h, struct ctl_report *report, time_t now,
                         const char *const *checks, size_t n_checks,
                         const struct audit_history_area *areas, size_t n_areas,
                         struct mk_err *err) MK_MUST_CHECK;

/*
 * The history KPIs per check id at time now: open FAIL count, age of the oldest open FAIL, and
 * the mean time to remediate of the episodes remediated in the last 90 days.  *prom is prometheus
 * text (caller frees), *json {"check": {"open_fail": n, "oldest_open_fail_age_seconds": s|null,
 * "mttr_seconds": s|null, "remediated_90d": n}} (caller decrefs).
 */
int audit_history_kpis(struct audit_history *h, time_t now, const char *const *checks,
                       size_t n_checks, char **prom, json_t **json,
                       struct mk_err *err) MK_MUST_CHECK;

#endif
