/* test_status.c: `mskpkictl status`: the strict state-file reader, the verdicts, and the whole
 * command (config + state files written here) with its output and exit codes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "agent/state.h"
#include "ctl/ctl.h"
#include "ctl/status_int.h"

#define DAY 86400LL

struct fixture {
    char dir[64];
    char conf[128];
    char state[128];
    char out[128];
    char err[128];
    char *stdout_text;
    char *stderr_text;
};

/* A complete, valid state document for name, expiring ten minutes short of `days` days (so the
 * printed time left does not depend on when the second ticks). */
static json_t *state_doc(const char *name, int ready, long long days)
{
    long long now = (long long)time(NULL);
    return json_pack("{s:i, s:s, s:s, s:b, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:s, s:n, s:I,"
                     " s:I, s:s, s:I}",
                     "version", 1, "name", name, "ca", "local", "ready", ready, "subject",
                     "CN=client.example.com", "issuer", "CN=mskpki local CA", "serial", "0A1B2C3D",
                     "not_before", (json_int_t)(now - DAY), "not_after",
                     (json_int_t)(now + days * DAY - 600), "next_renewal",
                     (json_int_t)(now + days * DAY / 2), "last_attempt", (json_int_t)(now - 60),
                     "last_success", (json_int_t)(now - 60), "last_result", "success", "last_error",
                     "consecutive_failures", (json_int_t)0, "generation", (json_int_t)4,
                     "cert_path", "/etc/kafka/client.crt", "updated", (json_int_t)now);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void write_state(struct fixture *fx, const char *name, json_t *doc)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s.json", fx->state, name);
    char *text = json_dumps(doc, JSON_COMPACT);
    assert_non_null(text);
    write_text(path, text);
    free(text);
    json_decref(doc);
}

/* A config listing the given certificate names, state_dir inside the fixture. */
static void write_conf(struct fixture *fx, const char *const *names)
{
    FILE *f = fopen(fx->conf, "w");
    assert_non_null(f);
    fprintf(f, "state_dir = \"%s\";\ncertificates = (\n", fx->state);
    for (size_t i = 0; names[i] != NULL; i++) {
        fprintf(
            f,
            "%s  { name = \"%s\"; subject = { common_name = \"%s.example.com\"; };\n"
            "    output = { directory = \"%s/out-%s\"; key = \"k.pem\"; cert = \"c.pem\"; }; }\n",
            i > 0 ? "," : "", names[i], names[i], fx->dir, names[i]);
    }
    fprintf(f, ");\n");
    fclose(f);
}

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/mskpki-status.XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->conf, sizeof(fx->conf), "%s/mskpki.conf", fx->dir);
    snprintf(fx->state, sizeof(fx->state), "%s/state", fx->dir);
    snprintf(fx->out, sizeof(fx->out), "%s/stdout", fx->dir);
    snprintf(fx->err, sizeof(fx->err), "%s/stderr", fx->dir);
    assert_int_equal(mkdir(fx->state, 0755), 0);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
    assert_int_equal(system(cmd), 0);
    free(fx->stdout_text);
    free(fx->stderr_text);
    free(fx);
    return 0;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *buf = calloc(1, 1 << 16);
    assert_non_null(buf);
    size_t n = fread(buf, 1, (1 << 16) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Runs ctl_status_main with stdout/stderr captured into the fixture. */
static int run_status(struct fixture *fx, const char *a1, const char *a2, const char *a3,
                      const char *a4)
{
    char *argv[8] = {"status", "--config", fx->conf};
    int argc = 3;
    const char *extra[] = {a1, a2, a3, a4};
    for (size_t i = 0; i < 4 && extra[i] != NULL; i++) {
        argv[argc++] = (char *)extra[i];
    }
    fflush(stdout);
    fflush(stderr);
    int so = dup(1), se = dup(2);
    assert_non_null(freopen(fx->out, "w", stdout));
    assert_non_null(freopen(fx->err, "w", stderr));
    int rc = ctl_status_main(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(so, 1);
    dup2(se, 2);
    close(so);
    close(se);
    free(fx->stdout_text);
    free(fx->stderr_text);
    fx->stdout_text = slurp(fx->out);
    fx->stderr_text = slurp(fx->err);
    return rc;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s != '\0'; s++) {
        n += *s == '\n';
    }
    return n;
}

static void test_ready(void **state)
{
    struct fixture *fx = *state;
    static const char *const names[] = {"client", NULL};
    write_conf(fx, names);
    write_state(fx, "client", state_doc("client", 1, 30));
    assert_int_equal(run_status(fx, NULL, NULL, NULL, NULL), CTL_EXIT_OK);
    assert_non_null(strstr(fx->stdout_text, "client: ok"));
    assert_non_null(strstr(fx->stdout_text, "CN=client.example.com"));
    assert_non_null(strstr(fx->stdout_text, "0A1B2C3D"));
    assert_non_null(strstr(fx->stdout_text, "time left:        29d 23h\n"));
    assert_non_null(strstr(fx->stdout_text, "next renewal:"));
    assert_non_null(strstr(fx->stdout_text, "last result:      success\n"));
    assert_non_null(strstr(fx->stdout_text, "(1m ago)"));
    assert_non_null(strstr(fx->stdout_text, "failures in row:  0\n"));
    assert_string_equal(fx->stderr_text, "");
}

static void test_expiring_and_warn_days(void **state)
{
    struct fixture *fx = *state;
    static const char *const names[] = {"client", NULL};
    write_conf(fx, names);
    write_state(fx, "client", state_doc("client", 1, 3));
    assert_int_equal(run_status(fx, NULL, NULL, NULL, NULL), CTL_EXIT_FINDINGS);
    assert_non_null(strstr(fx->stdout_text, "client: expiring"));
    assert_int_equal(run_status(fx, "--warn-days", "2", NULL, NULL), CTL_EXIT_OK);
    write_state(fx, "client", state_doc("client", 1, -1));
    assert_int_equal(run_status(fx, "--warn-days", "0", NULL, NULL), CTL_EXIT_FINDINGS);
    assert_non_null(strstr(fx->stdout_text, "client: expired"));
}

static void test_failing_not_ready_missing_malformed(void **state)
{
    struct fixture *fx = *state;
    static const char *const names[] = {"good",   "failing",    "notready", "missing",
                                        "broken", "unreadable", NULL};
    write_conf(fx, names);
    write_state(fx, "good", state_doc("good", 1, 30));
    json_t *f = state_doc("failing", 1, 20);
    json_object_set_new(f, "last_result", json_string("failure"));
    json_object_set_new(f, "last_error",
                        json_string("aws: ThrottlingException: Rate exceeded\nforged: ok"));
    json_object_set_new(f, "consecutive_failures", json_integer(3));
    write_state(fx, "failing", f);
    write_state(fx, "notready", state_doc("notready", 0, 30));
    json_t *b = state_doc("broken", 1, 30);
    json_object_set_new(b, "not_after", json_string("tomorrow"));
    write_state(fx, "broken", b);
    /* A directory where the file should be: cannot be read (EISDIR). */
    char dir[256];
    snprintf(dir, sizeof(dir), "%s/unreadable.json", fx->state);
    assert_int_equal(mkdir(dir, 0755), 0);

    assert_int_equal(run_status(fx, NULL, NULL, NULL, NULL), CTL_EXIT_FINDINGS);
    const char *o = fx->stdout_text;
    assert_non_null(strstr(o, "good: ok"));
    assert_non_null(strstr(o, "failing: ok"));
    assert_non_null(
        strstr(o, "last error:       aws: ThrottlingException: Rate exceeded?forged: ok\n"));
    assert_non_null(strstr(o, "failures in row:  3\n"));
    assert_non_null(strstr(o, "last result:      failure\n"));
    assert_non_null(strstr(o, "notready: not_ready"));
    assert_non_null(strstr(o, "missing: missing"));
    assert_non_null(strstr(o, "broken: malformed"));
    /* One line per bad file on stderr, naming the file and the field. */
    assert_non_null(strstr(o, "unreadable: unreadable"));
    assert_int_equal(count_lines(fx->stderr_text), 3);
    assert_non_null(strstr(fx->stderr_text, "/unreadable.json: cannot read: Is a directory"));
    assert_non_null(strstr(fx->stderr_text, "/missing.json: no state file"));
    assert_non_null(
        strstr(fx->stderr_text, "/broken.json: field 'not_after' must be a non-negative integer"));

    assert_int_equal(run_status(fx, "--format", "json", NULL, NULL), CTL_EXIT_FINDINGS);
    json_error_t jerr;
    json_t *doc = json_loads(fx->stdout_text, 0, &jerr);
    assert_non_null(doc);
    json_t *certs = json_object_get(doc, "certificates");
    assert_int_equal(json_array_size(certs), 6);
    static const char *const want[] = {"ok",      "ok",        "not_ready",
                                       "missing", "malformed", "unreadable"};
    for (size_t i = 0; i < 6; i++) {
        json_t *c = json_array_get(certs, i);
        assert_string_equal(json_string_value(json_object_get(c, "status")), want[i]);
    }
    json_t *c1 = json_array_get(certs, 1);
    assert_int_equal(json_integer_value(json_object_get(c1, "consecutive_failures")), 3);
    assert_true(json_integer_value(json_object_get(c1, "seconds_left")) > 19 * DAY);
    assert_true(json_is_null(json_object_get(json_array_get(certs, 0), "last_error")));
    assert_non_null(
        strstr(json_string_value(json_object_get(json_array_get(certs, 4), "error")), "not_after"));
    json_t *sum = json_object_get(doc, "summary");
    assert_int_equal(json_integer_value(json_object_get(sum, "problems")), 4);
    assert_null(json_object_get(json_array_get(certs, 5), "ready"));
    assert_int_equal(json_integer_value(json_object_get(sum, "exit_code")), 1);
    json_decref(doc);
}

static void test_usage_and_config_errors(void **state)
{
    struct fixture *fx = *state;
    static const char *const names[] = {"client", NULL};
    write_conf(fx, names);
    assert_int_equal(run_status(fx, "--format", "xml", NULL, NULL), CTL_EXIT_USAGE);
    assert_int_equal(count_lines(fx->stderr_text), 1);
    assert_int_equal(run_status(fx, "--warn-days", "-1", NULL, NULL), CTL_EXIT_USAGE);
    assert_int_equal(run_status(fx, "--warn-days", "7d", NULL, NULL), CTL_EXIT_USAGE);
    assert_int_equal(run_status(fx, "extra", NULL, NULL, NULL), CTL_EXIT_USAGE);
    assert_int_equal(run_status(fx, "--bogus", NULL, NULL, NULL), CTL_EXIT_USAGE);
    assert_int_equal(run_status(fx, "--warn-days", NULL, NULL, NULL), CTL_EXIT_USAGE);
    assert_non_null(strstr(fx->stderr_text, "needs a value"));
    /* A wrong config is a config error (2), one line naming the file. */
    write_text(fx->conf, "certificates = (;\n");
    assert_int_equal(run_status(fx, NULL, NULL, NULL, NULL), CTL_EXIT_USAGE);
    assert_int_equal(count_lines(fx->stderr_text), 1);
    assert_non_null(strstr(fx->stderr_text, fx->conf));
    /* A config that cannot be read: could not run (3). */
    assert_int_equal(unlink(fx->conf), 0);
    assert_int_equal(run_status(fx, NULL, NULL, NULL, NULL), CTL_EXIT_UNAVAILABLE);
    assert_int_equal(count_lines(fx->stderr_text), 1);
    assert_non_null(strstr(fx->stderr_text, fx->conf));
    assert_int_equal(run_status(fx, "--help", NULL, NULL, NULL), CTL_EXIT_OK);
}

/* Each schema field, removed or given a wrong type, is named in the error. */
static void test_parse_every_field(void **state)
{
    (void)state;
    static const char *const fields[] = {
        "version",      "name",         "ca",          "ready",      "subject",
        "issuer",       "serial",       "not_before",  "not_after",  "next_renewal",
        "last_attempt", "last_success", "last_result", "last_error", "consecutive_failures",
        "generation",   "cert_path",    "updated",     NULL,
    };
    static struct status_state st;
    struct mk_err err = {0};
    for (size_t i = 0; fields[i] != NULL; i++) {
        for (int mode = 0; mode < 2; mode++) {
            json_t *doc = state_doc("c", 1, 10);
            if (mode == 0) {
                json_object_del(doc, fields[i]);
            } else {
                json_object_set_new(doc, fields[i], json_array());
            }
            char *text = json_dumps(doc, 0);
            assert_int_equal(
                ctl_status_parse_state("/s/c.json", text, strlen(text), "c", &st, &err), -1);
            char want[64];
            snprintf(want, sizeof(want), "field '%s'", fields[i]);
            assert_non_null(strstr(err.msg, want));
            assert_non_null(strstr(err.msg, "/s/c.json"));
            free(text);
            json_decref(doc);
        }
    }
    /* The untouched document parses; unknown fields are ignored. */
    json_t *doc = state_doc("c", 1, 10);
    json_object_set_new(doc, "future_field", json_true());
    char *text = json_dumps(doc, 0);
    assert_int_equal(ctl_status_parse_state("/s/c.json", text, strlen(text), "c", &st, &err), 0);
    assert_int_equal(st.generation, 4);
    assert_false(st.has_last_error);
    /* Wrong name, wrong version, bad enum, negative number, bad JSON, duplicate key. */
    assert_int_equal(ctl_status_parse_state("/s/c.json", text, strlen(text), "d", &st, &err), -1);
    assert_non_null(strstr(err.msg, "field 'name'"));
    free(text);
    json_object_set_new(doc, "version", json_integer(2));
    text = json_dumps(doc, 0);
    assert_int_equal(ctl_status_parse_state("/s/c.json", text, strlen(text), "c", &st, &err), -1);
    assert_non_null(strstr(err.msg, "field 'version'"));
    free(text);
    json_object_set_new(doc, "version", json_integer(1));
    json_object_set_new(doc, "last_result", json_string("maybe"));
    text = json_dumps(doc, 0);
    assert_int_equal(ctl_status_parse_state("/s/c.json", text, strlen(text), "c", &st, &err), -1);
    assert_non_null(strstr(err.msg, "field 'last_result'"));
    free(text);
    json_object_set_new(doc, "last_result", json_string("none"));
    json_object_set_new(doc, "generation", json_integer(-1));
    text = json_dumps(doc, 0);
    assert_int_equal(ctl_status_parse_state("/s/c.json", text, strlen(text), "c", &st, &err), -1);
    assert_non_null(strstr(err.msg, "field 'generation'"));
    free(text);
    json_decref(doc);
    static const char bad[] = "{\"version\": 1,";
    assert_int_equal(ctl_status_parse_state("/s/c.json", bad, sizeof(bad) - 1, "c", &st, &err), -1);
    assert_non_null(strstr(err.msg, "not valid JSON"));
    static const char dup[] = "{\"version\": 1, \"version\": 1}";
    assert_int_equal(ctl_status_parse_state("/s/c.json", dup, sizeof(dup) - 1, "c", &st, &err), -1);
    static const char arr[] = "[1]";
    assert_int_equal(ctl_status_parse_state("/s/c.json", arr, sizeof(arr) - 1, "c", &st, &err), -1);
}

/*
 * The reader and the agent's writer (agent/state.c) are separate code on purpose, so this runs
 * the whole command on files the agent itself wrote: a field renamed or retyped on either side
 * makes the certificate "malformed" here instead of passing two self-consistent unit tests.
 */
static void test_reads_agent_written_state(void **state)
{
    struct fixture *fx = *state;
    static const char *const names[] = {"fresh", "failing", NULL};
    struct mk_err err = {0};
    time_t now = time(NULL);
    static struct agent_status st;
    write_conf(fx, names);

    memset(&st, 0, sizeof(st));
    snprintf(st.name, sizeof(st.name), "fresh");
    snprintf(st.ca, sizeof(st.ca), "aws-pca");
    st.ready = 1;
    snprintf(st.subject, sizeof(st.subject), "CN=fresh.example.com");
    snprintf(st.issuer, sizeof(st.issuer), "CN=Example Issuing CA");
    snprintf(st.serial, sizeof(st.serial), "7E57AB1E");
    st.not_before = now - DAY;
    st.not_after = now + 20 * DAY;
    st.next_renewal = now + 10 * DAY;
    st.last_attempt = now - 120;
    st.last_success = now - 120;
    st.last_result = AGENT_RESULT_SUCCESS;
    st.generation = 9;
    snprintf(st.cert_path, sizeof(st.cert_path), "/etc/kafka/fresh.crt");
    st.updated = now;
    assert_int_equal(agent_state_write(fx->state, &st, &err), 0);

    /* Ready but failing for a while: last error, failure count, and a near expiry. */
    snprintf(st.name, sizeof(st.name), "failing");
    st.not_after = now + 2 * DAY;
    st.last_result = AGENT_RESULT_FAILURE;
    snprintf(st.last_error, sizeof(st.last_error), "ca: aws-pca: ThrottlingException");
    st.consecutive_failures = 5;
    assert_int_equal(agent_state_write(fx->state, &st, &err), 0);

    assert_int_equal(run_status(fx, "--format", "json", NULL, NULL), CTL_EXIT_FINDINGS);
    assert_string_equal(fx->stderr_text, "");
    json_error_t jerr;
    json_t *doc = json_loads(fx->stdout_text, 0, &jerr);
    assert_non_null(doc);
    json_t *certs = json_object_get(doc, "certificates");
    assert_int_equal(json_array_size(certs), 2);
    json_t *a = json_array_get(certs, 0), *b = json_array_get(certs, 1);
    assert_string_equal(json_string_value(json_object_get(a, "status")), "ok");
    assert_string_equal(json_string_value(json_object_get(a, "ca")), "aws-pca");
    assert_string_equal(json_string_value(json_object_get(a, "serial")), "7E57AB1E");
    assert_string_equal(json_string_value(json_object_get(a, "last_result")), "success");
    assert_true(json_is_null(json_object_get(a, "last_error")));
    assert_int_equal(json_integer_value(json_object_get(a, "generation")), 9);
    assert_int_equal(json_integer_value(json_object_get(a, "next_renewal")),
                     (json_int_t)(now + 10 * DAY));
    assert_string_equal(json_string_value(json_object_get(b, "status")), "expiring");
    assert_string_equal(json_string_value(json_object_get(b, "last_result")), "failure");
    assert_string_equal(json_string_value(json_object_get(b, "last_error")),
                        "ca: aws-pca: ThrottlingException");
    assert_int_equal(json_integer_value(json_object_get(b, "consecutive_failures")), 5);
    json_decref(doc);
    /* The same files with a smaller warning window: everything is fine. */
    assert_int_equal(run_status(fx, "--warn-days", "1", NULL, NULL), CTL_EXIT_OK);
    assert_non_null(strstr(fx->stdout_text, "failing: ok"));
    assert_non_null(strstr(fx->stdout_text, "failures in row:  5\n"));
}

static void test_judge(void **state)
{
    (void)state;
    struct status_state st;
    memset(&st, 0, sizeof(st));
    long long now = 1000000;
    assert_int_equal(ctl_status_judge(&st, now, 7), STATUS_NOT_READY);
    st.ready = 1;
    assert_int_equal(ctl_status_judge(&st, now, 7), STATUS_NOT_READY); /* no certificate yet */
    st.not_after = now + 8 * DAY;
    assert_int_equal(ctl_status_judge(&st, now, 7), STATUS_OK);
    st.not_after = now + 7 * DAY;
    assert_int_equal(ctl_status_judge(&st, now, 7), STATUS_EXPIRING);
    st.not_after = now;
    assert_int_equal(ctl_status_judge(&st, now, 7), STATUS_EXPIRED);
    st.ready = 0;
    st.not_after = now + 30 * DAY;
    assert_int_equal(ctl_status_judge(&st, now, 7), STATUS_NOT_READY);
}

/* ---- golden output (tests/data/status/) ---- */

/* The fixed clock of the golden files: 2026-12-01T00:00:00Z. */
#define GOLDEN_NOW 1796083200LL

/* A state document with every time fixed relative to GOLDEN_NOW. */
static json_t *golden_doc(const char *name, int ready, long long left, const char *result,
                          const char *error, long long failures)
{
    long long now = GOLDEN_NOW;
    return json_pack("{s:i, s:s, s:s, s:b, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:s, s:o, s:I,"
                     " s:I, s:s, s:I}",
                     "version", 1, "name", name, "ca", "aws-pca", "ready", ready, "subject",
                     "CN=client.example.com,O=Example", "issuer", "CN=Example Issuing CA",
                     "serial", "01F2E3D4C5B6A798", "not_before", (json_int_t)(now - 10 * DAY),
                     "not_after", (json_int_t)(now + left), "next_renewal",
                     (json_int_t)(now + left / 3), "last_attempt", (json_int_t)(now - 3725),
                     "last_success", (json_int_t)(now - 10 * DAY), "last_result", result,
                     "last_error", error != NULL ? json_string(error) : json_null(),
                     "consecutive_failures", (json_int_t)failures, "generation", (json_int_t)7,
                     "cert_path", "/etc/kafka/tls/client.crt", "updated", (json_int_t)now);
}

/* text with every occurrence of from replaced by to.  Caller frees. */
static char *replace_all(const char *text, const char *from, const char *to)
{
    size_t fl = strlen(from), tl = strlen(to), n = 0;
    for (const char *p = strstr(text, from); p != NULL; p = strstr(p + fl, from)) {
        n++;
    }
    char *out = malloc(strlen(text) + n * (tl > fl ? tl - fl : 0) + 1);
    assert_non_null(out);
    char *w = out;
    const char *r = text;
    for (const char *p = strstr(r, from); p != NULL; p = strstr(r, from)) {
        memcpy(w, r, (size_t)(p - r));
        w += p - r;
        memcpy(w, to, tl);
        w += tl;
        r = p + fl;
    }
    memcpy(w, r, strlen(r) + 1);
    return out;
}

/* Compares text with tests/data/status/<file> (the temp dir written as @DIR@).  With
 * MSKPKI_UPDATE_GOLDEN=1 the file is rewritten instead. */
static void check_golden(struct fixture *fx, const char *text, const char *file)
{
    const char *src = getenv("MSKPKI_SOURCE_DIR");
    char path[1024];
    char *got = replace_all(text, fx->dir, "@DIR@");

    assert_non_null(src);
    snprintf(path, sizeof(path), "%s/tests/data/status/%s", src, file);
    if (getenv("MSKPKI_UPDATE_GOLDEN") != NULL) {
        write_text(path, got);
    }
    char *want = slurp(path);
    if (strcmp(got, want) != 0) {
        fail_msg("%s differs from the golden output\n--- got:\n%s--- want:\n%s", path, got, want);
    }
    free(want);
    free(got);
}

static void test_golden(void **state)
{
    struct fixture *fx = *state;
    static const char *const names[] = {"ok",     "expiring", "expired", "failing",
                                        "notready", "missing", "broken", NULL};
    write_conf(fx, names);
    write_state(fx, "ok", golden_doc("ok", 1, 40 * DAY + 3 * 3600, "success", NULL, 0));
    write_state(fx, "expiring", golden_doc("expiring", 1, 2 * DAY + 5 * 3600, "success", NULL, 0));
    write_state(fx, "expired", golden_doc("expired", 1, -(3 * 3600 + 20 * 60), "failure",
                                          "ca: aws-pca: ThrottlingException: Rate exceeded", 12));
    write_state(fx, "failing", golden_doc("failing", 1, 20 * DAY, "failure",
                                          "store: write client.key: No space left\non device", 3));
    json_t *nr = golden_doc("notready", 0, 0, "none", NULL, 0);
    json_object_set_new(nr, "not_after", json_integer(0));
    json_object_set_new(nr, "not_before", json_integer(0));
    json_object_set_new(nr, "last_attempt", json_integer(0));
    json_object_set_new(nr, "last_success", json_integer(0));
    json_object_set_new(nr, "next_renewal", json_integer(GOLDEN_NOW + 45));
    json_object_set_new(nr, "subject", json_string(""));
    json_object_set_new(nr, "issuer", json_string(""));
    json_object_set_new(nr, "serial", json_string(""));
    json_object_set_new(nr, "generation", json_integer(0));
    write_state(fx, "notready", nr);
    json_t *b = golden_doc("broken", 1, DAY, "success", NULL, 0);
    json_object_set_new(b, "version", json_integer(2));
    write_state(fx, "broken", b);

    ctl_status_test_now = GOLDEN_NOW;
    assert_int_equal(run_status(fx, NULL, NULL, NULL, NULL), CTL_EXIT_FINDINGS);
    check_golden(fx, fx->stdout_text, "table.txt");
    check_golden(fx, fx->stderr_text, "table.stderr");
    assert_int_equal(run_status(fx, "--format", "json", "--warn-days", "3"), CTL_EXIT_FINDINGS);
    check_golden(fx, fx->stdout_text, "status.json");
    ctl_status_test_now = 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ready, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expiring_and_warn_days, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failing_not_ready_missing_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usage_and_config_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reads_agent_written_state, setup, teardown),
        cmocka_unit_test(test_parse_every_field),
        cmocka_unit_test(test_judge),
        cmocka_unit_test_setup_teardown(test_golden, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
