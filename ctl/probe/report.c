/* probe_report.c: table, json and junit renderings of the probe results (see probe_report.h). */
#include "ctl/probe/report.h"
#include "ctl/output.h"
#include "pki/text.h"

#include <string.h>

#include <jansson.h>

void probe_summarize(const struct probe_result *r, size_t n, struct probe_summary *s)
{
    memset(s, 0, sizeof(*s));
    s->total = n;
    for (size_t i = 0; i < n; i++) {
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++) {
            seen = strcmp(r[j].broker, r[i].broker) == 0;
        }
        s->brokers += !seen;
        s->passed += r[i].ok ? 1 : 0;
        s->failed += r[i].ok ? 0 : 1;
        s->errors += r[i].outcome == PROBE_ERROR;
        s->not_applicable += r[i].outcome == PROBE_NOT_APPLICABLE;
    }
}

int probe_exit_code(const struct probe_result *r, size_t n)
{
    int any_verdict = 0;
    int all_ok = 1;
    for (size_t i = 0; i < n; i++) {
        any_verdict |= r[i].outcome == PROBE_ACCEPTED || r[i].outcome == PROBE_REFUSED;
        all_ok &= r[i].ok != 0;
    }
    if (!any_verdict) {
        return 3;
    }
    return all_ok ? 0 : 1;
}

static int write_table(FILE *out, const struct probe_result *r, size_t n)
{
    size_t bw = strlen("BROKER");
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(r[i].broker);
        bw = l > bw ? l : bw;
    }
    int w = (int)bw;
    fprintf(out, "%-*s  %-25s  %-7s  %-8s  %-14s  %-4s  %s\n", w, "BROKER", "CASE", "TLS",
            "EXPECTED", "OUTCOME", "OK", "DETAIL");
    for (size_t i = 0; i < n; i++) {
        fprintf(out, "%-*s  %-25s  %-7s  %-8s  %-14s  %-4s  %s\n", w, r[i].broker,
                probe_case_name(r[i].kase), probe_tls_name(r[i].tls_version),
                probe_outcome_name(r[i].expected), probe_outcome_name(r[i].outcome),
                r[i].ok ? "ok" : "FAIL", r[i].detail);
        if (!r[i].ok && r[i].remediation[0] != '\0') {
            fprintf(out, "%-*s  remediation: %s\n", w, "", r[i].remediation);
        }
    }
    struct probe_summary s;
    probe_summarize(r, n, &s);
    fprintf(out,
            "\n%zu broker(s), %zu checks: %zu passed, %zu failed (%zu errors), %zu not "
            "applicable\n",
            s.brokers, s.total, s.passed, s.failed, s.errors, s.not_applicable);
    return 0;
}

static int write_json(FILE *out, const struct probe_result *r, size_t n, struct mk_err *err)
{
    int rc = -1;
    json_t *root = json_object();
    json_t *results = json_array();
    struct probe_summary s;
    MK_ENSURE(root != NULL && results != NULL, err, MK_ERR_NOMEM, "json");
    for (size_t i = 0; i < n; i++) {
        json_t *o =
            json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:s}", "broker", r[i].broker, "case",
                      probe_case_name(r[i].kase), "tls_version", probe_tls_name(r[i].tls_version),
                      "expected", probe_outcome_name(r[i].expected), "outcome",
                      probe_outcome_name(r[i].outcome), "ok", r[i].ok, "detail", r[i].detail);
        MK_ENSURE(o != NULL && json_array_append_new(results, o) == 0, err, MK_ERR_NOMEM,
                  "json result");
        /* o is owned by results now: a failure below frees it with them. */
        if (r[i].remediation[0] != '\0') {
            MK_ENSURE(json_object_set_new(o, "remediation", json_string(r[i].remediation)) == 0,
                      err, MK_ERR_NOMEM, "json remediation");
        }
    }
    probe_summarize(r, n, &s);
    json_t *sum = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:i}", "brokers", (json_int_t)s.brokers,
                            "total", (json_int_t)s.total, "passed", (json_int_t)s.passed, "failed",
                            (json_int_t)s.failed, "errors", (json_int_t)s.errors, "not_applicable",
                            (json_int_t)s.not_applicable, "exit_code", probe_exit_code(r, n));
    MK_ENSURE(sum != NULL, err, MK_ERR_NOMEM, "json summary");
    json_object_set_new(root, "results", results);
    results = NULL;
    json_object_set_new(root, "summary", sum);
    MK_ENSURE(json_dumpf(root, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER) == 0, err, MK_ERR_IO,
              "writing json");
    fputc('\n', out);
    rc = 0;
out:
    json_decref(results);
    json_decref(root);
    return rc;
}

/* One <testsuite> per broker (results of a broker are contiguous), JUnit XML as Jenkins and
 * GitLab read it: failure = wrong verdict, error = could not decide, skipped = not applicable. */
static int write_junit(FILE *out, const struct probe_result *r, size_t n)
{
    struct probe_summary s;
    probe_summarize(r, n, &s);
    fprintf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(out,
            "<testsuites name=\"mskpki-probe\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" "
            "skipped=\"%zu\">\n",
            s.total, s.failed - s.errors, s.errors, s.not_applicable);
    size_t i = 0;
    while (i < n) {
        size_t end = i;
        while (end < n && strcmp(r[end].broker, r[i].broker) == 0) {
            end++;
        }
        struct probe_summary bs;
        probe_summarize(r + i, end - i, &bs);
        fputs("  <testsuite name=\"", out);
        ctl_xml_put(out, r[i].broker);
        fprintf(out, "\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" skipped=\"%zu\">\n",
                bs.total, bs.failed - bs.errors, bs.errors, bs.not_applicable);
        for (size_t k = i; k < end; k++) {
            fprintf(out, "    <testcase classname=\"mskpki.probe\" name=\"");
            ctl_xml_put(out, r[k].broker);
            fprintf(out, " %s %s\"", probe_case_name(r[k].kase), probe_tls_name(r[k].tls_version));
            const char *tag = NULL;
            if (r[k].outcome == PROBE_NOT_APPLICABLE) {
                tag = "skipped";
            } else if (r[k].outcome == PROBE_ERROR && !r[k].ok) {
                tag = "error";
            } else if (!r[k].ok) {
                tag = "failure";
            }
            if (tag == NULL) {
                fputs("/>\n", out);
                continue;
            }
            fprintf(out, ">\n      <%s message=\"expected %s, got %s: ", tag,
                    probe_outcome_name(r[k].expected), probe_outcome_name(r[k].outcome));
            ctl_xml_put(out, r[k].detail);
            if (r[k].remediation[0] != '\0') {
                fputs("; remediation: ", out);
                ctl_xml_put(out, r[k].remediation);
            }
            fputs("\"/>\n    </testcase>\n", out);
        }
        fputs("  </testsuite>\n", out);
        i = end;
    }
    fputs("</testsuites>\n", out);
    return 0;
}

int probe_report_write_prometheus(FILE *out, const struct probe_result *r, size_t n, time_t now,
                                  struct mk_err *err)
{
    fputs("# HELP mskpki_probe_case_ok 1 when the broker treated the probe case as expected "
          "(refused a client it should refuse, accepted the valid one), else 0.\n"
          "# TYPE mskpki_probe_case_ok gauge\n",
          out);
    for (size_t i = 0; i < n; i++) {
        fputs("mskpki_probe_case_ok{broker=\"", out);
        mk_prom_label_put(out, r[i].broker);
        fprintf(out, "\",case=\"%s\",tls=\"%s\"} %d\n", probe_case_name(r[i].kase),
                probe_tls_name(r[i].tls_version), r[i].ok ? 1 : 0);
    }
    fprintf(out,
            "# HELP mskpki_probe_last_run_timestamp_seconds When mskpkictl probe last ran.\n"
            "# TYPE mskpki_probe_last_run_timestamp_seconds gauge\n"
            "mskpki_probe_last_run_timestamp_seconds %lld\n",
            (long long)now);
    if (ferror(out)) {
        mk_err_set(err, MK_ERR_IO, "writing the prometheus report");
        return -1;
    }
    return 0;
}

int probe_report_write(FILE *out, enum probe_format fmt, const struct probe_result *r, size_t n,
                       struct mk_err *err)
{
    int rc = -1;
    switch (fmt) {
    case PROBE_FORMAT_TABLE:
        rc = write_table(out, r, n);
        break;
    case PROBE_FORMAT_JSON:
        rc = write_json(out, r, n, err);
        break;
    case PROBE_FORMAT_JUNIT:
        rc = write_junit(out, r, n);
        break;
    case PROBE_FORMAT_PROMETHEUS:
        rc = probe_report_write_prometheus(out, r, n, time(NULL), err);
        break;
    default:
        mk_err_set(err, MK_ERR_USAGE, "unknown format");
        return -1;
    }
    if (rc == 0 && (fflush(out) != 0 || ferror(out))) {
        mk_err_errno(err, MK_ERR_IO, "writing report");
        rc = -1;
    }
    return rc;
}
