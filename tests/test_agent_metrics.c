/* test_agent_metrics.c: Prometheus text rendering, label escaping, health (agent/metrics.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "agent/metrics.h"
#include "pki/text.h"
#include "conf/conf.h"

#define NOW 1700000000

static struct agent_metrics *new_metrics(const char *const *names, size_t n)
{
    struct mk_err err;
    struct agent_metrics *m = agent_metrics_new("1.2.3", &err);

    assert_non_null(m);
    assert_int_equal(agent_metrics_set_names(m, names, n, &err), 0);
    return m;
}

static void status_of(struct agent_status *st, const char *name, time_t nb, time_t na)
{
    memset(st, 0, sizeof(*st));
    snprintf(st->name, sizeof(st->name), "%s", name);
    snprintf(st->ca, sizeof(st->ca), "local");
    st->ready = 1;
    snprintf(st->subject, sizeof(st->subject), "CN=a \"quoted\" \\ name\nx");
    snprintf(st->issuer, sizeof(st->issuer), "CN=issuer");
    snprintf(st->serial, sizeof(st->serial), "ABCDEF");
    st->not_before = nb;
    st->not_after = na;
    st->next_renewal = nb + (na - nb) * 2 / 3;
}

static char *render(struct agent_metrics *m, time_t now)
{
    struct mk_err err;
    size_t len = 0;
    char *text = agent_metrics_render(m, now, &len, &err);

    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    return text;
}

static void test_escape(void **state)
{
    char buf[64];
    char tiny[4];

    (void)state;
    assert_int_equal(mk_prom_label_escape("a\"b\\c\nd", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "a\\\"b\\\\c\\nd");
    assert_int_equal(mk_prom_label_escape("plain", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "plain");
    assert_int_equal(mk_prom_label_escape("abcd", tiny, sizeof(tiny)), -1);
    assert_int_equal(mk_prom_label_escape("a\"", tiny, sizeof(tiny)), 0);
    assert_int_equal(mk_prom_label_escape("ab\"", tiny, sizeof(tiny)), -1);
}

static void test_render_labels_escaped(void **state)
{
    const char *names[] = {"we\"ird\\na\nme"};
    struct agent_metrics *m = new_metrics(names, 1);
    struct agent_status st;
    char *text;

    (void)state;
    status_of(&st, names[0], NOW - 10, NOW + 50);
    agent_metrics_cert_update(m, &st);
    text = render(m, NOW);
    assert_non_null(strstr(text, "mskpki_certificate_ready{name=\"we\\\"ird\\\\na\\nme\"} 1\n"));
    assert_non_null(strstr(text, "subject=\"CN=a \\\"quoted\\\" \\\\ name\\nx\""));
    /* No raw newline inside any sample line: every line starts with '#' or "mskpki_". */
    for (char *line = text; *line != '\0';) {
        assert_true(line[0] == '#' || strncmp(line, "mskpki_", 7) == 0);
        char *nl = strchr(line, '\n');
        assert_non_null(nl);
        line = nl + 1;
    }
    free(text);
    agent_metrics_free(m);
}

static void test_render_families(void **state)
{
    static const char *const families[] = {
        "mskpki_certificate_not_after_timestamp_seconds gauge",
        "mskpki_certificate_not_before_timestamp_seconds gauge",
        "mskpki_certificate_next_renewal_timestamp_seconds gauge",
        "mskpki_certificate_renewal_planned_timestamp_seconds gauge",
        "mskpki_certificate_renewal_overdue_timestamp_seconds gauge",
        "mskpki_certificate_expiring_timestamp_seconds gauge",
        "mskpki_certificate_ready gauge",
        "mskpki_rotation_last_success_timestamp_seconds gauge",
        "mskpki_rotation_last_attempt_timestamp_seconds gauge",
        "mskpki_rotations_total counter",
        "mskpki_rotation_duration_seconds histogram",
        "mskpki_rotation_consecutive_failures gauge",
        "mskpki_hook_failures_total counter",
        "mskpki_ca_requests_total counter",
        "mskpki_certificate_info gauge",
        "mskpki_build_info gauge",
        "mskpki_certificates_issued_total counter",
        "mskpki_agent_wakeups_total counter",
    };
    const char *names[] = {"a", "b"};
    struct agent_metrics *m = new_metrics(names, 2);
    struct agent_status st;
    char line[256];
    char *text;

    (void)state;
    status_of(&st, "a", NOW - 10, NOW + 50);
    agent_metrics_cert_update(m, &st);
    agent_metrics_rotation(m, "a", 1, 0.07);
    agent_metrics_rotation(m, "a", 0, 3.0);
    agent_metrics_rotation(m, "a", 1, 1000.0); /* beyond the last bucket: only +Inf */
    agent_metrics_rotation(m, "nobody", 1, 1.0);
    agent_metrics_issued(m, "a");
    agent_metrics_issued(m, "a");
    agent_metrics_hook_failure(m, "b");
    agent_metrics_wakeup(m);
    agent_metrics_wakeup(m);
    agent_metrics_wakeup(m);
    assert_int_equal(agent_metrics_wakeups(m), 3);
    text = render(m, NOW);
    for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
        snprintf(line, sizeof(line), "# TYPE %s\n", families[i]);
        assert_non_null(strstr(text, line));
        snprintf(line, sizeof(line), "# HELP %.*s ", (int)(strchr(families[i], ' ') - families[i]),
                 families[i]);
        assert_non_null(strstr(text, line));
    }
    assert_non_null(strstr(text, "mskpki_build_info{version=\"1.2.3\"} 1\n"));
    assert_non_null(strstr(text, "mskpki_agent_wakeups_total 3\n"));
    assert_non_null(strstr(text, "mskpki_rotations_total{name=\"a\",result=\"success\"} 2\n"));
    assert_non_null(strstr(text, "mskpki_rotations_total{name=\"a\",result=\"failure\"} 1\n"));
    assert_non_null(strstr(text, "mskpki_rotations_total{name=\"b\",result=\"success\"} 0\n"));
    assert_non_null(strstr(text, "mskpki_certificates_issued_total{name=\"a\"} 2\n"));
    assert_non_null(strstr(text, "mskpki_hook_failures_total{name=\"b\"} 1\n"));
    /* Buckets are cumulative; +Inf equals the count. */
    assert_non_null(
        strstr(text, "mskpki_rotation_duration_seconds_bucket{name=\"a\",le=\"0.05\"} 0\n"));
    assert_non_null(
        strstr(text, "mskpki_rotation_duration_seconds_bucket{name=\"a\",le=\"0.1\"} 1\n"));
    assert_non_null(
        strstr(text, "mskpki_rotation_duration_seconds_bucket{name=\"a\",le=\"5\"} 2\n"));
    assert_non_null(
        strstr(text, "mskpki_rotation_duration_seconds_bucket{name=\"a\",le=\"300\"} 2\n"));
    assert_non_null(
        strstr(text, "mskpki_rotation_duration_seconds_bucket{name=\"a\",le=\"+Inf\"} 3\n"));
    assert_non_null(strstr(text, "mskpki_rotation_duration_seconds_count{name=\"a\"} 3\n"));
    assert_non_null(strstr(text, "mskpki_rotation_duration_seconds_sum{name=\"a\"} 1003.070000\n"));
    /* "b" has no status yet: no timestamps, not ready, no info. */
    assert_null(strstr(text, "mskpki_certificate_not_after_timestamp_seconds{name=\"b\""));
    assert_non_null(strstr(text, "mskpki_certificate_ready{name=\"b\"} 0\n"));
    snprintf(line, sizeof(line),
             "mskpki_certificate_not_after_timestamp_seconds{name=\"a\",ca=\"local\"} %ld\n",
             (long)(NOW + 50));
    assert_non_null(strstr(text, line));
    free(text);
    agent_metrics_free(m);
}

static void test_refusals(void **state)
{
    const char *names[] = {"a", "b"};
    struct agent_metrics *m = new_metrics(names, 2);
    char *text;

    (void)state;
    /* Before any refusal: the family, no series (a refusal is never routine). */
    text = render(m, NOW);
    assert_non_null(strstr(text, "# TYPE mskpki_keyproc_refusals_total counter\n"));
    assert_null(strstr(text, "mskpki_keyproc_refusals_total{"));
    free(text);
    agent_metrics_refusal(m, "a", "chain");
    agent_metrics_refusal(m, "a", "chain");
    agent_metrics_refusal(m, "b", "anchor_change");
    agent_metrics_refusal(m, "b", "no-such-reason"); /* ignored: only the key process's reasons */
    agent_metrics_refusal(m, "nobody", "key");
    text = render(m, NOW);
    assert_non_null(
        strstr(text, "mskpki_keyproc_refusals_total{name=\"a\",reason=\"chain\"} 2\n"));
    assert_non_null(
        strstr(text, "mskpki_keyproc_refusals_total{name=\"b\",reason=\"anchor_change\"} 1\n"));
    assert_null(strstr(text, "no-such-reason"));
    assert_null(strstr(text, "nobody"));
    assert_null(strstr(text, "mskpki_keyproc_refusals_total{name=\"a\",reason=\"key\"}"));
    free(text);
    agent_metrics_free(m);
}

static void test_health(void **state)
{
    const char *names[] = {"a", "b"};
    struct agent_metrics *m = new_metrics(names, 2);
    struct agent_status st;

    (void)state;
    assert_int_equal(agent_metrics_healthy(m, NOW), 0);
    status_of(&st, "a", NOW - 10, NOW + 50);
    agent_metrics_cert_update(m, &st);
    assert_int_equal(agent_metrics_healthy(m, NOW), 0); /* b still missing */
    status_of(&st, "b", NOW - 10, NOW + 100);
    agent_metrics_cert_update(m, &st);
    assert_int_equal(agent_metrics_healthy(m, NOW), 1);
    /* Expiry flips readiness without any update from the main loop. */
    assert_int_equal(agent_metrics_healthy(m, NOW + 50), 0);
    status_of(&st, "b", NOW - 10, NOW + 100);
    st.ready = 0;
    agent_metrics_cert_update(m, &st);
    assert_int_equal(agent_metrics_healthy(m, NOW), 0);
    agent_metrics_free(m);
}

static void test_set_names_keeps_counters(void **state)
{
    const char *names[] = {"a", "b"};
    const char *after[] = {"b", "c"};
    struct agent_metrics *m = new_metrics(names, 2);
    struct mk_err err;
    char *text;

    (void)state;
    agent_metrics_issued(m, "b");
    agent_metrics_issued(m, "a");
    assert_int_equal(agent_metrics_set_names(m, after, 2, &err), 0);
    text = render(m, NOW);
    assert_non_null(strstr(text, "mskpki_certificates_issued_total{name=\"b\"} 1\n"));
    assert_non_null(strstr(text, "mskpki_certificates_issued_total{name=\"c\"} 0\n"));
    assert_null(strstr(text, "{name=\"a\""));
    free(text);
    agent_metrics_free(m);
}

/* The identity strings are heap copies sized to their content: a reload moves them with the
 * slot, a certificate that goes away drops its line, and none leaks (ASan builds check). */
static void test_set_names_keeps_info(void **state)
{
    const char *names[] = {"a", "b"};
    const char *after[] = {"b", "c"};
    struct agent_metrics *m = new_metrics(names, 2);
    struct agent_status st;
    struct mk_err err;
    char *text;

    (void)state;
    status_of(&st, "a", NOW - 10, NOW + 10);
    agent_metrics_cert_update(m, &st);
    status_of(&st, "b", NOW - 10, NOW + 10);
    snprintf(st.serial, sizeof(st.serial), "B0B");
    agent_metrics_cert_update(m, &st);
    agent_metrics_cert_update(m, &st); /* the same values again: kept as they are */
    assert_int_equal(agent_metrics_set_names(m, after, 2, &err), 0);
    text = render(m, NOW);
    assert_non_null(strstr(text, "mskpki_certificate_info{name=\"b\",ca=\"local\","
                                 "serial=\"B0B\",issuer=\"CN=issuer\","
                                 "subject=\"CN=a \\\"quoted\\\" \\\\ name\\nx\"} 1\n"));
    assert_null(strstr(text, "serial=\"ABCDEF\""));
    assert_null(strstr(text, "mskpki_certificate_info{name=\"c\""));
    free(text);
    /* No certificate any more (an empty serial): the info line goes. */
    status_of(&st, "b", NOW - 10, NOW + 10);
    st.serial[0] = '\0';
    agent_metrics_cert_update(m, &st);
    text = render(m, NOW);
    assert_null(strstr(text, "mskpki_certificate_info{"));
    free(text);
    agent_metrics_free(m);
}

static void test_listen_errors(void **state)
{
    const char *names[] = {"a"};
    struct agent_metrics *m = new_metrics(names, 1);
    struct mk_err err;

    (void)state;
    assert_int_equal(agent_metrics_listen(m, "", NULL, &err), 0);
    assert_int_equal(agent_metrics_port(m), 0);
    assert_int_equal(agent_metrics_listen(m, "localhost:80", NULL, &err), -1);
    assert_int_equal(err.code, MK_ERR_CONFIG);
    assert_int_equal(agent_metrics_listen(m, "127.0.0.1", NULL, &err), -1);
    assert_int_equal(agent_metrics_listen(m, "[::1", NULL, &err), -1);
    /* Port 0: the kernel picks one; the server reports it. */
    assert_int_equal(agent_metrics_listen(m, "127.0.0.1:0", NULL, &err), 0);
    assert_true(agent_metrics_port(m) > 0);
    agent_metrics_stop(m);
    assert_int_equal(agent_metrics_port(m), 0);
    agent_metrics_free(m);
    agent_metrics_free(NULL);
}

static int connect_port(unsigned port)
{
    struct sockaddr_in sa = {0};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Issue 16: a connection that trickles a byte every 300 ms (never idle for libmicrohttpd's own
 * timeout) is closed at metrics.connection_timeout from its accept. */
static void test_trickling_connection_cut(void **state)
{
    const char *names[] = {"a"};
    struct agent_metrics *m = new_metrics(names, 1);
    struct conf_metrics o = {0};
    struct mk_err err;
    char c;
    int closed = 0;

    (void)state;
    o.connection_timeout_seconds = 1;
    o.max_connections = 4;
    o.max_connections_per_ip = 2;
    assert_int_equal(agent_metrics_listen(m, "127.0.0.1:0", &o, &err), 0);
    int fd = connect_port(agent_metrics_port(m));
    struct timeval tv = {0, 300 * 1000};
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
    double start = now_s();
    assert_int_equal(send(fd, "GET /metrics?", 13, MSG_NOSIGNAL), 13);
    while (now_s() - start < 5) {
        ssize_t n = recv(fd, &c, 1, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
            closed = 1;
            break;
        }
        if (send(fd, "a", 1, MSG_NOSIGNAL) != 1) {
            closed = 1;
            break;
        }
    }
    double lived = now_s() - start;
    assert_true(closed);
    assert_true(lived >= 0.5 && lived < 3);
    close(fd);
    agent_metrics_free(m);
}

/* The TLS files are read when the server starts; a missing one names its setting. */
static void test_tls_file_errors(void **state)
{
    const char *names[] = {"a"};
    struct agent_metrics *m = new_metrics(names, 1);
    struct conf_metrics o = {0};
    struct mk_err err;

    (void)state;
    o.connection_timeout_seconds = 10;
    o.max_connections = 4;
    o.max_connections_per_ip = 2;
    o.tls_cert_file = "/nonexistent/metrics.crt";
    o.tls_key_file = "/nonexistent/metrics.key";
    assert_int_equal(agent_metrics_listen(m, "127.0.0.1:0", &o, &err), -1);
    assert_int_equal(err.code, MK_ERR_IO);
    assert_non_null(strstr(err.msg, "metrics.tls_cert_file"));
    assert_int_equal(agent_metrics_port(m), 0);
    /* Files that are not a certificate and key: the server does not start. */
    o.tls_cert_file = "/etc/hostname";
    o.tls_key_file = "/etc/hostname";
    assert_int_equal(agent_metrics_listen(m, "127.0.0.1:0", &o, &err), -1);
    assert_non_null(strstr(err.msg, "tls_cert_file/tls_key_file"));
    agent_metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_render_labels_escaped),
        cmocka_unit_test(test_render_families),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_health),
        cmocka_unit_test(test_set_names_keeps_counters),
        cmocka_unit_test(test_set_names_keeps_info),
        cmocka_unit_test(test_listen_errors),
        cmocka_unit_test(test_trickling_connection_cut),
        cmocka_unit_test(test_tls_file_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
