/* history.c: the audit's finding history in SQLite (see history.h, docs/audit.md). */
#include "ctl/audit/history.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

struct audit_history {
    sqlite3 *db;
    char *path;
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS runs ("
    "  id INTEGER PRIMARY KEY,"
    "  at INTEGER NOT NULL);" /* unix time of the run */
    "CREATE TABLE IF NOT EXISTS episodes ("
    "  account TEXT NOT NULL," /* '' in a single-account audit */
    "  region TEXT NOT NULL,"
    "  check_id TEXT NOT NULL,"
    "  resource TEXT NOT NULL,"
    "  first_fail INTEGER NOT NULL, first_fail_run INTEGER NOT NULL,"
    "  last_fail INTEGER NOT NULL, last_fail_run INTEGER NOT NULL,"
    "  resolved INTEGER, resolved_run INTEGER,"
    "  resolution TEXT CHECK (resolution IN ('remediated', 'gone', 'not_applicable')));"
    /* At most one open episode per finding. */
    "CREATE UNIQUE INDEX IF NOT EXISTS episodes_open ON episodes"
    "  (account, region, check_id, resource) WHERE resolved IS NULL;"
    "CREATE INDEX IF NOT EXISTS episodes_resolved ON episodes (check_id, resolved);";

static int db_fail(struct audit_history *h, struct mk_err *err, const char *what)
{
    mk_err_set(err, MK_ERR_IO, "--history %s: %s: %s", h->path, what, sqlite3_errmsg(h->db));
    return -1;
}

void audit_history_close(struct audit_history *h)
{
    if (h == NULL) {
        return;
    }
    sqlite3_close(h->db);
    free(h->path);
    free(h);
}

int audit_history_open(const char *path, struct audit_history **out, struct mk_err *err)
{
    struct audit_history *h = calloc(1, sizeof(*h));
    int fd;
    MK_ENSURE(h != NULL && (h->path = strdup(path)) != NULL, err, MK_ERR_NOMEM, "out of memory");
    /* The file holds resource names and account ids: create it owner-only. */
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    MK_ENSURE(fd >= 0, err, MK_ERR_IO, "--history %s: cannot open: %s", path, strerror(errno));
    close(fd);
    if (sqlite3_open_v2(path, &h->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL) !=
        SQLITE_OK) {
        db_fail(h, err, "cannot open");
        goto out;
    }
    /* Two audits that overlap wait for each other rather than fail (SQLITE_BUSY). */
    sqlite3_busy_timeout(h->db, AUDIT_HISTORY_BUSY_MS);
    if (sqlite3_exec(h->db, schema, NULL, NULL, NULL) != SQLITE_OK) {
        db_fail(h, err, "not an audit history database");
        goto out;
    }
    *out = h;
    return 0;
out:
    audit_history_close(h);
    return -1;
}

static int prep(struct audit_history *h, const char *sql, sqlite3_stmt **st, struct mk_err *err)
{
    if (sqlite3_prepare_v2(h->db, sql, -1, st, NULL) != SQLITE_OK) {
        return db_fail(h, err, "prepare");
    }
    return 0;
}

static void iso(time_t t, char *buf, size_t len)
{
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
        snprintf(buf, len, "%lld", (long long)t);
    }
}

static const char *finding_account(const struct ctl_finding *f)
{
    return f->account != NULL ? f->account : "";
}

/* Whether the run saw an ERROR for (account, region, check): then a missing resource may be
 * hidden behind it, not gone. */
static int area_has_error(const struct ctl_report *r, const char *account, const char *region,
                          const char *check)
{
    for (size_t i = 0; i < ctl_report_count(r); i++) {
        const struct ctl_finding *f = ctl_report_get(r, i);
        if (f->status == CTL_STATUS_ERROR && strcmp(finding_account(f), account) == 0 &&
            strcmp(f->region, region) == 0 && strcmp(f->check, check) == 0) {
            return 1;
        }
    }
    return 0;
}

static int seen(const struct ctl_report *r, const char *account, const char *region,
                const char *check, const char *resource)
{
    for (size_t i = 0; i < ctl_report_count(r); i++) {
        const struct ctl_finding *f = ctl_report_get(r, i);
        if (strcmp(f->resource, resource) == 0 && strcmp(f->check, check) == 0 &&
            strcmp(f->region, region) == 0 && strcmp(finding_account(f), account) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Binds text parameters 1..n. */
static void bind_text(sqlite3_stmt *st, int n, const char *const *v)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    for (int i = 0; i < n; i++) {
        sqlite3_bind_text(st, i + 1, v[i], -1, SQLITE_STATIC);
    }
}

int audit_history_record(struct audit_history *h, struct ctl_report *report, time_t now,
                         const char *const *checks, size_t n_checks,
                         const struct audit_history_area *areas, size_t n_areas, struct mk_err *err)
{
    sqlite3_stmt *find = NULL, *upd = NULL, *ins = NULL, *res = NULL, *open_q = NULL;
    sqlite3_int64 run;
    int in_tx = 0, rc = -1;
    char when[32];

    if (sqlite3_exec(h->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        db_fail(h, err, "begin");
        goto out;
    }
    in_tx = 1;
    if (sqlite3_exec(h->db, "INSERT INTO runs (at) VALUES (strftime('%s','now'))", NULL, NULL,
                     NULL) != SQLITE_OK) {
        db_fail(h, err, "insert run");
        goto out;
    }
    run = sqlite3_last_insert_rowid(h->db);
    MK_GUARD(prep(h, "UPDATE runs SET at = ?1 WHERE id = ?2", &upd, err));
    sqlite3_bind_int64(upd, 1, (sqlite3_int64)now);
    sqlite3_bind_int64(upd, 2, run);
    if (sqlite3_step(upd) != SQLITE_DONE) {
        db_fail(h, err, "update run");
        goto out;
    }
    sqlite3_finalize(upd);
    upd = NULL;
    MK_GUARD(prep(h,
                  "SELECT rowid, first_fail FROM episodes WHERE account = ?1 AND region = ?2 AND "
                  "check_id = ?3 AND resource = ?4 AND resolved IS NULL",
                  &find, err));
    MK_GUARD(prep(h, "UPDATE episodes SET last_fail = ?1, last_fail_run = ?2 WHERE rowid = ?3",
                  &upd, err));
    MK_GUARD(prep(h,
                  "INSERT INTO episodes (account, region, check_id, resource, first_fail, "
                  "first_fail_run, last_fail, last_fail_run) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?5, "
                  "?6)",
                  &ins, err));
    MK_GUARD(prep(h,
                  "UPDATE episodes SET resolved = ?1, resolved_run = ?2, resolution = ?3 WHERE "
                  "rowid = ?4",
                  &res, err));

    for (size_t i = 0; i < ctl_report_count(report); i++) {
        const struct ctl_finding *f = ctl_report_get(report, i);
        const char *key[4] = {finding_account(f), f->region, f->check, f->resource};
        sqlite3_int64 rowid = 0;
        time_t first = now;
        int step;
        if (f->status == CTL_STATUS_ERROR) {
            continue; /* unknown: neither failing nor fixed */
        }
        bind_text(find, 4, key);
        step = sqlite3_step(find);
        if (step == SQLITE_ROW) {
            rowid = sqlite3_column_int64(find, 0);
            first = (time_t)sqlite3_column_int64(find, 1);
        } else if (step != SQLITE_DONE) {
            db_fail(h, err, "select");
            goto out;
        }
        sqlite3_reset(find);
        if (f->status == CTL_STATUS_FAIL) {
            if (rowid != 0) {
                sqlite3_reset(upd);
                sqlite3_bind_int64(upd, 1, (sqlite3_int64)now);
                sqlite3_bind_int64(upd, 2, run);
                sqlite3_bind_int64(upd, 3, rowid);
                step = sqlite3_step(upd);
            } else {
                bind_text(ins, 4, key);
                sqlite3_bind_int64(ins, 5, (sqlite3_int64)now);
                sqlite3_bind_int64(ins, 6, run);
                step = sqlite3_step(ins);
            }
            if (step != SQLITE_DONE) {
                db_fail(h, err, "record FAIL");
                goto out;
            }
            iso(first, when, sizeof(when));
            MK_GUARD(ctl_report_set_field(report, i, CTL_FIELD_FIRST_SEEN, when, err));
        } else if (rowid != 0) {
            sqlite3_reset(res);
            sqlite3_bind_int64(res, 1, (sqlite3_int64)now);
            sqlite3_bind_int64(res, 2, run);
            sqlite3_bind_text(res, 3,
                              f->status == CTL_STATUS_PASS ? "remediated" : "not_applicable", -1,
                              SQLITE_STATIC);
            sqlite3_bind_int64(res, 4, rowid);
            if (sqlite3_step(res) != SQLITE_DONE) {
                db_fail(h, err, "resolve");
                goto out;
            }
        }
    }

    /* Open episodes of the areas and checks this run covered whose resource it no longer saw. */
    MK_GUARD(prep(h,
                  "SELECT rowid, resource FROM episodes WHERE account = ?1 AND region = ?2 AND "
                  "check_id = ?3 AND resolved IS NULL",
                  &open_q, err));
    for (size_t a = 0; a < n_areas; a++) {
        for (size_t c = 0; c < n_checks; c++) {
            const char *key[3] = {areas[a].account, areas[a].region, checks[c]};
            int step;
            if (area_has_error(report, key[0], key[1], key[2])) {
                continue;
            }
            bind_text(open_q, 3, key);
            while ((step = sqlite3_step(open_q)) == SQLITE_ROW) {
                const char *resource = (const char *)sqlite3_column_text(open_q, 1);
                if (resource != NULL && !seen(report, key[0], key[1], key[2], resource)) {
                    sqlite3_reset(res);
                    sqlite3_bind_int64(res, 1, (sqlite3_int64)now);
                    sqlite3_bind_int64(res, 2, run);
                    sqlite3_bind_text(res, 3, "gone", -1, SQLITE_STATIC);
                    sqlite3_bind_int64(res, 4, sqlite3_column_int64(open_q, 0));
                    if (sqlite3_step(res) != SQLITE_DONE) {
                        db_fail(h, err, "resolve gone");
                        goto out;
                    }
                }
            }
            if (step != SQLITE_DONE) {
                db_fail(h, err, "select open");
                goto out;
            }
            sqlite3_reset(open_q);
        }
    }
    if (sqlite3_exec(h->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        db_fail(h, err, "commit");
        goto out;
    }
    in_tx = 0;
    rc = 0;
out:
    sqlite3_finalize(find);
    sqlite3_finalize(upd);
    sqlite3_finalize(ins);
    sqlite3_finalize(res);
    sqlite3_finalize(open_q);
    if (in_tx) {
        sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
    }
    return rc;
}

int audit_history_kpis(struct audit_history *h, time_t now, const char *const *checks,
                       size_t n_checks, char **prom, json_t **json, struct mk_err *err)
{
    sqlite3_stmt *st = NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = NULL;
    json_t *root = json_object();
    int rc = -1;
    struct {
        long long open, remediated;
        double oldest_age, mttr;
        int has_oldest, has_mttr;
    } *k = calloc(n_checks + 1, sizeof(*k));

    MK_ENSURE(root != NULL && k != NULL, err, MK_ERR_NOMEM, "out of memory");
    MK_GUARD(prep(h,
                  "SELECT (SELECT COUNT(*) FROM episodes WHERE check_id = ?1 AND resolved IS "
                  "NULL), (SELECT MIN(first_fail) FROM episodes WHERE check_id = ?1 AND resolved "
                  "IS NULL), (SELECT AVG(resolved - first_fail) FROM episodes WHERE check_id = ?1 "
                  "AND resolution = 'remediated' AND resolved >= ?2), (SELECT COUNT(*) FROM "
                  "episodes WHERE check_id = ?1 AND resolution = 'remediated' AND resolved >= ?2)",
                  &st, err));
    for (size_t c = 0; c < n_checks; c++) {
        json_t *one;
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, checks[c], -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)now - AUDIT_MTTR_WINDOW_DAYS * 86400LL);
        if (sqlite3_step(st) != SQLITE_ROW) {
            db_fail(h, err, "kpis");
            goto out;
        }
        k[c].open = sqlite3_column_int64(st, 0);
        k[c].has_oldest = sqlite3_column_type(st, 1) != SQLITE_NULL;
        k[c].oldest_age = k[c].has_oldest ? (double)(now - sqlite3_column_int64(st, 1)) : 0;
        k[c].has_mttr = sqlite3_column_type(st, 2) != SQLITE_NULL;
        k[c].mttr = k[c].has_mttr ? sqlite3_column_double(st, 2) : 0;
        k[c].remediated = sqlite3_column_int64(st, 3);
        one = json_pack("{s:I, s:o, s:o, s:I}", "open_fail", (json_int_t)k[c].open,
                        "oldest_open_fail_age_seconds",
                        k[c].has_oldest ? json_integer((json_int_t)k[c].oldest_age) : json_null(),
                        "mttr_seconds",
                        k[c].has_mttr ? json_integer((json_int_t)(k[c].mttr + 0.5)) : json_null(),
                        "remediated_90d", (json_int_t)k[c].remediated);
        MK_ENSURE(one != NULL && json_object_set_new(root, checks[c], one) == 0, err, MK_ERR_NOMEM,
                  "out of memory");
    }
    mem = open_memstream(&buf, &len);
    MK_ENSURE(mem != NULL, err, MK_ERR_NOMEM, "out of memory");
    fprintf(mem, "# HELP mskpki_audit_open_fail Findings failing now, per check (--history).\n"
                 "# TYPE mskpki_audit_open_fail gauge\n");
    for (size_t c = 0; c < n_checks; c++) {
        fprintf(mem, "mskpki_audit_open_fail{check=\"%s\"} %lld\n", checks[c], k[c].open);
    }
    fprintf(mem,
            "# HELP mskpki_audit_oldest_open_fail_age_seconds Age of the oldest finding failing "
            "now, per check (0 when none).\n"
            "# TYPE mskpki_audit_oldest_open_fail_age_seconds gauge\n");
    for (size_t c = 0; c < n_checks; c++) {
        fprintf(mem, "mskpki_audit_oldest_open_fail_age_seconds{check=\"%s\"} %.0f\n", checks[c],
                k[c].oldest_age);
    }
    fprintf(mem,
            "# HELP mskpki_audit_mttr_seconds Mean time to remediate (first FAIL to PASS) of the "
            "findings remediated in the last 90 days, per check; NaN when none.\n"
            "# TYPE mskpki_audit_mttr_seconds gauge\n");
    for (size_t c = 0; c < n_checks; c++) {
        if (k[c].has_mttr) {
            fprintf(mem, "mskpki_audit_mttr_seconds{check=\"%s\"} %.0f\n", checks[c], k[c].mttr);
        } else {
            fprintf(mem, "mskpki_audit_mttr_seconds{check=\"%s\"} NaN\n", checks[c]);
        }
    }
    {
        int closed = fclose(mem);
        mem = NULL;
        MK_ENSURE(closed == 0, err, MK_ERR_NOMEM, "out of memory");
    }
    *prom = buf;
    buf = NULL;
    *json = root;
    root = NULL;
    rc = 0;
out:
    if (mem != NULL) {
        fclose(mem);
    }
    free(buf);
    free(k);
    json_decref(root);
    sqlite3_finalize(st);
    return rc;
}
