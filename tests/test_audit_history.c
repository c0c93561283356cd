/* test_audit_history.c: the --history database: episodes, first_seen, "gone", MTTR, and two
 * writers at once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "ctl/audit/history.h"

#define DAY 86400
#define T0 1767225600 /* 2026-01-01T00:00:00Z */

static const char *const checks[] = {"msk.public_access"};
static const struct audit_history_area areas[] = {{"", "us-east-1"}};

struct item {
    const char *resource;
    enum ctl_status status;
};

/* One run: the findings of items (NULL-terminated), recorded at t.  Returns the report. */
static struct ctl_report *run(struct audit_history *h, time_t t, const struct item *items)
{
    struct ctl_report *r = ctl_report_new();
    struct mk_err err = {0};
    for (; items->resource != NULL; items++) {
        assert_int_equal(ctl_report_add(r, checks[0], items->status, CTL_SEV_HIGH, items->resource,
                                        "AWS::MSK::Cluster",
                                        items->resource[0] == '*' ? "us-east-1" : "us-east-1",
                                        "fix", &err, "m"),
                         0);
    }
    ctl_report_sort(r);
    assert_int_equal(audit_history_record(h, r, t, checks, 1, areas, 1, &err), 0);
    return r;
}

static const char *first_seen(const struct ctl_report *r, const char *resource)
{
    for (size_t i = 0; i < ctl_report_count(r); i++) {
        if (strcmp(ctl_report_get(r, i)->resource, resource) == 0) {
            return ctl_report_get(r, i)->first_seen;
        }
    }
    fail_msg("no finding for %s", resource);
    return NULL;
}

static long long q(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long long v = -1;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW) {
        v = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static char *tmp_path(void)
{
    char *p = strdup("/tmp/test_audit_history.XXXXXX");
    int fd = mkstemp(p);
    assert_true(fd >= 0);
    close(fd);
    unlink(p);
    return p;
}

static void kpis(struct audit_history *h, time_t now, json_t **out)
{
    struct mk_err err = {0};
    char *prom = NULL;
    assert_int_equal(audit_history_kpis(h, now, checks, 1, &prom, out, &err), 0);
    assert_non_null(strstr(prom, "# TYPE mskpki_audit_mttr_seconds gauge"));
    free(prom);
}

static long long kpi(const json_t *j, const char *key)
{
    const json_t *v = json_object_get(json_object_get(j, checks[0]), key);
    return json_is_null(v) ? -1 : (long long)json_integer_value(v);
}

static void test_lifecycle(void **state)
{
    char *path = tmp_path();
    struct audit_history *h = NULL;
    struct mk_err err = {0};
    struct ctl_report *r;
    json_t *j = NULL;
    (void)state;
    assert_int_equal(audit_history_open(path, &h, &err), 0);

    r = run(h, T0, (struct item[]){{"a", CTL_STATUS_FAIL}, {"b", CTL_STATUS_PASS}, {NULL, 0}});
    assert_string_equal(first_seen(r, "a"), "2026-01-01T00:00:00Z");
    assert_null(first_seen(r, "b"));
    ctl_report_free(r);
    /* Still failing a day later: first_seen stays, last FAIL moves. */
    r = run(h, T0 + DAY,
            (struct item[]){{"a", CTL_STATUS_FAIL}, {"b", CTL_STATUS_FAIL}, {NULL, 0}});
    assert_string_equal(first_seen(r, "a"), "2026-01-01T00:00:00Z");
    assert_string_equal(first_seen(r, "b"), "2026-01-02T00:00:00Z");
    ctl_report_free(r);
    assert_int_equal(q(path, "SELECT last_fail FROM episodes WHERE resource = 'a'"), T0 + DAY);
    /* An ERROR knows nothing: a stays open, and b is not "gone" behind it. */
    r = run(h, T0 + 2 * DAY,
            (struct item[]){{"a", CTL_STATUS_ERROR}, {"*", CTL_STATUS_ERROR}, {NULL, 0}});
    ctl_report_free(r);
    assert_int_equal(q(path, "SELECT COUNT(*) FROM episodes WHERE resolved IS NULL"), 2);
    /* a is fixed on day 3; b's cluster was deleted: gone, not remediated. */
    r = run(h, T0 + 3 * DAY, (struct item[]){{"a", CTL_STATUS_PASS}, {NULL, 0}});
    ctl_report_free(r);
    assert_int_equal(q(path, "SELECT resolved - first_fail FROM episodes WHERE resource = 'a' "
                             "AND resolution = 'remediated'"),
                     3 * DAY);
    assert_int_equal(q(path, "SELECT COUNT(*) FROM episodes WHERE resource = 'b' AND "
                             "resolution = 'gone'"),
                     1);
    kpis(h, T0 + 3 * DAY, &j);
    assert_int_equal(kpi(j, "open_fail"), 0);
    assert_int_equal(kpi(j, "oldest_open_fail_age_seconds"), -1);
    assert_int_equal(kpi(j, "mttr_seconds"), 3 * DAY); /* b, gone, does not count */
    assert_int_equal(kpi(j, "remediated_90d"), 1);
    json_decref(j);
    /* a fails again: a new episode with a new first_seen. */
    r = run(h, T0 + 10 * DAY, (struct item[]){{"a", CTL_STATUS_FAIL}, {NULL, 0}});
    assert_string_equal(first_seen(r, "a"), "2026-01-11T00:00:00Z");
    ctl_report_free(r);
    kpis(h, T0 + 12 * DAY, &j);
    assert_int_equal(kpi(j, "open_fail"), 1);
    assert_int_equal(kpi(j, "oldest_open_fail_age_seconds"), 2 * DAY);
    json_decref(j);
    /* 100 days on, the remediation left the 90-day window. */
    kpis(h, T0 + 100 * DAY, &j);
    assert_int_equal(kpi(j, "mttr_seconds"), -1);
    json_decref(j);
    assert_int_equal(q(path, "SELECT COUNT(*) FROM runs"), 5);
    audit_history_close(h);
    unlink(path);
    free(path);
}

/* "Gone" only within what a run covered: a FAIL in a region (or of a check) the next run did
 * not audit stays open; the run that covers it again resolves it. */
static void test_gone_only_in_covered_areas(void **state)
{
    static const char *const other[] = {"msk.tls_in_transit"};
    static const struct audit_history_area eu[] = {{"", "eu-west-1"}};
    char *path = tmp_path();
    struct audit_history *h = NULL;
    struct mk_err err = {0};
    struct ctl_report *r = ctl_report_new();
    (void)state;
    assert_int_equal(audit_history_open(path, &h, &err), 0);
    assert_int_equal(ctl_report_add(r, checks[0], CTL_STATUS_FAIL, CTL_SEV_HIGH, "eu-c",
                                    "AWS::MSK::Cluster", "eu-west-1", "fix", &err, "m"),
                     0);
    assert_int_equal(audit_history_record(h, r, T0, checks, 1, eu, 1, &err), 0);
    ctl_report_free(r);
    /* us-east-1 only (the shared areas), then eu-west-1 with another check: eu-c stays open. */
    ctl_report_free(run(h, T0 + DAY, (struct item[]){{NULL, 0}}));
    r = ctl_report_new();
    assert_int_equal(audit_history_record(h, r, T0 + 2 * DAY, other, 1, eu, 1, &err), 0);
    ctl_report_free(r);
    assert_int_equal(q(path, "SELECT COUNT(*) FROM episodes WHERE resource = 'eu-c' AND "
                             "resolved IS NULL"),
                     1);
    /* eu-west-1 and the check again, without the cluster: gone. */
    r = ctl_report_new();
    assert_int_equal(audit_history_record(h, r, T0 + 3 * DAY, checks, 1, eu, 1, &err), 0);
    ctl_report_free(r);
    assert_int_equal(q(path, "SELECT resolved - first_fail FROM episodes WHERE resource = 'eu-c' "
                             "AND resolution = 'gone'"),
                     3 * DAY);
    audit_history_close(h);
    unlink(path);
    free(path);
}

/* Two audits writing at once: each run is one transaction, the second waits. */
static void test_two_writers(void **state)
{
    char *path = tmp_path();
    struct audit_history *h = NULL;
    struct mk_err err = {0};
    pid_t pids[2];
    (void)state;
    assert_int_equal(audit_history_open(path, &h, &err), 0);
    audit_history_close(h);
    for (int w = 0; w < 2; w++) {
        pids[w] = fork();
        assert_true(pids[w] >= 0);
        if (pids[w] == 0) {
            int ok = audit_history_open(path, &h, &err) == 0;
            for (int i = 0; ok && i < 25; i++) {
                struct ctl_report *r = ctl_report_new();
                char res[32];
                for (int k = 0; k < 20; k++) {
                    snprintf(res, sizeof(res), "c%d", k);
                    ok &= ctl_report_add(r, checks[0],
                                         (i + k + w) % 3 ? CTL_STATUS_FAIL : CTL_STATUS_PASS,
                                         CTL_SEV_HIGH, res, "AWS::MSK::Cluster", "us-east-1", "fix",
                                         &err, "m") == 0;
                }
                ok &= audit_history_record(h, r, T0 + i, checks, 1, areas, 1, &err) == 0;
                ctl_report_free(r);
            }
            audit_history_close(h);
            free(path); /* valgrind checks the child's leaks too */
            _exit(ok ? 0 : 1);
        }
    }
    for (int w = 0; w < 2; w++) {
        int st = 0;
        assert_int_equal(waitpid(pids[w], &st, 0), pids[w]);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    assert_int_equal(q(path, "SELECT COUNT(*) FROM runs"), 50);
    assert_int_equal(q(path, "SELECT COUNT(*) FROM (SELECT resource FROM episodes WHERE resolved "
                             "IS NULL GROUP BY resource HAVING COUNT(*) > 1)"),
                     0);
    assert_true(q(path, "SELECT COUNT(*) FROM episodes") > 20);
    unlink(path);
    free(path);
}

static void test_bad_file(void **state)
{
    char *path = tmp_path();
    struct audit_history *h = NULL;
    struct mk_err err = {0};
    FILE *fp = fopen(path, "w");
    (void)state;
    fputs("this is not a database, it is a text file long enough to have a header\n", fp);
    fclose(fp);
    assert_int_equal(audit_history_open(path, &h, &err), -1);
    assert_non_null(strstr(err.msg, path));
    unlink(path);
    assert_int_equal(audit_history_open("/nonexistent-dir/h.db", &h, &err), -1);
    assert_non_null(strstr(err.msg, "/nonexistent-dir/h.db"));
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lifecycle),
        cmocka_unit_test(test_gone_only_in_covered_areas),
        cmocka_unit_test(test_two_writers),
        cmocka_unit_test(test_bad_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
